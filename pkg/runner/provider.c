/*
 * provider.c - one call of a remote model, as an attempt makes it: the
 * sources resized and encoded for the provider, the model's input template
 * rendered over the job's fields, the call made within the attempt's
 * deadline and with its stop flag (so a SIGTERM cancels the call at the
 * provider), and the output loaded under the same limits as any untrusted
 * image.
 *
 * Each endpoint has a circuit breaker, kept in Redis so every worker and
 * controller shares it. Without Redis the worker calls providers anyway
 * (fails open): a breaker saves money and time, it is not needed for
 * correctness.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/providers.h"
#include "runner_int.h"

#define PROVIDER_INPUT_EDGE 1024

/* The render context for a provider: the job's fields, plus "images" (and
 * "image", the first) as objects a template picks from with a filter:
 * url, data_uri, base64, mime, width, height, file. NULL when out of
 * memory. */
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
        /* the whole data URI or none: a provider reads it back */
        char *uri = b64 ? easel_asprintf("data:%s;base64,%s", im[i].mime, b64) : NULL;
        if (!o || !b64 || !uri) {
            free(b64);
            free(uri);
            cJSON_Delete(o);
            cJSON_Delete(arr);
            cJSON_Delete(f);
            return NULL;
        }
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

/* The sources as the provider gets them: fitted into the model's input
 * edge and encoded as JPEG. enc[] and fit[] are the caller's to free,
 * whatever happens. */
static easel_err encode_sources(struct attempt *a, const struct easel_model *m,
                                const struct runner_sources *src, struct easel_src_image *im,
                                void **enc, struct easel_image **fit)
{
    int edge = m->input_edge > 0 ? m->input_edge : PROVIDER_INPUT_EDGE;
    for (size_t i = 0; i < src->n; i++) {
        easel_err rc = easel_image_fit(src->img[i], edge, &fit[i], &a->err);
        if (!rc)
            rc = easel_image_encode(fit[i], EASEL_FMT_JPEG, 90, &enc[i], &im[i].len, &a->err);
        if (rc)
            return rc;
        im[i].url = src->urls[i]->valuestring;
        im[i].data = enc[i];
        im[i].mime = "image/jpeg";
        im[i].width = easel_image_width(fit[i]);
        im[i].height = easel_image_height(fit[i]);
    }
    return EASEL_OK;
}

/* What the record keeps of a call: provider, its reference, time, size,
 * usage (taken from res). NULL when out of memory. */
static cJSON *call_info(const struct easel_model *m, struct easel_call_result *res,
                        int64_t t0)
{
    cJSON *info = cJSON_CreateObject();
    if (!info)
        return NULL;
    cJSON_AddStringToObject(info, "name", m->provider);
    if (res->provider_ref)
        cJSON_AddStringToObject(info, "ref", res->provider_ref);
    cJSON_AddNumberToObject(info, "duration_ms", (double)(easel_now_ms() - t0));
    cJSON_AddNumberToObject(info, "output_bytes", (double)res->len);
    if (res->usage) {
        cJSON_AddItemToObject(info, "usage", res->usage);
        res->usage = NULL;
    }
    return info;
}

/* The provider call's span; its HTTP exchanges become its children. */
static struct easel_span *provider_span(struct attempt *a, const struct easel_model *m,
                                        struct easel_http *http)
{
    struct easel_span *s = easel_span_child(a->span, "easel.provider", EASEL_SPAN_CLIENT);
    easel_span_str(s, "easel.provider", m->provider);
    easel_span_str(s, "easel.model", m->id);
    easel_http_trace(http, s);
    return s;
}

static void provider_span_end(struct easel_span *s, struct easel_http *http,
                              const struct easel_call_result *res, easel_err rc,
                              const struct easel_error *err)
{
    if (!s)
        return;
    long status = easel_http_last_status(http);
    if (!status && rc)
        status = err->http_status;
    if (status)
        easel_span_int(s, "http.response.status_code", status);
    easel_span_str(s, "easel.prediction_id", res->provider_ref);
    easel_span_str(s, "easel.reason", rc ? err->reason : NULL);
    easel_span_rc(s, rc, err->msg);
    easel_http_trace(http, NULL);
    easel_span_end(s);
}

/* Calls remote model m; see runner_provider_call, without the breaker. */
static easel_err call_provider(struct attempt *a, const struct easel_model *m,
                               const struct runner_sources *src, struct runner_output *out)
{
    const char *key = m->credential_env ? getenv(m->credential_env) : NULL;
    if (!key || !*key)
        return easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_NO_CREDENTIAL,
                               "model %s needs its API key in the environment variable %s",
                               m->id, m->credential_env ? m->credential_env : "(none named)");
    struct easel_src_image im[2];
    void *enc[2] = {NULL, NULL};
    struct easel_image *fit[2] = {NULL, NULL}, *img = NULL;
    cJSON *ctx = NULL, *rendered = NULL;
    struct easel_http *http = NULL;
    struct easel_call_result res = {0};
    struct easel_span *span = NULL;
    easel_err rc = encode_sources(a, m, src, im, enc, fit);
    if (rc)
        goto out;
    if (!(ctx = provider_fields(src->fields, im, src->n))) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    rc = easel_registry_render_input(m, ctx, &rendered);
    if (rc) {
        easel_error_set(&a->err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                        "could not build the %s request from the job fields", m->id);
        goto out;
    }
    if ((rc = easel_http_new(&http)))
        goto out;
    span = provider_span(a, m, http);
    int64_t t0 = easel_now_ms();
    struct easel_call call = {.model = m, .api_key = key, .input = rendered,
                              .images = im, .nimages = src->n,
                              .deadline_ms = runner_call_deadline(a, m),
                              .stop = a->stop, .job_id = a->job->id, .http = http,
                              .fetch = &a->o->fetch,
                              .progress = runner_call_progress, .progress_ud = a};
    runner_call_begin(a);
    if ((rc = easel_provider_call(&call, &res, &a->err)))
        goto out;
    easel_info(a->job->id, "%s answered in %lld ms (%zu bytes)", m->id,
               (long long)(easel_now_ms() - t0), res.len);
    if ((rc = easel_image_load(res.data, res.len, &a->o->limits, &img, &a->err))) {
        easel_error_prefix(&a->err, "the %s output: ", m->provider);
        goto out;
    }
    out->img = img;
    out->provider = call_info(m, &res, t0);
out:
    provider_span_end(span, http, &res, rc, &a->err);
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

struct easel_queue *runner_limits(struct attempt *a)
{
    if (a->limits_tried)
        return a->limits_q;
    a->limits_tried = true;
    const struct easel_runner_opts *o = a->o;
    if (!o->redis_url || !*o->redis_url)
        return NULL;
    struct easel_queue_opts qo = {.url = o->redis_url,
                                  .name = o->queue && *o->queue ? o->queue : "easel:jobs",
                                  .connect_timeout_ms = 1000};
    struct easel_error e;
    easel_error_clear(&e);
    if (easel_queue_open(&qo, &a->limits_q, &e) != EASEL_OK) {
        easel_warn(NULL, "circuit breakers off for this attempt: %s", e.msg);
        a->limits_q = NULL;
    }
    return a->limits_q;
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

/* Tells the endpoint's breaker how the call went (rc, a->err), and logs
 * when that opened or closed it. */
static void breaker_tell(struct attempt *a, struct easel_queue *bq, const char *endpoint,
                         easel_err rc, bool probe)
{
    const struct easel_registry *reg = a->reg;
    enum easel_breaker_state st;
    bool changed = false;
    bool ok = rc == EASEL_OK || !breaker_counts(&a->err);
    if (easel_queue_breaker_record(bq, endpoint, ok, reg->breaker_failures,
                                   reg->breaker_cooldown_ms, &st, &changed) != EASEL_OK ||
        !changed)
        return;
    if (st == EASEL_BREAKER_OPEN)
        easel_log_kv(EASEL_LOG_WARN, a->job->id,
                     (const char *const[]){"breaker", "open", "endpoint", endpoint, NULL},
                     "circuit breaker for %s opened (%s); calls are refused for %lld ms",
                     endpoint, probe ? "the probe failed" : "repeated failures",
                     (long long)reg->breaker_cooldown_ms);
    else if (st == EASEL_BREAKER_CLOSED)
        easel_log_kv(EASEL_LOG_INFO, a->job->id,
                     (const char *const[]){"breaker", "closed", "endpoint", endpoint, NULL},
                     "circuit breaker for %s closed: the provider answers again", endpoint);
}

easel_err runner_provider_call(struct attempt *a, const struct easel_model *m,
                               const struct runner_sources *src, struct runner_output *out)
{
    /* the breaker's key in Redis: a cut one would share another endpoint's
     * breaker, and a base URL has no bound here, so it is allocated */
    char *endpoint = easel_asprintf("%s %s", m->provider, easel_provider_base(m));
    if (!endpoint)
        return easel_error_set(&a->err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "out of memory naming the provider endpoint");
    easel_err rc = EASEL_OK;
    struct easel_queue *bq = runner_limits(a);
    bool allowed = true, probe = false;
    int64_t wait = 0;
    if (bq && easel_queue_breaker_allow(bq, endpoint, a->reg->breaker_cooldown_ms, &allowed,
                                        &probe, &wait) != EASEL_OK)
        allowed = true; /* Redis trouble: fail open */
    if (!allowed) {
        easel_error_set(&a->err, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_BREAKER_OPEN,
                        "the circuit breaker for %s is open after repeated failures; a probe "
                        "may go in %lld ms", endpoint, (long long)wait);
        a->err.retry_after_ms = wait > 0 ? wait : 1;
        rc = EASEL_EAGAIN;
        goto out;
    }
    if (probe)
        easel_info(a->job->id, "circuit breaker for %s is half-open: this call is the probe",
                   endpoint);
    int64_t t0 = easel_now_ms();
    rc = call_provider(a, m, src, out);
    runner_fig_call(a, m, easel_now_ms() - t0, rc ? &a->err : NULL);
    runner_fig_generation(a, rc == EASEL_OK);
    if (bq && !*a->stop && (rc == EASEL_OK || breaker_counts(&a->err) || probe))
        breaker_tell(a, bq, endpoint, rc, probe);
out:
    free(endpoint);
    return rc;
}
