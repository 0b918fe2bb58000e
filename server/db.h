/*
 * db.h: PostgreSQL connections, a pool for the HTTP threads, and a thin
 * query API that keeps libpq out of the handlers.
 *
 * A `struct sl_db` is one connection, used by one thread at a time. The pool
 * hands connections to HTTP threads, checks each one before lending it (a
 * connection the server closed is dropped and re-opened), and fails fast
 * while the database is down instead of making requests wait.
 *
 * Threads: a pool may be used from any thread; a connection and the results
 * it returns belong to the thread that holds the connection.
 */
#ifndef SL_DB_H
#define SL_DB_H

#include <stdbool.h>

#include "rc.h"

struct sl_db;
struct sl_db_res;
struct sl_db_pool;
struct pg_conn; /* libpq's PGconn, for server modules that need libpq itself */

/* Opens a connection to `conninfo` (key=value string or URI). `connect_timeout_s`
 * bounds the attempt. On success *out is caller-owned (sl_db_close). */
enum sl_rc sl_db_connect(const char *conninfo, int connect_timeout_s, struct sl_db **out,
                         struct sl_err *err) SL_MUST_USE;
void sl_db_close(struct sl_db *db);

/* True while the connection is usable as far as libpq knows. */
bool sl_db_ok(struct sl_db *db);

/* The libpq connection (borrowed, valid until sl_db_close). Server modules only. */
struct pg_conn *sl_db_pg(struct sl_db *db);

/* Runs `sql` with `nparams` text parameters (NULL entries are SQL NULL);
 * with none, `sql` may hold several statements.
 * `out` may be NULL when no rows are wanted; otherwise *out is caller-owned.
 * Returns SL_ERR_DB when the database is unreachable or the connection broke,
 * SL_ERR_CONFLICT on a unique violation, SL_ERR_INTERNAL on any other SQL
 * error (a bug), each with the server's message in `err`. */
enum sl_rc sl_db_exec(struct sl_db *db, const char *sql, int nparams, const char *const *params,
                      struct sl_db_res **out, struct sl_err *err) SL_MUST_USE;

/* The SQLSTATE of the last failed statement on `db` ("" if none). Borrowed. */
const char *sl_db_sqlstate(struct sl_db *db);

int sl_db_res_rows(const struct sl_db_res *res);
/* The value at (row, col); NULL for SQL NULL. Valid until sl_db_res_free. */
const char *sl_db_res_get(const struct sl_db_res *res, int row, int col);
/* Number of rows a command touched (UPDATE, DELETE, INSERT). */
long sl_db_res_affected(const struct sl_db_res *res);
void sl_db_res_free(struct sl_db_res *res);

/* A pool of at most `size` connections to `conninfo` (copied). Caller owns. */
struct sl_db_pool *sl_db_pool_create(const char *conninfo, int size);
void sl_db_pool_destroy(struct sl_db_pool *pool);

/* Lends a healthy connection, waiting at most `wait_ms` for a free one. Fails
 * fast (SL_ERR_DB) while the database is down. Give it back with
 * sl_db_pool_release(); an open transaction is rolled back there. */
enum sl_rc sl_db_pool_acquire(struct sl_db_pool *pool, int wait_ms, struct sl_db **out,
                              struct sl_err *err) SL_MUST_USE;
void sl_db_pool_release(struct sl_db_pool *pool, struct sl_db *db);

#endif
