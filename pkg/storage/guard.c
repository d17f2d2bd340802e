/*
 * guard.c - the SSRF guard: which network addresses a job may make easel
 * connect to, for every URL that outside input chose (sources, redirects,
 * provider output URLs, webhooks later), through one entry point,
 * easel_guard_arm.
 *
 * A job names a URL; somebody else chose it. Without a guard, a URL such
 * as http://169.254.169.254/latest/meta-data/ would have the worker read
 * the cloud's credentials for whoever asked. The rule here is the address
 * actually connected to (curl hands each address to the open-socket hook
 * in source.c before connecting), so a name that resolves to loopback, or
 * that resolves differently the second time (DNS rebinding), gains
 * nothing: there is no second lookup. Proxies are switched off (a proxy
 * would connect on our behalf, unchecked) and redirects are never
 * followed by curl: whoever follows one arms a handle again for the new
 * URL, so every hop is judged.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "easel/storage.h"

struct range {
    uint8_t net[16];
    int bits;
    const char *what;
};

/* IPv4 ranges that are not the public internet (IANA special-purpose
 * registry), as IPv4-mapped IPv6 so one table serves both families. */
#define V4(a, b, c, d, n, w) {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}, 96 + (n), w}
static const struct range blocked[] = {
    V4(0, 0, 0, 0, 8, "\"this network\" (0.0.0.0/8), the unspecified address"),
    V4(10, 0, 0, 0, 8, "a private network (10.0.0.0/8)"),
    V4(100, 64, 0, 0, 10, "carrier-grade NAT (100.64.0.0/10)"),
    V4(127, 0, 0, 0, 8, "loopback (127.0.0.0/8)"),
    V4(169, 254, 0, 0, 16, "link-local (169.254.0.0/16, where cloud metadata services live)"),
    V4(172, 16, 0, 0, 12, "a private network (172.16.0.0/12)"),
    V4(192, 0, 0, 0, 24, "IETF protocol assignments (192.0.0.0/24)"),
    V4(192, 0, 2, 0, 24, "documentation (192.0.2.0/24)"),
    V4(192, 88, 99, 0, 24, "6to4 relay anycast (192.88.99.0/24)"),
    V4(192, 168, 0, 0, 16, "a private network (192.168.0.0/16)"),
    V4(198, 18, 0, 0, 15, "benchmarking (198.18.0.0/15)"),
    V4(198, 51, 100, 0, 24, "documentation (198.51.100.0/24)"),
    V4(203, 0, 113, 0, 24, "documentation (203.0.113.0/24)"),
    V4(224, 0, 0, 0, 4, "multicast (224.0.0.0/4)"),
    V4(240, 0, 0, 0, 4, "reserved (240.0.0.0/4) or broadcast"),
    {{0}, 128, "the unspecified address (::)"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback (::1)"},
    {{0}, 96, "IPv4-compatible IPv6 (::/96, deprecated)"},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "local-use NAT64 (64:ff9b:1::/48)"},
    {{0x01, 0x00}, 64, "discard-only (100::/64)"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo tunnelling (2001::/32)"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (2001:db8::/32)"},
    {{0xfc}, 7, "unique-local (fc00::/7)"},
    {{0xfe, 0x80}, 10, "link-local (fe80::/10)"},
    {{0xfe, 0xc0}, 10, "site-local (fec0::/10, deprecated)"},
    {{0xff}, 8, "multicast (ff00::/8)"},
};

static bool in_range(const uint8_t a[16], const uint8_t net[16], int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

/* The address as 16 bytes, IPv4 as IPv4-mapped; false for other families. */
static bool as_v6(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &s4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

/* IPv4 carried inside IPv6 (NAT64 64:ff9b::/96, 6to4 2002::/16) is judged
 * by the IPv4 address it carries, rewritten as IPv4-mapped. */
static void unwrap(uint8_t a[16])
{
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    uint8_t v4[4];
    if (!memcmp(a, nat64, 12))
        memcpy(v4, a + 12, 4);
    else if (a[0] == 0x20 && a[1] == 0x02)
        memcpy(v4, a + 2, 4);
    else
        return;
    memset(a, 0, 10);
    a[10] = a[11] = 0xff;
    memcpy(a + 12, v4, 4);
}

const char *easel_addr_blocked(const struct sockaddr *sa)
{
    uint8_t a[16];
    if (!sa || !as_v6(sa, a))
        return "not an internet address";
    unwrap(a);
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
        if (in_range(a, blocked[i].net, blocked[i].bits))
            return blocked[i].what;
    return NULL;
}

/* "10.0.0.0/8", "fd00::/8", "192.168.1.7" or "::1" -> network and prefix. */
static bool parse_cidr(const char *s, uint8_t net[16], int *bits)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, s, n);
    host[n] = '\0';
    struct in_addr v4;
    struct in6_addr v6;
    int max;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        memset(net, 0, 10);
        net[10] = net[11] = 0xff;
        memcpy(net + 12, &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, host, &v6) == 1) {
        memcpy(net, &v6, 16);
        max = 128;
    } else {
        return false;
    }
    int b = max;
    if (slash) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || v < 0 || v > max)
            return false;
        b = (int)v;
    }
    *bits = b + (max == 32 ? 96 : 0);
    return true;
}

bool easel_allow_entry_valid(const char *e)
{
    uint8_t net[16];
    int bits;
    if (!e || !*e)
        return false;
    if (parse_cidr(e, net, &bits))
        return true;
    /* a host name, or *.suffix: letters, digits, dots and hyphens */
    const char *p = strncmp(e, "*.", 2) == 0 ? e + 2 : e;
    if (!*p || strchr(p, '/'))
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            return false;
    return true;
}

bool easel_allow_host(const char *const *allow, const char *host)
{
    size_t hl = host ? strlen(host) : 0;
    for (; allow && *allow && hl; allow++) {
        const char *e = *allow;
        if (!strncmp(e, "*.", 2)) {
            size_t sl = strlen(e + 1); /* ".suffix" */
            if (hl > sl && !strcasecmp(host + hl - sl, e + 1))
                return true;
        } else if (!strcasecmp(e, host)) {
            return true;
        }
    }
    return false;
}

bool easel_allow_addr(const char *const *allow, const struct sockaddr *sa)
{
    uint8_t a[16], net[16];
    int bits;
    if (!sa || !as_v6(sa, a))
        return false;
    for (; allow && *allow; allow++)
        if (parse_cidr(*allow, net, &bits) && in_range(a, net, bits))
            return true;
    return false;
}

void easel_addr_string(const struct sockaddr *sa, char *buf, size_t n)
{
    buf[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
    else
        easel_fmt_cut(buf, n, "(address family %d)", sa ? sa->sa_family : -1);
}

/* ------------------------------------------------------ a request, armed */

char *easel_url_host(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        /* [::1] -> ::1, as allow lists write it */
        size_t n = strlen(host);
        out = host[0] == '[' && n > 2 ? strndup(host + 1, n - 2) : strdup(host);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return out;
}

/* "scheme://host:port" of an absolute URL, lower-cased, the default port
 * filled in; false when it is not one. */
static bool origin_of(const char *url, char *dst, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        int w = snprintf(dst, n, "%s://%s:%s", scheme, host, port);
        ok = w > 0 && (size_t)w < n;
        for (char *p = dst; ok && *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

bool easel_same_origin(const char *a, const char *b)
{
    char oa[512], ob[512];
    return a && b && origin_of(a, oa, sizeof(oa)) && origin_of(b, ob, sizeof(ob)) &&
           strcmp(oa, ob) == 0;
}

/* The open-socket hook: every address curl is about to connect to passes
 * here, so what is checked is what is connected to. */
static curl_socket_t open_checked(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct easel_guard *g = ud;
    (void)purpose;
    const struct sockaddr *sa = &a->addr;
    const char *why = g->open_network || g->host_allowed ? NULL : easel_addr_blocked(sa);
    if (why && !easel_allow_addr(g->allow, sa)) {
        char ip[64];
        easel_addr_string(sa, ip, sizeof(ip));
        easel_fmt_cut(g->refused, sizeof(g->refused), "%s is %s", ip, why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

void easel_guard_arm(struct easel_guard *g, void *curl, const char *url)
{
    CURL *h = curl;
    char *host = easel_url_host(url);
    g->host_allowed = (host && easel_allow_host(g->allow, host)) ||
                      (g->trusted_origin && easel_same_origin(url, g->trusted_origin));
    g->refused[0] = '\0';
    free(host);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, g);
}
