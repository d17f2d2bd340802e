/*
 * webhooks.c - /v1/webhooks: the webhook outbox as an operator or an app
 * sees it (which deliveries went out, which failed and why) and the
 * redelivery of one. Owner-confined tokens see only the deliveries of
 * their owner's jobs; anyone else's are "not found".
 */
#include <string.h>

#include "api_int.h"
#include "easel/webhook.h"

void api_webhooks_list(struct api_ctx *x, struct api_req *r)
{
    struct easel_webhook_query q = {.limit = 100};
    struct easel_webhook_delivery *d = NULL;
    size_t n = 0;
    const char *v;
    if ((v = api_arg(r, "job")) && *v) {
        if (!easel_uuid_valid(v)) {
            api_error(r, 400, "invalid_query", "job must be a job id (a UUID)");
            return;
        }
        q.job_id = v;
    }
    if ((v = api_arg(r, "status")) && *v) {
        static const char *const st[] = {"pending", "delivered", "failed", "gone"};
        for (size_t i = 0; i < 4 && !q.status; i++)
            if (!strcmp(v, st[i]))
                q.status = st[i];
        if (!q.status) {
            api_error(r, 400, "invalid_query",
                      "status must be pending, delivered, failed or gone, not \"%s\"", v);
            return;
        }
    }
    if (!api_arg_limit(r, &q.limit))
        return;
    if (r->tok && r->tok->owner) {
        q.owner = r->tok->owner;
        q.channel = r->tok->channel;
    }
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    easel_err rc = easel_store_webhook_list(s, &q, &d, &n);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, easel_webhook_delivery_json(&d[i]));
    easel_store_deliveries_free(d, n);
    api_reply_json(r, 200, o);
}

void api_webhooks_redeliver(struct api_ctx *x, struct api_req *r)
{
    const char *id = r->nparams ? r->params[0] : "";
    struct easel_webhook_delivery *d = NULL;
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    const struct api_token *t = r->tok;
    easel_err rc = easel_store_webhook_redeliver(s, id, t && t->owner ? t->owner : NULL,
                                                 t && t->owner ? t->channel : NULL, &d);
    if (rc == EASEL_ENOTFOUND) {
        api_error(r, 404, "not_found", "no webhook delivery %s", id);
        return;
    }
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    api_reply_json(r, 202, easel_webhook_delivery_json(d));
    easel_store_deliveries_free(d, 1);
}
