/*
 * api_int.h - shared by the API module's files; not public.
 *
 * A request is parsed on the service thread (server.c) into a struct
 * api_req, authenticated (auth.c) and routed (routes.c) there; its handler
 * runs on a pool thread (pool.c) with that thread's connections and fills in
 * the response; the service thread writes it.
 */
#ifndef EASEL_API_INT_H
#define EASEL_API_INT_H

#include <pthread.h>

#include <libwebsockets.h>

#include <cjson/cJSON.h>

#include "easel/api.h"
#include "easel/credits.h"
#include "easel/queue.h"
#include "easel/store.h"
#include "easel/yamljson.h"

enum api_method { M_GET, M_POST, M_PUT, M_DELETE, M_PATCH, M_HEAD, M_OPTIONS, M_OTHER };
const char *api_method_name(enum api_method m);

enum api_scope { SCOPE_NONE = 0, SCOPE_READ = 1, SCOPE_WRITE = 2, SCOPE_ADMIN = 4 };

/* One token of the tokens file, as kept in memory: only its SHA-256. */
struct api_token {
    char *name;
    unsigned char hash[32];
    unsigned scopes;      /* SCOPE_* bits */
    char *channel, *owner; /* both set: confined to that owner's jobs */
};
struct api_tokens {
    struct api_token *v;
    size_t n;
};
/* Reads the tokens file (see docs/api.md). EASEL_EPARSE with file:line and
 * a sentence in err; a token is never echoed. */
easel_err api_tokens_load(const char *path, struct api_tokens *out,
                          struct easel_error *err);
/* The same from the file's text (path only names it in errors). */
easel_err api_tokens_parse(const char *text, size_t len, const char *path,
                           struct api_tokens *out, struct easel_error *err);
void api_tokens_cleanup(struct api_tokens *t);
/* The token an "Authorization: Bearer ..." value names, or NULL. Every
 * token is compared, in constant time, whatever matches. */
const struct api_token *api_tokens_find(const struct api_tokens *t,
                                        const char *authorization);

#define API_MAX_PARAMS 4
#define API_MAX_ARGS 32

struct api_req;
struct api_ctx;
typedef void (*api_handler)(struct api_ctx *x, struct api_req *r);

struct api_route {
    enum api_method method;
    const char *pattern;  /* "/v1/jobs/{id}/cancel": {x} is one segment */
    unsigned scope;       /* SCOPE_NONE: no token needed */
    api_handler fn;
    bool owner_ok;        /* an owner-confined token may call it */
};
extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* The route for method + path, with its {params} (decoded segments) in
 * r->params. NULL: r->status is 404, or 405 with r->allow set. */
const struct api_route *api_route_find(struct api_req *r);

struct api_req {
    struct api_req *next;
    /* request (service thread fills, read-only afterwards) */
    enum api_method method;
    char *path;
    char *args[API_MAX_ARGS]; /* "name=value", decoded */
    int nargs;
    char *params[API_MAX_PARAMS];
    int nparams;
    char *content_type, *prefer, *idempotency_key, *base_url;
    char *cors_origin;     /* the Origin, when --api-cors-origins allows it */
    char *traceparent;     /* the W3C traceparent header, read while tracing is on */
    struct easel_buf body;
    const struct api_token *tok;
    const struct api_route *route;
    int64_t received_ms;
    /* response (pool thread fills) */
    int status;
    char *resp;            /* JSON text, malloc'd */
    size_t resp_len, sent;
    char allow[64];
    int retry_after_s;
    char location[160];
    char applied[24];      /* Preference-Applied, e.g. "wait=10" */
    const char *resp_type; /* default application/json */
    bool resp_static;      /* resp is not ours to free */
    /* Prefer: wait: the handler sets park_id to hold the answer until that
     * job is terminal or park_until_ms (mono) passes; then resume runs on a
     * pool thread to answer. */
    char park_id[EASEL_UUID_LEN + 1];
    int64_t park_until_ms;
    int park_status;
    api_handler resume;
    /* streams (stream.c): a history fetch for sub, on a pool thread */
    struct api_sub *sub;
    char *last_event_id;   /* the Last-Event-ID header */
    int64_t fetch_since;   /* events after this; -1: none, just where the end is */
    int64_t fetch_last;    /* the last seq the fetch found */
    bool fetch_more;       /* a full page: fetch again */
    bool fetch_done;       /* the job is terminal and resp ends with its done */
    bool token_in_query;   /* the token came as ?access_token= */
    bool preflight;        /* a CORS preflight (OPTIONS) answered 204 */
    /* service thread only */
    bool counted_wait;     /* counted in the server's waiting requests */
    bool abandoned;        /* the connection closed while in the pool */
    bool headers_sent;
    void *conn;
};
void api_req_free(struct api_req *r);

/* The value of query argument name (decoded), or NULL. */
const char *api_arg(const struct api_req *r, const char *name);

/* Responses. Each replaces any earlier one. */
void api_reply_json(struct api_req *r, int status, cJSON *body); /* takes body */
void api_reply_text(struct api_req *r, int status, const char *type,
                    const char *text, size_t len, bool is_static);
/* {"error":{"code":code,"message":...}} */
void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
    EASEL_PRINTF(4, 5);
/* 503 with Retry-After, for a dependency that is down */
void api_unavailable(struct api_req *r, const char *what, const char *detail);


/* A pool thread's view: its own connections, opened on first use. */
struct api_ctx {
    struct easel_api *api;
    const struct easel_api_opts *o;
    struct easel_queue *q;
    struct easel_store *s;
    struct easel_registry *reg; /* held for one request */
    struct easel_store *app;    /* the app's database (credits external), on first use */
};
/* Where this request's manual retries reserve credits the app keeps. */
struct easel_credits_ctx api_credits_ctx(struct api_ctx *x);
/* The thread's connections, (re)opened as needed; NULL after answering
 * 503 on r. */
struct easel_queue *api_queue(struct api_ctx *x, struct api_req *r);
struct easel_store *api_store(struct api_ctx *x, struct api_req *r);
/* After a failed call: answers 503 when the connection dropped (and drops
 * it, so the next request reconnects), else 500. */
void api_store_failed(struct api_ctx *x, struct api_req *r, easel_err rc);
void api_queue_failed(struct api_ctx *x, struct api_req *r, easel_err rc);

/* parse.c. The seconds a Prefer header asks to wait ("wait" = 60,
 * "wait=N", N up to 60), or 0; for r's header, or any text. */
int api_prefer_wait(const struct api_req *r);
int api_prefer_wait_of(const char *prefer);
/* RFC 3339 ("2026-11-28T12:00:00Z", "...+01:00", fractions) to wall ms. */
bool api_parse_rfc3339(const char *s, int64_t *out);
/* ?limit= (1 to 1000) into *limit, left as it is when absent; false after
 * answering 400 when it is not one. */
bool api_arg_limit(struct api_req *r, size_t *limit);
/* The request's body as a JSON object, or NULL after answering 415 (not
 * JSON), or 400 malformed_json with the line and column. */
cJSON *api_body_object(struct api_req *r);
/* A list cursor "<created_at µs>.<uuid>"; false when it is not one. */
bool api_parse_cursor(const char *v, int64_t *created_us, char id[EASEL_UUID_LEN + 1]);

/* A connection's state, the service thread's (server.c, stream.c). */
/* multipart.c: one part of a multipart/form-data body, pointing into it */
struct api_part {
    char name[64];
    char filename[256];
    bool has_filename;
    char type[128];        /* its Content-Type, "" when absent */
    const uint8_t *data;
    size_t len;
};
/* The boundary of a "multipart/form-data; boundary=..." Content-Type, checked
 * against RFC 2046 (1 to 70 of its characters); false when it is not one. */
bool api_multipart_boundary(const char *content_type, char *out, size_t outlen);
/* Splits the body into at most max parts; returns how many, or -1 with a
 * sentence in err. */
int api_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                        struct api_part *parts, int max, char *err, size_t errlen);

/* body.c: POST /estimate-body */
void api_estimate_body(struct api_ctx *x, struct api_req *r);

struct api_stream;
struct api_conn {
    struct api_req *req;   /* the request in progress on this connection */
    bool in_pool;          /* req is the pool's until it comes back */
    bool close_after;      /* answer, then close (413 before the body) */
    struct api_stream *st; /* an SSE stream or a WebSocket, once it is one */
    const struct api_token *ws_tok; /* the WebSocket's token, from its handshake */
};

/* stream.c: SSE streams and WebSockets. The hub thread LISTENs on
 * easel_events and hands each event to the service thread, which sends it
 * to every subscription that wants it; a subscription first catches up
 * from Postgres on a pool thread (api_stream_fetch). */
struct api_streams;
easel_err api_streams_start(struct easel_api *a, struct api_streams **out);
/* Stops the hub (before the lws context goes); _free after the context is
 * destroyed, when no connection is left. */
void api_streams_stop(struct api_streams *ss);
void api_streams_free(struct api_streams *ss);
/* Service thread: events and resets the hub handed over. */
void api_streams_drain(struct easel_api *a);
/* Service thread: a stream route (dispatch found api_stream_fetch). */
void api_stream_open(struct easel_api *a, struct lws *wsi, struct api_conn *c);
/* Service thread: a fetch came back from the pool. */
void api_stream_fetched(struct easel_api *a, struct api_req *r);
/* Service thread, from the lws callback; the return is the callback's. */
int api_stream_writable(struct easel_api *a, struct lws *wsi, struct api_conn *c);
int api_stream_timer(struct easel_api *a, struct lws *wsi, struct api_conn *c);
void api_stream_closed(struct easel_api *a, struct api_conn *c);
/* WebSocket: the handshake (0 accepts; the token is kept in c), the
 * connection once up, and each received fragment. */
int api_ws_filter(struct easel_api *a, struct lws *wsi, struct api_conn *c);
int api_ws_established(struct easel_api *a, struct lws *wsi, struct api_conn *c);
int api_ws_receive(struct easel_api *a, struct lws *wsi, struct api_conn *c, const void *in,
                   size_t len);
/* Pool thread: the history of r->sub after r->fetch_since, as frames in
 * r->resp. */
void api_stream_fetch(struct api_ctx *x, struct api_req *r);
/* The answer to GET /v1/ws without an upgrade: 426. */
void api_ws_plain(struct api_ctx *x, struct api_req *r);

/* wsmsg.c: a WebSocket client's message, checked whole. */
#define API_WS_MAX_SUBS 100 /* subscriptions per connection */
#define API_OWNER_MAX 300   /* "channel:owner" */
enum api_ws_op { API_WS_SUBSCRIBE, API_WS_UNSUBSCRIBE, API_WS_PING, API_WS_BAD };
struct api_ws_key {
    char job_id[EASEL_UUID_LEN + 1]; /* a job, or "" */
    char owner[API_OWNER_MAX + 1];   /* or an owner */
    int64_t since;                   /* after this id; -1: from now */
};
struct api_ws_cmd {
    enum api_ws_op op;
    struct api_ws_key *keys;
    int nkeys;
    cJSON *ping;                     /* the ping's payload, or NULL */
    /* API_WS_BAD: the error message's fields */
    const char *code, *key;          /* key: "job_id", "owner" or NULL */
    char val[API_OWNER_MAX + 1];
    char message[200];
};
/* Parses text; confined is the owner an owner-confined token may follow
 * (NULL: any). EASEL_EINVAL with op API_WS_BAD and the error filled in. */
easel_err api_ws_parse(const char *text, size_t len, const char *confined,
                       struct api_ws_cmd *c);
void api_ws_cmd_cleanup(struct api_ws_cmd *c);

/* server.c, for stream.c */
struct api_streams *api_server_streams(struct easel_api *a);
struct lws_context *api_server_context(struct easel_api *a);
void api_server_submit(struct easel_api *a, struct api_req *r);
bool api_server_open(const struct easel_api *a); /* no tokens file */
/* Adds the CORS answer headers for an allowed origin (NULL: none). */
int api_cors_headers(struct lws *wsi, const char *origin, unsigned char **p,
                     unsigned char *end);
const struct api_token *api_server_token(struct easel_api *a, const char *authorization);

/* The pool: started with the server, fed by it. */
struct api_pool;
easel_err api_pool_start(struct easel_api *a, int threads, struct api_pool **out);
/* Queues r for a pool thread; done(r) is called from that thread after. */
void api_pool_submit(struct api_pool *p, struct api_req *r);
void api_pool_stop(struct api_pool *p);

/* Called first by each API thread: it runs at a lower priority than the
 * controller's claim path and main loop (nice +5), so a flood of requests
 * slows answers, not the pickup of jobs. */
void api_thread_yield_priority(void);

/* server.c: hands a finished request back to the service thread. */
void api_server_done(struct easel_api *a, struct api_req *r);
const struct easel_api_opts *api_opts(const struct easel_api *a);

/* The job named by id as this request may see it: NULL after answering
 * 404 (unknown, not a UUID, another owner's) or 503. Caller frees. */
struct easel_job *api_job_load(struct api_ctx *x, struct api_req *r, const char *id);
/* May a request with token tok see job j? */
bool api_job_visible(const struct api_token *tok, const struct easel_job *j);
/* Answers with the API's view of j (components.schemas.Job). */
void api_reply_job(struct api_req *r, int status, const struct easel_job *j);

/* Route handlers (jobs.c, admin.c, worker.c, meta.c). */
void api_jobs_create(struct api_ctx *x, struct api_req *r);
void api_jobs_get(struct api_ctx *x, struct api_req *r);
/* GET /v1/jobs/{id} for n requests at once, with one query. */
void api_jobs_get_many(struct api_ctx *x, struct api_req **rs, size_t n);
void api_jobs_list(struct api_ctx *x, struct api_req *r);
void api_jobs_cancel(struct api_ctx *x, struct api_req *r);
void api_jobs_retry(struct api_ctx *x, struct api_req *r);
void api_jobs_events(struct api_ctx *x, struct api_req *r);
void api_models(struct api_ctx *x, struct api_req *r);
void api_queues(struct api_ctx *x, struct api_req *r);
void api_dead_list(struct api_ctx *x, struct api_req *r);
void api_dead_retry(struct api_ctx *x, struct api_req *r);
void api_dead_delete(struct api_ctx *x, struct api_req *r);
void api_webhooks_list(struct api_ctx *x, struct api_req *r);
void api_webhooks_redeliver(struct api_ctx *x, struct api_req *r);
void api_credits_get(struct api_ctx *x, struct api_req *r);
void api_credits_grant(struct api_ctx *x, struct api_req *r);
void api_healthz(struct api_ctx *x, struct api_req *r);
void api_readyz(struct api_ctx *x, struct api_req *r);
/* metrics.c */
void api_metrics(struct api_ctx *x, struct api_req *r);
void api_openapi(struct api_ctx *x, struct api_req *r);
void api_worker_start(struct api_ctx *x, struct api_req *r);
void api_worker_stop(struct api_ctx *x, struct api_req *r);
void api_worker_status(struct api_ctx *x, struct api_req *r);
void api_worker_health(struct api_ctx *x, struct api_req *r);
void api_worker_process(struct api_ctx *x, struct api_req *r);
void api_worker_config_get(struct api_ctx *x, struct api_req *r);
void api_worker_config_put(struct api_ctx *x, struct api_req *r);
void api_worker_stats(struct api_ctx *x, struct api_req *r);
void api_worker_workers(struct api_ctx *x, struct api_req *r);

#endif
