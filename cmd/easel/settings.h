/*
 * settings.h - every setting of every mode, declared once in settings.c as
 * option tables (flag, environment variable, default, help). Modes read the
 * parsed values from one struct.
 */
#ifndef EASEL_CMD_SETTINGS_H
#define EASEL_CMD_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "easel/config.h"

struct settings {
    /* shared */
    char *redis_url, *database_url, *queue, *registry, *storage, *log_level;
    char *app_database_url;
    char *redis_secret, *storage_secret;
    char *registry_inline; /* job: the registry document itself */
    /* pose estimation (easel pose, the API's /estimate-body, estimate-body jobs) */
    char *pose_models, *pose_model, *chart;
    int height_cm, repeat;
    /* controller */
    char *executor, *controller_id;
    /* kubernetes executor */
    char *kubeconfig, *kube_namespace, *worker_image, *image_pull_policy,
        *database_secret, *provider_secret, *kueue_queue;
    int64_t job_ttl_ms, pending_grace_ms;
    char *registry_configmap, *leader_lease_name;
    bool leader_elect;
    int64_t leader_lease_ms, leader_renew_ms, leader_retry_ms;
    int concurrency, claim_batch;
    int64_t lease_ms, worker_stale_ms, heartbeat_ms, shutdown_grace_ms,
        kill_grace_ms;
    bool migrate;
    /* the HTTP API (controller) */
    char *http_addr, *api_tokens_file, *api_cors_origins;
    int64_t api_max_body, api_max_image_body, api_header_timeout_ms, api_body_timeout_ms, api_idle_timeout_ms;
    int api_max_connections, api_threads, api_rate_limit, api_max_waiting;
    int64_t stream_heartbeat_ms, stream_max_buffer, stream_stall_ms;
    /* the external metrics API (controller) */
    char *metrics_api_addr, *metrics_api_cert, *metrics_api_key, *metrics_api_client_ca,
        *metrics_api_allowed_names;
    /* webhooks (controller) */
    char *webhook_secret_file, *webhook_retry_schedule, *public_url;
    char **webhook_allow;
    int64_t webhook_timeout_ms;
    int webhook_concurrency;
    /* webhooks list */
    char *job;
    bool failed;
    /* worker (the warm pool) */
    char *worker_id, *health_addr;
    int64_t drain_timeout_ms;
    /* job */
    char *id, *termination_log, *worker_name;
    char **file_roots, **source_allow;
    int attempt;
    int64_t max_source_bytes, fetch_timeout_ms, connect_timeout_ms,
        max_pixels;
    int max_side;
    /* submit */
    char *model, *input, *type, *idempotency_key, *preset, *reason;
    char **images;
    int priority;
    bool wait;
    /* storage */
    char *s3_endpoint, *s3_region, *amz_date, *method, *content_type;
    bool s3_path_style;
    int expires_s;
    int64_t wait_timeout_ms;
    /* get / list / logs */
    char *output, *status, *owner;
    int limit;
    bool markdown, follow;
    /* the CLI through an API server (--server) */
    char *server, *token, *run_at;
    int64_t request_timeout_ms, delay_ms;
};

struct mode {
    struct easel_cmd_spec spec;
    int (*run)(struct settings *s, char **args, int nargs);
};

/* The modes, in the order `easel --help` lists them; NULL-terminated. */
extern const struct mode *const easel_modes[];
/* Job mode's table: what a worker reads (easel_worker_settings_build). */
extern const struct easel_cmd_spec *const worker_spec;
/* The tables whose EASEL_OPT_WORKER rows a worker inherits: the
 * controller's, and render's, which prints the Job the controller makes. */
extern const struct easel_cmd_spec *const controller_spec;
extern const struct easel_cmd_spec *const render_spec;

int mode_controller(struct settings *s, char **args, int nargs);
int mode_job(struct settings *s, char **args, int nargs);
int mode_worker(struct settings *s, char **args, int nargs);
int mode_submit(struct settings *s, char **args, int nargs);
int mode_get(struct settings *s, char **args, int nargs);
int mode_list(struct settings *s, char **args, int nargs);
int mode_cancel(struct settings *s, char **args, int nargs);
int mode_retry(struct settings *s, char **args, int nargs);
int mode_logs(struct settings *s, char **args, int nargs);
int mode_migrate(struct settings *s, char **args, int nargs);
int mode_breakers(struct settings *s, char **args, int nargs);
int mode_webhooks(struct settings *s, char **args, int nargs);
int mode_credits(struct settings *s, char **args, int nargs);
int mode_image(struct settings *s, char **args, int nargs);
int mode_pose(struct settings *s, char **args, int nargs);
int mode_storage(struct settings *s, char **args, int nargs);
struct easel_s3_opts;
/* S3 options: the environment's (easel_s3_opts_from_env), then the flags. */
void s3_opts_from(const struct settings *s, struct easel_s3_opts *o);
int mode_registry(struct settings *s, char **args, int nargs);
int mode_version(struct settings *s, char **args, int nargs);
int mode_render(struct settings *s, char **args, int nargs);

struct easel_kube_job_params;
struct easel_worker_settings;
/* The kubernetes settings as Job-builder parameters (render and controller);
 * p->worker is w (borrowed). */
void kube_job_params_from(const struct settings *s, const char *ns,
                          const struct easel_worker_settings *w,
                          struct easel_kube_job_params *p);
int mode_config_doc(struct settings *s, char **args, int nargs);

#endif
