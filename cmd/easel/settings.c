/*
 * settings.c - the option tables: each setting once, with its flag, its
 * EASEL_* variable, its default and its help. `easel <mode> --help` and
 * docs/configuration.md (hack/gen-config-doc.sh) are generated from here.
 */
#include <stddef.h>

#include "easel/api.h"
#include "easel/webhook.h"
#include "settings.h"

#define OPTF(fl, flag, env, type, def, field, min, max, help)                \
    {flag, env, EASEL_OPT_##type, def, offsetof(struct settings, field), min, \
     max, help, fl}
#define OPT(...) OPTF(0, __VA_ARGS__)
/* a controller passes the setting on to its workers; W|S: a credential */
#define W EASEL_OPT_WORKER
#define S EASEL_OPT_SECRET

#define O_POSE_MODEL                                                          \
    OPT("pose-model", "EASEL_POSE_MODEL", STRING, "full", pose_model, 0, 0,   \
        "Landmark model: lite, full or heavy (MediaPipe's model complexity 0, 1, 2)")
/* where the pose models are: a controller serves POST /estimate-body with
 * them, and its workers run estimate-body jobs (provider: pose) */
#define O_POSE_SET(fl)                                                        \
    OPTF(fl, "pose-models", "EASEL_POSE_MODELS", STRING, NULL, pose_models, 0, 0, \
         "Folder of MediaPipe's pose models (docs/pose.md): a controller loads them at start " \
         "and serves POST /estimate-body; workers run estimate-body jobs with them (empty: off)"), \
    OPTF(fl, "pose-model", "EASEL_POSE_MODEL", STRING, "full", pose_model, 0, 0, \
         "Landmark model: lite, full or heavy (MediaPipe's model complexity 0, 1, 2)")
#define O_POSE_WORKER O_POSE_SET(W)
#define O_POSE                                                                \
    OPT("pose-models", "EASEL_POSE_MODELS", STRING, "models", pose_models, 0, 0, \
        "Folder of MediaPipe's pose models (hack/fetch-pose-models.sh fills it)"), \
    O_POSE_MODEL
#define O_REDIS_F(fl)                                                         \
    OPTF(fl, "redis-url", "EASEL_REDIS_URL", STRING, "redis://127.0.0.1:6379/0", \
         redis_url, 0, 0,                                                     \
         "Redis URL: redis://[:password@]host:port[/db], or "                 \
         "redis-sentinel://[:password@]sentinel:26379,.../MASTER[/db] to follow Sentinel")
#define O_REDIS O_REDIS_F(0)
#define O_DB_F(fl)                                                            \
    OPTF(fl, "database-url", "EASEL_DATABASE_URL", STRING,                    \
         "postgresql://127.0.0.1:5432/easel", database_url, 0, 0,             \
         "PostgreSQL connection URL (libpq syntax)")
#define O_DB O_DB_F(0)
/* registry credits.mode: external runs the app's statements there */
#define O_APPDB                                                               \
    OPTF(S, "app-database-url", "EASEL_APP_DATABASE_URL", STRING, NULL,       \
         app_database_url, 0, 0,                                              \
         "The app's PostgreSQL (libpq syntax), where the registry's credits statements "  \
         "run (credits.mode: external)")
#define O_QUEUE_F(fl)                                                         \
    OPTF(fl, "queue", "EASEL_QUEUE", STRING, "easel:jobs", queue, 0, 0,       \
         "Redis list that producers LPUSH jobs on; other keys share its prefix")
#define O_QUEUE O_QUEUE_F(0)
#define O_REGISTRY                                                            \
    OPT("registry", "EASEL_REGISTRY", STRING, NULL, registry, 0, 0,           \
        "Model registry YAML file (watched and reloaded); empty = built-in")
#define O_STORAGE_F(fl)                                                       \
    OPTF(fl, "storage", "EASEL_STORAGE", STRING, "file:///tmp/easel-results", \
         storage, 0, 0, "Where results are written: file:///absolute/dir or s3://bucket[/prefix]")
#define O_STORAGE O_STORAGE_F(0)
#define O_LOG_F(fl)                                                           \
    OPTF(fl, "log-level", "EASEL_LOG_LEVEL", STRING, "info", log_level, 0, 0, \
         "debug, info, warn or error (JSON lines on stderr)")
#define O_LOG O_LOG_F(0)
#define O_HEARTBEAT_F(fl)                                                     \
    OPTF(fl, "heartbeat", "EASEL_HEARTBEAT", DURATION, "5s", heartbeat_ms,    \
         100, 3600000, "How often a running job records that it is alive")
#define O_HEARTBEAT O_HEARTBEAT_F(0)
/* What job mode may fetch and decode. */
#define O_LIMITS(fl)                                                          \
    OPTF(fl, "max-source-bytes", "EASEL_MAX_SOURCE_BYTES", SIZE, "50MB",      \
         max_source_bytes, 1, 0x7fffffffffffLL,                               \
         "Largest source image a job may download"),                          \
    OPTF(fl, "fetch-timeout", "EASEL_FETCH_TIMEOUT", DURATION, "30s",         \
         fetch_timeout_ms, 100, 3600000, "Whole-transfer timeout for a source image"), \
    OPTF(fl, "connect-timeout", "EASEL_CONNECT_TIMEOUT", DURATION, "5s",      \
         connect_timeout_ms, 100, 600000, "Connect timeout for a source image"), \
    OPTF(fl, "max-pixels", "EASEL_MAX_PIXELS", I64, "50000000", max_pixels, 1, \
         0x7fffffffffffLL,                                                    \
         "Largest source image in pixels (width x height), checked before decoding"), \
    OPTF(fl, "max-side", "EASEL_MAX_SIDE", INT, "16384", max_side, 1, 1000000, \
         "Largest source image width or height in pixels"),                   \
    OPTF(fl, "file-root", "EASEL_FILE_ROOTS", LIST, NULL, file_roots, 0, 0,   \
         "Directory file:// sources must be inside, symlinks resolved (repeatable; comma-separated " \
         "in the environment; none = file:// refused)"),                      \
    OPTF(fl, "source-allow", "EASEL_SOURCE_ALLOW", LIST, NULL, source_allow, 0, 0, \
         "Let the SSRF guard through to these hosts, for http(s) sources and provider output URLs: " \
         "CIDRs, addresses, host names or *.domain (repeatable; comma-separated in the environment; " \
         "none = public internet addresses only)")

/* The contract between a controller and its workers (pkg/worker): every
 * setting a worker inherits. The local executor puts the controller's
 * values in the child's environment; the kubernetes executor puts them in
 * the Job's env, credentials (S) as Secret references. `easel render job`
 * takes the same list, so it prints what the controller would create, and
 * job mode reads each under the same variable (checked at start-up). The
 * registry is not in it: each executor hands its worker the registry in
 * force at dispatch. */
#define O_WORKER                                                              \
    O_REDIS_F(W | S), O_DB_F(W | S), O_QUEUE_F(W), O_STORAGE_F(W),            \
        O_HEARTBEAT_F(W), O_LIMITS(W), O_LOG_F(W), O_POSE_WORKER
#define O_OUTPUT                                                              \
    OPT("output", "EASEL_OUTPUT", STRING, "table", output, 0, 0,              \
        "Output format: table, json or yaml (-o json)")
/* The CLI through a controller's HTTP API instead of Redis and PostgreSQL
 * (docs/cli.md). The token is a credential (S): it is never printed. */
#define O_REMOTE                                                              \
    OPT("server", "EASEL_SERVER", STRING, NULL, server, 0, 0,                 \
        "easel API server, http(s)://HOST:PORT: work through it instead of on Redis and "     \
        "PostgreSQL directly"),                                               \
    OPTF(S, "token", "EASEL_TOKEN", STRING, NULL, token, 0, 0,                \
         "Bearer token for --server (a secret: never printed; the variable keeps it out of ps)"), \
    OPT("request-timeout", "EASEL_REQUEST_TIMEOUT", DURATION, "30s",          \
        request_timeout_ms, 100, 3600000, "With --server: the longest one request may take")

/* The kubernetes executor: where worker Jobs go and what they carry. */
#define O_KUBE                                                                \
    OPT("kubeconfig", "EASEL_KUBECONFIG", STRING, NULL, kubeconfig, 0, 0,     \
        "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)"), \
    OPT("namespace", "EASEL_NAMESPACE", STRING, NULL, kube_namespace, 0, 0,   \
        "Namespace of worker Jobs (default: the kubeconfig's or the pod's)"),  \
    OPT("worker-image", "EASEL_WORKER_IMAGE", STRING, NULL, worker_image, 0,  \
        0, "Image of worker pods (default: easel:<version>; the chart passes the controller's own)"), \
    OPT("image-pull-policy", "EASEL_IMAGE_PULL_POLICY", STRING,               \
        "IfNotPresent", image_pull_policy, 0, 0,                              \
        "imagePullPolicy of worker pods: Always, IfNotPresent or Never"),      \
    OPT("database-secret", "EASEL_DATABASE_SECRET", STRING, "easel-database", \
        database_secret, 0, 0,                                                \
        "Secret whose key database-url gives worker pods EASEL_DATABASE_URL"), \
    OPT("redis-secret", "EASEL_REDIS_SECRET", STRING, "easel-redis",          \
        redis_secret, 0, 0,                                                   \
        "Secret whose key redis-url gives worker pods EASEL_REDIS_URL (shared circuit breakers; optional)"), \
    OPT("provider-secret", "EASEL_PROVIDER_SECRET", STRING, "easel-providers",\
        provider_secret, 0, 0,                                                \
        "Secret holding provider keys under their credential_env names (optional keys)"), \
    OPT("storage-secret", "EASEL_STORAGE_SECRET", STRING, "easel-storage",    \
        storage_secret, 0, 0,                                                 \
        "Secret whose keys become worker pods' environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, EASEL_S3_ENDPOINT, ... (optional)"), \
    OPT("job-ttl", "EASEL_JOB_TTL", DURATION, "1h", job_ttl_ms, 0,            \
        31536000000LL, "ttlSecondsAfterFinished of worker Jobs"),             \
    OPT("kueue-queue", "EASEL_KUEUE_QUEUE", STRING, NULL, kueue_queue, 0, 0,  \
        "Kueue LocalQueue: Jobs are created suspended with kueue.x-k8s.io/queue-name"), \
    OPT("pending-grace", "EASEL_PENDING_GRACE", DURATION, "5m",               \
        pending_grace_ms, 1000, 86400000,                                     \
        "How long a worker pod may stay unschedulable or unable to pull its image before the attempt fails")

static const struct easel_opt controller_opts[] = {
    O_WORKER, O_REGISTRY, O_KUBE, O_APPDB,
    OPT("registry-configmap", "EASEL_REGISTRY_CONFIGMAP", STRING, NULL,
        registry_configmap, 0, 0,
        "Model registry from a ConfigMap, NAMESPACE/NAME (key models.yaml), watched; wins over --registry"),
    OPT("leader-elect", "EASEL_LEADER_ELECT", BOOL, "false", leader_elect, 0, 0,
        "Elect a leader among replicas with a coordination.k8s.io Lease (recovery, retry promotion, registry Events)"),
    OPT("leader-lease-name", "EASEL_LEADER_LEASE_NAME", STRING, "easel-controller",
        leader_lease_name, 0, 0, "Name of the leader-election Lease"),
    OPT("leader-lease", "EASEL_LEADER_LEASE", DURATION, "15s", leader_lease_ms, 1000,
        3600000, "Leader lease duration"),
    OPT("leader-renew-deadline", "EASEL_LEADER_RENEW_DEADLINE", DURATION, "10s",
        leader_renew_ms, 500, 3600000, "A leader that cannot renew for this long steps down"),
    OPT("leader-retry", "EASEL_LEADER_RETRY", DURATION, "2s", leader_retry_ms, 100,
        600000, "How often candidates and the leader look at the Lease"),
    OPT("executor", "EASEL_EXECUTOR", STRING, "local", executor, 0, 0,
        "Where attempts run: local (child processes of this binary) or kubernetes (a batch/v1 Job per attempt)"),
    OPT("concurrency", "EASEL_CONCURRENCY", INT, "4", concurrency, 1, 10000,
        "Attempts this controller runs at once (per-model limits come from the registry)"),
    OPT("claim-batch", "EASEL_CLAIM_BATCH", INT, "32", claim_batch, 1, 1000,
        "Most entries claimed from Redis in one round trip"),
    OPT("lease", "EASEL_LEASE", DURATION, "30s", lease_ms, 300, 3600000,
        "Lease on each claimed job, renewed every third of it; a dead controller's jobs are recovered after it"),
    OPT("worker-stale", "EASEL_WORKER_STALE", DURATION, "30s", worker_stale_ms,
        100, 86400000,
        "A recovered running job whose worker has not beaten its heartbeat for this long is declared lost"),
    OPT("shutdown-grace", "EASEL_SHUTDOWN_GRACE", DURATION, "30s",
        shutdown_grace_ms, 0, 86400000,
        "On SIGTERM, wait this long for running attempts before leaving them to a successor"),
    OPT("kill-grace", "EASEL_KILL_GRACE", DURATION, "10s", kill_grace_ms, 0,
        600000, "Between SIGTERM and SIGKILL when an attempt times out or is canceled "
        "(time for a provider call in flight to be canceled at the provider)"),
    OPT("controller-id", "EASEL_CONTROLLER_ID", STRING, NULL, controller_id, 0,
        0, "Name of this controller in Redis, at most 95 bytes (default: host-pid-random)"),
    OPT("migrate", "EASEL_MIGRATE", BOOL, "true", migrate, 0, 0,
        "Apply database migrations at start (under an advisory lock)"),
    OPTF(EASEL_OPT_EMPTY, "http-addr", "EASEL_HTTP_ADDR", STRING, EASEL_API_DEFAULT_ADDR, http_addr, 0, 0,
        "HTTP API address HOST:PORT (empty: no API); without --api-tokens-file only loopback, "
        "and the default binds 127.0.0.1"),
    OPT("api-tokens-file", "EASEL_API_TOKENS_FILE", STRING, NULL, api_tokens_file, 0, 0,
        "YAML file of the API's bearer tokens (name, token or token_sha256, scopes, owner)"),
    OPT("api-max-body", "EASEL_API_MAX_BODY", SIZE, "1MiB", api_max_body, 1024,
        1073741824, "Largest request body the API accepts (413 past it)"),
    OPT("api-max-image-body", "EASEL_API_MAX_IMAGE_BODY", SIZE, "20MiB", api_max_image_body,
        1024, 1073741824, "Largest body POST /estimate-body accepts (a photo upload)"),

    OPT("api-header-timeout", "EASEL_API_HEADER_TIMEOUT", DURATION, "10s",
        api_header_timeout_ms, 1000, 600000,
        "A request's head must arrive within this (slow clients are cut off)"),
    OPT("api-body-timeout", "EASEL_API_BODY_TIMEOUT", DURATION, "30s", api_body_timeout_ms,
        1000, 3600000, "A request's body must arrive within this"),
    OPT("api-idle-timeout", "EASEL_API_IDLE_TIMEOUT", DURATION, "60s", api_idle_timeout_ms,
        1000, 3600000, "An idle keep-alive connection is closed after this"),
    OPT("api-max-connections", "EASEL_API_MAX_CONNECTIONS", INT, "1024",
        api_max_connections, 16, 65000, "Connections the API holds at once"),
    OPT("api-rate-limit", "EASEL_API_RATE_LIMIT", INT, "0", api_rate_limit, 0, 1000000,
        "Requests per second per token (per client address without tokens), bursts of twice that; past it 429 (0: no limit)"),
    OPT("api-max-waiting", "EASEL_API_MAX_WAITING", INT, "1000", api_max_waiting, 1, 1000000,
        "Requests held by Prefer: wait at once; past it 429"),
    OPT("api-cors-origins", "EASEL_API_CORS_ORIGINS", STRING, NULL, api_cors_origins, 0, 0,
        "Origins whose web pages may call the API and its streams from a browser (CORS), comma-separated, or * (default: none)"),
    OPT("stream-heartbeat", "EASEL_STREAM_HEARTBEAT", DURATION, "15s", stream_heartbeat_ms,
        100, 600000, "An idle event stream gets a comment (SSE) or a ping (WebSocket) this often"),
    OPT("stream-max-buffer", "EASEL_STREAM_MAX_BUFFER", SIZE, "1MiB", stream_max_buffer, 4096,
        1073741824, "Live events a stream's client has not read yet, in bytes; past it the stream "
                    "goes on from Postgres once the client has read what it has"),
    OPT("stream-stall-timeout", "EASEL_STREAM_STALL_TIMEOUT", DURATION, "30s", stream_stall_ms,
        1000, 3600000, "A stream's client that reads nothing for this long while events wait "
                       "is disconnected with the reason (it resumes from its last id)"),
    OPT("api-threads", "EASEL_API_THREADS", INT, "0", api_threads, 0, 256,
        "Threads that run API requests, each with its own Redis and Postgres connection (0: one per CPU, at least 2)"),
    OPT("metrics-api-addr", "EASEL_METRICS_API_ADDR", STRING, NULL, metrics_api_addr, 0, 0,
        "Serve the Kubernetes external metrics API (external.metrics.k8s.io/v1beta1, metric "
        "easel_queue_backlog) over TLS on HOST:PORT, for an HPA (default: off)"),
    OPT("metrics-api-cert", "EASEL_METRICS_API_CERT", STRING, NULL, metrics_api_cert, 0, 0,
        "Serving certificate (PEM, with its chain) of the external metrics API"),
    OPT("metrics-api-key", "EASEL_METRICS_API_KEY", STRING, NULL, metrics_api_key, 0, 0,
        "Private key (PEM) of --metrics-api-cert"),
    OPT("metrics-api-client-ca", "EASEL_METRICS_API_CLIENT_CA", STRING, NULL,
        metrics_api_client_ca, 0, 0,
        "CA whose client certificates the external metrics API accepts (the cluster's "
        "requestheader-client-ca-file): a PEM file, or `cluster` to read it from "
        "kube-system/extension-apiserver-authentication at start; unset: no client "
        "certificate, loopback only"),
    OPT("metrics-api-allowed-names", "EASEL_METRICS_API_ALLOWED_NAMES", STRING, NULL,
        metrics_api_allowed_names, 0, 0,
        "Common names a client certificate may carry, comma-separated (the cluster's "
        "requestheader-allowed-names, e.g. front-proxy-client); unset: the cluster's list "
        "with --metrics-api-client-ca=cluster, else any the CA signed"),
    OPT("public-url", "EASEL_PUBLIC_URL", STRING, NULL, public_url, 0, 0,
        "The API's address as its clients reach it, http(s)://HOST[:PORT], for the urls inside "
        "webhook bodies (default: http://<--http-addr>)"),
    OPT("webhook-secret-file", "EASEL_WEBHOOK_SECRET_FILE", STRING, NULL, webhook_secret_file, 0, 0,
        "File of webhook signing secrets, whsec_<base64> one a line; every message is signed with "
        "each (rotation); re-read when it changes. Unset: this controller sends no webhooks"),
    OPT("webhook-allow", "EASEL_WEBHOOK_ALLOW", LIST, NULL, webhook_allow, 0, 0,
        "Let webhooks through the SSRF guard to these hosts: CIDRs, addresses, host names or "
        "*.domain (repeatable; comma-separated in the environment; none = public internet "
        "addresses only)"),
    OPT("webhook-retry-schedule", "EASEL_WEBHOOK_RETRY_SCHEDULE", STRING, EASEL_WEBHOOK_SCHEDULE_DEFAULT,
        webhook_retry_schedule, 0, 0,
        "Delays before each webhook attempt, the first from the event, comma-separated; one "
        "attempt per entry, at most 32, then the delivery is failed"),
    OPT("webhook-timeout", "EASEL_WEBHOOK_TIMEOUT", DURATION, "10s", webhook_timeout_ms, 100,
        600000, "Longest one webhook attempt may take, connect to last byte"),
    OPT("webhook-concurrency", "EASEL_WEBHOOK_CONCURRENCY", INT, "16", webhook_concurrency, 1,
        1000, "Webhook attempts this controller makes at once"),
};

static const struct easel_opt job_opts[] = {
    OPT("id", "EASEL_JOB_ID", STRING, NULL, id, 0, 0, "Job to run (a UUID)"),
    OPT("attempt", "EASEL_JOB_ATTEMPT", INT, "0", attempt, 0, 1000000,
        "Attempt this worker was started for; a stale worker does nothing (0 = any)"),
    O_DB, O_REGISTRY, O_STORAGE, O_HEARTBEAT, O_REDIS, O_QUEUE,
    OPT("registry-inline", "EASEL_REGISTRY_INLINE", STRING, NULL,
        registry_inline, 0, 0,
        "The registry document itself (YAML or JSON), as the kubernetes executor passes it; wins over --registry"),
    OPT("termination-log", "EASEL_TERMINATION_LOG", STRING, NULL,
        termination_log, 0, 0,
        "File that receives a one-line JSON summary at exit (Kubernetes: /dev/termination-log)"),
    OPT("worker-name", "EASEL_WORKER_NAME", STRING, NULL, worker_name, 0, 0,
        "How this worker names itself in the job record (default local:<pid>@<host>)"),
    O_LIMITS(0),
    O_POSE_SET(0),
    O_LOG,
};

/* `easel worker`: what job mode reads (it runs attempts in-process), and
 * how it claims and drains. */
static const struct easel_opt worker_opts[] = {
    OPT("concurrency", "EASEL_CONCURRENCY", INT, "4", concurrency, 1, 1000,
        "Attempts this worker runs at once, back to back (per-model limits come from the registry)"),
    OPT("drain-timeout", "EASEL_DRAIN_TIMEOUT", DURATION, "60s", drain_timeout_ms, 0, 86400000,
        "On SIGTERM: how long running attempts may go on (nothing new is claimed); one still "
        "running then is stopped and retried. Keep it under the pod's terminationGracePeriodSeconds"),
    OPT("health-addr", "EASEL_HEALTH_ADDR", STRING, "127.0.0.1:9465", health_addr, 0, 0,
        "HOST:PORT of the /healthz and /readyz probe listener (empty: none); loopback unless "
        "the probes come from elsewhere (the chart opens it to the kubelet)"),
    OPT("worker-id", "EASEL_WORKER_ID", STRING, NULL, worker_id, 0, 0,
        "Owner name of this worker's leases (default pool-<host>-<pid>-<random>)"),
    OPT("lease", "EASEL_LEASE", DURATION, "30s", lease_ms, 300, 3600000,
        "Lease on each claimed job, renewed every third of it; the controller recovers a dead "
        "worker's jobs after it (use the controller's value)"),
    O_REDIS, O_DB, O_QUEUE, O_REGISTRY, O_STORAGE, O_HEARTBEAT, O_LIMITS(0), O_POSE_SET(0), O_LOG,
};

static const struct easel_opt submit_opts[] = {
    OPT("model", "EASEL_MODEL", STRING, NULL, model, 0, 0,
        "Model id from the registry (default: the registry's default model)"),
    OPT("input", NULL, STRING, NULL, input, 0, 0,
        "Job fields as a JSON object, e.g. '{\"style\":\"modern\",\"seed\":7}'"),
    OPT("image", NULL, LIST, NULL, images, 0, 0,
        "Source image URL (file://, http://, https://); repeatable"),
    OPT("type", NULL, STRING, NULL, type, 0, 0, "Job type label"),
    OPT("idempotency-key", NULL, STRING, NULL, idempotency_key, 0, 0,
        "A key seen again within the registry's window returns the first job"),
    OPT("priority", NULL, INT, "0", priority, -1000, 1000,
        "Priority recorded with the job"),
    OPT("id", NULL, STRING, NULL, id, 0, 0, "Job id to use (a UUID; default: new)"),
    OPT("wait", NULL, BOOL, "false", wait, 0, 0,
        "Wait until the job ends and print it as JSON; exit 0 only if it succeeded"),
    OPT("timeout", "EASEL_WAIT_TIMEOUT", DURATION, "10m", wait_timeout_ms, 1,
        86400000, "With --wait: give up after this long"),
    OPT("run-at", NULL, STRING, NULL, run_at, 0, 0,
        "With --server: start the job no earlier than this RFC 3339 time (2026-11-28T12:00:00Z)"),
    OPT("delay", NULL, DURATION, NULL, delay_ms, 0, 31622400000LL,
        "With --server: start the job no earlier than this long from now (30s, 5m, 2h)"),
    O_REMOTE, O_REDIS, O_DB, O_QUEUE, O_LOG,
};

static const struct easel_opt get_opts[] = {O_OUTPUT, O_REMOTE, O_DB, O_LOG};
static const struct easel_opt list_opts[] = {
    OPT("status", NULL, STRING, NULL, status, 0, 0,
        "Only jobs in this status (queued, running, succeeded, dead, ...)"),
    OPT("model", NULL, STRING, NULL, model, 0, 0, "Only jobs of this model"),
    OPT("owner", NULL, STRING, NULL, owner, 0, 0,
        "Only jobs of this owner: CHANNEL:ID, or ID in any channel"),
    OPT("limit", NULL, INT, "50", limit, 1, 100000, "Most jobs to show"),
    O_OUTPUT, O_REMOTE, O_DB, O_LOG,
};
static const struct easel_opt cancel_opts[] = {O_REMOTE, O_REDIS, O_DB, O_QUEUE, O_LOG};
static const struct easel_opt retry_opts[] = {O_REMOTE, O_REDIS, O_DB, O_QUEUE, O_REGISTRY,
                                              O_APPDB, O_LOG};
static const struct easel_opt logs_opts[] = {
    OPT("follow", NULL, BOOL, "false", follow, 0, 0,
        "Keep printing new events until the job ends (-f)"),
    O_OUTPUT, O_REMOTE, O_DB, O_LOG,
};
static const struct easel_opt webhooks_opts[] = {
    OPT("job", NULL, STRING, NULL, job, 0, 0, "list: only the deliveries of this job"),
    OPT("failed", NULL, BOOL, "false", failed, 0, 0,
        "list: only the deliveries that failed for good (schedule exhausted or refused)"),
    OPT("limit", NULL, INT, "50", limit, 1, 1000, "list: most deliveries to show"),
    O_OUTPUT, O_REMOTE, O_DB, O_LOG,
};
static const struct easel_opt credits_opts[] = {
    OPT("reason", NULL, STRING, NULL, reason, 0, 0, "grant: why, kept in the ledger entry"),
    OPT("idempotency-key", NULL, STRING, NULL, idempotency_key, 0, 0,
        "grant: a key that makes a repeated grant count once (per owner)"),
    OPT("limit", NULL, INT, "50", limit, 1, 1000, "get: most ledger entries to show"),
    O_OUTPUT, O_REMOTE, O_DB, O_LOG,
};
static const struct easel_opt migrate_opts[] = {O_DB, O_LOG};
static const struct easel_opt breakers_opts[] = {
    OPT("output", NULL, STRING, "table", output, 0, 0,
        "Output format: table, json or prometheus (-o prometheus: the metric families)"),
    O_REDIS, O_QUEUE, O_LOG,
};
static const struct easel_opt registry_opts[] = {O_LOG};
static const struct easel_opt registry_validate_opts[] = {O_APPDB, O_LOG};
#define O_S3                                                                  \
    OPT("s3-endpoint", "EASEL_S3_ENDPOINT", STRING, NULL, s3_endpoint, 0, 0,  \
        "S3-compatible endpoint URL (default: AWS S3 in the region)"),        \
    OPT("s3-region", "EASEL_S3_REGION", STRING, NULL, s3_region, 0, 0,        \
        "Signing region (default: AWS_REGION, else us-east-1; R2 uses auto)"), \
    OPT("s3-path-style", "EASEL_S3_PATH_STYLE", BOOL, "false", s3_path_style, \
        0, 0, "Address objects as endpoint/bucket/key (MinIO and most self-hosted stores)")
static const struct easel_opt storage_opts[] = {
    OPT("expires", NULL, INT, "3600", expires_s, 1, 604800,
        "presign: seconds the URL stays valid (at most 7 days)"),
    OPT("date", NULL, STRING, NULL, amz_date, 0, 0,
        "presign: sign as of this time, YYYYMMDDTHHMMSSZ (default: now)"),
    OPT("method", NULL, STRING, "GET", method, 0, 0, "presign: GET or PUT"),
    OPT("content-type", NULL, STRING, "application/octet-stream", content_type, 0, 0,
        "put: the object's Content-Type"),
    O_S3, O_LOG,
};
/* the limits of the commands that read one image file (image, pose) */
#define O_FILE_LIMITS                                                         \
    OPT("max-source-bytes", "EASEL_MAX_SOURCE_BYTES", SIZE, "50MB", max_source_bytes, 1, \
        0x7fffffffffffLL, "Largest input file"),                              \
    OPT("max-pixels", "EASEL_MAX_PIXELS", I64, "50000000", max_pixels, 1, 0x7fffffffffffLL, \
        "Largest image in pixels (width x height), checked before decoding"), \
    OPT("max-side", "EASEL_MAX_SIDE", INT, "16384", max_side, 1, 1000000,    \
        "Largest image width or height in pixels")
static const struct easel_opt image_opts[] = {
    OPT("preset", NULL, STRING, "default", preset, 0, 0,
        "variants: the preset to make (the registry's, or a built-in one)"),
    O_FILE_LIMITS,
    O_REGISTRY, O_LOG,
};
static const struct easel_opt pose_opts[] = {
    OPT("repeat", NULL, INT, "1", repeat, 1, 100000,
        "Run the estimate this many times and report the mean time (benchmarks)"),
    OPT("height-cm", NULL, INT, "0", height_cm, 0, 300,
        "The person's height in centimetres: measurements in cm (0 = landmarks only)"),
    OPT("chart", NULL, STRING, NULL, chart, 0, 0,
        "With --height-cm: the registry's size chart to recommend from (default: \"default\")"),
    OPT("output", NULL, STRING, "table", output, 0, 0, "Output format: table or json (-o json)"),
    O_FILE_LIMITS,
    O_POSE, O_REGISTRY, O_LOG,
};
static const struct easel_opt render_opts[] = {
    OPT("id", NULL, STRING, NULL, id, 0, 0,
        "Render the Job for this job's next attempt (reads it from PostgreSQL)"),
    OPT("model", NULL, STRING, NULL, model, 0, 0,
        "Render the Job a job of this model would get (placeholder job id)"),
    OPT("attempt", NULL, INT, "0", attempt, 0, 1000000,
        "Attempt number (default: the job's next, or 1)"),
    OPT("output", NULL, STRING, "yaml", output, 0, 0, "Output format: yaml or json (-o json)"),
    O_WORKER, O_REGISTRY, O_KUBE,
};
static const struct easel_opt doc_opts[] = {
    OPT("markdown", NULL, BOOL, "true", markdown, 0, 0, "Markdown output"),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MODE(nm, us, sum, opts, mn, mx, fn)                                   \
    static const struct mode m_##fn = {{nm, us, sum, opts, N(opts), mn, mx},  \
                                       mode_##fn}

MODE("controller", "easel controller [flags]",
     "Claim jobs from Redis, run each attempt on an executor, record every outcome in PostgreSQL.",
     controller_opts, 0, 0, controller);
MODE("job", "easel job --id ID [flags]",
     "Run exactly one attempt of one job, then exit with a status code (what every worker runs).",
     job_opts, 0, 0, job);
MODE("worker", "easel worker [--concurrency N] [--drain-timeout D] [flags]",
     "Run the warm pool: claim the jobs of `executor: pool` models and run their attempts "
     "in-process, back to back.",
     worker_opts, 0, 0, worker);
MODE("submit", "easel submit [--model M] [--input JSON] [--image URL]... [--wait] [--server URL]",
     "Queue a job and print its id (with --wait, the finished job as JSON).",
     submit_opts, 0, 0, submit);
MODE("get", "easel get ID [-o table|json|yaml] [--server URL]", "Show one job.", get_opts, 1,
     1, get);
MODE("list", "easel list [--status S] [--model M] [--owner O] [-o table|json|yaml] [--server URL]",
     "List jobs, newest first.", list_opts, 0, 0, list);
MODE("cancel", "easel cancel ID",
     "Cancel a queued, waiting or running job.", cancel_opts, 1, 1, cancel);
MODE("retry", "easel retry ID",
     "Run a failed or dead-lettered job again with a fresh attempt budget.",
     retry_opts, 1, 1, retry);
MODE("logs", "easel logs ID [-f] [-o table|json|yaml] [--server URL]",
     "Show a job's history, one event a line (with -f, follow it until the job ends).",
     logs_opts, 1, 1, logs);
MODE("breakers", "easel breakers [-o table|json|prometheus]",
     "Show the circuit breaker of every provider endpoint, shared by all workers through Redis.",
     breakers_opts, 0, 0, breakers);
MODE("webhooks", "easel webhooks (list [--job ID] [--failed] | redeliver ID) [-o table|json|yaml] [--server URL]",
     "Show the webhook deliveries of the outbox, newest first, or send one again.",
     webhooks_opts, 1, 2, webhooks);
MODE("credits", "easel credits (get CHANNEL:ID [--limit N] | grant CHANNEL:ID AMOUNT [--reason R] [--idempotency-key K]) [-o table|json|yaml] [--server URL]",
     "Show an owner's credits and ledger, newest first, or grant credits.",
     credits_opts, 2, 3, credits);
MODE("migrate", "easel migrate",
     "Apply the PostgreSQL schema (idempotent, versioned).", migrate_opts, 0, 0,
     migrate);
MODE("registry", "easel registry validate FILE [--app-database-url URL]",
     "Check a model registry file exactly as the controller loads it (with external "
     "credits, against the app's database).",
     registry_validate_opts, 2, 2, registry);
MODE("image", "easel image (check FILE | phash FILE | variants [--preset P] IN OUTDIR)",
     "What the image loader accepts or refuses and why, the perceptual hash, or a preset's "
     "variants, through job mode's code.",
     image_opts, 2, 3, image);
MODE("pose", "easel pose IMAGE [--height-cm N] [--pose-model lite|full|heavy] [-o table|json]",
     "Find the person in a photo: MediaPipe's 33 body landmarks, and with --height-cm the "
     "body measurements and a size from the registry's chart.",
     pose_opts, 1, 1, pose);
MODE("storage", "easel storage (presign s3://BUCKET/KEY [--expires S] [--date D] | put FILE s3://BUCKET/KEY | get s3://BUCKET/KEY FILE)",
     "Presigned URLs and object copies for S3-compatible storage (credentials from "
     "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN).",
     storage_opts, 2, 3, storage);
MODE("render", "easel render job (--id ID | --model M)",
     "Print, as YAML, the exact batch/v1 Job the kubernetes executor would create.",
     render_opts, 1, 1, render);
MODE("version", "easel version",
     "Print the build version, commit and library versions.", registry_opts, 0,
     0, version);
MODE("config-doc", "easel config-doc",
     "Print every mode's settings as Markdown (docs/configuration.md).",
     doc_opts, 0, 0, config_doc);

const struct easel_cmd_spec *const worker_spec = &m_job.spec;
const struct easel_cmd_spec *const controller_spec = &m_controller.spec;
const struct easel_cmd_spec *const render_spec = &m_render.spec;

const struct mode *const easel_modes[] = {
    &m_controller, &m_job,     &m_worker,  &m_submit,  &m_get,     &m_list,       &m_cancel,
    &m_retry,      &m_logs,    &m_webhooks, &m_credits, &m_breakers, &m_migrate, &m_registry, &m_image, &m_pose, &m_storage, &m_render, &m_version, &m_config_doc, NULL,
};
