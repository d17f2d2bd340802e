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

fatal() { echo "stream-clients: $*" >&2; exit 2; }

extra=()
if [ "${1:-}" = --chromium ]; then
  shift
  [ -x /usr/bin/chromium ] || extra+=(chromium)
fi
[ $# -ge 1 ] || fatal "usage: stream-clients.sh [--chromium] SCRIPT.js [ARGS...]"
# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"
npm_tool stream-clients "$pkgdir" "${extra[@]}"
target=$NPM_TOOL_DIR
# the scripts are CommonJS: require() searches NODE_PATH
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 NODE_PATH=$target/node_modules exec node "$@"
