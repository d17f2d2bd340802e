/*
 * log.c - JSON-lines logging to stderr.
 *
 * One line per call, written with a single write(2) so that lines from the
 * controller and its child jobs never interleave mid-line. Values of keys
 * that look like secrets are replaced by "[redacted]" before they are
 * formatted, so a careless caller cannot leak a token through a log field.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "easel/core.h"

static enum easel_log_level min_level = EASEL_LOG_INFO;
static char component[32] = "easel";
/* set once at start-up, read by every logging thread */
static void (*_Atomic error_hook)(const char *job_id, const char *msg);

void easel_log_set_error_hook(void (*fn)(const char *job_id, const char *msg))
{
    error_hook = fn;
}

/* the attempt this thread runs, for its lines */
static _Thread_local char trace_id[33];

void easel_log_set_trace_id(const char *id)
{
    easel_strlcpy(trace_id, id ? id : "", sizeof(trace_id));
}

void easel_log_setup(enum easel_log_level min, const char *comp)
{
    min_level = min;
    if (comp)
        easel_strlcpy(component, comp, sizeof(component));
}

easel_err easel_log_level_parse(const char *s, enum easel_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (s && strcasecmp(s, names[i]) == 0) {
            *out = (enum easel_log_level)i;
            return EASEL_OK;
        }
    }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = EASEL_LOG_WARN;
        return EASEL_OK;
    }
    return EASEL_EINVAL;
}

bool easel_log_enabled(enum easel_log_level lvl)
{
    return lvl >= min_level && lvl < EASEL_LOG_OFF;
}

static const char *level_name(enum easel_log_level l)
{
    switch (l) {
    case EASEL_LOG_DEBUG:
        return "debug";
    case EASEL_LOG_INFO:
        return "info";
    case EASEL_LOG_WARN:
        return "warn";
    case EASEL_LOG_ERROR:
        return "error";
    default:
        return "off";
    }
}

/* Case-insensitive "does s contain w". */
static bool contains_ci(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s; s++)
        if (strncasecmp(s, w, n) == 0)
            return true;
    return false;
}

bool easel_is_secret_key(const char *key)
{
    static const char *words[] = {"authorization", "password", "passwd",
                                  "secret", "token", "api_key", "apikey",
                                  "api-key", "credential", "cookie"};
    if (!key)
        return false;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (contains_ci(key, words[i]))
            return true;
    size_t n = strlen(key);
    /* *_KEY, *-key, but not "key" fields like idempotency_key or job keys. */
    if (n > 4 && (strcasecmp(key + n - 4, "_key") == 0 ||
                  strcasecmp(key + n - 4, "-key") == 0))
        return !contains_ci(key, "idempotency") && !contains_ci(key, "object");
    return false;
}

void easel_redact_url(const char *url, char *dst, size_t dstlen)
{
    if (!dst || dstlen == 0)
        return;
    dst[0] = '\0';
    if (!url)
        return;
    const char *scheme = strstr(url, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    /* the last '@' of the authority ends the userinfo, as the parsers read
     * it: an unencoded '@' in a password stays hidden */
    const char *at = NULL;
    for (const char *p = scheme ? scheme + 3 : url; scheme && *p && p != slash; p++)
        if (*p == '@')
            at = p;
    if (!scheme || !at) {
        easel_strlcpy(dst, url, dstlen);
        /* key=value connection strings: hide password=... */
        char *p = strstr(dst, "password=");
        if (p) {
            char *end = p + 9;
            while (*end && !isspace((unsigned char)*end))
                end++;
            char tail[256];
            easel_strlcpy(tail, end, sizeof(tail));
            /* a redacted URL is only ever logged */
            easel_fmt_cut(p, dstlen - (size_t)(p - dst), "password=***%s", tail);
        }
        return;
    }
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
    if (!colon) {
        /* userinfo without a colon is a user name, except for Redis, where
         * (as for redis-cli) it is the password */
        if (!strncmp(url, "redis", 5))
            easel_fmt_cut(dst, dstlen, "%.*s***%s", (int)(scheme + 3 - url), url, at);
        else
            easel_strlcpy(dst, url, dstlen);
        return;
    }
    easel_fmt_cut(dst, dstlen, "%.*s:***%s", (int)(colon - url), url, at);
}

static void json_escape(struct easel_buf *b, const char *s)
{
    easel_buf_json_str(b, s ? s : "");
}

void easel_logv(enum easel_log_level lvl, const char *job_id,
                const char *const *kv, const char *fmt, va_list ap)
{
    void (*hook)(const char *, const char *) = lvl == EASEL_LOG_ERROR ? error_hook : NULL;
    if (!easel_log_enabled(lvl) && !hook)
        return;
    char msg[2048];
    easel_vfmt_cut(msg, sizeof(msg), fmt, ap);
    if (hook)
        hook(job_id, msg);
    if (!easel_log_enabled(lvl))
        return;
    char ts[32];
    easel_format_time(easel_wall_ms(), ts, sizeof(ts));

    struct easel_buf b;
    easel_buf_init(&b, 0);
    easel_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
                     level_name(lvl));
    json_escape(&b, component);
    easel_buf_puts(&b, ",\"msg\":");
    json_escape(&b, msg);
    if (job_id && *job_id) {
        easel_buf_puts(&b, ",\"job_id\":");
        json_escape(&b, job_id);
    }
    if (trace_id[0]) {
        easel_buf_puts(&b, ",\"trace_id\":");
        json_escape(&b, trace_id);
    }
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        easel_buf_puts(&b, ",");
        json_escape(&b, kv[i]);
        easel_buf_puts(&b, ":");
        json_escape(&b, easel_is_secret_key(kv[i]) ? "[redacted]" : kv[i + 1]);
    }
    easel_buf_puts(&b, "}\n");
    if (b.data) {
        ssize_t off = 0;
        while ((size_t)off < b.len) {
            ssize_t w = write(STDERR_FILENO, b.data + off, b.len - (size_t)off);
            if (w <= 0)
                break;
            off += w;
        }
    }
    easel_buf_cleanup(&b);
}

void easel_log(enum easel_log_level lvl, const char *job_id, const char *fmt,
               ...)
{
    va_list ap;
    va_start(ap, fmt);
    easel_logv(lvl, job_id, NULL, fmt, ap);
    va_end(ap);
}

void easel_log_kv(enum easel_log_level lvl, const char *job_id,
                  const char *const *kv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    easel_logv(lvl, job_id, kv, fmt, ap);
    va_end(ap);
}
