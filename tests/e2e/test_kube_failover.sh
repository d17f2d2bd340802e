#!/usr/bin/env bash
# easel on Kubernetes when things fail: the controller killed mid-batch and
# restarted (running Jobs are adopted, nothing runs twice), two controllers
# with one leader and the leader killed, watches cut with 410 Gone, and the
# API server restarted.
. "$(dirname "$0")/lib.sh"
kube_setup
kube_registry "$WORK/models.yaml"
FLAGS=(--executor kubernetes --registry-configmap default/easel-models --concurrency 8
       --lease 2s --heartbeat 300ms --worker-stale 10s --job-ttl 1h
       --leader-elect --leader-lease 3s --leader-renew-deadline 2s --leader-retry 300ms)
holder() { kubectl get lease easel-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }

start_controller c1 "${FLAGS[@]}" --controller-id c1 || { fail "start c1"; exit 1; }
C1=$CTL_PID
start_controller c2 "${FLAGS[@]}" --controller-id c2 || { fail "start c2"; exit 1; }
C2=$CTL_PID
wait_for 15 'test -n "$(holder)"'
first=$(holder)
check "one of the two controllers leads (Lease holder $first)" bash -c "[ '$first' = c1 ] || [ '$first' = c2 ]"

# --- a batch, then the leader is killed mid-batch
N=6
for i in $(seq 1 $N); do
  push "{\"image_id\":\"f-$i\",\"original_url\":\"file://$SAMPLES/room-$(( (i % 3) + 1 )).jpg\",\"room_type\":\"loft\",\"style\":\"industrial\",\"seed\":$i,\"latency_ms\":8000}"
done
wait_for 30 'test "$(count_jobs "'\''running'\''")" -ge 3'
running_before=$(count_jobs "'running'")
if [ "$first" = c1 ]; then victim=c1; survivor=c2; else victim=c2; survivor=c1; fi
if [ "$victim" = c1 ]; then vpid=$C1; else vpid=$C2; fi
kill -9 "$vpid"
pass "leader $victim killed with $running_before attempts running"
wait_for 20 'test "$(holder)" = "$survivor"'
check "the other controller takes the Lease" eq "$(holder)" "$survivor"
start_controller c3 "${FLAGS[@]}" --controller-id "$victim" || fail "restart $victim"
wait_for 90 'all_terminal $N'
check "all $N jobs succeeded" eq "$(count_jobs "'succeeded'")" $N
check "every job ran exactly one attempt (running Jobs were adopted, not rerun)" \
  eq "$(sql "select count(*) from jobs where attempts = 1")" $N
check "exactly one Job per job" eq \
  "$(kubectl get jobs -l app.kubernetes.io/managed-by=easel-controller -o name | wc -l)" $N
check "a restarted or surviving controller adopted running Jobs" \
  grep -q "adopted running attempt" "$WORK/c1.log" "$WORK/c2.log" "$WORK/c3.log"

# --- watches cut: history compacted (410 Gone) and streams closed
fake compact; fake close-watches
for i in 1 2; do
  push "{\"image_id\":\"w-$i\",\"original_url\":\"file://$SAMPLES/room-1.jpg\",\"room_type\":\"loft\",\"style\":\"coastal\",\"seed\":$i}"
done
wait_for 60 'all_terminal $((N + 2))'
check "jobs complete after the watches got 410 Gone" eq "$(count_jobs "'succeeded'")" $((N + 2))
check "the controllers listed again after 410" grep -q "listing again" "$WORK/c1.log" "$WORK/c2.log" "$WORK/c3.log"

# --- the API server restarts while jobs run
for i in 1 2 3; do
  push "{\"image_id\":\"r-$i\",\"original_url\":\"file://$SAMPLES/room-2.jpg\",\"room_type\":\"loft\",\"style\":\"coastal\",\"seed\":$i,\"latency_ms\":2000}"
done
wait_for 30 'test "$(count_jobs "'\''running'\''")" -ge 1'
kill -9 "$API_PID"; wait "$API_PID" 2>/dev/null
sleep 1
start_fake_api || fail "fake API server restart"
wait_for 90 'all_terminal $((N + 5))'
check "jobs complete across an API server restart" eq "$(count_jobs "'succeeded'")" $((N + 5))
check "no job ended twice" eq "$(sql "select count(*) from (select job_id from job_events where to_status in ('succeeded','failed','dead','canceled') group by job_id having count(*) > 1) x")" 0
out=$(kube_validate_stored leases)
check "the leader-election Lease passes strict schema validation" grep -q '^kube-validate: 1 objects, 0 invalid' <<<"$out"
finish
