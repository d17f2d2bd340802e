/*
 * fuzz_image_meta.c - the container rewriters that set a variant's
 * metadata: a still WebP's RIFF chunks (metadata dropped, an ICC profile
 * set) and a JPEG's APP2 ICC_PROFILE segments. They run on what libvips
 * wrote, but follow lengths read from the file, so they get any bytes
 * here. The first byte picks WebP or JPEG and the profile's size (none,
 * small, or large enough to need several JPEG segments). A rewritten WebP
 * must be a still WebP again: rewriting it a second time must succeed.
 */
#include "../../pkg/imaging/imaging_int.h"
#include "fuzz.h"

static uint8_t icc[200000];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    /* the rewriters allocate with GLib, reached through libvips' table */
    if (easel_imaging_init(argv && *argv ? (*argv)[0] : "fuzz", 1) != EASEL_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t icc_sizes[4] = {0, 3, 560, 140000};
    size_t icclen = icc_sizes[(data[0] >> 1) & 3];
    if (!icc[1])
        for (size_t i = 0; i < sizeof(icc); i++)
            icc[i] = (uint8_t)(i * 131 + 7);
    void *buf = g_malloc(size - 1 ? size - 1 : 1);
    if (size > 1)
        memcpy(buf, data + 1, size - 1);
    size_t len = size - 1;
    if (data[0] & 1) {
        img_jpeg_add_icc(&buf, &len, icclen ? icc : NULL, icclen);
    } else if (img_webp_set_meta(&buf, &len, icclen ? icc : NULL, icclen) == 0) {
        if (img_webp_set_meta(&buf, &len, icclen ? icc : NULL, icclen) != 0)
            abort();
    }
    g_free(buf);
    return 0;
}
