/*
 * phash.c - the 64-bit DCT perceptual hash, computed as the imagehash
 * library's phash() computes it, so hashes agree with the ones teams
 * already store:
 *
 *   1. grey: Pillow's convert("L"), L = (19595 R + 38470 G + 7471 B + 2^15) >> 16
 *      (alpha ignored, as Pillow ignores it);
 *   2. 32x32: Pillow's resize with its Lanczos (a = 3) filter, in its 8-bit
 *      fixed-point form (22 fractional bits, horizontal pass first, each
 *      pass rounded and clipped to 0..255);
 *   3. a 2-D DCT-II (scipy.fftpack.dct along rows, then columns), of which
 *      the top-left 8x8 is kept;
 *   4. each of those 64 coefficients is 1 when above their median; bits
 *      are read row by row, the first one the most significant.
 *
 * Two hashes are compared by Hamming distance: 0 for the same picture,
 * a few bits for a re-encoded or resized copy, around 32 for unrelated
 * pictures.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "imaging_int.h"

#define PRECISION_BITS (32 - 8 - 2)
#define HASH_SIDE 8
#define IMG_SIDE 32

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    return x > -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
}

/* Per output pixel: the first input pixel and the count of them, and the
 * fixed-point weights (ksize per output pixel). Returns ksize, 0 on
 * allocation failure. */
static int coefficients(int in_size, int out_size, int *bounds, int32_t **kk_out)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = calloc((size_t)out_size * (size_t)ksize, sizeof(double));
    int32_t *kk = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    if (!k || !kk) {
        free(k);
        free(kk);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double *w = &k[(size_t)xx * (size_t)ksize];
        for (int x = 0; x < xmax; x++) {
            w[x] = lanczos((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0)
                w[x] /= ww;
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++)
        kk[i] = (int32_t)(k[i] < 0 ? -0.5 + k[i] * (1 << PRECISION_BITS)
                                   : 0.5 + k[i] * (1 << PRECISION_BITS));
    free(k);
    *kk_out = kk;
    return ksize;
}

static uint8_t clip8(int64_t v)
{
    if (v >= ((int64_t)1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* The 32x32 grey thumbnail, as Pillow's resize would make it. */
static int resize32(const uint8_t *px, int w, int h, size_t stride, uint8_t out[IMG_SIDE][IMG_SIDE])
{
    int bh[IMG_SIDE * 2], bv[IMG_SIDE * 2];
    int32_t *kh = NULL, *kv = NULL;
    int ksh = coefficients(w, IMG_SIDE, bh, &kh), ksv = coefficients(h, IMG_SIDE, bv, &kv);
    uint8_t *tmp = NULL;
    int rc = -1;
    if (!ksh || !ksv)
        goto out;
    /* only the rows the vertical pass reads go through the horizontal one */
    int first = bv[0], last = bv[IMG_SIDE * 2 - 2] + bv[IMG_SIDE * 2 - 1];
    tmp = malloc((size_t)(last - first) * IMG_SIDE);
    if (!tmp)
        goto out;
    for (int y = first; y < last; y++) {
        const uint8_t *row = px + (size_t)y * stride;
        for (int xx = 0; xx < IMG_SIDE; xx++) {
            const int32_t *k = &kh[xx * ksh];
            int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
            for (int x = 0; x < bh[xx * 2 + 1]; x++)
                ss += (int64_t)row[x + bh[xx * 2]] * k[x];
            tmp[(size_t)(y - first) * IMG_SIDE + (size_t)xx] = clip8(ss);
        }
    }
    for (int yy = 0; yy < IMG_SIDE; yy++) {
        const int32_t *k = &kv[yy * ksv];
        int ymin = bv[yy * 2] - first;
        for (int xx = 0; xx < IMG_SIDE; xx++) {
            int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
            for (int y = 0; y < bv[yy * 2 + 1]; y++)
                ss += (int64_t)tmp[(size_t)(y + ymin) * IMG_SIDE + (size_t)xx] * k[y];
            out[yy][xx] = clip8(ss);
        }
    }
    rc = 0;
out:
    free(kh);
    free(kv);
    free(tmp);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int easel_phash_gray(const uint8_t *px, int w, int h, size_t stride, uint64_t *hash)
{
    uint8_t s[IMG_SIDE][IMG_SIDE];
    if (w < 1 || h < 1 || resize32(px, w, h, stride, s))
        return -1;
    /* scipy's unnormalised DCT-II: y[k] = 2 sum x[n] cos(pi k (2n + 1) / 2N),
     * along the columns, then along the rows; only k < 8 is needed */
    double c[HASH_SIDE][IMG_SIDE];
    for (int k = 0; k < HASH_SIDE; k++)
        for (int n = 0; n < IMG_SIDE; n++)
            c[k][n] = 2.0 * cos(M_PI * k * (2 * n + 1) / (2.0 * IMG_SIDE));
    double colpass[HASH_SIDE][IMG_SIDE], d[HASH_SIDE * HASH_SIDE], sorted[HASH_SIDE * HASH_SIDE];
    for (int k = 0; k < HASH_SIDE; k++)
        for (int x = 0; x < IMG_SIDE; x++) {
            double acc = 0;
            for (int y = 0; y < IMG_SIDE; y++)
                acc += c[k][y] * s[y][x];
            colpass[k][x] = acc;
        }
    for (int k = 0; k < HASH_SIDE; k++)
        for (int l = 0; l < HASH_SIDE; l++) {
            double acc = 0;
            for (int x = 0; x < IMG_SIDE; x++)
                acc += c[l][x] * colpass[k][x];
            /* A flat direction gives coefficients that are zero in exact
             * arithmetic; their rounding noise must not decide bits (scipy
             * returns exact zeros there), so anything this small is zero:
             * a real coefficient of 8-bit pixels is never near 1e-6. */
            d[k * HASH_SIDE + l] = fabs(acc) < 1e-6 ? 0.0 : acc;
        }
    memcpy(sorted, d, sizeof(d));
    qsort(sorted, HASH_SIDE * HASH_SIDE, sizeof(double), cmp_double);
    double median = (sorted[31] + sorted[32]) / 2.0;
    uint64_t out = 0;
    for (int i = 0; i < HASH_SIDE * HASH_SIDE; i++)
        out = (out << 1) | (d[i] > median ? 1u : 0u);
    *hash = out;
    return 0;
}

/* Pillow's grey of an 8-bit image with 1 to 4 bands (grey, grey+alpha,
 * RGB, RGBA), into a new w*h buffer. */
static uint8_t *to_luma(VipsImage *im)
{
    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    int bands = vips_image_get_bands(im);
    if (vips_image_get_format(im) != VIPS_FORMAT_UCHAR || bands < 1 || bands > 4 ||
        vips_image_wio_input(im))
        return NULL;
    uint8_t *g = malloc((size_t)w * (size_t)h);
    if (!g)
        return NULL;
    for (int y = 0; y < h; y++) {
        const uint8_t *p = VIPS_IMAGE_ADDR(im, 0, y);
        uint8_t *o = g + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++, p += bands)
            o[x] = bands >= 3 ? (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u +
                                           0x8000u) >> 16)
                              : p[0];
    }
    return g;
}

static easel_err hash_vips(VipsImage *im, uint64_t *out, struct easel_error *err)
{
    uint8_t *g = to_luma(im);
    int rc = g ? easel_phash_gray(g, vips_image_get_width(im), vips_image_get_height(im),
                                  (size_t)vips_image_get_width(im), out)
               : -1;
    free(g);
    if (rc) {
        char why[200] = "";
        img_vips_error(why, sizeof(why));
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_PERMANENT, EASEL_R_PHASH_FAILED,
                               "cannot hash the image%s%s", why[0] ? ": " : "", why);
    }
    return EASEL_OK;
}

easel_err easel_image_phash(const struct easel_image *img, uint64_t *out,
                            struct easel_error *err)
{
    return hash_vips(img->im, out, err);
}

easel_err easel_phash_buffer(const void *buf, size_t len, const struct easel_image_limits *l,
                             uint64_t *out, struct easel_error *err)
{
    /* as Pillow opens it: stored orientation, alpha kept (and ignored) */
    VipsImage *mem = NULL;
    easel_err rc = img_decode(buf, len, l, true, &mem, err);
    if (rc)
        return rc;
    rc = hash_vips(mem, out, err);
    g_object_unref(mem);
    return rc;
}

int easel_phash_distance(uint64_t a, uint64_t b)
{
    return __builtin_popcountll(a ^ b);
}

void easel_phash_hex(uint64_t h, char out[17])
{
    unsigned char be[8]; /* most significant byte first, as imagehash prints it */
    for (int i = 7; i >= 0; i--, h >>= 8)
        be[i] = (unsigned char)h;
    easel_hex_encode(be, 8, out);
}

bool easel_phash_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || strlen(s) != 16)
        return false;
    for (int i = 0; i < 16; i++) {
        int d = easel_hex_digit((unsigned char)s[i]);
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}

easel_err easel_image_spread(const struct easel_image *img, double *max_sd,
                             struct easel_error *err)
{
    VipsImage *st = NULL;
    *max_sd = 0;
    if (vips_stats(img->im, &st, NULL)) {
        char why[200] = "";
        img_vips_error(why, sizeof(why));
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                               "image statistics failed: %s", why);
    }
    /* row 0 is all bands together; rows 1.. are the bands; column 5 is the
     * standard deviation */
    for (int b = 1; b < vips_image_get_height(st); b++) {
        double sd = *VIPS_MATRIX(st, 5, b);
        if (sd > *max_sd)
            *max_sd = sd;
    }
    g_object_unref(st);
    return EASEL_OK;
}
