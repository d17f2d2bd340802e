#!/usr/bin/env bash
# Recovery is not starved by a backlog: two controllers are kept full by a
# long queue, one is killed with SIGKILL while it holds jobs it adopted but
# has not started, and the survivor (which never has a free slot while the
# backlog lasts) must still take those leases over and start the jobs within
# two lease periods, ahead of the jobs still waiting in the queue. Every job
# ends succeeded exactly once.
#
# A controller holds at most --concurrency jobs, so "adopted but not started"
# is made to last by a model-wide concurrency limit below the two
# controllers' total: one job at a time waits for a place of its model.
. "$(dirname "$0")/lib.sh"
setup_services
# small sources keep each attempt short, so the timing below measures
# recovery rather than image work on a busy machine
SAMPLES=$WORK/samples
"$ROOT/hack/sample-images.sh" "$SAMPLES" 320 240 >/dev/null || { fail "sample images"; exit 1; }
REG=$WORK/registry.yaml
sed '/^  - id: local\/vips-stage$/,/^  - id:/ s/^    concurrency: 8$/    concurrency: 3/' \
  "$ROOT/tests/e2e/registry.yaml" >"$REG"
grep -q '^    concurrency: 3$' "$REG" || { fail "test registry (model concurrency 3)"; exit 1; }
export EASEL_REGISTRY=$REG
LEASE_S=${LEASE_S:-5}
N=60
for i in $(seq 1 $N); do
  push "{\"image_id\":\"img-$i\",\"original_url\":\"file://$SAMPLES/room-$(( (i % 3) + 1 )).jpg\",\"room_type\":\"bedroom\",\"style\":\"modern\",\"seed\":$i,\"latency_ms\":800}"
done
FLAGS=(--concurrency 2 --claim-batch 8 --lease "${LEASE_S}s" --heartbeat 300ms --worker-stale 3s)
declare -A PID
start_controller ctl-a --controller-id ctl-a "${FLAGS[@]}" || { fail "start ctl-a"; exit 1; }
PID[ctl-a]=$CTL_PID
start_controller ctl-b --controller-id ctl-b "${FLAGS[@]}" || { fail "start ctl-b"; exit 1; }
PID[ctl-b]=$CTL_PID

# queued_of CONTROLLER: jobs whose lease it holds and whose record is still
# queued (adopted, not started)
queued_of() {
  local ids id
  ids=$(rcli HGETALL easel:jobs:owners | paste - - | awk -v c="$1" '$2 == c {print $1}')
  for id in $ids; do
    [ "$(status_of "$id")" = queued ] && echo "$id"
  done
}
# whichever controller holds such a job becomes the victim
VICTIM=""
pick_victim() {
  [ "$(count_jobs "'running'")" -ge 2 ] || return 1
  local c
  for c in ctl-a ctl-b; do
    [ -n "$(queued_of $c)" ] && { VICTIM=$c; return 0; }
  done
  return 1
}
wait_until 60 pick_victim || { fail "no controller ever held an adopted job it had not started"; exit 1; }
SURVIVOR=ctl-a; [ "$VICTIM" = ctl-a ] && SURVIVOR=ctl-b
kill -9 "${PID[$VICTIM]}"; wait "${PID[$VICTIM]}" 2>/dev/null
KILLED=$(date +%s.%N)
# Read after the kill: nothing can start these any more but a takeover.
mapfile -t HELD < <(queued_of "$VICTIM")
check "at the kill $VICTIM held adopted jobs it had not started (${#HELD[@]})" test "${#HELD[@]}" -ge 1
check "the backlog is long at the kill ($(rcli LLEN easel:jobs) pending)" test "$(rcli LLEN easel:jobs)" -ge 10

started() { local id; for id in "${HELD[@]}"; do [ "$(status_of "$id")" != queued ] || return 1; done; }
wait_until $((2 * LEASE_S + 10)) started
PENDING_THEN=$(rcli LLEN easel:jobs)
for id in "${HELD[@]}"; do
  at=$(field "$id" "coalesce(extract(epoch from dispatched_at)::text, '')")
  if [ -z "$at" ]; then
    fail "job $id held by $VICTIM was not started ($(status_of "$id"))"
    continue
  fi
  after=$(echo "$at - $KILLED" | bc)
  echo "   job $id started ${after}s after the kill (attempt $(field "$id" attempts))"
  check "job $id started within two lease periods of the kill" \
    test "$(echo "$after < 2 * $LEASE_S" | bc)" = 1
done
check "the backlog was not drained when they started ($PENDING_THEN pending)" test "$PENDING_THEN" -ge 1
check "the survivor took the leases over" grep -q "took over an expired lease" "$WORK/$SURVIVOR.log"

wait_until 180 all_terminal $N
check "all $N jobs succeeded" eq "$(count_jobs "'succeeded'")" $N
check "every job recorded exactly one terminal event" eq "$(sql "select count(*) from (select job_id from job_events where to_status in ('succeeded','failed','dead','canceled') group by job_id having count(*) = 1) x")" $N
check "no job was created twice" eq "$(sql "select count(distinct payload->>'image_id') from jobs")" $N
check "no job needed a second attempt" eq "$(sql "select count(*) from jobs where attempts <> 1")" 0
wait_for 20 'test "$(rcli ZCARD easel:jobs:leases)" = 0 && test "$(rcli HLEN easel:jobs:claims)" = 0'
check "no leases left" eq "$(rcli ZCARD easel:jobs:leases)" 0
check "no claims left" eq "$(rcli HLEN easel:jobs:claims)" 0
check "no concurrency place is left behind" eq "$(rcli ZCARD easel:jobs:running:local/vips-stage)" 0
kill "${PID[$SURVIVOR]}" 2>/dev/null; wait "${PID[$SURVIVOR]}" 2>/dev/null
finish
