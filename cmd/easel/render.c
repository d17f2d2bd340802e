/*
 * render.c - `easel render job`: the batch/v1 Job the kubernetes executor
 * would create, printed as YAML for review and GitOps diffs. It goes
 * through the executor's own builder (easel_kube_job_build) with the same
 * settings, so what is printed is what would be sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/job.h"
#include "easel/kube.h"
#include "easel/kubejob.h"
#include "easel/store.h"
#include "easel/worker.h"
#include "settings.h"

/* The settings -> builder parameters mapping, shared with the controller. */
void kube_job_params_from(const struct settings *s, const char *ns,
                          const struct easel_worker_settings *w,
                          struct easel_kube_job_params *p)
{
    memset(p, 0, sizeof(*p));
    p->namespace = ns;
    p->worker = w;
    p->image = s->worker_image && *s->worker_image ? s->worker_image
                                                   : "easel:" EASEL_VERSION;
    p->image_pull_policy = s->image_pull_policy;
    p->database_secret = s->database_secret && *s->database_secret ? s->database_secret
                                                                   : NULL;
    p->provider_secret = s->provider_secret;
    p->redis_secret = s->redis_secret && *s->redis_secret ? s->redis_secret : NULL;
    p->storage_secret = s->storage_secret && *s->storage_secret ? s->storage_secret : NULL;
    p->ttl_seconds = (int)(s->job_ttl_ms / 1000);
    p->kueue_queue = s->kueue_queue;
    p->controller_id = s->controller_id;
}

/* The namespace: the flag, else the kubeconfig's (if one can be read),
 * else "default". Rendering must work without any cluster. */
static char *namespace_of(const struct settings *s)
{
    if (s->kube_namespace && *s->kube_namespace)
        return strdup(s->kube_namespace);
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    if (easel_kube_config_load(s->kubeconfig, NULL, &c, &err) == EASEL_OK) {
        char *ns = strdup(c->namespace);
        easel_kube_config_free(c);
        return ns;
    }
    return strdup("default");
}

int mode_render(struct settings *s, char **args, int nargs)
{
    (void)nargs;
    if (strcmp(args[0], "job") != 0) {
        fprintf(stderr, "easel render: unknown object \"%s\" (usage: easel render job (--id ID | --model M))\n",
                args[0]);
        return 2;
    }
    if (s->output && strcmp(s->output, "yaml") != 0 && strcmp(s->output, "json") != 0) {
        fprintf(stderr, "easel render job: -o must be yaml or json, got \"%s\"\n", s->output);
        return 2;
    }
    if (!!(s->id && *s->id) == !!(s->model && *s->model)) {
        fprintf(stderr, "easel render job: give exactly one of --id and --model\n");
        return 2;
    }
    struct easel_registry *reg = NULL;
    struct easel_diags d = {0};
    easel_err rc = s->registry && *s->registry
                       ? easel_registry_load_file(s->registry, &reg, &d)
                       : easel_registry_builtin(&reg);
    if (rc) {
        easel_diags_print(&d, s->registry, stderr);
        easel_diags_cleanup(&d);
        fprintf(stderr, "easel render job: the registry is invalid\n");
        return 1;
    }
    easel_diags_cleanup(&d);

    char job_id[EASEL_UUID_LEN + 1] = "00000000-0000-4000-8000-000000000000";
    char *model = NULL;
    int attempt = s->attempt > 0 ? s->attempt : 1;
    if (s->id && *s->id) {
        if (!easel_uuid_valid(s->id)) {
            fprintf(stderr, "easel render job: --id must be a UUID, got \"%s\"\n", s->id);
            easel_registry_unref(reg);
            return 2;
        }
        struct easel_store *st = NULL;
        struct easel_error err;
        easel_error_clear(&err);
        if (easel_store_open(s->database_url, &st, &err) != EASEL_OK) {
            fprintf(stderr, "easel render job: cannot reach the database: %s\n", err.msg);
            easel_registry_unref(reg);
            return 1;
        }
        struct easel_job *j = NULL;
        rc = easel_store_job_get(st, s->id, &j);
        if (rc) {
            fprintf(stderr, "easel render job: %s: %s\n", s->id,
                    rc == EASEL_ENOTFOUND ? "no such job" : easel_store_errstr(st));
            easel_store_free(st);
            easel_registry_unref(reg);
            return rc == EASEL_ENOTFOUND ? 13 : 1;
        }
        easel_strlcpy(job_id, j->id, sizeof(job_id));
        model = strdup(j->model);
        if (s->attempt <= 0)
            attempt = j->attempts + 1;
        easel_job_free(j);
        easel_store_free(st);
    } else {
        model = strdup(s->model);
    }
    /* what the worker inherits, exactly as a controller with these
     * settings would pass it on */
    struct easel_worker_settings ws;
    struct easel_error werr;
    easel_error_clear(&werr);
    rc = easel_worker_settings_build(render_spec, worker_spec, s, &ws, &werr);
    if (rc) {
        fprintf(stderr, "easel render job: %s\n", werr.msg[0] ? werr.msg : easel_strerror(rc));
        free(model);
        easel_registry_unref(reg);
        return rc == EASEL_EINVAL ? 2 : 1;
    }
    char *ns = namespace_of(s);
    struct easel_kube_job_params p;
    kube_job_params_from(s, ns, &ws, &p);
    p.registry = reg;
    p.model_id = model;
    p.job_id = job_id;
    p.attempt = attempt;
    cJSON *job = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    rc = easel_kube_job_build(&p, &job, &err);
    int status = 0;
    if (rc) {
        fprintf(stderr, "easel render job: %s\n", err.msg[0] ? err.msg : easel_strerror(rc));
        status = 1;
    } else {
        bool json = s->output && !strcmp(s->output, "json");
        char *yaml = json ? cJSON_Print(job) : easel_json_to_yaml(job);
        if (yaml)
            printf("%s%s", yaml, json ? "\n" : "");
        else
            status = 1;
        free(yaml);
    }
    cJSON_Delete(job);
    easel_worker_settings_cleanup(&ws);
    free(ns);
    free(model);
    easel_registry_unref(reg);
    return status;
}
