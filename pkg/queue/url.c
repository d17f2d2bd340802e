/*
 * url.c - turns a redis:// URL into host, port, credentials and database.
 *
 * It lives apart from the connection code so that it can be unit tested
 * without a server, and so that every way a URL can be wrong gets its own
 * clear sentence: a misconfigured URL is the most common reason a controller
 * does not start, and "connection refused" would hide it.
 *
 * Accepted: redis://[[user]:password@]host[:port][/db]
 *   - host may be a name, an IPv4 address or a bracketed IPv6 address;
 *   - user and password may be percent-encoded (p%40ss for p@ss);
 *   - as with redis-cli, userinfo without a colon is a password;
 *   - port defaults to 6379, db to 0.
 * Refused: other schemes (rediss:// TLS is not built in), query strings and
 * fragments, empty hosts, ports outside 1..65535, non-numeric databases.
 */
#include <stdio.h>
#include <string.h>

#include "queue_int.h"

#define DEFAULT_PORT 6379

/* Percent-decodes s[0..n) into dst (NUL-terminated). Fails on a bad escape,
 * an encoded NUL or when the result does not fit. */
static easel_err pct_decode(const char *s, size_t n, char *dst, size_t dstlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return EASEL_EINVAL;
            int hi = easel_hex_digit(s[i + 1]);
            int lo = easel_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return EASEL_EINVAL;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= dstlen)
            return EASEL_ELIMIT;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return EASEL_OK;
}

static easel_err fail(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        easel_strlcpy(why, msg, whylen);
    return EASEL_EINVAL;
}

easel_err queue_url_parse(const char *url, struct queue_url *u, char *why,
                          size_t whylen)
{
    static const char scheme[] = "redis://";
    char tmp[16];

    if (why && whylen)
        why[0] = '\0';
    if (!u)
        return fail(why, whylen, "no URL record to fill");
    memset(u, 0, sizeof(*u));
    u->port = DEFAULT_PORT;
    if (!url || !*url)
        return fail(why, whylen, "redis URL is empty (expected "
                                 "redis://[user:password@]host[:port][/db])");
    if (easel_str_has_prefix(url, "rediss://"))
        return fail(why, whylen, "redis URL uses rediss:// (TLS), which this "
                                 "build does not support; use redis://");
    if (!easel_str_has_prefix(url, scheme))
        return fail(why, whylen, "redis URL must start with redis:// "
                                 "(expected redis://[user:password@]host[:port][/db])");
    if (strpbrk(url, "?#"))
        return fail(why, whylen, "redis URL must not have a query string or "
                                 "fragment (?... or #...)");

    const char *auth = url + sizeof(scheme) - 1;
    const char *path = strchr(auth, '/');
    const char *end = path ? path : auth + strlen(auth);

    /* userinfo: everything up to the last '@' of the authority, so that an
     * unencoded '@' in a password still works. */
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *host = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *pw = auth;
        if (colon) {
            if (colon > auth) {
                if (pct_decode(auth, (size_t)(colon - auth), u->user,
                               sizeof(u->user)))
                    return fail(why, whylen, "redis URL has a malformed or "
                                             "too long user name");
                u->has_user = true;
            }
            pw = colon + 1;
        }
        if (pct_decode(pw, (size_t)(at - pw), u->pass, sizeof(u->pass)))
            return fail(why, whylen, "redis URL has a malformed or too long "
                                     "password (percent-encode special characters)");
        u->has_pass = at > pw;
        if (u->has_user && !u->has_pass)
            return fail(why, whylen, "redis URL names a user but no password");
        host = at + 1;
    }

    /* host, with IPv6 in brackets */
    const char *hend;
    const char *port = NULL;
    if (host < end && *host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (!rb)
            return fail(why, whylen, "redis URL has an unterminated [IPv6] host");
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return fail(why, whylen, "redis URL has junk after the "
                                         "[IPv6] host");
            port = rb + 2;
        }
        host++;
        hend = rb;
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        hend = colon ? colon : end;
        if (colon)
            port = colon + 1;
    }
    if (hend == host)
        return fail(why, whylen, "redis URL has no host");
    if ((size_t)(hend - host) >= sizeof(u->host))
        return fail(why, whylen, "redis URL host is too long");
    memcpy(u->host, host, (size_t)(hend - host));
    u->host[hend - host] = '\0';

    if (port) {
        size_t plen = (size_t)(end - port);
        if (plen == 0 || plen >= sizeof(tmp))
            return fail(why, whylen, "redis URL has an empty or invalid port");
        memcpy(tmp, port, plen);
        tmp[plen] = '\0';
        if (easel_parse_int(tmp, 1, 65535, &u->port))
            return fail(why, whylen, "redis URL port must be a number from "
                                     "1 to 65535");
    }

    if (path && path[1]) {
        if (strlen(path + 1) >= sizeof(tmp) ||
            easel_parse_int(path + 1, 0, 1000000, &u->db))
            return fail(why, whylen, "redis URL database (the part after "
                                     "the '/') must be a number such as /0");
    }
    return EASEL_OK;
}
