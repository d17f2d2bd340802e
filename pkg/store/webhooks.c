/*
 * webhooks.c - the webhook outbox: claiming due deliveries with a lease,
 * recording each attempt, and the operator's list and redelivery.
 *
 * Rows are never written here first: the trigger of migration 5 creates
 * them in the same transaction as the job event they announce, so a
 * delivery exists exactly when its event does. Several senders (one per
 * controller replica) share the table; FOR UPDATE SKIP LOCKED hands each
 * due row to one of them, and the lease (next_attempt_at pushed ahead
 * before the send) hands it to another if that one dies mid-send.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* The columns store_delivery_from_row reads, from alias d; `body` is an
 * expression so lists can leave it out. */
#define DELIVERY_COLS(body)                                                   \
    "d.id, d.webhook_id, d.job_id, d.event_seq, " STORE_MS("d.event_at") ", " \
    "d.type, d.url, d.status, d.attempts, " STORE_MS("d.next_attempt_at") ", " \
    "d.last_status_code, d.last_error, " body ", " STORE_MS("d.created_at")   \
    ", " STORE_MS("d.updated_at") ", " STORE_MS("d.delivered_at")

static void delivery_cleanup(struct easel_webhook_delivery *d)
{
    free(d->webhook_id);
    free(d->type);
    free(d->url);
    free(d->status);
    free(d->last_error);
    free(d->body);
}

void easel_store_deliveries_free(struct easel_webhook_delivery *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        delivery_cleanup(&d[i]);
    free(d);
}

static easel_err delivery_from_row(struct easel_store *s, const PGresult *r, int row,
                                   struct easel_webhook_delivery *d)
{
    easel_err rc;
    int c = 0;
    memset(d, 0, sizeof(*d));
    if (PQnfields(r) < 16)
        return store_fail(s, EASEL_EDB, "webhook delivery row: unexpected shape");
    if ((rc = store_col_i64(r, row, c++, &d->id)) ||
        (rc = store_col_str(r, row, c++, &d->webhook_id)))
        goto out;
    if (easel_strlcpy(d->job_id, PQgetvalue(r, row, c++), sizeof(d->job_id)) >=
        sizeof(d->job_id)) {
        rc = EASEL_EDB;
        goto out;
    }
    if ((rc = store_col_i64(r, row, c++, &d->event_seq)) ||
        (rc = store_col_i64(r, row, c++, &d->event_at_ms)) ||
        (rc = store_col_str(r, row, c++, &d->type)) ||
        (rc = store_col_str(r, row, c++, &d->url)) ||
        (rc = store_col_str(r, row, c++, &d->status)) ||
        (rc = store_col_int(r, row, c++, &d->attempts)) ||
        (rc = store_col_i64(r, row, c++, &d->next_attempt_ms)) ||
        (rc = store_col_int(r, row, c++, &d->last_status_code)) ||
        (rc = store_col_str(r, row, c++, &d->last_error)) ||
        (rc = store_col_str(r, row, c++, &d->body)) ||
        (rc = store_col_i64(r, row, c++, &d->created_ms)) ||
        (rc = store_col_i64(r, row, c++, &d->updated_ms)) ||
        (rc = store_col_i64(r, row, c++, &d->delivered_ms)))
        goto out;
out:
    if (rc) {
        delivery_cleanup(d);
        memset(d, 0, sizeof(*d));
        return store_fail(s, rc, "webhook delivery row: column %d: %s", c - 1,
                          easel_strerror(rc));
    }
    return EASEL_OK;
}

static easel_err deliveries_from_result(struct easel_store *s, const PGresult *res,
                                        struct easel_webhook_delivery **out, size_t *n)
{
    size_t rows = (size_t)PQntuples(res);
    *out = NULL;
    *n = 0;
    if (rows == 0)
        return EASEL_OK;
    struct easel_webhook_delivery *d = calloc(rows, sizeof(*d));
    if (!d)
        return store_fail(s, EASEL_ENOMEM, "webhook deliveries: out of memory");
    for (size_t i = 0; i < rows; i++) {
        easel_err rc = delivery_from_row(s, res, (int)i, &d[i]);
        if (rc) {
            easel_store_deliveries_free(d, i);
            return rc;
        }
    }
    *out = d;
    *n = rows;
    return EASEL_OK;
}

easel_err easel_store_webhook_listen(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "webhook listen");
    return store_exec_script(s, "LISTEN " EASEL_STORE_WEBHOOK_CHANNEL);
}

easel_err easel_store_drain_notifications(struct easel_store *s, size_t *n)
{
    PGnotify *nt;
    if (n)
        *n = 0;
    if (!s || !s->conn)
        return store_einval(s, "drain notifications");
    if (!PQconsumeInput(s->conn))
        return store_conn_fail(s);
    while ((nt = PQnotifies(s->conn)) != NULL) {
        PQfreemem(nt);
        if (n)
            (*n)++;
    }
    return EASEL_OK;
}

easel_err easel_store_webhook_claim(struct easel_store *s, size_t max, int64_t lease_ms,
                                    struct easel_webhook_delivery **out, size_t *n)
{
    char lim[24], lease[24];
    PGresult *res = NULL;
    easel_err rc;

    *out = NULL;
    *n = 0;
    if (!s || max == 0 || max > 1000 || lease_ms <= 0)
        return store_einval(s, "webhook claim");
    (void)easel_snprintf(lim, sizeof(lim), "%zu", max);
    (void)easel_snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    const char *params[2] = {lim, lease};
    rc = store_exec(s,
                    "UPDATE webhook_deliveries d"
                    " SET next_attempt_at = now() + $2::bigint * interval '1 millisecond',"
                    "   updated_at = now()"
                    " FROM (SELECT id FROM webhook_deliveries"
                    "   WHERE status = 'pending' AND next_attempt_at <= now()"
                    "   ORDER BY next_attempt_at, id LIMIT $1::bigint"
                    "   FOR UPDATE SKIP LOCKED) due"
                    " WHERE d.id = due.id"
                    " RETURNING " DELIVERY_COLS("d.body"),
                    2, params, &res);
    if (!rc)
        rc = deliveries_from_result(s, res, out, n);
    PQclear(res);
    return rc;
}

easel_err easel_store_webhook_set_body(struct easel_store *s, int64_t id, const char *body,
                                       char **kept)
{
    char idt[24];
    PGresult *res = NULL;
    easel_err rc;

    *kept = NULL;
    if (!s || !body)
        return store_einval(s, "webhook body");
    (void)easel_snprintf(idt, sizeof(idt), "%lld", (long long)id);
    const char *params[2] = {idt, body};
    rc = store_exec(s,
                    "UPDATE webhook_deliveries SET body = coalesce(body, $2::text)"
                    " WHERE id = $1::bigint RETURNING body",
                    2, params, &res);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = store_fail(s, EASEL_ENOTFOUND, "webhook delivery %lld not found", (long long)id);
        goto out;
    }
    rc = store_col_str(res, 0, 0, kept);
    if (rc)
        rc = store_fail(s, rc, "webhook body: out of memory");
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_webhook_next_due(struct easel_store *s, int64_t *ms)
{
    *ms = -1;
    if (!s)
        return store_einval(s, "webhook next due");
    /* NULL when none is pending (greatest() would make it 0) */
    return store_ms_until(s,
                          "SELECT ceil(extract(epoch from"
                          "   (min(next_attempt_at) - clock_timestamp())) * 1000)::bigint"
                          " FROM webhook_deliveries WHERE status = 'pending'",
                          ms);
}

easel_err easel_store_webhook_record(struct easel_store *s, int64_t id,
                                     const struct easel_webhook_outcome *o)
{
    char idt[24], code[16], retry[24];
    PGresult *res = NULL;
    easel_err rc;

    if (!s || !o || !o->status)
        return store_einval(s, "webhook record");
    (void)easel_snprintf(idt, sizeof(idt), "%lld", (long long)id);
    (void)easel_snprintf(code, sizeof(code), "%d", o->http_status);
    (void)easel_snprintf(retry, sizeof(retry), "%lld",
                         (long long)(o->retry_ms > 0 ? o->retry_ms : 0));
    const char *params[5] = {idt, o->status, o->http_status > 0 ? code : NULL, o->error, retry};
    rc = store_exec(s,
                    "WITH u AS ("
                    " UPDATE webhook_deliveries SET status = $2::text,"
                    "   attempts = attempts + 1, last_status_code = $3::int,"
                    "   last_error = $4::text, updated_at = now(),"
                    "   next_attempt_at = CASE WHEN $2::text = 'pending'"
                    "     THEN now() + $5::bigint * interval '1 millisecond'"
                    "     ELSE next_attempt_at END,"
                    "   delivered_at = CASE WHEN $2::text = 'delivered' THEN now()"
                    "     ELSE delivered_at END"
                    " WHERE id = $1::bigint RETURNING id, url, webhook_id"
                    "), g AS ("
                    /* 410: the endpoint asked to hear nothing more */
                    " UPDATE webhook_deliveries d SET status = 'gone', updated_at = now(),"
                    "   last_error = 'not sent: the endpoint answered 410 Gone to '"
                    "     || u.webhook_id"
                    " FROM u WHERE $2::text = 'gone' AND d.url = u.url"
                    "   AND d.status = 'pending' AND d.id <> u.id"
                    " RETURNING d.id"
                    ")"
                    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM g)",
                    5, params, &res);
    if (!rc && strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rc = store_fail(s, EASEL_ENOTFOUND, "webhook delivery %lld not found", (long long)id);
    PQclear(res);
    return rc;
}

static bool known_status(const char *st)
{
    static const char *const names[] = {"pending", "delivered", "failed", "gone"};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(st, names[i]))
            return true;
    return false;
}

easel_err easel_store_webhook_list(struct easel_store *s, const struct easel_webhook_query *q,
                                   struct easel_webhook_delivery **out, size_t *n)
{
    char lim[24];
    PGresult *res = NULL;
    easel_err rc;

    *out = NULL;
    *n = 0;
    if (!s || !q || q->limit == 0 || q->limit > 1000)
        return store_einval(s, "webhook list");
    if (q->job_id && !easel_uuid_valid(q->job_id))
        return store_fail(s, EASEL_EINVAL, "webhook list: %s is not a uuid", q->job_id);
    if (q->status && !known_status(q->status))
        return store_fail(s, EASEL_EINVAL, "webhook list: unknown status %s", q->status);
    (void)easel_snprintf(lim, sizeof(lim), "%zu", q->limit);
    const char *params[5] = {lim, q->job_id, q->status, q->owner, q->channel};
    rc = store_exec(s,
                    "SELECT " DELIVERY_COLS("NULL::text") " FROM webhook_deliveries d"
                    " JOIN jobs j ON j.id = d.job_id"
                    " WHERE ($2::uuid IS NULL OR d.job_id = $2::uuid)"
                    "   AND ($3::text IS NULL OR d.status = $3::text)"
                    "   AND ($4::text IS NULL OR (j.owner = $4::text"
                    "        AND j.channel IS NOT DISTINCT FROM $5::text))"
                    " ORDER BY d.id DESC LIMIT $1::bigint",
                    5, params, &res);
    if (!rc)
        rc = deliveries_from_result(s, res, out, n);
    PQclear(res);
    return rc;
}

easel_err easel_store_webhook_redeliver(struct easel_store *s, const char *webhook_id,
                                        const char *owner, const char *channel,
                                        struct easel_webhook_delivery **out)
{
    PGresult *res = NULL;
    struct easel_webhook_delivery *d = NULL;
    size_t n = 0;
    easel_err rc;

    if (out)
        *out = NULL;
    if (!s || !webhook_id || !*webhook_id)
        return store_einval(s, "webhook redeliver");
    const char *params[3] = {webhook_id, owner, channel};
    rc = store_exec(s,
                    "WITH u AS ("
                    " UPDATE webhook_deliveries d SET status = 'pending', attempts = 0,"
                    "   next_attempt_at = now(), updated_at = now()"
                    " FROM jobs j WHERE d.webhook_id = $1::text AND j.id = d.job_id"
                    "   AND ($2::text IS NULL OR (j.owner = $2::text"
                    "        AND j.channel IS NOT DISTINCT FROM $3::text))"
                    " RETURNING d.*"
                    "), n AS (SELECT pg_notify('" EASEL_STORE_WEBHOOK_CHANNEL "', '') FROM u)"
                    " SELECT " DELIVERY_COLS("NULL::text") " FROM u d"
                    " WHERE (SELECT count(*) FROM n) >= 0",
                    3, params, &res);
    if (rc)
        goto out;
    rc = deliveries_from_result(s, res, &d, &n);
    if (rc)
        goto out;
    if (n == 0) {
        rc = store_fail(s, EASEL_ENOTFOUND, "no webhook delivery %s", webhook_id);
        goto out;
    }
    if (out) {
        *out = d;
        d = NULL;
    }
out:
    easel_store_deliveries_free(d, n);
    PQclear(res);
    return rc;
}
