/*
 * fuzz_multipart.c - a multipart/form-data body as POST /estimate-body
 * reads it. The input's first line is the Content-Type, the rest the body;
 * every part found must lie inside the body.
 */
#include <stdbool.h>

#include "../../pkg/api/api_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    char *ct = fuzz_cstr(data, (size_t)(nl - data));
    size_t blen = size - (size_t)(nl - data) - 1;
    uint8_t *body = malloc(blen ? blen : 1);
    if (!body)
        abort();
    memcpy(body, nl + 1, blen);
    struct api_part parts[8];
    char err[200];
    int n = api_multipart_parse(ct, body, blen, parts, 8, err, sizeof err);
    for (int i = 0; i < n; i++)
        if (parts[i].data < body || parts[i].data + parts[i].len > body + blen ||
            !parts[i].name[0])
            abort();
    free(body);
    free(ct);
    return 0;
}
