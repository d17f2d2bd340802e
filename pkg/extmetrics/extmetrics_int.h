/*
 * extmetrics_int.h - what the files of pkg/extmetrics share: the small
 * text helpers of the listener (util.c).
 */
#ifndef EASEL_EXTMETRICS_INT_H
#define EASEL_EXTMETRICS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "easel/core.h"

/* A query argument's value, percent- and '+'-decoded, malloc'd; NULL for
 * a malformed escape, an encoded NUL or no memory. */
char *em_url_decode(const char *s);
/* "HOST:PORT", "[V6]:PORT" or ":PORT" into host ("" = every address) and
 * port (digits); EASEL_EINVAL when it is none of these. */
easel_err em_split_addr(const char *addr, char *host, size_t hostlen, char *port,
                        size_t portlen);

#endif
