/*
 * controller.h - `easel controller`: claims jobs from Redis, records them in
 * Postgres, dispatches each attempt to an executor, and reconciles how it
 * ended into exactly one outcome: ack, retry later, or dead letter.
 *
 * Threads: a claimer (blocks in Redis for new entries, turns them into jobs)
 * and the main loop (dispatch, completions, lease renewal, recovery, delayed
 * retries, registry reloads, cancellations). Each has its own connections.
 */
#ifndef EASEL_CONTROLLER_H
#define EASEL_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/api.h"
#include "easel/extmetrics.h"
#include "easel/core.h"
#include "easel/executor.h"
#include "easel/webhook.h"

/* A controller id's room, with its NUL: it owns leases in Redis and is
 * written into Job annotations, so it is refused rather than cut. */
#define EASEL_CONTROLLER_ID_MAX 96

struct easel_controller_opts {
    const char *redis_url;
    const char *database_url;
    const char *queue;            /* pending list key */
    const char *registry_path;    /* NULL/"" = built-in registry */
    /* Where the exact text of each registry the controller accepts is
     * written (atomically) for its workers to read, so that an invalid edit
     * of registry_path never reaches a job. NULL = workers read
     * registry_path themselves. */
    const char *registry_snapshot;
    /* The registry from a ConfigMap ("namespace/name" or "name", key
     * models.yaml) instead of a file: watched, every change validated, a
     * valid one applied, an invalid one rejected; Events on the ConfigMap
     * (RegistryApplied / RegistryRejected) from the leader. Needs kube. */
    const char *registry_configmap;
    const struct easel_kube_config *kube;
    /* Writes the registry Events without ever making the loop wait (the
     * kubernetes executor's writer, shared). Borrowed; NULL with
     * registry_configmap set: the controller makes its own. */
    struct easel_kube_recorder *recorder;
    /* Leader election: only the leader recovers orphaned leases, promotes
     * delayed retries and writes registry Events. NULL = this replica does
     * all of it (a single controller). Borrowed. */
    struct easel_leader *leader;
    /* NULL = <host>-<pid>-<random>; longer than EASEL_CONTROLLER_ID_MAX - 1
     * bytes is refused (EASEL_ELIMIT), never shortened */
    const char *controller_id;
    int concurrency;              /* attempts held at once (global) */
    size_t claim_batch;           /* entries claimed per round trip */
    int64_t lease_ms;             /* job lease; renewed every lease/3 */
    int64_t worker_stale_ms;      /* a running job whose heartbeat is older is lost */
    int64_t shutdown_grace_ms;    /* wait this long for running attempts on SIGTERM */
    bool migrate;                 /* apply migrations at start */
    struct easel_executor *executor; /* borrowed; the controller drives it */
    /* The HTTP API (addr, tokens, limits; the connection settings, the
     * hooks and the controller id are filled in by the controller). NULL
     * or an empty addr: no API. */
    const struct easel_api_opts *api;
    /* The webhook sender (pkg/webhook), started after the migrations and
     * stopped last. NULL: this controller sends no webhooks (deliveries
     * wait in the outbox for a controller that does). */
    const struct easel_webhook_opts *webhooks;
    /* The external metrics API for the HPA (addr, certificates; the queues
     * and connection settings are filled in by the controller). NULL or an
     * empty addr: none. */
    const struct easel_extmetrics_opts *extmetrics;
    /* The app's database, where a registry's credits (mode external) run:
     * the claimer reserves there, a sender thread sends consume and refund
     * calls, and the registry's statements are checked against it when it
     * loads. NULL or "": none (a registry with external credits is then
     * refused). */
    const char *app_database_url;
};

/* Runs until easel_controller_request_stop() (SIGTERM/SIGINT). Returns
 * EASEL_OK after a clean shutdown, or the error that made it impossible to
 * start (bad registry, database unreachable at start, ...), with err set. */
easel_err easel_controller_run(const struct easel_controller_opts *o,
                               struct easel_error *err);

/* Async-signal-safe: asks a running controller to stop claiming and shut
 * down gracefully. */
void easel_controller_request_stop(void);

#endif
