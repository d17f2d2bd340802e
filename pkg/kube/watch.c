/*
 * watch.c - list-then-watch, kept alive.
 *
 * One thread per watch: it lists, then watches from the list's
 * resourceVersion with bookmarks, and keeps the resourceVersion of the last
 * event or bookmark so that a dropped stream resumes where it stopped. A 410
 * Gone (the server compacted its history, or restarted) means events were
 * missed: the thread lists again and reports the difference against what it
 * had seen, objects that disappeared included. Failures back off
 * exponentially with full jitter. Events go to a queue that the owner drains
 * from its own loop, woken through an eventfd.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kube_int.h"
#include "easel/telemetry.h"

#define MAX_LINE (64u * 1024 * 1024)

/* -------------------------------------------- the view: key -> last stub */

struct slot {
    char *key;             /* "ns/name"; NULL = empty; TOMB = deleted */
    char *rv;
    cJSON *stub;           /* metadata only, for DELETED of vanished objects */
};
static char tomb_mark;
#define TOMB (&tomb_mark)

struct view {
    struct slot *s;
    size_t cap, n, used;   /* used counts tombstones too */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static struct slot *view_find(struct view *v, const char *key)
{
    if (!v->cap)
        return NULL;
    for (size_t i = hash(key) & (v->cap - 1), k = 0; k < v->cap;
         i = (i + 1) & (v->cap - 1), k++) {
        if (!v->s[i].key)
            return NULL;
        if (v->s[i].key != TOMB && !strcmp(v->s[i].key, key))
            return &v->s[i];
    }
    return NULL;
}

static void slot_clear(struct slot *s)
{
    if (s->key && s->key != TOMB)
        free(s->key);
    free(s->rv);
    cJSON_Delete(s->stub);
    s->rv = NULL;
    s->stub = NULL;
}

static easel_err view_grow(struct view *v)
{
    size_t ncap = v->cap ? v->cap * 2 : 64;
    while (v->n * 2 >= ncap)
        ncap *= 2;
    struct slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return EASEL_ENOMEM;
    for (size_t i = 0; i < v->cap; i++) {
        struct slot *o = &v->s[i];
        if (!o->key || o->key == TOMB)
            continue;
        size_t j = hash(o->key) & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *o;
    }
    free(v->s);
    v->s = ns;
    v->cap = ncap;
    v->used = v->n;
    return EASEL_OK;
}

/* Inserts or replaces; takes ownership of rv and stub. */
static easel_err view_put(struct view *v, const char *key, char *rv, cJSON *stub)
{
    struct slot *s = view_find(v, key);
    if (s) {
        free(s->rv);
        cJSON_Delete(s->stub);
        s->rv = rv;
        s->stub = stub;
        return EASEL_OK;
    }
    if ((v->used + 1) * 4 >= v->cap * 3 && view_grow(v)) {
        free(rv);
        cJSON_Delete(stub);
        return EASEL_ENOMEM;
    }
    size_t i = hash(key) & (v->cap - 1);
    while (v->s[i].key && v->s[i].key != TOMB)
        i = (i + 1) & (v->cap - 1);
    if (!v->s[i].key)
        v->used++;
    v->s[i].key = strdup(key);
    v->s[i].rv = rv;
    v->s[i].stub = stub;
    v->n++;
    return v->s[i].key ? EASEL_OK : EASEL_ENOMEM;
}

static void view_del(struct view *v, const char *key)
{
    struct slot *s = view_find(v, key);
    if (!s)
        return;
    slot_clear(s);
    s->key = TOMB;
    v->n--;
}

static void view_free(struct view *v)
{
    for (size_t i = 0; i < v->cap; i++)
        slot_clear(&v->s[i]);
    free(v->s);
    memset(v, 0, sizeof(*v));
}

/* ------------------------------------------------------------------ state */

struct qev {
    enum easel_kube_ev type;
    cJSON *obj;
};

struct easel_kube_watch {
    struct easel_kube_config *cfg;
    const struct easel_kube_res *res;
    char *ns, *labels, *fields;
    int timeout_s;
    int64_t backoff_initial, backoff_max;
    struct kube_auth auth;

    pthread_t thread;
    bool started;
    atomic_bool stop;
    int efd;

    pthread_mutex_t mu;    /* queue, stats, synced, and the stop wait */
    pthread_cond_t cv;
    struct qev *q;
    size_t qhead, qlen, qcap;
    bool synced;
    struct easel_kube_watch_stats stats;

    /* thread-owned */
    CURL *h;
    struct view view;
    char *rv;
    bool need_list;
};

static void push(struct easel_kube_watch *w, enum easel_kube_ev type, cJSON *obj)
{
    pthread_mutex_lock(&w->mu);
    if (w->qhead + w->qlen == w->qcap) {
        if (w->qhead > 0) {
            memmove(w->q, w->q + w->qhead, w->qlen * sizeof(*w->q));
            w->qhead = 0;
        } else {
            size_t ncap = w->qcap ? w->qcap * 2 : 64;
            struct qev *nq = realloc(w->q, ncap * sizeof(*nq));
            if (!nq) {
                pthread_mutex_unlock(&w->mu);
                easel_error_log(NULL, "watch %s: out of memory, event dropped; relisting",
                                w->res->resource);
                cJSON_Delete(obj);
                w->need_list = true;
                return;
            }
            w->q = nq;
            w->qcap = ncap;
        }
    }
    w->q[w->qhead + w->qlen++] = (struct qev){type, obj};
    w->stats.events++;
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    ssize_t r = write(w->efd, &one, sizeof(one));
    (void)r;
}

/* Sleeps up to ms unless stopped; returns false when stopping. */
bool kube_nap(pthread_mutex_t *mu, pthread_cond_t *cv, atomic_bool *stop, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(mu);
    while (!atomic_load(stop) && pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(mu);
    return !atomic_load(stop);
}

static const char *meta(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The view's key of an object, "namespace/name". Kubernetes' names keep it
 * far below the callers' 512 bytes; EASEL_ELIMIT when a server sends longer
 * ones, since a cut key could name another object. */
static easel_err key_of(const cJSON *o, char *dst, size_t len)
{
    const char *ns = meta(o, "namespace"), *name = meta(o, "name");
    return easel_snprintf(dst, len, "%s/%s", ns ? ns : "", name ? name : "");
}

/* What a DELETED event for a vanished object carries: its identity. */
static cJSON *stub_of(const cJSON *o)
{
    cJSON *s = cJSON_CreateObject();
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    cJSON *sm = cJSON_AddObjectToObject(s, "metadata");
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion",
                                       "labels", "annotations"};
    for (size_t i = 0; sm && i < sizeof(keep) / sizeof(keep[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keep[i]);
        if (v)
            cJSON_AddItemToObject(sm, keep[i], cJSON_Duplicate(v, true));
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(o, "apiVersion");
    if (cJSON_IsString(kind))
        cJSON_AddStringToObject(s, "kind", kind->valuestring);
    if (cJSON_IsString(av))
        cJSON_AddStringToObject(s, "apiVersion", av->valuestring);
    return s;
}

static void set_rv(struct easel_kube_watch *w, const char *rv)
{
    if (!rv || !*rv)
        return;
    char *d = strdup(rv);
    if (d) {
        free(w->rv);
        w->rv = d;
    }
}

/* ------------------------------------------------------------------ HTTP */

struct stream {
    struct easel_kube_watch *w;
    struct easel_buf line;
    bool expired, failed;
    char errmsg[200];
};

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    struct easel_kube_watch *w = ud;
    return atomic_load(&w->stop) ? 1 : 0;
}

static void handle_event(struct stream *st, const char *p, size_t n)
{
    struct easel_kube_watch *w = st->w;
    cJSON *ev = cJSON_ParseWithLength(p, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    cJSON *obj = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
    if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        easel_fmt_cut(st->errmsg, sizeof(st->errmsg), "malformed watch event");
        st->failed = true;
        cJSON_Delete(obj);
        cJSON_Delete(ev);
        return;
    }
    const char *t = type->valuestring;
    if (!strcmp(t, "BOOKMARK")) {
        set_rv(w, meta(obj, "resourceVersion"));
        pthread_mutex_lock(&w->mu);
        w->stats.bookmarks++;
        pthread_mutex_unlock(&w->mu);
        cJSON_Delete(obj);
    } else if (!strcmp(t, "ERROR")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
        if (cJSON_IsNumber(code) && code->valueint == 410)
            st->expired = true;
        else
            st->failed = true;
        /* for a person: a long message is cut with "..." */
        easel_fmt_cut(st->errmsg, sizeof(st->errmsg), "%s",
                      cJSON_IsString(msg) ? msg->valuestring : "watch error");
        cJSON_Delete(obj);
    } else {
        char key[512];
        if (key_of(obj, key, sizeof(key))) {
            easel_fmt_cut(st->errmsg, sizeof(st->errmsg),
                          "malformed watch event: a namespace and name of over %zu bytes",
                          sizeof(key) - 1);
            st->failed = true;
            cJSON_Delete(obj);
            cJSON_Delete(ev);
            return;
        }
        set_rv(w, meta(obj, "resourceVersion"));
        enum easel_kube_ev et;
        if (!strcmp(t, "DELETED")) {
            et = EASEL_KUBE_DELETED;
            view_del(&w->view, key);
        } else {
            et = view_find(&w->view, key) ? EASEL_KUBE_MODIFIED : EASEL_KUBE_ADDED;
            const char *rv = meta(obj, "resourceVersion");
            view_put(&w->view, key, rv ? strdup(rv) : NULL, stub_of(obj));
        }
        push(w, et, obj);
    }
    cJSON_Delete(ev);
}

static size_t on_stream(char *p, size_t sz, size_t n, void *ud)
{
    struct stream *st = ud;
    size_t len = sz * n;
    if (easel_buf_append(&st->line, p, len) != EASEL_OK)
        return 0;
    /* hand over every complete line */
    for (;;) {
        char *nl = st->line.data ? memchr(st->line.data, '\n', st->line.len) : NULL;
        if (!nl)
            break;
        size_t l = (size_t)(nl - st->line.data);
        if (l > 0)
            handle_event(st, st->line.data, l);
        memmove(st->line.data, nl + 1, st->line.len - l - 1);
        st->line.len -= l + 1;
        if (st->expired || st->failed)
            return 0; /* stop reading this stream */
    }
    return len;
}

/* One GET on the watch's own handle: the body goes to write(data), the
 * counter is bumped under the lock, and the transport result, HTTP status
 * and curl's message come back. */
static CURLcode perform(struct easel_kube_watch *w, const char *url,
                        curl_write_callback write, void *data, long timeout_ms,
                        uint64_t *counter, long *status,
                        char errbuf[CURL_ERROR_SIZE])
{
    CURL *h = w->h;
    curl_easy_reset(h);
    kube_tls_setup(h, w->cfg);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    char *auth = kube_auth_header(&w->auth);
    if (auth) {
        hdrs = curl_slist_append(hdrs, auth);
        free(auth);
    }
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "easel/" EASEL_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, data);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    pthread_mutex_lock(&w->mu);
    (*counter)++;
    pthread_mutex_unlock(&w->mu);
    CURLcode cr = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    char scode[16];
    (void)easel_snprintf(scode, sizeof(scode), "%ld", cr == CURLE_OK ? *status : 0L);
    easel_metric_add(EASEL_M_KUBE_REQUESTS,
                     (const char *const[]){counter == &w->stats.lists ? "list" : "watch", scode},
                     1);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    return cr;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return easel_buf_append(ud, p, sz * n) == EASEL_OK ? sz * n : 0;
}

/* Lists, then reports the difference against the view. */
static easel_err do_list(struct easel_kube_watch *w, struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(w->res, w->ns, NULL, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_NAMESPACE,
                               "the path to list %s in %.60s is too long", w->res->kind,
                               w->ns ? w->ns : "");
    const char *q[] = {"labelSelector", w->labels, "fieldSelector", w->fields, NULL, NULL};
    char *url = NULL;
    if (kube_url(w->cfg, path, q, &url))
        return EASEL_ENOMEM;
    struct easel_buf body;
    easel_buf_init(&body, 512u * 1024 * 1024);
    char errbuf[CURL_ERROR_SIZE];
    long status;
    CURLcode cr = perform(w, url, on_body, &body, 60000L, &w->stats.lists, &status, errbuf);
    char what[600]; /* for a person: cut with "..." */
    easel_fmt_cut(what, sizeof(what), "list %s", path);
    easel_err rc;
    if (cr != CURLE_OK)
        rc = kube_transport_error(cr, errbuf, what, err);
    else if (status != 200)
        rc = kube_status_error(status, body.data, body.len, what, err);
    else
        rc = kube_watch_list_body(w, body.data, body.len, what, err);
    easel_buf_cleanup(&body);
    free(url);
    return rc;
}

easel_err kube_watch_list_body(struct easel_kube_watch *w, const char *body, size_t len,
                               const char *what, struct easel_error *err)
{
    cJSON *list = cJSON_ParseWithLength(body, len);
    if (!list)
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE, EASEL_R_K8S_BAD_RESPONSE,
                               "%s: the response is not JSON", what);

    /* The list's items carry no kind; fill it in so consumers see the same
     * objects as from the watch. */
    char av[128]; /* from the resource table: one that does not fit is a bug here */
    if (w->res->group[0] ? easel_snprintf(av, sizeof(av), "%s/%s", w->res->group,
                                          w->res->version)
                         : easel_snprintf(av, sizeof(av), "%s", w->res->version)) {
        cJSON_Delete(list);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "%s: the apiVersion of %s is too long", what, w->res->kind);
    }
    cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    cJSON *it;
    /* every key first, before anything is reported: a list that cannot be
     * keyed is refused whole rather than half applied */
    cJSON_ArrayForEach(it, items)
    {
        char key[512];
        if (key_of(it, key, sizeof(key))) {
            cJSON_Delete(list);
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_RETRYABLE,
                                   EASEL_R_K8S_BAD_RESPONSE,
                                   "%s: an item's namespace and name are over %zu bytes", what,
                                   sizeof(key) - 1);
        }
    }
    struct view fresh = {0};
    cJSON_ArrayForEach(it, items)
    {
        char key[512];
        (void)key_of(it, key, sizeof(key)); /* cannot fail: checked just above */
        const char *rv = meta(it, "resourceVersion");
        if (!cJSON_GetObjectItemCaseSensitive(it, "kind"))
            cJSON_AddStringToObject(it, "kind", w->res->kind);
        if (!cJSON_GetObjectItemCaseSensitive(it, "apiVersion"))
            cJSON_AddStringToObject(it, "apiVersion", av);
        struct slot *old = view_find(&w->view, key);
        if (!old)
            push(w, EASEL_KUBE_ADDED, cJSON_Duplicate(it, true));
        else if (!old->rv || !rv || strcmp(old->rv, rv) != 0)
            push(w, EASEL_KUBE_MODIFIED, cJSON_Duplicate(it, true));
        view_put(&fresh, key, rv ? strdup(rv) : NULL, stub_of(it));
    }
    /* seen before, gone now: deleted while we were not watching */
    for (size_t i = 0; i < w->view.cap; i++) {
        struct slot *s = &w->view.s[i];
        if (!s->key || s->key == TOMB || view_find(&fresh, s->key))
            continue;
        push(w, EASEL_KUBE_DELETED, s->stub);
        s->stub = NULL;
    }
    view_free(&w->view);
    w->view = fresh;
    set_rv(w, meta(list, "resourceVersion"));
    cJSON_Delete(list);
    pthread_mutex_lock(&w->mu);
    w->synced = true;
    pthread_mutex_unlock(&w->mu);
    return EASEL_OK;
}

easel_err kube_watch_stream_body(struct easel_kube_watch *w, const char *body, size_t len,
                                 size_t chunk, char *why, size_t whylen)
{
    struct stream st = {.w = w};
    easel_buf_init(&st.line, MAX_LINE);
    easel_err rc = EASEL_OK;
    for (size_t at = 0; at < len && !rc;) {
        size_t n = chunk && len - at > chunk ? chunk : len - at;
        if (on_stream((char *)body + at, 1, n, &st) != n)
            rc = st.expired ? EASEL_ECONFLICT : st.failed ? EASEL_EHTTP : EASEL_ENOMEM;
        at += n;
    }
    if (whylen) /* for a person */
        easel_fmt_cut(why, whylen, "%s", st.errmsg);
    easel_buf_cleanup(&st.line);
    return rc;
}

struct easel_kube_watch *kube_watch_offline(const struct easel_kube_res *res)
{
    struct easel_kube_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->efd = -1;
    w->res = res;
    w->need_list = true;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return w;
}

/* Watches from w->rv until the stream ends. EASEL_EAGAIN: ended normally
 * (server timeout), reconnect at once. */
static easel_err do_watch(struct easel_kube_watch *w, struct easel_error *err)
{
    char path[512], tmo[16];
    if (easel_kube_path(w->res, w->ns, NULL, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_NAMESPACE,
                               "the path to watch %s in %.60s is too long", w->res->kind,
                               w->ns ? w->ns : "");
    /* cannot fail: an int takes at most 11 bytes */
    if (easel_snprintf(tmo, sizeof(tmo), "%d", w->timeout_s))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "the watch timeout does not fit");
    const char *q[] = {"watch", "1", "resourceVersion", w->rv,
                       "allowWatchBookmarks", "true", "timeoutSeconds", tmo,
                       "labelSelector", w->labels, "fieldSelector", w->fields,
                       NULL, NULL};
    char *url = NULL;
    if (kube_url(w->cfg, path, q, &url))
        return EASEL_ENOMEM;
    struct stream st = {.w = w};
    easel_buf_init(&st.line, MAX_LINE);
    char errbuf[CURL_ERROR_SIZE];
    long status;
    /* a server that vanishes without closing must not hang us forever */
    CURLcode cr = perform(w, url, on_stream, &st, (long)(w->timeout_s + 30) * 1000L,
                          &w->stats.watches, &status, errbuf);
    char what[600]; /* for a person: cut with "..." */
    easel_fmt_cut(what, sizeof(what), "watch %s", path);
    easel_err rc;
    if (st.expired || status == 410) {
        pthread_mutex_lock(&w->mu);
        w->stats.expired++;
        pthread_mutex_unlock(&w->mu);
        rc = easel_error_set(err, EASEL_ECONFLICT, EASEL_CLASS_RETRYABLE, EASEL_R_K8S_EXPIRED,
                             "%s: 410 Gone: %s", what,
                             st.errmsg[0] ? st.errmsg : "resource version too old");
        w->need_list = true;
    } else if (st.failed) {
        rc = easel_error_set(err, EASEL_EHTTP, EASEL_CLASS_RETRYABLE, EASEL_R_K8S_WATCH_ERROR,
                             "%s: %s", what, st.errmsg);
    } else if (status >= 400) {
        rc = kube_status_error(status, st.line.data, st.line.len, what, err);
    } else if (cr == CURLE_ABORTED_BY_CALLBACK) {
        rc = EASEL_ECANCELED;
    } else if (cr != CURLE_OK && !(cr == CURLE_OPERATION_TIMEDOUT && status == 200)) {
        rc = kube_transport_error(cr, errbuf, what, err);
    } else {
        rc = EASEL_EAGAIN;
    }
    easel_buf_cleanup(&st.line);
    free(url);
    return rc;
}

static void *watch_main(void *arg)
{
    struct easel_kube_watch *w = arg;
    int64_t backoff = w->backoff_initial;
    while (!atomic_load(&w->stop)) {
        struct easel_error err;
        easel_error_clear(&err);
        easel_err rc;
        if (w->need_list) {
            rc = do_list(w, &err);
            if (rc == EASEL_OK) {
                w->need_list = false;
                backoff = w->backoff_initial;
                continue;
            }
        } else {
            rc = do_watch(w, &err);
            if (rc == EASEL_EAGAIN || rc == EASEL_ECANCELED) {
                backoff = w->backoff_initial;
                continue;
            }
            if (err.why == EASEL_R_K8S_EXPIRED) {
                easel_info(NULL, "watch %s: %s; listing again", w->res->resource,
                           err.msg);
                continue; /* relist at once */
            }
        }
        if (atomic_load(&w->stop))
            break;
        easel_warn(NULL, "watch %s: %s; retrying", w->res->resource,
                   err.msg[0] ? err.msg : easel_strerror(rc));
        /* full jitter: anywhere in [backoff/2, backoff] so that replicas
         * do not reconnect in step */
        int64_t wait = backoff / 2 + (int64_t)easel_rand_below((uint64_t)(backoff / 2 + 1));
        if (!kube_nap(&w->mu, &w->cv, &w->stop, wait))
            break;
        backoff = backoff * 2 > w->backoff_max ? w->backoff_max : backoff * 2;
    }
    return NULL;
}

/* ---------------------------------------------------------------- the API */

easel_err easel_kube_watch_start(const struct easel_kube_config *c,
                                 const struct easel_kube_watch_opts *o,
                                 struct easel_kube_watch **out,
                                 struct easel_error *err)
{
    *out = NULL;
    struct easel_kube_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return EASEL_ENOMEM;
    w->efd = -1;
    w->cfg = kube_config_dup(c);
    w->res = o->res;
    const char *ns = o->res->namespaced ? (o->ns ? o->ns : c->namespace) : "";
    w->ns = strdup(ns ? ns : "");
    w->labels = o->label_selector ? strdup(o->label_selector) : NULL;
    w->fields = o->field_selector ? strdup(o->field_selector) : NULL;
    w->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
    w->backoff_initial = o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 200;
    w->backoff_max = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
    w->need_list = true;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->h = curl_easy_init();
    if (!w->cfg || !w->ns || (o->label_selector && !w->labels) ||
        (o->field_selector && !w->fields) || w->efd < 0 || !w->h) {
        easel_kube_watch_stop(w);
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "cannot set up a watch on %s", o->res->resource);
    }
    kube_auth_init(&w->auth, w->cfg);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        easel_kube_watch_stop(w);
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                               "cannot start the watch thread for %s", o->res->resource);
    }
    w->started = true;
    *out = w;
    return EASEL_OK;
}

void easel_kube_watch_stop(struct easel_kube_watch *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        atomic_store(&w->stop, true);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        kube_auth_cleanup(&w->auth);
    }
    for (size_t i = 0; i < w->qlen; i++)
        cJSON_Delete(w->q[w->qhead + i].obj);
    free(w->q);
    view_free(&w->view);
    if (w->h)
        curl_easy_cleanup(w->h);
    if (w->efd >= 0)
        close(w->efd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    easel_kube_config_free(w->cfg);
    free(w->ns);
    free(w->labels);
    free(w->fields);
    free(w->rv);
    free(w);
}

int easel_kube_watch_fd(const struct easel_kube_watch *w)
{
    return w->efd;
}

bool easel_kube_watch_next(struct easel_kube_watch *w, enum easel_kube_ev *type,
                           cJSON **obj)
{
    pthread_mutex_lock(&w->mu);
    if (!w->qlen) {
        uint64_t v;
        ssize_t r = read(w->efd, &v, sizeof(v));
        (void)r;
        pthread_mutex_unlock(&w->mu);
        return false;
    }
    struct qev e = w->q[w->qhead++];
    w->qlen--;
    if (!w->qlen)
        w->qhead = 0;
    pthread_mutex_unlock(&w->mu);
    *type = e.type;
    *obj = e.obj;
    return true;
}

bool easel_kube_watch_synced(const struct easel_kube_watch *w)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    bool s = w->synced;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
    return s;
}

void easel_kube_watch_stats(struct easel_kube_watch *w,
                            struct easel_kube_watch_stats *s)
{
    pthread_mutex_lock(&w->mu);
    *s = w->stats;
    pthread_mutex_unlock(&w->mu);
}
