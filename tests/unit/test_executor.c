/*
 * test_executor.c - the local executor with a stand-in worker script: exit
 * codes come back, deadlines stop the whole process group (TERM, then KILL
 * for a worker that ignores TERM), cancel stops an attempt, and the child
 * sees the environment the controller passes.
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "easel/executor.h"
#include "easel/kubejob.h"
#include "easel/registry.h"
#include "easel/trace.h"
#include "easel/worker.h"

static char dir[] = "/tmp/easel-exec-XXXXXX";
static char script[256];

/* The worker: behaviour chosen by the job id's first hex digits. */
static const char *worker_sh =
    "#!/bin/sh\n"
    "# args: job --id ID --attempt N\n"
    "id=$3\n"
    "echo \"$EASEL_TEST_MARK $5 ${TRACEPARENT:-none}\" > \"$EASEL_TEST_DIR/$id.env\"\n"
    "case $id in\n"
    "  00000000-*) exit 0 ;;\n"
    "  11111111-*) exit 11 ;;\n"
    "  22222222-*) sleep 30 & echo $! > \"$EASEL_TEST_DIR/$id.child\"; wait ;;\n"
    "  33333333-*) trap '' TERM; sleep 30 & wait; while :; do sleep 1; done ;;\n"
    "  44444444-*) kill -KILL $$ ;;\n"
    "esac\n";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(script, sizeof(script), "%s/worker.sh", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    fputs(worker_sh, f);
    fclose(f);
    chmod(script, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Alive and not a zombie (an orphan may wait for a slow reaper). */
static bool alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static struct easel_executor *new_exec(int64_t grace)
{
    char envdir[300], mark[] = "EASEL_TEST_MARK=hello";
    snprintf(envdir, sizeof(envdir), "EASEL_TEST_DIR=%s", dir);
    const char *env[] = {envdir, mark, NULL};
    struct easel_local_opts o = {.binary = script, .env = env,
                                 .kill_grace_ms = grace};
    struct easel_executor *ex = NULL;
    assert_int_equal(easel_executor_local_new(&o, &ex), EASEL_OK);
    return ex;
}

/* Waits for one attempt to end (up to ms). */
static bool wait_done(struct easel_executor *ex, struct easel_exec_done *d,
                      int64_t ms)
{
    int64_t end = easel_now_ms() + ms;
    while (easel_now_ms() < end) {
        size_t n = 0;
        assert_int_equal(ex->ops->reap(ex, d, 1, &n), EASEL_OK);
        if (n == 1)
            return true;
        struct pollfd pf = {.fd = ex->ops->fd(ex), .events = POLLIN};
        int64_t t = ex->ops->next_timeout_ms(ex);
        poll(&pf, 1, t >= 0 && t < 100 ? (int)t : 100);
    }
    return false;
}

static void test_exit_codes_and_env(void **state)
{
    (void)state;
    struct easel_executor *ex = new_exec(1000);
    struct easel_exec_spec ok = {.job_id = "00000000-0000-4000-8000-000000000001",
                                 .attempt = 2, .timeout_ms = 10000};
    struct easel_exec_spec retry = {.job_id = "11111111-0000-4000-8000-000000000001",
                                    .attempt = 1, .timeout_ms = 10000};
    assert_int_equal(ex->ops->start(ex, &ok, NULL), EASEL_OK);
    assert_int_equal(ex->ops->start(ex, &retry, NULL), EASEL_OK);
    struct easel_error err;
    assert_int_equal(ex->ops->start(ex, &ok, &err), EASEL_EEXISTS);
    /* an id longer than a UUID would be tracked (and reported) cut: refused */
    struct easel_exec_spec longer = {.job_id = "00000000-0000-4000-8000-0000000000012",
                                     .attempt = 1, .timeout_ms = 10000};
    easel_error_clear(&err);
    assert_int_equal(ex->ops->start(ex, &longer, &err), EASEL_ELIMIT);
    assert_int_equal(err.why, EASEL_R_BAD_JOB_ID);
    assert_false(ex->ops->has(ex, longer.job_id));
    assert_true(ex->ops->has(ex, ok.job_id));
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        struct easel_exec_done d;
        assert_true(wait_done(ex, &d, 5000));
        assert_int_equal(d.outcome, EASEL_EXEC_EXITED);
        if (strcmp(d.job_id, ok.job_id) == 0) {
            assert_int_equal(d.exit_code, 0);
            assert_int_equal(d.attempt, 2);
            seen |= 1;
        } else {
            assert_int_equal(d.exit_code, 11);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    assert_int_equal(ex->ops->running(ex), 0);
    char path[300], line[64] = "";
    snprintf(path, sizeof(path), "%s/%s.env", dir, ok.job_id);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "hello 2 none\n"); /* env and --attempt reached it */
    easel_executor_free(ex);
}

static void test_timeout_kills_group(void **state)
{
    (void)state;
    struct easel_executor *ex = new_exec(500);
    struct easel_exec_spec s = {.job_id = "22222222-0000-4000-8000-000000000001",
                                .attempt = 1, .timeout_ms = 300};
    assert_int_equal(ex->ops->start(ex, &s, NULL), EASEL_OK);
    struct easel_exec_done d;
    assert_true(wait_done(ex, &d, 5000));
    assert_int_equal(d.outcome, EASEL_EXEC_TIMEOUT);
    assert_int_equal(d.signal, SIGTERM);
    assert_non_null(strstr(d.message, "timeout"));
    /* the worker's own child (sleep 30) died with the group */
    char path[300], buf[32] = "";
    snprintf(path, sizeof(path), "%s/%s.child", dir, s.job_id);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    pid_t child = (pid_t)strtol(buf, NULL, 10);
    for (int i = 0; i < 50 && alive(child); i++)
        usleep(20000);
    assert_false(alive(child));
    easel_executor_free(ex);
}

static void test_term_ignored_then_kill(void **state)
{
    (void)state;
    struct easel_executor *ex = new_exec(300);
    struct easel_exec_spec s = {.job_id = "33333333-0000-4000-8000-000000000001",
                                .attempt = 1, .timeout_ms = 200};
    assert_int_equal(ex->ops->start(ex, &s, NULL), EASEL_OK);
    struct easel_exec_done d;
    int64_t t0 = easel_now_ms();
    assert_true(wait_done(ex, &d, 5000));
    assert_int_equal(d.outcome, EASEL_EXEC_TIMEOUT);
    assert_int_equal(d.signal, SIGKILL);
    assert_true(easel_now_ms() - t0 >= 450); /* timeout + grace */
    easel_executor_free(ex);
}

static void test_cancel_and_crash(void **state)
{
    (void)state;
    struct easel_executor *ex = new_exec(500);
    struct easel_exec_spec s = {.job_id = "22222222-0000-4000-8000-000000000002",
                                .attempt = 1, .timeout_ms = 60000};
    assert_int_equal(ex->ops->start(ex, &s, NULL), EASEL_OK);
    usleep(100000);
    assert_int_equal(ex->ops->cancel(ex, s.job_id), EASEL_OK);
    struct easel_exec_done d;
    assert_true(wait_done(ex, &d, 5000));
    assert_int_equal(d.outcome, EASEL_EXEC_CANCELED);

    struct easel_exec_spec k = {.job_id = "44444444-0000-4000-8000-000000000001",
                                .attempt = 1, .timeout_ms = 60000};
    assert_int_equal(ex->ops->start(ex, &k, NULL), EASEL_OK);
    assert_true(wait_done(ex, &d, 5000));
    assert_int_equal(d.outcome, EASEL_EXEC_SIGNALED);
    assert_int_equal(d.signal, SIGKILL);
    easel_executor_free(ex);
}

/* A worker the executor did not start, known only by the identity in its
 * record (a controller re-attached after a restart): the executor tells
 * whether it is gone and kills its whole group; it does not judge other
 * executors' workers or other hosts'. */
static void test_worker_gone_and_kill(void **state)
{
    (void)state;
    struct easel_executor *ex = new_exec(500);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", "sleep 30 & wait", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    char host[64], name[24], id[EASEL_WORKER_ID_MAX], other[EASEL_WORKER_ID_MAX];
    easel_worker_host(host, sizeof(host));
    snprintf(name, sizeof(name), "%d", (int)pid);
    assert_int_equal(easel_worker_id_format("local", name, host, id, sizeof(id)), EASEL_OK);
    assert_int_equal(ex->ops->gone(ex, id), EASEL_GONE_NO);
    assert_int_equal(easel_worker_id_format("local", name, "another-host", other,
                                            sizeof(other)), EASEL_OK);
    assert_int_equal(ex->ops->gone(ex, other), EASEL_GONE_UNKNOWN);
    ex->ops->kill(ex, other); /* not ours: nothing happens */
    assert_int_equal(easel_worker_id_format("kubernetes", name, host, other, sizeof(other)),
                     EASEL_OK);
    assert_int_equal(ex->ops->gone(ex, other), EASEL_GONE_UNKNOWN);
    char mark[80];
    easel_worker_dispatch_mark("local", host, mark, sizeof(mark));
    assert_int_equal(ex->ops->gone(ex, mark), EASEL_GONE_UNKNOWN);
    assert_int_equal(ex->ops->gone(ex, id), EASEL_GONE_NO);

    ex->ops->kill(ex, id);
    /* a zombie waiting for its reaper already counts as gone */
    for (int i = 0; i < 100 && ex->ops->gone(ex, id) != EASEL_GONE_YES; i++)
        usleep(20000);
    assert_int_equal(ex->ops->gone(ex, id), EASEL_GONE_YES);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(ex->ops->gone(ex, id), EASEL_GONE_YES);
    easel_executor_free(ex);
}

/* A Kubernetes Job name is formed whole or refused: a cut one would be
 * another attempt's Job. */
static void test_kube_job_name_not_cut(void **state)
{
    (void)state;
    char name[96];
    assert_int_equal(easel_kube_job_name("0A000000-0000-4000-8000-000000000001", 12, name,
                                         sizeof(name)), EASEL_OK);
    assert_string_equal(name, "easel-0a000000-0000-4000-8000-000000000001-12");
    /* fits the buffer but passes the 63 characters of a label value */
    const char *id58 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_int_equal(strlen(id58), 58); /* "easel-" + 58 + "-1": 66 characters */
    assert_int_equal(easel_kube_job_name(id58, 1, name, sizeof(name)), EASEL_ELIMIT);
    /* does not fit the buffer */
    char small[20];
    assert_int_equal(easel_kube_job_name("00000000-0000-4000-8000-000000000001", 1, small,
                                         sizeof(small)), EASEL_ELIMIT);
}

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *env_of(const cJSON *env, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, env)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return cJSON_IsString(v) ? v->valuestring : "(not a value)";
    }
    return NULL;
}

/* The dispatch span's context reaches the worker as TRACEPARENT: in a
 * local child's environment (replacing one the controller inherited) and
 * in the Job's env, beside the controller's OTEL_* settings but never its
 * header variables, which carry credentials. */
static void test_trace_context_reaches_workers(void **state)
{
    (void)state;
    char envdir[300], path[300], line[128] = "";
    snprintf(envdir, sizeof(envdir), "EASEL_TEST_DIR=%s", dir);
    const char *env[] = {envdir, "EASEL_TEST_MARK=tp",
                         "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL};
    struct easel_local_opts o = {.binary = script, .env = env, .kill_grace_ms = 500};
    struct easel_executor *ex = NULL;
    assert_int_equal(easel_executor_local_new(&o, &ex), EASEL_OK);
    struct easel_exec_spec spec = {.job_id = "00000000-0000-4000-8000-000000000009",
                                   .attempt = 3, .timeout_ms = 10000, .traceparent = TP};
    assert_int_equal(ex->ops->start(ex, &spec, NULL), EASEL_OK);
    struct easel_exec_done d;
    assert_true(wait_done(ex, &d, 5000));
    snprintf(path, sizeof(path), "%s/%s.env", dir, spec.job_id);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "tp 3 " TP "\n");
    easel_executor_free(ex);

    struct easel_registry *reg = NULL;
    assert_int_equal(easel_registry_builtin(&reg), EASEL_OK);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0psecret", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-key=t0psecret", 1);
    struct easel_kube_job_params p = {.namespace = "ns", .job_id = spec.job_id, .attempt = 1,
                                      .registry = reg, .model_id = "local/vips-stage",
                                      .image = "easel:test", .database_secret = "db",
                                      .ttl_seconds = -1, .traceparent = TP};
    cJSON *job = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    assert_int_equal(easel_kube_job_build(&p, &job, &err), EASEL_OK);
    const cJSON *c = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(job, "spec"), "template"), "spec"),
            "containers"),
        0);
    const cJSON *jenv = cJSON_GetObjectItemCaseSensitive(c, "env");
    assert_string_equal(env_of(jenv, "TRACEPARENT"), TP);
    assert_string_equal(env_of(jenv, "OTEL_EXPORTER_OTLP_ENDPOINT"), "http://collector:4318");
    assert_null(env_of(jenv, "OTEL_EXPORTER_OTLP_HEADERS"));
    assert_null(env_of(jenv, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
    char *text = cJSON_PrintUnformatted(job);
    assert_null(strstr(text, "t0psecret"));
    free(text);
    cJSON_Delete(job);
    /* without a trace context, no TRACEPARENT */
    p.traceparent = NULL;
    assert_int_equal(easel_kube_job_build(&p, &job, &err), EASEL_OK);
    c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "spec"),
                                         "template"), "spec"), "containers"), 0);
    assert_null(env_of(cJSON_GetObjectItemCaseSensitive(c, "env"), "TRACEPARENT"));
    cJSON_Delete(job);
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
    easel_registry_unref(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes_and_env),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_term_ignored_then_kill),
        cmocka_unit_test(test_cancel_and_crash),
        cmocka_unit_test(test_worker_gone_and_kill),
        cmocka_unit_test(test_kube_job_name_not_cut),
        cmocka_unit_test(test_trace_context_reaches_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
