/*
 * multipart.c - multipart/form-data bodies (RFC 7578 over RFC 2046), the
 * way a browser's <form enctype="multipart/form-data"> or curl -F sends an
 * image with its fields to POST /estimate-body.
 *
 * The body is outside input: the boundary is checked against RFC 2046's
 * grammar (1 to 70 characters), every part must be closed by a delimiter,
 * header blocks are bounded, and a part without a form-data name is an
 * error. Parts point into the body; nothing is copied.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"

#define MAX_HEADER_BLOCK 8192

static int mfail(char *err, size_t errlen, const char *fmt, ...) EASEL_PRINTF(3, 4);
static int mfail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        easel_vfmt_cut(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const uint8_t *find(const uint8_t *h, size_t hl, const void *n, size_t nl)
{
    return nl <= hl ? memmem(h, hl, n, nl) : NULL;
}

/* bchars of RFC 2046 */
static bool bchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

/* The value of parameter `name` in a header value ("form-data; name=\"x\"";
 * also unquoted), into out; false when absent or too long. */
static bool param(const char *v, size_t vl, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < vl) {
        /* to the next ';' outside quotes */
        bool q = false;
        while (i < vl && (q || v[i] != ';')) {
            if (v[i] == '"')
                q = !q;
            i++;
        }
        if (i >= vl)
            return false;
        i++;
        while (i < vl && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (vl - i > nl && !strncasecmp(v + i, name, nl) && v[i + nl] == '=') {
            i += nl + 1;
            size_t o = 0;
            if (i < vl && v[i] == '"') {
                i++;
                while (i < vl && v[i] != '"') {
                    if (v[i] == '\\' && i + 1 < vl)
                        i++;
                    if (o + 1 >= outlen)
                        return false;
                    out[o++] = v[i++];
                }
                if (i >= vl)
                    return false; /* unclosed quote */
            } else {
                while (i < vl && v[i] != ';' && v[i] != ' ' && v[i] != '\t') {
                    if (o + 1 >= outlen)
                        return false;
                    out[o++] = v[i++];
                }
            }
            out[o] = '\0';
            return true;
        }
    }
    return false;
}

bool api_multipart_boundary(const char *content_type, char *out, size_t outlen)
{
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
        return false;
    const char *rest = content_type + 19;
    if (!param(rest, strlen(rest), "boundary", out, outlen))
        return false;
    size_t n = strlen(out);
    if (n < 1 || n > 70 || out[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!bchar(out[i]))
            return false;
    return true;
}

/* Reads the header block of one part: Content-Disposition and
 * Content-Type. */
static int part_headers(const uint8_t *h, size_t hl, struct api_part *p, char *err,
                        size_t errlen)
{
    bool disposition = false;
    size_t i = 0;
    while (i < hl) {
        const uint8_t *eol = find(h + i, hl - i, "\r\n", 2);
        size_t ll = eol ? (size_t)(eol - (h + i)) : hl - i;
        const char *line = (const char *)h + i;
        const char *colon = memchr(line, ':', ll);
        if (!colon)
            return mfail(err, errlen, "a part's header line has no colon");
        size_t kl = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vl = ll - kl - 1;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        for (size_t k = 0; k < vl; k++)
            if ((unsigned char)v[k] < 0x20 && v[k] != '\t')
                return mfail(err, errlen, "a part's header has a control character");
        if (kl == 19 && !strncasecmp(line, "content-disposition", 19)) {
            if (vl < 9 || strncasecmp(v, "form-data", 9) != 0 ||
                (vl > 9 && v[9] != ';' && v[9] != ' '))
                return mfail(err, errlen, "a part's Content-Disposition is not form-data");
            if (!param(v, vl, "name", p->name, sizeof(p->name)) || !p->name[0])
                return mfail(err, errlen, "a part has no name (or one over %zu bytes)",
                             sizeof(p->name) - 1);
            p->has_filename = param(v, vl, "filename", p->filename, sizeof(p->filename));
            disposition = true;
        } else if (kl == 12 && !strncasecmp(line, "content-type", 12)) {
            size_t n = vl < sizeof(p->type) - 1 ? vl : sizeof(p->type) - 1;
            memcpy(p->type, v, n);
            p->type[n] = '\0';
        }
        i += ll + (eol ? 2 : 0);
    }
    if (!disposition)
        return mfail(err, errlen, "a part has no Content-Disposition: form-data");
    return 0;
}

int api_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                        struct api_part *parts, int max, char *err, size_t errlen)
{
    char b[80], delim[84];
    if (!api_multipart_boundary(content_type, b, sizeof b))
        return mfail(err, errlen, "the Content-Type has no valid multipart boundary");
    int dl = snprintf(delim, sizeof delim, "--%s", b);
    /* the first delimiter: at the start, or after a preamble line */
    const uint8_t *p = NULL;
    if (len >= (size_t)dl && !memcmp(body, delim, (size_t)dl)) {
        p = body;
    } else {
        char crd[88];
        int cl = snprintf(crd, sizeof crd, "\r\n%s", delim);
        p = find(body, len, crd, (size_t)cl);
        if (p)
            p += 2;
    }
    if (!p)
        return mfail(err, errlen, "the body does not start with the boundary");
    const uint8_t *end = body + len;
    char next[88];
    int nl = snprintf(next, sizeof next, "\r\n%s", delim);
    int n = 0;
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return n; /* the close delimiter; an epilogue is ignored */
        /* transport padding, then CRLF */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return mfail(err, errlen, "a boundary line is not followed by CRLF");
        p += 2;
        if (n >= max)
            return mfail(err, errlen, "more than %d parts", max);
        struct api_part *part = &parts[n];
        memset(part, 0, sizeof(*part));
        const uint8_t *hend;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* no headers at all */
        } else {
            size_t look = (size_t)(end - p) < MAX_HEADER_BLOCK + 4 ? (size_t)(end - p)
                                                                    : MAX_HEADER_BLOCK + 4;
            hend = find(p, look, "\r\n\r\n", 4);
            if (!hend)
                return mfail(err, errlen, "a part's headers do not end (or exceed %d bytes)",
                             MAX_HEADER_BLOCK);
            if (part_headers(p, (size_t)(hend - p), part, err, errlen))
                return -1;
            hend += 2;
        }
        if (!part->name[0])
            return mfail(err, errlen, "a part has no Content-Disposition: form-data");
        const uint8_t *data = hend + 2;
        const uint8_t *stop = find(data, (size_t)(end - data), next, (size_t)nl);
        if (!stop)
            return mfail(err, errlen, "part \"%s\" is not closed by the boundary", part->name);
        part->data = data;
        part->len = (size_t)(stop - data);
        n++;
        p = stop + 2;
    }
}
