/*
 * main.c - `easel <mode> [flags]`: picks the mode, parses its flags from its
 * table (flags > EASEL_* environment > defaults) and runs it. Exit codes:
 * 0 success, 1 failure, 2 usage error; `easel job` has its own (docs/jobs.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel/core.h"
#include "settings.h"

static void usage(FILE *out)
{
    fprintf(out, "easel - Kubernetes-native job runner for AI image work\n\n"
                 "Usage: easel <mode> [flags]   (easel <mode> --help for its flags)\n\n"
                 "Modes:\n");
    for (size_t i = 0; easel_modes[i]; i++) {
        if (strcmp(easel_modes[i]->spec.name, "config-doc") == 0)
            continue;
        fprintf(out, "  %-11s %s\n", easel_modes[i]->spec.name,
                easel_modes[i]->spec.summary);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        argv[1] = "version";
    const struct mode *m = NULL;
    for (size_t i = 0; easel_modes[i]; i++)
        if (strcmp(easel_modes[i]->spec.name, argv[1]) == 0)
            m = easel_modes[i];
    if (!m) {
        fprintf(stderr, "easel: unknown mode \"%s\"\n\n", argv[1]);
        usage(stderr);
        return 2;
    }

    struct settings s;
    memset(&s, 0, sizeof(s));
    char **args = NULL;
    int nargs = 0;
    struct easel_error err;
    easel_error_clear(&err);
    easel_err rc = easel_config_parse(&m->spec, &s, argc - 2, argv + 2, &args,
                                      &nargs, &err);
    if (rc == EASEL_ECANCELED) { /* --help */
        easel_config_cleanup(&m->spec, &s);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "easel %s: %s\n", m->spec.name,
                err.msg[0] ? err.msg : easel_strerror(rc));
        easel_config_cleanup(&m->spec, &s);
        return 2;
    }
    enum easel_log_level lvl = EASEL_LOG_INFO;
    if (s.log_level && easel_log_level_parse(s.log_level, &lvl)) {
        fprintf(stderr, "easel %s: --log-level must be debug, info, warn or error, got \"%s\"\n",
                m->spec.name, s.log_level);
        easel_config_cleanup(&m->spec, &s);
        free(args);
        return 2;
    }
    easel_log_setup(lvl, m->spec.name);
    int code = m->run(&s, args, nargs);
    easel_config_cleanup(&m->spec, &s);
    free(args);
    return code;
}
