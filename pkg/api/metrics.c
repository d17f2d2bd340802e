/*
 * metrics.c - GET /metrics: everything the replica knows, in the
 * Prometheus text format (0.0.4).
 *
 * A scrape first takes the metric outbox (what job mode, pool workers and
 * the store's trigger wrote since the last scrape of any replica) and
 * folds it into the process's families, then writes those, the families
 * read at the moment of the scrape (the queue in Redis, the jobs per
 * status in Postgres, the breakers, the process), and the names the seed
 * workers' dashboards read. A dependency that is down costs its families,
 * never the scrape: easel_dependency_up says which.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "easel/telemetry.h"
#include "easel/trace.h"

#ifndef EASEL_VERSION
#define EASEL_VERSION "0.0.0"
#endif
#ifndef EASEL_COMMIT
#define EASEL_COMMIT "unknown"
#endif

/* Outbox rows taken per scrape at most; the rest wait for the next one. */
#define TAKE_BATCH 2000
#define TAKE_MAX 20000
/* Rows no scrape took are deleted after a day. */
#define OUTBOX_MAX_AGE_S 86400

static void fold_row(void *ud, const char *kind, const char *model, const char *data)
{
    (void)ud;
    cJSON *d = cJSON_Parse(data);
    easel_metrics_fold(kind, model, d);
    cJSON_Delete(d);
}

/* Takes the outbox; false when Postgres failed. */
static bool take_outbox(struct easel_store *s)
{
    static _Atomic int64_t next_expire_ms;
    size_t n = 0, total = 0;
    do {
        if (easel_store_metric_take(s, TAKE_BATCH, fold_row, NULL, &n))
            return false;
        total += n;
    } while (n == TAKE_BATCH && total < TAKE_MAX);
    int64_t now = easel_now_ms();
    if (now >= atomic_load(&next_expire_ms)) {
        atomic_store(&next_expire_ms, now + 60000);
        if (easel_store_metric_expire(s, OUTBOX_MAX_AGE_S, &n) == EASEL_OK && n)
            easel_warn(NULL, "metrics: %zu outbox rows older than a day were never scraped "
                       "and are gone", n);
    }
    return true;
}

static easel_err gauge(struct easel_buf *b, const char *name, const char *help,
                       const char *const *labels, double v)
{
    easel_err rc = easel_prom_family(b, name, "gauge", help);
    return rc ? rc : easel_prom_sample(b, name, labels, v);
}

static easel_err queue_families(struct easel_buf *b, const char *queue,
                                const struct easel_queue_stats *st, int64_t age_ms)
{
    const char *l[] = {"queue", queue, NULL};
    struct {
        const char *name, *help;
        double v;
    } rows[] = {
        {"easel_queue_pending", "Entries waiting to be claimed", (double)st->pending},
        {"easel_queue_delayed", "Jobs waiting for a retry or their run_after",
         (double)st->delayed},
        {"easel_queue_in_flight", "Entries claimed by a controller and not yet acknowledged",
         (double)st->inflight},
        {"easel_queue_pool", "Jobs of pool models waiting for an easel worker", (double)st->pool},
        {"easel_queue_dead", "Entries in the dead-letter list", (double)st->dead},
        {"easel_queue_controllers", "Controllers holding claims on the queue",
         (double)st->controllers},
    };
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && !rc; i++)
        rc = gauge(b, rows[i].name, rows[i].help, l, rows[i].v);
    if (!rc)
        rc = gauge(b, "easel_queue_oldest_pending_age_seconds",
                   "How long the oldest job not yet dispatched has waited: the entry "
                   "next to be claimed, or a claimed job queued for a slot (0: none)", l,
                   age_ms > 0 ? (double)age_ms / 1000.0 : 0);
    return rc;
}

static easel_err job_families(struct easel_buf *b, const int64_t *counts)
{
    static const enum easel_status open[] = {EASEL_STATUS_QUEUED, EASEL_STATUS_DISPATCHED,
                                             EASEL_STATUS_RUNNING, EASEL_STATUS_RETRYING};
    easel_err rc = easel_prom_family(b, "easel_jobs", "gauge",
                                     "Jobs in each unfinished status, from Postgres "
                                     "(the same on every replica)");
    for (size_t i = 0; i < 4 && !rc; i++) {
        const char *l[] = {"status", easel_status_name(open[i]), NULL};
        rc = easel_prom_sample(b, "easel_jobs", l, (double)counts[open[i]]);
    }
    return rc;
}

/* The names the seed workers' dashboards read, from the same figures. */
static easel_err seed_families(struct easel_buf *b, const struct easel_queue_stats *st,
                               const int64_t *counts, bool have_queue, bool have_store)
{
    double sum, n, ok_sum, ok, f_sum, failed, d_sum, dead;
    easel_metric_hist_total(EASEL_M_JOB_DURATION, NULL, NULL, &sum, &n);
    easel_metric_hist_total(EASEL_M_JOB_DURATION, "status", "succeeded", &ok_sum, &ok);
    easel_metric_hist_total(EASEL_M_JOB_DURATION, "status", "failed", &f_sum, &failed);
    easel_metric_hist_total(EASEL_M_JOB_DURATION, "status", "dead", &d_sum, &dead);
    easel_err rc = easel_prom_family(b, "worker_jobs_total", "counter",
                                     "Jobs that reached a final status, seen by this replica");
    if (!rc)
        rc = easel_prom_sample(b, "worker_jobs_total", NULL, n);
    if (!rc && have_queue)
        rc = gauge(b, "worker_jobs_pending",
                   "Jobs waiting: pending entries, delayed retries and pool jobs not yet claimed",
                   NULL, (double)(st->pending + st->delayed + st->pool));
    if (!rc && have_store)
        rc = gauge(b, "worker_jobs_processing", "Jobs with an attempt dispatched or running",
                   NULL,
                   (double)(counts[EASEL_STATUS_DISPATCHED] + counts[EASEL_STATUS_RUNNING]));
    if (!rc)
        rc = gauge(b, "worker_jobs_completed",
                   "Jobs that succeeded, seen by this replica (monotonic)", NULL, ok);
    if (!rc)
        rc = gauge(b, "worker_jobs_failed",
                   "Jobs that failed or went dead, seen by this replica (monotonic)", NULL,
                   failed + dead);
    if (!rc && have_queue)
        rc = gauge(b, "worker_active_workers",
                   "Controllers and pool workers holding claims on the queue", NULL,
                   (double)st->controllers);
    /* no jobs yet: no sample, rather than an invented 0 or 1 */
    if (!rc)
        rc = easel_prom_family(b, "worker_average_job_time", "gauge",
                               "Mean seconds from creation to final status, this replica");
    if (!rc && n > 0)
        rc = easel_prom_sample(b, "worker_average_job_time", NULL, sum / n);
    if (!rc)
        rc = easel_prom_family(b, "worker_success_rate", "gauge",
                               "Succeeded over finished jobs (0 to 1), this replica");
    if (!rc && n > 0)
        rc = easel_prom_sample(b, "worker_success_rate", NULL, ok / n);
    return rc;
}

/* What this process's trace exporter and Sentry sender did. */
static easel_err exporter_families(struct easel_buf *b)
{
    struct easel_trace_stats ts;
    struct easel_sentry_stats ss;
    memset(&ts, 0, sizeof(ts));
    memset(&ss, 0, sizeof(ss));
    easel_trace_stats(&ts);
    easel_sentry_stats(&ss);
    struct {
        const char *name, *help;
        uint64_t v;
    } rows[] = {
        {"easel_trace_spans_exported_total", "Spans the collector accepted", ts.exported},
        {"easel_trace_spans_dropped_total",
         "Spans dropped: the queue was full or the collector refused or never answered",
         ts.dropped},
        {"easel_trace_failed_batches_total", "Span batches the collector did not take",
         ts.failed_batches},
        {"easel_sentry_events_sent_total", "Events Sentry accepted", ss.sent},
        {"easel_sentry_events_dropped_total", "Events dropped (queue full, errors)", ss.dropped},
        {"easel_sentry_events_rate_limited_total", "Events dropped while Sentry rate-limited us",
         ss.rate_limited},
    };
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && !rc; i++) {
        rc = easel_prom_family(b, rows[i].name, "counter", rows[i].help);
        if (!rc)
            rc = easel_prom_sample(b, rows[i].name, NULL, (double)rows[i].v);
    }
    return rc;
}

void api_metrics(struct api_ctx *x, struct api_req *r)
{
    struct easel_buf b;
    struct api_req probe = {.base_url = r->base_url};
    struct easel_queue_stats st = {0};
    int64_t counts[EASEL_STATUS_COUNT] = {0};
    int64_t age_ms = -1, row_age_ms = -1;
    bool have_queue = false, have_store = false;
    easel_err rc;

    struct easel_store *s = api_store(x, &probe);
    if (s) {
        int64_t oldest_row_ms = 0;
        have_store = take_outbox(s) && easel_store_job_counts(s, counts) == EASEL_OK &&
                     easel_store_oldest_queued(s, &oldest_row_ms) == EASEL_OK;
        /* a claimed job still queued for a slot has waited since its row */
        if (have_store && oldest_row_ms > 0)
            row_age_ms = easel_wall_ms() - oldest_row_ms;
        if (!have_store)
            api_store_failed(x, &probe, EASEL_ECONN);
    }
    struct easel_queue *q = api_queue(x, &probe);
    if (q) {
        have_queue = easel_queue_stats(q, &st) == EASEL_OK &&
                     easel_queue_oldest_age(q, &age_ms) == EASEL_OK;
        if (!have_queue)
            api_queue_failed(x, &probe, EASEL_ECONN);
    }
    if (!probe.resp_static)
        free(probe.resp);
    if (row_age_ms > age_ms)
        age_ms = row_age_ms;
    const struct easel_api_hooks *h = &x->o->hooks;
    if (h->worker_state) {
        struct easel_api_worker_state ws;
        memset(&ws, 0, sizeof(ws));
        h->worker_state(h->ud, &ws);
        easel_metric_set(EASEL_M_SLOTS_USED, NULL, ws.slots_used);
        easel_metric_set(EASEL_M_CONCURRENCY, NULL, ws.concurrency);
    }

    easel_buf_init(&b, 64u << 20);
    rc = easel_prom_family(&b, "easel_build_info", "gauge", "Version of the running binary");
    if (!rc)
        rc = easel_prom_sample(&b, "easel_build_info",
                               (const char *const[]){"version", EASEL_VERSION, "commit",
                                                     EASEL_COMMIT, NULL},
                               1);
    if (!rc)
        rc = easel_prom_family(&b, "easel_dependency_up", "gauge",
                               "1 when this scrape reached the dependency");
    if (!rc)
        rc = easel_prom_sample(&b, "easel_dependency_up",
                               (const char *const[]){"dependency", "redis", NULL}, have_queue);
    if (!rc)
        rc = easel_prom_sample(&b, "easel_dependency_up",
                               (const char *const[]){"dependency", "postgres", NULL},
                               have_store);
    if (!rc && have_queue)
        rc = queue_families(&b, x->o->queue ? x->o->queue : "", &st, age_ms);
    if (!rc && have_store)
        rc = job_families(&b, counts);
    if (!rc && have_queue)
        rc = easel_prom_breakers(q, &b);
    if (!rc)
        rc = easel_metrics_write(&b);
    if (!rc)
        rc = seed_families(&b, &st, counts, have_queue, have_store);
    if (!rc)
        rc = exporter_families(&b);
    if (!rc)
        rc = easel_prom_process(&b);
    if (rc) {
        easel_buf_cleanup(&b);
        api_error(r, 500, "internal", "the metrics could not be written: %s",
                  easel_strerror(rc));
        return;
    }
    size_t len = 0;
    char *text = easel_buf_steal(&b, &len);
    api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, false);
    free(text);
}
