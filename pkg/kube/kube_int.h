/*
 * kube_int.h - internals shared by pkg/kube's files.
 */
#ifndef EASEL_KUBE_INT_H
#define EASEL_KUBE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <curl/curl.h>

#include "easel/kube.h"
#include "easel/yamljson.h"


/* Applies the configuration's TLS and auth settings to a curl handle and
 * builds the request headers (Authorization from the token or the token
 * file, re-read when it changes). `hdrs` is appended to. */
struct kube_auth {
    pthread_mutex_t mu;
    char *token;              /* current bearer token */
    char *token_file;
    int64_t token_mtime_ns;   /* of token_file when last read */
};
void kube_auth_init(struct kube_auth *a, const struct easel_kube_config *c);
void kube_auth_cleanup(struct kube_auth *a);
/* Returns a malloc'd "Authorization: Bearer ..." header or NULL. */
char *kube_auth_header(struct kube_auth *a);
void kube_tls_setup(CURL *h, const struct easel_kube_config *c);

/* Sleeps up to ms on cv (with mu) unless *stop becomes true; returns false
 * when stopping. Used by the watch and leader-election threads. */
bool kube_nap(pthread_mutex_t *mu, pthread_cond_t *cv, atomic_bool *stop, int64_t ms);

/* Copies a configuration (the client and watches keep their own). */
struct easel_kube_config *kube_config_dup(const struct easel_kube_config *c);

/* Fills err from an HTTP status and response body (a Status object when the
 * API server wrote one). Returns the easel_err code. */
easel_err kube_status_error(long code, const char *body, size_t len,
                            const char *what, struct easel_error *err);
/* Fills err for a curl failure. */
easel_err kube_transport_error(CURLcode rc, const char *errbuf,
                               const char *what, struct easel_error *err);

/* Builds "<path>?<query>" for a request: selectors are URL-encoded. */
easel_err kube_url(const struct easel_kube_config *c, const char *path,
                   const char *const *query, char **out);

/* The readers of watch.c apart from the connection, for tests/fuzz. An
 * offline watch has no thread, connection or event fd: what the readers
 * queue is taken with easel_kube_watch_next, and easel_kube_watch_stop
 * frees it. */
struct easel_kube_watch *kube_watch_offline(const struct easel_kube_res *res);
/* A 200 answer to the list: parses it, queues ADDED/MODIFIED/DELETED
 * against what the watch had seen, and makes the list its view and
 * resourceVersion. EASEL_EPARSE (retryable, in err) when it is not JSON. */
easel_err kube_watch_list_body(struct easel_kube_watch *w, const char *body, size_t len,
                               const char *what, struct easel_error *err);
/* A watch answer's bytes, handed to the stream reader `chunk` bytes at a
 * time (0 = all at once) as curl would: each complete line is one event.
 * EASEL_OK when every byte was read; EASEL_ECONFLICT when an ERROR event
 * said 410 Gone, EASEL_EHTTP for another ERROR event or a malformed line
 * (the reader's message in why), EASEL_ENOMEM when a line outgrew its cap. */
easel_err kube_watch_stream_body(struct easel_kube_watch *w, const char *body, size_t len,
                                 size_t chunk, char *why, size_t whylen);

#endif
