/*
 * tracker.c - the main loop's table of jobs this controller holds a lease
 * on, and the decisions that move each one forward: dispatch when a slot is
 * free, reconcile when an attempt ends, watch attempts that run elsewhere,
 * and finish the Redis bookkeeping (ack, retry later, dead letter).
 *
 * Postgres is the truth: every decision starts from the job row, and the
 * Redis step that follows is idempotent, so a step interrupted by a crash or
 * a dead connection is simply done again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller_int.h"
#include "easel/telemetry.h"
#include "easel/worker.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

struct tracked *ctl_find(struct ctl *c, const char *id)
{
    for (size_t i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].id, id) == 0)
            return &c->jobs[i];
    return NULL;
}

size_t ctl_count_state(struct ctl *c, enum tstate st)
{
    size_t n = 0;
    for (size_t i = 0; i < c->njobs; i++)
        n += c->jobs[i].state == st;
    return n;
}

void ctl_slots_release(struct ctl *c, int n)
{
    pthread_mutex_lock(&c->mu);
    c->slots_used -= n;
    if (c->slots_used < 0)
        c->slots_used = 0;
    pthread_cond_signal(&c->slot_cv);
    pthread_mutex_unlock(&c->mu);
}

easel_err ctl_track(struct ctl *c, const char *id, const char *canonical)
{
    struct tracked *t = ctl_find(c, id);
    if (t) {
        /* Delivered twice (a replay): one lease, one table entry. */
        t->dirty = true;
        ctl_slots_release(c, 1);
        return EASEL_OK;
    }
    if (c->njobs == c->capjobs) {
        size_t cap = c->capjobs ? c->capjobs * 2 : 64;
        struct tracked *j = realloc(c->jobs, cap * sizeof(*j));
        if (!j)
            return EASEL_ENOMEM;
        c->jobs = j;
        c->capjobs = cap;
    }
    t = &c->jobs[c->njobs];
    memset(t, 0, sizeof(*t));
    easel_strlcpy(t->id, id, sizeof(t->id));
    t->canonical = easel_strdup(canonical);
    if (canonical && !t->canonical)
        return EASEL_ENOMEM;
    t->state = T_NEW;
    c->njobs++;
    return EASEL_OK;
}

easel_err ctl_track_fresh(struct ctl *c, const char *id, const char *canonical,
                          const char *model, int max_attempts)
{
    size_t before = c->njobs;
    easel_err rc = ctl_track(c, id, canonical);
    if (rc || c->njobs == before)
        return rc; /* a replay: decide() reads the row */
    struct tracked *t = &c->jobs[c->njobs - 1];
    t->model = easel_strdup(model);
    t->fresh_max_attempts = t->model && max_attempts > 0 ? max_attempts : 0;
    return EASEL_OK;
}

easel_err ctl_track_recovered(struct ctl *c, const char *id, const char *canonical)
{
    size_t before = c->njobs;
    easel_err rc = ctl_track(c, id, canonical);
    if (rc == EASEL_OK && c->njobs > before)
        c->jobs[c->njobs - 1].recovered = true;
    return rc;
}

/* Gives back the job's concurrency slot, if it holds one. A failure only
 * delays the slot's return until its hold runs out. */
static void release_slot(struct ctl *c, struct tracked *t)
{
    if (!t->slot_model)
        return;
    if (easel_queue_slot_release(c->q, t->slot_model, t->id) != EASEL_OK)
        easel_warn(t->id, "could not give back its %s slot: %s (it lapses on its own)",
                   t->slot_model, easel_queue_errstr(c->q));
    free(t->slot_model);
    t->slot_model = NULL;
}

/* A job that settles gives back any concurrency place held in its name,
 * whoever took it: a job taken over from a dead controller holds a place
 * that controller took. Every model its chain may run is checked. */
static void release_chain_slots(struct ctl *c, struct tracked *t, const struct easel_job *j)
{
    struct easel_registry *reg = ctl_registry(c);
    const struct easel_model *m = easel_registry_model(reg, j->model);
    for (size_t i = 0; m && i <= m->nfallback; i++) {
        const struct easel_model *x =
            i == 0 ? m : easel_registry_model(reg, m->fallback[i - 1]);
        if (x && x->concurrency > 0 &&
            (!t->slot_model || strcmp(t->slot_model, x->id) != 0) &&
            easel_queue_slot_release(c->q, x->id, t->id) != EASEL_OK)
            easel_warn(t->id, "could not give back its %s place: %s (it lapses on its own)",
                       x->id, easel_queue_errstr(c->q));
    }
    easel_registry_unref(reg);
}

static void untrack(struct ctl *c, struct tracked *t)
{
    release_slot(c, t);
    free(t->canonical);
    free(t->model);
    bool held = !t->no_slot;
    size_t i = (size_t)(t - c->jobs);
    c->jobs[i] = c->jobs[--c->njobs];
    if (held)
        ctl_slots_release(c, 1);
}

static bool store_ok(struct ctl *c, easel_err rc)
{
    if (rc == EASEL_ECONN) {
        if (!c->store_down)
            easel_error_log(NULL, "database connection lost: %s",
                            easel_store_errstr(c->s));
        c->store_down = true;
        return false;
    }
    return true;
}

static bool queue_ok(struct ctl *c, easel_err rc)
{
    if (rc == EASEL_ECONN) {
        if (!c->queue_down)
            easel_error_log(NULL, "redis connection lost: %s",
                            easel_queue_errstr(c->q));
        c->queue_down = true;
        return false;
    }
    return true;
}

/* Redis side of a decided outcome. Returns true when done. */
static bool settle(struct ctl *c, struct tracked *t, const struct easel_job *j)
{
    easel_err rc = EASEL_OK;
    const char *ids[] = {t->id};
    if (c->o->executor->ops->report)
        c->o->executor->ops->report(c->o->executor, j);
    switch (j->status) {
    case EASEL_STATUS_SUCCEEDED:
    case EASEL_STATUS_CANCELED:
        rc = easel_queue_ack(c->q, ids, 1);
        break;
    case EASEL_STATUS_FAILED:
    case EASEL_STATUS_DEAD:
        rc = easel_queue_dead(c->q, t->id, t->canonical,
                              j->error_reason ? j->error_reason : "failed",
                              j->error_message ? j->error_message : "");
        break;
    case EASEL_STATUS_RETRYING:
        rc = easel_queue_retry(c->q, t->id, t->canonical,
                               j->run_after_ms ? j->run_after_ms
                                               : easel_wall_ms());
        break;
    case EASEL_STATUS_QUEUED:
        /* Re-queued by hand while we held it: let it go round again. */
        rc = easel_queue_retry(c->q, t->id, t->canonical, easel_wall_ms());
        break;
    default:
        return false;
    }
    if (rc) {
        queue_ok(c, rc);
        easel_warn(t->id, "could not settle %s in redis: %s (will retry)",
                   easel_status_name(j->status), easel_queue_errstr(c->q));
        t->state = T_FINALIZE;
        return false;
    }
    easel_log_kv(EASEL_LOG_INFO, t->id,
                 (const char *const[]){"status", easel_status_name(j->status),
                                       "model", j->model, NULL},
                 "job %s", easel_status_name(j->status));
    release_chain_slots(c, t, j);
    untrack(c, t);
    return true;
}

/* The model and its attempt timeout (120 s for a model the registry no
 * longer has). Retry policies come from easel_failure_plan. */
static const struct easel_model *model_of(const struct easel_registry *r,
                                          const char *id, int64_t *timeout_ms)
{
    const struct easel_model *m = id ? easel_registry_model(r, id) : NULL;
    if (timeout_ms)
        *timeout_ms = m ? m->timeout_ms : 120000;
    return m;
}

static size_t running_of_model(struct ctl *c, const char *model)
{
    size_t n = 0;
    for (size_t i = 0; i < c->njobs; i++)
        if ((c->jobs[i].state == T_RUNNING) && c->jobs[i].model &&
            strcmp(c->jobs[i].model, model) == 0)
            n++;
    return n;
}

/* Records a failed attempt the worker could not record itself, then
 * settles it. */
static void fail_attempt(struct ctl *c, struct tracked *t,
                         const struct easel_job *j, const struct easel_error *e)
{
    struct easel_registry *reg = ctl_registry(c);
    struct easel_failure_plan plan;
    easel_failure_plan(reg, j->model, j->attempts, &plan);
    struct easel_job *after = NULL;
    easel_err rc = easel_record_failure(c->s, t->id, B(DISPATCHED) | B(RUNNING), &plan,
                                        j->attempts, e, &after);
    easel_registry_unref(reg); /* after the plan, which points into it */
    if (rc == EASEL_OK) {
        settle(c, t, after);
    } else if (rc == EASEL_ECONFLICT) {
        t->dirty = true; /* it moved meanwhile (finished, canceled): look again */
        t->state = T_NEW;
    } else {
        store_ok(c, rc);
        t->state = T_FINALIZE; /* try again on the next pass */
    }
    easel_job_free(after);
}

/* May the attempt's model take one more run now? Its concurrency and rate
 * limit hold across every controller replica (Redis); with Redis away the
 * concurrency falls back to this controller's own count. */
static bool gate_open(struct ctl *c, struct tracked *t, const struct easel_model *am)
{
    if (am->concurrency > 0) {
        bool ok = true;
        easel_err rc = easel_queue_slot_take(c->q, am->id, am->concurrency, t->id,
                                             easel_model_slot_hold_ms(am),
                                             &ok);
        if (rc) {
            queue_ok(c, rc);
            ok = running_of_model(c, am->id) < (size_t)am->concurrency;
        } else if (ok && !t->slot_model) {
            t->slot_model = easel_strdup(am->id);
        }
        if (!ok) {
            if (t->state != T_WAIT_SLOT) /* once per wait, not per look */
                easel_metric_add(EASEL_M_GATE_WAITS,
                                 (const char *const[]){am->id, "concurrency"}, 1);
            return false;
        }
    }
    if (am->rate_requests > 0) {
        bool ok = true;
        int64_t wait = 0;
        if (easel_queue_rate_take(c->q, am->id, am->rate_requests, am->rate_per_ms, t->id, &ok,
                                  &wait) == EASEL_OK &&
            !ok) {
            release_slot(c, t);
            t->gate_until = easel_now_ms() + wait;
            easel_metric_add(EASEL_M_GATE_WAITS, (const char *const[]){am->id, "rate"}, 1);
            easel_debug(t->id, "model %s is at its rate limit; dispatch in %lld ms", am->id,
                        (long long)wait);
            return false;
        }
    }
    return true;
}

/* Hands a runnable job of a warm-pool model to Q:pool and forgets it. A
 * lease no longer ours (taken over meanwhile) is someone else's to route. */
static void route_pool(struct ctl *c, struct tracked *t)
{
    bool put = false;
    easel_err rc = t->canonical ? easel_queue_pool_put(c->q, t->id, t->canonical, &put)
                                : EASEL_EINVAL;
    if (rc) {
        queue_ok(c, rc);
        easel_warn(t->id, "could not hand the job to the warm pool: %s (will retry)",
                   easel_queue_errstr(c->q));
        t->state = T_NEW;
        t->dirty = true;
        return;
    }
    easel_debug(t->id, "%s the warm pool", put ? "handed to" : "lease lost before handing it to");
    release_slot(c, t);
    untrack(c, t);
}

/* The dispatch span, a child of the job's stored trace context (so a
 * restarted controller joins the same trace), or NULL with tracing off. */
static struct easel_span *dispatch_span(struct ctl *c, const struct easel_job *j)
{
    char tp[EASEL_TRACEPARENT_LEN + 8] = "";
    if (!easel_trace_enabled())
        return NULL;
    (void)easel_store_job_traceparent(c->s, j->id, tp, sizeof(tp));
    struct easel_span *s = easel_span_start_tp("easel.dispatch", EASEL_SPAN_PRODUCER, tp);
    easel_span_str(s, "easel.job_id", j->id);
    easel_span_str(s, "easel.model", j->model);
    easel_span_int(s, "easel.attempt", j->attempts);
    easel_span_str(s, "easel.executor", c->o->executor->ops->name);
    return s;
}

static void dispatch(struct ctl *c, struct tracked *t, struct easel_job *j)
{
    struct easel_registry *reg = ctl_registry(c);
    int64_t timeout_ms;
    const struct easel_model *m = model_of(reg, j->model, &timeout_ms);
    /* the model this attempt runs: the job's, or a fallback's (failover) */
    const struct easel_model *am =
        easel_registry_chain_model(reg, j->model, j->attempts + 1, NULL, NULL);
    if (!am)
        am = m;
    if (am && am->executor == EASEL_MODEL_EXEC_POOL) {
        /* the warm pool runs it: `easel worker` claims it from Q:pool with
         * its own lease, gates and record (pkg/pool) */
        easel_registry_unref(reg);
        route_pool(c, t);
        return;
    }
    if (t->gate_until && easel_now_ms() < t->gate_until) {
        easel_registry_unref(reg);
        t->state = T_WAIT_SLOT;
        return;
    }
    t->gate_until = 0;
    if (am && !gate_open(c, t, am)) {
        easel_registry_unref(reg);
        if (!t->model)
            t->model = easel_strdup(j->model);
        t->state = T_WAIT_SLOT;
        return;
    }
    easel_registry_unref(reg);

    char msg[200], worker[128];
    easel_worker_dispatch_mark(c->o->executor->ops->name, c->host, worker, sizeof(worker));
    /* the record's message is for people: a long controller id is cut */
    easel_fmt_cut(msg, sizeof(msg), "attempt %d of %d dispatched to the %s executor by %s",
                  j->attempts + 1, j->max_attempts, c->o->executor->ops->name, c->cid);
    struct easel_transition tr = {.reason = "Dispatched", .message = msg,
                                  .count_attempt = true, .worker = worker};
    struct easel_job *after = NULL;
    easel_err rc = easel_store_job_transition(
        c->s, t->id, B(QUEUED) | B(RETRYING), EASEL_STATUS_DISPATCHED, &tr,
        &after);
    if (rc == EASEL_ECONFLICT) {
        t->state = T_NEW;
        t->dirty = true;
        return;
    }
    if (rc) {
        store_ok(c, rc);
        t->state = T_NEW;
        return;
    }
    reg = ctl_registry(c);
    /* a failed-over attempt runs another model, with that model's timeout */
    const struct easel_model *run =
        easel_registry_chain_model(reg, after->model, after->attempts, NULL, NULL);
    if (run && run->timeout_ms > 0)
        timeout_ms = run->timeout_ms;
    char tp[EASEL_TRACEPARENT_LEN + 1];
    struct easel_span *span = dispatch_span(c, after);
    struct easel_exec_spec spec = {.job_id = t->id, .attempt = after->attempts,
                                   .model = after->model,
                                   .timeout_ms = timeout_ms, .registry = reg,
                                   .traceparent = span ? easel_span_traceparent(span, tp) : NULL};
    struct easel_error err;
    easel_error_clear(&err);
    free(t->model);
    t->model = easel_strdup(after->model);
    t->attempt = after->attempts;
    rc = c->o->executor->ops->start(c->o->executor, &spec, &err);
    easel_span_rc(span, rc, err.msg);
    easel_span_end(span);
    easel_registry_unref(reg);
    if (rc) {
        easel_error_log(t->id, "could not start attempt %d: %s", t->attempt,
                        err.msg);
        fail_attempt(c, t, after, &err);
    } else {
        t->state = T_RUNNING;
        easel_debug(t->id, "attempt %d started", t->attempt);
    }
    easel_job_free(after);
}

/* Is the worker named in the record provably gone? Only the executor that
 * started it can tell (a local process on this host); otherwise the
 * heartbeat decides. */
static bool worker_gone(struct ctl *c, const struct easel_job *j)
{
    struct easel_executor *ex = c->o->executor;
    return j->worker && ex->ops->gone && ex->ops->gone(ex, j->worker) == EASEL_GONE_YES;
}

static void kill_worker(struct ctl *c, const struct easel_job *j)
{
    struct easel_executor *ex = c->o->executor;
    if (j->worker && ex->ops->kill)
        ex->ops->kill(ex, j->worker);
}

/* A job taken over from an expired lease that needs a new attempt runs
 * here only if it fits in this controller's concurrency; otherwise it goes
 * to the head of the queue, where the next free slot of any controller
 * claims it before new work. The same holds for a re-attached attempt
 * (which holds no slot) that turns out to need a new one. Returns true when
 * the job left the table (t is then gone) or must wait for Redis. */
static bool requeue_unfitting(struct ctl *c, struct tracked *t)
{
    if (!t->recovered && !t->no_slot)
        return false;
    pthread_mutex_lock(&c->mu);
    bool over;
    if (t->no_slot) {
        over = c->slots_used >= c->concurrency;
        if (!over)
            c->slots_used++; /* it takes a slot to run here */
    } else {
        over = c->slots_used > c->concurrency;
    }
    pthread_mutex_unlock(&c->mu);
    if (!over) {
        t->recovered = t->no_slot = false;
        return false;
    }
    easel_err rc = easel_queue_requeue(c->q, t->id, t->canonical);
    if (rc == EASEL_ECONN) {
        queue_ok(c, rc);
        return true; /* decided again once Redis is back */
    }
    t->recovered = false;
    if (rc) {
        easel_warn(t->id, "could not put the taken-over job back at the head of the queue (%s); running it here",
                   easel_queue_errstr(c->q));
        return false;
    }
    easel_info(t->id, "no free slot for the taken-over job: back at the head of the queue, ahead of new work");
    untrack(c, t);
    return true;
}

/* Looks at one job's row and moves it on. */
static void decide(struct ctl *c, struct tracked *t)
{
    struct easel_job *j = NULL;
    t->dirty = false;
    easel_err rc = easel_store_job_get(c->s, t->id, &j);
    if (rc == EASEL_ENOTFOUND && t->canonical) {
        /* Adopted but never recorded (crash in between): record it now. */
        rc = ctl_ensure_job(c, c->s, t->id, t->canonical);
        if (rc == EASEL_EAGAIN) {
            /* credits the app keeps: back to the queue, whose claimer
             * reserves them before recording the job */
            rc = easel_queue_requeue(c->q, t->id, t->canonical);
            if (rc == EASEL_OK) {
                easel_info(t->id, "adopted but never recorded: back to the queue, to reserve "
                           "its credits in the app");
                untrack(c, t);
            } else {
                queue_ok(c, rc);
            }
            return;
        }
        if (rc == EASEL_OK)
            rc = easel_store_job_get(c->s, t->id, &j);
    }
    if (rc) {
        store_ok(c, rc);
        if (rc != EASEL_ECONN)
            easel_error_log(t->id, "cannot load the job: %s",
                            easel_store_errstr(c->s));
        return;
    }
    if (!t->model)
        t->model = easel_strdup(j->model);

    switch (j->status) {
    case EASEL_STATUS_QUEUED:
        if (t->state != T_RUNNING && !requeue_unfitting(c, t))
            dispatch(c, t, j);
        break;
    case EASEL_STATUS_RETRYING:
        if (t->state == T_RUNNING)
            break; /* our worker recorded it; settle when it exits */
        if (j->run_after_ms > easel_wall_ms() + 20)
            settle(c, t, j); /* wait in the delayed set, not here */
        else if (!requeue_unfitting(c, t))
            dispatch(c, t, j);
        break;
    case EASEL_STATUS_DISPATCHED:
    case EASEL_STATUS_RUNNING:
        if (t->recovered) {
            /* An attempt of a dead controller, re-attached: it runs on that
             * controller's capacity, so watching it takes no slot of ours
             * and new work is not held back by it. */
            t->recovered = false;
            t->no_slot = true;
            ctl_slots_release(c, 1);
        }
        if (t->state == T_RUNNING)
            break; /* ours: the executor tells us when it ends */
        if (t->state == T_FINALIZE) {
            /* Our worker exited without a verdict and the database was
             * away when we noticed: record it now. */
            struct easel_error e;
            easel_error_clear(&e);
            easel_error_set(&e, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE,
                            EASEL_R_WORKER_FAILED,
                            "the worker of attempt %d exited before recording a result",
                            j->attempts);
            fail_attempt(c, t, j, &e);
            break;
        }
        /* Recovered: an attempt started by someone else (or by us before a
         * restart). Watch it; declare it lost only on evidence. */
        if (t->state != T_ATTACHED) {
            struct easel_registry *reg = ctl_registry(c);
            int64_t timeout_ms;
            model_of(reg, j->model, &timeout_ms);
            easel_registry_unref(reg);
            int64_t base = j->started_ms ? j->started_ms : j->dispatched_ms;
            t->deadline_wall_ms = (base ? base : easel_wall_ms()) + timeout_ms;
            t->attempt = j->attempts;
            t->state = T_ATTACHED;
            easel_info(t->id, "re-attached to attempt %d (%s, worker %s)",
                       j->attempts, easel_status_name(j->status),
                       j->worker ? j->worker : "-");
        }
        /* An executor that can see the attempt (a Job in the cluster) takes
         * it over and reports how it ends. */
        if (c->o->executor->ops->adopt &&
            c->o->executor->ops->adopt(c->o->executor, t->id, j->attempts) == 1) {
            t->state = T_RUNNING;
            easel_info(t->id, "adopted running attempt %d from the %s executor",
                       j->attempts, c->o->executor->ops->name);
            break;
        }
        {
            int64_t now = easel_wall_ms();
            int64_t seen = j->heartbeat_ms ? j->heartbeat_ms
                         : j->started_ms   ? j->started_ms
                                           : j->dispatched_ms;
            struct easel_error e;
            easel_error_clear(&e);
            if (now > t->deadline_wall_ms) {
                kill_worker(c, j);
                easel_error_set(&e, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE,
                                EASEL_R_TIMEOUT,
                                "attempt %d exceeded its timeout and was stopped",
                                j->attempts);
                fail_attempt(c, t, j, &e);
            } else if (worker_gone(c, j) ||
                       (seen && now - seen > c->o->worker_stale_ms)) {
                easel_error_set(&e, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE,
                                EASEL_R_WORKER_LOST,
                                "the worker of attempt %d (%s) stopped without recording a result",
                                j->attempts, j->worker ? j->worker : "unknown");
                fail_attempt(c, t, j, &e);
            }
        }
        break;
    default: /* terminal */
        if (t->state == T_RUNNING && c->o->executor->ops->has(c->o->executor, t->id)) {
            /* Canceled while our attempt runs: stop it; settle on exit. */
            if (j->status == EASEL_STATUS_CANCELED)
                c->o->executor->ops->cancel(c->o->executor, t->id);
            break;
        }
        if (t->state == T_ATTACHED && j->status == EASEL_STATUS_CANCELED)
            kill_worker(c, j);
        settle(c, t, j);
        break;
    }
    easel_job_free(j);
}

void ctl_step(struct ctl *c)
{
    if (c->store_down) {
        if (easel_store_reconnect(c->s) != EASEL_OK)
            return;
        easel_info(NULL, "database connection restored");
        c->store_down = false;
        easel_store_listen(c->s);
    }
    if (c->queue_down) {
        if (easel_queue_reconnect(c->q) != EASEL_OK)
            return;
        easel_info(NULL, "redis connection restored");
        c->queue_down = false;
    }
    int64_t now = easel_now_ms();
    bool periodic = now >= c->next_check_ms;
    if (periodic)
        c->next_check_ms = now + 500;
    /* Iterate over a snapshot of ids: decide() may remove entries. */
    for (size_t i = 0; i < c->njobs && !c->store_down && !c->queue_down;) {
        struct tracked *t = &c->jobs[i];
        size_t before = c->njobs;
        if (t->state == T_NEW && t->fresh_max_attempts > 0 && !t->dirty) {
            /* Inserted as queued a moment ago: dispatch without reading the
             * row back. The transition checks the status in the database,
             * so a cancel in between turns into a conflict, and a conflict
             * sends the job through decide() as usual. */
            struct easel_job j = {.model = t->model, .status = EASEL_STATUS_QUEUED,
                                  .max_attempts = t->fresh_max_attempts};
            easel_strlcpy(j.id, t->id, sizeof(j.id));
            t->fresh_max_attempts = 0;
            dispatch(c, t, &j);
            if (c->njobs == before)
                i++;
            continue;
        }
        bool look = t->state == T_NEW || t->state == T_FINALIZE || t->dirty ||
                    (periodic && (t->state == T_ATTACHED || t->state == T_WAIT_SLOT));
        if (look)
            decide(c, t);
        if (c->njobs == before)
            i++;
    }
}

void ctl_on_done(struct ctl *c, const struct easel_exec_done *d)
{
    struct tracked *t = ctl_find(c, d->job_id);
    if (!t)
        return;
    struct easel_job *j = NULL;
    easel_err rc = easel_store_job_get(c->s, t->id, &j);
    if (rc) {
        store_ok(c, rc);
        t->state = T_FINALIZE; /* look again once the database is back */
        return;
    }
    t->state = T_FINALIZE;
    if (j->status == EASEL_STATUS_DISPATCHED || j->status == EASEL_STATUS_RUNNING) {
        /* The worker ended without recording an outcome. */
        struct easel_error e;
        easel_error_clear(&e);
        switch (d->reason != EASEL_R_NONE ? EASEL_EXEC_LOST + 1 : (int)d->outcome) {
        case EASEL_EXEC_LOST + 1:
            /* the executor knows what happened (OOMKilled, evicted, ...) */
            easel_error_set(&e, d->outcome == EASEL_EXEC_TIMEOUT ? EASEL_ETIMEOUT
                                                                 : EASEL_EAGAIN,
                            EASEL_CLASS_RETRYABLE, d->reason, "%s", d->message);
            break;
        case EASEL_EXEC_TIMEOUT:
            easel_error_set(&e, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE, EASEL_R_TIMEOUT,
                            "%s", d->message);
            break;
        case EASEL_EXEC_SIGNALED:
            easel_error_set(&e, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE,
                            EASEL_R_WORKER_CRASHED, "%s (out of memory?)", d->message);
            break;
        default:
            easel_error_set(&e, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE,
                            EASEL_R_WORKER_FAILED,
                            "%s before recording a result", d->message);
            break;
        }
        easel_warn(t->id, "attempt %d ended without a result: %s", d->attempt,
                   e.msg);
        fail_attempt(c, t, j, &e);
    } else {
        decide(c, t);
    }
    easel_job_free(j);
}

void ctl_on_notify(struct ctl *c, const char *id, enum easel_status st)
{
    struct tracked *t = ctl_find(c, id);
    if (!t)
        return;
    /* Our own workers' progress is seen through the executor; what matters
     * here is cancellation and attempts running elsewhere. */
    if (st == EASEL_STATUS_CANCELED || t->state == T_ATTACHED ||
        t->state == T_WAIT_SLOT)
        t->dirty = true;
}

void ctl_release_unstarted(struct ctl *c)
{
    for (size_t i = 0; i < c->njobs;) {
        struct tracked *t = &c->jobs[i];
        if (t->state == T_NEW || t->state == T_WAIT_SLOT) {
            /* Still QUEUED/RETRYING in the record: back to the queue now so
             * another controller need not wait for the lease to lapse. */
            if (easel_queue_retry(c->q, t->id, t->canonical, easel_wall_ms()) ==
                EASEL_OK) {
                untrack(c, t);
                continue;
            }
        }
        i++;
    }
}
