/*
 * config.h - one table per mode defines every setting once: its flag, its
 * EASEL_* environment variable, its default and its help text. Parsing, the
 * --help text and docs/configuration.md all come from the same table.
 *
 * Precedence: command-line flag > environment variable > default.
 */
#ifndef EASEL_CONFIG_H
#define EASEL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "easel/core.h"

enum easel_opt_type {
    EASEL_OPT_STRING,   /* char *, owned by the config (strdup'd) */
    EASEL_OPT_INT,      /* int */
    EASEL_OPT_I64,      /* int64_t */
    EASEL_OPT_BOOL,     /* bool; the flag alone means true */
    EASEL_OPT_DURATION, /* int64_t milliseconds, "30s" / "250ms" */
    EASEL_OPT_SIZE,     /* int64_t bytes, "20MB" */
    EASEL_OPT_LIST,     /* repeated flag: char ** NULL-terminated, owned */
};

struct easel_opt {
    const char *flag;     /* "redis-url" (without dashes) */
    const char *env;      /* "EASEL_REDIS_URL" or NULL */
    enum easel_opt_type type;
    const char *def;      /* default as text, or NULL for none */
    size_t offset;        /* offsetof(struct your_cfg, field) */
    int64_t min, max;     /* numeric range, when min < max */
    const char *help;
};

struct easel_cmd_spec {
    const char *name;     /* "controller" */
    const char *usage;    /* "easel controller [flags]" */
    const char *summary;  /* one line */
    const struct easel_opt *opts;
    size_t nopts;
    int min_args, max_args; /* positional arguments accepted */
};

/* Fills `cfg` (a struct the table's offsets point into) from defaults, then
 * the environment, then argv[0..argc). Positional arguments are returned in
 * `*args` (pointers into argv; the array is malloc'd, caller frees). When
 * --help is present, prints help to stdout and returns EASEL_ECANCELED.
 * On a bad flag or value, fills err with a sentence naming the flag and
 * returns EASEL_EINVAL. */
easel_err easel_config_parse(const struct easel_cmd_spec *spec, void *cfg,
                             int argc, char **argv, char ***args, int *nargs,
                             struct easel_error *err);
/* Frees the strings and lists the table owns inside cfg. */
void easel_config_cleanup(const struct easel_cmd_spec *spec, void *cfg);
void easel_config_help(const struct easel_cmd_spec *spec, FILE *out);
/* Markdown table of a mode's settings, for docs/configuration.md. */
void easel_config_markdown(const struct easel_cmd_spec *spec, FILE *out);

#endif
