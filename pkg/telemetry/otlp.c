/*
 * otlp.c - the OTLP/HTTP JSON exporter: ended spans in, batches out.
 *
 * Callers only append to a bounded queue under a mutex (a full queue drops
 * the span and counts it); one thread owns the libcurl handle and sends a
 * batch when it is full or the schedule delay has passed. A collector that
 * answers 429, 502, 503 or 504 is asked again after its Retry-After (or a
 * doubling pause) while the batch is young enough; any other error drops
 * the batch. Every request has a short total timeout, so a collector that
 * accepts the connection and never answers costs this thread, never a job.
 * At shutdown the thread sends what is queued until the caller's deadline
 * and then gives up: a short-lived `easel job` waits at most that long.
 *
 * The JSON mapping follows the OTLP specification: lower-case hex ids,
 * enums as integers, 64-bit integers (times, intValue) as decimal strings,
 * lowerCamelCase keys.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "easel/providers.h"
#include "trace_int.h"

#ifndef EASEL_VERSION
#define EASEL_VERSION "0.0.0"
#endif

/* A batch refused with a retryable answer is tried again until it is this
 * old; newer spans wait behind it meanwhile. */
#define BATCH_LIFETIME_MS 15000

/* ------------------------------------------------------------ encoding */

static easel_err json_attr_value(struct easel_buf *b, const struct span_attr *a)
{
    switch (a->type) {
    case ATTR_STR:
        if (easel_buf_puts(b, "{\"stringValue\":"))
            return EASEL_ENOMEM;
        if (easel_buf_json_str(b, a->v.s))
            return EASEL_ENOMEM;
        return easel_buf_puts(b, "}");
    case ATTR_INT:
        return easel_buf_printf(b, "{\"intValue\":\"%lld\"}", (long long)a->v.i);
    case ATTR_DOUBLE:
        /* proto3 JSON spells the non-finite doubles as strings */
        if (isnan(a->v.d))
            return easel_buf_puts(b, "{\"doubleValue\":\"NaN\"}");
        if (isinf(a->v.d))
            return easel_buf_printf(b, "{\"doubleValue\":\"%sInfinity\"}", a->v.d < 0 ? "-" : "");
        return easel_buf_printf(b, "{\"doubleValue\":%.17g}", a->v.d);
    case ATTR_BOOL:
        return easel_buf_printf(b, "{\"boolValue\":%s}", a->v.b ? "true" : "false");
    }
    return EASEL_EINTERNAL;
}

static easel_err json_kv_str(struct easel_buf *b, bool first, const char *k, const char *v)
{
    easel_err rc = easel_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
    if (!rc)
        rc = easel_buf_json_str(b, k);
    if (!rc)
        rc = easel_buf_puts(b, ",\"value\":{\"stringValue\":");
    if (!rc)
        rc = easel_buf_json_str(b, v);
    if (!rc)
        rc = easel_buf_puts(b, "}}");
    return rc;
}

static easel_err json_span(struct easel_buf *b, const struct easel_span *s)
{
    char tid[33], sid[17], pid[17];
    easel_hex_encode(s->ctx.trace_id, 16, tid);
    easel_hex_encode(s->ctx.span_id, 8, sid);
    easel_err rc = easel_buf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", tid, sid);
    if (!rc && s->has_parent) {
        easel_hex_encode(s->parent_id, 8, pid);
        rc = easel_buf_printf(b, ",\"parentSpanId\":\"%s\"", pid);
    }
    if (!rc)
        rc = easel_buf_puts(b, ",\"name\":");
    if (!rc)
        rc = easel_buf_json_str(b, s->name ? s->name : "span");
    if (!rc)
        rc = easel_buf_printf(b,
                              ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\","
                              "\"endTimeUnixNano\":\"%lld\"",
                              (int)s->kind, (long long)s->start_ns, (long long)s->end_ns);
    if (!rc && s->nattrs) {
        rc = easel_buf_puts(b, ",\"attributes\":[");
        for (size_t i = 0; !rc && i < s->nattrs; i++) {
            rc = easel_buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
            if (!rc)
                rc = easel_buf_json_str(b, s->attrs[i].key);
            if (!rc)
                rc = easel_buf_puts(b, ",\"value\":");
            if (!rc)
                rc = json_attr_value(b, &s->attrs[i]);
            if (!rc)
                rc = easel_buf_puts(b, "}");
        }
        if (!rc)
            rc = easel_buf_puts(b, "]");
    }
    if (!rc)
        rc = easel_buf_printf(b, ",\"status\":{\"code\":%d", (int)s->status);
    if (!rc && s->status == EASEL_SPAN_ERROR && s->status_msg) {
        rc = easel_buf_puts(b, ",\"message\":");
        if (!rc)
            rc = easel_buf_json_str(b, s->status_msg);
    }
    if (!rc)
        rc = easel_buf_puts(b, "}}");
    return rc;
}

easel_err easel_otlp_encode(const struct easel_trace_config *c, const char *mode,
                            struct easel_span *const *spans, size_t n, struct easel_buf *b)
{
    easel_err rc = easel_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    if (!rc)
        rc = json_kv_str(b, true, "service.name", c->service_name ? c->service_name : "easel");
    if (!rc)
        rc = json_kv_str(b, false, "service.version", EASEL_VERSION);
    if (!rc)
        rc = json_kv_str(b, false, "telemetry.sdk.name", "easel");
    if (!rc)
        rc = json_kv_str(b, false, "telemetry.sdk.version", EASEL_VERSION);
    if (!rc && mode)
        rc = json_kv_str(b, false, "easel.mode", mode);
    for (size_t i = 0; !rc && i < c->nresource; i++) {
        const char *k = c->resource[2 * i];
        /* set above: OTEL_SERVICE_NAME or this same value */
        if (strcmp(k, "service.name") != 0)
            rc = json_kv_str(b, false, k, c->resource[2 * i + 1]);
    }
    if (!rc)
        rc = easel_buf_puts(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"easel\",\"version\":\""
                               EASEL_VERSION "\"},\"spans\":[");
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = easel_buf_puts(b, ",");
        if (!rc)
            rc = json_span(b, spans[i]);
    }
    if (!rc)
        rc = easel_buf_puts(b, "]}]}]}");
    return rc;
}

/* ------------------------------------------------------------ the exporter */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* on CLOCK_MONOTONIC */
    pthread_t thread;
    bool running, stop;
    int64_t stop_deadline_ms;   /* easel_now_ms(), when stop */
    struct easel_span *head, *tail;
    size_t n;
    const struct easel_trace_config *cfg;
    char mode[32];
    uint64_t exported, dropped, failed_batches;
} X = {.mu = PTHREAD_MUTEX_INITIALIZER};

void otlp_stats(struct easel_trace_stats *out)
{
    pthread_mutex_lock(&X.mu);
    out->exported = X.exported;
    out->dropped = X.dropped;
    out->failed_batches = X.failed_batches;
    pthread_mutex_unlock(&X.mu);
}

void otlp_enqueue(struct easel_span *s)
{
    bool wake = false;
    pthread_mutex_lock(&X.mu);
    if (!X.running || X.stop || X.n >= X.cfg->queue_max) {
        X.dropped++;
        pthread_mutex_unlock(&X.mu);
        easel_span_free(s);
        return;
    }
    s->next = NULL;
    if (X.tail)
        X.tail->next = s;
    else
        X.head = s;
    X.tail = s;
    X.n++;
    wake = X.n >= X.cfg->batch_max;
    pthread_mutex_unlock(&X.mu);
    if (wake)
        pthread_cond_signal(&X.cv);
}

/* Waits on the condition until the monotonic time `until` (ms) or a
 * signal. Called with the mutex held. */
static void wait_until(int64_t until)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (until <= now)
        return;
    int64_t at_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (until - now) * 1000000;
    ts.tv_sec = (time_t)(at_ns / 1000000000);
    ts.tv_nsec = (long)(at_ns % 1000000000);
    pthread_cond_timedwait(&X.cv, &X.mu, &ts);
}

static size_t discard_body(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    size_t len = sz * n;
    char *retry = ud;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && !strncasecmp(p, name, sizeof(name) - 1)) {
        size_t vl = len - (sizeof(name) - 1);
        if (vl > 63)
            vl = 63;
        memcpy(retry, p + sizeof(name) - 1, vl);
        retry[vl] = '\0';
        for (char *e = retry + strlen(retry); e > retry && (e[-1] == '\r' || e[-1] == '\n');)
            *--e = '\0';
    }
    return len;
}

/* Gives up a request in flight once the shutdown deadline has passed:
 * one started before the stop would keep its own, longer timeout. */
static bool past_deadline(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&X.mu);
    bool over = X.stop && easel_now_ms() >= X.stop_deadline_ms;
    pthread_mutex_unlock(&X.mu);
    return over;
}

/* One POST; the HTTP status (0 when no answer came) and the Retry-After
 * value in retry (64 bytes). */
static long post(CURL *h, struct curl_slist *hdrs, const struct easel_buf *body,
                 int64_t timeout_ms, char *retry)
{
    long status = 0;
    retry[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, X.cfg->endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, retry);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (telemetry_perform(h, past_deadline, NULL) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static bool retryable(long status)
{
    /* no answer at all is treated like 503: the collector may come back */
    return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* Sends one batch, retrying while allowed. Called without the mutex. */
static void send_batch(CURL *h, struct curl_slist *hdrs, struct easel_span **spans, size_t n)
{
    struct easel_buf body;
    char retry[64];
    easel_buf_init(&body, 0);
    if (easel_otlp_encode(X.cfg, X.mode, spans, n, &body)) {
        pthread_mutex_lock(&X.mu);
        X.dropped += n;
        X.failed_batches++;
        pthread_mutex_unlock(&X.mu);
        easel_buf_cleanup(&body);
        return;
    }
    int64_t born = easel_now_ms(), pause = 500;
    long status = 0;
    for (;;) {
        int64_t timeout = X.cfg->timeout_ms;
        pthread_mutex_lock(&X.mu);
        bool stopping = X.stop;
        int64_t deadline = X.stop_deadline_ms;
        pthread_mutex_unlock(&X.mu);
        if (stopping) {
            int64_t left = deadline - easel_now_ms();
            if (left <= 0)
                break;
            if (left < timeout)
                timeout = left;
        }
        status = post(h, hdrs, &body, timeout, retry);
        if (status >= 200 && status < 300)
            break;
        if (!retryable(status))
            break;
        int64_t wait = easel_retry_after_parse(retry[0] ? retry : NULL, easel_wall_ms());
        if (wait < 0)
            wait = pause;
        pause = pause * 2 > 4000 ? 4000 : pause * 2;
        int64_t until = easel_now_ms() + wait;
        if (until - born > BATCH_LIFETIME_MS)
            break;
        pthread_mutex_lock(&X.mu);
        if (X.stop && until > X.stop_deadline_ms) {
            pthread_mutex_unlock(&X.mu);
            break;
        }
        while (easel_now_ms() < until && !(X.stop && easel_now_ms() >= X.stop_deadline_ms))
            wait_until(X.stop ? (until < X.stop_deadline_ms ? until : X.stop_deadline_ms)
                              : until);
        pthread_mutex_unlock(&X.mu);
    }
    pthread_mutex_lock(&X.mu);
    if (status >= 200 && status < 300) {
        X.exported += n;
    } else {
        X.dropped += n;
        X.failed_batches++;
    }
    pthread_mutex_unlock(&X.mu);
    if (!(status >= 200 && status < 300))
        easel_debug(NULL, "tracing: a batch of %zu spans was dropped (HTTP %ld)", n, status);
    easel_buf_cleanup(&body);
}

static void *exporter_main(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; hdrs && i < X.cfg->nheaders; i++) {
        struct curl_slist *t = curl_slist_append(hdrs, X.cfg->headers[i]);
        if (t)
            hdrs = t;
    }
    struct easel_span **batch = calloc(X.cfg->batch_max, sizeof(*batch));
    int64_t last = easel_now_ms();

    pthread_mutex_lock(&X.mu);
    for (;;) {
        while (!X.stop && X.n < X.cfg->batch_max && easel_now_ms() < last + X.cfg->delay_ms)
            wait_until(last + X.cfg->delay_ms);
        if (X.stop && (X.n == 0 || easel_now_ms() >= X.stop_deadline_ms))
            break;
        if (X.n == 0) {
            last = easel_now_ms();
            continue;
        }
        size_t k = 0;
        while (X.head && k < X.cfg->batch_max) {
            struct easel_span *s = X.head;
            X.head = s->next;
            if (!X.head)
                X.tail = NULL;
            X.n--;
            if (batch)
                batch[k++] = s;
            else
                easel_span_free(s);
        }
        pthread_mutex_unlock(&X.mu);
        if (h && hdrs && k) {
            send_batch(h, hdrs, batch, k);
        } else if (k) {
            pthread_mutex_lock(&X.mu);
            X.dropped += k;
            pthread_mutex_unlock(&X.mu);
        }
        for (size_t i = 0; i < k; i++)
            easel_span_free(batch[i]);
        last = easel_now_ms();
        pthread_mutex_lock(&X.mu);
    }
    /* what is left after the deadline */
    while (X.head) {
        struct easel_span *s = X.head;
        X.head = s->next;
        X.dropped++;
        easel_span_free(s);
    }
    X.tail = NULL;
    X.n = 0;
    pthread_mutex_unlock(&X.mu);
    free(batch);
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

easel_err otlp_start(const struct easel_trace_config *c, const char *mode)
{
    pthread_condattr_t ca;
    if (X.running)
        return EASEL_EEXISTS;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&X.cv, &ca);
    pthread_condattr_destroy(&ca);
    X.cfg = c;
    X.stop = false;
    easel_strlcpy(X.mode, mode ? mode : "", sizeof(X.mode));
    /* the exporter takes no signals: they are the main thread's */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&X.thread, NULL, exporter_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        pthread_cond_destroy(&X.cv);
        return EASEL_EINTERNAL;
    }
    pthread_mutex_lock(&X.mu);
    X.running = true;
    pthread_mutex_unlock(&X.mu);
    return EASEL_OK;
}

void otlp_stop(int64_t wait_ms)
{
    if (!X.running)
        return;
    pthread_mutex_lock(&X.mu);
    X.stop = true;
    X.stop_deadline_ms = easel_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    pthread_mutex_unlock(&X.mu);
    pthread_cond_broadcast(&X.cv);
    /* bounded: every request's timeout is cut to the deadline */
    pthread_join(X.thread, NULL);
    pthread_mutex_lock(&X.mu);
    X.running = false;
    pthread_mutex_unlock(&X.mu);
    pthread_cond_destroy(&X.cv);
    if (X.exported || X.dropped)
        easel_debug(NULL, "tracing: %llu spans exported, %llu dropped",
                    (unsigned long long)X.exported, (unsigned long long)X.dropped);
}
