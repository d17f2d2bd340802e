# lib.sh - shared by the end-to-end scenarios: each scenario starts its own
# Redis and PostgreSQL on loopback (hack/services.sh), runs build/easel
# for real, and reports "PASS: ..." / "FAIL: ..." lines that
# hack/run-tests.sh counts. Source it; do not run it.
set -uo pipefail

ROOT=${EASEL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
EASEL=${EASEL_BIN:-$ROOT/build/easel}
WORK=$(mktemp -d /tmp/easel-e2e.XXXXXX)
chmod 755 "$WORK"
FAILS=0
PIDS=()

# Every process the scenario starts inherits these tags (hack/test-procs.sh),
# which is how cleanup finds them all, and only them, on a shared machine.
# hack/run-tests.sh sets both; a scenario run by hand makes its own.
# shellcheck source=hack/test-procs.sh
. "$ROOT/hack/test-procs.sh"
if [ -z "${EASEL_TEST_RUN:-}" ]; then EASEL_TEST_RUN=$(tp_new_tag); fi
if [ -z "${EASEL_TEST_SCENARIO:-}" ]; then EASEL_TEST_SCENARIO=$EASEL_TEST_RUN/$(basename "$0" .sh); fi
export EASEL_TEST_RUN EASEL_TEST_SCENARIO

cleanup() {
  local p mine=()
  # First what the scenario recorded (controllers, doubles, the fake API
  # server), with SIGTERM and a short grace; a recorded pid is only signalled
  # while it still carries this scenario's tag, so a reused pid is safe.
  for p in "${PIDS[@]}"; do tp_has "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO" "$p" && mine+=("$p"); done
  [ ${#mine[@]} -eq 0 ] || tp_stop "${mine[@]}"
  # The servers, by their own pid files (PostgreSQL would carry the tag too).
  "$ROOT/hack/services.sh" stop "$WORK/svc" >/dev/null 2>&1
  # Then whatever else carries the tag: workers of controllers killed with
  # -9 (they run in process groups of their own), the fake cluster's pods,
  # anything started through chroot, setsid or a double fork.
  tp_sweep "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO" "$WORK/cleanup.log" ||
    { echo "cleanup stopped what the scenario had left:"; cat "$WORK/cleanup.log"; }
  if { [ "$FAILS" -gt 0 ] && [ -z "${CI:-}" ]; } || [ -n "${EASEL_KEEP_WORK:-}" ]; then
    echo "(logs kept in $WORK)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# check "description" command...   (PASS when the command succeeds)
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
eq() { [ "$1" = "$2" ] || { echo "   expected [$2], got [$1]" >&2; return 1; }; }

setup_services() {
  mkdir -p "$WORK/svc"
  "$ROOT/hack/services.sh" start "$WORK/svc" >"$WORK/services.log" 2>&1 || {
    cat "$WORK/services.log"; fail "services start"; exit 1; }
  # shellcheck disable=SC1091
  . "$WORK/svc/env"
  export EASEL_REDIS_URL=$EASEL_TEST_REDIS_URL
  export EASEL_DATABASE_URL=$EASEL_TEST_DATABASE_URL
  export EASEL_STORAGE=file://$WORK/results
  export EASEL_QUEUE=easel:jobs
  export EASEL_LOG_LEVEL=${EASEL_LOG_LEVEL:-info}
  export EASEL_FILE_ROOTS=$WORK # file:// sources are refused outside it (no root: refused)
  # no HTTP API unless a scenario asks for one (start_api): scenarios run
  # several controllers at once, and a fixed port would collide
  export EASEL_HTTP_ADDR=""
  mkdir -p "$WORK/results"
  "$EASEL" migrate >/dev/null || { fail "migrate"; exit 1; }
}

# setup_app_db SQL-FILE...: a second PostgreSQL server, the app's (database
# "app"), loaded with the files; sets APPDB and EASEL_APP_DATABASE_URL, and
# app 'SQL' runs a statement there
setup_app_db() {
  "$ROOT/hack/services.sh" start-app-pg "$WORK/svc" >>"$WORK/services.log" 2>&1 ||
    { cat "$WORK/services.log"; fail "app database start"; exit 1; }
  # shellcheck disable=SC1091
  . "$WORK/svc/app-env"
  APPDB=$EASEL_TEST_APP_DATABASE_URL
  export EASEL_APP_DATABASE_URL=$APPDB
  local f
  for f in "$@"; do
    psql "$APPDB" -q -v ON_ERROR_STOP=1 -f "$f" || { fail "app schema $f"; exit 1; }
  done
}
app() { psql "$APPDB" -At -v ON_ERROR_STOP=1 -c "$1"; }

samples() {
  local cache=/tmp/easel-samples-v1
  if [ ! -f "$cache/garment.png" ]; then
    # -T: when a concurrent run made the cache first, the rename fails and
    # our copy is dropped, instead of landing inside theirs
    "$ROOT/hack/sample-images.sh" "$cache.tmp.$$" 1600 1200 >/dev/null &&
      mv -T "$cache.tmp.$$" "$cache" 2>/dev/null
    rm -rf "$cache.tmp.$$"
  fi
  mkdir -p "$WORK/samples" && cp "$cache"/*.* "$WORK/samples/"
  SAMPLES=$WORK/samples
}

# start_controller NAME [flags...]  -> sets CTL_PID
start_controller() {
  local name=$1; shift
  "$EASEL" controller "$@" >>"$WORK/$name.log" 2>&1 &
  CTL_PID=$!
  PIDS+=("$CTL_PID")
  local i
  for i in $(seq 1 100); do
    grep -q '"controller started' "$WORK/$name.log" 2>/dev/null && return 0
    kill -0 "$CTL_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "controller $name did not start:"; tail -20 "$WORK/$name.log"
  return 1
}

sql() { psql "$EASEL_DATABASE_URL" -At -v ON_ERROR_STOP=1 -c "$1"; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
push() { rcli LPUSH "$EASEL_QUEUE" "$1" >/dev/null; }
status_of() { sql "select status from jobs where id='$1'"; }
field() { sql "select $2 from jobs where id='$1'"; } # ID SQL-EXPRESSION

# wait_until TIMEOUT_S command...  (polls every 0.2 s)
wait_until() {
  local t=$1; shift
  local end=$((SECONDS + t))
  while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
  "$@"
}
# wait_for TIMEOUT_S 'expression'  (re-evaluated on every poll, unlike the
# arguments of wait_until, which the shell expands once)
wait_for() {
  local t=$1 expr=$2
  local end=$((SECONDS + t))
  while [ $SECONDS -lt $end ]; do eval "$expr" && return 0; sleep 0.2; done
  eval "$expr"
}
count_jobs() { sql "select count(*) from jobs where status in ($1)"; }
# peak_running MODEL: the most attempts of MODEL ever running at once, from
# the record (dispatch to outcome)
peak_running() {
  sql "with iv as (
  select e.job_id, min(e.at) filter (where e.to_status = 'dispatched') s,
         max(e.at) filter (where e.to_status in ('succeeded','failed','dead','canceled','retrying')) t
  from job_events e join jobs j on j.id = e.job_id where j.model = '$1' group by e.job_id),
  pts as (select s at, 1 d from iv union all select t, -1 from iv)
  select max(c) from (select sum(d) over (order by at, d) c from pts) x"
}
# most_dispatches MODEL SECONDS: the most dispatches of MODEL recorded in
# any window of SECONDS
most_dispatches() {
  sql "with d as (select e.at from job_events e join jobs j on j.id = e.job_id
  where j.model = '$1' and e.to_status = 'dispatched')
  select max(n) from (select (select count(*) from d d2 where d2.at >= d1.at
    and d2.at < d1.at + interval '$2 seconds') n from d d1) x"
}
all_terminal() { # N
  [ "$(count_jobs "'succeeded','failed','dead','canceled'")" -ge "$1" ] &&
  [ "$(count_jobs "'queued','dispatched','running','retrying'")" -eq 0 ]
}
# worker_gone ID: no `easel job --id ID` process of this scenario is left
worker_gone() {
  local p
  for p in $(tp_tagged "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO"); do
    [[ "$(tp_cmdline "$p") " == *" job --id $1 "* ]] && return 1
  done
  return 0
}
# gone PID: the process has exited (a zombie not yet reaped counts as gone)
gone() { ! tp_alive "$1"; }
finish() {
  echo "---"
  [ "$FAILS" -eq 0 ]
}

# --- the fake Kubernetes API server (tests/kube/fake_apiserver.py) --------
# start_fake_api [flags...] -> sets API_DIR, API_PID, KUBECONFIG; the
# simulated node runs pods' containers as $EASEL with the pod's args and env.
start_fake_api() {
  API_DIR=${API_DIR:-$WORK/api}
  mkdir -p "$API_DIR"
  rm -f "$API_DIR/kubeconfig"
  python3 "$ROOT/tests/kube/fake_apiserver.py" --state-dir "$API_DIR" \
    --entrypoint "$EASEL" --bookmark-interval 1 "$@" >>"$WORK/api.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  local i
  for i in $(seq 1 100); do
    [ -s "$API_DIR/kubeconfig" ] && break
    sleep 0.1
  done
  [ -s "$API_DIR/kubeconfig" ] || { echo "fake API server did not start:"; tail -20 "$WORK/api.log"; return 1; }
  export KUBECONFIG=$API_DIR/kubeconfig
  API_URL=$(sed -n 's/^ *server: *//p' "$API_DIR/kubeconfig")
}
stop_fake_api() { kill "$API_PID" 2>/dev/null; wait "$API_PID" 2>/dev/null; }
fake() { curl -skf -X POST "$API_URL/_fake/$1" >/dev/null; } # fake ENDPOINT?QUERY (no auth)
k() { kubectl --request-timeout=10s "$@"; }
# the Secret worker pods read their database URL from
kube_secrets() {
  k create secret generic easel-database --from-literal=database-url="$EASEL_DATABASE_URL" \
    --dry-run=client -o yaml | k apply -f - >/dev/null
}
# kube_registry FILE: the registry ConfigMap easel-models from a file
kube_registry() {
  k create configmap easel-models --from-file=models.yaml="$1" --dry-run=client -o yaml |
    k apply -f - >/dev/null
}
job_name() { echo "easel-$1-$2"; } # ID ATTEMPT
# kube_validate_stored RESOURCE...: every stored object of these kinds, as
# the API server holds it (what easel sent plus server-set metadata),
# through strict schema validation; prints the validator's summary line.
kube_validate_stored() {
  local r f=$WORK/stored.yaml
  : >"$f"
  for r in "$@"; do
    kubectl get "$r" -o json | python3 -c '
import json, sys
for o in json.load(sys.stdin)["items"]:
    o.pop("status", None) if o.get("kind") in ("Pod",) else None
    print("---"); print(json.dumps(o))' >>"$f"
  done
  "${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}" "$f" 2>&1 | tail -3
}
# kube_setup: servers, samples, the fake cluster with the database Secret,
# and $WORK/models.yaml holding the e2e registry's payload rules and the
# local model with fast retries; a scenario appends its own models to it.
# Arguments go to the fake API server.
kube_setup() {
  setup_services
  samples
  start_fake_api "$@" || { fail "fake API server"; exit 1; }
  kube_secrets
  sed '/^models:/,$d' "$ROOT/tests/e2e/registry.yaml" >"$WORK/models.yaml"
  cat >>"$WORK/models.yaml" <<'YAML'
models:
  - id: local/vips-stage
    provider: local
    timeout: 60s
    retry: {max_attempts: 3, initial: 200ms, factor: 2, max: 1s}
    input: {style: "{{style}}", seed: "{{seed}}", label: "{{room_type}}", latency_ms: "{{latency_ms}}"}
YAML
}

# --- provider emulators (tests/providers/*_emulator.py) ---------------------
# start_emulator NAME TOKEN [flags...] -> sets EMU_URL, its base URL; the
# emulator writes its port into $WORK/NAME/port and logs to $WORK/NAME.log.
start_emulator() {
  local name=$1 token=$2; shift 2
  python3 "$ROOT/tests/providers/${name}_emulator.py" --state-dir "$WORK/$name" \
    --token "$token" "$@" >>"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  wait_until 10 test -s "$WORK/$name/port" >/dev/null ||
    { echo "emulator $name did not start:" >&2; tail -5 "$WORK/$name.log" >&2; return 1; }
  EMU_URL="http://127.0.0.1:$(cat "$WORK/$name/port")"
}
# emu_stat BASE KEY: one of an emulator's counters (0 when unset)
emu_stat() { curl -s "$1/_emu/stats" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', 0))"; }
# emu_conformant BASE: the emulator checked at least one request against its
# provider's published API definition (tests/providers/conformance.py) and
# found none that breaks it; the violations are printed when there are.
emu_conformant() {
  curl -sf "$1/_emu/violations" | python3 -c '
import json, sys
r = json.load(sys.stdin)
for v in r["violations"]:
    print("   violation: %(method)s %(path)s (%(endpoint)s) %(rule)s: %(detail)s" % v, file=sys.stderr)
for n in r["notes"]:
    print("   note: %(note)s (x%(times)d)" % n, file=sys.stderr)
print("   %d requests checked, %d violations" % (r["checked"], len(r["violations"])), file=sys.stderr)
sys.exit(0 if r["checked"] > 0 and not r["violations"] else 1)'
}
# provider_registry FILE: the e2e payload rules and local/vips-stage; the
# caller appends its provider models
provider_registry() {
  sed '/^models:/,$d' "$ROOT/tests/e2e/registry.yaml" >"$1"
  printf 'models:\n  - id: local/vips-stage\n    provider: local\n' >>"$1"
}
# finished ID...: every job is in a terminal state
finished() { local j; for j in "$@"; do case $(status_of "$j") in succeeded|failed|dead|canceled) ;; *) return 1;; esac; done; }

# --- the HTTP API ---------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_api NAME PORT [flags...]: a controller serving the API on loopback;
# sets API (its base URL).
start_api() {
  local name=$1 port=$2; shift 2
  start_controller "$name" --http-addr "127.0.0.1:$port" "$@" || return 1
  API=http://127.0.0.1:$port
}
# call METHOD PATH [curl args...]: one request with curl. Sets CODE and BODY
# (the body's file is $WORK/resp/N); every answer is also listed in
# $WORK/responses (METHOD PATH STATUS BODY CONTENT-TYPE HEADERS) so a scenario can
# validate them all against docs/openapi.json at the end.
CALLS=0
call() {
  local method=$1 path=$2; shift 2
  mkdir -p "$WORK/resp"
  CALLS=$((CALLS + 1))
  local out=$WORK/resp/$CALLS hdr=$WORK/resp/$CALLS.h
  CODE=$(curl -s -o "$out" -D "$hdr" -w '%{http_code}' -X "$method" "$@" "${API}${path}")
  BODY=$(cat "$out")
  local ct
  ct=$(sed -n 's/^content-type: *\([^;\r]*\).*/\1/Ip' "$hdr" | tail -1)
  echo "$method ${path%%\?*} $CODE $out ${ct:-none} $hdr" >>"$WORK/responses"
}
# header NAME: the value of a header of the last answer
header() { sed -n "s/^$1: *\\([^\\r]*\\).*/\\1/Ip" "$WORK/resp/$CALLS.h" | tail -1; }
# jq-like: js 'EXPR' evaluates a Python expression over the last body (as d)
# and prints it (several values, "a, b", print as a tuple: ('x', 1))
js() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); r=($1); print(repr(r) if isinstance(r, tuple) else r)" "$BODY"; }
