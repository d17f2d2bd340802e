/*
 * routes.c - the API's route table and the answers every handler shares:
 * JSON bodies and the one error shape {"error":{"code","message"}}.
 *
 * The table is the one list of what the server answers; the OpenAPI
 * document is checked against it by a test, so a route cannot be added
 * here without being documented there.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define R SCOPE_READ
#define W SCOPE_WRITE
#define A SCOPE_ADMIN
#define OPEN SCOPE_NONE

const struct api_route api_routes[] = {
    {M_POST, "/v1/jobs", W, api_jobs_create, true},
    {M_GET, "/v1/jobs", R, api_jobs_list, true},
    {M_GET, "/v1/jobs/{id}", R, api_jobs_get, true},
    {M_POST, "/v1/jobs/{id}/cancel", W, api_jobs_cancel, true},
    {M_POST, "/v1/jobs/{id}/retry", W, api_jobs_retry, true},
    {M_GET, "/v1/jobs/{id}/events", R, api_jobs_events, true},
    {M_GET, "/v1/jobs/{id}/stream", R, api_stream_fetch, true},
    {M_GET, "/v1/events", R, api_stream_fetch, true},
    {M_GET, "/v1/ws", R, api_ws_plain, true},
    {M_GET, "/v1/models", R, api_models, true},
    {M_GET, "/v1/queues", R, api_queues, false},
    {M_GET, "/v1/dead", R, api_dead_list, false},
    {M_POST, "/v1/dead/{id}/retry", A, api_dead_retry, false},
    {M_DELETE, "/v1/dead/{id}", A, api_dead_delete, false},
    {M_GET, "/v1/webhooks", W, api_webhooks_list, true},
    {M_POST, "/v1/webhooks/{id}/redeliver", W, api_webhooks_redeliver, true},
    {M_GET, "/v1/credits/{owner}", R, api_credits_get, true},
    {M_POST, "/v1/credits/{owner}/grants", A, api_credits_grant, false},
    {M_POST, "/v1/estimate-body", W, api_estimate_body, true},
    {M_POST, "/estimate-body", W, api_estimate_body, true},
    /* the worker API existing apps call, on their paths */
    {M_POST, "/worker/start", A, api_worker_start, false},
    {M_POST, "/worker/stop", A, api_worker_stop, false},
    {M_GET, "/worker/status", R, api_worker_status, false},
    {M_GET, "/worker/health", OPEN, api_worker_health, true},
    {M_POST, "/worker/jobs", W, api_jobs_create, true},
    {M_GET, "/worker/jobs/{id}", R, api_jobs_get, true},
    {M_DELETE, "/worker/jobs/{id}", W, api_jobs_cancel, true},
    {M_POST, "/worker/jobs/{id}/process", W, api_worker_process, true},
    {M_GET, "/worker/config", R, api_worker_config_get, false},
    {M_PUT, "/worker/config", A, api_worker_config_put, false},
    {M_GET, "/worker/stats", R, api_worker_stats, false},
    {M_GET, "/worker/workers", R, api_worker_workers, false},
    {M_GET, "/health", OPEN, api_worker_health, true},
    {M_GET, "/healthz", OPEN, api_healthz, true},
    {M_GET, "/readyz", OPEN, api_readyz, true},
    {M_GET, "/metrics", R, api_metrics, false},
    {M_GET, "/openapi.json", OPEN, api_openapi, true},
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

/* Matches path against pattern; on success the {params} are copied into r. */
static bool match(const char *pattern, const char *path, struct api_req *r, bool keep)
{
    int np = 0;
    char *params[API_MAX_PARAMS];
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!pe)
                return false;
            if (!se)
                se = s + strlen(s);
            if (se == s || np == API_MAX_PARAMS)
                goto no;
            params[np++] = keep ? easel_strndup(s, (size_t)(se - s)) : NULL;
            p = pe + 1;
            s = se;
            continue;
        }
        if (*p != *s)
            goto no;
        p++;
        s++;
    }
    /* a trailing slash is the same route */
    if (*s == '/' && s[1] == '\0')
        s++;
    if (*p || *s)
        goto no;
    if (keep)
        for (int i = 0; i < np; i++)
            r->params[r->nparams++] = params[i];
    return true;
no:
    for (int i = 0; keep && i < np; i++)
        free(params[i]);
    return false;
}

const struct api_route *api_route_find(struct api_req *r)
{
    bool path_known = false;
    r->allow[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        if (!match(rt->pattern, r->path, r, false))
            continue;
        enum api_method m = r->method == M_HEAD ? M_GET : r->method;
        if (rt->method == m) {
            match(rt->pattern, r->path, r, true);
            return rt;
        }
        path_known = true;
        const char *name = api_method_name(rt->method);
        if (!strstr(r->allow, name) && used + strlen(name) + 3 < sizeof(r->allow)) {
            used += (size_t)snprintf(r->allow + used, sizeof(r->allow) - used, "%s%s",
                                     used ? ", " : "", name);
        }
    }
    r->status = 0;
    if (path_known) {
        r->status = 405;
        return NULL;
    }
    r->status = 404;
    return NULL;
}

/* ------------------------------------------------------------- answers */

static void set_resp(struct api_req *r, int status, char *text, size_t len, bool is_static)
{
    if (!r->resp_static)
        free(r->resp);
    r->status = status;
    r->resp = text;
    r->resp_len = len;
    r->resp_static = is_static;
    r->sent = 0;
}

void api_reply_json(struct api_req *r, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        set_resp(r, 500, (char *)"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}",
                 strlen("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}"),
                 true);
        return;
    }
    r->resp_type = "application/json";
    set_resp(r, status, text, strlen(text), false);
}

void api_reply_text(struct api_req *r, int status, const char *type, const char *text,
                    size_t len, bool is_static)
{
    r->resp_type = type;
    if (is_static) {
        set_resp(r, status, (char *)text, len, true);
        return;
    }
    char *copy = easel_strndup(text, len);
    if (!copy) {
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    set_resp(r, status, copy, len, false);
}

void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    easel_vfmt_cut(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    api_reply_json(r, status, o);
}

void api_unavailable(struct api_req *r, const char *what, const char *detail)
{
    api_error(r, 503, "unavailable", "%s is unavailable: %s", what, detail ? detail : "");
    r->retry_after_s = 1;
}
