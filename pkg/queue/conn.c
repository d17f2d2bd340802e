/*
 * conn.c - one Redis connection and the command layer every queue operation
 * goes through.
 *
 * It exists so that the operations in claim.c, lease.c, retry.c and stats.c
 * never deal with sockets or hiredis error flags: they build an argument
 * vector, call queue_exec or queue_pipeline, and get back one easel_err with
 * the detail left in q->errstr (as hiredis keeps c->errstr). The rules kept
 * here:
 *   - an I/O error, EOF or timeout leaves the reply stream out of step, so
 *     the connection is marked broken and every later call fails at once
 *     with EASEL_ECONN until easel_queue_reconnect() dials again;
 *   - an error reply is EASEL_EREDIS and leaves the connection usable;
 *   - scripts are loaded at connect time (SCRIPT LOAD) and called by SHA; a
 *     NOSCRIPT answer (script cache emptied) is retried once as EVAL, which
 *     also puts the script back in the cache.
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "queue_int.h"

/* ---------------------------------------------------------------- argv */

void queue_argv_init(struct queue_argv *a)
{
    a->v = a->v_inline;
    a->len = a->len_inline;
    a->n = 0;
    a->cap = QUEUE_ARGV_INLINE;
    a->script = -1;
    a->oom = false;
    a->nnum = 0;
}

void queue_argv_cleanup(struct queue_argv *a)
{
    if (!a)
        return;
    if (a->v != a->v_inline)
        free(a->v);
    if (a->len != a->len_inline)
        free(a->len);
    queue_argv_init(a);
}

static bool argv_grow(struct queue_argv *a)
{
    if (a->cap > SIZE_MAX / 2 / sizeof(*a->len))
        return false;
    size_t cap = a->cap * 2;
    const char **v = a->v == a->v_inline ? NULL : a->v;
    size_t *len = a->len == a->len_inline ? NULL : a->len;
    const char **nv = realloc(v, cap * sizeof(*nv));
    if (!nv)
        return false;
    if (!v)
        memcpy(nv, a->v_inline, a->n * sizeof(*nv));
    a->v = nv;
    size_t *nl = realloc(len, cap * sizeof(*nl));
    if (!nl)
        return false; /* a->v already grew; a->len keeps the old capacity */
    if (!len)
        memcpy(nl, a->len_inline, a->n * sizeof(*nl));
    a->len = nl;
    a->cap = cap;
    return true;
}

void queue_argv_add(struct queue_argv *a, const char *s, size_t len)
{
    if (a->oom)
        return;
    if (a->n == a->cap && !argv_grow(a)) {
        a->oom = true;
        return;
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void queue_argv_str(struct queue_argv *a, const char *s)
{
    queue_argv_add(a, s, strlen(s));
}

void queue_argv_i64(struct queue_argv *a, int64_t v)
{
    if (a->nnum == QUEUE_ARGV_NUMS) {
        a->oom = true; /* a programming error: more numbers than slots */
        return;
    }
    char *p = a->num[a->nnum++];
    easel_snprintf(p, sizeof(a->num[0]), "%lld", (long long)v);
    queue_argv_str(a, p);
}

void queue_argv_key(struct queue_argv *a, const struct easel_queue *q,
                    enum queue_key k)
{
    queue_argv_str(a, q->key[k]);
}

void queue_argv_script(struct queue_argv *a, const struct easel_queue *q,
                       enum queue_script_id s, int nkeys)
{
    a->script = (int)s;
    queue_argv_add(a, "EVALSHA", 7);
    queue_argv_add(a, q->sha[s], strlen(q->sha[s]));
    queue_argv_i64(a, nkeys);
}

/* ---------------------------------------------------------------- errors */

easel_err queue_invalid(struct easel_queue *q, const char *fmt, ...)
{
    if (q) {
        va_list ap;
        va_start(ap, fmt);
        easel_vfmt_cut(q->errstr, sizeof(q->errstr), fmt, ap);
        va_end(ap);
    }
    return EASEL_EINVAL;
}

easel_err queue_bad_reply(struct easel_queue *q, const char *what,
                          const redisReply *r)
{
    easel_snprintf(q->errstr, sizeof(q->errstr),
                   "redis %s: unexpected reply (type %d)", what,
                   r ? r->type : -1);
    return EASEL_EREDIS;
}

/* The connection can no longer be trusted: record why, mark it broken. */
static easel_err conn_broke(struct easel_queue *q, const char *what, int eno)
{
    const redisContext *c = q->c;
    int err = c ? c->err : REDIS_ERR_OTHER;
    const char *detail = c && c->errstr[0] ? c->errstr : "unknown error";
    easel_err rc = EASEL_ECONN;

    if (err == REDIS_ERR_EOF)
        detail = "server closed the connection";
    else if (err == REDIS_ERR_IO && (eno == EAGAIN || eno == EWOULDBLOCK))
        detail = "timed out waiting for the server";
    else if (err == REDIS_ERR_OOM)
        rc = EASEL_ENOMEM;
    q->broken = true;
    easel_snprintf(q->errstr, sizeof(q->errstr),
                   "redis %s: %s (connection dropped; call "
                   "easel_queue_reconnect)", what, detail);
    return rc;
}

easel_err queue_ready(struct easel_queue *q)
{
    if (q->c && !q->broken)
        return EASEL_OK;
    if (!q->errstr[0])
        easel_strlcpy(q->errstr, "redis: not connected (call "
                      "easel_queue_reconnect)", sizeof(q->errstr));
    return EASEL_ECONN;
}

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

easel_err queue_set_timeout(struct easel_queue *q, int64_t ms)
{
    easel_err rc = queue_ready(q);
    if (rc || q->timeout_ms == ms)
        return rc;
    if (redisSetTimeout(q->c, ms_to_tv(ms)) != REDIS_OK)
        return conn_broke(q, "set timeout", errno);
    q->timeout_ms = ms;
    return EASEL_OK;
}

/* ---------------------------------------------------------------- commands */

static bool is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           strncmp(r->str, "NOSCRIPT", 8) == 0;
}

easel_err queue_pipeline(struct easel_queue *q, struct queue_argv *a,
                         size_t n, const char *what, redisReply **r)
{
    easel_err rc;
    size_t i;

    for (i = 0; i < n; i++)
        r[i] = NULL;
    rc = queue_ready(q);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        if (a[i].oom) {
            easel_snprintf(q->errstr, sizeof(q->errstr),
                           "redis %s: out of memory building the command",
                           what);
            return EASEL_ENOMEM;
        }
    }
    for (i = 0; i < n; i++) {
        /* Fails only when out of memory; commands already appended would
         * then sit unsent in the output buffer, so the stream is lost. */
        if (redisAppendCommandArgv(q->c, (int)a[i].n, a[i].v, a[i].len) !=
            REDIS_OK) {
            rc = conn_broke(q, what, errno);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(q->c, &rep) != REDIS_OK) {
            rc = conn_broke(q, what, errno);
            goto out;
        }
        r[i] = rep;
    }
    for (i = 0; i < n; i++) {
        if (!is_noscript(r[i]) || a[i].script < 0)
            continue;
        const struct queue_script *s = &queue_scripts[a[i].script];
        easel_info(NULL, "redis script cache was emptied; sending the %s "
                   "script with EVAL", s->name);
        freeReplyObject(r[i]);
        r[i] = NULL;
        a[i].v[0] = "EVAL";
        a[i].len[0] = 4;
        a[i].v[1] = s->src;
        a[i].len[1] = strlen(s->src);
        r[i] = redisCommandArgv(q->c, (int)a[i].n, a[i].v, a[i].len);
        if (!r[i]) {
            rc = conn_broke(q, what, errno);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        if (r[i]->type != REDIS_REPLY_ERROR)
            continue;
        if (r[i]->str && strncmp(r[i]->str, "READONLY", 8) == 0) {
            /* The server became a replica: a failover moved the master
             * away. Like a dropped connection, this one is done; a
             * reconnect asks Sentinel for the new master. */
            q->broken = true;
            easel_snprintf(q->errstr, sizeof(q->errstr),
                           "redis %s: %s:%d is a read-only replica now (a failover); "
                           "reconnecting finds the master", what, q->addr.host,
                           q->addr.port);
            rc = EASEL_ECONN;
            goto out;
        }
        easel_snprintf(q->errstr, sizeof(q->errstr), "redis %s: %s",
                       what, r[i]->str ? r[i]->str : "error");
        rc = EASEL_EREDIS;
        goto out;
    }
out:
    if (rc) {
        for (i = 0; i < n; i++) {
            if (r[i])
                freeReplyObject(r[i]);
            r[i] = NULL;
        }
    }
    return rc;
}

easel_err queue_exec(struct easel_queue *q, struct queue_argv *a,
                     const char *what, redisReply **r)
{
    return queue_pipeline(q, a, 1, what, r);
}

easel_err queue_take_strings(struct easel_queue *q, const redisReply *r,
                             size_t from, struct easel_queue_entry *out,
                             size_t max, size_t *n, const char *what)
{
    size_t start = *n, k = start;
    int64_t now = easel_now_us();

    if (!r || r->type != REDIS_REPLY_ARRAY)
        return queue_bad_reply(q, what, r);
    for (size_t i = from; i < r->elements && k < max; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING) {
            easel_queue_entries_free(out + start, k - start);
            return queue_bad_reply(q, what, e);
        }
        char *p = malloc(e->len + 1);
        if (!p) {
            easel_queue_entries_free(out + start, k - start);
            easel_snprintf(q->errstr, sizeof(q->errstr),
                           "redis %s: out of memory copying an entry", what);
            return EASEL_ENOMEM;
        }
        memcpy(p, e->str, e->len);
        p[e->len] = '\0';
        out[k].raw = p;
        out[k].len = e->len;
        out[k].claimed_us = now;
        k++;
    }
    *n = k;
    return EASEL_OK;
}

easel_err queue_check_id(struct easel_queue *q, const char *job_id)
{
    if (!job_id || !*job_id)
        return queue_invalid(q, "queue: empty job id");
    if (strlen(job_id) > EASEL_UUID_LEN)
        return queue_invalid(q, "queue: job id longer than %d characters",
                             EASEL_UUID_LEN);
    return EASEL_OK;
}

/* ---------------------------------------------------------------- connect */

/* CLIENT SETNAME refuses spaces and control characters. */
static void client_name(const struct easel_queue *q, char *dst, size_t len)
{
    easel_snprintf(dst, len, "easel%s%s", q->cid ? ":" : "",
                   q->cid ? q->cid : "");
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            *p = '_';
}

/* Sentinel's answer for the master's address, as the Sentinel client
 * spec has it: each Sentinel in turn, with a short timeout; the first that
 * names the master moves to the front of the list, so the next dial asks
 * it first. */
static easel_err sentinel_master(struct easel_queue *q, struct queue_hostport *out)
{
    struct queue_url *u = &q->url;
    char last[200] = "no Sentinel answered";
    int64_t tmo = q->connect_timeout_ms < 500 ? q->connect_timeout_ms : 500;
    for (size_t i = 0; i < u->nsentinels; i++) {
        const struct queue_hostport *sn = &u->sentinels[i];
        redisContext *c = redisConnectWithTimeout(sn->host, sn->port, ms_to_tv(tmo));
        if (!c || c->err) {
            easel_snprintf(last, sizeof(last), "Sentinel %s:%d: %s", sn->host, sn->port,
                           c ? c->errstr : "out of memory");
            redisFree(c);
            continue;
        }
        redisReply *r = NULL;
        if (redisSetTimeout(c, ms_to_tv(tmo)) == REDIS_OK)
            r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", u->master);
        bool ok = false;
        if (!r) {
            easel_snprintf(last, sizeof(last), "Sentinel %s:%d: %s", sn->host, sn->port,
                           c->errstr[0] ? c->errstr : "no answer");
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[0]->type == REDIS_REPLY_STRING &&
                   r->element[1]->type == REDIS_REPLY_STRING &&
                   r->element[0]->len > 0 && r->element[0]->len < sizeof(out->host) &&
                   easel_parse_int(r->element[1]->str, 1, 65535, &out->port) == EASEL_OK) {
            memcpy(out->host, r->element[0]->str, r->element[0]->len);
            out->host[r->element[0]->len] = '\0';
            ok = true;
        } else if (r->type == REDIS_REPLY_NIL) {
            easel_snprintf(last, sizeof(last), "Sentinel %s:%d knows no master named %s",
                           sn->host, sn->port, u->master);
        } else {
            easel_snprintf(last, sizeof(last), "Sentinel %s:%d: %s", sn->host, sn->port,
                           r->type == REDIS_REPLY_ERROR && r->str ? r->str
                                                                  : "unexpected answer");
        }
        freeReplyObject(r);
        redisFree(c);
        if (ok) {
            if (i > 0) {
                struct queue_hostport first = u->sentinels[i];
                memmove(&u->sentinels[1], &u->sentinels[0], i * sizeof(u->sentinels[0]));
                u->sentinels[0] = first;
            }
            return EASEL_OK;
        }
    }
    easel_snprintf(q->errstr, sizeof(q->errstr), "redis-sentinel: no master for %s: %s",
                   u->master, last);
    return EASEL_ECONN;
}

easel_err queue_wait_replicas(struct easel_queue *q, const char *what)
{
    static int64_t warned_ms; /* one warning a minute, process-wide */
    if (!q->url.sentinel)
        return EASEL_OK;
    struct queue_argv a;
    redisReply *r = NULL;
    queue_argv_init(&a);
    queue_argv_str(&a, "WAIT");
    queue_argv_i64(&a, 1);
    queue_argv_i64(&a, QUEUE_WAIT_REPLICA_MS);
    easel_err rc = queue_exec(q, &a, what, &r);
    queue_argv_cleanup(&a);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_INTEGER && r->integer < 1) {
        int64_t now = easel_now_ms();
        int64_t prev = __atomic_load_n(&warned_ms, __ATOMIC_RELAXED);
        if (now - prev >= 60000 &&
            __atomic_compare_exchange_n(&warned_ms, &prev, now, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            easel_warn(NULL, "redis %s: no replica of %s confirmed the write within %d ms; "
                       "a failover now could lose it", what, q->url.master,
                       QUEUE_WAIT_REPLICA_MS);
    }
    freeReplyObject(r);
    return EASEL_OK;
}

/* Connects, authenticates, selects the database, names the client and
 * loads the scripts: one connect plus one round trip (with Sentinel, the
 * Sentinels are asked for the master first, and ROLE rides in that round
 * trip). On failure q->c is NULL, q->broken set and errstr says why;
 * returns EASEL_ECONN (or EASEL_ENOMEM). */
static easel_err dial(struct easel_queue *q)
{
    struct queue_argv a[4 + QUEUE_SCRIPT_COUNT];
    redisReply *r[4 + QUEUE_SCRIPT_COUNT];
    char name[QUEUE_MAX_NAME + 16];
    size_t n = 0, first_script, role = 0;
    easel_err rc = EASEL_OK;

    q->broken = true;
    q->timeout_ms = 0;
    easel_strlcpy(q->addr.host, q->url.host, sizeof(q->addr.host));
    q->addr.port = q->url.port;
    if (q->url.sentinel && (rc = sentinel_master(q, &q->addr)) != EASEL_OK)
        return rc;
    q->c = redisConnectWithTimeout(q->addr.host, q->addr.port,
                                   ms_to_tv(q->connect_timeout_ms));
    if (!q->c) {
        easel_strlcpy(q->errstr, "redis connect: out of memory",
                      sizeof(q->errstr));
        return EASEL_ENOMEM;
    }
    if (q->c->err) {
        easel_snprintf(q->errstr, sizeof(q->errstr),
                       "cannot connect to redis at %s:%d%s%s: %s", q->addr.host,
                       q->addr.port, q->url.sentinel ? ", the master Sentinel named for " : "",
                       q->url.sentinel ? q->url.master : "", q->c->errstr);
        redisFree(q->c);
        q->c = NULL;
        return EASEL_ECONN;
    }
    q->broken = false;
    rc = queue_set_timeout(q, QUEUE_IO_TIMEOUT_MS);
    if (rc)
        goto out;
    redisEnableKeepAlive(q->c);

    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        queue_argv_init(&a[i]);
    if (q->url.has_pass) {
        queue_argv_str(&a[n], "AUTH");
        if (q->url.has_user)
            queue_argv_str(&a[n], q->url.user);
        queue_argv_str(&a[n], q->url.pass);
        n++;
    }
    if (q->url.db != 0) {
        queue_argv_str(&a[n], "SELECT");
        queue_argv_i64(&a[n], q->url.db);
        n++;
    }
    client_name(q, name, sizeof(name));
    queue_argv_str(&a[n], "CLIENT");
    queue_argv_str(&a[n], "SETNAME");
    queue_argv_str(&a[n], name);
    n++;
    if (q->url.sentinel) {
        /* the spec's step 3: the address Sentinel gave must say it is the
         * master, or a failover is still moving */
        role = n;
        queue_argv_str(&a[n], "ROLE");
        n++;
    }
    first_script = n;
    for (size_t s = 0; s < QUEUE_SCRIPT_COUNT; s++, n++) {
        queue_argv_str(&a[n], "SCRIPT");
        queue_argv_str(&a[n], "LOAD");
        queue_argv_str(&a[n], queue_scripts[s].src);
    }
    rc = queue_pipeline(q, a, n, "connect", r);
    for (size_t i = 0; i < n; i++)
        queue_argv_cleanup(&a[i]);
    if (rc)
        goto out;
    if (role) {
        const redisReply *e = r[role];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
            e->element[0]->type != REDIS_REPLY_STRING || strcmp(e->element[0]->str, "master")) {
            easel_snprintf(q->errstr, sizeof(q->errstr),
                           "redis-sentinel: %s:%d, named master of %s, is not a master "
                           "(ROLE: %s); a failover is under way", q->addr.host, q->addr.port,
                           q->url.master,
                           e->type == REDIS_REPLY_ARRAY && e->elements &&
                                   e->element[0]->type == REDIS_REPLY_STRING
                               ? e->element[0]->str
                               : "?");
            rc = EASEL_ECONN;
        }
    }
    for (size_t s = 0; !rc && s < QUEUE_SCRIPT_COUNT; s++) {
        const redisReply *e = r[first_script + s];
        if (e->type != REDIS_REPLY_STRING || e->len != 40) {
            rc = queue_bad_reply(q, "script load", e);
            break;
        }
        memcpy(q->sha[s], e->str, 40);
        q->sha[s][40] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        freeReplyObject(r[i]);
out:
    if (rc) {
        if (rc != EASEL_ENOMEM)
            rc = EASEL_ECONN;
        redisFree(q->c);
        q->c = NULL;
        q->broken = true;
    }
    return rc;
}

static easel_err open_fail(struct easel_error *err, easel_err code,
                           enum easel_reason reason, const char *msg)
{
    return easel_error_set(err, code,
                           code == EASEL_ECONN ? EASEL_CLASS_RETRYABLE
                                               : EASEL_CLASS_PERMANENT,
                           reason, "%s", msg);
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) <= QUEUE_MAX_NAME;
}

easel_err easel_queue_open(const struct easel_queue_opts *o,
                           struct easel_queue **out, struct easel_error *err)
{
    static const char *const suffix[QK_COUNT] = {
        [QK_PENDING] = "",
        [QK_INFLIGHT_PREFIX] = ":inflight:",
        [QK_CONTROLLERS] = ":controllers",
        [QK_LEASES] = ":leases",
        [QK_OWNERS] = ":owners",
        [QK_CLAIMS] = ":claims",
        [QK_DELAYED] = ":delayed",
        [QK_DELAYED_IDS] = ":delayed:ids",
        [QK_DEAD] = ":dead",
        [QK_IDEM_PREFIX] = ":idem:",
        [QK_BREAKER_PREFIX] = ":breaker:",
        [QK_RATE_PREFIX] = ":rate:",
        [QK_RUNNING_PREFIX] = ":running:",
        [QK_POOL] = ":pool",
    };
    struct easel_queue *q = NULL;
    char why[200];
    easel_err rc;

    if (out)
        *out = NULL;
    if (!o || !out)
        return open_fail(err, EASEL_EINVAL, EASEL_R_INVALID_ARGUMENT,
                         "easel_queue_open needs options and an out pointer");
    if (!name_ok(o->name))
        return open_fail(err, EASEL_EINVAL, EASEL_R_INVALID_ARGUMENT,
                         "queue name must be 1 to 200 characters");
    if (o->controller_id && !name_ok(o->controller_id))
        return open_fail(err, EASEL_EINVAL, EASEL_R_INVALID_ARGUMENT,
                         "controller id must be 1 to 200 characters");
    if (o->lease_ms < 0 || o->connect_timeout_ms < 0)
        return open_fail(err, EASEL_EINVAL, EASEL_R_INVALID_ARGUMENT,
                         "lease and connect timeout must not be negative");

    q = calloc(1, sizeof(*q));
    if (!q)
        return open_fail(err, EASEL_ENOMEM, EASEL_R_OUT_OF_MEMORY,
                         "out of memory allocating the queue");
    rc = queue_url_parse(o->url, &q->url, why, sizeof(why));
    if (rc) {
        open_fail(err, rc, EASEL_R_BAD_REDIS_URL, why);
        goto out;
    }
    q->lease_ms = o->lease_ms ? o->lease_ms : QUEUE_LEASE_MS;
    q->connect_timeout_ms =
        o->connect_timeout_ms ? o->connect_timeout_ms : QUEUE_CONNECT_TIMEOUT_MS;
    q->cid = easel_strdup(o->controller_id);
    rc = EASEL_ENOMEM;
    if (o->controller_id && !q->cid)
        goto nomem;
    for (int k = 0; k < QK_COUNT; k++) {
        if (k == QK_INFLIGHT)
            continue;
        q->key[k] = easel_asprintf("%s%s", o->name, suffix[k]);
        if (!q->key[k])
            goto nomem;
    }
    if (q->cid) {
        q->key[QK_INFLIGHT] = easel_asprintf("%s:inflight:%s", o->name, q->cid);
        if (!q->key[QK_INFLIGHT])
            goto nomem;
    }
    rc = dial(q);
    if (rc) {
        open_fail(err, rc, rc == EASEL_ECONN ? EASEL_R_REDIS_UNAVAILABLE
                                             : EASEL_R_OUT_OF_MEMORY, q->errstr);
        goto out;
    }
    *out = q;
    q = NULL;
    goto out;
nomem:
    open_fail(err, rc, EASEL_R_OUT_OF_MEMORY, "out of memory building key names");
out:
    easel_queue_free(q);
    return rc;
}

void easel_queue_free(struct easel_queue *q)
{
    if (!q)
        return;
    if (q->c)
        redisFree(q->c);
    free(q->cid);
    for (int k = 0; k < QK_COUNT; k++)
        free(q->key[k]);
    explicit_bzero(&q->url, sizeof(q->url)); /* the password */
    free(q);
}

const char *easel_queue_errstr(const struct easel_queue *q)
{
    return q ? q->errstr : "";
}

easel_err easel_queue_reconnect(struct easel_queue *q)
{
    if (!q)
        return EASEL_EINVAL;
    if (q->c) {
        redisFree(q->c);
        q->c = NULL;
    }
    easel_err rc = dial(q);
    if (rc)
        return rc;
    q->errstr[0] = '\0';
    easel_info(NULL, "redis connection to %s:%d re-established%s%s", q->addr.host,
               q->addr.port, q->url.sentinel ? ", master of " : "",
               q->url.sentinel ? q->url.master : "");
    return EASEL_OK;
}

easel_err easel_queue_check(struct easel_queue *q)
{
    if (!q)
        return EASEL_EINVAL;
    if (!q->c || q->broken)
        return easel_queue_reconnect(q);
    /* an idle RESP2 connection never has anything to read: readable means
     * the server closed it (EOF) or it failed */
    struct pollfd pf = {.fd = q->c->fd, .events = POLLIN};
    if (poll(&pf, 1, 0) == 0 && !(pf.revents & (POLLHUP | POLLERR)))
        return EASEL_OK;
    return easel_queue_reconnect(q);
}
