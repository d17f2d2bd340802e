/*
 * sse.c - an incremental reader of a text/event-stream, by the rules of
 * the HTML standard's "event stream interpretation": lines end in CRLF, LF
 * or CR; a blank line dispatches the event gathered so far; a line that
 * starts with ':' is a comment; "field: value" loses one leading space of
 * its value; data lines join with LF; an id containing NUL is ignored; an
 * event without data is not dispatched. Bytes arrive in whatever pieces
 * the network gives, so every state survives between calls.
 *
 * The input is a server's answer: lines are capped and anything else is
 * taken as it comes (tests/fuzz/fuzz_sse.c).
 */
#include <string.h>

#include "easel/client.h"

void easel_sse_init(struct easel_sse *p, size_t max_line, easel_sse_fn fn, void *ud)
{
    memset(p, 0, sizeof(*p));
    easel_buf_init(&p->line, max_line);
    easel_buf_init(&p->data, max_line);
    p->fn = fn;
    p->ud = ud;
}

void easel_sse_reset(struct easel_sse *p)
{
    easel_buf_reset(&p->line);
    easel_buf_reset(&p->data);
    p->event[0] = '\0';
    p->after_cr = false;
}

void easel_sse_cleanup(struct easel_sse *p)
{
    easel_buf_cleanup(&p->line);
    easel_buf_cleanup(&p->data);
}

/* A blank line: the event gathered so far goes out. */
static int dispatch(struct easel_sse *p)
{
    int stop = 0;
    if (p->data.len > 0) {
        p->data.len--; /* the last data line's LF */
        p->data.data[p->data.len] = '\0';
        stop = p->fn(p->ud, p->event[0] ? p->event : "message", p->last_id, p->data.data,
                     p->data.len);
    }
    easel_buf_reset(&p->data);
    p->event[0] = '\0';
    return stop;
}

static easel_err field(struct easel_sse *p, const char *line, size_t n)
{
    if (n > 0 && line[0] == ':')
        return EASEL_OK; /* a comment: a heartbeat */
    const char *colon = memchr(line, ':', n);
    size_t nl = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;
    size_t vl = (size_t)(line + n - v);
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    if (nl == 5 && !memcmp(line, "event", 5)) {
        if (vl >= sizeof(p->event))
            vl = sizeof(p->event) - 1;
        memcpy(p->event, v, vl);
        p->event[vl] = '\0';
    } else if (nl == 4 && !memcmp(line, "data", 4)) {
        easel_err rc = easel_buf_append(&p->data, v, vl);
        if (!rc)
            rc = easel_buf_append(&p->data, "\n", 1);
        return rc;
    } else if (nl == 2 && !memcmp(line, "id", 2) && !memchr(v, '\0', vl)) {
        if (vl >= sizeof(p->last_id))
            vl = sizeof(p->last_id) - 1;
        memcpy(p->last_id, v, vl);
        p->last_id[vl] = '\0';
    }
    /* retry and unknown fields: nothing to do for this reader */
    return EASEL_OK;
}

easel_err easel_sse_feed(struct easel_sse *p, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (p->after_cr) {
            p->after_cr = false;
            if (ch == '\n')
                continue; /* the LF of a CRLF */
        }
        if (ch != '\r' && ch != '\n') {
            if (easel_buf_append(&p->line, &ch, 1) != EASEL_OK)
                return EASEL_ELIMIT;
            continue;
        }
        p->after_cr = ch == '\r';
        easel_err rc = EASEL_OK;
        if (p->line.len == 0) {
            if (dispatch(p))
                return EASEL_ECANCELED;
        } else {
            rc = field(p, p->line.data, p->line.len);
        }
        easel_buf_reset(&p->line);
        if (rc)
            return EASEL_ELIMIT;
    }
    return EASEL_OK;
}
