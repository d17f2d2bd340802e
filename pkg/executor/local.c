/*
 * local.c - the local executor: each attempt is a child process running the
 * same binary as `easel job --id ID`, so a laptop with Redis and Postgres
 * runs exactly what a worker pod runs.
 *
 * Children get their own process group (so a timeout kills whatever they
 * started) and are not tied to the controller's life: if the controller dies
 * they finish their job and record it in Postgres, and the next controller
 * re-attaches through the lease. A SIGCHLD handler writes to a self-pipe so
 * the controller's poll loop wakes as soon as a child ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "easel/executor.h"
#include "easel/job.h"
#include "easel/worker.h"

extern char **environ;

struct child {
    pid_t pid;
    char job_id[EASEL_UUID_LEN + 1];
    int attempt;
    int64_t started_ms;
    int64_t deadline_ms;      /* TERM at this time */
    int64_t kill_ms;          /* KILL at this time, 0 until TERM was sent */
    enum easel_exec_outcome stop_reason; /* TIMEOUT/CANCELED once we stop it */
    bool stopping;
};

struct local {
    struct easel_executor base;
    char *binary;
    char **env;               /* full child environment */
    char host[64];            /* where our workers say they run */
    int64_t kill_grace_ms;
    struct child *kids;
    size_t nkids, cap;
};

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    if (sigchld_pipe[1] >= 0) {
        ssize_t w = write(sigchld_pipe[1], "c", 1);
        (void)w;
    }
    errno = saved;
}

const char *easel_exec_outcome_name(enum easel_exec_outcome o)
{
    switch (o) {
    case EASEL_EXEC_EXITED:
        return "exited";
    case EASEL_EXEC_SIGNALED:
        return "signaled";
    case EASEL_EXEC_TIMEOUT:
        return "timeout";
    case EASEL_EXEC_CANCELED:
        return "canceled";
    case EASEL_EXEC_LOST:
        return "lost";
    }
    return "unknown";
}

static struct child *find(struct local *l, const char *id)
{
    for (size_t i = 0; i < l->nkids; i++)
        if (strcmp(l->kids[i].job_id, id) == 0)
            return &l->kids[i];
    return NULL;
}

/* The children's environment with TRACEPARENT=tp (the dispatch span, for
 * the attempt's trace) in place of any inherited one: a new array of the
 * same strings, or env itself without tp. NULL when out of memory. */
static char **with_traceparent(char **env, const char *tp, char *var, size_t len)
{
    size_t n = 0;
    if (!tp || !*tp || easel_snprintf(var, len, "TRACEPARENT=%s", tp))
        return env;
    while (env[n])
        n++;
    char **out = calloc(n + 2, sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; out && i < n; i++)
        if (strncmp(env[i], "TRACEPARENT=", 12) != 0)
            out[k++] = env[i];
    if (out)
        out[k] = var;
    return out;
}

static easel_err local_start(struct easel_executor *ex,
                             const struct easel_exec_spec *spec,
                             struct easel_error *err)
{
    struct local *l = (struct local *)ex;
    /* the child is tracked (and reported done) under this id: no cut */
    if (strlen(spec->job_id) >= sizeof(((struct child *)0)->job_id))
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_BAD_JOB_ID,
                               "job id \"%s\" is longer than a UUID", spec->job_id);
    if (find(l, spec->job_id))
        return easel_error_set(err, EASEL_EEXISTS, EASEL_CLASS_RETRYABLE,
                               EASEL_R_ALREADY_RUNNING,
                               "job %s already has a running attempt",
                               spec->job_id);
    if (l->nkids == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct child *k = realloc(l->kids, cap * sizeof(*k));
        if (!k)
            return EASEL_ENOMEM;
        l->kids = k;
        l->cap = cap;
    }
    char attempt[16];
    /* cannot fail: an int takes at most 11 characters */
    if (easel_snprintf(attempt, sizeof(attempt), "%d", spec->attempt) != EASEL_OK)
        return easel_error_set(err, EASEL_ELIMIT, EASEL_CLASS_PERMANENT, EASEL_R_INTERNAL,
                               "cannot format attempt %d", spec->attempt);
    char *argv[] = {l->binary, "job", "--id", (char *)spec->job_id,
                    "--attempt", attempt, NULL};
    char tpvar[96];
    char **env = with_traceparent(l->env, spec->traceparent, tpvar, sizeof(tpvar));
    if (!env)
        return EASEL_ENOMEM;

    pid_t pid = fork();
    if (env != l->env && pid != 0)
        free(env); /* the pointers only: the strings are l->env's and tpvar */
    if (pid < 0)
        return easel_error_set(err, EASEL_EIO, EASEL_CLASS_RETRYABLE,
                               EASEL_R_SPAWN_FAILED, "fork failed: %s",
                               strerror(errno));
    if (pid == 0) {
        /* Own process group, default signal handling, then the same binary. */
        setpgid(0, 0);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(l->binary, argv, env);
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent: no race with kill(-pid) */
    struct child *c = &l->kids[l->nkids++];
    memset(c, 0, sizeof(*c));
    c->pid = pid;
    easel_strlcpy(c->job_id, spec->job_id, sizeof(c->job_id));
    c->attempt = spec->attempt;
    c->started_ms = easel_now_ms();
    c->deadline_ms = spec->timeout_ms > 0 ? c->started_ms + spec->timeout_ms : 0;
    return EASEL_OK;
}

static void stop_child(struct local *l, struct child *c,
                       enum easel_exec_outcome why)
{
    if (c->stopping)
        return;
    c->stopping = true;
    c->stop_reason = why;
    c->kill_ms = easel_now_ms() + l->kill_grace_ms;
    kill(-c->pid, SIGTERM);
}

static easel_err local_cancel(struct easel_executor *ex, const char *job_id)
{
    struct local *l = (struct local *)ex;
    struct child *c = find(l, job_id);
    if (c)
        stop_child(l, c, EASEL_EXEC_CANCELED);
    return EASEL_OK;
}

static void drain_pipe(void)
{
    char b[64];
    while (sigchld_pipe[0] >= 0 && read(sigchld_pipe[0], b, sizeof(b)) > 0)
        ;
}

static easel_err local_reap(struct easel_executor *ex,
                            struct easel_exec_done *out, size_t max,
                            size_t *n)
{
    struct local *l = (struct local *)ex;
    *n = 0;
    drain_pipe();
    int64_t now = easel_now_ms();
    for (size_t i = 0; i < l->nkids;) {
        struct child *c = &l->kids[i];
        if (c->deadline_ms && now >= c->deadline_ms && !c->stopping)
            stop_child(l, c, EASEL_EXEC_TIMEOUT);
        if (c->stopping && c->kill_ms && now >= c->kill_ms) {
            kill(-c->pid, SIGKILL);
            c->kill_ms = 0;
        }
        if (*n >= max) {
            i++;
            continue;
        }
        int status = 0;
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        struct easel_exec_done *d = &out[(*n)++];
        memset(d, 0, sizeof(*d));
        easel_strlcpy(d->job_id, c->job_id, sizeof(d->job_id));
        d->attempt = c->attempt;
        d->runtime_ms = now - c->started_ms;
        if (r < 0) {
            d->outcome = EASEL_EXEC_LOST;
            /* d->message is for a person: cut, never parsed */
            easel_fmt_cut(d->message, sizeof(d->message), "worker process %d vanished",
                          (int)c->pid);
        } else if (WIFEXITED(status)) {
            /* Job mode catches SIGTERM, cancels any provider call and exits
             * without a verdict: after our TERM the exit is ours to explain
             * (timeout or cancel); otherwise its verdict stands. */
            d->outcome = c->stopping ? c->stop_reason : EASEL_EXEC_EXITED;
            d->exit_code = WEXITSTATUS(status);
            easel_fmt_cut(d->message, sizeof(d->message), "worker exited with code %d",
                          d->exit_code);
        } else {
            d->signal = WTERMSIG(status);
            d->outcome = c->stopping ? c->stop_reason : EASEL_EXEC_SIGNALED;
            easel_fmt_cut(d->message, sizeof(d->message), "worker killed by %s",
                          strsignal(d->signal));
        }
        if (c->stopping && d->outcome == EASEL_EXEC_TIMEOUT)
            easel_fmt_cut(d->message, sizeof(d->message),
                          "attempt exceeded its timeout after %lld ms and was stopped",
                          (long long)d->runtime_ms);
        l->kids[i] = l->kids[--l->nkids];
    }
    return EASEL_OK;
}

static int local_fd(struct easel_executor *ex)
{
    (void)ex;
    return sigchld_pipe[0];
}

static int64_t local_next_timeout(struct easel_executor *ex)
{
    struct local *l = (struct local *)ex;
    int64_t now = easel_now_ms(), best = -1;
    for (size_t i = 0; i < l->nkids; i++) {
        struct child *c = &l->kids[i];
        int64_t t = c->stopping ? c->kill_ms : c->deadline_ms;
        if (t <= 0)
            continue;
        int64_t d = t > now ? t - now : 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

static size_t local_running(struct easel_executor *ex)
{
    return ((struct local *)ex)->nkids;
}

static bool local_has(struct easel_executor *ex, const char *job_id)
{
    return find((struct local *)ex, job_id) != NULL;
}

static void local_detach_all(struct easel_executor *ex)
{
    ((struct local *)ex)->nkids = 0;
}

/* A process exists and is not a zombie: an orphaned worker that exited
 * may wait a long time for a reaper that never comes. */
static bool process_alive(pid_t pid)
{
    char path[64], buf[256];
    /* cannot fail: "/proc/" + an int + "/stat" is under 24 bytes */
    if (easel_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid) != EASEL_OK)
        return kill(pid, 0) == 0 || errno != ESRCH;
    FILE *f = fopen(path, "r");
    if (!f)
        return kill(pid, 0) == 0 || errno != ESRCH;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* The process a record names, when it is one of ours to judge: a local
 * worker on this host. 0 otherwise. */
static pid_t worker_pid(const struct local *l, const char *worker)
{
    struct easel_worker_id id;
    if (easel_worker_id_parse(worker, &id) != EASEL_OK ||
        strcmp(id.executor, EASEL_WORKER_LOCAL) != 0 || strcmp(id.where, l->host) != 0)
        return 0;
    int64_t pid = 0;
    if (easel_parse_i64(id.name, 2, INT32_MAX, &pid) != EASEL_OK)
        return 0;
    return (pid_t)pid;
}

static enum easel_gone local_gone(struct easel_executor *ex, const char *worker)
{
    pid_t pid = worker_pid((struct local *)ex, worker);
    if (!pid)
        return EASEL_GONE_UNKNOWN;
    return process_alive(pid) ? EASEL_GONE_NO : EASEL_GONE_YES;
}

static void local_kill(struct easel_executor *ex, const char *worker)
{
    pid_t pid = worker_pid((struct local *)ex, worker);
    if (pid)
        kill(-pid, SIGKILL); /* its group: whatever it started goes too */
}

static void local_free(struct easel_executor *ex)
{
    struct local *l = (struct local *)ex;
    if (!l)
        return;
    easel_worker_environ_free(l->env);
    free(l->binary);
    free(l->kids);
    free(l);
}

static const struct easel_executor_ops local_ops = {
    .name = "local",
    .start = local_start,
    .cancel = local_cancel,
    .reap = local_reap,
    .fd = local_fd,
    .next_timeout_ms = local_next_timeout,
    .running = local_running,
    .has = local_has,
    .detach_all = local_detach_all,
    .free = local_free,
    .gone = local_gone,
    .kill = local_kill,
};

easel_err easel_executor_local_new(const struct easel_local_opts *o,
                                   struct easel_executor **out)
{
    *out = NULL;
    struct local *l = calloc(1, sizeof(*l));
    if (!l)
        return EASEL_ENOMEM;
    l->base.ops = &local_ops;
    l->kill_grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : 10000;
    if (o->binary) {
        l->binary = strdup(o->binary);
    } else {
        char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (n > 0) {
            path[n] = '\0';
            l->binary = strdup(path);
        } else {
            /* no /proc (a chroot, a minimal sandbox): the kernel still
             * tells us the path execve was given */
            const char *fn = (const char *)getauxval(AT_EXECFN);
            if (fn && realpath(fn, path))
                l->binary = strdup(path);
        }
    }
    /* the contract's settings; without one (tests), our environment */
    struct easel_worker_settings none = {0};
    l->env = easel_worker_environ(o->worker ? o->worker : &none, environ, o->env);
    easel_worker_host(l->host, sizeof(l->host));
    if (!l->binary || !l->env) {
        local_free(&l->base);
        return EASEL_ENOMEM;
    }
    if (sigchld_pipe[0] < 0) {
        if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
            local_free(&l->base);
            return EASEL_EIO;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_sigchld;
        sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGCHLD, &sa, NULL);
    }
    *out = &l->base;
    return EASEL_OK;
}
