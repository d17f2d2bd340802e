/* providers.h - calling AI image models: one shared HTTP layer (libcurl,
 * one reused connection per call context) and one file per provider
 * (replicate, openai, gemini, imagen) in pkg/providers.
 *
 * A provider call is one attempt at one model: it sends the request the
 * model's input template built, waits for the result (polling where the
 * provider is asynchronous), and returns the first output image's bytes.
 * Failures are classified (retryable or permanent) with the provider's own
 * message kept and any server-requested delay in err->retry_after_ms.
 * Credentials are never written into errors or logs.
 */
#ifndef EASEL_PROVIDERS_H
#define EASEL_PROVIDERS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "easel/core.h"
#include "easel/registry.h"
#include "easel/storage.h"

/* ------------------------------------------------------------------ HTTP */

struct easel_http;
easel_err easel_http_new(struct easel_http **out);
void easel_http_free(struct easel_http *h);
/* Makes every later exchange on h a client span, child of parent (borrowed,
 * must outlive the exchanges; NULL: none). */
struct easel_span;
void easel_http_trace(struct easel_http *h, const struct easel_span *parent);
/* The HTTP status of the last exchange that got an answer, 0 if none did. */
long easel_http_last_status(const struct easel_http *h);

/* A multipart/form-data part: a file when filename is set. */
struct easel_http_part {
    const char *name;
    const void *data;
    size_t len;
    const char *filename;  /* NULL: a plain field */
    const char *mime;      /* files: "image/png" */
};

struct easel_http_req {
    const char *method;            /* "GET", "POST" */
    const char *url;
    const char *const *headers;    /* NULL-terminated "Name: value" lines */
    const char *body;              /* request body (JSON), or NULL */
    size_t body_len;
    const struct easel_http_part *parts; /* or multipart/form-data */
    size_t nparts;
    int64_t timeout_ms;            /* whole exchange; 0 = 60 s */
    size_t max_body;               /* response cap; 0 = 64 MiB */
    const char *secret;            /* redacted from any error text */
    const volatile sig_atomic_t *abort_on; /* non-zero: abandon the exchange */
};

struct easel_http_resp {
    long status;
    char *body;                    /* NUL-terminated */
    size_t len;
    char content_type[96];
    int64_t retry_after_ms;        /* Retry-After / retry-after-ms; 0 = none */
};
void easel_http_resp_cleanup(struct easel_http_resp *r);

/* Performs one exchange on the handle's connection. EASEL_OK whenever a
 * response arrived, whatever its status; otherwise a transport failure,
 * classified in err (timeouts and connection errors are retryable). */
easel_err easel_http_do(struct easel_http *h, const struct easel_http_req *r,
                        struct easel_http_resp *out, struct easel_error *err);

/* Parses a Retry-After value: delta-seconds or an HTTP-date (relative to
 * now_wall_ms). Returns milliseconds, or -1 when the value is neither. */
int64_t easel_retry_after_parse(const char *v, int64_t now_wall_ms);

/* Classifies a provider's HTTP error. 408, 409, 425, 429 and 5xx are
 * retryable; other statuses are permanent. The message reads
 * "<provider> <status>: <provider message>"; reason is provider_http (named
 * "provider_http_<status>") unless the caller passes a more specific one
 * (EASEL_R_NONE for none). Returns the easel_err set. */
easel_err easel_provider_http_error(struct easel_error *err, const char *provider,
                                    long status, enum easel_reason reason,
                                    const char *provider_msg);

/* Removes every occurrence of secret from s, in place ("[redacted]"). */
void easel_redact_secret(char *s, size_t size, const char *secret);

/* -------------------------------------------------------------- calling */

/* A source image ready for a provider: encoded bytes and where it came from. */
struct easel_src_image {
    const char *url;       /* the job's source URL */
    const void *data;      /* encoded (JPEG or PNG), resized for the model */
    size_t len;
    const char *mime;
    int width, height;
};

/* What a call reports while it runs, for the job's stream. Pointers are
 * borrowed for the callback's duration only. */
struct easel_call_progress {
    const char *provider;  /* "replicate", "openai", "gemini", "imagen" */
    const char *status;    /* the provider's own word: Replicate's "starting",
                            * "processing", "succeeded"...; for a synchronous
                            * API "requesting", then "received" */
    const char *ref;       /* the provider's id of the call (a Replicate
                            * prediction), or NULL */
    double percent;        /* of the model's own work, 0..100; < 0 unknown */
    const char *logs;      /* all the model has logged so far, or NULL */
    size_t logs_len;
    bool final;            /* the call has ended: what is left may go out */
};
/* Called from the calling thread, between the call's requests; must not
 * block for long (it runs inside the provider's timing). */
typedef void (*easel_call_progress_fn)(void *ud, const struct easel_call_progress *p);

struct easel_call {
    const struct easel_model *model;
    const char *api_key;                   /* the credential; NULL for local */
    const cJSON *input;                    /* the rendered input template */
    const struct easel_src_image *images;  /* source images, in order */
    size_t nimages;
    int64_t deadline_ms;                   /* easel_now_ms() clock: when to give up */
    const volatile sig_atomic_t *stop;     /* non-zero: cancel and return */
    const char *job_id;                    /* for logs */
    struct easel_http *http;               /* the call's connection */
    const struct easel_fetch_opts *fetch;  /* for output URLs (caps, timeouts) */
    easel_call_progress_fn progress;       /* or NULL */
    void *progress_ud;
};

struct easel_call_result {
    void *data;            /* the output image, as the provider sent it */
    size_t len;
    char *provider_ref;    /* e.g. a Replicate prediction id, or NULL */
    cJSON *usage;          /* token or cost figures when the provider gives them */
};
void easel_call_result_cleanup(struct easel_call_result *r);

/* Calls the model's provider. Unknown provider: EASEL_EUNSUPPORTED. */
easel_err easel_provider_call(const struct easel_call *c, struct easel_call_result *out,
                              struct easel_error *err);

/* ------------------------------------------------------- provider logs */

/* The percent (0..100) of the newest tqdm-style progress bar in a
 * provider's log text ("<desc>: 45%|####     | 9/20 [...]"), looking at the
 * last lines first, each line's \r-redrawn pieces included. Returns false
 * (and leaves *pct) when there is none. Any bytes are safe. */
bool easel_logs_percent(const char *text, size_t len, double *pct);

/* Bounds of one logs event. */
struct easel_logs_limits {
    size_t max_lines;   /* lines per event, at least 2 (one may be the marker) */
    size_t max_line;    /* bytes per line before it is cut ("..."), at least 8 */
};

/* The lines of text[*off..len) not sent yet, made safe to show: complete
 * lines only unless `all` (the call has ended); a \r-redrawn line as its
 * last drawing; escape sequences and control characters dropped, invalid
 * UTF-8 as '?', blank lines skipped; a line longer than max_line cut. When
 * there are more than max_lines, the newest max_lines - 1 are kept after a
 * "[N earlier lines not shown]" marker (which max_line does not cut). *lines gets a new JSON array of
 * strings (the caller frees it), or NULL when there is nothing to send;
 * *off moves past what was read. Text shorter than *off (not the text read
 * before) is read from its start. EASEL_ENOMEM leaves *off. */
easel_err easel_logs_take(const char *text, size_t len, size_t *off, bool all,
                          const struct easel_logs_limits *lim, cJSON **lines);

/* Standard base64 (with padding) of len bytes; malloc'd, NUL-terminated. */
char *easel_base64(const void *data, size_t len);

/* The base URL a model's requests go to: its endpoint, or the provider's
 * public API. */
const char *easel_provider_base(const struct easel_model *m);

#endif
