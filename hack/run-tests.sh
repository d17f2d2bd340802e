#!/usr/bin/env bash
# Runs easel's tests: unit programs, integration programs against a real Redis
# and PostgreSQL started on loopback for the run, and the end-to-end scenario
# scripts through the binary (each starts its own servers).
#
#   hack/run-tests.sh all|unit|integration|e2e|fuzz [NAME-FILTER]
#
# Prints one line per test program or scenario and ends with the totals as
# "N passed, N failed". Exits non-zero if anything failed or nothing ran.
# EASEL_TEST_E2E_SCRIPTS, when set, lists the scenario scripts to run instead
# of tests/e2e/test_*.sh and tests/kube/test_*.sh (the leak check's own test
# runs a scenario that leaks on purpose this way).
#
# Tests leave nothing running (hack/test-procs.sh): the run exports a tag of
# its own in EASEL_TEST_RUN and gives each program and scenario
# EASEL_TEST_SCENARIO=<run>/<name>. When one ends, any process still carrying
# its tag, or server it started (hack/services.sh records those), is a FAIL
# and is stopped; at the end, so is any process still carrying the run's tag.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/test-procs.sh
. ./hack/test-procs.sh
EASEL_TEST_RUN=$(tp_new_tag)
export EASEL_TEST_RUN
unset EASEL_TEST_SCENARIO
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
# where hack/services.sh records the servers it starts for this run
export EASEL_TEST_RUN_DIR=$logdir
: >"$logdir/services"
svc=""
stop_services() {
  [ -n "$svc" ] && ./hack/services.sh stop "$svc" >/dev/null 2>&1
  [ -n "$svc" ] && rm -rf "$svc"
  svc=""
  return 0
}
# on any exit, even interrupted: nothing of this run is left behind
on_exit() {
  stop_services
  tp_sweep "EASEL_TEST_RUN=$EASEL_TEST_RUN" "$logdir/exit-sweep" || true
  tp_services_alive "$logdir/services" | while read -r pid _; do kill -9 "$pid" 2>/dev/null; done
  rm -rf "$logdir"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# leak_check NAME FROM [TAG]: after the program or scenario NAME ended,
# stops whatever still carries TAG (default: its scenario tag) and every
# server recorded from line FROM of the services file on that is still
# running, but the integration programs' shared ones. Anything found is a FAIL, listed with pid and command line.
leak_check() {
  local name=$1 from=$2 tag=${3:-EASEL_TEST_SCENARIO=$EASEL_TEST_RUN/$1} log=$logdir/$1.leaks
  local pid start what
  : >"$log"
  tp_sweep "$tag" "$log" || true
  while read -r pid start what; do
    # the integration programs' shared servers (one may restart Redis) are
    # the run's own, stopped by stop_services and checked at the end
    [ -n "$svc" ] && [ "${what#* }" = "$svc" ] && continue
    printf '  stopping pid %s: %s (recorded by hack/services.sh)\n' "$pid" "$what" >>"$log"
    kill -9 "$pid" 2>/dev/null
  done < <(tp_services_alive "$logdir/services" "$from")
  [ -s "$log" ] || return 0
  printf '  FAIL %-40s processes left running (%s), now stopped:\n' "$name" "$tag"
  sed 's/^/    /' "$log"
  failed=$((failed + 1)); failures+=("$name:leak")
}
svc_lines() { echo $(($(wc -l <"$logdir/services") + 1)); }

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
count_cmocka() {
  local log=$1 p f
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  echo "${p:-0} ${f:-0}"
}

# run_prog BIN [LABEL [ARG...]]: one cmocka-style program (a fuzz replay
# passes its LABEL "replay" and the input folders as ARGs).
run_prog() {
  local bin=$1 label=${2:-} name shown log rc p f from
  shift; [ $# -gt 0 ] && shift
  name=$(basename "$bin"); shown=${label:+$label }$name
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
  log=$logdir/${label:+$label-}$name.log
  from=$(svc_lines)
  EASEL_TEST_SCENARIO=$EASEL_TEST_RUN/$name timeout 600 "$bin" "$@" >"$log" 2>&1; rc=$?
  read -r p f < <(count_cmocka "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (no test ran in $shown)" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    printf '  FAIL %-40s %d passed, %d failed (rc=%d)\n' "$shown" "$p" "$f" "$rc"
    # libraries' warnings about the damaged inputs tests feed them would
    # push the failure itself out of the last lines
    grep -v -e '-WARNING \*\*' -e '^[[:space:]]*$' "$log" | sed 's/^/      /' | tail -40
    failures+=("${label:+$label-}$name")
  else
    printf '  ok   %-40s %d passed\n' "$shown" "$p"
  fi
  leak_check "$name" "$from"
}

# Scenario scripts print "PASS: what" / "FAIL: what" lines and exit non-zero on failure.
run_script() {
  local sc=$1 name log rc p f from
  name=$(basename "$sc" .sh)
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return 0
  log=$logdir/$name.log
  from=$(svc_lines)
  EASEL_TEST_SCENARIO=$EASEL_TEST_RUN/$name timeout 900 bash "$sc" >"$log" 2>&1; rc=$?
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
  leak_check "$name" "$from"
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
if [ "$what" = all ] || [ "$what" = unit ] || [ "$what" = fuzz ]; then
  echo "fuzz corpus and regression replay"
  for b in "$BUILD"/tests/fuzz/fuzz_*; do
    [ -x "$b" ] && run_prog "$b" replay "tests/fuzz/corpus/${b##*/}" "tests/fuzz/regressions/${b##*/}"
  done
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
  stop_services
fi

if [ "$what" = all ] || [ "$what" = e2e ]; then
  echo "end-to-end scenarios (build/easel, real servers)"
  for s in ${EASEL_TEST_E2E_SCRIPTS:-tests/e2e/test_*.sh tests/kube/test_*.sh}; do
    [ -f "$s" ] && run_script "$s"
  done
fi

# The end-of-run check: no process started under this run's tag, and no
# server it recorded, may outlive it.
leak_check "(end of run)" 1 "EASEL_TEST_RUN=$EASEL_TEST_RUN"
echo
if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
