/*
 * kube.c - the kubernetes executor: each attempt is a batch/v1 Job running
 * `easel job --id ID --attempt N` in its own pod.
 *
 * Everything it learns comes from two watches (Jobs and pods carrying
 * easel's worker labels), never from periodic listing. From them it tells
 * how an attempt ended when the worker could not record it itself:
 * OOMKilled, deadline exceeded, evicted, node lost, or stuck pending
 * (unschedulable, image pull failures) past a grace period, in which case it
 * deletes the Job and says why.
 *
 * The controller is the only writer to the API. Per attempt it creates the
 * Job and, once the attempt is settled, patches the Job's status
 * annotations once; those and the Events (Dispatched, Started, Retrying,
 * Succeeded, Failed, DeadLettered, Canceled) go through the controller's
 * one writer (pkg/kube/events.c), so that its loop never waits on them.
 *
 * Jobs outlive the controller: on shutdown nothing is deleted, and a new
 * controller adopts running Jobs it finds through the watch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "easel/job.h"
#include "easel/kube.h"
#include "easel/kubejob.h"
#include "easel/registry.h"
#include "easel/executor.h"

#define FAILED_POD_WAIT_MS 2000 /* Job Failed before its pod's details */

struct att {
    char job_id[EASEL_UUID_LEN + 1];
    int attempt;
    char name[96];
    char uid[64];
    bool tracked;             /* the controller waits for its end */
    bool finished;            /* its end is known (and queued if tracked) */
    bool canceled;            /* we deleted it */
    bool started_event;
    bool gone;                /* the Job no longer exists */
    char status_ann[24];      /* easel.dev/status as last seen/written */
    int64_t created_mono;
    /* from the pod */
    bool pod_seen, pod_terminated;
    int exit_code;
    char term_reason[32];
    char term_msg[256];
    char mem_limit[32];
    int64_t pending_since;    /* mono ms; 0 = not stuck */
    enum easel_reason pending_why;  /* why its pod cannot start, or NONE */
    char pending_msg[200];
    /* from the Job */
    int64_t job_failed_at;    /* mono ms the Job reported Failed, waiting for pod details */
    char job_fail_reason[48];
    char job_fail_msg[200];
};

struct kex {
    struct easel_executor base;
    struct easel_kube_config *cfg;
    struct easel_kube *api;          /* the loop's requests */
    struct easel_kube_recorder *rec; /* Events and annotations, never waited on */
    bool own_rec;                    /* made here (none was given) */
    struct easel_kube_watch *wjobs, *wpods;
    int epfd;
    char *ns, *cid;
    /* every Job setting but the attempt's own; its strings are ours */
    struct easel_kube_job_params tmpl;
    struct easel_worker_settings worker; /* tmpl.worker points here */
    int64_t grace_ms;
    char host[64];

    struct att *atts;
    size_t natts, capatts;
    struct easel_exec_done *done;
    size_t ndone, capdone;
};

static struct kex *K(struct easel_executor *ex) { return (struct kex *)ex; }

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* The template's strings this executor owns (namespace and controller id
 * live in ns and cid). */
enum { TMPL_STRINGS = 9 };
static void tmpl_strings(struct easel_kube_job_params *t, const char **out[TMPL_STRINGS])
{
    const char **f[TMPL_STRINGS] = {&t->image, &t->image_pull_policy, &t->database_secret,
                                    &t->database_secret_key, &t->provider_secret,
                                    &t->kueue_queue, &t->service_account, &t->redis_secret,
                                    &t->storage_secret};
    memcpy(out, f, sizeof(f));
}

/* ---------------------------------------------------------------- events */

static void event(struct kex *k, const struct att *a, const char *type,
                  const char *reason, const char *fmt, ...) EASEL_PRINTF(5, 6);
static void event(struct kex *k, const struct att *a, const char *type,
                  const char *reason, const char *fmt, ...)
{
    /* the API caps Event messages: a long one is cut, visibly, not lost */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct easel_kube_ref io = {"batch/v1", "Job", a->name, k->ns, a->uid};
    easel_kube_record(k->rec, &io, type, reason, "%s", msg);
}

/* ------------------------------------------------------------- attempts */

static struct att *find(struct kex *k, const char *job_id)
{
    for (size_t i = 0; i < k->natts; i++)
        if (!strcmp(k->atts[i].job_id, job_id))
            return &k->atts[i];
    return NULL;
}

static struct att *get_or_add(struct kex *k, const char *job_id, int attempt)
{
    /* Ids that do not fit, or would make an over-long Job name, are not
     * ours (easel's are UUIDs): tracking a cut one would confuse two jobs. */
    char name[sizeof(((struct att *)0)->name)];
    if (strlen(job_id) >= sizeof(((struct att *)0)->job_id) ||
        easel_kube_job_name(job_id, attempt, name, sizeof(name)) != EASEL_OK)
        return NULL;
    struct att *a = find(k, job_id);
    if (a) {
        if (attempt > a->attempt) {
            /* a newer attempt of the same job replaces what we knew */
            bool tracked = a->tracked && !a->finished;
            memset(a, 0, sizeof(*a));
            easel_strlcpy(a->job_id, job_id, sizeof(a->job_id));
            a->attempt = attempt;
            a->tracked = tracked;
            memcpy(a->name, name, sizeof(a->name));
        }
        return a;
    }
    if (k->natts == k->capatts) {
        size_t nc = k->capatts ? k->capatts * 2 : 32;
        struct att *na = realloc(k->atts, nc * sizeof(*na));
        if (!na)
            return NULL;
        k->atts = na;
        k->capatts = nc;
    }
    a = &k->atts[k->natts++];
    memset(a, 0, sizeof(*a));
    easel_strlcpy(a->job_id, job_id, sizeof(a->job_id));
    a->attempt = attempt;
    memcpy(a->name, name, sizeof(a->name));
    return a;
}

static void forget(struct kex *k, struct att *a)
{
    size_t i = (size_t)(a - k->atts);
    k->atts[i] = k->atts[--k->natts];
}

/* Records how an attempt ended; the controller hears it through reap(). */
static void finish(struct kex *k, struct att *a, enum easel_exec_outcome o,
                   int exit_code, int sig, enum easel_reason reason, const char *fmt, ...)
    EASEL_PRINTF(7, 8);
static void finish(struct kex *k, struct att *a, enum easel_exec_outcome o,
                   int exit_code, int sig, enum easel_reason reason, const char *fmt, ...)
{
    if (a->finished)
        return;
    a->finished = true;
    if (!a->tracked)
        return;
    if (k->ndone == k->capdone) {
        size_t nc = k->capdone ? k->capdone * 2 : 16;
        struct easel_exec_done *nd = realloc(k->done, nc * sizeof(*nd));
        if (!nd)
            return;
        k->done = nd;
        k->capdone = nc;
    }
    struct easel_exec_done *d = &k->done[k->ndone++];
    memset(d, 0, sizeof(*d));
    easel_strlcpy(d->job_id, a->job_id, sizeof(d->job_id));
    d->attempt = a->attempt;
    d->outcome = o;
    d->exit_code = exit_code;
    d->signal = sig;
    d->runtime_ms = a->created_mono ? easel_now_ms() - a->created_mono : 0;
    d->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    /* the record's message, for people: a long one is cut, marked */
    easel_vfmt_cut(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
}

static int attempt_of(const cJSON *obj)
{
    const char *s = easel_kube_label(obj, EASEL_LBL_ATTEMPT);
    int n = 0;
    if (!s || easel_parse_int(s, 1, 1000000, &n))
        return 0;
    return n;
}

/* ------------------------------------------------------ reading the watch */

static bool condition(const cJSON *obj, const char *type, const char **reason,
                      const char **message)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions"))
    {
        const char *t = easel_kube_str(c, "type"), *s = easel_kube_str(c, "status");
        if (t && s && !strcmp(t, type) && !strcmp(s, "True")) {
            if (reason)
                *reason = easel_kube_str(c, "reason");
            if (message)
                *message = easel_kube_str(c, "message");
            return true;
        }
    }
    return false;
}

static void settle_failed(struct kex *k, struct att *a)
{
    if (a->pod_terminated && !strcmp(a->term_reason, "OOMKilled")) {
        finish(k, a, EASEL_EXEC_SIGNALED, 137, 9, EASEL_R_OOM_KILLED,
               "OOMKilled: the worker pod exceeded its memory limit%s%s",
               a->mem_limit[0] ? " of " : "", a->mem_limit);
    } else if (a->pod_terminated) {
        finish(k, a, EASEL_EXEC_EXITED, a->exit_code, 0, EASEL_R_NONE,
               "the worker pod exited with code %d%s%s", a->exit_code,
               a->term_msg[0] ? ": " : "", a->term_msg);
    } else {
        finish(k, a, EASEL_EXEC_LOST, 0, 0, EASEL_R_JOB_FAILED, "the Job failed (%s): %s",
               a->job_fail_reason[0] ? a->job_fail_reason : "no reason given",
               a->job_fail_msg[0] ? a->job_fail_msg : "no message");
    }
}

static void on_job(struct kex *k, enum easel_kube_ev type, const cJSON *obj)
{
    const char *job_id = easel_kube_label(obj, EASEL_LBL_JOB_ID);
    int attempt = attempt_of(obj);
    if (!job_id || !attempt)
        return;
    struct att *a = find(k, job_id);
    if (a && attempt < a->attempt)
        return; /* an older attempt's Job: history */
    if (type == EASEL_KUBE_DELETED) {
        if (a && a->attempt == attempt) {
            a->gone = true;
            if (!a->finished && !a->canceled)
                finish(k, a, EASEL_EXEC_LOST, 0, 0, EASEL_R_JOB_DELETED,
                       "the Job %s was deleted before the attempt ended", a->name);
            if (!a->tracked || a->finished)
                forget(k, a);
        }
        return;
    }
    a = get_or_add(k, job_id, attempt);
    if (!a)
        return;
    const char *uid = easel_kube_str(obj, "metadata.uid");
    if (uid)
        easel_strlcpy(a->uid, uid, sizeof(a->uid));
    const char *name = easel_kube_str(obj, "metadata.name");
    if (name)
        easel_strlcpy(a->name, name, sizeof(a->name));
    const char *st = easel_kube_annotation(obj, EASEL_ANN_STATUS);
    if (st)
        easel_strlcpy(a->status_ann, st, sizeof(a->status_ann));
    const char *reason = NULL, *msg = NULL;
    if (condition(obj, "Complete", NULL, NULL)) {
        finish(k, a, EASEL_EXEC_EXITED, 0, 0, EASEL_R_NONE, "the worker pod completed");
    } else if (condition(obj, "Failed", &reason, &msg)) {
        if (reason && !strcmp(reason, "DeadlineExceeded")) {
            finish(k, a, EASEL_EXEC_TIMEOUT, 0, 9, EASEL_R_TIMEOUT,
                   "the Job ran past its activeDeadlineSeconds and was stopped: %s",
                   msg ? msg : "DeadlineExceeded");
        } else if (!a->job_failed_at) {
            easel_strlcpy(a->job_fail_reason, reason ? reason : "", sizeof(a->job_fail_reason));
            easel_strlcpy(a->job_fail_msg, msg ? msg : "", sizeof(a->job_fail_msg));
            a->job_failed_at = easel_now_ms();
            if (a->pod_terminated)
                settle_failed(k, a);
        }
    }
}

static void on_pod(struct kex *k, enum easel_kube_ev type, const cJSON *obj)
{
    const char *job_id = easel_kube_label(obj, EASEL_LBL_JOB_ID);
    int attempt = attempt_of(obj);
    struct att *a = job_id ? find(k, job_id) : NULL;
    if (!a || a->attempt != attempt || a->finished)
        return;
    a->pod_seen = true;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const char *phase = easel_kube_str(status, "phase");
    const cJSON *cs = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(status, "containerStatuses"), 0);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(cs, "state");
    const cJSON *term = cJSON_GetObjectItemCaseSensitive(state, "terminated");
    const cJSON *wait = cJSON_GetObjectItemCaseSensitive(state, "waiting");
    const char *lim = easel_kube_str(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(obj, "spec"), "containers"),
                           0),
        "resources.limits.memory");
    if (lim)
        easel_strlcpy(a->mem_limit, lim, sizeof(a->mem_limit));

    if (type == EASEL_KUBE_DELETED) {
        if (!a->canceled && !term)
            finish(k, a, EASEL_EXEC_LOST, 0, 0, EASEL_R_NODE_LOST,
                   "the worker pod %s was deleted before it finished (node lost?)",
                   easel_kube_str(obj, "metadata.name") ? easel_kube_str(obj, "metadata.name") : "?");
        return;
    }
    const char *sreason = easel_kube_str(status, "reason");
    if (sreason && (!strcmp(sreason, "Evicted") || !strcmp(sreason, "NodeLost") ||
                    !strcmp(sreason, "Preempting") || !strcmp(sreason, "Terminated"))) {
        const char *m = easel_kube_str(status, "message");
        bool evicted = !strcmp(sreason, "Evicted") || !strcmp(sreason, "Preempting");
        finish(k, a, EASEL_EXEC_LOST, 0, 0, evicted ? EASEL_R_EVICTED : EASEL_R_NODE_LOST,
               "the worker pod was %s: %s", evicted ? "evicted" : "lost with its node",
               m ? m : sreason);
        return;
    }
    if (term) {
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(term, "exitCode");
        a->pod_terminated = true;
        a->exit_code = cJSON_IsNumber(ec) ? ec->valueint : -1;
        const char *r = easel_kube_str(term, "reason");
        const char *m = easel_kube_str(term, "message");
        easel_strlcpy(a->term_reason, r ? r : "", sizeof(a->term_reason));
        /* the worker's one-line summary, or the log tail: one line here */
        easel_fmt_cut(a->term_msg, sizeof(a->term_msg), "%s", m ? m : "");
        for (char *p = a->term_msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        if (!strcmp(a->term_reason, "OOMKilled") || a->job_failed_at)
            settle_failed(k, a);
        return;
    }
    if (phase && !strcmp(phase, "Running")) {
        a->pending_since = 0;
        if (!a->started_event) {
            a->started_event = true;
            const char *node = easel_kube_str(obj, "spec.nodeName");
            event(k, a, "Normal", "Started", "attempt %d is running in pod %s on node %s",
                  a->attempt, easel_kube_str(obj, "metadata.name") ? easel_kube_str(obj, "metadata.name") : "?",
                  node ? node : "?");
        }
        return;
    }
    /* Pending: is it stuck? */
    const char *wr = easel_kube_str(wait, "reason"), *wm = easel_kube_str(wait, "message");
    const char *creason = NULL, *cmsg = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions"))
    {
        const char *t = easel_kube_str(c, "type"), *s = easel_kube_str(c, "status");
        if (t && s && !strcmp(t, "PodScheduled") && !strcmp(s, "False")) {
            creason = easel_kube_str(c, "reason");
            cmsg = easel_kube_str(c, "message");
        }
    }
    enum easel_reason why = EASEL_R_NONE;
    const char *msg = NULL;
    if (wr && (!strcmp(wr, "ErrImagePull") || !strcmp(wr, "ImagePullBackOff") ||
               !strcmp(wr, "InvalidImageName") || !strcmp(wr, "ErrImageNeverPull"))) {
        why = EASEL_R_IMAGE_PULL_FAILED;
        msg = wm ? wm : wr;
    } else if (wr && (!strcmp(wr, "CreateContainerConfigError") ||
                      !strcmp(wr, "CreateContainerError"))) {
        why = EASEL_R_CONTAINER_CONFIG_ERROR;
        msg = wm ? wm : wr;
    } else if (creason && !strcmp(creason, "Unschedulable")) {
        why = EASEL_R_UNSCHEDULABLE;
        msg = cmsg ? cmsg : creason;
    }
    if (why != EASEL_R_NONE) {
        if (!a->pending_since || a->pending_why != why) {
            a->pending_since = easel_now_ms();
            easel_warn(a->job_id, "worker pod of attempt %d is stuck: %s: %s", a->attempt,
                       easel_reason_name(why), msg);
            event(k, a, "Warning", "Pending", "the worker pod cannot start (%s): %s",
                  easel_reason_name(why), msg);
        }
        a->pending_why = why;
        /* only ever shown in the record's message */
        easel_fmt_cut(a->pending_msg, sizeof(a->pending_msg), "%s", msg);
    } else {
        a->pending_since = 0;
    }
}

static void drain_watches(struct kex *k)
{
    enum easel_kube_ev type;
    cJSON *obj;
    while (easel_kube_watch_next(k->wjobs, &type, &obj)) {
        on_job(k, type, obj);
        cJSON_Delete(obj);
    }
    while (easel_kube_watch_next(k->wpods, &type, &obj)) {
        on_pod(k, type, obj);
        cJSON_Delete(obj);
    }
}

/* Deadlines the executor keeps itself: stuck pods, and a Job that failed
 * without telling us why. */
static void check_deadlines(struct kex *k)
{
    int64_t now = easel_now_ms();
    for (size_t i = 0; i < k->natts; i++) {
        struct att *a = &k->atts[i];
        if (a->finished)
            continue;
        if (a->pending_since && now - a->pending_since >= k->grace_ms) {
            struct easel_error err;
            easel_error_clear(&err);
            a->canceled = true; /* our deletion is not news */
            if (easel_kube_delete(k->api, &easel_kube_jobs, k->ns, a->name, "Background",
                                  &err) &&
                err.http_status != 404)
                easel_warn(a->job_id, "could not delete stuck Job %s: %s", a->name, err.msg);
            finish(k, a, EASEL_EXEC_LOST, 0, 0, a->pending_why,
                   "the worker pod could not start for %llds (%s): %s; the Job was deleted",
                   (long long)(k->grace_ms / 1000), easel_reason_name(a->pending_why),
                   a->pending_msg);
        } else if (a->job_failed_at && now - a->job_failed_at >= FAILED_POD_WAIT_MS) {
            settle_failed(k, a);
        }
    }
}

/* ------------------------------------------------------------------- ops */

static easel_err kube_start(struct easel_executor *ex, const struct easel_exec_spec *spec,
                            struct easel_error *err)
{
    struct kex *k = K(ex);
    struct easel_kube_job_params p = k->tmpl;
    p.job_id = spec->job_id;
    p.attempt = spec->attempt;
    p.registry = spec->registry;
    p.model_id = spec->model;
    p.timeout_ms = spec->timeout_ms;
    p.traceparent = spec->traceparent;
    if (!spec->registry)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_RETRYABLE, EASEL_R_NO_REGISTRY,
                               "no registry given to the kubernetes executor");
    /* the attempt is tracked (and reported done) under this id: no cut */
    if (strlen(spec->job_id) >= sizeof(((struct att *)0)->job_id))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                               "job id \"%s\" is longer than a UUID", spec->job_id);
    cJSON *job = NULL;
    easel_err rc = easel_kube_job_build(&p, &job, err);
    if (rc)
        return rc;
    cJSON *created = NULL;
    rc = easel_kube_create(k->api, &easel_kube_jobs, k->ns, job, &created, err);
    cJSON_Delete(job);
    if (rc == EASEL_EEXISTS) {
        /* created before a crash (the record was not updated in time): this
         * attempt's Job is ours to follow */
        char name[96];
        /* cannot fail: easel_kube_job_build above made this very name */
        if (easel_kube_job_name(spec->job_id, spec->attempt, name, sizeof(name)) != EASEL_OK)
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                                   "job id \"%s\" is too long to name a Job", spec->job_id);
        easel_error_clear(err);
        rc = easel_kube_get(k->api, &easel_kube_jobs, k->ns, name, &created, err);
    }
    if (rc)
        return rc;
    struct att *a = get_or_add(k, spec->job_id, spec->attempt);
    if (!a) {
        cJSON_Delete(created);
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "out of memory tracking the Job");
    }
    a->tracked = true;
    a->finished = false;
    a->created_mono = easel_now_ms();
    const char *uid = easel_kube_str(created, "metadata.uid");
    if (uid)
        easel_strlcpy(a->uid, uid, sizeof(a->uid));
    easel_strlcpy(a->status_ann, "dispatched", sizeof(a->status_ann));
    cJSON_Delete(created);
    event(k, a, "Normal", "Dispatched", "attempt %d of model %s dispatched by %s",
          spec->attempt, spec->model, k->cid ? k->cid : k->host);
    return EASEL_OK;
}

static easel_err kube_cancel(struct easel_executor *ex, const char *job_id)
{
    struct kex *k = K(ex);
    struct att *a = find(k, job_id);
    if (!a || a->finished)
        return EASEL_OK;
    struct easel_error err;
    easel_error_clear(&err);
    a->canceled = true;
    easel_err rc = easel_kube_delete(k->api, &easel_kube_jobs, k->ns, a->name, "Background",
                                     &err);
    if (rc && rc != EASEL_ENOTFOUND) {
        a->canceled = false;
        easel_warn(job_id, "could not delete Job %s to cancel it: %s", a->name, err.msg);
        return rc;
    }
    finish(k, a, EASEL_EXEC_CANCELED, 0, 15, EASEL_R_NONE, "the Job and its pod were deleted");
    return EASEL_OK;
}

static easel_err kube_reap(struct easel_executor *ex, struct easel_exec_done *out,
                           size_t max, size_t *n)
{
    struct kex *k = K(ex);
    /* the epoll set is level-triggered on the watches' eventfds: taking
     * every queued event resets them */
    drain_watches(k);
    check_deadlines(k);
    size_t m = k->ndone < max ? k->ndone : max;
    if (m) { /* k->done may still be NULL: memcpy wants a pointer even for 0 bytes */
        memcpy(out, k->done, m * sizeof(*out));
        memmove(k->done, k->done + m, (k->ndone - m) * sizeof(*k->done));
        k->ndone -= m;
    }
    *n = m;
    /* attempts reported and no longer needed */
    for (size_t i = 0; i < k->natts;) {
        struct att *a = &k->atts[i];
        if (a->finished && (!a->tracked || a->gone)) {
            bool queued = false;
            for (size_t d = 0; d < k->ndone; d++)
                queued |= !strcmp(k->done[d].job_id, a->job_id);
            if (!queued) {
                forget(k, a);
                continue;
            }
        }
        i++;
    }
    return EASEL_OK;
}

static int kube_fd(struct easel_executor *ex)
{
    return K(ex)->epfd;
}

static int64_t kube_next_timeout(struct easel_executor *ex)
{
    struct kex *k = K(ex);
    int64_t now = easel_now_ms(), best = -1;
    if (k->ndone)
        return 0;
    for (size_t i = 0; i < k->natts; i++) {
        const struct att *a = &k->atts[i];
        int64_t at = -1;
        if (a->finished)
            continue;
        if (a->pending_since)
            at = a->pending_since + k->grace_ms;
        if (a->job_failed_at && (at < 0 || a->job_failed_at + FAILED_POD_WAIT_MS < at))
            at = a->job_failed_at + FAILED_POD_WAIT_MS;
        if (at >= 0) {
            int64_t d = at > now ? at - now : 0;
            if (best < 0 || d < best)
                best = d;
        }
    }
    return best;
}

static size_t kube_running(struct easel_executor *ex)
{
    struct kex *k = K(ex);
    size_t n = 0;
    for (size_t i = 0; i < k->natts; i++)
        n += k->atts[i].tracked && !k->atts[i].finished;
    return n;
}

static bool kube_has(struct easel_executor *ex, const char *job_id)
{
    const struct att *a = find(K(ex), job_id);
    return a && a->tracked && !a->finished;
}

static void kube_detach_all(struct easel_executor *ex)
{
    /* Jobs keep running; the next controller adopts them. */
    struct kex *k = K(ex);
    for (size_t i = 0; i < k->natts; i++)
        k->atts[i].tracked = false;
    k->ndone = 0;
}

static int kube_adopt(struct easel_executor *ex, const char *job_id, int attempt)
{
    struct kex *k = K(ex);
    drain_watches(k);
    struct att *a = find(k, job_id);
    if (a && a->attempt == attempt && !a->gone) {
        a->tracked = true;
        if (!a->created_mono)
            a->created_mono = easel_now_ms();
        if (a->finished) {
            /* it ended while nobody watched: report it now */
            a->finished = false;
            if (a->job_failed_at || a->pod_terminated)
                settle_failed(k, a);
            else
                finish(k, a, EASEL_EXEC_EXITED, 0, 0, EASEL_R_NONE, "the worker pod completed");
        }
        return 1;
    }
    if (!easel_kube_watch_synced(k->wjobs))
        return 0;
    return -1;
}

/* The Job a worker identity names, when it is one of ours: a Job in our
 * namespace. False for anything else. */
static bool worker_job(const struct kex *k, const char *worker, struct easel_worker_id *id)
{
    return easel_worker_id_parse(worker, id) == EASEL_OK &&
           !strcmp(id->executor, EASEL_WORKER_KUBERNETES) && !strcmp(id->where, k->ns);
}

static enum easel_gone kube_gone(struct easel_executor *ex, const char *worker)
{
    struct kex *k = K(ex);
    struct easel_worker_id id;
    if (!worker_job(k, worker, &id))
        return EASEL_GONE_UNKNOWN;
    drain_watches(k);
    for (size_t i = 0; i < k->natts; i++)
        if (!strcmp(k->atts[i].name, id.name))
            return k->atts[i].gone ? EASEL_GONE_YES : EASEL_GONE_NO;
    /* the watch has listed every worker Job: one it does not hold is gone
     * (deleted, or finished and forgotten) */
    return easel_kube_watch_synced(k->wjobs) ? EASEL_GONE_YES : EASEL_GONE_UNKNOWN;
}

static void kube_kill(struct easel_executor *ex, const char *worker)
{
    struct kex *k = K(ex);
    struct easel_worker_id id;
    if (!worker_job(k, worker, &id))
        return;
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_kube_delete(k->api, &easel_kube_jobs, k->ns, id.name, "Background",
                                     &err);
    if (rc && rc != EASEL_ENOTFOUND)
        easel_warn(NULL, "could not delete Job %s: %s", id.name, err.msg);
}

static const char *status_event(enum easel_status s, const char **type)
{
    *type = "Warning";
    switch (s) {
    case EASEL_STATUS_RETRYING: return "Retrying";
    case EASEL_STATUS_SUCCEEDED: *type = "Normal"; return "Succeeded";
    case EASEL_STATUS_FAILED: return "Failed";
    case EASEL_STATUS_DEAD: return "DeadLettered";
    case EASEL_STATUS_CANCELED: *type = "Normal"; return "Canceled";
    default: return NULL;
    }
}

/* "2 outputs: normal 1024x768 jpeg 51130 B, hq 1600x1200 webp 602196 B" */
static void result_summary(const char *result, char *dst, size_t len)
{
    dst[0] = '\0';
    cJSON *r = result ? cJSON_Parse(result) : NULL;
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(r, "outputs");
    size_t used = (size_t)snprintf(dst, len, "%d output%s", cJSON_GetArraySize(outs),
                                   cJSON_GetArraySize(outs) == 1 ? "" : "s");
    const cJSON *o;
    bool first = true;
    cJSON_ArrayForEach(o, outs)
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "width");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "height");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bytes");
        if (used < len)
            used += (size_t)snprintf(dst + used, len - used, "%s%s %dx%d %s %lld B",
                                     first ? ": " : ", ",
                                     easel_kube_str(o, "variant") ? easel_kube_str(o, "variant") : "?",
                                     cJSON_IsNumber(w) ? w->valueint : 0,
                                     cJSON_IsNumber(h) ? h->valueint : 0,
                                     easel_kube_str(o, "format") ? easel_kube_str(o, "format") : "?",
                                     cJSON_IsNumber(b) ? (long long)b->valuedouble : 0LL);
        first = false;
    }
    cJSON_Delete(r);
}

static void kube_report(struct easel_executor *ex, const struct easel_job *j)
{
    struct kex *k = K(ex);
    struct att *a = find(k, j->id);
    const char *type = NULL, *reason = status_event(j->status, &type);
    /* A Job already gone (deleted as stuck, or by a person) still gets its
     * Events: they outlive the object and say how the job ended (kubectl
     * get events). Only the annotations need the Job itself. */
    if (!a || !reason || a->attempt != j->attempts)
        return;
    const char *sname = easel_status_name(j->status);
    if (!strcmp(a->status_ann, sname))
        return; /* already written (a restarted controller settling again) */
    easel_strlcpy(a->status_ann, sname, sizeof(a->status_ann));
    char err[400] = "", res[400] = "", ts[32];
    /* Events and the error annotation are summaries for people (nothing
     * parses them; the record keeps the whole text), so a long one is cut */
    if (j->error_reason)
        easel_fmt_cut(err, sizeof(err), "%s: %s", j->error_reason,
                      j->error_message ? j->error_message : "");
    if (j->status == EASEL_STATUS_SUCCEEDED)
        result_summary(j->result, res, sizeof(res));
    switch (j->status) {
    case EASEL_STATUS_RETRYING: {
        int64_t wait = j->run_after_ms > easel_wall_ms() ? j->run_after_ms - easel_wall_ms() : 0;
        event(k, a, type, reason, "attempt %d of %d failed (%s); retrying in %.1fs",
              j->attempts, j->max_attempts, err, (double)wait / 1000.0);
        break;
    }
    case EASEL_STATUS_SUCCEEDED:
        event(k, a, type, reason, "attempt %d succeeded with model %s: %s", j->attempts,
              j->result_model ? j->result_model : j->model, res);
        break;
    case EASEL_STATUS_FAILED:
        event(k, a, type, reason, "attempt %d failed permanently: %s", j->attempts, err);
        break;
    case EASEL_STATUS_DEAD:
        event(k, a, type, reason, "out of attempts after %d of %d; dead-lettered: %s",
              j->attempts, j->max_attempts, err);
        break;
    default:
        event(k, a, type, reason, "the job was canceled during attempt %d", j->attempts);
        break;
    }
    /* the lasting record on the Job: one write per attempt, by the same
     * writer as the Events */
    if (a->gone)
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"),
                                         "annotations");
    cJSON_AddStringToObject(ann, EASEL_ANN_STATUS, sname);
    if (err[0])
        cJSON_AddStringToObject(ann, EASEL_ANN_ERROR, err);
    if (res[0])
        cJSON_AddStringToObject(ann, EASEL_ANN_RESULT, res);
    if (j->started_ms) {
        easel_kube_time(j->started_ms, ts, sizeof(ts));
        cJSON_AddStringToObject(ann, EASEL_ANN_STARTED, ts);
    }
    easel_kube_time(j->finished_ms ? j->finished_ms : easel_wall_ms(), ts, sizeof(ts));
    cJSON_AddStringToObject(ann, EASEL_ANN_FINISHED, ts);
    easel_kube_recorder_patch(k->rec, &easel_kube_jobs, k->ns, a->name, patch);
}

static void kube_free(struct easel_executor *ex)
{
    struct kex *k = K(ex);
    if (k->own_rec)
        easel_kube_recorder_free(k->rec, 3000); /* writes what is queued first */
    easel_kube_watch_stop(k->wjobs);
    easel_kube_watch_stop(k->wpods);
    if (k->epfd >= 0)
        close(k->epfd);
    easel_kube_free(k->api);
    easel_kube_config_free(k->cfg);
    free(k->ns);
    free(k->cid);
    const char **own[TMPL_STRINGS];
    tmpl_strings(&k->tmpl, own);
    for (size_t i = 0; i < TMPL_STRINGS; i++)
        free((char *)*own[i]);
    easel_worker_settings_cleanup(&k->worker);
    free(k->atts);
    free(k->done);
    free(k);
}

static const struct easel_executor_ops kube_ops = {
    .name = "kubernetes",
    .start = kube_start,
    .cancel = kube_cancel,
    .reap = kube_reap,
    .fd = kube_fd,
    .next_timeout_ms = kube_next_timeout,
    .running = kube_running,
    .has = kube_has,
    .detach_all = kube_detach_all,
    .free = kube_free,
    .adopt = kube_adopt,
    .report = kube_report,
    .gone = kube_gone,
    .kill = kube_kill,
};

easel_err easel_executor_kube_new(const struct easel_kube_exec_opts *o,
                                  struct easel_executor **out,
                                  struct easel_error *err)
{
    *out = NULL;
    struct kex *k = calloc(1, sizeof(*k));
    if (!k)
        return EASEL_ENOMEM;
    k->base.ops = &kube_ops;
    k->epfd = -1;
    const struct easel_kube_job_params *p = o->job;
    k->ns = strdup(p->namespace && *p->namespace ? p->namespace : o->cfg->namespace);
    k->cid = dup_or_null(p->controller_id);
    k->tmpl = *p;
    k->tmpl.job_id = k->tmpl.model_id = NULL;
    k->tmpl.registry = NULL;
    k->tmpl.namespace = k->ns;
    k->tmpl.controller_id = k->cid;
    const char **own[TMPL_STRINGS];
    tmpl_strings(&k->tmpl, own);
    bool oom = false;
    for (size_t i = 0; i < TMPL_STRINGS; i++) {
        const char *v = *own[i];
        *own[i] = dup_or_null(v);
        oom |= v && *v && !*own[i];
    }
    k->tmpl.worker = &k->worker;
    if (p->worker)
        oom |= easel_worker_settings_copy(p->worker, &k->worker) != EASEL_OK;
    k->grace_ms = o->pending_grace_ms > 0 ? o->pending_grace_ms : 300000;
    if (gethostname(k->host, sizeof(k->host)) != 0)
        easel_strlcpy(k->host, "easel", sizeof(k->host));
    easel_err rc = EASEL_OK;
    if (!k->ns || oom) {
        rc = EASEL_ENOMEM;
        goto fail;
    }
    if ((rc = easel_kube_new(o->cfg, NULL, &k->api, err)))
        goto fail;
    k->rec = o->recorder;
    if (!k->rec) {
        struct easel_kube_recorder_opts ro = {.host = k->host,
                                              .reporter = k->cid ? k->cid : k->host};
        if ((rc = easel_kube_recorder_new(o->cfg, &ro, &k->rec, err)))
            goto fail;
        k->own_rec = true;
    }
    struct easel_kube_watch_opts wj = {.res = &easel_kube_jobs, .ns = k->ns,
                                       .label_selector = EASEL_WORKER_SELECTOR};
    struct easel_kube_watch_opts wp = {.res = &easel_kube_pods, .ns = k->ns,
                                       .label_selector = EASEL_WORKER_SELECTOR};
    if ((rc = easel_kube_watch_start(o->cfg, &wj, &k->wjobs, err)) ||
        (rc = easel_kube_watch_start(o->cfg, &wp, &k->wpods, err)))
        goto fail;
    k->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e1 = {.events = EPOLLIN}, e2 = {.events = EPOLLIN};
    if (k->epfd < 0 ||
        epoll_ctl(k->epfd, EPOLL_CTL_ADD, easel_kube_watch_fd(k->wjobs), &e1) ||
        epoll_ctl(k->epfd, EPOLL_CTL_ADD, easel_kube_watch_fd(k->wpods), &e2)) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_EPOLL,
                             "epoll: %s", strerror(errno));
        goto fail;
    }
    *out = &k->base;
    return EASEL_OK;
fail:
    kube_free(&k->base);
    return rc ? rc : EASEL_ENOMEM;
}
