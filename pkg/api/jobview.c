/*
 * jobview.c - the job as the API shows it (docs/api.md, the Job schema of
 * docs/openapi.json), in one place: GET /v1/jobs/{id} and every list
 * answer it, and the webhook sender (pkg/webhook) puts exactly this object
 * in a delivery's data, so a receiver parses one shape.
 */
#include <stdlib.h>

#include "api_int.h"
#include "easel/client.h"
#include "easel/yamljson.h"

static void add_secs(cJSON *o, const char *key, int64_t from_ms, int64_t to_ms)
{
    if (from_ms > 0 && to_ms >= from_ms)
        cJSON_AddNumberToObject(o, key, (double)(to_ms - from_ms) / 1000.0);
    else
        cJSON_AddNullToObject(o, key);
}

/* The job as the API shows it (docs/api.md, components.schemas.Job). */
cJSON *easel_api_job_view(const char *base_url, const struct easel_job *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *input = j->input ? cJSON_Parse(j->input) : NULL;
    cJSON *result = j->result ? cJSON_Parse(j->result) : NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "status", easel_status_name(j->status));
    cJSON_AddStringToObject(o, "model", j->model ? j->model : "");
    easel_json_add_str(o, "result_model", j->result_model);
    easel_json_add_str(o, "type", j->type);
    /* the intake's fields are the input; its images are listed apart */
    cJSON *fields = cJSON_DetachItemFromObjectCaseSensitive(input, "fields");
    cJSON *images = cJSON_DetachItemFromObjectCaseSensitive(input, "images");
    cJSON_AddItemToObject(o, "input", cJSON_IsObject(fields) ? fields : cJSON_CreateNull());
    if (!cJSON_IsObject(fields))
        cJSON_Delete(fields);
    cJSON_AddItemToObject(o, "images", cJSON_IsArray(images) ? images : cJSON_CreateArray());
    if (!cJSON_IsArray(images))
        cJSON_Delete(images);
    easel_json_add_str(o, "owner", j->owner);
    easel_json_add_str(o, "channel", j->channel);
    cJSON *meta = j->metadata ? cJSON_Parse(j->metadata) : NULL;
    cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "priority", j->priority);
    easel_json_add_str(o, "idempotency_key", j->idempotency_key);
    easel_json_add_str(o, "webhook", j->webhook);
    if (j->webhook) {
        unsigned ev = j->webhook_events ? j->webhook_events : EASEL_WEBHOOK_EV_DEFAULT;
        cJSON *f = cJSON_AddArrayToObject(o, "webhook_events_filter");
        for (unsigned e = 0; e < EASEL_WEBHOOK_EV_COUNT; e++)
            if (ev & EASEL_WEBHOOK_EV_BIT(e))
                cJSON_AddItemToArray(f, cJSON_CreateString(easel_webhook_event_name(e)));
    } else {
        cJSON_AddNullToObject(o, "webhook_events_filter");
    }
    cJSON *att = cJSON_AddObjectToObject(o, "attempts");
    cJSON_AddNumberToObject(att, "count", j->attempts);
    cJSON_AddNumberToObject(att, "max", j->max_attempts);
    if (j->error_class || j->error_reason || j->error_message) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        easel_json_add_str(e, "class", j->error_class);
        easel_json_add_str(e, "reason", j->error_reason);
        easel_json_add_str(e, "message", j->error_message);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(result, "outputs");
    if (cJSON_IsArray(outs)) {
        cJSON *out = cJSON_AddObjectToObject(o, "output");
        cJSON *vs = cJSON_AddArrayToObject(out, "variants");
        for (const cJSON *v = outs->child; v; v = v->next) {
            cJSON *x = cJSON_CreateObject();
            const char *url = easel_json_str(v, "presigned_url");
            easel_json_add_str(x, "name", easel_json_str(v, "variant"));
            easel_json_add_str(x, "format", easel_json_str(v, "format"));
            static const char *const nums[] = {"width", "height", "bytes"};
            for (size_t k = 0; k < 3; k++) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, nums[k]);
                cJSON_AddNumberToObject(x, nums[k], cJSON_IsNumber(n) ? n->valuedouble : 0);
            }
            easel_json_add_str(x, "url", url ? url : easel_json_str(v, "url"));
            cJSON_AddItemToArray(vs, x);
        }
    } else {
        cJSON_AddNullToObject(o, "output");
    }
    /* where the running attempt is (docs/api.md): null when none runs */
    if (j->stage && (j->status == EASEL_STATUS_RUNNING || j->status == EASEL_STATUS_DISPATCHED)) {
        cJSON *pr = cJSON_AddObjectToObject(o, "progress");
        cJSON_AddStringToObject(pr, "stage", j->stage);
        if (j->percent >= 0)
            cJSON_AddNumberToObject(pr, "percent", j->percent);
        else
            cJSON_AddNullToObject(pr, "percent");
    } else {
        cJSON_AddNullToObject(o, "progress");
    }
    cJSON *m = cJSON_AddObjectToObject(o, "metrics");
    add_secs(m, "queue_seconds", j->created_ms, j->started_ms);
    add_secs(m, "run_seconds", j->started_ms, j->finished_ms);
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(result, "provider"), "duration_ms");
    if (cJSON_IsNumber(pd))
        cJSON_AddNumberToObject(m, "provider_seconds", pd->valuedouble / 1000.0);
    else
        cJSON_AddNullToObject(m, "provider_seconds");
    easel_json_add_time(o, "created_at", j->created_ms);
    easel_json_add_time(o, "started_at", j->started_ms);
    easel_json_add_time(o, "completed_at", easel_status_terminal(j->status) ? j->finished_ms : 0);
    easel_json_add_time(o, "run_at", j->status == EASEL_STATUS_QUEUED || j->status == EASEL_STATUS_RETRYING
                              ? j->run_after_ms : 0);
    cJSON *u = cJSON_AddObjectToObject(o, "urls");
    char *g = easel_asprintf("%s/v1/jobs/%s", base_url, j->id);
    char *c = easel_asprintf("%s/v1/jobs/%s/cancel", base_url, j->id);
    char *ev = easel_asprintf("%s/v1/jobs/%s/events", base_url, j->id);
    easel_json_add_str(u, "get", g);
    easel_json_add_str(u, "cancel", c);
    easel_json_add_str(u, "events", ev);
    free(g);
    free(c);
    free(ev);
    cJSON_Delete(input);
    cJSON_Delete(result);
    return o;
}

