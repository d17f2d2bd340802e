/* Unit tests for the provider layer's pure parts: Retry-After parsing,
 * key redaction, failure classification, base64, the failover chain, and
 * the Replicate create's Prefer / Cancel-After values against the bounds
 * Replicate's API reference sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/providers.h"
#include "easel/registry.h"
#include "../../pkg/providers/providers_int.h"
#include "easel/worker.h"

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(easel_retry_after_parse("120", 0), 120000);
    assert_int_equal(easel_retry_after_parse(" 1.5 ", 0), 1500);
    assert_int_equal(easel_retry_after_parse("0", 0), 0);
    /* an HTTP-date, relative to "now" */
    int64_t now = (int64_t)784111777 * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(easel_retry_after_parse("Sun, 06 Nov 1994 08:50:07 GMT", now), 30000);
    assert_int_equal(easel_retry_after_parse("Sun, 06 Nov 1994 08:49:00 GMT", now), 0);
    assert_int_equal(easel_retry_after_parse("soon", 0), -1);
    assert_int_equal(easel_retry_after_parse("-5", 0), -1);
    assert_int_equal(easel_retry_after_parse("12abc", 0), -1);
    assert_int_equal(easel_retry_after_parse(NULL, 0), -1);
}

static void test_redaction(void **state)
{
    (void)state;
    char s[128] = "Incorrect API key provided: sk-abc123. Also sk-abc123 again.";
    easel_redact_secret(s, sizeof(s), "sk-abc123");
    assert_string_equal(s, "Incorrect API key provided: [redacted]. Also [redacted] again.");
    char t[16] = "ab key ab";
    easel_redact_secret(t, sizeof(t), "ab"); /* too short to be a key: untouched */
    assert_string_equal(t, "ab key ab");
    char u[12] = "xxSECRETyy"; /* no room for the mark: the key is cut out */
    easel_redact_secret(u, sizeof(u), "SECRET");
    assert_null(strstr(u, "SECRET"));
}

static void test_classification(void **state)
{
    (void)state;
    static const struct {
        long status;
        enum easel_errclass cls;
    } cases[] = {{408, EASEL_CLASS_RETRYABLE}, {409, EASEL_CLASS_RETRYABLE},
                 {429, EASEL_CLASS_RETRYABLE}, {500, EASEL_CLASS_RETRYABLE},
                 {503, EASEL_CLASS_RETRYABLE}, {400, EASEL_CLASS_PERMANENT},
                 {401, EASEL_CLASS_PERMANENT}, {403, EASEL_CLASS_PERMANENT},
                 {404, EASEL_CLASS_PERMANENT}, {413, EASEL_CLASS_PERMANENT},
                 {422, EASEL_CLASS_PERMANENT}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct easel_error e;
        easel_error_clear(&e);
        easel_provider_http_error(&e, "replicate", cases[i].status, EASEL_R_NONE, "the message");
        assert_int_equal(e.cls, cases[i].cls);
        assert_non_null(strstr(e.msg, "the message"));
    }
}

static void test_base64(void **state)
{
    (void)state;
    char *b = easel_base64("easel", 5);
    assert_string_equal(b, "ZWFzZWw=");
    free(b);
    b = easel_base64("", 0);
    assert_string_equal(b, "");
    free(b);
}

static const char chain_yaml[] =
    "version: 1\n"
    "models:\n"
    "  - id: a/first\n"
    "    provider: replicate\n"
    "    retry: {max_attempts: 2}\n"
    "    fallback: [b/second, local/vips-stage]\n"
    "  - id: b/second\n"
    "    provider: openai\n"
    "    retry: {max_attempts: 3}\n"
    "    fallback: [a/first]\n"
    "  - id: local/vips-stage\n"
    "    provider: local\n"
    "    retry: {max_attempts: 1}\n";

static void test_failover_chain(void **state)
{
    (void)state;
    struct easel_registry *r = NULL;
    struct easel_diags d = {0};
    assert_int_equal(easel_registry_parse(chain_yaml, strlen(chain_yaml), "t", &r, &d), EASEL_OK);
    easel_diags_cleanup(&d);
    /* 2 + 3 + 1; b/second's own fallback is not followed */
    assert_int_equal(easel_registry_chain_attempts(r, "a/first"), 6);
    static const struct {
        int attempt, nth;
        const char *model;
    } want[] = {{1, 1, "a/first"}, {2, 2, "a/first"}, {3, 1, "b/second"},
                {5, 3, "b/second"}, {6, 1, "local/vips-stage"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int nth = 0;
        const struct easel_model *m = easel_registry_chain_model(r, "a/first", want[i].attempt,
                                                                 &nth, NULL);
        assert_non_null(m);
        assert_string_equal(m->id, want[i].model);
        assert_int_equal(nth, want[i].nth);
    }
    assert_null(easel_registry_chain_model(r, "a/first", 7, NULL, NULL));

    struct easel_failure_plan p;
    easel_failure_plan(r, "a/first", 1, &p); /* same model again, with backoff */
    assert_int_equal(p.policy.max_attempts, 6);
    assert_string_equal(p.model, "a/first");
    assert_string_equal(p.next_model, "a/first");
    easel_failure_plan(r, "a/first", 2, &p); /* a/first is spent: fail over */
    assert_string_equal(p.next_model, "b/second");
    easel_failure_plan(r, "a/first", 6, &p); /* the chain is spent */
    assert_null(p.next_model);

    size_t pos = 0;
    const struct easel_model *n = easel_registry_chain_next(r, "a/first", &pos);
    assert_string_equal(n->id, "b/second");
    n = easel_registry_chain_next(r, "a/first", &pos);
    assert_string_equal(n->id, "local/vips-stage");
    assert_null(easel_registry_chain_next(r, "a/first", &pos));
    easel_registry_unref(r);
}

/* Replicate's API reference: Prefer is wait=N with N in 1..60;
 * Cancel-After is at least 5 seconds. Every time left an attempt can have,
 * from already past its deadline to four hours, stays inside both. */
static void test_replicate_timing(void **state)
{
    (void)state;
    for (int64_t left = -2000; left <= 4 * 3600 * 1000; left += left < 20000 ? 250 : 60000) {
        int64_t wait = 0, cancel = 0;
        prov_replicate_timing(left, &wait, &cancel);
        assert_in_range(wait, 1, 60);
        assert_true(cancel >= 5);
        /* never shorter than the attempt: the job's deadline decides */
        assert_true(cancel * 1000 + 999 >= left);
    }
    int64_t wait = 0, cancel = 0;
    prov_replicate_timing(3000, &wait, &cancel); /* the e2e short model */
    assert_int_equal(wait, 1);
    assert_int_equal(cancel, 5);
    prov_replicate_timing(180000, &wait, &cancel);
    assert_int_equal(wait, 5);
    assert_int_equal(cancel, 180);
    prov_replicate_timing(5999, &wait, &cancel); /* whole seconds, rounded down */
    assert_int_equal(cancel, 5);
    prov_replicate_timing(7500, &wait, &cancel);
    assert_int_equal(wait, 2);
    assert_int_equal(cancel, 7);
}

/* An Imagen template that renders no prompt is refused before any request
 * (no connection is given: a request would crash the test): Vertex AI's
 * reference makes the instance's prompt required. */
static void test_imagen_needs_prompt(void **state)
{
    (void)state;
    struct easel_model m = {.id = (char *)"google/imagen-3", .provider = (char *)"imagen",
                            .version = (char *)"projects/p/locations/l/publishers/google/models/m"};
    static const char *const inputs[] = {"{}", "{\"prompt\": \"\"}", "{\"prompt\": 7}"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cJSON *in = cJSON_Parse(inputs[i]);
        struct easel_call c = {.model = &m, .api_key = "tok", .input = in};
        struct easel_call_result out = {0};
        struct easel_error e;
        easel_error_clear(&e);
        assert_int_equal(prov_imagen(&c, &out, &e), EASEL_EINVAL);
        assert_int_equal(e.cls, EASEL_CLASS_PERMANENT);
        assert_string_equal(e.reason, "bad_input");
        assert_non_null(strstr(e.msg, "no prompt"));
        cJSON_Delete(in);
    }
}

/* The percent of a provider's newest tqdm bar: the real shapes (diffusers'
 * steps, \r redraws, a description before the bar), the newest line
 * winning, and text that only looks like a bar refused. */
static void test_logs_percent(void **state)
{
    (void)state;
    double p = -1;
#define PCT(text, want)                                                       \
    do {                                                                      \
        p = -1;                                                               \
        assert_true(easel_logs_percent(text, strlen(text), &p));              \
        assert_true(p > (want) - 0.01 && p < (want) + 0.01);                  \
    } while (0)
#define NOPCT(text) assert_false(easel_logs_percent(text, strlen(text), &p))
    PCT(" 45%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x8c     | 9/20 "
        "[00:02<00:02, 4.1it/s]", 45);
    PCT("Using seed: 1234\n  0%|          | 0/28 [00:00<?, ?it/s]\n"
        " 50%|#####     | 14/28 [00:03<00:03, 4.2it/s]\n", 50);
    PCT("100%|##########| 28/28 [00:06<00:00, 4.3it/s]", 100);
    PCT("Loading pipeline components...: 43%|####3     | 3/7 [00:01<00:01]", 43);
    /* \r redraws: the last drawing counts */
    PCT("  5%|5         | 1/20\r 10%|#         | 2/20\r 15%|#5        | 3/20", 15);
    /* the newest bar, even with plain lines after it */
    PCT(" 70%|#######   | 7/10 [00:01<00:00]\nsaving output\n", 70);
    PCT("steps 12.5%|#   | 1/8", 12.5);
    PCT("  30% |###       | 3/10", 30);
    NOPCT("");
    NOPCT("using 50% guidance\n");
    NOPCT("1050%|####| x");   /* more than three digits */
    NOPCT("x45%|### | 1/2");  /* glued to a word */
    NOPCT("250%|####| 5/2");  /* over 100 */
    NOPCT("%|%|%|");
    NOPCT(".5%|");
    assert_false(easel_logs_percent(NULL, 3, &p));
#undef PCT
#undef NOPCT
}

/* The lines not sent yet: complete lines only until the end, redraws as
 * their last drawing, control bytes and bad UTF-8 made safe, long lines
 * cut, and a full event keeping the newest lines after a marker. */
static void test_logs_take(void **state)
{
    (void)state;
    const struct easel_logs_limits lim = {4, 16};
    cJSON *lines = NULL;
    size_t off = 0;
    const char *t1 = "Using seed: 7\nLoading";
    assert_int_equal(easel_logs_take(t1, strlen(t1), &off, false, &lim, &lines), EASEL_OK);
    assert_non_null(lines);
    assert_int_equal(cJSON_GetArraySize(lines), 1);
    assert_string_equal(cJSON_GetArrayItem(lines, 0)->valuestring, "Using seed: 7");
    assert_int_equal(off, 14);
    cJSON_Delete(lines);
    /* nothing complete yet: nothing to send, the offset stays */
    assert_int_equal(easel_logs_take(t1, strlen(t1), &off, false, &lim, &lines), EASEL_OK);
    assert_null(lines);
    assert_int_equal(off, 14);
    /* grown: the rest of the line, a redrawn bar, an escape, bad UTF-8,
     * a blank line, a long line */
    const char *t2 = "Using seed: 7\nLoading done\n 5%|a\r10%|b\r\n\x1b[31mred\x1b[0m \xff!\n"
                     "   \n0123456789abcdefghij\n";
    const struct easel_logs_limits wide = {8, 16};
    assert_int_equal(easel_logs_take(t2, strlen(t2), &off, false, &wide, &lines), EASEL_OK);
    assert_non_null(lines);
    assert_int_equal(cJSON_GetArraySize(lines), 4);
    assert_string_equal(cJSON_GetArrayItem(lines, 0)->valuestring, "Loading done");
    assert_string_equal(cJSON_GetArrayItem(lines, 1)->valuestring, "10%|b");
    assert_string_equal(cJSON_GetArrayItem(lines, 2)->valuestring, "red ?!");
    assert_string_equal(cJSON_GetArrayItem(lines, 3)->valuestring, "0123456789abcdef...");
    assert_int_equal(off, strlen(t2));
    cJSON_Delete(lines);
    /* more lines than an event holds: the newest, after a marker */
    const char *t3 = "a\nb\nc\nd\ne\nf\ng";
    off = 0;
    assert_int_equal(easel_logs_take(t3, strlen(t3), &off, true, &lim, &lines), EASEL_OK);
    assert_int_equal(cJSON_GetArraySize(lines), 4);
    assert_string_equal(cJSON_GetArrayItem(lines, 0)->valuestring,
                        "[4 earlier lines not shown]");
    assert_string_equal(cJSON_GetArrayItem(lines, 1)->valuestring, "e");
    assert_string_equal(cJSON_GetArrayItem(lines, 3)->valuestring, "g");
    assert_int_equal(off, strlen(t3));
    cJSON_Delete(lines);
    /* text that shrank is read from its start; a cut never splits UTF-8 */
    const char *t4 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n";
    off = 1000;
    assert_int_equal(easel_logs_take(t4, strlen(t4), &off, false, &lim, &lines), EASEL_OK);
    assert_string_equal(cJSON_GetArrayItem(lines, 0)->valuestring,
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
    cJSON_Delete(lines);
    const struct easel_logs_limits bad = {1, 16};
    assert_int_equal(easel_logs_take(t4, strlen(t4), &off, false, &bad, &lines), EASEL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_failover_chain),
        cmocka_unit_test(test_replicate_timing),
        cmocka_unit_test(test_imagen_needs_prompt),
        cmocka_unit_test(test_logs_percent),
        cmocka_unit_test(test_logs_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
