/*
 * events.c - the append-only history of a job.
 *
 * Status changes write their events themselves (jobs.c, transition.c) in
 * the same statement as the change, so the history can never disagree with
 * the row. This file adds the other kind, notes that change nothing
 * (progress, "fell back to model X"), and reads the history back in order
 * for `easel logs`, the API and the tests.
 */
#include <stdlib.h>

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
