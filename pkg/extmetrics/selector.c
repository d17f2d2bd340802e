/*
 * selector.c - label selectors as the kube-apiserver reads them
 * (?labelSelector=queue=easel_jobs,model in (a,b)): the HPA sends its
 * metric selector's matchLabels and matchExpressions in this form.
 *
 * What is not supported is refused with the reason rather than read as
 * "everything": an autoscaler scaling on the wrong figure is worse than one
 * that reports an error.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "easel/extmetrics.h"

#define MAX_REQS 16
#define MAX_VALUES 64

void easel_label_form(const char *name, char dst[64])
{
    size_t i = 0;
    for (; name && name[i] && i < 63; i++) {
        unsigned char ch = (unsigned char)name[i];
        dst[i] = isalnum(ch) || ch == '.' || ch == '-' || ch == '_' ? (char)ch : '_';
    }
    dst[i] = '\0';
}

void easel_selector_cleanup(struct easel_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->reqs[i].nvalues; j++)
            free(s->reqs[i].values[j]);
        free(s->reqs[i].values);
    }
    free(s->reqs);
    s->reqs = NULL;
    s->n = 0;
}

/* ------------------------------------------------------------- lexer */

enum tok { T_END, T_IDENT, T_EQ, T_DEQ, T_NEQ, T_IN, T_NOTIN, T_OPEN, T_CLOSE, T_COMMA,
           T_BANG, T_GT, T_LT };

struct lexer {
    const char *p;
    const char *start; /* of the current token */
    size_t len;
};

static bool ident_char(char c)
{
    /* as the apiserver's lexer: a key or value runs until whitespace or a
     * character of the grammar; what it may hold is checked afterwards,
     * so "easel:jobs" is one (invalid) value rather than two tokens */
    return c && !strchr(" \t(),=!<>", c);
}

static enum tok next(struct lexer *l)
{
    while (*l->p == ' ' || *l->p == '\t')
        l->p++;
    l->start = l->p;
    l->len = 1;
    switch (*l->p) {
    case '\0': l->len = 0; return T_END;
    case '(': l->p++; return T_OPEN;
    case ')': l->p++; return T_CLOSE;
    case ',': l->p++; return T_COMMA;
    case '>': l->p++; return T_GT;
    case '<': l->p++; return T_LT;
    case '=':
        l->p++;
        if (*l->p == '=') {
            l->p++;
            l->len = 2;
            return T_DEQ;
        }
        return T_EQ;
    case '!':
        l->p++;
        if (*l->p == '=') {
            l->p++;
            l->len = 2;
            return T_NEQ;
        }
        return T_BANG;
    default:
        break;
    }
    while (ident_char(*l->p))
        l->p++;
    l->len = (size_t)(l->p - l->start);
    if (l->len == 2 && !strncmp(l->start, "in", 2))
        return T_IN;
    if (l->len == 5 && !strncmp(l->start, "notin", 5))
        return T_NOTIN;
    return T_IDENT;
}

/* A label value: at most 63 characters, alphanumerics, '-', '_', '.',
 * beginning and ending with an alphanumeric; empty is allowed. */
static bool valid_value(const char *s, size_t n)
{
    if (n == 0)
        return true;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static easel_err add_value(struct easel_selector_req *r, const char *s, size_t n, char *why,
                           size_t whylen)
{
    if (!valid_value(s, n)) {
        (void)easel_snprintf(why, whylen,
                             "invalid label value \"%.*s\" for \"%s\": at most 63 characters "
                             "of A-Z a-z 0-9 - _ ., beginning and ending with a letter or "
                             "digit (queue and model names are given in label form: "
                             "easel:jobs is easel_jobs)",
                             (int)(n > 80 ? 80 : n), s, r->key);
        return EASEL_EINVAL;
    }
    if (r->nvalues >= MAX_VALUES) {
        (void)easel_snprintf(why, whylen, "more than %d values for \"%s\"", MAX_VALUES,
                             r->key);
        return EASEL_EINVAL;
    }
    char **v = realloc(r->values, (r->nvalues + 1) * sizeof(*v));
    if (!v)
        return EASEL_ENOMEM;
    r->values = v;
    v[r->nvalues] = easel_strndup(s, n);
    if (!v[r->nvalues])
        return EASEL_ENOMEM;
    r->nvalues++;
    return EASEL_OK;
}

static const char *tok_text(enum tok t)
{
    switch (t) {
    case T_END: return "the end";
    case T_COMMA: return "','";
    case T_OPEN: return "'('";
    case T_CLOSE: return "')'";
    default: return "it";
    }
}

/* One requirement, the lexer at its key. */
static easel_err requirement(struct lexer *l, const char *const *keys,
                             struct easel_selector_req *r, char *why, size_t whylen)
{
    enum tok t = next(l);
    if (t == T_BANG) {
        (void)easel_snprintf(why, whylen, "the \"!key\" (does not exist) form is not "
                                          "supported: use key!=value or key notin (...)");
        return EASEL_EINVAL;
    }
    if (t != T_IDENT) {
        (void)easel_snprintf(why, whylen, "expected a label key at \"%s\"", l->start);
        return EASEL_EINVAL;
    }
    bool known = false;
    for (size_t i = 0; keys && keys[i]; i++)
        if (strlen(keys[i]) == l->len && !strncmp(keys[i], l->start, l->len))
            known = true;
    if (!known || l->len >= sizeof(r->key)) {
        (void)easel_snprintf(why, whylen,
                             "label \"%.*s\" is not supported: this metric is selected by "
                             "queue and model",
                             (int)(l->len > 63 ? 63 : l->len), l->start);
        return EASEL_EINVAL;
    }
    memcpy(r->key, l->start, l->len);
    r->key[l->len] = '\0';
    const char *op_at = l->p;
    t = next(l);
    switch (t) {
    case T_EQ:
    case T_DEQ:
    case T_NEQ: {
        r->negate = t == T_NEQ;
        const char *save = l->p;
        enum tok v = next(l);
        if (v == T_END || v == T_COMMA) {
            /* an empty value: "queue=" selects the empty label */
            l->p = save;
            return add_value(r, "", 0, why, whylen);
        }
        if (v != T_IDENT && v != T_IN && v != T_NOTIN) {
            (void)easel_snprintf(why, whylen, "expected a value for \"%s\" at \"%s\"",
                                 r->key, l->start);
            return EASEL_EINVAL;
        }
        return add_value(r, l->start, l->len, why, whylen);
    }
    case T_IN:
    case T_NOTIN: {
        r->negate = t == T_NOTIN;
        if (next(l) != T_OPEN) {
            (void)easel_snprintf(why, whylen, "expected '(' after \"%s %s\"", r->key,
                                 r->negate ? "notin" : "in");
            return EASEL_EINVAL;
        }
        for (;;) {
            enum tok v = next(l);
            easel_err rc;
            if (v == T_IDENT || v == T_IN || v == T_NOTIN)
                rc = add_value(r, l->start, l->len, why, whylen);
            else if (v == T_COMMA || v == T_CLOSE) {
                rc = add_value(r, "", 0, why, whylen); /* "(a,)": the empty value */
                l->p = l->start;
            } else {
                (void)easel_snprintf(why, whylen, "expected a value in the set of \"%s\"",
                                     r->key);
                return EASEL_EINVAL;
            }
            if (rc)
                return rc;
            enum tok sep = next(l);
            if (sep == T_CLOSE)
                break;
            if (sep != T_COMMA) {
                (void)easel_snprintf(why, whylen,
                                     "expected ',' or ')' in the set of \"%s\", found %s",
                                     r->key, tok_text(sep));
                return EASEL_EINVAL;
            }
        }
        return EASEL_OK;
    }
    case T_END:
    case T_COMMA:
        (void)easel_snprintf(why, whylen,
                             "\"%s\" alone (the label exists) is not supported: give a value "
                             "with =, ==, !=, in or notin",
                             r->key);
        return EASEL_EINVAL;
    case T_GT:
    case T_LT:
        (void)easel_snprintf(why, whylen, "the operator %c is not supported for \"%s\"",
                             t == T_GT ? '>' : '<', r->key);
        return EASEL_EINVAL;
    default:
        (void)easel_snprintf(why, whylen, "expected an operator after \"%s\" at \"%s\"",
                             r->key, op_at);
        return EASEL_EINVAL;
    }
}

easel_err easel_selector_parse(const char *s, const char *const *keys,
                               struct easel_selector *out, char *why, size_t whylen)
{
    struct lexer l = {s ? s : "", NULL, 0};
    easel_err rc = EASEL_OK;

    memset(out, 0, sizeof(*out));
    if (whylen)
        why[0] = '\0';
    const char *save = l.p;
    if (next(&l) == T_END)
        return EASEL_OK;
    l.p = save;
    for (;;) {
        if (out->n >= MAX_REQS) {
            (void)easel_snprintf(why, whylen, "more than %d requirements", MAX_REQS);
            rc = EASEL_EINVAL;
            goto out;
        }
        struct easel_selector_req *r = realloc(out->reqs, (out->n + 1) * sizeof(*r));
        if (!r) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        out->reqs = r;
        r = &out->reqs[out->n++];
        memset(r, 0, sizeof(*r));
        rc = requirement(&l, keys, r, why, whylen);
        if (rc)
            goto out;
        enum tok t = next(&l);
        if (t == T_END)
            break;
        if (t != T_COMMA) {
            (void)easel_snprintf(why, whylen, "expected ',' between requirements at \"%s\"",
                                 l.start);
            rc = EASEL_EINVAL;
            goto out;
        }
    }
out:
    if (rc == EASEL_ENOMEM)
        (void)easel_snprintf(why, whylen, "out of memory");
    if (rc)
        easel_selector_cleanup(out);
    return rc;
}

bool easel_selector_match(const struct easel_selector *s, const char *key, const char *value)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct easel_selector_req *r = &s->reqs[i];
        if (strcmp(r->key, key))
            continue;
        bool in = false;
        for (size_t j = 0; j < r->nvalues && !in; j++)
            in = !strcmp(r->values[j], value);
        if (in == r->negate)
            return false;
    }
    return true;
}

const char *easel_selector_pinned(const struct easel_selector *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->reqs[i].key, key) && !s->reqs[i].negate && s->reqs[i].nvalues == 1)
            return s->reqs[i].values[0];
    return NULL;
}

bool easel_selector_has(const struct easel_selector *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->reqs[i].key, key))
            return true;
    return false;
}
