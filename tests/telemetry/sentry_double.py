#!/usr/bin/env python3
"""sentry_double.py - a Sentry ingestion endpoint for easel's error-report
tests, written from Sentry's SDK developer documentation (envelopes,
authentication, rate limiting, the event payload).

  POST /api/<project>/envelope/   an envelope, checked strictly:
    - X-Sentry-Auth: "Sentry sentry_version=7, sentry_client=easel/<ver>,
      sentry_key=<key>" with the key and project this double was started
      with (403 without auth, as Sentry answers);
    - Content-Type: application/x-sentry-envelope;
    - newline-separated: an envelope header (event_id: 32 lower-case hex,
      sent_at: RFC 3339, dsn naming the same key and project), then items,
      each an item header ({"type","length"}) followed by exactly `length`
      bytes of payload and a newline;
    - an event payload: the same event_id, a timestamp, platform "c" or
      "native", a level, a message, tags as an object of strings.

Rate limiting: POST /_sentry/limit?seconds=N answers the next envelope with
429, Retry-After: N and X-Sentry-Rate-Limits: N:error:project; until then
every envelope that arrives before the N seconds pass is counted in
"early" (a client that honours the limit sends none).

Test hooks: GET /_sentry/events (every accepted event payload, with
"received_at"), GET /_sentry/stats, GET /_sentry/violations.

Usage: sentry_double.py --state-dir DIR --key KEY --project ID
"""

import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
EVENTS = []
VIOLATIONS = []
STATS = {"envelopes": 0, "accepted": 0, "rejected": 0, "limited": 0, "early": 0}
STATE = {"limit_next": 0, "limited_until": 0.0}
ARGS = None

HEX32 = re.compile(r"^[0-9a-f]{32}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
AUTH = re.compile(r"^Sentry (.*)$")


class Bad(Exception):
    def __init__(self, msg, code=400):
        Exception.__init__(self, msg)
        self.code = code


def parse_auth(h):
    m = AUTH.match(h or "")
    if not m:
        raise Bad("no X-Sentry-Auth header (or not 'Sentry ...')", 403)
    kv = {}
    for part in m.group(1).split(","):
        k, _, v = part.strip().partition("=")
        kv[k] = v
    if kv.get("sentry_version") != "7":
        raise Bad("sentry_version must be 7, got %r" % kv.get("sentry_version"))
    if not re.match(r"^easel/[0-9A-Za-z.+-]+$", kv.get("sentry_client", "")):
        raise Bad("sentry_client must be easel/VERSION, got %r" % kv.get("sentry_client"))
    if kv.get("sentry_key") != ARGS.key:
        raise Bad("sentry_key %r is not this project's" % kv.get("sentry_key"), 403)
    if "sentry_secret" in kv:
        raise Bad("a secret key was sent")
    return kv


def parse_envelope(body, project):
    nl = body.find(b"\n")
    if nl < 0:
        raise Bad("no envelope header line")
    head = json.loads(body[:nl])
    eid = head.get("event_id")
    if not isinstance(eid, str) or not HEX32.match(eid):
        raise Bad("envelope event_id must be 32 lower-case hex, got %r" % eid)
    if not RFC3339.match(head.get("sent_at", "")):
        raise Bad("envelope sent_at must be RFC 3339, got %r" % head.get("sent_at"))
    dsn = head.get("dsn", "")
    if not dsn.endswith("/" + project) or ("//%s@" % ARGS.key) not in dsn:
        raise Bad("envelope dsn %r does not name this key and project" % dsn)
    pos, items = nl + 1, []
    while pos < len(body):
        nl = body.find(b"\n", pos)
        if nl < 0:
            raise Bad("item header without a newline")
        ih = json.loads(body[pos:nl])
        if set(ih) - {"type", "length", "content_type", "filename", "attachment_type"}:
            raise Bad("unknown item header fields %s" % sorted(ih))
        n = ih.get("length")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise Bad("item length must be a whole number (easel always sends it), got %r" % n)
        payload = body[nl + 1:nl + 1 + n]
        if len(payload) != n:
            raise Bad("item is shorter than its length")
        end = nl + 1 + n
        if end < len(body) and body[end:end + 1] != b"\n":
            raise Bad("item payload is not followed by a newline (length %d is wrong)" % n)
        items.append((ih, payload))
        pos = end + 1
    events = []
    for ih, payload in items:
        if ih.get("type") != "event":
            raise Bad("easel sends only event items, got %r" % ih.get("type"))
        ev = json.loads(payload)
        if ev.get("event_id") != eid:
            raise Bad("event_id of the event and of the envelope differ")
        if ev.get("platform") not in ("c", "native"):
            raise Bad("platform must be c or native, got %r" % ev.get("platform"))
        if ev.get("level") not in ("fatal", "error", "warning", "info", "debug"):
            raise Bad("bad level %r" % ev.get("level"))
        ts = ev.get("timestamp")
        if not (isinstance(ts, (int, float)) and abs(ts - time.time()) < 3600) and \
                not (isinstance(ts, str) and RFC3339.match(ts)):
            raise Bad("timestamp must be recent epoch seconds or RFC 3339, got %r" % ts)
        msg = ev.get("message")
        if isinstance(msg, dict):
            msg = msg.get("formatted")
        if not isinstance(msg, str) or not msg:
            raise Bad("an event needs a message")
        tags = ev.get("tags", {})
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise Bad("tags must be an object of strings")
        events.append(ev)
    if not events:
        raise Bad("an envelope without items")
    return events


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def reply(self, code, body=b"", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            data = {"/_sentry/events": EVENTS,
                    "/_sentry/stats": dict(STATS, limited_until=STATE["limited_until"]),
                    "/_sentry/violations": VIOLATIONS}.get(self.path)
            text = json.dumps(data).encode() if data is not None else None
        self.reply(200 if text else 404, text or b"{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/_sentry/limit?seconds="):
            with LOCK:
                STATE["limit_next"] = int(self.path.split("=", 1)[1])
            return self.reply(204)
        # a DSN may put the server under a path prefix
        m = re.match(r"^(?:/[A-Za-z0-9_.-]+)*/api/([^/]+)/envelope/$", self.path)
        if not m:
            return self.reply(404, b'{"detail":"not found"}')
        now = time.time()
        with LOCK:
            STATS["envelopes"] += 1
            if now < STATE["limited_until"]:
                STATS["early"] += 1
            secs = STATE["limit_next"]
            if secs:
                STATE["limit_next"] = 0
                STATE["limited_until"] = now + secs
                STATS["limited"] += 1
        if secs:
            return self.reply(429, b'{"detail":"rate limited"}',
                              [("Retry-After", str(secs)),
                               ("X-Sentry-Rate-Limits", "%d:error:project" % secs)])
        try:
            if m.group(1) != ARGS.project:
                raise Bad("project %r is not %r" % (m.group(1), ARGS.project), 404)
            parse_auth(self.headers.get("X-Sentry-Auth"))
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != "application/x-sentry-envelope":
                raise Bad("Content-Type must be application/x-sentry-envelope, got %r" % ctype)
            events = parse_envelope(body, m.group(1))
        except (Bad, ValueError) as e:
            code = e.code if isinstance(e, Bad) else 400
            with LOCK:
                STATS["rejected"] += 1
                VIOLATIONS.append(str(e))
            return self.reply(code, json.dumps({"detail": str(e)}).encode())
        with LOCK:
            STATS["accepted"] += 1
            for ev in events:
                EVENTS.append(dict(ev, received_at=now))
        self.reply(200, json.dumps({"id": events[0]["event_id"]}).encode())


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--project", required=True)
    ARGS = ap.parse_args()
    os.makedirs(ARGS.state_dir, exist_ok=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = os.path.join(ARGS.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(ARGS.state_dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
