#!/usr/bin/env python3
"""trace_tree.py SPANS_JSON TRACE_ID PARENT_SPAN_ID [NAME...] - checks that
the spans of one trace, as otlp_double.py keeps them (GET /_otlp/spans),
form one tree under the producer's span: no span id used twice, every
parentSpanId resolves to a span of the trace except the roots', which is
the producer's span, and each NAME is there at least once. Prints the tree
to stderr; exits 1 with the problems otherwise.
"""
import json, sys
spans = json.load(open(sys.argv[1]))
trace, parent, names = sys.argv[2], sys.argv[3], sys.argv[4:]
mine = [s for s in spans if s["traceId"] == trace]
ids = {s["spanId"] for s in mine}
problems = []
if len(ids) != len(mine):
    problems.append("a span id is used twice")
roots = [s for s in mine if s["parentSpanId"] not in ids]
if [r["parentSpanId"] for r in roots] != [parent] * len(roots) or not roots:
    problems.append("roots %s: every span's parent must resolve, except the root's, which is the producer's %s"
                    % ([(r["name"], r["parentSpanId"]) for r in roots], parent))
missing = [n for n in names if n not in {s["name"] for s in mine}]
if missing:
    problems.append("missing spans %s (have %s)" % (missing, sorted({s["name"] for s in mine})))
def show(s, d):
    print("   %s%s [%s] %s" % ("  " * d, s["name"], s["resource"].get("easel.mode"),
                               {k: v for k, v in s["attributes"].items() if k in
                                ("easel.attempt", "http.response.status_code", "easel.provider")}),
          file=sys.stderr)
    for c in sorted((c for c in mine if c["parentSpanId"] == s["spanId"]), key=lambda c: c["start"]):
        show(c, d + 1)
for r in roots:
    show(r, 0)
for p in problems:
    print("   " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
