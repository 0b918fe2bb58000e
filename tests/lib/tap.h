/*
 * tap.h: Test Anything Protocol output for the project's C tests; `prove`
 * runs the binaries and prints the summary.
 *
 *   plan_lazy();               // or plan(N)
 *   ok(cond, "what %s", x);    // one test point
 *   is_int(got, want, "name"); is_str(got, want, "name");
 *   diag("context %d", n);
 *   return done_testing();     // prints the plan when lazy, exit status
 *
 * Threads: ok() and friends may be called from any thread (a mutex guards
 * the counter), but the output order then follows the calls.
 */
#ifndef SL_TAP_H
#define SL_TAP_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run, tap_failed, tap_planned = -1;
static pthread_mutex_t tap_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void plan_lazy(void)
{
    tap_planned = -1;
}

static inline void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&tap_lock);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&tap_lock);
    va_end(ap);
}

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&tap_lock);
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    if (!cond)
        printf("#   Failed at %s line %d\n", file, line);
    fflush(stdout);
    pthread_mutex_unlock(&tap_lock);
    va_end(ap);
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                           \
        if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                                                    \
            diag("     got: %lld\n#     expected: %lld", tap_g_, tap_w_);                          \
    } while (0)

#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *tap_g_ = (got), *tap_w_ = (want);                                              \
        int tap_eq_ = (tap_g_ && tap_w_) ? strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_;         \
        if (!ok(tap_eq_, __VA_ARGS__))                                                             \
            diag("     got: '%s'\n#     expected: '%s'", tap_g_ ? tap_g_ : "(null)",               \
                 tap_w_ ? tap_w_ : "(null)");                                                      \
    } while (0)

/* A precondition whose failure makes the rest of the file meaningless. */
#define BAIL_OUT(...)                                                                              \
    do {                                                                                           \
        printf("Bail out! ");                                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        exit(255);                                                                                 \
    } while (0)

static inline int done_testing(void)
{
    if (tap_planned < 0)
        printf("1..%d\n", tap_run);
    fflush(stdout);
    if (tap_planned >= 0 && tap_planned != tap_run)
        return 255;
    return tap_failed ? 1 : 0;
}

#endif
