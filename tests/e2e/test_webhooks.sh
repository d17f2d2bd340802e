#!/usr/bin/env bash
# Webhooks, end to end: real controllers send real HTTP to a receiver that
# verifies every delivery with the Standard Webhooks reference library
# (hack/webhook-receiver.sh, npm "standardwebhooks"). Signatures with two
# secrets, each verifying alone; a tampered body and a stale timestamp
# refused by the library; retries with one webhook-id recorded delivered
# once; the SSRF guard refusing loopback unless --webhook-allow; 410;
# redirects not followed; Retry-After; a controller SIGKILLed before the
# delivery; the per-job event filter and a registry rule's default webhook;
# `easel webhooks` and /v1/webhooks.
. "$(dirname "$0")/lib.sh"
setup_services
samples
IMG=file://$WORK/samples/room-1.jpg

S1=whsec_$(head -c 32 /dev/urandom | base64)
S2=whsec_$(head -c 24 /dev/urandom | base64)
printf '# rotation: the new secret first, the old one until receivers move\n%s\n\n%s\n' "$S1" "$S2" \
  >"$WORK/secrets"
printf '%s\n' "$S1" >"$WORK/secret-one"

cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: ops
    token: ops-token-0123456789abcdef
    scopes: [admin]
  - name: dashboard
    token: read-token-0123456789abcdef
    scopes: [read]
  - name: user-7
    token: u7-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-7}
YAML
ADMIN=(-H "Authorization: Bearer ops-token-0123456789abcdef")
READ=(-H "Authorization: Bearer read-token-0123456789abcdef")
U7=(-H "Authorization: Bearer u7-token-0123456789abcdef")
JSON=(-H "Content-Type: application/json")

# a registry whose first payload rule gives matching entries a webhook
RP=$(free_port)
DOWN=$(free_port)   # nothing listens here until the crash scenario
{ sed -n '1,/^payloads:/p' "$ROOT/tests/e2e/registry.yaml"
  cat <<YAML
  - name: hooked-stage
    when: [hook_me, original_url]
    type: stage
    images: [original_url]
    webhook: http://127.0.0.1:$RP/ok
    webhook_events_filter: [start, completed]
YAML
  sed -n '/^payloads:/,$p' "$ROOT/tests/e2e/registry.yaml" | sed 1d; } >"$WORK/registry.yaml"
"$EASEL" registry validate "$WORK/registry.yaml" >/dev/null ||
  { fail "the test registry validates"; exit 1; }

# --- the receiver ----------------------------------------------------------------
start_receiver() { # PORT LOG
  "$ROOT/hack/webhook-receiver.sh" --port "$1" --log "$2" --secret "$S1" --secret "$S2" \
    >>"$WORK/receiver.out" 2>&1 &
  RECV_PID=$!
  PIDS+=("$RECV_PID")
  wait_until 120 grep -q '"listening"' "$2" 2>/dev/null ||
    { cat "$WORK/receiver.out"; fail "receiver on $1 starts"; exit 1; }
}
start_receiver "$RP" "$WORK/recv.log"

# recv 'PYTHON EXPR' over L, the receiver's requests (dicts), printed
recv() {
  python3 - "$1" "${2:-$WORK/recv.log}" <<'PY'
import json, sys
L = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
L = [l for l in L if "id" in l]
print(eval(sys.argv[1]))
PY
}
new_id() { cat /proc/sys/kernel/random/uuid; }
# job ID WEBHOOK-URL [FILTER-JSON]: an envelope on the queue
job() {
  local f=""
  [ -n "${3:-}" ] && f=",\"webhook_events_filter\":$3"
  push "{\"id\":\"$1\",\"model\":\"local/vips-stage\",\"webhook\":\"$2\"$f,\"payload\":{\"images\":[\"$IMG\"]}}"
}
dsql() { sql "select $2 from webhook_deliveries where $1"; } # WHERE EXPR

# --- the SSRF guard: loopback refused without --webhook-allow --------------------------
start_controller guarded --webhook-secret-file "$WORK/secrets" \
  --webhook-retry-schedule 0s,1s,1s,1s,1s || { fail "controller without --webhook-allow starts"; exit 1; }
G=$(new_id)
job "$G" "http://127.0.0.1:$RP/ok"
wait_for 60 '[ "$(dsql "job_id='"'$G'"'" status)" = failed ]'
check "a receiver on 127.0.0.1 is refused without --webhook-allow: failed at once, with the reason" \
  eq "$(dsql "job_id='$G'" "attempts, last_status_code is null, last_error")" \
  "1|t|refused by the SSRF guard: 127.0.0.1 is loopback (127.0.0.0/8); allow it with --webhook-allow"
check "the refused delivery never reached the receiver" eq "$(recv "len([l for l in L if l['body'].find('$G') >= 0])")" 0
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null

# --- the API controller, loopback allowed ----------------------------------------------
PORT=$(free_port)
SCHED=0s,1s,1s,1s,1s
start_api ctl "$PORT" --api-tokens-file "$WORK/tokens.yaml" --registry "$WORK/registry.yaml" \
  --webhook-secret-file "$WORK/secrets" --webhook-allow 127.0.0.1 --webhook-retry-schedule "$SCHED" \
  --public-url "http://127.0.0.1:$PORT" || { fail "controller with the API starts"; exit 1; }
CTL=$CTL_PID

check "no secret reaches the log" bash -c "! grep -qF -e '${S1#whsec_}' -e '${S2#whsec_}' '$WORK/ctl.log' '$WORK/guarded.log'"

out=$("$EASEL" webhooks redeliver "$(dsql "job_id='$G'" webhook_id)")
check "easel webhooks redeliver: the refused delivery is sent again" eq "$(echo "$out" | grep -c 'pending')" 1
wait_for 30 '[ "$(dsql "job_id='"'$G'"'" status)" = delivered ]'
check "with --webhook-allow 127.0.0.1 the same delivery arrives, the schedule started over" \
  eq "$(dsql "job_id='$G'" "status, attempts, last_status_code")" "delivered|1|200"

# --- signatures, body, filter ----------------------------------------------------------
A=$(new_id)
job "$A" "http://127.0.0.1:$RP/ok" '["start","completed"]'
wait_for 60 '[ "$(dsql "job_id='"'$A'"' and status='"'delivered'"'" "count(*)")" = 2 ]'
check "start and completed: two deliveries, in event order" \
  eq "$(dsql "job_id='$A'" "string_agg(type, ',' order by event_seq)")" "job.started,job.completed"
check "every delivery so far verifies with each secret alone (the library, two Webhook objects)" \
  eq "$(recv "sorted(set(tuple(l['verified']) for l in L))")" "[(True, True)]"
check "a tampered body never verifies" eq "$(recv "any(l['tampered'] for l in L)")" False
check "the same message ten minutes later does not verify (stale timestamp)" \
  eq "$(recv "any(l['stale'] for l in L)")" False
check "the signature header carries one v1 signature per secret" \
  eq "$(recv "sorted(set(len(l['signature'].split(' ')) for l in L))")" "[2]"
# the shell + openssl verifier docs/events.md shows, run as a reader would
# run it, on a delivery as received: it accepts it, and not a changed body
python3 - "$ROOT/docs/events.md" "$WORK/verify.sh" <<'PY'
import re, sys
doc = open(sys.argv[1]).read()
sec = doc[doc.index("### Verifying a message"):]
open(sys.argv[2], "w").write(re.search(r"```sh\n(.*?)```", sec, re.S).group(1))
PY
recv "L[-1]['body']" >"$WORK/body.json.tmp" && head -c -1 "$WORK/body.json.tmp" >"$WORK/body.json"
sed -i "s|^secret=whsec_[^ ]*|secret=$S2|" "$WORK/verify.sh"
vrun() {
  (cd "$WORK" && WEBHOOK_ID=$(recv "L[-1]['id']") WEBHOOK_TIMESTAMP=$(recv "L[-1]['timestamp']") \
    WEBHOOK_SIGNATURE=$(recv "L[-1]['signature']") bash verify.sh 2>&1)
}
check "docs/events.md's openssl verifier accepts a delivery as received (the second secret)" eq "$(vrun)" verified
sed -i 's/"status"/"STATUS"/' "$WORK/body.json"
check "and refuses it with one word of the body changed" eq "$(vrun)" "bad signature"
check "webhook-timestamp is the send time in unix seconds" \
  eq "$(recv "all(abs(int(l['timestamp']) - l['at'] / 1000) < 30 for l in L)")" True
check "POST with Content-Type application/json" \
  eq "$(recv "sorted(set((l['method'], l['content_type']) for l in L))")" "[('POST', 'application/json')]"
BODY_A=$(recv "[l['body'] for l in L if '\"job.completed\"' in l['body'] and '$A' in l['body']][0]")
check "the body: type, an RFC 3339 timestamp and the job as data" \
  eq "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["type"], d["timestamp"][:2], d["timestamp"][-1], d["data"]["id"], d["data"]["status"], sorted(d))' "$BODY_A")" \
  "job.completed 20 Z $A succeeded ['data', 'timestamp', 'type']"
call GET "/v1/jobs/$A" "${ADMIN[@]}"
check "data is exactly what GET /v1/jobs/{id} shows (the API's job view)" \
  python3 -c 'import json,sys; a=json.loads(sys.argv[1])["data"]; b=json.loads(sys.argv[2]); sys.exit(a != b)' "$BODY_A" "$BODY"
check "the job view shows the webhook and its filter" \
  eq "$(js 'd["webhook"].endswith("/ok"), d["webhook_events_filter"]')" "(True, ['start', 'completed'])"
BODY_S=$(recv "[l['body'] for l in L if '\"job.started\"' in l['body'] and '$A' in l['body']][0]")
check "job.started carries the job as it ran" \
  eq "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["status"])' "$BODY_S")" running

D=$(new_id)
job "$D" "http://127.0.0.1:$RP/ok"
wait_for 60 '[ "$(dsql "job_id='"'$D'"'" status)" = delivered ]'
sleep 1
check "without a filter only job.completed is sent" eq "$(dsql "job_id='$D'" "string_agg(type, ',')")" job.completed

call POST /v1/jobs "${ADMIN[@]}" "${JSON[@]}" \
  -d '{"images":["'"$IMG"'"],"webhook":"http://127.0.0.1:'"$RP"'/ok","webhook_events_filter":["start","sometimes"]}'
check "POST /v1/jobs: an unknown webhook event is 422 naming it" \
  eq "$CODE $(js '"sometimes" in d["error"]["message"]')" "422 True"
call POST /v1/jobs "${ADMIN[@]}" "${JSON[@]}" -d '{"images":["'"$IMG"'"],"webhook":"ftp://x/y"}'
check "POST /v1/jobs: a webhook that is not http(s) is 422" eq "$CODE" 422
call POST /v1/jobs "${ADMIN[@]}" "${JSON[@]}" \
  -d '{"images":["'"$IMG"'"],"webhook":"http://127.0.0.1:'"$RP"'/ok","webhook_events_filter":["completed"]}'
P=$(js 'd["id"]')
check "POST /v1/jobs: webhook and filter accepted and shown" \
  eq "$CODE $(js 'd["webhook_events_filter"]')" "201 ['completed']"
wait_for 60 '[ "$(dsql "job_id='"'$P'"'" status)" = delivered ]'
check "a job made through the API gets its webhook" eq "$(dsql "job_id='$P'" type)" job.completed

# a registry payload rule gives a plain entry its webhook
H=$(new_id)
push "{\"hook_me\":1,\"original_url\":\"$IMG\",\"image_id\":\"$H\"}"
wait_for 60 '[ "$(sql "select count(*) from webhook_deliveries d join jobs j on j.id=d.job_id where j.input->'"'fields'"'->>'"'image_id'"'='"'$H'"' and d.status='"'delivered'"'")" = 2 ]'
check "a payload rule's webhook and filter apply to entries that name none" \
  eq "$(sql "select string_agg(d.type, ',' order by d.event_seq) from webhook_deliveries d join jobs j on j.id=d.job_id where j.input->'fields'->>'image_id'='$H'")" \
  "job.started,job.completed"

# --- retries: 500 three times, then 200 ---------------------------------------------------
F=$(new_id)
job "$F" "http://127.0.0.1:$RP/fail/3"
wait_for 60 '[ "$(dsql "job_id='"'$F'"'" status)" = delivered ]'
FID=$(dsql "job_id='$F'" webhook_id)
check "500 three times then 200: delivered once, attempts 4" \
  eq "$(dsql "job_id='$F'" "count(*), min(attempts), min(last_status_code)")" "1|4|200"
check "the receiver got the same webhook-id and body all four times (3 x 500, then 200)" \
  eq "$(recv "[l['status'] for l in L if l['id'] == '$FID'], len(set(l['body'] for l in L if l['id'] == '$FID'))")" \
  "([500, 500, 500, 200], 1)"
check "each retry was signed anew and still verifies" \
  eq "$(recv "len(set(l['timestamp'] for l in L if l['id'] == '$FID')) >= 2 and all(all(l['verified']) for l in L if l['id'] == '$FID')")" True

# --- 410 Gone stops --------------------------------------------------------------------
X=$(new_id)
job "$X" "http://127.0.0.1:$RP/gone"
wait_for 60 '[ "$(dsql "job_id='"'$X'"'" status)" = gone ]'
sleep 2.5
XID=$(dsql "job_id='$X'" webhook_id)
check "410 Gone: status gone after one attempt, no retry" \
  eq "$(dsql "job_id='$X'" "attempts, last_status_code")|$(recv "len([l for l in L if l['id'] == '$XID'])")" "1|410|1"

# --- redirects are not followed ------------------------------------------------------------
R=$(new_id)
job "$R" "http://127.0.0.1:$RP/redirect"
wait_for 60 '[ "$(dsql "job_id='"'$R'"'" status)" = failed ]'
RID=$(dsql "job_id='$R'" webhook_id)
check "a 302 is a failed attempt: retried on the schedule, then failed with the Location named" \
  eq "$(dsql "job_id='$R'" "attempts, last_status_code, last_error like '%redirect (not followed) to http://127.0.0.1:$RP/ok; gave up after 5 attempts'")" "5|302|t"
check "the redirect target was never called" \
  eq "$(recv "[l['path'] for l in L if l['id'] == '$RID']")" "['/redirect', '/redirect', '/redirect', '/redirect', '/redirect']"

# --- Retry-After -----------------------------------------------------------------------------
T=$(new_id)
job "$T" "http://127.0.0.1:$RP/retry-after/3"
wait_for 60 '[ "$(dsql "job_id='"'$T'"'" status)" = delivered ]'
TID=$(dsql "job_id='$T'" webhook_id)
check "Retry-After: 3 holds the next attempt at least 3 s (the schedule says 1 s)" \
  eq "$(recv "(lambda t: (len(t), t[1] - t[0] >= 2900))([l['at'] for l in L if l['id'] == '$TID'])")" "(2, True)"

# --- the operator surface -----------------------------------------------------------------
out=$("$EASEL" webhooks list --failed -o json)
check "easel webhooks list --failed: only the failed (the redirect)" \
  eq "$(echo "$out" | python3 -c 'import json,sys; print(sorted({d["status"] for d in json.load(sys.stdin)["items"]}))')|$(echo "$out" | grep -c "$RID")" "['failed']|1"
out=$("$EASEL" webhooks list --job "$A")
check "easel webhooks list --job: a table of that job's deliveries" \
  eq "$(echo "$out" | grep -c "$A")|$(echo "$out" | head -1 | awk '{print $1, $4}')" "2|ID STATUS"
out=$("$EASEL" webhooks list --job "$F" -o json --server "$API" --token ops-token-0123456789abcdef)
check "easel webhooks list --server: the same through the API" \
  eq "$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["items"][0]; print(d["id"], d["status"], d["attempts"], d["last_status_code"])')" \
  "$FID delivered 4 200"
"$EASEL" webhooks redeliver msg_nope --server "$API" --token ops-token-0123456789abcdef 2>/dev/null
check "easel webhooks redeliver --server of an unknown id exits 3" eq "$?" 3
call GET "/v1/webhooks?job=$X" "${ADMIN[@]}"
check "GET /v1/webhooks?job=: the delivery, status gone" \
  eq "$CODE $(js 'd["items"][0]["id"], d["items"][0]["status"], d["items"][0]["last_status_code"]')" "200 ('$XID', 'gone', 410)"
call GET "/v1/webhooks?status=delivered&limit=2" "${ADMIN[@]}"
check "GET /v1/webhooks?status=&limit=" eq "$CODE $(js 'len(d["items"]), {i["status"] for i in d["items"]}')" "200 (2, {'delivered'})"
call GET "/v1/webhooks?status=lost" "${ADMIN[@]}"
check "an unknown status: 400" eq "$CODE" 400
call GET /v1/webhooks "${READ[@]}"
check "a read token may not list deliveries: 403" eq "$CODE" 403
call GET /v1/webhooks "${U7[@]}"
check "an owner-confined token sees no other owner's deliveries" eq "$CODE $(js 'len(d["items"])')" "200 0"
call POST "/v1/webhooks/$RID/redeliver" "${U7[@]}"
check "nor redelivers them: 404" eq "$CODE" 404
call POST "/v1/webhooks/$XID/redeliver" "${ADMIN[@]}"
check "POST /v1/webhooks/{id}/redeliver: 202, pending, attempts back to 0" \
  eq "$CODE $(js 'd["status"], d["attempts"]')" "202 ('pending', 0)"
wait_for 30 '[ "$(dsql "job_id='"'$X'"'" status)" = gone ]'
check "the redelivery went out with the same webhook-id (and met 410 again)" \
  eq "$(recv "len([l for l in L if l['id'] == '$XID'])")" 2

# --- SIGKILL between a job's end and its delivery ---------------------------------------------
C=$(new_id)
job "$C" "http://127.0.0.1:$DOWN/ok"
wait_for 60 '[ "$(dsql "job_id='"'$C'"'" "coalesce(max(attempts), 0)")" -ge 1 ]'
kill -9 "$CTL"; wait "$CTL" 2>/dev/null
check "the job ended and its delivery waits in the outbox (receiver down, controller killed)" \
  eq "$(status_of "$C") $(dsql "job_id='$C'" status)" "succeeded pending"
start_receiver "$DOWN" "$WORK/recv2.log"
start_controller after --webhook-secret-file "$WORK/secret-one" --webhook-allow 127.0.0.1 \
  --webhook-retry-schedule "$SCHED" || fail "a new controller starts"
wait_for 90 '[ "$(dsql "job_id='"'$C'"'" status)" = delivered ]'
check "a new controller delivers it after the old one's lease (one secret now: still verifies)" \
  eq "$(dsql "job_id='$C'" status)|$(recv "[(l['verified'][0], l['stale'], l['tampered']) for l in L]" "$WORK/recv2.log")" \
  "delivered|[(True, False, False)]"

# --- the document ------------------------------------------------------------------------
check "every /v1/webhooks answer above validates against docs/openapi.json" \
  "$ROOT/hack/openapi-check.sh" batch --unrouted "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
