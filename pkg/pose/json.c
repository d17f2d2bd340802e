/*
 * json.c - a pose result as JSON, the one shape `easel pose -o json`, the
 * API's /estimate-body and estimate-body jobs all print.
 */
#include <math.h>

#include <cjson/cJSON.h>

#include "easel/pose.h"

/* Rounds to 6 decimals so output is stable and short. */
static double r6(double v)
{
    return round(v * 1e6) / 1e6;
}

cJSON *easel_pose_landmarks_json(const struct easel_pose_result *res)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (int k = 0; k < EASEL_POSE_LANDMARKS; k++) {
        const struct easel_pose_landmark *l = &res->lm[k];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(o, "name", easel_pose_landmark_name(k));
        cJSON_AddNumberToObject(o, "x", r6(l->x));
        cJSON_AddNumberToObject(o, "y", r6(l->y));
        cJSON_AddNumberToObject(o, "z", r6(l->z));
        cJSON_AddNumberToObject(o, "visibility", r6(l->visibility));
        cJSON_AddNumberToObject(o, "presence", r6(l->presence));
    }
    return arr;
}

cJSON *easel_pose_world_json(const struct easel_pose_result *res)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (int k = 0; k < EASEL_POSE_LANDMARKS; k++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(o, "name", easel_pose_landmark_name(k));
        cJSON_AddNumberToObject(o, "x", r6(res->world[k][0]));
        cJSON_AddNumberToObject(o, "y", r6(res->world[k][1]));
        cJSON_AddNumberToObject(o, "z", r6(res->world[k][2]));
    }
    return arr;
}
