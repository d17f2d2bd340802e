/*
 * notify.c - change notifications on the easel_jobs channel.
 *
 * Every insert and transition sends NOTIFY easel_jobs '<id> <status>' inside
 * its own transaction, so a notification arrives only for a change that was
 * committed. The controller listens to mirror state to Kubernetes, SSE
 * clients and webhooks without polling. Consumption never blocks: the
 * caller polls easel_store_socket() in its own event loop and drains
 * easel_store_notification() when it is readable.
 */
#include <string.h>

#include "store_int.h"

easel_err easel_store_listen_events(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "listen");
    easel_err rc = store_exec_script(s, "LISTEN " STORE_EVENTS_CHANNEL);
    if (!rc)
        s->listening_events = true;
    return rc;
}

easel_err easel_store_listen(struct easel_store *s)
{
    if (!s)
        return store_einval(s, "listen");
    easel_err rc = store_exec_script(s, "LISTEN " STORE_CHANNEL);
    if (!rc)
        s->listening = true;
    return rc;
}

int easel_store_socket(const struct easel_store *s)
{
    if (!s || !s->conn || PQstatus(s->conn) != CONNECTION_OK)
        return -1;
    return PQsocket(s->conn);
}

/* "<uuid> <status>" -> id, status. False for anything else. */
static bool parse_payload(const char *p, char id[EASEL_UUID_LEN + 1],
                          enum easel_status *status)
{
    const char *sp = p ? strchr(p, ' ') : NULL;
    char tmp[EASEL_UUID_LEN + 1];

    if (!sp || sp - p != EASEL_UUID_LEN)
        return false;
    memcpy(tmp, p, EASEL_UUID_LEN);
    tmp[EASEL_UUID_LEN] = '\0';
    if (!easel_uuid_valid(tmp) || easel_status_parse(sp + 1, status))
        return false;
    memcpy(id, tmp, sizeof(tmp));
    return true;
}

easel_err easel_store_notification(struct easel_store *s, bool *got,
                                   char id[EASEL_UUID_LEN + 1],
                                   enum easel_status *status)
{
    PGnotify *n;

    if (got)
        *got = false;
    if (!s || !got || !id || !status)
        return store_einval(s, "notification");
    s->errstr[0] = '\0';
    /* Reads whatever the socket holds without waiting (libpq keeps the
     * socket non-blocking); 0 means the connection failed. */
    if (!PQconsumeInput(s->conn))
        return store_conn_fail(s);
    while ((n = PQnotifies(s->conn)) != NULL) {
        bool ok = strcmp(n->relname, STORE_CHANNEL) == 0 &&
                  parse_payload(n->extra, id, status);
        if (!ok)
            easel_debug(NULL, "store: ignoring notification on %s: %s",
                        n->relname, n->extra);
        PQfreemem(n);
        if (ok) {
            *got = true;
            return EASEL_OK;
        }
    }
    return EASEL_OK;
}

/* "<uuid> <seq>[ <owner>]" -> its parts. False for anything else. */
static bool parse_event_payload(const char *p, char id[EASEL_UUID_LEN + 1], int64_t *seq,
                                char *owner, size_t ownerlen)
{
    char tmp[EASEL_UUID_LEN + 1], num[24];
    if (!p || strlen(p) < EASEL_UUID_LEN + 2 || p[EASEL_UUID_LEN] != ' ')
        return false;
    memcpy(tmp, p, EASEL_UUID_LEN);
    tmp[EASEL_UUID_LEN] = '\0';
    const char *n = p + EASEL_UUID_LEN + 1, *sp = strchr(n, ' ');
    size_t nl = sp ? (size_t)(sp - n) : strlen(n);
    if (!easel_uuid_valid(tmp) || nl == 0 || nl >= sizeof(num))
        return false;
    memcpy(num, n, nl);
    num[nl] = '\0';
    if (easel_parse_i64(num, 1, INT64_MAX, seq) != EASEL_OK)
        return false;
    easel_strlcpy(owner, sp ? sp + 1 : "", ownerlen);
    memcpy(id, tmp, sizeof(tmp));
    return true;
}

easel_err easel_store_event_notification(struct easel_store *s, bool *got,
                                         char id[EASEL_UUID_LEN + 1], int64_t *seq,
                                         char *owner, size_t ownerlen)
{
    PGnotify *n;

    if (got)
        *got = false;
    if (!s || !got || !id || !seq || !owner || !ownerlen)
        return store_einval(s, "event notification");
    s->errstr[0] = '\0';
    if (!PQconsumeInput(s->conn))
        return store_conn_fail(s);
    while ((n = PQnotifies(s->conn)) != NULL) {
        bool ok = strcmp(n->relname, STORE_EVENTS_CHANNEL) == 0 &&
                  parse_event_payload(n->extra, id, seq, owner, ownerlen);
        if (!ok)
            easel_debug(NULL, "store: ignoring notification on %s: %s", n->relname, n->extra);
        PQfreemem(n);
        if (ok) {
            *got = true;
            return EASEL_OK;
        }
    }
    return EASEL_OK;
}
