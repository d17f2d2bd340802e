/*
 * stats.c - read-only views of a queue: the counters that `easel list`,
 * /metrics and tests show, and the dead letters for a person to inspect.
 * Nothing here changes the queue, so these are safe to call from any tool
 * at any time (the oldest entry's age keeps a sighting beside the list).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

easel_err easel_queue_stats(struct easel_queue *q,
                            struct easel_queue_stats *out)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!q)
        return EASEL_EINVAL;
    if (!out)
        return queue_invalid(q, "queue stats: no output record");
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_STATS, 6);
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_key(&a, q, QK_CONTROLLERS);
    queue_argv_key(&a, q, QK_LEASES);
    queue_argv_key(&a, q, QK_DELAYED);
    queue_argv_key(&a, q, QK_DEAD);
    queue_argv_key(&a, q, QK_POOL);
    queue_argv_key(&a, q, QK_INFLIGHT_PREFIX);
    rc = queue_exec(q, &a, "stats", &r);
    if (rc)
        goto out;
    /* pending, inflight, leased, delayed, dead, controllers, pool */
    int64_t *field[] = {&out->pending, &out->inflight, &out->leased,
                        &out->delayed, &out->dead,     &out->controllers,
                        &out->pool};
    size_t nf = sizeof(field) / sizeof(field[0]);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nf) {
        rc = queue_bad_reply(q, "stats", r);
        goto done;
    }
    for (size_t i = 0; i < nf; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) {
            memset(out, 0, sizeof(*out));
            rc = queue_bad_reply(q, "stats", r->element[i]);
            goto done;
        }
        *field[i] = r->element[i]->integer;
    }
done:
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_oldest_age(struct easel_queue *q, int64_t *age_ms)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (age_ms)
        *age_ms = -1;
    if (!q || !age_ms)
        return q ? queue_invalid(q, "queue oldest: no output") : EASEL_EINVAL;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_OLDEST, 1);
    queue_argv_key(&a, q, QK_PENDING);
    rc = queue_exec(q, &a, "oldest", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, "oldest", r);
    else
        *age_ms = r->integer;
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_dead_list(struct easel_queue *q, size_t max,
                                struct easel_queue_entry *out, size_t *n)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (n)
        *n = 0;
    if (!q)
        return EASEL_EINVAL;
    if (!out || !n || max == 0)
        return queue_invalid(q, "queue dead_list: needs an output array, a "
                                "count and max > 0");
    queue_argv_init(&a);
    queue_argv_str(&a, "LRANGE");
    queue_argv_key(&a, q, QK_DEAD);
    queue_argv_i64(&a, 0);
    queue_argv_i64(&a, (uint64_t)max > (uint64_t)INT64_MAX ? INT64_MAX
                                                        : (int64_t)max - 1);
    rc = queue_exec(q, &a, "dead_list", &r);
    if (rc)
        goto out;
    rc = queue_take_strings(q, r, 0, out, max, n, "dead_list");
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}
