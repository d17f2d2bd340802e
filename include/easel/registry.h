/*
 * registry.h - the model registry: a YAML document naming the default model,
 * the models (provider, input template, timeout, retry policy, concurrency,
 * output preset, fallbacks), the image presets, and the payload shapes that
 * turn whatever producers LPUSH into jobs.
 *
 * A registry is immutable once loaded: the controller swaps whole registries
 * on reload (keeping the last good one when a new file is invalid), and
 * readers hold a reference while they use one.
 */
#ifndef EASEL_REGISTRY_H
#define EASEL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "easel/core.h"
#include "easel/job.h"
#include "easel/pose.h"

/* JPEG, WebP and PNG are read and written; GIF and TIFF are only read, and
 * only when the registry's `formats` enables them. */
enum easel_format { EASEL_FMT_JPEG = 0, EASEL_FMT_WEBP, EASEL_FMT_PNG, EASEL_FMT_GIF,
                    EASEL_FMT_TIFF };
#define EASEL_FMT_BIT(f) (1u << (f))
/* The input formats a registry can enable: "gif", "tiff". */
easel_err easel_input_format_parse(const char *s, enum easel_format *out);
const char *easel_format_name(enum easel_format f);      /* "jpeg" */
const char *easel_format_mime(enum easel_format f);      /* "image/jpeg" */
const char *easel_format_ext(enum easel_format f);       /* "jpg" */
easel_err easel_format_parse(const char *s, enum easel_format *out);

struct easel_variant_spec {
    char *name;            /* "normal", "hq", "thumb"; unique in a preset */
    enum easel_format format;
    int width, height;     /* fit inside this box, never enlarge */
    int quality;           /* 1..100 */
    bool srgb_profile;     /* embed the sRGB profile (`profile: srgb`); else none */
};

struct easel_preset {
    char *name;
    struct easel_variant_spec *variants;
    size_t nvariants;
};

/* What a model's output must pass before it is stored (registry `checks`).
 * A failed check is retryable, with a new seed, then falls back like a
 * provider failure. */
struct easel_quality {
    double blank;          /* fail when every band's std deviation <= this; < 0 = off */
    int unchanged;         /* fail when the phash is within this many bits of the input's; < 0 = off */
    int min_side;          /* fail when width or height is smaller */
    int aspect_w, aspect_h;/* expected aspect W:H; 0:0 = any, -1:-1 = the input's */
    double aspect_tolerance; /* relative, e.g. 0.05 */
    bool repeat;           /* fail when identical to the previous attempt's failed output */
};

/* Which executor runs a model's attempts (registry `executor`). DEFAULT:
 * the controller's own; POD: the kubernetes executor (a Job per attempt);
 * LOCAL: the local executor (a child process per attempt); POOL: the warm
 * pool of `easel worker` processes (docs/worker.md). */
enum easel_model_exec { EASEL_MODEL_EXEC_DEFAULT = 0, EASEL_MODEL_EXEC_POD,
                        EASEL_MODEL_EXEC_LOCAL, EASEL_MODEL_EXEC_POOL };
/* "pod", "local", "pool" ("default" for DEFAULT). */
const char *easel_model_exec_name(enum easel_model_exec e);

struct easel_model {
    char *id;              /* "local/vips-stage", "qwen/qwen-image-edit" */
    char *provider;        /* replicate, openai, gemini, imagen, local */
    char *endpoint;        /* base URL or NULL */
    char *version;         /* provider model name / version, or NULL */
    char *credential_env;  /* env var holding the key, or NULL */
    cJSON *input;          /* input template (owned), or NULL */
    int64_t timeout_ms;
    struct easel_retry_policy retry;
    int concurrency;       /* max running at once across replicas, 0 = unlimited */
    /* cost: credits a job of this model costs its owner (0 = free), and
     * per-channel overrides (cost: {default: 3, b2b: 2}) */
    int cost;
    char **cost_channels;
    int *cost_values;
    size_t ncost_channels;
    int rate_requests;     /* rate_limit: dispatches per rate_per_ms across replicas; 0 = none */
    int64_t rate_per_ms;
    char *preset;          /* name of the output preset */
    char **fallback;       /* model ids tried in order */
    size_t nfallback;
    /* kubernetes executor: {image, resources, nodeSelector, tolerations,
     * priorityClassName} for this model's worker pods (owned), or NULL */
    cJSON *kube;
    struct easel_quality quality;
    int input_edge;        /* sources are fitted inside input_edge x input_edge before the call; 0 = 1024 */
    enum easel_model_exec executor; /* `executor:`; DEFAULT when absent */
    int exec_line, exec_col;        /* where `executor:` was written (0: absent) */
};

/* How long a concurrency place of the model is held at most: its timeout
 * plus a minute, so a holder that dies leaks no place for longer. */
int64_t easel_model_slot_hold_ms(const struct easel_model *m);

/* How a plain object that producers LPUSH becomes a job. */
struct easel_payload_rule {
    char *name;            /* "stage-run" */
    char **when;           /* fields that must all be present */
    size_t nwhen;
    char *type;            /* job type given to matching jobs */
    char *model;           /* model id, or NULL for the default */
    char *model_field;     /* payload field naming the model, or NULL */
    char **images;         /* payload fields holding source image URLs, in order */
    size_t nimages;
    char *channel_field;   /* payload field holding the channel, or NULL */
    char **owner_channels; /* channel values ("b2b") ... */
    char **owner_fields;   /* ... and the field holding the owner for each */
    size_t nowners;
    char **field_names;    /* job field name ... */
    char **field_sources;  /* ... and the payload field it comes from */
    size_t nfields;
    char *idempotency_field; /* payload field used as idempotency key, or NULL */
    /* the webhook of matching entries that name none (so producers get
     * webhooks without changing what they push), and its event filter
     * (EASEL_WEBHOOK_EV_BIT()s, 0: the default); NULL: none */
    char *webhook;
    unsigned webhook_events;
};

/* A value of a job that an app statement takes as one of its $N
 * (registry `args`): see docs/credits.md#external. */
enum easel_app_arg {
    EASEL_ARG_KEY,         /* "<job id>/<reservation>": one reservation */
    EASEL_ARG_JOB_ID,
    EASEL_ARG_RESERVATION, /* 1, plus one per manual retry */
    EASEL_ARG_OWNER,       /* the owner's id, without the channel */
    EASEL_ARG_CHANNEL,
    EASEL_ARG_OWNER_KEY,   /* "channel:id" */
    EASEL_ARG_AMOUNT,      /* the job's cost */
    EASEL_ARG_MODEL,
    EASEL_ARG_STATUS,      /* queued (reserve), or the final status */
    EASEL_ARG_REASON,      /* a refund's error reason, else NULL */
    EASEL_ARG_COUNT
};
const char *easel_app_arg_name(enum easel_app_arg a);
#define EASEL_APP_MAX_ARGS 10

/* One statement easel runs against the app's database. */
struct easel_app_stmt {
    char *sql;             /* NULL: not configured */
    enum easel_app_arg args[EASEL_APP_MAX_ARGS]; /* $1, $2, ... */
    int nargs;
    int line, col;         /* where it was written, for errors */
};

/* credits: how a job with a cost is charged. internal (the default):
 * easel's own ledger (migration 9). external: the app's own statements
 * against --app-database-url; reserve runs at intake and must return a
 * boolean, consume and refund go through easel's outbox. */
struct easel_credits_cfg {
    bool external;
    struct easel_app_stmt reserve, consume, refund;
    int64_t abandon_ms;    /* an unconfirmed reservation is refunded after this */
    int line, col;
};

/* What a column of an app record is set to (records: ... on: STATUS). */
enum easel_rec_value {
    EASEL_REC_LITERAL,     /* the text as written */
    EASEL_REC_NOW,         /* $now: when the job took the status */
    EASEL_REC_ERROR,       /* $error: the job's error message */
    EASEL_REC_REASON,      /* $reason: its error reason */
    EASEL_REC_JOB_ID,      /* $job_id */
    EASEL_REC_STATUS,      /* $status: easel's status name */
    EASEL_REC_MODEL,       /* $model */
    EASEL_REC_RESULT_URL,  /* $result_url: the first stored output's URL */
    EASEL_REC_VARIANT,     /* $variant.NAME: that variant's URL */
    EASEL_REC_NULL,        /* $null: SQL NULL (clears the column) */
};
struct easel_rec_col {
    char *column;
    enum easel_rec_value kind;
    char *text;            /* LITERAL: the value; VARIANT: the name */
    int line, col;
};
struct easel_rec_set {
    struct easel_rec_col *cols;
    size_t ncols;          /* 0: this status writes nothing */
};
/* records: a row of the app's own table kept in step with a job
 * (docs/records.md): selected by payload rule or channel, keyed by a
 * payload field, with the columns to set for each status. */
struct easel_record_rule {
    char *name;
    char *rule;            /* payload rule name, or NULL */
    char *channel;         /* channel, or NULL (one of the two is set) */
    char *schema;          /* NULL: the app's search path */
    char *table;
    char *key_column;
    char *key_field;       /* dotted path in the payload */
    struct easel_rec_set on[EASEL_STATUS_COUNT];
    int line, col, table_line, key_line;
};

struct easel_registry {
    int refs;              /* see easel_registry_ref/unref */
    char *source;          /* file name or "builtin" */
    char *default_model;
    struct easel_model *models;
    size_t nmodels;
    struct easel_preset *presets;
    size_t npresets;
    struct easel_payload_rule *payloads;
    size_t npayloads;
    int64_t idempotency_window_ms;
    int breaker_failures;          /* consecutive failures that open a breaker */
    int64_t breaker_cooldown_ms;   /* how long it stays open before a probe */
    char *paths[3];                /* storage.paths: b2b, b2c, default key templates; NULL = built-in */
    unsigned input_formats;        /* formats: extra input formats, EASEL_FMT_BIT(GIF)|... */
    struct easel_credits_cfg credits;
    struct easel_record_rule *records;
    size_t nrecords;
    /* size_charts: for body measurements (docs/pose.md) */
    struct easel_size_chart *charts;
    size_t ncharts;
};

/* The size chart a body estimate uses: the one named (NULL when there is
 * none by that name), else for a b2b owner "b2b:STORE" the chart named
 * STORE, else "default"; NULL when none applies. */
const struct easel_size_chart *easel_registry_size_chart(const struct easel_registry *r,
                                                         const char *name,
                                                         const char *owner);

/* One problem found while loading: file:line:column and a sentence. */
struct easel_diag {
    int line, col;
    char msg[240];
};
struct easel_diags {
    struct easel_diag *items;
    size_t n, cap;
};
void easel_diags_cleanup(struct easel_diags *d);
/* Appends one problem (d may be NULL). */
void easel_diags_add(struct easel_diags *d, int line, int col,
                     const char *fmt, ...) EASEL_PRINTF(4, 5);
/* Prints "file:line:col: msg" lines. */
void easel_diags_print(const struct easel_diags *d, const char *file,
                       FILE *out);

/* Parses and validates a registry document. Every problem found is appended
 * to diags (which may be NULL); returns EASEL_EPARSE when there was any, and
 * then *out is NULL. On success *out has one reference. `source` names the
 * document in messages. */
easel_err easel_registry_parse(const char *text, size_t len,
                               const char *source,
                               struct easel_registry **out,
                               struct easel_diags *diags);
easel_err easel_registry_load_file(const char *path,
                                   struct easel_registry **out,
                                   struct easel_diags *diags);
/* The embedded registry used when none is configured: local/vips-stage as
 * the default model, the built-in presets and the two seed payload shapes. */
easel_err easel_registry_builtin(struct easel_registry **out);
/* The YAML text of the embedded registry (docs/examples use it too). */
const char *easel_registry_builtin_yaml(void);

/* Checks that every model's `executor` can run under a controller whose
 * own executor is `own` ("local" or "kubernetes"): `pool` always can, and
 * `pod` or `local` must name `own` (a local controller cannot start pods,
 * and a kubernetes controller does not fork attempts beside itself). Each
 * mismatch is appended to diags at the key's line and column; returns
 * EASEL_EPARSE when there was any. The controller refuses such a registry
 * at start and on reload, exactly as an invalid one. */
easel_err easel_registry_check_executors(const struct easel_registry *r, const char *own,
                                         struct easel_diags *diags);
/* Does model id (its executor, or `own`'s default) run on the warm pool? */
bool easel_registry_runs_on_pool(const struct easel_registry *r, const char *id);

struct easel_registry *easel_registry_ref(struct easel_registry *r);
void easel_registry_unref(struct easel_registry *r); /* NULL-safe; thread-safe */

const struct easel_model *easel_registry_model(const struct easel_registry *r,
                                               const char *id);

struct easel_intake;
/* The record rule a job taken in as `in` keeps (the first whose payload
 * rule or channel matches) and the key its payload holds, or NULL (no
 * rule, or the key field is absent or not a string or number). *key is
 * malloc'd. */
const struct easel_record_rule *easel_registry_record_for(const struct easel_registry *r,
                                                          const struct easel_intake *in,
                                                          char **key);
const struct easel_record_rule *easel_registry_record(const struct easel_registry *r,
                                                      const char *name);

/* The credits a job of model m costs an owner on channel (NULL or "" for
 * none): the channel's override, else the model's cost. */
int easel_model_cost(const struct easel_model *m, const char *channel);

/* Failover. A job asking for a model runs through a chain: the model, then
 * its `fallback` models in order (their own fallbacks are not followed).
 * Each model in the chain gets its retry.max_attempts attempts; attempt k
 * (1-based) belongs to the first model whose running total reaches k. */
int easel_registry_chain_attempts(const struct easel_registry *r, const char *model_id);
/* The model of attempt `attempt`; *nth is the attempt's number on that
 * model and *pos its place in the chain (0 = the model itself). NULL past
 * the chain's end or for an unknown model. nth and pos may be NULL. */
const struct easel_model *easel_registry_chain_model(const struct easel_registry *r,
                                                     const char *model_id, int attempt,
                                                     int *nth, size_t *pos);
/* The chain's next model after *pos (which it advances), or NULL: where an
 * attempt goes at once when its model cannot be used (no key, breaker open). */
const struct easel_model *easel_registry_chain_next(const struct easel_registry *r,
                                                    const char *model_id, size_t *pos);
const struct easel_preset *easel_registry_preset(const struct easel_registry *r,
                                                 const char *name);

/* The smallest registry document that runs model_id: the model, the models
 * its fallback chain reaches and their presets, as JSON (which
 * easel_registry_parse reads, JSON being YAML). malloc'd; NULL if the model
 * is unknown or memory ran out. */
char *easel_registry_export(const struct easel_registry *r, const char *model_id);

/* A queue entry turned into a job, before it has a row in the store. */
struct easel_intake {
    char *id;              /* from the envelope, or NULL: caller assigns */
    char *type;
    char *model;           /* resolved model id (never NULL on success) */
    int priority;
    char *idempotency_key;
    char *webhook;
    unsigned webhook_events; /* EASEL_WEBHOOK_EV_BIT()s; 0: the default (completed) */
    cJSON *metadata;       /* or NULL */
    cJSON *payload;        /* the producer's object (inner payload of an envelope) */
    cJSON *input;          /* {"images":[url...], "fields":{...}} */
    char *channel;
    char *owner;
    char *rule;            /* payload rule that matched, or "envelope" */
    /* the producer's W3C trace context: a top-level "traceparent" string
     * of at most 64 bytes (checked when a span is made; never a reason to
     * reject the entry), or NULL */
    char *traceparent;
};
void easel_intake_cleanup(struct easel_intake *in);

/* Interprets one queue entry: an envelope ({"id","type","model","priority",
 * "idempotency_key","webhook","webhook_events_filter","payload",...}) or a
 * plain object matched against the
 * payload rules. Fails with EASEL_EPARSE (not JSON / not an object / no rule
 * matches / no usable fields) or EASEL_ENOTFOUND (unknown model) and a
 * sentence in err; err->reason is "malformed_json", "no_usable_fields" or
 * "unknown_model". With EASEL_ENOTFOUND, `in` is still filled so the job can
 * be recorded. */
easel_err easel_registry_intake(const struct easel_registry *r,
                                const char *entry, size_t len,
                                struct easel_intake *in,
                                struct easel_error *err);
/* The credits a job taken in as `in` costs its owner: its model's cost on
 * its channel, or 0 for a job without an owner. */
int easel_intake_cost(const struct easel_registry *r, const struct easel_intake *in);

/* Renders a model's input template against job fields: a string that is
 * exactly "{{name}}" takes the field's JSON value (number stays number),
 * other strings interpolate fields as text; missing fields render as null /
 * empty. Returns a new object (caller frees with cJSON_Delete). */
easel_err easel_registry_render_input(const struct easel_model *m,
                                      const cJSON *fields, cJSON **out);

#endif
