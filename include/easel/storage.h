/*
 * storage.h - where source images come from and where results go.
 *
 * Sources: file:// (refused unless roots are configured, then confined to
 * them), data: URIs, s3:// from the operator's endpoint, and http(s):// via
 * libcurl with a size cap, connect/total timeouts and the SSRF guard
 * (guard.c), which every URL outside input chose passes through.
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

/* The schemes a fetch may follow (easel_fetch_opts.schemes). */
#define EASEL_SCHEME_FILE 0x1u
#define EASEL_SCHEME_DATA 0x2u /* data: URIs and bare base64 */
#define EASEL_SCHEME_HTTP 0x4u /* http:// and https://, through the SSRF guard */
#define EASEL_SCHEME_S3 0x8u
#define EASEL_SCHEMES_ALL 0xfu

struct easel_fetch_opts {
    int64_t max_bytes;         /* refuse larger bodies (EASEL_ELIMIT, permanent) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;        /* whole transfer */
    int max_redirects;
    /* Directories file:// URLs may be read from, NULL-terminated. The
     * real path (symlinks resolved, in the path and in the roots) must be
     * inside one; without any root every file:// URL is refused
     * ("file_root_unset"), so a queue entry cannot read the node's files. */
    const char *const *file_roots;
    const char *user_agent;
    const volatile sig_atomic_t *stop; /* non-zero: abandon the transfer (EASEL_ECANCELED) */
    /* The SSRF guard (on unless open_network): http(s) may only connect
     * to public internet addresses, checked on the address actually
     * connected to, on every redirect. `allow` lets chosen hosts through:
     * CIDRs or addresses ("10.1.0.0/16", "fd00::/8", "127.0.0.1") and
     * host names ("minio.internal", "*.corp.example"). NULL-terminated. */
    bool open_network;
    const char *const *allow;
    /* An origin the operator configured ("https://api.example.com",
     * "http://10.0.0.5:8080"), reached without the guard's address check
     * when a URL or a redirect names exactly that scheme, host and port:
     * a provider's own endpoint serving its outputs. NULL = none. */
    const char *trusted_origin;
    unsigned schemes;          /* EASEL_SCHEME_* bits allowed; 0 = all */
};
/* Sources' defaults: 50 MB, 10 s connect, 60 s total, 5 redirects, every
 * scheme, no file roots (so no file://), the guard on with nothing allowed. */
void easel_fetch_opts_default(struct easel_fetch_opts *o);

/* Fetches a URL that a job (or a provider's answer) chose into *out
 * (malloc'd, caller frees): the one entry point for such reads. Classifies
 * failures: unreachable host, timeouts, 429 and 5xx are retryable; 4xx, a
 * scheme not allowed, a path outside the roots, an address the SSRF guard
 * refuses, too large are permanent. err->reason is one of
 * "source_unreachable", "source_timeout", "source_http_<code>",
 * "source_too_large", "source_forbidden", "source_not_found",
 * "source_blocked", "file_root_unset", "unsupported_scheme". Thread-safe
 * (curl_global_init is done once). */
easel_err easel_fetch(const char *url, const struct easel_fetch_opts *o,
                      void **out, size_t *len, struct easel_error *err);

/* A --file-root value is usable: an absolute path (it need not exist on
 * this host: a controller names the roots of its workers). */
bool easel_file_root_valid(const char *root);

/* ------------------------------------------------ the SSRF guard */

/* Every outgoing request to a URL that outside input chose (a source, a
 * provider's output URL, a redirect, a webhook) is made on a libcurl
 * handle armed by easel_guard_arm. The guard judges each address when the
 * socket is opened, after name resolution, so a name that resolves to a
 * private address, or to a different one the second time (DNS rebinding),
 * gains nothing. */
struct easel_guard {
    const char *const *allow;   /* as easel_fetch_opts.allow */
    bool open_network;          /* no check at all */
    const char *trusted_origin; /* as easel_fetch_opts.trusted_origin */
    /* set by easel_guard_arm and the open-socket hook */
    bool host_allowed;          /* this URL's host or origin is let through */
    char refused[200];          /* why the last address was refused, or "" */
};
/* Arms `curl` (a CURL * easy handle) for one request to url: http and
 * https only, no proxy (a proxy would connect for us, unchecked), no
 * redirect followed (a caller that follows one arms the handle again for
 * the new URL), and every address checked when its socket opens. g must
 * outlive the transfer. After a failed transfer, g->refused[0] != '\0'
 * means the guard refused the connection. */
void easel_guard_arm(struct easel_guard *g, void *curl, const char *url);

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
/* The address as text for a message; cut visibly ("...") when n is short. */
void easel_addr_string(const struct sockaddr *sa, char *buf, size_t n);
/* The host of an absolute URL, without IPv6 brackets (malloc'd), or NULL. */
char *easel_url_host(const char *url);
/* Whether two absolute URLs have the same scheme, host and port (default
 * ports filled in). */
bool easel_same_origin(const char *a, const char *b);

/* ------------------------------------------------ AWS Signature V4 */

struct easel_sigv4 {
    const char *access_key, *secret_key;
    const char *session_token;  /* NULL unless temporary credentials */
    const char *region;         /* "us-east-1", "auto" (R2), ... */
    const char *service;        /* "s3" */
};
struct easel_sigv4_req {
    const char *method;
    const char *host;           /* as sent in Host, with a port when not the default */
    const char *path;           /* as sent; "" = "/" */
    const char *query;          /* as sent, without '?'; NULL = none */
    const char *const *headers; /* more headers to sign, "Name: value"; NULL-terminated */
    const char *payload_hash;   /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;       /* YYYYMMDDTHHMMSSZ */
    bool sign_payload_header;   /* send and sign x-amz-content-sha256 (S3 always) */
    bool in_query;              /* presigned: the date and credential are in the query */
};
struct easel_sigv4_out {
    char *canonical_request, *string_to_sign, *signed_headers;
    char *authorization;        /* the Authorization header's value */
    char signature[65];
};
/* Signs a request; every string in *out is malloc'd (easel_sigv4_out_cleanup).
 * EASEL_EINVAL for a missing field, EASEL_ELIMIT for a secret key over 507
 * bytes, EASEL_ENOMEM; *out is then empty. */
easel_err easel_sigv4_sign(const struct easel_sigv4 *k, const struct easel_sigv4_req *r,
                           struct easel_sigv4_out *out);
void easel_sigv4_out_cleanup(struct easel_sigv4_out *o);
/* The query string of a presigned URL (X-Amz-Algorithm ... X-Amz-Signature),
 * after extra_query when given; expires_s in 1..604800. malloc'd, or NULL. */
char *easel_sigv4_presign(const struct easel_sigv4 *k, const char *method, const char *host,
                          const char *path, const char *extra_query, int64_t expires_s,
                          const char *amz_date);
/* "20130524T000000Z" for a wall-clock time in ms. */
void easel_amz_date(int64_t wall_ms, char out[17]);
void easel_sha256_hex(const void *data, size_t len, char out[65]);
/* Percent-encodes s (every byte but A-Z a-z 0-9 - . _ ~, and '/' when
 * keep_slash) onto b, as S3 keys and query values need. */
easel_err easel_uri_encode(struct easel_buf *b, const char *s, bool keep_slash);

/* ------------------------------------------------ S3-compatible storage */

struct easel_s3;
struct easel_s3_opts {
    const char *endpoint;      /* "https://s3.amazonaws.com", "http://127.0.0.1:9000"; NULL = AWS in region */
    const char *region;        /* NULL = us-east-1 ("auto" for R2) */
    bool path_style;           /* endpoint/bucket/key instead of bucket.endpoint/key */
    const char *access_key, *secret_key, *session_token;
    int64_t part_size;         /* multipart above this (>= 5 MiB); 0 = 8 MiB */
    int64_t timeout_ms;        /* per request; 0 = 120 s */
};
/* From the usual settings: EASEL_S3_ENDPOINT, EASEL_S3_REGION (else
 * AWS_REGION, AWS_DEFAULT_REGION), EASEL_S3_PATH_STYLE, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, EASEL_S3_PART_SIZE. The
 * strings are the environment's. */
void easel_s3_opts_from_env(struct easel_s3_opts *o);
easel_err easel_s3_open(const struct easel_s3_opts *o, struct easel_s3 **out,
                        struct easel_error *err);
void easel_s3_free(struct easel_s3 *s);
/* Stores an object (one PUT, or a multipart upload above the part size,
 * aborted on failure). */
easel_err easel_s3_put(const struct easel_s3 *s, const char *bucket, const char *key,
                       const void *data, size_t len, const char *content_type,
                       const char *cache_control, struct easel_error *err);
/* Deletes an object; one that does not exist counts as deleted. */
easel_err easel_s3_delete(const struct easel_s3 *s, const char *bucket, const char *key,
                          struct easel_error *err);
/* Reads an object, failing past max_bytes (0 = no cap). */
easel_err easel_s3_get(const struct easel_s3 *s, const char *bucket, const char *key,
                       int64_t max_bytes, void **out, size_t *len, struct easel_error *err);
/* A presigned URL (malloc'd) for method on the object, valid expires_s
 * seconds from amz_date (NULL = now). NULL on a bad bucket or expiry. */
char *easel_s3_presign(const struct easel_s3 *s, const char *method, const char *bucket,
                       const char *key, int64_t expires_s, const char *amz_date);
/* "s3://bucket/key/with/slashes" -> bucket, key (points into url). */
easel_err easel_s3_parse_url(const char *url, char *bucket, size_t bn, const char **key);

/* ------------------------------------------------ object keys */

struct easel_key_vars {
    const char *job_id, *variant, *ext, *owner, *channel, *model, *date;
};
/* {job_id} {variant} {ext} {owner} {channel} {model} {date}, NULL-terminated. */
extern const char *const easel_key_placeholders[];
/* Fills a key template; each value becomes one safe path segment (letters,
 * digits, . - _ @; anything else '_'; "", "." and ".." become "_"). On an
 * unknown placeholder (EASEL_EINVAL), a value over 255 bytes or a key longer
 * than n-1 (EASEL_ELIMIT, never a cut key), an error and a reason. */
easel_err easel_object_key(const char *tmpl, const struct easel_key_vars *v, char *out,
                           size_t n, char *why, size_t whyn);
/* Whether a template is usable: relative, with {job_id} and {variant}. */
easel_err easel_key_template_check(const char *tmpl, char *why, size_t whyn);
/* The template for a channel: paths[0] for "b2b", [1] for "b2c", [2] for
 * the rest, each NULL meaning the built-in one:
 * stores/{owner}/generated/{job_id}/{variant}.{ext},
 * generated/{owner}/{job_id}/{variant}.{ext}, jobs/{job_id}/{variant}.{ext}. */
const char *easel_key_template_for(const char *const paths[3], const char *channel);

struct easel_sink;
/* Opens a sink from a URL: "file:///abs/dir" or "s3://bucket[/prefix]"
 * (S3 settings from the environment, easel_s3_opts_from_env; uploads carry
 * Cache-Control from EASEL_S3_CACHE_CONTROL, by default
 * "public, max-age=31536000, immutable"). */
easel_err easel_sink_open(const char *url, struct easel_sink **out,
                          struct easel_error *err);
void easel_sink_free(struct easel_sink *s);
/* Stores data at `key` (relative, '/'-separated, no ".." segments) and
 * returns its URL (malloc'd) in *url. Atomic and idempotent: writing the same
 * key twice leaves one complete object. */
easel_err easel_sink_put(struct easel_sink *s, const char *key,
                         const void *data, size_t len, const char *mime,
                         char **url, struct easel_error *err);
/* Removes what easel_sink_put stored at `key`; a key with nothing there
 * counts as removed. */
easel_err easel_sink_delete(struct easel_sink *s, const char *key, struct easel_error *err);
/* A presigned GET URL (malloc'd) for an s3:// URL easel_sink_put returned,
 * valid for EASEL_S3_PRESIGN_EXPIRES (read when the sink opened; 7 days
 * at most and by default) until *expires_at (Unix seconds); NULL for other
 * sinks. */
char *easel_sink_presign(const struct easel_sink *s, const char *url, int64_t *expires_at);

#endif
