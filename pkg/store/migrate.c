/*
 * migrate.c - bringing a database up to the schema this binary expects.
 *
 * Several controllers may start at once and all run migrations, so the
 * whole run is serialised by a session-level advisory lock: the first one
 * applies what is pending, the others wait and then find nothing to do.
 * Each migration runs in its own transaction together with the row that
 * records it, so a crash or a failing statement leaves the database at the
 * previous version, never in between. The history itself is in
 * migrations.c.
 */
#include <string.h>

#include "store_int.h"

/* pg_advisory_lock key for migrations: the bytes of "easelmig". Fixed
 * forever, since old and new binaries must agree on it. */
#define MIGRATE_LOCK_KEY "7305246950019656039"

static const char create_history_sql[] =
    "CREATE TABLE IF NOT EXISTS easel_schema_migrations ("
    " version    int PRIMARY KEY,"
    " name       text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now()"
    ")";

/* max(version) of the history table, which must exist. */
static easel_err history_version(struct easel_store *s, int *version)
{
    PGresult *res = NULL;
    easel_err rc = store_exec(
        s, "SELECT coalesce(max(version), 0) FROM easel_schema_migrations", 0,
        NULL, &res);
    if (rc)
        goto out;
    if (PQntuples(res) != 1 || store_col_int(res, 0, 0, version)) {
        rc = store_fail(s, EASEL_EDB, "schema version: unexpected result");
        goto out;
    }
out:
    PQclear(res);
    return rc;
}

static easel_err apply_one(struct easel_store *s,
                           const struct store_migration *m)
{
    char ver[16];
    const char *params[2] = {ver, m->name};
    easel_err rc;

    (void)easel_snprintf(ver, sizeof(ver), "%d", m->version);
    rc = store_exec_script(s, "BEGIN");
    if (rc)
        return rc;
    rc = store_exec_script(s, m->sql);
    if (!rc) {
        PGresult *res = NULL;
        rc = store_exec(s,
                        "INSERT INTO easel_schema_migrations (version, name)"
                        " VALUES ($1::int, $2)",
                        2, params, &res);
        PQclear(res);
    }
    if (!rc)
        rc = store_exec_script(s, "COMMIT");
    if (rc) {
        char why[sizeof(s->errstr)];
        easel_strlcpy(why, s->errstr, sizeof(why));
        /* Best effort: on a dead connection the server already rolled
         * back. */
        PQclear(PQexec(s->conn, "ROLLBACK"));
        (void)easel_snprintf(s->errstr, sizeof(s->errstr),
                             "migration %d (%s): %s", m->version, m->name, why);
        return rc;
    }
    easel_info(NULL, "store: applied migration %d (%s)", m->version, m->name);
    return EASEL_OK;
}

easel_err easel_store_migrate(struct easel_store *s, int *applied,
                              int *version)
{
    const char *key[1] = {MIGRATE_LOCK_KEY};
    PGresult *res = NULL;
    bool locked = false;
    int have = 0, n = 0;
    easel_err rc;

    if (applied)
        *applied = 0;
    if (version)
        *version = 0;
    if (!s)
        return store_einval(s, "migrate");
    /* Strictly increasing: a version left out while two branches are
     * merged is allowed, a repeated or reordered one is not. */
    for (size_t i = 0; i < store_migrations_count; i++) {
        if (store_migrations[i].version <= (i ? store_migrations[i - 1].version : 0))
            return store_fail(s, EASEL_EINTERNAL,
                              "migrations are not numbered in increasing order");
    }

    rc = store_exec(s, "SELECT pg_advisory_lock($1::bigint)", 1, key, &res);
    PQclear(res);
    res = NULL;
    if (rc)
        goto out;
    locked = true;
    /* Under the lock, so two first-ever runs cannot race on creating it. */
    rc = store_exec_script(s, create_history_sql);
    if (rc)
        goto out;
    rc = history_version(s, &have);
    if (rc)
        goto out;
    for (size_t i = 0; i < store_migrations_count; i++) {
        const struct store_migration *m = &store_migrations[i];
        if (m->version <= have)
            continue;
        rc = apply_one(s, m);
        if (rc)
            goto out;
        have = m->version;
        n++;
    }
    if (store_migrations_count &&
        have > store_migrations[store_migrations_count - 1].version)
        easel_warn(NULL,
                   "store: database schema is at version %d, newer than this "
                   "binary's %d",
                   have, store_migrations[store_migrations_count - 1].version);
out:
    if (locked) {
        /* Keep the first failure's message; the unlock result matters only
         * when everything else worked. A dead session has dropped the lock
         * already. */
        char why[sizeof(s->errstr)];
        easel_strlcpy(why, s->errstr, sizeof(why));
        easel_err urc = store_exec(s, "SELECT pg_advisory_unlock($1::bigint)",
                                   1, key, &res);
        PQclear(res);
        if (rc)
            easel_strlcpy(s->errstr, why, sizeof(s->errstr));
        else
            rc = urc;
    }
    /* Also on failure: what was applied before it stays applied. */
    if (applied)
        *applied = n;
    if (version)
        *version = have;
    return rc;
}

easel_err easel_store_schema_version(struct easel_store *s, int *version)
{
    PGresult *res = NULL;
    easel_err rc;

    if (version)
        *version = 0;
    if (!s || !version)
        return store_einval(s, "schema version");
    rc = store_exec(s,
                    "SELECT to_regclass('easel_schema_migrations') IS NOT NULL",
                    0, NULL, &res);
    if (rc)
        goto out;
    if (PQntuples(res) != 1) {
        rc = store_fail(s, EASEL_EDB, "schema version: unexpected result");
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
        rc = history_version(s, version);
out:
    PQclear(res);
    return rc;
}
