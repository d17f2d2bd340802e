/*
 * sink_file.c - where results go: the local filesystem (file:///dir/<key>,
 * written atomically: temp file, fsync, rename) or an S3-compatible bucket
 * (s3://bucket/prefix/<key>, one PUT or a multipart upload, see s3.c).
 * Either way a reader never sees half an image, and a retried job
 * overwrites its own keys rather than adding new ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "easel/storage.h"

void easel_sink_free(struct easel_sink *s);

struct easel_sink {
    char *dir;           /* file: absolute, no trailing slash */
    struct easel_s3 *s3; /* s3: the client, bucket and key prefix */
    char bucket[64];
    char *prefix;        /* "" or "results/" */
    char *cache_control;
    int64_t presign_s;   /* life of presigned result URLs */
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

/* s3://bucket[/prefix], with the S3 settings from the environment. */
static easel_err open_s3(const char *url, struct easel_sink **out, struct easel_error *err)
{
    struct easel_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return EASEL_ENOMEM;
    const char *key = NULL;
    char with_slash[1100];
    char trimmed[1024] = "";
    /* a cut URL or prefix would put every result under another prefix */
    if (easel_snprintf(with_slash, sizeof(with_slash), "%s%s", url,
                       strchr(url + 5, '/') ? "" : "/") != EASEL_OK) {
        easel_sink_free(s);
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_UNSUPPORTED_SINK,
                               "storage %.200s... is longer than %zu bytes", url,
                               sizeof(with_slash) - 2);
    }
    bool parsed = !easel_s3_parse_url(with_slash, s->bucket, sizeof(s->bucket), &key);
    if (parsed) {
        size_t kl = strlen(key);
        if (easel_snprintf(trimmed, sizeof(trimmed), "%.*s",
                           (int)(kl && key[kl - 1] == '/' ? kl - 1 : kl), key) != EASEL_OK) {
            easel_sink_free(s);
            return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT,
                                   EASEL_R_UNSUPPORTED_SINK,
                                   "storage %.200s...: the prefix is longer than %zu bytes", url,
                                   sizeof(trimmed) - 1);
        }
    }
    if (!parsed || (trimmed[0] && !key_ok(trimmed))) {
        easel_sink_free(s);
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_UNSUPPORTED_SINK,
                               "storage %.200s must be s3://bucket or s3://bucket/prefix", url);
    }
    s->prefix = easel_asprintf("%s%s", trimmed, trimmed[0] ? "/" : "");
    const char *cc = getenv("EASEL_S3_CACHE_CONTROL");
    s->cache_control = easel_strdup(cc ? cc : "public, max-age=31536000, immutable");
    const char *pe = getenv("EASEL_S3_PRESIGN_EXPIRES");
    int64_t ms = 0;
    s->presign_s = pe && *pe && easel_parse_duration_ms(pe, &ms) == EASEL_OK ? ms / 1000 : 0;
    if (s->presign_s < 1 || s->presign_s > 604800) /* SigV4 allows at most 7 days */
        s->presign_s = 604800;
    struct easel_s3_opts o;
    easel_s3_opts_from_env(&o);
    easel_err rc = !s->prefix || !s->cache_control ? EASEL_ENOMEM : easel_s3_open(&o, &s->s3, err);
    if (rc) {
        easel_sink_free(s);
        return rc;
    }
    *out = s;
    return EASEL_OK;
}

easel_err easel_sink_open(const char *url, struct easel_sink **out,
                          struct easel_error *err)
{
    *out = NULL;
    if (url && !strncmp(url, "s3://", 5))
        return open_s3(url, out, err);
    if (!url || strncmp(url, "file://", 7) != 0)
        return easel_error_set(err, EASEL_EUNSUPPORTED, EASEL_CLASS_PERMANENT,
                               EASEL_R_UNSUPPORTED_SINK,
                               "storage %.200s is not supported (use file:///absolute/dir "
                               "or s3://bucket/prefix)",
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
                               EASEL_R_UNSUPPORTED_SINK,
                               "storage %.200s must be file:///absolute/dir", url);
    }
    easel_err rc = easel_mkdir_p(s->dir);
    if (rc) {
        int e = errno;
        easel_sink_free(s);
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                               EASEL_R_SINK_WRITE_FAILED, "cannot create %.200s: %s",
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
    easel_s3_free(s->s3);
    free(s->prefix);
    free(s->cache_control);
    free(s);
}

/* Where `key` lives in the sink (malloc'd in *name): the object key under
 * the bucket's prefix, or the file's path under the directory. */
static easel_err object_name(const struct easel_sink *s, const char *key, char **name,
                             struct easel_error *err)
{
    if (!key || !key_ok(key))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT,
                               EASEL_R_BAD_KEY, "object key \"%.200s\" is not a safe relative path",
                               key ? key : "");
    *name = s->s3 ? easel_asprintf("%s%s", s->prefix, key) : easel_asprintf("%s/%s", s->dir, key);
    return *name ? EASEL_OK : EASEL_ENOMEM;
}

easel_err easel_sink_put(struct easel_sink *s, const char *key,
                         const void *data, size_t len, const char *mime,
                         char **url, struct easel_error *err)
{
    *url = NULL;
    char *path = NULL; /* the object key in the bucket, or the file */
    easel_err rc = object_name(s, key, &path, err);
    if (rc)
        return rc;
    if (s->s3) {
        rc = easel_s3_put(s->s3, s->bucket, path, data, len, mime, s->cache_control, err);
        if (!rc && !(*url = easel_asprintf("s3://%s/%s", s->bucket, path)))
            rc = EASEL_ENOMEM;
        free(path);
        return rc;
    }
    /* a file's extension carries its type */
    char *slash = strrchr(path, '/');
    *slash = '\0';
    rc = easel_mkdir_p(path);
    *slash = '/';
    if (rc == EASEL_OK)
        rc = easel_write_file_atomic(path, data, len);
    if (rc) {
        int e = errno;
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                             EASEL_R_SINK_WRITE_FAILED, "cannot write %.200s: %s", path,
                             strerror(e));
        free(path);
        return rc;
    }
    *url = easel_asprintf("file://%s", path);
    free(path);
    return *url ? EASEL_OK : EASEL_ENOMEM;
}

easel_err easel_sink_delete(struct easel_sink *s, const char *key, struct easel_error *err)
{
    char *path = NULL;
    easel_err rc = object_name(s, key, &path, err);
    if (rc)
        return rc;
    if (s->s3)
        rc = easel_s3_delete(s->s3, s->bucket, path, err);
    else if (unlink(path) != 0 && errno != ENOENT)
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_SINK_WRITE_FAILED,
                             "cannot remove %.200s: %s", path, strerror(errno));
    free(path);
    return rc;
}

char *easel_sink_presign(const struct easel_sink *s, const char *url, int64_t *expires_at)
{
    char bucket[64];
    const char *key = NULL;
    if (!s || !s->s3 || easel_s3_parse_url(url, bucket, sizeof(bucket), &key))
        return NULL;
    *expires_at = easel_wall_ms() / 1000 + s->presign_s;
    return easel_s3_presign(s->s3, "GET", bucket, key, s->presign_s, NULL);
}
