/*
 * test_meta.c - the container edits of pkg/imaging/meta.c on files libvips
 * writes here: every WebP layout (lossy, lossy with alpha, lossless) loses
 * its metadata chunks and gains an ICC profile in the order the WebP
 * container specification sets, and still decodes to the same pixels; a
 * JPEG gains a profile split over as many APP2 segments as it needs, which
 * libjpeg reassembles byte for byte; anything else is refused untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../pkg/imaging/imaging_int.h"

/* A w x h image of `bands` bands with some structure. */
static VipsImage *fixture(int w, int h, int bands)
{
    VipsImage *xy, *x, *u8, *out;
    assert_int_equal(vips_xyz(&xy, w, h, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &x, 0, NULL), 0);
    VipsImage *b[4] = {x, x, x, x};
    VipsImage *j;
    assert_int_equal(vips_bandjoin(b, &j, bands, NULL), 0);
    assert_int_equal(vips_cast_uchar(j, &u8, NULL), 0);
    assert_int_equal(vips_copy(u8, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    g_object_unref(xy);
    g_object_unref(x);
    g_object_unref(j);
    g_object_unref(u8);
    return out;
}

/* The RIFF chunks of a WebP, as four-letter codes joined by ','. */
static void chunks(const uint8_t *d, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t at = 12; at + 8 <= n;) {
        uint32_t len = d[at + 4] | d[at + 5] << 8 | d[at + 6] << 16 | (uint32_t)d[at + 7] << 24;
        if (out[0])
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, (const char *)d + at, 4 < cap - strlen(out) - 1 ? 4 : cap - strlen(out) - 1);
        at += 8 + len + (len & 1);
    }
}

static void assert_same_pixels(VipsImage *a, VipsImage *b)
{
    double maxdiff = -1;
    VipsImage *d, *abs;
    assert_int_equal(vips_image_get_width(a), vips_image_get_width(b));
    assert_int_equal(vips_image_get_height(a), vips_image_get_height(b));
    assert_int_equal(vips_image_get_bands(a), vips_image_get_bands(b));
    assert_int_equal(vips_subtract(a, b, &d, NULL), 0);
    assert_int_equal(vips_abs(d, &abs, NULL), 0);
    assert_int_equal(vips_max(abs, &maxdiff, NULL), 0);
    assert_true(maxdiff == 0);
    g_object_unref(d);
    g_object_unref(abs);
}

/* Writes `im` as WebP with the options, edits it, checks the layout and
 * that it decodes as before. */
static void webp_case(VipsImage *im, gboolean lossless, const void *icc, size_t icclen,
                      const char *want)
{
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_webpsave_buffer(im, &buf, &len, "lossless", lossless, "Q", 90,
                                          "strip", TRUE, NULL), 0);
    VipsImage *before;
    assert_int_equal(vips_webpload_buffer(buf, len, &before, NULL), 0);
    VipsImage *before_mem = vips_image_copy_memory(before);
    assert_int_equal(img_webp_set_meta(&buf, &len, icc, icclen), 0);
    char got[200];
    chunks(buf, len, got, sizeof(got));
    assert_string_equal(got, want);
    /* the RIFF size covers the file exactly */
    const uint8_t *d = buf;
    assert_int_equal(d[4] | d[5] << 8 | d[6] << 16 | (size_t)d[7] << 24, len - 8);
    VipsImage *after;
    assert_int_equal(vips_webpload_buffer(buf, len, &after, NULL), 0);
    assert_same_pixels(before_mem, after);
    if (icc) {
        const void *data;
        size_t n;
        assert_int_equal(vips_image_get_blob(after, VIPS_META_ICC_NAME, &data, &n), 0);
        assert_int_equal(n, icclen);
        assert_memory_equal(data, icc, n);
    } else {
        assert_false(vips_image_get_typeof(after, VIPS_META_ICC_NAME));
    }
    g_object_unref(before);
    g_object_unref(before_mem);
    g_object_unref(after);
    g_free(buf);
}

static void webp_layouts(void **state)
{
    (void)state;
    VipsBlob *icc;
    assert_int_equal(vips_profile_load("srgb", &icc, NULL), 0);
    size_t n;
    const void *p = vips_blob_get(icc, &n);
    VipsImage *rgb = fixture(333, 217, 3), *rgba = fixture(120, 90, 4);
    /* libvips 8.14 writes VP8X and an Exif chunk even with strip on */
    webp_case(rgb, FALSE, NULL, 0, "VP8 ");
    webp_case(rgb, FALSE, p, n, "VP8X,ICCP,VP8 ");
    webp_case(rgba, FALSE, NULL, 0, "VP8X,ALPH,VP8 ");
    webp_case(rgba, FALSE, p, n, "VP8X,ICCP,ALPH,VP8 ");
    webp_case(rgb, TRUE, NULL, 0, "VP8L");
    webp_case(rgb, TRUE, p, n, "VP8X,ICCP,VP8L");
    /* an odd-sized profile is padded to an even chunk */
    webp_case(rgb, FALSE, p, n - 1, "VP8X,ICCP,VP8 ");
    g_object_unref(rgb);
    g_object_unref(rgba);
    vips_area_unref(VIPS_AREA(icc));
}

static void jpeg_profiles(void **state)
{
    (void)state;
    VipsImage *rgb = fixture(64, 48, 3);
    /* a profile of 150 000 bytes needs three APP2 segments */
    size_t big = 150000;
    uint8_t *icc = malloc(big);
    for (size_t i = 0; i < big; i++)
        icc[i] = (uint8_t)(i * 7 + i / 251);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_jpegsave_buffer(rgb, &buf, &len, "strip", TRUE, NULL), 0);
    size_t before = len;
    assert_int_equal(img_jpeg_add_icc(&buf, &len, icc, big), 0);
    assert_int_equal(len, before + big + 3 * 18);
    const uint8_t *d = buf;
    int segs = 0;
    for (size_t at = 2; at + 4 < len && d[at] == 0xff && d[at + 1] != 0xda;) {
        size_t sl = (size_t)d[at + 2] << 8 | d[at + 3];
        if (d[at + 1] == 0xe2 && !memcmp(d + at + 4, "ICC_PROFILE", 12)) {
            segs++;
            assert_int_equal(d[at + 16], segs); /* sequence, from 1 */
            assert_int_equal(d[at + 17], 3);    /* of three */
        }
        at += 2 + sl;
    }
    assert_int_equal(segs, 3);
    VipsImage *back;
    assert_int_equal(vips_jpegload_buffer(buf, len, &back, NULL), 0);
    const void *data;
    size_t n;
    assert_int_equal(vips_image_get_blob(back, VIPS_META_ICC_NAME, &data, &n), 0);
    assert_int_equal(n, big);
    assert_memory_equal(data, icc, big);
    assert_int_equal(vips_image_get_width(back), 64);
    g_object_unref(back);
    g_free(buf);
    free(icc);
    g_object_unref(rgb);
}

static void other_bytes_are_refused_untouched(void **state)
{
    (void)state;
    const char junk[] = "RIFF\x04\x00\x00\x00WEBPJUNK\x00\x00\x00\x00";
    void *buf = g_memdup2(junk, sizeof(junk) - 1);
    size_t len = sizeof(junk) - 1;
    assert_int_equal(img_webp_set_meta(&buf, &len, NULL, 0), -1);
    assert_int_equal(len, sizeof(junk) - 1);
    assert_memory_equal(buf, junk, len);
    /* a RIFF of the right size whose chunk claims more bytes than it has */
    char lying[] = "RIFF\x14\x00\x00\x00WEBPVP8 \xff\xff\x00\x00" "abcdefgh";
    void *b2 = g_memdup2(lying, sizeof(lying) - 1);
    size_t l2 = sizeof(lying) - 1;
    assert_int_equal(img_webp_set_meta(&b2, &l2, NULL, 0), -1);
    /* a RIFF size near 4 GiB, which must not wrap round */
    char huge[] = "RIFF\xff\xff\xff\xffWEBPVP8 \x04\x00\x00\x00" "abcd";
    void *b3 = g_memdup2(huge, sizeof(huge) - 1);
    size_t l3 = sizeof(huge) - 1;
    assert_int_equal(img_webp_set_meta(&b3, &l3, NULL, 0), -1);
    assert_int_equal(l3, sizeof(huge) - 1);
    g_free(b3);
    assert_int_equal(img_jpeg_add_icc(&buf, &len, "x", 1), -1);
    g_free(buf);
    g_free(b2);
}

int main(void)
{
    if (easel_imaging_init("test_meta", 0) != EASEL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(webp_layouts),
        cmocka_unit_test(jpeg_profiles),
        cmocka_unit_test(other_bytes_are_refused_untouched),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    easel_imaging_shutdown();
    return rc;
}
