/*
 * controller.c - the controller's life: start-up (migrations, registry,
 * connections, claimer thread), the main poll loop, and graceful shutdown.
 *
 * The main loop sleeps in poll() on everything that can need it: the
 * claimer's hand-off eventfd, the executor's completion fd, the Postgres
 * notification socket, the registry directory (inotify) and the stop pipe,
 * with a timeout set by the next timer (lease renewal, recovery sweep,
 * delayed-retry promotion, executor deadlines). Nothing polls the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "controller_int.h"
#include "easel/credits.h"
#include "easel/telemetry.h"
#include "easel/kube.h"
#include "easel/leader.h"

static int stop_pipe[2] = {-1, -1};

void easel_controller_request_stop(void)
{
    if (stop_pipe[1] >= 0) {
        ssize_t w = write(stop_pipe[1], "s", 1);
        (void)w;
    }
}

struct easel_registry *ctl_registry(struct ctl *c)
{
    pthread_mutex_lock(&c->mu);
    struct easel_registry *r = easel_registry_ref(c->reg);
    pthread_mutex_unlock(&c->mu);
    return r;
}

const char *ctl_registry_path(const struct ctl *c)
{
    return c->o->registry_path && *c->o->registry_path ? c->o->registry_path
                                                       : NULL;
}

/* A ConfigMap Event (leader only): what people see in kubectl describe.
 * Queued to the writer thread: an API server that hangs on it does not
 * hold up the loop. */
static void configmap_event(struct ctl *c, const char *type, const char *reason,
                            const char *msg)
{
    if (!c->rec || !easel_leader_is(c->o->leader))
        return;
    struct easel_kube_ref io = {"v1", "ConfigMap", c->cm_name, c->cm_ns, c->cm_uid};
    easel_kube_record(c->rec, &io, type, reason, "%s", msg);
}

/* Validates a registry text and, when valid, puts it in force. An invalid
 * one is logged with every problem and the previous registry stays. */
static easel_err apply_registry(struct ctl *c, const char *text, size_t len,
                                const char *source, bool initial,
                                struct easel_error *err)
{
    struct easel_registry *r = NULL;
    struct easel_diags d = {0};
    easel_err rc = text ? easel_registry_parse(text, len, source, &r, &d)
                        : easel_registry_builtin(&r);
    /* a model may name an executor this controller does not run: refused
     * like any other problem, at start and on reload */
    if (rc == EASEL_OK &&
        easel_registry_check_executors(r, c->o->executor->ops->name, &d) != EASEL_OK) {
        easel_registry_unref(r);
        r = NULL;
        rc = EASEL_EPARSE;
    }
    /* credits the app keeps: every statement checked against its schema */
    if (rc == EASEL_OK && easel_credits_check(c->o->app_database_url, r, &d, NULL) != EASEL_OK) {
        easel_registry_unref(r);
        r = NULL;
        rc = EASEL_EPARSE;
    }
    if (rc) {
        char first[300] = "";
        if (d.n) /* for the operator: a long problem may be cut */
            easel_fmt_cut(first, sizeof(first), "%s:%d:%d: %s", source, d.items[0].line,
                          d.items[0].col, d.items[0].msg);
        if (initial)
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                            "model registry %s is invalid (%zu problems; first: %s)",
                            source, d.n, first);
        easel_log_kv(EASEL_LOG_ERROR, NULL,
                     (const char *const[]){"registry", source, "first_problem", first, NULL},
                     "registry rejected: %zu problems; %s", d.n,
                     initial ? "cannot start" : "keeping the last good registry");
        struct easel_buf all;
        easel_buf_init(&all, 900);
        easel_buf_printf(&all, "rejected (%zu problem%s; the last good registry stays in force):",
                         d.n, d.n == 1 ? "" : "s");
        for (size_t i = 0; i < d.n; i++) {
            easel_warn(NULL, "%s:%d:%d: %s", source, d.items[i].line, d.items[i].col,
                       d.items[i].msg);
            easel_buf_printf(&all, " line %d:%d: %s;", d.items[i].line, d.items[i].col,
                             d.items[i].msg);
        }
        if (!initial)
            configmap_event(c, "Warning", "RegistryRejected", all.data ? all.data : "rejected");
        easel_metric_add(EASEL_M_REGISTRY_RELOADS, (const char *const[]){"rejected"}, 1);
        easel_metric_set(EASEL_M_REGISTRY_VALID, NULL, 0);
        easel_buf_cleanup(&all);
        easel_diags_cleanup(&d);
        return rc;
    }
    easel_diags_cleanup(&d);
    /* Workers read the snapshot, never the file being edited: they see
     * exactly the registry the controller validated, old or new. */
    if (text && c->o->registry_snapshot) {
        easel_err wrc = easel_write_file_atomic(c->o->registry_snapshot, text, len);
        if (wrc)
            easel_warn(NULL, "cannot write the registry snapshot %s: %s",
                       c->o->registry_snapshot, easel_strerror(wrc));
    }
    free(c->reg_text);
    c->reg_text = text ? easel_strndup(text, len) : NULL;
    pthread_mutex_lock(&c->mu);
    struct easel_registry *old = c->reg;
    c->reg = r;
    pthread_mutex_unlock(&c->mu);
    easel_registry_unref(old);
    easel_log_kv(EASEL_LOG_INFO, NULL,
                 (const char *const[]){"registry", r->source, "default_model",
                                       r->default_model, NULL},
                 "registry %s: %zu models", initial ? "loaded" : "applied", r->nmodels);
    char msg[300]; /* an Event message: cut rather than dropped */
    easel_fmt_cut(msg, sizeof(msg),
                  "applied: %zu models, %zu presets, %zu payload rules; default model %s",
                  r->nmodels, r->npresets, r->npayloads, r->default_model);
    configmap_event(c, "Normal", "RegistryApplied", msg);
    easel_metric_add(EASEL_M_REGISTRY_RELOADS, (const char *const[]){"applied"}, 1);
    easel_metric_add(EASEL_M_REGISTRY_GENERATION, NULL, 1);
    easel_metric_set(EASEL_M_REGISTRY_VALID, NULL, 1);
    return EASEL_OK;
}

static easel_err load_registry(struct ctl *c, bool initial,
                               struct easel_error *err)
{
    const char *path = ctl_registry_path(c);
    if (!path)
        return apply_registry(c, NULL, 0, "builtin", initial, err);
    char *text = NULL;
    size_t len = 0;
    easel_err rc = easel_read_file(path, 1 << 20, &text, &len);
    if (rc) {
        easel_log_kv(EASEL_LOG_ERROR, NULL, (const char *const[]){"registry", path, NULL},
                     "registry rejected: cannot read it (%s); %s", easel_strerror(rc),
                     initial ? "cannot start" : "keeping the last good registry");
        easel_metric_add(EASEL_M_REGISTRY_RELOADS, (const char *const[]){"rejected"}, 1);
        easel_metric_set(EASEL_M_REGISTRY_VALID, NULL, 0);
        if (initial)
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                            "cannot read the model registry %s: %s", path,
                            easel_strerror(rc));
        return rc;
    }
    rc = apply_registry(c, text, len, path, initial, err);
    free(text);
    return rc;
}

/* The registry text a ConfigMap carries; NULL when it has none. */
static const char *configmap_text(const cJSON *cm)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cm, "data"), "models.yaml");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static easel_err start_configmap(struct ctl *c, struct easel_error *err)
{
    const char *spec = c->o->registry_configmap;
    const char *slash = strchr(spec, '/');
    c->cm_ns = slash ? easel_strndup(spec, (size_t)(slash - spec))
                     : easel_strdup(c->o->kube->namespace);
    c->cm_name = easel_strdup(slash ? slash + 1 : spec);
    if (!c->cm_ns || !c->cm_name)
        return EASEL_ENOMEM;
    /* names the registry in logs and records: the names are not bounded
     * here (the flag is free text), so it is allocated, never cut */
    c->cm_source = easel_asprintf("configmap/%s/%s", c->cm_ns, c->cm_name);
    if (!c->cm_source)
        return EASEL_ENOMEM;
    easel_err rc = easel_kube_new(c->o->kube, NULL, &c->api, err);
    if (rc)
        return rc;
    c->rec = c->o->recorder;
    if (!c->rec) {
        struct easel_kube_recorder_opts ro = {.host = c->host, .reporter = c->cid};
        rc = easel_kube_recorder_new(c->o->kube, &ro, &c->rec, err);
        if (rc)
            return rc;
        c->own_rec = true;
    }
    cJSON *cm = NULL;
    rc = easel_kube_get(c->api, &easel_kube_configmaps, c->cm_ns, c->cm_name, &cm, err);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                        "cannot read the registry ConfigMap %s/%s: %s", c->cm_ns,
                        c->cm_name, err->msg);
        return rc;
    }
    const char *text = configmap_text(cm);
    const char *uid = easel_kube_str(cm, "metadata.uid");
    easel_strlcpy(c->cm_uid, uid ? uid : "", sizeof(c->cm_uid));
    const char *source = c->cm_source;
    if (!text) {
        cJSON_Delete(cm);
        return easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                               EASEL_R_REGISTRY_INVALID,
                               "the ConfigMap %s/%s has no key models.yaml", c->cm_ns,
                               c->cm_name);
    }
    rc = apply_registry(c, text, strlen(text), source, true, err);
    cJSON_Delete(cm);
    if (rc)
        return rc;
    /* the watch copies the selector; a cut one would watch another name */
    char *fs = easel_asprintf("metadata.name=%s", c->cm_name);
    if (!fs)
        return EASEL_ENOMEM;
    struct easel_kube_watch_opts wo = {.res = &easel_kube_configmaps, .ns = c->cm_ns,
                                       .field_selector = fs};
    rc = easel_kube_watch_start(c->o->kube, &wo, &c->cmw, err);
    free(fs);
    return rc;
}

static void drain_configmap(struct ctl *c)
{
    enum easel_kube_ev type;
    cJSON *cm;
    while (easel_kube_watch_next(c->cmw, &type, &cm)) {
        const char *source = c->cm_source;
        const char *text = configmap_text(cm);
        const char *uid = easel_kube_str(cm, "metadata.uid");
        if (uid && type != EASEL_KUBE_DELETED)
            easel_strlcpy(c->cm_uid, uid, sizeof(c->cm_uid));
        if (type == EASEL_KUBE_DELETED) {
            easel_warn(NULL, "the registry ConfigMap %s was deleted; keeping the last good registry",
                       source);
        } else if (!text) {
            easel_log_kv(EASEL_LOG_ERROR, NULL, (const char *const[]){"registry", source, NULL},
                         "registry rejected: the ConfigMap has no key models.yaml; keeping the last good registry");
            configmap_event(c, "Warning", "RegistryRejected",
                            "rejected: the ConfigMap has no key models.yaml; the last good registry stays in force");
            easel_metric_add(EASEL_M_REGISTRY_RELOADS, (const char *const[]){"rejected"}, 1);
            easel_metric_set(EASEL_M_REGISTRY_VALID, NULL, 0);
        } else if (!c->reg_text || strcmp(text, c->reg_text) != 0) {
            apply_registry(c, text, strlen(text), source, false, NULL);
        }
        cJSON_Delete(cm);
    }
}

/* Watches the registry file's directory: editors and ConfigMap mounts
 * replace files by rename, which a watch on the file itself would miss. */
static int watch_registry(struct ctl *c)
{
    const char *path = ctl_registry_path(c);
    if (!path)
        return -1;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -1;
    char dir[4096];
    easel_strlcpy(dir, path, sizeof(dir));
    if (inotify_add_watch(fd, dirname(dir),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) <
        0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool drain_inotify(int fd, const char *path)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    char tmp[4096];
    easel_strlcpy(tmp, path, sizeof(tmp));
    const char *base = basename(tmp);
    bool hit = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            /* ConfigMap volumes swap a "..data" symlink; count it too. */
            if (ev->len && (strcmp(ev->name, base) == 0 ||
                            strcmp(ev->name, "..data") == 0))
                hit = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    return hit;
}

static void renew_leases(struct ctl *c)
{
    size_t n = c->njobs;
    const char **ids = calloc(n ? n : 1, sizeof(*ids));
    bool *lost = calloc(n ? n : 1, sizeof(*lost));
    size_t nlost = 0;
    if (!ids || !lost)
        goto out;
    for (size_t i = 0; i < n; i++)
        ids[i] = c->jobs[i].id;
    easel_err rc = easel_queue_renew(c->q, ids, n, lost, &nlost);
    if (rc == EASEL_ECONN) {
        c->queue_down = true;
        easel_error_log(NULL, "lease renewal failed: %s", easel_queue_errstr(c->q));
        goto out;
    }
    if (nlost) {
        /* Someone else holds these now (we stalled past the lease): let go
         * without touching the attempt, the new holder re-attaches. */
        char (*gone)[EASEL_UUID_LEN + 1] = calloc(nlost, sizeof(*gone));
        size_t k = 0;
        for (size_t i = 0; gone && i < n; i++)
            if (lost[i])
                easel_strlcpy(gone[k++], ids[i], sizeof(gone[0]));
        for (size_t i = 0; i < k; i++) {
            struct tracked *t = ctl_find(c, gone[i]);
            easel_warn(gone[i], "lease lost to another controller; letting go");
            if (t) {
                free(t->canonical);
                free(t->model);
                free(t->slot_model); /* the slot is the new owner's now */
                bool held = !t->no_slot;
                size_t idx = (size_t)(t - c->jobs);
                c->jobs[idx] = c->jobs[--c->njobs];
                if (held)
                    ctl_slots_release(c, 1);
            }
        }
        free(gone);
    }
out:
    free(ids);
    free(lost);
}

/* Expired leases taken over per sweep; more wait for the next sweep. */
#define RECOVER_BATCH 256

/* Takes over every expired lease, whatever the load. Taking the bookkeeping
 * (the lease, the record) needs no free slot: a taken-over job counts in
 * slots_used at once, which may pass the concurrency, and the claimer waits
 * until it is below again. What each job then needs is decided from its
 * record (tracker.c): an attempt still running elsewhere is watched where
 * it runs, a finished one is settled, and one that needs a new attempt runs
 * here if it fits, else goes to the head of the queue, so the next free
 * slot of any controller runs it before new work. */
static void recover(struct ctl *c)
{
    size_t moved = 0;
    if (easel_queue_recover_inflight(c->q, &moved) == EASEL_ECONN) {
        c->queue_down = true;
        return;
    }
    if (moved)
        easel_warn(NULL, "recovered %zu unadopted entries of a dead controller",
                   moved);
    char(*ids)[EASEL_UUID_LEN + 1] = calloc(RECOVER_BATCH, sizeof(*ids));
    struct easel_queue_entry *e = calloc(RECOVER_BATCH, sizeof(*e));
    size_t n = 0;
    if (!ids || !e)
        goto out;
    easel_err rc = easel_queue_take_expired(c->q, RECOVER_BATCH, ids, e, &n);
    if (rc == EASEL_ECONN)
        c->queue_down = true;
    if (n) {
        pthread_mutex_lock(&c->mu);
        c->slots_used += (int)n;
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < n; i++) {
        easel_warn(ids[i], "took over an expired lease");
        if (ctl_track_recovered(c, ids[i], e[i].raw) != EASEL_OK)
            ctl_slots_release(c, 1); /* the lease lapses again; next sweep */
    }
    if (n == RECOVER_BATCH)
        c->next_recover_ms = 0; /* more are waiting: sweep again at once */
out:
    easel_queue_entries_free(e, n);
    free(e);
    free(ids);
}

static void drain_handoffs(struct ctl *c)
{
    uint64_t v;
    ssize_t r = read(c->wake_fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&c->mu);
    struct handoff *list = c->ready;
    size_t n = c->nready;
    c->ready = NULL;
    c->nready = c->capready = 0;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        easel_err rc = list[i].model
            ? ctl_track_fresh(c, list[i].id, list[i].canonical, list[i].model,
                              list[i].max_attempts)
            : ctl_track(c, list[i].id, list[i].canonical);
        if (rc != EASEL_OK) {
            easel_error_log(list[i].id, "out of memory tracking the job");
            ctl_slots_release(c, 1);
        }
        free(list[i].canonical);
        free(list[i].model);
    }
    free(list);
}

static void drain_notifications(struct ctl *c)
{
    for (;;) {
        bool got = false;
        char id[EASEL_UUID_LEN + 1];
        enum easel_status st;
        easel_err rc = easel_store_notification(c->s, &got, id, &st);
        if (rc) {
            if (rc == EASEL_ECONN && !c->store_down) {
                c->store_down = true;
                easel_error_log(NULL, "database connection lost: %s",
                                easel_store_errstr(c->s));
            }
            return;
        }
        if (!got)
            return;
        ctl_on_notify(c, id, st);
    }
}

static void reap(struct ctl *c)
{
    struct easel_exec_done done[32];
    size_t n = 0;
    do {
        n = 0;
        c->o->executor->ops->reap(c->o->executor, done, 32, &n);
        for (size_t i = 0; i < n; i++)
            ctl_on_done(c, &done[i]);
    } while (n == 32);
}

static int64_t min_pos(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void timers(struct ctl *c, bool stopping)
{
    int64_t now = easel_now_ms();
    if (c->queue_down || c->store_down)
        return;
    if (now >= c->next_renew_ms) {
        renew_leases(c);
        c->next_renew_ms = now + c->o->lease_ms / 3;
    }
    bool leader = easel_leader_is(c->o->leader);
    if (!leader) {
        /* a follower looks again in a second, in case it becomes leader */
        if (now >= c->next_recover_ms)
            c->next_recover_ms = now + 1000;
        if (now >= c->next_promote_ms)
            c->next_promote_ms = now + 1000;
    }
    if (!stopping && leader && now >= c->next_recover_ms) {
        /* A quarter of the lease: a dead controller's jobs are taken over
         * at most a lease and a quarter after its last renewal. */
        c->next_recover_ms = now + c->o->lease_ms / 4;
        recover(c);
    }
    if (!stopping && leader && now >= c->next_promote_ms) {
        size_t moved = 0;
        int64_t next_due = 0;
        easel_err rc = easel_queue_promote(c->q, 1000, &moved, &next_due);
        if (rc == EASEL_ECONN)
            c->queue_down = true;
        int64_t wait = 1000;
        if (moved == 1000)
            wait = 0;
        else if (next_due > 0)
            wait = next_due - easel_wall_ms();
        if (wait > 1000)
            wait = 1000;
        c->next_promote_ms = now + (wait > 0 ? wait : 0);
    }
}

static int64_t poll_timeout(struct ctl *c)
{
    int64_t now = easel_now_ms();
    int64_t t = c->next_renew_ms - now;
    t = min_pos(t, c->next_recover_ms - now);
    t = min_pos(t, c->next_promote_ms - now);
    t = min_pos(t, c->o->executor->ops->next_timeout_ms(c->o->executor));
    if (c->njobs && (ctl_count_state(c, T_ATTACHED) ||
                     ctl_count_state(c, T_WAIT_SLOT) ||
                     ctl_count_state(c, T_FINALIZE)))
        t = min_pos(t, c->next_check_ms - now);
    if (c->queue_down || c->store_down)
        t = min_pos(t, 500);
    if (t < 0)
        t = 0;
    return t > 1000 ? 1000 : t;
}

/* The controller id owns leases and claims in Redis and is written into
 * Job annotations, so a cut one would be another controller's id: one that
 * does not fit is refused. */
static easel_err make_id(struct ctl *c, struct easel_error *err)
{
    if (gethostname(c->host, sizeof(c->host)) != 0)
        easel_strlcpy(c->host, "localhost", sizeof(c->host));
    c->host[sizeof(c->host) - 1] = '\0';
    if (c->o->controller_id && *c->o->controller_id) {
        if (easel_strlcpy(c->cid, c->o->controller_id, sizeof(c->cid)) >= sizeof(c->cid))
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                                   "--controller-id is %zu bytes; at most %zu are allowed",
                                   strlen(c->o->controller_id), sizeof(c->cid) - 1);
        return EASEL_OK;
    }
    char u[EASEL_UUID_LEN + 1];
    easel_uuid_v4(u);
    /* cannot fail: host is < 64 bytes, a pid < 12, 8 of the uuid: < 96 */
    easel_err rc = easel_snprintf(c->cid, sizeof(c->cid), "%s-%d-%.8s", c->host,
                                  (int)getpid(), u);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "cannot form the controller id from host %s", c->host);
    return EASEL_OK;
}

/* ------------------------------------------------- the API's hooks */

static struct easel_registry *api_registry(void *ud)
{
    return ctl_registry(ud);
}

static void api_worker_state(void *ud, struct easel_api_worker_state *out)
{
    struct ctl *c = ud;
    easel_strlcpy(out->controller_id, c->cid, sizeof(out->controller_id));
    pthread_mutex_lock(&c->mu);
    out->paused = c->paused;
    out->concurrency = c->concurrency;
    out->slots_used = c->slots_used;
    out->draining = c->stopping;
    pthread_mutex_unlock(&c->mu);
    out->started_ms = c->started_wall_ms;
    out->loop_age_ms = easel_now_ms() - atomic_load(&c->loop_tick_ms);
}

static void api_set_paused(void *ud, bool paused)
{
    struct ctl *c = ud;
    pthread_mutex_lock(&c->mu);
    bool was = c->paused;
    c->paused = paused;
    pthread_cond_broadcast(&c->slot_cv);
    pthread_mutex_unlock(&c->mu);
    if (was != paused)
        easel_info(NULL, paused ? "claiming paused through the API; running attempts go on"
                                : "claiming resumed through the API");
}

static easel_err api_set_concurrency(void *ud, int n)
{
    struct ctl *c = ud;
    if (n < 1 || n > 10000)
        return EASEL_EINVAL;
    pthread_mutex_lock(&c->mu);
    int was = c->concurrency;
    c->concurrency = n;
    pthread_cond_broadcast(&c->slot_cv);
    pthread_mutex_unlock(&c->mu);
    if (was != n)
        easel_info(NULL, "concurrency changed through the API: %d -> %d", was, n);
    return EASEL_OK;
}

static easel_err start_api(struct ctl *c, struct easel_error *err)
{
    if (!c->o->api || !c->o->api->addr || !*c->o->api->addr)
        return EASEL_OK;
    struct easel_api_opts ao = *c->o->api;
    ao.redis_url = c->o->redis_url;
    ao.database_url = c->o->database_url;
    ao.app_database_url = c->o->app_database_url;
    ao.queue = c->o->queue;
    ao.controller_id = c->cid;
    ao.lease_ms = c->o->lease_ms;
    ao.hooks = (struct easel_api_hooks){.ud = c,
                                        .registry = api_registry,
                                        .worker_state = api_worker_state,
                                        .set_paused = api_set_paused,
                                        .set_concurrency = api_set_concurrency};
    return easel_api_start(&ao, &c->http, err);
}

static easel_err start_extmetrics(struct ctl *c, struct easel_error *err)
{
    if (!c->o->extmetrics || !c->o->extmetrics->addr || !*c->o->extmetrics->addr)
        return EASEL_OK;
    struct easel_extmetrics_opts eo = *c->o->extmetrics;
    const char *queues[] = {c->o->queue};
    eo.redis_url = c->o->redis_url;
    eo.database_url = c->o->database_url;
    eo.queues = queues;
    eo.nqueues = 1;
    eo.kube = c->o->kube;
    return easel_extmetrics_start(&eo, &c->extm, err);
}

easel_err easel_controller_run(const struct easel_controller_opts *o,
                               struct easel_error *err)
{
    struct ctl c;
    easel_err rc = EASEL_OK;
    pthread_t claimer;
    bool claimer_on = false;
    int ino = -1;
    memset(&c, 0, sizeof(c));
    c.o = o;
    c.wake_fd = -1;
    c.concurrency = o->concurrency;
    c.started_wall_ms = easel_wall_ms();
    atomic_store(&c.loop_tick_ms, easel_now_ms());
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.slot_cv, NULL);
    rc = make_id(&c, err);
    if (rc)
        goto out;

    if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_PIPE,
                             "cannot create the stop pipe");
        goto out;
    }
    rc = c.o->registry_configmap && *c.o->registry_configmap && c.o->kube
             ? start_configmap(&c, err)
             : load_registry(&c, true, err);
    if (rc)
        goto out;
    rc = easel_store_open(o->database_url, &c.s, err);
    if (rc)
        goto out;
    if (o->migrate) {
        int applied = 0, version = 0;
        rc = easel_store_migrate(c.s, &applied, &version);
        if (rc) {
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_MIGRATE_FAILED,
                            "database migration failed: %s",
                            easel_store_errstr(c.s));
            goto out;
        }
        easel_info(NULL, "database schema at version %d (%d applied now)",
                   version, applied);
    }
    rc = easel_store_listen(c.s);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_LISTEN_FAILED,
                        "LISTEN failed: %s", easel_store_errstr(c.s));
        goto out;
    }
    struct easel_queue_opts qo = {.url = o->redis_url, .name = o->queue,
                                  .controller_id = c.cid,
                                  .lease_ms = o->lease_ms,
                                  .connect_timeout_ms = 2000};
    rc = easel_queue_open(&qo, &c.q, err);
    if (rc)
        goto out;
    c.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c.wake_fd < 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_EVENTFD,
                             "eventfd failed: %s", strerror(errno));
        goto out;
    }
    ino = watch_registry(&c);
    rc = start_api(&c, err);
    if (rc)
        goto out;
    rc = start_extmetrics(&c, err);
    if (rc)
        goto out;
    if (o->app_database_url && *o->app_database_url) {
        struct easel_credits_sender_opts so = {.database_url = o->database_url,
                                               .app_url = o->app_database_url,
                                               .registry = api_registry,
                                               .ud = &c};
        rc = easel_credits_sender_start(&so, &c.credits, err);
        if (rc)
            goto out;
    }
    if (o->webhooks) {
        rc = easel_webhook_sender_start(o->webhooks, &c.hooks, err);
        if (rc)
            goto out;
    } else {
        easel_info(NULL, "no --webhook-secret-file: this controller sends no webhooks "
                   "(deliveries wait in the outbox for one that does)");
    }

    easel_log_kv(EASEL_LOG_INFO, NULL,
                 (const char *const[]){"controller_id", c.cid, "queue", o->queue,
                                       "executor", o->executor->ops->name, NULL},
                 "controller started (concurrency %d, lease %lld ms)",
                 o->concurrency, (long long)o->lease_ms);
    /* Recover first: a restarted controller picks up its predecessor's work. */
    c.next_recover_ms = 0;
    if (pthread_create(&claimer, NULL, ctl_claimer_main, &c) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_THREAD,
                             "cannot start the claim thread");
        goto out;
    }
    claimer_on = true;

    bool stopping = false;
    int64_t grace_end = 0;
    for (;;) {
        struct pollfd pf[6];
        int npf = 0;
        pf[npf++] = (struct pollfd){.fd = stop_pipe[0], .events = POLLIN};
        pf[npf++] = (struct pollfd){.fd = c.wake_fd, .events = POLLIN};
        int efd = o->executor->ops->fd(o->executor);
        pf[npf++] = (struct pollfd){.fd = efd, .events = POLLIN};
        int sfd = c.store_down ? -1 : easel_store_socket(c.s);
        pf[npf++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pf[npf++] = (struct pollfd){.fd = ino, .events = POLLIN};
        pf[npf++] = (struct pollfd){.fd = c.cmw ? easel_kube_watch_fd(c.cmw) : -1,
                                    .events = POLLIN};
        atomic_store(&c.loop_tick_ms, easel_now_ms());
        int pr = poll(pf, (nfds_t)npf, (int)poll_timeout(&c));
        if (pr < 0 && errno != EINTR) {
            easel_error_log(NULL, "poll failed: %s", strerror(errno));
            easel_sleep_ms(100);
        }

        if (!stopping && (pf[0].revents & POLLIN)) {
            char b[16];
            while (read(stop_pipe[0], b, sizeof(b)) > 0)
                ;
            stopping = true;
            grace_end = easel_now_ms() + o->shutdown_grace_ms;
            pthread_mutex_lock(&c.mu);
            c.stopping = true;
            pthread_cond_broadcast(&c.slot_cv);
            pthread_mutex_unlock(&c.mu);
            easel_info(NULL, "stopping: no new claims; waiting up to %lld ms for %zu running attempts",
                       (long long)o->shutdown_grace_ms,
                       o->executor->ops->running(o->executor));
        }
        if (c.cmw && (pf[5].revents & POLLIN))
            drain_configmap(&c);
        if (ino >= 0 && (pf[4].revents & POLLIN) &&
            drain_inotify(ino, ctl_registry_path(&c)))
            load_registry(&c, false, NULL);
        drain_handoffs(&c);
        if (stopping) {
            if (claimer_on) {
                pthread_join(claimer, NULL);
                claimer_on = false;
                drain_handoffs(&c);
            }
            if (!c.queue_down)
                ctl_release_unstarted(&c);
        }
        if (!c.store_down)
            drain_notifications(&c);
        reap(&c);
        ctl_step(&c);
        timers(&c, stopping);

        if (stopping) {
            size_t running = o->executor->ops->running(o->executor);
            if (running == 0 && ctl_count_state(&c, T_FINALIZE) == 0)
                break;
            if (easel_now_ms() >= grace_end) {
                easel_warn(NULL, "grace period over: leaving %zu attempts running; "
                           "their leases lapse and another controller re-attaches",
                           running);
                o->executor->ops->detach_all(o->executor);
                break;
            }
        }
    }
    easel_info(NULL, "controller stopped");
out:
    /* the API's threads use the registry and the hooks: stop them first */
    easel_api_stop(c.http);
    c.http = NULL;
    easel_extmetrics_stop(c.extm);
    c.extm = NULL;
    easel_webhook_sender_stop(c.hooks);
    c.hooks = NULL;
    easel_credits_sender_stop(c.credits);
    c.credits = NULL;
    if (claimer_on) {
        pthread_mutex_lock(&c.mu);
        c.stopping = true;
        pthread_cond_broadcast(&c.slot_cv);
        pthread_mutex_unlock(&c.mu);
        pthread_join(claimer, NULL);
    }
    for (size_t i = 0; i < c.njobs; i++) {
        free(c.jobs[i].canonical);
        free(c.jobs[i].model);
    }
    free(c.jobs);
    for (size_t i = 0; i < c.nready; i++)
        free(c.ready[i].canonical);
    free(c.ready);
    if (ino >= 0)
        close(ino);
    if (c.wake_fd >= 0)
        close(c.wake_fd);
    easel_queue_free(c.q);
    easel_store_free(c.s);
    easel_registry_unref(c.reg);
    easel_kube_watch_stop(c.cmw);
    if (c.own_rec)
        easel_kube_recorder_free(c.rec, 3000);
    easel_kube_free(c.api);
    free(c.cm_ns);
    free(c.cm_name);
    free(c.cm_source);
    free(c.reg_text);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.slot_cv);
    return rc;
}
