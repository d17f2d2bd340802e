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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
