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
check "every answer validates against docs/openapi.json" \
  "$ROOT/hack/openapi-check.sh" batch "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
