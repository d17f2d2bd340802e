/*
 * model.c - the model stage of an attempt: which model runs, and running
 * it. Attempt k of a job belongs to the k-th place of its model's failover
 * chain (the registry says how many attempts each model gets). Within the
 * attempt, a model that cannot be used at all (no key, a refused key, a
 * spent quota, an open breaker) hands over at once to the chain's next
 * model, which first takes its own concurrency place and rate-limit token.
 * The "local" provider is a stand-in that stages the image in-process.
 */
#include <stdint.h>
#include <string.h>

#include "runner_int.h"

/* When a provider call must give up: a little before the controller's own
 * deadline for the attempt, so the worker can still cancel the call at the
 * provider and record why, rather than be killed mid-call. */
int64_t runner_call_deadline(const struct attempt *a, const struct easel_model *m)
{
    int64_t t = m->timeout_ms > 0 ? m->timeout_ms : 120000;
    int64_t margin = t / 10 > 5000 ? 5000 : t / 10;
    return a->started_ms + t - margin;
}

const struct easel_model *runner_job_model(struct attempt *a)
{
    const struct easel_model *m = easel_registry_model(a->reg, a->job->model);
    if (!m)
        easel_error_set(&a->err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT, EASEL_R_UNKNOWN_MODEL,
                        "model \"%s\" is not in the registry (%s)", a->job->model,
                        a->reg->source);
    return m;
}

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
 * the limits cannot be shared, and the call goes ahead. On failure
 * (model_busy) no place is held. */
static easel_err take_gates(struct attempt *a, const struct easel_model *m)
{
    struct easel_queue *q = m->concurrency > 0 || m->rate_requests > 0 ? runner_limits(a) : NULL;
    if (!q)
        return EASEL_OK;
    const char *id = a->job->id;
    int64_t end = runner_call_deadline(a, m);
    bool slot = m->concurrency <= 0, rate = m->rate_requests <= 0;
    while (!*a->stop) {
        int64_t wait = 250;
        if (!slot && easel_queue_slot_take(q, m->id, m->concurrency, id,
                                           easel_model_slot_hold_ms(m), &slot) != EASEL_OK)
            return EASEL_OK; /* Redis trouble: as at dispatch, fail open */
        if (slot && !rate &&
            easel_queue_rate_take(q, m->id, m->rate_requests, m->rate_per_ms, id, &rate,
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
        easel_queue_slot_release(q, m->id, id);
    return easel_error_set(&a->err, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_MODEL_BUSY,
                           "failover model %s stayed at its %s limit until the attempt's "
                           "deadline", m->id, slot ? "rate" : "concurrency");
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
    return cJSON_IsString(v) && v->valuestring && *v->valuestring ? v->valuestring : dflt;
}

/* The local stand-in: stages the sources in-process, with the style, seed
 * and label the model's template makes of the fields. It can simulate a
 * provider's latency (load tests, demos, crash drills), cut short by a
 * stop. On failure out->img stays NULL. */
static easel_err run_local(struct attempt *a, const struct easel_model *m,
                           const struct runner_sources *src, struct runner_output *out)
{
    cJSON *rendered = NULL;
    easel_err rc = easel_registry_render_input(m, src->fields, &rendered);
    if (rc) {
        easel_error_set(&a->err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                        "could not build the model input from the job fields");
        goto out;
    }
    struct easel_stage_params p = {
        .style = str_or(rendered, "style", "modern"),
        .seed = seed_of(cJSON_GetObjectItemCaseSensitive(rendered, "seed")),
        .label = str_or(rendered, "label", NULL),
    };
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(rendered, "latency_ms");
    int64_t latency = lat ? seed_of(lat) : 0;
    for (int64_t end = easel_now_ms() + (latency > 600000 ? 600000 : latency);
         latency > 0 && !*a->stop && easel_now_ms() < end;)
        easel_sleep_ms(20);
    if (*a->stop) {
        rc = easel_error_set(&a->err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_TERMINATED,
                             "stopped while the stand-in model ran");
        goto out;
    }
    int64_t t0 = easel_now_ms();
    rc = easel_image_stage(src->img[0], src->img[1], &p, &out->img, &a->err);
    runner_fig_image(a, easel_now_ms() - t0, rc == EASEL_OK);
    runner_fig_generation(a, rc == EASEL_OK);
out:
    cJSON_Delete(rendered);
    return rc;
}

easel_err runner_model_run(struct attempt *a, const struct easel_model *m,
                           struct runner_sources *src, struct runner_output *out)
{
    const struct easel_job *job = a->job;
    /* the attempt's model in the failover chain (the model itself first) */
    size_t pos = 0;
    const struct easel_model *cm =
        easel_registry_chain_model(a->reg, job->model, job->attempts, NULL, &pos);
    if (cm)
        m = cm;
    while (strcmp(m->provider, "local") != 0) {
        easel_err rc = runner_provider_call(a, m, src, out);
        const struct easel_model *next;
        if (rc && model_unavailable(&a->err) &&
            (next = easel_registry_chain_next(a->reg, job->model, &pos)) != NULL) {
            easel_log_kv(EASEL_LOG_WARN, job->id,
                         (const char *const[]){"reason", a->err.reason, NULL},
                         "model %s cannot be used (%s); failing over to %s now", m->id,
                         a->err.msg, next->id);
            easel_error_clear(&a->err);
            runner_fig_failover(a, m->id, next->id);
            m = next;
            if ((rc = take_gates(a, m)))
                return rc;
            continue;
        }
        out->model = m;
        return rc;
    }
    out->model = m;
    return run_local(a, m, src, out);
}

void runner_output_cleanup(struct runner_output *out)
{
    easel_image_free(out->img);
    cJSON_Delete(out->provider);
    memset(out, 0, sizeof(*out));
}
