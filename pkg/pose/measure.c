/*
 * measure.c - body measurements from a pose, and a size from a chart.
 *
 * The landmarks are joint centres on the image, so lengths in pixels are
 * turned into centimetres with one scale: the person's given height over
 * their height in pixels. The top of the head is not a landmark; the
 * height in pixels is the distance from the eyes to the heels divided by
 * 0.915, the share of standing height that lies between them in adult
 * anthropometric tables (eye height about 0.936 of stature, the heel
 * landmark about 0.02 above the floor). docs/pose.md gives the limits.
 *
 * A pose is only measured when it can be: a single person, every landmark
 * used inside the frame and visible, and the body facing the camera (the
 * world landmarks give the turn of the shoulders and hips).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/pose.h"

enum {
    NOSE = 0, L_EYE = 2, R_EYE = 5, L_SHOULDER = 11, R_SHOULDER = 12,
    L_ELBOW = 13, R_ELBOW = 14, L_WRIST = 15, R_WRIST = 16, L_HIP = 23,
    R_HIP = 24, L_KNEE = 25, R_KNEE = 26, L_ANKLE = 27, R_ANKLE = 28,
    L_HEEL = 29, R_HEEL = 30,
};

/* The body's axis: these must all be in the frame and clearly seen. */
static const int axis[] = {L_EYE, R_EYE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP};
/* In the frame too (the photo must show head to heels), but one side of a
 * limb may be hidden: arms and legs are measured on the sides seen. */
static const int frame[] = {L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_HEEL, R_HEEL};
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define EYE_TO_HEEL_SHARE 0.915
#define MIN_VISIBILITY 0.5
#define MAX_YAW_DEG 40.0

static const char *const mnames[EASEL_M__COUNT] = {
    "shoulder_width", "hip_width", "torso_length", "arm_length", "inseam",
};

const char *easel_measure_name(enum easel_measure m)
{
    return (unsigned)m < EASEL_M__COUNT ? mnames[m] : "";
}

bool easel_measure_parse(const char *s, enum easel_measure *out)
{
    for (int k = 0; k < EASEL_M__COUNT; k++)
        if (s && !strcmp(s, mnames[k])) {
            *out = (enum easel_measure)k;
            return true;
        }
    return false;
}

static enum easel_reason refuse(char *why, size_t len, enum easel_reason r,
                                const char *fmt, ...) EASEL_PRINTF(4, 5);
static enum easel_reason refuse(char *why, size_t len, enum easel_reason r,
                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && len)
        easel_vfmt_cut(why, len, fmt, ap);
    va_end(ap);
    return r;
}

struct pt {
    double x, y;
};

static struct pt px(const struct easel_pose_result *r, int k, int w, int h)
{
    return (struct pt){r->lm[k].x * (double)w, r->lm[k].y * (double)h};
}

static double dist(struct pt a, struct pt b)
{
    return hypot(a.x - b.x, a.y - b.y);
}

static struct pt mid(struct pt a, struct pt b)
{
    return (struct pt){(a.x + b.x) / 2, (a.y + b.y) / 2};
}

/* The turn of the line between two world landmarks away from the image
 * plane, in degrees (0 = facing the camera, 90 = side-on). */
static double yaw(const struct easel_pose_result *r, int a, int b)
{
    double dx = r->world[a][0] - r->world[b][0];
    double dz = r->world[a][2] - r->world[b][2];
    return atan2(fabs(dz), fabs(dx)) * 180.0 / M_PI;
}

enum easel_reason easel_pose_measure(const struct easel_pose_result *r, int w,
                                     int h, double height_cm,
                                     struct easel_body *out, char *why,
                                     size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (r->people == 0 || !r->found)
        return refuse(why, whylen, EASEL_R_NO_PERSON,
                      "no person found in the image");
    if (r->people > 1)
        return refuse(why, whylen, EASEL_R_SEVERAL_PEOPLE,
                      "%d people found; the photo must show one", r->people);
    for (size_t k = 0; k < N(axis) + N(frame); k++) {
        int i = k < N(axis) ? axis[k] : frame[k - N(axis)];
        const struct easel_pose_landmark *l = &r->lm[i];
        if (!(l->x >= 0 && l->x <= 1 && l->y >= 0 && l->y <= 1 &&
              l->presence >= MIN_VISIBILITY)) /* NaN is outside */
            return refuse(why, whylen, EASEL_R_BODY_CUT_OFF,
                          "the %s is outside the photo; it must show the whole body, "
                          "head to heels", easel_pose_landmark_name(i));
    }
    double minvis = 1.0;
    for (size_t k = 0; k < N(axis); k++) {
        const struct easel_pose_landmark *l = &r->lm[axis[k]];
        if (!(l->visibility >= MIN_VISIBILITY))
            return refuse(why, whylen, EASEL_R_LOW_VISIBILITY,
                          "the %s is hidden or unclear (visibility %.2f)",
                          easel_pose_landmark_name(axis[k]), (double)l->visibility);
        if (l->visibility < minvis)
            minvis = l->visibility;
    }
    /* the limbs: each side whose joints are all seen, and inside the frame */
    static const int arms[2][3] = {{L_SHOULDER, L_ELBOW, L_WRIST}, {R_SHOULDER, R_ELBOW, R_WRIST}};
    static const int legs[2][3] = {{L_HIP, L_KNEE, L_ANKLE}, {R_HIP, R_KNEE, R_ANKLE}};
    static const int heels[2] = {L_HEEL, R_HEEL};
    bool arm_ok[2], leg_ok[2], heel_ok[2];
    for (int side = 0; side < 2; side++) {
        arm_ok[side] = leg_ok[side] = true;
        for (int j = 1; j < 3; j++) {
            const struct easel_pose_landmark *a = &r->lm[arms[side][j]];
            const struct easel_pose_landmark *g = &r->lm[legs[side][j]];
            arm_ok[side] = arm_ok[side] && a->visibility >= MIN_VISIBILITY && a->x >= 0 &&
                           a->x <= 1 && a->y >= 0 && a->y <= 1;
            leg_ok[side] = leg_ok[side] && g->visibility >= MIN_VISIBILITY;
        }
        heel_ok[side] = r->lm[heels[side]].visibility >= MIN_VISIBILITY;
    }
    if (!arm_ok[0] && !arm_ok[1])
        return refuse(why, whylen, EASEL_R_LOW_VISIBILITY,
                      "neither arm is clearly seen (elbow and wrist)");
    if (!leg_ok[0] && !leg_ok[1])
        return refuse(why, whylen, EASEL_R_LOW_VISIBILITY,
                      "neither leg is clearly seen (knee and ankle)");
    if (!heel_ok[0] && !heel_ok[1])
        return refuse(why, whylen, EASEL_R_LOW_VISIBILITY, "neither heel is clearly seen");
    for (int side = 0; side < 2; side++)
        for (int j = 1; j < 3; j++) {
            if (arm_ok[side] && r->lm[arms[side][j]].visibility < minvis)
                minvis = r->lm[arms[side][j]].visibility;
            if (leg_ok[side] && r->lm[legs[side][j]].visibility < minvis)
                minvis = r->lm[legs[side][j]].visibility;
        }
    double turn = (yaw(r, L_SHOULDER, R_SHOULDER) + yaw(r, L_HIP, R_HIP)) / 2;
    struct pt ls = px(r, L_SHOULDER, w, h), rs = px(r, R_SHOULDER, w, h);
    struct pt lh = px(r, L_HIP, w, h), rh = px(r, R_HIP, w, h);
    double torso = dist(mid(ls, rs), mid(lh, rh));
    if (turn > MAX_YAW_DEG || dist(ls, rs) < 0.25 * torso)
        return refuse(why, whylen, EASEL_R_SIDE_ON,
                      "the body is turned %.0f degrees from the camera; "
                      "measurements need it facing the camera (at most %.0f)",
                      turn, MAX_YAW_DEG);
    struct pt eyes = mid(px(r, L_EYE, w, h), px(r, R_EYE, w, h));
    struct pt heel = heel_ok[0] && heel_ok[1]
                         ? mid(px(r, L_HEEL, w, h), px(r, R_HEEL, w, h))
                         : px(r, heel_ok[0] ? L_HEEL : R_HEEL, w, h);
    double stature = dist(eyes, heel) / EYE_TO_HEEL_SHARE;
    if (stature < 32)
        return refuse(why, whylen, EASEL_R_LOW_VISIBILITY,
                      "the person is %.0f pixels tall; at least 32 are needed", stature);
    out->stature_px = stature;
    if (height_cm > 0) {
        double s = height_cm / stature, arm = 0, leg = 0;
        int na = 0, nl = 0;
        for (int side = 0; side < 2; side++) {
            struct pt a0 = px(r, arms[side][0], w, h), a1 = px(r, arms[side][1], w, h),
                      a2 = px(r, arms[side][2], w, h);
            struct pt g0 = px(r, legs[side][0], w, h), g1 = px(r, legs[side][1], w, h),
                      g2 = px(r, legs[side][2], w, h);
            if (arm_ok[side]) {
                arm += dist(a0, a1) + dist(a1, a2);
                na++;
            }
            if (leg_ok[side]) {
                leg += dist(g0, g1) + dist(g1, g2);
                nl++;
            }
        }
        out->cm[EASEL_M_SHOULDER_WIDTH] = dist(ls, rs) * s;
        out->cm[EASEL_M_HIP_WIDTH] = dist(lh, rh) * s;
        out->cm[EASEL_M_TORSO_LENGTH] = torso * s;
        out->cm[EASEL_M_ARM_LENGTH] = arm / na * s;
        out->cm[EASEL_M_INSEAM] = leg / nl * s;
    }
    out->yaw_deg = turn;
    out->confidence = minvis * r->pose_score * cos(turn * M_PI / 180.0);
    return EASEL_R_NONE;
}

/* ------------------------------------------------------------ size chart */

/* How far v lies outside [lo, hi], in range widths (0 inside). */
static double outside(double v, double lo, double hi)
{
    double span = hi - lo > 1e-9 ? hi - lo : 1.0;
    if (v < lo)
        return (lo - v) / span;
    if (v > hi)
        return (v - hi) / span;
    return 0;
}

easel_err easel_size_pick(const struct easel_size_chart *c,
                          const struct easel_body *b,
                          struct easel_size_pick *out)
{
    double best = INFINITY;
    size_t bi = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < c->nsizes; i++) {
        const struct easel_size *z = &c->sizes[i];
        if (!z->has)
            continue;
        double d = 0;
        for (int m = 0; m < EASEL_M__COUNT; m++)
            if (z->has & (1u << m))
                d += outside(b->cm[m], z->lo[m], z->hi[m]);
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    if (!isfinite(best))
        return EASEL_ENOTFOUND;
    const struct easel_size *z = &c->sizes[bi];
    out->size = z;
    out->used = z->has;
    out->within = best == 0;
    /* the edge the body is nearest to decides the next size */
    double margin = INFINITY;
    for (int m = 0; m < EASEL_M__COUNT; m++) {
        if (!(z->has & (1u << m)))
            continue;
        double v = b->cm[m];
        double up = z->hi[m] - v, down = v - z->lo[m];
        double e = up < down ? up : down;
        if (e < margin) {
            margin = e;
            out->edge = (enum easel_measure)m;
            if (up < down)
                out->next = bi + 1 < c->nsizes ? &c->sizes[bi + 1] : NULL;
            else
                out->next = bi > 0 ? &c->sizes[bi - 1] : NULL;
        }
    }
    out->margin_cm = margin;
    return EASEL_OK;
}

void easel_size_chart_free(struct easel_size_chart *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsizes; i++)
        free(c->sizes[i].name);
    free(c->sizes);
    free(c->name);
    c->sizes = NULL;
    c->nsizes = 0;
    c->name = NULL;
}
