#!/usr/bin/env bash
# The HTTP API of `easel controller`, with curl over real sockets: auth and
# owner-confined tokens, every job route and its error answers, scheduled
# jobs, Prefer: wait, pause and resume, dead letters, a slow client cut off
# while others are served, Redis down answered 503, two replicas answering
# for the same job, and the refusal to listen off loopback without tokens.
. "$(dirname "$0")/lib.sh"
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
    # sha256 of u8-token-0123456789abcdef: the file need not hold the token
    token_sha256: PLACEHOLDER
    scopes: [read, write]
    owner: {channel: b2c, id: u-8}
YAML
U8_SHA=$(printf %s u8-token-0123456789abcdef | sha256sum | cut -d' ' -f1)
sed -i "s/PLACEHOLDER/$U8_SHA/" "$WORK/tokens.yaml"
ADMIN=(-H "Authorization: Bearer ops-token-0123456789abcdef")
WRITE=(-H "Authorization: Bearer web-token-0123456789abcdef")
READ=(-H "Authorization: Bearer read-token-0123456789abcdef")
U7=(-H "Authorization: Bearer u7-token-0123456789abcdef")
U8=(-H "Authorization: Bearer u8-token-0123456789abcdef")
JSON=(-H "Content-Type: application/json")

PORT=$(free_port)
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --api-header-timeout 3s \
  --api-max-body 64KiB --concurrency 2 || { fail "controller with the API start"; exit 1; }
check "the start-up log names the address and never a token" \
  bash -c "grep -q 'HTTP API on 127.0.0.1:$PORT' '$WORK/ctl.log' && ! grep -q 'token-0123' '$WORK/ctl.log'"

# --- open routes, auth -------------------------------------------------------
call GET /healthz
check "/healthz needs no token" eq "$CODE $BODY" '200 {"status":"ok"}'
call GET /readyz
check "/readyz: redis, postgres and the registry are ready" eq "$CODE $(js 'd["status"], d["checks"]["redis"], d["checks"]["postgres"], d["checks"]["registry"]')" "200 ('ready', 'ok', 'ok', 'ok')"
call GET /openapi.json
check "/openapi.json serves the OpenAPI document" eq "$CODE $(js 'd["openapi"]')" "200 3.1.0"
call GET /v1/jobs
check "no token: 401 in the error shape" eq "$CODE $(js 'd["error"]["code"]')" "401 unauthorized"
call GET /v1/jobs -H "Authorization: Bearer not-a-token-at-all-0000"
check "a wrong token: 401" eq "$CODE" 401
call POST /v1/jobs "${READ[@]}" "${JSON[@]}" -d '{}'
check "a read token cannot create: 403 naming the scope" eq "$CODE $(js '"write" in d["error"]["message"]')" "403 True"
call DELETE /v1/jobs "${WRITE[@]}"
check "405 with Allow" eq "$CODE $(header allow)" "405 POST, GET"
call GET /v1/nothing-here "${READ[@]}"
check "an unknown route: 404 not_found" eq "$CODE $(js 'd["error"]["code"]')" "404 not_found"

# --- create: bad input ---------------------------------------------------------
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" --data-binary $'{\n  "model": "local/vips-stage",\n  "input": {oops}\n}'
check "malformed JSON: 400 with the line and column" eq "$CODE $(js '"line 3, column" in d["error"]["message"]')" "400 True"
call POST /v1/jobs "${WRITE[@]}" -H "Content-Type: text/plain" -d '{}'
check "not JSON: 415" eq "$CODE $(js 'd["error"]["code"]')" "415 unsupported_media_type"
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"colour":"red"}'
check "an unknown field: 422 naming it" eq "$CODE $(js '"colour" in d["error"]["message"]')" "422 True"
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"model":"no/such-model","images":["'"$IMG"'"]}'
check "an unknown model: 422 unknown_model" eq "$CODE $(js 'd["error"]["code"]')" "422 unknown_model"
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"run_at":"tomorrow"}'
check "a bad run_at: 422" eq "$CODE" 422
python3 -c 'import json; print(json.dumps({"input": {"pad": "x" * 100000}}))' >"$WORK/big.json"
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" --data-binary "@$WORK/big.json"
check "a body over --api-max-body: 413" eq "$CODE $(js 'd["error"]["code"]')" "413 payload_too_large"
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -H "Transfer-Encoding: chunked" -m 10 -d '{"images":["'"$IMG"'"]}'
check "a chunked body: 411, asking for its length" eq "$CODE $(js 'd["error"]["code"]')" "411 length_required"
check "none of the refused requests made a job" eq "$(count_jobs "'queued','dispatched','running','retrying','succeeded','failed','dead','canceled'")" 0

# --- create, read, history -------------------------------------------------------
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"input":{"room_type":"kitchen","style":"modern"},"metadata":{"order":"A-1"}}'
J1=$(js 'd["id"]')
check "create: 201 with the job, queued, and its Location" eq "$CODE $(js 'd["status"], d["model"], d["metadata"]["order"]') $(header location)" "201 ('queued', 'local/vips-stage', 'A-1') /v1/jobs/$J1"
check "the job exists in Postgres at once" eq "$(field "$J1" "model")" "local/vips-stage"
wait_for 60 "[ \"\$(status_of $J1)\" = succeeded ]"
call GET "/v1/jobs/$J1" "${READ[@]}"
check "get: succeeded with its variants, attempts and timings" eq "$CODE $(js 'd["status"], len(d["output"]["variants"]) >= 1, d["attempts"], d["metrics"]["run_seconds"] is not None, d["completed_at"] is not None')" "200 ('succeeded', True, {'count': 1, 'max': 3}, True, True)"
call GET "/v1/jobs/$J1/events" "${READ[@]}"
check "events: the whole history, ending in succeeded" eq "$CODE $(js 'd["items"][0]["reason"], d["items"][-1]["to"]')" "200 ('Created', 'succeeded')"
check "events: the attempt's stages, in order, as progress events" \
  eq "$(js '[e["data"]["stage"] for e in d["items"] if e["kind"] == "progress"]')" "['fetching', 'model', 'checking', 'variants', 'storing']"
call GET "/v1/jobs/$J1" "${READ[@]}"
check "a finished job shows no progress" eq "$(js 'd["progress"]')" None
call GET /v1/jobs/00000000-0000-4000-8000-000000000000 "${READ[@]}"
check "an unknown job: 404" eq "$CODE" 404
call GET /v1/jobs/not-a-uuid "${READ[@]}"
check "a malformed id: 404" eq "$CODE" 404

# idempotency: the header and the field are one key
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -H "Idempotency-Key: order-42" -d '{"images":["'"$IMG"'"]}'
K1=$(js 'd["id"]'); C1=$CODE
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"idempotency_key":"order-42"}'
check "a repeated idempotency key: 201 then 200 with the first job" eq "$C1 $CODE $(js 'd["id"]')" "201 200 $K1"

# Prefer: wait holds the answer until the job is terminal
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -H "Prefer: wait=30" -d '{"images":["'"$IMG"'"],"input":{"seed":5}}'
check "Prefer: wait=30 answers with the finished job" eq "$CODE $(js 'd["status"]') $(header preference-applied)" "201 succeeded wait=30"

# --- listing -----------------------------------------------------------------
for i in 1 2 3 4 5; do
  call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"input":{"seed":'$((10 + i))'}}'
done
wait_for 90 "all_terminal 8"
TOTAL=$(sql "select count(*) from jobs")
seen=""; cursor=""; pages=0
while :; do
  call GET "/v1/jobs?limit=3${cursor:+&cursor=$cursor}" "${READ[@]}"
  [ "$CODE" = 200 ] || break
  seen+=$(js '" ".join(j["id"] for j in d["items"])')" "
  cursor=$(js 'd["next_cursor"] or ""')
  pages=$((pages + 1))
  [ -n "$cursor" ] && [ $pages -lt 20 ] || break
done
check "pages of 3 walk every job once, newest first" eq "$(echo $seen | wc -w) $(echo $seen | tr ' ' '\n' | sort -u | wc -l)" "$TOTAL $TOTAL"
check "the first page is the newest" eq "$(echo $seen | cut -d' ' -f1)" "$(sql "select id from jobs order by created_at desc, id desc limit 1")"
call GET "/v1/jobs?status=succeeded&model=local/vips-stage&limit=1000" "${READ[@]}"
check "status and model filters" eq "$(js 'len(d["items"]), all(j["status"] == "succeeded" for j in d["items"])')" "($(count_jobs "'succeeded'"), True)"
call GET "/v1/jobs?limit=5000" "${READ[@]}"
check "limit above 1000: 400" eq "$CODE" 400
call GET "/v1/jobs?status=bogus" "${READ[@]}"
check "an unknown status: 400" eq "$CODE" 400

# --- cancel, retry, scheduled jobs ---------------------------------------------------
call POST "/v1/jobs/$J1/cancel" "${WRITE[@]}"
check "cancel of a finished job: 409" eq "$CODE $(js 'd["error"]["code"]')" "409 conflict"
call POST "/v1/jobs/$J1/retry" "${WRITE[@]}"
check "retry of a succeeded job: 409" eq "$CODE" 409
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"delay":"1h"}'
S1=$(js 'd["id"]')
check "delay: queued with run_at an hour away" eq "$CODE $(js 'd["status"], d["run_at"] is not None')" "201 ('queued', True)"
call POST "/v1/jobs/$S1/cancel" "${WRITE[@]}"
check "cancel of a scheduled job: 200 canceled" eq "$CODE $(js 'd["status"]')" "200 canceled"
RUN_AT=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")')
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"run_at":"'"$RUN_AT"'"}'
S2=$(js 'd["id"]')
sleep 1
check "a job scheduled 8 s ahead is still queued a second later" eq "$(status_of "$S2")" queued
wait_for 30 "[ \"\$(status_of $S2)\" = succeeded ]"
check "it started no earlier than run_at" eq "$(sql "select started_at >= '$RUN_AT'::timestamptz from jobs where id='$S2'")" t

# --- owner-confined tokens -----------------------------------------------------
call POST /v1/jobs "${U7[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"]}'
O7=$(js 'd["id"]')
check "a user's token creates jobs for its owner" eq "$CODE $(js 'd["owner"], d["channel"]')" "201 ('u-7', 'b2c')"
call GET "/v1/jobs/$O7" "${U8[@]}"
check "another user's token gets 404, not 403 (token_sha256 works)" eq "$CODE" 404
call GET "/v1/jobs/$J1" "${U7[@]}"
check "a user's token gets 404 for a job without owner" eq "$CODE" 404
call GET "/v1/jobs?limit=1000" "${U7[@]}"
check "a user's list holds only its own jobs" eq "$(js '[j["id"] for j in d["items"]]')" "['$O7']"
call GET "/v1/jobs?owner=b2c:u-8" "${U7[@]}"
check "asking for another owner lists nothing" eq "$(js 'len(d["items"])')" 0
call POST /v1/jobs "${U7[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"owner":"u-8","channel":"b2c"}'
check "a user's token cannot create for another owner: 403" eq "$CODE" 403
call GET /v1/queues "${U7[@]}"
check "a user's token cannot see the queues: 403" eq "$CODE" 403
call GET "/v1/jobs?owner=b2c:u-7" "${READ[@]}"
check "an unconfined token filters by owner" eq "$(js '[j["id"] for j in d["items"]]')" "['$O7']"

# --- models, queues, pause/resume, config ----------------------------------------------
call GET /v1/models "${READ[@]}"
check "models: the registry as loaded" eq "$CODE $(js 'd["default"], [m["id"] for m in d["models"]]')" "200 ('local/vips-stage', ['local/vips-stage'])"
call POST /worker/stop "${WRITE[@]}"
check "pausing needs admin: 403" eq "$CODE" 403
call POST /worker/stop "${ADMIN[@]}"
check "/worker/stop pauses claiming" eq "$CODE $(js 'd["status"]')" "200 paused"
call POST /worker/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"]}'
P1=$(js 'd["id"]')
sleep 2.5
check "a paused replica claims nothing" eq "$(status_of "$P1")" queued
call GET /v1/queues "${READ[@]}"
check "queues: the pending job, and paused" eq "$CODE $(js 'd["items"][0]["pending"], d["items"][0]["paused"], d["items"][0]["oldest_pending_seconds"] > 1')" "200 (1, True, True)"
call POST /worker/start "${ADMIN[@]}"
wait_for 30 "[ \"\$(status_of $P1)\" = succeeded ]"
check "/worker/start resumes: the job ran" eq "$(status_of "$P1")" succeeded
call GET "/worker/jobs/$P1" "${READ[@]}"
check "/worker/jobs/{id} is the same job" eq "$CODE $(js 'd["id"]')" "200 $P1"
call PUT /worker/config "${ADMIN[@]}" "${JSON[@]}" -d '{"concurrency":3,"queue":"other"}'
check "config: a key that cannot change is refused by name, nothing changes" eq "$CODE $(js '"queue" in d["error"]["message"]')" "422 True"
call PUT /worker/config "${ADMIN[@]}" "${JSON[@]}" -d '{"concurrency":3}'
check "config: concurrency changes at run time" eq "$CODE $(js 'd["concurrency"]')" "200 3"
call GET /worker/stats "${READ[@]}"
check "stats in the seed worker's names" eq "$CODE $(js 'd["jobs_completed"] >= 8, 0 < d["success_rate"] <= 1')" "200 (True, True)"
call GET /worker/status "${READ[@]}"
check "status" eq "$CODE $(js 'd["status"], d["concurrency"]')" "200 ('running', 3)"
call GET /health
check "/health" eq "$CODE" 200
call GET /worker/health
check "/worker/health: healthy, no token" eq "$CODE $(js 'd["status"]')" "200 healthy"
call GET /worker/config "${READ[@]}"
check "/worker/config" eq "$CODE $(js 'd["concurrency"], d["paused"]')" "200 (3, False)"
call GET /worker/workers "${READ[@]}"
check "/worker/workers: this replica and the attempts running" eq "$CODE $(js 'd["this"]["controller_id"] != "", isinstance(d["attempts"], list)')" "200 (True, True)"
call POST "/worker/jobs/$P1/process" "${WRITE[@]}"
check "process of a job that is not waiting: 409" eq "$CODE" 409
call DELETE "/worker/jobs/$P1" "${WRITE[@]}"
check "DELETE /worker/jobs/{id} of a finished job: 409" eq "$CODE" 409
call POST /worker/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"delay":"1h"}'
W1=$(js 'd["id"]')
call POST "/worker/jobs/$W1/process" "${WRITE[@]}"
check "process: a scheduled job runs now (202)" eq "$CODE" 202
wait_for 30 "[ \"\$(status_of $W1)\" = succeeded ]"
check "... and it ran, an hour early" eq "$(status_of "$W1")" succeeded

# --- dead letters ----------------------------------------------------------------
push '{"model":"gone/model","payload":{"images":["'"$IMG"'"]}}'
push 'this is not json'
wait_for 20 "[ \"\$(rcli LLEN easel:jobs:dead)\" -ge 2 ]"
call GET /v1/dead "${READ[@]}"
DEAD=$(js '[x["id"] for x in d["items"] if x["reason"] == "unknown_model"][0]')
check "dead letters: the unknown model and the raw entry that is not JSON" eq "$CODE $(js 'sorted(x["reason"] for x in d["items"])')" "200 ['malformed_json', 'unknown_model']"
call POST "/v1/dead/$DEAD/retry" "${WRITE[@]}"
check "retrying a dead letter needs admin" eq "$CODE" 403
call POST "/v1/dead/$DEAD/retry" "${ADMIN[@]}"
check "an admin retries a dead letter: 200, the job queued again" eq "$CODE $(js 'd["id"], d["status"]')" "200 ('$DEAD', 'queued')"
# its model is still unknown: it comes back to the dead letters
wait_for 20 "[ \"\$(status_of $DEAD)\" = dead ] && rcli LRANGE easel:jobs:dead 0 -1 | grep -q $DEAD"
call DELETE "/v1/dead/$DEAD" "${ADMIN[@]}"
check "delete a dead letter: 204" eq "$CODE" 204
call DELETE "/v1/dead/$DEAD" "${ADMIN[@]}"
check "and again: 404" eq "$CODE" 404

# --- a slow client is cut off while others are served ------------------------------------
python3 - "$PORT" >"$WORK/slowloris.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")
t0 = time.time()
try:
    for i in range(30):          # one header byte a second, never finishing
        s.sendall(b"X")
        time.sleep(1)
    print("still open after 30 s")
except OSError:
    print("cut off after %.0f s" % (time.time() - t0))
PY
SLOW=$!
PIDS+=("$SLOW")
sleep 0.5
t0=$(date +%s%N)
call GET /healthz
t1=$(date +%s%N)
check "another client is served while a slow one trickles (well within its 3 s)" test "$CODE" = 200 -a $(( (t1 - t0) / 1000000 )) -lt 2000
wait "$SLOW"
check "the slow client is cut off by the header timeout" grep -q '^cut off after' "$WORK/slowloris.out"

# --- two replicas answer for the same job ------------------------------------------------
PORT2=$(free_port)
API1=$API
start_api ctl2 "$PORT2" --api-tokens-file "$WORK/tokens.yaml" --api-rate-limit 5 \
  --api-max-waiting 1 --api-max-connections 16 --api-header-timeout 2s || fail "second replica start"
call GET "/v1/jobs/$J1" "${READ[@]}"
check "the second replica answers for a job the first made" eq "$CODE $(js 'd["id"], d["status"]')" "200 ('$J1', 'succeeded')"
# its limits: 5 requests a second per token (bursts of 10), one Prefer: wait at a time
# 15 requests on one connection, in a few milliseconds: the burst of 10 (less
# the one above) goes through, the rest are refused with Retry-After
python3 - "$PORT2" "$J1" "$WORK" >"$WORK/burst.out" <<'PY'
import http.client, sys
port, job, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
codes = []
for i in range(15):
    c.request("GET", "/v1/jobs/" + job, headers={"Authorization": "Bearer read-token-0123456789abcdef"})
    r = c.getresponse()
    body = r.read()
    codes.append(r.status)
    if r.status == 429:
        open(work + "/resp/burst429", "wb").write(body)
        with open(work + "/resp/burst429.h", "w") as h:
            h.write("HTTP/1.1 429\r\n" + "".join("%s: %s\r\n" % kv for kv in r.getheaders()))
        ra = r.getheader("Retry-After")
print(" ".join(map(str, codes)), "retry-after", ra if 429 in codes else "-")
PY
echo "GET /v1/jobs/$J1 429 $WORK/resp/burst429 application/json $WORK/resp/burst429.h" >>"$WORK/responses"
ok=$(grep -o '200' "$WORK/burst.out" | wc -l)
check "past the token's rate, 429 with Retry-After ($(cat "$WORK/burst.out"))" \
  test "$ok" -ge 9 -a "$ok" -le 10 -a "$(grep -o '429' "$WORK/burst.out" | wc -l)" -ge 5
check "the 429 is the error shape, saying too_many_requests" grep -q '"code":"too_many_requests"' "$WORK/resp/burst429"
check "and when to come back" grep -q 'retry-after 1$' "$WORK/burst.out"
call GET "/v1/jobs/$J1" "${WRITE[@]}"
check "another token has its own budget" eq "$CODE" 200
sleep 1.2
curl -s -o /dev/null -X POST "$API/v1/jobs" "${ADMIN[@]}" "${JSON[@]}" -H "Prefer: wait=3" \
  -d '{"images":["file:///nonexistent/never.jpg"],"delay":"1h"}' &
WAITER=$!
sleep 0.5
call POST /v1/jobs "${ADMIN[@]}" "${JSON[@]}" -H "Prefer: wait=3" -d '{"images":["'"$IMG"'"],"input":{"mark":"second-waiter"},"delay":"1h"}'
check "a second Prefer: wait past --api-max-waiting 1: 429, nothing made" \
  eq "$CODE $(sql "select count(*) from jobs where payload->>'mark' = 'second-waiter'")" "429 0"
wait "$WAITER"
# a flood of 40 idle connections against --api-max-connections 16: the
# server holds at most 16, cuts the idle ones at the header timeout, and a
# real client is served meanwhile
python3 - "$PORT2" >"$WORK/flood.out" 2>&1 <<'PY'
import socket, subprocess, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
t0 = time.time()
r = subprocess.run(["curl", "-s", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                    "http://127.0.0.1:%d/healthz" % port], capture_output=True, text=True)
took = time.time() - t0
closed = 0
for s in socks:
    s.settimeout(0.05)
    try:
        closed += s.recv(1) == b""
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print("curl %s after %.1f s; %d of 40 idle connections closed by the server" % (r.stdout, took, closed))
PY
check "a flood of idle connections past the limit: a client is still served ($(cat "$WORK/flood.out"))" \
  grep -Eq '^curl 200 .*; ([2-3][0-9]|40) of 40' "$WORK/flood.out"
API=$API1

# --- Redis down: 503 with Retry-After, then back ---------------------------------------------
"$ROOT/hack/services.sh" stop-redis "$WORK/svc" >/dev/null 2>&1
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"]}'
check "Redis down: 503 unavailable with Retry-After" eq "$CODE $(js 'd["error"]["code"]') $(header retry-after)" "503 unavailable 1"
call GET /readyz
check "/readyz says not ready, naming redis" eq "$CODE $(js 'd["status"], d["checks"]["postgres"]')" "503 ('not_ready', 'ok')"
call GET "/v1/jobs/$J1" "${READ[@]}"
check "reads from Postgres still work with Redis down" eq "$CODE" 200
"$ROOT/hack/services.sh" start-redis "$WORK/svc" >/dev/null 2>&1
sleep 1.5
call POST /v1/jobs "${WRITE[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"]}'
check "Redis back: jobs are accepted again" eq "$CODE" 201

# --- secure by default ---------------------------------------------------------------
P3=$(free_port)
"$EASEL" controller --http-addr "0.0.0.0:$P3" >"$WORK/open.log" 2>&1
rc=$?
check "a non-loopback address without tokens refuses to start" eq "$rc $(grep -c 'needs tokens' "$WORK/open.log")" "1 1"

# --- the OpenAPI document is the route table, and every answer matches it ----------------
sed -n 's/^ *{M_\([A-Z]*\), "\([^"]*\)".*/\1 \2/p' "$ROOT/pkg/api/routes.c" | sort >"$WORK/served"
"$ROOT/hack/openapi-check.sh" routes "$ROOT/docs/openapi.json" | sort >"$WORK/documented"
check "every route served is documented and every documented route is served ($(wc -l <"$WORK/served") routes)" \
  diff "$WORK/served" "$WORK/documented"
check "every answer above validates against docs/openapi.json ($(wc -l <"$WORK/responses") answers, headers included)" \
  "$ROOT/hack/openapi-check.sh" batch --unrouted "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
