/*
 * time.c - clocks, ids and jitter. Monotonic time for deadlines and
 * latencies, wall time only for what people read and what Redis stores.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "easel/core.h"

int64_t easel_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t easel_now_ms(void)
{
    return easel_now_us() / 1000;
}

int64_t easel_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

easel_err easel_format_time(int64_t wall_ms, char *dst, size_t dstlen)
{
    if (!dst || !dstlen)
        return EASEL_EINVAL;
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        dst[0] = '\0';
        return EASEL_EINVAL;
    }
    /* a time is read back by programs: half of one is worse than none */
    easel_err rc = easel_snprintf(dst, dstlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                  tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
    if (rc)
        dst[0] = '\0';
    return rc;
}

void easel_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static easel_err fill_random(void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t r = getrandom((char *)p + off, n - off, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return EASEL_EIO;
        }
        off += (size_t)r;
    }
    return EASEL_OK;
}

easel_err easel_uuid_v4(char out[EASEL_UUID_LEN + 1])
{
    unsigned char b[16];
    easel_err rc = fill_random(b, sizeof(b));
    if (rc)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    /* sixteen bytes as 32 hex digits and 4 dashes fill the 37 bytes exactly:
     * cannot be cut */
    return easel_snprintf(out, EASEL_UUID_LEN + 1,
                          "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
                          b[11], b[12], b[13], b[14], b[15]);
}

bool easel_uuid_valid(const char *s)
{
    if (!s || strlen(s) != EASEL_UUID_LEN)
        return false;
    for (int i = 0; i < EASEL_UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

/* xorshift128+ per thread, seeded from getrandom on first use. */
static _Thread_local uint64_t rs[2];

uint64_t easel_rand_below(uint64_t n)
{
    if (n == 0)
        return 0;
    if (rs[0] == 0 && rs[1] == 0) {
        if (fill_random(rs, sizeof(rs)) || (rs[0] == 0 && rs[1] == 0)) {
            rs[0] = (uint64_t)easel_now_us() | 1;
            rs[1] = (uint64_t)getpid() * 2654435761u;
        }
    }
    /* Rejection sampling keeps the distribution uniform. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = rs[0], y = rs[1];
        rs[0] = y;
        x ^= x << 23;
        rs[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t v = rs[1] + y;
        if (v < limit)
            return v % n;
    }
}
