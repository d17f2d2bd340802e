#!/usr/bin/env bash
# make bench: prints the figures the issues set targets for. Starts its own
# Redis (no append-only file, as a queue benchmark should) and PostgreSQL on
# loopback, then runs every build/bench/bench_* program. Benchmarks report;
# they do not fail the build.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
svc=$(mktemp -d /tmp/easel-bench.XXXXXX)
trap './hack/services.sh stop "$svc" >/dev/null 2>&1; rm -rf "$svc"' EXIT
EASEL_REDIS_AOF=0 ./hack/services.sh start "$svc" >/dev/null || exit 1
. "$svc/env"
export EASEL_BIN=$PWD/$BUILD/easel
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
export EASEL_BENCH_DIR=$svc/images
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo
  echo "== $(basename "$b")"
  "$b" | tee "$svc/$(basename "$b").out" || echo "($(basename "$b") exited $?)"
done
# scripted benchmarks (they start their own servers and test doubles)
for b in tests/bench/*.sh; do
  [ -f "$b" ] || continue
  echo
  echo "== $(basename "$b" .sh)"
  bash "$b" 2>/dev/null | grep -v '^{' || echo "($(basename "$b") exited $?)"
done
if [ -s "$svc/bench_variants.out" ]; then
  echo
  echo "== sharp (npm) on the same images and settings"
  ./hack/bench-sharp.sh "$EASEL_BENCH_DIR" "$svc/bench_variants.out" \
    || echo "(sharp comparison unavailable)"
fi
