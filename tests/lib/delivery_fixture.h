/*
 * delivery_fixture.h: what the delivery engine's integration tests share:
 * a synced job, applications ingested in bulk through the same SQL function
 * the webhook handler uses (sl_ingest_event), a service started against
 * the fake Lever, waiting for counts, and the exactly-once audit of what
 * the fake holds.
 *
 * Threads: a test's main thread (td_time_travel_start runs its own).
 */
#ifndef SL_DELIVERY_FIXTURE_H
#define SL_DELIVERY_FIXTURE_H

#include <stdbool.h>

#include "fake_lever.h"
#include "harness.h"

/* Syncs `team`'s `job` to `posting` (a job_syncs row, as the sync PUT makes). */
void td_sync_job(const struct th_db *db, const char *team, const char *job, const char *posting);

/* Ingests applications <prefix>1 .. <prefix>n of `job` for `team` in one transaction, each
 * with a full candidate: "Cand <prefix><i>", email <prefix><i>@example.com (none when
 * `with_email` is false), phone, location, profile URL, summary, skills. */
void td_ingest(const struct th_db *db, const char *team, const char *job, const char *prefix, int n,
               bool with_email);

/* Polls the count query `sql` every 100 ms until it returns `want` or `timeout_ms` pass;
 * returns the last value. */
long td_wait_count(const struct th_db *db, const char *sql, long want, int timeout_ms);

/* Starts a service on `db` pointed at the fake (tf_lever_env) with the given extra settings
 * ("K=V", NULL-terminated, may be NULL). BAIL_OUTs when it does not start. */
void td_start(struct th_service *svc, const struct th_db *db, struct fake_lever *f,
              const char *const *extra);

/* Exactly-once audit of the fake: opportunities on `posting` that carry the Stakha tag,
 * (email, posting) pairs seen more than once, opportunities without exactly one Stakha
 * note. Prints a diag line per problem (at most 10). */
struct td_audit {
    int opportunities;
    int duplicate_pairs;
    int bad_notes;
};
void td_audit(struct fake_lever *f, const char *posting, struct td_audit *out);

/* Simulated time for retries: every 300 ms, deliveries waiting in 'retrying' become due
 * now, so that tests with many injected failures do not sit out real backoffs (the
 * backoff itself is unit-tested). */
struct td_time_travel;
struct td_time_travel *td_time_travel_start(const struct th_db *db);
void td_time_travel_stop(struct td_time_travel *t);

#endif
