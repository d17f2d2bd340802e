#!/usr/bin/env bash
# A Replicate model run by the kubernetes executor: each attempt is a Job
# whose pod (the real binary, on the fake API server's simulated node)
# reads its token from the provider Secret and calls the Replicate
# emulator. A job canceled while its prediction runs has its Job deleted;
# the pod's SIGTERM reaches the worker, which cancels the prediction at
# Replicate within the pod's grace period. The token appears in no Job,
# Event, log or record: pods get it through a secretKeyRef only.
. "$(dirname "$0")/lib.sh"
kube_setup
TOKEN=r8_kubeEmuToken7c1e5a93d2b4f6
start_emulator replicate "$TOKEN" --start-ms 100 --run-ms 300 || { fail "emulator start"; exit 1; }
BASE=$EMU_URL
k create secret generic easel-providers --from-literal=REPLICATE_API_TOKEN="$TOKEN" >/dev/null
cat >>"$WORK/models.yaml" <<YAML
  - id: qwen/qwen-image-edit
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 60s
    retry: {max_attempts: 2, initial: 200ms, factor: 2, max: 1s}
    input: {image: "{{image|data_uri}}", prompt: "Stage this room {{marker}}", output_format: jpg}
YAML
kube_registry "$WORK/models.yaml"
start_controller ctl --executor kubernetes --registry-configmap default/easel-models \
  --provider-secret easel-providers --concurrency 2 --lease 3s --heartbeat 500ms \
  || { fail "controller start"; exit 1; }
submit() { "$EASEL" submit --model qwen/qwen-image-edit --input "$1" --image "file://$SAMPLES/room-1.jpg"; }

# --- the happy path, through a worker pod
ok=$(submit '{"marker":""}')
wait_for 60 "finished $ok"
check "a Replicate job run in a worker pod succeeds" eq "$(field "$ok" "status||'/'||attempts")" succeeded/1
check "the prediction is in the record" test -n "$(field "$ok" "result->'provider'->>'ref'")"
check "the pod read its token from the Secret, by reference" eq \
  "$(k get job "$(job_name "$ok" 1)" -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="REPLICATE_API_TOKEN")].valueFrom.secretKeyRef.name}')" \
  easel-providers

# --- cancel reaches Replicate through the Job's deletion
before=$(emu_stat "$BASE" cancel)
creates=$(emu_stat "$BASE" create)
c=$(submit '{"marker":"[[emu:slow]]"}')
wait_for 60 'test "$(emu_stat "$BASE" create)" -gt "$creates"'
check "cancel of a job whose pod is calling Replicate" "$EASEL" cancel "$c"
wait_for 30 'test "$(emu_stat "$BASE" cancel)" -gt "$before"'
check "the pod's worker canceled the prediction at Replicate" test "$(emu_stat "$BASE" cancel)" -gt "$before"
check "the job is canceled, once" eq "$(field "$c" "status||'/'||attempts")" canceled/1
wait_for 20 '! k get job "$(job_name "$c" 1)" >/dev/null 2>&1'
check "its Job is deleted" bash -c "! kubectl get job $(job_name "$c" 1) >/dev/null 2>&1"

# --- the token is written down nowhere
leaks=$(grep -l -- "$TOKEN" "$WORK"/ctl.log 2>/dev/null)
leaks+=$(k get jobs,pods,events -o json | grep -c -- "$TOKEN" | grep -v '^0$')
leaks+=$(sql "select count(*) from jobs where result::text like '%$TOKEN%' or coalesce(error_message,'') like '%$TOKEN%'" | grep -v '^0$')
leaks+=$(sql "select count(*) from job_events where coalesce(message,'') like '%$TOKEN%'" | grep -v '^0$')
check "the token appears in no log, Job, pod, Event or record" eq "$leaks" ""
check "the emulator saw only requests Replicate's API definition allows" emu_conformant "$BASE"
finish
