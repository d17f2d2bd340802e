/*
 * sql.c - running a statement and understanding how it failed.
 *
 * Every query in pkg/store goes through store_exec, so there is exactly one
 * place that decides what a libpq failure means to the caller: a lost
 * connection (retry elsewhere or reconnect), bad data (the caller's bug or
 * the producer's), a unique violation, or a plain database error. The
 * server's SQLSTATE and message are kept in the store's errstr so the log
 * line that reports the failure can say precisely what happened. The column
 * decoders live here too because they are the other half of the same
 * boundary: text from the server turned into checked C values.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

void store_flatten(char *dst, size_t dstlen, const char *src)
{
    size_t o = 0;
    bool space = false;

    if (!dst || dstlen == 0)
        return;
    for (const char *p = src ? src : ""; *p && o + 1 < dstlen; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = o > 0;
            continue;
        }
        if (space) {
            dst[o++] = ' ';
            space = false;
            if (o + 1 >= dstlen)
                break;
        }
        dst[o++] = *p;
    }
    dst[o] = '\0';
}

easel_err store_fail(struct easel_store *s, easel_err code, const char *fmt,
                     ...)
{
    va_list ap;

    va_start(ap, fmt);
    easel_vfmt_cut(s->errstr, sizeof(s->errstr), fmt, ap);
    va_end(ap);
    return code;
}

easel_err store_einval(struct easel_store *s, const char *what)
{
    if (s)
        (void)easel_snprintf(s->errstr, sizeof(s->errstr),
                             "%s: invalid argument", what);
    return EASEL_EINVAL;
}

easel_err store_conn_fail(struct easel_store *s)
{
    const char *m = s->conn ? PQerrorMessage(s->conn) : "no connection";

    store_flatten(s->errstr, sizeof(s->errstr), m);
    if (!s->errstr[0])
        easel_strlcpy(s->errstr, "connection failed", sizeof(s->errstr));
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return EASEL_ECONN;
    return EASEL_EDB;
}

/* SQLSTATE -> easel_err. Only the classes a caller can act on differently
 * get their own code; everything else is EASEL_EDB. */
static easel_err map_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return EASEL_EDB;
    /* 08: connection exception; 57P01-03: admin shutdown, crash shutdown,
     * cannot connect now - the session is gone or never was. */
    if (strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
        strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0)
        return EASEL_ECONN;
    if (strcmp(st, "23505") == 0)
        return EASEL_EEXISTS;
    if (strcmp(st, "23503") == 0)
        return EASEL_ENOTFOUND;
    /* 22: data exception (bad uuid, bad JSON, out of range); 23502 not
     * null; 23514 check constraint (unknown status). */
    if (strncmp(st, "22", 2) == 0 || strcmp(st, "23502") == 0 ||
        strcmp(st, "23514") == 0)
        return EASEL_EINVAL;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
        strcmp(st, "55P03") == 0)
        return EASEL_EAGAIN;
    if (strcmp(st, "57014") == 0)
        return EASEL_ETIMEOUT;
    /* raised by the credits trigger (migration 9): an owner who cannot
     * cover a manual retry */
    if (strcmp(st, "EA402") == 0)
        return EASEL_ELIMIT;
    return EASEL_EDB;
}

/* Fills s->errstr from a failed result (NULL when libpq could not even
 * allocate one) and returns the code for it. */
easel_err store_result_fail(struct easel_store *s, const PGresult *res)
{
    const char *state = NULL, *primary = NULL, *detail = NULL;
    char msg[sizeof(s->errstr)];

    if (res) {
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    }
    if (state && primary) {
        store_flatten(msg, sizeof(msg), primary);
        if (detail) {
            char d[200];
            store_flatten(d, sizeof(d), detail);
            (void)easel_snprintf(s->errstr, sizeof(s->errstr),
                                 "SQLSTATE %s: %s (%s)", state, msg, d);
        } else {
            (void)easel_snprintf(s->errstr, sizeof(s->errstr),
                                 "SQLSTATE %s: %s", state, msg);
        }
    } else {
        const char *m = res ? PQresultErrorMessage(res) : "";
        if (!m || !*m)
            m = PQerrorMessage(s->conn);
        store_flatten(s->errstr, sizeof(s->errstr), m);
        if (!s->errstr[0])
            easel_strlcpy(s->errstr, "query failed", sizeof(s->errstr));
    }
    /* A dead connection wins over whatever SQLSTATE came with it: the
     * caller must reconnect before anything else can work. */
    if (PQstatus(s->conn) != CONNECTION_OK)
        return EASEL_ECONN;
    if (!res)
        return EASEL_ENOMEM;
    return map_sqlstate(state);
}

static easel_err finish(struct easel_store *s, PGresult *res, PGresult **out)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return EASEL_OK;
    }
    easel_err rc = store_result_fail(s, res);
    PQclear(res);
    return rc;
}

void store_prepared_reset(struct easel_store *s)
{
    for (int i = 0; i < s->nprep; i++)
        free(s->prep[i].sql);
    s->nprep = 0;
}

/* The name of sql's prepared statement on this connection, preparing it
 * on first use; NULL when it cannot be (then the caller runs it unnamed). */
static const char *prepared(struct easel_store *s, const char *sql, int nparams,
                            char name[16])
{
    for (int i = 0; i < s->nprep; i++) {
        if (s->prep[i].key == sql && !strcmp(s->prep[i].sql, sql)) {
            (void)easel_snprintf(name, 16, "e%d", i);
            return name;
        }
    }
    if (s->nprep == STORE_PREPARED_MAX)
        return NULL;
    char *copy = strdup(sql);
    if (!copy)
        return NULL;
    int i = s->nprep;
    (void)easel_snprintf(name, 16, "e%d", i);
    PGresult *r = PQprepare(s->conn, name, sql, nparams, NULL);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        free(copy);
        return NULL;
    }
    s->prep[i] = (struct store_prepared){.key = sql, .sql = copy};
    s->nprep++;
    return name;
}

easel_err store_exec(struct easel_store *s, const char *sql, int nparams,
                     const char *const *params, PGresult **res)
{
    *res = NULL;
    s->errstr[0] = '\0';
    char name[16];
    const char *stmt = prepared(s, sql, nparams, name);
    if (stmt) {
        PGresult *r = PQexecPrepared(s->conn, stmt, nparams, params, NULL, NULL, 0);
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        /* the session lost its statements (DISCARD ALL, a pooler that
         * switched it): forget ours and run this one unnamed */
        if (!state || strcmp(state, "26000") != 0)
            return finish(s, r, res);
        PQclear(r);
        store_prepared_reset(s);
    }
    return finish(s,
                  PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL,
                               0),
                  res);
}

easel_err store_exec_script(struct easel_store *s, const char *sql)
{
    s->errstr[0] = '\0';
    return finish(s, PQexec(s->conn, sql), NULL);
}

easel_err store_col_str(const PGresult *r, int row, int col, char **out)
{
    *out = NULL;
    if (PQgetisnull(r, row, col))
        return EASEL_OK;
    *out = easel_strndup(PQgetvalue(r, row, col),
                         (size_t)PQgetlength(r, row, col));
    return *out ? EASEL_OK : EASEL_ENOMEM;
}

easel_err store_col_i64(const PGresult *r, int row, int col, int64_t *out)
{
    *out = 0;
    if (PQgetisnull(r, row, col))
        return EASEL_OK;
    if (easel_parse_i64(PQgetvalue(r, row, col), INT64_MIN, INT64_MAX, out))
        return EASEL_EDB;
    return EASEL_OK;
}

easel_err store_col_percent(const PGresult *r, int row, int col, double *out)
{
    *out = -1;
    if (PQgetisnull(r, row, col))
        return EASEL_OK;
    if (easel_parse_double(PQgetvalue(r, row, col), out))
        return EASEL_EDB;
    return EASEL_OK;
}

easel_err store_col_int(const PGresult *r, int row, int col, int *out)
{
    *out = 0;
    if (PQgetisnull(r, row, col))
        return EASEL_OK;
    if (easel_parse_int(PQgetvalue(r, row, col), INT32_MIN, INT32_MAX, out))
        return EASEL_EDB;
    return EASEL_OK;
}

easel_err store_ms_until(struct easel_store *s, const char *sql, int64_t *ms)
{
    PGresult *res = NULL;
    *ms = -1;
    easel_err rc = store_exec(s, sql, 0, NULL, &res);
    if (!rc && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        rc = store_col_i64(res, 0, 0, ms);
        if (!rc && *ms < 0)
            *ms = 0;
    }
    PQclear(res);
    return rc;
}
