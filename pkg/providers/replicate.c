/*
 * replicate.c - Replicate's predictions API.
 *
 *   POST /v1/models/{owner}/{name}/predictions   {"input": {...}}   (official models)
 *   POST /v1/predictions  {"version": "...", "input": {...}}          (a pinned version)
 *   GET  /v1/predictions/{id}                                          (poll)
 *   POST /v1/predictions/{id}/cancel
 *
 * The create asks to wait (Prefer: wait=N, N in 1..60) so quick models
 * answer in one round trip, and sets Cancel-After to what is left of the
 * attempt, but never below Replicate's documented minimum of 5 s, so
 * Replicate stops (and stops billing) a prediction we would no longer wait
 * for. Otherwise the prediction is polled with backoff while it is starting
 * or processing, and each answer's status, logs and percent are reported
 * to the call's progress callback. Outputs (one URL or an array) are downloaded at once:
 * Replicate's delivery URLs expire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/providers.h"
#include "providers_int.h"

#define PROVIDER "replicate"
#define SYNC_WAIT_S 5
/* Cancel-After is sent in whole seconds, rounded down */
#define CANCEL_AFTER_SLACK_MS 1500
/* Replicate's API reference (the Cancel-After header parameter): "The
 * minimum allowed duration is 5 seconds". */
#define CANCEL_AFTER_MIN_S 5
/* The longest pause between polls. Replicate's own clients poll every
 * 0.5 s; growing to 2 s keeps a long prediction's status, logs and percent
 * on the job's stream live without polling a slow model needlessly. */
#define POLL_MAX_MS 2000

/* A Replicate error body: {"title","detail","status"} (problem+json), or
 * {"detail": "..."}. */
static void error_text(const char *body, char *dst, size_t len)
{
    /* for a person: a long detail is cut, and the cut shows as "..." */
    cJSON *j = cJSON_Parse(body);
    const char *d = easel_json_str(j, "detail"), *t = easel_json_str(j, "title");
    if (d && t)
        easel_fmt_cut(dst, len, "%s: %s", t, d);
    else
        easel_fmt_cut(dst, len, "%s", d ? d : t ? t : prov_snippet(body));
    cJSON_Delete(j);
}

easel_err prov_replicate_failure(const struct easel_call *c, const struct easel_http_resp *r,
                                 struct easel_error *err)
{
    char msg[300];
    error_text(r->body, msg, sizeof(msg));
    enum easel_reason reason = r->status == 401 || r->status == 403 ? EASEL_R_PROVIDER_AUTH
                       : r->status == 402                    ? EASEL_R_QUOTA_EXHAUSTED
                       : r->status == 422                    ? EASEL_R_PROVIDER_INVALID_INPUT
                       : r->status == 429                    ? EASEL_R_PROVIDER_RATE_LIMITED
                                                             : EASEL_R_NONE;
    easel_err rc = easel_provider_http_error(err, PROVIDER, r->status, reason, msg);
    prov_finish_error(c, err, r->status, r->retry_after_ms);
    return rc;
}

void prov_replicate_timing(int64_t left_ms, int64_t *wait_s, int64_t *cancel_after_s)
{
    int64_t w = left_ms / 1000 - 5; /* leave time to download the output */
    *wait_s = w > SYNC_WAIT_S ? SYNC_WAIT_S : w < 1 ? 1 : w;
    /* Below the minimum the header is raised to it rather than left out.
     * The job's deadline stays the one that counts: the worker cancels
     * the prediction itself when the deadline comes (see the poll loop),
     * so a later Cancel-After never lets a prediction outlive the job.
     * What the header adds is a backstop for a worker that dies before it
     * can cancel (SIGKILL, a lost node): 5 s of a prediction is a bounded
     * cost, a prediction without the header runs to Replicate's own limit. */
    int64_t c = left_ms / 1000;
    *cancel_after_s = c < CANCEL_AFTER_MIN_S ? CANCEL_AFTER_MIN_S : c;
}

/* Creates the prediction; *pred gets the parsed answer. */
static easel_err create(const struct easel_call *c, const char *base, cJSON **pred,
                        struct easel_error *err)
{
    /* a prediction created now could be canceled only after the sync
     * wait below: one not created costs nothing */
    if (prov_stopping(c))
        return easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_CANCELED,
                               "no replicate prediction created: the job was stopped");
    const char *ref = c->model->version ? c->model->version : c->model->id;
    const char *colon = strchr(ref, ':');
    bool by_version = colon || prov_is_hex(ref, 64);
    char url[1024]; /* refused rather than cut */
    easel_err urc = by_version
                        ? easel_snprintf(url, sizeof(url), "%s/v1/predictions", base)
                        : easel_snprintf(url, sizeof(url), "%s/v1/models/%s/predictions", base, ref);
    if (urc)
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "the request URL of %s is longer than %zu bytes", c->model->id,
                               sizeof(url) - 1);
    cJSON *body = cJSON_CreateObject();
    if (!body)
        return EASEL_ENOMEM;
    if (by_version)
        cJSON_AddStringToObject(body, "version", colon ? colon + 1 : ref);
    cJSON_AddItemToObject(body, "input", cJSON_Duplicate(c->input, 1));
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text)
        return EASEL_ENOMEM;

    /* Sync mode answers quick models in one round trip. The wait is kept
     * short: until the answer comes we do not know the prediction's id,
     * so a stop that arrives meanwhile can cancel it only after the
     * answer: within the worker's grace before SIGKILL (--kill-grace,
     * 10 s by default; 30 s in a pod). */
    int64_t left = c->deadline_ms - easel_now_ms();
    int64_t wait_s, cancel_after;
    prov_replicate_timing(left, &wait_s, &cancel_after);
    /* the key is never cut: its header is allocated. The two numbers are
     * at most 20 digits each, so their headers always fit. */
    char prefer[40], cancel[48];
    char *auth = easel_asprintf("Authorization: Bearer %s", c->api_key ? c->api_key : "");
    if (!auth || easel_snprintf(prefer, sizeof(prefer), "Prefer: wait=%lld", (long long)wait_s) ||
        easel_snprintf(cancel, sizeof(cancel), "Cancel-After: %llds", (long long)cancel_after)) {
        free(auth);
        free(text);
        return easel_error_set(err, auth ? EASEL_ELIMIT : EASEL_ENOMEM, EASEL_CLASS_PERMANENT,
                               auth ? EASEL_R_INTERNAL : EASEL_R_NO_MEMORY,
                               "the headers of the replicate request could not be built");
    }
    const char *hdrs[] = {auth, "Content-Type: application/json", "Accept: application/json",
                          prefer, cancel, NULL};
    struct easel_http_req req = {.method = "POST", .url = url, .headers = hdrs,
                                 .body = text, .body_len = strlen(text),
                                 .timeout_ms = left < (wait_s + 15) * 1000 ? (left > 1000 ? left : 1000)
                                                                            : (wait_s + 15) * 1000,
                                 .max_body = 1 << 20,
                                 .secret = c->api_key};
    struct easel_http_resp r;
    easel_err rc = easel_http_do(c->http, &req, &r, err);
    free(text);
    free(auth);
    if (rc)
        return rc;
    if (r.status != 200 && r.status != 201 && r.status != 202) {
        rc = prov_replicate_failure(c, &r, err);
    } else if (!(*pred = cJSON_Parse(r.body)) || !easel_json_str(*pred, "id")) {
        cJSON_Delete(*pred);
        *pred = NULL;
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                             "replicate answered %ld with no prediction: %s", r.status,
                             prov_snippet(r.body));
    }
    easel_http_resp_cleanup(&r);
    return rc;
}

/* GET /v1/predictions/{id}, retrying transport blips: a prediction is paid
 * for, so one lost poll must not lose it. */
static easel_err poll_with(const struct easel_call *c, const char *url, const char *auth,
                           const char *id, cJSON **pred, struct easel_error *err);

static easel_err poll(const struct easel_call *c, const char *base, const char *id,
                      cJSON **pred, struct easel_error *err)
{
    /* the id comes from replicate and the key from the operator: both are
     * allocated to their length, never cut */
    char *url = easel_asprintf("%s/v1/predictions/%s", base, id);
    char *auth = easel_asprintf("Authorization: Bearer %s", c->api_key ? c->api_key : "");
    easel_err rc = url && auth ? poll_with(c, url, auth, id, pred, err)
                               : easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE,
                                                 EASEL_R_NO_MEMORY,
                                                 "out of memory polling replicate prediction %s",
                                                 id);
    free(url);
    free(auth);
    return rc;
}

static easel_err poll_with(const struct easel_call *c, const char *url, const char *auth,
                           const char *id, cJSON **pred, struct easel_error *err)
{
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    for (int tries = 0;; tries++) {
        struct easel_http_req req = {.method = "GET", .url = url, .headers = hdrs,
                                     .timeout_ms = 15000, .max_body = 1 << 20,
                                     .secret = c->api_key, .abort_on = c->stop};
        struct easel_http_resp r;
        easel_err rc = easel_http_do(c->http, &req, &r, err);
        if (rc == EASEL_OK && r.status == 200) {
            *pred = cJSON_Parse(r.body);
            easel_http_resp_cleanup(&r);
            if (*pred)
                return EASEL_OK;
            rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE,
                                 EASEL_R_PROVIDER_BAD_RESPONSE, "replicate poll: not JSON");
        } else if (rc == EASEL_OK) {
            rc = prov_replicate_failure(c, &r, err);
            easel_http_resp_cleanup(&r);
            if (err->cls == EASEL_CLASS_PERMANENT)
                return rc;
        }
        int64_t wait = err->retry_after_ms > 0 ? err->retry_after_ms : 500 << (tries < 4 ? tries : 4);
        if (tries >= 6 || prov_stopping(c) || easel_now_ms() + wait >= c->deadline_ms)
            return rc;
        easel_warn(c->job_id, "replicate poll of %s failed (%s); again in %lld ms", id,
                   err->msg, (long long)wait);
        easel_error_clear(err);
        prov_sleep(c, wait);
    }
}

static void cancel(const struct easel_call *c, const char *base, const char *id)
{
    char *url = easel_asprintf("%s/v1/predictions/%s/cancel", base, id);
    char *auth = easel_asprintf("Authorization: Bearer %s", c->api_key ? c->api_key : "");
    if (!url || !auth) {
        easel_warn(c->job_id, "replicate prediction %s: no cancel sent: out of memory", id);
        free(url);
        free(auth);
        return;
    }
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    struct easel_http_req req = {.method = "POST", .url = url, .headers = hdrs,
                                 .timeout_ms = 5000, .max_body = 1 << 20,
                                 .secret = c->api_key};
    struct easel_http_resp r;
    struct easel_error e;
    easel_error_clear(&e);
    if (easel_http_do(c->http, &req, &r, &e) == EASEL_OK) {
        easel_info(c->job_id, "replicate prediction %s: cancel answered %ld", id, r.status);
        easel_http_resp_cleanup(&r);
    } else {
        easel_warn(c->job_id, "replicate prediction %s: cancel failed: %s", id, e.msg);
    }
    free(url);
    free(auth);
}

/* The first output URL: "output" is a string or an array of strings. */
static const char *first_output(const cJSON *pred)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(pred, "output");
    if (cJSON_IsString(o))
        return o->valuestring;
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (cJSON_IsString(it))
            return it->valuestring;
    }
    return NULL;
}

/* What a prediction that is no longer starting or processing says: EASEL_OK
 * with *url its first output (to download), or its failure in err. The
 * metrics of a succeeded one go to out->usage. No I/O. */
easel_err prov_replicate_finished(const struct easel_call *c, const cJSON *pred, const char *id,
                                  const char **url, struct easel_call_result *out,
                                  struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    *url = NULL;
    const char *st = easel_json_str(pred, "status");
    st = st ? st : "(none)";
    const char *perr = easel_json_str(pred, "error");
    if (!strcmp(st, "succeeded")) {
        *url = first_output(pred);
        if (!*url)
            rc = easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_RETRYABLE, EASEL_R_NO_OUTPUT,
                                 "replicate prediction %s succeeded with no output", id);
        const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(pred, "metrics");
        if (metrics)
            out->usage = cJSON_Duplicate(metrics, 1);
    } else if (!strcmp(st, "failed")) {
        bool policy = perr && prov_mentions_policy(perr);
        rc = easel_error_set(err, EASEL_EPROVIDER,
                             policy ? EASEL_CLASS_PERMANENT : EASEL_CLASS_RETRYABLE,
                             policy ? EASEL_R_CONTENT_POLICY : EASEL_R_PROVIDER_FAILED,
                             "replicate prediction %s failed: %s", id,
                             perr ? perr : "(no error given)");
    } else if ((!strcmp(st, "canceled") || !strcmp(st, "aborted")) &&
               easel_now_ms() >= c->deadline_ms - CANCEL_AFTER_SLACK_MS) {
        /* Replicate applied the Cancel-After we sent: the model's timeout */
        rc = easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_TIMEOUT,
                             "replicate prediction %s was %s at the attempt's deadline "
                             "(Cancel-After)", id, st);
    } else if (!strcmp(st, "canceled") || !strcmp(st, "aborted")) {
        rc = easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_RETRYABLE,
                             !strcmp(st, "aborted") ? EASEL_R_PROVIDER_ABORTED : EASEL_R_PROVIDER_CANCELED,
                             "replicate prediction %s was %s by Replicate%s%s", id, st,
                             perr ? ": " : "", perr ? perr : "");
    } else {
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                             "replicate prediction %s has an unknown status \"%s\"", id, st);
    }
    return rc;
}

easel_err prov_replicate(const struct easel_call *c, struct easel_call_result *out,
                         struct easel_error *err)
{
    const char *base = easel_provider_base(c->model);
    cJSON *pred = NULL;
    easel_err rc = create(c, base, &pred, err);
    if (rc)
        return rc;
    char id[128];
    easel_strlcpy(id, easel_json_str(pred, "id"), sizeof(id));
    out->provider_ref = strdup(id);
    easel_info(c->job_id, "replicate prediction %s created (%s)", id,
               easel_json_str(pred, "status") ? easel_json_str(pred, "status") : "?");
    prov_report(c, easel_json_str(pred, "status"), id, pred, false);

    int64_t wait = 500;
    for (;;) {
        const char *st = easel_json_str(pred, "status");
        if (!st || (strcmp(st, "starting") && strcmp(st, "processing")))
            break;
        if (prov_stopping(c) || easel_now_ms() + wait >= c->deadline_ms) {
            cancel(c, base, id);
            cJSON_Delete(pred);
            return prov_stopping(c)
                       ? easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_CANCELED,
                                         "replicate prediction %s canceled: the job was stopped", id)
                       : easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE,
                                         EASEL_R_PROVIDER_TIMEOUT,
                                         "replicate prediction %s did not finish before the "
                                         "attempt's deadline; it was canceled", id);
        }
        prov_sleep(c, wait);
        wait = wait * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : wait * 3 / 2;
        cJSON *next = NULL;
        rc = poll(c, base, id, &next, err);
        if (rc) {
            if (err->cls != EASEL_CLASS_PERMANENT)
                cancel(c, base, id);
            cJSON_Delete(pred);
            return rc;
        }
        cJSON_Delete(pred);
        pred = next;
        prov_report(c, easel_json_str(pred, "status"), id, pred, false);
    }
    /* the logs' last lines, which may have come with the final status */
    prov_report(c, easel_json_str(pred, "status"), id, pred, true);

    const char *url = NULL;
    rc = prov_replicate_finished(c, pred, id, &url, out, err);
    if (rc == EASEL_OK)
        rc = prov_download(c, url, out, err);
    if (err)
        easel_redact_secret(err->msg, sizeof(err->msg), c->api_key);
    cJSON_Delete(pred);
    return rc;
}
