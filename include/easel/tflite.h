/*
 * tflite.h - a small TensorFlow Lite interpreter, for exactly the operators
 * MediaPipe's pose models use (docs/pose.md lists them).
 *
 * The model file is untrusted input: every offset of the flatbuffer is
 * checked against the file, every shape against what its operator computes,
 * and anything outside the supported set is refused with a message naming
 * it. Weights stored as float16, int8 or sparse are turned into float32 once
 * at load; inference is float32 on one thread.
 *
 * A model is not thread-safe: one run at a time per model.
 */
#ifndef EASEL_TFLITE_H
#define EASEL_TFLITE_H

#include <stddef.h>

#include "easel/core.h"

struct easel_tfl_model;

/* Biggest model file accepted. */
#define EASEL_TFL_MAX_FILE (64 * 1024 * 1024)

/* Loads a model from memory (the buffer is copied). out_mask selects the
 * subgraph outputs to compute (bit k = output k; 0 = all): operators that
 * feed none of them are neither checked nor run. On failure *out is NULL and
 * err holds why: EASEL_EPARSE (malformed), EASEL_EUNSUPPORTED (an operator,
 * type or option easel does not run), EASEL_ELIMIT, EASEL_ENOMEM. */
easel_err easel_tfl_load(const void *buf, size_t len, unsigned out_mask,
                         struct easel_tfl_model **out, char *err,
                         size_t errlen);
/* Reads and loads a file; EASEL_ENOTFOUND/EASEL_EIO name the path. */
easel_err easel_tfl_load_file(const char *path, unsigned out_mask,
                              struct easel_tfl_model **out, char *err,
                              size_t errlen);
void easel_tfl_free(struct easel_tfl_model *m);

/* The input's shape (NHWC); returns the number of dimensions. */
int easel_tfl_input_shape(const struct easel_tfl_model *m, int dims[6]);
int easel_tfl_output_count(const struct easel_tfl_model *m);
/* Elements in output k, 0 when k is out of range. */
size_t easel_tfl_output_size(const struct easel_tfl_model *m, int k);
/* Float32 bytes held by constants after load (weights). */
long long easel_tfl_const_bytes(const struct easel_tfl_model *m);
/* Bytes of the activation arena (every intermediate of a run). */
long long easel_tfl_arena_bytes(const struct easel_tfl_model *m);
/* Number of operators run per inference. */
int easel_tfl_op_count(const struct easel_tfl_model *m);

/* Runs the model on in (easel_tfl_input_shape's elements) and copies each
 * selected output k into outs[k]: outs has easel_tfl_output_count entries,
 * NULL for an output not wanted. Allocates nothing; never fails today
 * (EASEL_OK). */
easel_err easel_tfl_run(struct easel_tfl_model *m, const float *in,
                        float *const *outs);

#endif
