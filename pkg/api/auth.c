/*
 * auth.c - the API's bearer tokens: read from a YAML file (a Secret in the
 * chart), kept in memory only as SHA-256 hashes, compared in constant time.
 *
 *   tokens:
 *     - name: web-app            # shown in logs and errors, never the token
 *       token: "s3cr3t..."       # or token_sha256: <64 hex digits>
 *       scopes: [read, write]    # read, write, admin
 *     - name: user-7
 *       token_sha256: 9f86d08...
 *       scopes: [read, write]
 *       owner: {channel: b2c, id: u-7}   # only this owner's jobs
 *
 * A lookup hashes the presented token and compares it with every entry,
 * so neither the answer's timing nor which entry matched says anything
 * about the tokens' bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_int.h"
#include "easel/yamljson.h"

void api_tokens_cleanup(struct api_tokens *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].channel);
        free(t->v[i].owner);
        OPENSSL_cleanse(t->v[i].hash, sizeof(t->v[i].hash));
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static easel_err bad(struct easel_error *err, const char *path, size_t i, const char *what)
{
    return easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                           "%s: tokens[%zu]: %s", path, i, what);
}

static easel_err one_token(const cJSON *e, size_t i, const char *path, struct api_token *t,
                           struct easel_error *err)
{
    static const char *const known[] = {"name", "token", "token_sha256", "scopes", "owner",
                                        NULL};
    if (!cJSON_IsObject(e))
        return bad(err, path, i, "is not a mapping");
    for (const cJSON *f = e->child; f; f = f->next) {
        bool ok = false;
        for (size_t k = 0; known[k]; k++)
            ok = ok || !strcmp(f->string, known[k]);
        if (!ok) {
            char what[120];
            easel_fmt_cut(what, sizeof(what), "unknown key \"%s\"", f->string);
            return bad(err, path, i, what);
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(e, "token");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(e, "token_sha256");
    const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(e, "scopes");
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(e, "owner");
    if (!cJSON_IsString(name) || !*name->valuestring)
        return bad(err, path, i, "needs a name");
    if (!!tok == !!hex)
        return bad(err, path, i, "needs exactly one of token and token_sha256");
    if (tok) {
        if (!cJSON_IsString(tok) || strlen(tok->valuestring) < 16)
            return bad(err, path, i, "token must be a string of at least 16 characters");
        sha256(tok->valuestring, strlen(tok->valuestring), t->hash);
    } else {
        const char *h = cJSON_IsString(hex) ? hex->valuestring : "";
        if (strlen(h) != 64)
            return bad(err, path, i, "token_sha256 must be 64 hex digits");
        for (size_t k = 0; k < 32; k++) {
            int hi = easel_hex_digit(h[2 * k]), lo = easel_hex_digit(h[2 * k + 1]);
            if (hi < 0 || lo < 0)
                return bad(err, path, i, "token_sha256 must be 64 hex digits");
            t->hash[k] = (unsigned char)(hi << 4 | lo);
        }
    }
    if (!cJSON_IsArray(scopes) || cJSON_GetArraySize(scopes) == 0)
        return bad(err, path, i, "needs scopes: a list of read, write, admin");
    for (const cJSON *s = scopes->child; s; s = s->next) {
        const char *v = cJSON_IsString(s) ? s->valuestring : "";
        if (!strcmp(v, "read"))
            t->scopes |= SCOPE_READ;
        else if (!strcmp(v, "write"))
            t->scopes |= SCOPE_WRITE | SCOPE_READ;
        else if (!strcmp(v, "admin"))
            t->scopes |= SCOPE_ADMIN | SCOPE_WRITE | SCOPE_READ;
        else
            return bad(err, path, i, "a scope is not one of read, write, admin");
    }
    if (owner) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(owner, "channel");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(owner, "id");
        if (!cJSON_IsObject(owner) || !cJSON_IsString(ch) || !cJSON_IsString(id) ||
            !*ch->valuestring || !*id->valuestring || cJSON_GetArraySize(owner) != 2)
            return bad(err, path, i, "owner must be {channel: ..., id: ...}");
        if (t->scopes & SCOPE_ADMIN)
            return bad(err, path, i, "an owner-confined token cannot have the admin scope");
        t->channel = easel_strdup(ch->valuestring);
        t->owner = easel_strdup(id->valuestring);
    }
    t->name = easel_strdup(name->valuestring);
    if (!t->name || (owner && (!t->channel || !t->owner)))
        return easel_error_set(err, EASEL_ENOMEM, EASEL_CLASS_PERMANENT, EASEL_R_NO_MEMORY,
                               "out of memory");
    return EASEL_OK;
}

easel_err api_tokens_load(const char *path, struct api_tokens *out, struct easel_error *err)
{
    memset(out, 0, sizeof(*out));
    char *text = NULL;
    size_t len = 0;
    easel_err rc = easel_read_file(path, 1 << 20, &text, &len);
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                               "%s: cannot read the tokens file: %s", path,
                               easel_strerror(rc));
    rc = api_tokens_parse(text, len, path, out, err);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

easel_err api_tokens_parse(const char *text, size_t len, const char *path,
                           struct api_tokens *out, struct easel_error *err)
{
    memset(out, 0, sizeof(*out));
    char why[200];
    cJSON *doc = NULL;
    easel_err rc = easel_yaml_text_to_json(text, len, &doc, why, sizeof(why));
    if (rc)
        return easel_error_set(err, rc, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT, "%s: %s",
                               path, rc == EASEL_EPARSE ? why : easel_strerror(rc));
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "tokens");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        rc = easel_error_set(err, EASEL_EPARSE, EASEL_CLASS_PERMANENT, EASEL_R_BAD_INPUT,
                             "%s: needs \"tokens:\", a list of at least one token", path);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    out->v = calloc(n, sizeof(*out->v));
    if (!out->v) {
        rc = EASEL_ENOMEM;
        goto out;
    }
    size_t i = 0;
    for (const cJSON *e = list->child; e; e = e->next, i++) {
        out->n = i + 1;
        rc = one_token(e, i, path, &out->v[i], err);
        if (rc)
            goto out;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(out->v[k].name, out->v[i].name)) {
                rc = bad(err, path, i, "repeats the name of another token");
                goto out;
            }
            if (!CRYPTO_memcmp(out->v[k].hash, out->v[i].hash, 32)) {
                rc = bad(err, path, i, "is the same token as another entry");
                goto out;
            }
        }
    }
out:
    /* the parsed tree held the plain tokens: wipe them before freeing */
    for (cJSON *e = list && cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "token");
        if (cJSON_IsString(t))
            OPENSSL_cleanse(t->valuestring, strlen(t->valuestring));
    }
    cJSON_Delete(doc);
    if (rc)
        api_tokens_cleanup(out);
    return rc;
}

const struct api_token *api_tokens_find(const struct api_tokens *t, const char *authorization)
{
    if (!t->n || !authorization)
        return NULL;
    const char *p = authorization;
    if (strncasecmp(p, "Bearer ", 7))
        return NULL;
    p += 7;
    while (*p == ' ')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n)
        return NULL;
    unsigned char h[32];
    sha256(p, n, h);
    const struct api_token *found = NULL;
    for (size_t i = 0; i < t->n; i++) {
        /* no early exit: every entry costs the same */
        bool eq = CRYPTO_memcmp(t->v[i].hash, h, sizeof(h)) == 0;
        if (eq)
            found = &t->v[i];
    }
    OPENSSL_cleanse(h, sizeof(h));
    return found;
}
