/*
 * store.c - the last stage of the work: the model's output made into the
 * variants its output preset lists, each written to the sink under a key
 * from the job's channel template as soon as it is encoded. Keys depend
 * only on the job, so a retry overwrites instead of duplicating; and an
 * attempt that fails half way removes what it stored, so the store never
 * holds part of a result the record does not list.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_int.h"

struct outputs {
    struct attempt *a;    /* for progress */
    struct easel_sink *sink;
    const struct easel_job *job;
    char date[16];        /* the job's creation day, UTC, for {date} in keys */
    const char *tmpl;     /* the object key template for the job's channel */
    const char *model;    /* the model that produced the output */
    cJSON *list;
    cJSON *sizes;         /* variant -> encoded bytes, for the image metrics */
    cJSON *events;        /* the "output" events' data, sent once all are stored */
    int64_t store_ms;     /* time spent storing, not processing */
    char **stored;        /* keys this attempt stored, to remove if it fails */
    size_t nstored;
    struct easel_error *err;
    struct easel_span *span;   /* the variants span, parent of each upload */
};

/* Removes what this attempt stored, after a failure. Best effort: a key
 * that cannot be removed is logged, and the next attempt overwrites it. */
static void unstore(struct outputs *o)
{
    size_t removed = 0;
    for (size_t i = 0; i < o->nstored; i++) {
        struct easel_error e;
        easel_error_clear(&e);
        if (easel_sink_delete(o->sink, o->stored[i], &e) == EASEL_OK)
            removed++;
        else
            easel_warn(o->job->id, "could not remove %s, stored before the failure: %s",
                       o->stored[i], e.msg);
    }
    if (o->nstored)
        easel_info(o->job->id, "removed %zu of the %zu outputs stored before the failure",
                   removed, o->nstored);
}

static void outputs_cleanup(struct outputs *o)
{
    for (size_t i = 0; i < o->nstored; i++)
        free(o->stored[i]);
    free(o->stored);
}

/* The entry of one stored variant in the result's "outputs". */
static cJSON *output_item(struct outputs *o, const struct easel_variant_out *v, const char *url)
{
    cJSON *item = cJSON_CreateObject();
    if (!item)
        return NULL;
    cJSON_AddStringToObject(item, "variant", v->spec->name);
    cJSON_AddStringToObject(item, "url", url);
    /* results in a bucket get a link people can open, for a while */
    int64_t expires_at = 0;
    char *signed_url = easel_sink_presign(o->sink, url, &expires_at);
    if (signed_url) {
        cJSON_AddStringToObject(item, "presigned_url", signed_url);
        cJSON_AddNumberToObject(item, "presigned_expires_at", (double)expires_at);
        free(signed_url);
    }
    cJSON_AddStringToObject(item, "format", easel_format_name(v->spec->format));
    cJSON_AddNumberToObject(item, "width", v->width);
    cJSON_AddNumberToObject(item, "height", v->height);
    cJSON_AddNumberToObject(item, "bytes", (double)v->len);
    return item;
}

/* easel_image_variants' callback: one variant, written and listed. */
static easel_err put_variant(void *ctx, const struct easel_variant_out *v)
{
    struct outputs *o = ctx;
    char key[1024], why[300];
    struct easel_key_vars kv = {o->job->id, v->spec->name, easel_format_ext(v->spec->format),
                                o->job->owner, o->job->channel, o->model, o->date};
    if (easel_object_key(o->tmpl, &kv, key, sizeof(key), why, sizeof(why)))
        return easel_error_set(o->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KEY,
                               "cannot name the %s output: %s", v->spec->name, why);
    char *url = NULL;
    runner_progress(o->a, "storing", 90, v->spec->name);
    int64_t t0 = easel_now_ms();
    cJSON_AddNumberToObject(o->sizes, v->spec->name, (double)v->len);
    struct easel_span *span = easel_span_child(o->span, "easel.storage.upload", EASEL_SPAN_CLIENT);
    easel_span_str(span, "easel.variant", v->spec->name);
    easel_span_int(span, "easel.bytes", (int64_t)v->len);
    easel_err rc = easel_sink_put(o->sink, key, v->data, v->len,
                                  easel_format_mime(v->spec->format), &url, o->err);
    easel_span_rc(span, rc, o->err->msg);
    easel_span_end(span);
    o->store_ms += easel_now_ms() - t0;
    if (rc)
        return rc;
    char **grown = realloc(o->stored, (o->nstored + 1) * sizeof(*grown));
    if (grown) {
        o->stored = grown;
        if ((grown[o->nstored] = easel_strdup(key)))
            o->nstored++;
    }
    cJSON *item = output_item(o, v, url);
    cJSON *ev = cJSON_CreateObject();
    if (ev) {
        cJSON_AddStringToObject(ev, "variant", v->spec->name);
        cJSON_AddStringToObject(ev, "url", url);
        cJSON_AddStringToObject(ev, "content_type", easel_format_mime(v->spec->format));
        cJSON_AddNumberToObject(ev, "width", v->width);
        cJSON_AddNumberToObject(ev, "height", v->height);
        cJSON_AddNumberToObject(ev, "bytes", (double)v->len);
        if (!cJSON_AddItemToArray(o->events, ev))
            cJSON_Delete(ev); /* information only: the output stays */
    }
    free(url);
    if (!item)
        return EASEL_ENOMEM;
    cJSON_AddItemToArray(o->list, item);
    return EASEL_OK;
}

/* One "output" event per stored variant, sent only once every variant is
 * stored: an attempt that fails half way removes what it stored, and a
 * stream must not have announced a URL that is gone. */
static void announce(struct outputs *o)
{
    cJSON *ev;
    while ((ev = cJSON_DetachItemFromArray(o->events, 0)))
        runner_output_event(o->a, ev);
}

/* Recorded with the result, for the metrics endpoint to serve:
 * image_processing_duration_seconds, image_compression_ratio,
 * image_original_size_bytes, image_compressed_size_bytes{variant}.
 * Takes o->sizes. */
static void image_metrics(cJSON *res, struct outputs *o, const struct runner_sources *src,
                          int64_t t0)
{
    cJSON *im = cJSON_AddObjectToObject(res, "image_metrics");
    double total = 0;
    const cJSON *sz;
    cJSON_ArrayForEach(sz, o->sizes)
        total += sz->valuedouble;
    double original = (double)src->bytes[0];
    cJSON_AddStringToObject(im, "tool", "libvips");
    cJSON_AddNumberToObject(im, "processing_seconds",
                            (double)(easel_now_ms() - t0 - o->store_ms) / 1000.0);
    cJSON_AddNumberToObject(im, "original_size_bytes", original);
    if (!cJSON_AddItemToObject(im, "compressed_size_bytes", o->sizes))
        cJSON_Delete(o->sizes);
    o->sizes = NULL;
    cJSON_AddNumberToObject(im, "compression_ratio", total > 0 ? original / total : 0);
    runner_fig_output(o->a, total > 0 ? original / total : 0,
                      cJSON_GetObjectItemCaseSensitive(im, "compressed_size_bytes"));
}

easel_err runner_store_variants(struct attempt *a, const struct runner_sources *src,
                                const struct runner_output *out, cJSON **res,
                                const char **preset_name)
{
    const struct easel_job *job = a->job;
    const char *name = out->model->preset ? out->model->preset : "default";
    const struct easel_preset *preset = easel_registry_preset(a->reg, name);
    struct easel_sink *sink = NULL;
    cJSON *r = NULL;
    easel_err rc;
    *res = NULL;
    if (!preset)
        return easel_error_set(&a->err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNKNOWN_PRESET, "output preset \"%s\" is not defined", name);
    if (*a->stop)
        return easel_error_set(&a->err, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_TERMINATED,
                               "the worker was asked to stop before storing the outputs");
    if ((rc = easel_sink_open(a->o->storage_url, &sink, &a->err)))
        return rc;
    r = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(r, "outputs");
    if (!r || !list) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    struct outputs o = {.a = a, .sink = sink, .job = job, .model = out->model->id, .list = list,
                        .err = &a->err, .sizes = cJSON_CreateObject(),
                        .events = cJSON_CreateArray(),
                        .tmpl = easel_key_template_for((const char *const *)a->reg->paths,
                                                       job->channel)};
    time_t created = (time_t)(job->created_ms / 1000);
    struct tm tm;
    if (gmtime_r(&created, &tm))
        strftime(o.date, sizeof(o.date), "%Y-%m-%d", &tm);
    int64_t t0 = easel_now_ms();
    o.span = easel_span_child(a->span, "easel.variants", EASEL_SPAN_INTERNAL);
    easel_span_str(o.span, "easel.preset", preset->name);
    rc = easel_image_variants(out->img, preset, put_variant, &o, &a->err);
    /* a failed decode, resize or encode counts too, with success="false";
     * a failed store is the sink's, not image work */
    if (!rc || strncmp(a->err.reason, "storage_", 8) != 0)
        runner_fig_image(a, easel_now_ms() - t0 - o.store_ms, rc == EASEL_OK);
    easel_span_int(o.span, "easel.outputs", (int64_t)o.nstored);
    easel_span_rc(o.span, rc, a->err.msg);
    easel_span_end(o.span);
    if (rc) {
        unstore(&o);
    } else {
        image_metrics(r, &o, src, t0);
        announce(&o);
    }
    outputs_cleanup(&o);
    cJSON_Delete(o.sizes);
    cJSON_Delete(o.events);
    if (rc)
        goto out;
    *res = r;
    *preset_name = preset->name;
    r = NULL;
out:
    cJSON_Delete(r);
    easel_sink_free(sink);
    return rc;
}
