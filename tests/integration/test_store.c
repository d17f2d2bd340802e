/*
 * test_store.c - pkg/store against a real PostgreSQL.
 *
 * The database comes from EASEL_TEST_DATABASE_URL (hack/run-tests.sh and
 * hack/services.sh start one on loopback). Without it every test fails:
 * a store that was never exercised against a server must not look green.
 * Tests share the database, so each uses fresh uuids; the ones that need an
 * empty schema (migrations, exact list results) make their own schema and
 * point search_path at it through the URL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/store.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

/* Checks a store call and shows the store's errstr when it is not `want`. */
#define EXPECT_RC(s, want, expr)                                              \
    do {                                                                      \
        easel_err rc_ = (expr);                                               \
        if (rc_ != (want))                                                    \
            fail_msg("%s: got %s, want %s (%s)", #expr, easel_err_name(rc_),  \
                     easel_err_name(want), easel_store_errstr(s));            \
    } while (0)
#define EXPECT_OK(s, expr) EXPECT_RC(s, EASEL_OK, expr)

/* ---------------------------------------------------------------- helpers */

static const char *db_url(void)
{
    const char *u = getenv("EASEL_TEST_DATABASE_URL");
    if (!u || !*u)
        fail_msg("EASEL_TEST_DATABASE_URL is not set: these tests need a "
                 "real PostgreSQL (hack/run-tests.sh integration store)");
    return u;
}

/* url + "?key=value" (or "&key=value"); caller frees. */
static char *url_with(const char *url, const char *kv)
{
    char *u = easel_asprintf("%s%c%s", url, strchr(url, '?') ? '&' : '?', kv);
    assert_non_null(u);
    return u;
}

static struct easel_store *open_url(const char *url)
{
    struct easel_store *s = NULL;
    struct easel_error err;
    easel_err rc = easel_store_open(url, &s, &err);
    if (rc != EASEL_OK)
        fail_msg("open: %s: %s", easel_err_name(rc), err.msg);
    assert_non_null(s);
    return s;
}

/* A connection to the shared database with the schema migrated. */
static struct easel_store *open_store(void)
{
    struct easel_store *s = open_url(db_url());
    int applied = -1, version = -1;
    EXPECT_OK(s, easel_store_migrate(s, &applied, &version));
    assert_true(version >= 1);
    return s;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* A raw libpq connection for checks the store API does not offer. */
static PGconn *admin_open(void)
{
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

static PGresult *admin_exec(PGconn *c, const char *sql, int n,
                            const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("admin: %s: %s", sql, PQerrorMessage(c));
    return r;
}

/* An empty schema of our own; returns the URL whose search_path is it. */
static char *fresh_schema(char *name, size_t namelen)
{
    char id[EASEL_UUID_LEN + 1], sql[128], opt[160];
    assert_int_equal(easel_uuid_v4(id), EASEL_OK);
    assert_int_equal(easel_snprintf(name, namelen, "easel_t_%.8s", id),
                     EASEL_OK);
    assert_int_equal(easel_snprintf(sql, sizeof(sql), "CREATE SCHEMA %s",
                                    name),
                     EASEL_OK);
    PGconn *c = admin_open();
    PQclear(admin_exec(c, sql, 0, NULL));
    PQfinish(c);
    assert_int_equal(easel_snprintf(opt, sizeof(opt),
                                    "options=-csearch_path%%3D%s", name),
                     EASEL_OK);
    return url_with(db_url(), opt);
}

static void drop_schema(const char *name)
{
    char sql[128];
    assert_int_equal(easel_snprintf(sql, sizeof(sql),
                                    "DROP SCHEMA %s CASCADE", name),
                     EASEL_OK);
    PGconn *c = admin_open();
    PQclear(admin_exec(c, sql, 0, NULL));
    PQfinish(c);
}

static void new_id(char id[EASEL_UUID_LEN + 1])
{
    assert_int_equal(easel_uuid_v4(id), EASEL_OK);
}

/* Inserts a plain queued job with a fresh id. */
static void insert_job(struct easel_store *s, char id[EASEL_UUID_LEN + 1])
{
    bool created = false;
    new_id(id);
    struct easel_job_new jn = {
        .id = id,
        .model = "qwen/qwen-image-edit",
        .payload = "{\"a\": 1}",
        .max_attempts = 3,
        .status = EASEL_STATUS_QUEUED,
    };
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_true(created);
}

static struct easel_job *get_job(struct easel_store *s, const char *id)
{
    struct easel_job *j = NULL;
    EXPECT_OK(s, easel_store_job_get(s, id, &j));
    assert_non_null(j);
    return j;
}

static void move(struct easel_store *s, const char *id, enum easel_status to,
                 const struct easel_transition *t)
{
    EXPECT_OK(s, easel_store_job_transition(s, id, easel_status_allowed_from(to),
                                            to, t, NULL));
}

/* Walks a fresh job to RUNNING (one attempt counted). */
static void insert_running(struct easel_store *s, char id[EASEL_UUID_LEN + 1])
{
    insert_job(s, id);
    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true,
                                 .worker = "local:1@test"};
    move(s, id, EASEL_STATUS_DISPATCHED, &d);
    struct easel_transition r = {.reason = "Started"};
    move(s, id, EASEL_STATUS_RUNNING, &r);
}

static void assert_str(const char *got, const char *want)
{
    if (!easel_str_eq(got, want))
        fail_msg("got \"%s\", want \"%s\"", got ? got : "(null)",
                 want ? want : "(null)");
}

static int64_t near_now(int64_t ms)
{
    int64_t d = ms - easel_wall_ms();
    return d < 0 ? -d : d;
}

/* ---------------------------------------------------------------- open */

static void test_open_bad_url(void **state)
{
    struct easel_store *s = (void *)1;
    struct easel_error err;
    (void)state;

    /* nothing listens on port 1: unreachable, retryable */
    assert_int_equal(easel_store_open(
                         "postgresql://u:s3cretpw@127.0.0.1:1/easel", &s, &err),
                     EASEL_ECONN);
    assert_null(s);
    assert_int_equal(err.code, EASEL_ECONN);
    assert_int_equal(err.cls, EASEL_CLASS_RETRYABLE);
    assert_string_equal(err.reason, "database_unavailable");
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_non_null(strstr(err.msg, "u:***@"));
    assert_null(strstr(err.msg, "s3cretpw"));
    assert_null(strchr(err.msg, '\n'));

    /* a URL that does not parse: no retry helps. libpq quotes the broken
     * token - here the password - in its message; it must not survive. */
    s = (void *)1;
    assert_int_equal(easel_store_open(
                         "postgresql://u:s3cret%zzpw@127.0.0.1:1/easel", &s,
                         &err),
                     EASEL_ECONN);
    assert_null(s);
    assert_int_equal(err.cls, EASEL_CLASS_PERMANENT);
    assert_string_equal(err.reason, "invalid_database_url");
    assert_non_null(strstr(err.msg, "percent"));
    assert_null(strstr(err.msg, "s3cret"));

    /* key=value form */
    assert_int_equal(
        easel_store_open("host=127.0.0.1 port=1 password=hunter2 dbname=x",
                         &s, &err),
        EASEL_ECONN);
    assert_null(strstr(err.msg, "hunter2"));
    assert_string_equal(err.reason, "database_unavailable");

    assert_int_equal(easel_store_open(NULL, &s, &err), EASEL_EINVAL);
    assert_null(s);
}

static void test_application_name(void **state)
{
    (void)state;
    struct easel_store *s = open_store();
    PGconn *c = admin_open();
    PGresult *r = admin_exec(c,
                             "SELECT count(*) FROM pg_stat_activity"
                             " WHERE application_name = 'easel'",
                             0, NULL);
    assert_true(strcmp(PQgetvalue(r, 0, 0), "0") != 0);
    PQclear(r);
    PQfinish(c);
    easel_store_free(s);
    easel_store_free(NULL);
}

/* ---------------------------------------------------------------- migrate */

static void test_migrate_twice(void **state)
{
    char schema[64];
    int applied = -1, version = -1, v2 = -1;
    (void)state;
    char *url = fresh_schema(schema, sizeof(schema));
    struct easel_store *s = open_url(url);

    EXPECT_OK(s, easel_store_schema_version(s, &version));
    assert_int_equal(version, 0);
    EXPECT_OK(s, easel_store_migrate(s, &applied, &version));
    assert_true(version >= 1);
    assert_int_equal(applied, version); /* an empty schema gets them all */
    EXPECT_OK(s, easel_store_migrate(s, &applied, &v2));
    assert_int_equal(applied, 0);
    assert_int_equal(v2, version);
    EXPECT_OK(s, easel_store_schema_version(s, &v2));
    assert_int_equal(v2, version);
    EXPECT_OK(s, easel_store_migrate(s, NULL, NULL));

    easel_store_free(s);
    free(url);
    drop_schema(schema);
}

struct migrate_arg {
    const char *url;
    pthread_barrier_t *go;
    easel_err rc;
    int applied, version;
    char errstr[256];
};

static void *migrate_thread(void *p)
{
    struct migrate_arg *a = p;
    struct easel_store *s = NULL;
    struct easel_error err;

    a->rc = easel_store_open(a->url, &s, &err);
    pthread_barrier_wait(a->go);
    if (a->rc) {
        easel_strlcpy(a->errstr, err.msg, sizeof(a->errstr));
        return NULL;
    }
    a->rc = easel_store_migrate(s, &a->applied, &a->version);
    easel_strlcpy(a->errstr, easel_store_errstr(s), sizeof(a->errstr));
    easel_store_free(s);
    return NULL;
}

static void test_migrate_concurrent(void **state)
{
    char schema[64], sql[160];
    pthread_barrier_t go;
    pthread_t th[2];
    struct migrate_arg a[2];
    (void)state;
    char *url = fresh_schema(schema, sizeof(schema));

    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        a[i] = (struct migrate_arg){.url = url, .go = &go, .applied = -1,
                                    .version = -1};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &a[i]),
                         0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 2; i++)
        if (a[i].rc != EASEL_OK)
            fail_msg("thread %d: %s: %s", i, easel_err_name(a[i].rc),
                     a[i].errstr);
    assert_int_equal(a[0].version, a[1].version);
    assert_true(a[0].version >= 1);
    /* exactly one of them did the work */
    assert_int_equal(a[0].applied + a[1].applied, a[0].version);
    assert_true(a[0].applied == 0 || a[1].applied == 0);

    assert_int_equal(easel_snprintf(sql, sizeof(sql),
                                    "SELECT count(*) FROM "
                                    "%s.easel_schema_migrations",
                                    schema),
                     EASEL_OK);
    PGconn *c = admin_open();
    PGresult *r = admin_exec(c, sql, 0, NULL);
    int rows = -1;
    assert_int_equal(easel_parse_int(PQgetvalue(r, 0, 0), 0, 1000, &rows), 0);
    assert_int_equal(rows, a[0].version);
    PQclear(r);
    PQfinish(c);
    free(url);
    drop_schema(schema);
}

/* ---------------------------------------------------------------- insert, get */

static void test_insert_get_roundtrip(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    bool created = false;
    (void)state;
    struct easel_store *s = open_store();
    new_id(id);
    /* JSON written the way jsonb prints it, so text compares are exact */
    struct easel_job_new jn = {
        .id = id,
        .type = "stage:run",
        .model = "qwen/qwen-image-edit",
        .priority = 7,
        .idempotency_key = "idem-123",
        .payload = "{\"seed\": 42, \"style\": \"modern\", \"image_id\": "
                   "\"img-1\"}",
        .input = "{\"prompt\": \"a room\"}",
        .metadata = "{\"trace\": \"abc\"}",
        .webhook = "https://example.test/hook",
        .channel = "b2b",
        .owner = "store-9",
        .max_attempts = 4,
        .status = EASEL_STATUS_QUEUED,
    };
    int64_t before = easel_wall_ms();
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_true(created);

    struct easel_job *j = get_job(s, id);
    assert_string_equal(j->id, id);
    assert_str(j->type, "stage:run");
    assert_str(j->model, "qwen/qwen-image-edit");
    assert_null(j->result_model);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    assert_int_equal(j->priority, 7);
    assert_str(j->idempotency_key, "idem-123");
    assert_str(j->payload, jn.payload);
    assert_str(j->input, jn.input);
    assert_str(j->metadata, jn.metadata);
    assert_str(j->webhook, jn.webhook);
    assert_str(j->channel, "b2b");
    assert_str(j->owner, "store-9");
    assert_int_equal(j->attempts, 0);
    assert_int_equal(j->max_attempts, 4);
    assert_null(j->error_class);
    assert_null(j->error_reason);
    assert_null(j->error_message);
    assert_null(j->result);
    assert_null(j->worker);
    assert_true(near_now(j->created_ms) < 60000);
    assert_true(j->created_ms >= before - 5000);
    assert_int_equal(j->updated_ms, j->created_ms);
    assert_int_equal(j->dispatched_ms, 0);
    assert_int_equal(j->started_ms, 0);
    assert_int_equal(j->finished_ms, 0);
    assert_int_equal(j->heartbeat_ms, 0);
    assert_int_equal(j->run_after_ms, 0);
    easel_job_free(j);

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 1);
    assert_null(ev[0].from_status);
    assert_str(ev[0].to_status, "queued");
    assert_str(ev[0].reason, EASEL_EVENT_CREATED);
    assert_null(ev[0].message);
    assert_int_equal(ev[0].attempt, 0);
    assert_true(ev[0].seq > 0);
    assert_true(near_now(ev[0].at_ms) < 60000);
    easel_store_events_free(ev, n);
    easel_store_events_free(NULL, 0);

    /* only the required fields: every optional one reads back NULL */
    char id2[EASEL_UUID_LEN + 1];
    insert_job(s, id2);
    j = get_job(s, id2);
    assert_null(j->type);
    assert_null(j->idempotency_key);
    assert_null(j->input);
    assert_null(j->metadata);
    assert_null(j->webhook);
    assert_null(j->channel);
    assert_null(j->owner);
    assert_int_equal(j->priority, 0);
    easel_job_free(j);
    easel_store_free(s);
}

static void test_insert_conflict(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    bool created = true;
    (void)state;
    struct easel_store *s = open_store();
    insert_job(s, id);
    struct easel_job_new again = {
        .id = id,
        .model = "other/model",
        .payload = "{\"b\": 2}",
        .max_attempts = 9,
    };
    EXPECT_OK(s, easel_store_job_insert(s, &again, &created));
    assert_false(created);
    struct easel_job *j = get_job(s, id);
    assert_str(j->model, "qwen/qwen-image-edit");
    assert_str(j->payload, "{\"a\": 1}");
    assert_int_equal(j->max_attempts, 3);
    easel_job_free(j);
    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 1);
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

/* A batch in one statement: created flags per row (an existing id and a
 * repeated id in the same batch are not made twice), each row's own fields
 * and "created" event, a job born dead among queued ones, and all or
 * nothing: one invalid row writes no row at all. */
static void test_insert_batch(void **state)
{
    char old[EASEL_UUID_LEN + 1], a[EASEL_UUID_LEN + 1], b[EASEL_UUID_LEN + 1];
    (void)state;
    struct easel_store *s = open_store();
    insert_job(s, old);
    new_id(a);
    new_id(b);
    struct easel_job_new rows[4] = {
        {.id = a, .model = "m/one", .payload = "{\"n\": 1}", .max_attempts = 2,
         .channel = "b2c", .owner = "u-1", .status = EASEL_STATUS_QUEUED},
        {.id = old, .model = "m/other", .payload = "{}", .max_attempts = 5,
         .status = EASEL_STATUS_QUEUED},
        {.id = b, .model = "nope/unknown", .payload = "{\"q\": \"x\\\"y\"}", .max_attempts = 0,
         .status = EASEL_STATUS_DEAD, .error_class = "permanent",
         .error_reason = "unknown_model", .error_message = "no model nope/unknown"},
        {.id = a, .model = "m/again", .payload = "{}", .max_attempts = 7,
         .status = EASEL_STATUS_QUEUED},
    };
    bool made[4] = {false, true, false, true};
    enum easel_status born[4];
    EXPECT_OK(s, easel_store_jobs_insert(s, rows, 4, made, born));
    assert_int_equal(born[0], EASEL_STATUS_QUEUED);
    assert_int_equal(born[2], EASEL_STATUS_DEAD);
    assert_true(made[0]);
    assert_false(made[1]);
    assert_true(made[2]);
    assert_false(made[3]);
    struct easel_job *j = get_job(s, a);
    assert_str(j->model, "m/one");
    assert_str(j->payload, "{\"n\": 1}");
    assert_int_equal(j->max_attempts, 2);
    assert_str(j->owner, "u-1");
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    easel_job_free(j);
    j = get_job(s, b);
    assert_int_equal(j->status, EASEL_STATUS_DEAD);
    assert_str(j->payload, "{\"q\": \"x\\\"y\"}");
    assert_str(j->error_reason, "unknown_model");
    assert_true(j->finished_ms > 0);
    easel_job_free(j);
    j = get_job(s, old);
    assert_str(j->model, "qwen/qwen-image-edit");
    easel_job_free(j);
    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, b, &ev, &n));
    assert_int_equal(n, 1);
    assert_str(ev[0].message, "no model nope/unknown");
    easel_store_events_free(ev, n);
    EXPECT_OK(s, easel_store_events(s, a, &ev, &n));
    assert_int_equal(n, 1);
    easel_store_events_free(ev, n);

    /* the second row is not valid JSON: nothing of the batch is written */
    char c[EASEL_UUID_LEN + 1], d[EASEL_UUID_LEN + 1];
    new_id(c);
    new_id(d);
    struct easel_job_new bad[2] = {
        {.id = c, .model = "m/one", .payload = "{}", .status = EASEL_STATUS_QUEUED},
        {.id = d, .model = "m/one", .payload = "{not json", .status = EASEL_STATUS_QUEUED},
    };
    made[0] = true;
    assert_int_not_equal(easel_store_jobs_insert(s, bad, 2, made, NULL), EASEL_OK);
    assert_false(made[0]);
    struct easel_job *none = NULL;
    assert_int_equal(easel_store_job_get(s, c, &none), EASEL_ENOTFOUND);
    EXPECT_OK(s, easel_store_jobs_insert(s, NULL, 0, NULL, NULL));
    easel_store_free(s);
}

/* The warm pool's one-statement dispatch (only_fresh_of): it moves a
 * queued job of a listed model that has had no attempt and is due, and
 * refuses, changing nothing, a job of another model, a job on its second
 * attempt and a job not due yet. */
static void test_dispatch_fresh_only(void **state)
{
    (void)state;
    struct easel_store *s = open_store();
    const char *ids[] = {"qwen/qwen-image-edit", "we\"ird\\model"};
    char *arr = easel_store_models_array(ids, 2);
    assert_non_null(arr);
    assert_string_equal(arr, "{\"qwen/qwen-image-edit\",\"we\\\"ird\\\\model\"}");
    struct easel_transition t = {.reason = "Dispatched", .count_attempt = true,
                                 .only_fresh_of = arr};
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *after = NULL;
    /* listed, fresh, due: dispatched */
    insert_job(s, id);
    EXPECT_OK(s, easel_store_job_transition(s, id, EASEL_STATUS_BIT(EASEL_STATUS_QUEUED),
                                            EASEL_STATUS_DISPATCHED, &t, &after));
    assert_int_equal(after->status, EASEL_STATUS_DISPATCHED);
    assert_int_equal(after->attempts, 1);
    easel_job_free(after);
    /* another model */
    const char *other[] = {"someone/else"};
    char *arr2 = easel_store_models_array(other, 1);
    struct easel_transition t2 = t;
    t2.only_fresh_of = arr2;
    insert_job(s, id);
    assert_int_equal(easel_store_job_transition(s, id, EASEL_STATUS_BIT(EASEL_STATUS_QUEUED),
                                                EASEL_STATUS_DISPATCHED, &t2, NULL),
                     EASEL_ECONFLICT);
    struct easel_job *j = get_job(s, id);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    assert_int_equal(j->attempts, 0);
    easel_job_free(j);
    /* not due: a scheduled job, queued with its run_after an hour ahead */
    new_id(id);
    struct easel_job_new later = {.id = id, .model = "qwen/qwen-image-edit", .payload = "{}",
                                  .max_attempts = 3, .status = EASEL_STATUS_QUEUED,
                                  .run_after_ms = easel_wall_ms() + 3600000};
    EXPECT_OK(s, easel_store_job_insert(s, &later, NULL));
    assert_int_equal(easel_store_job_transition(s, id, EASEL_STATUS_BIT(EASEL_STATUS_QUEUED),
                                                EASEL_STATUS_DISPATCHED, &t, NULL),
                     EASEL_ECONFLICT);
    /* a second attempt: queued again after a retry's wait */
    insert_job(s, id);
    struct easel_transition r = {.reason = "Dispatched", .count_attempt = true};
    move(s, id, EASEL_STATUS_DISPATCHED, &r);
    struct easel_transition w = {.reason = "Retrying", .run_after_ms = easel_wall_ms() - 1000};
    move(s, id, EASEL_STATUS_RETRYING, &w);
    struct easel_transition q = {.reason = "Due"};
    move(s, id, EASEL_STATUS_QUEUED, &q);
    assert_int_equal(easel_store_job_transition(s, id, EASEL_STATUS_BIT(EASEL_STATUS_QUEUED),
                                                EASEL_STATUS_DISPATCHED, &t, NULL),
                     EASEL_ECONFLICT);
    j = get_job(s, id);
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    easel_job_free(j);
    free(arr);
    free(arr2);
    easel_store_free(s);
}

/* ---------------------------------------------------------------- credits */

static void owner_name(char *dst, size_t len)
{
    char id[EASEL_UUID_LEN + 1];
    new_id(id);
    assert_int_equal(easel_snprintf(dst, len, "u-%.8s", id), EASEL_OK);
}

/* Inserts a queued job of `cost` credits for b2c:<owner>; returns its status. */
static enum easel_status insert_costly(struct easel_store *s, const char *owner, int cost,
                                       char id[EASEL_UUID_LEN + 1])
{
    new_id(id);
    struct easel_job_new jn = {.id = id, .model = "m/costly", .payload = "{}",
                               .max_attempts = 3, .status = EASEL_STATUS_QUEUED,
                               .channel = "b2c", .owner = owner, .cost = cost};
    bool created = false;
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_true(created);
    struct easel_job *j = get_job(s, id);
    enum easel_status st = j->status;
    if (st == EASEL_STATUS_DEAD)
        assert_str(j->error_reason, "insufficient_credits");
    easel_job_free(j);
    return st;
}

static void expect_account(struct easel_store *s, const char *owner, int64_t balance,
                           int64_t reserved)
{
    struct easel_credit_account a;
    EXPECT_OK(s, easel_store_credits_get(s, owner, 0, 0, &a));
    if (a.balance != balance || a.reserved != reserved)
        fail_msg("%s: balance %lld reserved %lld, want %lld and %lld", owner,
                 (long long)a.balance, (long long)a.reserved, (long long)balance,
                 (long long)reserved);
    easel_store_credit_account_cleanup(&a);
}

static void finish_as(struct easel_store *s, const char *id, enum easel_status to)
{
    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true};
    struct easel_transition r = {.reason = "Started"};
    struct easel_transition f = {.reason = "Done", .error_class = "permanent",
                                 .error_reason = "test", .error_message = "test"};
    if (to != EASEL_STATUS_CANCELED) {
        move(s, id, EASEL_STATUS_DISPATCHED, &d);
        move(s, id, EASEL_STATUS_RUNNING, &r);
    }
    move(s, id, to, to == EASEL_STATUS_SUCCEEDED ? &r : &f);
}

/* The ledger kept by the jobs trigger (migration 9): a reservation at the
 * insert, consumption on success, a refund on failure, death and cancel,
 * nothing for automatic retries, a new reservation for a manual retry
 * (refused when it cannot be covered), a job born dead when its owner
 * cannot cover it, and idempotent grants. */
static void test_credits_ledger(void **state)
{
    (void)state;
    struct easel_store *s = open_store();
    char owner[32], who[40], a[EASEL_UUID_LEN + 1], b[EASEL_UUID_LEN + 1],
        c[EASEL_UUID_LEN + 1], d[EASEL_UUID_LEN + 1], e[EASEL_UUID_LEN + 1];
    owner_name(owner, sizeof(owner));
    assert_int_equal(easel_snprintf(who, sizeof(who), "b2c:%s", owner), EASEL_OK);
    struct easel_credit_account acct;
    assert_int_equal(easel_store_credits_get(s, who, 10, 0, &acct), EASEL_ENOTFOUND);
    bool granted = false;
    EXPECT_OK(s, easel_store_credit_grant(s, who, 10, "welcome", "signup", &granted, NULL));
    assert_true(granted);
    int64_t key_amount = 0;
    EXPECT_OK(s, easel_store_credit_grant(s, who, 10, "welcome", "signup", &granted, &key_amount));
    assert_false(granted); /* the same key: nothing more */
    assert_int_equal(key_amount, 10);
    /* the key reused for another amount: nothing, and the first amount told */
    EXPECT_OK(s, easel_store_credit_grant(s, who, 25, "welcome", "signup", &granted, &key_amount));
    assert_false(granted);
    assert_int_equal(key_amount, 10);
    assert_int_equal(easel_store_credit_grant(s, who, 0, NULL, NULL, NULL, NULL), EASEL_EINVAL);
    expect_account(s, who, 10, 0);

    /* reserve 3, succeed: consumed */
    assert_int_equal(insert_costly(s, owner, 3, a), EASEL_STATUS_QUEUED);
    expect_account(s, who, 7, 3);
    finish_as(s, a, EASEL_STATUS_SUCCEEDED);
    expect_account(s, who, 7, 0);
    /* reserve 3, an automatic retry (retrying, queued), then dead: refunded once */
    assert_int_equal(insert_costly(s, owner, 3, b), EASEL_STATUS_QUEUED);
    expect_account(s, who, 4, 3);
    struct easel_transition dsp = {.reason = "Dispatched", .count_attempt = true};
    move(s, b, EASEL_STATUS_DISPATCHED, &dsp);
    struct easel_transition w = {.reason = "Retrying", .run_after_ms = easel_wall_ms() - 1};
    move(s, b, EASEL_STATUS_RETRYING, &w);
    struct easel_transition due = {.reason = "Due"};
    move(s, b, EASEL_STATUS_QUEUED, &due);
    expect_account(s, who, 4, 3);
    finish_as(s, b, EASEL_STATUS_DEAD);
    expect_account(s, who, 7, 0);
    /* a manual retry reserves again, under the next number */
    struct easel_transition again = {.reason = "ManualRetry", .reset_attempts = true,
                                     .clear_error = true};
    move(s, b, EASEL_STATUS_QUEUED, &again);
    expect_account(s, who, 4, 3);
    finish_as(s, b, EASEL_STATUS_SUCCEEDED);
    expect_account(s, who, 4, 0);
    /* canceled while queued: refunded */
    assert_int_equal(insert_costly(s, owner, 4, c), EASEL_STATUS_QUEUED);
    expect_account(s, who, 0, 4);
    finish_as(s, c, EASEL_STATUS_CANCELED);
    expect_account(s, who, 4, 0);
    /* cannot cover 5: born dead, nothing moved */
    assert_int_equal(insert_costly(s, owner, 5, d), EASEL_STATUS_DEAD);
    expect_account(s, who, 4, 0);
    struct easel_event *ev = NULL;
    size_t nev = 0;
    EXPECT_OK(s, easel_store_events(s, d, &ev, &nev));
    assert_int_equal(nev, 1);
    assert_str(ev[0].to_status, "dead");
    easel_store_events_free(ev, nev);
    /* and its manual retry is refused while it cannot be covered */
    assert_int_equal(easel_store_job_transition(s, d, easel_status_allowed_from(EASEL_STATUS_QUEUED),
                                                EASEL_STATUS_QUEUED, &again, NULL),
                     EASEL_ELIMIT);
    assert_non_null(strstr(easel_store_errstr(s), "cannot cover"));
    struct easel_job *j = get_job(s, d);
    assert_int_equal(j->status, EASEL_STATUS_DEAD);
    easel_job_free(j);
    /* the same job inserted again (the claimer after the API) reserves
     * nothing more: the row exists, the insert does nothing */
    struct easel_job_new twice = {.id = c, .model = "m/costly", .payload = "{}",
                                  .max_attempts = 3, .status = EASEL_STATUS_QUEUED,
                                  .channel = "b2c", .owner = owner, .cost = 4};
    bool made_again = true;
    EXPECT_OK(s, easel_store_job_insert(s, &twice, &made_again));
    assert_false(made_again);
    expect_account(s, who, 4, 0);
    /* a job without an owner or without a cost touches no account */
    insert_job(s, e);
    expect_account(s, who, 4, 0);

    /* the ledger, newest first: the grant, and per job its entries */
    EXPECT_OK(s, easel_store_credits_get(s, who, 100, 0, &acct));
    const char *want[] = {"release", "reserve", "consume", "reserve", "release",
                          "reserve", "consume", "reserve", "grant"};
    assert_int_equal(acct.nentries, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < acct.nentries; i++)
        assert_string_equal(acct.entries[i].kind, want[i]);
    assert_string_equal(acct.entries[8].reason, "welcome");
    assert_string_equal(acct.entries[8].job_id, "");
    assert_int_equal(acct.entries[4].budget, 1); /* b's refund, first reservation */
    assert_int_equal(acct.entries[3].budget, 2); /* b's manual retry */
    assert_string_equal(acct.entries[3].job_id, b);
    int64_t fourth = acct.entries[3].id;
    easel_store_credit_account_cleanup(&acct);
    /* a page older than an entry: the rest, from the one after it */
    EXPECT_OK(s, easel_store_credits_get(s, who, 2, fourth, &acct));
    assert_int_equal(acct.nentries, 2);
    assert_string_equal(acct.entries[0].kind, want[4]);
    assert_string_equal(acct.entries[1].kind, want[5]);
    assert_true(acct.entries[0].id < fourth);
    easel_store_credit_account_cleanup(&acct);
    /* every effect once: a replayed terminal transition changes nothing */
    struct easel_transition r = {.reason = "Started"};
    assert_int_equal(easel_store_job_transition(s, a, EASEL_STATUS_BIT(EASEL_STATUS_RUNNING),
                                                EASEL_STATUS_SUCCEEDED, &r, NULL),
                     EASEL_ECONFLICT);
    expect_account(s, who, 4, 0);
    easel_store_free(s);
}

struct credit_racer {
    const char *owner;
    int made, dead;
};

static void *credit_race_thread(void *p)
{
    struct credit_racer *r = p;
    struct easel_store *s = open_store();
    for (int i = 0; i < 20; i++) {
        char id[EASEL_UUID_LEN + 1];
        if (insert_costly(s, r->owner, 1, id) == EASEL_STATUS_QUEUED)
            r->made++;
        else
            r->dead++;
    }
    easel_store_free(s);
    return NULL;
}

/* Four writers race 80 one-credit jobs against 30 credits: exactly 30 are
 * reserved, 50 are born dead, and the balance never goes below 0. */
static void test_credits_race(void **state)
{
    (void)state;
    struct easel_store *s = open_store();
    char owner[32], who[40];
    owner_name(owner, sizeof(owner));
    assert_int_equal(easel_snprintf(who, sizeof(who), "b2c:%s", owner), EASEL_OK);
    EXPECT_OK(s, easel_store_credit_grant(s, who, 30, "race", NULL, NULL, NULL));
    pthread_t t[4];
    struct credit_racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct credit_racer){.owner = owner};
        assert_int_equal(pthread_create(&t[i], NULL, credit_race_thread, &r[i]), 0);
    }
    int made = 0, dead = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        made += r[i].made;
        dead += r[i].dead;
    }
    assert_int_equal(made, 30);
    assert_int_equal(dead, 50);
    expect_account(s, who, 0, 30);
    easel_store_free(s);
}

/* The job's trace context (migration 7): stored with the row, read back
 * by id, "" for a job recorded without one, and not replaced by a second
 * insert of the same id. */
static void test_traceparent(void **state)
{
    char id[EASEL_UUID_LEN + 1], tp[64], none[EASEL_UUID_LEN + 1];
    bool created = false;
    (void)state;
    struct easel_store *s = open_store();
    new_id(id);
    struct easel_job_new jn = {
        .id = id, .model = "m", .payload = "{}", .max_attempts = 1,
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_true(created);
    EXPECT_OK(s, easel_store_job_traceparent(s, id, tp, sizeof(tp)));
    assert_string_equal(tp, jn.traceparent);
    jn.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
    assert_false(created);
    EXPECT_OK(s, easel_store_job_traceparent(s, id, tp, sizeof(tp)));
    assert_string_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    insert_job(s, none);
    EXPECT_OK(s, easel_store_job_traceparent(s, none, tp, sizeof(tp)));
    assert_string_equal(tp, "");
    new_id(none);
    assert_int_equal(easel_store_job_traceparent(s, none, tp, sizeof(tp)), EASEL_ENOTFOUND);
    assert_int_equal(easel_store_job_traceparent(s, "nope", tp, sizeof(tp)), EASEL_EINVAL);
    easel_store_free(s);
}

/* Every status of job.h passes the table's CHECK constraint, and a job
 * born terminal is finished at birth with its error. */
static void test_insert_every_status(void **state)
{
    (void)state;
    struct easel_store *s = open_store();
    for (int st = 0; st < EASEL_STATUS_COUNT; st++) {
        char id[EASEL_UUID_LEN + 1];
        bool created = false;
        new_id(id);
        bool term = easel_status_terminal((enum easel_status)st);
        struct easel_job_new jn = {
            .id = id,
            .model = "nope/unknown",
            .payload = "{}",
            .status = (enum easel_status)st,
            .error_class = term ? "permanent" : NULL,
            .error_reason = term ? "unknown_model" : NULL,
            .error_message = term ? "model nope/unknown is not registered"
                                  : NULL,
        };
        EXPECT_OK(s, easel_store_job_insert(s, &jn, &created));
        assert_true(created);
        struct easel_job *j = get_job(s, id);
        assert_int_equal(j->status, st);
        assert_int_equal(j->max_attempts, 0);
        if (term) {
            assert_true(j->finished_ms > 0);
            assert_str(j->error_class, "permanent");
            assert_str(j->error_reason, "unknown_model");
            assert_str(j->error_message,
                       "model nope/unknown is not registered");
        } else {
            assert_int_equal(j->finished_ms, 0);
        }
        easel_job_free(j);
        struct easel_event *ev = NULL;
        size_t n = 0;
        EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
        assert_int_equal(n, 1);
        assert_str(ev[0].to_status,
                   easel_status_name((enum easel_status)st));
        assert_str(ev[0].message, jn.error_message);
        easel_store_events_free(ev, n);
    }
    easel_store_free(s);
}

static void test_bad_input(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    bool created = true;
    struct easel_job *j = (void *)1;
    (void)state;
    struct easel_store *s = open_store();
    new_id(id);
    struct easel_job_new jn = {
        .id = id, .model = "m", .payload = "{not json", .max_attempts = 1};
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_insert(s, &jn, &created));
    assert_false(created);
    assert_true(easel_str_has_prefix(easel_store_errstr(s), "SQLSTATE 22P02"));
    assert_int_equal(easel_store_job_get(s, id, &j), EASEL_ENOTFOUND);
    assert_null(j);

    jn.payload = "{}";
    jn.model = NULL;
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_insert(s, &jn, &created));
    jn.model = "m";
    jn.id = "not-a-uuid";
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_insert(s, &jn, &created));
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_get(s, "not-a-uuid", &j));
    assert_true(easel_str_has_prefix(easel_store_errstr(s), "SQLSTATE 22P02"));
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_insert(s, NULL, &created));
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_get(s, NULL, &j));

    /* masks: empty, or wider than the lifecycle allows */
    insert_job(s, id);
    EXPECT_RC(s, EASEL_EINVAL,
              easel_store_job_transition(s, id, 0, EASEL_STATUS_DISPATCHED,
                                         NULL, NULL));
    EXPECT_RC(s, EASEL_EINVAL,
              easel_store_job_transition(s, id, B(QUEUED) | B(SUCCEEDED),
                                         EASEL_STATUS_FAILED, NULL, NULL));
    EXPECT_RC(s, EASEL_EINVAL,
              easel_store_job_transition(s, id, B(QUEUED),
                                         (enum easel_status)42, NULL, NULL));
    j = get_job(s, id);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    easel_job_free(j);
    struct easel_transition t = {.result = "{broken"};
    EXPECT_RC(s, EASEL_EINVAL,
              easel_store_job_transition(s, id, B(QUEUED),
                                         EASEL_STATUS_CANCELED, &t, NULL));
    j = get_job(s, id);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    easel_job_free(j);
    easel_store_free(s);
}

/* ---------------------------------------------------------------- transitions */

/* Progress: the stage on the job while it runs, a typed event with its
 * data, announced on the streams' channel; refused when not running, and
 * cleared by the next attempt's dispatch. */
static void test_progress(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    (void)state;
    struct easel_store *s = open_store();
    PGconn *l = PQconnectdb(db_url());
    assert_int_equal(PQstatus(l), CONNECTION_OK);
    PGresult *lr = PQexec(l, "LISTEN easel_events");
    assert_int_equal(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    insert_job(s, id);
    EXPECT_RC(s, EASEL_ECONFLICT, easel_store_job_progress(s, id, "fetching", 0, NULL, "x"));
    insert_running(s, id);
    EXPECT_OK(s, easel_store_job_progress(s, id, "model", 42.5, "{\"provider_status\": \"processing\"}",
                                          "qwen/qwen-image-edit"));
    struct easel_job *j = get_job(s, id);
    assert_str(j->stage, "model");
    assert_true(j->percent > 42.4 && j->percent < 42.6);
    easel_job_free(j);
    EXPECT_OK(s, easel_store_job_progress(s, id, "variants", -1, NULL, NULL));
    j = get_job(s, id);
    assert_true(j->percent < 0); /* unknown */
    easel_job_free(j);

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    size_t progress = 0;
    int64_t seq_model = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].kind)
            continue;
        assert_str(ev[i].kind, "progress");
        assert_null(ev[i].to_status);
        assert_int_equal(ev[i].attempt, 1);
        if (progress++ == 0) {
            seq_model = ev[i].seq;
            assert_non_null(strstr(ev[i].data, "\"stage\": \"model\""));
            assert_non_null(strstr(ev[i].data, "\"provider_status\": \"processing\""));
        }
    }
    assert_int_equal(progress, 2);
    easel_store_events_free(ev, n);

    /* the streams' channel said which event, by its sequence */
    char want[80];
    (void)easel_snprintf(want, sizeof(want), "%s %lld", id, (long long)seq_model);
    bool seen = false;
    for (int tries = 0; tries < 50 && !seen; tries++) {
        PQconsumeInput(l);
        PGnotify *nf;
        while ((nf = PQnotifies(l))) {
            seen = seen || (!strcmp(nf->relname, "easel_events") && !strcmp(nf->extra, want));
            PQfreemem(nf);
        }
        if (!seen)
            easel_sleep_ms(20);
    }
    assert_true(seen);

    /* a new attempt starts with no stage */
    struct easel_transition rt = {.reason = "Retrying", .run_after_ms = easel_wall_ms()};
    move(s, id, EASEL_STATUS_RETRYING, &rt);
    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true};
    move(s, id, EASEL_STATUS_DISPATCHED, &d);
    j = get_job(s, id);
    assert_null(j->stage);
    easel_job_free(j);
    PQfinish(l);
    easel_store_free(s);
}

/* Typed events: appended to the current attempt with their kind and data
 * while the job has not finished; an event and a status change written in
 * one transaction appear together, in order, or not at all. */
static void test_job_event(void **state)
{
    char id[EASEL_UUID_LEN + 1], unknown[EASEL_UUID_LEN + 1];
    (void)state;
    struct easel_store *s = open_store();
    new_id(unknown);
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_job_event(s, unknown, "logs", NULL, NULL, NULL));
    insert_running(s, id);
    int64_t seq1 = 0, seq2 = 0;
    EXPECT_OK(s, easel_store_job_event(s, id, "logs", NULL,
                                       "{\"lines\": [\"Using seed: 7\", \" 45%|x\"]}", &seq1));
    EXPECT_OK(s, easel_store_job_event(s, id, "output", "thumb",
                                       "{\"variant\": \"thumb\", \"bytes\": 10}", &seq2));
    assert_true(seq1 > 0 && seq2 > seq1);
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_event(s, id, "logs", NULL, "{not json", NULL));
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_event(s, id, "", NULL, NULL, NULL));

    /* rolled back: neither the error event nor the transition */
    EXPECT_OK(s, easel_store_begin(s));
    EXPECT_OK(s, easel_store_job_event(s, id, "error", "boom", "{\"will_retry\": true}", NULL));
    easel_store_rollback(s);
    /* committed: the error event, then the status change */
    EXPECT_OK(s, easel_store_begin(s));
    EXPECT_OK(s, easel_store_job_event(s, id, "error", "boom", "{\"will_retry\": false}", NULL));
    struct easel_transition f = {.reason = "Failed", .error_class = "permanent",
                                 .error_reason = "boom", .error_message = "boom"};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RUNNING), EASEL_STATUS_FAILED, &f, NULL));
    EXPECT_OK(s, easel_store_commit(s));
    /* after the end, nothing more */
    EXPECT_RC(s, EASEL_ECONFLICT, easel_store_job_event(s, id, "logs", NULL, NULL, NULL));

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    const char *want[] = {"logs", "output", "error", NULL};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].kind)
            continue;
        assert_true(k < 3);
        assert_str(ev[i].kind, want[k]);
        assert_int_equal(ev[i].attempt, 1);
        assert_null(ev[i].to_status);
        k++;
    }
    assert_int_equal(k, 3);
    assert_int_equal(ev[0].seq < ev[n - 1].seq, 1);
    /* the last two rows: the error, then the failure it caused */
    assert_str(ev[n - 2].kind, "error");
    assert_str(ev[n - 2].reason, "Error");
    assert_str(ev[n - 2].message, "boom");
    assert_non_null(strstr(ev[n - 2].data, "\"will_retry\": false"));
    assert_str(ev[n - 1].to_status, "failed");
    assert_non_null(strstr(ev[n - 3].data, "\"variant\": \"thumb\""));
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

static void test_lifecycle_with_history(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *j = NULL;
    (void)state;
    struct easel_store *s = open_store();
    insert_job(s, id);

    struct easel_transition d = {.reason = "Dispatched",
                                 .message = "kubernetes job created",
                                 .count_attempt = true,
                                 .worker = "k8s:easel-job-1"};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(QUEUED) | B(RETRYING),
                                            EASEL_STATUS_DISPATCHED, &d, &j));
    assert_int_equal(j->status, EASEL_STATUS_DISPATCHED);
    assert_int_equal(j->attempts, 1);
    assert_true(j->dispatched_ms > 0);
    assert_int_equal(j->started_ms, 0);
    assert_str(j->worker, "k8s:easel-job-1");
    assert_true(j->updated_ms >= j->created_ms);
    easel_job_free(j);

    easel_sleep_ms(5);
    struct easel_transition r = {.reason = "Started"};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(DISPATCHED),
                                            EASEL_STATUS_RUNNING, &r, &j));
    assert_int_equal(j->status, EASEL_STATUS_RUNNING);
    assert_int_equal(j->attempts, 1);
    assert_true(j->started_ms >= j->dispatched_ms);
    assert_int_equal(j->heartbeat_ms, j->started_ms);
    assert_str(j->worker, "k8s:easel-job-1"); /* kept */
    assert_int_equal(j->finished_ms, 0);
    easel_job_free(j);

    struct easel_transition ok = {
        .reason = "Succeeded",
        .message = "3 outputs",
        .result = "{\"outputs\": [{\"url\": \"file:///tmp/x.jpg\"}]}",
        .result_model = "qwen/qwen-image-edit-fallback",
    };
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RUNNING),
                                            EASEL_STATUS_SUCCEEDED, &ok, NULL));
    j = get_job(s, id);
    assert_int_equal(j->status, EASEL_STATUS_SUCCEEDED);
    assert_true(j->finished_ms >= j->started_ms);
    assert_str(j->result, ok.result);
    assert_str(j->result_model, "qwen/qwen-image-edit-fallback");
    assert_str(j->model, "qwen/qwen-image-edit");
    assert_null(j->error_class);
    easel_job_free(j);

    EXPECT_OK(s, easel_store_event_add(s, id, "Note", "webhook delivered"));

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 5);
    const char *from[] = {NULL, "queued", "dispatched", "running", NULL};
    const char *to[] = {"queued", "dispatched", "running", "succeeded", NULL};
    const char *why[] = {EASEL_EVENT_CREATED, "Dispatched", "Started",
                         "Succeeded", "Note"};
    const int att[] = {0, 1, 1, 1, 1};
    for (size_t i = 0; i < n; i++) {
        assert_str(ev[i].from_status, from[i]);
        assert_str(ev[i].to_status, to[i]);
        assert_str(ev[i].reason, why[i]);
        assert_int_equal(ev[i].attempt, att[i]);
        if (i) {
            assert_true(ev[i].seq > ev[i - 1].seq);
            assert_true(ev[i].at_ms >= ev[i - 1].at_ms);
        }
    }
    assert_str(ev[1].message, "kubernetes job created");
    assert_str(ev[4].message, "webhook delivered");
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

static void test_illegal_transition(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *j = (void *)1;
    (void)state;
    struct easel_store *s = open_store();
    insert_job(s, id);
    struct easel_job *before = get_job(s, id);

    struct easel_transition t = {.reason = "Started", .count_attempt = true,
                                 .worker = "w", .error_class = "permanent"};
    EXPECT_RC(s, EASEL_ECONFLICT,
              easel_store_job_transition(s, id, B(DISPATCHED),
                                         EASEL_STATUS_RUNNING, &t, &j));
    assert_null(j);
    assert_non_null(strstr(easel_store_errstr(s), "queued"));
    j = get_job(s, id);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    assert_int_equal(j->attempts, 0);
    assert_null(j->worker);
    assert_null(j->error_class);
    assert_int_equal(j->updated_ms, before->updated_ms);
    assert_int_equal(j->started_ms, 0);
    easel_job_free(j);
    easel_job_free(before);

    /* a finished job stays finished */
    char id2[EASEL_UUID_LEN + 1];
    insert_running(s, id2);
    move(s, id2, EASEL_STATUS_SUCCEEDED, NULL);
    EXPECT_RC(s, EASEL_ECONFLICT,
              easel_store_job_transition(s, id2,
                                         easel_status_allowed_from(
                                             EASEL_STATUS_FAILED),
                                         EASEL_STATUS_FAILED, NULL, NULL));
    EXPECT_RC(s, EASEL_ECONFLICT,
              easel_store_job_transition(s, id2,
                                         easel_status_allowed_from(
                                             EASEL_STATUS_CANCELED),
                                         EASEL_STATUS_CANCELED, NULL, NULL));
    j = get_job(s, id2);
    assert_int_equal(j->status, EASEL_STATUS_SUCCEEDED);
    easel_job_free(j);

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 1);
    easel_store_events_free(ev, n);
    EXPECT_OK(s, easel_store_events(s, id2, &ev, &n));
    assert_int_equal(n, 4);
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

static void test_unknown_id(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *j = (void *)1;
    struct easel_event *ev = (void *)1;
    size_t n = 7;
    (void)state;
    struct easel_store *s = open_store();
    new_id(id);
    EXPECT_RC(s, EASEL_ENOTFOUND,
              easel_store_job_transition(s, id, B(QUEUED),
                                         EASEL_STATUS_DISPATCHED, NULL, &j));
    assert_null(j);
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_job_get(s, id, &j));
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_job_heartbeat(s, id));
    EXPECT_RC(s, EASEL_ENOTFOUND, easel_store_event_add(s, id, "Note", "x"));
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 0);
    assert_null(ev);
    easel_store_free(s);
}

struct race_arg {
    struct easel_store *s;
    pthread_barrier_t *go;
    const char *id;
    enum easel_status to;
    easel_err rc;
};

static void *race_thread(void *p)
{
    struct race_arg *a = p;
    struct easel_transition t = {.reason = easel_status_name(a->to)};
    if (a->to == EASEL_STATUS_FAILED) {
        t.error_class = "permanent";
        t.error_reason = "content_policy";
        t.error_message = "refused";
    } else {
        t.result = "{\"outputs\": []}";
    }
    pthread_barrier_wait(a->go);
    a->rc = easel_store_job_transition(a->s, a->id, B(RUNNING), a->to, &t,
                                       NULL);
    return NULL;
}

/* A worker reporting success and the controller failing the same job at
 * the same moment, on two connections: one wins, the other changes
 * nothing, and the history has one terminal event. */
static void test_terminal_race(void **state)
{
    pthread_barrier_t go;
    struct easel_store *ss[2];
    int wins[2] = {0, 0};
    (void)state;
    ss[0] = open_store();
    ss[1] = open_store();
    pthread_barrier_init(&go, NULL, 2);
    for (int round = 0; round < 50; round++) {
        char id[EASEL_UUID_LEN + 1];
        pthread_t th[2];
        struct race_arg a[2];
        insert_running(ss[0], id);
        for (int i = 0; i < 2; i++) {
            a[i] = (struct race_arg){
                .s = ss[i], .go = &go, .id = id,
                .to = i ? EASEL_STATUS_FAILED : EASEL_STATUS_SUCCEEDED};
            assert_int_equal(
                pthread_create(&th[i], NULL, race_thread, &a[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++)
            if (a[i].rc != EASEL_OK && a[i].rc != EASEL_ECONFLICT)
                fail_msg("round %d thread %d: %s: %s", round, i,
                         easel_err_name(a[i].rc),
                         easel_store_errstr(ss[i]));
        int winner = a[0].rc == EASEL_OK ? 0 : 1;
        if (!((a[0].rc == EASEL_OK) ^ (a[1].rc == EASEL_OK)))
            fail_msg("round %d: %s and %s", round, easel_err_name(a[0].rc),
                     easel_err_name(a[1].rc));
        wins[winner]++;

        struct easel_job *j = get_job(ss[0], id);
        assert_int_equal(j->status, a[winner].to);
        if (a[winner].to == EASEL_STATUS_FAILED) {
            assert_str(j->error_reason, "content_policy");
            assert_null(j->result);
        } else {
            assert_null(j->error_reason);
            assert_str(j->result, "{\"outputs\": []}");
        }
        easel_job_free(j);

        struct easel_event *ev = NULL;
        size_t n = 0, terminal = 0;
        EXPECT_OK(ss[0], easel_store_events(ss[0], id, &ev, &n));
        for (size_t i = 0; i < n; i++) {
            enum easel_status st;
            if (ev[i].to_status &&
                easel_status_parse(ev[i].to_status, &st) == EASEL_OK &&
                easel_status_terminal(st))
                terminal++;
        }
        assert_int_equal(terminal, 1);
        assert_int_equal(n, 4);
        easel_store_events_free(ev, n);
    }
    pthread_barrier_destroy(&go);
    print_message("terminal race: succeeded won %d, failed won %d\n", wins[0],
                  wins[1]);
    easel_store_free(ss[0]);
    easel_store_free(ss[1]);
}

static void test_attempts_and_backoff(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *j = NULL;
    (void)state;
    struct easel_store *s = open_store();
    insert_running(s, id);

    int64_t when = easel_wall_ms() + 60000;
    struct easel_transition retry = {.reason = "BackingOff",
                                     .error_class = "retryable",
                                     .error_reason = "timeout",
                                     .error_message = "provider timed out",
                                     .run_after_ms = when};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RUNNING),
                                            EASEL_STATUS_RETRYING, &retry, &j));
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->run_after_ms, when);
    assert_str(j->error_reason, "timeout");
    assert_int_equal(j->finished_ms, 0);
    easel_job_free(j);

    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true,
                                 .clear_error = true};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RETRYING),
                                            EASEL_STATUS_DISPATCHED, &d, &j));
    assert_int_equal(j->attempts, 2);
    assert_int_equal(j->run_after_ms, 0);
    assert_null(j->error_class);
    assert_null(j->error_reason);
    assert_null(j->error_message);
    easel_job_free(j);

    move(s, id, EASEL_STATUS_RUNNING, NULL);
    /* only the message given: the whole error is replaced, not merged */
    struct easel_transition dead = {.reason = "OutOfAttempts",
                                    .error_message = "gave up"};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(RUNNING),
                                            EASEL_STATUS_DEAD, &dead, &j));
    assert_int_equal(j->attempts, 2);
    assert_null(j->error_class);
    assert_str(j->error_message, "gave up");
    assert_true(j->finished_ms > 0);
    easel_job_free(j);

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    const int att[] = {0, 1, 1, 1, 2, 2, 2};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev[i].attempt, att[i]);
    assert_str(ev[6].to_status, "dead");
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

static void test_manual_retry_from_dead(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    struct easel_job *j = NULL;
    (void)state;
    struct easel_store *s = open_store();
    insert_running(s, id);
    struct easel_transition dead = {.reason = "Failed",
                                    .error_class = "retryable",
                                    .error_reason = "oom_killed",
                                    .error_message = "pod OOMKilled"};
    move(s, id, EASEL_STATUS_DEAD, &dead);

    struct easel_transition again = {.reason = "ManualRetry",
                                     .message = "retried by operator",
                                     .reset_attempts = true,
                                     .clear_error = true};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(FAILED) | B(DEAD),
                                            EASEL_STATUS_QUEUED, &again, &j));
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    assert_int_equal(j->attempts, 0);
    assert_int_equal(j->finished_ms, 0);
    assert_null(j->error_class);
    assert_null(j->error_message);
    easel_job_free(j);

    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true};
    EXPECT_OK(s, easel_store_job_transition(s, id, B(QUEUED),
                                            EASEL_STATUS_DISPATCHED, &d, &j));
    assert_int_equal(j->attempts, 1);
    easel_job_free(j);

    struct easel_event *ev = NULL;
    size_t n = 0;
    EXPECT_OK(s, easel_store_events(s, id, &ev, &n));
    assert_int_equal(n, 6);
    assert_str(ev[4].from_status, "dead");
    assert_str(ev[4].to_status, "queued");
    assert_str(ev[4].reason, "ManualRetry");
    assert_int_equal(ev[4].attempt, 0);
    easel_store_events_free(ev, n);
    easel_store_free(s);
}

static void test_heartbeat(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    (void)state;
    struct easel_store *s = open_store();
    insert_job(s, id);
    EXPECT_RC(s, EASEL_ECONFLICT, easel_store_job_heartbeat(s, id));
    assert_non_null(strstr(easel_store_errstr(s), "queued"));

    struct easel_transition d = {.count_attempt = true};
    move(s, id, EASEL_STATUS_DISPATCHED, &d);
    move(s, id, EASEL_STATUS_RUNNING, NULL);
    struct easel_job *j = get_job(s, id);
    int64_t first = j->heartbeat_ms;
    assert_true(first > 0);
    easel_job_free(j);
    easel_sleep_ms(20);
    EXPECT_OK(s, easel_store_job_heartbeat(s, id));
    j = get_job(s, id);
    assert_true(j->heartbeat_ms >= first + 10);
    easel_job_free(j);

    move(s, id, EASEL_STATUS_CANCELED, NULL);
    EXPECT_RC(s, EASEL_ECONFLICT, easel_store_job_heartbeat(s, id));
    easel_store_free(s);
}

/* ---------------------------------------------------------------- notify */

/* Collects up to max statuses notified for `id` within timeout_ms. */
static size_t collect(struct easel_store *s, const char *id,
                      enum easel_status *out, size_t max, int timeout_ms)
{
    size_t k = 0;
    int64_t deadline = easel_now_ms() + timeout_ms;
    while (k < max) {
        bool got = true;
        while (got && k < max) {
            char nid[EASEL_UUID_LEN + 1];
            enum easel_status st;
            EXPECT_OK(s, easel_store_notification(s, &got, nid, &st));
            if (got && strcmp(nid, id) == 0)
                out[k++] = st;
        }
        int64_t left = deadline - easel_now_ms();
        if (k == max || left <= 0)
            break;
        struct pollfd p = {.fd = easel_store_socket(s), .events = POLLIN};
        assert_true(p.fd >= 0);
        poll(&p, 1, (int)left);
    }
    return k;
}

static void test_listen_notify(void **state)
{
    char id[EASEL_UUID_LEN + 1];
    enum easel_status got[4];
    (void)state;
    struct easel_store *l = open_store();
    struct easel_store *w = open_store();
    EXPECT_OK(l, easel_store_listen(l));
    assert_true(easel_store_socket(l) >= 0);

    insert_job(w, id);
    struct easel_transition d = {.count_attempt = true};
    move(w, id, EASEL_STATUS_DISPATCHED, &d);
    assert_int_equal(collect(l, id, got, 2, 5000), 2);
    assert_int_equal(got[0], EASEL_STATUS_QUEUED);
    assert_int_equal(got[1], EASEL_STATUS_DISPATCHED);

    /* a refused transition sends nothing; the next real one does */
    EXPECT_RC(w, EASEL_ECONFLICT,
              easel_store_job_transition(w, id, B(RUNNING),
                                         EASEL_STATUS_SUCCEEDED, NULL, NULL));
    move(w, id, EASEL_STATUS_CANCELED, NULL);
    assert_int_equal(collect(l, id, got, 2, 500), 1);
    assert_int_equal(got[0], EASEL_STATUS_CANCELED);

    /* notes do not notify */
    EXPECT_OK(w, easel_store_event_add(w, id, "Note", "n"));
    assert_int_equal(collect(l, id, got, 1, 200), 0);
    easel_store_free(l);
    easel_store_free(w);
}

/* ---------------------------------------------------------------- list */

static void test_list_by_status(void **state)
{
    char schema[64], ids[3][EASEL_UUID_LEN + 1];
    struct easel_job **jobs = (void *)1;
    size_t n = 9;
    (void)state;
    char *url = fresh_schema(schema, sizeof(schema));
    struct easel_store *s = open_url(url);
    EXPECT_OK(s, easel_store_migrate(s, NULL, NULL));
    for (int i = 0; i < 3; i++) {
        insert_job(s, ids[i]);
        easel_sleep_ms(3);
    }
    move(s, ids[1], EASEL_STATUS_CANCELED, NULL);

    EXPECT_OK(s, easel_store_job_list(s, EASEL_STATUS_QUEUED, 10, &jobs, &n));
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0]->id, ids[2]);
    assert_string_equal(jobs[1]->id, ids[0]);
    assert_int_equal(jobs[0]->status, EASEL_STATUS_QUEUED);
    assert_true(jobs[0]->created_ms >= jobs[1]->created_ms);
    assert_str(jobs[0]->payload, "{\"a\": 1}");
    easel_store_jobs_free(jobs, n);

    EXPECT_OK(s, easel_store_job_list(s, EASEL_STATUS_CANCELED, 10, &jobs, &n));
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0]->id, ids[1]);
    assert_int_equal(jobs[0]->status, EASEL_STATUS_CANCELED);
    easel_store_jobs_free(jobs, n);

    EXPECT_OK(s, easel_store_job_list(s, -1, 0, &jobs, &n));
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(jobs[i]->id, ids[2 - i]);
    easel_store_jobs_free(jobs, n);

    EXPECT_OK(s, easel_store_job_list(s, -1, 2, &jobs, &n));
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0]->id, ids[2]);
    assert_string_equal(jobs[1]->id, ids[1]);
    easel_store_jobs_free(jobs, n);

    EXPECT_OK(s, easel_store_job_list(s, EASEL_STATUS_RUNNING, 10, &jobs, &n));
    assert_int_equal(n, 0);
    assert_null(jobs);
    EXPECT_RC(s, EASEL_EINVAL, easel_store_job_list(s, 99, 10, &jobs, &n));
    easel_store_jobs_free(NULL, 0);

    easel_store_free(s);
    free(url);
    drop_schema(schema);
}

/* ---------------------------------------------------------------- failures */

static void test_terminated_then_reconnect(void **state)
{
    char id[EASEL_UUID_LEN + 1], app[64], kv[80];
    struct easel_job *j = (void *)1;
    enum easel_status got[1];
    (void)state;
    new_id(id);
    assert_int_equal(easel_snprintf(app, sizeof(app), "easel_victim_%.8s", id),
                     EASEL_OK);
    assert_int_equal(easel_snprintf(kv, sizeof(kv), "application_name=%s",
                                    app),
                     EASEL_OK);
    char *url = url_with(db_url(), kv);
    struct easel_store *v = open_url(url);
    struct easel_store *w = open_store();
    EXPECT_OK(v, easel_store_listen(v));
    insert_job(w, id);

    PGconn *c = admin_open();
    const char *p[1] = {app};
    PGresult *r = admin_exec(c,
                             "SELECT pg_terminate_backend(pid, 5000)"
                             " FROM pg_stat_activity"
                             " WHERE application_name = $1",
                             1, p);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQfinish(c);

    EXPECT_RC(v, EASEL_ECONN, easel_store_job_get(v, id, &j));
    assert_null(j);
    assert_true(strlen(easel_store_errstr(v)) > 0);
    print_message("after terminate: %s\n", easel_store_errstr(v));
    assert_int_equal(easel_store_socket(v), -1);
    /* still broken until reconnected */
    EXPECT_RC(v, EASEL_ECONN, easel_store_job_heartbeat(v, id));

    EXPECT_OK(v, easel_store_reconnect(v));
    j = get_job(v, id);
    assert_int_equal(j->status, EASEL_STATUS_QUEUED);
    easel_job_free(j);
    /* LISTEN came back with the connection */
    assert_true(easel_store_socket(v) >= 0);
    move(w, id, EASEL_STATUS_CANCELED, NULL);
    assert_int_equal(collect(v, id, got, 1, 5000), 1);
    assert_int_equal(got[0], EASEL_STATUS_CANCELED);

    easel_store_free(v);
    easel_store_free(w);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_bad_url),
        cmocka_unit_test(test_application_name),
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_insert_get_roundtrip),
        cmocka_unit_test(test_insert_conflict),
        cmocka_unit_test(test_insert_batch),
        cmocka_unit_test(test_dispatch_fresh_only),
        cmocka_unit_test(test_credits_ledger),
        cmocka_unit_test(test_credits_race),
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_insert_every_status),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_lifecycle_with_history),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_job_event),
        cmocka_unit_test(test_illegal_transition),
        cmocka_unit_test(test_unknown_id),
        cmocka_unit_test(test_terminal_race),
        cmocka_unit_test(test_attempts_and_backoff),
        cmocka_unit_test(test_manual_retry_from_dead),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_listen_notify),
        cmocka_unit_test(test_list_by_status),
        cmocka_unit_test(test_terminated_then_reconnect),
    };
    easel_log_setup(EASEL_LOG_WARN, "test_store");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
