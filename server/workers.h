/*
 * workers.h: the delivery worker pool (SPEC 6 and 7).
 *
 * SL_WORKERS threads push claimed deliveries to Lever, each with its own
 * database connection, Lever client and rate-limit handle; one more thread
 * listens for work (LISTEN sl_deliveries / sl_connections) and renews the
 * leases of what the workers hold.
 *
 * Threads: start, stop_async and stop from main only.
 */
#ifndef SL_WORKERS_H
#define SL_WORKERS_H

#include <stdbool.h>

#include "rc.h"

struct sl_app;
struct sl_workers;

/* Starts the pool for `app` (borrowed; its settings, keyring and database
 * URL must outlive the pool). Workers wait for app->schema_ready before
 * they claim anything. With SL_WORKERS = 0 no thread is started. *out is
 * caller-owned (sl_workers_stop). */
enum sl_rc sl_workers_start(struct sl_app *app, struct sl_workers **out,
                            struct sl_err *err) SL_MUST_USE;

/* Begins the shutdown without waiting: nothing new is claimed, claimed
 * deliveries not started yet are given back, deliveries in flight are
 * finished if that takes less than SL_SHUTDOWN_TIMEOUT from now, else their
 * leases are released. Accepts NULL. */
void sl_workers_stop_async(struct sl_workers *w);

/* Finishes the shutdown (calls sl_workers_stop_async if needed) and frees
 * the pool. Returns true when every thread ended in time. Otherwise (a
 * thread stuck in a Lever request past the deadline and a short grace) the
 * pool's leases are released from here, the stuck threads are left running
 * and nothing is freed: the caller must end the process soon after.
 * Accepts NULL (returns true). */
bool sl_workers_stop(struct sl_workers *w);

/* A lease owner prefix unique to this process ("<host>/<pid>/<random>");
 * borrowed, valid until sl_workers_stop. */
const char *sl_workers_instance(const struct sl_workers *w);

#endif
