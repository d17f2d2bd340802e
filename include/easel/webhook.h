/*
 * webhook.h - signed webhooks, as the Standard Webhooks specification
 * describes them: the signing of one message, the secrets file, the retry
 * schedule, and the sender that delivers the outbox (the webhook_deliveries
 * table the store's trigger fills) from each controller.
 *
 * A delivery is at least once: its row is committed with the job event that
 * causes it, and it stays pending until an endpoint answers 2xx, answers
 * 410 Gone, or the schedule is exhausted. Receivers deduplicate on the
 * webhook-id header, which is the same for every attempt of one delivery.
 */
#ifndef EASEL_WEBHOOK_H
#define EASEL_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "easel/core.h"

/* ------------------------------------------------------------- signing */

/* One signing key: the bytes a "whsec_<base64>" secret decodes to. */
struct easel_webhook_key {
    unsigned char *bytes;
    size_t len;
};
/* The keys in force; every message is signed with each of them, so a
 * receiver that knows any one verifies (rotation without downtime). */
struct easel_webhook_secrets {
    struct easel_webhook_key *keys;
    size_t n;
};
void easel_webhook_secrets_cleanup(struct easel_webhook_secrets *s); /* NULL-safe */

/* Decodes one secret: "whsec_" followed by standard base64 of 24 to 512
 * bytes (the prefix may be left out). EASEL_EPARSE otherwise; the message
 * in err never repeats the secret. */
easel_err easel_webhook_key_parse(const char *text, struct easel_webhook_key *out,
                                  struct easel_error *err);
/* Reads a secrets file: one secret a line; blank lines and lines starting
 * with # are skipped. At least one secret is required. *out is filled only
 * on success. */
easel_err easel_webhook_secrets_load(const char *path, struct easel_webhook_secrets *out,
                                     struct easel_error *err);

/* The webhook-signature header's value for one message: "v1,<base64 of
 * HMAC-SHA256(key, id "." timestamp "." body)>" for each key, separated by
 * spaces. *out is malloc'd. id must not contain '.'. EASEL_EINVAL without
 * keys. */
easel_err easel_webhook_sign(const struct easel_webhook_secrets *s, const char *msg_id,
                             int64_t timestamp, const char *body, size_t len, char **out);

/* ------------------------------------------------------ retry schedule */

/* The default: the first attempt at once, then 5 s, 5 min, 30 min, 2 h,
 * 5 h, 10 h and 10 h after each failure (8 attempts, about 28 hours). */
#define EASEL_WEBHOOK_SCHEDULE_DEFAULT "0s,5s,5m,30m,2h,5h,10h,10h"
#define EASEL_WEBHOOK_SCHEDULE_MAX 32
/* The longest Retry-After a receiver can ask for; a longer one is cut. */
#define EASEL_WEBHOOK_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
/* "0s,5s,5m": delay i is waited before attempt i+1 (the first from the
 * event). 1 to EASEL_WEBHOOK_SCHEDULE_MAX durations of at most a week
 * each; EASEL_EINVAL otherwise. */
easel_err easel_webhook_schedule_parse(const char *text, int64_t *ms, size_t *n);

/* A Retry-After value: delay-seconds or an HTTP date, as milliseconds from
 * now_wall_ms (0 for a date in the past); false when it is neither. */
bool easel_webhook_retry_after(const char *value, int64_t now_wall_ms, int64_t *ms);

/* -------------------------------------------------------------- sender */

struct easel_webhook_opts {
    const char *database_url;
    const char *secrets_file;     /* required: every message is signed */
    const char *const *allow;     /* SSRF guard allow list (--webhook-allow) */
    const int64_t *schedule;      /* retry schedule (copied) */
    size_t nschedule;
    int64_t timeout_ms;           /* one attempt, connect to last byte */
    const char *public_url;       /* base of the urls inside job objects */
    int concurrency;              /* attempts in flight at once */
};

struct easel_webhook_sender;

/* Loads the secrets (EASEL_EPARSE/EIO with err on a bad file) and starts
 * the sender's thread, which has its own Postgres connection and keeps
 * trying to make one while the database is away. The secrets file is read
 * again when it changes (a rotated Kubernetes Secret); a bad new file is
 * logged and the keys in force are kept. */
easel_err easel_webhook_sender_start(const struct easel_webhook_opts *o,
                                     struct easel_webhook_sender **out,
                                     struct easel_error *err);
/* Lets attempts in flight finish (each is bounded by the timeout), ends the
 * thread and frees everything. NULL-safe. */
void easel_webhook_sender_stop(struct easel_webhook_sender *w);


struct easel_webhook_delivery;
/* A delivery as the API and the CLI show it: {"id" (the webhook-id),
 * "job_id", "event_seq", "type", "url", "status", "attempts",
 * "last_status_code", "last_error", "next_attempt_at" (while pending),
 * "created_at", "updated_at", "delivered_at"}. Caller cJSON_Delete()s;
 * NULL when memory ran out. */
cJSON *easel_webhook_delivery_json(const struct easel_webhook_delivery *d);

#endif
