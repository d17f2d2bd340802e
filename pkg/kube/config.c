/*
 * config.c - where the API server is and how to talk to it: kubeconfig
 * files (as kubectl reads them) and the in-cluster service account.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "easel/yamljson.h"
#include "kube_int.h"

#define KUBECONFIG_MAX (4 * 1024 * 1024)
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* ----------------------------------------------------------------- base64 */

easel_err easel_kube_b64decode(const char *in, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t n = strlen(in);
    char *clean = malloc(n + 4);
    if (!clean)
        return EASEL_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')) {
            free(clean);
            return EASEL_EPARSE;
        }
        clean[m++] = c;
    }
    while (m % 4)
        clean[m++] = '='; /* tolerate missing padding */
    unsigned char *buf = malloc(m / 4 * 3 + 1);
    if (!buf) {
        free(clean);
        return EASEL_ENOMEM;
    }
    int got = m ? EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)m) : 0;
    if (got < 0) {
        free(clean);
        free(buf);
        return EASEL_EPARSE;
    }
    /* EVP_DecodeBlock counts padding as zero bytes. More than two '='
     * (a length of 4n+1, or '=' alone) is no base64: without this check
     * the count went below zero and the NUL below was written before buf. */
    size_t pad = 0;
    for (size_t i = m; i > 0 && clean[i - 1] == '='; i--)
        pad++;
    free(clean);
    if (pad > 2 || (size_t)got < pad) {
        free(buf);
        return EASEL_EPARSE;
    }
    got -= (int)pad;
    buf[got] = '\0';
    *out = (char *)buf;
    *len = (size_t)got;
    return EASEL_OK;
}

/* ------------------------------------------------------------- kubeconfig */

void easel_kube_config_free(struct easel_kube_config *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->ca_pem);
    free(c->token);
    free(c->token_file);
    free(c->cert_pem);
    free(c->key_pem);
    free(c->namespace);
    free(c->context);
    free(c->source);
    free(c);
}

static char *dup_mem(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

struct easel_kube_config *kube_config_dup(const struct easel_kube_config *c)
{
    struct easel_kube_config *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    bool ok = true;
#define DUP(f) if (c->f && !(d->f = strdup(c->f))) ok = false
    DUP(server);
    DUP(token);
    DUP(token_file);
    DUP(namespace);
    DUP(context);
    DUP(source);
#undef DUP
#define DUPM(f, l) if (c->f && !(d->f = dup_mem(c->f, c->l))) ok = false; d->l = c->l
    DUPM(ca_pem, ca_len);
    DUPM(cert_pem, cert_len);
    DUPM(key_pem, key_len);
#undef DUPM
    d->insecure = c->insecure;
    if (!ok) {
        easel_kube_config_free(d);
        return NULL;
    }
    return d;
}

/* Finds the entry `name` in a kubeconfig list ("clusters", "users",
 * "contexts") and returns its inner object ("cluster", "user", "context"). */
static const cJSON *named(const cJSON *root, const char *list, const char *inner,
                          const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, list))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return cJSON_GetObjectItemCaseSensitive(it, inner);
    }
    return NULL;
}

static const char *str_at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Relative file paths in a kubeconfig are relative to the file itself. */
static char *resolve(const char *source, const char *p)
{
    if (p[0] == '/' || !source || !strchr(source, '/'))
        return strdup(p);
    const char *slash = strrchr(source, '/');
    return easel_asprintf("%.*s/%s", (int)(slash - source), source, p);
}

/* Loads "<key>-data" (base64) or "<key>" (a file) into *pem. */
static easel_err load_pem(const cJSON *o, const char *key, const char *source,
                          char **pem, size_t *len, struct easel_error *err)
{
    /* key is one of this file's names ("certificate-authority"): a cut
     * one would look up another field, so one too long is a bug here */
    char dkey[64];
    if (easel_snprintf(dkey, sizeof(dkey), "%s-data", key))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "%s: the kubeconfig field %.40s... is too long to look up", source,
                               key);
    const char *data = str_at(o, dkey), *file = str_at(o, key);
    if (data) {
        if (easel_kube_b64decode(data, pem, len) != EASEL_OK)
            return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT,
                                   EASEL_R_BAD_KUBECONFIG, "%s: %s is not valid base64",
                                   source, dkey);
        return EASEL_OK;
    }
    if (file) {
        char *path = resolve(source, file);
        if (!path)
            return EASEL_ENOMEM;
        easel_err rc = easel_read_file(path, 1 << 20, pem, len);
        if (rc)
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KUBECONFIG,
                            "%s: cannot read %s %s: %s", source, key, path,
                            easel_strerror(rc));
        free(path);
        return rc;
    }
    return EASEL_OK;
}

easel_err easel_kube_config_parse(const char *text, size_t len,
                                  const char *source, const char *context,
                                  struct easel_kube_config **out,
                                  struct easel_error *err)
{
    *out = NULL;
    cJSON *root = NULL;
    char why[200];
    easel_err rc = easel_yaml_text_to_json(text, len, &root, why, sizeof(why));
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_KUBECONFIG,
                               "%s: %s", source, why[0] ? why : "unreadable");
    struct easel_kube_config *c = calloc(1, sizeof(*c));
    if (!c) {
        cJSON_Delete(root);
        return EASEL_ENOMEM;
    }
    const char *ctx_name = context && *context ? context : str_at(root, "current-context");
    const cJSON *ctx = ctx_name ? named(root, "contexts", "context", ctx_name) : NULL;
    if (!ctx) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_BAD_KUBECONFIG,
                             ctx_name ? "%s: context \"%s\" is not defined"
                                      : "%s: no current-context and no --context%s",
                             source, ctx_name ? ctx_name : "");
        goto fail;
    }
    const char *cluster_name = str_at(ctx, "cluster");
    const char *user_name = str_at(ctx, "user");
    const cJSON *cluster = cluster_name ? named(root, "clusters", "cluster", cluster_name) : NULL;
    if (!cluster || !str_at(cluster, "server")) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_BAD_KUBECONFIG,
                             "%s: context \"%s\" names cluster \"%s\", which is not defined or has no server",
                             source, ctx_name, cluster_name ? cluster_name : "");
        goto fail;
    }
    const cJSON *user = user_name ? named(root, "users", "user", user_name) : NULL;
    if (user_name && !user) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_BAD_KUBECONFIG,
                             "%s: context \"%s\" names user \"%s\", which is not defined",
                             source, ctx_name, user_name);
        goto fail;
    }
    const char *server = str_at(cluster, "server");
    size_t sl = strlen(server);
    while (sl > 0 && server[sl - 1] == '/')
        sl--;
    c->server = easel_strndup(server, sl);
    c->context = strdup(ctx_name);
    c->source = strdup(source);
    const char *ns = str_at(ctx, "namespace");
    c->namespace = strdup(ns ? ns : "default");
    c->insecure = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify"));
    if (!c->server || !c->context || !c->source || !c->namespace) {
        rc = EASEL_ENOMEM;
        goto fail;
    }
    if ((rc = load_pem(cluster, "certificate-authority", source, &c->ca_pem,
                       &c->ca_len, err)))
        goto fail;
    if (user) {
        if ((rc = load_pem(user, "client-certificate", source, &c->cert_pem,
                           &c->cert_len, err)) ||
            (rc = load_pem(user, "client-key", source, &c->key_pem, &c->key_len, err)))
            goto fail;
        const char *tok = str_at(user, "token"), *tf = str_at(user, "tokenFile");
        if (tok && !(c->token = strdup(tok))) {
            rc = EASEL_ENOMEM;
            goto fail;
        }
        if (!tok && tf && !(c->token_file = resolve(source, tf))) {
            rc = EASEL_ENOMEM;
            goto fail;
        }
        if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
            cJSON_GetObjectItemCaseSensitive(user, "auth-provider")) {
            if (!c->token && !c->token_file && !c->cert_pem) {
                rc = easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                                     EASEL_R_BAD_KUBECONFIG,
                                     "%s: user \"%s\" authenticates with an exec or auth-provider plugin, which easel does not run; use a token, a token file or a client certificate",
                                     source, user_name);
                goto fail;
            }
        }
        if (!!c->cert_pem != !!c->key_pem) {
            rc = easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                                 EASEL_R_BAD_KUBECONFIG,
                                 "%s: user \"%s\" has a client certificate without a key, or a key without a certificate",
                                 source, user_name);
            goto fail;
        }
    }
    cJSON_Delete(root);
    *out = c;
    return EASEL_OK;
fail:
    cJSON_Delete(root);
    easel_kube_config_free(c);
    return rc;
}

easel_err easel_kube_config_in_cluster(const char *dir,
                                       struct easel_kube_config **out,
                                       struct easel_error *err)
{
    *out = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host)
        return easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                               EASEL_R_NO_CLUSTER,
                               "not in a cluster: KUBERNETES_SERVICE_HOST is not set");
    if (!dir)
        dir = SA_DIR;
    struct easel_kube_config *c = calloc(1, sizeof(*c));
    if (!c)
        return EASEL_ENOMEM;
    /* an IPv6 service address needs brackets in a URL */
    c->server = easel_asprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
                               host, port && *port ? port : "443");
    c->token_file = easel_asprintf("%s/token", dir);
    c->context = strdup("in-cluster");
    c->source = strdup("in-cluster");
    char *path = easel_asprintf("%s/ca.crt", dir);
    easel_err rc = EASEL_OK;
    if (!c->server || !c->token_file || !c->context || !c->source || !path) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    if (access(c->token_file, R_OK) != 0) {
        rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                             EASEL_R_NO_CLUSTER,
                             "in-cluster: cannot read the service-account token %s: %s",
                             c->token_file, strerror(errno));
        goto out;
    }
    rc = easel_read_file(path, 1 << 20, &c->ca_pem, &c->ca_len);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NO_CLUSTER,
                        "in-cluster: cannot read the cluster CA %s: %s", path,
                        easel_strerror(rc));
        goto out;
    }
    free(path);
    path = easel_asprintf("%s/namespace", dir);
    char *ns = NULL;
    size_t nl = 0;
    if (path && easel_read_file(path, 256, &ns, &nl) == EASEL_OK) {
        while (nl > 0 && (ns[nl - 1] == '\n' || ns[nl - 1] == ' '))
            ns[--nl] = '\0';
    }
    c->namespace = ns && *ns ? ns : strdup("default");
    if (ns && !*ns)
        free(ns);
    if (!c->namespace)
        rc = EASEL_ENOMEM;
out:
    free(path);
    if (rc) {
        easel_kube_config_free(c);
        return rc;
    }
    *out = c;
    return EASEL_OK;
}

easel_err easel_kube_config_load(const char *path, const char *context,
                                 struct easel_kube_config **out,
                                 struct easel_error *err)
{
    *out = NULL;
    char *chosen = NULL;
    if (path && *path) {
        chosen = strdup(path);
    } else {
        const char *env = getenv("KUBECONFIG");
        if (env && *env) {
            /* kubectl merges every file of the list; easel reads the first
             * one that exists */
            char *list = strdup(env), *save = NULL;
            for (char *p = list ? strtok_r(list, ":", &save) : NULL; p && !chosen;
                 p = strtok_r(NULL, ":", &save))
                if (access(p, R_OK) == 0)
                    chosen = strdup(p);
            free(list);
        } else if (getenv("KUBERNETES_SERVICE_HOST")) {
            return easel_kube_config_in_cluster(NULL, out, err);
        } else {
            const char *home = getenv("HOME");
            chosen = easel_asprintf("%s/.kube/config", home && *home ? home : "/root");
        }
    }
    if (!chosen)
        return easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                               EASEL_R_NO_CLUSTER,
                               "no kubeconfig: none of the files in KUBECONFIG is readable");
    char *text = NULL;
    size_t len = 0;
    easel_err rc = easel_read_file(chosen, KUBECONFIG_MAX, &text, &len);
    if (rc) {
        easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_NO_CLUSTER,
                        "cannot read the kubeconfig %s: %s", chosen,
                        easel_strerror(rc));
        free(chosen);
        return rc;
    }
    rc = easel_kube_config_parse(text, len, chosen, context, out, err);
    free(text);
    free(chosen);
    return rc;
}
