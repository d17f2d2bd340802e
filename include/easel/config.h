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

/* What a setting means beyond its own mode (struct easel_opt.flags). */
#define EASEL_OPT_WORKER 0x1u /* a worker inherits it from its controller */
#define EASEL_OPT_SECRET 0x2u /* a credential: a pod gets it from a Secret
                               * reference, never as a value in the Job */
#define EASEL_OPT_EMPTY 0x4u  /* an empty variable counts (it means "off"); for
                               * the others an empty variable is unset */

struct easel_opt {
    const char *flag;     /* "redis-url" (without dashes) */
    const char *env;      /* "EASEL_REDIS_URL" or NULL */
    enum easel_opt_type type;
    const char *def;      /* default as text, or NULL for none */
    size_t offset;        /* offsetof(struct your_cfg, field) */
    int64_t min, max;     /* numeric range, when min < max */
    const char *help;
    unsigned flags;       /* EASEL_OPT_WORKER, EASEL_OPT_SECRET */
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

/* One resolved setting as an environment entry: opt->env=value. */
struct easel_setting {
    const struct easel_opt *opt; /* the table's row (borrowed: tables are static) */
    char *value;                 /* owned */
};
struct easel_settings {
    struct easel_setting *v;
    size_t n;
};

/* The inverse of easel_config_parse for the environment: the value in cfg
 * of every option of spec that has a variable and carries all the flags
 * in `mask` (0: every option with a variable), in table order, as text
 * that easel_config_parse reads back from that variable to the same value:
 * strings as they are, whole numbers in decimal, durations in
 * milliseconds ("1500ms"), sizes in bytes, booleans true or false, lists
 * joined with commas. An unset or empty string or list is left out (an
 * empty variable means unset to the reader, which then applies its own
 * default). EASEL_EINVAL, with err naming the flag, for a list entry that
 * is empty or holds a comma: it cannot be carried in one variable.
 * *out is cleared first; on failure it holds nothing. */
easel_err easel_config_export(const struct easel_cmd_spec *spec, const void *cfg,
                              unsigned mask, struct easel_settings *out,
                              struct easel_error *err);
/* The entry for variable `env`, or NULL. */
const struct easel_setting *easel_settings_find(const struct easel_settings *s,
                                                const char *env);
/* A deep copy (the rows stay borrowed). *to is cleared first. */
easel_err easel_settings_copy(const struct easel_settings *from, struct easel_settings *to);
/* Frees the values; accepts an empty or cleared struct. */
void easel_settings_cleanup(struct easel_settings *s);

#endif
