#!/usr/bin/env bash
# Regenerates docs/configuration.md from the option tables (easel config-doc),
# or with --check fails when the committed file is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EASEL_BIN:-build/easel}
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
"$BIN" config-doc >"$tmp"
if [ "${1:-}" = --check ]; then
  if ! diff -u docs/configuration.md "$tmp"; then
    echo "docs/configuration.md is out of date: run hack/gen-config-doc.sh" >&2
    exit 1
  fi
  echo "docs/configuration.md matches the option tables"
else
  cp "$tmp" docs/configuration.md
fi
