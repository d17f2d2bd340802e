/*
 * appcalls.c - credits the app keeps (migration 10): the outbox of calls to
 * the app's database (app_calls), the armed refund that guards a
 * reservation, and the app's own statements run on a store opened on the
 * app's database.
 *
 * The protocol (docs/credits.md#external): arm a refund of the reservation
 * (easel_store_app_arm), ask the app to reserve, then record the job or
 * requeue it in a statement that disarms the refund only while it is
 * untouched (easel_store_jobs_insert, easel_store_app_requeue). A crash in
 * between leaves the refund armed; a sender fires it after abandon_after.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

easel_err easel_store_app_arm(struct easel_store *s, const struct easel_app_job *j,
                              bool retry, int64_t after_ms, int *budget)
{
    char amt[24], after[24];
    PGresult *res = NULL;

    *budget = 0;
    if (!s || !j || !j->job_id || after_ms <= 0)
        return store_einval(s, "app arm");
    (void)easel_snprintf(amt, sizeof(amt), "%" PRId64, j->amount);
    (void)easel_snprintf(after, sizeof(after), "%" PRId64, after_ms);
    const char *params[7] = {j->job_id, retry ? "true" : "false", j->owner, j->channel,
                             amt, j->model, after};
    easel_err rc = store_exec(s, "SELECT easel_app_arm($1::uuid, $2::boolean, $3::text,"
                                 " $4::text, $5::bigint, $6::text, $7::bigint)",
                              7, params, &res);
    if (!rc)
        rc = store_col_int(res, 0, 0, budget);
    PQclear(res);
    return rc;
}

easel_err easel_store_app_unarm(struct easel_store *s, const char *job_id, int budget)
{
    char b[16];
    PGresult *res = NULL;
    if (!s || !job_id || budget <= 0)
        return store_einval(s, "app unarm");
    (void)easel_snprintf(b, sizeof(b), "%d", budget);
    const char *params[2] = {job_id, b};
    easel_err rc = store_exec(s, "DELETE FROM app_calls WHERE job_id = $1::uuid"
                                 " AND budget = $2::int AND kind = 'refund'"
                                 " AND state = 'armed' AND attempts = 0",
                              2, params, &res);
    PQclear(res);
    return rc;
}

easel_err easel_store_job_exists(struct easel_store *s, const char *id, bool *exists)
{
    PGresult *res = NULL;
    *exists = false;
    if (!s || !id)
        return store_einval(s, "job exists");
    const char *params[1] = {id};
    easel_err rc = store_exec(s, "SELECT 1 FROM jobs WHERE id = $1::uuid", 1, params, &res);
    if (!rc)
        *exists = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

easel_err easel_store_app_requeue(struct easel_store *s, const char *id, int budget,
                                  const struct easel_transition *t, struct easel_job **out)
{
    char b[16];
    PGresult *res = NULL;
    if (out)
        *out = NULL;
    if (!s || !id || budget <= 0)
        return store_einval(s, "app requeue");
    (void)easel_snprintf(b, sizeof(b), "%d", budget);
    const char *params[2] = {id, b};
    easel_err rc = store_exec_script(s, "BEGIN");
    if (rc)
        return rc;
    /* the refund first: if a sender took it, the reservation is undone */
    rc = store_exec(s, "DELETE FROM app_calls WHERE job_id = $1::uuid"
                       " AND budget = $2::int AND kind = 'refund'"
                       " AND state = 'armed' AND attempts = 0",
                    2, params, &res);
    if (rc)
        goto fail;
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        rc = store_fail(s, EASEL_EAGAIN, "job %s: reservation %d was undone before the retry "
                        "was recorded (its refund was sent); try again", id, budget);
        goto fail;
    }
    PQclear(res);
    res = NULL;
    rc = easel_store_job_transition(s, id,
                                    EASEL_STATUS_BIT(EASEL_STATUS_FAILED) |
                                        EASEL_STATUS_BIT(EASEL_STATUS_DEAD),
                                    EASEL_STATUS_QUEUED, t, out);
    if (rc)
        goto fail;
    rc = store_exec(s, "UPDATE jobs SET credit_budget = $2::int WHERE id = $1::uuid", 2,
                    params, &res);
    if (rc)
        goto fail;
    PQclear(res);
    rc = store_exec_script(s, "COMMIT");
    if (rc == EASEL_OK && out && *out)
        (*out)->credit_budget = budget;
    if (rc && out) {
        easel_job_free(*out);
        *out = NULL;
    }
    return rc;
fail:
    PQclear(res);
    if (out) {
        easel_job_free(*out);
        *out = NULL;
    }
    /* keep the failure's message: a rollback's own is not the news */
    char keep[sizeof(s->errstr)];
    easel_strlcpy(keep, s->errstr, sizeof(keep));
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        (void)store_exec_script(s, "ROLLBACK");
    easel_strlcpy(s->errstr, keep, sizeof(s->errstr));
    return rc;
}

/* ------------------------------------------------------------ the outbox */

#define CALL_COLS                                                             \
    "c.id, c.kind, c.job_id::text, c.budget, c.owner, c.channel, coalesce(c.amount, 0), " \
    "c.model, c.status, c.reason, c.attempts, c.record, c.record_key, c.snapshot::text"

void easel_store_app_calls_free(struct easel_app_call *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].j.owner);
        free(c[i].j.channel);
        free(c[i].j.model);
        free(c[i].j.status);
        free(c[i].j.reason);
        free(c[i].record);
        free(c[i].record_key);
        free(c[i].snapshot);
    }
    free(c);
}

easel_err easel_store_app_claim(struct easel_store *s, size_t max, int64_t lease_ms,
                                struct easel_app_call **out, size_t *n)
{
    char lim[24], lease[24];
    PGresult *res = NULL;
    *out = NULL;
    *n = 0;
    if (!s || max == 0 || max > 1000 || lease_ms <= 0)
        return store_einval(s, "app claim");
    (void)easel_snprintf(lim, sizeof(lim), "%zu", max);
    (void)easel_snprintf(lease, sizeof(lease), "%" PRId64, lease_ms);
    const char *params[2] = {lim, lease};
    /* taking an armed refund fires it: from here no record may disarm it */
    easel_err rc = store_exec(s,
                              "UPDATE app_calls c SET state = 'pending',"
                              "  attempts = c.attempts + 1,"
                              "  next_attempt_at = now() + $2::bigint * interval '1 millisecond'"
                              " FROM (SELECT id FROM app_calls a"
                              "   WHERE state NOT IN ('done', 'failed')"
                              "   AND next_attempt_at <= now()"
                              /* a job's records in order: none while an
                               * earlier one is unfinished */
                              "   AND (kind <> 'record' OR NOT EXISTS (SELECT 1 FROM app_calls p"
                              "    WHERE p.job_id = a.job_id AND p.kind = 'record'"
                              "    AND p.state NOT IN ('done', 'failed') AND p.id < a.id))"
                              "   ORDER BY next_attempt_at, id LIMIT $1::bigint"
                              "   FOR UPDATE SKIP LOCKED) due"
                              " WHERE c.id = due.id"
                              " RETURNING " CALL_COLS,
                              2, params, &res);
    if (rc)
        goto out;
    int rows = PQntuples(res);
    if (rows == 0)
        goto out;
    struct easel_app_call *c = calloc((size_t)rows, sizeof(*c));
    if (!c) {
        rc = store_fail(s, EASEL_ENOMEM, "app claim: out of memory");
        goto out;
    }
    for (int r = 0; r < rows && !rc; r++) {
        struct easel_app_call *k = &c[r];
        char *job = NULL;
        rc = store_col_i64(res, r, 0, &k->id);
        easel_strlcpy(k->kind, PQgetvalue(res, r, 1), sizeof(k->kind));
        if (!rc && !(rc = store_col_str(res, r, 2, &job)))
            easel_strlcpy(k->job_id, job ? job : "", sizeof(k->job_id));
        free(job);
        if (!rc)
            rc = store_col_int(res, r, 3, &k->j.budget);
        if (!rc)
            rc = store_col_str(res, r, 4, &k->j.owner);
        if (!rc)
            rc = store_col_str(res, r, 5, &k->j.channel);
        if (!rc)
            rc = store_col_i64(res, r, 6, &k->j.amount);
        if (!rc)
            rc = store_col_str(res, r, 7, &k->j.model);
        if (!rc)
            rc = store_col_str(res, r, 8, &k->j.status);
        if (!rc)
            rc = store_col_str(res, r, 9, &k->j.reason);
        if (!rc)
            rc = store_col_int(res, r, 10, &k->attempts);
        if (!rc)
            rc = store_col_str(res, r, 11, &k->record);
        if (!rc)
            rc = store_col_str(res, r, 12, &k->record_key);
        if (!rc)
            rc = store_col_str(res, r, 13, &k->snapshot);
        k->j.job_id = k->job_id;
        *n = (size_t)r + 1;
    }
    if (rc) {
        easel_store_app_calls_free(c, *n);
        *n = 0;
        rc = store_fail(s, rc, "app claim: a row could not be read");
        goto out;
    }
    *out = c;
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_app_call_done(struct easel_store *s, int64_t id, const char *error,
                                    int64_t retry_ms)
{
    return easel_store_app_call_end(s, id, error, retry_ms, false);
}

easel_err easel_store_app_call_end(struct easel_store *s, int64_t id, const char *error,
                                   int64_t retry_ms, bool give_up)
{
    char idt[24], ms[24];
    PGresult *res = NULL;
    if (!s)
        return store_einval(s, "app call done");
    (void)easel_snprintf(idt, sizeof(idt), "%" PRId64, id);
    (void)easel_snprintf(ms, sizeof(ms), "%" PRId64, retry_ms > 0 ? retry_ms : 0);
    const char *params[4] = {idt, error, ms, give_up ? "true" : "false"};
    easel_err rc = store_exec(
        s,
        "UPDATE app_calls SET"
        "  state = CASE WHEN $2::text IS NULL THEN 'done'"
        "    WHEN $4::boolean THEN 'failed' ELSE 'pending' END,"
        "  done_at = CASE WHEN $2::text IS NULL OR $4::boolean THEN now() END,"
        "  last_error = $2::text,"
        "  next_attempt_at = CASE WHEN $2::text IS NULL THEN next_attempt_at"
        "    ELSE now() + $3::bigint * interval '1 millisecond' END"
        " WHERE id = $1::bigint",
        4, params, &res);
    PQclear(res);
    return rc;
}

easel_err easel_store_app_next_due(struct easel_store *s, int64_t *ms)
{
    *ms = -1;
    if (!s)
        return store_einval(s, "app next due");
    return store_ms_until(s,
                          "SELECT ceil(extract(epoch from"
                          "   (min(next_attempt_at) - clock_timestamp())) * 1000)::bigint"
                          " FROM app_calls WHERE state NOT IN ('done', 'failed')",
                          ms);
}

easel_err easel_store_app_listen(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "app listen");
    return store_exec_script(s, "LISTEN " EASEL_STORE_APP_CHANNEL);
}

/* ------------------------------------------------- the app's own database */

easel_err easel_store_app_exec(struct easel_store *app, const char *sql, int nparams,
                               const char *const *params, int *truth)
{
    if (truth)
        *truth = -1;
    if (!app || !sql || nparams < 0)
        return store_einval(app, "app statement");
    app->errstr[0] = '\0';
    /* unnamed: the registry's statements change with a reload */
    PGresult *res = PQexecParams(app->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        easel_err rc = store_result_fail(app, res);
        PQclear(res);
        return rc;
    }
    if (truth && st == PGRES_COMMAND_OK) /* an UPDATE: the rows it changed */
        *truth = (int)strtol(PQcmdTuples(res), NULL, 10);
    else if (truth)
        *truth = st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0 &&
                 !PQgetisnull(res, 0, 0) && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return EASEL_OK;
}

easel_err easel_store_app_describe(struct easel_store *app, const char *sql, int *nparams,
                                   int *nfields, unsigned *first_type)
{
    *nparams = *nfields = 0;
    *first_type = 0;
    if (!app || !sql)
        return store_einval(app, "app describe");
    app->errstr[0] = '\0';
    PGresult *res = PQprepare(app->conn, "", sql, 0, NULL);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        easel_err rc = store_result_fail(app, res);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    res = PQdescribePrepared(app->conn, "");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        easel_err rc = store_result_fail(app, res);
        PQclear(res);
        return rc;
    }
    *nparams = PQnparams(res);
    *nfields = PQnfields(res);
    *first_type = *nfields > 0 ? (unsigned)PQftype(res, 0) : 0;
    PQclear(res);
    return EASEL_OK;
}

easel_err easel_store_app_columns(struct easel_store *app, const char *schema, const char *table,
                                  char ***cols, size_t *n)
{
    PGresult *res = NULL;
    *cols = NULL;
    *n = 0;
    if (!app || !table)
        return store_einval(app, "app columns");
    const char *params[2] = {schema, table};
    easel_err rc = store_exec(app,
                              "SELECT column_name::text FROM information_schema.columns"
                              " WHERE table_schema = coalesce($1::text, current_schema())"
                              " AND table_name = $2::text ORDER BY ordinal_position",
                              2, params, &res);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    if (rows > 0) {
        *cols = calloc((size_t)rows, sizeof(**cols));
        if (!*cols) {
            PQclear(res);
            return store_fail(app, EASEL_ENOMEM, "app columns: out of memory");
        }
        for (int r = 0; r < rows; r++)
            if (((*cols)[(*n)++] = easel_strdup(PQgetvalue(res, r, 0))) == NULL) {
                PQclear(res);
                return store_fail(app, EASEL_ENOMEM, "app columns: out of memory");
            }
    }
    PQclear(res);
    return EASEL_OK;
}
