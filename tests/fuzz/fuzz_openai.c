/*
 * fuzz_openai.c - OpenAI's images API answers: {"error": {message, type,
 * code}} failures and the 200 answer with data[0].b64_json and usage.
 */
#include "fuzz_provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_answer a;
    if (!fuzz_answer_init(&a, data, size, "openai", "openai/gpt-image-1", "gpt-image-1"))
        return 0;
    fuzz_failure_check(&a, prov_openai_failure(&a.call, &a.resp, &a.err));
    easel_error_clear(&a.err);
    easel_err rc = prov_openai_answer(a.resp.body, &a.out, &a.err);
    if (rc == EASEL_OK && !a.out.data && a.out.len)
        abort();
    fuzz_answer_done(&a);
    return 0;
}
