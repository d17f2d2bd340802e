/*
 * run_modes.c - the long-running and worker modes: `easel controller` wires
 * the executor into the controller and turns SIGTERM/SIGINT into a graceful
 * stop; `easel job` runs one attempt and maps the outcome to an exit code.
 */
#include <errno.h>
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
#include "easel/runner.h"
#include "settings.h"

static void on_stop(int sig)
{
    (void)sig;
    easel_controller_request_stop();
}

/* Settings a child `easel job` must share with its controller, passed
 * through the environment so the child's argv stays `job --id ID`. */
static char *env_pair(const char *name, const char *value)
{
    return value ? easel_asprintf("%s=%s", name, value) : NULL;
}

int mode_controller(struct settings *s, char **args, int nargs)
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
    char hb[32], bytes[32], ftimeout[32], pixels[32], roots[4096] = "", allow[4096] = "";
    snprintf(hb, sizeof(hb), "%lldms", (long long)s->heartbeat_ms);
    snprintf(bytes, sizeof(bytes), "%lld", (long long)s->max_source_bytes);
    snprintf(ftimeout, sizeof(ftimeout), "%lldms", (long long)s->fetch_timeout_ms);
    snprintf(pixels, sizeof(pixels), "%lld", (long long)s->max_pixels);
    /* With a registry file, workers read the controller's snapshot of the
     * last registry it accepted, never the file an operator is editing. */
    char snapdir[256] = "", snapshot[300] = "";
    if (s->registry && *s->registry) {
        const char *tmp = getenv("TMPDIR");
        snprintf(snapdir, sizeof(snapdir), "%s/easel-controller-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(snapdir)) {
            fprintf(stderr, "easel controller: cannot create %s for the registry snapshot: %s\n",
                    snapdir, strerror(errno));
            return 1;
        }
        snprintf(snapshot, sizeof(snapshot), "%s/models.yaml", snapdir);
    }
    char *env[16] = {0};
    size_t n = 0;
    env[n++] = env_pair("EASEL_DATABASE_URL", s->database_url);
    env[n++] = env_pair("EASEL_STORAGE", s->storage);
    env[n++] = env_pair("EASEL_REGISTRY", snapshot);
    env[n++] = env_pair("EASEL_HEARTBEAT", hb);
    env[n++] = env_pair("EASEL_LOG_LEVEL", s->log_level);
    env[n++] = env_pair("EASEL_MAX_SOURCE_BYTES", bytes);
    env[n++] = env_pair("EASEL_FETCH_TIMEOUT", ftimeout);
    env[n++] = env_pair("EASEL_MAX_PIXELS", pixels);
    if (s->file_roots && s->file_roots[0]) {
        size_t used = 0;
        for (size_t i = 0; s->file_roots[i] && used < sizeof(roots); i++)
            used += (size_t)snprintf(roots + used, sizeof(roots) - used, "%s%s",
                                     i ? "," : "", s->file_roots[i]);
        env[n++] = env_pair("EASEL_FILE_ROOTS", roots);
    }
    for (size_t i = 0; s->source_allow && s->source_allow[i]; i++) {
        if (!easel_allow_entry_valid(s->source_allow[i])) {
            fprintf(stderr, "easel controller: --source-allow \"%s\" is not a CIDR, an address, "
                    "a host name or *.domain\n", s->source_allow[i]);
            return 2;
        }
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof(allow) - used, "%s%s", i ? "," : "", s->source_allow[i]);
    }
    if (allow[0])
        env[n++] = env_pair("EASEL_SOURCE_ALLOW", allow);
    int status = 1;
    struct easel_executor *ex = NULL;
    struct easel_kube_config *kc = NULL;
    struct easel_leader *leader = NULL;
    for (size_t i = 0; i < n; i++)
        if (!env[i]) {
            fprintf(stderr, "easel controller: out of memory\n");
            goto out;
        }

    bool need_kube = kube || (s->registry_configmap && *s->registry_configmap) ||
                     s->leader_elect;
    if (need_kube) {
        struct easel_error kerr;
        easel_error_clear(&kerr);
        if (easel_kube_config_load(s->kubeconfig, NULL, &kc, &kerr) != EASEL_OK) {
            fprintf(stderr, "easel controller: %s\n", kerr.msg);
            goto out;
        }
    }
    if (s->leader_elect) {
        char host[128] = "easel";
        gethostname(host, sizeof(host) - 1);
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
        kube_job_params_from(s, ns, &jp);
        struct easel_kube_exec_opts ko = {.cfg = kc, .job = &jp,
                                          .pending_grace_ms = s->pending_grace_ms};
        easel_err krc = easel_executor_kube_new(&ko, &ex, &kerr);
        if (krc != EASEL_OK) {
            fprintf(stderr, "easel controller: cannot set up the kubernetes executor: %s\n",
                    kerr.msg[0] ? kerr.msg : easel_strerror(krc));
            goto out;
        }
    } else {
        struct easel_local_opts lo = {.env = (const char *const *)env,
                                      .kill_grace_ms = s->kill_grace_ms};
        if (easel_executor_local_new(&lo, &ex) != EASEL_OK) {
            fprintf(stderr, "easel controller: cannot set up the local executor "
                            "(out of memory, or its own binary cannot be found)\n");
            goto out;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct easel_controller_opts o = {
        .redis_url = s->redis_url,
        .database_url = s->database_url,
        .queue = s->queue,
        .registry_path = s->registry,
        .registry_snapshot = snapshot[0] ? snapshot : NULL,
        .registry_configmap = s->registry_configmap,
        .kube = kc,
        .leader = leader,
        .controller_id = s->controller_id,
        .concurrency = s->concurrency,
        .claim_batch = (size_t)s->claim_batch,
        .lease_ms = s->lease_ms,
        .worker_stale_ms = s->worker_stale_ms,
        .shutdown_grace_ms = s->shutdown_grace_ms,
        .migrate = s->migrate,
        .executor = ex,
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
    easel_leader_stop(leader); /* releases the Lease: a successor leads at once */
    easel_kube_config_free(kc);
    for (size_t i = 0; i < n; i++)
        free(env[i]);
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
static void job_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_job_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* a controller that goes away must not take us with it through a pipe */
    signal(SIGPIPE, SIG_IGN);
}

int mode_job(struct settings *s, char **args, int nargs)
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
        fprintf(stderr, "easel job: cannot start libvips\n");
        return EASEL_EXIT_INTERNAL;
    }
    char worker[160], host[64] = "localhost";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    if (s->worker_name && *s->worker_name)
        easel_strlcpy(worker, s->worker_name, sizeof(worker));
    else
        snprintf(worker, sizeof(worker), "local:%d@%s", (int)getpid(), host);

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
    };
    easel_fetch_opts_default(&o.fetch);
    o.fetch.max_bytes = s->max_source_bytes;
    o.fetch.timeout_ms = s->fetch_timeout_ms;
    o.fetch.connect_timeout_ms = s->connect_timeout_ms;
    o.fetch.file_roots = (const char *const *)s->file_roots;
    o.fetch.allow = (const char *const *)s->source_allow;
    easel_image_limits_default(&o.limits);
    o.limits.max_pixels = s->max_pixels;
    o.limits.max_bytes = s->max_source_bytes;
    o.limits.max_width = o.limits.max_height = s->max_side;
    job_signals();
    int code = easel_runner_run(&o, s->id);
    easel_imaging_shutdown();
    return code;
}
