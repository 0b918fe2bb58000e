/* Unit tests of server/queue.c (and migrations/0004) against the run's PostgreSQL:
 * backoff, claim, leases, the guarded transitions, the attempts log, parking. */
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "harness.h"
#include "queue.h"
#include "tap.h"

static struct th_db tdb;

static struct sl_db *connect_db(void)
{
    struct sl_db *c = NULL;
    struct sl_err err;
    if (sl_db_connect(tdb.url, 5, &c, &err))
        BAIL_OUT("%s", err.msg);
    return c;
}

static long q(const char *sql)
{
    return th_db_long(&tdb, sql);
}

static char *qs(const char *sql)
{
    return th_db_value(&tdb, sql, 0, NULL);
}

/* n applications of team_q on job_q, synced to posting p_q: n pending deliveries. */
static void enqueue(const char *team, int n)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO job_syncs (team_id, job_id, lever_posting_id) VALUES ('%s', 'job_q', "
             "'p_q') ON CONFLICT DO NOTHING",
             team);
    th_db_exec(&tdb, sql);
    long have = 0;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM applications WHERE team_id = '%s'", team);
    have = th_db_long(&tdb, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO applications (team_id, application_id, job_id, status, candidate_id,"
             " candidate, event_created_at, event_seq)"
             " SELECT '%s', 'app_' || g, 'job_q', 'applied', 'c' || g,"
             " jsonb_build_object('id', 'c' || g, 'first_name', 'N' || g), now(), g"
             " FROM generate_series(%ld, %ld) g",
             team, have + 1, have + n);
    th_db_exec(&tdb, sql);
    snprintf(sql, sizeof(sql),
             "SELECT count(sl_sync_application('%s', application_id)) FROM applications"
             " WHERE team_id = '%s'",
             team, team);
    th_db_exec(&tdb, sql);
}

/* Notifications that reach `c` within `ms` milliseconds (all of them are drained). */
static int notifications(PGconn *c, int ms)
{
    int n = 0;
    long long until = th_now_ms() + ms;
    for (;;) {
        PQconsumeInput(c);
        PGnotify *note;
        while ((note = PQnotifies(c))) {
            n++;
            PQfreemem(note);
        }
        long long left = until - th_now_ms();
        if (n || left <= 0)
            return n;
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        poll(&p, 1, (int)left);
    }
}

static const struct sl_attempt attempt_none = {.started_us = 1700000000000000LL,
                                               .duration_ms = 12,
                                               .endpoint = "POST /opportunities",
                                               .http_status = 503,
                                               .error = "Lever answered 503"};

struct claimer {
    int claimed;
    long long ids[400];
};

static void *claim_all(void *arg)
{
    struct claimer *c = arg;
    struct sl_db *db = connect_db();
    char owner[64];
    snprintf(owner, sizeof(owner), "inst/thread-%p", (void *)c);
    for (;;) {
        struct sl_delivery *v = NULL;
        int n = 0;
        struct sl_err err;
        if (sl_queue_claim(db, owner, 30, 2, &v, &n, &err))
            BAIL_OUT("claim: %s", err.msg);
        if (n == 0)
            break;
        for (int i = 0; i < n && c->claimed < 400; i++)
            c->ids[c->claimed++] = v[i].id;
        sl_deliveries_free(v, n);
    }
    sl_db_close(db);
    return NULL;
}

int main(void)
{
    /* ---- backoff: full jitter, base 1 s, doubling, cap 1 h ---- */
    ok(fabs(sl_queue_backoff_s(1, -1, 0.5) - 0.5) < 1e-9, "attempt 1: uniform in [0, 1 s)");
    ok(sl_queue_backoff_s(3, -1, 0.999) < 4.0 && sl_queue_backoff_s(3, -1, 0.999) > 3.9,
       "attempt 3: up to 4 s");
    ok(fabs(sl_queue_backoff_s(4, -1, 0.25) - 2.0) < 1e-9, "attempt 4: 0.25 of 8 s");
    ok(sl_queue_backoff_s(12, -1, 0.9999) <= 2048.0 && sl_queue_backoff_s(12, -1, 0.9999) > 2000,
       "attempt 12: up to 2048 s");
    ok(sl_queue_backoff_s(13, -1, 0.9999) <= 3600.0 && sl_queue_backoff_s(13, -1, 0.9999) > 3590,
       "attempt 13: capped at 1 h");
    ok(sl_queue_backoff_s(25, -1, 0.9999) <= 3600.0, "attempt 25: capped at 1 h");
    is_int((long)sl_queue_backoff_s(2, -1, 0.0), 0, "full jitter: can be 0");
    ok(fabs(sl_queue_backoff_s(1, 30, 0.5) - 30) < 1e-9, "Retry-After 30 s is honoured");
    ok(fabs(sl_queue_backoff_s(10, 2, 0.5) - 256) < 1e-9, "a shorter Retry-After: the backoff");
    double sum = 0, max = 0;
    unsigned s = 1;
    for (int i = 0; i < 10000; i++) {
        s = s * 1103515245u + 12345u;
        double d = sl_queue_backoff_s(5, -1, (double)(s >> 8) / 16777216.0);
        sum += d;
        if (d > max)
            max = d;
    }
    ok(max < 16 && fabs(sum / 10000 - 8) < 0.5, "attempt 5: mean about 8 s (%.2f), max < 16 (%.2f)",
       sum / 10000, max);

    th_db_create(&tdb);
    struct sl_db *db = connect_db();
    struct sl_err err = {0};

    /* ---- notifications only when work becomes due (0004) ---- */
    PGconn *listener = PQconnectdb(tdb.url);
    PQclear(PQexec(listener, "LISTEN sl_deliveries"));
    enqueue("team_q", 3);
    ok(notifications(listener, 2000) >= 1, "enqueue notifies sl_deliveries");
    notifications(listener, 100);

    /* ---- claim ---- */
    struct sl_delivery *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    ok(sl_queue_claim(db, "inst1/w0", 30, 2, &a, &na, &err) == SL_OK, "claim");
    is_int(na, 2, "a batch of at most 2");
    is_int(notifications(listener, 300), 0, "a claim does not wake the workers");
    is_str(a[0].prev_state, "pending", "claimed from pending");
    ok(!sl_delivery_resumed(&a[0]), "first claim: nothing sent before");
    ok(a[0].first_attempt_ms > 0, "first_attempt_at stamped");
    ok(a[0].candidate && json_is_object(a[0].candidate), "the candidate comes with the claim");
    is_str(a[0].posting_id, "p_q", "with the posting");
    is_int(q("SELECT count(*) FROM deliveries WHERE state = 'running' AND lease_owner = "
             "'inst1/w0' AND lease_expires_at > now() + interval '25 s'"),
           2, "rows running, leased 30 s to the owner");
    ok(sl_queue_claim(db, "inst2/w0", 30, 2, &b, &nb, &err) == SL_OK && nb == 1,
       "a second claimer gets only the third");
    sl_deliveries_free(b, nb);
    ok(sl_queue_claim(db, "inst2/w0", 30, 2, &b, &nb, &err) == SL_OK && nb == 0,
       "then nothing is due");
    sl_deliveries_free(b, nb);

    /* ---- guarded transitions ---- */
    ok(sl_queue_complete(db, &a[0], "inst2/w0", "note_x", &attempt_none, &err) == SL_ERR_CONFLICT,
       "another owner cannot complete it");
    ok(sl_queue_record_opportunity(db, &a[0], "inst1/w0", "opp_1", &err) == SL_OK,
       "the owner records the opportunity");
    ok(sl_queue_complete(db, &a[0], "inst1/w0", "note_1", &attempt_none, &err) == SL_OK,
       "the owner completes it");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT state || ' ' || attempts || ' ' || lever_opportunity_id || ' ' ||"
             " lever_note_id || ' ' || (lease_owner IS NULL) FROM deliveries WHERE id = %lld",
             a[0].id);
    char *row = qs(sql);
    is_str(row, "delivered 1 opp_1 note_1 true", "delivered, one attempt, ids kept, no lease");
    free(row);
    ok(sl_queue_complete(db, &a[0], "inst1/w0", "note_1", &attempt_none, &err) == SL_ERR_CONFLICT,
       "completing twice matches nothing");

    /* retry: counted, logged, backoff */
    bool dead = true;
    ok(sl_queue_retry(db, &a[1], "inst1/w0", 60, true, &attempt_none, &dead, &err) == SL_OK &&
           !dead,
       "retry");
    snprintf(sql, sizeof(sql),
             "SELECT state || ' ' || attempts || ' ' || (next_attempt_at > now() + interval '55 s')"
             " || ' ' || last_error FROM deliveries WHERE id = %lld",
             a[1].id);
    row = qs(sql);
    is_str(row, "retrying 1 true Lever answered 503",
           "retrying in 60 s, attempt counted, error kept");
    free(row);
    snprintf(sql, sizeof(sql),
             "SELECT endpoint || ' ' || http_status || ' ' || duration_ms || ' ' || error"
             " FROM delivery_attempts WHERE delivery_id = %lld",
             a[1].id);
    row = qs(sql);
    is_str(row, "POST /opportunities 503 12 Lever answered 503", "the attempt is logged");
    free(row);
    ok(notifications(listener, 2000) >= 1, "becoming retrying notifies");

    /* a 429 uses no attempt; the 25th attempt makes it dead */
    snprintf(sql, sizeof(sql), "UPDATE deliveries SET next_attempt_at = now() WHERE id = %lld",
             a[1].id);
    th_db_exec(&tdb, sql);
    ok(sl_queue_claim(db, "inst1/w0", 30, 1, &b, &nb, &err) == SL_OK && nb == 1 &&
           b[0].id == a[1].id,
       "claimed again when due");
    is_str(b[0].prev_state, "retrying", "from retrying");
    ok(sl_delivery_resumed(&b[0]), "a second claim knows an earlier attempt may have sent");
    ok(sl_queue_retry(db, &b[0], "inst1/w0", 0, false, &attempt_none, &dead, &err) == SL_OK,
       "retry after a 429");
    snprintf(sql, sizeof(sql), "SELECT attempts FROM deliveries WHERE id = %lld", a[1].id);
    is_int(q(sql), 1, "a 429 does not use up an attempt");
    sl_deliveries_free(b, nb);
    snprintf(sql, sizeof(sql),
             "UPDATE deliveries SET attempts = 24, next_attempt_at = now() WHERE id = %lld",
             a[1].id);
    th_db_exec(&tdb, sql);
    ok(sl_queue_claim(db, "inst1/w0", 30, 1, &b, &nb, &err) == SL_OK && nb == 1, "claimed");
    ok(sl_queue_retry(db, &b[0], "inst1/w0", 1, true, &attempt_none, &dead, &err) == SL_OK && dead,
       "the 25th failed attempt: dead");
    snprintf(sql, sizeof(sql),
             "SELECT state || ' ' || attempts || ' ' || last_error FROM deliveries WHERE id = %lld",
             a[1].id);
    row = qs(sql);
    is_str(row, "dead 25 Lever answered 503", "dead after 25 attempts with its last error");
    free(row);
    sl_deliveries_free(b, nb);

    /* requeue (the retry API) */
    json_t *d = NULL;
    ok(sl_queue_requeue(db, "team_q", a[1].id, &d, &err) == SL_OK, "a dead delivery is requeued");
    is_str(json_string_value(json_object_get(d, "state")), "pending", "pending again");
    is_int(json_integer_value(json_object_get(d, "attempts")), 0, "attempts start over");
    ok(json_is_string(json_object_get(d, "next_attempt_at")), "with a next attempt time");
    json_decref(d);
    ok(sl_queue_requeue(db, "team_q", a[0].id, NULL, &err) == SL_ERR_CONFLICT &&
           strstr(err.msg, "delivered"),
       "a delivered one is a conflict naming its state (%s)", err.msg);
    ok(sl_queue_requeue(db, "other_team", a[1].id, NULL, &err) == SL_ERR_NOT_FOUND,
       "another team's delivery is not found");
    ok(sl_queue_requeue(db, "team_q", 999999, NULL, &err) == SL_ERR_NOT_FOUND,
       "an unknown id is not found");
    sl_deliveries_free(a, na);

    /* ---- leases ---- */
    th_db_exec(&tdb, "DELETE FROM deliveries");
    th_db_exec(&tdb, "DELETE FROM applications");
    enqueue("team_q", 2);
    ok(sl_queue_claim(db, "dead-inst/w0", 30, 2, &a, &na, &err) == SL_OK && na == 2, "claimed");
    long long ids[2] = {a[0].id, a[1].id};
    th_db_exec(&tdb, "UPDATE deliveries SET lease_expires_at = now() + interval '2 s'");
    ok(sl_queue_renew(db, "dead-inst", ids, 2, 30, &err) == SL_OK, "renew");
    is_int(q("SELECT count(*) FROM deliveries WHERE lease_expires_at > now() + interval '25 s'"), 2,
           "leases renewed to 30 s");
    ok(sl_queue_renew(db, "other-inst", ids, 2, 1, &err) == SL_OK &&
           q("SELECT count(*) FROM deliveries WHERE lease_expires_at > now() + "
             "interval '25 s'") == 2,
       "another instance cannot renew them");
    ok(sl_queue_claim(db, "inst3/w0", 30, 2, &b, &nb, &err) == SL_OK && nb == 0,
       "a live lease is not claimed");
    th_db_exec(&tdb, "UPDATE deliveries SET lease_expires_at = now() - interval '1 s'");
    ok(sl_queue_claim(db, "inst3/w0", 30, 2, &b, &nb, &err) == SL_OK && nb == 2,
       "an expired lease is claimed by someone else");
    is_str(b[0].prev_state, "running", "from running");
    ok(sl_delivery_resumed(&b[0]), "resumed: the dead owner may have sent a create");
    is_int(b[0].attempts, 1, "the lost attempt counts");
    is_int(q("SELECT count(*) FROM delivery_attempts WHERE error LIKE 'lease expired%'"), 2,
           "and is logged");
    ok(sl_queue_record_opportunity(db, &a[0], "dead-inst/w0", "opp_late", &err) == SL_ERR_CONFLICT,
       "the old owner's late write changes nothing");

    /* release: a started delivery keeps its stamp, an unstarted one gets its old one back */
    ok(sl_queue_release(db, &b[0], "inst3/w0", true, &err) == SL_OK, "release (started)");
    ok(sl_queue_release(db, &b[1], "inst3/w0", false, &err) == SL_OK, "release (not started)");
    snprintf(sql, sizeof(sql),
             "SELECT state || ' ' || (lease_owner IS NULL) || ' ' || (first_attempt_at IS NULL)"
             " FROM deliveries WHERE id = %lld",
             b[0].id);
    row = qs(sql);
    is_str(row, "retrying true false", "released: due again, stamp kept");
    free(row);
    sl_deliveries_free(a, na);
    sl_deliveries_free(b, nb);
    th_db_exec(&tdb, "UPDATE deliveries SET first_attempt_at = NULL, attempts = 0");
    ok(sl_queue_claim(db, "inst4/w0", 30, 2, &a, &na, &err) == SL_OK && na == 2, "claimed");
    ok(sl_queue_release(db, &a[0], "inst4/w0", false, &err) == SL_OK, "released unstarted");
    snprintf(sql, sizeof(sql),
             "SELECT state || ' ' || (first_attempt_at IS NULL) FROM deliveries WHERE id = %lld",
             a[0].id);
    row = qs(sql);
    is_str(row, "pending true", "unstarted: as before the claim");
    free(row);
    long n = 0;
    ok(sl_queue_release_all(db, "inst4", &n, &err) == SL_OK && n == 1,
       "release_all gives back the instance's other lease");
    is_int(q("SELECT count(*) FROM deliveries WHERE state = 'running' OR lease_owner IS NOT NULL"),
           0, "nothing stays leased");
    sl_deliveries_free(a, na);

    /* ---- parking follows the connection ---- */
    ok(sl_queue_claim(db, "inst5/w0", 30, 1, &a, &na, &err) == SL_OK && na == 1, "claimed");
    ok(sl_queue_park(db, &a[0], "inst5/w0", &attempt_none, &err) == SL_OK, "park");
    snprintf(sql, sizeof(sql), "SELECT state || ' ' || attempts FROM deliveries WHERE id = %lld",
             a[0].id);
    row = qs(sql);
    is_str(row, "parked 0", "no connection: parked, no attempt used");
    free(row);
    th_db_exec(&tdb,
               "INSERT INTO lever_connections (team_id, status) VALUES ('team_q', 'revoked')");
    is_int(q("SELECT count(*) FROM deliveries WHERE state = 'parked'"), 2,
           "a revoked connection parks the waiting deliveries too");
    th_db_exec(&tdb, "UPDATE lever_connections SET status = 'active' WHERE team_id = 'team_q'");
    is_int(q("SELECT count(*) FROM deliveries WHERE state = 'pending'"), 2,
           "active again: all queued at once");
    sl_deliveries_free(a, na);
    ok(sl_queue_claim(db, "inst5/w0", 30, 1, &a, &na, &err) == SL_OK && na == 1, "claimed");
    ok(sl_queue_park(db, &a[0], "inst5/w0", &attempt_none, &err) == SL_OK, "park again");
    snprintf(sql, sizeof(sql), "SELECT state FROM deliveries WHERE id = %lld", a[0].id);
    row = qs(sql);
    is_str(row, "pending", "parking while the connection is active queues it instead");
    free(row);
    sl_deliveries_free(a, na);
    th_db_exec(&tdb, "UPDATE lever_connections SET status = 'disconnected'");
    th_db_exec(&tdb, "UPDATE deliveries SET state = 'parked'");
    th_db_exec(&tdb, "UPDATE lever_connections SET status = 'active'");
    ok(sl_queue_unpark_team(db, "team_q", &n, &err) == SL_OK, "unpark (idempotent)");
    is_int(q("SELECT count(*) FROM deliveries WHERE state = 'pending'"), 2, "all pending");

    /* ---- the API reads ---- */
    json_t *list = NULL;
    bool more = false;
    ok(sl_queue_list(db, "team_q", NULL, NULL, 0, 1, &list, &more, &err) == SL_OK, "list");
    ok(json_array_size(list) == 1 && more, "a page of 1, more to come");
    json_t *first = json_array_get(list, 0);
    const char *fields[] = {
        "id",       "application_id", "job_id",          "lever_posting_id",    "state",
        "attempts", "last_error",     "next_attempt_at", "lever_opportunity_id"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        ok(json_object_get(first, fields[i]) != NULL, "field %s", fields[i]);
    long long after = strtoll(json_string_value(json_object_get(first, "id")), NULL, 10);
    json_decref(list);
    ok(sl_queue_list(db, "team_q", NULL, NULL, after, 1, &list, &more, &err) == SL_OK &&
           json_array_size(list) == 1 && !more,
       "the next page is the last");
    json_decref(list);
    ok(sl_queue_list(db, "team_q", "dead", NULL, 0, 10, &list, &more, &err) == SL_OK &&
           json_array_size(list) == 0,
       "state filter");
    json_decref(list);

    /* ---- concurrent claimers never share a row ---- */
    th_db_exec(&tdb, "DELETE FROM deliveries");
    th_db_exec(&tdb, "DELETE FROM applications");
    enqueue("team_q", 200);
    struct claimer cl[4];
    pthread_t t[4];
    memset(cl, 0, sizeof(cl));
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, claim_all, &cl[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int total = 0, dup = 0;
    static char seen[1 << 16];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < cl[i].claimed; k++) {
            total++;
            long long id = cl[i].ids[k] & 0xffff;
            dup += seen[id]++ ? 1 : 0;
        }
    is_int(total, 200, "4 concurrent claimers took 200 rows (%d, %d, %d, %d)", cl[0].claimed,
           cl[1].claimed, cl[2].claimed, cl[3].claimed);
    is_int(dup, 0, "none twice");

    /* ---- paging through 200 by 7: every row once, in numeric id order ---- */
    long long cursor = 0, last = 0;
    int listed = 0, out_of_order = 0;
    for (;;) {
        json_t *page = NULL;
        bool more_rows = false;
        if (sl_queue_list(db, "team_q", NULL, NULL, cursor, 7, &page, &more_rows, &err))
            BAIL_OUT("list: %s", err.msg);
        size_t k;
        json_t *row_j;
        json_array_foreach(page, k, row_j)
        {
            long long id = strtoll(json_string_value(json_object_get(row_j, "id")), NULL, 10);
            out_of_order += id <= last;
            last = id;
            listed++;
        }
        cursor = last;
        json_decref(page);
        if (!more_rows)
            break;
    }
    is_int(listed, 200, "paging by 7 lists the 200 rows");
    is_int(out_of_order, 0, "in increasing id order (numeric, not text: 9 < 10)");

    /* ---- gauges ---- */
    struct sl_buf out;
    sl_buf_init(&out);
    ok(sl_queue_render_gauges(db, &out, &err) == SL_OK, "gauges");
    ok(strstr(out.data, "sl_queue_depth{state=\"running\"} 200") != NULL, "queue depth by state");
    ok(strstr(out.data, "sl_queue_oldest_ready_seconds ") != NULL, "oldest ready age");
    ok(strstr(out.data, "sl_lever_connections{status=\"active\"} 1") != NULL,
       "connections by status");
    sl_buf_cleanup(&out);

    PQfinish(listener);
    sl_db_close(db);
    th_db_drop(&tdb);
    return done_testing();
}
