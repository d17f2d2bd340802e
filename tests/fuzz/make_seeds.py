#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/.

The seeds are small, real-looking inputs of each kind: registries (the
built-in shape, tests/e2e/registry.yaml, docs/examples/models.yaml), queue
entries as producers push them, kubeconfigs as kubectl writes them, watch
lists and streams as the API server sends them, the providers' answers as
the emulators in tests/providers/ return them, S3 error XML, and small
JPEG/PNG/WebP/GIF/TIFF files made with libvips' command line (vips).

Run from the repository root: python3 tests/fuzz/make_seeds.py. Existing
seed files are overwritten; others are left alone.
"""
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def j(o):
    return json.dumps(o, separators=(",", ":"))


# ------------------------------------------------------------------ registry
def registry():
    for src, name in (("tests/e2e/registry.yaml", "e2e.yaml"),
                      ("docs/examples/models.yaml", "models.yaml")):
        p = os.path.join(ROOT, src)
        if os.path.exists(p):
            put("fuzz_registry", name, open(p, "rb").read())
    put("fuzz_registry", "small.yaml", """version: 1
default_model: replicate/flux
presets:
  web:
    - {name: normal, format: jpeg, width: 1024, height: 1024, quality: 80, profile: srgb}
    - {name: thumb, format: webp, width: 256, height: 256, quality: 70}
models:
  - id: replicate/flux
    provider: replicate
    version: black-forest-labs/flux-kontext-pro
    credential_env: REPLICATE_API_TOKEN
    timeout: 120s
    retry: {max_attempts: 3, initial: 1s, factor: 2, max: 30s}
    concurrency: 4
    rate_limit: 10/1m
    preset: web
    fallback: [openai/edit]
    input: {prompt: "{{prompt}}", input_image: "{{images.0}}", seed: "{{seed}}"}
    checks: {blank: 2.0, unchanged: 4, min_side: 256, aspect: input}
  - id: openai/edit
    provider: openai
    version: gpt-image-1
    credential_env: OPENAI_API_KEY
    preset: web
    input: {prompt: "{{prompt}}", image: "{{images|file}}", size: 1024x1024}
    kubernetes: {image: easel:latest, resources: {limits: {memory: 512Mi}}}
payloads:
  - name: edit
    when: [prompt, url]
    type: edit
    images: [url]
    fields: {prompt: prompt, seed: seed}
""")
    put("fuzz_registry", "json.json", j({"version": 1, "default_model": "local/vips-stage",
        "models": [{"id": "local/vips-stage", "provider": "local", "timeout": "60s"}]}))
    put("fuzz_registry", "bad.yaml", "version: 1\nmodels:\n  - id: a\n    provider: nowhere\n    timeout: soon\n")


# -------------------------------------------------------------------- intake
def intake():
    url = "https://example.com/rooms/1.jpg"
    entries = [
        {"image_id": "img-1", "original_url": url, "style": "modern", "room_type": "living", "seed": 7},
        {"channel": "b2b", "store_id": "s-9", "person_image_url": url,
         "garment_image_url": "https://example.com/g.png", "task_id": "t-1", "category": "tops"},
        {"channel": "b2c", "user_id": "u-1", "person_image_url": url,
         "garment_image_url": url, "task_id": "t-2"},
        {"id": "job-1", "type": "stage", "model": "local/vips-stage", "priority": 5,
         "idempotency_key": "k-1", "webhook": "https://hooks.example.com/x",
         "metadata": {"trace": "abc"}, "payload": {"image_id": "i", "original_url": url}},
        {"id": "job-2", "type": "edit", "model": "nope/unknown", "payload": {"prompt": "x"}},
        {"image_id": "img-2", "original_url": url, "model": "other/model",
         "extra": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    for i, e in enumerate(entries):
        for reg in (0, 1):
            put("fuzz_intake", "entry%d-reg%d.json" % (i, reg), bytes([reg]) + j(e).encode())
    put("fuzz_intake", "not-json", b"\x01{\"image_id\": ")
    put("fuzz_intake", "array", b"\x00[1,2,3]")


# ---------------------------------------------------------------- kubeconfig
def kubeconfig():
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    put("fuzz_kubeconfig", "token.yaml", """apiVersion: v1
kind: Config
current-context: kind-easel
clusters:
- name: kind-easel
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: %s
contexts:
- name: kind-easel
  context:
    cluster: kind-easel
    user: kind-easel
    namespace: jobs
users:
- name: kind-easel
  user:
    token: abc.def.ghi
""" % ca)
    put("fuzz_kubeconfig", "cert.yaml", """apiVersion: v1
kind: Config
current-context: c
clusters:
- {name: k, cluster: {server: "https://[::1]:6443", insecure-skip-tls-verify: true}}
contexts:
- {name: c, context: {cluster: k, user: u}}
users:
- name: u
  user:
    client-certificate-data: %s
    client-key-data: %s
""" % (ca, ca))
    put("fuzz_kubeconfig", "exec.yaml", """apiVersion: v1
kind: Config
current-context: gke
clusters: [{name: g, cluster: {server: "https://34.1.2.3"}}]
contexts: [{name: gke, context: {cluster: g, user: g}}]
users:
- name: g
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: gke-gcloud-auth-plugin}
""")
    put("fuzz_kubeconfig", "tokenfile.yaml", """current-context: a
clusters: [{name: a, cluster: {server: "http://127.0.0.1:8080"}}]
contexts: [{name: a, context: {cluster: a, user: a}}]
users: [{name: a, user: {tokenFile: token}}]
""")
    put("fuzz_kubeconfig", "alias.yaml", "a: &x [1, 2]\nb: *x\n")


# ---------------------------------------------------------------- kube watch
def job(name, rv, ann=None):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "jobs", "uid": "u-" + name,
                         "resourceVersion": str(rv), "labels": {"easel.dev/job": name},
                         "annotations": ann or {"easel.dev/job-id": name}},
            "status": {"active": 1}}


def kube_watch():
    lst = {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"resourceVersion": "100"},
           "items": [{k: v for k, v in job("a", 90).items() if k != "kind"}, job("b", 95)]}
    stream = "\n".join(j(e) for e in [
        {"type": "ADDED", "object": job("c", 101)},
        {"type": "MODIFIED", "object": job("a", 102)},
        {"type": "DELETED", "object": job("b", 103)},
        {"type": "BOOKMARK", "object": {"kind": "Job", "apiVersion": "batch/v1",
                                        "metadata": {"resourceVersion": "110"}}},
    ]) + "\n"
    gone = j({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "message": "too old resource version: 1 (100)",
                                          "reason": "Expired", "code": 410}}) + "\n"
    relist = {"kind": "JobList", "metadata": {"resourceVersion": "120"}, "items": [job("c", 101)]}
    put("fuzz_kube_watch", "list-watch", b"\x00" + j(lst).encode() + b"\x00" + stream.encode())
    put("fuzz_kube_watch", "chunked-gone-relist",
        b"\x07" + j(lst).encode() + b"\x00" + stream.encode() + gone.encode() + b"\x00" + j(relist).encode())
    put("fuzz_kube_watch", "partial-line", b"\x03{\"items\":[]}\x00" + stream.encode()[:150])
    put("fuzz_kube_watch", "malformed", b"\x00{}\x00{\"type\":\"ADDED\"}\nnot json\n")


def status_body(code):
    return struct.pack(">H", code - 100)


def kube_status():
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": 'jobs.batch "easel-x" already exists', "reason": "AlreadyExists",
          "details": {"name": "easel-x", "group": "batch", "kind": "jobs"}, "code": 409}
    put("fuzz_kube_status", "already-exists", status_body(409) + j(st).encode())
    st2 = dict(st, message='jobs.batch "x" not found', reason="NotFound", code=404)
    put("fuzz_kube_status", "not-found", status_body(404) + j(st2).encode())
    put("fuzz_kube_status", "proxy-502", status_body(502) + b"<html><body>Bad Gateway</body></html>")
    put("fuzz_kube_status", "empty-401", status_body(401))


# ----------------------------------------------------------------- URLs
def urls():
    for i, u in enumerate(["redis://127.0.0.1:6379/0", "redis://:p%40ss@redis.internal:6380/3",
                           "redis://user:secret@[::1]:6379", "redis://localhost",
                           "redis://h:0/x", "rediss://h", "redis://u:p@h/1?x=1#f"]):
        put("fuzz_redis_url", "url%d" % i, u)
    seeds = [
        (0, "s3://bucket/key/with/slashes.jpg\nhttp://127.0.0.1:9000\nus-east-1"),
        (1, "s3://my.bucket/a b+c.png\nhttps://s3.eu-west-1.amazonaws.com/prefix/\neu-west-1"),
        (1, "s3://ab/\nhttps://[::1]:9000\nauto"),
        (0, "s3://Bad_Bucket/x\nftp://example.com\n"),
        (0, "https://example.com/a.jpg\n\n"),
    ]
    for i, (flag, s) in enumerate(seeds):
        put("fuzz_s3_url", "url%d" % i, bytes([flag]) + s.encode())


def s3_error():
    def err(code, msg):
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                '<Resource>/bucket/key</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>'
                % (code, msg))
    put("fuzz_s3_error", "denied", status_body(403) + err("SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.").encode())
    put("fuzz_s3_error", "nokey", status_body(404) + err("NoSuchKey", "The specified key does not exist.").encode())
    put("fuzz_s3_error", "slowdown", status_body(503) + err("SlowDown", "Please reduce your request rate.").encode())
    put("fuzz_s3_error", "upload", status_body(200) + b'<?xml version="1.0"?><InitiateMultipartUploadResult>'
        b'<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>'
        b'</InitiateMultipartUploadResult>')
    put("fuzz_s3_error", "html", status_body(502) + b"<html>bad gateway</html>")


# ----------------------------------------------------------------- providers
STATUS = {200: 0, 201: 1, 202: 2, 400: 3, 401: 4, 402: 5, 403: 6, 404: 7, 408: 8,
          422: 9, 429: 10, 500: 11, 502: 12, 503: 13, 504: 14}


def prov(target, name, status, body, past=False, retry=False, flag=0):
    b = STATUS[status] | (0x10 if past else 0) | (0x20 if retry else 0) | flag
    put(target, name, bytes([b]) + (body if isinstance(body, bytes) else j(body).encode()))


def providers():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()
    pred = {"id": "gm3qorzdhgbfurvjtvhg6dckhu", "model": "black-forest-labs/flux-kontext-pro",
            "version": "hidden", "input": {"prompt": "a room"}, "logs": "", "error": None,
            "status": "succeeded", "source": "api", "created_at": "2026-11-28T09:00:00Z",
            "data_removed": False, "output": "https://replicate.delivery/xezq/out-0.webp",
            "urls": {"get": "https://api.replicate.com/v1/predictions/gm3q",
                     "cancel": "https://api.replicate.com/v1/predictions/gm3q/cancel"},
            "metrics": {"predict_time": 2.5}}
    prov("fuzz_replicate", "succeeded", 201, pred)
    prov("fuzz_replicate", "succeeded-array", 200, dict(pred, output=["data:image/png;base64," + png]))
    prov("fuzz_replicate", "processing", 201, dict(pred, status="processing", output=None))
    prov("fuzz_replicate", "failed-nsfw", 200, dict(pred, status="failed", output=None,
         error="NSFW content detected. Try running it again, or try a different prompt."))
    prov("fuzz_replicate", "canceled-late", 200, dict(pred, status="canceled", output=None), past=True)
    prov("fuzz_replicate", "aborted", 200, dict(pred, status="aborted", output=None))
    prov("fuzz_replicate", "problem-422", 422, {"title": "Input validation failed",
         "detail": "- input.prompt: Invalid type. Expected: string, given: integer", "status": 422,
         "invalid_fields": [{"type": "invalid_type", "field": "input.prompt"}]})
    prov("fuzz_replicate", "throttled-429", 429, {"detail": "Request was throttled. Expected available in 3 seconds.",
         "status": 429}, retry=True)
    prov("fuzz_replicate", "key-401", 401, {"title": "Unauthenticated",
         "detail": "Invalid token fuzz-key-0123456789abcdef", "status": 401})
    prov("fuzz_replicate", "truncated", 201, b'{"id": "oops", "status": ')

    prov("fuzz_openai", "ok", 200, {"created": 1764320400, "data": [{"b64_json": png}],
         "usage": {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50,
                   "input_tokens_details": {"text_tokens": 10, "image_tokens": 40}}})
    prov("fuzz_openai", "not-base64", 200, {"created": 1, "data": [{"b64_json": "@@not base64@@"}]})
    prov("fuzz_openai", "moderation", 400, {"error": {"message": "Your request was rejected by the safety system.",
         "type": "image_generation_user_error", "param": None, "code": "moderation_blocked"}})
    prov("fuzz_openai", "quota", 429, {"error": {"message": "You exceeded your current quota.",
         "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}})
    prov("fuzz_openai", "rate", 429, {"error": {"message": "Rate limit reached", "type": "requests",
         "param": None, "code": "rate_limit_exceeded"}}, retry=True)
    prov("fuzz_openai", "html-502", 502, b"<html><head><title>502 Bad Gateway</title></head></html>")

    usage = {"promptTokenCount": 10, "candidatesTokenCount": 1290, "totalTokenCount": 1300}
    ok = {"candidates": [{"content": {"parts": [{"text": "Here is the room."},
          {"inlineData": {"mimeType": "image/png", "data": png}}], "role": "model"},
          "finishReason": "STOP", "index": 0}], "usageMetadata": usage,
          "modelVersion": "gemini-2.5-flash-image"}
    prov("fuzz_gemini", "ok", 200, ok)
    prov("fuzz_gemini", "blocked", 200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
         "usageMetadata": usage})
    prov("fuzz_gemini", "safety", 200, {"candidates": [{"content": {"parts": [{"text": "I can't."}],
         "role": "model"}, "finishReason": "IMAGE_SAFETY", "index": 0}]})
    prov("fuzz_gemini", "snake-case", 200, {"candidates": [{"content": {"parts": [
         {"inline_data": {"mime_type": "image/png", "data": png}}]}}]})
    prov("fuzz_gemini", "retryinfo-429", 429, {"error": {"code": 429, "message": "Resource has been exhausted",
         "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                     "retryDelay": "20s"}]}})
    prov("fuzz_gemini", "imagen-ok", 200, {"predictions": [{"mimeType": "image/png",
         "bytesBase64Encoded": png}]}, flag=0x40)
    prov("fuzz_gemini", "imagen-filtered", 200, {"predictions": [{"raiFilteredReason":
         "Your current safety filter threshold filtered out the generated image."}]}, flag=0x40)
    prov("fuzz_gemini", "imagen-empty", 200, {"predictions": []}, flag=0x40)
    prov("fuzz_gemini", "imagen-403", 403, {"error": {"code": 403, "message": "Permission denied",
         "status": "PERMISSION_DENIED"}}, flag=0x40)


# -------------------------------------------------------------------- images
def vips(*args):
    subprocess.run(["vips"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def images():
    if not shutil.which("vips"):
        print("make_seeds: no vips command line; image seeds skipped", file=sys.stderr)
        return
    tmp = tempfile.mkdtemp()
    try:
        base = os.path.join(tmp, "base.v")
        vips("xyz", base, "24", "16")
        rgb = os.path.join(tmp, "rgb.v")
        vips("cast", base, rgb, "uchar")
        rgb3 = os.path.join(tmp, "rgb3.v")
        vips("bandjoin_const", rgb, rgb3, "128")
        made = {}
        for name, src, opts in [
            ("small.jpg", rgb3, "[Q=70]"), ("progressive.jpg", rgb3, "[Q=60,interlace]"),
            ("small.png", rgb3, ""), ("grey.png", rgb, ""), ("lossy.webp", rgb3, "[Q=50]"),
            ("lossless.webp", rgb3, "[lossless]"), ("small.gif", rgb3, ""),
            ("small.tif", rgb3, "[compression=deflate]"),
        ]:
            out = os.path.join(tmp, name)
            vips("copy", src, out + opts)
            made[name] = open(out, "rb").read()
        # an alpha WebP for the extended layout
        rgba = os.path.join(tmp, "rgba.v")
        vips("bandjoin_const", rgb3, rgba, "200")
        out = os.path.join(tmp, "alpha.webp")
        vips("copy", rgba, out + "[Q=50]")
        made["alpha.webp"] = open(out, "rb").read()
        for name, data in made.items():
            ext = name.rsplit(".", 1)[1]
            flag = 1 if ext in ("gif", "tif") else 0
            put("fuzz_image_load", name, bytes([flag]) + data)
        # an EXIF orientation: libvips writes the orientation tag it is given
        out = os.path.join(tmp, "rot.jpg")
        subprocess.run(["vips", "copy", rgb3, out + "[Q=70]"], check=True)
        data = open(out, "rb").read()
        put("fuzz_image_load", "truncated.jpg", b"\x00" + data[: len(data) // 2])
        # the rewriter: WebP (icc sizes 0, small, one segment) and JPEG
        for i, name in enumerate(("lossy.webp", "lossless.webp", "alpha.webp")):
            put("fuzz_image_meta", name, bytes([(i % 3) << 1]) + made[name])
        put("fuzz_image_meta", "small.jpg", bytes([1 | 2 << 1]) + made["small.jpg"])
        put("fuzz_image_meta", "big-icc.jpg", bytes([1 | 3 << 1]) + made["progressive.jpg"])
    finally:
        shutil.rmtree(tmp)


# ------------------------------------------------------------ provider logs

def provider_logs():
    """A model's printed output as Replicate returns it: tqdm bars (redrawn
    with \r, or one line a step), escapes, bad UTF-8, near-miss percents."""
    put("fuzz_provider_logs", "tqdm",
        "Using seed: 42\n  0%|          | 0/20 [00:00<?, ?it/s]\n"
        " 45%|\u2588\u2588\u2588\u2588\u258c     | 9/20 [00:02<00:02, 4.1it/s]\n")
    put("fuzz_provider_logs", "redraw",
        b"  5%|5   | 1/20\r 10%|#   | 2/20\r\x1b[31mred\x1b[0m\xff\xfe\n100%|####| 20/20")
    put("fuzz_provider_logs", "edges",
        "a\nb\nc\nd\ne\nf\n1050%|x\nx45%|y\n%|%|\n.5%|\n")


# ----------------------------------------------------------------- tracing
def traceparent():
    for i, v in enumerate([
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            " 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\t",
            "api-key=s%3Dcret,x-tenant = a b ,,broken%zz=x,novalue",
            "service.name=imgsvc,deployment.environment=prod%2C%20eu",
            "https://abc123@o1.ingest.sentry.io/sentry/42",
            "http://pub:secret@127.0.0.1:9000/7"]):
        put("fuzz_traceparent", "seed%d" % i, v)


def tflite():
    # the small models of tests/pose/tflite_gen.py, one per operator
    subprocess.check_call([sys.executable,
                           os.path.join(ROOT, "tests", "pose", "tflite_gen.py"),
                           "--seeds", os.path.join(OUT, "fuzz_tflite")])


if __name__ == "__main__":
    registry()
    intake()
    kubeconfig()
    kube_watch()
    kube_status()
    urls()
    s3_error()
    providers()
    provider_logs()
    traceparent()
    images()
    tflite()
