#!/usr/bin/env bash
# Runs a Node.js script with real clients of easel's event streams on its
# module path: eventsource, ws, playwright-core and pg, at the exact
# versions hack/stream-clients/package-lock.json pins (test_stream_clients
# and the sse_fanout benchmark use it).
#   hack/stream-clients.sh [--chromium] SCRIPT.js [ARGS...]
# --chromium also makes sure Debian's chromium is installed (playwright-core
# drives it at /usr/bin/chromium; playwright never downloads a browser).
# Exit 2 when the tools cannot be installed; otherwise the script's status.
#
# The packages are installed on first use into
# build/tools/stream-clients/<hash>/, the hash taken over package.json and
# the lock: new versions get a new folder, the same ones are reused, and
# concurrent first uses wait on one lock. Without node or npm on the
# machine, Debian's packages are installed first. EASEL_TOOLS_DIR moves
# build/tools.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
pkgdir=$hack/stream-clients
base=${EASEL_TOOLS_DIR:-$(cd "$hack/.." && pwd)/build/tools}/stream-clients

fatal() { echo "stream-clients: $*" >&2; exit 2; }

need=()
if [ "${1:-}" = --chromium ]; then
  shift
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
[ $# -ge 1 ] || fatal "usage: stream-clients.sh [--chromium] SCRIPT.js [ARGS...]"
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "stream-clients: installing Debian's ${need[*]}" >&2
  "$hack/install-deps.sh" "${need[@]}" >&2 || fatal "could not install ${need[*]}"
fi

hash=$(cat "$pkgdir/package.json" "$pkgdir/package-lock.json" | sha256sum | cut -c1-16)
target=$base/$hash
if [ ! -e "$target/.installed" ]; then
  mkdir -p "$base"
  exec 8>"$base/.lock"
  flock 8
  if [ ! -e "$target/.installed" ]; then
    stage=$(mktemp -d "$base/.stage.XXXXXX")
    cp "$pkgdir/package.json" "$pkgdir/package-lock.json" "$stage/"
    echo "stream-clients: npm ci into $target" >&2
    # playwright-core has no install script, but the variable keeps any
    # playwright package from fetching a browser: Debian's is the one used
    if ! (cd "$stage" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
      >"$stage.log" 2>&1; then
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
# the scripts are CommonJS: require() searches NODE_PATH
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 NODE_PATH=$target/node_modules exec node "$@"
