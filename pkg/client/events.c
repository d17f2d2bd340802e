/*
 * events.c - a job's history for `easel logs`, read from Postgres. Events
 * are rendered in the API's shape (the same fields GET /v1/jobs/{id}/events
 * gives), so the CLI prints one format whether it reads the database or a
 * server, and following works the same way on both roads.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/client.h"
#include "easel/yamljson.h"

cJSON *easel_event_to_json(const struct easel_event *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "seq", (double)e->seq);
    easel_json_add_time(o, "at", e->at_ms);
    easel_json_add_str(o, "from", e->from_status);
    easel_json_add_str(o, "to", e->to_status);
    cJSON_AddNumberToObject(o, "attempt", e->attempt);
    easel_json_add_str(o, "reason", e->reason);
    easel_json_add_str(o, "message", e->message);
    /* before progress events every row was a status change */
    cJSON_AddStringToObject(o, "kind", e->kind ? e->kind : "status");
    cJSON *data = e->data ? cJSON_Parse(e->data) : NULL;
    cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateNull());
    return o;
}

easel_err easel_client_follow(struct easel_store *s, const char *id, int64_t poll_ms,
                              easel_event_fn fn, void *ud)
{
    int64_t last_seq = 0;
    for (;;) {
        /* the status is read before the events: when it is terminal, every
         * event up to the end is already recorded and delivered below */
        struct easel_job *j = NULL;
        easel_err rc = easel_store_job_get(s, id, &j);
        if (rc)
            return rc;
        bool done = easel_status_terminal(j->status);
        easel_job_free(j);
        struct easel_event *ev = NULL;
        size_t n = 0;
        if ((rc = easel_store_events(s, id, &ev, &n)))
            return rc;
        for (size_t i = 0; i < n && !rc; i++) {
            if (ev[i].seq <= last_seq)
                continue;
            last_seq = ev[i].seq;
            cJSON *o = easel_event_to_json(&ev[i]);
            if (!o)
                rc = EASEL_ENOMEM;
            else if (fn(ud, o))
                rc = EASEL_ECANCELED;
            cJSON_Delete(o);
        }
        easel_store_events_free(ev, n);
        if (rc || done)
            return rc;
        easel_sleep_ms(poll_ms);
    }
}
