#!/usr/bin/env python3
"""promq.py FILE NAME [k=v,...]: the sum of the samples of NAME in the
Prometheus text file FILE whose labels include every k=v given (0 when
none match). Prints the number; exits 1 when FILE has no family NAME at
all (HELP/TYPE or a sample), so a renamed metric fails loudly."""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def main(path, name, want):
    total, known = 0.0, False
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# TYPE ") and line.split(" ")[2] == name:
            known = True
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        known = True
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\")
                  for k, v in LABEL.findall(m.group(2) or "")}
        if all(labels.get(k) == v for k, v in want.items()):
            total += float(m.group(3))
    if not known:
        print("no metric %s in %s" % (name, path), file=sys.stderr)
        return 1
    print(int(total) if total == int(total) else total)
    return 0


if __name__ == "__main__":
    want = {}
    if len(sys.argv) > 3 and sys.argv[3]:
        for kv in sys.argv[3].split(","):
            k, v = kv.split("=", 1)
            want[k] = v
    sys.exit(main(sys.argv[1], sys.argv[2], want))
