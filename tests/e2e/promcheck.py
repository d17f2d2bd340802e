#!/usr/bin/env python3
"""promcheck.py FILE: fails unless FILE is well-formed Prometheus text
exposition (format 0.0.4): every sample belongs to a family announced by
# HELP and # TYPE before it, names and label names are valid, label values
are properly escaped, values parse, and no series appears twice."""
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)(?: -?\d+)?$" % (NAME, LABEL, LABEL))
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def main(path):
    helped, typed, seen = set(), {}, set()
    for n, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if not re.fullmatch(NAME, name) or name in helped:
                return "line %d: bad or repeated HELP" % n
            helped.add(name)
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in TYPES or parts[2] in typed:
                return "line %d: bad or repeated TYPE" % n
            typed[parts[2]] = parts[3]
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            if not m:
                return "line %d: not a sample: %r" % (n, line)
            name = m.group(1)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in typed and base not in typed:
                return "line %d: %s has no TYPE before it" % (n, name)
            value = m.group(m.lastindex) if False else line.rsplit(" ", 1)[1]
            try:
                float(value.replace("Inf", "inf"))
            except ValueError:
                return "line %d: bad value %r" % (n, value)
            series = line.rsplit(" ", 1)[0]
            if series in seen:
                return "line %d: series repeated: %s" % (n, series)
            seen.add(series)
    return None


if __name__ == "__main__":
    why = main(sys.argv[1])
    if why:
        sys.stderr.write("promcheck: %s\n" % why)
        sys.exit(1)
