/*
 * server.c - the API's libwebsockets service thread: accepts connections,
 * reads each request's head and body under the limits, authenticates and
 * routes it, hands it to the pool and writes the answer when it comes back.
 *
 * This thread owns every socket and never waits on Redis or Postgres, so a
 * slow query or a slow client holds only itself. Pool threads hand finished
 * requests back through a locked list and lws_cancel_service(), which wakes
 * this thread in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 */
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "api_int.h"
#include "easel/trace.h"

/* A token bucket: `rate` requests a second, bursts of twice that. */
struct bucket {
    double level;
    int64_t at_ms;
};

struct easel_api {
    struct easel_api_opts o;
    char host[64];
    int port;
    struct api_tokens tokens;
    bool open_api;         /* no tokens file: loopback only, no token asked */
    struct lws_context *ctx;
    struct lws_vhost *vh;
    pthread_t thread;
    bool thread_started;
    volatile int stopping;
    struct api_pool *pool;
    struct api_streams *streams;
    pthread_mutex_t mu;    /* guards done */
    struct api_req *done;
    /* service thread only */
    struct bucket *buckets; /* one per token, or one when there are none */
    int waiting;            /* Prefer: wait requests in the pool */
};

const struct easel_api_opts *api_opts(const struct easel_api *a)
{
    return &a->o;
}

struct api_streams *api_server_streams(struct easel_api *a)
{
    return a->streams;
}

struct lws_context *api_server_context(struct easel_api *a)
{
    return a->ctx;
}

void api_server_submit(struct easel_api *a, struct api_req *r)
{
    api_pool_submit(a->pool, r);
}

bool api_server_open(const struct easel_api *a)
{
    return a->open_api;
}

const struct api_token *api_server_token(struct easel_api *a, const char *authorization)
{
    return api_tokens_find(&a->tokens, authorization);
}

int easel_api_port(const struct easel_api *a)
{
    return a ? a->port : 0;
}

const char *api_method_name(enum api_method m)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "PATCH",
                                        "HEAD", "OPTIONS", "OTHER"};
    return names[m];
}

void api_req_free(struct api_req *r)
{
    if (!r)
        return;
    free(r->path);
    for (int i = 0; i < r->nargs; i++)
        free(r->args[i]);
    for (int i = 0; i < r->nparams; i++)
        free(r->params[i]);
    free(r->content_type);
    free(r->prefer);
    free(r->idempotency_key);
    free(r->base_url);
    free(r->last_event_id);
    free(r->cors_origin);
    free(r->traceparent);
    easel_buf_cleanup(&r->body);
    if (!r->resp_static)
        free(r->resp);
    free(r);
}

const char *api_arg(const struct api_req *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->nargs; i++)
        if (!strncmp(r->args[i], name, n) && r->args[i][n] == '=')
            return r->args[i] + n + 1;
    return NULL;
}

void api_server_done(struct easel_api *a, struct api_req *r)
{
    pthread_mutex_lock(&a->mu);
    bool wake = a->done == NULL; /* else a wake-up is already on its way */
    r->next = a->done;
    a->done = r;
    pthread_mutex_unlock(&a->mu);
    if (wake)
        lws_cancel_service(a->ctx);
}

/* ------------------------------------------------------------- reading */

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
    int n = lws_hdr_total_length(wsi, t);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, t) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *custom_dup(struct lws *wsi, const char *name)
{
    int nlen = (int)strlen(name);
    int n = lws_hdr_custom_length(wsi, name, nlen);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_custom_copy(wsi, s, n + 1, name, nlen) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static enum api_method method_of(struct lws *wsi)
{
    char *uri;
    int len;
    switch (lws_http_get_uri_and_method(wsi, &uri, &len)) {
    case LWSHUMETH_GET: return M_GET;
    case LWSHUMETH_POST: return M_POST;
    case LWSHUMETH_PUT: return M_PUT;
    case LWSHUMETH_DELETE: return M_DELETE;
    case LWSHUMETH_PATCH: return M_PATCH;
    case LWSHUMETH_HEAD: return M_HEAD;
    case LWSHUMETH_OPTIONS: return M_OPTIONS;
    default: return M_OTHER;
    }
}

/* Is a page from origin allowed to call us (--api-cors-origins)? */
static bool cors_allowed(const struct easel_api_opts *o, const char *origin)
{
    const char *p = o->cors_origins;
    size_t ol = strlen(origin);
    if (!p || !*p || ol == 0)
        return false;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if ((n == 1 && *p == '*') || (n == ol && !strncmp(p, origin, n)))
            return true;
        p = e;
    }
    return false;
}

int api_cors_headers(struct lws *wsi, const char *origin, unsigned char **p,
                     unsigned char *end)
{
    static const char expose[] = "location, retry-after, preference-applied";
    if (!origin)
        return 0;
    /* the origin itself, never "*": the answer depends on it (Vary) */
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                    (const unsigned char *)origin, (int)strlen(origin), p,
                                    end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:",
                                    (const unsigned char *)"Origin", 6, p, end) ||
        lws_add_http_header_by_name(wsi,
                                    (const unsigned char *)"access-control-expose-headers:",
                                    (const unsigned char *)expose, (int)sizeof(expose) - 1,
                                    p, end))
        return -1;
    return 0;
}

/* The largest body a path takes: photos go to /estimate-body. */
static int64_t max_body_for(const struct easel_api *a, const char *path, size_t n)
{
    bool image = (n == 14 && !memcmp(path, "/estimate-body", 14)) ||
                 (n == 17 && !memcmp(path, "/v1/estimate-body", 17)) ||
                 (n == 15 && !memcmp(path, "/estimate-body/", 15)) ||
                 (n == 18 && !memcmp(path, "/v1/estimate-body/", 18));
    return image && a->o.max_image_body > a->o.max_body ? a->o.max_image_body : a->o.max_body;
}

/* A new request from its head; NULL only when memory ran out. */
static struct api_req *req_new(struct easel_api *a, struct lws *wsi,
                               const char *path, size_t pathlen)
{
    struct api_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    easel_buf_init(&r->body, (size_t)max_body_for(a, path, pathlen));
    r->received_ms = easel_now_ms();
    r->method = method_of(wsi);
    r->path = easel_strndup(path, pathlen);
    char frag[1024];
    for (int i = 0; r->nargs < API_MAX_ARGS; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        r->args[r->nargs++] = easel_strndup(frag, (size_t)n);
    }
    r->content_type = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    r->prefer = custom_dup(wsi, "prefer:");
    r->idempotency_key = custom_dup(wsi, "idempotency-key:");
    char *host = hdr_dup(wsi, WSI_TOKEN_HOST);
    r->base_url = easel_asprintf("http://%s", host ? host : a->host);
    free(host);
    r->last_event_id = custom_dup(wsi, "last-event-id:");
    if (easel_trace_enabled())
        r->traceparent = custom_dup(wsi, "traceparent:");
    char *origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
    if (origin && cors_allowed(&a->o, origin))
        r->cors_origin = origin;
    else
        free(origin);
    char *auth = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (auth) {
        r->tok = api_tokens_find(&a->tokens, auth);
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    /* EventSource cannot send headers: a stream's token may come as
     * ?access_token= (dispatch refuses it anywhere else); it is taken out
     * of the arguments so no handler or log sees it */
    for (int i = 0; i < r->nargs; i++) {
        if (!r->args[i] || strncmp(r->args[i], "access_token=", 13))
            continue;
        if (!auth) {
            char *b = easel_asprintf("Bearer %s", r->args[i] + 13);
            if (b) {
                r->tok = api_tokens_find(&a->tokens, b);
                explicit_bzero(b, strlen(b));
                free(b);
            }
        }
        r->token_in_query = true;
        explicit_bzero(r->args[i], strlen(r->args[i]));
        free(r->args[i]);
        r->args[i] = r->args[--r->nargs];
        i--;
    }
    if (!r->path || !r->base_url) {
        api_req_free(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------ answering */

/* Takes one request from b; false (and the seconds until one is free)
 * when it is empty. */
static bool take(struct bucket *b, int rate, int *retry_s)
{
    int64_t now = easel_now_ms();
    double cap = 2.0 * rate;
    if (b->at_ms == 0)
        b->level = cap;
    b->level += (double)(now - b->at_ms) * rate / 1000.0;
    if (b->level > cap)
        b->level = cap;
    b->at_ms = now;
    if (b->level >= 1.0) {
        b->level -= 1.0;
        return true;
    }
    *retry_s = (int)((1.0 - b->level) / rate) + 1;
    return false;
}

/* Decides what happens to a complete request: an answer now (404, 405,
 * 401, 403, 429) or a pool thread. */
static void dispatch(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    struct api_req *r = c->req;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    if (r->method == M_OPTIONS && r->cors_origin) {
        /* a browser's preflight: which methods and headers a page may use */
        r->preflight = true;
        api_reply_text(r, 204, NULL, "", 0, true);
        lws_callback_on_writable(wsi);
        return;
    }
    const struct api_route *rt = api_route_find(r);
    if (!rt) {
        if (r->status == 405)
            api_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                      api_method_name(r->method), r->path, r->allow);
        else
            api_error(r, 404, "not_found", "no route %s %s", api_method_name(r->method),
                      r->path);
        lws_callback_on_writable(wsi);
        return;
    }
    r->route = rt;
    r->allow[0] = '\0'; /* what the search noted on the way: not for a match */
    bool stream = rt->fn == api_stream_fetch;
    if (r->token_in_query && !stream) {
        api_error(r, 401, "unauthorized",
                  "access_token in the query is accepted only on the event streams; "
                  "send Authorization: Bearer <token>");
        lws_callback_on_writable(wsi);
        return;
    }
    if (rt->scope != SCOPE_NONE && !a->open_api) {
        if (!r->tok) {
            api_error(r, 401, "unauthorized",
                      "a bearer token is required (Authorization: Bearer <token>)");
            lws_callback_on_writable(wsi);
            return;
        }
        if (!(r->tok->scopes & rt->scope) && !(r->tok->scopes & SCOPE_ADMIN)) {
            api_error(r, 403, "forbidden", "token \"%s\" lacks the %s scope", r->tok->name,
                      rt->scope == SCOPE_ADMIN ? "admin"
                      : rt->scope == SCOPE_WRITE ? "write" : "read");
            lws_callback_on_writable(wsi);
            return;
        }
        if (r->tok->owner && !rt->owner_ok) {
            api_error(r, 403, "forbidden", "token \"%s\" is confined to one owner's jobs",
                      r->tok->name);
            lws_callback_on_writable(wsi);
            return;
        }
    }
    if (a->o.rate_limit > 0 && a->buckets) {
        size_t k = r->tok ? (size_t)(r->tok - a->tokens.v) : 0;
        int retry = 1;
        if (!take(&a->buckets[k], a->o.rate_limit, &retry)) {
            api_error(r, 429, "too_many_requests",
                      "more than %d requests a second%s%s; slow down", a->o.rate_limit,
                      r->tok ? " for token " : "", r->tok ? r->tok->name : "");
            r->retry_after_s = retry;
            lws_callback_on_writable(wsi);
            return;
        }
    }
    if (r->prefer && (rt->fn == api_jobs_create) && api_prefer_wait(r) > 0) {
        if (a->waiting >= a->o.max_waiting) {
            api_error(r, 429, "too_many_requests",
                      "%d requests are already waiting (Prefer: wait); try without it or later",
                      a->waiting);
            r->retry_after_s = 1;
            lws_callback_on_writable(wsi);
            return;
        }
        a->waiting++;
        r->counted_wait = true;
    }
    if (stream) {
        api_stream_open(a, wsi, c);
        return;
    }
    c->in_pool = true;
    r->conn = wsi;
    api_pool_submit(a->pool, r);
}

static int write_head(struct lws *wsi, struct api_req *r)
{
    unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                  *end = buf + sizeof(buf) - 1;
    const char *type = r->resp_type ? r->resp_type : "application/json";
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, type,
                                    (lws_filepos_t)r->resp_len, &p, end))
        return -1;
    if (r->allow[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                    (const unsigned char *)r->allow,
                                    (int)strlen(r->allow), &p, end))
        return -1;
    if (r->retry_after_s > 0) {
        char ra[16];
        (void)easel_snprintf(ra, sizeof(ra), "%d", r->retry_after_s);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)ra, (int)strlen(ra), &p,
                                        end))
            return -1;
    }
    if (r->location[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"location:",
                                    (const unsigned char *)r->location,
                                    (int)strlen(r->location), &p, end))
        return -1;
    if (r->applied[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"preference-applied:",
                                    (const unsigned char *)r->applied,
                                    (int)strlen(r->applied), &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (api_cors_headers(wsi, r->cors_origin, &p, end))
        return -1;
    if (r->preflight) {
        static const char methods[] = "GET, POST, PUT, DELETE",
                          headers[] = "authorization, content-type, idempotency-key, prefer, "
                                      "last-event-id, traceparent";
        if (lws_add_http_header_by_name(wsi,
                                        (const unsigned char *)"access-control-allow-methods:",
                                        (const unsigned char *)methods,
                                        (int)sizeof(methods) - 1, &p, end) ||
            lws_add_http_header_by_name(wsi,
                                        (const unsigned char *)"access-control-allow-headers:",
                                        (const unsigned char *)headers,
                                        (int)sizeof(headers) - 1, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-max-age:",
                                        (const unsigned char *)"600", 3, &p, end))
            return -1;
    }
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Writes what it can of the answer; 1 when more is to come, 0 when done,
 * -1 to close. */
static int write_some(struct lws *wsi, struct api_req *r)
{
    if (!r->headers_sent) {
        if (write_head(wsi, r))
            return -1;
        r->headers_sent = true;
        if (r->method == M_HEAD || r->resp_len == 0)
            return 0;
        return 1;
    }
    enum { CHUNK = 16384 };
    static __thread unsigned char out[LWS_PRE + CHUNK];
    size_t n = r->resp_len - r->sent;
    if (n > CHUNK)
        n = CHUNK;
    memcpy(out + LWS_PRE, r->resp + r->sent, n);
    bool last = r->sent + n == r->resp_len;
    if (lws_write(wsi, out + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
        (int)n)
        return -1;
    r->sent += n;
    return last ? 0 : 1;
}

static void drain_done(struct easel_api *a)
{
    pthread_mutex_lock(&a->mu);
    struct api_req *r = a->done;
    a->done = NULL;
    pthread_mutex_unlock(&a->mu);
    while (r) {
        struct api_req *next = r->next;
        r->next = NULL;
        if (r->counted_wait) {
            a->waiting--;
            r->counted_wait = false;
        }
        if (r->sub) {
            api_stream_fetched(a, r);
        } else if (r->abandoned) {
            api_req_free(r);
        } else {
            struct lws *wsi = r->conn;
            struct api_conn *c = lws_wsi_user(wsi);
            c->in_pool = false;
            lws_callback_on_writable(wsi);
        }
        r = next;
    }
}

/* ------------------------------------------------------------- callback */

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                   void *in, size_t len)
{
    struct easel_api *a = lws_context_user(lws_get_context(wsi));
    struct api_conn *c = user;

    /* a connection closed before its head was read has no per-connection
     * data: only the cancel wake-up comes without one on purpose */
    if (!c && reason != LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        if (c->req) /* a pipelined request while one is pending */
            return -1;
        c->req = req_new(a, wsi, in, len);
        if (!c->req)
            return -1;
        struct api_req *r = c->req;
        char cl[32];
        int64_t clen = -1;
        if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
            easel_parse_i64(cl, 0, INT64_MAX, &clen) != EASEL_OK)
            clen = -1;
        bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
        if (clen > (int64_t)r->body.max) {
            api_error(r, 413, "payload_too_large",
                      "the body is %lld bytes; at most %lld are accepted", (long long)clen,
                      (long long)r->body.max);
            c->close_after = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (chunked) {
            /* libwebsockets 4.1 never completes a chunked request body */
            api_error(r, 411, "length_required",
                      "send the body with a Content-Length (chunked uploads are not read)");
            c->close_after = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (clen > 0) {
            /* the body follows: it must arrive within the body timeout */
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                            (int)((a->o.body_timeout_ms + 999) / 1000));
            return 0;
        }
        dispatch(a, wsi, c);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY: {
        struct api_req *r = c->req;
        if (!r || r->status)
            return 0;
        if (easel_buf_append(&r->body, in, len) != EASEL_OK) {
            api_error(r, 413, "payload_too_large", "the body is over %lld bytes",
                      (long long)r->body.max);
            c->close_after = true;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->req && !c->req->status && !c->in_pool)
            dispatch(a, wsi, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (c->st)
            return api_stream_writable(a, wsi, c);
        struct api_req *r = c->req;
        if (!r || c->in_pool || !r->status)
            return 0;
        int more = write_some(wsi, r);
        if (more < 0)
            return -1;
        if (more) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (easel_log_enabled(EASEL_LOG_DEBUG)) {
            /* an access log line: the token's name, never the token */
            char status[8], ms[24];
            (void)easel_snprintf(status, sizeof(status), "%d", r->status);
            (void)easel_snprintf(ms, sizeof(ms), "%lld",
                                 (long long)(easel_now_ms() - r->received_ms));
            easel_log_kv(EASEL_LOG_DEBUG, NULL,
                         (const char *const[]){"method", api_method_name(r->method), "path",
                                               r->path, "status", status, "ms", ms, "caller",
                                               r->tok ? r->tok->name : "-", NULL},
                         "http %s %s %d", api_method_name(r->method), r->path, r->status);
        }
        api_req_free(r);
        c->req = NULL;
        if (c->close_after)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_TIMER:
        return api_stream_timer(a, wsi, c);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return api_ws_filter(a, wsi, c);
    case LWS_CALLBACK_ESTABLISHED:
        return api_ws_established(a, wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return api_ws_receive(a, wsi, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->st ? api_stream_writable(a, wsi, c) : 0;
    case LWS_CALLBACK_CLOSED:
        api_stream_closed(a, c);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        api_stream_closed(a, c);
        if (c->req) {
            if (c->in_pool)
                c->req->abandoned = true; /* freed when it comes back */
            else
                api_req_free(c->req);
            c->req = NULL;
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_done(a);
        api_streams_drain(a);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", on_http, sizeof(struct api_conn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ------------------------------------------------------------ lifecycle */

void api_thread_yield_priority(void)
{
    /* Linux: a thread id names one thread for setpriority, and raising
     * one's own nice value needs no privilege */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && now < 19)
        (void)setpriority(PRIO_PROCESS, tid, now + 5 > 19 ? 19 : now + 5);
}

static void *service_main(void *arg)
{
    struct easel_api *a = arg;
    api_thread_yield_priority();
    while (!a->stopping)
        if (lws_service(a->ctx, 0) < 0)
            break;
    return NULL;
}

static void silence_lws(int level, const char *line)
{
    (void)level;
    (void)line;
}

easel_err easel_api_start(const struct easel_api_opts *o, struct easel_api **out,
                          struct easel_error *err)
{
    *out = NULL;
    struct easel_api *a = calloc(1, sizeof(*a));
    if (!a)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT,
                               EASEL_R_NO_MEMORY, "out of memory");
    a->o = *o;
    pthread_mutex_init(&a->mu, NULL);
    easel_err rc;
    if (easel_split_host_port(o->addr, a->host, sizeof(a->host), &a->port) != EASEL_OK) {
        rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                             "--http-addr \"%s\" is not HOST:PORT", o->addr);
        goto fail;
    }
    if (o->tokens_file && *o->tokens_file) {
        rc = api_tokens_load(o->tokens_file, &a->tokens, err);
        if (rc)
            goto fail;
    } else {
        a->open_api = true;
        if (!strcmp(a->host, "0.0.0.0") && !strcmp(o->addr, EASEL_API_DEFAULT_ADDR)) {
            easel_strlcpy(a->host, "127.0.0.1", sizeof(a->host));
            easel_warn(NULL, "no --api-tokens-file: the HTTP API listens on loopback only "
                             "(127.0.0.1:%d) and asks for no token", a->port);
        } else if (!easel_host_is_loopback(a->host)) {
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                                 "--http-addr %s is not a loopback address and no "
                                 "--api-tokens-file is set: an API off loopback needs tokens",
                                 o->addr);
            goto fail;
        } else {
            easel_warn(NULL, "no --api-tokens-file: the HTTP API on %s asks for no token",
                       o->addr);
        }
    }

    if (o->max_waiting <= 0)
        a->o.max_waiting = 1000;
    if (o->stream_heartbeat_ms <= 0)
        a->o.stream_heartbeat_ms = 15000;
    if (o->stream_max_buffer <= 0)
        a->o.stream_max_buffer = 1 << 20;
    if (o->stream_stall_ms <= 0)
        a->o.stream_stall_ms = 30000;
    a->buckets = calloc(a->tokens.n ? a->tokens.n : 1, sizeof(*a->buckets));
    if (!a->buckets) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_MEMORY,
                             "out of memory");
        goto fail;
    }
    lws_set_log_level(LLL_ERR, silence_lws);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = a->port;
    info.iface = a->host[0] && strcmp(a->host, "0.0.0.0") ? a->host : NULL;
    info.protocols = protocols;
    info.user = a;
    /* an IPv4 address binds IPv4 only; "" and IPv6 addresses take both */
    if (a->host[0] && !strchr(a->host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = 8192;
    info.max_http_header_pool = (unsigned short)(o->max_connections > 0 &&
                                                         o->max_connections < 65535
                                                     ? o->max_connections
                                                     : 1024);
    info.fd_limit_per_thread = (unsigned)(o->max_connections > 0 ? o->max_connections + 16
                                                                 : 0);
    info.keepalive_timeout = (int)((o->idle_timeout_ms + 999) / 1000);
    info.timeout_secs = (unsigned)((o->body_timeout_ms + 999) / 1000);
    info.timeout_secs_ah_idle = (unsigned)((o->header_timeout_ms + 999) / 1000);
    a->ctx = lws_create_context(&info);
    if (!a->ctx) {
        rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_PERMANENT,
                             EASEL_R_LISTEN_FAILED, "cannot listen on %s: %s", o->addr,
                             strerror(errno));
        goto fail;
    }
    a->vh = lws_get_vhost_by_name(a->ctx, "default");
    if (a->vh) {
        int p = lws_get_vhost_listen_port(a->vh);
        if (p > 0)
            a->port = p;
    }
    int threads = o->threads;
    if (threads <= 0) {
        /* batching (pool.c) keeps a few threads busy; more only switch */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 2 ? 2 : cpus > 16 ? 16 : (int)cpus;
    }
    rc = api_streams_start(a, &a->streams);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NO_THREAD,
                        "cannot start the API's event hub");
        goto fail;
    }
    rc = api_pool_start(a, threads, &a->pool);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NO_THREAD,
                        "cannot start the API's threads");
        goto fail;
    }
    if (pthread_create(&a->thread, NULL, service_main, a)) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_THREAD,
                             "cannot start the API's service thread");
        goto fail;
    }
    a->thread_started = true;
    easel_info(NULL, "HTTP API on %s:%d%s", a->host[0] ? a->host : "*", a->port,
               a->open_api ? " (no tokens)" : "");
    *out = a;
    return EASEL_OK;
fail:
    easel_api_stop(a);
    return rc;
}

void easel_api_stop(struct easel_api *a)
{
    if (!a)
        return;
    a->stopping = 1;
    if (a->ctx)
        lws_cancel_service(a->ctx);
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    /* the hub wakes the service thread through the context: it goes first */
    api_streams_stop(a->streams);
    /* the pool hands its last requests back; nobody writes them now */
    if (a->pool)
        api_pool_stop(a->pool);
    if (a->ctx)
        lws_context_destroy(a->ctx);
    /* every connection is closed now: what came back unwritten is ours */
    struct api_req *r = a->done;
    while (r) {
        struct api_req *next = r->next;
        api_req_free(r);
        r = next;
    }
    api_streams_free(a->streams);
    api_tokens_cleanup(&a->tokens);
    free(a->buckets);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
