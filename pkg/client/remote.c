/*
 * remote.c - the CLI's operations through a controller's HTTP API
 * (`easel --server URL`), so a person with a token and no database
 * credentials can submit, read, cancel, retry and follow jobs, the way
 * kubectl works against an API server.
 *
 * One libcurl easy handle per server keeps its connection alive across the
 * pages of a list or the polls of a wait. The token travels only in the
 * Authorization header: it is never put in a URL, never in an error
 * message, and redirects are not followed (a Location elsewhere would carry
 * it to another host). Every failure leaves a sentence, the HTTP status and
 * the API's error code on the handle (easel_remote_error).
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "easel/client.h"

#define MAX_BODY ((size_t)64 << 20) /* a list page of 1000 jobs fits easily */
#define WAIT_POLL_MS 500
#define PREFER_MAX_S 60             /* what the API holds a request for at most */
/* How long the polls of a wait or a follow ride out a server that does not
 * answer or answers 429/5xx: a controller replica restarting behind a
 * Service is a moment, not the end of the follow. */
#define POLL_OUTAGE_MS 30000

struct easel_remote {
    CURL *h;
    char *base;  /* the server URL, no trailing slash */
    char shown[256]; /* the same with any password masked, for messages */
    char *auth;  /* "Authorization: Bearer ...", wiped at free */
    int64_t timeout_ms;
    struct easel_remote_error err;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

easel_err easel_remote_new(const struct easel_remote_opts *o, struct easel_remote **out,
                           struct easel_error *err)
{
    *out = NULL;
    const char *u = o->server ? o->server : "";
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "--server must be an http:// or https:// URL, got \"%.120s\"",
                               u);
    pthread_once(&curl_once, curl_init_once);
    struct easel_remote *r = calloc(1, sizeof(*r));
    if (!r)
        return EASEL_ENOMEM;
    size_t n = strlen(u);
    while (n > 8 && u[n - 1] == '/')
        n--;
    r->base = easel_strndup(u, n);
    r->h = curl_easy_init();
    if (o->token && *o->token)
        r->auth = easel_asprintf("Authorization: Bearer %s", o->token);
    if (!r->base || !r->h || (o->token && *o->token && !r->auth)) {
        easel_remote_free(r);
        return EASEL_ENOMEM;
    }
    easel_redact_url(r->base, r->shown, sizeof(r->shown));
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    *out = r;
    return EASEL_OK;
}

void easel_remote_free(struct easel_remote *r)
{
    if (!r)
        return;
    if (r->h)
        curl_easy_cleanup(r->h);
    if (r->auth) {
        OPENSSL_cleanse(r->auth, strlen(r->auth));
        free(r->auth);
    }
    free(r->base);
    free(r);
}

const struct easel_remote_error *easel_remote_error(const struct easel_remote *r)
{
    return &r->err;
}

static easel_err fail(struct easel_remote *r, easel_err rc, long status, const char *code,
                      const char *fmt, ...) EASEL_PRINTF(5, 6);
static easel_err fail(struct easel_remote *r, easel_err rc, long status, const char *code,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(r->err.message, sizeof(r->err.message), fmt, ap);
    va_end(ap);
    r->err.status = status;
    easel_strlcpy(r->err.code, code ? code : "", sizeof(r->err.code));
    return rc;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    /* a short count makes curl stop with CURLE_WRITE_ERROR */
    return easel_buf_append(ud, p, sz * n) == EASEL_OK ? sz * n : 0;
}

/* The transport's failure as a sentence that names the server. */
static easel_err transport_failed(struct easel_remote *r, CURLcode cc, const char *detail,
                                  int64_t timeout_ms)
{
    const char *d = detail && *detail ? detail : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return fail(r, EASEL_ECONN, 0, "unreachable",
                    "cannot connect to the easel server at %s (%s); is a controller "
                    "serving its API there (--http-addr)?", r->shown, d);
    case CURLE_COULDNT_RESOLVE_HOST:
        return fail(r, EASEL_ECONN, 0, "unreachable",
                    "cannot resolve the host of the easel server %s (%s)", r->shown, d);
    case CURLE_OPERATION_TIMEDOUT:
        return fail(r, EASEL_ETIMEOUT, 0, "timeout",
                    "the easel server at %s did not answer within %.1f s", r->shown,
                    (double)timeout_ms / 1000.0);
    case CURLE_WRITE_ERROR:
        return fail(r, EASEL_ELIMIT, 0, "too_large",
                    "the answer of the easel server at %s is larger than %zu MiB",
                    r->shown, MAX_BODY >> 20);
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return fail(r, EASEL_ECONN, 0, "unreachable",
                    "the easel server at %s closed the connection without an answer (%s)",
                    r->shown, d);
    default:
        return fail(r, EASEL_ECONN, 0, "unreachable",
                    "the request to the easel server at %s failed: %s", r->shown, d);
    }
}

/* A status outside 2xx: the API's {"error":{"code","message"}} when the
 * body holds it (a proxy in between may answer with anything). */
static easel_err http_failed(struct easel_remote *r, long status, const struct easel_buf *b)
{
    cJSON *doc = b->len ? cJSON_ParseWithLength(b->data, b->len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    easel_err rc = status == 404 ? EASEL_ENOTFOUND
                   : status == 409 ? EASEL_ECONFLICT
                                   : EASEL_EHTTP;
    if (msg)
        fail(r, rc, status, code, "%s", msg);
    else if (b->len)
        /* not the API's shape: show the start of it, on one line */
        fail(r, rc, status, code, "the server at %s answered: %.200s", r->shown, b->data);
    else
        fail(r, rc, status, code, "the server at %s answered with an empty body", r->shown);
    for (char *p = r->err.message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    cJSON_Delete(doc);
    return rc;
}

/* Appends one header line to *l; false when memory ran out (*l is kept). */
static bool add_hdr(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (n)
        *l = n;
    return n != NULL;
}

/* Resets the handle for a request to url with what every request of ours
 * has: the protocols, no redirects, no signals, the connect timeout, and
 * the Authorization header appended to hdrs (which the handle then uses). */
static bool request_base(struct easel_remote *r, const char *url, struct curl_slist **hdrs)
{
    if (r->auth && !add_hdr(hdrs, r->auth))
        return false;
    CURL *c = r->h;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "easel-cli/" EASEL_VERSION);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(r->timeout_ms < 10000 ? r->timeout_ms
                                                                                : 10000));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return true;
}

/* One request. method "GET" or "POST"; path starts with '/'; body is JSON
 * text or NULL; prefer_s > 0 sends Prefer: wait=N and lengthens the
 * timeout by as much. On 2xx *out is the parsed body. */
/* One request; extra is one more header line ("Name: value") or NULL. */
static easel_err call_with(struct easel_remote *r, const char *method, const char *path,
                           const char *body, int prefer_s, const char *extra, cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    easel_err rc = EASEL_OK;
    struct curl_slist *hdrs = NULL;
    struct easel_buf b;
    easel_buf_init(&b, MAX_BODY);
    char *url = easel_asprintf("%s%s", r->base, path);
    char prefer[40], errbuf[CURL_ERROR_SIZE] = "";
    int64_t timeout_ms = r->timeout_ms + (int64_t)prefer_s * 1000;
    if (!url)
        return EASEL_ENOMEM;
    if (prefer_s > 0)
        easel_fmt_cut(prefer, sizeof(prefer), "Prefer: wait=%d", prefer_s);
    if (!add_hdr(&hdrs, "Accept: application/json") || !add_hdr(&hdrs, "Expect:") ||
        (body && !add_hdr(&hdrs, "Content-Type: application/json")) ||
        (prefer_s > 0 && !add_hdr(&hdrs, prefer)) || (extra && !add_hdr(&hdrs, extra)) ||
        !request_base(r, url, &hdrs))
        goto nomem;

    CURL *c = r->h;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else if (strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    /* the handle keeps the pointers until the next reset: drop them now */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (cc != CURLE_OK) {
        rc = transport_failed(r, cc, errbuf, timeout_ms);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        rc = http_failed(r, status, &b);
        goto out;
    }
    *out = b.len ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    if (!*out)
        rc = fail(r, EASEL_EPARSE, status, "malformed_json",
                  "the server at %s answered %s %s with something that is not JSON", r->shown,
                  method, path);
    goto out;
nomem:
    rc = EASEL_ENOMEM;
out:
    curl_slist_free_all(hdrs); /* the Authorization line is the handle's copy */
    easel_buf_cleanup(&b);
    free(url);
    return rc;
}

/* "/v1/jobs/<id escaped><tail>" */
static char *job_path(struct easel_remote *r, const char *id, const char *tail)
{
    char *e = curl_easy_escape(r->h, id, 0);
    if (!e)
        return NULL;
    char *p = easel_asprintf("/v1/jobs/%s%s", e, tail);
    curl_free(e);
    return p;
}

static easel_err call(struct easel_remote *r, const char *method, const char *path,
                      const char *body, int prefer_s, cJSON **out)
{
    return call_with(r, method, path, body, prefer_s, NULL, out);
}

static easel_err job_call(struct easel_remote *r, const char *method, const char *id,
                          const char *tail, cJSON **out)
{
    *out = NULL;
    if (!id || !*id)
        return fail(r, EASEL_EINVAL, 0, "", "a job id is needed");
    char *path = job_path(r, id, tail);
    if (!path)
        return EASEL_ENOMEM;
    easel_err rc = call(r, method, path, NULL, 0, out);
    free(path);
    return rc;
}

easel_err easel_remote_get(struct easel_remote *r, const char *id, cJSON **out)
{
    return job_call(r, "GET", id, "", out);
}

easel_err easel_remote_cancel(struct easel_remote *r, const char *id, cJSON **out)
{
    return job_call(r, "POST", id, "/cancel", out);
}

easel_err easel_remote_retry(struct easel_remote *r, const char *id, cJSON **out)
{
    return job_call(r, "POST", id, "/retry", out);
}

easel_err easel_remote_events(struct easel_remote *r, const char *id, cJSON **out)
{
    return job_call(r, "GET", id, "/events", out);
}

/* Is the last failure one that a later poll may not meet? */
static bool transient(const struct easel_remote *r, easel_err rc)
{
    if (rc == EASEL_ECONN || rc == EASEL_ETIMEOUT)
        return r->err.status == 0;
    return rc == EASEL_EHTTP && (r->err.status == 429 || r->err.status >= 500);
}

/* One poll's request, repeated through a transient failure for up to
 * POLL_OUTAGE_MS (its last failure is what the caller sees after that). */
static easel_err poll_call(struct easel_remote *r, const char *id, const char *tail,
                           int64_t pause_ms, cJSON **out)
{
    int64_t give_up = easel_now_ms() + POLL_OUTAGE_MS;
    for (;;) {
        easel_err rc = job_call(r, "GET", id, tail, out);
        if (!rc || !transient(r, rc) || easel_now_ms() + pause_ms > give_up)
            return rc;
        easel_sleep_ms(pause_ms);
    }
}

/* Has the job (an API object) reached an end? */
static bool ended(const cJSON *job)
{
    enum easel_status st;
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "status"));
    return s && easel_status_parse(s, &st) == EASEL_OK && easel_status_terminal(st);
}

/* The request body of POST /v1/jobs for s. */
static easel_err create_body(struct easel_remote *r, const struct easel_submit *s, char **out)
{
    *out = NULL;
    if (s->id)
        return fail(r, EASEL_EINVAL, 0, "",
                    "--id cannot be used with a server, which names the jobs it creates "
                    "(--idempotency-key makes a submit safe to repeat)");
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return EASEL_ENOMEM;
    easel_err rc = EASEL_OK;
    static const char *const keys[] = {"model", "type", "idempotency_key", "run_at"};
    const char *vals[] = {s->model, s->type, s->idempotency_key, s->run_at};
    for (size_t k = 0; k < 4; k++)
        if (vals[k] && *vals[k])
            cJSON_AddStringToObject(b, keys[k], vals[k]);
    if (s->priority)
        cJSON_AddNumberToObject(b, "priority", s->priority);
    if (s->delay_ms > 0) {
        char d[32];
        easel_fmt_cut(d, sizeof(d), "%lldms", (long long)s->delay_ms);
        cJSON_AddStringToObject(b, "delay", d);
    }
    if (s->input_json) {
        cJSON *in = cJSON_Parse(s->input_json);
        if (!cJSON_IsObject(in)) {
            cJSON_Delete(in);
            rc = fail(r, EASEL_EINVAL, 0, "", "--input must be a JSON object, got: %.80s",
                      s->input_json);
            goto out;
        }
        cJSON_AddItemToObject(b, "input", in);
    }
    if (s->images && s->images[0]) {
        cJSON *imgs = cJSON_AddArrayToObject(b, "images");
        for (size_t i = 0; s->images[i]; i++)
            cJSON_AddItemToArray(imgs, cJSON_CreateString(s->images[i]));
    }
    if (!(*out = cJSON_PrintUnformatted(b)))
        rc = EASEL_ENOMEM;
out:
    cJSON_Delete(b);
    return rc;
}

easel_err easel_remote_submit(struct easel_remote *r, const struct easel_submit *s,
                              int64_t wait_ms, cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    char *body = NULL;
    easel_err rc = create_body(r, s, &body);
    if (rc)
        return rc;
    int64_t deadline = easel_now_ms() + wait_ms;
    int prefer_s = 0;
    if (wait_ms > 0)
        prefer_s = wait_ms >= PREFER_MAX_S * 1000 ? PREFER_MAX_S : (int)((wait_ms + 999) / 1000);
    rc = call(r, "POST", "/v1/jobs", body, prefer_s, out);
    free(body);
    if (rc || wait_ms <= 0)
        return rc;
    /* a server that held the answer has most likely ended the job; one that
     * does not hold (or a wait past its limit) is polled */
    char id[EASEL_UUID_LEN + 1];
    const char *made = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*out, "id"));
    easel_strlcpy(id, made ? made : "", sizeof(id));
    while (!ended(*out)) {
        if (easel_now_ms() >= deadline)
            return fail(r, EASEL_ETIMEOUT, 0, "wait_timeout",
                        "job %s did not end within the wait (%.0f s); it is %s", id,
                        (double)wait_ms / 1000.0,
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*out, "status")));
        easel_sleep_ms(WAIT_POLL_MS);
        cJSON *j = NULL;
        if ((rc = poll_call(r, id, "", WAIT_POLL_MS, &j)))
            return rc; /* *out keeps the job as last seen */
        cJSON_Delete(*out);
        *out = j;
    }
    return EASEL_OK;
}

/* Appends "&name=value" (value escaped) when value is set. */
static easel_err add_arg(struct easel_remote *r, struct easel_buf *q, const char *name,
                         const char *value)
{
    if (!value || !*value)
        return EASEL_OK;
    char *e = curl_easy_escape(r->h, value, 0);
    if (!e)
        return EASEL_ENOMEM;
    easel_err rc = easel_buf_printf(q, "%c%s=%s", q->len ? '&' : '?', name, e);
    curl_free(e);
    return rc;
}

easel_err easel_remote_webhooks(struct easel_remote *r, const char *job, const char *status,
                                size_t limit, cJSON **out)
{
    struct easel_buf path;
    char lim[24];
    easel_err rc;
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    easel_buf_init(&path, 0);
    easel_fmt_cut(lim, sizeof(lim), "%zu", limit ? limit : 100);
    if ((rc = add_arg(r, &path, "job", job)) || (rc = add_arg(r, &path, "status", status)) ||
        (rc = add_arg(r, &path, "limit", lim)))
        goto out;
    char *full = easel_asprintf("/v1/webhooks%s", path.data ? path.data : "");
    if (!full) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    rc = call(r, "GET", full, NULL, 0, out);
    free(full);
out:
    easel_buf_cleanup(&path);
    return rc;
}

easel_err easel_remote_redeliver(struct easel_remote *r, const char *webhook_id, cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    if (!webhook_id || !*webhook_id)
        return fail(r, EASEL_EINVAL, 0, "", "a webhook delivery id is needed");
    char *e = curl_easy_escape(r->h, webhook_id, 0);
    char *path = e ? easel_asprintf("/v1/webhooks/%s/redeliver", e) : NULL;
    curl_free(e);
    if (!path)
        return EASEL_ENOMEM;
    easel_err rc = call(r, "POST", path, NULL, 0, out);
    free(path);
    return rc;
}

easel_err easel_remote_list(struct easel_remote *r, const struct easel_remote_query *q,
                            cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    easel_err rc = EASEL_OK;
    cJSON *all = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(all, "items");
    char *cursor = NULL;
    struct easel_buf path;
    easel_buf_init(&path, 0);
    if (!items) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    size_t want = q->limit ? q->limit : 1;
    for (;;) {
        size_t left = want - (size_t)cJSON_GetArraySize(items);
        char lim[24];
        easel_fmt_cut(lim, sizeof(lim), "%zu", left < 1000 ? left : 1000);
        easel_buf_reset(&path);
        if ((rc = add_arg(r, &path, "status", q->status)) ||
            (rc = add_arg(r, &path, "model", q->model)) ||
            (rc = add_arg(r, &path, "owner", q->owner)) ||
            (rc = add_arg(r, &path, "limit", lim)) || (rc = add_arg(r, &path, "cursor", cursor)))
            goto out;
        char *full = easel_asprintf("/v1/jobs%s", path.data ? path.data : "");
        if (!full) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        cJSON *page = NULL;
        rc = call(r, "GET", full, NULL, 0, &page);
        free(full);
        if (rc)
            goto out;
        cJSON *got = cJSON_DetachItemFromObjectCaseSensitive(page, "items");
        const char *next =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(page, "next_cursor"));
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        cJSON_Delete(page);
        if (!cJSON_IsArray(got)) {
            cJSON_Delete(got);
            rc = fail(r, EASEL_EPARSE, 200, "malformed_json",
                      "the server at %s answered a list without items", r->shown);
            goto out;
        }
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(got, 0)))
            cJSON_AddItemToArray(items, it);
        cJSON_Delete(got);
        if (!cursor || (size_t)cJSON_GetArraySize(items) >= want)
            break;
    }
    if (cursor)
        cJSON_AddStringToObject(all, "next_cursor", cursor);
    else
        cJSON_AddNullToObject(all, "next_cursor");
    *out = all;
    all = NULL;
out:
    free(cursor);
    easel_buf_cleanup(&path);
    cJSON_Delete(all);
    return rc;
}

/* ------------------------------------------------------------- follow */

/* A stream that sends nothing, not even its heartbeat comment (15 s by
 * default), for this long is taken as dead and opened again. */
#define STREAM_SILENCE_S 60
#define STREAM_MAX_EVENT ((size_t)4 << 20)

struct follow {
    CURL *h;
    struct easel_sse sse;
    easel_event_fn fn;
    void *ud;
    long status;          /* the answer's, once its head is in */
    struct easel_buf err; /* a non-2xx answer's body */
    bool done, stopped, progressed;
};

static int on_sse_event(void *ud, const char *event, const char *id, const char *data,
                        size_t len)
{
    struct follow *f = ud;
    (void)id; /* the reader keeps it for the next Last-Event-ID */
    if (!strcmp(event, "done")) {
        f->done = true;
        return 1;
    }
    cJSON *e = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(e)) {
        cJSON_Delete(e);
        return 0; /* not an event of ours: a proxy's noise, skipped */
    }
    /* the shape of GET /v1/jobs/{id}/events, the same as without -f */
    cJSON_DeleteItemFromObjectCaseSensitive(e, "job_id");
    f->progressed = true;
    int stop = f->fn(f->ud, e);
    cJSON_Delete(e);
    if (stop)
        f->stopped = true;
    return stop;
}

static size_t on_stream(char *p, size_t sz, size_t n, void *ud)
{
    struct follow *f = ud;
    size_t len = sz * n;
    if (!f->status)
        curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->status);
    if (f->status < 200 || f->status > 299)
        return easel_buf_append(&f->err, p, len) == EASEL_OK ? len : 0;
    /* a short count (done, stopped, an event too large) ends the transfer */
    return easel_sse_feed(&f->sse, p, len) == EASEL_OK ? len : 0;
}

/* One connection to the job's stream, read until it ends. EASEL_OK when
 * it ended (done, stopped by the caller, or cut short: see f). */
static easel_err stream_once(struct easel_remote *r, const char *path, struct follow *f)
{
    struct curl_slist *hdrs = NULL;
    char last[96], errbuf[CURL_ERROR_SIZE] = "";
    easel_err rc = EASEL_OK;
    char *url = easel_asprintf("%s%s", r->base, path);
    if (!url)
        return EASEL_ENOMEM;
    /* resume: exactly the events after the last one shown */
    if (f->sse.last_id[0])
        easel_fmt_cut(last, sizeof(last), "Last-Event-ID: %s", f->sse.last_id);
    if (!add_hdr(&hdrs, "Accept: text/event-stream") ||
        (f->sse.last_id[0] && !add_hdr(&hdrs, last)) || !request_base(r, url, &hdrs))
        goto nomem;
    f->status = 0;
    easel_buf_reset(&f->err);
    easel_sse_reset(&f->sse);

    CURL *c = r->h;
    f->h = c;
    /* no overall timeout: a stream lasts as long as its job */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STREAM_SILENCE_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (f->done || f->stopped)
        goto out;
    if (f->status && (f->status < 200 || f->status > 299))
        rc = http_failed(r, f->status, &f->err);
    else if (cc == CURLE_WRITE_ERROR)
        rc = fail(r, EASEL_ELIMIT, 0, "too_large",
                  "an event from the easel server at %s is larger than %zu MiB", r->shown,
                  STREAM_MAX_EVENT >> 20);
    else if (cc != CURLE_OK)
        rc = transport_failed(r, cc, errbuf, (int64_t)STREAM_SILENCE_S * 1000);
    goto out;
nomem:
    rc = EASEL_ENOMEM;
out:
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}

easel_err easel_remote_follow(struct easel_remote *r, const char *id, int64_t poll_ms,
                              easel_event_fn fn, void *ud)
{
    if (!id || !*id)
        return fail(r, EASEL_EINVAL, 0, "", "a job id is needed");
    memset(&r->err, 0, sizeof(r->err));
    char *path = job_path(r, id, "/stream");
    if (!path)
        return EASEL_ENOMEM;
    struct follow f = {.fn = fn, .ud = ud};
    easel_sse_init(&f.sse, STREAM_MAX_EVENT, on_sse_event, &f);
    easel_buf_init(&f.err, MAX_BODY);
    easel_err rc;
    int64_t give_up = easel_now_ms() + POLL_OUTAGE_MS;
    for (;;) {
        rc = stream_once(r, path, &f);
        if (f.stopped) {
            rc = EASEL_ECANCELED;
            break;
        }
        if (f.done) {
            rc = EASEL_OK;
            break;
        }
        /* cut short: a replica restarting, a proxy's idle limit, a client
         * too slow for the server; anything else is the answer */
        if (rc && !transient(r, rc))
            break;
        if (f.progressed)
            give_up = easel_now_ms() + POLL_OUTAGE_MS;
        f.progressed = false;
        if (easel_now_ms() + poll_ms > give_up) {
            if (!rc)
                rc = fail(r, EASEL_ECONN, 0, "unreachable",
                          "the event stream of the easel server at %s kept ending "
                          "before the job did",
                          r->shown);
            break;
        }
        easel_sleep_ms(poll_ms);
    }
    easel_sse_cleanup(&f.sse);
    easel_buf_cleanup(&f.err);
    free(path);
    return rc;
}

/* /v1/credits/{owner}[/grants], the owner escaped; NULL when memory ran out */
static char *credits_path(struct easel_remote *r, const char *owner, const char *tail)
{
    char *e = curl_easy_escape(r->h, owner, 0);
    char *path = e ? easel_asprintf("/v1/credits/%s%s", e, tail) : NULL;
    curl_free(e);
    return path;
}

easel_err easel_remote_credits(struct easel_remote *r, const char *owner, size_t limit,
                               cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    if (!owner || !*owner)
        return fail(r, EASEL_EINVAL, 0, "", "an owner (CHANNEL:ID) is needed");
    char tail[32];
    easel_fmt_cut(tail, sizeof(tail), "?limit=%zu", limit ? limit : 100);
    char *path = credits_path(r, owner, tail);
    if (!path)
        return EASEL_ENOMEM;
    easel_err rc = call(r, "GET", path, NULL, 0, out);
    free(path);
    return rc;
}

easel_err easel_remote_grant(struct easel_remote *r, const char *owner, int64_t amount,
                             const char *reason, const char *key, cJSON **out)
{
    *out = NULL;
    memset(&r->err, 0, sizeof(r->err));
    if (!owner || !*owner)
        return fail(r, EASEL_EINVAL, 0, "", "an owner (CHANNEL:ID) is needed");
    /* a header value cannot carry a line break */
    if (key && strpbrk(key, "\r\n"))
        return fail(r, EASEL_EINVAL, 0, "", "an idempotency key is one line");
    cJSON *b = cJSON_CreateObject();
    char *body = NULL, *path = credits_path(r, owner, "/grants"), *hdr = NULL;
    easel_err rc = EASEL_ENOMEM;
    if (!b || !path || !cJSON_AddNumberToObject(b, "amount", (double)amount))
        goto out;
    if (reason && !cJSON_AddStringToObject(b, "reason", reason))
        goto out;
    if (key && *key && !(hdr = easel_asprintf("Idempotency-Key: %s", key)))
        goto out;
    if (!(body = cJSON_PrintUnformatted(b)))
        goto out;
    rc = call_with(r, "POST", path, body, 0, hdr, out);
out:
    cJSON_Delete(b);
    free(body);
    free(path);
    free(hdr);
    return rc;
}
