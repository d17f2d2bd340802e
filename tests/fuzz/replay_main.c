/*
 * replay_main.c - runs a fuzz target without libFuzzer: every file in the
 * directories (or the files) named on the command line goes once through
 * LLVMFuzzerTestOneInput, in name order. make test links each target with
 * this main and the normal compiler, so the seed corpus and every crash
 * ever found (tests/fuzz/regressions/) are replayed on every run, and under
 * make test-asan with the sanitizers.
 *
 * Prints one line per directory and ends with cmocka's summary line, which
 * hack/run-tests.sh counts: one test per input. A crash ends the program
 * (under the sanitizers with their report), which the runner counts as a
 * failure.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT (64u * 1024 * 1024)

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb = ncap <= REPLAY_MAX_INPUT ? realloc(buf, ncap) : NULL;
            if (!nb) {
                fprintf(stderr, "replay: %s is too large or memory ran out\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* libFuzzer hands over an exact-size copy; so do we */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    if (len)
        memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int only_files(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long ran = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0)
            continue; /* a target with no regressions yet has no directory */
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) == 0)
                ran++;
            else
                failed++;
            continue;
        }
        struct dirent **names = NULL;
        int n = scandir(argv[i], &names, only_files, alphasort);
        if (n < 0) {
            fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], strerror(errno));
            failed++;
            continue;
        }
        long here = 0;
        for (int k = 0; k < n; k++) {
            char path[4096];
            int w = snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
            struct stat fst;
            if (w < 0 || (size_t)w >= sizeof(path) || stat(path, &fst) != 0) {
                failed++;
            } else if (S_ISREG(fst.st_mode)) {
                if (run_file(path) == 0)
                    here++;
                else
                    failed++;
            }
            free(names[k]);
        }
        free(names);
        printf("replayed %ld input(s) from %s\n", here, argv[i]);
        ran += here;
    }
    printf("[  PASSED  ] %ld test(s).\n", ran);
    if (failed)
        printf("[  FAILED  ] %ld test(s), inputs that could not be read.\n", failed);
    return failed ? 1 : 0;
}
