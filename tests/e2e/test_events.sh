#!/usr/bin/env bash
# Live events over Server-Sent Events, with curl over real sockets against a
# controller on real Redis and Postgres: a job's whole sequence ending in
# done, resuming after Last-Event-ID (or ?since=) with nothing missed and
# nothing twice, a stream opened before the job runs, an owner's stream,
# tokens (also as ?access_token=, on streams only) and owner confinement,
# heartbeats, a second replica serving the same stream, the event hub
# losing Postgres and catching up, a client that does not read cut off
# while others are served, and every answer checked against the OpenAPI
# document. The WebSocket and browser clients are in test_stream_clients.
. "$(dirname "$0")/lib.sh"
setup_services
samples
IMG=file://$WORK/samples/room-1.jpg
SSE="$ROOT/tests/e2e/sse.py"

cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: ops
    token: ops-token-0123456789abcdef
    scopes: [admin]
  - name: user-7
    token: u7-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-7}
YAML
ADMIN=(-H "Authorization: Bearer ops-token-0123456789abcdef")
U7=(-H "Authorization: Bearer u7-token-0123456789abcdef")
JSON=(-H "Content-Type: application/json")

PORT=$(free_port)
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --concurrency 2 \
  --stream-heartbeat 1s --stream-max-buffer 16KiB --stream-stall-timeout 3s --api-cors-origins "https://app.example.com" || { fail "controller with the API start"; exit 1; }
A=$API

# create OWNER CHANNEL: a job through the API; sets ID
create() {
  local i
  for i in 1 2 3; do # a 503 right after Postgres dropped every connection
    call POST /v1/jobs "${ADMIN[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"owner":"'"$1"'","channel":"'"$2"'"}'
    [ "$CODE" = 503 ] || break
    sleep 1
  done
  ID=$(js 'd["id"]')
}
# pg_seqs ID: the job's event ids as Postgres holds them
pg_seqs() { sql "select string_agg(seq::text, ' ' order by seq) from job_events where job_id='$1'"; }
after() { # after N LIST: the ids of LIST greater than N
  local n=$1 s out=""; shift
  for s in $*; do [ "$s" -gt "$n" ] && out="$out $s"; done
  echo "${out# }"
}

# --- a finished job's stream -------------------------------------------------
create u-7 b2c
J1=$ID
wait_until 30 finished "$J1"
call GET "/v1/jobs/$J1/stream" "${ADMIN[@]}" -m 10
check "a finished job's stream: 200 text/event-stream, no-store" \
  eq "$CODE $(header content-type) $(header cache-control)" "200 text/event-stream no-store"
cp "$WORK/resp/$CALLS" "$WORK/j1.sse"
ALL=$(pg_seqs "$J1")
check "the stream's ids are the job's events in Postgres, in order" eq "$(python3 "$SSE" ids "$WORK/j1.sse")" "$ALL"
NAMES=$(python3 "$SSE" names "$WORK/j1.sse")
check "it starts with the created status and ends with done (the job, succeeded)" \
  eq "${NAMES%% *} ${NAMES##* } $(python3 "$SSE" done "$WORK/j1.sse")" "status done succeeded"
check "it carries progress events between" bash -c "[[ ' $NAMES ' == *' progress '* ]]"
check "it tells EventSource to come back after 1 s" eq "$(python3 "$SSE" retry "$WORK/j1.sse")" 1000

# --- resume ------------------------------------------------------------------
THIRD=$(echo "$ALL" | cut -d' ' -f3)
call GET "/v1/jobs/$J1/stream" "${ADMIN[@]}" -m 10 -H "Last-Event-ID: $THIRD"
check "Last-Event-ID: exactly the events after it, then done" \
  eq "$(python3 "$SSE" ids "$WORK/resp/$CALLS") $(python3 "$SSE" done "$WORK/resp/$CALLS")" "$(after "$THIRD" $ALL) succeeded"
call GET "/v1/jobs/$J1/stream?since=$THIRD" "${ADMIN[@]}" -m 10
check "?since= is the same as Last-Event-ID" eq "$(python3 "$SSE" ids "$WORK/resp/$CALLS")" "$(after "$THIRD" $ALL)"
LAST=${ALL##* }
call GET "/v1/jobs/$J1/stream" "${ADMIN[@]}" -m 10 -H "Last-Event-ID: $LAST"
check "resuming after the last event: no event, only done" \
  eq "$(python3 "$SSE" names "$WORK/resp/$CALLS")" "done"
call GET "/v1/jobs/$J1/stream" "${ADMIN[@]}" -m 10 -H "Last-Event-ID: yesterday"
check "a Last-Event-ID that is not a number: 400" eq "$CODE $(js 'd["error"]["code"]')" "400 invalid_argument"
call GET "/v1/jobs/6a0e8a3c-0000-4000-8000-000000000000/stream" "${ADMIN[@]}" -m 10
check "an unknown job: 404 in the error shape" eq "$CODE $(js 'd["error"]["code"]')" "404 not_found"

# --- auth --------------------------------------------------------------------
call GET "/v1/jobs/$J1/stream" -m 10
check "no token: 401" eq "$CODE" 401
call GET "/v1/jobs/$J1/stream?access_token=u7-token-0123456789abcdef" -m 10
check "?access_token= on a stream (EventSource cannot send headers)" \
  eq "$CODE $(python3 "$SSE" done "$WORK/resp/$CALLS")" "200 succeeded"
call GET "/v1/jobs/$J1?access_token=ops-token-0123456789abcdef" -m 10
check "?access_token= anywhere else: 401 (a token in a URL is only for streams)" eq "$CODE" 401
create u-8 b2c
J8=$ID
call GET "/v1/jobs/$J8/stream" "${U7[@]}" -m 10
check "an owner-confined token on another owner's job: 404" eq "$CODE" 404
call GET "/v1/events?owner=b2c:u-8" "${U7[@]}" -m 10
check "an owner-confined token on another owner's events: 403" eq "$CODE" 403
call GET "/v1/events" "${ADMIN[@]}" -m 10
check "/v1/events without an owner: 400" eq "$CODE" 400
call GET "/v1/ws" "${ADMIN[@]}" -m 10
check "GET /v1/ws without an upgrade: 426" eq "$CODE $(js 'd["error"]["code"]')" "426 upgrade_required"

# --- CORS: a web app's page on its own origin ------------------------------------
curl -s -D "$WORK/cors.h" -o /dev/null -m 10 -H "Origin: https://app.example.com" \
  "$A/v1/jobs/$J1/stream?access_token=u7-token-0123456789abcdef"
check "a stream answers an allowed Origin (--api-cors-origins) with Access-Control-Allow-Origin and Vary" \
  bash -c "grep -qi '^access-control-allow-origin: https://app.example.com' '$WORK/cors.h' && grep -qi '^vary: Origin' '$WORK/cors.h'"
curl -s -D "$WORK/cors2.h" -o /dev/null -m 10 -H "Origin: https://evil.example" "${ADMIN[@]}" "$A/v1/jobs/$J1"
check "another Origin gets no CORS header" bash -c "! grep -qi '^access-control-allow-origin' '$WORK/cors2.h'"
curl -s -D "$WORK/cors3.h" -o /dev/null -m 10 -X OPTIONS -H "Origin: https://app.example.com" \
  -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: authorization, content-type" "$A/v1/jobs"
check "a preflight from the allowed Origin: 204 with the methods and headers a page may use" \
  bash -c "head -1 '$WORK/cors3.h' | grep -q ' 204' && grep -qi '^access-control-allow-headers: .*authorization' '$WORK/cors3.h'"

# --- live: a stream opened before the job runs -----------------------------------
call POST /worker/stop "${ADMIN[@]}"
create u-7 b2c
J2=$ID
curl -sN -m 60 "${ADMIN[@]}" "$A/v1/jobs/$J2/stream" >"$WORK/j2.sse" &
P2=$!
PIDS+=("$P2")
wait_for 10 'grep -q "^: keep-alive" "$WORK/j2.sse"'
check "an idle stream gets a heartbeat comment (--stream-heartbeat 1s)" \
  bash -c "[ \$(python3 '$SSE' comments '$WORK/j2.sse') -ge 1 ]"
check "while the job waits, only its created event was sent" eq "$(python3 "$SSE" ids "$WORK/j2.sse")" "$(pg_seqs "$J2")"
call POST /worker/start "${ADMIN[@]}"
wait_until 60 gone "$P2"
check "the live stream ended by itself, with done" eq "$(python3 "$SSE" done "$WORK/j2.sse")" succeeded
check "live, it carried every event of the job once, in order" \
  eq "$(python3 "$SSE" ids "$WORK/j2.sse")" "$(pg_seqs "$J2")"

# --- an owner's stream -----------------------------------------------------------
curl -sN -m 60 "${U7[@]}" "$A/v1/events" >"$WORK/own.sse" &
PO=$!
PIDS+=("$PO")
START=$(sql "select coalesce(max(seq),0) from job_events")
sleep 1
create u-7 b2c
J3=$ID
create u-8 b2c
J4=$ID
create u-7 b2c
J5=$ID
wait_until 60 finished "$J3" "$J4" "$J5"
sleep 1
kill "$PO" 2>/dev/null
wait "$PO" 2>/dev/null
OWN=$(sql "select string_agg(seq::text, ' ' order by seq) from job_events where owner='b2c:u-7' and seq > $START")
check "the owner's stream (token's own owner, from now): every event of u-7's jobs, in order" \
  eq "$(python3 "$SSE" ids "$WORK/own.sse")" "$OWN"
check "none of u-8's" bash -c "! grep -q '$J4' '$WORK/own.sse'"
check "both of u-7's new jobs are in it" bash -c "grep -q '$J3' '$WORK/own.sse' && grep -q '$J5' '$WORK/own.sse'"
call GET "/v1/events?owner=b2c:u-7&since=$START" "${ADMIN[@]}" -m 3
check "an owner's history after ?since=, read again: the same ids" \
  eq "$(python3 "$SSE" ids "$WORK/resp/$CALLS")" "$OWN"

# --- any replica ---------------------------------------------------------------------
PORT_B=$(free_port)
start_api ctl-b "$PORT_B" --api-tokens-file "$WORK/tokens.yaml" --concurrency 1 \
  --stream-heartbeat 1s || fail "a second replica starts"
B=http://127.0.0.1:$PORT_B
call POST /worker/stop "${ADMIN[@]}" # B: it only serves the stream
API=$A
call POST /worker/stop "${ADMIN[@]}"
create u-7 b2c
J6=$ID
curl -sN -m 60 "${ADMIN[@]}" "$B/v1/jobs/$J6/stream" >"$WORK/j6.sse" &
P6=$!
PIDS+=("$P6")
sleep 1
call POST /worker/start "${ADMIN[@]}" # only A runs it: B learns through Postgres
wait_until 60 gone "$P6"
check "replica B streams a job replica A runs, to done, with every event" \
  eq "$(python3 "$SSE" ids "$WORK/j6.sse") $(python3 "$SSE" done "$WORK/j6.sse")" "$(pg_seqs "$J6") succeeded"

# --- the hub loses Postgres ---------------------------------------------------------------
call POST /worker/stop "${ADMIN[@]}"
create u-7 b2c
J7=$ID
curl -sN -m 60 "${ADMIN[@]}" "$A/v1/jobs/$J7/stream" >"$WORK/j7.sse" &
P7=$!
PIDS+=("$P7")
wait_for 10 '[ -n "$(python3 "$SSE" ids "$WORK/j7.sse")" ]'
sql "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name = 'easel'" >/dev/null
sql "insert into job_events (job_id, attempt, reason, message, kind, data) select '$J7', 0, 'Note', 'while the hub reconnects ' || g, 'logs', jsonb_build_object('lines', jsonb_build_array(g::text)) from generate_series(1, 5) g"
wait_until 20 grep -q "listening again" "$WORK/ctl.log"
call POST /worker/start "${ADMIN[@]}"
wait_until 60 gone "$P7"
check "after the hub lost its connection, the stream caught up: every event once, then done" \
  eq "$(python3 "$SSE" ids "$WORK/j7.sse") $(python3 "$SSE" done "$WORK/j7.sse")" "$(pg_seqs "$J7") succeeded"

# --- a client that does not read ---------------------------------------------------------
call POST /worker/stop "${ADMIN[@]}"
create u-7 b2c
J9=$ID
python3 - "$PORT" "$J9" >"$WORK/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(f"GET /v1/jobs/{sys.argv[2]}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ops-token-0123456789abcdef\r\n\r\n".encode())
time.sleep(12)  # reads nothing while the server has a lot to say
got = 0
s.settimeout(10)
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    print("closed after", got, "bytes")
except (socket.timeout, ConnectionResetError) as e:
    print("ended:", type(e).__name__, got)
PY
PS=$!
PIDS+=("$PS")
sleep 1
sql "insert into job_events (job_id, attempt, reason, message, kind, data) select '$J9', 0, 'Note', repeat('x', 4000), 'logs', jsonb_build_object('lines', jsonb_build_array(g::text)) from generate_series(1, 3000) g"
wait_until 20 grep -q "slow consumer" "$WORK/ctl.log"
check "a client that reads nothing for --stream-stall-timeout is cut off, and the log says why" \
  grep -q "slow consumer" "$WORK/ctl.log"
call GET /healthz
check "meanwhile other clients are served" eq "$CODE" 200
wait_until 40 gone "$PS"
check "the unread stream's connection was closed by the server" grep -Eq "closed after|ConnectionReset" "$WORK/slow.out"
call POST /worker/start "${ADMIN[@]}"

check "every answer above validates against docs/openapi.json ($(wc -l <"$WORK/responses") answers)" \
  "$ROOT/hack/openapi-check.sh" batch --unrouted "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
