#!/usr/bin/env bash
# Installs every Debian package that building, testing and the demo need.
# Idempotent: packages already present are left alone, so the Makefile can run
# it whenever pkg-config cannot find a dependency. Needs root (or sudo).
#   hack/install-deps.sh              what make, make test and make demo need
#   hack/install-deps.sh fuzz         clang and its libFuzzer/sanitizer runtimes,
#                                     for make fuzz only
#   hack/install-deps.sh PKG...       just these (the test tools' installers
#                                     use it for Go and Node.js)
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libcurl4-openssl-dev libcjson-dev libyaml-dev libhiredis-dev libpq-dev
  libvips-dev libvips-tools libwebsockets-dev libssl-dev
  libcmocka-dev
  redis-server postgresql postgresql-client
  curl ca-certificates procps python3
  python3-pil python3-scipy python3-numpy
)
if [ "${1:-}" = fuzz ]; then
  # libclang-rt-dev carries libclang_rt.fuzzer and the ASan/UBSan runtimes
  PKGS=(clang libclang-rt-dev)
elif [ $# -gt 0 ]; then
  PKGS=("$@")
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postgresql and redis-server packages try to start system services;
# in containers there is no init, so forbid that: our tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
