/*
 * imaging_int.h - shared by the imaging module's files; not public.
 */
#ifndef EASEL_IMAGING_INT_H
#define EASEL_IMAGING_INT_H

#include <vips/vips.h>

#include "easel/imaging.h"

struct easel_image {
    VipsImage *im; /* 3-band uchar sRGB, pixels in memory */
};

/* Copies libvips' error text (trimmed, one line) into dst and clears it. */
void img_vips_error(char *dst, size_t len);

/* Evaluates `in` into memory, stopping it after timeout_ms (0 = never).
 * Returns NULL on failure, with *timed_out set when the clock ran out. */
VipsImage *img_materialise(VipsImage *in, int64_t timeout_ms, bool *timed_out);

/* 3-band uchar sRGB from whatever a loader produced (grey, alpha, 16-bit,
 * CMYK). Returns a new reference or NULL. */
VipsImage *img_to_srgb8(VipsImage *in);

#endif
