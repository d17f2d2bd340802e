/*
 * fuzz_registry.c - the registry document (YAML, or JSON being YAML), as
 * easel registry validate, the controller's reload and the ConfigMap watch
 * read it. A document that loads is then walked the way jobs use it
 * (failover chains, presets) and exported per model; an export must load
 * again, because a kubernetes worker receives its registry that way.
 */
#include <stdio.h>

#include "easel/registry.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct easel_registry *r = NULL;
    struct easel_diags d = {0};
    if (easel_registry_parse(text, size, "fuzz.yaml", &r, &d) == EASEL_OK) {
        for (size_t i = 0; i < r->nmodels; i++) {
            const char *id = r->models[i].id;
            int n = easel_registry_chain_attempts(r, id);
            for (int a = 1; a <= n + 1 && a <= 64; a++) {
                int nth;
                size_t pos;
                easel_registry_chain_model(r, id, a, &nth, &pos);
            }
            size_t pos = 0;
            while (easel_registry_chain_next(r, id, &pos))
                ;
            easel_registry_preset(r, r->models[i].preset);
            char *exp = easel_registry_export(r, id);
            if (exp) {
                struct easel_registry *again = NULL;
                struct easel_diags d2 = {0};
                if (easel_registry_parse(exp, strlen(exp), "export", &again, &d2) != EASEL_OK) {
                    fprintf(stderr, "the export of %s does not load again:\n%s\n", id, exp);
                    easel_diags_print(&d2, "export", stderr);
                    abort();
                }
                easel_registry_unref(again);
                easel_diags_cleanup(&d2);
                free(exp);
            }
        }
        easel_registry_unref(r);
    }
    easel_diags_cleanup(&d);
    free(text);
    return 0;
}
