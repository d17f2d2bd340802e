/*
 * pose.c - `easel pose IMAGE`: the operator's view of body pose estimation,
 * through the same code the API and estimate-body jobs run.
 *
 * Exit codes: 0 a usable pose (and, with --height-cm, measurements); 1 the
 * image or the pose was refused, with the reason; 2 usage; 3 the models
 * could not be loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "easel/imaging.h"
#include "easel/pose.h"
#include "easel/registry.h"
#include "settings.h"

static void print_table(const char *path, int w, int h,
                        const struct easel_pose_result *r)
{
    printf("%s: %dx%d, %d %s, detection %.3f, pose %.3f\n", path, w, h,
           r->people, r->people == 1 ? "person" : "people",
           (double)r->detection_score, (double)r->pose_score);
    if (!r->found)
        return;
    printf("%-18s %9s %9s %9s %6s %6s\n", "LANDMARK", "X(px)", "Y(px)", "Z",
           "VIS", "PRES");
    for (int k = 0; k < EASEL_POSE_LANDMARKS; k++) {
        const struct easel_pose_landmark *l = &r->lm[k];
        printf("%-18s %9.1f %9.1f %9.4f %6.3f %6.3f\n",
               easel_pose_landmark_name(k), (double)(l->x * (float)w),
               (double)(l->y * (float)h), (double)l->z,
               (double)l->visibility, (double)l->presence);
    }
}

/* A number or a string of an answer easel_body_estimate built; 0 or ""
 * only if building it ran out of memory. */
static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

/* --height-cm: the measurements and a size, as the API answers them. */
static int measure(struct settings *s, const char *path, struct easel_pose *pose,
                   const struct easel_image *img, bool json)
{
    struct easel_registry *r = NULL;
    struct easel_diags d = {0};
    struct easel_error e;
    cJSON *o = NULL;
    int status = 1;

    if (s->registry && *s->registry ? easel_registry_load_file(s->registry, &r, &d)
                                    : easel_registry_builtin(&r)) {
        easel_diags_print(&d, s->registry, stderr);
        easel_diags_cleanup(&d);
        return 2;
    }
    const struct easel_size_chart *chart = easel_registry_size_chart(r, s->chart, NULL);
    if (s->chart && *s->chart && !chart) {
        fprintf(stderr, "easel pose: the registry has no size chart \"%s\"\n", s->chart);
        status = 2;
        goto out;
    }
    easel_error_clear(&e);
    if (easel_body_estimate(pose, img, s->height_cm, chart, &o, &e)) {
        printf("%s: refused (%s): %s\n", path, e.reason, e.msg);
        goto out;
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(o);
        if (text)
            printf("%s\n", text);
        free(text);
    } else {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "measurements");
        printf("%s: confidence %.3f\n", path, num(o, "confidence"));
        for (int k = 0; k < EASEL_M__COUNT; k++) {
            const char *name = easel_measure_name((enum easel_measure)k);
            printf("  %-16s %6.1f cm\n", name, num(m, name));
        }
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(o, "recommendation");
        if (cJSON_IsObject(rec)) {
            const cJSON *next = cJSON_GetObjectItemCaseSensitive(rec, "next");
            const char *ns = str(next, "size");
            double margin = num(next, "margin_cm");
            printf("  size %s (chart %s, %s); %s %.1f cm %s the edge toward %s\n",
                   str(rec, "size"), str(rec, "chart"), str(rec, "fit"),
                   str(next, "measurement"), margin < 0 ? -margin : margin,
                   margin < 0 ? "past" : "from", *ns ? ns : "the end of the chart");
        } else {
            printf("  no size chart in the registry: no recommendation\n");
        }
    }
    status = 0;
out:
    cJSON_Delete(o);
    easel_registry_unref(r);
    easel_diags_cleanup(&d);
    return status;
}

int mode_pose(struct settings *s, char **args, int nargs)
{
    const char *path = args[0];
    enum easel_pose_model which;
    struct easel_image_limits lim;
    struct easel_error e;
    struct easel_image *img = NULL;
    struct easel_pose *pose = NULL;
    struct easel_pose_result res;
    char *buf = NULL;
    size_t len = 0;
    int status = 1;

    if (nargs != 1)
        return 2;
    bool json = s->output && !strcmp(s->output, "json");
    if (s->output && !json && strcmp(s->output, "table")) {
        fprintf(stderr, "easel pose: -o must be table or json\n");
        return 2;
    }
    if (!easel_pose_model_parse(s->pose_model, &which)) {
        fprintf(stderr, "easel pose: --pose-model must be lite, full or heavy, not %s\n",
                s->pose_model ? s->pose_model : "(empty)");
        return 2;
    }
    easel_error_clear(&e);
    if (easel_pose_open(s->pose_models, which, &pose, &e)) {
        fprintf(stderr, "easel pose: %s\n", e.msg);
        return 3;
    }
    if (easel_imaging_init("easel", 1)) {
        fprintf(stderr, "easel pose: libvips failed to start: %s\n",
                easel_imaging_init_error());
        status = 3;
        goto out;
    }
    easel_err rc = easel_read_file(path, (size_t)s->max_source_bytes, &buf, &len);
    if (rc) {
        fprintf(stderr, "%s: cannot read: %s\n", path,
                rc == EASEL_ELIMIT ? "larger than --max-source-bytes" : easel_strerror(rc));
        goto out;
    }
    easel_image_limits_default(&lim);
    lim.max_pixels = s->max_pixels;
    lim.max_bytes = s->max_source_bytes;
    lim.max_width = lim.max_height = s->max_side;
    if (easel_image_load(buf, len, &lim, &img, &e)) {
        printf("%s: refused (%s): %s\n", path, e.reason, e.msg);
        goto out;
    }
    if (s->height_cm > 0) {
        status = measure(s, path, pose, img, json);
        goto out;
    }
    size_t stride;
    const uint8_t *px = easel_image_pixels(img, &stride);
    int w = easel_image_width(img), h = easel_image_height(img);
    double det_ms = 0, lm_ms = 0;
    for (int k = 0; k < (s->repeat > 0 ? s->repeat : 1); k++) {
        if (easel_pose_estimate(pose, px, w, h, stride, &res)) {
            fprintf(stderr, "%s: pose estimation failed\n", path);
            goto out;
        }
        det_ms += res.ms_detect;
        lm_ms += res.ms_landmarks;
    }
    res.ms_detect = det_ms / (s->repeat > 0 ? s->repeat : 1);
    res.ms_landmarks = lm_ms / (s->repeat > 0 ? s->repeat : 1);
    struct rusage ru;
    long peak_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "image", path);
        cJSON_AddNumberToObject(o, "width", w);
        cJSON_AddNumberToObject(o, "height", h);
        cJSON_AddStringToObject(o, "model", easel_pose_model_name(which));
        cJSON_AddNumberToObject(o, "people", res.people);
        cJSON_AddBoolToObject(o, "found", res.found);
        cJSON_AddNumberToObject(o, "detection_score", res.detection_score);
        cJSON_AddNumberToObject(o, "pose_score", res.pose_score);
        if (res.found) {
            cJSON_AddItemToObject(o, "landmarks", easel_pose_landmarks_json(&res));
            cJSON_AddItemToObject(o, "world_landmarks", easel_pose_world_json(&res));
        }
        cJSON *t = cJSON_AddObjectToObject(o, "ms");
        cJSON_AddNumberToObject(t, "detect", res.ms_detect);
        cJSON_AddNumberToObject(t, "landmarks", res.ms_landmarks);
        cJSON_AddNumberToObject(o, "runs", s->repeat > 0 ? s->repeat : 1);
        cJSON_AddNumberToObject(o, "peak_rss_kb", (double)peak_kb);
        char *text = cJSON_PrintUnformatted(o);
        if (text)
            printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        print_table(path, w, h, &res);
    }
    status = res.found ? 0 : 1;
out:
    easel_image_free(img);
    easel_pose_free(pose);
    free(buf);
    return status;
}
