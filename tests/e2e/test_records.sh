#!/usr/bin/env bash
# The app's own records (registry records) against a second, real
# PostgreSQL holding docs/examples/app-records.sql, the seed try-on app's
# two tables: every rule checked against the app's schema when the
# registry loads; each status a job takes written to its row, in order,
# with the result URL of a named variant, the error and the times; the
# app's database down and back without a job waiting on it; a row that is
# not there retried and shown, never blocking another job.
. "$(dirname "$0")/lib.sh"
setup_services
samples
setup_app_db "$ROOT/docs/examples/app-records.sql"
# what the app's realtime layer would see: every change of a session's status
psql "$APPDB" -q -v ON_ERROR_STOP=1 <<'SQL' || { fail "app log"; exit 1; }
CREATE TABLE session_log (id bigserial, session text, status text);
CREATE FUNCTION log_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO session_log (session, status) VALUES (NEW.id, NEW.status);
  RETURN NEW;
END $$;
CREATE TRIGGER log_b2c AFTER UPDATE OF status ON generation_sessions
  FOR EACH ROW EXECUTE FUNCTION log_status();
CREATE TRIGGER log_b2b AFTER UPDATE OF status ON store_generation_sessions
  FOR EACH ROW EXECUTE FUNCTION log_status();
SQL

records() { # the records block, with COLUMN as the b2c error column
  cat <<YAML
records:
  - name: consumer-sessions
    channel: b2c
    table: generation_sessions
    key: {column: id, field: session_id}
    on:
      queued: {status: queued, job_id: \$job_id}
      running: {status: processing, started_at: \$now}
      retrying: {status: retrying, $1: \$error}
      succeeded: {status: completed, result_url: \$variant.hq, completed_at: \$now, $1: \$null}
      failed: {status: failed, $1: \$error, completed_at: \$now}
      dead: {status: failed, $1: \$error, completed_at: \$now}
      canceled: {status: canceled, completed_at: \$now}
  - name: store-sessions
    channel: b2b
    table: public.store_generation_sessions
    key: {column: id, field: session_id}
    on:
      running: {status: processing}
      succeeded: {status: completed, image_url: \$variant.hq, thumbnail_url: \$variant.normal, finished_at: \$now}
      failed: {status: failed, failure: \$reason}
YAML
}
{ sed '/^models:/,$d; s/^default_model:.*/default_model: rec\/stage/' "$ROOT/tests/e2e/registry.yaml"
  records error_message
  cat <<'YAML'
models:
  - id: rec/stage
    provider: local
  - id: rec/fails
    provider: local
    retry: {max_attempts: 2, initial: 50ms, factor: 1, max: 50ms}
YAML
} >"$WORK/models.yaml"
export EASEL_REGISTRY=$WORK/models.yaml

# --- every rule is checked against the app's schema --------------------------
"$EASEL" registry validate "$WORK/models.yaml" >"$WORK/v0.out" 2>&1
check "the registry validates against the app's tables" eq "$?" 0
{ sed '/^records:/,$d' "$WORK/models.yaml"; records error_text; sed -n '/^models:/,$p' "$WORK/models.yaml"; } >"$WORK/bad1.yaml"
line=$(grep -n 'retrying: {status: retrying, error_text' "$WORK/bad1.yaml" | cut -d: -f1)
"$EASEL" registry validate "$WORK/bad1.yaml" >"$WORK/v1.out" 2>&1
check "a column the table lacks: invalid, named at its line" eq \
  "$?:$(grep -c "bad1.yaml:$line:.*table generation_sessions has no column error_text" "$WORK/v1.out")" "1:1"
sed 's/table: generation_sessions/table: generation_session/' "$WORK/models.yaml" >"$WORK/bad2.yaml"
"$EASEL" registry validate "$WORK/bad2.yaml" >"$WORK/v2.out" 2>&1
check "a table the app lacks: invalid" eq \
  "$?:$(grep -c 'has no table generation_session$' "$WORK/v2.out")" "1:1"
sed 's/table: generation_sessions/table: "generation_sessions; drop table x"/' "$WORK/models.yaml" >"$WORK/bad3.yaml"
"$EASEL" registry validate "$WORK/bad3.yaml" >"$WORK/v3.out" 2>&1
check "a table name that is not a plain identifier: invalid before any database" eq \
  "$?:$(grep -c 'is not TABLE or SCHEMA.TABLE of plain names' "$WORK/v3.out")" "1:1"
EASEL_APP_DATABASE_URL= "$EASEL" registry validate "$WORK/models.yaml" >"$WORK/v4.out" 2>&1
check "records without --app-database-url: invalid" eq \
  "$?:$(grep -c 'records needs --app-database-url' "$WORK/v4.out")" "1:1"

# --- each status into the app's row, in order --------------------------------
app "insert into generation_sessions (id, user_id) values ('s-ok', 'u-1'), ('s-bad', 'u-1'), ('s-down', 'u-2'), ('s-other', 'u-3')"
app "insert into store_generation_sessions (id, store_id) values ('t-ok', 'store-9')"
entry() { # MODEL CHANNEL OWNER SESSION IMAGE
  echo "{\"model\":\"$1\",\"channel\":\"$2\",\"owner\":\"$3\",\"payload\":{\"session_id\":\"$4\",\"images\":[\"$5\"]}}"
}
IMG=file://$SAMPLES/room-1.jpg
start_controller ctl --concurrency 2 --controller-id ctl || { fail "controller start"; exit 1; }
push "$(entry rec/stage b2c u-1 s-ok "$IMG")"
push "$(entry rec/fails b2c u-1 s-bad file:///nonexistent/x.jpg)"
push "$(entry rec/stage b2b store-9 t-ok "$IMG")"
wait_for 60 'test "$(count_jobs "'"'succeeded','failed','dead'"'")" = 3'
synced() { test "$(sql "select count(*) from app_calls where kind = 'record' and state not in ('done', 'failed')")" = 0; }
wait_for 30 synced
job_of() { sql "select id from jobs where record_key = '$1'"; }
ok=$(job_of s-ok); bad=$(job_of s-bad)
check "the b2c session completed, with the job's id" eq \
  "$(app "select status || ' ' || job_id from generation_sessions where id = 's-ok'")" "completed $ok"
check "its result_url is the job's hq variant" eq \
  "$(app "select result_url from generation_sessions where id = 's-ok'")" \
  "$(sql "select o->>'url' from jobs, jsonb_array_elements(result->'outputs') o where id = '$ok' and o->>'variant' = 'hq'")"
check "its completed_at is when the job ended" eq \
  "$(app "select abs(extract(epoch from completed_at))::bigint from generation_sessions where id = 's-ok'")" \
  "$(sql "select abs(extract(epoch from finished_at))::bigint from jobs where id = '$ok'")"
check "and started_at is set, before it" eq \
  "$(app "select started_at <= completed_at from generation_sessions where id = 's-ok'")" t
check "the app saw each status of it in order" eq \
  "$(app "select string_agg(status, ',' order by id) from session_log where session = 's-ok'")" \
  "queued,processing,completed"
check "the failed session has easel's error message" eq \
  "$(app "select status || '|' || error_message from generation_sessions where id = 's-bad'")" \
  "failed|$(sql "select error_message from jobs where id = '$bad'")"
check "and saw each of its statuses in order" eq \
  "$(app "select string_agg(status, ',' order by id) from session_log where session = 's-bad'")" \
  "queued,processing,failed"
check "the b2b session went to the stores' table, both variants" eq \
  "$(app "select status || ' ' || (image_url like '%hq%') || ' ' || (thumbnail_url like '%normal%') || ' ' || (finished_at is not null) from store_generation_sessions where id = 't-ok'")" \
  "completed true true true"
check "statuses a rule does not map wrote nothing (dispatched): one call each, done" eq \
  "$(sql "select count(*) from app_calls where kind = 'record' and status = 'dispatched' and state = 'done'")" \
  "$(sql "select count(*) from job_events e join jobs j on j.id = e.job_id where j.record_key is not null and e.to_status = 'dispatched'")"

# --- the app's database down: jobs go on, records wait, then arrive in order --
"$ROOT/hack/services.sh" stop-app-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
push "$(entry rec/stage b2c u-2 s-down "$IMG")"
wait_for 60 'test "$(status_of "$(job_of s-down)")" = succeeded'
check "a job ran to the end while the app's database was down" eq "$(status_of "$(job_of s-down)")" succeeded
wait_for 20 'test "$(sql "select count(*) from app_calls where kind = '"'record'"' and last_error is not null and state = '"'pending'"'")" -ge 1'
check "its records wait, with the error" eq \
  "$(sql "select count(*) > 0 from app_calls where job_id = '$(job_of s-down)' and state = 'pending' and last_error like '%app%'")" t
"$ROOT/hack/services.sh" start-app-pg "$WORK/svc" >>"$WORK/services.log" 2>&1
wait_for 60 synced
check "once it is back, every status arrived, in order" eq \
  "$(app "select string_agg(status, ',' order by id) from session_log where session = 's-down'")" \
  "queued,processing,completed"

# --- a row the app does not have: retried and shown, blocking nobody ---------
push "$(entry rec/stage b2c u-3 s-missing "$IMG")"
push "$(entry rec/stage b2c u-3 s-other "$IMG")"
wait_for 60 'test "$(app "select status from generation_sessions where id = '"'s-other'"'")" = completed'
check "another job's records are written meanwhile" eq \
  "$(app "select status from generation_sessions where id = 's-other'")" completed
check "the missing row's record waits, saying why" eq \
  "$(sql "select state || '|' || last_error from app_calls where job_id = '$(job_of s-missing)' and kind = 'record' order by id limit 1")" \
  "pending|no row of generation_sessions where id = s-missing"
check "and its job ended regardless" eq "$(status_of "$(job_of s-missing)")" succeeded
finish
