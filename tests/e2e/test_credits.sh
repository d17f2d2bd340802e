#!/usr/bin/env bash
# Credits through the queue: a model with a cost (and a per-channel
# override) reserves at intake, charges on success and refunds on failure,
# each exactly once; an owner who cannot cover a job gets it dead-lettered
# with the reason insufficient_credits, and nothing is charged for it.
. "$(dirname "$0")/lib.sh"
setup_services
cat >"$WORK/models.yaml" <<'YAML'
version: 1
default_model: credit/ok
models:
  - id: credit/ok
    provider: noop
    cost: {default: 3, b2b: 1}
  - id: credit/fails
    provider: local
    cost: 2
    retry: {max_attempts: 2, initial: 50ms, factor: 1, max: 50ms}
  - id: credit/free
    provider: noop
YAML
export EASEL_REGISTRY=$WORK/models.yaml
grant() { sql "select easel_credit_grant('$1', $2, 'test', null)" >/dev/null; }
acct() { sql "select balance || '/' || reserved from credit_accounts where owner = '$1'"; }
env_entry() { # MODEL CHANNEL OWNER [payload]
  echo "{\"model\":\"$1\",\"channel\":\"$2\",\"owner\":\"$3\",\"payload\":${4:-{\}}}"
}
grant b2c:u-1 10
grant b2b:store-9 2
# u-1: two 3-credit successes (6), one 2-credit failure (refunded); then a
# third success needs 3 of the 4 left; a fourth cannot be covered
push "$(env_entry credit/ok b2c u-1)"
push "$(env_entry credit/ok b2c u-1)"
# a missing source fails the local model permanently: refunded
push "$(env_entry credit/fails b2c u-1 '{"images":["file:///nonexistent/x.jpg"]}')"
push "$(env_entry credit/free b2c u-1)"
# store-9 pays the b2b price, 1 each: two fit, the third does not
push "$(env_entry credit/ok b2b store-9)"
push "$(env_entry credit/ok b2b store-9)"
push "$(env_entry credit/ok b2b store-9)"
start_controller ctl --concurrency 1 || { fail "start"; exit 1; }
wait_for 60 'all_terminal 7'
check "seven jobs ended" all_terminal 7
check "u-1: 6 charged, 2 refunded, nothing held" eq "$(acct b2c:u-1)" "4/0"
check "u-1: two charges and one refund in the ledger" eq \
  "$(sql "select string_agg(kind, ',' order by id) from credit_entries where owner='b2c:u-1' and kind in ('consume','release')")" \
  "consume,consume,release"
check "the free model touched no account" eq \
  "$(sql "select count(*) from credit_entries e join jobs j on j.id = e.job_id where j.model = 'credit/free'")" 0
check "the failed job is failed or dead, and was refunded once" eq \
  "$(sql "select count(*) from credit_entries e join jobs j on j.id = e.job_id where j.model = 'credit/fails' and e.kind = 'release'")" 1
check "store-9: two at the b2b price, the third refused" eq "$(acct b2b:store-9)" "0/0"
check "the refused job is dead with insufficient_credits" eq \
  "$(sql "select count(*) from jobs where owner='store-9' and status='dead' and error_reason='insufficient_credits'")" 1
check "and dead-lettered with that reason, once" eq \
  "$(rcli LRANGE easel:jobs:dead 0 -1 | grep -c insufficient_credits)" 1
check "no reservation outlived its job" eq \
  "$(sql "select count(*) from jobs j where j.credit_budget > 0 and not exists (select 1 from credit_entries e where e.job_id = j.id and e.budget = j.credit_budget and e.kind in ('consume','release'))")" 0
# a manual retry of the refused job reserves again once the owner can pay
grant b2b:store-9 1
dead=$(sql "select id from jobs where owner='store-9' and status='dead'")
"$EASEL" retry "$dead" >"$WORK/retry.log" 2>&1
wait_for 30 'test "$(status_of "$dead")" = succeeded'
check "after a grant, the manual retry ran and was charged" eq "$(status_of "$dead")" succeeded
check "store-9 spent all 3" eq "$(acct b2b:store-9)" "0/0"

# --- a job recorded only after PostgreSQL comes back keeps its owner ----------
# (the claimer parks what it cannot record; the entry that comes back is the
# canonical one, which must still name the owner to charge)
grant b2c:u-5 3
"$ROOT/hack/services.sh" stop-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
push "$(env_entry credit/ok b2c u-5)"
wait_for 20 'grep -q "cannot record 1 claimed jobs" "$WORK/ctl.log"'
"$ROOT/hack/services.sh" start-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
wait_for 60 'test "$(sql "select count(*) from jobs where owner = '"'u-5'"' and status = '"'succeeded'"'" 2>/dev/null)" = 1'
check "a job parked while PostgreSQL was down is recorded for its owner and charged" eq \
  "$(sql "select channel || ':' || owner || ' ' || status from jobs where owner = 'u-5'") $(acct b2c:u-5)" \
  "b2c:u-5 succeeded 0/0"

# --- through the HTTP API: 402 before anything is queued
PORT=$(free_port)
start_api api "$PORT" --concurrency 1 --controller-id api || { fail "API start"; exit 1; }
grant b2c:u-2 3
body() { echo "{\"model\":\"credit/ok\",\"channel\":\"b2c\",\"owner\":\"$1\"}"; }
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-2)"
check "POST /v1/jobs with credits: 201" eq "$CODE" 201
first=$(js 'd["id"]')
pending=$(rcli LLEN easel:jobs)
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-2)"
check "the next one cannot be covered: 402" eq "$CODE" 402
check "with the code insufficient_credits" eq "$(js 'd["error"]["code"]')" insufficient_credits
check "naming the owner and the balance" grep -q "b2c:u-2 cannot cover the 3 credits of credit/ok: balance 0" <<<"$BODY"
check "and nothing was queued for it" eq "$(rcli LLEN easel:jobs)" "$pending"
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-3)"
check "an owner without an account: 402 too" eq "$CODE" 402
wait_for 30 'test "$(status_of "$first")" = succeeded'
check "the API's job ran and was charged" eq "$(acct b2c:u-2)" "0/0"
# a manual retry through the API reserves again: 402 while it cannot be covered
grant b2c:u-6 2
call POST /v1/jobs -H "Content-Type: application/json" \
  -d '{"model":"credit/fails","channel":"b2c","owner":"u-6","images":["file:///nonexistent/x.jpg"]}'
check "a 2-credit job for u-6: 201" eq "$CODE" 201
failing=$(js 'd["id"]')
ended() { case "$(status_of "$1")" in failed|dead) return 0 ;; esac; return 1; }
wait_for 30 'ended "$failing"'
check "it failed, and was refunded" eq "$(acct b2c:u-6)" "2/0"
was=$(status_of "$failing")
check "the claimer's second insert of the API's job reserved nothing more" eq \
  "$(sql "select count(*) from credit_entries where job_id = '$failing' and kind = 'reserve'")" 1
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-6)"
check "the 3-credit model is beyond u-6: 402" eq "$CODE" 402
# hold the 2 left with a job scheduled an hour ahead, then retry the first
call POST /v1/jobs -H "Content-Type: application/json" \
  -d '{"model":"credit/fails","channel":"b2c","owner":"u-6","delay":"1h","images":["file:///nonexistent/x.jpg"]}'
later=$(js 'd["id"]')
check "a job scheduled later holds its 2 credits" eq "$(acct b2c:u-6)" "0/2"
call POST "/v1/jobs/$failing/retry"
check "a manual retry it cannot cover: 402 insufficient_credits" eq "$CODE:$(js 'd["error"]["code"]')" \
  "402:insufficient_credits"
check "the retried job stays $was, nothing moved" eq "$(status_of "$failing"):$(acct b2c:u-6)" "$was:0/2"
call POST "/v1/jobs/$later/cancel"
check "canceling the scheduled job refunds it" eq "$(acct b2c:u-6)" "2/0"
call POST "/v1/jobs/$failing/retry"
check "then the retry is taken: 200" eq "$CODE" 200
check "and reserves again, under its second number" eq \
  "$(sql "select string_agg(budget::text, ',' order by id) from credit_entries where job_id = '$failing' and kind = 'reserve'")" "1,2"
wait_for 30 'ended "$failing"'
check "every reservation of u-6 was refunded" eq "$(acct b2c:u-6)" "2/0"
# --- accounts over the API: GET /v1/credits/{owner}, POST .../grants -------
cat >"$WORK/tokens.yaml" <<'YAML'
tokens:
  - name: ops
    token: ops-token-0123456789abcdef
    scopes: [admin]
  - name: web-app
    token: web-token-0123456789abcdef
    scopes: [read, write]
  - name: user-1
    token: u1-token-0123456789abcdef
    scopes: [read, write]
    owner: {channel: b2c, id: u-1}
YAML
ADMIN=(-H "Authorization: Bearer ops-token-0123456789abcdef")
WRITE=(-H "Authorization: Bearer web-token-0123456789abcdef")
U1=(-H "Authorization: Bearer u1-token-0123456789abcdef")
JSON=(-H "Content-Type: application/json")
kill -TERM "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null
PORT2=$(free_port)
start_api api2 "$PORT2" --api-tokens-file "$WORK/tokens.yaml" --controller-id api2 \
  || { fail "API with tokens start"; exit 1; }
count_entries() { sql "select count(*) from credit_entries where owner = '$1'"; }
call GET /v1/credits/b2c%3Au-1 "${WRITE[@]}"
check "GET /v1/credits/b2c%3Au-1: 200" eq "$CODE" 200
check "its balance and reserved are the ledger's" eq \
  "$(js 'd["owner"]')/$(js 'd["balance"]')/$(js 'd["reserved"]')" "b2c:u-1/$(acct b2c:u-1)"
check "with every entry, newest first" eq \
  "$(js '",".join(e["kind"] for e in d["entries"])')" \
  "$(sql "select string_agg(kind, ',' order by id desc) from credit_entries where owner = 'b2c:u-1'")"
check "a job's entry names the job and its reservation" eq \
  "$(js '[e for e in d["entries"] if e["kind"] == "reserve"][0]["reservation"]')" 1
call GET /v1/credits/b2c:u-1 "${WRITE[@]}"
check "the owner unencoded is the same account" eq "$CODE $(js 'd["owner"]')" "200 b2c:u-1"
call GET "/v1/credits/b2c%3Au-1?limit=2" "${WRITE[@]}"
check "a page of 2, with where to go on" eq "$(js 'len(d["entries"])') $(js 'd["next_before"] == d["entries"][1]["id"]')" "2 True"
second=$(js 'd["entries"][1]["id"]')
call GET "/v1/credits/b2c%3Au-1?limit=1000&before=$second" "${WRITE[@]}"
check "the next page starts after it and holds the rest" eq \
  "$(js 'len(d["entries"]) + 2') $(js 'd["entries"][0]["id"] < '"$second") $(js 'd["next_before"]')" \
  "$(count_entries b2c:u-1) True None"
call GET /v1/credits/b2c%3Anobody "${WRITE[@]}"
check "an owner never granted anything: 200, balance 0, no entries" eq \
  "$CODE $(js 'd["balance"], d["reserved"], d["entries"], d["next_before"]')" "200 (0, 0, [], None)"
call GET /v1/credits/no-channel "${WRITE[@]}"
check "an owner that is not CHANNEL:ID: 400" eq "$CODE $(js 'd["error"]["code"]')" "400 invalid_argument"
call GET "/v1/credits/b2c%3Au-1?before=x" "${WRITE[@]}"
check "before that is not an entry id: 400" eq "$CODE" 400
call GET /v1/credits/b2c%3Au-1
check "without a token: 401" eq "$CODE" 401
call GET /v1/credits/b2c%3Au-1 "${U1[@]}"
check "an owner-confined token sees its own account" eq "$CODE $(js 'd["balance"]')" "200 $(acct b2c:u-1 | cut -d/ -f1)"
call GET /v1/credits/b2c%3Au-2 "${U1[@]}"
check "and no other owner's: 403" eq "$CODE $(js 'd["error"]["code"]')" "403 forbidden"
call POST /v1/credits/b2c%3Au-1/grants "${U1[@]}" "${JSON[@]}" -d '{"amount":5}'
check "an owner-confined token cannot grant: 403" eq "$CODE" 403
call POST /v1/credits/b2c%3Au-7/grants "${WRITE[@]}" "${JSON[@]}" -d '{"amount":5}'
check "a write token cannot grant: 403" eq "$CODE" 403
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -H "Idempotency-Key: topup-1" \
  -d '{"amount":5,"reason":"welcome bonus"}'
check "an admin grant: 201 with the account" eq "$CODE $(js 'd["balance"], d["entries"][0]["kind"], d["entries"][0]["reason"]')" \
  "201 (5, 'grant', 'welcome bonus')"
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -H "Idempotency-Key: topup-1" \
  -d '{"amount":5,"reason":"welcome bonus"}'
check "the same key again: 200, nothing more" eq "$CODE $(js 'd["balance"]') $(count_entries b2c:u-7)" "200 5 1"
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -H "Idempotency-Key: topup-1" \
  -d '{"amount":50}'
check "the key reused for another amount: 409 idempotency_conflict" eq \
  "$CODE $(js 'd["error"]["code"]') $(acct b2c:u-7)" "409 idempotency_conflict 5/0"
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -d '{"amount":2}'
check "without a key every grant counts" eq "$CODE $(js 'd["balance"]')" "201 7"
for bad in '{"amount":2.5}' '{"amount":0}' '{"amount":-3}' '{"amount":"5"}' '{"amount":1e13}' \
  '{}' '{"amount":1,"note":"x"}' '{"amount":1,"reason":7}'; do
  call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -d "$bad"
  check "a grant of $bad: 422" eq "$CODE" 422
done
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" "${JSON[@]}" -d '{"amount":'
check "malformed JSON: 400 malformed_json" eq "$CODE $(js 'd["error"]["code"]')" "400 malformed_json"
call POST /v1/credits/b2c%3Au-7/grants "${ADMIN[@]}" -H "Content-Type: text/plain" -d '{"amount":1}'
check "a body that is not JSON: 415" eq "$CODE" 415
check "none of the refused grants moved anything" eq "$(acct b2c:u-7)" "7/0"

# --- the CLI, both roads --------------------------------------------------
"$EASEL" credits grant b2c:u-9 4 --reason "cli grant" --idempotency-key cli-1 >"$WORK/cli1.out" 2>&1
"$EASEL" credits grant b2c:u-9 4 --reason "cli grant" --idempotency-key cli-1 >>"$WORK/cli1.out" 2>&1
check "easel credits grant, twice with one key: granted once" eq "$(acct b2c:u-9) $(count_entries b2c:u-9)" "4/0 1"
check "and the second says nothing changed" grep -q 'was granted before; nothing changed' "$WORK/cli1.out"
"$EASEL" credits grant b2c:u-9 9 --idempotency-key cli-1 >/dev/null 2>"$WORK/cli2.err"
check "the key reused for another amount: exit 5, named" eq "$?:$(grep -c 'already granted 4' "$WORK/cli2.err")" "5:1"
out=$("$EASEL" credits get b2c:u-9 -o json)
check "easel credits get -o json: the API's shape" eq \
  "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["owner"], d["balance"], d["entries"][0]["reason"])' "$out")" \
  "b2c:u-9 4 cli grant"
export EASEL_TOKEN=ops-token-0123456789abcdef
"$EASEL" credits grant b2c:u-9 3 --idempotency-key srv-1 --server "$API" >"$WORK/cli3.out" 2>&1
"$EASEL" credits grant b2c:u-9 3 --idempotency-key srv-1 --server "$API" >>"$WORK/cli3.out" 2>&1
check "easel credits grant --server, twice with one key: granted once" eq "$(acct b2c:u-9)" "7/0"
"$EASEL" credits get b2c:u-9 --server "$API" >"$WORK/cli4.out"
check "easel credits get --server prints the account" grep -q '^balance   7$' "$WORK/cli4.out"
check "and its ledger: the two grants" eq "$(grep -c "^[0-9].* grant " "$WORK/cli4.out")" 2
"$EASEL" credits grant b2c:u-9 8 --idempotency-key srv-1 --server "$API" >/dev/null 2>"$WORK/cli5.err"
check "--server, the key reused: exit 5 (HTTP 409)" eq "$?:$(grep -c 'HTTP 409 idempotency_conflict' "$WORK/cli5.err")" "5:1"
EASEL_TOKEN=u1-token-0123456789abcdef "$EASEL" credits get b2c:u-9 --server "$API" >/dev/null 2>&1
check "--server with a token confined to another owner: exit 4" eq "$?" 4
unset EASEL_TOKEN
"$EASEL" credits get nocolon >/dev/null 2>&1
check "an owner that is not CHANNEL:ID: exit 2" eq "$?" 2
"$EASEL" credits grant b2c:u-9 0 >/dev/null 2>&1
check "a grant of 0: exit 2" eq "$?" 2
check "every answer validates against docs/openapi.json" \
  "$ROOT/hack/openapi-check.sh" batch "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
