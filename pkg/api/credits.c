/*
 * credits.c - /v1/credits/{owner}: an owner's account and ledger
 * (docs/credits.md), and grants. The owner is "channel:id" in the path,
 * percent-encoded or not (the router decodes it).
 *
 * An owner who was never granted anything has an empty account, not a
 * missing one: balance 0. An owner-confined token sees only its own
 * account; a grant needs the admin scope, and an Idempotency-Key makes a
 * retried grant count once.
 */
#include <inttypes.h>
#include <string.h>

#include "api_int.h"
#include "easel/yamljson.h"

#define REASON_MAX 500
#define KEY_MAX 200

/* The {owner} of the path, checked; NULL after answering. */
static const char *path_owner(struct api_req *r)
{
    const char *o = r->nparams ? r->params[0] : "";
    if (!easel_owner_key_valid(o)) {
        api_error(r, 400, "invalid_argument",
                  "an owner is CHANNEL:ID (\"b2c:u-7\", percent-encoded in a path: "
                  "b2c%%3Au-7), at most %d bytes, without control characters",
                  EASEL_OWNER_KEY_MAX);
        return NULL;
    }
    const struct api_token *t = r->tok;
    if (t && t->owner) {
        char own[EASEL_OWNER_KEY_MAX + 2];
        if (easel_owner_key(t->channel, t->owner, own, sizeof(own)) || strcmp(own, o)) {
            api_error(r, 403, "forbidden", "token \"%s\" may only see the credits of %s:%s",
                      t->name, t->channel, t->owner);
            return NULL;
        }
    }
    return o;
}

static cJSON *entry_view(const struct easel_credit_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)e->id);
    cJSON_AddStringToObject(o, "kind", e->kind);
    cJSON_AddNumberToObject(o, "amount", (double)e->amount);
    easel_json_add_str(o, "job_id", e->job_id[0] ? e->job_id : NULL);
    if (e->budget > 0)
        cJSON_AddNumberToObject(o, "reservation", e->budget);
    else
        cJSON_AddNullToObject(o, "reservation");
    easel_json_add_str(o, "reason", e->reason);
    easel_json_add_time(o, "at", e->at_ms);
    return o;
}

cJSON *easel_api_credits_view(const char *owner, const struct easel_credit_account *a,
                              size_t limit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "owner", owner);
    cJSON_AddNumberToObject(o, "balance", (double)a->balance);
    cJSON_AddNumberToObject(o, "reserved", (double)a->reserved);
    cJSON *es = cJSON_AddArrayToObject(o, "entries");
    for (size_t i = 0; i < a->nentries; i++)
        cJSON_AddItemToArray(es, entry_view(&a->entries[i]));
    /* a full page may have more behind it */
    if (a->nentries == limit && limit > 0)
        cJSON_AddNumberToObject(o, "next_before", (double)a->entries[a->nentries - 1].id);
    else
        cJSON_AddNullToObject(o, "next_before");
    /* a failed allocation anywhere above leaves a part missing: say so */
    if (!es || !cJSON_GetObjectItemCaseSensitive(o, "next_before")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Answers status with the account of owner and its newest limit entries
 * older than entry `before` (0: from the newest). */
static void reply_account(struct api_ctx *x, struct api_req *r, int status, const char *owner,
                          size_t limit, int64_t before)
{
    struct easel_credit_account a;
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    easel_err rc = easel_store_credits_get(s, owner, limit, before, &a);
    if (rc == EASEL_ENOTFOUND) {
        memset(&a, 0, sizeof(a));
        rc = EASEL_OK;
    }
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    cJSON *o = easel_api_credits_view(owner, &a, limit);
    easel_store_credit_account_cleanup(&a);
    api_reply_json(r, status, o);
}

void api_credits_get(struct api_ctx *x, struct api_req *r)
{
    size_t limit = 100;
    int64_t before = 0;
    const char *owner = path_owner(r), *v;
    if (!owner || !api_arg_limit(r, &limit))
        return;
    if ((v = api_arg(r, "before")) && *v && easel_parse_i64(v, 1, INT64_MAX, &before)) {
        api_error(r, 400, "invalid_query", "before must be an entry id (a whole number above 0)");
        return;
    }
    reply_account(x, r, 200, owner, limit, before);
}

void api_credits_grant(struct api_ctx *x, struct api_req *r)
{
    const char *owner = path_owner(r);
    if (!owner)
        return;
    const char *key = r->idempotency_key && *r->idempotency_key ? r->idempotency_key : NULL;
    if (key && strlen(key) > KEY_MAX) {
        api_error(r, 400, "invalid_argument", "an Idempotency-Key has at most %d bytes",
                  KEY_MAX);
        return;
    }
    cJSON *b = api_body_object(r);
    if (!b)
        return;
    const cJSON *amount = NULL, *reason = NULL;
    for (const cJSON *f = b->child; f; f = f->next) {
        if (!strcmp(f->string, "amount")) {
            amount = f;
        } else if (!strcmp(f->string, "reason")) {
            reason = f;
        } else {
            api_error(r, 422, "unknown_field", "unknown field \"%s\" (known: amount, reason)",
                      f->string);
            goto out;
        }
    }
    /* a whole number, exactly: 2.5 credits and 1e300 are refused */
    if (!cJSON_IsNumber(amount) || amount->valuedouble < 1 ||
        amount->valuedouble > (double)EASEL_CREDIT_GRANT_MAX ||
        amount->valuedouble != (double)(int64_t)amount->valuedouble) {
        api_error(r, 422, "invalid_field",
                  "\"amount\" must be a whole number of credits from 1 to %" PRId64,
                  EASEL_CREDIT_GRANT_MAX);
        goto out;
    }
    if (reason && !cJSON_IsNull(reason) &&
        (!cJSON_IsString(reason) || strlen(reason->valuestring) > REASON_MAX)) {
        api_error(r, 422, "invalid_field", "\"reason\" must be a string of at most %d bytes",
                  REASON_MAX);
        goto out;
    }
    int64_t amt = (int64_t)amount->valuedouble, had = 0;
    bool granted = false;
    struct easel_store *s = api_store(x, r);
    if (!s)
        goto out;
    easel_err rc = easel_store_credit_grant(s, owner, amt,
                                            cJSON_IsString(reason) ? reason->valuestring : NULL,
                                            key, &granted, &had);
    if (rc) {
        api_store_failed(x, r, rc);
        goto out;
    }
    if (!granted && had != amt) {
        api_error(r, 409, "idempotency_conflict",
                  "Idempotency-Key \"%s\" already granted %" PRId64 " credits to %s, not %" PRId64,
                  key, had, owner, amt);
        goto out;
    }
    /* 201 for a new grant; a retried one (the same key and amount) is 200 */
    reply_account(x, r, granted ? 201 : 200, owner, 20, 0);
out:
    cJSON_Delete(b);
}
