/*
 * http.c - the HTTP layer every provider shares: one libcurl easy handle per
 * call context, so the connection (and its TLS session) is reused across
 * the create, the polls and the cancel of one prediction; response size
 * caps; Retry-After and retry-after-ms read from the headers; transport
 * failures and HTTP statuses classified in one place.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "easel/providers.h"
#include "easel/trace.h"

#define DEFAULT_MAX_BODY ((size_t)64 << 20)

struct easel_http {
    CURL *h;
    long last_status;
    const struct easel_span *parent;
};

void easel_http_trace(struct easel_http *h, const struct easel_span *parent)
{
    if (h)
        h->parent = parent;
}

long easel_http_last_status(const struct easel_http *h)
{
    return h ? h->last_status : 0;
}

/* The host of url (no user part, port or path) into dst, for a span. */
static void url_host(const char *url, char *dst, size_t len)
{
    const char *p = url ? strstr(url, "://") : NULL;
    dst[0] = '\0';
    if (!p)
        return;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t h = p[0] == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":/?#");
    if (h < n)
        n = h;
    if (n >= len)
        n = len - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

easel_err easel_http_new(struct easel_http **out)
{
    pthread_once(&curl_once, curl_init_once);
    struct easel_http *h = calloc(1, sizeof(*h));
    if (!h || !(h->h = curl_easy_init())) {
        free(h);
        return EASEL_ENOMEM;
    }
    *out = h;
    return EASEL_OK;
}

void easel_http_free(struct easel_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->h);
    free(h);
}

void easel_http_resp_cleanup(struct easel_http_resp *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void easel_redact_secret(char *s, size_t size, const char *secret)
{
    static const char mark[] = "[redacted]";
    size_t sl = secret ? strlen(secret) : 0;
    if (!s || sl < 4) /* a shorter "secret" would redact ordinary words */
        return;
    char *p;
    while ((p = strstr(s, secret)) != NULL) {
        size_t tail = strlen(p + sl);
        size_t ml = sizeof(mark) - 1;
        if ((size_t)(p - s) + ml + tail + 1 > size)
            ml = 0; /* no room for the mark: just cut the secret out */
        memmove(p + ml, p + sl, tail + 1);
        memcpy(p, mark, ml);
    }
}

int64_t easel_retry_after_parse(const char *v, int64_t now_wall_ms)
{
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        char *end;
        double secs = strtod(v, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || secs < 0 || secs > 86400.0 * 7)
            return -1;
        return (int64_t)(secs * 1000.0);
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t ms = (int64_t)t * 1000 - now_wall_ms;
    return ms > 0 ? ms : 0;
}

struct sink {
    struct easel_http_resp *r;
    size_t cap, max;
    bool too_big;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t add = sz * n;
    if (s->r->len + add > s->max) {
        s->too_big = true;
        return 0;
    }
    if (s->r->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->r->len + add + 1)
            cap *= 2;
        char *nb = realloc(s->r->body, cap);
        if (!nb)
            return 0;
        s->r->body = nb;
        s->cap = cap;
    }
    memcpy(s->r->body + s->r->len, p, add);
    s->r->len += add;
    s->r->body[s->r->len] = '\0';
    return add;
}

/* A header's value if the line is that header, trimmed into dst. */
static bool header_value(const char *line, size_t n, const char *name, char *dst,
                         size_t dstlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t len = (size_t)(end - v) < dstlen - 1 ? (size_t)(end - v) : dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
    return true;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct easel_http_resp *r = ud;
    size_t len = sz * n;
    char v[128];
    if (len > 5 && !strncmp(p, "HTTP/", 5)) {
        r->retry_after_ms = 0; /* a new response (after 100-continue) */
    } else if (header_value(p, len, "retry-after-ms", v, sizeof(v))) {
        char *end;
        double ms = strtod(v, &end);
        if (end != v && ms >= 0 && ms < 7 * 86400e3)
            r->retry_after_ms = (int64_t)ms; /* the more precise one wins */
    } else if (header_value(p, len, "retry-after", v, sizeof(v))) {
        int64_t ms = easel_retry_after_parse(v, easel_wall_ms());
        if (ms >= 0 && r->retry_after_ms == 0)
            r->retry_after_ms = ms > 0 ? ms : 1;
    } else if (header_value(p, len, "content-type", v, sizeof(v))) {
        easel_strlcpy(r->content_type, v, sizeof(r->content_type));
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const volatile sig_atomic_t *flag = ud;
    return flag && *flag ? 1 : 0;
}

easel_err easel_http_do(struct easel_http *h, const struct easel_http_req *r,
                        struct easel_http_resp *out, struct easel_error *err)
{
    memset(out, 0, sizeof(*out));
    CURL *c = h->h;
    curl_easy_reset(c);
    struct curl_slist *hdrs = NULL;
    for (const char *const *l = r->headers; l && *l; l++)
        hdrs = curl_slist_append(hdrs, *l);
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    curl_mime *mime = NULL;
    struct sink sk = {.r = out, .max = r->max_body ? r->max_body : DEFAULT_MAX_BODY};
    char errbuf[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "easel/" EASEL_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(r->timeout_ms > 0 ? r->timeout_ms : 60000));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sk);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (r->abort_on) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)r->abort_on);
    }
    if (r->nparts) {
        mime = curl_mime_init(c);
        for (size_t i = 0; i < r->nparts && mime; i++) {
            const struct easel_http_part *p = &r->parts[i];
            curl_mimepart *mp = curl_mime_addpart(mime);
            curl_mime_name(mp, p->name);
            curl_mime_data(mp, p->data, p->len);
            if (p->filename) {
                curl_mime_filename(mp, p->filename);
                curl_mime_type(mp, p->mime ? p->mime : "application/octet-stream");
            }
        }
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (r->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (r->method && strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    else if (r->method && !strcmp(r->method, "POST") && !r->body && !r->nparts) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    char span_name[32], span_host[256];
    struct easel_span *span = NULL;
    if (h->parent) {
        easel_fmt_cut(span_name, sizeof(span_name), "HTTP %s", r->method ? r->method : "GET");
        span = easel_span_child(h->parent, span_name, EASEL_SPAN_CLIENT);
        url_host(r->url, span_host, sizeof(span_host));
        easel_span_str(span, "http.request.method", r->method ? r->method : "GET");
        easel_span_str(span, "server.address", span_host);
    }
    CURLcode cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status)
        h->last_status = out->status;
    if (span) {
        if (out->status)
            easel_span_int(span, "http.response.status_code", out->status);
        if (cr != CURLE_OK)
            easel_span_error(span, curl_easy_strerror(cr));
        else if (out->status >= 400)
            easel_span_error(span, "HTTP error");
        easel_span_end(span);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);

    easel_err rc = EASEL_OK;
    if (cr != CURLE_OK) {
        char host[256];
        easel_redact_url(r->url, host, sizeof(host));
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cr);
        if (cr == CURLE_ABORTED_BY_CALLBACK)
            rc = easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_CANCELED,
                                 "%s %s abandoned: the job was stopped",
                                 r->method ? r->method : "GET", host);
        else if (sk.too_big)
            rc = easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                                 EASEL_R_PROVIDER_RESPONSE_TOO_LARGE,
                                 "%s answered with more than %zu bytes", host, sk.max);
        else if (cr == CURLE_OPERATION_TIMEDOUT)
            rc = easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_TIMEOUT,
                                 "%s %s timed out: %s", r->method ? r->method : "GET", host, why);
        else if (cr == CURLE_OUT_OF_MEMORY)
            rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                                 "out of memory talking to %s", host);
        else
            rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_UNREACHABLE,
                                 "%s %s failed: %s", r->method ? r->method : "GET", host, why);
        if (err)
            easel_redact_secret(err->msg, sizeof(err->msg), r->secret);
        easel_http_resp_cleanup(out);
    } else if (!out->body) {
        out->body = strdup("");
        if (!out->body)
            rc = EASEL_ENOMEM;
    }
    return rc;
}

easel_err easel_provider_http_error(struct easel_error *err, const char *provider,
                                    long status, enum easel_reason reason,
                                    const char *provider_msg)
{
    bool retry = status == 408 || status == 409 || status == 425 || status == 429 ||
                 status >= 500 || status < 100;
    easel_err rc = easel_error_set(err, retry ? EASEL_EAGAIN : EASEL_EPROVIDER,
                                   retry ? EASEL_CLASS_RETRYABLE : EASEL_CLASS_PERMANENT,
                                   reason, "%s %ld: %s", provider, status,
                                   provider_msg && *provider_msg ? provider_msg
                                                                 : "(no message)");
    if (reason == EASEL_R_NONE)
        easel_error_reason(err, EASEL_R_PROVIDER_HTTP, status);
    return rc;
}

void easel_call_result_cleanup(struct easel_call_result *r)
{
    if (!r)
        return;
    free(r->data);
    free(r->provider_ref);
    cJSON_Delete(r->usage);
    memset(r, 0, sizeof(*r));
}
