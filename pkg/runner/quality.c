/*
 * quality.c - what a model's output must pass before anyone pays for it:
 * not blank, not the input handed back, the right size and shape, not the
 * very image a failed attempt already returned. Thresholds come from the
 * model's `checks` in the registry. A failure is retryable (the retry gets
 * a new seed) and then falls back like a provider failure; its message
 * carries the output's perceptual hash, which is how the next attempt
 * knows what "the same image again" means.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/runner.h"

#define HASH_TAG "output phash "

/* The hash a failed attempt recorded in its message, if any. */
static bool previous_hash(const char *msg, uint64_t *h)
{
    const char *p = msg ? strstr(msg, HASH_TAG) : NULL;
    char hex[17];
    if (!p)
        return false;
    /* the 16 characters a hash takes (")" follows it); the precision makes
     * this fit, and parsing refuses anything that is not 16 hex digits */
    if (easel_snprintf(hex, sizeof(hex), "%.16s", p + strlen(HASH_TAG)) != EASEL_OK)
        return false;
    return easel_phash_parse(hex, h);
}

/* "the output <detail> (output phash <hex>)", retryable. */
static easel_err failed(struct easel_error *err, enum easel_reason reason, uint64_t h,
                        const char *detail)
{
    char hex[17];
    easel_phash_hex(h, hex);
    return easel_error_set(err, EASEL_EIMAGE, EASEL_CLASS_RETRYABLE, reason,
                           "the output %s (" HASH_TAG "%s)", detail, hex);
}

easel_err easel_quality_check(const struct easel_model *m, const struct easel_image *in,
                              const struct easel_image *out, const char *prev_error,
                              uint64_t *out_hash, struct easel_error *err)
{
    const struct easel_quality *q = &m->quality;
    uint64_t h = 0, hin = 0, prev = 0;
    easel_err rc = easel_image_phash(out, &h, err);
    if (rc)
        return rc;
    *out_hash = h;
    /* first: the same image again means the new seed changed nothing */
    if (q->repeat && previous_hash(prev_error, &prev) && prev == h)
        return failed(err, EASEL_R_QUALITY_REPEAT, h,
                      "is the very image the previous attempt's check refused");
    char d[200]; /* the detail is for people (the hash follows it whole) */
    int w = easel_image_width(out), ht = easel_image_height(out);
    if (w < q->min_side || ht < q->min_side) {
        easel_fmt_cut(d, sizeof(d), "is %dx%d; checks.min_side is %d", w, ht, q->min_side);
        return failed(err, EASEL_R_QUALITY_SIZE, h, d);
    }
    if (q->aspect_w != 0 && in) {
        double want = q->aspect_w > 0 ? (double)q->aspect_w / q->aspect_h
                                      : (double)easel_image_width(in) / easel_image_height(in);
        double got = (double)w / ht;
        if (fabs(got - want) / want > q->aspect_tolerance) {
            easel_fmt_cut(d, sizeof(d), "has the aspect %.3f (%dx%d), not %.3f within %.0f%%",
                          got, w, ht, want, q->aspect_tolerance * 100);
            return failed(err, EASEL_R_QUALITY_ASPECT, h, d);
        }
    }
    if (q->blank >= 0) {
        double sd = 0;
        if ((rc = easel_image_spread(out, &sd, err)))
            return rc;
        if (sd <= q->blank) {
            easel_fmt_cut(d, sizeof(d), "is blank or uniform: its pixel values vary by %.2f "
                          "at most (checks.blank %.2f)", sd, q->blank);
            return failed(err, EASEL_R_QUALITY_BLANK, h, d);
        }
    }
    if (q->unchanged >= 0 && in && !(rc = easel_image_phash(in, &hin, err))) {
        int dist = easel_phash_distance(h, hin);
        if (dist <= q->unchanged) {
            easel_fmt_cut(d, sizeof(d), "is the input image again: %d bits of perceptual-hash "
                          "distance (checks.unchanged %d)", dist, q->unchanged);
            return failed(err, EASEL_R_QUALITY_UNCHANGED, h, d);
        }
    }
    if (rc)
        return rc;
    return EASEL_OK;
}

bool easel_quality_reseed(cJSON *fields, const char *job_id, int attempt)
{
    if (!cJSON_IsObject(fields) || attempt < 2)
        return false;
    /* a stable new seed per attempt: the old one plus a prime stride, or
     * one derived from the job id when the job gave none */
    uint64_t base = 0;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(fields, "seed");
    if (cJSON_IsNumber(s))
        base = (uint64_t)(int64_t)s->valuedouble;
    else if (cJSON_IsString(s))
        base = strtoull(s->valuestring, NULL, 10);
    else
        for (const char *p = job_id; p && *p; p++)
            base = base * 31 + (unsigned char)*p;
    double seed = (double)((base + 1000003ULL * (uint64_t)(attempt - 1)) % 2147483647ULL);
    cJSON *v = cJSON_CreateNumber(seed);
    if (!v)
        return false;
    if (s)
        cJSON_ReplaceItemInObjectCaseSensitive(fields, "seed", v);
    else
        cJSON_AddItemToObject(fields, "seed", v);
    return true;
}
