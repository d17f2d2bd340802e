/*
 * test_runner.c - job mode (pkg/runner) in-process against a real
 * PostgreSQL: one attempt run to success, and the stop seam between cmd/
 * and pkg/: the runner takes its stop flag through easel_runner_opts.stop,
 * reads it while it works, and installs no signal handler of its own.
 *
 * The database comes from EASEL_TEST_DATABASE_URL (hack/run-tests.sh
 * starts one). Sources are PNG files made here and fetched as file://
 * URLs; outputs go to a file:// sink in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "easel/runner.h"
#include "easel/store.h"
#include "../../pkg/runner/runner_int.h"

#ifndef B
#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)
#endif

static const char registry[] =
    "version: 1\n"
    "default_model: local/test\n"
    "presets:\n"
    "  default:\n"
    "    - {name: small, format: jpeg, width: 64, height: 64, quality: 80}\n"
    "models:\n"
    "  - id: local/test\n"
    "    provider: local\n"
    "    timeout: 60s\n"
    "    preset: default\n"
    "    input: {style: modern, seed: \"{{seed}}\", latency_ms: \"{{latency_ms}}\"}\n";

struct fixture {
    char dir[64];           /* sources, outputs, the termination log */
    char storage[128];
    char source[160];       /* file:// URL of the source */
    char termlog[128];
    const char *roots[2];
    struct easel_store *s;
};

static const char *db_url(void)
{
    const char *u = getenv("EASEL_TEST_DATABASE_URL");
    if (!u || !*u)
        fail_msg("EASEL_TEST_DATABASE_URL is not set: these tests need a "
                 "real PostgreSQL (hack/run-tests.sh integration runner)");
    return u;
}

/* A 96 x 72 colour ramp (not blank, so it passes the output checks). */
static void write_source(const char *path)
{
    VipsImage *xy, *rgb, *u8;
    assert_int_equal(vips_xyz(&xy, 96, 72, NULL), 0);
    VipsImage *bands[3] = {xy, xy, xy};
    assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
    assert_int_equal(vips_cast_uchar(rgb, &u8, NULL), 0);
    u8->Type = VIPS_INTERPRETATION_sRGB;
    assert_int_equal(vips_pngsave(u8, path, NULL), 0);
    g_object_unref(xy);
    g_object_unref(rgb);
    g_object_unref(u8);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/easel-runner-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->storage, sizeof(f->storage), "file://%s", f->dir);
    snprintf(f->source, sizeof(f->source), "file://%s/src.png", f->dir);
    snprintf(f->termlog, sizeof(f->termlog), "%s/termination-log", f->dir);
    f->roots[0] = f->dir;
    write_source(f->source + strlen("file://"));
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_store_open(db_url(), &f->s, &err) != EASEL_OK)
        fail_msg("open: %s", err.msg);
    int applied = 0, version = 0;
    assert_int_equal(easel_store_migrate(f->s, &applied, &version), EASEL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    easel_store_free(f->s);
    free(f);
    return 0;
}

/* A new job of local/test, walked to DISPATCHED for attempt 1. */
static void dispatched_job(struct fixture *f, const char *fields, char id[EASEL_UUID_LEN + 1])
{
    assert_int_equal(easel_uuid_v4(id), EASEL_OK);
    char *input = easel_asprintf("{\"images\":[\"%s\"],\"fields\":%s}", f->source, fields);
    assert_non_null(input);
    struct easel_job_new jn = {.id = id, .type = "stage", .model = "local/test",
                               .payload = "{}", .input = input, .max_attempts = 3,
                               .status = EASEL_STATUS_QUEUED};
    bool created = false;
    assert_int_equal(easel_store_job_insert(f->s, &jn, &created), EASEL_OK);
    assert_true(created);
    free(input);
    struct easel_transition d = {.reason = "Dispatched", .count_attempt = true};
    assert_int_equal(easel_store_job_transition(f->s, id, B(QUEUED), EASEL_STATUS_DISPATCHED,
                                                &d, NULL),
                     EASEL_OK);
}

static void opts_for(struct fixture *f, struct easel_runner_opts *o,
                     const volatile sig_atomic_t *stop)
{
    memset(o, 0, sizeof(*o));
    o->database_url = db_url();
    o->registry_text = registry;
    o->storage_url = f->storage;
    o->termination_log = f->termlog;
    o->worker = "test:runner";
    o->attempt = 1;
    o->heartbeat_ms = 100;
    o->stop = stop;
    easel_fetch_opts_default(&o->fetch);
    o->fetch.file_roots = f->roots;
    easel_image_limits_default(&o->limits);
}

static enum easel_status status_of(struct fixture *f, const char *id)
{
    struct easel_job *j = NULL;
    assert_int_equal(easel_store_job_get(f->s, id, &j), EASEL_OK);
    enum easel_status st = j->status;
    easel_job_free(j);
    return st;
}

static void assert_no_handler(int sig)
{
    struct sigaction sa;
    assert_int_equal(sigaction(sig, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

static char *termination_log(struct fixture *f)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(easel_read_file(f->termlog, 1 << 16, &text, &len), EASEL_OK);
    return text;
}

static void test_success(void **state)
{
    struct fixture *f = *state;
    char id[EASEL_UUID_LEN + 1];
    dispatched_job(f, "{\"seed\":7}", id);
    struct easel_runner_opts o;
    opts_for(f, &o, NULL);
    assert_int_equal(easel_runner_run(&o, id), EASEL_EXIT_OK);
    assert_int_equal(status_of(f, id), EASEL_STATUS_SUCCEEDED);
    struct easel_job *j = NULL;
    assert_int_equal(easel_store_job_get(f->s, id, &j), EASEL_OK);
    assert_non_null(j->result);
    assert_non_null(strstr(j->result, "\"variant\": \"small\""));
    assert_string_equal(j->result_model, "local/test");
    easel_job_free(j);
    /* the stored variant was announced, before the job succeeded */
    struct easel_event *ev = NULL;
    size_t n = 0, outputs = 0;
    assert_int_equal(easel_store_events(f->s, id, &ev, &n), EASEL_OK);
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].kind || strcmp(ev[i].kind, "output"))
            continue;
        outputs++;
        assert_non_null(strstr(ev[i].data, "\"variant\": \"small\""));
        assert_non_null(strstr(ev[i].data, "\"content_type\": \"image/jpeg\""));
        assert_non_null(strstr(ev[i].data, "\"url\": \"file://"));
        assert_true(i + 1 < n);
    }
    assert_int_equal(outputs, 1);
    assert_string_equal(ev[n - 1].to_status, "succeeded");
    easel_store_events_free(ev, n);
    char *log = termination_log(f);
    assert_non_null(strstr(log, "\"status\":\"succeeded\",\"exit_code\":0"));
    free(log);
    assert_no_handler(SIGTERM);
    assert_no_handler(SIGINT);
}

/* A stop asked before the work: the stand-in model does not run, nothing
 * is recorded (the job stays RUNNING for whoever stopped it to settle). */
/* The event budget: a provider reporting new lines and a new percent
 * every 10 ms for 1.5 s gets about two events a second written, and no
 * line is lost without being counted: each one is in a logs event or in
 * a "[N earlier lines not shown]" marker. */
static void test_progress_budget(void **state)
{
    struct fixture *f = *state;
    char id[EASEL_UUID_LEN + 1];
    dispatched_job(f, "{}", id);
    struct easel_transition r = {.reason = "Started"};
    assert_int_equal(easel_store_job_transition(f->s, id, B(DISPATCHED), EASEL_STATUS_RUNNING,
                                                &r, NULL),
                     EASEL_OK);
    struct attempt a = {.store = f->s, .job_id = id};
    runner_progress(&a, "model", 10, "remote");
    runner_call_begin(&a);
    struct easel_buf logs;
    easel_buf_init(&logs, 1 << 20);
    int total = 0;
    int64_t t0 = easel_now_ms();
    while (easel_now_ms() - t0 < 1500) {
        assert_int_equal(easel_buf_printf(&logs, "step %d\n", total++), EASEL_OK);
        struct easel_call_progress p = {.provider = "replicate", .status = "processing",
                                        .ref = "abc", .percent = total % 100,
                                        .logs = logs.data, .logs_len = logs.len};
        runner_call_progress(&a, &p);
        easel_sleep_ms(10);
    }
    struct easel_call_progress last = {.provider = "replicate", .status = "succeeded",
                                       .ref = "abc", .percent = 100, .logs = logs.data,
                                       .logs_len = logs.len, .final = true};
    runner_call_progress(&a, &last);
    easel_buf_cleanup(&logs);

    struct easel_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(easel_store_events(f->s, id, &ev, &n), EASEL_OK);
    int events = 0, seen = 0;
    bool succeeded = false;
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].kind || !strcmp(ev[i].message ? ev[i].message : "", "remote"))
            continue;
        events++;
        if (!strcmp(ev[i].kind, "progress")) {
            succeeded = succeeded || strstr(ev[i].data, "\"provider_status\": \"succeeded\"");
            continue;
        }
        assert_string_equal(ev[i].kind, "logs");
        cJSON *d = cJSON_Parse(ev[i].data);
        const cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(d, "lines"))
        {
            unsigned skipped = 0;
            if (sscanf(l->valuestring, "[%u earlier lines not shown]", &skipped) == 1)
                seen += (int)skipped;
            else
                seen++;
        }
        cJSON_Delete(d);
    }
    easel_store_events_free(ev, n);
    /* a burst of 2, then 2 a second for 1.5 s, then the call's end (its
     * status and its last lines), with a little slack for a slow machine */
    fprintf(stderr, "%d reports, %d events\n", total, events);
    assert_true(events >= 3);
    assert_true(events <= 8);
    assert_true(succeeded);
    assert_int_equal(seen, total);
}

static void test_stop_before(void **state)
{
    struct fixture *f = *state;
    char id[EASEL_UUID_LEN + 1];
    dispatched_job(f, "{\"latency_ms\":20000}", id);
    volatile sig_atomic_t stop = 1;
    struct easel_runner_opts o;
    opts_for(f, &o, &stop);
    int64_t t0 = easel_now_ms();
    assert_int_equal(easel_runner_run(&o, id), EASEL_EXIT_TERMINATED);
    assert_true(easel_now_ms() - t0 < 10000);
    assert_int_equal(status_of(f, id), EASEL_STATUS_RUNNING);
    char *log = termination_log(f);
    assert_non_null(strstr(log, "\"status\":\"terminated\",\"exit_code\":15"));
    free(log);
    assert_no_handler(SIGTERM);
}

static void *stop_later(void *arg)
{
    easel_sleep_ms(300);
    *(volatile sig_atomic_t *)arg = 1;
    return NULL;
}

/* A stop while the model runs (20 s of simulated latency) cuts it short:
 * the flag is read during the work, not only at the start. */
static void test_stop_during(void **state)
{
    struct fixture *f = *state;
    char id[EASEL_UUID_LEN + 1];
    dispatched_job(f, "{\"latency_ms\":20000}", id);
    volatile sig_atomic_t stop = 0;
    struct easel_runner_opts o;
    opts_for(f, &o, &stop);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, (void *)&stop), 0);
    int64_t t0 = easel_now_ms();
    int code = easel_runner_run(&o, id);
    int64_t took = easel_now_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(code, EASEL_EXIT_TERMINATED);
    assert_true(took >= 300);
    assert_true(took < 10000);
    assert_int_equal(status_of(f, id), EASEL_STATUS_RUNNING);
}

/* A second worker for the same attempt finds the job no longer DISPATCHED
 * and does nothing. */
static void test_not_runnable(void **state)
{
    struct fixture *f = *state;
    char id[EASEL_UUID_LEN + 1];
    dispatched_job(f, "{}", id);
    struct easel_runner_opts o;
    opts_for(f, &o, NULL);
    assert_int_equal(easel_runner_run(&o, id), EASEL_EXIT_OK);
    assert_int_equal(easel_runner_run(&o, id), EASEL_EXIT_NOT_RUNNABLE);
    assert_int_equal(status_of(f, id), EASEL_STATUS_SUCCEEDED);
}

int main(void)
{
    if (easel_imaging_init("test_runner", 0) != EASEL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_runnable, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    easel_imaging_shutdown();
    return rc;
}
