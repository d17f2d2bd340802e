/*
 * metrics.c - the process's metric families, kept in memory and written
 * in the Prometheus text format on each scrape.
 *
 * Families are fixed at compile time (EASEL_METRICS_MAP in telemetry.h),
 * so a name, its type and its label names are written once and a typo is
 * a compile error. Label sets are created on first use, up to
 * EASEL_METRIC_MAX_SERIES per family: past that a value is dropped and
 * counted, so a runaway label (a model name from a payload, say) costs a
 * counter instead of the controller's memory. One mutex guards everything:
 * updates are a lookup and an add, far from any hot path.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "easel/telemetry.h"

enum ftype { COUNTER, GAUGE, HISTOGRAM };

static const double NONE[] = {0};
/* job durations: seconds to half an hour */
static const double B_JOB[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
/* one provider call, polls included */
static const double B_CALL[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
/* image work: milliseconds to seconds */
static const double B_IMG[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double B_RATIO[] = {0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32};
static const double B_BYTES[] = {1e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 2.5e7, 5e7};

struct series {
    char *vals[EASEL_METRIC_MAX_LABELS];
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: observations <= each bound (not cumulative) */
    double sum;
    uint64_t count;
};

struct family {
    const char *name, *help, *labels;
    enum ftype type;
    const double *bounds;
    size_t nbounds;
    struct series *s;
    size_t n, cap;
};

static struct family fams[EASEL_M_COUNT] = {
#define EASEL_METRIC_ROW(id, nm, ty, lb, bk, hp)                                   \
    [EASEL_M_##id] = {.name = nm, .help = hp, .labels = lb, .type = ty, .bounds = bk, \
                      .nbounds = ty == HISTOGRAM ? sizeof(bk) / sizeof(bk[0]) : 0},
    EASEL_METRICS_MAP(EASEL_METRIC_ROW)
#undef EASEL_METRIC_ROW
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Splits "a,b" into names[] (pointers into buf); returns the count. */
static size_t label_names(const char *csv, char *buf, size_t len,
                          const char *names[EASEL_METRIC_MAX_LABELS])
{
    size_t n = 0;
    if (!*csv || easel_strlcpy(buf, csv, len) >= len)
        return 0;
    for (char *p = buf; n < EASEL_METRIC_MAX_LABELS;) {
        names[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static size_t nlabels(const struct family *f)
{
    if (!*f->labels)
        return 0;
    size_t n = 1;
    for (const char *p = f->labels; *p; p++)
        n += *p == ',';
    return n;
}

static void drop(void)
{
    struct family *f = &fams[EASEL_M_DROPPED];
    if (f->n || (f->s = calloc(1, sizeof(*f->s))) != NULL) {
        f->n = f->cap = 1;
        f->s[0].value += 1;
    }
}

/* The series of f with these values, created when missing; NULL (and the
 * value dropped) past the limit or without memory. Called under mu. */
static struct series *find(struct family *f, const char *const *values)
{
    size_t nl = nlabels(f);
    for (size_t i = 0; i < f->n; i++) {
        size_t k = 0;
        for (; k < nl; k++) {
            const char *v = values && values[k] ? values[k] : "";
            if (strcmp(f->s[i].vals[k], v) != 0)
                break;
        }
        if (k == nl)
            return &f->s[i];
    }
    if (f->n == EASEL_METRIC_MAX_SERIES)
        goto fail;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct series *ns = realloc(f->s, cap * sizeof(*ns));
        if (!ns)
            goto fail;
        f->s = ns;
        f->cap = cap;
    }
    struct series *s = &f->s[f->n];
    memset(s, 0, sizeof(*s));
    for (size_t k = 0; k < nl; k++)
        if (!(s->vals[k] = strdup(values && values[k] ? values[k] : "")))
            goto undo;
    if (f->type == HISTOGRAM && !(s->buckets = calloc(f->nbounds, sizeof(uint64_t))))
        goto undo;
    f->n++;
    return s;
undo:
    for (size_t k = 0; k < nl; k++)
        free(s->vals[k]);
fail:
    drop();
    return NULL;
}

void easel_metric_add(enum easel_metric m, const char *const *values, double v)
{
    if ((unsigned)m >= EASEL_M_COUNT || !isfinite(v))
        return;
    struct family *f = &fams[m];
    if (f->type == HISTOGRAM || (f->type == COUNTER && v < 0))
        return;
    pthread_mutex_lock(&mu);
    struct series *s = find(f, values);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&mu);
}

void easel_metric_set(enum easel_metric m, const char *const *values, double v)
{
    if ((unsigned)m >= EASEL_M_COUNT || fams[m].type != GAUGE)
        return;
    pthread_mutex_lock(&mu);
    struct series *s = find(&fams[m], values);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&mu);
}

void easel_metric_observe(enum easel_metric m, const char *const *values, double v)
{
    if ((unsigned)m >= EASEL_M_COUNT || fams[m].type != HISTOGRAM || isnan(v))
        return;
    struct family *f = &fams[m];
    pthread_mutex_lock(&mu);
    struct series *s = find(f, values);
    if (s) {
        for (size_t i = 0; i < f->nbounds; i++)
            if (v <= f->bounds[i]) {
                s->buckets[i]++;
                break;
            }
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&mu);
}

bool easel_metric_read(enum easel_metric m, const char *const *values, double *value,
                       double *sum)
{
    if ((unsigned)m >= EASEL_M_COUNT)
        return false;
    struct family *f = &fams[m];
    size_t nl = nlabels(f);
    bool found = false;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < f->n && !found; i++) {
        size_t k = 0;
        while (k < nl && !strcmp(f->s[i].vals[k], values && values[k] ? values[k] : ""))
            k++;
        if (k < nl)
            continue;
        found = true;
        if (value)
            *value = f->type == HISTOGRAM ? (double)f->s[i].count : f->s[i].value;
        if (sum)
            *sum = f->s[i].sum;
    }
    pthread_mutex_unlock(&mu);
    return found;
}

void easel_metric_hist_total(enum easel_metric m, const char *label, const char *value,
                             double *sum, double *count)
{
    *sum = *count = 0;
    if ((unsigned)m >= EASEL_M_COUNT || fams[m].type != HISTOGRAM)
        return;
    struct family *f = &fams[m];
    char buf[128];
    const char *names[EASEL_METRIC_MAX_LABELS];
    size_t nl = label_names(f->labels, buf, sizeof(buf), names);
    size_t li = nl;
    for (size_t k = 0; label && k < nl; k++)
        if (!strcmp(names[k], label))
            li = k;
    if (label && li == nl)
        return;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < f->n; i++) {
        if (label && strcmp(f->s[i].vals[li], value) != 0)
            continue;
        *sum += f->s[i].sum;
        *count += (double)f->s[i].count;
    }
    pthread_mutex_unlock(&mu);
}

const char *easel_metric_name(enum easel_metric m)
{
    return (unsigned)m < EASEL_M_COUNT ? fams[m].name : "";
}

/* One sample of series s with an extra label (le) when given. */
static easel_err sample(struct easel_buf *b, const char *name, const char *const *names,
                        size_t nl, const struct series *s, const char *extra,
                        const char *extra_val, double v)
{
    const char *l[2 * (EASEL_METRIC_MAX_LABELS + 1) + 1];
    size_t k = 0;
    for (size_t i = 0; i < nl; i++) {
        l[k++] = names[i];
        l[k++] = s->vals[i];
    }
    if (extra) {
        l[k++] = extra;
        l[k++] = extra_val;
    }
    l[k] = NULL;
    return easel_prom_sample(b, name, l, v);
}

static easel_err write_family(struct easel_buf *b, const struct family *f)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    char buf[128], nm[160];
    const char *names[EASEL_METRIC_MAX_LABELS];
    size_t nl = label_names(f->labels, buf, sizeof(buf), names);
    easel_err rc = easel_prom_family(b, f->name, tname[f->type], f->help);
    for (size_t i = 0; i < f->n && !rc; i++) {
        const struct series *s = &f->s[i];
        if (f->type != HISTOGRAM) {
            rc = sample(b, f->name, names, nl, s, NULL, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        easel_snprintf(nm, sizeof(nm), "%s_bucket", f->name);
        for (size_t k = 0; k <= f->nbounds && !rc; k++) {
            char le[32];
            if (k < f->nbounds) {
                cum += s->buckets[k];
                easel_snprintf(le, sizeof(le), "%.17g", f->bounds[k]);
            } else {
                cum = s->count;
                easel_strlcpy(le, "+Inf", sizeof(le));
            }
            rc = sample(b, nm, names, nl, s, "le", le, (double)cum);
        }
        easel_snprintf(nm, sizeof(nm), "%s_sum", f->name);
        if (!rc)
            rc = sample(b, nm, names, nl, s, NULL, NULL, s->sum);
        easel_snprintf(nm, sizeof(nm), "%s_count", f->name);
        if (!rc)
            rc = sample(b, nm, names, nl, s, NULL, NULL, (double)s->count);
    }
    return rc;
}

easel_err easel_metrics_write(struct easel_buf *b)
{
    easel_err rc = EASEL_OK;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < EASEL_M_COUNT && !rc; i++)
        rc = write_family(b, &fams[i]);
    pthread_mutex_unlock(&mu);
    return rc;
}

void easel_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < EASEL_M_COUNT; i++) {
        struct family *f = &fams[i];
        for (size_t k = 0; k < f->n; k++) {
            for (size_t l = 0; l < EASEL_METRIC_MAX_LABELS; l++)
                free(f->s[k].vals[l]);
            free(f->s[k].buckets);
        }
        free(f->s);
        f->s = NULL;
        f->n = f->cap = 0;
    }
    pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------ the metric outbox */

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return false;
    *out = v->valuedouble;
    return true;
}

static void fold_status(const char *model, const cJSON *d)
{
    const char *to = str(d, "to");
    double secs;
    if (!to)
        return;
    if (!strcmp(to, "dispatched")) {
        easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){model}, 1);
    } else if (!strcmp(to, "retrying")) {
        const char *reason = str(d, "reason");
        easel_metric_add(EASEL_M_RETRIES, (const char *const[]){model, reason ? reason : ""}, 1);
    } else if ((!strcmp(to, "succeeded") || !strcmp(to, "failed") || !strcmp(to, "dead") ||
                !strcmp(to, "canceled")) &&
               num(d, "seconds", &secs)) {
        easel_metric_observe(EASEL_M_JOB_DURATION, (const char *const[]){model, to}, secs);
    }
}

static void fold_attempt(const cJSON *d)
{
    const cJSON *it;
    double v;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "image")) {
        const char *tool = str(it, "tool");
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(it, "ok");
        if (tool && cJSON_IsBool(ok) && num(it, "seconds", &v))
            easel_metric_observe(EASEL_M_IMAGE_DURATION,
                                 (const char *const[]){tool, cJSON_IsTrue(ok) ? "true" : "false"},
                                 v);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "sources")) {
        const char *tool = str(it, "tool");
        if (tool && num(it, "bytes", &v))
            easel_metric_observe(EASEL_M_IMAGE_ORIGINAL, (const char *const[]){tool}, v);
    }
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(d, "output");
    const char *tool = str(out, "tool");
    if (tool) {
        if (num(out, "compression_ratio", &v))
            easel_metric_observe(EASEL_M_IMAGE_RATIO, (const char *const[]){tool}, v);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "variants")) {
            if (it->string && cJSON_IsNumber(it) && isfinite(it->valuedouble))
                easel_metric_observe(EASEL_M_IMAGE_COMPRESSED,
                                     (const char *const[]){tool, it->string}, it->valuedouble);
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "calls")) {
        const char *prov = str(it, "provider"), *m = str(it, "model");
        const char *cls = str(it, "class"), *reason = str(it, "reason");
        if (!prov || !num(it, "seconds", &v))
            continue;
        easel_metric_observe(EASEL_M_PROVIDER_DURATION,
                             (const char *const[]){prov, m ? m : "", reason ? reason : "ok"}, v);
        if (reason)
            easel_metric_add(EASEL_M_PROVIDER_ERRORS,
                             (const char *const[]){prov, cls ? cls : "", reason}, 1);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "failovers")) {
        const char *from = str(it, "from"), *to = str(it, "to");
        if (from && to)
            easel_metric_add(EASEL_M_FAILOVERS, (const char *const[]){from, to}, 1);
    }
    const char *gen = str(d, "generation");
    if (gen && !strcmp(gen, "success"))
        easel_metric_add(EASEL_M_GEN_SUCCESS, NULL, 1);
    else if (gen && !strcmp(gen, "failure"))
        easel_metric_add(EASEL_M_GEN_FAILURE, NULL, 1);
}

void easel_metrics_fold(const char *kind, const char *model, const struct cJSON *data)
{
    if (!kind || !cJSON_IsObject(data))
        return;
    if (!strcmp(kind, "status"))
        fold_status(model ? model : "", data);
    else if (!strcmp(kind, "attempt"))
        fold_attempt(data);
}

/* ------------------------------------------------ the process */

easel_err easel_prom_process(struct easel_buf *b)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char stat[1024];
    double cpu = NAN, start = NAN, rss = NAN, fds = 0;
    FILE *fp = fopen("/proc/self/stat", "r");
    if (fp) {
        size_t n = fread(stat, 1, sizeof(stat) - 1, fp);
        stat[n] = '\0';
        fclose(fp);
        /* fields after the command's closing parenthesis: state is 3,
         * utime 14, stime 15, starttime 22, rss 24 */
        char *p = strrchr(stat, ')'), *save = NULL;
        unsigned long long f[25] = {0};
        int k = 3;
        for (char *t = p ? strtok_r(p + 1, " ", &save) : NULL; t && k <= 24;
             t = strtok_r(NULL, " ", &save), k++)
            f[k] = strtoull(t, NULL, 10);
        if (k > 24 && tick > 0) {
            cpu = (double)(f[14] + f[15]) / (double)tick;
            rss = (double)f[24] * (double)page;
            double boot = NAN;
            FILE *st = fopen("/proc/stat", "r");
            char line[256];
            while (st && fgets(line, sizeof(line), st))
                if (!strncmp(line, "btime ", 6))
                    boot = strtod(line + 6, NULL);
            if (st)
                fclose(st);
            start = boot + (double)f[22] / (double)tick;
        }
    }
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d) {
        closedir(d);
        fds -= 1; /* the directory's own descriptor */
    }
    struct {
        const char *name, *type, *help;
        double v;
    } rows[] = {
        {"process_cpu_seconds_total", "counter", "User and system CPU seconds", cpu},
        {"process_resident_memory_bytes", "gauge", "Resident memory in bytes", rss},
        {"process_open_fds", "gauge", "Open file descriptors", fds},
        {"process_start_time_seconds", "gauge", "Start time since the epoch, in seconds",
         start},
    };
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && !rc; i++) {
        if (isnan(rows[i].v))
            continue;
        rc = easel_prom_family(b, rows[i].name, rows[i].type, rows[i].help);
        if (!rc)
            rc = easel_prom_sample(b, rows[i].name, NULL, rows[i].v);
    }
    return rc;
}
