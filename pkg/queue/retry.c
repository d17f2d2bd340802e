/*
 * retry.c - where jobs go when they did not succeed: the delayed set for
 * retries (with promotion back to the pending list when due, and cancel of a
 * waiting retry), the head of the queue for a taken-over job its new holder
 * has no slot for (requeue), and the dead-letter list (dead, reject,
 * undead).
 *
 * Each of these moves a job from one place to another, so each is one
 * script (see scripts.c): a job is never in two places, nor in none.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

/* Runs a script whose reply is one integer. */
static easel_err run_int(struct easel_queue *q, struct queue_argv *a,
                         const char *what, long long *out)
{
    redisReply *r = NULL;
    easel_err rc = queue_exec(q, a, what, &r);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, what, r);
    else
        *out = r->integer;
    freeReplyObject(r);
    return rc;
}

/* Retry and requeue: the same checks and the same answer, a script and
 * its keys apart. due_ms is passed only to a script that takes one. */
static easel_err move_job(struct easel_queue *q, const char *what, enum queue_script_id script,
                          const enum queue_key *keys, size_t nkeys, const char *job_id,
                          const int64_t *due_ms, const char *entry)
{
    struct queue_argv a;
    long long done = 0;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    if (entry && !*entry)
        return queue_invalid(q, "queue %s: empty entry", what);
    queue_argv_init(&a);
    queue_argv_script(&a, q, script, (int)nkeys);
    for (size_t i = 0; i < nkeys; i++)
        queue_argv_key(&a, q, keys[i]);
    queue_argv_str(&a, job_id);
    if (due_ms)
        queue_argv_i64(&a, *due_ms);
    if (entry)
        queue_argv_str(&a, entry);
    rc = run_int(q, &a, what, &done);
    if (!rc && !done) {
        easel_fmt_cut(q->errstr, sizeof(q->errstr),
                      "queue %s: job %s is neither claimed nor waiting and no entry was given",
                      what, job_id);
        rc = EASEL_ENOTFOUND;
    }
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_retry(struct easel_queue *q, const char *job_id,
                            const char *entry, int64_t due_ms)
{
    static const enum queue_key keys[] = {QK_CLAIMS, QK_LEASES, QK_OWNERS, QK_DELAYED,
                                          QK_DELAYED_IDS};
    return move_job(q, "retry", QUEUE_SCRIPT_RETRY, keys, sizeof(keys) / sizeof(keys[0]),
                    job_id, &due_ms, entry);
}

easel_err easel_queue_requeue(struct easel_queue *q, const char *job_id,
                              const char *entry)
{
    static const enum queue_key keys[] = {QK_CLAIMS, QK_LEASES, QK_OWNERS, QK_PENDING,
                                          QK_DELAYED, QK_DELAYED_IDS};
    return move_job(q, "requeue", QUEUE_SCRIPT_REQUEUE, keys, sizeof(keys) / sizeof(keys[0]),
                    job_id, NULL, entry);
}

easel_err easel_queue_promote(struct easel_queue *q, size_t max,
                              size_t *moved, int64_t *next_due_ms)
{
    struct queue_argv a;
    redisReply *r = NULL;
    double next = 0;
    easel_err rc;

    if (moved)
        *moved = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    if (!q)
        return EASEL_EINVAL;
    if (max == 0)
        return queue_invalid(q, "queue promote: max must be > 0");
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_PROMOTE, 3);
    queue_argv_key(&a, q, QK_DELAYED);
    queue_argv_key(&a, q, QK_DELAYED_IDS);
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_i64(&a, (int64_t)max);
    rc = queue_exec(q, &a, "promote", &r);
    if (rc)
        goto out;
    /* {moved, next due score as Redis prints it ("1732300000000")} */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING ||
        easel_parse_double(r->element[1]->str, &next) ||
        next < 0 || next > 9.0e15) {
        rc = queue_bad_reply(q, "promote", r);
    } else {
        if (moved)
            *moved = (size_t)r->element[0]->integer;
        if (next_due_ms)
            *next_due_ms = (int64_t)ceil(next);
    }
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_cancel_delayed(struct easel_queue *q,
                                     const char *job_id, bool *removed)
{
    struct queue_argv a;
    long long n = 0;
    easel_err rc;

    if (removed)
        *removed = false;
    if (!q)
        return EASEL_EINVAL;
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_CANCEL_DELAYED, 2);
    queue_argv_key(&a, q, QK_DELAYED);
    queue_argv_key(&a, q, QK_DELAYED_IDS);
    queue_argv_str(&a, job_id);
    rc = run_int(q, &a, "cancel_delayed", &n);
    if (!rc && removed)
        *removed = n > 0;
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_dead(struct easel_queue *q, const char *job_id,
                           const char *entry, const char *reason,
                           const char *message)
{
    struct queue_argv a;
    long long done = 0;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_DEAD, 6);
    queue_argv_key(&a, q, QK_CLAIMS);
    queue_argv_key(&a, q, QK_LEASES);
    queue_argv_key(&a, q, QK_OWNERS);
    queue_argv_key(&a, q, QK_DEAD);
    queue_argv_key(&a, q, QK_DELAYED);
    queue_argv_key(&a, q, QK_DELAYED_IDS);
    queue_argv_str(&a, job_id);
    queue_argv_str(&a, reason ? reason : "");
    queue_argv_str(&a, message ? message : "");
    if (entry)
        queue_argv_str(&a, entry);
    rc = run_int(q, &a, "dead", &done);
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_reject(struct easel_queue *q, const char *raw,
                             size_t raw_len, const char *reason,
                             const char *message)
{
    struct queue_argv a;
    long long was = 0;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    if (!raw)
        return queue_invalid(q, "queue reject: no entry");
    if (!q->cid)
        return queue_invalid(q, "queue reject: opened without a controller id");
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_REJECT, 2);
    queue_argv_key(&a, q, QK_INFLIGHT);
    queue_argv_key(&a, q, QK_DEAD);
    queue_argv_add(&a, raw, raw_len);
    queue_argv_str(&a, reason ? reason : "");
    queue_argv_str(&a, message ? message : "");
    rc = run_int(q, &a, "reject", &was);
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_undead(struct easel_queue *q, const char *job_id,
                             bool *found)
{
    struct queue_argv a;
    long long n = 0;
    easel_err rc;

    if (found)
        *found = false;
    if (!q)
        return EASEL_EINVAL;
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_UNDEAD, 1);
    queue_argv_key(&a, q, QK_DEAD);
    queue_argv_str(&a, job_id);
    rc = run_int(q, &a, "undead", &n);
    if (!rc && found)
        *found = n > 0;
    queue_argv_cleanup(&a);
    return rc;
}
