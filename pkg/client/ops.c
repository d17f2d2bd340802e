/*
 * ops.c - submit, cancel and retry, as the CLI performs them against Redis
 * and Postgres. Each is safe to repeat: submit with a fixed id or an
 * idempotency key creates one job, cancel and retry check the job's state in
 * the same statement that changes it.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/client.h"
#include "easel/credits.h"

#define B(s) EASEL_STATUS_BIT(EASEL_STATUS_##s)

easel_err easel_client_submit(struct easel_queue *q, const struct easel_submit *s,
                              char id_out[EASEL_UUID_LEN + 1],
                              struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    cJSON *env = cJSON_CreateObject(), *payload = NULL;
    char *text = NULL;
    if (!env)
        return EASEL_ENOMEM;
    if (s->id) {
        if (!easel_uuid_valid(s->id)) {
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                 EASEL_R_BAD_JOB_ID, "--id must be a UUID, got \"%s\"",
                                 s->id);
            goto out;
        }
        easel_strlcpy(id_out, s->id, EASEL_UUID_LEN + 1);
    } else if ((rc = easel_uuid_v4(id_out))) {
        goto out;
    }
    if (s->input_json) {
        payload = cJSON_Parse(s->input_json);
        if (!cJSON_IsObject(payload)) {
            rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                                 EASEL_R_MALFORMED_JSON,
                                 "--input must be a JSON object, got: %.80s",
                                 s->input_json);
            goto out;
        }
    } else {
        payload = cJSON_CreateObject();
    }
    if (s->images && s->images[0]) {
        cJSON *imgs = cJSON_CreateArray();
        for (size_t i = 0; s->images[i]; i++)
            cJSON_AddItemToArray(imgs, cJSON_CreateString(s->images[i]));
        cJSON_DeleteItemFromObjectCaseSensitive(payload, "images");
        cJSON_AddItemToObject(payload, "images", imgs);
    }
    cJSON_AddStringToObject(env, "id", id_out);
    if (s->model)
        cJSON_AddStringToObject(env, "model", s->model);
    if (s->type)
        cJSON_AddStringToObject(env, "type", s->type);
    if (s->priority)
        cJSON_AddNumberToObject(env, "priority", s->priority);
    if (s->idempotency_key)
        cJSON_AddStringToObject(env, "idempotency_key", s->idempotency_key);
    cJSON_AddItemToObject(env, "payload", payload);
    payload = NULL;
    text = cJSON_PrintUnformatted(env);
    if (!text) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    rc = easel_queue_push(q, text, strlen(text));
    if (rc)
        easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_REDIS_UNAVAILABLE,
                        "could not push the job: %s", easel_queue_errstr(q));
out:
    cJSON_Delete(payload);
    cJSON_Delete(env);
    free(text);
    return rc;
}

static easel_err load_error(struct easel_store *s, easel_err rc, const char *id,
                            struct easel_error *err)
{
    if (rc == EASEL_ENOTFOUND)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NOT_FOUND,
                               "no job with id %s", id);
    return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_DATABASE_ERROR,
                           "%s", easel_store_errstr(s));
}

easel_err easel_client_cancel(struct easel_store *s, struct easel_queue *q,
                              const char *id, struct easel_error *err)
{
    struct easel_transition t = {.reason = "Canceled",
                                 .message = "canceled by request"};
    struct easel_job *j = NULL;
    easel_err rc = easel_store_job_transition(
        s, id, easel_status_allowed_from(EASEL_STATUS_CANCELED),
        EASEL_STATUS_CANCELED, &t, &j);
    if (rc == EASEL_ECONFLICT) {
        struct easel_job *cur = NULL;
        if (easel_store_job_get(s, id, &cur) == EASEL_OK) {
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_ALREADY_FINISHED,
                            "job %s already ended as %s", id,
                            easel_status_name(cur->status));
            easel_job_free(cur);
        }
        return rc;
    }
    if (rc)
        return load_error(s, rc, id, err);
    easel_job_free(j);
    /* A job waiting for its backoff has no one holding it: drop the entry
     * now. Queued and running ones are settled by whoever claims or runs
     * them, when they read the canceled record. */
    bool removed = false;
    if (q && easel_queue_cancel_delayed(q, id, &removed) != EASEL_OK)
        easel_warn(id, "could not remove the delayed entry: %s (it will be dropped when claimed)",
                   easel_queue_errstr(q));
    return EASEL_OK;
}

/* A manual retry of a job whose credits the app keeps: a new reservation
 * in the app, then the requeue that records it (docs/credits.md#external).
 * The same codes as the transition (EASEL_ECONFLICT and EASEL_ENOTFOUND
 * with err left to the caller), EASEL_ELIMIT when the app refuses. */
static easel_err requeue_external(struct easel_store *s, const struct easel_credits_ctx *cc,
                                  const struct easel_job *cur,
                                  const struct easel_transition *t, struct easel_job **j,
                                  struct easel_error *err)
{
    if (!cc || !cc->cfg || !cc->cfg->external)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_INVALID_ARGUMENT,
                               "job %s's credits are kept by the app (credits.mode external): "
                               "retry it where the registry and --app-database-url are (a "
                               "controller's API, or easel retry with --registry and "
                               "--app-database-url)", cur->id);
    /* the caller says why, as for any other job */
    if (cur->status != EASEL_STATUS_FAILED && cur->status != EASEL_STATUS_DEAD)
        return EASEL_ECONFLICT;
    struct easel_app_job aj = {.job_id = cur->id, .owner = cur->owner, .channel = cur->channel,
                               .model = cur->model, .amount = cur->cost};
    int budget = 0;
    bool ok = false;
    easel_err rc = easel_credits_reserve(s, cc, &aj, true, &budget, &ok, err);
    if (rc)
        return rc;
    if (!ok) {
        char who[300];
        (void)easel_owner_key(cur->channel, cur->owner, who, sizeof(who));
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                               EASEL_R_INSUFFICIENT_CREDITS,
                               "owner %s cannot cover the %d credits of job %s: the app's "
                               "credits.reserve returned false", who, cur->cost, cur->id);
    }
    /* on any failure from here the armed refund stays and undoes the
     * reservation after abandon_after */
    rc = easel_store_app_requeue(s, cur->id, budget, t, j);
    if (rc == EASEL_EAGAIN)
        return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL, "%s",
                               easel_store_errstr(s));
    return rc;
}

easel_err easel_client_retry(struct easel_store *s, struct easel_queue *q,
                             const char *id, struct easel_error *err)
{
    return easel_client_retry_credits(s, q, NULL, id, err);
}

easel_err easel_client_retry_credits(struct easel_store *s, struct easel_queue *q,
                                     const struct easel_credits_ctx *cc, const char *id,
                                     struct easel_error *err)
{
    struct easel_transition t = {.reason = "Requeued",
                                 .message = "retried by request with a fresh attempt budget",
                                 .reset_attempts = true, .clear_error = true};
    struct easel_job *j = NULL, *cur = NULL;
    char *text = NULL;
    cJSON *env = NULL;
    easel_err rc = easel_store_job_get(s, id, &cur);
    if (rc)
        return load_error(s, rc, id, err);
    if (cur->credit_external && cur->cost > 0 && cur->owner) {
        rc = requeue_external(s, cc, cur, &t, &j, err);
        easel_job_free(cur);
        if (rc && rc != EASEL_ECONFLICT && rc != EASEL_ENOTFOUND)
            return rc; /* err is filled */
    } else {
        easel_job_free(cur);
        rc = easel_store_job_transition(s, id, B(FAILED) | B(DEAD), EASEL_STATUS_QUEUED, &t,
                                        &j);
    }
    if (rc == EASEL_ECONFLICT) {
        if (easel_store_job_get(s, id, &cur) == EASEL_OK) {
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NOT_RETRYABLE,
                            "job %s is %s; only failed or dead jobs can be retried",
                            id, easel_status_name(cur->status));
            easel_job_free(cur);
        }
        return rc;
    }
    if (rc == EASEL_ELIMIT) {
        /* the owner cannot cover a new reservation (migration 9) */
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_INSUFFICIENT_CREDITS, "%s",
                        easel_store_errstr(s));
        return rc;
    }
    if (rc)
        return load_error(s, rc, id, err);
    bool found = false;
    easel_queue_undead(q, id, &found);
    env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "id", j->id);
    cJSON_AddStringToObject(env, "model", j->model);
    if (j->type)
        cJSON_AddStringToObject(env, "type", j->type);
    if (j->priority)
        cJSON_AddNumberToObject(env, "priority", j->priority);
    cJSON *payload = j->payload ? cJSON_Parse(j->payload) : NULL;
    cJSON_AddItemToObject(env, "payload", payload ? payload : cJSON_CreateObject());
    text = cJSON_PrintUnformatted(env);
    rc = text ? easel_queue_push(q, text, strlen(text)) : EASEL_ENOMEM;
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_REDIS_UNAVAILABLE,
                        "could not push the job again: %s; it stays dead",
                        easel_queue_errstr(q));
        /* Nothing was queued: put the record back so it is not left QUEUED
         * with no entry anywhere. */
        struct easel_transition back = {
            .reason = "RetryFailed", .message = err ? err->msg : "retry failed",
            .error_class = "retryable", .error_reason = "redis_unavailable",
            .error_message = err ? err->msg : "retry could not be queued"};
        easel_store_job_transition(s, id, B(QUEUED), EASEL_STATUS_DEAD, &back,
                                   NULL);
    }
    cJSON_Delete(env);
    free(text);
    easel_job_free(j);
    return rc;
}
