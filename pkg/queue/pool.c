/*
 * pool.c - the warm pool's side of the queue: the controller hands a job
 * it has taken in to the pool list (pool_put), `easel worker` processes
 * claim from it with the same leases as a controller (pool_claim), and the
 * backlog that an autoscaler reads counts what waits anywhere, once.
 *
 * A worker is a lease holder like a controller: its id is registered in
 * Q:controllers while it lives, a blocking claim moves an entry into its
 * own Q:inflight:<id> list first, and the claim script leases that entry
 * to it. So a worker that dies after the blocking move has its entry put
 * back by any controller's recover_inflight, and one that dies holding a
 * lease has it taken over by the controller's take_expired, as for a
 * controller that died.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

easel_err easel_queue_pool_put(struct easel_queue *q, const char *job_id,
                               const char *entry, bool *put)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (put)
        *put = false;
    if (!q)
        return EASEL_EINVAL;
    if (!q->cid)
        return queue_invalid(q, "queue pool_put: opened without an owner id");
    if (!entry || !*entry)
        return queue_invalid(q, "queue pool_put: needs the canonical entry");
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_POOL_PUT, 4);
    queue_argv_key(&a, q, QK_LEASES);
    queue_argv_key(&a, q, QK_OWNERS);
    queue_argv_key(&a, q, QK_CLAIMS);
    queue_argv_key(&a, q, QK_POOL);
    queue_argv_str(&a, q->cid);
    queue_argv_str(&a, job_id);
    queue_argv_str(&a, entry);
    rc = queue_exec(q, &a, "pool_put", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, "pool_put", r);
    else if (put)
        *put = r->integer == 1;
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

static void pool_claim_args(struct queue_argv *a, const struct easel_queue *q, size_t max)
{
    queue_argv_script(a, q, QUEUE_SCRIPT_POOL_CLAIM, 6);
    queue_argv_key(a, q, QK_POOL);
    queue_argv_key(a, q, QK_INFLIGHT);
    queue_argv_key(a, q, QK_CONTROLLERS);
    queue_argv_key(a, q, QK_LEASES);
    queue_argv_key(a, q, QK_OWNERS);
    queue_argv_key(a, q, QK_CLAIMS);
    queue_argv_i64(a, (int64_t)max);
    queue_argv_i64(a, q->lease_ms);
    queue_argv_str(a, q->cid);
}

easel_err easel_queue_pool_claim(struct easel_queue *q, size_t max, int64_t block_ms,
                                 struct easel_queue_entry *out, size_t *n)
{
    struct queue_argv a[2];
    redisReply *r[2] = {NULL, NULL};
    char secs[32];
    easel_err rc;

    if (n)
        *n = 0;
    if (!q)
        return EASEL_EINVAL;
    if (!out || !n || max == 0 || block_ms < 0)
        return queue_invalid(q, "queue pool_claim: needs an output array, max > 0 "
                                "and block_ms >= 0");
    if (!q->cid)
        return queue_invalid(q, "queue pool_claim: opened without a worker id");
    if (max > QUEUE_MAX_CLAIM)
        max = QUEUE_MAX_CLAIM;
    queue_argv_init(&a[0]);
    queue_argv_init(&a[1]);
    pool_claim_args(&a[0], q, max);
    rc = queue_exec(q, &a[0], "pool_claim", &r[0]);
    if (rc)
        goto out;
    if (r[0]->type != REDIS_REPLY_ARRAY) {
        rc = queue_bad_reply(q, "pool_claim", r[0]);
        goto out;
    }
    if (r[0]->elements > 0 || block_ms == 0) {
        rc = queue_take_strings(q, r[0], 0, out, max, n, "pool_claim");
        goto out;
    }
    freeReplyObject(r[0]);
    r[0] = NULL;

    /* Nothing waiting: block in Redis, as a controller's claim does. The
     * moved entry lands in this worker's in-flight list, and the claim
     * script pipelined behind the move leases it (with whatever else came)
     * before any other command runs. Never past half the liveness. */
    int64_t block = block_ms;
    if (block > q->lease_ms / 2)
        block = q->lease_ms / 2 > 0 ? q->lease_ms / 2 : 1;
    easel_snprintf(secs, sizeof(secs), "%.3f", (double)block / 1000.0);
    queue_argv_cleanup(&a[0]);
    queue_argv_str(&a[0], "BLMOVE");
    queue_argv_key(&a[0], q, QK_POOL);
    queue_argv_key(&a[0], q, QK_INFLIGHT);
    queue_argv_str(&a[0], "RIGHT");
    queue_argv_str(&a[0], "LEFT");
    queue_argv_str(&a[0], secs);
    pool_claim_args(&a[1], q, max);
    rc = queue_set_timeout(q, QUEUE_IO_TIMEOUT_MS + block);
    if (rc)
        goto out;
    rc = queue_pipeline(q, a, 2, "pool_claim", r);
    if (rc != EASEL_ECONN) {
        easel_err trc = queue_set_timeout(q, QUEUE_IO_TIMEOUT_MS);
        if (!rc)
            rc = trc;
    }
    if (rc)
        goto out;
    /* the moved entry (if any) is among the script's: it leased it */
    rc = queue_take_strings(q, r[1], 0, out, max, n, "pool_claim");
out:
    for (int i = 0; i < 2; i++) {
        if (r[i])
            freeReplyObject(r[i]);
        queue_argv_cleanup(&a[i]);
    }
    return rc;
}

