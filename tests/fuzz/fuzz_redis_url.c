/*
 * fuzz_redis_url.c - the --redis-url setting (redis://[[user]:pass@]host
 * [:port][/db] and redis-sentinel://[[user]:pass@]host[:port],.../master
 * [/db]), parsed for the connection and redacted for the logs.
 */
#include <stdio.h>

#include "../../pkg/queue/queue_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    struct queue_url u;
    char why[256];
    if (queue_url_parse(url, &u, why, sizeof(why)) == EASEL_OK) {
        if (u.port < 1 || u.port > 65535 || u.db < 0 || !u.host[0] ||
            !memchr(u.host, 0, sizeof(u.host)) || !memchr(u.user, 0, sizeof(u.user)) ||
            !memchr(u.pass, 0, sizeof(u.pass)))
            abort();
        if (u.sentinel && (u.nsentinels < 1 || u.nsentinels > QUEUE_MAX_SENTINELS ||
                           !u.master[0] || !memchr(u.master, 0, sizeof(u.master))))
            abort();
        for (size_t i = 0; i < u.nsentinels; i++)
            if (u.sentinels[i].port < 1 || u.sentinels[i].port > 65535 ||
                !u.sentinels[i].host[0])
                abort();
    } else if (!why[0]) {
        abort(); /* every refusal says why */
    }
    char shown[512];
    easel_redact_url(url, shown, sizeof(shown));
    char tiny[8];
    easel_redact_url(url, tiny, sizeof(tiny));
    free(url);
    return 0;
}
