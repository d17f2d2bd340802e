/*
 * buf.c - growable, capped byte buffers. Every append either fits entirely
 * or fails and leaves the buffer as it was, so a caller never sees a half
 * appended value after an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/core.h"

void easel_buf_init(struct easel_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void easel_buf_cleanup(struct easel_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void easel_buf_reset(struct easel_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

easel_err easel_buf_reserve(struct easel_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return EASEL_ELIMIT;
    size_t need = b->len + extra + 1; /* room for the NUL */
    if (b->max && need - 1 > b->max)
        return EASEL_ELIMIT;
    if (need <= b->cap)
        return EASEL_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return EASEL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return EASEL_OK;
}

easel_err easel_buf_append(struct easel_buf *b, const void *p, size_t n)
{
    easel_err rc = easel_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return EASEL_OK;
}

easel_err easel_buf_puts(struct easel_buf *b, const char *s)
{
    return easel_buf_append(b, s, strlen(s));
}

easel_err easel_buf_vprintf(struct easel_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return EASEL_EINVAL;
    easel_err rc = easel_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    /* the room was sized by the first pass: a different length now means
     * an argument changed under us, and the bytes are not what was asked */
    if (vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap) != n) {
        b->data[b->len] = '\0';
        return EASEL_EINVAL;
    }
    b->len += (size_t)n;
    return EASEL_OK;
}

easel_err easel_buf_printf(struct easel_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    easel_err rc = easel_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

easel_err easel_buf_json_str(struct easel_buf *b, const char *s)
{
    size_t start = b->len;
    easel_err rc = easel_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            rc = easel_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = easel_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = easel_buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = easel_buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = easel_buf_append(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                /* six characters for a byte below 0x20: cannot be cut */
                rc = easel_snprintf(esc, sizeof(esc), "\\u%04x", *p);
                if (!rc)
                    rc = easel_buf_append(b, esc, 6);
            } else {
                rc = easel_buf_append(b, p, 1);
            }
        }
    }
    if (!rc)
        rc = easel_buf_append(b, "\"", 1);
    if (rc) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

char *easel_buf_steal(struct easel_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
