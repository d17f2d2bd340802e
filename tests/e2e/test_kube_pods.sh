#!/usr/bin/env bash
# Worker pods that fail for the cluster's reasons, not the job's: an image
# that cannot be pulled (reported clearly after the grace period), a pod
# evicted and a node lost mid-run (both retried), Kueue holding a suspended
# Job until admission. Everything runs over TLS with the token read from a
# file, and the token is rotated mid-scenario as the kubelet rotates a
# projected service-account token: the old one stops working at once.
. "$(dirname "$0")/lib.sh"
printf 'tok-1\n' >"$WORK/token"
kube_setup --tls --token-file "$WORK/token"
cat >>"$WORK/models.yaml" <<YAML
  - id: local/badimage
    provider: local
    timeout: 60s
    retry: {max_attempts: 1}
    kubernetes: {image: registry.example.com/easel:doesnotexist}
YAML
kube_registry "$WORK/models.yaml"
check "the cluster is served over TLS with a token file" grep -q "^ *tokenFile: " "$KUBECONFIG"
FLAGS=(--executor kubernetes --registry-configmap default/easel-models --concurrency 4
       --lease 3s --heartbeat 500ms --pending-grace 3s --job-ttl 1h)
start_controller ctl "${FLAGS[@]}" || { fail "controller start"; exit 1; }
reasons_of() { sql "select string_agg(coalesce(reason,'') || ' ' || coalesce(message,''), ' | ') from job_events where job_id='$1'"; }
running_pod() { k get pods -l "easel.dev/job-id=$1,easel.dev/attempt=$2" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null; }

# --- an image that cannot be pulled
bid=$("$EASEL" submit --model local/badimage --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg")
wait_for 30 'test "$(status_of "$bid")" = dead'
check "an image pull failure ends the job after the grace period" eq \
  "$(sql "select status||'/'||error_reason from jobs where id='$bid'")" dead/image_pull_failed
check "the error names the image" grep -q 'registry.example.com/easel:doesnotexist' <<<"$(sql "select error_message from jobs where id='$bid'")"
desc=$(k describe job "$(job_name "$bid" 1)" 2>&1)
if grep -q NotFound <<<"$desc"; then desc=$(k get events --field-selector "involvedObject.name=$(job_name "$bid" 1)" 2>&1); fi
echo "$desc" >"$WORK/badimage-events.txt"
check "a Pending warning on the Job says the image cannot be pulled" \
  grep -q 'Pending.*image_pull_failed.*registry.example.com/easel:doesnotexist' <<<"$desc"
check "a DeadLettered event gives the final reason" grep -q 'DeadLettered.*image_pull_failed' <<<"$desc"

# --- a pod evicted mid-run is retried
eid=$("$EASEL" submit --input '{"style":"modern","seed":5,"latency_ms":4000}' --image "file://$SAMPLES/room-2.jpg")
wait_for 30 'test "$(status_of "$eid")" = running'
pod=$(running_pod "$eid" 1)
check "the running attempt has a pod" test -n "$pod"
fake "evict?namespace=default&name=$pod"
wait_for 60 'test "$(status_of "$eid")" = succeeded'
check "an evicted attempt is retried and the job succeeds" eq "$(sql "select status||'/'||attempts from jobs where id='$eid'")" succeeded/2
check "the first attempt is recorded as evicted" grep -q 'evicted' <<<"$(reasons_of "$eid")"
check "describe shows Retrying on the evicted attempt's Job" grep -q 'Retrying.*evicted' <<<"$(k describe job "$(job_name "$eid" 1)")"

# --- the service-account token is rotated: the old one is refused from now on
printf 'tok-2\n' >"$WORK/token.new" && mv "$WORK/token.new" "$WORK/token"
check "the old token is refused after rotation" bash -c \
  "curl -sk -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-1' '$API_URL/api/v1/namespaces/default/pods' | grep -q 401"
mark=$(wc -l <"$API_DIR/requests.log")

# --- the node is lost mid-run: retried (also the first job after rotation)
nid=$("$EASEL" submit --input '{"style":"modern","seed":6,"latency_ms":4000}' --image "file://$SAMPLES/room-3.jpg")
wait_for 30 'test "$(status_of "$nid")" = running'
pod=$(running_pod "$nid" 1)
fake "node-lost?namespace=default&name=$pod"
wait_for 60 'test "$(status_of "$nid")" = succeeded'
check "an attempt lost with its node is retried and the job succeeds" eq "$(sql "select status||'/'||attempts from jobs where id='$nid'")" succeeded/2
check "the first attempt is recorded as node_lost" grep -q 'node_lost' <<<"$(reasons_of "$nid")"
check "after rotation the controller's requests carry the new token (no 401)" \
  bash -c "tail -n +$((mark + 1)) '$API_DIR/requests.log' | grep -v '^[A-Z]* /_fake' | awk '\$3 == 401' | wc -l | grep -qx 0"
ev=$(k get events --field-selector "involvedObject.name=$(job_name "$nid" 2)" 2>&1)
echo "$ev" >"$WORK/rotation-events.txt"
check "the controller kept writing Events across the rotation" grep -q "Succeeded" <<<"$ev"
check "the retried attempt's Job has its own Dispatched event" grep -q "Dispatched.*attempt 2" <<<"$ev"

# --- Kueue: Jobs created suspended with the queue label, run when admitted
kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller ctl2 "${FLAGS[@]}" --kueue-queue team-a || { fail "controller with --kueue-queue"; exit 1; }
qid=$("$EASEL" submit --input '{"style":"modern","seed":7}' --image "file://$SAMPLES/room-1.jpg")
qjob=$(job_name "$qid" 1)
wait_for 20 'k get job "$qjob" >/dev/null 2>&1'
check "the Job is created suspended" eq "$(k get job "$qjob" -o jsonpath='{.spec.suspend}')" true
check "the Job carries the Kueue queue label" eq "$(k get job "$qjob" -o jsonpath='{.metadata.labels.kueue\.x-k8s\.io/queue-name}')" team-a
sleep 4 # longer than --pending-grace: waiting for admission is not being stuck
check "a suspended Job runs no pod" eq "$(k get pods -l "job-name=$qjob" -o name | wc -l)" 0
check "the job waits as dispatched, not failed" eq "$(status_of "$qid")" dispatched
# Kueue admits the workload by clearing spec.suspend
k patch job "$qjob" --type merge -p '{"spec":{"suspend":false}}' >/dev/null
wait_for 60 'test "$(status_of "$qid")" = succeeded'
check "once admitted the job runs and succeeds on its first attempt" eq "$(sql "select status||'/'||attempts from jobs where id='$qid'")" succeeded/1

check "no job ended twice" eq "$(sql "select count(*) from (select job_id from job_events where to_status in ('succeeded','failed','dead','canceled') group by job_id having count(*) > 1) x")" 0
check "every Event names the object it is about" python3 -c '
import json, sys
evs = json.load(sys.stdin)["items"]
bad = [e["reason"] for e in evs if not (e.get("involvedObject") or {}).get("name")]
print(len(evs), "events; without an object name:", bad, file=sys.stderr)
sys.exit(1 if bad or not evs else 0)' <<<"$(k get events -o json)"
out=$(kube_validate_stored jobs events)
check "every Job and Event easel wrote passes strict schema validation" grep -q '^kube-validate: [1-9][0-9]* objects, 0 invalid' <<<"$out"
finish
