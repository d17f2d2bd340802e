/*
 * test_queue.c - pkg/queue against a real redis-server.
 *
 * The server comes from EASEL_TEST_REDIS_URL (hack/services.sh writes it);
 * without it every test fails, because a queue test that silently skips is a
 * queue that was never tested. Each test uses its own queue name
 * ("t:<random>") and deletes its keys afterwards, so tests do not interfere
 * with each other or with other programs using the same server. A second,
 * raw hiredis connection looks at the keys directly, so that the tests check
 * the key layout the header promises and not only what the API reports.
 */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "easel/core.h"
#include "easel/queue.h"
#include "../../pkg/queue/queue_int.h" /* queue_url_parse for the raw link */

struct t {
    char name[64];
    char cid[64];
    struct easel_queue *q;
    redisContext *raw;
};

static const char *url(void)
{
    return getenv("EASEL_TEST_REDIS_URL");
}

static redisContext *raw_connect(void)
{
    struct queue_url u;
    char why[200];
    if (!url() || queue_url_parse(url(), &u, why, sizeof(why)))
        return NULL;
    redisContext *c = redisConnect(u.host, u.port);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (u.db) {
        redisReply *r = redisCommand(c, "SELECT %d", u.db);
        if (r)
            freeReplyObject(r);
    }
    return c;
}

static redisReply *raw(struct t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t->raw, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long raw_int(struct t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t->raw, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static struct easel_queue *open_q(struct t *t, const char *cid,
                                  int64_t lease_ms)
{
    struct easel_queue_opts o = {
        .url = url(),
        .name = t->name,
        .controller_id = cid,
        .lease_ms = lease_ms,
        .connect_timeout_ms = 2000,
    };
    struct easel_queue *q = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_queue_open(&o, &q, &err);
    if (rc)
        fail_msg("easel_queue_open: %s: %s", easel_err_name(rc), err.msg);
    return q;
}

static void drop_keys(struct t *t)
{
    redisReply *r = redisCommand(t->raw, "KEYS %s*", t->name);
    if (!r)
        return;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *d = redisCommand(t->raw, "DEL %s", r->element[i]->str);
        if (d)
            freeReplyObject(d);
    }
    freeReplyObject(r);
}

static int setup(void **state)
{
    if (!url()) {
        fprintf(stderr, "EASEL_TEST_REDIS_URL is not set: these tests need a "
                        "real redis-server (hack/run-tests.sh integration)\n");
        return -1;
    }
    struct t *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    easel_snprintf(t->name, sizeof(t->name), "t:%016llx",
                   (unsigned long long)easel_rand_below(UINT64_MAX));
    easel_snprintf(t->cid, sizeof(t->cid), "ctl-%08llx",
                   (unsigned long long)easel_rand_below(UINT32_MAX));
    t->raw = raw_connect();
    if (!t->raw) {
        fprintf(stderr, "cannot reach redis at %s\n", url());
        free(t);
        return -1;
    }
    struct easel_queue_opts o = {.url = url(), .name = t->name,
                                 .controller_id = t->cid, .lease_ms = 30000};
    struct easel_error err;
    if (easel_queue_open(&o, &t->q, &err)) {
        fprintf(stderr, "easel_queue_open: %s\n", err.msg);
        redisFree(t->raw);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (!t)
        return 0;
    easel_queue_free(t->q);
    drop_keys(t);
    redisFree(t->raw);
    free(t);
    return 0;
}

static void push(struct easel_queue *q, const char *s)
{
    easel_err rc = easel_queue_push(q, s, strlen(s));
    if (rc)
        fail_msg("push: %s", easel_queue_errstr(q));
}

static size_t claim(struct easel_queue *q, size_t max, int64_t block_ms,
                    struct easel_queue_entry *e)
{
    size_t n = 99;
    easel_err rc = easel_queue_claim(q, max, block_ms, e, &n);
    if (rc)
        fail_msg("claim: %s: %s", easel_err_name(rc), easel_queue_errstr(q));
    return n;
}

/* Claims one entry, names it job `id` with canonical {"id":id,"n":k} and
 * adopts it; canon receives the canonical entry. */
static void claim_adopt(struct easel_queue *q, const char *id, char *canon,
                        size_t canonlen)
{
    struct easel_queue_entry e[1];
    assert_int_equal(claim(q, 1, 0, e), 1);
    easel_snprintf(canon, canonlen, "{\"id\":\"%s\",\"raw\":%s}", id, e[0].raw);
    struct easel_queue_adopt a = {e[0].raw, e[0].len, id, canon};
    assert_int_equal(easel_queue_adopt(q, &a, 1), EASEL_OK);
    easel_queue_entries_free(e, 1);
}

static struct easel_queue_stats stats(struct easel_queue *q)
{
    struct easel_queue_stats s;
    easel_err rc = easel_queue_stats(q, &s);
    if (rc)
        fail_msg("stats: %s", easel_queue_errstr(q));
    return s;
}

/* ---------------------------------------------------------------- tests */

static void test_url_is_set(void **state)
{
    (void)state;
    assert_non_null(url());
}

static void test_push_claim_fifo(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[10];
    char buf[32];
    for (int i = 1; i <= 5; i++) {
        easel_snprintf(buf, sizeof(buf), "{\"n\":%d}", i);
        push(t->q, buf);
    }
    int64_t before = easel_now_us();
    assert_int_equal(claim(t->q, 3, 0, e), 3);
    assert_string_equal(e[0].raw, "{\"n\":1}");
    assert_string_equal(e[1].raw, "{\"n\":2}");
    assert_string_equal(e[2].raw, "{\"n\":3}");
    assert_int_equal(e[0].len, 7);
    assert_true(e[0].claimed_us >= before);
    easel_queue_entries_free(e, 3);
    assert_null(e[0].raw);

    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.pending, 2);
    assert_int_equal(s.inflight, 3);
    assert_int_equal(s.controllers, 1);

    assert_int_equal(claim(t->q, 10, 0, e), 2);
    assert_string_equal(e[0].raw, "{\"n\":4}");
    assert_string_equal(e[1].raw, "{\"n\":5}");
    easel_queue_entries_free(e, 2);
    assert_int_equal(claim(t->q, 10, 0, e), 0);
    /* the in-flight list holds exactly what was claimed */
    assert_int_equal(raw_int(t, "LLEN %s:inflight:%s", t->name, t->cid), 5);
    assert_int_equal(raw_int(t, "EXISTS %s", t->name), 0);
}

struct pusher {
    struct t *t;
    int64_t delay_ms;
    int64_t pushed_us;
};

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    struct easel_queue *q = open_q(p->t, NULL, 0);
    easel_sleep_ms(p->delay_ms);
    p->pushed_us = easel_now_us();
    easel_queue_push(q, "{\"late\":true}", 13);
    easel_queue_free(q);
    return NULL;
}

static void test_claim_blocks_and_wakes(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[4];

    /* nothing pending: waits about block_ms, returns nothing */
    int64_t t0 = easel_now_us();
    assert_int_equal(claim(t->q, 4, 300, e), 0);
    int64_t waited = easel_now_us() - t0;
    assert_true(waited >= 250000);
    assert_true(waited < 3000000);

    /* a push from another connection wakes the blocked claim at once */
    struct pusher p = {t, 200, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pusher_main, &p), 0);
    t0 = easel_now_us();
    size_t n = claim(t->q, 4, 5000, e);
    pthread_join(th, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].raw, "{\"late\":true}");
    assert_true(e[0].claimed_us - t0 >= 150000);
    int64_t pickup = e[0].claimed_us - p.pushed_us;
    if (pickup > 100000)
        fail_msg("pickup took %lld us", (long long)pickup);
    easel_queue_entries_free(e, n);
    assert_int_equal(raw_int(t, "LLEN %s:inflight:%s", t->name, t->cid), 1);
}

static void test_block_capped_by_lease(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[1];
    struct easel_queue *q = open_q(t, "short-lease", 200);
    int64_t t0 = easel_now_us();
    size_t n = 99;
    assert_int_equal(easel_queue_claim(q, 1, 5000, e, &n), EASEL_OK);
    assert_int_equal(n, 0);
    assert_true(easel_now_us() - t0 < 1000000); /* ~100 ms, not 5 s */
    easel_queue_free(q);
}

static void test_adopt_ack_leaves_no_keys(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[3];
    char ids[3][EASEL_UUID_LEN + 1], canon[3][128];
    struct easel_queue_adopt a[3];

    push(t->q, "{\"a\":1}");
    push(t->q, "{\"a\":2}");
    push(t->q, "{\"a\":3}");
    assert_int_equal(claim(t->q, 3, 0, e), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(easel_uuid_v4(ids[i]), EASEL_OK);
        easel_snprintf(canon[i], sizeof(canon[i]), "{\"id\":\"%s\",\"a\":%d}",
                       ids[i], i + 1);
        a[i] = (struct easel_queue_adopt){e[i].raw, e[i].len, ids[i], canon[i]};
    }
    assert_int_equal(easel_queue_adopt(t->q, a, 3), EASEL_OK);
    easel_queue_entries_free(e, 3);

    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.leased, 3);
    redisReply *r = raw(t, "HGET %s:claims %s", t->name, ids[1]);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, canon[1]);
    freeReplyObject(r);
    r = raw(t, "HGET %s:owners %s", t->name, ids[1]);
    assert_string_equal(r->str, t->cid);
    freeReplyObject(r);
    r = raw(t, "ZSCORE %s:leases %s", t->name, ids[1]);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    double deadline = strtod(r->str, NULL);
    freeReplyObject(r);
    double now = (double)easel_wall_ms();
    assert_true(deadline > now + 25000 && deadline < now + 35000);

    const char *idp[3] = {ids[0], ids[1], ids[2]};
    assert_int_equal(easel_queue_ack(t->q, idp, 3), EASEL_OK);
    assert_int_equal(easel_queue_ack(t->q, idp, 3), EASEL_OK); /* idempotent */

    /* only the controller's own liveness entry remains */
    r = raw(t, "KEYS %s*", t->name);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    if (r->elements != 1)
        fail_msg("%zu keys left, first %s", r->elements,
                 r->elements ? r->element[0]->str : "-");
    char want[96];
    easel_snprintf(want, sizeof(want), "%s:controllers", t->name);
    assert_string_equal(r->element[0]->str, want);
    freeReplyObject(r);
    s = stats(t->q);
    assert_int_equal(s.pending + s.inflight + s.leased + s.delayed + s.dead, 0);
}

static void test_adopt_large_batch(void **state)
{
    struct t *t = *state;
    enum { N = 600 };
    struct easel_queue_entry *e = calloc(N, sizeof(*e));
    struct easel_queue_adopt *a = calloc(N, sizeof(*a));
    char (*ids)[EASEL_UUID_LEN + 1] = calloc(N, sizeof(*ids));
    const char **idp = calloc(N, sizeof(*idp));
    assert_true(e && a && ids && idp);
    char buf[32];
    for (int i = 0; i < N; i++) {
        easel_snprintf(buf, sizeof(buf), "{\"i\":%d}", i);
        push(t->q, buf);
    }
    size_t n = 0;
    while (n < N) {
        size_t got = claim(t->q, N - n, 0, e + n);
        assert_true(got > 0);
        n += got;
    }
    for (int i = 0; i < N; i++) {
        easel_snprintf(buf, sizeof(buf), "{\"i\":%d}", i);
        assert_string_equal(e[i].raw, buf); /* FIFO across calls */
        easel_uuid_v4(ids[i]);
        idp[i] = ids[i];
        a[i] = (struct easel_queue_adopt){e[i].raw, e[i].len, ids[i], e[i].raw};
    }
    /* an emptied script cache is refilled transparently, also mid-pipeline */
    freeReplyObject(raw(t, "SCRIPT FLUSH"));
    assert_int_equal(easel_queue_adopt(t->q, a, N), EASEL_OK);
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.leased, N);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(easel_queue_ack(t->q, idp, N), EASEL_OK);
    s = stats(t->q);
    assert_int_equal(s.leased, 0);
    assert_int_equal(raw_int(t, "EXISTS %s:claims %s:owners", t->name, t->name),
                     0);
    easel_queue_entries_free(e, N);
    free(e);
    free(a);
    free(ids);
    free(idp);
}

static void test_retry_promote(void **state)
{
    struct t *t = *state;
    char canon[128], id[EASEL_UUID_LEN + 1];
    struct easel_queue_entry e[2];
    size_t moved = 99;
    int64_t next = -1;

    easel_uuid_v4(id);
    push(t->q, "{\"r\":1}");
    claim_adopt(t->q, id, canon, sizeof(canon));

    int64_t due = easel_wall_ms() + 400;
    assert_int_equal(easel_queue_retry(t->q, id, NULL, due), EASEL_OK);
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.leased, 0);
    assert_int_equal(s.delayed, 1);
    assert_int_equal(raw_int(t, "HEXISTS %s:claims %s", t->name, id), 0);
    /* again: only the due time moves */
    due = easel_wall_ms() + 400;
    assert_int_equal(easel_queue_retry(t->q, id, NULL, due), EASEL_OK);
    assert_int_equal(stats(t->q).delayed, 1);

    assert_int_equal(easel_queue_promote(t->q, 10, &moved, &next), EASEL_OK);
    assert_int_equal(moved, 0);
    assert_int_equal(next, due);
    assert_int_equal(stats(t->q).pending, 0);

    easel_sleep_ms(due - easel_wall_ms() + 50);
    assert_int_equal(easel_queue_promote(t->q, 10, &moved, &next), EASEL_OK);
    assert_int_equal(moved, 1);
    assert_int_equal(next, 0);
    s = stats(t->q);
    assert_int_equal(s.delayed, 0);
    assert_int_equal(s.pending, 1);
    assert_int_equal(raw_int(t, "EXISTS %s:delayed:ids", t->name), 0);
    assert_int_equal(claim(t->q, 2, 0, e), 1);
    assert_string_equal(e[0].raw, canon); /* comes back canonical */
    easel_queue_entries_free(e, 1);

    /* retry with a replacement entry (say, the next attempt) */
    char canon2[160];
    struct easel_queue_adopt a = {canon, strlen(canon), id, canon};
    assert_int_equal(easel_queue_adopt(t->q, &a, 1), EASEL_OK);
    easel_snprintf(canon2, sizeof(canon2), "{\"id\":\"%s\",\"attempt\":2}", id);
    assert_int_equal(easel_queue_retry(t->q, id, canon2, easel_wall_ms() + 60000),
                     EASEL_OK);
    assert_int_equal(easel_queue_retry(t->q, id, NULL, easel_wall_ms() - 1),
                     EASEL_OK);
    assert_int_equal(stats(t->q).delayed, 1);
    assert_int_equal(easel_queue_promote(t->q, 10, &moved, NULL), EASEL_OK);
    assert_int_equal(moved, 1);
    assert_int_equal(claim(t->q, 2, 0, e), 1);
    assert_string_equal(e[0].raw, canon2);
    easel_queue_entries_free(e, 1);

    /* unknown job, no entry */
    assert_int_equal(easel_queue_retry(t->q, "nope", NULL, 0), EASEL_ENOTFOUND);
    assert_non_null(strstr(easel_queue_errstr(t->q), "nope"));
}

static void test_promote_order_and_limit(void **state)
{
    struct t *t = *state;
    char member[64];
    int64_t now = easel_wall_ms();
    for (int i = 0; i < 5; i++) {
        easel_snprintf(member, sizeof(member), "{\"id\":\"j%d\"}", i);
        /* j0 is due last among the due ones, j4 not due at all */
        int64_t due = i == 4 ? now + 60000 : now - 10 * (i + 1);
        char id[8];
        easel_snprintf(id, sizeof(id), "j%d", i);
        assert_int_equal(easel_queue_retry(t->q, id, member, due), EASEL_OK);
    }
    size_t moved = 0;
    int64_t next = 0;
    assert_int_equal(easel_queue_promote(t->q, 3, &moved, &next), EASEL_OK);
    assert_int_equal(moved, 3);
    assert_int_equal(next, now - 10); /* j0 still waiting */
    assert_int_equal(easel_queue_promote(t->q, 3, &moved, &next), EASEL_OK);
    assert_int_equal(moved, 1);
    assert_int_equal(next, now + 60000);
    struct easel_queue_entry e[4];
    assert_int_equal(claim(t->q, 4, 0, e), 4);
    assert_string_equal(e[0].raw, "{\"id\":\"j3\"}"); /* earliest due first */
    assert_string_equal(e[3].raw, "{\"id\":\"j0\"}");
    easel_queue_entries_free(e, 4);
}

static cJSON *letter(struct easel_queue *q, size_t i, size_t expect_total)
{
    struct easel_queue_entry e[8];
    size_t n = 0;
    assert_int_equal(easel_queue_dead_list(q, 8, e, &n), EASEL_OK);
    assert_int_equal(n, expect_total);
    cJSON *j = cJSON_Parse(e[i].raw);
    easel_queue_entries_free(e, n);
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_dead_undead(void **state)
{
    struct t *t = *state;
    char id1[EASEL_UUID_LEN + 1], id2[EASEL_UUID_LEN + 1];
    char c1[128], c2[128];
    bool found = true;

    easel_uuid_v4(id1);
    easel_uuid_v4(id2);
    push(t->q, "{\"url\":\"https://x/1.png\"}");
    push(t->q, "{\"d\":2}");
    claim_adopt(t->q, id1, c1, sizeof(c1));
    claim_adopt(t->q, id2, c2, sizeof(c2));

    int64_t before = easel_wall_ms();
    assert_int_equal(easel_queue_dead(t->q, id1, NULL, "out_of_attempts",
                                      "503 from provider \"x\""), EASEL_OK);
    cJSON *j = letter(t->q, 0, 1);
    assert_string_equal(jstr(j, "id"), id1);
    assert_string_equal(jstr(j, "reason"), "out_of_attempts");
    assert_string_equal(jstr(j, "error"), "503 from provider \"x\"");
    assert_string_equal(jstr(j, "entry"), c1);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "at");
    assert_true(cJSON_IsNumber(at));
    assert_true(at->valuedouble >= (double)before - 1000);
    cJSON_Delete(j);
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.leased, 1);
    assert_int_equal(s.dead, 1);
    assert_int_equal(raw_int(t, "HEXISTS %s:claims %s", t->name, id1), 0);
    assert_int_equal(raw_int(t, "HEXISTS %s:owners %s", t->name, id1), 0);

    /* a second dead letter for the same id replaces the first */
    assert_int_equal(easel_queue_dead(t->q, id1, "{\"id\":\"x\"}", "manual",
                                      NULL), EASEL_OK);
    j = letter(t->q, 0, 1);
    assert_string_equal(jstr(j, "reason"), "manual");
    assert_string_equal(jstr(j, "error"), "");
    assert_string_equal(jstr(j, "entry"), "{\"id\":\"x\"}");
    cJSON_Delete(j);

    assert_int_equal(easel_queue_dead(t->q, id2, NULL, "invalid_input", "bad"),
                     EASEL_OK);
    j = letter(t->q, 0, 2); /* newest first */
    assert_string_equal(jstr(j, "id"), id2);
    cJSON_Delete(j);
    assert_int_equal(stats(t->q).leased, 0);

    assert_int_equal(easel_queue_undead(t->q, id1, &found), EASEL_OK);
    assert_true(found);
    j = letter(t->q, 0, 1);
    assert_string_equal(jstr(j, "id"), id2);
    cJSON_Delete(j);
    assert_int_equal(easel_queue_undead(t->q, id1, &found), EASEL_OK);
    assert_false(found);

    /* dead for a job waiting to be retried takes it out of the delayed set */
    char id3[EASEL_UUID_LEN + 1];
    easel_uuid_v4(id3);
    assert_int_equal(easel_queue_retry(t->q, id3, "{\"w\":1}",
                                       easel_wall_ms() + 60000), EASEL_OK);
    assert_int_equal(easel_queue_dead(t->q, id3, NULL, "canceled", NULL),
                     EASEL_OK);
    s = stats(t->q);
    assert_int_equal(s.delayed, 0);
    assert_int_equal(s.dead, 2);
    j = letter(t->q, 0, 2);
    assert_string_equal(jstr(j, "entry"), "{\"w\":1}");
    cJSON_Delete(j);
}

static void test_reject(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[1];
    push(t->q, "not json at all");
    assert_int_equal(claim(t->q, 1, 0, e), 1);
    assert_int_equal(easel_queue_reject(t->q, e[0].raw, e[0].len,
                                        "malformed_json", "expected an object"),
                     EASEL_OK);
    easel_queue_entries_free(e, 1);
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.dead, 1);
    cJSON *j = letter(t->q, 0, 1);
    assert_string_equal(jstr(j, "id"), "");
    assert_string_equal(jstr(j, "reason"), "malformed_json");
    assert_string_equal(jstr(j, "error"), "expected an object");
    assert_string_equal(jstr(j, "entry"), "not json at all");
    cJSON_Delete(j);
    bool found = true;
    assert_int_equal(easel_queue_undead(t->q, "", &found), EASEL_EINVAL);
}

static void test_recover_inflight(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[8];
    size_t moved = 99;
    struct easel_queue *b = open_q(t, "ctl-b", 200);

    push(t->q, "{\"o\":1}");
    push(t->q, "{\"o\":2}");
    push(t->q, "{\"o\":3}");
    assert_int_equal(claim(b, 3, 0, e), 3); /* b claims and "dies" */
    easel_queue_entries_free(e, 3);
    push(t->q, "{\"o\":4}");
    push(t->q, "{\"o\":5}");
    assert_int_equal(stats(t->q).controllers, 1);
    /* a heartbeat registers this controller too */
    assert_int_equal(easel_queue_renew(t->q, NULL, 0, NULL, NULL), EASEL_OK);
    assert_int_equal(stats(t->q).controllers, 2);

    assert_int_equal(easel_queue_recover_inflight(t->q, &moved), EASEL_OK);
    assert_int_equal(moved, 0); /* b is still alive */
    easel_sleep_ms(300);
    assert_int_equal(easel_queue_recover_inflight(t->q, &moved), EASEL_OK);
    assert_int_equal(moved, 3);
    assert_int_equal(raw_int(t, "EXISTS %s:inflight:ctl-b", t->name), 0);
    redisReply *r = raw(t, "ZSCORE %s:controllers ctl-b", t->name);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.controllers, 1);
    assert_int_equal(s.pending, 5);

    /* recovered entries come first, in their original order */
    assert_int_equal(claim(t->q, 8, 0, e), 5);
    for (int i = 0; i < 5; i++) {
        char want[16];
        easel_snprintf(want, sizeof(want), "{\"o\":%d}", i + 1);
        assert_string_equal(e[i].raw, want);
    }
    easel_queue_entries_free(e, 5);
    easel_queue_free(b);
}

static void test_release_inflight(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[4];
    size_t moved = 0;
    push(t->q, "{\"p\":1}");
    push(t->q, "{\"p\":2}");
    push(t->q, "{\"p\":3}");
    assert_int_equal(claim(t->q, 2, 0, e), 2);
    easel_queue_entries_free(e, 2);
    assert_int_equal(easel_queue_release_inflight(t->q, &moved), EASEL_OK);
    assert_int_equal(moved, 2);
    assert_int_equal(claim(t->q, 4, 0, e), 3);
    assert_string_equal(e[0].raw, "{\"p\":1}");
    assert_string_equal(e[1].raw, "{\"p\":2}");
    assert_string_equal(e[2].raw, "{\"p\":3}");
    easel_queue_entries_free(e, 3);
}

/* A taken-over job the holder has no slot for goes to the head of the
 * queue, ahead of everything waiting, and leaves nothing of its lease. */
static void test_requeue_goes_first(void **state)
{
    struct t *t = *state;
    char j1[EASEL_UUID_LEN + 1], c1[128];
    struct easel_queue_entry e[4];

    easel_uuid_v4(j1);
    push(t->q, "{\"r\":1}");
    claim_adopt(t->q, j1, c1, sizeof(c1));
    push(t->q, "{\"r\":2}");
    push(t->q, "{\"r\":3}");
    assert_int_equal(easel_queue_requeue(t->q, j1, NULL), EASEL_OK);
    assert_int_equal(raw_int(t, "ZCARD %s:leases", t->name), 0);
    assert_int_equal(raw_int(t, "HLEN %s:owners", t->name), 0);
    assert_int_equal(raw_int(t, "HLEN %s:claims", t->name), 0);
    assert_int_equal(claim(t->q, 4, 0, e), 3);
    assert_string_equal(e[0].raw, c1);
    assert_string_equal(e[1].raw, "{\"r\":2}");
    assert_string_equal(e[2].raw, "{\"r\":3}");
    easel_queue_entries_free(e, 3);

    /* a job waiting in the delayed set moves from there, not copied */
    assert_int_equal(easel_queue_retry(t->q, j1, c1, easel_wall_ms() + 60000),
                     EASEL_OK);
    assert_int_equal(easel_queue_requeue(t->q, j1, NULL), EASEL_OK);
    assert_int_equal(raw_int(t, "ZCARD %s:delayed", t->name), 0);
    assert_int_equal(raw_int(t, "HLEN %s:delayed:ids", t->name), 0);
    assert_int_equal(raw_int(t, "LLEN %s", t->name), 1);
    /* unknown job, no entry given */
    char j2[EASEL_UUID_LEN + 1];
    easel_uuid_v4(j2);
    assert_int_equal(easel_queue_requeue(t->q, j2, NULL), EASEL_ENOTFOUND);
    assert_int_equal(easel_queue_requeue(t->q, "", NULL), EASEL_EINVAL);
}

static void test_take_expired_and_renew(void **state)
{
    struct t *t = *state;
    char j1[EASEL_UUID_LEN + 1], j2[EASEL_UUID_LEN + 1];
    char c1[128], c2[128];
    char ids[4][EASEL_UUID_LEN + 1];
    struct easel_queue_entry e[4];
    size_t n = 99, nlost = 99;
    bool lost[2];
    struct easel_queue *b = open_q(t, "ctl-b", 300);

    easel_uuid_v4(j1);
    easel_uuid_v4(j2);
    push(b, "{\"k\":1}");
    push(b, "{\"k\":2}");
    int64_t t0 = easel_now_ms();
    claim_adopt(b, j1, c1, sizeof(c1));
    claim_adopt(b, j2, c2, sizeof(c2));

    assert_int_equal(easel_queue_take_expired(t->q, 4, ids, e, &n), EASEL_OK);
    assert_int_equal(n, 0);

    easel_sleep_ms(150 - (easel_now_ms() - t0));
    const char *only1[1] = {j1};
    assert_int_equal(easel_queue_renew(b, only1, 1, lost, &nlost), EASEL_OK);
    assert_int_equal(nlost, 0);
    assert_false(lost[0]);

    easel_sleep_ms(370 - (easel_now_ms() - t0)); /* j2 expired, j1 not */
    assert_int_equal(easel_queue_take_expired(t->q, 4, ids, e, &n), EASEL_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], j2);
    assert_string_equal(e[0].raw, c2);
    easel_queue_entries_free(e, n);
    redisReply *r = raw(t, "HGET %s:owners %s", t->name, j2);
    assert_string_equal(r->str, t->cid);
    freeReplyObject(r);

    /* b learns it lost j2 and keeps j1 */
    const char *both[2] = {j1, j2};
    assert_int_equal(easel_queue_renew(b, both, 2, lost, &nlost), EASEL_OK);
    assert_int_equal(nlost, 1);
    assert_false(lost[0]);
    assert_true(lost[1]);
    assert_int_equal(easel_queue_renew(b, both, 2, NULL, NULL), EASEL_OK);
    /* the new holder renews it fine; an acked job is lost to everyone */
    assert_int_equal(easel_queue_renew(t->q, both + 1, 1, lost, &nlost),
                     EASEL_OK);
    assert_int_equal(nlost, 0);
    assert_int_equal(easel_queue_ack(t->q, both + 1, 1), EASEL_OK);
    assert_int_equal(easel_queue_renew(t->q, both + 1, 1, lost, &nlost),
                     EASEL_OK);
    assert_int_equal(nlost, 1);
    /* renew with no ids is a heartbeat */
    assert_int_equal(easel_queue_renew(b, NULL, 0, NULL, &nlost), EASEL_OK);
    easel_queue_free(b);
}

static void test_idempotency(void **state)
{
    struct t *t = *state;
    char existing[EASEL_UUID_LEN + 1];
    assert_int_equal(easel_queue_idempotency(t->q, "order-17", "job-a", 300,
                                             existing), EASEL_OK);
    assert_string_equal(existing, "");
    assert_int_equal(easel_queue_idempotency(t->q, "order-17", "job-b", 300,
                                             existing), EASEL_OK);
    assert_string_equal(existing, "job-a");
    long long ttl = raw_int(t, "PTTL %s:idem:order-17", t->name);
    assert_true(ttl > 0 && ttl <= 300);
    easel_sleep_ms(400);
    assert_int_equal(easel_queue_idempotency(t->q, "order-17", "job-c", 300,
                                             existing), EASEL_OK);
    assert_string_equal(existing, "");
    assert_int_equal(easel_queue_idempotency(t->q, "", "job-c", 300, existing),
                     EASEL_EINVAL);
}

static void test_cancel_delayed(void **state)
{
    struct t *t = *state;
    char id[EASEL_UUID_LEN + 1], canon[128];
    bool removed = false;
    easel_uuid_v4(id);
    push(t->q, "{\"c\":1}");
    claim_adopt(t->q, id, canon, sizeof(canon));
    assert_int_equal(easel_queue_retry(t->q, id, NULL, easel_wall_ms() + 60000),
                     EASEL_OK);
    assert_int_equal(stats(t->q).delayed, 1);
    assert_int_equal(easel_queue_cancel_delayed(t->q, id, &removed), EASEL_OK);
    assert_true(removed);
    assert_int_equal(stats(t->q).delayed, 0);
    assert_int_equal(raw_int(t, "EXISTS %s:delayed %s:delayed:ids", t->name,
                             t->name), 0);
    assert_int_equal(easel_queue_cancel_delayed(t->q, id, &removed), EASEL_OK);
    assert_false(removed);
}

static void test_stats(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[2];
    char id[EASEL_UUID_LEN + 1], canon[128];
    struct easel_queue_stats s = stats(t->q);
    assert_int_equal(s.pending + s.inflight + s.leased + s.delayed + s.dead +
                         s.controllers, 0);
    for (int i = 0; i < 5; i++)
        push(t->q, "{\"s\":1}");
    easel_uuid_v4(id);
    claim_adopt(t->q, id, canon, sizeof(canon)); /* leased 1 */
    assert_int_equal(claim(t->q, 2, 0, e), 2);   /* in flight 2 */
    easel_queue_entries_free(e, 2);
    struct easel_queue *b = open_q(t, "ctl-b", 0);
    assert_int_equal(claim(b, 1, 0, e), 1); /* in flight 3, 2 controllers */
    easel_queue_entries_free(e, 1);
    assert_int_equal(easel_queue_retry(t->q, "x1", "{\"id\":\"x1\"}",
                                       easel_wall_ms() + 60000), EASEL_OK);
    assert_int_equal(easel_queue_dead(t->q, "x2", NULL, "r", "m"), EASEL_OK);
    s = stats(t->q);
    assert_int_equal(s.pending, 1);
    assert_int_equal(s.inflight, 3);
    assert_int_equal(s.leased, 1);
    assert_int_equal(s.delayed, 1);
    assert_int_equal(s.dead, 1);
    assert_int_equal(s.controllers, 2);
    easel_queue_free(b);
}

/* Kills a queue's server-side connection, found by its client name
 * ("easel:<controller id>"). Returns how many were killed. */
static long long kill_client(redisContext *c, const char *cid)
{
    char name[96];
    long long killed = 0;
    easel_snprintf(name, sizeof(name), " name=easel:%s ", cid);
    redisReply *r = redisCommand(c, "CLIENT LIST");
    if (!r)
        return 0;
    const char *line = r->type == REDIS_REPLY_STRING ? strstr(r->str, name)
                                                     : NULL;
    if (line) {
        while (line > r->str && line[-1] != '\n')
            line--;
        long long id = strtoll(line + 3, NULL, 10); /* "id=N ..." */
        redisReply *k = redisCommand(c, "CLIENT KILL ID %lld", id);
        if (k && k->type == REDIS_REPLY_INTEGER)
            killed = k->integer;
        if (k)
            freeReplyObject(k);
    }
    freeReplyObject(r);
    return killed;
}

struct killer {
    const char *cid;
    long long killed;
};

static void *killer_main(void *arg)
{
    struct killer *k = arg;
    redisContext *c = raw_connect();
    easel_sleep_ms(150);
    if (c) {
        k->killed = kill_client(c, k->cid);
        redisFree(c);
    }
    return NULL;
}

static void test_reconnect_after_kill(void **state)
{
    struct t *t = *state;
    struct easel_queue_entry e[1];
    size_t n = 0;
    push(t->q, "{\"before\":1}");
    assert_int_equal(kill_client(t->raw, t->cid), 1);

    easel_err rc = easel_queue_push(t->q, "{\"x\":1}", 7);
    assert_int_equal(rc, EASEL_ECONN);
    assert_non_null(strstr(easel_queue_errstr(t->q), "reconnect"));
    /* every later call fails at once, without touching the network */
    int64_t t0 = easel_now_us();
    assert_int_equal(easel_queue_claim(t->q, 1, 1000, e, &n), EASEL_ECONN);
    assert_int_equal(n, 0);
    assert_int_equal(easel_queue_push(t->q, "{\"x\":1}", 7), EASEL_ECONN);
    struct easel_queue_stats s;
    assert_int_equal(easel_queue_stats(t->q, &s), EASEL_ECONN);
    const char *ids[1] = {"j"};
    assert_int_equal(easel_queue_ack(t->q, ids, 1), EASEL_ECONN);
    assert_true(easel_now_us() - t0 < 50000);

    assert_int_equal(easel_queue_reconnect(t->q), EASEL_OK);
    assert_string_equal(easel_queue_errstr(t->q), "");
    assert_int_equal(easel_queue_reconnect(t->q), EASEL_OK); /* repeatable */
    assert_int_equal(claim(t->q, 1, 0, e), 1);
    assert_string_equal(e[0].raw, "{\"before\":1}");
    easel_queue_entries_free(e, 1);

    /* killed while blocked in a claim: the claim returns at once */
    struct killer k = {t->cid, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, killer_main, &k), 0);
    t0 = easel_now_us();
    assert_int_equal(easel_queue_claim(t->q, 1, 10000, e, &n), EASEL_ECONN);
    assert_true(easel_now_us() - t0 < 5000000);
    pthread_join(th, NULL);
    assert_int_equal(k.killed, 1);
    assert_int_equal(easel_queue_reconnect(t->q), EASEL_OK);
    assert_int_equal(claim(t->q, 1, 0, e), 0);
}

static void test_redis_restart(void **state)
{
    struct t *t = *state;
    const char *dir = getenv("EASEL_TEST_SERVICES_DIR");
    const char *root = getenv("EASEL_ROOT");
    char cmd[1024];
    struct easel_queue_entry e[1];
    if (!dir || !root) {
        /* Restarting needs the services directory that hack/run-tests.sh
         * passes; the kill test above covers the same client path. */
        skip();
    }
    push(t->q, "{\"durable\":1}");
    easel_snprintf(cmd, sizeof(cmd), "%s/hack/services.sh stop-redis %s", root,
                   dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(easel_queue_push(t->q, "{\"x\":1}", 7), EASEL_ECONN);
    assert_int_equal(easel_queue_reconnect(t->q), EASEL_ECONN);
    assert_non_null(strstr(easel_queue_errstr(t->q), "cannot connect"));
    assert_int_equal(easel_queue_reconnect(t->q), EASEL_ECONN);
    assert_int_equal(easel_queue_push(t->q, "{\"x\":1}", 7), EASEL_ECONN);
    easel_snprintf(cmd, sizeof(cmd), "%s/hack/services.sh start-redis %s",
                   root, dir);
    assert_int_equal(system(cmd), 0);
    /* While Redis loads its dataset it answers LOADING: reconnect fails
     * with EASEL_ECONN and the caller tries again, as a controller does. */
    easel_err rc = EASEL_ECONN;
    for (int i = 0; i < 200 && rc == EASEL_ECONN; i++) {
        rc = easel_queue_reconnect(t->q);
        if (rc == EASEL_ECONN)
            easel_sleep_ms(50);
    }
    if (rc)
        fail_msg("reconnect after restart: %s", easel_queue_errstr(t->q));
    assert_int_equal(claim(t->q, 1, 0, e), 1); /* AOF kept the entry */
    assert_string_equal(e[0].raw, "{\"durable\":1}");
    easel_queue_entries_free(e, 1);
    redisFree(t->raw);
    t->raw = raw_connect();
    assert_non_null(t->raw);
}

static void test_auth_and_db(void **state)
{
    struct t *t = *state;
    struct queue_url u;
    char why[200], u1[512];
    assert_int_equal(queue_url_parse(url(), &u, why, sizeof(why)), EASEL_OK);
    char user[40];
    easel_snprintf(user, sizeof(user), "u%s", t->cid);
    redisReply *r = raw(t, "ACL SETUSER %s on >p@ss:w/rd ~* &* +@all", user);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    easel_snprintf(u1, sizeof(u1), "redis://%s:p%%40ss%%3Aw%%2Frd@%s:%d/5", user,
                   u.host, u.port);
    struct easel_queue_opts o = {.url = u1, .name = t->name};
    struct easel_queue *q = NULL;
    struct easel_error err;
    easel_err rc = easel_queue_open(&o, &q, &err);
    if (rc)
        fail_msg("open with user: %s", err.msg);
    push(q, "{\"db\":5}");
    easel_queue_free(q);
    freeReplyObject(raw(t, "SELECT 5"));
    assert_int_equal(raw_int(t, "LLEN %s", t->name), 1);
    freeReplyObject(raw(t, "DEL %s", t->name));
    freeReplyObject(raw(t, "SELECT %d", u.db));

    easel_snprintf(u1, sizeof(u1), "redis://%s:wrong@%s:%d", user, u.host,
                   u.port);
    o.url = u1;
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_ECONN);
    assert_null(q);
    assert_non_null(strstr(err.msg, "WRONGPASS"));
    assert_null(strstr(err.msg, "wrong@"));
    freeReplyObject(raw(t, "ACL DELUSER %s", user));
}

static void test_bad_url_and_options(void **state)
{
    struct t *t = *state;
    /* any non-NULL value: open must clear *out on failure */
    struct easel_queue *q = (struct easel_queue *)&q;
    struct easel_error err;
    struct easel_queue_opts o = {.url = "http://localhost:6379", .name = "x"};
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_EINVAL);
    assert_null(q);
    assert_int_equal(err.code, EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "redis://"));
    assert_string_equal(err.reason, "bad_redis_url");

    o.url = "redis://localhost:99999";
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "port"));
    o.url = NULL;
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    o.url = url();
    o.name = "";
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_EINVAL);
    assert_int_equal(easel_queue_open(NULL, &q, NULL), EASEL_EINVAL);

    /* nothing listens on port 1 */
    o.url = "redis://127.0.0.1:1";
    o.name = "x";
    assert_int_equal(easel_queue_open(&o, &q, &err), EASEL_ECONN);
    assert_null(q);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));

    /* argument checks, and the producer/controller split */
    struct easel_queue *p = open_q(t, NULL, 0);
    struct easel_queue_entry e[1];
    size_t n = 0;
    assert_int_equal(easel_queue_claim(p, 1, 0, e, &n), EASEL_EINVAL);
    assert_non_null(strstr(easel_queue_errstr(p), "controller id"));
    assert_int_equal(easel_queue_claim(t->q, 0, 0, e, &n), EASEL_EINVAL);
    assert_int_equal(easel_queue_push(t->q, "", 0), EASEL_EINVAL);
    struct easel_queue_adopt a = {"{}", 2, "0123456789012345678901234567890123456",
                                  "{}"};
    assert_int_equal(easel_queue_adopt(t->q, &a, 1), EASEL_EINVAL);
    easel_queue_free(p);
    easel_queue_free(NULL);
    easel_queue_entries_free(NULL, 3);
    assert_string_equal(easel_queue_errstr(NULL), "");
}

/* --------------------------------------------------------------- warm pool */

/* pool_put moves a job the caller leases to Q:pool in one step and refuses
 * one it no longer owns; a worker's pool_claim leases it to the worker, who
 * renews and acks like a controller. */
static void test_pool_put_claim(void **state)
{
    struct t *t = *state;
    char canon[256], k[128];
    push(t->q, "{\"model\":\"m1\"}");
    claim_adopt(t->q, "job-1", canon, sizeof(canon));
    struct easel_queue *other = open_q(t, "ctl-other", 30000);
    bool put = true;
    assert_int_equal(easel_queue_pool_put(other, "job-1", canon, &put), EASEL_OK);
    assert_false(put); /* not its lease: nothing moved */
    easel_snprintf(k, sizeof(k), "%s:pool", t->name);
    assert_int_equal(raw_int(t, "LLEN %s", k), 0);
    assert_int_equal(easel_queue_pool_put(t->q, "job-1", canon, &put), EASEL_OK);
    assert_true(put);
    assert_int_equal(raw_int(t, "LLEN %s", k), 1);
    assert_int_equal(stats(t->q).leased, 0);
    assert_int_equal(stats(t->q).pool, 1);
    easel_snprintf(k, sizeof(k), "%s:claims", t->name);
    assert_int_equal(raw_int(t, "HEXISTS %s job-1", k), 1); /* kept for retry/dead */

    struct easel_queue *w = open_q(t, "pool-w1", 30000);
    struct easel_queue_entry e[4];
    size_t n = 99;
    assert_int_equal(easel_queue_pool_claim(w, 4, 0, e, &n), EASEL_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].raw, canon);
    easel_queue_entries_free(e, n);
    easel_snprintf(k, sizeof(k), "%s:owners", t->name);
    redisReply *r = raw(t, "HGET %s job-1", k);
    assert_string_equal(r->str, "pool-w1");
    freeReplyObject(r);
    const char *ids[] = {"job-1"};
    bool lost[1] = {true};
    assert_int_equal(easel_queue_renew(w, ids, 1, lost, NULL), EASEL_OK);
    assert_false(lost[0]);
    assert_int_equal(easel_queue_ack(w, ids, 1), EASEL_OK);
    struct easel_queue_stats st = stats(t->q);
    assert_int_equal(st.leased + st.pending + st.delayed, 0);
    easel_queue_free(w);
    easel_queue_free(other);
}

/* An empty pool blocks in Redis and wakes for a push; an entry a worker
 * moved but never leased (it died between the move and the script) is
 * recovered to the pending list once its liveness lapses. */
static void test_pool_claim_blocks_and_recovers(void **state)
{
    struct t *t = *state;
    char k[128];
    struct easel_queue *w = open_q(t, "pool-w2", 400);
    struct easel_queue_entry e[2];
    size_t n = 99;
    int64_t t0 = easel_now_ms();
    assert_int_equal(easel_queue_pool_claim(w, 2, 150, e, &n), EASEL_OK);
    assert_int_equal(n, 0);
    assert_true(easel_now_ms() - t0 >= 140);
    easel_snprintf(k, sizeof(k), "%s:pool", t->name);
    freeReplyObject(raw(t, "LPUSH %s {\"id\":\"job-2\",\"model\":\"m\"}", k));
    assert_int_equal(easel_queue_pool_claim(w, 2, 1000, e, &n), EASEL_OK);
    assert_int_equal(n, 1);
    easel_queue_entries_free(e, n);
    /* a move that was never leased */
    char inflight[128];
    easel_snprintf(inflight, sizeof(inflight), "%s:inflight:pool-w2", t->name);
    freeReplyObject(raw(t, "LPUSH %s {\"id\":\"job-3\",\"model\":\"m\"}", inflight));
    easel_queue_free(w); /* dies: its liveness lapses after 400 ms */
    easel_sleep_ms(500);
    size_t moved = 0;
    assert_int_equal(easel_queue_recover_inflight(t->q, &moved), EASEL_OK);
    assert_int_equal(moved, 1);
    assert_int_equal(raw_int(t, "LLEN %s", t->name), 1);
    assert_int_equal(raw_int(t, "LLEN %s", inflight), 0);
}

/* The backlog by model, as the external metrics API reads it, with no
 * record callback: adopted jobs count as started. */
struct counts {
    int64_t pending, claimed, delayed, pool, total;
};
static struct counts backlog(struct easel_queue *q, const char *model)
{
    struct easel_backlog b;
    struct easel_backlog_opts o = {.by_model = true};
    struct counts c = {0};
    if (easel_queue_backlog(q, &o, &b))
        fail_msg("backlog: %s", easel_queue_errstr(q));
    if (!model) {
        c = (struct counts){b.pending, b.claimed, b.delayed, b.pooled, 0};
    } else {
        for (size_t i = 0; i < b.nmodels; i++)
            if (!strcmp(b.models[i].model, model))
                c = (struct counts){b.models[i].pending, b.models[i].claimed,
                                    b.models[i].delayed, b.models[i].pooled, 0};
    }
    c.total = c.pending + c.claimed + c.delayed + c.pool;
    easel_backlog_cleanup(&b);
    return c;
}

/* The backlog counts each waiting job once wherever it waits (pending,
 * claimed but not adopted, delayed, pooled, whose claim it keeps), per
 * model, and stops counting it once it is leased. */
static void test_backlog(void **state)
{
    struct t *t = *state;
    char canon[256], k[128];
    push(t->q, "{\"model\":\"m1\",\"n\":1}");
    push(t->q, "{\"model\":\"m2\",\"n\":2}");
    claim_adopt(t->q, "job-a", canon, sizeof(canon)); /* {"id","raw":{m1}} */
    /* canonical entries name the model at the top level, as the claimer writes them */
    assert_int_equal(easel_queue_retry(t->q, "job-a", "{\"id\":\"job-a\",\"model\":\"m1\"}",
                                       easel_wall_ms() + 60000), EASEL_OK);
    push(t->q, "{\"model\":\"m1\",\"n\":3}");
    push(t->q, "{\"image_id\":\"x\"}"); /* names no model */
    struct easel_queue_entry e[1];
    assert_int_equal(claim(t->q, 1, 0, e), 1); /* m2: claimed, not adopted */
    easel_queue_entries_free(e, 1);
    easel_snprintf(k, sizeof(k), "%s:pool", t->name);
    freeReplyObject(raw(t, "LPUSH %s {\"id\":\"job-p\",\"model\":\"m1\"}", k));
    freeReplyObject(raw(t, "LPUSH %s {\"id\":\"job-q\",\"model\":\"m3\"}", k));

    struct counts b = backlog(t->q, NULL);
    assert_int_equal(b.pending, 2);
    assert_int_equal(b.claimed, 1);
    assert_int_equal(b.delayed, 1);
    assert_int_equal(b.pool, 2);
    assert_int_equal(b.total, 6);
    b = backlog(t->q, "m1");
    assert_int_equal(b.pending, 1);
    assert_int_equal(b.claimed, 0);
    assert_int_equal(b.delayed, 1);
    assert_int_equal(b.pool, 1);
    assert_int_equal(b.total, 3);
    assert_int_equal(backlog(t->q, "m2").claimed, 1);
    assert_int_equal(backlog(t->q, "m3").total, 1);
    assert_int_equal(backlog(t->q, "m").total, 0); /* a prefix is not a model */
    /* a worker takes job-p: leased, no longer waiting */
    struct easel_queue *w = open_q(t, "pool-w3", 30000);
    size_t n = 0;
    struct easel_queue_entry pe[1];
    assert_int_equal(easel_queue_pool_claim(w, 1, 0, pe, &n), EASEL_OK);
    assert_int_equal(n, 1);
    easel_queue_entries_free(pe, n);
    assert_int_equal(backlog(t->q, "m1").total, 2);
    assert_int_equal(backlog(t->q, NULL).total, 5);
    easel_queue_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_is_set),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_push_claim_fifo),
        T(test_claim_blocks_and_wakes),
        T(test_block_capped_by_lease),
        T(test_adopt_ack_leaves_no_keys),
        T(test_adopt_large_batch),
        T(test_retry_promote),
        T(test_promote_order_and_limit),
        T(test_dead_undead),
        T(test_reject),
        T(test_recover_inflight),
        T(test_release_inflight),
        T(test_take_expired_and_renew),
        T(test_requeue_goes_first),
        T(test_idempotency),
        T(test_cancel_delayed),
        T(test_stats),
        T(test_reconnect_after_kill),
        T(test_redis_restart),
        T(test_auth_and_db),
        T(test_bad_url_and_options),
        T(test_pool_put_claim),
        T(test_pool_claim_blocks_and_recovers),
        T(test_backlog),
#undef T
    };
    if (!url())
        fprintf(stderr, "EASEL_TEST_REDIS_URL is not set; every test will "
                        "fail (run hack/run-tests.sh integration queue)\n");
    easel_log_setup(EASEL_LOG_WARN, "test_queue");
    /* hiredis writes with write(2): a write to a connection the server
     * closed must fail with EPIPE, not kill the process */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
