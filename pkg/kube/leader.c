/*
 * leader.c - leader election on a coordination.k8s.io/v1 Lease, the way
 * Kubernetes' own controllers do it.
 *
 * A candidate takes the Lease when nobody holds it, or when the record has
 * not changed for leaseDurationSeconds as measured on the candidate's own
 * clock (clocks of different machines are never compared). The leader
 * renews every retry period; if it cannot renew for the renew deadline it
 * steps down on its own, before another candidate may take over. Updates
 * carry the resourceVersion they read, so two candidates never both win.
 * On a clean stop the leader releases the Lease so that a successor takes
 * over at once.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_int.h"
#include "easel/leader.h"
#include "easel/telemetry.h"

struct easel_leader {
    struct easel_kube *api;
    char *ns, *name, *id;
    int64_t lease_ms, renew_ms, retry_ms;
    pthread_t thread;
    bool started;
    atomic_bool stop, leader;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* thread-owned */
    char observed_rv[64];
    int64_t observed_at;      /* mono ms when the record last changed */
    int64_t renewed_at;       /* mono ms of our last successful renewal */
    uint64_t transitions;
};

/* MicroTime: RFC 3339 with microseconds, as the Lease API writes it. */
static easel_err micro_time(char *dst, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    /* a Lease field the API parses: 20 + 8 characters, checked all the same */
    return easel_snprintf(dst, len, "%.20s.%06dZ", base, (int)(ts.tv_nsec / 1000) % 1000000);
}

static cJSON *lease_body(struct easel_leader *l, const cJSON *old, bool acquire)
{
    char now[40];
    if (micro_time(now, sizeof(now)) != EASEL_OK)
        return NULL; /* sent as no body: the round fails and is retried */
    cJSON *o = old ? cJSON_Duplicate(old, true) : cJSON_CreateObject();
    if (!old) {
        cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(o, "kind", "Lease");
        cJSON *m = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(m, "name", l->name);
        cJSON_AddStringToObject(m, "namespace", l->ns);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "status");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
    if (!spec)
        spec = cJSON_AddObjectToObject(o, "spec");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    int transitions = cJSON_IsNumber(tr) ? tr->valueint : 0;
    const char *holder = easel_kube_str(spec, "holderIdentity");
    bool change = acquire && (!holder || strcmp(holder, l->id) != 0);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
    cJSON_AddStringToObject(spec, "holderIdentity", l->id);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)(l->lease_ms / 1000));
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
    cJSON_AddStringToObject(spec, "renewTime", now);
    if (change || !cJSON_GetObjectItemCaseSensitive(spec, "acquireTime")) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "acquireTime");
        cJSON_AddStringToObject(spec, "acquireTime", now);
    }
    if (change && old) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
        cJSON_AddNumberToObject(spec, "leaseTransitions", transitions + 1);
    } else if (!cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions")) {
        cJSON_AddNumberToObject(spec, "leaseTransitions", 0);
    }
    return o;
}

static void become(struct easel_leader *l, bool leader, const char *why)
{
    if (atomic_load(&l->leader) == leader)
        return;
    atomic_store(&l->leader, leader);
    easel_metric_set(EASEL_M_LEADER, NULL, leader);
    if (leader)
        easel_info(NULL, "leader election: %s is now the leader of lease %s/%s", l->id,
                   l->ns, l->name);
    else
        easel_warn(NULL, "leader election: %s stepped down from lease %s/%s: %s", l->id,
                   l->ns, l->name, why);
}

/* One round: read the Lease, then take or renew it when we may. */
static void round_once(struct easel_leader *l)
{
    struct easel_error err;
    easel_error_clear(&err);
    cJSON *lease = NULL;
    int64_t now = easel_now_ms();
    easel_err rc = easel_kube_get(l->api, &easel_kube_leases, l->ns, l->name, &lease, &err);
    if (rc == EASEL_ENOTFOUND) {
        cJSON *body = lease_body(l, NULL, true);
        rc = easel_kube_create(l->api, &easel_kube_leases, l->ns, body, NULL, &err);
        cJSON_Delete(body);
        if (rc == EASEL_OK) {
            l->renewed_at = now;
            become(l, true, NULL);
        }
        return;
    }
    if (rc) {
        if (atomic_load(&l->leader) && now - l->renewed_at > l->renew_ms)
            become(l, false, err.msg);
        return;
    }
    const char *rv = easel_kube_str(lease, "metadata.resourceVersion");
    const char *holder = easel_kube_str(lease, "spec.holderIdentity");
    if (rv && strcmp(rv, l->observed_rv) != 0) {
        easel_strlcpy(l->observed_rv, rv, sizeof(l->observed_rv));
        l->observed_at = now;
    }
    bool mine = holder && !strcmp(holder, l->id);
    bool free_ = !holder || !*holder;
    bool expired = now - l->observed_at >= l->lease_ms;
    if (!mine && !free_ && !expired) {
        become(l, false, "another replica holds the lease");
        cJSON_Delete(lease);
        return;
    }
    cJSON *body = lease_body(l, lease, !mine);
    rc = easel_kube_update(l->api, &easel_kube_leases, l->ns, l->name, body, NULL, &err);
    cJSON_Delete(body);
    cJSON_Delete(lease);
    if (rc == EASEL_OK) {
        l->renewed_at = now;
        become(l, true, NULL);
    } else if (atomic_load(&l->leader) &&
               (rc == EASEL_ECONFLICT || now - l->renewed_at > l->renew_ms)) {
        become(l, false, err.msg);
    }
}

static void release(struct easel_leader *l)
{
    struct easel_error err;
    easel_error_clear(&err);
    cJSON *lease = NULL;
    if (easel_kube_get(l->api, &easel_kube_leases, l->ns, l->name, &lease, &err))
        return;
    const char *holder = easel_kube_str(lease, "spec.holderIdentity");
    if (holder && !strcmp(holder, l->id)) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
        cJSON_AddStringToObject(spec, "holderIdentity", "");
        /* a 1 s duration tells others not to wait */
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
        cJSON_AddNumberToObject(spec, "leaseDurationSeconds", 1);
        if (easel_kube_update(l->api, &easel_kube_leases, l->ns, l->name, lease, NULL, &err) ==
            EASEL_OK)
            easel_info(NULL, "leader election: released lease %s/%s", l->ns, l->name);
    }
    cJSON_Delete(lease);
}

static void *leader_main(void *arg)
{
    struct easel_leader *l = arg;
    l->observed_at = easel_now_ms();
    do {
        round_once(l);
        /* a leader that has not renewed within the deadline steps down even
         * if the API keeps failing in ways round_once did not see */
        if (atomic_load(&l->leader) && easel_now_ms() - l->renewed_at > l->renew_ms)
            become(l, false, "could not renew within the renew deadline");
    } while (kube_nap(&l->mu, &l->cv, &l->stop, l->retry_ms));
    if (atomic_load(&l->leader)) {
        release(l);
        atomic_store(&l->leader, false);
    }
    return NULL;
}

easel_err easel_leader_start(const struct easel_kube_config *c,
                             const struct easel_leader_opts *o,
                             struct easel_leader **out, struct easel_error *err)
{
    *out = NULL;
    struct easel_leader *l = calloc(1, sizeof(*l));
    if (!l)
        return EASEL_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->ns = strdup(o->ns && *o->ns ? o->ns : c->namespace);
    l->name = strdup(o->name);
    l->id = strdup(o->identity);
    l->lease_ms = o->lease_ms > 0 ? o->lease_ms : 15000;
    l->renew_ms = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
    l->retry_ms = o->retry_period_ms > 0 ? o->retry_period_ms : 2000;
    easel_err rc = EASEL_ENOMEM;
    if (!l->ns || !l->name || !l->id)
        goto fail;
    if ((rc = easel_kube_new(c, NULL, &l->api, err)))
        goto fail;
    if (pthread_create(&l->thread, NULL, leader_main, l) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                             "cannot start the leader-election thread");
        goto fail;
    }
    l->started = true;
    *out = l;
    return EASEL_OK;
fail:
    easel_leader_stop(l);
    return rc;
}

bool easel_leader_is(const struct easel_leader *l)
{
    return l ? atomic_load(&((struct easel_leader *)l)->leader) : true;
}

void easel_leader_stop(struct easel_leader *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        atomic_store(&l->stop, true);
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    easel_kube_free(l->api);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->ns);
    free(l->name);
    free(l->id);
    free(l);
}
