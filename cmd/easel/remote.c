/*
 * remote.c - submit, get, list, cancel, retry and logs through a server
 * (pkg/client/remote.c): each parses nothing of its own, calls the client
 * and prints with output.c. Errors are one line on stderr,
 * "error: <message> (HTTP <status> <code>)", and an exit code that says
 * which kind of failure it was (remote.h).
 */
#include <stdio.h>
#include <string.h>

#include "easel/client.h"
#include "output.h"
#include "remote.h"

#define FOLLOW_POLL_MS 500

bool remote_wanted(const struct settings *s)
{
    return s->server && *s->server;
}

static int exit_code(easel_err rc, const struct easel_remote_error *e)
{
    if (rc == EASEL_EINVAL)
        return 2;
    if (!strcmp(e->code, "wait_timeout"))
        return 1;
    switch (e->status) {
    case 0:
        return rc == EASEL_ECONN || rc == EASEL_ETIMEOUT ? 6 : 1;
    case 400:
    case 413:
    case 415:
    case 422:
        return 2;
    case 401:
    case 403:
        return 4;
    case 404:
        return 3;
    case 409:
        return 5;
    case 429:
        return 6;
    default:
        return e->status >= 500 ? 6 : 1;
    }
}

static int report(struct easel_remote *r, easel_err rc)
{
    const struct easel_remote_error *e = easel_remote_error(r);
    const char *msg = e->message[0] ? e->message : easel_strerror(rc);
    if (e->status)
        fprintf(stderr, "error: %s (HTTP %ld %s)\n", msg, e->status,
                e->code[0] ? e->code : "error");
    else
        fprintf(stderr, "error: %s\n", msg);
    return exit_code(rc, e);
}

static int open_remote(const struct settings *s, const char *mode, struct easel_remote **r)
{
    struct easel_error err;
    easel_error_clear(&err);
    struct easel_remote_opts o = {
        .server = s->server, .token = s->token, .timeout_ms = s->request_timeout_ms};
    easel_err rc = easel_remote_new(&o, r, &err);
    if (rc) {
        fprintf(stderr, "easel %s: %s\n", mode, err.msg[0] ? err.msg : easel_strerror(rc));
        return rc == EASEL_EINVAL ? 2 : 1;
    }
    return 0;
}

int remote_submit(struct settings *s)
{
    struct easel_remote *r = NULL;
    cJSON *job = NULL;
    int code = open_remote(s, "submit", &r);
    if (code)
        return code;
    struct easel_submit sub = {
        .id = s->id, .model = s->model, .type = s->type,
        .input_json = s->input, .images = (const char *const *)s->images,
        .idempotency_key = s->idempotency_key, .priority = s->priority,
        .run_at = s->run_at, .delay_ms = s->delay_ms,
    };
    easel_err rc = easel_remote_submit(r, &sub, s->wait ? s->wait_timeout_ms : 0, &job);
    if (rc) {
        code = report(r, rc);
        goto out;
    }
    if (!s->wait) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "id"));
        printf("%s\n", id ? id : "");
        code = id ? 0 : 1;
        goto out;
    }
    out_doc(OUT_JSON, job);
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "status"));
    code = st && !strcmp(st, "succeeded") ? 0 : 1;
out:
    cJSON_Delete(job);
    easel_remote_free(r);
    return code;
}

int remote_get(struct settings *s, const char *id)
{
    struct easel_remote *r = NULL;
    cJSON *job = NULL;
    enum out_fmt f = out_format(s, "get");
    int code = open_remote(s, "get", &r);
    if (code)
        return code;
    easel_err rc = easel_remote_get(r, id, &job);
    if (rc)
        code = report(r, rc);
    else if (f == OUT_TABLE)
        out_job_table(job);
    else
        out_doc(f, job);
    cJSON_Delete(job);
    easel_remote_free(r);
    return code;
}

int remote_list(struct settings *s)
{
    struct easel_remote *r = NULL;
    cJSON *list = NULL;
    enum out_fmt f = out_format(s, "list");
    int code = open_remote(s, "list", &r);
    if (code)
        return code;
    struct easel_remote_query q = {
        .status = s->status, .model = s->model, .owner = s->owner,
        .limit = s->limit > 0 ? (size_t)s->limit : 50};
    easel_err rc = easel_remote_list(r, &q, &list);
    if (rc)
        code = report(r, rc);
    else if (f == OUT_TABLE)
        out_jobs_table(cJSON_GetObjectItemCaseSensitive(list, "items"));
    else
        out_doc(f, list);
    cJSON_Delete(list);
    easel_remote_free(r);
    return code;
}

int remote_change(struct settings *s, const char *id, bool cancel)
{
    const char *mode = cancel ? "cancel" : "retry";
    struct easel_remote *r = NULL;
    cJSON *job = NULL;
    int code = open_remote(s, mode, &r);
    if (code)
        return code;
    easel_err rc = cancel ? easel_remote_cancel(r, id, &job) : easel_remote_retry(r, id, &job);
    if (rc)
        code = report(r, rc);
    else
        printf("%s %s\n", id, cancel ? "canceled" : "queued again");
    cJSON_Delete(job);
    easel_remote_free(r);
    return code;
}

int remote_logs(struct settings *s, const char *id)
{
    struct easel_remote *r = NULL;
    cJSON *evs = NULL;
    struct out_events oe = {.fmt = out_format(s, "logs")};
    int code = open_remote(s, "logs", &r);
    if (code)
        return code;
    easel_err rc;
    if (s->follow) {
        rc = easel_remote_follow(r, id, FOLLOW_POLL_MS, out_event, &oe);
    } else if ((rc = easel_remote_events(r, id, &evs)) == EASEL_OK) {
        if (oe.fmt == OUT_TABLE) {
            const cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(evs, "items"))
                out_event(&oe, e);
        } else {
            out_doc(oe.fmt, evs);
        }
    }
    if (rc)
        code = report(r, rc);
    cJSON_Delete(evs);
    easel_remote_free(r);
    return code;
}

int remote_webhooks(struct settings *s, const char *redeliver_id)
{
    struct easel_remote *r = NULL;
    cJSON *doc = NULL;
    int code = open_remote(s, "webhooks", &r);
    if (code)
        return code;
    easel_err rc = redeliver_id
                       ? easel_remote_redeliver(r, redeliver_id, &doc)
                       : easel_remote_webhooks(r, s->job, s->failed ? "failed" : NULL,
                                               s->limit > 0 ? (size_t)s->limit : 50, &doc);
    if (rc)
        code = report(r, rc);
    else
        out_webhooks(s, doc, redeliver_id != NULL);
    cJSON_Delete(doc);
    easel_remote_free(r);
    return code;
}

int remote_credits(struct settings *s, const char *owner, int64_t grant)
{
    struct easel_remote *r = NULL;
    cJSON *doc = NULL;
    int code = open_remote(s, "credits", &r);
    if (code)
        return code;
    easel_err rc = grant > 0 ? easel_remote_grant(r, owner, grant, s->reason,
                                                  s->idempotency_key, &doc)
                             : easel_remote_credits(r, owner, (size_t)s->limit, &doc);
    if (rc)
        code = report(r, rc);
    else
        out_credits(s, doc);
    cJSON_Delete(doc);
    easel_remote_free(r);
    return code;
}
