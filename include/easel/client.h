/*
 * client.h - what the `easel` CLI does for a person, without a controller in
 * between: submit a job (push an envelope), read jobs as JSON, cancel and
 * retry. It talks to Redis and Postgres directly; the HTTP API reuses the
 * same JSON rendering.
 */
#ifndef EASEL_CLIENT_H
#define EASEL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "easel/core.h"
#include "easel/job.h"
#include "easel/queue.h"
#include "easel/store.h"

/* The JSON view of a job that `easel get -o json` prints: id, type, model,
 * result_model, status, attempts, max_attempts, error {class, reason,
 * message}, times (RFC 3339), payload, input, result {outputs:[...]}.
 * Returns a new object (cJSON_Delete). */
cJSON *easel_job_to_json(const struct easel_job *j);

struct easel_submit {
    const char *id;          /* NULL = a new UUID */
    const char *model;       /* NULL = the registry's default */
    const char *type;
    const char *input_json;  /* object merged into the payload, or NULL */
    const char *const *images; /* NULL-terminated URLs, or NULL */
    const char *idempotency_key;
    int priority;
};
/* Pushes an envelope {"id","model","type","priority","idempotency_key",
 * "payload":{...input, "images":[...]}} on the queue. id_out receives the
 * job id. Malformed input_json fails with EASEL_EPARSE and a sentence. */
easel_err easel_client_submit(struct easel_queue *q, const struct easel_submit *s,
                              char id_out[EASEL_UUID_LEN + 1],
                              struct easel_error *err);

/* Cancels a queued, waiting or running job: the record moves to CANCELED
 * (the controller running it stops the attempt when it hears) and a waiting
 * entry leaves the delayed set. EASEL_ECONFLICT if it already ended. */
easel_err easel_client_cancel(struct easel_store *s, struct easel_queue *q,
                              const char *id, struct easel_error *err);

/* Runs a FAILED or DEAD job again with a fresh attempt budget: the record
 * goes back to QUEUED, its dead letter is removed and it is pushed again. */
easel_err easel_client_retry(struct easel_store *s, struct easel_queue *q,
                             const char *id, struct easel_error *err);

#endif
