/*
 * bench_queue.c - measures the Redis queue: how many no-op jobs per second
 * go through push -> claim -> adopt -> ack, and how long an entry waits
 * between its LPUSH and a blocked claim returning it.
 *
 * Every figure is measured on the server named by EASEL_TEST_REDIS_URL
 * (hack/bench.sh starts one without an append-only file). Prints human
 * lines and "BENCH key=value" lines, and a PASS/MISS note against the
 * targets. Exits 0 whatever the figures; only a setup failure exits 1.
 *
 *   EASEL_BENCH_JOBS   jobs in the throughput run (default 200000)
 *   EASEL_BENCH_BATCH  claim batch size (default 256)
 *   EASEL_BENCH_RATE   producer rate of the latency run, per s (default 2000)
 *   EASEL_BENCH_SECS   length of the latency run in s (default 3)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "easel/core.h"
#include "easel/queue.h"
#include "../../pkg/queue/queue_int.h" /* queue_url_parse for the producer */

#define TARGET_JOBS_PER_S 25000
#define TARGET_P99_US 1000

static const char *g_url;
static char g_name[64];

static int64_t env_i64(const char *name, int64_t def, int64_t min, int64_t max)
{
    int64_t v;
    const char *s = getenv(name);
    if (!s || easel_parse_i64(s, min, max, &v))
        return def;
    return v;
}

/* A plain hiredis connection, as an existing producer app would have. */
static redisContext *producer_connect(void)
{
    struct queue_url u;
    char why[200];
    if (queue_url_parse(g_url, &u, why, sizeof(why))) {
        fprintf(stderr, "bench: %s\n", why);
        return NULL;
    }
    redisContext *c = redisConnect(u.host, u.port);
    if (!c || c->err) {
        fprintf(stderr, "bench: cannot connect to %s:%d\n", u.host, u.port);
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *r = NULL;
    if (u.has_pass)
        r = u.has_user ? redisCommand(c, "AUTH %s %s", u.user, u.pass)
                       : redisCommand(c, "AUTH %s", u.pass);
    if (r)
        freeReplyObject(r);
    r = redisCommand(c, "SELECT %d", u.db);
    if (r)
        freeReplyObject(r);
    return c;
}

static struct easel_queue *consumer_open(const char *cid)
{
    struct easel_queue_opts o = {.url = g_url, .name = g_name,
                                 .controller_id = cid, .lease_ms = 30000};
    struct easel_queue *q = NULL;
    struct easel_error err;
    if (easel_queue_open(&o, &q, &err)) {
        fprintf(stderr, "bench: easel_queue_open: %s\n", err.msg);
        return NULL;
    }
    return q;
}

static void drop_keys(redisContext *c)
{
    redisReply *r = redisCommand(c, "KEYS %s*", g_name);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++) {
        redisReply *d = redisCommand(c, "DEL %s", r->element[i]->str);
        if (d)
            freeReplyObject(d);
    }
    if (r)
        freeReplyObject(r);
}

/* A stage:run-like payload of about 150 bytes; returns its length (0 if
 * it did not fit). */
static size_t make_payload(char *dst, size_t len, long i)
{
    static const char *rooms[] = {"living_room", "bedroom", "kitchen",
                                  "bathroom"};
    static const char *styles[] = {"scandinavian", "industrial", "modern",
                                   "japandi"};
    if (easel_snprintf(
        dst, len,
        "{\"image_id\":\"img_%08ld\",\"original_url\":\"https://cdn.example.com/"
        "u/2024/11/img_%08ld.jpg\",\"room_type\":\"%s\",\"style\":\"%s\","
        "\"seed\":%ld}",
        i, i, rooms[i % 4], styles[i % 4], (i * 7919) % 1000003))
        return 0;
    return strlen(dst);
}

/* ------------------------------------------------------------ throughput */

struct batch {
    struct easel_queue_entry *e;
    struct easel_queue_adopt *a;
    char (*ids)[EASEL_UUID_LEN + 1];
    const char **idp;
    char **canon;
    size_t cap;
};

static int batch_init(struct batch *b, size_t cap)
{
    b->cap = cap;
    b->e = calloc(cap, sizeof(*b->e));
    b->a = calloc(cap, sizeof(*b->a));
    b->ids = calloc(cap, sizeof(*b->ids));
    b->idp = calloc(cap, sizeof(*b->idp));
    b->canon = calloc(cap, sizeof(*b->canon));
    return b->e && b->a && b->ids && b->idp && b->canon ? 0 : -1;
}

static void batch_cleanup(struct batch *b)
{
    free(b->e);
    free(b->a);
    free(b->ids);
    free(b->idp);
    free(b->canon);
}

/* What a controller does with a claimed batch, minus the job itself: give
 * each entry an id and a canonical form, adopt the batch, ack it. */
static int process(struct easel_queue *q, struct batch *b, size_t n)
{
    int ret = -1;
    for (size_t i = 0; i < n; i++) {
        b->canon[i] = NULL;
        if (easel_uuid_v4(b->ids[i]) || b->e[i].len < 2 || b->e[i].raw[0] != '{')
            goto out;
        b->canon[i] = easel_asprintf("{\"id\":\"%s\",%s", b->ids[i],
                                     b->e[i].raw + 1);
        if (!b->canon[i])
            goto out;
        b->a[i] = (struct easel_queue_adopt){b->e[i].raw, b->e[i].len,
                                             b->ids[i], b->canon[i]};
        b->idp[i] = b->ids[i];
    }
    if (easel_queue_adopt(q, b->a, n) || easel_queue_ack(q, b->idp, n)) {
        fprintf(stderr, "bench: %s\n", easel_queue_errstr(q));
        goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(b->canon[i]);
        b->canon[i] = NULL;
    }
    return ret;
}

static int throughput(long jobs, size_t batch)
{
    redisContext *p = producer_connect();
    struct easel_queue *q = consumer_open("bench-throughput");
    struct batch b = {0};
    char payload[256];
    int ret = 1;

    if (!p || !q || batch_init(&b, batch))
        goto out;

    /* producers: pipelined LPUSH, 1000 commands per write */
    int64_t t0 = easel_now_us();
    size_t bytes = 0;
    for (long i = 0; i < jobs;) {
        long w = 0;
        for (; w < 1000 && i < jobs; w++, i++) {
            size_t len = make_payload(payload, sizeof(payload), i);
            bytes += len;
            redisAppendCommand(p, "LPUSH %s %b", g_name, payload, len);
        }
        for (long k = 0; k < w; k++) {
            void *r = NULL;
            if (redisGetReply(p, &r) != REDIS_OK) {
                fprintf(stderr, "bench: push failed: %s\n", p->errstr);
                goto out;
            }
            freeReplyObject(r);
        }
    }
    int64_t t1 = easel_now_us();

    /* the controller's loop */
    long done = 0;
    while (done < jobs) {
        size_t n = 0;
        if (easel_queue_claim(q, batch, 1000, b.e, &n)) {
            fprintf(stderr, "bench: claim: %s\n", easel_queue_errstr(q));
            goto out;
        }
        if (n == 0) {
            fprintf(stderr, "bench: queue ran dry after %ld jobs\n", done);
            goto out;
        }
        int rc = process(q, &b, n);
        easel_queue_entries_free(b.e, n);
        if (rc)
            goto out;
        done += (long)n;
    }
    int64_t t2 = easel_now_us();

    struct easel_queue_stats s;
    if (easel_queue_stats(q, &s) || s.pending || s.inflight || s.leased) {
        fprintf(stderr, "bench: queue not empty after the run\n");
        goto out;
    }
    double push_s = (double)(t1 - t0) / 1e6, drain_s = (double)(t2 - t1) / 1e6;
    double full = (double)jobs / (push_s + drain_s);
    double drain = (double)jobs / drain_s;
    printf("throughput: %ld no-op jobs, %.0f-byte payloads, claim batch %zu\n",
           jobs, (double)bytes / (double)jobs, batch);
    printf("  push (pipelined LPUSH)        %7.2f s  %9.0f jobs/s\n", push_s,
           (double)jobs / push_s);
    printf("  claim + adopt + ack           %7.2f s  %9.0f jobs/s\n", drain_s,
           drain);
    printf("  full cycle push..ack          %7.2f s  %9.0f jobs/s  "
           "(target >= %d: %s)\n", push_s + drain_s, full, TARGET_JOBS_PER_S,
           full >= TARGET_JOBS_PER_S ? "PASS" : "MISS");
    printf("BENCH queue_throughput_jobs_per_s=%.0f\n", full);
    printf("BENCH queue_drain_jobs_per_s=%.0f\n", drain);
    printf("BENCH queue_push_jobs_per_s=%.0f\n", (double)jobs / push_s);
    ret = 0;
out:
    if (p) {
        drop_keys(p);
        redisFree(p);
    }
    easel_queue_free(q);
    batch_cleanup(&b);
    return ret;
}

/* ------------------------------------------------------------ latency */

struct producer {
    long rate, total, sent;
    int failed;
};

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    redisContext *c = producer_connect();
    char payload[256];
    struct timespec next;

    if (!c) {
        pr->failed = 1;
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &next);
    long step_ns = 1000000000L / pr->rate;
    for (long i = 0; i < pr->total; i++) {
        next.tv_nsec += step_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL))
            ;
        easel_snprintf(payload, sizeof(payload),
                       "{\"ts\":%lld,\"image_id\":\"img_%08ld\",\"style\":"
                       "\"modern\",\"room_type\":\"kitchen\"}",
                       (long long)easel_now_us(), i);
        redisReply *r = redisCommand(c, "LPUSH %s %s", g_name, payload);
        if (!r) {
            pr->failed = 1;
            break;
        }
        freeReplyObject(r);
        pr->sent++;
    }
    redisFree(c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(const int64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int latency(long rate, long secs)
{
    struct producer pr = {rate, rate * secs, 0, 0};
    struct easel_queue *q = consumer_open("bench-latency");
    struct batch b = {0};
    int64_t *lat = calloc((size_t)pr.total, sizeof(*lat));
    size_t got = 0;
    pthread_t th;
    int ret = 1;

    if (!q || !lat || batch_init(&b, 64))
        goto out;
    if (pthread_create(&th, NULL, producer_main, &pr)) {
        fprintf(stderr, "bench: cannot start the producer thread\n");
        goto out;
    }
    /* A controller loop: block in claim, then adopt and ack what came. */
    int idle = 0;
    while ((long)got < pr.total && idle < 3) {
        size_t n = 0;
        if (easel_queue_claim(q, 64, 1000, b.e, &n)) {
            fprintf(stderr, "bench: claim: %s\n", easel_queue_errstr(q));
            break;
        }
        idle = n ? 0 : idle + 1;
        for (size_t i = 0; i < n && (long)got < pr.total; i++) {
            long long ts = 0;
            if (sscanf(b.e[i].raw, "{\"ts\":%lld", &ts) == 1)
                lat[got++] = b.e[i].claimed_us - ts;
        }
        int rc = n ? process(q, &b, n) : 0;
        easel_queue_entries_free(b.e, n);
        if (rc)
            break;
    }
    pthread_join(th, NULL);
    if (pr.failed || got == 0) {
        fprintf(stderr, "bench: latency run failed (%zu samples)\n", got);
        goto out;
    }
    qsort(lat, got, sizeof(*lat), cmp_i64);
    int64_t p50 = pct(lat, got, 50), p90 = pct(lat, got, 90),
            p99 = pct(lat, got, 99), mx = lat[got - 1];
    printf("pickup latency: %zu samples, producer LPUSH at %ld/s, consumer "
           "blocked in easel_queue_claim (adopt + ack between claims)\n",
           got, rate);
    printf("  p50 %lld us, p90 %lld us, p99 %lld us, max %lld us  "
           "(target p99 <= %d us: %s)\n", (long long)p50, (long long)p90,
           (long long)p99, (long long)mx, TARGET_P99_US,
           p99 <= TARGET_P99_US ? "PASS" : "MISS");
    printf("BENCH pickup_latency_p50_us=%lld\n", (long long)p50);
    printf("BENCH pickup_latency_p90_us=%lld\n", (long long)p90);
    printf("BENCH pickup_latency_p99_us=%lld\n", (long long)p99);
    printf("BENCH pickup_latency_max_us=%lld\n", (long long)mx);
    ret = 0;
out:
    easel_queue_free(q);
    batch_cleanup(&b);
    free(lat);
    redisContext *c = producer_connect();
    if (c) {
        drop_keys(c);
        redisFree(c);
    }
    return ret;
}

int main(void)
{
    g_url = getenv("EASEL_TEST_REDIS_URL");
    if (!g_url) {
        fprintf(stderr, "bench_queue: EASEL_TEST_REDIS_URL is not set "
                        "(run make bench)\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    easel_log_setup(EASEL_LOG_WARN, "bench_queue");
    easel_snprintf(g_name, sizeof(g_name), "bench:%08llx",
                   (unsigned long long)easel_rand_below(UINT32_MAX));
    long jobs = (long)env_i64("EASEL_BENCH_JOBS", 200000, 1000, 100000000);
    size_t batch = (size_t)env_i64("EASEL_BENCH_BATCH", 256, 1, 1000);
    long rate = (long)env_i64("EASEL_BENCH_RATE", 2000, 10, 100000);
    long secs = (long)env_i64("EASEL_BENCH_SECS", 3, 1, 600);

    int rc = throughput(jobs, batch);
    printf("\n");
    rc |= latency(rate, secs);
    return rc;
}
