#!/usr/bin/env python3
"""Google emulator for easel's tests: the Gemini API's generateContent and
Vertex AI's Imagen :predict, as Google's API references describe them.

  POST /v1beta/models/{model}:generateContent   (x-goog-api-key)
  POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predict
                                                 (Authorization: Bearer)

Gemini: contents[].parts[] with text and inline_data / inlineData (base64
with its MIME type); generationConfig.responseModalities must include
IMAGE for an image back. The answer's image is the first input image
inverted by libvips, in candidates[0].content.parts[].inlineData. Imagen:
instances[].prompt, parameters.sampleCount and aspectRatio; answers
predictions[].bytesBase64Encoded with a gradient chosen by the prompt.
Errors use Google's {"error": {code, message, status, details}}.

Markers in the prompt: [[emu:429]] (RESOURCE_EXHAUSTED with a RetryInfo
retryDelay of 1s) [[emu:500]] [[emu:503]] [[emu:blocked]]
(promptFeedback.blockReason) [[emu:safety]] (finishReason IMAGE_SAFETY, no
image) [[emu:noimage]] (text only) [[emu:snake]] (inline_data instead of
inlineData) [[emu:timeout]] [[emu:malformed]] [[emu:filtered]] (Imagen
filters every sample).

Usage: google_emulator.py --state-dir DIR --token T [--port N]
"""

import base64
import json
import re

import emu


def gerror(code, status, message, details=None):
    return code, {"error": {"code": code, "message": message, "status": status,
                            "details": details or []}}


class Handler(emu.Handler):
    def reject(self, status, res):
        """Google's error body: INVALID_ARGUMENT with a BadRequest detail
        listing each field violation."""
        st = {401: "UNAUTHENTICATED", 404: "NOT_FOUND"}.get(status, "INVALID_ARGUMENT")
        self.send(*gerror(status, st, "; ".join(v["detail"] for v in res.violations),
                          [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [{"field": v["rule"], "description": v["detail"]}
                                                for v in res.violations]}]))

    def do_GET(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        if not self.conform(self.body()):
            return
        self.send(*gerror(404, "NOT_FOUND", "Requested entity was not found."))

    def do_POST(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        raw = self.body()
        if not self.conform(raw):
            return
        m = re.fullmatch(r"/v1beta/models/([\w.-]+):generateContent", path)
        if m:
            if self.headers.get("x-goog-api-key") != self.emu.token:
                return self.send(*gerror(400, "INVALID_ARGUMENT",
                                         "API key not valid. Please pass a valid API key.",
                                         [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                           "reason": "API_KEY_INVALID",
                                           "domain": "googleapis.com"}]))
            self.emu.count("generateContent")
            res = self.generate(m.group(1), raw)
        else:
            m = re.fullmatch(r"/v1/projects/[\w-]+/locations/[\w-]+/publishers/google/models/"
                             r"([\w.-]+):predict", path)
            if not m:
                return self.send(*gerror(404, "NOT_FOUND", "Requested entity was not found."))
            if self.headers.get("Authorization") != "Bearer " + self.emu.token:
                return self.send(*gerror(401, "UNAUTHENTICATED",
                                         "Request had invalid authentication credentials. "
                                         "Expected OAuth 2 access token."))
            self.emu.count("predict")
            res = self.predict(m.group(1), raw)
        if res is not None:
            self.send(*res)

    def faults(self, marks):
        fault = self.emu.random_fault()
        if fault:
            marks.add(fault)
            self.emu.count("fault " + fault)
        if "timeout" in marks:
            self.stall()
            return "stalled"
        if "429" in marks:
            return gerror(429, "RESOURCE_EXHAUSTED",
                          "You exceeded your current quota, please check your plan and billing "
                          "details.",
                          [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                                            "generate_content_free_tier_requests"}]},
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": "1s"}])
        if "500" in marks:
            return gerror(500, "INTERNAL", "An internal error has occurred. Please retry or "
                          "report in https://developers.generativeai.google/guide/troubleshooting")
        if "503" in marks:
            return gerror(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if "malformed" in marks:
            return 200, '{"candidates": [{"content": '
        return None

    def generate(self, model, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            return gerror(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return gerror(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
        texts, images = [], []
        for c in contents:
            for p in c.get("parts") or []:
                if "text" in p:
                    texts.append(p["text"])
                inl = p.get("inline_data") or p.get("inlineData")
                if inl is not None:
                    mime = inl.get("mime_type") or inl.get("mimeType")
                    try:
                        data = base64.b64decode(inl.get("data") or "", validate=True)
                    except ValueError:
                        return gerror(400, "INVALID_ARGUMENT",
                                      "Invalid value at 'contents[0].parts[1].inline_data.data' "
                                      "(TYPE_BYTES), Base64 decoding failed")
                    if mime not in ("image/png", "image/jpeg", "image/webp") or not emu.sniff(data):
                        return gerror(400, "INVALID_ARGUMENT", "Unable to process input image. "
                                      "Please retry or report in https://developers.generativeai."
                                      "google/guide/troubleshooting")
                    images.append(data)
        marks = emu.markers(" ".join(texts))
        self.body_faults(marks)
        f = self.faults(marks)
        if f == "stalled":
            return None
        if f:
            return f
        mods = (body.get("generationConfig") or {}).get("responseModalities") or ["TEXT"]
        usage = {"promptTokenCount": 8 + 258 * len(images), "candidatesTokenCount": 1290,
                 "totalTokenCount": 1298 + 258 * len(images)}
        if "blocked" in marks:
            return 200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                         "usageMetadata": usage, "modelVersion": model}
        if "safety" in marks:
            return 200, {"candidates": [{"content": {"parts": [], "role": "model"},
                                         "finishReason": "IMAGE_SAFETY", "index": 0}],
                         "usageMetadata": usage, "modelVersion": model}
        if "noimage" in marks or "IMAGE" not in mods or not images:
            return 200, {"candidates": [{"content": {"parts": [
                {"text": "I can describe the room, but I did not draw anything this time."}],
                "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model}
        out = emu.transform(images[0], "png")
        key = "inline_data" if "snake" in marks else "inlineData"
        mkey = "mime_type" if "snake" in marks else "mimeType"
        self.emu.count("succeeded")
        return 200, {"candidates": [{"content": {"parts": [
            {"text": "Here is the edited image."},
            {key: {mkey: "image/png", "data": base64.b64encode(out).decode()}}], "role": "model"},
            "finishReason": "STOP", "index": 0}], "usageMetadata": usage, "modelVersion": model}

    def predict(self, model, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            return gerror(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        inst = body.get("instances")
        if not isinstance(inst, list) or not inst or not isinstance(inst[0].get("prompt"), str):
            return gerror(400, "INVALID_ARGUMENT", "instances[0].prompt is required")
        params = body.get("parameters") or {}
        n = params.get("sampleCount", 1)
        if not isinstance(n, int) or not 1 <= n <= 4:
            return gerror(400, "INVALID_ARGUMENT", "sampleCount must be between 1 and 4")
        aspect = params.get("aspectRatio", "1:1")
        sizes = {"1:1": (512, 512), "16:9": (640, 360), "9:16": (360, 640), "4:3": (512, 384),
                 "3:4": (384, 512)}
        if aspect not in sizes:
            return gerror(400, "INVALID_ARGUMENT", "Unsupported aspect ratio: %s" % aspect)
        marks = emu.markers(inst[0]["prompt"])
        self.body_faults(marks)
        f = self.faults(marks)
        if f == "stalled":
            return None
        if f:
            return f
        if "filtered" in marks:
            return 200, {"predictions": []}
        w, h = sizes[aspect]
        png = emu.png_gradient(w, h, inst[0]["prompt"])
        self.emu.count("succeeded")
        return 200, {"predictions": [{"mimeType": "image/png",
                                      "bytesBase64Encoded": base64.b64encode(png).decode()}
                                     for _ in range(n)]}


if __name__ == "__main__":
    emu.main(__doc__, lambda a: emu.Emulator("google", a.token), Handler)
