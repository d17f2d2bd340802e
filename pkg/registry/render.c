/*
 * render.c - a model's input template filled from a job's fields.
 *
 *   "{{seed}}"            the field's JSON value (a number stays a number)
 *   "a {{style}} room"    text interpolation; missing fields become ""
 *   "{{ person.name }}"   dotted paths reach into objects
 *   "{{images.0|data_uri}}"  "| member" picks a member of an object (or of
 *                         each object of an array): how templates ask for
 *                         the source images as url, data_uri, base64 or file
 *
 * Anything that is not a string is copied as it is.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "registry_int.h"

#define MAX_RENDERED (4 * 1024 * 1024)

/* Extracts the name between "{{" at s and the next "}}", trimmed. Returns
 * the position after "}}", or NULL when the braces do not close. */
static const char *placeholder(const char *s, char *name, size_t len)
{
    const char *end = strstr(s + 2, "}}");
    if (!end)
        return NULL;
    const char *a = s + 2, *b = end;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    size_t n = (size_t)(b - a);
    if (n >= len)
        n = len - 1;
    memcpy(name, a, n);
    name[n] = '\0';
    return end + 2;
}

static easel_err append_value(struct easel_buf *b, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return EASEL_OK;
    if (cJSON_IsString(v))
        return easel_buf_puts(b, v->valuestring ? v->valuestring : "");
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15)
            return easel_buf_printf(b, "%lld", (long long)d);
        return easel_buf_printf(b, "%.17g", d);
    }
    if (cJSON_IsBool(v))
        return easel_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt)
        return EASEL_ENOMEM;
    easel_err rc = easel_buf_puts(b, txt);
    cJSON_free(txt);
    return rc;
}

/* The value a placeholder names, as a new item (NULL when missing):
 * "path", or "path | member", which picks that member of an object, or of
 * each object of an array. The runner offers the job's source images this
 * way: images.0|data_uri, image|base64, images|file. */
static cJSON *resolve(const cJSON *fields, const char *spec)
{
    char path[128];
    const char *bar = strchr(spec, '|');
    size_t n = bar ? (size_t)(bar - spec) : strlen(spec);
    while (n > 0 && isspace((unsigned char)spec[n - 1]))
        n--;
    if (n >= sizeof(path))
        return NULL;
    memcpy(path, spec, n);
    path[n] = '\0';
    const cJSON *v = reg_lookup(fields, path);
    if (!v && !strncmp(path, "images.", 7)) {
        /* dotted paths do not index arrays: images.N does */
        const cJSON *arr = reg_lookup(fields, "images");
        char *end;
        long i = strtol(path + 7, &end, 10);
        if (*end == '\0' && end != path + 7)
            v = cJSON_GetArrayItem(arr, (int)i);
    }
    if (!v)
        return NULL;
    if (!bar)
        return cJSON_Duplicate(v, 1);
    const char *member = bar + 1;
    while (isspace((unsigned char)*member))
        member++;
    if (cJSON_IsArray(v)) {
        cJSON *a = cJSON_CreateArray();
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, member);
            cJSON_AddItemToArray(a, m ? cJSON_Duplicate(m, 1) : cJSON_CreateNull());
        }
        return a;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, member);
    return m ? cJSON_Duplicate(m, 1) : NULL;
}

static cJSON *render_string(const char *s, const cJSON *fields)
{
    char name[128];
    size_t n = strlen(s);
    /* Exactly one placeholder: keep the value's type. */
    if (n >= 4 && s[0] == '{' && s[1] == '{') {
        const char *after = placeholder(s, name, sizeof(name));
        if (after && *after == '\0' && !strstr(s + 2, "{{")) {
            cJSON *v = resolve(fields, name);
            return v ? v : cJSON_CreateNull();
        }
    }
    struct easel_buf b;
    easel_buf_init(&b, MAX_RENDERED);
    const char *p = s;
    easel_err rc = EASEL_OK;
    while (*p && rc == EASEL_OK) {
        const char *open = strstr(p, "{{");
        if (!open) {
            rc = easel_buf_puts(&b, p);
            break;
        }
        rc = easel_buf_append(&b, p, (size_t)(open - p));
        const char *after = rc ? NULL : placeholder(open, name, sizeof(name));
        if (!after) {
            if (rc == EASEL_OK)
                rc = easel_buf_puts(&b, open); /* unclosed: literal text */
            break;
        }
        cJSON *v = resolve(fields, name);
        rc = append_value(&b, v);
        cJSON_Delete(v);
        p = after;
    }
    cJSON *out = rc ? NULL : cJSON_CreateString(b.data ? b.data : "");
    easel_buf_cleanup(&b);
    return out;
}

static cJSON *render(const cJSON *t, const cJSON *fields, int depth)
{
    if (depth > 64)
        return NULL;
    if (cJSON_IsString(t))
        return render_string(t->valuestring ? t->valuestring : "", fields);
    if (cJSON_IsArray(t) || cJSON_IsObject(t)) {
        cJSON *o = cJSON_IsArray(t) ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!o)
            return NULL;
        for (const cJSON *c = t->child; c; c = c->next) {
            cJSON *v = render(c, fields, depth + 1);
            if (!v) {
                cJSON_Delete(o);
                return NULL;
            }
            if (cJSON_IsArray(t))
                cJSON_AddItemToArray(o, v);
            else
                cJSON_AddItemToObject(o, c->string, v);
        }
        return o;
    }
    return cJSON_Duplicate(t, 1);
}

easel_err easel_registry_render_input(const struct easel_model *m,
                                      const cJSON *fields, cJSON **out)
{
    *out = NULL;
    if (!m)
        return EASEL_EINVAL;
    if (!m->input) {
        /* No template: the provider gets the job's fields as they are. */
        *out = fields ? cJSON_Duplicate(fields, 1) : cJSON_CreateObject();
        return *out ? EASEL_OK : EASEL_ENOMEM;
    }
    *out = render(m->input, fields, 0);
    return *out ? EASEL_OK : EASEL_ENOMEM;
}
