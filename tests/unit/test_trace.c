/* Traces and error reports (pkg/telemetry/trace.c, otlp.c, sentry.c):
 * W3C traceparent parsing, the OTEL_* variables and the sampler, the OTLP
 * JSON mapping of spans, the Sentry DSN and envelope. The collector and
 * Sentry doubles of tests/e2e check the same over real sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "easel/trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static easel_err parse(const char *s, struct easel_span_ctx *c)
{
    return easel_traceparent_parse(s, strlen(s), c);
}

static void test_traceparent(void **state)
{
    (void)state;
    struct easel_span_ctx c;
    char out[EASEL_TRACEPARENT_LEN + 1];
    assert_int_equal(parse(TP, &c), EASEL_OK);
    assert_int_equal(c.trace_id[0], 0x4b);
    assert_int_equal(c.trace_id[15], 0x36);
    assert_int_equal(c.span_id[7], 0xb7);
    assert_int_equal(c.flags, 1);
    easel_traceparent_format(&c, out);
    assert_string_equal(out, TP);
    /* blanks around the value are allowed (a header value) */
    assert_int_equal(parse("  " TP " ", &c), EASEL_OK);

    static const char *const bad[] = {
        "",
        "00",
        /* too short, too long (version 00 is exactly 55) */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        TP "0",
        TP "-extra",
        /* upper case, not hex */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* all-zero ids */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* version ff is invalid */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* wrong separators */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.flags = 7;
        assert_int_equal(parse(bad[i], &c), EASEL_EPARSE);
        assert_false(easel_span_ctx_valid(&c));
        assert_int_equal(c.flags, 0);
    }
    /* a later version may add fields after a dash */
    assert_int_equal(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-xyz", &c),
                     EASEL_OK);
    assert_int_equal(c.flags, 0);
    assert_int_equal(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00x", &c),
                     EASEL_EPARSE);
}

/* A fake environment for easel_trace_config_read. */
static const char *const *fake_env;
static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env && fake_env[i]; i += 2)
        if (!strcmp(fake_env[i], name))
            return fake_env[i + 1];
    return NULL;
}

static void read_cfg(struct easel_trace_config *c, const char *const *env)
{
    fake_env = env;
    assert_int_equal(easel_trace_config_read(c, fake_getenv), EASEL_OK);
}

static void test_config(void **state)
{
    (void)state;
    struct easel_trace_config c;

    /* nothing set: off, and the defaults */
    read_cfg(&c, (const char *const[]){NULL});
    assert_false(c.enabled);
    assert_null(c.endpoint);
    assert_string_equal(c.service_name, "easel");
    assert_int_equal(c.sampler, EASEL_SAMPLER_PARENT_ON);
    easel_trace_config_cleanup(&c);

    /* the generic endpoint gets /v1/traces (one slash), headers are
     * percent-decoded, the traces-specific ones win */
    read_cfg(&c, (const char *const[]){
                     "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/",
                     "OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret, x-tenant = a b ,",
                     "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-KEY=other",
                     "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=img%2Cvideo,service.name=fromres",
                     NULL});
    assert_true(c.enabled);
    assert_string_equal(c.endpoint, "http://collector:4318/v1/traces");
    assert_int_equal(c.nheaders, 2);
    assert_string_equal(c.headers[0], "API-KEY: other");
    assert_string_equal(c.headers[1], "x-tenant: a b");
    assert_int_equal(c.nresource, 3);
    assert_string_equal(c.resource[2], "team");
    assert_string_equal(c.resource[3], "img,video");
    /* service.name from the resource when OTEL_SERVICE_NAME is not set */
    assert_string_equal(c.service_name, "fromres");
    assert_string_equal(c.warning, "");
    easel_trace_config_cleanup(&c);

    /* the traces endpoint is used as it is; OTEL_SERVICE_NAME wins */
    read_cfg(&c, (const char *const[]){
                     "OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318",
                     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c.example/custom/path",
                     "OTEL_SERVICE_NAME", "imgsvc",
                     "OTEL_RESOURCE_ATTRIBUTES", "service.name=fromres",
                     NULL});
    assert_string_equal(c.endpoint, "https://c.example/custom/path");
    assert_string_equal(c.service_name, "imgsvc");
    easel_trace_config_cleanup(&c);

    /* disabled by either variable, with an endpoint set */
    read_cfg(&c, (const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318",
                                       "OTEL_SDK_DISABLED", "TRUE", NULL});
    assert_false(c.enabled);
    easel_trace_config_cleanup(&c);
    read_cfg(&c, (const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318",
                                       "OTEL_TRACES_EXPORTER", "none", NULL});
    assert_false(c.enabled);
    easel_trace_config_cleanup(&c);

    /* a ratio without a sampler: parentbased_traceidratio */
    read_cfg(&c, (const char *const[]){"OTEL_TRACES_SAMPLER_ARG", "0.25", NULL});
    assert_int_equal(c.sampler, EASEL_SAMPLER_PARENT_RATIO);
    assert_true(c.ratio == 0.25);
    easel_trace_config_cleanup(&c);
    read_cfg(&c, (const char *const[]){"OTEL_TRACES_SAMPLER", "traceidratio",
                                       "OTEL_TRACES_SAMPLER_ARG", "0.5", NULL});
    assert_int_equal(c.sampler, EASEL_SAMPLER_RATIO);
    assert_true(c.ratio == 0.5);
    easel_trace_config_cleanup(&c);
    /* bad values: a warning naming the variable, the default applies */
    read_cfg(&c, (const char *const[]){"OTEL_TRACES_SAMPLER", "traceidratio",
                                       "OTEL_TRACES_SAMPLER_ARG", "1.5", NULL});
    assert_true(c.ratio == 1.0);
    assert_non_null(strstr(c.warning, "OTEL_TRACES_SAMPLER_ARG"));
    easel_trace_config_cleanup(&c);
    read_cfg(&c, (const char *const[]){"OTEL_TRACES_SAMPLER", "sometimes", NULL});
    assert_int_equal(c.sampler, EASEL_SAMPLER_PARENT_ON);
    assert_non_null(strstr(c.warning, "OTEL_TRACES_SAMPLER"));
    easel_trace_config_cleanup(&c);
    /* a malformed header is dropped, and the warning never holds a value */
    read_cfg(&c, (const char *const[]){"OTEL_EXPORTER_OTLP_HEADERS",
                                       "authorization=Bearer%20t0psecret,broken%zz=x,novalue", NULL});
    assert_int_equal(c.nheaders, 1);
    assert_string_equal(c.headers[0], "authorization: Bearer t0psecret");
    assert_non_null(strstr(c.warning, "OTEL_EXPORTER_OTLP_HEADERS"));
    assert_null(strstr(c.warning, "t0psecret"));
    easel_trace_config_cleanup(&c);
    /* not an http(s) endpoint: off */
    read_cfg(&c, (const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", NULL});
    assert_false(c.enabled);
    easel_trace_config_cleanup(&c);

    char *d = easel_trace_pct_decode("a%20b%2c", 8);
    assert_string_equal(d, "a b,");
    free(d);
    assert_null(easel_trace_pct_decode("a%2", 3));
    assert_null(easel_trace_pct_decode("%g0", 3));
}

static void test_sampler(void **state)
{
    (void)state;
    struct easel_trace_config c = {.ratio = 1.0};
    uint8_t low[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0, 0, 1};
    uint8_t high[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0, 0, 0, 0, 0, 0, 0};
    struct easel_span_ctx sampled = {.flags = 1}, unsampled = {.flags = 0};

    c.sampler = EASEL_SAMPLER_ALWAYS_ON;
    assert_true(easel_trace_should_sample(&c, high, &unsampled));
    c.sampler = EASEL_SAMPLER_ALWAYS_OFF;
    assert_false(easel_trace_should_sample(&c, low, &sampled));

    /* the ratio looks at the last 8 bytes only */
    c.sampler = EASEL_SAMPLER_RATIO;
    c.ratio = 0.5;
    assert_true(easel_trace_should_sample(&c, low, NULL));
    assert_false(easel_trace_should_sample(&c, high, NULL));
    assert_false(easel_trace_should_sample(&c, high, &sampled)); /* not parent-based */
    c.ratio = 0.0;
    assert_false(easel_trace_should_sample(&c, low, NULL));
    c.ratio = 1.0;
    assert_true(easel_trace_should_sample(&c, high, NULL));

    /* parent-based: the parent's flag decides, the root sampler otherwise */
    c.sampler = EASEL_SAMPLER_PARENT_RATIO;
    c.ratio = 0.5;
    assert_true(easel_trace_should_sample(&c, high, &sampled));
    assert_false(easel_trace_should_sample(&c, low, &unsampled));
    assert_true(easel_trace_should_sample(&c, low, NULL));
    assert_false(easel_trace_should_sample(&c, high, NULL));
    c.sampler = EASEL_SAMPLER_PARENT_ON;
    assert_true(easel_trace_should_sample(&c, high, NULL));
    assert_false(easel_trace_should_sample(&c, high, &unsampled));
    c.sampler = EASEL_SAMPLER_PARENT_OFF;
    assert_false(easel_trace_should_sample(&c, high, NULL));
    assert_true(easel_trace_should_sample(&c, high, &sampled));

    /* the ratio keeps about that share of random ids */
    c.sampler = EASEL_SAMPLER_RATIO;
    c.ratio = 0.25;
    int kept = 0;
    for (int i = 0; i < 4000; i++) {
        uint8_t id[16];
        for (int k = 0; k < 16; k++)
            id[k] = (uint8_t)(rand() & 0xff);
        kept += easel_trace_should_sample(&c, id, NULL);
    }
    assert_true(kept > 800 && kept < 1200);
}

static const cJSON *attr(const cJSON *span, const char *key)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(span, "attributes"))
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(a, "key");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
            return cJSON_GetObjectItemCaseSensitive(a, "value");
    }
    return NULL;
}

static bool lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void test_otlp_json(void **state)
{
    (void)state;
    struct easel_trace_config on = {.sampler = EASEL_SAMPLER_ALWAYS_ON, .ratio = 1};
    easel_trace_test_config(&on);
    struct easel_span_ctx parent;
    assert_int_equal(parse(TP, &parent), EASEL_OK);

    struct easel_span *root = easel_span_start_tp("easel.intake", EASEL_SPAN_CONSUMER, TP);
    assert_non_null(root);
    easel_span_str(root, "easel.job_id", "j\"1");
    easel_span_int(root, "http.response.status_code", 503);
    easel_span_int(root, "big", INT64_MAX);
    easel_span_double(root, "ratio", 0.5);
    easel_span_bool(root, "ok", true);
    easel_span_error(root, "provider said \"no\"");
    struct easel_span *child = easel_span_child(root, "easel.fetch", EASEL_SPAN_CLIENT);
    char tp[EASEL_TRACEPARENT_LEN + 1];
    struct easel_span_ctx cc;
    assert_int_equal(parse(easel_span_traceparent(child, tp), &cc), EASEL_OK);
    assert_memory_equal(cc.trace_id, parent.trace_id, 16);
    assert_int_equal(cc.flags, 1);
    easel_span_ok(child);

    struct easel_span *spans[2] = {easel_span_finish(root), easel_span_finish(child)};
    struct easel_trace_config cfg = {.service_name = "svc"};
    char *res[] = {"deployment.environment", "test", "service.name", "dropped"};
    cfg.resource = res;
    cfg.nresource = 2;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    assert_int_equal(easel_otlp_encode(&cfg, "controller", spans, 2, &b), EASEL_OK);
    cJSON *doc = cJSON_Parse(b.data);
    assert_non_null(doc);

    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(doc, "resourceSpans");
    assert_int_equal(cJSON_GetArraySize(rs), 1);
    const cJSON *r0 = cJSON_GetArrayItem(rs, 0);
    const cJSON *resource = cJSON_GetObjectItemCaseSensitive(r0, "resource");
    const cJSON *sv = attr(resource, "service.name");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sv, "stringValue")->valuestring, "svc");
    assert_non_null(attr(resource, "deployment.environment"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(attr(resource, "easel.mode"),
                                                         "stringValue")->valuestring,
                        "controller");
    int nsvc = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(resource, "attributes"))
        nsvc += !strcmp(cJSON_GetObjectItemCaseSensitive(a, "key")->valuestring, "service.name");
    assert_int_equal(nsvc, 1);

    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r0, "scopeSpans"), 0);
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(ss, "scope");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(scope, "name")->valuestring, "easel");
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(scope, "version")));
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ss, "spans");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    const cJSON *s0 = cJSON_GetArrayItem(list, 0), *s1 = cJSON_GetArrayItem(list, 1);

    assert_true(lower_hex(cJSON_GetObjectItemCaseSensitive(s0, "traceId")->valuestring, 32));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s0, "traceId")->valuestring,
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_true(lower_hex(cJSON_GetObjectItemCaseSensitive(s0, "spanId")->valuestring, 16));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s0, "parentSpanId")->valuestring,
                        "00f067aa0ba902b7");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s1, "parentSpanId")->valuestring,
                        cJSON_GetObjectItemCaseSensitive(s0, "spanId")->valuestring);
    /* enums are integers, times decimal strings */
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s0, "kind")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(s0, "kind")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(s1, "kind")->valueint, 3);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(s0, "startTimeUnixNano");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s0, "endTimeUnixNano");
    assert_true(cJSON_IsString(st) && cJSON_IsString(en));
    assert_true(strlen(st->valuestring) >= 19);
    assert_true(strtoll(en->valuestring, NULL, 10) >= strtoll(st->valuestring, NULL, 10));
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(s0, "status");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(status, "code")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(status, "message")->valuestring,
                        "provider said \"no\"");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s1, "status"),
                                                      "code")->valueint,
                     1);
    /* attribute values */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(attr(s0, "easel.job_id"), "stringValue")
                            ->valuestring,
                        "j\"1");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(attr(s0, "http.response.status_code"), "intValue");
    assert_true(cJSON_IsString(iv));
    assert_string_equal(iv->valuestring, "503");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(attr(s0, "big"), "intValue")->valuestring,
                        "9223372036854775807");
    assert_true(cJSON_GetObjectItemCaseSensitive(attr(s0, "ratio"), "doubleValue")->valuedouble == 0.5);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(attr(s0, "ok"), "boolValue")));
    /* no parentSpanId on a root */
    cJSON_Delete(doc);
    easel_buf_cleanup(&b);
    easel_span_free(spans[0]);
    easel_span_free(spans[1]);

    struct easel_span *r2 = easel_span_finish(easel_span_start("root", EASEL_SPAN_INTERNAL, NULL));
    easel_buf_init(&b, 0);
    assert_int_equal(easel_otlp_encode(&cfg, NULL, &r2, 1, &b), EASEL_OK);
    assert_null(strstr(b.data, "parentSpanId"));
    assert_non_null(strstr(b.data, "\"status\":{\"code\":0}"));
    easel_buf_cleanup(&b);
    easel_span_free(r2);

    /* an unsampled parent: the child is not recorded, but its context
     * carries the decision on */
    struct easel_trace_config off = {.sampler = EASEL_SAMPLER_PARENT_OFF};
    easel_trace_test_config(&off);
    struct easel_span *ns = easel_span_start("x", EASEL_SPAN_INTERNAL, NULL);
    assert_non_null(ns);
    easel_span_traceparent(ns, tp);
    assert_int_equal(tp[54], '0');
    easel_span_end(ns);

    /* off: nothing is allocated, every call takes NULL */
    easel_trace_test_config(NULL);
    assert_null(easel_span_start_tp("x", EASEL_SPAN_INTERNAL, TP));
    easel_span_str(NULL, "k", "v");
    easel_span_end(NULL);
    assert_string_equal(easel_span_traceparent(NULL, tp), "");
}

static void test_sentry_dsn(void **state)
{
    (void)state;
    struct easel_sentry_dsn d;
    assert_int_equal(easel_sentry_dsn_parse("https://abc123@o1.ingest.sentry.io/42", &d), EASEL_OK);
    assert_string_equal(d.key, "abc123");
    assert_string_equal(d.project, "42");
    assert_string_equal(d.envelope_url, "https://o1.ingest.sentry.io/api/42/envelope/");
    assert_string_equal(d.dsn, "https://abc123@o1.ingest.sentry.io/42");
    /* a path prefix, a port, and the legacy secret (never kept) */
    assert_int_equal(easel_sentry_dsn_parse("http://pub:sec@127.0.0.1:9000/sentry/7", &d), EASEL_OK);
    assert_string_equal(d.key, "pub");
    assert_string_equal(d.envelope_url, "http://127.0.0.1:9000/sentry/api/7/envelope/");
    assert_null(strstr(d.dsn, "sec"));
    static const char *const bad[] = {
        "", "abc", "ftp://k@h/1", "https://h/1", "https://@h/1", "https://k@h/", "https://k@/1",
        "https://k@h", "https://k-y@h/1", "https://k@h:/1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(easel_sentry_dsn_parse(bad[i], &d), EASEL_EPARSE);
}

static void test_sentry_envelope(void **state)
{
    (void)state;
    struct easel_sentry_dsn d;
    struct easel_buf b;
    assert_int_equal(easel_sentry_dsn_parse("https://k1@sentry.example/5", &d), EASEL_OK);
    easel_buf_init(&b, 0);
    const char *tags[] = {"job_id", "5f0c1e2a-8d4b-4c1e-9a57-2f1d3c4b5a69", "reason", "timeout", NULL};
    assert_int_equal(easel_sentry_envelope(&d, "error",
                                           "fetch https://user:pw@h.example/a.png?X-Amz-Signature=abc "
                                           "failed; data:image/png;base64,iVBORw0KGgo= too",
                                           tags, (const char *const[]){"a", "b\"", NULL},
                                           "staging", "easel@1", &b),
                     EASEL_OK);
    /* three lines: header, item header, payload */
    char *nl1 = strchr(b.data, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    assert_non_null(nl2);
    assert_int_equal(b.data[b.len - 1], '\n');
    *nl1 = *nl2 = '\0';
    cJSON *h = cJSON_Parse(b.data), *item = cJSON_Parse(nl1 + 1), *ev = cJSON_Parse(nl2 + 1);
    assert_non_null(h);
    assert_non_null(item);
    assert_non_null(ev);
    const char *id = cJSON_GetObjectItemCaseSensitive(h, "event_id")->valuestring;
    assert_true(lower_hex(id, 32));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "event_id")->valuestring, id);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, "sent_at")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "dsn")->valuestring,
                        "https://k1@sentry.example/5");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "type")->valuestring, "event");
    /* the length is the payload's in bytes, newline excluded */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(item, "length")->valueint,
                     (int)strlen(nl2 + 1) - 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "platform")->valuestring, "native");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "level")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "environment")->valuestring, "staging");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ev, "timestamp")));
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(ev, "fingerprint");
    assert_int_equal(cJSON_GetArraySize(fp), 2);
    assert_string_equal(cJSON_GetArrayItem(fp, 1)->valuestring, "b\"");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "tags");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(t, "reason")->valuestring, "timeout");
    const char *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "message"),
                                                       "formatted")->valuestring;
    assert_null(strstr(msg, "pw"));
    assert_null(strstr(msg, "X-Amz-Signature"));
    assert_null(strstr(msg, "iVBOR"));
    assert_non_null(strstr(msg, "https://[redacted]@h.example/a.png?[redacted]"));
    assert_non_null(strstr(msg, "data:[redacted] too"));
    cJSON_Delete(h);
    cJSON_Delete(item);
    cJSON_Delete(ev);
    easel_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_otlp_json),
        cmocka_unit_test(test_sentry_dsn),
        cmocka_unit_test(test_sentry_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
