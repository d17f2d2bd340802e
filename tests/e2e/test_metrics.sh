#!/usr/bin/env bash
# /metrics, end to end: jobs that succeed, fail on a hostile image, go dead
# on an unknown model and on a provider that keeps failing; the figures of
# job processes reach the controller's exposition through the metric
# outbox, once each even with two replicas scraped; the exposition passes
# `promtool check metrics` (Debian's prometheus package); a real Prometheus
# server scrapes the controller with a bearer token and answers PromQL with
# the counts the jobs produced; the queue's backlog and the oldest entry's
# age while claiming is paused.
. "$(dirname "$0")/lib.sh"
"$ROOT/hack/install-deps.sh" prometheus >/dev/null 2>&1 ||
  { fail "install Debian's prometheus package"; exit 1; }
setup_services
samples

TOKEN=r8_metricsTestToken_1a2b3c4d
start_emulator replicate "$TOKEN" --start-ms 10 --run-ms 20 || { fail "emulator start"; exit 1; }
provider_registry "$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
  - id: flaky/qwen
    provider: replicate
    endpoint: $EMU_URL
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 10s
    retry: {max_attempts: 2, initial: 100ms, factor: 1, max: 100ms}
    input: {image: "{{image|data_uri}}", prompt: "stage {{seed}}"}
YAML
cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: ops
    token: ops-token-0123456789abcdef
    scopes: [admin]
  - name: prometheus
    token: scrape-token-0123456789abcdef
    scopes: [read]
  - name: user-7
    token: u7-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-7}
YAML
SCRAPE=(-H "Authorization: Bearer scrape-token-0123456789abcdef")
ADMIN=(-H "Authorization: Bearer ops-token-0123456789abcdef")
export EASEL_REGISTRY=$WORK/models.yaml REPLICATE_API_TOKEN=$TOKEN
PORT=$(free_port)
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --concurrency 4 \
  --lease 3s --heartbeat 500ms || { fail "controller start"; exit 1; }
curl -sf -X POST "$EMU_URL/_emu/faults" -d '{"rate": 1.0, "kinds": ["500"]}' >/dev/null

# scrape FILE [base]: one scrape with the read token
scrape() { curl -s "${SCRAPE[@]}" -o "$1" -w '%{http_code}' "${2:-$API}/metrics"; }
m() { python3 "$ROOT/tests/e2e/promq.py" "$@"; } # m FILE NAME [k=v,...]

printf 'not an image at all\n' >"$WORK/hostile.jpg"
ids=()
for s in 1 2 3; do
  ids+=("$("$EASEL" submit --model local/vips-stage --input "{\"seed\":$s}" --image "file://$SAMPLES/room-1.jpg")")
done
ids+=("$("$EASEL" submit --model local/vips-stage --input '{"seed":9}' --image "file://$WORK/hostile.jpg")")
for s in 4 5; do
  ids+=("$("$EASEL" submit --model flaky/qwen --input "{\"seed\":$s}" --image "file://$SAMPLES/room-1.jpg")")
done
push '{"model":"no/such-model","payload":{"images":["file:///nowhere.jpg"]}}'
push '{"hello": "no payload rule matches this"}'
wait_until 90 finished "${ids[@]}" >/dev/null || fail "the jobs finished"
wait_for 20 '[ "$(count_jobs "'"'dead'"'")" -ge 3 ]' || fail "three jobs went dead"
wait_for 20 '[ "$(rcli LLEN easel:jobs:dead)" -ge 5 ]' || fail "five dead letters"
statuses=$(for j in "${ids[@]}"; do status_of "$j"; done | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
check "the jobs ended as planned (3 succeeded, 1 failed, 2 dead)" eq "$statuses" "dead=2 failed=1 succeeded=3 "

# --- who may read it
code=$(curl -s -o /dev/null -w '%{http_code}' "$API/metrics")
check "without a token: 401" eq "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer u7-token-0123456789abcdef" "$API/metrics")
check "an owner-confined token may not read every owner's figures: 403" eq "$code" 403

# --- the exposition
check "a read token scrapes: 200" eq "$(scrape "$WORK/m1.prom")" 200
ct=$(curl -s "${SCRAPE[@]}" -o /dev/null -w '%{content_type}' "$API/metrics")
check "content type is the text format 0.0.4" eq "$ct" "text/plain; version=0.0.4; charset=utf-8"
promtool check metrics <"$WORK/m1.prom" >"$WORK/promtool.out" 2>&1
check "promtool check metrics passes (no lint problem either)" eq "$?/$(wc -c <"$WORK/promtool.out")" "0/0"
[ -s "$WORK/promtool.out" ] && head -5 "$WORK/promtool.out"
check "and the project's own format checker agrees" python3 "$ROOT/tests/e2e/promcheck.py" "$WORK/m1.prom"
F=$WORK/m1.prom
check "job durations: 3 succeeded local jobs" eq "$(m "$F" easel_job_duration_seconds_count model=local/vips-stage,status=succeeded)" 3
check "1 failed local job (the hostile image)" eq "$(m "$F" easel_job_duration_seconds_count model=local/vips-stage,status=failed)" 1
check "2 dead flaky jobs" eq "$(m "$F" easel_job_duration_seconds_count model=flaky/qwen,status=dead)" 2
check "1 dead job of the unknown model" eq "$(m "$F" easel_job_duration_seconds_count model=no/such-model,status=dead)" 1
check "attempts: 2 per flaky job" eq "$(m "$F" easel_job_attempts_total model=flaky/qwen)" 4
check "retries: 1 per flaky job, with its reason" eq "$(m "$F" easel_job_retries_total model=flaky/qwen)" 2
check "provider errors by provider, class and reason: one per attempt" eq \
  "$(m "$F" easel_provider_errors_total provider=replicate,class=retryable)" 4
check "provider request durations of the failures" eq \
  "$(m "$F" easel_provider_request_duration_seconds_count provider=replicate,model=flaky/qwen)" 4
check "generation_failure counts them" eq "$(m "$F" generation_failure)" 4
check "generation_success counts the local generations" eq "$(m "$F" generation_success)" 3
check "image work that failed records its duration with success=false" eq \
  "$(m "$F" image_processing_duration_seconds_count tool=libvips,success=false)" 1
check "image work that succeeded: sources (3 local, 4 flaky attempts), stage (3), variants (3)" eq \
  "$(m "$F" image_processing_duration_seconds_count tool=libvips,success=true)" 13
check "compressed sizes per variant" eq "$(m "$F" image_compressed_size_bytes_count tool=libvips,variant=normal)/$(m "$F" image_compressed_size_bytes_count tool=libvips,variant=hq)" 3/3
check "compression ratios" eq "$(m "$F" image_compression_ratio_count tool=libvips)" 3
check "original sizes of every source fetched" eq "$(m "$F" image_original_size_bytes_count tool=libvips)" 8
check "seed names: worker_jobs_total" eq "$(m "$F" worker_jobs_total)" 7
check "seed names: worker_jobs_completed / failed" eq "$(m "$F" worker_jobs_completed)/$(m "$F" worker_jobs_failed)" 3/4
rate=$(m "$F" worker_success_rate)
check "seed names: worker_success_rate is 3/7" python3 -c "import sys; sys.exit(abs($rate - 3/7) > 1e-9)"
check "dead letters in the queue: the failed and the dead jobs, and the rejected entry" eq "$(m "$F" easel_queue_dead queue=easel:jobs)" 5
check "the entry that never became a job is counted by its reason" eq "$(m "$F" easel_queue_rejected_total reason=no_usable_fields)" 1
check "nothing pending" eq "$(m "$F" easel_queue_pending queue=easel:jobs)/$(m "$F" worker_jobs_pending)" 0/0
check "the registry: generation 1, applied once, valid" eq \
  "$(m "$F" easel_registry_generation)/$(m "$F" easel_registry_reloads_total result=applied)/$(m "$F" easel_registry_last_reload_success)" 1/1/1
check "leader without election" eq "$(m "$F" easel_leader)" 1
check "both dependencies up" eq "$(m "$F" easel_dependency_up dependency=redis)/$(m "$F" easel_dependency_up dependency=postgres)" 1/1
check "the process's memory is reported" test "$(m "$F" process_resident_memory_bytes)" -gt 1000000
check "the scrape took the whole outbox" eq "$(sql 'select count(*) from metric_outbox')" 0
scrape "$WORK/m2.prom" >/dev/null
check "a second scrape counts nothing twice" eq "$(m "$WORK/m2.prom" worker_jobs_total)/$(m "$WORK/m2.prom" easel_job_attempts_total)" \
  "7/$(m "$F" easel_job_attempts_total)"

# --- a registry change that is rejected
cp "$WORK/models.yaml" "$WORK/models.good"
printf 'models: [this is not a registry\n' >"$WORK/models.yaml"
wait_until 10 grep -q 'registry rejected' "$WORK/ctl.log"
scrape "$WORK/m3.prom" >/dev/null
check "a rejected registry change is counted and flagged" eq \
  "$(m "$WORK/m3.prom" easel_registry_reloads_total result=rejected)/$(m "$WORK/m3.prom" easel_registry_last_reload_success)" 1/0
cp "$WORK/models.good" "$WORK/models.yaml"
wait_for 10 '[ "$(grep -c "registry applied" "$WORK/ctl.log")" -ge 1 ]'
scrape "$WORK/m3.prom" >/dev/null
check "and the good one again: generation 2" eq "$(m "$WORK/m3.prom" easel_registry_generation)/$(m "$WORK/m3.prom" easel_registry_last_reload_success)" 2/1

# --- two replicas: every job counted once, whichever replica is scraped
PORT2=$(free_port)
API1=$API
start_api ctl2 "$PORT2" --api-tokens-file "$WORK/tokens.yaml" --concurrency 4 \
  --lease 3s --heartbeat 500ms || fail "second controller start"
API2=$API
API=$API1
more=()
for s in 11 12 13 14; do
  more+=("$("$EASEL" submit --model local/vips-stage --input "{\"seed\":$s}" --image "file://$SAMPLES/room-1.jpg" 2>>"$WORK/submit.err")")
done
wait_until 60 finished "${more[@]}" >/dev/null || fail "four more jobs finished"
scrape "$WORK/a.prom" "$API1" >/dev/null &
bg=$!
scrape "$WORK/b.prom" "$API2" >/dev/null
wait "$bg"
scrape "$WORK/a2.prom" "$API1" >/dev/null
scrape "$WORK/b2.prom" "$API2" >/dev/null
total=$(($(m "$WORK/a2.prom" worker_jobs_total) + $(m "$WORK/b2.prom" worker_jobs_total)))
check "two replicas scraped at once: 11 jobs in all, each counted once" eq "$total" 11

# --- the backlog while claiming is paused
curl -sf -X POST "${ADMIN[@]}" "$API1/worker/stop" >/dev/null
curl -sf -X POST "${ADMIN[@]}" "$API2/worker/stop" >/dev/null
sleep 1
for s in 21 22 23 24 25; do
  push "{\"model\":\"local/vips-stage\",\"input\":{\"seed\":$s},\"images\":[\"file://$SAMPLES/room-1.jpg\"]}"
done
scrape "$WORK/q1.prom" >/dev/null
sleep 2.2
scrape "$WORK/q2.prom" >/dev/null
check "5 entries pending while paused" eq "$(m "$WORK/q2.prom" easel_queue_pending queue=easel:jobs)/$(m "$WORK/q2.prom" worker_jobs_pending)" 5/5
age=$(m "$WORK/q2.prom" easel_queue_oldest_pending_age_seconds queue=easel:jobs)
check "the oldest entry's age grows between scrapes (${age}s)" python3 -c "import sys; sys.exit(not 2.0 <= $age < 30)"

# --- a real Prometheus server scrapes it and answers PromQL
PPORT=$(free_port)
printf 'scrape-token-0123456789abcdef' >"$WORK/prom-token"
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: easel
    authorization: {credentials_file: $WORK/prom-token}
    static_configs: [{targets: ["127.0.0.1:$PORT", "127.0.0.1:$PORT2"]}]
YAML
promtool check config "$WORK/prometheus.yml" >/dev/null 2>&1 || fail "promtool check config"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
PROM=http://127.0.0.1:$PPORT
# promql EXPR: the single value of an instant query ("none" when empty)
promql() {
  curl -s --get "$PROM/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
v = float(r[0]["value"][1]) if r else None
print("none" if v is None else (int(v) if v == int(v) else v))'
}
wait_for 30 '[ "$(promql "count(up == 1)" 2>/dev/null)" = 2 ] && [ "$(promql "sum(worker_jobs_total)" 2>/dev/null)" = 11 ]' ||
  { fail "Prometheus scrapes both replicas"; tail -5 "$WORK/prometheus.log"; }
check "PromQL: both targets up" eq "$(promql 'count(up{job="easel"} == 1)')" 2
check "PromQL: jobs finished over both replicas" eq "$(promql 'sum(worker_jobs_total)')" 11
check "PromQL: succeeded jobs by model" eq \
  "$(promql 'sum(easel_job_duration_seconds_count{model="local/vips-stage",status="succeeded"})')" 7
check "PromQL: dead jobs" eq "$(promql 'sum(easel_job_duration_seconds_count{status="dead"})')" 3
check "the dashboard's queries and the alert rules name only metrics easel exports" \
  python3 "$ROOT/tests/e2e/dashcheck.py" "$ROOT/charts/easel/files/dashboard.json" \
  "$ROOT/charts/easel/files/alerts.yaml" "$WORK"/*.prom
check "PromQL: the backlog (the same on every replica: max)" eq "$(promql 'max(easel_queue_pending{queue="easel:jobs"})')" 5
check "PromQL: provider errors rate is defined" test "$(promql 'sum(easel_provider_errors_total{provider="replicate"})')" = 4
check "PromQL: a histogram quantile of job durations" test "$(promql 'histogram_quantile(0.5, sum by (le) (easel_job_duration_seconds_bucket))')" != none
finish
