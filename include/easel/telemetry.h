/*
 * telemetry.h - Prometheus text exposition (format 0.0.4), written by hand
 * so every figure easel exposes goes through one escaping rule.
 *
 * A family is a # HELP and # TYPE pair followed by its samples; labels are
 * given as a NULL-terminated list of name, value pairs.
 */
#ifndef EASEL_TELEMETRY_H
#define EASEL_TELEMETRY_H

#include "easel/core.h"

struct easel_queue;

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
easel_err easel_prom_family(struct easel_buf *b, const char *name, const char *type,
                            const char *help);
/* One sample line: name{l1="v1",...} value. Label values are escaped
 * (backslash, double quote, newline); a non-finite value is written as
 * +Inf, -Inf or NaN. */
easel_err easel_prom_sample(struct easel_buf *b, const char *name,
                            const char *const *labels, double value);

/* The circuit breakers held in Redis for the queue, as the families
 * easel_circuit_breaker_state (one series per state, 1 for the current
 * one), easel_circuit_breaker_consecutive_failures,
 * easel_circuit_breaker_retry_in_seconds and
 * easel_circuit_breaker_opens_total. */
easel_err easel_prom_breakers(struct easel_queue *q, struct easel_buf *b);

/* ------------------------------------------------------------ metrics */

/*
 * The process's metrics: one table of families (EASEL_METRICS_MAP), each a
 * counter, gauge or histogram with fixed label names. Every function below
 * is thread-safe and never fails in a way the caller must handle: a value
 * that cannot be kept (out of memory, a family past EASEL_METRIC_MAX_SERIES
 * label sets) is dropped and counted in easel_metrics_dropped_total.
 *
 * X(ID, name, type, label names ("a,b" or ""), buckets, help)
 */
#define EASEL_METRICS_MAP(X)                                                            \
    X(JOB_DURATION, "easel_job_duration_seconds", HISTOGRAM, "model,status", B_JOB,       \
      "Seconds from a job's creation to its final status, by model and final status")      \
    X(ATTEMPTS, "easel_job_attempts_total", COUNTER, "model", NONE,                         \
      "Attempts dispatched, by model")                                                    \
    X(RETRIES, "easel_job_retries_total", COUNTER, "model,reason", NONE,                    \
      "Failed attempts that will be retried, by model and reason")                        \
    X(PROVIDER_DURATION, "easel_provider_request_duration_seconds", HISTOGRAM,               \
      "provider,model,outcome", B_CALL,                                                    \
      "Seconds one provider call took, polls included, by outcome (ok or the reason)") \
    X(PROVIDER_ERRORS, "easel_provider_errors_total", COUNTER, "provider,class,reason", NONE, \
      "Failed provider calls, by provider, error class and reason")                       \
    X(FAILOVERS, "easel_failovers_total", COUNTER, "from,to", NONE,                         \
      "Times an attempt moved from a model to the next of its failover chain")            \
    X(REJECTED, "easel_queue_rejected_total", COUNTER, "reason", NONE,                      \
      "Queue entries that never became jobs (not JSON, no usable fields), dead-lettered")  \
    X(GATE_WAITS, "easel_model_gate_waits_total", COUNTER, "model,gate", NONE,              \
      "Times a runnable job waited for its model's concurrency or rate limit")            \
    X(WEBHOOKS, "easel_webhook_deliveries_total", COUNTER, "result", NONE,                  \
      "Webhook delivery tries, by result (delivered, retry, failed, gone)")               \
    X(KUBE_REQUESTS, "easel_kube_requests_total", COUNTER, "verb,code", NONE,               \
      "Kubernetes API requests, by verb and HTTP status (0: no answer)")                  \
    X(LEADER, "easel_leader", GAUGE, "", NONE,                                            \
      "1 while this replica holds the leader Lease (always 1 without election)")          \
    X(REGISTRY_RELOADS, "easel_registry_reloads_total", COUNTER, "result", NONE,            \
      "Registry loads, by result (applied or rejected)")                                  \
    X(REGISTRY_GENERATION, "easel_registry_generation", GAUGE, "", NONE,                  \
      "Generation of the registry in force: 1 at start, +1 per applied change")           \
    X(REGISTRY_VALID, "easel_registry_last_reload_success", GAUGE, "", NONE,              \
      "1 when the last registry change was applied, 0 when it was rejected")              \
    X(SLOTS_USED, "easel_controller_slots_used", GAUGE, "", NONE,                         \
      "Attempts this replica runs or is about to run")                                    \
    X(CONCURRENCY, "easel_controller_concurrency", GAUGE, "", NONE,                       \
      "Attempts this replica may run at once")                                            \
    X(IMAGE_DURATION, "image_processing_duration_seconds", HISTOGRAM, "tool,success", B_IMG, \
      "Seconds of image work (decode, resize, encode), failures included")                \
    X(IMAGE_RATIO, "image_compression_ratio", HISTOGRAM, "tool", B_RATIO,                 \
      "Source bytes over the bytes of all its stored variants")                           \
    X(IMAGE_ORIGINAL, "image_original_size_bytes", HISTOGRAM, "tool", B_BYTES,            \
      "Bytes of a source image as fetched")                                               \
    X(IMAGE_COMPRESSED, "image_compressed_size_bytes", HISTOGRAM, "tool,variant", B_BYTES, \
      "Bytes of one stored variant")                                                      \
    X(GEN_SUCCESS, "generation_success", GAUGE, "", NONE,                                 \
      "Model generations that produced an image (monotonic; seed dashboards' name)")      \
    X(GEN_FAILURE, "generation_failure", GAUGE, "", NONE,                                 \
      "Model generations that failed (monotonic; seed dashboards' name)")                 \
    X(DROPPED, "easel_metrics_dropped_total", COUNTER, "", NONE,                          \
      "Metric values dropped: a family past its label sets, or no memory")

enum easel_metric {
#define EASEL_METRIC_ENUM(id, name, type, labels, buckets, help) EASEL_M_##id,
    EASEL_METRICS_MAP(EASEL_METRIC_ENUM)
#undef EASEL_METRIC_ENUM
    EASEL_M_COUNT
};

#define EASEL_METRIC_MAX_LABELS 4
#define EASEL_METRIC_MAX_SERIES 1000

/* values: the label values in the family's order (NULL for a family with
 * none; a NULL value is written as ""). Counters only go up: a negative
 * add is ignored. */
void easel_metric_add(enum easel_metric m, const char *const *values, double v);
void easel_metric_set(enum easel_metric m, const char *const *values, double v);
void easel_metric_observe(enum easel_metric m, const char *const *values, double v);
/* The value of a counter or gauge series, or a histogram's count and sum;
 * false when the series has no value yet. */
bool easel_metric_read(enum easel_metric m, const char *const *values, double *value,
                       double *sum);
/* Sum and count over every series of a histogram whose label `label` is
 * `value` (NULL: all). */
void easel_metric_hist_total(enum easel_metric m, const char *label, const char *value,
                             double *sum, double *count);
/* The family's name, e.g. for tests and docs. */
const char *easel_metric_name(enum easel_metric m);

/* Appends every family of the table in the text format, in table order. */
easel_err easel_metrics_write(struct easel_buf *b);
/* Forgets every value (tests). */
void easel_metrics_reset(void);

/* Folds one row of the metric outbox (kind "status" or "attempt", see
 * docs/observability.md) into the families above. data is the row's JSON
 * object. Unknown or malformed fields are skipped. */
struct cJSON;
void easel_metrics_fold(const char *kind, const char *model, const struct cJSON *data);

/* The process's own families (process_*): resident memory, CPU seconds,
 * open descriptors, start time, from /proc/self. */
easel_err easel_prom_process(struct easel_buf *b);

#endif
