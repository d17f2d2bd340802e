/*
 * str.c - bounded string copies and whole-string number parsing. These exist
 * so that no file in easel needs strcpy, sprintf or atoi: every length is
 * checked and every number is range checked with its trailing junk refused.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "easel/core.h"

size_t easel_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

easel_err easel_snprintf(char *dst, size_t dstlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, dstlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EASEL_EINVAL;
    return (size_t)n >= dstlen ? EASEL_ELIMIT : EASEL_OK;
}

size_t easel_vfmt_cut(char *dst, size_t dstlen, const char *fmt, va_list ap)
{
    if (!dstlen)
        return 0;
    int n = vsnprintf(dst, dstlen, fmt, ap);
    if (n < 0) {
        dst[0] = '\0';
        return 0;
    }
    if ((size_t)n < dstlen)
        return (size_t)n;
    /* cut: say so where there is room for it */
    size_t len = dstlen - 1;
    if (len >= 8)
        memcpy(dst + len - 3, "...", 3);
    return len;
}

size_t easel_fmt_cut(char *dst, size_t dstlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = easel_vfmt_cut(dst, dstlen, fmt, ap);
    va_end(ap);
    return n;
}

char *easel_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *easel_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

char *easel_asprintf(const char *fmt, ...)
{
    struct easel_buf b;
    easel_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    easel_err rc = easel_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc) {
        easel_buf_cleanup(&b);
        return NULL;
    }
    return easel_buf_steal(&b, NULL);
}

bool easel_str_has_prefix(const char *s, const char *prefix)
{
    return s && prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool easel_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

easel_err easel_parse_i64(const char *s, int64_t min, int64_t max,
                          int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return EASEL_EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || end == s)
        return EASEL_EINVAL;
    if (v < min || v > max)
        return EASEL_ELIMIT;
    *out = (int64_t)v;
    return EASEL_OK;
}

easel_err easel_parse_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    easel_err rc = easel_parse_i64(s, min, max, &v);
    if (rc == EASEL_OK)
        *out = (int)v;
    return rc;
}

easel_err easel_parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return EASEL_EINVAL;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || end == s || !isfinite(v))
        return EASEL_EINVAL;
    *out = v;
    return EASEL_OK;
}

easel_err easel_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; s && i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return EASEL_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return EASEL_OK;
        }
    }
    return EASEL_EINVAL;
}

/* Splits "12.5ms" into a number and a unit, then scales. */
static easel_err parse_scaled(const char *s, const char *const *units,
                              const double *scale, size_t nunits,
                              double dflt_scale, int64_t *out)
{
    if (!s || !*s)
        return EASEL_EINVAL;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || v < 0)
        return EASEL_EINVAL;
    double k = -1;
    if (*end == '\0') {
        k = dflt_scale;
    } else {
        for (size_t i = 0; i < nunits; i++)
            if (strcasecmp(end, units[i]) == 0)
                k = scale[i];
    }
    if (k < 0)
        return EASEL_EINVAL;
    double r = v * k;
    if (r > 9.0e18)
        return EASEL_ELIMIT;
    *out = (int64_t)llround(r);
    return EASEL_OK;
}

easel_err easel_parse_duration_ms(const char *s, int64_t *out)
{
    static const char *const units[] = {"ms", "s", "m", "h", "us"};
    static const double scale[] = {1, 1000, 60000, 3600000, 0.001};
    return parse_scaled(s, units, scale, 5, 1, out);
}

easel_err easel_parse_size(const char *s, int64_t *out)
{
    static const char *const units[] = {"b", "k", "kb", "kib", "m", "mb",
                                        "mib", "g", "gb", "gib"};
    static const double scale[] = {1,      1000,   1000,    1024,
                                   1e6,    1e6,    1048576, 1e9,
                                   1e9,    1073741824.0};
    return parse_scaled(s, units, scale, 10, 1, out);
}

int easel_hex_digit(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

bool easel_host_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (!strcmp(host, "localhost"))
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

easel_err easel_owner_key(const char *channel, const char *owner, char *dst, size_t n)
{
    return easel_snprintf(dst, n, "%s:%s", channel ? channel : "", owner ? owner : "");
}

bool easel_owner_key_valid(const char *key)
{
    const char *colon = key ? strchr(key, ':') : NULL;
    if (!colon || colon == key || !colon[1] || strlen(key) > EASEL_OWNER_KEY_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

easel_err easel_split_host_port(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || !colon[1] || strlen(colon + 1) > 5)
        return EASEL_EINVAL;
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    int pn;
    if (hl >= hostlen || easel_parse_int(colon + 1, 0, 65535, &pn) != EASEL_OK)
        return EASEL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = pn;
    return EASEL_OK;
}

void easel_hex_encode(const void *data, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    const unsigned char *d = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[d[i] >> 4];
        out[2 * i + 1] = h[d[i] & 15];
    }
    out[2 * n] = '\0';
}
