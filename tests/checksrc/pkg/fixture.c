/* checksrc fixture, never compiled: tests/e2e/test_checksrc.sh runs
 * hack/checksrc.sh on it and wants exactly the hits that the HIT markers
 * name, line by line. It lives under a pkg/ folder so that EXITINPKG
 * applies. Words in comments are not code: sprintf(a, b), strcpy(d, s),
 * gets(buf), atoi(s), strtok(s, " "), exit(1) and snprintf(b, n, "x");
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader { int (*gets)(void); };
int my_atoi(const char *s);
void helper_exit(int code);

/* None of this may be reported. */
static int clean(char *b, size_t n, struct reader *r, const char *s)
{
    const char *msg = "do not sprintf(x), atoi(s) or exit(1)"; // strcat(a, b) here
    const char *esc = "a \" strcpy(b, c) \\";
    char q = '"';
    char sq = '\'';
    int len;

    if (snprintf(b, n, "%s", s) >= (int)n)
        return -1;
    len = snprintf(b, n, "%d", 1);
    len += (int)snprintf(b, n, "%s", "cast, part of an expression");
    len += r->gets() + my_atoi(s);
    len += n > 3 ? snprintf(b, n, "x") : 0;
    helper_exit(0);
    atexit(NULL);
    _exit(0);
    strcpy(b, s); /* checksrc: allow */
    snprintf(b, n, "%s", s); /* checksrc: allow SNPRINTFUNCHECKED: fixed width */
    return len + (msg[0] == q) + (esc[0] == sq) + snprintf(b, n, "x");
}

/* Each line marked HIT is reported with the rules named. */
static void hits(char *b, size_t n, const char *s, va_list ap)
{
    char *save;

    sprintf(b, "%s", s); /* HIT BANNEDFUNC */
    vsprintf(b, "%s", ap); /* HIT BANNEDFUNC */
    strcpy(b, s); /* HIT BANNEDFUNC */
    strcat(b, s); /* HIT BANNEDFUNC */
    strncat(b, s, n); /* HIT BANNEDFUNC */
    n = (size_t)atoi(s) + (size_t)atol(s); /* HIT BANNEDFUNC BANNEDFUNC */
    gets(b); /* HIT BANNEDFUNC */
    strtok_r(b, ",", &save);
    (void)strtok(b, ","); /* HIT BANNEDFUNC */
    snprintf(b, n, "%s", s); /* HIT SNPRINTFUNCHECKED */
    vsnprintf(b, n, "%s", ap); /* HIT SNPRINTFUNCHECKED */
    (void)snprintf(b, n, "void does not check it"); /* HIT SNPRINTFUNCHECKED */
    if (n > 1) snprintf(b, n, "after if"); /* HIT SNPRINTFUNCHECKED */
    else
        snprintf(b, n,
                 "after else, over two lines"); /* HIT@-1 SNPRINTFUNCHECKED */
    switch (n) {
    case 1: snprintf(b, n, "after a case label"); /* HIT SNPRINTFUNCHECKED */
    }
    strcpy(b, s); /* checksrc: allow SNPRINTFUNCHECKED */ /* HIT BANNEDFUNC */
    if (!b)
        exit(1); /* HIT EXITINPKG */
}
	static int tabbed; /* HIT TABS */
static int trailing; /* HIT TRAILINGSPACE */   
static const char *long_line = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; /* HIT LONGLINE */
static int last_line; /* HIT NOENDNEWLINE */