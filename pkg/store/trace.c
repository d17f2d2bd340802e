/*
 * trace.c - the job's trace context in its row (migration 7).
 *
 * The context is written with the row (easel_store_job_insert) and read
 * back whenever a later step of the job starts a span in another process
 * or after a restart: the controller's dispatch, the webhook sender, an
 * attempt whose parent was not handed down. Reading it is one indexed
 * lookup, made only when tracing is on.
 */
#include <string.h>

#include "store_int.h"

easel_err easel_store_job_traceparent(struct easel_store *s, const char *id, char *out,
                                      size_t len)
{
    PGresult *res = NULL;
    const char *params[1] = {id};
    if (out && len)
        out[0] = '\0';
    if (!s || !id || !out || !len)
        return store_einval(s, "job traceparent");
    if (!easel_uuid_valid(id))
        return store_fail(s, EASEL_EINVAL, "job traceparent: not a uuid");
    easel_err rc = store_exec(s, "SELECT traceparent FROM jobs WHERE id = $1::uuid", 1, params,
                              &res);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = store_fail(s, EASEL_ENOTFOUND, "no job %s", id);
        goto out;
    }
    if (!PQgetisnull(res, 0, 0))
        easel_strlcpy(out, PQgetvalue(res, 0, 0), len);
out:
    PQclear(res);
    return rc;
}
