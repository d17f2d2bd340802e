/* yamljson.h - one YAML-to-JSON conversion for every YAML easel reads
 * (the model registry, kubeconfigs, manifests).
 *
 * Plain scalars resolve as YAML 1.2's core schema does: null, booleans and
 * decimal numbers; quoted scalars are always strings, and so is hex. A
 * repeated mapping key keeps its last value. Nesting deeper than
 * EASEL_YAML_MAX_DEPTH and documents larger than the caller's node budget
 * are refused, which also bounds what aliases can expand to.
 */
#ifndef EASEL_YAMLJSON_H
#define EASEL_YAMLJSON_H

#include <stddef.h>
#include <cJSON.h>
#include <yaml.h>

#include "easel/core.h"

#define EASEL_YAML_MAX_DEPTH 64

struct easel_yaml_problem {
    const yaml_node_t *node; /* where; NULL with what NULL: out of memory */
    const char *what;        /* a short phrase, e.g. "a mapping key is not a string" */
};

/* Converts node n of doc. budget: how many more nodes may be visited; it is
 * decremented, so one budget can bound several calls over one document.
 * NULL on a problem (described in *p) or on running out of memory. */
cJSON *easel_yaml_to_json(yaml_document_t *doc, const yaml_node_t *n, size_t *budget,
                          struct easel_yaml_problem *p);

/* The string at a dotted path of object members ("error.message"), or
 * NULL when a member is missing or the value is not a string. */
const char *easel_json_str(const cJSON *obj, const char *path);

/* o[key] = v, or null when v is NULL. */
void easel_json_add_str(cJSON *o, const char *key, const char *v);
/* o[key] = the RFC 3339 time of wall ms, or null when ms <= 0 or the
 * calendar cannot say it (never half-written). */
void easel_json_add_time(cJSON *o, const char *key, int64_t ms);

/* Parses a whole YAML document (aliases refused) into JSON. EASEL_EPARSE
 * with "line N: what" in why; EASEL_ENOMEM. *out is a new object. */
easel_err easel_yaml_text_to_json(const char *text, size_t len, cJSON **out, char *why,
                                  size_t whylen);

#endif
