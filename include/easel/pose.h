/*
 * pose.h - MediaPipe's 33-landmark body pose, run in C: the person detector,
 * the region of interest it implies (rotation included), the landmark model
 * on a 256x256 crop of it, heatmap refinement, and the landmarks projected
 * back onto the image. Then body measurements and a size from a chart.
 *
 * The models are MediaPipe's own files (hack/fetch-pose-models.sh puts them
 * in a folder); docs/pose.md says what each step does and how closely the
 * result agrees with MediaPipe's own build.
 *
 * A struct easel_pose is not thread-safe: one estimate at a time.
 */
#ifndef EASEL_POSE_H
#define EASEL_POSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"

#define EASEL_POSE_LANDMARKS 33

/* Which landmark model: MediaPipe's model_complexity 0, 1, 2. */
enum easel_pose_model { EASEL_POSE_LITE = 0, EASEL_POSE_FULL = 1,
                        EASEL_POSE_HEAVY = 2 };
const char *easel_pose_model_name(enum easel_pose_model m); /* "lite" ... */
/* "lite", "full", "heavy" (or "0", "1", "2"); false when none of them. */
bool easel_pose_model_parse(const char *s, enum easel_pose_model *out);

/* The file names inside the models folder. */
#define EASEL_POSE_DETECTOR_FILE "pose_detection.tflite"
const char *easel_pose_model_file(enum easel_pose_model m);

struct easel_pose;

/* Loads the detector and one landmark model from dir. A missing file is
 * EASEL_ENOTFOUND naming the path; a file that is not a model easel can run
 * is EASEL_EPARSE or EASEL_EUNSUPPORTED with why. */
easel_err easel_pose_open(const char *dir, enum easel_pose_model which,
                          struct easel_pose **out, struct easel_error *err);
void easel_pose_free(struct easel_pose *p);
enum easel_pose_model easel_pose_which(const struct easel_pose *p);
/* Float32 bytes of weights held after load, for both models. */
long long easel_pose_weight_bytes(const struct easel_pose *p);

struct easel_pose_landmark {
    float x, y;       /* fractions of the image's width and height */
    float z;          /* depth, in the same scale as x (MediaPipe's) */
    float visibility; /* 0..1: in frame and not occluded */
    float presence;   /* 0..1: in frame */
};

struct easel_pose_result {
    int people;                 /* detections after suppression (0 = none) */
    float detection_score;      /* of the one the landmarks were taken for */
    float pose_score;           /* the landmark model's "a pose is here" */
    struct {                    /* the crop, in image pixels */
        float cx, cy, size, rotation; /* rotation in radians */
    } roi;
    struct easel_pose_landmark lm[EASEL_POSE_LANDMARKS];
    float world[EASEL_POSE_LANDMARKS][3]; /* metres, hips at the origin */
    bool found;                 /* people > 0 and pose_score >= 0.5 */
    double ms_detect, ms_landmarks; /* time spent in each model */
};

/* Runs the whole pipeline on rows of RGB bytes. EASEL_EINVAL for a size
 * under 2 pixels or over 2^15 a side; no person is not an error
 * (res->found is false). */
easel_err easel_pose_estimate(struct easel_pose *p, const uint8_t *rgb, int w,
                              int h, size_t stride,
                              struct easel_pose_result *res);

struct cJSON;
/* The 33 landmarks as [{name, x, y, z, visibility, presence}], and the
 * world landmarks as [{name, x, y, z}] in metres. NULL when out of memory. */
struct cJSON *easel_pose_landmarks_json(const struct easel_pose_result *res);
struct cJSON *easel_pose_world_json(const struct easel_pose_result *res);

/* MediaPipe's landmark names, "nose" ... "right_foot_index". */
const char *easel_pose_landmark_name(int k);

#endif
