/*
 * external.c - the app's credit statements: building their parameters
 * from a job, the reservation protocol, and the check of a registry
 * against the app's schema (include/easel/credits.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "easel/credits.h"

#define BOOLOID 16 /* pg_type.oid of boolean */

bool easel_credits_external(const struct easel_credits_cfg *cfg, int cost, const char *owner)
{
    return cfg && cfg->external && cost > 0 && owner && *owner;
}

/* The connection, (re)opened when there is none. */
static easel_err app_conn(const struct easel_credits_ctx *cc, struct easel_error *err)
{
    if (*cc->app)
        return EASEL_OK;
    if (!cc->app_url || !*cc->app_url)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_INVALID_ARGUMENT,
                               "credits mode external needs --app-database-url "
                               "(EASEL_APP_DATABASE_URL)");
    struct easel_error e;
    easel_error_clear(&e);
    easel_err rc = easel_store_open(cc->app_url, cc->app, &e);
    if (rc)
        easel_error_set(err, rc, e.cls, e.why, "the app's database: %s", e.msg);
    return rc;
}

easel_err easel_credits_exec(const struct easel_credits_ctx *cc, const char *sql, int nparams,
                             const char *const *params, int *truth, struct easel_error *err)
{
    easel_err rc = app_conn(cc, err);
    if (rc)
        return rc;
    rc = easel_store_app_exec(*cc->app, sql, nparams, params, truth);
    if (rc == EASEL_OK)
        return rc;
    easel_error_set(err, rc, rc == EASEL_ECONN ? EASEL_CLASS_RETRYABLE : EASEL_CLASS_PERMANENT,
                    EASEL_R_INTERNAL, "the app's database: %s", easel_store_errstr(*cc->app));
    if (rc == EASEL_ECONN) {
        /* opened again on the next call */
        easel_store_free(*cc->app);
        *cc->app = NULL;
    }
    return rc;
}

easel_err easel_credits_call(const struct easel_credits_ctx *cc, const struct easel_app_stmt *st,
                             const struct easel_app_job *j, int *truth, struct easel_error *err)
{
    char vals[EASEL_APP_MAX_ARGS][320];
    const char *params[EASEL_APP_MAX_ARGS];
    if (!st || !st->sql)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_INVALID_ARGUMENT,
                               "the registry has no such credits statement");
    easel_err rc = app_conn(cc, err);
    if (rc)
        return rc;
    for (int i = 0; i < st->nargs; i++) {
        params[i] = vals[i];
        switch (st->args[i]) {
        case EASEL_ARG_KEY:
            easel_fmt_cut(vals[i], sizeof(vals[i]), "%s/%d", j->job_id, j->budget);
            break;
        case EASEL_ARG_JOB_ID:
            params[i] = j->job_id;
            break;
        case EASEL_ARG_RESERVATION:
            easel_fmt_cut(vals[i], sizeof(vals[i]), "%d", j->budget);
            break;
        case EASEL_ARG_OWNER:
            params[i] = j->owner;
            break;
        case EASEL_ARG_CHANNEL:
            params[i] = j->channel;
            break;
        case EASEL_ARG_OWNER_KEY:
            (void)easel_owner_key(j->channel, j->owner, vals[i], sizeof(vals[i]));
            break;
        case EASEL_ARG_AMOUNT:
            easel_fmt_cut(vals[i], sizeof(vals[i]), "%" PRId64, j->amount);
            break;
        case EASEL_ARG_MODEL:
            params[i] = j->model;
            break;
        case EASEL_ARG_STATUS:
            params[i] = j->status;
            break;
        case EASEL_ARG_REASON:
            params[i] = j->reason;
            break;
        default:
            params[i] = NULL;
        }
    }
    rc = easel_credits_exec(cc, st->sql, st->nargs, params, truth, err);
    if (rc && err) { /* which statement: its line in the registry */
        char msg[sizeof(err->msg)];
        easel_strlcpy(msg, err->msg, sizeof(msg));
        easel_error_set(err, rc, err->cls, err->why, "%.340s (registry line %d)", msg, st->line);
    }
    return rc;
}

easel_err easel_credits_reserve(struct easel_store *s, const struct easel_credits_ctx *cc,
                                const struct easel_app_job *j, bool retry, int *budget,
                                bool *reserved, struct easel_error *err)
{
    *reserved = false;
    *budget = 0;
    /* no refund armed for a call that cannot even be made */
    easel_err rc = app_conn(cc, err);
    if (rc)
        return rc;
    rc = easel_store_app_arm(s, j, retry, cc->cfg->abandon_ms, budget);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_RETRYABLE, EASEL_R_INTERNAL,
                               "arming the refund of job %s: %s", j->job_id,
                               easel_store_errstr(s));
    struct easel_app_job at = *j;
    at.budget = *budget;
    at.status = (char *)"queued";
    int truth = 0;
    rc = easel_credits_call(cc, &cc->cfg->reserve, &at, &truth, err);
    if (rc)
        return rc;
    *reserved = truth == 1;
    if (!*reserved && easel_store_app_unarm(s, j->job_id, *budget) != EASEL_OK)
        easel_warn(j->job_id, "could not disarm the refund of a refused reservation: %s "
                   "(it will be sent, and the app ignores a refund it never reserved)",
                   easel_store_errstr(s));
    return EASEL_OK;
}

easel_err easel_credits_check(const char *app_url, const struct easel_registry *r,
                              struct easel_diags *diags, struct easel_error *err)
{
    const struct easel_credits_cfg *cfg = r ? &r->credits : NULL;
    if (!cfg || (!cfg->external && r->nrecords == 0))
        return EASEL_OK;
    int line = cfg->external ? cfg->line : r->records[0].line;
    int col = cfg->external ? cfg->col : r->records[0].col;
    const char *what = cfg->external ? "credits: mode external" : "records";
    if (!app_url || !*app_url) {
        easel_diags_add(diags, line, col,
                        "%s needs --app-database-url (EASEL_APP_DATABASE_URL), the app's "
                        "database", what);
        return EASEL_EPARSE;
    }
    struct easel_store *app = NULL;
    struct easel_error e;
    easel_error_clear(&e);
    easel_err rc = easel_store_open(app_url, &app, &e);
    if (rc) {
        if (err)
            *err = e;
        easel_diags_add(diags, line, col,
                        "%s: the app's database cannot be reached to check it: %s", what, e.msg);
        return EASEL_EPARSE;
    }
    size_t bad = easel_records_check(app, r, diags);
    if (!cfg->external) {
        easel_store_free(app);
        return bad ? EASEL_EPARSE : EASEL_OK;
    }
    const struct {
        const struct easel_app_stmt *st;
        const char *name;
    } all[] = {{&cfg->reserve, "reserve"}, {&cfg->consume, "consume"}, {&cfg->refund, "refund"}};
    for (size_t i = 0; i < 3; i++) {
        const struct easel_app_stmt *st = all[i].st;
        int np = 0, nf = 0;
        unsigned t0 = 0;
        rc = easel_store_app_describe(app, st->sql, &np, &nf, &t0);
        if (rc) {
            easel_diags_add(diags, st->line, st->col, "credits.%s: the app's database refuses it: %s",
                            all[i].name, easel_store_errstr(app));
            bad++;
        } else if (np != st->nargs) {
            easel_diags_add(diags, st->line, st->col,
                            "credits.%s: the app's database reads %d parameters, args gives %d",
                            all[i].name, np, st->nargs);
            bad++;
        } else if (st == &cfg->reserve && (nf < 1 || t0 != BOOLOID)) {
            easel_diags_add(diags, st->line, st->col,
                            "credits.reserve must return a boolean first column (true: "
                            "reserved, false: the owner cannot cover it)");
            bad++;
        }
    }
    easel_store_free(app);
    return bad ? EASEL_EPARSE : EASEL_OK;
}
