/*
 * fuzz_provider.h - the call a provider's answer is read for: a model, a
 * key to be redacted from messages, a deadline. Shared by the provider
 * targets; the first input byte picks the HTTP status of the answer and
 * whether the deadline has passed, the rest is the body.
 */
#ifndef EASEL_FUZZ_PROVIDER_H
#define EASEL_FUZZ_PROVIDER_H

#include "../../pkg/providers/providers_int.h"
#include "fuzz.h"

#define FUZZ_KEY "fuzz-key-0123456789abcdef"

static const long fuzz_statuses[16] = {200, 201, 202, 400, 401, 402, 403, 404,
                                       408, 422, 429, 500, 502, 503, 504, 200};

struct fuzz_answer {
    struct easel_model model;
    struct easel_call call;
    struct easel_http_resp resp;
    struct easel_call_result out;
    struct easel_error err;
};

/* Fills *a from the input; false when there is no input. resp.body is a
 * malloc'd NUL-terminated copy (free it with fuzz_answer_done). */
static inline bool fuzz_answer_init(struct fuzz_answer *a, const uint8_t *data, size_t size,
                                    const char *provider, const char *id, const char *version)
{
    if (size < 1)
        return false;
    memset(a, 0, sizeof(*a));
    a->model.id = (char *)id;
    a->model.provider = (char *)provider;
    a->model.version = (char *)version;
    a->call.model = &a->model;
    a->call.api_key = FUZZ_KEY;
    a->call.job_id = "fuzz";
    a->call.deadline_ms = easel_now_ms() + ((data[0] & 0x10) ? -1000 : 600000);
    a->resp.status = fuzz_statuses[data[0] & 15];
    a->resp.retry_after_ms = (data[0] & 0x20) ? 1500 : 0;
    a->resp.body = fuzz_cstr(data + 1, size - 1);
    a->resp.len = size - 1;
    easel_error_clear(&a->err);
    return true;
}

/* Every failure keeps the HTTP status and never shows the key. */
static inline void fuzz_failure_check(const struct fuzz_answer *a, easel_err rc)
{
    if (rc == EASEL_OK || a->err.http_status != a->resp.status ||
        strstr(a->err.msg, FUZZ_KEY))
        abort();
}

static inline void fuzz_answer_done(struct fuzz_answer *a)
{
    easel_call_result_cleanup(&a->out);
    free(a->resp.body);
}

#endif
