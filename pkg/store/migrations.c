/*
 * migrations.c - the schema's history, one entry per version.
 *
 * This file is data only; migrate.c applies it. An entry is never edited
 * once released: databases in the field have already run it, and
 * easel_schema_migrations only records that a version was applied, not
 * what it said. To change the schema, append {N+1, "name", "SQL"} to the
 * array below; migrate.c runs each pending entry in its own transaction
 * and records it there, so a failed migration leaves nothing half done.
 *
 * The status names in the CHECK constraint are spelled out rather than
 * generated from EASEL_STATUS_MAP on purpose: a new status needs a new
 * migration that widens the constraint, and writing it as one keeps the
 * history true.
 */
#include "store_int.h"

static const char v1_jobs_and_events[] =
    "CREATE TABLE jobs ("
    " id              uuid PRIMARY KEY,"
    " type            text,"
    " model           text NOT NULL,"
    " result_model    text,"
    " status          text NOT NULL CONSTRAINT jobs_status_check CHECK"
    "   (status IN ('queued', 'dispatched', 'running', 'retrying',"
    "               'succeeded', 'failed', 'dead', 'canceled')),"
    " priority        int NOT NULL DEFAULT 0,"
    " idempotency_key text,"
    " payload         jsonb NOT NULL,"
    " input           jsonb,"
    " metadata        jsonb,"
    " webhook         text,"
    " channel         text,"
    " owner           text,"
    " attempts        int NOT NULL DEFAULT 0,"
    " max_attempts    int NOT NULL,"
    " error_class     text,"
    " error_reason    text,"
    " error_message   text,"
    " result          jsonb,"
    " worker          text,"
    " created_at      timestamptz NOT NULL DEFAULT now(),"
    " updated_at      timestamptz NOT NULL DEFAULT now(),"
    " dispatched_at   timestamptz,"
    " started_at      timestamptz,"
    " finished_at     timestamptz,"
    " heartbeat_at    timestamptz,"
    " run_after       timestamptz"
    ");"
    /* list by status, newest first; and the unfiltered list */
    "CREATE INDEX jobs_status_created_idx ON jobs (status, created_at);"
    "CREATE INDEX jobs_created_idx ON jobs (created_at);"
    "CREATE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key);"
    "CREATE TABLE job_events ("
    " seq         bigserial PRIMARY KEY,"
    " job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " at          timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " from_status text,"
    " to_status   text,"
    " attempt     int,"
    " reason      text,"
    " message     text"
    ");"
    "CREATE INDEX job_events_job_seq_idx ON job_events (job_id, seq);";

/* The API lists one owner's jobs, newest first, for owner-confined tokens
 * and `GET /v1/jobs?owner=`. */
static const char v2_owner_index[] =
    "CREATE INDEX jobs_owner_created_idx ON jobs (owner, created_at);";

/* Progress from job mode: the current stage of a running attempt on the
 * job, and typed events with a payload for the streams. A job_events row
 * without a kind is a status change, as every row was before. */
static const char v3_progress[] =
    "ALTER TABLE jobs ADD COLUMN stage text, ADD COLUMN percent real;"
    "ALTER TABLE job_events ADD COLUMN kind text, ADD COLUMN data jsonb;";

/* The streams' order. Every event row takes, before its sequence number,
 * a transaction-scoped lock on its owner ("channel:owner"), or on its job
 * when it has none, and only then draws seq. The lock is held until the
 * row commits, so among one owner's events (and so among one job's) a
 * higher seq always commits later: a reader that has seen seq N and asks
 * for "after N" can never miss a row that commits later with a lower
 * number. The row also carries its owner for GET /v1/events?owner=, and
 * every event is announced on easel_events as "<job> <seq> <owner>", so
 * the API's streams learn of each commit from any process that wrote it.
 * Every statement that writes events writes one job's, except the batch
 * insert of new jobs (pkg/store/jobs.c), which writes its "created" events
 * sorted by the lock's key: every transaction that holds several of these
 * locks took them in the same order, so none can wait on another in a
 * cycle. */
static const char v4_event_order[] =
    "ALTER TABLE job_events ADD COLUMN owner text;"
    "CREATE INDEX job_events_owner_seq_idx ON job_events (owner, seq)"
    " WHERE owner IS NOT NULL;"
    "CREATE FUNCTION easel_job_event_order() RETURNS trigger"
    " LANGUAGE plpgsql AS $$"
    " DECLARE o text;"
    " BEGIN"
    "  SELECT CASE WHEN j.owner IS NULL THEN NULL"
    "         ELSE coalesce(j.channel, '') || ':' || j.owner END"
    "    INTO o FROM jobs j WHERE j.id = NEW.job_id;"
    "  PERFORM pg_advisory_xact_lock(hashtextextended("
    "    coalesce('easel-owner:' || o, 'easel-job:' || NEW.job_id::text), 0));"
    "  NEW.owner := o;"
    "  NEW.seq := nextval(pg_get_serial_sequence('job_events', 'seq'));"
    "  PERFORM pg_notify('" STORE_EVENTS_CHANNEL "',"
    "    NEW.job_id::text || ' ' || NEW.seq::text || coalesce(' ' || o, ''));"
    "  RETURN NEW;"
    " END $$;"
    /* seq is drawn by the trigger alone, so no number is spent twice */
    "ALTER TABLE job_events ALTER COLUMN seq DROP DEFAULT;"
    "CREATE TRIGGER job_events_order BEFORE INSERT ON job_events"
    " FOR EACH ROW EXECUTE FUNCTION easel_job_event_order();"
    /* rows written before this version belong to their job's owner too */
    "UPDATE job_events e SET owner = coalesce(j.channel, '') || ':' || j.owner"
    " FROM jobs j WHERE j.id = e.job_id AND j.owner IS NOT NULL;";
/* Webhooks: each job's event filter, and the outbox. A delivery row is
 * written by a trigger on job_events, so it is committed in the same
 * transaction as the event that causes it, whoever wrote the event (the
 * store's transitions, job mode's progress, a future writer) and whatever
 * happens to any process afterwards: the senders (pkg/webhook) only read
 * the outbox. The trigger sends NOTIFY easel_webhooks so an idle sender
 * wakes at once; a notification lost changes only when, never whether. */
/* Which webhook event (PL/pgSQL variable ev) a new job_events row is:
 * start, completed, progress, output, or NULL. Migrations 5 and 8. */
#define WEBHOOK_EVENT_OF_ROW \
    "  IF NEW.kind IS NULL THEN" \
    "    IF NEW.to_status = 'running' THEN" \
    "      ev := 'start';" \
    "    ELSIF NEW.to_status IN ('succeeded', 'failed', 'dead', 'canceled') THEN" \
    "      ev := 'completed';" \
    "    END IF;" \
    "  ELSIF NEW.kind IN ('progress', 'output') THEN" \
    "    ev := NEW.kind;" \
    "  END IF;"

static const char v5_webhooks[] =
    "ALTER TABLE jobs ADD COLUMN webhook_events_filter text[];"
    "CREATE TABLE webhook_deliveries ("
    " id               bigserial PRIMARY KEY,"
    " webhook_id       text NOT NULL UNIQUE,"
    " job_id           uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " event_seq        bigint NOT NULL,"
    " event_at         timestamptz NOT NULL,"
    " type             text NOT NULL CONSTRAINT webhook_deliveries_type_check CHECK"
    "   (type IN ('job.started', 'job.progress', 'job.output', 'job.completed')),"
    " url              text NOT NULL,"
    " status           text NOT NULL DEFAULT 'pending'"
    "   CONSTRAINT webhook_deliveries_status_check CHECK"
    "   (status IN ('pending', 'delivered', 'failed', 'gone')),"
    " attempts         int NOT NULL DEFAULT 0,"
    " next_attempt_at  timestamptz NOT NULL DEFAULT now(),"
    " last_status_code int,"
    " last_error       text,"
    " body             text,"
    " created_at       timestamptz NOT NULL DEFAULT now(),"
    " updated_at       timestamptz NOT NULL DEFAULT now(),"
    " delivered_at     timestamptz"
    ");"
    /* the senders' scan: due rows only */
    "CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)"
    " WHERE status = 'pending';"
    "CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id, id);"
    "CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, id);"
    "CREATE FUNCTION easel_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$"
    "DECLARE"
    "  hook text;"
    "  filter text[];"
    "  ev text;"
    "BEGIN"
    "  SELECT webhook, webhook_events_filter INTO hook, filter"
    "    FROM jobs WHERE id = NEW.job_id;"
    "  IF hook IS NULL OR hook = '' THEN"
    "    RETURN NULL;"
    "  END IF;"
    WEBHOOK_EVENT_OF_ROW
    "  IF ev IS NULL OR NOT ev = ANY (coalesce(filter, ARRAY['completed'])) THEN"
    "    RETURN NULL;"
    "  END IF;"
    "  INSERT INTO webhook_deliveries (webhook_id, job_id, event_seq, event_at, type, url)"
    "  VALUES ('msg_' || replace(gen_random_uuid()::text, '-', ''), NEW.job_id,"
    "          NEW.seq, NEW.at,"
    "          'job.' || CASE ev WHEN 'start' THEN 'started' ELSE ev END, hook);"
    "  PERFORM pg_notify('easel_webhooks', '');"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER job_events_webhook_outbox AFTER INSERT ON job_events"
    " FOR EACH ROW EXECUTE FUNCTION easel_webhook_outbox();";

/* Metrics: what happened in any process (job mode, a pool worker, another
 * replica) reaches a controller's /metrics through this outbox. A trigger
 * on jobs writes a "status" row for each attempt start, retry and final
 * status, in the transaction that changes it; job mode adds one "attempt" row with
 * its figures (image work, provider calls, failovers). Whichever replica
 * is scraped takes rows with DELETE ... SKIP LOCKED, so across replicas
 * each row is counted once and sum() over replicas is right. */
static const char v6_metric_outbox[] =
    "CREATE TABLE metric_outbox ("
    " id     bigserial PRIMARY KEY,"
    " kind   text NOT NULL CONSTRAINT metric_outbox_kind_check CHECK"
    "   (kind IN ('status', 'attempt')),"
    " job_id uuid NOT NULL,"
    " model  text,"
    " data   jsonb NOT NULL,"
    " at     timestamptz NOT NULL DEFAULT clock_timestamp()"
    ");"
    "CREATE INDEX metric_outbox_at_idx ON metric_outbox (at);"
    "CREATE FUNCTION easel_metric_outbox() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  IF NEW.status IN ('dispatched', 'retrying', 'succeeded', 'failed', 'dead', 'canceled')"
    "     AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN"
    "    INSERT INTO metric_outbox (kind, job_id, model, data)"
    "    VALUES ('status', NEW.id, NEW.model,"
    "      jsonb_build_object('to', NEW.status, 'attempt', NEW.attempts,"
    "        'reason', NEW.error_reason,"
    "        'seconds', extract(epoch FROM clock_timestamp() - NEW.created_at)));"
    "  END IF;"
    "  RETURN NULL;"
    "END $$;"
    /* on jobs, not job_events: every writer of a status goes through this
     * row, and the row has the model and times the figures need */
    "CREATE TRIGGER jobs_metric_outbox AFTER INSERT OR UPDATE OF status ON jobs"
    " FOR EACH ROW EXECUTE FUNCTION easel_metric_outbox();";

/* The job's trace context (W3C traceparent of its intake span), so that
 * every attempt and a restarted controller's dispatch join the job's one
 * trace. NULL when the job was recorded with tracing off. */
static const char v7_trace_context[] =
    "ALTER TABLE jobs ADD COLUMN traceparent text"
    " CONSTRAINT jobs_traceparent_check CHECK (length(traceparent) <= 64);";

/* Fewer trigger calls per job, the same rows (measured: about a third of
 * Postgres's CPU per job in the warm pool's bench went to the triggers).
 *   - One BEFORE INSERT trigger on job_events does what migrations 4 and 5
 *     did in two, and names its sequence instead of looking it up: it reads the job once (owner for the order lock, webhook
 *     and filter for the outbox), takes the lock, draws seq, announces the
 *     event and writes the delivery row. The delivery is written before
 *     the event row in the same statement, so both commit together as
 *     before, and a failing event insert takes its delivery with it.
 *   - The metric outbox trigger is called only for the statuses it
 *     records: WHEN clauses are evaluated without calling PL/pgSQL, so a
 *     job's QUEUED insert and its RUNNING move cost nothing there. */
static const char v8_fewer_trigger_calls[] =
    /* the sequence is named once, here, rather than looked up in the
     * catalog by pg_get_serial_sequence() on every event (a third of the
     * trigger's time); format() puts in the name, schema-qualified */
    "DO $m$ BEGIN EXECUTE format($f$"
    "CREATE OR REPLACE FUNCTION easel_job_event_order() RETURNS trigger"
    " LANGUAGE plpgsql AS $$"
    " DECLARE o text; hook text; filter text[]; ev text;"
    " BEGIN"
    "  SELECT CASE WHEN j.owner IS NULL THEN NULL"
    "         ELSE coalesce(j.channel, '') || ':' || j.owner END,"
    "         j.webhook, j.webhook_events_filter"
    "    INTO o, hook, filter FROM jobs j WHERE j.id = NEW.job_id;"
    "  PERFORM pg_advisory_xact_lock(hashtextextended("
    "    coalesce('easel-owner:' || o, 'easel-job:' || NEW.job_id::text), 0));"
    "  NEW.owner := o;"
    "  NEW.seq := nextval(%L::regclass);"
    "  PERFORM pg_notify('" STORE_EVENTS_CHANNEL "',"
    "    NEW.job_id::text || ' ' || NEW.seq::text || coalesce(' ' || o, ''));"
    "  IF hook IS NULL OR hook = '' THEN"
    "    RETURN NEW;"
    "  END IF;"
    WEBHOOK_EVENT_OF_ROW
    "  IF ev IS NOT NULL AND ev = ANY (coalesce(filter, ARRAY['completed'])) THEN"
    "    INSERT INTO webhook_deliveries (webhook_id, job_id, event_seq, event_at, type, url)"
    "    VALUES ('msg_' || replace(gen_random_uuid()::text, '-', ''), NEW.job_id,"
    "            NEW.seq, NEW.at,"
    "            'job.' || CASE ev WHEN 'start' THEN 'started' ELSE ev END, hook);"
    "    PERFORM pg_notify('easel_webhooks', '');"
    "  END IF;"
    "  RETURN NEW;"
    " END $$"
    "$f$, pg_get_serial_sequence('job_events', 'seq')); END $m$;"
    "DROP TRIGGER job_events_webhook_outbox ON job_events;"
    "DROP FUNCTION easel_webhook_outbox();"
    "DROP TRIGGER jobs_metric_outbox ON jobs;"
    "CREATE TRIGGER jobs_metric_outbox_insert AFTER INSERT ON jobs FOR EACH ROW"
    " WHEN (NEW.status IN ('dispatched', 'retrying', 'succeeded', 'failed', 'dead', 'canceled'))"
    " EXECUTE FUNCTION easel_metric_outbox();"
    "CREATE TRIGGER jobs_metric_outbox_update AFTER UPDATE OF status ON jobs FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN"
    "  ('dispatched', 'retrying', 'succeeded', 'failed', 'dead', 'canceled'))"
    " EXECUTE FUNCTION easel_metric_outbox();";

/* Credits: a ledger per owner, kept by a trigger on jobs in the same
 * transaction as the change that causes each entry, whoever writes it.
 *   - An account per owner ("channel:id"): balance (spendable) and
 *     reserved, neither ever below 0 (CHECK).
 *   - Entries: grant, reserve, consume, release (the refund). A job's
 *     entries carry its reservation number (credit_budget: 1, then one
 *     more for each manual retry), and (job, budget, kind) is unique, so
 *     each effect happens at most once per reservation; the trigger adds
 *     an entry and moves the money in one step, only if the entry is new.
 *   - A job recorded with a cost and an owner reserves at its insert; an
 *     owner who cannot cover it gets the job born dead, reason
 *     insufficient_credits (no entry, nothing moved).
 *   - Its first move to succeeded consumes; to failed, dead or canceled
 *     releases. Automatic retries pass through retrying and queued and
 *     touch nothing.
 *   - A manual retry (failed or dead back to queued) reserves again under
 *     the next number, or is refused with SQLSTATE EA402, which the store
 *     reports as EASEL_ELIMIT, and nothing changes.
 * Grants may carry a key: a second grant with the same key for the same
 * owner is a no-op, so a client can retry one safely. */
static const char v9_credits[] =
    "CREATE TABLE credit_accounts ("
    " owner      text PRIMARY KEY,"
    " balance    bigint NOT NULL DEFAULT 0 CONSTRAINT credit_accounts_balance_check"
    "   CHECK (balance >= 0),"
    " reserved   bigint NOT NULL DEFAULT 0 CONSTRAINT credit_accounts_reserved_check"
    "   CHECK (reserved >= 0),"
    " updated_at timestamptz NOT NULL DEFAULT now()"
    ");"
    "CREATE TABLE credit_entries ("
    " id        bigserial PRIMARY KEY,"
    " owner     text NOT NULL REFERENCES credit_accounts (owner),"
    " kind      text NOT NULL CONSTRAINT credit_entries_kind_check CHECK"
    "   (kind IN ('grant', 'reserve', 'consume', 'release')),"
    " amount    bigint NOT NULL CONSTRAINT credit_entries_amount_check CHECK (amount > 0),"
    /* no foreign key: the ledger outlives a deleted job */
    " job_id    uuid,"
    " budget    int,"
    " reason    text,"
    " grant_key text,"
    " at        timestamptz NOT NULL DEFAULT now(),"
    " CONSTRAINT credit_entries_job_check CHECK"
    "   ((kind = 'grant') = (job_id IS NULL) AND (job_id IS NULL) = (budget IS NULL))"
    ");"
    "CREATE UNIQUE INDEX credit_entries_once_idx ON credit_entries (job_id, budget, kind)"
    " WHERE job_id IS NOT NULL;"
    "CREATE UNIQUE INDEX credit_entries_grant_key_idx ON credit_entries (owner, grant_key)"
    " WHERE grant_key IS NOT NULL;"
    "CREATE INDEX credit_entries_owner_idx ON credit_entries (owner, id);"
    "ALTER TABLE jobs ADD COLUMN cost int NOT NULL DEFAULT 0"
    "  CONSTRAINT jobs_cost_check CHECK (cost >= 0),"
    " ADD COLUMN credit_budget int NOT NULL DEFAULT 0;"
    /* one entry and its money, only when the entry is new: true if done */
    "CREATE FUNCTION easel_credit_move(o text, k text, j uuid, b int, amt bigint)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO credit_entries (owner, kind, amount, job_id, budget)"
    "  VALUES (o, k, amt, j, b) ON CONFLICT DO NOTHING;"
    "  IF NOT FOUND THEN RETURN false; END IF;"
    "  IF k = 'consume' THEN"
    "    UPDATE credit_accounts SET reserved = reserved - amt, updated_at = now()"
    "     WHERE owner = o;"
    "  ELSIF k = 'release' THEN"
    "    UPDATE credit_accounts SET reserved = reserved - amt, balance = balance + amt,"
    "     updated_at = now() WHERE owner = o;"
    "  END IF;"
    "  RETURN true;"
    " END $$;"
    "CREATE FUNCTION easel_credits() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE o text; have bigint;"
    " BEGIN"
    "  IF NEW.cost = 0 OR NEW.owner IS NULL THEN RETURN NEW; END IF;"
    "  o := coalesce(NEW.channel, '') || ':' || NEW.owner;"
    /* BEFORE INSERT runs before ON CONFLICT looks: a second insert of a
     * job (the claimer's, after the API's) must not reserve again */
    "  IF TG_OP = 'INSERT' THEN"
    "    PERFORM 1 FROM jobs WHERE id = NEW.id;"
    "    IF FOUND THEN RETURN NEW; END IF;"
    "  END IF;"
    "  IF TG_OP = 'INSERT' OR (OLD.status IN ('failed', 'dead') AND NEW.status = 'queued') THEN"
    "    IF TG_OP = 'INSERT' AND NEW.status <> 'queued' THEN RETURN NEW; END IF;"
    "    UPDATE credit_accounts SET balance = balance - NEW.cost,"
    "      reserved = reserved + NEW.cost, updated_at = now()"
    "     WHERE owner = o AND balance >= NEW.cost;"
    "    IF FOUND THEN"
    "      NEW.credit_budget := CASE WHEN TG_OP = 'INSERT' THEN 1"
    "                                ELSE OLD.credit_budget + 1 END;"
    "      INSERT INTO credit_entries (owner, kind, amount, job_id, budget)"
    "      VALUES (o, 'reserve', NEW.cost, NEW.id, NEW.credit_budget);"
    "      RETURN NEW;"
    "    END IF;"
    "    SELECT balance INTO have FROM credit_accounts WHERE owner = o;"
    "    IF TG_OP = 'UPDATE' THEN"
    "      RAISE EXCEPTION 'owner % cannot cover the % credits of job %: balance %',"
    "        o, NEW.cost, NEW.id, coalesce(have, 0) USING ERRCODE = 'EA402';"
    "    END IF;"
    "    NEW.status := 'dead';"
    "    NEW.error_class := 'permanent';"
    "    NEW.error_reason := 'insufficient_credits';"
    "    NEW.error_message := format('owner %s cannot cover the %s credits of model %s:"
    " balance %s', o, NEW.cost, NEW.model, coalesce(have, 0));"
    "    NEW.finished_at := now();"
    "    RETURN NEW;"
    "  END IF;"
    "  IF NEW.credit_budget = 0 OR OLD.status = NEW.status THEN RETURN NEW; END IF;"
    "  IF NEW.status = 'succeeded' THEN"
    "    PERFORM easel_credit_move(o, 'consume', NEW.id, NEW.credit_budget, NEW.cost);"
    "  ELSIF NEW.status IN ('failed', 'dead', 'canceled') THEN"
    "    PERFORM easel_credit_move(o, 'release', NEW.id, NEW.credit_budget, NEW.cost);"
    "  END IF;"
    "  RETURN NEW;"
    " END $$;"
    /* called only for a job with a cost and an owner (WHEN clauses cost
     * no PL/pgSQL call): jobs without credits pay nothing for them */
    "CREATE TRIGGER jobs_credits_insert BEFORE INSERT ON jobs FOR EACH ROW"
    " WHEN (NEW.cost > 0 AND NEW.owner IS NOT NULL)"
    " EXECUTE FUNCTION easel_credits();"
    "CREATE TRIGGER jobs_credits_update BEFORE UPDATE OF status ON jobs FOR EACH ROW"
    " WHEN (NEW.cost > 0 AND NEW.owner IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION easel_credits();"
    /* a grant: the account made if new, the entry, then the money, only if
     * the entry is new (a repeated key is a no-op); true if granted */
    "CREATE FUNCTION easel_credit_grant(o text, amt bigint, why text, k text)"
    " RETURNS boolean LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO credit_accounts (owner) VALUES (o) ON CONFLICT (owner) DO NOTHING;"
    "  INSERT INTO credit_entries (owner, kind, amount, reason, grant_key)"
    "  VALUES (o, 'grant', amt, why, k) ON CONFLICT DO NOTHING;"
    "  IF NOT FOUND THEN RETURN false; END IF;"
    "  UPDATE credit_accounts SET balance = balance + amt, updated_at = now() WHERE owner = o;"
    "  RETURN true;"
    " END $$;";

/* Credits kept by the app (registry credits.mode: external): the app's
 * own statements against its database, exactly once from easel's side.
 *   - jobs.credit_external marks such a job; the internal ledger's
 *     triggers skip it.
 *   - app_calls is the outbox of calls to the app: a job's consume or
 *     refund is written by a trigger in the transaction that ends the job
 *     (unique per job, reservation and kind), and sent by a controller
 *     until the app accepts it.
 *   - Before easel asks the app to reserve, it arms a refund of that
 *     reservation (state 'armed', due after credits.abandon_after); the
 *     statement that records the job, or requeues it on a manual retry,
 *     deletes it only while no sender has taken it, and records nothing
 *     otherwise. A crash between the app's reserve and easel's record
 *     leaves the refund armed: no reservation is ever stranded.
 * easel_app_arm picks the reservation number: an armed refund still
 * untouched is reused (the same reservation asked again after a crash),
 * otherwise one above every number the job has used. */
static const char v10_external_credits[] =
    "ALTER TABLE jobs ADD COLUMN credit_external boolean NOT NULL DEFAULT false;"
    "DROP TRIGGER jobs_credits_insert ON jobs;"
    "DROP TRIGGER jobs_credits_update ON jobs;"
    "CREATE TRIGGER jobs_credits_insert BEFORE INSERT ON jobs FOR EACH ROW"
    " WHEN (NEW.cost > 0 AND NEW.owner IS NOT NULL AND NOT NEW.credit_external)"
    " EXECUTE FUNCTION easel_credits();"
    "CREATE TRIGGER jobs_credits_update BEFORE UPDATE OF status ON jobs FOR EACH ROW"
    " WHEN (NEW.cost > 0 AND NEW.owner IS NOT NULL AND NOT NEW.credit_external"
    "  AND OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION easel_credits();"
    "CREATE TABLE app_calls ("
    " id              bigserial PRIMARY KEY,"
    " kind            text NOT NULL CONSTRAINT app_calls_kind_check CHECK"
    "   (kind IN ('consume', 'refund')),"
    /* no foreign key: a call outlives a deleted job, and an armed refund
     * exists before its job does */
    " job_id          uuid NOT NULL,"
    " budget          int NOT NULL,"
    " owner           text,"
    " channel         text,"
    " amount          bigint NOT NULL,"
    " model           text,"
    " status          text,"
    " reason          text,"
    " state           text NOT NULL DEFAULT 'pending' CONSTRAINT app_calls_state_check CHECK"
    "   (state IN ('armed', 'pending', 'done')),"
    " attempts        int NOT NULL DEFAULT 0,"
    " next_attempt_at timestamptz NOT NULL DEFAULT now(),"
    " last_error      text,"
    " created_at      timestamptz NOT NULL DEFAULT now(),"
    " done_at         timestamptz"
    ");"
    "CREATE UNIQUE INDEX app_calls_once_idx ON app_calls (job_id, budget, kind);"
    "CREATE INDEX app_calls_due_idx ON app_calls (next_attempt_at) WHERE state <> 'done';"
    "CREATE FUNCTION easel_app_credit_call() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO app_calls (kind, job_id, budget, owner, channel, amount, model, status,"
    "    reason)"
    "  VALUES (CASE WHEN NEW.status = 'succeeded' THEN 'consume' ELSE 'refund' END,"
    "    NEW.id, NEW.credit_budget, NEW.owner, NEW.channel, NEW.cost, NEW.model,"
    "    NEW.status, NEW.error_reason)"
    "  ON CONFLICT DO NOTHING;"
    "  IF FOUND THEN PERFORM pg_notify('easel_app_calls', ''); END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER jobs_app_credits AFTER UPDATE OF status ON jobs FOR EACH ROW"
    " WHEN (NEW.credit_external AND NEW.credit_budget > 0"
    "  AND OLD.status IS DISTINCT FROM NEW.status"
    "  AND NEW.status IN ('succeeded', 'failed', 'dead', 'canceled'))"
    " EXECUTE FUNCTION easel_app_credit_call();"
    "CREATE FUNCTION easel_app_arm(j uuid, retry boolean, o text, ch text, amt bigint,"
    "  m text, after_ms bigint) RETURNS int LANGUAGE plpgsql AS $$"
    " DECLARE b int; cur int := 0;"
    " BEGIN"
    "  IF retry THEN SELECT credit_budget INTO cur FROM jobs WHERE id = j; END IF;"
    "  cur := coalesce(cur, 0);"
    "  SELECT budget INTO b FROM app_calls WHERE job_id = j AND kind = 'refund'"
    "   AND state = 'armed' AND attempts = 0 AND budget > cur"
    "   ORDER BY budget DESC LIMIT 1 FOR UPDATE;"
    "  IF FOUND THEN"
    "    UPDATE app_calls SET next_attempt_at = now() + after_ms * interval '1 millisecond'"
    "     WHERE job_id = j AND budget = b AND kind = 'refund';"
    "    RETURN b;"
    "  END IF;"
    "  SELECT greatest(coalesce(max(budget), 0), cur) + 1 INTO b FROM app_calls"
    "   WHERE job_id = j;"
    "  INSERT INTO app_calls (kind, job_id, budget, owner, channel, amount, model, status,"
    "    reason, state, next_attempt_at)"
    "  VALUES ('refund', j, b, o, ch, amt, m, 'canceled', 'reservation_abandoned', 'armed',"
    "    now() + after_ms * interval '1 millisecond');"
    "  RETURN b;"
    " END $$;";

/* The app's own records (registry records): a job taken in under a record
 * rule carries the rule's name and its row's key, and every status it
 * takes (its birth included) queues a 'record' call in app_calls, in the
 * transaction that changes it, with what the call needs at that moment:
 * the status, error, reason, result and time. A sender writes them to the
 * app's table in order, one job's records one after another; a record the
 * app's table cannot take (no row with the key, after 10 tries) ends
 * 'failed' and the next goes on. Credits' calls keep their one-per-
 * reservation index; records have none (one per transition). */
static const char v11_app_records[] =
    "ALTER TABLE jobs ADD COLUMN record_rule text, ADD COLUMN record_key text;"
    "ALTER TABLE app_calls DROP CONSTRAINT app_calls_kind_check,"
    " ADD CONSTRAINT app_calls_kind_check CHECK (kind IN ('consume', 'refund', 'record')),"
    " DROP CONSTRAINT app_calls_state_check,"
    " ADD CONSTRAINT app_calls_state_check CHECK (state IN ('armed', 'pending', 'done', 'failed')),"
    " ALTER COLUMN amount DROP NOT NULL,"
    " ADD COLUMN record text,"
    " ADD COLUMN record_key text,"
    " ADD COLUMN snapshot jsonb;"
    "DROP INDEX app_calls_once_idx;"
    "CREATE UNIQUE INDEX app_calls_once_idx ON app_calls (job_id, budget, kind)"
    " WHERE kind IN ('consume', 'refund');"
    "CREATE INDEX app_calls_job_idx ON app_calls (job_id, id);"
    "DROP INDEX app_calls_due_idx;"
    "CREATE INDEX app_calls_due_idx ON app_calls (next_attempt_at)"
    " WHERE state NOT IN ('done', 'failed');"
    "CREATE FUNCTION easel_app_record() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO app_calls (kind, job_id, budget, owner, channel, model, status, reason,"
    "    record, record_key, snapshot)"
    "  VALUES ('record', NEW.id, 0, NEW.owner, NEW.channel, NEW.model, NEW.status,"
    "    NEW.error_reason, NEW.record_rule, NEW.record_key,"
    "    jsonb_build_object('error', NEW.error_message, 'result', NEW.result,"
    "      'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')));"
    "  PERFORM pg_notify('easel_app_calls', '');"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER jobs_app_record_insert AFTER INSERT ON jobs FOR EACH ROW"
    " WHEN (NEW.record_key IS NOT NULL) EXECUTE FUNCTION easel_app_record();"
    "CREATE TRIGGER jobs_app_record_update AFTER UPDATE OF status ON jobs FOR EACH ROW"
    " WHEN (NEW.record_key IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION easel_app_record();";

const struct store_migration store_migrations[] = {
    {1, "jobs and job_events", v1_jobs_and_events},
    {2, "owner index", v2_owner_index},
    {3, "progress", v3_progress},
    {4, "event order", v4_event_order},
    /* 4 is the streams' (ordering trigger, owner), on its own branch */
    {5, "webhooks", v5_webhooks},
    {6, "metric outbox", v6_metric_outbox},
    {7, "trace context", v7_trace_context},
    {8, "fewer trigger calls", v8_fewer_trigger_calls},
    {9, "credits", v9_credits},
    {10, "external credits", v10_external_credits},
    {11, "app records", v11_app_records},
};

const size_t store_migrations_count =
    sizeof(store_migrations) / sizeof(store_migrations[0]);
