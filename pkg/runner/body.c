/*
 * body.c - the model stage of an estimate-body job (a model with
 * provider: pose, docs/pose.md): the photo fetched and loaded like any
 * source, MediaPipe's pose run in-process, the measurements and a size
 * from the registry's chart as the job's result. The photo is stored only
 * when the job asks (fields.store_image: true), as the preset's variants.
 * A pose that cannot be measured fails the job for good, with the refusal
 * as its reason (no_person, body_cut_off, ...): another attempt would see
 * the same photo.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "easel/pose.h"
#include "runner_int.h"

static easel_err bad_field(struct attempt *a, const char *msg)
{
    return easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT, "%s",
                           msg);
}

easel_err runner_body_run(struct attempt *a, const struct easel_model *m, int64_t t0,
                          char **result, const char **used)
{
    struct runner_sources src = {0};
    struct runner_output out = {0};
    struct easel_pose *pose = NULL;
    enum easel_pose_model which = EASEL_POSE_FULL;
    cJSON *body = NULL, *res = NULL;
    const char *preset = NULL;
    easel_err rc;

    runner_progress(a, "fetching", 0, "fetching the photo");
    if ((rc = runner_sources_fetch(a, &src)))
        goto out;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(src.fields, "height_cm");
    double height = cJSON_IsNumber(h) ? h->valuedouble : NAN;
    if (cJSON_IsString(h) && h->valuestring)
        height = strtod(h->valuestring, NULL);
    if (!(height >= 50 && height <= 250)) {
        rc = bad_field(a, "an estimate-body job needs fields.height_cm, the person's height in "
                          "centimetres, 50 to 250");
        goto out;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(src.fields, "chart");
    const char *chart_name = cJSON_IsString(ch) ? ch->valuestring : NULL;
    char owner[EASEL_OWNER_KEY_MAX + 8] = "";
    if (a->job->channel && a->job->owner)
        easel_fmt_cut(owner, sizeof owner, "%s:%s", a->job->channel, a->job->owner);
    const struct easel_size_chart *chart = easel_registry_size_chart(a->reg, chart_name, owner);
    if (chart_name && *chart_name && !chart) {
        rc = easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                             "the registry has no size chart \"%.100s\"", chart_name);
        goto out;
    }
    if (a->o->pose_service) {
        runner_progress(a, "model", 40, "estimating the body");
        int64_t tw = easel_now_ms();
        rc = easel_pose_service_estimate(a->o->pose_service, src.img[0], height, chart, &body,
                                         &a->err);
        runner_fig_image(a, easel_now_ms() - tw, rc == EASEL_OK);
        if (rc)
            goto out;
        goto estimated;
    }
    if (!a->o->pose_models || !*a->o->pose_models) {
        rc = easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                             EASEL_R_POSE_MODEL_UNAVAILABLE,
                             "model %s needs the pose models: run the worker with --pose-models "
                             "DIR (EASEL_POSE_MODELS)", m->id);
        goto out;
    }
    if (a->o->pose_model && *a->o->pose_model &&
        !easel_pose_model_parse(a->o->pose_model, &which)) {
        rc = easel_error_set(&a->err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                             EASEL_R_POSE_MODEL_UNAVAILABLE,
                             "--pose-model must be lite, full or heavy, not \"%.40s\"",
                             a->o->pose_model);
        goto out;
    }
    runner_progress(a, "model", 20, "loading the pose models");
    if ((rc = easel_pose_open(a->o->pose_models, which, &pose, &a->err)))
        goto out;
    runner_progress(a, "model", 40, "estimating the body");
    int64_t tm = easel_now_ms();
    rc = easel_body_estimate(pose, src.img[0], height, chart, &body, &a->err);
    runner_fig_image(a, easel_now_ms() - tm, rc == EASEL_OK);
    if (rc)
        goto out;
estimated:;
    const cJSON *keep = cJSON_GetObjectItemCaseSensitive(src.fields, "store_image");
    if (cJSON_IsTrue(keep)) {
        runner_progress(a, "variants", 85, "storing the photo, as the job asks");
        out.model = m;
        out.img = src.img[0]; /* borrowed for the variants */
        rc = runner_store_variants(a, &src, &out, &res, &preset);
        out.img = NULL;
        if (rc)
            goto out;
    } else {
        res = cJSON_CreateObject();
        if (!res || !cJSON_AddArrayToObject(res, "outputs")) {
            rc = EASEL_ENOMEM;
            goto out;
        }
    }
    cJSON_AddStringToObject(res, "model", m->id);
    cJSON *source = cJSON_AddObjectToObject(res, "source");
    cJSON_AddStringToObject(source, "url", src.urls[0]->valuestring);
    cJSON_AddNumberToObject(source, "bytes", (double)src.bytes[0]);
    /* the estimate's own keys: landmarks, measurements, recommendation, ... */
    cJSON *it = body ? body->child : NULL;
    while (it) {
        cJSON *next = it->next;
        cJSON *moved = cJSON_DetachItemViaPointer(body, it);
        cJSON_AddItemToObject(res, moved->string, moved);
        it = next;
    }
    cJSON_AddNumberToObject(res, "duration_ms", (double)(easel_now_ms() - t0));
    *result = cJSON_PrintUnformatted(res);
    *used = m->id;
    rc = *result ? EASEL_OK : EASEL_ENOMEM;
out:
    cJSON_Delete(res);
    cJSON_Delete(body);
    easel_pose_free(pose);
    runner_output_cleanup(&out);
    runner_sources_cleanup(&src);
    return rc;
}
