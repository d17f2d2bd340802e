/*
 * test_storage.c - fetching sources over real sockets (a small HTTP/1.1
 * server on loopback in a thread), file:// roots, data: URIs, and the file
 * sink's key rules and atomic overwrite.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "easel/storage.h"
#include "../../pkg/storage/s3_int.h"

/* ------------------------------------------------------ the test server */

static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, int code, const char *extra, const char *body, size_t blen)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     code, blen, extra ? extra : "");
    send_all(fd, head, (size_t)n);
    if (blen)
        send_all(fd, body, blen);
}

static void serve(int fd)
{
    char req[4096];
    size_t got = 0;
    while (got < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[256] = "";
    sscanf(req, "GET %255s", path);
    char loc[300];
    if (!strcmp(path, "/ok")) {
        reply(fd, 200, "Content-Type: image/jpeg\r\n", "hello-bytes", 11);
    } else if (!strcmp(path, "/missing")) {
        reply(fd, 404, NULL, "no", 2);
    } else if (!strcmp(path, "/busy")) {
        reply(fd, 503, NULL, "later", 5);
    } else if (!strcmp(path, "/limited")) {
        reply(fd, 429, "Retry-After: 1\r\n", "slow down", 9);
    } else if (!strcmp(path, "/forbidden")) {
        reply(fd, 403, NULL, "no", 2);
    } else if (!strcmp(path, "/redirect")) {
        snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/ok\r\n", srv_port);
        reply(fd, 302, loc, NULL, 0);
    } else if (!strcmp(path, "/to-internal")) {
        snprintf(loc, sizeof(loc), "Location: http://127.0.0.2:%d/ok\r\n", srv_port);
        reply(fd, 302, loc, NULL, 0);
    } else if (!strcmp(path, "/to-metadata")) {
        reply(fd, 301, "Location: http://169.254.169.254/latest/meta-data/\r\n", NULL, 0);
    } else if (!strcmp(path, "/to-localhost")) {
        snprintf(loc, sizeof(loc), "Location: http://localhost:%d/ok\r\n", srv_port);
        reply(fd, 307, loc, NULL, 0);
    } else if (!strcmp(path, "/loop")) {
        reply(fd, 302, "Location: /loop\r\n", NULL, 0);
    } else if (!strcmp(path, "/to-file")) {
        reply(fd, 302, "Location: file:///etc/passwd\r\n", NULL, 0);
    } else if (!strcmp(path, "/big")) {
        static char big[5000];
        memset(big, 'x', sizeof(big));
        reply(fd, 200, NULL, big, sizeof(big));
    } else if (!strcmp(path, "/big-chunked")) {
        const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        send_all(fd, h, strlen(h));
        char chunk[1100];
        memset(chunk, 'y', 1000);
        for (int i = 0; i < 5; i++) {
            send_all(fd, "3e8\r\n", 5);
            send_all(fd, chunk, 1000);
            send_all(fd, "\r\n", 2);
        }
        send_all(fd, "0\r\n\r\n", 5);
    } else if (!strcmp(path, "/empty")) {
        reply(fd, 200, NULL, NULL, 0);
    } else if (!strcmp(path, "/slow")) {
        usleep(1500 * 1000);
        reply(fd, 200, NULL, "late", 4);
    } else if (!strcmp(path, "/hangup")) {
        /* close without a response */
    } else {
        reply(fd, 400, NULL, "bad", 3);
    }
}

static void *conn_main(void *arg)
{
    int c = (int)(intptr_t)arg;
    serve(c);
    close(c);
    return NULL;
}

/* One thread per connection, so a slow route does not hold up the rest. */
static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}

static int start_server(void **state)
{
    (void)state;
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(srv_fd, (struct sockaddr *)&a, sizeof(a)) || listen(srv_fd, 16) ||
        getsockname(srv_fd, (struct sockaddr *)&a, &al))
        return -1;
    srv_port = ntohs(a.sin_port);
    return pthread_create(&srv_thread, NULL, server_main, NULL);
}

static int stop_server(void **state)
{
    (void)state;
    shutdown(srv_fd, SHUT_RDWR);
    close(srv_fd);
    pthread_join(srv_thread, NULL);
    return 0;
}

/* ------------------------------------------------------------- helpers */

struct got {
    easel_err rc;
    struct easel_error err;
    char *data;
    size_t len;
};

static struct got fetch(const char *fmt, const struct easel_fetch_opts *o, ...)
{
    char url[1024];
    va_list ap;
    va_start(ap, o);
    vsnprintf(url, sizeof(url), fmt, ap);
    va_end(ap);
    struct got g = {0};
    void *d = NULL;
    g.rc = easel_fetch(url, o, &d, &g.len, &g.err);
    g.data = d;
    return g;
}

static struct easel_fetch_opts opts(void)
{
    struct easel_fetch_opts o;
    easel_fetch_opts_default(&o);
    o.timeout_ms = 600;
    o.connect_timeout_ms = 500;
    static const char *const allow[] = {"127.0.0.1", NULL}; /* the test server */
    o.allow = allow;
    return o;
}

/* ------------------------------------------------------------ SSRF guard */

static const char *blocked_why(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    else
        fail_msg("bad test address %s", ip);
    return easel_addr_blocked((struct sockaddr *)&ss);
}

static void test_guard_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *ip, *why; /* why: a word the refusal must contain; NULL = public */
    } cases[] = {
        {"127.0.0.1", "loopback"},        {"127.255.0.9", "loopback"},
        {"10.1.2.3", "private"},          {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},    {"172.32.0.1", NULL},
        {"192.168.1.1", "private"},       {"169.254.169.254", "metadata"},
        {"100.64.0.1", "carrier-grade"},  {"100.127.255.254", "carrier-grade"},
        {"100.128.0.1", NULL},            {"0.0.0.0", "unspecified"},
        {"224.0.0.1", "multicast"},       {"239.255.255.250", "multicast"},
        {"255.255.255.255", "broadcast"}, {"198.18.0.1", "benchmarking"},
        {"192.0.2.10", "documentation"},  {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},                {"93.184.216.34", NULL},
        {"::1", "loopback"},              {"::", "unspecified"},
        {"fc00::1", "unique-local"},      {"fd12:3456::1", "unique-local"},
        {"fe80::1", "link-local"},        {"febf::1", "link-local"},
        {"fec0::1", "site-local"},        {"ff02::1", "multicast"},
        {"2001:db8::1", "documentation"}, {"2001:0:4136:e378::1", "Teredo"},
        {"::ffff:127.0.0.1", "loopback"}, {"::ffff:169.254.169.254", "metadata"},
        {"::ffff:10.0.0.1", "private"},   {"::ffff:8.8.8.8", NULL},
        {"::127.0.0.1", "IPv4-compatible"},
        {"64:ff9b::a9fe:a9fe", "metadata"}, /* NAT64 of 169.254.169.254 */
        {"64:ff9b::808:808", NULL},       {"64:ff9b:1::1", "NAT64"},
        {"2002:7f00:1::1", "loopback"},   /* 6to4 of 127.0.0.1 */
        {"2002:0808:0808::1", NULL},      {"2606:4700:4700::1111", NULL},
        {"2a00:1450:4001:81b::200e", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = blocked_why(cases[i].ip);
        if (!cases[i].why) {
            if (why)
                fail_msg("%s is public, but refused as %s", cases[i].ip, why);
        } else if (!why || !strstr(why, cases[i].why)) {
            fail_msg("%s: expected a refusal naming \"%s\", got %s", cases[i].ip,
                     cases[i].why, why ? why : "(allowed)");
        }
    }
}

static void test_guard_allow_list(void **state)
{
    (void)state;
    const char *const allow[] = {"10.20.0.0/16", "fd00::/8", "127.0.0.2", "minio.internal",
                                 "*.corp.example", NULL};
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.20.5.6", &a.sin_addr);
    assert_true(easel_allow_addr(allow, (struct sockaddr *)&a));
    inet_pton(AF_INET, "10.21.0.1", &a.sin_addr);
    assert_false(easel_allow_addr(allow, (struct sockaddr *)&a));
    inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    assert_true(easel_allow_addr(allow, (struct sockaddr *)&a));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_false(easel_allow_addr(allow, (struct sockaddr *)&a));
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "fd00:1::5", &b.sin6_addr);
    assert_true(easel_allow_addr(allow, (struct sockaddr *)&b));
    inet_pton(AF_INET6, "fe80::5", &b.sin6_addr);
    assert_false(easel_allow_addr(allow, (struct sockaddr *)&b));
    assert_true(easel_allow_host(allow, "minio.internal"));
    assert_true(easel_allow_host(allow, "MinIO.Internal"));
    assert_false(easel_allow_host(allow, "minio.internal.evil.example"));
    assert_true(easel_allow_host(allow, "s3.corp.example"));
    assert_true(easel_allow_host(allow, "a.b.corp.example"));
    assert_false(easel_allow_host(allow, "corp.example"));
    assert_false(easel_allow_host(allow, "evilcorp.example"));
    assert_true(easel_allow_entry_valid("10.0.0.0/8"));
    assert_true(easel_allow_entry_valid("*.corp.example"));
    assert_false(easel_allow_entry_valid("10.0.0.0/33"));
    assert_false(easel_allow_entry_valid("http://x"));
    assert_false(easel_allow_entry_valid(""));
}

/* Over real sockets: loopback refused unless allowed, by address or by
 * name; a redirect from an allowed host into a refused one; the refusal
 * is permanent and says what was refused and why. */
static void test_guard_fetch(void **state)
{
    (void)state;
    struct easel_fetch_opts o = opts();
    o.allow = NULL;
    struct got g = fetch("http://127.0.0.1:%d/ok", &o, srv_port);
    assert_int_equal(g.rc, EASEL_EINVAL);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
    assert_non_null(strstr(g.err.msg, "127.0.0.1 is loopback"));
    g = fetch("http://localhost:%d/ok", &o, srv_port); /* a name that resolves to loopback */
    assert_string_equal(g.err.reason, "source_blocked");
    g = fetch("http://[::1]:%d/ok", &o, srv_port);
    assert_string_equal(g.err.reason, "source_blocked");
    g = fetch("http://169.254.169.254/latest/meta-data/", &o);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_non_null(strstr(g.err.msg, "metadata"));

    static const char *const by_addr[] = {"127.0.0.1", NULL};
    o.allow = by_addr;
    g = fetch("http://127.0.0.1:%d/to-internal", &o, srv_port);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_non_null(strstr(g.err.msg, "redirected from"));
    assert_non_null(strstr(g.err.msg, "127.0.0.2 is loopback"));
    g = fetch("http://127.0.0.1:%d/to-metadata", &o, srv_port);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_non_null(strstr(g.err.msg, "169.254.169.254"));
    g = fetch("http://127.0.0.1:%d/to-localhost", &o, srv_port);
    /* localhost resolves to 127.0.0.1, which is allowed by address */
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);

    static const char *const by_name[] = {"localhost", NULL};
    o.allow = by_name;
    g = fetch("http://localhost:%d/ok", &o, srv_port);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("http://127.0.0.1:%d/ok", &o, srv_port); /* the name, not the address, is allowed */
    assert_string_equal(g.err.reason, "source_blocked");

    o.allow = NULL;
    o.open_network = true;
    g = fetch("http://127.0.0.1:%d/ok", &o, srv_port);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
}

/* A provider's output URL: the model's own endpoint origin (scheme, host
 * and port exactly) is trusted, nothing else on that host is, a redirect
 * out of it is judged anew, and only http(s) and data: are followed. */
static void test_guard_trusted_origin(void **state)
{
    (void)state;
    char origin[64], other[64];
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", srv_port);
    snprintf(other, sizeof(other), "http://127.0.0.1:%d", srv_port == 1 ? 2 : srv_port - 1);
    char u[96];
    snprintf(u, sizeof(u), "HTTP://127.0.0.1:%d/files/a.png?x=1", srv_port);
    assert_true(easel_same_origin(origin, u));
    assert_false(easel_same_origin(origin, other));
    assert_false(easel_same_origin("https://api.example.com", "http://api.example.com"));
    assert_true(easel_same_origin("https://api.example.com", "https://API.example.com:443/v1"));
    assert_false(easel_same_origin("https://api.example.com", "not a url"));

    struct easel_fetch_opts o = opts();
    o.allow = NULL;
    o.trusted_origin = origin;
    o.schemes = EASEL_SCHEME_HTTP | EASEL_SCHEME_DATA;
    struct got g = fetch("http://127.0.0.1:%d/ok", &o, srv_port);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("http://localhost:%d/ok", &o, srv_port); /* another origin on the same host */
    assert_string_equal(g.err.reason, "source_blocked");
    g = fetch("http://127.0.0.1:%d/to-metadata", &o, srv_port);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_non_null(strstr(g.err.msg, "169.254.169.254 is link-local"));
    g = fetch("http://169.254.169.254/latest/meta-data/", &o);
    assert_string_equal(g.err.reason, "source_blocked");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
    g = fetch("data:,abc", &o);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    const char *refused[] = {"file:///etc/passwd", "s3://bucket/key.png"};
    for (size_t i = 0; i < 2; i++) {
        g = fetch("%s", &o, refused[i]);
        assert_int_equal(g.rc, EASEL_EUNSUPPORTED);
        assert_string_equal(g.err.reason, "unsupported_scheme");
        assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
        assert_non_null(strstr(g.err.msg, "only data:, http(s):// URLs are accepted"));
    }
    g = fetch("http://127.0.0.1:%d/to-file", &o, srv_port);
    assert_string_equal(g.err.reason, "unsupported_scheme");
}

/* ---------------------------------------------------------------- http */

static void test_http_ok_and_redirect(void **state)
{
    (void)state;
    struct easel_fetch_opts o = opts();
    struct got g = fetch("http://127.0.0.1:%d/ok", &o, srv_port);
    assert_int_equal(g.rc, EASEL_OK);
    assert_int_equal(g.len, 11);
    assert_memory_equal(g.data, "hello-bytes", 11);
    free(g.data);
    g = fetch("http://127.0.0.1:%d/redirect", &o, srv_port);
    assert_int_equal(g.rc, EASEL_OK);
    assert_memory_equal(g.data, "hello-bytes", 11);
    free(g.data);
    o.max_redirects = 0;
    g = fetch("http://127.0.0.1:%d/redirect", &o, srv_port);
    assert_int_not_equal(g.rc, EASEL_OK); /* a 302 without following is not a body */
    assert_string_equal(g.err.reason, "source_http_302");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
}

static void test_http_status_classes(void **state)
{
    (void)state;
    struct easel_fetch_opts o = opts();
    struct {
        const char *path;
        const char *reason;
        enum easel_errclass cls;
        int status;
    } cases[] = {
        {"/missing", "source_not_found", EASEL_CLASS_PERMANENT, 404},
        {"/busy", "source_http_503", EASEL_CLASS_RETRYABLE, 503},
        {"/limited", "source_http_429", EASEL_CLASS_RETRYABLE, 429},
        {"/forbidden", "source_http_403", EASEL_CLASS_PERMANENT, 403},
        {"/nothing-here", "source_http_400", EASEL_CLASS_PERMANENT, 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct got g = fetch("http://127.0.0.1:%d%s", &o, srv_port, cases[i].path);
        assert_int_not_equal(g.rc, EASEL_OK);
        assert_null(g.data);
        assert_string_equal(g.err.reason, cases[i].reason);
        assert_int_equal(g.err.cls, cases[i].cls);
        assert_int_equal(g.err.http_status, cases[i].status);
        assert_non_null(strstr(g.err.msg, "127.0.0.1"));
    }
}

static void test_http_limits(void **state)
{
    (void)state;
    struct easel_fetch_opts o = opts();
    o.max_bytes = 1000;
    struct got g = fetch("http://127.0.0.1:%d/big", &o, srv_port);
    assert_int_equal(g.rc, EASEL_ELIMIT);
    assert_string_equal(g.err.reason, "source_too_large");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
    /* without a Content-Length the cap still holds while streaming */
    g = fetch("http://127.0.0.1:%d/big-chunked", &o, srv_port);
    assert_int_equal(g.rc, EASEL_ELIMIT);
    assert_string_equal(g.err.reason, "source_too_large");

    o = opts();
    g = fetch("http://127.0.0.1:%d/slow", &o, srv_port);
    assert_int_equal(g.rc, EASEL_ETIMEOUT);
    assert_string_equal(g.err.reason, "source_timeout");
    assert_int_equal(g.err.cls, EASEL_CLASS_RETRYABLE);

    g = fetch("http://127.0.0.1:%d/loop", &o, srv_port);
    assert_string_equal(g.err.reason, "source_too_many_redirects");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);

    g = fetch("http://127.0.0.1:%d/to-file", &o, srv_port);
    assert_string_equal(g.err.reason, "unsupported_scheme");
    assert_null(g.data);

    g = fetch("http://127.0.0.1:%d/empty", &o, srv_port);
    assert_string_equal(g.err.reason, "source_empty");

    g = fetch("http://127.0.0.1:%d/hangup", &o, srv_port);
    assert_string_equal(g.err.reason, "source_unreachable");
    assert_int_equal(g.err.cls, EASEL_CLASS_RETRYABLE);
}

static void test_http_unreachable(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    close(fd); /* nobody listens there now */
    struct easel_fetch_opts o = opts();
    struct got g = fetch("http://127.0.0.1:%d/x.jpg", &o, port);
    assert_int_equal(g.rc, EASEL_ECONN);
    assert_string_equal(g.err.reason, "source_unreachable");
    assert_int_equal(g.err.cls, EASEL_CLASS_RETRYABLE);
    /* the password in a URL never reaches the message */
    g = fetch("http://user:hunter2@127.0.0.1:%d/x.jpg", &o, port);
    assert_null(strstr(g.err.msg, "hunter2"));
}

/* ---------------------------------------------------------------- files */

static char tmpdir[256];

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_file_roots(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/easel-storage-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char root[300], other[300], p[400];
    snprintf(root, sizeof(root), "%s/root", tmpdir);
    snprintf(other, sizeof(other), "%s/root2", tmpdir);
    mkdir(root, 0755);
    mkdir(other, 0755);
    snprintf(p, sizeof(p), "%s/in.jpg", root);
    write_file(p, "inside");
    snprintf(p, sizeof(p), "%s/out.jpg", other);
    write_file(p, "outside");
    snprintf(p, sizeof(p), "%s/link.jpg", root);
    char target[400];
    snprintf(target, sizeof(target), "%s/out.jpg", other);
    assert_int_equal(symlink(target, p), 0);
    snprintf(p, sizeof(p), "%s/empty.jpg", root);
    write_file(p, "");
    snprintf(p, sizeof(p), "%s/dirlink", root);
    assert_int_equal(symlink(other, p), 0);
    snprintf(p, sizeof(p), "%s/inlink.jpg", root);
    assert_int_equal(symlink("in.jpg", p), 0);

    /* secure by default: no root, no file:// at all, whatever the path */
    struct easel_fetch_opts o = opts();
    const char *none[] = {NULL};
    const char *const *unset[] = {NULL, none};
    for (size_t i = 0; i < 2; i++) {
        o.file_roots = unset[i];
        struct got g = fetch("file://%s/in.jpg", &o, root);
        assert_int_equal(g.rc, EASEL_EINVAL);
        assert_null(g.data);
        assert_string_equal(g.err.reason, "file_root_unset");
        assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
        assert_non_null(strstr(g.err.msg, "file:// sources are refused: no --file-root is set"));
        g = fetch("file:///etc/passwd", &o);
        assert_string_equal(g.err.reason, "file_root_unset");
        g = fetch("file://%s/nope.jpg", &o, root); /* not even whether it exists */
        assert_string_equal(g.err.reason, "file_root_unset");
    }

    const char *roots[] = {root, NULL};
    o.file_roots = roots;
    struct got g = fetch("file://%s/in.jpg", &o, root);
    assert_int_equal(g.rc, EASEL_OK);
    assert_memory_equal(g.data, "inside", 6);
    free(g.data);
    g = fetch("file://localhost%s/in%%2Ejpg", &o, root); /* host and escapes */
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("file://%s/out.jpg", &o, other); /* /root2 is not under /root */
    assert_string_equal(g.err.reason, "source_forbidden");
    assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
    assert_non_null(strstr(g.err.msg, "outside the --file-root directories"));
    g = fetch("file://%s/../root2/out.jpg", &o, root);
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file://%s/..%%2Froot2/out.jpg", &o, root); /* an escaped slash */
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file://%s/link.jpg", &o, root); /* symlink escaping the root */
    assert_string_equal(g.err.reason, "source_forbidden");
    assert_non_null(strstr(g.err.msg, "resolves to"));
    g = fetch("file://%s/dirlink/out.jpg", &o, root); /* a directory symlink escaping it */
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file://%s/inlink.jpg", &o, root); /* a symlink that stays inside is fine */
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("file://%s/nope.jpg", &o, root);
    assert_int_equal(g.rc, EASEL_ENOTFOUND);
    assert_string_equal(g.err.reason, "source_not_found");
    /* a missing file outside the roots is refused, not reported missing:
     * a job must not learn which files exist elsewhere */
    g = fetch("file://%s/nope.jpg", &o, other);
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file:///etc/no-such-file-%d", &o, 7);
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file://%s", &o, root); /* a directory */
    assert_string_equal(g.err.reason, "source_forbidden");
    g = fetch("file://%s/empty.jpg", &o, root);
    assert_string_equal(g.err.reason, "source_empty");
    g = fetch("file://relative/x.jpg", &o);
    assert_string_equal(g.err.reason, "source_forbidden");

    /* roots are canonicalised: a root named through a symlink (or with a
     * trailing slash) holds what its target holds */
    char viaroot[320], slashed[320];
    snprintf(viaroot, sizeof(viaroot), "%s/rootlink", tmpdir);
    snprintf(slashed, sizeof(slashed), "%s/", root);
    assert_int_equal(symlink(root, viaroot), 0);
    const char *linked[] = {viaroot, NULL}, *trailing[] = {slashed, NULL};
    o.file_roots = linked;
    g = fetch("file://%s/in.jpg", &o, root);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("file://%s/in.jpg", &o, viaroot);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    g = fetch("file://%s/out.jpg", &o, other);
    assert_string_equal(g.err.reason, "source_forbidden");
    o.file_roots = trailing;
    g = fetch("file://%s/in.jpg", &o, root);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    /* roots that do not exist here, or are not absolute, hold nothing */
    const char *missing[] = {"/nonexistent/easel-root", "relative/root", NULL};
    o.file_roots = missing;
    g = fetch("file://%s/in.jpg", &o, root);
    assert_string_equal(g.err.reason, "source_forbidden");
    assert_non_null(strstr(g.err.msg, "none of the --file-root directories exists"));
    assert_true(easel_file_root_valid("/srv/images"));
    assert_false(easel_file_root_valid("srv/images"));
    assert_false(easel_file_root_valid(""));
    assert_false(easel_file_root_valid(NULL));
    /* the root "/" is an explicit choice of every file */
    const char *slash[] = {"/", NULL};
    o.file_roots = slash;
    g = fetch("file://%s/out.jpg", &o, other);
    assert_int_equal(g.rc, EASEL_OK);
    free(g.data);
    o.file_roots = roots;
    o.max_bytes = 3;
    g = fetch("file://%s/in.jpg", &o, root);
    assert_int_equal(g.rc, EASEL_ELIMIT);
    assert_string_equal(g.err.reason, "source_too_large");
}

static void test_data_and_schemes(void **state)
{
    (void)state;
    struct easel_fetch_opts o = opts();
    struct got g = fetch("data:image/png;base64,aGVs bG8=", &o);
    assert_int_equal(g.rc, EASEL_OK);
    assert_int_equal(g.len, 5);
    assert_memory_equal(g.data, "hello", 5);
    free(g.data);
    g = fetch("%s", &o, "data:,a%20b");
    assert_int_equal(g.rc, EASEL_OK);
    assert_memory_equal(g.data, "a b", 3);
    free(g.data);
    /* bare base64, as a payload field may carry the image itself */
    g = fetch("%s", &o, "aGVsbG8tYmFzZTY0LXdvcmxk");
    assert_int_equal(g.rc, EASEL_OK);
    assert_int_equal(g.len, 18);
    assert_memory_equal(g.data, "hello-base64-world", 18);
    free(g.data);
    g = fetch("%s", &o, "aGVsbG8tYmFzZTY0LXdvcmxk!!"); /* not only the alphabet: not base64 */
    assert_string_equal(g.err.reason, "unsupported_scheme");
    g = fetch("data:image/png;base64,@@@", &o);
    assert_string_equal(g.err.reason, "bad_data_uri");
    g = fetch("data:image/png;base64", &o);
    assert_string_equal(g.err.reason, "bad_data_uri");
    o.max_bytes = 2;
    g = fetch("data:;base64,aGVsbG8=", &o);
    assert_string_equal(g.err.reason, "source_too_large");
    o = opts();
    const char *bad[] = {"ftp://example.com/x.jpg", "gopher://x", "/etc/passwd", ""};
    for (size_t i = 0; i < 4; i++) {
        g = fetch("%s", &o, bad[i]);
        assert_int_not_equal(g.rc, EASEL_OK);
        assert_string_equal(g.err.reason, "unsupported_scheme");
        assert_int_equal(g.err.cls, EASEL_CLASS_PERMANENT);
    }
}

/* ----------------------------------------------------------------- sink */

static void test_sink(void **state)
{
    (void)state;
    char dir[400], url[450];
    snprintf(dir, sizeof(dir), "%s/results/deeper", tmpdir);
    snprintf(url, sizeof(url), "file://%s/", dir);
    struct easel_sink *s = NULL;
    struct easel_error err;
    assert_int_equal(easel_sink_open(url, &s, &err), EASEL_OK);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0); /* created */
    char *u = NULL;
    assert_int_equal(easel_sink_put(s, "jobs/j1/normal.jpg", "AAAA", 4, "image/jpeg", &u, &err),
                     EASEL_OK);
    char want[500];
    snprintf(want, sizeof(want), "file://%s/jobs/j1/normal.jpg", dir);
    assert_string_equal(u, want);
    free(u);
    /* the same key again: one complete object with the new content */
    assert_int_equal(easel_sink_put(s, "jobs/j1/normal.jpg", "BB", 2, "image/jpeg", &u, &err),
                     EASEL_OK);
    free(u);
    snprintf(want, sizeof(want), "%s/jobs/j1/normal.jpg", dir);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_size, 2);
    const char *bad[] = {"../x", "/abs", "a//b", "", "a/./b", "a/..", "a\\b", "a/", "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u = NULL;
        assert_int_equal(easel_sink_put(s, bad[i], "x", 1, NULL, &u, &err), EASEL_EINVAL);
        assert_string_equal(err.reason, "bad_key");
        assert_null(u);
    }
    easel_sink_free(s);
    assert_int_equal(easel_sink_open("gs://bucket/x", &s, &err), EASEL_EUNSUPPORTED);
    assert_string_equal(err.reason, "unsupported_sink");
    unsetenv("AWS_ACCESS_KEY_ID"); /* an S3 sink without credentials says so */
    assert_int_equal(easel_sink_open("s3://bucket/x", &s, &err), EASEL_EINVAL);
    assert_string_equal(err.reason, "no_credential");
    assert_int_equal(easel_sink_open("s3://Bad_Bucket!/x", &s, &err), EASEL_EINVAL);
    assert_string_equal(err.reason, "unsupported_sink");
    /* a URL or prefix too long to hold is refused, never cut to another prefix */
    char longurl[1200];
    memcpy(longurl, "s3://bucket/", 12);
    memset(longurl + 12, 'p', sizeof(longurl) - 13);
    longurl[sizeof(longurl) - 1] = '\0';
    assert_int_equal(easel_sink_open(longurl, &s, &err), EASEL_ELIMIT);
    assert_string_equal(err.reason, "unsupported_sink");
    longurl[12 + 1030] = '\0'; /* the URL fits, its 1030-byte prefix does not */
    assert_int_equal(easel_sink_open(longurl, &s, &err), EASEL_ELIMIT);
    assert_non_null(strstr(err.msg, "prefix"));
    assert_int_equal(easel_sink_open("file://relative", &s, &err), EASEL_EINVAL);
    assert_int_equal(easel_sink_open("file:///tmp/../etc", &s, &err), EASEL_EINVAL);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Object keys from templates: routing by channel, hostile owners. */
/* An S3 answer's values: a short one is read, one that does not fit is
 * reported (never handed over cut), and the allocating read takes an
 * UploadId of any length whole. */
static void test_s3_xml_values(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(s3_xml_value("<a><Code>SlowDown</Code></a>", "Code", out, sizeof(out)),
                     EASEL_OK);
    assert_string_equal(out, "SlowDown");
    assert_int_equal(s3_xml_value("<a></a>", "Code", out, sizeof(out)), EASEL_OK);
    assert_string_equal(out, "");
    assert_int_equal(s3_xml_value("<Code>0123456789abcdef</Code>", "Code", out, sizeof(out)),
                     EASEL_ELIMIT);
    assert_int_equal(s3_xml_value("<Code>0123456789abcde</Code>", "Code", out, sizeof(out)),
                     EASEL_OK);
    assert_string_equal(out, "0123456789abcde");

    char id[1201], xml[1300];
    for (size_t i = 0; i < sizeof(id) - 1; i++)
        id[i] = "+/=x"[i % 4];
    id[sizeof(id) - 1] = '\0';
    snprintf(xml, sizeof(xml), "<R><UploadId>%s</UploadId></R>", id);
    char *got = s3_xml_dup(xml, "UploadId");
    assert_non_null(got);
    assert_string_equal(got, id);
    free(got);
    assert_null(s3_xml_dup(xml, "Key"));
    assert_null(s3_xml_dup(NULL, "UploadId"));
    got = s3_xml_dup("<UploadId></UploadId>", "UploadId");
    assert_non_null(got);
    assert_string_equal(got, "");
    free(got);
}

static void test_object_keys(void **state)
{
    (void)state;
    char key[256], why[300];
    struct easel_key_vars v = {"11111111-2222-3333-4444-555555555555", "normal", "jpg",
                               "store-9", "b2b", "qwen/qwen-image-edit", "2026-11-23"};
    const char *t = easel_key_template_for(NULL, "b2b");
    assert_int_equal(easel_object_key(t, &v, key, sizeof(key), why, sizeof(why)), EASEL_OK);
    assert_string_equal(key, "stores/store-9/generated/11111111-2222-3333-4444-555555555555/normal.jpg");
    v.channel = "b2c";
    v.owner = "user-7";
    assert_int_equal(easel_object_key(easel_key_template_for(NULL, "b2c"), &v, key, sizeof(key),
                                      why, sizeof(why)), EASEL_OK);
    assert_string_equal(key, "generated/user-7/11111111-2222-3333-4444-555555555555/normal.jpg");
    assert_string_equal(easel_key_template_for(NULL, NULL), "jobs/{job_id}/{variant}.{ext}");
    /* an owner cannot climb out of its place */
    v.owner = "../../etc/passwd";
    assert_int_equal(easel_object_key("u/{owner}/{job_id}/{variant}", &v, key, sizeof(key), why,
                                      sizeof(why)), EASEL_OK);
    assert_string_equal(key, "u/.._.._etc_passwd/11111111-2222-3333-4444-555555555555/normal");
    v.owner = "..";
    easel_object_key("u/{owner}/{variant}", &v, key, sizeof(key), why, sizeof(why));
    assert_string_equal(key, "u/_/normal");
    v.owner = NULL; /* no owner: still one segment */
    easel_object_key("u/{owner}/{model}/{date}/{variant}", &v, key, sizeof(key), why, sizeof(why));
    assert_string_equal(key, "u/_/qwen_qwen-image-edit/2026-11-23/normal");
    const char *const custom[3] = {NULL, "c/{owner}/{job_id}-{variant}.{ext}", NULL};
    assert_string_equal(easel_key_template_for(custom, "b2c"), custom[1]);
    assert_int_equal(easel_object_key("x/{nope}/{job_id}", &v, key, sizeof(key), why, sizeof(why)),
                     EASEL_EINVAL);
    assert_non_null(strstr(why, "{nope}"));
    /* an owner too long for one segment is refused, not cut: two owners
     * sharing their first 255 bytes must not share a prefix */
    char longown[300];
    memset(longown, 'o', sizeof(longown) - 1);
    longown[sizeof(longown) - 1] = '\0';
    v.owner = longown;
    char bigkey[1024];
    assert_int_equal(easel_object_key("u/{owner}/{job_id}/{variant}", &v, bigkey, sizeof(bigkey),
                                      why, sizeof(why)), EASEL_ELIMIT);
    assert_non_null(strstr(why, "{owner}"));
    longown[255] = '\0'; /* exactly 255 bytes still fits */
    assert_int_equal(easel_object_key("u/{owner}/{job_id}/{variant}", &v, bigkey, sizeof(bigkey),
                                      why, sizeof(why)), EASEL_OK);
    assert_int_equal(strlen(bigkey), 2 + 255 + 1 + 36 + 1 + 6);
    /* a key longer than the buffer is refused too */
    assert_int_equal(easel_object_key("u/{owner}/{job_id}/{variant}", &v, key, sizeof(key), why,
                                      sizeof(why)), EASEL_ELIMIT);
    assert_non_null(strstr(why, "longer than 255 bytes"));
    v.owner = "user-7";
    assert_int_equal(easel_key_template_check("a/{variant}.{ext}", why, sizeof(why)), EASEL_EINVAL);
    assert_non_null(strstr(why, "{job_id}"));
    assert_int_equal(easel_key_template_check("/abs/{job_id}/{variant}", why, sizeof(why)),
                     EASEL_EINVAL);
    assert_int_equal(easel_key_template_check("a/../{job_id}/{variant}", why, sizeof(why)),
                     EASEL_EINVAL);
    assert_int_equal(easel_key_template_check("a/{job_id}/{variant}.{ext}", why, sizeof(why)),
                     EASEL_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_xml_values),
        cmocka_unit_test(test_object_keys),
        cmocka_unit_test(test_guard_ranges),
        cmocka_unit_test(test_guard_allow_list),
        cmocka_unit_test(test_guard_fetch),
        cmocka_unit_test(test_guard_trusted_origin),
        cmocka_unit_test(test_http_ok_and_redirect),
        cmocka_unit_test(test_http_status_classes),
        cmocka_unit_test(test_http_limits),
        cmocka_unit_test(test_http_unreachable),
        cmocka_unit_test(test_file_roots),
        cmocka_unit_test(test_data_and_schemes),
        cmocka_unit_test(test_sink),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
