/*
 * fetch.c - the first stage of an attempt: the job's input read and its
 * sources fetched. The sources are untrusted: they are fetched under the
 * fetch options (size, time, allowed hosts and roots) and loaded under the
 * image limits, with the input formats the registry enables on top of
 * JPEG, PNG and WebP. A job has one source, or two with an inset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_int.h"

/* The last attempt's output failed a check: this one asks for another
 * image, not the same one again. Takes the job and the parsed input; may
 * add "fields" to the input. */
static void reseed(const struct easel_job *job, cJSON *input, cJSON **fields)
{
    if (job->attempts <= 1 || !easel_reason_is_quality(easel_reason_parse(job->error_reason)))
        return;
    if (!*fields && input)
        *fields = cJSON_AddObjectToObject(input, "fields");
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(*fields, "seed");
    char was[32] = "none";
    if (cJSON_IsNumber(old))
        easel_fmt_cut(was, sizeof(was), "%.0f", old->valuedouble); /* for the log only */
    if (easel_quality_reseed(*fields, job->id, job->attempts))
        easel_info(job->id, "the last output failed its %s check: seed %s -> %.0f",
                   job->error_reason + 8, was,
                   cJSON_GetObjectItemCaseSensitive(*fields, "seed")->valuedouble);
}

/* "https", "s3", "file", "data" or "other": what a span may say of a URL. */
static const char *fetch_scheme(const char *url)
{
    static const char *const known[] = {"https:", "http:", "s3:", "file:", "data:"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (easel_str_has_prefix(url, known[i]))
            return i == 0 ? "https" : i == 1 ? "http" : i == 2 ? "s3" : i == 3 ? "file" : "data";
    return "other";
}

/* One source: fetched, then loaded. On failure *img stays NULL. */
static easel_err fetch_image(struct attempt *a, const char *url, struct easel_image **img,
                             int64_t *bytes)
{
    void *data = NULL;
    size_t len = 0;
    struct easel_span *span = easel_span_child(a->span, "easel.fetch", EASEL_SPAN_CLIENT);
    /* the scheme only: a source URL may carry credentials or a signature */
    easel_span_str(span, "url.scheme", fetch_scheme(url));
    easel_err rc = easel_fetch(url, &a->o->fetch, &data, &len, &a->err);
    easel_span_int(span, "easel.bytes", (int64_t)len);
    easel_span_str(span, "easel.reason", rc ? a->err.reason : NULL);
    easel_span_rc(span, rc, a->err.msg);
    easel_span_end(span);
    if (rc)
        return rc;
    *bytes = (int64_t)len;
    runner_fig_source(a, (int64_t)len);
    struct easel_image_limits lim = a->o->limits;
    lim.extra_formats |= a->reg->input_formats;
    int64_t t0 = easel_now_ms();
    rc = easel_image_load(data, len, &lim, img, &a->err);
    runner_fig_image(a, easel_now_ms() - t0, rc == EASEL_OK);
    free(data);
    return rc;
}

easel_err runner_sources_fetch(struct attempt *a, struct runner_sources *src)
{
    const struct easel_job *job = a->job;
    memset(src, 0, sizeof(*src));
    src->input = job->input ? cJSON_Parse(job->input) : NULL;
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(src->input, "images");
    src->fields = cJSON_GetObjectItemCaseSensitive(src->input, "fields");
    reseed(job, src->input, &src->fields);
    src->urls[0] = cJSON_GetArrayItem(images, 0);
    if (!cJSON_IsString(src->urls[0]))
        return easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_NO_SOURCE_IMAGE,
                               "the job has no source image URL");
    src->n = 1;
    easel_err rc = fetch_image(a, src->urls[0]->valuestring, &src->img[0], &src->bytes[0]);
    if (rc)
        return rc;
    const cJSON *inset = cJSON_GetArrayItem(images, 1);
    if (!cJSON_IsString(inset))
        return EASEL_OK;
    src->urls[1] = inset;
    src->n = 2;
    return fetch_image(a, src->urls[1]->valuestring, &src->img[1], &src->bytes[1]);
}

void runner_sources_cleanup(struct runner_sources *src)
{
    cJSON_Delete(src->input);
    easel_image_free(src->img[0]);
    easel_image_free(src->img[1]);
    memset(src, 0, sizeof(*src));
}
