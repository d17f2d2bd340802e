/*
 * s3.c - S3-compatible object storage over libcurl, every request signed
 * with SigV4 (sigv4.c): AWS S3, MinIO, Cloudflare R2, Google Cloud
 * Storage's interoperability API, Supabase Storage's S3 endpoint.
 *
 * Objects are addressed virtual-hosted (https://bucket.endpoint/key) or
 * path-style (https://endpoint/bucket/key, which MinIO and most
 * self-hosted stores want). Objects up to the part size go in one PUT;
 * larger ones as a multipart upload, aborted if any part fails so no
 * orphaned parts are left to pay for. x-amz-content-sha256 is always sent
 * and signed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "easel/storage.h"
#include "s3_int.h"

#define MIN_PART (5LL * 1024 * 1024) /* S3's smallest part but the last */
#define MAX_PARTS 10000

struct easel_s3 {
    char *scheme;     /* "https" */
    char *host;       /* the endpoint's host[:port], as sent */
    char *base_path;  /* a path prefix on the endpoint ("" usually) */
    char *region, *access_key, *secret_key, *session_token;
    bool path_style;
    int64_t part_size;
    int64_t timeout_ms;
};

void easel_s3_opts_from_env(struct easel_s3_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = getenv("EASEL_S3_ENDPOINT");
    o->region = getenv("EASEL_S3_REGION");
    if (!o->region || !*o->region)
        o->region = getenv("AWS_REGION");
    if (!o->region || !*o->region)
        o->region = getenv("AWS_DEFAULT_REGION");
    const char *ps = getenv("EASEL_S3_PATH_STYLE");
    o->path_style = ps && (!strcmp(ps, "1") || !strcasecmp(ps, "true"));
    o->access_key = getenv("AWS_ACCESS_KEY_ID");
    o->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    o->session_token = getenv("AWS_SESSION_TOKEN");
    const char *part = getenv("EASEL_S3_PART_SIZE");
    int64_t v;
    if (part && !easel_parse_size(part, &v))
        o->part_size = v;
}

easel_err easel_s3_open(const struct easel_s3_opts *o, struct easel_s3 **out,
                        struct easel_error *err)
{
    *out = NULL;
    if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_NO_CREDENTIAL,
                               "S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                               "environment");
    const char *region = o->region && *o->region ? o->region : "us-east-1";
    char dflt[128]; /* a host name: refused rather than cut */
    if ((!strcmp(region, "us-east-1")
             ? easel_snprintf(dflt, sizeof(dflt), "https://s3.amazonaws.com")
             : easel_snprintf(dflt, sizeof(dflt), "https://s3.%s.amazonaws.com", region)) &&
        !(o->endpoint && *o->endpoint))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_S3_ENDPOINT,
                               "the S3 region %.60s... is too long for an endpoint name", region);
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : dflt;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    easel_err rc = EASEL_OK;
    if (!u || curl_url_set(u, CURLUPART_URL, ep, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_S3_ENDPOINT,
                             "the S3 endpoint %.200s is not an http(s) URL", ep);
    if (!rc) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        struct easel_s3 *s = calloc(1, sizeof(*s));
        if (!s) {
            rc = EASEL_ENOMEM;
        } else {
            s->scheme = easel_strdup(scheme);
            s->host = port ? easel_asprintf("%s:%s", host, port) : easel_strdup(host);
            size_t pl = path ? strlen(path) : 0;
            while (pl > 0 && path[pl - 1] == '/')
                pl--;
            s->base_path = strndup(path ? path : "", pl);
            s->region = easel_strdup(region);
            s->access_key = easel_strdup(o->access_key);
            s->secret_key = easel_strdup(o->secret_key);
            s->session_token =
                o->session_token && *o->session_token ? easel_strdup(o->session_token) : NULL;
            s->path_style = o->path_style;
            s->part_size = o->part_size >= MIN_PART ? o->part_size : 8 * 1024 * 1024;
            s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 120000;
            if (!s->scheme || !s->host || !s->base_path || !s->region || !s->access_key ||
                !s->secret_key) {
                easel_s3_free(s);
                rc = EASEL_ENOMEM;
            } else {
                *out = s;
            }
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

void easel_s3_free(struct easel_s3 *s)
{
    if (!s)
        return;
    free(s->scheme);
    free(s->host);
    free(s->base_path);
    free(s->region);
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s);
}

static bool bucket_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > 63)
        return false;
    for (const char *p = b; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

/* Host header and path (encoded) of an object, per the addressing style. */
static easel_err address(const struct easel_s3 *s, const char *bucket, const char *key,
                         char **host, char **path)
{
    struct easel_buf p;
    easel_buf_init(&p, 0);
    easel_err rc = easel_buf_puts(&p, s->base_path);
    if (s->path_style || strchr(bucket, '.')) { /* dots break TLS wildcard names */
        *host = easel_strdup(s->host);
        if (!rc)
            rc = easel_buf_printf(&p, "/%s", bucket);
    } else {
        *host = easel_asprintf("%s.%s", bucket, s->host);
    }
    if (!rc)
        rc = easel_buf_puts(&p, "/");
    if (!rc && key)
        rc = easel_uri_encode(&p, key, true);
    size_t len;
    *path = rc ? NULL : easel_buf_steal(&p, &len);
    easel_buf_cleanup(&p);
    if (!*host || !*path) {
        free(*host);
        free(*path);
        *host = *path = NULL;
        return EASEL_ENOMEM;
    }
    return EASEL_OK;
}

char *easel_s3_presign(const struct easel_s3 *s, const char *method, const char *bucket,
                       const char *key, int64_t expires_s, const char *amz_date)
{
    char *host = NULL, *path = NULL;
    if (!bucket_ok(bucket) || !key || !*key || address(s, bucket, key, &host, &path))
        return NULL;
    char now[17];
    if (!amz_date) {
        easel_amz_date(easel_wall_ms(), now);
        amz_date = now;
    }
    struct easel_sigv4 k = {s->access_key, s->secret_key, s->session_token, s->region, "s3"};
    char *q = easel_sigv4_presign(&k, method, host, path, NULL, expires_s, amz_date);
    char *url = q ? easel_asprintf("%s://%s%s?%s", s->scheme, host, path, q) : NULL;
    free(q);
    free(host);
    free(path);
    return url;
}

/* ------------------------------------------------------------ requests */

struct body_in {
    const unsigned char *p;
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct body_in *b = ud;
    size_t want = size * n, take = want < b->left ? want : b->left;
    memcpy(buf, b->p, take);
    b->p += take;
    b->left -= take;
    return take;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    return easel_buf_append(ud, p, size * n) ? 0 : size * n;
}

struct resp {
    long status;
    struct easel_buf body;
    char etag[128];
    bool etag_long; /* the ETag did not fit: etag holds no usable value */
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(p, "etag:", 5)) {
        const char *v = p + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        /* sent back verbatim in CompleteMultipartUpload: never cut */
        r->etag_long = easel_snprintf(r->etag, sizeof(r->etag), "%.*s", (int)vl, v) != EASEL_OK;
    }
    return len;
}

/* Where the text of the first <tag>...</tag> in xml starts, and its length
 * in *len; NULL when there is none (or the tag is too long to look for). */
static const char *xml_span(const char *xml, const char *tag, size_t *len)
{
    char open[64], close[64];
    if (!xml || easel_snprintf(open, sizeof(open), "<%s>", tag) ||
        easel_snprintf(close, sizeof(close), "</%s>", tag))
        return NULL;
    const char *a = strstr(xml, open), *b = a ? strstr(a + strlen(open), close) : NULL;
    if (!a || !b)
        return NULL;
    a += strlen(open);
    *len = (size_t)(b - a);
    return a;
}

easel_err s3_xml_value(const char *xml, const char *tag, char *out, size_t n)
{
    size_t len = 0;
    const char *a = xml_span(xml, tag, &len);
    if (!a) {
        out[0] = '\0';
        return EASEL_OK;
    }
    if (len >= n) {
        easel_strlcpy(out, a, n);
        return EASEL_ELIMIT;
    }
    memcpy(out, a, len);
    out[len] = '\0';
    return EASEL_OK;
}

char *s3_xml_dup(const char *xml, const char *tag)
{
    size_t len = 0;
    const char *a = xml_span(xml, tag, &len);
    return a ? easel_strndup(a, len) : NULL;
}

/* The value of <tag> for a person (an error message): a long one is cut
 * with a visible "...". */
static void xml_value_cut(const char *xml, const char *tag, char *out, size_t n)
{
    size_t len = 0;
    const char *a = xml_span(xml, tag, &len);
    if (!a)
        out[0] = '\0';
    else
        easel_fmt_cut(out, n, "%.*s", len > 1 << 20 ? 1 << 20 : (int)len, a);
}

easel_err s3_status_error(long status, const char *body, const char *method,
                          const char *where, struct easel_error *err)
{
    char code[64], msg[256];
    /* both for a person; a code too long to fit is none of those below */
    xml_value_cut(body, "Code", code, sizeof(code));
    xml_value_cut(body, "Message", msg, sizeof(msg));
    bool retry = status == 429 || status >= 500 || !strcmp(code, "SlowDown") ||
                 !strcmp(code, "RequestTimeout");
    enum easel_reason reason = status == 404 ? EASEL_R_STORAGE_NOT_FOUND
                             : status == 403 ? EASEL_R_STORAGE_DENIED
                             : retry         ? EASEL_R_STORAGE_UNAVAILABLE
                                             : EASEL_R_STORAGE_REJECTED;
    easel_err rc = easel_error_set(err, EASEL_EHTTP,
                                   retry ? EASEL_CLASS_RETRYABLE : EASEL_CLASS_PERMANENT,
                                   reason, "%s %s: HTTP %ld%s%s%s%s", method, where, status,
                                   code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
    if (err)
        err->http_status = (int)status;
    return rc;
}

/* Appends one formatted header line to *h. The line is allocated to its
 * length (a header is never cut); on failure *h is left as it was. */
static easel_err add_header(struct curl_slist **h, const char *fmt, ...) EASEL_PRINTF(2, 3);
static easel_err add_header(struct curl_slist **h, const char *fmt, ...)
{
    struct easel_buf line;
    easel_buf_init(&line, 0);
    va_list ap;
    va_start(ap, fmt);
    easel_err rc = easel_buf_vprintf(&line, fmt, ap);
    va_end(ap);
    if (!rc) {
        struct curl_slist *n = curl_slist_append(*h, line.data);
        if (n)
            *h = n;
        else
            rc = EASEL_ENOMEM;
    }
    easel_buf_cleanup(&line);
    return rc;
}

/* One signed request. query: canonical-ready "a=1&b=2" or NULL. */
static easel_err request(const struct easel_s3 *s, const char *method, const char *bucket,
                         const char *key, const char *query, const void *body, size_t len,
                         const char *const *extra, int64_t max_body, struct resp *r,
                         struct easel_error *err)
{
    memset(r, 0, sizeof(*r));
    easel_buf_init(&r->body, max_body > 0 ? (size_t)max_body : 0);
    char *host = NULL, *path = NULL;
    easel_err rc = address(s, bucket, key, &host, &path);
    if (rc)
        return rc;
    char ph[65], date[17];
    easel_sha256_hex(body ? body : "", body ? len : 0, ph);
    easel_amz_date(easel_wall_ms(), date);
    struct easel_sigv4 k = {s->access_key, s->secret_key, s->session_token, s->region, "s3"};
    struct easel_sigv4_req sr = {.method = method, .host = host, .path = path, .query = query,
                                 .headers = extra, .payload_hash = ph, .amz_date = date,
                                 .sign_payload_header = true};
    struct easel_sigv4_out so;
    if ((rc = easel_sigv4_sign(&k, &sr, &so))) {
        free(host);
        free(path);
        return rc;
    }
    char *url = easel_asprintf("%s://%s%s%s%s", s->scheme, host, path, query ? "?" : "",
                               query ? query : "");
    struct curl_slist *h = NULL;
    easel_err hrc = add_header(&h, "Host: %s", host);
    if (!hrc)
        hrc = add_header(&h, "x-amz-date: %s", date);
    if (!hrc)
        hrc = add_header(&h, "x-amz-content-sha256: %s", ph);
    if (!hrc && s->session_token)
        hrc = add_header(&h, "x-amz-security-token: %s", s->session_token);
    if (!hrc)
        hrc = add_header(&h, "Authorization: %s", so.authorization);
    for (const char *const *e = extra; !hrc && e && *e; e++)
        hrc = add_header(&h, "%s", *e);
    if (!hrc)
        hrc = add_header(&h, "Expect:");
    easel_sigv4_out_cleanup(&so);
    if (hrc) { /* a request with a header missing would be refused or wrong */
        curl_slist_free_all(h);
        h = NULL;
    }

    CURL *c = curl_easy_init();
    char ebuf[CURL_ERROR_SIZE] = "";
    struct body_in in = {body, body ? len : 0};
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (c && url && h) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "easel");
        if (!strcmp(method, "PUT")) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &in);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)in.left);
        } else if (!strcmp(method, "POST")) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)in.left);
        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
            if (!strcmp(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        }
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    char where[300]; /* for a person: a long key is cut with "..." */
    easel_fmt_cut(where, sizeof(where), "s3://%s/%s", bucket, key ? key : "");
    if (cc == CURLE_WRITE_ERROR && max_body > 0)
        rc = easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_SOURCE_TOO_LARGE,
                             "%s is larger than the limit of %lld bytes", where,
                             (long long)max_body);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE, EASEL_R_STORAGE_TIMEOUT,
                             "%s %s timed out: %s", method, where, ebuf);
    else if (cc != CURLE_OK)
        rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_RETRYABLE, EASEL_R_STORAGE_UNREACHABLE,
                             "%s %s: %s", method, where,
                             ebuf[0] ? ebuf : curl_easy_strerror(cc));
    else if (r->status < 200 || r->status > 299) {
        easel_buf_append(&r->body, "", 1);
        rc = s3_status_error(r->status, r->body.data, method, where, err);
    }
    free(url);
    free(host);
    free(path);
    if (rc)
        easel_buf_cleanup(&r->body);
    return rc;
}

/* The extra headers of an upload: content type and cache control. The
 * object keeps them as sent, so one that does not fit is refused, never
 * cut. */
static easel_err object_headers(const char *ctype, const char *cache, char *ct, size_t ctn,
                                char *cc, size_t ccn, const char *hdrs[3],
                                struct easel_error *err)
{
    size_t k = 0;
    hdrs[0] = NULL;
    if (ctype && *ctype) {
        if (easel_snprintf(ct, ctn, "Content-Type: %s", ctype))
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                                   "the content type %.60s... is longer than %zu bytes", ctype,
                                   ctn - sizeof("Content-Type: "));
        hdrs[k++] = ct;
    }
    if (cache && *cache) {
        if (easel_snprintf(cc, ccn, "Cache-Control: %s", cache))
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                                   "the cache control %.60s... is longer than %zu bytes", cache,
                                   ccn - sizeof("Cache-Control: "));
        hdrs[k++] = cc;
    }
    hdrs[k] = NULL;
    return EASEL_OK;
}

static easel_err put_multipart(const struct easel_s3 *s, const char *bucket, const char *key,
                               const unsigned char *data, size_t len, const char *const *hdrs,
                               struct easel_error *err)
{
    struct resp r;
    easel_err rc = request(s, "POST", bucket, key, "uploads", NULL, 0, hdrs, 1 << 20, &r, err);
    if (rc)
        return rc;
    /* S3 sets no bound on an UploadId's length: it is taken whole, as are
     * the queries that carry it (a cut one names another upload, or none) */
    easel_buf_append(&r.body, "", 1);
    char *upload = s3_xml_dup(r.body.data, "UploadId");
    easel_buf_cleanup(&r.body);
    if (!upload || !upload[0]) {
        free(upload);
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_STORAGE_BAD_RESPONSE,
                               "s3://%s/%s: no UploadId in the answer to CreateMultipartUpload",
                               bucket, key);
    }
    struct easel_buf id, done;
    easel_buf_init(&id, 0);
    easel_buf_init(&done, 0);
    rc = easel_uri_encode(&id, upload, false);
    free(upload);
    if (!rc)
        rc = easel_buf_puts(&done, "<CompleteMultipartUpload>");
    size_t part = (size_t)s->part_size;
    if (len / part >= MAX_PARTS)
        part = len / (MAX_PARTS - 1) + 1;
    int n = 0;
    for (size_t off = 0; !rc && off < len; off += part) {
        size_t take = len - off < part ? len - off : part;
        char *q = easel_asprintf("partNumber=%d&uploadId=%s", ++n, id.data);
        rc = q ? request(s, "PUT", bucket, key, q, data + off, take, NULL, 1 << 20, &r, err)
               : EASEL_ENOMEM;
        free(q);
        if (!rc) {
            if (r.etag_long)
                rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE,
                                     EASEL_R_STORAGE_BAD_RESPONSE,
                                     "s3://%s/%s: part %d's ETag is longer than %zu bytes", bucket,
                                     key, n, sizeof(r.etag) - 1);
            else
                rc = easel_buf_printf(&done,
                                      "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n,
                                      r.etag);
            easel_buf_cleanup(&r.body);
        }
    }
    if (!rc)
        rc = easel_buf_puts(&done, "</CompleteMultipartUpload>");
    if (!rc) {
        char *q = easel_asprintf("uploadId=%s", id.data);
        rc = q ? request(s, "POST", bucket, key, q, done.data, done.len, NULL, 1 << 20, &r, err)
               : EASEL_ENOMEM;
        free(q);
        if (!rc) {
            /* S3 may answer 200 and still fail the completion */
            easel_buf_append(&r.body, "", 1);
            if (r.body.data && strstr(r.body.data, "<Error>")) {
                char code[64]; /* for a person */
                xml_value_cut(r.body.data, "Code", code, sizeof(code));
                rc = easel_error_set(err, EASEL_EHTTP, EASEL_CLASS_RETRYABLE,
                                     EASEL_R_STORAGE_UNAVAILABLE,
                                     "s3://%s/%s: completing the upload failed: %s", bucket, key,
                                     code);
            }
            easel_buf_cleanup(&r.body);
        }
    }
    if (rc) {
        /* leave no parts behind to pay for */
        struct easel_error ignored;
        char *q = easel_asprintf("uploadId=%s", id.data ? id.data : "");
        if (q && request(s, "DELETE", bucket, key, q, NULL, 0, NULL, 1 << 20, &r, &ignored) ==
                     EASEL_OK)
            easel_buf_cleanup(&r.body);
        free(q);
    }
    easel_buf_cleanup(&id);
    easel_buf_cleanup(&done);
    return rc;
}

easel_err easel_s3_put(const struct easel_s3 *s, const char *bucket, const char *key,
                       const void *data, size_t len, const char *content_type,
                       const char *cache_control, struct easel_error *err)
{
    if (!bucket_ok(bucket) || !key || !*key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KEY,
                               "s3://%.100s/%.200s is not a valid bucket and key",
                               bucket ? bucket : "", key ? key : "");
    char ct[300], cc[300];
    const char *hdrs[3];
    easel_err hrc = object_headers(content_type, cache_control, ct, sizeof(ct), cc, sizeof(cc),
                                   hdrs, err);
    if (hrc)
        return hrc;
    if ((int64_t)len > s->part_size)
        return put_multipart(s, bucket, key, data, len, hdrs, err);
    struct resp r;
    easel_err rc = request(s, "PUT", bucket, key, NULL, data, len, hdrs, 1 << 20, &r, err);
    if (!rc)
        easel_buf_cleanup(&r.body);
    return rc;
}

easel_err easel_s3_delete(const struct easel_s3 *s, const char *bucket, const char *key,
                          struct easel_error *err)
{
    if (!bucket_ok(bucket) || !key || !*key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KEY,
                               "s3://%.100s/%.200s is not a valid bucket and key",
                               bucket ? bucket : "", key ? key : "");
    struct resp r;
    easel_err rc = request(s, "DELETE", bucket, key, NULL, NULL, 0, NULL, 1 << 20, &r, err);
    if (!rc)
        easel_buf_cleanup(&r.body);
    else if (err && err->http_status == 404) /* gone already is what was asked */
        rc = EASEL_OK;
    return rc;
}

easel_err easel_s3_get(const struct easel_s3 *s, const char *bucket, const char *key,
                       int64_t max_bytes, void **out, size_t *len, struct easel_error *err)
{
    *out = NULL;
    *len = 0;
    if (!bucket_ok(bucket) || !key || !*key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "s3://%.100s/%.200s is not a valid bucket and key",
                               bucket ? bucket : "", key ? key : "");
    struct resp r;
    easel_err rc = request(s, "GET", bucket, key, NULL, NULL, 0, NULL, max_bytes, &r, err);
    if (rc) {
        if (err && err->why == EASEL_R_STORAGE_NOT_FOUND)
            easel_error_reason(err, EASEL_R_SOURCE_NOT_FOUND, 0);
        return rc;
    }
    *out = easel_buf_steal(&r.body, len);
    return *out || *len == 0 ? EASEL_OK : EASEL_ENOMEM;
}

easel_err easel_s3_parse_url(const char *url, char *bucket, size_t bn, const char **key)
{
    if (!url || strncmp(url, "s3://", 5) != 0)
        return EASEL_EINVAL;
    const char *b = url + 5, *slash = strchr(b, '/');
    if (!slash || (size_t)(slash - b) >= bn)
        return EASEL_EINVAL;
    /* cannot fail: the length was checked against bn just above */
    if (easel_snprintf(bucket, bn, "%.*s", (int)(slash - b), b))
        return EASEL_EINVAL;
    *key = slash + 1;
    return bucket_ok(bucket) ? EASEL_OK : EASEL_EINVAL;
}
