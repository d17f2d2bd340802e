/*
 * executor.h - how the controller runs one attempt of a job somewhere else
 * and learns how it ended. Executors: "local" (child processes of the
 * controller running the same binary as `easel job`), "kubernetes" (a
 * batch/v1 Job per attempt), later "pool". What every worker is given and
 * how it names itself is the worker contract (worker.h); an executor
 * carries it out and is the one that reads a worker's name.
 *
 * An executor is driven from one thread (the controller's main loop): it is
 * not thread-safe. It never touches Redis or Postgres; it only starts, stops
 * and observes attempts, and reports how each ended.
 */
#ifndef EASEL_EXECUTOR_H
#define EASEL_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

struct easel_registry;
struct easel_job;

struct easel_exec_spec {
    const char *job_id;
    int attempt;
    const char *model;
    int64_t timeout_ms;     /* the attempt is stopped after this long */
    const struct easel_registry *registry; /* in force at dispatch (borrowed) */
    /* the dispatch span's W3C context, handed to the worker as TRACEPARENT
     * so its attempt joins the job's trace; NULL when tracing is off */
    const char *traceparent;
};

enum easel_exec_outcome {
    EASEL_EXEC_EXITED = 0,  /* ended by itself: see exit_code */
    EASEL_EXEC_SIGNALED,    /* killed by a signal it did not get from us */
    EASEL_EXEC_TIMEOUT,     /* we stopped it at its deadline */
    EASEL_EXEC_CANCELED,    /* we stopped it because the job was canceled */
    EASEL_EXEC_LOST,        /* could not be started or vanished */
};
const char *easel_exec_outcome_name(enum easel_exec_outcome o);

/* Is a worker provably gone? */
enum easel_gone {
    EASEL_GONE_UNKNOWN = 0, /* cannot tell (not this executor's, another host,
                             * still syncing): the heartbeat decides */
    EASEL_GONE_NO,          /* it is running */
    EASEL_GONE_YES,         /* it no longer runs */
};

struct easel_exec_done {
    char job_id[EASEL_UUID_LEN + 1];
    int attempt;
    enum easel_exec_outcome outcome;
    int exit_code;          /* EXITED: the process's exit status */
    int signal;             /* SIGNALED/TIMEOUT: the terminating signal */
    int64_t runtime_ms;
    enum easel_reason reason; /* when known: OOM_KILLED, EVICTED, ...; else NONE */
    char message[256];      /* for a person: "killed by SIGKILL", ... */
};

struct easel_executor;

struct easel_executor_ops {
    const char *name;
    /* Starts an attempt. Fails with a filled err when it cannot. */
    easel_err (*start)(struct easel_executor *ex,
                       const struct easel_exec_spec *spec,
                       struct easel_error *err);
    /* Asks a running attempt to stop (TERM, then KILL after the grace). It
     * is reported through reap() with outcome CANCELED. No-op if unknown. */
    easel_err (*cancel)(struct easel_executor *ex, const char *job_id);
    /* Enforces deadlines and collects attempts that ended, up to max. */
    easel_err (*reap)(struct easel_executor *ex, struct easel_exec_done *out,
                      size_t max, size_t *n);
    /* A file descriptor that becomes readable when reap() may have
     * something, or -1. */
    int (*fd)(struct easel_executor *ex);
    /* Milliseconds until the next deadline action (for poll), -1 = none. */
    int64_t (*next_timeout_ms)(struct easel_executor *ex);
    size_t (*running)(struct easel_executor *ex);
    bool (*has)(struct easel_executor *ex, const char *job_id);
    /* Forgets every attempt without stopping it (controller shutdown after
     * the grace period: they keep running and are re-attached later). */
    void (*detach_all)(struct easel_executor *ex);
    void (*free)(struct easel_executor *ex);
    /* Optional. An attempt found running after a restart: if this executor
     * can see it (a Job in the cluster), it takes it over and reports its
     * end through reap(). Returns 1 when adopted, 0 when it cannot tell yet
     * (still syncing), -1 when no such attempt exists. */
    int (*adopt)(struct easel_executor *ex, const char *job_id, int attempt);
    /* Optional (NULL = always UNKNOWN). Is the worker a job record names
     * (its `worker` field, an identity of worker.h) gone? For attempts
     * this executor does not track: recovered after a restart. */
    enum easel_gone (*gone)(struct easel_executor *ex, const char *worker);
    /* Optional. Stops at once the worker a job record names, when this
     * executor can reach it (its deadline passed, or the job was canceled,
     * while nobody tracked it). No-op otherwise. */
    void (*kill)(struct easel_executor *ex, const char *worker);
    /* Optional. The job's record after each change the controller makes
     * (dispatched, retrying, terminal), for executors that mirror status
     * elsewhere (annotations and Events on the Job). */
    void (*report)(struct easel_executor *ex, const struct easel_job *j);
};

struct easel_executor {
    const struct easel_executor_ops *ops;
};

struct easel_worker_settings;
struct easel_local_opts {
    const char *binary;        /* path of the easel binary; NULL = /proc/self/exe */
    /* what every child inherits (copied into its environment, which is
     * ours without any variable job mode reads), or NULL */
    const struct easel_worker_settings *worker;
    const char *const *env;    /* extra NAME=VALUE for children, NULL-terminated */
    int64_t kill_grace_ms;     /* between TERM and KILL */
};
easel_err easel_executor_local_new(const struct easel_local_opts *o,
                                   struct easel_executor **out);

/* The kubernetes executor: one batch/v1 Job per attempt, reconciled from
 * watches on Jobs and pods; see docs/kubernetes.md. */
struct easel_kube_config;
struct easel_kube_job_params;
struct easel_kube_recorder;
struct easel_kube_exec_opts {
    const struct easel_kube_config *cfg;
    /* namespace, image, secrets, storage, ttl, kueue... (copied; registry,
     * model, job id and attempt are filled per attempt) */
    const struct easel_kube_job_params *job;
    int64_t pending_grace_ms;   /* unschedulable / image pull, 0 = 5 min */
    /* writes Events and status annotations (borrowed; NULL: the executor
     * makes its own) */
    struct easel_kube_recorder *recorder;
};
easel_err easel_executor_kube_new(const struct easel_kube_exec_opts *o,
                                  struct easel_executor **out,
                                  struct easel_error *err);

/* Convenience wrappers. */
static inline void easel_executor_free(struct easel_executor *ex)
{
    if (ex)
        ex->ops->free(ex);
}

#endif
