#!/usr/bin/env bash
# A webhook receiver for the tests that verifies what it receives with the
# Standard Webhooks reference library from the npm registry
# (hack/webhook-receiver/receiver.mjs says what it answers and logs).
#   hack/webhook-receiver.sh --port P --log FILE --secret whsec_... [--secret ...]
# Exit 2: the tool cannot run.
#
# The packages its package-lock.json pins are installed on first use into
# build/tools/webhook-receiver/<hash>/, as hack/openapi-check.sh does.
# EASEL_TOOLS_DIR moves build/tools.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
pkgdir=$hack/webhook-receiver

# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"
npm_tool webhook-receiver "$pkgdir"
target=$NPM_TOOL_DIR
WEBHOOK_RECEIVER_MODULES=$target/node_modules exec node "$pkgdir/receiver.mjs" "$@"
