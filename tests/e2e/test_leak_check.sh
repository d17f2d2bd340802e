#!/usr/bin/env bash
# The check that tests leave nothing running can fail, and touches nothing
# of anyone else's: hack/test-procs.sh finds a tagged process through setsid
# and a double fork but not one of another run or its own shell, and stops
# it; and a sub-run of hack/run-tests.sh over a scenario that leaks on
# purpose (a process with its scenario tag, one with only the run's tag, and
# Redis and PostgreSQL, which hide their environment) reports each leak as a
# FAIL counted in the totals, and stops them all.
. "$(dirname "$0")/lib.sh"

# --- the finder, in this shell
mine=EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO/finder
(
  export EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO/finder
  setsid sleep 300 </dev/null >/dev/null 2>&1 &
  ( (sleep 301 </dev/null >/dev/null 2>&1 &) & )
)
# a process of another run on the same machine, which must not be touched
env EASEL_TEST_RUN=another-run EASEL_TEST_SCENARIO=another-run/x sleep 302 </dev/null >/dev/null 2>&1 &
other=$!
PIDS+=("$other")
wait_for 5 'test "$(tp_tagged "$mine" | wc -l)" -eq 2'
found=$(tp_tagged "$mine" | while read -r p; do tp_cmdline "$p"; done | sort | tr '\n' ,)
check "the finder sees the tagged processes, through setsid and a double fork" eq "$found" "sleep 300,sleep 301,"
check "the finder leaves out the calling shell and its ancestors" bash -c \
  "! grep -qx '$$' <<<'$(tp_tagged "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO")'"
tp_sweep "$mine" "$WORK/sweep.log"; rc=$?
check "a sweep that stopped something says so" eq "$rc" 1
check "and names what it stopped, with its command line" eq "$(grep -c 'stopping pid [0-9]*: sleep 30[01]$' "$WORK/sweep.log")" 2
check "after the sweep nothing carries the tag" eq "$(tp_tagged "$mine")" ""
tp_sweep "$mine" "$WORK/sweep2.log"; rc=$?
check "a sweep with nothing to stop says so" eq "$rc" 0
check "another run's process was not touched" tp_alive "$other"
kill "$other"

# --- a sub-run of run-tests over a scenario that leaks
L=$WORK/leaky
mkdir -p "$L"
cat >"$L/test_leaky.sh" <<'SH'
#!/usr/bin/env bash
# leaves behind: a process with its scenario tag, one with only the run's
# tag, and the servers of hack/services.sh
setsid sleep 303 </dev/null >/dev/null 2>&1 &
echo "$!" >"$LEAKY/scenario.pid"
(env -u EASEL_TEST_SCENARIO setsid sleep 304 </dev/null >/dev/null 2>&1 & echo "$!" >"$LEAKY/run.pid")
"$EASEL_ROOT/hack/services.sh" start "$LEAKY/svc" >"$LEAKY/services.log" 2>&1 || { echo "FAIL: services"; exit 1; }
echo "PASS: the leaky scenario ran"
SH
out=$(LEAKY=$L EASEL_TEST_E2E_SCRIPTS=$L/test_leaky.sh "$ROOT/hack/run-tests.sh" e2e 2>&1); rc=$?
echo "$out" | sed 's/^/    | /'
spid=$(cat "$L/scenario.pid"); rpid=$(cat "$L/run.pid")
redis=$(sed -n 's/^\([0-9]*\) [0-9]* redis-server .*/\1/p' "$L/svc/service-pids")
pg=$(sed -n 's/^\([0-9]*\) [0-9]* postgres .*/\1/p' "$L/svc/service-pids")
check "the sub-run fails" test "$rc" -ne 0
check "the scenario's leftover is a FAIL of that scenario" grep -q '^  FAIL test_leaky .*processes left running' <<<"$out"
check "naming its pid and command line" grep -q "^      stopping pid $spid: sleep 303\$" <<<"$out"
check "the servers it left are named too, Redis by its recorded pid" \
  grep -q "^      stopping pid $redis: redis-server $L/svc (recorded by hack/services.sh)" <<<"$out"
check "and PostgreSQL" grep -q "^      stopping pid $pg: " <<<"$out"
check "a process with only the run's tag is caught by the end-of-run check" \
  grep -q '^  FAIL (end of run) .*processes left running' <<<"$out"
check "naming its pid and command line" grep -q "^      stopping pid $rpid: sleep 304\$" <<<"$out"
check "the leaks count in the totals" grep -qx '1 passed, 2 failed' <<<"$out"
check "and everything left was stopped" bash -c "! grep -q . <<<'$(for p in $spid $rpid $redis $pg; do tp_alive "$p" && echo "$p"; done)'"
for p in $spid $rpid $redis $pg; do tp_alive "$p" && kill -9 "$p"; done
finish
