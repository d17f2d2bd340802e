/*
 * worker.h - the contract between a controller and the workers it starts,
 * whatever executor runs them: what a worker is given, how it names itself
 * in the job record, and what its failure does to the job.
 *
 * - Settings. A worker inherits every setting its controller's option
 *   table marks EASEL_OPT_WORKER, with the value the controller resolved
 *   (flag > environment > default). They are built once, here, from the
 *   table; the local executor puts them in the child's environment and the
 *   kubernetes executor in the Job's env (credentials, EASEL_OPT_SECRET,
 *   only as Secret references). A controller's flags therefore reach its
 *   workers exactly as its environment does.
 * - Identity. A running worker records itself as
 *   "<executor>:<name>@<where>": "local:<pid>@<host>",
 *   "kubernetes:<Job>@<namespace>". Only this file formats and parses it;
 *   the executor that started a worker answers whether it is gone and
 *   kills it (executor.h), so the controller never looks inside.
 * - Failure. The plan a failed attempt follows (retry with backoff, fail
 *   over, dead-letter, fail) and the one transition that records it, used
 *   alike by job mode (which knows why it failed) and by the controller
 *   (which knows when a worker vanished or ran out of time).
 *
 * Nothing here keeps state: every function is safe to call from any
 * thread on its own arguments.
 */
#ifndef EASEL_WORKER_H
#define EASEL_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "easel/config.h"
#include "easel/core.h"
#include "easel/job.h"

struct easel_registry;
struct easel_store;

/* ---------------------------------------------------------------- settings */

struct easel_worker_settings {
    struct easel_settings inherited; /* EASEL_OPT_WORKER rows, controller's values */
    const struct easel_cmd_spec *job; /* what a worker reads (borrowed, static) */
};

/* The settings a worker of `controller` gets, from cfg (the struct the
 * controller's table was parsed into). Each row marked EASEL_OPT_WORKER
 * must be one job mode reads, under the same variable and type: otherwise
 * EASEL_EINVAL with err naming it (a table that promises what a worker
 * ignores is a bug). EASEL_EINVAL too for a value the environment cannot
 * carry (easel_config_export). *out is cleared first. */
easel_err easel_worker_settings_build(const struct easel_cmd_spec *controller,
                                      const struct easel_cmd_spec *job, const void *cfg,
                                      struct easel_worker_settings *out,
                                      struct easel_error *err);
easel_err easel_worker_settings_copy(const struct easel_worker_settings *from,
                                     struct easel_worker_settings *to);
void easel_worker_settings_cleanup(struct easel_worker_settings *w);

/* The environment of a worker process: `base` (NAME=VALUE, NULL-terminated;
 * the controller's own environment) without any variable job mode reads,
 * so nothing reaches the worker by accident, then the inherited settings,
 * then `extra` (what the executor adds, e.g. the registry); an entry of
 * extra wins over an inherited one of the same name. NULL-terminated,
 * freed with easel_worker_environ_free; NULL when out of memory. */
char **easel_worker_environ(const struct easel_worker_settings *w, char *const *base,
                            const char *const *extra);
void easel_worker_environ_free(char **env);

/* ---------------------------------------------------------------- identity */

#define EASEL_WORKER_LOCAL "local"
#define EASEL_WORKER_KUBERNETES "kubernetes"

#define EASEL_WORKER_ID_MAX 210 /* with its NUL; fits every field below */

struct easel_worker_id {
    char executor[16];  /* "local", "kubernetes" */
    char name[96];      /* the process id, the Job's name */
    char where[96];     /* the host name, the namespace */
};

/* This host's name as local identities carry it ("localhost" when it
 * cannot be read). */
void easel_worker_host(char *dst, size_t len);
/* The calling process's identity as a local worker: "local:<pid>@<host>".
 * EASEL_ELIMIT when it does not fit dst. */
easel_err easel_worker_local_id(char *dst, size_t len);
/* "<executor>:<name>@<where>" into dst. EASEL_EINVAL when a part is empty
 * or holds a separator the parser would misread (':' in the executor, '@'
 * in where), EASEL_ELIMIT when it does not fit dst or a field of struct
 * easel_worker_id. */
easel_err easel_worker_id_format(const char *executor, const char *name, const char *where,
                                 char *dst, size_t len);
/* The worker recorded in a job row. EASEL_EINVAL for anything that is not
 * an identity: NULL, a dispatch mark ("local@host", recorded before the
 * worker named itself), a hand-written name. out is cleared first. */
easel_err easel_worker_id_parse(const char *s, struct easel_worker_id *out);
/* What the record holds between dispatch and the worker's start:
 * "<executor>@<host>". Not an identity (easel_worker_id_parse refuses it). */
void easel_worker_dispatch_mark(const char *executor, const char *host, char *dst,
                                size_t len);

/* ----------------------------------------------------------------- failure */

/* What a failed attempt leads to, from the registry's failover chain:
 * policy.max_attempts is the whole chain's, the backoff is that of the
 * model that ran (nth counts its attempts), and next_model is the model of
 * the next attempt (NULL when the chain is spent). */
struct easel_failure_plan {
    struct easel_retry_policy policy;
    int nth;
    const char *model;       /* the model that ran */
    const char *next_model;
};
/* The plan after `attempts` attempts of a job for model_id. An unknown
 * model (or no registry) gets the default policy. The plan points into r:
 * keep a reference on r while it is used. */
void easel_failure_plan(const struct easel_registry *r, const char *model_id, int attempts,
                        struct easel_failure_plan *p);

/* Records that an attempt of job `id` failed with `e`: a permanent error
 * moves the job to FAILED; a retryable one to RETRYING, at once when the
 * next attempt fails over to another model, else after the backoff (or
 * the server's Retry-After when longer); or to DEAD when `attempts` reached
 * the chain's total. `from_mask` is the set of states the job may be in.
 * On success *out (may be NULL) is the job after the change.
 * EASEL_ECONFLICT when the job was no longer in from_mask (e.g. canceled
 * meanwhile). */
easel_err easel_record_failure(struct easel_store *s, const char *id, unsigned from_mask,
                               const struct easel_failure_plan *plan, int attempts,
                               const struct easel_error *e, struct easel_job **out);

#endif
