/*
 * webhooks.c - `easel webhooks list` and `easel webhooks redeliver`: the
 * webhook outbox, straight from Postgres or through a server's API
 * (--server), printed the same way from either road.
 */
#include <stdio.h>
#include <string.h>

#include "easel/store.h"
#include "easel/webhook.h"
#include "output.h"
#include "remote.h"
#include "settings.h"

static const char *str(const cJSON *o, const char *k)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v ? v : "";
}

void out_webhooks(const struct settings *s, const cJSON *doc, bool one)
{
    enum out_fmt f = out_format(s, "webhooks");
    if (f != OUT_TABLE) {
        out_doc(f, doc);
        return;
    }
    if (one) {
        printf("%s %s: %s (due again now)\n", str(doc, "id"), str(doc, "type"),
               str(doc, "status"));
        return;
    }
    printf("%-36s  %-36s  %-13s  %-9s  %-8s  %-4s  %s\n", "ID", "JOB", "TYPE", "STATUS",
           "ATTEMPTS", "HTTP", "LAST ERROR");
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(doc, "items")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(d, "last_status_code");
        char http[8] = "-";
        if (cJSON_IsNumber(code))
            easel_fmt_cut(http, sizeof(http), "%d", code->valueint);
        const cJSON *att = cJSON_GetObjectItemCaseSensitive(d, "attempts");
        printf("%-36s  %-36s  %-13s  %-9s  %-8d  %-4s  %.80s\n", str(d, "id"), str(d, "job_id"),
               str(d, "type"), str(d, "status"), cJSON_IsNumber(att) ? att->valueint : 0, http,
               str(d, "last_error"));
    }
}

int mode_webhooks(struct settings *s, char **args, int nargs)
{
    bool list = !strcmp(args[0], "list") && nargs == 1;
    bool redeliver = !strcmp(args[0], "redeliver") && nargs == 2;
    if (!list && !redeliver) {
        fprintf(stderr, "usage: easel webhooks list [--job ID] [--failed]\n"
                        "       easel webhooks redeliver ID\n");
        return 2;
    }
    if (list && s->job && *s->job && !easel_uuid_valid(s->job)) {
        fprintf(stderr, "easel webhooks: --job must be a job id (a UUID), got \"%s\"\n", s->job);
        return 2;
    }
    if (remote_wanted(s))
        return remote_webhooks(s, redeliver ? args[1] : NULL);
    struct easel_store *st = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_store_open(s->database_url, &st, &err) != EASEL_OK) {
        fprintf(stderr, "easel: cannot reach the database: %s\n", err.msg);
        return 1;
    }
    struct easel_webhook_delivery *d = NULL;
    size_t n = 0;
    easel_err rc;
    cJSON *doc = NULL;
    if (redeliver) {
        rc = easel_store_webhook_redeliver(st, args[1], NULL, NULL, &d);
        n = d ? 1 : 0;
        if (!rc)
            doc = easel_webhook_delivery_json(d);
    } else {
        struct easel_webhook_query q = {.job_id = s->job && *s->job ? s->job : NULL,
                                        .status = s->failed ? "failed" : NULL,
                                        .limit = (size_t)s->limit};
        rc = easel_store_webhook_list(st, &q, &d, &n);
        if (!rc) {
            doc = cJSON_CreateObject();
            cJSON *items = cJSON_AddArrayToObject(doc, "items");
            for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(items, easel_webhook_delivery_json(&d[i]));
        }
    }
    int code = 0;
    if (rc == EASEL_ENOTFOUND) {
        fprintf(stderr, "error: no webhook delivery %s\n", args[1]);
        code = 3;
    } else if (rc) {
        fprintf(stderr, "easel webhooks: %s\n", easel_store_errstr(st));
        code = 1;
    } else {
        out_webhooks(s, doc, redeliver);
    }
    cJSON_Delete(doc);
    easel_store_deliveries_free(d, n);
    easel_store_free(st);
    return code;
}
