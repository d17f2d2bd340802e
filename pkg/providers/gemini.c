/*
 * gemini.c - Google's Gemini API (generativelanguage.googleapis.com) and
 * Imagen on Vertex AI.
 *
 * Gemini: POST /v1beta/models/{model}:generateContent with x-goog-api-key.
 * The rendered template gives "prompt" (the text part), optionally
 * "images" (file markers; all source images when absent) and
 * "generationConfig" (merged over responseModalities [TEXT, IMAGE]); a
 * template that renders "contents" itself is sent as it is. The image
 * comes back in candidates[].content.parts[].inlineData (inline_data is
 * accepted too). A blocked prompt (promptFeedback.blockReason), a safety
 * finishReason, or an answer without an image part is a permanent failure
 * that keeps Google's reason. Errors are {"error": {code, message, status,
 * details}}; a google.rpc.RetryInfo detail's retryDelay is honoured.
 *
 * Imagen (deprecated upstream in favour of Gemini image models): POST
 * {endpoint}/v1/{version}:predict with an OAuth bearer token, instances[]
 * with the prompt and parameters (sampleCount, aspectRatio); the image is
 * predictions[].bytesBase64Encoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/providers.h"
#include "providers_int.h"

/* "20s", "1.5s" (a protobuf Duration in JSON) -> ms, or 0. */
static int64_t duration_ms(const char *s)
{
    if (!s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || strcmp(end, "s") != 0 || v < 0)
        return 0;
    return (int64_t)(v * 1000.0);
}

easel_err prov_google_failure(const struct easel_call *c, const char *who,
                              const struct easel_http_resp *r, struct easel_error *err)
{
    cJSON *j = cJSON_Parse(r->body);
    const char *msg = easel_json_str(j, "error.message"), *status = easel_json_str(j, "error.status");
    int64_t retry = r->retry_after_ms;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "details"))
    {
        const char *t = easel_json_str(d, "@type");
        if (t && strstr(t, "google.rpc.RetryInfo")) {
            int64_t ms = duration_ms(easel_json_str(d, "retryDelay"));
            if (ms > retry)
                retry = ms;
        }
    }
    enum easel_reason reason = r->status == 401 || r->status == 403 ? EASEL_R_PROVIDER_AUTH
                       : r->status == 429                    ? EASEL_R_PROVIDER_RATE_LIMITED
                                                             : EASEL_R_NONE;
    char text[320]; /* for a person: a cut shows as "..." */
    easel_fmt_cut(text, sizeof(text), "%s%s%s%s", msg ? msg : prov_snippet(r->body),
             status ? " (" : "", status ? status : "", status ? ")" : "");
    easel_err rc = easel_provider_http_error(err, who, r->status, reason, text);
    prov_finish_error(c, err, r->status, retry);
    cJSON_Delete(j);
    return rc;
}

static cJSON *inline_part(const struct easel_src_image *im)
{
    char *b64 = easel_base64(im->data, im->len);
    cJSON *p = cJSON_CreateObject();
    cJSON *d = p ? cJSON_AddObjectToObject(p, "inline_data") : NULL;
    if (!b64 || !d) {
        free(b64);
        cJSON_Delete(p);
        return NULL;
    }
    cJSON_AddStringToObject(d, "mime_type", im->mime);
    cJSON_AddStringToObject(d, "data", b64);
    free(b64);
    return p;
}

/* The generateContent body from the rendered template. */
static cJSON *gemini_body(const struct easel_call *c, struct easel_error *err)
{
    cJSON *body = cJSON_CreateObject();
    if (!body)
        return NULL;
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(c->input, "contents");
    if (contents) {
        cJSON_AddItemToObject(body, "contents", cJSON_Duplicate(contents, 1));
    } else {
        cJSON *content = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "contents"), content);
        cJSON *parts = cJSON_AddArrayToObject(content, "parts");
        const char *prompt = easel_json_str(c->input, "prompt");
        if (prompt) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "text", prompt);
            cJSON_AddItemToArray(parts, t);
        }
        const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(c->input, "images");
        size_t n = imgs ? (size_t)cJSON_GetArraySize(imgs) : c->nimages;
        for (size_t i = 0; i < n; i++) {
            size_t idx = i;
            if (imgs) {
                const cJSON *f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, (int)i), "$file");
                if (!cJSON_IsNumber(f) || f->valueint < 0 || (size_t)f->valueint >= c->nimages) {
                    cJSON_Delete(body);
                    easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                                    "images in the %s template must be source images "
                                    "(\"{{images|file}}\")", c->model->id);
                    return NULL;
                }
                idx = (size_t)f->valueint;
            }
            cJSON *p = inline_part(&c->images[idx]);
            if (!p) {
                cJSON_Delete(body);
                return NULL;
            }
            cJSON_AddItemToArray(parts, p);
        }
    }
    cJSON *gc = cJSON_AddObjectToObject(body, "generationConfig");
    cJSON *mod = cJSON_AddArrayToObject(gc, "responseModalities");
    cJSON_AddItemToArray(mod, cJSON_CreateString("TEXT"));
    cJSON_AddItemToArray(mod, cJSON_CreateString("IMAGE"));
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(c->input, "generationConfig");
    const cJSON *it;
    cJSON_ArrayForEach(it, user)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(gc, it->string);
        cJSON_AddItemToObject(gc, it->string, cJSON_Duplicate(it, 1));
    }
    const cJSON *safety = cJSON_GetObjectItemCaseSensitive(c->input, "safetySettings");
    if (safety)
        cJSON_AddItemToObject(body, "safetySettings", cJSON_Duplicate(safety, 1));
    return body;
}

static bool safety_finish(const char *r)
{
    static const char *const bad[] = {"SAFETY", "PROHIBITED_CONTENT", "IMAGE_SAFETY",
                                      "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
                                      "RECITATION", "IMAGE_RECITATION", NULL};
    for (const char *const *b = bad; r && *b; b++)
        if (!strcmp(r, *b))
            return true;
    return false;
}

easel_err prov_gemini_answer(const cJSON *j, struct easel_call_result *out,
                             struct easel_error *err)
{
    const char *block = easel_json_str(j, "promptFeedback.blockReason");
    if (block)
        return easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_PERMANENT, EASEL_R_CONTENT_POLICY,
                               "gemini blocked the prompt: %s", block);
    const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "candidates"), 0);
    const char *finish = easel_json_str(cand, "finishReason");
    char said[200] = "";
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts"))
    {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(part, "inlineData");
        if (!in)
            in = cJSON_GetObjectItemCaseSensitive(part, "inline_data");
        const char *data = easel_json_str(in, "data");
        if (data) {
            easel_err rc = prov_b64_decode(data, out);
            if (rc == EASEL_EPARSE)
                return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                                       "gemini's inline image data is not base64");
            if (rc == EASEL_OK) {
                const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
                if (u)
                    out->usage = cJSON_Duplicate(u, 1);
            }
            return rc;
        }
        const char *text = easel_json_str(part, "text");
        if (text && !said[0])
            easel_fmt_cut(said, sizeof(said), "%s", text); /* quoted to a person */
    }
    if (safety_finish(finish))
        return easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_PERMANENT, EASEL_R_CONTENT_POLICY,
                               "gemini stopped for %s and returned no image", finish);
    return easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_PERMANENT, EASEL_R_NO_IMAGE,
                           "gemini returned no image (finishReason %s)%s%s",
                           finish ? finish : "none", said[0] ? "; it said: " : "", said);
}

static easel_err post_json(const struct easel_call *c, const char *url, const char *auth,
                           cJSON *body, struct easel_http_resp *r, struct easel_error *err)
{
    char *text = cJSON_PrintUnformatted(body);
    if (!text)
        return EASEL_ENOMEM;
    const char *hdrs[] = {auth, "Content-Type: application/json", "Accept: application/json", NULL};
    int64_t left = c->deadline_ms - easel_now_ms();
    struct easel_http_req req = {.method = "POST", .url = url, .headers = hdrs, .body = text,
                                 .body_len = strlen(text), .timeout_ms = left > 1000 ? left : 1000,
                                 .max_body = (size_t)256 << 20, .secret = c->api_key,
                                 .abort_on = c->stop};
    easel_err rc = easel_http_do(c->http, &req, r, err);
    free(text);
    return rc;
}

/* POSTs body with the API key after auth_head ("x-goog-api-key: "), and
 * returns the parsed 200 answer in *answer; any other status or a body that
 * is not JSON becomes the error. The key header is allocated: a key is
 * never cut. */
static easel_err google_post(const struct easel_call *c, const char *who, const char *url,
                             const char *auth_head, cJSON *body, cJSON **answer,
                             struct easel_error *err)
{
    *answer = NULL;
    char *auth = easel_asprintf("%s%s", auth_head, c->api_key ? c->api_key : "");
    if (!auth)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "out of memory building the %s request", who);
    struct easel_http_resp r;
    prov_report(c, "requesting", NULL, NULL, false);
    easel_err rc = post_json(c, url, auth, body, &r, err);
    free(auth);
    if (rc)
        return rc;
    if (r.status != 200)
        rc = prov_google_failure(c, who, &r, err);
    else if (!(*answer = cJSON_Parse(r.body)))
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                             "%s answered 200 with no JSON: %s", who, prov_snippet(r.body));
    else
        prov_report(c, "received", NULL, NULL, true);
    easel_http_resp_cleanup(&r);
    return rc;
}

easel_err prov_gemini(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err)
{
    cJSON *body = gemini_body(c, err);
    if (!body)
        return err && err->code ? err->code : EASEL_ENOMEM;
    const char *model = c->model->version ? c->model->version : "gemini-2.5-flash-image";
    char url[1024]; /* refused rather than cut */
    if (easel_snprintf(url, sizeof(url), "%s/v1beta/models/%s:generateContent",
                       easel_provider_base(c->model), model)) {
        cJSON_Delete(body);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "the request URL of %s is longer than %zu bytes", c->model->id,
                               sizeof(url) - 1);
    }
    cJSON *j = NULL;
    easel_err rc = google_post(c, "gemini", url, "x-goog-api-key: ", body, &j, err);
    cJSON_Delete(body);
    if (rc == EASEL_OK)
        rc = prov_gemini_answer(j, out, err);
    cJSON_Delete(j);
    return rc;
}

easel_err prov_imagen_answer(const cJSON *j, struct easel_call_result *out,
                             struct easel_error *err)
{
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "predictions"), 0);
    const char *b64 = easel_json_str(p0, "bytesBase64Encoded");
    const char *filtered = easel_json_str(p0, "raiFilteredReason");
    if (b64)
        return prov_b64_decode(b64, out) == EASEL_OK
                   ? EASEL_OK
                   : easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE,
                                     EASEL_R_PROVIDER_BAD_RESPONSE, "imagen's image is not base64");
    if (filtered || (j && !p0))
        return easel_error_set(err, EASEL_EPROVIDER, EASEL_CLASS_PERMANENT, EASEL_R_CONTENT_POLICY,
                               "imagen returned no image: %s",
                               filtered ? filtered : "every sample was filtered");
    return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_PROVIDER_BAD_RESPONSE,
                           "imagen answered 200 without an image");
}

easel_err prov_imagen(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err)
{
    const char *path = c->model->version;
    if (!path || strncmp(path, "projects/", 9) != 0)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_MODEL,
                               "imagen model %s needs version: projects/P/locations/L/"
                               "publishers/google/models/M", c->model->id);
    /* Vertex AI's reference makes the instance's prompt required, and an
     * empty one is refused: say so here, without a paid round trip */
    const char *prompt = easel_json_str(c->input, "prompt");
    if (!prompt || !prompt[0])
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                               "the %s template renders no prompt; Imagen needs one",
                               c->model->id);
    cJSON *body = cJSON_CreateObject();
    cJSON *inst = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "instances"), inst);
    cJSON_AddStringToObject(inst, "prompt", prompt);
    cJSON *params = cJSON_AddObjectToObject(body, "parameters");
    cJSON_AddNumberToObject(params, "sampleCount", 1);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c->input, "parameters"))
    {
        cJSON_DeleteItemFromObjectCaseSensitive(params, it->string);
        cJSON_AddItemToObject(params, it->string, cJSON_Duplicate(it, 1));
    }
    char url[1024]; /* refused rather than cut */
    if (easel_snprintf(url, sizeof(url), "%s/v1/%s:predict", easel_provider_base(c->model),
                       path)) {
        cJSON_Delete(body);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_URL,
                               "the request URL of %s is longer than %zu bytes", c->model->id,
                               sizeof(url) - 1);
    }
    cJSON *j = NULL;
    easel_err rc = google_post(c, "imagen", url, "Authorization: Bearer ", body, &j, err);
    cJSON_Delete(body);
    if (rc == EASEL_OK)
        rc = prov_imagen_answer(j, out, err);
    cJSON_Delete(j);
    return rc;
}
