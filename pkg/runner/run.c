/*
 * run.c - one attempt of one job, start to finish (job mode).
 *
 * The order matters for correctness: the job is claimed in Postgres
 * (DISPATCHED -> RUNNING, checking the attempt number) before any work, so a
 * duplicate or stale worker gives up without side effects; outputs are
 * written under names that depend only on the job, so a retry overwrites
 * instead of duplicating; and the final transition checks RUNNING, so a job
 * canceled meanwhile stays canceled.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "easel/providers.h"
#include "easel/queue.h"
#include "easel/registry.h"
#include "easel/runner.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

/* ------------------------------------------------------------ heartbeat */

struct heartbeat {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, started;
    const char *url;
    const char *job_id;
    int64_t every_ms;
};

static void *heartbeat_main(void *arg)
{
    struct heartbeat *h = arg;
    struct easel_store *s = NULL;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (h->every_ms % 1000) * 1000000;
        ts.tv_sec += h->every_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        if (!s && easel_store_open(h->url, &s, NULL) != EASEL_OK)
            s = NULL;
        if (s && easel_store_job_heartbeat(s, h->job_id) == EASEL_ECONN) {
            easel_warn(h->job_id, "heartbeat failed: %s", easel_store_errstr(s));
            easel_store_free(s);
            s = NULL;
        }
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    easel_store_free(s);
    return NULL;
}

static void heartbeat_start(struct heartbeat *h, const char *url,
                            const char *job_id, int64_t every_ms)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->url = url;
    h->job_id = job_id;
    h->every_ms = every_ms > 0 ? every_ms : 5000;
    h->started = pthread_create(&h->thread, NULL, heartbeat_main, h) == 0;
}

static void heartbeat_stop(struct heartbeat *h)
{
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}

/* ------------------------------------------------------------ the work */

/* Set by SIGTERM: the controller canceled the job, or the pod is going
 * away. A provider call in flight is canceled at the provider. */
static volatile sig_atomic_t stop_requested;
static int64_t run_started_ms; /* when this worker began, easel_now_ms() clock */

/* When a provider call must give up: a little before the controller's own
 * deadline for the attempt, so the worker can still cancel the call at the
 * provider and record why, rather than be killed mid-call. */
static int64_t call_deadline(const struct easel_model *m)
{
    int64_t t = m->timeout_ms > 0 ? m->timeout_ms : 120000;
    int64_t margin = t / 10 > 5000 ? 5000 : t / 10;
    return run_started_ms + t - margin;
}

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct outputs {
    struct easel_sink *sink;
    const struct easel_job *job;
    char date[16];        /* the job's creation day, UTC, for {date} in keys */
    const char *tmpl;     /* the object key template for the job's channel */
    const char *model;    /* the model that produced the output */
    cJSON *list;
    cJSON *sizes;         /* variant -> encoded bytes, for the image metrics */
    int64_t store_ms;     /* time spent storing, not processing */
    char **stored;        /* keys this attempt stored, to remove if it fails */
    size_t nstored;
    struct easel_error *err;
};

/* An attempt that fails after storing some variants removes them, so the
 * store never holds part of a result the record does not list (a retry
 * writes the same keys again anyway). Best effort: a key that cannot be
 * removed is logged, and the next attempt overwrites it. */
static void unstore(struct outputs *o)
{
    size_t removed = 0;
    for (size_t i = 0; i < o->nstored; i++) {
        struct easel_error e;
        easel_error_clear(&e);
        if (easel_sink_delete(o->sink, o->stored[i], &e) == EASEL_OK)
            removed++;
        else
            easel_warn(o->job->id, "could not remove %s, stored before the failure: %s",
                       o->stored[i], e.msg);
    }
    if (o->nstored)
        easel_info(o->job->id, "removed %zu of the %zu outputs stored before the failure",
                   removed, o->nstored);
}

static void outputs_cleanup(struct outputs *o)
{
    for (size_t i = 0; i < o->nstored; i++)
        free(o->stored[i]);
    free(o->stored);
}

static easel_err put_variant(void *ctx, const struct easel_variant_out *v)
{
    struct outputs *o = ctx;
    char key[1024], why[300];
    struct easel_key_vars kv = {o->job->id, v->spec->name, easel_format_ext(v->spec->format),
                                o->job->owner, o->job->channel, o->model, o->date};
    if (easel_object_key(o->tmpl, &kv, key, sizeof(key), why, sizeof(why)))
        return easel_error_set(o->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KEY,
                               "cannot name the %s output: %s", v->spec->name, why);
    char *url = NULL;
    int64_t t0 = easel_now_ms();
    cJSON_AddNumberToObject(o->sizes, v->spec->name, (double)v->len);
    easel_err rc = easel_sink_put(o->sink, key, v->data, v->len,
                                  easel_format_mime(v->spec->format), &url,
                                  o->err);
    o->store_ms += easel_now_ms() - t0;
    if (rc)
        return rc;
    char **grown = realloc(o->stored, (o->nstored + 1) * sizeof(*grown));
    if (grown) {
        o->stored = grown;
        if ((grown[o->nstored] = easel_strdup(key)))
            o->nstored++;
    }
    cJSON *item = cJSON_CreateObject();
    if (!item) {
        free(url);
        return EASEL_ENOMEM;
    }
    cJSON_AddStringToObject(item, "variant", v->spec->name);
    cJSON_AddStringToObject(item, "url", url);
    /* results in a bucket get a link people can open, for a while */
    int64_t expires_at = 0;
    char *signed_url = easel_sink_presign(o->sink, url, &expires_at);
    if (signed_url) {
        cJSON_AddStringToObject(item, "presigned_url", signed_url);
        cJSON_AddNumberToObject(item, "presigned_expires_at", (double)expires_at);
        free(signed_url);
    }
    cJSON_AddStringToObject(item, "format", easel_format_name(v->spec->format));
    cJSON_AddNumberToObject(item, "width", v->width);
    cJSON_AddNumberToObject(item, "height", v->height);
    cJSON_AddNumberToObject(item, "bytes", (double)v->len);
    cJSON_AddItemToArray(o->list, item);
    free(url);
    return EASEL_OK;
}

/* Seed may come as a number or a numeric string; anything else hashes. */
static int64_t seed_of(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    if (cJSON_IsString(v) && v->valuestring) {
        int64_t s;
        if (easel_parse_i64(v->valuestring, INT64_MIN, INT64_MAX, &s) == 0)
            return s;
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (const char *p = v->valuestring; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        return (int64_t)(h >> 1);
    }
    return 0;
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring && *v->valuestring
               ? v->valuestring
               : dflt;
}

/* A job's source: fetched, then loaded under the limits, with the input
 * formats the registry enables on top of JPEG, PNG and WebP. */
static easel_err fetch_image(const struct easel_runner_opts *o, const struct easel_registry *reg,
                             const char *url, struct easel_image **img,
                             int64_t *bytes, struct easel_error *err)
{
    void *data = NULL;
    size_t len = 0;
    easel_err rc = easel_fetch(url, &o->fetch, &data, &len, err);
    if (rc)
        return rc;
    *bytes = (int64_t)len;
    struct easel_image_limits lim = o->limits;
    lim.extra_formats |= reg->input_formats;
    rc = easel_image_load(data, len, &lim, img, err);
    free(data);
    return rc;
}

#define PROVIDER_INPUT_EDGE 1024

/* The render context for a provider: the job's fields, plus "images" (and
 * "image", the first) as objects a template picks from with a filter:
 * url, data_uri, base64, mime, width, height, file. */
static cJSON *provider_fields(const cJSON *fields, const struct easel_src_image *im,
                              size_t n)
{
    cJSON *f = fields && cJSON_IsObject(fields) ? cJSON_Duplicate(fields, 1)
                                                : cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!f || !arr) {
        cJSON_Delete(f);
        cJSON_Delete(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char *b64 = easel_base64(im[i].data, im[i].len);
        size_t ul = b64 ? strlen(b64) + 64 : 0;
        char *uri = b64 ? malloc(ul) : NULL;
        if (!o || !b64 || !uri) {
            free(b64);
            free(uri);
            cJSON_Delete(o);
            cJSON_Delete(arr);
            cJSON_Delete(f);
            return NULL;
        }
        snprintf(uri, ul, "data:%s;base64,%s", im[i].mime, b64);
        cJSON_AddStringToObject(o, "url", im[i].url);
        cJSON_AddStringToObject(o, "mime", im[i].mime);
        cJSON_AddStringToObject(o, "base64", b64);
        cJSON_AddStringToObject(o, "data_uri", uri);
        cJSON_AddNumberToObject(o, "width", im[i].width);
        cJSON_AddNumberToObject(o, "height", im[i].height);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "file"), "$file", (double)i);
        free(b64);
        free(uri);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(f, "images");
    cJSON_DeleteItemFromObjectCaseSensitive(f, "image");
    if (n)
        cJSON_AddItemToObject(f, "image", cJSON_Duplicate(cJSON_GetArrayItem(arr, 0), 1));
    cJSON_AddItemToObject(f, "images", arr);
    return f;
}

/* Calls a remote model: sources resized and encoded for it, the input
 * template rendered, the provider called within the model's timeout, and
 * its output loaded under the same limits as any untrusted image. */
static easel_err call_provider(const struct easel_runner_opts *o, const struct easel_model *m,
                               const struct easel_job *job, const cJSON *fields,
                               struct easel_image *const *srcs, const cJSON *const *urls,
                               size_t n, struct easel_image **out, cJSON **info,
                               struct easel_error *err)
{
    const char *key = m->credential_env ? getenv(m->credential_env) : NULL;
    if (!key || !*key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_NO_CREDENTIAL,
                               "model %s needs its API key in the environment variable %s",
                               m->id, m->credential_env ? m->credential_env : "(none named)");
    struct easel_src_image im[2];
    void *enc[2] = {NULL, NULL};
    struct easel_image *fit[2] = {NULL, NULL};
    cJSON *ctx = NULL, *rendered = NULL;
    struct easel_http *http = NULL;
    struct easel_call_result res = {0};
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = easel_image_fit(srcs[i], m->input_edge > 0 ? m->input_edge : PROVIDER_INPUT_EDGE,
                             &fit[i], err);
        if (!rc)
            rc = easel_image_encode(fit[i], EASEL_FMT_JPEG, 90, &enc[i], &im[i].len, err);
        if (!rc) {
            im[i].url = urls[i]->valuestring;
            im[i].data = enc[i];
            im[i].mime = "image/jpeg";
            im[i].width = easel_image_width(fit[i]);
            im[i].height = easel_image_height(fit[i]);
        }
    }
    if (rc)
        goto out;
    if (!(ctx = provider_fields(fields, im, n))) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    rc = easel_registry_render_input(m, ctx, &rendered);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                        "could not build the %s request from the job fields", m->id);
        goto out;
    }
    if ((rc = easel_http_new(&http)))
        goto out;
    int64_t t0 = easel_now_ms();
    struct easel_call call = {.model = m, .api_key = key, .input = rendered,
                              .images = im, .nimages = n,
                              .deadline_ms = call_deadline(m),
                              .stop = &stop_requested, .job_id = job->id, .http = http,
                              .fetch = &o->fetch};
    rc = easel_provider_call(&call, &res, err);
    if (rc)
        goto out;
    easel_info(job->id, "%s answered in %lld ms (%zu bytes)", m->id,
               (long long)(easel_now_ms() - t0), res.len);
    rc = easel_image_load(res.data, res.len, &o->limits, out, err);
    if (rc) {
        easel_error_prefix(err, "the %s output: ", m->provider);
        goto out;
    }
    *info = cJSON_CreateObject();
    if (*info) {
        cJSON_AddStringToObject(*info, "name", m->provider);
        if (res.provider_ref)
            cJSON_AddStringToObject(*info, "ref", res.provider_ref);
        cJSON_AddNumberToObject(*info, "duration_ms", (double)(easel_now_ms() - t0));
        cJSON_AddNumberToObject(*info, "output_bytes", (double)res.len);
        if (res.usage) {
            cJSON_AddItemToObject(*info, "usage", res.usage);
            res.usage = NULL;
        }
    }
out:
    for (size_t i = 0; i < 2; i++) {
        free(enc[i]);
        easel_image_free(fit[i]);
    }
    easel_call_result_cleanup(&res);
    easel_http_free(http);
    cJSON_Delete(ctx);
    cJSON_Delete(rendered);
    return rc;
}

/* ---------------------------------------------------- circuit breakers */

/* The breakers live in Redis so every worker and controller shares them.
 * Without Redis the worker calls providers anyway (fails open): a breaker
 * saves money and time, it is not needed for correctness. */
static struct easel_queue *breaker_q;
static bool breaker_tried;

static struct easel_queue *breakers(const struct easel_runner_opts *o)
{
    if (breaker_tried)
        return breaker_q;
    breaker_tried = true;
    if (!o->redis_url || !*o->redis_url)
        return NULL;
    struct easel_queue_opts qo = {.url = o->redis_url,
                                  .name = o->queue && *o->queue ? o->queue : "easel:jobs",
                                  .connect_timeout_ms = 1000};
    struct easel_error e;
    easel_error_clear(&e);
    if (easel_queue_open(&qo, &breaker_q, &e) != EASEL_OK) {
        easel_warn(NULL, "circuit breakers off for this attempt: %s", e.msg);
        breaker_q = NULL;
    }
    return breaker_q;
}

/* Failures that say the endpoint is unwell (and so count towards opening
 * its breaker): not rate limits, refusals, bad input or our own stop. */
static bool breaker_counts(const struct easel_error *e)
{
    if (e->http_status >= 500)
        return true;
    switch (e->why) {
    case EASEL_R_PROVIDER_UNREACHABLE:
    case EASEL_R_PROVIDER_TIMEOUT:
    case EASEL_R_PROVIDER_BAD_RESPONSE:
    case EASEL_R_PROVIDER_FAILED:
        return true;
    default:
        return false;
    }
}

/* Calls the model unless its endpoint's breaker is open, and tells the
 * breaker how the call went. */
static easel_err guarded_call(const struct easel_runner_opts *o, const struct easel_registry *reg,
                              const struct easel_model *m, const struct easel_job *job,
                              const cJSON *fields, struct easel_image *const *srcs,
                              const cJSON *const *urls, size_t n, struct easel_image **out,
                              cJSON **info, struct easel_error *err)
{
    char endpoint[600];
    snprintf(endpoint, sizeof(endpoint), "%s %s", m->provider, easel_provider_base(m));
    struct easel_queue *bq = breakers(o);
    bool allowed = true, probe = false;
    int64_t wait = 0;
    if (bq && easel_queue_breaker_allow(bq, endpoint, reg->breaker_cooldown_ms, &allowed, &probe,
                                        &wait) != EASEL_OK)
        allowed = true; /* Redis trouble: fail open */
    if (!allowed) {
        easel_error_set(err, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_BREAKER_OPEN,
                        "the circuit breaker for %s is open after repeated failures; a probe "
                        "may go in %lld ms", endpoint, (long long)wait);
        err->retry_after_ms = wait > 0 ? wait : 1;
        return EASEL_EAGAIN;
    }
    if (probe)
        easel_info(job->id, "circuit breaker for %s is half-open: this call is the probe",
                   endpoint);
    easel_err rc = call_provider(o, m, job, fields, srcs, urls, n, out, info, err);
    if (bq && !stop_requested && (rc == EASEL_OK || breaker_counts(err) || probe)) {
        enum easel_breaker_state st;
        bool changed = false;
        bool ok = rc == EASEL_OK || !breaker_counts(err);
        if (easel_queue_breaker_record(bq, endpoint, ok, reg->breaker_failures,
                                       reg->breaker_cooldown_ms, &st, &changed) == EASEL_OK &&
            changed) {
            if (st == EASEL_BREAKER_OPEN)
                easel_log_kv(EASEL_LOG_WARN, job->id,
                             (const char *const[]){"breaker", "open", "endpoint", endpoint, NULL},
                             "circuit breaker for %s opened (%s); calls are refused for %lld ms",
                             endpoint, probe ? "the probe failed" : "repeated failures",
                             (long long)reg->breaker_cooldown_ms);
            else if (st == EASEL_BREAKER_CLOSED)
                easel_log_kv(EASEL_LOG_INFO, job->id,
                             (const char *const[]){"breaker", "closed", "endpoint", endpoint, NULL},
                             "circuit breaker for %s closed: the provider answers again",
                             endpoint);
        }
    }
    return rc;
}

/* Runs the model and stores the variants; fills *result (JSON text). */
/* A failure that says the model cannot be used at all (no key, refused
 * key, spent quota, provider not built in): the chain's next model is
 * tried at once, in the same attempt. */
static bool model_unavailable(const struct easel_error *e)
{
    switch (e->why) {
    case EASEL_R_NO_CREDENTIAL:
    case EASEL_R_PROVIDER_AUTH:
    case EASEL_R_QUOTA_EXHAUSTED:
    case EASEL_R_PROVIDER_UNSUPPORTED:
    case EASEL_R_BREAKER_OPEN:
        return true;
    default:
        return false;
    }
}

/* A model reached by failover inside an attempt was not gated by the
 * controller at dispatch: it takes its concurrency place and its rate
 * limit here, from the same Redis counters, waiting for them up to the
 * call's deadline. The place is given back when the job settles (the
 * controller releases every place held in the job's name). Without Redis
 * the limits cannot be shared, and the call goes ahead. */
static easel_err take_gates(const struct easel_runner_opts *o, const struct easel_model *m,
                            const struct easel_job *job, struct easel_error *err)
{
    struct easel_queue *q = m->concurrency > 0 || m->rate_requests > 0 ? breakers(o) : NULL;
    if (!q)
        return EASEL_OK;
    int64_t end = call_deadline(m);
    bool slot = m->concurrency <= 0, rate = m->rate_requests <= 0;
    while (!stop_requested) {
        int64_t wait = 250;
        if (!slot && easel_queue_slot_take(q, m->id, m->concurrency, job->id,
                                           easel_model_slot_hold_ms(m), &slot) != EASEL_OK)
            return EASEL_OK; /* Redis trouble: as at dispatch, fail open */
        if (slot && !rate &&
            easel_queue_rate_take(q, m->id, m->rate_requests, m->rate_per_ms, job->id, &rate,
                                  &wait) != EASEL_OK)
            return EASEL_OK;
        if (slot && rate)
            return EASEL_OK;
        int64_t left = end - easel_now_ms();
        if (left <= 0)
            break;
        easel_sleep_ms(wait < 50 ? 50 : wait > left ? left : wait > 1000 ? 1000 : wait);
    }
    if (slot && m->concurrency > 0)
        easel_queue_slot_release(q, m->id, job->id);
    return easel_error_set(err, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_MODEL_BUSY,
                           "failover model %s stayed at its %s limit until the attempt's "
                           "deadline", m->id, slot ? "rate" : "concurrency");
}

static easel_err do_work(const struct easel_runner_opts *o,
                         const struct easel_registry *reg,
                         const struct easel_job *job, char **result,
                         const char **used, struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    cJSON *input = NULL, *rendered = NULL, *res = NULL, *provider_info = NULL;
    struct easel_image *src = NULL, *inset = NULL, *out = NULL;
    struct easel_sink *sink = NULL;
    int64_t t0 = easel_now_ms();

    const struct easel_preset *preset = NULL;
    const struct easel_model *m = easel_registry_model(reg, job->model);
    if (!m) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_UNKNOWN_MODEL,
                             "model \"%s\" is not in the registry (%s)",
                             job->model, reg->source);
        goto out;
    }
    /* the attempt's model in the failover chain (the model itself first) */
    size_t pos = 0;
    const struct easel_model *cm =
        easel_registry_chain_model(reg, job->model, job->attempts, NULL, &pos);
    if (cm)
        m = cm;
    input = job->input ? cJSON_Parse(job->input) : NULL;
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(input, "images");
    cJSON *fields = cJSON_GetObjectItemCaseSensitive(input, "fields");
    /* the last attempt's output failed a check: this one asks for another
     * image, not the same one again */
    if (job->attempts > 1 && easel_reason_is_quality(easel_reason_parse(job->error_reason))) {
        if (!fields && input)
            fields = cJSON_AddObjectToObject(input, "fields");
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(fields, "seed");
        char was[32] = "none";
        if (cJSON_IsNumber(old))
            snprintf(was, sizeof(was), "%.0f", old->valuedouble);
        if (easel_quality_reseed(fields, job->id, job->attempts))
            easel_info(job->id, "the last output failed its %s check: seed %s -> %.0f",
                       job->error_reason + 8, was,
                       cJSON_GetObjectItemCaseSensitive(fields, "seed")->valuedouble);
    }
    const cJSON *first = cJSON_GetArrayItem(images, 0);
    if (!cJSON_IsString(first)) {
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                             EASEL_R_NO_SOURCE_IMAGE,
                             "the job has no source image URL");
        goto out;
    }
    int64_t src_bytes = 0, inset_bytes = 0;
    rc = fetch_image(o, reg, first->valuestring, &src, &src_bytes, err);
    if (rc)
        goto out;
    const cJSON *second = cJSON_GetArrayItem(images, 1);
    if (cJSON_IsString(second)) {
        rc = fetch_image(o, reg, second->valuestring, &inset, &inset_bytes, err);
        if (rc)
            goto out;
    }

    while (strcmp(m->provider, "local") != 0) {
        struct easel_image *srcs[2] = {src, inset};
        const cJSON *urls[2] = {first, second};
        rc = guarded_call(o, reg, m, job, fields, srcs, urls, inset ? 2 : 1, &out,
                          &provider_info, err);
        const struct easel_model *next;
        if (rc && model_unavailable(err) &&
            (next = easel_registry_chain_next(reg, job->model, &pos)) != NULL) {
            easel_log_kv(EASEL_LOG_WARN, job->id,
                         (const char *const[]){"reason", err->reason, NULL},
                         "model %s cannot be used (%s); failing over to %s now", m->id,
                         err->msg, next->id);
            easel_error_clear(err);
            m = next;
            if ((rc = take_gates(o, m, job, err)))
                goto out;
            continue;
        }
        if (rc)
            goto out;
        goto variants;
    }
    rc = easel_registry_render_input(m, fields, &rendered);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                        "could not build the model input from the job fields");
        goto out;
    }
    struct easel_stage_params p = {
        .style = str_or(rendered, "style", "modern"),
        .seed = seed_of(cJSON_GetObjectItemCaseSensitive(rendered, "seed")),
        .label = str_or(rendered, "label", NULL),
    };
    /* The local stand-in can simulate a provider's latency (load tests,
     * demos, crash drills); a real provider call takes its place later. */
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(rendered, "latency_ms");
    int64_t latency = lat ? seed_of(lat) : 0;
    for (int64_t end = easel_now_ms() + (latency > 600000 ? 600000 : latency);
         latency > 0 && !stop_requested && easel_now_ms() < end;)
        easel_sleep_ms(20);
    if (stop_requested) {
        rc = easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_TERMINATED,
                             "stopped while the stand-in model ran");
        goto out;
    }
    rc = easel_image_stage(src, inset, &p, &out, err);
    if (rc)
        goto out;

variants:;
    uint64_t phash = 0;
    rc = easel_quality_check(m, src, out, job->error_message, &phash, err);
    if (rc) {
        easel_log_kv(EASEL_LOG_WARN, job->id, (const char *const[]){"reason", err->reason, NULL},
                     "%s's output failed a check: %s", m->id, err->msg);
        goto out;
    }
    preset = easel_registry_preset(reg, m->preset ? m->preset : "default");
    if (!preset) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_UNKNOWN_PRESET, "output preset \"%s\" is not defined",
                             m->preset ? m->preset : "default");
        goto out;
    }
    *used = m->id;
    if (stop_requested) {
        rc = easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_TERMINATED,
                             "the worker was asked to stop before storing the outputs");
        goto out;
    }
    rc = easel_sink_open(o->storage_url, &sink, err);
    if (rc)
        goto out;
    res = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(res, "outputs");
    if (!res || !list) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    struct outputs ctx = {.sink = sink, .job = job,
                          .tmpl = easel_key_template_for((const char *const *)reg->paths,
                                                         job->channel),
                          .model = m->id, .list = list, .err = err,
                          .sizes = cJSON_CreateObject()};
    time_t created = (time_t)(job->created_ms / 1000);
    struct tm tm;
    if (gmtime_r(&created, &tm))
        strftime(ctx.date, sizeof(ctx.date), "%Y-%m-%d", &tm);
    int64_t tv = easel_now_ms();
    rc = easel_image_variants(out, preset, put_variant, &ctx, err);
    if (rc) {
        unstore(&ctx);
        outputs_cleanup(&ctx);
        cJSON_Delete(ctx.sizes);
        goto out;
    }
    outputs_cleanup(&ctx);
    /* recorded with the result, for the metrics endpoint to serve:
     * image_processing_duration_seconds, image_compression_ratio,
     * image_original_size_bytes, image_compressed_size_bytes{variant} */
    cJSON *im = cJSON_AddObjectToObject(res, "image_metrics");
    double total = 0;
    const cJSON *sz;
    cJSON_ArrayForEach(sz, ctx.sizes)
        total += sz->valuedouble;
    cJSON_AddStringToObject(im, "tool", "libvips");
    cJSON_AddNumberToObject(im, "processing_seconds",
                            (double)(easel_now_ms() - tv - ctx.store_ms) / 1000.0);
    cJSON_AddNumberToObject(im, "original_size_bytes", (double)src_bytes);
    cJSON_AddItemToObject(im, "compressed_size_bytes", ctx.sizes);
    cJSON_AddNumberToObject(im, "compression_ratio", total > 0 ? (double)src_bytes / total : 0);
    cJSON_AddStringToObject(res, "model", m->id);
    cJSON_AddStringToObject(res, "preset", preset->name);
    char hex[17];
    easel_phash_hex(phash, hex);
    cJSON_AddStringToObject(res, "phash", hex);
    cJSON *source = cJSON_AddObjectToObject(res, "source");
    cJSON_AddStringToObject(source, "url", first->valuestring);
    cJSON_AddNumberToObject(source, "width", easel_image_width(src));
    cJSON_AddNumberToObject(source, "height", easel_image_height(src));
    cJSON_AddNumberToObject(source, "bytes", (double)src_bytes);
    if (provider_info) {
        cJSON_AddItemToObject(res, "provider", provider_info);
        provider_info = NULL;
    }
    cJSON_AddNumberToObject(res, "duration_ms", (double)(easel_now_ms() - t0));
    *result = cJSON_PrintUnformatted(res);
    if (!*result)
        rc = EASEL_ENOMEM;
out:
    cJSON_Delete(input);
    cJSON_Delete(rendered);
    cJSON_Delete(res);
    easel_image_free(src);
    easel_image_free(inset);
    easel_image_free(out);
    easel_sink_free(sink);
    cJSON_Delete(provider_info);
    return rc;
}

static void write_termination(const struct easel_runner_opts *o,
                              const char *job_id, int attempt,
                              const char *status, int code,
                              const struct easel_error *e)
{
    if (!o->termination_log || !*o->termination_log)
        return;
    struct easel_buf b;
    easel_buf_init(&b, 4096);
    easel_buf_puts(&b, "{\"job_id\":");
    easel_buf_json_str(&b, job_id);
    easel_buf_printf(&b, ",\"attempt\":%d,\"status\":", attempt);
    easel_buf_json_str(&b, status);
    easel_buf_printf(&b, ",\"exit_code\":%d", code);
    if (e && e->code) {
        easel_buf_puts(&b, ",\"error_class\":");
        easel_buf_json_str(&b, easel_errclass_name(e->cls));
        easel_buf_puts(&b, ",\"error_reason\":");
        easel_buf_json_str(&b, e->reason);
        easel_buf_puts(&b, ",\"error\":");
        easel_buf_json_str(&b, e->msg);
    }
    easel_buf_puts(&b, "}\n");
    if (b.data && easel_write_file_atomic(o->termination_log, b.data, b.len))
        easel_warn(job_id, "could not write termination message to %s",
                   o->termination_log);
    easel_buf_cleanup(&b);
}

int easel_runner_run(const struct easel_runner_opts *o, const char *job_id)
{
    int code = EASEL_EXIT_INTERNAL;
    const char *final = "unknown";
    struct easel_store *s = NULL;
    struct easel_registry *reg = NULL;
    struct easel_job *job = NULL, *after = NULL;
    struct easel_error err;
    char *result = NULL;
    struct heartbeat hb;
    bool hb_on = false;
    easel_error_clear(&err);

    run_started_ms = easel_now_ms();
    /* A controller that goes away must not take us with it through a pipe. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);

    if (!easel_uuid_valid(job_id)) {
        easel_error_set(&err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                        "\"%s\" is not a job id (a UUID)", job_id);
        easel_error_log(NULL, "%s", err.msg);
        return EASEL_EXIT_USAGE;
    }
    easel_err rc = easel_store_open(o->database_url, &s, &err);
    if (rc) {
        easel_error_log(job_id, "cannot reach the database: %s", err.msg);
        code = EASEL_EXIT_UNAVAILABLE;
        final = "unavailable";
        goto out;
    }
    rc = easel_store_job_get(s, job_id, &job);
    if (rc == EASEL_ENOTFOUND) {
        easel_error_set(&err, rc, EASEL_CLASS_PERMANENT, EASEL_R_JOB_NOT_FOUND,
                        "no job with id %s", job_id);
        easel_error_log(job_id, "%s", err.msg);
        code = EASEL_EXIT_NOT_RUNNABLE;
        final = "not_found";
        goto out;
    } else if (rc) {
        easel_error_set(&err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_DATABASE_UNAVAILABLE,
                        "cannot load the job: %s", easel_store_errstr(s));
        easel_error_log(job_id, "%s", err.msg);
        code = EASEL_EXIT_UNAVAILABLE;
        final = "unavailable";
        goto out;
    }
    if (job->status != EASEL_STATUS_DISPATCHED ||
        (o->attempt > 0 && job->attempts != o->attempt)) {
        easel_error_set(&err, EASEL_ECONFLICT, EASEL_CLASS_PERMANENT,
                        EASEL_R_NOT_RUNNABLE,
                        "job is %s at attempt %d; this worker was started for attempt %d",
                        easel_status_name(job->status), job->attempts,
                        o->attempt);
        easel_warn(job_id, "%s: nothing to do", err.msg);
        code = job->status == EASEL_STATUS_CANCELED ? EASEL_EXIT_CANCELED
                                                    : EASEL_EXIT_NOT_RUNNABLE;
        final = easel_status_name(job->status);
        goto out;
    }
    struct easel_transition t = {.reason = "Started", .worker = o->worker};
    char msg[160];
    snprintf(msg, sizeof(msg), "attempt %d started on %s", job->attempts,
             o->worker ? o->worker : "a worker");
    t.message = msg;
    rc = easel_store_job_transition(s, job_id, B(DISPATCHED),
                                    EASEL_STATUS_RUNNING, &t, NULL);
    if (rc) {
        easel_warn(job_id, "could not mark the job running: %s (%s)",
                   easel_strerror(rc), easel_store_errstr(s));
        code = rc == EASEL_ECONN ? EASEL_EXIT_UNAVAILABLE : EASEL_EXIT_NOT_RUNNABLE;
        final = "not_runnable";
        goto out;
    }
    easel_info(job_id, "running attempt %d of model %s", job->attempts,
               job->model);
    heartbeat_start(&hb, o->database_url, job_id, o->heartbeat_ms);
    hb_on = true;

    const char *used = NULL;
    if (o->registry_text && *o->registry_text) {
        struct easel_diags d = {0};
        rc = easel_registry_parse(o->registry_text, strlen(o->registry_text),
                                  "inline registry", &reg, &d);
        if (rc)
            easel_error_set(&err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                            "the inline model registry is invalid (%zu problems; first: %s)",
                            d.n, d.n ? d.items[0].msg : "?");
        easel_diags_cleanup(&d);
    } else if (o->registry_path && *o->registry_path) {
        struct easel_diags d = {0};
        rc = easel_registry_load_file(o->registry_path, &reg, &d);
        if (rc) {
            easel_error_set(&err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_REGISTRY_INVALID,
                            "the model registry %s cannot be loaded (%zu problems)",
                            o->registry_path, d.n);
        }
        easel_diags_cleanup(&d);
    } else {
        rc = easel_registry_builtin(&reg);
    }
    if (rc == EASEL_OK)
        rc = do_work(o, reg, job, &result, &used, &err);

    if (rc == EASEL_OK) {
        struct easel_transition done = {
            .reason = "Succeeded",
            .message = "outputs stored",
            .result = result,
            .result_model = used ? used : job->model,
            .clear_error = true,
        };
        rc = easel_store_job_transition(s, job_id, B(RUNNING),
                                        EASEL_STATUS_SUCCEEDED, &done, &after);
        if (rc == EASEL_OK) {
            easel_info(job_id, "succeeded");
            code = EASEL_EXIT_OK;
            final = "succeeded";
        } else if (rc == EASEL_ECONFLICT) {
            easel_job_free(after);
            after = NULL;
            easel_store_job_get(s, job_id, &after);
            final = after ? easel_status_name(after->status) : "unknown";
            code = after && after->status == EASEL_STATUS_CANCELED
                       ? EASEL_EXIT_CANCELED
                       : EASEL_EXIT_NOT_RUNNABLE;
            easel_warn(job_id, "work finished but the job is now %s; result discarded",
                       final);
        } else {
            easel_error_log(job_id, "could not record success: %s",
                            easel_store_errstr(s));
            code = EASEL_EXIT_UNAVAILABLE;
            final = "unavailable";
        }
        goto out;
    }

    if (stop_requested) {
        /* SIGTERM: a timeout, a cancel or a pod going away. Whoever sent it
         * knows why and records it; a guess here would hide that. */
        easel_warn(job_id, "stopped by SIGTERM (%s); leaving the record to the controller",
                   err.msg[0] ? err.msg : "no error");
        code = EASEL_EXIT_TERMINATED;
        final = "terminated";
        goto out;
    }
    if (err.code == EASEL_OK)
        easel_error_set(&err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                        "%s (%s)", easel_strerror(rc), easel_err_name(rc));
    if (err.cls == EASEL_CLASS_NONE)
        err.cls = EASEL_CLASS_RETRYABLE;
    easel_log_kv(EASEL_LOG_WARN, job_id,
                 (const char *const[]){"class", easel_errclass_name(err.cls),
                                       "reason", err.reason, NULL},
                 "attempt failed: %s", err.msg);
    struct easel_failure_plan plan;
    easel_failure_plan(reg, job->model, job->attempts, &plan);
    rc = easel_record_failure(s, job_id, B(RUNNING), &plan, job->attempts, &err, &after);
    if (rc == EASEL_OK) {
        final = easel_status_name(after->status);
        code = err.cls == EASEL_CLASS_PERMANENT ? EASEL_EXIT_PERMANENT
                                                : EASEL_EXIT_RETRYABLE;
    } else if (rc == EASEL_ECONFLICT) {
        code = EASEL_EXIT_CANCELED;
        final = "canceled";
    } else {
        code = EASEL_EXIT_UNAVAILABLE;
        final = "unavailable";
    }
out:
    if (hb_on)
        heartbeat_stop(&hb);
    easel_queue_free(breaker_q);
    breaker_q = NULL;
    breaker_tried = false;
    write_termination(o, job_id, job ? job->attempts : o->attempt, final,
                      code, &err);
    free(result);
    easel_job_free(after);
    easel_job_free(job);
    easel_registry_unref(reg);
    easel_store_free(s);
    return code;
}
