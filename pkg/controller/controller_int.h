/*
 * controller_int.h - state shared by the controller's files. The claimer
 * thread and the main loop share only what is under `mu`: the current
 * registry, the hand-off list and the slot count.
 */
#ifndef EASEL_CONTROLLER_INT_H
#define EASEL_CONTROLLER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "easel/controller.h"
#include "easel/queue.h"
#include "easel/registry.h"
#include "easel/store.h"
#include "easel/trace.h"

/* A job the claimer hands to the main loop. */
struct handoff {
    char id[EASEL_UUID_LEN + 1];
    char *canonical;
    /* Set when the claimer just inserted the job as queued: the main loop
     * can dispatch it without reading the row back. */
    char *model;
    int max_attempts;
};

enum tstate {
    T_NEW = 0,      /* just handed over or recovered: decide what to do */
    T_WAIT_SLOT,    /* runnable, waiting for its model's concurrency */
    T_RUNNING,      /* an attempt runs under our executor */
    T_ATTACHED,     /* an attempt runs elsewhere (recovered): watched via the store */
    T_FINALIZE,     /* outcome recorded; Redis bookkeeping still to do */
};

struct tracked {
    char id[EASEL_UUID_LEN + 1];
    char *canonical;
    char *model;
    enum tstate state;
    int attempt;
    int64_t deadline_wall_ms;  /* ATTACHED: when the attempt is overdue */
    bool dirty;                /* a notification arrived: look again */
    int fresh_max_attempts;    /* > 0: inserted as queued just now (model set) */
    char *slot_model;          /* holds a concurrency slot of this model in Redis */
    int64_t gate_until;        /* WAIT_SLOT: the model's rate limit opens again (mono ms) */
    bool recovered;            /* taken over from an expired lease, not yet decided */
    /* Holds no slot in slots_used: an attempt of a dead controller that
     * was re-attached runs on that controller's capacity, not ours. */
    bool no_slot;
};

struct ctl {
    const struct easel_controller_opts *o;
    char cid[EASEL_CONTROLLER_ID_MAX];
    char host[64];

    pthread_mutex_t mu;
    pthread_cond_t slot_cv;
    struct easel_registry *reg;      /* current registry, one ref held */
    struct handoff *ready;
    size_t nready, capready;
    /* tracked + ready. Taking over expired leases adds to it without
     * waiting for room, so it may pass the concurrency for a while: the
     * claimer then waits until it is below again. */
    int slots_used;
    bool stopping;
    int concurrency;                 /* starts as o->concurrency; the API may change it */
    bool paused;                     /* the API's /worker/stop: no new claims */
    int64_t started_wall_ms;
    _Atomic int64_t loop_tick_ms;    /* easel_now_ms() of the main loop's last round */
    struct easel_api *http;          /* the HTTP API, or NULL */
    struct easel_extmetrics *extm;   /* the external metrics API, or NULL */
    struct easel_webhook_sender *hooks; /* the webhook sender, or NULL */
    struct easel_credits_sender *credits; /* the app_calls sender, or NULL */
    struct easel_store *claim_app;   /* the claimer's connection to the app's database */
    int wake_fd;                     /* eventfd: claimer -> main */

    /* main loop only */
    struct easel_queue *q;
    struct easel_store *s;
    struct tracked *jobs;
    size_t njobs, capjobs;
    int64_t next_renew_ms, next_recover_ms, next_promote_ms, next_check_ms;
    bool queue_down, store_down;

    /* registry from a ConfigMap */
    struct easel_kube *api;
    struct easel_kube_recorder *rec; /* registry Events; never waited on */
    bool own_rec;                    /* made here (none was given) */
    struct easel_kube_watch *cmw;
    char *cm_ns, *cm_name;
    char *cm_source;                 /* "configmap/<ns>/<name>" */
    char cm_uid[64];                 /* for Events kubectl describe finds */
    char *reg_text;                  /* text of the registry in force */
};

/* Registry access for both threads: a new reference, never NULL. */
struct easel_registry *ctl_registry(struct ctl *c);
const char *ctl_registry_path(const struct ctl *c);

/* claimer.c */
void *ctl_claimer_main(void *arg);
/* Makes sure a job row exists for a canonical entry (the recovery path).
 * An entry naming an unknown model is recorded dead. EASEL_EAGAIN, and
 * nothing recorded, for a job whose credits the app keeps: only the claim
 * thread reserves them, so the caller gives the entry back to the queue. */
easel_err ctl_ensure_job(struct ctl *c, struct easel_store *s,
                         const char *id, const char *canonical);
/* Builds the canonical entry (JSON with "id") for an intake. */
char *ctl_canonical(const char *id, const struct easel_intake *in);

/* tracker.c */
void ctl_slots_release(struct ctl *c, int n);
easel_err ctl_track(struct ctl *c, const char *id, const char *canonical);
/* Tracks a job taken over from an expired lease (its slot already counted). */
easel_err ctl_track_recovered(struct ctl *c, const char *id, const char *canonical);
/* Tracks a job the claimer has just inserted as queued, with its model. */
easel_err ctl_track_fresh(struct ctl *c, const char *id, const char *canonical,
                          const char *model, int max_attempts);
void ctl_step(struct ctl *c);                    /* advance NEW/WAIT/ATTACHED/FINALIZE jobs */
void ctl_on_done(struct ctl *c, const struct easel_exec_done *d);
void ctl_on_notify(struct ctl *c, const char *id, enum easel_status st);
void ctl_release_unstarted(struct ctl *c);       /* shutdown: give back jobs not started */
struct tracked *ctl_find(struct ctl *c, const char *id);
size_t ctl_count_state(struct ctl *c, enum tstate st);

#endif
