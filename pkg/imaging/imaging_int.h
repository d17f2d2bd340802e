/*
 * imaging_int.h - shared by the imaging module's files; not public.
 */
#ifndef EASEL_IMAGING_INT_H
#define EASEL_IMAGING_INT_H

#include "vips_dl.h" /* <vips/vips.h>, its calls through a table */

#include "easel/imaging.h"

struct easel_image {
    VipsImage *im; /* 3-band uchar sRGB, pixels in memory */
};

/* Copies libvips' error text (trimmed, one line) into dst and clears it. */
void img_vips_error(char *dst, size_t len);

/* Evaluates `in` into memory, stopping it after timeout_ms (0 = never).
 * Returns NULL on failure, with *timed_out set when the clock ran out. */
VipsImage *img_materialise(VipsImage *in, int64_t timeout_ms, bool *timed_out);

/* Probes under the limits, then decodes strictly into memory (fail on
 * truncation or damage, under the time limit): upright 3-band sRGB, or
 * with as_stored the pixels as stored (no orientation, alpha kept, 8-bit),
 * as Pillow opens a file. Errors as easel_image_load's. */
easel_err img_decode(const void *buf, size_t len, const struct easel_image_limits *l,
                     bool as_stored, VipsImage **out, struct easel_error *err);

/* 3-band uchar sRGB from whatever a loader produced (grey, alpha, 16-bit,
 * CMYK). Returns a new reference or NULL. */
VipsImage *img_to_srgb8(VipsImage *in);

/* Rewrites a still WebP so it carries no metadata chunk (Exif, XMP) but,
 * when icc is not NULL, that ICC profile: the extended layout when a profile
 * or alpha needs it, else the simple one. 0, or -1 when the file is not a
 * still WebP, leaving *buf alone. */
int img_webp_set_meta(void **buf, size_t *len, const void *icc, size_t icclen);

/* Inserts the ICC profile into a JPEG as APP2 ICC_PROFILE segments, after
 * SOI and any JFIF APP0. 0, or -1 when the buffer is not a JPEG. */
int img_jpeg_add_icc(void **buf, size_t *len, const void *icc, size_t icclen);

/* A one-band uchar mask (255 = ink) of text in the built-in 5x7 font at
 * the largest whole scale that fits max_w x max_h, cut off at the right
 * when even scale 1 is too wide. NULL for empty text or a box too small
 * for one character. */
VipsImage *img_text_mask(const char *text, int max_w, int max_h);

#endif
