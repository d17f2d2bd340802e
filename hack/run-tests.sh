#!/usr/bin/env bash
# Runs easel's tests: unit programs, integration programs against a real Redis
# and PostgreSQL started on loopback for the run, and the end-to-end scenario
# scripts through the binary (each starts its own servers).
#
#   hack/run-tests.sh all|unit|integration|e2e|fuzz [NAME-FILTER]
#
# Prints one line per test program or scenario and ends with the totals as
# "N passed, N failed". Exits non-zero if anything failed or nothing ran.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}; filter=${2:-}
export EASEL_BIN=$PWD/$BUILD/easel
export EASEL_BUILD=$PWD/$BUILD
export EASEL_ROOT=$PWD
# Under make test-asan: leaks in system libraries' one-time start-up state are
# suppressed (tests/lsan.supp); any UBSan report fails the program.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

passed=0; failed=0; failures=()
logdir=$(mktemp -d /tmp/easel-tests.XXXXXX)
svc=""
cleanup() {
  [ -n "$svc" ] && ./hack/services.sh stop "$svc" >/dev/null 2>&1
  [ -n "$svc" ] && rm -rf "$svc"
  return 0
}
trap cleanup EXIT

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
count_cmocka() {
  local log=$1 p f
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  echo "${p:-0} ${f:-0}"
}

run_prog() {
  local bin=$1 name log rc p f
  name=$(basename "$bin")
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
  log=$logdir/$name.log
  timeout 600 "$bin" >"$log" 2>&1; rc=$?
  read -r p f < <(count_cmocka "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (no test ran in $name)" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    printf '  FAIL %-40s %d passed, %d failed (rc=%d)\n' "$name" "$p" "$f" "$rc"
    sed 's/^/      /' "$log" | tail -40
    failures+=("$name")
  else
    printf '  ok   %-40s %d passed\n' "$name" "$p"
  fi
}

# Scenario scripts print "PASS: what" / "FAIL: what" lines and exit non-zero on failure.
run_script() {
  local sc=$1 name log rc p f
  name=$(basename "$sc" .sh)
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
  log=$logdir/$name.log
  timeout 900 bash "$sc" >"$log" 2>&1; rc=$?
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    printf '  FAIL %-40s %d passed, %d failed (rc=%d)\n' "$name" "$p" "$f" "$rc"
    sed 's/^/      /' "$log" | tail -60
    failures+=("$name")
  else
    printf '  ok   %-40s %d passed\n' "$name" "$p"
  fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
  echo "unit tests"
  for b in "$BUILD"/tests/unit/test_*; do [ -x "$b" ] && run_prog "$b"; done
fi

# ---- fuzz replay (tests/fuzz) -------------------------------------------
# Every fuzz target, linked with tests/fuzz/replay_main.c by the normal
# compiler, replays its seed corpus and every crash ever found
# (tests/fuzz/regressions/<target>/): one test per input. Part of the unit
# phase; `fuzz` runs it alone. Under make test-asan it runs sanitized.
run_replay() {
  local bin=$1 name log rc p f
  name=$(basename "$bin")
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
  log=$logdir/$name.log
  timeout 600 "$bin" "tests/fuzz/corpus/$name" "tests/fuzz/regressions/$name" >"$log" 2>&1; rc=$?
  read -r p f < <(count_cmocka "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (no input replayed by $name)" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    printf '  FAIL %-40s %d passed, %d failed (rc=%d)\n' "replay $name" "$p" "$f" "$rc"
    sed 's/^/      /' "$log" | tail -40
    failures+=("replay-$name")
  else
    printf '  ok   %-40s %d passed\n' "replay $name" "$p"
  fi
}
if [ "$what" = all ] || [ "$what" = unit ] || [ "$what" = fuzz ]; then
  echo "fuzz corpus and regression replay"
  for b in "$BUILD"/tests/fuzz/fuzz_*; do [ -x "$b" ] && run_replay "$b"; done
fi
# ---- end of fuzz replay ---------------------------------------------------

if [ "$what" = all ] || [ "$what" = integration ]; then
  echo "integration tests (real Redis and PostgreSQL on loopback)"
  svc=$(mktemp -d /tmp/easel-svc.XXXXXX)
  if ./hack/services.sh start "$svc" >"$logdir/services.log" 2>&1; then
    # shellcheck disable=SC1091
    . "$svc/env"
    export EASEL_TEST_SERVICES_DIR=$svc
    for b in "$BUILD"/tests/integration/test_*; do [ -x "$b" ] && run_prog "$b"; done
  else
    echo "  FAIL could not start Redis and PostgreSQL:"; sed 's/^/      /' "$logdir/services.log"
    failed=$((failed + 1)); failures+=(services)
  fi
  cleanup; svc=""
fi

if [ "$what" = all ] || [ "$what" = e2e ]; then
  echo "end-to-end scenarios (build/easel, real servers)"
  for s in tests/e2e/test_*.sh tests/kube/test_*.sh; do [ -f "$s" ] && run_script "$s"; done
fi

rm -rf "$logdir"
echo
if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
