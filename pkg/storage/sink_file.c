/*
 * sink_file.c - results on the local filesystem: file:///dir/<key>, written
 * atomically (temp file, fsync, rename) so a reader never sees half an
 * image and a retried job overwrites rather than duplicates.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "easel/storage.h"

void easel_sink_free(struct easel_sink *s);

struct easel_sink {
    char *dir; /* absolute, no trailing slash */
};

/* Relative, '/'-separated, no empty, "." or ".." segments, printable. */
static bool key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 1024 || key[0] == '/' || key[n - 1] == '/')
        return false;
    const char *seg = key;
    for (const char *p = key;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*p == '\0')
                break;
            seg = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
            return false;
        }
    }
    return true;
}

easel_err easel_sink_open(const char *url, struct easel_sink **out,
                          struct easel_error *err)
{
    *out = NULL;
    if (!url || strncmp(url, "file://", 7) != 0)
        return easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                               "unsupported_sink",
                               "storage %.200s is not supported (use file:///absolute/dir)",
                               url ? url : "(none)");
    const char *p = url + 7;
    if (easel_str_has_prefix(p, "localhost/"))
        p += strlen("localhost");
    struct easel_sink *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = easel_strdup(p))) {
        free(s);
        return EASEL_ENOMEM;
    }
    size_t n = strlen(s->dir);
    while (n > 1 && s->dir[n - 1] == '/')
        s->dir[--n] = '\0';
    if (s->dir[0] != '/' || (s->dir[1] && !key_ok(s->dir + 1))) {
        easel_sink_free(s);
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               "unsupported_sink",
                               "storage %.200s must be file:///absolute/dir", url);
    }
    easel_err rc = easel_mkdir_p(s->dir);
    if (rc) {
        int e = errno;
        easel_sink_free(s);
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                               "sink_write_failed", "cannot create %.200s: %s",
                               p, strerror(e));
    }
    *out = s;
    return EASEL_OK;
}

void easel_sink_free(struct easel_sink *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s);
}

easel_err easel_sink_put(struct easel_sink *s, const char *key,
                         const void *data, size_t len, const char *mime,
                         char **url, struct easel_error *err)
{
    (void)mime; /* the file name's extension carries the type */
    *url = NULL;
    if (!key || !key_ok(key))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               "bad_key", "object key \"%.200s\" is not a safe relative path",
                               key ? key : "");
    char *path = easel_asprintf("%s/%s", s->dir, key);
    if (!path)
        return EASEL_ENOMEM;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    easel_err rc = easel_mkdir_p(path);
    *slash = '/';
    if (rc == EASEL_OK)
        rc = easel_write_file_atomic(path, data, len);
    if (rc) {
        int e = errno;
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                             "sink_write_failed", "cannot write %.200s: %s", path,
                             strerror(e));
        free(path);
        return rc;
    }
    *url = easel_asprintf("file://%s", path);
    free(path);
    return *url ? EASEL_OK : EASEL_ENOMEM;
}
