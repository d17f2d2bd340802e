/*
 * parse.c - the API's parsers of what a client sends: RFC 3339 times, the
 * Prefer header, list cursors, and the JSON body's outer checks (type,
 * syntax, an object). Each takes any bytes and answers yes or no;
 * tests/fuzz/fuzz_api.c holds the first three to that.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

/* RFC 3339 ("2026-11-28T12:00:00Z", "...+01:00", fractions allowed) to
 * wall milliseconds. */
bool api_parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    int64_t ms = 0;
    if (*p == '.') {
        int64_t scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int hh, mm;
        if (easel_parse_int((char[]){p[1], p[2], 0}, 0, 23, &hh) ||
            easel_parse_int((char[]){p[4], p[5], 0}, 0, 59, &mm))
            return false;
        off = (hh * 60 + mm) * 60000LL * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t * 1000 + ms - off;
    return true;
}

int api_prefer_wait_of(const char *prefer)
{
    /* Prefer: respond-async, wait=10 ; RFC 7240 lists preferences by comma */
    const char *p = prefer;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        if (n >= 4 && !strncasecmp(p, "wait", 4)) {
            const char *v = p + 4;
            while (v < p + n && *v == ' ')
                v++;
            if (v == p + n)
                return 60;
            if (*v == '=') {
                int secs;
                char num[16];
                size_t len = (size_t)(p + n - v - 1);
                if (len == 0 || len >= sizeof(num))
                    return 0;
                memcpy(num, v + 1, len);
                num[len] = '\0';
                if (easel_parse_int(num, 0, 1000000, &secs))
                    return 0;
                return secs > 60 ? 60 : secs;
            }
        }
        p += n;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

int api_prefer_wait(const struct api_req *r)
{
    return api_prefer_wait_of(r->prefer);
}

bool api_parse_cursor(const char *v, int64_t *created_us, char id[EASEL_UUID_LEN + 1])
{
    /* "<created_at in microseconds>.<id>", as next_cursor gave it */
    const char *dot = strchr(v, '.');
    char num[24];
    if (!dot || dot == v || (size_t)(dot - v) >= sizeof(num) ||
        strlen(dot + 1) != EASEL_UUID_LEN)
        return false;
    memcpy(num, v, (size_t)(dot - v));
    num[dot - v] = '\0';
    easel_strlcpy(id, dot + 1, EASEL_UUID_LEN + 1);
    return easel_parse_i64(num, 0, INT64_MAX, created_us) == EASEL_OK && easel_uuid_valid(id);
}

bool api_arg_limit(struct api_req *r, size_t *limit)
{
    const char *v = api_arg(r, "limit");
    int n;
    if (!v || !*v)
        return true;
    if (easel_parse_int(v, 1, 1000, &n)) {
        api_error(r, 400, "invalid_query", "limit must be a whole number from 1 to 1000");
        return false;
    }
    *limit = (size_t)n;
    return true;
}

static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
           (n > 5 && !strncasecmp(ct + n - 5, "+json", 5) && memchr(ct, '/', n));
}

/* "malformed JSON at line 3, column 7 (byte 41)" */
static void bad_json(struct api_req *r, const char *end)
{
    const char *b = r->body.data ? r->body.data : "";
    size_t off = end && end >= b ? (size_t)(end - b) : 0;
    if (off > r->body.len)
        off = r->body.len;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (b[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    api_error(r, 400, "malformed_json", "malformed JSON at line %zu, column %zu (byte %zu)",
              line, col, off);
}

cJSON *api_body_object(struct api_req *r)
{
    if (!is_json_type(r->content_type)) {
        api_error(r, 415, "unsupported_media_type",
                  "the body must be JSON (Content-Type: application/json), not %s",
                  r->content_type ? r->content_type : "untyped");
        return NULL;
    }
    const char *end = NULL;
    cJSON *b = cJSON_ParseWithLengthOpts(r->body.data ? r->body.data : "", r->body.len, &end, 0);
    if (!b) {
        bad_json(r, cJSON_GetErrorPtr());
        return NULL;
    }
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        api_error(r, 400, "malformed_json", "the body must be a JSON object");
        return NULL;
    }
    return b;
}
