/*
 * body.c - POST /estimate-body (and /v1/estimate-body): a photo and the
 * person's height in, landmarks, measurements, a size and a confidence out
 * (docs/pose.md). The try-on app's own endpoint, answered by easel.
 *
 * The image comes as a multipart upload (field "image", with "height_cm"
 * and optionally "chart"), or as JSON {"image_url", "height_cm", "chart"}
 * fetched under the controller's source rules (the SSRF guard and
 * --source-allow; http(s) and data: URLs, never file://). Nothing is
 * stored: the image lives for the request.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "easel/imaging.h"
#include "easel/pose.h"
#include "easel/registry.h"
#include "easel/storage.h"

#define MAX_PARTS 8

/* "170", "170.5": a height from 50 to 250 cm */
static bool height_ok(double h)
{
    return isfinite(h) && h >= 50 && h <= 250;
}

static bool parse_height(const char *s, size_t n, double *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (!end || *end || end == buf)
        return false;
    *out = v;
    return height_ok(v);
}

struct body_in {
    const uint8_t *image;
    size_t image_len;
    char *url;
    double height;
    bool have_height;
    char chart[128];
};

static bool from_multipart(struct api_req *r, struct body_in *in)
{
    struct api_part parts[MAX_PARTS];
    char err[200];
    int n = api_multipart_parse(r->content_type, (const uint8_t *)r->body.data, r->body.len,
                                parts, MAX_PARTS, err, sizeof err);
    if (n < 0) {
        api_error(r, 400, "malformed_multipart", "%s", err);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const struct api_part *p = &parts[i];
        if (!strcmp(p->name, "image")) {
            if (in->image) {
                api_error(r, 422, "invalid_request", "more than one image part");
                return false;
            }
            in->image = p->data;
            in->image_len = p->len;
        } else if (!strcmp(p->name, "height_cm")) {
            if (!parse_height((const char *)p->data, p->len, &in->height)) {
                api_error(r, 422, "invalid_height",
                          "height_cm must be the person's height in centimetres, 50 to 250");
                return false;
            }
            in->have_height = true;
        } else if (!strcmp(p->name, "chart")) {
            if (p->len == 0 || p->len >= sizeof in->chart) {
                api_error(r, 422, "invalid_request", "chart must name a size chart");
                return false;
            }
            memcpy(in->chart, p->data, p->len);
            in->chart[p->len] = '\0';
        } else if (!strcmp(p->name, "image_url")) {
            if (in->url) {
                api_error(r, 422, "invalid_request", "more than one image_url part");
                return false;
            }
            in->url = easel_strndup((const char *)p->data, p->len);
        } else {
            api_error(r, 422, "invalid_request",
                      "unknown field \"%s\" (image, image_url, height_cm, chart)", p->name);
            return false;
        }
    }
    return true;
}

static bool from_json(struct api_req *r, struct body_in *in)
{
    cJSON *b = api_body_object(r);
    if (!b)
        return false;
    bool ok = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, b) {
        if (!strcmp(it->string, "image_url") && cJSON_IsString(it) && it->valuestring[0] &&
            !in->url) {
            in->url = easel_strdup(it->valuestring);
        } else if (!strcmp(it->string, "height_cm") && cJSON_IsNumber(it)) {
            if (!height_ok(it->valuedouble)) {
                api_error(r, 422, "invalid_height",
                          "height_cm must be the person's height in centimetres, 50 to 250");
                goto out;
            }
            in->height = it->valuedouble;
            in->have_height = true;
        } else if (!strcmp(it->string, "chart") && cJSON_IsString(it) &&
                   it->valuestring[0] && strlen(it->valuestring) < sizeof in->chart) {
            easel_strlcpy(in->chart, it->valuestring, sizeof in->chart);
        } else {
            api_error(r, 422, "invalid_request",
                      "\"%s\" is not a field of this request, or has the wrong type "
                      "(image_url: string, height_cm: number, chart: string)", it->string);
            goto out;
        }
    }
    ok = true;
out:
    cJSON_Delete(b);
    return ok;
}

/* 422 for what the client can fix, 502 when the source failed on the way */
static int fail_status(const struct easel_error *e)
{
    return e->cls == EASEL_CLASS_RETRYABLE ? 502 : 422;
}

void api_estimate_body(struct api_ctx *x, struct api_req *r)
{
    const struct easel_api_opts *o = x->o;
    struct body_in in;
    struct easel_error e;
    struct easel_image *img = NULL;
    void *fetched = NULL;
    size_t flen = 0;
    cJSON *out = NULL;

    memset(&in, 0, sizeof in);
    easel_error_clear(&e);
    if (!o->pose) {
        api_error(r, 503, "pose_disabled",
                  "body estimation is not enabled here: start the controller with "
                  "--pose-models DIR (hack/fetch-pose-models.sh fills one)");
        return;
    }
    char boundary[80];
    bool ok = api_multipart_boundary(r->content_type, boundary, sizeof boundary)
                  ? from_multipart(r, &in)
              : r->content_type && !strncasecmp(r->content_type, "multipart/", 10)
                  ? (api_error(r, 400, "malformed_multipart",
                               "the Content-Type has no valid multipart boundary"),
                     false)
                  : from_json(r, &in);
    if (!ok)
        goto out;
    if (!in.have_height) {
        api_error(r, 422, "invalid_height",
                  "height_cm (the person's height in centimetres) is required");
        goto out;
    }
    if (!!in.image == !!in.url) {
        api_error(r, 422, "invalid_request",
                  "give the photo once: an \"image\" upload or an \"image_url\"");
        goto out;
    }
    const uint8_t *bytes = in.image;
    size_t len = in.image_len;
    if (in.url) {
        if (!o->fetch) {
            api_error(r, 422, "invalid_request", "image_url is not accepted here; upload the image");
            goto out;
        }
        struct easel_fetch_opts fo = *o->fetch;
        fo.schemes = EASEL_SCHEME_HTTP | EASEL_SCHEME_DATA;
        if (easel_fetch(in.url, &fo, &fetched, &flen, &e)) {
            api_error(r, fail_status(&e), e.reason[0] ? e.reason : "source_unreachable",
                      "image_url: %s", e.msg);
            goto out;
        }
        bytes = fetched;
        len = flen;
    }
    struct easel_image_limits lim;
    if (o->image_limits)
        lim = *o->image_limits;
    else
        easel_image_limits_default(&lim);
    if (easel_image_load(bytes, len, &lim, &img, &e)) {
        api_error(r, 422, e.reason[0] ? e.reason : "corrupt_image", "%s", e.msg);
        goto out;
    }
    /* a b2b token's store chooses its own chart */
    char owner[EASEL_OWNER_KEY_MAX + 8] = "";
    if (r->tok && r->tok->channel && r->tok->owner)
        easel_fmt_cut(owner, sizeof owner, "%s:%s", r->tok->channel, r->tok->owner);
    const struct easel_size_chart *chart =
        easel_registry_size_chart(x->reg, in.chart[0] ? in.chart : NULL, owner);
    if (in.chart[0] && !chart) {
        api_error(r, 422, "unknown_chart", "the registry has no size chart \"%s\"", in.chart);
        goto out;
    }
    easel_err rc = easel_pose_service_estimate(o->pose, img, in.height, chart, &out, &e);
    if (rc == EASEL_EAGAIN) {
        api_error(r, 503, "pose_busy", "%s", e.msg);
        r->retry_after_s = 1;
        goto out;
    }
    if (rc) {
        api_error(r, e.code == EASEL_ENOMEM ? 503 : 422, e.reason[0] ? e.reason : "internal",
                  "%s", e.msg);
        goto out;
    }
    api_reply_json(r, 200, out);
    out = NULL;
out:
    cJSON_Delete(out);
    easel_image_free(img);
    free(fetched);
    free(in.url);
}
