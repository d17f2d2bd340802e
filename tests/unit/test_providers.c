/* Unit tests for the provider layer's pure parts: Retry-After parsing,
 * key redaction, failure classification, base64, and the failover chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/providers.h"
#include "easel/registry.h"
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
        easel_provider_http_error(&e, "replicate", cases[i].status, NULL, "the message");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_failover_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
