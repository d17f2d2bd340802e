/*
 * logs.c - reading a provider's log text for the job's stream.
 *
 * Replicate hands back a prediction's logs as one string that grows while
 * the model runs: whatever the model printed, often a tqdm progress bar
 * (" 45%|████▌     | 9/20 [00:02<00:02, 4.1it/s]") redrawn with carriage
 * returns. The text is the provider's, so nothing in it is trusted: its
 * length, its bytes (invalid UTF-8, escape sequences), its line lengths.
 * Two readers live here, both without I/O so the fuzz target reaches them:
 * the percent of the newest progress bar, and the complete lines not yet
 * sent, cut to bounds a stream event can carry.
 */
#include <stdlib.h>
#include <string.h>

#include "easel/providers.h"

/* The marker that stands for lines left out of a full event. */
#define OMITTED_FMT "[%zu earlier lines not shown]"

/* The percent of a tqdm bar in line[0..len): "<desc>: NN%|" or "NN.N%|"
 * (tqdm's l_bar; spaces allowed before the bar), the number at most 100.
 * Returns true with *pct set. */
static bool line_percent(const char *line, size_t len, double *pct)
{
    bool found = false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '%')
            continue;
        /* "45%|" or, as Replicate's own client also reads it, "45% |" */
        size_t bar = i + 1;
        while (bar < len && line[bar] == ' ')
            bar++;
        if (bar >= len || line[bar] != '|')
            continue;
        /* walk back over "NNN" or "NNN.N" */
        size_t end = i, j = i, digits = 0, frac = 0;
        while (j > 0 && line[j - 1] >= '0' && line[j - 1] <= '9' && frac < 3) {
            j--;
            frac++;
        }
        if (j > 0 && line[j - 1] == '.' && frac > 0) {
            j--;
            while (j > 0 && line[j - 1] >= '0' && line[j - 1] <= '9' && digits < 4) {
                j--;
                digits++;
            }
            if (digits == 0)
                continue;
        } else {
            digits = frac;
            frac = 0;
        }
        if (digits == 0 || digits > 3)
            continue;
        /* a longer number ("1050%|") or one glued to a word ("x45%|") is
         * not a percentage */
        if (j > 0 && ((line[j - 1] >= '0' && line[j - 1] <= '9') ||
                      (line[j - 1] >= 'A' && line[j - 1] <= 'Z') ||
                      (line[j - 1] >= 'a' && line[j - 1] <= 'z') || line[j - 1] == '.'))
            continue;
        double v = 0, scale = 1;
        bool after = false;
        for (size_t k = j; k < end; k++) {
            if (line[k] == '.') {
                after = true;
                continue;
            }
            if (after) {
                scale /= 10;
                v += (line[k] - '0') * scale;
            } else {
                v = v * 10 + (line[k] - '0');
            }
        }
        if (v > 100)
            continue;
        *pct = v;
        found = true; /* the last bar on the line is the newest */
    }
    return found;
}

bool easel_logs_percent(const char *text, size_t len, double *pct)
{
    if (!text || !pct)
        return false;
    /* newest first: the last line (or \r-redrawn piece) that holds a bar */
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n' && text[start - 1] != '\r')
            start--;
        if (line_percent(text + start, end - start, pct))
            return true;
        end = start > 0 ? start - 1 : 0;
    }
    return false;
}

/* Length of the valid UTF-8 sequence at s[0..len), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    if (c < 0x80)
        return 1;
    else if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* overlong, surrogate and beyond-U+10FFFF forms */
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
        (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* One line made safe to show: escape sequences and control characters
 * dropped, invalid UTF-8 as '?', cut at max bytes on a character boundary
 * (marked "..."). NULL for a line with nothing left, or out of memory. */
static char *clean_line(const char *line, size_t len, size_t max, bool *oom)
{
    char *out = malloc(max + 4);
    size_t o = 0;
    if (!out) {
        *oom = true;
        return NULL;
    }
    bool cut = false, visible = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c == 0x1b) {
            /* ESC [ params final: a terminal escape (colour, cursor up) */
            i++;
            if (i < len && line[i] == '[') {
                i++;
                while (i < len && !((unsigned char)line[i] >= 0x40 && (unsigned char)line[i] <= 0x7e))
                    i++;
            }
            if (i < len)
                i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            if (c == '\t' && o < max) {
                out[o++] = ' ';
            }
            i++;
            continue;
        }
        size_t n = utf8_len((const unsigned char *)line + i, len - i);
        const char *src = line + i;
        if (n == 0) {
            src = "?";
            n = 1;
            i++;
        } else {
            i += n;
        }
        if (o + n > max) {
            cut = true;
            break;
        }
        memcpy(out + o, src, n);
        o += n;
        if (*src != ' ')
            visible = true;
    }
    if (!visible) {
        free(out);
        return NULL;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

easel_err easel_logs_take(const char *text, size_t len, size_t *off, bool all,
                          const struct easel_logs_limits *lim, cJSON **lines)
{
    if (lines)
        *lines = NULL;
    if (!text || !off || !lim || !lines || lim->max_lines < 2 || lim->max_line < 8)
        return EASEL_EINVAL;
    /* text that shrank is not the text we read from: start over */
    if (*off > len)
        *off = 0;
    size_t end = len;
    if (!all) {
        /* only complete lines: the last one may still be growing */
        while (end > *off && text[end - 1] != '\n')
            end--;
    }
    if (end <= *off)
        return EASEL_OK;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return EASEL_ENOMEM;
    /* Count the lines first, to know which ones a full event keeps: the
     * newest, after a marker for how many came before them. */
    size_t total = 0;
    for (size_t p = *off; p < end;) {
        const char *nl = memchr(text + p, '\n', end - p);
        size_t e = nl ? (size_t)(nl - text) : end;
        total++;
        p = e + 1;
    }
    size_t skip = total > lim->max_lines ? total - (lim->max_lines - 1) : 0;
    size_t omitted = 0, idx = 0;
    bool oom = false;
    for (size_t p = *off; p < end && !oom; idx++) {
        const char *nl = memchr(text + p, '\n', end - p);
        size_t e = nl ? (size_t)(nl - text) : end;
        size_t s = p;
        p = e + 1;
        if (idx < skip) {
            omitted++;
            continue;
        }
        /* a bar redrawn with \r: only its last drawing is the line */
        size_t ls = e;
        while (ls > s && text[ls - 1] == '\r')
            ls--;
        size_t le = ls;
        while (ls > s && text[ls - 1] != '\r')
            ls--;
        char *line = clean_line(text + ls, le - ls, lim->max_line, &oom);
        if (!line)
            continue;
        if (omitted) {
            char mark[64];
            (void)easel_snprintf(mark, sizeof(mark), OMITTED_FMT, omitted);
            cJSON_AddItemToArray(arr, cJSON_CreateString(mark));
            omitted = 0;
        }
        cJSON *item = cJSON_CreateString(line);
        free(line);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            oom = true;
        }
    }
    if (oom) {
        cJSON_Delete(arr);
        return EASEL_ENOMEM;
    }
    *off = end;
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return EASEL_OK;
    }
    *lines = arr;
    return EASEL_OK;
}
