#!/usr/bin/env bash
# Renders a Helm chart as `helm template` would, with the project's own
# renderer (hack/chart-render/: Go's text/template, Sprig and Helm's
# functions), since the helm binary is not to be had from Debian or npm.
#   hack/chart-render.sh [--name R] [--namespace N] [-f values.yaml]... [--set a.b=c]... CHART_DIR
# Builds build/tools/chart-render when it is missing or older than its
# sources, from Debian's Go and Go library packages (installed when missing;
# GOPATH mode, no module downloads). EASEL_TOOLS_DIR moves build/tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/chart-render
tools=${EASEL_TOOLS_DIR:-$(cd "$here/.." && pwd)/build/tools}
bin=$tools/chart-render
# Debian 12's Go, and the libraries main.go imports (sigs.k8s.io/yaml
# brings gopkg.in/yaml.v2 along)
debs=(golang-1.19-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)
gocode=/usr/share/gocode/src

stale() {
  [ -x "$bin" ] || return 0
  local f
  for f in "$src"/*.go "$here/chart-render.sh"; do [ "$f" -nt "$bin" ] && return 0; done
  return 1
}

if stale; then
  mkdir -p "$tools"
  exec 9>"$tools/.chart-render.lock"
  flock 9
  if stale; then
    if [ ! -x /usr/lib/go-1.19/bin/go ] || [ ! -d "$gocode/github.com/Masterminds/sprig" ] ||
       [ ! -d "$gocode/sigs.k8s.io/yaml" ]; then
      echo "chart-render: installing ${debs[*]}" >&2
      "$here/install-deps.sh" "${debs[@]}" >&2 || { echo "chart-render: could not install Go" >&2; exit 2; }
    fi
    log=$tools/chart-render.log
    if ! (cd "$src" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$tools/go-cache" \
          /usr/lib/go-1.19/bin/go build -o "$bin.new" .) >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$bin.new"; exit 2
    fi
    mv "$bin.new" "$bin"
  fi
  exec 9>&-
fi
exec "$bin" "$@"
