/*
 * source.c - fetching what a job names: file:// (refused unless roots are
 * configured, then confined to them), data: URIs, s3:// and http(s)://
 * through libcurl and the SSRF guard, each under a size cap, with every
 * failure classified as retryable or permanent and explained. easel_fetch
 * is the one entry point for every URL outside input chose.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "easel/storage.h"

#ifndef EASEL_VERSION
#define EASEL_VERSION "dev"
#endif

void easel_fetch_opts_default(struct easel_fetch_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_bytes = 50LL * 1000 * 1000;
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 60000;
    o->max_redirects = 5;
    o->file_roots = NULL;
    o->user_agent = "easel/" EASEL_VERSION;
    o->schemes = EASEL_SCHEMES_ALL;
}

/* ---------------------------------------------------------------- helpers */

/* Percent-decodes [s, s+n) into a new string; NULL on a bad escape or an
 * embedded NUL. */
static char *pct_decode(const char *s, size_t n, size_t *outlen)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = easel_hex_digit(s[i + 1])) < 0 ||
                (l = easel_hex_digit(s[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            out[k++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    if (outlen)
        *outlen = k;
    else if (memchr(out, '\0', k)) {
        free(out);
        return NULL;
    }
    return out;
}

static void short_url(const char *url, char *dst, size_t len)
{
    char red[512];
    easel_redact_url(url, red, sizeof(red));
    if (strlen(red) > 160 && len > 164) {
        memcpy(dst, red, 157);
        memcpy(dst + 157, "...", 4);
        return;
    }
    easel_strlcpy(dst, red, len);
}

/* ------------------------------------------------------------------ file */

static bool under_root(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (n == 1 && root[0] == '/')
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

bool easel_file_root_valid(const char *root)
{
    return root && root[0] == '/';
}

/* Whether a canonical path is inside one of the roots, each canonicalised
 * here (a root that is a symlink counts as where it points; a root that
 * does not exist on this host holds nothing). *any_root says whether at
 * least one root exists. */
static bool inside_roots(const char *real, const char *const *roots, bool *any_root)
{
    *any_root = false;
    for (size_t i = 0; roots[i]; i++) {
        char rroot[PATH_MAX];
        if (!easel_file_root_valid(roots[i]) || !realpath(roots[i], rroot))
            continue;
        *any_root = true;
        if (under_root(real, rroot))
            return true;
    }
    return false;
}

static easel_err outside_roots(struct easel_error *err, const char *path, const char *real,
                               const char *const *roots, bool any_root)
{
    if (!any_root)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_SOURCE_FORBIDDEN,
                               "file:// source %.160s refused: none of the --file-root "
                               "directories exists on this host (first: %.60s)",
                               path, roots[0]);
    return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_SOURCE_FORBIDDEN,
                           "file:// source %.160s%s%.160s is outside the --file-root "
                           "directories (first: %.60s)",
                           path, real ? " resolves to " : "", real ? real : "", roots[0]);
}

static easel_err fetch_file(const char *url, const struct easel_fetch_opts *o,
                            void **out, size_t *len, struct easel_error *err)
{
    /* Secure by default: a queue entry must not be able to read whatever
     * the worker can (service account files, other jobs' results, keys). */
    if (!o->file_roots || !o->file_roots[0])
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_FILE_ROOT_UNSET,
                               "file:// sources are refused: no --file-root is set "
                               "(EASEL_FILE_ROOTS names the directories they may be read from)");
    const char *p = url + strlen("file://");
    if (easel_str_has_prefix(p, "localhost/"))
        p += strlen("localhost");
    if (*p != '/')
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_FORBIDDEN,
                               "file URL %.200s must be file:///absolute/path on this host",
                               url);
    char *path = pct_decode(p, strlen(p), NULL);
    if (!path)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_FORBIDDEN,
                               "file URL %.200s has a bad percent-escape", url);
    easel_err rc = EASEL_OK;
    bool any_root = false;
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        int e = errno;
        /* Only a path whose directory is inside a root may be reported
         * missing: elsewhere the answer would tell a job which files exist. */
        char dir[PATH_MAX];
        easel_strlcpy(dir, path, sizeof(dir));
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        char rdir[PATH_MAX];
        if (!realpath(dir, rdir) || !inside_roots(rdir, o->file_roots, &any_root))
            rc = outside_roots(err, path, NULL, o->file_roots, any_root);
        else
            rc = easel_error_set(
                err, e == ENOENT || e == ENOTDIR ? EASEL_ENOTFOUND : EASEL_EIO,
                EASEL_CLASS_PERMANENT,
                e == ENOENT || e == ENOTDIR ? EASEL_R_SOURCE_NOT_FOUND : EASEL_R_SOURCE_FORBIDDEN,
                "source file %.200s: %s", path, strerror(e));
        free(path);
        return rc;
    }
    if (!inside_roots(real, o->file_roots, &any_root)) {
        rc = outside_roots(err, path, real, o->file_roots, any_root);
        free(path);
        return rc;
    }
    free(path);
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT,
                               errno == ENOENT ? EASEL_R_SOURCE_NOT_FOUND : EASEL_R_SOURCE_FORBIDDEN,
                               "cannot open %.200s: %s", real, strerror(errno));
    /* What was opened is what was checked: a directory swapped for a
     * symlink between realpath() and open() shows here. Without /proc
     * (not Linux) the check above stands alone. */
    char link[64], opened[PATH_MAX];
    /* "/proc/self/fd/" and an int fit 64 bytes: cannot be cut, but a cut
     * path would read another descriptor's link, so it is checked */
    ssize_t ol = easel_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd) == EASEL_OK
                     ? readlink(link, opened, sizeof(opened) - 1)
                     : -1;
    if (ol > 0) {
        opened[ol] = '\0';
        if (!inside_roots(opened, o->file_roots, &any_root)) {
            close(fd);
            return outside_roots(err, real, opened, o->file_roots, any_root);
        }
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_FORBIDDEN, "%.200s is not a regular file",
                               real);
    }
    if (o->max_bytes > 0 && st.st_size > o->max_bytes) {
        close(fd);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_TOO_LARGE,
                               "source file %.200s is %lld bytes; the limit is %lld",
                               real, (long long)st.st_size, (long long)o->max_bytes);
    }
    struct easel_buf b;
    easel_buf_init(&b, o->max_bytes > 0 ? (size_t)o->max_bytes : 0);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                                 EASEL_R_SOURCE_UNREACHABLE, "reading %.200s: %s", real,
                                 strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (easel_buf_append(&b, chunk, (size_t)n)) {
            rc = easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                                 EASEL_R_SOURCE_TOO_LARGE,
                                 "source file %.200s grew past the limit of %lld bytes",
                                 real, (long long)o->max_bytes);
            break;
        }
    }
    close(fd);
    if (rc) {
        easel_buf_cleanup(&b);
        return rc;
    }
    if (b.len == 0) {
        easel_buf_cleanup(&b);
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_EMPTY, "source file %.200s is empty", real);
    }
    *out = easel_buf_steal(&b, len);
    return EASEL_OK;
}

/* ------------------------------------------------------------------ data: */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64, ignoring whitespace, padding
 * optional. Returns false on any other character. */
static bool b64_decode(const char *s, size_t n, unsigned char *out,
                       size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    bool pad = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad = true;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6)
        return false; /* a lone trailing character */
    *outlen = k;
    return true;
}

static easel_err fetch_data(const char *url, const struct easel_fetch_opts *o,
                            void **out, size_t *len, struct easel_error *err)
{
    const char *p = url + 5;
    const char *comma = strchr(p, ',');
    if (!comma)
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_DATA_URI, "data: URI has no ',' before its data");
    size_t mlen = (size_t)(comma - p);
    bool base64 = mlen >= 7 && strncmp(comma - 7, ";base64", 7) == 0;
    const char *d = comma + 1;
    size_t dlen = strlen(d);
    unsigned char *buf;
    size_t n = 0;
    if (base64) {
        buf = malloc(dlen / 4 * 3 + 4);
        if (!buf)
            return EASEL_ENOMEM;
        if (!b64_decode(d, dlen, buf, &n)) {
            free(buf);
            return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_DATA_URI, "data: URI has invalid base64");
        }
    } else {
        buf = (unsigned char *)pct_decode(d, dlen, &n);
        if (!buf)
            return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_DATA_URI, "data: URI has a bad percent-escape");
    }
    if (o->max_bytes > 0 && (int64_t)n > o->max_bytes) {
        free(buf);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                               EASEL_R_SOURCE_TOO_LARGE,
                               "data: URI holds %zu bytes; the limit is %lld", n,
                               (long long)o->max_bytes);
    }
    if (n == 0) {
        free(buf);
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_DATA_URI, "data: URI is empty");
    }
    *out = buf;
    *len = n;
    return EASEL_OK;
}

/* ------------------------------------------------------------------ http */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink_ctx {
    struct easel_buf buf;
    bool too_large;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink_ctx *s = ud;
    size_t len = size * n;
    if (easel_buf_append(&s->buf, p, len)) {
        s->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const volatile sig_atomic_t *stop = ud;
    return *stop ? 1 : 0;
}

static easel_err classify_status(long code, const char *where,
                                 struct easel_error *err)
{
    easel_err rc;
    if (code == 404 || code == 410) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_SOURCE_NOT_FOUND, "%s answered HTTP %ld", where, code);
    } else {
        bool retry = code == 408 || code == 425 || code == 429 || code >= 500;
        rc = easel_error_set(err, EASEL_EHTTP,
                             retry ? EASEL_CLASS_RETRYABLE : EASEL_CLASS_PERMANENT,
                             EASEL_R_SOURCE_HTTP, "%s answered HTTP %ld", where, code);
        easel_error_reason(err, EASEL_R_SOURCE_HTTP, code);
    }
    if (err)
        err->http_status = (int)code;
    return rc;
}

/* One request, no redirects followed: fills *code, *location (malloc'd,
 * when a 3xx names one) and the body. */
static CURLcode one_hop(const char *url, const struct easel_fetch_opts *o, int64_t left_ms,
                        struct easel_guard *g, struct sink_ctx *s, long *code, char **location,
                        char *ebuf)
{
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    curl_easy_setopt(h, CURLOPT_URL, url);
    easel_guard_arm(g, h, url); /* http(s) only, no proxy, no redirect, addresses checked */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left_ms > 1 ? left_ms : 1));
    curl_easy_setopt(h, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "easel");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (o->max_bytes > 0)
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    if (o->stop) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)o->stop);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    char *loc = NULL;
    if (cc == CURLE_OK && *code >= 300 && *code < 400 &&
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        *location = strdup(loc);
    curl_easy_cleanup(h);
    return cc;
}

static easel_err fetch_http(const char *url, const struct easel_fetch_opts *o,
                            void **out, size_t *len, struct easel_error *err)
{
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return easel_error_set(err, EASEL_EINTERNAL, EASEL_CLASS_RETRYABLE,
                               EASEL_R_INTERNAL, "libcurl failed to initialise");
    char where[200], first[200];
    short_url(url, first, sizeof(first));
    memcpy(where, first, sizeof(where));
    struct sink_ctx s = {0};
    easel_buf_init(&s.buf, o->max_bytes > 0 ? (size_t)o->max_bytes : 0);
    char ebuf[CURL_ERROR_SIZE] = "";
    char *cur = strdup(url);
    /* the whole transfer, redirects included; 0 = no limit, as for curl */
    int64_t end = easel_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 365LL * 86400000);
    easel_err rc = EASEL_OK;
    CURLcode cc = CURLE_OK;
    long code = 0;
    struct easel_guard g = {.allow = o->allow, .open_network = o->open_network,
                            .trusted_origin = o->trusted_origin};
    for (int hop = 0; cur; hop++) {
        char *next = NULL;
        s.buf.len = 0;
        ebuf[0] = '\0';
        cc = one_hop(cur, o, end - easel_now_ms(), &g, &s, &code, &next, ebuf);
        if (cc != CURLE_OK || !next || o->max_redirects <= 0) {
            free(next);
            break;
        }
        /* a redirect: followed by hand, so each hop is checked anew */
        if (hop >= o->max_redirects) {
            free(next);
            rc = easel_error_set(err, EASEL_EHTTP, EASEL_CLASS_PERMANENT,
                                 EASEL_R_SOURCE_TOO_MANY_REDIRECTS,
                                 "%s redirected more than %d times", first, o->max_redirects);
            break;
        }
        if (strncasecmp(next, "http://", 7) != 0 && strncasecmp(next, "https://", 8) != 0) {
            char to[200];
            short_url(next, to, sizeof(to));
            free(next);
            rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                                 EASEL_R_UNSUPPORTED_SCHEME,
                                 "%s redirected to %s: only http(s) is followed", where, to);
            break;
        }
        free(cur);
        cur = next;
        short_url(cur, where, sizeof(where));
    }
    free(cur);

    const char *why = ebuf[0] ? ebuf : curl_easy_strerror(cc);
    if (rc) {
        /* set above */
    } else if (cc != CURLE_OK && g.refused[0]) {
        char via[240] = "";
        if (strcmp(where, first) != 0)
            easel_fmt_cut(via, sizeof(via), " (redirected from %s)", first);
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_SOURCE_BLOCKED,
                             "%s%s refused by the SSRF guard: %s; list the host in "
                             "--source-allow if it is meant to be reached",
                             where, via, g.refused);
    } else if (s.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                             EASEL_R_SOURCE_TOO_LARGE,
                             "%s sent more than the limit of %lld bytes", where,
                             (long long)o->max_bytes);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = easel_error_set(err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_CANCELED,
                             "fetching %s abandoned: the job was stopped", where);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE,
                             EASEL_R_SOURCE_TIMEOUT, "fetching %s timed out: %s", where, why);
    } else if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
        rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                             EASEL_R_UNSUPPORTED_SCHEME, "%s: %s", where, why);
    } else if (cc == CURLE_URL_MALFORMAT) {
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                             EASEL_R_BAD_URL, "%s is not a valid URL: %s", where, why);
    } else if (cc != CURLE_OK) {
        rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_RETRYABLE,
                             EASEL_R_SOURCE_UNREACHABLE, "cannot fetch %s: %s", where, why);
    } else if (code < 200 || code > 299) {
        rc = classify_status(code, where, err);
    } else if (s.buf.len == 0) {
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                             EASEL_R_SOURCE_EMPTY, "%s answered with an empty body", where);
    }
    if (rc) {
        easel_buf_cleanup(&s.buf);
        return rc;
    }
    *out = easel_buf_steal(&s.buf, len);
    return EASEL_OK;
}

/* s3://bucket/key from the configured S3-compatible endpoint (the same
 * settings as the s3:// sink); the endpoint is the operator's, so the
 * SSRF guard does not apply. */
static easel_err fetch_s3(const char *url, const struct easel_fetch_opts *o, void **out,
                          size_t *len, struct easel_error *err)
{
    char bucket[64], where[200];
    const char *key = NULL;
    short_url(url, where, sizeof(where));
    if (easel_s3_parse_url(url, bucket, sizeof(bucket), &key) || !*key)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "%s is not s3://bucket/key", where);
    struct easel_s3_opts so;
    easel_s3_opts_from_env(&so);
    so.timeout_ms = o->timeout_ms;
    struct easel_s3 *s3 = NULL;
    easel_err rc = easel_s3_open(&so, &s3, err);
    if (!rc)
        rc = easel_s3_get(s3, bucket, key, o->max_bytes, out, len, err);
    easel_s3_free(s3);
    if (!rc && *len == 0) {
        free(*out);
        *out = NULL;
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_SOURCE_EMPTY,
                             "%s is empty", where);
    }
    return rc;
}

easel_err easel_fetch(const char *url, const struct easel_fetch_opts *o,
                      void **out, size_t *len, struct easel_error *err)
{
    struct easel_fetch_opts dflt;
    if (!o) {
        easel_fetch_opts_default(&dflt);
        o = &dflt;
    }
    *out = NULL;
    *len = 0;
    easel_error_clear(err);
    if (!url || !*url)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNSUPPORTED_SCHEME, "empty source URL");
    unsigned scheme = 0;
    size_t ul = strlen(url);
    if (strncasecmp(url, "file://", 7) == 0)
        scheme = EASEL_SCHEME_FILE;
    else if (strncasecmp(url, "data:", 5) == 0)
        scheme = EASEL_SCHEME_DATA;
    else if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)
        scheme = EASEL_SCHEME_HTTP;
    else if (strncmp(url, "s3://", 5) == 0)
        scheme = EASEL_SCHEME_S3;
    /* bare base64 (a payload field holding the image itself): only the
     * base64 alphabet, so no path or URL can be mistaken for it */
    else if (ul >= 16 && strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789+/=\r\n") == ul)
        scheme = EASEL_SCHEME_DATA;
    char where[200];
    short_url(scheme == EASEL_SCHEME_DATA ? "data:..." : url, where, sizeof(where));
    unsigned allowed = o->schemes ? o->schemes : EASEL_SCHEMES_ALL;
    if (scheme && !(scheme & allowed)) {
        char list[64] = "";
        static const struct { unsigned bit; const char *name; } names[] = {
            {EASEL_SCHEME_FILE, "file://"}, {EASEL_SCHEME_DATA, "data:"},
            {EASEL_SCHEME_HTTP, "http(s)://"}, {EASEL_SCHEME_S3, "s3://"}};
        size_t used = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (!(allowed & names[i].bit))
                continue;
            int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                             names[i].name);
            if (w > 0 && (size_t)w < sizeof(list) - used) /* 4 names fit: never cut */
                used += (size_t)w;
        }
        return easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNSUPPORTED_SCHEME, "%s refused: only %s URLs are accepted here",
                               where, list);
    }
    easel_err rc;
    char *as_uri;
    switch (scheme) {
    case EASEL_SCHEME_FILE:
        return fetch_file(url, o, out, len, err);
    case EASEL_SCHEME_HTTP:
        return fetch_http(url, o, out, len, err);
    case EASEL_SCHEME_S3:
        return fetch_s3(url, o, out, len, err);
    case EASEL_SCHEME_DATA:
        if (strncasecmp(url, "data:", 5) == 0)
            return fetch_data(url, o, out, len, err);
        if (!(as_uri = easel_asprintf("data:;base64,%s", url)))
            return EASEL_ENOMEM;
        rc = fetch_data(as_uri, o, out, len, err);
        free(as_uri);
        return rc;
    default:
        break;
    }
    return easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                           EASEL_R_UNSUPPORTED_SCHEME,
                           "source %s: only file://, http(s)://, s3:// and data: URLs are "
                           "supported",
                           where);
}
