/* Unit tests for the CLI's API client (pkg/client/remote.c) against a
 * scripted HTTP server on loopback: the request it sends (method, path,
 * query, headers, body), how it reads answers (the API's error shape, a
 * proxy's page, a body that is not JSON, a redirect it must not follow),
 * list paging by cursor, a server that is down, following a job's event
 * stream through a cut and a 503, the event-stream reader's rules, and the
 * event rendering shared with the direct road. */
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
#include <unistd.h>

#include <cmocka.h>

#include "easel/client.h"

#define MAX_CONV 8

/* The scripted server: answers the i-th connection with resp[i] and keeps
 * what it was sent in req[i]. */
struct script {
    int fd, port, n;
    const char *resp[MAX_CONV];
    char req[MAX_CONV][8192];
    pthread_t th;
};

static void *serve(void *ud)
{
    struct script *s = ud;
    for (int i = 0; i < s->n; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        size_t len = 0;
        char *buf = s->req[i];
        /* the head, then as much body as Content-Length says */
        for (;;) {
            ssize_t k = read(c, buf + len, sizeof(s->req[i]) - 1 - len);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            char *cl = strcasestr(buf, "content-length:");
            size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= (size_t)(end + 4 - buf) + want)
                break;
        }
        const char *r = s->resp[i];
        size_t off = 0, rl = strlen(r);
        while (off < rl) {
            ssize_t k = write(c, r + off, rl - off);
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        close(c);
    }
    return NULL;
}

static void script_start(struct script *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void script_end(struct script *s)
{
    pthread_join(s->th, NULL);
    close(s->fd);
}

/* "HTTP/1.1 <status>" with a JSON body, the connection closed after it. */
static char *answer(int status, const char *body)
{
    return easel_asprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                          status, strlen(body), body);
}

static struct easel_remote *client_for(const struct script *s, const char *token)
{
    char url[64];
    easel_fmt_cut(url, sizeof(url), "http://127.0.0.1:%d/", s->port);
    struct easel_remote_opts o = {.server = url, .token = token, .timeout_ms = 5000};
    struct easel_remote *r = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    assert_int_equal(easel_remote_new(&o, &r, &err), EASEL_OK);
    return r;
}

static const char JOB[] = "{\"id\":\"6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b\",\"status\":\"queued\"}";

static void test_get_sends_token_and_reads_job(void **state)
{
    (void)state;
    struct script s = {.n = 1};
    char *a = answer(200, JOB);
    s.resp[0] = a;
    script_start(&s);
    struct easel_remote *r = client_for(&s, "tok-0123456789abcdef");
    cJSON *job = NULL;
    assert_int_equal(easel_remote_get(r, "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b", &job), EASEL_OK);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(job, "status")), "queued");
    script_end(&s);
    /* the trailing slash of the server is dropped: no "//v1" */
    assert_non_null(strstr(s.req[0], "GET /v1/jobs/6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[0], "\r\nAuthorization: Bearer tok-0123456789abcdef\r\n"));
    assert_non_null(strstr(s.req[0], "\r\nAccept: application/json\r\n"));
    cJSON_Delete(job);
    easel_remote_free(r);
    free(a);
}

static void test_api_error_shape(void **state)
{
    (void)state;
    struct script s = {.n = 3};
    char *a = answer(409, "{\"error\":{\"code\":\"conflict\",\"message\":\"job x already ended\"}}");
    static const char page[] = "<html>\nbad gateway\n</html>\n";
    char *b = easel_asprintf("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             strlen(page), page);
    char *c = answer(200, "not json at all");
    s.resp[0] = a;
    s.resp[1] = b;
    s.resp[2] = c;
    script_start(&s);
    struct easel_remote *r = client_for(&s, NULL);
    cJSON *out = NULL;
    assert_int_equal(easel_remote_cancel(r, "x", &out), EASEL_ECONFLICT);
    assert_null(out);
    const struct easel_remote_error *e = easel_remote_error(r);
    assert_int_equal(e->status, 409);
    assert_string_equal(e->code, "conflict");
    assert_string_equal(e->message, "job x already ended");
    assert_non_null(strstr(s.req[0], "POST /v1/jobs/x/cancel HTTP/1.1"));
    assert_null(strstr(s.req[0], "Authorization:")); /* no token, no header */

    assert_int_equal(easel_remote_retry(r, "x", &out), EASEL_EHTTP);
    assert_int_equal(e->status, 502);
    assert_string_equal(e->code, "");
    assert_non_null(strstr(e->message, "<html> bad gateway"));
    assert_null(strchr(e->message, '\n'));

    assert_int_equal(easel_remote_events(r, "x", &out), EASEL_EPARSE);
    assert_int_equal(e->status, 200);
    script_end(&s);
    easel_remote_free(r);
    free(a);
    free(b);
    free(c);
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    struct script s = {.n = 1};
    s.resp[0] = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:1/steal\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n";
    script_start(&s);
    struct easel_remote *r = client_for(&s, "tok-0123456789abcdef");
    cJSON *out = NULL;
    assert_int_equal(easel_remote_get(r, "x", &out), EASEL_EHTTP);
    assert_int_equal(easel_remote_error(r)->status, 302);
    script_end(&s);
    easel_remote_free(r);
}

static void test_submit_body(void **state)
{
    (void)state;
    struct script s = {.n = 2};
    char *a = answer(201, JOB);
    char *b = answer(200, "{\"id\":\"6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b\",\"status\":\"succeeded\"}");
    s.resp[0] = a;
    s.resp[1] = b;
    script_start(&s);
    struct easel_remote *r = client_for(&s, NULL);
    const char *imgs[] = {"file:///a.jpg", "https://x/b.png", NULL};
    struct easel_submit sub = {.model = "local/vips-stage", .type = "stage",
                               .input_json = "{\"style\":\"modern\",\"seed\":7}",
                               .images = imgs, .idempotency_key = "k-1", .priority = 3,
                               .delay_ms = 90000};
    cJSON *job = NULL;
    /* a server that does not hold the answer: the client polls */
    assert_int_equal(easel_remote_submit(r, &sub, 10000, &job), EASEL_OK);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(job, "status")), "succeeded");
    script_end(&s);
    assert_non_null(strstr(s.req[0], "POST /v1/jobs HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[0], "\r\nPrefer: wait=10\r\n"));
    assert_non_null(strstr(s.req[0], "\r\nContent-Type: application/json\r\n"));
    cJSON *body = cJSON_Parse(strstr(s.req[0], "\r\n\r\n") + 4);
    assert_non_null(body);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "model")), "local/vips-stage");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "type")), "stage");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "idempotency_key")), "k-1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "delay")), "90000ms");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(body, "priority")), 3);
    assert_int_equal((int)cJSON_GetNumberValue(
                         cJSON_GetObjectItem(cJSON_GetObjectItem(body, "input"), "seed")), 7);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body, "images")), 2);
    assert_null(cJSON_GetObjectItem(body, "id"));
    assert_non_null(strstr(s.req[1], "GET /v1/jobs/6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b HTTP/1.1"));
    cJSON_Delete(body);
    cJSON_Delete(job);

    /* refused before any request: an id, an --input that is no object */
    struct easel_submit bad = {.id = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"};
    assert_int_equal(easel_remote_submit(r, &bad, 0, &job), EASEL_EINVAL);
    struct easel_submit bad2 = {.input_json = "[1]"};
    assert_int_equal(easel_remote_submit(r, &bad2, 0, &job), EASEL_EINVAL);
    assert_non_null(strstr(easel_remote_error(r)->message, "--input must be a JSON object"));
    easel_remote_free(r);
    free(a);
    free(b);
}

static void test_list_follows_cursor(void **state)
{
    (void)state;
    struct script s = {.n = 2};
    char *a = answer(200, "{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"next_cursor\":\"17.b+/=\"}");
    char *b = answer(200, "{\"items\":[{\"id\":\"c\"}],\"next_cursor\":null}");
    s.resp[0] = a;
    s.resp[1] = b;
    script_start(&s);
    struct easel_remote *r = client_for(&s, NULL);
    struct easel_remote_query q = {.status = "succeeded", .owner = "b2c:u 7", .limit = 10};
    cJSON *out = NULL;
    assert_int_equal(easel_remote_list(r, &q, &out), EASEL_OK);
    script_end(&s);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "items")), 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(out, "next_cursor")));
    assert_non_null(strstr(s.req[0], "GET /v1/jobs?status=succeeded&owner=b2c%3Au%207&limit=10 "));
    /* the second page asks only for what is still wanted */
    assert_non_null(strstr(s.req[1], "&limit=8&cursor=17.b%2B%2F%3D "));
    cJSON_Delete(out);
    easel_remote_free(r);
    free(a);
    free(b);
}

static void test_server_down_and_bad_url(void **state)
{
    (void)state;
    /* a port that was just free: nothing listens */
    struct script s = {.n = 0};
    script_start(&s);
    script_end(&s);
    char url[80];
    easel_fmt_cut(url, sizeof(url), "http://user:hunter22@127.0.0.1:%d", s.port);
    struct easel_remote_opts o = {.server = url, .token = "tok-0123456789abcdef"};
    struct easel_remote *r = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    assert_int_equal(easel_remote_new(&o, &r, &err), EASEL_OK);
    cJSON *out = NULL;
    assert_int_equal(easel_remote_get(r, "x", &out), EASEL_ECONN);
    const struct easel_remote_error *e = easel_remote_error(r);
    assert_int_equal(e->status, 0);
    assert_non_null(strstr(e->message, "cannot connect to the easel server at http://user:"));
    assert_null(strstr(e->message, "hunter22"));
    assert_null(strstr(e->message, "tok-"));
    easel_remote_free(r);

    o.server = "ftp://127.0.0.1/";
    assert_int_equal(easel_remote_new(&o, &r, &err), EASEL_EINVAL);
    assert_null(r);
    o.server = NULL;
    assert_int_equal(easel_remote_new(&o, &r, &err), EASEL_EINVAL);
}

struct seen {
    int n;
    double seq[8];
};

static int collect(void *ud, const cJSON *e)
{
    struct seen *s = ud;
    if (s->n < 8)
        s->seq[s->n++] = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "seq"));
    return 0;
}

/* "HTTP/1.1 200" with an event stream, the connection closed after it. */
static char *stream_answer(const char *body)
{
    return easel_asprintf("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Connection: close\r\n\r\n%s", body);
}

static void test_follow_resumes_after_a_cut_and_a_503(void **state)
{
    (void)state;
    struct script s = {.n = 3};
    /* two events, then the connection ends without done (a replica died) */
    char *cut = stream_answer("retry: 1000\n\nid: 1\nevent: status\ndata: {\"seq\":1,\"to\":"
                              "\"queued\",\"job_id\":\"j\"}\n\n: keep-alive\n\nid: 2\nevent: "
                              "status\ndata: {\"seq\":2,\"to\":\"running\",\"job_id\":\"j\"}\n\n");
    char *down = answer(503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"store is unavailable\"}}");
    char *rest = stream_answer("id: 3\r\nevent: status\r\ndata: {\"seq\":3,\"to\":\"succeeded\"}\r\n"
                               "\r\nevent: done\ndata: {\"id\":\"j\",\"status\":\"succeeded\"}\n\n");
    const char *order[] = {cut, down, rest};
    for (int i = 0; i < 3; i++)
        s.resp[i] = order[i];
    script_start(&s);
    struct easel_remote *r = client_for(&s, NULL);
    struct seen seen = {0};
    assert_int_equal(easel_remote_follow(r, "j", 10, collect, &seen), EASEL_OK);
    script_end(&s);
    /* every event once, in order, and the follow ended with done */
    assert_int_equal(seen.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal((int)seen.seq[i], i + 1);
    assert_non_null(strstr(s.req[0], "GET /v1/jobs/j/stream "));
    assert_non_null(strcasestr(s.req[0], "Accept: text/event-stream"));
    assert_null(strcasestr(s.req[0], "Last-Event-ID"));
    /* each new connection resumes after the last event shown */
    assert_non_null(strcasestr(s.req[1], "Last-Event-ID: 2\r\n"));
    assert_non_null(strcasestr(s.req[2], "Last-Event-ID: 2\r\n"));
    easel_remote_free(r);
    for (int i = 0; i < 3; i++)
        free((char *)order[i]);
}

struct sse_seen {
    int n;
    char what[8][96];
};

static int sse_collect(void *ud, const char *event, const char *id, const char *data, size_t len)
{
    struct sse_seen *s = ud;
    assert_int_equal(strlen(data), len);
    if (s->n < 8)
        easel_fmt_cut(s->what[s->n++], sizeof(s->what[0]), "%s|%s|%s", event, id, data);
    return 0;
}

static void test_sse_reader(void **state)
{
    (void)state;
    /* every line ending, a comment, a field without a colon, a value
     * without its space, two data lines, an event with no data, an id that
     * lasts, one more field than we know, and an event cut off by the end */
    static const char text[] = ": hello\r\nid: 7\r\nevent: status\r\ndata: {\"a\":1}\r\n\r\n"
                               "data:x\rdata\r\rid:8\nevent: nothing\n\nretry: 5\nfoo: bar\n"
                               "data: one\ndata: two\n\ndata: never";
    for (size_t step = 1; step <= 3; step++) {
        struct sse_seen seen = {0};
        struct easel_sse p;
        easel_sse_init(&p, 1024, sse_collect, &seen);
        for (size_t i = 0; i < sizeof(text) - 1; i += step) {
            size_t n = sizeof(text) - 1 - i < step ? sizeof(text) - 1 - i : step;
            assert_int_equal(easel_sse_feed(&p, text + i, n), EASEL_OK);
        }
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.what[0], "status|7|{\"a\":1}");
        assert_string_equal(seen.what[1], "message|7|x\n");
        assert_string_equal(seen.what[2], "message|8|one\ntwo");
        easel_sse_cleanup(&p);
    }
    /* a line longer than the cap is refused */
    struct sse_seen seen = {0};
    struct easel_sse p;
    easel_sse_init(&p, 16, sse_collect, &seen);
    assert_int_equal(easel_sse_feed(&p, "data: 0123456789abcdefghij\n", 27), EASEL_ELIMIT);
    easel_sse_cleanup(&p);
}

static void test_event_to_json(void **state)
{
    (void)state;
    struct easel_event e = {.seq = 42, .at_ms = 1795868995926, .from_status = NULL,
                            .to_status = (char *)"queued", .attempt = 0,
                            .reason = (char *)"Created", .message = NULL};
    cJSON *o = easel_event_to_json(&e);
    char *t = cJSON_PrintUnformatted(o);
    assert_string_equal(t, "{\"seq\":42,\"at\":\"2026-11-28T12:29:55.926Z\",\"from\":null,"
                           "\"to\":\"queued\",\"attempt\":0,\"reason\":\"Created\",\"message\":null,"
                           "\"kind\":\"status\",\"data\":null}");
    free(t);
    cJSON_Delete(o);
    /* a progress event: its kind, and its data as JSON, not as text */
    struct easel_event p = {.seq = 43, .at_ms = 1795868995926, .attempt = 1,
                            .reason = (char *)"Progress", .message = (char *)"fetching the sources",
                            .kind = (char *)"progress",
                            .data = (char *)"{\"stage\": \"fetching\", \"percent\": 0}"};
    o = easel_event_to_json(&p);
    t = cJSON_PrintUnformatted(o);
    assert_non_null(strstr(t, "\"kind\":\"progress\",\"data\":{\"stage\":\"fetching\",\"percent\":0}"));
    free(t);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_sends_token_and_reads_job),
        cmocka_unit_test(test_api_error_shape),
        cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_submit_body),
        cmocka_unit_test(test_list_follows_cursor),
        cmocka_unit_test(test_server_down_and_bad_url),
        cmocka_unit_test(test_follow_resumes_after_a_cut_and_a_503),
        cmocka_unit_test(test_sse_reader),
        cmocka_unit_test(test_event_to_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
