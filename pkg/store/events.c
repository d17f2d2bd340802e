/*
 * events.c - the append-only history of a job.
 *
 * Status changes write their events themselves (jobs.c, transition.c) in
 * the same statement as the change, so the history can never disagree with
 * the row. This file adds the other kind, notes that change nothing
 * (typed events for the streams: logs, output, error; "fell back to model
 * X"), and reads the history back in order for `easel logs`, the API and
 * the tests. It also holds the small transaction bracket a caller uses to
 * write an event and a status change as one unit (the error event of a
 * failed attempt and the transition it causes).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

easel_err easel_store_event_add(struct easel_store *s, const char *id,
                                const char *reason, const char *message)
{
    const char *params[3] = {id, reason, message};
    PGresult *res = NULL;
    easel_err rc;

    if (!s || !id)
        return store_einval(s, "event add");
    /* Selecting from jobs both records the current attempt and, with no
     * row to select, tells a missing job apart without a second query. */
    rc = store_exec(s,
                    "INSERT INTO job_events (job_id, from_status, to_status,"
                    "  attempt, reason, message)"
                    " SELECT id, NULL, NULL, attempts, $2::text, $3::text"
                    " FROM jobs WHERE id = $1::uuid"
                    " RETURNING seq",
                    3, params, &res);
    if (rc)
        goto out;
    if (PQntuples(res) == 0)
        rc = store_fail(s, EASEL_ENOTFOUND, "job %s not found", id);
out:
    PQclear(res);
    return rc;
}

/* Appends only while the job has not finished: after its terminal status
 * the streams have said "done", and nothing may follow it. */
static const char event_sql[] =
    "WITH j AS ("
    " SELECT id, attempts, status FROM jobs WHERE id = $1::uuid FOR UPDATE"
    "), ev AS ("
    " INSERT INTO job_events (job_id, attempt, reason, message, kind, data)"
    " SELECT id, attempts, $5::text, $3::text, $2::text, $4::jsonb FROM j"
    " WHERE status NOT IN ('succeeded', 'failed', 'dead', 'canceled')"
    " RETURNING seq"
    ")"
    " SELECT (SELECT count(*) FROM j), (SELECT seq FROM ev)";

easel_err easel_store_job_event(struct easel_store *s, const char *id, const char *kind,
                                const char *message, const char *data_json, int64_t *seq)
{
    char reason[32];
    PGresult *res = NULL;
    easel_err rc;

    if (seq)
        *seq = 0;
    if (!s || !id || !kind || !*kind || strlen(kind) >= sizeof(reason))
        return store_einval(s, "job event");
    /* the reason a person reads beside the kind: "logs" -> "Logs" */
    easel_strlcpy(reason, kind, sizeof(reason));
    reason[0] = (char)toupper((unsigned char)reason[0]);
    const char *params[5] = {id, kind, message, data_json, reason};
    /* The row lock on the job, taken first in the same statement, orders
     * this event against the job's other writers (status changes and
     * progress lock the same row), so sequence order is commit order. */
    if ((rc = store_exec(s, event_sql, 5, params, &res)))
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rc = store_fail(s, EASEL_ENOTFOUND, "job %s not found", id);
    else if (PQgetisnull(res, 0, 1))
        rc = store_fail(s, EASEL_ECONFLICT, "job %s has finished: no %s event", id, kind);
    else if (seq)
        rc = store_col_i64(res, 0, 1, seq);
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_begin(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "begin");
    return store_exec_script(s, "BEGIN");
}

easel_err easel_store_commit(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "commit");
    return store_exec_script(s, "COMMIT");
}

void easel_store_rollback(struct easel_store *s)
{
    /* keeps the failure that led here in errstr: ROLLBACK's own outcome
     * adds nothing a caller could act on (a dead connection has lost the
     * transaction anyway) */
    if (!s)
        return;
    char keep[sizeof(s->errstr)];
    easel_strlcpy(keep, s->errstr, sizeof(keep));
    (void)store_exec_script(s, "ROLLBACK");
    easel_strlcpy(s->errstr, keep, sizeof(s->errstr));
}

void easel_store_events_free(struct easel_event *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].from_status);
        free(e[i].to_status);
        free(e[i].reason);
        free(e[i].message);
        free(e[i].kind);
        free(e[i].data);
    }
    free(e);
}

easel_err easel_store_events(struct easel_store *s, const char *id,
                             struct easel_event **out, size_t *n)
{
    const char *params[1] = {id};
    struct easel_event *ev = NULL;
    PGresult *res = NULL;
    size_t rows = 0;
    easel_err rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !id || !out || !n)
        return store_einval(s, "events");
    rc = store_exec(s,
                    "SELECT seq, " STORE_MS("at") ", from_status, to_status,"
                    " attempt, reason, message, kind, data::text"
                    " FROM job_events WHERE job_id = $1::uuid ORDER BY seq",
                    1, params, &res);
    if (rc)
        goto out;
    rows = (size_t)PQntuples(res);
    if (rows == 0)
        goto out;
    ev = calloc(rows, sizeof(*ev));
    if (!ev) {
        rc = store_fail(s, EASEL_ENOMEM, "events: out of memory");
        goto out;
    }
    for (size_t i = 0; i < rows; i++) {
        int r = (int)i;
        if ((rc = store_col_i64(res, r, 0, &ev[i].seq)) ||
            (rc = store_col_i64(res, r, 1, &ev[i].at_ms)) ||
            (rc = store_col_str(res, r, 2, &ev[i].from_status)) ||
            (rc = store_col_str(res, r, 3, &ev[i].to_status)) ||
            (rc = store_col_int(res, r, 4, &ev[i].attempt)) ||
            (rc = store_col_str(res, r, 5, &ev[i].reason)) ||
            (rc = store_col_str(res, r, 6, &ev[i].message)) ||
            (rc = store_col_str(res, r, 7, &ev[i].kind)) ||
            (rc = store_col_str(res, r, 8, &ev[i].data))) {
            rc = store_fail(s, rc, "events: row %zu: %s", i,
                            easel_strerror(rc));
            goto out;
        }
    }
    *out = ev;
    *n = rows;
    ev = NULL;
out:
    /* calloc'd, so rows not yet filled free as NULLs */
    easel_store_events_free(ev, rows);
    PQclear(res);
    return rc;
}
