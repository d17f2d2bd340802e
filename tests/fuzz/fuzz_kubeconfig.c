/*
 * fuzz_kubeconfig.c - a kubeconfig as kubectl writes it (YAML through
 * easel_yaml_text_to_json, contexts, clusters, users, base64 credentials). File
 * references resolve under a directory that does not exist, so the target
 * reads no file unless an input names an absolute path.
 */
#include "../../pkg/kube/kube_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct easel_kube_config *c = NULL;
    struct easel_error err;
    easel_error_clear(&err);
    if (easel_kube_config_parse(text, size, "/nonexistent/easel-fuzz/kubeconfig", NULL, &c,
                                &err) == EASEL_OK) {
        struct easel_kube_config *copy = kube_config_dup(c);
        easel_kube_config_free(copy);
        easel_kube_config_free(c);
    }
    /* the same bytes as a context name and as base64 */
    if (size < 256) {
        c = NULL;
        easel_kube_config_parse("current-context: a\n", 19, "fuzz", text, &c, &err);
        easel_kube_config_free(c);
        char *out = NULL;
        size_t len = 0;
        if (easel_kube_b64decode(text, &out, &len) == EASEL_OK)
            free(out);
    }
    free(text);
    return 0;
}
