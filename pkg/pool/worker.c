/*
 * worker.c - `easel worker`, the warm pool: slot threads that claim jobs
 * from Q:pool and run their attempts in-process, back to back, and one
 * keeper thread that renews their leases, beats their heartbeats, enforces
 * their timeouts and the drain deadline, and reloads the registry.
 *
 * Every decision starts from the job's row, as in the controller's tracker
 * (pkg/controller/tracker.c), and the Redis step after it is idempotent:
 * a runnable job is gated and dispatched (QUEUED|RETRYING -> DISPATCHED),
 * the runner moves it to RUNNING and to its outcome, and the outcome is
 * settled in Redis (ack, retry later, dead letter). Anything this worker
 * should not run (an attempt running elsewhere, a model the registry no
 * longer sends to the pool, a job without a row) goes back to the head of
 * the pending list, where the controller decides.
 *
 * Why in-process: an attempt of a no-op or post-processing model costs a
 * few milliseconds; a process per attempt (fork, exec, libvips start-up, a
 * Postgres connection, a heartbeat thread) costs more than the work. Here
 * each slot keeps its Redis and Postgres connections and the registry, and
 * the keeper beats every running attempt's heartbeat on one connection.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "easel/pool.h"
#include "easel/queue.h"
#include "easel/registry.h"
#include "easel/store.h"
#include "easel/worker.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)
#define POOL_ID_MAX 200

static volatile sig_atomic_t pool_stop;

void easel_pool_request_stop(void)
{
    pool_stop = 1;
}

struct pool;

struct slot {
    struct pool *p;
    int index;
    pthread_t thread;
    bool started;
    struct easel_queue *q;
    struct easel_store *s;
    char name[EASEL_WORKER_ID_MAX]; /* pool:<id>.<index>@<host> */
    /* under p->mu: the job this slot holds a lease on, and its attempt */
    char job[EASEL_UUID_LEN + 1];
    bool running;
    int64_t deadline_ms;            /* mono: the attempt's timeout */
    int64_t next_beat_ms;
    enum easel_reason why;          /* set with stop: timeout or terminated */
    volatile sig_atomic_t stop;     /* read by the runner */
    /* this thread's fresh_models() of fresh_reg (a ref it holds), worked
     * out again only when a reload replaced the registry */
    struct easel_registry *fresh_reg;
    char *fresh;
};

struct pool {
    const struct easel_pool_opts *o;
    char id[POOL_ID_MAX + 1];
    char host[64];
    pthread_mutex_t mu;
    struct easel_registry *reg;    /* one ref; swapped on reload */
    time_t reg_mtime;
    struct slot *slots;
    int nslots;
    bool draining;
    int64_t drain_deadline_ms;
    int64_t alive_ms;              /* keeper's last turn (mono) */
    bool redis_ok, db_ok;
};

static struct easel_registry *pool_registry(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct easel_registry *r = easel_registry_ref(p->reg);
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* ----------------------------------------------------------- settling */

/* The Redis side of a decided outcome, as the controller's settle(). */
static easel_err settle(struct slot *sl, const char *id, const char *entry,
                        const struct easel_job *j)
{
    const char *ids[] = {id};
    switch (j->status) {
    case EASEL_STATUS_SUCCEEDED:
    case EASEL_STATUS_CANCELED:
        return easel_queue_ack(sl->q, ids, 1);
    case EASEL_STATUS_FAILED:
    case EASEL_STATUS_DEAD:
        return easel_queue_dead(sl->q, id, entry, j->error_reason ? j->error_reason : "failed",
                                j->error_message ? j->error_message : "");
    case EASEL_STATUS_RETRYING:
        return easel_queue_retry(sl->q, id, entry,
                                 j->run_after_ms ? j->run_after_ms : easel_wall_ms());
    case EASEL_STATUS_QUEUED:
        return easel_queue_retry(sl->q, id, entry, easel_wall_ms());
    default:
        return EASEL_EINVAL;
    }
}

/* Gives back every concurrency place held in the job's name along its
 * chain (a slot may have been taken by a failover model in the runner). */
static void release_places(struct slot *sl, const struct easel_registry *reg, const char *model,
                           const char *id)
{
    const struct easel_model *m = easel_registry_model(reg, model);
    for (size_t i = 0; m && i <= m->nfallback; i++) {
        const struct easel_model *x = i == 0 ? m : easel_registry_model(reg, m->fallback[i - 1]);
        if (x && x->concurrency > 0 && easel_queue_slot_release(sl->q, x->id, id) != EASEL_OK)
            easel_warn(id, "could not give back its %s place: %s (it lapses on its own)", x->id,
                       easel_queue_errstr(sl->q));
    }
}

/* Not for this worker: back to the head of the pending list, where the
 * controller takes it in again and decides (it watches an attempt running
 * elsewhere, dispatches a model that left the pool). */
static void hand_back(struct slot *sl, const char *id, const char *entry, const char *why)
{
    easel_info(id, "handed back to the controller: %s", why);
    if (easel_queue_requeue(sl->q, id, entry) != EASEL_OK)
        easel_warn(id, "could not hand the job back: %s (its lease lapses and the controller "
                   "takes it over)", easel_queue_errstr(sl->q));
}

/* ------------------------------------------------------------- gates */

/* May an attempt of model am start now? As the controller's gate_open:
 * the model's concurrency and rate limit, shared through Redis by every
 * controller and worker. *wait_ms says how long to stay away when not. */
static bool gate_open(struct slot *sl, const struct easel_model *am, const char *id,
                      int64_t *wait_ms)
{
    *wait_ms = 0;
    if (am->concurrency > 0) {
        bool ok = true;
        if (easel_queue_slot_take(sl->q, am->id, am->concurrency, id,
                                  easel_model_slot_hold_ms(am), &ok) != EASEL_OK)
            ok = false; /* Redis trouble: do not run past a limit we cannot see */
        if (!ok) {
            *wait_ms = 100;
            return false;
        }
    }
    if (am->rate_requests > 0) {
        bool ok = true;
        int64_t wait = 0;
        if (easel_queue_rate_take(sl->q, am->id, am->rate_requests, am->rate_per_ms, id, &ok,
                                  &wait) == EASEL_OK &&
            !ok) {
            if (am->concurrency > 0)
                easel_queue_slot_release(sl->q, am->id, id);
            *wait_ms = wait;
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ attempts */

/* How often the keeper beats a running attempt's heartbeat. */
static int64_t beat_every_ms(const struct pool *p)
{
    return p->o->run.heartbeat_ms > 0 ? p->o->run.heartbeat_ms : 5000;
}

static void slot_set(struct slot *sl, const char *id, bool running, int64_t timeout_ms)
{
    struct pool *p = sl->p;
    pthread_mutex_lock(&p->mu);
    easel_strlcpy(sl->job, id ? id : "", sizeof(sl->job));
    sl->running = running;
    sl->stop = 0;
    sl->why = EASEL_R_NONE;
    sl->deadline_ms = running ? easel_now_ms() + timeout_ms : 0;
    /* the move to RUNNING, moments away, beats for the attempt's start */
    sl->next_beat_ms = easel_now_ms() + (running ? beat_every_ms(p) : 0);
    /* an attempt that starts while draining gets what is left of it */
    pthread_mutex_unlock(&p->mu);
}

/* Runs attempt `after->attempts` of a dispatched job and settles it. */
static void run_attempt(struct slot *sl, struct easel_registry *reg, const char *entry,
                        struct easel_job *after)
{
    struct pool *p = sl->p;
    const char *id = after->id;
    const struct easel_model *run =
        easel_registry_chain_model(reg, after->model, after->attempts, NULL, NULL);
    int64_t timeout_ms = run && run->timeout_ms > 0 ? run->timeout_ms : 120000;
    slot_set(sl, id, true, timeout_ms);

    struct easel_runner_opts ro = p->o->run;
    ro.database_url = p->o->database_url;
    ro.registry = reg;
    ro.store = sl->s;
    ro.worker = sl->name;
    ro.attempt = after->attempts;
    ro.caller_heartbeat = true;
    ro.stop = &sl->stop;
    ro.termination_log = NULL;
    ro.job = after;
    int code = easel_runner_run(&ro, id);

    pthread_mutex_lock(&p->mu);
    enum easel_reason why = sl->why;
    pthread_mutex_unlock(&p->mu);
    /* settled within moments, on a lease renewed a third of it ago: stop
     * renewing now, so an ack racing a renewal is not reported as lost */
    slot_set(sl, NULL, false, 0);

    if (code == EASEL_EXIT_OK) {
        /* recorded SUCCEEDED by the runner: nothing to read back */
        const char *ids[] = {id};
        if (easel_queue_ack(sl->q, ids, 1) != EASEL_OK)
            easel_warn(id, "could not settle succeeded in redis: %s (the controller will)",
                       easel_queue_errstr(sl->q));
        else
            easel_log_kv(EASEL_LOG_INFO, id,
                         (const char *const[]){"status", "succeeded", "model", after->model, NULL},
                         "job succeeded");
        release_places(sl, reg, after->model, id);
        return;
    }
    struct easel_job *j = NULL;
    easel_err rc = easel_store_job_get(sl->s, id, &j);
    if (rc == EASEL_ECONN && easel_store_reconnect(sl->s) == EASEL_OK)
        rc = easel_store_job_get(sl->s, id, &j);
    if (rc) {
        /* the lease lapses and the controller looks at the record */
        easel_error_log(id, "cannot read the job after its attempt: %s", easel_store_errstr(sl->s));
        return;
    }
    if (j->status == EASEL_STATUS_DISPATCHED || j->status == EASEL_STATUS_RUNNING) {
        /* the attempt ended without recording an outcome: say why, through
         * the same plan the controller and job mode use */
        struct easel_error e;
        easel_error_clear(&e);
        if (why == EASEL_R_TIMEOUT)
            easel_error_set(&e, EASEL_ETIMEOUT, EASEL_CLASS_RETRYABLE, EASEL_R_TIMEOUT,
                            "attempt %d exceeded its timeout and was stopped", j->attempts);
        else if (why == EASEL_R_TERMINATED)
            easel_error_set(&e, EASEL_ECANCELED, EASEL_CLASS_RETRYABLE, EASEL_R_TERMINATED,
                            "attempt %d was interrupted: worker %s stopped before it finished",
                            j->attempts, p->id);
        else
            easel_error_set(&e, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_WORKER_FAILED,
                            "attempt %d ended (code %d) before recording a result", j->attempts,
                            code);
        struct easel_failure_plan plan;
        easel_failure_plan(reg, j->model, j->attempts, &plan);
        struct easel_job *after2 = NULL;
        rc = easel_record_failure(sl->s, id, B(DISPATCHED) | B(RUNNING), &plan, j->attempts, &e,
                                  &after2);
        if (rc == EASEL_OK) {
            easel_job_free(j);
            j = after2;
        } else {
            easel_job_free(after2);
            easel_job_free(j);
            j = NULL;
            if (rc == EASEL_ECONFLICT && easel_store_job_get(sl->s, id, &j) != EASEL_OK)
                j = NULL;
        }
        if (!j) {
            easel_error_log(id, "could not record the interrupted attempt: %s",
                            easel_store_errstr(sl->s));
            return;
        }
        easel_warn(id, "attempt %d: %s", j->attempts, e.msg);
    }
    rc = settle(sl, id, entry, j);
    if (rc == EASEL_EINVAL)
        hand_back(sl, id, entry, "its attempt is still running elsewhere");
    else if (rc)
        easel_warn(id, "could not settle %s in redis: %s (the controller will)",
                   easel_status_name(j->status), easel_queue_errstr(sl->q));
    else
        easel_log_kv(EASEL_LOG_INFO, id,
                     (const char *const[]){"status", easel_status_name(j->status), "model",
                                           j->model, NULL},
                     "job %s", easel_status_name(j->status));
    release_places(sl, reg, j->model, id);
    easel_job_free(j);
}

/* The models whose first attempt this worker may dispatch without reading
 * the row first: they run on the pool and have no concurrency or rate
 * gate, so nothing but the row's status, model, attempts and run_after
 * decides, and the dispatch statement checks exactly those
 * (easel_transition.only_fresh_of). NULL when there is none. */
static char *fresh_models(const struct easel_registry *reg)
{
    const char **ids = calloc(reg->nmodels ? reg->nmodels : 1, sizeof(*ids));
    size_t n = 0;
    for (size_t i = 0; ids && i < reg->nmodels; i++) {
        const struct easel_model *m = &reg->models[i];
        if (m->executor == EASEL_MODEL_EXEC_POOL && m->concurrency <= 0 &&
            m->rate_requests <= 0 && easel_registry_chain_model(reg, m->id, 1, NULL, NULL) == m)
            ids[n++] = m->id;
    }
    char *arr = n ? easel_store_models_array(ids, n) : NULL;
    free(ids);
    return arr;
}

static const char *slot_fresh_models(struct slot *sl, struct easel_registry *reg)
{
    if (sl->fresh_reg != reg) {
        free(sl->fresh);
        easel_registry_unref(sl->fresh_reg);
        sl->fresh_reg = easel_registry_ref(reg);
        sl->fresh = fresh_models(reg);
    }
    return sl->fresh;
}

static void dispatched_message(struct pool *p, int attempt, int max_attempts, char *msg,
                               size_t msglen, char *mark, size_t marklen)
{
    easel_worker_dispatch_mark("pool", p->host, mark, marklen);
    easel_fmt_cut(msg, msglen, "attempt %d of %d dispatched to the warm pool (%s)", attempt,
                  max_attempts, p->id);
}

/* One claimed job: look at its row and move it on. */
static void take(struct slot *sl, const char *entry)
{
    struct pool *p = sl->p;
    char id[EASEL_UUID_LEN + 1] = "";
    cJSON *doc = cJSON_Parse(entry);
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(doc, "id");
    const cJSON *jmodel = cJSON_GetObjectItemCaseSensitive(doc, "model");
    if (cJSON_IsString(jid))
        easel_strlcpy(id, jid->valuestring, sizeof(id));
    if (!easel_uuid_valid(id)) {
        cJSON_Delete(doc);
        easel_warn(NULL, "dropped a pool entry without a job id");
        return;
    }
    slot_set(sl, id, false, 0);
    struct easel_registry *reg = pool_registry(p);
    struct easel_job *j = NULL, *after = NULL;
    int64_t nap = 0; /* after giving a job back: stay away this long */
    if (easel_store_check(sl->s) != EASEL_OK)
        easel_store_reconnect(sl->s);
    /* The common case in one statement: a new job of an ungated pool model
     * is dispatched straight away. The message can only say "attempt 1 of
     * N" with the model's N, which the row would have told; anything else
     * (a retry, a gate, another status) conflicts and takes the road below,
     * which reads the row and decides. */
    const char *fresh = slot_fresh_models(sl, reg);
    const struct easel_model *fm = NULL;
    if (fresh) {
        const char *name = cJSON_IsString(jmodel) ? jmodel->valuestring : reg->default_model;
        fm = name ? easel_registry_model(reg, name) : NULL;
    }
    cJSON_Delete(doc);
    if (fresh && fm) {
        char msg[200], mark[128];
        /* the row's max_attempts, as intake computed it */
        dispatched_message(p, 1, easel_registry_chain_attempts(reg, fm->id), msg, sizeof(msg),
                           mark, sizeof(mark));
        struct easel_transition tr = {.reason = "Dispatched", .message = msg,
                                      .count_attempt = true, .worker = mark,
                                      .only_fresh_of = fresh};
        if (easel_store_job_transition(sl->s, id, B(QUEUED), EASEL_STATUS_DISPATCHED, &tr,
                                       &after) == EASEL_OK) {
            run_attempt(sl, reg, entry, after);
            goto out;
        }
    }
    easel_err rc = easel_store_job_get(sl->s, id, &j);
    if (rc == EASEL_ENOTFOUND) {
        hand_back(sl, id, entry, "it has no record yet");
        goto out;
    }
    if (rc) {
        /* Postgres is away: give it back to the pool and wait a moment */
        easel_warn(id, "cannot load the job: %s; giving it back", easel_store_errstr(sl->s));
        easel_queue_pool_put(sl->q, id, entry, NULL);
        nap = 500;
        goto out;
    }
    switch (j->status) {
    case EASEL_STATUS_QUEUED:
    case EASEL_STATUS_RETRYING: {
        if (j->status == EASEL_STATUS_RETRYING && j->run_after_ms > easel_wall_ms() + 20) {
            settle(sl, id, entry, j); /* wait in the delayed set */
            break;
        }
        const struct easel_model *am =
            easel_registry_chain_model(reg, j->model, j->attempts + 1, NULL, NULL);
        if (!am || am->executor != EASEL_MODEL_EXEC_POOL) {
            hand_back(sl, id, entry, "its next attempt's model does not run on the pool");
            break;
        }
        int64_t wait = 0;
        if (!gate_open(sl, am, id, &wait)) {
            /* behind the others in the pool; this slot stays away a while
             * so a closed gate is not spun on */
            easel_queue_pool_put(sl->q, id, entry, NULL);
            nap = wait < 20 ? 20 : wait > 500 ? 500 : wait;
            break;
        }
        char msg[200], mark[128];
        dispatched_message(p, j->attempts + 1, j->max_attempts, msg, sizeof(msg), mark,
                           sizeof(mark));
        struct easel_transition tr = {.reason = "Dispatched", .message = msg,
                                      .count_attempt = true, .worker = mark};
        rc = easel_store_job_transition(sl->s, id, B(QUEUED) | B(RETRYING),
                                        EASEL_STATUS_DISPATCHED, &tr, &after);
        if (rc) {
            /* canceled or moved meanwhile: the controller looks again */
            release_places(sl, reg, j->model, id);
            hand_back(sl, id, entry, rc == EASEL_ECONFLICT ? "its state changed" : "dispatch failed");
            break;
        }
        run_attempt(sl, reg, entry, after);
        break;
    }
    case EASEL_STATUS_DISPATCHED:
    case EASEL_STATUS_RUNNING:
        hand_back(sl, id, entry, "an attempt of it is already under way");
        break;
    default:
        settle(sl, id, entry, j);
        release_places(sl, reg, j->model, id);
        break;
    }
out:
    slot_set(sl, NULL, false, 0); /* holds no lease any more */
    easel_job_free(after);
    easel_job_free(j);
    easel_registry_unref(reg);
    if (nap)
        easel_sleep_ms(nap);
}

static bool draining(struct pool *p)
{
    if (pool_stop) {
        pthread_mutex_lock(&p->mu);
        if (!p->draining) {
            p->draining = true;
            p->drain_deadline_ms = easel_now_ms() + p->o->drain_timeout_ms;
        }
        pthread_mutex_unlock(&p->mu);
        return true;
    }
    return false;
}

static void *slot_main(void *arg)
{
    struct slot *sl = arg;
    struct pool *p = sl->p;
    struct easel_queue_entry e = {0};
    int64_t backoff = 100;
    while (!draining(p)) {
        size_t n = 0;
        easel_err rc = easel_queue_pool_claim(sl->q, 1, 1000, &e, &n);
        if (rc) {
            easel_warn(NULL, "pool claim failed: %s; reconnecting", easel_queue_errstr(sl->q));
            easel_sleep_ms(backoff);
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
            easel_queue_reconnect(sl->q);
            continue;
        }
        backoff = 100;
        if (n == 0)
            continue;
        if (draining(p)) {
            /* claimed while the stop arrived: give it straight back */
            cJSON *doc = cJSON_Parse(e.raw);
            const cJSON *jid = cJSON_GetObjectItemCaseSensitive(doc, "id");
            if (cJSON_IsString(jid))
                easel_queue_pool_put(sl->q, jid->valuestring, e.raw, NULL);
            cJSON_Delete(doc);
            easel_queue_entries_free(&e, 1);
            break;
        }
        take(sl, e.raw);
        easel_queue_entries_free(&e, 1);
    }
    return NULL;
}

/* -------------------------------------------------------------- keeper */

/* Re-reads the registry file when it changed; an invalid one is logged and
 * the last good one stays, as in the controller. */
static void reload_registry(struct pool *p)
{
    const char *path = p->o->registry_path;
    struct stat st;
    if (!path || !*path || stat(path, &st) != 0 || st.st_mtime == p->reg_mtime)
        return;
    struct easel_registry *r = NULL;
    struct easel_diags d = {0};
    if (easel_registry_load_file(path, &r, &d) == EASEL_OK) {
        pthread_mutex_lock(&p->mu);
        struct easel_registry *old = p->reg;
        p->reg = r;
        p->reg_mtime = st.st_mtime;
        pthread_mutex_unlock(&p->mu);
        easel_registry_unref(old);
        easel_info(NULL, "registry %s applied: %zu models", path, r->nmodels);
    } else {
        p->reg_mtime = st.st_mtime;
        easel_warn(NULL, "registry %s rejected (%zu problems; first: %d:%d: %s); keeping the "
                   "last good one", path, d.n, d.n ? d.items[0].line : 0,
                   d.n ? d.items[0].col : 0, d.n ? d.items[0].msg : "?");
    }
    easel_diags_cleanup(&d);
}

struct keeper {
    struct pool *p;
    pthread_t thread;
    volatile bool quit;
};

static void *keeper_main(void *arg)
{
    struct keeper *k = arg;
    struct pool *p = k->p;
    const struct easel_pool_opts *o = p->o;
    struct easel_queue_opts qo = {.url = o->redis_url, .name = o->queue, .controller_id = p->id,
                                  .lease_ms = o->lease_ms, .connect_timeout_ms = 2000};
    struct easel_queue *q = NULL;
    struct easel_store *s = NULL;
    int64_t renew_every = o->lease_ms / 3 > 0 ? o->lease_ms / 3 : 100;
    int64_t beat_every = beat_every_ms(p);
    int64_t next_renew = 0, next_reload = 0;
    const char **ids = calloc((size_t)p->nslots, sizeof(*ids));
    char (*held)[EASEL_UUID_LEN + 1] = calloc((size_t)p->nslots, sizeof(*held));
    char (*beat)[EASEL_UUID_LEN + 1] = calloc((size_t)p->nslots, sizeof(*beat));
    if (!ids || !held || !beat)
        goto out;
    while (!k->quit) {
        int64_t now = easel_now_ms();
        size_t n = 0, nbeat = 0;
        draining(p);
        pthread_mutex_lock(&p->mu);
        p->alive_ms = now;
        for (int i = 0; i < p->nslots; i++) {
            struct slot *sl = &p->slots[i];
            if (!sl->job[0])
                continue;
            easel_strlcpy(held[n], sl->job, sizeof(held[n]));
            ids[n] = held[n];
            n++;
            if (!sl->running)
                continue;
            if (!sl->stop && now >= sl->deadline_ms) {
                sl->why = EASEL_R_TIMEOUT;
                sl->stop = 1;
            } else if (!sl->stop && p->draining && now >= p->drain_deadline_ms) {
                sl->why = EASEL_R_TERMINATED;
                sl->stop = 1;
            }
            if (now >= sl->next_beat_ms) {
                sl->next_beat_ms = now + beat_every;
                easel_strlcpy(beat[nbeat++], sl->job, sizeof(beat[0]));
            }
        }
        pthread_mutex_unlock(&p->mu);

        if (!q && easel_queue_open(&qo, &q, NULL) != EASEL_OK)
            q = NULL;
        if (q && now >= next_renew) {
            next_renew = now + renew_every;
            size_t nlost = 0;
            bool *lost = calloc(n ? n : 1, sizeof(*lost));
            easel_err rc = easel_queue_renew(q, ids, n, lost, &nlost);
            for (size_t i = 0; rc == EASEL_OK && lost && i < n; i++)
                if (lost[i])
                    easel_warn(ids[i], "lease lost: another owner took the job over");
            free(lost);
            p->redis_ok = rc == EASEL_OK;
            if (rc == EASEL_ECONN) {
                easel_queue_free(q);
                q = NULL;
            }
        }
        if (!s && easel_store_open(o->database_url, &s, NULL) != EASEL_OK)
            s = NULL;
        for (size_t i = 0; s && i < nbeat; i++)
            if (easel_store_job_heartbeat(s, beat[i]) == EASEL_ECONN) {
                easel_warn(beat[i], "heartbeat failed: %s", easel_store_errstr(s));
                easel_store_free(s);
                s = NULL;
            }
        if (s && nbeat == 0 && now >= next_reload)
            p->db_ok = easel_store_check(s) == EASEL_OK;
        else
            p->db_ok = s != NULL;
        if (now >= next_reload) {
            next_reload = now + 2000;
            reload_registry(p);
        }
        easel_sleep_ms(50);
    }
out:
    free(ids);
    free(held);
    free(beat);
    easel_queue_free(q);
    easel_store_free(s);
    return NULL;
}

/* -------------------------------------------------------------- probes */

static bool probe_alive(void *ud)
{
    struct pool *p = ud;
    pthread_mutex_lock(&p->mu);
    bool ok = easel_now_ms() - p->alive_ms < 10000;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static bool probe_ready(void *ud, const char **why)
{
    struct pool *p = ud;
    pthread_mutex_lock(&p->mu);
    bool draining_now = p->draining, r = p->redis_ok, d = p->db_ok, reg = p->reg != NULL;
    pthread_mutex_unlock(&p->mu);
    *why = draining_now ? "draining" : !r ? "redis unreachable" : !d ? "postgres unreachable"
                                     : !reg ? "no registry" : "";
    return !draining_now && r && d && reg;
}

/* ----------------------------------------------------------------- run */

static easel_err open_slot(struct pool *p, struct slot *sl, int i, struct easel_error *err)
{
    const struct easel_pool_opts *o = p->o;
    char name[96];
    sl->p = p;
    sl->index = i;
    struct easel_queue_opts qo = {.url = o->redis_url, .name = o->queue, .controller_id = p->id,
                                  .lease_ms = o->lease_ms, .connect_timeout_ms = 2000};
    easel_err rc = easel_queue_open(&qo, &sl->q, err);
    if (rc)
        return rc;
    rc = easel_store_open(o->database_url, &sl->s, err);
    if (rc)
        return rc;
    easel_fmt_cut(name, sizeof(name), "%s.%d", p->id, i);
    if (easel_worker_id_format("pool", name, p->host, sl->name, sizeof(sl->name)) != EASEL_OK)
        easel_strlcpy(sl->name, "pool", sizeof(sl->name));
    return EASEL_OK;
}

easel_err easel_pool_run(const struct easel_pool_opts *o, struct easel_error *err)
{
    struct pool p;
    struct keeper k = {.p = &p};
    struct easel_pool_health *health = NULL;
    bool keeper_on = false;
    easel_err rc = EASEL_OK;
    memset(&p, 0, sizeof(p));
    p.o = o;
    pthread_mutex_init(&p.mu, NULL);
    pool_stop = 0;
    if (o->concurrency < 1 || !o->queue || !o->redis_url || !o->database_url) {
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                             "the worker needs a queue, Redis and Postgres, and concurrency >= 1");
        goto out;
    }
    easel_worker_host(p.host, sizeof(p.host));
    if (o->worker_id && *o->worker_id) {
        if (strlen(o->worker_id) > 90 || strchr(o->worker_id, '@')) {
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                                 "worker id must be at most 90 bytes without '@'");
            goto out;
        }
        easel_strlcpy(p.id, o->worker_id, sizeof(p.id));
    } else {
        easel_fmt_cut(p.id, sizeof(p.id), "pool-%.40s-%ld-%06llx", p.host, (long)getpid(),
                      (unsigned long long)easel_rand_below(0xffffff));
    }
    /* the registry: the file (re-read when it changes) or the built-in one */
    struct easel_diags d = {0};
    struct stat st;
    if (o->registry_path && *o->registry_path) {
        rc = easel_registry_load_file(o->registry_path, &p.reg, &d);
        if (rc == EASEL_OK && stat(o->registry_path, &st) == 0)
            p.reg_mtime = st.st_mtime;
    } else {
        rc = easel_registry_builtin(&p.reg);
    }
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                        "model registry %s is invalid (%zu problems; first: %d:%d: %s)",
                        o->registry_path, d.n, d.n ? d.items[0].line : 0,
                        d.n ? d.items[0].col : 0, d.n ? d.items[0].msg : "?");
        easel_diags_cleanup(&d);
        goto out;
    }
    easel_diags_cleanup(&d);
    p.slots = calloc((size_t)o->concurrency, sizeof(*p.slots));
    if (!p.slots) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_OUT_OF_MEMORY,
                             "out of memory");
        goto out;
    }
    p.nslots = o->concurrency;
    for (int i = 0; i < p.nslots; i++)
        if ((rc = open_slot(&p, &p.slots[i], i, err)))
            goto out;
    p.redis_ok = p.db_ok = true;
    p.alive_ms = easel_now_ms();
    /* Entries a previous run of this id moved but never leased. */
    easel_queue_release_inflight(p.slots[0].q, NULL);
    if (o->health_addr && *o->health_addr) {
        struct easel_pool_probe probe = {.alive = probe_alive, .ready = probe_ready, .ud = &p};
        if ((rc = easel_pool_health_start(o->health_addr, &probe, &health, err)))
            goto out;
    }
    if (pthread_create(&k.thread, NULL, keeper_main, &k) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                             "cannot start the keeper thread");
        goto out;
    }
    keeper_on = true;
    for (int i = 0; i < p.nslots; i++) {
        if (pthread_create(&p.slots[i].thread, NULL, slot_main, &p.slots[i]) != 0) {
            rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                                 "cannot start slot thread %d", i);
            pool_stop = 1;
            break;
        }
        p.slots[i].started = true;
    }
    easel_log_kv(EASEL_LOG_INFO, NULL,
                 (const char *const[]){"worker", p.id, "queue", o->queue, NULL},
                 "worker started: %d slots, claiming from %s:pool", p.nslots, o->queue);
out:
    for (int i = 0; p.slots && i < p.nslots; i++)
        if (p.slots[i].started)
            pthread_join(p.slots[i].thread, NULL);
    if (keeper_on) {
        k.quit = true;
        pthread_join(k.thread, NULL);
    }
    easel_pool_health_stop(health);
    for (int i = 0; p.slots && i < p.nslots; i++) {
        if (i == 0 && p.slots[0].q && rc == EASEL_OK) {
            /* anything a blocking move left unleased goes back to the line */
            size_t back = 0;
            easel_queue_release_inflight(p.slots[0].q, &back);
            if (back)
                easel_info(NULL, "returned %zu unclaimed entries to the queue", back);
        }
        easel_queue_free(p.slots[i].q);
        easel_store_free(p.slots[i].s);
        free(p.slots[i].fresh);
        easel_registry_unref(p.slots[i].fresh_reg);
    }
    if (rc == EASEL_OK)
        easel_info(NULL, "worker %s stopped", p.id);
    free(p.slots);
    easel_registry_unref(p.reg);
    pthread_mutex_destroy(&p.mu);
    return rc;
}
