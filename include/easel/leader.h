/*
 * leader.h - leader election on a coordination.k8s.io/v1 Lease.
 *
 * Every controller replica claims and runs jobs; only the leader does the
 * duties that must happen once: recovering orphaned leases, promoting
 * delayed retries, and writing registry Events.
 */
#ifndef EASEL_LEADER_H
#define EASEL_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "easel/core.h"
#include "easel/kube.h"

struct easel_leader_opts {
    const char *ns;               /* NULL = the config's namespace */
    const char *name;             /* Lease name, e.g. "easel-controller" */
    const char *identity;         /* this replica, e.g. the pod name */
    int64_t lease_ms;             /* 0 = 15 s */
    int64_t renew_deadline_ms;    /* 0 = 10 s */
    int64_t retry_period_ms;      /* 0 = 2 s */
};

struct easel_leader;

/* Starts campaigning in a background thread. */
easel_err easel_leader_start(const struct easel_kube_config *c,
                             const struct easel_leader_opts *o,
                             struct easel_leader **out, struct easel_error *err);
/* Whether this replica leads now. NULL (no election configured) = true. */
bool easel_leader_is(const struct easel_leader *l);
/* Stops; a leader releases the Lease first. */
void easel_leader_stop(struct easel_leader *l);

#endif
