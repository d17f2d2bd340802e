/*
 * test_queue_url.c - the redis:// URL parser of pkg/queue, without a
 * server: every accepted form, and a clear refusal for every wrong one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../pkg/queue/queue_int.h"

static void test_plain(void **state)
{
    (void)state;
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse("redis://localhost", &u, why, sizeof(why)),
                     EASEL_OK);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_false(u.has_user);
    assert_false(u.has_pass);

    assert_int_equal(queue_url_parse("redis://10.0.0.5:7000/3", &u, why,
                                     sizeof(why)), EASEL_OK);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);

    assert_int_equal(queue_url_parse("redis://h:1/", &u, why, sizeof(why)),
                     EASEL_OK);
    assert_int_equal(u.db, 0);
}

static void test_credentials(void **state)
{
    (void)state;
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse("redis://:s3cret@h:6380/1", &u, why,
                                     sizeof(why)), EASEL_OK);
    assert_false(u.has_user);
    assert_true(u.has_pass);
    assert_string_equal(u.pass, "s3cret");
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 6380);

    assert_int_equal(queue_url_parse("redis://alice:p%40ss%3Aw%2Frd@h", &u,
                                     why, sizeof(why)), EASEL_OK);
    assert_true(u.has_user);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.pass, "p@ss:w/rd");

    /* redis-cli convention: userinfo without a colon is a password */
    assert_int_equal(queue_url_parse("redis://onlypass@h", &u, why,
                                     sizeof(why)), EASEL_OK);
    assert_false(u.has_user);
    assert_string_equal(u.pass, "onlypass");

    /* the last '@' ends the userinfo */
    assert_int_equal(queue_url_parse("redis://:a@b@h:1", &u, why, sizeof(why)),
                     EASEL_OK);
    assert_string_equal(u.pass, "a@b");
    assert_string_equal(u.host, "h");
}

static void test_ipv6(void **state)
{
    (void)state;
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse("redis://[::1]:6390/2", &u, why,
                                     sizeof(why)), EASEL_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 2);
    assert_int_equal(queue_url_parse("redis://[fe80::1]", &u, why,
                                     sizeof(why)), EASEL_OK);
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, 6379);
}

static void expect_bad(const char *url, const char *needle)
{
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse(url, &u, why, sizeof(why)), EASEL_EINVAL);
    if (!strstr(why, needle))
        fail_msg("URL %s: message \"%s\" lacks \"%s\"", url ? url : "(null)",
                 why, needle);
}

static void test_refused(void **state)
{
    (void)state;
    expect_bad(NULL, "empty");
    expect_bad("", "empty");
    expect_bad("http://h:6379", "redis://");
    expect_bad("localhost:6379", "redis://");
    expect_bad("rediss://h", "TLS");
    expect_bad("redis://", "no host");
    expect_bad("redis://:pw@", "no host");
    expect_bad("redis://:6379", "no host");
    expect_bad("redis://h:", "port");
    expect_bad("redis://h:abc", "port");
    expect_bad("redis://h:0", "port");
    expect_bad("redis://h:65536", "port");
    expect_bad("redis://h:12x", "port");
    expect_bad("redis://h/abc", "database");
    expect_bad("redis://h/-1", "database");
    expect_bad("redis://h/1?timeout=3", "query");
    expect_bad("redis://h#x", "query");
    expect_bad("redis://[::1", "IPv6");
    expect_bad("redis://[::1]x", "IPv6");
    expect_bad("redis://:p%zz@h", "password");
    expect_bad("redis://:p%4@h", "password");
    expect_bad("redis://:p%00@h", "password");
    expect_bad("redis://bob:@h", "no password");
}

static void test_sentinel(void **state)
{
    (void)state;
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse("redis-sentinel://:pw@10.0.0.1,10.0.0.2:26380,[::1]:7000"
                                     "/mymaster/3", &u, why, sizeof(why)),
                     EASEL_OK);
    assert_true(u.sentinel);
    assert_string_equal(u.master, "mymaster");
    assert_int_equal(u.db, 3);
    assert_string_equal(u.pass, "pw");
    assert_int_equal(u.nsentinels, 3);
    assert_string_equal(u.sentinels[0].host, "10.0.0.1");
    assert_int_equal(u.sentinels[0].port, 26379); /* Sentinel's default */
    assert_string_equal(u.sentinels[1].host, "10.0.0.2");
    assert_int_equal(u.sentinels[1].port, 26380);
    assert_string_equal(u.sentinels[2].host, "::1");
    assert_int_equal(u.sentinels[2].port, 7000);
    assert_int_equal(queue_url_parse("redis-sentinel://s1/m.a-b_c", &u, why, sizeof(why)),
                     EASEL_OK);
    assert_int_equal(u.nsentinels, 1);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.master, "m.a-b_c");
    /* a plain URL is not a Sentinel one */
    assert_int_equal(queue_url_parse("redis://h", &u, why, sizeof(why)), EASEL_OK);
    assert_false(u.sentinel);
    assert_int_equal(u.nsentinels, 0);

    expect_bad("redis-sentinel://s1", "master's name");
    expect_bad("redis-sentinel://s1/", "master's name");
    expect_bad("redis-sentinel://s1/my master", "master's name");
    expect_bad("redis-sentinel://s1/m/x", "database");
    expect_bad("redis-sentinel://s1,/m", "Sentinel 2 has no host");
    expect_bad("redis-sentinel://s1:0/m", "Sentinel 1 port");
    expect_bad("redis-sentinel://s1,s2,s3,s4,s5,s6,s7,s8,s9/m", "more than 8 Sentinels");
    expect_bad("redis-sentinel://s1/m?x=1", "query");
}

static void test_no_secret_in_message(void **state)
{
    (void)state;
    struct queue_url u;
    char why[200];
    assert_int_equal(queue_url_parse("redis://:topsecret@h:99999", &u, why,
                                     sizeof(why)), EASEL_EINVAL);
    assert_null(strstr(why, "topsecret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_sentinel),
        cmocka_unit_test(test_no_secret_in_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
