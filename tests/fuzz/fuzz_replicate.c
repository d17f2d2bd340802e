/*
 * fuzz_replicate.c - Replicate's answers: a failure body (problem+json or
 * anything), and a prediction as create and poll read it (id, status,
 * output as a string or an array, error, metrics).
 */
#include "fuzz_provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_answer a;
    if (!fuzz_answer_init(&a, data, size, "replicate", "owner/model", NULL))
        return 0;
    fuzz_failure_check(&a, prov_replicate_failure(&a.call, &a.resp, &a.err));

    easel_error_clear(&a.err);
    cJSON *pred = cJSON_Parse(a.resp.body);
    if (pred && easel_json_str(pred, "id")) {
        char id[128];
        easel_strlcpy(id, easel_json_str(pred, "id"), sizeof(id));
        const char *url = NULL;
        easel_err rc = prov_replicate_finished(&a.call, pred, id, &url, &a.out, &a.err);
        if ((rc == EASEL_OK) != (url != NULL)) /* the caller redacts the key */
            abort();
    }
    cJSON_Delete(pred);
    easel_retry_after_parse(a.resp.body, 0);
    fuzz_answer_done(&a);
    return 0;
}
