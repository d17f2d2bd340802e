/*
 * fuzz_provider_logs.c - a provider's log text (Replicate's prediction
 * "logs"), read for the newest progress bar's percent and cut into the
 * lines a logs event carries, both from the provider's bytes.
 */
#include <stdio.h>

#include "easel/providers.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    double pct = -1;
    if (easel_logs_percent(text, size, &pct) && (pct < 0 || pct > 100))
        abort();
    /* read in two steps, as a growing log is: first half, then all */
    const struct easel_logs_limits lim = {4, 24};
    size_t off = 0;
    for (int step = 0; step < 2; step++) {
        size_t len = step == 0 ? size / 2 : size;
        cJSON *lines = NULL;
        if (easel_logs_take(text, len, &off, step == 1, &lim, &lines) != EASEL_OK)
            abort();
        if (off > len)
            abort();
        const cJSON *l;
        int n = 0;
        cJSON_ArrayForEach(l, lines)
        {
            /* a line within its bound (plus "..."), or the marker of
             * lines left out, which has its own */
            unsigned long skipped;
            char end;
            if (!cJSON_IsString(l))
                abort();
            if (strlen(l->valuestring) > lim.max_line + 3 &&
                sscanf(l->valuestring, "[%lu earlier lines not shown%c", &skipped, &end) != 2)
                abort();
            n++;
        }
        if (n > (int)lim.max_lines || (lines && n == 0))
            abort();
        char *printed = lines ? cJSON_PrintUnformatted(lines) : NULL;
        cJSON *back = printed ? cJSON_Parse(printed) : NULL;
        if (printed && !back)
            abort();
        cJSON_Delete(back);
        free(printed);
        cJSON_Delete(lines);
    }
    return 0;
}
