/*
 * test_outbox.c - the webhook outbox (migration 5, pkg/store/webhooks.c)
 * against a real PostgreSQL: the trigger that writes a delivery with the
 * event that causes it, the per-job filter, claims that two senders never
 * share, a dead sender's lease taken over, the outcome of an attempt (410
 * ending the URL's other deliveries), the list and the redelivery with an
 * owner's confinement.
 *
 * Each test works in a schema of its own (search_path through the URL), so
 * the claims see only its deliveries. EASEL_TEST_DATABASE_URL as in
 * test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/store.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)
#define EV(e) EASEL_WEBHOOK_EV_BIT(EASEL_WEBHOOK_EV_##e)

#define EXPECT_RC(s, want, expr)                                              \
    do {                                                                      \
        easel_err rc_ = (expr);                                               \
        if (rc_ != (want))                                                    \
            fail_msg("%s: got %s, want %s (%s)", #expr, easel_err_name(rc_),  \
                     easel_err_name(want), easel_store_errstr(s));            \
    } while (0)
#define EXPECT_OK(s, expr) EXPECT_RC(s, EASEL_OK, expr)

struct fx {
    char schema[64];
    char *url;
    struct easel_store *s;
};

static const char *db_url(void)
{
    const char *u = getenv("EASEL_TEST_DATABASE_URL");
    if (!u || !*u)
        fail_msg("EASEL_TEST_DATABASE_URL is not set: these tests need a real PostgreSQL");
    return u;
}

static void admin(const char *sql)
{
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("admin: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static struct easel_store *open_url(const char *url)
{
    struct easel_store *s = NULL;
    struct easel_error err;
    if (easel_store_open(url, &s, &err) != EASEL_OK)
        fail_msg("open: %s", err.msg);
    return s;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char id[EASEL_UUID_LEN + 1], sql[128];
    assert_int_equal(easel_uuid_v4(id), EASEL_OK);
    (void)easel_snprintf(f->schema, sizeof(f->schema), "easel_o_%.8s", id);
    (void)easel_snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
    admin(sql);
    f->url = easel_asprintf("%s%coptions=-csearch_path%%3D%s", db_url(),
                            strchr(db_url(), '?') ? '&' : '?', f->schema);
    f->s = open_url(f->url);
    EXPECT_OK(f->s, easel_store_migrate(f->s, NULL, NULL));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char sql[128];
    easel_store_free(f->s);
    (void)easel_snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
    admin(sql);
    free(f->url);
    free(f);
    return 0;
}

/* A queued job with a webhook (or none), an owner, a filter. */
static void job(struct easel_store *s, char id[EASEL_UUID_LEN + 1], const char *hook,
                unsigned events, const char *owner)
{
    bool created = false;
    assert_int_equal(easel_uuid_v4(id), EASEL_OK);
    struct easel_job_new jn = {.id = id, .model = "m", .payload = "{}", .max_attempts = 3,
                               .status = EASEL_STATUS_QUEUED, .webhook = hook,
                               .webhook_events = events, .owner = owner,
                               .channel = owner ? "b2c" : NULL};
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_true(created);
}

static void run_to(struct easel_store *s, const char *id, enum easel_status end)
{
    struct easel_transition t = {.reason = "Dispatched", .count_attempt = true};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(QUEUED), EASEL_STATUS_DISPATCHED, &t, NULL));
    EXPECT_OK(s, easel_store_job_transition(s, id, B(DISPATCHED), EASEL_STATUS_RUNNING, NULL, NULL));
    EXPECT_OK(s, easel_store_job_progress(s, id, "model", 50, NULL, NULL));
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RUNNING), end, NULL, NULL));
}

static void list_job(struct easel_store *s, const char *id, struct easel_webhook_delivery **d,
                     size_t *n)
{
    struct easel_webhook_query q = {.job_id = id, .limit = 100};
    EXPECT_OK(s, easel_store_webhook_list(s, &q, d, n));
}

static void test_trigger_and_filter(void **state)
{
    struct fx *f = *state;
    struct easel_store *s = f->s;
    char a[EASEL_UUID_LEN + 1], b[EASEL_UUID_LEN + 1], c[EASEL_UUID_LEN + 1];
    struct easel_webhook_delivery *d = NULL;
    size_t n = 0;

    job(s, a, "https://h.example/a", EV(START) | EV(PROGRESS) | EV(COMPLETED), NULL);
    job(s, b, "https://h.example/b", 0, NULL); /* the default: completed */
    job(s, c, NULL, EV(START), NULL);          /* no webhook: nothing */
    run_to(s, a, EASEL_STATUS_SUCCEEDED);
    run_to(s, b, EASEL_STATUS_FAILED);
    run_to(s, c, EASEL_STATUS_SUCCEEDED);

    struct easel_job *j = NULL;
    EXPECT_OK(s, easel_store_job_get(s, a, &j));
    assert_int_equal(j->webhook_events, EV(START) | EV(PROGRESS) | EV(COMPLETED));
    easel_job_free(j);
    EXPECT_OK(s, easel_store_job_get(s, b, &j));
    assert_int_equal(j->webhook_events, 0);
    easel_job_free(j);

    list_job(s, a, &d, &n);
    assert_int_equal(n, 3); /* newest first */
    assert_string_equal(d[2].type, "job.started");
    assert_string_equal(d[1].type, "job.progress");
    assert_string_equal(d[0].type, "job.completed");
    assert_true(d[2].event_seq < d[1].event_seq && d[1].event_seq < d[0].event_seq);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(d[i].status, "pending");
        assert_string_equal(d[i].url, "https://h.example/a");
        assert_int_equal(d[i].attempts, 0);
        assert_int_equal(strlen(d[i].webhook_id), 36);
        assert_true(!strncmp(d[i].webhook_id, "msg_", 4));
        assert_null(d[i].body);
    }
    assert_string_not_equal(d[0].webhook_id, d[1].webhook_id);
    easel_store_deliveries_free(d, n);

    list_job(s, b, &d, &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].type, "job.completed");
    easel_store_deliveries_free(d, n);
    list_job(s, c, &d, &n);
    assert_int_equal(n, 0);

    /* a job born terminal (an unknown model) completes at once */
    char x[EASEL_UUID_LEN + 1];
    bool created;
    assert_int_equal(easel_uuid_v4(x), EASEL_OK);
    struct easel_job_new jn = {.id = x, .model = "nope", .payload = "{}",
                               .status = EASEL_STATUS_DEAD, .webhook = "https://h.example/x",
                               .error_reason = "unknown_model", .error_message = "no"};
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    list_job(s, x, &d, &n);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].type, "job.completed");
    easel_store_deliveries_free(d, n);
}

static void test_claims_and_leases(void **state)
{
    struct fx *f = *state;
    struct easel_store *s = f->s, *s2 = open_url(f->url);
    char a[EASEL_UUID_LEN + 1];
    struct easel_webhook_delivery *d = NULL, *d2 = NULL;
    size_t n = 0, n2 = 0;
    int64_t due = -2;

    EXPECT_OK(s, easel_store_webhook_next_due(s, &due));
    assert_int_equal(due, -1); /* none pending */
    for (int i = 0; i < 3; i++) {
        job(s, a, "https://h.example/c", 0, NULL);
        run_to(s, a, EASEL_STATUS_SUCCEEDED);
    }
    EXPECT_OK(s, easel_store_webhook_next_due(s, &due));
    assert_int_equal(due, 0);

    /* one sender takes two, the other the third, nobody a fourth */
    EXPECT_OK(s, easel_store_webhook_claim(s, 2, 60000, &d, &n));
    assert_int_equal(n, 2);
    EXPECT_OK(s2, easel_store_webhook_claim(s2, 10, 60000, &d2, &n2));
    assert_int_equal(n2, 1);
    assert_true(d2[0].id != d[0].id && d2[0].id != d[1].id);
    easel_store_deliveries_free(d2, n2);
    EXPECT_OK(s2, easel_store_webhook_claim(s2, 10, 60000, &d2, &n2));
    assert_int_equal(n2, 0);
    EXPECT_OK(s, easel_store_webhook_next_due(s, &due));
    assert_true(due > 50000); /* the leases */

    /* the first attempt renders the body; a second render keeps the first */
    char *kept = NULL;
    EXPECT_OK(s, easel_store_webhook_set_body(s, d[0].id, "{\"v\":1}", &kept));
    assert_string_equal(kept, "{\"v\":1}");
    free(kept);
    EXPECT_OK(s, easel_store_webhook_set_body(s, d[0].id, "{\"v\":2}", &kept));
    assert_string_equal(kept, "{\"v\":1}");
    free(kept);

    /* a sender that dies leaves its rows to another after the lease */
    struct easel_webhook_outcome retry = {.status = "pending", .http_status = 503,
                                          .error = "answered 503", .retry_ms = 1};
    EXPECT_OK(s, easel_store_webhook_record(s, d[0].id, &retry));
    easel_store_deliveries_free(d, n);
    easel_sleep_ms(20);
    EXPECT_OK(s, easel_store_webhook_claim(s, 10, 50, &d, &n));
    assert_int_equal(n, 1); /* the retried one, due again */
    assert_int_equal(d[0].attempts, 1);
    assert_int_equal(d[0].last_status_code, 503);
    assert_string_equal(d[0].body, "{\"v\":1}");
    int64_t id = d[0].id;
    easel_store_deliveries_free(d, n);
    easel_sleep_ms(150);
    EXPECT_OK(s2, easel_store_webhook_claim(s2, 10, 60000, &d2, &n2));
    assert_int_equal(n2, 1);
    assert_true(d2[0].id == id);
    easel_store_deliveries_free(d2, n2);
    easel_store_free(s2);
}

static void test_outcomes_list_redeliver(void **state)
{
    struct fx *f = *state;
    struct easel_store *s = f->s;
    char a[EASEL_UUID_LEN + 1], b[EASEL_UUID_LEN + 1], c[EASEL_UUID_LEN + 1];
    struct easel_webhook_delivery *d = NULL;
    size_t n = 0;

    job(s, a, "https://gone.example/h", 0, "u-7");
    job(s, b, "https://gone.example/h", 0, "u-8");
    job(s, c, "https://other.example/h", 0, "u-7");
    run_to(s, a, EASEL_STATUS_SUCCEEDED);
    run_to(s, b, EASEL_STATUS_SUCCEEDED);
    run_to(s, c, EASEL_STATUS_CANCELED);
    list_job(s, a, &d, &n);
    assert_int_equal(n, 1);
    int64_t ida = d[0].id;
    char *msg_a = easel_strdup(d[0].webhook_id);
    easel_store_deliveries_free(d, n);

    /* 410 on one ends the URL's other pending deliveries, not others' */
    struct easel_webhook_outcome gone = {.status = "gone", .http_status = 410, .error = "410"};
    EXPECT_OK(s, easel_store_webhook_record(s, ida, &gone));
    list_job(s, b, &d, &n);
    assert_string_equal(d[0].status, "gone");
    assert_int_equal(d[0].attempts, 0);
    assert_non_null(strstr(d[0].last_error, msg_a));
    easel_store_deliveries_free(d, n);
    list_job(s, c, &d, &n);
    assert_string_equal(d[0].status, "pending");
    struct easel_webhook_outcome ok = {.status = "delivered", .http_status = 204};
    EXPECT_OK(s, easel_store_webhook_record(s, d[0].id, &ok));
    easel_store_deliveries_free(d, n);
    list_job(s, c, &d, &n);
    assert_string_equal(d[0].status, "delivered");
    assert_true(d[0].delivered_ms > 0);
    easel_store_deliveries_free(d, n);

    /* the list: by status, by owner */
    struct easel_webhook_query q = {.status = "gone", .limit = 10};
    EXPECT_OK(s, easel_store_webhook_list(s, &q, &d, &n));
    assert_int_equal(n, 2);
    easel_store_deliveries_free(d, n);
    q = (struct easel_webhook_query){.owner = "u-7", .channel = "b2c", .limit = 10};
    EXPECT_OK(s, easel_store_webhook_list(s, &q, &d, &n));
    assert_int_equal(n, 2); /* a's and c's */
    easel_store_deliveries_free(d, n);
    q = (struct easel_webhook_query){.status = "lost", .limit = 10};
    EXPECT_RC(s, EASEL_EINVAL, easel_store_webhook_list(s, &q, &d, &n));

    /* redelivery: pending, due now, attempts from 0, same id; confined */
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_webhook_redeliver(s, msg_a, "u-8", "b2c", &d));
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_webhook_redeliver(s, "msg_none", NULL, NULL, &d));
    EXPECT_OK(s, easel_store_webhook_redeliver(s, msg_a, "u-7", "b2c", &d));
    assert_string_equal(d->status, "pending");
    assert_int_equal(d->attempts, 0);
    assert_string_equal(d->webhook_id, msg_a);
    easel_store_deliveries_free(d, 1);
    int64_t due = -1;
    EXPECT_OK(s, easel_store_webhook_next_due(s, &due));
    assert_int_equal(due, 0);
    free(msg_a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trigger_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_and_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcomes_list_redeliver, setup, teardown),
    };
    easel_log_setup(EASEL_LOG_WARN, "test_outbox");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
