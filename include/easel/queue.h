/*
 * queue.h - the Redis reliable queue.
 *
 * Producers LPUSH JSON entries on the pending list (default "easel:jobs").
 * A controller claims entries atomically into its own in-flight list, gives
 * each a job id ("adopt"), and from then on holds a lease per job that it
 * renews. Finished jobs are acked; retryable failures wait in a delayed set
 * and come back to the pending list when due; the rest go to the dead-letter
 * list with their reason. When a controller dies, its in-flight entries and
 * its expired leases are recovered by any other (or the restarted)
 * controller, so nothing that entered the queue is lost.
 *
 * Keys, for a queue named Q:
 *   Q                  list   pending entries (LPUSH by producers, claimed from the right)
 *   Q:inflight:<cid>   list   raw entries claimed by controller <cid>, not yet adopted
 *   Q:controllers      zset   controller id -> liveness deadline (ms)
 *   Q:leases           zset   job id -> lease deadline (ms)
 *   Q:owners           hash   job id -> controller id holding the lease
 *   Q:claims           hash   job id -> canonical entry (JSON with "id")
 *   Q:delayed          zset   canonical entry -> due time (ms)
 *   Q:delayed:ids      hash   job id -> its member of Q:delayed (O(1) cancel)
 *   Q:dead             list   dead letters: {"id","reason","error","entry","at"}
 *   Q:idem:<key>       string idempotency key -> job id, with a TTL (the window)
 *   Q:pool             list   canonical entries of `executor: pool` models, waiting
 *                             for an `easel worker` (LPUSH by the controller, claimed
 *                             from the right)
 *
 * A struct easel_queue is one connection; it is not thread-safe: use one per
 * thread. Every call that fails leaves the reason in q->errstr
 * (easel_queue_errstr), as hiredis does. Calls that claim or hold leases
 * (claim, release_inflight, adopt, reject, renew, take_expired) need a
 * controller id; the others also work on a producer connection. The process
 * must ignore SIGPIPE (hiredis writes with write(2)): otherwise a write to a
 * connection Redis has closed kills it instead of returning EASEL_ECONN.
 *
 * Errors, for every call below:
 *   EASEL_EINVAL  a bad argument (nothing was sent);
 *   EASEL_ECONN   the connection failed (I/O error, EOF, or no reply within
 *                 10 s). It is then unusable: every later call fails at once
 *                 with EASEL_ECONN until easel_queue_reconnect() succeeds.
 *                 Whether the failed command took effect is unknown; every
 *                 operation is safe to repeat or is recovered by the lease
 *                 and in-flight rules above;
 *   EASEL_EREDIS  Redis answered with an error (the connection stays usable);
 *   EASEL_ENOMEM  out of memory.
 *
 * Time: liveness and lease deadlines, and the "now" that decides what
 * expired or became due, come from the Redis server's clock (TIME, in ms
 * since the epoch), so controllers on machines with skewed clocks agree.
 * Due times given to easel_queue_retry are wall-clock ms (easel_wall_ms()).
 *
 * Every multi-key step is one Lua script (pkg/queue/scripts.c). Recovery and
 * stats name Q:inflight:<cid> keys they discover inside the script, which a
 * standalone Redis (or a Sentinel-managed primary) allows; Redis Cluster is
 * not supported. Requires Redis >= 7.0 (BLMOVE, LMOVE, SET NX GET, RPOP
 * with a count).
 */
#ifndef EASEL_QUEUE_H
#define EASEL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

struct easel_queue;

struct easel_queue_opts {
    const char *url;           /* redis://[[user]:password@]host[:port][/db] or
                                  redis-sentinel://[[user]:password@]s1[:port],.../master[/db] */
    const char *name;          /* pending list key, e.g. "easel:jobs" (1-200 chars) */
    const char *controller_id; /* owner of claims and leases; may be NULL for producers */
    int64_t lease_ms;          /* lease and liveness duration; 0 = 30000 */
    int64_t connect_timeout_ms; /* 0 = 5000 */
};

/* Connects, authenticates (AUTH pass, or AUTH user pass), selects the
 * database and loads the scripts. The URL's user and password may be
 * percent-encoded; as with redis-cli, userinfo without ':' is a password.
 * On failure returns EASEL_ECONN (Redis unreachable, or it refused AUTH or
 * SELECT), EASEL_EINVAL for a bad URL or options, and when err != NULL says
 * why (never with the password). *out is NULL on failure. */
easel_err easel_queue_open(const struct easel_queue_opts *o,
                           struct easel_queue **out, struct easel_error *err);
void easel_queue_free(struct easel_queue *q);
/* Last error text of this connection ("" if none). */
const char *easel_queue_errstr(const struct easel_queue *q);
/* Drops and re-establishes the connection (after Redis restarted, or after
 * any call returned EASEL_ECONN). Safe to call repeatedly, also while
 * connected; on failure the queue stays disconnected (calls return
 * EASEL_ECONN) and this may be called again, e.g. while a restarted Redis
 * still answers LOADING. Clears errstr on success.
 * A controller should follow a successful reconnect with
 * easel_queue_release_inflight(). */
easel_err easel_queue_reconnect(struct easel_queue *q);

/* For a connection that sat idle: without a round trip, sees whether the
 * server closed it meanwhile (a restart, an idle timeout) and reconnects
 * if so, so the next command does not fail on a dead socket. */
easel_err easel_queue_check(struct easel_queue *q);

/* LPUSH one entry (len > 0 bytes) on the pending list. */
easel_err easel_queue_push(struct easel_queue *q, const char *entry,
                           size_t len);

/* One claimed entry. `raw` is malloc'd (and NUL-terminated) and owned by the
 * array; free a batch with easel_queue_entries_free(), which frees the raw
 * strings (and NULLs them) but not the array itself. Accepts NULL. */
struct easel_queue_entry {
    char *raw;
    size_t len;
    int64_t claimed_us; /* easel_now_us() when the claim returned */
};
void easel_queue_entries_free(struct easel_queue_entry *e, size_t n);

/* Claims up to `max` entries (at most 1000 per call), oldest first, into
 * this controller's in-flight list and refreshes the controller's liveness
 * deadline. Takes whatever is pending at once; when nothing is, blocks in
 * Redis (BLMOVE) for up to block_ms for the next push (no polling) and
 * returns as soon as one arrives, with whatever else came with it. block_ms
 * 0 does not block; a block longer than lease_ms/2 is shortened to that, so
 * the controller never looks dead while it waits. *n is 0 on timeout.
 * Needs a controller id. On failure *n is 0 and nothing is allocated; any
 * entries the server moved remain in the in-flight list (see
 * easel_queue_release_inflight). */
easel_err easel_queue_claim(struct easel_queue *q, size_t max,
                            int64_t block_ms, struct easel_queue_entry *out,
                            size_t *n);

/* One entry to adopt: the raw entry as claimed, the job id chosen for it and
 * the canonical entry (JSON with "id") kept for recovery and retries. */
struct easel_queue_adopt {
    const char *raw;
    size_t raw_len;
    const char *job_id;
    const char *canonical;
};
/* Atomically, per entry: removes raw from the in-flight list, stores the
 * canonical entry, takes the lease for this controller (and refreshes its
 * liveness). Pipelined: one round trip for the whole batch (one script call
 * per 256 entries). Job ids are 1 to 36 characters (UUIDs). If a raw entry
 * is no longer in flight (recovered after this controller's liveness
 * expired) the job is adopted anyway: delivery is at least once. On
 * EASEL_EREDIS part of a large batch may have been adopted; repeating the
 * call is harmless. */
easel_err easel_queue_adopt(struct easel_queue *q,
                            const struct easel_queue_adopt *a, size_t n);

/* Moves a raw in-flight entry that could not be understood straight to the
 * dead-letter list with the reason (malformed JSON, no usable fields), as
 * {"id":"","reason","error":message,"entry":raw,"at"}. */
easel_err easel_queue_reject(struct easel_queue *q, const char *raw,
                             size_t raw_len, const char *reason,
                             const char *message);

/* Renews the leases this controller holds for the given jobs and its own
 * liveness (n may be 0: a heartbeat). Leases held by someone else, or no
 * longer held at all (acked, retried, dead), are not touched and are
 * reported through lost[i] = true (lost has n elements and may be NULL),
 * *nlost their count (nlost may be NULL). One round trip. */
easel_err easel_queue_renew(struct easel_queue *q, const char *const *ids,
                            size_t n, bool *lost, size_t *nlost);

/* Job finished (any terminal state): drops lease, owner and claim. Pipelined
 * for n ids (one round trip). Idempotent; does not check the owner. */
easel_err easel_queue_ack(struct easel_queue *q, const char *const *ids,
                          size_t n);

/* Retry later: moves the job's canonical entry (replacing it by `entry` when
 * not NULL, e.g. with an updated attempt; it must be canonical, with the
 * "id") into the delayed set, due at wall time due_ms, and drops the lease.
 * Idempotent: calling it again for a waiting job moves its due time.
 * EASEL_ENOTFOUND when entry is NULL and the job is neither claimed nor
 * waiting. */
easel_err easel_queue_retry(struct easel_queue *q, const char *job_id,
                            const char *entry, int64_t due_ms);

/* Gives a held job back to the head of the queue: its canonical entry (or
 * `entry` when not NULL, canonical, with the "id") goes to the end of the
 * pending list that is claimed next, ahead of every entry already waiting,
 * and the lease, owner, claim and any delayed member are dropped, in one
 * step. A controller that took over a job needing a new attempt but has no
 * free slot uses it, so that the next free slot anywhere runs the job before
 * new work. EASEL_ENOTFOUND when entry is NULL and the job is neither
 * claimed nor waiting. */
easel_err easel_queue_requeue(struct easel_queue *q, const char *job_id,
                              const char *entry);

/* Dead letter: pushes {"id","reason","error","entry","at"} on the dead list
 * (replacing an earlier dead letter of the same id) and drops the lease.
 * "entry" is `entry` when not NULL, else the job's canonical entry (from its
 * claim or its waiting retry, which is removed), else null; "error" is
 * message; "at" is server time in ms. reason and message may be NULL (""). */
easel_err easel_queue_dead(struct easel_queue *q, const char *job_id,
                           const char *entry, const char *reason,
                           const char *message);

/* Removes the dead letter of job_id, if any (before a manual retry). *found
 * says whether there was one. */
easel_err easel_queue_undead(struct easel_queue *q, const char *job_id,
                             bool *found);

/* Moves delayed entries whose due time has passed back onto the pending list
 * (at most `max`, earliest due first, LPUSHed: they queue behind what is
 * already waiting). *moved is how many; *next_due_ms the due time of the
 * next waiting entry (0 if none), so callers can sleep exactly until then.
 * Either pointer may be NULL. */
easel_err easel_queue_promote(struct easel_queue *q, size_t max,
                              size_t *moved, int64_t *next_due_ms);

/* Recovery, part 1: for every controller whose liveness expired, moves its
 * in-flight (not yet adopted) entries back to the right end of the pending
 * list (claimed next, in their original order) and forgets the controller.
 * *moved counts entries (moved may be NULL). Any connection may call it. */
easel_err easel_queue_recover_inflight(struct easel_queue *q, size_t *moved);

/* Added to the original contract: puts this controller's own claimed but
 * unadopted entries back at the right end of the pending list, order kept.
 * A controller calls it at startup (a restarted controller with the same id
 * is not dead, so recover_inflight would never free its old list) and after
 * easel_queue_reconnect(), having forgotten any claimed entries it had not
 * adopted yet. Only the thread that claims for this controller id may call
 * it. *moved counts entries (may be NULL). */
easel_err easel_queue_release_inflight(struct easel_queue *q, size_t *moved);

/* Recovery, part 2: takes over up to `max` expired leases for this
 * controller (new deadline, this controller as owner, in one atomic step).
 * For each, returns the job id and canonical entry (malloc'd; free with
 * easel_queue_entries_free on `entries`; ids are 37-byte strings in ids[]).
 * ids and entries have room for max elements. */
easel_err easel_queue_take_expired(struct easel_queue *q, size_t max,
                                   char (*ids)[EASEL_UUID_LEN + 1],
                                   struct easel_queue_entry *entries,
                                   size_t *n);

/* Idempotency: records key -> job_id for window_ms unless the key is already
 * known; *existing receives the job id it was first seen with ("" when this
 * call recorded it). One atomic command (SET NX GET PX). */
easel_err easel_queue_idempotency(struct easel_queue *q, const char *key,
                                  const char *job_id, int64_t window_ms,
                                  char existing[EASEL_UUID_LEN + 1]);

/* Removes a job's entries from the delayed set (cancel of a waiting job).
 * *removed says whether one was there. */
easel_err easel_queue_cancel_delayed(struct easel_queue *q,
                                     const char *job_id, bool *removed);

/* Counters for `easel list`, metrics and tests, read in one consistent
 * snapshot. inflight sums the in-flight lists of registered controllers
 * and workers; controllers counts both (workers register like
 * controllers); pool is Q:pool's length (jobs waiting for a worker). */
struct easel_queue_stats {
    int64_t pending, inflight, leased, delayed, dead, controllers, pool;
};
easel_err easel_queue_stats(struct easel_queue *q,
                            struct easel_queue_stats *out);

/* *age_ms: how long the entry next to be claimed has waited, counted from
 * the first call that saw it there (producers' entries carry no time), or
 * -1 when nothing is pending. Records that sighting in Redis, so replicas
 * agree; the age is short by at most the interval between calls. */
easel_err easel_queue_oldest_age(struct easel_queue *q, int64_t *age_ms);

/* ------------------------------------------------------------- backlog */

/* The work waiting for a worker, the figure an autoscaler scales on:
 * pending (the pending list), delayed (waiting out a retry backoff) and
 * claimed but not started (raw entries in in-flight lists, and adopted jobs
 * whose attempt is not running yet: held for a model's concurrency slot or
 * rate limit, or dispatched to a pod that has not started), and pooled
 * (in the warm pool's list Q:pool, no worker has claimed them yet). A job
 * is in exactly one of the Redis places at any moment and they are read in
 * one script, so nothing is counted twice or missed. */
struct easel_backlog_model {
    char *model;     /* the entry's top-level "model"; "" when it has none
                      * (a plain payload whose model a payload rule picks) */
    int64_t pending, delayed, claimed, pooled;
};
struct easel_backlog {
    /* exact totals for the queue, whatever the scan bound */
    int64_t pending, delayed, claimed, pooled;
    /* the per-model split (by_model only), in first-seen order */
    struct easel_backlog_model *models;
    size_t nmodels;
    /* entries past max_scan: in the totals, in no model */
    int64_t unscanned;
};
/* Tells which claimed jobs have started: st[i] for ids[i] as an enum
 * easel_status, or -1 when the job has no record yet. easel_store's
 * easel_store_job_statuses has this shape. */
typedef easel_err (*easel_backlog_status_fn)(void *ud, const char *const *ids, size_t n,
                                             int *st);
struct easel_backlog_opts {
    bool by_model;    /* split by model (decodes entries; see max_scan) */
    size_t max_scan;  /* entries decoded for the split at most; 0 = 100000 */
    /* NULL: every adopted job counts as started (only raw in-flight
     * entries are "claimed"). Else a claimed job counts unless its status
     * is running or terminal. */
    easel_backlog_status_fn status;
    void *status_ud;
};
/* Fills *out (cleared first; release with easel_backlog_cleanup, also on
 * failure). Totals are O(1) in Redis apart from the claims hash, which is
 * as large as the jobs held; the split decodes up to max_scan entries in
 * one script, so Redis is busy for a few microseconds an entry (25 ms
 * for 10,000 in tests/e2e/test_external_metrics.sh). A failing status callback fails the call with its
 * error. Read only. */
easel_err easel_queue_backlog(struct easel_queue *q, const struct easel_backlog_opts *o,
                              struct easel_backlog *out);
void easel_backlog_cleanup(struct easel_backlog *b);

/* Reads up to max dead letters (newest first) as JSON strings (malloc'd, in
 * out[].raw; free with easel_queue_entries_free). */
easel_err easel_queue_dead_list(struct easel_queue *q, size_t max,
                                struct easel_queue_entry *out, size_t *n);

/* ------------------------------------------------------------ warm pool */

/* Hands a job this connection's owner holds the lease of to the warm pool:
 * in one step the lease and owner are dropped and the canonical entry
 * (with "id") is LPUSHed on Q:pool, behind what already waits; the claim
 * keeps the entry for retry and dead letters. A controller calls it for a
 * job of an `executor: pool` model once it is recorded; a worker calls it
 * to give back a job whose model gate is closed. *put (may be NULL) is
 * false, and nothing changed, when the lease is no longer the caller's
 * (taken over meanwhile). Needs an owner id (controller or worker id). */
easel_err easel_queue_pool_put(struct easel_queue *q, const char *job_id,
                               const char *entry, bool *put);

/* A worker's claim: up to `max` canonical entries from Q:pool, oldest
 * first, each leased to this connection's id (a worker id, opened as the
 * controller_id) and its liveness refreshed, as easel_queue_claim does for
 * a controller. When the pool is empty, blocks in Redis for up to block_ms
 * (shortened to lease/2), no polling. Renew the leases with
 * easel_queue_renew and end them with ack, retry, dead or pool_put. A
 * worker that dies is recovered like a controller: entries in its
 * in-flight list go back to the pending list (recover_inflight), its
 * leases are taken over (take_expired). Entries are freed with
 * easel_queue_entries_free. */
easel_err easel_queue_pool_claim(struct easel_queue *q, size_t max, int64_t block_ms,
                                 struct easel_queue_entry *out, size_t *n);

/* ------------------------------------------------------ circuit breakers */

/* One breaker per provider endpoint, shared by every process that uses
 * this Redis: closed (calls go through), open (calls are refused until the
 * cooldown ends), half-open (one probe call decides). */
enum easel_breaker_state { EASEL_BREAKER_CLOSED, EASEL_BREAKER_OPEN, EASEL_BREAKER_HALF_OPEN };

/* May a call go to endpoint now? *allowed is false while the breaker is
 * open, with *retry_in_ms until a probe may go; *probe is true for the one
 * caller let through after the cooldown. */
easel_err easel_queue_breaker_allow(struct easel_queue *q, const char *endpoint,
                                    int64_t cooldown_ms, bool *allowed, bool *probe,
                                    int64_t *retry_in_ms);
/* Records a call's outcome: a success closes the breaker; the threshold-th
 * consecutive failure, or a failed probe, opens it for cooldown_ms. *state
 * is the state after, *changed whether this call changed it. */
easel_err easel_queue_breaker_record(struct easel_queue *q, const char *endpoint, bool ok,
                                     int threshold, int64_t cooldown_ms,
                                     enum easel_breaker_state *state, bool *changed);

/* Every breaker this Redis holds for the queue, for `easel breakers` and
 * metrics. An open breaker whose cooldown is over reads as half-open: the
 * next call is its probe. Free with easel_breaker_list_free. */
struct easel_breaker_info {
    char *endpoint;              /* "<provider> <base URL>" */
    char *provider;              /* the endpoint's first word, whole (a label) */
    const char *base;            /* the base URL, inside endpoint ("" if none) */
    enum easel_breaker_state state;
    int64_t failures;            /* consecutive, while closed */
    int64_t retry_in_ms;         /* open: until a probe may go */
    int64_t opens;               /* times opened (the hash lives a day past its last change) */
};
easel_err easel_queue_breakers(struct easel_queue *q, struct easel_breaker_info **out,
                               size_t *n);
void easel_breaker_list_free(struct easel_breaker_info *b, size_t n);
const char *easel_breaker_state_name(enum easel_breaker_state s);

/* ------------------------------------------ per-model limits, all replicas */

/* A rate limit shared by every controller: at most `requests` takes per
 * per_ms, as a sliding window on the Redis clock. *ok false when the
 * window is full, with *wait_ms until a take can succeed. `who` makes the
 * logged take unique (a job id). */
easel_err easel_queue_rate_take(struct easel_queue *q, const char *model, int requests,
                                int64_t per_ms, const char *who, bool *ok, int64_t *wait_ms);
/* A concurrency slot shared by every controller: job_id gets (or keeps) one
 * of `limit` slots of the model for hold_ms at most, so a controller that
 * dies leaks none for longer. *ok false when all are taken. */
easel_err easel_queue_slot_take(struct easel_queue *q, const char *model, int limit,
                                const char *job_id, int64_t hold_ms, bool *ok);
easel_err easel_queue_slot_release(struct easel_queue *q, const char *model, const char *job_id);

#endif
