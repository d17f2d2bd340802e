/*
 * fuzz_traceparent.c - text from outside that the tracing code reads: the
 * W3C traceparent of a queue entry or an API request, the OTEL_* list
 * variables (name=value, percent-encoded) and a Sentry DSN.
 */
#include <stdio.h>

#include "easel/trace.h"
#include "fuzz.h"

static const char *fuzz_value;
static const char *fuzz_getenv(const char *name)
{
    if (!strcmp(name, "OTEL_EXPORTER_OTLP_HEADERS") || !strcmp(name, "OTEL_RESOURCE_ATTRIBUTES") ||
        !strcmp(name, "OTEL_TRACES_SAMPLER_ARG") || !strcmp(name, "OTEL_EXPORTER_OTLP_ENDPOINT"))
        return fuzz_value;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct easel_span_ctx c, again;
    char out[EASEL_TRACEPARENT_LEN + 1];
    /* the raw bytes, embedded NULs and all */
    if (easel_traceparent_parse((const char *)data, size, &c) == EASEL_OK) {
        if (!easel_span_ctx_valid(&c))
            abort();
        easel_traceparent_format(&c, out);
        if (strlen(out) != EASEL_TRACEPARENT_LEN ||
            easel_traceparent_parse(out, strlen(out), &again) != EASEL_OK ||
            memcmp(&c, &again, sizeof(c)) != 0)
            abort();
    } else if (easel_span_ctx_valid(&c)) {
        abort(); /* a refusal leaves nothing behind */
    }

    char *s = fuzz_cstr(data, size);
    fuzz_value = s;
    struct easel_trace_config cfg;
    if (easel_trace_config_read(&cfg, fuzz_getenv) == EASEL_OK) {
        for (size_t i = 0; i < cfg.nheaders; i++)
            if (strchr(cfg.headers[i], '\n') || strchr(cfg.headers[i], '\r') ||
                !strstr(cfg.headers[i], ": "))
                abort(); /* a header line can never be split */
        if (cfg.nheaders > EASEL_TRACE_MAX_HEADERS || !(cfg.ratio >= 0 && cfg.ratio <= 1))
            abort();
    }
    easel_trace_config_cleanup(&cfg);
    struct easel_sentry_dsn d;
    if (easel_sentry_dsn_parse(s, &d) == EASEL_OK &&
        (!d.key[0] || !d.project[0] || !strstr(d.envelope_url, "/envelope/")))
        abort();
    free(s);
    return 0;
}
