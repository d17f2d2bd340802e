/*
 * storage.h - where source images come from and where results go.
 *
 * Sources: file:// (confined to configured roots when roots are set),
 * data: URIs and http(s):// via libcurl with a size cap, connect/total
 * timeouts and the SSRF guard (guard.c).
 * Sinks: file:///dir for now (S3 comes later). Results are written
 * atomically (temp file + rename) under a per-job, per-attempt-stable name,
 * so a retried job overwrites rather than duplicates.
 */
#ifndef EASEL_STORAGE_H
#define EASEL_STORAGE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

struct easel_fetch_opts {
    int64_t max_bytes;         /* refuse larger bodies (EASEL_ELIMIT, permanent) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;        /* whole transfer */
    int max_redirects;
    const char *const *file_roots; /* NULL-terminated; NULL = any path */
    const char *user_agent;
    const volatile sig_atomic_t *stop; /* non-zero: abandon the transfer (EASEL_ECANCELED) */
    /* The SSRF guard (on unless open_network): http(s) may only connect
     * to public internet addresses, checked on the address actually
     * connected to, on every redirect. `allow` lets chosen hosts through:
     * CIDRs or addresses ("10.1.0.0/16", "fd00::/8", "127.0.0.1") and
     * host names ("minio.internal", "*.corp.example"). NULL-terminated. */
    bool open_network;
    const char *const *allow;
};
void easel_fetch_opts_default(struct easel_fetch_opts *o);

/* Fetches a source into *out (malloc'd, caller frees). Classifies failures:
 * unreachable host, timeouts, 429 and 5xx are retryable; 4xx, bad scheme,
 * path outside the roots, too large are permanent. err->reason is one of
 * "source_unreachable", "source_timeout", "source_http_<code>",
 * "source_too_large", "source_forbidden", "source_not_found",
 * "unsupported_scheme". Thread-safe (curl_global_init is done once). */
easel_err easel_fetch(const char *url, const struct easel_fetch_opts *o,
                      void **out, size_t *len, struct easel_error *err);

struct sockaddr;
/* Why the SSRF guard refuses an address ("loopback (127.0.0.0/8)", ...),
 * or NULL for a public internet address. IPv4-mapped, NAT64 and 6to4
 * IPv6 addresses are judged by the IPv4 address they carry. */
const char *easel_addr_blocked(const struct sockaddr *sa);
/* Whether an allow-list entry lets this address or host name through. */
bool easel_allow_addr(const char *const *allow, const struct sockaddr *sa);
bool easel_allow_host(const char *const *allow, const char *host);
/* Whether s is a usable allow-list entry (CIDR, address, name or *.name). */
bool easel_allow_entry_valid(const char *s);
void easel_addr_string(const struct sockaddr *sa, char *buf, size_t n);
/* The host of an absolute URL, without IPv6 brackets (malloc'd), or NULL. */
char *easel_url_host(const char *url);

struct easel_sink;
/* Opens a sink from a URL: "file:///abs/dir". */
easel_err easel_sink_open(const char *url, struct easel_sink **out,
                          struct easel_error *err);
void easel_sink_free(struct easel_sink *s);
/* Stores data at `key` (relative, '/'-separated, no ".." segments) and
 * returns its URL (malloc'd) in *url. Atomic and idempotent: writing the same
 * key twice leaves one complete object. */
easel_err easel_sink_put(struct easel_sink *s, const char *key,
                         const void *data, size_t len, const char *mime,
                         char **url, struct easel_error *err);

#endif
