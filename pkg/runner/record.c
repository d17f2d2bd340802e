/*
 * record.c - how an attempt ends up in the record: the result document of
 * a success, the final transition (which checks RUNNING, so a job canceled
 * meanwhile stays canceled), the failure handed to the failure plan, and
 * the one-line JSON summary a Kubernetes pod leaves in its termination log
 * for the controller to read.
 */
#include <string.h>

#include "runner_int.h"

easel_err runner_result(cJSON *res, const char *preset, const struct runner_sources *src,
                        struct runner_output *out, int64_t t0, char **text)
{
    cJSON_AddStringToObject(res, "model", out->model->id);
    cJSON_AddStringToObject(res, "preset", preset);
    char hex[17];
    easel_phash_hex(out->phash, hex);
    cJSON_AddStringToObject(res, "phash", hex);
    cJSON *source = cJSON_AddObjectToObject(res, "source");
    cJSON_AddStringToObject(source, "url", src->urls[0]->valuestring);
    cJSON_AddNumberToObject(source, "width", easel_image_width(src->img[0]));
    cJSON_AddNumberToObject(source, "height", easel_image_height(src->img[0]));
    cJSON_AddNumberToObject(source, "bytes", (double)src->bytes[0]);
    if (out->provider && cJSON_AddItemToObject(res, "provider", out->provider))
        out->provider = NULL;
    cJSON_AddNumberToObject(res, "duration_ms", (double)(easel_now_ms() - t0));
    *text = cJSON_PrintUnformatted(res);
    return *text ? EASEL_OK : EASEL_ENOMEM;
}

void runner_record_success(struct attempt *a, const char *result, const char *model)
{
    struct easel_job *after = NULL;
    struct easel_transition done = {
        .reason = "Succeeded",
        .message = "outputs stored",
        .result = result,
        .result_model = model ? model : a->job->model,
        .clear_error = true,
    };
    easel_err rc = easel_store_job_transition(a->store, a->job_id, B(RUNNING),
                                              EASEL_STATUS_SUCCEEDED, &done, &after);
    if (rc == EASEL_OK) {
        easel_info(a->job_id, "succeeded");
        a->code = EASEL_EXIT_OK;
        a->final = "succeeded";
    } else if (rc == EASEL_ECONFLICT) {
        easel_job_free(after);
        after = NULL;
        easel_store_job_get(a->store, a->job_id, &after);
        /* a status name is a static string: it outlives `after` */
        a->final = after ? easel_status_name(after->status) : "unknown";
        a->code = after && after->status == EASEL_STATUS_CANCELED ? EASEL_EXIT_CANCELED
                                                                   : EASEL_EXIT_NOT_RUNNABLE;
        easel_warn(a->job_id, "work finished but the job is now %s; result discarded",
                   a->final);
    } else {
        easel_error_log(a->job_id, "could not record success: %s",
                        easel_store_errstr(a->store));
        a->code = EASEL_EXIT_UNAVAILABLE;
        a->final = "unavailable";
    }
    easel_job_free(after);
}

void runner_record_failure(struct attempt *a, easel_err rc)
{
    struct easel_error *err = &a->err;
    if (*a->stop) {
        /* SIGTERM: a timeout, a cancel or a pod going away. Whoever sent
         * it knows why and records it; a guess here would hide that. */
        easel_warn(a->job_id, "asked to stop (%s); leaving the record to the controller",
                   err->msg[0] ? err->msg : "no error");
        a->code = EASEL_EXIT_TERMINATED;
        a->final = "terminated";
        return;
    }
    if (err->code == EASEL_OK)
        easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL, "%s (%s)",
                        easel_strerror(rc), easel_err_name(rc));
    if (err->cls == EASEL_CLASS_NONE)
        err->cls = EASEL_CLASS_RETRYABLE;
    easel_log_kv(EASEL_LOG_WARN, a->job_id,
                 (const char *const[]){"class", easel_errclass_name(err->cls),
                                       "reason", err->reason, NULL},
                 "attempt failed: %s", err->msg);
    struct easel_failure_plan plan;
    struct easel_job *after = NULL;
    easel_failure_plan(a->reg, a->job->model, a->job->attempts, &plan);
    rc = easel_record_failure(a->store, a->job_id, B(RUNNING), &plan, a->job->attempts, err,
                              &after);
    if (rc == EASEL_OK) {
        a->final = easel_status_name(after->status);
        a->code = err->cls == EASEL_CLASS_PERMANENT ? EASEL_EXIT_PERMANENT
                                                     : EASEL_EXIT_RETRYABLE;
    } else if (rc == EASEL_ECONFLICT) {
        a->code = EASEL_EXIT_CANCELED;
        a->final = "canceled";
    } else {
        a->code = EASEL_EXIT_UNAVAILABLE;
        a->final = "unavailable";
    }
    easel_job_free(after);
}

void runner_write_termination(const struct attempt *a)
{
    const struct easel_runner_opts *o = a->o;
    const struct easel_error *e = &a->err;
    if (!o->termination_log || !*o->termination_log)
        return;
    struct easel_buf b;
    easel_buf_init(&b, 4096);
    easel_buf_puts(&b, "{\"job_id\":");
    easel_buf_json_str(&b, a->job_id);
    easel_buf_printf(&b, ",\"attempt\":%d,\"status\":", a->job ? a->job->attempts : o->attempt);
    easel_buf_json_str(&b, a->final);
    easel_buf_printf(&b, ",\"exit_code\":%d", a->code);
    if (e->code) {
        easel_buf_puts(&b, ",\"error_class\":");
        easel_buf_json_str(&b, easel_errclass_name(e->cls));
        easel_buf_puts(&b, ",\"error_reason\":");
        easel_buf_json_str(&b, e->reason);
        easel_buf_puts(&b, ",\"error\":");
        easel_buf_json_str(&b, e->msg);
    }
    easel_buf_puts(&b, "}\n");
    if (b.data && easel_write_file_atomic(o->termination_log, b.data, b.len))
        easel_warn(a->job_id, "could not write termination message to %s", o->termination_log);
    easel_buf_cleanup(&b);
}
