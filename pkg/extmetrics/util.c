/*
 * util.c - text helpers of the external metrics listener: the query's
 * percent-decoding and the listen address.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "extmetrics_int.h"

char *em_url_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? easel_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? easel_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

