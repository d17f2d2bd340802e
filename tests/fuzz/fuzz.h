/*
 * fuzz.h - what every target in tests/fuzz shares: the two entry points
 * libFuzzer calls (and replay_main.c calls when a target is built without
 * libFuzzer, for make test), and a copy of the input as a C string.
 */
#ifndef EASEL_FUZZ_H
#define EASEL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a malloc'd string of exactly size bytes plus the NUL, so
 * that AddressSanitizer sees a read one past it. Aborts when out of memory
 * (a fuzz target has nothing better to do). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The input as a malloc'd copy of exactly size bytes, with no NUL: a reader
 * that takes a length must not look past it. */
static inline char *fuzz_bytes(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

#endif
