#!/usr/bin/env bash
# The event streams of the HTTP API (GET /v1/jobs/{id}/stream, GET /v1/ws)
# through real clients, not curl: a page in headless Chromium (Debian's
# chromium, driven by playwright-core) with an EventSource and a WebSocket;
# the npm eventsource package resuming with Last-Event-ID on a second
# replica after the first was SIGKILLed mid-stream; the npm ws package
# through the whole WebSocket protocol. The clients and their pinned
# versions come from hack/stream-clients.sh; their scripts live in
# tests/e2e/stream-clients/.
. "$(dirname "$0")/lib.sh"
CLIENTS=$ROOT/tests/e2e/stream-clients
SC=$ROOT/hack/stream-clients.sh
setup_services
samples
IMG=file://$WORK/samples/room-1.jpg

cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: ops
    token: ops-token-0123456789abcdef
    scopes: [admin]
  - name: web-app
    token: web-token-0123456789abcdef
    scopes: [read, write]
  - name: dashboard
    token: read-token-0123456789abcdef
    scopes: [read]
  - name: user-7
    token: u7-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-7}
  - name: user-8
    token: u8-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-8}
YAML
export WRITE_TOKEN=web-token-0123456789abcdef READ_TOKEN=read-token-0123456789abcdef
export U7_TOKEN=u7-token-0123456789abcdef U8_TOKEN=u8-token-0123456789abcdef
WRITE=(-H "Authorization: Bearer $WRITE_TOKEN")
JSON=(-H "Content-Type: application/json")

# the tools first: a failed install is one clear failure, not twenty
if ! "$SC" --chromium -e 'require("ws"); require("eventsource"); require("playwright-core"); require("pg")' \
  >"$WORK/tools.log" 2>&1; then
  cat "$WORK/tools.log"; fail "the stream clients (hack/stream-clients.sh) install"; exit 1
fi

PORT=$(free_port)
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --stream-heartbeat 1s \
  --stream-max-buffer 16KiB --stream-stall-timeout 3s --concurrency 2 || { fail "controller with the API start"; exit 1; }
# job JSON-BODY [TOKEN]: creates a job, prints its id
job() {
  call POST /v1/jobs -H "Authorization: Bearer ${2:-$WRITE_TOKEN}" "${JSON[@]}" -d "$1"
  [ "$CODE" = 201 ] || { echo "   POST /v1/jobs: $CODE $BODY" >&2; return 1; }
  js 'd["id"]'
}
later() { echo '{"images":["'"$IMG"'"],"delay":"1h"'"${1:-}"'}'; }
seqs() { sql "select string_agg(seq::text, ' ' order by seq) from job_events where job_id='$1'${2:+ and seq > $2}"; }

# --- a. Chromium: an EventSource and a WebSocket on one job -------------------
JB=$(job "$(later ',"input":{"style":"modern"}')")
"$SC" --chromium "$CLIENTS/browser.js" "$API" "$JB" "$READ_TOKEN" "$WRITE_TOKEN" "$WORK/browser.json" \
  >"$WORK/browser.log" 2>&1
check "Chromium: the page ran to the end (EventSource and WebSocket both saw done)" test -s "$WORK/browser.json" ||
  tail -20 "$WORK/browser.log"
# jb 'EXPR' over the page's result (as d) and Postgres's seqs of the job (as pg)
jb() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); pg=[int(x) for x in sys.argv[2].split()]; r=($1); print(repr(r) if isinstance(r, tuple) else r)" \
  "$WORK/browser.json" "$(seqs "$JB")" 2>/dev/null; }
check "Chromium: the job was set going only after both streams were open (history first, then live)" \
  eq "$(jb 'd["before"]["process"], d["before"]["sse"] < len(d["sse"]) - 1, d["before"]["ws"] < len(d["ws"]) - 1')" "(202, True, True)"
check "Chromium EventSource: every event of the job, in order, then done" \
  eq "$(jb '[int(e["id"]) for e in d["sse"][:-1]] == pg, d["sse"][-1]["event"], d["sse"][-1]["data"]["status"]')" "(True, 'done', 'succeeded')"
check "Chromium WebSocket: every event of the job, in order, then done" \
  eq "$(jb '[int(e["id"]) for e in d["ws"][:-1]] == pg, d["ws"][-1]["event"], d["ws"][-1]["id"], d["ws"][-1]["data"]["status"]')" "(True, 'done', '', 'succeeded')"
check "Chromium: both transports, the same ids and event names" \
  eq "$(jb '[(e["id"], e["event"]) for e in d["sse"][:-1]] == [(e["id"], e["event"]) for e in d["ws"][:-1]]')" True
check "Chromium: the status events go created -> queued ... running ... succeeded" \
  eq "$(jb '[e["data"]["to"] for e in d["sse"] if e["event"] == "status"][0], "running" in [e["data"]["to"] for e in d["sse"] if e["event"] == "status"], [e["data"]["to"] for e in d["sse"] if e["event"] == "status"][-1]')" "('queued', True, 'succeeded')"
check "Chromium: progress events with the attempt's stages, same data on both" \
  eq "$(jb '[e["data"]["data"]["stage"] for e in d["sse"] if e["event"] == "progress"] == [e["data"]["data"]["stage"] for e in d["ws"] if e["event"] == "progress"], [e["data"]["data"]["stage"] for e in d["sse"] if e["event"] == "progress"][:1]')" "(True, ['fetching'])"
check "Chromium: an EventSource with a wrong ?access_token= gives up (CLOSED)" eq "$(jb 'd["badToken"]')" 2
check "Chromium, a page of another origin: the WebSocket (no CORS involved) sees the same events and done" \
  eq "$(jb 'd["crossOrigin"]["ws"] == [int(e["id"]) for e in d["ws"][:-1]] + ["done"]')" True
# An EventSource from another origin needs Access-Control-Allow-Origin on
# the stream's answer (Chromium sends no preflight, also not for a
# reconnect with Last-Event-ID); the API sends none today, so that page
# is refused and the pages above are the API's own origin. Said, not
# checked: adding the header is the lead's call.
[ "$(jb 'd["crossOrigin"]["sse"]')" = read ] ||
  echo "   note: a cross-origin EventSource is refused ($(jb 'd["crossOrigin"]["sse"]')): the streams send no Access-Control-Allow-Origin"

# --- c. the WebSocket protocol through the ws package ----------------------------
export API JX JY JZ JW J7 J8 CTL_LOG=$WORK/ctl.log
if ! { JX=$(job "$(later)") && JY=$(job "$(later)") && JZ=$(job "$(later)") && JW=$(job "$(later)") &&
  J7=$(job "$(later)" "$U7_TOKEN") && J8=$(job "$(later)" "$U8_TOKEN"); }; then
  fail "the WebSocket scenario's jobs"; exit 1
fi
"$SC" "$CLIENTS/ws_protocol.js" >"$WORK/ws.log" 2>"$WORK/ws.err"
cat "$WORK/ws.log"
FAILS=$((FAILS + $(grep -c '^FAIL: ' "$WORK/ws.log")))
grep -q '^PASS: ' "$WORK/ws.log" || { fail "ws_protocol.js ran"; cat "$WORK/ws.err"; }
call GET /healthz
check "the controller is still up after the slow consumer" eq "$CODE" 200
# a new SSE stream whose history (100 events of ~3 KB, from the flood
# above) is larger than --stream-max-buffer, read by curl as fast as it comes
HIST=$(sql "select seq from job_events where job_id='$JX' order by seq desc offset 100 limit 1")
curl -s -m 5 -H "Authorization: Bearer $READ_TOKEN" "$API/v1/jobs/$JX/stream?since=$HIST" >"$WORK/hist.sse"
check "an SSE catch-up larger than --stream-max-buffer (300 KB of history, 16 KiB bound) reaches a client that reads" \
  eq "$(grep -c '^id: ' "$WORK/hist.sse")" 100

# --- the SSE answer as any client sees it ------------------------------------------
# an idle stream (JY is still queued): its head, then a heartbeat comment
# every --stream-heartbeat (1 s here) once the history is out
curl -s -m 3.5 -D "$WORK/idle.h" -H "Authorization: Bearer $READ_TOKEN" "$API/v1/jobs/$JY/stream" >"$WORK/idle.sse"
check "an SSE answer: 200, text/event-stream, Cache-Control: no-store" \
  eq "$(sed -n '1s/\r$//p' "$WORK/idle.h" | cut -d' ' -f2) $(grep -i '^content-type:' "$WORK/idle.h" | tr -d '\r' | cut -d' ' -f2) $(grep -i '^cache-control:' "$WORK/idle.h" | tr -d '\r' | cut -d' ' -f2)" \
  "200 text/event-stream no-store"
check "an idle SSE stream gets ': keep-alive' about every second (2-4 in 3.5 s)" \
  test "$(grep -c '^: keep-alive$' "$WORK/idle.sse")" -ge 2 -a "$(grep -c '^: keep-alive$' "$WORK/idle.sse")" -le 4
call GET "/v1/jobs/$JY/stream" -H "Authorization: Bearer $READ_TOKEN" -H "Last-Event-ID: yesterday" -m 5
check "a Last-Event-ID that is not an event id: 400 invalid_argument" eq "$CODE $(js 'd["error"]["code"]')" "400 invalid_argument"
call GET "/v1/jobs/00000000-0000-4000-8000-00000000abcd/stream?access_token=$READ_TOKEN" -m 5
check "the stream of an unknown job: 404 not_found, as JSON" eq "$CODE $(js 'd["error"]["code"]')" "404 not_found"
call GET "/v1/jobs/$J8/stream?access_token=$U7_TOKEN" -m 5
check "the stream of another owner's job, owner-confined token: 404" eq "$CODE" 404
call GET "/v1/events?owner=b2c:u-8&access_token=$U7_TOKEN" -m 5
check "/v1/events for another owner, owner-confined token: 403 forbidden" eq "$CODE $(js 'd["error"]["code"]')" "403 forbidden"
call GET "/v1/events?access_token=$READ_TOKEN" -m 5
check "/v1/events without an owner, unconfined token: 400" eq "$CODE" 400
call GET "/v1/jobs/$JY?access_token=$READ_TOKEN"
check "?access_token= anywhere but a stream: 401" eq "$CODE" 401
call GET "/v1/jobs/$JY/stream" -m 5
check "a stream without a token: 401" eq "$CODE" 401

# --- b. SSE resume across replicas, the first SIGKILLed mid-stream ---------------
PA=$(free_port)
start_controller replica-a --http-addr "127.0.0.1:$PA" --api-tokens-file "$WORK/tokens.yaml" --concurrency 1 ||
  { fail "replica A start"; exit 1; }
A_PID=$CTL_PID
PB=$(free_port)
start_controller replica-b --http-addr "127.0.0.1:$PB" --api-tokens-file "$WORK/tokens.yaml" --concurrency 1 ||
  { fail "replica B start"; exit 1; }
JR=$(job "$(later)")
JO=$(job "$(later)" "$U7_TOKEN")
# a long job: 160 log lines, 50 ms apart, written as any writer would (one
# INSERT each, committed on its own, through the row's trigger); every
# third line goes to a job of owner b2c:u-7 instead, for the owner's stream
python3 - "$JR" "$JO" >"$WORK/feed.sql" <<'PY'
import sys
for i in range(160):
    print("INSERT INTO job_events (job_id, reason, message, kind, data) VALUES "
          "('%s', 'Tick', 'line %d', 'logs', '{\"line\": %d}'); SELECT pg_sleep(0.05);"
          % (sys.argv[2] if i % 3 == 2 else sys.argv[1], i, i))
PY
"$SC" "$CLIENTS/resume.js" "/v1/jobs/$JR/stream" "$READ_TOKEN" "$WORK/resume.json" "http://127.0.0.1:$PA" "http://127.0.0.1:$PB" \
  >"$WORK/resume.log" 2>&1 &
RES=$!
PIDS+=("$RES")
# the owner's stream from where its history is now (?since=; the client's
# Last-Event-ID takes over on its reconnect), with the owner-confined token
O_SINCE=$(sql "select coalesce(max(seq), 0) from job_events where owner='b2c:u-7'")
"$SC" "$CLIENTS/resume.js" "/v1/events?owner=b2c:u-7&since=$O_SINCE" "$U7_TOKEN" "$WORK/owner.json" \
  "http://127.0.0.1:$PA" "http://127.0.0.1:$PB" >"$WORK/owner.log" 2>&1 &
OWN=$!
PIDS+=("$OWN")
wait_for 20 "[ -s '$WORK/resume.json.ids' ]" || echo "   (the client has no event yet)"
sleep 0.5
psql "$EASEL_DATABASE_URL" -q -o /dev/null -v ON_ERROR_STOP=1 -f "$WORK/feed.sql" &
FEED=$!
wait_for 20 "[ \$(wc -l <'$WORK/resume.json.ids') -ge 30 ]"
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null
killed_at=$(wc -l <"$WORK/resume.json.ids")
# once B serves the client, B's event hub loses its Postgres connection
# (every hub's: the one whose last statement was LISTEN or the read of
# announced rows); what is announced meanwhile reaches B only through
# the catch-up from Postgres
wait_for 20 "[ \$(wc -l <'$WORK/resume.json.ids') -ge $((killed_at + 10)) ]"
cut=$(sql "select count(pg_terminate_backend(pid)) from pg_stat_activity where pid <> pg_backend_pid()
           and (query like 'LISTEN easel_events%' or query like '%seq = ANY%')")
check "B's event hub lost its Postgres connection mid-stream, then listened again" \
  wait_for 10 "[ '$cut' -ge 1 ] && grep -q 'listening again' '$WORK/replica-b.log'"
wait "$FEED"
wait_for 20 "[ \$(wc -l <'$WORK/resume.json.ids') -gt $killed_at ]"
API=http://127.0.0.1:$PB
call POST "/v1/jobs/$JR/cancel" "${WRITE[@]}"
check "replica B cancels the job (its end ends the stream)" eq "$CODE" 200
wait_until 30 gone "$RES" >/dev/null
check "the eventsource client saw done" test -s "$WORK/resume.json" || cat "$WORK/resume.log"
rs() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); pg=[int(x) for x in sys.argv[2].split()]; ids=[e['id'] for e in d['events']]; r=($1); print(repr(r) if isinstance(r, tuple) else r)" \
  "$WORK/resume.json" "$(seqs "$JR")" 2>/dev/null; }
check "A was killed mid-stream: events came from both replicas" \
  eq "$(rs 'len({e["replica"] for e in d["events"]}), 0 < '"$killed_at"' < len(ids)')" "(2, True)"
check "the client reconnected to B with the Last-Event-ID of the last event it had from A" \
  eq "$(rs '[c["lastEventId"] for c in d["connects"] if c["url"].endswith(":'"$PB"'")][:1] == [str([e["id"] for e in d["events"] if e["replica"].endswith(":'"$PA"'")][-1])]')" True
check "no gap, no duplicate: the ids are exactly the job's seqs in Postgres" eq "$(rs 'ids == pg, len(ids), len(set(ids))')" "(True, $(seqs "$JR" | wc -w), $(seqs "$JR" | wc -w))"
check "the done frame carries the canceled job" eq "$(rs 'd["done"]["id"], d["done"]["status"]')" "('$JR', 'canceled')"
# ?since=N on B: exactly the events after N, then done (the job has ended)
MID=$(seqs "$JR" | cut -d' ' -f50)
curl -s -m 20 -H "Authorization: Bearer $READ_TOKEN" "$API/v1/jobs/$JR/stream?since=$MID" >"$WORK/since.sse"
check "?since=N on the other replica: exactly the seqs after N, then done" \
  eq "$(sed -n 's/^id: //p' "$WORK/since.sse" | tr '\n' ' ' | sed 's/ $//') $(grep -c '^event: done' "$WORK/since.sse")" "$(seqs "$JR" "$MID") 1"
O_LAST=$(sql "select max(seq) from job_events where owner='b2c:u-7'")
wait_for 20 "[ \"\$(tail -1 '$WORK/owner.json.ids')\" = '$O_LAST' ]"
kill -TERM "$OWN" 2>/dev/null
wait_until 10 gone "$OWN" >/dev/null
os() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); pg=[int(x) for x in sys.argv[2].split()]; ids=[e['id'] for e in d['events']]; r=($1); print(repr(r) if isinstance(r, tuple) else r)" \
  "$WORK/owner.json" "$(sql "select string_agg(seq::text, ' ' order by seq) from job_events where owner='b2c:u-7' and seq > $O_SINCE")" 2>/dev/null; }
check "/v1/events?owner=: the owner's stream went on from B after A's SIGKILL, with its Last-Event-ID" \
  eq "$(os 'len({e["replica"] for e in d["events"]}), [c["lastEventId"] is not None for c in d["connects"] if c["url"].endswith(":'"$PB"'")][:1]')" "(2, [True])"
check "/v1/events?owner=: exactly the owner's events after since, no gap, no duplicate" \
  eq "$(os 'ids == pg, len(pg) >= 40')" "(True, True)"
check "the first frame is retry: 1000" eq "$(head -1 "$WORK/since.sse")" "retry: 1000"
check "done is the last frame and carries no id" \
  eq "$(python3 -c 'import sys; f=[x for x in open(sys.argv[1]).read().split("\n\n") if x.strip()][-1]; print([l.split(":")[0] for l in f.split("\n")])' "$WORK/since.sse")" "['event', 'data']"
finish
