/*
 * ratelimit.c: a token bucket per Lever account, shared through PostgreSQL.
 *
 * Why the database. The limit is per Lever account across every instance
 * (SPEC 7), and instances share nothing but the database. The alternatives
 * were (a) one instance holding a lease on an account's sending, which
 * needs lease hand-over, leaves other instances' workers idle for that
 * account and still needs the database for the lease, and (b) a
 * per-instance share of the budget (rps / instances), which needs to know
 * how many instances are alive and wastes the budget of idle ones. A bucket
 * row per account costs one short UPDATE per Lever request and is exact.
 *
 * How. The row holds `tokens` and `updated_at`. One UPDATE refills the
 * bucket from the database's clock_timestamp() (one clock for every
 * instance, so no skew between hosts), caps it at SL_LEVER_RPS, and takes a
 * token, even when there is none: the balance goes negative, which is a
 * reservation of a future token. The caller then sleeps -tokens / rps
 * seconds. Waiters are thereby served in the order of their UPDATEs, at
 * exactly rps a second, without polling the table and without a second
 * round trip. The row lock is held for the statement only (autocommit on a
 * connection of this module's own), so instances never queue behind a slow
 * caller. A token reserved by a caller that then gives up is simply lost.
 *
 * Cost (measured by tests/unit/test_ratelimit, `make test`, diag line
 * "gate overhead"): about 0.1-0.3 ms per take on a local PostgreSQL, i.e.
 * well under 1 % of a Lever round trip, and the single-row UPDATE sustains
 * thousands of takes a second, two orders of magnitude above Lever's 10/s.
 *
 * Threads: a handle belongs to one thread (each worker has one); the abort
 * deadline is atomic and may be set from any thread.
 */
#include "ratelimit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "util.h"

#define CONNECT_TIMEOUT_S 3
#define SLEEP_SLICE_NS (50 * 1000 * 1000LL)

struct sl_ratelimit {
    char *conninfo;
    long rps;
    struct sl_db *db;
    char *account;
    atomic_llong abort_ns;
    long takes;
    double waited_s;
};

struct sl_ratelimit *sl_ratelimit_create(const char *conninfo, long rps)
{
    struct sl_ratelimit *rl = sl_xcalloc(1, sizeof(*rl));
    rl->conninfo = sl_xstrdup(conninfo);
    rl->rps = rps > 0 ? rps : 1;
    atomic_init(&rl->abort_ns, 0);
    return rl;
}

void sl_ratelimit_destroy(struct sl_ratelimit *rl)
{
    if (!rl)
        return;
    sl_db_close(rl->db);
    free(rl->conninfo);
    free(rl->account);
    free(rl);
}

void sl_ratelimit_set_account(struct sl_ratelimit *rl, const char *account)
{
    free(rl->account);
    rl->account = account ? sl_xstrdup(account) : NULL;
}

void sl_ratelimit_abort_after(struct sl_ratelimit *rl, long long deadline_ns)
{
    atomic_store(&rl->abort_ns, deadline_ns);
}

void sl_ratelimit_stats(const struct sl_ratelimit *rl, long *takes, double *waited_s)
{
    if (takes)
        *takes = rl->takes;
    if (waited_s)
        *waited_s = rl->waited_s;
}

/* Runs `sql` on the handle's connection, reconnecting once if it broke. */
static enum sl_rc exec(struct sl_ratelimit *rl, const char *sql, int nparams,
                       const char *const *params, struct sl_db_res **res, struct sl_err *err)
{
    for (int tries = 0;; tries++) {
        enum sl_rc rc = SL_OK;
        if (!rl->db || !sl_db_ok(rl->db)) {
            sl_db_close(rl->db);
            rl->db = NULL;
            rc = sl_db_connect(rl->conninfo, CONNECT_TIMEOUT_S, &rl->db, err);
        }
        if (!rc)
            rc = sl_db_exec(rl->db, sql, nparams, params, res, err);
        if (rc != SL_ERR_DB || tries == 1)
            return rc;
        sl_db_close(rl->db);
        rl->db = NULL;
    }
}

static const char TAKE_SQL[] =
    "UPDATE lever_rate_buckets b"
    "   SET tokens = LEAST($2::float8, b.tokens + $2::float8 *"
    "                      GREATEST(extract(epoch FROM n.t - b.updated_at)::float8, 0)) - 1,"
    "       updated_at = n.t"
    "  FROM (SELECT clock_timestamp() AS t) n"
    " WHERE b.lever_account_id = $1"
    " RETURNING b.tokens";

static const char CREATE_SQL[] =
    "INSERT INTO lever_rate_buckets (lever_account_id, tokens, updated_at)"
    " VALUES ($1, $2::float8, clock_timestamp()) ON CONFLICT DO NOTHING";

/* Sleeps `ns`, in slices, giving up when the abort deadline comes first. */
static bool sleep_until_due(struct sl_ratelimit *rl, long long ns)
{
    long long due = sl_mono_ns() + ns;
    for (;;) {
        long long now = sl_mono_ns();
        if (now >= due)
            return true;
        long long abort_ns = atomic_load(&rl->abort_ns);
        if (abort_ns && due > abort_ns)
            return false;
        long long slice = due - now < SLEEP_SLICE_NS ? due - now : SLEEP_SLICE_NS;
        struct timespec ts = {(time_t)(slice / 1000000000LL), (long)(slice % 1000000000LL)};
        nanosleep(&ts, NULL);
    }
}

/* Runs `sql` on the borrowed `db` when given, else on the handle's own connection. */
static enum sl_rc run(struct sl_ratelimit *rl, struct sl_db *db, const char *sql, int nparams,
                      const char *const *params, struct sl_db_res **res, struct sl_err *err)
{
    return db ? sl_db_exec(db, sql, nparams, params, res, err)
              : exec(rl, sql, nparams, params, res, err);
}

/* Reserves a token of `account`'s bucket; *wait = seconds until it is due. */
static enum sl_rc reserve(struct sl_ratelimit *rl, struct sl_db *db, long rps_value,
                          const char *account, double *wait, struct sl_err *err)
{
    char rps[32];
    snprintf(rps, sizeof(rps), "%ld", rps_value > 0 ? rps_value : 1);
    const char *params[] = {account, rps};
    struct sl_db_res *res = NULL;
    enum sl_rc rc;
    for (int round = 0;; round++) {
        rc = run(rl, db, TAKE_SQL, 2, params, &res, err);
        if (rc)
            return rc;
        if (sl_db_res_rows(res) == 1 || round == 1)
            break;
        /* First request for this account anywhere: a full bucket. */
        sl_db_res_free(res);
        res = NULL;
        rc = run(rl, db, CREATE_SQL, 2, params, NULL, err);
        if (rc)
            return rc;
    }
    if (sl_db_res_rows(res) != 1) {
        sl_db_res_free(res);
        return sl_err_set(err, SL_ERR_INTERNAL, "rate limit: bucket of %s vanished", account);
    }
    double tokens = strtod(sl_db_res_get(res, 0, 0), NULL);
    sl_db_res_free(res);
    *wait = tokens >= 0 ? 0 : -tokens / (double)(rps_value > 0 ? rps_value : 1);
    return SL_OK;
}

enum sl_rc sl_ratelimit_take(struct sl_ratelimit *rl, const char *account, double *waited_s,
                             struct sl_err *err)
{
    if (waited_s)
        *waited_s = 0;
    long long abort_ns = atomic_load(&rl->abort_ns);
    if (abort_ns && sl_mono_ns() >= abort_ns)
        return sl_err_set(err, SL_ERR_IO, "rate limit: shutting down");
    double wait = 0;
    enum sl_rc rc = reserve(rl, NULL, rl->rps, account, &wait, err);
    if (rc)
        return rc;
    if (wait > 0 && !sleep_until_due(rl, (long long)(wait * 1e9)))
        return sl_err_set(err, SL_ERR_IO, "rate limit: shutting down before the next token");
    rl->takes++;
    rl->waited_s += wait;
    if (waited_s)
        *waited_s = wait;
    return SL_OK;
}

enum sl_rc sl_ratelimit_db_gate(void *ctx, struct sl_err *err)
{
    struct sl_ratelimit_borrowed *g = ctx;
    if (!g || !g->db || !g->account)
        return SL_OK;
    double wait = 0;
    enum sl_rc rc = reserve(NULL, g->db, g->rps, g->account, &wait, err);
    if (rc)
        return rc;
    if (wait > 0) {
        long long ns = (long long)(wait * 1e9);
        struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
        nanosleep(&ts, NULL);
    }
    return SL_OK;
}

enum sl_rc sl_ratelimit_gate(void *ctx, struct sl_err *err)
{
    struct sl_ratelimit *rl = ctx;
    if (!rl || !rl->account)
        return SL_OK;
    return sl_ratelimit_take(rl, rl->account, NULL, err);
}

enum sl_rc sl_ratelimit_drain(struct sl_ratelimit *rl, const char *account, struct sl_err *err)
{
    char rps[32];
    snprintf(rps, sizeof(rps), "%ld", rl->rps);
    const char *params[] = {account, rps};
    return exec(rl,
                "UPDATE lever_rate_buckets b"
                "   SET tokens = LEAST(0, b.tokens + $2::float8 *"
                "                GREATEST(extract(epoch FROM n.t - b.updated_at)::float8, 0)),"
                "       updated_at = n.t"
                "  FROM (SELECT clock_timestamp() AS t) n"
                " WHERE b.lever_account_id = $1",
                2, params, NULL, err);
}
