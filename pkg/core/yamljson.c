/* yamljson.c - YAML document nodes to cJSON (see yamljson.h). */
#include "easel/yamljson.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool plain_number(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!(*p >= '0' && *p <= '9') && !(*p == '.' && p[1] >= '0' && p[1] <= '9'))
        return false;
    if (strchr(s, 'x') || strchr(s, 'X'))
        return false; /* hex stays a string */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c);
}

static cJSON *scalar(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        double v;
        if (!*s || !strcmp(s, "~") || one_of(s, "null", "Null", "NULL"))
            return cJSON_CreateNull();
        if (one_of(s, "true", "True", "TRUE"))
            return cJSON_CreateTrue();
        if (one_of(s, "false", "False", "FALSE"))
            return cJSON_CreateFalse();
        if (plain_number(s, &v))
            return cJSON_CreateNumber(v);
    }
    return cJSON_CreateString(s);
}

static cJSON *convert(yaml_document_t *doc, const yaml_node_t *n, int depth,
                      size_t *budget, struct easel_yaml_problem *p)
{
    if (!n)
        return cJSON_CreateNull();
    if (*budget == 0 || depth > EASEL_YAML_MAX_DEPTH) {
        p->node = n;
        p->what = *budget == 0 ? "too large" : "nested too deeply";
        return NULL;
    }
    (*budget)--;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar(n);
    case YAML_SEQUENCE_NODE: {
        cJSON *a = cJSON_CreateArray();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             a && it < n->data.sequence.items.top; it++) {
            cJSON *v = convert(doc, yaml_document_get_node(doc, *it), depth + 1, budget, p);
            if (!v) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, v);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        cJSON *o = cJSON_CreateObject();
        for (yaml_node_pair_t *kv = n->data.mapping.pairs.start;
             o && kv < n->data.mapping.pairs.top; kv++) {
            yaml_node_t *k = yaml_document_get_node(doc, kv->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                p->node = k ? k : n;
                p->what = "a mapping key is not a string";
                cJSON_Delete(o);
                return NULL;
            }
            cJSON *v = convert(doc, yaml_document_get_node(doc, kv->value), depth + 1,
                               budget, p);
            if (!v) {
                cJSON_Delete(o);
                return NULL;
            }
            const char *key = (const char *)k->data.scalar.value;
            cJSON_DeleteItemFromObjectCaseSensitive(o, key);
            cJSON_AddItemToObject(o, key, v);
        }
        return o;
    }
    default:
        return cJSON_CreateNull();
    }
}

cJSON *easel_yaml_to_json(yaml_document_t *doc, const yaml_node_t *n, size_t *budget,
                          struct easel_yaml_problem *p)
{
    p->node = NULL;
    p->what = NULL;
    return convert(doc, n, 0, budget, p);
}

const char *easel_json_str(const cJSON *obj, const char *path)
{
    char key[128];
    const cJSON *cur = obj;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (dot ? 1 : 0);
    }
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

easel_err easel_yaml_text_to_json(const char *text, size_t len, cJSON **out,
                            char *why, size_t whylen)
{
    *out = NULL;
    why[0] = '\0';
    /* An alias can make a tiny document expand without bound; no document
     * easel reads (tokens, kubeconfigs, manifests) needs them. */
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p))
        return EASEL_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            easel_fmt_cut(why, whylen, "line %zu: %s", p.problem_mark.line + 1,
                          p.problem ? p.problem : "YAML syntax error");
            yaml_parser_delete(&p);
            return EASEL_EPARSE;
        }
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_ALIAS_EVENT) {
            easel_fmt_cut(why, whylen, "YAML aliases are not accepted");
            yaml_parser_delete(&p);
            return EASEL_EPARSE;
        }
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);

    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return EASEL_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        easel_fmt_cut(why, whylen, "line %zu: %s", p.problem_mark.line + 1,
                      p.problem ? p.problem : "YAML syntax error");
        yaml_parser_delete(&p);
        return EASEL_EPARSE;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    size_t budget = len + 16; /* no aliases: a node takes at least a byte */
    struct easel_yaml_problem prob;
    cJSON *j = root ? easel_yaml_to_json(&doc, root, &budget, &prob) : cJSON_CreateObject();
    if (!j && prob.what)
        easel_fmt_cut(why, whylen, "line %zu: %s",
                      prob.node ? prob.node->start_mark.line + 1 : 0, prob.what);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (!j)
        return why[0] ? EASEL_EPARSE : EASEL_ENOMEM;
    *out = j;
    return EASEL_OK;
}

void easel_json_add_str(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

void easel_json_add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[40];
    if (ms > 0 && easel_format_time(ms, ts, sizeof(ts)) == EASEL_OK)
        cJSON_AddStringToObject(o, key, ts);
    else
        cJSON_AddNullToObject(o, key);
}
