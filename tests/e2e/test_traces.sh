#!/usr/bin/env bash
# OpenTelemetry traces over OTLP/HTTP JSON, against the collector double of
# tests/telemetry/otlp_double.py, which checks every export strictly (hex
# ids, integer enums, string nanoseconds, the resourceSpans/scopeSpans
# nesting, no unknown field). A job pushed with a producer's traceparent
# and one posted to the API with a traceparent header each make ONE tree
# of spans, from the controller and from the worker process alike, under
# the producer's span; a retried job's attempts join the same trace. Then a
# collector that is not there, and one that never answers: jobs are not
# slowed beyond the exporter's bound, nothing is lost, and a worker exits
# within its 2 s flush.
. "$(dirname "$0")/lib.sh"
setup_services
samples
IMG=file://$SAMPLES/room-1.jpg

start_double() { # NAME [flags] -> sets DOUBLE (base URL)
  local name=$1; shift
  python3 "$ROOT/tests/telemetry/otlp_double.py" --state-dir "$WORK/$name" "$@" \
    >>"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  wait_until 10 test -s "$WORK/$name/port" >/dev/null || { fail "$name did not start"; exit 1; }
  DOUBLE=http://127.0.0.1:$(cat "$WORK/$name/port")
}
start_double otlp
OTLP=$DOUBLE
TOKEN=r8_emuTestToken_7f3a9c2e51
start_emulator replicate "$TOKEN" --start-ms 100 --run-ms 200 || { fail "emulator start"; exit 1; }
provider_registry "$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
  - id: qwen/qwen-image-edit
    provider: replicate
    endpoint: $EMU_URL
    credential_env: REPLICATE_API_TOKEN
    timeout: 30s
    retry: {max_attempts: 3, initial: 200ms, factor: 2, max: 1s}
    input: {image: "{{images.0|data_uri}}", prompt: "Stage {{style}} {{marker}}", output_format: png, seed: "{{seed}}"}
YAML
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$WORK/secrets"
cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: web-app
    token: web-token-0123456789abcdef
    scopes: [read, write]
YAML
export EASEL_REGISTRY=$WORK/models.yaml REPLICATE_API_TOKEN=$TOKEN
# the standard variables; a header that is a secret, percent-encoded
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP OTEL_BSP_SCHEDULE_DELAY=200 \
  OTEL_SERVICE_NAME=easel-e2e OTEL_RESOURCE_ATTRIBUTES='deployment.environment=e2e,team=img%2Cvideo' \
  OTEL_EXPORTER_OTLP_HEADERS='x-collector-token=c0llect0r%3Dsecret'
PORT=$(free_port)
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --concurrency 4 --lease 3s \
  --heartbeat 500ms --webhook-secret-file "$WORK/secrets" --webhook-allow 127.0.0.1 \
  || { fail "controller start"; exit 1; }

# --- a producer's job, pushed with its trace context -----------------------
P_TRACE=4bf92f3577b34da6a3ce929d0e0e4736
P_SPAN=00f067aa0ba902b7
push "{\"model\":\"qwen/qwen-image-edit\",\"traceparent\":\"00-$P_TRACE-$P_SPAN-01\",\"webhook\":\"$OTLP/hook\",\"payload\":{\"images\":[\"$IMG\"],\"style\":\"modern\",\"seed\":7}}"
# a retried one: the provider answers 500 once, so two attempts
R_TRACE=0af7651916cd43dd8448eb211c80319c
R_SPAN=b7ad6b7169203331
push "{\"model\":\"qwen/qwen-image-edit\",\"traceparent\":\"00-$R_TRACE-$R_SPAN-01\",\"payload\":{\"images\":[\"$IMG\"],\"style\":\"boho\",\"seed\":8,\"marker\":\"[[emu:500once]]\"}}"
# through the API, with a traceparent header
A_TRACE=6e0c63257de34c92bf9efcd03927272e
A_SPAN=d75597dee50b0cac
call POST /v1/jobs -H "Authorization: Bearer web-token-0123456789abcdef" \
  -H "Content-Type: application/json" -H "traceparent: 00-$A_TRACE-$A_SPAN-01" \
  -d '{"model":"local/vips-stage","images":["'"$IMG"'"],"input":{"style":"loft"}}'
check "POST /v1/jobs with a traceparent header: 201" eq "$CODE" 201
API_JOB=$(js 'd["id"]')

wait_until 60 all_terminal 3
check "all three jobs succeeded" eq "$(count_jobs "'succeeded'")" 3
JOB=$(sql "select id from jobs where traceparent like '00-$P_TRACE-%'")
RJOB=$(sql "select id from jobs where traceparent like '00-$R_TRACE-%'")
check "the job's trace context is stored with it, in the producer's trace" test -n "$JOB"
check "the API job's stored context is in the header's trace" \
  bash -c "[[ '$(field "$API_JOB" traceparent)' == 00-$A_TRACE-* ]]"
check "the retried job took two attempts" eq "$(field "$RJOB" attempts)" 2

spans() { curl -sf "$OTLP/_otlp/spans"; }
has_span() { spans | python3 -c "import json,sys; s=json.load(sys.stdin); sys.exit(0 if any(x['traceId']=='$1' and x['name']=='$2' for x in s) else 1)"; }
# the webhook is delivered after the job ends; the worker flushes at exit
wait_until 20 has_span "$P_TRACE" easel.webhook
wait_until 10 has_span "$A_TRACE" easel.attempt
wait_until 10 has_span "$R_TRACE" easel.attempt
spans >"$WORK/spans.json"

# tree TRACE PARENT_SPAN NAMES...: one tree under the producer's span
tree() { python3 "$ROOT/tests/telemetry/trace_tree.py" "$WORK/spans.json" "$@"; }
# q 'EXPR': a Python expression over the spans of $WORK/spans.json (as S)
q() { python3 -c "import json,sys; S=json.load(open('$WORK/spans.json')); r=($1); print(r)"; }

check "the pushed job's spans, from the controller and the worker, form one tree under the producer's span" \
  tree "$P_TRACE" "$P_SPAN" easel.intake easel.dispatch easel.attempt easel.fetch easel.provider \
  "HTTP POST" easel.checks easel.variants easel.storage.upload easel.webhook
check "spans came from both processes: the controller and the job" eq \
  "$(q "sorted({s['resource'].get('easel.mode') for s in S if s['traceId']=='$P_TRACE'})")" "['controller', 'job']"
check "intake -> dispatch -> attempt -> provider, each the parent of the next" python3 - "$WORK/spans.json" "$P_TRACE" <<'PY'
import json, sys
S = [s for s in json.load(open(sys.argv[1])) if s["traceId"] == sys.argv[2]]
by = {s["spanId"]: s for s in S}
p = next(s for s in S if s["name"] == "easel.provider")
chain = []
while p:
    chain.append(p["name"]); p = by.get(p["parentSpanId"])
print("   " + " <- ".join(chain), file=sys.stderr)
sys.exit(0 if chain == ["easel.provider", "easel.attempt", "easel.dispatch", "easel.intake"] else 1)
PY
check "the provider span names the provider, model, prediction and HTTP status" python3 - "$WORK/spans.json" "$P_TRACE" <<'PY'
import json, sys
S = [s for s in json.load(open(sys.argv[1])) if s["traceId"] == sys.argv[2]]
p = next(s for s in S if s["name"] == "easel.provider")
a = p["attributes"]
print("   %s" % a, file=sys.stderr)
ok = (a.get("easel.provider") == "replicate" and a.get("easel.model") == "qwen/qwen-image-edit"
      and len(a.get("easel.prediction_id", "")) > 10 and a.get("http.response.status_code") in (200, 201)
      and p["kind"] == 3 and p["status"] == 0)
https = [s for s in S if s["name"].startswith("HTTP ") and s["parentSpanId"] == p["spanId"]]
ok = ok and https and all(isinstance(s["attributes"].get("http.response.status_code"), int) for s in https)
sys.exit(0 if ok else 1)
PY
check "the resource carries the service name and OTEL_RESOURCE_ATTRIBUTES, decoded" eq \
  "$(q "sorted({(s['resource'].get('service.name'), s['resource'].get('team'), s['resource'].get('deployment.environment')) for s in S})")" \
  "[('easel-e2e', 'img,video', 'e2e')]"
check "the webhook request carried the job's trace context" python3 -c "
import json, sys, urllib.request
h = json.load(urllib.request.urlopen('$OTLP/_otlp/hooks'))
sys.exit(0 if h and all(x['traceparent'].startswith('00-$P_TRACE-') for x in h) else 1)"
check "the retried job's spans form one tree" tree "$R_TRACE" "$R_SPAN" easel.intake easel.dispatch easel.attempt
check "both its attempts, and both dispatches, are in that one trace" eq \
  "$(q "[sorted(s['attributes'].get('easel.attempt') for s in S if s['traceId']=='$R_TRACE' and s['name']==n) for n in ('easel.dispatch', 'easel.attempt')]")" \
  "[[1, 2], [1, 2]]"
check "the failed first attempt's provider call is an error span with HTTP 500" eq \
  "$(q "sorted((s['status'], s['attributes'].get('http.response.status_code')) for s in S if s['traceId']=='$R_TRACE' and s['name']=='easel.provider')")" \
  "[(0, 201), (2, 500)]"
check "the API job's spans form one tree under the header's span, starting with the API's intake" \
  tree "$A_TRACE" "$A_SPAN" easel.intake easel.dispatch easel.attempt easel.fetch easel.checks easel.variants
check "the API's intake span is a SERVER span with the HTTP status" eq \
  "$(q "[ (s['kind'], s['attributes'].get('http.response.status_code')) for s in S if s['traceId']=='$A_TRACE' and s['parentSpanId']=='$A_SPAN']")" \
  "[(2, 201)]"
check "the collector found nothing wrong in any export" eq "$(curl -sf "$OTLP/_otlp/violations")" "[]"
check "the exporter sent the OTEL_EXPORTER_OTLP_HEADERS header, decoded, and JSON" eq \
  "$(curl -sf "$OTLP/_otlp/headers" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h.get("x-collector-token"), h.get("content-type"))')" \
  "c0llect0r=secret application/json"
check "the header's secret is in no log" bash -c "! grep -rq 'c0llect0r' '$WORK'/*.log"
check "the worker's log lines carry the job's trace id" \
  grep -q "\"job_id\":\"$JOB\",\"trace_id\":\"$P_TRACE\"" "$WORK/ctl.log"
kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null

# --- tracing off costs nothing and changes nothing --------------------------
(
  unset OTEL_EXPORTER_OTLP_ENDPOINT
  start_controller plain --concurrency 2 || exit 1
  id=$("$EASEL" submit --model local/vips-stage --input '{"style":"x"}' --image "$IMG" --wait --timeout 60s |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  [ "$(field "$id" "status || '/' || coalesce(traceparent, 'none')")" = succeeded/none ]
  rc=$?
  kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
  exit $rc
)
check "without an endpoint: no trace context is stored and the job succeeds" test $? -eq 0

# --- a collector that is not there, and one that hangs ----------------------
# N jobs at once; each must end well within the bound, and each worker must
# exit within its 2 s flush after its record is final
dead_collector() { # NAME ENDPOINT
  local name=$1 n=6 t0 t1 ids=() i
  export OTEL_EXPORTER_OTLP_ENDPOINT=$2
  start_controller "$name" --concurrency "$n" --lease 3s --heartbeat 500ms || return 1
  t0=$(date +%s.%N)
  for i in $(seq 1 $n); do
    ids+=("$("$EASEL" submit --model local/vips-stage --input "{\"style\":\"s$i\"}" --image "$IMG")")
  done
  wait_until 40 finished "${ids[@]}"
  t1=$(date +%s.%N)
  local ok=0
  for i in "${ids[@]}"; do [ "$(status_of "$i")" = succeeded ] && ok=$((ok + 1)); done
  # every worker has exited within its 2 s flush after the last job ended
  all_workers_gone() { local j; for j in "${ids[@]}"; do worker_gone "$j" || return 1; done; }
  wait_until 4 all_workers_gone ||
    { echo "   workers still running 4 s after their jobs ended" >&2; ok=0; }
  local secs
  secs=$(python3 -c "print(round($t1 - $t0, 1))")
  echo "   $name: $ok of $n jobs succeeded in $secs s" >&2
  local s0
  s0=$(date +%s.%N)
  kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
  local stop
  stop=$(python3 -c "print(round($(date +%s.%N) - $s0, 1))")
  echo "   $name: the controller stopped in $stop s" >&2
  [ "$ok" -eq "$n" ] && python3 -c "import sys; sys.exit(0 if $secs < 20 and $stop < 8 else 1)"
}
CLOSED=$(free_port)
check "a collector whose port is closed: every job succeeds, promptly, and workers exit" \
  dead_collector closed "http://127.0.0.1:$CLOSED"
start_double hang --hang
HANG=$DOUBLE
check "a collector that never answers: every job succeeds, promptly, and workers exit" \
  dead_collector hanging "$HANG"
check "the hanging collector was asked (and never answered)" \
  python3 -c "import json,sys,urllib.request; s=json.load(urllib.request.urlopen('$HANG/_otlp/stats')); sys.exit(0 if s['hung'] >= 1 and s['accepted'] == 0 else 1)"
finish
