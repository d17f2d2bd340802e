/*
 * trace.c - the span model, W3C trace context and the OpenTelemetry
 * environment variables.
 *
 * Tracing costs nothing until an OTLP endpoint is configured: every entry
 * point first reads one atomic flag and returns. Ids come from OpenSSL's
 * RAND_bytes, so trace ids are random enough for the ratio sampler, which
 * decides on their last eight bytes as the specification's
 * TraceIdRatioBased does (so every process of one trace decides alike).
 * The exporter that ended spans go to is otlp.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "trace_int.h"

/* ------------------------------------------------------------ contexts */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

bool easel_span_ctx_valid(const struct easel_span_ctx *c)
{
    return c && !all_zero(c->trace_id, sizeof(c->trace_id)) &&
           !all_zero(c->span_id, sizeof(c->span_id));
}

/* n bytes from 2n lower-case hex characters; false on anything else. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = s[2 * i], lo = s[2 * i + 1];
        /* the spec allows lower case only */
        if (isupper(hi) || isupper(lo))
            return false;
        int h = easel_hex_digit(hi), l = easel_hex_digit(lo);
        if (h < 0 || l < 0)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

easel_err easel_traceparent_parse(const char *s, size_t len, struct easel_span_ctx *out)
{
    uint8_t ver;
    struct easel_span_ctx c;
    memset(out, 0, sizeof(*out));
    if (!s)
        return EASEL_EPARSE;
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len < EASEL_TRACEPARENT_LEN)
        return EASEL_EPARSE;
    if (!hex_bytes(s, &ver, 1) || ver == 0xff || s[2] != '-' || s[35] != '-' ||
        s[52] != '-')
        return EASEL_EPARSE;
    /* version 00 is exactly 55 characters; a later version may append
     * fields after a dash */
    if (len != EASEL_TRACEPARENT_LEN && (ver == 0 || s[EASEL_TRACEPARENT_LEN] != '-'))
        return EASEL_EPARSE;
    if (!hex_bytes(s + 3, c.trace_id, 16) || !hex_bytes(s + 36, c.span_id, 8) ||
        !hex_bytes(s + 53, &c.flags, 1))
        return EASEL_EPARSE;
    if (!easel_span_ctx_valid(&c))
        return EASEL_EPARSE;
    *out = c;
    return EASEL_OK;
}

void easel_traceparent_format(const struct easel_span_ctx *c, char out[EASEL_TRACEPARENT_LEN + 1])
{
    char tid[33], sid[17], fl[3];
    easel_hex_encode(c->trace_id, 16, tid);
    easel_hex_encode(c->span_id, 8, sid);
    easel_hex_encode(&c->flags, 1, fl);
    /* 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55: always fits */
    (void)easel_snprintf(out, EASEL_TRACEPARENT_LEN + 1, "00-%s-%s-%s", tid, sid, fl);
}

/* ------------------------------------------------------------ configuration */

char *easel_trace_pct_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t k = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int h = i + 2 < len ? easel_hex_digit(s[i + 1]) : -1;
        int l = i + 2 < len ? easel_hex_digit(s[i + 2]) : -1;
        if (h >= 0 && l >= 0) {
            out[k++] = (char)(h << 4 | l);
            i += 2;
            continue;
        }
        free(out);
        return NULL;
    }
    out[k] = '\0';
    return out;
}

/* The next "key=value" of a comma-separated list at *p, trimmed; both
 * decoded. false at the end. A member without '=' or with a bad escape is
 * skipped with *bad set. */
static bool next_pair(const char **p, char **key, char **value, bool *bad)
{
    *key = *value = NULL;
    while (**p) {
        const char *s = *p, *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        *p = *end ? end + 1 : end;
        const char *eq = memchr(s, '=', (size_t)(end - s));
        if (!eq) {
            /* an empty member (",,") is allowed; anything else is not */
            for (const char *q = s; q < end; q++)
                if (!isspace((unsigned char)*q))
                    *bad = true;
            continue;
        }
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = end;
        while (ks < ke && isspace((unsigned char)*ks))
            ks++;
        while (ke > ks && isspace((unsigned char)ke[-1]))
            ke--;
        while (vs < ve && isspace((unsigned char)*vs))
            vs++;
        while (ve > vs && isspace((unsigned char)ve[-1]))
            ve--;
        if (ks == ke) {
            *bad = true;
            continue;
        }
        *key = easel_trace_pct_decode(ks, (size_t)(ke - ks));
        *value = easel_trace_pct_decode(vs, (size_t)(ve - vs));
        if (*key && *value)
            return true;
        free(*key);
        free(*value);
        *key = *value = NULL;
        *bad = true;
    }
    return false;
}

static void warn_once(struct easel_trace_config *c, const char *var, const char *what)
{
    if (!c->warning[0])
        easel_fmt_cut(c->warning, sizeof(c->warning), "%s: %s; ignored", var, what);
}

/* Header lines "Name: value" from one variable; a later variable's header
 * replaces an earlier one of the same name. Values are secrets: a warning
 * names the variable only. */
static easel_err read_headers(struct easel_trace_config *c, const char *var, const char *v)
{
    char *k, *val;
    bool bad = false;
    while (v && next_pair(&v, &k, &val, &bad)) {
        bool okname = true;
        for (const char *q = k; *q; q++)
            okname &= isalnum((unsigned char)*q) || *q == '-' || *q == '_';
        if (!okname || strpbrk(val, "\r\n")) {
            bad = true;
            free(k);
            free(val);
            continue;
        }
        char *line = easel_asprintf("%s: %s", k, val);
        size_t klen = strlen(k);
        if (!line) {
            free(k);
            free(val);
            return EASEL_ENOMEM;
        }
        for (size_t i = 0; line && i < c->nheaders; i++) {
            if (!strncasecmp(c->headers[i], k, klen) && c->headers[i][klen] == ':') {
                free(c->headers[i]);
                c->headers[i] = line;
                line = NULL;
            }
        }
        free(k);
        free(val);
        if (line && c->nheaders < EASEL_TRACE_MAX_HEADERS) {
            c->headers[c->nheaders++] = line;
        } else if (line) {
            free(line);
            bad = true;
        }
    }
    if (bad)
        warn_once(c, var, "a member is not name=value (percent-encoded)");
    return EASEL_OK;
}

static easel_err read_resource(struct easel_trace_config *c, const char *v)
{
    char *k, *val;
    bool bad = false;
    while (v && next_pair(&v, &k, &val, &bad)) {
        char **r = realloc(c->resource, (c->nresource + 1) * 2 * sizeof(*r));
        if (!r) {
            free(k);
            free(val);
            return EASEL_ENOMEM;
        }
        c->resource = r;
        r[2 * c->nresource] = k;
        r[2 * c->nresource + 1] = val;
        c->nresource++;
    }
    if (bad)
        warn_once(c, "OTEL_RESOURCE_ATTRIBUTES", "a member is not key=value (percent-encoded)");
    return EASEL_OK;
}

static const char *env_of(const char *(*g)(const char *), const char *name)
{
    const char *v = g(name);
    return v && *v ? v : NULL;
}

static const char *plain_getenv(const char *name)
{
    return getenv(name);
}

/* A millisecond count from var, or dflt (with a warning when unreadable). */
static int64_t env_ms(struct easel_trace_config *c, const char *(*g)(const char *),
                      const char *var, int64_t min, int64_t max, int64_t dflt)
{
    const char *v = env_of(g, var);
    int64_t n;
    if (!v)
        return dflt;
    if (easel_parse_i64(v, min, max, &n)) {
        warn_once(c, var, "not a whole number in range");
        return dflt;
    }
    return n;
}

easel_err easel_trace_config_read(struct easel_trace_config *c, const char *(*g)(const char *))
{
    const char *v;
    bool off = false;
    easel_err rc = EASEL_OK;

    memset(c, 0, sizeof(*c));
    if (!g)
        g = plain_getenv;
    if ((v = env_of(g, "OTEL_SDK_DISABLED")) && !strcasecmp(v, "true"))
        off = true;
    if ((v = env_of(g, "OTEL_TRACES_EXPORTER"))) {
        if (!strcasecmp(v, "none"))
            off = true;
        else if (strcasecmp(v, "otlp"))
            warn_once(c, "OTEL_TRACES_EXPORTER", "only otlp and none are known");
    }
    const char *proto = env_of(g, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    if (!proto)
        proto = env_of(g, "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (proto && strcmp(proto, "http/json"))
        warn_once(c, "OTEL_EXPORTER_OTLP_PROTOCOL", "easel speaks http/json only");

    if ((v = env_of(g, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
        c->endpoint = easel_strdup(v);
    } else if ((v = env_of(g, "OTEL_EXPORTER_OTLP_ENDPOINT"))) {
        size_t n = strlen(v);
        while (n && v[n - 1] == '/')
            n--;
        c->endpoint = easel_asprintf("%.*s/v1/traces", (int)n, v);
        if (!c->endpoint)
            rc = EASEL_ENOMEM;
    }
    if (c->endpoint && !easel_str_has_prefix(c->endpoint, "http://") &&
        !easel_str_has_prefix(c->endpoint, "https://")) {
        warn_once(c, "OTEL_EXPORTER_OTLP_ENDPOINT", "not an http(s) URL, tracing stays off");
        free(c->endpoint);
        c->endpoint = NULL;
    }
    if (!rc)
        rc = read_headers(c, "OTEL_EXPORTER_OTLP_HEADERS", env_of(g, "OTEL_EXPORTER_OTLP_HEADERS"));
    if (!rc)
        rc = read_headers(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                          env_of(g, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
    if (!rc)
        rc = read_resource(c, env_of(g, "OTEL_RESOURCE_ATTRIBUTES"));
    if (rc)
        return rc;
    if ((v = env_of(g, "OTEL_SERVICE_NAME"))) {
        c->service_name = easel_strdup(v);
    } else {
        for (size_t i = 0; i < c->nresource && !c->service_name; i++)
            if (!strcmp(c->resource[2 * i], "service.name"))
                c->service_name = easel_strdup(c->resource[2 * i + 1]);
        if (!c->service_name)
            c->service_name = easel_strdup("easel");
    }
    if (!c->service_name)
        return EASEL_ENOMEM;

    /* the sampler: the specification's default is parentbased_always_on;
     * a ratio given without a sampler means parentbased_traceidratio */
    const char *arg = env_of(g, "OTEL_TRACES_SAMPLER_ARG");
    v = env_of(g, "OTEL_TRACES_SAMPLER");
    c->ratio = 1.0;
    c->sampler = arg && !v ? EASEL_SAMPLER_PARENT_RATIO : EASEL_SAMPLER_PARENT_ON;
    if (v) {
        static const struct {
            const char *name;
            enum easel_sampler s;
        } names[] = {
            {"always_on", EASEL_SAMPLER_ALWAYS_ON},
            {"always_off", EASEL_SAMPLER_ALWAYS_OFF},
            {"traceidratio", EASEL_SAMPLER_RATIO},
            {"parentbased_always_on", EASEL_SAMPLER_PARENT_ON},
            {"parentbased_always_off", EASEL_SAMPLER_PARENT_OFF},
            {"parentbased_traceidratio", EASEL_SAMPLER_PARENT_RATIO},
        };
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (!strcasecmp(v, names[i].name))
                break;
        if (i < sizeof(names) / sizeof(names[0]))
            c->sampler = names[i].s;
        else
            warn_once(c, "OTEL_TRACES_SAMPLER", "unknown sampler, parentbased_always_on used");
    }
    if (arg && (c->sampler == EASEL_SAMPLER_RATIO || c->sampler == EASEL_SAMPLER_PARENT_RATIO)) {
        double r;
        if (easel_parse_double(arg, &r) || !(r >= 0 && r <= 1))
            warn_once(c, "OTEL_TRACES_SAMPLER_ARG", "not a number from 0 to 1, 1.0 used");
        else
            c->ratio = r;
    }

    int64_t t = env_ms(c, g, "OTEL_EXPORTER_OTLP_TIMEOUT", 1, 600000, 2000);
    c->timeout_ms = env_ms(c, g, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 1, 600000, t);
    c->delay_ms = env_ms(c, g, "OTEL_BSP_SCHEDULE_DELAY", 1, 600000, 2000);
    c->queue_max = (size_t)env_ms(c, g, "OTEL_BSP_MAX_QUEUE_SIZE", 1, 1 << 20, 2048);
    c->batch_max = (size_t)env_ms(c, g, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 1 << 20, 512);
    if (c->batch_max > c->queue_max)
        c->batch_max = c->queue_max;
    c->enabled = c->endpoint && !off;
    return EASEL_OK;
}

void easel_trace_config_cleanup(struct easel_trace_config *c)
{
    if (!c)
        return;
    free(c->endpoint);
    for (size_t i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    for (size_t i = 0; i < 2 * c->nresource; i++)
        free(c->resource[i]);
    free(c->resource);
    free(c->service_name);
    memset(c, 0, sizeof(*c));
}

static bool ratio_sample(double ratio, const uint8_t id[16])
{
    if (ratio >= 1.0)
        return true;
    if (ratio <= 0.0)
        return false;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = x << 8 | id[i];
    return (double)x < ratio * 18446744073709551616.0;
}

bool easel_trace_should_sample(const struct easel_trace_config *c, const uint8_t trace_id[16],
                               const struct easel_span_ctx *parent)
{
    switch (c->sampler) {
    case EASEL_SAMPLER_ALWAYS_ON:
        return true;
    case EASEL_SAMPLER_ALWAYS_OFF:
        return false;
    case EASEL_SAMPLER_RATIO:
        return ratio_sample(c->ratio, trace_id);
    case EASEL_SAMPLER_PARENT_ON:
        return parent ? (parent->flags & 1) != 0 : true;
    case EASEL_SAMPLER_PARENT_OFF:
        return parent ? (parent->flags & 1) != 0 : false;
    case EASEL_SAMPLER_PARENT_RATIO:
        return parent ? (parent->flags & 1) != 0 : ratio_sample(c->ratio, trace_id);
    }
    return false;
}

const char *const easel_telemetry_worker_env[] = {
    "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "SENTRY_DSN", "SENTRY_ENVIRONMENT", "SENTRY_RELEASE",
    NULL,
};

/* ------------------------------------------------------------ global state */

/* Written by init and shutdown (one thread), read everywhere. */
static atomic_bool g_on;
static bool g_export;       /* false in test mode: ended spans are freed */
static struct easel_trace_config g_cfg;

bool easel_trace_enabled(void)
{
    return atomic_load_explicit(&g_on, memory_order_acquire);
}

void easel_trace_init(const char *mode)
{
    if (easel_trace_enabled())
        return;
    if (easel_trace_config_read(&g_cfg, NULL)) {
        easel_warn(NULL, "tracing: out of memory reading the OTEL_* variables; tracing is off");
        easel_trace_config_cleanup(&g_cfg);
        return;
    }
    if (g_cfg.warning[0])
        easel_warn(NULL, "tracing: %s", g_cfg.warning);
    if (!g_cfg.enabled) {
        easel_trace_config_cleanup(&g_cfg);
        return;
    }
    if (otlp_start(&g_cfg, mode)) {
        easel_warn(NULL, "tracing: the exporter thread did not start; tracing is off");
        easel_trace_config_cleanup(&g_cfg);
        return;
    }
    g_export = true;
    char safe[512];
    /* the endpoint may carry credentials in its user part; headers are
     * never logged at all */
    easel_redact_url(g_cfg.endpoint, safe, sizeof(safe));
    easel_info(NULL, "tracing: exporting spans to %s (sampler %d, ratio %g)", safe,
               (int)g_cfg.sampler, g_cfg.ratio);
    atomic_store_explicit(&g_on, true, memory_order_release);
}

void easel_trace_shutdown(int64_t wait_ms)
{
    if (!easel_trace_enabled())
        return;
    atomic_store_explicit(&g_on, false, memory_order_release);
    if (g_export)
        otlp_stop(wait_ms);
    g_export = false;
    easel_trace_config_cleanup(&g_cfg);
}

void easel_trace_test_config(const struct easel_trace_config *c)
{
    atomic_store_explicit(&g_on, false, memory_order_release);
    g_export = false;
    if (!c)
        return;
    g_cfg.sampler = c->sampler;
    g_cfg.ratio = c->ratio;
    atomic_store_explicit(&g_on, true, memory_order_release);
}

void easel_trace_stats(struct easel_trace_stats *out)
{
    otlp_stats(out);
}

/* ------------------------------------------------------------ spans */

int64_t trace_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void random_id(uint8_t *p, size_t n)
{
    /* RAND_bytes failing is next to impossible; a zero id would be
     * invalid, so fall back to the jitter generator rather than send one */
    if (RAND_bytes(p, (int)n) != 1 || all_zero(p, n))
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(easel_rand_below(255) + 1);
}

struct easel_span *easel_span_start(const char *name, enum easel_span_kind kind,
                                    const struct easel_span_ctx *parent)
{
    if (!easel_trace_enabled())
        return NULL;
    struct easel_span *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (parent && !easel_span_ctx_valid(parent))
        parent = NULL;
    if (parent) {
        memcpy(s->ctx.trace_id, parent->trace_id, 16);
        memcpy(s->parent_id, parent->span_id, 8);
        s->has_parent = true;
    } else {
        random_id(s->ctx.trace_id, 16);
    }
    random_id(s->ctx.span_id, 8);
    s->recording = easel_trace_should_sample(&g_cfg, s->ctx.trace_id, parent);
    s->ctx.flags = s->recording ? 1 : 0;
    s->kind = kind;
    s->start_ns = trace_wall_ns();
    /* a non-recording span only carries its context */
    if (s->recording && !(s->name = easel_strdup(name ? name : "span"))) {
        free(s);
        return NULL;
    }
    return s;
}

struct easel_span *easel_span_start_tp(const char *name, enum easel_span_kind kind,
                                       const char *traceparent)
{
    struct easel_span_ctx p;
    if (!easel_trace_enabled())
        return NULL;
    bool ok = traceparent && !easel_traceparent_parse(traceparent, strlen(traceparent), &p);
    return easel_span_start(name, kind, ok ? &p : NULL);
}

struct easel_span *easel_span_child(const struct easel_span *parent, const char *name,
                                    enum easel_span_kind kind)
{
    return easel_span_start(name, kind, parent ? &parent->ctx : NULL);
}

static struct span_attr *new_attr(struct easel_span *s, const char *key, enum attr_type t)
{
    if (!s || !s->recording || !key || s->nattrs >= SPAN_MAX_ATTRS)
        return NULL;
    struct span_attr *a = &s->attrs[s->nattrs];
    if (!(a->key = easel_strdup(key)))
        return NULL;
    a->type = t;
    s->nattrs++;
    return a;
}

void easel_span_str(struct easel_span *s, const char *key, const char *value)
{
    if (!value)
        return;
    struct span_attr *a = new_attr(s, key, ATTR_STR);
    if (a && !(a->v.s = easel_strdup(value))) {
        free(a->key);
        s->nattrs--;
    }
}

void easel_span_int(struct easel_span *s, const char *key, int64_t value)
{
    struct span_attr *a = new_attr(s, key, ATTR_INT);
    if (a)
        a->v.i = value;
}

void easel_span_double(struct easel_span *s, const char *key, double value)
{
    struct span_attr *a = new_attr(s, key, ATTR_DOUBLE);
    if (a)
        a->v.d = value;
}

void easel_span_bool(struct easel_span *s, const char *key, bool value)
{
    struct span_attr *a = new_attr(s, key, ATTR_BOOL);
    if (a)
        a->v.b = value;
}

void easel_span_error(struct easel_span *s, const char *message)
{
    if (!s || !s->recording)
        return;
    s->status = EASEL_SPAN_ERROR;
    free(s->status_msg);
    s->status_msg = easel_strndup(message ? message : "", 256);
}

void easel_span_ok(struct easel_span *s)
{
    if (s && s->recording && s->status != EASEL_SPAN_ERROR)
        s->status = EASEL_SPAN_OK;
}

void easel_span_rc(struct easel_span *s, easel_err rc, const char *why)
{
    if (rc)
        easel_span_error(s, why && *why ? why : easel_strerror(rc));
}

bool easel_span_context(const struct easel_span *s, struct easel_span_ctx *out)
{
    if (!s) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    *out = s->ctx;
    return true;
}

const char *easel_span_traceparent(const struct easel_span *s, char out[EASEL_TRACEPARENT_LEN + 1])
{
    out[0] = '\0';
    if (s)
        easel_traceparent_format(&s->ctx, out);
    return out;
}

void easel_span_free(struct easel_span *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nattrs; i++) {
        free(s->attrs[i].key);
        if (s->attrs[i].type == ATTR_STR)
            free(s->attrs[i].v.s);
    }
    free(s->name);
    free(s->status_msg);
    free(s);
}

struct easel_span *easel_span_finish(struct easel_span *s)
{
    if (s && !s->end_ns)
        s->end_ns = trace_wall_ns();
    return s;
}

void easel_span_end_at(struct easel_span *s, int64_t end_ns)
{
    if (!s)
        return;
    s->end_ns = end_ns > s->start_ns ? end_ns : s->start_ns;
    if (s->recording && g_export && easel_trace_enabled())
        otlp_enqueue(s);
    else
        easel_span_free(s);
}

void easel_span_end(struct easel_span *s)
{
    if (s)
        easel_span_end_at(s, trace_wall_ns());
}
