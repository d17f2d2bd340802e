/*
 * error.c - the one error table. Names and messages come from the X-macro in
 * core.h, so adding a code is one line there and nothing here; the same
 * holds for the reasons (EASEL_REASON_MAP).
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

static const char *const reason_names[EASEL_R__COUNT] = {
#define EASEL_REASON_NAME(name, text) [EASEL_R_##name] = text,
    EASEL_REASON_MAP(EASEL_REASON_NAME)
#undef EASEL_REASON_NAME
};

const char *easel_reason_name(enum easel_reason r)
{
    return (unsigned)r < EASEL_R__COUNT ? reason_names[r] : "";
}

/* "provider_http_503": the family's name, '_', then digits only. */
static bool http_family(const char *name, enum easel_reason fam)
{
    const char *base = reason_names[fam];
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || name[n] != '_' || !name[n + 1])
        return false;
    for (const char *p = name + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

enum easel_reason easel_reason_parse(const char *name)
{
    if (!name || !*name)
        return EASEL_R_NONE;
    for (unsigned r = 1; r < EASEL_R__COUNT; r++)
        if (!strcmp(name, reason_names[r]))
            return (enum easel_reason)r;
    if (http_family(name, EASEL_R_PROVIDER_HTTP))
        return EASEL_R_PROVIDER_HTTP;
    if (http_family(name, EASEL_R_SOURCE_HTTP))
        return EASEL_R_SOURCE_HTTP;
    return EASEL_R_NONE;
}

bool easel_reason_is_quality(enum easel_reason r)
{
    switch (r) {
    case EASEL_R_QUALITY_REPEAT:
    case EASEL_R_QUALITY_SIZE:
    case EASEL_R_QUALITY_ASPECT:
    case EASEL_R_QUALITY_BLANK:
    case EASEL_R_QUALITY_UNCHANGED:
        return true;
    default:
        return false;
    }
}

void easel_error_reason(struct easel_error *e, enum easel_reason why, long status)
{
    if (!e)
        return;
    e->why = why;
    const char *name = easel_reason_name(why);
    if (status > 0 && (why == EASEL_R_PROVIDER_HTTP || why == EASEL_R_SOURCE_HTTP)) {
        e->http_status = (int)status;
        if (snprintf(e->reason, sizeof(e->reason), "%s_%ld", name, status) <
            (int)sizeof(e->reason))
            return;
    }
    easel_strlcpy(e->reason, name, sizeof(e->reason));
}

easel_err easel_error_set(struct easel_error *e, easel_err code,
                          enum easel_errclass cls, enum easel_reason why,
                          const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    e->cls = cls;
    e->why = why;
    easel_strlcpy(e->reason, easel_reason_name(why), sizeof(e->reason));
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        easel_vfmt_cut(e->msg, sizeof(e->msg), fmt, ap);
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
    easel_vfmt_cut(head, sizeof(head), fmt, ap);
    va_end(ap);
    easel_strlcpy(old, e->msg, sizeof(old));
    size_t n = easel_strlcpy(e->msg, head, sizeof(e->msg));
    if (n < sizeof(e->msg))
        easel_strlcpy(e->msg + n, old, sizeof(e->msg) - n);
}
