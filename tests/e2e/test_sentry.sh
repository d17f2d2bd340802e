#!/usr/bin/env bash
# Error reports to Sentry, against the double of tests/telemetry/
# sentry_double.py, which checks every envelope (header line, item header
# and length, event payload) and the X-Sentry-Auth header strictly. A job
# that ends dead is reported exactly once, wherever the transition is made:
# by the worker (out of attempts), by the controller (timed out) or at
# intake (unknown model). Events carry the job id, model, reason and error
# class as tags and never a credential, a payload or an image. After a 429
# with Retry-After nothing is sent until the time has passed. An internal
# error of a worker that cannot reach its database is reported too, within
# the worker's 2 s flush at exit.
. "$(dirname "$0")/lib.sh"
setup_services
samples
IMG=file://$SAMPLES/room-1.jpg
KEY=0123456789abcdef0123456789abcdef
python3 "$ROOT/tests/telemetry/sentry_double.py" --state-dir "$WORK/sentry" --key "$KEY" \
  --project 42 >>"$WORK/sentry.log" 2>&1 &
PIDS+=("$!")
wait_until 10 test -s "$WORK/sentry/port" >/dev/null || { fail "sentry double start"; exit 1; }
SENTRY=http://127.0.0.1:$(cat "$WORK/sentry/port")
# with a path prefix, as a self-hosted Sentry behind a proxy has
export SENTRY_DSN=http://$KEY@127.0.0.1:$(cat "$WORK/sentry/port")/sentry/42
export SENTRY_ENVIRONMENT=e2e SENTRY_RELEASE=easel@e2e-test
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml
start_controller ctl --concurrency 4 --lease 3s --heartbeat 500ms --source-allow 127.0.0.2 \
  || { fail "controller start"; exit 1; }

events() { curl -sf "$SENTRY/_sentry/events"; }
stat() { curl -sf "$SENTRY/_sentry/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
# ev_count JOB: events naming the job
ev_count() { events | python3 -c "import json,sys; print(sum(1 for e in json.load(sys.stdin) if e.get('tags',{}).get('job_id')=='$1'))"; }

port=$(free_port)
# a source that never answers, with credentials and a signature in its URL
unreach=$("$EASEL" submit --input '{"style":"modern","note":"TOPSECRET-PAYLOAD"}' \
  --image "http://user:pw0rd@127.0.0.2:$port/room.jpg?X-Amz-Signature=SIGSECRET")
slow=$("$EASEL" submit --model local/short-timeout --input '{"latency_ms":5000}' --image "$IMG")
push '{"model":"nope/missing","payload":{"images":["'"$IMG"'"]}}'
good=$("$EASEL" submit --input '{"style":"modern"}' --image "$IMG")
wait_until 60 all_terminal 4
nope=$(sql "select id from jobs where model='nope/missing'")
check "the jobs ended as planned" eq \
  "$(for j in "$unreach" "$slow" "$nope" "$good"; do status_of "$j"; done | tr '\n' ' ')" "dead dead dead succeeded "
wait_until 10 bash -c "[ \$(curl -sf $SENTRY/_sentry/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"accepted\"])') -ge 3 ]"
sleep 1 # a second report would come now
events >"$WORK/events.json"
check "each dead job is reported exactly once, the succeeded one never" eq \
  "$(for j in "$unreach" "$slow" "$nope" "$good"; do ev_count "$j"; done | tr '\n' ' ')" "1 1 1 0 "
# tag JOB NAME: a tag of the job's event
tag() { python3 -c "import json; print(next(e for e in json.load(open('$WORK/events.json')) if e['tags'].get('job_id')=='$1')['tags'].get('$2'))"; }
check "worker-side dead job: reported by the worker, with model, reason and class" eq \
  "$(tag "$unreach" mode) $(tag "$unreach" model) $(tag "$unreach" reason) $(tag "$unreach" error_class) $(tag "$unreach" kind)" \
  "job local/vips-stage source_unreachable retryable job_dead"
check "timed-out dead job: reported by the controller" eq \
  "$(tag "$slow" mode) $(tag "$slow" model) $(tag "$slow" reason)" "controller local/short-timeout timeout"
check "a job born dead at intake: reported by the claimer" eq \
  "$(tag "$nope" mode) $(tag "$nope" reason) $(tag "$nope" error_class)" "controller unknown_model permanent"
check "events carry the environment and release" eq \
  "$(python3 -c "import json; print(sorted({(e.get('environment'), e.get('release')) for e in json.load(open('$WORK/events.json'))}))")" \
  "[('e2e', 'easel@e2e-test')]"
check "no credential, signature, payload or image in any event" \
  bash -c "! grep -Eq 'pw0rd|SIGSECRET|TOPSECRET|data:image|base64' '$WORK/events.json'"
check "the double found nothing wrong with any envelope or auth header" eq "$(curl -sf "$SENTRY/_sentry/violations")" "[]"

# --- rate limited: a 429 with Retry-After holds everything until it passes
LIMIT=8
curl -sf -X POST "$SENTRY/_sentry/limit?seconds=$LIMIT" >/dev/null
before=$(stat envelopes)
push '{"model":"nope/limited-1","payload":{"images":["'"$IMG"'"]}}'
wait_until 10 bash -c "[ \$(curl -sf $SENTRY/_sentry/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"limited\"])') -ge 1 ]"
check "Sentry answered the next envelope with 429" eq "$(stat limited)" 1
for i in 2 3 4; do push '{"model":"nope/limited-'$i'","payload":{"images":["'"$IMG"'"]}}'; done
wait_until 10 bash -c "[ \$(psql '$EASEL_DATABASE_URL' -Atc \"select count(*) from jobs where model like 'nope/limited-%' and status='dead'\") -eq 4 ]"
until=$(stat limited_until)
# wait out the limit, so that an event merely held back would show now
wait_until $((LIMIT + 5)) python3 -c "import sys, time; sys.exit(0 if time.time() > $until + 1 else 1)"
check "nothing reached Sentry before the limit passed" eq "$(stat early)" 0
check "events raised while limited were dropped, not held back" python3 - "$until" <<PY
import json, subprocess, sys, urllib.request
until = float(sys.argv[1])
rows = subprocess.run(["psql", "$EASEL_DATABASE_URL", "-Atc",
    "select id, extract(epoch from finished_at) from jobs where model like 'nope/limited-%'"],
    capture_output=True, text=True, check=True).stdout.split()
events = json.load(urllib.request.urlopen("$SENTRY/_sentry/events"))
held = [r.split("|")[0] for r in rows if float(r.split("|")[1]) < until - 0.5]
sent = [e["tags"].get("job_id") for e in events]
print("   %d dead while limited, %d of them reported" % (len(held), len([j for j in held if j in sent])), file=sys.stderr)
sys.exit(0 if len(held) >= 3 and not [j for j in held if j in sent] else 1)
PY
check "the controller logs the limit, and never the key" \
  bash -c "grep -q 'rate limited for $((LIMIT * 1000)) ms' '$WORK/ctl.log' && ! grep -q '$KEY' '$WORK/ctl.log'"
push '{"model":"nope/after-limit","payload":{"images":["'"$IMG"'"]}}'
wait_until 10 bash -c "[ -n \"\$(psql '$EASEL_DATABASE_URL' -Atc \"select id from jobs where model='nope/after-limit'\")\" ]"
after=$(sql "select id from jobs where model='nope/after-limit'")
wait_until 10 bash -c "[ \$(curl -sf $SENTRY/_sentry/events | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e[\"tags\"].get(\"job_id\")==\"$after\"))') -eq 1 ]"
check "once Retry-After has passed, reports flow again" eq "$(ev_count "$after") $(stat early)" "1 0"
kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null

# --- an internal error in a worker, reported within its flush at exit
t0=$(date +%s.%N)
EASEL_DATABASE_URL=postgresql://easel@127.0.0.1:$(free_port)/none "$EASEL" job \
  --id 5f0c1e2a-8d4b-4c1e-9a57-2f1d3c4b5a69 --attempt 1 >"$WORK/job.log" 2>&1
rc=$?
secs=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
echo "   the worker exited with $rc after $secs s" >&2
check "a worker that cannot reach its database exits 14, promptly" \
  python3 -c "import sys; sys.exit(0 if $rc == 14 and $secs < 5 else 1)"
check "and its error is reported as an internal error" python3 -c "
import json, sys, urllib.request
ev = [e for e in json.load(urllib.request.urlopen('$SENTRY/_sentry/events'))
      if e['tags'].get('kind') == 'internal_error' and e['tags'].get('mode') == 'job']
sys.exit(0 if len(ev) == 1 and 'database' in ev[0]['message']['formatted'] else 1)"

# --- a Sentry that accepts the connection and never answers: the worker
# still exits within its 2 s flush
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
conns = []
while True:
    c, _ = s.accept(); conns.append(c)' "$WORK/hang.port" >/dev/null 2>&1 &
PIDS+=("$!")
wait_until 10 test -s "$WORK/hang.port" >/dev/null
# run_worker [VAR=VALUE...]: a worker that cannot reach its database,
# timed; sets RC and SECS
run_worker() {
  local t0
  t0=$(date +%s.%N)
  env "$@" EASEL_DATABASE_URL=postgresql://easel@127.0.0.1:$(free_port)/none "$EASEL" job \
    --id 5f0c1e2a-8d4b-4c1e-9a57-2f1d3c4b5a69 --attempt 1 >>"$WORK/job-hang.log" 2>&1
  RC=$?
  SECS=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
}
# the machine is shared: the bound is on the difference from the same
# worker without Sentry, measured right before
run_worker SENTRY_DSN=
base=$SECS
run_worker SENTRY_DSN=http://$KEY@127.0.0.1:$(cat "$WORK/hang.port")/42
echo "   against a hanging Sentry the worker exited with $RC after $SECS s (without Sentry: $base s)" >&2
check "a hanging Sentry holds a worker at most its 2 s flush" \
  python3 -c "import sys; sys.exit(0 if $RC == 14 and $SECS - $base < 2.5 else 1)"
finish
