/*
 * worker.c - the worker endpoints an existing app already calls (the
 * AI Stayler worker's API), on the same paths so its client works
 * unchanged: start and stop claiming on this replica, status, health,
 * jobs, "process now", run-time configuration, statistics and the live
 * attempts. The job routes share their handlers with /v1/jobs.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

static void state_of(struct api_ctx *x, struct easel_api_worker_state *ws)
{
    memset(ws, 0, sizeof(*ws));
    const struct easel_api_hooks *h = &x->o->hooks;
    if (h->worker_state)
        h->worker_state(h->ud, ws);
}

/* {"controller_id","status","paused","concurrency","active","started_at",
 *  "uptime_seconds"} */
static cJSON *status_view(const struct easel_api_worker_state *ws)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "controller_id", ws->controller_id);
    cJSON_AddStringToObject(o, "status", ws->paused ? "paused" : "running");
    cJSON_AddBoolToObject(o, "paused", ws->paused);
    cJSON_AddNumberToObject(o, "concurrency", ws->concurrency);
    cJSON_AddNumberToObject(o, "active", ws->slots_used);
    easel_json_add_time(o, "started_at", ws->started_ms);
    int64_t up = ws->started_ms > 0 ? easel_wall_ms() - ws->started_ms : 0;
    cJSON_AddNumberToObject(o, "uptime_seconds", (double)(up > 0 ? up : 0) / 1000.0);
    return o;
}

static void set_paused(struct api_ctx *x, struct api_req *r, bool paused)
{
    const struct easel_api_hooks *h = &x->o->hooks;
    if (!h->set_paused) {
        api_error(r, 501, "not_implemented", "this server cannot pause claiming");
        return;
    }
    h->set_paused(h->ud, paused);
    struct easel_api_worker_state ws;
    state_of(x, &ws);
    api_reply_json(r, 200, status_view(&ws));
}

void api_worker_start(struct api_ctx *x, struct api_req *r)
{
    set_paused(x, r, false);
}

void api_worker_stop(struct api_ctx *x, struct api_req *r)
{
    set_paused(x, r, true);
}

void api_worker_status(struct api_ctx *x, struct api_req *r)
{
    struct easel_api_worker_state ws;
    state_of(x, &ws);
    cJSON *o = status_view(&ws);
    struct easel_queue *q = api_queue(x, r);
    if (!q) {
        cJSON_Delete(o);
        return;
    }
    struct easel_queue_stats st;
    easel_err rc = easel_queue_stats(q, &st);
    if (rc) {
        cJSON_Delete(o);
        api_queue_failed(x, r, rc);
        return;
    }
    cJSON *qo = cJSON_AddObjectToObject(o, "queue");
    cJSON_AddStringToObject(qo, "name", x->o->queue);
    cJSON_AddNumberToObject(qo, "pending", (double)st.pending);
    cJSON_AddNumberToObject(qo, "delayed", (double)st.delayed);
    cJSON_AddNumberToObject(qo, "in_flight", (double)(st.inflight + st.leased));
    cJSON_AddNumberToObject(qo, "dead", (double)st.dead);
    cJSON_AddNumberToObject(qo, "controllers", (double)st.controllers);
    api_reply_json(r, 200, o);
}

/* Health as the seed worker reports it: the dependencies, one word each. */
void api_worker_health(struct api_ctx *x, struct api_req *r)
{
    api_readyz(x, r);
    cJSON *o = r->resp ? cJSON_ParseWithLength(r->resp, r->resp_len) : NULL;
    if (!o)
        return;
    bool ok = r->status == 200;
    cJSON_ReplaceItemInObjectCaseSensitive(o, "status",
                                           cJSON_CreateString(ok ? "healthy" : "unhealthy"));
    int status = r->status;
    int ra = r->retry_after_s;
    api_reply_json(r, status, o);
    r->retry_after_s = ra;
}

/* A job waiting for its retry (or scheduled for later) runs now. */
void api_worker_process(struct api_ctx *x, struct api_req *r)
{
    struct easel_job *j = api_job_load(x, r, r->params[0]);
    if (!j)
        return;
    bool waiting = j->status == EASEL_STATUS_RETRYING ||
                   (j->status == EASEL_STATUS_QUEUED && j->run_after_ms > easel_wall_ms());
    if (!waiting) {
        api_error(r, 409, "conflict", "job %s is %s, not waiting to run", j->id,
                  easel_status_name(j->status));
        easel_job_free(j);
        return;
    }
    struct easel_queue *q = api_queue(x, r);
    if (!q) {
        easel_job_free(j);
        return;
    }
    /* due now: the next promotion (within a second) moves it to the queue */
    easel_err rc = easel_queue_retry(q, j->id, NULL, easel_wall_ms());
    if (rc == EASEL_ENOTFOUND) {
        api_error(r, 409, "conflict", "job %s is no longer waiting", j->id);
    } else if (rc) {
        api_queue_failed(x, r, rc);
    } else {
        api_reply_job(r, 202, j);
    }
    easel_job_free(j);
}

/* ------------------------------------------------------------- config */

static cJSON *config_view(struct api_ctx *x)
{
    struct easel_api_worker_state ws;
    state_of(x, &ws);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "concurrency", ws.concurrency);
    cJSON_AddBoolToObject(o, "paused", ws.paused);
    cJSON_AddStringToObject(o, "queue", x->o->queue);
    cJSON_AddNumberToObject(o, "lease_seconds", (double)x->o->lease_ms / 1000.0);
    cJSON_AddStringToObject(o, "controller_id", ws.controller_id);
    return o;
}

void api_worker_config_get(struct api_ctx *x, struct api_req *r)
{
    api_reply_json(r, 200, config_view(x));
}

/* Only what may change at run time; anything else is refused by name, and
 * nothing changes unless every key is valid. */
void api_worker_config_put(struct api_ctx *x, struct api_req *r)
{
    cJSON *b = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    if (!b || !cJSON_IsObject(b)) {
        cJSON_Delete(b);
        api_error(r, 400, "malformed_json", "the body must be a JSON object");
        return;
    }
    const cJSON *conc = NULL, *paused = NULL;
    for (const cJSON *f = b->child; f; f = f->next) {
        if (!strcmp(f->string, "concurrency")) {
            conc = f;
        } else if (!strcmp(f->string, "paused")) {
            paused = f;
        } else {
            api_error(r, 422, "unknown_field",
                      "\"%s\" cannot be changed at run time (only concurrency and paused)",
                      f->string);
            cJSON_Delete(b);
            return;
        }
    }
    if (conc && (!cJSON_IsNumber(conc) || conc->valuedouble != (int)conc->valuedouble ||
                 conc->valuedouble < 1 || conc->valuedouble > 10000)) {
        api_error(r, 422, "invalid_field", "concurrency must be a whole number from 1 to 10000");
        cJSON_Delete(b);
        return;
    }
    if (paused && !cJSON_IsBool(paused)) {
        api_error(r, 422, "invalid_field", "paused must be true or false");
        cJSON_Delete(b);
        return;
    }
    const struct easel_api_hooks *h = &x->o->hooks;
    if ((conc && !h->set_concurrency) || (paused && !h->set_paused)) {
        api_error(r, 501, "not_implemented", "this server cannot change that");
        cJSON_Delete(b);
        return;
    }
    if (conc)
        h->set_concurrency(h->ud, (int)conc->valuedouble);
    if (paused)
        h->set_paused(h->ud, cJSON_IsTrue(paused));
    cJSON_Delete(b);
    api_reply_json(r, 200, config_view(x));
}

/* -------------------------------------------------------------- stats */

void api_worker_stats(struct api_ctx *x, struct api_req *r)
{
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    struct easel_job_stats st;
    easel_err rc = easel_store_job_stats(s, &st);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    struct easel_api_worker_state ws;
    state_of(x, &ws);
    /* the seed worker's names, so its dashboards read the same numbers */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "jobs_total", (double)st.total);
    cJSON_AddNumberToObject(o, "jobs_pending", (double)(st.queued + st.retrying));
    cJSON_AddNumberToObject(o, "jobs_processing", (double)(st.dispatched + st.running));
    cJSON_AddNumberToObject(o, "jobs_completed", (double)st.succeeded);
    cJSON_AddNumberToObject(o, "jobs_failed", (double)(st.failed + st.dead));
    cJSON_AddNumberToObject(o, "jobs_canceled", (double)st.canceled);
    cJSON_AddNumberToObject(o, "active_workers", ws.slots_used);
    cJSON_AddNumberToObject(o, "average_job_time", st.avg_run_seconds);
    int64_t ended = st.succeeded + st.failed + st.dead;
    if (ended > 0)
        cJSON_AddNumberToObject(o, "success_rate", (double)st.succeeded / (double)ended);
    else
        cJSON_AddNullToObject(o, "success_rate");
    api_reply_json(r, 200, o);
}

void api_worker_workers(struct api_ctx *x, struct api_req *r)
{
    struct easel_queue *q = api_queue(x, r);
    struct easel_store *s = q ? api_store(x, r) : NULL;
    if (!s)
        return;
    struct easel_queue_stats st;
    easel_err rc = easel_queue_stats(q, &st);
    if (rc) {
        api_queue_failed(x, r, rc);
        return;
    }
    struct easel_job **jobs = NULL;
    size_t n = 0;
    rc = easel_store_jobs_active(s, 1000, &jobs, &n);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    struct easel_api_worker_state ws;
    state_of(x, &ws);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "controllers", (double)st.controllers);
    cJSON_AddItemToObject(o, "this", status_view(&ws));
    cJSON *att = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; i < n; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "job_id", jobs[i]->id);
        cJSON_AddStringToObject(a, "status", easel_status_name(jobs[i]->status));
        cJSON_AddStringToObject(a, "model", jobs[i]->model ? jobs[i]->model : "");
        cJSON_AddNumberToObject(a, "attempt", jobs[i]->attempts);
        if (jobs[i]->worker)
            cJSON_AddStringToObject(a, "worker", jobs[i]->worker);
        else
            cJSON_AddNullToObject(a, "worker");
        easel_json_add_time(a, "started_at", jobs[i]->started_ms);
        easel_json_add_time(a, "heartbeat_at", jobs[i]->heartbeat_ms);
        cJSON_AddItemToArray(att, a);
    }
    easel_store_jobs_free(jobs, n);
    api_reply_json(r, 200, o);
}
