#!/usr/bin/env python3
"""otlp_double.py - an OpenTelemetry collector for easel's trace tests,
written from the OTLP specification (OTLP/HTTP, the JSON Protobuf
encoding): it accepts POST /v1/traces with Content-Type application/json,
checks the body strictly against the trace data model and the JSON mapping
the specification asks of senders, and keeps the spans.

What is refused (400, and listed as a violation):
  - a field name the proto does not define, at any level, or a key in the
    wrong case (JSON names are lowerCamelCase);
  - traceId / spanId / parentSpanId that are not 32 / 16 / 16 hex
    characters (ids are hex in OTLP JSON, not base64), or all zero;
  - an enum (kind, status.code) that is not an integer in range;
  - a 64-bit integer (startTimeUnixNano, endTimeUnixNano, intValue) that is
    not a decimal string, or an end before the start;
  - an AnyValue without exactly one value field, of the wrong JSON type;
  - resourceSpans / scopeSpans / spans that are not nested as the proto says.

Modes (POST /_otlp/mode?m=...): ok (the default), hang (accept the request,
never answer), 429 / 503 (answer that, with Retry-After: 1, to the next
request only, then ok again). --hang starts in hang mode.

Also a webhook sink for the same scenario: POST /hook answers 204 and keeps
the request's traceparent header.

Test hooks: GET /_otlp/spans (every span kept, each with its resource
attributes under "resource" as a flat dict and "attributes" flattened the
same way), GET /_otlp/stats, GET /_otlp/violations, GET /_otlp/headers (the
request headers of the last export), GET /_otlp/hooks.

Usage: otlp_double.py --state-dir DIR [--hang]   (writes DIR/port)
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
SPANS = []
VIOLATIONS = []
HOOKS = []
STATS = {"requests": 0, "accepted": 0, "rejected": 0, "hung": 0, "throttled": 0}
STATE = {"mode": "ok", "headers": {}}
STOP = threading.Event()

HEX = re.compile(r"^[0-9a-fA-F]*$")
DEC = re.compile(r"^-?[0-9]+$")

# The fields of each message of opentelemetry/proto/trace/v1/trace.proto,
# common/v1/common.proto and resource/v1/resource.proto, by JSON name.
FIELDS = {
    "TracesData": {"resourceSpans"},
    "ResourceSpans": {"resource", "scopeSpans", "schemaUrl"},
    "Resource": {"attributes", "droppedAttributesCount", "entityRefs"},
    "ScopeSpans": {"scope", "spans", "schemaUrl"},
    "InstrumentationScope": {"name", "version", "attributes", "droppedAttributesCount"},
    "Span": {"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
             "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
             "events", "droppedEventsCount", "links", "droppedLinksCount", "status"},
    "Status": {"message", "code"},
    "KeyValue": {"key", "value"},
    "AnyValue": {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
                 "kvlistValue", "bytesValue"},
}


class Bad(Exception):
    pass


def obj(v, kind, where):
    if not isinstance(v, dict):
        raise Bad("%s: %s must be an object" % (where, kind))
    unknown = set(v) - FIELDS[kind]
    if unknown:
        raise Bad("%s: unknown field(s) %s in %s" % (where, sorted(unknown), kind))
    return v


def lst(v, where):
    if not isinstance(v, list):
        raise Bad("%s must be an array" % where)
    return v


def hexid(v, n, where):
    # case does not matter to a receiver; easel promises lower case
    if not isinstance(v, str) or len(v) != n or not HEX.match(v) or v != v.lower():
        raise Bad("%s must be %d lower-case hex characters, got %r" % (where, n, v))
    if int(v, 16) == 0:
        raise Bad("%s is all zero" % where)


def u64(v, where):
    if not isinstance(v, str) or not DEC.match(v):
        raise Bad("%s must be a decimal string, got %r" % (where, v))
    return int(v)


def enum(v, lo, hi, where):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise Bad("%s must be an integer from %d to %d, got %r" % (where, lo, hi, v))


def anyvalue(v, where):
    obj(v, "AnyValue", where)
    if len(v) != 1:
        raise Bad("%s: an AnyValue holds exactly one value, got %s" % (where, sorted(v)))
    (k, x), = v.items()
    if k == "stringValue" and not isinstance(x, str):
        raise Bad("%s.stringValue must be a string" % where)
    if k == "boolValue" and not isinstance(x, bool):
        raise Bad("%s.boolValue must be true or false" % where)
    if k == "intValue":
        u64(x, where + ".intValue")
    if k == "doubleValue" and not (isinstance(x, (int, float)) and not isinstance(x, bool)) \
            and x not in ("NaN", "Infinity", "-Infinity"):
        raise Bad("%s.doubleValue must be a number" % where)
    if k in ("arrayValue", "kvlistValue", "bytesValue"):
        raise Bad("%s: easel sends no %s" % (where, k))
    return x


def attributes(v, where):
    out = {}
    for i, kv in enumerate(lst(v, where)):
        w = "%s[%d]" % (where, i)
        obj(kv, "KeyValue", w)
        if not isinstance(kv.get("key"), str) or not kv["key"]:
            raise Bad("%s.key must be a non-empty string" % w)
        if kv["key"] in out:
            raise Bad("%s: key %s repeated" % (w, kv["key"]))
        x = anyvalue(kv.get("value"), w + ".value")
        if "intValue" in kv["value"]:
            x = int(x)
        out[kv["key"]] = x
    return out


def check(doc):
    """The spans of a TracesData document, each flattened, or Bad."""
    spans = []
    obj(doc, "TracesData", "body")
    for i, rs in enumerate(lst(doc.get("resourceSpans"), "resourceSpans")):
        w = "resourceSpans[%d]" % i
        obj(rs, "ResourceSpans", w)
        res = attributes(obj(rs.get("resource"), "Resource", w + ".resource").get("attributes", []),
                         w + ".resource.attributes")
        for j, ss in enumerate(lst(rs.get("scopeSpans"), w + ".scopeSpans")):
            ws = "%s.scopeSpans[%d]" % (w, j)
            obj(ss, "ScopeSpans", ws)
            scope = obj(ss.get("scope"), "InstrumentationScope", ws + ".scope")
            if not isinstance(scope.get("name"), str):
                raise Bad("%s.scope.name must be a string" % ws)
            for k, sp in enumerate(lst(ss.get("spans"), ws + ".spans")):
                wp = "%s.spans[%d]" % (ws, k)
                obj(sp, "Span", wp)
                hexid(sp.get("traceId"), 32, wp + ".traceId")
                hexid(sp.get("spanId"), 16, wp + ".spanId")
                if "parentSpanId" in sp:
                    hexid(sp["parentSpanId"], 16, wp + ".parentSpanId")
                if not isinstance(sp.get("name"), str) or not sp["name"]:
                    raise Bad("%s.name must be a non-empty string" % wp)
                enum(sp.get("kind"), 0, 5, wp + ".kind")
                t0 = u64(sp.get("startTimeUnixNano"), wp + ".startTimeUnixNano")
                t1 = u64(sp.get("endTimeUnixNano"), wp + ".endTimeUnixNano")
                if t1 < t0 or t0 < 10 ** 18:
                    raise Bad("%s: times %d..%d are not unix nanoseconds in order" % (wp, t0, t1))
                st = obj(sp.get("status", {}), "Status", wp + ".status")
                enum(st.get("code", 0), 0, 2, wp + ".status.code")
                if "message" in st and not isinstance(st["message"], str):
                    raise Bad("%s.status.message must be a string" % wp)
                spans.append({
                    "traceId": sp["traceId"].lower(), "spanId": sp["spanId"].lower(),
                    "parentSpanId": sp.get("parentSpanId", "").lower(), "name": sp["name"],
                    "kind": sp["kind"], "start": t0, "end": t1,
                    "status": st.get("code", 0), "message": st.get("message", ""),
                    "attributes": attributes(sp.get("attributes", []), wp + ".attributes"),
                    "resource": res, "scope": scope["name"],
                })
    return spans


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def reply(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        with LOCK:
            if self.path == "/_otlp/spans":
                data = SPANS
            elif self.path == "/_otlp/stats":
                data = dict(STATS, mode=STATE["mode"])
            elif self.path == "/_otlp/violations":
                data = VIOLATIONS
            elif self.path == "/_otlp/headers":
                data = STATE["headers"]
            elif self.path == "/_otlp/hooks":
                data = HOOKS
            else:
                data = None
            text = json.dumps(data).encode() if data is not None else None
        if text is None:
            return self.reply(404, b'{"error":"not found"}')
        self.reply(200, text)

    def do_POST(self):
        path = self.path
        if path.startswith("/_otlp/mode?m="):
            self.body()
            with LOCK:
                STATE["mode"] = path.split("=", 1)[1]
            return self.reply(204)
        if path == "/hook":
            self.body()
            with LOCK:
                HOOKS.append({"traceparent": self.headers.get("traceparent", ""),
                              "webhook_id": self.headers.get("webhook-id", "")})
            return self.reply(204)
        if path != "/v1/traces":
            self.body()
            return self.reply(404, b'{"error":"not found"}')
        raw = self.body()
        with LOCK:
            STATS["requests"] += 1
            mode = STATE["mode"]
            STATE["headers"] = {k.lower(): v for k, v in self.headers.items()}
            if mode in ("429", "503"):
                STATE["mode"] = "ok"
                STATS["throttled"] += 1
        if mode == "hang":
            with LOCK:
                STATS["hung"] += 1
            # the client gives up first; the connection is dropped at exit
            STOP.wait(120)
            self.close_connection = True
            return
        if mode in ("429", "503"):
            return self.reply(int(mode), b'{"code":14,"message":"busy"}', extra=[("Retry-After", "1")])
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype != "application/json":
                raise Bad("Content-Type must be application/json, got %r" % ctype)
            try:
                doc = json.loads(raw)
            except ValueError as e:
                raise Bad("body is not JSON: %s" % e)
            spans = check(doc)
        except Bad as e:
            with LOCK:
                STATS["rejected"] += 1
                VIOLATIONS.append(str(e))
            return self.reply(400, json.dumps({"code": 3, "message": str(e)}).encode())
        with LOCK:
            STATS["accepted"] += 1
            SPANS.extend(spans)
        # a full success: an empty ExportTraceServiceResponse
        self.reply(200, b"{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hang", action="store_true")
    a = ap.parse_args()
    if a.hang:
        STATE["mode"] = "hang"
    os.makedirs(a.state_dir, exist_ok=True)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    tmp = os.path.join(a.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(a.state_dir, "port"))
    try:
        srv.serve_forever()
    finally:
        STOP.set()


if __name__ == "__main__":
    main()
