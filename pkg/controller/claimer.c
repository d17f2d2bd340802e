/*
 * claimer.c - the controller's claim thread: waits in Redis for new entries
 * (a blocking move, no polling), turns each into a job and hands it to the
 * main loop.
 *
 * Crash safety comes from the order of steps. A claimed entry sits in this
 * controller's in-flight list until it is adopted under a job id, so a crash
 * before adoption puts it back in the queue untouched; after adoption the
 * entry carries its id, so a crash before the Postgres insert re-creates the
 * same job rather than a second one. Entries that cannot be understood go to
 * the dead-letter list with the reason; they never stop the loop.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "controller_int.h"
#include "easel/credits.h"
#include "easel/telemetry.h"

char *ctl_canonical(const char *id, const struct easel_intake *in)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", id);
    if (in->type)
        cJSON_AddStringToObject(o, "type", in->type);
    if (in->model)
        cJSON_AddStringToObject(o, "model", in->model);
    if (in->priority)
        cJSON_AddNumberToObject(o, "priority", in->priority);
    if (in->idempotency_key)
        cJSON_AddStringToObject(o, "idempotency_key", in->idempotency_key);
    if (in->webhook)
        cJSON_AddStringToObject(o, "webhook", in->webhook);
    if (in->webhook_events) {
        cJSON *f = cJSON_AddArrayToObject(o, "webhook_events_filter");
        for (unsigned e = 0; e < EASEL_WEBHOOK_EV_COUNT; e++)
            if (in->webhook_events & EASEL_WEBHOOK_EV_BIT(e))
                cJSON_AddItemToArray(f, cJSON_CreateString(easel_webhook_event_name(e)));
    }
    if (in->metadata)
        cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(in->metadata, 1));
    if (in->traceparent)
        cJSON_AddStringToObject(o, "traceparent", in->traceparent);
    /* the owner, wherever intake found it (the envelope or a payload
     * rule): a job re-created from this entry after a crash is charged
     * to the same owner */
    if (in->channel)
        cJSON_AddStringToObject(o, "channel", in->channel);
    if (in->owner)
        cJSON_AddStringToObject(o, "owner", in->owner);
    cJSON_AddItemToObject(o, "payload",
                          in->payload ? cJSON_Duplicate(in->payload, 1)
                                      : cJSON_CreateObject());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static char *json_text(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : NULL;
}

/* The row for an intake: QUEUED, or DEAD for an unknown model (reject).
 * The JSON texts are the caller's to free (they must outlive the insert).
 * traceparent: the intake span's context, or NULL. */
struct row_texts {
    char *payload, *input, *meta;
    char *record_key;
};

static void job_row(const struct easel_registry *reg, const char *id,
                    const struct easel_intake *in, const struct easel_error *reject,
                    const char *traceparent, struct row_texts *t, struct easel_job_new *j)
{
    t->payload = json_text(in->payload);
    t->input = json_text(in->input);
    t->meta = json_text(in->metadata);
    *j = (struct easel_job_new){
        .id = id,
        .type = in->type,
        .model = in->model ? in->model : "",
        .priority = in->priority,
        .idempotency_key = in->idempotency_key,
        .payload = t->payload ? t->payload : "{}",
        .input = t->input,
        .metadata = t->meta,
        .webhook = in->webhook,
        .webhook_events = in->webhook_events,
        .channel = in->channel,
        .owner = in->owner,
        .max_attempts = easel_registry_chain_attempts(reg, in->model),
        .status = EASEL_STATUS_QUEUED,
        .traceparent = traceparent,
        /* reserved from the owner's credits by the insert (migration 9) */
        .cost = easel_intake_cost(reg, in),
    };
    /* the app's own record of the job, if a rule keeps one */
    const struct easel_record_rule *rr = easel_registry_record_for(reg, in, &t->record_key);
    if (rr) {
        j->record_rule = rr->name;
        j->record_key = t->record_key;
    }
    if (reject) {
        j->status = EASEL_STATUS_DEAD;
        j->error_class = easel_errclass_name(EASEL_CLASS_PERMANENT);
        j->error_reason = reject->reason;
        j->error_message = reject->msg;
    }
}

static void row_texts_free(struct row_texts *t)
{
    free(t->payload);
    free(t->input);
    free(t->meta);
    free(t->record_key);
    memset(t, 0, sizeof(*t));
}

/* A job born dead is reported to Sentry by the insert that made its row,
 * the one place such a job becomes dead. */
static void report_born_dead(const struct easel_job_new *j, bool created)
{
    if (created && j->status == EASEL_STATUS_DEAD)
        easel_sentry_job_dead(j->id, j->model, j->error_reason, j->error_class,
                              j->error_message);
}

easel_err ctl_ensure_job(struct ctl *c, struct easel_store *s,
                         const char *id, const char *canonical)
{
    struct easel_registry *reg = ctl_registry(c);
    struct easel_intake in;
    struct easel_error err;
    bool created = false;
    memset(&in, 0, sizeof(in));
    easel_error_clear(&err);
    easel_err rc = easel_registry_intake(reg, canonical, strlen(canonical),
                                         &in, &err);
    if (rc == EASEL_OK &&
        easel_credits_external(&reg->credits, easel_intake_cost(reg, &in), in.owner)) {
        /* its credits must be reserved in the app first, which the claim
         * thread does, not this loop: the caller gives the entry back */
        rc = EASEL_EAGAIN;
    } else if (rc == EASEL_OK || rc == EASEL_ENOTFOUND) {
        struct row_texts t;
        struct easel_job_new j;
        job_row(reg, id, &in, rc ? &err : NULL, NULL, &t, &j);
        rc = easel_store_job_insert(s, &j, &created);
        if (rc == EASEL_OK)
            report_born_dead(&j, created);
        row_texts_free(&t);
    }
    easel_intake_cleanup(&in);
    easel_registry_unref(reg);
    return rc;
}

struct claimed {
    struct easel_intake in;
    struct easel_error err;
    easel_err rc;                       /* intake verdict */
    char id[EASEL_UUID_LEN + 1];
    char *canonical;
    /* for the batch insert */
    struct easel_span *span;
    char tp[EASEL_TRACEPARENT_LEN + 1];
    struct row_texts texts;
    char credit_msg[300];               /* why the app refused, for the row */
};

/* Passes a claimed job to the main loop. model is set (and copied) when
 * the job was inserted as queued just now. */
static void handoff(struct ctl *c, const char *id, char *canonical,
                    const char *model, int max_attempts)
{
    char *m = model ? easel_strdup(model) : NULL;
    pthread_mutex_lock(&c->mu);
    if (c->nready == c->capready) {
        size_t cap = c->capready ? c->capready * 2 : 64;
        struct handoff *r = realloc(c->ready, cap * sizeof(*r));
        if (!r) {
            pthread_mutex_unlock(&c->mu);
            /* The lease expires and recovery brings it back. */
            easel_error_log(id, "out of memory handing the job over");
            free(canonical);
            free(m);
            return;
        }
        c->ready = r;
        c->capready = cap;
    }
    struct handoff *h = &c->ready[c->nready++];
    easel_strlcpy(h->id, id, sizeof(h->id));
    h->canonical = canonical;
    h->model = m;
    h->max_attempts = m ? max_attempts : 0;
    c->slots_used++;
    pthread_mutex_unlock(&c->mu);
    uint64_t one = 1;
    ssize_t w = write(c->wake_fd, &one, sizeof(one));
    (void)w;
}

/* After a failure on the claim thread's connection that dropped it: opened
 * again, or let go (*sp NULL) for the claim loop to open anew; otherwise
 * every later job would meet the same dead connection. */
static void reopen_if_dropped(struct easel_store **sp, bool dropped)
{
    if (*sp && dropped && easel_store_reconnect(*sp) != EASEL_OK) {
        easel_store_free(*sp);
        *sp = NULL;
    }
}

/* Reserves, in the app, the credits of each new job of the batch whose
 * credits the app keeps (docs/credits.md#external). A job the app refuses
 * is made to be born dead with insufficient_credits; one whose
 * reservation cannot be asked now (either database down) is parked for
 * 2 s and left out. Returns the rows left, compacted with at. */
static size_t reserve_external(struct ctl *c, struct easel_queue *q, struct easel_store **sp,
                               const struct easel_registry *reg, struct claimed *cl,
                               struct easel_job_new *rows, size_t *at, size_t nrows)
{
    size_t kept = 0;
    struct easel_store *s = *sp;
    for (size_t r = 0; r < nrows; r++) {
        struct claimed *k = &cl[at[r]];
        struct easel_job_new *j = &rows[r];
        bool park = false;
        if (k->rc == EASEL_OK && j->status == EASEL_STATUS_QUEUED &&
            easel_credits_external(&reg->credits, j->cost, j->owner)) {
            bool exists = false;
            struct easel_error err;
            easel_error_clear(&err);
            easel_err erc = s ? easel_store_job_exists(s, k->id, &exists) : EASEL_ECONN;
            if (erc) {
                easel_warn(k->id, "cannot look for its record (%s); trying again in 2 s",
                           s ? easel_store_errstr(s) : "no connection to the database");
                park = true;
                reopen_if_dropped(sp, erc == EASEL_ECONN);
                s = *sp;
            } else if (!exists) {
                /* recorded before (by the API) means reserved before */
                struct easel_app_job aj = {.job_id = k->id,
                                           .owner = (char *)j->owner,
                                           .channel = (char *)j->channel,
                                           .model = (char *)j->model,
                                           .amount = j->cost};
                struct easel_credits_ctx cc = {.cfg = &reg->credits,
                                               .app_url = c->o->app_database_url,
                                               .app = &c->claim_app};
                bool ok = false;
                int b = 0;
                if (easel_credits_reserve(s, &cc, &aj, false, &b, &ok, &err) != EASEL_OK) {
                    easel_warn(k->id, "cannot reserve its credits in the app: %s; trying "
                               "again in 2 s", err.msg);
                    park = true;
                    reopen_if_dropped(sp, easel_store_check(s) != EASEL_OK);
                    s = *sp;
                } else {
                    j->credit_budget = b;
                    if (!ok) {
                        char who[300];
                        (void)easel_owner_key(j->channel, j->owner, who, sizeof(who));
                        easel_fmt_cut(k->credit_msg, sizeof(k->credit_msg),
                                      "owner %s cannot cover the %d credits of model %s: the "
                                      "app's credits.reserve returned false", who, j->cost,
                                      j->model);
                        j->status = EASEL_STATUS_DEAD;
                        j->error_class = "permanent";
                        j->error_reason = "insufficient_credits";
                        j->error_message = k->credit_msg;
                    }
                }
            }
        }
        if (park) {
            easel_span_end(k->span);
            k->span = NULL;
            easel_queue_retry(q, k->id, NULL, easel_wall_ms() + 2000);
            continue;
        }
        rows[kept] = rows[r];
        at[kept++] = at[r];
    }
    return kept;
}

/* Runs a claimed batch through intake, adoption, idempotency and insert. */
static void process_batch(struct ctl *c, struct easel_queue *q,
                          struct easel_store **sp,
                          struct easel_queue_entry *e, size_t n)
{
    struct easel_registry *reg = ctl_registry(c);
    struct claimed *cl = calloc(n, sizeof(*cl));
    struct easel_queue_adopt *ad = calloc(n, sizeof(*ad));
    size_t nad = 0;
    if (!cl || !ad)
        goto out; /* entries stay in flight; recovery returns them */

    for (size_t i = 0; i < n; i++) {
        struct claimed *k = &cl[i];
        k->rc = easel_registry_intake(reg, e[i].raw, e[i].len, &k->in, &k->err);
        if (k->rc != EASEL_OK && k->rc != EASEL_ENOTFOUND) {
            easel_log_kv(EASEL_LOG_WARN, NULL,
                         (const char *const[]){"reason", k->err.reason, NULL},
                         "rejected queue entry: %s", k->err.msg);
            easel_metric_add(EASEL_M_REJECTED, (const char *const[]){k->err.reason}, 1);
            if (easel_queue_reject(q, e[i].raw, e[i].len, k->err.reason,
                                   k->err.msg))
                easel_error_log(NULL, "could not dead-letter a rejected entry: %s",
                                easel_queue_errstr(q));
            continue;
        }
        if (k->in.id)
            easel_strlcpy(k->id, k->in.id, sizeof(k->id));
        else
            easel_uuid_v4(k->id);
        k->canonical = ctl_canonical(k->id, &k->in);
        if (!k->canonical)
            continue;
        ad[nad++] = (struct easel_queue_adopt){
            .raw = e[i].raw, .raw_len = e[i].len, .job_id = k->id,
            .canonical = k->canonical};
    }
    if (nad && easel_queue_adopt(q, ad, nad)) {
        easel_error_log(NULL, "adopting %zu entries failed: %s", nad,
                        easel_queue_errstr(q));
        goto out; /* still in flight: recovered after our liveness lapses */
    }

    /* Duplicates are dropped, and the rest recorded in one statement: one
     * commit for the batch, not one per job. */
    struct easel_job_new *rows = calloc(n, sizeof(*rows));
    bool *made = calloc(n, sizeof(*made));
    enum easel_status *born = calloc(n, sizeof(*born));
    size_t *at = calloc(n, sizeof(*at));
    size_t nrows = 0;
    if (!rows || !made || !born || !at) {
        free(rows);
        free(made);
        free(born);
        free(at);
        goto out; /* adopted: the lease lapses and recovery re-creates them */
    }
    for (size_t i = 0; i < n; i++) {
        struct claimed *k = &cl[i];
        if (!k->canonical)
            continue;
        if (k->in.idempotency_key) {
            char existing[EASEL_UUID_LEN + 1] = "";
            if (easel_queue_idempotency(q, k->in.idempotency_key, k->id,
                                        reg->idempotency_window_ms,
                                        existing) == EASEL_OK &&
                existing[0] && strcmp(existing, k->id) != 0) {
                easel_log_kv(EASEL_LOG_INFO, existing,
                             (const char *const[]){"idempotency_key",
                                                   k->in.idempotency_key, NULL},
                             "duplicate submission dropped: the key is already job %s",
                             existing);
                const char *ids[] = {k->id};
                easel_queue_ack(q, ids, 1);
                continue;
            }
        }
        k->span = easel_span_start_tp("easel.intake", EASEL_SPAN_CONSUMER, k->in.traceparent);
        easel_span_str(k->span, "easel.job_id", k->id);
        easel_span_str(k->span, "easel.model", k->in.model);
        job_row(reg, k->id, &k->in, k->rc == EASEL_ENOTFOUND ? &k->err : NULL,
                k->span ? easel_span_traceparent(k->span, k->tp) : NULL, &k->texts,
                &rows[nrows]);
        at[nrows++] = i;
    }
    /* credits the app keeps: each such job is reserved in the app before
     * the batch is recorded; one that cannot be yet waits 2 s */
    nrows = reserve_external(c, q, sp, reg, cl, rows, at, nrows);
    easel_err rc = *sp ? EASEL_OK : EASEL_ECONN;
    if (rc == EASEL_OK && nrows)
        rc = easel_store_jobs_insert(*sp, rows, nrows, made, born);
    if (rc && nrows) {
        /* Postgres is down: park the jobs for a moment rather than lose or
         * spin on them; they come back through the delayed set. */
        easel_error_log(NULL, "cannot record %zu claimed jobs (%s); retrying in 2 s", nrows,
                        *sp ? easel_store_errstr(*sp) : "no connection");
        reopen_if_dropped(sp, rc == EASEL_ECONN);
    }
    for (size_t r = 0; r < nrows; r++) {
        struct claimed *k = &cl[at[r]];
        bool created = rc == EASEL_OK && made[r];
        easel_span_bool(k->span, "easel.created", created);
        easel_span_rc(k->span, rc, "the job could not be recorded");
        if (k->rc == EASEL_ENOTFOUND)
            easel_span_error(k->span, k->err.msg);
        easel_span_end(k->span);
        k->span = NULL;
        if (rc) {
            easel_queue_retry(q, k->id, NULL, easel_wall_ms() + 2000);
            continue;
        }
        if (!created && rows[r].credit_budget > 0 && rows[r].status == EASEL_STATUS_QUEUED) {
            /* not recorded: either it was already (the API's), or a sender
             * fired the armed refund first and the reservation is undone,
             * so it is asked for again under a new number */
            bool exists = true;
            if (easel_store_job_exists(*sp, k->id, &exists) != EASEL_OK || !exists) {
                easel_warn(k->id, "its reservation was undone before it was recorded; "
                           "reserving again in 2 s");
                easel_queue_retry(q, k->id, NULL, easel_wall_ms() + 2000);
                continue;
            }
        }
        report_born_dead(&rows[r], created);
        if (created && k->rc == EASEL_OK && born[r] == EASEL_STATUS_DEAD) {
            /* the owner could not cover the model's cost: the row is dead
             * already (insufficient_credits), and so is the entry */
            char who[300], msg[400];
            (void)easel_owner_key(k->in.channel, k->in.owner, who, sizeof(who));
            easel_fmt_cut(msg, sizeof(msg), "owner %s cannot cover the %d credits of %s", who,
                          rows[r].cost, k->in.model);
            easel_log_kv(EASEL_LOG_WARN, k->id,
                         (const char *const[]){"reason", "insufficient_credits", NULL},
                         "dead-lettered: %s", msg);
            if (easel_queue_dead(q, k->id, k->canonical, "insufficient_credits", msg))
                easel_error_log(k->id, "dead letter failed: %s", easel_queue_errstr(q));
            continue;
        }
        if (k->rc == EASEL_ENOTFOUND) {
            easel_log_kv(EASEL_LOG_WARN, k->id,
                         (const char *const[]){"reason", k->err.reason, NULL},
                         "dead-lettered: %s", k->err.msg);
            if (easel_queue_dead(q, k->id, k->canonical, k->err.reason,
                                 k->err.msg))
                easel_error_log(k->id, "dead letter failed: %s",
                                easel_queue_errstr(q));
            continue;
        }
        if (created)
            easel_debug(k->id, "queued (model %s, rule %s)", k->in.model,
                        k->in.rule ? k->in.rule : "-");
        if (created && easel_registry_runs_on_pool(reg, k->in.model)) {
            /* a warm-pool model: an `easel worker` claims it from Q:pool;
             * it takes no slot here. On failure the lease stays ours and
             * the main loop's recovery routes it again after it lapses. */
            if (easel_queue_pool_put(q, k->id, k->canonical, NULL) != EASEL_OK)
                easel_warn(k->id, "could not hand the job to the warm pool: %s",
                           easel_queue_errstr(q));
            continue;
        }
        handoff(c, k->id, k->canonical, created ? k->in.model : NULL,
                easel_registry_chain_attempts(reg, k->in.model));
        k->canonical = NULL;
    }
    free(rows);
    free(made);
    free(born);
    free(at);
out:
    for (size_t i = 0; cl && i < n; i++) {
        easel_intake_cleanup(&cl[i].in);
        free(cl[i].canonical);
        row_texts_free(&cl[i].texts);
    }
    free(cl);
    free(ad);
    easel_registry_unref(reg);
}

void *ctl_claimer_main(void *arg)
{
    struct ctl *c = arg;
    const struct easel_controller_opts *o = c->o;
    struct easel_queue *q = NULL;
    struct easel_store *s = NULL;
    struct easel_queue_opts qo = {.url = o->redis_url, .name = o->queue,
                                  .controller_id = c->cid,
                                  .lease_ms = o->lease_ms,
                                  .connect_timeout_ms = 2000};
    size_t batch = o->claim_batch ? o->claim_batch : 64;
    struct easel_queue_entry *e = calloc(batch, sizeof(*e));
    int64_t backoff = 100;
    if (!e)
        return NULL;

    for (;;) {
        pthread_mutex_lock(&c->mu);
        /* paused (the API's /worker/stop): claim nothing, run what we hold */
        while (!c->stopping && (c->paused || c->slots_used >= c->concurrency))
            pthread_cond_wait(&c->slot_cv, &c->mu);
        size_t room = c->stopping ? 0 : (size_t)(c->concurrency - c->slots_used);
        pthread_mutex_unlock(&c->mu);
        if (room == 0)
            break;
        if (room > batch)
            room = batch;

        if (!q) {
            size_t back = 0;
            if (easel_queue_open(&qo, &q, NULL) != EASEL_OK ||
                easel_queue_release_inflight(q, &back) != EASEL_OK) {
                easel_queue_free(q);
                q = NULL;
                easel_sleep_ms(backoff);
                backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
                continue;
            }
            /* Entries claimed before a dropped connection and never
             * adopted: back to the front of the queue, in order. */
            if (back)
                easel_warn(NULL, "returned %zu unadopted entries to the queue", back);
        }
        if (!s && easel_store_open(o->database_url, &s, NULL) != EASEL_OK)
            s = NULL; /* process_batch parks jobs until it comes back */

        size_t n = 0;
        easel_err rc = easel_queue_claim(q, room, 1000, e, &n);
        if (rc) {
            easel_warn(NULL, "claim failed: %s; reconnecting",
                       easel_queue_errstr(q));
            easel_queue_entries_free(e, n);
            easel_queue_free(q);
            q = NULL;
            easel_sleep_ms(backoff);
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
            continue;
        }
        backoff = 100;
        pthread_mutex_lock(&c->mu);
        bool paused = c->paused;
        pthread_mutex_unlock(&c->mu);
        if (n && paused) {
            /* paused while this claim waited in Redis: the entries go back
             * to the front of the queue, for a replica that is claiming */
            size_t back = 0;
            if (easel_queue_release_inflight(q, &back) != EASEL_OK)
                easel_warn(NULL, "could not give back %zu entries claimed while pausing: %s",
                           n, easel_queue_errstr(q));
            easel_queue_entries_free(e, n);
            continue;
        }
        if (n)
            process_batch(c, q, &s, e, n);
        easel_queue_entries_free(e, n);
    }
    free(e);
    easel_queue_free(q);
    easel_store_free(s);
    easel_store_free(c->claim_app);
    c->claim_app = NULL;
    return NULL;
}
