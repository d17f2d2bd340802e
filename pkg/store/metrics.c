/*
 * metrics.c - the metric outbox of migration 6 and the job counts a
 * scrape reads.
 *
 * Rows are written by a trigger (attempt starts, retries, final statuses)
 * and by job mode (an attempt's figures); a controller's /metrics takes
 * them. DELETE ... RETURNING over a FOR UPDATE SKIP LOCKED selection hands
 * each row to exactly one scrape, whichever replica serves it, so the sum
 * over replicas counts everything once.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

easel_err easel_store_metric_take(struct easel_store *s, size_t max, easel_store_metric_fn fn,
                                  void *ud, size_t *n)
{
    static const char sql[] =
        "DELETE FROM metric_outbox WHERE id IN ("
        " SELECT id FROM metric_outbox ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED)"
        " RETURNING id, kind, model, data::text";
    PGresult *res = NULL;
    char lim[24];
    if (n)
        *n = 0;
    if (!s || !fn || max == 0 || max > 100000)
        return store_einval(s, "metric take");
    easel_snprintf(lim, sizeof(lim), "%zu", max);
    const char *params[] = {lim};
    easel_err rc = store_exec(s, sql, 1, params, &res);
    if (rc)
        goto out;
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        fn(ud, PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
           PQgetvalue(res, i, 3));
    if (n)
        *n = (size_t)rows;
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_metric_figures(struct easel_store *s, const char *job_id,
                                     const char *model, const char *figures)
{
    static const char sql[] =
        "INSERT INTO metric_outbox (kind, job_id, model, data)"
        " VALUES ('attempt', $1::uuid, $2::text, $3::jsonb)";
    PGresult *res = NULL;
    if (!s || !job_id || !figures)
        return store_einval(s, "metric figures");
    const char *params[] = {job_id, model, figures};
    easel_err rc = store_exec(s, sql, 3, params, &res);
    PQclear(res);
    return rc;
}

easel_err easel_store_metric_expire(struct easel_store *s, int64_t max_age_s, size_t *n)
{
    static const char sql[] =
        "DELETE FROM metric_outbox WHERE at < now() - $1::bigint * interval '1 second'";
    PGresult *res = NULL;
    char age[24];
    if (n)
        *n = 0;
    if (!s || max_age_s < 0)
        return store_einval(s, "metric expire");
    easel_snprintf(age, sizeof(age), "%lld", (long long)max_age_s);
    const char *params[] = {age};
    easel_err rc = store_exec(s, sql, 1, params, &res);
    if (!rc && n)
        *n = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

easel_err easel_store_job_counts(struct easel_store *s, int64_t counts[EASEL_STATUS_COUNT])
{
    static const char sql[] =
        "SELECT status, count(*) FROM jobs"
        " WHERE status IN ('queued', 'dispatched', 'running', 'retrying') GROUP BY status";
    PGresult *res = NULL;
    if (counts)
        memset(counts, 0, sizeof(int64_t) * EASEL_STATUS_COUNT);
    if (!s || !counts)
        return store_einval(s, "job counts");
    easel_err rc = store_exec(s, sql, 0, NULL, &res);
    if (rc)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        enum easel_status st;
        if (easel_status_parse(PQgetvalue(res, i, 0), &st) == EASEL_OK)
            counts[st] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
out:
    PQclear(res);
    return rc;
}
