/*
 * kube.h - a Kubernetes API client written for a controller: configuration
 * from a kubeconfig or the pod's service account, one reused connection per
 * client, typed errors that keep the API's Status reason and message, and
 * list-then-watch streams that survive disconnects and 410 Gone.
 *
 * Objects are cJSON trees in the API's own JSON form; this layer does not
 * model kinds. A client (struct easel_kube) is safe to share between
 * threads: requests on it are serialised on one connection. A watch owns its
 * own connection and thread.
 */
#ifndef EASEL_KUBE_H
#define EASEL_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "easel/core.h"

/* ------------------------------------------------------------ configuration */

struct easel_kube_config {
    char *server;          /* "https://10.0.0.1:443", no trailing slash */
    char *ca_pem;          /* CA bundle, PEM text (from -data or a file) */
    size_t ca_len;
    bool insecure;         /* insecure-skip-tls-verify */
    char *token;           /* static bearer token */
    char *token_file;      /* re-read whenever it changes (kubelet rotation) */
    char *cert_pem, *key_pem;      /* client certificate and key, PEM */
    size_t cert_len, key_len;
    char *namespace;       /* context namespace, or the pod's; "default" */
    char *context;         /* kubeconfig context used, or "in-cluster" */
    char *source;          /* for messages: the file, or "in-cluster" */
};

/* Finds and loads the configuration, in the order kubectl uses:
 *   path (--kubeconfig) if given; else $KUBECONFIG (first file of a
 *   colon-separated list); else in-cluster when KUBERNETES_SERVICE_HOST is
 *   set; else ~/.kube/config.
 * context NULL = the file's current-context. Errors name the file and the
 * entry that is missing or wrong. */
easel_err easel_kube_config_load(const char *path, const char *context,
                                 struct easel_kube_config **out,
                                 struct easel_error *err);
/* Parses kubeconfig YAML text (source is used in messages). */
easel_err easel_kube_config_parse(const char *text, size_t len,
                                  const char *source, const char *context,
                                  struct easel_kube_config **out,
                                  struct easel_error *err);
/* The pod's service account: KUBERNETES_SERVICE_HOST/PORT and the files
 * under dir (NULL = /var/run/secrets/kubernetes.io/serviceaccount). */
easel_err easel_kube_config_in_cluster(const char *dir,
                                       struct easel_kube_config **out,
                                       struct easel_error *err);
void easel_kube_config_free(struct easel_kube_config *c);

/* ------------------------------------------------------------------ client */

/* A resource type: where its objects live in the API. */
struct easel_kube_res {
    const char *group;     /* "" for the core group */
    const char *version;   /* "v1" */
    const char *resource;  /* plural, "jobs" */
    const char *kind;      /* "Job" */
    bool namespaced;
};
extern const struct easel_kube_res easel_kube_jobs;       /* batch/v1 */
extern const struct easel_kube_res easel_kube_pods;       /* v1 */
extern const struct easel_kube_res easel_kube_events;     /* v1 */
extern const struct easel_kube_res easel_kube_configmaps; /* v1 */
extern const struct easel_kube_res easel_kube_secrets;    /* v1 */
extern const struct easel_kube_res easel_kube_leases;     /* coordination.k8s.io/v1 */

struct easel_kube;

struct easel_kube_opts {
    int64_t timeout_ms;         /* per request (not watches); 0 = 30 s */
    int64_t connect_timeout_ms; /* 0 = 10 s */
    const char *user_agent;     /* NULL = "easel/<version>" */
};

/* The client copies what it needs from the configuration. */
easel_err easel_kube_new(const struct easel_kube_config *c,
                         const struct easel_kube_opts *o,
                         struct easel_kube **out, struct easel_error *err);
void easel_kube_free(struct easel_kube *k);
const struct easel_kube_config *easel_kube_cfg(const struct easel_kube *k);

/* Counters for benchmarks and metrics: requests by verb since creation. */
struct easel_kube_stats {
    uint64_t get, list, create, update, patch, del, watch;
    uint64_t errors;     /* responses >= 400 and transport failures */
};
void easel_kube_stats(const struct easel_kube *k, struct easel_kube_stats *s);

/*
 * Every call returns EASEL_OK or an error with err filled:
 *   err->http_status  the HTTP status (0 for a transport failure)
 *   err->reason       the Status reason ("NotFound", "AlreadyExists",
 *                     "Conflict", "Invalid", "Expired", "Forbidden", ...),
 *                     or "ConnectionFailed" / "Timeout"
 *   err->msg          the Status message
 *   err->cls          RETRYABLE for transport errors, 429, 5xx, 409
 *                     Conflict; PERMANENT otherwise
 * and the code: EASEL_ENOTFOUND (404), EASEL_EEXISTS (409 AlreadyExists),
 * EASEL_ECONFLICT (409 Conflict), EASEL_EINVAL (400, 422), EASEL_ECONN,
 * EASEL_ETIMEOUT, EASEL_EHTTP (anything else).
 *
 * ns is ignored for cluster-scoped resources; NULL = the config's namespace.
 * *out (may be NULL when the caller does not want it) receives the parsed
 * response object, to be freed with cJSON_Delete.
 */
easel_err easel_kube_get(struct easel_kube *k, const struct easel_kube_res *r,
                         const char *ns, const char *name, cJSON **out,
                         struct easel_error *err);
/* label and field selectors may be NULL. ns "" = all namespaces. */
easel_err easel_kube_list(struct easel_kube *k, const struct easel_kube_res *r,
                          const char *ns, const char *label_selector,
                          const char *field_selector, cJSON **out,
                          struct easel_error *err);
easel_err easel_kube_create(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const cJSON *obj, cJSON **out,
                            struct easel_error *err);
/* PUT: optimistic concurrency through obj's metadata.resourceVersion. */
easel_err easel_kube_update(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const char *name, const cJSON *obj,
                            cJSON **out, struct easel_error *err);

enum easel_kube_patch {
    EASEL_PATCH_MERGE = 0,   /* application/merge-patch+json (RFC 7386) */
    EASEL_PATCH_STRATEGIC,   /* application/strategic-merge-patch+json */
    EASEL_PATCH_JSON,        /* application/json-patch+json (RFC 6902) */
    EASEL_PATCH_APPLY,       /* server-side apply, needs field_manager */
};
/* subresource NULL or "status". field_manager may be NULL except for APPLY;
 * force only applies to APPLY. */
easel_err easel_kube_patch(struct easel_kube *k, const struct easel_kube_res *r,
                           const char *ns, const char *name,
                           const char *subresource, enum easel_kube_patch type,
                           const cJSON *patch, const char *field_manager,
                           bool force, cJSON **out, struct easel_error *err);
/* propagation: "Background", "Foreground", "Orphan" or NULL (server's). */
easel_err easel_kube_delete(struct easel_kube *k, const struct easel_kube_res *r,
                            const char *ns, const char *name,
                            const char *propagation, struct easel_error *err);

/* The path of a collection or an object, for logs and tests:
 * "/apis/batch/v1/namespaces/ns/jobs/name". */
easel_err easel_kube_path(const struct easel_kube_res *r, const char *ns,
                          const char *name, const char *sub, char *dst,
                          size_t len);

/* ------------------------------------------------------------------- watch */

/*
 * A watch keeps a local view of the objects a selector matches, from a list
 * followed by a watch from the list's resourceVersion. It reconnects with
 * backoff when the stream ends or fails, resumes from the last
 * resourceVersion it saw (bookmarks included), and relists on 410 Gone,
 * reporting what changed meanwhile (objects gone while it was away come out
 * as DELETED). Never a periodic list.
 *
 * It runs in its own thread and queues events; the owner takes them from
 * its own loop: poll easel_kube_watch_fd() for readability, then call
 * easel_kube_watch_next() until it returns false.
 */
enum easel_kube_ev { EASEL_KUBE_ADDED = 0, EASEL_KUBE_MODIFIED, EASEL_KUBE_DELETED };

struct easel_kube_watch_opts {
    const struct easel_kube_res *res;
    const char *ns;              /* NULL = config namespace, "" = all */
    const char *label_selector;  /* may be NULL */
    const char *field_selector;  /* may be NULL */
    int timeout_s;               /* server-side stream length; 0 = 300 */
    int64_t backoff_initial_ms;  /* 0 = 200 ms */
    int64_t backoff_max_ms;      /* 0 = 30 s */
};

struct easel_kube_watch;

easel_err easel_kube_watch_start(const struct easel_kube_config *c,
                                 const struct easel_kube_watch_opts *o,
                                 struct easel_kube_watch **out,
                                 struct easel_error *err);
/* Stops the thread and frees everything, queued events included. */
void easel_kube_watch_stop(struct easel_kube_watch *w);
int easel_kube_watch_fd(const struct easel_kube_watch *w);
/* Takes the next event; *obj is the caller's (cJSON_Delete). */
bool easel_kube_watch_next(struct easel_kube_watch *w, enum easel_kube_ev *type,
                           cJSON **obj);
/* True once the first list has been delivered in full (the view is
 * complete: an object absent from it does not exist). */
bool easel_kube_watch_synced(const struct easel_kube_watch *w);

struct easel_kube_watch_stats {
    uint64_t lists;        /* initial list + relists */
    uint64_t watches;      /* watch requests opened */
    uint64_t expired;      /* 410 Gone answers */
    uint64_t bookmarks;
    uint64_t events;       /* events queued */
};
void easel_kube_watch_stats(struct easel_kube_watch *w,
                            struct easel_kube_watch_stats *s);

/* ---------------------------------------------------------------- helpers */

/* Reads a string at a dotted path ("metadata.annotations.x"); NULL if
 * absent. Keys containing dots cannot be reached this way: use
 * easel_kube_annotation for annotations and labels. */
const char *easel_kube_str(const cJSON *obj, const char *path);
const char *easel_kube_annotation(const cJSON *obj, const char *key);
const char *easel_kube_label(const cJSON *obj, const char *key);

/* A core/v1 Event about an object (what `kubectl describe` lists):
 * involved = {apiVersion, kind, name, namespace, uid (may be NULL)}; type
 * "Normal" or "Warning"; reason a CamelCase word; a unique name derived
 * from the object's. reporter names this controller instance. */
struct easel_kube_ref {
    const char *api_version, *kind, *name, *ns, *uid;
};
cJSON *easel_kube_event_new(const struct easel_kube_ref *involved, const char *type,
                            const char *reason, const char *message,
                            const char *host, const char *reporter);

/* ----------------------------------------------------------------- events */

/*
 * The controller's one writer of Events and status annotations
 * (pkg/kube/events.c): a bounded queue and one thread with its own API
 * connection. Callers never wait on the API server; when the queue is full
 * a write is dropped, counted and logged. Repeats of an Event (same object,
 * type, reason and message) are folded into one with a count, and one
 * written in the last ten minutes is updated (count, lastTimestamp) instead
 * of written again. All calls are thread-safe.
 */
struct easel_kube_recorder;
struct easel_kube_recorder_opts {
    size_t capacity;       /* queued writes; 0 = 512 */
    int64_t timeout_ms;    /* per request; 0 = 10 s */
    const char *host;      /* Event source.host; NULL = this host's name */
    const char *reporter;  /* reportingInstance; NULL = host */
};
struct easel_kube_recorder_stats {
    uint64_t queued;   /* accepted into the queue */
    uint64_t folded;   /* repeats folded into a queued Event */
    uint64_t written;  /* written (or updated) */
    uint64_t failed;   /* the API refused or did not answer */
    uint64_t dropped;  /* queue full, stopping, or out of memory */
    size_t pending;    /* in the queue now */
};
/* Connects (its own client, cfg copied) and starts the thread. */
easel_err easel_kube_recorder_new(const struct easel_kube_config *cfg,
                                  const struct easel_kube_recorder_opts *o,
                                  struct easel_kube_recorder **out,
                                  struct easel_error *err);
/* Writes what is queued for up to drain_ms more (plus one request's
 * timeout), drops the rest, stops the thread and frees. NULL is fine. */
void easel_kube_recorder_free(struct easel_kube_recorder *r, int64_t drain_ms);
/* Queues an Event about io; never blocks on the API. false: dropped (or r
 * NULL). */
bool easel_kube_record(struct easel_kube_recorder *r, const struct easel_kube_ref *io,
                       const char *type, const char *reason, const char *fmt, ...)
    EASEL_PRINTF(5, 6);
/* Queues a merge patch of an object (a Job's status annotations). Takes
 * patch, also on failure. A 404 when written is not an error. */
bool easel_kube_recorder_patch(struct easel_kube_recorder *r,
                               const struct easel_kube_res *res, const char *ns,
                               const char *name, cJSON *patch);
void easel_kube_recorder_stats(struct easel_kube_recorder *r,
                               struct easel_kube_recorder_stats *s);

/* RFC 3339 time in UTC with seconds ("2026-11-23T07:31:19Z"), as the API
 * writes Time fields. */
void easel_kube_time(int64_t wall_ms, char *dst, size_t len);

/* Decodes standard base64 (kubeconfig *-data fields, Secret data),
 * ignoring whitespace. *out is malloc'd and NUL-terminated. */
easel_err easel_kube_b64decode(const char *in, char **out, size_t *len);

#endif
