#!/usr/bin/env bash
# The controller is killed with SIGKILL twice in the middle of a batch and
# restarted each time: every job still ends exactly once, nothing is left
# leased or in flight.
. "$(dirname "$0")/lib.sh"
setup_services
samples
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml
N=24
for i in $(seq 1 $N); do
  push "{\"image_id\":\"img-$i\",\"original_url\":\"file://$SAMPLES/room-$(( (i % 3) + 1 )).jpg\",\"room_type\":\"bedroom\",\"style\":\"modern\",\"seed\":$i,\"latency_ms\":1200}"
done
running() { [ "$(count_jobs "'running'")" -ge "$1" ]; }

start_controller ctl1 --concurrency 4 --lease 2s --heartbeat 300ms --worker-stale 3s || { fail "start 1"; exit 1; }
wait_until 30 running 3
kill -9 "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
pass "controller 1 killed with $(count_jobs "'running','dispatched'") attempts in flight and $(count_jobs "'succeeded'") done"

start_controller ctl2 --concurrency 4 --lease 2s --heartbeat 300ms --worker-stale 3s || { fail "start 2"; exit 1; }
wait_for 60 'test "$(count_jobs "'\''succeeded'\''")" -ge 10'
wait_until 10 running 2
kill -9 "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
pass "controller 2 killed with $(count_jobs "'running','dispatched'") attempts in flight and $(count_jobs "'succeeded'") done"

start_controller ctl3 --concurrency 4 --lease 2s --heartbeat 300ms --worker-stale 3s || { fail "start 3"; exit 1; }
wait_until 120 all_terminal $N
check "all $N jobs succeeded" eq "$(count_jobs "'succeeded'")" $N
check "every job recorded exactly one terminal event" eq "$(sql "select count(*) from (select job_id from job_events where to_status in ('succeeded','failed','dead','canceled') group by job_id having count(*) = 1) x")" $N
check "no job was created twice" eq "$(sql "select count(distinct payload->>'image_id') from jobs")" $N
check "the restarted controllers took over expired leases" grep -q "took over an expired lease" "$WORK/ctl2.log" "$WORK/ctl3.log"
# leases of jobs that finished while their controller was dead are acked
# once a live controller takes them over (after they expire)
wait_for 20 'test "$(rcli ZCARD easel:jobs:leases)" = 0 && test "$(rcli HLEN easel:jobs:claims)" = 0'
check "no leases left" eq "$(rcli ZCARD easel:jobs:leases)" 0
check "no claims left" eq "$(rcli HLEN easel:jobs:claims)" 0
check "nothing pending" eq "$(rcli LLEN easel:jobs)" 0
check "no in-flight lists left" eq "$(rcli --scan --pattern 'easel:jobs:inflight:*' | wc -l)" 0
check "no concurrency place is left behind (taken-over jobs give back the dead controllers' places)" \
  eq "$(rcli ZCARD easel:jobs:running:local/vips-stage)" 0
check "nothing dead-lettered" eq "$(rcli LLEN easel:jobs:dead)" 0
finish
