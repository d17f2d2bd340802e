/*
 * lease.c - everything about a job while a controller holds it: adopting a
 * claimed entry as a job (which takes the lease), renewing leases, acking
 * finished jobs, and taking over leases whose holder stopped renewing.
 *
 * A lease is a deadline in Q:leases plus an owner in Q:owners; the job's
 * canonical entry sits in Q:claims for as long as the lease exists, so
 * whoever takes an expired lease over can dispatch the job again without
 * asking anyone. Batches are sent in one round trip: adopt runs one script
 * call per chunk of QUEUE_ADOPT_CHUNK entries, all chunks pipelined; ack is
 * three variadic commands, pipelined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

easel_err easel_queue_adopt(struct easel_queue *q,
                            const struct easel_queue_adopt *ad, size_t n)
{
    struct queue_argv *a = NULL;
    redisReply **r = NULL;
    size_t chunks, i;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    if (n == 0)
        return EASEL_OK;
    if (!ad)
        return queue_invalid(q, "queue adopt: no entries");
    if (!q->cid)
        return queue_invalid(q, "queue adopt: opened without a controller id");
    for (i = 0; i < n; i++) {
        if (!ad[i].raw || !ad[i].canonical)
            return queue_invalid(q, "queue adopt: entry %zu has no raw or "
                                    "canonical entry", i);
        rc = queue_check_id(q, ad[i].job_id);
        if (rc)
            return rc;
    }
    chunks = (n + QUEUE_ADOPT_CHUNK - 1) / QUEUE_ADOPT_CHUNK;
    a = calloc(chunks, sizeof(*a));
    r = calloc(chunks, sizeof(*r));
    rc = EASEL_ENOMEM;
    if (!a || !r) {
        easel_strlcpy(q->errstr, "queue adopt: out of memory",
                      sizeof(q->errstr));
        goto out;
    }
    for (size_t c = 0; c < chunks; c++) {
        size_t from = c * QUEUE_ADOPT_CHUNK;
        size_t to = from + QUEUE_ADOPT_CHUNK < n ? from + QUEUE_ADOPT_CHUNK : n;
        queue_argv_init(&a[c]);
        queue_argv_script(&a[c], q, QUEUE_SCRIPT_ADOPT, 5);
        queue_argv_key(&a[c], q, QK_INFLIGHT);
        queue_argv_key(&a[c], q, QK_CLAIMS);
        queue_argv_key(&a[c], q, QK_LEASES);
        queue_argv_key(&a[c], q, QK_OWNERS);
        queue_argv_key(&a[c], q, QK_CONTROLLERS);
        queue_argv_str(&a[c], q->cid);
        queue_argv_i64(&a[c], q->lease_ms);
        for (i = from; i < to; i++) {
            queue_argv_add(&a[c], ad[i].raw, ad[i].raw_len);
            queue_argv_str(&a[c], ad[i].job_id);
            queue_argv_str(&a[c], ad[i].canonical);
        }
    }
    rc = queue_pipeline(q, a, chunks, "adopt", r);
    if (rc)
        goto out;
    for (size_t c = 0; c < chunks; c++)
        freeReplyObject(r[c]);
    /* the job ids are about to be recorded in Postgres: a failover must
     * not bring back the entries without them */
    rc = queue_wait_replicas(q, "adopt");
out:
    for (size_t c = 0; a && c < chunks; c++)
        queue_argv_cleanup(&a[c]);
    free(a);
    free(r);
    return rc;
}

easel_err easel_queue_renew(struct easel_queue *q, const char *const *ids,
                            size_t n, bool *lost, size_t *nlost)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (nlost)
        *nlost = 0;
    for (size_t i = 0; lost && i < n; i++)
        lost[i] = false;
    if (!q)
        return EASEL_EINVAL;
    if (!q->cid)
        return queue_invalid(q, "queue renew: opened without a controller id");
    if (n && !ids)
        return queue_invalid(q, "queue renew: no ids");
    for (size_t i = 0; i < n; i++)
        if (!ids[i])
            return queue_invalid(q, "queue renew: id %zu is NULL", i);
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_RENEW, 3);
    queue_argv_key(&a, q, QK_LEASES);
    queue_argv_key(&a, q, QK_OWNERS);
    queue_argv_key(&a, q, QK_CONTROLLERS);
    queue_argv_str(&a, q->cid);
    queue_argv_i64(&a, q->lease_ms);
    for (size_t i = 0; i < n; i++)
        queue_argv_str(&a, ids[i]);
    rc = queue_exec(q, &a, "renew", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY) {
        rc = queue_bad_reply(q, "renew", r);
        goto done;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_INTEGER || e->integer < 0 ||
            (size_t)e->integer >= n) {
            rc = queue_bad_reply(q, "renew", e);
            goto done;
        }
        if (lost)
            lost[e->integer] = true;
    }
    if (nlost)
        *nlost = r->elements;
done:
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_ack(struct easel_queue *q, const char *const *ids,
                          size_t n)
{
    enum { PER_CHUNK = 3 };
    static const struct {
        const char *cmd;
        enum queue_key key;
    } steps[PER_CHUNK] = {
        /* the lease goes first: once it is gone nobody can take the job
         * over, whatever happens between the three commands */
        {"ZREM", QK_LEASES},
        {"HDEL", QK_OWNERS},
        {"HDEL", QK_CLAIMS},
    };
    struct queue_argv *a = NULL;
    redisReply **r = NULL;
    size_t chunks, cmds = 0;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    if (n == 0)
        return EASEL_OK;
    if (!ids)
        return queue_invalid(q, "queue ack: no ids");
    for (size_t i = 0; i < n; i++)
        if (!ids[i])
            return queue_invalid(q, "queue ack: id %zu is NULL", i);
    chunks = (n + QUEUE_ACK_CHUNK - 1) / QUEUE_ACK_CHUNK;
    a = calloc(chunks * PER_CHUNK, sizeof(*a));
    r = calloc(chunks * PER_CHUNK, sizeof(*r));
    rc = EASEL_ENOMEM;
    if (!a || !r) {
        easel_strlcpy(q->errstr, "queue ack: out of memory", sizeof(q->errstr));
        goto out;
    }
    for (size_t c = 0; c < chunks; c++) {
        size_t from = c * QUEUE_ACK_CHUNK;
        size_t to = from + QUEUE_ACK_CHUNK < n ? from + QUEUE_ACK_CHUNK : n;
        for (int s = 0; s < PER_CHUNK; s++, cmds++) {
            queue_argv_init(&a[cmds]);
            queue_argv_str(&a[cmds], steps[s].cmd);
            queue_argv_key(&a[cmds], q, steps[s].key);
            for (size_t i = from; i < to; i++)
                queue_argv_str(&a[cmds], ids[i]);
        }
    }
    rc = queue_pipeline(q, a, cmds, "ack", r);
    if (rc)
        goto out;
    for (size_t i = 0; i < cmds; i++)
        freeReplyObject(r[i]);
out:
    for (size_t i = 0; i < cmds; i++)
        queue_argv_cleanup(&a[i]);
    free(a);
    free(r);
    return rc;
}

easel_err easel_queue_take_expired(struct easel_queue *q, size_t max,
                                   char (*ids)[EASEL_UUID_LEN + 1],
                                   struct easel_queue_entry *entries,
                                   size_t *n)
{
    struct queue_argv a;
    redisReply *r = NULL;
    size_t got = 0;
    easel_err rc;

    if (n)
        *n = 0;
    if (!q)
        return EASEL_EINVAL;
    if (!ids || !entries || !n || max == 0)
        return queue_invalid(q, "queue take_expired: needs id and entry "
                                "arrays, a count and max > 0");
    if (!q->cid)
        return queue_invalid(q, "queue take_expired: opened without a "
                                "controller id");
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_TAKE_EXPIRED, 4);
    queue_argv_key(&a, q, QK_LEASES);
    queue_argv_key(&a, q, QK_OWNERS);
    queue_argv_key(&a, q, QK_CLAIMS);
    queue_argv_key(&a, q, QK_CONTROLLERS);
    queue_argv_i64(&a, (int64_t)max);
    queue_argv_i64(&a, q->lease_ms);
    queue_argv_str(&a, q->cid);
    rc = queue_exec(q, &a, "take_expired", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 ||
        r->elements / 2 > max) {
        rc = queue_bad_reply(q, "take_expired", r);
        goto done;
    }
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *id = r->element[i], *e = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || id->len > EASEL_UUID_LEN ||
            e->type != REDIS_REPLY_STRING) {
            rc = queue_bad_reply(q, "take_expired", id);
            break;
        }
        memcpy(ids[got], id->str, id->len);
        ids[got][id->len] = '\0';
        entries[got].raw = malloc(e->len + 1);
        if (!entries[got].raw) {
            rc = EASEL_ENOMEM;
            easel_strlcpy(q->errstr, "queue take_expired: out of memory",
                          sizeof(q->errstr));
            break;
        }
        memcpy(entries[got].raw, e->str, e->len);
        entries[got].raw[e->len] = '\0';
        entries[got].len = e->len;
        entries[got].claimed_us = easel_now_us();
        got++;
    }
    if (rc)
        easel_queue_entries_free(entries, got);
    else
        *n = got;
done:
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}
