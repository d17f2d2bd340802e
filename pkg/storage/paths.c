/*
 * paths.c - where each result goes: object keys from templates such as
 * "stores/{owner}/generated/{job_id}/{variant}.{ext}", chosen by the job's
 * channel (registry `storage.paths`). A key is a pure function of the job
 * and the variant, so a retried job writes the same keys again instead of
 * adding new ones.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "easel/storage.h"

const char *const easel_key_placeholders[] = {"job_id", "variant", "ext", "owner",
                                              "channel", "model", "date", NULL};

/* A value as one safe path segment: letters, digits, '.', '-', '_' and '@'
 * kept, anything else '_'; "", "." and ".." become "_". SIZE_MAX when the
 * value does not fit n (n >= 2): two long owners that share their first
 * n-1 bytes must not share a prefix. */
static size_t segment(const char *v, char *out, size_t n)
{
    size_t k = 0;
    const char *p = v ? v : "";
    for (; *p && k + 1 < n; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '@';
        out[k++] = ok ? (char)c : '_';
    }
    out[k] = '\0';
    if (*p)
        return SIZE_MAX;
    if (!strcmp(out, "") || !strcmp(out, ".") || !strcmp(out, "..")) {
        out[0] = '_'; /* n >= 2 */
        out[1] = '\0';
        return 1;
    }
    return k;
}

easel_err easel_object_key(const char *tmpl, const struct easel_key_vars *v, char *out,
                           size_t n, char *why, size_t whyn)
{
    const char *vals[] = {v->job_id, v->variant, v->ext, v->owner, v->channel, v->model,
                          v->date};
    size_t k = 0;
    for (const char *p = tmpl; *p;) {
        if (*p != '{') {
            if (k + 1 >= n)
                goto too_long;
            out[k++] = *p++;
            continue;
        }
        const char *end = strchr(p, '}');
        size_t len = end ? (size_t)(end - p - 1) : 0;
        int idx = -1;
        for (int i = 0; end && easel_key_placeholders[i]; i++)
            if (strlen(easel_key_placeholders[i]) == len &&
                !strncmp(p + 1, easel_key_placeholders[i], len))
                idx = i;
        if (idx < 0) {
            if (why)
                easel_fmt_cut(why, whyn, "unknown placeholder %.*s in \"%s\" (known: {job_id}, "
                         "{variant}, {ext}, {owner}, {channel}, {model}, {date})",
                         end ? (int)(len + 2) : 1, p, tmpl);
            return EASEL_EINVAL;
        }
        char seg[256];
        size_t sl = segment(vals[idx], seg, sizeof(seg));
        if (sl == SIZE_MAX) {
            if (why)
                easel_fmt_cut(why, whyn, "the {%s} value is longer than %zu bytes",
                              easel_key_placeholders[idx], sizeof(seg) - 1);
            return EASEL_ELIMIT;
        }
        if (k + sl + 1 >= n)
            goto too_long;
        memcpy(out + k, seg, sl);
        k += sl;
        p = end + 1;
    }
    out[k] = '\0';
    return EASEL_OK;
too_long:
    if (why)
        easel_fmt_cut(why, whyn, "the key made from \"%s\" is longer than %zu bytes", tmpl, n - 1);
    return EASEL_ELIMIT;
}

easel_err easel_key_template_check(const char *tmpl, char *why, size_t whyn)
{
    if (!strstr(tmpl, "{job_id}") || !strstr(tmpl, "{variant}")) {
        easel_fmt_cut(why, whyn, "\"%s\" must contain {job_id} and {variant}, or jobs and variants "
                 "would overwrite each other", tmpl);
        return EASEL_EINVAL;
    }
    if (tmpl[0] == '/' || strstr(tmpl, "//") || strstr(tmpl, "../") ||
        !strncmp(tmpl, "./", 2)) {
        easel_fmt_cut(why, whyn, "\"%s\" must be a relative path with no empty, \".\" or \"..\" "
                 "parts", tmpl);
        return EASEL_EINVAL;
    }
    struct easel_key_vars v = {"00000000-0000-0000-0000-000000000000", "normal", "jpg", "owner",
                               "b2c", "m", "2026-01-01"};
    char out[1024];
    return easel_object_key(tmpl, &v, out, sizeof(out), why, whyn);
}

const char *easel_key_template_for(const char *const paths[3], const char *channel)
{
    static const char *const dflt[3] = {"stores/{owner}/generated/{job_id}/{variant}.{ext}",
                                        "generated/{owner}/{job_id}/{variant}.{ext}",
                                        "jobs/{job_id}/{variant}.{ext}"};
    int i = channel && !strcmp(channel, "b2b") ? 0 : channel && !strcmp(channel, "b2c") ? 1 : 2;
    return paths && paths[i] ? paths[i] : dflt[i];
}
