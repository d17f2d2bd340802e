/*
 * core.h - the pieces every easel module shares: one error enum, an error
 * detail record, JSON-lines logging, growable buffers, checked string and
 * number helpers, clocks and ids.
 *
 * Nothing here allocates behind the caller's back except where a function says
 * it returns an owned pointer. Nothing here calls exit().
 */
#ifndef EASEL_CORE_H
#define EASEL_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define EASEL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define EASEL_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- errors */

/* Every easel function that can fail returns one of these. 0 is success, the
 * rest are negative so that "if (rc < 0)" reads naturally. */
#define EASEL_ERR_MAP(X)                                                     \
    X(OK, 0, "success")                                                      \
    X(NOMEM, -1, "out of memory")                                            \
    X(INVAL, -2, "invalid argument")                                         \
    X(IO, -3, "input/output error")                                          \
    X(PARSE, -4, "malformed input")                                          \
    X(NOTFOUND, -5, "not found")                                             \
    X(EXISTS, -6, "already exists")                                          \
    X(CONFLICT, -7, "state conflict")                                        \
    X(TIMEOUT, -8, "timed out")                                              \
    X(CONN, -9, "connection failed")                                         \
    X(LIMIT, -10, "limit exceeded")                                          \
    X(UNSUPPORTED, -11, "unsupported")                                       \
    X(CANCELED, -12, "canceled")                                             \
    X(DB, -13, "database error")                                             \
    X(REDIS, -14, "redis error")                                             \
    X(IMAGE, -15, "image error")                                             \
    X(HTTP, -16, "http error")                                               \
    X(PROVIDER, -17, "provider error")                                       \
    X(AGAIN, -18, "try again")                                               \
    X(INTERNAL, -19, "internal error")

typedef enum easel_err {
#define EASEL_ERR_ENUM(name, val, msg) EASEL_E##name = (val),
    EASEL_ERR_MAP(EASEL_ERR_ENUM)
#undef EASEL_ERR_ENUM
    EASEL_OK = EASEL_EOK
} easel_err;

/* Human text for a code ("timed out"); never NULL. */
const char *easel_strerror(easel_err e);
/* Stable identifier for a code ("TIMEOUT"); never NULL. */
const char *easel_err_name(easel_err e);

/* How a failure should be handled by whoever retries work. */
enum easel_errclass {
    EASEL_CLASS_NONE = 0,
    EASEL_CLASS_RETRYABLE,   /* timeouts, connection errors, 429, 5xx, lost worker */
    EASEL_CLASS_PERMANENT,   /* invalid input, auth, not found, content policy */
};
const char *easel_errclass_name(enum easel_errclass c); /* "retryable", ... */

/* Why something failed, as a closed set the code can branch on. The name is
 * what records, logs, dead letters and the API show ("unknown_model");
 * Kubernetes Status reasons keep the API's own CamelCase spelling. Adding a
 * reason is one line here. */
#define EASEL_REASON_MAP(X)                                                  \
    X(NONE, "")                                                              \
    /* the process and its arguments */                                      \
    X(INTERNAL, "internal")                                                  \
    X(NO_MEMORY, "no_memory")                                                \
    X(OUT_OF_MEMORY, "out_of_memory")                                        \
    X(NO_THREAD, "no_thread")                                                \
    X(THREAD, "thread")                                                      \
    X(PIPE, "pipe")                                                          \
    X(EVENTFD, "eventfd")                                                    \
    X(NO_EPOLL, "no_epoll")                                                  \
    X(LISTEN_FAILED, "listen_failed")                                        \
    X(SPAWN_FAILED, "spawn_failed")                                          \
    X(BAD_FLAG, "bad_flag")                                                  \
    X(BAD_ARGS, "bad_args")                                                  \
    X(BAD_ARGUMENT, "bad_argument")                                          \
    X(INVALID_ARGUMENT, "invalid_argument")                                  \
    X(BAD_INPUT, "bad_input")                                                \
    X(BAD_NAME, "bad_name")                                                  \
    X(BAD_KEY, "bad_key")                                                    \
    X(BAD_URL, "bad_url")                                                    \
    X(BAD_JOB_ID, "bad_job_id")                                              \
    X(BAD_MODEL, "bad_model")                                                \
    X(BAD_PRESET, "bad_preset")                                              \
    X(BAD_PATCH, "bad_patch")                                                \
    X(BAD_CONTRACT, "bad_contract")                                          \
    X(NOT_FOUND, "not_found")                                                \
    X(TIMEOUT, "timeout")                                                    \
    X(CANCELED, "canceled")                                                  \
    X(TERMINATED, "terminated")                                              \
    /* queue entries, the registry, the record */                            \
    X(MALFORMED_JSON, "malformed_json")                                      \
    X(NO_USABLE_FIELDS, "no_usable_fields")                                  \
    X(ENTRY_TOO_LARGE, "entry_too_large")                                    \
    X(BAD_ID, "bad_id")                                                      \
    X(BAD_CHANNEL, "bad_channel")                                            \
    X(MISSING_OWNER, "missing_owner")                                        \
    X(UNKNOWN_MODEL, "unknown_model")                                        \
    X(UNKNOWN_PRESET, "unknown_preset")                                      \
    X(REGISTRY_INVALID, "registry_invalid")                                  \
    X(NO_REGISTRY, "no_registry")                                            \
    X(REDIS_UNAVAILABLE, "redis_unavailable")                                \
    X(BAD_REDIS_URL, "bad_redis_url")                                        \
    X(DATABASE_UNAVAILABLE, "database_unavailable")                          \
    X(DATABASE_ERROR, "database_error")                                      \
    X(INVALID_DATABASE_URL, "invalid_database_url")                          \
    X(MIGRATE_FAILED, "migrate_failed")                                      \
    X(JOB_NOT_FOUND, "job_not_found")                                        \
    X(INSUFFICIENT_CREDITS, "insufficient_credits")                          \
    X(ALREADY_FINISHED, "already_finished")                                  \
    X(ALREADY_RUNNING, "already_running")                                    \
    X(NOT_RUNNABLE, "not_runnable")                                          \
    X(NOT_RETRYABLE, "not_retryable")                                        \
    /* sources */                                                            \
    X(UNSUPPORTED_SCHEME, "unsupported_scheme")                              \
    X(BAD_DATA_URI, "bad_data_uri")                                          \
    X(NO_SOURCE_IMAGE, "no_source_image")                                    \
    X(SOURCE_EMPTY, "source_empty")                                          \
    X(SOURCE_FORBIDDEN, "source_forbidden")                                  \
    X(SOURCE_NOT_FOUND, "source_not_found")                                  \
    X(SOURCE_TIMEOUT, "source_timeout")                                      \
    X(SOURCE_TOO_LARGE, "source_too_large")                                  \
    X(SOURCE_TOO_MANY_REDIRECTS, "source_too_many_redirects")                \
    X(SOURCE_UNREACHABLE, "source_unreachable")                              \
    X(SOURCE_BLOCKED, "source_blocked")                                      \
    X(FILE_ROOT_UNSET, "file_root_unset")                                    \
    X(SOURCE_HTTP, "source_http") /* the text gets _<status> */              \
    /* images */                                                             \
    X(UNSUPPORTED_FORMAT, "unsupported_format")                              \
    X(IMAGE_TOO_LARGE, "image_too_large")                                    \
    X(CORRUPT_IMAGE, "corrupt_image")                                        \
    X(IMAGE_TIMEOUT, "image_timeout")                                        \
    X(RESIZE_FAILED, "resize_failed")                                        \
    X(ENCODE_FAILED, "encode_failed")                                        \
    X(PHASH_FAILED, "phash_failed")                                          \
    X(STAGE_FAILED, "stage_failed")                                          \
    X(QUALITY_REPEAT, "quality_repeat")                                      \
    X(QUALITY_SIZE, "quality_size")                                          \
    X(QUALITY_ASPECT, "quality_aspect")                                      \
    X(QUALITY_BLANK, "quality_blank")                                        \
    X(QUALITY_UNCHANGED, "quality_unchanged")                                \
    /* body pose (estimate-body) */                                          \
    X(POSE_MODEL_UNAVAILABLE, "pose_model_unavailable")                      \
    X(NO_PERSON, "no_person")                                                \
    X(SEVERAL_PEOPLE, "several_people")                                      \
    X(BODY_CUT_OFF, "body_cut_off")                                          \
    X(SIDE_ON, "side_on")                                                    \
    X(LOW_VISIBILITY, "low_visibility")                                      \
    /* storage */                                                            \
    X(BAD_S3_ENDPOINT, "bad_s3_endpoint")                                    \
    X(STORAGE_BAD_RESPONSE, "storage_bad_response")                          \
    X(STORAGE_TIMEOUT, "storage_timeout")                                    \
    X(STORAGE_UNAVAILABLE, "storage_unavailable")                            \
    X(STORAGE_UNREACHABLE, "storage_unreachable")                            \
    X(STORAGE_NOT_FOUND, "storage_not_found")                                \
    X(STORAGE_DENIED, "storage_denied")                                      \
    X(STORAGE_REJECTED, "storage_rejected")                                  \
    X(SINK_WRITE_FAILED, "sink_write_failed")                                \
    X(UNSUPPORTED_SINK, "unsupported_sink")                                  \
    /* providers */                                                          \
    X(NO_CREDENTIAL, "no_credential")                                        \
    X(PROVIDER_AUTH, "provider_auth")                                        \
    X(QUOTA_EXHAUSTED, "quota_exhausted")                                    \
    X(CONTENT_POLICY, "content_policy")                                      \
    X(PROVIDER_RATE_LIMITED, "provider_rate_limited")                        \
    X(PROVIDER_INVALID_INPUT, "provider_invalid_input")                      \
    X(PROVIDER_UNREACHABLE, "provider_unreachable")                          \
    X(PROVIDER_TIMEOUT, "provider_timeout")                                  \
    X(PROVIDER_BAD_RESPONSE, "provider_bad_response")                        \
    X(PROVIDER_RESPONSE_TOO_LARGE, "provider_response_too_large")            \
    X(PROVIDER_UNSUPPORTED, "provider_unsupported")                          \
    X(PROVIDER_FAILED, "provider_failed")                                    \
    X(PROVIDER_ABORTED, "provider_aborted")                                  \
    X(PROVIDER_CANCELED, "provider_canceled")                                \
    X(PROVIDER_HTTP, "provider_http") /* the text gets _<status> */          \
    X(NO_OUTPUT, "no_output")                                                \
    X(NO_IMAGE, "no_image")                                                  \
    X(OUTPUT_URL_BLOCKED, "output_url_blocked")                              \
    X(MODEL_BUSY, "model_busy")                                              \
    X(BREAKER_OPEN, "breaker_open")                                          \
    /* workers */                                                            \
    X(WORKER_CRASHED, "worker_crashed")                                      \
    X(WORKER_FAILED, "worker_failed")                                        \
    X(WORKER_LOST, "worker_lost")                                            \
    X(JOB_FAILED, "job_failed")                                              \
    X(JOB_DELETED, "job_deleted")                                            \
    X(OOM_KILLED, "oom_killed")                                              \
    X(EVICTED, "evicted")                                                    \
    X(NODE_LOST, "node_lost")                                                \
    X(IMAGE_PULL_FAILED, "image_pull_failed")                                \
    X(UNSCHEDULABLE, "unschedulable")                                        \
    X(CONTAINER_CONFIG_ERROR, "container_config_error")                      \
    /* Kubernetes: kubeconfig, the client, then the API's Status reasons:   \
     * the K8S_ entries stay last (kube/client.c tells them by order) */    \
    X(BAD_KUBECONFIG, "bad_kubeconfig")                                      \
    X(NO_CLUSTER, "no_cluster")                                              \
    X(BAD_NAMESPACE, "bad_namespace")                                        \
    X(K8S_BAD_RESPONSE, "BadResponse")                                       \
    X(K8S_WATCH_ERROR, "WatchError")                                         \
    X(K8S_CONNECTION_FAILED, "ConnectionFailed")                             \
    X(K8S_UNKNOWN, "Unknown")                                                \
    X(K8S_BAD_REQUEST, "BadRequest")                                         \
    X(K8S_UNAUTHORIZED, "Unauthorized")                                      \
    X(K8S_FORBIDDEN, "Forbidden")                                            \
    X(K8S_NOT_FOUND, "NotFound")                                             \
    X(K8S_ALREADY_EXISTS, "AlreadyExists")                                   \
    X(K8S_CONFLICT, "Conflict")                                              \
    X(K8S_GONE, "Gone")                                                      \
    X(K8S_INVALID, "Invalid")                                                \
    X(K8S_SERVER_TIMEOUT, "ServerTimeout")                                   \
    X(K8S_TIMEOUT, "Timeout")                                                \
    X(K8S_TOO_MANY_REQUESTS, "TooManyRequests")                              \
    X(K8S_METHOD_NOT_ALLOWED, "MethodNotAllowed")                            \
    X(K8S_NOT_ACCEPTABLE, "NotAcceptable")                                   \
    X(K8S_ENTITY_TOO_LARGE, "RequestEntityTooLarge")                         \
    X(K8S_UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")                    \
    X(K8S_INTERNAL_ERROR, "InternalError")                                   \
    X(K8S_EXPIRED, "Expired")                                                \
    X(K8S_SERVICE_UNAVAILABLE, "ServiceUnavailable")

enum easel_reason {
#define EASEL_REASON_ENUM(name, text) EASEL_R_##name,
    EASEL_REASON_MAP(EASEL_REASON_ENUM)
#undef EASEL_REASON_ENUM
    EASEL_R__COUNT
};
/* The reason's name ("unknown_model"); "" for EASEL_R_NONE; never NULL. */
const char *easel_reason_name(enum easel_reason r);
/* The reason a recorded name stands for: exact names, and "provider_http_NNN"
 * / "source_http_NNN" for their families. EASEL_R_NONE for NULL, "" or a
 * name that is not in the table (a record written by another version). */
enum easel_reason easel_reason_parse(const char *name);
/* True for the output checks' reasons (quality_*). */
bool easel_reason_is_quality(enum easel_reason r);

/* Detail of a failure, filled by the function that failed. `why` is the
 * reason the code branches on; `reason` is its name as records and logs
 * show it (with "_<status>" after provider_http and source_http), `msg` a
 * sentence for a person. Callers may pass NULL when they do not care. */
struct easel_error {
    easel_err code;
    enum easel_errclass cls;
    enum easel_reason why;
    int http_status;          /* 0 when not an HTTP failure */
    int64_t retry_after_ms;   /* > 0: the server asked us to wait this long */
    char reason[48];
    char msg[400];
};

void easel_error_clear(struct easel_error *e);
/* Puts context in front of e->msg ("downloading the output: " + msg). */
void easel_error_prefix(struct easel_error *e, const char *fmt, ...) EASEL_PRINTF(2, 3);
/* Sets all fields and returns `code`, so that "return easel_error_set(...)"
 * works. Safe with e == NULL. */
easel_err easel_error_set(struct easel_error *e, easel_err code,
                          enum easel_errclass cls, enum easel_reason why,
                          const char *fmt, ...) EASEL_PRINTF(5, 6);
/* Changes only the reason (and its name) of a filled error; with an HTTP
 * family reason and status > 0 the name gets "_<status>" and http_status is
 * set. Safe with e == NULL. */
void easel_error_reason(struct easel_error *e, enum easel_reason why, long status);

/* ---------------------------------------------------------------- logging */

enum easel_log_level {
    EASEL_LOG_DEBUG = 0,
    EASEL_LOG_INFO,
    EASEL_LOG_WARN,
    EASEL_LOG_ERROR,
    EASEL_LOG_OFF,
};

/* Configures the process-wide logger. Thread-safe to call log functions from
 * any thread once configured. `component` names the mode ("controller"). */
void easel_log_setup(enum easel_log_level min, const char *component);
easel_err easel_log_level_parse(const char *s, enum easel_log_level *out);
bool easel_log_enabled(enum easel_log_level lvl);

/* Writes one JSON line to stderr: {"ts","level","component","msg",...}.
 * `kv` is NULL or a NULL-terminated list of key, value string pairs that are
 * added as fields; values of keys that look like secrets are redacted. */
void easel_logv(enum easel_log_level lvl, const char *job_id,
                const char *const *kv, const char *fmt, va_list ap);
void easel_log(enum easel_log_level lvl, const char *job_id, const char *fmt,
               ...) EASEL_PRINTF(3, 4);
void easel_log_kv(enum easel_log_level lvl, const char *job_id,
                  const char *const *kv, const char *fmt, ...)
    EASEL_PRINTF(4, 5);

/* Called with every error-level line (its job id, or NULL, and its
 * message) before it is written, from the thread that logs it; NULL to
 * remove. The error reports of pkg/telemetry/sentry.c use it. The hook must
 * not block. */
void easel_log_set_error_hook(void (*fn)(const char *job_id, const char *msg));
/* Lines logged by the calling thread carry "trace_id" from now on: the
 * trace of the attempt it runs. NULL or "" stops it. Per thread. */
void easel_log_set_trace_id(const char *trace_id);
#define easel_debug(id, ...) easel_log(EASEL_LOG_DEBUG, id, __VA_ARGS__)
#define easel_info(id, ...) easel_log(EASEL_LOG_INFO, id, __VA_ARGS__)
#define easel_warn(id, ...) easel_log(EASEL_LOG_WARN, id, __VA_ARGS__)
#define easel_error_log(id, ...) easel_log(EASEL_LOG_ERROR, id, __VA_ARGS__)

/* True for names like "authorization", "X_API_KEY", "token", "db_password". */
bool easel_is_secret_key(const char *key);
/* Copies a URL into dst with any password replaced by "***" (for logging a
 * database or redis URL). Always NUL-terminates when dstlen > 0. */
void easel_redact_url(const char *url, char *dst, size_t dstlen);

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer, always NUL-terminated when data != NULL. `max` (0 =
 * unlimited) caps growth: appends past it fail with EASEL_ELIMIT and leave the
 * buffer unchanged. Embed it and call easel_buf_init / easel_buf_cleanup. */
struct easel_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void easel_buf_init(struct easel_buf *b, size_t max);
void easel_buf_cleanup(struct easel_buf *b);
void easel_buf_reset(struct easel_buf *b); /* len = 0, keeps memory */
easel_err easel_buf_reserve(struct easel_buf *b, size_t extra);
easel_err easel_buf_append(struct easel_buf *b, const void *p, size_t n);
easel_err easel_buf_puts(struct easel_buf *b, const char *s);
easel_err easel_buf_printf(struct easel_buf *b, const char *fmt, ...)
    EASEL_PRINTF(2, 3);
easel_err easel_buf_vprintf(struct easel_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
easel_err easel_buf_json_str(struct easel_buf *b, const char *s);
/* Hands the data to the caller (who frees it) and re-initialises b. */
char *easel_buf_steal(struct easel_buf *b, size_t *len);

/* ---------------------------------------------------------------- strings */

/* Copies at most dstlen-1 bytes and NUL-terminates. Returns strlen(src) so
 * truncation is detectable (>= dstlen). */
size_t easel_strlcpy(char *dst, const char *src, size_t dstlen);
/* snprintf that reports truncation: EASEL_ELIMIT when it did not fit (dst
 * then holds the head, terminated), EASEL_EINVAL on an encoding error. For
 * anything a program reads back: keys, names, URLs, paths, SQL, JSON. */
easel_err easel_snprintf(char *dst, size_t dstlen, const char *fmt, ...)
    EASEL_PRINTF(3, 4);
/* Formats text meant for a person (a log line, an error message, an Event)
 * where cutting what does not fit is the intended behaviour: dst (dstlen >
 * 0) always ends up terminated, and a cut ends in "..." so a reader sees it.
 * Returns the length written. Never use it for text a program parses. */
size_t easel_fmt_cut(char *dst, size_t dstlen, const char *fmt, ...) EASEL_PRINTF(3, 4);
size_t easel_vfmt_cut(char *dst, size_t dstlen, const char *fmt, va_list ap)
    EASEL_PRINTF(3, 0);
/* strdup that returns NULL for NULL. */
char *easel_strdup(const char *s);
char *easel_strndup(const char *s, size_t n);
/* Allocating printf; NULL on failure. */
char *easel_asprintf(const char *fmt, ...) EASEL_PRINTF(1, 2);
bool easel_str_has_prefix(const char *s, const char *prefix);
/* The value of one hex digit (either case), or -1. */
int easel_hex_digit(int c);
/* A listen address that only this machine reaches: "localhost",
 * 127.0.0.0/8 or ::1. */
bool easel_host_is_loopback(const char *host);
/* An owner's key, "channel:owner" ("" for no channel), as job events, the
 * streams and the credit accounts name owners. EASEL_ELIMIT when cut. */
easel_err easel_owner_key(const char *channel, const char *owner, char *dst, size_t n);
/* Is key an owner as the API and the CLI take one: "CHANNEL:ID", both
 * parts non-empty, at most EASEL_OWNER_KEY_MAX bytes, no control
 * characters? */
#define EASEL_OWNER_KEY_MAX 256
bool easel_owner_key_valid(const char *key);
/* A listen address, "HOST:PORT", "[V6]:PORT" or ":PORT", into host (""
 * = every address, brackets dropped) and port (0-65535). EASEL_EINVAL when
 * it is none of those or the host does not fit in hostlen. */
easel_err easel_split_host_port(const char *addr, char *host, size_t hostlen, int *port);
/* Lower-case hex of n bytes into out, which takes 2n+1 chars (NUL-terminated). */
void easel_hex_encode(const void *data, size_t n, char *out);
bool easel_str_eq(const char *a, const char *b); /* NULL-safe */

/* Whole-string numeric parsing: no trailing junk, range checked. */
easel_err easel_parse_i64(const char *s, int64_t min, int64_t max,
                          int64_t *out);
easel_err easel_parse_int(const char *s, int min, int max, int *out);
easel_err easel_parse_double(const char *s, double *out);
easel_err easel_parse_bool(const char *s, bool *out); /* true/false/1/0/yes/no/on/off */
/* "250ms", "30s", "5m", "1h", "1500" (ms). Result in milliseconds. */
easel_err easel_parse_duration_ms(const char *s, int64_t *out);
/* "10MB", "512KiB", "1048576". Result in bytes. */
easel_err easel_parse_size(const char *s, int64_t *out);

/* ---------------------------------------------------------------- time, ids */

int64_t easel_now_ms(void);      /* CLOCK_MONOTONIC, milliseconds */
int64_t easel_now_us(void);      /* CLOCK_MONOTONIC, microseconds */
int64_t easel_wall_ms(void);     /* CLOCK_REALTIME, ms since the epoch */
/* RFC 3339 UTC with milliseconds: 2026-11-23T03:04:05.678Z (needs 25 bytes).
 * EASEL_ELIMIT when dst is too small, EASEL_EINVAL for a time the calendar
 * cannot express; dst (dstlen > 0) then holds "" rather than part of a time. */
easel_err easel_format_time(int64_t wall_ms, char *dst, size_t dstlen);
void easel_sleep_ms(int64_t ms);

#define EASEL_UUID_LEN 36
/* Random (version 4) UUID, lower-case, NUL-terminated (37 bytes). */
easel_err easel_uuid_v4(char out[EASEL_UUID_LEN + 1]);
bool easel_uuid_valid(const char *s);
/* Uniform random integer in [0, n) from a per-thread generator seeded from
 * the OS; for jitter, not for secrets. n == 0 returns 0. */
uint64_t easel_rand_below(uint64_t n);

/* ---------------------------------------------------------------- files */

/* Reads a whole file, failing with EASEL_ELIMIT past max bytes (0 = no cap).
 * *out is malloc'd and NUL-terminated; the caller frees it. */
easel_err easel_read_file(const char *path, size_t max, char **out,
                          size_t *len);
/* Writes data to path atomically (temp file in the same directory, fsync,
 * rename). */
easel_err easel_write_file_atomic(const char *path, const void *data,
                                  size_t len);
/* mkdir -p with mode 0755. */
easel_err easel_mkdir_p(const char *path);

#endif
