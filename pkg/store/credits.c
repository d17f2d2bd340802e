/*
 * credits.c - an owner's credits: grants, and the account with its ledger.
 *
 * Reservations, consumption and refunds are not here: a trigger on jobs
 * (migration 9) makes them in the transaction that changes the job, so no
 * writer can forget one or make one twice.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

easel_err easel_store_credit_grant(struct easel_store *s, const char *owner, int64_t amount,
                                   const char *reason, const char *key, bool *granted,
                                   int64_t *key_amount)
{
    char amt[24];
    PGresult *res = NULL;

    if (granted)
        *granted = false;
    if (key_amount)
        *key_amount = amount;
    if (!s || !owner || !*owner)
        return store_einval(s, "credit grant");
    if (amount <= 0)
        return store_fail(s, EASEL_EINVAL, "credit grant: the amount must be above 0");
    (void)easel_snprintf(amt, sizeof(amt), "%" PRId64, amount);
    const char *params[4] = {owner, amt, reason, key && *key ? key : NULL};
    easel_err rc = store_exec(s, "SELECT easel_credit_grant($1::text, $2::bigint, $3::text,"
                                 " $4::text)",
                              4, params, &res);
    if (rc)
        goto out;
    bool done = PQgetvalue(res, 0, 0)[0] == 't';
    if (granted)
        *granted = done;
    if (done || !key_amount || !params[3])
        goto out;
    PQclear(res);
    res = NULL;
    const char *p2[2] = {owner, params[3]};
    rc = store_exec(s, "SELECT amount FROM credit_entries WHERE owner = $1::text"
                       " AND grant_key = $2::text",
                    2, p2, &res);
    if (rc == EASEL_OK && PQntuples(res) == 1)
        *key_amount = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
out:
    PQclear(res);
    return rc;
}

easel_err easel_store_credits_get(struct easel_store *s, const char *owner, size_t max_entries,
                                  int64_t before, struct easel_credit_account *out)
{
    char lim[24], bef[24];
    PGresult *res = NULL;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!s || !owner || !out)
        return store_einval(s, "credits get");
    const char *p1[1] = {owner};
    easel_err rc = store_exec(s, "SELECT balance, reserved FROM credit_accounts"
                                 " WHERE owner = $1::text",
                              1, p1, &res);
    if (rc)
        goto out;
    if (PQntuples(res) == 0) {
        rc = store_fail(s, EASEL_ENOTFOUND, "no credit account for %s", owner);
        goto out;
    }
    out->balance = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->reserved = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = NULL;
    if (max_entries == 0)
        goto out;
    (void)easel_snprintf(lim, sizeof(lim), "%zu", max_entries);
    (void)easel_snprintf(bef, sizeof(bef), "%" PRId64, before > 0 ? before : INT64_MAX);
    const char *p2[3] = {owner, lim, bef};
    rc = store_exec(s, "SELECT id, kind, amount, coalesce(job_id::text, ''),"
                       " coalesce(budget, 0), reason, " STORE_MS("at")
                       " FROM credit_entries WHERE owner = $1::text AND id < $3::bigint"
                       " ORDER BY id DESC LIMIT $2::bigint",
                    3, p2, &res);
    if (rc)
        goto out;
    int n = PQntuples(res);
    out->entries = calloc(n > 0 ? (size_t)n : 1, sizeof(*out->entries));
    if (!out->entries) {
        rc = store_fail(s, EASEL_ENOMEM, "credits get: out of memory");
        goto out;
    }
    for (int r = 0; r < n; r++) {
        struct easel_credit_entry *e = &out->entries[r];
        e->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        easel_strlcpy(e->kind, PQgetvalue(res, r, 1), sizeof(e->kind));
        e->amount = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        easel_strlcpy(e->job_id, PQgetvalue(res, r, 3), sizeof(e->job_id));
        e->budget = (int)strtol(PQgetvalue(res, r, 4), NULL, 10);
        e->reason = PQgetisnull(res, r, 5) ? NULL : easel_strdup(PQgetvalue(res, r, 5));
        e->at_ms = strtoll(PQgetvalue(res, r, 6), NULL, 10);
        out->nentries++;
        if (!PQgetisnull(res, r, 5) && !e->reason) {
            rc = store_fail(s, EASEL_ENOMEM, "credits get: out of memory");
            break;
        }
    }
out:
    PQclear(res);
    if (rc)
        easel_store_credit_account_cleanup(out);
    return rc;
}

void easel_store_credit_account_cleanup(struct easel_credit_account *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nentries; i++)
        free(a->entries[i].reason);
    free(a->entries);
    memset(a, 0, sizeof(*a));
}
