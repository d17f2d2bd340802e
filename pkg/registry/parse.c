/*
 * parse.c - the registry document: YAML (libyaml's document API, so every
 * node keeps its line and column) checked key by key into a struct
 * easel_registry. Every problem is reported, not only the first, so one
 * `easel registry validate` run shows an operator everything to fix.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "easel/job.h"
#include "easel/storage.h"
#include "easel/yamljson.h"
#include "registry_int.h"

/* Aliases make a YAML tree a graph; cap the work a document can cause. */
#define MAX_NODES_VISITED 200000

static const char *const providers[] = {"replicate", "openai", "gemini",
                                        "imagen", "local", "noop", "pose", NULL};

struct pctx {
    yaml_document_t *doc;
    struct easel_diags *d;
    size_t problems;
    size_t visited;
};

static void problem(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
    EASEL_PRINTF(3, 4);

static void problem(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[sizeof(((struct easel_diag *)0)->msg)];
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(msg, sizeof(msg), fmt, ap); /* for a person: a cut shows as "..." */
    va_end(ap);
    c->problems++;
    easel_diags_add(c->d, n ? (int)n->start_mark.line + 1 : 1,
             n ? (int)n->start_mark.column + 1 : 1, "%s", msg);
}

static yaml_node_t *node_at(struct pctx *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

static const char *kind(const yaml_node_t *n)
{
    switch (n ? n->type : YAML_NO_NODE) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* Levenshtein distance, for "did you mean" hints on short keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

static void unknown_key(struct pctx *c, const yaml_node_t *k, const char *where,
                        const char *const *allowed)
{
    const char *key = scalar(k);
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; allowed[i]; i++) {
        size_t d = edit_distance(key ? key : "", allowed[i]);
        if (d < bestd) {
            bestd = d;
            best = allowed[i];
        }
    }
    if (best)
        problem(c, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)",
                key ? key : "?", where, best);
    else
        problem(c, k, "unknown key \"%s\" in %s", key ? key : "?", where);
}

/* Iterates a mapping's pairs; returns false (after a problem) when n is not
 * a mapping. */
#define FOR_PAIRS(n, p)                                                      \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start;               \
         p < (n)->data.mapping.pairs.top; p++)
#define FOR_ITEMS(n, it)                                                     \
    for (yaml_node_item_t *it = (n)->data.sequence.items.start;             \
         it < (n)->data.sequence.items.top; it++)

static bool want(struct pctx *c, const yaml_node_t *n, yaml_node_type_t t,
                 const char *what)
{
    if (n && n->type == t)
        return true;
    const char *exp = t == YAML_MAPPING_NODE    ? "a mapping"
                      : t == YAML_SEQUENCE_NODE ? "a list"
                                                : "a single value";
    problem(c, n, "%s must be %s, not %s", what, exp, kind(n));
    return false;
}

static bool get_str(struct pctx *c, const yaml_node_t *n, const char *what,
                    char **out)
{
    if (!want(c, n, YAML_SCALAR_NODE, what))
        return false;
    if (!*scalar(n)) {
        problem(c, n, "%s must not be empty", what);
        return false;
    }
    free(*out);
    *out = easel_strdup(scalar(n));
    return *out != NULL;
}

static bool get_int(struct pctx *c, const yaml_node_t *n, const char *what,
                    int min, int max, int *out)
{
    if (!want(c, n, YAML_SCALAR_NODE, what))
        return false;
    easel_err rc = easel_parse_int(scalar(n), min, max, out);
    if (rc) {
        problem(c, n, "%s must be a whole number from %d to %d, not \"%s\"",
                what, min, max, scalar(n));
        return false;
    }
    return true;
}

static bool get_duration(struct pctx *c, const yaml_node_t *n,
                         const char *what, int64_t min, int64_t max,
                         int64_t *out)
{
    if (!want(c, n, YAML_SCALAR_NODE, what))
        return false;
    int64_t v;
    if (easel_parse_duration_ms(scalar(n), &v)) {
        problem(c, n, "%s must be a duration such as 250ms, 30s or 5m, not \"%s\"",
                what, scalar(n));
        return false;
    }
    if (v < min || v > max) {
        problem(c, n, "%s must be between %lldms and %lldms, not %s", what,
                (long long)min, (long long)max, scalar(n));
        return false;
    }
    *out = v;
    return true;
}

static bool get_str_list(struct pctx *c, const yaml_node_t *n,
                         const char *what, char ***out, size_t *nout)
{
    if (!want(c, n, YAML_SEQUENCE_NODE, what))
        return false;
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    char **v = calloc(cnt + 1, sizeof(*v));
    if (!v)
        return false;
    size_t k = 0;
    bool ok = true;
    FOR_ITEMS(n, it) {
        yaml_node_t *e = node_at(c, *it);
        if (!scalar(e) || !*scalar(e)) {
            problem(c, e, "every item of %s must be a non-empty name", what);
            ok = false;
            continue;
        }
        v[k++] = easel_strdup(scalar(e));
    }
    for (size_t i = 0; i < *nout; i++)
        free((*out)[i]);
    free(*out);
    *out = v;
    *nout = k;
    return ok;
}

/* --------------------------------------------------------- YAML to JSON */

/* A mapping the registry passes on as JSON (an input template, a
 * kubernetes: section), within the node budget the whole document shares. */
static cJSON *yaml_to_json(struct pctx *c, const yaml_node_t *n)
{
    size_t budget = c->visited < MAX_NODES_VISITED ? MAX_NODES_VISITED - c->visited : 0;
    size_t before = budget;
    struct easel_yaml_problem p;
    cJSON *j = easel_yaml_to_json(c->doc, n, &budget, &p);
    c->visited += before - budget;
    if (!j && p.what)
        problem(c, p.node, "%s", p.what);
    return j;
}

/* ---------------------------------------------------------------- presets */

static const char *const variant_keys[] = {"name", "format", "width", "height",
                                           "quality", "profile", NULL};

static void parse_variant(struct pctx *c, const yaml_node_t *n,
                          const char *preset, struct easel_variant_spec *v)
{
    v->quality = 85;
    if (!want(c, n, YAML_MAPPING_NODE, "a preset variant"))
        return;
    bool have_fmt = false, have_w = false, have_h = false;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *val = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "name")) {
            get_str(c, val, "variant name", &v->name);
        } else if (!strcmp(key, "format")) {
            if (want(c, val, YAML_SCALAR_NODE, "format")) {
                if (easel_format_parse(scalar(val), &v->format))
                    problem(c, val, "format must be jpeg, webp or png, not \"%s\"",
                            scalar(val));
                else
                    have_fmt = true;
            }
        } else if (!strcmp(key, "width")) {
            have_w = get_int(c, val, "width", 1, 16384, &v->width);
        } else if (!strcmp(key, "height")) {
            have_h = get_int(c, val, "height", 1, 16384, &v->height);
        } else if (!strcmp(key, "quality")) {
            get_int(c, val, "quality", 1, 100, &v->quality);
        } else if (!strcmp(key, "profile")) {
            if (want(c, val, YAML_SCALAR_NODE, "profile")) {
                if (!strcmp(scalar(val), "srgb"))
                    v->srgb_profile = true;
                else if (strcmp(scalar(val), "none"))
                    problem(c, val, "profile must be srgb or none, not \"%s\"",
                            scalar(val));
            }
        } else {
            unknown_key(c, k, "a preset variant", variant_keys);
        }
    }
    if (!v->name)
        problem(c, n, "a variant of preset \"%s\" has no name", preset);
    else if (strchr(v->name, '/') || strstr(v->name, ".."))
        problem(c, n, "variant name \"%s\" must not contain '/' or \"..\"", v->name);
    if (!have_fmt && v->name)
        problem(c, n, "variant \"%s\" of preset \"%s\" needs a format", v->name, preset);
    if ((!have_w || !have_h) && v->name)
        problem(c, n, "variant \"%s\" of preset \"%s\" needs width and height",
                v->name, preset);
}

static void parse_presets(struct pctx *c, const yaml_node_t *n,
                          struct easel_registry *r)
{
    if (!want(c, n, YAML_MAPPING_NODE, "presets"))
        return;
    /* a second "presets:" key: the array below is sized for one mapping */
    if (r->presets) {
        problem(c, n, "presets are given twice");
        return;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    r->presets = calloc(cnt ? cnt : 1, sizeof(*r->presets));
    if (!r->presets)
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *val = node_at(c, p->value);
        if (!scalar(k) || !*scalar(k)) {
            problem(c, k, "preset names must be non-empty names");
            continue;
        }
        for (size_t i = 0; i < r->npresets; i++)
            if (!strcmp(r->presets[i].name, scalar(k)))
                problem(c, k, "preset \"%s\" is defined twice", scalar(k));
        struct easel_preset *pr = &r->presets[r->npresets++];
        pr->name = easel_strdup(scalar(k));
        if (!want(c, val, YAML_SEQUENCE_NODE, "a preset (a list of variants)"))
            continue;
        size_t nv = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
        if (nv == 0) {
            problem(c, val, "preset \"%s\" has no variants", pr->name);
            continue;
        }
        pr->variants = calloc(nv, sizeof(*pr->variants));
        if (!pr->variants)
            continue;
        FOR_ITEMS(val, it) {
            struct easel_variant_spec *v = &pr->variants[pr->nvariants++];
            parse_variant(c, node_at(c, *it), pr->name, v);
            for (size_t j = 0; v->name && j + 1 < pr->nvariants; j++)
                if (easel_str_eq(pr->variants[j].name, v->name))
                    problem(c, node_at(c, *it),
                            "variant \"%s\" appears twice in preset \"%s\"",
                            v->name, pr->name);
        }
    }
}

/* --------------------------------------------------------------- payloads */

static const char *const payload_keys[] = {
    "name", "when", "type", "model", "model_field", "images", "channel",
    "owner", "idempotency", "fields", "webhook", "webhook_events_filter", NULL};

/* A webhook event filter: a list of start, progress, output, completed. */
static void get_webhook_events(struct pctx *c, const yaml_node_t *n, unsigned *mask)
{
    if (!want(c, n, YAML_SEQUENCE_NODE, "webhook_events_filter"))
        return;
    unsigned m = 0;
    FOR_ITEMS(n, it) {
        yaml_node_t *e = node_at(c, *it);
        if (!scalar(e) || easel_webhook_event_add(scalar(e), &m))
            problem(c, e, "webhook_events_filter lists start, progress, output or completed, "
                    "not \"%s\"", scalar(e) ? scalar(e) : kind(e));
    }
    if (!m)
        problem(c, n, "webhook_events_filter must name at least one event");
    *mask = m;
}

static bool str_pair_map(struct pctx *c, const yaml_node_t *n, const char *what,
                         char ***names, char ***values, size_t *count)
{
    if (!want(c, n, YAML_MAPPING_NODE, what))
        return false;
    if (*names) {
        problem(c, n, "%s is given twice", what);
        return false;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    *names = calloc(cnt + 1, sizeof(char *));
    *values = calloc(cnt + 1, sizeof(char *));
    if (!*names || !*values)
        return false;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        if (!scalar(k) || !*scalar(k) || !scalar(v) || !*scalar(v)) {
            problem(c, k, "%s maps names to payload field names", what);
            continue;
        }
        (*names)[*count] = easel_strdup(scalar(k));
        (*values)[*count] = easel_strdup(scalar(v));
        (*count)++;
    }
    return true;
}

static void parse_payload(struct pctx *c, const yaml_node_t *n,
                          struct easel_payload_rule *pr)
{
    if (!want(c, n, YAML_MAPPING_NODE, "a payload rule"))
        return;
    const yaml_node_t *owner = NULL, *events = NULL;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "name"))
            get_str(c, v, "payload rule name", &pr->name);
        else if (!strcmp(key, "when"))
            get_str_list(c, v, "when", &pr->when, &pr->nwhen);
        else if (!strcmp(key, "type"))
            get_str(c, v, "type", &pr->type);
        else if (!strcmp(key, "model"))
            get_str(c, v, "model", &pr->model);
        else if (!strcmp(key, "model_field"))
            get_str(c, v, "model_field", &pr->model_field);
        else if (!strcmp(key, "images"))
            get_str_list(c, v, "images", &pr->images, &pr->nimages);
        else if (!strcmp(key, "channel"))
            get_str(c, v, "channel", &pr->channel_field);
        else if (!strcmp(key, "owner")) {
            owner = k;
            str_pair_map(c, v, "owner", &pr->owner_channels, &pr->owner_fields,
                         &pr->nowners);
        } else if (!strcmp(key, "idempotency"))
            get_str(c, v, "idempotency", &pr->idempotency_field);
        else if (!strcmp(key, "fields"))
            str_pair_map(c, v, "fields", &pr->field_names, &pr->field_sources,
                         &pr->nfields);
        else if (!strcmp(key, "webhook")) {
            if (get_str(c, v, "webhook", &pr->webhook) &&
                !easel_str_has_prefix(pr->webhook, "http://") &&
                !easel_str_has_prefix(pr->webhook, "https://"))
                problem(c, v, "webhook must be an http:// or https:// URL");
        } else if (!strcmp(key, "webhook_events_filter")) {
            events = k;
            get_webhook_events(c, v, &pr->webhook_events);
        } else
            unknown_key(c, k, "a payload rule", payload_keys);
    }
    if (!pr->name)
        problem(c, n, "a payload rule needs a name");
    if (!pr->nwhen)
        problem(c, n, "payload rule \"%s\" needs `when`: the fields that identify it",
                pr->name ? pr->name : "?");
    if (events && !pr->webhook)
        problem(c, events, "payload rule \"%s\" has webhook_events_filter but no webhook",
                pr->name ? pr->name : "?");
    if (owner && !pr->channel_field)
        problem(c, owner, "payload rule \"%s\" maps owners per channel but has no `channel` field",
                pr->name ? pr->name : "?");
}

/* ----------------------------------------------------------------- models */

#define MAX_COST 1000000000

/* cost: N, or a mapping of channel -> N with an optional `default`. */
static void parse_cost(struct pctx *c, const yaml_node_t *n, struct easel_model *m)
{
    if (n && n->type == YAML_SCALAR_NODE) {
        get_int(c, n, "cost", 0, MAX_COST, &m->cost);
        return;
    }
    if (!want(c, n, YAML_MAPPING_NODE, "cost (a number, or channel: number)"))
        return;
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->cost_channels = calloc(cnt + 1, sizeof(char *));
    m->cost_values = calloc(cnt + 1, sizeof(int));
    if (!m->cost_channels || !m->cost_values)
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *name = scalar(k);
        if (!name || !*name) {
            problem(c, k, "cost maps channel names (or default) to numbers");
            continue;
        }
        int val = 0;
        if (!get_int(c, v, "a cost", 0, MAX_COST, &val))
            continue;
        if (!strcmp(name, "default")) {
            m->cost = val;
            continue;
        }
        for (size_t i = 0; i < m->ncost_channels; i++)
            if (!strcmp(m->cost_channels[i], name))
                problem(c, k, "cost names channel \"%s\" twice", name);
        m->cost_channels[m->ncost_channels] = easel_strdup(name);
        m->cost_values[m->ncost_channels++] = val;
    }
}

static const char *const model_keys[] = {
    "id", "provider", "endpoint", "version", "credential_env", "input",
    "timeout", "retry", "concurrency", "rate_limit", "preset", "fallback", "description",
    "kubernetes", "checks", "input_size", "executor", "cost", NULL};
static const char *const check_keys[] = {"blank", "unchanged", "min_side", "aspect",
                                         "aspect_tolerance", "repeat", NULL};
static const char *const kube_keys[] = {"image", "resources", "nodeSelector",
                                        "tolerations", "priorityClassName",
                                        NULL};

static bool quantity_ok(const char *s)
{
    /* "500m", "2", "1.5", "64Mi", "1G", "1e3" */
    static const char *const sfx[] = {"", "m", "k", "M", "G", "T", "P", "E",
                                      "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL};
    size_t i = 0;
    if (!s || !*s)
        return false;
    while (s[i] >= '0' && s[i] <= '9')
        i++;
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i == 0)
        return false;
    for (size_t k = 0; sfx[k]; k++)
        if (!strcmp(s + i, sfx[k]))
            return true;
    return false;
}

/* Where a model's worker pods run (the kubernetes executor): checked here so
 * that a typo fails validation instead of the Job create. */
static cJSON *parse_kube(struct pctx *c, const yaml_node_t *n)
{
    if (!want(c, n, YAML_MAPPING_NODE, "kubernetes"))
        return NULL;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "image") || !strcmp(key, "priorityClassName")) {
            want(c, v, YAML_SCALAR_NODE, key);
        } else if (!strcmp(key, "nodeSelector")) {
            if (want(c, v, YAML_MAPPING_NODE, "kubernetes.nodeSelector"))
                FOR_PAIRS(v, q) {
                    want(c, node_at(c, q->value), YAML_SCALAR_NODE,
                         "a nodeSelector value");
                }
        } else if (!strcmp(key, "tolerations")) {
            want(c, v, YAML_SEQUENCE_NODE, "kubernetes.tolerations");
        } else if (!strcmp(key, "resources")) {
            if (!want(c, v, YAML_MAPPING_NODE, "kubernetes.resources"))
                continue;
            FOR_PAIRS(v, q) {
                yaml_node_t *rk = node_at(c, q->key), *rv = node_at(c, q->value);
                const char *rkey = scalar(rk) ? scalar(rk) : "";
                if (strcmp(rkey, "requests") != 0 && strcmp(rkey, "limits") != 0) {
                    problem(c, rk, "kubernetes.resources takes requests and limits, not \"%s\"",
                            rkey);
                    continue;
                }
                if (!want(c, rv, YAML_MAPPING_NODE, rkey))
                    continue;
                FOR_PAIRS(rv, e) {
                    yaml_node_t *qv = node_at(c, e->value);
                    if (want(c, qv, YAML_SCALAR_NODE, "a resource quantity") &&
                        !quantity_ok(scalar(qv)))
                        problem(c, qv, "\"%s\" is not a resource quantity (e.g. 500m, 2, 512Mi)",
                                scalar(qv));
                }
            }
        } else {
            unknown_key(c, k, "kubernetes", kube_keys);
        }
    }
    return yaml_to_json(c, n);
}
static const char *const retry_keys[] = {"max_attempts", "initial", "factor",
                                         "max", NULL};

static const char *const rate_keys[] = {"requests", "per", NULL};

/* rate_limit: {requests: N, per: DURATION} */
static void parse_rate(struct pctx *c, const yaml_node_t *n, struct easel_model *m)
{
    if (!want(c, n, YAML_MAPPING_NODE, "rate_limit"))
        return;
    m->rate_per_ms = 1000;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "requests"))
            get_int(c, v, "rate_limit.requests", 1, 1000000, &m->rate_requests);
        else if (!strcmp(key, "per"))
            get_duration(c, v, "rate_limit.per", 1, 86400000, &m->rate_per_ms);
        else
            unknown_key(c, k, "rate_limit", rate_keys);
    }
    if (!m->rate_requests)
        problem(c, n, "rate_limit needs requests (calls allowed per interval)");
}

/* checks: {blank, unchanged, min_side, aspect, aspect_tolerance, repeat} */
static void parse_checks(struct pctx *c, const yaml_node_t *n, struct easel_quality *q,
                         bool *unchanged_set)
{
    if (!want(c, n, YAML_MAPPING_NODE, "checks"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "", *val = scalar(v);
        bool off = val && !strcmp(val, "off");
        if (!strcmp(key, "blank")) {
            double d;
            if (off)
                q->blank = -1;
            else if (!val || easel_parse_double(val, &d) || d < 0 || d > 128)
                problem(c, v, "checks.blank must be a standard deviation from 0 to 128, or off");
            else
                q->blank = d;
        } else if (!strcmp(key, "unchanged")) {
            *unchanged_set = true;
            if (off)
                q->unchanged = -1;
            else
                get_int(c, v, "checks.unchanged (bits of perceptual-hash distance, or off)", 0,
                        64, &q->unchanged);
        } else if (!strcmp(key, "min_side")) {
            get_int(c, v, "checks.min_side", 1, 16384, &q->min_side);
        } else if (!strcmp(key, "aspect")) {
            int w = 0, h = 0;
            char tail;
            if (val && !strcmp(val, "any"))
                q->aspect_w = q->aspect_h = 0;
            else if (val && !strcmp(val, "match_input"))
                q->aspect_w = q->aspect_h = -1;
            else if (val && sscanf(val, "%d:%d%c", &w, &h, &tail) == 2 && w > 0 && h > 0 &&
                     w <= 10000 && h <= 10000)
                q->aspect_w = w, q->aspect_h = h;
            else
                problem(c, v, "checks.aspect must be any, match_input or W:H such as 16:9");
        } else if (!strcmp(key, "aspect_tolerance")) {
            double d;
            if (!val || easel_parse_double(val, &d) || d < 0 || d > 1)
                problem(c, v, "checks.aspect_tolerance must be a fraction from 0 to 1");
            else
                q->aspect_tolerance = d;
        } else if (!strcmp(key, "repeat")) {
            if (val && (!strcmp(val, "true") || !strcmp(val, "false")))
                q->repeat = !strcmp(val, "true");
            else
                problem(c, v, "checks.repeat must be true or false");
        } else {
            unknown_key(c, k, "checks", check_keys);
        }
    }
}

static void parse_retry(struct pctx *c, const yaml_node_t *n,
                        struct easel_retry_policy *rp)
{
    if (!want(c, n, YAML_MAPPING_NODE, "retry"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "max_attempts"))
            get_int(c, v, "retry.max_attempts", 1, 100, &rp->max_attempts);
        else if (!strcmp(key, "initial"))
            get_duration(c, v, "retry.initial", 0, 3600000, &rp->initial_ms);
        else if (!strcmp(key, "max"))
            get_duration(c, v, "retry.max", 0, 86400000, &rp->max_ms);
        else if (!strcmp(key, "factor")) {
            double f;
            if (want(c, v, YAML_SCALAR_NODE, "retry.factor")) {
                if (easel_parse_double(scalar(v), &f) || f < 1 || f > 10)
                    problem(c, v, "retry.factor must be a number from 1 to 10, not \"%s\"",
                            scalar(v));
                else
                    rp->factor = f;
            }
        } else
            unknown_key(c, k, "retry", retry_keys);
    }
    if (rp->max_ms < rp->initial_ms)
        problem(c, n, "retry.max (%lldms) is smaller than retry.initial (%lldms)",
                (long long)rp->max_ms, (long long)rp->initial_ms);
}

static bool is_provider(const char *s)
{
    for (size_t i = 0; providers[i]; i++)
        if (!strcmp(s, providers[i]))
            return true;
    return false;
}

static bool env_name_ok(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void parse_model(struct pctx *c, const yaml_node_t *n,
                        struct easel_model *m)
{
    m->timeout_ms = 120000;
    easel_retry_policy_default(&m->retry);
    m->quality = (struct easel_quality){.blank = 2.0, .unchanged = 0, .min_side = 16,
                                        .aspect_tolerance = 0.05, .repeat = true};
    bool unchanged_set = false, cost_set = false;
    if (!want(c, n, YAML_MAPPING_NODE, "a model"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "id")) {
            get_str(c, v, "model id", &m->id);
        } else if (!strcmp(key, "provider")) {
            if (get_str(c, v, "provider", &m->provider) && !is_provider(m->provider))
                problem(c, v, "unknown provider \"%s\" (known: replicate, openai, gemini, imagen, local, noop)",
                        m->provider);
        } else if (!strcmp(key, "endpoint")) {
            if (get_str(c, v, "endpoint", &m->endpoint) &&
                !easel_str_has_prefix(m->endpoint, "http://") &&
                !easel_str_has_prefix(m->endpoint, "https://"))
                problem(c, v, "endpoint must be an http:// or https:// URL, not \"%s\"",
                        m->endpoint);
        } else if (!strcmp(key, "version")) {
            get_str(c, v, "version", &m->version);
        } else if (!strcmp(key, "credential_env")) {
            if (get_str(c, v, "credential_env", &m->credential_env) &&
                !env_name_ok(m->credential_env))
                problem(c, v, "credential_env must name an environment variable, not \"%s\"",
                        m->credential_env);
        } else if (!strcmp(key, "input")) {
            cJSON_Delete(m->input);
            m->input = yaml_to_json(c, v);
            if (m->input && !cJSON_IsObject(m->input)) {
                problem(c, v, "input must be a mapping (the provider request template)");
                cJSON_Delete(m->input);
                m->input = NULL;
            }
        } else if (!strcmp(key, "timeout")) {
            get_duration(c, v, "timeout", 1, 86400000, &m->timeout_ms);
        } else if (!strcmp(key, "rate_limit")) {
            parse_rate(c, v, m);
        } else if (!strcmp(key, "retry")) {
            parse_retry(c, v, &m->retry);
        } else if (!strcmp(key, "concurrency")) {
            get_int(c, v, "concurrency", 0, 100000, &m->concurrency);
        } else if (!strcmp(key, "cost")) {
            if (cost_set)
                problem(c, v, "cost is given twice");
            else
                parse_cost(c, v, m);
            cost_set = true;
        } else if (!strcmp(key, "preset")) {
            get_str(c, v, "preset", &m->preset);
        } else if (!strcmp(key, "fallback")) {
            get_str_list(c, v, "fallback", &m->fallback, &m->nfallback);
        } else if (!strcmp(key, "description")) {
            want(c, v, YAML_SCALAR_NODE, "description");
        } else if (!strcmp(key, "kubernetes")) {
            cJSON_Delete(m->kube);
            m->kube = parse_kube(c, v);
        } else if (!strcmp(key, "input_size")) {
            get_int(c, v, "input_size", 64, 8192, &m->input_edge);
        } else if (!strcmp(key, "checks")) {
            parse_checks(c, v, &m->quality, &unchanged_set);
        } else if (!strcmp(key, "executor")) {
            const char *e = want(c, v, YAML_SCALAR_NODE, "executor") ? scalar(v) : NULL;
            m->exec_line = v ? (int)v->start_mark.line + 1 : 1;
            m->exec_col = v ? (int)v->start_mark.column + 1 : 1;
            if (e && !strcmp(e, "pod"))
                m->executor = EASEL_MODEL_EXEC_POD;
            else if (e && !strcmp(e, "local"))
                m->executor = EASEL_MODEL_EXEC_LOCAL;
            else if (e && !strcmp(e, "pool"))
                m->executor = EASEL_MODEL_EXEC_POOL;
            else if (e)
                problem(c, v, "executor must be pod, pool or local, not \"%s\"", e);
        } else {
            unknown_key(c, k, "a model", model_keys);
        }
    }
    if (!m->id)
        problem(c, n, "a model needs an id");
    if (!m->provider)
        problem(c, n, "model \"%s\" needs a provider", m->id ? m->id : "?");
    if (!m->preset)
        m->preset = easel_strdup("default");
    /* the local stand-in grades colours, which a perceptual hash does not
     * see: "unchanged" would always fire */
    if (!unchanged_set && m->provider && !strcmp(m->provider, "local"))
        m->quality.unchanged = -1;
}

/* ------------------------------------------------------------- document */

static const char *const top_keys[] = {"version", "default_model",
                                       "idempotency_window", "presets",
                                       "payloads", "models", "breaker", "storage", "formats",
                                       "credits", "records", "size_charts", NULL};
static const char *const breaker_keys[] = {"failures", "cooldown", NULL};
static const char *const storage_keys[] = {"paths", NULL};
static const char *const path_keys[] = {"b2b", "b2c", "default", NULL};

/* storage: {paths: {b2b: TEMPLATE, b2c: TEMPLATE, default: TEMPLATE}} */
static void parse_storage(struct pctx *c, const yaml_node_t *n, struct easel_registry *r)
{
    if (!want(c, n, YAML_MAPPING_NODE, "storage"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (strcmp(key, "paths") != 0) {
            unknown_key(c, k, "storage", storage_keys);
            continue;
        }
        if (!want(c, v, YAML_MAPPING_NODE, "storage.paths"))
            continue;
        FOR_PAIRS(v, pp) {
            yaml_node_t *pk = node_at(c, pp->key), *pv = node_at(c, pp->value);
            const char *ch = scalar(pk) ? scalar(pk) : "";
            int i = !strcmp(ch, "b2b") ? 0 : !strcmp(ch, "b2c") ? 1 : !strcmp(ch, "default") ? 2 : -1;
            if (i < 0) {
                unknown_key(c, pk, "storage.paths", path_keys);
                continue;
            }
            char why[300];
            if (get_str(c, pv, "storage.paths", &r->paths[i]) &&
                easel_key_template_check(r->paths[i], why, sizeof(why)))
                problem(c, pv, "storage.paths.%s: %s", ch, why);
        }
    }
}

/* ------------------------------------------------------------- credits */

static const char *const credits_keys[] = {"mode", "reserve", "consume", "refund",
                                           "abandon_after", NULL};
static const char *const stmt_keys[] = {"sql", "args", NULL};

/* The highest $N of a statement, outside quoted text and comments, and
 * whether every $1..$N appears; -1 for a $ that cannot be read. */
static int placeholders(const char *sql, bool *dense)
{
    bool seen[EASEL_APP_MAX_ARGS + 1] = {0};
    int top = 0;
    for (const char *p = sql; *p; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            while (*++p && *p != q)
                ;
            if (!*p)
                return -1;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int n = 0;
            while (p[1] >= '0' && p[1] <= '9' && n <= EASEL_APP_MAX_ARGS)
                n = n * 10 + (*++p - '0');
            if (n < 1 || n > EASEL_APP_MAX_ARGS)
                return -1;
            seen[n] = true;
            if (n > top)
                top = n;
        } else if (*p == '$') {
            return -1; /* dollar quoting: not for one call */
        }
    }
    *dense = true;
    for (int i = 1; i <= top; i++)
        *dense = *dense && seen[i];
    return top;
}

/* reserve: {sql: "select app.reserve($1, $2)", args: [key, amount]} */
static void parse_stmt(struct pctx *c, const yaml_node_t *n, const char *what,
                       struct easel_app_stmt *st)
{
    st->line = n ? (int)n->start_mark.line + 1 : 1;
    st->col = n ? (int)n->start_mark.column + 1 : 1;
    if (!want(c, n, YAML_MAPPING_NODE, what))
        return;
    const yaml_node_t *args = NULL;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "sql"))
            get_str(c, v, "credits sql", &st->sql);
        else if (!strcmp(key, "args"))
            args = v;
        else
            unknown_key(c, k, what, stmt_keys);
    }
    if (!st->sql) {
        problem(c, n, "%s needs sql: the statement, with $1, $2, ... for its args", what);
        return;
    }
    if (args && want(c, args, YAML_SEQUENCE_NODE, "args")) {
        FOR_ITEMS(args, it) {
            yaml_node_t *a = node_at(c, *it);
            const char *name = scalar(a) ? scalar(a) : "";
            int found = -1;
            for (int i = 0; i < EASEL_ARG_COUNT && found < 0; i++)
                if (!strcmp(name, easel_app_arg_name((enum easel_app_arg)i)))
                    found = i;
            if (found < 0) {
                problem(c, a, "%s: \"%s\" is not an argument (key, job_id, reservation, "
                        "owner, channel, owner_key, amount, model, status, reason)", what, name);
            } else if (st->nargs == EASEL_APP_MAX_ARGS) {
                problem(c, a, "%s: at most %d args", what, EASEL_APP_MAX_ARGS);
                break;
            } else {
                st->args[st->nargs++] = (enum easel_app_arg)found;
            }
        }
    }
    bool dense = false;
    int top = placeholders(st->sql, &dense);
    if (top < 0)
        problem(c, n, "%s: the sql has a $ that is not $1 to $%d, or an unclosed quote "
                "(one call, no dollar quoting)", what, EASEL_APP_MAX_ARGS);
    else if (top != st->nargs || !dense)
        problem(c, n, "%s: the sql uses $1 to $%d but %d args are given; each $N takes "
                "the N-th of args", what, top, st->nargs);
}

/* credits: {mode: internal|external, reserve, consume, refund, abandon_after} */
static void parse_credits(struct pctx *c, const yaml_node_t *n, struct easel_registry *r)
{
    struct easel_credits_cfg *cr = &r->credits;
    cr->line = n ? (int)n->start_mark.line + 1 : 1;
    cr->col = n ? (int)n->start_mark.column + 1 : 1;
    if (!want(c, n, YAML_MAPPING_NODE, "credits"))
        return;
    const yaml_node_t *mode = NULL;
    bool any_stmt = false;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "mode")) {
            mode = v;
            const char *m = scalar(v) ? scalar(v) : "";
            if (!strcmp(m, "external"))
                cr->external = true;
            else if (strcmp(m, "internal"))
                problem(c, v, "credits.mode must be internal or external, not \"%s\"", m);
        } else if (!strcmp(key, "reserve")) {
            parse_stmt(c, v, "credits.reserve", &cr->reserve);
            any_stmt = true;
        } else if (!strcmp(key, "consume")) {
            parse_stmt(c, v, "credits.consume", &cr->consume);
            any_stmt = true;
        } else if (!strcmp(key, "refund")) {
            parse_stmt(c, v, "credits.refund", &cr->refund);
            any_stmt = true;
        } else if (!strcmp(key, "abandon_after")) {
            get_duration(c, v, "credits.abandon_after", 60000, 7LL * 86400000, &cr->abandon_ms);
        } else {
            unknown_key(c, k, "credits", credits_keys);
        }
    }
    if (!cr->external && any_stmt)
        problem(c, mode ? mode : n, "credits: reserve, consume and refund are for mode: "
                "external (the internal ledger needs no statements)");
    if (cr->external) {
        const struct { const struct easel_app_stmt *st; const char *name; } need[] = {
            {&cr->reserve, "reserve"}, {&cr->consume, "consume"}, {&cr->refund, "refund"}};
        for (size_t i = 0; i < 3; i++)
            if (!need[i].st->line)
                problem(c, n, "credits: mode external needs %s: {sql, args}", need[i].name);
    }
}

/* ------------------------------------------------------------- records */

static const char *const record_keys[] = {"name", "rule", "channel", "table", "key", "on",
                                          NULL};
static const char *const record_key_keys[] = {"column", "field", NULL};

/* A plain SQL identifier: what the app's schema is checked for and what
 * is quoted into statements; nothing else reaches SQL text. */
static bool ident_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 63 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                         *s == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static void parse_rec_value(struct pctx *c, const yaml_node_t *v, struct easel_rec_col *col)
{
    static const struct {
        const char *name;
        enum easel_rec_value kind;
    } specials[] = {{"$now", EASEL_REC_NOW},         {"$error", EASEL_REC_ERROR},
                    {"$reason", EASEL_REC_REASON},   {"$job_id", EASEL_REC_JOB_ID},
                    {"$status", EASEL_REC_STATUS},   {"$model", EASEL_REC_MODEL},
                    {"$result_url", EASEL_REC_RESULT_URL}, {"$null", EASEL_REC_NULL}};
    const char *s = scalar(v);
    if (!s) {
        problem(c, v, "records: the value of column %s must be a single value", col->column);
        return;
    }
    if (s[0] != '$') {
        col->kind = EASEL_REC_LITERAL;
        col->text = easel_strdup(s);
        return;
    }
    if (s[1] == '$') { /* $$x: the text "$x" */
        col->kind = EASEL_REC_LITERAL;
        col->text = easel_strdup(s + 1);
        return;
    }
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
        if (!strcmp(s, specials[i].name)) {
            col->kind = specials[i].kind;
            return;
        }
    if (!strncmp(s, "$variant.", 9) && s[9]) {
        col->kind = EASEL_REC_VARIANT;
        col->text = easel_strdup(s + 9);
        return;
    }
    problem(c, v, "records: \"%s\" is not a value (a text, or $now, $error, $reason, $job_id, "
            "$status, $model, $result_url, $variant.NAME, $null; $$ for a literal $)", s);
}

static void parse_record(struct pctx *c, const yaml_node_t *n, struct easel_record_rule *rr)
{
    rr->line = n ? (int)n->start_mark.line + 1 : 1;
    rr->col = n ? (int)n->start_mark.column + 1 : 1;
    if (!want(c, n, YAML_MAPPING_NODE, "a record rule"))
        return;
    char *table = NULL;
    bool have_on = false;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "name")) {
            get_str(c, v, "records.name", &rr->name);
        } else if (!strcmp(key, "rule")) {
            get_str(c, v, "records.rule", &rr->rule);
        } else if (!strcmp(key, "channel")) {
            get_str(c, v, "records.channel", &rr->channel);
        } else if (!strcmp(key, "table")) {
            rr->table_line = (int)v->start_mark.line + 1;
            get_str(c, v, "records.table", &table);
        } else if (!strcmp(key, "key")) {
            rr->key_line = (int)v->start_mark.line + 1;
            if (!want(c, v, YAML_MAPPING_NODE, "records.key"))
                continue;
            FOR_PAIRS(v, kp) {
                yaml_node_t *kk = node_at(c, kp->key), *kv = node_at(c, kp->value);
                const char *kn = scalar(kk) ? scalar(kk) : "";
                if (!strcmp(kn, "column")) {
                    if (get_str(c, kv, "records.key.column", &rr->key_column) &&
                        !ident_ok(rr->key_column))
                        problem(c, kv, "records.key.column \"%s\" is not a plain column name "
                                "(letters, digits, _)", rr->key_column);
                } else if (!strcmp(kn, "field")) {
                    get_str(c, kv, "records.key.field", &rr->key_field);
                } else {
                    unknown_key(c, kk, "records.key", record_key_keys);
                }
            }
        } else if (!strcmp(key, "on")) {
            have_on = true;
            if (!want(c, v, YAML_MAPPING_NODE, "records.on"))
                continue;
            FOR_PAIRS(v, sp) {
                yaml_node_t *sk = node_at(c, sp->key), *sv = node_at(c, sp->value);
                enum easel_status st;
                if (!scalar(sk) || easel_status_parse(scalar(sk), &st)) {
                    problem(c, sk, "records.on: \"%s\" is not a job status (queued, dispatched, "
                            "running, retrying, succeeded, failed, dead, canceled)",
                            scalar(sk) ? scalar(sk) : "?");
                    continue;
                }
                struct easel_rec_set *set = &rr->on[st];
                if (set->cols) {
                    problem(c, sk, "records.on.%s is given twice", scalar(sk));
                    continue;
                }
                if (!want(c, sv, YAML_MAPPING_NODE, "records.on.STATUS"))
                    continue;
                size_t cnt = (size_t)(sv->data.mapping.pairs.top - sv->data.mapping.pairs.start);
                set->cols = calloc(cnt ? cnt : 1, sizeof(*set->cols));
                if (!set->cols)
                    continue;
                FOR_PAIRS(sv, cp) {
                    yaml_node_t *ck = node_at(c, cp->key), *cv = node_at(c, cp->value);
                    struct easel_rec_col *col = &set->cols[set->ncols];
                    col->line = (int)ck->start_mark.line + 1;
                    col->col = (int)ck->start_mark.column + 1;
                    if (!scalar(ck) || !ident_ok(scalar(ck))) {
                        problem(c, ck, "records: \"%s\" is not a plain column name (letters, "
                                "digits, _)", scalar(ck) ? scalar(ck) : "?");
                        continue;
                    }
                    col->column = easel_strdup(scalar(ck));
                    set->ncols++;
                    parse_rec_value(c, cv, col);
                }
            }
        } else {
            unknown_key(c, k, "a record rule", record_keys);
        }
    }
    if (table) {
        char *dot = strchr(table, '.');
        if (dot) {
            *dot = '\0';
            rr->schema = easel_strdup(table);
            rr->table = easel_strdup(dot + 1);
        } else {
            rr->table = easel_strdup(table);
        }
        if ((rr->schema && !ident_ok(rr->schema)) || !ident_ok(rr->table))
            problem(c, n, "records.table \"%s%s%s\" is not TABLE or SCHEMA.TABLE of plain names",
                    rr->schema ? rr->schema : "", rr->schema ? "." : "", rr->table ? rr->table : "");
        free(table);
    }
    const char *nm = rr->name ? rr->name : "?";
    if (!rr->name)
        problem(c, n, "a record rule needs a name");
    if (!!rr->rule == !!rr->channel)
        problem(c, n, "record rule \"%s\" needs one of rule (a payload rule's name) or channel", nm);
    if (!rr->table)
        problem(c, n, "record rule \"%s\" needs table", nm);
    if (!rr->key_column || !rr->key_field)
        problem(c, n, "record rule \"%s\" needs key: {column, field}", nm);
    if (!have_on)
        problem(c, n, "record rule \"%s\" needs on: the columns to set for each status", nm);
}

static const yaml_node_t *find_model_node(struct pctx *c, const yaml_node_t *models,
                                          size_t i)
{
    if (!models || models->type != YAML_SEQUENCE_NODE)
        return NULL;
    yaml_node_item_t *it = models->data.sequence.items.start + i;
    return it < models->data.sequence.items.top ? node_at(c, *it) : NULL;
}

/* Cross-references: ids unique, presets, fallbacks and defaults defined. */
static void check_refs(struct pctx *c, struct easel_registry *r,
                       const yaml_node_t *root, const yaml_node_t *models,
                       const yaml_node_t *payloads, const yaml_node_t *dflt)
{
    for (size_t i = 0; i < r->nmodels; i++) {
        const struct easel_model *m = &r->models[i];
        const yaml_node_t *mn = find_model_node(c, models, i);
        if (!m->id)
            continue;
        for (size_t j = 0; j < i; j++)
            if (easel_str_eq(r->models[j].id, m->id))
                problem(c, mn, "model id \"%s\" is defined twice", m->id);
        if (m->preset && !easel_registry_preset(r, m->preset) &&
            !reg_builtin_preset_exists(m->preset))
            problem(c, mn, "model \"%s\" uses preset \"%s\", which is not defined",
                    m->id, m->preset);
        for (size_t f = 0; f < m->nfallback; f++) {
            if (!strcmp(m->fallback[f], m->id))
                problem(c, mn, "model \"%s\" lists itself as a fallback", m->id);
            else if (!easel_registry_model(r, m->fallback[f]))
                problem(c, mn, "fallback \"%s\" of model \"%s\" is not a model here",
                        m->fallback[f], m->id);
        }
    }
    for (size_t i = 0; i < r->npayloads; i++) {
        const struct easel_payload_rule *p = &r->payloads[i];
        const yaml_node_t *pn = NULL;
        if (payloads && payloads->type == YAML_SEQUENCE_NODE &&
            payloads->data.sequence.items.start + i < payloads->data.sequence.items.top)
            pn = node_at(c, payloads->data.sequence.items.start[i]);
        for (size_t j = 0; p->name && j < i; j++)
            if (easel_str_eq(r->payloads[j].name, p->name))
                problem(c, pn, "payload rule \"%s\" is defined twice", p->name);
        if (p->model && !easel_registry_model(r, p->model))
            problem(c, pn, "payload rule \"%s\" names model \"%s\", which is not defined",
                    p->name ? p->name : "?", p->model);
    }
    for (size_t i = 0; i < r->nrecords; i++) {
        const struct easel_record_rule *rr = &r->records[i];
        for (size_t j = 0; rr->name && j < i; j++)
            if (easel_str_eq(r->records[j].name, rr->name)) {
                easel_diags_add(c->d, rr->line, rr->col, "record rule \"%s\" is defined twice",
                                rr->name);
                c->problems++;
            }
        bool found = !rr->rule;
        for (size_t j = 0; !found && j < r->npayloads; j++)
            found = easel_str_eq(r->payloads[j].name, rr->rule);
        if (!found) {
            easel_diags_add(c->d, rr->line, rr->col,
                            "record rule \"%s\" names payload rule \"%s\", which is not defined",
                            rr->name ? rr->name : "?", rr->rule);
            c->problems++;
        }
    }
    if (r->nmodels == 0) {
        problem(c, models ? models : root, "the registry defines no models");
    } else if (r->default_model) {
        if (!easel_registry_model(r, r->default_model))
            problem(c, dflt, "default_model \"%s\" is not defined under models",
                    r->default_model);
    } else if (r->models[0].id) {
        r->default_model = easel_strdup(r->models[0].id);
    }
}

/* size_charts: [{name, sizes: [{name, MEASURE: [lo, hi], ...}, ...]}]:
 * sizes from small to large, each with a range in cm for one or more of
 * the measurements easel takes. */
static const char *const chart_keys[] = {"name", "sizes", NULL};

static void parse_size(struct pctx *c, const yaml_node_t *n, struct easel_size *z)
{
    if (!want(c, n, YAML_MAPPING_NODE, "a size"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        enum easel_measure m;
        if (!strcmp(key, "name")) {
            get_str(c, v, "size name", &z->name);
            continue;
        }
        if (!easel_measure_parse(key, &m)) {
            static const char *const keys[] = {"name", "shoulder_width", "hip_width",
                                               "torso_length", "arm_length", "inseam", NULL};
            unknown_key(c, k, "a size", keys);
            continue;
        }
        double lh[2];
        int got = 0;
        if (v && v->type == YAML_SEQUENCE_NODE) {
            FOR_ITEMS(v, it) {
                const char *t = scalar(node_at(c, *it));
                char *end = NULL;
                double d = t ? strtod(t, &end) : NAN;
                if (got >= 2 || !t || !*t || (end && *end) || !(d >= 1 && d <= 300)) {
                    got = -1;
                    break;
                }
                lh[got++] = d;
            }
        }
        if (got != 2 || lh[0] >= lh[1]) {
            problem(c, v, "%s must be a range [low, high] in centimetres, low below high, "
                    "both from 1 to 300", key);
            continue;
        }
        z->has |= 1u << m;
        z->lo[m] = lh[0];
        z->hi[m] = lh[1];
    }
    if (!z->name)
        problem(c, n, "a size needs a name");
    else if (!z->has)
        problem(c, n, "size \"%s\" gives no measurement range (shoulder_width, hip_width, "
                "torso_length, arm_length or inseam)", z->name);
}

static void parse_chart(struct pctx *c, const yaml_node_t *n, struct easel_size_chart *ch)
{
    const yaml_node_t *sizes = NULL;
    if (!want(c, n, YAML_MAPPING_NODE, "a size chart"))
        return;
    FOR_PAIRS(n, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "name"))
            get_str(c, v, "size chart name", &ch->name);
        else if (!strcmp(key, "sizes"))
            sizes = v;
        else
            unknown_key(c, k, "a size chart", chart_keys);
    }
    if (!ch->name) {
        problem(c, n, "a size chart needs a name (\"default\", or a b2b store's id)");
        return;
    }
    if (!sizes || sizes->type != YAML_SEQUENCE_NODE ||
        sizes->data.sequence.items.top == sizes->data.sequence.items.start) {
        problem(c, sizes ? sizes : n, "size chart \"%s\" needs sizes: a list from small to "
                "large", ch->name);
        return;
    }
    size_t cnt = (size_t)(sizes->data.sequence.items.top - sizes->data.sequence.items.start);
    ch->sizes = calloc(cnt, sizeof(*ch->sizes));
    if (!ch->sizes)
        return;
    FOR_ITEMS(sizes, it) {
        const yaml_node_t *sn = node_at(c, *it);
        struct easel_size *z = &ch->sizes[ch->nsizes++];
        parse_size(c, sn, z);
        for (size_t j = 0; z->name && j + 1 < ch->nsizes; j++)
            if (ch->sizes[j].name && !strcmp(ch->sizes[j].name, z->name))
                problem(c, sn, "size \"%s\" is given twice in chart \"%s\"", z->name,
                        ch->name);
    }
}

static void parse_root(struct pctx *c, const yaml_node_t *root,
                       struct easel_registry *r)
{
    const yaml_node_t *models = NULL, *payloads = NULL, *dflt = NULL;
    if (!want(c, root, YAML_MAPPING_NODE, "the registry document"))
        return;
    FOR_PAIRS(root, p) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k) ? scalar(k) : "";
        if (!strcmp(key, "version")) {
            int ver = 0;
            if (get_int(c, v, "version", 1, 1000, &ver) && ver != 1)
                problem(c, v, "registry version %d is not supported (this easel reads version 1)",
                        ver);
        } else if (!strcmp(key, "default_model")) {
            dflt = v;
            get_str(c, v, "default_model", &r->default_model);
        } else if (!strcmp(key, "idempotency_window")) {
            get_duration(c, v, "idempotency_window", 1000, 30LL * 86400000,
                         &r->idempotency_window_ms);
        } else if (!strcmp(key, "breaker")) {
            if (want(c, v, YAML_MAPPING_NODE, "breaker")) {
                FOR_PAIRS(v, bp) {
                    yaml_node_t *bk = node_at(c, bp->key), *bv = node_at(c, bp->value);
                    const char *bn = scalar(bk) ? scalar(bk) : "";
                    if (!strcmp(bn, "failures"))
                        get_int(c, bv, "breaker.failures", 1, 10000, &r->breaker_failures);
                    else if (!strcmp(bn, "cooldown"))
                        get_duration(c, bv, "breaker.cooldown", 100, 86400000,
                                     &r->breaker_cooldown_ms);
                    else
                        unknown_key(c, bk, "breaker", breaker_keys);
                }
            }
        } else if (!strcmp(key, "storage")) {
            parse_storage(c, v, r);
        } else if (!strcmp(key, "formats")) {
            if (want(c, v, YAML_SEQUENCE_NODE, "formats")) {
                FOR_ITEMS(v, it) {
                    yaml_node_t *e = node_at(c, *it);
                    enum easel_format f;
                    if (scalar(e) && !easel_input_format_parse(scalar(e), &f))
                        r->input_formats |= EASEL_FMT_BIT(f);
                    else
                        problem(c, e, "formats: \"%s\" cannot be enabled (gif and tiff can; JPEG, "
                                "PNG and WebP always are; HEIF, AVIF, SVG and PDF loaders are not "
                                "loaded at all)", scalar(e) ? scalar(e) : "?");
                }
            }
        } else if (!strcmp(key, "presets")) {
            parse_presets(c, v, r);
        } else if (!strcmp(key, "credits")) {
            parse_credits(c, v, r);
        } else if (!strcmp(key, "records")) {
            if (!want(c, v, YAML_SEQUENCE_NODE, "records"))
                continue;
            if (r->records) {
                problem(c, k, "records are given twice");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            r->records = calloc(cnt ? cnt : 1, sizeof(*r->records));
            if (!r->records)
                continue;
            FOR_ITEMS(v, it)
                parse_record(c, node_at(c, *it), &r->records[r->nrecords++]);
        } else if (!strcmp(key, "size_charts")) {
            if (!want(c, v, YAML_SEQUENCE_NODE, "size_charts"))
                continue;
            if (r->charts) {
                problem(c, k, "size_charts are given twice");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            r->charts = calloc(cnt ? cnt : 1, sizeof(*r->charts));
            if (!r->charts)
                continue;
            FOR_ITEMS(v, it) {
                const yaml_node_t *cn = node_at(c, *it);
                struct easel_size_chart *ch = &r->charts[r->ncharts++];
                parse_chart(c, cn, ch);
                for (size_t j = 0; ch->name && j + 1 < r->ncharts; j++)
                    if (r->charts[j].name && !strcmp(r->charts[j].name, ch->name))
                        problem(c, cn, "size chart \"%s\" is given twice", ch->name);
            }
        } else if (!strcmp(key, "payloads")) {
            payloads = v;
            if (!want(c, v, YAML_SEQUENCE_NODE, "payloads"))
                continue;
            /* each list is counted into an array sized for it alone */
            if (r->payloads) {
                problem(c, k, "payloads are given twice");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            r->payloads = calloc(cnt ? cnt : 1, sizeof(*r->payloads));
            if (!r->payloads)
                continue;
            FOR_ITEMS(v, it)
                parse_payload(c, node_at(c, *it), &r->payloads[r->npayloads++]);
        } else if (!strcmp(key, "models")) {
            models = v;
            if (!want(c, v, YAML_SEQUENCE_NODE, "models"))
                continue;
            if (r->models) {
                problem(c, k, "models are given twice");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            r->models = calloc(cnt ? cnt : 1, sizeof(*r->models));
            if (!r->models)
                continue;
            FOR_ITEMS(v, it)
                parse_model(c, node_at(c, *it), &r->models[r->nmodels++]);
        } else {
            unknown_key(c, k, "the registry", top_keys);
        }
    }
    check_refs(c, r, root, models, payloads, dflt);
}

easel_err easel_registry_parse(const char *text, size_t len,
                               const char *source, struct easel_registry **out,
                               struct easel_diags *diags)
{
    *out = NULL;
    if (len > REG_MAX_DOC) {
        easel_diags_add(diags, 1, 1, "the registry is %zu bytes; the limit is %d",
                 len, REG_MAX_DOC);
        return EASEL_EPARSE;
    }
    struct easel_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return EASEL_ENOMEM;
    r->refs = 1;
    r->source = easel_strdup(source ? source : "registry");
    r->idempotency_window_ms = 24LL * 3600 * 1000;
    r->credits.abandon_ms = 10LL * 60 * 1000;
    r->breaker_failures = 5;
    r->breaker_cooldown_ms = 30000;

    yaml_parser_t parser;
    yaml_document_t doc;
    struct pctx c = {.doc = &doc, .d = diags};
    if (!yaml_parser_initialize(&parser)) {
        reg_free(r);
        return EASEL_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        easel_diags_add(diags, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1, "YAML syntax: %s%s%s",
                 parser.problem ? parser.problem : "unreadable document",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        reg_free(r);
        return EASEL_EPARSE;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        easel_diags_add(diags, 1, 1, "the registry is empty");
        c.problems++;
    } else {
        parse_root(&c, root, r);
    }
    yaml_document_delete(&doc);
    /* A second document in the stream is almost always a mistake. */
    if (!c.problems && yaml_parser_load(&parser, &doc)) {
        if (yaml_document_get_root_node(&doc)) {
            easel_diags_add(diags, (int)doc.start_mark.line + 1, 1,
                     "the registry holds more than one YAML document; only one is allowed");
            c.problems++;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);

    if (!c.problems && reg_add_builtin_presets(r) != EASEL_OK) {
        reg_free(r);
        return EASEL_ENOMEM;
    }
    if (c.problems) {
        reg_free(r);
        return EASEL_EPARSE;
    }
    *out = r;
    return EASEL_OK;
}

easel_err easel_registry_load_file(const char *path,
                                   struct easel_registry **out,
                                   struct easel_diags *diags)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    easel_err rc = easel_read_file(path, REG_MAX_DOC, &text, &len);
    if (rc) {
        easel_diags_add(diags, 1, 1, "cannot read the registry: %s",
                 rc == EASEL_ELIMIT ? "larger than 1 MiB" : easel_strerror(rc));
        return rc == EASEL_ENOTFOUND ? EASEL_ENOTFOUND : EASEL_EPARSE;
    }
    rc = easel_registry_parse(text, len, path, out, diags);
    free(text);
    return rc;
}
