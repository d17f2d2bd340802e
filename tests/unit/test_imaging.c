/*
 * test_imaging.c - loading untrusted bytes under limits, the local stand-in
 * model and output variants, on real libvips with images made here.
 *
 * Fixtures are generated in memory with libvips (a gradient with a block in
 * one corner, so orientation and cropping mistakes show), or written byte by
 * byte where the point is a hostile header.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "easel/imaging.h"
#include "easel/registry.h"
#include "../../pkg/imaging/imaging_int.h"

/* ------------------------------------------------------------- fixtures */

/* A w x h sRGB image: red ramps left to right, green top to bottom, and a
 * white 1/8-size block in the top-left corner. */
static VipsImage *gradient(int w, int h)
{
    VipsImage *xy, *x, *y, *r, *g, *b, *rgb, *u8;
    assert_int_equal(vips_xyz(&xy, w, h, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &x, 0, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &y, 1, NULL), 0);
    assert_int_equal(vips_linear1(x, &r, 255.0 / w, 0, NULL), 0);
    assert_int_equal(vips_linear1(y, &g, 255.0 / h, 0, NULL), 0);
    assert_int_equal(vips_linear1(x, &b, 0, 64, NULL), 0);
    VipsImage *bands[3] = {r, g, b};
    assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
    assert_int_equal(vips_cast_uchar(rgb, &u8, NULL), 0);
    VipsImage *white, *out;
    assert_int_equal(vips_black(&white, w / 8, h / 8, "bands", 3, NULL), 0);
    VipsImage *w255;
    assert_int_equal(vips_linear1(white, &w255, 1, 255, NULL), 0);
    VipsImage *w8;
    assert_int_equal(vips_cast_uchar(w255, &w8, NULL), 0);
    assert_int_equal(vips_insert(u8, w8, &out, 0, 0, NULL), 0);
    VipsImage *tmp[] = {xy, x, y, r, g, b, rgb, u8, white, w255, w8};
    for (size_t i = 0; i < sizeof(tmp) / sizeof(tmp[0]); i++)
        g_object_unref(tmp[i]);
    out->Type = VIPS_INTERPRETATION_sRGB;
    return out;
}

static void *jpeg_of(int w, int h, int orientation, size_t *len)
{
    VipsImage *im = gradient(w, h), *copy;
    assert_int_equal(vips_copy(im, &copy, NULL), 0);
    if (orientation > 1)
        vips_image_set_int(copy, VIPS_META_ORIENTATION, orientation);
    void *buf = NULL;
    assert_int_equal(vips_jpegsave_buffer(copy, &buf, len, "Q", 90, NULL), 0);
    g_object_unref(copy);
    g_object_unref(im);
    return buf;
}

static void *png_of(int w, int h, size_t *len)
{
    VipsImage *im = gradient(w, h);
    void *buf = NULL;
    assert_int_equal(vips_pngsave_buffer(im, &buf, len, NULL), 0);
    g_object_unref(im);
    return buf;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static size_t put_chunk(unsigned char *dst, const char *type,
                        const unsigned char *data, uint32_t n)
{
    dst[0] = (unsigned char)(n >> 24);
    dst[1] = (unsigned char)(n >> 16);
    dst[2] = (unsigned char)(n >> 8);
    dst[3] = (unsigned char)n;
    memcpy(dst + 4, type, 4);
    if (n)
        memcpy(dst + 8, data, n);
    uint32_t c = crc32_of(dst + 4, 4 + n);
    dst[8 + n] = (unsigned char)(c >> 24);
    dst[9 + n] = (unsigned char)(c >> 16);
    dst[10 + n] = (unsigned char)(c >> 8);
    dst[11 + n] = (unsigned char)c;
    return 12 + n;
}

/* A valid PNG header that declares w x h RGB pixels, followed by a few bytes
 * of image data: a decompression bomb as far as any naive loader knows. */
static size_t hostile_png(unsigned char *out, uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13] = {
        (unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w,
        (unsigned char)(h >> 24), (unsigned char)(h >> 16), (unsigned char)(h >> 8), (unsigned char)h,
        8, 2, 0, 0, 0};
    /* zlib stream of a few zero bytes: 78 9c, stored/fixed block, adler */
    static const unsigned char idat[] = {0x78, 0x9c, 0x63, 0x60, 0x00, 0x00,
                                         0x00, 0x02, 0x00, 0x01};
    size_t n = 0;
    memcpy(out, sig, 8);
    n += 8;
    n += put_chunk(out + n, "IHDR", ihdr, sizeof(ihdr));
    n += put_chunk(out + n, "IDAT", idat, sizeof(idat));
    n += put_chunk(out + n, "IEND", NULL, 0);
    return n;
}

static int setup(void **state)
{
    (void)state;
    return easel_imaging_init("test_imaging", 0) == EASEL_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- probe */

static void probe_reads_format_and_size_from_the_header(void **state)
{
    (void)state;
    size_t jl, pl;
    void *j = jpeg_of(320, 200, 1, &jl);
    void *p = png_of(64, 48, &pl);
    struct easel_image_info info;
    struct easel_error err;
    assert_int_equal(easel_image_probe(j, jl, NULL, &info, &err), EASEL_OK);
    assert_int_equal(info.format, EASEL_FMT_JPEG);
    assert_int_equal(info.width, 320);
    assert_int_equal(info.height, 200);
    assert_int_equal(info.orientation, 1);
    assert_int_equal(easel_image_probe(p, pl, NULL, &info, &err), EASEL_OK);
    assert_int_equal(info.format, EASEL_FMT_PNG);
    assert_int_equal(info.width, 64);
    g_free(j);
    g_free(p);
}

static void probe_refuses_what_it_does_not_support(void **state)
{
    (void)state;
    struct easel_image_info info;
    struct easel_error err;
    const char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";
    assert_int_equal(easel_image_probe(gif, sizeof(gif) - 1, NULL, &info, &err),
                     EASEL_EUNSUPPORTED);
    assert_string_equal(err.reason, "unsupported_format");
    assert_non_null(strstr(err.msg, "GIF"));
    assert_int_equal(err.cls, EASEL_CLASS_PERMANENT);

    const char html[] = "<!doctype html><html>not an image</html>";
    assert_int_equal(easel_image_probe(html, sizeof(html) - 1, NULL, &info, &err),
                     EASEL_EUNSUPPORTED);
    /* an SVG named .jpg must not reach librsvg or anything else */
    const char svg[] = "<svg xmlns='http://www.w3.org/2000/svg' width='9'/>";
    assert_int_equal(easel_image_probe(svg, sizeof(svg) - 1, NULL, &info, &err),
                     EASEL_EUNSUPPORTED);
    assert_int_equal(easel_image_probe("", 0, NULL, &info, &err), EASEL_EUNSUPPORTED);
}

static void a_bomb_header_is_refused_before_decoding(void **state)
{
    (void)state;
    unsigned char buf[128];
    size_t n = hostile_png(buf, 100000, 100000);
    struct easel_image_info info;
    struct easel_error err;
    assert_int_equal(easel_image_probe(buf, n, NULL, &info, &err), EASEL_ELIMIT);
    assert_string_equal(err.reason, "image_too_large");
    assert_non_null(strstr(err.msg, "100000x100000"));
    struct easel_image *img = NULL;
    assert_int_equal(easel_image_load(buf, n, NULL, &img, &err), EASEL_ELIMIT);
    assert_null(img);
}

static void limits_on_bytes_and_pixels_apply(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(1600, 1200, 1, &len);
    struct easel_image_limits l;
    easel_image_limits_default(&l);
    struct easel_image_info info;
    struct easel_error err;
    assert_int_equal(easel_image_probe(j, len, &l, &info, &err), EASEL_OK);

    l.max_pixels = 1000000;    /* 1.92 MP is over */
    assert_int_equal(easel_image_probe(j, len, &l, &info, &err), EASEL_ELIMIT);
    assert_string_equal(err.reason, "image_too_large");

    easel_image_limits_default(&l);
    l.max_width = 1000;
    assert_int_equal(easel_image_probe(j, len, &l, &info, &err), EASEL_ELIMIT);

    easel_image_limits_default(&l);
    l.max_bytes = (int64_t)len - 1;
    assert_int_equal(easel_image_probe(j, len, &l, &info, &err), EASEL_ELIMIT);
    assert_non_null(strstr(err.msg, "bytes"));
    g_free(j);
}

/* ----------------------------------------------------------------- load */

static void truncated_and_corrupt_files_fail(void **state)
{
    (void)state;
    size_t len;
    unsigned char *j = jpeg_of(800, 600, 1, &len);
    struct easel_image *img = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(j, len / 2, NULL, &img, &err), EASEL_EIMAGE);
    assert_null(img);
    assert_string_equal(err.reason, "corrupt_image");
    assert_int_equal(err.cls, EASEL_CLASS_PERMANENT);

    /* a PNG whose image data was damaged in transit (CRC mismatch) */
    size_t plen;
    unsigned char *png = png_of(400, 300, &plen);
    png[plen / 2] ^= 0x5a;
    int rc = easel_image_load(png, plen, NULL, &img, &err);
    assert_int_equal(rc, EASEL_EIMAGE);
    assert_string_equal(err.reason, "corrupt_image");
    assert_null(img);
    g_free(png);

    /* the whole file still loads */
    assert_int_equal(easel_image_load(j, len, NULL, &img, &err), EASEL_OK);
    assert_int_equal(easel_image_width(img), 800);
    assert_int_equal(easel_image_height(img), 600);
    easel_image_free(img);
    g_free(j);
}

static void exif_orientation_is_applied(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(300, 200, 6, &len);
    struct easel_image_info info;
    struct easel_error err;
    assert_int_equal(easel_image_probe(j, len, NULL, &info, &err), EASEL_OK);
    assert_int_equal(info.orientation, 6);
    assert_int_equal(info.width, 300);
    struct easel_image *img = NULL;
    assert_int_equal(easel_image_load(j, len, NULL, &img, &err), EASEL_OK);
    /* 6 = rotate 90 degrees clockwise to display */
    assert_int_equal(easel_image_width(img), 200);
    assert_int_equal(easel_image_height(img), 300);
    /* and the orientation is not written again: re-encoding gives an
     * upright image with no rotation left to apply */
    void *out;
    size_t olen;
    assert_int_equal(easel_image_encode(img, EASEL_FMT_JPEG, 85, &out, &olen, &err),
                     EASEL_OK);
    assert_int_equal(easel_image_probe(out, olen, NULL, &info, &err), EASEL_OK);
    assert_int_equal(info.orientation, 1);
    assert_int_equal(info.width, 200);
    free(out);
    easel_image_free(img);
    g_free(j);
}

static void a_slow_decode_hits_the_time_limit(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(4000, 3000, 1, &len);
    struct easel_image_limits l;
    easel_image_limits_default(&l);
    l.timeout_ms = 1;    /* 12 MP cannot decode in a millisecond */
    struct easel_image *img = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(j, len, &l, &img, &err), EASEL_ETIMEOUT);
    assert_string_equal(err.reason, "image_timeout");
    assert_null(img);
    g_free(j);
}

/* ---------------------------------------------------------------- stage */

static void *stage_png(const struct easel_image *in, const struct easel_image *inset,
                       const char *style, int64_t seed, size_t *len, int *w, int *h)
{
    struct easel_stage_params p = {.style = style, .seed = seed, .label = "living <room> & co"};
    struct easel_image *out = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_stage(in, inset, &p, &out, &err), EASEL_OK);
    *w = easel_image_width(out);
    *h = easel_image_height(out);
    void *buf;
    assert_int_equal(easel_image_encode(out, EASEL_FMT_PNG, 90, &buf, len, &err), EASEL_OK);
    easel_image_free(out);
    return buf;
}

static void staging_is_deterministic_and_seed_dependent(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(640, 480, 1, &len);
    struct easel_image *in = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(j, len, NULL, &in, &err), EASEL_OK);
    size_t a_len, b_len, c_len, d_len;
    int w, h;
    void *a = stage_png(in, NULL, "industrial", 7, &a_len, &w, &h);
    assert_int_equal(w, 640);
    assert_int_equal(h, 480);
    void *b = stage_png(in, NULL, "industrial", 7, &b_len, &w, &h);
    void *c = stage_png(in, NULL, "industrial", 8, &c_len, &w, &h);
    void *d = stage_png(in, NULL, "scandinavian", 7, &d_len, &w, &h);
    assert_true(a_len == b_len && memcmp(a, b, a_len) == 0);
    assert_false(a_len == c_len && memcmp(a, c, a_len) == 0);
    assert_false(a_len == d_len && memcmp(a, d, a_len) == 0);
    /* an unknown style is not an error: it gets the neutral grade */
    free(stage_png(in, NULL, "no-such-style", 7, &c_len, &w, &h));
    assert_non_null(easel_stage_styles()[0]);
    free(a);
    free(b);
    free(c);
    free(d);
    easel_image_free(in);
    g_free(j);
}

/* The brightest pixel of the label band (the bottom tenth) of a staged
 * 640x480 image: the band is the picture darkened to 35%, the label white. */
static double band_max(struct easel_image *in, const char *label)
{
    struct easel_stage_params p = {.style = "neutral", .seed = 1, .label = label};
    struct easel_image *out = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_stage(in, NULL, &p, &out, &err), EASEL_OK);
    void *buf;
    size_t len;
    assert_int_equal(easel_image_encode(out, EASEL_FMT_PNG, 90, &buf, &len, &err), EASEL_OK);
    easel_image_free(out);
    VipsImage *im = vips_image_new_from_buffer(buf, len, "", NULL), *band = NULL;
    assert_non_null(im);
    assert_int_equal(vips_extract_area(im, &band, 0, 480 - 48, 640, 48, NULL), 0);
    double mx = 0;
    assert_int_equal(vips_max(band, &mx, NULL), 0);
    g_object_unref(band);
    g_object_unref(im);
    free(buf);
    return mx;
}

static void the_label_is_drawn_in_the_built_in_font(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(640, 480, 1, &len);
    struct easel_image *in = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(j, len, NULL, &in, &err), EASEL_OK);
    assert_true(band_max(in, NULL) < 120);  /* no label: a plain dark band */
    assert_true(band_max(in, "") < 120);
    assert_true(band_max(in, "   ") < 120);
    assert_true(band_max(in, "kitchen") > 250);
    /* anything a payload holds is drawn, never interpreted or refused:
     * markup, UTF-8, stray bytes, control characters, far too long */
    assert_true(band_max(in, "<b>&amp;</b> {x|y} ~") > 250);
    assert_true(band_max(in, "salle \xc3\xa0 manger \xe2\x9c\x93") > 250);
    assert_true(band_max(in, "\xff\xfe\x80 \x01\t\n") > 250);
    char longest[1000];
    memset(longest, 'W', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_true(band_max(in, longest) > 250);

    /* the same text gives the same pixels on any machine: the mask is
     * exactly the glyphs at the largest whole scale that fits */
    VipsImage *m = img_text_mask("Hi", 100, 14);
    assert_non_null(m);
    assert_int_equal(vips_image_get_height(m), 14); /* 7 rows at scale 2 */
    assert_int_equal(vips_image_get_width(m), 22);  /* 2 cells of 6, less a gap */
    double avg = 0;
    assert_int_equal(vips_avg(m, &avg, NULL), 0);
    /* H has 17 inked cells of 35, I has 11: 28 x 4 pixels of 255 */
    assert_true(fabs(avg - 28.0 * 4 * 255 / (22 * 14)) < 1e-9);
    g_object_unref(m);
    m = img_text_mask("Hello world", 30, 7);  /* scale 1, cut to 5 cells */
    assert_int_equal(vips_image_get_width(m), 29);
    g_object_unref(m);
    assert_null(img_text_mask("x", 4, 7)); /* not one character fits */
    assert_null(img_text_mask("", 100, 100));
    easel_image_free(in);
    g_free(j);
}

static void an_inset_is_composited_and_keeps_the_size(void **state)
{
    (void)state;
    size_t l1, l2;
    void *person = jpeg_of(600, 800, 1, &l1);
    void *garment = png_of(300, 300, &l2);
    struct easel_image *p = NULL, *g = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(person, l1, NULL, &p, &err), EASEL_OK);
    assert_int_equal(easel_image_load(garment, l2, NULL, &g, &err), EASEL_OK);
    size_t with_len, without_len;
    int w, h;
    void *with = stage_png(p, g, "modern", 1, &with_len, &w, &h);
    assert_int_equal(w, 600);
    assert_int_equal(h, 800);
    void *without = stage_png(p, NULL, "modern", 1, &without_len, &w, &h);
    assert_false(with_len == without_len && memcmp(with, without, with_len) == 0);
    free(with);
    free(without);
    easel_image_free(p);
    easel_image_free(g);
    g_free(person);
    g_free(garment);
}

/* ------------------------------------------------------------- variants */

struct seen {
    int n;
    char names[8][16];
    int w[8], h[8];
    enum easel_format f[8];
    size_t bytes[8];
};

static easel_err collect(void *ctx, const struct easel_variant_out *v)
{
    struct seen *s = ctx;
    struct easel_image_info info;
    struct easel_error err;
    /* what was handed over really is that image */
    if (easel_image_probe(v->data, v->len, NULL, &info, &err) != EASEL_OK ||
        info.width != v->width || info.height != v->height ||
        info.format != v->spec->format)
        return EASEL_EIMAGE;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", v->spec->name);
    s->w[s->n] = v->width;
    s->h[s->n] = v->height;
    s->f[s->n] = v->spec->format;
    s->bytes[s->n] = v->len;
    s->n++;
    return EASEL_OK;
}

static struct easel_variant_spec specs[] = {
    {"normal", EASEL_FMT_JPEG, 1024, 1024, 80},
    {"hq", EASEL_FMT_WEBP, 2048, 2048, 95},
    {"thumb", EASEL_FMT_JPEG, 256, 256, 75},
};
static const struct easel_preset preset = {"test", specs, 3};

static void check_variants(const struct seen *s)
{
    assert_int_equal(s->n, 3);
    assert_string_equal(s->names[0], "normal");
    assert_string_equal(s->names[1], "hq");
    assert_string_equal(s->names[2], "thumb");
    /* fit inside, aspect kept ... */
    assert_int_equal(s->w[0], 1024);
    assert_int_equal(s->h[0], 768);
    /* ... never enlarged */
    assert_int_equal(s->w[1], 1600);
    assert_int_equal(s->h[1], 1200);
    assert_int_equal(s->w[2], 256);
    assert_int_equal(s->h[2], 192);
    assert_int_equal(s->f[1], EASEL_FMT_WEBP);
    assert_true(s->bytes[2] < s->bytes[0]);
}

static void variants_fit_in_order_and_never_enlarge(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(1600, 1200, 1, &len);
    struct easel_image *img = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(j, len, NULL, &img, &err), EASEL_OK);
    struct seen s = {0};
    assert_int_equal(easel_image_variants(img, &preset, collect, &s, &err), EASEL_OK);
    check_variants(&s);
    easel_image_free(img);
    g_free(j);
}

static void variants_from_a_buffer_match(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(1600, 1200, 1, &len);
    struct seen s = {0};
    struct easel_error err;
    assert_int_equal(easel_image_variants_buffer(j, len, NULL, &preset, collect, &s, &err),
                     EASEL_OK);
    check_variants(&s);

    /* a sideways photo comes out upright */
    g_free(j);
    j = jpeg_of(1200, 1600, 6, &len);
    memset(&s, 0, sizeof(s));
    assert_int_equal(easel_image_variants_buffer(j, len, NULL, &preset, collect, &s, &err),
                     EASEL_OK);
    check_variants(&s);

    /* and limits still apply on this path */
    struct easel_image_limits l;
    easel_image_limits_default(&l);
    l.max_pixels = 100000;
    memset(&s, 0, sizeof(s));
    assert_int_equal(easel_image_variants_buffer(j, len, &l, &preset, collect, &s, &err),
                     EASEL_ELIMIT);
    assert_int_equal(s.n, 0);
    g_free(j);
}

static easel_err refuse_second(void *ctx, const struct easel_variant_out *v)
{
    int *n = ctx;
    (void)v;
    return ++*n == 2 ? EASEL_EIO : EASEL_OK;
}

static void a_sink_error_stops_the_variants(void **state)
{
    (void)state;
    size_t len;
    void *j = jpeg_of(640, 480, 1, &len);
    int n = 0;
    struct easel_error err;
    assert_int_not_equal(easel_image_variants_buffer(j, len, NULL, &preset,
                                                     refuse_second, &n, &err),
                         EASEL_OK);
    assert_int_equal(n, 2);
    g_free(j);
}

static void encode_round_trips(void **state)
{
    (void)state;
    size_t len;
    void *p = png_of(123, 45, &len);
    struct easel_image *img = NULL;
    struct easel_error err;
    assert_int_equal(easel_image_load(p, len, NULL, &img, &err), EASEL_OK);
    static const enum easel_format fmts[] = {EASEL_FMT_JPEG, EASEL_FMT_WEBP, EASEL_FMT_PNG};
    for (size_t i = 0; i < 3; i++) {
        void *out;
        size_t olen;
        assert_int_equal(easel_image_encode(img, fmts[i], 90, &out, &olen, &err), EASEL_OK);
        struct easel_image *back = NULL;
        assert_int_equal(easel_image_load(out, olen, NULL, &back, &err), EASEL_OK);
        assert_int_equal(easel_image_width(back), 123);
        assert_int_equal(easel_image_height(back), 45);
        easel_image_free(back);
        free(out);
    }
    easel_image_free(img);
    g_free(p);
}

/* The hash's fixed points and its text form. */
static void test_phash_basics(void **state)
{
    (void)state;
    static uint8_t flat[40 * 30], black[40 * 30];
    memset(flat, 200, sizeof(flat));
    uint64_t h = 1;
    assert_int_equal(easel_phash_gray(flat, 40, 30, 40, &h), 0);
    assert_true(h == 0x8000000000000000ULL); /* only the mean is above the median */
    assert_int_equal(easel_phash_gray(black, 40, 30, 40, &h), 0);
    assert_true(h == 0);
    assert_int_equal(easel_phash_gray(black, 0, 30, 40, &h), -1);
    char hex[17];
    easel_phash_hex(0xd79168d700d79393ULL, hex);
    assert_string_equal(hex, "d79168d700d79393");
    uint64_t back = 0;
    assert_true(easel_phash_parse("D79168D700D79393", &back));
    assert_true(back == 0xd79168d700d79393ULL);
    assert_false(easel_phash_parse("d79168d700d7939", &back));
    assert_false(easel_phash_parse("d79168d700d7939g", &back));
    assert_int_equal(easel_phash_distance(0, ~0ULL), 64);
    assert_int_equal(easel_phash_distance(0xf0, 0x0f), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phash_basics),
        cmocka_unit_test(probe_reads_format_and_size_from_the_header),
        cmocka_unit_test(probe_refuses_what_it_does_not_support),
        cmocka_unit_test(a_bomb_header_is_refused_before_decoding),
        cmocka_unit_test(limits_on_bytes_and_pixels_apply),
        cmocka_unit_test(truncated_and_corrupt_files_fail),
        cmocka_unit_test(exif_orientation_is_applied),
        cmocka_unit_test(a_slow_decode_hits_the_time_limit),
        cmocka_unit_test(staging_is_deterministic_and_seed_dependent),
        cmocka_unit_test(the_label_is_drawn_in_the_built_in_font),
        cmocka_unit_test(an_inset_is_composited_and_keeps_the_size),
        cmocka_unit_test(variants_fit_in_order_and_never_enlarge),
        cmocka_unit_test(variants_from_a_buffer_match),
        cmocka_unit_test(a_sink_error_stops_the_variants),
        cmocka_unit_test(encode_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
