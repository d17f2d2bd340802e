/*
 * fuzz_image_load.c - source images and model outputs as easel decodes
 * them: probe (magic bytes, header size, EXIF orientation) against the
 * limits, then the strict decode through libvips with every format a
 * registry can enable (JPEG, PNG, WebP, GIF, TIFF). The limits are smaller
 * than the defaults so that one input costs milliseconds, not seconds; the
 * code path is the same.
 */
#include "../../pkg/imaging/imaging_int.h"
#include "fuzz.h"

static struct easel_image_limits limits;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    if (easel_imaging_init(argv && *argv ? (*argv)[0] : "fuzz", 1) != EASEL_OK)
        abort();
    easel_imaging_enable_format(EASEL_FMT_GIF);
    easel_imaging_enable_format(EASEL_FMT_TIFF);
    easel_image_limits_default(&limits);
    limits.max_pixels = 1024 * 1024;
    limits.max_width = limits.max_height = 4096;
    limits.timeout_ms = 10000;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct easel_image_limits l = limits;
    /* the low bit: a registry that enables GIF and TIFF, or not */
    l.extra_formats = (data[0] & 1) ? EASEL_FMT_BIT(EASEL_FMT_GIF) | EASEL_FMT_BIT(EASEL_FMT_TIFF) : 0;
    char *buf = fuzz_bytes(data + 1, size - 1);
    struct easel_image_info info;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_image_probe(buf, size - 1, &l, &info, &err) == EASEL_OK) {
        if (info.width < 1 || info.height < 1 || (int64_t)info.width * info.height > l.max_pixels ||
            info.orientation < 1 || info.orientation > 8)
            abort();
        struct easel_image *img = NULL;
        easel_error_clear(&err);
        if (easel_image_load(buf, size - 1, &l, &img, &err) == EASEL_OK) {
            int w = easel_image_width(img), h = easel_image_height(img);
            if (w < 1 || h < 1 || (int64_t)w * h > l.max_pixels)
                abort();
            easel_image_free(img);
        }
    }
    free(buf);
    return 0;
}
