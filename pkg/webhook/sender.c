/*
 * sender.c - delivers the webhook outbox: one thread per controller, with
 * its own Postgres connection, sending up to `concurrency` attempts at once
 * on one libcurl multi handle.
 *
 * A thread, not the controller's main loop: an attempt may take the whole
 * timeout (10 s by default) and the body is rendered from a database read,
 * and neither may hold up dispatching, lease renewal or completions. The
 * thread blocks only in poll() (on its connection's LISTEN socket, its stop
 * pipe and curl's sockets), so stopping it takes at most one timeout.
 *
 * Replicas share the outbox without talking to each other: a claim takes
 * due rows with FOR UPDATE SKIP LOCKED and leases them (next_attempt_at
 * moves past the attempt's timeout) before anything is sent, so a row is in
 * one sender's hands at a time, and a sender killed mid-attempt leaves it
 * to whoever claims after the lease. That is why delivery is at least once,
 * and why every attempt of a delivery carries the same webhook-id and body.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "easel/telemetry.h"
#include "easel/api.h"
#include "easel/storage.h"
#include "easel/store.h"
#include "easel/trace.h"
#include "easel/webhook.h"

/* past the attempt's timeout: a lease never ends while its attempt runs */
#define LEASE_MARGIN_MS 30000
/* an idle sender looks at the outbox at least this often (a notification
 * may be lost while its connection is down) */
#define IDLE_MAX_MS 30000
#define RECONNECT_MS 2000

struct easel_webhook_sender {
    struct easel_webhook_opts o;
    char *database_url, *secrets_file, *public_url;
    char **allow;
    int64_t schedule[EASEL_WEBHOOK_SCHEDULE_MAX];
    struct easel_webhook_secrets secrets;
    struct timespec secrets_mtime;
    pthread_t thread;
    bool started;
    int stop_pipe[2];
    struct easel_store *s;
};

/* One attempt in flight. */
struct attempt {
    struct easel_webhook_delivery *d;
    CURL *h;
    struct curl_slist *headers;
    struct easel_guard guard;
    char errbuf[CURL_ERROR_SIZE];
    char retry_after[64];
    char location[200];
    bool done;
    CURLcode cc;
    long http;
    char *skip;          /* set: not sent, failed at once for this reason */
    struct easel_span *span; /* the delivery's span, in the job's trace */
};

/* A delivery's span, a child of the job's stored trace context; NULL with
 * tracing off. */
static struct easel_span *delivery_span(struct easel_webhook_sender *w,
                                        const struct easel_webhook_delivery *d)
{
    char tp[EASEL_TRACEPARENT_LEN + 8] = "";
    if (!easel_trace_enabled())
        return NULL;
    (void)easel_store_job_traceparent(w->s, d->job_id, tp, sizeof(tp));
    struct easel_span *s = easel_span_start_tp("easel.webhook", EASEL_SPAN_CLIENT, tp);
    easel_span_str(s, "easel.job_id", d->job_id);
    easel_span_str(s, "easel.webhook_id", d->webhook_id);
    easel_span_str(s, "easel.webhook_type", d->type);
    easel_span_int(s, "easel.attempt", d->attempts + 1);
    return s;
}

static bool stopping(struct easel_webhook_sender *w)
{
    struct pollfd p = {.fd = w->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* The URL without its query and fragment, which may carry a token. */
static void url_for_log(const char *url, char *dst, size_t n)
{
    char tmp[512];
    easel_redact_url(url, tmp, sizeof(tmp));
    tmp[strcspn(tmp, "?#")] = '\0';
    easel_strlcpy(dst, tmp, n);
}

/* Re-reads the secrets file when it changed (a rotated Secret); a bad new
 * file keeps the keys in force. */
static void reload_secrets(struct easel_webhook_sender *w)
{
    struct stat st;
    if (stat(w->secrets_file, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == w->secrets_mtime.tv_sec &&
        st.st_mtim.tv_nsec == w->secrets_mtime.tv_nsec)
        return;
    struct easel_webhook_secrets ns;
    struct easel_error err;
    easel_error_clear(&err);
    w->secrets_mtime = st.st_mtim;
    if (easel_webhook_secrets_load(w->secrets_file, &ns, &err) != EASEL_OK) {
        easel_warn(NULL, "webhooks: keeping the secrets in force: %s", err.msg);
        return;
    }
    easel_webhook_secrets_cleanup(&w->secrets);
    w->secrets = ns;
    easel_info(NULL, "webhooks: signing with %zu secret(s) from %s", ns.n, w->secrets_file);
}

static easel_err connect_store(struct easel_webhook_sender *w)
{
    easel_store_free(w->s);
    w->s = NULL;
    easel_err rc = easel_store_open(w->database_url, &w->s, NULL);
    if (!rc)
        rc = easel_store_webhook_listen(w->s);
    if (rc) {
        easel_store_free(w->s);
        w->s = NULL;
    }
    return rc;
}

/* {"type", "timestamp", "data": the job as GET /v1/jobs/{id} shows it}. */
static easel_err render_body(struct easel_webhook_sender *w, const struct easel_webhook_delivery *d,
                             char **out)
{
    struct easel_job *j = NULL;
    char ts[40];
    *out = NULL;
    easel_err rc = easel_store_job_get(w->s, d->job_id, &j);
    if (rc)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON *view = easel_api_job_view(w->public_url, j);
    if (!o || !view || easel_format_time(d->event_at_ms, ts, sizeof(ts))) {
        cJSON_Delete(o);
        cJSON_Delete(view);
        easel_job_free(j);
        return EASEL_ENOMEM;
    }
    cJSON_AddStringToObject(o, "type", d->type);
    cJSON_AddStringToObject(o, "timestamp", ts);
    cJSON_AddItemToObject(o, "data", view);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    easel_job_free(j);
    return *out ? EASEL_OK : EASEL_ENOMEM;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Keeps Retry-After and Location; a header line at a time. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct attempt *a = ud;
    size_t len = size * n;
    static const struct { const char *name; size_t off; } want[] = {
        {"retry-after:", offsetof(struct attempt, retry_after)},
        {"location:", offsetof(struct attempt, location)},
    };
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(want[i].name);
        if (len > k && !strncasecmp(p, want[i].name, k)) {
            char *dst = (char *)a + want[i].off;
            size_t cap = i == 0 ? sizeof(a->retry_after) : sizeof(a->location);
            size_t v = len - k;
            const char *val = p + k;
            while (v && (*val == ' ' || *val == '\t')) {
                val++;
                v--;
            }
            while (v && (val[v - 1] == '\r' || val[v - 1] == '\n' || val[v - 1] == ' '))
                v--;
            if (v >= cap)
                v = cap - 1;
            memcpy(dst, val, v);
            dst[v] = '\0';
        }
    }
    return len;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, const char *v)
{
    char line[2048];
    if (easel_snprintf(line, sizeof(line), fmt, v))
        return NULL;
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n)
        curl_slist_free_all(l);
    return n;
}

/* Builds the attempt's handle; false (with a->skip) when it cannot go out. */
static bool prepare(struct easel_webhook_sender *w, struct attempt *a)
{
    struct easel_webhook_delivery *d = a->d;
    char ts[24], *sig = NULL;
    if (!easel_str_has_prefix(d->url, "http://") && !easel_str_has_prefix(d->url, "https://")) {
        a->skip = easel_strdup("the webhook URL is not http:// or https://");
        return false;
    }
    int64_t now_s = easel_wall_ms() / 1000;
    (void)easel_snprintf(ts, sizeof(ts), "%lld", (long long)now_s);
    if (easel_webhook_sign(&w->secrets, d->webhook_id, now_s, d->body, strlen(d->body), &sig)) {
        a->skip = easel_strdup("could not sign the message");
        return false;
    }
    a->h = curl_easy_init();
    struct curl_slist *l = NULL;
    l = add_header(l, "Content-Type: %s", "application/json");
    l = l ? add_header(l, "User-Agent: %s", "easel/" EASEL_VERSION) : NULL;
    l = l ? add_header(l, "webhook-id: %s", d->webhook_id) : NULL;
    l = l ? add_header(l, "webhook-timestamp: %s", ts) : NULL;
    l = l ? add_header(l, "webhook-signature: %s", sig) : NULL;
    /* curl would otherwise wait for a 100-continue on larger bodies */
    l = l ? add_header(l, "Expect:%s", "") : NULL;
    char tp[EASEL_TRACEPARENT_LEN + 1];
    /* the receiver may continue the job's trace */
    if (l && a->span)
        l = add_header(l, "traceparent: %s", easel_span_traceparent(a->span, tp));
    free(sig);
    a->headers = l;
    if (!a->h || !l) {
        a->skip = easel_strdup("out of memory");
        return false;
    }
    a->guard.allow = (const char *const *)w->allow;
    easel_guard_arm(&a->guard, a->h, d->url);
    curl_easy_setopt(a->h, CURLOPT_URL, d->url);
    curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(d->body));
    curl_easy_setopt(a->h, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
    curl_easy_setopt(a->h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->o.timeout_ms);
    curl_easy_setopt(a->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(a->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(a->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(a->h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(a->h, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(a->h, CURLOPT_PRIVATE, a);
    return true;
}

/* Marks each attempt whose transfer has finished with its outcome. */
static void collect(CURLM *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct attempt *a = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
        a->done = true;
        a->cc = msg->data.result;
        curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &a->http);
    }
}

/* Runs every prepared attempt to its end, all at once. */
static void run_all(struct attempt *as, size_t n)
{
    CURLM *m = curl_multi_init();
    int running = 0;
    if (!m) {
        for (size_t i = 0; i < n; i++)
            if (!as[i].skip)
                as[i].skip = easel_strdup("out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!as[i].skip)
            curl_multi_add_handle(m, as[i].h);
    do {
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            break;
        collect(m);
    } while (running);
    /* a perform that failed left its finished transfers unread */
    collect(m);
    for (size_t i = 0; i < n; i++)
        if (as[i].h)
            curl_multi_remove_handle(m, as[i].h);
    curl_multi_cleanup(m);
}

/* The next attempt's delay after a failed one, or -1: the schedule is over. */
static int64_t retry_delay(struct easel_webhook_sender *w, const struct attempt *a)
{
    size_t made = (size_t)a->d->attempts + 1;
    if (made >= w->o.nschedule)
        return -1;
    int64_t delay = w->schedule[made], ra;
    /* a receiver may ask for more time, never for less than the schedule */
    if (a->retry_after[0] && easel_webhook_retry_after(a->retry_after, easel_wall_ms(), &ra)) {
        if (ra > EASEL_WEBHOOK_RETRY_AFTER_MAX_MS)
            ra = EASEL_WEBHOOK_RETRY_AFTER_MAX_MS;
        if (ra > delay)
            delay = ra;
    }
    return delay;
}

/* Turns how an attempt ended into the outbox's outcome, and records it. */
static void record(struct easel_webhook_sender *w, struct attempt *a)
{
    struct easel_webhook_delivery *d = a->d;
    struct easel_webhook_outcome o = {.status = "pending"};
    char why[400], where[256];
    bool retry = true;
    url_for_log(d->url, where, sizeof(where));
    why[0] = '\0';
    if (a->skip) {
        easel_strlcpy(why, a->skip, sizeof(why));
        retry = false;
    } else if (a->cc != CURLE_OK && a->guard.refused[0]) {
        easel_fmt_cut(why, sizeof(why),
                      "refused by the SSRF guard: %s; allow it with --webhook-allow",
                      a->guard.refused);
        retry = false;
    } else if (a->cc != CURLE_OK) {
        easel_fmt_cut(why, sizeof(why), "%s", a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->cc));
    } else {
        o.http_status = (int)a->http;
        if (a->http >= 200 && a->http < 300) {
            o.status = "delivered";
            retry = false;
        } else if (a->http == 410) {
            o.status = "gone";
            easel_strlcpy(why, "the endpoint answered 410 Gone: nothing more is sent to it",
                          sizeof(why));
            retry = false;
        } else if (a->http >= 300 && a->http < 400) {
            easel_fmt_cut(why, sizeof(why), "answered %ld, a redirect (not followed)%s%s",
                          a->http, a->location[0] ? " to " : "", a->location);
        } else {
            easel_fmt_cut(why, sizeof(why), "answered %ld", a->http);
        }
    }
    if (retry) {
        o.retry_ms = retry_delay(w, a);
        if (o.retry_ms < 0) {
            o.status = "failed";
            size_t k = strlen(why);
            easel_fmt_cut(why + k, sizeof(why) - k, "; gave up after %d attempts",
                          d->attempts + 1);
        }
    } else if (!strcmp(o.status, "pending")) {
        o.status = "failed";
    }
    o.error = why[0] ? why : NULL;
    if (o.http_status)
        easel_span_int(a->span, "http.response.status_code", o.http_status);
    easel_span_str(a->span, "easel.outcome", o.status);
    if (strcmp(o.status, "delivered") != 0)
        easel_span_error(a->span, why[0] ? why : o.status);
    char code[16], att[16];
    (void)easel_snprintf(code, sizeof(code), "%d", o.http_status);
    (void)easel_snprintf(att, sizeof(att), "%d", d->attempts + 1);
    char said[520];
    if (!strcmp(o.status, "pending"))
        easel_fmt_cut(said, sizeof(said), "webhook attempt failed (%s); again in %lld ms", why,
                      (long long)o.retry_ms);
    else
        easel_fmt_cut(said, sizeof(said), "webhook %s%s%s", o.status, why[0] ? ": " : "", why);
    easel_log_kv(!strcmp(o.status, "delivered") ? EASEL_LOG_INFO : EASEL_LOG_WARN, d->job_id,
                 (const char *const[]){"webhook_id", d->webhook_id, "type", d->type, "url", where,
                                       "http_status", code, "attempt", att, "outcome", o.status,
                                       NULL},
                 "%s", said);
    easel_metric_add(EASEL_M_WEBHOOKS,
                     (const char *const[]){strcmp(o.status, "pending") ? o.status : "retry"}, 1);
    easel_err rc = easel_store_webhook_record(w->s, d->id, &o);
    if (rc)
        easel_warn(d->job_id, "webhooks: could not record the attempt of %s (%s): %s; "
                   "it is sent again after its lease", d->webhook_id, easel_strerror(rc),
                   easel_store_errstr(w->s));
}

/* One claim: renders what has no body yet, sends everything at once,
 * records every outcome. Returns how many rows were claimed. */
static size_t deliver_batch(struct easel_webhook_sender *w)
{
    struct easel_webhook_delivery *ds = NULL;
    size_t n = 0;
    easel_err rc = easel_store_webhook_claim(w->s, (size_t)w->o.concurrency,
                                             w->o.timeout_ms + LEASE_MARGIN_MS, &ds, &n);
    if (rc) {
        easel_warn(NULL, "webhooks: claim failed: %s", easel_store_errstr(w->s));
        if (rc == EASEL_ECONN) {
            easel_store_free(w->s);
            w->s = NULL;
        }
        return 0;
    }
    if (n == 0)
        return 0;
    struct attempt *as = calloc(n, sizeof(*as));
    if (!as) {
        easel_store_deliveries_free(ds, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        as[i].d = &ds[i];
        as[i].span = delivery_span(w, &ds[i]);
        if (!ds[i].body) {
            char *body = NULL, *kept = NULL;
            rc = render_body(w, &ds[i], &body);
            if (!rc)
                rc = easel_store_webhook_set_body(w->s, ds[i].id, body, &kept);
            free(body);
            if (rc == EASEL_ENOTFOUND) {
                as[i].skip = easel_strdup("the job is gone");
                continue;
            }
            if (rc) {
                /* left leased: tried again after the lease */
                easel_warn(ds[i].job_id, "webhooks: cannot render %s: %s", ds[i].webhook_id,
                           easel_store_errstr(w->s));
                as[i].skip = NULL;
                as[i].done = true;
                continue;
            }
            ds[i].body = kept;
        }
        prepare(w, &as[i]);
    }
    run_all(as, n);
    for (size_t i = 0; i < n; i++) {
        if (as[i].skip || as[i].h)
            record(w, &as[i]);
        easel_span_end(as[i].span);
        curl_easy_cleanup(as[i].h);
        curl_slist_free_all(as[i].headers);
        free(as[i].skip);
    }
    free(as);
    easel_store_deliveries_free(ds, n);
    return n;
}

static void *sender_main(void *arg)
{
    struct easel_webhook_sender *w = arg;
    bool warned = false;
    while (!stopping(w)) {
        reload_secrets(w);
        if (!w->s) {
            if (connect_store(w) != EASEL_OK) {
                if (!warned)
                    easel_warn(NULL, "webhooks: database unreachable; trying again every %d ms",
                               RECONNECT_MS);
                warned = true;
                struct pollfd p = {.fd = w->stop_pipe[0], .events = POLLIN};
                (void)poll(&p, 1, RECONNECT_MS);
                continue;
            }
            warned = false;
        }
        (void)easel_store_drain_notifications(w->s, NULL);
        if (deliver_batch(w) > 0)
            continue;
        if (!w->s)
            continue;
        int64_t due = -1;
        if (easel_store_webhook_next_due(w->s, &due) == EASEL_ECONN) {
            easel_store_free(w->s);
            w->s = NULL;
            continue;
        }
        if (due == 0)
            continue;
        int64_t wait = due < 0 || due > IDLE_MAX_MS ? IDLE_MAX_MS : due;
        struct pollfd p[2] = {{.fd = w->stop_pipe[0], .events = POLLIN},
                              {.fd = easel_store_socket(w->s), .events = POLLIN}};
        (void)poll(p, 2, (int)wait);
    }
    return NULL;
}

static void sender_free(struct easel_webhook_sender *w)
{
    if (!w)
        return;
    easel_store_free(w->s);
    easel_webhook_secrets_cleanup(&w->secrets);
    for (size_t i = 0; w->allow && w->allow[i]; i++)
        free(w->allow[i]);
    free(w->allow);
    free(w->database_url);
    free(w->secrets_file);
    free(w->public_url);
    if (w->stop_pipe[0] >= 0)
        close(w->stop_pipe[0]);
    if (w->stop_pipe[1] >= 0)
        close(w->stop_pipe[1]);
    free(w);
}

easel_err easel_webhook_sender_start(const struct easel_webhook_opts *o,
                                     struct easel_webhook_sender **out,
                                     struct easel_error *err)
{
    struct easel_webhook_sender *w = NULL;
    easel_err rc;
    struct stat st;

    *out = NULL;
    if (!o || !o->database_url || !o->nschedule || o->nschedule > EASEL_WEBHOOK_SCHEDULE_MAX ||
        o->timeout_ms <= 0 || o->concurrency < 1)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "webhook sender: bad options");
    w = calloc(1, sizeof(*w));
    if (!w)
        return EASEL_ENOMEM;
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    w->o = *o;
    memcpy(w->schedule, o->schedule, o->nschedule * sizeof(*o->schedule));
    w->database_url = easel_strdup(o->database_url);
    w->secrets_file = easel_strdup(o->secrets_file ? o->secrets_file : "");
    w->public_url = easel_strdup(o->public_url ? o->public_url : "");
    size_t na = 0;
    while (o->allow && o->allow[na])
        na++;
    w->allow = calloc(na + 1, sizeof(char *));
    if (!w->database_url || !w->secrets_file || !w->public_url || !w->allow) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < na; i++)
        if (!(w->allow[i] = easel_strdup(o->allow[i]))) {
            rc = EASEL_ENOMEM;
            goto out;
        }
    if (stat(w->secrets_file, &st) == 0)
        w->secrets_mtime = st.st_mtim;
    rc = easel_webhook_secrets_load(w->secrets_file, &w->secrets, err);
    if (rc)
        goto out;
    if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_PIPE,
                             "webhook sender: pipe: %s", strerror(errno));
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&w->thread, NULL, sender_main, w) != 0) {
        rc = easel_error_set(err, EASEL_EIO, EASEL_CLASS_PERMANENT, EASEL_R_THREAD,
                             "cannot start the webhook sender thread");
        goto out;
    }
    w->started = true;
    easel_info(NULL, "webhooks: sender started (%zu secret(s), %zu attempts at most, timeout %lld ms)",
               w->secrets.n, w->o.nschedule, (long long)w->o.timeout_ms);
    *out = w;
    w = NULL;
out:
    sender_free(w);
    return rc;
}

void easel_webhook_sender_stop(struct easel_webhook_sender *w)
{
    if (!w)
        return;
    if (w->started) {
        ssize_t wr = write(w->stop_pipe[1], "x", 1);
        (void)wr;
        pthread_join(w->thread, NULL);
    }
    sender_free(w);
}
