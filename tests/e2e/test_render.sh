#!/usr/bin/env bash
# `easel render job` prints the exact batch/v1 Job the kubernetes executor
# would create: strictly valid against the official schemas (unknown fields
# fail), with the spec the kubernetes issue asks for, for --model without
# any cluster or database and for --id from a real job record.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
cat >"$WORK/models.yaml" <<'YAML'
models:
  - id: acme/gpu-model
    provider: local
    timeout: 95s
    kubernetes:
      resources: {requests: {cpu: 500m, memory: 512Mi}, limits: {memory: 2Gi}}
      nodeSelector: {pool: gpu}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      priorityClassName: batch-low
YAML
"$EASEL" render job --model acme/gpu-model --registry "$WORK/models.yaml" \
  --namespace imaging --kueue-queue team-a >"$WORK/job.yaml" 2>"$WORK/err.txt"
check "render job --model exits 0" test -s "$WORK/job.yaml"
check "the rendered Job passes strict schema validation" bash -c "'$VALIDATE' '$WORK/job.yaml' | grep -q '^kube-validate: 1 objects, 0 invalid'"
"$EASEL" render job --model acme/gpu-model --registry "$WORK/models.yaml" \
  --namespace imaging --kueue-queue team-a -o json >"$WORK/job.json"
j() { # a field of the rendered Job (the same object, as JSON): a Python expression on `o`
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict, bool)) else v)' "$WORK/job.json" "$1"; }
c0="o['spec']['template']['spec']['containers'][0]"
env() { j "[e for e in $c0['env'] if e['name']=='$1'][0]$2"; }
check "backoffLimit is 0 (retries are easel's)" eq "$(j "o['spec']['backoffLimit']")" 0
check "activeDeadlineSeconds is the model timeout" eq "$(j "o['spec']['activeDeadlineSeconds']")" 95
check "created suspended for Kueue" eq "$(j "o['spec']['suspend']")" true
check "Kueue queue label" eq "$(j "o['metadata']['labels']['kueue.x-k8s.io/queue-name']")" team-a
check "standard labels" eq "$(j "o['metadata']['labels']['app.kubernetes.io/managed-by']")" easel-controller
check "args are job --id ID --attempt N" eq "$(j "$c0['args']")" '["job","--id","00000000-0000-4000-8000-000000000000","--attempt","1"]'
p="o['spec']['template']['spec']"
check "non-root, read-only root, no escalation, no capabilities" eq \
  "$(j "[$p['securityContext']['runAsNonRoot'], $c0['securityContext']['readOnlyRootFilesystem'], $c0['securityContext']['allowPrivilegeEscalation'], $c0['securityContext']['capabilities']['drop']]")" \
  '[true,true,false,["ALL"]]'
check "no service-account token in the pod" eq "$(j "o['spec']['template']['spec']['automountServiceAccountToken']")" false
check "termination message falls back to logs" eq "$(j "$c0['terminationMessagePolicy']")" FallbackToLogsOnError
check "the database URL comes from a Secret" eq "$(env EASEL_DATABASE_URL "['valueFrom']['secretKeyRef']['name']")" easel-database
check "resources, node selector, tolerations, priority from the registry" eq \
  "$(j "[$c0['resources']['limits']['memory'], $p['nodeSelector']['pool'], $p['tolerations'][0]['key'], $p['priorityClassName']]")" \
  '["2Gi","gpu","nvidia.com/gpu","batch-low"]'
inline=$(env EASEL_REGISTRY_INLINE "['value']")
printf '%s' "$inline" >"$WORK/inline.json"
check "the inline registry is a valid registry for that model" "$EASEL" registry validate "$WORK/inline.json"

"$EASEL" render job --model acme/gpu-model --registry "$WORK/models.yaml" --source-allow 10.0.0.0/8 \
  --file-root /srv/images --file-root /mnt/in -o json >"$WORK/roots.json"
check "the worker gets the controller's file roots and allow-list" eq "$(python3 -c '
import json, sys
env = {e["name"]: e.get("value") for e in json.load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["env"]}
print(env.get("EASEL_FILE_ROOTS"), env.get("EASEL_SOURCE_ALLOW"))' "$WORK/roots.json")" "/srv/images,/mnt/in 10.0.0.0/8"
# many long file roots (25 x 210 bytes) reach the worker whole, never cut: a
# cut root would name a directory nobody listed
long=(); want=""
for i in $(seq 1 25); do
  r="/srv/$(printf 'r%.0s' $(seq 1 200))$i"; long+=(--file-root "$r"); want="$want${want:+,}$r"
done
"$EASEL" render job --model acme/gpu-model --registry "$WORK/models.yaml" "${long[@]}" -o json \
  >"$WORK/long.json" 2>"$WORK/long.err"
check "file roots over 4 KiB joined reach the worker whole" eq "$(python3 -c '
import json, sys
env = {e["name"]: e.get("value") for e in json.load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["env"]}
print(env.get("EASEL_FILE_ROOTS"))' "$WORK/long.json")" "$want"

"$EASEL" render job --model nope/missing --registry "$WORK/models.yaml" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "an unknown model is refused" bash -c "[ $rc -ne 0 ] && grep -q 'not in the registry' '$WORK/err.txt'"
"$EASEL" render job >/dev/null 2>&1; rc=$?
check "one of --id and --model is required" eq "$rc" 2

# --id: the next attempt of a real job
setup_services
samples
start_controller ctl --concurrency 1 || { fail "controller start"; exit 1; }
id=$("$EASEL" submit --model local/vips-stage --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg" --wait --timeout 60s | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$EASEL" render job --id "$id" --namespace imaging >"$WORK/job2.yaml"
check "render job --id validates" bash -c "'$VALIDATE' '$WORK/job2.yaml' | grep -q '^kube-validate: 1 objects, 0 invalid'"
"$EASEL" render job --id "$id" --namespace imaging -o json >"$WORK/job.json"
check "it is named from the job id and its next attempt" eq "$(j "o['metadata']['name']")" "easel-$id-2"
finish
