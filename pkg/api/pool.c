/*
 * pool.c - the threads that run the API's handlers. Each holds its own
 * Redis and Postgres connections, opened on first use and reopened after a
 * failure, so a request that needs a database waits only for itself.
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
    bool stopping;
    int n;
    pthread_t *threads;
    struct worker *ws;
};

struct worker {
    struct api_pool *p;
    struct api_ctx x;
    int64_t queue_retry_ms, store_retry_ms; /* no reconnect before (mono) */
};

struct easel_queue *api_queue(struct api_ctx *x, struct api_req *r)
{
    struct worker *w = (struct worker *)((char *)x - offsetof(struct worker, x));
    if (x->q)
        return x->q;
    if (easel_now_ms() < w->queue_retry_ms) {
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
    if (x->s)
        return x->s;
    if (easel_now_ms() < w->store_retry_ms) {
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

static void run(struct worker *w, struct api_req *r)
{
    struct api_ctx *x = &w->x;
    const struct easel_api_hooks *h = &x->o->hooks;
    x->reg = h->registry ? h->registry(h->ud) : NULL;
    r->route->fn(x, r);
    if (!r->status)
        api_error(r, 500, "internal", "the handler gave no answer");
    easel_registry_unref(x->reg);
    x->reg = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct api_pool *p = w->p;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stopping && !p->head)
            pthread_cond_wait(&p->cv, &p->mu);
        struct api_req *r = p->head;
        if (r) {
            p->head = r->next;
            if (!p->head)
                p->tail = NULL;
            r->next = NULL;
        }
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (!r)
            break;
        if (stop)
            api_unavailable(r, "server", "shutting down");
        else
            run(w, r);
        api_server_done(p->api, r);
    }
    easel_queue_free(w->x.q);
    easel_store_free(w->x.s);
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
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ws);
    free(p);
}
