/*
 * admin.c - what operators ask the API: the models as loaded, the queues,
 * the dead letters (retry, delete), health, readiness and the OpenAPI
 * document.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "easel/pose.h"
#include "easel/client.h"
#include "easel/credits.h"
#include "easel/yamljson.h"

/* ------------------------------------------------------------- models */

void api_models(struct api_ctx *x, struct api_req *r)
{
    const struct easel_registry *g = x->reg;
    if (!g) {
        api_unavailable(r, "registry", "not loaded");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    easel_json_add_str(o, "default", g->default_model);
    easel_json_add_str(o, "source", g->source);
    cJSON *ms = cJSON_AddArrayToObject(o, "models");
    for (size_t i = 0; i < g->nmodels; i++) {
        const struct easel_model *m = &g->models[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", m->id);
        cJSON_AddStringToObject(e, "provider", m->provider);
        if (m->endpoint) {
            /* a URL's password, if someone put one there, stays here */
            char safe[512];
            easel_redact_url(m->endpoint, safe, sizeof(safe));
            cJSON_AddStringToObject(e, "endpoint", safe);
        } else {
            cJSON_AddNullToObject(e, "endpoint");
        }
        easel_json_add_str(e, "version", m->version);
        cJSON_AddNumberToObject(e, "timeout_seconds", (double)m->timeout_ms / 1000.0);
        cJSON_AddNumberToObject(e, "max_attempts", m->retry.max_attempts);
        cJSON *fb = cJSON_AddArrayToObject(e, "fallbacks");
        for (size_t k = 0; k < m->nfallback; k++)
            cJSON_AddItemToArray(fb, cJSON_CreateString(m->fallback[k]));
        easel_json_add_str(e, "preset", m->preset);
        if (m->concurrency > 0)
            cJSON_AddNumberToObject(e, "concurrency", m->concurrency);
        else
            cJSON_AddNullToObject(e, "concurrency");
        if (m->rate_requests > 0) {
            cJSON *rl = cJSON_AddObjectToObject(e, "rate_limit");
            cJSON_AddNumberToObject(rl, "requests", m->rate_requests);
            cJSON_AddNumberToObject(rl, "per_seconds", (double)m->rate_per_ms / 1000.0);
        } else {
            cJSON_AddNullToObject(e, "rate_limit");
        }
        cJSON_AddItemToArray(ms, e);
    }
    cJSON *ps = cJSON_AddArrayToObject(o, "presets");
    for (size_t i = 0; i < g->npresets; i++)
        cJSON_AddItemToArray(ps, cJSON_CreateString(g->presets[i].name));
    api_reply_json(r, 200, o);
}

/* ------------------------------------------------------------- queues */

void api_queues(struct api_ctx *x, struct api_req *r)
{
    struct easel_queue *q = api_queue(x, r);
    if (!q)
        return;
    struct easel_queue_stats st;
    easel_err rc = easel_queue_stats(q, &st);
    if (rc) {
        api_queue_failed(x, r, rc);
        return;
    }
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    int64_t oldest_ms = 0;
    rc = easel_store_oldest_queued(s, &oldest_ms);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    struct easel_api_worker_state ws = {0};
    const struct easel_api_hooks *h = &x->o->hooks;
    if (h->worker_state)
        h->worker_state(h->ud, &ws);
    cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", x->o->queue);
    cJSON_AddNumberToObject(e, "pending", (double)st.pending);
    cJSON_AddNumberToObject(e, "delayed", (double)st.delayed);
    cJSON_AddNumberToObject(e, "in_flight", (double)(st.inflight + st.leased));
    cJSON_AddNumberToObject(e, "dead", (double)st.dead);
    if (oldest_ms > 0) {
        int64_t age = easel_wall_ms() - oldest_ms;
        cJSON_AddNumberToObject(e, "oldest_pending_seconds", (double)(age > 0 ? age : 0) / 1000.0);
    } else {
        cJSON_AddNullToObject(e, "oldest_pending_seconds");
    }
    cJSON_AddBoolToObject(e, "paused", ws.paused);
    cJSON_AddItemToArray(items, e);
    api_reply_json(r, 200, o);
}

/* -------------------------------------------------------- dead letters */

void api_dead_list(struct api_ctx *x, struct api_req *r)
{
    size_t limit = 100;
    if (!api_arg_limit(r, &limit))
        return;
    struct easel_queue *q = api_queue(x, r);
    if (!q)
        return;
    struct easel_queue_entry *e = calloc(limit, sizeof(*e));
    size_t n = 0;
    if (!e) {
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    easel_err rc = easel_queue_dead_list(q, limit, e, &n);
    if (rc) {
        free(e);
        api_queue_failed(x, r, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++) {
        cJSON *d = cJSON_ParseWithLength(e[i].raw, e[i].len), *item = cJSON_CreateObject();
        easel_json_add_str(item, "id", easel_json_str(d, "id"));
        easel_json_add_str(item, "reason", easel_json_str(d, "reason"));
        easel_json_add_str(item, "error", easel_json_str(d, "error"));
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(d, "at");
        char ts[40];
        if (cJSON_IsNumber(at) &&
            easel_format_time((int64_t)at->valuedouble, ts, sizeof(ts)) == EASEL_OK)
            cJSON_AddStringToObject(item, "at", ts);
        else
            cJSON_AddNullToObject(item, "at");
        /* the entry as it was pushed: JSON when it parses, else its text */
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(d, "entry");
        cJSON *shown = NULL;
        if (cJSON_IsString(entry))
            shown = cJSON_Parse(entry->valuestring);
        if (!shown)
            shown = entry ? cJSON_Duplicate(entry, 1) : cJSON_CreateNull();
        cJSON_AddItemToObject(item, "entry", shown);
        cJSON_AddItemToArray(items, item);
        cJSON_Delete(d);
    }
    easel_queue_entries_free(e, n);
    free(e);
    api_reply_json(r, 200, o);
}

void api_dead_retry(struct api_ctx *x, struct api_req *r)
{
    const char *id = r->params[0];
    if (!easel_uuid_valid(id)) {
        api_error(r, 404, "not_found", "no dead letter %s", id);
        return;
    }
    struct easel_queue *q = api_queue(x, r);
    struct easel_store *s = q ? api_store(x, r) : NULL;
    if (!s)
        return;
    struct easel_error err;
    easel_error_clear(&err);
    struct easel_credits_ctx cc = api_credits_ctx(x);
    easel_err rc = easel_client_retry_credits(s, q, &cc, id, &err);
    if (rc == EASEL_ENOTFOUND) {
        api_error(r, 404, "not_found", "no job %s", id);
        return;
    }
    if (rc == EASEL_ECONFLICT) {
        api_error(r, 409, "conflict", "%s", err.msg);
        return;
    }
    if (rc == EASEL_ELIMIT) {
        api_error(r, 402, "insufficient_credits", "%s", err.msg);
        return;
    }
    if (rc) {
        api_unavailable(r, "backend", err.msg);
        return;
    }
    struct easel_job *j = NULL;
    rc = easel_store_job_get(s, id, &j);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    easel_job_free(j);
    /* the job as /v1/jobs/{id} shows it */
    api_jobs_get(x, r);
}

void api_dead_delete(struct api_ctx *x, struct api_req *r)
{
    const char *id = r->params[0];
    if (!easel_uuid_valid(id)) {
        api_error(r, 404, "not_found", "no dead letter %s", id);
        return;
    }
    struct easel_queue *q = api_queue(x, r);
    if (!q)
        return;
    bool found = false;
    easel_err rc = easel_queue_undead(q, id, &found);
    if (rc) {
        api_queue_failed(x, r, rc);
        return;
    }
    if (!found) {
        api_error(r, 404, "not_found", "no dead letter %s", id);
        return;
    }
    api_reply_text(r, 204, "application/json", "", 0, true);
}

/* ------------------------------------------------------ health, readiness */

/* Liveness: the process serves, and the controller's main loop (which
 * wakes at least once a second) is going round. A loop stuck for a minute
 * (a hung call, a deadlock) is worth a restart; a dependency that is down
 * is not, so nothing here touches Redis or Postgres. */
void api_healthz(struct api_ctx *x, struct api_req *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    const struct easel_api_hooks *h = &x->o->hooks;
    if (h->worker_state) {
        struct easel_api_worker_state ws;
        memset(&ws, 0, sizeof(ws));
        ws.loop_age_ms = -1;
        h->worker_state(h->ud, &ws);
        if (ws.loop_age_ms > EASEL_API_LOOP_STALL_MS) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "status", "stalled");
            cJSON_AddNumberToObject(o, "loop_age_seconds", (double)(ws.loop_age_ms / 1000));
            api_reply_json(r, 503, o);
            return;
        }
    }
    api_reply_text(r, 200, "application/json", ok, sizeof(ok) - 1, true);
}

void api_readyz(struct api_ctx *x, struct api_req *r)
{
    cJSON *o = cJSON_CreateObject(), *checks = cJSON_CreateObject();
    bool ready = true;
    struct api_req probe = {.base_url = r->base_url};
    struct easel_queue *q = api_queue(x, &probe);
    struct easel_queue_stats st;
    if (q && easel_queue_stats(q, &st) == EASEL_OK) {
        cJSON_AddStringToObject(checks, "redis", "ok");
    } else {
        ready = false;
        cJSON_AddStringToObject(checks, "redis", q ? easel_queue_errstr(q) : "not reachable");
        if (q)
            api_queue_failed(x, &probe, EASEL_ECONN);
    }
    struct easel_store *s = api_store(x, &probe);
    int version = 0;
    if (s && easel_store_schema_version(s, &version) == EASEL_OK) {
        cJSON_AddStringToObject(checks, "postgres", "ok");
    } else {
        ready = false;
        cJSON_AddStringToObject(checks, "postgres", s ? easel_store_errstr(s) : "not reachable");
        if (s)
            api_store_failed(x, &probe, EASEL_ECONN);
    }
    if (!x->reg) {
        ready = false;
        cJSON_AddStringToObject(checks, "registry", "not loaded");
    } else {
        cJSON_AddStringToObject(checks, "registry", "ok");
    }
    if (!probe.resp_static)
        free(probe.resp);
    /* a draining replica leaves the Service while it finishes its attempts */
    const struct easel_api_hooks *h = &x->o->hooks;
    if (h->worker_state) {
        struct easel_api_worker_state ws;
        memset(&ws, 0, sizeof(ws));
        h->worker_state(h->ud, &ws);
        if (ws.draining)
            ready = false;
        cJSON_AddStringToObject(checks, "controller", ws.draining ? "draining" : "ok");
    }
    /* the pose models load at start (or the controller does not start):
     * loaded, or not enabled; either way not a reason to leave the Service */
    cJSON_AddStringToObject(checks, "pose", x->o->pose ? "loaded" : "disabled");
    cJSON_AddStringToObject(o, "status", ready ? "ready" : "not_ready");
    cJSON_AddItemToObject(o, "checks", checks);
    cJSON *pose = cJSON_AddObjectToObject(o, "pose");
    cJSON_AddBoolToObject(pose, "loaded", x->o->pose != NULL);
    if (x->o->pose)
        cJSON_AddStringToObject(pose, "model", easel_pose_service_model(x->o->pose));
    else
        cJSON_AddNullToObject(pose, "model");
    api_reply_json(r, ready ? 200 : 503, o);
    if (!ready)
        r->retry_after_s = 1;
}

/* ------------------------------------------------------------ openapi */

extern const char easel_openapi_json[];
extern const size_t easel_openapi_json_len;

void api_openapi(struct api_ctx *x, struct api_req *r)
{
    (void)x;
    api_reply_text(r, 200, "application/json", easel_openapi_json, easel_openapi_json_len,
                   true);
}
