/*
 * intake.c - turns one queue entry into a job description.
 *
 * Producers push what they already push: a plain object that a payload rule
 * recognises by its fields (a staging app's stage:run, a try-on app's
 * generation task), or an envelope {"id","type","model","payload",...}. The
 * mapping from fields to images, job fields, channel, owner and idempotency
 * key is configuration (the registry's payload rules), not code.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

const cJSON *reg_lookup(const cJSON *obj, const char *path)
{
    const cJSON *cur = obj;
    const char *p = path;
    while (cur && p && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[128];
        if (n == 0 || n >= sizeof(key) || !cJSON_IsObject(cur))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}

static bool present(const cJSON *v)
{
    return v && !cJSON_IsNull(v) &&
           !(cJSON_IsString(v) && (!v->valuestring || !*v->valuestring));
}

/* A scalar as text: strings as they are, whole numbers without a fraction. */
static char *scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring && *v->valuestring)
        return easel_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15)
            return easel_asprintf("%lld", (long long)d);
        return easel_asprintf("%.17g", d);
    }
    return NULL;
}

void easel_intake_cleanup(struct easel_intake *in)
{
    if (!in)
        return;
    free(in->id);
    free(in->type);
    free(in->model);
    free(in->idempotency_key);
    free(in->webhook);
    cJSON_Delete(in->metadata);
    cJSON_Delete(in->payload);
    cJSON_Delete(in->input);
    free(in->channel);
    free(in->owner);
    free(in->rule);
    free(in->traceparent);
    memset(in, 0, sizeof(*in));
}

static easel_err reject(struct easel_intake *in, struct easel_error *err,
                        easel_err code, enum easel_reason reason, const char *fmt,
                        const char *a, const char *b)
{
    char msg[sizeof(err->msg)];
    /* a message for a person: a long field name is cut, visibly */
    easel_fmt_cut(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    easel_intake_cleanup(in);
    return easel_error_set(err, code, EASEL_CLASS_PERMANENT, reason, "%s", msg);
}

static const struct easel_payload_rule *match_rule(const struct easel_registry *r,
                                                   const cJSON *payload)
{
    for (size_t i = 0; i < r->npayloads; i++) {
        const struct easel_payload_rule *p = &r->payloads[i];
        bool all = p->nwhen > 0;
        for (size_t j = 0; all && j < p->nwhen; j++)
            all = present(reg_lookup(payload, p->when[j]));
        if (all)
            return p;
    }
    return NULL;
}

/* "no rule matches" message: the entry's keys and what each rule wants. */
static void describe_mismatch(const struct easel_registry *r,
                              const cJSON *payload, char *dst, size_t len)
{
    struct easel_buf b;
    easel_buf_init(&b, len - 1);
    easel_buf_puts(&b, "no payload rule matches the entry (fields:");
    int k = 0;
    for (const cJSON *c = payload ? payload->child : NULL; c && k < 8; c = c->next, k++)
        easel_buf_printf(&b, " %s", c->string);
    if (k == 0)
        easel_buf_puts(&b, " none");
    easel_buf_puts(&b, ")");
    for (size_t i = 0; i < r->npayloads; i++) {
        const struct easel_payload_rule *p = &r->payloads[i];
        easel_buf_printf(&b, "; %s needs", p->name);
        for (size_t j = 0; j < p->nwhen; j++)
            easel_buf_printf(&b, " %s", p->when[j]);
    }
    if (r->npayloads == 0)
        easel_buf_puts(&b, "; the registry has no payload rules, so send an envelope with \"payload\"");
    easel_strlcpy(dst, b.data ? b.data : "no payload rule matches the entry", len);
    easel_buf_cleanup(&b);
}

/* Adds one image value (a URL string, or a list of them) to `images`. */
static bool add_images(cJSON *images, const cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring && *v->valuestring) {
        cJSON_AddItemToArray(images, cJSON_CreateString(v->valuestring));
        return true;
    }
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next)
            if (!add_images(images, e))
                return false;
        return true;
    }
    return v == NULL || cJSON_IsNull(v);
}

static easel_err apply_rule(const struct easel_payload_rule *p,
                            const cJSON *payload, struct easel_intake *in,
                            cJSON *images, cJSON *fields,
                            struct easel_error *err)
{
    for (size_t i = 0; i < p->nimages; i++) {
        if (!add_images(images, reg_lookup(payload, p->images[i])))
            return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                          "field \"%s\" must hold an image URL or a list of them (rule %s)",
                          p->images[i], p->name);
    }
    if (p->nfields == 0) {
        for (const cJSON *c = payload->child; c; c = c->next)
            cJSON_AddItemToObject(fields, c->string, cJSON_Duplicate(c, 1));
    }
    for (size_t i = 0; i < p->nfields; i++) {
        const cJSON *v = reg_lookup(payload, p->field_sources[i]);
        if (v && !cJSON_IsNull(v))
            cJSON_AddItemToObject(fields, p->field_names[i], cJSON_Duplicate(v, 1));
    }
    if (!in->type && p->type)
        in->type = easel_strdup(p->type);
    if (!in->model && p->model_field) {
        const cJSON *m = reg_lookup(payload, p->model_field);
        if (cJSON_IsString(m) && m->valuestring && *m->valuestring)
            in->model = easel_strdup(m->valuestring);
    }
    if (!in->model && p->model)
        in->model = easel_strdup(p->model);
    if (!in->webhook && p->webhook) {
        in->webhook = easel_strdup(p->webhook);
        if (!in->webhook_events)
            in->webhook_events = p->webhook_events;
    }
    if (!in->idempotency_key && p->idempotency_field)
        in->idempotency_key = scalar_text(reg_lookup(payload, p->idempotency_field));
    if (p->channel_field && !in->channel) {
        const cJSON *ch = reg_lookup(payload, p->channel_field);
        in->channel = scalar_text(ch);
        if (!in->channel && p->nowners)
            return reject(in, err, EASEL_EPARSE, EASEL_R_BAD_CHANNEL,
                          "field \"%s\" must name the channel (rule %s)",
                          p->channel_field, p->name);
    }
    if (p->nowners && !in->owner) {
        size_t i;
        for (i = 0; i < p->nowners; i++)
            if (!strcmp(p->owner_channels[i], in->channel))
                break;
        if (i == p->nowners) {
            /* the list only goes into the message, which cuts it visibly */
            struct easel_buf known;
            easel_buf_init(&known, 0);
            easel_err brc = EASEL_OK;
            for (size_t j = 0; !brc && j < p->nowners; j++)
                brc = easel_buf_printf(&known, "%s%s", j ? ", " : "", p->owner_channels[j]);
            char ch[64];
            easel_strlcpy(ch, in->channel, sizeof(ch));
            /* out of memory for the list: the rejection stands without it */
            easel_err rrc = brc ? reject(in, err, EASEL_EPARSE, EASEL_R_BAD_CHANNEL,
                                         "unknown channel \"%s\"%s", ch, "")
                                : reject(in, err, EASEL_EPARSE, EASEL_R_BAD_CHANNEL,
                                         "unknown channel \"%s\" (expected one of %s)", ch,
                                         known.data);
            easel_buf_cleanup(&known);
            return rrc;
        }
        in->owner = scalar_text(reg_lookup(payload, p->owner_fields[i]));
        if (!in->owner) {
            char msg[200];
            easel_fmt_cut(msg, sizeof(msg), "a %s entry needs its owner in \"%s\"",
                          p->owner_channels[i], p->owner_fields[i]);
            return reject(in, err, EASEL_EPARSE, EASEL_R_MISSING_OWNER, "%s%s", msg, "");
        }
    }
    return EASEL_OK;
}

/* Envelope fields other than the payload; returns non-zero after reject(). */
static easel_err read_envelope(const cJSON *o, struct easel_intake *in,
                               struct easel_error *err)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "id")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || !easel_uuid_valid(v->valuestring))
            return reject(in, err, EASEL_EPARSE, EASEL_R_BAD_ID,
                          "envelope id must be a UUID such as 5f0c1e2a-8d4b-4c1e-9a57-2f1d3c4b5a69%s%s",
                          NULL, NULL);
        in->id = easel_strdup(v->valuestring);
    }
    static const char *const strs[] = {"type", "model", "idempotency_key",
                                       "webhook", "channel", "owner"};
    char **dst[] = {&in->type, &in->model, &in->idempotency_key, &in->webhook,
                    &in->channel, &in->owner};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        v = cJSON_GetObjectItemCaseSensitive(o, strs[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsString(v) || !v->valuestring || !*v->valuestring ||
            strlen(v->valuestring) > 512)
            return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                          "envelope field \"%s\" must be a non-empty string of at most 512 bytes%s",
                          strs[i], NULL);
        *dst[i] = easel_strdup(v->valuestring);
    }
    if (in->webhook && !easel_str_has_prefix(in->webhook, "http://") &&
        !easel_str_has_prefix(in->webhook, "https://"))
        return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                      "envelope webhook must be an http(s) URL%s%s", NULL, NULL);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "webhook_events_filter")) && !cJSON_IsNull(v)) {
        bool ok = cJSON_IsArray(v) && v->child;
        for (const cJSON *e = ok ? v->child : NULL; e && ok; e = e->next)
            ok = cJSON_IsString(e) && !easel_webhook_event_add(e->valuestring, &in->webhook_events);
        if (!ok)
            return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                          "envelope webhook_events_filter must be a non-empty list of start, "
                          "progress, output and completed%s%s", NULL, NULL);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "priority")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < -1000 || v->valuedouble > 1000)
            return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                          "envelope priority must be a whole number from -1000 to 1000%s%s",
                          NULL, NULL);
        in->priority = (int)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "metadata")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v))
            return reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                          "envelope metadata must be an object%s%s", NULL, NULL);
        in->metadata = cJSON_Duplicate(v, 1);
    }
    return EASEL_OK;
}

easel_err easel_registry_intake(const struct easel_registry *r,
                                const char *entry, size_t len,
                                struct easel_intake *in,
                                struct easel_error *err)
{
    memset(in, 0, sizeof(*in));
    easel_error_clear(err);
    if (len > REG_MAX_ENTRY) {
        char n[32];
        /* a size_t is at most 20 digits: never cut, and only a message */
        easel_fmt_cut(n, sizeof(n), "%zu", len);
        return reject(in, err, EASEL_EPARSE, EASEL_R_ENTRY_TOO_LARGE,
                      "queue entry is %s bytes; the limit is 1 MiB%s", n, NULL);
    }
    cJSON *root = cJSON_ParseWithLength(entry, len);
    if (!root)
        return reject(in, err, EASEL_EPARSE, EASEL_R_MALFORMED_JSON,
                      "queue entry is not valid JSON%s%s", NULL, NULL);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return reject(in, err, EASEL_EPARSE, EASEL_R_MALFORMED_JSON,
                      "queue entry is JSON but not an object%s%s", NULL, NULL);
    }
    easel_err rc = EASEL_OK;
    cJSON *images = cJSON_CreateArray(), *fields = cJSON_CreateObject();
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "payload");
    bool envelope = inner != NULL;
    if (!images || !fields) {
        rc = reject(in, err, EASEL_ENOMEM, EASEL_R_INTERNAL, "out of memory%s%s", NULL, NULL);
        goto out;
    }
    if (envelope) {
        if (!cJSON_IsObject(inner)) {
            rc = reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                        "envelope payload must be an object%s%s", NULL, NULL);
            goto out;
        }
        if ((rc = read_envelope(root, in, err)))
            goto out;
    } else {
        inner = root;
    }
    in->payload = cJSON_Duplicate(inner, 1);
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(root, "traceparent");
    if (cJSON_IsString(tp) && tp->valuestring && strlen(tp->valuestring) <= 64)
        in->traceparent = easel_strdup(tp->valuestring);

    const struct easel_payload_rule *rule = match_rule(r, inner);
    if (rule) {
        in->rule = easel_strdup(rule->name);
        if ((rc = apply_rule(rule, inner, in, images, fields, err)))
            goto out;
    } else if (envelope) {
        /* An envelope without a matching rule: images under the usual
         * names, every other payload field is a job field. */
        in->rule = easel_strdup("envelope");
        static const char *const img_keys[] = {"images", "image", "image_url"};
        for (const cJSON *c = inner->child; c; c = c->next) {
            bool is_img = false;
            for (size_t i = 0; i < 3; i++)
                is_img |= c->string && !strcmp(c->string, img_keys[i]);
            if (!is_img) {
                cJSON_AddItemToObject(fields, c->string, cJSON_Duplicate(c, 1));
            } else if (!add_images(images, c)) {
                rc = reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                            "payload field \"%s\" must hold an image URL or a list of them%s",
                            c->string, NULL);
                goto out;
            }
        }
    } else {
        char msg[sizeof(err->msg)];
        describe_mismatch(r, inner, msg, sizeof(msg));
        rc = reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS, "%s%s", msg, NULL);
        goto out;
    }
    /* type: estimate-body runs on the registry's body-pose model (the
     * first with provider: pose); without one it names a model that is
     * not there, and the job ends dead as unknown_model */
    if (!in->model && in->type && !strcmp(in->type, "estimate-body")) {
        for (size_t i = 0; i < r->nmodels && !in->model; i++)
            if (r->models[i].provider && !strcmp(r->models[i].provider, "pose"))
                in->model = easel_strdup(r->models[i].id);
        if (!in->model)
            in->model = easel_strdup("estimate-body");
    }
    if (!in->model && r->default_model)
        in->model = easel_strdup(r->default_model);
    if (!in->model) {
        rc = reject(in, err, EASEL_EPARSE, EASEL_R_NO_USABLE_FIELDS,
                    "the entry names no model and the registry has no default%s%s",
                    NULL, NULL);
        goto out;
    }
    in->input = cJSON_CreateObject();
    if (!in->input || !in->payload || !in->rule) {
        rc = reject(in, err, EASEL_ENOMEM, EASEL_R_INTERNAL, "out of memory%s%s", NULL, NULL);
        goto out;
    }
    cJSON_AddItemToObject(in->input, "images", images);
    cJSON_AddItemToObject(in->input, "fields", fields);
    images = fields = NULL;
    if (!easel_registry_model(r, in->model)) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_UNKNOWN_MODEL,
                             "model \"%.200s\" is not in the registry (%.120s)",
                             in->model, r->source);
    }
out:
    cJSON_Delete(images);
    cJSON_Delete(fields);
    cJSON_Delete(root);
    return rc;
}
