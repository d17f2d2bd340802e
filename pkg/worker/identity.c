/*
 * identity.c - how a running worker names itself in the job record,
 * "<executor>:<name>@<where>", written by job mode and the Job builder
 * and read back by the executors, which alone decide what a name means
 * (a process on this host, a Job in this namespace).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "easel/worker.h"

easel_err easel_worker_id_format(const char *executor, const char *name, const char *where,
                                 char *dst, size_t len)
{
    if (len)
        dst[0] = '\0';
    if (!executor || !*executor || !name || !*name || !where || !*where ||
        strchr(executor, ':') || strchr(executor, '@') || strchr(where, '@'))
        return EASEL_EINVAL;
    struct easel_worker_id id;
    if (strlen(executor) >= sizeof(id.executor) || strlen(name) >= sizeof(id.name) ||
        strlen(where) >= sizeof(id.where))
        return EASEL_ELIMIT;
    return easel_snprintf(dst, len, "%s:%s@%s", executor, name, where);
}

void easel_worker_host(char *dst, size_t len)
{
    if (!len)
        return;
    if (gethostname(dst, len) != 0 || !dst[0])
        easel_strlcpy(dst, "localhost", len);
    dst[len - 1] = '\0';
}

easel_err easel_worker_local_id(char *dst, size_t len)
{
    char host[64], pid[24];
    easel_worker_host(host, sizeof(host));
    /* cannot fail: a pid is at most 11 characters */
    easel_err rc = easel_snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (rc)
        return rc;
    return easel_worker_id_format(EASEL_WORKER_LOCAL, pid, host, dst, len);
}

easel_err easel_worker_id_parse(const char *s, struct easel_worker_id *out)
{
    memset(out, 0, sizeof(*out));
    const char *colon = s ? strchr(s, ':') : NULL;
    const char *at = colon ? strrchr(colon, '@') : NULL;
    if (!at)
        return EASEL_EINVAL;
    size_t ne = (size_t)(colon - s), nn = (size_t)(at - colon - 1), nw = strlen(at + 1);
    if (!ne || !nn || !nw || ne >= sizeof(out->executor) || nn >= sizeof(out->name) ||
        nw >= sizeof(out->where) || memchr(s, '@', ne)) {
        memset(out, 0, sizeof(*out));
        return EASEL_EINVAL;
    }
    memcpy(out->executor, s, ne);
    memcpy(out->name, colon + 1, nn);
    memcpy(out->where, at + 1, nw);
    return EASEL_OK;
}

void easel_worker_dispatch_mark(const char *executor, const char *host, char *dst,
                                size_t len)
{
    /* truncation only shortens a note for people: nothing parses it */
    if (easel_snprintf(dst, len, "%s@%s", executor, host) != EASEL_OK && len)
        dst[len - 1] = '\0';
}
