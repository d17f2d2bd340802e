/*
 * fuzz_tflite.c - a TensorFlow Lite model file, as easel pose and the
 * estimate-body job load it (the models folder is configuration, but a
 * model is a file from outside all the same). A model that loads is also
 * run once on a zero input, when it is small enough to keep the fuzzer
 * fast: every shape the kernels index by was checked at load.
 */
#include "easel/tflite.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct easel_tfl_model *m = NULL;
    char err[256];
    if (easel_tfl_load(data, size, 0, &m, err, sizeof err) != EASEL_OK)
        return 0;
    int dims[6], nd = easel_tfl_input_shape(m, dims);
    size_t n = 1, total = 0;
    for (int k = 0; k < nd; k++)
        n *= (size_t)dims[k];
    for (int k = 0; k < easel_tfl_output_count(m); k++)
        total += easel_tfl_output_size(m, k);
    if (n <= (1u << 20) && total <= (1u << 20) && easel_tfl_op_count(m) <= 64) {
        float *in = calloc(n, sizeof(float));
        float *outs[8] = {0};
        for (int k = 0; k < easel_tfl_output_count(m); k++)
            outs[k] = calloc(easel_tfl_output_size(m, k) + 1, sizeof(float));
        if (in && easel_tfl_run(m, in, outs) != EASEL_OK)
            abort();
        for (int k = 0; k < 8; k++)
            free(outs[k]);
        free(in);
    }
    easel_tfl_free(m);
    return 0;
}
