#!/usr/bin/env python3
"""s3_double.py - an S3-compatible server for easel's storage tests, written
from S3's API reference: it speaks the wire protocol and, unlike s3rver
(which accepts any SigV4 signature), verifies every Signature Version 4
signature with its own implementation (hashlib and hmac), in the
Authorization header and in presigned URLs.

  PUT    /bucket/key                      PutObject (Content-Type, Cache-Control kept)
  GET    /bucket/key, HEAD                GetObject, HeadObject
  POST   /bucket/key?uploads              CreateMultipartUpload
  PUT    /bucket/key?partNumber=N&uploadId=U   UploadPart
  POST   /bucket/key?uploadId=U           CompleteMultipartUpload (parts checked)
  DELETE /bucket/key?uploadId=U           AbortMultipartUpload
  DELETE /bucket/key                      DeleteObject

Path-style (/bucket/key) and virtual-hosted (Host: bucket.localhost:port)
addressing. Errors are S3's XML bodies (NoSuchKey, SignatureDoesNotMatch,
XAmzContentSHA256Mismatch, AccessDenied for an expired URL,
RequestTimeTooSkewed, InvalidPart, NoSuchUpload). Every bucket exists.

Test hooks, without auth: GET /_s3/state (objects with their metadata,
uploads in progress, counters), POST /_s3/faults {"put_500": N} fails the
next N part or object PUTs with 500 InternalError; with "put_500_after": K
the first K PUTs succeed before those N fail; with "upload_id_len": L
CreateMultipartUpload hands out UploadIds of L characters, most of which
need percent-encoding ("+/="), as a store with long ids would.

Usage: s3_double.py --state-dir DIR --access-key AK --secret-key SK [--port N]
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote

LOCK = threading.Lock()
OBJECTS = {}   # (bucket, key) -> {"data", "type", "cache", "etag"}
UPLOADS = {}   # upload id -> {"bucket", "key", "parts": {n: (etag, data)}, "type", "cache"}
STATS = {}
FAULTS = {"put_500": 0, "put_500_after": 0, "upload_id_len": 0}
ARGS = None


def count(what):
    with LOCK:
        STATS[what] = STATS.get(what, 0) + 1


def enc(s):
    return quote(s, safe="-_.~")


def canonical_uri(raw_path):
    return "/".join(enc(unquote(seg)) for seg in raw_path.split("/")) or "/"


def canonical_query(raw_query, drop=()):
    # split by hand: '+' in a query is a literal plus for S3, not a space
    pairs = [(enc(k), enc(v)) for k, v in
             ((unquote(a), unquote(b)) for a, b in
              (p.split("=", 1) if "=" in p else (p, "") for p in raw_query.split("&") if p))
             if k not in drop]
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def signing_key(secret, day, region, service):
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def xml_error(code, message, status):
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>%s</RequestId></Error>"
            % (code, message, uuid.uuid4().hex[:16]))
    return status, body.encode(), "application/xml"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-double"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if os.environ.get("S3_VERBOSE"):
            sys.stderr.write("s3: %s\n" % (fmt % args))

    def reply(self, status, body=b"", ctype="application/xml", headers=None):
        self.send_response(status)
        if body or self.command != "HEAD":
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- authentication
    def authenticate(self, raw_path, raw_query, body):
        """None when the request is signed correctly, else an error triple."""
        q = dict(parse_qsl(raw_query, keep_blank_values=True))
        auth = self.headers.get("Authorization")
        if "X-Amz-Algorithm" in q:
            if q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
                return xml_error("AuthorizationQueryParametersError", "unsupported algorithm", 400)
            cred = q.get("X-Amz-Credential", "").split("/")
            date, signed, given = q.get("X-Amz-Date", ""), q.get("X-Amz-SignedHeaders", ""), \
                q.get("X-Amz-Signature", "")
            try:
                t0 = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
                expires = int(q.get("X-Amz-Expires", "0"))
            except ValueError:
                return xml_error("AuthorizationQueryParametersError", "bad X-Amz-Date/Expires", 400)
            if not 1 <= expires <= 604800:
                return xml_error("AuthorizationQueryParametersError",
                                 "X-Amz-Expires must be between 1 and 604800", 400)
            if time.time() > t0.timestamp() + expires:
                count("expired")
                return xml_error("AccessDenied", "Request has expired", 403)
            payload = "UNSIGNED-PAYLOAD"
            query = canonical_query(raw_query, drop=("X-Amz-Signature",))
        elif auth:
            m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?"
                             r"Signature=([0-9a-f]{64})", auth.strip())
            if not m:
                return xml_error("AuthorizationHeaderMalformed", "malformed Authorization", 400)
            cred, signed, given = m.group(1).split("/"), m.group(2), m.group(3)
            date = self.headers.get("x-amz-date", "")
            try:
                t0 = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            except ValueError:
                return xml_error("AccessDenied", "x-amz-date is missing or malformed", 403)
            if abs(time.time() - t0.timestamp()) > 900:
                return xml_error("RequestTimeTooSkewed", "The difference between the request "
                                 "time and the current time is too large.", 403)
            payload = self.headers.get("x-amz-content-sha256")
            if payload is None:
                return xml_error("InvalidRequest", "Missing required header for this request: "
                                 "x-amz-content-sha256", 400)
            if "x-amz-content-sha256" not in signed.split(";") or "host" not in signed.split(";"):
                return xml_error("AccessDenied", "host and x-amz-content-sha256 must be signed", 403)
            if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
                count("sha256 mismatch")
                return xml_error("XAmzContentSHA256Mismatch", "The provided "
                                 "'x-amz-content-sha256' header does not match what was computed.",
                                 400)
            query = canonical_query(raw_query)
        else:
            return xml_error("AccessDenied", "Anonymous access is forbidden", 403)
        if len(cred) != 5 or cred[0] != ARGS.access_key or cred[4] != "aws4_request" \
                or cred[3] != "s3":
            count("bad credential")
            return xml_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                             "not exist in our records.", 403)
        headers = []
        for name in signed.split(";"):
            vals = self.headers.get_all(name) or []
            if not vals:
                return xml_error("AccessDenied", "signed header %s is missing" % name, 403)
            headers.append("%s:%s" % (name, ",".join(" ".join(v.split()) for v in vals)))
        creq = "\n".join([self.command, canonical_uri(raw_path), query, "\n".join(headers) + "\n",
                          signed, payload])
        scope = "/".join(cred[1:])
        sts = "\n".join(["AWS4-HMAC-SHA256", date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        want = hmac.new(signing_key(ARGS.secret_key, cred[1], cred[2], "s3"), sts.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, given):
            count("signature mismatch")
            return xml_error("SignatureDoesNotMatch", "The request signature we calculated "
                             "does not match the signature you provided.", 403)
        count("authenticated")
        return None

    # ---- routing
    def handle_any(self):
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("/_s3/"):
            return self.control(raw_path)
        body = self.body() if self.command in ("PUT", "POST") else b""
        err = self.authenticate(raw_path, raw_query, body)
        if err:
            return self.reply(*err)
        host = (self.headers.get("Host") or "").split(":")[0]
        path = unquote(raw_path)
        if host.endswith(".localhost"):
            bucket, key = host[: -len(".localhost")], path[1:]
            count("virtual-hosted")
        else:
            bucket, _, key = path[1:].partition("/")
            count("path-style")
        q = dict(parse_qsl(raw_query, keep_blank_values=True))
        if not key:
            return self.reply(*xml_error("NotImplemented", "bucket operations are not "
                                         "emulated", 501))
        return self.object_op(bucket, key, q, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def object_op(self, bucket, key, q, body):
        cmd = self.command
        if cmd == "PUT":
            with LOCK:
                fail = FAULTS["put_500"] > 0 and FAULTS["put_500_after"] == 0
                if fail:
                    FAULTS["put_500"] -= 1
                elif FAULTS["put_500"] > 0:
                    FAULTS["put_500_after"] -= 1
            if fail:
                count("fault put_500")
                return self.reply(*xml_error("InternalError", "We encountered an internal "
                                             "error. Please try again.", 500))
        etag = '"%s"' % hashlib.md5(body).hexdigest()
        if cmd == "PUT" and "partNumber" in q:
            with LOCK:
                up = UPLOADS.get(q.get("uploadId"))
                if not up or up["bucket"] != bucket or up["key"] != key:
                    return self.reply(*xml_error("NoSuchUpload", "The specified upload does "
                                                 "not exist.", 404))
                up["parts"][int(q["partNumber"])] = (etag, body)
            count("upload part")
            return self.reply(200, b"", headers={"ETag": etag})
        if cmd == "PUT":
            with LOCK:
                OBJECTS[(bucket, key)] = {"data": body, "etag": etag,
                                          "type": self.headers.get("Content-Type", ""),
                                          "cache": self.headers.get("Cache-Control", "")}
            count("put object")
            return self.reply(200, b"", headers={"ETag": etag})
        if cmd == "POST" and "uploads" in q:
            uid = uuid.uuid4().hex
            with LOCK:
                if FAULTS["upload_id_len"] > len(uid):
                    uid += ("+/=" * FAULTS["upload_id_len"])[:FAULTS["upload_id_len"] - len(uid)]
                UPLOADS[uid] = {"bucket": bucket, "key": key, "parts": {},
                                "type": self.headers.get("Content-Type", ""),
                                "cache": self.headers.get("Cache-Control", "")}
            count("create multipart")
            x = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>"
                 "<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                 "</InitiateMultipartUploadResult>" % (bucket, key, uid))
            return self.reply(200, x.encode())
        if cmd == "POST" and "uploadId" in q:
            parts = re.findall(r"<Part><PartNumber>(\d+)</PartNumber><ETag>([^<]+)</ETag></Part>",
                               body.decode("utf-8", "replace"))
            with LOCK:
                up = UPLOADS.get(q["uploadId"])
                if not up:
                    return self.reply(*xml_error("NoSuchUpload", "The specified upload does "
                                                 "not exist.", 404))
                nums = [int(n) for n, _ in parts]
                if not parts or nums != sorted(nums) or any(
                        int(n) not in up["parts"] or up["parts"][int(n)][0] != e
                        for n, e in parts):
                    return self.reply(*xml_error("InvalidPart", "One or more of the specified "
                                                 "parts could not be found.", 400))
                for n in nums[:-1]:
                    if len(up["parts"][n][1]) < 5 * 1024 * 1024:
                        return self.reply(*xml_error("EntityTooSmall", "Your proposed upload "
                                                     "is smaller than the minimum allowed "
                                                     "size", 400))
                data = b"".join(up["parts"][n][1] for n in nums)
                md5s = b"".join(bytes.fromhex(up["parts"][n][0].strip('"')) for n in nums)
                etag = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(nums))
                OBJECTS[(bucket, key)] = {"data": data, "etag": etag, "type": up["type"],
                                          "cache": up["cache"], "parts": len(nums)}
                del UPLOADS[q["uploadId"]]
            count("complete multipart")
            x = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>"
                 "<Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag>"
                 "</CompleteMultipartUploadResult>" % (bucket, key, etag.replace('"', "&quot;")))
            return self.reply(200, x.encode())
        if cmd == "DELETE" and "uploadId" in q:
            with LOCK:
                UPLOADS.pop(q["uploadId"], None)
            count("abort multipart")
            return self.reply(204)
        if cmd == "DELETE":
            with LOCK:
                OBJECTS.pop((bucket, key), None)
            count("delete object")
            return self.reply(204)
        if cmd in ("GET", "HEAD"):
            with LOCK:
                o = OBJECTS.get((bucket, key))
            if not o:
                return self.reply(*xml_error("NoSuchKey", "The specified key does not exist.", 404))
            count("get object")
            h = {"ETag": o["etag"]}
            if o["cache"]:
                h["Cache-Control"] = o["cache"]
            return self.reply(200, o["data"], o["type"] or "binary/octet-stream", h)
        return self.reply(*xml_error("NotImplemented", "not emulated", 501))

    def control(self, path):
        if path == "/_s3/state":
            with LOCK:
                state = {
                    "objects": {"%s/%s" % k: {"bytes": len(v["data"]), "type": v["type"],
                                              "cache": v["cache"], "etag": v["etag"],
                                              "sha256": hashlib.sha256(v["data"]).hexdigest(),
                                              "parts": v.get("parts", 0)}
                                for k, v in OBJECTS.items()},
                    "uploads": len(UPLOADS), "stats": dict(STATS)}
            return self.reply(200, json.dumps(state).encode(), "application/json")
        if path == "/_s3/faults" and self.command == "POST":
            cfg = json.loads(self.body() or b"{}")
            with LOCK:
                FAULTS["put_500"] = int(cfg.get("put_500", 0))
                FAULTS["put_500_after"] = int(cfg.get("put_500_after", 0))
                FAULTS["upload_id_len"] = int(cfg.get("upload_id_len", 0))
            return self.reply(200, b"{}", "application/json")
        return self.reply(404, b"{}", "application/json")


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--port", type=int, default=0)
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    os.makedirs(ARGS.state_dir, exist_ok=True)
    tmp = os.path.join(ARGS.state_dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_port))
    os.replace(tmp, os.path.join(ARGS.state_dir, "port"))
    sys.stderr.write("s3 double: listening on 127.0.0.1:%d\n" % srv.server_port)
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
