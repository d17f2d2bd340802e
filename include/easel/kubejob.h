/*
 * kubejob.h - the batch/v1 Job that runs one attempt of one easel job, built
 * in one place so that the kubernetes executor and `easel render job`
 * produce the same object, byte for byte.
 */
#ifndef EASEL_KUBEJOB_H
#define EASEL_KUBEJOB_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "easel/core.h"
#include "easel/registry.h"
#include "easel/worker.h"

/* Labels and annotations easel puts on its Jobs and pods. */
#define EASEL_LBL_NAME "app.kubernetes.io/name"
#define EASEL_LBL_MANAGED_BY "app.kubernetes.io/managed-by"
#define EASEL_LBL_COMPONENT "app.kubernetes.io/component"
#define EASEL_LBL_JOB_ID "easel.dev/job-id"
#define EASEL_LBL_MODEL "easel.dev/model"
#define EASEL_LBL_ATTEMPT "easel.dev/attempt"
#define EASEL_ANN_STATUS "easel.dev/status"
#define EASEL_ANN_ATTEMPT "easel.dev/attempt"
#define EASEL_ANN_MODEL "easel.dev/model"
#define EASEL_ANN_CONTROLLER "easel.dev/controller"
#define EASEL_ANN_ERROR "easel.dev/error"
#define EASEL_ANN_RESULT "easel.dev/result"
#define EASEL_ANN_STARTED "easel.dev/started-at"
#define EASEL_ANN_FINISHED "easel.dev/finished-at"
/* The selector every easel worker Job and pod matches. */
#define EASEL_WORKER_SELECTOR                                                  \
    "app.kubernetes.io/managed-by=easel-controller,app.kubernetes.io/component=worker"

struct easel_kube_job_params {
    const char *namespace;
    const char *job_id;           /* UUID */
    int attempt;                  /* >= 1 */
    const struct easel_registry *registry; /* model definition and export */
    const char *model_id;
    const char *image;            /* default worker image (the controller's) */
    const char *image_pull_policy;        /* NULL = IfNotPresent */
    /* what the worker inherits from its controller (worker.h): each in the
     * container's env, a credential (EASEL_OPT_SECRET) only as a reference
     * to the Secret below that holds it, never inline (borrowed) */
    const struct easel_worker_settings *worker;
    const char *database_secret;  /* Secret holding the database URL */
    const char *database_secret_key;      /* NULL = "database-url" */
    const char *provider_secret;  /* Secret with provider keys by env name, or NULL */
    const char *redis_secret;     /* Secret whose redis-url the worker's breakers use, or NULL */
    const char *storage_secret;   /* Secret loaded whole as the worker's env (S3 settings), or NULL */
    int64_t timeout_ms;           /* activeDeadlineSeconds; 0 = model's */
    int ttl_seconds;              /* ttlSecondsAfterFinished; < 0 = none */
    const char *kueue_queue;      /* create suspended with the queue label */
    const char *controller_id;    /* recorded in an annotation */
    const char *service_account;  /* NULL = the namespace default (no token mounted anyway) */
    const char *traceparent;      /* the dispatch span's context (TRACEPARENT), or NULL */
};

/* "easel-<job id>-<attempt>": at most 63 characters, a valid label value.
 * EASEL_ELIMIT when the name would be longer or not fit in dst: a cut name
 * would be another Job's. */
easel_err easel_kube_job_name(const char *job_id, int attempt, char *dst, size_t len);
/* A label value for a model id ("qwen/qwen-image-edit" -> "qwen.qwen-image-edit"). */
void easel_kube_label_value(const char *s, char *dst, size_t len);

/* Builds the Job. Fails (EASEL_ENOTFOUND, err filled) when the model is not
 * in the registry. */
easel_err easel_kube_job_build(const struct easel_kube_job_params *p, cJSON **out,
                               struct easel_error *err);

/* The same object as YAML text (for `easel render job`). malloc'd. */
char *easel_json_to_yaml(const cJSON *obj);

#endif
