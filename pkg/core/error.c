/*
 * error.c - the one error table. Names and messages come from the X-macro in
 * core.h, so adding a code is one line there and nothing here.
 */
#include <stdio.h>
#include <string.h>

#include "easel/core.h"

const char *easel_strerror(easel_err e)
{
    switch (e) {
#define EASEL_ERR_MSG(name, val, msg) \
    case EASEL_E##name:               \
        return msg;
        EASEL_ERR_MAP(EASEL_ERR_MSG)
#undef EASEL_ERR_MSG
    }
    return "unknown error";
}

const char *easel_err_name(easel_err e)
{
    switch (e) {
#define EASEL_ERR_NAME(name, val, msg) \
    case EASEL_E##name:                \
        return #name;
        EASEL_ERR_MAP(EASEL_ERR_NAME)
#undef EASEL_ERR_NAME
    }
    return "UNKNOWN";
}

const char *easel_errclass_name(enum easel_errclass c)
{
    switch (c) {
    case EASEL_CLASS_RETRYABLE:
        return "retryable";
    case EASEL_CLASS_PERMANENT:
        return "permanent";
    case EASEL_CLASS_NONE:
        break;
    }
    return "none";
}

void easel_error_clear(struct easel_error *e)
{
    if (e)
        memset(e, 0, sizeof(*e));
}

easel_err easel_error_set(struct easel_error *e, easel_err code,
                          enum easel_errclass cls, const char *reason,
                          const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    e->cls = cls;
    easel_strlcpy(e->reason, reason ? reason : "", sizeof(e->reason));
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    } else {
        easel_strlcpy(e->msg, easel_strerror(code), sizeof(e->msg));
    }
    return code;
}

void easel_error_prefix(struct easel_error *e, const char *fmt, ...)
{
    if (!e)
        return;
    char head[200], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    easel_strlcpy(old, e->msg, sizeof(old));
    size_t n = easel_strlcpy(e->msg, head, sizeof(e->msg));
    if (n < sizeof(e->msg))
        easel_strlcpy(e->msg + n, old, sizeof(e->msg) - n);
}
