/*
 * service.c - the pose models shared by the API's request threads: one
 * loaded pipeline behind a mutex, so concurrent /estimate-body requests
 * take turns on it (an estimate is tens of milliseconds of one core; the
 * models' weights are loaded once, not once per thread).
 */
#include <pthread.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "easel/pose.h"

struct easel_pose_service {
    pthread_mutex_t mu;    /* held for one estimate */
    pthread_mutex_t gate;  /* guards inside */
    int inside;            /* estimating or waiting for mu */
    int limit;             /* most inside at once; 0 = any number */
    struct easel_pose *pose;
    long long estimates;
};

easel_err easel_pose_service_open(const char *dir, enum easel_pose_model which,
                                  struct easel_pose_service **out,
                                  struct easel_error *err)
{
    struct easel_pose_service *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_RETRYABLE, EASEL_R_NONE,
                               "out of memory");
    easel_err rc = easel_pose_open(dir, which, &s->pose, err);
    if (rc) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->gate, NULL);
    *out = s;
    return EASEL_OK;
}

void easel_pose_service_free(struct easel_pose_service *s)
{
    if (!s)
        return;
    easel_pose_free(s->pose);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gate);
    free(s);
}

const char *easel_pose_service_model(const struct easel_pose_service *s)
{
    return s ? easel_pose_model_name(easel_pose_which(s->pose)) : "";
}

void easel_pose_service_set_limit(struct easel_pose_service *s, int limit)
{
    pthread_mutex_lock(&s->gate);
    s->limit = limit > 0 ? limit : 0;
    pthread_mutex_unlock(&s->gate);
}

easel_err easel_pose_service_estimate(struct easel_pose_service *s,
                                      const struct easel_image *img, double height_cm,
                                      const struct easel_size_chart *chart,
                                      struct cJSON **out, struct easel_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&s->gate);
    if (s->limit && s->inside >= s->limit) {
        int n = s->inside;
        pthread_mutex_unlock(&s->gate);
        return easel_error_set(err, EASEL_EAGAIN, EASEL_CLASS_RETRYABLE, EASEL_R_NONE,
                               "%d body estimates are running or waiting; try again shortly", n);
    }
    s->inside++;
    pthread_mutex_unlock(&s->gate);
    pthread_mutex_lock(&s->mu);
    easel_err rc = easel_body_estimate(s->pose, img, height_cm, chart, out, err);
    s->estimates++;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->gate);
    s->inside--;
    pthread_mutex_unlock(&s->gate);
    return rc;
}
