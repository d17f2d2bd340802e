/*
 * records.c - the app's own records (registry records, docs/records.md):
 * the UPDATE that puts one status of a job into the app's table, and the
 * check of every record rule against the app's schema.
 *
 * Table and column names come only from the registry, are plain
 * identifiers (checked when it is parsed), exist in the app's schema
 * (checked when it loads) and are quoted; every value is a parameter.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "easel/credits.h"

/* "name" quoted as an identifier (names are [A-Za-z_][A-Za-z0-9_]*: no
 * quote inside to double) */
static easel_err put_ident(struct easel_buf *b, const char *name)
{
    return easel_buf_printf(b, "\"%s\"", name);
}

/* The value of one column for the call's snapshot; NULL for none (SQL
 * NULL), or *missing when a named variant was not stored. */
static const char *rec_value(const struct easel_rec_col *col, const struct easel_app_call *c,
                             const cJSON *snap, bool *missing)
{
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(snap, "result");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(result, "outputs"), *o;
    switch (col->kind) {
    case EASEL_REC_LITERAL:
        return col->text;
    case EASEL_REC_NOW:
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(snap, "at"));
    case EASEL_REC_ERROR:
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(snap, "error"));
    case EASEL_REC_REASON:
        return c->j.reason;
    case EASEL_REC_JOB_ID:
        return c->job_id;
    case EASEL_REC_STATUS:
        return c->j.status;
    case EASEL_REC_MODEL:
        return c->j.model;
    case EASEL_REC_RESULT_URL:
        return cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(outs, 0), "url"));
    case EASEL_REC_VARIANT:
        cJSON_ArrayForEach(o, outs) {
            const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "variant"));
            if (v && col->text && !strcmp(v, col->text))
                return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "url"));
        }
        *missing = true;
        return NULL;
    case EASEL_REC_NULL:
        return NULL;
    }
    return NULL;
}

easel_err easel_records_write(const struct easel_credits_ctx *cc,
                              const struct easel_record_rule *rr,
                              const struct easel_app_call *c, int *rows,
                              struct easel_error *err)
{
    enum easel_status st;
    *rows = -1;
    if (easel_status_parse(c->j.status, &st))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_INVALID_ARGUMENT, "record of unknown status %s",
                               c->j.status ? c->j.status : "(null)");
    const struct easel_rec_set *set = &rr->on[st];
    if (set->ncols == 0) {
        *rows = 0; /* this status writes nothing */
        return EASEL_OK;
    }
    cJSON *snap = c->snapshot ? cJSON_Parse(c->snapshot) : NULL;
    const char *params[1 + 64];
    struct easel_buf sql;
    easel_buf_init(&sql, 0);
    easel_err rc = easel_buf_puts(&sql, "UPDATE ");
    if (!rc && rr->schema && !(rc = put_ident(&sql, rr->schema)))
        rc = easel_buf_puts(&sql, ".");
    if (!rc)
        rc = put_ident(&sql, rr->table);
    if (!rc)
        rc = easel_buf_puts(&sql, " SET ");
    params[0] = c->record_key;
    size_t np = 1;
    for (size_t i = 0; !rc && i < set->ncols && np < sizeof(params) / sizeof(params[0]); i++) {
        bool missing = false;
        params[np] = rec_value(&set->cols[i], c, snap, &missing);
        if (missing) {
            rc = easel_error_set(err, EASEL_ENOTFOUND, EASEL_CLASS_PERMANENT,
                                 EASEL_R_INVALID_ARGUMENT,
                                 "record %s: the job stored no variant \"%s\" for column %s",
                                 rr->name, set->cols[i].text, set->cols[i].column);
            break;
        }
        np++;
        if (i && (rc = easel_buf_puts(&sql, ", ")))
            break;
        if (!(rc = put_ident(&sql, set->cols[i].column)))
            rc = easel_buf_printf(&sql, " = $%zu", np);
    }
    if (!rc && !(rc = easel_buf_puts(&sql, " WHERE ")) && !(rc = put_ident(&sql, rr->key_column)))
        rc = easel_buf_puts(&sql, " = $1");
    if (rc) {
        if (!err || !err->msg[0])
            easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                            "record %s: the statement could not be built", rr->name);
        goto out;
    }
    rc = easel_credits_exec(cc, sql.data, (int)np, params, rows, err);
out:
    cJSON_Delete(snap);
    easel_buf_cleanup(&sql);
    return rc;
}

/* Is name among cols? */
static bool has_col(char **cols, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cols[i], name))
            return true;
    return false;
}

size_t easel_records_check(struct easel_store *app, const struct easel_registry *r,
                           struct easel_diags *diags)
{
    size_t bad = 0;
    for (size_t i = 0; r && i < r->nrecords; i++) {
        const struct easel_record_rule *rr = &r->records[i];
        char **cols = NULL;
        size_t n = 0;
        if (easel_store_app_columns(app, rr->schema, rr->table, &cols, &n) != EASEL_OK) {
            easel_diags_add(diags, rr->table_line, 1, "records: cannot read the columns of %s: %s",
                            rr->table, easel_store_errstr(app));
            bad++;
            continue;
        }
        if (n == 0) {
            easel_diags_add(diags, rr->table_line, 1,
                            "record rule \"%s\": the app's database has no table %s%s%s",
                            rr->name, rr->schema ? rr->schema : "", rr->schema ? "." : "",
                            rr->table);
            bad++;
        } else {
            if (!has_col(cols, n, rr->key_column)) {
                easel_diags_add(diags, rr->key_line, 1,
                                "record rule \"%s\": table %s has no column %s (the key)",
                                rr->name, rr->table, rr->key_column);
                bad++;
            }
            for (int s = 0; s < EASEL_STATUS_COUNT; s++)
                for (size_t k = 0; k < rr->on[s].ncols; k++) {
                    const struct easel_rec_col *col = &rr->on[s].cols[k];
                    if (has_col(cols, n, col->column))
                        continue;
                    easel_diags_add(diags, col->line, col->col,
                                    "record rule \"%s\": table %s has no column %s", rr->name,
                                    rr->table, col->column);
                    bad++;
                }
        }
        for (size_t k = 0; k < n; k++)
            free(cols[k]);
        free(cols);
    }
    return bad;
}
