/*
 * imaging.h - everything easel does to pixels, on libvips: loading untrusted
 * bytes under limits, the local stand-in model, and output variants.
 *
 * Images are opaque (struct easel_image) so that callers never touch libvips
 * directly. Functions are thread-safe for distinct images after
 * easel_imaging_init().
 */
#ifndef EASEL_IMAGING_H
#define EASEL_IMAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"
#include "easel/registry.h"

struct easel_image;

/* Starts libvips once per process: blocks untrusted loaders, turns the
 * operation cache off (job mode processes each image once), sets the worker
 * thread count (0 = libvips default). Idempotent. */
easel_err easel_imaging_init(const char *argv0, int threads);
/* Why easel_imaging_init() failed (libvips missing, a symbol missing, its
 * own start-up error), or NULL when it did not. */
const char *easel_imaging_init_error(void);
void easel_imaging_shutdown(void);
/* Lets libvips' GIF or TIFF loader run (they are blocked at start); the
 * loader is still used only for bytes sniffed as that format with the
 * format in the limits' extra_formats. */
void easel_imaging_enable_format(enum easel_format f);
/* libvips version string, e.g. "8.14.1". */
const char *easel_imaging_version(void);

struct easel_image_limits {
    int64_t max_bytes;     /* encoded size */
    int64_t max_pixels;    /* width * height, checked from the header */
    int max_width, max_height;
    int64_t timeout_ms;    /* decode/processing time, 0 = none */
    unsigned extra_formats;/* EASEL_FMT_BIT(GIF) | EASEL_FMT_BIT(TIFF) to accept those too */
};
/* Defaults: 50 MB, 50 MP (e.g. 8660x5773), 16384 px a side, 60 s. */
void easel_image_limits_default(struct easel_image_limits *l);

struct easel_image_info {
    enum easel_format format;
    int width, height;     /* as stored, before orientation */
    int orientation;       /* EXIF 1..8, 1 when absent */
};

/* Reads only the header: format by magic bytes (JPEG, PNG, WebP), size and
 * orientation, and checks them against the limits. Errors are permanent,
 * with err->reason "unsupported_format", "image_too_large", "corrupt_image". */
easel_err easel_image_probe(const void *buf, size_t len,
                            const struct easel_image_limits *l,
                            struct easel_image_info *info,
                            struct easel_error *err);

/* Probes, then decodes fully (fail on truncation or corruption), applies the
 * EXIF orientation and converts to sRGB. The buffer must outlive nothing:
 * the image owns its pixels. *out is freed with easel_image_free. */
easel_err easel_image_load(const void *buf, size_t len,
                           const struct easel_image_limits *l,
                           struct easel_image **out, struct easel_error *err);
void easel_image_free(struct easel_image *img);
int easel_image_width(const struct easel_image *img);
int easel_image_height(const struct easel_image *img);
/* The decoded pixels: rows of width * 3 bytes (R, G, B), *stride bytes
 * apart, owned by the image. NULL for NULL. */
const uint8_t *easel_image_pixels(const struct easel_image *img, size_t *stride);

/* The local stand-in model "local/vips-stage": a deterministic libvips
 * transformation driven by style and seed (a colour grade per style, a
 * seed-dependent warmth and vignette, and a label band). `inset` (may be
 * NULL) is composited as a framed picture-in-picture (try-on garments).
 * Same inputs, same output pixels. */
struct easel_stage_params {
    const char *style;     /* "modern", "scandinavian", "industrial", ... */
    int64_t seed;
    const char *label;     /* text drawn in the band, may be NULL */
};
easel_err easel_image_stage(const struct easel_image *in,
                            const struct easel_image *inset,
                            const struct easel_stage_params *p,
                            struct easel_image **out,
                            struct easel_error *err);
/* The style names easel_image_stage knows (NULL-terminated). */
const char *const *easel_stage_styles(void);

/* One encoded variant handed to the sink callback. `data` is only valid
 * during the call. */
struct easel_variant_out {
    const struct easel_variant_spec *spec;
    const void *data;
    size_t len;
    int width, height;
};
typedef easel_err (*easel_variant_cb)(void *ctx,
                                      const struct easel_variant_out *v);

/* Encodes every variant of the preset from one decoded image: fit inside the
 * variant's box, aspect kept, never enlarged; smaller variants are derived
 * from larger ones; metadata stripped; encodes run in parallel. The callback
 * is called once per variant, in the preset's order, from the calling
 * thread. */
easel_err easel_image_variants(const struct easel_image *img,
                               const struct easel_preset *preset,
                               easel_variant_cb cb, void *ctx,
                               struct easel_error *err);

/* Same from an encoded buffer, decoding once with shrink-on-load (the path
 * job mode and `make bench` use for source images). */
easel_err easel_image_variants_buffer(const void *buf, size_t len,
                                      const struct easel_image_limits *l,
                                      const struct easel_preset *preset,
                                      easel_variant_cb cb, void *ctx,
                                      struct easel_error *err);

/* Fits an image inside max_edge x max_edge, aspect kept, never enlarged
 * (a source prepared for a provider). */
easel_err easel_image_fit(const struct easel_image *img, int max_edge,
                          struct easel_image **out, struct easel_error *err);

/* Encodes an image as one format at one quality (for tests, the CLI and
 * provider requests). */
easel_err easel_image_encode(const struct easel_image *img,
                             enum easel_format f, int quality, void **out,
                             size_t *len, struct easel_error *err);

/* ------------------------------------------------- perceptual hashes */

/* The 64-bit DCT perceptual hash as the imagehash library's phash()
 * computes it (phash.c says how), of a w x h grey image. 0 on success. */
int easel_phash_gray(const uint8_t *px, int w, int h, size_t stride, uint64_t *hash);
/* Of a decoded image (its sRGB pixels, as loaded: oriented, flattened). */
easel_err easel_image_phash(const struct easel_image *img, uint64_t *out,
                            struct easel_error *err);
/* Of an encoded file exactly as imagehash would see it through Pillow:
 * stored orientation, alpha ignored. Same limits and refusals as
 * easel_image_load. */
easel_err easel_phash_buffer(const void *buf, size_t len, const struct easel_image_limits *l,
                             uint64_t *out, struct easel_error *err);
/* The largest per-band standard deviation of the pixel values: near 0
 * for a blank or uniform image. */
easel_err easel_image_spread(const struct easel_image *img, double *max_sd,
                             struct easel_error *err);
/* Bits that differ: 0 = same picture, ~32 = unrelated. */
int easel_phash_distance(uint64_t a, uint64_t b);
/* 16 lower-case hex digits, as imagehash prints a hash, and back. */
void easel_phash_hex(uint64_t h, char out[17]);
bool easel_phash_parse(const char *s, uint64_t *out);

#endif
