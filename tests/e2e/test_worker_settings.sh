#!/usr/bin/env bash
# The controller-worker contract end to end. A controller is given every
# setting a worker inherits as a flag, with no EASEL_* variable in its
# environment. Its local worker (the running `easel job`, read from
# /proc/PID/environ), the Job its kubernetes executor creates on the fake
# API server and the Job `easel render job` prints with the same flags all
# carry the same values: Redis URL, queue, limits, allow-lists, file roots,
# storage. Credentials reach a pod only as Secret references. Before the
# contract, --redis-url and --queue given as flags never reached local
# workers: their breakers and model gates ran against the default Redis.
. "$(dirname "$0")/lib.sh"
setup_services
samples
R=$EASEL_TEST_REDIS_URL
D=$EASEL_TEST_DATABASE_URL
Q=team-7:jobs
mkdir -p "$WORK/out" "$WORK/roots"
cp "$ROOT/tests/e2e/registry.yaml" "$WORK/models.yaml"
FLAGS=(--redis-url "$R" --database-url "$D" --queue "$Q" --storage "file://$WORK/out"
       --heartbeat 700ms --max-source-bytes 7MiB --fetch-timeout 9s --connect-timeout 2500ms
       --max-pixels 40000000 --max-side 12000 --file-root "$SAMPLES" --file-root "$WORK/roots"
       --source-allow 127.0.0.2 --source-allow '*.corp.example' --log-level debug
       --registry "$WORK/models.yaml")
# what every worker must be given, as job mode reads it back
cat >"$WORK/want.env" <<EOF
EASEL_REDIS_URL=$R
EASEL_DATABASE_URL=$D
EASEL_QUEUE=$Q
EASEL_STORAGE=file://$WORK/out
EASEL_HEARTBEAT=700ms
EASEL_MAX_SOURCE_BYTES=7340032
EASEL_FETCH_TIMEOUT=9000ms
EASEL_CONNECT_TIMEOUT=2500ms
EASEL_MAX_PIXELS=40000000
EASEL_MAX_SIDE=12000
EASEL_FILE_ROOTS=$SAMPLES,$WORK/roots
EASEL_SOURCE_ALLOW=127.0.0.2,*.corp.example
EASEL_LOG_LEVEL=debug
EASEL_POSE_MODEL=full
EOF
sort -o "$WORK/want.env" "$WORK/want.env"
# flags only: the controller's environment holds no EASEL_* variable
NOENV=(env)
for v in $(compgen -e | grep '^EASEL_'); do NOENV+=(-u "$v"); done
# start_flags_only NAME [flags...] -> CTL_PID
start_flags_only() {
  local name=$1 i; shift
  "${NOENV[@]}" "$EASEL" controller "$@" >>"$WORK/$name.log" 2>&1 &
  CTL_PID=$!
  PIDS+=("$CTL_PID")
  for i in $(seq 1 100); do
    grep -q '"controller started' "$WORK/$name.log" 2>/dev/null && return 0
    kill -0 "$CTL_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "controller $name did not start:"; tail -20 "$WORK/$name.log"
  return 1
}
stop_ctl() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
submit() { "$EASEL" submit --queue "$Q" --model local/vips-stage --image "file://$SAMPLES/room-1.jpg" --input "$1"; }
# env_of_job FILE: the container env of a Job (JSON) as NAME=VALUE lines,
# a Secret reference as NAME=secret:SECRET/KEY
env_of_job() {
  python3 - "$1" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
for e in o["spec"]["template"]["spec"]["containers"][0]["env"]:
    if "valueFrom" in e:
        r = e["valueFrom"]["secretKeyRef"]
        print("%s=secret:%s/%s" % (e["name"], r["name"], r["key"]))
    else:
        print("%s=%s" % (e["name"], e["value"]))
PY
}

# --- the local executor
start_flags_only ctl "${FLAGS[@]}" --concurrency 2 || { fail "controller start"; exit 1; }
id=$(submit '{"style":"modern","seed":1,"latency_ms":6000}')
pid=
wait_for 20 'pid=$(pgrep -f "job --id [${id:0:1}]${id:1}" | head -1); [ -n "$pid" ]'
check "the local worker is running" test -n "$pid"
tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep '^EASEL_' | sort >"$WORK/local.env"
check "the worker inherits the controller's Redis, given as a flag (not the default one)" \
  grep -qxF "EASEL_REDIS_URL=$R" "$WORK/local.env"
check "the worker inherits the controller's queue, given as a flag" \
  grep -qxF "EASEL_QUEUE=$Q" "$WORK/local.env"
check "the worker gets every inherited setting with the controller's value" \
  bash -c "comm -23 '$WORK/want.env' '$WORK/local.env' | tee '$WORK/missing.env' | wc -l | grep -qx 0"
check "and nothing else of job mode's but its registry snapshot" eq \
  "$(comm -13 "$WORK/want.env" "$WORK/local.env" | sed 's/=.*//' | tr '\n' ' ')" "EASEL_REGISTRY "
check "the snapshot is the controller's copy, not the file being edited" \
  bash -c "grep '^EASEL_REGISTRY=' '$WORK/local.env' | grep -q '/easel-controller-.*/models.yaml'"
wait_for 30 'test "$(status_of "$id")" = succeeded'
check "the job succeeds with those settings" eq "$(status_of "$id")" succeeded
check "its results are in the controller's storage" test -s "$WORK/out/jobs/$id/normal.jpg"
stop_ctl "$CTL_PID"

# --- a value the environment cannot carry is refused before anything runs
# (bounded: a controller that accepts it would run until stopped)
timeout -s KILL 20 "${NOENV[@]}" "$EASEL" controller "${FLAGS[@]}" --file-root "/a,b" \
  >"$WORK/bad.log" 2>&1; rc=$?
check "a list entry with a comma is refused (exit 2), naming the flag" \
  bash -c "[ $rc -eq 2 ] && grep -q -- '--file-root \"/a,b\"' '$WORK/bad.log'"
# names the controller forms are refused whole, never cut: an id that does
# not fit (it owns leases and names Jobs), a TMPDIR too long for the
# registry snapshot's directory
long_id=$(printf 'c%.0s' $(seq 1 96))
timeout -s KILL 20 "${NOENV[@]}" "$EASEL" controller "${FLAGS[@]}" --controller-id "$long_id" \
  >"$WORK/longid.log" 2>&1; rc=$?
check "an over-long --controller-id is refused (exit 2), saying why" \
  bash -c "[ $rc -eq 2 ] && grep -q -- '--controller-id is 96 bytes' '$WORK/longid.log'"
long_tmp="/tmp/$(printf 't%.0s' $(seq 1 240))"
timeout -s KILL 20 "${NOENV[@]}" TMPDIR="$long_tmp" "$EASEL" controller "${FLAGS[@]}" \
  >"$WORK/longtmp.log" 2>&1; rc=$?
check "a TMPDIR too long for the snapshot directory is refused (exit 2)" \
  bash -c "[ $rc -eq 2 ] && grep -q 'TMPDIR .* is too long' '$WORK/longtmp.log'"

# --- the kubernetes executor and `easel render job`
start_fake_api || { fail "fake API server"; exit 1; }
kube_secrets
start_flags_only kctl "${FLAGS[@]}" --executor kubernetes --concurrency 2 \
  || { fail "kubernetes controller start"; exit 1; }
kid=$(submit '{"style":"modern","seed":2}')
wait_for 30 'k get job "$(job_name "$kid" 1)" -o json >"$WORK/kjob.json" 2>/dev/null'
env_of_job "$WORK/kjob.json" >"$WORK/kjob.all"
grep -v '^EASEL_\(DATABASE\|REDIS\)_URL=' "$WORK/want.env" >"$WORK/want-plain.env"
check "the Job carries every inherited setting with the controller's value" \
  bash -c "sort '$WORK/kjob.all' | comm -23 '$WORK/want-plain.env' - | wc -l | grep -qx 0"
check "the database URL comes from its Secret" \
  grep -qxF "EASEL_DATABASE_URL=secret:easel-database/database-url" "$WORK/kjob.all"
check "the Redis URL comes from its Secret" \
  grep -qxF "EASEL_REDIS_URL=secret:easel-redis/redis-url" "$WORK/kjob.all"
check "no credential is written into the Job" \
  bash -c "! grep -qF -e '$D' -e '$R' '$WORK/kjob.json'"
wait_for 60 'test "$(status_of "$kid")" = succeeded'
check "the pod runs the job to success with them" eq "$(status_of "$kid")" succeeded
stop_ctl "$CTL_PID"

"${NOENV[@]}" KUBECONFIG="$KUBECONFIG" "$EASEL" render job --model local/vips-stage \
  "${FLAGS[@]}" -o json >"$WORK/rjob.json" 2>"$WORK/render.err"
check "render job exits 0 with the controller's flags" test -s "$WORK/rjob.json"
env_of_job "$WORK/rjob.json" | grep -v '^EASEL_WORKER_NAME=' >"$WORK/rjob.env"
grep -v '^EASEL_WORKER_NAME=' "$WORK/kjob.all" >"$WORK/kjob.env"
check "render job prints the same env as the Job the executor created" \
  diff "$WORK/kjob.env" "$WORK/rjob.env"
finish
