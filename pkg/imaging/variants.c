/*
 * variants.c - a preset's output variants from one decoded image.
 *
 * Efficient by construction: the source is decoded once (from a buffer,
 * with shrink-on-load straight to the largest variant), every smaller
 * variant is resized from the next larger one rather than the full image,
 * and the encodes run in parallel threads. Results reach the caller's
 * callback in the preset's order, on the calling thread.
 */
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "imaging_int.h"

/* Fit (w, h) inside (bw, bh), aspect kept, never enlarged. */
static void fit(int w, int h, int bw, int bh, int *ow, int *oh)
{
    double s = fmin((double)bw / w, (double)bh / h);
    if (s >= 1.0) {
        *ow = w;
        *oh = h;
        return;
    }
    *ow = (int)lround(w * s);
    *oh = (int)lround(h * s);
    if (*ow < 1)
        *ow = 1;
    if (*oh < 1)
        *oh = 1;
}

/* Whether a metadata field is one a saver writes (Exif, XMP, IPTC, a colour
 * profile, PNG text): everything but the pixels' own description. */
static bool saved_metadata(const char *name)
{
    static const char *const prefix[] = {"exif-", "xmp-", "iptc-", "icc-",
                                         "png-comment-", "orientation", NULL};
    for (size_t i = 0; prefix[i]; i++)
        if (!strncmp(name, prefix[i], strlen(prefix[i])))
            return true;
    return false;
}

/* A copy of `im` whose only metadata is the ICC profile `icc`, for savers
 * to write with strip off. NULL on failure. */
static VipsImage *with_profile(VipsImage *im, const void *icc, size_t n)
{
    VipsImage *c = NULL;
    if (vips_copy(im, &c, NULL))
        return NULL;
    gchar **fields = vips_image_get_fields(c);
    for (size_t i = 0; fields && fields[i]; i++)
        if (saved_metadata(fields[i]))
            vips_image_remove(c, fields[i]);
    g_strfreev(fields);
    vips_image_set_blob_copy(c, VIPS_META_ICC_NAME, icc, n);
    return c;
}

/* Encodes `im` with no metadata; with `profile`, libvips' built-in sRGB
 * profile is the one piece written (the pixels are sRGB already). */
static easel_err encode(VipsImage *im, enum easel_format f, int q, bool profile,
                        void **buf, size_t *len)
{
    if (f != EASEL_FMT_JPEG && f != EASEL_FMT_WEBP && f != EASEL_FMT_PNG)
        return EASEL_EINVAL; /* GIF and TIFF are read, never written */
    VipsBlob *icc = NULL;
    const void *data = NULL;
    size_t n = 0;
    if (profile) {
        if (vips_profile_load("srgb", &icc, NULL))
            return EASEL_EIMAGE;
        data = vips_blob_get(icc, &n);
    }
    int rc = -1;
    VipsImage *tagged = NULL;
    switch (f) {
    case EASEL_FMT_JPEG:
        rc = vips_jpegsave_buffer(im, buf, len, "Q", q, "strip", TRUE,
                                  "optimize_coding", TRUE, NULL);
        break;
    case EASEL_FMT_WEBP:
        rc = vips_webpsave_buffer(im, buf, len, "Q", q, "strip", TRUE, NULL);
        break;
    case EASEL_FMT_PNG:
        /* pngsave honours strip, and with it off writes just the profile of
         * an image that has no other metadata */
        tagged = profile ? with_profile(im, data, n) : NULL;
        if (!profile || tagged)
            rc = vips_pngsave_buffer(tagged ? tagged : im, buf, len, "compression", 6,
                                     "strip", !profile, NULL);
        if (tagged)
            g_object_unref(tagged);
        break;
    default:
        break; /* refused above */
    }
    /* libvips 8.14's webpsave writes an Exif chunk even with strip on */
    if (!rc && (f == EASEL_FMT_WEBP || (profile && f == EASEL_FMT_JPEG))) {
        rc = f == EASEL_FMT_WEBP ? img_webp_set_meta(buf, len, data, n)
                                 : img_jpeg_add_icc(buf, len, data, n);
        if (rc)
            vips_error("easel", "the encoder wrote an unexpected %s layout",
                       easel_format_name(f));
    }
    if (icc)
        vips_area_unref(VIPS_AREA(icc));
    if (rc && *buf) {
        g_free(*buf);
        *buf = NULL;
    }
    return rc ? EASEL_EIMAGE : EASEL_OK;
}

/* Resizes src to exactly (w, h). */
static VipsImage *resize_to(VipsImage *src, int w, int h)
{
    int sw = vips_image_get_width(src), sh = vips_image_get_height(src);
    if (sw == w && sh == h) {
        g_object_ref(src);
        return src;
    }
    VipsImage *out = NULL;
    if (vips_resize(src, &out, (double)w / sw, "vscale", (double)h / sh, NULL))
        return NULL;
    /* rounding inside vips_resize can leave a pixel over */
    if (vips_image_get_width(out) != w || vips_image_get_height(out) != h) {
        VipsImage *c = NULL;
        int ew = vips_image_get_width(out) < w ? vips_image_get_width(out) : w;
        int eh = vips_image_get_height(out) < h ? vips_image_get_height(out) : h;
        int bad = vips_extract_area(out, &c, 0, 0, ew, eh, NULL);
        g_object_unref(out);
        out = bad ? NULL : c;
    }
    return out;
}

struct job {
    const struct easel_variant_spec *spec;
    VipsImage *im;      /* resized, in memory */
    void *buf;
    size_t len;
    easel_err rc;
    char why[200];
    pthread_t thread;
    bool started;
};

static void *encode_main(void *arg)
{
    struct job *j = arg;
    j->rc = encode(j->im, j->spec->format, j->spec->quality, j->spec->srgb_profile,
                   &j->buf, &j->len);
    if (j->rc)
        img_vips_error(j->why, sizeof(j->why));
    /* libvips keeps per-thread buffers; release them before exit */
    vips_thread_shutdown();
    return NULL;
}

/* Below this many pixels a decode's or a resize's buffers are too small
 * to matter for the peak, and malloc_trim (a walk of every arena and a
 * madvise that flushes every thread's TLB) would cost more than the work:
 * `easel worker` runs thousands of tiny attempts back to back. */
#define TRIM_MIN_PIXELS (1024 * 1024)

/* Order of variants by pixel count, largest first. */
static int by_area_desc(const void *a, const void *b)
{
    const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
    int64_t ax = (int64_t)x->spec->width * x->spec->height;
    int64_t ay = (int64_t)y->spec->width * y->spec->height;
    return ax < ay ? 1 : ax > ay ? -1 : 0;
}

/* Everything after decoding: `src` is 3-band uchar sRGB. */
static easel_err run_variants(VipsImage *src, const struct easel_preset *preset,
                              easel_variant_cb cb, void *ctx,
                              struct easel_error *err)
{
    size_t n = preset->nvariants;
    struct job *jobs = calloc(n, sizeof(*jobs));
    struct job **order = calloc(n, sizeof(*order));
    easel_err rc = EASEL_OK;
    if (!jobs || !order) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    int W = vips_image_get_width(src), H = vips_image_get_height(src);
    for (size_t i = 0; i < n; i++) {
        jobs[i].spec = &preset->variants[i];
        order[i] = &jobs[i];
    }
    qsort(order, n, sizeof(*order), by_area_desc);
    /* Resize largest to smallest, each from the previous result (kept in
     * memory, so no pipeline is computed twice). */
    VipsImage *prev = src;
    g_object_ref(prev);
    for (size_t k = 0; k < n; k++) {
        struct job *j = order[k];
        int w, h;
        fit(W, H, j->spec->width, j->spec->height, &w, &h);
        VipsImage *base = prev;
        if (w > vips_image_get_width(prev) || h > vips_image_get_height(prev))
            base = src; /* a box with another shape can need more pixels */
        VipsImage *r = resize_to(base, w, h);
        VipsImage *mem = r ? img_materialise(r, 0, NULL) : NULL;
        if (r)
            g_object_unref(r);
        if (!mem) {
            char why[200];
            img_vips_error(why, sizeof(why));
            g_object_unref(prev);
            rc = easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE,
                                 EASEL_R_RESIZE_FAILED, "resizing to %dx%d for %s: %s",
                                 w, h, j->spec->name, why);
            goto out;
        }
        j->im = mem;
        g_object_unref(prev);
        prev = mem;
        g_object_ref(prev);
    }
    g_object_unref(prev);
    if ((int64_t)W * H >= TRIM_MIN_PIXELS)
        malloc_trim(0); /* the resize pipelines' buffers, before the encoders' */
    /* Encode in parallel; the calling thread takes the first one. */
    for (size_t i = 1; i < n; i++)
        jobs[i].started =
            pthread_create(&jobs[i].thread, NULL, encode_main, &jobs[i]) == 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !jobs[i].started) {
            jobs[i].rc = encode(jobs[i].im, jobs[i].spec->format, jobs[i].spec->quality,
                                jobs[i].spec->srgb_profile, &jobs[i].buf, &jobs[i].len);
            if (jobs[i].rc)
                img_vips_error(jobs[i].why, sizeof(jobs[i].why));
        }
    }
    for (size_t i = 1; i < n; i++)
        if (jobs[i].started)
            pthread_join(jobs[i].thread, NULL);
    for (size_t i = 0; i < n && rc == EASEL_OK; i++) {
        struct job *j = &jobs[i];
        if (j->rc) {
            rc = easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE,
                                 EASEL_R_ENCODE_FAILED, "encoding %s as %s: %s",
                                 j->spec->name, easel_format_name(j->spec->format),
                                 j->why[0] ? j->why : "encoder failed");
            break;
        }
        struct easel_variant_out v = {
            .spec = j->spec, .data = j->buf, .len = j->len,
            .width = vips_image_get_width(j->im),
            .height = vips_image_get_height(j->im)};
        rc = cb(ctx, &v);
    }
out:
    for (size_t i = 0; jobs && i < n; i++) {
        g_free(jobs[i].buf);
        if (jobs[i].im)
            g_object_unref(jobs[i].im);
    }
    free(order);
    free(jobs);
    return rc;
}

easel_err easel_image_variants(const struct easel_image *img,
                               const struct easel_preset *preset,
                               easel_variant_cb cb, void *ctx,
                               struct easel_error *err)
{
    if (!img || !preset || !preset->nvariants)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_PRESET, "no image or an empty preset");
    return run_variants(img->im, preset, cb, ctx, err);
}

easel_err easel_image_variants_buffer(const void *buf, size_t len,
                                      const struct easel_image_limits *l,
                                      const struct easel_preset *preset,
                                      easel_variant_cb cb, void *ctx,
                                      struct easel_error *err)
{
    struct easel_image_limits dl;
    if (!l) {
        easel_image_limits_default(&dl);
        l = &dl;
    }
    if (!preset || !preset->nvariants)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_PRESET, "empty preset");
    struct easel_image_info info;
    easel_err rc = easel_image_probe(buf, len, l, &info, err);
    if (rc)
        return rc;
    /* Orientations 5..8 swap the sides once applied. */
    int w = info.orientation >= 5 ? info.height : info.width;
    int h = info.orientation >= 5 ? info.width : info.height;
    int bw = 1, bh = 1;
    for (size_t i = 0; i < preset->nvariants; i++) {
        int vw, vh;
        fit(w, h, preset->variants[i].width, preset->variants[i].height, &vw, &vh);
        if ((int64_t)vw * vh > (int64_t)bw * bh) {
            bw = vw;
            bh = vh;
        }
    }
    /* One decode, shrinking on load where the format allows (JPEG DCT
     * scaling, WebP scaled decode), straight to the largest variant. */
    VipsImage *thumb = NULL, *srgb = NULL, *mem = NULL;
    bool timed_out = false;
    if (!vips_thumbnail_buffer((void *)buf, len, &thumb, bw, "height", bh,
                               "size", VIPS_SIZE_DOWN, "option_string",
                               "fail_on=error", NULL) &&
        (srgb = img_to_srgb8(thumb)))
        mem = img_materialise(srgb, l->timeout_ms, &timed_out);
    char why[300] = "";
    if (!mem)
        img_vips_error(why, sizeof(why));
    if (thumb)
        g_object_unref(thumb);
    if (srgb)
        g_object_unref(srgb);
    /* The decode pipeline's buffers are free now; hand the pages back before
     * the encoders allocate theirs, or the two peaks add up. */
    if ((int64_t)w * h >= TRIM_MIN_PIXELS)
        malloc_trim(0);
    if (!mem)
        return easel_error_set(err, timed_out ? EASEL_ETIMEOUT : EASEL_EIMAGE,
                               EASEL_CLASS_PERMANENT,
                               timed_out ? EASEL_R_IMAGE_TIMEOUT : EASEL_R_CORRUPT_IMAGE,
                               "the %s could not be decoded: %s",
                               easel_format_name(info.format),
                               timed_out ? "time limit reached" : why);
    rc = run_variants(mem, preset, cb, ctx, err);
    g_object_unref(mem);
    return rc;
}

easel_err easel_image_encode(const struct easel_image *img, enum easel_format f,
                             int quality, void **out, size_t *len,
                             struct easel_error *err)
{
    *out = NULL;
    *len = 0;
    void *gbuf = NULL;
    size_t n = 0;
    if (!img || quality < 1 || quality > 100)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_ARGUMENT, "no image or quality outside 1..100");
    if (encode(img->im, f, quality, false, &gbuf, &n)) {
        char why[200];
        img_vips_error(why, sizeof(why));
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE,
                               EASEL_R_ENCODE_FAILED, "encoding as %s: %s",
                               easel_format_name(f), why);
    }
    /* Callers free() what easel returns; copy out of GLib's allocator. */
    *out = malloc(n);
    if (!*out) {
        g_free(gbuf);
        return EASEL_ENOMEM;
    }
    memcpy(*out, gbuf, n);
    *len = n;
    g_free(gbuf);
    return EASEL_OK;
}

easel_err easel_image_fit(const struct easel_image *img, int max_edge,
                          struct easel_image **out, struct easel_error *err)
{
    *out = NULL;
    if (!img || max_edge < 1)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                               "no image or a long edge below 1");
    VipsImage *t = NULL;
    if (vips_thumbnail_image(img->im, &t, max_edge, "height", max_edge, "size",
                             VIPS_SIZE_DOWN, NULL)) {
        char why[200];
        img_vips_error(why, sizeof(why));
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE, EASEL_R_RESIZE_FAILED,
                               "resizing to %d px: %s", max_edge, why);
    }
    bool timed_out = false;
    VipsImage *m = img_materialise(t, 0, &timed_out);
    g_object_unref(t);
    struct easel_image *o = m ? calloc(1, sizeof(*o)) : NULL;
    if (!o) {
        if (m)
            g_object_unref(m);
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE, EASEL_R_RESIZE_FAILED,
                               "resizing to %d px failed", max_edge);
    }
    o->im = m;
    *out = o;
    return EASEL_OK;
}
