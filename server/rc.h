/*
 * rc.h: the project's one error vocabulary.
 *
 * Every fallible function returns an `enum sl_rc` (0 = OK) and may fill a
 * caller-owned `struct sl_err` with a human sentence, once, where the failure
 * happens. The layer that handles the error logs it; lower layers only
 * describe it. `sl_rc_http_status()` (server/http.c) is the one place that
 * maps these codes to HTTP statuses.
 *
 * Threads: everything here is reentrant.
 */
#ifndef SL_RC_H
#define SL_RC_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SL_MUST_USE __attribute__((warn_unused_result))

enum sl_rc {
    SL_OK = 0,
    SL_ERR_INVALID,     /* well-formed input that breaks a rule: 422 */
    SL_ERR_BAD_REQUEST, /* malformed input (not JSON, bad id): 400 */
    SL_ERR_NOT_FOUND,   /* 404 */
    SL_ERR_CONFLICT,    /* 409 */
    SL_ERR_AUTH,        /* 401 */
    SL_ERR_TOO_LARGE,   /* 413 */
    SL_ERR_DB,          /* database unavailable or failed: 503 */
    SL_ERR_UPSTREAM,    /* Lever failed or unreachable: 502 */
    SL_ERR_IO,          /* local I/O, process or system failure */
    SL_ERR_CONFIG,      /* a setting is missing or malformed */
    SL_ERR_INTERNAL,    /* anything else: 500 */
};

struct sl_err {
    enum sl_rc rc;
    char msg[256];
};

/* Fills `err` (which may be NULL) with `rc` and a formatted message and
 * returns `rc`, so that a failure reads `return sl_err_set(err, SL_ERR_DB, ...)`. */
static inline enum sl_rc __attribute__((format(printf, 3, 4)))
sl_err_set(struct sl_err *err, enum sl_rc rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->rc = rc;
    }
    return rc;
}

/* A broken invariant: print file and line and abort. */
#define SL_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr,                                                                        \
                    "{\"level\":\"fatal\",\"msg\":\"assertion failed: %s\","                       \
                    "\"file\":\"%s\",\"line\":%d}\n",                                              \
                    #cond, __FILE__, __LINE__);                                                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Allocation failure aborts: the service runs under a supervisor. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t size);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);

#endif
