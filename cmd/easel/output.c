/*
 * output.c - the CLI's printing of jobs and events in the API's shape:
 * tables for a person, JSON and YAML of the very object for programs. One
 * place, so `easel get` prints the same table whether it asked a server
 * or the database, and `easel logs` the same lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/kubejob.h"
#include "output.h"

enum out_fmt out_format(const struct settings *s, const char *mode)
{
    const char *o = s->output ? s->output : "table";
    if (!strcmp(o, "json"))
        return OUT_JSON;
    if (!strcmp(o, "yaml"))
        return OUT_YAML;
    if (strcmp(o, "table"))
        fprintf(stderr, "easel %s: unknown output \"%s\" (table, json or yaml); using table\n",
                mode, o);
    return OUT_TABLE;
}

void out_doc(enum out_fmt f, const cJSON *o)
{
    char *t = f == OUT_YAML ? easel_json_to_yaml(o) : cJSON_Print(o);
    if (t) {
        size_t n = strlen(t);
        fputs(t, stdout);
        if (!n || t[n - 1] != '\n')
            fputc('\n', stdout);
    }
    free(t);
}

void out_duration(int64_t ms, char *buf, size_t n)
{
    if (ms < 0)
        easel_fmt_cut(buf, n, "-");
    else if (ms < 10000)
        easel_fmt_cut(buf, n, "%.2fs", (double)ms / 1000.0);
    else if (ms < 600000)
        easel_fmt_cut(buf, n, "%.0fs", (double)ms / 1000.0);
    else
        easel_fmt_cut(buf, n, "%.0fm", (double)ms / 60000.0);
}

/* A member's string (NULL when absent, null or not a string). */
static const char *str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

void out_job_table(const cJSON *j)
{
    const char *model = str(j, "model"), *rm = str(j, "result_model");
    bool moved = rm && model && strcmp(rm, model);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attempts");
    printf("ID:        %s\n", or_dash(str(j, "id")));
    printf("Model:     %s%s%s\n", or_dash(model), moved ? " -> " : "", moved ? rm : "");
    printf("Status:    %s\n", or_dash(str(j, "status")));
    printf("Attempts:  %.0f of %.0f\n", num(att, "count"), num(att, "max"));
    if (str(j, "channel"))
        printf("Channel:   %s (owner %s)\n", str(j, "channel"), or_dash(str(j, "owner")));
    if (str(j, "type"))
        printf("Type:      %s\n", str(j, "type"));
    printf("Created:   %s\n", or_dash(str(j, "created_at")));
    if (str(j, "run_at"))
        printf("Run at:    %s\n", str(j, "run_at"));
    if (str(j, "started_at"))
        printf("Started:   %s\n", str(j, "started_at"));
    if (str(j, "completed_at"))
        printf("Finished:  %s\n", str(j, "completed_at"));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (str(e, "message") || str(e, "reason"))
        printf("Error:     [%s/%s] %s\n", or_dash(str(e, "class")), or_dash(str(e, "reason")),
               str(e, "message") ? str(e, "message") : "");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "output"), "variants");
    const cJSON *v;
    if (cJSON_GetArraySize(vs))
        printf("Outputs:\n");
    cJSON_ArrayForEach(v, vs)
    {
        printf("  %-7s %-5s %5.0fx%-5.0f %8.0f bytes  %s\n", or_dash(str(v, "name")),
               or_dash(str(v, "format")), num(v, "width"), num(v, "height"), num(v, "bytes"),
               or_dash(str(v, "url")));
    }
}

void out_jobs_table(const cJSON *items)
{
    printf("%-36s  %-10s  %-20s  %-8s  %-8s  %-7s  %s\n", "ID", "STATUS", "MODEL", "ATTEMPTS",
           "TIME", "OUTPUTS", "ERROR");
    const cJSON *j;
    cJSON_ArrayForEach(j, items)
    {
        const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attempts");
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "metrics"), "run_seconds");
        const cJSON *vs = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "output"), "variants");
        char dur[16], at[24];
        out_duration(cJSON_IsNumber(run) && str(j, "completed_at")
                         ? (int64_t)(run->valuedouble * 1000.0)
                         : -1,
                     dur, sizeof(dur));
        easel_fmt_cut(at, sizeof(at), "%.0f/%.0f", num(att, "count"), num(att, "max"));
        printf("%-36s  %-10s  %-20.20s  %-8s  %-8s  %-7d  %.60s\n", or_dash(str(j, "id")),
               or_dash(str(j, "status")), or_dash(str(j, "model")), at, dur,
               cJSON_GetArraySize(vs),
               str(cJSON_GetObjectItemCaseSensitive(j, "error"), "reason")
                   ? str(cJSON_GetObjectItemCaseSensitive(j, "error"), "reason")
                   : "");
    }
}

/* A typed event in the text table: the kind (or the stage) where a status
 * change shows its new status, then a short detail and the message. */
static void typed_row(const cJSON *e, const char *what, const char *detail, const char *msg)
{
    printf("%-24s  %-10s    %-10s  %3.0f  %-16s  %s\n", or_dash(str(e, "at")), "...",
           or_dash(what), num(e, "attempt"), detail ? detail : "", msg ? msg : "");
}

static void out_typed_event(const cJSON *e)
{
    const char *kind = str(e, "kind");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data");
    char detail[32] = "", msg[600];
    if (!strcmp(kind, "progress")) {
        /* a stage of the running attempt: "... model 45% replicate processing" */
        const cJSON *pct = cJSON_GetObjectItemCaseSensitive(d, "percent");
        if (cJSON_IsNumber(pct))
            easel_fmt_cut(detail, sizeof(detail), "%.0f%%", pct->valuedouble);
        typed_row(e, str(d, "stage"), detail, str(e, "message"));
    } else if (!strcmp(kind, "logs")) {
        /* the provider's lines, one row each, marked as its own words */
        const cJSON *line;
        cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(d, "lines"))
        {
            if (!cJSON_IsString(line))
                continue;
            easel_fmt_cut(msg, sizeof(msg), "| %s", line->valuestring);
            typed_row(e, "logs", str(d, "provider"), msg);
        }
    } else if (!strcmp(kind, "output")) {
        easel_fmt_cut(msg, sizeof(msg), "%s (%.0fx%.0f, %.0f bytes)", or_dash(str(d, "url")),
                      num(d, "width"), num(d, "height"), num(d, "bytes"));
        typed_row(e, "output", str(d, "variant"), msg);
    } else if (!strcmp(kind, "error")) {
        const cJSON *retry = cJSON_GetObjectItemCaseSensitive(d, "will_retry");
        easel_fmt_cut(msg, sizeof(msg), "%s (%s)", or_dash(str(d, "message")),
                      cJSON_IsTrue(retry) ? "will retry" : "no retry");
        typed_row(e, "error", str(d, "reason"), msg);
    } else {
        typed_row(e, kind, str(e, "reason"), str(e, "message"));
    }
}

int out_event(void *ud, const cJSON *e)
{
    struct out_events *oe = ud;
    if (oe->fmt == OUT_JSON) {
        char *t = cJSON_PrintUnformatted(e);
        if (t)
            printf("%s\n", t);
        free(t);
    } else if (oe->fmt == OUT_YAML) {
        char *t = easel_json_to_yaml(e);
        if (t)
            printf("---\n%s", t);
        free(t);
    } else if (str(e, "kind") && strcmp(str(e, "kind"), "status") != 0) {
        out_typed_event(e);
    } else {
        printf("%-24s  %-10s -> %-10s  %3.0f  %-16s  %s\n", or_dash(str(e, "at")),
               or_dash(str(e, "from")), or_dash(str(e, "to")), num(e, "attempt"),
               or_dash(str(e, "reason")), str(e, "message") ? str(e, "message") : "");
    }
    oe->n++;
    /* a follower's reader sees each event as it happens */
    fflush(stdout);
    return 0;
}
