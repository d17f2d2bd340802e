/*
 * load.c - libvips start-up and untrusted bytes into pixels: magic-byte
 * sniffing, header-only limit checks before any decoding, strict decoding
 * (truncation and corruption fail), orientation and sRGB.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging_int.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;
static const char *init_argv0 = "easel";
static int init_threads;
static bool shut_down;
static bool started;
static char init_why[300];

static void do_init(void)
{
    /* libvips loads its optional modules (PDF via poppler, ImageMagick,
     * HEIF, JPEG XL, OpenSlide) from $VIPSHOME/lib. easel needs none of
     * them and they are the riskiest parsers, so unless an operator points
     * VIPSHOME somewhere on purpose, it points at a directory that does not
     * exist and no module is ever mapped (about 6 MB less RSS, too). */
    if (img_vips_open(init_why, sizeof(init_why))) {
        init_rc = -1;
        return;
    }
    if (!getenv("VIPSHOME"))
        setenv("VIPSHOME", "/nonexistent/easel-loads-no-vips-modules", 0);
    /* A job process handles one image at a time: a couple of malloc arenas
     * hold it, where glibc's default of eight per core keeps freed pixel
     * buffers of every thread alive (measured: 215 MB peak RSS instead of
     * under 90 MB in make bench). Big buffers come straight from mmap and go
     * back to the system when freed. */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    if (VIPS_INIT(init_argv0)) {
        img_vips_error(init_why, sizeof(init_why));
        init_rc = -1;
        return;
    }
    /* Only the loaders the product needs: every other loader (and anything
     * libvips marks untrusted) is refused before it sees a byte. */
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
    vips_operation_block_set("VipsForeignLoadPng", FALSE);
    vips_operation_block_set("VipsForeignLoadWebp", FALSE);
    /* Each image is processed once: the operation cache only costs memory. */
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    if (init_threads > 0)
        vips_concurrency_set(init_threads);
    started = true;
}

void easel_imaging_enable_format(enum easel_format f)
{
    if (!started)
        return; /* nothing decodes before easel_imaging_init succeeds */
    /* process-wide and idempotent: a loader once allowed stays allowed */
    if (f == EASEL_FMT_GIF)
        vips_operation_block_set("VipsForeignLoadNsgif", FALSE); /* libnsgif, first frame */
    else if (f == EASEL_FMT_TIFF)
        vips_operation_block_set("VipsForeignLoadTiff", FALSE);
}

easel_err easel_imaging_init(const char *argv0, int threads)
{
    if (argv0)
        init_argv0 = argv0;
    init_threads = threads;
    pthread_once(&init_once, do_init);
    return init_rc ? EASEL_EIMAGE : EASEL_OK;
}

const char *easel_imaging_init_error(void)
{
    return init_rc ? (init_why[0] ? init_why : "libvips failed to start") : NULL;
}

void easel_imaging_shutdown(void)
{
    if (!shut_down && started) {
        shut_down = true;
        vips_shutdown();
    }
}

const char *easel_imaging_version(void)
{
    return started ? vips_version_string() : "not loaded";
}

void easel_image_limits_default(struct easel_image_limits *l)
{
    memset(l, 0, sizeof(*l)); /* every field a default, extra formats none */
    l->max_bytes = 50LL * 1000 * 1000;
    l->max_pixels = 50LL * 1000 * 1000;
    l->max_width = 16384;
    l->max_height = 16384;
    l->timeout_ms = 60000;
}

void img_vips_error(char *dst, size_t len)
{
    char *e = vips_error_buffer_copy();
    size_t k = 0;
    /* one line: newlines become "; ", trailing separators dropped */
    for (const char *p = e ? e : ""; *p && k + 3 < len; p++) {
        if (*p == '\n') {
            if (p[1]) {
                dst[k++] = ';';
                dst[k++] = ' ';
            }
        } else {
            dst[k++] = *p;
        }
    }
    dst[k] = '\0';
    g_free(e);
}

/* ---------------------------------------------------------------- probe */

static bool sniff(const unsigned char *b, size_t n, unsigned extra, enum easel_format *f)
{
    if ((extra & EASEL_FMT_BIT(EASEL_FMT_GIF)) && n >= 6 &&
        (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) {
        *f = EASEL_FMT_GIF;
        return true;
    }
    if ((extra & EASEL_FMT_BIT(EASEL_FMT_TIFF)) && n >= 4 &&
        (!memcmp(b, "II*", 4) || !memcmp(b, "MM\0*", 4))) {
        *f = EASEL_FMT_TIFF;
        return true;
    }
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        *f = EASEL_FMT_JPEG;
        return true;
    }
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && memcmp(b, png, 8) == 0) {
        *f = EASEL_FMT_PNG;
        return true;
    }
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) {
        *f = EASEL_FMT_WEBP;
        return true;
    }
    return false;
}

/* A few words on what unknown bytes look like, for the error message. */
static const char *looks_like(const unsigned char *b, size_t n)
{
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "a GIF";
    if (n >= 4 && (memcmp(b, "II*", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
        return "a TIFF";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return "a BMP";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0)
        return "an ISO media file (HEIC/AVIF/MP4)";
    if (n >= 5 && (memcmp(b, "<?xml", 5) == 0 || memcmp(b, "<svg", 4) == 0))
        return "XML/SVG";
    if (n >= 4 && memcmp(b, "%PDF", 4) == 0)
        return "a PDF";
    if (n >= 1 && (b[0] == '<' || b[0] == '{'))
        return "text (HTML or JSON)";
    size_t text = 0, m = n < 64 ? n : 64;
    for (size_t i = 0; i < m; i++)
        text += (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t';
    return m && text == m ? "text" : "unknown binary data";
}

easel_err easel_image_probe(const void *buf, size_t len,
                            const struct easel_image_limits *l,
                            struct easel_image_info *info,
                            struct easel_error *err)
{
    struct easel_image_limits dl;
    if (!l) {
        easel_image_limits_default(&dl);
        l = &dl;
    }
    memset(info, 0, sizeof(*info));
    if (l->max_bytes > 0 && (int64_t)len > l->max_bytes)
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                               EASEL_R_IMAGE_TOO_LARGE,
                               "the image is %zu bytes; the limit is %lld", len,
                               (long long)l->max_bytes);
    if (!sniff(buf, len, l->extra_formats, &info->format)) {
        const char *what = looks_like(buf, len);
        return easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNSUPPORTED_FORMAT,
                               "not a JPEG, PNG or WebP image (the bytes look like %s)%s", what,
                               !strncmp(what, "a GIF", 5) || !strncmp(what, "a TIFF", 6)
                                   ? "; the registry's formats can enable it"
                                   : "");
    }
    if (!started)
        return easel_error_set(err, EASEL_EINTERNAL, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "libvips is not loaded: easel_imaging_init() was not called "
                               "or failed");
    if (info->format == EASEL_FMT_GIF || info->format == EASEL_FMT_TIFF)
        easel_imaging_enable_format(info->format);
    /* Header only: nothing is decoded until pixels are asked for. */
    VipsImage *im = vips_image_new_from_buffer(buf, len, "", "access",
                                               VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!im) {
        char why[300];
        img_vips_error(why, sizeof(why));
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_PERMANENT,
                               EASEL_R_CORRUPT_IMAGE, "unreadable %s header: %s",
                               easel_format_name(info->format), why);
    }
    info->width = vips_image_get_width(im);
    info->height = vips_image_get_height(im);
    info->orientation = 1;
    int o;
    if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) &&
        !vips_image_get_int(im, VIPS_META_ORIENTATION, &o) && o >= 1 && o <= 8)
        info->orientation = o;
    g_object_unref(im);
    int64_t px = (int64_t)info->width * info->height;
    if (info->width > l->max_width || info->height > l->max_height ||
        (l->max_pixels > 0 && px > l->max_pixels))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                               EASEL_R_IMAGE_TOO_LARGE,
                               "the %s declares %dx%d (%.1f MP); the limits are %dx%d and %.1f MP",
                               easel_format_name(info->format), info->width,
                               info->height, (double)px / 1e6, l->max_width,
                               l->max_height, (double)l->max_pixels / 1e6);
    return EASEL_OK;
}

/* ----------------------------------------------------------------- load */

struct deadline {
    int64_t at_ms;
    bool hit;
};

static void on_eval(VipsImage *im, VipsProgress *p, void *ud)
{
    (void)p;
    struct deadline *d = ud;
    if (!d->hit && easel_now_ms() > d->at_ms) {
        d->hit = true;
        vips_image_set_kill(im, TRUE);
    }
}

VipsImage *img_materialise(VipsImage *in, int64_t timeout_ms, bool *timed_out)
{
    struct deadline d = {.at_ms = easel_now_ms() + timeout_ms};
    gulong sig = 0;
    if (timeout_ms > 0) {
        vips_image_set_progress(in, TRUE);
        sig = g_signal_connect(in, "eval", G_CALLBACK(on_eval), &d);
    }
    VipsImage *out = vips_image_copy_memory(in);
    if (sig)
        g_signal_handler_disconnect(in, sig);
    if (timed_out)
        *timed_out = d.hit;
    return out;
}

VipsImage *img_to_srgb8(VipsImage *in)
{
    VipsImage *cur = in, *t = NULL;
    g_object_ref(cur);
    /* An embedded colour profile (Display P3 from phones, Adobe RGB from
     * cameras) says what the numbers mean: convert through it to sRGB, so
     * colours survive. A profile littlecms cannot use is ignored, as
     * browsers ignore it, rather than failing the image. */
    if (vips_image_get_typeof(cur, VIPS_META_ICC_NAME) &&
        vips_image_get_interpretation(cur) != VIPS_INTERPRETATION_B_W) {
        if (!vips_icc_transform(cur, &t, "srgb", "embedded", TRUE, "intent",
                                VIPS_INTENT_RELATIVE, NULL)) {
            g_object_unref(cur);
            cur = t;
        } else {
            vips_error_clear();
        }
    }
    if (vips_image_get_interpretation(cur) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_format(cur) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(cur, &t, VIPS_INTERPRETATION_sRGB, NULL))
            goto fail;
        g_object_unref(cur);
        cur = t;
    }
    if (vips_image_hasalpha(cur)) {
        double white[] = {255, 255, 255};
        VipsArrayDouble *bg = vips_array_double_new(white, 3);
        int bad = vips_flatten(cur, &t, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg)); /* the operation holds its own reference */
        if (bad)
            goto fail;
        g_object_unref(cur);
        cur = t;
    }
    if (vips_image_get_bands(cur) > 3) {
        if (vips_extract_band(cur, &t, 0, "n", 3, NULL))
            goto fail;
        g_object_unref(cur);
        cur = t;
    }
    if (vips_image_get_format(cur) != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(cur, &t, NULL))
            goto fail;
        g_object_unref(cur);
        cur = t;
    }
    return cur;
fail:
    g_object_unref(cur);
    return NULL;
}

/* 8-bit from a 16-bit image by its high byte, as Pillow reads one. */
static VipsImage *high_byte(VipsImage *in)
{
    VipsImage *t = NULL, *u = NULL;
    if (vips_rshift_const1(in, &t, 8, NULL))
        return NULL;
    int bad = vips_cast_uchar(t, &u, NULL);
    g_object_unref(t);
    return bad ? NULL : u;
}

easel_err img_decode(const void *buf, size_t len, const struct easel_image_limits *l,
                     bool as_stored, VipsImage **out, struct easel_error *err)
{
    struct easel_image_limits dl;
    if (!l) {
        easel_image_limits_default(&dl);
        l = &dl;
    }
    *out = NULL;
    struct easel_image_info info;
    easel_err rc = easel_image_probe(buf, len, l, &info, err);
    if (rc)
        return rc;
    char why[300] = "";
    bool timed_out = false;
    /* Rotating by 90 degrees reads out of order, so only upright images
     * stream through sequentially. */
    VipsAccess access = !as_stored && info.orientation > 1 ? VIPS_ACCESS_RANDOM
                                                           : VIPS_ACCESS_SEQUENTIAL;
    VipsImage *raw = vips_image_new_from_buffer(buf, len, "", "access",
                                                access, "fail_on",
                                                VIPS_FAIL_ON_ERROR, NULL);
    VipsImage *rot = NULL, *ready = NULL, *mem = NULL;
    if (raw && as_stored) {
        ready = vips_image_get_format(raw) == VIPS_FORMAT_UCHAR ? g_object_ref(raw)
                                                                : high_byte(raw);
    } else if (raw && !vips_autorot(raw, &rot, NULL)) {
        ready = img_to_srgb8(rot);
    }
    if (ready)
        mem = img_materialise(ready, l->timeout_ms, &timed_out);
    if (!mem)
        img_vips_error(why, sizeof(why));
    if (raw)
        g_object_unref(raw);
    if (rot)
        g_object_unref(rot);
    if (ready)
        g_object_unref(ready);
    if (!mem) {
        if (timed_out)
            return easel_error_set(err, EASEL_ETIMEOUT, EASEL_CLASS_PERMANENT,
                                   EASEL_R_IMAGE_TIMEOUT,
                                   "decoding the %dx%d %s took longer than %lld ms",
                                   info.width, info.height,
                                   easel_format_name(info.format),
                                   (long long)l->timeout_ms);
        return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_PERMANENT,
                               EASEL_R_CORRUPT_IMAGE, "the %s is damaged or truncated: %s",
                               easel_format_name(info.format),
                               why[0] ? why : "decoder failed");
    }
    *out = mem;
    return EASEL_OK;
}

easel_err easel_image_load(const void *buf, size_t len,
                           const struct easel_image_limits *l,
                           struct easel_image **out, struct easel_error *err)
{
    *out = NULL;
    VipsImage *mem = NULL;
    easel_err rc = img_decode(buf, len, l, false, &mem, err);
    if (rc)
        return rc;
    struct easel_image *img = calloc(1, sizeof(*img));
    if (!img) {
        g_object_unref(mem);
        return EASEL_ENOMEM;
    }
    img->im = mem;
    *out = img;
    return EASEL_OK;
}

void easel_image_free(struct easel_image *img)
{
    if (!img)
        return;
    if (img->im)
        g_object_unref(img->im);
    free(img);
}

int easel_image_width(const struct easel_image *img)
{
    return img ? vips_image_get_width(img->im) : 0;
}

int easel_image_height(const struct easel_image *img)
{
    return img ? vips_image_get_height(img->im) : 0;
}

const uint8_t *easel_image_pixels(const struct easel_image *img, size_t *stride)
{
    if (!img || !img->im)
        return NULL;
    if (stride)
        *stride = (size_t)VIPS_IMAGE_SIZEOF_LINE(img->im);
    return (const uint8_t *)VIPS_IMAGE_ADDR(img->im, 0, 0);
}
