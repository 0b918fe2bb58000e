/*
 * embedded_pg.h: the private PostgreSQL cluster `serve` runs when
 * DATABASE_URL is unset.
 *
 * The cluster lives in <data_dir>/pg, is created on first use, listens on a
 * Unix socket inside that directory only (no TCP), and runs as the
 * `postgres` user when the service runs as root. The postmaster is a child
 * that receives SIGINT (fast shutdown) when the service dies, however it
 * dies, so no cluster outlives its service.
 *
 * Threads: main thread only (the parent-death signal follows the thread that
 * forked the postmaster, so it must be the thread that lives longest).
 */
#ifndef SL_EMBEDDED_PG_H
#define SL_EMBEDDED_PG_H

#include "rc.h"

struct sl_embedded_pg;

/* Creates the cluster if needed, starts it and waits until it accepts
 * connections, then makes sure database `stakha_lever` exists. *out is
 * caller-owned (sl_embedded_pg_stop). Progress is logged. */
enum sl_rc sl_embedded_pg_start(const char *data_dir, struct sl_embedded_pg **out,
                                struct sl_err *err) SL_MUST_USE;

/* libpq connection string of the running cluster. Valid until stop. */
const char *sl_embedded_pg_conninfo(const struct sl_embedded_pg *pg);

/* Fast shutdown; waits for the postmaster to exit; frees. Accepts NULL. */
void sl_embedded_pg_stop(struct sl_embedded_pg *pg);

#endif
