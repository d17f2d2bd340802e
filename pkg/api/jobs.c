/*
 * jobs.c - /v1/jobs: create, read, list, cancel, retry and history.
 *
 * A job made through the API takes the same road as one pushed on the
 * queue: the envelope goes through the registry's intake (so the API
 * refuses exactly what the claimer would dead-letter), it is pushed on the
 * queue (or into the delayed set, for run_at/delay) under its id, and the
 * row is inserted. The push comes first: if this process dies between the
 * two, the claimer inserts the same row from the same envelope; the other
 * way round a row could wait forever for an entry that never came.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "easel/client.h"
#include "easel/credits.h"
#include "easel/trace.h"
#include "easel/yamljson.h"

/* May this request see job j? An owner-confined token sees only its owner's
 * jobs; any other job is "not found", so ids of others leak nothing. */
bool api_job_visible(const struct api_token *t, const struct easel_job *j)
{
    if (!t || !t->owner)
        return true;
    return easel_str_eq(t->owner, j->owner) && easel_str_eq(t->channel, j->channel);
}

/* Loads the job named by the path, answering 400/404/503 when it cannot. */
struct easel_job *api_job_load(struct api_ctx *x, struct api_req *r, const char *id)
{
    if (!easel_uuid_valid(id)) {
        api_error(r, 404, "not_found", "no job %s (a job id is a UUID)", id);
        return NULL;
    }
    struct easel_store *s = api_store(x, r);
    if (!s)
        return NULL;
    struct easel_job *j = NULL;
    easel_err rc = easel_store_job_get(s, id, &j);
    if (rc == EASEL_ENOTFOUND || (rc == EASEL_OK && !api_job_visible(r->tok, j))) {
        easel_job_free(j);
        api_error(r, 404, "not_found", "no job %s", id);
        return NULL;
    }
    if (rc) {
        api_store_failed(x, r, rc);
        return NULL;
    }
    return j;
}

void api_reply_job(struct api_req *r, int status, const struct easel_job *j)
{
    api_reply_json(r, status, easel_api_job_view(r->base_url, j));
}

void api_jobs_get(struct api_ctx *x, struct api_req *r)
{
    struct easel_job *j = api_job_load(x, r, r->params[0]);
    if (!j)
        return;
    api_reply_job(r, 200, j);
    easel_job_free(j);
}

void api_jobs_get_many(struct api_ctx *x, struct api_req **rs, size_t n)
{
    const char *ids[64];
    struct easel_job *jobs[64];
    size_t nids = 0, idx[64];
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        const char *id = rs[i]->params[0];
        idx[i] = SIZE_MAX;
        if (!easel_uuid_valid(id)) {
            api_error(rs[i], 404, "not_found", "no job %s (a job id is a UUID)", id);
            continue;
        }
        size_t k = 0;
        while (k < nids && strcmp(ids[k], id))
            k++;
        if (k == nids)
            ids[nids++] = id;
        idx[i] = k;
    }
    if (nids == 0)
        return;
    /* a failure is answered once, into `failed`, and copied to each */
    struct api_req failed = {.base_url = rs[0]->base_url};
    struct easel_store *s = api_store(x, &failed);
    easel_err rc = s ? easel_store_job_get_many(s, ids, nids, jobs) : EASEL_ECONN;
    if (rc && s)
        api_store_failed(x, &failed, rc);
    for (size_t i = 0; i < n; i++) {
        if (idx[i] == SIZE_MAX)
            continue;
        if (rc) {
            api_reply_text(rs[i], failed.status, "application/json", failed.resp,
                           failed.resp_len, false);
            rs[i]->retry_after_s = failed.retry_after_s;
            continue;
        }
        const struct easel_job *j = jobs[idx[i]];
        if (j && api_job_visible(rs[i]->tok, j))
            api_reply_job(rs[i], 200, j);
        else
            api_error(rs[i], 404, "not_found", "no job %s", rs[i]->params[0]);
    }
    if (!rc)
        for (size_t k = 0; k < nids; k++)
            easel_job_free(jobs[k]);
    if (!failed.resp_static)
        free(failed.resp);
}

/* ------------------------------------------------------------- create */


struct create {
    cJSON *body;
    const char *model, *type, *idem, *webhook, *owner, *channel;
    const cJSON *input, *images, *metadata, *priority, *webhook_events;
    int64_t run_at_ms;
};

/* Checks the request body field by field; 422 names the first problem. */
static bool read_create(struct api_req *r, struct create *c)
{
    static const char *const known[] = {"model", "input", "images", "type", "priority",
                                        "idempotency_key", "webhook", "metadata", "owner",
                                        "channel", "run_at", "delay", "webhook_events_filter",
                                        NULL};
    for (const cJSON *f = c->body->child; f; f = f->next) {
        bool ok = false;
        for (size_t k = 0; known[k] && !ok; k++)
            ok = !strcmp(f->string, known[k]);
        if (!ok) {
            api_error(r, 422, "unknown_field", "unknown field \"%s\" (known: model, input, "
                      "images, type, priority, idempotency_key, webhook, webhook_events_filter, "
                      "metadata, owner, channel, run_at, delay)", f->string);
            return false;
        }
    }
    static const char *const strs[] = {"model", "type", "idempotency_key", "webhook",
                                       "owner", "channel", "run_at", "delay"};
    const char *vals[8] = {0};
    for (size_t k = 0; k < 8; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->body, strs[k]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsString(v) || !*v->valuestring) {
            api_error(r, 422, "invalid_field", "\"%s\" must be a non-empty string", strs[k]);
            return false;
        }
        vals[k] = v->valuestring;
    }
    c->model = vals[0];
    c->type = vals[1];
    c->idem = r->idempotency_key && *r->idempotency_key ? r->idempotency_key : vals[2];
    if (vals[2] && r->idempotency_key && strcmp(vals[2], r->idempotency_key)) {
        api_error(r, 422, "invalid_field",
                  "the Idempotency-Key header and the idempotency_key field differ");
        return false;
    }
    c->webhook = vals[3];
    c->owner = vals[4];
    c->channel = vals[5];
    c->input = cJSON_GetObjectItemCaseSensitive(c->body, "input");
    if (c->input && !cJSON_IsNull(c->input) && !cJSON_IsObject(c->input)) {
        api_error(r, 422, "invalid_field", "\"input\" must be an object");
        return false;
    }
    c->images = cJSON_GetObjectItemCaseSensitive(c->body, "images");
    if (c->images && !cJSON_IsNull(c->images)) {
        bool ok = cJSON_IsArray(c->images);
        for (const cJSON *i = ok ? c->images->child : NULL; i; i = i->next)
            ok = ok && cJSON_IsString(i) && *i->valuestring;
        if (!ok) {
            api_error(r, 422, "invalid_field", "\"images\" must be a list of URLs");
            return false;
        }
    }
    if (c->webhook && !easel_str_has_prefix(c->webhook, "http://") &&
        !easel_str_has_prefix(c->webhook, "https://")) {
        api_error(r, 422, "invalid_field", "\"webhook\" must be an http:// or https:// URL");
        return false;
    }
    c->webhook_events = cJSON_GetObjectItemCaseSensitive(c->body, "webhook_events_filter");
    if (c->webhook_events && !cJSON_IsNull(c->webhook_events)) {
        unsigned m = 0;
        bool ok = cJSON_IsArray(c->webhook_events) && c->webhook_events->child;
        const cJSON *bad = NULL;
        for (const cJSON *e = ok ? c->webhook_events->child : NULL; e && ok; e = e->next) {
            ok = cJSON_IsString(e) && !easel_webhook_event_add(e->valuestring, &m);
            bad = ok ? NULL : e;
        }
        if (!ok) {
            if (cJSON_IsString(bad))
                api_error(r, 422, "invalid_field",
                          "\"webhook_events_filter\": unknown event \"%s\" (known: start, "
                          "progress, output, completed)", bad->valuestring);
            else
                api_error(r, 422, "invalid_field",
                          "\"webhook_events_filter\" must be a non-empty list of start, "
                          "progress, output and completed");
            return false;
        }
    }
    c->metadata = cJSON_GetObjectItemCaseSensitive(c->body, "metadata");
    c->priority = cJSON_GetObjectItemCaseSensitive(c->body, "priority");
    if (vals[6] && vals[7]) {
        api_error(r, 422, "invalid_field", "give run_at or delay, not both");
        return false;
    }
    if (vals[6] && !api_parse_rfc3339(vals[6], &c->run_at_ms)) {
        api_error(r, 422, "invalid_field",
                  "\"run_at\" must be an RFC 3339 time such as 2026-11-28T12:00:00Z");
        return false;
    }
    if (vals[7]) {
        int64_t d;
        if (easel_parse_duration_ms(vals[7], &d) || d < 0 || d > 366LL * 86400000) {
            api_error(r, 422, "invalid_field",
                      "\"delay\" must be a duration such as 30s, 5m or 2h (at most a year)");
            return false;
        }
        c->run_at_ms = easel_wall_ms() + d;
    }
    /* an owner-confined token makes jobs for its owner only */
    const struct api_token *t = r->tok;
    if (t && t->owner) {
        if ((c->owner && strcmp(c->owner, t->owner)) ||
            (c->channel && strcmp(c->channel, t->channel))) {
            api_error(r, 403, "forbidden", "token \"%s\" may only create jobs for owner %s:%s",
                      t->name, t->channel, t->owner);
            return false;
        }
        c->owner = t->owner;
        c->channel = t->channel;
    }
    if (!!c->owner != !!c->channel) {
        api_error(r, 422, "invalid_field", "\"owner\" and \"channel\" go together");
        return false;
    }
    return true;
}

/* The queue envelope for the request: what a producer would LPUSH. */
static char *envelope(const struct create *c, const char *id, const char *traceparent)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", id);
    if (traceparent && *traceparent)
        cJSON_AddStringToObject(e, "traceparent", traceparent);
    static const char *const keys[] = {"model", "type", "idempotency_key", "webhook",
                                       "owner", "channel"};
    const char *vals[] = {c->model, c->type, c->idem, c->webhook, c->owner, c->channel};
    for (size_t k = 0; k < 6; k++)
        if (vals[k])
            cJSON_AddStringToObject(e, keys[k], vals[k]);
    if (c->priority && !cJSON_IsNull(c->priority))
        cJSON_AddItemToObject(e, "priority", cJSON_Duplicate(c->priority, 1));
    if (c->metadata && !cJSON_IsNull(c->metadata))
        cJSON_AddItemToObject(e, "metadata", cJSON_Duplicate(c->metadata, 1));
    if (c->webhook_events && cJSON_IsArray(c->webhook_events))
        cJSON_AddItemToObject(e, "webhook_events_filter", cJSON_Duplicate(c->webhook_events, 1));
    cJSON *payload = c->input && cJSON_IsObject(c->input) ? cJSON_Duplicate(c->input, 1)
                                                          : cJSON_CreateObject();
    if (c->images && cJSON_IsArray(c->images)) {
        cJSON_DeleteItemFromObjectCaseSensitive(payload, "images");
        cJSON_AddItemToObject(payload, "images", cJSON_Duplicate(c->images, 1));
    }
    cJSON_AddItemToObject(e, "payload", payload);
    char *text = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    return text;
}


/* After a Prefer: wait: the job as it is now, terminal or not. */
static void resume_wait(struct api_ctx *x, struct api_req *r)
{
    struct easel_job *j = api_job_load(x, r, r->park_id);
    if (!j)
        return;
    api_reply_job(r, r->park_status, j);
    easel_job_free(j);
}

/* Answers now, or parks r until the job is terminal when Prefer asks to
 * wait (as Replicate's API does: at most 60 s, then the job as it is). */
static void reply_or_wait(struct api_req *r, int status, const struct easel_job *j)
{
    int wait = api_prefer_wait(r);
    if (wait > 0)
        easel_fmt_cut(r->applied, sizeof(r->applied), "wait=%d", wait);
    easel_fmt_cut(r->location, sizeof(r->location), "/v1/jobs/%s", j->id);
    if (wait > 0 && !easel_status_terminal(j->status)) {
        easel_strlcpy(r->park_id, j->id, sizeof(r->park_id));
        r->park_until_ms = r->received_ms + wait * 1000LL;
        r->park_status = status;
        r->resume = resume_wait;
    }
    api_reply_job(r, status, j);
}

/* Answers with the job of an idempotency key seen before (200). The first
 * request may still be between its push and its insert: wait a moment. */
static void reply_existing(struct api_ctx *x, struct api_req *r, const char *id)
{
    for (int i = 0; i < 20; i++) {
        struct easel_store *s = api_store(x, r);
        if (!s)
            return;
        struct easel_job *j = NULL;
        easel_err rc = easel_store_job_get(s, id, &j);
        if (rc == EASEL_OK) {
            if (api_job_visible(r->tok, j))
                reply_or_wait(r, 200, j);
            else
                api_error(r, 409, "idempotency_conflict",
                          "the idempotency key is in use by another owner's job");
            easel_job_free(j);
            return;
        }
        if (rc != EASEL_ENOTFOUND) {
            api_store_failed(x, r, rc);
            return;
        }
        easel_sleep_ms(100);
    }
    api_error(r, 409, "idempotency_conflict",
              "the idempotency key belongs to job %s, which is not recorded yet; try again", id);
}

void api_jobs_create(struct api_ctx *x, struct api_req *r)
{
    struct create c;
    memset(&c, 0, sizeof(c));
    struct easel_intake in;
    memset(&in, 0, sizeof(in));
    char *env = NULL, *payload = NULL, *input = NULL, *meta = NULL, *record_key = NULL;
    struct easel_span *span = NULL;
    struct easel_error err;
    easel_error_clear(&err);

    if (!(c.body = api_body_object(r)))
        return;
    if (!read_create(r, &c))
        goto out;
    if (!x->reg) {
        api_unavailable(r, "registry", "not loaded");
        goto out;
    }
    char id[EASEL_UUID_LEN + 1], tp[EASEL_TRACEPARENT_LEN + 1];
    easel_uuid_v4(id);
    span = easel_span_start_tp("easel.intake", EASEL_SPAN_SERVER, r->traceparent);
    easel_span_str(span, "easel.job_id", id);
    env = envelope(&c, id, easel_span_traceparent(span, tp));
    if (!env) {
        api_error(r, 500, "internal", "out of memory");
        goto out;
    }
    easel_err rc = easel_registry_intake(x->reg, env, strlen(env), &in, &err);
    if (rc == EASEL_ENOTFOUND) {
        api_error(r, 422, "unknown_model", "%s", err.msg);
        goto out;
    }
    if (rc) {
        api_error(r, 422, err.reason[0] ? err.reason : "invalid", "%s", err.msg);
        goto out;
    }
    /* the owner must be able to cover the model's cost before anything is
     * queued; the insert's reservation (migration 9) is what counts */
    int cost = easel_intake_cost(x->reg, &in);
    char who[300] = "";
    /* credits the app keeps are reserved in the app, below */
    bool ext = easel_credits_external(&x->reg->credits, cost, in.owner);
    int budget = 0;
    if (cost > 0 && !ext) {
        struct easel_store *cs = api_store(x, r);
        if (!cs)
            goto out;
        (void)easel_owner_key(in.channel, in.owner, who, sizeof(who));
        struct easel_credit_account acct;
        rc = easel_store_credits_get(cs, who, 0, 0, &acct);
        if (rc && rc != EASEL_ENOTFOUND) {
            api_store_failed(x, r, rc);
            goto out;
        }
        if (acct.balance < cost) {
            api_error(r, 402, "insufficient_credits",
                      "owner %s cannot cover the %d credits of %s: balance %lld", who, cost,
                      in.model, (long long)acct.balance);
            goto out;
        }
    }
    struct easel_queue *q = api_queue(x, r);
    if (!q)
        goto out;
    if (c.idem) {
        char existing[EASEL_UUID_LEN + 1] = "";
        rc = easel_queue_idempotency(q, c.idem, id, x->reg->idempotency_window_ms, existing);
        if (rc) {
            api_queue_failed(x, r, rc);
            goto out;
        }
        if (existing[0] && strcmp(existing, id)) {
            reply_existing(x, r, existing);
            goto out;
        }
    }
    struct easel_store *s = api_store(x, r);
    if (!s)
        goto out;
    if (ext) {
        /* the refund is armed first, so a crash from here on strands no
         * reservation (docs/credits.md#external) */
        struct easel_app_job aj = {.job_id = id,
                                   .owner = (char *)in.owner,
                                   .channel = (char *)in.channel,
                                   .model = (char *)in.model,
                                   .amount = cost};
        struct easel_credits_ctx cc = {.cfg = &x->reg->credits,
                                       .app_url = x->o->app_database_url,
                                       .app = &x->app};
        bool ok = false;
        if (easel_credits_reserve(s, &cc, &aj, false, &budget, &ok, &err) != EASEL_OK) {
            if (err.cls == EASEL_CLASS_PERMANENT)
                api_error(r, 500, "internal", "reserving the credits: %s", err.msg);
            else
                api_unavailable(r, "credits", err.msg);
            goto out;
        }
        if (!ok) {
            (void)easel_owner_key(in.channel, in.owner, who, sizeof(who));
            api_error(r, 402, "insufficient_credits",
                      "owner %s cannot cover the %d credits of %s: the app's "
                      "credits.reserve returned false", who, cost, in.model);
            goto out;
        }
    }
    /* the queue first (see the top of this file) */
    rc = c.run_at_ms > easel_wall_ms() ? easel_queue_retry(q, id, env, c.run_at_ms)
                                       : easel_queue_push(q, env, strlen(env));
    if (rc) {
        api_queue_failed(x, r, rc);
        goto out;
    }
    payload = in.payload ? cJSON_PrintUnformatted(in.payload) : NULL;
    input = in.input ? cJSON_PrintUnformatted(in.input) : NULL;
    meta = in.metadata ? cJSON_PrintUnformatted(in.metadata) : NULL;
    struct easel_job_new jn = {
        .id = id,
        .type = in.type,
        .model = in.model,
        .priority = in.priority,
        .idempotency_key = in.idempotency_key,
        .payload = payload ? payload : "{}",
        .input = input,
        .metadata = meta,
        .webhook = in.webhook,
        .webhook_events = in.webhook_events,
        .channel = in.channel,
        .owner = in.owner,
        .max_attempts = easel_registry_chain_attempts(x->reg, in.model),
        .status = EASEL_STATUS_QUEUED,
        .run_after_ms = c.run_at_ms > easel_wall_ms() ? c.run_at_ms : 0,
        .traceparent = tp,
        .cost = cost,
        .credit_budget = budget,
    };
    /* the app's own record of the job, if a rule keeps one */
    const struct easel_record_rule *rr = easel_registry_record_for(x->reg, &in, &record_key);
    if (rr) {
        jn.record_rule = rr->name;
        jn.record_key = record_key;
    }
    easel_span_str(span, "easel.model", in.model);
    bool created = false;
    rc = easel_store_job_insert(s, &jn, &created);
    if (rc) {
        /* the entry is queued: the claimer records the job when it takes it */
        api_store_failed(x, r, rc);
        goto out;
    }
    struct easel_job *j = NULL;
    rc = easel_store_job_get(s, id, &j);
    if (rc == EASEL_ENOTFOUND && ext) {
        /* the armed refund was sent before the job was recorded: the
         * entry is queued, and its claimer reserves again */
        api_unavailable(r, "credits", "the reservation was undone before the job was recorded");
        goto out;
    }
    if (rc) {
        api_store_failed(x, r, rc);
        goto out;
    }
    if (created && j->status == EASEL_STATUS_DEAD && j->error_reason &&
        !strcmp(j->error_reason, "insufficient_credits")) {
        /* spent by another request since the check: the job is born dead */
        api_error(r, 402, "insufficient_credits", "job %s: %s", id,
                  j->error_message ? j->error_message : "the owner cannot cover its cost");
        easel_job_free(j);
        goto out;
    }
    reply_or_wait(r, 201, j);
    easel_job_free(j);
out:
    easel_span_int(span, "http.response.status_code", r->status);
    if (r->status >= 400)
        easel_span_error(span, "the job was not created");
    easel_span_end(span);
    easel_intake_cleanup(&in);
    cJSON_Delete(c.body);
    free(env);
    free(payload);
    free(input);
    free(meta);
    free(record_key);
}

/* --------------------------------------------------------------- list */

void api_jobs_list(struct api_ctx *x, struct api_req *r)
{
    struct easel_job_query q = {.status = -1, .limit = 100};
    const char *v;
    char owner_buf[300];
    if ((v = api_arg(r, "status")) && *v) {
        enum easel_status st;
        if (easel_status_parse(v, &st)) {
            api_error(r, 400, "invalid_query", "status \"%s\" is not a job status", v);
            return;
        }
        q.status = (int)st;
    }
    if ((v = api_arg(r, "model")) && *v)
        q.model = v;
    if ((v = api_arg(r, "owner")) && *v) {
        /* channel:id, or a bare id for any channel */
        easel_strlcpy(owner_buf, v, sizeof(owner_buf));
        char *colon = strchr(owner_buf, ':');
        if (colon) {
            *colon = '\0';
            q.channel = owner_buf;
            q.owner = colon + 1;
        } else {
            q.owner = owner_buf;
        }
    }
    if ((v = api_arg(r, "created_after")) && *v && !api_parse_rfc3339(v, &q.created_after_ms)) {
        api_error(r, 400, "invalid_query", "created_after must be an RFC 3339 time");
        return;
    }
    if (!api_arg_limit(r, &q.limit))
        return;
    char cursor_id[EASEL_UUID_LEN + 1];
    if ((v = api_arg(r, "cursor")) && *v) {
        if (!api_parse_cursor(v, &q.after_created_us, cursor_id)) {
            api_error(r, 400, "invalid_query", "cursor is not one this API gave out");
            return;
        }
        q.after_id = cursor_id;
    }
    const struct api_token *t = r->tok;
    if (t && t->owner) {
        if ((q.owner && strcmp(q.owner, t->owner)) ||
            (q.channel && strcmp(q.channel, t->channel))) {
            /* someone else's jobs: for this token there are none */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddArrayToObject(o, "items");
            cJSON_AddNullToObject(o, "next_cursor");
            api_reply_json(r, 200, o);
            return;
        }
        q.owner = t->owner;
        q.channel = t->channel;
    }
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    struct easel_job **jobs = NULL;
    size_t n = 0;
    int64_t last_us = 0;
    easel_err rc = easel_store_job_query(s, &q, &jobs, &n, &last_us);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, easel_api_job_view(r->base_url, jobs[i]));
    if (n == q.limit) {
        char cur[80];
        easel_fmt_cut(cur, sizeof(cur), "%lld.%s", (long long)last_us, jobs[n - 1]->id);
        cJSON_AddStringToObject(o, "next_cursor", cur);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    easel_store_jobs_free(jobs, n);
    api_reply_json(r, 200, o);
}

/* ------------------------------------------------ cancel, retry, events */

/* Cancel and retry: the CLI's operation on a job this request may see,
 * then the job as it is now; 409 when its state does not allow it. */
/* The request's view of the registry's credits, for a manual retry. */
struct easel_credits_ctx api_credits_ctx(struct api_ctx *x)
{
    return (struct easel_credits_ctx){.cfg = x->reg ? &x->reg->credits : NULL,
                                      .app_url = x->o->app_database_url,
                                      .app = &x->app};
}

static easel_err retry_op(struct api_ctx *x, struct easel_queue *q, const char *id,
                          struct easel_error *err)
{
    struct easel_credits_ctx cc = api_credits_ctx(x);
    return easel_client_retry_credits(x->s, q, &cc, id, err);
}

static easel_err cancel_op(struct api_ctx *x, struct easel_queue *q, const char *id,
                           struct easel_error *err)
{
    return easel_client_cancel(x->s, q, id, err);
}

static void change(struct api_ctx *x, struct api_req *r,
                   easel_err (*op)(struct api_ctx *, struct easel_queue *, const char *,
                                   struct easel_error *))
{
    struct easel_job *j = api_job_load(x, r, r->params[0]);
    if (!j)
        return;
    easel_job_free(j);
    struct easel_queue *q = api_queue(x, r);
    if (!q)
        return;
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = op(x, q, r->params[0], &err);
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
    if ((j = api_job_load(x, r, r->params[0]))) {
        api_reply_job(r, 200, j);
        easel_job_free(j);
    }
}

void api_jobs_cancel(struct api_ctx *x, struct api_req *r)
{
    change(x, r, cancel_op);
}

void api_jobs_retry(struct api_ctx *x, struct api_req *r)
{
    change(x, r, retry_op);
}

void api_jobs_events(struct api_ctx *x, struct api_req *r)
{
    struct easel_job *j = api_job_load(x, r, r->params[0]);
    if (!j)
        return;
    easel_job_free(j);
    struct easel_event *ev = NULL;
    size_t n = 0;
    easel_err rc = easel_store_events(x->s, r->params[0], &ev, &n);
    if (rc) {
        api_store_failed(x, r, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, easel_event_to_json(&ev[i]));
    easel_store_events_free(ev, n);
    api_reply_json(r, 200, o);
}
