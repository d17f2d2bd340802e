#!/usr/bin/env bash
# Events have one writer that never holds up the controller: while the API
# server hangs on every Event write, a registry ConfigMap edit is applied
# and jobs are dispatched and finish as usual; once it answers again the
# Events it was sent are there, and a repeated Event is one Event with a
# count, not two.
. "$(dirname "$0")/lib.sh"
kube_setup
kube_registry "$WORK/models.yaml"
start_controller ctl --executor kubernetes --registry-configmap default/easel-models \
  --concurrency 4 --lease 3s --heartbeat 500ms --job-ttl 1h \
  --worker-image easel:test || { fail "controller start"; exit 1; }
# events_of NAME REASON: "count message" lines of the Events about NAME
events_of() {
  k get events -o json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["items"]:
    if e["involvedObject"]["name"] == sys.argv[1] and e["reason"] == sys.argv[2]:
        print(e.get("count", 1), e["message"])' "$1" "$2"
}
wait_for 15 'events_of easel-models RegistryApplied | grep -q "applied: 1 models"'
check "the registry loaded at start is reported by a RegistryApplied Event" \
  grep -q "applied: 1 models" <<<"$(events_of easel-models RegistryApplied)"

# --- every Event write now hangs 8 s in the API server
STALL=8
fake "stall?resource=events&seconds=$STALL" || { fail "stall endpoint"; exit 1; }
cp "$WORK/models.yaml" "$WORK/models2.yaml"
cat >>"$WORK/models2.yaml" <<YAML
  - id: local/added-live
    provider: local
    timeout: 30s
    input: {style: "{{style}}"}
YAML
T0=$(date +%s.%N)
kube_registry "$WORK/models2.yaml"
wait_for 10 'grep -q "registry applied" "$WORK/ctl.log"'
check "the ConfigMap edit is applied while Event writes hang" grep -q 'registry applied' "$WORK/ctl.log"
# The RegistryApplied Event for that edit is hanging in the API server now.
for i in 1 2 3; do
  push "{\"image_id\":\"ev-$i\",\"original_url\":\"file://$SAMPLES/room-$i.jpg\",\"room_type\":\"studio\",\"style\":\"modern\",\"seed\":$i}"
done
wait_for 10 'test "$(sql "select count(*) from jobs where dispatched_at is not null")" -ge 3'
LAST=$(sql "select extract(epoch from max(dispatched_at)) from jobs")
after=$(echo "${LAST:-0} - $T0" | bc)
echo "   the last of three jobs was dispatched ${after}s after the edit (Event writes hang ${STALL}s each)"
check "jobs are dispatched while the Event writes hang (within 4 s of the edit)" \
  test "$(echo "${LAST:-0} > 0 && $after < 4" | bc)" = 1
wait_for 60 'all_terminal 3'
check "the three jobs succeeded while Event writes hang" eq "$(count_jobs "'succeeded'")" 3
check "the API server held Event writes back" \
  test "$(curl -sk "$API_URL/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("stalled", 0))')" -ge 1

# --- the API server answers again: what was queued is written
fake "stall?resource=events&seconds=0"
wait_for 30 'events_of easel-models RegistryApplied | grep -q "applied: 2 models"'
check "the RegistryApplied Event of the edit was written once the API answered" \
  grep -q "applied: 2 models" <<<"$(events_of easel-models RegistryApplied)"
id=$(sql "select id from jobs where payload->>'image_id'='ev-1'")
wait_for 30 'test -n "$(events_of "$(job_name "$id" 1)" Succeeded)"'
check "the jobs' own Events went through the same writer" test -n "$(events_of "$(job_name "$id" 1)" Succeeded)"

# --- a repeat is one Event with a count
printf 'models:\n  - id: broken\n    provider: nowhere\n' >"$WORK/broken.yaml"
kube_registry "$WORK/broken.yaml"
wait_for 15 'test -n "$(events_of easel-models RegistryRejected)"'
# the same problems again (a trailing comment changes the text, not them)
printf '# edited again\n' >>"$WORK/broken.yaml"
kube_registry "$WORK/broken.yaml"
wait_for 15 'test "$(grep -c "registry rejected" "$WORK/ctl.log")" -ge 2'
wait_for 15 'events_of easel-models RegistryRejected | grep -q "^2 "'
rej=$(events_of easel-models RegistryRejected)
echo "$rej" | sed 's/^/   /'
check "the rejection, repeated, is one Event with count 2" eq "$(wc -l <<<"$rej"):$(cut -d' ' -f1 <<<"$rej")" "1:2"
check "the controller dropped no Event" bash -c "! grep -q 'writer queue full' '$WORK/ctl.log'"
kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null
finish
