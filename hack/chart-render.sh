#!/usr/bin/env bash
# Renders a Helm chart with the same template engine and function library
# Helm uses (../shared/tools/chart-render, since the helm binary cannot be
# installed here). Builds the renderer once into build/tools/.
#   hack/chart-render.sh [-f values.yaml]... [--set a=b]... [--name R] [--namespace N] CHART_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/tools/chart-render
src=${EASEL_CHART_RENDER_SRC:-$root/../shared/tools/chart-render}
if [ ! -x "$bin" ]; then
  mkdir -p "$root/build/tools"
  "$src/build.sh" "$bin" >"$root/build/tools/chart-render.log" 2>&1 || {
    cat "$root/build/tools/chart-render.log" >&2; exit 2; }
fi
exec "$bin" "$@"
