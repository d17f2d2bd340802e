/* The process's metric families (pkg/telemetry/metrics.c): counters only
 * go up, histograms are cumulative with +Inf equal to the count, a family
 * refuses label sets past its cap and counts the drop, the outbox fold
 * reads what job mode and the trigger write and skips what it cannot, and
 * the process collector reads /proc. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "easel/telemetry.h"

static int reset(void **state)
{
    (void)state;
    easel_metrics_reset();
    return 0;
}

static char *written(void)
{
    struct easel_buf b;
    easel_buf_init(&b, 0);
    assert_int_equal(easel_metrics_write(&b), EASEL_OK);
    return easel_buf_steal(&b, NULL);
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    double v = 0;
    easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, 2);
    easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, 1);
    easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, -5); /* ignored */
    easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, NAN); /* ignored */
    assert_true(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, &v, NULL));
    assert_true(v == 3);
    assert_false(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"m/b"}, &v, NULL));
    easel_metric_set(EASEL_M_LEADER, NULL, 1);
    easel_metric_set(EASEL_M_LEADER, NULL, 0);
    assert_true(easel_metric_read(EASEL_M_LEADER, NULL, &v, NULL));
    assert_true(v == 0);
    easel_metric_set(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, 0); /* not a gauge */
    assert_true(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"m/a"}, &v, NULL));
    assert_true(v == 3);
    char *t = written();
    assert_non_null(strstr(t, "# TYPE easel_job_attempts_total counter\n"
                              "easel_job_attempts_total{model=\"m/a\"} 3\n"));
    assert_non_null(strstr(t, "# TYPE easel_leader gauge\neasel_leader 0\n"));
    free(t);
}

static void test_histogram(void **state)
{
    (void)state;
    const char *const l[] = {"m", "succeeded"};
    easel_metric_observe(EASEL_M_JOB_DURATION, l, 0.3);
    easel_metric_observe(EASEL_M_JOB_DURATION, l, 0.3);
    easel_metric_observe(EASEL_M_JOB_DURATION, l, 7);
    easel_metric_observe(EASEL_M_JOB_DURATION, l, 99999); /* past every bound */
    easel_metric_observe(EASEL_M_JOB_DURATION, (const char *const[]){"m", "dead"}, 2);
    char *t = written();
    assert_non_null(strstr(t, "easel_job_duration_seconds_bucket{model=\"m\",status=\"succeeded\",le=\"0.25\"} 0\n"
                              "easel_job_duration_seconds_bucket{model=\"m\",status=\"succeeded\",le=\"0.5\"} 2\n"));
    assert_non_null(strstr(t, "le=\"10\"} 3\n"));
    assert_non_null(strstr(t, "easel_job_duration_seconds_bucket{model=\"m\",status=\"succeeded\",le=\"+Inf\"} 4\n"
                              "easel_job_duration_seconds_sum{model=\"m\",status=\"succeeded\"} 100006.60000000001\n"
                              "easel_job_duration_seconds_count{model=\"m\",status=\"succeeded\"} 4\n"));
    free(t);
    double sum, n;
    easel_metric_hist_total(EASEL_M_JOB_DURATION, "status", "dead", &sum, &n);
    assert_true(n == 1 && sum == 2);
    easel_metric_hist_total(EASEL_M_JOB_DURATION, NULL, NULL, &sum, &n);
    assert_true(n == 5);
    easel_metric_hist_total(EASEL_M_JOB_DURATION, "nolabel", "x", &sum, &n);
    assert_true(n == 0 && sum == 0);
}

static void test_series_cap(void **state)
{
    (void)state;
    char name[32];
    for (int i = 0; i < EASEL_METRIC_MAX_SERIES + 5; i++) {
        snprintf(name, sizeof(name), "model-%d", i);
        easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){name}, 1);
    }
    double dropped = 0, v = 0;
    assert_true(easel_metric_read(EASEL_M_DROPPED, NULL, &dropped, NULL));
    assert_true(dropped == 5);
    assert_true(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"model-0"}, &v, NULL));
    assert_true(v == 1);
    /* an existing series still counts at the cap */
    easel_metric_add(EASEL_M_ATTEMPTS, (const char *const[]){"model-0"}, 1);
    assert_true(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"model-0"}, &v, NULL));
    assert_true(v == 2);
}

static void fold(const char *kind, const char *model, const char *json)
{
    cJSON *d = cJSON_Parse(json);
    easel_metrics_fold(kind, model, d);
    cJSON_Delete(d);
}

static void test_fold(void **state)
{
    (void)state;
    double v = 0, sum = 0;
    fold("status", "m", "{\"to\":\"dispatched\",\"attempt\":1}");
    fold("status", "m", "{\"to\":\"retrying\",\"reason\":\"provider_timeout\"}");
    fold("status", "m", "{\"to\":\"dead\",\"seconds\":12.5}");
    fold("status", "m", "{\"to\":\"succeeded\"}");           /* no seconds: skipped */
    fold("status", "m", "{\"to\":\"running\",\"seconds\":1}"); /* not counted */
    fold("nonsense", "m", "{\"to\":\"dead\",\"seconds\":1}");
    fold("status", "m", "[1,2]");
    easel_metrics_fold("status", "m", NULL);
    assert_true(easel_metric_read(EASEL_M_ATTEMPTS, (const char *const[]){"m"}, &v, NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_RETRIES, (const char *const[]){"m", "provider_timeout"},
                                  &v, NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_JOB_DURATION, (const char *const[]){"m", "dead"}, &v,
                                  &sum) && v == 1 && sum == 12.5);
    assert_false(easel_metric_read(EASEL_M_JOB_DURATION, (const char *const[]){"m", "succeeded"},
                                   &v, NULL));
    fold("attempt", "m",
         "{\"image\":[{\"tool\":\"libvips\",\"seconds\":0.1,\"ok\":true},"
         "{\"tool\":\"libvips\",\"seconds\":0.2,\"ok\":false},{\"tool\":\"libvips\",\"ok\":true},"
         "{\"seconds\":1,\"ok\":true}],"
         "\"sources\":[{\"tool\":\"libvips\",\"bytes\":1000}],"
         "\"output\":{\"tool\":\"libvips\",\"compression_ratio\":3.5,"
         "\"variants\":{\"normal\":200,\"hq\":\"big\"}},"
         "\"calls\":[{\"provider\":\"replicate\",\"model\":\"q\",\"seconds\":2,"
         "\"class\":\"retryable\",\"reason\":\"provider_timeout\"},"
         "{\"provider\":\"replicate\",\"model\":\"q\",\"seconds\":1}],"
         "\"failovers\":[{\"from\":\"q\",\"to\":\"r\"},{\"from\":\"q\"}],"
         "\"generation\":\"failure\"}");
    assert_true(easel_metric_read(EASEL_M_IMAGE_DURATION, (const char *const[]){"libvips", "true"},
                                  &v, NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_IMAGE_DURATION, (const char *const[]){"libvips", "false"},
                                  &v, NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_IMAGE_ORIGINAL, (const char *const[]){"libvips"}, &v,
                                  &sum) && v == 1 && sum == 1000);
    assert_true(easel_metric_read(EASEL_M_IMAGE_COMPRESSED,
                                  (const char *const[]){"libvips", "normal"}, &v, NULL) && v == 1);
    assert_false(easel_metric_read(EASEL_M_IMAGE_COMPRESSED,
                                   (const char *const[]){"libvips", "hq"}, &v, NULL));
    assert_true(easel_metric_read(EASEL_M_PROVIDER_DURATION,
                                  (const char *const[]){"replicate", "q", "provider_timeout"}, &v,
                                  NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_PROVIDER_DURATION,
                                  (const char *const[]){"replicate", "q", "ok"}, &v, NULL) &&
                v == 1);
    assert_true(easel_metric_read(EASEL_M_PROVIDER_ERRORS,
                                  (const char *const[]){"replicate", "retryable", "provider_timeout"},
                                  &v, NULL) && v == 1);
    assert_true(easel_metric_read(EASEL_M_FAILOVERS, (const char *const[]){"q", "r"}, &v, NULL) &&
                v == 1);
    assert_true(easel_metric_read(EASEL_M_GEN_FAILURE, NULL, &v, NULL) && v == 1);
    assert_false(easel_metric_read(EASEL_M_GEN_SUCCESS, NULL, &v, NULL));
}

static void test_process(void **state)
{
    (void)state;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    assert_int_equal(easel_prom_process(&b), EASEL_OK);
    assert_int_equal(easel_buf_append(&b, "", 1), EASEL_OK);
    const char *p = strstr(b.data, "\nprocess_resident_memory_bytes ");
    assert_non_null(p);
    assert_true(strtod(p + 31, NULL) > 1e6);
    p = strstr(b.data, "\nprocess_start_time_seconds ");
    assert_non_null(p);
    assert_true(strtod(p + 28, NULL) > 1.7e9); /* after 2023 */
    assert_non_null(strstr(b.data, "\nprocess_open_fds "));
    assert_non_null(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
    easel_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_and_gauge, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_series_cap, reset),
        cmocka_unit_test_setup(test_fold, reset),
        cmocka_unit_test_setup_teardown(test_process, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, reset);
}
