/*
 * claim.c - how entries get into the queue and into a controller's hands:
 * push, the idempotency window, claim, and putting claimed but unadopted
 * entries back (release for this controller, recover for dead ones).
 *
 * Claim is the hot path, so it is built to cost one round trip when work is
 * waiting and to wake within a round trip of a push when none is: the claim
 * script takes a whole batch at once; when it finds nothing, one BLMOVE
 * blocks in Redis (never a polling sleep), pipelined with a second claim
 * script run that Redis executes right after BLMOVE returns. That second run
 * refreshes the controller's liveness and adds whatever else arrived, with
 * no extra round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

void easel_queue_entries_free(struct easel_queue_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].raw);
        e[i].raw = NULL;
        e[i].len = 0;
    }
}

easel_err easel_queue_push(struct easel_queue *q, const char *entry,
                           size_t len)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    if (!entry || len == 0)
        return queue_invalid(q, "queue push: empty entry");
    queue_argv_init(&a);
    queue_argv_str(&a, "LPUSH");
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_add(&a, entry, len);
    rc = queue_exec(q, &a, "push", &r);
    if (!rc)
        freeReplyObject(r);
    queue_argv_cleanup(&a);
    if (!rc)
        rc = queue_wait_replicas(q, "push");
    return rc;
}

easel_err easel_queue_idempotency(struct easel_queue *q, const char *key,
                                  const char *job_id, int64_t window_ms,
                                  char existing[EASEL_UUID_LEN + 1])
{
    struct queue_argv a;
    redisReply *r = NULL;
    char *k = NULL;
    easel_err rc;

    if (!q)
        return EASEL_EINVAL;
    if (existing)
        existing[0] = '\0';
    if (!key || !*key || !existing || window_ms <= 0)
        return queue_invalid(q, "queue idempotency: needs a key, a positive "
                                "window and an output buffer");
    rc = queue_check_id(q, job_id);
    if (rc)
        return rc;
    k = easel_asprintf("%s%s", q->key[QK_IDEM_PREFIX], key);
    if (!k)
        return EASEL_ENOMEM;
    /* SET NX GET (Redis >= 7.0): records the key or returns the id it
     * already maps to, in one atomic command. */
    queue_argv_init(&a);
    queue_argv_str(&a, "SET");
    queue_argv_str(&a, k);
    queue_argv_str(&a, job_id);
    queue_argv_str(&a, "NX");
    queue_argv_str(&a, "GET");
    queue_argv_str(&a, "PX");
    queue_argv_i64(&a, window_ms);
    rc = queue_exec(q, &a, "idempotency", &r);
    if (rc)
        goto out;
    if (r->type == REDIS_REPLY_STRING) {
        if (easel_strlcpy(existing, r->str, EASEL_UUID_LEN + 1) >
            EASEL_UUID_LEN) {
            existing[0] = '\0';
            rc = queue_bad_reply(q, "idempotency", r);
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        rc = queue_bad_reply(q, "idempotency", r);
    }
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    free(k);
    return rc;
}

static void claim_args(struct queue_argv *a, const struct easel_queue *q,
                       size_t max)
{
    queue_argv_script(a, q, QUEUE_SCRIPT_CLAIM, 3);
    queue_argv_key(a, q, QK_PENDING);
    queue_argv_key(a, q, QK_INFLIGHT);
    queue_argv_key(a, q, QK_CONTROLLERS);
    queue_argv_i64(a, (int64_t)max);
    queue_argv_i64(a, q->lease_ms);
    queue_argv_str(a, q->cid);
}

easel_err queue_claim_from(struct easel_queue *q, const struct queue_claim_way *w,
                           size_t max, int64_t block_ms, struct easel_queue_entry *out,
                           size_t *n)
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
        return queue_invalid(q, "queue %s: needs an output array, max > 0 "
                                "and block_ms >= 0", w->what);
    if (!q->cid)
        return queue_invalid(q, "queue %s: opened without a %s id", w->what, w->owner);
    if (max > QUEUE_MAX_CLAIM)
        max = QUEUE_MAX_CLAIM;
    queue_argv_init(&a[0]);
    queue_argv_init(&a[1]);

    w->args(&a[0], q, max);
    rc = queue_exec(q, &a[0], w->what, &r[0]);
    if (rc)
        goto out;
    if (r[0]->type != REDIS_REPLY_ARRAY) {
        rc = queue_bad_reply(q, w->what, r[0]);
        goto out;
    }
    if (r[0]->elements > 0 || block_ms == 0) {
        rc = queue_take_strings(q, r[0], 0, out, max, n, w->what);
        goto out;
    }
    freeReplyObject(r[0]);
    r[0] = NULL;

    /* Nothing waiting: block. The liveness deadline was just set to
     * now + lease; never block past half of it, so that this owner cannot
     * look dead (and have an entry it is about to receive recovered under
     * it) while it waits. The moved entry lands in the owner's in-flight
     * list, and the script pipelined behind the move runs before any other
     * command. */
    int64_t block = block_ms;
    if (block > q->lease_ms / 2)
        block = q->lease_ms / 2 > 0 ? q->lease_ms / 2 : 1;
    easel_snprintf(secs, sizeof(secs), "%.3f", (double)block / 1000.0);
    queue_argv_cleanup(&a[0]);
    queue_argv_str(&a[0], "BLMOVE");
    queue_argv_key(&a[0], q, w->source);
    queue_argv_key(&a[0], q, QK_INFLIGHT);
    queue_argv_str(&a[0], "RIGHT");
    queue_argv_str(&a[0], "LEFT");
    queue_argv_str(&a[0], secs);
    w->args(&a[1], q, w->script_takes_moved ? max : max - 1);

    rc = queue_set_timeout(q, QUEUE_IO_TIMEOUT_MS + block);
    if (rc)
        goto out;
    rc = queue_pipeline(q, a, 2, w->what, r);
    if (rc != EASEL_ECONN) {
        easel_err trc = queue_set_timeout(q, QUEUE_IO_TIMEOUT_MS);
        if (!rc)
            rc = trc;
    }
    if (rc)
        goto out;
    if (!w->script_takes_moved) {
        if (r[0]->type == REDIS_REPLY_STRING) {
            /* The moved entry is the oldest; the script's come after it. */
            struct redisReply one = {.type = REDIS_REPLY_ARRAY, .elements = 1};
            struct redisReply *elem[1] = {r[0]};
            one.element = elem;
            rc = queue_take_strings(q, &one, 0, out, max, n, w->what);
            if (rc)
                goto out;
        } else if (r[0]->type != REDIS_REPLY_NIL) {
            rc = queue_bad_reply(q, w->what, r[0]);
            goto out;
        }
    }
    /* (a script that takes the moved entry lists it among its own) */
    rc = queue_take_strings(q, r[1], 0, out, max, n, w->what);
    if (rc) {
        easel_queue_entries_free(out, *n);
        *n = 0;
    }
out:
    for (int i = 0; i < 2; i++) {
        if (r[i])
            freeReplyObject(r[i]);
        queue_argv_cleanup(&a[i]);
    }
    return rc;
}

easel_err easel_queue_claim(struct easel_queue *q, size_t max,
                            int64_t block_ms, struct easel_queue_entry *out,
                            size_t *n)
{
    /* the claim script moves entries from the pending list to the
     * in-flight list, where they wait for adoption; after a blocking move,
     * which brought one itself, it is asked for one fewer */
    static const struct queue_claim_way way = {"claim", "controller", QK_PENDING, claim_args,
                                               false};
    return queue_claim_from(q, &way, max, block_ms, out, n);
}

easel_err easel_queue_release_inflight(struct easel_queue *q, size_t *moved)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (moved)
        *moved = 0;
    if (!q)
        return EASEL_EINVAL;
    if (!q->cid)
        return queue_invalid(q, "queue release: opened without a controller id");
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_RELEASE, 2);
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_key(&a, q, QK_INFLIGHT);
    rc = queue_exec(q, &a, "release", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, "release", r);
    else if (moved)
        *moved = (size_t)r->integer;
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}

easel_err easel_queue_recover_inflight(struct easel_queue *q, size_t *moved)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (moved)
        *moved = 0;
    if (!q)
        return EASEL_EINVAL;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_RECOVER, 2);
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_key(&a, q, QK_CONTROLLERS);
    queue_argv_key(&a, q, QK_INFLIGHT_PREFIX);
    rc = queue_exec(q, &a, "recover", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, "recover", r);
    else if (moved)
        *moved = (size_t)r->integer;
    freeReplyObject(r);
out:
    queue_argv_cleanup(&a);
    return rc;
}
