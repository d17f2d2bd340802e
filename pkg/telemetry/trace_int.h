/*
 * trace_int.h - what trace.c (spans, configuration), otlp.c (the exporter)
 * and sentry.c share: the span record itself and the exporter's entry
 * points. Nobody outside pkg/telemetry sees a span's fields.
 */
#ifndef EASEL_TRACE_INT_H
#define EASEL_TRACE_INT_H

#include <curl/curl.h>

#include "easel/trace.h"

#define SPAN_MAX_ATTRS 32

enum attr_type { ATTR_STR, ATTR_INT, ATTR_DOUBLE, ATTR_BOOL };

struct span_attr {
    char *key;
    enum attr_type type;
    union {
        char *s;
        int64_t i;
        double d;
        bool b;
    } v;
};

struct easel_span {
    struct easel_span_ctx ctx;
    uint8_t parent_id[8];
    bool has_parent;
    bool recording;             /* sampled: exported when ended */
    char *name;
    enum easel_span_kind kind;
    int64_t start_ns, end_ns;   /* wall clock, unix nanoseconds */
    enum easel_span_status status;
    char *status_msg;
    struct span_attr attrs[SPAN_MAX_ATTRS];
    size_t nattrs;
    struct easel_span *next;    /* the exporter's queue */
};

/* Wall clock in unix nanoseconds. */
int64_t trace_wall_ns(void);

/* otlp.c: starts the exporter thread for c (borrowed until otlp_stop);
 * non-zero when it cannot. */
easel_err otlp_start(const struct easel_trace_config *c, const char *mode);
/* Queues an ended, recording span (taken); drops it, counted, when the
 * queue is full or the exporter is not running. */
void otlp_enqueue(struct easel_span *s);
void otlp_stop(int64_t wait_ms);
void otlp_stats(struct easel_trace_stats *out);

/* perform.c: runs the prepared easy handle h to its end, asking give_up(ud)
 * every 50 ms; CURLE_ABORTED_BY_CALLBACK when it said yes, else the
 * transfer's result. For the sender threads only. */
CURLcode telemetry_perform(CURL *h, bool (*give_up)(void *ud), void *ud);

#endif
