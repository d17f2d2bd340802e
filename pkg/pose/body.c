/*
 * body.c - one body estimate, start to finish, as the API's /estimate-body
 * and `easel pose --height-cm` answer it: the pose on a decoded image, the
 * measurements, a size from a chart, and the JSON they print.
 *
 *   {"landmarks": [...33], "world_landmarks": [...],
 *    "measurements": {"unit": "cm", "height": H, "shoulder_width": ..., ...},
 *    "recommendation": {"chart", "size", "fit", "used": {...},
 *                       "next": {"size", "measurement", "margin_cm"}} | null,
 *    "confidence": 0..1, "pose": {"model", "people", "detection_score",
 *    "pose_score", "yaw_deg"}, "image": {"width", "height"}}
 */
#include <math.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "easel/imaging.h"
#include "easel/pose.h"

static double r1(double v)
{
    return round(v * 10) / 10;
}

static double r3(double v)
{
    return round(v * 1000) / 1000;
}

static cJSON *recommendation(const struct easel_size_chart *chart,
                             const struct easel_body *b)
{
    struct easel_size_pick pick;
    if (!chart || easel_size_pick(chart, b, &pick) != EASEL_OK)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "chart", chart->name);
    cJSON_AddStringToObject(o, "size", pick.size->name);
    cJSON_AddStringToObject(o, "fit", pick.within ? "within" : "closest");
    cJSON *used = cJSON_AddObjectToObject(o, "used");
    for (int m = 0; m < EASEL_M__COUNT; m++)
        if (pick.used & (1u << m))
            cJSON_AddNumberToObject(used, easel_measure_name((enum easel_measure)m),
                                    r1(b->cm[m]));
    cJSON *next = cJSON_AddObjectToObject(o, "next");
    if (pick.next)
        cJSON_AddStringToObject(next, "size", pick.next->name);
    else
        cJSON_AddNullToObject(next, "size");
    cJSON_AddStringToObject(next, "measurement", easel_measure_name(pick.edge));
    cJSON_AddNumberToObject(next, "margin_cm", r1(pick.margin_cm));
    return o;
}

easel_err easel_body_estimate(struct easel_pose *p, const struct easel_image *img,
                              double height_cm, const struct easel_size_chart *chart,
                              cJSON **out, struct easel_error *err)
{
    struct easel_pose_result res;
    struct easel_body body;
    size_t stride;
    char why[240];

    *out = NULL;
    const uint8_t *px = easel_image_pixels(img, &stride);
    int w = easel_image_width(img), h = easel_image_height(img);
    easel_err rc = easel_pose_estimate(p, px, w, h, stride, &res);
    if (rc == EASEL_EINVAL)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_IMAGE_TOO_LARGE,
                               "the image is %dx%d; pose estimation takes 2 to 32768 pixels a "
                               "side", w, h);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_NONE,
                               "pose estimation ran out of memory");
    enum easel_reason r = easel_pose_measure(&res, w, h, height_cm, &body, why, sizeof why);
    if (r != EASEL_R_NONE)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, r, "%s", why);

    cJSON *o = cJSON_CreateObject();
    if (!o)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NONE,
                               "out of memory");
    cJSON_AddItemToObject(o, "landmarks", easel_pose_landmarks_json(&res));
    cJSON_AddItemToObject(o, "world_landmarks", easel_pose_world_json(&res));
    if (height_cm > 0) {
        cJSON *m = cJSON_AddObjectToObject(o, "measurements");
        cJSON_AddStringToObject(m, "unit", "cm");
        cJSON_AddNumberToObject(m, "height", r1(height_cm));
        for (int k = 0; k < EASEL_M__COUNT; k++)
            cJSON_AddNumberToObject(m, easel_measure_name((enum easel_measure)k),
                                    r1(body.cm[k]));
        cJSON_AddItemToObject(o, "recommendation", recommendation(chart, &body));
    } else {
        cJSON_AddNullToObject(o, "measurements");
        cJSON_AddNullToObject(o, "recommendation");
    }
    cJSON_AddNumberToObject(o, "confidence", r3(body.confidence));
    cJSON *pose = cJSON_AddObjectToObject(o, "pose");
    cJSON_AddStringToObject(pose, "model", easel_pose_model_name(easel_pose_which(p)));
    cJSON_AddNumberToObject(pose, "people", res.people);
    cJSON_AddNumberToObject(pose, "detection_score", r3(res.detection_score));
    cJSON_AddNumberToObject(pose, "pose_score", r3(res.pose_score));
    cJSON_AddNumberToObject(pose, "yaw_deg", r1(body.yaw_deg));
    cJSON *im = cJSON_AddObjectToObject(o, "image");
    cJSON_AddNumberToObject(im, "width", w);
    cJSON_AddNumberToObject(im, "height", h);
    if (!cJSON_GetObjectItemCaseSensitive(o, "landmarks")) {
        cJSON_Delete(o);
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NONE,
                               "out of memory");
    }
    *out = o;
    return EASEL_OK;
}
