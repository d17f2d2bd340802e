/*
 * registry.c - lifetime and lookups of a loaded registry, the built-in
 * presets and the embedded registry used when none is configured.
 */
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

/* ------------------------------------------------------------- lifetime */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void reg_preset_cleanup(struct easel_preset *p)
{
    for (size_t i = 0; i < p->nvariants; i++)
        free(p->variants[i].name);
    free(p->variants);
    free(p->name);
}

static void model_cleanup(struct easel_model *m)
{
    free(m->id);
    free(m->provider);
    free(m->endpoint);
    free(m->version);
    free(m->credential_env);
    cJSON_Delete(m->input);
    cJSON_Delete(m->kube);
    free(m->preset);
    free_strv(m->fallback, m->nfallback);
    free_strv(m->cost_channels, m->ncost_channels);
    free(m->cost_values);
}

static void rule_cleanup(struct easel_payload_rule *p)
{
    free(p->name);
    free_strv(p->when, p->nwhen);
    free(p->type);
    free(p->model);
    free(p->model_field);
    free_strv(p->images, p->nimages);
    free(p->channel_field);
    free_strv(p->owner_channels, p->nowners);
    free_strv(p->owner_fields, p->nowners);
    free_strv(p->field_names, p->nfields);
    free_strv(p->field_sources, p->nfields);
    free(p->idempotency_field);
    free(p->webhook);
}

void reg_free(struct easel_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmodels; i++)
        model_cleanup(&r->models[i]);
    free(r->models);
    for (size_t i = 0; i < r->npresets; i++)
        reg_preset_cleanup(&r->presets[i]);
    free(r->presets);
    for (size_t i = 0; i < r->npayloads; i++)
        rule_cleanup(&r->payloads[i]);
    free(r->payloads);
    free(r->default_model);
    for (int i = 0; i < 3; i++)
        free(r->paths[i]);
    free(r->credits.reserve.sql);
    free(r->credits.consume.sql);
    free(r->credits.refund.sql);
    for (size_t i = 0; i < r->nrecords; i++) {
        struct easel_record_rule *rr = &r->records[i];
        free(rr->name);
        free(rr->rule);
        free(rr->channel);
        free(rr->schema);
        free(rr->table);
        free(rr->key_column);
        free(rr->key_field);
        for (int s = 0; s < EASEL_STATUS_COUNT; s++) {
            for (size_t k = 0; k < rr->on[s].ncols; k++) {
                free(rr->on[s].cols[k].column);
                free(rr->on[s].cols[k].text);
            }
            free(rr->on[s].cols);
        }
    }
    free(r->records);
    for (size_t i = 0; i < r->ncharts; i++)
        easel_size_chart_free(&r->charts[i]);
    free(r->charts);
    free(r->source);
    free(r);
}

const struct easel_record_rule *easel_registry_record(const struct easel_registry *r,
                                                      const char *name)
{
    for (size_t i = 0; r && name && i < r->nrecords; i++)
        if (easel_str_eq(r->records[i].name, name))
            return &r->records[i];
    return NULL;
}

const struct easel_record_rule *easel_registry_record_for(const struct easel_registry *r,
                                                          const struct easel_intake *in,
                                                          char **key)
{
    *key = NULL;
    for (size_t i = 0; r && in && i < r->nrecords; i++) {
        const struct easel_record_rule *rr = &r->records[i];
        if (rr->rule ? !easel_str_eq(rr->rule, in->rule) : !easel_str_eq(rr->channel, in->channel))
            continue;
        const cJSON *v = in->payload ? reg_lookup(in->payload, rr->key_field) : NULL;
        char num[48];
        if (cJSON_IsString(v) && *v->valuestring) {
            *key = easel_strdup(v->valuestring);
        } else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
            easel_fmt_cut(num, sizeof(num), "%lld", (long long)v->valuedouble);
            *key = easel_strdup(num);
        }
        return *key ? rr : NULL;
    }
    return NULL;
}

const char *easel_app_arg_name(enum easel_app_arg a)
{
    static const char *const names[EASEL_ARG_COUNT] = {
        "key", "job_id", "reservation", "owner", "channel", "owner_key",
        "amount", "model", "status", "reason"};
    return (unsigned)a < EASEL_ARG_COUNT ? names[a] : "?";
}

struct easel_registry *easel_registry_ref(struct easel_registry *r)
{
    if (r)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

void easel_registry_unref(struct easel_registry *r)
{
    if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
        reg_free(r);
}

const struct easel_model *easel_registry_model(const struct easel_registry *r,
                                               const char *id)
{
    for (size_t i = 0; r && id && i < r->nmodels; i++)
        if (easel_str_eq(r->models[i].id, id))
            return &r->models[i];
    return NULL;
}

/* The chain's i-th model: the model itself, then its fallbacks, in order. */
static const struct easel_model *chain_at(const struct easel_registry *r,
                                          const struct easel_model *m, size_t i)
{
    if (i == 0)
        return m;
    return i - 1 < m->nfallback ? easel_registry_model(r, m->fallback[i - 1]) : NULL;
}

static int attempts_of(const struct easel_model *m)
{
    return m->retry.max_attempts > 0 ? m->retry.max_attempts : 1;
}

int easel_registry_chain_attempts(const struct easel_registry *r, const char *model_id)
{
    const struct easel_model *m = easel_registry_model(r, model_id);
    if (!m)
        return 1;
    int total = 0;
    for (size_t i = 0; i <= m->nfallback; i++) {
        const struct easel_model *x = chain_at(r, m, i);
        if (x)
            total += attempts_of(x);
    }
    return total;
}

const struct easel_model *easel_registry_chain_model(const struct easel_registry *r,
                                                     const char *model_id, int attempt,
                                                     int *nth, size_t *pos)
{
    const struct easel_model *m = easel_registry_model(r, model_id);
    if (!m || attempt < 1)
        return NULL;
    int before = 0;
    for (size_t i = 0; i <= m->nfallback; i++) {
        const struct easel_model *x = chain_at(r, m, i);
        if (!x)
            continue;
        if (attempt <= before + attempts_of(x)) {
            if (nth)
                *nth = attempt - before;
            if (pos)
                *pos = i;
            return x;
        }
        before += attempts_of(x);
    }
    return NULL;
}

const struct easel_model *easel_registry_chain_next(const struct easel_registry *r,
                                                    const char *model_id, size_t *pos)
{
    const struct easel_model *m = easel_registry_model(r, model_id);
    for (size_t i = *pos + 1; m && i <= m->nfallback; i++) {
        const struct easel_model *x = chain_at(r, m, i);
        if (x) {
            *pos = i;
            return x;
        }
    }
    return NULL;
}

const struct easel_preset *easel_registry_preset(const struct easel_registry *r,
                                                 const char *name)
{
    for (size_t i = 0; r && name && i < r->npresets; i++)
        if (easel_str_eq(r->presets[i].name, name))
            return &r->presets[i];
    return NULL;
}

/* ------------------------------------------------------ built-in presets */

/* Sizes of common generator outputs: a "normal" JPEG for pages and a
 * high-quality WebP for zoom and download, each fitted inside the box. */
static const struct {
    const char *preset;
    struct easel_variant_spec v;
} builtin_variants[] = {
    {"default", {"normal", EASEL_FMT_JPEG, 1024, 1024, 80}},
    {"default", {"hq", EASEL_FMT_WEBP, 2048, 2048, 95}},
    {"thumbnail", {"thumb", EASEL_FMT_JPEG, 256, 256, 75}},
    {"dall-e", {"normal", EASEL_FMT_JPEG, 1024, 1024, 80}},
    {"dall-e", {"hq", EASEL_FMT_WEBP, 2048, 2048, 95}},
    {"dall-e", {"thumb", EASEL_FMT_JPEG, 256, 256, 75}},
    {"sora", {"normal", EASEL_FMT_JPEG, 1280, 720, 85}},
    {"sora", {"hq", EASEL_FMT_WEBP, 1920, 1080, 95}},
    {"sora", {"thumb", EASEL_FMT_JPEG, 320, 180, 75}},
    {"stable-diffusion", {"normal", EASEL_FMT_JPEG, 768, 768, 80}},
    {"stable-diffusion", {"hq", EASEL_FMT_WEBP, 1536, 1536, 95}},
    {"stable-diffusion", {"thumb", EASEL_FMT_JPEG, 256, 256, 75}},
};
#define NBUILTIN (sizeof(builtin_variants) / sizeof(builtin_variants[0]))

bool reg_builtin_preset_exists(const char *name)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (!strcmp(builtin_variants[i].preset, name))
            return true;
    return false;
}

easel_err reg_add_builtin_presets(struct easel_registry *r)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        const char *name = builtin_variants[i].preset;
        if (i > 0 && !strcmp(builtin_variants[i - 1].preset, name))
            continue; /* handled with the first variant of this preset */
        if (easel_registry_preset(r, name))
            continue; /* the document defines its own */
        struct easel_preset *np =
            realloc(r->presets, (r->npresets + 1) * sizeof(*np));
        if (!np)
            return EASEL_ENOMEM;
        r->presets = np;
        struct easel_preset *p = &r->presets[r->npresets];
        memset(p, 0, sizeof(*p));
        size_t cnt = 0;
        for (size_t j = i; j < NBUILTIN && !strcmp(builtin_variants[j].preset, name); j++)
            cnt++;
        p->name = easel_strdup(name);
        p->variants = calloc(cnt, sizeof(*p->variants));
        if (!p->name || !p->variants) {
            reg_preset_cleanup(p);
            return EASEL_ENOMEM;
        }
        for (size_t j = 0; j < cnt; j++) {
            p->variants[j] = builtin_variants[i + j].v;
            p->variants[j].name = easel_strdup(builtin_variants[i + j].v.name);
            if (!p->variants[j].name) {
                p->nvariants = j;
                reg_preset_cleanup(p);
                return EASEL_ENOMEM;
            }
        }
        p->nvariants = cnt;
        r->npresets++;
    }
    return EASEL_OK;
}

/* ------------------------------------------------------ embedded registry */

static const char builtin_yaml[] =
    "# easel's built-in registry: used when --registry / EASEL_REGISTRY is\n"
    "# empty. Built-in presets (default, thumbnail, dall-e, sora,\n"
    "# stable-diffusion) are always available to every registry.\n"
    "version: 1\n"
    "default_model: local/vips-stage\n"
    "idempotency_window: 24h\n"
    "payloads:\n"
    "  # a virtual-staging app's stage:run job\n"
    "  - name: stage-run\n"
    "    when: [image_id, original_url]\n"
    "    type: stage\n"
    "    model_field: model\n"
    "    images: [original_url]\n"
    "    fields: {image_id: image_id, room_type: room_type, style: style, seed: seed, prompt: prompt}\n"
    "  # a virtual try-on app's generation task, per channel\n"
    "  - name: tryon\n"
    "    when: [channel, person_image_url, garment_image_url]\n"
    "    type: tryon\n"
    "    model_field: model\n"
    "    images: [person_image_url, garment_image_url]\n"
    "    channel: channel\n"
    "    owner: {b2b: store_id, b2c: user_id}\n"
    "    idempotency: task_id\n"
    "    fields: {task_id: task_id, category: category, prompt: prompt, seed: seed}\n"
    "models:\n"
    "  # deterministic libvips stand-in: no provider key needed\n"
    "  - id: local/vips-stage\n"
    "    provider: local\n"
    "    timeout: 120s\n"
    "    retry: {max_attempts: 3, initial: 1s, factor: 2, max: 60s}\n"
    "    preset: default\n"
    "    input: {style: \"{{style}}\", seed: \"{{seed}}\", label: \"{{room_type}}\"}\n";

const char *easel_registry_builtin_yaml(void)
{
    return builtin_yaml;
}

easel_err easel_registry_builtin(struct easel_registry **out)
{
    return easel_registry_parse(builtin_yaml, sizeof(builtin_yaml) - 1,
                                "builtin", out, NULL);
}

int64_t easel_model_slot_hold_ms(const struct easel_model *m)
{
    return (m->timeout_ms > 0 ? m->timeout_ms : 120000) + 60000;
}

const char *easel_model_exec_name(enum easel_model_exec e)
{
    switch (e) {
    case EASEL_MODEL_EXEC_POD:
        return "pod";
    case EASEL_MODEL_EXEC_LOCAL:
        return "local";
    case EASEL_MODEL_EXEC_POOL:
        return "pool";
    default:
        return "default";
    }
}

easel_err easel_registry_check_executors(const struct easel_registry *r, const char *own,
                                         struct easel_diags *diags)
{
    easel_err rc = EASEL_OK;
    bool kube = own && !strcmp(own, "kubernetes");
    for (size_t i = 0; r && i < r->nmodels; i++) {
        const struct easel_model *m = &r->models[i];
        if ((m->executor == EASEL_MODEL_EXEC_POD && !kube) ||
            (m->executor == EASEL_MODEL_EXEC_LOCAL && kube)) {
            easel_diags_add(diags, m->exec_line, m->exec_col,
                            "model \"%s\" asks for executor %s, but this controller runs the %s "
                            "executor (use pool, %s, or leave executor out)",
                            m->id, easel_model_exec_name(m->executor), own ? own : "local",
                            kube ? "pod" : "local");
            rc = EASEL_EPARSE;
        }
    }
    return rc;
}

bool easel_registry_runs_on_pool(const struct easel_registry *r, const char *id)
{
    const struct easel_model *m = easel_registry_model(r, id);
    return m && m->executor == EASEL_MODEL_EXEC_POOL;
}

int easel_model_cost(const struct easel_model *m, const char *channel)
{
    if (!m)
        return 0;
    for (size_t i = 0; channel && *channel && i < m->ncost_channels; i++)
        if (!strcmp(m->cost_channels[i], channel))
            return m->cost_values[i];
    return m->cost;
}

int easel_intake_cost(const struct easel_registry *r, const struct easel_intake *in)
{
    return in && in->owner ? easel_model_cost(easel_registry_model(r, in->model), in->channel) : 0;
}

const struct easel_size_chart *easel_registry_size_chart(const struct easel_registry *r,
                                                         const char *name,
                                                         const char *owner)
{
    if (!r)
        return NULL;
    if (name && *name) {
        for (size_t i = 0; i < r->ncharts; i++)
            if (!strcmp(r->charts[i].name, name))
                return &r->charts[i];
        return NULL;
    }
    if (owner && !strncmp(owner, "b2b:", 4))
        for (size_t i = 0; i < r->ncharts; i++)
            if (!strcmp(r->charts[i].name, owner + 4))
                return &r->charts[i];
    for (size_t i = 0; i < r->ncharts; i++)
        if (!strcmp(r->charts[i].name, "default"))
            return &r->charts[i];
    return NULL;
}
