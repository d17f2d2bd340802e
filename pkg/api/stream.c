/*
 * stream.c - live events: SSE streams (GET /v1/jobs/{id}/stream and GET
 * /v1/events?owner=) and WebSockets (GET /v1/ws).
 *
 * Every event is a job_events row; its seq is the SSE id. The row's
 * trigger (store migration 4) draws seq under a lock on the job's owner
 * (or on the job) held until commit, so among one owner's events a higher
 * seq always commits later. That one fact makes resuming exact: "the
 * events after N" read from Postgres can miss nothing that commits later,
 * and live events arrive (by NOTIFY, in commit order) with rising seqs.
 *
 * A subscription (one job's events or one owner's) lives on the service
 * thread. It starts by catching up: a pool thread reads the history after
 * its position (api_stream_fetch) while live events for it are held. When
 * the fetch comes back, its frames go out, then the held events it did not
 * already contain, and the subscription is live. Held events past a bound,
 * a full page of history, or a hub that reconnected (notifications lost)
 * all mean the same thing: fetch again from the last seq sent, since
 * everything that was announced is in Postgres anyway.
 *
 * The hub thread owns one Postgres connection that LISTENs on
 * easel_events; it reads the announced rows some subscription follows (the
 * interest table, by job and owner) in batches, renders each event
 * once as an SSE frame and once as a WebSocket message, and hands them to
 * the service thread, which copies them to every subscription that wants
 * them. Any replica serves any stream: the events of every process reach
 * every replica through Postgres.
 *
 * A client that does not read is not buffered for without bound: past
 * --stream-max-buffer an SSE stream is cut (EventSource reconnects with
 * Last-Event-ID and loses nothing), a WebSocket is closed with 1008 and
 * the reason.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "easel/client.h"
#include "easel/yamljson.h"

#define PAGE 500          /* events per history fetch */
#define HELD_MAX 64       /* live events held while catching up */
#define HUB_BATCH 1024    /* notifications read per round */
#define WS_MAX_MSG 65536  /* a client's message */

#define INTEREST_BUCKETS 1024

struct interest {
    struct interest *next;
    unsigned count;
    char key[];
};

/* An event from the hub, rendered once for every stream that wants it. */
struct api_ev {
    struct api_ev *next;
    int refs;
    int64_t seq;
    char job_id[EASEL_UUID_LEN + 1];
    char *owner;
    bool terminal;          /* a status change to a terminal status */
    struct easel_buf sse, ws;
};

struct api_sub {
    struct api_sub *next, *prev;     /* every subscription (the server's) */
    struct api_sub *cnext;           /* its stream's */
    struct api_stream *st;           /* NULL once the connection closed */
    char job_id[EASEL_UUID_LEN + 1]; /* one job's events, or "" */
    char *owner;                     /* or one owner's ("channel:owner") */
    bool ws;                         /* frames as WebSocket messages */
    int64_t last;                    /* the last seq sent; -1: start from now */
    bool live, in_pool, refetch;
    bool want_fetch;                 /* catch up once the client has read its buffer */
    struct api_ev *held[HELD_MAX];
    int nheld;
};

struct api_stream {
    struct lws *wsi;
    bool ws;
    bool started;           /* SSE: the first fetch answered; headers may go */
    bool headers_sent;      /* SSE */
    bool finish;            /* SSE: close once out is written */
    bool dead;              /* cut off: nothing more is queued */
    bool want_ping;         /* WS */
    int close_code;         /* WS: close with close_reason once out is sent */
    char close_reason[120];
    const struct api_token *tok;
    char *base_url;
    char *cors_origin;      /* SSE: an allowed Origin, answered in the head */
    struct easel_buf out;   /* frames not yet written; freed when empty */
    size_t off;
    int64_t waiting_since;  /* mono ms: the client last took bytes, or data came */
    struct api_sub *subs;
    int nsubs;
    struct easel_buf rx;    /* WS: the message being received */
};

struct api_streams {
    struct easel_api *a;
    pthread_t hub;
    bool hub_on;
    atomic_int stopping;
    atomic_int nsubs;       /* the hub reads no rows while there are none */
    /* What the subscriptions follow ("j:<job>", "o:<owner>", counted): the
     * hub reads only the rows some stream wants. The service thread adds a
     * key before the subscription's first fetch, so a row the hub skipped
     * had committed before that fetch read the history. */
    pthread_mutex_t imu;
    struct interest *interest[INTEREST_BUCKETS];
    pthread_mutex_t mu;     /* guards in and reset */
    struct api_ev *in, **in_tail;
    bool reset;
    struct api_sub *subs;   /* service thread */
};

/* --------------------------------------------------------------- frames */

static const char *event_name(const struct easel_event *e)
{
    if (e->kind && *e->kind)
        return e->kind;
    return e->to_status ? "status" : "logs";
}

/* Appends a WebSocket message behind its 4-byte length, which the writer
 * reads. Takes m. */
static easel_err ws_message(struct easel_buf *b, cJSON *m)
{
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (!text)
        return EASEL_ENOMEM;
    uint32_t n = (uint32_t)strlen(text);
    easel_err rc = easel_buf_append(b, &n, sizeof(n));
    if (!rc)
        rc = easel_buf_append(b, text, n);
    free(text);
    return rc;
}

/* Appends one frame: "id:/event:/data:" for SSE; for a WebSocket the
 * message {"type":"event","event":name,"id":seq,"job_id":...,"data":...}
 * (ws_message). Takes data. */
static easel_err frame(struct easel_buf *b, bool ws, const char *name, int64_t seq,
                       const char *job_id, cJSON *data)
{
    if (!data)
        return EASEL_ENOMEM;
    if (ws) {
        cJSON *m = cJSON_CreateObject();
        if (!m) {
            cJSON_Delete(data);
            return EASEL_ENOMEM;
        }
        cJSON_AddStringToObject(m, "type", "event");
        cJSON_AddStringToObject(m, "event", name);
        if (seq > 0)
            cJSON_AddNumberToObject(m, "id", (double)seq);
        cJSON_AddStringToObject(m, "job_id", job_id);
        cJSON_AddItemToObject(m, "data", data);
        return ws_message(b, m);
    }
    char *text = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!text)
        return EASEL_ENOMEM;
    /* cJSON escapes newlines in strings: the data is one line */
    easel_err rc;
    if (seq > 0)
        rc = easel_buf_printf(b, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, name,
                              text);
    else
        rc = easel_buf_printf(b, "event: %s\ndata: %s\n\n", name, text);
    free(text);
    return rc;
}

static easel_err frame_event(struct easel_buf *b, bool ws, const struct easel_event *e,
                             const char *job_id)
{
    cJSON *d = easel_event_to_json(e);
    if (d)
        cJSON_AddStringToObject(d, "job_id", job_id);
    return frame(b, ws, event_name(e), e->seq, job_id, d);
}


static bool is_terminal_change(const struct easel_event *e)
{
    enum easel_status st;
    return !e->kind && e->to_status && easel_status_parse(e->to_status, &st) == EASEL_OK &&
           easel_status_terminal(st);
}

/* ------------------------------------------------------------ the fetch */

static void fetch_once(struct api_ctx *x, struct api_req *r);

void api_stream_fetch(struct api_ctx *x, struct api_req *r)
{
    /* a read is safe to repeat: after Postgres dropped this thread's
     * connection (a restart, a failover), one more try on a new one */
    fetch_once(x, r);
    if (r->status == 503) {
        if (!r->resp_static)
            free(r->resp);
        r->resp = NULL;
        r->resp_len = 0;
        r->status = 0;
        r->retry_after_s = 0;
        fetch_once(x, r);
    }
}

static void fetch_once(struct api_ctx *x, struct api_req *r)
{
    struct api_sub *sub = r->sub; /* job_id, owner and ws never change */
    struct easel_job *j = NULL;
    struct easel_event *ev = NULL;
    size_t n = 0;
    struct easel_buf b;
    easel_err rc;

    easel_buf_init(&b, 0);
    struct easel_store *s = api_store(x, r);
    if (!s)
        return;
    /* the job's status is read before its events: when it is terminal,
     * every event up to the end is in what the next query returns */
    if (sub->job_id[0] && !(j = api_job_load(x, r, sub->job_id)))
        return;
    if (r->fetch_since < 0) {
        rc = easel_store_events_last(s, sub->owner, &r->fetch_last);
        if (rc) {
            api_store_failed(x, r, rc);
            return;
        }
        r->status = 200;
        return;
    }
    rc = easel_store_events_after(s, sub->job_id[0] ? sub->job_id : NULL,
                                  sub->job_id[0] ? NULL : sub->owner, r->fetch_since, PAGE,
                                  &ev, &n);
    if (rc) {
        easel_job_free(j);
        api_store_failed(x, r, rc);
        return;
    }
    r->fetch_last = r->fetch_since;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = frame_event(&b, sub->ws, &ev[i], ev[i].job_id);
        r->fetch_last = ev[i].seq;
    }
    r->fetch_more = n == PAGE;
    if (!rc && !r->fetch_more && j && easel_status_terminal(j->status)) {
        rc = frame(&b, sub->ws, "done", 0, j->id, easel_api_job_view(r->base_url, j));
        r->fetch_done = true;
    }
    easel_store_events_free(ev, n);
    easel_job_free(j);
    if (rc) {
        easel_buf_cleanup(&b);
        api_error(r, 500, "internal", "out of memory rendering events");
        return;
    }
    if (!r->resp_static)
        free(r->resp);
    r->resp = b.data;
    r->resp_len = b.len;
    r->resp_static = false;
    r->status = 200;
}

/* --------------------------------------------------------- the service */

static void ev_unref(struct api_ev *e)
{
    if (!e || --e->refs > 0)
        return;
    free(e->owner);
    easel_buf_cleanup(&e->sse);
    easel_buf_cleanup(&e->ws);
    free(e);
}

static void drop_held(struct api_sub *sub)
{
    for (int i = 0; i < sub->nheld; i++)
        ev_unref(sub->held[i]);
    sub->nheld = 0;
}

static void stream_kill(struct api_stream *st, int code, const char *why)
{
    if (st->dead)
        return;
    st->dead = true;
    if (st->ws) {
        /* what is queued is whole messages: drop them, say why, close */
        easel_buf_cleanup(&st->out);
        st->off = 0;
        st->close_code = code;
        easel_strlcpy(st->close_reason, why, sizeof(st->close_reason));
        lws_callback_on_writable(st->wsi);
        lws_set_timeout(st->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
    } else {
        lws_set_timeout(st->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    }
}

static size_t unread(const struct api_stream *st)
{
    return st->out.len - st->off;
}

/* Queues bytes for st's client. A live event (live) is refused when the
 * client already has --stream-max-buffer unread: its subscription then
 * catches up from Postgres once the client has read what it has, so a
 * burst costs no memory past the bound and loses nothing. History pages
 * (one page at most, fetched only into an empty buffer) and control
 * messages always go. A client that reads nothing at all is cut off by
 * the stall check (api_stream_timer). */
static bool stream_put(struct easel_api *a, struct api_stream *st, const char *p, size_t n,
                       bool live)
{
    if (st->dead || n == 0)
        return true;
    if (live && (int64_t)(unread(st) + n) > api_opts(a)->stream_max_buffer)
        return false;
    if (unread(st) == 0) {
        easel_buf_reset(&st->out);
        st->off = 0;
        st->waiting_since = easel_now_ms();
    }
    if (easel_buf_append(&st->out, p, n) != EASEL_OK) {
        stream_kill(st, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return true;
    }
    lws_callback_on_writable(st->wsi);
    return true;
}

static void ws_put(struct easel_api *a, struct api_stream *st, cJSON *m)
{
    struct easel_buf b;
    easel_buf_init(&b, 0);
    if (ws_message(&b, m) == EASEL_OK)
        (void)stream_put(a, st, b.data, b.len, false);
    easel_buf_cleanup(&b);
}

static void ws_error(struct easel_api *a, struct api_stream *st, const char *code,
                     const char *key, const char *val, const char *msg)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return;
    cJSON_AddStringToObject(m, "type", "error");
    cJSON_AddStringToObject(m, "code", code);
    if (key && val)
        cJSON_AddStringToObject(m, key, val);
    cJSON_AddStringToObject(m, "message", msg);
    ws_put(a, st, m);
}

static void start_fetch(struct easel_api *a, struct api_sub *sub, struct api_req *reuse);

/* ------------------------------------------------------------- interest */

static unsigned key_hash(char kind, const char *k)
{
    uint32_t h = 2166136261u ^ (unsigned char)kind; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % INTEREST_BUCKETS;
}

static struct interest **interest_find(struct api_streams *ss, char kind, const char *k)
{
    struct interest **pp = &ss->interest[key_hash(kind, k)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->key[0] == kind && !strcmp((*pp)->key + 1, k))
            break;
    return pp;
}

/* Counts one more (delta 1) or one less (-1) subscription to kind:k. */
static bool interest_change(struct api_streams *ss, char kind, const char *k, int delta)
{
    bool ok = true;
    pthread_mutex_lock(&ss->imu);
    struct interest **pp = interest_find(ss, kind, k);
    if (delta > 0 && *pp) {
        (*pp)->count++;
    } else if (delta > 0) {
        size_t n = strlen(k);
        struct interest *i = malloc(sizeof(*i) + n + 2);
        if (i) {
            i->next = NULL;
            i->count = 1;
            i->key[0] = kind;
            memcpy(i->key + 1, k, n + 1);
            *pp = i;
        }
        ok = i != NULL;
    } else if (*pp && --(*pp)->count == 0) {
        struct interest *i = *pp;
        *pp = i->next;
        free(i);
    }
    pthread_mutex_unlock(&ss->imu);
    return ok;
}

static void sub_interest(struct api_streams *ss, const struct api_sub *sub, int delta)
{
    if (sub->job_id[0])
        (void)interest_change(ss, 'j', sub->job_id, delta);
    else
        (void)interest_change(ss, 'o', sub->owner, delta);
}

static void sub_free(struct api_streams *ss, struct api_sub *sub)
{
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        ss->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    atomic_fetch_sub(&ss->nsubs, 1);
    sub_interest(ss, sub, -1);
    drop_held(sub);
    free(sub->owner);
    free(sub);
}

/* Takes sub off its stream; freed now, or when its fetch comes back. */
static void sub_end(struct api_streams *ss, struct api_sub *sub)
{
    struct api_stream *st = sub->st;
    if (st) {
        for (struct api_sub **pp = &st->subs; *pp; pp = &(*pp)->cnext)
            if (*pp == sub) {
                *pp = sub->cnext;
                st->nsubs--;
                break;
            }
        sub->st = NULL;
    }
    if (!sub->in_pool)
        sub_free(ss, sub);
}

static struct api_sub *sub_new(struct easel_api *a, struct api_stream *st, const char *job_id,
                               const char *owner, int64_t since)
{
    struct api_streams *ss = api_server_streams(a);
    struct api_sub *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return NULL;
    if (owner && !(sub->owner = strdup(owner))) {
        free(sub);
        return NULL;
    }
    if (job_id)
        easel_strlcpy(sub->job_id, job_id, sizeof(sub->job_id));
    sub->ws = st->ws;
    sub->last = since;
    sub->st = st;
    sub->cnext = st->subs;
    st->subs = sub;
    st->nsubs++;
    sub->next = ss->subs;
    if (ss->subs)
        ss->subs->prev = sub;
    ss->subs = sub;
    /* counted before its fetch starts: the hub reads every announced row
     * from now on, so nothing committed after the fetch's query is missed */
    atomic_fetch_add(&ss->nsubs, 1);
    sub_interest(ss, sub, 1);
    return sub;
}

static void start_fetch(struct easel_api *a, struct api_sub *sub, struct api_req *reuse)
{
    static const struct api_route fetch_route = {M_GET, "(stream fetch)", SCOPE_READ,
                                                 api_stream_fetch, true};
    struct api_req *r = reuse;
    struct api_stream *st = sub->st;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r || !(r->path = strdup("(stream fetch)")) ||
            !(r->base_url = strdup(st->base_url))) {
            api_req_free(r);
            stream_kill(st, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
            return;
        }
        easel_buf_init(&r->body, 0);
        r->method = M_GET;
        r->route = &fetch_route;
        r->tok = st->tok;
        r->received_ms = easel_now_ms();
    }
    r->sub = sub;
    r->fetch_since = sub->last;
    sub->live = false;
    sub->in_pool = true;
    drop_held(sub);
    sub->refetch = false;
    sub->want_fetch = false;
    api_server_submit(a, r);
}

/* Sends one hub event to sub if it is live and wants it. */
static void sub_deliver(struct easel_api *a, struct api_sub *sub, struct api_ev *e)
{
    struct api_stream *st = sub->st;
    if (!sub->live) {
        if (sub->nheld < HELD_MAX) {
            e->refs++;
            sub->held[sub->nheld++] = e;
        } else {
            sub->refetch = true; /* it is all in Postgres: read it from there */
        }
        return;
    }
    if (e->seq <= sub->last)
        return;
    const struct easel_buf *f = sub->ws ? &e->ws : &e->sse;
    if (!stream_put(a, st, f->data, f->len, true)) {
        /* the client is behind: it reads on from Postgres when it can */
        sub->live = false;
        sub->want_fetch = true;
        return;
    }
    sub->last = e->seq;
    /* the job ended: one more fetch reads the job for the done frame */
    if (e->terminal && sub->job_id[0])
        start_fetch(a, sub, NULL);
}

void api_stream_fetched(struct easel_api *a, struct api_req *r)
{
    struct api_streams *ss = api_server_streams(a);
    struct api_sub *sub = r->sub;
    struct api_stream *st = sub->st;
    sub->in_pool = false;
    r->sub = NULL;
    if (!st) {
        sub_free(ss, sub);
        api_req_free(r);
        return;
    }
    if (r->status != 200) {
        if (!st->ws && !st->headers_sent) {
            /* nothing sent yet: answer as any request (404, 503) */
            struct lws *wsi = st->wsi;
            struct api_conn *c = lws_wsi_user(wsi);
            api_stream_closed(a, c);
            lws_set_timer_usecs(wsi, -1);
            c->req = r;
            r->conn = wsi;
            lws_callback_on_writable(wsi);
            return;
        }
        cJSON *e = r->resp ? cJSON_Parse(r->resp) : NULL;
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(e, "error");
        const char *code = easel_json_str(err, "code"), *msg = easel_json_str(err, "message");
        if (st->ws) {
            ws_error(a, st, code ? code : "internal", sub->job_id[0] ? "job_id" : "owner",
                     sub->job_id[0] ? sub->job_id : sub->owner, msg ? msg : "fetch failed");
            sub_end(ss, sub);
        } else {
            easel_info(NULL, "events: a stream's catch-up failed (%s); closing it so the "
                             "client resumes", msg ? msg : "?");
            stream_kill(st, LWS_CLOSE_STATUS_GOINGAWAY, "events unavailable");
        }
        cJSON_Delete(e);
        api_req_free(r);
        return;
    }
    if (!st->ws && !st->started) {
        /* the answer is a stream from here: tell EventSource how soon to
         * come back after a cut */
        st->started = true;
        (void)stream_put(a, st, "retry: 1000\n\n", 13, false);
    }
    (void)stream_put(a, st, r->resp, r->resp_len, false);
    if (r->fetch_last > sub->last)
        sub->last = r->fetch_last;
    if (r->fetch_done) {
        if (st->ws)
            sub_end(ss, sub);
        else
            st->finish = true;
        api_req_free(r);
        return;
    }
    if (r->fetch_more || sub->refetch) {
        /* the next page when this one is read: memory stays one page */
        if (unread(st) == 0)
            start_fetch(a, sub, NULL);
        else
            sub->want_fetch = true;
        api_req_free(r);
        return;
    }
    api_req_free(r);
    sub->live = true;
    int n = sub->nheld;
    struct api_ev *held[HELD_MAX];
    memcpy(held, sub->held, (size_t)n * sizeof(held[0]));
    sub->nheld = 0;
    for (int i = 0; i < n; i++) {
        if (sub->live)
            sub_deliver(a, sub, held[i]);
        ev_unref(held[i]);
    }
}

void api_streams_drain(struct easel_api *a)
{
    struct api_streams *ss = api_server_streams(a);
    if (!ss)
        return;
    pthread_mutex_lock(&ss->mu);
    struct api_ev *list = ss->in;
    bool reset = ss->reset;
    ss->in = NULL;
    ss->in_tail = &ss->in;
    ss->reset = false;
    pthread_mutex_unlock(&ss->mu);
    if (reset) {
        /* the hub lost its connection, and notifications with it: every
         * subscription catches up from where it is */
        for (struct api_sub *sub = ss->subs; sub; sub = sub->next) {
            if (!sub->st)
                continue;
            if (sub->in_pool)
                sub->refetch = true;
            else
                start_fetch(a, sub, NULL);
        }
    }
    while (list) {
        struct api_ev *e = list;
        list = e->next;
        for (struct api_sub *sub = ss->subs, *next; sub; sub = next) {
            next = sub->next;
            if (!sub->st || sub->st->dead)
                continue;
            bool want = sub->job_id[0] ? strcmp(sub->job_id, e->job_id) == 0
                                       : e->owner && strcmp(sub->owner, e->owner) == 0;
            if (want)
                sub_deliver(a, sub, e);
        }
        ev_unref(e);
    }
}

/* A new stream on wsi. */
static struct api_stream *stream_new(struct lws *wsi, bool ws, const struct api_token *tok,
                                     const char *base_url)
{
    struct api_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->wsi = wsi;
    st->ws = ws;
    st->tok = tok;
    st->base_url = strdup(base_url ? base_url : "http://localhost");
    easel_buf_init(&st->out, 0);
    easel_buf_init(&st->rx, WS_MAX_MSG);
    if (!st->base_url) {
        free(st);
        return NULL;
    }
    return st;
}

void api_stream_closed(struct easel_api *a, struct api_conn *c)
{
    struct api_stream *st = c ? c->st : NULL;
    if (!st)
        return;
    struct api_streams *ss = api_server_streams(a);
    while (st->subs)
        sub_end(ss, st->subs);
    easel_buf_cleanup(&st->out);
    easel_buf_cleanup(&st->rx);
    free(st->base_url);
    free(st->cors_origin);
    free(st);
    c->st = NULL;
}

/* A position from Last-Event-ID or ?since=: false when it is not one. */
static bool parse_since(const char *v, int64_t *out)
{
    return v && easel_parse_i64(v, 0, INT64_MAX, out) == EASEL_OK;
}

/* The owner key "channel:owner" of an owner-confined token. */
static void token_owner(const struct api_token *t, char *dst, size_t n)
{
    (void)easel_owner_key(t->channel, t->owner, dst, n);
}

void api_stream_open(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    struct api_req *r = c->req;
    const char *job = r->nparams ? r->params[0] : NULL;
    char owner[API_OWNER_MAX + 1] = "";
    int64_t since = job ? 0 : -1;

    const char *pos = r->last_event_id ? r->last_event_id : api_arg(r, "since");
    if (pos && *pos && !parse_since(pos, &since)) {
        api_error(r, 400, "invalid_argument",
                  "%s \"%s\" is not an event id (a whole number from an earlier event)",
                  r->last_event_id ? "Last-Event-ID" : "since", pos);
        lws_callback_on_writable(wsi);
        return;
    }
    if (!job) {
        const char *o = api_arg(r, "owner"), *ch = api_arg(r, "channel");
        if (o && *o && strchr(o, ':'))
            easel_strlcpy(owner, o, sizeof(owner));
        else if (o && *o)
            (void)easel_owner_key(ch, o, owner, sizeof(owner));
        if (r->tok && r->tok->owner) {
            char mine[API_OWNER_MAX + 1];
            token_owner(r->tok, mine, sizeof(mine));
            if (!owner[0]) {
                easel_strlcpy(owner, mine, sizeof(owner));
            } else if (strcmp(owner, mine)) {
                api_error(r, 403, "forbidden", "token \"%s\" may only follow owner %s",
                          r->tok->name, mine);
                lws_callback_on_writable(wsi);
                return;
            }
        }
        if (!owner[0]) {
            api_error(r, 400, "invalid_argument",
                      "owner is required: /v1/events?owner=CHANNEL:OWNER");
            lws_callback_on_writable(wsi);
            return;
        }
    }
    struct api_stream *st = stream_new(wsi, false, r->tok, r->base_url);
    struct api_sub *sub = st ? sub_new(a, st, job, job ? NULL : owner, since) : NULL;
    if (!sub) {
        c->st = st;
        api_stream_closed(a, c);
        api_error(r, 500, "internal", "out of memory");
        lws_callback_on_writable(wsi);
        return;
    }
    c->st = st;
    c->req = NULL;
    r->conn = wsi;
    st->cors_origin = r->cors_origin;
    r->cors_origin = NULL;
    int64_t hb = api_opts(a)->stream_heartbeat_ms;
    lws_set_timer_usecs(wsi, (lws_usec_t)hb * 1000);
    start_fetch(a, sub, r);
}

/* --------------------------------------------------------------- writing */

static int sse_head(struct lws *wsi, const char *origin)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
                  *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream",
                                    LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        /* proxies that buffer responses (nginx) pass this one through */
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-accel-buffering:",
                                    (const unsigned char *)"no", 2, &p, end) ||
        api_cors_headers(wsi, origin, &p, end))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

int api_stream_writable(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    struct api_stream *st = c->st;
    enum { CHUNK = 16384 };
    static __thread unsigned char chunk[LWS_PRE + CHUNK];

    if (!st->ws && !st->started)
        return 0;
    if (!st->ws && !st->headers_sent) {
        if (sse_head(wsi, st->cors_origin))
            return -1;
        st->headers_sent = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (st->ws && st->want_ping && !st->close_code) {
        st->want_ping = false;
        if (lws_write(wsi, chunk + LWS_PRE, 0, LWS_WRITE_PING) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (st->off < st->out.len) {
        if (st->ws) {
            uint32_t n;
            memcpy(&n, st->out.data + st->off, sizeof(n));
            unsigned char *m = n <= CHUNK ? chunk : malloc(LWS_PRE + (size_t)n);
            if (!m)
                return -1;
            memcpy(m + LWS_PRE, st->out.data + st->off + sizeof(n), n);
            int w = lws_write(wsi, m + LWS_PRE, n, LWS_WRITE_TEXT);
            if (m != chunk)
                free(m);
            if (w < (int)n)
                return -1;
            st->off += sizeof(n) + n;
        } else {
            size_t n = st->out.len - st->off;
            if (n > CHUNK)
                n = CHUNK;
            memcpy(chunk + LWS_PRE, st->out.data + st->off, n);
            if (lws_write(wsi, chunk + LWS_PRE, n, LWS_WRITE_HTTP) != (int)n)
                return -1;
            st->off += n;
        }
    }
    st->waiting_since = easel_now_ms();
    if (st->off < st->out.len) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    /* all written: an idle stream holds no buffer */
    easel_buf_cleanup(&st->out);
    st->off = 0;
    for (struct api_sub *sub = st->subs; sub && !st->dead; sub = sub->cnext)
        if (sub->want_fetch && !sub->in_pool)
            start_fetch(a, sub, NULL);
    if (st->ws && st->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)st->close_code,
                         (unsigned char *)st->close_reason, strlen(st->close_reason));
        return -1;
    }
    if (!st->ws && st->finish)
        return -1; /* the response ends with the connection */
    return 0;
}

int api_stream_timer(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    struct api_stream *st = c ? c->st : NULL;
    if (!st)
        return 0;
    int64_t stalled = easel_now_ms() - st->waiting_since;
    if (unread(st) > 0 && !st->dead && stalled >= api_opts(a)->stream_stall_ms) {
        char why[120];
        (void)easel_snprintf(why, sizeof(why),
                             "slow consumer: %zu bytes unread for %lld s; resume from the "
                             "last id",
                             unread(st), (long long)(stalled / 1000));
        easel_info(NULL, "events: %s", why);
        stream_kill(st, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
    }
    if (st->ws) {
        st->want_ping = true;
        lws_callback_on_writable(wsi);
    } else if (st->headers_sent && st->off == st->out.len) {
        /* a comment: EventSource ignores it, proxies see traffic */
        (void)stream_put(a, st, ": keep-alive\n\n", 14, false);
    }
    lws_set_timer_usecs(wsi, (lws_usec_t)api_opts(a)->stream_heartbeat_ms * 1000);
    return 0;
}

/* ------------------------------------------------------------ WebSocket */

void api_ws_plain(struct api_ctx *x, struct api_req *r)
{
    (void)x;
    api_error(r, 426, "upgrade_required",
              "GET /v1/ws is a WebSocket: send Connection: Upgrade and Upgrade: websocket");
}

int api_ws_filter(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/v1/ws"))
        return 1;
    if (!c)
        return 1;
    const struct api_token *tok = NULL;
    char auth[600];
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        tok = api_server_token(a, auth);
    } else {
        char q[600];
        /* browsers cannot set headers on a WebSocket: ?access_token= */
        for (int i = 0; lws_hdr_copy_fragment(wsi, q, sizeof(q), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
             i++) {
            if (!strncmp(q, "access_token=", 13)) {
                (void)easel_snprintf(auth, sizeof(auth), "Bearer %s", q + 13);
                tok = api_server_token(a, auth);
                explicit_bzero(q, sizeof(q));
                break;
            }
        }
    }
    explicit_bzero(auth, sizeof(auth));
    if (!api_server_open(a)) {
        if (!tok)
            return 1;
        if (!(tok->scopes & (SCOPE_READ | SCOPE_ADMIN)))
            return 1;
    }
    c->ws_tok = tok;
    return 0;
}

int api_ws_established(struct easel_api *a, struct lws *wsi, struct api_conn *c)
{
    char host[200], base[220];
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
        easel_strlcpy(host, "localhost", sizeof(host));
    (void)easel_snprintf(base, sizeof(base), "http://%s", host);
    c->st = stream_new(wsi, true, c->ws_tok, base);
    if (!c->st)
        return -1;
    lws_set_timer_usecs(wsi, (lws_usec_t)api_opts(a)->stream_heartbeat_ms * 1000);
    return 0;
}

static struct api_sub *find_sub(struct api_stream *st, const struct api_ws_key *k)
{
    for (struct api_sub *s = st->subs; s; s = s->cnext)
        if (k->job_id[0] ? !strcmp(s->job_id, k->job_id)
                         : (s->owner && !strcmp(s->owner, k->owner)))
            return s;
    return NULL;
}

static void ws_subscribe(struct easel_api *a, struct api_stream *st,
                         const struct api_ws_cmd *cmd)
{
    struct api_streams *ss = api_server_streams(a);
    bool on = cmd->op == API_WS_SUBSCRIBE;
    int adding = 0;
    for (int i = 0; on && i < cmd->nkeys; i++)
        adding += find_sub(st, &cmd->keys[i]) == NULL;
    if (st->nsubs + adding > API_WS_MAX_SUBS) {
        ws_error(a, st, "too_many_subscriptions", NULL, NULL,
                 "at most 100 subscriptions per connection");
        return;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON *jobs = cJSON_AddArrayToObject(m, "jobs"), *owners = cJSON_AddArrayToObject(m, "owners");
    for (int i = 0; i < cmd->nkeys; i++) {
        const struct api_ws_key *k = &cmd->keys[i];
        struct api_sub *sub = find_sub(st, k);
        cJSON_AddItemToArray(k->job_id[0] ? jobs : owners,
                             cJSON_CreateString(k->job_id[0] ? k->job_id : k->owner));
        if (!on) {
            if (sub)
                sub_end(ss, sub);
            continue;
        }
        if (sub)
            continue; /* already followed from where it is */
        sub = sub_new(a, st, k->job_id[0] ? k->job_id : NULL, k->job_id[0] ? NULL : k->owner,
                      k->since);
        if (!sub) {
            cJSON_Delete(m);
            stream_kill(st, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
            return;
        }
        start_fetch(a, sub, NULL);
    }
    cJSON_AddStringToObject(m, "type", on ? "subscribed" : "unsubscribed");
    ws_put(a, st, m);
}

int api_ws_receive(struct easel_api *a, struct lws *wsi, struct api_conn *c, const void *in,
                   size_t len)
{
    struct api_stream *st = c ? c->st : NULL;
    if (!st || st->dead)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        stream_kill(st, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "messages are JSON text");
        return 0;
    }
    if (easel_buf_append(&st->rx, in, len) != EASEL_OK) {
        stream_kill(st, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "a message is at most 64 KiB");
        return 0;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    char mine[API_OWNER_MAX + 1] = "";
    if (st->tok && st->tok->owner)
        token_owner(st->tok, mine, sizeof(mine));
    struct api_ws_cmd cmd;
    (void)api_ws_parse(st->rx.data, st->rx.len, mine[0] ? mine : NULL, &cmd);
    easel_buf_reset(&st->rx);
    switch (cmd.op) {
    case API_WS_SUBSCRIBE:
    case API_WS_UNSUBSCRIBE:
        ws_subscribe(a, st, &cmd);
        break;
    case API_WS_PING: {
        cJSON *p = cJSON_CreateObject();
        if (p) {
            cJSON_AddStringToObject(p, "type", "pong");
            if (cmd.ping) {
                cJSON_AddItemToObject(p, "data", cmd.ping);
                cmd.ping = NULL;
            }
            ws_put(a, st, p);
        }
        break;
    }
    case API_WS_BAD:
        ws_error(a, st, cmd.code, cmd.key, cmd.val, cmd.message);
        break;
    }
    api_ws_cmd_cleanup(&cmd);
    return 0;
}

/* ------------------------------------------------------------------ hub */

static void hub_post(struct api_streams *ss, struct api_ev *list, bool reset)
{
    pthread_mutex_lock(&ss->mu);
    for (struct api_ev *e = list, *next; e; e = next) {
        next = e->next;
        e->next = NULL;
        *ss->in_tail = e;
        ss->in_tail = &e->next;
    }
    if (reset)
        ss->reset = true;
    pthread_mutex_unlock(&ss->mu);
    lws_cancel_service(api_server_context(ss->a));
}

/* Renders the events of seqs into a list for the service thread. */
static easel_err hub_read(struct easel_store *s, const int64_t *seqs, size_t n,
                          struct api_ev **out)
{
    struct easel_event *ev = NULL;
    size_t nev = 0;
    struct api_ev *head = NULL, **tail = &head;
    easel_err rc = easel_store_events_by_seq(s, seqs, n, &ev, &nev);
    for (size_t i = 0; !rc && i < nev; i++) {
        struct api_ev *e = calloc(1, sizeof(*e));
        if (!e) {
            rc = EASEL_ENOMEM;
            break;
        }
        *tail = e;
        tail = &e->next;
        e->refs = 1;
        e->seq = ev[i].seq;
        memcpy(e->job_id, ev[i].job_id, sizeof(e->job_id));
        e->owner = ev[i].owner;
        ev[i].owner = NULL;
        e->terminal = is_terminal_change(&ev[i]);
        easel_buf_init(&e->sse, 0);
        easel_buf_init(&e->ws, 0);
        if ((rc = frame_event(&e->sse, false, &ev[i], e->job_id)) ||
            (rc = frame_event(&e->ws, true, &ev[i], e->job_id)))
            break;
    }
    easel_store_events_free(ev, nev);
    if (rc) {
        while (head) {
            struct api_ev *next = head->next;
            ev_unref(head);
            head = next;
        }
    }
    *out = head;
    return rc;
}

static void *hub_main(void *arg)
{
    struct api_streams *ss = arg;
    const struct easel_api_opts *o = api_opts(ss->a);
    struct easel_store *s = NULL;
    bool connected_before = false;
    int64_t *seqs = malloc(HUB_BATCH * sizeof(*seqs));
    if (!seqs)
        return NULL;
    while (!atomic_load(&ss->stopping)) {
        if (!s) {
            struct easel_error err;
            easel_error_clear(&err);
            if (easel_store_open(o->database_url, &s, &err) != EASEL_OK ||
                easel_store_listen_events(s) != EASEL_OK) {
                easel_store_free(s);
                s = NULL;
                for (int i = 0; i < 5 && !atomic_load(&ss->stopping); i++)
                    easel_sleep_ms(100);
                continue;
            }
            /* what was announced while we were away is only in Postgres */
            if (connected_before) {
                easel_info(NULL, "events: listening again; streams catch up from Postgres");
                hub_post(ss, NULL, true);
            }
            connected_before = true;
        }
        struct pollfd pfd = {.fd = easel_store_socket(s), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 200) < 0) {
            easel_store_free(s);
            s = NULL;
            continue;
        }
        size_t n;
        bool failed = false;
        do {
            bool got = true;
            size_t want = 0;
            n = 0;
            /* the interest is read after each notification: a subscription
             * added later started its fetch after that row committed */
            while (n < HUB_BATCH) {
                char id[EASEL_UUID_LEN + 1], owner[API_OWNER_MAX + 1];
                int64_t seq;
                if (easel_store_event_notification(s, &got, id, &seq, owner,
                                                   sizeof(owner)) != EASEL_OK) {
                    failed = true;
                    break;
                }
                if (!got)
                    break;
                n++;
                if (atomic_load(&ss->nsubs) == 0)
                    continue;
                pthread_mutex_lock(&ss->imu);
                bool wanted = *interest_find(ss, 'j', id) ||
                              (owner[0] && *interest_find(ss, 'o', owner));
                pthread_mutex_unlock(&ss->imu);
                if (wanted)
                    seqs[want++] = seq;
            }
            if (!failed && want) {
                struct api_ev *list = NULL;
                easel_err rc = hub_read(s, seqs, want, &list);
                if (rc == EASEL_OK)
                    hub_post(ss, list, false);
                else
                    failed = true;
            }
        } while (!failed && n == HUB_BATCH);
        if (failed) {
            easel_warn(NULL, "events: lost the Postgres connection (%s); reconnecting",
                       easel_store_errstr(s));
            easel_store_free(s);
            s = NULL;
        }
    }
    easel_store_free(s);
    free(seqs);
    return NULL;
}

easel_err api_streams_start(struct easel_api *a, struct api_streams **out)
{
    struct api_streams *ss = calloc(1, sizeof(*ss));
    *out = NULL;
    if (!ss)
        return EASEL_ENOMEM;
    ss->a = a;
    ss->in_tail = &ss->in;
    pthread_mutex_init(&ss->mu, NULL);
    pthread_mutex_init(&ss->imu, NULL);
    if (api_opts(a)->database_url && *api_opts(a)->database_url) {
        if (pthread_create(&ss->hub, NULL, hub_main, ss)) {
            pthread_mutex_destroy(&ss->mu);
            pthread_mutex_destroy(&ss->imu);
            free(ss);
            return EASEL_ENOMEM;
        }
        ss->hub_on = true;
    }
    *out = ss;
    return EASEL_OK;
}

void api_streams_stop(struct api_streams *ss)
{
    if (!ss || !ss->hub_on)
        return;
    atomic_store(&ss->stopping, 1);
    pthread_join(ss->hub, NULL);
    ss->hub_on = false;
}

void api_streams_free(struct api_streams *ss)
{
    if (!ss)
        return;
    api_streams_stop(ss);
    while (ss->subs)
        sub_free(ss, ss->subs);
    for (struct api_ev *e = ss->in, *next; e; e = next) {
        next = e->next;
        ev_unref(e);
    }
    for (size_t i = 0; i < INTEREST_BUCKETS; i++)
        while (ss->interest[i]) {
            struct interest *n = ss->interest[i]->next;
            free(ss->interest[i]);
            ss->interest[i] = n;
        }
    pthread_mutex_destroy(&ss->mu);
    pthread_mutex_destroy(&ss->imu);
    free(ss);
}
