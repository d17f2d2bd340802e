/*
 * kube_job.c - the batch/v1 Job for one attempt.
 *
 * Retries are easel's, so the Job never retries (backoffLimit 0) and its
 * deadline is the model's timeout. The pod runs the controller's own image
 * as `easel job --id ID --attempt N`, with the model's registry inline, the
 * settings of the worker contract (worker.h) in its env, the database URL,
 * the Redis URL and provider keys from Secret references, and the tightest
 * security context a worker allows: non-root, read-only root filesystem
 * (a memory-backed /tmp for libvips), no privilege escalation, no
 * capabilities, no service-account token.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/kubejob.h"
#include "easel/trace.h"

easel_err easel_kube_job_name(const char *job_id, int attempt, char *dst, size_t len)
{
    easel_err rc = easel_snprintf(dst, len, "easel-%s-%d", job_id, attempt);
    if (rc == EASEL_OK && strlen(dst) > 63)
        rc = EASEL_ELIMIT; /* the job-name label Kubernetes adds takes no more */
    for (char *p = dst; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return rc;
}

void easel_kube_label_value(const char *s, char *dst, size_t len)
{
    size_t n = 0;
    for (; *s && n + 1 < len && n < 63; s++) {
        char c = *s;
        bool ok = isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
        dst[n++] = ok ? c : '.';
    }
    /* must begin and end with an alphanumeric character */
    while (n > 0 && !isalnum((unsigned char)dst[n - 1]))
        n--;
    dst[n] = '\0';
    size_t skip = 0;
    while (dst[skip] && !isalnum((unsigned char)dst[skip]))
        skip++;
    if (skip)
        memmove(dst, dst + skip, n - skip + 1);
}

static void add_env(cJSON *env, const char *name, const char *value)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "value", value);
    cJSON_AddItemToArray(env, e);
}

static void add_secret_env(cJSON *env, const char *name, const char *secret,
                           const char *key, bool optional)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON *ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(e, "valueFrom"),
                                         "secretKeyRef");
    cJSON_AddStringToObject(ref, "name", secret);
    cJSON_AddStringToObject(ref, "key", key);
    if (optional)
        cJSON_AddTrueToObject(ref, "optional");
    cJSON_AddItemToArray(env, e);
}

/* A credential reaches a pod only through a Secret, under the key named
 * like its flag: the database URL from --database-secret (required: a
 * worker records nothing without it), the Redis URL from --redis-secret
 * (optional: without it the shared breakers are off). A credential with no
 * Secret configured is not passed at all. */
static void add_credential(cJSON *env, const struct easel_kube_job_params *p,
                           const struct easel_opt *o)
{
    const char *secret = NULL, *key = o->flag;
    bool optional = true;
    if (!strcmp(o->env, "EASEL_DATABASE_URL")) {
        secret = p->database_secret;
        key = p->database_secret_key ? p->database_secret_key : o->flag;
        optional = false;
    } else if (!strcmp(o->env, "EASEL_REDIS_URL")) {
        secret = p->redis_secret;
    }
    if (secret && *secret)
        add_secret_env(env, o->env, secret, key, optional);
}

static bool env_listed(const cJSON *env, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, env)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return true;
    }
    return false;
}

/* attempt: the attempt number already formatted (by the caller, checked) */
static cJSON *labels_for(const struct easel_kube_job_params *p, const char *attempt)
{
    char model[64];
    easel_kube_label_value(p->model_id, model, sizeof(model));
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, EASEL_LBL_NAME, "easel");
    cJSON_AddStringToObject(l, EASEL_LBL_MANAGED_BY, "easel-controller");
    cJSON_AddStringToObject(l, EASEL_LBL_COMPONENT, "worker");
    cJSON_AddStringToObject(l, EASEL_LBL_JOB_ID, p->job_id);
    cJSON_AddStringToObject(l, EASEL_LBL_MODEL, model);
    cJSON_AddStringToObject(l, EASEL_LBL_ATTEMPT, attempt);
    return l;
}

easel_err easel_kube_job_build(const struct easel_kube_job_params *p, cJSON **out,
                               struct easel_error *err)
{
    *out = NULL;
    const struct easel_model *m = easel_registry_model(p->registry, p->model_id);
    if (!m)
        return easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNKNOWN_MODEL, "model \"%s\" is not in the registry",
                               p->model_id);
    char *registry = easel_registry_export(p->registry, p->model_id);
    if (!registry)
        return EASEL_ENOMEM;
    char name[96], attempt[16], worker[EASEL_WORKER_ID_MAX];
    if (easel_kube_job_name(p->job_id, p->attempt, name, sizeof(name)) != EASEL_OK) {
        free(registry);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                               "job id \"%s\" is too long to name a Kubernetes Job "
                               "(easel-<id>-<attempt> must fit in 63 characters)",
                               p->job_id);
    }
    /* cannot fail: an int takes at most 11 characters */
    if (easel_snprintf(attempt, sizeof(attempt), "%d", p->attempt) != EASEL_OK) {
        free(registry);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "cannot format attempt %d", p->attempt);
    }
    if (easel_worker_id_format(EASEL_WORKER_KUBERNETES, name, p->namespace, worker,
                               sizeof(worker)) != EASEL_OK) {
        free(registry);
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_NAMESPACE,
                               "cannot name the worker of Job %s in namespace \"%s\"", name,
                               p->namespace ? p->namespace : "");
    }
    int64_t timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : m->timeout_ms;
    const cJSON *kube = m->kube;
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(kube, "image");
    const char *image = cJSON_IsString(img) ? img->valuestring : p->image;

    cJSON *job = cJSON_CreateObject();
    cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(job, "kind", "Job");
    cJSON *meta = cJSON_AddObjectToObject(job, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", p->namespace);
    cJSON *labels = labels_for(p, attempt);
    if (p->kueue_queue && *p->kueue_queue)
        cJSON_AddStringToObject(labels, "kueue.x-k8s.io/queue-name", p->kueue_queue);
    cJSON_AddItemToObject(meta, "labels", labels);
    cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(ann, EASEL_ANN_STATUS, "dispatched");
    cJSON_AddStringToObject(ann, EASEL_ANN_ATTEMPT, attempt);
    cJSON_AddStringToObject(ann, EASEL_ANN_MODEL, p->model_id);
    if (p->controller_id)
        cJSON_AddStringToObject(ann, EASEL_ANN_CONTROLLER, p->controller_id);

    cJSON *spec = cJSON_AddObjectToObject(job, "spec");
    cJSON_AddNumberToObject(spec, "backoffLimit", 0);
    cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
                            (double)((timeout_ms + 999) / 1000));
    if (p->ttl_seconds >= 0)
        cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished", p->ttl_seconds);
    if (p->kueue_queue && *p->kueue_queue)
        cJSON_AddTrueToObject(spec, "suspend");
    cJSON *tmpl = cJSON_AddObjectToObject(spec, "template");
    cJSON *tmeta = cJSON_AddObjectToObject(tmpl, "metadata");
    cJSON_AddItemToObject(tmeta, "labels", labels_for(p, attempt));
    cJSON *pod = cJSON_AddObjectToObject(tmpl, "spec");
    cJSON_AddStringToObject(pod, "restartPolicy", "Never");
    cJSON_AddFalseToObject(pod, "automountServiceAccountToken");
    cJSON_AddFalseToObject(pod, "enableServiceLinks");
    if (p->service_account && *p->service_account)
        cJSON_AddStringToObject(pod, "serviceAccountName", p->service_account);
    cJSON_AddNumberToObject(pod, "terminationGracePeriodSeconds", 30);
    cJSON *psc = cJSON_AddObjectToObject(pod, "securityContext");
    cJSON_AddTrueToObject(psc, "runAsNonRoot");
    cJSON_AddNumberToObject(psc, "runAsUser", 65532);
    cJSON_AddNumberToObject(psc, "runAsGroup", 65532);
    cJSON_AddNumberToObject(psc, "fsGroup", 65532);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(psc, "seccompProfile"), "type",
                            "RuntimeDefault");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(kube, "nodeSelector");
    if (ns)
        cJSON_AddItemToObject(pod, "nodeSelector", cJSON_Duplicate(ns, true));
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(kube, "tolerations");
    if (tol)
        cJSON_AddItemToObject(pod, "tolerations", cJSON_Duplicate(tol, true));
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(kube, "priorityClassName");
    if (cJSON_IsString(pc))
        cJSON_AddStringToObject(pod, "priorityClassName", pc->valuestring);

    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "containers"), c);
    cJSON_AddStringToObject(c, "name", "worker");
    cJSON_AddStringToObject(c, "image", image ? image : "easel:latest");
    cJSON_AddStringToObject(c, "imagePullPolicy",
                            p->image_pull_policy ? p->image_pull_policy : "IfNotPresent");
    cJSON *args = cJSON_AddArrayToObject(c, "args");
    const char *argv[] = {"job", "--id", p->job_id, "--attempt", attempt};
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        cJSON_AddItemToArray(args, cJSON_CreateString(argv[i]));
    if (p->storage_secret) { /* optional: S3 credentials and settings, when results go there */
        cJSON *from = cJSON_CreateObject();
        cJSON *ref = cJSON_AddObjectToObject(from, "secretRef");
        cJSON_AddStringToObject(ref, "name", p->storage_secret);
        cJSON_AddTrueToObject(ref, "optional");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "envFrom"), from);
    }
    cJSON *env = cJSON_AddArrayToObject(c, "env");
    /* the worker contract: what a local worker finds in its environment */
    for (size_t i = 0; p->worker && i < p->worker->inherited.n; i++) {
        const struct easel_setting *st = &p->worker->inherited.v[i];
        if (st->opt->flags & EASEL_OPT_SECRET)
            add_credential(env, p, st->opt);
        else
            add_env(env, st->opt->env, st->value);
    }
    /* and what this attempt's pod adds to it */
    add_env(env, "EASEL_REGISTRY_INLINE", registry);
    add_env(env, "EASEL_TERMINATION_LOG", "/dev/termination-log");
    add_env(env, "EASEL_WORKER_NAME", worker);
    /* tracing and error reports: the attempt's parent span, and the
     * controller's settings that are not secrets (header variables,
     * which carry tokens, reach pods only through a Secret) */
    if (p->traceparent && *p->traceparent)
        add_env(env, "TRACEPARENT", p->traceparent);
    for (const char *const *v = easel_telemetry_worker_env; *v; v++) {
        const char *val = getenv(*v);
        if (val && *val && !env_listed(env, *v))
            add_env(env, *v, val);
    }
    /* provider keys of the model and of every fallback it may run */
    if (p->provider_secret && *p->provider_secret) {
        cJSON *doc = cJSON_Parse(registry);
        const cJSON *mm;
        cJSON_ArrayForEach(mm, cJSON_GetObjectItemCaseSensitive(doc, "models"))
        {
            const cJSON *ce = cJSON_GetObjectItemCaseSensitive(mm, "credential_env");
            if (cJSON_IsString(ce) && !env_listed(env, ce->valuestring))
                add_secret_env(env, ce->valuestring, p->provider_secret,
                               ce->valuestring, true);
        }
        cJSON_Delete(doc);
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(kube, "resources");
    if (res)
        cJSON_AddItemToObject(c, "resources", cJSON_Duplicate(res, true));
    cJSON *csc = cJSON_AddObjectToObject(c, "securityContext");
    cJSON_AddFalseToObject(csc, "allowPrivilegeEscalation");
    cJSON_AddTrueToObject(csc, "readOnlyRootFilesystem");
    cJSON_AddTrueToObject(csc, "runAsNonRoot");
    cJSON *drop = cJSON_AddArrayToObject(cJSON_AddObjectToObject(csc, "capabilities"), "drop");
    cJSON_AddItemToArray(drop, cJSON_CreateString("ALL"));
    cJSON_AddStringToObject(c, "terminationMessagePolicy", "FallbackToLogsOnError");
    cJSON *vm = cJSON_CreateObject();
    cJSON_AddStringToObject(vm, "name", "tmp");
    cJSON_AddStringToObject(vm, "mountPath", "/tmp");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "volumeMounts"), vm);
    cJSON *vol = cJSON_CreateObject();
    cJSON_AddStringToObject(vol, "name", "tmp");
    cJSON *ed = cJSON_AddObjectToObject(vol, "emptyDir");
    cJSON_AddStringToObject(ed, "medium", "Memory");
    cJSON_AddStringToObject(ed, "sizeLimit", "256Mi");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pod, "volumes"), vol);
    free(registry);
    *out = job;
    return EASEL_OK;
}
