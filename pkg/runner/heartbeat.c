/*
 * heartbeat.c - the worker's sign of life. While an attempt works, a thread
 * stamps the job row every few seconds, so the controller can tell a live
 * worker from one that was lost (a dead pod, a killed process) and retry
 * the job. The thread has its own database connection, reopened after a
 * failure, and lives exactly as long as the attempt's work.
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "runner_int.h"

static void *heartbeat_main(void *arg)
{
    struct runner_heartbeat *h = arg;
    struct easel_store *s = NULL;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (h->every_ms % 1000) * 1000000;
        ts.tv_sec += h->every_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        if (!s && easel_store_open(h->url, &s, NULL) != EASEL_OK)
            s = NULL;
        if (s && easel_store_job_heartbeat(s, h->job_id) == EASEL_ECONN) {
            easel_warn(h->job_id, "heartbeat failed: %s", easel_store_errstr(s));
            easel_store_free(s);
            s = NULL;
        }
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    easel_store_free(s);
    return NULL;
}

void runner_heartbeat_start(struct runner_heartbeat *h, const char *url, const char *job_id,
                            int64_t every_ms)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->url = url;
    h->job_id = job_id;
    h->every_ms = every_ms > 0 ? every_ms : 5000;
    /* The thread is created with the stop signals blocked (it inherits
     * the mask), so a SIGTERM or SIGINT lands on a thread doing the work,
     * whose sleeps and waits it may cut short, never on this one. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    h->started = pthread_create(&h->thread, NULL, heartbeat_main, h) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void runner_heartbeat_stop(struct runner_heartbeat *h)
{
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}
