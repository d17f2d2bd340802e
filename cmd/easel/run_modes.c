/*
 * run_modes.c - the long-running and worker modes: `easel controller` wires
 * the executor into the controller and turns SIGTERM/SIGINT into a graceful
 * stop; `easel job` runs one attempt and maps the outcome to an exit code.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "easel/controller.h"
#include "easel/executor.h"
#include "easel/imaging.h"
#include "easel/kube.h"
#include "easel/kubejob.h"
#include "easel/leader.h"
#include "easel/pool.h"
#include "easel/runner.h"
#include "easel/telemetry.h"
#include "easel/trace.h"
#include "easel/webhook.h"
#include "easel/worker.h"
#include "easel/pose.h"
#include "easel/storage.h"
#include "settings.h"

/* SIGTERM and SIGINT call handler (both modes stop gracefully on either);
 * SIGPIPE is ignored, so a peer that goes away cannot take us with it. */
static void stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void on_stop(int sig)
{
    (void)sig;
    easel_controller_request_stop();
}

/* This host's name for Events and the Lease, "easel" when it has none or
 * it does not fit whole (a cut name is not this host's). */
static void host_name(char *dst, size_t len)
{
    if (gethostname(dst, len) != 0 || !memchr(dst, '\0', len) || !dst[0])
        easel_strlcpy(dst, "easel", len);
}

/* How sources are fetched and images loaded, from the O_LIMITS settings:
 * job mode, the warm pool and the controller's /estimate-body read them
 * the same way. */
static void fetch_from(const struct settings *s, struct easel_fetch_opts *f)
{
    easel_fetch_opts_default(f);
    f->max_bytes = s->max_source_bytes;
    f->timeout_ms = s->fetch_timeout_ms;
    f->connect_timeout_ms = s->connect_timeout_ms;
    f->file_roots = (const char *const *)s->file_roots;
    f->allow = (const char *const *)s->source_allow;
}

static void limits_from(const struct settings *s, struct easel_image_limits *l)
{
    easel_image_limits_default(l);
    l->max_pixels = s->max_pixels;
    l->max_bytes = s->max_source_bytes;
    l->max_width = l->max_height = s->max_side;
}

/* The pose models of --pose-models, for `who` (a mode's name in errors).
 * 0 with *out NULL when the setting is empty; 2 for a bad --pose-model;
 * 1 when the models do not load (the message printed). */
static int open_pose(const struct settings *s, const char *who,
                     struct easel_pose_service **out)
{
    enum easel_pose_model which;
    struct easel_error perr;
    *out = NULL;
    if (!s->pose_models || !*s->pose_models)
        return 0;
    easel_error_clear(&perr);
    if (!easel_pose_model_parse(s->pose_model, &which)) {
        fprintf(stderr, "easel %s: --pose-model must be lite, full or heavy, not %s\n", who,
                s->pose_model ? s->pose_model : "(empty)");
        return 2;
    }
    if (easel_pose_service_open(s->pose_models, which, out, &perr)) {
        fprintf(stderr, "easel %s: %s\n", who, perr.msg);
        return 1;
    }
    return 0;
}

static int run_controller(struct settings *s, char **args, int nargs);
static int run_job(struct settings *s, char **args, int nargs);
static int run_worker(struct settings *s, char **args, int nargs);

/* Traces and error reports live as long as the mode does (docs/
 * observability.md); both are off unless their variables are set. */
int mode_controller(struct settings *s, char **args, int nargs)
{
    easel_trace_init("controller");
    easel_sentry_init("controller");
    int status = run_controller(s, args, nargs);
    easel_trace_shutdown(3000);
    easel_sentry_shutdown(2000);
    return status;
}

/* A job is a short process: what is queued gets at most 2 s at exit,
 * shared by the two senders, so an unreachable collector or Sentry never
 * holds a worker (or its pod) longer than that. */
int mode_job(struct settings *s, char **args, int nargs)
{
    easel_trace_init("job");
    easel_sentry_init("job");
    int code = run_job(s, args, nargs);
    int64_t t0 = easel_now_ms();
    easel_trace_shutdown(1500);
    int64_t left = 2000 - (easel_now_ms() - t0);
    easel_sentry_shutdown(left > 0 ? left : 0);
    return code;
}

static int run_controller(struct settings *s, char **args, int nargs)
{
    (void)args;
    (void)nargs;
    bool kube = !strcmp(s->executor, "kubernetes");
    if (!kube && strcmp(s->executor, "local") != 0) {
        fprintf(stderr, "easel controller: --executor must be \"local\" or \"kubernetes\", got \"%s\"\n",
                s->executor);
        return 2;
    }
    if (!easel_str_has_prefix(s->storage, "file:///") &&
        !easel_str_has_prefix(s->storage, "s3://")) {
        fprintf(stderr, "easel controller: --storage must be file:///absolute/dir or "
                "s3://bucket[/prefix], got \"%s\"\n", s->storage);
        return 2;
    }
    for (size_t i = 0; s->file_roots && s->file_roots[i]; i++)
        if (!easel_file_root_valid(s->file_roots[i])) {
            fprintf(stderr, "easel controller: --file-root must be an absolute directory, "
                    "got \"%s\"\n", s->file_roots[i]);
            return 2;
        }
    for (size_t i = 0; s->source_allow && s->source_allow[i]; i++) {
        if (!easel_allow_entry_valid(s->source_allow[i])) {
            fprintf(stderr, "easel controller: --source-allow \"%s\" is not a CIDR, an address, "
                    "a host name or *.domain\n", s->source_allow[i]);
            return 2;
        }
    }
    for (size_t i = 0; s->webhook_allow && s->webhook_allow[i]; i++) {
        if (!easel_allow_entry_valid(s->webhook_allow[i])) {
            fprintf(stderr, "easel controller: --webhook-allow \"%s\" is not a CIDR, an address, "
                    "a host name or *.domain\n", s->webhook_allow[i]);
            return 2;
        }
    }
    int64_t schedule[EASEL_WEBHOOK_SCHEDULE_MAX];
    size_t nschedule = 0;
    if (easel_webhook_schedule_parse(s->webhook_retry_schedule, schedule, &nschedule)) {
        fprintf(stderr, "easel controller: --webhook-retry-schedule must be 1 to %d durations "
                "of at most a week, comma-separated, such as 0s,5s,5m; got \"%s\"\n",
                EASEL_WEBHOOK_SCHEDULE_MAX, s->webhook_retry_schedule);
        return 2;
    }
    if (s->public_url && *s->public_url && !easel_str_has_prefix(s->public_url, "http://") &&
        !easel_str_has_prefix(s->public_url, "https://")) {
        fprintf(stderr, "easel controller: --public-url must be http(s)://HOST[:PORT], got \"%s\"\n",
                s->public_url);
        return 2;
    }
    /* The id owns leases and names this replica in the Lease and on Jobs:
     * one that does not fit is refused here, before anything starts. */
    if (s->controller_id && strlen(s->controller_id) >= EASEL_CONTROLLER_ID_MAX) {
        fprintf(stderr, "easel controller: --controller-id is %zu bytes; at most %d are "
                "allowed\n", strlen(s->controller_id), EASEL_CONTROLLER_ID_MAX - 1);
        return 2;
    }
    /* What every worker inherits, from the option table: the same for both
     * executors, whether a value came from a flag or the environment. */
    struct easel_worker_settings ws;
    struct easel_error werr;
    easel_error_clear(&werr);
    easel_err wrc = easel_worker_settings_build(controller_spec, worker_spec, s, &ws, &werr);
    if (wrc) {
        fprintf(stderr, "easel controller: %s\n", werr.msg[0] ? werr.msg : easel_strerror(wrc));
        return wrc == EASEL_EINVAL ? 2 : 1;
    }
    /* With a registry file, workers read the controller's snapshot of the
     * last registry it accepted, never the file an operator is editing. */
    char snapdir[256] = "", snapshot[300] = "";
    if (s->registry && *s->registry) {
        const char *tmp = getenv("TMPDIR");
        /* a cut template would make the directory somewhere else */
        if (easel_snprintf(snapdir, sizeof(snapdir), "%s/easel-controller-XXXXXX",
                           tmp && *tmp ? tmp : "/tmp") != EASEL_OK) {
            fprintf(stderr, "easel controller: TMPDIR \"%s\" is too long for the registry "
                    "snapshot's directory (at most %zu bytes)\n", tmp,
                    sizeof(snapdir) - sizeof("/easel-controller-XXXXXX"));
            snapdir[0] = '\0';
            easel_worker_settings_cleanup(&ws);
            return 2;
        }
        if (!mkdtemp(snapdir)) {
            fprintf(stderr, "easel controller: cannot create %s for the registry snapshot: %s\n",
                    snapdir, strerror(errno));
            easel_worker_settings_cleanup(&ws);
            return 1;
        }
        /* cannot fail: snapdir is < 256 bytes, and 12 more fit in 300 */
        if (easel_snprintf(snapshot, sizeof(snapshot), "%s/models.yaml", snapdir) != EASEL_OK) {
            fprintf(stderr, "easel controller: cannot name the registry snapshot in %s\n",
                    snapdir);
            rmdir(snapdir);
            easel_worker_settings_cleanup(&ws);
            return 2;
        }
    }
    /* the registry is the executor's to give: a local worker reads the
     * snapshot (or the built-in one), a pod gets it inline */
    char *env[2] = {easel_asprintf("EASEL_REGISTRY=%s", snapshot), NULL};
    int status = 1;
    struct easel_executor *ex = NULL;
    struct easel_kube_config *kc = NULL;
    struct easel_leader *leader = NULL;
    struct easel_kube_recorder *rec = NULL; /* the one Event writer */
    struct easel_pose_service *pose = NULL;
    if (!env[0]) {
        fprintf(stderr, "easel controller: out of memory\n");
        goto out;
    }

    bool need_kube = kube || (s->registry_configmap && *s->registry_configmap) ||
                     s->leader_elect ||
                     (s->metrics_api_addr && *s->metrics_api_addr && s->metrics_api_client_ca &&
                      !strcmp(s->metrics_api_client_ca, EASEL_EXTMETRICS_CLUSTER_CA));
    if (need_kube) {
        struct easel_error kerr;
        easel_error_clear(&kerr);
        if (easel_kube_config_load(s->kubeconfig, NULL, &kc, &kerr) != EASEL_OK) {
            fprintf(stderr, "easel controller: %s\n", kerr.msg);
            goto out;
        }
        char host[128];
        host_name(host, sizeof(host));
        struct easel_kube_recorder_opts ro = {
            .reporter = s->controller_id && *s->controller_id ? s->controller_id : host};
        if (easel_kube_recorder_new(kc, &ro, &rec, &kerr) != EASEL_OK) {
            fprintf(stderr, "easel controller: %s\n", kerr.msg);
            goto out;
        }
    }
    /* without election every replica does the leader's duties */
    easel_metric_set(EASEL_M_LEADER, NULL, s->leader_elect ? 0 : 1);
    if (s->leader_elect) {
        char host[128];
        host_name(host, sizeof(host));
        struct easel_leader_opts lo = {
            .ns = s->kube_namespace, .name = s->leader_lease_name,
            .identity = s->controller_id && *s->controller_id ? s->controller_id : host,
            .lease_ms = s->leader_lease_ms, .renew_deadline_ms = s->leader_renew_ms,
            .retry_period_ms = s->leader_retry_ms};
        struct easel_error lerr;
        easel_error_clear(&lerr);
        if (easel_leader_start(kc, &lo, &leader, &lerr) != EASEL_OK) {
            fprintf(stderr, "easel controller: leader election: %s\n", lerr.msg);
            goto out;
        }
    }
    if (kube) {
        struct easel_error kerr;
        easel_error_clear(&kerr);
        const char *ns = s->kube_namespace && *s->kube_namespace ? s->kube_namespace
                                                                 : kc->namespace;
        struct easel_kube_job_params jp;
        kube_job_params_from(s, ns, &ws, &jp);
        struct easel_kube_exec_opts ko = {.cfg = kc, .job = &jp,
                                          .pending_grace_ms = s->pending_grace_ms,
                                          .recorder = rec};
        easel_err krc = easel_executor_kube_new(&ko, &ex, &kerr);
        if (krc != EASEL_OK) {
            fprintf(stderr, "easel controller: cannot set up the kubernetes executor: %s\n",
                    kerr.msg[0] ? kerr.msg : easel_strerror(krc));
            goto out;
        }
    } else {
        struct easel_local_opts lo = {.worker = &ws, .env = (const char *const *)env,
                                      .kill_grace_ms = s->kill_grace_ms};
        if (easel_executor_local_new(&lo, &ex) != EASEL_OK) {
            fprintf(stderr, "easel controller: cannot set up the local executor "
                            "(out of memory, or its own binary cannot be found)\n");
            goto out;
        }
    }
    stop_signals(on_stop);

    /* POST /estimate-body: the models load now, or the controller does
     * not start (a clear error naming the file beats a 503 later) */
    struct easel_fetch_opts body_fetch;
    struct easel_image_limits body_limits;
    fetch_from(s, &body_fetch);
    body_fetch.schemes = EASEL_SCHEME_HTTP | EASEL_SCHEME_DATA;
    limits_from(s, &body_limits);
    if (s->pose_models && *s->pose_models) {
        if (easel_imaging_init("easel", 1)) {
            fprintf(stderr, "easel controller: --pose-models needs libvips: %s\n",
                    easel_imaging_init_error());
            goto out;
        }
        if (open_pose(s, "controller", &pose))
            goto out;
        /* the API's pool threads also answer health checks and jobs: pose
         * requests may hold all but one of them */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN); /* the pool's own default, clamped */
        int threads = s->api_threads > 0 ? s->api_threads
                                         : cpus < 2 ? 2 : cpus > 16 ? 16 : (int)cpus;
        easel_pose_service_set_limit(pose, threads > 2 ? threads - 1 : 1);
        easel_info(NULL, "pose models loaded from %s (%s): POST /estimate-body is on",
                   s->pose_models, easel_pose_service_model(pose));
    }
    struct easel_api_opts api = {
        .pose = pose,
        .fetch = &body_fetch,
        .image_limits = &body_limits,
        .max_image_body = s->api_max_image_body,
        .addr = s->http_addr,
        .tokens_file = s->api_tokens_file,
        .max_body = s->api_max_body,
        .header_timeout_ms = s->api_header_timeout_ms,
        .body_timeout_ms = s->api_body_timeout_ms,
        .idle_timeout_ms = s->api_idle_timeout_ms,
        .max_connections = s->api_max_connections,
        .rate_limit = s->api_rate_limit,
        .max_waiting = s->api_max_waiting,
        .threads = s->api_threads,
        .cors_origins = s->api_cors_origins,
        .stream_heartbeat_ms = s->stream_heartbeat_ms,
        .stream_max_buffer = s->stream_max_buffer,
        .stream_stall_ms = s->stream_stall_ms,
    };
    char public_url[300];
    if (s->public_url && *s->public_url)
        easel_strlcpy(public_url, s->public_url, sizeof(public_url));
    else
        easel_fmt_cut(public_url, sizeof(public_url), "http://%s",
                      s->http_addr && *s->http_addr ? s->http_addr : "127.0.0.1");
    size_t pl = strlen(public_url);
    while (pl > 8 && public_url[pl - 1] == '/')
        public_url[--pl] = '\0';
    struct easel_webhook_opts wo = {
        .database_url = s->database_url,
        .secrets_file = s->webhook_secret_file,
        .allow = (const char *const *)s->webhook_allow,
        .schedule = schedule,
        .nschedule = nschedule,
        .timeout_ms = s->webhook_timeout_ms,
        .public_url = public_url,
        .concurrency = s->webhook_concurrency,
    };
    struct easel_extmetrics_opts em = {
        .addr = s->metrics_api_addr,
        .cert_file = s->metrics_api_cert,
        .key_file = s->metrics_api_key,
        .client_ca_file = s->metrics_api_client_ca,
        .allowed_names = s->metrics_api_allowed_names,
        .kube = kc,
    };
    struct easel_controller_opts o = {
        .api = &api,
        .extmetrics = &em,
        .webhooks = s->webhook_secret_file && *s->webhook_secret_file ? &wo : NULL,
        .redis_url = s->redis_url,
        .database_url = s->database_url,
        .queue = s->queue,
        .registry_path = s->registry,
        .registry_snapshot = snapshot[0] ? snapshot : NULL,
        .registry_configmap = s->registry_configmap,
        .kube = kc,
        .recorder = rec,
        .leader = leader,
        .controller_id = s->controller_id,
        .concurrency = s->concurrency,
        .claim_batch = (size_t)s->claim_batch,
        .lease_ms = s->lease_ms,
        .worker_stale_ms = s->worker_stale_ms,
        .shutdown_grace_ms = s->shutdown_grace_ms,
        .migrate = s->migrate,
        .executor = ex,
        .app_database_url = s->app_database_url,
    };
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_controller_run(&o, &err);
    if (rc)
        easel_error_log(NULL, "controller cannot run: %s",
                        err.msg[0] ? err.msg : easel_strerror(rc));
    status = rc ? 1 : 0;
out:
    easel_executor_free(ex);
    easel_pose_service_free(pose);
    easel_kube_recorder_free(rec, 3000); /* what is queued, if it can */
    easel_leader_stop(leader); /* releases the Lease: a successor leads at once */
    easel_kube_config_free(kc);
    free(env[0]);
    easel_worker_settings_cleanup(&ws);
    if (snapshot[0]) {
        unlink(snapshot);
        rmdir(snapdir);
    }
    return status;
}

/* Set by SIGTERM (the controller canceled the job or timed it out, or the
 * pod is going away) or SIGINT; the runner reads it through its options
 * and cancels a provider call in flight at the provider. */
static volatile sig_atomic_t job_stop;

static void on_job_stop(int sig)
{
    (void)sig;
    job_stop = 1;
}

/* The runner installs no handlers (pkg/ leaves the process's signals to
 * cmd/), so job mode sets them up here, just before the attempt. */

static int run_job(struct settings *s, char **args, int nargs)
{
    (void)args;
    (void)nargs;
    if (!s->id || !*s->id) {
        fprintf(stderr, "easel job: --id is required (see easel job --help)\n");
        return EASEL_EXIT_USAGE;
    }
    if (!easel_str_has_prefix(s->storage, "file:///") &&
        !easel_str_has_prefix(s->storage, "s3://")) {
        fprintf(stderr, "easel job: --storage must be file:///absolute/dir or "
                "s3://bucket[/prefix], got \"%s\"\n", s->storage);
        return EASEL_EXIT_USAGE;
    }
    if (easel_imaging_init("easel", 0) != EASEL_OK) {
        fprintf(stderr, "easel job: cannot start libvips: %s\n", easel_imaging_init_error());
        return EASEL_EXIT_INTERNAL;
    }
    char worker[EASEL_WORKER_ID_MAX];
    if (s->worker_name && *s->worker_name)
        easel_strlcpy(worker, s->worker_name, sizeof(worker));
    else if (easel_worker_local_id(worker, sizeof(worker)) != EASEL_OK)
        easel_strlcpy(worker, "local", sizeof(worker)); /* a host name too long to name */

    struct easel_runner_opts o = {
        .database_url = s->database_url,
        .registry_path = s->registry,
        .registry_text = s->registry_inline,
        .storage_url = s->storage,
        .termination_log = s->termination_log,
        .worker = worker,
        .attempt = s->attempt,
        .heartbeat_ms = s->heartbeat_ms,
        .redis_url = s->redis_url,
        .queue = s->queue,
        .stop = &job_stop,
        .traceparent = getenv("TRACEPARENT"),
    };
    fetch_from(s, &o.fetch);
    limits_from(s, &o.limits);
    o.pose_models = s->pose_models;
    o.pose_model = s->pose_model;
    stop_signals(on_job_stop);
    int code = easel_runner_run(&o, s->id);
    easel_imaging_shutdown();
    return code;
}

static void on_worker_stop(int sig)
{
    (void)sig;
    easel_pool_request_stop();
}

/* `easel worker`: the warm pool. The attempts run in this process (the
 * runner is a library), so the settings are job mode's plus how to claim
 * and drain. */
/* The warm pool lives long, like a controller: its attempts' spans join
 * each job's trace through the context stored with the job. */
int mode_worker(struct settings *s, char **args, int nargs)
{
    easel_trace_init("worker");
    easel_sentry_init("worker");
    int status = run_worker(s, args, nargs);
    easel_trace_shutdown(3000);
    easel_sentry_shutdown(2000);
    return status;
}

static int run_worker(struct settings *s, char **args, int nargs)
{
    (void)args;
    (void)nargs;
    if (!easel_str_has_prefix(s->storage, "file:///") &&
        !easel_str_has_prefix(s->storage, "s3://")) {
        fprintf(stderr, "easel worker: --storage must be file:///absolute/dir or "
                "s3://bucket[/prefix], got \"%s\"\n", s->storage);
        return 2;
    }
    for (size_t i = 0; s->file_roots && s->file_roots[i]; i++)
        if (!easel_file_root_valid(s->file_roots[i])) {
            fprintf(stderr, "easel worker: --file-root must be an absolute directory, "
                    "got \"%s\"\n", s->file_roots[i]);
            return 2;
        }
    for (size_t i = 0; s->source_allow && s->source_allow[i]; i++)
        if (!easel_allow_entry_valid(s->source_allow[i])) {
            fprintf(stderr, "easel worker: --source-allow \"%s\" is not a CIDR, an address, "
                    "a host name or *.domain\n", s->source_allow[i]);
            return 2;
        }
    /* Parallelism comes from the slots, each running one attempt: libvips
     * works on one thread per attempt instead of waking a pool for every
     * tiny operation. */
    if (easel_imaging_init("easel", 1) != EASEL_OK) {
        fprintf(stderr, "easel worker: cannot start libvips: %s\n", easel_imaging_init_error());
        return 1;
    }
    /* Job mode keeps two malloc arenas for one image at a time; a worker
     * runs one attempt per slot, so each slot gets an arena, and freed
     * buffers stay for the next attempt instead of going back to the
     * kernel (and being faulted in again) after every job. */
    mallopt(M_ARENA_MAX, s->concurrency + 1);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    struct easel_pool_opts o = {
        .redis_url = s->redis_url,
        .database_url = s->database_url,
        .queue = s->queue,
        .registry_path = s->registry,
        .worker_id = s->worker_id,
        .concurrency = s->concurrency,
        .lease_ms = s->lease_ms,
        .drain_timeout_ms = s->drain_timeout_ms,
        .health_addr = s->health_addr,
        .run = {.storage_url = s->storage, .heartbeat_ms = s->heartbeat_ms,
                .redis_url = s->redis_url, .queue = s->queue},
    };
    fetch_from(s, &o.run.fetch);
    limits_from(s, &o.run.limits);
    o.run.pose_models = s->pose_models;
    o.run.pose_model = s->pose_model;
    /* estimate-body attempts share one loaded pipeline, taking turns */
    struct easel_pose_service *pose = NULL;
    int prc = open_pose(s, "worker", &pose);
    if (prc) {
        easel_imaging_shutdown();
        return prc;
    }
    o.run.pose_service = pose;
    stop_signals(on_worker_stop);
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_pool_run(&o, &err);
    if (rc)
        easel_error_log(NULL, "worker cannot run: %s", err.msg[0] ? err.msg : easel_strerror(rc));
    easel_pose_service_free(pose);
    easel_imaging_shutdown();
    return rc ? 1 : 0;
}
