/*
 * sender.c - sends the app_calls outbox (consume and refund calls to the
 * app's database, armed refunds past their time) until the app accepts
 * each: one thread per controller, with its own connections to easel's
 * and the app's databases.
 *
 * Replicas share the outbox as the webhook senders do: a claim takes due
 * rows with FOR UPDATE SKIP LOCKED and leases them before the call, so a
 * call is in one sender's hands at a time and a sender killed mid-call
 * leaves it to whoever claims after the lease. The app may therefore see a
 * call twice; it passes the same key, and the app's function ignores the
 * second. A call the app refuses (its database down, or an error it
 * raises) is tried again with backoff, 1 s doubling to 5 minutes, forever:
 * a charge or a refund is never dropped.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "easel/credits.h"
#include "easel/telemetry.h"

#define BATCH 32
#define LEASE_MS 60000
#define IDLE_MAX_MS 30000
#define RECONNECT_MS 2000
#define BACKOFF_MAX_MS 300000

struct easel_credits_sender {
    struct easel_credits_sender_opts o;
    char *database_url, *app_url;
    pthread_t thread;
    int stop_pipe[2];
    struct easel_store *s, *app;
};

static bool stopping(struct easel_credits_sender *w)
{
    struct pollfd p = {.fd = w->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Waits up to ms for a notification, the stop pipe, or the time. */
static void nap(struct easel_credits_sender *w, int64_t ms)
{
    struct pollfd p[2] = {{.fd = w->stop_pipe[0], .events = POLLIN},
                          {.fd = w->s ? easel_store_socket(w->s) : -1, .events = POLLIN}};
    if (ms > IDLE_MAX_MS || ms < 0)
        ms = IDLE_MAX_MS;
    (void)poll(p, p[1].fd >= 0 ? 2 : 1, (int)ms);
    if (w->s)
        (void)easel_store_drain_notifications(w->s, NULL);
}

/* 1 s, doubling, at most 5 minutes (no jitter: calls are spread by when
 * their jobs ended) */
static int64_t backoff_ms(int attempts)
{
    static const struct easel_retry_policy every = {
        .initial_ms = 1000, .factor = 2, .max_ms = BACKOFF_MAX_MS};
    return easel_backoff_ceiling_ms(&every, attempts);
}

/* A record call: its rule's UPDATE. A record the table cannot take (no
 * row with its key, a variant the job did not store) is tried RECORD_TRIES
 * times, then ends failed so the job's next record goes on. */
#define RECORD_TRIES 10
static void send_record(struct easel_credits_sender *w, const struct easel_registry *reg,
                        struct easel_app_call *c)
{
    const struct easel_record_rule *rr = easel_registry_record(reg, c->record);
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc;
    int rows = -1;
    bool give_up = false;
    if (!rr) {
        rc = easel_error_set(&err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_INVALID_ARGUMENT,
                             "the registry in force has no record rule \"%s\"; the record "
                             "waits for one", c->record ? c->record : "");
    } else {
        struct easel_credits_ctx cc = {.app_url = w->app_url, .app = &w->app};
        enum easel_status st = EASEL_STATUS_QUEUED;
        bool writes = !easel_status_parse(c->j.status, &st) && rr->on[st].ncols > 0;
        rc = easel_records_write(&cc, rr, c, &rows, &err);
        if (rc == EASEL_OK && writes && rows == 0)
            rc = easel_error_set(&err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                                 EASEL_R_INVALID_ARGUMENT, "no row of %s where %s = %s",
                                 rr->table, rr->key_column, c->record_key);
        give_up = rc && err.cls == EASEL_CLASS_PERMANENT && c->attempts >= RECORD_TRIES;
    }
    int64_t retry = backoff_ms(c->attempts);
    if (rc)
        easel_log_kv(give_up ? EASEL_LOG_ERROR : EASEL_LOG_WARN, c->job_id,
                     (const char *const[]){"record", c->record ? c->record : "", NULL},
                     "record of %s %s (attempt %d): %s", c->j.status ? c->j.status : "?",
                     give_up ? "given up" : "not written yet", c->attempts, err.msg);
    if (easel_store_app_call_end(w->s, c->id, rc ? err.msg : NULL, retry, give_up) != EASEL_OK)
        easel_warn(c->job_id, "could not record the record call: %s (sent again after its "
                   "lease)", easel_store_errstr(w->s));
}

static void send_one(struct easel_credits_sender *w, const struct easel_registry *reg,
                     struct easel_app_call *c)
{
    if (!strcmp(c->kind, "record")) {
        send_record(w, reg, c);
        return;
    }
    const struct easel_credits_cfg *cfg = reg ? &reg->credits : NULL;
    const struct easel_app_stmt *st = NULL;
    if (cfg && cfg->external)
        st = !strcmp(c->kind, "consume") ? &cfg->consume : &cfg->refund;
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc;
    if (!st || !st->sql) {
        rc = easel_error_set(&err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_INVALID_ARGUMENT,
                             "the registry in force has no credits.%s (mode external); the "
                             "call waits for one", c->kind);
    } else {
        struct easel_credits_ctx cc = {.cfg = cfg, .app_url = w->app_url, .app = &w->app};
        rc = easel_credits_call(&cc, st, &c->j, NULL, &err);
    }
    int64_t retry = backoff_ms(c->attempts);
    if (rc == EASEL_OK)
        easel_debug(c->job_id, "credits %s sent (reservation %d, %lld)", c->kind, c->j.budget,
                    (long long)c->j.amount);
    else
        easel_log_kv(EASEL_LOG_WARN, c->job_id,
                     (const char *const[]){"call", c->kind, NULL},
                     "credits %s not accepted (attempt %d, again in %lld ms): %s", c->kind,
                     c->attempts, (long long)retry, err.msg);
    if (easel_store_app_call_done(w->s, c->id, rc ? err.msg : NULL, retry) != EASEL_OK)
        easel_warn(c->job_id, "could not record the credits %s call: %s (sent again after "
                   "its lease)", c->kind, easel_store_errstr(w->s));
}

static void *sender_main(void *arg)
{
    struct easel_credits_sender *w = arg;
    while (!stopping(w)) {
        if (!w->s) {
            struct easel_error err;
            easel_error_clear(&err);
            if (easel_store_open(w->database_url, &w->s, &err) != EASEL_OK ||
                easel_store_app_listen(w->s) != EASEL_OK) {
                easel_store_free(w->s);
                w->s = NULL;
                nap(w, RECONNECT_MS);
                continue;
            }
        }
        struct easel_app_call *calls = NULL;
        size_t n = 0;
        easel_err rc = easel_store_app_claim(w->s, BATCH, LEASE_MS, &calls, &n);
        if (rc) {
            easel_warn(NULL, "credits sender: %s", easel_store_errstr(w->s));
            if (rc == EASEL_ECONN) {
                easel_store_free(w->s);
                w->s = NULL;
            }
            nap(w, RECONNECT_MS);
            continue;
        }
        struct easel_registry *reg = n && w->o.registry ? w->o.registry(w->o.ud) : NULL;
        for (size_t i = 0; i < n && !stopping(w); i++)
            send_one(w, reg, &calls[i]);
        easel_registry_unref(reg);
        easel_store_app_calls_free(calls, n);
        if (n == BATCH)
            continue;
        int64_t due = -1;
        if (easel_store_app_next_due(w->s, &due) != EASEL_OK)
            due = RECONNECT_MS;
        if (due != 0)
            nap(w, due);
    }
    easel_store_free(w->s);
    easel_store_free(w->app);
    w->s = w->app = NULL;
    return NULL;
}

easel_err easel_credits_sender_start(const struct easel_credits_sender_opts *o,
                                     struct easel_credits_sender **out,
                                     struct easel_error *err)
{
    *out = NULL;
    struct easel_credits_sender *w = calloc(1, sizeof(*w));
    if (!w)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                               "credits sender: out of memory");
    w->o = *o;
    w->database_url = easel_strdup(o->database_url);
    w->app_url = easel_strdup(o->app_url);
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    if (!w->database_url || !w->app_url || pipe(w->stop_pipe) != 0 ||
        pthread_create(&w->thread, NULL, sender_main, w) != 0) {
        if (w->stop_pipe[0] >= 0) {
            close(w->stop_pipe[0]);
            close(w->stop_pipe[1]);
        }
        free(w->database_url);
        free(w->app_url);
        free(w);
        return easel_error_set(err, EASEL_EINTERNAL, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                               "credits sender: could not start its thread");
    }
    *out = w;
    return EASEL_OK;
}

void easel_credits_sender_stop(struct easel_credits_sender *w)
{
    if (!w)
        return;
    ssize_t wr = write(w->stop_pipe[1], "x", 1);
    (void)wr;
    pthread_join(w->thread, NULL);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    free(w->database_url);
    free(w->app_url);
    free(w);
}
