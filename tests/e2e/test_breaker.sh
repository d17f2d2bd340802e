#!/usr/bin/env bash
# The circuit breaker every worker shares through Redis: consecutive
# provider failures (each job a separate worker process) open it; while
# open, jobs fail over at once without calling the provider; after the
# cooldown one probe goes through and, when it succeeds, closes it.
. "$(dirname "$0")/lib.sh"
setup_services
samples
TOKEN=r8_breakerTestToken_5e6f7a8b
start_emulator replicate "$TOKEN" --start-ms 20 --run-ms 60 || { fail "emulator start"; exit 1; }
BASE=$EMU_URL
sed '/^models:/,$d' "$ROOT/tests/e2e/registry.yaml" >"$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
breaker: {failures: 3, cooldown: 15s}
models:
  - id: flaky/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 10s
    retry: {max_attempts: 1}
    fallback: [local/vips-stage]
    input: {image: "{{image|data_uri}}", prompt: "stage {{seed}}"}
  - id: local/vips-stage
    provider: local
YAML
export EASEL_REGISTRY=$WORK/models.yaml REPLICATE_API_TOKEN=$TOKEN
start_controller ctl --concurrency 2 --lease 3s --heartbeat 500ms || { fail "controller start"; exit 1; }
faults() { curl -sf -X POST "$BASE/_emu/faults" -d "$1" >/dev/null; }
run() { # SEED -> job id, once the job has ended
  local id
  id=$("$EASEL" submit --model flaky/qwen --input "{\"seed\":$1}" --image "file://$SAMPLES/room-1.jpg")
  wait_for 60 "finished $id" >/dev/null
  echo "$id"
}
KEY="easel:jobs:breaker:replicate $BASE"

faults '{"rate": 1.0, "kinds": ["500"]}'
for s in 1 2 3; do j=$(run "$s"); last=$(field "$j" "status||'/'||attempts||'/'||result_model"); done
# the open phase's checks must all fall inside the cooldown: 15 s leaves a
# loaded machine room for a worker's start-up (3 s did not, so a probe got
# in and reopened the breaker); the cooldown phase below waits out the rest
opened=$SECONDS
check "a failing provider's jobs fail over to the next model" eq "$last" succeeded/2/local/vips-stage
check "three consecutive failures opened the breaker" eq "$(rcli HGET "$KEY" state)" open
check "the opening is logged" grep -q 'circuit breaker for replicate .* opened' "$WORK/ctl.log"
"$EASEL" breakers >"$WORK/breakers-open.txt"
check "easel breakers shows it open, with the time until a probe" \
  grep -Eq "^replicate +open +0 +[0-9.]+s +1  $BASE\$" "$WORK/breakers-open.txt"
"$EASEL" breakers -o prometheus >"$WORK/breakers-open.prom"
check "the metrics say open for this endpoint, and only open" eq "$(grep '^easel_circuit_breaker_state{' "$WORK/breakers-open.prom" | sort)" \
  "$(printf 'easel_circuit_breaker_state{provider="replicate",endpoint="%s",state="%s"} %s\n' "$BASE" closed 0 "$BASE" half_open 0 "$BASE" open 1 | sort)"
check "and count one opening" grep -qx "easel_circuit_breaker_opens_total{provider=\"replicate\",endpoint=\"$BASE\"} 1" "$WORK/breakers-open.prom"
check "the exposition is well-formed Prometheus text" python3 "$ROOT/tests/e2e/promcheck.py" "$WORK/breakers-open.prom"
before=$(emu_stat "$BASE" create)
j=$(run 4)
check "while open, a job fails over at once, in its first attempt" eq \
  "$(field "$j" "status||'/'||attempts||'/'||result_model")" succeeded/1/local/vips-stage
check "while open, the provider is not called" eq "$(emu_stat "$BASE" create)" "$before"

faults '{"rate": 0}'
left=$((opened + 16 - SECONDS)) # the rest of the cooldown, and a second
[ "$left" -gt 0 ] && sleep "$left"
j=$(run 5)
check "after the cooldown a probe goes through and succeeds" eq \
  "$(field "$j" "status||'/'||attempts||'/'||result_model")" succeeded/1/flaky/qwen
check "the successful probe closed the breaker" eq "$(rcli HGET "$KEY" state)" closed
check "the closing is logged" grep -q 'circuit breaker for replicate .* closed' "$WORK/ctl.log"
check "the metrics say closed again" grep -qx \
  "easel_circuit_breaker_state{provider=\"replicate\",endpoint=\"$BASE\",state=\"closed\"} 1" \
  <("$EASEL" breakers -o prometheus)
check "easel breakers -o json agrees" eq "$("$EASEL" breakers -o json | python3 -c '
import json, sys; b = json.load(sys.stdin); print(len(b), b[0]["state"], b[0]["opens"])')" "1 closed 1"
j=$(run 6)
check "closed again, jobs use the provider" eq "$(field "$j" "status||'/'||result_model")" succeeded/flaky/qwen
check "the emulator saw only requests Replicate's API definition allows" emu_conformant "$BASE"
finish
