#!/usr/bin/env python3
"""A fake Kubernetes API server with one simulated node, for easel's tests.

It speaks enough of the real wire protocol (JSON over HTTP/1.1, optional TLS
and bearer-token auth) that kubectl and easel's C client work against it:
discovery, CRUD, label/field selectors, watches with bookmarks and 410
Expired, the four PATCH flavours, the /status and /log subresources.

A background thread plays the job controller, the scheduler and the kubelet
of one node: every Job gets a Pod, and every scheduled Pod "runs" its first
container as a local process (the image is ignored; command+args, or
--entrypoint + args). Processes outlive a restart of this server: they are
started in their own session through a tiny shell wrapper that writes the
exit code to a file, and the server re-adopts them from its saved state
(state.json and the journal.jsonl of writes since).

Test-only endpoints live under /_fake/ (no auth): evict, node-lost, oom,
compact, close-watches, stall (writes to one resource hang), stats. Usage: --help; a worked example is
tests/kube/test_fake_apiserver.sh. Debugging: `kill -USR1 PID` dumps every
thread's stack to stderr.

Python 3.11 standard library only.
"""

import argparse
import base64
import calendar
import collections
import copy
import faulthandler
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ----------------------------------------------------------------- helpers


def now_ts(t=None):
    """RFC 3339 timestamp with second precision, as Kubernetes renders it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def parse_ts(s):
    try:
        return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return None


def human_age(seconds):
    """Roughly kubectl's duration.HumanDuration."""
    s = max(0, int(seconds))
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 8:
        return "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    return "%dd" % (h // 24)


def suffix(n=5):
    # the alphabet of apimachinery's utilrand.String (no vowels, no 0/1/3)
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def dig(obj, path, default=None):
    """dig(obj, "a.b.c") -> obj["a"]["b"]["c"] or default."""
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def parse_quantity(q):
    """A Kubernetes memory quantity ("64Mi", "1G", "500M", "1e9") in bytes."""
    if q is None:
        return None
    if isinstance(q, (int, float)):
        return int(q)
    m = re.fullmatch(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(q))
    if not m:
        return None
    units = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "m": 0.001}
    if m.group(2) not in units:
        return None
    return int(float(m.group(1)) * units[m.group(2)])


DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ApiError(Exception):
    """Becomes a metav1.Status response with the given HTTP code."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self):
        b = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            b["details"] = self.details
        return b


# --------------------------------------------------------------- resources


class Res:
    """One API resource: where it lives, what it is called, what it supports."""

    def __init__(self, group, plural, kind, singular, namespaced=True, short=(),
                 subs=(), categories=(), version="v1"):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.singular, self.namespaced, self.short = singular, namespaced, list(short)
        self.subs, self.categories = list(subs), list(categories)
        self.gv = version if not group else "%s/%s" % (group, version)
        self.gr = plural if not group else "%s.%s" % (plural, group)  # "jobs.batch"
        self.key = "%s/%s" % (group, plural)

    def details(self, name):
        return {"name": name, "group": self.group, "kind": self.plural}

    def not_found(self, name):
        return ApiError(404, "NotFound", '%s "%s" not found' % (self.gr, name), self.details(name))


RESOURCES = [
    Res("", "pods", "Pod", "pod", short=["po"], subs=["status", "log"], categories=["all"]),
    Res("", "events", "Event", "event", short=["ev"]),
    Res("", "configmaps", "ConfigMap", "configmap", short=["cm"]),
    Res("", "secrets", "Secret", "secret"),
    Res("", "serviceaccounts", "ServiceAccount", "serviceaccount", short=["sa"]),
    Res("", "namespaces", "Namespace", "namespace", namespaced=False, short=["ns"],
        subs=["status"]),
    Res("batch", "jobs", "Job", "job", subs=["status"], categories=["all"]),
    Res("coordination.k8s.io", "leases", "Lease", "lease"),
    Res("events.k8s.io", "events", "Event", "event", short=["ev"]),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KEY = {r.key: r for r in RESOURCES}
PODS, EVENTS, JOBS, NAMESPACES = (BY_KEY["/pods"], BY_KEY["/events"], BY_KEY["batch/jobs"],
                                  BY_KEY["/namespaces"])
SECRETS, CONFIGMAPS = BY_KEY["/secrets"], BY_KEY["/configmaps"]
GROUPS = ["batch", "coordination.k8s.io", "events.k8s.io"]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# ---------------------------------------------------------------- selectors


def split_top(s):
    """Splits on commas that are not inside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


def label_selector(s):
    """Compiles a label selector into a predicate on a labels dict."""
    reqs = []
    for part in split_top(s or ""):
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", part)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = re.fullmatch(r"(!?)\s*([\w./-]+)", part)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", None))
            continue
        raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % part)

    def match(labels):
        labels = labels or {}
        for key, op, val in reqs:
            have = labels.get(key)
            if op == "=" and have != val:
                return False
            if op == "!=" and have == val:
                return False
            if op == "in" and have not in val:
                return False
            if op == "notin" and have in val:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!" and key in labels:
                return False
        return True
    return match


def field_selector(s):
    """Compiles a field selector (=, ==, != on dotted paths) into a predicate.

    Unlike the real server any dotted path is accepted (a missing field
    compares as the empty string)."""
    reqs = []
    for part in split_top(s or ""):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise ApiError(400, "BadRequest", "invalid selector: %r" % part)
        reqs.append((m.group(1), m.group(2) == "!=", m.group(3)))

    def match(obj):
        for path, neg, val in reqs:
            have = dig(obj, path)
            have = "" if have is None else (str(have).lower() if isinstance(have, bool) else str(have))
            if (have == val) == neg:
                return False
        return True
    return match

# ------------------------------------------------------------------ patches


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# patchMergeKey of the list fields this fake cares about; any other list of
# objects that all have a "name" merges by name, everything else replaces.
MERGE_KEYS = {"conditions": "type", "ownerReferences": "uid", "volumeMounts": "mountPath",
              "ports": "containerPort", "volumeDevices": "devicePath"}


def strategic_merge(target, patch):
    """A subset of strategic merge patch: maps merge, keyed lists merge by key,
    `$patch: delete|replace`, `$deleteFromPrimitiveList/x`; other directives
    ($setElementOrder, $retainKeys) are ignored."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
        elif k.startswith("$"):
            continue
        elif v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and v.get("$patch") == "delete":
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _strategic_list(out.get(k), v, k)
        else:
            out[k] = strategic_merge(out.get(k), v)
    return out


def _strategic_list(cur, patch, field):
    if field == "finalizers":  # a set-like primitive list: union
        return list(cur or []) + [x for x in patch if x not in (cur or [])]
    dicts = [x for x in patch if isinstance(x, dict)]
    key = MERGE_KEYS.get(field)
    if key is None and dicts and len(dicts) == len(patch) and all("name" in d for d in dicts):
        key = "name"
    if key is None or len(dicts) != len(patch):
        return copy.deepcopy([x for x in patch if not (isinstance(x, dict) and "$patch" in x)])
    if any(d.get("$patch") == "replace" for d in dicts):
        return [strategic_merge({}, d) for d in dicts if "$patch" not in d]
    out = [copy.deepcopy(x) for x in cur or []] if isinstance(cur, list) else []
    for item in patch:
        if key not in item:
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is not None:
            out[idx] = strategic_merge(out[idx], item)
        else:
            out.append(strategic_merge({}, item))
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", "invalid JSON pointer %r" % path)
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be an array of operations")

    def parent(tokens):
        node = doc
        for t in tokens[:-1]:
            if isinstance(node, list):
                node = node[int(t)]
            elif isinstance(node, dict) and t in node:
                node = node[t]
            else:
                raise KeyError(t)
        return node, tokens[-1]

    def get(path):
        node = doc
        for t in _pointer(path):
            node = node[int(t)] if isinstance(node, list) else node[t]
        return node

    def remove(path):
        node, last = parent(_pointer(path))
        return node.pop(int(last)) if isinstance(node, list) else node.pop(last)

    def add(path, value):
        nonlocal doc
        tokens = _pointer(path)
        if not tokens:
            doc = value
            return
        node, last = parent(tokens)
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), value)
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise KeyError(last)

    for op in ops:
        try:
            kind, path = op["op"], op["path"]
            if kind == "add":
                add(path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(path)
            elif kind == "replace":
                if _pointer(path):
                    get(path)  # must exist
                    node, last = parent(_pointer(path))
                    node[int(last) if isinstance(node, list) else last] = copy.deepcopy(op["value"])
                else:
                    doc = copy.deepcopy(op["value"])
            elif kind == "move":
                add(path, remove(op["from"]))
            elif kind == "copy":
                add(path, copy.deepcopy(get(op["from"])))
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, "Invalid", "testing value %s failed" % path)
            else:
                raise ApiError(400, "BadRequest", "unknown json patch op %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                           "our request: json patch %s %s: %s" % (op.get("op"), op.get("path"), e))
    return doc

# --------------------------------------------------------------- tiny YAML


def yaml_load(text):
    """The block-style YAML subset kubectl/kubeconfig-like documents use:
    nested maps and lists, plain/quoted scalars, JSON-ish flow collections,
    and | / > block scalars. Only the first document is read."""
    raw = text.replace("\t", "  ").split("\n")
    lines = []  # [indent, text] with comments stripped lazily by _strip
    started = False
    for ln in raw:
        if ln.strip() in ("---", "...") and ln.startswith(("-", ".")):
            if started:
                break
            continue
        started = started or bool(ln.strip())
        lines.append(ln)
    pos = [0]

    def strip(s):  # drop a trailing comment outside quotes
        q = None
        for i, ch in enumerate(s):
            if q:
                if ch == q:
                    q = None
            elif ch in "'\"":
                q = ch
            elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
                return s[:i].rstrip()
        return s.rstrip()

    def next_line():  # skip blank/comment lines, return (indent, text) or None
        while pos[0] < len(lines):
            t = strip(lines[pos[0]])
            if t.strip():
                return len(t) - len(t.lstrip()), t.strip()
            pos[0] += 1
        return None

    def scalar(s):
        s = s.strip()
        if s in ("", "~", "null", "Null", "NULL"):
            return None
        if s in ("true", "True", "TRUE"):
            return True
        if s in ("false", "False", "FALSE"):
            return False
        if s.startswith('"'):
            return json.loads(s)
        if s.startswith("'"):
            return s[1:-1].replace("''", "'")
        if s.startswith(("[", "{")):
            try:
                return json.loads(s)
            except ValueError:
                return flow(s)
        if re.fullmatch(r"[-+]?[0-9]+", s):
            return int(s)
        if re.fullmatch(r"[-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?", s):
            return float(s)
        return s

    def flow(s):  # [a, b] / {a: b} with plain scalars
        inner = s[1:-1].strip()
        parts = split_top(inner.replace("[", "(").replace("]", ")")) if inner else []
        if s.startswith("["):
            return [scalar(p) for p in parts]
        return {p.split(":", 1)[0].strip(): scalar(p.split(":", 1)[1]) for p in parts}

    def block_scalar(indent, style):
        out = []
        while pos[0] < len(lines):
            ln = lines[pos[0]]
            if ln.strip() and len(ln) - len(ln.lstrip()) <= indent:
                break
            out.append(ln)
            pos[0] += 1
        while out and not out[-1].strip():
            out.pop()
        ind = min((len(ln) - len(ln.lstrip()) for ln in out if ln.strip()), default=0)
        body = [ln[ind:] for ln in out]
        text = ("\n" if style[0] == "|" else " ").join(body)
        return text if style.endswith("-") else text + "\n"

    def split_key(t):
        if t[0] in "'\"":
            end = t.index(t[0], 1)
            key, rest = scalar(t[:end + 1]), t[end + 1:]
            if not rest.lstrip().startswith(":"):
                return None, None
            return key, rest.lstrip()[1:]
        m = re.match(r"([^:]*?):(\s|$)", t)
        if not m or t.startswith(("[", "{")):
            return None, None
        return m.group(1), t[m.end(1) + 1:]

    def value_after(indent, rest):
        rest = rest.strip()
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            return block_scalar(indent, rest)
        if rest:
            return scalar(rest)
        nl = next_line()
        if nl and (nl[0] > indent or (nl[0] == indent and nl[1].startswith("- "))):
            return block(nl[0])
        return None

    def block(indent):
        nl = next_line()
        if nl is None:
            return None
        if nl[1].startswith("-") and (nl[1] == "-" or nl[1][1] == " "):
            out = []
            while True:
                nl = next_line()
                if not nl or nl[0] != indent or not (nl[1] == "-" or nl[1].startswith("- ")):
                    return out
                rest = nl[1][1:].strip()
                if not rest:
                    pos[0] += 1
                    nxt = next_line()
                    out.append(block(nxt[0]) if nxt and nxt[0] > indent else None)
                    continue
                key, _ = split_key(rest)
                if key is not None or rest.startswith("- "):
                    # "- key: v" opens a map at the column after "- "
                    col = indent + (len(nl[1]) - len(rest))
                    lines[pos[0]] = " " * col + rest
                    out.append(block(col))
                else:
                    pos[0] += 1
                    out.append(scalar(rest))
        out = {}
        while True:
            nl = next_line()
            if not nl or nl[0] != indent:
                return out
            key, rest = split_key(nl[1])
            if key is None:
                if not out:
                    pos[0] += 1
                    return scalar(nl[1])
                raise ValueError("cannot parse YAML line %r" % nl[1])
            pos[0] += 1
            out[key] = value_after(indent, rest)

    nl = next_line()
    return block(nl[0]) if nl else None


def parse_body(raw, ctype=""):
    """JSON, or YAML when it is not JSON."""
    if raw is None or not raw.strip():
        raise ApiError(400, "BadRequest", "the request body is empty")
    if "protobuf" in ctype:
        try:
            return decode_protobuf(raw)
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded: %s" % e)
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError as e:
        if "yaml" not in ctype:
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded: "
                           "invalid character: %s" % e)
    try:
        return yaml_load(text)
    except Exception as e:  # noqa: BLE001 - any parser failure is the client's fault
        raise ApiError(400, "BadRequest", "the body of the request could not be decoded "
                       "as YAML: %s" % e)

# ----------------------------------------------------------------- protobuf
# kubectl's typed commands (create secret/configmap/namespace/serviceaccount)
# send application/vnd.kubernetes.protobuf. We decode just those kinds:
# field number -> (json name, type); a type is "str", "bytes" (base64 in
# JSON), "int", "bool", a nested schema dict, or ("map", value-type) /
# ("list", type). Unknown fields are skipped; server-set ones are ignored.

PB_OWNER_REF = {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
                6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
PB_META = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
           11: ("labels", ("map", "str")), 12: ("annotations", ("map", "str")),
           13: ("ownerReferences", ("list", PB_OWNER_REF)), 14: ("finalizers", ("list", "str"))}
PB_NAME_REF = {1: ("name", "str")}
PB_KINDS = {
    "Secret": {1: ("metadata", PB_META), 2: ("data", ("map", "bytes")), 3: ("type", "str"),
               4: ("stringData", ("map", "str")), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", PB_META), 2: ("data", ("map", "str")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Namespace": {1: ("metadata", PB_META), 2: ("spec", {1: ("finalizers", ("list", "str"))})},
    "ServiceAccount": {1: ("metadata", PB_META), 2: ("secrets", ("list", PB_NAME_REF)),
                       3: ("imagePullSecrets", ("list", PB_NAME_REF)),
                       4: ("automountServiceAccountToken", "bool")},
}


def _pb_fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v
    while i < len(buf):
        tag = varint()
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            yield num, wt, varint()
        elif wt == 2:
            n = varint()
            yield num, wt, buf[i:i + n]
            i += n
        elif wt in (1, 5):
            i += 8 if wt == 1 else 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)


def _pb_value(raw, typ):
    if typ == "str":
        return raw.decode("utf-8")
    if typ == "bytes":
        return base64.b64encode(raw).decode()
    if typ in ("int", "bool"):
        return bool(raw) if typ == "bool" else raw
    return _pb_message(raw, typ)


def _pb_message(buf, schema):
    out = {}
    for num, _, raw in _pb_fields(buf):
        if num not in schema:
            continue
        name, typ = schema[num]
        if isinstance(typ, tuple) and typ[0] == "map":
            entry = dict((n, r) for n, _, r in _pb_fields(raw))
            out.setdefault(name, {})[entry.get(1, b"").decode()] = _pb_value(entry.get(2, b""), typ[1])
        elif isinstance(typ, tuple):
            out.setdefault(name, []).append(_pb_value(raw, typ[1]))
        else:
            out[name] = _pb_value(raw, typ)
    return out


def decode_protobuf(raw):
    """A k8s protobuf body (magic "k8s\0" + runtime.Unknown) as a JSON-like dict."""
    if not raw.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s magic prefix")
    env = {n: r for n, _, r in _pb_fields(raw[4:])}
    tm = {n: r.decode() for n, _, r in _pb_fields(env.get(1, b""))}
    api_version, kind = tm.get(1, ""), tm.get(2, "")
    if kind not in PB_KINDS:
        raise ApiError(415, "UnsupportedMediaType", "this fake API server decodes protobuf only for "
                       "%s; send %s as application/json" % (", ".join(PB_KINDS), kind))
    obj = _pb_message(env.get(2, b""), PB_KINDS[kind])
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj


# ---------------------------------------------------------------- the store


class HistoryEvent:
    __slots__ = ("rv", "key", "type", "obj")

    def __init__(self, rv, key, type_, obj):
        self.rv, self.key, self.type, self.obj = rv, key, type_, obj


def invalid(res, name, field, reason, msg):
    """A 422 Invalid Status with one cause."""
    full = "%s: %s" % (field, msg)
    kindgroup = res.kind + ("." + res.group if res.group else "")
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kindgroup, name, full),
                    dict(res.details(name), kind=res.kind,
                         causes=[{"reason": reason, "message": msg, "field": field}]))


class Cluster:
    """All objects, the resourceVersion counter and the watch history.

    Stored objects are never mutated in place: every write stores a new dict,
    so readers may hold references outside the lock."""

    def __init__(self, state_dir, history):
        self.dir = state_dir
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objects = {r.key: {} for r in RESOURCES}  # key -> {(ns, name): obj}
        self.rv = 0
        self.history = collections.deque()
        self.history_max = max(1, history)
        self.oldest = 0          # a watch from rv < oldest gets 410 Expired
        self.watch_epoch = 0     # bumped to end every open watch
        self.closed = False
        self.node_records = {}   # "ns/name" -> {pid, uid, started}: running processes
        self.on_pod_removed = None  # set by Node
        self.load()
        for ns in ("default", "kube-system", "kube-public"):
            self.ensure_namespace(ns)

    # ---- persistence: a snapshot (state.json) plus an append-only journal
    # (journal.jsonl, one line per write), so a write costs one appended
    # line, not a rewrite of the whole store, and a SIGKILL loses nothing
    # that was acknowledged. Loading replays the journal over the snapshot.
    def load(self):
        snap = os.path.join(self.dir, "state.json")
        if os.path.exists(snap):
            with open(snap) as f:
                st = json.load(f)
            self.rv = int(st.get("resourceVersion", 0))
            for key, items in st.get("objects", {}).items():
                if key in self.objects:
                    for o in items:
                        self.objects[key][(o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
            self.node_records = st.get("node", {})
        jpath = os.path.join(self.dir, "journal.jsonl")
        if os.path.exists(jpath):
            with open(jpath) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        break  # a torn last line: the write was never acknowledged
                    self.rv = max(self.rv, int(e["rv"]))
                    if "node" in e:
                        self.node_records = e["node"]
                    if e.get("key") in self.objects:
                        k = (e["ns"], e["name"])
                        if e["obj"] is None:
                            self.objects[e["key"]].pop(k, None)
                        else:
                            self.objects[e["key"]][k] = e["obj"]
        self.oldest = self.rv  # the history did not survive: anything older is expired
        self.save()

    def save(self):
        """Writes a full snapshot and starts an empty journal."""
        st = {"resourceVersion": self.rv,
              "objects": {k: list(v.values()) for k, v in self.objects.items()},
              "node": self.node_records}
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(st, f, separators=(",", ":"))
        os.replace(tmp, os.path.join(self.dir, "state.json"))
        if getattr(self, "journal", None):
            self.journal.close()
        self.journal = open(os.path.join(self.dir, "journal.jsonl"), "w")
        self.journal_lines = 0

    def append(self, key=None, ns="", name="", obj=None):
        e = {"rv": self.rv, "node": self.node_records}
        if key:
            e.update(key=key, ns=ns, name=name, obj=obj)
        self.journal.write(json.dumps(e, separators=(",", ":")) + "\n")
        self.journal.flush()
        self.journal_lines += 1
        if self.journal_lines >= 4000:
            self.save()

    # ---- low-level writes (caller holds the lock)
    def _commit(self, res, obj, type_):
        """Stores (or removes, for DELETED) obj with a fresh resourceVersion."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        k = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if type_ == "DELETED":
            self.objects[res.key].pop(k, None)
        else:
            self.objects[res.key][k] = obj
        self.history.append(HistoryEvent(self.rv, res.key, type_, obj))
        while len(self.history) > self.history_max:
            self.oldest = self.history.popleft().rv
        self.append(res.key, k[0], k[1], None if type_ == "DELETED" else obj)
        self.cond.notify_all()
        return obj

    def compact(self):
        # etcd's revision is global: writes to objects this fake does not
        # model move it too. Moving it here makes every watcher's position,
        # including one just advanced by a bookmark, older than the compacted
        # revision, so each open watch gets its 410 at once, as after a real
        # compaction it would once it fell behind.
        with self.lock:
            self.rv += 1
            self.history.clear()
            self.oldest = self.rv
            self.append()
            self.cond.notify_all()

    def close_watches(self):
        with self.lock:
            self.watch_epoch += 1
            self.cond.notify_all()

    def ensure_namespace(self, ns):
        with self.lock:
            if ns and ("", ns) not in self.objects[NAMESPACES.key]:
                self._commit(NAMESPACES, {
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now_ts(),
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, "ADDED")

    # ---- reads
    def get(self, res, ns, name):
        with self.lock:
            obj = self.objects[res.key].get((ns if res.namespaced else "", name))
            if obj is None:
                raise res.not_found(name)
            return copy.deepcopy(obj)

    def peek(self, res, ns, name):
        """The stored object (do not mutate) or None."""
        with self.lock:
            return self.objects[res.key].get((ns if res.namespaced else "", name))

    def list(self, res, ns, lsel=None, fsel=None):
        """(items sorted by namespace/name, current resourceVersion)."""
        with self.lock:
            items = [o for (ons, _), o in sorted(self.objects[res.key].items())
                     if (not ns or ons == ns) and (not lsel or lsel(dig(o, "metadata.labels")))
                     and (not fsel or fsel(o))]
            return items, self.rv

    def owned_pods(self, uid):
        with self.lock:
            return [p for p in self.objects[PODS.key].values()
                    if any(r.get("uid") == uid for r in dig(p, "metadata.ownerReferences") or [])]

    # ---- admission: defaults and validation
    def admit(self, res, obj, old=None):
        md = obj["metadata"]
        name = md.get("name", "")
        if res is NAMESPACES:
            if not DNS1123_LABEL.match(name) or len(name) > 63:
                raise invalid(res, name, "metadata.name", "FieldValueInvalid",
                              "Invalid value: %r: a lowercase RFC 1123 label must consist of lower case "
                              "alphanumeric characters or '-'" % name)
        elif res is not EVENTS and res.key != "events.k8s.io/events":
            if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
                raise invalid(res, name, "metadata.name", "FieldValueInvalid",
                              "Invalid value: %r: a lowercase RFC 1123 subdomain must consist of "
                              "lower case alphanumeric characters, '-' or '.', and must start and end "
                              "with an alphanumeric character" % name)
        if res is JOBS:
            self.admit_job(obj, old)
        elif res is PODS and old is None:
            spec = obj.setdefault("spec", {})
            if not spec.get("containers"):
                raise invalid(res, name, "spec.containers", "FieldValueRequired", "Required value")
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("serviceAccountName", "default")
            spec.setdefault("enableServiceLinks", True)
            for c in spec["containers"]:
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("imagePullPolicy",
                             "Always" if ":" not in str(c.get("image", "")).rsplit("/", 1)[-1]
                             or str(c.get("image", "")).endswith(":latest") else "IfNotPresent")
                c.setdefault("resources", {})
            obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
        elif res is SECRETS:
            sd = obj.pop("stringData", None)
            if sd:
                data = obj.setdefault("data", {}) or {}
                obj["data"] = data
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            obj.setdefault("type", "Opaque")

    def admit_job(self, job, old):
        md, name = job["metadata"], job["metadata"].get("name", "")
        if len(name) > 63:
            raise invalid(JOBS, name, "metadata.name", "FieldValueInvalid",
                          "Invalid value: %r: must be no more than 63 characters" % name)
        spec = job.setdefault("spec", {})
        tmpl = spec.setdefault("template", {})
        pspec = tmpl.setdefault("spec", {})
        rp = pspec.get("restartPolicy")
        if rp not in ("Never", "OnFailure"):
            msg = ('Unsupported value: "%s": supported values: "OnFailure", "Never"' % (rp or "")
                   if rp else 'Required value: valid values: "OnFailure", "Never"')
            raise invalid(JOBS, name, "spec.template.spec.restartPolicy",
                          "FieldValueNotSupported" if rp else "FieldValueRequired", msg)
        if not pspec.get("containers"):
            raise invalid(JOBS, name, "spec.template.spec.containers", "FieldValueRequired",
                          "Required value")
        for c in pspec["containers"]:
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("imagePullPolicy", "IfNotPresent")
        pspec.setdefault("terminationGracePeriodSeconds", 30)
        pspec.setdefault("dnsPolicy", "ClusterFirst")
        pspec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("suspend", False)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        if old is None:
            uid = md["uid"]
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
            labels = tmpl.setdefault("metadata", {}).setdefault("labels", {}) or {}
            tmpl["metadata"]["labels"] = labels
            labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                           "controller-uid": uid, "job-name": name})
            if not md.get("labels"):
                md["labels"] = {"batch.kubernetes.io/job-name": name, "job-name": name,
                                **{k: v for k, v in labels.items() if "controller-uid" not in k}}
            job.setdefault("status", {})

    # ---- writes
    def create(self, res, ns, body, internal=False):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request is not an object")
        obj = copy.deepcopy(body)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        with self.lock:
            if res.namespaced:
                bns = md.get("namespace")
                if bns and ns and bns != ns:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                                   "match the namespace sent on the request")
                ns = ns or bns or "default"
                md["namespace"] = ns
                self.ensure_namespace(ns)
            else:
                md.pop("namespace", None)
            if not md.get("name") and md.get("generateName"):
                for _ in range(20):
                    md["name"] = md["generateName"] + suffix()
                    if (md.get("namespace", ""), md["name"]) not in self.objects[res.key]:
                        break
            if not md.get("name"):
                raise invalid(res, "", "metadata.name", "FieldValueRequired",
                              "Required value: name or generateName is required")
            name = md["name"]
            if (md.get("namespace", ""), name) in self.objects[res.key]:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.gr, name),
                               res.details(name))
            obj["apiVersion"], obj["kind"] = res.gv, res.kind
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_ts()
            md["generation"] = 1
            for k in ("resourceVersion", "deletionTimestamp", "selfLink", "managedFields"):
                md.pop(k, None)
            self.admit(res, obj)
            if res is NAMESPACES:
                md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                obj.setdefault("status", {"phase": "Active"})
            return copy.deepcopy(self._commit(res, obj, "ADDED"))

    def replace(self, res, ns, name, body, sub=None, check_rv=True):
        """PUT (and the tail of every PATCH): optimistic concurrency, status
        subresource semantics, generation bumps, no-op detection."""
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request is not an object")
        with self.lock:
            key = (ns if res.namespaced else "", name)
            cur = self.objects[res.key].get(key)
            if cur is None:
                raise res.not_found(name)
            md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            if md.get("name") and md["name"] != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the "
                               "name on the URL (%s)" % (md["name"], name))
            brv = md.get("resourceVersion")
            if check_rv and brv and str(brv) != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has '
                               "been modified; please apply your changes to the latest version and "
                               "try again" % (res.gr, name), res.details(name))
            if sub == "status":
                new = copy.deepcopy(cur)
                new["status"] = copy.deepcopy(body.get("status") or {})
            else:
                new = copy.deepcopy(body)
                nmd = new.setdefault("metadata", {})
                if not isinstance(nmd, dict):
                    nmd = new["metadata"] = {}
                for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "namespace"):
                    if k in cur["metadata"]:
                        nmd[k] = cur["metadata"][k]
                    else:
                        nmd.pop(k, None)
                nmd["name"] = name
                new["apiVersion"], new["kind"] = res.gv, res.kind
                if "status" in res.subs:
                    new["status"] = copy.deepcopy(cur.get("status", {}))
                if res is JOBS:
                    # selector/labels generated at create time must survive a PUT without them
                    self.admit_job(new, cur)
                else:
                    self.admit(res, new, cur)
                if new.get("spec") != cur.get("spec"):
                    nmd["generation"] = cur["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            if new == cur:
                return copy.deepcopy(cur)  # a no-op write does not bump resourceVersion
            return copy.deepcopy(self._commit(res, new, "MODIFIED"))

    def patch(self, res, ns, name, ctype, raw, sub=None, field_manager=None):
        """Returns (object, created)."""
        ctype = (ctype or "").split(";")[0].strip().lower()
        kinds = ("application/merge-patch+json", "application/strategic-merge-patch+json",
                 "application/json-patch+json", "application/apply-patch+yaml")
        if ctype not in kinds:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                           "format - accepted media types include: " + ", ".join(kinds))
        apply = ctype == "application/apply-patch+yaml"
        if apply and not field_manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                           "Required value: is required for apply patch")
        body = parse_body(raw, ctype)
        with self.lock:
            cur = self.objects[res.key].get((ns if res.namespaced else "", name))
            if cur is None:
                if apply and sub is None:
                    if dig(body, "metadata.name") not in (None, name):
                        raise ApiError(400, "BadRequest", "the name of the object does not match "
                                       "the name on the URL")
                    body.setdefault("metadata", {})["name"] = name
                    return self.create(res, ns, body), True
                raise res.not_found(name)
            if ctype == "application/json-patch+json":
                new = json_patch(cur, body)
            elif ctype == "application/strategic-merge-patch+json":
                new = strategic_merge(cur, body)
            else:  # merge patch; server-side apply is treated as a merge too
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
                new = merge_patch(cur, body)
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patched object is not an object")
            # a resourceVersion in the patch is a precondition
            prv = dig(new, "metadata.resourceVersion")
            if prv is not None and str(prv) != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object '
                               "has been modified; please apply your changes to the latest version "
                               "and try again" % (res.gr, name), res.details(name))
            return self.replace(res, ns, name, new, sub, check_rv=False), False

    def mutate(self, res, ns, name, fn, uid=None, status_only=False):
        """Internal read-modify-write: fn(copy) edits the object in place (or
        returns False to abort). Skips if the object is gone or uid differs."""
        with self.lock:
            cur = self.objects[res.key].get((ns if res.namespaced else "", name))
            if cur is None or (uid and cur["metadata"]["uid"] != uid):
                return None
            new = copy.deepcopy(cur)
            if fn(new) is False or new == cur:
                return cur
            if status_only:
                keep = copy.deepcopy(cur)
                keep["status"] = new.get("status", {})
                new = keep
            return self._commit(res, new, "MODIFIED")

    def delete(self, res, ns, name, opts=None, gc=False):
        """Returns the deleted object. Deletes or orphans owned pods."""
        opts = opts or {}
        with self.lock:
            cur = self.objects[res.key].get((ns if res.namespaced else "", name))
            if cur is None:
                raise res.not_found(name)
            pre = opts.get("preconditions") or {}
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if pre.get(field) and pre[field] != cur["metadata"].get(field):
                    raise ApiError(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": "
                                   "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                                   % (res.gr, name, label, pre[field], label,
                                      cur["metadata"].get(field)), res.details(name))
            policy = opts.get("propagationPolicy")
            if not policy:
                orphan = opts.get("orphanDependents")
                policy = "Orphan" if orphan or (orphan is None and res is JOBS) else "Background"
            uid = cur["metadata"]["uid"]
            deps = self.owned_pods(uid) if res is not PODS else []
            if policy == "Foreground":
                for p in deps:
                    self._delete_pod_quietly(p)
            gone = copy.deepcopy(cur)
            self._commit(res, gone, "DELETED")
            if res is PODS and self.on_pod_removed:
                self.on_pod_removed(gone, opts.get("gracePeriodSeconds"), gc)
            if res is NAMESPACES:  # take the namespace's contents with it
                for r in RESOURCES:
                    if r.namespaced:
                        for o in [o for (ons, _), o in self.objects[r.key].items() if ons == name]:
                            self.delete(r, name, o["metadata"]["name"], {}, gc=True)
            if policy == "Background":
                for p in deps:
                    self._delete_pod_quietly(p)
            elif policy == "Orphan":
                def orphan(o):
                    refs = [r for r in o["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
                    if refs:
                        o["metadata"]["ownerReferences"] = refs
                    else:
                        o["metadata"].pop("ownerReferences", None)
                for p in deps:
                    self.mutate(PODS, p["metadata"]["namespace"], p["metadata"]["name"], orphan)
            return gone

    def _delete_pod_quietly(self, p):
        try:
            self.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"], {}, gc=True)
        except ApiError:
            pass

    def event(self, obj, type_, reason, message, component):
        """Records a core/v1 Event about obj, as a controller or the kubelet would."""
        md = obj["metadata"]
        ts = now_ts()
        ev = {"metadata": {"name": "%s.%016x" % (md["name"], random.getrandbits(64)),
                           "namespace": md.get("namespace", "default")},
              "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                                 "name": md["name"], "namespace": md.get("namespace"),
                                 "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion")},
              "reason": reason, "message": message, "type": type_,
              "source": {"component": component, **({"host": "fake-node"} if component == "kubelet" else {})},
              "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
              "reportingComponent": component, "reportingInstance": "fake-node"}
        try:
            return self.create(EVENTS, ev["metadata"]["namespace"], ev)
        except ApiError:
            return None

# ------------------------------------------------------------ the fake node


WRAPPER = '_f=$1; shift; "$@"; echo $? > "$_f"'  # runs argv, then records its exit code


class Runtime:
    """What the node knows about one pod beyond its stored status."""

    def __init__(self, uid):
        self.uid, self.stage, self.t = uid, "new", time.monotonic()
        self.popen = None
        self.pid = None
        self.started = None     # RFC 3339 startedAt
        self.killed = None      # (container reason, pod reason, pod message) when we killed it
        self.retry_at = 0.0
        self.msg = None


class Node:
    """Job controller + scheduler + kubelet for one node, in one thread."""

    def __init__(self, cl, args):
        self.cl, self.args = cl, args
        self.mu = threading.RLock()
        self.rt = {}  # (ns, name) -> Runtime
        self.labels = dict(kv.split("=", 1) for kv in args.node_labels.split(",") if "=" in kv)
        self.pods_dir = os.path.join(args.state_dir, "pods")
        os.makedirs(self.pods_dir, exist_ok=True)
        cl.on_pod_removed = self.pod_removed
        self.adopt()

    def paths(self, ns, name):
        base = os.path.join(self.pods_dir, "%s_%s" % (ns, name))
        return base + ".log", base + ".exit"

    def adopt(self):
        """After a restart: pick up processes a previous incarnation started."""
        for key, rec in list(self.cl.node_records.items()):
            ns, name = key.split("/", 1)
            pod = self.cl.peek(PODS, ns, name)
            if not pod or pod["metadata"]["uid"] != rec.get("uid"):
                self.cl.node_records.pop(key, None)
                continue
            rt = Runtime(rec["uid"])
            rt.stage, rt.pid, rt.started = "running", rec["pid"], rec.get("started")
            self.rt[(ns, name)] = rt

    def run(self):
        while True:
            try:
                with self.mu:
                    self.tick()
            except Exception:  # noqa: BLE001 - keep the node alive, say what broke
                sys.stderr.write("node: " + traceback.format_exc().replace("\n", " | ") + "\n")
            time.sleep(0.05)

    def tick(self):
        with self.cl.lock:  # snapshot: API threads add and remove entries
            pods = list(self.cl.objects[PODS.key].values())
            jobs = list(self.cl.objects[JOBS.key])
        rts = list(self.rt.values())  # API threads pop entries when pods are deleted
        rss = self.rss_by_session() if any(r.stage == "running" and r.pid for r in rts) else {}
        for pod in pods:
            self.step_pod(pod, rss)
        for ns, name in jobs:
            job = self.cl.peek(JOBS, ns, name)  # fresh: the pod steps above may have counted pods
            if job is not None:
                self.step_job(job)
        live = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
        for key, rt in list(self.rt.items()):  # forget pods that are gone
            if key not in live and rt.stage != "running":
                self.rt.pop(key, None)

    # ---- pods
    def set_status(self, pod, fn):
        md = pod["metadata"]
        return self.cl.mutate(PODS, md["namespace"], md["name"], lambda o: fn(o.setdefault("status", {})),
                              uid=md["uid"])

    def step_pod(self, pod, rss):
        md, st = pod["metadata"], pod.get("status") or {}
        key = (md["namespace"], md["name"])
        if st.get("phase") in ("Succeeded", "Failed"):
            return
        rt = self.rt.get(key)
        if rt is None or rt.uid != md["uid"]:
            rt = self.rt[key] = Runtime(md["uid"])
            if pod["spec"].get("nodeName"):
                rt.stage = "scheduled"
            elif any(c.get("reason") == "Unschedulable" for c in st.get("conditions") or []):
                rt.stage = "unschedulable"
            if st.get("phase") == "Running":  # was running when a previous server died
                self.finish(pod, rt, 137, "Error", message="container process vanished")
                return
        now = time.monotonic()
        if rt.stage == "new":
            if now - rt.t < 0.05:
                return
            sel = pod["spec"].get("nodeSelector") or {}
            if any(self.labels.get(k) != v for k, v in sel.items()):
                msg = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
                self.set_status(pod, lambda s: s.update(phase="Pending", conditions=[{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": msg, "lastProbeTime": None, "lastTransitionTime": now_ts()}]))
                self.cl.event(pod, "Warning", "FailedScheduling", msg, "default-scheduler")
                rt.stage = "unschedulable"
                return

            def bind(o):
                o["spec"]["nodeName"] = "fake-node"
                o.setdefault("status", {}).update(phase="Pending", conditions=[{
                    "type": "PodScheduled", "status": "True", "lastProbeTime": None,
                    "lastTransitionTime": now_ts()}])
            pod = self.cl.mutate(PODS, key[0], key[1], bind, uid=md["uid"])
            if pod is None:
                return
            self.cl.event(pod, "Normal", "Scheduled", "Successfully assigned %s/%s to fake-node"
                          % key, "default-scheduler")
            rt.stage = "scheduled"
        if rt.stage in ("scheduled", "config", "pull"):
            self.try_start(pod, rt, now)
        elif rt.stage == "running":
            self.check_running(pod, rt, rss)

    def waiting(self, pod, reason, message):
        c = pod["spec"]["containers"][0]

        def fn(s):
            s["phase"] = "Pending"
            s["containerStatuses"] = [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                       "ready": False, "restartCount": 0, "started": False,
                                       "state": {"waiting": {"reason": reason, "message": message}},
                                       "lastState": {}}]
            conds = [x for x in s.get("conditions") or [] if x["type"] == "PodScheduled"]
            for t in ("Initialized", "Ready", "ContainersReady"):
                conds.append({"type": t, "status": "True" if t == "Initialized" else "False",
                              "lastProbeTime": None, "lastTransitionTime": now_ts(),
                              **({} if t == "Initialized" else {
                                  "reason": "ContainersNotReady",
                                  "message": "containers with unready status: [%s]" % c["name"]})})
            s["conditions"] = conds
            s.setdefault("hostIP", "127.0.0.1")
            s.setdefault("startTime", now_ts())
        return self.set_status(pod, fn)

    def try_start(self, pod, rt, now):
        c = pod["spec"]["containers"][0]
        image = str(c.get("image", ""))
        if "doesnotexist" in image or "invalid" in image:
            if rt.stage != "pull":
                rt.stage, rt.t, rt.msg = "pull", now, "ErrImagePull"
                msg = ('failed to pull and unpack image "%s": failed to resolve reference "%s": '
                       "not found" % (image, image))
                self.waiting(pod, "ErrImagePull", msg)
                self.cl.event(pod, "Warning", "Failed", "Failed to pull image \"%s\": %s" % (image, msg),
                              "kubelet")
            elif rt.msg == "ErrImagePull" and now - rt.t > 1.0:
                rt.msg = "ImagePullBackOff"
                self.waiting(pod, "ImagePullBackOff", 'Back-off pulling image "%s"' % image)
                self.cl.event(pod, "Normal", "BackOff", 'Back-off pulling image "%s"' % image, "kubelet")
            return
        if now < rt.retry_at:
            return
        env, err = self.resolve_env(pod, c)
        if err:
            if rt.stage != "config" or rt.msg != err:
                self.waiting(pod, "CreateContainerConfigError", err)
                self.cl.event(pod, "Warning", "Failed", "Error: " + err, "kubelet")
            rt.stage, rt.msg, rt.retry_at = "config", err, now + 1.0
            return
        argv = list(c.get("command") or ([self.args.entrypoint] if self.args.entrypoint else []))
        argv = [expand(a, env) for a in argv + list(c.get("args") or [])]
        if not argv:
            self.finish(pod, rt, 128, "StartError", message="no command specified")
            return
        md = pod["metadata"]
        log, exitf = self.paths(md["namespace"], md["name"])
        with self.cl.lock:  # so a concurrent DELETE cannot slip between check and start
            cur = self.cl.peek(PODS, md["namespace"], md["name"])
            if cur is None or cur["metadata"]["uid"] != md["uid"]:
                return
            for p in (exitf,):
                if os.path.exists(p):
                    os.unlink(p)
            cwd = c.get("workingDir") if os.path.isdir(str(c.get("workingDir") or "")) else "/"
            try:
                with open(log, "ab") as lf:
                    nice = ["nice", "-n", str(self.args.node_nice)] if self.args.node_nice else []
                    if self.args.node_cpus:
                        nice = ["taskset", "-c", self.args.node_cpus] + nice
                    rt.popen = subprocess.Popen(nice + ["/bin/sh", "-c", WRAPPER, "sh", exitf] + argv,
                                                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                                env=env, cwd=cwd, start_new_session=True)
            except OSError as e:
                self.finish(pod, rt, 128, "StartError", message=str(e))
                return
            rt.pid, rt.started, rt.stage = rt.popen.pid, now_ts(), "running"
            self.cl.node_records["%s/%s" % (md["namespace"], md["name"])] = {
                "pid": rt.pid, "uid": md["uid"], "started": rt.started}

            def fn(s):
                s["phase"] = "Running"
                s.setdefault("startTime", rt.started)
                s["hostIP"] = s["podIP"] = "127.0.0.1"
                s["hostIPs"] = s["podIPs"] = [{"ip": "127.0.0.1"}]
                s["containerStatuses"] = [{
                    "name": c["name"], "image": c.get("image", ""), "imageID": "",
                    "containerID": "fake://%d" % rt.pid, "ready": True, "restartCount": 0,
                    "started": True, "state": {"running": {"startedAt": rt.started}}, "lastState": {}}]
                s["conditions"] = [{"type": t, "status": "True", "lastProbeTime": None,
                                    "lastTransitionTime": rt.started}
                                   for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                             "ContainersReady", "PodScheduled")]
            pod = self.set_status(cur, fn)
        self.cl.event(pod, "Normal", "Started", "Started container %s" % c["name"], "kubelet")

    def resolve_env(self, pod, c):
        """The container's environment, or (None, error) for a missing reference."""
        md = pod["metadata"]
        env = {"PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
               "HOME": "/", "HOSTNAME": md["name"]}
        # the test run's process tags (hack/test-procs.sh), so that what runs
        # on this node is stopped with the test that started the server
        env.update({k: v for k, v in os.environ.items() if k in ("EASEL_TEST_RUN", "EASEL_TEST_SCENARIO")})
        for src in c.get("envFrom") or []:
            for kind, res in (("configMapRef", CONFIGMAPS), ("secretRef", SECRETS)):
                ref = src.get(kind)
                if ref:
                    obj = self.cl.peek(res, md["namespace"], ref.get("name", ""))
                    if obj is None:
                        if ref.get("optional"):
                            continue
                        return None, '%s "%s" not found' % (res.singular, ref.get("name"))
                    for k, v in (obj.get("data") or {}).items():
                        env[src.get("prefix", "") + k] = (base64.b64decode(v).decode("utf-8", "replace")
                                                          if res is SECRETS else v)
        for e in c.get("env") or []:
            name, vf = e.get("name"), e.get("valueFrom")
            if not vf:
                env[name] = expand(str(e.get("value", "")), env)
                continue
            if "fieldRef" in vf:
                path = vf["fieldRef"].get("fieldPath", "")
                m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
                env[name] = str((md.get(m.group(1), {}) or {}).get(m.group(2), "") if m else
                                {"spec.nodeName": "fake-node", "status.podIP": "127.0.0.1",
                                 "status.hostIP": "127.0.0.1",
                                 "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "")}
                                .get(path, dig(pod, path, "")))
                continue
            for kind, res in (("secretKeyRef", SECRETS), ("configMapKeyRef", CONFIGMAPS)):
                ref = vf.get(kind)
                if not ref:
                    continue
                obj = self.cl.peek(res, md["namespace"], ref.get("name", ""))
                data = (obj or {}).get("data") or {}
                if obj is None or ref.get("key") not in data:
                    if ref.get("optional"):
                        break
                    if obj is None:
                        return None, '%s "%s" not found' % (res.singular, ref.get("name"))
                    return None, "couldn't find key %s in %s %s/%s" % (
                        ref.get("key"), res.kind, md["namespace"], ref.get("name"))
                v = data[ref["key"]]
                env[name] = base64.b64decode(v).decode("utf-8", "replace") if res is SECRETS else v
        return env, None

    def rss_by_session(self):
        """Resident memory per session id (our pods are session leaders)."""
        out = collections.Counter()
        page = os.sysconf("SC_PAGE_SIZE")
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                with open("/proc/%s/statm" % d) as f:
                    rss = int(f.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            out[int(fields[3])] += rss  # field 6 of stat: session id
        return out

    def check_running(self, pod, rt, rss):
        md = pod["metadata"]
        _, exitf = self.paths(md["namespace"], md["name"])
        finished = rt.popen.poll() is not None if rt.popen is not None else not alive(rt.pid)
        if not finished:
            limit = parse_quantity(dig(pod["spec"]["containers"][0], "resources.limits.memory"))
            if limit and rss.get(rt.pid, 0) > limit:
                self.kill(pod, "oom")
            return
        code = None
        try:
            with open(exitf) as f:
                code = int(f.read().strip())
        except (OSError, ValueError):
            pass
        if code is None:  # the wrapper itself died: killed by a signal
            rc = rt.popen.returncode if rt.popen is not None else -9
            code = 128 - rc if rc < 0 else (rc or 137)
        self.finish(pod, rt, code, "Completed" if code == 0 else "Error")

    def kill(self, pod, why):
        """SIGKILLs a pod's process and marks the pod Failed.
        why: oom | evict | node-lost | deadline."""
        md = pod["metadata"]
        rt = self.rt.get((md["namespace"], md["name"]))
        if rt is None or rt.uid != md["uid"]:
            rt = self.rt[(md["namespace"], md["name"])] = Runtime(md["uid"])
        if rt.pid:
            killpg(rt.pid, signal.SIGKILL)
            if rt.popen is not None:
                try:
                    rt.popen.wait(2)
                except subprocess.TimeoutExpired:
                    pass
        if why == "oom":
            self.finish(pod, rt, 137, "OOMKilled")
        elif why == "evict":
            self.finish(pod, rt, 137, "Error", pod_reason="Evicted",
                        pod_message="The node was low on resource: memory.")
        elif why == "node-lost":
            self.finish(pod, rt, 137, "Error", pod_reason="NodeLost",
                        pod_message="Node fake-node which was running pod %s is unresponsive" % md["name"])
        else:
            self.finish(pod, rt, 137, "Error", pod_reason="DeadlineExceeded",
                        pod_message="Pod was active on the node longer than the specified deadline")

    def finish(self, pod, rt, code, reason, message=None, pod_reason=None, pod_message=None):
        """Records a terminated container and a terminal phase; counts the
        pod in its Job's status."""
        md = pod["metadata"]
        ns, name = md["namespace"], md["name"]
        c = pod["spec"]["containers"][0]
        log, _ = self.paths(ns, name)
        if (message is None and code != 0
                and c.get("terminationMessagePolicy") == "FallbackToLogsOnError"):
            message = tail_file(log, 80, 2048) or None
        term = {"exitCode": code, "reason": reason, "startedAt": rt.started or now_ts(),
                "finishedAt": now_ts(), "containerID": "fake://%s" % (rt.pid or 0)}
        if message:
            term["message"] = message
        phase = "Succeeded" if code == 0 and not pod_reason else "Failed"

        def fn(s):
            if s.get("phase") in ("Succeeded", "Failed"):
                return False
            s["phase"] = phase
            if pod_reason:
                s["reason"], s["message"] = pod_reason, pod_message
            s["containerStatuses"] = [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                       "containerID": term["containerID"], "ready": False,
                                       "restartCount": 0, "started": False,
                                       "state": {"terminated": term}, "lastState": {}}]
            ts = now_ts()
            conds = {x["type"]: x for x in s.get("conditions") or []}
            for t in ("Ready", "ContainersReady"):
                conds[t] = {"type": t, "status": "False", "lastProbeTime": None, "lastTransitionTime": ts,
                            "reason": "PodCompleted" if phase == "Succeeded" else "PodFailed"}
            s["conditions"] = list(conds.values())
        rt.stage = "done"
        self.rt.pop((ns, name), None)
        self.cl.node_records.pop("%s/%s" % (ns, name), None)
        with self.cl.lock:
            cur = self.cl.peek(PODS, ns, name)
            if cur is None or dig(cur, "status.phase") in ("Succeeded", "Failed"):
                return
            self.set_status(pod, fn)
            if reason == "OOMKilled":
                self.cl.event(pod, "Warning", "OOMKilling", "Memory cgroup out of memory: Killed process "
                              "%s" % rt.pid, "kubelet")
            job = owner_job(self.cl, pod)
            if job is not None:
                field = "succeeded" if phase == "Succeeded" else "failed"
                self.cl.mutate(JOBS, ns, job["metadata"]["name"],
                               lambda o: o.setdefault("status", {}).__setitem__(
                                   field, o["status"].get(field, 0) + 1),
                               uid=job["metadata"]["uid"], status_only=True)

    def pod_removed(self, pod, grace, gc):
        """Called (under the cluster lock) when a pod object is deleted: stop
        its process in the background, SIGTERM then SIGKILL after the grace
        period (capped at 5 s). Deleting an active pod of a live Job counts
        as a failure, as the real job controller does."""
        md = pod["metadata"]
        rt = self.rt.pop((md["namespace"], md["name"]), None)
        self.cl.node_records.pop("%s/%s" % (md["namespace"], md["name"]), None)
        if not gc and dig(pod, "status.phase") not in ("Succeeded", "Failed"):
            job = owner_job(self.cl, pod)
            if job is not None and not job_finished(job):
                self.cl.mutate(JOBS, md["namespace"], job["metadata"]["name"],
                               lambda o: o.setdefault("status", {}).__setitem__(
                                   "failed", o["status"].get("failed", 0) + 1),
                               uid=job["metadata"]["uid"], status_only=True)
        if rt is None or not rt.pid or rt.stage != "running":
            return
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        # a real kubelet waits the whole grace period; this one waits at
        # most 15 s, enough for a worker to cancel its provider call
        grace = min(max(float(grace), 0.0), 15.0)

        def stop():
            killpg(rt.pid, signal.SIGTERM)
            end = time.monotonic() + grace
            while time.monotonic() < end:
                if rt.popen is not None:
                    rt.popen.poll()
                if not group_alive(rt.pid):
                    return
                time.sleep(0.05)
            killpg(rt.pid, signal.SIGKILL)
            if rt.popen is not None:
                rt.popen.wait()
        threading.Thread(target=stop, daemon=True).start()

    # ---- jobs
    def step_job(self, job):
        md, spec = job["metadata"], job.get("spec") or {}
        ns, name, uid = md["namespace"], md["name"], md["uid"]
        st = job.get("status") or {}
        now = time.time()
        pods = self.cl.owned_pods(uid)
        active = [p for p in pods if dig(p, "status.phase") not in ("Succeeded", "Failed")]
        ready = sum(1 for p in active if any(c["type"] == "Ready" and c["status"] == "True"
                                              for c in dig(p, "status.conditions") or []))
        updates = {}
        if job_finished(job):
            fin = st.get("completionTime") or next(
                (c.get("lastTransitionTime") for c in st.get("conditions") or []
                 if c["type"] in ("Complete", "Failed")), None)
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and fin and now >= (parse_ts(fin) or now) + ttl:
                try:
                    self.cl.delete(JOBS, ns, name, {"propagationPolicy": "Background"})
                except ApiError:
                    pass
                return
        elif spec.get("suspend"):
            for p in active:
                self.cl._delete_pod_quietly(p)
            active, ready = [], 0
            if not has_cond(st, "Suspended"):
                updates["conditions"] = set_cond(st, "Suspended", "True", "JobSuspended", "Job suspended")
                self.cl.event(job, "Normal", "Suspended", "Job suspended", "job-controller")
        else:
            if has_cond(st, "Suspended"):
                updates["conditions"] = set_cond(st, "Suspended", "False", "JobResumed", "Job resumed")
                updates["startTime"] = now_ts()
                self.cl.event(job, "Normal", "Resumed", "Job resumed", "job-controller")
            start = parse_ts(updates.get("startTime") or st.get("startTime"))
            ads = spec.get("activeDeadlineSeconds")
            succeeded, failed = st.get("succeeded", 0), st.get("failed", 0)
            completions = spec.get("completions") or 1
            if ads is not None and start is not None and now >= start + ads:
                for p in active:
                    self.kill(p, "deadline")
                self.fail(job, "DeadlineExceeded", "Job was active longer than specified deadline")
                return
            if succeeded >= completions and not active:
                ts = now_ts()
                updates["conditions"] = set_cond(st, "Complete", "True", None, None, ts)
                updates["completionTime"] = ts
                self.cl.event(job, "Normal", "Completed", "Job completed", "job-controller")
            elif failed > spec.get("backoffLimit", 6):
                for p in active:
                    self.cl._delete_pod_quietly(p)
                self.fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
                return
            else:
                want = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
                for _ in range(max(0, want)):
                    pod = self.new_pod(job)
                    if pod is not None:
                        active.append(pod)
                if not st.get("startTime") and "startTime" not in updates:
                    updates["startTime"] = now_ts()
        counts = {"active": len(active), "ready": ready}
        if "uncountedTerminatedPods" not in st:
            counts["uncountedTerminatedPods"] = {}
        for k, v in counts.items():
            if st.get(k) != v:
                updates[k] = v
        if updates:
            self.cl.mutate(JOBS, ns, name, lambda o: o.setdefault("status", {}).update(updates),
                           uid=uid, status_only=True)

    def fail(self, job, reason, message):
        md = job["metadata"]

        def fn(o):
            s = o.setdefault("status", {})
            s["conditions"] = set_cond(s, "Failed", "True", reason, message)
            s["active"], s["ready"] = 0, 0
        self.cl.mutate(JOBS, md["namespace"], md["name"], fn, uid=md["uid"], status_only=True)
        self.cl.event(job, "Warning", reason, message, "job-controller")

    def new_pod(self, job):
        md, tmpl = job["metadata"], job["spec"].get("template") or {}
        tmd = tmpl.get("metadata") or {}
        labels = dict(tmd.get("labels") or {})
        labels.update({"batch.kubernetes.io/controller-uid": md["uid"], "controller-uid": md["uid"],
                       "batch.kubernetes.io/job-name": md["name"], "job-name": md["name"]})
        pod = {"metadata": {"generateName": md["name"] + "-", "namespace": md["namespace"],
                            "labels": labels, "annotations": dict(tmd.get("annotations") or {}),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                 "name": md["name"], "uid": md["uid"],
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": copy.deepcopy(tmpl.get("spec") or {}),
               "status": {"phase": "Pending", "qosClass": "BestEffort"}}
        try:
            pod = self.cl.create(PODS, md["namespace"], pod)
        except ApiError as e:
            self.cl.event(job, "Warning", "FailedCreate", "Error creating: " + e.message, "job-controller")
            return None
        self.cl.event(job, "Normal", "SuccessfulCreate", "Created pod: " + pod["metadata"]["name"],
                      "job-controller")
        return pod


def owner_job(cl, pod):
    for r in dig(pod, "metadata.ownerReferences") or []:
        if r.get("kind") == "Job" and r.get("controller"):
            job = cl.peek(JOBS, pod["metadata"]["namespace"], r.get("name", ""))
            if job is not None and job["metadata"]["uid"] == r.get("uid"):
                return job
    return None


def has_cond(st, type_):
    return any(c.get("type") == type_ and c.get("status") == "True" for c in st.get("conditions") or [])


def job_finished(job):
    return has_cond(job.get("status") or {}, "Complete") or has_cond(job.get("status") or {}, "Failed")


def set_cond(st, type_, status, reason, message, ts=None):
    """The conditions list with type_ set (lastTransitionTime bumps on change)."""
    ts = ts or now_ts()
    conds = [dict(c) for c in st.get("conditions") or []]
    new = {"type": type_, "status": status, "lastProbeTime": ts, "lastTransitionTime": ts}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    for i, c in enumerate(conds):
        if c.get("type") == type_:
            if c.get("status") == status:
                new["lastTransitionTime"] = c.get("lastTransitionTime", ts)
            conds[i] = new
            return conds
    return conds + [new]


def expand(s, env):
    """Kubernetes $(VAR) expansion in command, args and env values."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def tail_file(path, lines, nbytes):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - nbytes))
            data = f.read()
    except OSError:
        return ""
    return b"\n".join(data.split(b"\n")[-lines - 1:]).decode("utf-8", "replace").strip("\n")


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, TypeError):
        return False


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass

# ---------------------------------------------------------------- discovery


def resource_list(group):
    out = []
    for r in RESOURCES:
        if r.group != group:
            continue
        verbs = [v for v in ALL_VERBS if not (r is NAMESPACES and v == "deletecollection")]
        d = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
             "kind": r.kind, "verbs": verbs}
        if r.short:
            d["shortNames"] = r.short
        if r.categories:
            d["categories"] = r.categories
        out.append(d)
        for s in r.subs:
            out.append({"name": "%s/%s" % (r.plural, s), "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get"] if s == "log" else ["get", "patch", "update"]})
    gv = "v1" if not group else group + "/v1"
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def api_group(g):
    v = {"groupVersion": g + "/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [v], "preferredVersion": v}


def openapi_v3_doc(group):
    """Just enough OpenAPI v3 for kubectl's field-validation probe: every
    kind has a PATCH operation that takes ?fieldValidation, so kubectl leaves
    validation to the server (which accepts everything)."""
    paths = {}
    for r in RESOURCES:
        if r.group != group:
            continue
        prefix = "/api/v1" if not group else "/apis/%s/v1" % group
        p = (prefix + "/namespaces/{namespace}/%s/{name}" if r.namespaced else prefix + "/%s/{name}") % r.plural
        paths[p] = {"patch": {
            "operationId": "patch" + r.kind,
            "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": r.kind},
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                           for n in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {}}

# ------------------------------------------------------------------- tables


def pod_status_text(p):
    """The STATUS column of kubectl get pods."""
    st = p.get("status") or {}
    text = st.get("reason") or st.get("phase") or "Pending"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            text = state["waiting"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            text = t.get("reason") or "ExitCode:%d" % t.get("exitCode", 0)
    if st.get("reason"):  # Evicted, NodeLost, DeadlineExceeded say more than the container
        text = st["reason"]
    if st.get("phase") == "Pending" and text == "Pending" and p["spec"].get("nodeName"):
        text = "ContainerCreating"
    if p["metadata"].get("deletionTimestamp"):
        text = "Terminating"
    return text


def job_status_text(j):
    st = j.get("status") or {}
    for t, text in (("Failed", "Failed"), ("Complete", "Complete"), ("Suspended", "Suspended")):
        if has_cond(st, t):
            return text
    return "Running"


def table(res, items, rv, include, wide=False):
    now = time.time()

    def age(o):
        t = parse_ts(dig(o, "metadata.creationTimestamp"))
        return human_age(now - t) if t else "<unknown>"

    if res is PODS:
        cols = [("Name", "string"), ("Ready", "string"), ("Status", "string"), ("Restarts", "string"),
                ("Age", "string"), ("IP", "string"), ("Node", "string")]

        def row(p):
            cs = dig(p, "status.containerStatuses") or []
            return [p["metadata"]["name"], "%d/%d" % (sum(1 for c in cs if c.get("ready")),
                                                      len(p["spec"].get("containers") or [])),
                    pod_status_text(p), str(sum(c.get("restartCount", 0) for c in cs)), age(p),
                    dig(p, "status.podIP", "<none>"), p["spec"].get("nodeName", "<none>")]
    elif res is JOBS:
        cols = [("Name", "string"), ("Status", "string"), ("Completions", "string"),
                ("Duration", "string"), ("Age", "string")]

        def row(j):
            st = j.get("status") or {}
            start = parse_ts(st.get("startTime"))
            end = parse_ts(st.get("completionTime")) or now
            return [j["metadata"]["name"], job_status_text(j),
                    "%d/%d" % (st.get("succeeded", 0), j["spec"].get("completions", 1)),
                    human_age(end - start) if start else "", age(j)]
    elif res is NAMESPACES:
        cols = [("Name", "string"), ("Status", "string"), ("Age", "string")]

        def row(o):
            return [o["metadata"]["name"], dig(o, "status.phase", "Active"), age(o)]
    elif res is EVENTS:
        cols = [("Last Seen", "string"), ("Type", "string"), ("Reason", "string"),
                ("Object", "string"), ("Message", "string")]

        def row(e):
            t = parse_ts(e.get("lastTimestamp") or e.get("firstTimestamp") or "")
            io = e.get("involvedObject") or {}
            return [human_age(now - t) if t else "<unknown>", e.get("type", ""), e.get("reason", ""),
                    "%s/%s" % (str(io.get("kind", "")).lower(), io.get("name", "")), e.get("message", "")]
    elif res in (CONFIGMAPS, SECRETS):
        cols = [("Name", "string"), ("Data", "integer"), ("Age", "string")]

        def row(o):
            return [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)]
        if res is SECRETS:
            cols.insert(1, ("Type", "string"))
            base = row

            def row(o):  # noqa: F811 - secrets add a Type column
                r = base(o)
                return r[:1] + [o.get("type", "Opaque")] + r[1:]
    elif res.key == "coordination.k8s.io/leases":
        cols = [("Name", "string"), ("Holder", "string"), ("Age", "string")]

        def row(o):
            return [o["metadata"]["name"], dig(o, "spec.holderIdentity", ""), age(o)]
    else:
        cols = [("Name", "string"), ("Age", "string")]

        def row(o):
            return [o["metadata"]["name"], age(o)]
    defs = [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
             "priority": 1 if n in ("IP", "Node") else 0} for n, t in cols]
    rows = []
    for o in items:
        r = {"cells": row(o)}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o["metadata"]}
        rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
            "columnDefinitions": defs, "rows": rows}

# --------------------------------------------------------------------- HTTP


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, cluster, node, args):
        super().__init__(addr, Handler)
        self.cluster, self.node, self.args = cluster, node, args
        self.stats = collections.Counter()
        self.log_lock = threading.Lock()
        self.stalls = {}  # resource plural -> seconds every write to it waits (/_fake/stall)
        self.reqlog = open(os.path.join(args.state_dir, "requests.log"), "a", buffering=1)

    def token(self):
        """The bearer token requests must carry: --token, or the current
        content of --token-file, read on every request so that replacing
        the file rotates it (the old token stops working at once)."""
        if self.args.token_file:
            try:
                with open(self.args.token_file) as f:
                    return f.read().strip()
            except OSError:
                return "\0unreadable"  # nothing matches: every request is 401
        return self.args.token

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            sys.stderr.write("http: %r\n" % exc)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""

    def setup(self):
        super().setup()
        # as Go's net/http does: without it a response's headers and body,
        # written separately, meet the client's delayed ACK (40 ms a request)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # requests go to requests.log, not stderr
        pass

    def log_error(self, fmt, *args):
        sys.stderr.write("http: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # ---- plumbing
    def note(self, code, extra=""):
        # METHOD PATH CODE [extra] [name=CREATED] at=ARRIVAL took=SECONDS (epoch, µs):
        # benchmarks time the controller's requests from this log
        if getattr(self, "created", None):
            extra += " name=" + self.created
        at = getattr(self, "arrived", None) or time.time()
        with self.server.log_lock:
            self.server.reqlog.write("%s %s %d%s at=%.6f took=%.6f\n"
                                     % (self.command, self.path, code, extra, at, time.time() - at))

    def count(self, what):
        with self.server.log_lock:
            self.server.stats[what] += 1

    def send_bytes(self, code, data, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.note(code)

    def send_json(self, code, obj):
        self.send_bytes(code, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

    def start_stream(self, ctype="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def dispatch(self, method):
        self.arrived, self.created = time.time(), None
        u = urllib.parse.urlsplit(self.path)
        q = {k: v for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)}
        try:
            body = self.read_body()
            self.route(method, u.path.rstrip("/") or "/", q, body)
        except ApiError as e:
            self.send_json(e.code, e.body())
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - report, do not kill the connection thread
            sys.stderr.write("error: %s %s: %s\n" % (method, self.path,
                                                    traceback.format_exc().replace("\n", " | ")))
            try:
                self.send_json(500, ApiError(500, "InternalError", "internal error: %s" % e).body())
            except OSError:
                self.close_connection = True

    # ---- routing
    def route(self, method, path, q, body):
        cl = self.server.cluster
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0",
                                        "gitCommit": "fake", "gitTreeState": "clean",
                                        "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.4",
                                        "compiler": "gc", "platform": "linux/amd64"})
        if path.startswith("/_fake/"):
            return self.fake(path[len("/_fake/"):], q)
        token = self.server.token()
        if token and self.headers.get("Authorization", "") != "Bearer " + token:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{
                                            "clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1:%d" % self.server.server_port}]})
        if path == "/api/v1":
            return self.send_json(200, resource_list(""))
        if path == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": [api_group(g) for g in GROUPS]})
        if path == "/openapi/v3":
            return self.send_json(200, {"paths": {
                ("api/v1" if not g else "apis/%s/v1" % g): {
                    "serverRelativeURL": "/openapi/v3/%s?hash=FAKE%s" % (
                        "api/v1" if not g else "apis/%s/v1" % g, g.upper().replace(".", ""))}
                for g in [""] + GROUPS}})
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/"):]
            for g in [""] + GROUPS:
                if rest == ("api/v1" if not g else "apis/%s/v1" % g):
                    return self.send_json(200, openapi_v3_doc(g))
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in GROUPS:
            return self.send_json(200, api_group(parts[1]))
        if parts[0] == "apis" and len(parts) == 3 and parts[1] in GROUPS and parts[2] == "v1":
            return self.send_json(200, resource_list(parts[1]))
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, rest = parts[1], parts[3:]
            if parts[2] != "v1":
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = BY_PATH.get((group, "v1", rest[0]))
        if res is None or len(rest) > 3 or (ns and not res.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in res.subs:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if name is None and not ns and res.namespaced and method not in ("GET",):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        stall = self.server.stalls.get(res.plural) if method != "GET" else None
        if stall:
            # an API server that accepts a write and then hangs on it (etcd
            # trouble, a slow admission webhook): the client waits
            self.count("stalled")
            time.sleep(stall)
        self.resource(method, res, ns, name, sub, q, body)

    def selectors(self, q):
        return label_selector(q.get("labelSelector")), field_selector(q.get("fieldSelector"))

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def resource(self, method, res, ns, name, sub, q, body):
        cl = self.server.cluster
        what = res.plural + ("/" + sub if sub else "")
        ctype = self.headers.get("Content-Type") or ""
        if method == "GET" and name is None:
            lsel, fsel = self.selectors(q)
            if q.get("watch") in ("1", "true", "True"):
                self.count("watch " + what)
                return self.watch(res, ns, q, lsel, fsel)
            self.count("list " + what)
            items, rv = cl.list(res, ns, lsel, fsel)
            meta = {"resourceVersion": str(rv)}
            start = q.get("continue")
            if start:
                try:
                    after = tuple(json.loads(base64.urlsafe_b64decode(start.encode())))
                except ValueError:
                    raise ApiError(400, "BadRequest", "invalid continue token")
                items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
            limit = int(q.get("limit") or 0)
            if limit > 0 and len(items) > limit:
                last = items[limit - 1]["metadata"]
                meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                    [last.get("namespace", ""), last["name"]]).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            if self.wants_table():
                return self.send_json(200, table(res, items, rv, q.get("includeObject")))
            return self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.gv,
                                        "metadata": meta, "items": items})
        if method == "GET" and sub == "log":
            self.count("get pods/log")
            return self.pod_log(ns, name, q)
        if method == "GET":
            self.count("get " + what)
            obj = cl.get(res, ns, name)
            if self.wants_table() and not sub:
                return self.send_json(200, table(res, [obj], obj["metadata"]["resourceVersion"],
                                                 q.get("includeObject")))
            return self.send_json(200, obj)
        if method == "POST" and name is None:
            self.count("create " + what)
            obj = cl.create(res, ns, parse_body(body, ctype))
            self.created = obj["metadata"]["name"]
            return self.send_json(201, obj)
        if method == "PUT" and name:
            self.count("update " + what)
            return self.send_json(200, cl.replace(res, ns, name, parse_body(body, ctype), sub))
        if method == "PATCH" and name:
            self.count("patch " + what)
            obj, created = cl.patch(res, ns, name, ctype, body, sub, q.get("fieldManager"))
            return self.send_json(201 if created else 200, obj)
        if method == "DELETE":
            opts = parse_body(body, ctype) if body.strip() else {}
            for k in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
                if k in q:
                    opts[k] = int(q[k]) if k == "gracePeriodSeconds" else (
                        q[k] == "true" if k == "orphanDependents" else q[k])
            if name is None:  # deletecollection
                self.count("deletecollection " + what)
                lsel, fsel = self.selectors(q)
                items, _ = cl.list(res, ns, lsel, fsel)
                gone = []
                for o in items:
                    try:
                        gone.append(cl.delete(res, o["metadata"].get("namespace", ""), o["metadata"]["name"], opts))
                    except ApiError:
                        pass
                return self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.gv,
                                            "metadata": {"resourceVersion": str(cl.rv)}, "items": gone})
            self.count("delete " + what)
            gone = cl.delete(res, ns, name, opts)
            if res is PODS:
                return self.send_json(200, gone)
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success",
                                        "details": dict(res.details(name), uid=gone["metadata"]["uid"])})
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                       "requested resource")

    # ---- watch
    def watch(self, res, ns, q, lsel, fsel):
        """Streams watch events as chunked newline-delimited JSON."""
        cl, args = self.server.cluster, self.server.args
        rvp = q.get("resourceVersion", "")
        try:
            since = int(rvp) if rvp not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid resource version %r" % rvp)
        try:
            timeout = float(q.get("timeoutSeconds") or 1800)
        except ValueError:
            timeout = 1800.0
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        initial_end = q.get("sendInitialEvents") == "true"
        deadline = time.monotonic() + timeout
        as_table = self.wants_table()  # kubectl get -w: each event's object is a one-row Table
        self.close_connection = True  # a watch connection is not reused
        self.start_stream()
        self.note(200, " watch")

        def send(type_, obj):
            if as_table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = table(res, [obj], obj["metadata"]["resourceVersion"], q.get("includeObject"))
            self.chunk(json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n")

        def bookmark(rv, annotations=None):
            md = {"resourceVersion": str(rv)}
            if annotations:
                md["annotations"] = annotations
            send("BOOKMARK", {"kind": res.kind, "apiVersion": res.gv, "metadata": md})

        def matches(o):
            return ((not ns or o["metadata"].get("namespace") == ns)
                    and lsel(dig(o, "metadata.labels")) and fsel(o))

        try:
            with cl.lock:
                epoch = cl.watch_epoch
                if since is None or initial_end:
                    items, last = cl.list(res, ns, lsel, fsel)
                    expired = False
                else:
                    items, last, expired = [], since, since < cl.oldest
                    oldest = cl.oldest
            if expired:
                send("ERROR", ApiError(410, "Expired", "too old resource version: %d (%d)"
                                       % (since, oldest)).body())
                return self.end_stream()
            for o in items:
                send("ADDED", o)
            if initial_end:
                bookmark(last, {"k8s.io/initial-events-end": "true"})
            next_bm = time.monotonic() + args.bookmark_interval
            while True:
                with cl.lock:
                    while True:
                        if cl.closed or cl.watch_epoch != epoch:
                            return self.end_stream()
                        if last < cl.oldest:
                            send("ERROR", ApiError(410, "Expired", "too old resource version: %d (%d)"
                                                   % (last, cl.oldest)).body())
                            return self.end_stream()
                        evs = []
                        for e in reversed(cl.history):
                            if e.rv <= last:
                                break
                            evs.append(e)
                        now = time.monotonic()
                        if evs or now >= deadline or (bookmarks and now >= next_bm):
                            break
                        cl.cond.wait(max(0.01, min(deadline, next_bm if bookmarks else deadline) - now))
                    last = max(last, cl.rv)
                for e in reversed(evs):
                    if e.key == res.key and matches(e.obj):
                        send(e.type, e.obj)
                now = time.monotonic()
                if bookmarks and now >= next_bm:
                    bookmark(last)
                    next_bm = now + args.bookmark_interval
                if now >= deadline:
                    return self.end_stream()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    # ---- pod logs
    def pod_log(self, ns, name, q):
        cl = self.server.cluster
        pod = cl.get(PODS, ns, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        want = q.get("container") or containers[0]
        if want not in containers:
            raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (want, name))
        path, _ = self.server.node.paths(ns, name)
        if not os.path.exists(path):
            reason = dig(pod, "status.containerStatuses", [{}])[0].get("state", {}).get(
                "waiting", {}).get("reason", "ContainerCreating")
            raise ApiError(400, "BadRequest", 'container "%s" in pod "%s" is waiting to start: %s'
                           % (want, name, reason))
        with open(path, "rb") as f:
            data = f.read()
        if q.get("tailLines"):
            n = int(q["tailLines"])
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines = lines[:-1]
                data = b"".join(ln + b"\n" for ln in lines[-n:]) if n else b""
            else:
                data = b"\n".join(lines[-n:]) if n else b""
        if q.get("limitBytes"):
            data = data[:int(q["limitBytes"])]
        if q.get("follow") not in ("true", "1"):
            return self.send_bytes(200, data, "text/plain")
        # follow: stream what is there, then new output until the pod ends
        self.close_connection = True
        self.start_stream("text/plain")
        self.note(200, " follow")
        try:
            if data:
                self.chunk(data)
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                while True:
                    more = f.read()
                    if more:
                        self.chunk(more)
                        continue
                    cur = cl.peek(PODS, ns, name)
                    if cur is None or cur["metadata"]["uid"] != pod["metadata"]["uid"] or \
                            dig(cur, "status.phase") in ("Succeeded", "Failed"):
                        more = f.read()
                        if more:
                            self.chunk(more)
                        break
                    time.sleep(0.1)
            self.end_stream()
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True

    # ---- test controls
    def fake(self, what, q):
        cl, node = self.server.cluster, self.server.node
        if what in ("evict", "node-lost", "oom"):
            ns, name = q.get("namespace") or "default", q.get("name", "")
            with node.mu:
                pod = cl.peek(PODS, ns, name)
                if pod is None:
                    raise PODS.not_found(name)
                node.kill(pod, what)
            return self.send_json(200, {"ok": True, "pod": cl.get(PODS, ns, name)})
        if what == "compact":
            cl.compact()
            return self.send_json(200, {"ok": True, "resourceVersion": str(cl.rv)})
        if what == "close-watches":
            cl.close_watches()
            return self.send_json(200, {"ok": True})
        if what == "stall":
            # stall?resource=events&seconds=30: every write to that resource
            # waits that long before it is handled; seconds=0 ends it
            plural, secs = q.get("resource", ""), float(q.get("seconds", "0") or 0)
            if secs > 0:
                self.server.stalls[plural] = secs
            else:
                self.server.stalls.pop(plural, None)
            return self.send_json(200, {"ok": True, "stalls": self.server.stalls})
        if what == "stats":
            with self.server.log_lock:
                stats = dict(self.server.stats)
            return self.send_json(200, stats)
        raise ApiError(404, "NotFound", "unknown fake endpoint %r" % what)

# --------------------------------------------------------------------- main


def make_tls(d):
    """A self-signed CA and a server certificate for 127.0.0.1/localhost."""
    ca_crt, ca_key = os.path.join(d, "ca.crt"), os.path.join(d, "ca.key")
    crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    if all(os.path.exists(p) for p in (ca_crt, ca_key, crt, key)):
        return ca_crt, crt, key

    def run(*cmd):
        subprocess.run(["openssl", *cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-subj", "/CN=fake-kube-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr, ext = os.path.join(d, "server.csr"), os.path.join(d, "server.ext")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial",
        str(random.getrandbits(63)), "-out", crt, "-days", "3650", "-extfile", ext)
    return ca_crt, crt, key


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    # A request's handler thread waits for the GIL after its socket becomes
    # readable; the default 5 ms switch interval would put this server's own
    # scheduling into every latency measured against it.
    sys.setswitchinterval(0.0002)
    ap = argparse.ArgumentParser(description="Fake Kubernetes API server with a simulated node.")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token")
    ap.add_argument("--token-file", help="accept the token this file holds now; the kubeconfig "
                    "written names it as tokenFile (rotation tests)")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--entrypoint", help="argv[0] for containers without a command")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--node-nice", type=int, default=0,
                    help="run pods at this nice level, as if on another machine (benchmarks)")
    ap.add_argument("--node-cpus", help="run pods on these CPUs only (taskset list, benchmarks)")
    ap.add_argument("--node-labels", default="kubernetes.io/os=linux,kubernetes.io/hostname=fake-node")
    args = ap.parse_args()
    args.state_dir = os.path.abspath(args.state_dir)
    os.makedirs(args.state_dir, exist_ok=True)
    for stale in ("kubeconfig", "port"):  # tests wait for these: never show a dead server's
        try:
            os.unlink(os.path.join(args.state_dir, stale))
        except FileNotFoundError:
            pass

    cl = Cluster(args.state_dir, args.history)
    node = Node(cl, args)
    srv = Server(("127.0.0.1", args.port), cl, node, args)
    scheme, ca_data = "http", None
    if args.tls:
        ca, crt, key = make_tls(args.state_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.set_alpn_protocols(["http/1.1"])
        # handshake in the handler thread, not in accept(): a stalled client
        # must not block the listener
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
        with open(ca, "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
    port = srv.server_port
    threading.Thread(target=node.run, daemon=True, name="node").start()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                     name="http").start()

    cluster = "    server: %s://127.0.0.1:%d\n" % (scheme, port)
    if ca_data:
        cluster += "    certificate-authority-data: %s\n" % ca_data
    user = "    token: %s\n" % json.dumps(args.token) if args.token else "    {}\n"
    if args.token_file:
        args.token_file = os.path.abspath(args.token_file)
        user = "    tokenFile: %s\n" % json.dumps(args.token_file)
    write_atomic(os.path.join(args.state_dir, "port"), str(port))
    write_atomic(os.path.join(args.state_dir, "kubeconfig"),
                 "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n" + cluster +
                 "users:\n- name: fake\n  user:\n" + user +
                 "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
                 "    namespace: default\ncurrent-context: fake\npreferences: {}\n")
    sys.stderr.write("fake-apiserver: listening on %s://127.0.0.1:%d (state %s)\n"
                     % (scheme, port, args.state_dir))

    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID: dump every thread's stack to stderr
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    with cl.lock:
        cl.closed = True
        cl.cond.notify_all()
    srv.shutdown()
    with node.mu, cl.lock:
        cl.save()
    sys.stderr.write("fake-apiserver: stopped\n")


if __name__ == "__main__":
    main()
