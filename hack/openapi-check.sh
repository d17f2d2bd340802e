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

# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"
npm_tool openapi-check "$pkgdir"
target=$NPM_TOOL_DIR
OPENAPI_CHECK_MODULES=$target/node_modules exec node "$pkgdir/check.mjs" "$@"
