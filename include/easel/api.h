/*
 * api.h - the HTTP API every controller replica serves: jobs, queues, dead
 * letters, models, the worker endpoints existing apps call, health and
 * the OpenAPI document.
 *
 * One libwebsockets service thread owns every socket and never touches
 * Redis or Postgres; requests that need them go to a small pool of threads,
 * each with its own connections, and come back to the service thread to be
 * written. So a slow query holds one pool thread, never the other clients
 * and never the controller's claim path.
 */
#ifndef EASEL_API_H
#define EASEL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easel/core.h"
#include "easel/registry.h"

/* What the API may ask of the controller it runs in. Every hook is called
 * from a pool thread and must be thread-safe; any may be NULL. */
struct easel_api_worker_state {
    char controller_id[96];
    bool paused;        /* claiming stopped by /worker/stop or config */
    int concurrency;    /* attempts held at once */
    int slots_used;     /* held now (running, waiting, handed over) */
    int64_t started_ms; /* wall clock */
    bool draining;      /* stopping: finishing running attempts, claiming nothing */
    int64_t loop_age_ms; /* since the main loop last went round; -1: no loop */
};
/* /healthz answers 503 when the main loop has not gone round for this long
 * (it wakes at least once a second, whatever the load). */
#define EASEL_API_LOOP_STALL_MS 60000
struct easel_api_hooks {
    void *ud;
    /* The registry in force: a new reference (easel_registry_unref). */
    struct easel_registry *(*registry)(void *ud);
    void (*worker_state)(void *ud, struct easel_api_worker_state *out);
    void (*set_paused)(void *ud, bool paused);
    /* EASEL_EINVAL when n is out of range. */
    easel_err (*set_concurrency)(void *ud, int n);
};

struct easel_job;
/* The job as GET /v1/jobs/{id} shows it; base_url ("http://host:port")
 * prefixes its urls. A new object the caller cJSON_Delete()s, NULL when
 * memory ran out. Thread-safe. */
cJSON *easel_api_job_view(const char *base_url, const struct easel_job *j);

struct easel_credit_account;
/* An owner's account as GET /v1/credits/{owner} shows it: owner, balance,
 * reserved, the entries a holds, and next_before (the last entry's id when
 * a holds a full page of limit entries, else null). NULL when memory ran
 * out. */
cJSON *easel_api_credits_view(const char *owner, const struct easel_credit_account *a,
                              size_t limit);

/* --http-addr's default. Without a tokens file it binds 127.0.0.1 instead. */
#define EASEL_API_DEFAULT_ADDR "0.0.0.0:8080"

struct easel_pose_service;
struct easel_fetch_opts;
struct easel_image_limits;

struct easel_api_opts {
    const char *addr;          /* "HOST:PORT"; "" or NULL: no API */
    const char *tokens_file;   /* YAML; NULL/"": loopback only, no tokens */
    const char *redis_url;
    const char *database_url;
    const char *app_database_url; /* credits.mode external; NULL: none */
    const char *queue;         /* pending list key */
    const char *controller_id; /* who owns leases (for queue connections) */
    int64_t lease_ms;
    int64_t max_body;          /* bytes */
    int64_t header_timeout_ms; /* a request's head must arrive within */
    int64_t body_timeout_ms;   /* and its body within */
    int64_t idle_timeout_ms;   /* an idle keep-alive connection is closed */
    int max_connections;
    /* Requests per second each token may make (each client address, when
     * there are no tokens), with bursts of twice that; past it 429 with
     * Retry-After. 0: no limit. */
    int rate_limit;
    int max_waiting;           /* Prefer: wait requests held at once; past it 429 */
    int threads;               /* pool threads (each: one Redis, one Postgres); 0: per CPU */
    /* Origins whose pages may call the API from a browser (CORS), comma-
     * separated, or "*"; NULL/"": no CORS headers. */
    const char *cors_origins;
    int64_t stream_heartbeat_ms; /* SSE comment / WebSocket ping on idle streams */
    int64_t stream_max_buffer;   /* unread bytes of live events; past it: catch up later */
    int64_t stream_stall_ms;     /* a client that reads nothing this long is cut off */
    struct easel_api_hooks hooks;
    /* POST /estimate-body: the pose models (NULL: the route answers 503),
     * how an image_url is fetched (http(s) and data: only; NULL: image
     * uploads only), the image limits, and the largest body the route
     * takes (uploads are bigger than the other routes' JSON). */
    struct easel_pose_service *pose;
    const struct easel_fetch_opts *fetch;
    const struct easel_image_limits *image_limits;
    int64_t max_image_body;
};

struct easel_api;

/* Binds, loads the tokens and starts the service and pool threads. Refuses
 * (EASEL_EINVAL, with a sentence in err) a non-loopback address without a
 * tokens file; the default address "0.0.0.0:PORT" without tokens binds
 * 127.0.0.1:PORT instead and says so. EASEL_ECONN when the port cannot be
 * bound. */
easel_err easel_api_start(const struct easel_api_opts *o, struct easel_api **out,
                          struct easel_error *err);

/* The port actually bound (useful with port 0). */
int easel_api_port(const struct easel_api *a);

/* Stops accepting, ends the threads and frees everything; NULL-safe.
 * Requests still in the pool are answered 503 or dropped. */
void easel_api_stop(struct easel_api *a);

#endif
