/*
 * failure.c - what a failed attempt does to a job, decided in one place so
 * that job mode (which knows why it failed) and the controller (which knows
 * when a worker vanished or timed out) can never disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "easel/registry.h"
#include "easel/store.h"
#include "easel/trace.h"
#include "easel/worker.h"

void easel_failure_plan(const struct easel_registry *r, const char *model_id, int attempts,
                        struct easel_failure_plan *p)
{
    memset(p, 0, sizeof(*p));
    easel_retry_policy_default(&p->policy);
    p->nth = attempts;
    p->model = model_id;
    const struct easel_model *m =
        r ? easel_registry_chain_model(r, model_id, attempts, &p->nth, NULL) : NULL;
    if (!m) {
        p->next_model = attempts < p->policy.max_attempts ? model_id : NULL;
        return;
    }
    p->policy = m->retry;
    p->policy.max_attempts = easel_registry_chain_attempts(r, model_id);
    p->model = m->id;
    const struct easel_model *next = easel_registry_chain_model(r, model_id, attempts + 1,
                                                                NULL, NULL);
    p->next_model = next ? next->id : NULL;
}

/* The "error" event's data: what failed, and whether another attempt
 * follows. NULL when out of memory. */
static char *error_data(const struct easel_transition *t, int attempt, bool will_retry)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    cJSON_AddStringToObject(d, "class", t->error_class);
    cJSON_AddStringToObject(d, "reason", t->error_reason);
    cJSON_AddStringToObject(d, "message", t->error_message);
    cJSON_AddNumberToObject(d, "attempt", attempt);
    cJSON_AddBoolToObject(d, "will_retry", will_retry);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}

/* The error event, then the transition it causes, in one transaction: a
 * stream shows the error before the status it led to, and a transition
 * refused (the job moved meanwhile) takes its error event with it. The
 * event is information: when it cannot be written the transition is made
 * alone, as before events existed. */
static easel_err record(struct easel_store *s, const char *id, unsigned from_mask,
                        enum easel_status to, const struct easel_transition *t, int attempts,
                        struct easel_job **out)
{
    char *data = error_data(t, attempts, to == EASEL_STATUS_RETRYING);
    bool tx = data && easel_store_begin(s) == EASEL_OK;
    if (tx && easel_store_job_event(s, id, "error", t->error_message, data, NULL) != EASEL_OK) {
        easel_store_rollback(s);
        tx = false;
    }
    free(data);
    easel_err rc = easel_store_job_transition(s, id, from_mask, to, t, out);
    if (!tx)
        return rc;
    if (rc) {
        easel_store_rollback(s);
        return rc;
    }
    if ((rc = easel_store_commit(s)) != EASEL_OK && out) {
        easel_job_free(*out); /* what it said never happened */
        *out = NULL;
    }
    return rc;
}

easel_err easel_record_failure(struct easel_store *s, const char *id, unsigned from_mask,
                               const struct easel_failure_plan *plan, int attempts,
                               const struct easel_error *e, struct easel_job **out)
{
    const struct easel_retry_policy *policy = &plan->policy;
    enum easel_errclass cls =
        e->cls == EASEL_CLASS_PERMANENT ? EASEL_CLASS_PERMANENT
                                        : EASEL_CLASS_RETRYABLE;
    struct easel_transition t = {
        .error_class = easel_errclass_name(cls),
        .error_reason = e->reason[0] ? e->reason : easel_err_name(e->code),
        .error_message = e->msg[0] ? e->msg : easel_strerror(e->code),
    };
    /* the record's message is for people (reason and error are stored
     * whole beside it): a long error is cut there, marked */
    char msg[512];
    enum easel_status to;
    bool failover = plan->next_model && plan->model && strcmp(plan->next_model, plan->model) != 0;
    if (cls == EASEL_CLASS_PERMANENT) {
        to = EASEL_STATUS_FAILED;
        t.reason = "Failed";
        easel_fmt_cut(msg, sizeof(msg), "permanent error (%s): %s", t.error_reason,
                      t.error_message);
    } else if (attempts >= policy->max_attempts || !plan->next_model) {
        to = EASEL_STATUS_DEAD;
        t.reason = "DeadLettered";
        easel_fmt_cut(msg, sizeof(msg),
                      "out of attempts (%d of %d); last error (%s): %s", attempts,
                      policy->max_attempts, t.error_reason, t.error_message);
    } else if (failover) {
        /* the model's own attempts are spent: the next one in the chain
         * runs now, without the backoff meant for the model that failed */
        to = EASEL_STATUS_RETRYING;
        t.reason = "Retrying";
        t.run_after_ms = easel_wall_ms() + 1;
        easel_fmt_cut(msg, sizeof(msg),
                      "attempt %d of %d failed on %s (%s): %s; failing over to %s", attempts,
                      policy->max_attempts, plan->model, t.error_reason, t.error_message,
                      plan->next_model);
    } else {
        to = EASEL_STATUS_RETRYING;
        t.reason = "Retrying";
        int64_t delay = easel_backoff_ms(policy, plan->nth > 0 ? plan->nth : attempts);
        /* A server that said when to come back (Retry-After) is believed,
         * up to an hour. */
        bool asked = e->retry_after_ms > delay;
        if (asked)
            delay = e->retry_after_ms < 3600000 ? e->retry_after_ms : 3600000;
        t.run_after_ms = easel_wall_ms() + (delay > 0 ? delay : 1);
        easel_fmt_cut(msg, sizeof(msg),
                      "attempt %d of %d failed (%s): %s; next attempt in %lld ms%s",
                      attempts, policy->max_attempts, t.error_reason,
                      t.error_message, (long long)delay,
                      asked ? " (as the server asked)" : "");
    }
    t.message = msg;
    easel_err rc = record(s, id, from_mask, to, &t, attempts, out);
    /* The transition to dead is a checked one (from_mask): of a worker and
     * a controller racing on the same attempt only one commits it, so the
     * job is reported exactly once, here, by whoever that is. */
    if (rc == EASEL_OK && to == EASEL_STATUS_DEAD)
        easel_sentry_job_dead(id, plan->model, t.error_reason, t.error_class, t.error_message);
    return rc;
}
