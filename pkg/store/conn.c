/*
 * conn.c - opening, re-opening and closing the one libpq connection a
 * struct easel_store wraps.
 *
 * This is where a database URL meets libpq, so it is also where secrets are
 * most at risk: every message that leaves this file names the server by its
 * redacted URL and has the password scrubbed out of libpq's own text (libpq
 * quotes the offending token when it cannot parse a URL). Defaults the
 * project wants on every connection (application_name, a connect timeout,
 * UTF-8) are added here underneath whatever the URL says, so a URL can
 * still override them.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Seconds; libpq's default is to wait forever. */
#define CONNECT_TIMEOUT_S "10"

/* NOTICEs ("relation already exists, skipping") would otherwise go to
 * stderr as bare text between our JSON log lines. */
static void notice_to_log(void *arg, const char *message)
{
    char line[512];

    (void)arg;
    store_flatten(line, sizeof(line), message);
    easel_debug(NULL, "postgres: %s", line);
}

/* Finds the password in a URL (user:pass@ or ?password=) or in a key=value
 * string, so it can be scrubbed from messages. Returns an owned copy or
 * NULL when there is none (or no memory, in which case the caller withholds
 * the message). */
static char *find_password(const char *url, bool *oom)
{
    const char *p, *end;

    *oom = false;
    p = strstr(url, "password=");
    if (p) {
        p += strlen("password=");
        end = p;
        if (*p == '\'') {
            /* key='quoted value' (backslash escapes are rare enough in
             * passwords that the part before one is scrubbed at least) */
            end = ++p;
            while (*end && *end != '\'' && *end != '\\')
                end++;
        } else {
            while (*end && *end != '&' && *end != ' ')
                end++;
        }
    } else {
        const char *scheme = strstr(url, "://");
        if (!scheme)
            return NULL;
        const char *host = scheme + 3;
        const char *at = strchr(host, '@');
        const char *slash = strchr(host, '/');
        if (!at || (slash && slash < at))
            return NULL;
        p = memchr(host, ':', (size_t)(at - host));
        if (!p)
            return NULL;
        p++;
        end = at;
    }
    if (end == p)
        return NULL;
    char *pw = easel_strndup(p, (size_t)(end - p));
    if (!pw)
        *oom = true;
    return pw;
}

/* Replaces every occurrence of the URL's password in msg with "***". */
static void scrub(char *msg, size_t msglen, const char *url)
{
    bool oom;
    char *pw = find_password(url, &oom);
    struct easel_buf b;
    easel_err rc = EASEL_OK;

    easel_buf_init(&b, 0);
    if (oom)
        goto withhold;
    if (!pw)
        return;
    size_t pwlen = strlen(pw);
    const char *cur = msg, *hit;
    while (!rc && (hit = strstr(cur, pw)) != NULL) {
        rc = easel_buf_append(&b, cur, (size_t)(hit - cur));
        if (!rc)
            rc = easel_buf_puts(&b, "***");
        cur = hit + pwlen;
    }
    if (!rc)
        rc = easel_buf_puts(&b, cur);
    if (rc)
        goto withhold;
    easel_strlcpy(msg, b.data, msglen);
    goto out;
withhold:
    easel_strlcpy(msg, "(message withheld: could not redact it)", msglen);
out:
    easel_buf_cleanup(&b);
    free(pw);
}

/* Whether libpq would read `url` as a connection string (URI or key=value)
 * rather than as a bare database name. */
static bool is_conninfo(const char *url)
{
    return easel_str_has_prefix(url, "postgresql://") ||
           easel_str_has_prefix(url, "postgres://") || strchr(url, '=');
}

easel_err easel_store_open(const char *url, struct easel_store **out,
                           struct easel_error *err)
{
    easel_err rc = EASEL_OK;
    struct easel_store *s = NULL;
    PGconn *conn = NULL;
    PQconninfoOption *opts = NULL;
    char *perr = NULL;
    char safe[256], msg[300];
    const char *keys[5], *vals[5];
    int k = 0;

    if (out)
        *out = NULL;
    easel_error_clear(err);
    if (!url || !out)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_INVALID_ARGUMENT,
                               "store open: url and out are required");
    easel_redact_url(url, safe, sizeof(safe));

    /* Catch a malformed URL before connecting: no retry will fix it, so it
     * is reported as permanent even though the code stays EASEL_ECONN. */
    if (is_conninfo(url)) {
        opts = PQconninfoParse(url, &perr);
        if (!opts) {
            store_flatten(msg, sizeof(msg), perr ? perr : "out of memory");
            scrub(msg, sizeof(msg), url);
            rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_PERMANENT,
                                 EASEL_R_INVALID_DATABASE_URL,
                                 "invalid database URL %s: %s", safe, msg);
            goto out;
        }
    }

    /* Keywords are applied in order and the URL (dbname, expanded) comes
     * last, so anything it sets wins over these defaults. */
    keys[k] = "fallback_application_name";
    vals[k++] = "easel";
    keys[k] = "client_encoding";
    vals[k++] = "UTF8";
    if (!getenv("PGCONNECT_TIMEOUT")) {
        keys[k] = "connect_timeout";
        vals[k++] = CONNECT_TIMEOUT_S;
    }
    keys[k] = "dbname";
    vals[k++] = url;
    keys[k] = NULL;
    vals[k] = NULL;

    conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE,
                             EASEL_R_OUT_OF_MEMORY, "store open: out of memory");
        goto out;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        store_flatten(msg, sizeof(msg), PQerrorMessage(conn));
        scrub(msg, sizeof(msg), url);
        rc = easel_error_set(err, EASEL_ECONN, EASEL_CLASS_RETRYABLE,
                             EASEL_R_DATABASE_UNAVAILABLE,
                             "cannot connect to %s: %s", safe, msg);
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE,
                             EASEL_R_OUT_OF_MEMORY, "store open: out of memory");
        goto out;
    }
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    s->conn = conn;
    conn = NULL;
    *out = s;
    s = NULL;
out:
    PQfinish(conn);
    PQconninfoFree(opts);
    PQfreemem(perr);
    free(s);
    return rc;
}

void easel_store_free(struct easel_store *s)
{
    if (!s)
        return;
    store_prepared_reset(s);
    PQfinish(s->conn);
    free(s);
}

const char *easel_store_errstr(const struct easel_store *s)
{
    return s ? s->errstr : "no store";
}

easel_err easel_store_reconnect(struct easel_store *s)
{
    if (!s || !s->conn)
        return store_einval(s, "reconnect");
    s->errstr[0] = '\0';
    store_prepared_reset(s);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return store_conn_fail(s);
    /* A new session listens to nothing: restore what the caller asked for.
     * Notifications sent while disconnected are lost; callers resync. */
    easel_err rc = EASEL_OK;
    if (s->listening)
        rc = easel_store_listen(s);
    if (!rc && s->listening_events)
        rc = easel_store_listen_events(s);
    return rc;
}

easel_err easel_store_check(struct easel_store *s)
{
    if (!s || !s->conn)
        return store_einval(s, "check");
    if (PQstatus(s->conn) == CONNECTION_OK && PQconsumeInput(s->conn) &&
        PQstatus(s->conn) == CONNECTION_OK)
        return EASEL_OK;
    return easel_store_reconnect(s);
}
