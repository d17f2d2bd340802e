/*
 * store_int.h - what the files of pkg/store share and nobody else sees: the
 * connection object, the statement runner that turns libpq failures into
 * easel_err codes, the column decoders and the job column list.
 *
 * Names here carry the "store_" prefix; anything file-local is static.
 */
#ifndef EASEL_STORE_INT_H
#define EASEL_STORE_INT_H

#include <libpq-fe.h>

#include "easel/store.h"

/* The NOTIFY channel; spelled once so the SQL and LISTEN cannot drift. */
#define STORE_CHANNEL "easel_jobs"
/* Every event row, announced by its trigger (migration 4) as
 * "<job id> <seq>[ <channel:owner>]" for the API's streams. */
#define STORE_EVENTS_CHANNEL "easel_events"

/* Statements store_exec has prepared on this connection: parsed and
 * planned once, then run by name. Keyed by the SQL text's address (every
 * statement is a constant) and checked against a copy of the text. */
#define STORE_PREPARED_MAX 64
struct store_prepared {
    const char *key;    /* the caller's pointer */
    char *sql;          /* our copy */
};

struct easel_store {
    PGconn *conn;
    bool listening;     /* LISTEN was issued; repeated after a reconnect */
    bool listening_events; /* the same for easel_events */
    char errstr[512];   /* last failure: "SQLSTATE 23505: ..." or libpq text */
    struct store_prepared prep[STORE_PREPARED_MAX];
    int nprep;
};

/* Forgets the prepared statements (a new session has none). */
void store_prepared_reset(struct easel_store *s);

/* ---------------------------------------------------------------- sql.c */

/* Runs one parameterised statement (text parameters, text results). On
 * success *res holds a result the caller PQclear()s; on failure *res is NULL,
 * s->errstr says what happened and the return value is the mapped code:
 * EASEL_ECONN when the connection is gone, EASEL_EINVAL for data errors
 * (bad uuid, bad JSON, check constraint), EASEL_EEXISTS for unique
 * violations, EASEL_EAGAIN for serialization failures and deadlocks,
 * EASEL_ETIMEOUT for cancelled statements, EASEL_EDB otherwise. */
easel_err store_exec(struct easel_store *s, const char *sql, int nparams,
                     const char *const *params, PGresult **res);
/* Fills s->errstr from a failed result (NULL when libpq could not
 * allocate one) and returns the code for it. */
easel_err store_result_fail(struct easel_store *s, const PGresult *res);
/* Runs sql, a constant query of one nullable bigint (milliseconds until
 * something is due), into *ms: -1 for NULL (nothing is), 0 for past due. */
easel_err store_ms_until(struct easel_store *s, const char *sql, int64_t *ms);
/* Runs a constant script of several statements without parameters (the
 * migrations and BEGIN/COMMIT). Same error mapping as store_exec. */
easel_err store_exec_script(struct easel_store *s, const char *sql);
/* Records an error of our own making in s->errstr and returns code. */
easel_err store_fail(struct easel_store *s, easel_err code, const char *fmt,
                     ...) EASEL_PRINTF(3, 4);
/* For argument checks: EASEL_EINVAL, with "<what>: invalid argument" in
 * errstr when s is not NULL, so no stale message is left behind. */
easel_err store_einval(struct easel_store *s, const char *what);
/* Records the connection's current libpq error (PQerrorMessage) and returns
 * EASEL_ECONN when the connection is bad, EASEL_EDB otherwise. */
easel_err store_conn_fail(struct easel_store *s);
/* Copies libpq text into dst with newlines and tabs folded into single
 * spaces, so one error stays one log line. */
void store_flatten(char *dst, size_t dstlen, const char *src);

/* Column decoders. A NULL column gives NULL / 0. A value that does not parse
 * gives EASEL_EDB (the schema and the code disagree), never a guess. */
easel_err store_col_str(const PGresult *r, int row, int col, char **out);
easel_err store_col_i64(const PGresult *r, int row, int col, int64_t *out);
/* A real column; -1 when NULL. */
easel_err store_col_percent(const PGresult *r, int row, int col, double *out);
easel_err store_col_int(const PGresult *r, int row, int col, int *out);

/* ---------------------------------------------------------------- jobs.c */

/* The columns of a job in the order store_job_from_row reads them, taken
 * from table alias `t`: timestamps as epoch milliseconds, JSON as text. */
#define STORE_JOB_COLS(t)                                                     \
    t ".id, " t ".type, " t ".model, " t ".result_model, " t ".status, "      \
    t ".priority, " t ".idempotency_key, " t ".payload::text, "               \
    t ".input::text, " t ".metadata::text, " t ".webhook, " t ".channel, "    \
    t ".owner, " t ".attempts, " t ".max_attempts, " t ".error_class, "       \
    t ".error_reason, " t ".error_message, " t ".result::text, "              \
    t ".worker, "                                                             \
    STORE_MS(t ".created_at") ", " STORE_MS(t ".updated_at") ", "             \
    STORE_MS(t ".dispatched_at") ", " STORE_MS(t ".started_at") ", "          \
    STORE_MS(t ".finished_at") ", " STORE_MS(t ".heartbeat_at") ", "          \
    STORE_MS(t ".run_after") ", " t ".stage, " t ".percent, "                  \
    "array_to_string(" t ".webhook_events_filter, ','), "                    \
    t ".cost, " t ".credit_budget, " t ".credit_external"
#define STORE_JOB_NCOLS 33
/* timestamptz -> epoch milliseconds (bigint), NULL stays NULL. */
#define STORE_MS(x) "(extract(epoch from " x ") * 1000)::bigint"

/* Decodes STORE_JOB_COLS starting at column `first` of `row`. *out is owned
 * by the caller; NULL on failure. */
easel_err store_job_from_row(struct easel_store *s, const PGresult *r,
                             int row, int first, struct easel_job **out);

/* ---------------------------------------------------------------- migrations.c */

struct store_migration {
    int version;        /* strictly increasing, starting at 1 */
    const char *name;   /* short description, recorded with the version */
    const char *sql;    /* one or more statements, run in one transaction */
};

extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
