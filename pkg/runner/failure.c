/*
 * failure.c - what a failed attempt does to a job, decided in one place so
 * that job mode (which knows why it failed) and the controller (which knows
 * when a worker vanished or timed out) can never disagree.
 */
#include <stdio.h>

#include "easel/runner.h"

void easel_retry_policy_default(struct easel_retry_policy *p)
{
    p->max_attempts = 3;
    p->initial_ms = 1000;
    p->factor = 2.0;
    p->max_ms = 60000;
}

easel_err easel_record_failure(struct easel_store *s, const char *id,
                               unsigned from_mask,
                               const struct easel_retry_policy *policy,
                               int attempts, const struct easel_error *e,
                               struct easel_job **out)
{
    enum easel_errclass cls =
        e->cls == EASEL_CLASS_PERMANENT ? EASEL_CLASS_PERMANENT
                                        : EASEL_CLASS_RETRYABLE;
    struct easel_transition t = {
        .error_class = easel_errclass_name(cls),
        .error_reason = e->reason[0] ? e->reason : easel_err_name(e->code),
        .error_message = e->msg[0] ? e->msg : easel_strerror(e->code),
    };
    char msg[512];
    enum easel_status to;
    if (cls == EASEL_CLASS_PERMANENT) {
        to = EASEL_STATUS_FAILED;
        t.reason = "Failed";
        snprintf(msg, sizeof(msg), "permanent error (%s): %s", t.error_reason,
                 t.error_message);
    } else if (attempts >= policy->max_attempts) {
        to = EASEL_STATUS_DEAD;
        t.reason = "DeadLettered";
        snprintf(msg, sizeof(msg),
                 "out of attempts (%d of %d); last error (%s): %s", attempts,
                 policy->max_attempts, t.error_reason, t.error_message);
    } else {
        to = EASEL_STATUS_RETRYING;
        t.reason = "Retrying";
        int64_t delay = easel_backoff_ms(policy, attempts);
        /* A server that said when to come back (Retry-After) is believed,
         * up to an hour. */
        bool asked = e->retry_after_ms > delay;
        if (asked)
            delay = e->retry_after_ms < 3600000 ? e->retry_after_ms : 3600000;
        t.run_after_ms = easel_wall_ms() + (delay > 0 ? delay : 1);
        snprintf(msg, sizeof(msg),
                 "attempt %d of %d failed (%s): %s; next attempt in %lld ms%s",
                 attempts, policy->max_attempts, t.error_reason,
                 t.error_message, (long long)delay,
                 asked ? " (as the server asked)" : "");
    }
    t.message = msg;
    return easel_store_job_transition(s, id, from_mask, to, &t, out);
}
