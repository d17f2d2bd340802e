/*
 * jobs.c - creating, reading and listing job rows, and worker heartbeats.
 *
 * A job row is created once (by whoever first records a claim; replays of
 * the same id change nothing) and then only moved through transitions
 * (transition.c). Reads turn the row into struct easel_job in one place,
 * store_job_from_row, so every caller sees the same conversions: times as
 * epoch milliseconds, JSON as the text jsonb prints, NULL as NULL or 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "easel/yamljson.h"
#include "store_int.h"

easel_err store_job_from_row(struct easel_store *s, const PGresult *r,
                             int row, int first, struct easel_job **out)
{
    struct easel_job *j = NULL;
    char *status = NULL, *events = NULL;
    easel_err rc = EASEL_OK;
    int c = first;

    *out = NULL;
    if (PQnfields(r) < first + STORE_JOB_NCOLS || PQgetisnull(r, row, c))
        return store_fail(s, EASEL_EDB, "job row: unexpected shape");
    j = calloc(1, sizeof(*j));
    if (!j)
        return store_fail(s, EASEL_ENOMEM, "job row: out of memory");
    if (easel_strlcpy(j->id, PQgetvalue(r, row, c++), sizeof(j->id)) >=
        sizeof(j->id)) {
        rc = store_fail(s, EASEL_EDB, "job row: id is not a uuid");
        goto out;
    }
    /* Stop at the first failure; rc says which kind. */
    if ((rc = store_col_str(r, row, c++, &j->type)) ||
        (rc = store_col_str(r, row, c++, &j->model)) ||
        (rc = store_col_str(r, row, c++, &j->result_model)) ||
        (rc = store_col_str(r, row, c++, &status)) ||
        (rc = store_col_int(r, row, c++, &j->priority)) ||
        (rc = store_col_str(r, row, c++, &j->idempotency_key)) ||
        (rc = store_col_str(r, row, c++, &j->payload)) ||
        (rc = store_col_str(r, row, c++, &j->input)) ||
        (rc = store_col_str(r, row, c++, &j->metadata)) ||
        (rc = store_col_str(r, row, c++, &j->webhook)) ||
        (rc = store_col_str(r, row, c++, &j->channel)) ||
        (rc = store_col_str(r, row, c++, &j->owner)) ||
        (rc = store_col_int(r, row, c++, &j->attempts)) ||
        (rc = store_col_int(r, row, c++, &j->max_attempts)) ||
        (rc = store_col_str(r, row, c++, &j->error_class)) ||
        (rc = store_col_str(r, row, c++, &j->error_reason)) ||
        (rc = store_col_str(r, row, c++, &j->error_message)) ||
        (rc = store_col_str(r, row, c++, &j->result)) ||
        (rc = store_col_str(r, row, c++, &j->worker)) ||
        (rc = store_col_i64(r, row, c++, &j->created_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->updated_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->dispatched_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->started_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->finished_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->heartbeat_ms)) ||
        (rc = store_col_i64(r, row, c++, &j->run_after_ms)) ||
        (rc = store_col_str(r, row, c++, &j->stage)) ||
        (rc = store_col_percent(r, row, c++, &j->percent)) ||
        (rc = store_col_str(r, row, c++, &events)) ||
        (rc = store_col_int(r, row, c++, &j->cost)) ||
        (rc = store_col_int(r, row, c++, &j->credit_budget))) {
        rc = store_fail(s, rc, "job row: column %d: %s", c - 1 - first,
                        easel_strerror(rc));
        goto out;
    }
    j->credit_external = PQgetvalue(r, row, c)[0] == 't';
    if (easel_status_parse(status, &j->status)) {
        rc = store_fail(s, EASEL_EDB, "job row: unknown status '%s'",
                        status ? status : "(null)");
        goto out;
    }
    if (events && easel_webhook_events_parse_csv(events, &j->webhook_events)) {
        rc = store_fail(s, EASEL_EDB, "job row: unknown webhook event in '%s'", events);
        goto out;
    }
    *out = j;
    j = NULL;
out:
    free(status);
    free(events);
    easel_job_free(j);
    return rc;
}

/* ---------------------------------------------------------------- progress */

easel_err easel_store_job_progress(struct easel_store *s, const char *id, const char *stage,
                                   double percent, const char *data, const char *message)
{
    char pct[32];
    PGresult *res = NULL;
    if (!s || !id || !stage)
        return store_einval(s, "job progress");
    if (percent >= 0)
        (void)easel_snprintf(pct, sizeof(pct), "%.1f", percent > 100 ? 100.0 : percent);
    const char *params[5] = {id, stage, percent >= 0 ? pct : NULL, data, message};
    /* One statement: the job's stage (only while it runs) and the event,
     * which the event-order trigger (migration 4) announces. */
    easel_err rc = store_exec(s,
                              "WITH u AS ("
                              " UPDATE jobs SET stage = $2::text, percent = $3::real,"
                              "   updated_at = now()"
                              " WHERE id = $1::uuid AND status = 'running'"
                              " RETURNING id, attempts"
                              "), ev AS ("
                              " INSERT INTO job_events (job_id, attempt, reason, message, kind, data)"
                              " SELECT id, attempts, 'Progress', $5::text, 'progress',"
                              "   jsonb_build_object('stage', $2::text, 'percent', $3::real)"
                              "     || coalesce($4::jsonb, '{}'::jsonb)"
                              " FROM u RETURNING job_id"
                              ")"
                              " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM ev)",
                              5, params, &res);
    if (rc)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rc = store_fail(s, EASEL_ECONFLICT, "job %s is not running", id);
out:
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------- insert */

/* The jobs travel as one JSON array, so a batch of any size is one
 * prepared statement and one transaction (the claimer records a claimed
 * batch at once: one commit instead of one per job). "Created" events are
 * written in the order of the lock their trigger takes (migration 4: the
 * job's owner, or the job), so two batches can never take two such locks
 * in opposite orders. */
#define INSERT_X                                                              \
    "WITH x AS ("                                                             \
    " SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, id uuid, type text," \
    "   model text, status text, priority int, idempotency_key text, payload jsonb," \
    "   input jsonb, metadata jsonb, webhook text, channel text, owner text,"  \
    "   max_attempts int, error_class text, error_reason text, error_message text," \
    "   terminal boolean, run_after bigint, events text, traceparent text, cost int," \
    "   ext boolean, budget int, record_rule text, record_key text)"           \
    ")"
#define INSERT_INS(where)                                                     \
    ", ins AS ("                                                              \
    " INSERT INTO jobs (id, type, model, status, priority, idempotency_key,"   \
    "   payload, input, metadata, webhook, channel, owner, max_attempts,"      \
    "   error_class, error_reason, error_message, finished_at, run_after,"     \
    "   webhook_events_filter, traceparent, cost, credit_external, credit_budget," \
    "   record_rule, record_key)"                                               \
    " SELECT id, type, model, status, priority, idempotency_key,"             \
    "   payload, input, metadata, webhook, channel, owner, max_attempts,"      \
    "   error_class, error_reason, error_message,"                            \
    "   CASE WHEN terminal THEN now() END,"                                   \
    "   to_timestamp(run_after / 1000.0), string_to_array(events, ','), traceparent," \
    "   coalesce(cost, 0), coalesce(ext, false),"                              \
    "   CASE WHEN ext AND status = 'queued' THEN budget ELSE 0 END,"           \
    "   record_rule, record_key"                                               \
    " FROM x " where " ORDER BY ord"                                           \
    " ON CONFLICT (id) DO NOTHING"                                            \
    " RETURNING id, status, attempts, error_message, channel, owner"           \
    "), ev AS ("                                                              \
    " INSERT INTO job_events (job_id, from_status, to_status, attempt,"       \
    "   reason, message)"                                                     \
    " SELECT id, NULL, status, attempts, $2::text, error_message FROM ins"    \
    " ORDER BY CASE WHEN owner IS NULL THEN 'easel-job:' || id::text"         \
    "   ELSE 'easel-owner:' || coalesce(channel, '') || ':' || owner END"     \
    "), n AS ("                                                               \
    " SELECT pg_notify('" STORE_CHANNEL "', id::text || ' ' || status)"       \
    " FROM ins"                                                               \
    ")"                                                                       \
    " SELECT id, (SELECT count(*) FROM n), status FROM ins"
static const char insert_sql[] = INSERT_X INSERT_INS("");
/* With jobs whose credits the app keeps (migration 10): each such queued
 * job's armed refund is deleted in the same statement, and the job is
 * recorded only if its refund was still armed and untouched. A sender that
 * took the refund first has undone the reservation, so the job must not
 * run on it: it is left out (created false, no row) and its intake asks
 * again under a new reservation number. */
static const char insert_ext_sql[] =
    INSERT_X
    ", d AS ("
    " DELETE FROM app_calls a USING x WHERE x.ext AND a.job_id = x.id"
    "  AND a.budget = x.budget AND a.kind = 'refund' AND a.state = 'armed'"
    "  AND a.attempts = 0"
    " RETURNING a.job_id"
    ")"
    INSERT_INS("WHERE NOT coalesce(x.ext, false) OR x.status <> 'queued'"
               " OR x.id IN (SELECT job_id FROM d)");

easel_err easel_store_jobs_insert(struct easel_store *s, const struct easel_job_new *jobs,
                                  size_t n, bool *created, enum easel_status *status)
{
    PGresult *res = NULL;
    easel_err rc;

    for (size_t i = 0; created && i < n; i++)
        created[i] = false;
    for (size_t i = 0; status && i < n; i++)
        status[i] = jobs ? jobs[i].status : EASEL_STATUS_QUEUED;
    if (!s || (!jobs && n))
        return store_einval(s, "job insert");
    if (n == 0)
        return EASEL_OK;
    cJSON *arr = cJSON_CreateArray();
    bool ext = false;
    for (size_t i = 0; arr && i < n; i++) {
        const struct easel_job_new *j = &jobs[i];
        if (!j->id || !j->model || !j->payload) {
            cJSON_Delete(arr);
            return store_fail(s, EASEL_EINVAL, "job insert: id, model and payload are required");
        }
        if ((unsigned)j->status >= EASEL_STATUS_COUNT || j->max_attempts < 0) {
            cJSON_Delete(arr);
            return store_fail(s, EASEL_EINVAL, "job insert: bad status or max_attempts");
        }
        char events[64];
        easel_webhook_events_csv(j->webhook_events, events, sizeof(events));
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddNumberToObject(o, "ord", (double)i);
        easel_json_add_str(o, "id", j->id);
        easel_json_add_str(o, "type", j->type);
        easel_json_add_str(o, "model", j->model);
        easel_json_add_str(o, "status", easel_status_name(j->status));
        cJSON_AddNumberToObject(o, "priority", j->priority);
        easel_json_add_str(o, "idempotency_key", j->idempotency_key);
        /* the JSON fields are JSON text already: embedded as they are */
        cJSON_AddItemToObject(o, "payload", cJSON_CreateRaw(j->payload));
        if (j->input)
            cJSON_AddItemToObject(o, "input", cJSON_CreateRaw(j->input));
        if (j->metadata)
            cJSON_AddItemToObject(o, "metadata", cJSON_CreateRaw(j->metadata));
        easel_json_add_str(o, "webhook", j->webhook);
        easel_json_add_str(o, "channel", j->channel);
        easel_json_add_str(o, "owner", j->owner);
        cJSON_AddNumberToObject(o, "max_attempts", j->max_attempts);
        easel_json_add_str(o, "error_class", j->error_class);
        easel_json_add_str(o, "error_reason", j->error_reason);
        easel_json_add_str(o, "error_message", j->error_message);
        cJSON_AddBoolToObject(o, "terminal", easel_status_terminal(j->status));
        if (j->run_after_ms > 0)
            cJSON_AddNumberToObject(o, "run_after", (double)j->run_after_ms);
        easel_json_add_str(o, "events", j->webhook_events ? events : NULL);
        easel_json_add_str(o, "traceparent", j->traceparent && *j->traceparent ? j->traceparent : NULL);
        if (j->cost > 0)
            cJSON_AddNumberToObject(o, "cost", j->cost);
        if (j->record_rule && j->record_key) {
            easel_json_add_str(o, "record_rule", j->record_rule);
            easel_json_add_str(o, "record_key", j->record_key);
        }
        if (j->credit_budget > 0) {
            cJSON_AddBoolToObject(o, "ext", true);
            cJSON_AddNumberToObject(o, "budget", j->credit_budget);
            ext = true;
        }
    }
    char *doc = arr && cJSON_GetArraySize(arr) == (int)n ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!doc)
        return store_fail(s, EASEL_ENOMEM, "job insert: out of memory");
    const char *params[2] = {doc, EASEL_EVENT_CREATED};
    rc = store_exec(s, ext ? insert_ext_sql : insert_sql, 2, params, &res);
    free(doc);
    if (rc)
        goto out;
    /* the rows made now, with the status they were born with (the credits
     * trigger may make a queued job dead); the others already existed */
    bool *seen = calloc(n, sizeof(*seen));
    if (!seen) {
        rc = store_fail(s, EASEL_ENOMEM, "job insert: out of memory (the rows are written)");
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t i = 0; i < n; i++)
            if (!seen[i] && strcasecmp(PQgetvalue(res, r, 0), jobs[i].id) == 0) {
                seen[i] = true;
                if (created)
                    created[i] = true;
                if (status)
                    easel_status_parse(PQgetvalue(res, r, 2), &status[i]);
                break;
            }
    free(seen);
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_job_insert(struct easel_store *s,
                                 const struct easel_job_new *j,
                                 bool *created)
{
    if (!j)
        return store_einval(s, "job insert");
    return easel_store_jobs_insert(s, j, 1, created, NULL);
}

/* ---------------------------------------------------------------- get, list */

easel_err easel_store_job_get(struct easel_store *s, const char *id,
                              struct easel_job **out)
{
    const char *params[1] = {id};
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (!s || !id || !out)
        return store_einval(s, "job get");
    rc = store_exec(s,
                    "SELECT " STORE_JOB_COLS("j") " FROM jobs j"
                    " WHERE j.id = $1::uuid",
                    1, params, &res);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = store_fail(s, EASEL_ENOTFOUND, "job %s not found", id);
        goto out;
    }
    rc = store_job_from_row(s, res, 0, 0, out);
out:
    PQclear(res);
    return rc;
}

void easel_store_jobs_free(struct easel_job **jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++)
        easel_job_free(jobs[i]);
    free(jobs);
}

/* The rows of a result whose first columns are STORE_JOB_COLS, as an owned
 * array (NULL when there are none), for every list-shaped query. */
static easel_err jobs_from_result(struct easel_store *s, const PGresult *res,
                                  struct easel_job ***out, size_t *n)
{
    size_t rows = (size_t)PQntuples(res), got;
    *out = NULL;
    *n = 0;
    if (rows == 0)
        return EASEL_OK;
    struct easel_job **jobs = calloc(rows, sizeof(*jobs));
    if (!jobs)
        return store_fail(s, EASEL_ENOMEM, "job list: out of memory");
    for (got = 0; got < rows; got++) {
        easel_err rc = store_job_from_row(s, res, (int)got, 0, &jobs[got]);
        if (rc) {
            easel_store_jobs_free(jobs, got);
            return rc;
        }
    }
    *out = jobs;
    *n = rows;
    return EASEL_OK;
}

/* "{id,id,...}", a uuid[] parameter; EASEL_EINVAL (what names the caller)
 * for an id that is not a UUID. */
static easel_err uuid_array(struct easel_store *s, const char *what, const char *const *ids,
                            size_t n, struct easel_buf *arr)
{
    easel_err rc = easel_buf_puts(arr, "{");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!easel_uuid_valid(ids[i]))
            return store_fail(s, EASEL_EINVAL, "%s: %s is not a uuid", what, ids[i]);
        rc = easel_buf_printf(arr, "%s%s", i ? "," : "", ids[i]);
    }
    return rc ? rc : easel_buf_puts(arr, "}");
}

easel_err easel_store_job_list(struct easel_store *s, int status, size_t limit,
                               struct easel_job ***out, size_t *n)
{
    char lim[24];
    const char *params[2];
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !out || !n || status >= (int)EASEL_STATUS_COUNT)
        return store_einval(s, "job list");
    if (limit > INT64_MAX)
        limit = INT64_MAX;
    (void)easel_snprintf(lim, sizeof(lim), "%zu", limit);
    /* A NULL LIMIT is LIMIT ALL. Two statements rather than one with
     * "$1 IS NULL OR status = $1", which would keep the planner from the
     * (status, created_at) index. */
    params[0] = limit ? lim : NULL;
    if (status < 0) {
        rc = store_exec(s,
                        "SELECT " STORE_JOB_COLS("j") " FROM jobs j"
                        " ORDER BY j.created_at DESC, j.id DESC"
                        " LIMIT $1::bigint",
                        1, params, &res);
    } else {
        params[1] = easel_status_name((enum easel_status)status);
        rc = store_exec(s,
                        "SELECT " STORE_JOB_COLS("j") " FROM jobs j"
                        " WHERE j.status = $2::text"
                        " ORDER BY j.created_at DESC, j.id DESC"
                        " LIMIT $1::bigint",
                        2, params, &res);
    }
    if (rc)
        goto out;
    rc = jobs_from_result(s, res, out, n);
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_job_query(struct easel_store *s, const struct easel_job_query *q,
                                struct easel_job ***out, size_t *n,
                                int64_t *last_created_us)
{
    char lim[24], after_ms[24], cur_us[24];
    PGresult *res = NULL;
    easel_err rc;

    *out = NULL;
    *n = 0;
    *last_created_us = 0;
    if (!s || !q || q->limit == 0 || q->limit > 1000 ||
        q->status >= (int)EASEL_STATUS_COUNT || (q->after_id && !easel_uuid_valid(q->after_id)))
        return store_einval(s, "job query");
    (void)easel_snprintf(lim, sizeof(lim), "%zu", q->limit);
    (void)easel_snprintf(after_ms, sizeof(after_ms), "%lld", (long long)q->created_after_ms);
    (void)easel_snprintf(cur_us, sizeof(cur_us), "%lld", (long long)q->after_created_us);
    const char *params[8] = {
        lim,
        q->status >= 0 ? easel_status_name((enum easel_status)q->status) : NULL,
        q->model,
        q->channel,
        q->owner,
        q->created_after_ms > 0 ? after_ms : NULL,
        q->after_id ? cur_us : NULL,
        q->after_id,
    };
    /* One statement: the filters that are off compare with NULL and fold
     * away; the order matches jobs_created_idx read backwards, or the
     * owner index when an owner is given. */
    rc = store_exec(s,
                    "SELECT " STORE_JOB_COLS("j") ","
                    " (extract(epoch FROM j.created_at) * 1000000)::bigint"
                    " FROM jobs j"
                    " WHERE ($2::text IS NULL OR j.status = $2::text)"
                    " AND ($3::text IS NULL OR j.model = $3::text)"
                    " AND ($4::text IS NULL OR j.channel = $4::text)"
                    " AND ($5::text IS NULL OR j.owner = $5::text)"
                    " AND ($6::bigint IS NULL OR j.created_at > to_timestamp($6::bigint / 1000.0))"
                    " AND ($7::bigint IS NULL OR (j.created_at, j.id) <"
                    "      (to_timestamp($7::bigint / 1000000.0), $8::uuid))"
                    " ORDER BY j.created_at DESC, j.id DESC"
                    " LIMIT $1::bigint",
                    8, params, &res);
    if (rc)
        goto out;
    rc = jobs_from_result(s, res, out, n);
    if (rc == EASEL_OK && *n &&
        easel_parse_i64(PQgetvalue(res, (int)*n - 1, STORE_JOB_NCOLS), INT64_MIN, INT64_MAX,
                        last_created_us) != EASEL_OK) {
        easel_store_jobs_free(*out, *n);
        *out = NULL;
        *n = 0;
        rc = store_fail(s, EASEL_EDB, "job query: bad created_at");
    }
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_oldest_queued(struct easel_store *s, int64_t *created_ms)
{
    PGresult *res = NULL;
    *created_ms = 0;
    if (!s)
        return store_einval(s, "oldest queued");
    /* jobs_status_created_idx answers it from the index's first entry */
    easel_err rc = store_exec(s,
                              "SELECT " STORE_MS("min(j.created_at)") " FROM jobs j"
                              " WHERE j.status = 'queued'"
                              " AND (j.run_after IS NULL OR j.run_after <= now())",
                              0, NULL, &res);
    if (rc == EASEL_OK)
        rc = store_col_i64(res, 0, 0, created_ms);
    PQclear(res);
    return rc;
}

easel_err easel_store_job_stats(struct easel_store *s, struct easel_job_stats *out)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));
    if (!s)
        return store_einval(s, "job stats");
    easel_err rc = store_exec(s,
                              "SELECT status, count(*),"
                              " coalesce(extract(epoch FROM avg(finished_at - started_at)), 0)"
                              " FROM jobs GROUP BY status",
                              0, NULL, &res);
    if (rc)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t n = 0;
        enum easel_status st;
        if (store_col_i64(res, i, 1, &n) || easel_status_parse(PQgetvalue(res, i, 0), &st))
            continue;
        out->total += n;
        int64_t *slot[] = {
            [EASEL_STATUS_QUEUED] = &out->queued,       [EASEL_STATUS_DISPATCHED] = &out->dispatched,
            [EASEL_STATUS_RUNNING] = &out->running,     [EASEL_STATUS_RETRYING] = &out->retrying,
            [EASEL_STATUS_SUCCEEDED] = &out->succeeded, [EASEL_STATUS_FAILED] = &out->failed,
            [EASEL_STATUS_DEAD] = &out->dead,           [EASEL_STATUS_CANCELED] = &out->canceled,
        };
        if ((size_t)st < sizeof(slot) / sizeof(slot[0]) && slot[st])
            *slot[st] = n;
        if (st == EASEL_STATUS_SUCCEEDED)
            (void)easel_parse_double(PQgetvalue(res, i, 2), &out->avg_run_seconds);
    }
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_jobs_active(struct easel_store *s, size_t limit,
                                  struct easel_job ***out, size_t *n)
{
    char lim[24];
    PGresult *res = NULL;
    *out = NULL;
    *n = 0;
    if (!s || limit == 0)
        return store_einval(s, "active jobs");
    (void)easel_snprintf(lim, sizeof(lim), "%zu", limit);
    const char *params[1] = {lim};
    easel_err rc = store_exec(s,
                              "SELECT " STORE_JOB_COLS("j") " FROM jobs j"
                              " WHERE j.status IN ('dispatched', 'running')"
                              " ORDER BY j.created_at, j.id LIMIT $1::bigint",
                              1, params, &res);
    if (rc)
        goto out;
    rc = jobs_from_result(s, res, out, n);
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_job_statuses(struct easel_store *s, const char *const *ids, size_t n,
                                   int *st)
{
    PGresult *res = NULL;
    struct easel_buf arr;
    easel_buf_init(&arr, 0);
    for (size_t i = 0; i < n; i++)
        st[i] = -1;
    if (!s)
        return store_einval(s, "job statuses");
    if (n == 0)
        return EASEL_OK;
    easel_err rc = uuid_array(s, "job statuses", ids, n, &arr);
    if (rc)
        goto out;
    const char *params[1] = {arr.data};
    rc = store_exec(s, "SELECT id::text, status FROM jobs WHERE id = ANY($1::uuid[])", 1,
                    params, &res);
    if (rc)
        goto out;
    for (int r = 0; r < PQntuples(res); r++) {
        enum easel_status status;
        if (easel_status_parse(PQgetvalue(res, r, 1), &status))
            continue;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(ids[i], PQgetvalue(res, r, 0)))
                st[i] = (int)status;
    }
out:
    easel_buf_cleanup(&arr);
    PQclear(res);
    return rc;
}

easel_err easel_store_job_get_many(struct easel_store *s, const char *const *ids, size_t n,
                                   struct easel_job **out)
{
    PGresult *res = NULL;
    struct easel_buf arr;
    easel_buf_init(&arr, 0);
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (!s)
        return store_einval(s, "job get many");
    easel_err rc = uuid_array(s, "job get many", ids, n, &arr);
    if (rc)
        goto out;
    const char *params[1] = {arr.data};
    rc = store_exec(s,
                    "SELECT " STORE_JOB_COLS("j") " FROM jobs j"
                    " WHERE j.id = ANY($1::uuid[])",
                    1, params, &res);
    if (rc)
        goto out;
    for (int r = 0; r < PQntuples(res) && !rc; r++) {
        struct easel_job *j = NULL;
        rc = store_job_from_row(s, res, r, 0, &j);
        if (rc)
            break;
        bool used = false;
        for (size_t i = 0; i < n && !used; i++) {
            if (!out[i] && !strcmp(ids[i], j->id)) {
                out[i] = j;
                used = true;
            }
        }
        if (!used)
            easel_job_free(j);
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            easel_job_free(out[i]);
            out[i] = NULL;
        }
out:
    easel_buf_cleanup(&arr);
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------- heartbeat */

easel_err easel_store_job_heartbeat(struct easel_store *s, const char *id)
{
    const char *params[1] = {id};
    PGresult *res = NULL;
    easel_err rc;

    if (!s || !id)
        return store_einval(s, "job heartbeat");
    /* One round trip that also tells "gone" from "no longer running", so a
     * worker learns from its heartbeat that its job was canceled. The
     * status read is the statement's snapshot; the update itself rechecks
     * the row, so a concurrent cancel is never overwritten. */
    rc = store_exec(s,
                    "WITH u AS ("
                    " UPDATE jobs SET heartbeat_at = now()"
                    " WHERE id = $1::uuid AND status = 'running' RETURNING id"
                    ")"
                    " SELECT j.status, (SELECT count(*) FROM u) FROM jobs j"
                    " WHERE j.id = $1::uuid",
                    1, params, &res);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = store_fail(s, EASEL_ENOTFOUND, "job %s not found", id);
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
        rc = store_fail(s, EASEL_ECONFLICT, "job %s is not running (status %s)", id,
                        PQgetvalue(res, 0, 0));
out:
    PQclear(res);
    return rc;
}
