/*
 * sign.c - what a Standard Webhooks message carries besides its body: the
 * HMAC-SHA256 signatures (one per secret, for rotation), the secrets file
 * they come from, and the schedule of retries and Retry-After.
 *
 * The signed content is "<webhook-id>.<webhook-timestamp>.<body>", with the
 * exact bytes sent, so a body is rendered once (the outbox keeps it) and
 * never re-serialised between signing and sending.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "easel/kube.h"
#include "easel/providers.h"
#include "easel/webhook.h"

#define KEY_MIN 24
#define KEY_MAX 512

void easel_webhook_secrets_cleanup(struct easel_webhook_secrets *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->keys[i].bytes)
            OPENSSL_cleanse(s->keys[i].bytes, s->keys[i].len);
        free(s->keys[i].bytes);
    }
    free(s->keys);
    s->keys = NULL;
    s->n = 0;
}

easel_err easel_webhook_key_parse(const char *text, struct easel_webhook_key *out,
                                  struct easel_error *err)
{
    char *raw = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    if (!text)
        return EASEL_EINVAL;
    const char *b64 = easel_str_has_prefix(text, "whsec_") ? text + 6 : text;
    /* the messages below describe the secret, never quote it */
    if (!*b64 || easel_kube_b64decode(b64, &raw, &len) != EASEL_OK)
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "a webhook secret must be whsec_ followed by base64");
    if (len < KEY_MIN || len > KEY_MAX) {
        OPENSSL_cleanse(raw, len);
        free(raw);
        return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "a webhook secret must decode to %d to %d bytes, not %zu "
                               "(make one with: echo whsec_$(openssl rand -base64 32))",
                               KEY_MIN, KEY_MAX, len);
    }
    out->bytes = (unsigned char *)raw;
    out->len = len;
    return EASEL_OK;
}

easel_err easel_webhook_secrets_load(const char *path, struct easel_webhook_secrets *out,
                                     struct easel_error *err)
{
    char *text = NULL;
    size_t len = 0;
    struct easel_webhook_secrets s = {0};
    easel_err rc;

    memset(out, 0, sizeof(*out));
    if (!path || !*path)
        return easel_error_set(err, EASEL_EINVAL, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "no webhook secrets file (--webhook-secret-file)");
    rc = easel_read_file(path, 64 * 1024, &text, &len);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                               "webhook secrets file %s: %s", path, easel_strerror(rc));
    int lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#')
            continue;
        struct easel_webhook_key *k = realloc(s.keys, (s.n + 1) * sizeof(*k));
        if (!k) {
            rc = EASEL_ENOMEM;
            goto out;
        }
        s.keys = k;
        rc = easel_webhook_key_parse(line, &s.keys[s.n], err);
        if (rc) {
            easel_error_prefix(err, "webhook secrets file %s, line %d: ", path, lineno);
            goto out;
        }
        s.n++;
    }
    if (s.n == 0) {
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT, EASEL_R_BAD_FLAG,
                             "webhook secrets file %s holds no secret", path);
        goto out;
    }
    *out = s;
    memset(&s, 0, sizeof(s));
out:
    easel_webhook_secrets_cleanup(&s);
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    return rc;
}

easel_err easel_webhook_sign(const struct easel_webhook_secrets *s, const char *msg_id,
                             int64_t timestamp, const char *body, size_t len, char **out)
{
    struct easel_buf content, hdr;
    easel_err rc = EASEL_OK;

    *out = NULL;
    if (!s || !s->n || !msg_id || strchr(msg_id, '.') || (!body && len))
        return EASEL_EINVAL;
    easel_buf_init(&content, 0);
    easel_buf_init(&hdr, 0);
    rc = easel_buf_printf(&content, "%s.%lld.", msg_id, (long long)timestamp);
    if (!rc && len)
        rc = easel_buf_append(&content, body, len);
    for (size_t i = 0; !rc && i < s->n; i++) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (!HMAC(EVP_sha256(), s->keys[i].bytes, (int)s->keys[i].len,
                  (const unsigned char *)content.data, content.len, mac, &maclen)) {
            rc = EASEL_EINTERNAL;
            break;
        }
        char *b64 = easel_base64(mac, maclen);
        if (!b64) {
            rc = EASEL_ENOMEM;
            break;
        }
        rc = easel_buf_printf(&hdr, "%sv1,%s", i ? " " : "", b64);
        free(b64);
    }
    if (!rc)
        *out = easel_buf_steal(&hdr, NULL);
    if (!rc && !*out)
        rc = EASEL_ENOMEM;
    easel_buf_cleanup(&content);
    easel_buf_cleanup(&hdr);
    return rc;
}

easel_err easel_webhook_schedule_parse(const char *text, int64_t *ms, size_t *n)
{
    size_t k = 0;
    const char *p = text;
    *n = 0;
    if (!text || !*text)
        return EASEL_EINVAL;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof(item) || k == EASEL_WEBHOOK_SCHEDULE_MAX)
            return EASEL_EINVAL;
        memcpy(item, p, len);
        item[len] = '\0';
        int64_t v;
        if (easel_parse_duration_ms(item, &v) || v < 0 || v > 7LL * 86400000)
            return EASEL_EINVAL;
        ms[k++] = v;
        p = comma ? comma + 1 : NULL;
    }
    *n = k;
    return EASEL_OK;
}

bool easel_webhook_retry_after(const char *value, int64_t now_wall_ms, int64_t *ms)
{
    int64_t secs;
    *ms = 0;
    if (!value)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        char v[24];
        easel_strlcpy(v, value, sizeof(v));
        for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\r' || v[n - 1] == '\n');)
            v[--n] = '\0';
        if (easel_parse_i64(v, 0, INT64_MAX / 1000, &secs))
            return false;
        *ms = secs * 1000;
        return true;
    }
    time_t t = curl_getdate(value, NULL);
    if (t < 0)
        return false;
    int64_t at = (int64_t)t * 1000;
    *ms = at > now_wall_ms ? at - now_wall_ms : 0;
    return true;
}
