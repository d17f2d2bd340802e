/*
 * test_intake.c - queue entries into jobs: both seed payload shapes, the
 * envelope, model precedence, and every way an entry can be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/registry.h"

static const char doc[] =
    "default_model: local/vips-stage\n"
    "payloads:\n"
    "  - name: stage-run\n"
    "    when: [image_id, original_url]\n"
    "    type: stage\n"
    "    model_field: model\n"
    "    images: [original_url]\n"
    "    fields: {image_id: image_id, room_type: room_type, style: style, seed: seed}\n"
    "  - name: tryon\n"
    "    when: [channel, person_image_url, garment_image_url]\n"
    "    type: tryon\n"
    "    model: local/tryon\n"
    "    images: [person_image_url, garment_image_url]\n"
    "    channel: channel\n"
    "    owner: {b2b: store_id, b2c: user_id}\n"
    "    idempotency: task_id\n"
    "    fields: {task_id: task_id, category: category, garment: meta.garment}\n"
    "models:\n"
    "  - {id: local/vips-stage, provider: local}\n"
    "  - {id: local/tryon, provider: local}\n"
    "  - {id: local/other, provider: local}\n";

static int setup(void **state)
{
    struct easel_registry *r = NULL;
    if (easel_registry_parse(doc, strlen(doc), "t", &r, NULL))
        return -1;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    easel_registry_unref(*state);
    return 0;
}

static easel_err intake(void **state, const char *entry, struct easel_intake *in,
                        struct easel_error *err)
{
    return easel_registry_intake(*state, entry, strlen(entry), in, err);
}

static const char *field(const struct easel_intake *in, const char *k)
{
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(in->input, "fields"), k);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static const char *image(const struct easel_intake *in, int i)
{
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(in->input, "images"), i);
    return cJSON_IsString(a) ? a->valuestring : NULL;
}

static void test_stage_run(void **state)
{
    struct easel_intake in;
    struct easel_error err;
    assert_int_equal(intake(state, "{\"image_id\":\"img-1\",\"original_url\":\"https://x/r.jpg\","
                                   "\"room_type\":\"bedroom\",\"style\":\"modern\",\"seed\":42}",
                            &in, &err),
                     EASEL_OK);
    assert_string_equal(in.rule, "stage-run");
    assert_string_equal(in.type, "stage");
    assert_string_equal(in.model, "local/vips-stage");
    assert_null(in.id);
    assert_string_equal(image(&in, 0), "https://x/r.jpg");
    assert_null(image(&in, 1));
    assert_string_equal(field(&in, "style"), "modern");
    const cJSON *seed = cJSON_GetObjectItem(cJSON_GetObjectItem(in.input, "fields"), "seed");
    assert_true(cJSON_IsNumber(seed));
    assert_int_equal(seed->valueint, 42);
    /* the producer's object is kept as it was */
    assert_string_equal(cJSON_GetObjectItem(in.payload, "image_id")->valuestring, "img-1");
    easel_intake_cleanup(&in);

    /* model_field picks the model per entry */
    assert_int_equal(intake(state, "{\"image_id\":\"i\",\"original_url\":\"u\",\"model\":\"local/other\"}",
                            &in, &err),
                     EASEL_OK);
    assert_string_equal(in.model, "local/other");
    easel_intake_cleanup(&in);
}

static void test_tryon_channels(void **state)
{
    struct easel_intake in;
    struct easel_error err;
    assert_int_equal(intake(state, "{\"task_id\":\"t1\",\"channel\":\"b2b\",\"store_id\":\"store-9\","
                                   "\"person_image_url\":\"p\",\"garment_image_url\":\"g\","
                                   "\"meta\":{\"garment\":\"shirt\"}}",
                            &in, &err),
                     EASEL_OK);
    assert_string_equal(in.rule, "tryon");
    assert_string_equal(in.model, "local/tryon");
    assert_string_equal(in.channel, "b2b");
    assert_string_equal(in.owner, "store-9");
    assert_string_equal(in.idempotency_key, "t1");
    assert_string_equal(image(&in, 0), "p");
    assert_string_equal(image(&in, 1), "g");
    assert_string_equal(field(&in, "garment"), "shirt");
    easel_intake_cleanup(&in);

    /* numeric owner and key become text */
    assert_int_equal(intake(state, "{\"task_id\":77,\"channel\":\"b2c\",\"user_id\":1234,"
                                   "\"person_image_url\":\"p\",\"garment_image_url\":\"g\"}",
                            &in, &err),
                     EASEL_OK);
    assert_string_equal(in.owner, "1234");
    assert_string_equal(in.idempotency_key, "77");
    easel_intake_cleanup(&in);

    assert_int_equal(intake(state, "{\"channel\":\"b2x\",\"user_id\":\"u\","
                                   "\"person_image_url\":\"p\",\"garment_image_url\":\"g\"}",
                            &in, &err),
                     EASEL_EPARSE);
    assert_string_equal(err.reason, "bad_channel");
    assert_non_null(strstr(err.msg, "b2x"));
    assert_null(in.model); /* nothing left behind */

    assert_int_equal(intake(state, "{\"channel\":\"b2b\",\"user_id\":\"u\","
                                   "\"person_image_url\":\"p\",\"garment_image_url\":\"g\"}",
                            &in, &err),
                     EASEL_EPARSE);
    assert_string_equal(err.reason, "missing_owner");
    assert_non_null(strstr(err.msg, "store_id"));
}

static void test_envelope(void **state)
{
    struct easel_intake in;
    struct easel_error err;
    const char *id = "5f0c1e2a-8d4b-4c1e-9a57-2f1d3c4b5a69";
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"id\":\"%s\",\"type\":\"render\",\"model\":\"local/other\",\"priority\":5,"
             "\"idempotency_key\":\"k-1\",\"webhook\":\"https://hook/x\",\"metadata\":{\"a\":1},"
             "\"payload\":{\"images\":[\"u1\",\"u2\"],\"style\":\"coastal\",\"seed\":3}}",
             id);
    assert_int_equal(intake(state, buf, &in, &err), EASEL_OK);
    assert_string_equal(in.id, id);
    assert_string_equal(in.type, "render");
    assert_string_equal(in.model, "local/other");
    assert_int_equal(in.priority, 5);
    assert_string_equal(in.idempotency_key, "k-1");
    assert_string_equal(in.webhook, "https://hook/x");
    assert_int_equal(cJSON_GetObjectItem(in.metadata, "a")->valueint, 1);
    assert_string_equal(in.rule, "envelope");
    assert_string_equal(image(&in, 1), "u2");
    assert_string_equal(field(&in, "style"), "coastal");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(in.input, "fields"), "images"));
    easel_intake_cleanup(&in);

    /* an envelope around a known shape uses the rule; its model wins */
    assert_int_equal(intake(state, "{\"model\":\"local/other\",\"payload\":{\"task_id\":\"t\","
                                   "\"channel\":\"b2c\",\"user_id\":\"u\",\"person_image_url\":\"p\","
                                   "\"garment_image_url\":\"g\"}}",
                            &in, &err),
                     EASEL_OK);
    assert_string_equal(in.rule, "tryon");
    assert_string_equal(in.model, "local/other");
    assert_string_equal(in.owner, "u");
    easel_intake_cleanup(&in);

    /* default model and a single image field */
    assert_int_equal(intake(state, "{\"payload\":{\"image_url\":\"only\"}}", &in, &err), EASEL_OK);
    assert_string_equal(in.model, "local/vips-stage");
    assert_string_equal(image(&in, 0), "only");
    easel_intake_cleanup(&in);

    assert_int_equal(intake(state, "{\"id\":\"not-a-uuid\",\"payload\":{}}", &in, &err), EASEL_EPARSE);
    assert_string_equal(err.reason, "bad_id");
    assert_int_equal(intake(state, "{\"priority\":\"high\",\"payload\":{}}", &in, &err), EASEL_EPARSE);
    assert_non_null(strstr(err.msg, "priority"));
    assert_int_equal(intake(state, "{\"payload\":\"text\"}", &in, &err), EASEL_EPARSE);
    assert_string_equal(err.reason, "no_usable_fields");
    assert_int_equal(intake(state, "{\"payload\":{\"images\":[1]}}", &in, &err), EASEL_EPARSE);
    assert_string_equal(err.reason, "no_usable_fields");
    assert_int_equal(intake(state, "{\"webhook\":\"ftp://x\",\"payload\":{}}", &in, &err), EASEL_EPARSE);
}

#define EV(e) EASEL_WEBHOOK_EV_BIT(EASEL_WEBHOOK_EV_##e)

/* The webhook and its event filter: from the envelope, or from the rule
 * for entries that name none; the registry refuses a rule that is wrong. */
static void test_webhooks(void **state)
{
    (void)state;
    static const char hooked[] =
        "default_model: local/vips-stage\n"
        "payloads:\n"
        "  - name: hooked\n"
        "    when: [hook_me]\n"
        "    webhook: https://app.example/hooks\n"
        "    webhook_events_filter: [start, completed]\n"
        "  - name: plain\n"
        "    when: [plain]\n"
        "models:\n"
        "  - {id: local/vips-stage, provider: local}\n";
    struct easel_registry *r = NULL;
    struct easel_intake in;
    struct easel_error err;
    assert_int_equal(easel_registry_parse(hooked, strlen(hooked), "t", &r, NULL), EASEL_OK);
#define IN(e) easel_registry_intake(r, e, strlen(e), &in, &err)
    assert_int_equal(IN("{\"hook_me\":1}"), EASEL_OK);
    assert_string_equal(in.webhook, "https://app.example/hooks");
    assert_int_equal(in.webhook_events, EV(START) | EV(COMPLETED));
    easel_intake_cleanup(&in);
    /* the entry's own webhook wins, with the default filter */
    assert_int_equal(IN("{\"webhook\":\"http://mine/h\",\"payload\":{\"hook_me\":1}}"), EASEL_OK);
    assert_string_equal(in.webhook, "http://mine/h");
    assert_int_equal(in.webhook_events, 0);
    easel_intake_cleanup(&in);
    /* its own filter with the rule's webhook */
    assert_int_equal(IN("{\"webhook_events_filter\":[\"progress\",\"output\"],"
                        "\"payload\":{\"hook_me\":1}}"),
                     EASEL_OK);
    assert_string_equal(in.webhook, "https://app.example/hooks");
    assert_int_equal(in.webhook_events, EV(PROGRESS) | EV(OUTPUT));
    easel_intake_cleanup(&in);
    assert_int_equal(IN("{\"plain\":1}"), EASEL_OK);
    assert_null(in.webhook);
    easel_intake_cleanup(&in);
    /* unknown or malformed filters are refused, naming the field */
    static const char *const bad[] = {
        "{\"webhook_events_filter\":[\"start\",\"logs\"],\"payload\":{}}",
        "{\"webhook_events_filter\":[],\"payload\":{}}",
        "{\"webhook_events_filter\":\"completed\",\"payload\":{}}",
        "{\"webhook_events_filter\":[1],\"payload\":{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(IN(bad[i]), EASEL_EPARSE);
        assert_string_equal(err.reason, "no_usable_fields");
        assert_non_null(strstr(err.msg, "webhook_events_filter"));
    }
#undef IN
    easel_registry_unref(r);

    static const char *const wrong[] = {
        "payloads:\n  - {name: a, when: [x], webhook_events_filter: [completed]}\n",
        "payloads:\n  - {name: a, when: [x], webhook: ftp://h/x}\n",
        "payloads:\n  - {name: a, when: [x], webhook: https://h, webhook_events_filter: [done]}\n",
        "payloads:\n  - {name: a, when: [x], webhook: https://h, webhook_events_filter: []}\n",
    };
    static const char *const said[] = {"has webhook_events_filter but no webhook",
                                       "webhook must be an http:// or https:// URL",
                                       "not \"done\"", "at least one event"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char text[400];
        struct easel_diags d = {0};
        snprintf(text, sizeof(text), "%smodels:\n  - {id: m, provider: local}\n", wrong[i]);
        r = NULL;
        assert_int_equal(easel_registry_parse(text, strlen(text), "t", &r, &d), EASEL_EPARSE);
        bool found = false;
        for (size_t k = 0; k < d.n; k++)
            found |= strstr(d.items[k].msg, said[i]) != NULL;
        assert_true(found);
        easel_diags_cleanup(&d);
    }
}

static void test_unknown_model_still_filled(void **state)
{
    struct easel_intake in;
    struct easel_error err;
    assert_int_equal(intake(state, "{\"model\":\"nope/missing\",\"payload\":{\"images\":[\"x\"]}}",
                            &in, &err),
                     EASEL_ENOTFOUND);
    assert_string_equal(err.reason, "unknown_model");
    assert_int_equal(err.cls, EASEL_CLASS_PERMANENT);
    assert_non_null(strstr(err.msg, "nope/missing"));
    assert_string_equal(in.model, "nope/missing");
    assert_non_null(in.input);
    assert_non_null(in.payload);
    easel_intake_cleanup(&in);
    assert_null(in.model);
}

static void test_refusals(void **state)
{
    struct easel_intake in;
    struct easel_error err;
    const char *bad[] = {"this is not json", "[1,2,3]", "\"str\"", "{\"a\":", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(intake(state, bad[i], &in, &err), EASEL_EPARSE);
        assert_string_equal(err.reason, "malformed_json");
        assert_int_equal(err.cls, EASEL_CLASS_PERMANENT);
    }
    assert_int_equal(intake(state, "{\"hello\":\"world\"}", &in, &err), EASEL_EPARSE);
    assert_string_equal(err.reason, "no_usable_fields");
    assert_non_null(strstr(err.msg, "hello"));
    assert_non_null(strstr(err.msg, "stage-run needs image_id original_url"));
    /* a `when` field that is present but empty does not count */
    assert_int_equal(intake(state, "{\"image_id\":\"\",\"original_url\":\"u\"}", &in, &err),
                     EASEL_EPARSE);
    assert_string_equal(err.reason, "no_usable_fields");
    /* too large */
    size_t n = 1024 * 1024 + 10;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(easel_registry_intake(*state, big, n, &in, &err), EASEL_EPARSE);
    assert_string_equal(err.reason, "entry_too_large");
    free(big);
    /* the length is honoured: trailing bytes are not read */
    const char *two = "{\"payload\":{}}GARBAGE";
    assert_int_equal(easel_registry_intake(*state, two, 14, &in, &err), EASEL_OK);
    easel_intake_cleanup(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stage_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tryon_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_model_still_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test(test_webhooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
