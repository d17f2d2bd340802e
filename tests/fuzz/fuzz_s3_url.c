/*
 * fuzz_s3_url.c - the S3 URLs easel reads from settings and queue entries:
 * s3://bucket/key sources and sinks, the endpoint setting
 * (EASEL_S3_ENDPOINT, through libcurl's URL parser), and the presigned URL
 * built from both without a request. Input: "s3 url\nendpoint\nregion";
 * the first byte's low bit picks path-style addressing.
 */
#include <stdio.h>

#include "easel/storage.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool path_style = data[0] & 1;
    char *text = fuzz_cstr(data + 1, size - 1);
    char *endpoint = strchr(text, '\n'), *region = NULL;
    if (endpoint) {
        *endpoint++ = '\0';
        region = strchr(endpoint, '\n');
        if (region)
            *region++ = '\0';
    }
    char bucket[64];
    const char *key = NULL;
    bool have = easel_s3_parse_url(text, bucket, sizeof(bucket), &key) == EASEL_OK;
    if (have && (!key || !memchr(bucket, 0, sizeof(bucket))))
        abort();
    char *host = easel_url_host(text);
    free(host);

    struct easel_s3_opts o = {.endpoint = endpoint, .region = region,
                              .path_style = path_style, .access_key = "AKIDEXAMPLE",
                              .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
    struct easel_s3 *s = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_s3_open(&o, &s, &err) == EASEL_OK) {
        char *u = easel_s3_presign(s, "GET", have ? bucket : "examplebucket",
                                   have ? key : "a/b c.jpg", 3600, "20261128T000000Z");
        free(u);
        easel_s3_free(s);
    }
    free(text);
    return 0;
}
