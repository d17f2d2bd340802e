/*
 * fuzz_gemini.c - Google's answers: {"error": {code, message, status,
 * details[RetryInfo]}} failures, Gemini's generateContent answer
 * (promptFeedback, candidates[].content.parts[].inlineData, finishReason)
 * and Imagen's predict answer (predictions[].bytesBase64Encoded,
 * raiFilteredReason).
 */
#include "fuzz_provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_answer a;
    if (!fuzz_answer_init(&a, data, size, "gemini", "google/gemini-image", NULL))
        return 0;
    const char *who = (data[0] & 0x40) ? "imagen" : "gemini";
    fuzz_failure_check(&a, prov_google_failure(&a.call, who, &a.resp, &a.err));

    cJSON *j = cJSON_Parse(a.resp.body);
    easel_error_clear(&a.err);
    prov_gemini_answer(j, &a.out, &a.err);
    easel_call_result_cleanup(&a.out);
    memset(&a.out, 0, sizeof(a.out));
    easel_error_clear(&a.err);
    prov_imagen_answer(j, &a.out, &a.err);
    cJSON_Delete(j);
    fuzz_answer_done(&a);
    return 0;
}
