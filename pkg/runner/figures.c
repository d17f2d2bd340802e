/*
 * figures.c - what one attempt measured, for the controller's /metrics.
 *
 * A job process lives for one attempt and a pod for less than a scrape
 * interval, so nothing here is exported by the worker: the figures are
 * gathered in the attempt's JSON object and written once, at the end, as
 * an "attempt" row of the metric outbox (migration 6), which the next
 * scrape of any controller replica takes and counts. Losing them (the
 * database is down at the end) loses only figures, never the job; the
 * write is therefore best effort and logged.
 */
#include <stdlib.h>

#include "runner_int.h"

#define TOOL "libvips"

/* The array named key of the attempt's figures, created on first use. */
static cJSON *list(struct attempt *a, const char *key)
{
    if (!a->figures && !(a->figures = cJSON_CreateObject()))
        return NULL;
    cJSON *l = cJSON_GetObjectItemCaseSensitive(a->figures, key);
    return l ? l : cJSON_AddArrayToObject(a->figures, key);
}

static cJSON *item(struct attempt *a, const char *key)
{
    cJSON *l = list(a, key), *o = l ? cJSON_CreateObject() : NULL;
    if (o && !cJSON_AddItemToArray(l, o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

void runner_fig_image(struct attempt *a, int64_t ms, bool ok)
{
    cJSON *o = item(a, "image");
    cJSON_AddStringToObject(o, "tool", TOOL);
    cJSON_AddNumberToObject(o, "seconds", (double)ms / 1000.0);
    cJSON_AddBoolToObject(o, "ok", ok);
}

void runner_fig_source(struct attempt *a, int64_t bytes)
{
    cJSON *o = item(a, "sources");
    cJSON_AddStringToObject(o, "tool", TOOL);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
}

void runner_fig_output(struct attempt *a, double ratio, const cJSON *sizes)
{
    if (!a->figures && !(a->figures = cJSON_CreateObject()))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tool", TOOL);
    cJSON_AddNumberToObject(o, "compression_ratio", ratio);
    cJSON_AddItemToObject(o, "variants", cJSON_Duplicate(sizes, true));
    cJSON_DeleteItemFromObjectCaseSensitive(a->figures, "output");
    if (!cJSON_AddItemToObject(a->figures, "output", o))
        cJSON_Delete(o);
}

void runner_fig_call(struct attempt *a, const struct easel_model *m, int64_t ms,
                     const struct easel_error *err)
{
    cJSON *o = item(a, "calls");
    cJSON_AddStringToObject(o, "provider", m->provider);
    cJSON_AddStringToObject(o, "model", m->id);
    cJSON_AddNumberToObject(o, "seconds", (double)ms / 1000.0);
    if (err) {
        cJSON_AddStringToObject(o, "class", easel_errclass_name(err->cls));
        cJSON_AddStringToObject(o, "reason", err->reason[0] ? err->reason : "unknown");
    }
}

void runner_fig_failover(struct attempt *a, const char *from, const char *to)
{
    cJSON *o = item(a, "failovers");
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "to", to);
}

void runner_fig_generation(struct attempt *a, bool ok)
{
    if (!a->figures && !(a->figures = cJSON_CreateObject()))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(a->figures, "generation");
    cJSON_AddStringToObject(a->figures, "generation", ok ? "success" : "failure");
}

void runner_fig_flush(struct attempt *a)
{
    if (!a->figures || !a->store || !a->job)
        goto out;
    char *text = cJSON_PrintUnformatted(a->figures);
    if (text && easel_store_metric_figures(a->store, a->job_id, a->job->model, text))
        easel_warn(a->job_id, "the attempt's metrics were not recorded: %s",
                   easel_store_errstr(a->store));
    free(text);
out:
    cJSON_Delete(a->figures);
    a->figures = NULL;
}
