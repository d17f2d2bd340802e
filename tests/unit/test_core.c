/*
 * test_core.c - core helpers: buffers, parsing, config precedence, backoff,
 * redaction and the lifecycle table.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/config.h"
#include "easel/core.h"
#include "easel/job.h"
#include "easel/telemetry.h"
#include "easel/yamljson.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct easel_buf b;
    easel_buf_init(&b, 8);
    assert_int_equal(easel_buf_puts(&b, "abcd"), EASEL_OK);
    assert_int_equal(easel_buf_puts(&b, "efghi"), EASEL_ELIMIT);
    assert_int_equal(b.len, 4); /* unchanged after a failed append */
    assert_string_equal(b.data, "abcd");
    assert_int_equal(easel_buf_printf(&b, "%d", 1234), EASEL_OK);
    assert_string_equal(b.data, "abcd1234");
    easel_buf_reset(&b);
    assert_int_equal(easel_buf_json_str(&b, "a\"\n"), EASEL_OK);
    assert_string_equal(b.data, "\"a\\\"\\n\"");
    easel_buf_cleanup(&b);
}

static void test_parse(void **state)
{
    (void)state;
    int64_t v;
    int i;
    assert_int_equal(easel_parse_i64("42", 0, 100, &v), EASEL_OK);
    assert_int_equal(v, 42);
    assert_int_equal(easel_parse_i64("42x", 0, 100, &v), EASEL_EINVAL);
    assert_int_equal(easel_parse_i64("", 0, 100, &v), EASEL_EINVAL);
    assert_int_equal(easel_parse_i64("101", 0, 100, &v), EASEL_ELIMIT);
    assert_int_equal(easel_parse_int("99999999999", 0, 1 << 30, &i), EASEL_ELIMIT);
    assert_int_equal(easel_parse_duration_ms("250ms", &v), EASEL_OK);
    assert_int_equal(v, 250);
    assert_int_equal(easel_parse_duration_ms("1.5s", &v), EASEL_OK);
    assert_int_equal(v, 1500);
    assert_int_equal(easel_parse_duration_ms("2m", &v), EASEL_OK);
    assert_int_equal(v, 120000);
    assert_int_equal(easel_parse_duration_ms("soon", &v), EASEL_EINVAL);
    assert_int_equal(easel_parse_duration_ms("-1s", &v), EASEL_EINVAL);
    assert_int_equal(easel_parse_size("20MB", &v), EASEL_OK);
    assert_int_equal(v, 20000000);
    assert_int_equal(easel_parse_size("1KiB", &v), EASEL_OK);
    assert_int_equal(v, 1024);
    bool b;
    assert_int_equal(easel_parse_bool("yes", &b), EASEL_OK);
    assert_true(b);
    assert_int_equal(easel_parse_bool("maybe", &b), EASEL_EINVAL);
}

struct cfg {
    char *name;
    int n;
    int64_t wait;
    bool flag;
    char **list;
};

static const struct easel_opt opts[] = {
    {"name", "EASEL_TEST_NAME", EASEL_OPT_STRING, "dflt", offsetof(struct cfg, name), 0, 0, "name"},
    {"n", "EASEL_TEST_N", EASEL_OPT_INT, "3", offsetof(struct cfg, n), 1, 10, "n"},
    {"wait", NULL, EASEL_OPT_DURATION, "1s", offsetof(struct cfg, wait), 0, 0, "wait"},
    {"flag", NULL, EASEL_OPT_BOOL, "false", offsetof(struct cfg, flag), 0, 0, "flag"},
    {"item", NULL, EASEL_OPT_LIST, NULL, offsetof(struct cfg, list), 0, 0, "items"},
};
static const struct easel_cmd_spec spec = {"t", "t [flags]", "test", opts, 5, 0, 1};

static void test_config_precedence(void **state)
{
    (void)state;
    struct cfg c;
    char **args;
    int nargs;
    struct easel_error err;
    memset(&c, 0, sizeof(c));
    setenv("EASEL_TEST_NAME", "from-env", 1);
    setenv("EASEL_TEST_N", "5", 1);
    char *argv[] = {"--n=7", "--flag", "--item", "a", "--item=b", "pos", "--wait", "250ms"};
    assert_int_equal(easel_config_parse(&spec, &c, 8, argv, &args, &nargs, &err), EASEL_OK);
    assert_string_equal(c.name, "from-env");   /* env beats default */
    assert_int_equal(c.n, 7);                  /* flag beats env */
    assert_true(c.flag);
    assert_int_equal(c.wait, 250);
    assert_string_equal(c.list[0], "a");
    assert_string_equal(c.list[1], "b");
    assert_null(c.list[2]);
    assert_int_equal(nargs, 1);
    assert_string_equal(args[0], "pos");
    free(args);
    easel_config_cleanup(&spec, &c);

    memset(&c, 0, sizeof(c));
    char *bad[] = {"--nope"};
    assert_int_equal(easel_config_parse(&spec, &c, 1, bad, &args, &nargs, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown flag --nope"));
    easel_config_cleanup(&spec, &c);

    memset(&c, 0, sizeof(c));
    char *range[] = {"--n", "11"};
    assert_int_equal(easel_config_parse(&spec, &c, 2, range, &args, &nargs, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "between 1 and 10"));
    easel_config_cleanup(&spec, &c);

    memset(&c, 0, sizeof(c));
    setenv("EASEL_TEST_N", "lots", 1);
    char *none[] = {"x"};
    assert_int_equal(easel_config_parse(&spec, &c, 1, none, &args, &nargs, &err), EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "EASEL_TEST_N"));
    easel_config_cleanup(&spec, &c);
    unsetenv("EASEL_TEST_N");
    unsetenv("EASEL_TEST_NAME");
}

/* Every type goes out through easel_config_export and back in through
 * easel_config_parse (the environment alone) to the same value: what a
 * worker reads is what its controller resolved. */
struct all {
    char *str, *unset;
    int i;
    int64_t big, dur, size;
    bool on, off;
    char **list, **none;
};
#define ALL(flag, env, type, def, field, fl)                                  \
    {flag, env, EASEL_OPT_##type, def, offsetof(struct all, field), 0, 0, flag, fl}
static const struct easel_opt all_opts[] = {
    ALL("str", "EASEL_RT_STR", STRING, "d", str, EASEL_OPT_WORKER),
    ALL("unset", "EASEL_RT_UNSET", STRING, NULL, unset, EASEL_OPT_WORKER),
    ALL("i", "EASEL_RT_I", INT, "1", i, EASEL_OPT_WORKER),
    ALL("big", "EASEL_RT_BIG", I64, "1", big, EASEL_OPT_WORKER | EASEL_OPT_SECRET),
    ALL("dur", "EASEL_RT_DUR", DURATION, "1s", dur, EASEL_OPT_WORKER),
    ALL("size", "EASEL_RT_SIZE", SIZE, "1KB", size, EASEL_OPT_WORKER),
    ALL("on", "EASEL_RT_ON", BOOL, "false", on, EASEL_OPT_WORKER),
    ALL("off", "EASEL_RT_OFF", BOOL, "true", off, EASEL_OPT_WORKER),
    ALL("list", "EASEL_RT_LIST", LIST, NULL, list, EASEL_OPT_WORKER),
    ALL("none", "EASEL_RT_NONE", LIST, NULL, none, EASEL_OPT_WORKER),
    ALL("local", "EASEL_RT_LOCAL", STRING, NULL, str, 0), /* not exported with the mask */
    ALL("noenv", NULL, INT, NULL, i, EASEL_OPT_WORKER),   /* no variable: never exported */
};
static const struct easel_cmd_spec all_spec = {"rt", "rt", "round trip", all_opts,
                                               sizeof(all_opts) / sizeof(all_opts[0]), 0, 0};

static void test_config_export_round_trip(void **state)
{
    (void)state;
    struct all x, y;
    char **args = NULL;
    int nargs;
    struct easel_error err;
    memset(&x, 0, sizeof(x));
    char *argv[] = {"--str", "redis://:pw@10.0.0.7:6390/2", "--i=-42", "--big",
                    "140737488355327", "--dur", "1.5s", "--size", "20MiB", "--on",
                    "--off=false", "--list", "/srv/a b", "--list", "10.0.0.0/8", "--list",
                    "*.internal"};
    int argc = (int)(sizeof(argv) / sizeof(argv[0]));
    assert_int_equal(easel_config_parse(&all_spec, &x, argc, argv, &args, &nargs, &err),
                     EASEL_OK);
    free(args);

    struct easel_settings out;
    assert_int_equal(easel_config_export(&all_spec, &x, EASEL_OPT_WORKER, &out, &err), EASEL_OK);
    assert_int_equal(out.n, 8); /* the unset string and the empty list are left out */
    assert_null(easel_settings_find(&out, "EASEL_RT_UNSET"));
    assert_null(easel_settings_find(&out, "EASEL_RT_NONE"));
    assert_null(easel_settings_find(&out, "EASEL_RT_LOCAL"));
    assert_string_equal(easel_settings_find(&out, "EASEL_RT_DUR")->value, "1500ms");
    assert_string_equal(easel_settings_find(&out, "EASEL_RT_SIZE")->value, "20971520");
    assert_string_equal(easel_settings_find(&out, "EASEL_RT_LIST")->value,
                        "/srv/a b,10.0.0.0/8,*.internal");
    assert_true(easel_settings_find(&out, "EASEL_RT_BIG")->opt->flags & EASEL_OPT_SECRET);

    struct easel_settings copy;
    assert_int_equal(easel_settings_copy(&out, &copy), EASEL_OK);
    easel_settings_cleanup(&out);
    for (size_t i = 0; i < copy.n; i++)
        setenv(copy.v[i].opt->env, copy.v[i].value, 1);
    memset(&y, 0, sizeof(y));
    assert_int_equal(easel_config_parse(&all_spec, &y, 0, NULL, &args, &nargs, &err), EASEL_OK);
    free(args);
    assert_string_equal(y.str, x.str);
    assert_null(y.unset);
    assert_int_equal(y.i, x.i);
    assert_int_equal(y.big, x.big);
    assert_int_equal(y.dur, x.dur);
    assert_int_equal(y.size, x.size);
    assert_true(y.on == x.on && y.on);
    assert_true(y.off == x.off && !y.off);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(y.list[i], x.list[i]);
    assert_null(y.list[3]);
    assert_null(y.none);
    for (size_t i = 0; i < copy.n; i++)
        unsetenv(copy.v[i].opt->env);
    easel_settings_cleanup(&copy);
    easel_config_cleanup(&all_spec, &y);

    /* a list entry the environment cannot carry is refused, by name */
    char *comma = strdup("a,b");
    char *saved = x.list[1];
    x.list[1] = comma;
    assert_int_equal(easel_config_export(&all_spec, &x, EASEL_OPT_WORKER, &out, &err),
                     EASEL_EINVAL);
    assert_non_null(strstr(err.msg, "--list"));
    assert_null(out.v);
    x.list[1] = saved;
    free(comma);
    /* mask 0: every option with a variable, whatever its flags */
    assert_int_equal(easel_config_export(&all_spec, &x, 0, &out, &err), EASEL_OK);
    assert_non_null(easel_settings_find(&out, "EASEL_RT_LOCAL"));
    easel_settings_cleanup(&out);
    easel_config_cleanup(&all_spec, &x);
}

static void test_backoff_full_jitter(void **state)
{
    (void)state;
    struct easel_retry_policy p = {.max_attempts = 5, .initial_ms = 100,
                                   .factor = 2.0, .max_ms = 1000};
    assert_int_equal(easel_backoff_ceiling_ms(&p, 1), 100);
    assert_int_equal(easel_backoff_ceiling_ms(&p, 3), 400);
    assert_int_equal(easel_backoff_ceiling_ms(&p, 10), 1000);
    int64_t lo = 1 << 30, hi = 0;
    for (int i = 0; i < 5000; i++) {
        int64_t d = easel_backoff_ms(&p, 3);
        assert_true(d >= 0 && d <= 400);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* full jitter spreads over the whole range */
    assert_true(lo < 40);
    assert_true(hi > 360);
}

/* an owner as the API and the CLI take one, and the key the credits and
 * the streams name it by */
static void test_owner_key(void **state)
{
    (void)state;
    char k[16];
    assert_int_equal(easel_owner_key("b2c", "u-7", k, sizeof(k)), EASEL_OK);
    assert_string_equal(k, "b2c:u-7");
    assert_true(easel_owner_key_valid(k));
    assert_true(easel_owner_key_valid("b2b:store:42")); /* the id may hold a colon */
    assert_false(easel_owner_key_valid(NULL));
    assert_false(easel_owner_key_valid("u-7"));
    assert_false(easel_owner_key_valid(":u-7"));
    assert_false(easel_owner_key_valid("b2c:"));
    assert_false(easel_owner_key_valid("b2c:u\n7"));
    char long_key[EASEL_OWNER_KEY_MAX + 2];
    memset(long_key, 'x', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    long_key[3] = ':';
    assert_false(easel_owner_key_valid(long_key)); /* 257 bytes */
    long_key[EASEL_OWNER_KEY_MAX] = '\0';
    assert_true(easel_owner_key_valid(long_key)); /* 256 */
    assert_int_equal(easel_owner_key("b2c", "a-rather-long-id", k, sizeof(k)), EASEL_ELIMIT);
}

static void test_redaction(void **state)
{
    (void)state;
    char out[128];
    easel_redact_url("postgresql://easel:hunter2@db:5432/easel", out, sizeof(out));
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "@db:5432"));
    easel_redact_url("redis://:s3cret@127.0.0.1:6379/0", out, sizeof(out));
    assert_null(strstr(out, "s3cret"));
    /* a password with an '@', a Redis password without a colon, Sentinel */
    easel_redact_url("redis://:a@b@h:1/0", out, sizeof(out));
    assert_string_equal(out, "redis://:***@h:1/0");
    easel_redact_url("redis://onlypass@h", out, sizeof(out));
    assert_string_equal(out, "redis://***@h");
    easel_redact_url("redis-sentinel://u:pw@s1,s2:26380/mymaster", out, sizeof(out));
    assert_string_equal(out, "redis-sentinel://u:***@s1,s2:26380/mymaster");
    easel_redact_url("postgresql://easel@db/easel", out, sizeof(out));
    assert_string_equal(out, "postgresql://easel@db/easel");
    easel_redact_url("host=db password=hunter2 user=x", out, sizeof(out));
    assert_null(strstr(out, "hunter2"));
    assert_true(easel_is_secret_key("Authorization"));
    assert_true(easel_is_secret_key("REPLICATE_API_TOKEN"));
    assert_true(easel_is_secret_key("OPENAI_API_KEY"));
    assert_true(easel_is_secret_key("aws_secret_access_key"));
    assert_false(easel_is_secret_key("idempotency_key"));
    assert_false(easel_is_secret_key("model"));
}

static void test_lifecycle(void **state)
{
    (void)state;
    /* every terminal state is reachable only from live states, never from
     * another terminal state: two terminal outcomes cannot happen */
    for (int to = 0; to < EASEL_STATUS_COUNT; to++) {
        if (!easel_status_terminal((enum easel_status)to))
            continue;
        unsigned from = easel_status_allowed_from((enum easel_status)to);
        assert_int_equal(from & EASEL_TERMINAL_MASK, 0);
    }
    assert_true(easel_status_allowed_from(EASEL_STATUS_RUNNING) ==
                EASEL_STATUS_BIT(EASEL_STATUS_DISPATCHED));
    enum easel_status s;
    assert_int_equal(easel_status_parse("retrying", &s), EASEL_OK);
    assert_int_equal(s, EASEL_STATUS_RETRYING);
    assert_int_equal(easel_status_parse("done", &s), EASEL_EINVAL);
    char u[EASEL_UUID_LEN + 1];
    assert_int_equal(easel_uuid_v4(u), EASEL_OK);
    assert_true(easel_uuid_valid(u));
    assert_int_equal(u[14], '4');
    assert_false(easel_uuid_valid("not-a-uuid"));
}

/* yaml_text: converts a whole YAML text; *what gets the problem, if any */
static cJSON *yaml_text(const char *text, size_t budget, const char **what)
{
    yaml_parser_t p;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    assert_true(yaml_parser_load(&p, &doc));
    struct easel_yaml_problem prob;
    cJSON *j = easel_yaml_to_json(&doc, yaml_document_get_root_node(&doc), &budget, &prob);
    *what = prob.what;
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return j;
}

static void test_yaml_to_json(void **state)
{
    (void)state;
    const char *what = NULL;
    cJSON *j = yaml_text("a: 1.5\nb: 'true'\nc: TRUE\nd: ~\ne: 0x1F\nf: \"12\"\n"
                         "g: [x, -3]\na: 2\nh: 1e3\ni: .inf\n", 100, &what);
    assert_non_null(j);
    char *s = cJSON_PrintUnformatted(j);
    /* the repeated key keeps its last value; quoted scalars, hex and .inf
     * stay strings; the rest resolves as YAML 1.2's core schema does */
    assert_string_equal(s, "{\"b\":\"true\",\"c\":true,\"d\":null,\"e\":\"0x1F\","
                           "\"f\":\"12\",\"g\":[\"x\",-3],\"a\":2,\"h\":1000,\"i\":\".inf\"}");
    free(s);
    cJSON_Delete(j);

    assert_null(yaml_text("? [a]\n: 1\n", 100, &what));
    assert_string_equal(what, "a mapping key is not a string");
    assert_null(yaml_text("a: [1, 2, 3, 4, 5]\n", 4, &what));
    assert_string_equal(what, "too large");
    char deep[400] = "";
    for (int i = 0; i < EASEL_YAML_MAX_DEPTH + 2; i++)
        strcat(deep, "[");
    for (int i = 0; i < EASEL_YAML_MAX_DEPTH + 2; i++)
        strcat(deep, "]");
    assert_null(yaml_text(deep, 1000, &what));
    assert_string_equal(what, "nested too deeply");
}

/* The Prometheus text format's escaping and value spelling. */
static void test_prom_text(void **state)
{
    (void)state;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    assert_int_equal(easel_prom_family(&b, "x_total", "counter", "a \\ b\nc \"q\""), EASEL_OK);
    const char *l[] = {"path", "C:\\dir \"x\"\nnext", "k", "", NULL};
    assert_int_equal(easel_prom_sample(&b, "x_total", l, 3), EASEL_OK);
    assert_int_equal(easel_prom_sample(&b, "y", NULL, 0.25), EASEL_OK);
    assert_int_equal(easel_prom_sample(&b, "z", (const char *[]){NULL}, HUGE_VAL), EASEL_OK);
    assert_int_equal(easel_buf_append(&b, "", 1), EASEL_OK);
    assert_string_equal(b.data,
                        "# HELP x_total a \\\\ b\\nc \"q\"\n"
                        "# TYPE x_total counter\n"
                        "x_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\",k=\"\"} 3\n"
                        "y 0.25\n"
                        "z +Inf\n");
    easel_buf_cleanup(&b);
}

/* Every reason's name parses back to it, the HTTP families keep their
 * status in the name, and a word from elsewhere is no reason of ours. */
static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(easel_reason_name(EASEL_R_NONE), "");
    for (int r = 1; r < EASEL_R__COUNT; r++) {
        const char *name = easel_reason_name((enum easel_reason)r);
        assert_true(name[0] != '\0');
        assert_int_equal(easel_reason_parse(name), r);
        for (int q = 1; q < r; q++) /* names are unique */
            assert_string_not_equal(easel_reason_name((enum easel_reason)q), name);
    }
    assert_int_equal(easel_reason_parse("provider_http_503"), EASEL_R_PROVIDER_HTTP);
    assert_int_equal(easel_reason_parse("source_http_418"), EASEL_R_SOURCE_HTTP);
    assert_int_equal(easel_reason_parse("provider_http_"), EASEL_R_NONE);
    assert_int_equal(easel_reason_parse("provider_http_5x3"), EASEL_R_NONE);
    assert_int_equal(easel_reason_parse("quality_"), EASEL_R_NONE);
    assert_int_equal(easel_reason_parse(NULL), EASEL_R_NONE);
    assert_int_equal(easel_reason_parse("UNKNOWN_MODEL"), EASEL_R_NONE);
    assert_true(easel_reason_is_quality(easel_reason_parse("quality_blank")));
    assert_false(easel_reason_is_quality(EASEL_R_PROVIDER_AUTH));
    assert_string_equal(easel_reason_name((enum easel_reason)EASEL_R__COUNT), "");

    struct easel_error e;
    easel_error_clear(&e);
    assert_int_equal(easel_error_set(&e, EASEL_EHTTP, EASEL_CLASS_RETRYABLE,
                                     EASEL_R_SOURCE_HTTP, "x answered %d", 503),
                     EASEL_EHTTP);
    assert_int_equal(e.why, EASEL_R_SOURCE_HTTP);
    assert_string_equal(e.reason, "source_http");
    easel_error_reason(&e, EASEL_R_SOURCE_HTTP, 503);
    assert_string_equal(e.reason, "source_http_503");
    assert_int_equal(e.http_status, 503);
    easel_error_reason(&e, EASEL_R_SOURCE_NOT_FOUND, 404); /* no family: no suffix */
    assert_string_equal(e.reason, "source_not_found");
    assert_string_equal(e.msg, "x answered 503");
    easel_error_reason(NULL, EASEL_R_INTERNAL, 0);
}

static void test_fmt(void **state)
{
    (void)state;
    char b[12];
    assert_int_equal(easel_snprintf(b, sizeof(b), "%s-%d", "key", 7), EASEL_OK);
    assert_string_equal(b, "key-7");
    assert_int_equal(easel_snprintf(b, sizeof(b), "%s", "a longer key than fits"), EASEL_ELIMIT);
    assert_int_equal(strlen(b), sizeof(b) - 1);
    assert_int_equal(easel_fmt_cut(b, sizeof(b), "%s", "short"), 5);
    assert_string_equal(b, "short");
    assert_int_equal(easel_fmt_cut(b, sizeof(b), "%s", "a sentence that goes on"), 11);
    assert_string_equal(b, "a senten..."); /* the cut shows */
    char tiny[4];
    assert_int_equal(easel_fmt_cut(tiny, sizeof(tiny), "%s", "abcdef"), 3);
    assert_string_equal(tiny, "abc"); /* too small to say so */
    assert_int_equal(easel_fmt_cut(b, 0, "%s", "x"), 0);
    /* a time is all there or not at all */
    char ts[25];
    assert_int_equal(easel_format_time(1369353600123LL, ts, sizeof(ts)), EASEL_OK);
    assert_string_equal(ts, "2013-05-24T00:00:00.123Z");
    assert_int_equal(easel_format_time(1369353600123LL, ts, 20), EASEL_ELIMIT);
    assert_string_equal(ts, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_config_export_round_trip),
        cmocka_unit_test(test_backoff_full_jitter),
        cmocka_unit_test(test_owner_key),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_yaml_to_json),
        cmocka_unit_test(test_prom_text),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_fmt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
