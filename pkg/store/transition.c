/*
 * transition.c - moving a job from one status to another, the only way a
 * job's status ever changes after it is created.
 *
 * A transition is one SQL statement, hence one round trip and one
 * transaction: it locks the row, checks the current status against the
 * allowed set, writes the new status and its side effects, appends the
 * event and queues the NOTIFY. Two writers racing to finish the same job
 * (a worker reporting success while the controller gives up on it) are
 * serialised by the row lock; the second one finds a status it may not
 * move from and gets EASEL_ECONFLICT with nothing written. That is what
 * makes replays harmless and keeps every job to one terminal state.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/*
 * prev locks the row and remembers the status it had; upd joins it so the
 * lock is taken before the update and the old status can be recorded. The
 * status check is on the updated table itself so that, under READ
 * COMMITTED, a concurrent commit makes PostgreSQL re-evaluate it against
 * the newest row version. The final SELECT tells the three outcomes apart:
 * no row (no such job), a row without upd columns (status not allowed),
 * or the job as it is now. Referencing n there is what makes pg_notify run.
 *
 * $1 id, $2 to, $3 allowed from (text[]), $4 reason, $5 message,
 * $6 count attempt, $7 reset attempts, $8 worker, $9 clear error,
 * $10-$12 error class/reason/message, $13 result, $14 result model,
 * $15 run_after (epoch ms), $16 "to" is terminal, $17 only a first,
 * due attempt of these models (text[], NULL = any job).
 */
static const char transition_sql[] =
    "WITH prev AS ("
    " SELECT id, status FROM jobs WHERE id = $1::uuid FOR UPDATE"
    "), upd AS ("
    " UPDATE jobs j SET"
    "  status = $2::text,"
    "  attempts = CASE WHEN $7::boolean THEN 0 ELSE j.attempts END"
    "           + CASE WHEN $6::boolean THEN 1 ELSE 0 END,"
    "  worker = coalesce($8::text, j.worker),"
    /* the error is one unit: given (or cleared) together, kept together */
    "  error_class = CASE WHEN $9::boolean OR $10::text IS NOT NULL"
    "    OR $11::text IS NOT NULL OR $12::text IS NOT NULL"
    "    THEN $10::text ELSE j.error_class END,"
    "  error_reason = CASE WHEN $9::boolean OR $10::text IS NOT NULL"
    "    OR $11::text IS NOT NULL OR $12::text IS NOT NULL"
    "    THEN $11::text ELSE j.error_reason END,"
    "  error_message = CASE WHEN $9::boolean OR $10::text IS NOT NULL"
    "    OR $11::text IS NOT NULL OR $12::text IS NOT NULL"
    "    THEN $12::text ELSE j.error_message END,"
    "  result = coalesce($13::jsonb, j.result),"
    "  result_model = coalesce($14::text, j.result_model),"
    "  run_after = CASE WHEN $15::bigint IS NOT NULL"
    "    THEN 'epoch'::timestamptz + $15::bigint * interval '1 millisecond'"
    "    WHEN $2::text = 'dispatched' THEN NULL ELSE j.run_after END,"
    "  dispatched_at = CASE WHEN $2::text = 'dispatched' THEN now()"
    "    ELSE j.dispatched_at END,"
    "  started_at = CASE WHEN $2::text = 'running' THEN now()"
    "    ELSE j.started_at END,"
    "  heartbeat_at = CASE WHEN $2::text = 'running' THEN now()"
    "    ELSE j.heartbeat_at END,"
    "  finished_at = CASE WHEN $16::boolean THEN now()"
    "    WHEN $2::text = 'queued' THEN NULL ELSE j.finished_at END,"
    "  stage = CASE WHEN $2::text IN ('dispatched', 'queued') THEN NULL ELSE j.stage END,"
    "  percent = CASE WHEN $2::text IN ('dispatched', 'queued') THEN NULL ELSE j.percent END,"
    "  updated_at = now()"
    " FROM prev"
    " WHERE j.id = prev.id AND j.status = ANY ($3::text[])"
    "  AND ($17::text[] IS NULL OR (j.model = ANY ($17::text[]) AND j.attempts = 0"
    "   AND (j.run_after IS NULL OR j.run_after <= now())))"
    " RETURNING j.*, prev.status AS prev_status"
    "), ev AS ("
    " INSERT INTO job_events (job_id, from_status, to_status, attempt,"
    "   reason, message)"
    " SELECT id, prev_status, status, attempts, $4::text, $5::text FROM upd"
    "), n AS ("
    " SELECT pg_notify('" STORE_CHANNEL "', id::text || ' ' || status)"
    " FROM upd"
    ")"
    " SELECT prev.status, (SELECT count(*) FROM n), " STORE_JOB_COLS("upd")
    " FROM prev LEFT JOIN upd ON true";

/* Column of the first job field in the result above. */
#define FIRST_JOB_COL 2

/* "{queued,running}" for a mask, for $3 and for messages. */
static easel_err mask_array(unsigned mask, char *dst, size_t dstlen)
{
    struct easel_buf b;
    easel_err rc;

    easel_buf_init(&b, dstlen - 1);
    rc = easel_buf_puts(&b, "{");
    for (unsigned i = 0; !rc && i < EASEL_STATUS_COUNT; i++) {
        if (!(mask & EASEL_STATUS_BIT(i)))
            continue;
        if (b.len > 1)
            rc = easel_buf_puts(&b, ",");
        if (!rc)
            rc = easel_buf_puts(&b, easel_status_name((enum easel_status)i));
    }
    if (!rc)
        rc = easel_buf_puts(&b, "}");
    if (!rc)
        easel_strlcpy(dst, b.data, dstlen);
    easel_buf_cleanup(&b);
    return rc;
}

easel_err easel_store_job_transition(struct easel_store *s, const char *id,
                                     unsigned from_mask, enum easel_status to,
                                     const struct easel_transition *t,
                                     struct easel_job **out)
{
    static const struct easel_transition none;
    char from[160], run_after[24];
    PGresult *res = NULL;
    easel_err rc;

    if (out)
        *out = NULL;
    if (!s || !id)
        return store_einval(s, "transition");
    if (!t)
        t = &none;
    if ((unsigned)to >= EASEL_STATUS_COUNT)
        return store_fail(s, EASEL_EINVAL, "transition: unknown status %d",
                          (int)to);
    /* The lifecycle rules of job.h are enforced here, at the one place
     * every status change passes through, so that no caller can move a
     * finished job to a second terminal state by passing a wide mask. */
    unsigned legal = easel_status_allowed_from(to);
    if (from_mask == 0 || (from_mask & ~legal) != 0) {
        char want[160], may[160];
        if (mask_array(from_mask, want, sizeof(want)))
            easel_strlcpy(want, "(bad mask)", sizeof(want));
        if (mask_array(legal, may, sizeof(may)))
            may[0] = '\0';
        return store_fail(s, EASEL_EINVAL,
                          "transition to %s: from %s is not a subset of %s",
                          easel_status_name(to), want, may);
    }
    rc = mask_array(from_mask, from, sizeof(from));
    if (rc)
        return store_fail(s, EASEL_EINTERNAL, "transition: mask too long");
    if (t->run_after_ms > 0)
        (void)easel_snprintf(run_after, sizeof(run_after), "%" PRId64,
                             t->run_after_ms);

    const char *params[17] = {
        id,
        easel_status_name(to),
        from,
        t->reason,
        t->message,
        t->count_attempt ? "true" : "false",
        t->reset_attempts ? "true" : "false",
        t->worker,
        t->clear_error ? "true" : "false",
        t->error_class,
        t->error_reason,
        t->error_message,
        t->result,
        t->result_model,
        t->run_after_ms > 0 ? run_after : NULL,
        easel_status_terminal(to) ? "true" : "false",
        t->only_fresh_of,
    };
    rc = store_exec(s, transition_sql, 17, params, &res);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = store_fail(s, EASEL_ENOTFOUND, "job %s not found", id);
        goto out;
    }
    if (PQgetisnull(res, 0, FIRST_JOB_COL)) {
        rc = store_fail(s, EASEL_ECONFLICT,
                        "job %s is %s; a move to %s needs one of %s%s", id,
                        PQgetvalue(res, 0, 0), easel_status_name(to), from,
                        t->only_fresh_of ? " (and a first, due attempt of a listed model)" : "");
        goto out;
    }
    if (out)
        rc = store_job_from_row(s, res, 0, FIRST_JOB_COL, out);
out:
    PQclear(res);
    return rc;
}

char *easel_store_models_array(const char *const *ids, size_t n)
{
    struct easel_buf b;
    easel_buf_init(&b, 0);
    easel_err rc = easel_buf_puts(&b, "{");
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = easel_buf_puts(&b, ",");
        if (!rc)
            rc = easel_buf_puts(&b, "\"");
        /* inside quotes only " and \ need a backslash */
        for (const char *c = ids[i]; !rc && *c; c++) {
            char e[3] = {'\\', *c, '\0'};
            rc = easel_buf_puts(&b, (*c == '"' || *c == '\\') ? e : e + 1);
        }
        if (!rc)
            rc = easel_buf_puts(&b, "\"");
    }
    if (!rc)
        rc = easel_buf_puts(&b, "}");
    if (rc) {
        easel_buf_cleanup(&b);
        return NULL;
    }
    return b.data; /* the buffer's string, now the caller's */
}
