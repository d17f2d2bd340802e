/*
 * queue_int.h - what the files of pkg/queue share and nobody else needs: the
 * connection object behind struct easel_queue, the parsed Redis URL, the
 * table of Lua scripts, and the small command layer (argument vectors,
 * pipelines, error conversion) that every operation goes through.
 *
 * Naming: functions shared between files here are prefixed queue_; the
 * public ones in include/easel/queue.h are prefixed easel_queue_.
 */
#ifndef EASEL_QUEUE_INT_H
#define EASEL_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "easel/core.h"
#include "easel/queue.h"

/* Socket read/write timeout for ordinary commands. A command that takes
 * longer breaks the connection (the reply stream would be out of step), so
 * this is generous: it only has to catch a Redis that stopped answering. */
#define QUEUE_IO_TIMEOUT_MS 10000
#define QUEUE_CONNECT_TIMEOUT_MS 5000 /* when opts.connect_timeout_ms is 0 */
#define QUEUE_LEASE_MS 30000          /* when opts.lease_ms is 0 */
#define QUEUE_MAX_CLAIM 1000          /* entries per claim call */
#define QUEUE_ADOPT_CHUNK 256         /* entries per adopt script call */
#define QUEUE_ACK_CHUNK 1000          /* ids per ZREM/HDEL command */
#define QUEUE_MAX_NAME 200            /* queue name and controller id */

/* ---------------------------------------------------------------- url.c */

#define QUEUE_MAX_SENTINELS 8

struct queue_hostport {
    char host[256];
    int port;
};

/* redis://[user:password@]host[:port][/db] or
 * redis-sentinel://[user:password@]host[:port],.../master[/db], parsed. */
struct queue_url {
    char host[256];      /* redis://: the server; sentinel: the first Sentinel */
    int port;
    int db;
    char user[128];
    char pass[256];
    bool has_user;
    bool has_pass;
    bool sentinel;
    char master[QUEUE_MAX_NAME];
    size_t nsentinels;
    struct queue_hostport sentinels[QUEUE_MAX_SENTINELS];
};

/* Parses url into *u (cleared first). On failure returns EASEL_EINVAL and
 * writes a sentence saying what is wrong into why (never the password). */
easel_err queue_url_parse(const char *url, struct queue_url *u, char *why,
                          size_t whylen);

/* ---------------------------------------------------------------- scripts.c */

enum queue_script_id {
    QUEUE_SCRIPT_CLAIM,
    QUEUE_SCRIPT_RELEASE,
    QUEUE_SCRIPT_RECOVER,
    QUEUE_SCRIPT_ADOPT,
    QUEUE_SCRIPT_RENEW,
    QUEUE_SCRIPT_TAKE_EXPIRED,
    QUEUE_SCRIPT_RETRY,
    QUEUE_SCRIPT_REQUEUE,
    QUEUE_SCRIPT_PROMOTE,
    QUEUE_SCRIPT_CANCEL_DELAYED,
    QUEUE_SCRIPT_DEAD,
    QUEUE_SCRIPT_REJECT,
    QUEUE_SCRIPT_UNDEAD,
    QUEUE_SCRIPT_STATS,
    QUEUE_SCRIPT_BREAKER_ALLOW,
    QUEUE_SCRIPT_BREAKER_RECORD,
    QUEUE_SCRIPT_RATE_TAKE,
    QUEUE_SCRIPT_SLOT_TAKE,
    QUEUE_SCRIPT_BREAKERS,
    QUEUE_SCRIPT_OLDEST,
    QUEUE_SCRIPT_POOL_PUT,
    QUEUE_SCRIPT_POOL_CLAIM,
    QUEUE_SCRIPT_BACKLOG,
    QUEUE_SCRIPT_COUNT
};

struct queue_script {
    const char *name; /* for error messages: "claim" */
    const char *src;  /* Lua source */
};

extern const struct queue_script queue_scripts[QUEUE_SCRIPT_COUNT];

/* ---------------------------------------------------------------- conn.c */

/* Key names, built once from the queue name (see include/easel/queue.h). */
enum queue_key {
    QK_PENDING,         /* Q */
    QK_INFLIGHT,        /* Q:inflight:<cid>, NULL without a controller id */
    QK_INFLIGHT_PREFIX, /* Q:inflight: (scripts append controller ids) */
    QK_CONTROLLERS,     /* Q:controllers */
    QK_LEASES,          /* Q:leases */
    QK_OWNERS,          /* Q:owners */
    QK_CLAIMS,          /* Q:claims */
    QK_DELAYED,         /* Q:delayed */
    QK_DELAYED_IDS,     /* Q:delayed:ids, job id -> delayed member */
    QK_DEAD,            /* Q:dead */
    QK_IDEM_PREFIX,     /* Q:idem: */
    QK_BREAKER_PREFIX,  /* Q:breaker: */
    QK_RATE_PREFIX,     /* Q:rate: */
    QK_RUNNING_PREFIX,  /* Q:running: */
    QK_POOL,            /* Q:pool, canonical entries for `easel worker` */
    QK_COUNT
};

struct easel_queue {
    redisContext *c;     /* NULL while disconnected */
    bool broken;         /* an I/O error happened: fail fast until reconnect */
    char errstr[256];    /* last error, "" if none */
    struct queue_url url;
    struct queue_hostport addr; /* the server dialled (Sentinel's master) */
    char *cid;           /* controller id, NULL for producers */
    int64_t lease_ms;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;  /* socket timeout currently set on c */
    char *key[QK_COUNT];
    char sha[QUEUE_SCRIPT_COUNT][41];
};

/* A command being built: argument pointers and lengths. Strings are not
 * copied (they must outlive the send) except numbers added with
 * queue_argv_i64, which live inside the struct. Allocation failures latch in
 * `oom` and are reported once when the command is sent. Initialise in place
 * (the struct points into itself). */
#define QUEUE_ARGV_INLINE 24
#define QUEUE_ARGV_NUMS 6
struct queue_argv {
    const char **v;
    size_t *len;
    size_t n, cap;
    int script; /* enum queue_script_id for the EVAL fallback, -1 if none */
    bool oom;
    int nnum;
    const char *v_inline[QUEUE_ARGV_INLINE];
    size_t len_inline[QUEUE_ARGV_INLINE];
    char num[QUEUE_ARGV_NUMS][24];
};

void queue_argv_init(struct queue_argv *a);
void queue_argv_cleanup(struct queue_argv *a);
void queue_argv_add(struct queue_argv *a, const char *s, size_t len);
void queue_argv_str(struct queue_argv *a, const char *s);
void queue_argv_i64(struct queue_argv *a, int64_t v);
void queue_argv_key(struct queue_argv *a, const struct easel_queue *q,
                    enum queue_key k);
/* Starts an EVALSHA of script s with nkeys keys; add the keys, then ARGV. */
void queue_argv_script(struct queue_argv *a, const struct easel_queue *q,
                       enum queue_script_id s, int nkeys);

/* EASEL_OK when the connection can be used, else EASEL_ECONN with errstr
 * still saying what broke it. */
easel_err queue_ready(struct easel_queue *q);
/* Records a caller mistake in errstr and returns EASEL_EINVAL. */
easel_err queue_invalid(struct easel_queue *q, const char *fmt, ...)
    EASEL_PRINTF(2, 3);
/* Records an unexpected reply shape and returns EASEL_EREDIS. */
easel_err queue_bad_reply(struct easel_queue *q, const char *what,
                          const redisReply *r);
/* Sets the socket timeout (no-op when already set to that). */
easel_err queue_set_timeout(struct easel_queue *q, int64_t ms);

/* Sends the n commands in one write and reads the n replies into r[] (all
 * NULL on failure). An EVALSHA answered with NOSCRIPT (script cache flushed,
 * e.g. after a Redis restart) is sent again as EVAL once the other replies
 * were read. Reply errors give EASEL_EREDIS, I/O errors EASEL_ECONN (and the
 * connection is marked broken); either way every reply is consumed so the
 * connection stays in step. `what` names the operation in errstr. */
easel_err queue_pipeline(struct easel_queue *q, struct queue_argv *a,
                         size_t n, const char *what, redisReply **r);
/* queue_pipeline for one command. */
easel_err queue_exec(struct easel_queue *q, struct queue_argv *a,
                     const char *what, redisReply **r);

/* One way to claim: from which list, with which script (its arguments
 * for at most max entries), and whether the script also leases the entry
 * a blocking move put in the in-flight list (else the move's reply is
 * that entry and the script is asked for one fewer). */
struct queue_claim_way {
    const char *what;
    const char *owner; /* "controller" or "worker", for messages */
    enum queue_key source;
    void (*args)(struct queue_argv *a, const struct easel_queue *q, size_t max);
    bool script_takes_moved;
};
/* Runs the claim script; when it finds nothing and block_ms > 0, blocks in
 * a BLMOVE from `source` to this owner's in-flight list (at most half the
 * lease) pipelined with the script again. Shared by a controller's claim
 * and a pool worker's. */
easel_err queue_claim_from(struct easel_queue *q, const struct queue_claim_way *w,
                           size_t max, int64_t block_ms, struct easel_queue_entry *out,
                           size_t *n);

/* With Sentinel, waits (WAIT 1) until a replica has what this connection
 * wrote, at most QUEUE_WAIT_REPLICA_MS: what must survive a failover (an
 * adoption, whose job id the Postgres row will carry; a submitted entry)
 * is on two servers before anything depends on it. No replica in time is
 * a warning, not an error. A no-op without Sentinel. */
#define QUEUE_WAIT_REPLICA_MS 500
easel_err queue_wait_replicas(struct easel_queue *q, const char *what);

/* Copies the string elements of array reply r (from element `from` on) into
 * out[*n...], at most max in total, stamping claimed_us. On failure frees
 * what it added and leaves *n as it was. */
easel_err queue_take_strings(struct easel_queue *q, const redisReply *r,
                             size_t from, struct easel_queue_entry *out,
                             size_t max, size_t *n, const char *what);

/* Job ids are UUIDs in practice; the API hands them out in 37-byte arrays,
 * so anything longer than EASEL_UUID_LEN is refused up front. */
easel_err queue_check_id(struct easel_queue *q, const char *job_id);

#endif
