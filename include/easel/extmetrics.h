/*
 * extmetrics.h - the Kubernetes external metrics API
 * (external.metrics.k8s.io/v1beta1) served by the controller, so that a
 * HorizontalPodAutoscaler scales workers on the queue's backlog with neither
 * KEDA nor prometheus-adapter in the cluster.
 *
 * The kube-apiserver's aggregation layer forwards the HPA controller's
 * requests to this listener over TLS, presenting its front-proxy client
 * certificate and naming the original caller in X-Remote-User; the
 * kube-apiserver has authenticated and authorized that caller (RBAC on
 * external.metrics.k8s.io) before it forwards. This server checks that the
 * client certificate chains to --metrics-api-client-ca (and, with
 * --metrics-api-allowed-names, that its common name is one of those), so
 * only the aggregator, or a client given a certificate from the same CA,
 * gets an answer. Without a client CA it serves loopback only.
 *
 * One metric, easel_queue_backlog: pending + delayed + claimed but not
 * started (easel_queue_backlog in queue.h), selected by the labels `queue`
 * and `model` (their label form, easel_label_form).
 */
#ifndef EASEL_EXTMETRICS_H
#define EASEL_EXTMETRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "easel/core.h"

#define EASEL_EXTMETRICS_GROUP "external.metrics.k8s.io"
#define EASEL_EXTMETRICS_VERSION "v1beta1"
#define EASEL_BACKLOG_METRIC "easel_queue_backlog"
/* --metrics-api-client-ca value: the cluster's own front-proxy CA */
#define EASEL_EXTMETRICS_CLUSTER_CA "cluster"

struct easel_kube_config;

struct easel_extmetrics;

struct easel_extmetrics_opts {
    const char *addr;           /* HOST:PORT or :PORT (every address); required */
    const char *cert_file;      /* serving certificate chain (PEM); required */
    const char *key_file;       /* its private key (PEM); required */
    /* CA that signed the clients' certificates (the aggregator's
     * requestheader-client-ca-file): a PEM file, or EASEL_EXTMETRICS_CLUSTER_CA
     * to read it at start from the cluster's
     * kube-system/extension-apiserver-authentication ConfigMap (with its
     * requestheader-allowed-names when allowed_names is unset; needs kube).
     * NULL/"": no client certificate is asked, and only a loopback addr is
     * accepted. */
    const char *client_ca_file;
    /* Comma-separated common names a client certificate may carry (the
     * aggregator's requestheader-allowed-names); NULL/"": any the CA
     * signed. */
    const char *allowed_names;
    const char *redis_url;
    const char *database_url;   /* NULL: claimed jobs are not looked up */
    const char *const *queues;  /* the queues served (Redis key names) */
    size_t nqueues;
    const struct easel_kube_config *kube; /* for EASEL_EXTMETRICS_CLUSTER_CA */
};

/* Loads the certificates, binds and starts serving in threads of its own.
 * On failure (a bad or missing certificate, an address in use, a
 * non-loopback addr without a client CA) returns the error with err set
 * and *out NULL. Redis and PostgreSQL are reached per request, so either
 * may be down at start. */
easel_err easel_extmetrics_start(const struct easel_extmetrics_opts *o,
                                 struct easel_extmetrics **out, struct easel_error *err);
/* The bound port (useful with port 0); 0 for NULL. */
int easel_extmetrics_port(const struct easel_extmetrics *m);
/* Stops accepting, cuts the connections being served and waits for their
 * threads. Accepts NULL. */
void easel_extmetrics_stop(struct easel_extmetrics *m);

/* ------------------------------------------------- label selectors */

/* A parsed label selector (k8s.io/apimachinery labels.Parse grammar):
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma-joined.
 * The existence forms (`k`, `!k`) and `>`/`<` are refused. */
struct easel_selector_req {
    char key[64];
    bool negate;   /* != and notin */
    char **values;
    size_t nvalues;
};
struct easel_selector {
    struct easel_selector_req *reqs;
    size_t n;
};

/* Parses s (may be NULL or "": selects everything) into *out (cleared
 * first). Only keys listed in `keys` (NULL-terminated) are accepted. On
 * failure returns EASEL_EINVAL with a sentence in why, and *out empty. */
easel_err easel_selector_parse(const char *s, const char *const *keys,
                               struct easel_selector *out, char *why, size_t whylen);
void easel_selector_cleanup(struct easel_selector *s);
/* Whether value satisfies every requirement on key (true when there is
 * none). */
bool easel_selector_match(const struct easel_selector *s, const char *key, const char *value);
/* The one value an `=`/`==`/single `in` requirement pins key to, or NULL. */
const char *easel_selector_pinned(const struct easel_selector *s, const char *key);
bool easel_selector_has(const struct easel_selector *s, const char *key);

/* A Redis queue or model name as a label value: every character other than
 * A-Z a-z 0-9 . - _ becomes _, cut to 63 ("easel:jobs" -> "easel_jobs",
 * "qwen/qwen-image-edit" -> "qwen_qwen-image-edit"). dst has room for 64. */
void easel_label_form(const char *name, char dst[64]);

#endif
