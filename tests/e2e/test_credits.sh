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
finish
