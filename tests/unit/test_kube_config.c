/*
 * test_kube_config.c - kubeconfig files as kubectl reads them, the
 * in-cluster service account, and the helpers around them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "easel/kube.h"

static const char kubeconfig[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: prod-cluster\n"
    "  cluster:\n"
    "    server: https://prod.example:6443/\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "- name: dev-cluster\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev-cluster, user: dev-user, namespace: jobs}\n"
    "- name: prod\n"
    "  context:\n"
    "    cluster: prod-cluster\n"
    "    user: prod-user\n"
    "users:\n"
    "- name: dev-user\n"
    "  user:\n"
    "    token: \"abc.def\"\n"
    "- name: prod-user\n"
    "  user:\n"
    "    client-certificate-data: Y2VydA==\n"
    "    client-key-data: a2V5\n";

static void current_context_is_used(void **state)
{
    (void)state;
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    assert_int_equal(easel_kube_config_parse(kubeconfig, strlen(kubeconfig), "kc",
                                             NULL, &c, &err),
                     EASEL_OK);
    assert_string_equal(c->server, "https://127.0.0.1:6443");
    assert_string_equal(c->token, "abc.def");
    assert_string_equal(c->namespace, "jobs");
    assert_string_equal(c->context, "dev");
    assert_true(c->insecure);
    assert_null(c->ca_pem);
    easel_kube_config_free(c);
}

static void a_named_context_with_certificates(void **state)
{
    (void)state;
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    assert_int_equal(easel_kube_config_parse(kubeconfig, strlen(kubeconfig), "kc",
                                             "prod", &c, &err),
                     EASEL_OK);
    /* trailing slash dropped, so paths join cleanly */
    assert_string_equal(c->server, "https://prod.example:6443");
    assert_string_equal(c->ca_pem, "-----BEGIN CERTIFICATE-----\n");
    assert_int_equal(c->ca_len, 28);
    assert_string_equal(c->cert_pem, "cert");
    assert_string_equal(c->key_pem, "key");
    assert_string_equal(c->namespace, "default");
    assert_false(c->insecure);
    assert_null(c->token);
    easel_kube_config_free(c);
}

static void problems_name_what_is_wrong(void **state)
{
    (void)state;
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    assert_int_not_equal(easel_kube_config_parse(kubeconfig, strlen(kubeconfig), "kc",
                                                 "staging", &c, &err),
                         EASEL_OK);
    assert_non_null(strstr(err.msg, "context \"staging\" is not defined"));
    assert_null(c);

    const char *no_cluster = "current-context: a\ncontexts:\n- name: a\n  context: {cluster: x, user: u}\n";
    assert_int_not_equal(easel_kube_config_parse(no_cluster, strlen(no_cluster), "kc",
                                                 NULL, &c, &err),
                         EASEL_OK);
    assert_non_null(strstr(err.msg, "cluster \"x\""));

    const char *exec_only =
        "current-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {exec: {command: aws}}}]\n";
    assert_int_equal(easel_kube_config_parse(exec_only, strlen(exec_only), "kc", NULL,
                                             &c, &err),
                     EASEL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "exec"));

    const char *half_cert =
        "current-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {client-certificate-data: Y2VydA==}}]\n";
    assert_int_equal(easel_kube_config_parse(half_cert, strlen(half_cert), "kc", NULL,
                                             &c, &err),
                     EASEL_EINVAL);

    const char *bomb = "a: &x [1]\nb: *x\n";
    assert_int_equal(easel_kube_config_parse(bomb, strlen(bomb), "kc", NULL, &c, &err),
                     EASEL_EPARSE);
    assert_non_null(strstr(err.msg, "aliases"));

    const char *broken = "clusters: [\n";
    assert_int_equal(easel_kube_config_parse(broken, strlen(broken), "kc", NULL, &c, &err),
                     EASEL_EPARSE);
    assert_non_null(strstr(err.msg, "kc: line"));
}

static char tmpdir[64];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void files_are_relative_to_the_kubeconfig(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/easel-kc.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    write_file(tmpdir, "ca.pem", "CA-PEM");
    write_file(tmpdir, "token", "tok-1\n");
    write_file(tmpdir, "config",
               "current-context: a\n"
               "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1', certificate-authority: ca.pem}}]\n"
               "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
               "users: [{name: u, user: {tokenFile: token}}]\n");
    char path[256];
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    assert_int_equal(easel_kube_config_load(path, NULL, &c, &err), EASEL_OK);
    assert_string_equal(c->ca_pem, "CA-PEM");
    char want[256];
    snprintf(want, sizeof(want), "%s/token", tmpdir);
    assert_string_equal(c->token_file, want);
    easel_kube_config_free(c);

    /* KUBECONFIG: the first readable file of the list */
    char list[600];
    snprintf(list, sizeof(list), "/nonexistent/kc:%s", path);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(easel_kube_config_load(NULL, NULL, &c, &err), EASEL_OK);
    assert_string_equal(c->source, path);
    easel_kube_config_free(c);
    unsetenv("KUBECONFIG");
    static const char *const files[] = {"ca.pem", "token", "config"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static void in_cluster_reads_the_service_account(void **state)
{
    (void)state;
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/easel-sa.XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file(dir, "token", "sa-token\n");
    write_file(dir, "ca.crt", "CLUSTER-CA");
    write_file(dir, "namespace", "easel-system");
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(easel_kube_config_in_cluster(dir, &c, &err), EASEL_ENOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(easel_kube_config_in_cluster(dir, &c, &err), EASEL_OK);
    assert_string_equal(c->server, "https://10.96.0.1:443");
    assert_string_equal(c->namespace, "easel-system");
    assert_string_equal(c->ca_pem, "CLUSTER-CA");
    assert_non_null(strstr(c->token_file, "/token"));
    easel_kube_config_free(c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(easel_kube_config_in_cluster(dir, &c, &err), EASEL_OK);
    assert_string_equal(c->server, "https://[fd00::1]:443");
    easel_kube_config_free(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    static const char *const files[] = {"token", "ca.crt", "namespace"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void paths_and_helpers(void **state)
{
    (void)state;
    char p[256];
    assert_int_equal(easel_kube_path(&easel_kube_jobs, "ns", "j-1", "status", p, sizeof(p)),
                     EASEL_OK);
    assert_string_equal(p, "/apis/batch/v1/namespaces/ns/jobs/j-1/status");
    assert_int_equal(easel_kube_path(&easel_kube_pods, "", NULL, NULL, p, sizeof(p)),
                     EASEL_OK);
    assert_string_equal(p, "/api/v1/pods");
    assert_int_equal(easel_kube_path(&easel_kube_leases, "kube-system", "easel", NULL, p,
                                     sizeof(p)),
                     EASEL_OK);
    assert_string_equal(p, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/easel");

    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"annotations\":{\"easel.dev/status\":\"running\"},"
                           "\"labels\":{\"app.kubernetes.io/name\":\"easel\"}},\"status\":{\"phase\":\"Running\"}}");
    assert_string_equal(easel_kube_str(o, "status.phase"), "Running");
    assert_null(easel_kube_str(o, "status.nothing"));
    assert_string_equal(easel_kube_annotation(o, "easel.dev/status"), "running");
    assert_string_equal(easel_kube_label(o, "app.kubernetes.io/name"), "easel");
    cJSON_Delete(o);

    char t[32];
    easel_kube_time(1795000000123LL, t, sizeof(t));
    assert_string_equal(t, "2026-11-18T11:06:40Z");

    char *d;
    size_t n;
    assert_int_equal(easel_kube_b64decode("aGVs\nbG8", &d, &n), EASEL_OK);
    assert_int_equal(n, 5);
    assert_string_equal(d, "hello");
    free(d);
    assert_int_equal(easel_kube_b64decode("not base64!", &d, &n), EASEL_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(current_context_is_used),
        cmocka_unit_test(a_named_context_with_certificates),
        cmocka_unit_test(problems_name_what_is_wrong),
        cmocka_unit_test(files_are_relative_to_the_kubeconfig),
        cmocka_unit_test(in_cluster_reads_the_service_account),
        cmocka_unit_test(paths_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
