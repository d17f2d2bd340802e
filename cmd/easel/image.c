/*
 * image.c - `easel image`: the operator's view of the image path, through
 * the same code job mode runs.
 *
 *   easel image check FILE           what the loader accepts or refuses, and why
 *   easel image phash FILE           the 16-hex-digit perceptual hash
 *   easel image variants --preset P IN OUTDIR   the preset's variants, as files
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "easel/imaging.h"
#include "easel/registry.h"
#include "settings.h"

/* The registry the command reads, loaded once: --registry, or the
 * built-in one. NULL (with its problems in d) when it does not load. */
static struct easel_registry *load_registry(const struct settings *s, struct easel_diags *d)
{
    struct easel_registry *r = NULL;
    if (s->registry && *s->registry ? easel_registry_load_file(s->registry, &r, d)
                                    : easel_registry_builtin(&r))
        return NULL;
    return r;
}

static void limits_from(const struct settings *s, const struct easel_registry *r,
                        struct easel_image_limits *l)
{
    easel_image_limits_default(l);
    l->max_pixels = s->max_pixels;
    l->max_bytes = s->max_source_bytes;
    l->max_width = l->max_height = s->max_side;
    /* the input formats a registry enables, as job mode would load them */
    if (r)
        l->extra_formats = r->input_formats;
}

static int read_input(const struct settings *s, const char *path, char **buf, size_t *len)
{
    easel_err rc = easel_read_file(path, (size_t)s->max_source_bytes, buf, len);
    if (rc == EASEL_ELIMIT) {
        fprintf(stderr, "%s: refused: larger than --max-source-bytes (%lld bytes)\n", path,
                (long long)s->max_source_bytes);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: cannot read: %s\n", path, easel_strerror(rc));
        return 1;
    }
    return 0;
}

static int refused(const char *path, const struct easel_error *e)
{
    printf("%s: refused (%s): %s\n", path, e->reason, e->msg);
    return 1;
}

/* What every image command starts with: the file's bytes, the limits
 * from the flags, a clear error. */
struct input {
    char *buf;
    size_t len;
    struct easel_image_limits l;
    struct easel_error e;
};

static int open_input(const struct settings *s, const struct easel_registry *r, const char *path,
                      struct input *in)
{
    memset(in, 0, sizeof(*in));
    limits_from(s, r, &in->l);
    easel_error_clear(&in->e);
    return read_input(s, path, &in->buf, &in->len);
}

static int cmd_check(const struct settings *s, const struct easel_registry *r, const char *path)
{
    struct input in;
    if (open_input(s, r, path, &in))
        return 1;
    struct easel_image_info info;
    struct easel_image *img = NULL;
    int rc = 0;
    if (easel_image_probe(in.buf, in.len, &in.l, &info, &in.e) ||
        easel_image_load(in.buf, in.len, &in.l, &img, &in.e)) {
        rc = refused(path, &in.e);
    } else {
        printf("%s: ok: %s, %dx%d stored, orientation %d, %dx%d as loaded (sRGB, 8-bit), "
               "%zu bytes\n",
               path, easel_format_name(info.format), info.width, info.height,
               info.orientation, easel_image_width(img), easel_image_height(img), in.len);
    }
    easel_image_free(img);
    free(in.buf);
    return rc;
}

static int cmd_phash(const struct settings *s, const struct easel_registry *r, const char *path)
{
    struct input in;
    if (open_input(s, r, path, &in))
        return 1;
    uint64_t h = 0;
    int rc = 0;
    if (easel_phash_buffer(in.buf, in.len, &in.l, &h, &in.e)) {
        rc = refused(path, &in.e);
    } else {
        char hex[17];
        easel_phash_hex(h, hex);
        printf("%s\n", hex);
    }
    free(in.buf);
    return rc;
}

struct outdir {
    const char *dir;
    int written;
};

static easel_err write_variant(void *ctx, const struct easel_variant_out *v)
{
    struct outdir *o = ctx;
    char path[4096];
    /* a cut path would write the image somewhere else: refuse it */
    easel_err rc = easel_snprintf(path, sizeof(path), "%s/%s.%s", o->dir, v->spec->name,
                                  easel_format_ext(v->spec->format));
    if (rc) {
        fprintf(stderr, "%s/%s: the output path is longer than %zu bytes\n", o->dir,
                v->spec->name, sizeof(path) - 1);
        return rc;
    }
    rc = easel_write_file_atomic(path, v->data, v->len);
    if (rc) {
        fprintf(stderr, "%s: cannot write: %s\n", path, easel_strerror(rc));
        return rc;
    }
    printf("%s\t%s\t%dx%d\tq%d\t%zu bytes\n", path, easel_format_name(v->spec->format),
           v->width, v->height, v->spec->quality, v->len);
    o->written++;
    return EASEL_OK;
}

static int cmd_variants(const struct settings *s, const struct easel_registry *r,
                        const struct easel_diags *d, const char *in, const char *dir)
{
    if (!r) {
        easel_diags_print(d, s->registry, stderr);
        return 1;
    }
    const struct easel_preset *p = easel_registry_preset(r, s->preset);
    if (!p) {
        fprintf(stderr, "easel image variants: no preset \"%s\" in the %s registry\n", s->preset,
                s->registry && *s->registry ? s->registry : "built-in");
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "easel image variants: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct input src;
    if (open_input(s, r, in, &src))
        return 1;
    struct outdir o = {.dir = dir};
    int status = easel_image_variants_buffer(src.buf, src.len, &src.l, p, write_variant, &o,
                                             &src.e)
                     ? refused(in, &src.e)
                     : 0;
    free(src.buf);
    return status;
}

int mode_image(struct settings *s, char **args, int nargs)
{
    if (easel_imaging_init("easel", 0)) {
        fprintf(stderr, "easel image: libvips failed to start: %s\n", easel_imaging_init_error());
        return 1;
    }
    const char *cmd = args[0];
    struct easel_diags d = {0};
    struct easel_registry *r = load_registry(s, &d);
    int rc = 2;
    if (!strcmp(cmd, "check") && nargs == 2)
        rc = cmd_check(s, r, args[1]);
    else if (!strcmp(cmd, "phash") && nargs == 2)
        rc = cmd_phash(s, r, args[1]);
    else if (!strcmp(cmd, "variants") && nargs == 3)
        rc = cmd_variants(s, r, &d, args[1], args[2]);
    else
        fprintf(stderr, "usage: easel image check FILE | phash FILE | variants --preset P IN OUTDIR\n");
    easel_diags_cleanup(&d);
    easel_registry_unref(r);
    return rc;
}
