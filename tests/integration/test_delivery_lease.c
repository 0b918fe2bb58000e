/* Leases are renewed while a live instance works (SPEC 7): deliveries that take longer
 * than the lease are never taken over by the other instance, so nothing is claimed twice
 * and no attempt is lost. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

#define N 4

int main(void)
{
    struct fake_lever *fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_latency_ms(fake, 1500); /* a delivery: 3 requests, 4.5 s > the 3 s lease */
    const char *posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published",
                                                 "public", "Eng", "London");
    struct th_db db;
    th_db_create(&db);
    tf_lever_env(fake);
    free(tf_connect_team(&db, fake, "team_l", "acct_1", 3600));
    td_sync_job(&db, "team_l", "job_l", posting);
    td_ingest(&db, "team_l", "job_l", "l", N, true);

    const char *extra[] = {"SL_WORKERS=1", "SL_LEASE_SECONDS=3", NULL};
    struct th_service a, b;
    td_start(&a, &db, fake, extra);
    td_start(&b, &db, fake, extra);
    long delivered =
        td_wait_count(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", N, 40000);
    is_int(delivered, N, "all %d delivered", N);
    is_int(th_db_long(&db, "SELECT count(*) FROM delivery_attempts WHERE error LIKE 'lease%'"), 0,
           "no lease ran out while its instance worked");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE attempts <> 1"), 0,
           "each delivered at its first attempt");
    is_int(fake_lever_count(fake, "POST", "/v1/opportunities$"), N, "one create each");
    struct td_audit audit;
    td_audit(fake, posting, &audit);
    ok(audit.opportunities == N && audit.duplicate_pairs == 0 && audit.bad_notes == 0,
       "exactly once");
    is_int(th_service_stop(&a, SIGTERM, 15), 0, "exit 0");
    is_int(th_service_stop(&b, SIGTERM, 15), 0, "exit 0");
    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
