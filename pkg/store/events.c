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
        free(e[i].owner);
    }
    free(e);
}

/* The columns every event query selects, in the order rows_to_events reads
 * them; with_job adds the job and owner. */
#define EVENT_COLS                                                            \
    "seq, " STORE_MS("at") ", from_status, to_status, attempt, reason,"      \
    " message, kind, data::text, job_id, owner"

static easel_err rows_to_events(struct easel_store *s, PGresult *res, bool with_job,
                                struct easel_event **out, size_t *n)
{
    size_t rows = (size_t)PQntuples(res);
    struct easel_event *ev;
    easel_err rc = EASEL_OK;

    if (rows == 0)
        return EASEL_OK;
    ev = calloc(rows, sizeof(*ev));
    if (!ev)
        return store_fail(s, EASEL_ENOMEM, "events: out of memory");
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
            rc = store_fail(s, rc, "events: row %zu: %s", i, easel_strerror(rc));
            goto out;
        }
        if (with_job) {
            easel_strlcpy(ev[i].job_id, PQgetvalue(res, r, 9), sizeof(ev[i].job_id));
            if ((rc = store_col_str(res, r, 10, &ev[i].owner))) {
                rc = store_fail(s, rc, "events: row %zu: %s", i, easel_strerror(rc));
                goto out;
            }
        }
    }
    *out = ev;
    *n = rows;
    ev = NULL;
out:
    /* calloc'd, so rows not yet filled free as NULLs */
    easel_store_events_free(ev, rows);
    return rc;
}

easel_err easel_store_events(struct easel_store *s, const char *id,
                             struct easel_event **out, size_t *n)
{
    const char *params[1] = {id};
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !id || !out || !n)
        return store_einval(s, "events");
    rc = store_exec(s,
                    "SELECT " EVENT_COLS
                    " FROM job_events WHERE job_id = $1::uuid ORDER BY seq",
                    1, params, &res);
    if (!rc)
        rc = rows_to_events(s, res, false, out, n);
    PQclear(res);
    return rc;
}

easel_err easel_store_events_after(struct easel_store *s, const char *job_id,
                                   const char *owner, int64_t after, int limit,
                                   struct easel_event **out, size_t *n)
{
    char a[24], l[16];
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !out || !n || !!job_id == !!owner || limit <= 0)
        return store_einval(s, "events after");
    (void)easel_snprintf(a, sizeof(a), "%lld", (long long)(after > 0 ? after : 0));
    (void)easel_snprintf(l, sizeof(l), "%d", limit);
    const char *params[3] = {job_id ? job_id : owner, a, l};
    /* two statements, so each reads its own index */
    if (job_id)
        rc = store_exec(s,
                        "SELECT " EVENT_COLS " FROM job_events"
                        " WHERE job_id = $1::uuid AND seq > $2::bigint"
                        " ORDER BY seq LIMIT $3::int",
                        3, params, &res);
    else
        rc = store_exec(s,
                        "SELECT " EVENT_COLS " FROM job_events"
                        " WHERE owner = $1::text AND seq > $2::bigint"
                        " ORDER BY seq LIMIT $3::int",
                        3, params, &res);
    if (!rc)
        rc = rows_to_events(s, res, true, out, n);
    PQclear(res);
    return rc;
}

easel_err easel_store_events_by_seq(struct easel_store *s, const int64_t *seqs,
                                    size_t nseqs, struct easel_event **out,
                                    size_t *n)
{
    struct easel_buf arr;
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !out || !n || (!seqs && nseqs))
        return store_einval(s, "events by seq");
    if (nseqs == 0)
        return EASEL_OK;
    easel_buf_init(&arr, 0);
    rc = easel_buf_puts(&arr, "{");
    for (size_t i = 0; !rc && i < nseqs; i++)
        rc = easel_buf_printf(&arr, "%s%lld", i ? "," : "", (long long)seqs[i]);
    if (!rc)
        rc = easel_buf_puts(&arr, "}");
    if (rc) {
        easel_buf_cleanup(&arr);
        return store_fail(s, EASEL_ENOMEM, "events by seq: out of memory");
    }
    const char *params[1] = {arr.data};
    rc = store_exec(s,
                    "SELECT " EVENT_COLS " FROM job_events"
                    " WHERE seq = ANY ($1::bigint[]) ORDER BY seq",
                    1, params, &res);
    if (!rc)
        rc = rows_to_events(s, res, true, out, n);
    PQclear(res);
    easel_buf_cleanup(&arr);
    return rc;
}

easel_err easel_store_events_last(struct easel_store *s, const char *owner, int64_t *seq)
{
    const char *params[1] = {owner};
    PGresult *res = NULL;
    easel_err rc;

    if (!s || !owner || !seq)
        return store_einval(s, "events last");
    rc = store_exec(s,
                    "SELECT coalesce(max(seq), 0) FROM job_events WHERE owner = $1::text",
                    1, params, &res);
    if (!rc)
        rc = store_col_i64(res, 0, 0, seq);
    PQclear(res);
    return rc;
}
