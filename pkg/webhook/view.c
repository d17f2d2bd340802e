/*
 * view.c - a webhook delivery as JSON, the one shape the API
 * (GET /v1/webhooks) and `easel webhooks list -o json` both show.
 */
#include "easel/store.h"
#include "easel/webhook.h"
#include "easel/yamljson.h"

cJSON *easel_webhook_delivery_json(const struct easel_webhook_delivery *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    easel_json_add_str(o, "id", d->webhook_id);
    cJSON_AddStringToObject(o, "job_id", d->job_id);
    cJSON_AddNumberToObject(o, "event_seq", (double)d->event_seq);
    easel_json_add_str(o, "type", d->type);
    easel_json_add_str(o, "url", d->url);
    easel_json_add_str(o, "status", d->status);
    cJSON_AddNumberToObject(o, "attempts", d->attempts);
    if (d->last_status_code > 0)
        cJSON_AddNumberToObject(o, "last_status_code", d->last_status_code);
    else
        cJSON_AddNullToObject(o, "last_status_code");
    easel_json_add_str(o, "last_error", d->last_error);
    easel_json_add_time(o, "next_attempt_at", easel_str_eq(d->status, "pending") ? d->next_attempt_ms : 0);
    easel_json_add_time(o, "created_at", d->created_ms);
    easel_json_add_time(o, "updated_at", d->updated_ms);
    easel_json_add_time(o, "delivered_at", d->delivered_ms);
    return o;
}
