/*
 * openai.c - OpenAI's image edits: POST /v1/images/edits, multipart.
 *
 * The rendered input template becomes the form: a value {"$file": N} (what
 * "{{images.N|file}}" renders to) is source image N sent as a file part,
 * an array of them repeats the field (image[] takes several), and anything
 * else is a text field. `model` is always sent, from the template or the
 * model's version. The answer carries data[].b64_json and usage.
 * Errors are {"error": {message, type, param, code}}: moderation_blocked is
 * a permanent content-policy refusal and insufficient_quota a permanent
 * quota failure, even though the latter comes as a 429.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/providers.h"
#include "providers_int.h"

#define MAX_PARTS 32

/* Source image index of a {"$file": N} marker, or -1. */
static int file_index(const cJSON *v)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "$file");
    return cJSON_IsNumber(f) ? f->valueint : -1;
}

struct form {
    struct easel_http_part parts[MAX_PARTS];
    char *owned[MAX_PARTS];
    char names[MAX_PARTS][32];
    size_t n;
};

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->owned[i]);
}

static easel_err add_value(const struct easel_call *c, struct form *f, const char *name,
                           const cJSON *v, struct easel_error *err)
{
    if (f->n == MAX_PARTS)
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                               "the %s request has more than %d form fields", c->model->id,
                               MAX_PARTS);
    struct easel_http_part *p = &f->parts[f->n];
    int idx = file_index(v);
    if (idx >= 0) {
        if ((size_t)idx >= c->nimages)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                                   "the template asks for source image %d; the job has %zu",
                                   idx, c->nimages);
        const struct easel_src_image *im = &c->images[idx];
        /* "image-" + an int + ".jpg" is at most 21 bytes: it always fits */
        if (easel_snprintf(f->names[f->n], sizeof(f->names[0]), "image-%d.%s", idx,
                           strstr(im->mime, "png") ? "png" : "jpg"))
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                                   "the file name of source image %d does not fit", idx);
        *p = (struct easel_http_part){.name = name, .data = im->data, .len = im->len,
                                      .filename = f->names[f->n], .mime = im->mime};
        f->n++;
        return EASEL_OK;
    }
    char *text;
    if (cJSON_IsString(v))
        text = strdup(v->valuestring);
    else if (cJSON_IsNull(v))
        return EASEL_OK; /* an unset optional field is left out */
    else if (cJSON_IsBool(v))
        text = strdup(cJSON_IsTrue(v) ? "true" : "false");
    else
        text = cJSON_PrintUnformatted(v);
    if (!text)
        return EASEL_ENOMEM;
    f->owned[f->n] = text;
    *p = (struct easel_http_part){.name = name, .data = text, .len = strlen(text)};
    f->n++;
    return EASEL_OK;
}

static easel_err build_form(const struct easel_call *c, struct form *f, struct easel_error *err)
{
    const cJSON *it;
    bool has_model = false, has_image = false;
    cJSON_ArrayForEach(it, c->input)
    {
        if (!strcmp(it->string, "model"))
            has_model = true;
        easel_err rc;
        if (cJSON_IsArray(it)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, it)
            {
                has_image |= file_index(e) >= 0;
                if ((rc = add_value(c, f, it->string, e, err)))
                    return rc;
            }
        } else {
            has_image |= file_index(it) >= 0;
            if ((rc = add_value(c, f, it->string, it, err)))
                return rc;
        }
    }
    if (!has_model) {
        cJSON *m = cJSON_CreateString(c->model->version ? c->model->version : "gpt-image-1");
        easel_err rc = m ? add_value(c, f, "model", m, err) : EASEL_ENOMEM;
        cJSON_Delete(m);
        if (rc)
            return rc;
    }
    /* no image named in the template: every source image, as image[] */
    for (size_t i = 0; !has_image && i < c->nimages; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "$file", (double)i);
        easel_err rc = add_value(c, f, "image[]", m, err);
        cJSON_Delete(m);
        if (rc)
            return rc;
    }
    return EASEL_OK;
}

easel_err prov_openai_failure(const struct easel_call *c, const struct easel_http_resp *r,
                              struct easel_error *err)
{
    cJSON *j = cJSON_Parse(r->body);
    const char *msg = easel_json_str(j, "error.message"), *code = easel_json_str(j, "error.code");
    const char *type = easel_json_str(j, "error.type");
    enum easel_reason reason = EASEL_R_NONE;
    bool permanent = false;
    if ((code && !strcmp(code, "moderation_blocked")) ||
        (code && !strcmp(code, "content_policy_violation"))) {
        reason = EASEL_R_CONTENT_POLICY;
        permanent = true;
    } else if ((code && !strcmp(code, "insufficient_quota")) ||
               (type && !strcmp(type, "insufficient_quota")) ||
               (code && !strcmp(code, "billing_hard_limit_reached"))) {
        reason = EASEL_R_QUOTA_EXHAUSTED;
        permanent = true;
    } else if (r->status == 401 || r->status == 403) {
        reason = EASEL_R_PROVIDER_AUTH;
    } else if (r->status == 429) {
        reason = EASEL_R_PROVIDER_RATE_LIMITED;
    }
    /* for a person: a long message is cut, and the cut shows as "..." */
    char text[320];
    easel_fmt_cut(text, sizeof(text), "%s%s%s%s", msg ? msg : prov_snippet(r->body),
                  code ? " (code " : "", code ? code : "", code ? ")" : "");
    easel_err rc = easel_provider_http_error(err, "openai", r->status, reason, text);
    if (permanent && err) {
        err->cls = EASEL_CLASS_PERMANENT;
        rc = err->code = EASEL_EPROVIDER;
    }
    prov_finish_error(c, err, r->status, permanent ? 0 : r->retry_after_ms);
    cJSON_Delete(j);
    return rc;
}

easel_err prov_openai_answer(const char *body, struct easel_call_result *out,
                             struct easel_error *err)
{
    easel_err rc;
    cJSON *j = cJSON_Parse(body);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "data"), 0);
    const char *b64 = easel_json_str(d0, "b64_json");
    if (!b64) {
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                             "openai answered 200 without data[0].b64_json");
    } else if ((rc = prov_b64_decode(b64, out)) == EASEL_EPARSE) {
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                             "openai's b64_json is not base64");
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (!rc && usage)
        out->usage = cJSON_Duplicate(usage, 1);
    cJSON_Delete(j);
    return rc;
}

easel_err prov_openai(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err)
{
    struct form f = {0};
    easel_err rc = build_form(c, &f, err);
    if (rc) {
        form_free(&f);
        return rc;
    }
    /* the URL is refused rather than cut; the key is never cut, so the
     * header that carries it is allocated to its length */
    char url[1024];
    if (easel_snprintf(url, sizeof(url), "%s/v1/images/edits", easel_provider_base(c->model))) {
        form_free(&f);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "the request URL of %s is longer than %zu bytes", c->model->id,
                               sizeof(url) - 1);
    }
    char *auth = easel_asprintf("Authorization: Bearer %s", c->api_key ? c->api_key : "");
    if (!auth) {
        form_free(&f);
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "out of memory building the %s request", c->model->id);
    }
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    int64_t left = c->deadline_ms - easel_now_ms();
    struct easel_http_req req = {.method = "POST", .url = url, .headers = hdrs,
                                 .parts = f.parts, .nparts = f.n,
                                 .timeout_ms = left > 1000 ? left : 1000,
                                 .max_body = (size_t)256 << 20, .secret = c->api_key,
                                 .abort_on = c->stop};
    struct easel_http_resp r;
    prov_report(c, "requesting", NULL, NULL, false);
    rc = easel_http_do(c->http, &req, &r, err);
    form_free(&f);
    free(auth);
    if (rc)
        return rc;
    if (r.status != 200) {
        rc = prov_openai_failure(c, &r, err);
        easel_http_resp_cleanup(&r);
        return rc;
    }
    prov_report(c, "received", NULL, NULL, true);
    rc = prov_openai_answer(r.body, out, err);
    easel_http_resp_cleanup(&r);
    return rc;
}
