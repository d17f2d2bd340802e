/*
 * meta.c - the metadata an encoded variant carries, set in its container.
 *
 * Outputs carry no metadata but, when a preset asks, the sRGB colour
 * profile. libvips 8.14 cannot say that for every format: its WebP saver
 * writes an Exif chunk even with strip on, and its JPEG saver does not
 * reliably embed a named profile with strip on. So the encoders strip, and
 * these functions edit the container afterwards, following the formats'
 * specifications: the RIFF chunk layout of WebP (Google's "WebP Container
 * Specification") and the APP2 ICC_PROFILE segments of JPEG (ICC.1, annex B).
 * Both work on g_malloc'd buffers as libvips returns them.
 */
#include <stdint.h>
#include <string.h>

#include "imaging_int.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint8_t *put_le(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_chunk(uint8_t *p, const char *fourcc, const void *data, size_t n)
{
    memcpy(p, fourcc, 4);
    p = put_le(p + 4, (uint32_t)n, 4);
    memcpy(p, data, n);
    p += n;
    if (n & 1)
        *p++ = 0;
    return p;
}

#define WEBP_FLAG_ICC 0x20
#define WEBP_FLAG_ALPHA 0x10

int img_webp_set_meta(void **buf, size_t *len, const void *icc, size_t icclen)
{
    const uint8_t *in = *buf;
    size_t n = *len;
    if (n < 20 || memcmp(in, "RIFF", 4) || memcmp(in + 8, "WEBP", 4) ||
        (size_t)le32(in + 4) + 8 > n || icclen > (1u << 24))
        return -1;
    n = (size_t)le32(in + 4) + 8;
    /* The chunks worth keeping for a still image. */
    const uint8_t *vp8x = NULL, *alph = NULL, *image = NULL;
    size_t alph_n = 0, image_n = 0;
    for (size_t at = 12; at + 8 <= n;) {
        const uint8_t *c = in + at;
        size_t cn = le32(c + 4);
        if (cn > n - at - 8)
            return -1;
        if (!memcmp(c, "VP8X", 4) && cn >= 10) {
            vp8x = c + 8;
        } else if (!memcmp(c, "ALPH", 4)) {
            alph = c + 8;
            alph_n = cn;
        } else if (!memcmp(c, "VP8 ", 4) || !memcmp(c, "VP8L", 4)) {
            if (image)
                return -1;
            image = c;
            image_n = cn;
        } else if (!memcmp(c, "ANIM", 4) || !memcmp(c, "ANMF", 4)) {
            return -1; /* variants are still images */
        } /* EXIF, XMP, ICCP and unknown chunks are dropped */
        at += 8 + cn + (cn & 1);
    }
    if (!image || (alph && !vp8x))
        return -1;
    bool extended = icc || alph;
    size_t out_n = 12 + (extended ? 18 : 0) + (icc ? 8 + icclen + (icclen & 1) : 0) +
                   (alph ? 8 + alph_n + (alph_n & 1) : 0) + 8 + image_n + (image_n & 1);
    uint8_t *o = g_malloc(out_n), *p = o;
    memcpy(p, "RIFF", 4);
    p = put_le(p + 4, (uint32_t)(out_n - 8), 4);
    memcpy(p, "WEBP", 4);
    p += 4;
    if (extended) {
        uint8_t x[10] = {0};
        if (vp8x) {
            memcpy(x + 4, vp8x + 4, 6); /* the canvas size as written */
        } else if (!memcmp(image, "VP8 ", 4) && image_n >= 10) {
            /* the lossy key frame header: 14-bit width and height */
            uint32_t w = (image[8 + 6] | image[8 + 7] << 8) & 0x3fff;
            uint32_t h = (image[8 + 8] | image[8 + 9] << 8) & 0x3fff;
            put_le(put_le(x + 4, w - 1, 3), h - 1, 3);
        } else if (!memcmp(image, "VP8L", 4) && image_n >= 5) {
            /* the lossless header: 0x2f, then 14-bit width-1 and height-1 */
            uint32_t bits = le32(image + 8 + 1);
            put_le(put_le(x + 4, bits & 0x3fff, 3), (bits >> 14) & 0x3fff, 3);
        } else {
            g_free(o);
            return -1;
        }
        x[0] = (uint8_t)((icc ? WEBP_FLAG_ICC : 0) | (alph ? WEBP_FLAG_ALPHA : 0));
        p = put_chunk(p, "VP8X", x, sizeof(x));
        if (icc)
            p = put_chunk(p, "ICCP", icc, icclen);
        if (alph)
            p = put_chunk(p, "ALPH", alph, alph_n);
    }
    char fourcc[5];
    memcpy(fourcc, image, 4);
    fourcc[4] = '\0';
    p = put_chunk(p, fourcc, image + 8, image_n);
    g_free(*buf);
    *buf = o;
    *len = (size_t)(p - o);
    return 0;
}

#define ICC_SIG "ICC_PROFILE"
#define ICC_SEG_MAX (65535 - 2 - 14)

int img_jpeg_add_icc(void **buf, size_t *len, const void *icc, size_t icclen)
{
    const uint8_t *in = *buf;
    size_t n = *len, segs = (icclen + ICC_SEG_MAX - 1) / ICC_SEG_MAX;
    if (n < 4 || in[0] != 0xff || in[1] != 0xd8 || !icclen || segs > 255)
        return -1;
    /* after SOI and a JFIF APP0, which must come first */
    size_t at = 2;
    if (n >= 6 && in[2] == 0xff && in[3] == 0xe0) {
        size_t sl = (size_t)in[4] << 8 | in[5];
        if (at + 2 + sl > n)
            return -1;
        at += 2 + sl;
    }
    size_t out_n = n + segs * (4 + 14) + icclen;
    uint8_t *o = g_malloc(out_n), *p = o;
    memcpy(p, in, at);
    p += at;
    const uint8_t *src = icc;
    for (size_t i = 0; i < segs; i++) {
        size_t part = icclen - i * ICC_SEG_MAX < ICC_SEG_MAX ? icclen - i * ICC_SEG_MAX
                                                             : ICC_SEG_MAX;
        size_t sl = 2 + 14 + part;
        *p++ = 0xff;
        *p++ = 0xe2;
        *p++ = (uint8_t)(sl >> 8);
        *p++ = (uint8_t)sl;
        memcpy(p, ICC_SIG, sizeof(ICC_SIG)); /* with its NUL */
        p += sizeof(ICC_SIG);
        *p++ = (uint8_t)(i + 1);
        *p++ = (uint8_t)segs;
        memcpy(p, src + i * ICC_SEG_MAX, part);
        p += part;
    }
    memcpy(p, in + at, n - at);
    p += n - at;
    g_free(*buf);
    *buf = o;
    *len = (size_t)(p - o);
    return 0;
}
