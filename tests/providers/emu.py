"""emu.py - what the provider emulators in tests/providers share: a threaded
HTTP/1.1 server, faults on demand, request counters, and a deterministic
image transformation done by the real libvips command line (`vips`), so
every emulator returns a real image derived from its input.

Faults come two ways:
  - per request, from a marker in the prompt: [[emu:500]], [[emu:429]],
    [[emu:timeout]], [[emu:malformed]], [[emu:fail]], [[emu:nsfw]],
    [[emu:slow]], [[emu:truncate]], [[emu:noimage]], and for every
    emulator [[emu:slowbody]] (the answer's body trickles out over about
    two seconds) and [[emu:stallbody]] (half the body, then nothing);
  - at random, at a rate set through POST /_emu/faults
    {"rate": 0.3, "kinds": ["500", "429", "timeout"], "seed": 7}: drawn
    in arrival order, so which job gets which fault depends on timing; with
    "per": "request" instead drawn from (seed, what the request asks, how
    many times it was asked), so every job meets the same faults on every
    run however the requests interleave.
GET /_emu/stats returns the counters; POST /_emu/reset clears them.

Every request to the provider's API (not /_emu/*, not /files/*) is first
checked against the provider's own published API definition
(conformance.py). A request that breaks it is recorded and answered with
the error the service would give (400, 401, 404 or 422), before anything
else. GET /_emu/violations returns {"checked": N, "violations": [...],
"notes": [...]}; the stats count "checked" and "violations" too.
POST /_emu/output {"url": "http://169.254.169.254/..."} makes an emulator
that delivers outputs by URL (Replicate) answer with that URL instead, as a
hostile or compromised provider would ({"url": null} undoes it).
Python 3.11 standard library and the vips command only.
"""

import base64
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import conformance

MARKER = re.compile(r"\[\[emu:([a-z0-9_]+)\]\]")


def sniff(data):
    """Image format from magic bytes: jpg, png, webp or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_data_uri(uri):
    """(mime, bytes) of a base64 data URI, or None."""
    m = re.match(r"data:([\w/+.-]+)?(;[\w=.-]+)*;base64,(.*)$", uri, re.S)
    if not m:
        return None
    try:
        return m.group(1) or "", base64.b64decode(m.group(3), validate=True)
    except ValueError:
        return None


def transform(data, out_fmt, quality=None, marks=()):
    """A real, deterministic edit of a real image: libvips inverts it.
    Returns the encoded bytes in out_fmt (jpg, png, webp). Markers make a
    bad edit instead: [[emu:blank]] a uniform grey image, [[emu:same]] the
    input unchanged (re-encoded), [[emu:square]] a square crop."""
    src_fmt = sniff(data)
    if not src_fmt:
        raise ValueError("not a JPEG, PNG or WebP image")
    with tempfile.TemporaryDirectory(prefix="emu-") as d:
        src = os.path.join(d, "in." + src_fmt)
        with open(src, "wb") as f:
            f.write(data)
        opts = "[Q=%d]" % quality if quality and out_fmt in ("jpg", "webp") else ""
        dst = os.path.join(d, "out." + out_fmt)
        if "blank" in marks:
            cmd = ["vips", "linear", src, dst + opts, "0", "128"]
        elif "same" in marks:
            cmd = ["vips", "copy", src, dst + opts]
        elif "square" in marks:
            cmd = ["vips", "smartcrop", src, dst + opts, "512", "512"]
        else:
            cmd = ["vips", "invert", src, dst + opts]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
        with open(dst, "rb") as f:
            return f.read()


class Emulator:
    """State shared by the handler threads of one emulator."""

    def __init__(self, name, token):
        self.name = name
        self.token = token
        self.lock = threading.Lock()
        self.stats = {}
        self.fault_rate = 0.0
        self.fault_kinds = []
        self.rng = random.Random(1)
        self.fault_seed = None  # "per": "request": faults keyed by request
        self.fault_seen = {}    # request key -> times asked
        self.files = {}  # name -> (bytes, mime)
        self.base = ""   # http://127.0.0.1:PORT, set when listening
        self.checked = 0
        self.violations = []  # what conformance.check found, with the request
        self.notes = {}       # note -> times seen
        self.output_url = None  # POST /_emu/output: answer with this URL

    def record(self, res, method, path):
        """Keeps a conformance.Result for /_emu/violations."""
        with self.lock:
            self.checked += 1
            self.stats["checked"] = self.stats.get("checked", 0) + 1
            for v in res.violations:
                self.stats["violations"] = self.stats.get("violations", 0) + 1
                if len(self.violations) < 1000:
                    self.violations.append(dict(v, endpoint=res.endpoint, method=method,
                                                path=path))
            for n in res.notes:
                self.notes[n] = self.notes.get(n, 0) + 1

    def count(self, what, n=1):
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + n

    def random_fault(self, key=None):
        """A fault kind or None. key names what the request asks (the same
        for every retry of one job); with "per": "request" the draw depends
        only on it and on how many times it was asked before."""
        with self.lock:
            if self.fault_rate <= 0 or not self.fault_kinds:
                return None
            if self.fault_seed is not None and key is not None:
                n = self.fault_seen.get(key, 0) + 1
                self.fault_seen[key] = n
                h = hashlib.sha256(("%s|%d|%s" % (self.fault_seed, n, key)).encode()).digest()
                if int.from_bytes(h[:8], "big") / 2.0 ** 64 >= self.fault_rate:
                    return None
                return self.fault_kinds[int.from_bytes(h[8:16], "big") % len(self.fault_kinds)]
            if self.rng.random() < self.fault_rate:
                return self.rng.choice(self.fault_kinds)
        return None

    def put_file(self, name, data, mime):
        with self.lock:
            self.files[name] = (data, mime)
        return "%s/files/%s" % (self.base, name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "emu"
    sys_version = ""
    emu = None  # set per server class

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if os.environ.get("EMU_VERBOSE"):
            sys.stderr.write("%s: %s\n" % (self.emu.name, fmt % args))

    # ---- conformance
    def conform(self, raw):
        """Checks this request against the provider's API definition and
        records the result. True when it conforms; otherwise the request
        is answered (reject()) and False returned."""
        res = conformance.check(self.emu.name, self.command, self.path, self.headers, raw)
        self.emu.record(res, self.command, emu_path(self.path))
        if not res.violations:
            return True
        kinds = {v["kind"] for v in res.violations}
        status = 404 if "path" in kinds else 401 if "auth" in kinds else 400
        self.reject(status, res)
        return False

    def reject(self, status, res):
        """The provider's error body for a non-conformant request; each
        emulator overrides it with its service's own shape."""
        self.send(status, {"error": "; ".join(v["detail"] for v in res.violations)})

    # ---- plumbing
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, code, data, ctype="application/json", headers=None):
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        elif isinstance(data, str):
            data = data.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        fault, self.body_fault = getattr(self, "body_fault", None), None
        if fault:
            self.emu.count("body " + fault)
        if fault == "slowbody":
            # sixteen pieces an eighth of a second apart: slow, never stopped
            step = max(1, (len(data) + 15) // 16)
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(0.125)
            return
        if fault == "stallbody":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.stall()
            return
        self.wfile.write(data)

    def body_faults(self, marks):
        """Arms a body fault for this request's answer, if marked."""
        for f in ("slowbody", "stallbody"):
            if f in marks:
                self.body_fault = f

    def stall(self, seconds=120):
        """Answers nothing: the client's timeout has to fire."""
        time.sleep(seconds)
        self.close_connection = True

    def serve_file(self, name):
        with self.emu.lock:
            f = self.emu.files.get(name)
        if not f:
            return self.send(404, {"detail": "no such file"})
        data, mime = f
        if name.startswith("truncated-"):
            # promise the whole image, send half, hang up
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        for f in ("slowbody", "stallbody"):
            if name.startswith(f + "-"):
                self.body_fault = f
        self.send(200, data, mime)

    def control(self, path):
        """/_emu/* (no auth): faults, stats, reset."""
        if path == "/_emu/stats":
            with self.emu.lock:
                return self.send(200, dict(self.emu.stats))
        if path == "/_emu/violations":
            with self.emu.lock:
                return self.send(200, {"checked": self.emu.checked,
                                       "violations": list(self.emu.violations),
                                       "notes": [{"note": k, "times": n}
                                                 for k, n in self.emu.notes.items()]})
        if path == "/_emu/reset" and self.command == "POST":
            with self.emu.lock:
                self.emu.stats.clear()
                self.emu.fault_rate = 0.0
                self.emu.checked = 0
                self.emu.violations.clear()
                self.emu.notes.clear()
            return self.send(200, {"ok": True})
        if path == "/_emu/output" and self.command == "POST":
            cfg = json.loads(self.body() or b"{}")
            with self.emu.lock:
                self.emu.output_url = cfg.get("url")
            return self.send(200, {"ok": True})
        if path == "/_emu/faults" and self.command == "POST":
            cfg = json.loads(self.body() or b"{}")
            with self.emu.lock:
                self.emu.fault_rate = float(cfg.get("rate", 0))
                self.emu.fault_kinds = list(cfg.get("kinds") or [])
                self.emu.rng = random.Random(cfg.get("seed", 1))
                self.emu.fault_seed = (cfg.get("seed", 1) if cfg.get("per") == "request"
                                       else None)
                self.emu.fault_seen = {}
            return self.send(200, {"ok": True})
        return self.send(404, {"detail": "unknown control endpoint"})


def emu_path(target):
    """The path of a request target, without its query (a key may be there)."""
    return urllib.parse.urlsplit(target).path


def fetch_image(ref):
    """Bytes of an image given as a data URI or an http(s) URL."""
    if ref.startswith("data:"):
        d = decode_data_uri(ref)
        if not d:
            raise ValueError("malformed data URI")
        return d[1]
    if ref.startswith(("http://", "https://")):
        with urllib.request.urlopen(ref, timeout=10) as r:
            return r.read()
    raise ValueError("unsupported image reference %r" % ref[:40])


def serve(emu, handler_cls, port, state_dir):
    """Listens on 127.0.0.1:port (0 = any), writes the port to
    state_dir/port, and serves until SIGTERM."""
    handler_cls.emu = emu
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler_cls)
    srv.daemon_threads = True
    emu.base = "http://127.0.0.1:%d" % srv.server_port
    os.makedirs(state_dir, exist_ok=True)
    tmp = os.path.join(state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_port))
    os.replace(tmp, os.path.join(state_dir, "port"))
    sys.stderr.write("%s emulator: listening on %s\n" % (emu.name, emu.base))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


_once_seen = set()
_once_lock = threading.Lock()


def markers(text):
    """The markers in a request. A marker ending in "once" ([[emu:500once]])
    fires only on the first request carrying that exact text, so a retry
    of the same job gets through."""
    out = set()
    for m in MARKER.findall(text or ""):
        if m.endswith("once"):
            with _once_lock:
                key = (m, text)
                if key in _once_seen:
                    continue
                _once_seen.add(key)
            m = m[: -len("once")]
        out.add(m)
    return out


def parse_duration(v):
    """Replicate's Cancel-After: "30", "30s", "5m", "1h30m", "1.5s"."""
    v = (v or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return float(v)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", v):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    return total if pos == len(v) and v else None


def query(path):
    u = urllib.parse.urlsplit(path)
    return u.path, dict(urllib.parse.parse_qsl(u.query))


def png_gradient(width, height, seed_text):
    """A deterministic RGB PNG (a two-colour gradient chosen by a hash of
    seed_text), for models that generate from text alone."""
    import struct
    import zlib
    h = hashlib.sha256(seed_text.encode()).digest()
    a, b = h[:3], h[3:6]
    rows = bytearray()
    for y in range(height):
        t = y / max(1, height - 1)
        px = bytes(int(a[i] * (1 - t) + b[i] * t) for i in range(3))
        rows += b"\0" + px * width

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


def multipart(content_type, body):
    """Parses multipart/form-data: a list of (name, filename, mime, bytes)."""
    import email.parser
    import email.policy
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("not multipart/form-data")
    out = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out.append((name, part.get_filename(), part.get_content_type(),
                    part.get_payload(decode=True) or b""))
    return out


def main(doc, make_emulator, handler_cls, extra_args=()):
    """The command line every emulator shares: --state-dir, --token,
    --port, plus extra_args as (flag, kwargs) pairs."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    for flag, kw in extra_args:
        ap.add_argument(flag, **kw)
    args = ap.parse_args()
    serve(make_emulator(args), handler_cls, args.port, args.state_dir)
