/*
 * server.c - the external metrics API listener: TLS with client
 * certificates (OpenSSL), one small HTTP/1.1 exchange per connection, the
 * discovery documents and the easel_queue_backlog list.
 *
 * It is apart from the HTTP API (pkg/api) on purpose: its callers are the
 * kube-apiserver's aggregator and nobody else, it authenticates them by
 * certificate rather than by bearer token, and it answers a handful of
 * requests a minute. So it is a plain accept thread and a thread per
 * connection (at most MAX_CONNS), each connection closed after its answer;
 * a slow or silent client holds only its own thread until IO_TIMEOUT_S.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "easel/extmetrics.h"
#include "easel/kube.h"
#include "easel/queue.h"
#include "easel/store.h"
#include "extmetrics_int.h"

#define MAX_CONNS 16
#define IO_TIMEOUT_S 10
#define MAX_HEAD 16384

struct easel_extmetrics {
    char *cert_file, *key_file, *client_ca_file, *allowed_names;
    char *redis_url, *database_url;
    char **queues;
    size_t nqueues;
    bool verify;         /* client certificates are asked and checked */
    char *ca_pem;        /* the cluster's front-proxy CA (--metrics-api-client-ca=cluster) */
    SSL_CTX *ctx;        /* the accept thread's; replaced when the files change */
    struct timespec cert_mtime, key_mtime;
    int64_t checked_ms;  /* when the files were last looked at */
    int lfd;
    int port;
    int wake[2];         /* written on stop: the accept thread returns */
    pthread_t acceptor;
    bool acceptor_started;
    pthread_mutex_t mu;  /* guards the connection table */
    pthread_cond_t idle; /* signalled when a connection ends */
    int fds[MAX_CONNS];  /* -1 when free */
    int active;
    volatile int stopping;
    /* the backlog is read by one request at a time through these */
    pthread_mutex_t data_mu;
    struct easel_queue **q;
    struct easel_store *store;
};

struct conn {
    struct easel_extmetrics *m;
    SSL *ssl;
    int fd;
    int slot;
};

/* ------------------------------------------------------------ answers */

struct answer {
    int status;
    const char *type;
    char *body;
};

static void answer_json(struct answer *a, int status, cJSON *doc)
{
    a->status = status;
    a->type = "application/json";
    a->body = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
}

/* A metav1.Status, as the apiserver writes its errors. */
static void answer_status(struct answer *a, int code, const char *reason, const char *msg)
{
    cJSON *s = cJSON_CreateObject();
    if (s) {
        cJSON_AddStringToObject(s, "kind", "Status");
        cJSON_AddStringToObject(s, "apiVersion", "v1");
        cJSON_AddItemToObject(s, "metadata", cJSON_CreateObject());
        cJSON_AddStringToObject(s, "status", "Failure");
        cJSON_AddStringToObject(s, "message", msg);
        cJSON_AddStringToObject(s, "reason", reason);
        cJSON_AddNumberToObject(s, "code", code);
    }
    answer_json(a, code, s);
}

static cJSON *group_version(void)
{
    cJSON *v = cJSON_CreateObject();
    if (v) {
        cJSON_AddStringToObject(v, "groupVersion",
                                EASEL_EXTMETRICS_GROUP "/" EASEL_EXTMETRICS_VERSION);
        cJSON_AddStringToObject(v, "version", EASEL_EXTMETRICS_VERSION);
    }
    return v;
}

static cJSON *api_group(bool with_kind)
{
    cJSON *g = cJSON_CreateObject();
    if (!g)
        return NULL;
    if (with_kind) {
        cJSON_AddStringToObject(g, "kind", "APIGroup");
        cJSON_AddStringToObject(g, "apiVersion", "v1");
    }
    cJSON_AddStringToObject(g, "name", EASEL_EXTMETRICS_GROUP);
    cJSON *vs = cJSON_AddArrayToObject(g, "versions");
    if (vs)
        cJSON_AddItemToArray(vs, group_version());
    cJSON_AddItemToObject(g, "preferredVersion", group_version());
    return g;
}

static void discovery_groups(struct answer *a)
{
    cJSON *l = cJSON_CreateObject();
    if (l) {
        cJSON_AddStringToObject(l, "kind", "APIGroupList");
        cJSON_AddStringToObject(l, "apiVersion", "v1");
        cJSON *gs = cJSON_AddArrayToObject(l, "groups");
        if (gs)
            cJSON_AddItemToArray(gs, api_group(false));
    }
    answer_json(a, 200, l);
}

static void discovery_resources(struct answer *a)
{
    cJSON *l = cJSON_CreateObject();
    if (l) {
        cJSON_AddStringToObject(l, "kind", "APIResourceList");
        cJSON_AddStringToObject(l, "apiVersion", "v1");
        cJSON_AddStringToObject(l, "groupVersion",
                                EASEL_EXTMETRICS_GROUP "/" EASEL_EXTMETRICS_VERSION);
        cJSON *rs = cJSON_AddArrayToObject(l, "resources");
        cJSON *r = cJSON_CreateObject();
        if (rs && r) {
            cJSON_AddStringToObject(r, "name", EASEL_BACKLOG_METRIC);
            cJSON_AddStringToObject(r, "singularName", "");
            cJSON_AddBoolToObject(r, "namespaced", true);
            cJSON_AddStringToObject(r, "kind", "ExternalMetricValueList");
            cJSON *verbs = cJSON_AddArrayToObject(r, "verbs");
            if (verbs)
                cJSON_AddItemToArray(verbs, cJSON_CreateString("get"));
            cJSON_AddItemToArray(rs, r);
            r = NULL;
        }
        cJSON_Delete(r);
    }
    answer_json(a, 200, l);
}

/* --------------------------------------------------------- the metric */

static easel_err statuses(void *ud, const char *const *ids, size_t n, int *st)
{
    struct easel_extmetrics *m = ud;
    easel_err rc = easel_store_job_statuses(m->store, ids, n, st);
    if (rc == EASEL_ECONN && easel_store_reconnect(m->store) == EASEL_OK)
        rc = easel_store_job_statuses(m->store, ids, n, st);
    if (rc)
        easel_warn(NULL, "external metrics: reading claimed jobs failed: %s",
                   easel_store_errstr(m->store));
    return rc;
}

/* The backlog of queue i under the selector's model requirements, into
 * *value; data_mu held. */
static easel_err queue_backlog(struct easel_extmetrics *m, size_t i,
                               const struct easel_selector *sel, int64_t *value,
                               struct easel_error *err)
{
    easel_err rc;
    *value = 0;
    if (!m->q[i]) {
        struct easel_queue_opts qo = {.url = m->redis_url, .name = m->queues[i],
                                      .connect_timeout_ms = 2000};
        rc = easel_queue_open(&qo, &m->q[i], err);
        if (rc)
            return rc;
    }
    if (m->database_url && !m->store) {
        rc = easel_store_open(m->database_url, &m->store, err);
        if (rc)
            return rc;
    }
    struct easel_backlog_opts bo = {.by_model = easel_selector_has(sel, "model"),
                                    .status = m->store ? statuses : NULL,
                                    .status_ud = m};
    struct easel_backlog b;
    rc = easel_queue_backlog(m->q[i], &bo, &b);
    if (rc == EASEL_ECONN && easel_queue_reconnect(m->q[i]) == EASEL_OK)
        rc = easel_queue_backlog(m->q[i], &bo, &b);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                        "reading the backlog of %s: %s", m->queues[i],
                        easel_queue_errstr(m->q[i]));
        return rc;
    }
    if (!bo.by_model) {
        *value = b.pending + b.delayed + b.claimed + b.pooled;
    } else {
        for (size_t k = 0; k < b.nmodels; k++) {
            char lf[64];
            easel_label_form(b.models[k].model, lf);
            if (easel_selector_match(sel, "model", lf))
                *value += b.models[k].pending + b.models[k].delayed + b.models[k].claimed +
                          b.models[k].pooled;
        }
        if (b.unscanned > 0)
            easel_warn(NULL, "external metrics: %lld entries of %s past the scan bound are "
                             "in no model's figure", (long long)b.unscanned, m->queues[i]);
    }
    easel_backlog_cleanup(&b);
    return EASEL_OK;
}

static void rfc3339_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        easel_strlcpy(out, "1970-01-01T00:00:00Z", 32);
}

static void metric_list(struct easel_extmetrics *m, const char *selector, struct answer *a)
{
    static const char *const keys[] = {"queue", "model", NULL};
    struct easel_selector sel;
    char why[256];
    cJSON *list = NULL;

    easel_err rc = easel_selector_parse(selector, keys, &sel, why, sizeof(why));
    if (rc) {
        char msg[320];
        (void)easel_snprintf(msg, sizeof(msg), "unable to parse requirements: %s", why);
        answer_status(a, 400, "BadRequest", msg);
        return;
    }
    list = cJSON_CreateObject();
    cJSON *items = list ? cJSON_CreateArray() : NULL;
    if (!items) {
        answer_status(a, 500, "InternalError", "out of memory");
        goto out;
    }
    cJSON_AddStringToObject(list, "kind", "ExternalMetricValueList");
    cJSON_AddStringToObject(list, "apiVersion",
                            EASEL_EXTMETRICS_GROUP "/" EASEL_EXTMETRICS_VERSION);
    cJSON_AddItemToObject(list, "metadata", cJSON_CreateObject());
    cJSON_AddItemToObject(list, "items", items);
    char now[32];
    rfc3339_now(now);
    pthread_mutex_lock(&m->data_mu);
    for (size_t i = 0; i < m->nqueues; i++) {
        char qlf[64];
        easel_label_form(m->queues[i], qlf);
        if (!easel_selector_match(&sel, "queue", qlf))
            continue;
        int64_t value = 0;
        struct easel_error err;
        memset(&err, 0, sizeof(err));
        if (queue_backlog(m, i, &sel, &value, &err)) {
            pthread_mutex_unlock(&m->data_mu);
            easel_warn(NULL, "external metrics: %s", err.msg);
            answer_status(a, 503, "ServiceUnavailable", err.msg);
            goto out;
        }
        /* one item per queue: the HPA adds up the items it gets, and an
         * item with 0 (rather than none) lets it scale to the minimum */
        cJSON *it = cJSON_CreateObject();
        cJSON *labels = cJSON_CreateObject();
        char v[24];
        (void)easel_snprintf(v, sizeof(v), "%lld", (long long)value);
        if (!it || !labels) {
            cJSON_Delete(it);
            cJSON_Delete(labels);
            continue;
        }
        cJSON_AddStringToObject(labels, "queue", qlf);
        const char *model = easel_selector_pinned(&sel, "model");
        if (model)
            cJSON_AddStringToObject(labels, "model", model);
        cJSON_AddStringToObject(it, "metricName", EASEL_BACKLOG_METRIC);
        cJSON_AddItemToObject(it, "metricLabels", labels);
        cJSON_AddStringToObject(it, "timestamp", now);
        cJSON_AddStringToObject(it, "value", v);
        cJSON_AddItemToArray(items, it);
    }
    pthread_mutex_unlock(&m->data_mu);
    answer_json(a, 200, list);
    list = NULL;
out:
    cJSON_Delete(list);
    easel_selector_cleanup(&sel);
}

/* --------------------------------------------------------------- routes */

static void route(struct easel_extmetrics *m, const char *method, char *target,
                  struct answer *a)
{
    static const char prefix[] = "/apis/" EASEL_EXTMETRICS_GROUP "/" EASEL_EXTMETRICS_VERSION;
    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    size_t n = strlen(target);
    if (n > 1 && target[n - 1] == '/')
        target[--n] = '\0';
    if (!strcmp(target, "/healthz") || !strcmp(target, "/livez") ||
        !strcmp(target, "/readyz")) {
        a->status = 200;
        a->type = "text/plain";
        a->body = easel_strdup("ok");
        return;
    }
    if (strcmp(method, "GET")) {
        answer_status(a, 405, "MethodNotAllowed",
                      "the external metrics API is read only: GET");
        return;
    }
    if (!strcmp(target, "/apis")) {
        discovery_groups(a);
        return;
    }
    if (!strcmp(target, "/apis/" EASEL_EXTMETRICS_GROUP)) {
        cJSON *g = api_group(true);
        answer_json(a, 200, g);
        return;
    }
    if (!strcmp(target, prefix)) {
        discovery_resources(a);
        return;
    }
    /* prefix/namespaces/<ns>/<metric> */
    const char *ns = NULL, *metric = NULL;
    if (!strncmp(target, prefix, sizeof(prefix) - 1) &&
        !strncmp(target + sizeof(prefix) - 1, "/namespaces/", 12)) {
        ns = target + sizeof(prefix) - 1 + 12;
        char *slash = strchr(ns, '/');
        if (slash && slash != ns) {
            *slash = '\0';
            metric = slash + 1;
        }
    }
    if (!metric || !*metric || strchr(metric, '/')) {
        char msg[160];
        (void)easel_snprintf(msg, sizeof(msg), "the server could not find the requested "
                                               "resource (%.100s)", target);
        answer_status(a, 404, "NotFound", msg);
        return;
    }
    if (strcasecmp(metric, EASEL_BACKLOG_METRIC)) {
        char msg[200];
        (void)easel_snprintf(msg, sizeof(msg),
                             "external metric \"%.64s\" is not served here (only "
                             EASEL_BACKLOG_METRIC ")", metric);
        answer_status(a, 404, "NotFound", msg);
        return;
    }
    char *selector = NULL;
    for (char *arg = query; arg && *arg;) {
        char *amp = strchr(arg, '&');
        if (amp)
            *amp = '\0';
        if (!strncmp(arg, "labelSelector=", 14)) {
            free(selector);
            selector = em_url_decode(arg + 14);
            if (!selector) {
                answer_status(a, 400, "BadRequest", "labelSelector is not percent-encoded "
                                                    "correctly");
                return;
            }
        }
        arg = amp ? amp + 1 : NULL;
    }
    metric_list(m, selector, a);
    free(selector);
}

/* --------------------------------------------------------- connections */

/* The client certificate's common name into cn ("" when none). */
static void peer_cn(SSL *ssl, char *cn, size_t len)
{
    cn[0] = '\0';
    X509 *x = SSL_get_peer_certificate(ssl);
    if (!x)
        return;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                  (int)len) < 0)
        cn[0] = '\0';
    X509_free(x);
}

static bool name_allowed(const char *list, const char *cn)
{
    if (!list || !*list)
        return true;
    size_t cl = strlen(cn);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n && n == cl && !strncmp(p, cn, n))
            return true;
        p = e;
    }
    return false;
}

/* Reads the request head (up to the blank line) into buf; its length, or
 * -1 when the client went away, was too slow or sent too much. */
static int read_head(SSL *ssl, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        int r = SSL_read(ssl, buf + n, (int)(cap - 1 - n));
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return (int)n;
    }
    return -1;
}

/* The value of header `name` (with its colon) in the head, copied; NULL
 * when absent. */
static char *header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, nl))
            continue;
        h += nl;
        while (*h == ' ' || *h == '\t')
            h++;
        const char *e = strstr(h, "\r\n");
        return e ? easel_strndup(h, (size_t)(e - h)) : NULL;
    }
    return NULL;
}

static void write_all(SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, n > (1 << 20) ? (1 << 20) : (int)n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void serve(struct easel_extmetrics *m, SSL *ssl)
{
    char head[MAX_HEAD];
    struct answer a = {0, NULL, NULL};
    char *user = NULL, *target = NULL;
    char cn[256] = "", method[16];

    if (read_head(ssl, head, sizeof(head)) < 0)
        return;
    /* who asks comes first: a client that is not let in learns nothing,
     * not even whether its request parsed */
    peer_cn(ssl, cn, sizeof(cn));
    if (m->verify) {
        if (SSL_get_verify_result(ssl) != X509_V_OK || !cn[0]) {
            answer_status(&a, 401, "Unauthorized", "a client certificate is required");
            goto reply;
        }
        if (!name_allowed(m->allowed_names, cn)) {
            char msg[320];
            (void)easel_snprintf(msg, sizeof(msg),
                                 "client certificate \"%.200s\" is not one of "
                                 "--metrics-api-allowed-names", cn);
            answer_status(&a, 403, "Forbidden", msg);
            goto reply;
        }
    }
    /* METHOD SP TARGET SP HTTP/1.x */
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || sp2 > eol || (size_t)(sp1 - head) >= sizeof(method) ||
        strncmp(sp2 + 1, "HTTP/1.", 7)) {
        answer_status(&a, 400, "BadRequest", "not an HTTP/1.x request");
        goto reply;
    }
    memcpy(method, head, (size_t)(sp1 - head));
    method[sp1 - head] = '\0';
    target = easel_strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    /* the aggregator names the caller it authenticated and authorized */
    user = header(head, "x-remote-user:");
    if (!target) {
        answer_status(&a, 500, "InternalError", "out of memory");
        goto reply;
    }
    route(m, method, target, &a);
reply:
    if (!a.body)
        answer_status(&a, 500, "InternalError", "out of memory");
    if (easel_log_enabled(EASEL_LOG_DEBUG)) {
        char status[8];
        (void)easel_snprintf(status, sizeof(status), "%d", a.status);
        easel_log_kv(EASEL_LOG_DEBUG, NULL,
                     (const char *const[]){"path", target ? target : "-", "status", status,
                                           "client", cn[0] ? cn : "-", "user",
                                           user ? user : "-", NULL},
                     "external metrics %s %d", target ? target : "-", a.status);
    }
    size_t blen = a.body ? strlen(a.body) : 0;
    char *resp = easel_asprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                                "%zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                                a.status, reason_phrase(a.status),
                                a.type ? a.type : "application/json", blen);
    if (resp) {
        write_all(ssl, resp, strlen(resp));
        if (blen)
            write_all(ssl, a.body, blen);
    }
    free(resp);
    free(a.body);
    free(target);
    free(user);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct easel_extmetrics *m = c->m;
    SSL *ssl = c->ssl;
    if (ssl && SSL_set_fd(ssl, c->fd) == 1) {
        if (SSL_accept(ssl) == 1) {
            serve(m, ssl);
            (void)SSL_shutdown(ssl);
        } else if (easel_log_enabled(EASEL_LOG_DEBUG)) {
            char e[160];
            ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
            easel_log_kv(EASEL_LOG_DEBUG, NULL, (const char *const[]){NULL},
                         "external metrics: TLS handshake failed: %s", e);
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
    pthread_mutex_lock(&m->mu);
    close(c->fd);
    m->fds[c->slot] = -1;
    m->active--;
    pthread_cond_broadcast(&m->idle);
    pthread_mutex_unlock(&m->mu);
    free(c);
    return NULL;
}

static void accept_one(struct easel_extmetrics *m)
{
    int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct conn *c = calloc(1, sizeof(*c));
    pthread_mutex_lock(&m->mu);
    int slot = -1;
    for (int i = 0; i < MAX_CONNS && slot < 0; i++)
        if (m->fds[i] < 0)
            slot = i;
    if (!c || slot < 0 || m->stopping) {
        pthread_mutex_unlock(&m->mu);
        close(fd);
        free(c);
        return;
    }
    c->m = m;
    /* the SSL holds a reference on the context it came from: a reload
     * while this connection runs frees the old one only after it ends */
    c->ssl = SSL_new(m->ctx);
    c->fd = fd;
    c->slot = slot;
    m->fds[slot] = fd;
    m->active++;
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, conn_main, c)) {
        m->fds[slot] = -1;
        m->active--;
        close(fd);
        SSL_free(c->ssl);
        free(c);
    }
    pthread_attr_destroy(&at);
    pthread_mutex_unlock(&m->mu);
}

static easel_err tls_setup(struct easel_extmetrics *m, struct easel_error *err);

static bool file_mtime(const char *path, struct timespec *t)
{
    struct stat st;
    if (stat(path, &st))
        return false;
    *t = st.st_mtim;
    return true;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* A renewed certificate (cert-manager, a Secret update, a rotation by
 * hand) is taken without a restart: at most every few seconds the files'
 * times are compared, and on a change a new context is built from them.
 * One that does not load (a half-written pair) leaves the old in place
 * and is tried again later. */
static void maybe_reload(struct easel_extmetrics *m)
{
    int64_t now = easel_now_ms();
    if (now - m->checked_ms < 5000)
        return;
    m->checked_ms = now;
    struct timespec c, k;
    if (!file_mtime(m->cert_file, &c) || !file_mtime(m->key_file, &k) ||
        (same_time(&c, &m->cert_mtime) && same_time(&k, &m->key_mtime)))
        return;
    SSL_CTX *old = m->ctx;
    struct easel_error err;
    easel_error_clear(&err);
    m->ctx = NULL;
    if (tls_setup(m, &err)) {
        SSL_CTX_free(m->ctx);
        m->ctx = old;
        easel_warn(NULL, "external metrics: the changed certificate does not load (%s); "
                         "serving the previous one", err.msg);
        return;
    }
    SSL_CTX_free(old);
    m->cert_mtime = c;
    m->key_mtime = k;
    easel_info(NULL, "external metrics: serving the renewed certificate %s", m->cert_file);
}

static void *accept_main(void *arg)
{
    struct easel_extmetrics *m = arg;
    while (!m->stopping) {
        struct pollfd p[2] = {{m->lfd, POLLIN, 0}, {m->wake[0], POLLIN, 0}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (m->stopping || (p[1].revents & POLLIN))
            break;
        if (p[0].revents & POLLIN) {
            maybe_reload(m);
            accept_one(m);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* HTTP/1.1 only: Go's client (the aggregator, kubectl) then uses it */
    static const unsigned char h11[] = "\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof(h11) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

/* --metrics-api-client-ca=cluster: the front-proxy CA and allowed names
 * the kube-apiserver publishes for extension API servers. Reading it is
 * what the extension-apiserver-authentication-reader Role allows. */
static easel_err cluster_ca(struct easel_extmetrics *m, const struct easel_kube_config *kc,
                            struct easel_error *err)
{
    static const char ns[] = "kube-system", name[] = "extension-apiserver-authentication";
    struct easel_kube *k = NULL;
    cJSON *cm = NULL, *names = NULL;
    easel_err rc;
    if (!kc)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-client-ca=cluster needs a Kubernetes "
                               "configuration (in-cluster or --kubeconfig)");
    rc = easel_kube_new(kc, NULL, &k, err);
    if (rc)
        goto out;
    rc = easel_kube_get(k, &easel_kube_configmaps, ns, name, &cm, err);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                        "--metrics-api-client-ca=cluster: cannot read %s/%s: %s", ns, name,
                        err->msg);
        goto out;
    }
    const char *pem = easel_kube_str(cm, "data.requestheader-client-ca-file");
    if (!pem || !*pem) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                             "--metrics-api-client-ca=cluster: %s/%s has no "
                             "requestheader-client-ca-file (is the aggregation layer on?)",
                             ns, name);
        goto out;
    }
    m->ca_pem = easel_strdup(pem);
    if (!m->ca_pem) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    const char *allowed = easel_kube_str(cm, "data.requestheader-allowed-names");
    if (!m->allowed_names && allowed && (names = cJSON_Parse(allowed)) &&
        cJSON_IsArray(names)) {
        struct easel_buf b;
        easel_buf_init(&b, 0);
        const cJSON *n;
        cJSON_ArrayForEach(n, names)
            if (cJSON_IsString(n) && n->valuestring[0]) {
                if (b.len)
                    (void)easel_buf_puts(&b, ",");
                (void)easel_buf_puts(&b, n->valuestring);
            }
        if (b.len)
            m->allowed_names = easel_strndup(b.data, b.len);
        easel_buf_cleanup(&b);
    }
    easel_info(NULL, "external metrics API: client CA from %s/%s%s%s", ns, name,
               m->allowed_names ? ", allowed names " : "",
               m->allowed_names ? m->allowed_names : "");
out:
    cJSON_Delete(names);
    cJSON_Delete(cm);
    easel_kube_free(k);
    return rc;
}

/* Trusts every certificate of a PEM bundle for client verification. */
static bool load_ca_pem(SSL_CTX *ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    X509 *x;
    int n = 0;
    if (!bio)
        return false;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(st, x) == 1 && SSL_CTX_add_client_CA(ctx, x) == 1)
            n++;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the bundle reads as an error */
    return n > 0;
}

static easel_err tls_setup(struct easel_extmetrics *m, struct easel_error *err)
{
    char e[200];
    m->ctx = SSL_CTX_new(TLS_server_method());
    if (!m->ctx)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_MEMORY,
                               "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(m->ctx, TLS1_2_VERSION);
    SSL_CTX_set_alpn_select_cb(m->ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(m->ctx, m->cert_file) != 1) {
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-cert %s: %s", m->cert_file, e);
    }
    if (SSL_CTX_use_PrivateKey_file(m->ctx, m->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(m->ctx) != 1) {
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-key %s: %s", m->key_file, e);
    }
    if (m->ca_pem) {
        if (!load_ca_pem(m->ctx, m->ca_pem))
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG, "the cluster's "
                                   "requestheader-client-ca-file holds no certificate");
        SSL_CTX_set_verify(m->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else if (m->verify) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(m->client_ca_file);
        if (!names || SSL_CTX_load_verify_locations(m->ctx, m->client_ca_file, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            ERR_error_string_n(ERR_get_error(), e, sizeof(e));
            return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_FLAG, "--metrics-api-client-ca %s: %s",
                                   m->client_ca_file, e);
        }
        SSL_CTX_set_client_CA_list(m->ctx, names);
        SSL_CTX_set_verify(m->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ERR_clear_error();
    return EASEL_OK;
}

static easel_err listen_on(struct easel_extmetrics *m, const char *addr,
                           struct easel_error *err)
{
    char host[256], port[16];
    int pn;
    if (easel_split_host_port(addr, host, sizeof(host), &pn))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-addr \"%s\" is not HOST:PORT", addr);
    if (!m->verify && !easel_host_is_loopback(host))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-addr %s is not a loopback address and no "
                               "--metrics-api-client-ca is set: off loopback the external "
                               "metrics API needs client certificates",
                               addr);
    (void)easel_snprintf(port, sizeof(port), "%d", pn);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "--metrics-api-addr %s: %s", addr, gai_strerror(gai));
    /* "" binds every address: prefer the IPv6 wildcard, which takes both */
    struct addrinfo *pick = res;
    for (struct addrinfo *ai = res; ai && !host[0]; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            pick = ai;
    int fd = socket(pick->ai_family, pick->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0;
    if (fd >= 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (pick->ai_family == AF_INET6 && !host[0])
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (fd < 0 || bind(fd, pick->ai_addr, pick->ai_addrlen) || listen(fd, 64)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return easel_error_set(err, EASEL_ECONN, EASEL_CLASS_PERMANENT,
                               EASEL_R_LISTEN_FAILED, "cannot listen on %s: %s", addr,
                               strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
        m->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    m->lfd = fd;
    return EASEL_OK;
}

static char *dup_opt(const char *s)
{
    return s && *s ? easel_strdup(s) : NULL;
}

easel_err easel_extmetrics_start(const struct easel_extmetrics_opts *o,
                                 struct easel_extmetrics **out, struct easel_error *err)
{
    easel_err rc;
    *out = NULL;
    if (!o->addr || !*o->addr || !o->cert_file || !*o->cert_file || !o->key_file ||
        !*o->key_file || !o->redis_url || o->nqueues == 0)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "the external metrics API needs --metrics-api-addr, "
                               "--metrics-api-cert and --metrics-api-key");
    struct easel_extmetrics *m = calloc(1, sizeof(*m));
    if (!m)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_MEMORY,
                               "out of memory");
    m->lfd = -1;
    m->wake[0] = m->wake[1] = -1;
    for (int i = 0; i < MAX_CONNS; i++)
        m->fds[i] = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->data_mu, NULL);
    pthread_cond_init(&m->idle, NULL);
    m->cert_file = easel_strdup(o->cert_file);
    m->key_file = easel_strdup(o->key_file);
    m->client_ca_file = dup_opt(o->client_ca_file);
    m->allowed_names = dup_opt(o->allowed_names);
    m->redis_url = easel_strdup(o->redis_url);
    m->database_url = dup_opt(o->database_url);
    m->verify = m->client_ca_file != NULL;
    m->queues = calloc(o->nqueues, sizeof(*m->queues));
    m->q = calloc(o->nqueues, sizeof(*m->q));
    if (!m->cert_file || !m->key_file || !m->redis_url || !m->queues || !m->q) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_MEMORY,
                             "out of memory");
        goto fail;
    }
    m->nqueues = o->nqueues;
    for (size_t i = 0; i < o->nqueues; i++)
        if (!(m->queues[i] = easel_strdup(o->queues[i]))) {
            rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT,
                                 EASEL_R_NO_MEMORY, "out of memory");
            goto fail;
        }
    if (m->client_ca_file && !strcmp(m->client_ca_file, EASEL_EXTMETRICS_CLUSTER_CA)) {
        rc = cluster_ca(m, o->kube, err);
        if (rc)
            goto fail;
    }
    (void)file_mtime(m->cert_file, &m->cert_mtime);
    (void)file_mtime(m->key_file, &m->key_mtime);
    m->checked_ms = easel_now_ms();
    rc = tls_setup(m, err);
    if (rc)
        goto fail;
    rc = listen_on(m, o->addr, err);
    if (rc)
        goto fail;
    if (pipe2(m->wake, O_CLOEXEC) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_PIPE,
                             "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&m->acceptor, NULL, accept_main, m)) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_THREAD,
                             "cannot start the external metrics API's thread");
        goto fail;
    }
    m->acceptor_started = true;
    if (!m->verify)
        easel_warn(NULL, "no --metrics-api-client-ca: the external metrics API on %s asks "
                         "for no client certificate (loopback only)", o->addr);
    easel_info(NULL, "external metrics API (" EASEL_EXTMETRICS_GROUP "/"
                     EASEL_EXTMETRICS_VERSION ") on %s, port %d%s", o->addr, m->port,
               m->verify ? ", client certificates required" : "");
    *out = m;
    return EASEL_OK;
fail:
    easel_extmetrics_stop(m);
    return rc;
}

int easel_extmetrics_port(const struct easel_extmetrics *m)
{
    return m ? m->port : 0;
}

void easel_extmetrics_stop(struct easel_extmetrics *m)
{
    if (!m)
        return;
    m->stopping = 1;
    if (m->acceptor_started) {
        if (write(m->wake[1], "x", 1) < 0) {
            /* the pipe cannot be full with one byte; nothing else to do */
        }
        pthread_join(m->acceptor, NULL);
    }
    /* cut the connections being served; their threads end soon after */
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < MAX_CONNS; i++)
        if (m->fds[i] >= 0)
            (void)shutdown(m->fds[i], SHUT_RDWR);
    while (m->active > 0)
        pthread_cond_wait(&m->idle, &m->mu);
    pthread_mutex_unlock(&m->mu);
    if (m->lfd >= 0)
        close(m->lfd);
    for (int i = 0; i < 2; i++)
        if (m->wake[i] >= 0)
            close(m->wake[i]);
    SSL_CTX_free(m->ctx);
    for (size_t i = 0; i < m->nqueues; i++) {
        if (m->q)
            easel_queue_free(m->q[i]);
        free(m->queues[i]);
    }
    free(m->q);
    free(m->queues);
    easel_store_free(m->store);
    free(m->cert_file);
    free(m->key_file);
    free(m->client_ca_file);
    free(m->ca_pem);
    free(m->allowed_names);
    free(m->redis_url);
    free(m->database_url);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->data_mu);
    pthread_cond_destroy(&m->idle);
    free(m);
}
