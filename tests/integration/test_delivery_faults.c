/* Exactly once under faults (SPEC 6 and 7): 200 applications while the fake Lever fails
 * 20 % of requests with 5xx, drops 10 % of opportunity and note answers after doing the
 * work, and answers bursts of 429 with Retry-After: in the end exactly 200 opportunities,
 * one per (email, posting), each with exactly one note; nothing dead. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

#define N 200

static struct fake_lever *fake;
static atomic_bool bursting;

/* Six times, 0.7 s apart, the next 10 Data API requests are answered 429 with
 * Retry-After: 1 (a finite number: an endless stream would starve whatever retries last). */
static void *bursts(void *arg)
{
    (void)arg;
    for (int burst = 0; burst < 6 && atomic_load(&bursting); burst++) {
        for (int i = 0; i < 10; i++)
            fake_lever_push_response(fake, NULL, "/v1/", 429,
                                     "{\"code\":\"TooManyRequests\",\"message\":\"Rate limit "
                                     "exceeded. Please retry later.\"}",
                                     1);
        struct timespec ts = {0, 700 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void)
{
    fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    fake_lever_seed(fake, 20261204);
    fake_lever_set_rate_limit(fake, 100, 200);
    const char *posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published",
                                                 "public", "Eng", "London");
    struct th_db db;
    th_db_create(&db);
    tf_lever_env(fake);
    free(tf_connect_team(&db, fake, "team_f", "acct_1", 3600));
    td_sync_job(&db, "team_f", "job_f", posting);

    fake_lever_set_fault_rate(fake, NULL, "/v1", 200, 0);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities", 200, 100);
    atomic_init(&bursting, true);
    pthread_t burst_thread;
    pthread_create(&burst_thread, NULL, bursts, NULL);
    struct td_time_travel *tt = td_time_travel_start(&db);

    td_ingest(&db, "team_f", "job_f", "f", N, true);
    struct th_service svc;
    const char *extra[] = {"SL_WORKERS=8", "SL_LEVER_RPS=100", NULL};
    long long t0 = th_now_ms();
    td_start(&svc, &db, fake, extra);

    long delivered = td_wait_count(
        &db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_f' AND state = 'delivered'", N,
        90000);
    diag("%ld delivered in %.1f s", delivered, (double)(th_now_ms() - t0) / 1000);
    atomic_store(&bursting, false);
    pthread_join(burst_thread, NULL);
    td_time_travel_stop(tt);
    is_int(delivered, N, "all %d delivered", N);
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'dead'"), 0, "none dead");

    int fails = 0, drops = 0, r429 = 0, lookups = 0;
    json_t *reqs = fake_lever_requests(fake);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        long st = (long)json_integer_value(json_object_get(r, "status"));
        fails += st >= 500;
        drops += json_is_true(json_object_get(r, "dropped"));
        r429 += st == 429;
        lookups += strcmp(json_string_value(json_object_get(r, "method")), "GET") == 0 &&
                   strcmp(json_string_value(json_object_get(r, "path")), "/v1/opportunities") == 0;
    }
    json_decref(reqs);
    diag("the fake answered %d 5xx, dropped %d answers, sent %d 429; %d lookups", fails, drops,
         r429, lookups);
    ok(fails > 50 && drops > 20 && r429 >= 60, "faults of every kind happened");
    ok(lookups > 0, "creates whose answer was lost were looked up");
    long logged_429 =
        th_db_long(&db, "SELECT count(*) FROM delivery_attempts WHERE http_status = 429");
    ok(logged_429 > 0, "attempts that met a 429 are in the attempts log (%ld)", logged_429);

    struct td_audit audit;
    td_audit(fake, posting, &audit);
    is_int(audit.opportunities, N, "exactly %d opportunities on the posting", N);
    is_int(audit.duplicate_pairs, 0, "one per (email, posting)");
    is_int(audit.bad_notes, 0, "each with exactly one Stakha note");
    is_int(fake_lever_opportunity_count(fake), N, "and no other opportunity anywhere");
    is_int(th_db_long(&db, "SELECT count(DISTINCT lever_opportunity_id) FROM deliveries"
                           " WHERE state = 'delivered'"),
           N, "each delivery records its own opportunity");

    /* 429s did not use up attempts: a delivery's attempts count only other failures. */
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries d WHERE attempts <>"
                           " (SELECT count(*) FROM delivery_attempts a WHERE"
                           " a.delivery_id = d.id AND coalesce(a.http_status, 0) <> 429)"),
           0, "attempts count every logged attempt but those that met a 429");

    is_int(th_service_stop(&svc, 15, 15), 0, "SIGTERM: exit 0");
    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
