#!/usr/bin/env bash
# easel's OpenAPI tool: checks docs/openapi.json itself and checks real
# responses against it, with validators from the npm registry
# (hack/openapi-check/check.mjs has the details).
#   hack/openapi-check.sh doc FILE
#   hack/openapi-check.sh routes FILE
#   hack/openapi-check.sh response [--unrouted] FILE METHOD PATH STATUS BODYFILE [CONTENT-TYPE [HEADERSFILE]]
#   hack/openapi-check.sh batch [--unrouted] FILE < lines
# Exit 0: valid; 1: invalid (or not documented); 2: the tool cannot run.
#
# The npm packages its package-lock.json pins are installed on first use
# into build/tools/openapi-check/<hash>/, the hash taken over package.json
# and the lock: new versions get a new folder, the same ones are reused.
# Without node or npm on the machine, Debian's packages are installed first.
# EASEL_TOOLS_DIR moves build/tools.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
pkgdir=$hack/openapi-check
base=${EASEL_TOOLS_DIR:-$(cd "$hack/.." && pwd)/build/tools}/openapi-check

fatal() { echo "openapi-check: $*" >&2; exit 2; }

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "openapi-check: installing Debian's ${need[*]}" >&2
  "$hack/install-deps.sh" "${need[@]}" >&2 || fatal "could not install ${need[*]}"
fi

hash=$(cat "$pkgdir/package.json" "$pkgdir/package-lock.json" | sha256sum | cut -c1-16)
target=$base/$hash
if [ ! -e "$target/.installed" ]; then
  mkdir -p "$base"
  # Concurrent first uses queue on the lock; the ones that waited find the
  # folder complete and install nothing.
  exec 8>"$base/.lock"
  flock 8
  if [ ! -e "$target/.installed" ]; then
    stage=$(mktemp -d "$base/.stage.XXXXXX")
    cp "$pkgdir/package.json" "$pkgdir/package-lock.json" "$stage/"
    echo "openapi-check: npm ci into $target" >&2
    if ! (cd "$stage" && npm ci --no-audit --no-fund --loglevel=error) >"$stage.log" 2>&1; then
      cat "$stage.log" >&2
      rm -rf "$stage" "$stage.log"
      fatal "npm ci failed"
    fi
    rm -f "$stage.log"
    rm -rf "$target"
    mv "$stage" "$target"
    : >"$target/.installed"
  fi
  exec 8>&-
fi
OPENAPI_CHECK_MODULES=$target/node_modules exec node "$pkgdir/check.mjs" "$@"
