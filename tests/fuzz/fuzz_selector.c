/*
 * fuzz_selector.c - a labelSelector query argument as the aggregator
 * forwards it (percent-encoded), through the external metrics API's
 * decoder and selector parser, then matched against label values. A
 * selector either parses into requirements on the known keys only, with
 * valid label values, or is refused with a reason and nothing left
 * allocated.
 */
#include <stdio.h>

#include "easel/extmetrics.h"
#include "../../pkg/extmetrics/extmetrics_int.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"queue", "model", NULL};
    char *raw = fuzz_cstr(data, size);
    char *sel_text = em_url_decode(raw);
    struct easel_selector sel;
    char why[256];
    if (sel_text) {
        if (easel_selector_parse(sel_text, keys, &sel, why, sizeof(why)) == EASEL_OK) {
            for (size_t i = 0; i < sel.n; i++) {
                if (strcmp(sel.reqs[i].key, "queue") && strcmp(sel.reqs[i].key, "model"))
                    abort();
                if (sel.reqs[i].nvalues == 0)
                    abort();
                for (size_t j = 0; j < sel.reqs[i].nvalues; j++)
                    if (strlen(sel.reqs[i].values[j]) > 63)
                        abort();
            }
            const char *pinned = easel_selector_pinned(&sel, "model");
            /* a pinned value satisfies its own requirement */
            if (pinned && !easel_selector_has(&sel, "model"))
                abort();
            (void)easel_selector_match(&sel, "queue", "easel_jobs");
            (void)easel_selector_match(&sel, "model", "");
            easel_selector_cleanup(&sel);
        } else if (sel.n != 0 || sel.reqs || !why[0]) {
            abort();
        }
    }
    char lf[64];
    easel_label_form(raw, lf);
    if (strlen(lf) > 63)
        abort();
    free(sel_text);
    free(raw);
    return 0;
}
