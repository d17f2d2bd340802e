#!/usr/bin/env bash
# The registry examples in the docs are real: every model entry shown in
# docs/registry.md and docs/providers.md, and docs/examples/models.yaml,
# pass `easel registry validate`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EASEL=${EASEL_BIN:-$ROOT/build/easel}
DIR=$(mktemp -d /tmp/easel-docs.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
FAILS=0
check() { local d=$1; shift; if "$@"; then echo "PASS: $d"; else echo "FAIL: $d"; FAILS=$((FAILS + 1)); fi; }
# every ```yaml block of a doc that lists models (entries start "  - id:")
blocks() {
  python3 - "$1" "$2" <<'PY'
import re, sys
src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
models = []
for b in re.findall(r"```yaml\n(.*?)```", text, re.S):
    b = re.sub(r"^models:\n", "", b)
    if b.lstrip().startswith("- id:"):
        models.append(b.rstrip())
ids = set(re.findall(r"^\s*- id: (\S+)", "\n".join(models), re.M))
refs = set(re.findall(r"fallback: \[([^\]]*)\]", "\n".join(models)))
extra = {x.strip() for r in refs for x in r.split(",")} - ids
with open(out, "w") as f:
    f.write("version: 1\nmodels:\n" + "\n".join(models) + "\n")
    for x in sorted(extra):  # fallbacks the doc names but shows elsewhere
        f.write("  - id: %s\n    provider: %s\n" % (x, "local" if x.startswith("local/") else "replicate"))
print(len(models))
PY
}
for doc in docs/registry.md docs/providers.md; do
  n=$(blocks "$ROOT/$doc" "$DIR/$(basename "$doc").yaml")
  check "$doc shows model entries ($n blocks)" test "$n" -ge 1
  check "every model entry in $doc is valid" "$EASEL" registry validate "$DIR/$(basename "$doc").yaml"
done
check "docs/examples/models.yaml is valid" "$EASEL" registry validate "$ROOT/docs/examples/models.yaml"
echo "---"
[ "$FAILS" -eq 0 ]
