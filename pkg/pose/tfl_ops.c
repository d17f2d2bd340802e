/*
 * tfl_ops.c - the operators of the TensorFlow Lite interpreter: shape checks
 * done once at load, constant folding (dequantisation, densifying), and the
 * float32 kernels run per inference.
 *
 * The kernels follow TensorFlow Lite's reference semantics (padding,
 * rounding of coordinates in RESIZE_BILINEAR, DCR order in DEPTH_TO_SPACE).
 * Layout is NHWC with N = 1. The convolutions are the hot path: a 1x1
 * convolution is a matrix product, blocked 4 pixels by 16 output channels
 * so the accumulators stay in registers; on x86-64 an AVX2/FMA clone is
 * chosen at run time when the CPU has it.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/tflite.h"
#include "tfl_int.h"

/* Each hot kernel is compiled twice on x86-64: for the baseline and for
 * AVX2 with FMA, chosen once by what the CPU reports. */
#if defined(__x86_64__) && defined(__GNUC__)
#define TFL_DISPATCH 1
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

#define UNSUP(...) tfl_fail(err, errlen, EASEL_EUNSUPPORTED, __VA_ARGS__)
#define BAD(...) tfl_fail(err, errlen, EASEL_EPARSE, __VA_ARGS__)

/* ------------------------------------------------------------ constants */

float tfl_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) |
                   ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float rdf32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* Makes t->f hold the constant as float32, converting float16 and
 * (de)quantised int8/uint8 data. Sparse data must go through DENSIFY. */
static int const_f32(struct tfl_tensor *t, char *err, size_t errlen)
{
    if (t->f)
        return 0;
    if (!t->is_const || !t->raw)
        return BAD("malformed model: a constant without data");
    if (t->sparse)
        return UNSUP("a sparse constant read by an operator other than "
                     "DENSIFY");
    size_t n = t->count;
    t->f = malloc(n * sizeof(float) + 1);
    if (!t->f)
        return EASEL_ENOMEM;
    switch (t->type) {
    case TFL_F32:
        if (t->raw_len != n * 4)
            return BAD("malformed model: float32 constant of %zu bytes for "
                       "%zu values", t->raw_len, n);
        for (size_t k = 0; k < n; k++)
            t->f[k] = rdf32(t->raw + 4 * k);
        break;
    case TFL_F16:
        if (t->raw_len != n * 2)
            return BAD("malformed model: float16 constant of %zu bytes for "
                       "%zu values", t->raw_len, n);
        for (size_t k = 0; k < n; k++) {
            uint16_t h;
            memcpy(&h, t->raw + 2 * k, 2);
            t->f[k] = tfl_half_to_float(h);
        }
        break;
    case TFL_I8:
    case TFL_U8: {
        if (t->raw_len != n)
            return BAD("malformed model: 8-bit constant of %zu bytes for "
                       "%zu values", t->raw_len, n);
        if (t->nscale == 0 || (t->nzero != 0 && t->nzero != t->nscale))
            return BAD("malformed model: quantised constant without scales");
        /* per tensor, or per channel along qdim */
        size_t inner = 1, chans = 1;
        if (t->nscale > 1) {
            if (t->qdim < 0 || t->qdim >= t->ndim ||
                (size_t)t->dims[t->qdim] != t->nscale)
                return BAD("malformed model: per-channel scales do not match "
                           "the quantised dimension");
            chans = t->nscale;
            for (int d = t->qdim + 1; d < t->ndim; d++)
                inner *= (size_t)t->dims[d];
        }
        for (size_t k = 0; k < n; k++) {
            size_t c = chans > 1 ? (k / inner) % chans : 0;
            float scale = rdf32(t->scales + 4 * c);
            int64_t zero = 0;
            if (t->nzero)
                memcpy(&zero, t->zeros + 8 * c, 8);
            if (zero < -128 || zero > 255)
                return BAD("malformed model: zero point %lld out of range",
                           (long long)zero);
            int v = t->type == TFL_I8 ? (int8_t)t->raw[k] : t->raw[k];
            t->f[k] = (float)((double)(v - zero) * scale);
        }
        break;
    }
    default:
        return UNSUP("constant of tensor type %d where float was expected",
                     t->type);
    }
    for (size_t k = 0; k < n; k++)
        if (!isfinite(t->f[k]))
            return BAD("malformed model: a constant that is not finite");
    return 0;
}

static int const_i32(struct tfl_tensor *t, char *err, size_t errlen)
{
    if (t->i)
        return 0;
    if (!t->is_const || !t->raw || t->type != TFL_I32 ||
        t->raw_len != t->count * 4)
        return UNSUP("a shape or padding operand that is not a constant "
                     "int32 tensor");
    t->i = malloc(t->count * sizeof(int32_t) + 1);
    if (!t->i)
        return EASEL_ENOMEM;
    memcpy(t->i, t->raw, t->count * 4);
    return 0;
}

/* --------------------------------------------------------------- sparse */

/* A SparseIndexVector union member: element k as an integer. */
struct ivec {
    const uint8_t *p;
    size_t n;
    int w; /* bytes per element */
};

static int64_t ivec_at(const struct ivec *v, size_t k)
{
    if (v->w == 4) {
        int32_t x;
        memcpy(&x, v->p + 4 * k, 4);
        return x;
    }
    if (v->w == 2) {
        uint16_t x;
        memcpy(&x, v->p + 2 * k, 2);
        return x;
    }
    return v->p[k];
}

struct spdim {
    int fmt; /* 0 dense, 1 CSR */
    int dense;
    struct ivec seg, idx;
};

static bool read_ivec(struct tfl_fb *f, size_t dm, int type_id, int val_id,
                      struct ivec *out)
{
    size_t tp = tfl_fb_field(f, dm, type_id, 1);
    if (!tp)
        return false;
    int ty = f->b[tp];
    static const int width[4] = {0, 4, 2, 1};
    if (ty < 1 || ty > 3)
        return false;
    size_t vp = tfl_fb_field(f, dm, val_id, 4);
    if (!vp)
        return false;
    size_t tab = tfl_fb_deref(f, vp), s, n;
    if (f->bad || !tfl_fb_vec(f, tab, 0, (size_t)width[ty], &s, &n))
        return false;
    out->p = f->b + s;
    out->n = n;
    out->w = width[ty];
    return true;
}

static void densify_rec(const struct tfl_tensor *t, const struct spdim *d,
                        int level, size_t pos, size_t off, const float *vals,
                        float *out)
{
    if (level == t->ndim) {
        out[off] = vals[pos];
        return;
    }
    size_t dim = (size_t)t->dims[level];
    if (d[level].fmt == 0) {
        for (size_t i = 0; i < dim; i++)
            densify_rec(t, d, level + 1, pos * dim + i, off * dim + i, vals,
                        out);
    } else {
        size_t a = (size_t)ivec_at(&d[level].seg, pos);
        size_t b = (size_t)ivec_at(&d[level].seg, pos + 1);
        for (size_t j = a; j < b; j++)
            densify_rec(t, d, level + 1, j,
                        off * dim + (size_t)ivec_at(&d[level].idx, j), vals,
                        out);
    }
}

/* DENSIFY of a constant: TFLite's sparse format with the traversal order
 * the identity and no block map (what the converter writes for these
 * models). Every segment and index is checked before the walk. */
static int densify(struct easel_tfl_model *m, struct tfl_tensor *t,
                   float **out, char *err, size_t errlen)
{
    struct tfl_fb f = {m->file, m->file_len, false};
    struct spdim d[TFL_MAX_DIMS];
    size_t tab = (size_t)(t->sparsity - m->file), s, n;
    float *vals = NULL;
    int rc;

    if (tfl_fb_vec(&f, tab, 0, 4, &s, &n)) {
        if (n != (size_t)t->ndim)
            return UNSUP("sparse tensor with a traversal order of another "
                         "rank");
        for (size_t k = 0; k < n; k++)
            if (tfl_fb_u32(&f, s + 4 * k) != k)
                return UNSUP("sparse tensor with a traversal order other "
                             "than the identity");
    }
    if (tfl_fb_vec(&f, tab, 1, 4, &s, &n) && n > 0)
        return UNSUP("block-sparse tensor");
    if (!tfl_fb_vec(&f, tab, 2, 4, &s, &n) || n != (size_t)t->ndim)
        return BAD("malformed model: sparse tensor without one dimension "
                   "entry per dimension");
    size_t parents = 1;
    for (int k = 0; k < t->ndim; k++) {
        size_t dm = tfl_fb_deref(&f, s + 4 * (size_t)k);
        if (f.bad)
            return BAD("malformed model: sparsity out of bounds");
        size_t fp = tfl_fb_field(&f, dm, 0, 1);
        d[k].fmt = fp ? f.b[fp] : 0;
        size_t dp = tfl_fb_field(&f, dm, 1, 4);
        d[k].dense = dp ? (int)tfl_fb_u32(&f, dp) : 0;
        if (d[k].fmt == 0) {
            if (d[k].dense != t->dims[k])
                return BAD("malformed model: dense size %d for a dimension "
                           "of %d", d[k].dense, t->dims[k]);
            parents *= (size_t)t->dims[k];
        } else if (d[k].fmt == 1) {
            if (!read_ivec(&f, dm, 2, 3, &d[k].seg) ||
                !read_ivec(&f, dm, 4, 5, &d[k].idx))
                return BAD("malformed model: CSR dimension without segments "
                           "and indices");
            if (d[k].seg.n != parents + 1)
                return BAD("malformed model: %zu segments for %zu rows",
                           d[k].seg.n, parents);
            int64_t prev = 0;
            if (ivec_at(&d[k].seg, 0) != 0)
                return BAD("malformed model: segments do not start at 0");
            for (size_t j = 1; j < d[k].seg.n; j++) {
                int64_t v = ivec_at(&d[k].seg, j);
                if (v < prev || (uint64_t)v > d[k].idx.n)
                    return BAD("malformed model: segments out of order or "
                               "past the indices");
                prev = v;
            }
            for (size_t j = 0; j < d[k].idx.n; j++) {
                int64_t v = ivec_at(&d[k].idx, j);
                if (v < 0 || v >= t->dims[k])
                    return BAD("malformed model: sparse index out of range");
            }
            parents = (size_t)prev;
        } else {
            return UNSUP("sparse dimension format %d", d[k].fmt);
        }
        if (f.bad)
            return BAD("malformed model: sparsity out of bounds");
    }
    size_t esz = t->type == TFL_F16 ? 2 : t->type == TFL_F32 ? 4 : 0;
    if (!esz)
        return UNSUP("sparse tensor of type %d", t->type);
    if (!t->raw || t->raw_len != parents * esz)
        return BAD("malformed model: %zu sparse values for %zu stored "
                   "bytes", parents, t->raw_len);
    vals = malloc(parents * sizeof(float) + 1);
    *out = calloc(t->count, sizeof(float));
    if (!vals || !*out) {
        rc = EASEL_ENOMEM;
        goto fin;
    }
    for (size_t k = 0; k < parents; k++) {
        if (esz == 2) {
            uint16_t h;
            memcpy(&h, t->raw + 2 * k, 2);
            vals[k] = tfl_half_to_float(h);
        } else {
            vals[k] = rdf32(t->raw + 4 * k);
        }
        if (!isfinite(vals[k])) {
            rc = BAD("malformed model: a constant that is not finite");
            goto fin;
        }
    }
    densify_rec(t, d, 0, 0, 0, vals, *out);
    rc = 0;
fin:
    free(vals);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------- shapes */

static bool same_shape(const struct tfl_tensor *a, const struct tfl_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int k = 0; k < a->ndim; k++)
        if (a->dims[k] != b->dims[k])
            return false;
    return true;
}

static bool is4(const struct tfl_tensor *t)
{
    return t->ndim == 4 && t->dims[0] == 1;
}

static int out_dim(int in, int k, int stride, int dil, int padding,
                   int *pad_before)
{
    int eff = (k - 1) * dil + 1;
    int o;
    if (padding == 0) { /* SAME */
        o = (in + stride - 1) / stride;
        int total = (o - 1) * stride + eff - in;
        *pad_before = total > 0 ? total / 2 : 0;
    } else {
        o = in >= eff ? (in - eff) / stride + 1 : 0;
        *pad_before = 0;
    }
    return o;
}

static int check_window(const struct tfl_op *op, char *err, size_t errlen)
{
    if (op->padding != 0 && op->padding != 1)
        return BAD("malformed model: padding %d", op->padding);
    if (op->stride_w < 1 || op->stride_h < 1 || op->stride_w > 64 ||
        op->stride_h > 64 || op->dil_w < 1 || op->dil_h < 1 ||
        op->dil_w > 64 || op->dil_h > 64)
        return BAD("malformed model: stride or dilation out of range");
    if (op->act < TFL_ACT_NONE || op->act > TFL_ACT_RELU6)
        return UNSUP("fused activation %d", op->act);
    return 0;
}

static int want_out(struct easel_tfl_model *m, const struct tfl_op *op,
                    int ndim, const int *dims, char *err, size_t errlen)
{
    const struct tfl_tensor *o = &m->t[op->out];
    bool ok = o->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++)
        ok = o->dims[k] == dims[k];
    if (!ok)
        return BAD("malformed model: output shape does not follow from the "
                   "inputs");
    if (o->type != TFL_F32 && op->code != TFL_OP_DENSIFY)
        return UNSUP("output of type %d (easel computes in float32)",
                     o->type);
    return 0;
}

/* The input tensor at slot i must be an activation or a float constant;
 * converts constants. */
static int fin(struct easel_tfl_model *m, const struct tfl_op *op, int i,
               char *err, size_t errlen)
{
    if (i >= op->nin || op->in[i] < 0)
        return BAD("malformed model: operator input %d missing", i);
    struct tfl_tensor *t = &m->t[op->in[i]];
    if (t->is_const)
        return const_f32(t, err, errlen);
    if (t->type != TFL_F32)
        return UNSUP("activation of type %d (easel computes in float32)",
                     t->type);
    return 0;
}

static int pack_conv(struct easel_tfl_model *m, struct tfl_op *op)
{
    const struct tfl_tensor *w = &m->t[op->in[1]];
    int co = w->dims[0], kh = w->dims[1], kw = w->dims[2], ci = w->dims[3];
    op->packed = malloc(w->count * sizeof(float));
    if (!op->packed)
        return EASEL_ENOMEM;
    for (int o = 0; o < co; o++)
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++)
                for (int c = 0; c < ci; c++)
                    op->packed[(((size_t)y * kw + x) * ci + c) * co + o] =
                        w->f[(((size_t)o * kh + y) * kw + x) * ci + c];
    return 0;
}

int tfl_op_check(struct easel_tfl_model *m, struct tfl_op *op, char *err,
                 size_t errlen)
{
    int rc, dims[TFL_MAX_DIMS];
    struct tfl_tensor *in, *t1;

    for (int i = 0; i < op->nin; i++)
        if (op->in[i] == op->out)
            return BAD("malformed model: an operator reads its own output");
    switch (op->code) {
    case TFL_OP_CONV_2D:
    case TFL_OP_DEPTHWISE_CONV_2D: {
        if ((rc = fin(m, op, 0, err, errlen)) || (rc = fin(m, op, 1, err, errlen)))
            return rc;
        if ((rc = check_window(op, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        t1 = &m->t[op->in[1]];
        if (!is4(in) || t1->ndim != 4 || !t1->is_const)
            return UNSUP("convolution that is not 4-D NHWC with constant "
                         "weights");
        if (t1->dims[1] > 4096 || t1->dims[2] > 4096)
            return BAD("malformed model: a %dx%d convolution window", t1->dims[1],
                       t1->dims[2]);
        int cout, cin = in->dims[3];
        if (op->code == TFL_OP_CONV_2D) {
            cout = t1->dims[0];
            if (t1->dims[3] != cin)
                return BAD("malformed model: convolution weights of %d "
                           "input channels for %d", t1->dims[3], cin);
        } else {
            cout = t1->dims[3];
            if (t1->dims[0] != 1 || op->depth_mult < 1 ||
                (long)cin * op->depth_mult != cout)
                return BAD("malformed model: depthwise weights do not "
                           "match the channels");
        }
        if (op->nin > 2 && op->in[2] >= 0) {
            if ((rc = fin(m, op, 2, err, errlen)))
                return rc;
            if (m->t[op->in[2]].count != (size_t)cout || !m->t[op->in[2]].is_const)
                return BAD("malformed model: bias size");
        }
        int pt, pl;
        dims[0] = 1;
        dims[1] = out_dim(in->dims[1], t1->dims[1], op->stride_h, op->dil_h,
                          op->padding, &pt);
        dims[2] = out_dim(in->dims[2], t1->dims[2], op->stride_w, op->dil_w,
                          op->padding, &pl);
        dims[3] = cout;
        if ((rc = want_out(m, op, 4, dims, err, errlen)))
            return rc;
        if (op->code == TFL_OP_CONV_2D && !op->packed)
            return pack_conv(m, op);
        return 0;
    }
    case TFL_OP_MAX_POOL_2D:
    case TFL_OP_AVERAGE_POOL_2D: {
        if ((rc = fin(m, op, 0, err, errlen)) ||
            (rc = check_window(op, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        if (!is4(in) || op->filter_w < 1 || op->filter_h < 1 ||
            op->filter_w > 256 || op->filter_h > 256)
            return BAD("malformed model: pooling window");
        int pt, pl;
        dims[0] = 1;
        dims[1] = out_dim(in->dims[1], op->filter_h, op->stride_h, 1,
                          op->padding, &pt);
        dims[2] = out_dim(in->dims[2], op->filter_w, op->stride_w, 1,
                          op->padding, &pl);
        dims[3] = in->dims[3];
        return want_out(m, op, 4, dims, err, errlen);
    }
    case TFL_OP_ADD:
    case TFL_OP_MUL: {
        if (op->nin != 2)
            return BAD("malformed model: binary operator with %d inputs",
                       op->nin);
        if ((rc = fin(m, op, 0, err, errlen)) || (rc = fin(m, op, 1, err, errlen)))
            return rc;
        if (op->act < TFL_ACT_NONE || op->act > TFL_ACT_RELU6)
            return UNSUP("fused activation %d", op->act);
        in = &m->t[op->in[0]];
        t1 = &m->t[op->in[1]];
        if (same_shape(in, t1))
            return want_out(m, op, in->ndim, in->dims, err, errlen);
        /* broadcasting: right-aligned, each dimension equal or 1 */
        int nd = in->ndim > t1->ndim ? in->ndim : t1->ndim;
        if (nd > 4)
            return UNSUP("broadcast over more than 4 dimensions");
        for (int k = 0; k < nd; k++) {
            int a = k - (nd - in->ndim) >= 0 ? in->dims[k - (nd - in->ndim)] : 1;
            int b = k - (nd - t1->ndim) >= 0 ? t1->dims[k - (nd - t1->ndim)] : 1;
            if (a != b && a != 1 && b != 1)
                return BAD("malformed model: shapes that do not broadcast");
            dims[k] = a > b ? a : b;
        }
        return want_out(m, op, nd, dims, err, errlen);
    }
    case TFL_OP_LOGISTIC:
    case TFL_OP_RELU:
    case TFL_OP_RELU6:
        if ((rc = fin(m, op, 0, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        return want_out(m, op, in->ndim, in->dims, err, errlen);
    case TFL_OP_RESHAPE:
        if ((rc = fin(m, op, 0, err, errlen)))
            return rc;
        if (m->t[op->out].count != m->t[op->in[0]].count)
            return BAD("malformed model: reshape changes the element count");
        return want_out(m, op, m->t[op->out].ndim, m->t[op->out].dims, err,
                        errlen);
    case TFL_OP_PAD: {
        if (op->nin < 2 || op->in[1] < 0)
            return BAD("malformed model: PAD without paddings");
        if ((rc = fin(m, op, 0, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        t1 = &m->t[op->in[1]];
        if ((rc = const_i32(t1, err, errlen)))
            return rc;
        if (in->ndim != 4 || t1->ndim != 2 || t1->dims[0] != 4 ||
            t1->dims[1] != 2)
            return UNSUP("PAD of a tensor that is not 4-D");
        for (int k = 0; k < 4; k++) {
            int a = t1->i[2 * k], b = t1->i[2 * k + 1];
            if (a < 0 || b < 0 || a > 4096 || b > 4096)
                return BAD("malformed model: padding out of range");
            dims[k] = in->dims[k] + a + b;
        }
        return want_out(m, op, 4, dims, err, errlen);
    }
    case TFL_OP_RESIZE_BILINEAR: {
        if (op->nin < 2 || op->in[1] < 0)
            return BAD("malformed model: RESIZE without size");
        if ((rc = fin(m, op, 0, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        t1 = &m->t[op->in[1]];
        if ((rc = const_i32(t1, err, errlen)))
            return rc;
        if (!is4(in) || t1->count != 2 || t1->i[0] < 1 || t1->i[1] < 1 ||
            t1->i[0] > 16384 || t1->i[1] > 16384)
            return BAD("malformed model: resize size");
        if (op->align_corners && op->half_pixel)
            return BAD("malformed model: align_corners with "
                       "half_pixel_centers");
        dims[0] = 1;
        dims[1] = t1->i[0];
        dims[2] = t1->i[1];
        dims[3] = in->dims[3];
        return want_out(m, op, 4, dims, err, errlen);
    }
    case TFL_OP_CONCATENATION: {
        const struct tfl_tensor *o = &m->t[op->out];
        int axis = op->axis < 0 ? op->axis + o->ndim : op->axis;
        if (axis < 0 || axis >= o->ndim)
            return BAD("malformed model: concatenation axis");
        if (op->act != TFL_ACT_NONE)
            return UNSUP("fused activation on concatenation");
        long sum = 0;
        for (int i = 0; i < op->nin; i++) {
            if ((rc = fin(m, op, i, err, errlen)))
                return rc;
            in = &m->t[op->in[i]];
            if (in->ndim != o->ndim)
                return BAD("malformed model: concatenation of mixed ranks");
            for (int k = 0; k < o->ndim; k++)
                if (k != axis && in->dims[k] != o->dims[k])
                    return BAD("malformed model: concatenation shapes");
            sum += in->dims[axis];
        }
        memcpy(dims, o->dims, sizeof dims);
        dims[axis] = (int)(sum > 1 << 28 ? 0 : sum);
        return want_out(m, op, o->ndim, dims, err, errlen);
    }
    case TFL_OP_DEPTH_TO_SPACE: {
        if ((rc = fin(m, op, 0, err, errlen)))
            return rc;
        in = &m->t[op->in[0]];
        int b = op->block;
        if (!is4(in) || b < 1 || b > 64 || in->dims[3] % (b * b) != 0)
            return BAD("malformed model: depth to space block");
        dims[0] = 1;
        dims[1] = in->dims[1] * b;
        dims[2] = in->dims[2] * b;
        dims[3] = in->dims[3] / (b * b);
        return want_out(m, op, 4, dims, err, errlen);
    }
    case TFL_OP_DEQUANTIZE:
    case TFL_OP_DENSIFY:
        return UNSUP("%s of a tensor computed at run time",
                     op->code == TFL_OP_DENSIFY ? "DENSIFY" : "DEQUANTIZE");
    default:
        return UNSUP("operator code %d", op->code);
    }
}

int tfl_op_fold(struct easel_tfl_model *m, struct tfl_op *op, char *err,
                size_t errlen)
{
    struct tfl_tensor *o = &m->t[op->out];
    struct tfl_tensor *in = op->in[0] >= 0 ? &m->t[op->in[0]] : NULL;
    int rc;

    if (!in)
        return BAD("malformed model: operator input missing");
    if (op->code == TFL_OP_DENSIFY) {
        if (!in->sparse || !same_shape(in, o))
            return BAD("malformed model: DENSIFY of a tensor that is not "
                       "sparse, or to another shape");
        float *dense = NULL;
        if ((rc = densify(m, in, &dense, err, errlen)))
            return rc;
        o->f = dense;
        return 0;
    }
    if (op->code == TFL_OP_DEQUANTIZE) {
        if (!same_shape(in, o) || o->type != TFL_F32)
            return BAD("malformed model: DEQUANTIZE to another shape or "
                       "type");
        if ((rc = const_f32(in, err, errlen)))
            return rc;
        if (m->readers && m->readers[op->in[0]] == 1 &&
            !(m->runtime && m->runtime[op->in[0]])) {
            o->f = in->f; /* the last reader: take it over */
            in->f = NULL;
            return 0;
        }
        o->f = malloc(o->count * sizeof(float) + 1);
        if (!o->f)
            return EASEL_ENOMEM;
        memcpy(o->f, in->f, o->count * sizeof(float));
        return 0;
    }
    /* any other operator on constants: check it, run it once */
    if ((rc = tfl_op_check(m, op, err, errlen)))
        return rc;
    float *buf = malloc(o->count * sizeof(float) + 1);
    if (!buf)
        return EASEL_ENOMEM;
    m->act[op->out] = buf;
    tfl_op_run(m, op, m->act);
    m->act[op->out] = NULL;
    o->f = buf;
    return 0;
}

/* ---------------------------------------------------------------- kernels */

static const float *IN(const struct easel_tfl_model *m, float **buf, int t)
{
    return m->t[t].is_const ? m->t[t].f : buf[t];
}

static void activate(float *p, size_t n, int act)
{
    switch (act) {
    case TFL_ACT_RELU:
        for (size_t k = 0; k < n; k++)
            p[k] = p[k] < 0.f ? 0.f : p[k];
        break;
    case TFL_ACT_RELU6:
        for (size_t k = 0; k < n; k++)
            p[k] = p[k] < 0.f ? 0.f : p[k] > 6.f ? 6.f : p[k];
        break;
    case TFL_ACT_RELU_N1_TO_1:
        for (size_t k = 0; k < n; k++)
            p[k] = p[k] < -1.f ? -1.f : p[k] > 1.f ? 1.f : p[k];
        break;
    default:
        break;
    }
}

/* Eight floats as one value: AVX registers in the AVX2 variant, pairs of
 * SSE registers in the baseline. Loads and stores go through memcpy, so
 * nothing here assumes alignment. */
typedef float v8 __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v8 ld8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void st8(float *p, v8 v)
{
    memcpy(p, &v, sizeof v);
}

static inline __attribute__((always_inline)) v8 splat8(float x)
{
    return (v8){x, x, x, x, x, x, x, x};
}

#define PX_BLK 4

/* out[p][co] = bias[co] + sum_ci in[p][ci] * w[ci][co], for P pixels:
 * blocks of 4 pixels by 16 channels keep 8 accumulators in registers. */
HOT void gemm(const float *in, const float *w, const float *bias, float *out,
              size_t P, int cin, int cout)
{
    int co = 0;
    for (; co + 16 <= cout; co += 16) {
        v8 b0 = bias ? ld8(bias + co) : splat8(0.f);
        v8 b1 = bias ? ld8(bias + co + 8) : splat8(0.f);
        size_t p = 0;
        for (; p + PX_BLK <= P; p += PX_BLK) {
            const float *a0 = in + p * (size_t)cin, *a1 = a0 + cin,
                        *a2 = a1 + cin, *a3 = a2 + cin;
            v8 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1,
               c30 = b0, c31 = b1;
            const float *wr = w + co;
            for (int ci = 0; ci < cin; ci++, wr += cout) {
                v8 w0 = ld8(wr), w1 = ld8(wr + 8);
                v8 x = splat8(a0[ci]);
                c00 += x * w0;
                c01 += x * w1;
                x = splat8(a1[ci]);
                c10 += x * w0;
                c11 += x * w1;
                x = splat8(a2[ci]);
                c20 += x * w0;
                c21 += x * w1;
                x = splat8(a3[ci]);
                c30 += x * w0;
                c31 += x * w1;
            }
            float *o = out + p * (size_t)cout + co;
            st8(o, c00);
            st8(o + 8, c01);
            o += cout;
            st8(o, c10);
            st8(o + 8, c11);
            o += cout;
            st8(o, c20);
            st8(o + 8, c21);
            o += cout;
            st8(o, c30);
            st8(o + 8, c31);
        }
        for (; p < P; p++) {
            const float *a = in + p * (size_t)cin, *wr = w + co;
            v8 c0 = b0, c1 = b1;
            for (int ci = 0; ci < cin; ci++, wr += cout) {
                v8 x = splat8(a[ci]);
                c0 += x * ld8(wr);
                c1 += x * ld8(wr + 8);
            }
            st8(out + p * (size_t)cout + co, c0);
            st8(out + p * (size_t)cout + co + 8, c1);
        }
    }
    for (; co + 8 <= cout; co += 8) {
        v8 b0 = bias ? ld8(bias + co) : splat8(0.f);
        for (size_t p = 0; p < P; p++) {
            const float *a = in + p * (size_t)cin, *wr = w + co;
            v8 c0 = b0;
            for (int ci = 0; ci < cin; ci++, wr += cout)
                c0 += splat8(a[ci]) * ld8(wr);
            st8(out + p * (size_t)cout + co, c0);
        }
    }
    for (; co < cout; co++)
        for (size_t p = 0; p < P; p++) {
            const float *a = in + p * (size_t)cin;
            float acc = bias ? bias[co] : 0.f;
            for (int ci = 0; ci < cin; ci++)
                acc += a[ci] * w[(size_t)ci * cout + co];
            out[p * (size_t)cout + co] = acc;
        }
}

/* The taps [*lo, *hi) of a window of k taps, dil apart, starting at base,
 * that fall inside 0..n-1. */
static inline void taps(int base, int k, int dil, int n, int *lo, int *hi)
{
    int l = base < 0 ? (-base + dil - 1) / dil : 0;
    int h = base > n - 1 ? 0 : (n - 1 - base) / dil + 1;
    *lo = l;
    *hi = h < k ? h : k;
}

/* Any other convolution: per output pixel, 8 output channels at a time
 * (then one at a time) over the taps that fall inside the image. */
HOT void conv_general(const float *in, const int *id, const float *w,
                      const float *bias, float *out, const int *od, int kh,
                      int kw, const struct tfl_op *op, int pt, int pl)
{
    int W = id[2], cin = id[3], OH = od[1], OW = od[2], cout = od[3];
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * cout;
            int y0 = oy * op->stride_h - pt, x0 = ox * op->stride_w - pl, ky0, ky1, kx0, kx1;
            taps(y0, kh, op->dil_h, id[1], &ky0, &ky1);
            taps(x0, kw, op->dil_w, W, &kx0, &kx1);
            for (int co = 0; co < cout;) {
                int wide = cout - co >= 8;
                v8 acc = splat8(0.f);
                float one = 0.f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *a =
                            in + ((size_t)(y0 + ky * op->dil_h) * W + x0 + kx * op->dil_w) * cin;
                        const float *wk = w + ((size_t)ky * kw + kx) * cin * cout + co;
                        if (wide)
                            for (int ci = 0; ci < cin; ci++)
                                acc += splat8(a[ci]) * ld8(wk + (size_t)ci * cout);
                        else
                            for (int ci = 0; ci < cin; ci++)
                                one += a[ci] * wk[(size_t)ci * cout];
                    }
                if (wide) {
                    st8(o + co, acc + (bias ? ld8(bias + co) : splat8(0.f)));
                    co += 8;
                } else {
                    o[co] = one + (bias ? bias[co] : 0.f);
                    co++;
                }
            }
        }
}

/* Depthwise: each output channel sees one input channel; 8 channels at a
 * time (then one at a time) with the accumulator held across the taps. */
HOT void dwconv_rows(const float *in, const int *id, const float *w,
                     const float *bias, float *out, const int *od, int kh,
                     int kw, const struct tfl_op *op, int pt, int pl)
{
    int W = id[2], cin = id[3], OH = od[1], OW = od[2], cout = od[3], mult = op->depth_mult;
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * cout;
            int y0 = oy * op->stride_h - pt, x0 = ox * op->stride_w - pl, ky0, ky1, kx0, kx1;
            taps(y0, kh, op->dil_h, id[1], &ky0, &ky1);
            taps(x0, kw, op->dil_w, W, &kx0, &kx1);
            for (int c = 0; c < cout;) {
                int wide = mult == 1 && cout - c >= 8;
                v8 acc = splat8(0.f);
                float one = 0.f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *a =
                            in + ((size_t)(y0 + ky * op->dil_h) * W + x0 + kx * op->dil_w) * cin;
                        const float *wk = w + ((size_t)ky * kw + kx) * cout;
                        if (wide)
                            acc += ld8(a + c) * ld8(wk + c);
                        else
                            one += a[c / mult] * wk[c];
                    }
                if (wide) {
                    st8(o + c, acc + (bias ? ld8(bias + c) : splat8(0.f)));
                    c += 8;
                } else {
                    o[c] = one + (bias ? bias[c] : 0.f);
                    c++;
                }
            }
        }
}

/* The variants of the hot kernels, and the choice between them. */
#define KERNEL_VARIANTS(attr, sfx)                                            \
    attr static void gemm_##sfx(const float *in, const float *w,              \
                                const float *bias, float *out, size_t P,      \
                                int cin, int cout)                            \
    {                                                                         \
        gemm(in, w, bias, out, P, cin, cout);                                 \
    }                                                                         \
    attr static void conv_##sfx(const float *in, const int *id,               \
                                const float *w, const float *bias,            \
                                float *out, const int *od, int kh, int kw,    \
                                const struct tfl_op *op, int pt, int pl)      \
    {                                                                         \
        conv_general(in, id, w, bias, out, od, kh, kw, op, pt, pl);           \
    }                                                                         \
    attr static void dw_##sfx(const float *in, const int *id, const float *w, \
                              const float *bias, float *out, const int *od,   \
                              int kh, int kw, const struct tfl_op *op,        \
                              int pt, int pl)                                 \
    {                                                                         \
        dwconv_rows(in, id, w, bias, out, od, kh, kw, op, pt, pl);            \
    }

KERNEL_VARIANTS(, base)
#ifdef TFL_DISPATCH
KERNEL_VARIANTS(__attribute__((target("avx2,fma"))), avx2)
#endif

#ifdef TFL_DISPATCH
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static bool cpu_avx2;

static void cpu_probe(void)
{
    __builtin_cpu_init();
    cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

static bool use_avx2(void)
{
#ifdef TFL_DISPATCH
    pthread_once(&cpu_once, cpu_probe);
    return cpu_avx2;
#else
    return false;
#endif
}

#ifdef TFL_DISPATCH
#define PICK(name, ...)                                                        \
    (use_avx2() ? name##_avx2(__VA_ARGS__) : name##_base(__VA_ARGS__))
#else
#define PICK(name, ...) name##_base(__VA_ARGS__)
#endif

static void conv2d(const struct easel_tfl_model *m, const struct tfl_op *op,
                   float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *tw = &m->t[op->in[1]],
                            *to = &m->t[op->out];
    const float *bias = op->nin > 2 && op->in[2] >= 0 ? m->t[op->in[2]].f : NULL;
    int kh = tw->dims[1], kw = tw->dims[2], pt, pl;
    out_dim(ti->dims[1], kh, op->stride_h, op->dil_h, op->padding, &pt);
    out_dim(ti->dims[2], kw, op->stride_w, op->dil_w, op->padding, &pl);
    float *out = buf[op->out];
    if (kh == 1 && kw == 1 && op->stride_h == 1 && op->stride_w == 1)
        PICK(gemm, IN(m, buf, op->in[0]), op->packed, bias, out,
             (size_t)ti->dims[1] * ti->dims[2], ti->dims[3], to->dims[3]);
    else
        PICK(conv, IN(m, buf, op->in[0]), ti->dims, op->packed, bias, out,
                     to->dims, kh, kw, op, pt, pl);
    activate(out, to->count, op->act);
}

static void dwconv(const struct easel_tfl_model *m, const struct tfl_op *op,
                   float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *tw = &m->t[op->in[1]],
                            *to = &m->t[op->out];
    const float *bias = op->nin > 2 && op->in[2] >= 0 ? m->t[op->in[2]].f : NULL;
    int kh = tw->dims[1], kw = tw->dims[2], pt, pl;
    out_dim(ti->dims[1], kh, op->stride_h, op->dil_h, op->padding, &pt);
    out_dim(ti->dims[2], kw, op->stride_w, op->dil_w, op->padding, &pl);
    PICK(dw, IN(m, buf, op->in[0]), ti->dims, tw->f, bias, buf[op->out],
                to->dims, kh, kw, op, pt, pl);
    activate(buf[op->out], to->count, op->act);
}

static void pool(const struct easel_tfl_model *m, const struct tfl_op *op,
                 float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *to = &m->t[op->out];
    const float *in = IN(m, buf, op->in[0]);
    float *out = buf[op->out];
    int H = ti->dims[1], W = ti->dims[2], C = ti->dims[3], pt, pl;
    out_dim(H, op->filter_h, op->stride_h, 1, op->padding, &pt);
    out_dim(W, op->filter_w, op->stride_w, 1, op->padding, &pl);
    bool avg = op->code == TFL_OP_AVERAGE_POOL_2D;
    for (int oy = 0; oy < to->dims[1]; oy++)
        for (int ox = 0; ox < to->dims[2]; ox++) {
            float *o = out + ((size_t)oy * to->dims[2] + ox) * C;
            int n = 0;
            for (int c = 0; c < C; c++)
                o[c] = avg ? 0.f : -INFINITY;
            for (int ky = 0; ky < op->filter_h; ky++) {
                int iy = oy * op->stride_h - pt + ky;
                if (iy < 0 || iy >= H)
                    continue;
                for (int kx = 0; kx < op->filter_w; kx++) {
                    int ix = ox * op->stride_w - pl + kx;
                    if (ix < 0 || ix >= W)
                        continue;
                    const float *a = in + ((size_t)iy * W + ix) * C;
                    n++;
                    for (int c = 0; c < C; c++)
                        o[c] = avg ? o[c] + a[c] : (a[c] > o[c] ? a[c] : o[c]);
                }
            }
            if (avg && n > 0)
                for (int c = 0; c < C; c++)
                    o[c] /= (float)n;
            if (n == 0)
                for (int c = 0; c < C; c++)
                    o[c] = 0.f;
        }
    activate(out, to->count, op->act);
}

static void binary(const struct easel_tfl_model *m, const struct tfl_op *op,
                   float **buf)
{
    const struct tfl_tensor *ta = &m->t[op->in[0]], *tb = &m->t[op->in[1]],
                            *to = &m->t[op->out];
    const float *a = IN(m, buf, op->in[0]), *b = IN(m, buf, op->in[1]);
    float *o = buf[op->out];
    bool mul = op->code == TFL_OP_MUL;
    if (same_shape(ta, tb)) {
        for (size_t k = 0; k < to->count; k++)
            o[k] = mul ? a[k] * b[k] : a[k] + b[k];
    } else {
        /* right-aligned broadcast over up to 4 dimensions */
        int nd = to->ndim, od[4] = {1, 1, 1, 1}, ad[4] = {1, 1, 1, 1},
            bd[4] = {1, 1, 1, 1};
        for (int k = 0; k < nd; k++)
            od[4 - nd + k] = to->dims[k];
        for (int k = 0; k < ta->ndim; k++)
            ad[4 - ta->ndim + k] = ta->dims[k];
        for (int k = 0; k < tb->ndim; k++)
            bd[4 - tb->ndim + k] = tb->dims[k];
        size_t as[4], bs[4], sa = 1, sb = 1;
        for (int k = 3; k >= 0; k--) {
            as[k] = ad[k] == 1 ? 0 : sa;
            bs[k] = bd[k] == 1 ? 0 : sb;
            sa *= (size_t)ad[k];
            sb *= (size_t)bd[k];
        }
        size_t k = 0;
        for (int i0 = 0; i0 < od[0]; i0++)
            for (int i1 = 0; i1 < od[1]; i1++)
                for (int i2 = 0; i2 < od[2]; i2++)
                    for (int i3 = 0; i3 < od[3]; i3++) {
                        float x = a[i0 * as[0] + i1 * as[1] + i2 * as[2] +
                                    i3 * as[3]];
                        float y = b[i0 * bs[0] + i1 * bs[1] + i2 * bs[2] +
                                    i3 * bs[3]];
                        o[k++] = mul ? x * y : x + y;
                    }
    }
    activate(o, to->count, op->act);
}

static void pad(const struct easel_tfl_model *m, const struct tfl_op *op,
                float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *to = &m->t[op->out];
    const int32_t *p = m->t[op->in[1]].i;
    const float *in = IN(m, buf, op->in[0]);
    float *out = buf[op->out];
    memset(out, 0, to->count * sizeof(float));
    const int *id = ti->dims, *od = to->dims;
    size_t row = (size_t)id[3];
    for (int n = 0; n < id[0]; n++)
        for (int y = 0; y < id[1]; y++)
            for (int x = 0; x < id[2]; x++) {
                size_t src = (((size_t)n * id[1] + y) * id[2] + x) * id[3];
                size_t dst = ((((size_t)n + p[0]) * od[1] + y + p[2]) * od[2] +
                              x + p[4]) * od[3] + p[6];
                memcpy(out + dst, in + src, row * sizeof(float));
            }
}

static void resize_bilinear(const struct easel_tfl_model *m,
                            const struct tfl_op *op, float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *to = &m->t[op->out];
    const float *in = IN(m, buf, op->in[0]);
    float *out = buf[op->out];
    int H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
    int OH = to->dims[1], OW = to->dims[2];
    float sy = op->align_corners && OH > 1 ? (float)(H - 1) / (float)(OH - 1)
                                           : (float)H / (float)OH;
    float sx = op->align_corners && OW > 1 ? (float)(W - 1) / (float)(OW - 1)
                                           : (float)W / (float)OW;
    for (int y = 0; y < OH; y++) {
        float fy = op->half_pixel ? ((float)y + 0.5f) * sy - 0.5f : (float)y * sy;
        int y0 = (int)floorf(fy);
        y0 = y0 < 0 ? 0 : y0;
        int y1 = (int)ceilf(fy);
        y1 = y1 > H - 1 ? H - 1 : y1;
        y1 = y1 < 0 ? 0 : y1;
        float dy = fy - (float)y0;
        for (int x = 0; x < OW; x++) {
            float fx = op->half_pixel ? ((float)x + 0.5f) * sx - 0.5f
                                      : (float)x * sx;
            int x0 = (int)floorf(fx);
            x0 = x0 < 0 ? 0 : x0;
            int x1 = (int)ceilf(fx);
            x1 = x1 > W - 1 ? W - 1 : x1;
            x1 = x1 < 0 ? 0 : x1;
            float dx = fx - (float)x0;
            const float *p00 = in + ((size_t)y0 * W + x0) * C;
            const float *p01 = in + ((size_t)y0 * W + x1) * C;
            const float *p10 = in + ((size_t)y1 * W + x0) * C;
            const float *p11 = in + ((size_t)y1 * W + x1) * C;
            float *o = out + ((size_t)y * OW + x) * C;
            for (int c = 0; c < C; c++)
                o[c] = p00[c] * (1 - dy) * (1 - dx) + p10[c] * dy * (1 - dx) +
                       p01[c] * (1 - dy) * dx + p11[c] * dy * dx;
        }
    }
}

static void concat(const struct easel_tfl_model *m, const struct tfl_op *op,
                   float **buf)
{
    const struct tfl_tensor *to = &m->t[op->out];
    int axis = op->axis < 0 ? op->axis + to->ndim : op->axis;
    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= (size_t)to->dims[k];
    for (int k = axis + 1; k < to->ndim; k++)
        inner *= (size_t)to->dims[k];
    float *o = buf[op->out];
    for (size_t q = 0; q < outer; q++)
        for (int i = 0; i < op->nin; i++) {
            size_t n = (size_t)m->t[op->in[i]].dims[axis] * inner;
            memcpy(o, IN(m, buf, op->in[i]) + q * n, n * sizeof(float));
            o += n;
        }
}

static void depth_to_space(const struct easel_tfl_model *m,
                           const struct tfl_op *op, float **buf)
{
    const struct tfl_tensor *ti = &m->t[op->in[0]], *to = &m->t[op->out];
    const float *in = IN(m, buf, op->in[0]);
    float *out = buf[op->out];
    int b = op->block, H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
    int OC = to->dims[3], OW = to->dims[2];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int by = 0; by < b; by++)
                for (int bx = 0; bx < b; bx++)
                    memcpy(out + (((size_t)y * b + by) * OW + (size_t)x * b +
                                  bx) * OC,
                           in + ((size_t)y * W + x) * C +
                               (size_t)(by * b + bx) * OC,
                           (size_t)OC * sizeof(float));
}

void tfl_op_run(struct easel_tfl_model *m, const struct tfl_op *op,
                float **buf)
{
    const struct tfl_tensor *to = &m->t[op->out];
    float *o = buf[op->out];
    switch (op->code) {
    case TFL_OP_CONV_2D:
        conv2d(m, op, buf);
        break;
    case TFL_OP_DEPTHWISE_CONV_2D:
        dwconv(m, op, buf);
        break;
    case TFL_OP_MAX_POOL_2D:
    case TFL_OP_AVERAGE_POOL_2D:
        pool(m, op, buf);
        break;
    case TFL_OP_ADD:
    case TFL_OP_MUL:
        binary(m, op, buf);
        break;
    case TFL_OP_PAD:
        pad(m, op, buf);
        break;
    case TFL_OP_RESIZE_BILINEAR:
        resize_bilinear(m, op, buf);
        break;
    case TFL_OP_CONCATENATION:
        concat(m, op, buf);
        break;
    case TFL_OP_DEPTH_TO_SPACE:
        depth_to_space(m, op, buf);
        break;
    case TFL_OP_RESHAPE:
        memcpy(o, IN(m, buf, op->in[0]), to->count * sizeof(float));
        break;
    case TFL_OP_LOGISTIC: {
        const float *in = IN(m, buf, op->in[0]);
        for (size_t k = 0; k < to->count; k++)
            o[k] = 1.f / (1.f + expf(-in[k]));
        break;
    }
    case TFL_OP_RELU:
    case TFL_OP_RELU6: {
        memcpy(o, IN(m, buf, op->in[0]), to->count * sizeof(float));
        activate(o, to->count,
                 op->code == TFL_OP_RELU ? TFL_ACT_RELU : TFL_ACT_RELU6);
        break;
    }
    default:
        break; /* refused at load */
    }
}
