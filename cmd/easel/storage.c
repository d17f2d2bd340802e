/*
 * storage.c - `easel storage presign|put|get`: presigned URLs and object
 * copies, with the same S3 settings, signer and uploader job mode uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/storage.h"
#include "settings.h"

/* The S3 options: the environment's, then the flags. */
void s3_opts_from(const struct settings *s, struct easel_s3_opts *o)
{
    easel_s3_opts_from_env(o);
    if (s->s3_endpoint && *s->s3_endpoint)
        o->endpoint = s->s3_endpoint;
    if (s->s3_region && *s->s3_region)
        o->region = s->s3_region;
    if (s->s3_path_style)
        o->path_style = true;
}

static int open_s3(const struct settings *s, struct easel_s3 **s3)
{
    struct easel_s3_opts o;
    s3_opts_from(s, &o);
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_s3_open(&o, s3, &err)) {
        fprintf(stderr, "easel storage: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* easel storage put FILE s3://bucket/key | get s3://bucket/key FILE */
static int copy(const struct settings *s, bool put, const char *file, const char *url)
{
    char bucket[64];
    const char *key = NULL;
    if (easel_s3_parse_url(url, bucket, sizeof(bucket), &key) || !*key) {
        fprintf(stderr, "easel storage: %s is not s3://bucket/key\n", url);
        return 2;
    }
    struct easel_s3 *s3 = NULL;
    if (open_s3(s, &s3))
        return 1;
    struct easel_error err;
    easel_error_clear(&err);
    int rc = 1;
    char *data = NULL;
    size_t len = 0;
    if (put) {
        easel_err e = easel_read_file(file, 0, &data, &len);
        if (e)
            fprintf(stderr, "easel storage put: cannot read %s: %s\n", file, easel_strerror(e));
        else if (easel_s3_put(s3, bucket, key, data, len, s->content_type, NULL, &err))
            fprintf(stderr, "easel storage put: %s\n", err.msg);
        else
            rc = 0, printf("%s: %zu bytes\n", url, len);
    } else {
        void *got = NULL;
        if (easel_s3_get(s3, bucket, key, 0, &got, &len, &err))
            fprintf(stderr, "easel storage get: %s\n", err.msg);
        else if (easel_write_file_atomic(file, got, len))
            fprintf(stderr, "easel storage get: cannot write %s\n", file);
        else
            rc = 0;
        free(got);
    }
    free(data);
    easel_s3_free(s3);
    return rc;
}

int mode_storage(struct settings *s, char **args, int nargs)
{
    if (!strcmp(args[0], "put") && nargs == 3)
        return copy(s, true, args[1], args[2]);
    if (!strcmp(args[0], "get") && nargs == 3)
        return copy(s, false, args[2], args[1]);
    if (strcmp(args[0], "presign") != 0 || nargs != 2) {
        fprintf(stderr, "usage: easel storage presign s3://BUCKET/KEY [--expires SECONDS]\n"
                        "       easel storage put FILE s3://BUCKET/KEY [--content-type T]\n"
                        "       easel storage get s3://BUCKET/KEY FILE\n");
        return 2;
    }
    char bucket[64];
    const char *key = NULL;
    if (easel_s3_parse_url(args[1], bucket, sizeof(bucket), &key) || !*key) {
        fprintf(stderr, "easel storage presign: %s is not s3://bucket/key\n", args[1]);
        return 2;
    }
    if (s->amz_date && (strlen(s->amz_date) != 16 || s->amz_date[8] != 'T' ||
                        s->amz_date[15] != 'Z')) {
        fprintf(stderr, "easel storage presign: --date must look like 20130524T000000Z\n");
        return 2;
    }
    if (strcmp(s->method, "GET") != 0 && strcmp(s->method, "PUT") != 0) {
        fprintf(stderr, "easel storage presign: --method must be GET or PUT\n");
        return 2;
    }
    struct easel_s3 *s3 = NULL;
    if (open_s3(s, &s3))
        return 1;
    char *url = easel_s3_presign(s3, s->method, bucket, key, s->expires_s, s->amz_date);
    easel_s3_free(s3);
    if (!url) {
        fprintf(stderr, "easel storage presign: cannot sign %s\n", args[1]);
        return 1;
    }
    printf("%s\n", url);
    free(url);
    return 0;
}
