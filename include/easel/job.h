/*
 * job.h - the job record every module agrees on: lifecycle states, the
 * transitions allowed between them, the retry arithmetic and the exit codes
 * of `easel job`.
 *
 * The record itself lives in Postgres (pkg/store); this header only defines
 * the in-memory shape and the rules, so that the store, the controller and
 * job mode cannot disagree about what "retrying" means.
 */
#ifndef EASEL_JOB_H
#define EASEL_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

/* queued -> dispatched -> running -> succeeded | failed | dead | canceled,
 * and retrying while waiting for a backoff delay. */
#define EASEL_STATUS_MAP(X)                                                   \
    X(QUEUED, "queued")                                                       \
    X(DISPATCHED, "dispatched")                                               \
    X(RUNNING, "running")                                                     \
    X(RETRYING, "retrying")                                                   \
    X(SUCCEEDED, "succeeded")                                                 \
    X(FAILED, "failed")                                                       \
    X(DEAD, "dead")                                                           \
    X(CANCELED, "canceled")

enum easel_status {
#define EASEL_STATUS_ENUM(n, s) EASEL_STATUS_##n,
    EASEL_STATUS_MAP(EASEL_STATUS_ENUM)
#undef EASEL_STATUS_ENUM
    EASEL_STATUS_COUNT
};

#define EASEL_STATUS_BIT(s) (1u << (s))
#define EASEL_TERMINAL_MASK                                                   \
    (EASEL_STATUS_BIT(EASEL_STATUS_SUCCEEDED) |                               \
     EASEL_STATUS_BIT(EASEL_STATUS_FAILED) |                                  \
     EASEL_STATUS_BIT(EASEL_STATUS_DEAD) |                                    \
     EASEL_STATUS_BIT(EASEL_STATUS_CANCELED))

const char *easel_status_name(enum easel_status s);
easel_err easel_status_parse(const char *s, enum easel_status *out);
bool easel_status_terminal(enum easel_status s);
/* The set of states a job may be in for a move to `to` to be legal (the
 * "from" mask a store transition checks). */
unsigned easel_status_allowed_from(enum easel_status to);

/* Exit codes of `easel job`, documented in docs/jobs.md. The local executor
 * and the kubernetes executor read them the same way. */
enum easel_exit {
    EASEL_EXIT_OK = 0,         /* the job succeeded */
    EASEL_EXIT_INTERNAL = 1,   /* unexpected crash: treated as retryable */
    EASEL_EXIT_USAGE = 2,      /* bad flags: nothing was done */
    EASEL_EXIT_PERMANENT = 10, /* failed for good, recorded in the store */
    EASEL_EXIT_RETRYABLE = 11, /* failed, may succeed later, recorded */
    EASEL_EXIT_CANCELED = 12,  /* canceled while running */
    EASEL_EXIT_NOT_RUNNABLE = 13, /* not found or not in a runnable state */
    EASEL_EXIT_UNAVAILABLE = 14,  /* could not reach the store: nothing recorded */
    EASEL_EXIT_TERMINATED = 15,   /* stopped by SIGTERM: nothing recorded; whoever
                                   * sent it (timeout, cancel) records why */
};

struct easel_retry_policy {
    int max_attempts;     /* total attempts, >= 1 */
    int64_t initial_ms;   /* first backoff ceiling */
    double factor;        /* growth per attempt, >= 1 */
    int64_t max_ms;       /* cap on the ceiling */
};

/* The policy of a model whose registry entry sets none, or that is not in
 * the registry: 3 attempts, 1 s doubling up to 60 s. */
void easel_retry_policy_default(struct easel_retry_policy *p);

/* Full-jitter backoff before attempt `attempt`+1, given that `attempt`
 * attempts (>= 1) have failed: uniform in [0, min(max, initial*factor^(a-1))]. */
int64_t easel_backoff_ms(const struct easel_retry_policy *p, int attempt);
/* The ceiling used above, without the jitter (for docs and tests). */
int64_t easel_backoff_ceiling_ms(const struct easel_retry_policy *p,
                                 int attempt);

/* One output file of a finished job. */
struct easel_output {
    char *variant;   /* "normal", "hq", "thumb" */
    char *url;       /* where it was stored: file:///..., s3://... */
    char *format;    /* "jpeg", "webp", "png" */
    int width, height;
    int64_t bytes;
};

/* A job as read from the store. Strings are owned by the struct; free it with
 * easel_job_free(). JSON-valued columns are kept as JSON text. */
struct easel_job {
    char id[EASEL_UUID_LEN + 1];
    char *type;
    char *model;          /* model that was asked for */
    char *result_model;   /* model that produced the result (after failover) */
    enum easel_status status;
    int priority;
    char *idempotency_key;
    char *payload;        /* JSON: the producer's object as pushed */
    char *input;          /* JSON: fields mapped from the payload */
    char *metadata;       /* JSON or NULL */
    char *webhook;
    char *channel;        /* "b2b" / "b2c" / NULL */
    char *owner;          /* store_id or user_id, by channel */
    int attempts;         /* attempts started so far */
    int max_attempts;
    char *error_class;    /* "retryable" / "permanent" / NULL */
    char *error_reason;   /* short word, e.g. "unknown_model" */
    char *error_message;
    char *result;         /* JSON: {"outputs":[...], ...} or NULL */
    char *worker;         /* who runs it now: "local:<pid>@<host>" */
    int64_t created_ms, updated_ms, dispatched_ms, started_ms, finished_ms;
    int64_t heartbeat_ms; /* last sign of life from the worker, 0 if none */
    int64_t run_after_ms; /* when a retrying job may run again, 0 if none */
    char *stage;          /* the running attempt's stage (fetching, model, ...), or NULL */
    double percent;       /* its progress 0..100, or -1 when unknown */
    /* which events go to `webhook`: EASEL_WEBHOOK_EV_BIT()s; 0 when the
     * job names none, which means the default, completed only */
    unsigned webhook_events;
    /* credits (docs/credits.md): what the job costs its owner, its
     * reservation number (0: holds none), and whether the app keeps its
     * credits (registry credits.mode: external) */
    int cost;
    int credit_budget;
    bool credit_external;
};

void easel_job_free(struct easel_job *j);

/* The events a job's webhook may ask for (webhook_events_filter): the first
 * time an attempt starts running, each progress event, each output stored,
 * and the terminal status. Their names are stored in jobs.webhook_events_filter
 * and read by the outbox trigger (pkg/store/migrations.c), so never rename. */
#define EASEL_WEBHOOK_EVENT_MAP(X)                                            \
    X(START, "start")                                                         \
    X(PROGRESS, "progress")                                                   \
    X(OUTPUT, "output")                                                       \
    X(COMPLETED, "completed")

enum easel_webhook_event {
#define EASEL_WEBHOOK_EV_ENUM(n, s) EASEL_WEBHOOK_EV_##n,
    EASEL_WEBHOOK_EVENT_MAP(EASEL_WEBHOOK_EV_ENUM)
#undef EASEL_WEBHOOK_EV_ENUM
    EASEL_WEBHOOK_EV_COUNT
};
#define EASEL_WEBHOOK_EV_BIT(e) (1u << (e))
/* The filter of a job that names none. */
#define EASEL_WEBHOOK_EV_DEFAULT EASEL_WEBHOOK_EV_BIT(EASEL_WEBHOOK_EV_COMPLETED)

const char *easel_webhook_event_name(enum easel_webhook_event e);
/* Adds the event named s to *mask; EASEL_EINVAL for a name that is none of
 * start, progress, output, completed (*mask unchanged). */
easel_err easel_webhook_event_add(const char *s, unsigned *mask);
/* "start,completed": the names in mask, comma-separated, in the order
 * above, into dst (cut visibly when short). "" for 0. */
void easel_webhook_events_csv(unsigned mask, char *dst, size_t len);
/* The reverse: a comma-separated list; EASEL_EINVAL at an unknown name. */
easel_err easel_webhook_events_parse_csv(const char *csv, unsigned *mask);

#endif
