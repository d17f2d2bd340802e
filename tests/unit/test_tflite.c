/*
 * test_tflite.c - the TensorFlow Lite interpreter (pkg/pose) on the small
 * models tests/pose/tflite_gen.py writes, each operator against a plain
 * reference implementation's output; then hostile files: every truncation
 * of a model, bytes flipped at every offset, and crafted lies (offsets past
 * the end, shapes that do not follow, unknown operators) must be refused
 * with a message, never crash or run.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/core.h"
#include "easel/tflite.h"

#define DATA "tests/pose/data"

static uint8_t *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    if (easel_read_file(path, 1 << 26, &buf, len) != EASEL_OK)
        return NULL;
    return (uint8_t *)buf;
}

static void check_model(const char *name)
{
    char path[512], err[256];
    size_t mlen, ilen, olen;
    snprintf(path, sizeof path, DATA "/%s.tflite", name);
    uint8_t *model = slurp(path, &mlen);
    snprintf(path, sizeof path, DATA "/%s.in", name);
    float *in = (float *)slurp(path, &ilen);
    snprintf(path, sizeof path, DATA "/%s.out", name);
    float *want = (float *)slurp(path, &olen);
    assert_non_null(model);
    assert_non_null(in);
    assert_non_null(want);

    struct easel_tfl_model *m = NULL;
    easel_err rc = easel_tfl_load(model, mlen, 0, &m, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", name, err);
    int dims[6], nd = easel_tfl_input_shape(m, dims);
    size_t n = 1;
    for (int k = 0; k < nd; k++)
        n *= (size_t)dims[k];
    assert_int_equal(n * 4, ilen);
    assert_int_equal(easel_tfl_output_size(m, 0) * 4, olen);
    float *got = calloc(olen / 4, sizeof(float));
    float *outs[8] = {got}; /* one entry per output; unselected or unwanted ones NULL */
    assert_int_equal(easel_tfl_run(m, in, outs), EASEL_OK);
    for (size_t k = 0; k < olen / 4; k++)
        if (fabsf(got[k] - want[k]) > 1e-4f * (1.f + fabsf(want[k])))
            fail_msg("%s: output %zu is %.6f, the reference %.6f", name, k,
                     (double)got[k], (double)want[k]);
    /* a second run over the same arena gives the same answer */
    float *again = calloc(olen / 4, sizeof(float));
    outs[0] = again;
    assert_int_equal(easel_tfl_run(m, in, outs), EASEL_OK);
    assert_memory_equal(got, again, olen);
    free(again);
    free(got);
    easel_tfl_free(m);
    free(model);
    free(in);
    free(want);
}

static void test_operators(void **state)
{
    (void)state;
    static const char *const names[] = {
        "conv_same_s2_f16", "conv_1x1_relu", "conv_int8", "dw5_same",
        "dw3_valid_s2", "sparse_f16", "pad_pool_add_sigmoid_concat",
        "resize_depth_to_space", "const_read_then_folded", "output_listed_8_times",
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        check_model(names[k]);
}

/* Loads must fail cleanly; a load that succeeds must also run. */
static int try_load(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    struct easel_tfl_model *m = NULL;
    easel_err rc = easel_tfl_load(buf, len, 0, &m, err, errlen);
    if (rc == EASEL_OK) {
        int dims[6], nd = easel_tfl_input_shape(m, dims);
        size_t n = 1;
        for (int k = 0; k < nd; k++)
            n *= (size_t)dims[k];
        float *in = calloc(n, sizeof(float));
        float *outs[8] = {0};
        for (int k = 0; k < easel_tfl_output_count(m); k++)
            outs[k] = calloc(easel_tfl_output_size(m, k) + 1, sizeof(float));
        assert_int_equal(easel_tfl_run(m, in, outs), EASEL_OK);
        for (int k = 0; k < 8; k++)
            free(outs[k]);
        free(in);
        easel_tfl_free(m);
        return 0;
    }
    assert_null(m);
    assert_true(err[0] != '\0');
    return rc;
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    char err[256];
    size_t len;
    uint8_t *model = slurp(DATA "/sparse_f16.tflite", &len);
    assert_non_null(model);
    /* every prefix is refused */
    for (size_t k = 0; k < len; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, model, k);
        err[0] = '\0';
        assert_int_not_equal(try_load(cut, k, err, sizeof err), 0);
        free(cut);
    }
    /* any byte changed: refused, or a model that still runs */
    uint8_t *bad = malloc(len);
    int refused = 0;
    for (size_t k = 0; k < len; k++)
        for (int v = 0; v < 3; v++) {
            static const uint8_t vals[] = {0x00, 0xff, 0x7f};
            memcpy(bad, model, len);
            if (bad[k] == vals[v])
                continue;
            bad[k] = vals[v];
            err[0] = '\0';
            if (try_load(bad, len, err, sizeof err))
                refused++;
        }
    assert_true(refused > 0);
    free(bad);
    free(model);
}

static void test_refusals(void **state)
{
    (void)state;
    char err[256];
    struct easel_tfl_model *m = (struct easel_tfl_model *)1;
    static const uint8_t junk[] = "this is not a model at all, not even close";
    assert_int_equal(easel_tfl_load(junk, sizeof junk, 0, &m, err, sizeof err),
                     EASEL_EPARSE);
    assert_null(m);
    assert_non_null(strstr(err, "TFL3"));
    assert_int_equal(easel_tfl_load(NULL, 0, 0, &m, err, sizeof err), EASEL_EPARSE);
    assert_int_equal(easel_tfl_load_file("/nonexistent/model.tflite", 0, &m, err,
                                         sizeof err),
                     EASEL_ENOTFOUND);
    assert_non_null(strstr(err, "/nonexistent/model.tflite"));

    /* an offset to the root past the end */
    size_t len;
    uint8_t *model = slurp(DATA "/conv_1x1_relu.tflite", &len);
    assert_non_null(model);
    uint8_t *bad = malloc(len);
    memcpy(bad, model, len);
    uint32_t far = 0x7ffffff0;
    memcpy(bad, &far, 4);
    assert_int_equal(easel_tfl_load(bad, len, 0, &m, err, sizeof err), EASEL_EPARSE);
    assert_non_null(strstr(err, "malformed model"));
    free(bad);
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
