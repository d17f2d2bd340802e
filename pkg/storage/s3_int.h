/*
 * s3_int.h - how s3.c reads what an S3 server answers, apart from the
 * request that brought the answer, so that tests/fuzz reaches it with any
 * bytes. pkg/storage only.
 */
#ifndef EASEL_S3_INT_H
#define EASEL_S3_INT_H

#include <stddef.h>

#include "easel/storage.h"

/* The text of the first <tag>...</tag> in a NUL-terminated XML body (NULL
 * = none) into out, or "" when there is none. EASEL_ELIMIT when the text
 * does not fit in n bytes: out then holds its head, which no caller may use
 * as the value. */
easel_err s3_xml_value(const char *xml, const char *tag, char *out, size_t n);
/* The same text allocated to its length (a value that must never be cut,
 * such as an UploadId); NULL when there is none or on no memory. */
char *s3_xml_dup(const char *xml, const char *tag);

/* Classifies a non-2xx answer from its status and its XML error body
 * (NUL-terminated or NULL): <Code> and <Message> go into err's sentence,
 * after "<method> <where>: HTTP <status>". 429, 5xx, SlowDown and
 * RequestTimeout are retryable. Returns EASEL_EHTTP. */
easel_err s3_status_error(long status, const char *body, const char *method,
                          const char *where, struct easel_error *err);

#endif
