/*
 * progress.c - what an attempt tells the job's stream while it works: its
 * stage and percent, the provider's own status, percent and log lines
 * while the model runs, and each stored output.
 *
 * Everything here is information, never the work: a write that fails is
 * logged and the attempt goes on. And it is bounded, because a chatty
 * provider (a model printing a hundred lines a second) must not flood
 * Postgres: a new stage is always written (there are only a few), but
 * everything else that repeats (the same stage again, the provider's
 * status and percent, its logs) draws on one budget per attempt, a token
 * bucket refilled at two events a second. Logs that wait for the budget
 * are not lost: they go out with the next event, up to its line cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/yamljson.h"
#include "runner_int.h"

/* The budget: events per second, and how many may go at once. */
#define PROGRESS_RATE_PER_S 2.0
#define PROGRESS_BURST 2.0
/* The model stage's share of the job's percent: a provider's 0..100 maps
 * onto MODEL_PCT_FROM..MODEL_PCT_TO (see the stages in attempt.c). */
#define MODEL_PCT_FROM 10.0
#define MODEL_PCT_TO 80.0
/* One logs event: lines, and bytes per line. */
#define LOGS_MAX_LINES 50
#define LOGS_MAX_LINE 500

/* Takes one event from the budget; false when it is spent. */
static bool take_token(struct attempt *a)
{
    int64_t now = easel_now_ms();
    if (!a->tokens_ms) {
        a->tokens = PROGRESS_BURST;
    } else {
        a->tokens += (double)(now - a->tokens_ms) * PROGRESS_RATE_PER_S / 1000.0;
        if (a->tokens > PROGRESS_BURST)
            a->tokens = PROGRESS_BURST;
    }
    a->tokens_ms = now;
    if (a->tokens < 1.0)
        return false;
    a->tokens -= 1.0;
    return true;
}

/* Writes stage progress; data is a JSON object or NULL. */
static void write_progress(struct attempt *a, const char *stage, double percent,
                           const char *data, const char *message)
{
    a->stage = stage;
    if (percent >= 0)
        a->percent = percent;
    easel_err rc = easel_store_job_progress(a->store, a->job_id, stage, percent, data, message);
    if (rc && rc != EASEL_ECONFLICT)
        easel_warn(a->job_id, "could not record progress (%s): %s", stage,
                   easel_store_errstr(a->store));
}

/* Writes a typed event; takes data. */
static void write_event(struct attempt *a, const char *kind, const char *message, cJSON *data)
{
    char *text = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (data && !text) {
        easel_warn(a->job_id, "no %s event: out of memory", kind);
        return;
    }
    easel_err rc = easel_store_job_event(a->store, a->job_id, kind, message, text, NULL);
    if (rc && rc != EASEL_ECONFLICT)
        easel_warn(a->job_id, "could not record a %s event: %s", kind,
                   easel_store_errstr(a->store));
    free(text);
}

void runner_progress(struct attempt *a, const char *stage, double percent,
                     const char *message)
{
    bool same = a->stage && !strcmp(a->stage, stage);
    /* the same stage at the same percent says nothing new (the variants
     * stored one by one are announced by their output events) */
    if (same && (percent == a->percent || !take_token(a)))
        return;
    write_progress(a, stage, percent, NULL, message);
}

void runner_call_begin(struct attempt *a)
{
    a->prov_status[0] = '\0';
    a->prov_percent = -1;
    a->logs_off = 0;
    a->logs_turn = false;
}

/* The provider's new log lines, if there are any and the budget allows
 * (a call's end always may: it is one event). */
static void provider_logs(struct attempt *a, const struct easel_call_progress *p)
{
    static const struct easel_logs_limits lim = {LOGS_MAX_LINES, LOGS_MAX_LINE};
    if (!p->logs || p->logs_len == a->logs_off)
        return;
    size_t off = a->logs_off;
    cJSON *lines = NULL;
    if (easel_logs_take(p->logs, p->logs_len, &off, p->final, &lim, &lines) != EASEL_OK)
        return; /* out of memory: the lines wait for the next report */
    if (lines && !p->final && !take_token(a)) {
        cJSON_Delete(lines); /* they go out with a later event */
        return;
    }
    a->logs_off = off;
    if (!lines)
        return;
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "provider", p->provider) ||
        (p->ref && !cJSON_AddStringToObject(data, "prediction_id", p->ref))) {
        cJSON_Delete(lines);
        cJSON_Delete(data);
        return;
    }
    cJSON_AddItemToObject(data, "lines", lines);
    a->logs_turn = false;
    write_event(a, "logs", NULL, data);
}

/* The provider's status and percent, when either changed and the budget
 * allows (a call's end always may). */
static void provider_status(struct attempt *a, const struct easel_call_progress *p)
{
    const char *st = p->status ? p->status : "unknown";
    /* a tenth of a percent is what the job records */
    double pct = p->percent >= 0 ? (double)(long)(p->percent * 10) / 10 : -1;
    if (!strncmp(a->prov_status, st, sizeof(a->prov_status)) && pct == a->prov_percent)
        return;
    if (!p->final && !take_token(a))
        return;
    easel_strlcpy(a->prov_status, st, sizeof(a->prov_status));
    a->prov_percent = pct;
    a->logs_turn = true;
    cJSON *data = cJSON_CreateObject();
    if (!data)
        return;
    cJSON_AddStringToObject(data, "provider", p->provider);
    cJSON_AddStringToObject(data, "provider_status", st);
    if (p->ref)
        cJSON_AddStringToObject(data, "prediction_id", p->ref);
    if (pct >= 0)
        cJSON_AddNumberToObject(data, "provider_percent", pct);
    char *text = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!text)
        return;
    char msg[160];
    if (pct >= 0)
        easel_fmt_cut(msg, sizeof(msg), "%s %s %.0f%%", p->provider, st, pct);
    else
        easel_fmt_cut(msg, sizeof(msg), "%s %s", p->provider, st);
    /* the job's percent moves through the model's share; unknown keeps
     * what it was */
    double overall = pct >= 0 ? MODEL_PCT_FROM + pct * (MODEL_PCT_TO - MODEL_PCT_FROM) / 100
                              : a->percent;
    write_progress(a, "model", overall, text, msg);
    free(text);
}

void runner_call_progress(void *ud, const struct easel_call_progress *p)
{
    struct attempt *a = ud;
    /* The status first ("processing" before the lines it produced),
     * unless it went first last time: when the budget allows one event
     * per report, status and logs then take turns instead of one
     * starving the other. */
    if (a->logs_turn) {
        provider_logs(a, p);
        provider_status(a, p);
    } else {
        provider_status(a, p);
        provider_logs(a, p);
    }
}

void runner_output_event(struct attempt *a, cJSON *data)
{
    const char *variant = easel_json_str(data, "variant");
    char msg[160];
    easel_fmt_cut(msg, sizeof(msg), "stored %s", variant ? variant : "an output");
    write_event(a, "output", msg, data);
}
