#!/usr/bin/env python3
"""Replicate emulator for easel's tests: the predictions API as Replicate's
HTTP API documentation describes it.

  POST /v1/models/{owner}/{name}/predictions   {"input": {...}}
  POST /v1/predictions                          {"version": "...", "input": {...}}
  GET  /v1/predictions/{id}
  POST /v1/predictions/{id}/cancel
  GET  /files/{name}                            (output delivery)

Bearer-token auth; input validated against each model's schema with
Replicate's 422 body; the prediction lifecycle starting -> processing ->
succeeded | failed | canceled | aborted; `Prefer: wait=N` holds the create
until the prediction ends or N seconds pass; `Cancel-After` cancels (or
aborts, before it starts) a prediction that runs too long; a token-bucket
rate limit answering 429 with Retry-After. The output is the input image
inverted by libvips, in the requested output_format.

A prediction's `logs` grow while it runs, as a model's printed output
does: "Using seed: N", then a tqdm progress bar, one line per step
(" 45%|████▌     | 9/20 [00:03<00:04, 2.86it/s]"), as Replicate's own
clients read progress from; [[emu:logs]] makes the run last 7 s (longer
than the longest Prefer: wait easel sends, so the bar is seen by polling)
and [[emu:chatty]] does the same while printing 60 more lines a second.

Prompt markers (see emu.py): [[emu:500]] [[emu:429]] [[emu:timeout]]
[[emu:malformed]] on the create; [[emu:fail]] and [[emu:nsfw]] end the
prediction failed; [[emu:slow]] makes it run for a minute; [[emu:truncate]]
truncates the output download, [[emu:slowbody]] trickles it and
[[emu:stallbody]] stops it half way; [[emu:blank]], [[emu:same]] and
[[emu:square]] return a bad image (see emu.transform).

Usage: replicate_emulator.py --state-dir DIR --token T [--port N]
       [--start-ms 100] [--run-ms 300] [--rate-per-s 0]
"""

import json
import re
import threading
import time
import uuid

import emu

ASPECTS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4",
           "21:9", "9:21", "2:1", "1:2", "match_input_image"]

# name: (type, required, extra check)
MODELS = {
    "qwen/qwen-image-edit": {
        "image": ("uri", True, None),
        "prompt": ("string", True, None),
        "go_fast": ("boolean", False, None),
        "aspect_ratio": ("string", False, lambda v: v in ["1:1", "16:9", "9:16", "4:3", "3:4",
                                                         "match_input_image"]),
        "output_format": ("string", False, lambda v: v in ["webp", "jpg", "png"]),
        "output_quality": ("integer", False, lambda v: 0 <= v <= 100),
        "seed": ("integer", False, None),
        "disable_safety_checker": ("boolean", False, None),
    },
    "black-forest-labs/flux-kontext-max": {
        "prompt": ("string", True, None),
        "input_image": ("uri", False, None),
        "aspect_ratio": ("string", False, lambda v: v in ASPECTS),
        "output_format": ("string", False, lambda v: v in ["jpg", "png"]),
        "safety_tolerance": ("integer", False, lambda v: 0 <= v <= 6),
        "prompt_upsampling": ("boolean", False, None),
        "seed": ("integer", False, None),
    },
}
# a pinned version id stands for a model (POST /v1/predictions)
VERSIONS = {"a" * 64: "qwen/qwen-image-edit", "b" * 64: "black-forest-labs/flux-kontext-max"}


def validate(model, inp):
    """Replicate's list of invalid fields, empty when the input is valid."""
    schema = MODELS[model]
    bad = []
    if not isinstance(inp, dict):
        return [{"type": "type", "field": "input", "description": "input must be an object"}]
    for k, (typ, required, check) in schema.items():
        if k not in inp:
            if required:
                bad.append({"type": "required", "field": "input",
                            "description": "%s is required" % k})
            continue
        v = inp[k]
        ok = {"string": isinstance(v, str),
              "uri": isinstance(v, str) and re.match(r"^(https?://|data:)", v or "") is not None,
              "boolean": isinstance(v, bool),
              "integer": isinstance(v, int) and not isinstance(v, bool)}[typ]
        if not ok:
            bad.append({"type": "type", "field": "input.%s" % k,
                        "description": "Invalid type. Expected: %s, given: %s"
                        % (typ, type(v).__name__)})
        elif check and not check(v):
            bad.append({"type": "enum", "field": "input.%s" % k,
                        "description": "%s: value %r is not allowed" % (k, v)})
    for k in inp:
        if k not in schema:
            bad.append({"type": "additional_property_not_allowed", "field": "input",
                        "description": "Additional property %s is not allowed" % k})
    if (model.endswith("flux-kontext-max") and inp.get("input_image")
            and isinstance(inp.get("safety_tolerance"), int) and inp["safety_tolerance"] > 2):
        bad.append({"type": "range", "field": "input.safety_tolerance",
                    "description": "safety_tolerance must be at most 2 when input_image is given"})
    return bad


def problem(status, title, detail, **extra):
    body = {"title": title, "detail": detail, "status": status}
    body.update(extra)
    return body


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


# the logs a model prints (see Prediction.logs)
LOGS_RUN_S = 7.0
STEPS = 20
CHATTY_PER_S = 60


def tqdm_bar(frac, width=10):
    """tqdm's bar: full blocks and one partial block, padded with spaces."""
    parts = " ▏▎▍▌▋▊▉"
    eighths = int(frac * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (parts[part] if full < width and part else "")
    return bar + " " * (width - len(bar))


def mmss(secs):
    return "%02d:%02d" % divmod(int(secs), 60)


class Replicate(emu.Emulator):
    def __init__(self, args):
        super().__init__("replicate", args.token)
        self.args = args
        self.preds = {}
        self.bucket = float(args.rate_per_s or 0)
        self.bucket_t = time.monotonic()

    def take_token(self):
        """Token bucket: (allowed, seconds until the next token)."""
        rate = self.args.rate_per_s
        if not rate:
            return True, 0
        with self.lock:
            now = time.monotonic()
            self.bucket = min(rate, self.bucket + (now - self.bucket_t) * rate)
            self.bucket_t = now
            if self.bucket >= 1:
                self.bucket -= 1
                return True, 0
            return False, (1 - self.bucket) / rate


class Prediction:
    def __init__(self, pid, model, version, inp, marks, start_s, run_s, cancel_after):
        self.id, self.model, self.version, self.input = pid, model, version, inp
        self.marks = marks
        self.t0 = time.monotonic()
        self.start_at = self.t0 + start_s
        self.end_at = self.start_at + (60.0 if "slow" in marks else
                                       LOGS_RUN_S if marks & {"logs", "chatty"} else run_s)
        self.cancel_at = self.t0 + cancel_after if cancel_after else None
        self.status = "starting"
        self.output = None
        self.error = None
        self.created = now_iso()
        self.started = self.completed = None
        self.lock = threading.Lock()

    def advance(self, r):
        """Moves the prediction along its clock."""
        with self.lock:
            if self.status in ("succeeded", "failed", "canceled", "aborted"):
                return
            now = time.monotonic()
            if self.cancel_at and now >= self.cancel_at and now < self.end_at:
                self.status = "aborted" if now < self.start_at else "canceled"
                self.error = "Prediction deadline exceeded" if self.status == "canceled" else None
                self.completed = now_iso()
                r.count("deadline " + self.status)
                return
            if now >= self.start_at and self.status == "starting":
                self.status = "processing"
                self.started = now_iso()
            if now >= self.end_at:
                self.finish(r)

    def finish(self, r):
        self.completed = now_iso()
        if "fail" in self.marks:
            self.status, self.error = "failed", "CUDA error: an illegal memory access was encountered"
            return
        if "nsfw" in self.marks:
            self.status, self.error = "failed", ("NSFW content detected. Try running it again, "
                                                  "or try a different prompt.")
            return
        ref = self.input.get("image") or self.input.get("input_image")
        fmt = self.input.get("output_format") or ("webp" if self.model.startswith("qwen") else "png")
        try:
            if not ref:
                raise ValueError("this emulator edits an input image; none was given")
            data = emu.transform(emu.fetch_image(ref), fmt, self.input.get("output_quality"),
                                 self.marks)
        except Exception as e:  # noqa: BLE001 - the prediction fails with the reason
            self.status, self.error = "failed", "could not process the input image: %s" % e
            return
        prefix = "".join(m + "-" for m in ("slowbody", "stallbody") if m in self.marks)
        if "truncate" in self.marks:
            prefix = "truncated-"
        name = prefix + "%s.%s" % (self.id, fmt)
        url = r.put_file(name, data, {"jpg": "image/jpeg", "png": "image/png",
                                      "webp": "image/webp"}[fmt])
        url = r.output_url or url  # POST /_emu/output: a URL the test chose
        # qwen-image-edit answers with a list of files, flux-kontext-max with one
        self.output = [url] if self.model.startswith("qwen") else url
        self.status = "succeeded"
        r.count("succeeded")

    def logs(self):
        """What the model has printed by now (or by its end): the seed,
        then a tqdm bar of STEPS steps spread over the run; a chatty one
        prints CHATTY_PER_S more lines a second between the steps."""
        if self.started is None:
            return ""
        run = self.end_at - self.start_at
        t = min(time.monotonic(), self.end_at) - self.start_at
        out = ["Using seed: %s" % self.input.get("seed", 42)]
        done = min(STEPS, int(t / run * STEPS)) if run > 0 else STEPS
        chatty = "chatty" in self.marks
        for k in range(done + 1):
            if chatty and k > 0:
                for i in range(int(run / STEPS * CHATTY_PER_S)):
                    out.append("step %d: denoising block %d, sigma %.4f" % (k, i, 1.0 / (k + i + 1)))
            el = t * k / done if done else 0.0
            rem = (STEPS - k) * (run / STEPS)
            out.append("%3d%%|%s| %d/%d [%s<%s, %.2fit/s]" % (
                100 * k // STEPS, tqdm_bar(k / STEPS), k, STEPS, mmss(el), mmss(rem),
                STEPS / run if run > 0 else 0))
        if self.status == "succeeded":
            out.append("Saved output to /tmp/out-0.png")
        return "\n".join(out) + "\n"

    def json(self, r):
        base = r.base
        return {
            "id": self.id, "model": self.model, "version": self.version or "hidden",
            "input": {k: (v[:40] + "...") if isinstance(v, str) and v.startswith("data:") else v
                      for k, v in self.input.items()},
            "logs": self.logs() if self.marks & {"logs", "chatty"} else "", "output": self.output, "data_removed": False, "error": self.error,
            "status": self.status, "source": "api", "created_at": self.created,
            "started_at": self.started, "completed_at": self.completed,
            "urls": {"get": "%s/v1/predictions/%s" % (base, self.id),
                     "cancel": "%s/v1/predictions/%s/cancel" % (base, self.id),
                     "web": "https://replicate.com/p/%s" % self.id},
            "metrics": {"predict_time": round(max(0.0, min(time.monotonic(), self.end_at)
                                                  - self.start_at), 3)}
            if self.status == "succeeded" else {},
        }


class Handler(emu.Handler):
    def reject(self, status, res):
        """Replicate's problem+json; a body that breaks the request schema
        is a 422, as Replicate answers invalid requests."""
        if status == 400 and any(v["kind"] == "body" for v in res.violations):
            status = 422
        title = {401: "Unauthenticated", 404: "Not found", 422: "Invalid request"}.get(status, "Bad request")
        detail = "".join("- %s\n" % v["detail"] for v in res.violations)
        self.send(status, problem(status, title, detail), "application/problem+json")

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + self.emu.token:
            return True
        self.send(401, problem(401, "Unauthenticated",
                               "You did not pass a valid authentication token"),
                  "application/problem+json")
        return False

    def do_GET(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        if path.startswith("/files/"):
            return self.serve_file(path[len("/files/"):])
        if not self.conform(self.body()) or not self.authorized():
            return
        m = re.fullmatch(r"/v1/predictions/([\w-]+)", path)
        if not m:
            return self.send(404, problem(404, "Not found", "The requested resource could not be found."))
        self.emu.count("poll")
        p = self.emu.preds.get(m.group(1))
        if not p:
            return self.send(404, problem(404, "Not found", "The requested resource could not be found."))
        p.advance(self.emu)
        self.send(200, p.json(self.emu))

    def do_POST(self):
        path, _ = emu.query(self.path)
        if path.startswith("/_emu/"):
            return self.control(path)
        raw = self.body()
        if not self.conform(raw) or not self.authorized():
            return
        m = re.fullmatch(r"/v1/predictions/([\w-]+)/cancel", path)
        if m:
            self.emu.count("cancel")
            p = self.emu.preds.get(m.group(1))
            if not p:
                return self.send(404, problem(404, "Not found", "The requested resource could not be found."))
            p.advance(self.emu)
            with p.lock:
                if p.status in ("starting", "processing"):
                    p.status, p.completed = "canceled", now_iso()
            return self.send(200, p.json(self.emu))
        model = version = None
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.send(400, problem(400, "Invalid JSON", "The request body is not valid JSON."))
        if not isinstance(body, dict):
            return self.send(400, problem(400, "Invalid JSON", "The request body must be an object."))
        m = re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/predictions", path)
        if m:
            model = "%s/%s" % (m.group(1), m.group(2))
        elif path == "/v1/predictions":
            version = body.get("version")
            model = VERSIONS.get(version)
            if not model:
                return self.send(422, problem(422, "Invalid version or not permitted",
                                              "The specified version does not exist (or perhaps "
                                              "you don't have permission to use it?)"))
        else:
            return self.send(404, problem(404, "Not found", "The requested resource could not be found."))
        if model not in MODELS:
            return self.send(404, problem(404, "Not found", "The requested resource could not be found."))
        self.emu.count("create")
        inp = body.get("input")
        # the seed is left out of what makes a request "the same" for the
        # once-markers: a retry with a new seed is still the same job
        same = json.dumps({k: v for k, v in (inp or {}).items() if k != "seed"}
                          if isinstance(inp, dict) else inp, sort_keys=True)
        marks = emu.markers(same)
        if isinstance(inp, dict) and "seed" in inp:
            self.emu.count("seed %s" % inp["seed"])
        fault = self.emu.random_fault(same)
        if fault:
            marks.add(fault)
            self.emu.count("fault " + fault)
        if "timeout" in marks:
            return self.stall()
        if "500" in marks:
            return self.send(500, problem(500, "Internal Server Error", "Something went wrong."))
        if "malformed" in marks:
            return self.send(201, '{"id": "oops", "status": ', "application/json")
        ok, wait = self.emu.take_token()
        if "429" in marks or not ok:
            self.emu.count("throttled")
            secs = max(1, int(wait + 0.999)) if not ok else 1
            return self.send(429, problem(429, "Request was throttled.",
                                          "Request was throttled. Expected available in %d second%s."
                                          % (secs, "" if secs == 1 else "s")),
                             "application/problem+json", {"Retry-After": str(secs)})
        bad = validate(model, inp)
        if bad:
            self.emu.count("invalid")
            detail = "".join("- %s: %s\n" % (b["field"], b["description"]) for b in bad)
            return self.send(422, problem(422, "Input validation failed", detail,
                                          invalid_fields=bad), "application/problem+json")
        cancel_after = None
        if self.headers.get("Cancel-After"):
            cancel_after = emu.parse_duration(self.headers["Cancel-After"])
            if cancel_after is None or cancel_after < 0:
                return self.send(400, problem(400, "Invalid Cancel-After header",
                                              "Cancel-After must be a duration such as 30s or 5m"))
        wait_s = 0
        prefer = self.headers.get("Prefer") or ""
        mw = re.fullmatch(r"\s*wait(?:=(\d+))?\s*", prefer)
        if prefer and not mw:
            return self.send(400, problem(400, "Invalid Prefer header", "Prefer must be wait or wait=N"))
        if mw:
            wait_s = int(mw.group(1) or 60)
            if not 1 <= wait_s <= 60:
                return self.send(400, problem(400, "Invalid Prefer header",
                                              "wait must be between 1 and 60 seconds"))
        p = Prediction(uuid.uuid4().hex[:26], model, version, inp, marks,
                       self.emu.args.start_ms / 1000.0, self.emu.args.run_ms / 1000.0, cancel_after)
        self.emu.preds[p.id] = p
        end = time.monotonic() + wait_s
        while True:
            p.advance(self.emu)
            if p.status not in ("starting", "processing") or time.monotonic() >= end:
                break
            time.sleep(0.02)
        headers = {"Preference-Applied": "wait=%d" % wait_s} if wait_s else {}
        self.send(201, p.json(self.emu), headers=headers)


if __name__ == "__main__":
    emu.main(__doc__, Replicate, Handler, [
        ("--start-ms", {"type": int, "default": 100}),
        ("--run-ms", {"type": int, "default": 300}),
        ("--rate-per-s", {"type": float, "default": 0})])
