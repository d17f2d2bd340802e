/*
 * diags.c - problems found in a registry document, with their position.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry_int.h"

void easel_diags_add(struct easel_diags *d, int line, int col, const char *fmt, ...)
{
    if (!d)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct easel_diag *p = realloc(d->items, cap * sizeof(*p));
        if (!p)
            return; /* the caller still sees the error code */
        d->items = p;
        d->cap = cap;
    }
    struct easel_diag *g = &d->items[d->n++];
    g->line = line;
    g->col = col;
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(g->msg, sizeof(g->msg), fmt, ap);
    va_end(ap);
}

void easel_diags_cleanup(struct easel_diags *d)
{
    if (!d)
        return;
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

void easel_diags_print(const struct easel_diags *d, const char *file,
                       FILE *out)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        fprintf(out, "%s:%d:%d: %s\n", file ? file : "registry",
                d->items[i].line, d->items[i].col, d->items[i].msg);
}
