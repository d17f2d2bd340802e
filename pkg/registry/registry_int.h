/*
 * registry_int.h - shared between the registry's parser, built-ins, intake
 * and rendering. Not part of the public contract.
 */
#ifndef EASEL_REGISTRY_INT_H
#define EASEL_REGISTRY_INT_H

#include "easel/registry.h"

/* Largest registry document accepted (a ConfigMap holds at most 1 MiB). */
#define REG_MAX_DOC (1024 * 1024)
/* Largest queue entry accepted by intake. */
#define REG_MAX_ENTRY (1024 * 1024)

/* Frees a registry whatever its state (used by unref and on parse errors). */
void reg_free(struct easel_registry *r);
void reg_preset_cleanup(struct easel_preset *p);

/* Appends the built-in presets that the document did not define itself. */
easel_err reg_add_builtin_presets(struct easel_registry *r);
bool reg_builtin_preset_exists(const char *name);

/* Looks a dotted path ("a.b.c") up in a JSON object; NULL when absent. */
const cJSON *reg_lookup(const cJSON *obj, const char *path);

#endif
