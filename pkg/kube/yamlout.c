/*
 * yamlout.c - a cJSON tree written as block YAML with libyaml's emitter,
 * quoting every string that would otherwise read back as something else
 * ("true", "1", "~", "", "0755", "1e3", ...).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "easel/core.h"
#include "easel/kubejob.h"

/* Would a plain scalar with this text be read as anything but a string? */
static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    static const char *const special[] = {
        "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null",
        "NULL", "~", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON",
        "off", "Off", "OFF", "y", "Y", "n", "N", NULL};
    for (size_t i = 0; special[i]; i++)
        if (!strcmp(s, special[i]))
            return true;
    /* anything number-like (ints, floats, octal, hex, .inf, .nan) */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.' || (*p >= '0' && *p <= '9'))
        return true;
    return false;
}

static int emit(yaml_emitter_t *em, const cJSON *v);

static int scalar(yaml_emitter_t *em, const char *text, bool string)
{
    yaml_event_t ev;
    bool quote = string && needs_quotes(text);
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text,
                                      (int)strlen(text), !quote, string,
                                      quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                            : YAML_ANY_SCALAR_STYLE))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit(yaml_emitter_t *em, const cJSON *v)
{
    yaml_event_t ev;
    if (cJSON_IsObject(v)) {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        const cJSON *c;
        cJSON_ArrayForEach(c, v)
        {
            if (scalar(em, c->string, true) || emit(em, c))
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    if (cJSON_IsArray(v)) {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        const cJSON *c;
        cJSON_ArrayForEach(c, v)
        {
            if (emit(em, c))
                return -1;
        }
        if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    if (cJSON_IsString(v))
        return scalar(em, v->valuestring, true);
    if (cJSON_IsBool(v))
        return scalar(em, cJSON_IsTrue(v) ? "true" : "false", false);
    if (cJSON_IsNumber(v)) {
        char b[64];
        double d = v->valuedouble;
        /* at most 16 digits, or 17 significant digits with sign, point and
         * exponent: neither can fill 64 bytes, but a cut number must not be
         * emitted */
        easel_err rc = d == floor(d) && fabs(d) < 9e15 ? easel_snprintf(b, sizeof(b), "%.0f", d)
                                                       : easel_snprintf(b, sizeof(b), "%.17g", d);
        if (rc)
            return -1;
        return scalar(em, b, false);
    }
    return scalar(em, "null", false);
}

static int write_buf(void *ud, unsigned char *p, size_t n)
{
    return easel_buf_append(ud, p, n) == EASEL_OK;
}

char *easel_json_to_yaml(const cJSON *obj)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    struct easel_buf b;
    easel_buf_init(&b, 64u * 1024 * 1024);
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, write_buf, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* never fold long strings */
    yaml_emitter_set_indent(&em, 2);
    bool ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
              yaml_emitter_emit(&em, &ev) &&
              yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
              yaml_emitter_emit(&em, &ev) && emit(&em, obj) == 0 &&
              yaml_document_end_event_initialize(&ev, 1) &&
              yaml_emitter_emit(&em, &ev) && yaml_stream_end_event_initialize(&ev) &&
              yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    if (!ok) {
        easel_buf_cleanup(&b);
        return NULL;
    }
    return easel_buf_steal(&b, NULL);
}
