/*
 * pool.h - `easel worker`: the warm pool. A long-running process claims
 * the jobs of `executor: pool` models from Q:pool (queue.h) with the same
 * leases as a controller, records them with the same transitions
 * (DISPATCHED -> RUNNING -> terminal), holds the same model gates
 * (concurrency, rate limit; the breakers live in the runner) and follows
 * the same failure plan (worker.h), then runs the attempt in-process with
 * the runner, --concurrency attempts at a time, back to back.
 *
 * Stopping: easel_pool_request_stop() (SIGTERM) stops claiming at once;
 * running attempts get until the drain timeout to finish; one still
 * running then is stopped (its provider call canceled) and recorded as
 * interrupted (retryable, reason "terminated"), so it is retried, never
 * lost. A worker that dies without stopping is recovered through its
 * leases by the controller (docs/worker.md).
 */
#ifndef EASEL_POOL_H
#define EASEL_POOL_H

#include <stdint.h>

#include "easel/core.h"
#include "easel/runner.h"

struct easel_pool_opts {
    const char *redis_url;
    const char *database_url;
    const char *queue;
    const char *registry_path;    /* NULL or "" = the built-in registry; re-read when it changes */
    const char *worker_id;        /* lease owner; NULL = pool-<host>-<pid>-<random> */
    int concurrency;              /* attempts at once, >= 1 */
    int64_t lease_ms;             /* as the controller's --lease */
    int64_t drain_timeout_ms;     /* on stop, how long running attempts may go on */
    /* "HOST:PORT" of the /healthz and /readyz listener; NULL or "" = none */
    const char *health_addr;
    /* what each attempt gets: storage, heartbeat interval, fetch options,
     * image limits, redis_url and queue for the breakers. database_url,
     * registry, store, worker, attempt and stop are set per attempt. */
    struct easel_runner_opts run;
};

/* Runs until easel_pool_request_stop() and the drain that follows.
 * EASEL_OK after a clean stop; the error that made starting impossible
 * (bad options, registry, Redis or Postgres unreachable at start, the
 * health port taken) otherwise, with err saying why. */
easel_err easel_pool_run(const struct easel_pool_opts *o, struct easel_error *err);

/* Async-signal-safe: stop claiming and drain. */
void easel_pool_request_stop(void);

/* pkg/pool/health.c: the probe listener. Serves GET /healthz (200 while
 * the worker's loop is alive) and GET /readyz (200 while it claims: Redis,
 * Postgres and the registry are there and it is not draining; 503
 * otherwise) on addr, one request per connection, from its own thread.
 * The state is read through the callbacks. */
struct easel_pool_health;
struct easel_pool_probe {
    bool (*alive)(void *ud);
    bool (*ready)(void *ud, const char **why);
    void *ud;
};
easel_err easel_pool_health_start(const char *addr, const struct easel_pool_probe *p,
                                  struct easel_pool_health **out, struct easel_error *err);
void easel_pool_health_stop(struct easel_pool_health *h); /* NULL-safe; joins */

#endif
