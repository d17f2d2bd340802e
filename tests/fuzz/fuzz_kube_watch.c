/*
 * fuzz_kube_watch.c - what the API server sends a watch: list answers and
 * watch streams (one JSON event per line, cut into chunks anywhere, as
 * curl hands them over), through the same readers as the watch thread,
 * with the view of seen objects kept across them as in a real watch (list,
 * watch, 410, list again ...).
 *
 * Input: the first byte is the chunk size (0 = whole); the rest is split at
 * NUL bytes into segments that are, in turn, a list answer and a stream.
 */
#include "../../pkg/kube/kube_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = data[0];
    struct easel_kube_watch *w = kube_watch_offline(&easel_kube_jobs);
    if (!w)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    for (int seg = 0; p <= end && seg < 16; seg++) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);
        char *body = fuzz_bytes(p, n);
        struct easel_error err;
        easel_error_clear(&err);
        char why[200];
        if (seg % 2 == 0)
            kube_watch_list_body(w, body, n, "list jobs", &err);
        else
            kube_watch_stream_body(w, body, n, chunk, why, sizeof(why));
        free(body);
        /* the owner drains the queue from its loop */
        enum easel_kube_ev type;
        cJSON *obj;
        while (easel_kube_watch_next(w, &type, &obj)) {
            if (!obj || (type != EASEL_KUBE_ADDED && type != EASEL_KUBE_MODIFIED &&
                         type != EASEL_KUBE_DELETED))
                abort();
            easel_kube_str(obj, "metadata.name");
            easel_kube_annotation(obj, "easel.dev/job-id");
            easel_kube_label(obj, "easel.dev/job");
            cJSON_Delete(obj);
        }
        if (!nul)
            break;
        p = nul + 1;
    }
    easel_kube_watch_stop(w);
    return 0;
}
