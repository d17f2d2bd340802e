/*
 * tfl_int.h - the TensorFlow Lite interpreter's private types, shared by the
 * loader (tfl_load.c) and the kernels (tfl_ops.c).
 *
 * A loaded model is a list of tensors and a list of operators. Everything that
 * depends only on constants (fp16/int8 dequantisation, densifying sparse
 * weights) is computed once at load, so the operators left to run per
 * inference read float32 activations and float32 constants only. Every shape
 * is checked at load against what the operator computes from its inputs, so
 * the kernels index by shapes that are known to be consistent.
 */
#ifndef EASEL_POSE_TFL_INT_H
#define EASEL_POSE_TFL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "easel/core.h"

#define TFL_MAX_DIMS 6
#define TFL_MAX_IN 8

/* TensorType values of the schema */
enum tfl_type {
    TFL_F32 = 0, TFL_F16 = 1, TFL_I32 = 2, TFL_U8 = 3, TFL_I64 = 4,
    TFL_I8 = 9,
};

/* BuiltinOperator values of the schema that easel runs */
enum tfl_opcode {
    TFL_OP_ADD = 0, TFL_OP_AVERAGE_POOL_2D = 1, TFL_OP_CONCATENATION = 2,
    TFL_OP_CONV_2D = 3, TFL_OP_DEPTHWISE_CONV_2D = 4,
    TFL_OP_DEPTH_TO_SPACE = 5, TFL_OP_DEQUANTIZE = 6, TFL_OP_LOGISTIC = 14,
    TFL_OP_MAX_POOL_2D = 17, TFL_OP_MUL = 18, TFL_OP_RELU = 19,
    TFL_OP_RELU6 = 21, TFL_OP_RESHAPE = 22, TFL_OP_RESIZE_BILINEAR = 23,
    TFL_OP_PAD = 34, TFL_OP_DENSIFY = 124,
};

enum tfl_act { TFL_ACT_NONE = 0, TFL_ACT_RELU = 1, TFL_ACT_RELU_N1_TO_1 = 2,
               TFL_ACT_RELU6 = 3 };

struct tfl_tensor {
    int type;              /* enum tfl_type */
    int ndim;
    int dims[TFL_MAX_DIMS];
    size_t count;          /* product of dims */
    const char *name;      /* into the model's copy of the file, not NUL-ended */
    size_t name_len;
    /* constant data as stored (NULL for activations) */
    const uint8_t *raw;
    size_t raw_len;
    /* quantisation, for int8/uint8 constants */
    const uint8_t *scales; /* float32 little-endian, nscale of them */
    size_t nscale;
    const uint8_t *zeros;  /* int64 little-endian */
    size_t nzero;
    int qdim;
    /* sparsity (DENSIFY input): CSR per dimension */
    bool sparse;
    const uint8_t *sparsity; /* the table, re-read by the densifier */
    /* after load: constants in float32 (f) or int32 (i), owned */
    float *f;
    int32_t *i;
    bool is_const;
    int last_use;          /* index of the last operator reading it, -1 none */
};

struct tfl_op {
    int code;              /* enum tfl_opcode */
    int nin, nout;
    int in[TFL_MAX_IN];    /* -1 = optional input absent */
    int out;               /* every operator here has one output */
    /* options, decoded */
    int padding;           /* 0 SAME, 1 VALID */
    int stride_w, stride_h, dil_w, dil_h;
    int filter_w, filter_h;
    int depth_mult;
    int act;               /* enum tfl_act */
    int axis;
    int block;
    bool align_corners, half_pixel;
    bool needed;           /* on the path to a selected output */
    bool folded;           /* computed at load */
    float *packed;         /* conv weights repacked [kh][kw][cin][cout] */
};

struct easel_tfl_model {
    uint8_t *file;         /* our copy of the model file */
    size_t file_len;
    struct tfl_tensor *t;
    int nt;
    struct tfl_op *ops;
    int nops;
    int input;             /* the one float32 input tensor */
    int outputs[8];
    int nout;
    float **act;           /* per tensor: activation buffer during a run */
    size_t *offset;        /* per activation: its place in the arena */
    float *arena;          /* every activation of a run, planned at load */
    size_t arena_len;      /* in floats */
    int64_t const_bytes;   /* float32 constants held after load */
    int *readers;          /* while loading: readers of each tensor left */
    char *runtime;         /* while loading: constants read at run time */
};

/* Writes why into err (when given) and returns code: every refusal of the
 * loader and the operator checks. */
int tfl_fail(char *err, size_t errlen, int code, const char *fmt, ...) EASEL_PRINTF(4, 5);

/* tfl_fb.c: checked reads of the model file. A read that would leave the
 * file sets bad and yields 0; fields absent from a table yield 0 too. */
struct tfl_fb {
    const uint8_t *b;
    size_t n;
    bool bad;
};
uint32_t tfl_fb_u32(struct tfl_fb *f, size_t off);
uint16_t tfl_fb_u16(struct tfl_fb *f, size_t off);
/* follows the uoffset at off */
size_t tfl_fb_deref(struct tfl_fb *f, size_t off);
/* where field id (of size bytes) of the table at tab is, 0 when absent */
size_t tfl_fb_field(struct tfl_fb *f, size_t tab, int id, size_t size);
int64_t tfl_fb_scalar(struct tfl_fb *f, size_t tab, int id, size_t size, bool is_signed,
                      int64_t dflt);
/* a vector field of elements of elem bytes: its start and count */
bool tfl_fb_vec(struct tfl_fb *f, size_t tab, int id, size_t elem, size_t *start,
                size_t *count);
/* element k of a vector of tables */
size_t tfl_fb_table_at(struct tfl_fb *f, size_t start, size_t k);

/* tfl_ops.c */
int tfl_op_check(struct easel_tfl_model *m, struct tfl_op *op,
                 char *err, size_t errlen);
void tfl_op_run(struct easel_tfl_model *m, const struct tfl_op *op,
                float **buf);
int tfl_op_fold(struct easel_tfl_model *m, struct tfl_op *op,
                char *err, size_t errlen);
float tfl_half_to_float(uint16_t h);

#endif
