/*
 * stage.c - "local/vips-stage", the local stand-in model.
 *
 * It is NOT an AI model. It is a deterministic libvips transformation that
 * lets the whole pipeline (queue, controller, worker, storage, store) run on
 * a laptop without any provider key: a colour grade per style, a warmth
 * shift and vignette derived from the seed, a label band with the room type,
 * and, for try-on jobs, the garment as a framed inset. Same inputs, same
 * pixels.
 */
#include <math.h>
#include <string.h>

#include "imaging_int.h"

struct style {
    const char *name;
    double mul[3], add[3];
};

static const struct style styles[] = {
    {"modern", {1.08, 1.08, 1.12}, {-8, -8, -6}},
    {"scandinavian", {1.04, 1.04, 1.02}, {18, 16, 14}},
    {"industrial", {0.92, 0.95, 1.00}, {-4, 0, 6}},
    {"bohemian", {1.12, 1.00, 0.85}, {6, 0, -6}},
    {"minimalist", {0.90, 0.90, 0.90}, {30, 30, 30}},
    {"coastal", {0.95, 1.03, 1.12}, {0, 6, 14}},
    {"traditional", {1.10, 1.00, 0.88}, {4, 2, -8}},
    {"neutral", {1, 1, 1}, {0, 0, 0}},
};
#define NSTYLES (sizeof(styles) / sizeof(styles[0]))

static const char *const style_names[] = {
    "modern", "scandinavian", "industrial", "bohemian", "minimalist",
    "coastal", "traditional", "neutral", NULL};

const char *const *easel_stage_styles(void)
{
    return style_names;
}

static const struct style *find_style(const char *name)
{
    for (size_t i = 0; name && i < NSTYLES; i++)
        if (!strcasecmp(styles[i].name, name))
            return &styles[i];
    return &styles[NSTYLES - 1];
}

/* A reference holder that drops everything on the way out. */
struct refs {
    VipsImage *v[24];
    int n;
};

static VipsImage *keep(struct refs *r, VipsImage *im)
{
    if (im && r->n < 24)
        r->v[r->n++] = im;
    return im;
}

static void drop_all(struct refs *r)
{
    for (int i = 0; i < r->n; i++)
        g_object_unref(r->v[i]);
    r->n = 0;
}

/* splitmix64: seed to well-spread bits, identical on every machine. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The label band: the bottom strip darkened, with the label in white. */
static VipsImage *add_band(struct refs *r, VipsImage *im, const char *label)
{
    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    int bh = h / 10 > 20 ? h / 10 : 20;
    if (h < 3 * bh || w < 64)
        return im;
    VipsImage *strip = NULL, *dark = NULL, *dark8 = NULL, *out = NULL;
    if (vips_extract_area(im, &strip, 0, h - bh, w, bh, NULL) ||
        !keep(r, strip) || vips_linear1(strip, &dark, 0.35, 0, NULL) ||
        !keep(r, dark) || vips_cast_uchar(dark, &dark8, NULL) || !keep(r, dark8))
        return NULL;
    VipsImage *band = dark8;
    if (label && *label) {
        int pad = bh / 4;
        VipsImage *text = NULL, *mask = NULL, *white = NULL, *blended = NULL, *b8 = NULL;
        /* the label in the built-in font (glyphs.c), left-aligned and
         * centred in the band; blended so scaled edges stay crisp */
        if (!(text = keep(r, img_text_mask(label, w - 2 * pad, bh - 2 * pad))) ||
            vips_embed(text, &mask, pad, (bh - vips_image_get_height(text)) / 2, w, bh,
                       NULL) ||
            !keep(r, mask) || vips_linear1(dark8, &white, 0, 255, NULL) ||
            !keep(r, white) ||
            vips_ifthenelse(mask, white, dark8, &blended, "blend", TRUE, NULL) ||
            !keep(r, blended) || vips_cast_uchar(blended, &b8, NULL) || !keep(r, b8)) {
            if (text)
                return NULL; /* libvips failed, not the label */
        } else {
            band = b8;
        }
    }
    if (vips_insert(im, band, &out, 0, h - bh, NULL))
        return NULL;
    return keep(r, out);
}

/* The inset (a try-on garment): scaled, framed in white, bottom right. */
static VipsImage *add_inset(struct refs *r, VipsImage *im, VipsImage *inset)
{
    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    int iw = vips_image_get_width(inset), ih = vips_image_get_height(inset);
    double scale = (w * 0.28) / iw;
    if (ih * scale > h * 0.45)
        scale = (h * 0.45) / ih;
    int border = w / 200 > 2 ? w / 200 : 2, margin = w / 40;
    VipsImage *small = NULL, *framed = NULL, *out = NULL;
    if (vips_resize(inset, &small, scale, NULL) || !keep(r, small))
        return NULL;
    int sw = vips_image_get_width(small), sh = vips_image_get_height(small);
    if (vips_embed(small, &framed, border, border, sw + 2 * border,
                   sh + 2 * border, "extend", VIPS_EXTEND_WHITE, NULL) ||
        !keep(r, framed))
        return NULL;
    int x = w - vips_image_get_width(framed) - margin;
    int y = h - h / 10 - vips_image_get_height(framed) - margin;
    if (x < 0 || y < 0)
        return im;
    if (vips_insert(im, framed, &out, x, y, NULL))
        return NULL;
    return keep(r, out);
}

easel_err easel_image_stage(const struct easel_image *in,
                            const struct easel_image *inset,
                            const struct easel_stage_params *p,
                            struct easel_image **out,
                            struct easel_error *err)
{
    *out = NULL;
    struct refs r = {0};
    const struct style *st = find_style(p ? p->style : NULL);
    uint64_t bits = mix((uint64_t)(p ? p->seed : 0));
    /* warmth in [-0.06, 0.06]: red up and blue down, or the reverse */
    double warmth = ((double)(bits & 0xffff) / 65535.0 - 0.5) * 0.12;
    /* vignette strength in [0.15, 0.45] */
    double vig = 0.15 + (double)((bits >> 16) & 0xffff) / 65535.0 * 0.30;
    double mul[3] = {st->mul[0] * (1 + warmth), st->mul[1],
                     st->mul[2] * (1 - warmth)};

    VipsImage *im = in->im;
    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    VipsImage *graded = NULL, *xy = NULL, *norm = NULL, *sq = NULL,
              *mean = NULL, *factor = NULL, *lit = NULL, *u8 = NULL;
    double xs[2] = {2.0 / w, 2.0 / h}, xb[2] = {-1, -1};
    if (vips_linear(im, &graded, mul, (double *)st->add, 3, NULL) || !keep(&r, graded) ||
        vips_xyz(&xy, w, h, NULL) || !keep(&r, xy) ||
        vips_linear(xy, &norm, xs, xb, 2, NULL) || !keep(&r, norm) ||
        vips_multiply(norm, norm, &sq, NULL) || !keep(&r, sq) ||
        vips_bandmean(sq, &mean, NULL) || !keep(&r, mean) ||
        vips_linear1(mean, &factor, -vig, 1.0, NULL) || !keep(&r, factor) ||
        vips_multiply(graded, factor, &lit, NULL) || !keep(&r, lit) ||
        vips_cast_uchar(lit, &u8, NULL) || !keep(&r, u8))
        goto fail;
    VipsImage *cur = add_band(&r, u8, p ? p->label : NULL);
    if (cur && inset)
        cur = add_inset(&r, cur, inset->im);
    if (!cur)
        goto fail;
    VipsImage *mem = img_materialise(cur, 0, NULL);
    if (!mem)
        goto fail;
    drop_all(&r);
    struct easel_image *o = calloc(1, sizeof(*o));
    if (!o) {
        g_object_unref(mem);
        return EASEL_ENOMEM;
    }
    o->im = mem;
    *out = o;
    return EASEL_OK;
fail:;
    char why[300];
    img_vips_error(why, sizeof(why));
    drop_all(&r);
    return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE,
                           EASEL_R_STAGE_FAILED, "local/vips-stage failed: %s", why);
}
