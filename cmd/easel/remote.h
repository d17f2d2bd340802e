/*
 * remote.h - the job commands through a controller's HTTP API, taken
 * instead of the direct road when --server / EASEL_SERVER is set.
 *
 * Exit codes (docs/cli.md): 0 done; 1 the job failed or did not end in
 * time (submit --wait); 2 the request was refused as malformed or invalid
 * (400, 413, 415, 422) or a flag was wrong; 3 no such job (404); 4 the
 * token was refused (401, 403); 5 the job's state does not allow it (409);
 * 6 the server is unreachable, silent, overloaded or failing (no answer,
 * 429, 5xx).
 */
#ifndef EASEL_CMD_REMOTE_H
#define EASEL_CMD_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "settings.h"

/* Is the CLI to go through a server? */
bool remote_wanted(const struct settings *s);

int remote_submit(struct settings *s);
int remote_get(struct settings *s, const char *id);
int remote_list(struct settings *s);
int remote_change(struct settings *s, const char *id, bool cancel);
int remote_logs(struct settings *s, const char *id);
/* `easel webhooks list` (redeliver_id NULL) or `redeliver ID`. */
int remote_webhooks(struct settings *s, const char *redeliver_id);
/* `easel credits get OWNER` (grant 0) or `grant OWNER AMOUNT`. */
int remote_credits(struct settings *s, const char *owner, int64_t grant);
/* Prints an account (GET /v1/credits/{owner}'s shape) as a table or in s's
 * output format (credits.c). */
struct cJSON;
void out_credits(const struct settings *s, const struct cJSON *doc);
/* Prints a {"items": [...]} list of deliveries (or, when one, a single
 * delivery) as a table or in s's output format (webhooks.c). */
struct cJSON;
void out_webhooks(const struct settings *s, const struct cJSON *doc, bool one);

#endif
