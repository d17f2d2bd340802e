/*
 * tfl_fb.c - the FlatBuffer reader of the TensorFlow Lite interpreter, for
 * the loader (tfl_load.c) and the densifier of sparse weights (tfl_ops.c),
 * and the one way both say why a model is refused (tfl_fail).
 *
 * Every read is checked against the file: a uoffset, soffset or vtable
 * entry that leaves the file sets f->bad and reads as 0, so a caller can
 * read a whole table and check once. Reads go through memcpy: a misaligned
 * offset cannot fault. TFLite files are little-endian, as is every target
 * easel builds for.
 */
#include <stdarg.h>
#include <string.h>

#include "tfl_int.h"

int tfl_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        easel_vfmt_cut(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

uint32_t tfl_fb_u32(struct tfl_fb *f, size_t off)
{
    uint32_t v;
    if (f->bad || off > f->n || f->n - off < 4) {
        f->bad = true;
        return 0;
    }
    memcpy(&v, f->b + off, 4);
    return v; /* TFLite files are little-endian, as is every target here */
}

uint16_t tfl_fb_u16(struct tfl_fb *f, size_t off)
{
    uint16_t v;
    if (f->bad || off > f->n || f->n - off < 2) {
        f->bad = true;
        return 0;
    }
    memcpy(&v, f->b + off, 2);
    return v;
}

/* Follows the uoffset stored at off; 0 (never a valid table) on error. */
size_t tfl_fb_deref(struct tfl_fb *f, size_t off)
{
    uint32_t d = tfl_fb_u32(f, off);
    if (f->bad || (uint64_t)off + d >= f->n) {
        f->bad = true;
        return 0;
    }
    return off + d;
}

/* Position of field id of the table at tab, or 0 when absent. */
size_t tfl_fb_field(struct tfl_fb *f, size_t tab, int id, size_t size)
{
    int32_t so = (int32_t)tfl_fb_u32(f, tab);
    int64_t vt = (int64_t)tab - so;
    if (f->bad || vt < 0 || (uint64_t)vt >= f->n) {
        f->bad = true;
        return 0;
    }
    uint16_t vlen = tfl_fb_u16(f, (size_t)vt);
    if (f->bad || vlen < 4 || (vlen & 1)) {
        f->bad = true;
        return 0;
    }
    if ((size_t)(4 + 2 * id) >= vlen)
        return 0;
    uint16_t fo = tfl_fb_u16(f, (size_t)vt + 4 + 2 * (size_t)id);
    if (f->bad || fo == 0)
        return 0;
    if ((uint64_t)tab + fo + size > f->n) {
        f->bad = true;
        return 0;
    }
    return tab + fo;
}

int64_t tfl_fb_scalar(struct tfl_fb *f, size_t tab, int id, size_t size,
                      bool is_signed, int64_t dflt)
{
    size_t p = tfl_fb_field(f, tab, id, size);
    if (!p)
        return dflt;
    switch (size) {
    case 1:
        return is_signed ? (int64_t)(int8_t)f->b[p] : (int64_t)f->b[p];
    case 2: {
        uint16_t v = tfl_fb_u16(f, p);
        return is_signed ? (int64_t)(int16_t)v : (int64_t)v;
    }
    default: {
        uint32_t v = tfl_fb_u32(f, p);
        return is_signed ? (int64_t)(int32_t)v : (int64_t)v;
    }
    }
}

/* A vector field: start of its elements and their count, bounds-checked
 * for elements of elem bytes. Returns false when absent or malformed. */
bool tfl_fb_vec(struct tfl_fb *f, size_t tab, int id, size_t elem, size_t *start,
                size_t *count)
{
    size_t p = tfl_fb_field(f, tab, id, 4);
    if (!p)
        return false;
    size_t v = tfl_fb_deref(f, p);
    uint32_t n = tfl_fb_u32(f, v);
    if (f->bad)
        return false;
    if ((f->n - v - 4) / elem < n) {
        f->bad = true;
        return false;
    }
    *start = v + 4;
    *count = n;
    return true;
}

/* Element k of a vector of tables. */
size_t tfl_fb_table_at(struct tfl_fb *f, size_t start, size_t k)
{
    return tfl_fb_deref(f, start + 4 * k);
}

