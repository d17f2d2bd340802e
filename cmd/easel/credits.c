/*
 * credits.c - `easel credits get OWNER` and `easel credits grant OWNER
 * AMOUNT`: an owner's account and ledger (docs/credits.md), straight from
 * PostgreSQL or through a server's API (--server), printed the same way
 * from either road. An owner is CHANNEL:ID.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "easel/api.h"
#include "easel/store.h"
#include "output.h"
#include "remote.h"
#include "settings.h"

static const char *str(const cJSON *o, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v ? v : "-";
}

static long long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

void out_credits(const struct settings *s, const cJSON *doc)
{
    enum out_fmt f = out_format(s, "credits");
    if (f != OUT_TABLE) {
        out_doc(f, doc);
        return;
    }
    printf("owner     %s\nbalance   %lld\nreserved  %lld\n", str(doc, "owner"),
           num(doc, "balance"), num(doc, "reserved"));
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(doc, "entries");
    if (cJSON_GetArraySize(es) == 0)
        return;
    printf("\n%-8s  %-7s  %8s  %-36s  %-3s  %-24s  %s\n", "ENTRY", "KIND", "AMOUNT", "JOB",
           "RES", "AT", "REASON");
    const cJSON *e;
    cJSON_ArrayForEach(e, es) {
        char res[12] = "-";
        if (num(e, "reservation") > 0)
            easel_fmt_cut(res, sizeof(res), "%lld", num(e, "reservation"));
        printf("%-8lld  %-7s  %8lld  %-36s  %-3s  %-24s  %.80s\n", num(e, "id"), str(e, "kind"),
               num(e, "amount"), str(e, "job_id"), res, str(e, "at"), str(e, "reason"));
    }
}

int mode_credits(struct settings *s, char **args, int nargs)
{
    bool get = !strcmp(args[0], "get") && nargs == 2;
    bool grant = !strcmp(args[0], "grant") && nargs == 3;
    int64_t amount = 0;
    if (!get && !grant) {
        fprintf(stderr, "usage: easel credits get CHANNEL:ID [--limit N]\n"
                        "       easel credits grant CHANNEL:ID AMOUNT [--reason TEXT] "
                        "[--idempotency-key K]\n");
        return 2;
    }
    if (!easel_owner_key_valid(args[1])) {
        fprintf(stderr, "easel credits: an owner is CHANNEL:ID (b2c:u-7) of at most %d bytes, "
                        "without control characters, got \"%s\"\n",
                EASEL_OWNER_KEY_MAX, args[1]);
        return 2;
    }
    if (grant && easel_parse_i64(args[2], 1, EASEL_CREDIT_GRANT_MAX, &amount)) {
        fprintf(stderr, "easel credits: AMOUNT must be a whole number from 1 to %" PRId64
                        ", got \"%s\"\n",
                EASEL_CREDIT_GRANT_MAX, args[2]);
        return 2;
    }
    if (remote_wanted(s))
        return remote_credits(s, args[1], grant ? amount : 0);
    struct easel_store *st = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_store_open(s->database_url, &st, &err) != EASEL_OK) {
        fprintf(stderr, "easel: cannot reach the database: %s\n", err.msg);
        return 1;
    }
    int code = 0;
    bool granted = false;
    int64_t had = amount;
    const char *key = s->idempotency_key && *s->idempotency_key ? s->idempotency_key : NULL;
    easel_err rc = grant ? easel_store_credit_grant(st, args[1], amount, s->reason, key,
                                                    &granted, &had)
                         : EASEL_OK;
    if (rc) {
        fprintf(stderr, "easel credits: %s\n", easel_store_errstr(st));
        code = 1;
        goto out;
    }
    if (grant && !granted && had != amount) {
        fprintf(stderr, "error: idempotency key \"%s\" already granted %" PRId64
                        " credits to %s, not %" PRId64 "\n",
                key, had, args[1], amount);
        code = 5;
        goto out;
    }
    if (grant && !granted)
        fprintf(stderr, "easel credits: key \"%s\" was granted before; nothing changed\n", key);
    struct easel_credit_account a;
    size_t limit = grant ? 20 : (size_t)s->limit;
    rc = easel_store_credits_get(st, args[1], limit, 0, &a);
    if (rc == EASEL_ENOTFOUND) {
        memset(&a, 0, sizeof(a));
        rc = EASEL_OK;
    }
    if (rc) {
        fprintf(stderr, "easel credits: %s\n", easel_store_errstr(st));
        code = 1;
        goto out;
    }
    cJSON *doc = easel_api_credits_view(args[1], &a, limit);
    easel_store_credit_account_cleanup(&a);
    if (!doc) {
        fprintf(stderr, "easel credits: out of memory\n");
        code = 1;
        goto out;
    }
    out_credits(s, doc);
    cJSON_Delete(doc);
out:
    easel_store_free(st);
    return code;
}
