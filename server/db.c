/*
 * db.c: libpq connections and the HTTP threads' connection pool.
 *
 * Design: the pool is a fixed array of slots behind one mutex and condition
 * variable. Connections are opened lazily, outside the lock. Before a
 * connection is lent, a zero-timeout poll tells whether the server has sent
 * anything while it was idle; a closed socket (server restart, idle timeout)
 * is detected there without a round trip and the connection is replaced.
 * After a failed connection attempt the pool refuses for a short back-off so
 * that a database outage costs each request microseconds, not a connect
 * timeout.
 *
 * Threads: the pool from any thread; a `struct sl_db` from its holder only.
 */
#include "db.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define DOWN_BACKOFF_NS (250 * 1000 * 1000LL)

struct sl_db {
    PGconn *conn;
    char sqlstate[6];
};

struct sl_db_res {
    PGresult *res;
};

struct slot {
    struct sl_db *db; /* NULL: not connected */
    bool in_use;
};

struct sl_db_pool {
    char *conninfo;
    int size;
    struct slot *slots;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int64_t down_until_ns; /* monotonic; acquire fails fast before it */
};

static void first_line(char *dst, size_t n, const char *src)
{
    sl_strlcpy(dst, src ? src : "", n);
    char *nl = strchr(dst, '\n');
    if (nl)
        *nl = '\0';
}

/* Server notices ("relation already exists, skipping") are not for operators. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

enum sl_rc sl_db_connect(const char *conninfo, int connect_timeout_s, struct sl_db **out,
                         struct sl_err *err)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    /* connect_timeout comes first so that a value in the URI wins over ours. */
    const char *keys[] = {"connect_timeout", "dbname", "application_name", NULL};
    const char *vals[] = {timeout, conninfo, "stakha-lever", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn)
        return sl_err_set(err, SL_ERR_DB, "database: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[200];
        first_line(msg, sizeof(msg), PQerrorMessage(conn));
        PQfinish(conn);
        return sl_err_set(err, SL_ERR_DB, "database unavailable: %s", msg);
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    struct sl_db *db = sl_xcalloc(1, sizeof(*db));
    db->conn = conn;
    *out = db;
    return SL_OK;
}

void sl_db_close(struct sl_db *db)
{
    if (!db)
        return;
    PQfinish(db->conn);
    free(db);
}

bool sl_db_ok(struct sl_db *db)
{
    return db && PQstatus(db->conn) == CONNECTION_OK;
}

struct pg_conn *sl_db_pg(struct sl_db *db)
{
    return db->conn;
}

const char *sl_db_sqlstate(struct sl_db *db)
{
    return db->sqlstate;
}

static bool unavailable_state(const char *st)
{
    /* 08: connection exception; 57P01-03: shutdown, crash, cannot connect now;
     * 57014: a statement_timeout fired (the server is too slow to count on);
     * 53: insufficient resources; 40001/40P01 are retryable but not outages. */
    return !st || strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0 ||
           strcmp(st, "57014") == 0 /* statement timeout */ || strncmp(st, "53", 2) == 0;
}

enum sl_rc sl_db_exec(struct sl_db *db, const char *sql, int nparams, const char *const *params,
                      struct sl_db_res **out, struct sl_err *err)
{
    if (out)
        *out = NULL;
    db->sqlstate[0] = '\0';
    /* Without parameters the simple protocol runs scripts (migrations) too. */
    PGresult *res = nparams ? PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(db->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out) {
            *out = sl_xmalloc(sizeof(**out));
            (*out)->res = res;
        } else {
            PQclear(res);
        }
        return SL_OK;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state)
        sl_strlcpy(db->sqlstate, state, sizeof(db->sqlstate));
    char msg[200];
    first_line(msg, sizeof(msg),
               res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                   : PQerrorMessage(db->conn));
    PQclear(res); /* `state` pointed into it: only db->sqlstate from here */
    if (PQstatus(db->conn) != CONNECTION_OK || unavailable_state(state ? db->sqlstate : NULL))
        return sl_err_set(err, SL_ERR_DB, "database unavailable: %s", msg);
    if (strcmp(db->sqlstate, "23505") == 0)
        return sl_err_set(err, SL_ERR_CONFLICT, "database: %s", msg);
    return sl_err_set(err, SL_ERR_INTERNAL, "database: %s", msg);
}

int sl_db_res_rows(const struct sl_db_res *res)
{
    return res ? PQntuples(res->res) : 0;
}

const char *sl_db_res_get(const struct sl_db_res *res, int row, int col)
{
    if (!res || row >= PQntuples(res->res) || col >= PQnfields(res->res) ||
        PQgetisnull(res->res, row, col))
        return NULL;
    return PQgetvalue(res->res, row, col);
}

long sl_db_res_affected(const struct sl_db_res *res)
{
    long n = 0;
    if (res && !sl_parse_long(PQcmdTuples(res->res), 0, __LONG_MAX__, &n))
        n = 0;
    return n;
}

void sl_db_res_free(struct sl_db_res *res)
{
    if (!res)
        return;
    PQclear(res->res);
    free(res);
}

struct sl_db_pool *sl_db_pool_create(const char *conninfo, int size)
{
    struct sl_db_pool *pool = sl_xcalloc(1, sizeof(*pool));
    pool->conninfo = sl_xstrdup(conninfo);
    pool->size = size;
    pool->slots = sl_xcalloc((size_t)size, sizeof(*pool->slots));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    return pool;
}

void sl_db_pool_destroy(struct sl_db_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++)
        sl_db_close(pool->slots[i].db);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool->slots);
    free(pool->conninfo);
    free(pool);
}

/* True when an idle connection is still usable: if its socket became
 * readable while idle, the server sent something (usually a goodbye). */
static bool idle_conn_alive(struct sl_db *db)
{
    if (PQstatus(db->conn) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
    if (pfd.fd < 0)
        return false;
    if (poll(&pfd, 1, 0) > 0) {
        if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
            return false;
        PGnotify *n;
        while ((n = PQnotifies(db->conn)))
            PQfreemem(n);
    }
    return true;
}

enum sl_rc sl_db_pool_acquire(struct sl_db_pool *pool, int wait_ms, struct sl_db **out,
                              struct sl_err *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&pool->lock);
    int idx = -1;
    for (;;) {
        /* Prefer a connected idle slot, then an empty one. */
        for (int i = 0; i < pool->size && idx < 0; i++)
            if (!pool->slots[i].in_use && pool->slots[i].db)
                idx = i;
        for (int i = 0; i < pool->size && idx < 0; i++)
            if (!pool->slots[i].in_use)
                idx = i;
        if (idx >= 0)
            break;
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline)) {
            pthread_mutex_unlock(&pool->lock);
            return sl_err_set(err, SL_ERR_DB, "database: all %d connections are busy", pool->size);
        }
    }
    struct slot *slot = &pool->slots[idx];
    slot->in_use = true;
    struct sl_db *db = slot->db;
    slot->db = NULL;
    bool down = sl_mono_ns() < pool->down_until_ns;
    pthread_mutex_unlock(&pool->lock);

    if (db && !idle_conn_alive(db)) {
        sl_db_close(db);
        db = NULL;
    }
    enum sl_rc rc = SL_OK;
    if (!db) {
        if (down)
            rc = sl_err_set(err, SL_ERR_DB, "database unavailable (retrying shortly)");
        else
            rc = sl_db_connect(pool->conninfo, 2, &db, err);
    }

    pthread_mutex_lock(&pool->lock);
    if (rc) {
        if (!down)
            pool->down_until_ns = sl_mono_ns() + DOWN_BACKOFF_NS;
        slot->in_use = false;
        pthread_cond_signal(&pool->freed);
    } else {
        slot->db = db;
        pool->down_until_ns = 0;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!rc)
        *out = db;
    return rc;
}

void sl_db_pool_release(struct sl_db_pool *pool, struct sl_db *db)
{
    if (!db)
        return;
    if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(db->conn, "ROLLBACK");
        PQclear(r);
    }
    bool broken =
        PQstatus(db->conn) != CONNECTION_OK || PQtransactionStatus(db->conn) != PQTRANS_IDLE;
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->size; i++) {
        if (pool->slots[i].db == db) {
            if (broken) {
                pool->slots[i].db = NULL;
                sl_db_close(db);
            }
            pool->slots[i].in_use = false;
            break;
        }
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}
