/* AWS Signature Version 4 (pkg/storage/sigv4.c) against published vectors:
 * cases of AWS's SigV4 test suite (service "service", 2015-08-30) and the
 * worked examples of S3's documentation (2013-05-24): the GET object with a
 * Range, the PUT object with a storage class, GET ?lifecycle, the object
 * listing with an unsorted query, and the presigned GET URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/storage.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct easel_sigv4 suite = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         NULL, "us-east-1", "service"};
static const struct easel_sigv4 s3doc = {"AKIAIOSFODNN7EXAMPLE",
                                         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL,
                                         "us-east-1", "s3"};

static void expect_sig(const struct easel_sigv4 *k, const struct easel_sigv4_req *r,
                       const char *signed_headers, const char *signature)
{
    struct easel_sigv4_out o;
    assert_int_equal(easel_sigv4_sign(k, r, &o), EASEL_OK);
    assert_string_equal(o.signed_headers, signed_headers);
    assert_string_equal(o.signature, signature);
    char want[600];
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
             "Signature=%s",
             k->access_key, r->amz_date, k->region, k->service, signed_headers, signature);
    assert_string_equal(o.authorization, want);
    easel_sigv4_out_cleanup(&o);
}

static void test_suite_vectors(void **state)
{
    (void)state;
    struct {
        const char *name, *method, *path, *query;
        const char *headers[5];
        const char *body, *signed_headers, *signature;
    } v[] = {
        {"get-vanilla", "GET", "/", NULL, {NULL}, "", "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"get-unreserved", "GET",
         "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL, {NULL}, "",
         "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
        {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {NULL},
         "", "host;x-amz-date",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", {NULL}, "",
         "host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
        {"get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", {NULL}, "", "host;x-amz-date",
         "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
        {"get-header-key-duplicate", "GET", "/", NULL,
         {"My-Header1:value2", "My-Header1:value2", "My-Header1:value1", NULL}, "",
         "host;my-header1;x-amz-date",
         "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
        {"get-header-value-order", "GET", "/", NULL,
         {"My-Header1:value4", "My-Header1:value1", "My-Header1:value3", "My-Header1:value2",
          NULL},
         "", "host;my-header1;x-amz-date",
         "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
        {"get-header-value-trim", "GET", "/", NULL,
         {"My-Header1: value1", "My-Header2: \"a   b   c\"", NULL}, "",
         "host;my-header1;my-header2;x-amz-date",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        {"post-x-www-form-urlencoded", "POST", "/", NULL,
         {"Content-Type:application/x-www-form-urlencoded", NULL}, "Param1=value1",
         "content-type;host;x-amz-date",
         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char ph[65];
        easel_sha256_hex(v[i].body, strlen(v[i].body), ph);
        struct easel_sigv4_req r = {.method = v[i].method, .host = "example.amazonaws.com",
                                    .path = v[i].path, .query = v[i].query,
                                    .headers = v[i].headers, .payload_hash = ph,
                                    .amz_date = "20150830T123600Z"};
        print_message("vector %s\n", v[i].name);
        expect_sig(&suite, &r, v[i].signed_headers, v[i].signature);
    }
}

/* get-vanilla's intermediate strings, as the suite publishes them. */
static void test_suite_intermediates(void **state)
{
    (void)state;
    struct easel_sigv4_req r = {.method = "GET", .host = "example.amazonaws.com", .path = "/",
                                .payload_hash = EMPTY_SHA, .amz_date = "20150830T123600Z"};
    struct easel_sigv4_out o;
    assert_int_equal(easel_sigv4_sign(&suite, &r, &o), EASEL_OK);
    assert_string_equal(o.canonical_request,
                        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                        "host;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(o.string_to_sign,
                        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                        "aws4_request\n"
                        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    easel_sigv4_out_cleanup(&o);
}

static void test_s3_documented_examples(void **state)
{
    (void)state;
    /* GET Object, first 10 bytes */
    const char *range[] = {"Range: bytes=0-9", NULL};
    struct easel_sigv4_req get = {.method = "GET", .host = "examplebucket.s3.amazonaws.com",
                                  .path = "/test.txt", .headers = range,
                                  .payload_hash = EMPTY_SHA, .amz_date = "20130524T000000Z",
                                  .sign_payload_header = true};
    struct easel_sigv4_out o;
    assert_int_equal(easel_sigv4_sign(&s3doc, &get, &o), EASEL_OK);
    assert_string_equal(o.canonical_request,
                        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                        "range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA "\n"
                        "x-amz-date:20130524T000000Z\n\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
    assert_non_null(strstr(o.string_to_sign,
                           "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"));
    assert_string_equal(o.signature,
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    easel_sigv4_out_cleanup(&o);

    /* PUT Object: a key with '$' is encoded once, Date is signed */
    const char *body = "Welcome to Amazon S3.";
    char ph[65];
    easel_sha256_hex(body, strlen(body), ph);
    assert_string_equal(ph, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const char *put_h[] = {"Date: Fri, 24 May 2013 00:00:00 GMT",
                           "x-amz-storage-class: REDUCED_REDUNDANCY", NULL};
    struct easel_sigv4_req put = {.method = "PUT", .host = "examplebucket.s3.amazonaws.com",
                                  .path = "/test$file.text", .headers = put_h,
                                  .payload_hash = ph, .amz_date = "20130524T000000Z",
                                  .sign_payload_header = true};
    expect_sig(&s3doc, &put, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    put.path = "/test%24file.text"; /* the same key, sent already encoded */
    expect_sig(&s3doc, &put, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

    /* GET Bucket lifecycle: a parameter without a value */
    struct easel_sigv4_req lc = {.method = "GET", .host = "examplebucket.s3.amazonaws.com",
                                 .path = "/", .query = "lifecycle", .payload_hash = EMPTY_SHA,
                                 .amz_date = "20130524T000000Z", .sign_payload_header = true};
    expect_sig(&s3doc, &lc, "host;x-amz-content-sha256;x-amz-date",
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    /* GET Bucket (list objects): the query sorted */
    lc.query = "prefix=J&max-keys=2";
    expect_sig(&s3doc, &lc, "host;x-amz-content-sha256;x-amz-date",
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_presigned_url(void **state)
{
    (void)state;
    char *q = easel_sigv4_presign(&s3doc, "GET", "examplebucket.s3.amazonaws.com", "/test.txt",
                                  NULL, 86400, "20130524T000000Z");
    assert_non_null(q);
    assert_string_equal(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                           "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                           "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
                           "&X-Amz-SignedHeaders=host&X-Amz-Signature="
                           "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(q);
    assert_null(easel_sigv4_presign(&s3doc, "GET", "h", "/k", NULL, 604801, "20130524T000000Z"));
    assert_null(easel_sigv4_presign(&s3doc, "GET", "h", "/k", NULL, 0, "20130524T000000Z"));
    char d[17];
    easel_amz_date(1369353600000LL, d);
    assert_string_equal(d, "20130524T000000Z");
}

static void test_encoding(void **state)
{
    (void)state;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    assert_int_equal(easel_uri_encode(&b, "stores/42/generated/a b+c~é.jpg", true), EASEL_OK);
    assert_int_equal(easel_buf_append(&b, "", 1), EASEL_OK);
    assert_string_equal(b.data, "stores/42/generated/a%20b%2Bc~%C3%A9.jpg");
    easel_buf_cleanup(&b);
}

/* Nothing is signed with a cut key or credential scope. */
static void test_long_credentials(void **state)
{
    (void)state;
    char secret[600], access[700];
    memset(secret, 's', sizeof(secret) - 1);
    secret[sizeof(secret) - 1] = '\0';
    memset(access, 'A', sizeof(access) - 1);
    access[sizeof(access) - 1] = '\0';
    struct easel_sigv4 k = {"AKIDEXAMPLE", secret, NULL, "us-east-1", "s3"};
    struct easel_sigv4_req r = {.method = "GET", .host = "h", .path = "/",
                                .payload_hash = EMPTY_SHA, .amz_date = "20150830T123600Z"};
    struct easel_sigv4_out o;
    assert_int_equal(easel_sigv4_sign(&k, &r, &o), EASEL_ELIMIT);
    assert_null(o.authorization);
    assert_null(o.string_to_sign);
    secret[507] = '\0'; /* "AWS4" and 507 bytes fill the 512 exactly */
    assert_int_equal(easel_sigv4_sign(&k, &r, &o), EASEL_OK);
    easel_sigv4_out_cleanup(&o);
    /* a credential scope past the old 600-byte buffer is sent whole */
    k.access_key = access;
    char *q = easel_sigv4_presign(&k, "GET", "h", "/k", NULL, 60, "20130524T000000Z");
    assert_non_null(q);
    char want[800];
    snprintf(want, sizeof(want), "X-Amz-Credential=%s%%2F20130524%%2Fus-east-1%%2Fs3%%2Faws4_request&",
             access);
    assert_non_null(strstr(q, want));
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_vectors),
        cmocka_unit_test(test_suite_intermediates),
        cmocka_unit_test(test_s3_documented_examples),
        cmocka_unit_test(test_presigned_url),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_long_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
