/*
 * store.h - the Postgres record of every job: versioned migrations, the jobs
 * table, the append-only job_events history and change notifications.
 *
 * Every status change is one statement that checks the previous state, writes
 * the new one, appends an event and sends NOTIFY easel_jobs, all in one
 * transaction. A transition from a state that is not allowed returns
 * EASEL_ECONFLICT and changes nothing, so replays are harmless and no job
 * ever reaches two terminal states.
 *
 * A struct easel_store is one connection; it is not thread-safe. Failures
 * leave the server's message and SQLSTATE in easel_store_errstr().
 *
 * Error codes, for every function below: EASEL_ECONN when the connection is
 * gone (call easel_store_reconnect), EASEL_EINVAL for bad arguments and for
 * data the server rejects (malformed uuid or JSON), EASEL_EDB for other
 * server errors; ENOTFOUND/ECONFLICT only where stated.
 */
#ifndef EASEL_STORE_H
#define EASEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"
#include "easel/job.h"

struct easel_store;

/* Connects with a libpq URL or key=value string (or a bare database name).
 * Adds application_name=easel, client_encoding=UTF8 and connect_timeout=10
 * (unless PGCONNECT_TIMEOUT is set) underneath the URL, which may override
 * them. EASEL_ECONN on failure, with err filled: class retryable and reason
 * "database_unavailable" when the server cannot be reached, class permanent
 * and reason "invalid_database_url" when the URL does not parse. The message
 * names the server by its redacted URL and never contains the password.
 * *out is NULL on failure. */
easel_err easel_store_open(const char *url, struct easel_store **out,
                           struct easel_error *err);
void easel_store_free(struct easel_store *s);
/* The last failure's text, e.g. "SQLSTATE 23505: duplicate key ...". Only
 * meaningful right after a call failed; never NULL. */
const char *easel_store_errstr(const struct easel_store *s);
/* Re-establishes a broken connection (PQreset), blocking up to the connect
 * timeout, and re-issues LISTEN if easel_store_listen was called.
 * Notifications sent while disconnected are lost: resynchronise after it. */
easel_err easel_store_reconnect(struct easel_store *s);

/* For a connection that sat idle: reads what the server may have sent
 * (without waiting) and reconnects if that shows the connection is gone. */
easel_err easel_store_check(struct easel_store *s);

/* Applies pending migrations under an advisory lock, each in its own
 * transaction. Idempotent; *applied (may be NULL) counts the new ones and
 * *version the schema version after. Safe to run from several processes
 * at once: the others wait and apply nothing. On failure the migrations
 * before the failing one stay applied (and are counted); errstr names the
 * failing version. */
easel_err easel_store_migrate(struct easel_store *s, int *applied,
                              int *version);
/* Current schema version (0 = none). */
easel_err easel_store_schema_version(struct easel_store *s, int *version);

/* A new job. Strings are borrowed. JSON fields must be valid JSON text. */
struct easel_job_new {
    const char *id;
    const char *type;
    const char *model;
    int priority;
    const char *idempotency_key;
    const char *payload;   /* JSON */
    const char *input;     /* JSON */
    const char *metadata;  /* JSON or NULL */
    const char *webhook;
    unsigned webhook_events;  /* EASEL_WEBHOOK_EV_BIT()s; 0: the default */
    const char *channel;
    const char *owner;
    int max_attempts;
    /* A job may be born terminal (unknown model): status and error then. */
    enum easel_status status;   /* QUEUED normally, DEAD/FAILED for rejects */
    const char *error_class;
    const char *error_reason;
    const char *error_message;
    int64_t run_after_ms;  /* > 0: a scheduled job, not to start before */
    const char *traceparent; /* the intake span's W3C context, or NULL */
    /* Credits the job costs its owner (0: none). With an owner, a QUEUED
     * job reserves them at its insert, or is born DEAD with reason
     * insufficient_credits when the owner cannot cover them (migration 9). */
    int cost;
    /* > 0: the app keeps this job's credits (registry credits.mode:
     * external) and reserved them under this number, after
     * easel_store_app_arm armed its refund. A QUEUED job is then recorded
     * only if that refund is still armed and untouched, and disarms it in
     * the same statement; otherwise created is false and no row exists.
     * A job born DEAD (the app refused) is recorded and holds nothing. */
    int credit_budget;
    /* The app's record this job keeps (registry records, migration 11):
     * the rule's name and the key of its row, or NULL. Each status the
     * job takes then queues a record call in app_calls. */
    const char *record_rule;
    const char *record_key;
};
/* INSERT ... ON CONFLICT (id) DO NOTHING. *created says whether this call
 * made the row (false: a job with this id already existed, unchanged). An
 * event "created" is appended when created (reason EASEL_EVENT_CREATED,
 * from_status NULL, to_status the initial status, message the
 * error_message if any) and NOTIFY is sent. A job born terminal gets
 * finished_at. id, model and payload are required; max_attempts >= 0. */
easel_err easel_store_job_insert(struct easel_store *s,
                                 const struct easel_job_new *j,
                                 bool *created);
/* The same for n jobs in one statement and one transaction: created[i]
 * (may be NULL) says whether jobs[i] made its row, and status[i] (may be
 * NULL) the status it was born with: DEAD for a job whose owner could not
 * cover its cost. All or nothing: on an error no row was written. */
easel_err easel_store_jobs_insert(struct easel_store *s, const struct easel_job_new *jobs,
                                  size_t n, bool *created, enum easel_status *status);

/* The job's stored trace context (jobs.traceparent) into out: "" when it
 * has none. EASEL_ENOTFOUND when there is no such job. */
easel_err easel_store_job_traceparent(struct easel_store *s, const char *id,
                                      char *out, size_t len);

/* Reason of the event appended when a job is inserted. */
#define EASEL_EVENT_CREATED "Created"

/* Loads one job. EASEL_ENOTFOUND when there is none (EASEL_EINVAL when id
 * is not a uuid). *out is owned by the caller (easel_job_free). JSON columns
 * come back as jsonb prints them (keys sorted by length, ": " and ", "),
 * which may differ in spacing and key order from the text inserted. */
easel_err easel_store_job_get(struct easel_store *s, const char *id,
                              struct easel_job **out);

/* Lists jobs, newest first, optionally only one status (status < 0: all),
 * at most `limit` of them (0: no limit). *out is an array of *n owned jobs
 * (NULL when *n is 0); free with easel_store_jobs_free (NULL-safe). */
easel_err easel_store_job_list(struct easel_store *s, int status, size_t limit,
                               struct easel_job ***out, size_t *n);
void easel_store_jobs_free(struct easel_job **jobs, size_t n);

/* When the oldest job waiting to start was created (wall ms; 0 when none
 * waits): queued and due, scheduled jobs not yet due left out. */
easel_err easel_store_oldest_queued(struct easel_store *s, int64_t *created_ms);

/* Counts over every job, for /worker/stats: by status, and the mean run
 * time of the succeeded ones (started to finished). */
struct easel_job_stats {
    int64_t total, queued, dispatched, running, retrying, succeeded, failed, dead, canceled;
    double avg_run_seconds; /* 0 when none succeeded */
};
easel_err easel_store_job_stats(struct easel_store *s, struct easel_job_stats *out);

/* The jobs an attempt is working on now (dispatched or running), oldest
 * first, at most limit: for /worker/workers. */
easel_err easel_store_jobs_active(struct easel_store *s, size_t limit,
                                  struct easel_job ***out, size_t *n);

/* The status of each of n jobs in one round trip: st[i] for ids[i], or -1
 * when there is no such job. */
easel_err easel_store_job_statuses(struct easel_store *s, const char *const *ids, size_t n,
                                   int *st);

/* Loads n jobs in one round trip: out[i] is ids[i]'s job (caller frees),
 * or NULL when there is none. ids must be distinct UUIDs (EASEL_EINVAL
 * for one that is not; a repeated id is filled once). */
easel_err easel_store_job_get_many(struct easel_store *s, const char *const *ids, size_t n,
                                   struct easel_job **out);

/* A page of jobs for the API: newest first (created_at, then id), filtered,
 * continuing strictly after a cursor. Every filter left NULL/0/-1 is off. */
struct easel_job_query {
    int status;                  /* < 0: any */
    const char *model;
    const char *channel, *owner; /* owner alone matches any channel */
    int64_t created_after_ms;    /* > 0: created strictly after */
    /* the cursor: the (created_at in microseconds, id) of the last job of
     * the previous page; 0/NULL for the first page */
    int64_t after_created_us;
    const char *after_id;
    size_t limit;                /* 1..1000 */
};
/* *out and *n as easel_store_job_list; last_created_us receives the
 * created_at (microseconds) of the last job returned, for the next cursor.
 * The keyset (no offset) keeps a page's cost independent of its depth and
 * never repeats or skips a job while new ones arrive. */
easel_err easel_store_job_query(struct easel_store *s, const struct easel_job_query *q,
                                struct easel_job ***out, size_t *n,
                                int64_t *last_created_us);

/* What a transition writes besides the status. Fields left NULL/0 are kept
 * as they are, except where noted. t may be NULL (nothing but the status
 * and its timestamps). */
struct easel_transition {
    const char *reason;        /* event reason, e.g. "Dispatched" */
    const char *message;       /* event message for a person */
    bool count_attempt;        /* attempts = attempts + 1 (on dispatch) */
    bool reset_attempts;       /* attempts = 0 (manual retry) */
    const char *worker;        /* sets worker */
    bool clear_error;          /* error_* = NULL */
    /* The error is one unit: when any of the three is non-NULL all three
     * are written (a NULL one as NULL), so no reason outlives its message. */
    const char *error_class;
    const char *error_reason;
    const char *error_message;
    const char *result;        /* JSON; sets result when non-NULL */
    const char *result_model;
    int64_t run_after_ms;      /* wall ms; sets run_after when > 0; a move
                                  to DISPATCHED clears it otherwise */
    /* When non-NULL (a "{a,b}" text[] literal, built by
     * easel_store_models_array), the move happens only for a job of one of
     * these models that has had no attempt yet and is due (run_after NULL
     * or past); any other job is EASEL_ECONFLICT, unchanged. Lets a caller
     * that would read the row only to check those things skip the read. */
    const char *only_fresh_of;
};

/* A text[] literal ("{\"a\",\"b\"}") of n model ids for
 * easel_transition.only_fresh_of. Caller frees. NULL on ENOMEM. */
char *easel_store_models_array(const char *const *ids, size_t n);

/* Moves job `id` to `to` if its status is in from_mask (a set of
 * EASEL_STATUS_BIT()). Sets started_at on RUNNING, dispatched_at on
 * DISPATCHED, finished_at on terminal states (cleared on QUEUED), heartbeat
 * on RUNNING, updated_at always. Appends an event (from, to, attempts after
 * the change, reason, message) and sends NOTIFY, all in one statement.
 * Returns EASEL_ECONFLICT (nothing changed) when the status is not in
 * from_mask, and EASEL_ENOTFOUND when there is no such job; errstr says
 * which status the job had. from_mask must be non-empty and within
 * easel_status_allowed_from(to), else EASEL_EINVAL: the lifecycle rules are
 * enforced here. On success and when out != NULL, *out is the job after the
 * change (caller frees); should decoding it fail (ENOMEM), the change has
 * nevertheless been committed. */
easel_err easel_store_job_transition(struct easel_store *s, const char *id,
                                     unsigned from_mask, enum easel_status to,
                                     const struct easel_transition *t,
                                     struct easel_job **out);

/* Progress of a running attempt: sets the job's stage and percent
 * (percent < 0: unknown), appends a "progress" event whose data is
 * {"stage","percent"} merged with `data` (a JSON object, or NULL), and
 * announces it on the events channel, in one statement. EASEL_ECONFLICT
 * when the job is not running (canceled meanwhile: nothing is written). */
easel_err easel_store_job_progress(struct easel_store *s, const char *id, const char *stage,
                                   double percent, const char *data, const char *message);

/* Worker liveness: sets heartbeat_at = now() if the job is RUNNING.
 * EASEL_ECONFLICT when it is not (a worker's cue that its job was canceled
 * or finished elsewhere), EASEL_ENOTFOUND when there is no such job. */
easel_err easel_store_job_heartbeat(struct easel_store *s, const char *id);

/* Appends an event without changing the status (progress, notes):
 * from/to NULL, attempt = the job's current attempts. No NOTIFY.
 * EASEL_ENOTFOUND when there is no such job. */
easel_err easel_store_event_add(struct easel_store *s, const char *id,
                                const char *reason, const char *message);

/* Appends a typed event for the streams (kind "logs", "output", "error",
 * ...; `data_json` a JSON object or NULL; `message` for people, or NULL)
 * to the job's current attempt. The job's row is locked first in the same
 * statement, so a job's events are sequenced in commit order with its
 * status changes. The reason column is the kind capitalised. No NOTIFY
 * here: the events channel is announced by the database for every event.
 * *seq (if not NULL) gets the event's sequence. EASEL_ENOTFOUND when there
 * is no such job, EASEL_ECONFLICT when it has finished (nothing written),
 * EASEL_EINVAL when data_json is not JSON. */
easel_err easel_store_job_event(struct easel_store *s, const char *id, const char *kind,
                                const char *message, const char *data_json, int64_t *seq);

/* A transaction on the store's connection, for writing an event and a
 * status change as one unit. Between begin and commit every call on s is
 * part of it; a failed call leaves it aborted: call easel_store_rollback
 * (NULL-safe, keeps the earlier failure in errstr) and do not commit. */
easel_err easel_store_begin(struct easel_store *s);
easel_err easel_store_commit(struct easel_store *s);
void easel_store_rollback(struct easel_store *s);

/* One history row. */
struct easel_event {
    int64_t seq;
    char job_id[EASEL_UUID_LEN + 1]; /* filled by the queries that span jobs */
    char *owner;         /* "channel:owner" or NULL; likewise */
    int64_t at_ms;
    char *from_status;   /* NULL for "created" */
    char *to_status;     /* NULL for notes */
    int attempt;
    char *reason;
    char *message;
    char *kind;          /* NULL: a status change; "progress", ... */
    char *data;          /* JSON object or NULL */
};
/* A job's history, oldest first. *out is an array of *n events (NULL when
 * there are none, which is also what an unknown id gives); free with
 * easel_store_events_free (NULL-safe). */
easel_err easel_store_events(struct easel_store *s, const char *id,
                             struct easel_event **out, size_t *n);
void easel_store_events_free(struct easel_event *e, size_t n);

/* The events after seq `after` (exclusive) of one job (job_id) or of one
 * owner's jobs (owner, "channel:owner"), oldest first, at most limit, with
 * job_id and owner filled. Because each owner's (and job's) events commit
 * in seq order (migration 4), "after N" misses nothing that commits later. */
easel_err easel_store_events_after(struct easel_store *s, const char *job_id,
                                   const char *owner, int64_t after, int limit,
                                   struct easel_event **out, size_t *n);
/* The seq of an owner's latest event (0 when there is none): where a
 * stream that starts "from now" begins. */
easel_err easel_store_events_last(struct easel_store *s, const char *owner,
                                  int64_t *seq);
/* The events with the given sequence numbers (those that exist), oldest
 * first, with job_id and owner filled. */
easel_err easel_store_events_by_seq(struct easel_store *s, const int64_t *seqs,
                                    size_t nseqs, struct easel_event **out,
                                    size_t *n);

/* Change notifications: LISTEN easel_jobs. Payload "<id> <status>". */
easel_err easel_store_listen(struct easel_store *s);
/* Event notifications: LISTEN easel_events. Payload "<job> <seq>[ <owner>]",
 * one for every job_events row, sent by the row's trigger. */
easel_err easel_store_listen_events(struct easel_store *s);
/* The next event notification, if any (*got says), like
 * easel_store_notification. owner is "" when the job has none; a longer
 * owner than ownerlen is cut. */
easel_err easel_store_event_notification(struct easel_store *s, bool *got,
                                         char id[EASEL_UUID_LEN + 1], int64_t *seq,
                                         char *owner, size_t ownerlen);
/* Socket to poll() for readability, -1 when disconnected. */
int easel_store_socket(const struct easel_store *s);
/* Consumes input and returns the next notification, if any: *got says
 * whether id/status were filled. Never blocks. Call it until *got is false
 * after the socket polls readable. Malformed payloads are skipped. */
easel_err easel_store_notification(struct easel_store *s, bool *got,
                                   char id[EASEL_UUID_LEN + 1],
                                   enum easel_status *status);


/* ------------------------------------------------------------ webhooks */

/* One row of the webhook outbox (migration 5). A trigger on job_events
 * writes it in the event's own transaction; the senders (pkg/webhook) and
 * the operator surface (API, CLI) read and update it through these calls. */
struct easel_webhook_delivery {
    int64_t id;                /* internal; webhook_id names it outside */
    char *webhook_id;          /* "msg_<32 hex>": the webhook-id header, stable across attempts */
    char job_id[EASEL_UUID_LEN + 1];
    int64_t event_seq;         /* the job_events row that caused it */
    int64_t event_at_ms;
    char *type;                /* "job.started", "job.progress", "job.output", "job.completed" */
    char *url;
    char *status;              /* "pending", "delivered", "failed", "gone" */
    int attempts;              /* attempts made (reset by a redelivery) */
    int64_t next_attempt_ms;   /* wall ms; while pending, when it is due (or its lease ends) */
    int last_status_code;      /* 0: no HTTP answer (or none yet) */
    char *last_error;
    char *body;                /* the exact bytes signed and sent; NULL before the first attempt
                                * (and in lists) */
    int64_t created_ms, updated_ms, delivered_ms;
};
void easel_store_deliveries_free(struct easel_webhook_delivery *d, size_t n); /* NULL-safe */

/* LISTEN easel_webhooks, the channel the outbox trigger notifies, so an
 * idle sender wakes when a delivery is written. Not repeated by
 * easel_store_reconnect: a sender opens a new connection instead. */
#define EASEL_STORE_WEBHOOK_CHANNEL "easel_webhooks"
easel_err easel_store_webhook_listen(struct easel_store *s);
/* Reads and discards every notification waiting (without blocking);
 * *n (may be NULL) counts them. */
easel_err easel_store_drain_notifications(struct easel_store *s, size_t *n);

/* Claims up to max due pending deliveries (FOR UPDATE SKIP LOCKED, so
 * replicas never take the same row) and leases them: next_attempt_at moves
 * lease_ms ahead, so a sender that dies mid-send leaves the row to another
 * after the lease. Bodies are included. *out as easel_store_events. */
easel_err easel_store_webhook_claim(struct easel_store *s, size_t max, int64_t lease_ms,
                                    struct easel_webhook_delivery **out, size_t *n);
/* Stores body as the delivery's body unless it has one already, and hands
 * back (malloc'd) the body in force, so every attempt signs the same bytes. */
easel_err easel_store_webhook_set_body(struct easel_store *s, int64_t id, const char *body,
                                       char **kept);
/* Milliseconds until the next pending delivery is due (0: one is due now),
 * or -1 when none is pending. */
easel_err easel_store_webhook_next_due(struct easel_store *s, int64_t *ms);

/* The outcome of one attempt: attempts + 1, the answer, and the new status:
 * "pending" (due again in retry_ms), "delivered", "failed" or "gone".
 * "gone" also ends every other pending delivery to the same URL. */
struct easel_webhook_outcome {
    const char *status;
    int http_status;           /* 0: none */
    const char *error;         /* NULL on success */
    int64_t retry_ms;
};
easel_err easel_store_webhook_record(struct easel_store *s, int64_t id,
                                     const struct easel_webhook_outcome *o);

/* A page of deliveries, newest first. Filters left NULL/0 are off; owner
 * and channel confine the list to jobs of that owner (the API's
 * owner-confined tokens). Bodies are not loaded. */
struct easel_webhook_query {
    const char *job_id;
    const char *status;        /* "pending", "delivered", "failed", "gone" */
    const char *owner, *channel;
    size_t limit;              /* 1..1000 */
};
easel_err easel_store_webhook_list(struct easel_store *s, const struct easel_webhook_query *q,
                                   struct easel_webhook_delivery **out, size_t *n);
/* Sends a delivery again: back to pending, due now, attempts 0 (the retry
 * schedule starts over), the same webhook-id and body. owner/channel as in
 * the list (NULL: any). EASEL_ENOTFOUND when there is no such delivery (or
 * it belongs to another owner). *out (may be NULL) is the row after. */
easel_err easel_store_webhook_redeliver(struct easel_store *s, const char *webhook_id,
                                        const char *owner, const char *channel,
                                        struct easel_webhook_delivery **out);

/* ------------------------------------------------------ the metric outbox */

/* Takes (deletes) up to max rows of the metric outbox, oldest first, and
 * calls fn for each with its kind ("status" or "attempt"), model and JSON
 * data. Rows locked by another replica's take are skipped. *n counts the
 * rows taken. fn runs after the rows are gone: the caller counts them in
 * memory, so a crash loses them with the process's other counters. */
typedef void (*easel_store_metric_fn)(void *ud, const char *kind, const char *model,
                                      const char *data);
easel_err easel_store_metric_take(struct easel_store *s, size_t max, easel_store_metric_fn fn,
                                  void *ud, size_t *n);
/* Adds an "attempt" row: the figures (JSON object text) of one attempt. */
easel_err easel_store_metric_figures(struct easel_store *s, const char *job_id,
                                     const char *model, const char *figures);
/* Deletes rows older than max_age_s that no scrape took (a controller
 * without /metrics, or never scraped); *n (may be NULL) counts them. */
easel_err easel_store_metric_expire(struct easel_store *s, int64_t max_age_s, size_t *n);
/* Jobs per status, for the statuses a job leaves (queued, dispatched,
 * running, retrying); the final ones are left 0. */
easel_err easel_store_job_counts(struct easel_store *s, int64_t counts[EASEL_STATUS_COUNT]);

/* ---------------------------------------------------------------- credits */

/* A ledger entry (migration 9). job_id is "" and budget 0 for a grant. */
struct easel_credit_entry {
    int64_t id;
    char kind[16];      /* grant, reserve, consume, release */
    int64_t amount;
    char job_id[EASEL_UUID_LEN + 1];
    int budget;         /* the job's reservation number */
    char *reason;       /* a grant's reason, or NULL */
    int64_t at_ms;
};

struct easel_credit_account {
    int64_t balance;    /* spendable */
    int64_t reserved;   /* held by jobs not yet finished */
    struct easel_credit_entry *entries; /* newest first */
    size_t nentries;
};

/* The most one grant may add (the API and the CLI refuse more). */
#define EASEL_CREDIT_GRANT_MAX INT64_C(1000000000000)
/* Adds amount (> 0) to owner's balance ("channel:id"), making the account
 * if it is new. With a key, a second grant with the same key for the same
 * owner changes nothing and *granted is false; then *key_amount (may be
 * NULL) is the amount the key's grant gave (the caller can tell a retry
 * from a key reused for another amount), else amount. */
easel_err easel_store_credit_grant(struct easel_store *s, const char *owner, int64_t amount,
                                   const char *reason, const char *key, bool *granted,
                                   int64_t *key_amount);
/* The account and its newest max_entries entries older than entry id
 * `before` (0: from the newest). EASEL_ENOTFOUND when the owner has no
 * account. */
easel_err easel_store_credits_get(struct easel_store *s, const char *owner, size_t max_entries,
                                  int64_t before, struct easel_credit_account *out);
void easel_store_credit_account_cleanup(struct easel_credit_account *a);

/* ------------------------------------- credits the app keeps (external) */

#define EASEL_STORE_APP_CHANNEL "easel_app_calls"

/* A job's side of one call to the app: the values its statements take. */
struct easel_app_job {
    const char *job_id;
    int budget;            /* the reservation number */
    char *owner, *channel, *model, *status, *reason; /* owned in a claimed call */
    int64_t amount;
};
/* One row of the app_calls outbox (migrations 10 and 11). */
struct easel_app_call {
    int64_t id;
    char kind[12];         /* consume, refund, record */
    char job_id[EASEL_UUID_LEN + 1];
    struct easel_app_job j; /* j.status: the status it records */
    int attempts;          /* counting this one */
    char *record, *record_key; /* a record: its rule and its row's key */
    char *snapshot;        /* a record: {"error","result","at"} as JSON */
};

/* Arms a refund of the job's next reservation, due after after_ms, and
 * gives its number in *budget: an armed refund still untouched is reused
 * (the same reservation asked again), else one above every number the job
 * has used (with retry, also above the job's current one). j's owner,
 * channel, amount and model go into the refund. */
easel_err easel_store_app_arm(struct easel_store *s, const struct easel_app_job *j,
                              bool retry, int64_t after_ms, int *budget);
/* Deletes the armed refund of (job, budget) while untouched: the app
 * refused the reservation, so there is nothing to undo. */
easel_err easel_store_app_unarm(struct easel_store *s, const char *job_id, int budget);
/* Does a row for job id exist? */
easel_err easel_store_job_exists(struct easel_store *s, const char *id, bool *exists);
/* A manual retry of a job whose credits the app keeps: in one transaction,
 * disarms (job, budget)'s refund, moves the job from failed or dead to
 * queued with t, and records budget as its reservation. EASEL_EAGAIN (and
 * nothing changed) when a sender took the refund first; the transition's
 * own codes otherwise. */
easel_err easel_store_app_requeue(struct easel_store *s, const char *id, int budget,
                                  const struct easel_transition *t, struct easel_job **out);
/* Takes up to max due calls (armed refunds past their time included, which
 * fires them) and leases them for lease_ms: attempts + 1, due again after
 * the lease unless recorded. */
easel_err easel_store_app_claim(struct easel_store *s, size_t max, int64_t lease_ms,
                                struct easel_app_call **out, size_t *n);
void easel_store_app_calls_free(struct easel_app_call *c, size_t n);
/* Records a call's outcome: error NULL = the app accepted it (done); else
 * kept, due again after retry_ms. */
easel_err easel_store_app_call_done(struct easel_store *s, int64_t id, const char *error,
                                    int64_t retry_ms);
/* The same; give_up ends a failing call as 'failed' for good (a record
 * the app's table cannot take), so the job's next record goes on. */
easel_err easel_store_app_call_end(struct easel_store *s, int64_t id, const char *error,
                                   int64_t retry_ms, bool give_up);
/* Milliseconds until the next call is due (0: now), or -1 when none. */
easel_err easel_store_app_next_due(struct easel_store *s, int64_t *ms);
easel_err easel_store_app_listen(struct easel_store *s);

/* On a store opened on the app's database: runs one of the app's
 * statements with text parameters. *truth (may be NULL): for a query, 1
 * when the first column of the first row is true, else 0; for a command
 * (UPDATE), the rows it changed. */
easel_err easel_store_app_exec(struct easel_store *app, const char *sql, int nparams,
                               const char *const *params, int *truth);
/* The columns of the app's table (schema NULL: the search path's first),
 * in order; none when there is no such table. Free each and the array. */
easel_err easel_store_app_columns(struct easel_store *app, const char *schema, const char *table,
                                  char ***cols, size_t *n);
/* Prepares sql on the app's database without running it: how many $N it
 * takes, how many columns it returns and the type OID of the first. */
easel_err easel_store_app_describe(struct easel_store *app, const char *sql, int *nparams,
                                   int *nfields, unsigned *first_type);

#endif
