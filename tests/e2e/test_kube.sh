#!/usr/bin/env bash
# easel on Kubernetes, against the fake API server (tests/kube) whose
# simulated node runs each Job's pod as the real binary: jobs end to end
# with status in `kubectl describe job`, cancel, an OOMKilled pod retried,
# a stuck pod failed after the grace period, and the registry ConfigMap
# edited live (applied) and broken (rejected, last good kept, Event).
. "$(dirname "$0")/lib.sh"
kube_setup
cat >>"$WORK/models.yaml" <<YAML
  - id: local/stuck
    provider: local
    timeout: 60s
    retry: {max_attempts: 1}
    kubernetes: {nodeSelector: {pool: gpu-that-does-not-exist}}
YAML
kube_registry "$WORK/models.yaml"
start_controller ctl --executor kubernetes --registry-configmap default/easel-models \
  --concurrency 4 --lease 3s --heartbeat 500ms --pending-grace 3s --job-ttl 1h \
  --worker-image easel:test || { fail "controller start"; exit 1; }

# --- jobs end to end
for i in 1 2 3; do
  push "{\"image_id\":\"k-$i\",\"original_url\":\"file://$SAMPLES/room-$i.jpg\",\"room_type\":\"studio\",\"style\":\"modern\",\"seed\":$i}"
done
wait_for 60 'all_terminal 3'
check "three jobs succeeded through Jobs in the cluster" eq "$(count_jobs "'succeeded'")" 3
check "kubectl get jobs -l selects easel's worker Jobs" eq \
  "$(k get jobs -l app.kubernetes.io/managed-by=easel-controller -o name | wc -l)" 3
id=$(sql "select id from jobs where payload->>'image_id'='k-1'")
name=$(job_name "$id" 1)
wait_for 10 'k describe job "$name" | grep -q "easel.dev/status: *succeeded"'
desc=$(k describe job "$name")
echo "$desc" >"$WORK/describe-succeeded.txt"
check "describe job shows the succeeded status annotation" grep -q 'easel.dev/status: *succeeded' <<<"$desc"
check "describe job shows the result summary" grep -q 'easel.dev/result: *2 outputs' <<<"$desc"
has_events() { local e; for e in "$@"; do grep -q "Normal *$e .*easel-controller" <<<"$desc" || return 1; done; }
check "describe job lists Dispatched, Started and Succeeded events" has_events Dispatched Started Succeeded
check "the Succeeded event names the outputs" grep -q 'Succeeded.*2 outputs: normal 1024x768 jpeg' <<<"$desc"
check "the worker recorded itself as the pod's Job" grep -q "kubernetes:$name@default" <<<"$(sql "select worker from jobs where id='$id'")"
check "its outputs were written" test -s "$WORK/results/jobs/$id/normal.jpg"

# --- cancel of a running job
cid=$("$EASEL" submit --input '{"style":"modern","seed":9,"latency_ms":20000}' --image "file://$SAMPLES/room-2.jpg")
wait_for 30 'test "$(status_of "$cid")" = running'
check "cancel of a running job on the cluster" "$EASEL" cancel "$cid"
wait_for 15 '! k get job "$(job_name "$cid" 1)" >/dev/null 2>&1'
check "its Job was deleted" bash -c "! kubectl get job '$(job_name "$cid" 1)' >/dev/null 2>&1"
check "the job stays canceled" eq "$(status_of "$cid")" canceled

# --- an OOMKilled pod is retried
oid=$("$EASEL" submit --input '{"style":"modern","seed":3,"latency_ms":4000}' --image "file://$SAMPLES/room-3.jpg")
wait_for 30 'test "$(status_of "$oid")" = running'
pod=$(k get pods -l "easel.dev/job-id=$oid,easel.dev/attempt=1" -o jsonpath='{.items[0].metadata.name}')
fake "oom?namespace=default&name=$pod"
wait_for 60 'test "$(status_of "$oid")" = succeeded'
check "an OOMKilled attempt is retried and the job succeeds" eq "$(sql "select status||'/'||attempts from jobs where id='$oid'")" succeeded/2
check "the first attempt is recorded as oom_killed" grep -q oom_killed <<<"$(sql "select coalesce(reason,'')||' '||coalesce(message,'') from job_events where job_id='$oid'")"
desc=$(k describe job "$(job_name "$oid" 1)")
check "describe shows the Retrying event on the first attempt's Job" grep -q Retrying <<<"$desc"

# --- a pod that can never be scheduled fails after the grace period
sid=$("$EASEL" submit --model local/stuck --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg")
wait_for 30 'test "$(status_of "$sid")" = dead'
check "an unschedulable pod fails the attempt after --pending-grace" eq "$(sql "select status||'/'||error_reason from jobs where id='$sid'")" dead/unschedulable
check "its Job was deleted" bash -c "! kubectl get job '$(job_name "$sid" 1)' >/dev/null 2>&1"

# --- the registry ConfigMap, edited live
cp "$WORK/models.yaml" "$WORK/models2.yaml"
cat >>"$WORK/models2.yaml" <<YAML
  - id: local/added-live
    provider: local
    timeout: 30s
    input: {style: "{{style}}"}
YAML
kube_registry "$WORK/models2.yaml"
wait_for 10 'grep -q "registry applied" "$WORK/ctl.log"'
check "a valid ConfigMap edit is applied without a restart" grep -q 'registry applied' "$WORK/ctl.log"
st=$("$EASEL" submit --model local/added-live --input '{"style":"bohemian"}' --image "file://$SAMPLES/room-3.jpg" --wait --timeout 60s | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
check "the new model runs on the cluster" eq "$st" succeeded
check "a RegistryApplied event on the ConfigMap" bash -c "kubectl describe configmap easel-models | grep -q RegistryApplied"
printf 'models:\n  - id: broken\n    provider: nowhere\n' >"$WORK/broken.yaml"
kube_registry "$WORK/broken.yaml"
wait_for 10 'grep -q "registry rejected" "$WORK/ctl.log"'
check "a broken ConfigMap edit is rejected and logged" grep -q 'keeping the last good registry' "$WORK/ctl.log"
wait_for 10 'k describe configmap easel-models | grep -q RegistryRejected'
check "a RegistryRejected event names the problem" bash -c "kubectl describe configmap easel-models | grep RegistryRejected | grep -q 'unknown provider'"
st=$("$EASEL" submit --model local/added-live --input '{"style":"bohemian"}' --image "file://$SAMPLES/room-3.jpg" --wait --timeout 60s | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
check "the last good registry stays in force" eq "$st" succeeded
check "the controller never listed periodically (one list per watch start)" \
  python3 - "$API_URL" <<'PY'
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(sys.argv[1] + "/_fake/stats"))
# the controller lists each watched resource once per watch start; kubectl
# describe's own event lists are not the controller's
lists = {k: v for k, v in stats.items() if k in ("list jobs", "list pods", "list configmaps")}
print(lists, file=sys.stderr)
sys.exit(0 if all(v <= 2 for v in lists.values()) else 1)
PY
out=$(kube_validate_stored jobs events)
echo "$out"
check "every Job and Event easel wrote passes strict schema validation" grep -q '^kube-validate: [1-9][0-9]* objects, 0 invalid' <<<"$out"
finish
