/*
 * tfl_load.c - reads a TensorFlow Lite model (a FlatBuffer) into the
 * interpreter's tensors and operators.
 *
 * The file comes from outside, so nothing in it is trusted: each uoffset,
 * soffset and vtable entry is checked to land inside the file before it is
 * read, vector lengths are checked against the bytes left, and all reads go
 * through memcpy so a misaligned offset cannot fault. The schema is
 * TensorFlow's schema.fbs (Model, SubGraph, Tensor, Operator, Buffer,
 * SparsityParameters); only the fields the interpreter needs are read.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/tflite.h"
#include "tfl_int.h"

/* --------------------------------------------------------------- errors */

#define MALFORMED(what)                                                      \
    tfl_fail(err, errlen, EASEL_EPARSE, "malformed model: %s", what)

/* -------------------------------------------------------------- loading */

/* Limits that keep a hostile file from asking for absurd work or memory. */
#define MAX_TENSORS 10000
#define MAX_OPS 5000
#define MAX_ELEMS (64u * 1024 * 1024) /* per tensor */
#define MAX_MODEL_ELEMS (256u * 1024 * 1024) /* every tensor used: 1 GiB */

static easel_err read_tensor(struct tfl_fb *f, size_t tab, size_t buffers,
                             size_t nbuf, struct tfl_tensor *t, char *err,
                             size_t errlen)
{
    size_t s, n;
    t->type = (int)tfl_fb_scalar(f, tab, 1, 1, true, 0);
    t->last_use = -1;
    if (tfl_fb_vec(f, tab, 0, 4, &s, &n)) {
        if (n > TFL_MAX_DIMS)
            return tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                        "tensor with %zu dimensions (at most %d)", n,
                        TFL_MAX_DIMS);
        t->ndim = (int)n;
        t->count = 1;
        for (size_t k = 0; k < n; k++) {
            int32_t d = (int32_t)tfl_fb_u32(f, s + 4 * k);
            if (d < 1 || (size_t)d > MAX_ELEMS || t->count * (size_t)d > MAX_ELEMS)
                return tfl_fail(err, errlen, EASEL_ELIMIT,
                            "tensor dimension %d out of range", d);
            t->dims[k] = d;
            t->count *= (size_t)d;
        }
    } else {
        t->ndim = 0;
        t->count = 1;
    }
    if (tfl_fb_vec(f, tab, 3, 1, &s, &n)) {
        t->name = (const char *)f->b + s;
        t->name_len = n;
    }
    uint32_t b = (uint32_t)tfl_fb_scalar(f, tab, 2, 4, false, 0);
    if (b >= nbuf)
        return MALFORMED("tensor buffer index out of range");
    size_t buf = tfl_fb_table_at(f, buffers, b);
    if (tfl_fb_vec(f, buf, 0, 1, &s, &n) && n > 0) {
        t->raw = f->b + s;
        t->raw_len = n;
        t->is_const = true;
    }
    size_t q = tfl_fb_field(f, tab, 4, 4);
    if (q) {
        q = tfl_fb_deref(f, q);
        if (tfl_fb_vec(f, q, 2, 4, &s, &n)) {
            t->scales = f->b + s;
            t->nscale = n;
        }
        if (tfl_fb_vec(f, q, 3, 8, &s, &n)) {
            t->zeros = f->b + s;
            t->nzero = n;
        }
        t->qdim = (int)tfl_fb_scalar(f, q, 6, 4, true, 0);
    }
    size_t sp = tfl_fb_field(f, tab, 6, 4);
    if (sp) {
        t->sparse = true;
        t->sparsity = f->b + tfl_fb_deref(f, sp);
    }
    if (f->bad)
        return MALFORMED("tensor table out of bounds");
    return EASEL_OK;
}

static easel_err read_options(struct tfl_fb *f, size_t tab, struct tfl_op *op)
{
    op->stride_w = op->stride_h = op->dil_w = op->dil_h = 1;
    op->depth_mult = 1;
    size_t p = tfl_fb_field(f, tab, 4, 4);
    if (!p)
        return EASEL_OK;
    size_t o = tfl_fb_deref(f, p);
    switch (op->code) {
    case TFL_OP_CONV_2D:
        op->padding = (int)tfl_fb_scalar(f, o, 0, 1, true, 0);
        op->stride_w = (int)tfl_fb_scalar(f, o, 1, 4, true, 1);
        op->stride_h = (int)tfl_fb_scalar(f, o, 2, 4, true, 1);
        op->act = (int)tfl_fb_scalar(f, o, 3, 1, true, 0);
        op->dil_w = (int)tfl_fb_scalar(f, o, 4, 4, true, 1);
        op->dil_h = (int)tfl_fb_scalar(f, o, 5, 4, true, 1);
        break;
    case TFL_OP_DEPTHWISE_CONV_2D:
        op->padding = (int)tfl_fb_scalar(f, o, 0, 1, true, 0);
        op->stride_w = (int)tfl_fb_scalar(f, o, 1, 4, true, 1);
        op->stride_h = (int)tfl_fb_scalar(f, o, 2, 4, true, 1);
        op->depth_mult = (int)tfl_fb_scalar(f, o, 3, 4, true, 1);
        op->act = (int)tfl_fb_scalar(f, o, 4, 1, true, 0);
        op->dil_w = (int)tfl_fb_scalar(f, o, 5, 4, true, 1);
        op->dil_h = (int)tfl_fb_scalar(f, o, 6, 4, true, 1);
        break;
    case TFL_OP_MAX_POOL_2D:
    case TFL_OP_AVERAGE_POOL_2D:
        op->padding = (int)tfl_fb_scalar(f, o, 0, 1, true, 0);
        op->stride_w = (int)tfl_fb_scalar(f, o, 1, 4, true, 1);
        op->stride_h = (int)tfl_fb_scalar(f, o, 2, 4, true, 1);
        op->filter_w = (int)tfl_fb_scalar(f, o, 3, 4, true, 1);
        op->filter_h = (int)tfl_fb_scalar(f, o, 4, 4, true, 1);
        op->act = (int)tfl_fb_scalar(f, o, 5, 1, true, 0);
        break;
    case TFL_OP_ADD:
    case TFL_OP_MUL:
        op->act = (int)tfl_fb_scalar(f, o, 0, 1, true, 0);
        break;
    case TFL_OP_CONCATENATION:
        op->axis = (int)tfl_fb_scalar(f, o, 0, 4, true, 0);
        op->act = (int)tfl_fb_scalar(f, o, 1, 1, true, 0);
        break;
    case TFL_OP_RESIZE_BILINEAR:
        op->align_corners = tfl_fb_scalar(f, o, 2, 1, false, 0) != 0;
        op->half_pixel = tfl_fb_scalar(f, o, 3, 1, false, 0) != 0;
        break;
    case TFL_OP_DEPTH_TO_SPACE:
        op->block = (int)tfl_fb_scalar(f, o, 0, 4, true, 0);
        break;
    default:
        break;
    }
    return f->bad ? EASEL_EPARSE : EASEL_OK;
}

static const char *op_name(int code)
{
    switch (code) {
    case TFL_OP_ADD: return "ADD";
    case TFL_OP_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case TFL_OP_CONCATENATION: return "CONCATENATION";
    case TFL_OP_CONV_2D: return "CONV_2D";
    case TFL_OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case TFL_OP_DEPTH_TO_SPACE: return "DEPTH_TO_SPACE";
    case TFL_OP_DEQUANTIZE: return "DEQUANTIZE";
    case TFL_OP_LOGISTIC: return "LOGISTIC";
    case TFL_OP_MAX_POOL_2D: return "MAX_POOL_2D";
    case TFL_OP_MUL: return "MUL";
    case TFL_OP_RELU: return "RELU";
    case TFL_OP_RELU6: return "RELU6";
    case TFL_OP_RESHAPE: return "RESHAPE";
    case TFL_OP_RESIZE_BILINEAR: return "RESIZE_BILINEAR";
    case TFL_OP_PAD: return "PAD";
    case TFL_OP_DENSIFY: return "DENSIFY";
    default: return NULL;
    }
}

/* Marks the operators on the path to the selected outputs. parse() has
 * checked that every tensor an operator reads is written by an earlier one
 * (or is the input or a constant), so one pass backwards finds them all. */
static easel_err mark_needed(struct easel_tfl_model *m)
{
    char *want = calloc((size_t)m->nt + 1, 1);
    if (!want)
        return EASEL_ENOMEM;
    for (int k = 0; k < m->nout; k++)
        if (m->outputs[k] >= 0)
            want[m->outputs[k]] = 1;
    for (int k = m->nops - 1; k >= 0; k--) {
        struct tfl_op *op = &m->ops[k];
        if (!want[op->out])
            continue;
        op->needed = true;
        for (int i = 0; i < op->nin; i++)
            if (op->in[i] >= 0)
                want[op->in[i]] = 1;
    }
    free(want);
    return EASEL_OK;
}

static easel_err parse(struct easel_tfl_model *m, unsigned out_mask,
                       char *err, size_t errlen)
{
    struct tfl_fb f = {m->file, m->file_len, false};
    size_t s, n, nbuf, buffers, opcodes, nopc, subgraphs, nsg;
    easel_err rc;

    if (f.n < 8 || memcmp(f.b + 4, "TFL3", 4) != 0)
        return tfl_fail(err, errlen, EASEL_EPARSE,
                    "not a TensorFlow Lite model (no TFL3 identifier)");
    size_t root = tfl_fb_deref(&f, 0);
    if (f.bad)
        return MALFORMED("root table out of bounds");
    uint32_t version = (uint32_t)tfl_fb_scalar(&f, root, 0, 4, false, 0);
    if (version != 3)
        return tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                    "schema version %u (easel reads version 3)", version);
    if (!tfl_fb_vec(&f, root, 1, 4, &opcodes, &nopc))
        return MALFORMED("no operator codes");
    if (!tfl_fb_vec(&f, root, 2, 4, &subgraphs, &nsg) || nsg < 1)
        return MALFORMED("no subgraph");
    if (nsg != 1)
        return tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                    "%zu subgraphs (easel runs models of one)", nsg);
    if (!tfl_fb_vec(&f, root, 4, 4, &buffers, &nbuf))
        return MALFORMED("no buffers");

    int *codes = calloc(nopc ? nopc : 1, sizeof(int));
    int *producer = NULL;
    if (!codes)
        return EASEL_ENOMEM;
    for (size_t k = 0; k < nopc; k++) {
        size_t oc = tfl_fb_table_at(&f, opcodes, k);
        int64_t dep = tfl_fb_scalar(&f, oc, 0, 1, true, 0);
        int64_t bc = tfl_fb_scalar(&f, oc, 3, 4, true, 0);
        codes[k] = (int)(bc > dep ? bc : dep);
        if (tfl_fb_field(&f, oc, 1, 4)) {
            rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                      "custom operator (easel runs builtin operators only)");
            goto out;
        }
    }
    size_t sg = tfl_fb_table_at(&f, subgraphs, 0);
    size_t tensors, ops;
    if (!tfl_fb_vec(&f, sg, 0, 4, &tensors, &n)) {
        rc = MALFORMED("subgraph without tensors");
        goto out;
    }
    if (n > MAX_TENSORS) {
        rc = tfl_fail(err, errlen, EASEL_ELIMIT, "%zu tensors (at most %d)", n,
                  MAX_TENSORS);
        goto out;
    }
    m->t = calloc(n ? n : 1, sizeof(*m->t));
    m->act = calloc(n ? n : 1, sizeof(*m->act));
    producer = malloc(sizeof(int) * (n ? n : 1));
    if (!m->t || !m->act || !producer) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    m->nt = (int)n;
    for (int k = 0; k < m->nt; k++) {
        producer[k] = -1;
        rc = read_tensor(&f, tfl_fb_table_at(&f, tensors, (size_t)k), buffers,
                         nbuf, &m->t[k], err, errlen);
        if (rc)
            goto out;
    }
    /* inputs and outputs */
    if (!tfl_fb_vec(&f, sg, 1, 4, &s, &n) || n != 1) {
        rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                  "the model must have exactly one input");
        goto out;
    }
    m->input = (int32_t)tfl_fb_u32(&f, s);
    if (m->input < 0 || m->input >= m->nt || m->t[m->input].type != TFL_F32 ||
        m->t[m->input].is_const) {
        rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                  "the model's input must be a float32 tensor");
        goto out;
    }
    if (!tfl_fb_vec(&f, sg, 2, 4, &s, &n) || n < 1 || n > 8) {
        rc = MALFORMED("the model must have 1 to 8 outputs");
        goto out;
    }
    m->nout = (int)n;
    for (int k = 0; k < m->nout; k++) {
        int32_t o = (int32_t)tfl_fb_u32(&f, s + 4 * (size_t)k);
        if (o < 0 || o >= m->nt || m->t[o].type != TFL_F32) {
            rc = MALFORMED("output tensor out of range or not float32");
            goto out;
        }
        m->outputs[k] = (out_mask == 0 || (out_mask & (1u << k))) ? o : -1;
    }
    /* operators */
    if (!tfl_fb_vec(&f, sg, 3, 4, &ops, &n) || n < 1) {
        rc = MALFORMED("subgraph without operators");
        goto out;
    }
    if (n > MAX_OPS) {
        rc = tfl_fail(err, errlen, EASEL_ELIMIT, "%zu operators (at most %d)", n,
                  MAX_OPS);
        goto out;
    }
    m->ops = calloc(n, sizeof(*m->ops));
    if (!m->ops) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    m->nops = (int)n;
    for (int k = 0; k < m->nops; k++) {
        struct tfl_op *op = &m->ops[k];
        size_t ot = tfl_fb_table_at(&f, ops, (size_t)k);
        uint32_t idx = (uint32_t)tfl_fb_scalar(&f, ot, 0, 4, false, 0);
        if (idx >= nopc) {
            rc = MALFORMED("operator code index out of range");
            goto out;
        }
        op->code = codes[idx];
        if (!op_name(op->code)) {
            rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                      "operator %d (builtin code %d) is not one easel runs",
                      k, op->code);
            goto out;
        }
        if (!tfl_fb_vec(&f, ot, 1, 4, &s, &n) || n < 1 || n > TFL_MAX_IN) {
            rc = MALFORMED("operator inputs");
            goto out;
        }
        op->nin = (int)n;
        for (size_t i = 0; i < n; i++) {
            op->in[i] = (int32_t)tfl_fb_u32(&f, s + 4 * i);
            if (op->in[i] < -1 || op->in[i] >= m->nt) {
                rc = MALFORMED("operator input out of range");
                goto out;
            }
        }
        if (!tfl_fb_vec(&f, ot, 2, 4, &s, &n) || n != 1) {
            rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                      "operator %d (%s) without exactly one output", k,
                      op_name(op->code));
            goto out;
        }
        op->out = (int32_t)tfl_fb_u32(&f, s);
        if (op->out < 0 || op->out >= m->nt || producer[op->out] >= 0 ||
            m->t[op->out].is_const || op->out == m->input) {
            rc = MALFORMED("operator output out of range or written twice");
            goto out;
        }
        producer[op->out] = k;
        if (read_options(&f, ot, op)) {
            rc = MALFORMED("operator options out of bounds");
            goto out;
        }
    }
    if (f.bad) {
        rc = MALFORMED("offset out of bounds");
        goto out;
    }
    /* An operator may only read tensors that exist before it runs: the
     * input, constants, or outputs of earlier operators. That also rules out
     * cycles. */
    for (int k = 0; k < m->nops; k++) {
        const struct tfl_op *op = &m->ops[k];
        for (int i = 0; i < op->nin; i++) {
            int in = op->in[i];
            if (in < 0 || in == m->input || m->t[in].is_const)
                continue;
            if (producer[in] < 0 || producer[in] >= k) {
                rc = tfl_fail(err, errlen, EASEL_EPARSE,
                          "malformed model: operator %d reads a tensor no "
                          "earlier operator writes", k);
                goto out;
            }
        }
    }
    for (int k = 0; k < m->nout; k++) {
        int o = m->outputs[k];
        if (o >= 0 && producer[o] < 0) {
            rc = MALFORMED("an output no operator writes");
            goto out;
        }
    }
    rc = mark_needed(m);
out:
    free(codes);
    free(producer);
    return rc;
}

/* Folds constant operators, checks the rest, and records each activation's
 * last reader so the arena can reuse its space. A constant is freed as soon
 * as its last reader is done with it, unless an operator reads it at run
 * time: the float16 and sparse forms go once they are float32, and a
 * convolution's weights once repacked, so loading peaks near the size of
 * the weights instead of several copies of them. */
static easel_err prepare(struct easel_tfl_model *m, char *err, size_t errlen)
{
    easel_err rc = EASEL_OK;
    char *runtime = calloc((size_t)m->nt + 1, 1);
    m->readers = calloc((size_t)m->nt + 1, sizeof(int));
    m->runtime = runtime;
    if (!runtime || !m->readers) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    /* everything the selected operators touch, at float32, must fit the
     * budget: a few bytes of sparse weights or a shape can ask for more */
    {
        uint64_t elems = 0;
        char *seen = calloc((size_t)m->nt + 1, 1);
        if (!seen) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        for (int k = 0; k < m->nops; k++) {
            const struct tfl_op *op = &m->ops[k];
            if (!op->needed)
                continue;
            for (int i = -1; i < op->nin; i++) {
                int t = i < 0 ? op->out : op->in[i];
                if (t >= 0 && !seen[t]) {
                    seen[t] = 1;
                    elems += m->t[t].count;
                }
            }
        }
        free(seen);
        if (elems > MAX_MODEL_ELEMS) {
            rc = tfl_fail(err, errlen, EASEL_ELIMIT,
                      "the model needs %llu MB of tensors (at most %llu)",
                      (unsigned long long)(elems * 4 >> 20),
                      (unsigned long long)((uint64_t)MAX_MODEL_ELEMS * 4 >> 20));
            goto out;
        }
    }
    for (int k = 0; k < m->nops; k++)
        if (m->ops[k].needed)
            for (int i = 0; i < m->ops[k].nin; i++)
                if (m->ops[k].in[i] >= 0)
                    m->readers[m->ops[k].in[i]]++;
    for (int k = 0; k < m->nops; k++) {
        struct tfl_op *op = &m->ops[k];
        if (!op->needed)
            continue;
        bool all_const = true;
        for (int i = 0; i < op->nin; i++)
            if (op->in[i] >= 0 && !m->t[op->in[i]].is_const)
                all_const = false;
        if (all_const) {
            rc = (easel_err)tfl_op_fold(m, op, err, errlen);
            if (rc)
                goto out;
            op->folded = true;
            m->t[op->out].is_const = true;
        } else {
            rc = (easel_err)tfl_op_check(m, op, err, errlen);
            if (rc) {
                size_t used = err && errlen ? strlen(err) : 0;
                if (err && used + 1 < errlen)
                    easel_fmt_cut(err + used, errlen - used, " (operator %d, %s)",
                                  k, op_name(op->code));
                goto out;
            }
            for (int i = 0; i < op->nin; i++) {
                int t = op->in[i];
                if (t < 0)
                    continue;
                if (!m->t[t].is_const)
                    m->t[t].last_use = k;
                else if (!(op->code == TFL_OP_CONV_2D && i == 1))
                    runtime[t] = 1;
            }
        }
        for (int i = 0; i < op->nin; i++) {
            int t = op->in[i];
            if (t >= 0 && --m->readers[t] == 0 && m->t[t].is_const &&
                !runtime[t]) {
                free(m->t[t].f);
                m->t[t].f = NULL;
            }
        }
    }
    for (int k = 0; k < m->nout; k++)
        if (m->outputs[k] >= 0 && m->t[m->outputs[k]].is_const) {
            rc = tfl_fail(err, errlen, EASEL_EUNSUPPORTED,
                      "output %d does not depend on the input", k);
            goto out;
        }
    /* outputs are copied out at the end, so they live to the end */
    for (int k = 0; k < m->nout; k++)
        if (m->outputs[k] >= 0)
            m->t[m->outputs[k]].last_use = m->nops;
    m->const_bytes = 0;
    for (int k = 0; k < m->nt; k++)
        if (m->t[k].f)
            m->const_bytes += (int64_t)(m->t[k].count * sizeof(float));
    for (int k = 0; k < m->nops; k++)
        if (m->ops[k].packed)
            m->const_bytes += (int64_t)(m->t[m->ops[k].in[1]].count *
                                        sizeof(float));
out:
    free(runtime);
    m->runtime = NULL;
    free(m->readers);
    m->readers = NULL;
    return rc;
}

/* After load nothing reads the file: constants are float32 copies, names
 * and sparsity were only read while loading. */
static void drop_file(struct easel_tfl_model *m)
{
    for (int k = 0; k < m->nt; k++) {
        struct tfl_tensor *t = &m->t[k];
        t->raw = NULL;
        t->raw_len = 0;
        t->name = NULL;
        t->name_len = 0;
        t->scales = t->zeros = t->sparsity = NULL;
    }
    free(m->file);
    m->file = NULL;
    m->file_len = 0;
}

/* Places every activation in one arena, first fit by offset, reusing the
 * space of tensors whose last reader has run. Allocated once at load, so a
 * run neither calls malloc nor faults in fresh pages. */
static easel_err plan(struct easel_tfl_model *m)
{
    struct span {
        size_t off, len;
        int t;
    } *live = NULL;
    int nlive = 0;
    size_t peak = 0;

    m->offset = calloc((size_t)m->nt, sizeof(size_t));
    live = malloc(sizeof(*live) * (size_t)(m->nt + 1));
    if (!m->offset || !live) {
        free(live);
        return EASEL_ENOMEM;
    }
    for (int k = 0; k < m->nops; k++) {
        const struct tfl_op *op = &m->ops[k];
        if (!op->needed || op->folded)
            continue;
        /* 16 floats of alignment keeps vector loads on cache lines */
        size_t len = (m->t[op->out].count + 15) & ~(size_t)15, at = 0;
        for (int i = 0; i < nlive; i++) { /* live is sorted by offset */
            if (live[i].off >= at + len)
                break;
            if (live[i].off + live[i].len > at)
                at = live[i].off + live[i].len;
        }
        int pos = 0;
        while (pos < nlive && live[pos].off < at)
            pos++;
        memmove(&live[pos + 1], &live[pos], sizeof(*live) * (size_t)(nlive - pos));
        live[pos] = (struct span){at, len, op->out};
        nlive++;
        m->offset[op->out] = at;
        if (at + len > peak)
            peak = at + len;
        /* what this operator read for the last time is free again */
        for (int i = 0; i < nlive;) {
            const struct tfl_tensor *t = &m->t[live[i].t];
            if (t->last_use == k) {
                memmove(&live[i], &live[i + 1],
                        sizeof(*live) * (size_t)(nlive - i - 1));
                nlive--;
            } else {
                i++;
            }
        }
    }
    free(live);
    m->arena_len = peak;
    m->arena = malloc((peak ? peak : 1) * sizeof(float));
    if (!m->arena)
        return EASEL_ENOMEM;
    memset(m->arena, 0, (peak ? peak : 1) * sizeof(float));
    for (int k = 0; k < m->nops; k++)
        if (m->ops[k].needed && !m->ops[k].folded)
            m->act[m->ops[k].out] = m->arena + m->offset[m->ops[k].out];
    return EASEL_OK;
}

easel_err easel_tfl_load(const void *buf, size_t len, unsigned out_mask,
                         struct easel_tfl_model **out, char *err,
                         size_t errlen)
{
    struct easel_tfl_model *m = NULL;
    easel_err rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out || (!buf && len))
        return EASEL_EINVAL;
    *out = NULL;
    if (len > EASEL_TFL_MAX_FILE)
        return tfl_fail(err, errlen, EASEL_ELIMIT,
                    "model file of %zu bytes (at most %d)", len,
                    EASEL_TFL_MAX_FILE);
    m = calloc(1, sizeof(*m));
    if (!m)
        return EASEL_ENOMEM;
    m->file = malloc(len ? len : 1);
    if (!m->file) {
        free(m);
        return EASEL_ENOMEM;
    }
    if (len)
        memcpy(m->file, buf, len);
    m->file_len = len;
    rc = parse(m, out_mask, err, errlen);
    if (rc == EASEL_OK)
        rc = prepare(m, err, errlen);
    if (rc == EASEL_OK)
        rc = plan(m);
    if (rc == EASEL_OK)
        drop_file(m);
    if (rc != EASEL_OK) {
        if (rc == EASEL_ENOMEM && err && errlen && !err[0])
            easel_strlcpy(err, "out of memory loading the model", errlen);
        easel_tfl_free(m);
        return rc;
    }
    *out = m;
    return EASEL_OK;
}

easel_err easel_tfl_load_file(const char *path, unsigned out_mask,
                              struct easel_tfl_model **out, char *err,
                              size_t errlen)
{
    FILE *fp;
    uint8_t *buf = NULL;
    long sz;
    easel_err rc;

    if (!out || !path)
        return EASEL_EINVAL;
    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp)
        return tfl_fail(err, errlen, errno == ENOENT ? EASEL_ENOTFOUND : EASEL_EIO,
                    "cannot open model %s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0 || (sz = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return tfl_fail(err, errlen, EASEL_EIO, "cannot read model %s", path);
    }
    if (sz > EASEL_TFL_MAX_FILE) {
        fclose(fp);
        return tfl_fail(err, errlen, EASEL_ELIMIT,
                    "model %s is %ld bytes (at most %d)", path, sz,
                    EASEL_TFL_MAX_FILE);
    }
    buf = malloc(sz ? (size_t)sz : 1);
    if (!buf) {
        fclose(fp);
        return EASEL_ENOMEM;
    }
    if (fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
        fclose(fp);
        free(buf);
        return tfl_fail(err, errlen, EASEL_EIO, "cannot read model %s", path);
    }
    fclose(fp);
    rc = easel_tfl_load(buf, (size_t)sz, out_mask, out, err, errlen);
    free(buf);
    if (rc && err && errlen) {
        char tmp[512];
        easel_fmt_cut(tmp, sizeof tmp, "%s: %s", path, err);
        easel_strlcpy(err, tmp, errlen);
    }
    return rc;
}

void easel_tfl_free(struct easel_tfl_model *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->nt; k++) {
        free(m->t[k].f);
        free(m->t[k].i);
    }
    free(m->offset);
    free(m->arena);
    for (int k = 0; k < m->nops; k++)
        free(m->ops[k].packed);
    free(m->t);
    free(m->act);
    free(m->ops);
    free(m->file);
    free(m);
}

int easel_tfl_input_shape(const struct easel_tfl_model *m, int dims[6])
{
    const struct tfl_tensor *t = &m->t[m->input];
    for (int k = 0; k < t->ndim; k++)
        dims[k] = t->dims[k];
    return t->ndim;
}

int easel_tfl_output_count(const struct easel_tfl_model *m)
{
    return m->nout;
}

size_t easel_tfl_output_size(const struct easel_tfl_model *m, int k)
{
    if (k < 0 || k >= m->nout || m->outputs[k] < 0)
        return 0;
    return m->t[m->outputs[k]].count;
}

long long easel_tfl_const_bytes(const struct easel_tfl_model *m)
{
    return m->const_bytes;
}

long long easel_tfl_arena_bytes(const struct easel_tfl_model *m)
{
    return (long long)(m->arena_len * sizeof(float));
}

int easel_tfl_op_count(const struct easel_tfl_model *m)
{
    int n = 0;
    for (int k = 0; k < m->nops; k++)
        if (m->ops[k].needed && !m->ops[k].folded)
            n++;
    return n;
}

easel_err easel_tfl_run(struct easel_tfl_model *m, const float *in,
                        float *const *outs)
{
    float **buf = m->act;

    buf[m->input] = (float *)in; /* read-only: no kernel writes its input */
    for (int k = 0; k < m->nops; k++) {
        const struct tfl_op *op = &m->ops[k];
        if (op->needed && !op->folded)
            tfl_op_run(m, op, buf);
    }
    for (int k = 0; k < m->nout; k++)
        if (m->outputs[k] >= 0 && outs[k])
            memcpy(outs[k], buf[m->outputs[k]],
                   m->t[m->outputs[k]].count * sizeof(float));
    buf[m->input] = NULL;
    return EASEL_OK;
}
