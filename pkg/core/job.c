/*
 * job.c - the lifecycle rules shared by the store, the controller and job
 * mode: state names, which moves are legal, and the retry arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "easel/job.h"

static const char *const status_names[] = {
#define EASEL_STATUS_STR(n, s) s,
    EASEL_STATUS_MAP(EASEL_STATUS_STR)
#undef EASEL_STATUS_STR
};

const char *easel_status_name(enum easel_status s)
{
    if ((unsigned)s >= EASEL_STATUS_COUNT)
        return "unknown";
    return status_names[s];
}

easel_err easel_status_parse(const char *s, enum easel_status *out)
{
    for (unsigned i = 0; s && i < EASEL_STATUS_COUNT; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum easel_status)i;
            return EASEL_OK;
        }
    }
    return EASEL_EINVAL;
}

bool easel_status_terminal(enum easel_status s)
{
    return (EASEL_STATUS_BIT(s) & EASEL_TERMINAL_MASK) != 0;
}

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

unsigned easel_status_allowed_from(enum easel_status to)
{
    switch (to) {
    case EASEL_STATUS_QUEUED:
        /* back from a wait, or a manual retry of a finished failure */
        return B(RETRYING) | B(FAILED) | B(DEAD);
    case EASEL_STATUS_DISPATCHED:
        return B(QUEUED) | B(RETRYING);
    case EASEL_STATUS_RUNNING:
        return B(DISPATCHED);
    case EASEL_STATUS_RETRYING:
        return B(DISPATCHED) | B(RUNNING);
    case EASEL_STATUS_SUCCEEDED:
        return B(RUNNING);
    case EASEL_STATUS_FAILED:
    case EASEL_STATUS_DEAD:
        return B(QUEUED) | B(DISPATCHED) | B(RUNNING) | B(RETRYING);
    case EASEL_STATUS_CANCELED:
        return B(QUEUED) | B(DISPATCHED) | B(RUNNING) | B(RETRYING);
    default:
        return 0;
    }
}

#undef B

int64_t easel_backoff_ceiling_ms(const struct easel_retry_policy *p,
                                 int attempt)
{
    if (attempt < 1)
        attempt = 1;
    double c = (double)p->initial_ms * pow(p->factor < 1 ? 1 : p->factor,
                                           attempt - 1);
    if (c > (double)p->max_ms || !isfinite(c))
        c = (double)p->max_ms;
    return c < 0 ? 0 : (int64_t)c;
}

void easel_retry_policy_default(struct easel_retry_policy *p)
{
    p->max_attempts = 3;
    p->initial_ms = 1000;
    p->factor = 2.0;
    p->max_ms = 60000;
}

int64_t easel_backoff_ms(const struct easel_retry_policy *p, int attempt)
{
    int64_t ceil = easel_backoff_ceiling_ms(p, attempt);
    return (int64_t)easel_rand_below((uint64_t)ceil + 1);
}

void easel_job_free(struct easel_job *j)
{
    if (!j)
        return;
    free(j->type);
    free(j->model);
    free(j->result_model);
    free(j->idempotency_key);
    free(j->payload);
    free(j->input);
    free(j->metadata);
    free(j->webhook);
    free(j->channel);
    free(j->owner);
    free(j->error_class);
    free(j->error_reason);
    free(j->error_message);
    free(j->result);
    free(j->worker);
    free(j->stage);
    free(j);
}

/* ------------------------------------------------------ webhook events */

static const char *const webhook_event_names[] = {
#define EASEL_WEBHOOK_EV_STR(n, s) s,
    EASEL_WEBHOOK_EVENT_MAP(EASEL_WEBHOOK_EV_STR)
#undef EASEL_WEBHOOK_EV_STR
};

const char *easel_webhook_event_name(enum easel_webhook_event e)
{
    if ((unsigned)e >= EASEL_WEBHOOK_EV_COUNT)
        return "unknown";
    return webhook_event_names[e];
}

easel_err easel_webhook_event_add(const char *s, unsigned *mask)
{
    for (unsigned i = 0; s && i < EASEL_WEBHOOK_EV_COUNT; i++) {
        if (strcmp(s, webhook_event_names[i]) == 0) {
            *mask |= EASEL_WEBHOOK_EV_BIT(i);
            return EASEL_OK;
        }
    }
    return EASEL_EINVAL;
}

void easel_webhook_events_csv(unsigned mask, char *dst, size_t len)
{
    struct easel_buf b;
    easel_buf_init(&b, len ? len - 1 : 0);
    for (unsigned i = 0; i < EASEL_WEBHOOK_EV_COUNT; i++)
        if (mask & EASEL_WEBHOOK_EV_BIT(i))
            (void)easel_buf_printf(&b, "%s%s", b.len ? "," : "", webhook_event_names[i]);
    easel_strlcpy(dst, b.data ? b.data : "", len);
    easel_buf_cleanup(&b);
}

easel_err easel_webhook_events_parse_csv(const char *csv, unsigned *mask)
{
    unsigned m = 0;
    const char *p = csv;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char name[16];
        if (n == 0 || n >= sizeof(name))
            return EASEL_EINVAL;
        memcpy(name, p, n);
        name[n] = '\0';
        if (easel_webhook_event_add(name, &m))
            return EASEL_EINVAL;
        p = comma ? comma + 1 : NULL;
    }
    *mask = m;
    return EASEL_OK;
}
