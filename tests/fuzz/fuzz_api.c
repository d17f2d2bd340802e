/*
 * fuzz_api.c - what an HTTP client or an operator hands the API besides
 * JSON bodies: the request path against the route table, the Prefer
 * header, RFC 3339 times, list cursors, the tokens file, and a WebSocket
 * client's messages. The first byte picks the parser, the rest is its
 * input.
 */
#include <stdio.h>

#include "../../pkg/api/api_int.h"
#include "fuzz.h"

static void route(const char *path, uint8_t method)
{
    struct api_req r;
    memset(&r, 0, sizeof(r));
    r.path = (char *)path;
    r.method = (enum api_method)(method % (M_OTHER + 1));
    const struct api_route *rt = api_route_find(&r);
    if (rt) {
        /* a match fills exactly the pattern's parameters, none empty */
        int braces = 0;
        for (const char *p = rt->pattern; *p; p++)
            braces += *p == '{';
        if (r.nparams != braces || r.status)
            abort();
        for (int i = 0; i < r.nparams; i++)
            if (!r.params[i] || !*r.params[i] || strchr(r.params[i], '/'))
                abort();
    } else if (r.status != 404 && !(r.status == 405 && r.allow[0])) {
        abort(); /* no route: 404, or 405 naming what is allowed */
    }
    for (int i = 0; i < r.nparams; i++)
        free(r.params[i]);
}

static void ws_message(const char *s, size_t len, bool confined)
{
    const char *mine = confined ? "b2c:u-7" : NULL;
    struct api_ws_cmd c;
    easel_err rc = api_ws_parse(s, len, mine, &c);
    if (rc != EASEL_OK) {
        /* a refusal says what and why, and subscribes to nothing */
        if (c.op != API_WS_BAD || !c.code || !c.message[0] || c.nkeys)
            abort();
    } else {
        if (c.op == API_WS_BAD || c.nkeys < 0 || c.nkeys > API_WS_MAX_SUBS)
            abort();
        for (int i = 0; i < c.nkeys; i++) {
            const struct api_ws_key *k = &c.keys[i];
            if (!!k->job_id[0] == !!k->owner[0])
                abort(); /* one job or one owner */
            if (k->job_id[0] && (!easel_uuid_valid(k->job_id) || k->since < 0))
                abort();
            if (k->owner[0] && (!strchr(k->owner, ':') || k->since < -1))
                abort();
            /* an owner-confined token subscribes to its own owner only */
            if (k->owner[0] && mine && c.op == API_WS_SUBSCRIBE && strcmp(k->owner, mine))
                abort();
        }
    }
    api_ws_cmd_cleanup(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *s = fuzz_cstr(data + 1, size - 1);
    switch (data[0] % 6) {
    case 0:
        route(s, (uint8_t)(data[0] / 5));
        break;
    case 1: {
        int w = api_prefer_wait_of(s);
        if (w < 0 || w > 60)
            abort();
        break;
    }
    case 2: {
        int64_t ms = 0;
        (void)api_parse_rfc3339(s, &ms);
        break;
    }
    case 3: {
        int64_t us = -1;
        char id[EASEL_UUID_LEN + 1];
        if (api_parse_cursor(s, &us, id) && (us < 0 || !easel_uuid_valid(id)))
            abort();
        break;
    }
    case 5:
        ws_message(s, size - 1, (data[0] / 6) % 2);
        break;
    default: {
        struct api_tokens t;
        struct easel_error err;
        easel_error_clear(&err);
        if (api_tokens_parse(s, size - 1, "tokens.yaml", &t, &err) == EASEL_OK) {
            if (t.n == 0)
                abort();
            for (size_t i = 0; i < t.n; i++)
                if (!t.v[i].name || !t.v[i].scopes || !!t.v[i].owner != !!t.v[i].channel)
                    abort();
            api_tokens_cleanup(&t);
        } else if (!err.msg[0]) {
            abort(); /* every refusal says why */
        }
        break;
    }
    }
    free(s);
    return 0;
}
