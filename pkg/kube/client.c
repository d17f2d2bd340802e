/*
 * client.c - requests to the API server over one reused connection:
 * authentication (a token re-read when its file changes, client
 * certificates), TLS from the configuration, JSON in and out, and errors
 * that keep the API's Status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "easel/telemetry.h"
#include "easel/yamljson.h"
#include "kube_int.h"

#define MAX_RESPONSE (256u * 1024 * 1024)

const struct easel_kube_res easel_kube_jobs = {"batch", "v1", "jobs", "Job", true};
const struct easel_kube_res easel_kube_pods = {"", "v1", "pods", "Pod", true};
const struct easel_kube_res easel_kube_events = {"", "v1", "events", "Event", true};
const struct easel_kube_res easel_kube_configmaps = {"", "v1", "configmaps", "ConfigMap", true};
const struct easel_kube_res easel_kube_secrets = {"", "v1", "secrets", "Secret", true};
const struct easel_kube_res easel_kube_leases = {"coordination.k8s.io", "v1", "leases",
                                                 "Lease", true};

struct easel_kube {
    struct easel_kube_config *cfg;
    struct kube_auth auth;
    pthread_mutex_t mu;     /* one request at a time on the connection */
    CURL *h;
    int64_t timeout_ms, connect_timeout_ms;
    char *user_agent;
    struct easel_kube_stats stats;
};

/* ------------------------------------------------------------------- auth */

void kube_auth_init(struct kube_auth *a, const struct easel_kube_config *c)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    a->token = c->token ? strdup(c->token) : NULL;
    a->token_file = c->token_file ? strdup(c->token_file) : NULL;
    a->token_mtime_ns = -1;
}

void kube_auth_cleanup(struct kube_auth *a)
{
    free(a->token);
    free(a->token_file);
    pthread_mutex_destroy(&a->mu);
}

char *kube_auth_header(struct kube_auth *a)
{
    pthread_mutex_lock(&a->mu);
    if (a->token_file) {
        /* the kubelet rotates projected tokens by replacing the file: read
         * it again whenever it changes */
        struct stat st;
        if (stat(a->token_file, &st) == 0) {
            int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
            if (m != a->token_mtime_ns) {
                char *t = NULL;
                size_t n = 0;
                if (easel_read_file(a->token_file, 64 * 1024, &t, &n) == EASEL_OK) {
                    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
                        t[--n] = '\0';
                    free(a->token);
                    a->token = t;
                    a->token_mtime_ns = m;
                }
            }
        }
    }
    char *h = a->token && *a->token ? easel_asprintf("Authorization: Bearer %s", a->token)
                                    : NULL;
    pthread_mutex_unlock(&a->mu);
    return h;
}

void kube_tls_setup(CURL *h, const struct easel_kube_config *c)
{
    if (c->ca_pem) {
        struct curl_blob b = {.data = c->ca_pem, .len = c->ca_len,
                              .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    if (c->cert_pem && c->key_pem) {
        struct curl_blob cb = {.data = c->cert_pem, .len = c->cert_len,
                               .flags = CURL_BLOB_COPY};
        struct curl_blob kb = {.data = c->key_pem, .len = c->key_len,
                               .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* ----------------------------------------------------------------- errors */

static easel_err code_for(long status, enum easel_reason reason)
{
    if (status == 404)
        return EASEL_ENOTFOUND;
    if (status == 409)
        return reason == EASEL_R_K8S_ALREADY_EXISTS ? EASEL_EEXISTS : EASEL_ECONFLICT;
    if (status == 400 || status == 422)
        return EASEL_EINVAL;
    if (status == 408 || status == 504)
        return EASEL_ETIMEOUT;
    return EASEL_EHTTP;
}

/* The Status reason the API gave, or the one its HTTP status implies. */
static enum easel_reason status_reason(long status, const char *given)
{
    enum easel_reason r = easel_reason_parse(given);
    if (r >= EASEL_R_K8S_BAD_RESPONSE)
        return r; /* one of the API's own words */
    if (given && *given)
        return EASEL_R_K8S_UNKNOWN; /* a word this version does not know */
    switch (status) {
    case 400: return EASEL_R_K8S_BAD_REQUEST;
    case 401: return EASEL_R_K8S_UNAUTHORIZED;
    case 403: return EASEL_R_K8S_FORBIDDEN;
    case 404: return EASEL_R_K8S_NOT_FOUND;
    case 405: return EASEL_R_K8S_METHOD_NOT_ALLOWED;
    case 409: return EASEL_R_K8S_CONFLICT;
    case 410: return EASEL_R_K8S_EXPIRED;
    case 415: return EASEL_R_K8S_UNSUPPORTED_MEDIA_TYPE;
    case 422: return EASEL_R_K8S_INVALID;
    case 429: return EASEL_R_K8S_TOO_MANY_REQUESTS;
    case 500: return EASEL_R_K8S_INTERNAL_ERROR;
    case 503: return EASEL_R_K8S_SERVICE_UNAVAILABLE;
    case 504: return EASEL_R_K8S_TIMEOUT;
    default: return EASEL_R_K8S_UNKNOWN;
    }
}

easel_err kube_status_error(long status, const char *body, size_t len,
                            const char *what, struct easel_error *err)
{
    cJSON *st = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const char *given = NULL, *msg = NULL;
    if (st && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(st, "kind")) &&
        !strcmp(cJSON_GetObjectItemCaseSensitive(st, "kind")->valuestring, "Status")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(st, "reason");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
        /* "" is Kubernetes' StatusReasonUnknown: name it from the status */
        given = cJSON_IsString(r) && r->valuestring[0] ? r->valuestring : NULL;
        msg = cJSON_IsString(m) && m->valuestring[0] ? m->valuestring : NULL;
    }
    enum easel_reason reason = status_reason(status, given);
    bool retryable = status == 429 || status >= 500 ||
                     (status == 409 && reason != EASEL_R_K8S_ALREADY_EXISTS);
    easel_err code = code_for(status, reason);
    char snippet[160] = ""; /* for a person: a long body is cut with "..." */
    if (!msg && body && len)
        easel_fmt_cut(snippet, sizeof(snippet), "%.*s", (int)(len < 4096 ? len : 4096), body);
    easel_error_set(err, code, retryable ? EASEL_CLASS_RETRYABLE : EASEL_CLASS_PERMANENT,
                    reason, "%s: %ld %.60s: %s", what, status,
                    given && *given ? given : easel_reason_name(reason),
                    msg ? msg : snippet[0] ? snippet : "no message");
    if (err)
        err->http_status = (int)status;
    cJSON_Delete(st);
    return code;
}

easel_err kube_transport_error(CURLcode rc, const char *errbuf,
                               const char *what, struct easel_error *err)
{
    bool timeout = rc == CURLE_OPERATION_TIMEDOUT;
    return easel_error_set(err, timeout ? EASEL_ETIMEOUT : EASEL_ECONN,
                           EASEL_CLASS_RETRYABLE,
                           timeout ? EASEL_R_K8S_TIMEOUT : EASEL_R_K8S_CONNECTION_FAILED, "%s: %s", what,
                           errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* ------------------------------------------------------------------ paths */

easel_err easel_kube_path(const struct easel_kube_res *r, const char *ns,
                          const char *name, const char *sub, char *dst,
                          size_t len)
{
    struct easel_buf b;
    easel_buf_init(&b, len);
    easel_err rc = r->group[0] ? easel_buf_printf(&b, "/apis/%s/%s", r->group, r->version)
                               : easel_buf_printf(&b, "/api/%s", r->version);
    if (!rc && r->namespaced && ns && *ns)
        rc = easel_buf_printf(&b, "/namespaces/%s", ns);
    if (!rc)
        rc = easel_buf_printf(&b, "/%s", r->resource);
    if (!rc && name)
        rc = easel_buf_printf(&b, "/%s", name);
    if (!rc && name && sub)
        rc = easel_buf_printf(&b, "/%s", sub);
    if (!rc)
        rc = easel_strlcpy(dst, b.data ? b.data : "", len) < len ? EASEL_OK : EASEL_ELIMIT;
    easel_buf_cleanup(&b);
    return rc;
}

easel_err kube_url(const struct easel_kube_config *c, const char *path,
                   const char *const *query, char **out)
{
    struct easel_buf b;
    easel_buf_init(&b, 64 * 1024);
    easel_err rc = easel_buf_printf(&b, "%s%s", c->server, path);
    char sep = '?';
    for (size_t i = 0; !rc && query && query[i]; i += 2) {
        if (!query[i + 1])
            continue;
        char *v = curl_easy_escape(NULL, query[i + 1], 0);
        if (!v) {
            rc = EASEL_ENOMEM;
            break;
        }
        rc = easel_buf_printf(&b, "%c%s=%s", sep, query[i], v);
        curl_free(v);
        sep = '&';
    }
    if (rc) {
        easel_buf_cleanup(&b);
        return rc;
    }
    *out = easel_buf_steal(&b, NULL);
    return *out ? EASEL_OK : EASEL_ENOMEM;
}

/* ------------------------------------------------------------ the client */

easel_err easel_kube_new(const struct easel_kube_config *c,
                         const struct easel_kube_opts *o,
                         struct easel_kube **out, struct easel_error *err)
{
    *out = NULL;
    struct easel_kube *k = calloc(1, sizeof(*k));
    if (!k)
        return EASEL_ENOMEM;
    k->cfg = kube_config_dup(c);
    k->h = curl_easy_init();
    k->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 30000;
    k->connect_timeout_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    k->user_agent = easel_asprintf("%s", o && o->user_agent ? o->user_agent
                                                            : "easel/" EASEL_VERSION);
    if (!k->cfg || !k->h || !k->user_agent) {
        if (k->h)
            curl_easy_cleanup(k->h);
        easel_kube_config_free(k->cfg);
        free(k->user_agent);
        free(k);
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE,
                               EASEL_R_NO_MEMORY, "out of memory creating the API client");
    }
    kube_auth_init(&k->auth, k->cfg);
    pthread_mutex_init(&k->mu, NULL);
    *out = k;
    return EASEL_OK;
}

void easel_kube_free(struct easel_kube *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->h);
    kube_auth_cleanup(&k->auth);
    pthread_mutex_destroy(&k->mu);
    easel_kube_config_free(k->cfg);
    free(k->user_agent);
    free(k);
}

const struct easel_kube_config *easel_kube_cfg(const struct easel_kube *k)
{
    return k->cfg;
}

void easel_kube_stats(const struct easel_kube *k, struct easel_kube_stats *s)
{
    pthread_mutex_lock((pthread_mutex_t *)&k->mu);
    *s = k->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct easel_buf *b = ud;
    return easel_buf_append(b, p, sz * n) == EASEL_OK ? sz * n : 0;
}

enum verb { V_GET, V_LIST, V_CREATE, V_UPDATE, V_PATCH, V_DELETE };

static const char *method_of(enum verb v)
{
    switch (v) {
    case V_CREATE: return "POST";
    case V_UPDATE: return "PUT";
    case V_PATCH: return "PATCH";
    case V_DELETE: return "DELETE";
    default: return "GET";
    }
}

/* One request. body may be NULL; content_type defaults to JSON. */
static easel_err request(struct easel_kube *k, enum verb v, const char *path,
                         const char *const *query, const char *body,
                         const char *content_type, cJSON **out,
                         struct easel_error *err)
{
    if (out)
        *out = NULL;
    /* the content types are this file's constants: one that does not fit
     * is a bug here, and a cut one would be refused by the API server */
    char ct[120];
    if (easel_snprintf(ct, sizeof(ct), "Content-Type: %s",
                       content_type ? content_type : "application/json"))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "the content type %.60s... does not fit a header", content_type);
    char *url = NULL;
    easel_err rc = kube_url(k->cfg, path, query, &url);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_NO_MEMORY,
                               "out of memory building %s", path);
    char what[400]; /* for a person (error messages): cut with "..." */
    easel_fmt_cut(what, sizeof(what), "%s %s", method_of(v), path);
    struct easel_buf resp;
    easel_buf_init(&resp, MAX_RESPONSE);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body)
        hdrs = curl_slist_append(hdrs, ct);
    char *auth = kube_auth_header(&k->auth);
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    char errbuf[CURL_ERROR_SIZE] = "";

    pthread_mutex_lock(&k->mu);
    CURL *h = k->h;
    curl_easy_reset(h); /* keeps the connection cache */
    kube_tls_setup(h, k->cfg);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_of(v));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, k->user_agent);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)k->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode cr = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    switch (v) {
    case V_GET: k->stats.get++; break;
    case V_LIST: k->stats.list++; break;
    case V_CREATE: k->stats.create++; break;
    case V_UPDATE: k->stats.update++; break;
    case V_PATCH: k->stats.patch++; break;
    case V_DELETE: k->stats.del++; break;
    }
    if (cr != CURLE_OK || status >= 400)
        k->stats.errors++;
    static const char *const verbs[] = {[V_GET] = "get", [V_LIST] = "list",
                                        [V_CREATE] = "create", [V_UPDATE] = "update",
                                        [V_PATCH] = "patch", [V_DELETE] = "delete"};
    char scode[16];
    (void)easel_snprintf(scode, sizeof(scode), "%ld", cr == CURLE_OK ? status : 0L);
    easel_metric_add(EASEL_M_KUBE_REQUESTS, (const char *const[]){verbs[v], scode}, 1);
    /* the handle must not point at this stack frame's buffers afterwards */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    pthread_mutex_unlock(&k->mu);

    if (cr != CURLE_OK) {
        rc = kube_transport_error(cr, errbuf, what, err);
    } else if (status >= 400 || status < 200) {
        rc = kube_status_error(status, resp.data, resp.len, what, err);
    } else if (out) {
        *out = resp.len ? cJSON_ParseWithLength(resp.data, resp.len) : NULL;
        if (!*out)
            rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_RETRYABLE,
                                 EASEL_R_K8S_BAD_RESPONSE, "%s: the response is not JSON", what);
    }
    easel_buf_cleanup(&resp);
    curl_slist_free_all(hdrs);
    free(auth);
    free(url);
    return rc;
}

static const char *ns_of(struct easel_kube *k, const struct easel_kube_res *r,
                         const char *ns)
{
    if (!r->namespaced)
        return NULL;
    return ns ? ns : k->cfg->namespace;
}

easel_err easel_kube_get(struct easel_kube *k, const struct easel_kube_res *r,
                         const char *ns, const char *name, cJSON **out,
                         struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), name, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "object name too long");
    return request(k, V_GET, path, NULL, NULL, NULL, out, err);
}

easel_err easel_kube_list(struct easel_kube *k, const struct easel_kube_res *r,
                          const char *ns, const char *label_selector,
                          const char *field_selector, cJSON **out,
                          struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), NULL, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "namespace too long");
    const char *q[] = {"labelSelector", label_selector, "fieldSelector",
                       field_selector, NULL, NULL};
    return request(k, V_LIST, path, q, NULL, NULL, out, err);
}

easel_err easel_kube_create(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const cJSON *obj, cJSON **out,
                            struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), NULL, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "namespace too long");
    char *body = cJSON_PrintUnformatted(obj);
    if (!body)
        return EASEL_ENOMEM;
    easel_err rc = request(k, V_CREATE, path, NULL, body, NULL, out, err);
    free(body);
    return rc;
}

easel_err easel_kube_update(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const char *name, const cJSON *obj,
                            cJSON **out, struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), name, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "object name too long");
    char *body = cJSON_PrintUnformatted(obj);
    if (!body)
        return EASEL_ENOMEM;
    easel_err rc = request(k, V_UPDATE, path, NULL, body, NULL, out, err);
    free(body);
    return rc;
}

easel_err easel_kube_patch(struct easel_kube *k, const struct easel_kube_res *r,
                           const char *ns, const char *name,
                           const char *subresource, enum easel_kube_patch type,
                           const cJSON *patch, const char *field_manager,
                           bool force, cJSON **out, struct easel_error *err)
{
    static const char *const types[] = {
        "application/merge-patch+json", "application/strategic-merge-patch+json",
        "application/json-patch+json", "application/apply-patch+yaml"};
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), name, subresource, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "object name too long");
    if (type == EASEL_PATCH_APPLY && !field_manager)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_PATCH, "server-side apply needs a field manager");
    /* JSON is YAML, so an apply body can be sent as JSON */
    char *body = cJSON_PrintUnformatted(patch);
    if (!body)
        return EASEL_ENOMEM;
    const char *q[] = {"fieldManager", field_manager, "force",
                       type == EASEL_PATCH_APPLY && force ? "true" : NULL, NULL, NULL};
    easel_err rc = request(k, V_PATCH, path, q, body, types[type], out, err);
    free(body);
    return rc;
}

easel_err easel_kube_delete(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const char *name,
                            const char *propagation, struct easel_error *err)
{
    char path[512];
    if (easel_kube_path(r, ns_of(k, r, ns), name, NULL, path, sizeof(path)))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_NAME, "object name too long");
    char body[160]; /* JSON: refused rather than cut */
    if (easel_snprintf(body, sizeof(body),
                       "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\"%s%s%s}",
                       propagation ? ",\"propagationPolicy\":\"" : "",
                       propagation ? propagation : "", propagation ? "\"" : ""))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                               "the propagation policy %.40s... is too long", propagation);
    return request(k, V_DELETE, path, NULL, body, NULL, NULL, err);
}

/* ---------------------------------------------------------------- helpers */

const char *easel_kube_str(const cJSON *obj, const char *path)
{
    return easel_json_str(obj, path);
}

static const char *meta_map(const cJSON *obj, const char *map, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), map);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *easel_kube_annotation(const cJSON *obj, const char *key)
{
    return meta_map(obj, "annotations", key);
}

const char *easel_kube_label(const cJSON *obj, const char *key)
{
    return meta_map(obj, "labels", key);
}

void easel_kube_time(int64_t wall_ms, char *dst, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(dst, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

cJSON *easel_kube_event_new(const struct easel_kube_ref *io, const char *type,
                            const char *reason, const char *message,
                            const char *host, const char *reporter)
{
    char ts[32], name[300];
    easel_kube_time(easel_wall_ms(), ts, sizeof(ts));
    /* cannot fail: at most 200 + 1 + 16 bytes; the object's name is cut to
     * 200 on purpose, the random tail keeps the Event's name unique */
    if (easel_snprintf(name, sizeof(name), "%.200s.%016llx", io->name,
                       (unsigned long long)easel_rand_below(UINT64_MAX)))
        return NULL;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON *m = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", io->ns);
    cJSON *o = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(o, "apiVersion", io->api_version);
    cJSON_AddStringToObject(o, "kind", io->kind);
    cJSON_AddStringToObject(o, "name", io->name);
    cJSON_AddStringToObject(o, "namespace", io->ns);
    if (io->uid && *io->uid)
        cJSON_AddStringToObject(o, "uid", io->uid);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message ? message : "");
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON *src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", "easel-controller");
    if (host)
        cJSON_AddStringToObject(src, "host", host);
    cJSON_AddStringToObject(ev, "reportingComponent", "easel.dev/controller");
    cJSON_AddStringToObject(ev, "reportingInstance", reporter ? reporter : "easel");
    return ev;
}
