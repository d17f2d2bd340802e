/* Unit tests for the external metrics API's label selectors
 * (pkg/extmetrics/selector.c) and the label form of queue and model names:
 * what the HPA sends is read as the kube-apiserver reads it, and what is
 * not supported is refused with a reason instead of selecting everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/extmetrics.h"
#include "../../pkg/extmetrics/extmetrics_int.h"

static const char *const keys[] = {"queue", "model", NULL};

static void parse_ok(const char *s, struct easel_selector *sel)
{
    char why[256];
    easel_err rc = easel_selector_parse(s, keys, sel, why, sizeof(why));
    if (rc)
        fail_msg("\"%s\" refused: %s", s, why);
}

static void parse_bad(const char *s, const char *reason_part)
{
    struct easel_selector sel;
    char why[256];
    assert_int_equal(easel_selector_parse(s, keys, &sel, why, sizeof(why)), EASEL_EINVAL);
    assert_int_equal(sel.n, 0);
    assert_null(sel.reqs);
    if (!strstr(why, reason_part))
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", s, why, reason_part);
}

static void test_empty_selects_all(void **state)
{
    (void)state;
    struct easel_selector sel;
    parse_ok("", &sel);
    assert_int_equal(sel.n, 0);
    assert_true(easel_selector_match(&sel, "queue", "anything"));
    parse_ok("  ", &sel);
    assert_int_equal(sel.n, 0);
    char why[8];
    assert_int_equal(easel_selector_parse(NULL, keys, &sel, why, sizeof(why)), EASEL_OK);
}

static void test_equality_forms(void **state)
{
    (void)state;
    struct easel_selector sel;
    parse_ok("queue=easel_jobs,model==local_vips-stage", &sel);
    assert_int_equal(sel.n, 2);
    assert_true(easel_selector_match(&sel, "queue", "easel_jobs"));
    assert_false(easel_selector_match(&sel, "queue", "other"));
    assert_true(easel_selector_match(&sel, "model", "local_vips-stage"));
    assert_string_equal(easel_selector_pinned(&sel, "model"), "local_vips-stage");
    assert_true(easel_selector_has(&sel, "model"));
    easel_selector_cleanup(&sel);

    parse_ok(" model != a ", &sel);
    assert_false(easel_selector_match(&sel, "model", "a"));
    assert_true(easel_selector_match(&sel, "model", "b"));
    assert_null(easel_selector_pinned(&sel, "model"));
    assert_false(easel_selector_has(&sel, "queue"));
    easel_selector_cleanup(&sel);

    parse_ok("model=", &sel); /* the empty value: entries without a model */
    assert_true(easel_selector_match(&sel, "model", ""));
    assert_false(easel_selector_match(&sel, "model", "a"));
    easel_selector_cleanup(&sel);
}

static void test_sets(void **state)
{
    (void)state;
    struct easel_selector sel;
    parse_ok("model in (a, b.c,d-e),queue notin (x)", &sel);
    assert_int_equal(sel.n, 2);
    assert_int_equal(sel.reqs[0].nvalues, 3);
    assert_true(easel_selector_match(&sel, "model", "b.c"));
    assert_false(easel_selector_match(&sel, "model", "z"));
    assert_true(easel_selector_match(&sel, "queue", "y"));
    assert_false(easel_selector_match(&sel, "queue", "x"));
    assert_null(easel_selector_pinned(&sel, "model"));
    easel_selector_cleanup(&sel);
    parse_ok("model in (a)", &sel);
    assert_string_equal(easel_selector_pinned(&sel, "model"), "a");
    easel_selector_cleanup(&sel);
    /* two requirements on one key must both hold */
    parse_ok("model in (a,b),model!=b", &sel);
    assert_true(easel_selector_match(&sel, "model", "a"));
    assert_false(easel_selector_match(&sel, "model", "b"));
    easel_selector_cleanup(&sel);
    /* "in" and "notin" are values too where a value is expected */
    parse_ok("model=in", &sel);
    assert_true(easel_selector_match(&sel, "model", "in"));
    easel_selector_cleanup(&sel);
}

static void test_refusals(void **state)
{
    (void)state;
    parse_bad("color=red", "not supported");
    parse_bad("model", "alone");
    parse_bad("model,queue=a", "alone");
    parse_bad("!model", "!key");
    parse_bad("model>3", "operator >");
    parse_bad("model<3", "operator <");
    parse_bad("model in (a,b", "expected ',' or ')'");
    parse_bad("model in a", "expected '('");
    parse_bad("model=a b", "expected ','");
    parse_bad("queue=easel:jobs", "label form");
    parse_bad("model=-a", "invalid label value");
    parse_bad("model=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "invalid label value"); /* 64 characters */
    parse_bad("=a", "expected a label key");
    parse_bad("model=a,", "expected a label key");
    parse_bad("model=a;queue=b", "invalid label value");
}

static void test_label_form(void **state)
{
    (void)state;
    char lf[64];
    easel_label_form("easel:jobs", lf);
    assert_string_equal(lf, "easel_jobs");
    easel_label_form("qwen/qwen-image-edit", lf);
    assert_string_equal(lf, "qwen_qwen-image-edit");
    easel_label_form("", lf);
    assert_string_equal(lf, "");
    char longname[100];
    memset(longname, 'x', 99);
    longname[99] = '\0';
    easel_label_form(longname, lf);
    assert_int_equal(strlen(lf), 63);
}

static void test_url_decode_and_addr(void **state)
{
    (void)state;
    char *s = em_url_decode("model+in+%28a%2Cb%29");
    assert_string_equal(s, "model in (a,b)");
    free(s);
    assert_null(em_url_decode("bad%2"));
    assert_null(em_url_decode("bad%zz"));
    assert_null(em_url_decode("nul%00"));
    char host[64];
    int port = -1;
    assert_int_equal(easel_split_host_port("127.0.0.1:6443", host, sizeof(host), &port),
                     EASEL_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6443);
    assert_int_equal(easel_split_host_port("[::1]:443", host, sizeof(host), &port),
                     EASEL_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 443);
    assert_int_equal(easel_split_host_port(":6443", host, sizeof(host), &port), EASEL_OK);
    assert_string_equal(host, "");
    assert_int_equal(easel_split_host_port("host", host, sizeof(host), &port),
                     EASEL_EINVAL);
    assert_int_equal(easel_split_host_port("h:70000", host, sizeof(host), &port),
                     EASEL_EINVAL);
    assert_int_equal(easel_split_host_port("h:", host, sizeof(host), &port),
                     EASEL_EINVAL);
    assert_true(easel_host_is_loopback("127.0.0.1"));
    assert_true(easel_host_is_loopback("::1"));
    assert_true(easel_host_is_loopback("localhost"));
    assert_false(easel_host_is_loopback("0.0.0.0"));
    assert_false(easel_host_is_loopback(""));
    assert_false(easel_host_is_loopback("10.0.0.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_selects_all),
        cmocka_unit_test(test_equality_forms),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_label_form),
        cmocka_unit_test(test_url_decode_and_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
