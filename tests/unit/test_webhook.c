/* Webhook signing and its settings (pkg/webhook/sign.c, the event names of
 * pkg/core/job.c). The signatures are known answers computed apart from
 * easel, with openssl:
 *
 *   key=$(printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 256)
 *   printf %s 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
 *     openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
 *
 * The first is also the example of the Standard Webhooks reference
 * libraries' own tests, so easel and the verifiers agree on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "easel/job.h"
#include "easel/webhook.h"

#define K1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
/* 32 bytes of 0x42 */
#define K2 "whsec_QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="

static void load(struct easel_webhook_secrets *s, const char *text)
{
    char path[] = "/tmp/easel-test-webhook-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_webhook_secrets_load(path, s, &err);
    unlink(path);
    assert_int_equal(rc, EASEL_OK);
}

static void test_known_answer(void **state)
{
    (void)state;
    struct easel_webhook_secrets s;
    char *sig = NULL;
    const char *body = "{\"test\": 2432232314}";
    load(&s, K1 "\n");
    assert_int_equal(s.n, 1);
    assert_int_equal(s.keys[0].len, 24);
    assert_int_equal(easel_webhook_sign(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                        strlen(body), &sig),
                     EASEL_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    /* one byte of the body, the id or the time changes everything */
    assert_int_equal(easel_webhook_sign(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                                        strlen(body), &sig),
                     EASEL_OK);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(sig);
    /* an id with a dot would make the signed content ambiguous */
    assert_int_equal(easel_webhook_sign(&s, "msg.1", 1, body, strlen(body), &sig), EASEL_EINVAL);
    assert_null(sig);
    easel_webhook_secrets_cleanup(&s);
}

static void test_rotation_signs_with_every_secret(void **state)
{
    (void)state;
    struct easel_webhook_secrets s;
    char *sig = NULL;
    const char *body = "{\"type\":\"job.completed\"}";
    /* comments, blank lines, CRLF and spaces around a line are allowed */
    load(&s, "# new first\r\n  " K2 "  \r\n\n" K1 "\n");
    assert_int_equal(s.n, 2);
    assert_int_equal(s.keys[0].len, 32);
    assert_int_equal(easel_webhook_sign(&s, "msg_2", 1795878986, body, strlen(body), &sig),
                     EASEL_OK);
    assert_string_equal(sig, "v1,t6e0gnCjmQvwqwlcmZkUbXr0W1lUGCvSKCKNDUb/c+0= "
                             "v1,F542diKiKiDHGBA3PBZODtBWtISf3pn3OSejK/Anbvc=");
    free(sig);
    easel_webhook_secrets_cleanup(&s);
    easel_webhook_secrets_cleanup(NULL);
}

static void test_bad_secrets(void **state)
{
    (void)state;
    struct easel_webhook_key k;
    struct easel_error err;
    easel_error_clear(&err);
    /* 16 bytes: too weak */
    assert_int_equal(easel_webhook_key_parse("whsec_AAAAAAAAAAAAAAAAAAAAAA==", &k, &err),
                     EASEL_EPARSE);
    assert_non_null(strstr(err.msg, "24 to 512 bytes"));
    assert_int_equal(easel_webhook_key_parse("whsec_not base64!", &k, &err), EASEL_EPARSE);
    assert_null(strstr(err.msg, "not base64!")); /* the secret is never repeated */
    assert_int_equal(easel_webhook_key_parse("whsec_", &k, &err), EASEL_EPARSE);
    /* the prefix may be left out, as the reference libraries allow */
    assert_int_equal(easel_webhook_key_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &k, &err),
                     EASEL_OK);
    assert_int_equal(k.len, 24);
    free(k.bytes);

    struct easel_webhook_secrets s;
    assert_int_equal(easel_webhook_secrets_load("/nonexistent/secrets", &s, &err), EASEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/secrets"));
    char path[] = "/tmp/easel-test-webhook-XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, "# nothing\n\n", 11), 11);
    close(fd);
    assert_int_equal(easel_webhook_secrets_load(path, &s, &err), EASEL_EPARSE);
    assert_non_null(strstr(err.msg, "holds no secret"));
    unlink(path);
    struct easel_webhook_secrets none = {0};
    char *sig = NULL;
    assert_int_equal(easel_webhook_sign(&none, "msg_1", 1, "{}", 2, &sig), EASEL_EINVAL);
}

static void test_schedule(void **state)
{
    (void)state;
    int64_t ms[EASEL_WEBHOOK_SCHEDULE_MAX];
    size_t n = 0;
    assert_int_equal(easel_webhook_schedule_parse(EASEL_WEBHOOK_SCHEDULE_DEFAULT, ms, &n), EASEL_OK);
    assert_int_equal(n, 8);
    static const int64_t want[] = {0, 5000, 300000, 1800000, 7200000, 18000000, 36000000,
                                   36000000};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ms[i], want[i]);
    assert_int_equal(easel_webhook_schedule_parse("0s, 1s ,250ms", ms, &n), EASEL_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ms[2], 250);
    assert_int_equal(easel_webhook_schedule_parse("", ms, &n), EASEL_EINVAL);
    assert_int_equal(easel_webhook_schedule_parse("1s,,2s", ms, &n), EASEL_EINVAL);
    assert_int_equal(easel_webhook_schedule_parse("1s,soon", ms, &n), EASEL_EINVAL);
    assert_int_equal(easel_webhook_schedule_parse("8d", ms, &n), EASEL_EINVAL);
    char many[200] = "0s";
    for (size_t i = 0, len = 2; i < EASEL_WEBHOOK_SCHEDULE_MAX; i++, len += 3)
        snprintf(many + len, sizeof(many) - len, ",1s");
    assert_int_equal(easel_webhook_schedule_parse(many, ms, &n), EASEL_EINVAL);
}

static void test_retry_after(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(easel_webhook_retry_after("120", 0, &ms));
    assert_int_equal(ms, 120000);
    assert_true(easel_webhook_retry_after(" 3\r\n", 0, &ms));
    assert_int_equal(ms, 3000);
    /* Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 */
    assert_true(easel_webhook_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                          1445412480000LL - 30000, &ms));
    assert_int_equal(ms, 30000);
    assert_true(easel_webhook_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL + 5,
                                          &ms));
    assert_int_equal(ms, 0);
    assert_false(easel_webhook_retry_after("soon", 0, &ms));
    assert_false(easel_webhook_retry_after("-1", 0, &ms));
    assert_false(easel_webhook_retry_after(NULL, 0, &ms));
}

static void test_event_names(void **state)
{
    (void)state;
    unsigned m = 0;
    char csv[64];
    assert_int_equal(easel_webhook_events_parse_csv("completed,start", &m), EASEL_OK);
    assert_int_equal(m, EASEL_WEBHOOK_EV_BIT(EASEL_WEBHOOK_EV_START) |
                            EASEL_WEBHOOK_EV_BIT(EASEL_WEBHOOK_EV_COMPLETED));
    easel_webhook_events_csv(m, csv, sizeof(csv));
    assert_string_equal(csv, "start,completed");
    easel_webhook_events_csv(0, csv, sizeof(csv));
    assert_string_equal(csv, "");
    assert_int_equal(easel_webhook_events_parse_csv("start,logs", &m), EASEL_EINVAL);
    assert_int_equal(easel_webhook_event_add("progress", &m), EASEL_OK);
    assert_int_equal(easel_webhook_event_add("Progress", &m), EASEL_EINVAL);
    assert_string_equal(easel_webhook_event_name(EASEL_WEBHOOK_EV_OUTPUT), "output");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_rotation_signs_with_every_secret),
        cmocka_unit_test(test_bad_secrets),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_event_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
