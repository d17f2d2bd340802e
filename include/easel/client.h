/*
 * client.h - what the `easel` CLI does for a person: submit a job, read
 * jobs, cancel, retry and read a job's history. Two ways to do it:
 *
 *  - directly on Redis and Postgres (easel_client_*), as an operator on the
 *    cluster's network does; the HTTP API reuses the same operations;
 *  - through a controller's HTTP API (easel_remote_*), as `easel --server
 *    URL` does, the way kubectl talks to an API server: then the CLI needs
 *    no database credentials, only a bearer token.
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
    /* Scheduled jobs, through the API only (easel_remote_submit): an RFC
     * 3339 time, or a delay in milliseconds when > 0. */
    const char *run_at;
    int64_t delay_ms;
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
/* The same, for a job whose credits the app may keep (registry
 * credits.mode: external): cc (NULL: none) says where its statements run,
 * and a new reservation is made there first (EASEL_ELIMIT when the app
 * refuses it; EASEL_EINVAL when the job needs cc and there is none). */
struct easel_credits_ctx;
easel_err easel_client_retry_credits(struct easel_store *s, struct easel_queue *q,
                                     const struct easel_credits_ctx *cc, const char *id,
                                     struct easel_error *err);

/* One event of a job's history as the API shows it: {"seq", "at" (RFC
 * 3339), "from", "to" (null for the creation and for notes), "attempt",
 * "reason", "message"}. Returns a new object (cJSON_Delete). */
cJSON *easel_event_to_json(const struct easel_event *e);

/* Called for each event of a history, oldest first, as a cJSON object of
 * easel_event_to_json's shape (borrowed for the call). A non-zero return
 * stops the follow, which then returns EASEL_ECANCELED. */
typedef int (*easel_event_fn)(void *ud, const cJSON *event);

/* Follows a job's history in Postgres: calls fn for every event, then for
 * each new one (by seq) as it is recorded, polling every poll_ms, until the
 * job's status is terminal (the events up to it are all delivered).
 * EASEL_ENOTFOUND when there is no such job; other errors as the store's
 * (easel_store_errstr). */
easel_err easel_client_follow(struct easel_store *s, const char *id, int64_t poll_ms,
                              easel_event_fn fn, void *ud);

/* ------------------------------------------------------------------------
 * Through the HTTP API. One struct easel_remote is one server: a libcurl
 * handle that keeps its connection between calls, the bearer token, and
 * the last call's error (hiredis style). Not thread-safe: one per thread.
 */
struct easel_remote;

struct easel_remote_opts {
    const char *server;    /* "http(s)://host:port[/prefix]"; copied */
    const char *token;     /* bearer token or NULL; copied, wiped at free,
                            * never part of an error message */
    int64_t timeout_ms;    /* each request (a Prefer: wait adds its own) */
};

/* What the last failed call met. status 0: no HTTP answer at all (the
 * server is down, unreachable or silent); code is the API's error code
 * ("not_found", "conflict", ...) or "" when the body was not the API's
 * error shape; message is a sentence for a person. */
struct easel_remote_error {
    long status;
    char code[64];
    char message[600];
};

/* EASEL_EINVAL (err says why) for a server that is not an http(s) URL. */
easel_err easel_remote_new(const struct easel_remote_opts *o, struct easel_remote **out,
                           struct easel_error *err);
void easel_remote_free(struct easel_remote *r); /* NULL-safe */
const struct easel_remote_error *easel_remote_error(const struct easel_remote *r);

/* Every call below returns EASEL_OK with a new cJSON in *out (the body as
 * the server sent it), or fails with the detail in easel_remote_error():
 *   EASEL_ECONN     no answer (refused, unresolvable, TLS);
 *   EASEL_ETIMEOUT  no answer within the timeout;
 *   EASEL_ENOTFOUND 404;  EASEL_ECONFLICT 409;
 *   EASEL_EHTTP     any other status outside 2xx;
 *   EASEL_EPARSE    a 2xx body that is not JSON;
 *   EASEL_EINVAL    bad arguments (e.g. --input that is not an object). */

/* POST /v1/jobs with s's fields (s->id is refused: the server names jobs).
 * wait_ms > 0 asks the server to hold the answer with `Prefer: wait=N`
 * (N at most 60 s) and then, if the job has not ended (a server that does
 * not hold, or a longer wait), polls it every 500 ms until it ends or
 * wait_ms has passed: EASEL_ETIMEOUT then, with *out the job as last seen.
 * A poll rides out up to 30 s of no answer or 429/5xx answers (a replica
 * restarting) before it fails. */
easel_err easel_remote_submit(struct easel_remote *r, const struct easel_submit *s,
                              int64_t wait_ms, cJSON **out);
/* GET /v1/jobs/{id} */
easel_err easel_remote_get(struct easel_remote *r, const char *id, cJSON **out);

struct easel_remote_query {
    const char *status, *model, *owner; /* NULL or "": any */
    size_t limit;                       /* jobs wanted, >= 1 */
};
/* GET /v1/jobs, following next_cursor page by page (at most 1000 a page)
 * until limit jobs are gathered or there are no more: *out is
 * {"items": [...], "next_cursor": where to go on, or null}. */
easel_err easel_remote_list(struct easel_remote *r, const struct easel_remote_query *q,
                            cJSON **out);
/* POST /v1/jobs/{id}/cancel and /retry: *out is the job afterwards. */
easel_err easel_remote_cancel(struct easel_remote *r, const char *id, cJSON **out);
easel_err easel_remote_retry(struct easel_remote *r, const char *id, cJSON **out);
/* GET /v1/jobs/{id}/events: *out is {"items": [...]}, oldest first. */
easel_err easel_remote_events(struct easel_remote *r, const char *id, cJSON **out);

/* GET /v1/webhooks?job=&status=&limit=: *out is {"items": [...]}, newest
 * first (easel_webhook_delivery_json's shape). NULL filters are off. */
easel_err easel_remote_webhooks(struct easel_remote *r, const char *job, const char *status,
                                size_t limit, cJSON **out);
/* POST /v1/webhooks/{id}/redeliver: *out is the delivery afterwards. */
easel_err easel_remote_redeliver(struct easel_remote *r, const char *webhook_id, cJSON **out);

/* GET /v1/credits/{owner}?limit=: *out is {"owner", "balance", "reserved",
 * "entries": [...] newest first, "next_before"}. owner is "channel:id". */
easel_err easel_remote_credits(struct easel_remote *r, const char *owner, size_t limit,
                               cJSON **out);
/* POST /v1/credits/{owner}/grants {"amount", "reason"} with key (NULL: none)
 * as the Idempotency-Key: *out is the account afterwards. */
easel_err easel_remote_grant(struct easel_remote *r, const char *owner, int64_t amount,
                             const char *reason, const char *key, cJSON **out);

/* easel_client_follow through the API: the job's event stream (SSE, GET
 * /v1/jobs/{id}/stream) until its done event. A stream cut short is
 * opened again with the last event's id, so nothing is missed or shown
 * twice; a server that is away (no answer, 429, 5xx) is ridden out as a
 * wait does, trying again every poll_ms. */
easel_err easel_remote_follow(struct easel_remote *r, const char *id, int64_t poll_ms,
                              easel_event_fn fn, void *ud);

/* An incremental reader of text/event-stream (sse.c). fn gets each event:
 * its name ("message" without one), the last id seen (the stream's, as
 * EventSource keeps it; "" before any) and its data; a non-zero return
 * stops the reader. */
typedef int (*easel_sse_fn)(void *ud, const char *event, const char *id, const char *data,
                            size_t len);
struct easel_sse {
    struct easel_buf line, data;
    char event[64];
    char last_id[64];
    bool after_cr;
    easel_sse_fn fn;
    void *ud;
};
/* max_line caps a line and an event's data, in bytes. */
void easel_sse_init(struct easel_sse *p, size_t max_line, easel_sse_fn fn, void *ud);
/* EASEL_ECANCELED when fn stopped it, EASEL_ELIMIT past max_line. */
easel_err easel_sse_feed(struct easel_sse *p, const char *buf, size_t n);
/* Forgets a half-read event (a new connection), keeping the last id. */
void easel_sse_reset(struct easel_sse *p);
void easel_sse_cleanup(struct easel_sse *p);

#endif
