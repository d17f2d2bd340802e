/*
 * file.c - whole-file reads with a cap, atomic writes and mkdir -p: the
 * filesystem pieces the registry loader, the file sink and job mode share.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "easel/core.h"

easel_err easel_read_file(const char *path, size_t max, char **out,
                          size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    easel_err rc = EASEL_OK;
    struct easel_buf b;
    easel_buf_init(&b, max);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? EASEL_ENOTFOUND : EASEL_EIO;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = EASEL_EIO;
            goto out;
        }
        if (n == 0)
            break;
        rc = easel_buf_append(&b, chunk, (size_t)n);
        if (rc)
            goto out;
    }
    *out = easel_buf_steal(&b, len);
out:
    close(fd);
    easel_buf_cleanup(&b);
    return rc;
}

easel_err easel_write_file_atomic(const char *path, const void *data,
                                  size_t len)
{
    char tmp[4096];
    if (easel_snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()))
        return EASEL_ELIMIT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return EASEL_EIO;
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlink(tmp);
            return EASEL_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return EASEL_EIO;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return EASEL_EIO;
    }
    return EASEL_OK;
}

easel_err easel_mkdir_p(const char *path)
{
    char buf[4096];
    if (easel_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
        return EASEL_ELIMIT;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return EASEL_EIO;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return EASEL_EIO;
    return EASEL_OK;
}
