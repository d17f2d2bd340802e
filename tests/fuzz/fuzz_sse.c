/*
 * fuzz_sse.c - the event-stream reader `easel logs -f --server` follows a
 * job with (pkg/client/sse.c): a server's bytes, in the pieces the first
 * byte chooses. Whatever the pieces, the events must be the same.
 */
#include <stdio.h>

#include "easel/client.h"
#include "fuzz.h"

struct sum {
    unsigned long h;
    int n;
};

static int on_event(void *ud, const char *event, const char *id, const char *data, size_t len)
{
    struct sum *s = ud;
    /* data may hold NUL bytes from the wire: it is counted, and ends in one */
    if (!event[0] || data[len] != '\0' || strlen(id) >= 64)
        abort();
    for (const char *p = event; *p; p++)
        s->h = s->h * 31 + (unsigned char)*p;
    for (const char *p = id; *p; p++)
        s->h = s->h * 33 + (unsigned char)*p;
    for (size_t i = 0; i < len; i++)
        s->h = s->h * 37 + (unsigned char)data[i];
    s->n++;
    return 0;
}

static easel_err run(const uint8_t *data, size_t size, size_t step, struct sum *s)
{
    struct easel_sse p;
    easel_sse_init(&p, 4096, on_event, s);
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < size && !rc; i += step)
        rc = easel_sse_feed(&p, (const char *)data + i, size - i < step ? size - i : step);
    easel_sse_cleanup(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] % 7 + 1;
    struct sum whole = {0}, pieces = {0};
    easel_err a = run(data + 1, size - 1, size, &whole);
    easel_err b = run(data + 1, size - 1, step, &pieces);
    if (a != b || (a == EASEL_OK && (whole.n != pieces.n || whole.h != pieces.h)))
        abort();
    return 0;
}
