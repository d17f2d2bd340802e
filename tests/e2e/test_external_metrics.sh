#!/usr/bin/env bash
# The external metrics API (external.metrics.k8s.io/v1beta1) that an HPA
# scales workers on: a controller serves it over TLS with client
# certificates from a CA made here with openssl; kubectl, configured
# straight at that listener with the aggregator-like client certificate,
# reads discovery and easel_queue_backlog. While the controller is paused
# the value must equal what Redis holds (LLEN + ZCARD + claimed but not
# started), per queue and per model through the label selector; it must
# fall to 0 as the jobs drain once claiming resumes. A client without a
# certificate, with one from another CA, or with a name not allowed is
# refused; a selector the server does not support is a 400 Status; off
# loopback without a client CA the controller refuses to start. Last, the
# per-model split is timed with 10,000 entries queued.
. "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || "$ROOT/hack/install-deps.sh" kubectl >/dev/null 2>&1
command -v kubectl >/dev/null || { fail "kubectl is not installed (hack/install-deps.sh)"; exit 1; }
command -v openssl >/dev/null || "$ROOT/hack/install-deps.sh" openssl >/dev/null 2>&1
setup_services
samples

# --- certificates -------------------------------------------------------------
PKI=$WORK/pki
mkdir -p "$PKI"
mkcert() { # NAME CN CA-NAME [SAN]
  local n=$1 cn=$2 ca=$3 san=${4:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$n.key" -subj "/CN=$cn" \
    -out "$PKI/$n.csr" 2>/dev/null || return 1
  local ext=$PKI/$n.ext
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -days 1 -extfile "$ext" -out "$PKI/$n.crt" 2>/dev/null
}
mkca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -subj "/CN=$1" \
  -days 1 -out "$PKI/$1.crt" 2>/dev/null; }
mkca serving-ca && mkca front-proxy-ca && mkca other-ca &&
  mkcert server easel-metrics serving-ca "DNS:localhost,IP:127.0.0.1" &&
  mkcert client front-proxy-client front-proxy-ca &&
  mkcert stranger someone-else front-proxy-ca &&
  mkcert forged front-proxy-client other-ca
check "openssl made the CAs, the serving and the client certificates" test -s "$PKI/forged.crt"

# --- a paused controller with the metrics API ----------------------------------
HPORT=$(free_port)
MPORT=$(free_port)
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml
start_api ctl "$HPORT" --concurrency 1 --metrics-api-addr "127.0.0.1:$MPORT" \
  --metrics-api-cert "$PKI/server.crt" --metrics-api-key "$PKI/server.key" \
  --metrics-api-client-ca "$PKI/front-proxy-ca.crt" \
  --metrics-api-allowed-names "front-proxy-client, aggregator" || { fail "start controller"; exit 1; }
CTL1=$CTL_PID
call POST /worker/stop
check "the controller is paused" eq "$CODE" 200
sleep 1.5 # a claim already waiting in Redis returns within a second

KCFG=$WORK/kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: easel
  cluster:
    server: https://127.0.0.1:$MPORT
    certificate-authority: $PKI/serving-ca.crt
users:
- name: aggregator
  user:
    client-certificate: $PKI/client.crt
    client-key: $PKI/client.key
contexts:
- name: easel
  context: {cluster: easel, user: aggregator}
current-context: easel
EOF
EM=/apis/external.metrics.k8s.io/v1beta1
kraw() { kubectl --kubeconfig "$KCFG" --request-timeout=10s get --raw "$1"; }
# backlog SELECTOR: the summed value of the items (what an HPA adds up)
backlog() {
  local q=""
  [ -n "$1" ] && q="?labelSelector=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")"
  kraw "$EM/namespaces/default/easel_queue_backlog$q" >"$WORK/list.json" || return 1
  python3 - "$WORK/list.json" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "ExternalMetricValueList", d
assert d["apiVersion"] == "external.metrics.k8s.io/v1beta1", d
assert isinstance(d["metadata"], dict)
total = 0
for it in d["items"]:
    assert it["metricName"] == "easel_queue_backlog", it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", it["timestamp"]), it
    assert isinstance(it["metricLabels"], dict) and it["metricLabels"]["queue"] == "easel_jobs", it
    # a Kubernetes quantity: a plain integer here
    assert re.fullmatch(r"(0|[1-9]\d*)", it["value"]), it
    total += int(it["value"])
print(f'{len(d["items"])} {total}')
PY
}
redis_backlog() { # what Redis holds: pending, delayed, waiting in the warm pool
  echo $(( $(rcli LLEN easel:jobs) + $(rcli ZCARD easel:jobs:delayed) + $(rcli LLEN easel:jobs:pool) ))
}

# --- discovery -----------------------------------------------------------------
kraw /apis >"$WORK/apis.json"
check "discovery: /apis lists the group with v1beta1 preferred" eq "$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); g=d["groups"][0]
print(d["kind"], g["name"], g["preferredVersion"]["groupVersion"])' "$WORK/apis.json")" \
  "APIGroupList external.metrics.k8s.io external.metrics.k8s.io/v1beta1"
kraw /apis/external.metrics.k8s.io >"$WORK/group.json"
check "discovery: the APIGroup" eq "$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); print(d["kind"], d["name"], [v["version"] for v in d["versions"]])' "$WORK/group.json")" \
  "APIGroup external.metrics.k8s.io ['v1beta1']"
kraw $EM >"$WORK/resources.json"
check "discovery: the APIResourceList names easel_queue_backlog (namespaced, get)" eq "$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); r=d["resources"][0]
print(d["kind"], d["groupVersion"], r["name"], r["namespaced"], r["kind"], r["verbs"])' "$WORK/resources.json")" \
  "APIResourceList external.metrics.k8s.io/v1beta1 easel_queue_backlog True ExternalMetricValueList ['get']"
check "kubectl api-resources finds the metric through discovery" \
  bash -c "kubectl --kubeconfig '$KCFG' api-resources --api-group=external.metrics.k8s.io 2>&1 | grep -q '^easel_queue_backlog '"

# --- the value while jobs are queued ---------------------------------------------
check "an empty queue reads 0 in one item" eq "$(backlog "")" "1 0"
IMG=file://$SAMPLES/garment.png
for i in 1 2 3 4 5 6 7; do push '{"model":"local/vips-stage","payload":{"images":["'"$IMG"'"]}}'; done
for i in 1 2 3; do
  push '{"image_id":"img-'$i'","original_url":"'"$IMG"'","room_type":"bedroom","style":"modern","seed":'$i'}'
done
push '{"model":"gone/model","payload":{"images":["'"$IMG"'"]}}'
check "11 entries pending in Redis" eq "$(rcli LLEN easel:jobs)" 11
check "the backlog equals LLEN while the controller is paused" eq "$(backlog "")" "1 $(redis_backlog)"
check "queue=easel_jobs selects the queue" eq "$(backlog "queue=easel_jobs")" "1 11"
check "queue==easel_jobs (==) too" eq "$(backlog "queue==easel_jobs")" "1 11"
check "another queue: no item" eq "$(backlog "queue=other")" "0 0"
check "model=local_vips-stage counts that model's entries" eq "$(backlog "model=local_vips-stage")" "1 7"
check "model in (local_vips-stage, gone_model)" eq "$(backlog "queue in (easel_jobs),model in (local_vips-stage, gone_model)")" "1 8"
check "model notin (local_vips-stage): the rest, payload entries included" eq "$(backlog "model notin (local_vips-stage)")" "1 4"
check "model!=gone_model" eq "$(backlog "model!=gone_model")" "1 10"
check "a pinned model is in metricLabels" eq "$(backlog "model=local_vips-stage" >/dev/null;
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["metricLabels"])' "$WORK/list.json")" \
  "{'queue': 'easel_jobs', 'model': 'local_vips-stage'}"

# the chart's worker HPA asks with its own selector, as the HPA controller
# writes it from matchLabels and matchExpressions (labels.Selector's String:
# requirements sorted by key)
hpa_selector() { # VALUES-ARGS...: the labelSelector the rendered HPA sends
  "$ROOT/hack/chart-render.sh" --name easel --namespace default --set api.enabled=false \
    --set externalMetrics.enabled=true --set worker.enabled=true --set workerAutoscaling.enabled=true \
    "$@" "$ROOT/charts/easel" |
  /usr/bin/python3 -c '
import sys, yaml
h = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"].endswith("-worker")][0]
sel = h["spec"]["metrics"][0]["external"]["metric"]["selector"]
reqs = [(k, "%s=%s" % (k, v)) for k, v in sel.get("matchLabels", {}).items()]
reqs += [(e["key"], "%s %s (%s)" % (e["key"], e["operator"].lower(), ",".join(sorted(e["values"]))))
         for e in sel.get("matchExpressions", [])]
print(",".join(r for _, r in sorted(reqs)))'
}
S1=$(hpa_selector --set 'workerAutoscaling.models={local_vips-stage}')
check "the chart's HPA for one model sends \"$S1\", which reads that model's backlog" eq "$(backlog "$S1")" "1 7"
S2=$(hpa_selector --set 'workerAutoscaling.models={local_vips-stage,gone_model}')
check "for two models \"$S2\", both" eq "$(backlog "$S2")" "1 8"
S3=$(hpa_selector)
check "for the whole queue \"$S3\", all of it" eq "$(backlog "$S3")" "1 11"

# a retry waiting out its backoff is backlog; so is a job claimed but not
# started (no record yet, or queued), but not one that is running
J1=11111111-1111-4111-8111-111111111111
J2=22222222-2222-4222-8222-222222222222
J3=33333333-3333-4333-8333-333333333333
rcli ZADD easel:jobs:delayed 9999999999999 '{"id":"'$J1'","model":"local/vips-stage","payload":{}}' >/dev/null
# a job routed to the warm pool that no worker has claimed yet
J4=44444444-4444-4444-8444-444444444444
rcli LPUSH easel:jobs:pool '{"id":"'$J4'","model":"local/vips-stage","payload":{}}' >/dev/null
rcli HSET easel:jobs:claims "$J2" '{"id":"'$J2'","model":"local/vips-stage","payload":{}}' \
  "$J3" '{"id":"'$J3'","model":"local/vips-stage","payload":{}}' >/dev/null
sql "insert into jobs (id, model, status, payload, max_attempts) values ('$J3', 'local/vips-stage', 'running', '{}', 1)" >/dev/null
check "delayed, pooled and claimed-not-started count, a running claim does not" eq "$(backlog "")" "1 $(( $(redis_backlog) + 1 ))"
check "... by model too" eq "$(backlog "model=local_vips-stage")" "1 10"
sql "update jobs set status = 'queued' where id = '$J3'" >/dev/null
check "a claimed job whose record is queued counts" eq "$(backlog "model=local_vips-stage")" "1 11"
rcli ZREM easel:jobs:delayed '{"id":"'$J1'","model":"local/vips-stage","payload":{}}' >/dev/null
rcli HDEL easel:jobs:claims "$J2" "$J3" >/dev/null
rcli DEL easel:jobs:pool >/dev/null
sql "delete from jobs where id = '$J3'" >/dev/null
check "back to LLEN once those are gone" eq "$(backlog "")" "1 11"

# --- refusals ----------------------------------------------------------------------
curl_em() { curl -s -o "$WORK/em.out" -w '%{http_code}' --cacert "$PKI/serving-ca.crt" "$@"; }
curl_em "https://127.0.0.1:$MPORT$EM" >/dev/null 2>&1
rc=$?
check "no client certificate: the TLS handshake is refused" test "$rc" -ne 0
curl_em --cert "$PKI/forged.crt" --key "$PKI/forged.key" "https://127.0.0.1:$MPORT$EM" >/dev/null 2>&1
rc=$?
check "a certificate from another CA is refused" test "$rc" -ne 0
code=$(curl_em --cert "$PKI/stranger.crt" --key "$PKI/stranger.key" "https://127.0.0.1:$MPORT$EM")
check "a name not in --metrics-api-allowed-names: 403 Status" eq "$code $(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); print(d["kind"], d["reason"], d["code"])' "$WORK/em.out")" \
  "403 Status Forbidden 403"
CERT=(--cert "$PKI/client.crt" --key "$PKI/client.key")
bad() { # SELECTOR: expects a 400 Status
  local q
  q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
  local code
  code=$(curl_em "${CERT[@]}" -H 'X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler' \
    "https://127.0.0.1:$MPORT$EM/namespaces/default/easel_queue_backlog?labelSelector=$q")
  [ "$code" = 400 ] && python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert (d["kind"], d["apiVersion"], d["status"], d["reason"], d["code"]) == ("Status", "v1", "Failure", "BadRequest", 400), d
assert d["message"], d' "$WORK/em.out"
}
check "a label other than queue and model: 400" bad "color=red"
check "existence (model alone): 400" bad "model"
check "!model: 400" bad "!model"
check "model>3: 400" bad "model>3"
check "an unclosed set: 400" bad "model in (a,b"
check "a queue name not in label form: 400" bad "queue=easel:jobs"
check "kubectl reports the 400 as BadRequest" \
  bash -c "! kubectl --kubeconfig '$KCFG' get --raw '$EM/namespaces/default/easel_queue_backlog?labelSelector=color%3Dred' 2>'$WORK/kerr' && grep -q BadRequest '$WORK/kerr'"
code=$(curl_em "${CERT[@]}" "https://127.0.0.1:$MPORT$EM/namespaces/default/other_metric")
check "another metric: 404 Status" eq "$code" 404
code=$(curl_em "${CERT[@]}" -X POST "https://127.0.0.1:$MPORT$EM/namespaces/default/easel_queue_backlog")
check "POST: 405" eq "$code" 405

# --- draining --------------------------------------------------------------------------
call POST /worker/start
check "claiming resumes" eq "$CODE" 200
SEEN=" "
# sampled with curl (kubectl takes a second to start on a busy machine);
# one attempt at a time makes the drain last long enough to be seen
CERT_Q="https://127.0.0.1:$MPORT$EM/namespaces/default/easel_queue_backlog"
drained() {
  local v
  v=$(curl -sf --cacert "$PKI/serving-ca.crt" "${CERT[@]}" "$CERT_Q" |
      python3 -c 'import json,sys; print(sum(int(i["value"]) for i in json.load(sys.stdin)["items"]))') || return 1
  SEEN="$SEEN$v "
  [ "$v" = 0 ]
}
wait_until 120 drained
check "the backlog drains to 0 (values seen:$SEEN)" eq "$(backlog "")" "1 0"
check "it went through values between 11 and 0 on the way" \
  bash -c "echo '$SEEN' | tr ' ' '\n' | grep -qE '^([1-9]|10)$'"
check "Redis agrees: nothing pending or delayed" eq "$(redis_backlog)" 0
wait_for 60 'all_terminal 11'
check "every job ended" all_terminal 11

# --- secure by default ----------------------------------------------------------------
P2=$(free_port)
"$EASEL" controller --metrics-api-addr "0.0.0.0:$P2" --metrics-api-cert "$PKI/server.crt" \
  --metrics-api-key "$PKI/server.key" >"$WORK/open.log" 2>&1 &
OPID=$!
PIDS+=("$OPID")
wait_until 20 gone "$OPID"
check "off loopback without --metrics-api-client-ca the controller refuses to start" \
  grep -q 'needs client certificates' "$WORK/open.log"

# --- 10,000 entries: the per-model split, timed ----------------------------------------
call POST /worker/stop
sleep 1.5
python3 - "$WORK/bulk.txt" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        m = "local/vips-stage" if i % 4 else "other/model"
        e = json.dumps({"model": m, "payload": {"images": ["file:///nowhere/%d.png" % i]}})
        f.write('LPUSH easel:jobs "%s"\n' % e.replace('"', '\\"'))
PY
rcli <"$WORK/bulk.txt" >/dev/null
check "10,000 entries queued" eq "$(rcli LLEN easel:jobs)" 10000
t0=$(date +%s%N); v=$(backlog ""); t1=$(date +%s%N)
check "total over 10,000 entries" eq "$v" "1 10000"
t2=$(date +%s%N); v=$(backlog "model=local_vips-stage"); t3=$(date +%s%N)
check "per model over 10,000 entries" eq "$v" "1 7500"
tot_ms=$(( (t1 - t0) / 1000000 )); split_ms=$(( (t3 - t2) / 1000000 ))
echo "   10,000 entries: total in ${tot_ms} ms, per-model split in ${split_ms} ms (kubectl included)"
rcli CONFIG SET slowlog-log-slower-than 0 >/dev/null
rcli SLOWLOG RESET >/dev/null
backlog "model=other_model" >/dev/null
script_us=$(rcli --json SLOWLOG GET 50 | python3 -c '
import json, sys
# each entry: id, time, duration (us), the command words, client, name;
# the backlog script is the EVALSHA that read the whole list (the longest)
print(max([e[2] for e in json.load(sys.stdin) if e[3][0].upper() == "EVALSHA"] or [0]))')
rcli CONFIG SET slowlog-log-slower-than 10000 >/dev/null
echo "   the backlog script over 10,000 entries held Redis for about ${script_us} us"
check "the split over 10,000 entries stays under 1 s in Redis" test "$script_us" -lt 1000000
rcli DEL easel:jobs >/dev/null
kill "$CTL1"
wait_until 30 gone "$CTL1"

# --- --metrics-api-client-ca=cluster: the CA and names from the cluster ----------------
# What the kube-apiserver publishes for extension API servers, in the fake
# cluster: the controller reads it at start (the Role
# extension-apiserver-authentication-reader allows that in a real one).
start_fake_api || { fail "fake API server"; exit 1; }
kubectl create namespace kube-system >/dev/null 2>&1
kubectl -n kube-system create configmap extension-apiserver-authentication \
  --from-file=requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --from-literal=requestheader-allowed-names='["front-proxy-client"]' \
  --from-literal=requestheader-username-headers='["X-Remote-User"]' >/dev/null
check "the fake cluster holds kube-system/extension-apiserver-authentication" \
  kubectl -n kube-system get configmap extension-apiserver-authentication -o name
M2=$(free_port)
start_controller cluster-ca --metrics-api-addr "127.0.0.1:$M2" --metrics-api-cert "$PKI/server.crt" \
  --metrics-api-key "$PKI/server.key" --metrics-api-client-ca cluster || fail "controller with the cluster's CA"
check "the controller took the CA and the allowed names from the ConfigMap" \
  grep -q 'client CA from kube-system/extension-apiserver-authentication, allowed names front-proxy-client' "$WORK/cluster-ca.log"
code=$(curl_em "${CERT[@]}" "https://127.0.0.1:$M2$EM")
check "the front-proxy client certificate is accepted" eq "$code" 200
code=$(curl_em --cert "$PKI/stranger.crt" --key "$PKI/stranger.key" "https://127.0.0.1:$M2$EM")
check "a name outside the cluster's requestheader-allowed-names: 403" eq "$code" 403
curl_em --cert "$PKI/forged.crt" --key "$PKI/forged.key" "https://127.0.0.1:$M2$EM" >/dev/null 2>&1
rc=$?
check "a certificate from another CA is refused" test "$rc" -ne 0
# a renewed serving certificate (cert-manager, a Secret update) is taken
# without a restart
served_cn() {
  openssl s_client -connect "127.0.0.1:$M2" -cert "$PKI/client.crt" -key "$PKI/client.key" \
    </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
check "the first certificate is served" eq "$(served_cn)" easel-metrics
mkcert server2 easel-metrics-renewed serving-ca "DNS:localhost,IP:127.0.0.1"
cp "$PKI/server2.key" "$PKI/server.key.new" && cp "$PKI/server2.crt" "$PKI/server.crt.new" &&
  mv "$PKI/server.key.new" "$PKI/server.key" && mv "$PKI/server.crt.new" "$PKI/server.crt"
wait_for 20 '[ "$(served_cn)" = easel-metrics-renewed ]'
check "a renewed certificate is served without a restart" eq "$(served_cn)" easel-metrics-renewed
check "... and the answers go on" eq "$(curl_em "${CERT[@]}" "https://127.0.0.1:$M2$EM")" 200
kill "$CTL_PID"
wait_until 30 gone "$CTL_PID"

finish
