/*
 * view.c - a webhook delivery as JSON, the one shape the API
 * (GET /v1/webhooks) and `easel webhooks list -o json` both show.
 */
#include "easel/store.h"
#include "easel/webhook.h"

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[40];
    if (ms > 0 && easel_format_time(ms, ts, sizeof(ts)) == EASEL_OK)
        cJSON_AddStringToObject(o, key, ts);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *easel_webhook_delivery_json(const struct easel_webhook_delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "id", d->webhook_id);
    cJSON_AddStringToObject(o, "job_id", d->job_id);
    cJSON_AddNumberToObject(o, "event_seq", (double)d->event_seq);
    add_str(o, "type", d->type);
    add_str(o, "url", d->url);
    add_str(o, "status", d->status);
    cJSON_AddNumberToObject(o, "attempts", d->attempts);
    if (d->last_status_code > 0)
        cJSON_AddNumberToObject(o, "last_status_code", d->last_status_code);
    else
        cJSON_AddNullToObject(o, "last_status_code");
    add_str(o, "last_error", d->last_error);
    add_time(o, "next_attempt_at", easel_str_eq(d->status, "pending") ? d->next_attempt_ms : 0);
    add_time(o, "created_at", d->created_ms);
    add_time(o, "updated_at", d->updated_ms);
    add_time(o, "delivered_at", d->delivered_ms);
    return o;
}
