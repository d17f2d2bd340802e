/*
 * format.c - the output image formats a preset can name, and the extra
 * input formats a registry can enable.
 */
#include <string.h>

#include "easel/registry.h"

static const struct {
    enum easel_format f;
    const char *name, *mime, *ext;
} formats[] = {
    {EASEL_FMT_JPEG, "jpeg", "image/jpeg", "jpg"},
    {EASEL_FMT_WEBP, "webp", "image/webp", "webp"},
    {EASEL_FMT_PNG, "png", "image/png", "png"},
    {EASEL_FMT_GIF, "gif", "image/gif", "gif"},
    {EASEL_FMT_TIFF, "tiff", "image/tiff", "tif"},
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const char *easel_format_name(enum easel_format f)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].f == f)
            return formats[i].name;
    return "unknown";
}

const char *easel_format_mime(enum easel_format f)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].f == f)
            return formats[i].mime;
    return "application/octet-stream";
}

const char *easel_format_ext(enum easel_format f)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].f == f)
            return formats[i].ext;
    return "bin";
}

easel_err easel_format_parse(const char *s, enum easel_format *out)
{
    if (!s)
        return EASEL_EINVAL;
    if (strcmp(s, "jpg") == 0) {
        *out = EASEL_FMT_JPEG;
        return EASEL_OK;
    }
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(s, formats[i].name) == 0 && formats[i].f <= EASEL_FMT_PNG) {
            *out = formats[i].f;
            return EASEL_OK;
        }
    return EASEL_EINVAL;
}

easel_err easel_input_format_parse(const char *s, enum easel_format *out)
{
    /* the read-only formats, by name or extension ("tiff", "tif") */
    for (size_t i = 0; s && i < NFORMATS; i++)
        if (formats[i].f > EASEL_FMT_PNG &&
            (!strcmp(s, formats[i].name) || !strcmp(s, formats[i].ext))) {
            *out = formats[i].f;
            return EASEL_OK;
        }
    return EASEL_EINVAL;
}
