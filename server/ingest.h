/*
 * ingest.h: durable storage of webhook events with application-level group
 * commit.
 *
 * Requests hand their event to sl_ingest_submit() and return; a writer
 * thread takes every event waiting, stores them all in one transaction (one
 * statement: sl_ingest_batch() in migrations/0002), and after the commit
 * calls each request's callback with its own answer. While one batch
 * commits, the next one fills, so the commit rate of PostgreSQL stops
 * bounding the request rate.
 *
 * Threads: sl_ingest_submit from any thread; callbacks run on the writer
 * thread; create/destroy from main.
 */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include <stddef.h>

#include "rc.h"

struct sl_ingest;

enum sl_ingest_result {
    SL_INGEST_STORED,    /* committed for the first time */
    SL_INGEST_DUPLICATE, /* this webhook-id was already stored */
    SL_INGEST_FAILED,    /* not stored; err says why (SL_ERR_DB: outage) */
};

/* Called once per submitted event, after its fate is known. `err` is
 * borrowed for the call. */
typedef void (*sl_ingest_done_fn)(void *ctx, enum sl_ingest_result result,
                                  const struct sl_err *err);

/* Starts the writer on `conninfo` (copied); webhook events older than
 * `retention_days` are deleted in the background. Caller owns. */
struct sl_ingest *sl_ingest_create(const char *conninfo, long retention_days);

/* Queues one event: `webhook_id` and the raw JSON `event` (both copied).
 * `done` is called exactly once, on the writer thread. */
void sl_ingest_submit(struct sl_ingest *ing, const char *webhook_id, const char *event, size_t len,
                      sl_ingest_done_fn done, void *ctx);

/* Finishes everything queued, then stops the writer and frees. Accepts NULL. */
void sl_ingest_destroy(struct sl_ingest *ing);

/* Batches and events committed so far (for tests and the benchmark). */
void sl_ingest_stats(struct sl_ingest *ing, unsigned long *batches, unsigned long *events);

#endif
