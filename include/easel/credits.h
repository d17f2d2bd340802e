/*
 * credits.h - credits the app keeps in its own database (registry
 * credits.mode: external; docs/credits.md#external).
 *
 * easel never holds the app's balances. It runs the app's three statements
 * with the values of the job (registry `args`), and makes each effect
 * happen once from its side:
 *   - reserve, at intake and on a manual retry, synchronously: the app's
 *     answer decides whether the job runs (false: insufficient_credits).
 *     A refund of the reservation is armed first and disarmed by the
 *     statement that records the job, so a crash in between refunds it;
 *   - consume and refund, when the job ends, through the app_calls outbox
 *     (a trigger writes the call with the job's final status), sent by a
 *     controller until the app accepts it.
 * Every call passes `key` ("<job id>/<reservation>"): the app's functions
 * make a repeated call with the same key a no-op.
 */
#ifndef EASEL_CREDITS_H
#define EASEL_CREDITS_H

#include "easel/core.h"
#include "easel/registry.h"
#include "easel/store.h"

/* Where the app's statements run: the registry's, and a connection to the
 * app's database opened on first use (and again after it drops). */
struct easel_credits_ctx {
    const struct easel_credits_cfg *cfg;
    const char *app_url;          /* --app-database-url */
    struct easel_store **app;     /* the caller's connection slot */
};

/* Does a job of this cost and owner have its credits kept by the app? */
bool easel_credits_external(const struct easel_credits_cfg *cfg, int cost, const char *owner);

/* Runs one of the app's statements for j. *truth (may be NULL) as
 * easel_store_app_exec's. Errors in err: class retryable for a connection
 * that failed (the app's database is down: call again later), permanent
 * for a statement the database refused. */
easel_err easel_credits_call(const struct easel_credits_ctx *cc, const struct easel_app_stmt *st,
                             const struct easel_app_job *j, int *truth, struct easel_error *err);

/* Runs sql with text parameters on the app's database (opened as
 * needed); *truth as easel_store_app_exec's. Errors as easel_credits_call. */
easel_err easel_credits_exec(const struct easel_credits_ctx *cc, const char *sql, int nparams,
                             const char *const *params, int *truth, struct easel_error *err);

/* Writes one record call (kind record) into the app's table by rule rr:
 * UPDATE table SET <the columns for its status> WHERE key = its key.
 * *rows is the rows it changed (0 as well when the status writes
 * nothing). EASEL_ENOTFOUND for a named variant the job did not store. */
easel_err easel_records_write(const struct easel_credits_ctx *cc,
                              const struct easel_record_rule *rr,
                              const struct easel_app_call *c, int *rows,
                              struct easel_error *err);
/* Checks every record rule's table, key and columns against the app's
 * schema; each problem goes to diags at its line. Returns how many. */
size_t easel_records_check(struct easel_store *app, const struct easel_registry *r,
                           struct easel_diags *diags);

/* Reserves j's cost in the app: arms the refund (on s, easel's store) and
 * calls reserve. *budget is the reservation number to record the job
 * with; *reserved false means the app refused (its refund is disarmed at
 * once). On an error the refund stays armed: it fires after abandon_after
 * unless the same reservation is asked for again and recorded. */
easel_err easel_credits_reserve(struct easel_store *s, const struct easel_credits_ctx *cc,
                                const struct easel_app_job *j, bool retry, int *budget,
                                bool *reserved, struct easel_error *err);

/* Checks r's credits statements and record rules against the app's
 * database. For credits: it
 * prepares each (so tables, functions and types must exist), compares its
 * $N count with args, and wants reserve to return a boolean. Problems go
 * to diags at the statement's line (a database that cannot be reached is
 * one, at the credits key); for records, every table, key and column must
 * exist. EASEL_EPARSE when there was any problem. A registry with neither
 * passes without a connection. */
easel_err easel_credits_check(const char *app_url, const struct easel_registry *r,
                              struct easel_diags *diags, struct easel_error *err);

/* The outbox sender: a thread with its own connections to easel's and the
 * app's databases, sending due app_calls with the current registry's
 * statements until the app accepts each. */
struct easel_credits_sender;
struct easel_credits_sender_opts {
    const char *database_url, *app_url;
    /* a reference to the registry in force (easel_registry_unref'd after
     * each round), or NULL */
    struct easel_registry *(*registry)(void *ud);
    void *ud;
};
easel_err easel_credits_sender_start(const struct easel_credits_sender_opts *o,
                                     struct easel_credits_sender **out,
                                     struct easel_error *err);
/* Stops the thread (at most one statement timeout) and frees it; NULL-safe. */
void easel_credits_sender_stop(struct easel_credits_sender *w);

#endif
