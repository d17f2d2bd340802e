/*
 * attempt.c - one attempt of one job, start to finish (job mode), told as
 * its stages; each stage lives in its own file (see runner_int.h).
 *
 * The order matters for correctness: the job is claimed in Postgres
 * (DISPATCHED -> RUNNING, checking the attempt number) before any work, so a
 * duplicate or stale worker gives up without side effects; outputs are
 * written under names that depend only on the job, so a retry overwrites
 * instead of duplicating; and the final transition checks RUNNING, so a job
 * canceled meanwhile stays canceled.
 *
 * Signals are the caller's business: this file installs no handler and
 * only reads the stop flag the caller passes in easel_runner_opts.stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_int.h"

/* Loads the job and checks it is this worker's to run. Takes an open
 * a->store; on success a->job is the job. On failure sets a->code,
 * a->final and (where there is one) a->err, and returns non-zero. */
static easel_err load_job(struct attempt *a)
{
    const struct easel_runner_opts *o = a->o;
    easel_err rc = EASEL_OK;
    if (o->job && !strcmp(o->job->id, a->job_id)) {
        /* the caller's fresh copy; the transition to RUNNING checks it */
        a->job = (struct easel_job *)o->job;
        a->job_borrowed = true;
    } else {
        rc = easel_store_job_get(a->store, a->job_id, &a->job);
    }
    if (rc == EASEL_ENOTFOUND) {
        easel_error_set(&a->err, rc, EASEL_CLASS_PERMANENT, EASEL_R_JOB_NOT_FOUND,
                        "no job with id %s", a->job_id);
        easel_error_log(a->job_id, "%s", a->err.msg);
        a->code = EASEL_EXIT_NOT_RUNNABLE;
        a->final = "not_found";
        return rc;
    } else if (rc) {
        easel_error_set(&a->err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_DATABASE_UNAVAILABLE,
                        "cannot load the job: %s", easel_store_errstr(a->store));
        easel_error_log(a->job_id, "%s", a->err.msg);
        a->code = EASEL_EXIT_UNAVAILABLE;
        a->final = "unavailable";
        return rc;
    }
    const struct easel_job *job = a->job;
    if (job->status != EASEL_STATUS_DISPATCHED || (o->attempt > 0 && job->attempts != o->attempt)) {
        easel_error_set(&a->err, EASEL_ECONFLICT, EASEL_CLASS_PERMANENT, EASEL_R_NOT_RUNNABLE,
                        "job is %s at attempt %d; this worker was started for attempt %d",
                        easel_status_name(job->status), job->attempts, o->attempt);
        easel_warn(a->job_id, "%s: nothing to do", a->err.msg);
        a->code = job->status == EASEL_STATUS_CANCELED ? EASEL_EXIT_CANCELED
                                                       : EASEL_EXIT_NOT_RUNNABLE;
        a->final = easel_status_name(job->status);
        return EASEL_ECONFLICT;
    }
    return EASEL_OK;
}

/* Claims the loaded job (DISPATCHED -> RUNNING) and starts the heartbeat.
 * On failure the job is left as it was (another worker's, or canceled),
 * a->code and a->final say so, and there is no heartbeat. */
static easel_err mark_running(struct attempt *a)
{
    const struct easel_runner_opts *o = a->o;
    char msg[160];
    /* the record's message, for people: a long worker name is cut */
    easel_fmt_cut(msg, sizeof(msg), "attempt %d started on %s", a->job->attempts,
                  o->worker ? o->worker : "a worker");
    struct easel_transition t = {.reason = "Started", .worker = o->worker, .message = msg};
    easel_err rc = easel_store_job_transition(a->store, a->job_id, B(DISPATCHED),
                                              EASEL_STATUS_RUNNING, &t, NULL);
    if (rc) {
        easel_warn(a->job_id, "could not mark the job running: %s (%s)", easel_strerror(rc),
                   easel_store_errstr(a->store));
        a->code = rc == EASEL_ECONN ? EASEL_EXIT_UNAVAILABLE : EASEL_EXIT_NOT_RUNNABLE;
        a->final = "not_runnable";
        return rc;
    }
    easel_info(a->job_id, "running attempt %d of model %s", a->job->attempts, a->job->model);
    if (!o->caller_heartbeat) {
        runner_heartbeat_start(&a->hb, o->database_url, a->job_id, o->heartbeat_ms);
        a->hb_on = true;
    }
    return EASEL_OK;
}

/* The registry the attempt runs under: the inline document, the file (the
 * controller's snapshot), or the built-in one. On failure a->reg is NULL
 * and a->err says why (an unreadable file is retryable, a bad inline
 * document is not). */
static easel_err load_registry(struct attempt *a)
{
    const struct easel_runner_opts *o = a->o;
    struct easel_diags d = {0};
    easel_err rc;
    if (o->registry) {
        a->reg = easel_registry_ref(o->registry);
        return EASEL_OK;
    }
    if (o->registry_text && *o->registry_text) {
        rc = easel_registry_parse(o->registry_text, strlen(o->registry_text), "inline registry",
                                  &a->reg, &d);
        if (rc)
            easel_error_set(&a->err, rc, EASEL_CLASS_PERMANENT, EASEL_R_REGISTRY_INVALID,
                            "the inline model registry is invalid (%zu problems; first: %s)",
                            d.n, d.n ? d.items[0].msg : "?");
    } else if (o->registry_path && *o->registry_path) {
        rc = easel_registry_load_file(o->registry_path, &a->reg, &d);
        if (rc)
            easel_error_set(&a->err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_REGISTRY_INVALID,
                            "the model registry %s cannot be loaded (%zu problems)",
                            o->registry_path, d.n);
    } else {
        rc = easel_registry_builtin(&a->reg);
    }
    easel_diags_cleanup(&d);
    return rc;
}

/* The output checks (quality.c) on out->img; fills out->phash. On failure
 * a->err says which check failed. */
static easel_err check_output(struct attempt *a, const struct runner_sources *src,
                              struct runner_output *out)
{
    struct easel_span *span = easel_span_child(a->span, "easel.checks", EASEL_SPAN_INTERNAL);
    easel_err rc = easel_quality_check(out->model, src->img[0], out->img,
                                       a->job->error_message, &out->phash, &a->err);
    easel_span_str(span, "easel.reason", rc ? a->err.reason : NULL);
    easel_span_rc(span, rc, a->err.msg);
    easel_span_end(span);
    if (rc)
        easel_log_kv(EASEL_LOG_WARN, a->job->id,
                     (const char *const[]){"reason", a->err.reason, NULL},
                     "%s's output failed a check: %s", out->model->id, a->err.msg);
    return rc;
}

/* The work of a claimed attempt: sources -> model -> checks -> variants
 * stored -> result. On success *result is the result document (the
 * caller frees it) and *used the model that made it; on failure a->err
 * says why and nothing stays stored. */
static easel_err work(struct attempt *a, char **result, const char **used)
{
    struct runner_sources src = {0};
    struct runner_output out = {0};
    cJSON *res = NULL;
    const char *preset = NULL;
    int64_t t0 = easel_now_ms();
    easel_err rc = EASEL_ENOTFOUND;
    const struct easel_model *m = runner_job_model(a);
    if (!m)
        goto out;
    if (!strcmp(m->provider, "noop")) {
        /* fetches, makes and stores nothing: the job runner's own cost,
         * for smoke tests and make bench */
        runner_progress(a, "model", 50, m->id);
        res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "model", m->id);
        cJSON_AddArrayToObject(res, "outputs");
        cJSON_AddNumberToObject(res, "duration_ms", (double)(easel_now_ms() - t0));
        *result = res ? cJSON_PrintUnformatted(res) : NULL;
        *used = m->id;
        rc = *result ? EASEL_OK : EASEL_ENOMEM;
        goto out;
    }
    if (!strcmp(m->provider, "pose")) {
        rc = runner_body_run(a, m, t0, result, used);
        goto out;
    }
    runner_progress(a, "fetching", 0, "fetching the sources");
    if ((rc = runner_sources_fetch(a, &src)))
        goto out;
    runner_progress(a, "model", 10, m->id);
    if ((rc = runner_model_run(a, m, &src, &out)))
        goto out;
    runner_progress(a, "checking", 80, "checking the output");
    if ((rc = check_output(a, &src, &out)))
        goto out;
    runner_progress(a, "variants", 85, "making and storing the variants");
    if ((rc = runner_store_variants(a, &src, &out, &res, &preset)))
        goto out;
    *used = out.model->id;
    rc = runner_result(res, preset, &src, &out, t0, result);
out:
    cJSON_Delete(res);
    runner_output_cleanup(&out);
    runner_sources_cleanup(&src);
    return rc;
}

/* The attempt's span: a child of the dispatch span the controller handed
 * down, else of the job's stored context. NULL with tracing off. */
static struct easel_span *attempt_span(struct attempt *a)
{
    char tp[EASEL_TRACEPARENT_LEN + 8] = "";
    if (!easel_trace_enabled())
        return NULL;
    if (a->o->traceparent && *a->o->traceparent)
        easel_strlcpy(tp, a->o->traceparent, sizeof(tp));
    else
        (void)easel_store_job_traceparent(a->store, a->job_id, tp, sizeof(tp));
    struct easel_span *s = easel_span_start_tp("easel.attempt", EASEL_SPAN_CONSUMER, tp);
    easel_span_str(s, "easel.job_id", a->job_id);
    easel_span_int(s, "easel.attempt", a->o->attempt);
    easel_span_str(s, "easel.worker", a->o->worker);
    struct easel_span_ctx c;
    char hex[33];
    if (easel_span_context(s, &c)) {
        easel_hex_encode(c.trace_id, sizeof(c.trace_id), hex);
        easel_log_set_trace_id(hex);
    }
    return s;
}

/* Ends the attempt's span with how the attempt ended. */
static void attempt_span_end(struct attempt *a)
{
    easel_span_str(a->span, "easel.model", a->job ? a->job->model : NULL);
    easel_span_str(a->span, "easel.outcome", a->final);
    easel_span_int(a->span, "easel.exit_code", a->code);
    if (a->code != EASEL_EXIT_OK) {
        easel_span_str(a->span, "easel.reason", a->err.reason[0] ? a->err.reason : NULL);
        easel_span_error(a->span, a->err.msg[0] ? a->err.msg : a->final);
    } else {
        easel_span_ok(a->span);
    }
    easel_span_end(a->span);
    a->span = NULL;
}

int easel_runner_run(const struct easel_runner_opts *o, const char *job_id)
{
    struct attempt a = {.o = o, .job_id = job_id, .started_ms = easel_now_ms(),
                        .code = EASEL_EXIT_INTERNAL, .final = "unknown"};
    char *result = NULL;
    const char *used = NULL;
    a.stop = o->stop ? o->stop : &a.never;
    easel_error_clear(&a.err);
    if (!easel_uuid_valid(job_id)) {
        easel_error_set(&a.err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                        "\"%s\" is not a job id (a UUID)", job_id);
        easel_error_log(NULL, "%s", a.err.msg);
        return EASEL_EXIT_USAGE;
    }
    if (o->store) {
        a.store = o->store;
    } else if (easel_store_open(o->database_url, &a.store, &a.err)) {
        easel_error_log(job_id, "cannot reach the database: %s", a.err.msg);
        a.code = EASEL_EXIT_UNAVAILABLE;
        a.final = "unavailable";
        goto out;
    }
    a.span = attempt_span(&a);
    if (load_job(&a) || mark_running(&a))
        goto out;
    easel_err rc = load_registry(&a);
    if (rc == EASEL_OK)
        rc = work(&a, &result, &used);
    if (rc == EASEL_OK)
        runner_record_success(&a, result, used);
    else
        runner_record_failure(&a, rc);
out:
    if (a.hb_on)
        runner_heartbeat_stop(&a.hb);
    runner_fig_flush(&a);
    easel_queue_free(a.limits_q);
    runner_write_termination(&a);
    attempt_span_end(&a);
    easel_log_set_trace_id(NULL);
    free(result);
    if (!a.job_borrowed)
        easel_job_free(a.job);
    easel_registry_unref(a.reg);
    if (a.store != o->store)
        easel_store_free(a.store);
    return a.code;
}
