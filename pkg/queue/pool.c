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
    /* the pool's script leases the entry a blocking move brought among its
     * own, so it is asked for the full max */
    static const struct queue_claim_way way = {"pool_claim", "worker", QK_POOL,
                                               pool_claim_args, true};
    return queue_claim_from(q, &way, max, block_ms, out, n);
}

