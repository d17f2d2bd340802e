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
 *   Q:dead             list   dead letters: {"id","reason","error","entry","at"}
 *   Q:idem:<key>       string idempotency key -> job id, with a TTL (the window)
 *
 * A struct easel_queue is one connection; it is not thread-safe: use one per
 * thread. Every call that fails leaves the reason in q->errstr.
 */
#ifndef EASEL_QUEUE_H
#define EASEL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

struct easel_queue;

struct easel_queue_opts {
    const char *url;           /* redis://[:password@]host:port[/db] */
    const char *name;          /* pending list key, e.g. "easel:jobs" */
    const char *controller_id; /* owner of claims and leases; may be NULL for producers */
    int64_t lease_ms;          /* lease duration, e.g. 30000 */
    int64_t connect_timeout_ms;
};

/* Connects. On failure returns EASEL_ECONN (or EASEL_EINVAL for a bad URL)
 * and, when err != NULL, says why. *out is NULL on failure. */
easel_err easel_queue_open(const struct easel_queue_opts *o,
                           struct easel_queue **out, struct easel_error *err);
void easel_queue_free(struct easel_queue *q);
/* Last error text of this connection ("" if none). */
const char *easel_queue_errstr(const struct easel_queue *q);
/* Drops and re-establishes the connection (after Redis restarted). */
easel_err easel_queue_reconnect(struct easel_queue *q);

/* LPUSH one entry on the pending list. */
easel_err easel_queue_push(struct easel_queue *q, const char *entry,
                           size_t len);

/* One claimed entry. `raw` is malloc'd and owned by the array; free a batch
 * with easel_queue_entries_free(). */
struct easel_queue_entry {
    char *raw;
    size_t len;
    int64_t claimed_us; /* easel_now_us() when the claim returned */
};
void easel_queue_entries_free(struct easel_queue_entry *e, size_t n);

/* Claims up to `max` entries into this controller's in-flight list and
 * refreshes the controller's liveness deadline. Takes whatever is pending at
 * once; when nothing is, blocks in Redis (BLMOVE) for up to block_ms for the
 * next push (no polling). *n is 0 on timeout. */
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
 * canonical entry, takes the lease for this controller. Pipelined: one round
 * trip for the whole batch. */
easel_err easel_queue_adopt(struct easel_queue *q,
                            const struct easel_queue_adopt *a, size_t n);

/* Moves a raw in-flight entry that could not be understood straight to the
 * dead-letter list with the reason (malformed JSON, no usable fields). */
easel_err easel_queue_reject(struct easel_queue *q, const char *raw,
                             size_t raw_len, const char *reason,
                             const char *message);

/* Renews the leases this controller holds for the given jobs and its own
 * liveness. Leases held by someone else are not touched; their ids are
 * reported through lost[] (lost may be NULL), *nlost their count. */
easel_err easel_queue_renew(struct easel_queue *q, const char *const *ids,
                            size_t n, bool *lost, size_t *nlost);

/* Job finished (any terminal state): drops lease, owner and claim. Pipelined
 * for n ids. Idempotent. */
easel_err easel_queue_ack(struct easel_queue *q, const char *const *ids,
                          size_t n);

/* Retry later: moves the job's canonical entry (replacing it by `entry` when
 * not NULL, e.g. with an updated attempt) into the delayed set, due at wall
 * time due_ms, and drops the lease. Idempotent. */
easel_err easel_queue_retry(struct easel_queue *q, const char *job_id,
                            const char *entry, int64_t due_ms);

/* Dead letter: pushes {"id","reason","error","entry","at"} on the dead list
 * (replacing an earlier dead letter of the same id) and drops the lease. */
easel_err easel_queue_dead(struct easel_queue *q, const char *job_id,
                           const char *entry, const char *reason,
                           const char *message);

/* Removes the dead letter of job_id, if any (before a manual retry). *found
 * says whether there was one. */
easel_err easel_queue_undead(struct easel_queue *q, const char *job_id,
                             bool *found);

/* Moves delayed entries whose due time has passed back onto the pending list
 * (at most `max`). *moved is how many; *next_due_ms the due time of the next
 * waiting entry (0 if none), so callers can sleep exactly until then. */
easel_err easel_queue_promote(struct easel_queue *q, size_t max,
                              size_t *moved, int64_t *next_due_ms);

/* Recovery, part 1: for every controller whose liveness expired, moves its
 * in-flight (not yet adopted) entries back to the pending list and forgets
 * the controller. *moved counts entries. */
easel_err easel_queue_recover_inflight(struct easel_queue *q, size_t *moved);

/* Recovery, part 2: takes over up to `max` expired leases for this
 * controller. For each, returns the job id and canonical entry (malloc'd;
 * free with easel_queue_entries_free on `entries`; ids are 37-byte strings
 * in ids[]). */
easel_err easel_queue_take_expired(struct easel_queue *q, size_t max,
                                   char (*ids)[EASEL_UUID_LEN + 1],
                                   struct easel_queue_entry *entries,
                                   size_t *n);

/* Idempotency: records key -> job_id for window_ms unless the key is already
 * known; *existing receives the job id it was first seen with ("" when this
 * call recorded it). */
easel_err easel_queue_idempotency(struct easel_queue *q, const char *key,
                                  const char *job_id, int64_t window_ms,
                                  char existing[EASEL_UUID_LEN + 1]);

/* Removes a job's entries from the delayed set (cancel of a waiting job).
 * *removed says whether one was there. */
easel_err easel_queue_cancel_delayed(struct easel_queue *q,
                                     const char *job_id, bool *removed);

/* Counters for `easel list`, metrics and tests. */
struct easel_queue_stats {
    int64_t pending, inflight, leased, delayed, dead, controllers;
};
easel_err easel_queue_stats(struct easel_queue *q,
                            struct easel_queue_stats *out);

/* Reads up to max dead letters (newest first) as JSON strings (malloc'd, in
 * out[].raw). */
easel_err easel_queue_dead_list(struct easel_queue *q, size_t max,
                                struct easel_queue_entry *out, size_t *n);

#endif
