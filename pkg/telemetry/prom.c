/*
 * prom.c - the Prometheus text format: families, samples and the escaping
 * the format asks for, plus the collectors that read shared state (the
 * circuit breakers in Redis) at the moment of the scrape.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "easel/queue.h"
#include "easel/telemetry.h"

static easel_err escaped(struct easel_buf *b, const char *s, bool quote)
{
    easel_err rc = EASEL_OK;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = easel_buf_append(b, "\\\\", 2);
        else if (*s == '\n')
            rc = easel_buf_append(b, "\\n", 2);
        else if (*s == '"' && quote)
            rc = easel_buf_append(b, "\\\"", 2);
        else
            rc = easel_buf_append(b, s, 1);
    }
    return rc;
}

easel_err easel_prom_family(struct easel_buf *b, const char *name, const char *type,
                            const char *help)
{
    easel_err rc = easel_buf_printf(b, "# HELP %s ", name);
    if (!rc)
        rc = escaped(b, help, false);
    if (!rc)
        rc = easel_buf_printf(b, "\n# TYPE %s %s\n", name, type);
    return rc;
}

easel_err easel_prom_sample(struct easel_buf *b, const char *name,
                            const char *const *labels, double value)
{
    easel_err rc = easel_buf_append(b, name, strlen(name));
    for (size_t i = 0; !rc && labels && labels[i] && labels[i + 1]; i += 2) {
        rc = easel_buf_printf(b, "%s%s=\"", i ? "," : "{", labels[i]);
        if (!rc)
            rc = escaped(b, labels[i + 1], true);
        if (!rc)
            rc = easel_buf_append(b, "\"", 1);
    }
    if (!rc && labels && labels[0])
        rc = easel_buf_append(b, "}", 1);
    if (rc)
        return rc;
    if (isnan(value))
        return easel_buf_printf(b, " NaN\n");
    if (isinf(value))
        return easel_buf_printf(b, " %sInf\n", value > 0 ? "+" : "-");
    return easel_buf_printf(b, " %.17g\n", value);
}

easel_err easel_prom_breakers(struct easel_queue *q, struct easel_buf *b)
{
    struct easel_breaker_info *bs = NULL;
    size_t n = 0;
    easel_err rc = easel_queue_breakers(q, &bs, &n);
    if (rc)
        return rc;
    static const enum easel_breaker_state states[] = {
        EASEL_BREAKER_CLOSED, EASEL_BREAKER_OPEN, EASEL_BREAKER_HALF_OPEN};
    rc = easel_prom_family(b, "easel_circuit_breaker_state", "gauge",
                           "Circuit breaker of a provider endpoint: 1 for its current state "
                           "(closed, open, half_open), 0 for the others");
    for (size_t i = 0; i < n && !rc; i++) {
        for (size_t s = 0; s < 3 && !rc; s++) {
            const char *l[] = {"provider", bs[i].provider, "endpoint", bs[i].base,
                               "state", easel_breaker_state_name(states[s]), NULL};
            rc = easel_prom_sample(b, "easel_circuit_breaker_state", l,
                                   bs[i].state == states[s] ? 1 : 0);
        }
    }
    struct {
        const char *name, *type, *help;
    } fam[] = {
        {"easel_circuit_breaker_consecutive_failures", "gauge",
         "Failures in a row counted towards opening the breaker"},
        {"easel_circuit_breaker_retry_in_seconds", "gauge",
         "While open: seconds until a probe call may go"},
        {"easel_circuit_breaker_opens_total", "counter",
         "Times the breaker opened (kept in Redis for a day after its last change)"},
    };
    for (size_t f = 0; f < 3 && !rc; f++) {
        rc = easel_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < n && !rc; i++) {
            const char *l[] = {"provider", bs[i].provider, "endpoint", bs[i].base, NULL};
            double v = f == 0 ? (double)bs[i].failures
                     : f == 1 ? (double)bs[i].retry_in_ms / 1000.0
                              : (double)bs[i].opens;
            rc = easel_prom_sample(b, fam[f].name, l, v);
        }
    }
    easel_breaker_list_free(bs, n);
    return rc;
}
