/*
 * fuzz_kube_status.c - an API server's failure answer: a Status object, or
 * whatever a proxy in front of it wrote, turned into an easel error. The
 * first two bytes give the HTTP status (100..599); the rest is the body,
 * passed with its length and no NUL, as the client and the watch pass it.
 */
#include "../../pkg/kube/kube_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + ((long)data[0] << 8 | data[1]) % 500;
    char *body = fuzz_bytes(data + 2, size - 2);
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = kube_status_error(status, body, size - 2, "get jobs/x", &err);
    if (rc == EASEL_OK || err.http_status != status || !err.reason[0])
        abort();
    /* the error without a place to put it, as some callers do */
    kube_status_error(status, body, size - 2, "get jobs/x", NULL);
    free(body);
    return 0;
}
