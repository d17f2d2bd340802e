#!/usr/bin/env python3
"""OpenAI emulator for easel's tests: POST /v1/images/edits as OpenAI's API
reference describes it: multipart/form-data with model, image[] (one or
more files; `image` accepted too), mask, prompt, size, quality,
output_format, output_compression, background, input_fidelity, n. Answers
{"created", "data": [{"b64_json"}], "usage": {...}} with the first image
inverted by libvips, or OpenAI's error body {"error": {message, type,
param, code}}.

Prompt markers: [[emu:500]] [[emu:429]] (rate_limit_exceeded with
retry-after-ms) [[emu:quota]] (429 insufficient_quota) [[emu:moderation]]
(400 moderation_blocked) [[emu:timeout]] [[emu:malformed]]. A wrong key is
answered with a message that repeats it, as a careless server might, so
the tests can prove easel never writes it down.

Usage: openai_emulator.py --state-dir DIR --token T [--port N]
"""

import base64
import json
import re
import time

import emu

MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-2")
CHOICES = {
    "size": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "quality": ("high", "medium", "low", "auto"),
    "output_format": ("png", "jpeg", "webp"),
    "background": ("transparent", "opaque", "auto"),
    "input_fidelity": ("high", "low"),
}


def error(status, message, type_="invalid_request_error", param=None, code=None):
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}


class Handler(emu.Handler):
    def reject(self, status, res):
        """OpenAI's error body, naming the first offending parameter."""
        v = res.violations[0]
        m = re.match(r"[\w\[\]]+", v["detail"])
        code = {401: "invalid_api_key", 404: None}.get(status, "invalid_value")
        self.send(*error(status, "; ".join(x["detail"] for x in res.violations),
                         param=m.group(0) if m and v["kind"] == "body" else None, code=code))

    def do_GET(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        if not self.conform(self.body()):
            return
        self.send(404, {"error": {"message": "Invalid URL (GET %s)" % path,
                                  "type": "invalid_request_error", "param": None, "code": None}})

    def do_POST(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        raw = self.body()
        if not self.conform(raw):
            return
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + self.emu.token:
            given = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
            return self.send(*error(401, "Incorrect API key provided: %s. You can find your API "
                                    "key at https://platform.openai.com/account/api-keys." % given,
                                    code="invalid_api_key"))
        if path != "/v1/images/edits":
            return self.send(*error(404, "Invalid URL (POST %s)" % path))
        self.emu.count("edit")
        status, body = self.edit(raw)
        headers = {}
        if status == 429 and body["error"]["code"] == "rate_limit_exceeded":
            headers = {"retry-after-ms": "800", "x-ratelimit-remaining-requests": "0"}
        if status is None:
            return
        self.send(status, body, headers=headers)

    def edit(self, raw):
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return error(400, "Invalid Content-Type header (%s), expected multipart/form-data."
                         % ctype)
        try:
            parts = emu.multipart(ctype, raw)
        except Exception as e:  # noqa: BLE001
            return error(400, "Could not parse multipart form: %s" % e)
        fields, images, mask = {}, [], None
        for name, filename, mime, data in parts:
            if name in ("image[]", "image") and filename is not None:
                images.append((filename, mime, data))
            elif name == "mask" and filename is not None:
                mask = data
            else:
                fields[name] = data.decode("utf-8", "replace")
        marks = emu.markers(fields.get("prompt", ""))
        self.body_faults(marks)
        fault = self.emu.random_fault()
        if fault:
            marks.add(fault)
            self.emu.count("fault " + fault)
        if "timeout" in marks:
            self.stall()
            return None, None
        if "500" in marks:
            return error(500, "The server had an error while processing your request. Sorry about that!",
                         type_="server_error")
        if "malformed" in marks:
            return 200, {"created": int(time.time()), "data": [{"b64_json": "@@not base64@@"}]}
        if "429" in marks:
            return error(429, "Rate limit reached for gpt-image-1 in organization org-emu on images "
                         "per minute (IPM): Limit 5, Used 5, Requested 1. Please try again in 800ms.",
                         type_="requests", code="rate_limit_exceeded")
        if "quota" in marks:
            return error(429, "You exceeded your current quota, please check your plan and billing "
                         "details.", type_="insufficient_quota", code="insufficient_quota")
        model = fields.get("model")
        if not model:
            return error(400, "Missing required parameter: 'model'.", param="model",
                         code="missing_required_parameter")
        if model not in MODELS:
            return error(400, "Invalid value: '%s'. Value must be 'dall-e-2' or a gpt-image model."
                         % model, param="model", code="invalid_value")
        if not images:
            return error(400, "Missing required parameter: 'image'.", param="image",
                         code="missing_required_parameter")
        if not fields.get("prompt"):
            return error(400, "Missing required parameter: 'prompt'.", param="prompt",
                         code="missing_required_parameter")
        for k, allowed in CHOICES.items():
            if k in fields and fields[k] not in allowed:
                return error(400, "Invalid value: '%s'. Supported values are: %s." % (
                    fields[k], ", ".join("'%s'" % a for a in allowed)), param=k,
                    code="invalid_value")
        if "output_compression" in fields:
            try:
                oc = int(fields["output_compression"])
            except ValueError:
                return error(400, "Invalid type for 'output_compression': expected an integer.",
                             param="output_compression", code="invalid_type")
            if not 0 <= oc <= 100:
                return error(400, "Invalid 'output_compression': must be between 0 and 100.",
                             param="output_compression", code="invalid_value")
        for fn, mime, data in images:
            if emu.sniff(data) is None or mime not in ("image/png", "image/jpeg", "image/webp"):
                return error(400, "Invalid file '%s': unsupported mimetype ('%s'). Supported "
                             "file formats are 'image/jpeg', 'image/png', and 'image/webp'."
                             % (fn, mime), param="image", code="unsupported_file_mimetype")
        if "moderation" in marks:
            return error(400, "Your request was rejected by the safety system. If you believe this "
                         "is an error, contact us at help.openai.com and include the request ID.",
                         param=None, code="moderation_blocked")
        fmt = fields.get("output_format", "png")
        out = emu.transform(images[0][2], {"jpeg": "jpg"}.get(fmt, fmt),
                            int(fields["output_compression"]) if "output_compression" in fields else None)
        self.emu.count("succeeded")
        text_tokens = len(fields["prompt"].split())
        return 200, {
            "created": int(time.time()),
            "background": fields.get("background", "opaque"),
            "data": [{"b64_json": base64.b64encode(out).decode()}],
            "output_format": fmt, "quality": fields.get("quality", "high"),
            "size": fields.get("size", "1024x1024"),
            "usage": {"input_tokens": 323 * len(images) + text_tokens,
                      "input_tokens_details": {"image_tokens": 323 * len(images),
                                               "text_tokens": text_tokens},
                      "output_tokens": 4160, "total_tokens": 4160 + 323 * len(images) + text_tokens},
        }


if __name__ == "__main__":
    emu.main(__doc__, lambda a: emu.Emulator("openai", a.token), Handler)
