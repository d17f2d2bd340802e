#!/usr/bin/env bash
# SIGTERM: the controller stops claiming, lets running attempts finish,
# leaves the rest queued, exits 0; the next controller finishes the batch.
# The registry file is edited live: a valid change applies without a
# restart, an invalid one is rejected and the last good one stays.
. "$(dirname "$0")/lib.sh"
setup_services
samples
cp "$ROOT/tests/e2e/registry.yaml" "$WORK/models.yaml"
export EASEL_REGISTRY=$WORK/models.yaml
N=6
for i in $(seq 1 $N); do
  push "{\"image_id\":\"g-$i\",\"original_url\":\"file://$SAMPLES/room-2.jpg\",\"style\":\"minimalist\",\"seed\":$i,\"latency_ms\":1500}"
done
start_controller ctl1 --concurrency 2 --lease 3s --shutdown-grace 20s || { fail "start"; exit 1; }
wait_for 30 'test "$(count_jobs "'\''running'\''")" -ge 2'
kill -TERM "$CTL_PID"
wait "$CTL_PID"; rc=$?
check "controller exits 0 after SIGTERM" eq "$rc" 0
check "running attempts finished during the grace period" eq "$(count_jobs "'succeeded'")" 2
check "nothing was left running" eq "$(count_jobs "'running','dispatched'")" 0
check "the rest are still queued" eq "$(( $(rcli LLEN easel:jobs) + $(count_jobs "'queued'") >= 4 ))" 1

start_controller ctl2 --concurrency 2 --lease 3s || { fail "start 2"; exit 1; }
wait_until 60 all_terminal $N
check "the next controller finished the batch" eq "$(count_jobs "'succeeded'")" $N

# live registry edit: add a model
python3 - "$WORK/models.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s += """  - id: local/added-live
    provider: local
    timeout: 30s
    preset: default
    input: {style: "{{style}}", seed: "{{seed}}"}
"""
open(p + ".new", "w").write(s)
PY
mv "$WORK/models.yaml.new" "$WORK/models.yaml"
wait_until 10 grep -q '"registry applied' "$WORK/ctl2.log"
check "a valid registry edit is applied without a restart" grep -q '"registry applied' "$WORK/ctl2.log"
id=$("$EASEL" submit --model local/added-live --input '{"style":"bohemian"}' --image "file://$SAMPLES/room-3.jpg" --wait --timeout 30s | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
check "the new model runs" eq "$id" succeeded

printf 'models:\n  - id: broken\n    provider: nowhere\n    timout: 5s\n' >"$WORK/models.yaml.new"
mv "$WORK/models.yaml.new" "$WORK/models.yaml"
wait_until 10 grep -q 'registry rejected' "$WORK/ctl2.log"
check "an invalid registry edit is rejected and logged" grep -q 'keeping the last good registry' "$WORK/ctl2.log"
"$EASEL" registry validate "$WORK/models.yaml" 2>"$WORK/validate.txt"; rc=$?
check "registry validate exits non-zero on the broken file" eq "$rc" 1
check "registry validate reports file:line:col" grep -q "models.yaml:[0-9]*:[0-9]*:" "$WORK/validate.txt"
st=$("$EASEL" submit --model local/added-live --input '{"style":"bohemian"}' --image "file://$SAMPLES/room-3.jpg" --wait --timeout 30s | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
check "the last good registry stays in force" eq "$st" succeeded
check "registry validate accepts the shipped example" "$EASEL" registry validate "$ROOT/docs/examples/models.yaml"
finish
