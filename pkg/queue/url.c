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
 * And, for a Redis watched by Sentinel:
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db]
 *   - one to QUEUE_MAX_SENTINELS Sentinels (port 26379 by default), asked
 *     in turn for the current master of the set named `master`;
 *   - the credentials and db are the master's (Sentinels are asked without
 *     a password).
 * Refused: other schemes (rediss:// TLS is not built in), query strings and
 * fragments, empty hosts, ports outside 1..65535, non-numeric databases.
 */
#include <stdio.h>
#include <string.h>

#include "queue_int.h"

#define DEFAULT_PORT 6379
#define DEFAULT_SENTINEL_PORT 26379

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

/* host[:port] in s[0..end) (a bracketed IPv6 host allowed) into host and
 * *port (def when absent). NULL on success, else what is wrong. */
static const char *parse_hostport(const char *s, const char *end, char *host, size_t hostlen,
                                  int *port, int def)
{
    char tmp[16];
    const char *hend;
    const char *p = NULL;
    if (s < end && *s == '[') {
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb)
            return "has an unterminated [IPv6] host";
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return "has junk after the [IPv6] host";
            p = rb + 2;
        }
        s++;
        hend = rb;
    } else {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        hend = colon ? colon : end;
        if (colon)
            p = colon + 1;
    }
    if (hend == s)
        return "has no host";
    if ((size_t)(hend - s) >= hostlen)
        return "host is too long";
    memcpy(host, s, (size_t)(hend - s));
    host[hend - s] = '\0';
    *port = def;
    if (p) {
        size_t plen = (size_t)(end - p);
        if (plen == 0 || plen >= sizeof(tmp))
            return "has an empty or invalid port";
        memcpy(tmp, p, plen);
        tmp[plen] = '\0';
        if (easel_parse_int(tmp, 1, 65535, port))
            return "port must be a number from 1 to 65535";
    }
    return NULL;
}

static easel_err fail_url(char *why, size_t whylen, const char *what)
{
    char msg[200];
    (void)easel_snprintf(msg, sizeof(msg), "redis URL %s", what);
    return fail(why, whylen, msg);
}

/* The master's name: what Sentinel's configuration may call it. */
static bool master_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= QUEUE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

easel_err queue_url_parse(const char *url, struct queue_url *u, char *why,
                          size_t whylen)
{
    static const char scheme[] = "redis://";
    static const char sentinel_scheme[] = "redis-sentinel://";
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
                                 "build does not support (Debian's hiredis has no TLS); "
                                 "use redis:// to a TLS sidecar (docs/operations.md)");
    if (easel_str_has_prefix(url, sentinel_scheme))
        u->sentinel = true;
    else if (!easel_str_has_prefix(url, scheme))
        return fail(why, whylen, "redis URL must start with redis:// or redis-sentinel:// "
                                 "(expected redis://[user:password@]host[:port][/db])");
    if (strpbrk(url, "?#"))
        return fail(why, whylen, "redis URL must not have a query string or "
                                 "fragment (?... or #...)");

    const char *auth = url + (u->sentinel ? sizeof(sentinel_scheme) : sizeof(scheme)) - 1;
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

    const char *bad;
    if (!u->sentinel) {
        bad = parse_hostport(host, end, u->host, sizeof(u->host), &u->port, DEFAULT_PORT);
        if (bad)
            return fail_url(why, whylen, bad);
        if (path && path[1]) {
            if (strlen(path + 1) >= sizeof(tmp) ||
                easel_parse_int(path + 1, 0, 1000000, &u->db))
                return fail(why, whylen, "redis URL database (the part after "
                                         "the '/') must be a number such as /0");
        }
        return EASEL_OK;
    }

    /* the Sentinels, comma-separated */
    for (const char *h = host; h <= end;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *hend2 = comma ? comma : end;
        if (u->nsentinels == QUEUE_MAX_SENTINELS) {
            char msg[100];
            (void)easel_snprintf(msg, sizeof(msg), "lists more than %d Sentinels",
                                 QUEUE_MAX_SENTINELS);
            return fail_url(why, whylen, msg);
        }
        struct queue_hostport *sn = &u->sentinels[u->nsentinels];
        bad = parse_hostport(h, hend2, sn->host, sizeof(sn->host), &sn->port,
                             DEFAULT_SENTINEL_PORT);
        if (bad) {
            char msg[200];
            (void)easel_snprintf(msg, sizeof(msg), "Sentinel %zu %s", u->nsentinels + 1, bad);
            return fail_url(why, whylen, msg);
        }
        u->nsentinels++;
        if (!comma)
            break;
        h = comma + 1;
    }
    /* /master[/db] */
    const char *name = path ? path + 1 : NULL;
    const char *slash = name ? strchr(name, '/') : NULL;
    size_t nlen = name ? (slash ? (size_t)(slash - name) : strlen(name)) : 0;
    if (!name || !master_name_ok(name, nlen))
        return fail(why, whylen, "redis-sentinel URL needs the master's name after the "
                                 "Sentinels (redis-sentinel://host:26379,host:26379/mymaster"
                                 "[/db]; letters, digits, '-', '_' and '.')");
    memcpy(u->master, name, nlen);
    u->master[nlen] = '\0';
    if (slash && slash[1]) {
        if (strlen(slash + 1) >= sizeof(tmp) || easel_parse_int(slash + 1, 0, 1000000, &u->db))
            return fail(why, whylen, "redis-sentinel URL database (after the master's "
                                     "name) must be a number such as /0");
    }
    /* until Sentinel names the master, host and port are the first Sentinel's:
     * the address messages name before a connection */
    easel_strlcpy(u->host, u->sentinels[0].host, sizeof(u->host));
    u->port = u->sentinels[0].port;
    return EASEL_OK;
}
