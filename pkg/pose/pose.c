/*
 * pose.c - MediaPipe's pose pipeline, step for step, so that easel's
 * landmarks agree with MediaPipe's own (tests/pose measures by how much).
 *
 * 1. The whole image, letterboxed to a 224x224 square (black border, values
 *    in -1..1), goes through the person detector: 2254 SSD anchors, each a
 *    box and 4 keypoints; scores through a sigmoid, threshold 0.5, weighted
 *    non-maximum suppression at IoU 0.3.
 * 2. The best detection's keypoints 0 (mid-hip) and 1 (a point that scales
 *    with the body) give the region of interest: centred on the hips, twice
 *    their distance across, turned so the body stands upright, squared on
 *    the long side and grown by 1.25.
 * 3. That rotated square, sampled bilinearly to 256x256 (edges replicated,
 *    values in 0..1), goes through the landmark model: 39 landmarks (33 of
 *    the body), a pose score, a 64x64 heatmap per landmark and world
 *    coordinates.
 * 4. Each landmark is refined to the weighted centre of its heatmap in a
 *    7x7 window, then projected back from the crop onto the image.
 *
 * Sampling follows MediaPipe's GPU path (pixel centres, bilinear taps), the
 * path its JavaScript build takes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "easel/pose.h"
#include "easel/tflite.h"

#define DET_SIZE 224
#define DET_ANCHORS 2254
#define DET_COORDS 12
#define LM_SIZE 256
#define LM_RAW 39
#define HM_SIZE 64

struct easel_pose {
    enum easel_pose_model which;
    struct easel_tfl_model *det, *lm;
    float anchors[DET_ANCHORS][2]; /* centres; fixed size 1x1 */
    float *det_in, *lm_in;
    float det_box[DET_ANCHORS * DET_COORDS], det_score[DET_ANCHORS];
    float lm_raw[LM_RAW * 5], lm_flag[1], lm_world[LM_RAW * 3];
    float *heatmap;
};

static const char *const names[EASEL_POSE_LANDMARKS] = {
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear",
    "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
};

const char *easel_pose_landmark_name(int k)
{
    return k >= 0 && k < EASEL_POSE_LANDMARKS ? names[k] : "";
}

const char *easel_pose_model_name(enum easel_pose_model m)
{
    switch (m) {
    case EASEL_POSE_LITE: return "lite";
    case EASEL_POSE_FULL: return "full";
    case EASEL_POSE_HEAVY: return "heavy";
    }
    return "unknown";
}

bool easel_pose_model_parse(const char *s, enum easel_pose_model *out)
{
    static const char *const alt[] = {"0", "1", "2"};
    for (int k = 0; k < 3; k++)
        if (s && (strcmp(s, easel_pose_model_name((enum easel_pose_model)k)) == 0 ||
                  strcmp(s, alt[k]) == 0)) {
            *out = (enum easel_pose_model)k;
            return true;
        }
    return false;
}

const char *easel_pose_model_file(enum easel_pose_model m)
{
    switch (m) {
    case EASEL_POSE_LITE: return "pose_landmark_lite.tflite";
    case EASEL_POSE_FULL: return "pose_landmark_full.tflite";
    case EASEL_POSE_HEAVY: return "pose_landmark_heavy.tflite";
    }
    return "";
}

/* The detector's anchors: MediaPipe's SsdAnchorsCalculator with 5 layers
 * at strides 8, 16, 32, 32, 32, aspect ratio 1 plus the interpolated
 * scale, fixed size: 2 anchors per cell at 28x28 and 14x14, 6 per cell at
 * 7x7 (the three stride-32 layers share cells). */
static void make_anchors(struct easel_pose *p)
{
    static const int strides[] = {8, 16, 32};
    static const int per_cell[] = {2, 2, 6};
    int n = 0;
    for (int l = 0; l < 3; l++) {
        int fm = (DET_SIZE + strides[l] - 1) / strides[l];
        for (int y = 0; y < fm; y++)
            for (int x = 0; x < fm; x++)
                for (int a = 0; a < per_cell[l]; a++) {
                    p->anchors[n][0] = ((float)x + 0.5f) / (float)fm;
                    p->anchors[n][1] = ((float)y + 0.5f) / (float)fm;
                    n++;
                }
    }
}

static easel_err load_one(const char *dir, const char *file, unsigned mask,
                          struct easel_tfl_model **out, struct easel_error *err)
{
    char path[4096], msg[512];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE, "model folder path too long");
    easel_err rc = easel_tfl_load_file(path, mask, out, msg, sizeof msg);
    if (rc == EASEL_ENOMEM || rc == EASEL_EIO)
        return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_POSE_MODEL_UNAVAILABLE,
                               "%s", msg);
    if (rc == EASEL_ENOTFOUND)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE,
                               "pose model %s is missing (run "
                               "hack/fetch-pose-models.sh, or set the models "
                               "folder)", path);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE, "%s", msg);
    return EASEL_OK;
}

static bool shape_is(struct easel_tfl_model *m, int a, int b, int c, int d)
{
    int dims[6];
    return easel_tfl_input_shape(m, dims) == 4 && dims[0] == a &&
           dims[1] == b && dims[2] == c && dims[3] == d;
}

easel_err easel_pose_open(const char *dir, enum easel_pose_model which,
                          struct easel_pose **out, struct easel_error *err)
{
    struct easel_pose *p;
    easel_err rc;

    *out = NULL;
    if (!dir || which < EASEL_POSE_LITE || which > EASEL_POSE_HEAVY)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE, "no pose models folder");
    p = calloc(1, sizeof(*p));
    if (!p)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NONE, "out of memory");
    p->which = which;
    rc = load_one(dir, EASEL_POSE_DETECTOR_FILE, 0, &p->det, err);
    if (rc)
        goto out;
    /* the segmentation mask (output 2) is not computed */
    rc = load_one(dir, easel_pose_model_file(which), 0x1b, &p->lm, err);
    if (rc)
        goto out;
    if (!shape_is(p->det, 1, DET_SIZE, DET_SIZE, 3) ||
        easel_tfl_output_count(p->det) != 2 ||
        easel_tfl_output_size(p->det, 0) != DET_ANCHORS * DET_COORDS ||
        easel_tfl_output_size(p->det, 1) != DET_ANCHORS) {
        rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE,
                             "%s/%s is not MediaPipe's pose detector (input "
                             "224x224x3, 2254 anchors of 12 values)", dir,
                             EASEL_POSE_DETECTOR_FILE);
        goto out;
    }
    if (!shape_is(p->lm, 1, LM_SIZE, LM_SIZE, 3) ||
        easel_tfl_output_count(p->lm) != 5 ||
        easel_tfl_output_size(p->lm, 0) != LM_RAW * 5 ||
        easel_tfl_output_size(p->lm, 1) != 1 ||
        easel_tfl_output_size(p->lm, 3) != HM_SIZE * HM_SIZE * LM_RAW ||
        easel_tfl_output_size(p->lm, 4) != LM_RAW * 3) {
        rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT, EASEL_R_POSE_MODEL_UNAVAILABLE,
                             "%s/%s is not a MediaPipe pose landmark model "
                             "(input 256x256x3, 39 landmarks)", dir,
                             easel_pose_model_file(which));
        goto out;
    }
    make_anchors(p);
    p->det_in = malloc(sizeof(float) * DET_SIZE * DET_SIZE * 3);
    p->lm_in = malloc(sizeof(float) * LM_SIZE * LM_SIZE * 3);
    p->heatmap = malloc(sizeof(float) * HM_SIZE * HM_SIZE * LM_RAW);
    if (!p->det_in || !p->lm_in || !p->heatmap) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NONE, "out of memory");
        goto out;
    }
    *out = p;
    p = NULL;
    rc = EASEL_OK;
out:
    easel_pose_free(p);
    return rc;
}

void easel_pose_free(struct easel_pose *p)
{
    if (!p)
        return;
    easel_tfl_free(p->det);
    easel_tfl_free(p->lm);
    free(p->det_in);
    free(p->lm_in);
    free(p->heatmap);
    free(p);
}

enum easel_pose_model easel_pose_which(const struct easel_pose *p)
{
    return p->which;
}

long long easel_pose_weight_bytes(const struct easel_pose *p)
{
    return easel_tfl_const_bytes(p->det) + easel_tfl_const_bytes(p->lm);
}

/* ------------------------------------------------------------- sampling */

/* Bilinear sample at pixel coordinates (x, y) where pixel centres are at
 * integers, taps clamped to the edge. Without replicate, a point outside
 * the image is black, as MediaPipe's WebGL converter does it (WebGL has no
 * CLAMP_TO_BORDER: the shader zeroes samples whose coordinate falls
 * outside the texture, and the taps of those inside clamp to the edge). */
static void sample(const uint8_t *rgb, int w, int h, size_t stride, float x,
                   float y, bool replicate, float out[3])
{
    if (!replicate && (x + 0.5f < 0 || x + 0.5f > (float)w || y + 0.5f < 0 ||
                       y + 0.5f > (float)h)) {
        out[0] = out[1] = out[2] = 0;
        return;
    }
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    float acc[3] = {0, 0, 0};
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            float wgt = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
            int xx = x0 + dx, yy = y0 + dy;
            xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
            yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
            const uint8_t *px = rgb + (size_t)yy * stride + (size_t)xx * 3;
            acc[0] += wgt * px[0];
            acc[1] += wgt * px[1];
            acc[2] += wgt * px[2];
        }
    memcpy(out, acc, sizeof acc);
}

/* Fills an n x n x 3 tensor from the square of side size (pixels) centred
 * at (cx, cy) and turned by rot, values mapped from 0..255 to lo..hi. */
static void crop(const uint8_t *rgb, int w, int h, size_t stride, float cx,
                 float cy, float size, float rot, int n, bool replicate,
                 float lo, float hi, float *out)
{
    float c = cosf(rot), s = sinf(rot), k = (hi - lo) / 255.f;
    for (int i = 0; i < n; i++) {
        float dy = (((float)i + 0.5f) / (float)n - 0.5f) * size;
        for (int j = 0; j < n; j++) {
            float dx = (((float)j + 0.5f) / (float)n - 0.5f) * size;
            float x = cx + dx * c - dy * s, y = cy + dx * s + dy * c;
            float v[3];
            sample(rgb, w, h, stride, x - 0.5f, y - 0.5f, replicate, v);
            float *o = out + ((size_t)i * n + j) * 3;
            o[0] = v[0] * k + lo;
            o[1] = v[1] * k + lo;
            o[2] = v[2] * k + lo;
        }
    }
}

/* ------------------------------------------------------------ detection */

struct det {
    float score;
    float xmin, ymin, xmax, ymax; /* fractions of the 224 square */
    float kp[4][2];
};

static float sigmoidf(float x)
{
    return 1.f / (1.f + expf(-x));
}

static float iou(const struct det *a, const struct det *b)
{
    float ix = fminf(a->xmax, b->xmax) - fmaxf(a->xmin, b->xmin);
    float iy = fminf(a->ymax, b->ymax) - fmaxf(a->ymin, b->ymin);
    if (ix <= 0 || iy <= 0)
        return 0;
    float inter = ix * iy;
    float ua = (a->xmax - a->xmin) * (a->ymax - a->ymin) +
               (b->xmax - b->xmin) * (b->ymax - b->ymin) - inter;
    return ua > 0 ? inter / ua : 0;
}

static int by_score(const void *a, const void *b)
{
    float x = ((const struct det *)a)->score, y = ((const struct det *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Decodes the anchors over the threshold and merges them as MediaPipe's
 * weighted non-maximum suppression does: each kept detection is the
 * score-weighted mean of those overlapping the best remaining one by more
 * than 0.3, with the best one's score. Returns how many were kept; out[0]
 * is the best. */
static int detect(struct easel_pose *p, struct det *out, int max)
{
    struct det *cand = malloc(sizeof(*cand) * DET_ANCHORS);
    int n = 0, kept = 0;
    if (!cand)
        return -1;
    for (int a = 0; a < DET_ANCHORS; a++) {
        float raw = p->det_score[a];
        raw = raw < -100.f ? -100.f : raw > 100.f ? 100.f : raw;
        float score = sigmoidf(raw);
        if (!(score >= 0.5f)) /* NaN too */
            continue;
        const float *r = p->det_box + (size_t)a * DET_COORDS;
        float ax = p->anchors[a][0], ay = p->anchors[a][1];
        float xc = r[0] / DET_SIZE + ax, yc = r[1] / DET_SIZE + ay;
        float bw = r[2] / DET_SIZE, bh = r[3] / DET_SIZE;
        struct det *d = &cand[n++];
        d->score = score;
        d->xmin = xc - bw / 2;
        d->ymin = yc - bh / 2;
        d->xmax = xc + bw / 2;
        d->ymax = yc + bh / 2;
        for (int k = 0; k < 4; k++) {
            d->kp[k][0] = r[4 + 2 * k] / DET_SIZE + ax;
            d->kp[k][1] = r[5 + 2 * k] / DET_SIZE + ay;
        }
    }
    qsort(cand, (size_t)n, sizeof(*cand), by_score);
    char *used = calloc((size_t)n + 1, 1);
    if (!used) {
        free(cand);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (used[i])
            continue;
        struct det best = cand[i], sum;
        memset(&sum, 0, sizeof sum);
        float total = 0;
        for (int j = i; j < n; j++) {
            if (used[j] || iou(&cand[i], &cand[j]) <= 0.3f)
                continue;
            used[j] = 1;
            float s = cand[j].score;
            total += s;
            sum.xmin += cand[j].xmin * s;
            sum.ymin += cand[j].ymin * s;
            sum.xmax += cand[j].xmax * s;
            sum.ymax += cand[j].ymax * s;
            for (int k = 0; k < 4; k++) {
                sum.kp[k][0] += cand[j].kp[k][0] * s;
                sum.kp[k][1] += cand[j].kp[k][1] * s;
            }
        }
        used[i] = 1;
        if (total > 0) {
            best.xmin = sum.xmin / total;
            best.ymin = sum.ymin / total;
            best.xmax = sum.xmax / total;
            best.ymax = sum.ymax / total;
            for (int k = 0; k < 4; k++) {
                best.kp[k][0] = sum.kp[k][0] / total;
                best.kp[k][1] = sum.kp[k][1] / total;
            }
        }
        if (kept < max)
            out[kept] = best;
        kept++;
    }
    free(used);
    free(cand);
    return kept;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

easel_err easel_pose_estimate(struct easel_pose *p, const uint8_t *rgb, int w,
                              int h, size_t stride,
                              struct easel_pose_result *res)
{
    struct det dets[8];
    float *outs[5] = {0};
    const float pi = 3.14159265358979f;

    memset(res, 0, sizeof(*res));
    if (!p || !rgb || w < 2 || h < 2 || w > 32768 || h > 32768 ||
        stride < (size_t)w * 3)
        return EASEL_EINVAL;

    /* 1. the detector on the letterboxed image */
    float side = (float)(w > h ? w : h);
    double t0 = now_ms();
    crop(rgb, w, h, stride, (float)w / 2, (float)h / 2, side, 0, DET_SIZE,
         false, -1.f, 1.f, p->det_in);
    outs[0] = p->det_box;
    outs[1] = p->det_score;
    if (easel_tfl_run(p->det, p->det_in, outs))
        return EASEL_ENOMEM;
    int kept = detect(p, dets, 8);
    res->ms_detect = now_ms() - t0;
    if (kept < 0)
        return EASEL_ENOMEM;
    /* weighted suppression counts clusters, and one person can leave two
     * (a box well inside another overlaps it by less than 0.3): another
     * cluster is another person only when its hips lie outside the box of
     * every cluster scored above it */
    int people = 0;
    for (int i = 0; i < kept && i < 8; i++) {
        bool inside = false;
        for (int j = 0; j < i && !inside; j++)
            inside = dets[i].kp[0][0] >= dets[j].xmin && dets[i].kp[0][0] <= dets[j].xmax &&
                     dets[i].kp[0][1] >= dets[j].ymin && dets[i].kp[0][1] <= dets[j].ymax;
        if (!inside)
            people++;
    }
    res->people = people;
    if (kept == 0)
        return EASEL_OK;
    res->detection_score = dets[0].score;

    /* 2. the region of interest, in pixels: the letterbox square maps to
     * the image by its side and the offset of the image inside it */
    float ox = (side - (float)w) / 2, oy = (side - (float)h) / 2;
    float x0 = dets[0].kp[0][0] * side - ox, y0 = dets[0].kp[0][1] * side - oy;
    float x1 = dets[0].kp[1][0] * side - ox, y1 = dets[0].kp[1][1] * side - oy;
    float box = 2.f * sqrtf((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0));
    float rot = pi / 2 - atan2f(-(y1 - y0), x1 - x0);
    rot = rot - 2 * pi * floorf((rot + pi) / (2 * pi));
    res->roi.cx = x0;
    res->roi.cy = y0;
    res->roi.size = box * 1.25f;
    res->roi.rotation = rot;

    /* 3. the landmark model on the turned crop */
    t0 = now_ms();
    crop(rgb, w, h, stride, res->roi.cx, res->roi.cy, res->roi.size, rot,
         LM_SIZE, true, 0.f, 1.f, p->lm_in);
    float *lo[5] = {p->lm_raw, p->lm_flag, NULL, p->heatmap, p->lm_world};
    if (easel_tfl_run(p->lm, p->lm_in, lo))
        return EASEL_ENOMEM;
    res->ms_landmarks = now_ms() - t0;
    res->pose_score = p->lm_flag[0];
    res->found = res->pose_score >= 0.5f;

    /* 4. refine on the heatmap, project back */
    float c = cosf(rot), s = sinf(rot);
    for (int k = 0; k < EASEL_POSE_LANDMARKS; k++) {
        const float *r = p->lm_raw + k * 5;
        float x = r[0] / LM_SIZE, y = r[1] / LM_SIZE;
        int col = (int)(x * HM_SIZE), row = (int)(y * HM_SIZE);
        if (col >= 0 && col < HM_SIZE && row >= 0 && row < HM_SIZE &&
            x * HM_SIZE > -1.f && y * HM_SIZE > -1.f) {
            float sum = 0, wc = 0, wr = 0, mx = 0;
            for (int yy = row - 3 < 0 ? 0 : row - 3;
                 yy < (row + 4 > HM_SIZE ? HM_SIZE : row + 4); yy++)
                for (int xx = col - 3 < 0 ? 0 : col - 3;
                     xx < (col + 4 > HM_SIZE ? HM_SIZE : col + 4); xx++) {
                    float conf = sigmoidf(
                        p->heatmap[((size_t)yy * HM_SIZE + xx) * LM_RAW + k]);
                    sum += conf;
                    mx = conf > mx ? conf : mx;
                    wc += (float)xx * conf;
                    wr += (float)yy * conf;
                }
            if (mx >= 0.5f && sum > 0) {
                x = wc / HM_SIZE / sum;
                y = wr / HM_SIZE / sum;
            }
        }
        float dx = x - 0.5f, dy = y - 0.5f;
        float px = (c * dx - s * dy) * res->roi.size + res->roi.cx;
        float py = (s * dx + c * dy) * res->roi.size + res->roi.cy;
        struct easel_pose_landmark *l = &res->lm[k];
        l->x = px / (float)w;
        l->y = py / (float)h;
        l->z = r[2] / LM_SIZE * res->roi.size / (float)w;
        l->visibility = sigmoidf(r[3]);
        l->presence = sigmoidf(r[4]);
        const float *wl = p->lm_world + k * 3;
        res->world[k][0] = c * wl[0] - s * wl[1];
        res->world[k][1] = s * wl[0] + c * wl[1];
        res->world[k][2] = wl[2];
    }
    return EASEL_OK;
}
