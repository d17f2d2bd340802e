/*
 * backlog.c - how much work waits for a worker, per queue and per model:
 * the figure the external metrics API (pkg/extmetrics) gives the
 * HorizontalPodAutoscaler.
 *
 * The Redis places a job can be in are read in one script, so an entry
 * moving between them while we look (a claim, a promotion, an adoption) is
 * seen in exactly one. Only "has an adopted job started?" lives outside
 * Redis, in the job's record; the caller answers it through a callback
 * after the snapshot, and a job that moved on meanwhile is read in its
 * newer state, never in two places.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/job.h"
#include "queue_int.h"

#define BACKLOG_MAX_SCAN 100000

void easel_backlog_cleanup(struct easel_backlog *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nmodels; i++)
        free(b->models[i].model);
    free(b->models);
    memset(b, 0, sizeof(*b));
}

/* The model's row, added when new; NULL when memory ran out. */
static struct easel_backlog_model *row(struct easel_backlog *b, const char *model,
                                       size_t len)
{
    for (size_t i = 0; i < b->nmodels; i++)
        if (strlen(b->models[i].model) == len && !memcmp(b->models[i].model, model, len))
            return &b->models[i];
    struct easel_backlog_model *m = realloc(b->models, (b->nmodels + 1) * sizeof(*m));
    if (!m)
        return NULL;
    b->models = m;
    m = &b->models[b->nmodels];
    memset(m, 0, sizeof(*m));
    m->model = easel_strndup(model, len);
    if (!m->model)
        return NULL;
    b->nmodels++;
    return m;
}

static bool is_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER;
}

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* The claimed jobs that have not started, counted into b. */
static easel_err count_claims(struct easel_queue *q, const struct easel_backlog_opts *o,
                              const redisReply *claims, struct easel_backlog *b)
{
    size_t n = claims->elements / 2;
    const char **ids = NULL;
    int *st = NULL;
    easel_err rc = EASEL_OK;

    if (n == 0 || !o->status)
        return EASEL_OK;
    ids = calloc(n, sizeof(*ids));
    st = calloc(n, sizeof(*st));
    if (!ids || !st) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_str(claims->element[2 * i]) || !is_str(claims->element[2 * i + 1])) {
            rc = queue_bad_reply(q, "backlog", claims);
            goto out;
        }
        ids[i] = claims->element[2 * i]->str;
    }
    rc = o->status(o->status_ud, ids, n, st);
    if (rc) {
        queue_invalid(q, "backlog: reading the claimed jobs' records failed");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* no record yet (adopted, not inserted), queued, dispatched to a
         * worker that has not begun, or retrying on its way to the delayed
         * set: all still waiting */
        if (st[i] == EASEL_STATUS_RUNNING ||
            (st[i] >= 0 && easel_status_terminal((enum easel_status)st[i])))
            continue;
        b->claimed++;
        if (!o->by_model)
            continue;
        const redisReply *mr = claims->element[2 * i + 1];
        struct easel_backlog_model *m = row(b, mr->str, mr->len);
        if (!m) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        m->claimed++;
    }
out:
    free(ids);
    free(st);
    return rc;
}

easel_err easel_queue_backlog(struct easel_queue *q, const struct easel_backlog_opts *o,
                              struct easel_backlog *out)
{
    struct queue_argv a;
    redisReply *r = NULL;
    easel_err rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!q)
        return EASEL_EINVAL;
    if (!o || !out)
        return queue_invalid(q, "queue backlog: needs options and an output record");
    size_t max_scan = o->max_scan ? o->max_scan : BACKLOG_MAX_SCAN;
    if (max_scan > INT64_MAX)
        max_scan = INT64_MAX;
    queue_argv_init(&a);
    queue_argv_script(&a, q, QUEUE_SCRIPT_BACKLOG, 6);
    queue_argv_key(&a, q, QK_PENDING);
    queue_argv_key(&a, q, QK_CONTROLLERS);
    queue_argv_key(&a, q, QK_DELAYED);
    queue_argv_key(&a, q, QK_CLAIMS);
    queue_argv_key(&a, q, QK_POOL);
    queue_argv_key(&a, q, QK_DELAYED_IDS);
    queue_argv_key(&a, q, QK_INFLIGHT_PREFIX);
    queue_argv_str(&a, o->by_model ? "1" : "0");
    queue_argv_i64(&a, (int64_t)max_scan);
    rc = queue_exec(q, &a, "backlog", &r);
    if (rc)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 7 || !is_int(r->element[0]) ||
        !is_int(r->element[1]) || !is_int(r->element[2]) || !is_int(r->element[3]) ||
        r->element[4]->type != REDIS_REPLY_ARRAY || r->element[4]->elements % 5 ||
        r->element[5]->type != REDIS_REPLY_ARRAY || r->element[5]->elements % 2 ||
        !is_int(r->element[6])) {
        rc = queue_bad_reply(q, "backlog", r);
        goto out;
    }
    out->pending = r->element[0]->integer;
    out->delayed = r->element[1]->integer;
    out->claimed = r->element[2]->integer; /* raw in-flight entries */
    out->unscanned = r->element[3]->integer;
    out->pooled = r->element[6]->integer;
    const redisReply *split = r->element[4];
    for (size_t i = 0; i < split->elements; i += 5) {
        const redisReply *name = split->element[i];
        if (!is_str(name) || !is_int(split->element[i + 1]) ||
            !is_int(split->element[i + 2]) || !is_int(split->element[i + 3]) ||
            !is_int(split->element[i + 4])) {
            rc = queue_bad_reply(q, "backlog", split);
            goto out;
        }
        struct easel_backlog_model *m = row(out, name->str, name->len);
        if (!m) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        m->pending = split->element[i + 1]->integer;
        m->delayed = split->element[i + 2]->integer;
        m->claimed = split->element[i + 3]->integer;
        m->pooled = split->element[i + 4]->integer;
    }
    rc = count_claims(q, o, r->element[5], out);
out:
    freeReplyObject(r);
    queue_argv_cleanup(&a);
    if (rc == EASEL_ENOMEM)
        queue_invalid(q, "backlog: out of memory");
    if (rc)
        easel_backlog_cleanup(out);
    return rc;
}
