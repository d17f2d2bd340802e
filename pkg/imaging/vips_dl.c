/*
 * vips_dl.c - loads libvips at run time and fills the table vips_dl.h
 * routes every call through. See vips_dl.h for why.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vips_dl.h"

#ifndef EASEL_VIPS_SONAME
#define EASEL_VIPS_SONAME "libvips.so.42"
#endif

struct img_vips_api img_vips;

static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static char open_why[256];
static int open_rc;

static void do_open(void)
{
    /* RTLD_LOCAL: nothing else in the process resolves against libvips or
     * GLib by accident; dlsym() on the handle still searches the libraries
     * libvips itself needs, which is where the GLib functions live. The
     * handle is never closed: libvips cannot be unloaded safely. */
    void *h = dlopen(EASEL_VIPS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        (void)!snprintf(open_why, sizeof(open_why), "cannot load %s: %s", EASEL_VIPS_SONAME,
                        e ? e : "unknown error"); /* a cut reason still names the library */
        open_rc = -1;
        return;
    }
    struct img_vips_api t;
    void *sym;
#define EASEL_VIPS_LOOKUP(name)                                                       \
    sym = dlsym(h, #name);                                                            \
    if (!sym) {                                                                       \
        snprintf(open_why, sizeof(open_why), "%s has no %s: built against another libvips", \
                 EASEL_VIPS_SONAME, #name);                                           \
        open_rc = -1;                                                                 \
        return;                                                                       \
    }                                                                                 \
    memcpy(&t.f_##name, &sym, sizeof(sym));
    EASEL_VIPS_FUNCS(EASEL_VIPS_LOOKUP)
#undef EASEL_VIPS_LOOKUP
    img_vips = t;
}

int img_vips_open(char *why, size_t len)
{
    pthread_once(&open_once, do_open);
    if (open_rc && why && len)
        (void)!snprintf(why, len, "%s", open_why); /* the caller's size */
    return open_rc;
}
