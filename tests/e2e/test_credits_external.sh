#!/usr/bin/env bash
# Credits kept by the app (credits.mode: external) against a second, real
# PostgreSQL holding docs/examples/app-credits.sql: the registry's
# statements checked against the app's schema, reserve at intake (queue and
# API), consume and refund through the outbox, a refusal dead-lettered or
# answered 402, a manual retry reserving again, the app's database down
# and back, an abandoned reservation refunded, and a controller SIGKILLed
# mid-run: every reservation of every job settled exactly once.
. "$(dirname "$0")/lib.sh"
setup_services
setup_app_db "$ROOT/docs/examples/app-credits.sql"

registry() { # RESERVE-SQL RESERVE-ARGS
  cat <<YAML
version: 1
default_model: ext/ok
credits:
  mode: external
  reserve: {sql: "$1", args: [$2]}
  consume: {sql: "select app.consume_credits(\$1)", args: [key]}
  refund: {sql: "select app.refund_credits(\$1, \$2)", args: [key, reason]}
models:
  - id: ext/ok
    provider: noop
    cost: {default: 3, b2b: 1}
  - id: ext/fails
    provider: local
    cost: 2
    retry: {max_attempts: 2, initial: 50ms, factor: 1, max: 50ms}
  - id: ext/free
    provider: noop
YAML
}
GOOD_SQL='select app.reserve_credits($1, $2, $3)'
registry "$GOOD_SQL" "owner_key, amount, key" >"$WORK/models.yaml"
export EASEL_REGISTRY=$WORK/models.yaml

# --- the statements are checked against the app's schema ---------------------
"$EASEL" registry validate "$WORK/models.yaml" >"$WORK/v0.out" 2>&1
check "the registry validates against the app's database" eq "$?" 0
registry 'select app.reserve_credit($1, $2, $3)' "owner_key, amount, key" >"$WORK/bad1.yaml"
"$EASEL" registry validate "$WORK/bad1.yaml" >"$WORK/v1.out" 2>&1
check "a function the app does not have: invalid, at its line" eq \
  "$?:$(grep -c "bad1.yaml:5:.*credits.reserve: the app's database refuses it: SQLSTATE 42883" "$WORK/v1.out")" "1:1"
registry 'select app.reserve_credits($1, $2, $3)' "owner_key, amount" >"$WORK/bad2.yaml"
"$EASEL" registry validate "$WORK/bad2.yaml" >"$WORK/v2.out" 2>&1
check "args that do not match the \$N: invalid before any database" eq \
  "$?:$(grep -c 'uses \$1 to \$3 but 2 args' "$WORK/v2.out")" "1:1"
registry 'select app.consume_credits($1)' "key" >"$WORK/bad3.yaml"
"$EASEL" registry validate "$WORK/bad3.yaml" >"$WORK/v3.out" 2>&1
check "a reserve that returns no boolean: invalid" eq \
  "$?:$(grep -c 'credits.reserve must return a boolean' "$WORK/v3.out")" "1:1"
EASEL_APP_DATABASE_URL= "$EASEL" registry validate "$WORK/models.yaml" >"$WORK/v4.out" 2>&1
check "external credits without --app-database-url: invalid" eq \
  "$?:$(grep -c 'needs --app-database-url' "$WORK/v4.out")" "1:1"
EASEL_REGISTRY=$WORK/bad1.yaml "$EASEL" controller --concurrency 1 >"$WORK/bad.log" 2>&1 &
bad_pid=$!; PIDS+=("$bad_pid")
wait_for 20 '! kill -0 "$bad_pid" 2>/dev/null'
wait "$bad_pid"; rc=$?
check "a controller refuses to start on it, naming the line" eq \
  "$rc:$(grep -q "bad1.yaml:5:" "$WORK/bad.log" && echo named)" "1:named"

# --- through the queue ---------------------------------------------------------
app "insert into app.profiles values ('b2c:u-1', 10), ('b2b:store-9', 0), ('b2c:u-2', 3), ('b2c:u-3', 20)"
credits_of() { app "select credits from app.profiles where owner = '$1'"; }
holds() { app "select coalesce(string_agg(state, ',' order by state), '') from app.credit_holds where owner = '$1'"; }
env_entry() { # MODEL CHANNEL OWNER [payload]
  echo "{\"model\":\"$1\",\"channel\":\"$2\",\"owner\":\"$3\",\"payload\":${4:-{\}}}"
}
start_controller ctl --concurrency 2 --controller-id ctl || { fail "controller start"; exit 1; }
push "$(env_entry ext/ok b2c u-1)"
push "$(env_entry ext/ok b2c u-1)"
push "$(env_entry ext/fails b2c u-1 '{"images":["file:///nonexistent/x.jpg"]}')"
push "$(env_entry ext/free b2c u-1)"
push "$(env_entry ext/ok b2b store-9)"
wait_for 60 'test "$(count_jobs "'"'succeeded','failed','dead'"'")" = 5'
check "five jobs ended" eq "$(count_jobs "'succeeded','failed','dead'")" 5
# every hold settled and every call sent (an armed refund not yet due is
# not a call: it waits for abandon_after)
settled() { test "$(app "select count(*) from app.credit_holds where state = 'held'")" = 0 &&
  test "$(sql "select count(*) from app_calls where state = 'pending'")" = 0; }
wait_for 30 settled
check "u-1 paid for two successes; the failure was refunded; the free job cost nothing" eq \
  "$(credits_of b2c:u-1) $(holds b2c:u-1)" "4 consumed,consumed,refunded"
check "the refund carried the job's reason" eq \
  "$(app "select reason from app.credit_holds where state = 'refunded'")" \
  "$(sql "select error_reason from jobs where model = 'ext/fails'")"
check "store-9 could not cover the b2b price: dead, insufficient_credits, nothing held" eq \
  "$(sql "select status || ':' || error_reason from jobs where owner = 'store-9'") $(holds b2b:store-9)" \
  "dead:insufficient_credits "
check "and its entry was dead-lettered once, naming the app's refusal" eq \
  "$(rcli LRANGE easel:jobs:dead 0 -1 | grep -c 'insufficient_credits')" 1
check "the dead job holds no reservation" eq "$(sql "select credit_budget from jobs where owner = 'store-9'")" 0
check "easel's own ledger was not touched" eq "$(sql "select count(*) from credit_entries")" 0
check "each job's key is its id and reservation 1" eq \
  "$(app "select count(*) from app.credit_holds h where h.key like '%/1'")" 3
check "every call went out once and is done" eq \
  "$(sql "select count(*) || '/' || sum(attempts) from app_calls where state = 'done'")" "3/3"

# --- through the API -----------------------------------------------------------
kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
PORT=$(free_port)
start_api api "$PORT" --concurrency 2 --controller-id api || { fail "API start"; exit 1; }
body() { echo "{\"model\":\"ext/ok\",\"channel\":\"b2c\",\"owner\":\"$1\"}"; }
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-2)"
check "POST /v1/jobs, reserved in the app: 201" eq "$CODE $(credits_of b2c:u-2)" "201 0"
first=$(js 'd["id"]')
pending=$(rcli LLEN easel:jobs)
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-2)"
check "the next one the app refuses: 402 insufficient_credits" eq \
  "$CODE $(js 'd["error"]["code"]')" "402 insufficient_credits"
check "naming the app's refusal" grep -q "the app's credits.reserve returned false" <<<"$BODY"
check "and nothing was queued or armed for it" eq \
  "$(rcli LLEN easel:jobs) $(sql "select count(*) from app_calls where state = 'armed'")" "$pending 0"
wait_for 30 'test "$(status_of "$first")" = succeeded'
wait_for 30 settled
check "the API's job was reserved once and consumed" eq "$(holds b2c:u-2)" consumed

# --- a manual retry reserves again ----------------------------------------------
failed=$(sql "select id from jobs where model = 'ext/fails'")
call POST "/v1/jobs/$failed/retry"
check "a retry through the API: 200, a second reservation" eq \
  "$CODE $(app "select count(*) from app.credit_holds where key = '$failed/2'")" "200 1"
ended() { case "$(status_of "$1")" in failed|dead) return 0 ;; esac; return 1; }
wait_for 30 'ended "$failed" && settled'
check "it failed again and reservation 2 was refunded" eq \
  "$(app "select state from app.credit_holds where key = '$failed/2'") $(credits_of b2c:u-1)" "refunded 4"
app "update app.profiles set credits = 1 where owner = 'b2c:u-1'"
call POST "/v1/jobs/$failed/retry"
check "a retry the app refuses: 402, the job as it was" eq \
  "$CODE $(js 'd["error"]["code"]') $(ended "$failed" && echo same)" "402 insufficient_credits same"
check "nothing armed is left behind by the refusal" eq \
  "$(sql "select count(*) from app_calls where job_id = '$failed' and state = 'armed'")" 0
app "update app.profiles set credits = 4 where owner = 'b2c:u-1'"
"$EASEL" retry "$failed" --registry "$WORK/models.yaml" >"$WORK/retry.out" 2>&1
check "easel retry (direct) reserves again too: reservation 3" eq \
  "$?:$(app "select count(*) from app.credit_holds where key = '$failed/3'")" "0:1"
wait_for 30 'ended "$failed" && settled'
EASEL_APP_DATABASE_URL= "$EASEL" retry "$failed" >"$WORK/retry2.out" 2>&1
check "easel retry without the app's database refuses, saying why, arming nothing" eq \
  "$?:$(grep -c "needs --app-database-url" "$WORK/retry2.out"):$(sql "select count(*) from app_calls where state = 'armed'")" "1:1:0"

# --- the app's database down and back --------------------------------------------
call POST /v1/jobs -H "Content-Type: application/json" \
  -d '{"model":"ext/ok","channel":"b2c","owner":"u-3","delay":"3s"}'
later=$(js 'd["id"]')
check "a job for in 3 s, reserved now" eq "$(credits_of b2c:u-3)" 17
"$ROOT/hack/services.sh" stop-app-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
push "$(env_entry ext/ok b2c u-3)"
call POST /v1/jobs -H "Content-Type: application/json" -d "$(body u-3)"
check "POST /v1/jobs while the app's database is down: 503 with Retry-After" eq \
  "$CODE $(header retry-after)" "503 1"
check "a refund stays armed in case a reserve got through before the connection broke" test \
  "$(sql "select count(*) from app_calls where state = 'armed'")" -ge 1
wait_for 30 'test "$(status_of "$later")" = succeeded'
check "the scheduled job ran meanwhile" eq "$(status_of "$later")" succeeded
wait_for 20 'test "$(sql "select count(*) from app_calls where job_id = '"'$later'"' and attempts >= 2 and last_error is not null")" = 1'
check "its consume waits in the outbox, tried again, the error kept" eq \
  "$(sql "select count(*) from app_calls where job_id = '$later' and state = 'pending' and last_error like '%app%'")" 1
check "the queued job is not recorded while its credits cannot be reserved" eq \
  "$(sql "select count(*) from jobs where owner = 'u-3'")" 1
check "and the claimer says why" grep -q "cannot reserve its credits in the app" "$WORK/api.log"
"$ROOT/hack/services.sh" start-app-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
wait_for 60 'test "$(sql "select count(*) from jobs where owner = '"'u-3'"' and status = '"'succeeded'"'")" = 2 && settled'
check "once it is back: the consume went through and the parked job ran" eq \
  "$(holds b2c:u-3) $(credits_of b2c:u-3)" "consumed,consumed 14"

# --- a reservation whose job was never recorded is refunded ----------------------
ghost=$(python3 -c 'import uuid; print(uuid.uuid4())')
sql "select easel_app_arm('$ghost', false, 'u-3', 'b2c', 3, 'ext/ok', 600000)" >/dev/null
app "select app.reserve_credits('b2c:u-3', 3, '$ghost/1')" >/dev/null
check "a reservation made, its job never recorded (a crash in between)" eq "$(credits_of b2c:u-3)" 11
sql "update app_calls set next_attempt_at = now() where job_id = '$ghost'" >/dev/null
sql "notify easel_app_calls" >/dev/null
wait_for 30 settled
check "after abandon_after its armed refund undoes it" eq \
  "$(credits_of b2c:u-3) $(app "select state || ':' || reason from app.credit_holds where key = '$ghost/1'")" \
  "14 refunded:reservation_abandoned"

# --- a controller SIGKILLed mid-run ------------------------------------------------
kill -TERM "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
app "insert into app.profiles select 'b2c:k-' || g, 1000 from generate_series(1, 5) g"
for i in $(seq 1 60); do
  if [ $((i % 4)) = 0 ]; then
    push "$(env_entry ext/fails b2c "k-$((i % 5 + 1))" '{"images":["file:///nonexistent/x.jpg"]}')"
  else
    push "$(env_entry ext/ok b2c "k-$((i % 5 + 1))")"
  fi
done
start_controller k1 --concurrency 4 --controller-id k1 || { fail "controller k1 start"; exit 1; }
wait_for 60 'test "$(sql "select count(*) from jobs where owner like '"'k-%'"' and status in ('"'succeeded','failed','dead'"')")" -ge 15'
kill -9 "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller k2 --concurrency 4 --controller-id k2 --lease 3s || { fail "controller k2 start"; exit 1; }
done_k() { sql "select count(*) from jobs where owner like 'k-%' and status in ('succeeded','failed','dead')"; }
wait_for 120 'test "$(done_k)" = 60 && settled'
check "all 60 jobs ended after the SIGKILL" eq "$(done_k)" 60
check "each job holds exactly one reservation, settled as it ended" eq \
  "$(sql "select count(*) from jobs where owner like 'k-%' and credit_budget = 1")" 60
sql "select id::text || '/1 ' || case status when 'succeeded' then 'consumed' else 'refunded' end from jobs where owner like 'k-%' order by 1" >"$WORK/easel.k"
app "select key || ' ' || state from app.credit_holds where owner like 'b2c:k-%' order by 1" >"$WORK/app.k"
check "the app's holds are exactly easel's jobs, consumed for a success, refunded otherwise" \
  diff "$WORK/easel.k" "$WORK/app.k"
check "per owner: balance = 1000 - 3 x successes" eq \
  "$(app "select count(*) from app.profiles p where owner like 'b2c:k-%' and credits <> 1000 - 3 * (select count(*) from app.credit_holds h where h.owner = p.owner and h.state = 'consumed')")" 0
check "every answer validates against docs/openapi.json" \
  "$ROOT/hack/openapi-check.sh" batch "$ROOT/docs/openapi.json" <"$WORK/responses"
finish
