#!/usr/bin/env bash
# Strict validation of Kubernetes objects against the official API schemas,
# refusing unknown fields (hack/kube-validate/validate.mjs says how).
#   hack/kube-validate.sh [--skip-unknown-kinds] FILE|- ...
# Prints one line per problem and "kube-validate: N objects, M invalid";
# exits 0 when all are valid, 1 when one is not, 2 when it cannot run.
#
# On first use it installs the npm packages that package-lock.json pins into
# build/tools/kube-validate/<hash of package.json and the lock>/, so a change
# of versions gets a fresh install and an unchanged one is never refetched.
# Node.js and npm come from Debian's packages when the machine has neither.
# EASEL_TOOLS_DIR moves build/tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/kube-validate
tools=${EASEL_TOOLS_DIR:-$(cd "$here/.." && pwd)/build/tools}

die() { echo "kube-validate: $*" >&2; exit 2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "kube-validate: installing Debian's nodejs and npm" >&2
  "$here/install-deps.sh" nodejs npm >&2 || die "could not install nodejs and npm"
fi

key=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
dir=$tools/kube-validate/$key
if [ ! -f "$dir/.installed" ]; then
  mkdir -p "$tools/kube-validate"
  # one installer at a time; whoever waited finds the work done
  exec 9>"$tools/kube-validate/.lock"
  flock 9
  if [ ! -f "$dir/.installed" ]; then
    tmp=$(mktemp -d "$tools/kube-validate/.new.XXXXXX")
    cp "$src/package.json" "$src/package-lock.json" "$tmp/"
    echo "kube-validate: installing its npm packages into $dir" >&2
    if ! (cd "$tmp" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error) >"$tmp.log" 2>&1; then
      cat "$tmp.log" >&2
      rm -rf "$tmp" "$tmp.log"
      die "npm ci failed"
    fi
    rm -f "$tmp.log"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    touch "$dir/.installed"
  fi
  exec 9>&-
fi
KUBE_VALIDATE_MODULES=$dir/node_modules exec node "$src/validate.mjs" "$@"
