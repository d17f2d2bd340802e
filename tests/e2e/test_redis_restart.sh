#!/usr/bin/env bash
# Redis is restarted while jobs are queued and running: the controller
# reconnects and every job still ends exactly once.
. "$(dirname "$0")/lib.sh"
setup_services
samples
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml
N=12
for i in $(seq 1 $N); do
  push "{\"image_id\":\"r-$i\",\"original_url\":\"file://$SAMPLES/room-1.jpg\",\"style\":\"coastal\",\"seed\":$i,\"latency_ms\":800}"
done
start_controller ctl --concurrency 3 --lease 3s --heartbeat 300ms || { fail "start"; exit 1; }
wait_for 30 'test "$(count_jobs "'\''running'\''")" -ge 2'
"$ROOT/hack/services.sh" restart-redis "$WORK/svc" >/dev/null 2>&1
pass "redis restarted with $(count_jobs "'succeeded'") of $N done"
wait_until 90 all_terminal $N
check "all $N jobs succeeded" eq "$(count_jobs "'succeeded'")" $N
check "one terminal event each" eq "$(sql "select count(*) from job_events where to_status='succeeded'")" $N
check "controller logged the lost connection" grep -q "connection lost\|claim failed" "$WORK/ctl.log"
check "controller is still running" kill -0 "$CTL_PID"
sleep 1
check "no leases left" eq "$(rcli ZCARD easel:jobs:leases)" 0
finish
