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

#endif
