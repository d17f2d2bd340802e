/*
 * events.c - the controller's one writer of what it reports to the cluster:
 * Events (a Job's Dispatched ... Succeeded, a ConfigMap's RegistryApplied)
 * and a Job's status annotations. These writes inform people; nothing waits
 * for them. So they go through a bounded queue to one thread with its own
 * API connection, and the caller never waits on the API server: when the
 * queue is full (the server is slow or down), a new write is dropped,
 * counted and logged, and the controller goes on.
 *
 * Repeats are folded as Kubernetes' own event recorder does: the same
 * Event (object, type, reason, message) still waiting in the queue only
 * raises that entry's count, and one written in the last ten minutes is
 * updated in place (count, lastTimestamp) rather than written again, so
 * `kubectl describe` shows "x3 over 2m" instead of a flood.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_int.h"

#define DEFAULT_CAPACITY 512
#define DEFAULT_TIMEOUT_MS 10000
#define SERIES_WINDOW_MS (10 * 60 * 1000) /* as the Kubernetes correlator */
#define SERIES_SLOTS 64                      /* recently written Events */

enum rkind { R_EVENT, R_PATCH };

struct rtask {
    enum rkind kind;
    struct rtask *next;
    /* R_EVENT */
    char *key;                   /* ns, kind, name, uid, type, reason, message */
    char *api_version, *obj_kind, *name, *ns, *uid;
    char type[16], reason[64];
    char *message;
    int count;
    int64_t first_ms, last_ms;   /* wall */
    /* R_PATCH (name, ns above) */
    const struct easel_kube_res *res;
    cJSON *patch;
};

/* An Event written lately, to update instead of repeating. */
struct series {
    char *key;
    char *ev_name, *ns;
    int count;
    int64_t first_ms, last_ms;
};

struct easel_kube_recorder {
    struct easel_kube *api;      /* the writer thread's connection */
    char *host, *reporter;
    size_t capacity;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int64_t drain_until;         /* mono ms; after it, stop writing */
    struct rtask *head, *tail;
    size_t n;
    struct easel_kube_recorder_stats st;

    struct series ser[SERIES_SLOTS]; /* writer thread only */
};

static void task_free(struct rtask *t)
{
    if (!t)
        return;
    free(t->key);
    free(t->api_version);
    free(t->obj_kind);
    free(t->name);
    free(t->ns);
    free(t->uid);
    free(t->message);
    cJSON_Delete(t->patch);
    free(t);
}

static char *dup0(const char *s)
{
    return easel_strdup(s ? s : "");
}

/* ------------------------------------------------------------- writer */

static struct series *series_find(struct easel_kube_recorder *r, const char *key,
                                  int64_t now)
{
    for (size_t i = 0; i < SERIES_SLOTS; i++) {
        struct series *s = &r->ser[i];
        if (s->key && now - s->last_ms <= SERIES_WINDOW_MS && !strcmp(s->key, key))
            return s;
    }
    return NULL;
}

static void series_put(struct easel_kube_recorder *r, const struct rtask *t,
                       const char *ev_name)
{
    struct series *s = &r->ser[0];
    for (size_t i = 0; i < SERIES_SLOTS; i++) {
        if (!r->ser[i].key) {
            s = &r->ser[i];
            break;
        }
        if (r->ser[i].last_ms < s->last_ms)
            s = &r->ser[i]; /* the oldest goes */
    }
    free(s->key);
    free(s->ev_name);
    free(s->ns);
    s->key = easel_strdup(t->key);
    s->ev_name = easel_strdup(ev_name);
    s->ns = easel_strdup(t->ns);
    s->count = t->count;
    s->first_ms = t->first_ms;
    s->last_ms = t->last_ms;
    if (!s->key || !s->ev_name || !s->ns) {
        free(s->key);
        free(s->ev_name);
        free(s->ns);
        memset(s, 0, sizeof(*s));
    }
}

static void set_num(cJSON *o, const char *k, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddNumberToObject(o, k, v);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddStringToObject(o, k, v);
}

/* Updates a recently written Event of the same series; false when it is
 * gone (expired, deleted) and must be written anew. */
static bool bump_series(struct easel_kube_recorder *r, struct series *s,
                        const struct rtask *t, struct easel_error *err)
{
    char ts[32];
    easel_kube_time(t->last_ms, ts, sizeof(ts));
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "count", s->count + t->count);
    cJSON_AddStringToObject(p, "lastTimestamp", ts);
    easel_err rc = easel_kube_patch(r->api, &easel_kube_events, s->ns, s->ev_name, NULL,
                                    EASEL_PATCH_MERGE, p, NULL, false, NULL, err);
    cJSON_Delete(p);
    if (rc == EASEL_OK) {
        s->count += t->count;
        s->last_ms = t->last_ms;
        return true;
    }
    free(s->key);
    s->key = NULL; /* forget it either way: the next one is written anew */
    return false;
}

static bool write_event(struct easel_kube_recorder *r, const struct rtask *t,
                        struct easel_error *err)
{
    struct series *s = series_find(r, t->key, t->last_ms);
    if (s && bump_series(r, s, t, err))
        return true;
    struct easel_kube_ref io = {t->api_version, t->obj_kind, t->name, t->ns, t->uid};
    cJSON *ev = easel_kube_event_new(&io, t->type, t->reason, t->message, r->host,
                                     r->reporter);
    if (!ev) {
        easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY, "out of memory");
        return false;
    }
    if (t->count > 1) {
        char ts[32];
        set_num(ev, "count", t->count);
        easel_kube_time(t->first_ms, ts, sizeof(ts));
        set_str(ev, "firstTimestamp", ts);
        easel_kube_time(t->last_ms, ts, sizeof(ts));
        set_str(ev, "lastTimestamp", ts);
    }
    const char *ev_name = easel_kube_str(ev, "metadata.name");
    easel_err rc = easel_kube_create(r->api, &easel_kube_events, t->ns, ev, NULL, err);
    if (rc == EASEL_OK && ev_name)
        series_put(r, t, ev_name);
    cJSON_Delete(ev);
    return rc == EASEL_OK;
}

static bool write_patch(struct easel_kube_recorder *r, const struct rtask *t,
                        struct easel_error *err)
{
    easel_err rc = easel_kube_patch(r->api, t->res, t->ns, t->name, NULL,
                                    EASEL_PATCH_MERGE, t->patch, NULL, false, NULL, err);
    return rc == EASEL_OK || rc == EASEL_ENOTFOUND; /* gone: nothing to annotate */
}

static void *writer_main(void *arg)
{
    struct easel_kube_recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (!r->head)
            break;
        if (r->stop && easel_now_ms() > r->drain_until) {
            size_t left = r->n;
            r->st.dropped += left;
            pthread_mutex_unlock(&r->mu);
            easel_warn(NULL, "kubernetes writer stopping: %zu queued Events and annotations not written",
                       left);
            pthread_mutex_lock(&r->mu);
            break;
        }
        struct rtask *t = r->head;
        r->head = t->next;
        if (!r->head)
            r->tail = NULL;
        r->n--;
        pthread_mutex_unlock(&r->mu);

        struct easel_error err;
        easel_error_clear(&err);
        bool ok = t->kind == R_EVENT ? write_event(r, t, &err) : write_patch(r, t, &err);
        if (!ok) {
            if (t->kind == R_EVENT)
                easel_warn(NULL, "event %s on %s %s not recorded: %s", t->reason,
                           t->obj_kind, t->name, err.msg);
            else
                easel_warn(NULL, "annotations on %s %s not written: %s",
                           t->res->kind, t->name, err.msg);
        }
        task_free(t);

        pthread_mutex_lock(&r->mu);
        if (ok)
            r->st.written++;
        else
            r->st.failed++;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------- callers */

/* Queues t (owned) unless the queue is full. Never waits on the API. */
static bool enqueue(struct easel_kube_recorder *r, struct rtask *t)
{
    pthread_mutex_lock(&r->mu);
    if (t->kind == R_EVENT) {
        for (struct rtask *q = r->head; q; q = q->next) {
            if (q->kind == R_EVENT && !strcmp(q->key, t->key)) {
                q->count++;
                q->last_ms = t->last_ms;
                r->st.folded++;
                pthread_mutex_unlock(&r->mu);
                task_free(t);
                return true;
            }
        }
    }
    if (r->stop || r->n >= r->capacity) {
        uint64_t dropped = ++r->st.dropped;
        pthread_mutex_unlock(&r->mu);
        /* the first drop, then one line per hundred: a stalled server must
         * not turn into a flood of log lines either */
        if (dropped == 1 || dropped % 100 == 0)
            easel_warn(NULL, "kubernetes writer queue full (%zu): dropped %s %s on %s (%llu dropped so far)",
                       r->capacity, t->kind == R_EVENT ? "event" : "annotations",
                       t->kind == R_EVENT ? t->reason : "", t->name,
                       (unsigned long long)dropped);
        task_free(t);
        return false;
    }
    if (r->tail)
        r->tail->next = t;
    else
        r->head = t;
    r->tail = t;
    r->n++;
    r->st.queued++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return true;
}

bool easel_kube_record(struct easel_kube_recorder *r, const struct easel_kube_ref *io,
                       const char *type, const char *reason, const char *fmt, ...)
{
    if (!r || !io || !io->name || !type || !reason || !fmt)
        return false;
    struct rtask *t = calloc(1, sizeof(*t));
    if (!t)
        return false;
    t->kind = R_EVENT;
    /* the API caps Event messages: a long one is cut, visibly, never
     * dropped (a capped buffer used to fail and lose it) */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    t->message = easel_strdup(msg);
    t->api_version = dup0(io->api_version);
    t->obj_kind = dup0(io->kind);
    t->name = dup0(io->name);
    t->ns = dup0(io->ns);
    t->uid = dup0(io->uid);
    easel_strlcpy(t->type, type, sizeof(t->type));
    easel_strlcpy(t->reason, reason, sizeof(t->reason));
    t->count = 1;
    t->first_ms = t->last_ms = easel_wall_ms();
    /* the whole identity of a repeat, never cut: a key capped at 256 bytes
     * came out empty for long messages, so a DeadLettered Event was folded
     * into the Pending one before it */
    t->key = easel_asprintf("%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", t->ns, t->obj_kind,
                            t->name, t->uid, type, reason, t->message ? t->message : "");
    if (!t->message || !t->api_version || !t->obj_kind || !t->name || !t->ns ||
        !t->uid || !t->key) {
        task_free(t);
        pthread_mutex_lock(&r->mu);
        r->st.dropped++;
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    return enqueue(r, t);
}

bool easel_kube_recorder_patch(struct easel_kube_recorder *r,
                               const struct easel_kube_res *res, const char *ns,
                               const char *name, cJSON *patch)
{
    struct rtask *t = r && res && name && patch ? calloc(1, sizeof(*t)) : NULL;
    if (!t) {
        cJSON_Delete(patch);
        return false;
    }
    t->kind = R_PATCH;
    t->res = res;
    t->patch = patch;
    t->name = easel_strdup(name);
    t->ns = ns ? easel_strdup(ns) : NULL;
    if (!t->name || (ns && !t->ns)) {
        task_free(t);
        return false;
    }
    return enqueue(r, t);
}

void easel_kube_recorder_stats(struct easel_kube_recorder *r,
                               struct easel_kube_recorder_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    *s = r->st;
    s->pending = r->n;
    pthread_mutex_unlock(&r->mu);
}

easel_err easel_kube_recorder_new(const struct easel_kube_config *cfg,
                                  const struct easel_kube_recorder_opts *o,
                                  struct easel_kube_recorder **out,
                                  struct easel_error *err)
{
    *out = NULL;
    struct easel_kube_recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return EASEL_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->capacity = o && o->capacity ? o->capacity : DEFAULT_CAPACITY;
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        easel_strlcpy(host, "easel", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    r->host = easel_strdup(o && o->host ? o->host : host);
    r->reporter = easel_strdup(o && o->reporter ? o->reporter : r->host ? r->host : "easel");
    easel_err rc = EASEL_ENOMEM;
    if (!r->host || !r->reporter)
        goto fail;
    /* its own connection: a write that hangs holds up nobody else's
     * requests, and a short timeout bounds how long it can hang */
    struct easel_kube_opts ko = {
        .timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS};
    rc = easel_kube_new(cfg, &ko, &r->api, err);
    if (rc)
        goto fail;
    if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                             "cannot start the kubernetes Event writer thread");
        goto fail;
    }
    r->started = true;
    *out = r;
    return EASEL_OK;
fail:
    easel_kube_recorder_free(r, 0);
    return rc;
}

void easel_kube_recorder_free(struct easel_kube_recorder *r, int64_t drain_ms)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        r->drain_until = easel_now_ms() + (drain_ms > 0 ? drain_ms : 0);
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (struct rtask *t = r->head, *n; t; t = n) {
        n = t->next;
        task_free(t);
    }
    for (size_t i = 0; i < SERIES_SLOTS; i++) {
        free(r->ser[i].key);
        free(r->ser[i].ev_name);
        free(r->ser[i].ns);
    }
    easel_kube_free(r->api);
    free(r->host);
    free(r->reporter);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
