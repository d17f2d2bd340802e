/*
 * jobjson.c - the one JSON rendering of a job, shared by `easel get`,
 * `easel list`, `submit --wait` and (later) the HTTP API, so that every
 * surface shows the same field names.
 */
#include <string.h>

#include "easel/client.h"
#include "easel/yamljson.h"

/* Embeds JSON text as a value (null when absent or unparsable). */
static void add_json(cJSON *o, const char *key, const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (v)
        cJSON_AddItemToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *easel_job_to_json(const struct easel_job *j)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    easel_json_add_str(o, "type", j->type);
    easel_json_add_str(o, "model", j->model);
    easel_json_add_str(o, "result_model", j->result_model);
    cJSON_AddStringToObject(o, "status", easel_status_name(j->status));
    cJSON_AddNumberToObject(o, "attempts", j->attempts);
    cJSON_AddNumberToObject(o, "max_attempts", j->max_attempts);
    cJSON_AddNumberToObject(o, "priority", j->priority);
    if (j->error_class || j->error_message) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        easel_json_add_str(e, "class", j->error_class);
        easel_json_add_str(e, "reason", j->error_reason);
        easel_json_add_str(e, "message", j->error_message);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    easel_json_add_str(o, "channel", j->channel);
    easel_json_add_str(o, "owner", j->owner);
    easel_json_add_str(o, "idempotency_key", j->idempotency_key);
    easel_json_add_str(o, "worker", j->worker);
    easel_json_add_time(o, "created_at", j->created_ms);
    easel_json_add_time(o, "updated_at", j->updated_ms);
    easel_json_add_time(o, "dispatched_at", j->dispatched_ms);
    easel_json_add_time(o, "started_at", j->started_ms);
    easel_json_add_time(o, "finished_at", j->finished_ms);
    easel_json_add_time(o, "run_after", j->run_after_ms);
    add_json(o, "payload", j->payload);
    add_json(o, "input", j->input);
    add_json(o, "metadata", j->metadata);
    add_json(o, "result", j->result);
    return o;
}
