/*
 * trace.h - OpenTelemetry traces (exported as OTLP/HTTP JSON) and Sentry
 * error reports, both configured by the standard environment variables and
 * both off, at the cost of one branch per call, when nothing is configured.
 *
 * A span is started with one call and ended with another; everything in
 * between (attributes, status) is optional and every function accepts a
 * NULL span, which is what easel_span_start returns when tracing is off or
 * the span is not sampled (children of an unsampled span are not sampled
 * either, so they see a non-recording span and propagate its context).
 * Ended spans go to a bounded queue that one exporter thread drains
 * (otlp.c); a full queue drops spans and counts them, and nothing here ever
 * waits for the network on the caller's thread.
 *
 * Thread safety: easel_trace_init and easel_trace_shutdown are called once
 * each from the main thread; every other call may be made from any thread.
 * One span is used by one thread at a time.
 */
#ifndef EASEL_TRACE_H
#define EASEL_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

/* ------------------------------------------------------------ contexts */

/* "00-<32 hex>-<16 hex>-<2 hex>" */
#define EASEL_TRACEPARENT_LEN 55

/* What crosses a process boundary (W3C trace context). */
struct easel_span_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags;          /* bit 0: sampled */
};

/* Parses a W3C traceparent header value (version 00 exactly: 55 characters;
 * a higher version is read by its first four fields when followed by '-' or
 * the end, as the spec asks). Fails with EASEL_EPARSE on a wrong length,
 * non-hex or upper-case hex, version ff, or an all-zero trace or span id;
 * *out is then zeroed. Leading and trailing blanks are skipped. */
easel_err easel_traceparent_parse(const char *s, size_t len, struct easel_span_ctx *out);
/* Formats c into out (EASEL_TRACEPARENT_LEN + 1 bytes). */
void easel_traceparent_format(const struct easel_span_ctx *c,
                              char out[EASEL_TRACEPARENT_LEN + 1]);
bool easel_span_ctx_valid(const struct easel_span_ctx *c);

/* ------------------------------------------------------------ configuration */

enum easel_sampler {
    EASEL_SAMPLER_ALWAYS_ON = 0,
    EASEL_SAMPLER_ALWAYS_OFF,
    EASEL_SAMPLER_RATIO,
    EASEL_SAMPLER_PARENT_ON,     /* parentbased_always_on (the default) */
    EASEL_SAMPLER_PARENT_OFF,
    EASEL_SAMPLER_PARENT_RATIO,
};

#define EASEL_TRACE_MAX_HEADERS 16

/* Everything read from the environment. Strings are owned (easel_trace_config_cleanup). */
struct easel_trace_config {
    bool enabled;                /* an endpoint is set and the SDK is not disabled */
    char *endpoint;              /* the full URL spans are POSTed to */
    char *headers[EASEL_TRACE_MAX_HEADERS]; /* "Name: value" (secrets: never logged) */
    size_t nheaders;
    char *service_name;
    /* OTEL_RESOURCE_ATTRIBUTES, decoded, as key, value pairs */
    char **resource;
    size_t nresource;
    enum easel_sampler sampler;
    double ratio;                /* for the ratio samplers, in [0, 1] */
    int64_t timeout_ms;          /* per export request */
    int64_t delay_ms;            /* between exports when the batch is not full */
    size_t queue_max, batch_max;
    /* the first problem with a variable (the variable named, never its
     * value), or "" */
    char warning[160];
};

/* Reads the OTEL_* variables through getenv_fn (getenv when NULL) into *c.
 * A variable with a bad value is ignored with a warning (the default
 * applies) rather than failing: telemetry never stops easel from starting.
 * Returns EASEL_ENOMEM only. */
easel_err easel_trace_config_read(struct easel_trace_config *c,
                                  const char *(*getenv_fn)(const char *name));
void easel_trace_config_cleanup(struct easel_trace_config *c);

/* The sampling decision for a new span under sampler c, given its trace id
 * and its parent (NULL for a root; remote or local alike). */
bool easel_trace_should_sample(const struct easel_trace_config *c, const uint8_t trace_id[16],
                               const struct easel_span_ctx *parent);

/* Percent-decodes s (len bytes) into a new string; NULL on a bad escape or
 * out of memory. For OTEL_RESOURCE_ATTRIBUTES and the header variables. */
char *easel_trace_pct_decode(const char *s, size_t len);

/* The variables a worker pod is given from its controller's environment
 * (NULL-terminated): endpoints, sampler, service and resource, Sentry's
 * DSN, environment and release. Never the header variables. */
extern const char *const easel_telemetry_worker_env[];

/* ------------------------------------------------------------ lifetime */

/* Reads the configuration and, when an endpoint is set, starts the exporter
 * thread. mode ("controller", "job", ...) becomes the resource attribute
 * easel.mode. Never fails the caller: a problem is logged and tracing stays
 * off. */
void easel_trace_init(const char *mode);
/* Exports what is queued, waiting at most wait_ms (a short process calls it
 * at exit with ~2000), then stops the thread. Spans ended afterwards are
 * dropped. */
void easel_trace_shutdown(int64_t wait_ms);
/* Is tracing on in this process? */
bool easel_trace_enabled(void);

struct easel_trace_stats {
    uint64_t exported, dropped, failed_batches;
};
void easel_trace_stats(struct easel_trace_stats *out);

/* ------------------------------------------------------------ spans */

/* OTLP's enum values: never renumber. */
enum easel_span_kind {
    EASEL_SPAN_INTERNAL = 1,
    EASEL_SPAN_SERVER = 2,
    EASEL_SPAN_CLIENT = 3,
    EASEL_SPAN_PRODUCER = 4,
    EASEL_SPAN_CONSUMER = 5,
};
enum easel_span_status {
    EASEL_SPAN_UNSET = 0,
    EASEL_SPAN_OK = 1,
    EASEL_SPAN_ERROR = 2,
};

struct easel_span;

/* Starts a span named name (copied). parent is a remote or local context,
 * or NULL for a new trace. NULL when tracing is off (nothing allocated). */
struct easel_span *easel_span_start(const char *name, enum easel_span_kind kind,
                                    const struct easel_span_ctx *parent);
/* The same with the parent given as a traceparent string (NULL, "" or an
 * invalid value start a new trace). */
struct easel_span *easel_span_start_tp(const char *name, enum easel_span_kind kind,
                                       const char *traceparent);
/* A child of parent (a new trace when parent is NULL). */
struct easel_span *easel_span_child(const struct easel_span *parent, const char *name,
                                    enum easel_span_kind kind);

/* Attributes (key and string value copied; at most 32 per span, later ones
 * dropped). */
void easel_span_str(struct easel_span *s, const char *key, const char *value);
void easel_span_int(struct easel_span *s, const char *key, int64_t value);
void easel_span_double(struct easel_span *s, const char *key, double value);
void easel_span_bool(struct easel_span *s, const char *key, bool value);
/* Status: ERROR with a message (cut to 256 bytes), or OK. */
void easel_span_error(struct easel_span *s, const char *message);
void easel_span_ok(struct easel_span *s);
/* Fails the span when rc != EASEL_OK (message: why, or easel_strerror). */
void easel_span_rc(struct easel_span *s, easel_err rc, const char *why);

/* The span's context (false for NULL), and as a traceparent string into
 * out (EASEL_TRACEPARENT_LEN + 1 bytes; "" for NULL). */
bool easel_span_context(const struct easel_span *s, struct easel_span_ctx *out);
const char *easel_span_traceparent(const struct easel_span *s,
                                   char out[EASEL_TRACEPARENT_LEN + 1]);

/* Ends the span now and hands it to the exporter (or frees it). */
void easel_span_end(struct easel_span *s);
/* Ends it with a given end time (wall clock, unix ns). */
void easel_span_end_at(struct easel_span *s, int64_t end_unix_ns);

/* ------------------------------------------------------------ OTLP mapping */

/* The OTLP/HTTP JSON body for n ended spans (resourceSpans with one
 * resource, one scopeSpans with scope "easel"). For the exporter and the
 * unit tests. */
easel_err easel_otlp_encode(const struct easel_trace_config *c, const char *mode,
                            struct easel_span *const *spans, size_t n,
                            struct easel_buf *out);
/* Frees a span that never went to the exporter (NULL-safe). */
void easel_span_free(struct easel_span *s);
/* Sets s's end time without exporting it and hands it back (tests). */
struct easel_span *easel_span_finish(struct easel_span *s);
/* For tests: easel_span_start then behaves as if tracing were on with c's
 * sampler, and ended spans are freed, never exported. NULL turns tracing
 * back off. Not for use while the exporter runs. */
void easel_trace_test_config(const struct easel_trace_config *c);

/* ------------------------------------------------------------ Sentry */

/* A DSN https://PUBLIC_KEY@host[:port][/prefix]/PROJECT_ID, split. */
struct easel_sentry_dsn {
    char key[64];
    char project[32];
    char envelope_url[512];  /* scheme://host[:port][/prefix]/api/PROJECT/envelope/ */
    char dsn[600];           /* the DSN as given, for the envelope header */
};
/* EASEL_EPARSE when dsn is not such a URL (no key, no project id, a
 * scheme other than http/https, a password part). */
easel_err easel_sentry_dsn_parse(const char *dsn, struct easel_sentry_dsn *out);

/* Reads SENTRY_DSN (nothing happens without it), SENTRY_ENVIRONMENT and
 * SENTRY_RELEASE (default easel@VERSION), and starts the sender thread.
 * Error-level log lines become "internal error" events from then on (at
 * most a few a minute). */
void easel_sentry_init(const char *mode);
/* Sends what is queued within wait_ms, then stops the thread. */
void easel_sentry_shutdown(int64_t wait_ms);
bool easel_sentry_enabled(void);

/* A job reached `dead`: called once, by whoever committed that transition
 * (pkg/worker/failure.c, the claimer for a job born dead). Strings are
 * copied; message is scrubbed of URL credentials and cut. */
void easel_sentry_job_dead(const char *job_id, const char *model, const char *reason,
                           const char *error_class, const char *message);
/* An internal error (job_id may be NULL); limited to a burst of 10, then
 * one every 6 s. */
void easel_sentry_internal(const char *job_id, const char *message);

struct easel_sentry_stats {
    uint64_t sent, dropped, rate_limited;
};
void easel_sentry_stats(struct easel_sentry_stats *out);

/* The envelope for one event (for the sender and the unit tests): header
 * line, item header, payload. tags are key, value pairs, NULL-terminated;
 * fingerprint (NULL-terminated, or NULL for Sentry's default grouping)
 * groups events: dead jobs by model and reason, not by message. */
easel_err easel_sentry_envelope(const struct easel_sentry_dsn *d, const char *level,
                                const char *message, const char *const *tags,
                                const char *const *fingerprint,
                                const char *environment, const char *release,
                                struct easel_buf *out);

#endif
