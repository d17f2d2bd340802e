/*
 * breaker.c - circuit breakers shared by every worker and controller: one
 * small hash per provider endpoint ("<Q>:breaker:<endpoint>"), changed only
 * by scripts (scripts.c), on the Redis server's clock.
 */
#include <stdio.h>
#include <string.h>

#include "queue_int.h"

/* "<Q>:<kind>:<name>" for an endpoint's breaker or a model's limits. */
static easel_err named_key(struct easel_queue *q, int prefix, const char *name, char **key)
{
    if (!name || !*name || strlen(name) > 512)
        return queue_invalid(q, "breakers and model limits: a name of 1 to 512 characters");
    *key = easel_asprintf("%s%s", q->key[prefix], name);
    return *key ? EASEL_OK : EASEL_ENOMEM;
}

/* Starts the call of `script` on the key "<Q>:<kind>:<name>", which *key
 * holds until named_exec makes the call. */
static easel_err named_call(struct easel_queue *q, int prefix, const char *name, int script,
                            struct queue_argv *a, char **key)
{
    easel_err rc = named_key(q, prefix, name, key);
    if (rc)
        return rc;
    queue_argv_init(a);
    queue_argv_script(a, q, script, 1);
    queue_argv_str(a, *key);
    return EASEL_OK;
}

static easel_err named_exec(struct easel_queue *q, struct queue_argv *a, char *key,
                            const char *what, redisReply **r)
{
    easel_err rc = queue_exec(q, a, what, r);
    free(key);
    return rc;
}

static bool int_at(const redisReply *r, size_t i, long long *v)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_INTEGER)
        return false;
    *v = r->element[i]->integer;
    return true;
}

/* "open", "half_open", anything else closed: as the scripts write them. */
static enum easel_breaker_state state_named(const char *s)
{
    return !strcmp(s, "open")        ? EASEL_BREAKER_OPEN
         : !strcmp(s, "half_open") ? EASEL_BREAKER_HALF_OPEN
                                   : EASEL_BREAKER_CLOSED;
}

easel_err easel_queue_breaker_allow(struct easel_queue *q, const char *endpoint,
                                    int64_t cooldown_ms, bool *allowed, bool *probe,
                                    int64_t *retry_in_ms)
{
    char *k = NULL;
    redisReply *r = NULL;
    struct queue_argv a;
    *allowed = true;
    *probe = false;
    *retry_in_ms = 0;
    if (!q)
        return EASEL_EINVAL;
    easel_err rc = named_call(q, QK_BREAKER_PREFIX, endpoint, QUEUE_SCRIPT_BREAKER_ALLOW, &a, &k);
    if (rc)
        return rc;
    queue_argv_i64(&a, cooldown_ms > 0 ? cooldown_ms : 30000);
    rc = named_exec(q, &a, k, "breaker allow", &r);
    long long ok = 1, pr = 0, wait = 0;
    if (!rc && !(int_at(r, 0, &ok) && int_at(r, 1, &pr) && int_at(r, 2, &wait)))
        rc = queue_bad_reply(q, "breaker allow", r);
    if (!rc) {
        *allowed = ok != 0;
        *probe = pr != 0;
        *retry_in_ms = wait;
    }
    freeReplyObject(r);
    return rc;
}

easel_err easel_queue_breaker_record(struct easel_queue *q, const char *endpoint, bool ok,
                                     int threshold, int64_t cooldown_ms,
                                     enum easel_breaker_state *state, bool *changed)
{
    char *k = NULL;
    redisReply *r = NULL;
    struct queue_argv a;
    *state = EASEL_BREAKER_CLOSED;
    *changed = false;
    if (!q)
        return EASEL_EINVAL;
    easel_err rc = named_call(q, QK_BREAKER_PREFIX, endpoint, QUEUE_SCRIPT_BREAKER_RECORD, &a, &k);
    if (rc)
        return rc;
    queue_argv_str(&a, ok ? "1" : "0");
    queue_argv_i64(&a, threshold > 0 ? threshold : 5);
    queue_argv_i64(&a, cooldown_ms > 0 ? cooldown_ms : 30000);
    rc = named_exec(q, &a, k, "breaker record", &r);
    long long ch = 0;
    if (!rc && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING || !int_at(r, 1, &ch)))
        rc = queue_bad_reply(q, "breaker record", r);
    if (!rc) {
        *state = state_named(r->element[0]->str);
        *changed = ch != 0;
    }
    freeReplyObject(r);
    return rc;
}

/* ------------------------------------------- per-model limits, all replicas */

easel_err easel_queue_rate_take(struct easel_queue *q, const char *model, int requests,
                                int64_t per_ms, const char *who, bool *ok, int64_t *wait_ms)
{
    char *k = NULL;
    redisReply *r = NULL;
    struct queue_argv a;
    *ok = true;
    *wait_ms = 0;
    if (!q || requests < 1 || per_ms < 1)
        return EASEL_EINVAL;
    easel_err rc = named_call(q, QK_RATE_PREFIX, model, QUEUE_SCRIPT_RATE_TAKE, &a, &k);
    if (rc)
        return rc;
    queue_argv_i64(&a, requests);
    queue_argv_i64(&a, per_ms);
    queue_argv_str(&a, who ? who : "-");
    rc = named_exec(q, &a, k, "rate take", &r);
    long long got = 1, w = 0;
    if (!rc && !(int_at(r, 0, &got) && int_at(r, 1, &w)))
        rc = queue_bad_reply(q, "rate take", r);
    if (!rc) {
        *ok = got != 0;
        *wait_ms = w;
    }
    freeReplyObject(r);
    return rc;
}

easel_err easel_queue_slot_take(struct easel_queue *q, const char *model, int limit,
                                const char *job_id, int64_t hold_ms, bool *ok)
{
    char *k = NULL;
    redisReply *r = NULL;
    struct queue_argv a;
    *ok = true;
    if (!q || limit < 1 || hold_ms < 1)
        return EASEL_EINVAL;
    easel_err rc = queue_check_id(q, job_id);
    if (!rc)
        rc = named_call(q, QK_RUNNING_PREFIX, model, QUEUE_SCRIPT_SLOT_TAKE, &a, &k);
    if (rc)
        return rc;
    queue_argv_i64(&a, limit);
    queue_argv_str(&a, job_id);
    queue_argv_i64(&a, hold_ms);
    rc = named_exec(q, &a, k, "slot take", &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER)
        rc = queue_bad_reply(q, "slot take", r);
    if (!rc)
        *ok = r->integer != 0;
    freeReplyObject(r);
    return rc;
}

easel_err easel_queue_slot_release(struct easel_queue *q, const char *model, const char *job_id)
{
    char *k = NULL;
    redisReply *r = NULL;
    if (!q)
        return EASEL_EINVAL;
    easel_err rc = queue_check_id(q, job_id);
    if (!rc)
        rc = named_key(q, QK_RUNNING_PREFIX, model, &k);
    if (rc)
        return rc;
    struct queue_argv a;
    queue_argv_init(&a);
    queue_argv_str(&a, "ZREM");
    queue_argv_str(&a, k);
    queue_argv_str(&a, job_id);
    rc = queue_exec(q, &a, "slot release", &r);
    freeReplyObject(r);
    free(k);
    return rc;
}

const char *easel_breaker_state_name(enum easel_breaker_state s)
{
    switch (s) {
    case EASEL_BREAKER_OPEN: return "open";
    case EASEL_BREAKER_HALF_OPEN: return "half_open";
    case EASEL_BREAKER_CLOSED: break;
    }
    return "closed";
}

void easel_breaker_list_free(struct easel_breaker_info *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++) {
        free(b[i].endpoint);
        free(b[i].provider);
    }
    free(b);
}

/* The SCAN pattern matching exactly the keys that start with prefix. */
static char *glob_prefix(const char *prefix)
{
    char *g = malloc(2 * strlen(prefix) + 2), *p = g;
    if (!g)
        return NULL;
    for (const char *s = prefix; *s; s++) {
        if (strchr("*?[]\\", *s))
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '*';
    *p = '\0';
    return g;
}

easel_err easel_queue_breakers(struct easel_queue *q, struct easel_breaker_info **out,
                               size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!q)
        return EASEL_EINVAL;
    char *pat = glob_prefix(q->key[QK_BREAKER_PREFIX]);
    if (!pat)
        return EASEL_ENOMEM;
    struct queue_argv a;
    redisReply *r = NULL;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_BREAKERS, 0);
    queue_argv_str(&a, pat); /* borrowed until the call is made */
    easel_err rc = queue_exec(q, &a, "breakers", &r);
    free(pat);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY) {
        rc = queue_bad_reply(q, "breakers", r);
        freeReplyObject(r);
        return rc;
    }
    struct easel_breaker_info *b = calloc(r->elements ? r->elements : 1, sizeof(*b));
    if (!b) {
        freeReplyObject(r);
        return EASEL_ENOMEM;
    }
    size_t plen = strlen(q->key[QK_BREAKER_PREFIX]), k = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        long long fails = 0, left = 0, opens = 0;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 5 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[1]->type != REDIS_REPLY_STRING || !int_at(e, 2, &fails) ||
            !int_at(e, 3, &left) || !int_at(e, 4, &opens) || e->element[0]->len < plen) {
            rc = queue_bad_reply(q, "breakers", e);
            break;
        }
        /* open with its cooldown over: the next call is the probe */
        b[k].state = state_named(e->element[1]->str);
        if (b[k].state == EASEL_BREAKER_OPEN && left <= 0)
            b[k].state = EASEL_BREAKER_HALF_OPEN;
        b[k].failures = fails;
        b[k].retry_in_ms = b[k].state == EASEL_BREAKER_OPEN ? left : 0;
        b[k].opens = opens;
        if (!(b[k].endpoint = easel_strdup(e->element[0]->str + plen))) {
            rc = EASEL_ENOMEM;
            break;
        }
        const char *sp = strchr(b[k].endpoint, ' ');
        /* a metrics label: copied whole (the char[32] it replaces cut it) */
        b[k].provider = easel_strndup(b[k].endpoint,
                                      sp ? (size_t)(sp - b[k].endpoint) : strlen(b[k].endpoint));
        k++; /* counted now so the list free below takes the endpoint too */
        if (!b[k - 1].provider) {
            rc = EASEL_ENOMEM;
            break;
        }
        b[k - 1].base = sp ? sp + 1 : "";
    }
    freeReplyObject(r);
    if (rc) {
        easel_breaker_list_free(b, k);
        return rc;
    }
    *out = b;
    *n = k;
    return EASEL_OK;
}
