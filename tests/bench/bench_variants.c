/*
 * bench_variants.c - measures the image path of a job: one source JPEG in,
 * every variant of the "dall-e" preset out (1024 px JPEG q80, 2048 px WebP
 * q95, 256 px JPEG q75), through easel_image_variants_buffer, the call job
 * mode makes.
 *
 * Sources are 12 MP (4000x3000) photo-like JPEGs (textured noise over
 * gradients, so they neither compress nor decode unrealistically fast),
 * written by a child process before measuring, so that the peak RSS printed
 * is that of the variant path alone: each source is read from disk, turned
 * into variants and freed, one after the other, as a worker would.
 *
 * Three passes: one image at a time (a job's latency), two images in flight
 * (a 2-core node kept busy by two jobs), and the largest variant's WebP
 * encode alone, the single call that bounds the other two. Then a fourth,
 * closer to a job's real input: 1024 px square PNGs, as image models hand
 * back, made from the sources, through the same preset.
 *
 * Prints human lines and "BENCH key=value" lines; hack/bench-sharp.sh holds
 * them against sharp's and prints the targets. Exits 0 whatever the
 * figures; a setup failure exits 1.
 *
 *   EASEL_BENCH_IMAGES  number of sources (default 20)
 *   EASEL_BENCH_DIR     keep the sources here (hack/bench-sharp.sh reuses
 *                       them); default: a temporary directory, removed
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "easel/core.h"
#include "easel/imaging.h"
#include "easel/registry.h"

#define SRC_W 4000
#define SRC_H 3000

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One source: two crossing gradients under Perlin-like texture and fine
 * grain, different for every index. */
static int make_source(const char *path, int i)
{
    VipsImage *base = vips_image_new(), **t = (VipsImage **)vips_object_local_array(
                                          VIPS_OBJECT(base), 12);
    int rc = vips_xyz(&t[0], SRC_W, SRC_H, NULL) ||
             vips_extract_band(t[0], &t[1], 0, NULL) ||
             vips_extract_band(t[0], &t[2], 1, NULL) ||
             vips_perlin(&t[3], SRC_W, SRC_H, "cell_size", 64 + 16 * (i % 5),
                         "seed", i, NULL) ||
             vips_gaussnoise(&t[4], SRC_W, SRC_H, "sigma", 12.0, "mean", 0.0,
                             "seed", i + 1, NULL) ||
             vips_linear1(t[1], &t[5], 180.0 / SRC_W, 30 + 3 * i, NULL) ||
             vips_linear1(t[2], &t[6], 160.0 / SRC_H, 40, NULL) ||
             vips_linear1(t[3], &t[7], 90, 100, NULL);
    if (!rc) {
        VipsImage *r, *g, *b, *bands[3];
        rc = vips_add(t[5], t[4], &r, NULL);
        if (!rc && !vips_add(t[6], t[7], &g, NULL)) {
            if (!vips_add(t[7], t[4], &b, NULL)) {
                bands[0] = r;
                bands[1] = g;
                bands[2] = b;
                rc = vips_bandjoin(bands, &t[8], 3, NULL) ||
                     vips_cast_uchar(t[8], &t[9], NULL) ||
                     vips_copy(t[9], &t[10], "interpretation",
                               VIPS_INTERPRETATION_sRGB, NULL) ||
                     vips_jpegsave(t[10], path, "Q", 88, NULL);
                g_object_unref(b);
            } else {
                rc = -1;
            }
            g_object_unref(g);
        } else {
            rc = -1;
        }
        if (r)
            g_object_unref(r);
    }
    g_object_unref(base);
    return rc ? -1 : 0;
}

static int make_sources(const char *dir, int n)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (VIPS_INIT("bench_variants"))
            _exit(1);
        for (int i = 0; i < n; i++) {
            char path[4200];
            snprintf(path, sizeof(path), "%s/src-%02d.jpg", dir, i);
            struct stat st;
            if (!(stat(path, &st) == 0 && st.st_size > 0) && make_source(path, i)) {
                fprintf(stderr, "bench_variants: cannot write %s: %s\n", path,
                        vips_error_buffer());
                _exit(1);
            }
            /* what a model hands back: a 1024 px square PNG */
            char out[4200];
            snprintf(out, sizeof(out), "%s/out-%02d.png", dir, i);
            VipsImage *sq = NULL;
            if (!(stat(out, &st) == 0 && st.st_size > 0) &&
                (vips_thumbnail(path, &sq, 1024, "height", 1024, "crop",
                                VIPS_INTERESTING_CENTRE, NULL) ||
                 vips_pngsave(sq, out, "compression", 6, NULL))) {
                fprintf(stderr, "bench_variants: cannot write %s: %s\n", out,
                        vips_error_buffer());
                _exit(1);
            }
            if (sq)
                g_object_unref(sq);
        }
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    return 0;
}

struct totals {
    size_t in_bytes, out_bytes[8];
    int n;
};

static easel_err count(void *ctx, const struct easel_variant_out *v)
{
    struct totals *t = ctx;
    if (t->n < 8)
        t->out_bytes[t->n++] += v->len;
    return EASEL_OK;
}

/* One file through the preset, as job mode does it: read, then every
 * variant; the file's bytes are added to tot->in_bytes. -1, said on
 * stderr, on failure. */
static int variants_of(const char *path, const struct easel_preset *preset,
                       const struct easel_image_limits *lim, struct totals *tot)
{
    char *buf = NULL;
    size_t len = 0;
    struct easel_error err;
    if (easel_read_file(path, 0, &buf, &len) != EASEL_OK) {
        fprintf(stderr, "bench_variants: cannot read %s\n", path);
        return -1;
    }
    tot->n = 0;
    int rc = 0;
    if (easel_image_variants_buffer(buf, len, lim, preset, count, tot, &err)) {
        fprintf(stderr, "bench_variants: %s: %s\n", path, err.msg);
        rc = -1;
    } else {
        tot->in_bytes += len;
    }
    free(buf);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Peak RSS (MB) of a fresh process that turns one file into the preset's
 * variants, the way a worker would; with progressive, it first re-encodes
 * the file as a progressive JPEG in another process. -1 on failure. */
static double one_image_rss(const char *dir, bool progressive)
{
    char src[4200], path[4200];
    snprintf(src, sizeof(src), "%s/src-00.jpg", dir);
    snprintf(path, sizeof(path), "%s/progressive.jpg", dir);
    if (progressive) {
        pid_t p = fork();
        if (p == 0) {
            if (VIPS_INIT("bench_variants"))
                _exit(1);
            VipsImage *im = vips_image_new_from_file(src, NULL);
            _exit(!im || vips_jpegsave(im, path, "Q", 88, "interlace", TRUE, NULL));
        }
        int st;
        if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            return -1;
    }
    int fd[2];
    if (pipe(fd))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        struct easel_registry *reg = NULL;
        struct easel_image_limits lim;
        struct totals tot = {0};
        easel_image_limits_default(&lim);
        if (easel_imaging_init("bench_variants", 0) || easel_registry_builtin(&reg) ||
            variants_of(progressive ? path : src, easel_registry_preset(reg, "dall-e"), &lim,
                        &tot))
            _exit(1);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double mb = (double)ru.ru_maxrss / 1024.0;
        _exit(write(fd[1], &mb, sizeof(mb)) == (ssize_t)sizeof(mb) ? 0 : 1);
    }
    close(fd[1]);
    double mb = -1;
    if (pid < 0 || read(fd[0], &mb, sizeof(mb)) != (ssize_t)sizeof(mb))
        mb = -1;
    close(fd[0]);
    int st;
    if (pid > 0)
        waitpid(pid, &st, 0);
    if (progressive)
        unlink(path);
    return mb;
}

/* Two images in flight: two threads take the sources in turn, as two jobs
 * on a 2-core node would. */
struct flight {
    const char *dir;
    int n;
    atomic_int next;
    const struct easel_preset *preset;
    const struct easel_image_limits *lim;
    atomic_int failed;
};

static void *flight_main(void *arg)
{
    struct flight *f = arg;
    struct totals tot = {0}; /* this thread's */
    for (int i; (i = atomic_fetch_add(&f->next, 1)) < f->n;) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/src-%02d.jpg", f->dir, i);
        if (variants_of(path, f->preset, f->lim, &tot))
            atomic_store(&f->failed, 1);
    }
    vips_thread_shutdown();
    return NULL;
}

/* The two steps no pipeline can overlap within one image, over the first k
 * sources: the JPEG decode (wall ms; libjpeg decodes on one thread) and the
 * 2048 px WebP q95 encode (CPU ms; libwebp encodes on one thread), from
 * pixels decoded and resized outside the clock. -1 on failure. */
static int alone(const char *dir, int k, const struct easel_image_limits *lim,
                 double *decode_ms, double *webp_ms)
{
    double total = 0, dec = 0;
    for (int i = 0; i < k; i++) {
        char path[4200], *buf = NULL;
        size_t len = 0;
        struct easel_error err;
        struct easel_image *img = NULL, *fitted = NULL;
        void *out = NULL;
        size_t olen = 0;
        snprintf(path, sizeof(path), "%s/src-%02d.jpg", dir, i);
        if (easel_read_file(path, 0, &buf, &len))
            return -1;
        int64_t t = now_us();
        if (easel_image_load(buf, len, lim, &img, &err) ||
            (dec += (double)(now_us() - t) / 1000.0,
             easel_image_fit(img, 2048, &fitted, &err))) {
            free(buf);
            easel_image_free(img);
            return -1;
        }
        double c = cpu_s();
        easel_err rc = easel_image_encode(fitted, EASEL_FMT_WEBP, 95, &out, &olen, &err);
        total += cpu_s() - c;
        free(out);
        free(buf);
        easel_image_free(fitted);
        easel_image_free(img);
        if (rc)
            return -1;
    }
    *decode_ms = dec / k;
    *webp_ms = total * 1000.0 / k;
    return 0;
}

/* The provider-output pass: every out-NN.png through the preset, one at a
 * time. Images/s and CPU ms per image; -1 on failure. */
static int png_pass(const char *dir, int n, const struct easel_preset *preset,
                    const struct easel_image_limits *lim, double *ips, double *cpu_ms)
{
    struct totals tot = {0};
    double c0 = cpu_s();
    int64_t t0 = now_us();
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/out-%02d.png", dir, i);
        if (variants_of(path, preset, lim, &tot))
            return -1;
    }
    *ips = n / ((double)(now_us() - t0) / 1e6);
    *cpu_ms = (cpu_s() - c0) * 1000.0 / n;
    return 0;
}

static void rm_dir(const char *dir, int n)
{
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/src-%02d.jpg", dir, i);
        unlink(path);
        snprintf(path, sizeof(path), "%s/out-%02d.png", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const char *s = getenv("EASEL_BENCH_IMAGES");
    int n = s ? atoi(s) : 20;
    if (n < 1 || n > 1000)
        n = 20;
    char dir[4096];
    const char *keep = getenv("EASEL_BENCH_DIR");
    if (keep && *keep) {
        snprintf(dir, sizeof(dir), "%s", keep);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            perror(dir);
            return 1;
        }
    } else {
        snprintf(dir, sizeof(dir), "/tmp/easel-bench-img.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    int64_t t0 = now_us();
    if (make_sources(dir, n)) {
        fprintf(stderr, "bench_variants: cannot make the source images\n");
        return 1;
    }
    printf("sources: %d x %dx%d JPEG q88 in %s (made in %.1f s)\n", n, SRC_W,
           SRC_H, dir, (double)(now_us() - t0) / 1e6);

    /* one image at a time in a fresh process, baseline and progressive
     * (before this process starts libvips' threads, since it forks) */
    double rss_base = one_image_rss(dir, false), rss_prog = one_image_rss(dir, true);

    if (easel_imaging_init("bench_variants", 0) != EASEL_OK) {
        fprintf(stderr, "bench_variants: libvips does not start\n");
        return 1;
    }
    struct easel_registry *reg = NULL;
    if (easel_registry_builtin(&reg) != EASEL_OK)
        return 1;
    const struct easel_preset *preset = easel_registry_preset(reg, "dall-e");
    if (!preset)
        return 1;

    struct easel_image_limits lim;
    easel_image_limits_default(&lim);
    int64_t *lat = calloc((size_t)n, sizeof(*lat));
    struct totals tot = {0};
    double cpu0 = cpu_s();
    int64_t start = now_us();
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/src-%02d.jpg", dir, i);
        int64_t a = now_us();
        if (variants_of(path, preset, &lim, &tot))
            return 1;
        lat[i] = now_us() - a;
    }
    double secs = (double)(now_us() - start) / 1e6;
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    double ips = n / secs;
    double cpu = cpu_s() - cpu0;

    /* then two in flight (the peak RSS above is already taken) */
    struct flight fl = {.dir = dir, .n = n, .preset = preset, .lim = &lim};
    pthread_t th[2];
    double cpu2 = cpu_s();
    int64_t start2 = now_us();
    for (int k = 0; k < 2; k++)
        if (pthread_create(&th[k], NULL, flight_main, &fl)) {
            fprintf(stderr, "bench_variants: no thread\n");
            return 1;
        }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    double secs2 = (double)(now_us() - start2) / 1e6, ips2 = n / secs2;
    cpu2 = cpu_s() - cpu2;
    getrusage(RUSAGE_SELF, &ru);
    double rss2_mb = (double)ru.ru_maxrss / 1024.0;
    if (atomic_load(&fl.failed)) {
        fprintf(stderr, "bench_variants: a source failed with two in flight\n");
        return 1;
    }
    double decode_ms = -1, webp_ms = -1;
    if (alone(dir, n < 5 ? n : 5, &lim, &decode_ms, &webp_ms)) {
        fprintf(stderr, "bench_variants: the single-step pass failed\n");
        return 1;
    }
    double png_ips = -1, png_cpu = -1;
    if (png_pass(dir, n, preset, &lim, &png_ips, &png_cpu)) {
        fprintf(stderr, "bench_variants: the provider-output pass failed\n");
        return 1;
    }

    printf("preset dall-e: ");
    for (size_t v = 0; v < preset->nvariants; v++)
        printf("%s%s %dx%d %s q%d", v ? ", " : "", preset->variants[v].name,
               preset->variants[v].width, preset->variants[v].height,
               easel_format_name(preset->variants[v].format),
               preset->variants[v].quality);
    printf("\n");
    printf("throughput: %.2f images/s (%d in %.2f s, %d cores, libvips %s)\n",
           ips, n, secs, (int)sysconf(_SC_NPROCESSORS_ONLN), easel_imaging_version());
    printf("latency per image: p50 %.0f ms, p99 %.0f ms\n",
           (double)lat[n / 2] / 1000.0,
           (double)lat[(size_t)((n - 1) * 0.99)] / 1000.0);
    printf("CPU per image: %.0f ms (user and system, all threads)\n", cpu * 1000.0 / n);
    printf("peak RSS: %.1f MB\n", rss_mb);
    printf("two images in flight: %.2f images/s, CPU %.0f ms per image, peak RSS %.1f MB\n",
           ips2, cpu2 * 1000.0 / n, rss2_mb);
    printf("steps alone: the 12 MP JPEG decode %.0f ms (wall), the 2048 px WebP q95 "
           "encode %.0f ms CPU; each runs on one thread\n", decode_ms, webp_ms);
    printf("provider outputs (1024 px square PNGs), one at a time: %.2f images/s, "
           "CPU %.0f ms per image\n", png_ips, png_cpu);
    printf("bytes: in %.1f MB; out", (double)tot.in_bytes / 1e6);
    for (size_t v = 0; v < preset->nvariants; v++)
        printf(" %s %.2f MB", preset->variants[v].name, (double)tot.out_bytes[v] / 1e6);
    printf("\n");
    printf("BENCH variants_images_per_s=%.3f\n", ips);
    printf("BENCH variants_p50_ms=%.1f\n", (double)lat[n / 2] / 1000.0);
    printf("BENCH variants_p99_ms=%.1f\n", (double)lat[(size_t)((n - 1) * 0.99)] / 1000.0);
    printf("BENCH variants_cpu_ms_per_image=%.1f\n", cpu * 1000.0 / n);
    printf("BENCH variants_2inflight_images_per_s=%.3f\n", ips2);
    printf("BENCH variants_2inflight_peak_rss_mb=%.1f\n", rss2_mb);
    printf("BENCH variants_webp_ms=%.1f\n", webp_ms);
    printf("BENCH variants_decode_ms=%.1f\n", decode_ms);
    printf("BENCH variants_png_images_per_s=%.3f\n", png_ips);
    printf("BENCH variants_png_cpu_ms_per_image=%.1f\n", png_cpu);
    printf("BENCH variants_peak_rss_mb=%.1f\n", rss_mb);
    printf("BENCH variants_out_bytes=");
    for (size_t v = 0; v < preset->nvariants; v++)
        printf("%s%zu", v ? "," : "", tot.out_bytes[v]);
    printf("\n");
    printf("one 12 MP image in a fresh worker: peak RSS %.1f MB baseline, %.1f MB as a "
           "progressive JPEG\n", rss_base, rss_prog);
    printf("BENCH variants_one_image_rss_mb=%.1f\n", rss_base);
    printf("BENCH variants_progressive_rss_mb=%.1f\n", rss_prog);
    free(lat);
    easel_registry_unref(reg);
    easel_imaging_shutdown();
    if (!(keep && *keep))
        rm_dir(dir, n);
    return 0;
}
