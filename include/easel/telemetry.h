/*
 * telemetry.h - Prometheus text exposition (format 0.0.4), written by hand
 * so every figure easel exposes goes through one escaping rule.
 *
 * A family is a # HELP and # TYPE pair followed by its samples; labels are
 * given as a NULL-terminated list of name, value pairs.
 */
#ifndef EASEL_TELEMETRY_H
#define EASEL_TELEMETRY_H

#include "easel/core.h"

struct easel_queue;

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
easel_err easel_prom_family(struct easel_buf *b, const char *name, const char *type,
                            const char *help);
/* One sample line: name{l1="v1",...} value. Label values are escaped
 * (backslash, double quote, newline); a non-finite value is written as
 * +Inf, -Inf or NaN. */
easel_err easel_prom_sample(struct easel_buf *b, const char *name,
                            const char *const *labels, double value);

/* The circuit breakers held in Redis for the queue, as the families
 * easel_circuit_breaker_state (one series per state, 1 for the current
 * one), easel_circuit_breaker_consecutive_failures,
 * easel_circuit_breaker_retry_in_seconds and
 * easel_circuit_breaker_opens_total. */
easel_err easel_prom_breakers(struct easel_queue *q, struct easel_buf *b);

#endif
