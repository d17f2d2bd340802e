/*
 * provider.c - choosing the provider of a model, and the helpers the
 * provider files share.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "providers_int.h"

const char *easel_provider_base(const struct easel_model *m)
{
    if (m->endpoint && *m->endpoint)
        return m->endpoint;
    if (!strcmp(m->provider, "replicate"))
        return "https://api.replicate.com";
    if (!strcmp(m->provider, "openai"))
        return "https://api.openai.com";
    if (!strcmp(m->provider, "gemini"))
        return "https://generativelanguage.googleapis.com";
    if (!strcmp(m->provider, "imagen"))
        return "https://us-central1-aiplatform.googleapis.com";
    return "";
}

easel_err easel_provider_call(const struct easel_call *c, struct easel_call_result *out,
                              struct easel_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = c->model->provider;
    easel_err rc;
    if (!strcmp(p, "replicate"))
        rc = prov_replicate(c, out, err);
    else if (!strcmp(p, "openai"))
        rc = prov_openai(c, out, err);
    else if (!strcmp(p, "gemini"))
        rc = prov_gemini(c, out, err);
    else if (!strcmp(p, "imagen"))
        rc = prov_imagen(c, out, err);
    else
        rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                             EASEL_R_PROVIDER_UNSUPPORTED,
                             "provider \"%s\" of model %s is not available in this build", p,
                             c->model->id);
    if (rc)
        easel_call_result_cleanup(out);
    return rc;
}

const char *prov_snippet(const char *body)
{
    static __thread char buf[161];
    size_t i = 0;
    for (; body && body[i] && i < sizeof(buf) - 1; i++)
        buf[i] = isprint((unsigned char)body[i]) ? body[i] : ' ';
    buf[i] = '\0';
    return i ? buf : "(empty body)";
}

bool prov_is_hex(const char *s, size_t n)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return i == n;
}

void prov_finish_error(const struct easel_call *c, struct easel_error *err, long status,
                       int64_t retry_after_ms)
{
    if (!err)
        return;
    err->http_status = (int)status;
    if (retry_after_ms > 0)
        err->retry_after_ms = retry_after_ms;
    easel_redact_secret(err->msg, sizeof(err->msg), c->api_key);
}

void prov_report(const struct easel_call *c, const char *status, const char *ref,
                 const cJSON *pred, bool final)
{
    if (!c->progress)
        return;
    struct easel_call_progress p = {.provider = c->model->provider, .status = status,
                                    .ref = ref, .percent = -1, .final = final};
    const char *logs = easel_json_str(pred, "logs");
    if (logs) {
        double v;
        p.logs = logs;
        p.logs_len = strlen(logs);
        if (easel_logs_percent(logs, p.logs_len, &v))
            p.percent = v;
    }
    c->progress(c->progress_ud, &p);
}

bool prov_stopping(const struct easel_call *c)
{
    return c->stop && *c->stop;
}

void prov_sleep(const struct easel_call *c, int64_t ms)
{
    int64_t end = easel_now_ms() + ms;
    if (end > c->deadline_ms)
        end = c->deadline_ms;
    for (;;) {
        int64_t left = end - easel_now_ms();
        if (left <= 0 || prov_stopping(c))
            return;
        easel_sleep_ms(left < 100 ? left : 100);
    }
}

easel_err prov_download(const struct easel_call *c, const char *url,
                        struct easel_call_result *out, struct easel_error *err)
{
    struct easel_fetch_opts fo;
    if (c->fetch)
        fo = *c->fetch;
    else
        easel_fetch_opts_default(&fo);
    /* the output download is part of the call: it ends with the call's
     * deadline and with the job's stop */
    int64_t left = c->deadline_ms - easel_now_ms();
    if (c->deadline_ms > 0 && (fo.timeout_ms <= 0 || left < fo.timeout_ms))
        fo.timeout_ms = left > 1 ? left : 1;
    fo.stop = c->stop;
    /* An output URL is outside input (the provider's answer, which a
     * compromised or spoofed provider controls): it is fetched like a job's
     * source, through the SSRF guard and the same --source-allow list, but
     * only over http(s) or as data: (never file:// or s3://, which would
     * read the node's files or the operator's bucket into the result). The
     * model's own endpoint, scheme, host and port exactly, is the
     * operator's and is reached as the calls to it are. */
    fo.schemes = EASEL_SCHEME_HTTP | EASEL_SCHEME_DATA;
    fo.trusted_origin = easel_provider_base(c->model);
    easel_err rc = easel_fetch(url, &fo, &out->data, &out->len, err);
    if (rc && err && (err->why == EASEL_R_SOURCE_BLOCKED ||
                      err->why == EASEL_R_UNSUPPORTED_SCHEME)) {
        easel_error_reason(err, EASEL_R_OUTPUT_URL_BLOCKED, 0);
        err->cls = EASEL_CLASS_PERMANENT;
    }
    if (rc)
        easel_error_prefix(err, "downloading the %s output: ", c->model->provider);
    return rc;
}

bool prov_mentions_policy(const char *msg)
{
    static const char *const words[] = {"nsfw", "safety", "flagged", "sensitive",
                                        "content policy", "moderation", "prohibited", NULL};
    for (const char *const *w = words; *w; w++) {
        size_t n = strlen(*w);
        for (const char *p = msg; *p; p++)
            if (!strncasecmp(p, *w, n))
                return true;
    }
    return false;
}

char *easel_base64(const void *data, size_t len)
{
    if (len > ((size_t)1 << 30))
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n] = '\0';
    return out;
}

easel_err prov_b64_decode(const char *b64, struct easel_call_result *out)
{
    size_t n = strlen(b64);
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return EASEL_ENOMEM;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    if (got < 0) {
        free(buf);
        return EASEL_EPARSE;
    }
    while (n > 0 && b64[n - 1] == '=') { /* EVP counts padding as bytes */
        got--;
        n--;
    }
    out->data = buf;
    out->len = (size_t)got;
    return EASEL_OK;
}
