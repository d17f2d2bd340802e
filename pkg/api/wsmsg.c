/*
 * wsmsg.c - what a WebSocket client may send on /v1/ws, parsed and checked
 * whole before the connection's subscriptions change: subscribe and
 * unsubscribe (jobs, owners, since) and ping. Pure: no socket, no thread,
 * so the fuzzer drives it directly (tests/fuzz/fuzz_api.c).
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

void api_ws_cmd_cleanup(struct api_ws_cmd *c)
{
    free(c->keys);
    cJSON_Delete(c->ping);
    memset(c, 0, sizeof(*c));
}

static easel_err bad(struct api_ws_cmd *c, const char *code, const char *key, const char *val,
                     const char *msg)
{
    free(c->keys);
    c->keys = NULL;
    c->nkeys = 0;
    c->op = API_WS_BAD;
    c->code = code;
    c->key = key;
    easel_strlcpy(c->val, val ? val : "", sizeof(c->val));
    easel_strlcpy(c->message, msg, sizeof(c->message));
    return EASEL_EINVAL;
}

/* The position for one key: since is absent, a number, or an object keyed
 * by job id or owner. */
static bool since_for(const cJSON *since, const char *key, int64_t dflt, int64_t *out)
{
    const cJSON *v = cJSON_IsObject(since) ? cJSON_GetObjectItemCaseSensitive(since, key)
                                           : since;
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static easel_err keys(struct api_ws_cmd *c, const cJSON *req, const char *confined)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(req, "jobs");
    const cJSON *owners = cJSON_GetObjectItemCaseSensitive(req, "owners");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(req, "since");
    if (!cJSON_IsObject(req) || (jobs && !cJSON_IsArray(jobs)) ||
        (owners && !cJSON_IsArray(owners)) ||
        (since && !cJSON_IsNumber(since) && !cJSON_IsObject(since)))
        return bad(c, "bad_message", NULL, NULL,
                   "expected {\"subscribe\": {\"jobs\": [ids], \"owners\": "
                   "[\"channel:owner\"], \"since\": N or {key: N}}}");
    int nj = cJSON_GetArraySize(jobs), no = cJSON_GetArraySize(owners);
    if (nj + no > API_WS_MAX_SUBS)
        return bad(c, "too_many_subscriptions", NULL, NULL,
                   "at most 100 subscriptions per connection");
    if (nj + no == 0)
        return EASEL_OK;
    c->keys = calloc((size_t)(nj + no), sizeof(*c->keys));
    if (!c->keys)
        return bad(c, "internal", NULL, NULL, "out of memory");
    const cJSON *v;
    cJSON_ArrayForEach(v, jobs) {
        if (!cJSON_IsString(v) || !easel_uuid_valid(v->valuestring))
            return bad(c, "bad_message", NULL, NULL, "a job id is a UUID string");
        struct api_ws_key *k = &c->keys[c->nkeys];
        easel_strlcpy(k->job_id, v->valuestring, sizeof(k->job_id));
        if (!since_for(since, v->valuestring, 0, &k->since))
            return bad(c, "bad_message", "job_id", v->valuestring,
                       "since is a whole number (an event id)");
        c->nkeys++;
    }
    cJSON_ArrayForEach(v, owners) {
        if (!cJSON_IsString(v) || !strchr(v->valuestring, ':') ||
            strlen(v->valuestring) > API_OWNER_MAX)
            return bad(c, "bad_message", NULL, NULL,
                       "an owner is a string \"channel:owner\" of at most 300 bytes");
        if (confined && strcmp(confined, v->valuestring))
            return bad(c, "forbidden", "owner", v->valuestring,
                       "this token may only follow its own owner");
        struct api_ws_key *k = &c->keys[c->nkeys];
        easel_strlcpy(k->owner, v->valuestring, sizeof(k->owner));
        if (!since_for(since, v->valuestring, -1, &k->since))
            return bad(c, "bad_message", "owner", v->valuestring,
                       "since is a whole number (an event id)");
        c->nkeys++;
    }
    return EASEL_OK;
}

easel_err api_ws_parse(const char *text, size_t len, const char *confined,
                       struct api_ws_cmd *c)
{
    memset(c, 0, sizeof(*c));
    cJSON *m = cJSON_ParseWithLength(text ? text : "", text ? len : 0);
    easel_err rc = EASEL_OK;
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(m, "subscribe");
    const cJSON *unsub = cJSON_GetObjectItemCaseSensitive(m, "unsubscribe");
    const cJSON *ping = cJSON_GetObjectItemCaseSensitive(m, "ping");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (!cJSON_IsObject(m)) {
        rc = bad(c, "bad_message", NULL, NULL, "a message is a JSON object");
    } else if (sub) {
        c->op = API_WS_SUBSCRIBE;
        rc = keys(c, sub, confined);
    } else if (unsub) {
        c->op = API_WS_UNSUBSCRIBE;
        rc = keys(c, unsub, NULL);
    } else if (ping || (cJSON_IsString(type) && !strcmp(type->valuestring, "ping"))) {
        c->op = API_WS_PING;
        c->ping = ping ? cJSON_Duplicate(ping, 1) : NULL;
    } else {
        rc = bad(c, "bad_message", NULL, NULL, "expected subscribe, unsubscribe or ping");
    }
    cJSON_Delete(m);
    return rc;
}
