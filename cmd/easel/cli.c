/*
 * cli.c - the modes a person types: submit, get, list, cancel, retry,
 * logs, breakers. They parse, call pkg/client (or read Redis), and print a
 * table, JSON or YAML. With --server the job commands go through a
 * controller's HTTP API instead (remote.c).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/client.h"
#include "easel/credits.h"
#include "easel/telemetry.h"
#include "output.h"
#include "remote.h"
#include "settings.h"

static int open_store(const struct settings *s, struct easel_store **st)
{
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_store_open(s->database_url, st, &err) != EASEL_OK) {
        fprintf(stderr, "easel: cannot reach the database: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int open_queue(const struct settings *s, struct easel_queue **q)
{
    struct easel_error err;
    easel_error_clear(&err);
    struct easel_queue_opts o = {.url = s->redis_url, .name = s->queue,
                                 .lease_ms = 30000, .connect_timeout_ms = 3000};
    if (easel_queue_open(&o, q, &err) != EASEL_OK) {
        fprintf(stderr, "easel: cannot reach redis: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static bool want_json(const struct settings *s, const char *mode)
{
    if (strcmp(s->output, "json") == 0)
        return true;
    if (strcmp(s->output, "table") != 0)
        fprintf(stderr, "easel %s: unknown output \"%s\" (table or json); using table\n",
                mode, s->output);
    return false;
}

static void print_json(cJSON *o)
{
    char *t = cJSON_Print(o);
    if (t)
        printf("%s\n", t);
    free(t);
}

static int count_outputs(const struct easel_job *j)
{
    cJSON *r = j->result ? cJSON_Parse(j->result) : NULL;
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "outputs"));
    cJSON_Delete(r);
    return n;
}

static void print_job_table(const struct easel_job *j)
{
    char ts[40];
    printf("ID:        %s\n", j->id);
    printf("Model:     %s%s%s\n", j->model ? j->model : "-",
           j->result_model && strcmp(j->result_model, j->model) ? " -> " : "",
           j->result_model && strcmp(j->result_model, j->model) ? j->result_model : "");
    printf("Status:    %s\n", easel_status_name(j->status));
    printf("Attempts:  %d of %d\n", j->attempts, j->max_attempts);
    if (j->channel)
        printf("Channel:   %s (owner %s)\n", j->channel, j->owner ? j->owner : "-");
    if (easel_format_time(j->created_ms, ts, sizeof(ts)) != EASEL_OK)
        easel_strlcpy(ts, "-", sizeof(ts));
    printf("Created:   %s\n", ts);
    if (j->started_ms) {
        if (easel_format_time(j->started_ms, ts, sizeof(ts)) != EASEL_OK)
            easel_strlcpy(ts, "-", sizeof(ts));
        printf("Started:   %s\n", ts);
    }
    if (j->finished_ms) {
        if (easel_format_time(j->finished_ms, ts, sizeof(ts)) != EASEL_OK)
            easel_strlcpy(ts, "-", sizeof(ts));
        printf("Finished:  %s\n", ts);
    }
    if (j->error_message)
        printf("Error:     [%s/%s] %s\n", j->error_class ? j->error_class : "-",
               j->error_reason ? j->error_reason : "-", j->error_message);
    cJSON *r = j->result ? cJSON_Parse(j->result) : NULL;
    cJSON *outs = cJSON_GetObjectItemCaseSensitive(r, "outputs"), *o;
    if (cJSON_GetArraySize(outs))
        printf("Outputs:\n");
    cJSON_ArrayForEach(o, outs)
    {
        printf("  %-7s %-5s %5dx%-5d %8d bytes  %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "variant")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "format")),
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "width")),
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "height")),
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "url")));
    }
    cJSON_Delete(r);
}

/* Waits for a job to end, woken by NOTIFY; polls the row once a second as a
 * safety net (and while it does not exist yet). */
static int wait_for(struct easel_store *st, const char *id, int64_t timeout_ms,
                    struct easel_job **out)
{
    int64_t end = easel_now_ms() + timeout_ms;
    easel_store_listen(st);
    for (;;) {
        struct easel_job *j = NULL;
        easel_err rc = easel_store_job_get(st, id, &j);
        if (rc == EASEL_OK && easel_status_terminal(j->status)) {
            *out = j;
            return 0;
        }
        easel_job_free(j);
        if (rc && rc != EASEL_ENOTFOUND) {
            if (easel_store_reconnect(st) == EASEL_OK)
                easel_store_listen(st);
        }
        int64_t left = end - easel_now_ms();
        if (left <= 0)
            return 1;
        struct pollfd pf = {.fd = easel_store_socket(st), .events = POLLIN};
        poll(&pf, 1, (int)(left < 1000 ? left : 1000));
        bool got;
        char nid[EASEL_UUID_LEN + 1];
        enum easel_status nst;
        do {
            got = false;
        } while (easel_store_notification(st, &got, nid, &nst) == EASEL_OK && got);
    }
}

int mode_submit(struct settings *s, char **args, int nargs)
{
    (void)args;
    (void)nargs;
    if (remote_wanted(s))
        return remote_submit(s);
    if ((s->run_at && *s->run_at) || s->delay_ms > 0) {
        /* a scheduled job is recorded by the API at once; pushed directly
         * it would be invisible until due */
        fprintf(stderr, "easel submit: --run-at and --delay need --server\n");
        return 2;
    }
    struct easel_queue *q = NULL;
    struct easel_store *st = NULL;
    struct easel_job *j = NULL;
    int code = 1;
    struct easel_error err;
    easel_error_clear(&err);
    if (open_queue(s, &q))
        return 1;
    struct easel_submit sub = {
        .id = s->id, .model = s->model, .type = s->type,
        .input_json = s->input, .images = (const char *const *)s->images,
        .idempotency_key = s->idempotency_key, .priority = s->priority,
    };
    char id[EASEL_UUID_LEN + 1];
    easel_err rc = easel_client_submit(q, &sub, id, &err);
    if (rc) {
        fprintf(stderr, "easel submit: %s\n", err.msg[0] ? err.msg : easel_strerror(rc));
        code = rc == EASEL_EPARSE || rc == EASEL_EINVAL ? 2 : 1;
        goto out;
    }
    if (!s->wait) {
        printf("%s\n", id);
        code = 0;
        goto out;
    }
    if (open_store(s, &st))
        goto out;
    if (wait_for(st, id, s->wait_timeout_ms, &j)) {
        fprintf(stderr, "easel submit: job %s did not finish within the timeout\n", id);
        goto out;
    }
    cJSON *o = easel_job_to_json(j);
    print_json(o);
    cJSON_Delete(o);
    code = j->status == EASEL_STATUS_SUCCEEDED ? 0 : 1;
out:
    easel_job_free(j);
    easel_store_free(st);
    easel_queue_free(q);
    return code;
}

int mode_get(struct settings *s, char **args, int nargs)
{
    (void)nargs;
    if (remote_wanted(s))
        return remote_get(s, args[0]);
    enum out_fmt f = out_format(s, "get");
    struct easel_store *st = NULL;
    struct easel_job *j = NULL;
    if (open_store(s, &st))
        return 1;
    easel_err rc = easel_store_job_get(st, args[0], &j);
    int code = 0;
    if (rc == EASEL_ENOTFOUND) {
        fprintf(stderr, "easel get: no job with id %s\n", args[0]);
        code = 1;
    } else if (rc) {
        fprintf(stderr, "easel get: %s\n", easel_store_errstr(st));
        code = 1;
    } else if (f != OUT_TABLE) {
        cJSON *o = easel_job_to_json(j);
        out_doc(f, o);
        cJSON_Delete(o);
    } else {
        print_job_table(j);
    }
    easel_job_free(j);
    easel_store_free(st);
    return code;
}

/* The jobs a filtered list asks for: pages of the API's keyset query until
 * limit jobs or no more. */
static easel_err query_jobs(struct easel_store *st, int status, const struct settings *s,
                            struct easel_job ***out, size_t *n)
{
    char owner[300];
    struct easel_job_query q = {.status = status,
                                .model = s->model && *s->model ? s->model : NULL};
    if (s->owner && *s->owner) {
        /* CHANNEL:ID, or ID in any channel (as GET /v1/jobs?owner=) */
        easel_strlcpy(owner, s->owner, sizeof(owner));
        char *colon = strchr(owner, ':');
        if (colon) {
            *colon = '\0';
            q.channel = owner;
            q.owner = colon + 1;
        } else {
            q.owner = owner;
        }
    }
    size_t want = (size_t)s->limit, have = 0;
    struct easel_job **all = NULL;
    easel_err rc = EASEL_OK;
    char after[EASEL_UUID_LEN + 1];
    while (have < want) {
        struct easel_job **page = NULL;
        size_t got = 0;
        int64_t last_us = 0;
        q.limit = want - have < 1000 ? want - have : 1000;
        if ((rc = easel_store_job_query(st, &q, &page, &got, &last_us)))
            break;
        if (!got) {
            easel_store_jobs_free(page, got);
            break;
        }
        struct easel_job **grown = realloc(all, (have + got) * sizeof(*all));
        if (!grown) {
            easel_store_jobs_free(page, got);
            rc = EASEL_ENOMEM;
            break;
        }
        all = grown;
        memcpy(all + have, page, got * sizeof(*page));
        have += got;
        free(page); /* the jobs now belong to all */
        if (got < q.limit)
            break;
        easel_strlcpy(after, all[have - 1]->id, sizeof(after));
        q.after_created_us = last_us;
        q.after_id = after;
    }
    if (rc) {
        easel_store_jobs_free(all, have);
        return rc;
    }
    *out = all;
    *n = have;
    return EASEL_OK;
}

int mode_list(struct settings *s, char **args, int nargs)
{
    (void)args;
    (void)nargs;
    if (remote_wanted(s))
        return remote_list(s);
    enum out_fmt f = out_format(s, "list");
    int status = -1;
    if (s->status) {
        enum easel_status st;
        if (easel_status_parse(s->status, &st)) {
            fprintf(stderr, "easel list: unknown status \"%s\"\n", s->status);
            return 2;
        }
        status = (int)st;
    }
    struct easel_store *st = NULL;
    if (open_store(s, &st))
        return 1;
    struct easel_job **jobs = NULL;
    size_t n = 0;
    easel_err rc = (s->model && *s->model) || (s->owner && *s->owner)
                       ? query_jobs(st, status, s, &jobs, &n)
                       : easel_store_job_list(st, status, (size_t)s->limit, &jobs, &n);
    if (rc) {
        fprintf(stderr, "easel list: %s\n",
                rc == EASEL_ENOMEM ? easel_strerror(rc) : easel_store_errstr(st));
        easel_store_free(st);
        return 1;
    }
    if (f != OUT_TABLE) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, easel_job_to_json(jobs[i]));
        out_doc(f, arr);
        cJSON_Delete(arr);
    } else {
        printf("%-36s  %-10s  %-20s  %-8s  %-8s  %-7s  %s\n", "ID", "STATUS",
               "MODEL", "ATTEMPTS", "TIME", "OUTPUTS", "ERROR");
        for (size_t i = 0; i < n; i++) {
            const struct easel_job *j = jobs[i];
            char dur[16], att[16];
            int64_t from = j->started_ms ? j->started_ms : j->created_ms;
            out_duration(j->finished_ms ? j->finished_ms - from : -1, dur, sizeof(dur));
            easel_fmt_cut(att, sizeof(att), "%d/%d", j->attempts, j->max_attempts);
            printf("%-36s  %-10s  %-20.20s  %-8s  %-8s  %-7d  %.60s\n", j->id,
                   easel_status_name(j->status), j->model ? j->model : "-", att,
                   dur, count_outputs(j),
                   j->error_reason ? j->error_reason : "");
        }
    }
    easel_store_jobs_free(jobs, n);
    easel_store_free(st);
    return 0;
}

static int change(struct settings *s, const char *id, bool cancel)
{
    if (remote_wanted(s))
        return remote_change(s, id, cancel);
    struct easel_store *st = NULL;
    struct easel_queue *q = NULL;
    int code = 1;
    struct easel_error err;
    easel_error_clear(&err);
    if (open_store(s, &st) || open_queue(s, &q))
        goto out;
    struct easel_registry *reg = NULL;
    struct easel_store *app = NULL;
    struct easel_credits_ctx cc = {.app_url = s->app_database_url, .app = &app};
    if (!cancel && s->registry && *s->registry) {
        /* only for a job whose credits the app keeps */
        struct easel_diags d = {0};
        if (easel_registry_load_file(s->registry, &reg, &d) != EASEL_OK) {
            easel_diags_print(&d, s->registry, stderr);
            easel_diags_cleanup(&d);
            goto out;
        }
        easel_diags_cleanup(&d);
        cc.cfg = &reg->credits;
    }
    easel_err rc = cancel ? easel_client_cancel(st, q, id, &err)
                          : easel_client_retry_credits(st, q, &cc, id, &err);
    easel_store_free(app);
    easel_registry_unref(reg);
    if (rc) {
        fprintf(stderr, "easel %s: %s\n", cancel ? "cancel" : "retry",
                err.msg[0] ? err.msg : easel_strerror(rc));
        goto out;
    }
    printf("%s %s\n", id, cancel ? "canceled" : "queued again");
    code = 0;
out:
    easel_queue_free(q);
    easel_store_free(st);
    return code;
}

int mode_cancel(struct settings *s, char **args, int nargs)
{
    (void)nargs;
    return change(s, args[0], true);
}

int mode_retry(struct settings *s, char **args, int nargs)
{
    (void)nargs;
    return change(s, args[0], false);
}

int mode_logs(struct settings *s, char **args, int nargs)
{
    (void)nargs;
    if (remote_wanted(s))
        return remote_logs(s, args[0]);
    struct out_events oe = {.fmt = out_format(s, "logs")};
    struct easel_store *st = NULL;
    struct easel_job *j = NULL;
    struct easel_event *ev = NULL;
    size_t n = 0;
    int code = 1;
    if (open_store(s, &st))
        return 1;
    easel_err rc = easel_store_job_get(st, args[0], &j);
    if (rc == EASEL_OK && s->follow) {
        rc = easel_client_follow(st, args[0], 500, out_event, &oe);
    } else if (rc == EASEL_OK && (rc = easel_store_events(st, args[0], &ev, &n)) == EASEL_OK) {
        /* the API's shape, {"items": [...]}, so scripts read either road */
        cJSON *doc = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(doc, "items");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(items, easel_event_to_json(&ev[i]));
        if (oe.fmt == OUT_TABLE) {
            const cJSON *e;
            cJSON_ArrayForEach(e, items)
                out_event(&oe, e);
        } else {
            out_doc(oe.fmt, doc);
        }
        cJSON_Delete(doc);
    }
    if (rc == EASEL_ENOTFOUND)
        fprintf(stderr, "easel logs: no job with id %s\n", args[0]);
    else if (rc)
        fprintf(stderr, "easel logs: %s\n", easel_store_errstr(st));
    else
        code = 0;
    easel_store_events_free(ev, n);
    easel_job_free(j);
    easel_store_free(st);
    return code;
}

int mode_breakers(struct settings *s, char **args, int nargs)
{
    (void)args, (void)nargs;
    struct easel_queue *q = NULL;
    if (open_queue(s, &q))
        return 1;
    int rc = 1;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    struct easel_breaker_info *bs = NULL;
    size_t n = 0;
    if (!strcmp(s->output, "prometheus")) {
        if (easel_prom_breakers(q, &b) == EASEL_OK) {
            fwrite(b.data, 1, b.len, stdout);
            rc = 0;
        }
    } else if (easel_queue_breakers(q, &bs, &n) == EASEL_OK) {
        rc = 0;
        if (want_json(s, "breakers")) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "endpoint", bs[i].endpoint);
                cJSON_AddStringToObject(o, "state", easel_breaker_state_name(bs[i].state));
                cJSON_AddNumberToObject(o, "consecutive_failures", (double)bs[i].failures);
                cJSON_AddNumberToObject(o, "retry_in_ms", (double)bs[i].retry_in_ms);
                cJSON_AddNumberToObject(o, "opens", (double)bs[i].opens);
                cJSON_AddItemToArray(arr, o);
            }
            print_json(arr);
            cJSON_Delete(arr);
        } else {
            printf("%-10s %-9s %8s %10s %6s\n", "PROVIDER", "STATE", "FAILURES", "PROBE IN",
                   "OPENS");
            for (size_t i = 0; i < n; i++) {
                char probe[32];
                out_duration(bs[i].state == EASEL_BREAKER_OPEN ? bs[i].retry_in_ms : -1, probe,
                             sizeof(probe));
                printf("%-10s %-9s %8lld %10s %6lld  %s\n", bs[i].provider,
                       easel_breaker_state_name(bs[i].state), (long long)bs[i].failures, probe,
                       (long long)bs[i].opens, bs[i].base);
            }
        }
    }
    if (rc)
        fprintf(stderr, "easel breakers: cannot read the breakers from redis\n");
    easel_breaker_list_free(bs, n);
    easel_buf_cleanup(&b);
    easel_queue_free(q);
    return rc;
}
