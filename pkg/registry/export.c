/*
 * export.c - a registry written back out, as the smallest document that
 * still runs one model: the model, every model its fallback chain reaches,
 * and the presets they use. The kubernetes executor puts it in each worker
 * pod's environment, so a pod runs exactly the registry the controller
 * dispatched it with, whatever happens to the ConfigMap afterwards.
 *
 * JSON is written because JSON is YAML: easel_registry_parse reads it back.
 */
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

static cJSON *duration(int64_t ms)
{
    char b[32];
    /* at most 20 characters of a long long and "ms": cannot be cut, and a
     * NULL here reads as out of memory to the caller like any other */
    if (easel_snprintf(b, sizeof(b), "%lldms", (long long)ms) != EASEL_OK)
        return NULL;
    return cJSON_CreateString(b);
}

static cJSON *model_json(const struct easel_model *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "provider", m->provider);
    if (m->endpoint)
        cJSON_AddStringToObject(o, "endpoint", m->endpoint);
    if (m->version)
        cJSON_AddStringToObject(o, "version", m->version);
    if (m->credential_env)
        cJSON_AddStringToObject(o, "credential_env", m->credential_env);
    if (m->input)
        cJSON_AddItemToObject(o, "input", cJSON_Duplicate(m->input, true));
    cJSON_AddItemToObject(o, "timeout", duration(m->timeout_ms));
    cJSON *r = cJSON_AddObjectToObject(o, "retry");
    if (r) {
        cJSON_AddNumberToObject(r, "max_attempts", m->retry.max_attempts);
        cJSON_AddItemToObject(r, "initial", duration(m->retry.initial_ms));
        cJSON_AddNumberToObject(r, "factor", m->retry.factor);
        cJSON_AddItemToObject(r, "max", duration(m->retry.max_ms));
    }
    if (m->concurrency)
        cJSON_AddNumberToObject(o, "concurrency", m->concurrency);
    if (m->ncost_channels) {
        cJSON *co = cJSON_AddObjectToObject(o, "cost");
        cJSON_AddNumberToObject(co, "default", m->cost);
        for (size_t i = 0; co && i < m->ncost_channels; i++)
            cJSON_AddNumberToObject(co, m->cost_channels[i], m->cost_values[i]);
    } else if (m->cost) {
        cJSON_AddNumberToObject(o, "cost", m->cost);
    }
    if (m->rate_requests) {
        cJSON *rl = cJSON_AddObjectToObject(o, "rate_limit");
        cJSON_AddNumberToObject(rl, "requests", m->rate_requests);
        cJSON_AddItemToObject(rl, "per", duration(m->rate_per_ms));
    }
    cJSON_AddStringToObject(o, "preset", m->preset ? m->preset : "default");
    if (m->nfallback) {
        cJSON *f = cJSON_AddArrayToObject(o, "fallback");
        for (size_t i = 0; f && i < m->nfallback; i++)
            cJSON_AddItemToArray(f, cJSON_CreateString(m->fallback[i]));
    }
    if (m->kube)
        cJSON_AddItemToObject(o, "kubernetes", cJSON_Duplicate(m->kube, true));
    if (m->executor != EASEL_MODEL_EXEC_DEFAULT)
        cJSON_AddStringToObject(o, "executor", easel_model_exec_name(m->executor));
    return o;
}

static cJSON *preset_json(const struct easel_preset *p)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < p->nvariants; i++) {
        const struct easel_variant_spec *v = &p->variants[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "format", easel_format_name(v->format));
        cJSON_AddNumberToObject(o, "width", v->width);
        cJSON_AddNumberToObject(o, "height", v->height);
        cJSON_AddNumberToObject(o, "quality", v->quality);
        cJSON_AddStringToObject(o, "profile", v->srgb_profile ? "srgb" : "none");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static bool listed(const char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id))
            return true;
    return false;
}

char *easel_registry_export(const struct easel_registry *r, const char *model_id)
{
    const struct easel_model *first = easel_registry_model(r, model_id);
    if (!first)
        return NULL;
    /* the model and the closure of its fallbacks, breadth first */
    const char **ids = calloc(r->nmodels + 1, sizeof(*ids));
    if (!ids)
        return NULL;
    size_t n = 0;
    ids[n++] = first->id;
    for (size_t i = 0; i < n; i++) {
        const struct easel_model *m = easel_registry_model(r, ids[i]);
        for (size_t k = 0; m && k < m->nfallback; k++)
            if (!listed(ids, n, m->fallback[k]) && easel_registry_model(r, m->fallback[k]) &&
                n < r->nmodels)
                ids[n++] = easel_registry_model(r, m->fallback[k])->id;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "version", 1);
    cJSON_AddStringToObject(doc, "default_model", first->id);
    cJSON *br = cJSON_AddObjectToObject(doc, "breaker");
    cJSON_AddNumberToObject(br, "failures", r->breaker_failures);
    cJSON_AddNumberToObject(br, "cooldown", (double)r->breaker_cooldown_ms); /* ms */
    cJSON *presets = cJSON_AddObjectToObject(doc, "presets");
    cJSON *models = cJSON_AddArrayToObject(doc, "models");
    for (size_t i = 0; i < n; i++) {
        const struct easel_model *m = easel_registry_model(r, ids[i]);
        cJSON_AddItemToArray(models, model_json(m));
        const char *pn = m->preset ? m->preset : "default";
        const struct easel_preset *p = easel_registry_preset(r, pn);
        if (p && !cJSON_GetObjectItemCaseSensitive(presets, pn))
            cJSON_AddItemToObject(presets, pn, preset_json(p));
    }
    free(ids);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}
