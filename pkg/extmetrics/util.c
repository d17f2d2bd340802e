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

easel_err em_split_addr(const char *addr, char *host, size_t hostlen, char *port,
                        size_t portlen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1])
        return EASEL_EINVAL;
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    size_t pl = strlen(colon + 1);
    if (hl >= hostlen || pl >= portlen || pl > 5)
        return EASEL_EINVAL;
    int pn;
    if (easel_parse_int(colon + 1, 0, 65535, &pn) != EASEL_OK)
        return EASEL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return EASEL_OK;
}

