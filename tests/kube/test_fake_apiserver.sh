#!/usr/bin/env bash
# Self-check of tests/kube/fake_apiserver.py against the real kubectl.
#
#   bash tests/kube/test_fake_apiserver.sh      (needs python3, kubectl, curl, openssl)
#
# Runs the suite twice: plain HTTP, then HTTPS with a bearer token (kubectl
# only sends kubeconfig credentials over TLS, so the token run needs --tls),
# plus curl-only auth checks against plain HTTP with --token.
# Prints PASS:/FAIL: per check; exits non-zero if any check failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/fake-apiserver-test.XXXXXX)
FAILS=0
SERVER_PID=
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { # check DESCRIPTION COMMAND... : passes when the command succeeds
  local what=$1; shift
  : >"$TMP/last-output"
  if "$@" >/dev/null 2>&1; then pass "$what"; else
    fail "$what"
    sed 's/^/    | /' "$TMP/last-output" | head -5
  fi
}
# Processes this test starts (the servers, their pods) carry a tag of its
# own in their environment; cleanup stops whatever still carries it
# (hack/test-procs.sh), and nothing else.
# shellcheck source=hack/test-procs.sh
. "$HERE/../../hack/test-procs.sh"
if [ -z "${EASEL_TEST_SCENARIO:-}" ]; then EASEL_TEST_SCENARIO=$(tp_new_tag)/test_fake_apiserver; fi
export EASEL_TEST_SCENARIO
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  tp_sweep "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO" "$TMP/cleanup.log" ||
    { echo "cleanup stopped what the test had left:"; cat "$TMP/cleanup.log"; }
  rm -rf "$TMP"
}
trap cleanup EXIT

# start DIR ARGS... : starts the server, waits for its kubeconfig
start() {
  local dir=$1; shift
  mkdir -p "$dir"
  rm -f "$dir/kubeconfig"
  python3 "$HERE/fake_apiserver.py" --state-dir "$dir" "$@" >>"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do [ -s "$dir/kubeconfig" ] && break; sleep 0.1; done
  [ -s "$dir/kubeconfig" ] || { fail "server start in $dir"; cat "$dir/server.log"; return 1; }
  export KUBECONFIG=$dir/kubeconfig
  PORT=$(cat "$dir/port")
}
CURL_ARGS=()
api() { curl -s "${CURL_ARGS[@]}" "$@"; } # curl with the current run's TLS/token flags
stop() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }

k() { kubectl --cache-dir "$DIR/cache" --request-timeout=10s "$@"; }
# wait_for SECONDS COMMAND... : polls until the command succeeds
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# out_is WANT CMD... / out_has PATTERN CMD...: the command's output (stdout and
# stderr) is WANT / matches PATTERN; what it printed goes to $TMP/last-output.
out_is() { local want=$1; shift; "$@" >"$TMP/last-output" 2>&1; [ "$(cat "$TMP/last-output")" = "$want" ]; }
out_has() { local pat=$1; shift; "$@" >"$TMP/last-output" 2>&1; grep -q -- "$pat" "$TMP/last-output"; }
jsonpath_is() { [ "$(k get "$1" "$2" -o jsonpath="$3" 2>/dev/null)" = "$4" ]; } # KIND NAME PATH WANT

job_yaml() { # NAME LABEL COMMAND [EXTRA-CONTAINER-YAML]
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels:
    app: "$2"
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:1.36
        command: $3
${4:-}
EOF
}

# suite NAME CURL-ARGS... : the kubectl checks against the running server
suite() {
  local tag=$1; shift
  CURL_ARGS=("$@")
  local url=$SCHEME://127.0.0.1:$PORT

  check "[$tag] kubectl version" out_has 'Server Version: v1.32' k version
  check "[$tag] kubectl get ns" out_has '^kube-system *Active' k get ns

  # a job that succeeds
  job_yaml hello x '["/bin/sh","-c","echo hello; exit 0"]' >"$DIR/hello.yaml"
  check "[$tag] kubectl create -f job" k create -f "$DIR/hello.yaml"
  check "[$tag] job succeeds" wait_for 20 jsonpath_is job hello '{.status.succeeded}' 1
  check "[$tag] job has Complete condition" \
    jsonpath_is job hello '{.status.conditions[?(@.type=="Complete")].status}' True
  local pod
  pod=$(k get pods -l job-name=hello -o jsonpath='{.items[0].metadata.name}')
  check "[$tag] exactly one pod for the job" out_is "pod/$pod" k get pods -l job-name=hello -o name
  check "[$tag] kubectl get pods shows the pod" out_has "^$pod .*Completed" k get pods
  check "[$tag] kubectl logs" out_is hello k logs "$pod"

  # an event about the job, created through the API, shows in describe
  local uid
  uid=$(k get job hello -o jsonpath='{.metadata.uid}')
  cat >"$DIR/event.yaml" <<EOF
apiVersion: v1
kind: Event
metadata:
  name: hello.test-event
involvedObject:
  apiVersion: batch/v1
  kind: Job
  name: hello
  namespace: default
  uid: $uid
reason: SelfCheck
message: created by the self-check
type: Normal
source:
  component: self-check
firstTimestamp: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
lastTimestamp: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
count: 1
EOF
  check "[$tag] create event" k create -f "$DIR/event.yaml"
  k describe job hello >"$DIR/describe.txt" 2>&1
  check "[$tag] describe shows the job name" grep -q '^Name: *hello$' "$DIR/describe.txt"
  check "[$tag] describe lists the event" grep -q 'SelfCheck.*created by the self-check' "$DIR/describe.txt"

  # label selectors
  job_yaml other other '["/bin/sh","-c","exit 0"]' >"$DIR/other.yaml"
  k create -f "$DIR/other.yaml" >/dev/null
  check "[$tag] get jobs -l app=x filters" out_is job.batch/hello k get jobs -l app=x -o name
  check "[$tag] get jobs -l 'app in (x,other)'" out_is "$(printf 'job.batch/hello\njob.batch/other')" \
    k get jobs -l 'app in (x,other)' -o name

  # a failing job
  job_yaml fails x '["/bin/sh","-c","echo oops >&2; exit 3"]' >"$DIR/fails.yaml"
  k create -f "$DIR/fails.yaml" >/dev/null
  check "[$tag] failing job ends Failed" wait_for 20 \
    jsonpath_is job fails '{.status.conditions[?(@.type=="Failed")].reason}' BackoffLimitExceeded
  check "[$tag] failed pod has exitCode 3" out_is 3 \
    k get pods -l job-name=fails -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}' 
  check "[$tag] failed pod phase Failed" out_is Failed k get pods -l job-name=fails -o jsonpath='{.items[0].status.phase}' 

  # a job over its memory limit
  job_yaml oom x '["python3","-c","x=bytearray(200*1024*1024); import time; time.sleep(5)"]' '        resources:
          limits:
            memory: 20Mi' >"$DIR/oom.yaml"
  k create -f "$DIR/oom.yaml" >/dev/null
  check "[$tag] memory hog ends OOMKilled" wait_for 20 out_is OOMKilled \
    k get pods -l job-name=oom -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.reason}' 
  check "[$tag] OOM job ends Failed" wait_for 10 \
    jsonpath_is job oom '{.status.conditions[?(@.type=="Failed")].status}' True

  # invalid objects
  sed 's/restartPolicy: Never/restartPolicy: Always/' "$DIR/hello.yaml" | sed 's/name: hello/name: bad/' >"$DIR/bad.yaml"
  check "[$tag] restartPolicy Always is rejected (422)" out_has 'is invalid: spec.template.spec.restartPolicy: Unsupported value' \
    k create -f "$DIR/bad.yaml"
  check "[$tag] duplicate create is 409" out_has AlreadyExists k create -f "$DIR/hello.yaml"

  # what tests/e2e/lib.sh does: a Secret (kubectl sends protobuf), a ConfigMap applied twice
  check "[$tag] kubectl create secret generic" k create secret generic db --from-literal=url=pg://x
  check "[$tag] the secret's data is base64" out_is cGc6Ly94 k get secret db -o jsonpath='{.data.url}'
  apply_cm() { k create configmap models --from-literal=models.yaml="$1" --dry-run=client -o yaml | k apply -f -; }
  check "[$tag] kubectl apply creates a configmap" apply_cm one
  check "[$tag] kubectl apply updates it" apply_cm two
  check "[$tag] the applied data is current" out_is two k get configmap models -o jsonpath='{.data.models\.yaml}'

  # eviction of a running pod through the test endpoint
  job_yaml sleeper x '["sleep","30"]' >"$DIR/sleeper.yaml"
  k create -f "$DIR/sleeper.yaml" >/dev/null
  check "[$tag] a long job runs" wait_for 10 out_is Running k get pods -l job-name=sleeper -o jsonpath='{.items[0].status.phase}'
  pod=$(k get pods -l job-name=sleeper -o jsonpath='{.items[0].metadata.name}')
  api -X POST "$url/_fake/evict?namespace=default&name=$pod" >/dev/null
  check "[$tag] /_fake/evict fails the pod as Evicted" out_is Failed/Evicted \
    k get pod "$pod" -o jsonpath='{.status.phase}/{.status.reason}'

  # watches: a resourceVersion older than the history is 410 Expired, and
  # a compaction ends an open watch with 410 even when it was up to date
  local rv0
  rv0=$(api "$url/api/v1/namespaces/default/pods" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
  api -N --max-time 5 "$url/api/v1/namespaces/default/pods?watch=1&resourceVersion=$rv0&allowWatchBookmarks=true" >"$DIR/watch0.txt" &
  local w0=$!
  sleep 0.5
  api -X POST "$url/_fake/compact" >/dev/null
  wait "$w0"
  check "[$tag] compaction ends an up-to-date open watch with 410" \
    grep -q '"type":"ERROR".*"code":410' "$DIR/watch0.txt"
  api -N --max-time 5 "$url/api/v1/namespaces/default/pods?watch=1&resourceVersion=1" >"$DIR/watch.txt"
  check "[$tag] watch from an old resourceVersion gets 410" \
    grep -q '"type":"ERROR".*"code":410' "$DIR/watch.txt"
  local rv
  rv=$(api "$url/api/v1/namespaces/default/pods" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
  ( sleep 0.5; k label job hello touched=yes >/dev/null ) &
  local bg=$!
  api -N --max-time 3 "$url/apis/batch/v1/namespaces/default/jobs?watch=1&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=2" >"$DIR/watch2.txt"
  wait "$bg"
  check "[$tag] watch delivers MODIFIED" grep -q '"type":"MODIFIED".*"touched":"yes"' "$DIR/watch2.txt"
  check "[$tag] watch delivers BOOKMARK" grep -q '"type":"BOOKMARK"' "$DIR/watch2.txt"

  # delete
  check "[$tag] kubectl delete job" k delete job hello
  check "[$tag] deleted job is gone" out_has NotFound k get job hello
  check "[$tag] its pod is gone (background)" out_is "" k get pods -l job-name=hello -o name
  check "[$tag] requests.log records requests" grep -q '^GET /apis/batch/v1/namespaces/default/jobs/hello' "$DIR/requests.log"
  api "$url/_fake/stats" >"$DIR/stats.json"
  check "[$tag] /_fake/stats counts creates" grep -q '"create jobs":[1-9]' "$DIR/stats.json"
}

# --- 1: plain HTTP, no token
DIR=$TMP/plain SCHEME=http
if start "$DIR"; then
  suite http
  # restart: state survives, old watches expire
  job_yaml survivor x '["/bin/sh","-c","sleep 2; echo survived"]' >"$DIR/survivor.yaml"
  k create -f "$DIR/survivor.yaml" >/dev/null
  wait_for 10 out_is Running k get pods -l job-name=survivor -o jsonpath='{.items[0].status.phase}'
  rv=$(curl -s "http://127.0.0.1:$PORT/api/v1/namespaces/default/pods" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
  stop
  start "$DIR" --port "$PORT"
  check "[restart] a pod running across the restart is re-adopted and succeeds" \
    wait_for 15 jsonpath_is job survivor '{.status.succeeded}' 1
  check "[restart] its log is complete" out_is survived k logs -l job-name=survivor
  check "[restart] jobs survive a restart" out_is job.batch/fails k get job fails -o name
  curl -s -N --max-time 3 "http://127.0.0.1:$PORT/api/v1/namespaces/default/pods?watch=1&resourceVersion=$((rv - 1))" >"$DIR/watch3.txt"
  check "[restart] watch from before the restart gets 410" grep -q '"code":410' "$DIR/watch3.txt"
  stop
fi

# --- 2: plain HTTP with --token: curl only (kubectl sends no token over HTTP)
DIR=$TMP/token SCHEME=http
if start "$DIR" --token s3cret; then
  u=http://127.0.0.1:$PORT
  code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
  check "[token] no token is 401" out_is 401 code "$u/api/v1/namespaces"
  check "[token] wrong token is 401" out_is 401 code -H 'Authorization: Bearer nope' "$u/api/v1/namespaces"
  check "[token] right token is 200" out_is 200 code -H 'Authorization: Bearer s3cret' "$u/api/v1/namespaces"
  check "[token] 401 body is a Status" out_has '"reason":"Unauthorized".*"code":401' curl -s "$u/api/v1/namespaces"
  check "[token] /healthz needs no token" out_is ok curl -s "$u/healthz"
  stop
fi

# --- 3: HTTPS with a token: the whole kubectl suite again
DIR=$TMP/tls SCHEME=https
if start "$DIR" --tls --token s3cret; then
  check "[tls] kubeconfig has certificate-authority-data" grep -q certificate-authority-data "$DIR/kubeconfig"
  suite tls --cacert "$DIR/ca.crt" -H "Authorization: Bearer s3cret"
  stop
fi

echo "---"
if [ "$FAILS" -eq 0 ]; then echo "all checks passed"; else echo "$FAILS check(s) failed"; exit 1; fi
