/*
 * queue.h: the delivery queue in PostgreSQL (SPEC 7): claim, lease, the
 * state transitions of a delivery, the attempts log, backoff, and the reads
 * the deliveries API and /metrics need.
 *
 * A delivery is claimed by one worker at a time: `state` 'running', with
 * `lease_owner` ("<instance>/w<n>") and `lease_expires_at`. Every transition
 * out of 'running' names the owner and changes nothing when the lease was
 * lost (expired and claimed by someone else, or the delivery was cancelled
 * meanwhile): then it returns SL_ERR_CONFLICT and the worker drops the
 * delivery without touching Lever again.
 *
 * Threads: any thread with its own `struct sl_db`; nothing here is shared.
 */
#ifndef SL_QUEUE_H
#define SL_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "rc.h"
#include "util.h"

#define SL_QUEUE_MAX_ATTEMPTS 25 /* then 'dead' (SPEC 7) */
#define SL_QUEUE_BACKOFF_BASE_S 1.0
#define SL_QUEUE_BACKOFF_CAP_S 3600.0

/* One claimed delivery. Strings and `candidate` are owned by it
 * (sl_delivery_cleanup). */
struct sl_delivery {
    long long id;
    char *team_id;
    char *application_id;
    char *job_id;
    char *posting_id;
    char *prev_state;         /* before the claim: pending, retrying, or running (lease expired) */
    char *prev_first_attempt; /* first_attempt_at before the claim (text), NULL on a first claim */
    int attempts;             /* attempts used so far */
    char *opportunity_id;     /* lever_opportunity_id, NULL until the create is recorded */
    char *note_id;            /* lever_note_id, NULL until the note is recorded */
    long long first_attempt_ms; /* first_attempt_at in Unix milliseconds */
    json_t *candidate;          /* the application's stored candidate, NULL if erased */
};
void sl_delivery_cleanup(struct sl_delivery *d);

/* True when an earlier claim of `d` may have sent requests to Lever, so
 * that a create's or a note's earlier outcome is unknown. */
bool sl_delivery_resumed(const struct sl_delivery *d);

/* What one attempt did, for the attempts log. Strings borrowed. */
struct sl_attempt {
    int64_t started_us; /* wall clock, Unix microseconds */
    long duration_ms;
    const char *endpoint; /* "POST /opportunities", NULL if none */
    long http_status;     /* 0: no HTTP answer */
    const char *error;    /* NULL on success */
};

/* Claims up to `max` due deliveries for `owner` with a lease of `lease_s`
 * seconds: pending or retrying ones whose next_attempt_at has come, and
 * running ones whose lease expired (their owner died; that counts as an
 * attempt). One statement, FOR UPDATE SKIP LOCKED, so concurrent claimers
 * never wait for each other. On SL_OK, *out holds *n deliveries (caller
 * owns; sl_deliveries_free). */
enum sl_rc sl_queue_claim(struct sl_db *db, const char *owner, int lease_s, int max,
                          struct sl_delivery **out, int *n, struct sl_err *err) SL_MUST_USE;
void sl_deliveries_free(struct sl_delivery *v, int n);

/* Extends the leases of the deliveries `ids` (n of them) held by owners
 * starting with `owner_prefix` to now + lease_s. */
enum sl_rc sl_queue_renew(struct sl_db *db, const char *owner_prefix, const long long *ids, int n,
                          int lease_s, struct sl_err *err) SL_MUST_USE;

/* Records the opportunity a create made or a lookup found. */
enum sl_rc sl_queue_record_opportunity(struct sl_db *db, const struct sl_delivery *d,
                                       const char *owner, const char *opportunity_id,
                                       struct sl_err *err) SL_MUST_USE;

/* Done: records the note, state 'delivered', the attempt counted and logged. */
enum sl_rc sl_queue_complete(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                             const char *note_id, const struct sl_attempt *a,
                             struct sl_err *err) SL_MUST_USE;

/* A transient failure: 'retrying' in `delay_s` seconds. `counts` says
 * whether it uses an attempt (a 429 does not); the attempt that uses the
 * last of SL_QUEUE_MAX_ATTEMPTS makes it 'dead' instead. *dead (may be NULL)
 * tells which. */
enum sl_rc sl_queue_retry(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                          double delay_s, bool counts, const struct sl_attempt *a, bool *dead,
                          struct sl_err *err) SL_MUST_USE;

/* A permanent failure: 'dead' at once, keeping a->error as last_error. */
enum sl_rc sl_queue_dead(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                         const struct sl_attempt *a, struct sl_err *err) SL_MUST_USE;

/* The team's connection is not usable: 'parked', no attempt used. Takes a
 * share lock on the connection row, so that a re-authorization committing
 * meanwhile is seen (then the delivery is queued again, not parked). */
enum sl_rc sl_queue_park(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                         const struct sl_attempt *a, struct sl_err *err) SL_MUST_USE;

/* Gives a delivery back without an outcome (shutdown, database trouble):
 * due again at once, with the steps already recorded kept. `started` false
 * restores first_attempt_at as it was before the claim (nothing was sent). */
enum sl_rc sl_queue_release(struct sl_db *db, const struct sl_delivery *d, const char *owner,
                            bool started, struct sl_err *err) SL_MUST_USE;

/* Releases every lease whose owner starts with `owner_prefix` (an instance
 * that gives up waiting for its workers). *n (may be NULL) = rows released. */
enum sl_rc sl_queue_release_all(struct sl_db *db, const char *owner_prefix, long *n,
                                struct sl_err *err) SL_MUST_USE;

/* Queues the team's parked deliveries again when its connection is active. */
enum sl_rc sl_queue_unpark_team(struct sl_db *db, const char *team_id, long *n,
                                struct sl_err *err) SL_MUST_USE;

/* The full-jitter backoff (SPEC 7) before attempt `attempt` + 1, given that
 * `attempt` attempts (>= 1) failed: uniform in [0, min(cap, base * 2^(attempt-1)))
 * using `u` in [0, 1), and never less than `retry_after_s` (a Retry-After
 * header; < 0 when absent). Pure. */
double sl_queue_backoff_s(int attempt, double retry_after_s, double u);

/* ---- for the deliveries API (handlers/deliveries.c) ---- */

/* The team's deliveries with id > `after_id`, oldest first, at most `limit`,
 * optionally only in `state` and of `job_id` (NULL: any). *out is a JSON
 * array of the SPEC 3 objects (caller owns); *more says whether rows remain. */
enum sl_rc sl_queue_list(struct sl_db *db, const char *team_id, const char *state,
                         const char *job_id, long long after_id, int limit, json_t **out,
                         bool *more, struct sl_err *err) SL_MUST_USE;

/* One delivery of the team with its attempts log ("attempt_log", newest
 * first, at most 50). SL_ERR_NOT_FOUND if it is not the team's. */
enum sl_rc sl_queue_get(struct sl_db *db, const char *team_id, long long id, json_t **out,
                        struct sl_err *err) SL_MUST_USE;

/* Queues a dead or parked delivery again (attempts start over). Returns
 * SL_ERR_NOT_FOUND when the team has no such delivery and SL_ERR_CONFLICT,
 * with the current state in `err`, for any other state. *out (may be NULL)
 * is the delivery afterwards (caller owns). */
enum sl_rc sl_queue_requeue(struct sl_db *db, const char *team_id, long long id, json_t **out,
                            struct sl_err *err) SL_MUST_USE;

/* True when `state` is one of the delivery states. */
bool sl_queue_state_valid(const char *state);

/* Appends the database gauges of SPEC 8 to `out` in Prometheus text format:
 * queue depth by state, age of the oldest ready delivery, connections by
 * status. HTTP threads, at scrape time. */
enum sl_rc sl_queue_render_gauges(struct sl_db *db, struct sl_buf *out,
                                  struct sl_err *err) SL_MUST_USE;

#endif
