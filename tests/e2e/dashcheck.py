#!/usr/bin/env python3
"""dashcheck.py DASHBOARD.json RULES.yaml SCRAPE.prom...: fails unless every
query of the Grafana dashboard and every expression of the alert rules
names at least one metric, and every metric they name is a family that
easel exported in the scrapes given (histogram series by their family).
The names are read by a small PromQL tokenizer: strings, label matchers,
ranges and grouping clauses are removed; what remains that is an
identifier not called as a function and not a keyword is a metric."""
import json
import re
import sys

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "inf", "nan", "le"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metrics_in(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                         # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                        # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\w+|\$\{[^}]*\}", " ", e)                 # Grafana variables
    names = set()
    for m in IDENT.finditer(e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        if re.fullmatch(r"\d+(\.\d+)?([eE][+-]?\d+)?", word):
            continue
        names.add(word)
    return names


def exported(paths):
    fams = {}
    for p in paths:
        for line in open(p, encoding="utf-8"):
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split()
                fams[name] = typ
    return fams


def known(name, fams):
    if name in fams:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and fams.get(name[: -len(suffix)]) == "histogram":
            return True
    return False


def rule_exprs(path):
    # the rules file is YAML; its expressions are one line each, "expr: ..."
    out = []
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*expr:\s*(.+?)\s*$", line)
        if m:
            out.append(m.group(1).strip("'\""))
    return out


def main(dash, rules, scrapes):
    fams = exported(scrapes)
    problems, queries = [], 0
    d = json.load(open(dash, encoding="utf-8"))
    for p in d["panels"]:
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            problems.append("panel %r has no query" % p.get("title"))
        for t in p.get("targets", []):
            queries += 1
            names = metrics_in(t["expr"])
            if not names:
                problems.append("panel %r: %r names no metric" % (p["title"], t["expr"]))
            for n in sorted(names):
                if not known(n, fams):
                    problems.append("panel %r: metric %s is not exported" % (p["title"], n))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query", "")
        m = re.match(r"label_values\((\w+)", q) if isinstance(q, str) else None
        if m and not known(m.group(1), fams):
            problems.append("variable %s: metric %s is not exported" % (v["name"], m.group(1)))
    exprs = rule_exprs(rules)
    for e in exprs:
        names = metrics_in(e)
        if not names:
            problems.append("rule %r names no metric" % e)
        for n in sorted(names):
            if not known(n, fams):
                problems.append("rule %r: metric %s is not exported" % (e, n))
    for pr in problems:
        print(pr, file=sys.stderr)
    print("%d dashboard queries and %d rule expressions checked against %d exported families"
          % (queries, len(exprs), len(fams)), file=sys.stderr)
    return 1 if problems or queries == 0 or not exprs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
