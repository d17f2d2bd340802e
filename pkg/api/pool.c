/*
 * pool.c - the threads that run the API's handlers. Each holds its own
 * Redis and Postgres connections, opened on first use and reopened after a
 * failure, so a request that needs a database waits only for itself.
 *
 * A request that asked to wait for its job (Prefer: wait) is parked
 * without holding a thread: one waiter thread looks up every parked job's
 * status in a single query ten times a second and hands each back to the
 * pool when its job is terminal or its time is up.
 *
 * A dependency that is down makes its requests answer 503 with Retry-After
 * at once rather than queue behind connection attempts: after a failed
 * connect a thread does not try again for a second.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

struct api_pool {
    struct easel_api *api;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct api_req *head, *tail;
    bool stopping;   /* answer new requests 503 */
    bool drain;      /* the waiter is gone: workers end once the queue is empty */
    int n;
    pthread_t *threads;
    struct worker *ws;
    /* parked requests (Prefer: wait), guarded by mu */
    struct api_req *parked;
    size_t nparked;
    pthread_t waiter;
    bool waiter_on;
};

struct worker {
    struct api_pool *p;
    struct api_ctx x;
    int64_t queue_retry_ms, store_retry_ms; /* no reconnect before (mono) */
    int64_t queue_used_ms, store_used_ms;   /* last use (mono) */
};

struct easel_queue *api_queue(struct api_ctx *x, struct api_req *r)
{
    struct worker *w = (struct worker *)((char *)x - offsetof(struct worker, x));
    int64_t now = easel_now_ms();
    if (x->q) {
        /* idle for a while: the server may have closed it meanwhile */
        if (now - w->queue_used_ms > 1000 && easel_queue_check(x->q) != EASEL_OK) {
            api_queue_failed(x, r, EASEL_ECONN);
            w->queue_retry_ms = now + 1000;
            return NULL;
        }
        w->queue_used_ms = now;
        return x->q;
    }
    w->queue_used_ms = now;
    if (now < w->queue_retry_ms) {
        api_unavailable(r, "redis", "not reachable");
        return NULL;
    }
    struct easel_queue_opts qo = {.url = x->o->redis_url, .name = x->o->queue,
                                  .controller_id = x->o->controller_id,
                                  .lease_ms = x->o->lease_ms, .connect_timeout_ms = 2000};
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_queue_open(&qo, &x->q, &err) != EASEL_OK) {
        x->q = NULL;
        w->queue_retry_ms = easel_now_ms() + 1000;
        api_unavailable(r, "redis", err.msg);
        return NULL;
    }
    return x->q;
}

struct easel_store *api_store(struct api_ctx *x, struct api_req *r)
{
    struct worker *w = (struct worker *)((char *)x - offsetof(struct worker, x));
    int64_t now = easel_now_ms();
    if (x->s) {
        if (now - w->store_used_ms > 1000 && easel_store_check(x->s) != EASEL_OK) {
            api_store_failed(x, r, EASEL_ECONN);
            w->store_retry_ms = now + 1000;
            return NULL;
        }
        w->store_used_ms = now;
        return x->s;
    }
    w->store_used_ms = now;
    if (now < w->store_retry_ms) {
        api_unavailable(r, "postgres", "not reachable");
        return NULL;
    }
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_store_open(x->o->database_url, &x->s, &err) != EASEL_OK) {
        x->s = NULL;
        w->store_retry_ms = easel_now_ms() + 1000;
        api_unavailable(r, "postgres", err.msg);
        return NULL;
    }
    return x->s;
}

void api_store_failed(struct api_ctx *x, struct api_req *r, easel_err rc)
{
    if (rc == EASEL_ECONN || (x->s && easel_store_reconnect(x->s) != EASEL_OK)) {
        char why[200];
        easel_strlcpy(why, x->s ? easel_store_errstr(x->s) : "connection lost", sizeof(why));
        easel_store_free(x->s);
        x->s = NULL;
        api_unavailable(r, "postgres", why);
        return;
    }
    api_error(r, 500, "internal", "database error: %s",
              x->s ? easel_store_errstr(x->s) : easel_strerror(rc));
}

void api_queue_failed(struct api_ctx *x, struct api_req *r, easel_err rc)
{
    (void)rc;
    char why[200];
    easel_strlcpy(why, x->q ? easel_queue_errstr(x->q) : "connection lost", sizeof(why));
    easel_queue_free(x->q);
    x->q = NULL;
    api_unavailable(r, "redis", why);
}

/* Runs r's handler; false when r was parked instead of answered. */
static bool run(struct worker *w, struct api_req *r)
{
    struct api_ctx *x = &w->x;
    const struct easel_api_hooks *h = &x->o->hooks;
    x->reg = h->registry ? h->registry(h->ud) : NULL;
    api_handler fn = r->resume ? r->resume : r->route->fn;
    r->resume = NULL;
    fn(x, r);
    easel_registry_unref(x->reg);
    x->reg = NULL;
    if (r->resume) { /* the handler asked to wait (Prefer: wait) */
        struct api_pool *p = w->p;
        pthread_mutex_lock(&p->mu);
        r->next = p->parked;
        p->parked = r;
        p->nparked++;
        pthread_mutex_unlock(&p->mu);
        return false;
    }
    if (!r->status)
        api_error(r, 500, "internal", "the handler gave no answer");
    return true;
}

/* The waiter thread: its own Postgres connection, one query per round for
 * every parked job. */
static void *waiter_main(void *arg)
{
    struct api_pool *p = arg;
    struct easel_store *s = NULL;
    const struct easel_api_opts *o = api_opts(p->api);
    api_thread_yield_priority();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stop = p->stopping;
        struct api_req *list = p->parked;
        size_t n = p->nparked;
        p->parked = NULL;
        p->nparked = 0;
        pthread_mutex_unlock(&p->mu);
        int *st = n ? calloc(n, sizeof(*st)) : NULL;
        const char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
        size_t i = 0;
        for (struct api_req *r = list; r && ids; r = r->next)
            ids[i++] = r->park_id;
        if (n && st && ids && !stop) {
            if (!s && easel_store_open(o->database_url, &s, NULL) != EASEL_OK)
                s = NULL;
            if (s && easel_store_job_statuses(s, ids, n, st) != EASEL_OK) {
                for (i = 0; i < n; i++)
                    st[i] = -1;
                easel_store_free(s);
                s = NULL;
            }
        }
        int64_t now = easel_now_ms();
        i = 0;
        struct api_req *keep = NULL, *ready = NULL;
        size_t nkeep = 0;
        for (struct api_req *r = list, *next; r; r = next, i++) {
            next = r->next;
            bool done = stop || !st || !ids || now >= r->park_until_ms ||
                        (st[i] >= 0 && easel_status_terminal((enum easel_status)st[i]));
            if (done) {
                r->next = ready;
                ready = r;
            } else {
                r->next = keep;
                keep = r;
                nkeep++;
            }
        }
        free(st);
        free(ids);
        pthread_mutex_lock(&p->mu);
        for (struct api_req *r = keep, *next; r; r = next) {
            next = r->next;
            r->next = p->parked;
            p->parked = r;
        }
        p->nparked += nkeep;
        pthread_mutex_unlock(&p->mu);
        for (struct api_req *r = ready, *next; r; r = next) {
            next = r->next;
            api_pool_submit(p, r);
        }
        if (stop) {
            pthread_mutex_lock(&p->mu);
            bool empty = p->parked == NULL;
            pthread_mutex_unlock(&p->mu);
            if (empty)
                break;
        }
        easel_sleep_ms(100);
    }
    easel_store_free(s);
    return NULL;
}

/* Under load a thread takes what is queued, up to this many at once, and
 * reads every job that several of them GET in one query: one wake-up and
 * one Postgres round trip instead of one each. */
#define BATCH 32

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct api_pool *p = w->p;
    struct api_req *batch[BATCH], *gets[BATCH];
    api_thread_yield_priority();
    for (;;) {
        size_t n = 0, ngets = 0;
        pthread_mutex_lock(&p->mu);
        while (!p->drain && !p->head)
            pthread_cond_wait(&p->cv, &p->mu);
        while (p->head && n < BATCH) {
            struct api_req *r = p->head;
            p->head = r->next;
            r->next = NULL;
            batch[n++] = r;
        }
        if (!p->head)
            p->tail = NULL;
        else
            pthread_cond_signal(&p->cv); /* more for another thread */
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct api_req *r = batch[i];
            if (stop && !r->resume) {
                api_unavailable(r, "server", "shutting down");
            } else if (!r->resume && r->route->fn == api_jobs_get) {
                gets[ngets++] = r;
                continue;
            } else if (!run(w, r)) {
                continue; /* parked */
            }
            api_server_done(p->api, r);
        }
        if (ngets == 1) {
            run(w, gets[0]);
        } else if (ngets > 1) {
            const struct easel_api_hooks *h = &w->x.o->hooks;
            w->x.reg = h->registry ? h->registry(h->ud) : NULL;
            api_jobs_get_many(&w->x, gets, ngets);
            easel_registry_unref(w->x.reg);
            w->x.reg = NULL;
        }
        for (size_t i = 0; i < ngets; i++)
            api_server_done(p->api, gets[i]);
    }
    easel_queue_free(w->x.q);
    easel_store_free(w->x.s);
    easel_store_free(w->x.app);
    w->x.q = NULL;
    w->x.s = NULL;
    return NULL;
}

easel_err api_pool_start(struct easel_api *a, int threads, struct api_pool **out)
{
    *out = NULL;
    struct api_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return EASEL_ENOMEM;
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    p->ws = calloc((size_t)threads, sizeof(*p->ws));
    if (!p->threads || !p->ws) {
        free(p->threads);
        free(p->ws);
        free(p);
        return EASEL_ENOMEM;
    }
    p->api = a;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    struct worker *ws = p->ws;
    for (int i = 0; i < threads; i++) {
        ws[i].p = p;
        ws[i].x.api = a;
        ws[i].x.o = api_opts(a);
        if (pthread_create(&p->threads[i], NULL, worker_main, &ws[i])) {
            *out = p;
            api_pool_stop(p);
            *out = NULL;
            return EASEL_ENOMEM;
        }
        p->n++;
    }
    if (pthread_create(&p->waiter, NULL, waiter_main, p) == 0)
        p->waiter_on = true;
    *out = p;
    return EASEL_OK;
}

void api_pool_submit(struct api_pool *p, struct api_req *r)
{
    pthread_mutex_lock(&p->mu);
    r->next = NULL;
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void api_pool_stop(struct api_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    /* the waiter hands back what it holds before the workers go */
    if (p->waiter_on)
        pthread_join(p->waiter, NULL);
    pthread_mutex_lock(&p->mu);
    p->drain = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ws);
    free(p);
}
