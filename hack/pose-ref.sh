#!/usr/bin/env bash
# Runs MediaPipe's own pose solution (the npm package @mediapipe/pose, its
# wasm build) in Debian's headless Chromium on images, through
# tests/pose/mediapipe-ref.mjs: the reference easel's C pipeline is
# compared against (tests/e2e/test_pose.sh) and benchmarked beside
# (tests/bench/pose.sh).
#   hack/pose-ref.sh [--complexity 0|1|2] [--inference cpu|webgl] [--bench N] IMG...
# The pinned playwright-core and @mediapipe/pose (hack/pose-ref/package-lock.json)
# are installed on first use into build/tools/pose-ref/<hash>/, and Debian's
# chromium when it is missing (playwright never downloads a browser).
# Exit 2 when the tools cannot be installed; otherwise the harness's status.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$hack/.." && pwd)
extra=()
[ -x /usr/bin/chromium ] || extra+=(chromium)
# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"
npm_tool pose-ref "$hack/pose-ref" "${extra[@]}"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 NODE_PATH=$NPM_TOOL_DIR/node_modules exec node \
  "$root/tests/pose/mediapipe-ref.mjs" --pkg "$NPM_TOOL_DIR/node_modules/@mediapipe/pose" "$@"
