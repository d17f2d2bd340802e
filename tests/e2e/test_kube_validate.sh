#!/usr/bin/env bash
# The strict Kubernetes validator (hack/kube-validate.sh) that the chart,
# manifest, render and kube scenarios rely on is itself checked: a valid Job
# passes with nothing said, and each kind of mistake it exists to catch (an
# unknown or misspelt field, a wrong type, a missing required field, a value
# outside an enum, a malformed quantity) fails with exactly one line naming
# the object and the field. Needs no easel binary and no servers.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}

cat >"$WORK/job.yaml" <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: easel-x
  namespace: imaging
  labels: {app.kubernetes.io/managed-by: easel-controller}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 95
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: easel
          image: ghcr.io/easel-dev/easel:1.2.3
          imagePullPolicy: IfNotPresent
          args: [job, --id, x]
          resources: {requests: {cpu: 500m, memory: 512Mi}, limits: {memory: 2Gi}}
          env: [{name: EASEL_LOG_LEVEL, value: info}]
          securityContext: {runAsNonRoot: true, capabilities: {drop: [ALL]}}
YAML

# run FILE|-: the validator's output in $WORK/out.txt, its exit status in $rc
run() { "$VALIDATE" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; rc=$?; }
# variant NAME SED-SCRIPT: the valid Job with one edit, as $WORK/NAME.yaml
variant() { sed "$2" "$WORK/job.yaml" >"$WORK/$1.yaml"; }
# rejects WHAT NAME LINE: NAME.yaml fails, with exactly LINE and the summary
rejects() {
  local what=$1 name=$2 want=$3
  run "$WORK/$name.yaml"
  check "$what: exit status 1" eq "$rc" 1
  check "$what: one line, '$want'" eq "$(head -n -1 "$WORK/out.txt")" "$want"
  check "$what: summary counts it" eq "$(tail -1 "$WORK/out.txt")" "kube-validate: 1 objects, 1 invalid"
}

run "$WORK/job.yaml"
check "a valid Job passes (exit 0)" eq "$rc" 0
check "a valid Job prints only the summary" eq "$(cat "$WORK/out.txt")" "kube-validate: 1 objects, 0 invalid"

variant unknown 's/  backoffLimit: 0/  backofLimit: 0/'
rejects "a misspelt field" unknown 'Job/easel-x: spec.backofLimit: unknown field "backofLimit" in JobSpec'
variant unknown_deep 's/capabilities: {drop: \[ALL\]}/capabilities: {drop: [ALL]}, privileged: false, readOnlyRootFS: true/'
rejects "an unknown field deep in a list item" unknown_deep \
  'Job/easel-x: spec.template.spec.containers[0].securityContext.readOnlyRootFS: unknown field "readOnlyRootFS" in SecurityContext'
variant unknown_meta 's/  labels:/  lables:/'
rejects "an unknown metadata field" unknown_meta 'Job/easel-x: metadata.lables: unknown field "lables" in ObjectMeta'
variant wrong_type 's/activeDeadlineSeconds: 95/activeDeadlineSeconds: "95s"/'
rejects "a string where an integer belongs" wrong_type 'Job/easel-x: spec.activeDeadlineSeconds: must be integer (got "95s")'
variant wrong_shape 's/args: \[job, --id, x\]/args: job --id x/'
rejects "a string where a list belongs" wrong_shape 'Job/easel-x: spec.template.spec.containers[0].args: must be array (got "job --id x")'
variant missing 's/        - name: easel/        - stdin: false/'
rejects "a container without its required name" missing \
  'Job/easel-x: spec.template.spec.containers[0].name: required field is missing'
variant enum 's/imagePullPolicy: IfNotPresent/imagePullPolicy: Sometimes/'
rejects "a value outside the enum" enum \
  'Job/easel-x: spec.template.spec.containers[0].imagePullPolicy: must be one of Always, IfNotPresent, Never (got "Sometimes")'
variant quantity 's/memory: 2Gi/memory: 2 gigs/'
rejects "a malformed quantity" quantity \
  'Job/easel-x: spec.template.spec.containers[0].resources.limits.memory: must be one of: number | a quantity string (got "2 gigs")'

# several documents, YAML and JSON, from a file or stdin
{ cat "$WORK/job.yaml"; echo "---"; cat "$WORK/enum.yaml"; echo "---"; } >"$WORK/two.yaml"
run - <"$WORK/two.yaml"
check "stdin with two documents: exit 1" eq "$rc" 1
check "stdin with two documents: one valid, one not" eq "$(tail -1 "$WORK/out.txt")" "kube-validate: 2 objects, 1 invalid"
cat >"$WORK/list.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}},
  {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "easel-leader"},
   "spec": {"holderIdentity": "x", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}},
  {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Job", "name": "j"},
   "reason": "Succeeded", "type": "Normal", "count": 1}]}
JSON
run "$WORK/list.json" "$WORK/job.yaml"
check "a JSON List and a YAML file: every item checked, all valid" eq "$(cat "$WORK/out.txt")" "kube-validate: 4 objects, 0 invalid"
sed 's/"count": 1/"count": 1, "reportingControler": "easel"/' "$WORK/list.json" >"$WORK/badlist.json"
run "$WORK/badlist.json"
check "an unknown field in a core Event (not an events.k8s.io one) is found" \
  grep -q '^Event/e: reportingControler: unknown field "reportingControler" in Event$' "$WORK/out.txt"
check "a bad list item fails the run" eq "$rc" 1

# YAML read as kubectl reads it: 1.1 booleans, timestamps kept as strings
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: 2026-01-01T00:00:00Z}\ndata: {day: 2026-01-01}\n' >"$WORK/cm.yaml"
run "$WORK/cm.yaml"
check "an unquoted timestamp is a string, as for kubectl" eq "$rc" 0
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {enabled: yes}\n' >"$WORK/cm.yaml"
run "$WORK/cm.yaml"
check "yes is a boolean (YAML 1.1), not a string" grep -q '^ConfigMap/c: data.enabled: must be string (got true)$' "$WORK/out.txt"

# kinds without an official schema fail unless skipped on purpose
printf 'apiVersion: kueue.x-k8s.io/v1beta1\nkind: Workload\nmetadata: {name: w}\n' >"$WORK/crd.yaml"
run "$WORK/crd.yaml"
check "a custom resource has no official schema: refused" bash -c "[ $rc -eq 1 ] && grep -q 'no official schema for apiVersion kueue.x-k8s.io/v1beta1 kind Workload' '$WORK/out.txt'"
run --skip-unknown-kinds "$WORK/crd.yaml"
check "--skip-unknown-kinds passes it as skipped" eq "$(tail -1 "$WORK/out.txt")/$rc" "kube-validate: 1 objects, 0 invalid, 1 skipped/0"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [a\n' >"$WORK/broken.yaml"
run "$WORK/broken.yaml"
check "broken YAML fails" bash -c "[ $rc -eq 1 ] && grep -q 'YAML error' '$WORK/out.txt'"
run "$WORK/does-not-exist.yaml"
check "an unreadable file is exit 2" eq "$rc" 2
finish
