/*
 * queue.c: the delivery queue in PostgreSQL (SPEC 7).
 *
 * Design. Deliveries are rows; a worker claims a small batch in one
 * statement (FOR UPDATE SKIP LOCKED over the partial index of due rows,
 * plus running rows whose lease expired), which makes them 'running' under
 * its name with a lease. Leases are renewed by the process while it works
 * (workers.c), so they only run out when the process died or lost the
 * database; the claim query then takes such rows up again. Every later
 * statement about a claimed row names the owner and the 'running' state, so
 * a worker that lost its lease cannot overwrite what the new owner (or a
 * cancellation) did: the statement matches nothing and the caller stops.
 *
 * Each outcome (delivered, retrying, dead, parked) is one statement that
 * also appends the attempt to delivery_attempts, so the log and the row
 * never disagree. Attempts are counted when an attempt ends (a 429 and a
 * parking do not count; a lease that ran out does, at the next claim), so
 * a delivery delivered at the first try shows 1.
 *
 * The first claim stamps first_attempt_at; a later claim of a row without
 * an opportunity id therefore knows that an earlier attempt may have sent a
 * create whose answer was lost, and the worker looks the candidate up
 * before creating (SPEC 6, exactly once).
 *
 * Threads: any thread with its own connection.
 */
#include "queue.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void sl_delivery_cleanup(struct sl_delivery *d)
{
    if (!d)
        return;
    free(d->team_id);
    free(d->application_id);
    free(d->job_id);
    free(d->posting_id);
    free(d->prev_state);
    free(d->prev_first_attempt);
    free(d->opportunity_id);
    free(d->note_id);
    json_decref(d->candidate);
    memset(d, 0, sizeof(*d));
}

void sl_deliveries_free(struct sl_delivery *v, int n)
{
    for (int i = 0; v && i < n; i++)
        sl_delivery_cleanup(&v[i]);
    free(v);
}

bool sl_delivery_resumed(const struct sl_delivery *d)
{
    return d->prev_first_attempt != NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

static const char CLAIM_SQL[] =
    "WITH due AS ("
    "  SELECT id, state, first_attempt_at FROM deliveries"
    "   WHERE state IN ('pending', 'retrying') AND next_attempt_at <= now()"
    "   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    "), expired AS ("
    "  SELECT id, state, first_attempt_at FROM deliveries"
    "   WHERE state = 'running' AND lease_expires_at < now()"
    "   ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    "), c AS (SELECT * FROM expired UNION ALL SELECT * FROM due LIMIT $2),"
    " u AS ("
    "  UPDATE deliveries d SET state = 'running', lease_owner = $1,"
    "         lease_expires_at = now() + make_interval(secs => $3::int),"
    "         first_attempt_at = COALESCE(d.first_attempt_at, now()),"
    "         attempts = d.attempts + CASE WHEN c.state = 'running' THEN 1 ELSE 0 END,"
    "         updated_at = now()"
    "    FROM c WHERE d.id = c.id"
    "  RETURNING d.id, d.team_id, d.application_id, d.job_id, d.lever_posting_id,"
    "            c.state AS prev_state, c.first_attempt_at AS prev_first, d.attempts,"
    "            d.lever_opportunity_id, d.lever_note_id, d.first_attempt_at"
    "), expired_log AS ("
    "  INSERT INTO delivery_attempts (delivery_id, started_at, error)"
    "  SELECT id, now(), 'lease expired: the worker that held it stopped' FROM u"
    "   WHERE prev_state = 'running'"
    ")"
    "SELECT u.id, u.team_id, u.application_id, u.job_id, u.lever_posting_id, u.prev_state,"
    "       u.prev_first::text, u.attempts, u.lever_opportunity_id, u.lever_note_id,"
    "       (extract(epoch FROM u.first_attempt_at) * 1000)::bigint, a.candidate::text"
    "  FROM u LEFT JOIN applications a"
    "    ON a.team_id = u.team_id AND a.application_id = u.application_id"
    " ORDER BY u.id";

enum sl_rc sl_queue_claim(struct sl_db *db, const char *owner, int lease_s, int max,
                          struct sl_delivery **out, int *n, struct sl_err *err)
{
    *out = NULL;
    *n = 0;
    char max_s[16], lease[16];
    snprintf(max_s, sizeof(max_s), "%d", max);
    snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *params[] = {owner, max_s, lease};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db, CLAIM_SQL, 3, params, &res, err);
    if (rc)
        return rc;
    int rows = sl_db_res_rows(res);
    if (rows) {
        struct sl_delivery *v = sl_xcalloc((size_t)rows, sizeof(*v));
        for (int i = 0; i < rows; i++) {
            struct sl_delivery *d = &v[i];
            d->id = strtoll(sl_db_res_get(res, i, 0), NULL, 10);
            d->team_id = dup_or_null(sl_db_res_get(res, i, 1));
            d->application_id = dup_or_null(sl_db_res_get(res, i, 2));
            d->job_id = dup_or_null(sl_db_res_get(res, i, 3));
            d->posting_id = dup_or_null(sl_db_res_get(res, i, 4));
            d->prev_state = dup_or_null(sl_db_res_get(res, i, 5));
            d->prev_first_attempt = dup_or_null(sl_db_res_get(res, i, 6));
            d->attempts = (int)strtol(sl_db_res_get(res, i, 7), NULL, 10);
            d->opportunity_id = dup_or_null(sl_db_res_get(res, i, 8));
            d->note_id = dup_or_null(sl_db_res_get(res, i, 9));
            d->first_attempt_ms = strtoll(sl_db_res_get(res, i, 10), NULL, 10);
            const char *cand = sl_db_res_get(res, i, 11);
            d->candidate = cand ? json_loads(cand, 0, NULL) : NULL;
        }
        *out = v;
        *n = rows;
    }
    sl_db_res_free(res);
    return SL_OK;
}

enum sl_rc sl_queue_renew(struct sl_db *db, const char *owner_prefix, const long long *ids, int n,
                          int lease_s, struct sl_err *err)
{
    if (n <= 0)
        return SL_OK;
    struct sl_buf list;
    sl_buf_init(&list);
    sl_buf_puts(&list, "{");
    for (int i = 0; i < n; i++)
        sl_buf_printf(&list, "%s%lld", i ? "," : "", ids[i]);
    sl_buf_puts(&list, "}");
    char lease[16];
    snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *params[] = {list.data, owner_prefix, lease};
    enum sl_rc rc = sl_db_exec(db,
                               "UPDATE deliveries SET lease_expires_at = now() + "
                               "make_interval(secs => $3::int)"
                               " WHERE id = ANY($1::bigint[]) AND state = 'running'"
                               "   AND left(lease_owner, length($2)) = $2",
                               3, params, NULL, err);
    sl_buf_cleanup(&list);
    return rc;
}

/* Runs a guarded transition; SL_ERR_CONFLICT when it matched no row (lease lost). */
static enum sl_rc transition(struct sl_db *db, const char *sql, int nparams,
                             const char *const *params, struct sl_db_res **out, long long id,
                             struct sl_err *err)
{
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db, sql, nparams, params, &res, err);
    if (rc)
        return rc;
    if (sl_db_res_rows(res) == 0 && sl_db_res_affected(res) == 0) {
        sl_db_res_free(res);
        return sl_err_set(err, SL_ERR_CONFLICT,
                          "delivery %lld: lease lost (expired, or the delivery was cancelled)", id);
    }
    if (out)
        *out = res;
    else
        sl_db_res_free(res);
    return SL_OK;
}

enum sl_rc sl_queue_record_opportunity(struct sl_db *db, const struct sl_delivery *d,
                                       const char *owner, const char *opportunity_id,
                                       struct sl_err *err)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", d->id);
    const char *params[] = {id, owner, opportunity_id};
    return transition(db,
                      "UPDATE deliveries SET lever_opportunity_id = $3, updated_at = now()"
                      " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                      3, params, NULL, d->id, err);
}

/* The parameters every logged transition shares: $1 id, $2 owner, then the
 * attempt: $3 started (Unix µs), $4 duration ms, $5 endpoint, $6 status, $7 error. */
struct attempt_params {
    char id[32], started[32], duration[32], status[16];
    const char *v[12];
};

static void attempt_params(struct attempt_params *p, const struct sl_delivery *d, const char *owner,
                           const struct sl_attempt *a)
{
    snprintf(p->id, sizeof(p->id), "%lld", d->id);
    snprintf(p->started, sizeof(p->started), "%lld", (long long)a->started_us);
    snprintf(p->duration, sizeof(p->duration), "%ld", a->duration_ms);
    snprintf(p->status, sizeof(p->status), "%ld", a->http_status);
    p->v[0] = p->id;
    p->v[1] = owner;
    p->v[2] = p->started;
    p->v[3] = p->duration;
    p->v[4] = a->endpoint;
    p->v[5] = a->http_status ? p->status : NULL;
    p->v[6] = a->error;
}

#define LOG_ATTEMPT                                                                                \
    " INSERT INTO delivery_attempts (delivery_id, started_at, duration_ms, endpoint,"              \
    "                                http_status, error)"                                          \
    " SELECT id, to_timestamp($3::float8 / 1e6), $4::int, $5, $6::int, $7 FROM d"                  \
    " RETURNING delivery_id, (SELECT state FROM d)"

enum sl_rc sl_queue_complete(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                             const char *note_id, const struct sl_attempt *a, struct sl_err *err)
{
    struct attempt_params p;
    attempt_params(&p, d, owner, a);
    p.v[7] = note_id;
    return transition(db,
                      "WITH d AS (UPDATE deliveries SET state = 'delivered', lever_note_id = $8,"
                      "  attempts = attempts + 1, last_error = NULL, delivered_at = now(),"
                      "  lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
                      " WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
                      " RETURNING id, state)" LOG_ATTEMPT,
                      8, p.v, NULL, d->id, err);
}

enum sl_rc sl_queue_retry(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                          double delay_s, bool counts, const struct sl_attempt *a, bool *dead,
                          struct sl_err *err)
{
    struct attempt_params p;
    attempt_params(&p, d, owner, a);
    char delay[32], max[16];
    snprintf(delay, sizeof(delay), "%.3f", delay_s < 0 ? 0 : delay_s);
    snprintf(max, sizeof(max), "%d", SL_QUEUE_MAX_ATTEMPTS);
    p.v[7] = delay;
    p.v[8] = counts ? "1" : "0";
    p.v[9] = max;
    struct sl_db_res *res = NULL;
    enum sl_rc rc = transition(
        db,
        "WITH d AS (UPDATE deliveries SET attempts = attempts + $9::int,"
        "  state = CASE WHEN attempts + $9::int >= $10::int THEN 'dead' ELSE 'retrying' END,"
        "  next_attempt_at = now() + make_interval(secs => $8::float8),"
        "  last_error = $7, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
        " RETURNING id, state)" LOG_ATTEMPT,
        10, p.v, &res, d->id, err);
    if (!rc && dead) {
        const char *state = sl_db_res_get(res, 0, 1);
        *dead = state && strcmp(state, "dead") == 0;
    }
    sl_db_res_free(res);
    return rc;
}

enum sl_rc sl_queue_dead(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                         const struct sl_attempt *a, struct sl_err *err)
{
    struct attempt_params p;
    attempt_params(&p, d, owner, a);
    return transition(db,
                      "WITH d AS (UPDATE deliveries SET state = 'dead', attempts = attempts + 1,"
                      "  last_error = $7, lease_owner = NULL, lease_expires_at = NULL,"
                      "  updated_at = now()"
                      " WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
                      " RETURNING id, state)" LOG_ATTEMPT,
                      7, p.v, NULL, d->id, err);
}

enum sl_rc sl_queue_park(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                         const struct sl_attempt *a, struct sl_err *err)
{
    struct attempt_params p;
    attempt_params(&p, d, owner, a);
    p.v[7] = d->team_id;
    /* FOR SHARE waits for a transaction that is changing the connection and
     * then reads its outcome: a re-authorization that commits while this
     * runs is never missed (its own trigger would not see this running row). */
    return transition(db,
                      "WITH conn AS (SELECT status FROM lever_connections WHERE team_id = $8"
                      "              FOR SHARE),"
                      " d AS (UPDATE deliveries SET state = CASE WHEN"
                      "   (SELECT status FROM conn) = 'active' THEN 'pending' ELSE 'parked' END,"
                      "  next_attempt_at = now(), last_error = $7, lease_owner = NULL,"
                      "  lease_expires_at = NULL, updated_at = now()"
                      " WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
                      " RETURNING id, state)" LOG_ATTEMPT,
                      8, p.v, NULL, d->id, err);
}

enum sl_rc sl_queue_release(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                            bool started, struct sl_err *err)
{
    char id[32];
    snprintf(id, sizeof(id), "%lld", d->id);
    const char *params[] = {id, owner, started ? "t" : "f", d->prev_first_attempt};
    return transition(db,
                      "UPDATE deliveries SET"
                      "  state = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,"
                      "  first_attempt_at = CASE WHEN $3::bool THEN first_attempt_at"
                      "                          ELSE $4::timestamptz END,"
                      "  next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL,"
                      "  updated_at = now()"
                      " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                      4, params, NULL, d->id, err);
}

enum sl_rc sl_queue_release_all(struct sl_db *db, const char *owner_prefix, long *n,
                                struct sl_err *err)
{
    const char *params[] = {owner_prefix};
    struct sl_db_res *res = NULL;
    enum sl_rc rc =
        sl_db_exec(db,
                   "UPDATE deliveries SET"
                   "  state = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,"
                   "  next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL,"
                   "  updated_at = now()"
                   " WHERE state = 'running' AND left(lease_owner, length($1)) = $1",
                   1, params, &res, err);
    if (!rc && n)
        *n = sl_db_res_affected(res);
    sl_db_res_free(res);
    return rc;
}

enum sl_rc sl_queue_unpark_team(struct sl_db *db, const char *team_id, long *n, struct sl_err *err)
{
    const char *params[] = {team_id};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(
        db,
        "UPDATE deliveries SET state = 'pending', next_attempt_at = now(), updated_at = now()"
        " WHERE team_id = $1 AND state = 'parked'"
        "   AND EXISTS (SELECT 1 FROM lever_connections WHERE team_id = $1"
        "               AND status = 'active')",
        1, params, &res, err);
    if (!rc && n)
        *n = sl_db_res_affected(res);
    sl_db_res_free(res);
    return rc;
}

double sl_queue_backoff_s(int attempt, double retry_after_s, double u)
{
    if (attempt < 1)
        attempt = 1;
    double ceiling = SL_QUEUE_BACKOFF_CAP_S;
    if (attempt - 1 < 12) /* 2^12 s is past the cap already */
        ceiling =
            fmin(SL_QUEUE_BACKOFF_CAP_S, SL_QUEUE_BACKOFF_BASE_S * (double)(1 << (attempt - 1)));
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    double delay = u * ceiling;
    return retry_after_s > delay ? retry_after_s : delay;
}

/* ---- the deliveries API ---- */

bool sl_queue_state_valid(const char *state)
{
    static const char *const states[] = {"pending", "running", "retrying", "delivered",
                                         "dead",    "parked",  "cancelled"};
    for (size_t i = 0; state && i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(state, states[i]) == 0)
            return true;
    return false;
}

/* The columns of a delivery as the API shows it, in this order. */
#define API_COLUMNS                                                                                \
    "id::text, application_id, job_id, lever_posting_id, state, attempts, last_error,"             \
    " CASE WHEN state IN ('pending', 'retrying') THEN sl_rfc3339(next_attempt_at) END,"            \
    " lever_opportunity_id, lever_note_id, sl_rfc3339(created_at), sl_rfc3339(updated_at),"        \
    " sl_rfc3339(delivered_at)"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The API object of the row `row` whose API_COLUMNS start at column `at`. */
static json_t *api_row(const struct sl_db_res *res, int row, int at)
{
    json_t *o = json_object();
    static const char *const names[] = {
        "id",         "application_id", "job_id",          "lever_posting_id",     "state",
        "attempts",   "last_error",     "next_attempt_at", "lever_opportunity_id", "lever_note_id",
        "created_at", "updated_at",     "delivered_at"};
    for (int c = 0; c < (int)(sizeof(names) / sizeof(names[0])); c++) {
        const char *v = sl_db_res_get(res, row, at + c);
        if (c == 5)
            json_object_set_new(o, names[c], json_integer(v ? strtol(v, NULL, 10) : 0));
        else
            json_object_set_new(o, names[c], str_or_null(v));
    }
    return o;
}

enum sl_rc sl_queue_list(struct sl_db *db, const char *team_id, const char *state,
                         const char *job_id, long long after_id, int limit, json_t **out,
                         bool *more, struct sl_err *err)
{
    *out = NULL;
    *more = false;
    char after[32], lim[16];
    snprintf(after, sizeof(after), "%lld", after_id);
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *params[] = {team_id, after, state, job_id, lim};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db,
                               "SELECT " API_COLUMNS " FROM deliveries"
                               " WHERE team_id = $1 AND id > $2::bigint"
                               "   AND ($3::text IS NULL OR state = $3)"
                               "   AND ($4::text IS NULL OR job_id = $4)"
                               " ORDER BY deliveries.id LIMIT $5::int", /* not the text column */
                               5, params, &res, err);
    if (rc)
        return rc;
    int rows = sl_db_res_rows(res);
    json_t *arr = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(arr, api_row(res, i, 0));
    *more = rows > limit;
    sl_db_res_free(res);
    *out = arr;
    return SL_OK;
}

enum sl_rc sl_queue_get(struct sl_db *db, const char *team_id, long long id, json_t **out,
                        struct sl_err *err)
{
    *out = NULL;
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", id);
    const char *params[] = {team_id, ids};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db,
                               "SELECT " API_COLUMNS " FROM deliveries"
                               " WHERE team_id = $1 AND id = $2::bigint",
                               2, params, &res, err);
    if (rc)
        return rc;
    if (sl_db_res_rows(res) == 0) {
        sl_db_res_free(res);
        return sl_err_set(err, SL_ERR_NOT_FOUND, "no delivery %lld for this team", id);
    }
    json_t *o = api_row(res, 0, 0);
    sl_db_res_free(res);
    rc = sl_db_exec(db,
                    "SELECT to_char(started_at AT TIME ZONE 'UTC',"
                    "               'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                    "       duration_ms, endpoint, http_status, error"
                    "  FROM delivery_attempts WHERE delivery_id = $2::bigint"
                    "   AND EXISTS (SELECT 1 FROM deliveries WHERE id = $2::bigint"
                    "               AND team_id = $1)"
                    " ORDER BY started_at DESC, id DESC LIMIT 50",
                    2, params, &res, err);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_t *log = json_array();
    for (int i = 0; i < sl_db_res_rows(res); i++) {
        const char *dur = sl_db_res_get(res, i, 1), *st = sl_db_res_get(res, i, 3);
        json_array_append_new(
            log, json_pack("{s:o, s:o, s:o, s:o, s:o}", "started_at",
                           str_or_null(sl_db_res_get(res, i, 0)), "duration_ms",
                           dur ? json_integer(strtol(dur, NULL, 10)) : json_null(), "endpoint",
                           str_or_null(sl_db_res_get(res, i, 2)), "http_status",
                           st ? json_integer(strtol(st, NULL, 10)) : json_null(), "error",
                           str_or_null(sl_db_res_get(res, i, 4))));
    }
    sl_db_res_free(res);
    json_object_set_new(o, "attempt_log", log);
    *out = o;
    return SL_OK;
}

enum sl_rc sl_queue_requeue(struct sl_db *db, const char *team_id, long long id, json_t **out,
                            struct sl_err *err)
{
    if (out)
        *out = NULL;
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", id);
    const char *params[] = {team_id, ids};
    struct sl_db_res *res = NULL;
    /* One statement: the state read and the change cannot interleave with a
     * worker, and the answer is the row as this change left it. */
    enum sl_rc rc = sl_db_exec(
        db,
        "WITH cur AS (SELECT id AS cur_id, state AS cur_state FROM deliveries"
        "             WHERE team_id = $1 AND id = $2::bigint FOR UPDATE),"
        " upd AS (UPDATE deliveries d SET state = 'pending', attempts = 0,"
        "         next_attempt_at = now(), updated_at = now()"
        "           FROM cur WHERE d.id = cur.cur_id AND cur.cur_state IN ('dead', 'parked')"
        "         RETURNING " API_COLUMNS ")"
        "SELECT cur.cur_state, upd.* FROM cur LEFT JOIN upd ON true",
        2, params, &res, err);
    if (rc)
        return rc;
    if (sl_db_res_rows(res) == 0) {
        sl_db_res_free(res);
        return sl_err_set(err, SL_ERR_NOT_FOUND, "no delivery %lld for this team", id);
    }
    if (!sl_db_res_get(res, 0, 1)) {
        rc = sl_err_set(err, SL_ERR_CONFLICT,
                        "delivery %lld is %s; only dead or parked deliveries can be retried", id,
                        sl_db_res_get(res, 0, 0));
        sl_db_res_free(res);
        return rc;
    }
    if (out)
        *out = api_row(res, 0, 1);
    sl_db_res_free(res);
    return SL_OK;
}

enum sl_rc sl_queue_render_gauges(struct sl_db *db, struct sl_buf *out, struct sl_err *err)
{
    struct sl_db_res *res = NULL;
    /* Each count reads one partial index: cheap however many rows were delivered. */
    enum sl_rc rc = sl_db_exec(
        db,
        "SELECT (SELECT count(*) FROM deliveries WHERE state = 'pending'),"
        "       (SELECT count(*) FROM deliveries WHERE state = 'retrying'),"
        "       (SELECT count(*) FROM deliveries WHERE state = 'running'),"
        "       (SELECT count(*) FROM deliveries WHERE state = 'parked'),"
        "       (SELECT count(*) FROM deliveries WHERE state = 'dead'),"
        "       COALESCE((SELECT extract(epoch FROM now() - min(next_attempt_at))"
        "                   FROM deliveries WHERE state IN ('pending', 'retrying')"
        "                    AND next_attempt_at <= now()), 0)::float8,"
        "       (SELECT count(*) FILTER (WHERE status = 'active') FROM lever_connections),"
        "       (SELECT count(*) FILTER (WHERE status = 'revoked') FROM lever_connections),"
        "       (SELECT count(*) FILTER (WHERE status = 'disconnected') FROM lever_connections)",
        0, NULL, &res, err);
    if (rc)
        return rc;
    static const char *const states[] = {"pending", "retrying", "running", "parked", "dead"};
    sl_buf_puts(out, "# HELP sl_queue_depth Deliveries waiting or in progress, by state\n"
                     "# TYPE sl_queue_depth gauge\n");
    for (int i = 0; i < 5; i++)
        sl_buf_printf(out, "sl_queue_depth{state=\"%s\"} %s\n", states[i],
                      sl_db_res_get(res, 0, i));
    sl_buf_printf(out,
                  "# HELP sl_queue_oldest_ready_seconds Age of the oldest delivery that is due\n"
                  "# TYPE sl_queue_oldest_ready_seconds gauge\n"
                  "sl_queue_oldest_ready_seconds %s\n",
                  sl_db_res_get(res, 0, 5));
    static const char *const statuses[] = {"active", "revoked", "disconnected"};
    sl_buf_puts(out, "# HELP sl_lever_connections Lever connections by status\n"
                     "# TYPE sl_lever_connections gauge\n");
    for (int i = 0; i < 3; i++)
        sl_buf_printf(out, "sl_lever_connections{status=\"%s\"} %s\n", statuses[i],
                      sl_db_res_get(res, 0, 6 + i));
    sl_db_res_free(res);
    return SL_OK;
}
