#!/usr/bin/env bash
# Validates YAML or JSON documents against a JSON Schema (draft-07) with
# ajv: the chart's values against charts/easel/values.schema.json, and the
# objects of kinds kubernetes-models has no schema for (ServiceMonitor,
# cert-manager's Certificate) against the schemas in hack/schema-check/.
#   hack/schema-check.sh [--kind KIND] SCHEMA FILE|- ...
# With --kind only documents of that kind are checked (and at least one
# must be there). Prints one line per problem, then
# "schema-check: N documents, M invalid"; exits 0 when all are valid, 1
# when one is not, 2 when it cannot run.
#
# It runs on the packages hack/openapi-check/package-lock.json pins (ajv,
# and yaml, which the OpenAPI validator there depends on), installed once
# into build/tools/openapi-check/<hash>/ and shared with that tool.
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/npm-tool.sh
. "$hack/npm-tool.sh"
npm_tool openapi-check "$hack/openapi-check"
SCHEMA_CHECK_MODULES=$NPM_TOOL_DIR/node_modules exec node "$hack/schema-check/check.mjs" "$@"
