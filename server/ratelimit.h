/*
 * ratelimit.h: the Lever rate limit (SPEC 7): a token bucket per Lever
 * account holding at most SL_LEVER_RPS tokens and refilled at SL_LEVER_RPS
 * a second, shared by every instance through the lever_rate_buckets table.
 *
 * A `struct sl_ratelimit` is one thread's handle on the buckets: it owns a
 * database connection of its own (never the caller's, which may be inside a
 * transaction: the bucket row must not stay locked while a token refresh
 * runs) and the account its gate currently charges.
 *
 * Threads: a handle belongs to one thread; sl_ratelimit_abort may be called
 * from any thread.
 */
#ifndef SL_RATELIMIT_H
#define SL_RATELIMIT_H

#include <stdbool.h>

#include "rc.h"

struct sl_db;

struct sl_ratelimit;

/* A handle for buckets of `rps` tokens a second (and as many at most), on
 * its own connection to `conninfo` (copied; opened on first use). Caller
 * owns (sl_ratelimit_destroy). */
struct sl_ratelimit *sl_ratelimit_create(const char *conninfo, long rps);
void sl_ratelimit_destroy(struct sl_ratelimit *rl);

/* Takes one token from `account`'s bucket, sleeping until it is due. One
 * round trip: the UPDATE refills from clock_timestamp() and reserves the
 * token even when the bucket is empty (it goes negative), and the answer
 * says how long to wait, so waiting callers are served in order without
 * polling. *waited_s (may be NULL) = seconds slept. SL_ERR_DB when the
 * database cannot be reached; SL_ERR_IO when aborted (sl_ratelimit_abort)
 * before the token was due. */
enum sl_rc sl_ratelimit_take(struct sl_ratelimit *rl, const char *account, double *waited_s,
                             struct sl_err *err) SL_MUST_USE;

/* The account the gate charges (copied; NULL: the gate lets requests pass). */
void sl_ratelimit_set_account(struct sl_ratelimit *rl, const char *account);

/* An sl_lever_gate_fn: sl_lever_set_gate(lv, sl_ratelimit_gate, rl). */
enum sl_rc sl_ratelimit_gate(void *rl, struct sl_err *err);

/* The same bucket through a connection the caller already holds (an HTTP
 * thread's pooled one, outside any transaction), for Lever requests made
 * while serving a request (postings, sync checks): fill it and install it
 * with sl_lever_set_gate(lv, sl_ratelimit_db_gate, &borrowed). Fields are
 * borrowed and must stay valid while the gate is installed. */
struct sl_ratelimit_borrowed {
    struct sl_db *db;
    long rps;            /* SL_LEVER_RPS */
    const char *account; /* NULL: the gate lets requests pass */
};
enum sl_rc sl_ratelimit_db_gate(void *borrowed, struct sl_err *err);

/* From now on, takes that would wait past the monotonic time `deadline_ns`
 * fail at once with SL_ERR_IO (0 clears). For shutdown; any thread. */
void sl_ratelimit_abort_after(struct sl_ratelimit *rl, long long deadline_ns);

/* Lever answered 429 although the bucket allowed the request: someone else
 * spends the account's budget (another integration, a script). Empties the
 * bucket, for every instance, so that no burst follows and requests go on
 * at the steady rate; the delivery that met the 429 itself waits for its
 * Retry-After. (Holding the whole account back for Retry-After on every
 * 429 was tried: sporadic 429s then starve the account completely.) */
enum sl_rc sl_ratelimit_drain(struct sl_ratelimit *rl, const char *account,
                              struct sl_err *err) SL_MUST_USE;

/* Requests let through and total seconds waited by this handle (for tests
 * and benchmarks). */
void sl_ratelimit_stats(const struct sl_ratelimit *rl, long *takes, double *waited_s);

#endif
