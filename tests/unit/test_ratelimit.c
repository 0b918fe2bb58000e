/* Unit tests of server/ratelimit.c against the run's PostgreSQL: the shared
 * token bucket's rate, burst, fairness across handles, abort and penalty,
 * and its overhead per request. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ratelimit.h"
#include "tap.h"
#include "util.h"

static struct th_db tdb;

#define MAX_TAKES 256

struct taker {
    long rps;
    const char *account;
    int takes;
    long long at_ns[MAX_TAKES];
    int failed;
};

static void *take_many(void *arg)
{
    struct taker *t = arg;
    struct sl_ratelimit *rl = sl_ratelimit_create(tdb.url, t->rps);
    for (int i = 0; i < t->takes; i++) {
        struct sl_err err;
        if (sl_ratelimit_take(rl, t->account, NULL, &err))
            t->failed++;
        t->at_ns[i] = sl_mono_ns();
    }
    sl_ratelimit_destroy(rl);
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Runs `n` takers of `each` takes at `rps` on `account`; returns the elapsed seconds and
 * the most takes seen in any one-second window. */
static double run(int n, int each, long rps, const char *account, int *max_window, int *failed)
{
    struct taker *t = calloc((size_t)n, sizeof(*t));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    long long start = sl_mono_ns();
    for (int i = 0; i < n; i++) {
        t[i].rps = rps;
        t[i].account = account;
        t[i].takes = each;
        pthread_create(&th[i], NULL, take_many, &t[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    double elapsed = (double)(sl_mono_ns() - start) / 1e9;
    long long *all = calloc((size_t)(n * each), sizeof(*all));
    int k = 0;
    *failed = 0;
    for (int i = 0; i < n; i++) {
        *failed += t[i].failed;
        for (int j = 0; j < each; j++)
            all[k++] = t[i].at_ns[j];
    }
    qsort(all, (size_t)k, sizeof(*all), cmp_ll);
    *max_window = 0;
    for (int i = 0, j = 0; i < k; i++) {
        while (all[i] - all[j] >= 1000000000LL)
            j++;
        if (i - j + 1 > *max_window)
            *max_window = i - j + 1;
    }
    free(all);
    free(t);
    free(th);
    return elapsed;
}

int main(void)
{
    th_db_create(&tdb);
    int window = 0, failed = 0;

    /* 4 handles (as 4 workers or 4 instances would) sharing one account at 20/s:
     * 20 at once (the full bucket), then 20 a second. */
    double elapsed = run(4, 20, 20, "acct_rate", &window, &failed);
    is_int(failed, 0, "every take succeeded");
    ok(elapsed >= 2.8 && elapsed < 4.0, "80 takes at 20/s with a bucket of 20: about 3 s (%.2f s)",
       elapsed);
    ok(window <= 40, "at most bucket + rate (40) in any one-second window (%d)", window);

    /* Steady state: the bucket is empty now, so requests come at the rate. */
    elapsed = run(2, 10, 20, "acct_rate", &window, &failed);
    ok(elapsed >= 0.9 && elapsed < 1.6, "an empty bucket: 20 takes at 20/s take about 1 s (%.2f)",
       elapsed);
    ok(window <= 21, "steady state: at most the rate in a window (%d)", window);

    /* Accounts do not share a bucket. */
    elapsed = run(1, 20, 20, "acct_other", &window, &failed);
    ok(elapsed < 0.5, "another account starts with a full bucket (%.2f s)", elapsed);

    /* After an unexpected 429 the bucket is emptied: no burst, the steady rate goes on. */
    struct sl_ratelimit *rl = sl_ratelimit_create(tdb.url, 20);
    struct sl_err err;
    ok(sl_ratelimit_drain(rl, "acct_other", &err) == SL_OK, "drain");
    elapsed = run(1, 10, 20, "acct_other", &window, &failed);
    ok(elapsed >= 0.45 && elapsed < 1.0, "drained: 10 takes at 20/s take about 0.5 s (%.2f s)",
       elapsed);

    /* Abort: a take that would wait past the deadline fails at once. */
    struct sl_ratelimit *slow = sl_ratelimit_create(tdb.url, 1);
    ok(sl_ratelimit_take(slow, "acct_slow", NULL, &err) == SL_OK, "the one token of a 1/s bucket");
    sl_ratelimit_abort_after(slow, sl_mono_ns() + 200000000LL);
    long long t0 = sl_mono_ns();
    ok(sl_ratelimit_take(slow, "acct_slow", NULL, &err) == SL_ERR_IO,
       "a take that would wait past the deadline is refused");
    ok((double)(sl_mono_ns() - t0) / 1e9 < 0.5, "at once");
    sl_ratelimit_destroy(slow);
    sl_ratelimit_abort_after(rl, sl_mono_ns() - 1);
    ok(sl_ratelimit_take(rl, "acct_free", NULL, &err) == SL_ERR_IO,
       "past the deadline nothing is let through, even with tokens");
    sl_ratelimit_abort_after(rl, 0);

    /* The gate charges the account it is given, and lets through without one. */
    sl_ratelimit_set_account(rl, NULL);
    ok(sl_ratelimit_gate(rl, &err) == SL_OK, "gate without an account: open");
    sl_ratelimit_set_account(rl, "acct_gate");
    ok(sl_ratelimit_gate(rl, &err) == SL_OK, "gate with an account");
    long takes = 0;
    sl_ratelimit_stats(rl, &takes, NULL);
    is_int(takes, 1, "one take counted (the refused ones are not, nor the open gate)");
    sl_ratelimit_destroy(rl);

    /* Overhead: one UPDATE per request, measured with a bucket that never runs dry. */
    rl = sl_ratelimit_create(tdb.url, 1000);
    struct sl_err e2;
    if (sl_ratelimit_take(rl, "acct_fast", NULL, &e2)) /* connect outside the measure */
        BAIL_OUT("%s", e2.msg);
    int n = 500;
    t0 = sl_mono_ns();
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += sl_ratelimit_take(rl, "acct_fast", NULL, &e2) != SL_OK;
    double per = (double)(sl_mono_ns() - t0) / 1e6 / n;
    is_int(bad, 0, "500 takes");
    diag("gate overhead: %.3f ms per Lever request (one UPDATE ... RETURNING)", per);
    ok(per < 5.0, "overhead per request under 5 ms (%.3f ms)", per);
    sl_ratelimit_destroy(rl);

    th_db_drop(&tdb);
    return done_testing();
}
