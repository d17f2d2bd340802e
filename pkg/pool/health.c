/*
 * health.c - the worker's probe listener: GET /healthz and GET /readyz on
 * a small TCP socket, for a Deployment's liveness and readiness probes.
 *
 * It is deliberately tiny (one thread, one request per connection, a
 * 1 KiB request and a 2 s read budget) and answers nothing but the two
 * paths: it carries no job data and needs no authentication. It listens
 * where the operator says (loopback by default; the chart opens it on the
 * pod's address for the kubelet).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "easel/pool.h"

struct easel_pool_health {
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    struct easel_pool_probe probe;
};

static void answer(int fd, int code, const char *body)
{
    char head[160];
    size_t len = strlen(body);
    if (easel_snprintf(head, sizeof(head),
                       "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n",
                       code, code == 200 ? "OK" : code == 404 ? "Not Found" : "Service Unavailable",
                       len) != EASEL_OK)
        return;
    /* best effort: a probe that hung up has its answer anyway */
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) > 0)
        (void)send(fd, body, len, MSG_NOSIGNAL);
}

static void serve(struct easel_pool_health *h, int fd)
{
    char req[1024];
    size_t n = 0;
    int64_t until = easel_now_ms() + 2000;
    while (n < sizeof(req) - 1 && !memmem(req, n, "\r\n", 2)) {
        int left = (int)(until - easel_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return;
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
    }
    req[n] = '\0';
    const char *why = "";
    if (!strncmp(req, "GET /healthz ", 13) || !strncmp(req, "GET /healthz?", 13)) {
        bool ok = h->probe.alive(h->probe.ud);
        answer(fd, ok ? 200 : 503, ok ? "ok\n" : "stalled\n");
    } else if (!strncmp(req, "GET /readyz ", 12) || !strncmp(req, "GET /readyz?", 12)) {
        bool ok = h->probe.ready(h->probe.ud, &why);
        char body[160];
        easel_fmt_cut(body, sizeof(body), "%s\n", ok ? "ready" : why);
        answer(fd, ok ? 200 : 503, body);
    } else {
        answer(fd, 404, "not found\n");
    }
}

static void *health_main(void *arg)
{
    struct easel_pool_health *h = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = h->fd, .events = POLLIN},
                              {.fd = h->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept(h->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve(h, c);
        close(c);
    }
    return NULL;
}

/* "HOST:PORT" or "[V6]:PORT" into a bound, listening socket. */
static easel_err listen_on(const char *addr, int *out, struct easel_error *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    *out = -1;
    if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof(host))
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                               "health address must be HOST:PORT, got \"%s\"", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
    int g = getaddrinfo(h, colon + 1, &hints, &ai);
    if (g != 0)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_ARGUMENT,
                               "health address \"%s\": %s", addr, gai_strerror(g));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_LISTEN_FAILED,
                               "cannot listen on %s for health probes: %s", addr, strerror(e));
    }
    freeaddrinfo(ai);
    *out = fd;
    return EASEL_OK;
}

easel_err easel_pool_health_start(const char *addr, const struct easel_pool_probe *p,
                                  struct easel_pool_health **out, struct easel_error *err)
{
    struct easel_pool_health *h = NULL;
    easel_err rc;
    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_OUT_OF_MEMORY,
                               "out of memory");
    h->fd = h->stop_pipe[0] = h->stop_pipe[1] = -1;
    h->probe = *p;
    rc = listen_on(addr, &h->fd, err);
    if (rc)
        goto out;
    if (pipe(h->stop_pipe) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_PIPE,
                             "pipe: %s", strerror(errno));
        goto out;
    }
    if (pthread_create(&h->thread, NULL, health_main, h) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE, EASEL_R_NO_THREAD,
                             "cannot start the health thread");
        goto out;
    }
    *out = h;
    h = NULL;
out:
    if (h) {
        if (h->fd >= 0)
            close(h->fd);
        if (h->stop_pipe[0] >= 0) {
            close(h->stop_pipe[0]);
            close(h->stop_pipe[1]);
        }
        free(h);
    }
    return rc;
}

void easel_pool_health_stop(struct easel_pool_health *h)
{
    if (!h)
        return;
    ssize_t w = write(h->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(h->thread, NULL);
    close(h->fd);
    close(h->stop_pipe[0]);
    close(h->stop_pipe[1]);
    free(h);
}
