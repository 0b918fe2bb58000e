/* Crashes (SPEC 7 leases, SPEC 6 exactly once): `kill -9` of the service three times
 * during a 300-application backfill with 200 ms of Lever latency, restarting it each time:
 * exactly 300 opportunities, no duplicates, and what the last killed process held is taken
 * up again within 30 seconds of the restart. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

#define N 300

static const char DELIVERED[] =
    "SELECT count(*) FROM deliveries WHERE team_id = 'team_k' AND state = 'delivered'";

int main(void)
{
    struct fake_lever *fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(fake, 100, 200);
    fake_lever_set_latency_ms(fake, 200);
    const char *posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published",
                                                 "public", "Eng", "London");
    struct th_db db;
    th_db_create(&db);
    tf_lever_env(fake);
    free(tf_connect_team(&db, fake, "team_k", "acct_1", 3600));
    td_sync_job(&db, "team_k", "job_k", posting);
    td_ingest(&db, "team_k", "job_k", "k", N, true);

    const char *extra[] = {"SL_WORKERS=16", "SL_LEVER_RPS=100", NULL};
    struct th_service svc;
    long marks[3] = {40, 110, 180};
    for (int round = 0; round < 3; round++) {
        td_start(&svc, &db, fake, extra);
        long got = td_wait_count(&db, DELIVERED, -1, 0);
        long long until = th_now_ms() + 60000;
        while (got < marks[round] && th_now_ms() < until)
            got = td_wait_count(&db, DELIVERED, marks[round], 200);
        long running = th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'running'");
        is_int(th_service_stop(&svc, SIGKILL, 5), 128 + SIGKILL,
               "kill -9 #%d with %ld delivered, %ld in flight", round + 1, got, running);
        ok(running > 0, "it held deliveries when it died");
    }

    /* The last restart: what the dead processes held comes back when their leases run out. */
    long held = th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'running'");
    td_start(&svc, &db, fake, extra);
    long long restarted = th_now_ms();
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM deliveries WHERE state = 'running'"
             " AND lease_owner NOT LIKE '%%/%d/%%'",
             (int)svc.pid);
    long left = td_wait_count(&db, sql, 0, 40000);
    double taken_up_s = (double)(th_now_ms() - restarted) / 1000;
    is_int(left, 0, "the %ld deliveries the killed processes held were claimed again", held);
    ok(taken_up_s <= 30.0, "within 30 s of the restart (%.1f s)", taken_up_s);
    ok(th_db_long(&db, "SELECT count(*) FROM delivery_attempts"
                       " WHERE error LIKE 'lease expired%'") >= held,
       "each lost attempt is in the attempts log");

    long delivered = td_wait_count(&db, DELIVERED, N, 60000);
    is_int(delivered, N, "all %d delivered", N);
    struct td_audit audit;
    td_audit(fake, posting, &audit);
    is_int(audit.opportunities, N, "exactly %d opportunities", N);
    is_int(audit.duplicate_pairs, 0, "no duplicates");
    is_int(audit.bad_notes, 0, "each with exactly one note");
    is_int(fake_lever_count_429(fake), 0, "and Lever never rate-limited us");

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "SIGTERM: exit 0");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL"), 0,
           "nothing leased");
    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
