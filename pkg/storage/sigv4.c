/*
 * sigv4.c - AWS Signature Version 4, on OpenSSL, as S3-compatible stores
 * (AWS S3, MinIO, Cloudflare R2, GCS interoperability, Supabase Storage)
 * verify it:
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n PAYLOAD-HASH
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(canonical))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, day), region), service), "aws4_request")
 *
 * The URI and query are normalised here (decoded, then percent-encoded
 * once with upper-case hex, everything but A-Z a-z 0-9 - . _ ~ escaped, the
 * URI keeping its slashes), so a caller may pass them as sent. Header
 * names are lower-cased and sorted; values are trimmed, inner runs of
 * spaces become one, and repeated headers join with commas in the order
 * given. Checked against AWS's published test suite and S3's documented
 * examples (tests/unit/test_sigv4.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "easel/storage.h"

void easel_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    easel_hex_encode(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* Appends s[0..n) to b, every byte outside the unreserved set (A-Z a-z
 * 0-9 - . _ ~, and '/' when keep_slash) percent-encoded with upper-case
 * hex. With decode, %XX escapes in s are decoded first, so text as sent
 * is encoded exactly once. */
static easel_err encode(struct easel_buf *b, const char *s, size_t n, bool keep_slash,
                        bool decode)
{
    easel_err rc = EASEL_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        int h, l;
        if (decode && c == '%' && i + 2 < n && (h = easel_hex_digit(s[i + 1])) >= 0 &&
            (l = easel_hex_digit(s[i + 2])) >= 0) {
            c = (unsigned char)(h << 4 | l);
            i += 2;
        }
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (c == '/' && keep_slash))
            rc = easel_buf_append(b, (const char *)&c, 1);
        else
            rc = easel_buf_printf(b, "%%%02X", c);
    }
    return rc;
}

easel_err easel_uri_encode(struct easel_buf *b, const char *s, bool keep_slash)
{
    /* no decoding: the caller's text is data (an object key) */
    return encode(b, s, strlen(s), keep_slash, false);
}

struct pair {
    char *k, *v;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* "b=2&a=1&c" -> "a=1&b=2&c=" with both sides encoded once. */
static easel_err canonical_query(struct easel_buf *out, const char *q)
{
    size_t n = 0, cap = 8;
    struct pair *ps = calloc(cap, sizeof(*ps));
    easel_err rc = ps ? EASEL_OK : EASEL_ENOMEM;
    for (const char *p = q; !rc && p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            struct easel_buf kb, vb;
            easel_buf_init(&kb, 0);
            easel_buf_init(&vb, 0);
            rc = encode(&kb, p, (size_t)((eq ? eq : end) - p), false, true);
            if (!rc && eq)
                rc = encode(&vb, eq + 1, (size_t)(end - eq - 1), false, true);
            if (!rc && n == cap) {
                struct pair *g = realloc(ps, 2 * cap * sizeof(*ps));
                if (!g)
                    rc = EASEL_ENOMEM;
                else
                    ps = g, cap *= 2;
            }
            if (!rc) {
                size_t kl, vl;
                ps[n].k = easel_buf_steal(&kb, &kl);
                ps[n].v = easel_buf_steal(&vb, &vl);
                if (!ps[n].k)
                    ps[n].k = easel_strdup("");
                if (!ps[n].v)
                    ps[n].v = easel_strdup("");
                n++;
            }
            easel_buf_cleanup(&kb);
            easel_buf_cleanup(&vb);
        }
        p = amp ? amp + 1 : end;
    }
    if (!rc) {
        qsort(ps, n, sizeof(*ps), cmp_pair);
        for (size_t i = 0; i < n && !rc; i++)
            rc = easel_buf_printf(out, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
    }
    for (size_t i = 0; ps && i < n; i++) {
        free(ps[i].k);
        free(ps[i].v);
    }
    free(ps);
    return rc;
}

struct hdr {
    char *name;  /* lower case */
    char *value; /* trimmed, inner spaces collapsed; repeats joined */
};

static int cmp_hdr(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static char *clean_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;
    if (!out)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            if (o > out && o[-1] != ' ')
                *o++ = ' ';
        } else {
            *o++ = *v;
        }
    }
    while (o > out && o[-1] == ' ')
        o--;
    *o = '\0';
    return out;
}

/* Adds (or extends) a header; name is lower-cased. */
static easel_err add_hdr(struct hdr *hs, size_t *n, const char *name, size_t nlen,
                         const char *value)
{
    char *v = clean_value(value);
    if (!v)
        return EASEL_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        if (strlen(hs[i].name) == nlen && !strncasecmp(hs[i].name, name, nlen)) {
            char *j = easel_asprintf("%s,%s", hs[i].value, v);
            free(v);
            if (!j)
                return EASEL_ENOMEM;
            free(hs[i].value);
            hs[i].value = j;
            return EASEL_OK;
        }
    }
    char *nm = strndup(name, nlen);
    if (!nm) {
        free(v);
        return EASEL_ENOMEM;
    }
    for (char *p = nm; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    hs[*n].name = nm;
    hs[*n].value = v;
    (*n)++;
    return EASEL_OK;
}

/* EASEL_ELIMIT for a secret over 507 bytes: signing with a cut one would
 * only earn a SignatureDoesNotMatch that points nowhere. */
static easel_err signing_key(const struct easel_sigv4 *k, const char *day, unsigned char out[32])
{
    char secret[512];
    unsigned char a[32], b[32], c[32];
    if (easel_snprintf(secret, sizeof(secret), "AWS4%s", k->secret_key) != EASEL_OK)
        return EASEL_ELIMIT;
    hmac(secret, strlen(secret), day, a);
    hmac(a, 32, k->region, b);
    hmac(b, 32, k->service, c);
    hmac(c, 32, "aws4_request", out);
    return EASEL_OK;
}

easel_err easel_sigv4_sign(const struct easel_sigv4 *k, const struct easel_sigv4_req *r,
                           struct easel_sigv4_out *out)
{
    memset(out, 0, sizeof(*out));
    if (!k || !k->access_key || !k->secret_key || !k->region || !k->service || !r ||
        !r->method || !r->host || !r->amz_date || strlen(r->amz_date) != 16)
        return EASEL_EINVAL;
    size_t nlines = 0;
    for (const char *const *l = r->headers; l && *l; l++)
        nlines++;
    struct hdr *hs = calloc(nlines + 4, sizeof(*hs));
    if (!hs)
        return EASEL_ENOMEM;
    size_t n = 0;
    easel_err rc = add_hdr(hs, &n, "host", 4, r->host);
    if (!rc && !r->in_query)
        rc = add_hdr(hs, &n, "x-amz-date", 10, r->amz_date);
    if (!rc && r->sign_payload_header)
        rc = add_hdr(hs, &n, "x-amz-content-sha256", 20, r->payload_hash);
    if (!rc && k->session_token && *k->session_token)
        rc = add_hdr(hs, &n, "x-amz-security-token", 20, k->session_token);
    for (const char *const *l = r->headers; !rc && l && *l; l++) {
        const char *colon = strchr(*l, ':');
        if (!colon) {
            rc = EASEL_EINVAL;
            break;
        }
        rc = add_hdr(hs, &n, *l, (size_t)(colon - *l), colon + 1);
    }
    struct easel_buf creq, signed_h;
    easel_buf_init(&creq, 0);
    easel_buf_init(&signed_h, 0);
    if (!rc) {
        qsort(hs, n, sizeof(*hs), cmp_hdr);
        const char *path = r->path && *r->path ? r->path : "/";
        rc = easel_buf_printf(&creq, "%s\n", r->method);
        if (!rc)
            rc = encode(&creq, path, strlen(path), true, true);
        if (!rc)
            rc = easel_buf_append(&creq, "\n", 1);
        if (!rc)
            rc = canonical_query(&creq, r->query);
        if (!rc)
            rc = easel_buf_append(&creq, "\n", 1);
        for (size_t i = 0; i < n && !rc; i++) {
            rc = easel_buf_printf(&creq, "%s:%s\n", hs[i].name, hs[i].value);
            if (!rc)
                rc = easel_buf_printf(&signed_h, "%s%s", i ? ";" : "", hs[i].name);
        }
        if (!rc)
            rc = easel_buf_printf(&creq, "\n%s\n%s", signed_h.data ? signed_h.data : "",
                                  r->payload_hash ? r->payload_hash : "UNSIGNED-PAYLOAD");
    }
    for (size_t i = 0; i < n; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    if (rc) {
        easel_buf_cleanup(&creq);
        easel_buf_cleanup(&signed_h);
        return rc;
    }
    char day[9], creq_hash[65], sig[65];
    memcpy(day, r->amz_date, 8);
    day[8] = '\0';
    easel_sha256_hex(creq.data, creq.len, creq_hash);
    char *sts = easel_asprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date,
                               day, k->region, k->service, creq_hash);
    unsigned char key[32], mac[32];
    easel_err krc = EASEL_OK;
    if (sts && (krc = signing_key(k, day, key)) == EASEL_OK) {
        hmac(key, 32, sts, mac);
        easel_hex_encode(mac, 32, sig);
    }
    size_t len;
    out->canonical_request = easel_buf_steal(&creq, &len);
    out->string_to_sign = sts;
    out->signed_headers = easel_buf_steal(&signed_h, &len);
    if (krc) {
        easel_sigv4_out_cleanup(out);
        return krc;
    }
    if (sts) {
        memcpy(out->signature, sig, sizeof(sig));
        out->authorization =
            easel_asprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                           "SignedHeaders=%s, Signature=%s",
                           k->access_key, day, k->region, k->service, out->signed_headers, sig);
    }
    if (!out->canonical_request || !out->string_to_sign || !out->signed_headers ||
        !out->authorization) {
        easel_sigv4_out_cleanup(out);
        return EASEL_ENOMEM;
    }
    return EASEL_OK;
}

void easel_sigv4_out_cleanup(struct easel_sigv4_out *o)
{
    free(o->canonical_request);
    free(o->string_to_sign);
    free(o->signed_headers);
    free(o->authorization);
    memset(o, 0, sizeof(*o));
}

char *easel_sigv4_presign(const struct easel_sigv4 *k, const char *method, const char *host,
                          const char *path, const char *extra_query, int64_t expires_s,
                          const char *amz_date)
{
    if (!k || !amz_date || strlen(amz_date) != 16 || expires_s < 1 || expires_s > 604800)
        return NULL;
    struct easel_buf q;
    easel_buf_init(&q, 0);
    char day[9];
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    /* allocated: a credential scope cut short would sign for someone else */
    char *cred = easel_asprintf("%s/%s/%s/%s/aws4_request", k->access_key, day, k->region,
                                k->service);
    easel_err rc = cred ? EASEL_OK : EASEL_ENOMEM;
    if (!rc && extra_query && *extra_query)
        rc = easel_buf_printf(&q, "%s&", extra_query);
    if (!rc)
        rc = easel_buf_puts(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    if (!rc)
        rc = easel_uri_encode(&q, cred, false);
    free(cred);
    if (!rc)
        rc = easel_buf_printf(&q, "&X-Amz-Date=%s&X-Amz-Expires=%lld", amz_date,
                              (long long)expires_s);
    if (!rc && k->session_token && *k->session_token) {
        rc = easel_buf_puts(&q, "&X-Amz-Security-Token=");
        if (!rc)
            rc = easel_uri_encode(&q, k->session_token, false);
    }
    if (!rc)
        rc = easel_buf_puts(&q, "&X-Amz-SignedHeaders=host");
    struct easel_sigv4 nok = *k;
    nok.session_token = NULL; /* in the query, not a signed header */
    struct easel_sigv4_req r = {.method = method, .host = host, .path = path,
                                .query = q.data, .payload_hash = "UNSIGNED-PAYLOAD",
                                .amz_date = amz_date, .in_query = true};
    struct easel_sigv4_out o;
    if (rc || easel_sigv4_sign(&nok, &r, &o)) {
        easel_buf_cleanup(&q);
        return NULL;
    }
    rc = easel_buf_printf(&q, "&X-Amz-Signature=%s", o.signature);
    easel_sigv4_out_cleanup(&o);
    size_t len;
    char *s = rc ? NULL : easel_buf_steal(&q, &len);
    easel_buf_cleanup(&q);
    return s;
}

void easel_amz_date(int64_t wall_ms, char out[17])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
