#!/usr/bin/env bash
# Traces with the kubernetes executor, against the fake API server (its
# simulated node runs each pod as the real binary with the Job's env) and
# the OTLP collector double: the dispatch span reaches the worker pod as
# TRACEPARENT in the Job's env, so the pod's spans join the job's one tree;
# the controller's OTEL_* settings go into the Job, its header variables
# (credentials) never do.
. "$(dirname "$0")/lib.sh"
kube_setup
kube_registry "$WORK/models.yaml"
python3 "$ROOT/tests/telemetry/otlp_double.py" --state-dir "$WORK/otlp" >>"$WORK/otlp.log" 2>&1 &
PIDS+=("$!")
wait_until 10 test -s "$WORK/otlp/port" >/dev/null || { fail "collector double start"; exit 1; }
OTLP=http://127.0.0.1:$(cat "$WORK/otlp/port")
export OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP OTEL_BSP_SCHEDULE_DELAY=200 OTEL_SERVICE_NAME=easel-kube \
  OTEL_EXPORTER_OTLP_HEADERS='x-collector-token=k8s-s3cret'
start_controller ctl --executor kubernetes --registry-configmap default/easel-models \
  --concurrency 2 --lease 3s --heartbeat 500ms --job-ttl 1h --worker-image easel:test \
  || { fail "controller start"; exit 1; }

P_TRACE=1f2e3d4c5b6a79881f2e3d4c5b6a7988
P_SPAN=a1b2c3d4e5f60718
push "{\"traceparent\":\"00-$P_TRACE-$P_SPAN-01\",\"image_id\":\"t-1\",\"original_url\":\"file://$SAMPLES/room-1.jpg\",\"style\":\"modern\"}"
wait_for 60 'all_terminal 1'
id=$(sql "select id from jobs where payload->>'image_id'='t-1'")
check "the job succeeded through a Job in the cluster" eq "$(status_of "$id")" succeeded
k get job "$(job_name "$id" 1)" -o json >"$WORK/job.json"
check "the Job's env carries TRACEPARENT, in the job's trace" python3 -c "
import json, sys
env = {e['name']: e.get('value') for e in json.load(open('$WORK/job.json'))['spec']['template']['spec']['containers'][0]['env']}
tp = env.get('TRACEPARENT', '')
print('   TRACEPARENT=%s' % tp, file=sys.stderr)
sys.exit(0 if tp.startswith('00-$P_TRACE-') and env.get('OTEL_EXPORTER_OTLP_ENDPOINT') == '$OTLP' else 1)"
check "the Job holds no header variable, nor its secret" \
  bash -c "! grep -q 'OTEL_EXPORTER_OTLP_HEADERS\|k8s-s3cret' '$WORK/job.json'"
has_attempt() { curl -sf "$OTLP/_otlp/spans" | python3 -c "import json,sys; sys.exit(0 if any(s['traceId']=='$P_TRACE' and s['name']=='easel.attempt' for s in json.load(sys.stdin)) else 1)"; }
wait_until 20 has_attempt
curl -sf "$OTLP/_otlp/spans" >"$WORK/spans.json"
check "the pod's spans and the controller's form one tree under the producer's span" \
  python3 "$ROOT/tests/telemetry/trace_tree.py" "$WORK/spans.json" "$P_TRACE" "$P_SPAN" \
  easel.intake easel.dispatch easel.attempt easel.fetch easel.checks easel.variants easel.storage.upload
check "the dispatch span names the kubernetes executor" python3 -c "
import json, sys
S = json.load(open('$WORK/spans.json'))
sys.exit(0 if [s['attributes'].get('easel.executor') for s in S if s['traceId']=='$P_TRACE' and s['name']=='easel.dispatch'] == ['kubernetes'] else 1)"
check "the collector found nothing wrong in any export" eq "$(curl -sf "$OTLP/_otlp/violations")" "[]"
finish
