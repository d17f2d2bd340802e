# shellcheck shell=bash
# hack/npm-tool.sh - sourced (not run) by the scripts that run test-side
# tools from the npm registry: hack/openapi-check.sh,
# hack/webhook-receiver.sh and hack/stream-clients.sh.
#
# npm_tool NAME PKGDIR [DEBIAN-PACKAGE...] installs, on first use, the
# packages PKGDIR/package-lock.json pins into build/tools/NAME/<hash>/ and
# sets NPM_TOOL_DIR to that folder. The hash is taken over package.json and
# the lock: new versions get a new folder, the same ones are reused, and
# concurrent first uses wait on one lock (the ones that waited find the
# folder complete and install nothing). Debian's nodejs and npm, and the
# extra Debian packages named, are installed first when missing.
# EASEL_TOOLS_DIR moves build/tools. A failure exits 2 with "NAME: ...".
# playwright never downloads a browser here: Debian's is the one used.
npm_tool() {
  local name=$1 pkgdir=$2
  shift 2
  local hack base hash target stage need=("$@")
  hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  base=${EASEL_TOOLS_DIR:-$(cd "$hack/.." && pwd)/build/tools}/$name
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    echo "$name: installing Debian's ${need[*]}" >&2
    "$hack/install-deps.sh" "${need[@]}" >&2 ||
      { echo "$name: could not install ${need[*]}" >&2; exit 2; }
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
      echo "$name: npm ci into $target" >&2
      if ! (cd "$stage" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error) >"$stage.log" 2>&1; then
        cat "$stage.log" >&2
        rm -rf "$stage" "$stage.log"
        echo "$name: npm ci failed" >&2
        exit 2
      fi
      rm -f "$stage.log"
      rm -rf "$target"
      mv "$stage" "$target"
      : >"$target/.installed"
    fi
    exec 8>&-
  fi
  # shellcheck disable=SC2034 # the caller reads it
  NPM_TOOL_DIR=$target
}
