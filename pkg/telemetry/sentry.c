/*
 * sentry.c - error reports to Sentry as envelopes: a job that reached
 * `dead`, and internal errors (error-level log lines).
 *
 * Like the OTLP exporter, callers only queue: a bounded list of finished
 * envelopes that one thread sends with libcurl and short timeouts. When
 * Sentry says to back off (429 with Retry-After, or X-Sentry-Rate-Limits
 * naming the error category or every category) nothing is sent until the
 * time has passed; events raised meanwhile are dropped and counted rather
 * than kept, as Sentry's own SDKs do. Internal errors are also limited
 * here (a burst of 10, then one every 6 s), so an outage that logs an
 * error per job cannot flood the project.
 *
 * What an event carries is chosen, never copied wholesale: the job id,
 * model, reason and error class as tags, and a message from which URL
 * credentials, query strings (presigned URLs) and data: URIs are cut.
 * Payloads, inputs and images are never read here.
 */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "easel/providers.h"
#include "trace_int.h"

#ifndef EASEL_VERSION
#define EASEL_VERSION "0.0.0"
#endif

#define QUEUE_MAX 64
#define SEND_TIMEOUT_MS 3000
#define DEFAULT_LIMIT_MS 60000

/* ------------------------------------------------------------ DSN */

easel_err easel_sentry_dsn_parse(const char *dsn, struct easel_sentry_dsn *out)
{
    memset(out, 0, sizeof(*out));
    if (!dsn)
        return EASEL_EPARSE;
    const char *p = strstr(dsn, "://");
    if (!p || !((p - dsn == 4 && !strncmp(dsn, "http", 4)) ||
                (p - dsn == 5 && !strncmp(dsn, "https", 5))))
        return EASEL_EPARSE;
    const char *scheme_end = p;
    p += 3;
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (!at || !slash || at > slash || at == p)
        return EASEL_EPARSE;
    /* PUBLIC_KEY, or the legacy PUBLIC:SECRET: the secret is never used */
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t klen = (size_t)((colon ? colon : at) - p);
    if (!klen || klen >= sizeof(out->key))
        return EASEL_EPARSE;
    for (size_t i = 0; i < klen; i++)
        if (!isalnum((unsigned char)p[i]))
            return EASEL_EPARSE;
    memcpy(out->key, p, klen);
    const char *host = at + 1;
    if (host == slash)
        return EASEL_EPARSE;
    /* the project id is the last path segment; what is before it is a
     * prefix the server is mounted under */
    size_t n = strlen(slash);
    while (n > 1 && slash[n - 1] == '/')
        n--;
    const char *last = slash + n;
    while (last > slash && last[-1] != '/')
        last--;
    size_t plen = (size_t)(slash + n - last);
    if (!plen || plen >= sizeof(out->project))
        return EASEL_EPARSE;
    for (size_t i = 0; i < plen; i++)
        if (!isalnum((unsigned char)last[i]))
            return EASEL_EPARSE;
    memcpy(out->project, last, plen);
    /* the prefix's length, without its slashes */
    int prefix = last > slash + 1 ? (int)(last - slash - 2) : 0;
    for (const char *q = host; q < slash; q++)
        if (isspace((unsigned char)*q) || *q == '?' || *q == '#')
            return EASEL_EPARSE;
    if (slash[-1] == ':') /* a port separator without a port */
        return EASEL_EPARSE;
    if (easel_snprintf(out->envelope_url, sizeof(out->envelope_url), "%.*s://%.*s%s%.*s/api/%s/envelope/",
                       (int)(scheme_end - dsn), dsn, (int)(slash - host), host,
                       prefix > 0 ? "/" : "", prefix > 0 ? prefix : 0, slash + 1, out->project) ||
        easel_snprintf(out->dsn, sizeof(out->dsn), "%.*s://%s@%.*s%s%.*s/%s",
                       (int)(scheme_end - dsn), dsn, out->key, (int)(slash - host), host,
                       prefix > 0 ? "/" : "", prefix > 0 ? prefix : 0, slash + 1, out->project))
        return EASEL_EPARSE;
    return EASEL_OK;
}

/* ------------------------------------------------------------ scrubbing */

static bool url_end(char c)
{
    return !c || isspace((unsigned char)c) || c == '"' || c == '\'' || c == '<' || c == '>' ||
           c == ')' || c == ',';
}

/* Copies msg into b with URL user parts, query strings and data: URIs
 * replaced, since they may hold credentials or images. */
static void scrub(struct easel_buf *b, const char *msg)
{
    const char *p = msg;
    while (*p) {
        if (!strncasecmp(p, "data:", 5) && (p == msg || !isalnum((unsigned char)p[-1]))) {
            easel_buf_puts(b, "data:[redacted]");
            p += 5;
            /* a data: URI runs to the next blank or quote, commas included */
            while (*p && !isspace((unsigned char)*p) && *p != '"' && *p != '\'')
                p++;
            continue;
        }
        const char *s = p;
        while (isalpha((unsigned char)*s))
            s++;
        if (s > p && !strncmp(s, "://", 3) && (p == msg || !isalnum((unsigned char)p[-1]))) {
            easel_buf_append(b, p, (size_t)(s + 3 - p));
            p = s + 3;
            const char *e = p;
            while (!url_end(*e) && *e != '/')
                e++;
            const char *at = memchr(p, '@', (size_t)(e - p));
            if (at) {
                easel_buf_puts(b, "[redacted]@");
                p = at + 1;
            }
            while (!url_end(*p)) {
                if (*p == '?' || *p == '#') {
                    easel_buf_puts(b, "?[redacted]");
                    while (!url_end(*p))
                        p++;
                    break;
                }
                easel_buf_append(b, p++, 1);
            }
            continue;
        }
        easel_buf_append(b, p++, 1);
    }
}

/* ------------------------------------------------------------ envelopes */

static void event_id(char out[33])
{
    uint8_t id[16];
    if (RAND_bytes(id, sizeof(id)) != 1)
        for (size_t i = 0; i < sizeof(id); i++)
            id[i] = (uint8_t)easel_rand_below(256);
    /* a version-4 UUID without dashes, as Sentry writes them */
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    easel_hex_encode(id, sizeof(id), out);
}

easel_err easel_sentry_envelope(const struct easel_sentry_dsn *d, const char *level,
                                const char *message, const char *const *tags,
                                const char *const *fingerprint,
                                const char *environment, const char *release,
                                struct easel_buf *out)
{
    char id[33], sent[32], host[128];
    struct easel_buf ev;
    easel_err rc;
    event_id(id);
    int64_t now = easel_wall_ms();
    if (easel_format_time(now, sent, sizeof(sent)))
        return EASEL_EINTERNAL;
    if (gethostname(host, sizeof(host)) || !memchr(host, '\0', sizeof(host)))
        easel_strlcpy(host, "easel", sizeof(host));

    easel_buf_init(&ev, 1 << 20); /* Sentry's limit for an event item */
    rc = easel_buf_printf(&ev,
                          "{\"event_id\":\"%s\",\"timestamp\":%lld.%03d,\"platform\":\"native\","
                          "\"level\":",
                          id, (long long)(now / 1000), (int)(now % 1000));
    if (!rc)
        rc = easel_buf_json_str(&ev, level ? level : "error");
    if (!rc)
        rc = easel_buf_puts(&ev, ",\"logger\":\"easel\",\"server_name\":");
    if (!rc)
        rc = easel_buf_json_str(&ev, host);
    if (!rc && environment) {
        rc = easel_buf_puts(&ev, ",\"environment\":");
        if (!rc)
            rc = easel_buf_json_str(&ev, environment);
    }
    if (!rc && release) {
        rc = easel_buf_puts(&ev, ",\"release\":");
        if (!rc)
            rc = easel_buf_json_str(&ev, release);
    }
    if (!rc) {
        struct easel_buf m;
        easel_buf_init(&m, 0);
        scrub(&m, message ? message : "");
        char cut[1024];
        easel_fmt_cut(cut, sizeof(cut), "%s", m.data ? m.data : "");
        easel_buf_cleanup(&m);
        rc = easel_buf_puts(&ev, ",\"message\":{\"formatted\":");
        if (!rc)
            rc = easel_buf_json_str(&ev, cut);
        if (!rc)
            rc = easel_buf_puts(&ev, "}");
    }
    if (!rc)
        rc = easel_buf_puts(&ev, ",\"tags\":{");
    for (size_t i = 0; !rc && tags && tags[i] && tags[i + 1]; i += 2) {
        char v[200];
        /* Sentry cuts tag values at 200 characters */
        easel_fmt_cut(v, sizeof(v), "%s", tags[i + 1]);
        rc = easel_buf_puts(&ev, i ? "," : "");
        if (!rc)
            rc = easel_buf_json_str(&ev, tags[i]);
        if (!rc)
            rc = easel_buf_puts(&ev, ":");
        if (!rc)
            rc = easel_buf_json_str(&ev, v);
    }
    if (!rc && fingerprint && fingerprint[0]) {
        rc = easel_buf_puts(&ev, "},\"fingerprint\":[");
        for (size_t i = 0; !rc && fingerprint[i]; i++) {
            rc = easel_buf_puts(&ev, i ? "," : "");
            if (!rc)
                rc = easel_buf_json_str(&ev, fingerprint[i]);
        }
        if (!rc)
            rc = easel_buf_puts(&ev, "]");
    } else if (!rc) {
        rc = easel_buf_puts(&ev, "}");
    }
    if (!rc)
        rc = easel_buf_puts(&ev, ",\"sdk\":{\"name\":\"easel\",\"version\":\"" EASEL_VERSION
                                 "\"}}");
    if (!rc)
        rc = easel_buf_printf(out, "{\"event_id\":\"%s\",\"sent_at\":\"%s\",\"dsn\":", id, sent);
    if (!rc)
        rc = easel_buf_json_str(out, d->dsn);
    if (!rc)
        rc = easel_buf_printf(out, "}\n{\"type\":\"event\",\"length\":%zu,"
                                   "\"content_type\":\"application/json\"}\n",
                              ev.len);
    if (!rc)
        rc = easel_buf_append(out, ev.data, ev.len);
    if (!rc)
        rc = easel_buf_puts(out, "\n");
    easel_buf_cleanup(&ev);
    return rc;
}

/* ------------------------------------------------------------ the sender */

struct item {
    char *body;
    size_t len;
    struct item *next;
};

static atomic_bool s_on;
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
    int64_t stop_deadline_ms;
    struct item *head, *tail;
    size_t n;
    int64_t limited_until_ms;   /* wall clock: nothing is sent before */
    double tokens;              /* internal errors allowed now */
    int64_t tokens_ms;
    struct easel_sentry_dsn dsn;
    char *environment, *release;
    char mode[32];
    char auth[256];
    uint64_t sent, dropped, rate_limited;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

bool easel_sentry_enabled(void)
{
    return atomic_load_explicit(&s_on, memory_order_acquire);
}

void easel_sentry_stats(struct easel_sentry_stats *out)
{
    pthread_mutex_lock(&S.mu);
    out->sent = S.sent;
    out->dropped = S.dropped;
    out->rate_limited = S.rate_limited;
    pthread_mutex_unlock(&S.mu);
}

/* Builds and queues one event; never waits for the network. */
static void submit(const char *message, const char *const *tags, const char *const *fingerprint,
                   bool internal)
{
    struct easel_buf b;
    if (!easel_sentry_enabled())
        return;
    pthread_mutex_lock(&S.mu);
    bool drop = !S.running || S.stop || S.n >= QUEUE_MAX || easel_wall_ms() < S.limited_until_ms;
    if (!drop && internal) {
        int64_t now = easel_now_ms();
        S.tokens += (double)(now - S.tokens_ms) / 6000.0;
        if (S.tokens > 10)
            S.tokens = 10;
        S.tokens_ms = now;
        if (S.tokens < 1)
            drop = true;
        else
            S.tokens -= 1;
    }
    if (drop) {
        S.dropped++;
        if (easel_wall_ms() < S.limited_until_ms)
            S.rate_limited++;
        pthread_mutex_unlock(&S.mu);
        return;
    }
    pthread_mutex_unlock(&S.mu);

    easel_buf_init(&b, 0);
    if (easel_sentry_envelope(&S.dsn, "error", message, tags, fingerprint, S.environment,
                              S.release, &b)) {
        easel_buf_cleanup(&b);
        return;
    }
    struct item *it = calloc(1, sizeof(*it));
    if (!it) {
        easel_buf_cleanup(&b);
        return;
    }
    it->body = easel_buf_steal(&b, &it->len);
    pthread_mutex_lock(&S.mu);
    if (S.n >= QUEUE_MAX || S.stop) {
        S.dropped++;
        pthread_mutex_unlock(&S.mu);
        free(it->body);
        free(it);
        return;
    }
    if (S.tail)
        S.tail->next = it;
    else
        S.head = it;
    S.tail = it;
    S.n++;
    pthread_mutex_unlock(&S.mu);
    pthread_cond_signal(&S.cv);
}

void easel_sentry_job_dead(const char *job_id, const char *model, const char *reason,
                           const char *error_class, const char *message)
{
    if (!easel_sentry_enabled())
        return;
    char msg[1024];
    easel_fmt_cut(msg, sizeof(msg), "job dead: %s", message && *message ? message : "no message");
    const char *tags[] = {"kind",        "job_dead",
                          "job_id",      job_id ? job_id : "",
                          "model",       model ? model : "",
                          "reason",      reason ? reason : "",
                          "error_class", error_class ? error_class : "",
                          "mode",        S.mode,
                          NULL};
    const char *fp[] = {"easel-job-dead", model ? model : "", reason ? reason : "", NULL};
    submit(msg, tags, fp, false);
}

void easel_sentry_internal(const char *job_id, const char *message)
{
    if (!easel_sentry_enabled())
        return;
    const char *tags[] = {"kind", "internal_error", "mode", S.mode,
                          job_id ? "job_id" : NULL, job_id, NULL};
    submit(message, tags, NULL, true);
}

/* The log hook: error-level lines. A line logged while building or
 * sending an event is not reported again. */
static _Thread_local bool in_hook;
static void on_error_log(const char *job_id, const char *msg)
{
    if (in_hook)
        return;
    in_hook = true;
    easel_sentry_internal(job_id, msg);
    in_hook = false;
}

/* X-Sentry-Rate-Limits: "SECONDS:CATEGORIES:SCOPE[:REASON[:NS]], ...";
 * the longest delay that covers events ("error", or no category = all),
 * in ms; -1 when none does. */
static int64_t rate_limits_ms(const char *v)
{
    int64_t best = -1;
    while (v && *v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        char one[256];
        if (n < sizeof(one)) {
            memcpy(one, v, n);
            one[n] = '\0';
            char *c1 = strchr(one, ':');
            if (c1) {
                *c1 = '\0';
                char *cats = c1 + 1, *c2 = strchr(cats, ':');
                if (c2)
                    *c2 = '\0';
                char *e;
                double secs = strtod(one, &e);
                while (*cats == ' ')
                    cats++;
                bool covers = !*cats;
                for (char *t = cats; !covers && t;) {
                    char *semi = strchr(t, ';');
                    size_t tl = semi ? (size_t)(semi - t) : strlen(t);
                    covers = (tl == 5 && !strncmp(t, "error", 5)) ||
                             (tl == 7 && !strncmp(t, "default", 7));
                    t = semi ? semi + 1 : NULL;
                }
                if (e != one && secs >= 0 && covers && (int64_t)(secs * 1000) > best)
                    best = (int64_t)(secs * 1000);
            }
        }
        v = end ? end + 1 : NULL;
        while (v && *v == ' ')
            v++;
    }
    return best;
}

struct answer {
    char retry_after[64];
    char limits[512];
};

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    size_t len = sz * n;
    struct answer *a = ud;
    static const char ra[] = "retry-after:", rl[] = "x-sentry-rate-limits:";
    char *dst = NULL;
    size_t cap = 0, skip = 0;
    if (len > sizeof(ra) - 1 && !strncasecmp(p, ra, sizeof(ra) - 1)) {
        dst = a->retry_after;
        cap = sizeof(a->retry_after);
        skip = sizeof(ra) - 1;
    } else if (len > sizeof(rl) - 1 && !strncasecmp(p, rl, sizeof(rl) - 1)) {
        dst = a->limits;
        cap = sizeof(a->limits);
        skip = sizeof(rl) - 1;
    }
    if (dst) {
        size_t vl = len - skip;
        while (vl && (p[skip] == ' ' || p[skip] == '\t')) {
            skip++;
            vl--;
        }
        if (vl >= cap)
            vl = cap - 1;
        memcpy(dst, p + skip, vl);
        dst[vl] = '\0';
        for (char *e = dst + strlen(dst); e > dst && (e[-1] == '\r' || e[-1] == '\n');)
            *--e = '\0';
    }
    return len;
}

static size_t discard_body(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* Gives up a request in flight once the shutdown deadline has passed:
 * one started before the stop would keep its own, longer timeout. */
static bool past_deadline(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&S.mu);
    bool over = S.stop && easel_now_ms() >= S.stop_deadline_ms;
    pthread_mutex_unlock(&S.mu);
    return over;
}

static void send_one(CURL *h, struct curl_slist *hdrs, struct item *it)
{
    struct answer a = {0};
    long status = 0;
    int64_t timeout = SEND_TIMEOUT_MS;
    pthread_mutex_lock(&S.mu);
    bool limited = easel_wall_ms() < S.limited_until_ms;
    if (S.stop) {
        int64_t left = S.stop_deadline_ms - easel_now_ms();
        timeout = left < timeout ? left : timeout;
    }
    if (limited || timeout <= 0) {
        S.dropped++;
        S.rate_limited += limited;
        pthread_mutex_unlock(&S.mu);
        return;
    }
    pthread_mutex_unlock(&S.mu);
    curl_easy_setopt(h, CURLOPT_URL, S.dsn.envelope_url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    if (telemetry_perform(h, past_deadline, NULL) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* X-Sentry-Rate-Limits is read on any answer and wins over
     * Retry-After; a bare 429 means a minute */
    int64_t wait = rate_limits_ms(a.limits[0] ? a.limits : NULL);
    if (wait < 0 && status == 429) {
        wait = easel_retry_after_parse(a.retry_after[0] ? a.retry_after : NULL, easel_wall_ms());
        if (wait < 0)
            wait = DEFAULT_LIMIT_MS;
    }
    pthread_mutex_lock(&S.mu);
    if (wait > 0 && easel_wall_ms() + wait > S.limited_until_ms)
        S.limited_until_ms = easel_wall_ms() + wait;
    if (status >= 200 && status < 300)
        S.sent++;
    else
        S.dropped++;
    pthread_mutex_unlock(&S.mu);
    if (status == 429)
        easel_warn(NULL, "sentry: rate limited for %lld ms; events are dropped meanwhile",
                   (long long)wait);
    else if (!(status >= 200 && status < 300))
        easel_warn(NULL, "sentry: an event was not accepted (HTTP %ld)", status);
}

static void *sender_main(void *arg)
{
    (void)arg;
    in_hook = true; /* this thread's own errors are not reported */
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/x-sentry-envelope");
    struct curl_slist *t = hdrs ? curl_slist_append(hdrs, S.auth) : NULL;
    if (t)
        hdrs = t;
    pthread_mutex_lock(&S.mu);
    for (;;) {
        while (!S.stop && !S.head)
            pthread_cond_wait(&S.cv, &S.mu);
        if (!S.head || (S.stop && easel_now_ms() >= S.stop_deadline_ms))
            break;
        struct item *it = S.head;
        S.head = it->next;
        if (!S.head)
            S.tail = NULL;
        S.n--;
        pthread_mutex_unlock(&S.mu);
        if (h && hdrs)
            send_one(h, hdrs, it);
        free(it->body);
        free(it);
        pthread_mutex_lock(&S.mu);
    }
    while (S.head) {
        struct item *it = S.head;
        S.head = it->next;
        S.dropped++;
        free(it->body);
        free(it);
    }
    S.tail = NULL;
    S.n = 0;
    pthread_mutex_unlock(&S.mu);
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

void easel_sentry_init(const char *mode)
{
    const char *dsn = getenv("SENTRY_DSN");
    if (easel_sentry_enabled() || !dsn || !*dsn)
        return;
    if (easel_sentry_dsn_parse(dsn, &S.dsn)) {
        /* the DSN is not logged: it names the project's key */
        easel_warn(NULL, "sentry: SENTRY_DSN is not https://KEY@HOST/PROJECT_ID; error reports are off");
        return;
    }
    const char *env = getenv("SENTRY_ENVIRONMENT"), *rel = getenv("SENTRY_RELEASE");
    S.environment = easel_strdup(env && *env ? env : "production");
    S.release = rel && *rel ? easel_strdup(rel) : easel_asprintf("easel@%s", EASEL_VERSION);
    easel_strlcpy(S.mode, mode ? mode : "", sizeof(S.mode));
    if (easel_snprintf(S.auth, sizeof(S.auth),
                       "X-Sentry-Auth: Sentry sentry_version=7, sentry_client=easel/%s, sentry_key=%s",
                       EASEL_VERSION, S.dsn.key)) {
        easel_warn(NULL, "sentry: the key is too long; error reports are off");
        return;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&S.cv, &ca);
    pthread_condattr_destroy(&ca);
    S.tokens = 10;
    S.tokens_ms = easel_now_ms();
    S.stop = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&S.thread, NULL, sender_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        easel_warn(NULL, "sentry: the sender thread did not start; error reports are off");
        pthread_cond_destroy(&S.cv);
        return;
    }
    pthread_mutex_lock(&S.mu);
    S.running = true;
    pthread_mutex_unlock(&S.mu);
    atomic_store_explicit(&s_on, true, memory_order_release);
    easel_log_set_error_hook(on_error_log);
    easel_info(NULL, "sentry: error reports go to %s (environment %s)", S.dsn.envelope_url,
               S.environment);
}

void easel_sentry_shutdown(int64_t wait_ms)
{
    if (!easel_sentry_enabled())
        return;
    easel_log_set_error_hook(NULL);
    atomic_store_explicit(&s_on, false, memory_order_release);
    pthread_mutex_lock(&S.mu);
    S.stop = true;
    S.stop_deadline_ms = easel_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    pthread_mutex_unlock(&S.mu);
    pthread_cond_broadcast(&S.cv);
    pthread_join(S.thread, NULL);
    pthread_mutex_lock(&S.mu);
    S.running = false;
    pthread_mutex_unlock(&S.mu);
    pthread_cond_destroy(&S.cv);
    free(S.environment);
    free(S.release);
    S.environment = S.release = NULL;
}
