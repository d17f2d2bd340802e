/*
 * config.c - turns a mode's option table into parsed settings, --help text
 * and the Markdown of docs/configuration.md. Each setting is declared once,
 * in cmd/easel, with its flag, environment variable, default and help.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/config.h"

static void *field(void *cfg, const struct easel_opt *o)
{
    return (char *)cfg + o->offset;
}

static easel_err set_value(void *cfg, const struct easel_opt *o,
                           const char *val, const char *origin,
                           struct easel_error *err)
{
    void *f = field(cfg, o);
    easel_err rc = EASEL_OK;
    int64_t v = 0;
    switch (o->type) {
    case EASEL_OPT_STRING: {
        char *dup = strdup(val);
        if (!dup)
            return EASEL_ENOMEM;
        free(*(char **)f);
        *(char **)f = dup;
        return EASEL_OK;
    }
    case EASEL_OPT_LIST: {
        char **list = *(char ***)f;
        size_t n = 0;
        while (list && list[n])
            n++;
        char **nl = realloc(list, (n + 2) * sizeof(*nl));
        if (!nl)
            return EASEL_ENOMEM;
        nl[n] = strdup(val);
        nl[n + 1] = NULL;
        *(char ***)f = nl;
        return nl[n] ? EASEL_OK : EASEL_ENOMEM;
    }
    case EASEL_OPT_BOOL:
        rc = easel_parse_bool(val, (bool *)f);
        if (rc)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG,
                                   "%s: --%s expects true or false, got \"%s\"",
                                   origin, o->flag, val);
        return EASEL_OK;
    case EASEL_OPT_INT:
    case EASEL_OPT_I64:
        rc = easel_parse_i64(val, INT64_MIN, INT64_MAX, &v);
        if (rc)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG,
                                   "%s: --%s expects a whole number, got \"%s\"",
                                   origin, o->flag, val);
        break;
    case EASEL_OPT_DURATION:
        rc = easel_parse_duration_ms(val, &v);
        if (rc)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG,
                                   "%s: --%s expects a duration such as 250ms, 30s or 5m, got \"%s\"",
                                   origin, o->flag, val);
        break;
    case EASEL_OPT_SIZE:
        rc = easel_parse_size(val, &v);
        if (rc)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG,
                                   "%s: --%s expects a size such as 512KiB or 20MB, got \"%s\"",
                                   origin, o->flag, val);
        break;
    }
    if (o->min < o->max && (v < o->min || v > o->max))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_FLAG,
                               "%s: --%s must be between %lld and %lld, got \"%s\"",
                               origin, o->flag, (long long)o->min,
                               (long long)o->max, val);
    if (o->type == EASEL_OPT_INT) {
        if (v < INT32_MIN || v > INT32_MAX)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG, "%s: --%s is out of range",
                                   origin, o->flag);
        *(int *)f = (int)v;
    } else {
        *(int64_t *)f = v;
    }
    return EASEL_OK;
}

static const struct easel_opt *find_opt(const struct easel_cmd_spec *spec,
                                        const char *name, size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        if (strlen(o->flag) == len && strncmp(o->flag, name, len) == 0)
            return o;
    }
    return NULL;
}

easel_err easel_config_parse(const struct easel_cmd_spec *spec, void *cfg,
                             int argc, char **argv, char ***args, int *nargs,
                             struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    char **pos = calloc((size_t)argc + 1, sizeof(*pos));
    int npos = 0;
    if (!pos)
        return EASEL_ENOMEM;
    *args = NULL;
    *nargs = 0;

    /* Defaults, then the environment. */
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        if (o->def && o->type != EASEL_OPT_LIST) {
            rc = set_value(cfg, o, o->def, "default", err);
            if (rc)
                goto out;
        }
        const char *env = o->env ? getenv(o->env) : NULL;
        if (env && (*env || (o->flags & EASEL_OPT_EMPTY))) {
            char origin[80];
            /* only ever quoted in an error message for a person */
            easel_fmt_cut(origin, sizeof(origin), "environment %s", o->env);
            if (o->type == EASEL_OPT_LIST) {
                /* a list in the environment is comma-separated */
                char *copy = strdup(env), *save = NULL;
                if (!copy) {
                    rc = EASEL_ENOMEM;
                    goto out;
                }
                for (char *t = strtok_r(copy, ",", &save); t && !rc;
                     t = strtok_r(NULL, ",", &save))
                    rc = set_value(cfg, o, t, origin, err);
                free(copy);
            } else {
                rc = set_value(cfg, o, env, origin, err);
            }
            if (rc)
                goto out;
        }
    }

    /* Flags: --name value, --name=value, a bare --bool; "--" ends flags. */
    bool flags_done = false;
    bool env_lists_cleared[64] = {false};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            easel_config_help(spec, stdout);
            rc = EASEL_ECANCELED;
            goto out;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct easel_opt *o = find_opt(spec, name, nlen);
        /* The short flags: -o for the output format, -f to follow. */
        if (!o && nlen == 1 && name[0] == 'o')
            o = find_opt(spec, "output", 6);
        if (!o && nlen == 1 && name[0] == 'f')
            o = find_opt(spec, "follow", 6);
        if (!o) {
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                 EASEL_R_BAD_FLAG,
                                 "unknown flag %.*s for \"easel %s\" (see easel %s --help)",
                                 (int)(nlen + (size_t)(name - a)), a,
                                 spec->name, spec->name);
            goto out;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == EASEL_OPT_BOOL) {
            val = "true";
        } else if (!val) {
            if (i + 1 >= argc) {
                rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                     EASEL_R_BAD_FLAG, "flag --%s needs a value",
                                     o->flag);
                goto out;
            }
            val = argv[++i];
        }
        /* A list given on the command line replaces one from the env. */
        size_t idx = (size_t)(o - spec->opts);
        if (o->type == EASEL_OPT_LIST && idx < 64 && !env_lists_cleared[idx]) {
            env_lists_cleared[idx] = true;
            char ***lp = (char ***)field(cfg, o);
            for (size_t k = 0; *lp && (*lp)[k]; k++)
                free((*lp)[k]);
            free(*lp);
            *lp = NULL;
        }
        rc = set_value(cfg, o, val, "flag", err);
        if (rc)
            goto out;
    }

    if (npos < spec->min_args || npos > spec->max_args) {
        if (spec->min_args == spec->max_args)
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                 EASEL_R_BAD_ARGS,
                                 "\"easel %s\" takes %d argument%s, got %d (usage: %s)",
                                 spec->name, spec->min_args,
                                 spec->min_args == 1 ? "" : "s", npos,
                                 spec->usage);
        else
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                 EASEL_R_BAD_ARGS,
                                 "\"easel %s\" takes %d to %d arguments, got %d (usage: %s)",
                                 spec->name, spec->min_args, spec->max_args,
                                 npos, spec->usage);
        goto out;
    }
    *args = pos;
    *nargs = npos;
    pos = NULL;
out:
    free(pos);
    return rc;
}

void easel_config_cleanup(const struct easel_cmd_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        void *f = field(cfg, o);
        if (o->type == EASEL_OPT_STRING) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (o->type == EASEL_OPT_LIST) {
            char **l = *(char ***)f;
            for (size_t k = 0; l && l[k]; k++)
                free(l[k]);
            free(l);
            *(char ***)f = NULL;
        }
    }
}

static const char *type_hint(enum easel_opt_type t)
{
    switch (t) {
    case EASEL_OPT_STRING:
        return "string";
    case EASEL_OPT_INT:
    case EASEL_OPT_I64:
        return "int";
    case EASEL_OPT_BOOL:
        return "bool";
    case EASEL_OPT_DURATION:
        return "duration";
    case EASEL_OPT_SIZE:
        return "size";
    case EASEL_OPT_LIST:
        return "string, repeatable";
    }
    return "";
}

/* Said of the settings a controller passes on to its workers. */
static const char *inherited(const struct easel_opt *o)
{
    if (!(o->flags & EASEL_OPT_WORKER))
        return "";
    return o->flags & EASEL_OPT_SECRET ? " (passed on to workers; to pods from a Secret)"
                                       : " (passed on to workers)";
}

void easel_config_help(const struct easel_cmd_spec *spec, FILE *out)
{
    fprintf(out, "%s\n\nUsage: %s\n", spec->summary, spec->usage);
    if (spec->nopts)
        fprintf(out, "\nFlags (flag > environment > default):\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        fprintf(out, "  --%s <%s>\n      %s%s\n", o->flag, type_hint(o->type),
                o->help, inherited(o));
        if (o->env || o->def)
            fprintf(out, "      %s%s%s%s%s\n", o->env ? "env " : "",
                    o->env ? o->env : "", o->env && o->def ? ", " : "",
                    o->def ? "default " : "", o->def ? o->def : "");
    }
    fprintf(out, "  --help\n      Show this help.\n");
}

void easel_config_markdown(const struct easel_cmd_spec *spec, FILE *out)
{
    fprintf(out, "### `easel %s`\n\n%s\n\n", spec->name, spec->summary);
    fprintf(out, "Usage: `%s`\n\n", spec->usage);
    if (!spec->nopts) {
        fprintf(out, "No flags.\n\n");
        return;
    }
    fprintf(out, "| flag | environment | default | type | meaning |\n");
    fprintf(out, "| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        fprintf(out, "| `--%s` | %s%s%s | %s%s%s | %s | %s%s |\n", o->flag,
                o->env ? "`" : "", o->env ? o->env : "-", o->env ? "`" : "",
                o->def ? "`" : "", o->def ? o->def : "-", o->def ? "`" : "",
                type_hint(o->type), o->help, inherited(o));
    }
    fprintf(out, "\n");
}

/* ------------------------------------------------------------------ export */

/* A list as one variable: the reader splits on commas and drops empty
 * pieces, so an entry must be non-empty and hold no comma. */
static char *export_list(const struct easel_opt *o, char *const *list, easel_err *rc,
                         struct easel_error *err)
{
    if (!list || !list[0])
        return NULL;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    for (size_t i = 0; list[i]; i++) {
        if (!*list[i] || strchr(list[i], ',')) {
            *rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                                  "--%s \"%s\" cannot be passed on in %s: an entry must be "
                                  "non-empty and hold no comma",
                                  o->flag, list[i], o->env);
            easel_buf_cleanup(&b);
            return NULL;
        }
        if ((i && easel_buf_puts(&b, ",")) || easel_buf_puts(&b, list[i])) {
            easel_buf_cleanup(&b);
            *rc = EASEL_ENOMEM;
            return NULL;
        }
    }
    return easel_buf_steal(&b, NULL);
}

/* One value as the text set_value reads back to the same value. NULL with
 * *rc == EASEL_OK when it is unset. */
static char *export_value(const struct easel_opt *o, const void *cfg, easel_err *rc,
                          struct easel_error *err)
{
    const void *f = (const char *)cfg + o->offset;
    char *v = NULL;
    *rc = EASEL_OK;
    switch (o->type) {
    case EASEL_OPT_STRING: {
        const char *s = *(char *const *)f;
        if (!s || !*s)
            return NULL;
        v = strdup(s);
        break;
    }
    case EASEL_OPT_INT:
        v = easel_asprintf("%d", *(const int *)f);
        break;
    case EASEL_OPT_I64:
    case EASEL_OPT_SIZE:
        v = easel_asprintf("%lld", (long long)*(const int64_t *)f);
        break;
    case EASEL_OPT_DURATION:
        v = easel_asprintf("%lldms", (long long)*(const int64_t *)f);
        break;
    case EASEL_OPT_BOOL:
        v = strdup(*(const bool *)f ? "true" : "false");
        break;
    case EASEL_OPT_LIST:
        return export_list(o, *(char **const *)f, rc, err);
    }
    if (!v)
        *rc = EASEL_ENOMEM;
    return v;
}

easel_err easel_config_export(const struct easel_cmd_spec *spec, const void *cfg,
                              unsigned mask, struct easel_settings *out,
                              struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    out->v = NULL;
    out->n = 0;
    struct easel_settings s = {calloc(spec->nopts + 1, sizeof(*s.v)), 0};
    if (!s.v)
        return EASEL_ENOMEM;
    for (size_t i = 0; i < spec->nopts; i++) {
        const struct easel_opt *o = &spec->opts[i];
        if (!o->env || (o->flags & mask) != mask)
            continue;
        char *v = export_value(o, cfg, &rc, err);
        if (rc)
            goto out;
        if (!v)
            continue; /* unset: the reader applies its default */
        s.v[s.n].opt = o;
        s.v[s.n++].value = v;
    }
    *out = s;
    s.v = NULL;
    s.n = 0;
out:
    easel_settings_cleanup(&s);
    return rc;
}

const struct easel_setting *easel_settings_find(const struct easel_settings *s,
                                                const char *env)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->v[i].opt->env, env))
            return &s->v[i];
    return NULL;
}

easel_err easel_settings_copy(const struct easel_settings *from, struct easel_settings *to)
{
    to->v = NULL;
    to->n = 0;
    if (!from || !from->n)
        return EASEL_OK;
    struct easel_settings s = {calloc(from->n, sizeof(*s.v)), 0};
    if (!s.v)
        return EASEL_ENOMEM;
    for (; s.n < from->n; s.n++) {
        s.v[s.n].opt = from->v[s.n].opt;
        if (!(s.v[s.n].value = strdup(from->v[s.n].value))) {
            easel_settings_cleanup(&s);
            return EASEL_ENOMEM;
        }
    }
    *to = s;
    return EASEL_OK;
}

void easel_settings_cleanup(struct easel_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].value);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
