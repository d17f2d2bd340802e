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
base=${EASEL_TOOLS_DIR:-$(cd "$hack/.." && pwd)/build/tools}/webhook-receiver

fatal() { echo "webhook-receiver: $*" >&2; exit 2; }

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "webhook-receiver: installing Debian's ${need[*]}" >&2
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
    echo "webhook-receiver: npm ci into $target" >&2
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
WEBHOOK_RECEIVER_MODULES=$target/node_modules exec node "$pkgdir/receiver.mjs" "$@"
