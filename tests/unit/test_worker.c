/*
 * test_worker.c - the controller-worker contract (pkg/worker): the settings
 * a worker inherits come from the option tables and reach it unchanged,
 * a worker's environment holds nothing of job mode's but them, identities
 * format and parse back, and the real tables of cmd/easel keep the
 * promise (every setting a controller passes on is one job mode reads,
 * and `easel render job` passes on the same ones).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "easel/worker.h"

/* The real option tables, compiled into this test; the modes they point
 * at are stand-ins, never run. */
#include "../../cmd/easel/settings.c"
#define STUB(fn)                                                              \
    int mode_##fn(struct settings *s, char **args, int nargs)                 \
    {                                                                         \
        (void)s, (void)args, (void)nargs;                                     \
        return 0;                                                             \
    }
STUB(controller) STUB(job) STUB(submit) STUB(get) STUB(list) STUB(cancel) STUB(retry) STUB(logs)
STUB(webhooks) STUB(credits) STUB(breakers) STUB(migrate) STUB(registry) STUB(image) STUB(pose) STUB(storage) STUB(render)
STUB(version) STUB(config_doc) STUB(worker)

static const struct easel_opt *row(const struct easel_cmd_spec *spec, const char *flag)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (!strcmp(spec->opts[i].flag, flag))
            return &spec->opts[i];
    return NULL;
}

static void test_identity(void **state)
{
    (void)state;
    char id[EASEL_WORKER_ID_MAX];
    struct easel_worker_id w;
    assert_int_equal(easel_worker_id_format("local", "4242", "node-1.example", id, sizeof(id)),
                     EASEL_OK);
    assert_string_equal(id, "local:4242@node-1.example");
    assert_int_equal(easel_worker_id_parse(id, &w), EASEL_OK);
    assert_string_equal(w.executor, "local");
    assert_string_equal(w.name, "4242");
    assert_string_equal(w.where, "node-1.example");

    assert_int_equal(easel_worker_id_format(EASEL_WORKER_KUBERNETES,
                                            "easel-0b8f3c1e-2d4a-4f6b-9c7d-1e2f3a4b5c6d-3",
                                            "imaging", id, sizeof(id)),
                     EASEL_OK);
    assert_int_equal(easel_worker_id_parse(id, &w), EASEL_OK);
    assert_string_equal(w.executor, "kubernetes");
    assert_string_equal(w.name, "easel-0b8f3c1e-2d4a-4f6b-9c7d-1e2f3a4b5c6d-3");
    assert_string_equal(w.where, "imaging");

    /* this process as a local worker */
    assert_int_equal(easel_worker_local_id(id, sizeof(id)), EASEL_OK);
    assert_int_equal(easel_worker_id_parse(id, &w), EASEL_OK);
    char host[64];
    easel_worker_host(host, sizeof(host));
    assert_string_equal(w.where, host);
    int64_t pid = 0;
    assert_int_equal(easel_parse_i64(w.name, 1, INT32_MAX, &pid), EASEL_OK);
    assert_int_equal(pid, (int64_t)getpid());

    /* not identities: the dispatch mark, nothing, missing parts */
    char mark[64];
    easel_worker_dispatch_mark("local", "node-1", mark, sizeof(mark));
    assert_string_equal(mark, "local@node-1");
    const char *bad[] = {mark, "", "local", "local:", "local:12", "local:12@", ":12@h",
                         "local:@h", "lo@cal:12@h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(easel_worker_id_parse(bad[i], &w), EASEL_EINVAL);
        assert_string_equal(w.executor, ""); /* cleared */
    }
    assert_int_equal(easel_worker_id_parse(NULL, &w), EASEL_EINVAL);
    /* parts the parser would misread, or that do not fit */
    assert_int_equal(easel_worker_id_format("lo:cal", "1", "h", id, sizeof(id)), EASEL_EINVAL);
    assert_int_equal(easel_worker_id_format("local", "1", "h@x", id, sizeof(id)), EASEL_EINVAL);
    assert_int_equal(easel_worker_id_format("local", "", "h", id, sizeof(id)), EASEL_EINVAL);
    char small[8];
    assert_int_equal(easel_worker_id_format("local", "4242", "host", small, sizeof(small)),
                     EASEL_ELIMIT);
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(easel_worker_id_format("local", longname, "h", id, sizeof(id)),
                     EASEL_ELIMIT);
    /* a name may hold '@': the place is after the last one */
    assert_int_equal(easel_worker_id_parse("pool:a@b@rack-2", &w), EASEL_OK);
    assert_string_equal(w.name, "a@b");
    assert_string_equal(w.where, "rack-2");
}

/* A controller given every setting as flags: its workers get them all,
 * and job mode parses them back to the same values. */
static void test_real_tables_round_trip(void **state)
{
    (void)state;
    struct settings c, w;
    char **args = NULL;
    int nargs;
    struct easel_error err;
    memset(&c, 0, sizeof(c));
    char *argv[] = {"--redis-url", "redis://:pw@10.1.2.3:6390/3", "--queue", "team:q",
                    "--database-url", "postgresql://u:secret@db:5433/easel",
                    "--storage", "s3://bucket/prefix", "--heartbeat", "750ms",
                    "--max-source-bytes", "3MiB", "--fetch-timeout", "7s",
                    "--connect-timeout", "1500ms", "--max-pixels", "1234567",
                    "--max-side", "2048", "--file-root", "/srv/in", "--file-root", "/data",
                    "--source-allow", "10.0.0.0/8", "--source-allow", "*.corp",
                    "--log-level", "debug", "--concurrency", "9"};
    int argc = (int)(sizeof(argv) / sizeof(argv[0]));
    /* a worker must see none of the test's own settings */
    const char *vars[] = {"EASEL_REDIS_URL", "EASEL_QUEUE", "EASEL_DATABASE_URL",
                          "EASEL_STORAGE", "EASEL_LOG_LEVEL", "EASEL_FILE_ROOTS", NULL};
    for (size_t i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    assert_int_equal(easel_config_parse(controller_spec, &c, argc, argv, &args, &nargs, &err),
                     EASEL_OK);
    free(args);
    struct easel_worker_settings ws;
    assert_int_equal(easel_worker_settings_build(controller_spec, worker_spec, &c, &ws, &err),
                     EASEL_OK);
    /* credentials are marked for Secret references */
    const struct easel_setting *db = easel_settings_find(&ws.inherited, "EASEL_DATABASE_URL");
    assert_non_null(db);
    assert_true(db->opt->flags & EASEL_OPT_SECRET);
    assert_true(easel_settings_find(&ws.inherited, "EASEL_REDIS_URL")->opt->flags &
                EASEL_OPT_SECRET);
    assert_false(easel_settings_find(&ws.inherited, "EASEL_QUEUE")->opt->flags &
                 EASEL_OPT_SECRET);
    /* the controller's own settings stay its own */
    assert_null(easel_settings_find(&ws.inherited, "EASEL_CONCURRENCY"));
    assert_null(easel_settings_find(&ws.inherited, "EASEL_REGISTRY"));

    /* a worker process: its environment, then job mode's parser */
    char *base[] = {"PATH=/usr/bin", "EASEL_WORKER_NAME=leaked", "EASEL_QUEUE=easel:jobs",
                    "EASEL_REGISTRY_INLINE=models: []", "REPLICATE_API_TOKEN=r8_x", NULL};
    const char *extra[] = {"EASEL_REGISTRY=/tmp/snap/models.yaml", NULL};
    char **env = easel_worker_environ(&ws, base, extra);
    assert_non_null(env);
    bool path = false, token = false;
    for (size_t i = 0; env[i]; i++) {
        assert_null(strstr(env[i], "leaked"));
        assert_null(strstr(env[i], "EASEL_REGISTRY_INLINE"));
        assert_string_not_equal(env[i], "EASEL_QUEUE=easel:jobs");
        path |= !strcmp(env[i], "PATH=/usr/bin");
        token |= !strcmp(env[i], "REPLICATE_API_TOKEN=r8_x");
        char *eq = strchr(env[i], '=');
        *eq = '\0';
        setenv(env[i], eq + 1, 1);
        *eq = '=';
    }
    assert_true(path && token); /* what job mode does not read passes through */
    memset(&w, 0, sizeof(w));
    assert_int_equal(easel_config_parse(worker_spec, &w, 0, NULL, &args, &nargs, &err),
                     EASEL_OK);
    free(args);
    assert_string_equal(w.redis_url, c.redis_url);
    assert_string_equal(w.queue, "team:q");
    assert_string_equal(w.database_url, c.database_url);
    assert_string_equal(w.storage, c.storage);
    assert_string_equal(w.registry, "/tmp/snap/models.yaml");
    assert_string_equal(w.log_level, "debug");
    assert_int_equal(w.heartbeat_ms, 750);
    assert_int_equal(w.max_source_bytes, 3 * 1048576);
    assert_int_equal(w.fetch_timeout_ms, 7000);
    assert_int_equal(w.connect_timeout_ms, 1500);
    assert_int_equal(w.max_pixels, 1234567);
    assert_int_equal(w.max_side, 2048);
    assert_string_equal(w.file_roots[0], "/srv/in");
    assert_string_equal(w.file_roots[1], "/data");
    assert_null(w.file_roots[2]);
    assert_string_equal(w.source_allow[0], "10.0.0.0/8");
    assert_string_equal(w.source_allow[1], "*.corp");
    assert_null(w.worker_name);
    assert_null(w.registry_inline);
    for (size_t i = 0; env[i]; i++) {
        char *eq = strchr(env[i], '=');
        *eq = '\0';
        unsetenv(env[i]);
    }
    easel_worker_environ_free(env);
    easel_config_cleanup(worker_spec, &w);

    struct easel_worker_settings copy;
    assert_int_equal(easel_worker_settings_copy(&ws, &copy), EASEL_OK);
    assert_int_equal(copy.inherited.n, ws.inherited.n);
    easel_worker_settings_cleanup(&ws);
    assert_string_equal(easel_settings_find(&copy.inherited, "EASEL_QUEUE")->value, "team:q");
    easel_worker_settings_cleanup(&copy);
    easel_config_cleanup(controller_spec, &c);
}

/* What the tables promise: `render job` passes on what the controller
 * does, and every job-mode setting a controller also has is passed on,
 * except the registry, which each executor hands over itself. */
static void test_tables_agree(void **state)
{
    (void)state;
    size_t nc = 0;
    for (size_t i = 0; i < controller_spec->nopts; i++) {
        const struct easel_opt *o = &controller_spec->opts[i];
        if (!(o->flags & EASEL_OPT_WORKER))
            continue;
        nc++;
        const struct easel_opt *r = row(render_spec, o->flag);
        assert_non_null(r);
        assert_int_equal(r->flags, o->flags);
        assert_string_equal(r->env, o->env);
    }
    size_t nr = 0;
    for (size_t i = 0; i < render_spec->nopts; i++)
        nr += !!(render_spec->opts[i].flags & EASEL_OPT_WORKER);
    assert_int_equal(nr, nc);
    for (size_t i = 0; i < worker_spec->nopts; i++) {
        const struct easel_opt *j = &worker_spec->opts[i];
        const struct easel_opt *o = row(controller_spec, j->flag);
        if (!o || !strcmp(j->flag, "registry"))
            continue;
        if (!(o->flags & EASEL_OPT_WORKER))
            fail_msg("the controller has --%s but does not pass it on to workers", j->flag);
    }
    /* the limits a worker applies can all be given to its controller */
    const char *limits[] = {"max-source-bytes", "fetch-timeout", "connect-timeout",
                            "max-pixels", "max-side", "file-root", "source-allow", NULL};
    for (size_t i = 0; limits[i]; i++)
        assert_non_null(row(controller_spec, limits[i]));

    /* a table that promises what job mode does not read is refused */
    static const struct easel_opt ctl[] = {
        {"nope", "EASEL_NOPE", EASEL_OPT_STRING, "x", offsetof(struct settings, queue), 0, 0,
         "nope", EASEL_OPT_WORKER},
    };
    static const struct easel_cmd_spec bad = {"controller", "", "", ctl, 1, 0, 0};
    struct settings s;
    memset(&s, 0, sizeof(s));
    struct easel_worker_settings ws;
    struct easel_error err;
    assert_int_equal(easel_worker_settings_build(&bad, worker_spec, &s, &ws, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "--nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_real_tables_round_trip),
        cmocka_unit_test(test_tables_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
