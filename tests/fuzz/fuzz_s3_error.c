/*
 * fuzz_s3_error.c - what an S3-compatible server answers when a request
 * fails (an XML <Error> with <Code> and <Message>), and the XML values
 * easel reads from its other answers (UploadId). The first two bytes give
 * the HTTP status; the rest is the body, NUL-terminated as request() leaves
 * it.
 */
#include "../../pkg/storage/s3_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + ((long)data[0] << 8 | data[1]) % 500;
    char *body = fuzz_cstr(data + 2, size - 2);
    struct easel_error err;
    easel_error_clear(&err);
    if (s3_status_error(status, body, "PUT", "s3://bucket/key", &err) != EASEL_EHTTP ||
        err.http_status != status)
        abort();
    char upload[512], small[4];
    s3_xml_value(body, "UploadId", upload, sizeof(upload));
    s3_xml_value(body, "Code", small, sizeof(small));
    s3_xml_value(NULL, "Code", small, sizeof(small));
    char *id = s3_xml_dup(body, "UploadId"); /* whole, or NULL when absent */
    if (id && s3_xml_value(body, "UploadId", upload, sizeof(upload)) == EASEL_OK &&
        strcmp(id, upload) != 0)
        abort();
    free(id);
    free(body);
    return 0;
}
