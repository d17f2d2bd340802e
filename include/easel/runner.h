/*
 * runner.h - job mode: run exactly one attempt of one job, as `easel job
 * --id ID` does in a child process or a worker pod. What a failure does to
 * the job, which job mode shares with the controller, is in worker.h.
 *
 * An attempt loads the job from Postgres, marks it running (checking it was
 * dispatched, so a stale or duplicate worker does nothing), fetches its
 * sources, runs the model, writes the output preset's variants to storage,
 * and records the result or the classified error. It beats a heartbeat into
 * the job row while it works, so a controller can tell a live worker from a
 * lost one.
 */
#ifndef EASEL_RUNNER_H
#define EASEL_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "easel/core.h"
#include "easel/imaging.h"
#include "easel/job.h"
#include "easel/registry.h"
#include "easel/storage.h"
#include "easel/store.h"
#include "easel/worker.h" /* the failure plan job mode shares with the controller */

struct easel_pose_service;

struct easel_runner_opts {
    const char *database_url;
    const char *registry_path;    /* NULL or "" = the built-in registry */
    const char *registry_text;    /* the document itself; wins over the path */
    const char *storage_url;      /* "file:///dir" */
    const char *termination_log;  /* file for the one-line JSON summary, or NULL */
    const char *worker;           /* how this worker names itself in the record */
    int attempt;                  /* expected attempt number, 0 = any */
    int64_t heartbeat_ms;
    const char *redis_url;        /* where the shared circuit breakers live; NULL = none */
    const char *queue;            /* their key prefix (the queue's name) */
    struct easel_fetch_opts fetch;
    struct easel_image_limits limits;
    /* provider: pose models (estimate-body jobs): the models folder and
     * the landmark model; NULL or "" = such jobs fail pose_model_unavailable */
    const char *pose_models;
    const char *pose_model;
    /* loaded once by a caller that runs attempts back to back (`easel
     * worker`), borrowed; NULL = each attempt loads the models */
    struct easel_pose_service *pose_service;
    /* Set non-zero (from a signal handler, say) to stop the attempt: a
     * provider call in flight is canceled at the provider, nothing more is
     * stored, and the record is left to whoever asked for the stop. NULL =
     * never stopped. The caller owns the flag. */
    const volatile sig_atomic_t *stop;
    /* For a caller that runs attempts back to back (`easel worker`): a
     * connection to use instead of opening one (borrowed; it must not be
     * used by another thread meanwhile), the registry to run under instead
     * of loading one (borrowed; the caller holds a reference), and no
     * heartbeat thread when the caller beats for its running attempts
     * itself. NULL / false: job mode's behaviour. */
    struct easel_store *store;
    struct easel_registry *registry;
    bool caller_heartbeat;
    /* The job's row as the caller's dispatch just returned it (borrowed),
     * instead of reading it again; it is checked like a read one. */
    const struct easel_job *job;
    /* the dispatch span's W3C context (TRACEPARENT), parent of the
     * attempt's span; NULL: the job's stored context */
    const char *traceparent;
};

/* Runs one attempt of job_id. Returns an enum easel_exit value. Never
 * exits the process, and installs no signal handlers: the caller turns
 * SIGTERM into o->stop and keeps SIGPIPE from killing the process (a
 * controller that goes away must not take the worker with it). It keeps
 * no state between calls. */
int easel_runner_run(const struct easel_runner_opts *o, const char *job_id);

/* The model's output checks (registry `checks`, quality.c): size, aspect
 * (against `in`, the first source, when asked), blank, unchanged from the
 * input, the same image a failed attempt returned (its hash is read from
 * prev_error, the job's last error message). *out_hash gets the output's
 * perceptual hash. A failure is retryable, reason "quality_<check>", and
 * its message names the hash. */
easel_err easel_quality_check(const struct easel_model *m, const struct easel_image *in,
                              const struct easel_image *out, const char *prev_error,
                              uint64_t *out_hash, struct easel_error *err);
/* Gives a retry a new seed: fields.seed becomes a stable function of the
 * old seed (or the job id) and the attempt. False when nothing changed. */
bool easel_quality_reseed(cJSON *fields, const char *job_id, int attempt);

#endif
