/*
 * test_backlog.c - easel_queue_backlog against a real redis-server: every
 * place a waiting job can be (pending, another controller's in-flight
 * list, adopted and held, delayed) is counted once, per model as well as
 * in total; the status callback decides for adopted jobs; the scan bound
 * keeps the totals exact. Each test uses its own queue name and deletes
 * its keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "easel/core.h"
#include "easel/job.h"
#include "easel/queue.h"
#include "../../pkg/queue/queue_int.h" /* queue_url_parse for the raw link */

struct t {
    char name[64];
    struct easel_queue *a, *b; /* two controllers */
    char x[EASEL_UUID_LEN + 1];
};

static const char *url(void)
{
    return getenv("EASEL_TEST_REDIS_URL");
}

static struct easel_queue *open_q(const char *name, const char *cid)
{
    struct easel_queue_opts o = {.url = url(), .name = name, .controller_id = cid,
                                 .lease_ms = 30000, .connect_timeout_ms = 2000};
    struct easel_queue *q = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_queue_open(&o, &q, &err))
        fail_msg("easel_queue_open: %s", err.msg);
    return q;
}

/* A plain connection to the test server's database, to set keys up. */
static redisContext *raw_connect(void)
{
    struct queue_url u;
    char why[200];
    if (queue_url_parse(url(), &u, why, sizeof(why)))
        return NULL;
    redisContext *c = redisConnect(u.host, u.port);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *r = u.db ? redisCommand(c, "SELECT %d", u.db) : NULL;
    if (r)
        freeReplyObject(r);
    return c;
}

static void drop_keys(const char *name)
{
    redisContext *c = raw_connect();
    if (!c)
        return;
    redisReply *r = redisCommand(c, "KEYS %s*", name);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *d = redisCommand(c, "DEL %s", r->element[i]->str);
        if (d)
            freeReplyObject(d);
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
}

static void push(struct easel_queue *q, const char *s)
{
    assert_int_equal(easel_queue_push(q, s, strlen(s)), EASEL_OK);
}

static size_t claim(struct easel_queue *q, size_t max)
{
    struct easel_queue_entry e[8];
    size_t n = 0;
    assert_int_equal(easel_queue_claim(q, max, 0, e, &n), EASEL_OK);
    easel_queue_entries_free(e, n);
    return n;
}

/* pending: a3, b2, plain, junk; in flight (raw): a2 (a), b1 (b); held
 * (adopted): x (model a); delayed: y (model b); in the warm pool's list
 * (Q:pool, what `easel worker` claims from): p1 (a), p2 (b). */
static int setup(void **state)
{
    if (!url()) {
        fprintf(stderr, "EASEL_TEST_REDIS_URL is not set (hack/run-tests.sh integration)\n");
        return -1;
    }
    struct t *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    easel_snprintf(t->name, sizeof(t->name), "t:%016llx",
                   (unsigned long long)easel_rand_below(UINT64_MAX));
    t->a = open_q(t->name, "ctl-a");
    t->b = open_q(t->name, "ctl-b");
    static const char *const order[] = {
        "{\"model\":\"a\",\"n\":1}", "{\"model\":\"a\",\"n\":2}", "{\"model\":\"b\",\"n\":1}",
        "{\"model\":\"a\",\"n\":3}", "{\"model\":\"b\",\"n\":2}", "{\"image_id\":\"p\"}",
        "not json"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        push(t->a, order[i]);
    /* a1 is adopted as x; a2 stays raw in a's list, b1 in b's */
    struct easel_queue_entry e[2];
    size_t n = 0;
    assert_int_equal(easel_queue_claim(t->a, 2, 0, e, &n), EASEL_OK);
    assert_int_equal(n, 2);
    easel_uuid_v4(t->x);
    char canon[128];
    easel_snprintf(canon, sizeof(canon), "{\"id\":\"%s\",\"model\":\"a\"}", t->x);
    struct easel_queue_adopt ad = {e[0].raw, e[0].len, t->x, canon};
    assert_string_equal(e[0].raw, "{\"model\":\"a\",\"n\":1}");
    assert_int_equal(easel_queue_adopt(t->a, &ad, 1), EASEL_OK);
    easel_queue_entries_free(e, n);
    assert_int_equal(claim(t->b, 1), 1);
    assert_int_equal(easel_queue_retry(t->a, "y", "{\"id\":\"y\",\"model\":\"b\"}",
                                       easel_wall_ms() + 600000),
                     EASEL_OK);
    redisContext *c = raw_connect();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "LPUSH %s:pool {\"id\":\"p1\",\"model\":\"a\"} "
                                    "{\"id\":\"p2\",\"model\":\"b\"}", t->name);
    assert_non_null(r);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    redisFree(c);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (!t)
        return 0;
    easel_queue_free(t->a);
    easel_queue_free(t->b);
    drop_keys(t->name);
    free(t);
    return 0;
}

struct verdict {
    int status;    /* what every id gets */
    size_t calls, ids;
    easel_err rc;
};

static easel_err statuses(void *ud, const char *const *ids, size_t n, int *st)
{
    struct verdict *v = ud;
    v->calls++;
    v->ids += n;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(ids[i]);
        st[i] = v->status;
    }
    return v->rc;
}

static const struct easel_backlog_model *model(const struct easel_backlog *b, const char *m)
{
    for (size_t i = 0; i < b->nmodels; i++)
        if (!strcmp(b->models[i].model, m))
            return &b->models[i];
    fail_msg("no model \"%s\" in the split", m);
    return NULL;
}

static void test_totals_and_split(void **state)
{
    struct t *t = *state;
    struct verdict v = {-1, 0, 0, EASEL_OK}; /* no record yet: still waiting */
    struct easel_backlog_opts o = {.by_model = true, .status = statuses, .status_ud = &v};
    struct easel_backlog b;
    assert_int_equal(easel_queue_backlog(t->b, &o, &b), EASEL_OK);
    assert_int_equal(b.pending, 4);
    assert_int_equal(b.delayed, 1);
    assert_int_equal(b.claimed, 3); /* a2, b1 raw; x held */
    assert_int_equal(b.pooled, 2);
    assert_int_equal(b.unscanned, 0);
    assert_int_equal(v.calls, 1);
    assert_int_equal(v.ids, 1);
    const struct easel_backlog_model *a = model(&b, "a"), *bm = model(&b, "b"),
                                     *none = model(&b, "");
    assert_int_equal(a->pending, 1);
    assert_int_equal(a->delayed, 0);
    assert_int_equal(a->claimed, 2);
    assert_int_equal(a->pooled, 1);
    assert_int_equal(bm->pooled, 1);
    assert_int_equal(bm->pending, 1);
    assert_int_equal(bm->delayed, 1);
    assert_int_equal(bm->claimed, 1);
    assert_int_equal(none->pending, 2); /* a payload rule's entry and a malformed one */
    assert_int_equal(b.nmodels, 3);
    /* the split adds up to the totals: nothing twice, nothing missed */
    int64_t sum = 0;
    for (size_t i = 0; i < b.nmodels; i++)
        sum += b.models[i].pending + b.models[i].delayed + b.models[i].claimed +
               b.models[i].pooled;
    assert_int_equal(sum, b.pending + b.delayed + b.claimed + b.pooled);
    easel_backlog_cleanup(&b);
    assert_null(b.models);
}

static void test_started_jobs_do_not_count(void **state)
{
    struct t *t = *state;
    int seen[] = {EASEL_STATUS_RUNNING, EASEL_STATUS_SUCCEEDED, EASEL_STATUS_QUEUED,
                  EASEL_STATUS_DISPATCHED};
    int64_t want[] = {2, 2, 3, 3};
    for (size_t i = 0; i < 4; i++) {
        struct verdict v = {seen[i], 0, 0, EASEL_OK};
        struct easel_backlog_opts o = {.by_model = i % 2 == 0, .status = statuses,
                                       .status_ud = &v};
        struct easel_backlog b;
        assert_int_equal(easel_queue_backlog(t->a, &o, &b), EASEL_OK);
        assert_int_equal(b.claimed, want[i]);
        if (o.by_model)
            assert_int_equal(model(&b, "a")->claimed, want[i] - 1);
        else
            assert_int_equal(b.nmodels, 0);
        easel_backlog_cleanup(&b);
    }
    /* no callback: only the raw in-flight entries are "claimed" */
    struct easel_backlog_opts o = {.by_model = false};
    struct easel_backlog b;
    assert_int_equal(easel_queue_backlog(t->a, &o, &b), EASEL_OK);
    assert_int_equal(b.claimed, 2);
    easel_backlog_cleanup(&b);
}

static void test_scan_bound_keeps_totals(void **state)
{
    struct t *t = *state;
    struct easel_backlog_opts o = {.by_model = true, .max_scan = 3};
    struct easel_backlog b;
    assert_int_equal(easel_queue_backlog(t->a, &o, &b), EASEL_OK);
    assert_int_equal(b.pending + b.delayed + b.claimed + b.pooled, 4 + 1 + 2 + 2);
    assert_int_equal(b.unscanned, 6); /* 3 of the 9 entries were split */
    int64_t sum = 0;
    for (size_t i = 0; i < b.nmodels; i++)
        sum += b.models[i].pending + b.models[i].delayed + b.models[i].claimed +
               b.models[i].pooled;
    assert_int_equal(sum, 3);
    easel_backlog_cleanup(&b);
}

static void test_callback_failure_fails(void **state)
{
    struct t *t = *state;
    struct verdict v = {-1, 0, 0, EASEL_ECONN};
    struct easel_backlog_opts o = {.by_model = true, .status = statuses, .status_ud = &v};
    struct easel_backlog b;
    assert_int_equal(easel_queue_backlog(t->a, &o, &b), EASEL_ECONN);
    assert_int_equal(b.nmodels, 0);
    assert_null(b.models);
    assert_int_equal(easel_queue_backlog(t->a, NULL, &b), EASEL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_totals_and_split),
        T(test_started_jobs_do_not_count),
        T(test_scan_bound_keeps_totals),
        T(test_callback_failure_fails),
#undef T
    };
    easel_log_setup(EASEL_LOG_WARN, "test_backlog");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
