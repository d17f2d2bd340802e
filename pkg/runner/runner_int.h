/*
 * runner_int.h - what the files of pkg/runner share and nobody else needs:
 * the context of one attempt (struct attempt), passed through its stages,
 * and the stage functions themselves.
 *
 * An attempt runs in this order, one stage per file:
 *
 *   attempt.c    load the job, mark it running, start the heartbeat, run
 *                the stages below, record the outcome
 *   heartbeat.c  the thread that beats into the job row meanwhile
 *   fetch.c      the job's input read, its sources fetched and loaded
 *   model.c      the attempt's model from the failover chain, run (with
 *                in-attempt failover and the failover model's gates), or
 *                the local stand-in
 *   provider.c   one call of a remote model behind its circuit breaker
 *   quality.c    the output's checks (declared in easel/runner.h)
 *   store.c      the preset's variants made and written to the sink;
 *                removed again when that fails half way
 *   record.c     the result document, the final transition, the
 *                termination-log summary
 *
 * Nothing here is static and mutable: everything an attempt changes lives
 * in its struct attempt, so two attempts could run side by side. The stop
 * flag belongs to the caller (cmd/ sets it from a signal handler).
 *
 * Naming: functions shared between files here are prefixed runner_; the
 * public ones in include/easel/runner.h are prefixed easel_.
 */
#ifndef EASEL_RUNNER_INT_H
#define EASEL_RUNNER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "easel/core.h"
#include "easel/providers.h"
#include "easel/queue.h"
#include "easel/registry.h"
#include "easel/runner.h"
#include "easel/store.h"
#include "easel/trace.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

/* ---------------------------------------------------------- heartbeat.c */

struct runner_heartbeat {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, started;
    const char *url;
    const char *job_id;
    int64_t every_ms;
};

/* Starts beating job_id's heartbeat into the database at url every
 * every_ms (5 s when <= 0), from a thread with its own connection that
 * takes neither SIGTERM nor SIGINT. url and job_id must outlive the thread. A
 * thread that cannot be created leaves the attempt without a heartbeat
 * (the controller will then think the worker lost). */
void runner_heartbeat_start(struct runner_heartbeat *h, const char *url, const char *job_id,
                            int64_t every_ms);
/* Stops and joins the thread; safe after a failed start. */
void runner_heartbeat_stop(struct runner_heartbeat *h);

/* ------------------------------------------------------ the attempt */

struct attempt {
    const struct easel_runner_opts *o;
    const char *job_id;
    /* Non-zero once the worker is asked to stop (SIGTERM: a timeout, a
     * cancel, a pod going away). Never NULL: o->stop, or `never`. */
    const volatile sig_atomic_t *stop;
    volatile sig_atomic_t never;
    int64_t started_ms;              /* easel_now_ms() when the attempt began */
    struct easel_store *store;
    struct easel_registry *reg;
    struct easel_job *job;
    bool job_borrowed;               /* job is o->job, not ours to free */
    struct runner_heartbeat hb;
    bool hb_on;
    struct easel_span *span;         /* the attempt's span (NULL: not traced) */
    /* Redis for the circuit breakers and the model gates, opened on first
     * use (limits_tried), NULL without Redis: both then fail open. */
    struct easel_queue *limits_q;
    bool limits_tried;
    /* progress.c: what the stream was told, and its budget */
    const char *stage;               /* the last stage reported (static) */
    double percent;                  /* the last known percent of the job */
    double tokens;                   /* events the budget allows now */
    int64_t tokens_ms;               /* when it was last refilled (mono) */
    char prov_status[32];            /* the provider's status last written */
    double prov_percent;             /* and its percent (-1: none) */
    size_t logs_off;                 /* bytes of the provider's logs sent */
    bool logs_turn;                  /* logs go before the status next time */
    cJSON *figures;                  /* figures.c: what the attempt measured */
    struct easel_error err;          /* why the attempt failed */
    int code;                        /* enum easel_exit */
    const char *final;               /* the job's state as the summary names it */
};

/* ---------------------------------------------------------- progress.c */

/* Records the attempt's stage (a static string: fetching, model,
 * checking, variants, storing) and percent (< 0: unknown) in the job and
 * its history. A new stage is always written; the same stage again only
 * with a new percent and within the attempt's event budget (two a
 * second), so a chatty provider
 * cannot flood Postgres. Progress is information: a failure to write it
 * is logged, never fatal. The same holds for the functions below. */
void runner_progress(struct attempt *a, const char *stage, double percent,
                     const char *message);
/* Forgets what the previous provider call reported; call before each. */
void runner_call_begin(struct attempt *a);
/* The provider call's progress callback (ud: the attempt): the model
 * stage with the provider's status, id and percent as a "progress" event,
 * its new log lines as a "logs" event, both within the budget. */
void runner_call_progress(void *ud, const struct easel_call_progress *p);
/* Records an "output" event with data (taken): one stored variant. */
void runner_output_event(struct attempt *a, cJSON *data);

/* ---------------------------------------------------------- figures.c */

/* The attempt's figures for /metrics (see figures.c); each adds to
 * a->figures and never fails the attempt. */
void runner_fig_image(struct attempt *a, int64_t ms, bool ok); /* decode, resize, encode */
void runner_fig_source(struct attempt *a, int64_t bytes);
/* ratio: source bytes over all variants' bytes; sizes {variant: bytes} */
void runner_fig_output(struct attempt *a, double ratio, const cJSON *sizes);
/* err: NULL when the call succeeded */
void runner_fig_call(struct attempt *a, const struct easel_model *m, int64_t ms,
                     const struct easel_error *err);
void runner_fig_failover(struct attempt *a, const char *from, const char *to);
void runner_fig_generation(struct attempt *a, bool ok);
/* Writes the figures as an "attempt" row of the metric outbox (best
 * effort) and frees them. */
void runner_fig_flush(struct attempt *a);

/* ---------------------------------------------------------- fetch.c */

/* The job's input and its sources, as the model stages take them. */
struct runner_sources {
    cJSON *input;                    /* the job's input document, owned */
    cJSON *fields;                   /* its "fields" (inside input), or NULL */
    const cJSON *urls[2];            /* source URL strings (inside input) */
    struct easel_image *img[2];      /* loaded sources, owned */
    int64_t bytes[2];                /* their size as fetched */
    size_t n;                        /* 1, or 2 with an inset */
};

/* Reads the job's input into *src (a retry after a failed output check
 * gets a new seed) and fetches and loads its one or two sources under the
 * limits. On failure a->err says why; *src holds what was done so far
 * and runner_sources_cleanup frees it either way. */
easel_err runner_sources_fetch(struct attempt *a, struct runner_sources *src);
void runner_sources_cleanup(struct runner_sources *src);

/* ---------------------------------------------------------- model.c */

/* What the model made. */
struct runner_output {
    const struct easel_model *model; /* the model that made it */
    struct easel_image *img;         /* owned */
    cJSON *provider;                 /* provider call details, owned; NULL for local */
    uint64_t phash;                  /* set by the checks */
};

/* The registry's model for the job, or NULL with a->err set
 * (unknown_model). */
const struct easel_model *runner_job_model(struct attempt *a);
/* Runs the attempt's model of the failover chain (`m` is the job's own
 * model) on src and fills *out; a model that cannot be used at all fails
 * over to the chain's next at once. On failure a->err says why and *out
 * holds nothing that needs freeing beyond runner_output_cleanup. */
easel_err runner_model_run(struct attempt *a, const struct easel_model *m,
                           struct runner_sources *src, struct runner_output *out);
void runner_output_cleanup(struct runner_output *out);

/* The deadline (easel_now_ms clock) for calling model m in this attempt. */
int64_t runner_call_deadline(const struct attempt *a, const struct easel_model *m);

/* ---------------------------------------------------------- provider.c */

/* The Redis handle shared by the breakers and the gates, or NULL (fail
 * open). Opened at most once per attempt. */
struct easel_queue *runner_limits(struct attempt *a);
/* Calls remote model m on the sources unless its endpoint's breaker is
 * open, tells the breaker how it went, and loads the output into
 * out->img (out->provider gets the call's details). On failure a->err
 * says why (reason "breaker_open" when the breaker refused) and out is
 * unchanged. */
easel_err runner_provider_call(struct attempt *a, const struct easel_model *m,
                               const struct runner_sources *src, struct runner_output *out);

/* ---------------------------------------------------------- store.c */

/* Makes the variants of out->img that the model's output preset asks for
 * and writes them to the sink; fills *res with a new object holding
 * "outputs" and "image_metrics", and *preset with the preset's name (owned
 * by the registry). On failure a->err says why, *res is NULL, and the
 * variants already stored have been removed again (best effort). */
easel_err runner_store_variants(struct attempt *a, const struct runner_sources *src,
                                const struct runner_output *out, cJSON **res,
                                const char **preset);

/* ------------------------------------------------------------ body.c */

/* An estimate-body job's whole work (a model with provider: pose): photo,
 * pose, measurements, a size, the photo stored only when fields.store_image
 * is true. On success *result is the result document (caller frees). */
easel_err runner_body_run(struct attempt *a, const struct easel_model *m, int64_t t0,
                          char **result, const char **used);

/* ---------------------------------------------------------- record.c */

/* Completes res (model, preset, hash, source, provider details, duration
 * since t0) and prints it into *text (the caller frees it). Takes
 * out->provider; res stays the caller's. EASEL_ENOMEM leaves *text NULL. */
easel_err runner_result(cJSON *res, const char *preset, const struct runner_sources *src,
                        struct runner_output *out, int64_t t0, char **text);
/* Records the attempt as SUCCEEDED with `result` made by `model`; a job
 * canceled meanwhile keeps its state and the result is dropped. Sets
 * a->code and a->final. */
void runner_record_success(struct attempt *a, const char *result, const char *model);
/* Records the failure in a->err (classified) through the failure plan,
 * unless the worker was asked to stop: then whoever stopped it records
 * why. Sets a->code and a->final. */
void runner_record_failure(struct attempt *a, easel_err rc);
/* Writes the one-line JSON summary to o->termination_log, if set. */
void runner_write_termination(const struct attempt *a);

#endif
