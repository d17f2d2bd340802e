/*
 * settings.c - what a worker inherits from its controller, derived from
 * the controller's option table (the rows marked EASEL_OPT_WORKER), and
 * the environment a local worker process is started with.
 *
 * The values go through easel_config_export, the inverse of the parser
 * job mode runs, so a worker reads exactly what its controller resolved,
 * whether that came from a flag, the environment or a default.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/worker.h"

/* The row of `job` read from variable `env`, or NULL. */
static const struct easel_opt *job_row(const struct easel_cmd_spec *job, const char *env)
{
    for (size_t i = 0; i < job->nopts; i++)
        if (job->opts[i].env && !strcmp(job->opts[i].env, env))
            return &job->opts[i];
    return NULL;
}

easel_err easel_worker_settings_build(const struct easel_cmd_spec *controller,
                                      const struct easel_cmd_spec *job, const void *cfg,
                                      struct easel_worker_settings *out,
                                      struct easel_error *err)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < controller->nopts; i++) {
        const struct easel_opt *o = &controller->opts[i];
        if (!(o->flags & EASEL_OPT_WORKER))
            continue;
        const struct easel_opt *r = o->env ? job_row(job, o->env) : NULL;
        if (!r || r->type != o->type)
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_CONTRACT,
                                   "--%s is passed on to workers, but \"easel %s\" does not "
                                   "read it as the same kind of value from %s",
                                   o->flag, job->name, o->env ? o->env : "a variable");
    }
    easel_err rc = easel_config_export(controller, cfg, EASEL_OPT_WORKER, &out->inherited,
                                       err);
    if (rc == EASEL_OK)
        out->job = job;
    return rc;
}

easel_err easel_worker_settings_copy(const struct easel_worker_settings *from,
                                     struct easel_worker_settings *to)
{
    memset(to, 0, sizeof(*to));
    easel_err rc = easel_settings_copy(&from->inherited, &to->inherited);
    if (rc == EASEL_OK)
        to->job = from->job;
    return rc;
}

void easel_worker_settings_cleanup(struct easel_worker_settings *w)
{
    if (!w)
        return;
    easel_settings_cleanup(&w->inherited);
    w->job = NULL;
}

/* Is NAME=... (an environment entry) a variable job mode reads? */
static bool read_by_job(const struct easel_cmd_spec *job, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; job && i < job->nopts; i++) {
        const char *env = job->opts[i].env;
        if (env && strlen(env) == n && !strncmp(env, entry, n))
            return true;
    }
    return false;
}

/* Is NAME=... overridden by a later entry of extra? */
static bool in_extra(const char *const *extra, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) + 1 : strlen(entry);
    for (size_t i = 0; extra && extra[i]; i++)
        if (!strncmp(extra[i], entry, n))
            return true;
    return false;
}

char **easel_worker_environ(const struct easel_worker_settings *w, char *const *base,
                            const char *const *extra)
{
    size_t nb = 0, ne = 0;
    while (base && base[nb])
        nb++;
    while (extra && extra[ne])
        ne++;
    char **env = calloc(nb + w->inherited.n + ne + 1, sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < nb; i++)
        if (!read_by_job(w->job, base[i]) && !in_extra(extra, base[i]) &&
            !(env[k++] = strdup(base[i])))
            goto fail;
    for (size_t i = 0; i < w->inherited.n; i++) {
        const struct easel_setting *s = &w->inherited.v[i];
        char *e = easel_asprintf("%s=%s", s->opt->env, s->value);
        if (!e)
            goto fail;
        if (in_extra(extra, e)) {
            free(e);
            continue;
        }
        env[k++] = e;
    }
    for (size_t i = 0; i < ne; i++)
        if (!(env[k++] = strdup(extra[i])))
            goto fail;
    return env;
fail:
    easel_worker_environ_free(env);
    return NULL;
}

void easel_worker_environ_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}
