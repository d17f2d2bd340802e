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

/* ---------------------------------------------------------- measurements */

/* What easel measures, in centimetres, from the 2-D landmarks scaled by the
 * person's given height (docs/pose.md: how, and the limits). */
enum easel_measure {
    EASEL_M_SHOULDER_WIDTH, /* between the shoulder joints */
    EASEL_M_HIP_WIDTH,      /* between the hip joints */
    EASEL_M_TORSO_LENGTH,   /* mid-shoulder to mid-hip */
    EASEL_M_ARM_LENGTH,     /* shoulder, elbow, wrist */
    EASEL_M_INSEAM,         /* hip joint, knee, ankle */
    EASEL_M__COUNT
};
const char *easel_measure_name(enum easel_measure m); /* "shoulder_width" */
bool easel_measure_parse(const char *s, enum easel_measure *out);

struct easel_body {
    double cm[EASEL_M__COUNT];
    double confidence;   /* 0..1: the weakest landmark used, times the pose score */
    double yaw_deg;      /* how far the body is turned from the camera */
    double stature_px;   /* the height the scale came from, in pixels */
};

/* Measures a found pose for a person height_cm tall. Returns EASEL_R_NONE
 * and fills *out when the pose is usable, or the refusal (EASEL_R_NO_PERSON,
 * EASEL_R_SEVERAL_PEOPLE, EASEL_R_BODY_CUT_OFF, EASEL_R_SIDE_ON,
 * EASEL_R_LOW_VISIBILITY) with a sentence in why. */
enum easel_reason easel_pose_measure(const struct easel_pose_result *r, int w,
                                     int h, double height_cm,
                                     struct easel_body *out, char *why,
                                     size_t whylen);

/* A size chart: sizes from small to large, each a range [lo, hi] in cm for
 * some of the measurements (bit m of `has`). */
struct easel_size {
    char *name;
    unsigned has;
    double lo[EASEL_M__COUNT], hi[EASEL_M__COUNT];
};
struct easel_size_chart {
    char *name;
    struct easel_size *sizes;
    size_t nsizes;
};

struct easel_size_pick {
    const struct easel_size *size;  /* the recommendation */
    bool within;                    /* every measurement inside its range */
    unsigned used;                  /* the measurements the chart compared */
    /* the closest edge: how many cm the measurement `edge` may change before
     * the size becomes `next` (NULL: no size beyond that edge) */
    enum easel_measure edge;
    double margin_cm;
    const struct easel_size *next;
};

/* Picks the size whose ranges the body is closest to (0 when inside every
 * range; else the distance outside, in range widths). EASEL_ENOTFOUND when
 * the chart has no size sharing a measurement with the body. */
easel_err easel_size_pick(const struct easel_size_chart *c,
                          const struct easel_body *b,
                          struct easel_size_pick *out);
void easel_size_chart_free(struct easel_size_chart *c); /* the contents */

struct easel_image;
/* The whole estimate for one decoded image: pose, measurements for a
 * person height_cm tall (0: landmarks only), a size from chart (NULL: no
 * recommendation), as the JSON docs/pose.md shows (*out, caller frees).
 * A pose that cannot be measured is EASEL_EINVAL with err->why the refusal
 * (no_person, several_people, body_cut_off, side_on, low_visibility). */
easel_err easel_body_estimate(struct easel_pose *p, const struct easel_image *img,
                              double height_cm, const struct easel_size_chart *chart,
                              struct cJSON **out, struct easel_error *err);

/* The models shared by threads (the API's): one pipeline behind a mutex.
 * Open is easel_pose_open's contract; estimate is easel_body_estimate's,
 * taking turns with other threads. */
struct easel_pose_service;
easel_err easel_pose_service_open(const char *dir, enum easel_pose_model which,
                                  struct easel_pose_service **out,
                                  struct easel_error *err);
void easel_pose_service_free(struct easel_pose_service *s);
const char *easel_pose_service_model(const struct easel_pose_service *s); /* "full" */
/* At most limit estimates running or waiting at once (0: no limit); past
 * it easel_pose_service_estimate is EASEL_EAGAIN at once, so callers that
 * share threads with other work (the API's pool) are never all held. */
void easel_pose_service_set_limit(struct easel_pose_service *s, int limit);
easel_err easel_pose_service_estimate(struct easel_pose_service *s,
                                      const struct easel_image *img, double height_cm,
                                      const struct easel_size_chart *chart,
                                      struct cJSON **out, struct easel_error *err);

/* MediaPipe's landmark names, "nose" ... "right_foot_index". */
const char *easel_pose_landmark_name(int k);

#endif
