/* Two instances on one database (SPEC 7): 300 applications are delivered once each, and
 * the shared token bucket keeps the fake Lever under SL_LEVER_RPS requests a second per
 * account (bucket of SL_LEVER_RPS aside): no 429, ever. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

#define N 300
#define RPS 50

int main(void)
{
    struct fake_lever *fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    /* Lever's own rule: a steady rate, bursts to twice it. */
    fake_lever_set_rate_limit(fake, RPS, 2 * RPS);
    fake_lever_set_latency_ms(fake, 5);
    const char *posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published",
                                                 "public", "Eng", "London");
    struct th_db db;
    th_db_create(&db);
    tf_lever_env(fake);
    /* Two teams connected to the same Lever account share its bucket. */
    free(tf_connect_team(&db, fake, "team_s1", "acct_1", 3600));
    free(tf_connect_team(&db, fake, "team_s2", "acct_1", 3600));
    td_sync_job(&db, "team_s1", "job_s", posting);
    td_sync_job(&db, "team_s2", "job_s", posting);

    char rps[32];
    snprintf(rps, sizeof(rps), "SL_LEVER_RPS=%d", RPS);
    const char *extra[] = {"SL_WORKERS=4", rps, NULL};
    struct th_service a, b;
    td_start(&a, &db, fake, extra);
    td_start(&b, &db, fake, extra);
    long long t0 = th_now_ms();
    td_ingest(&db, "team_s1", "job_s", "s1_", N / 2, true);
    td_ingest(&db, "team_s2", "job_s", "s2_", N / 2, true);

    long delivered =
        td_wait_count(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", N, 90000);
    double elapsed = (double)(th_now_ms() - t0) / 1000;
    is_int(delivered, N, "all %d delivered by two instances (%.1f s)", N, elapsed);
    long by_a = 0, by_b = 0;
    char *log_a = th_service_log(&a), *log_b = th_service_log(&b);
    for (char *p = log_a; (p = strstr(p, "\"outcome\":\"delivered\"")); p++)
        by_a++;
    for (char *p = log_b; (p = strstr(p, "\"outcome\":\"delivered\"")); p++)
        by_b++;
    free(log_a);
    free(log_b);
    ok(by_a > 0 && by_b > 0 && by_a + by_b == N, "both instances worked (%ld + %ld)", by_a, by_b);

    struct td_audit audit;
    td_audit(fake, posting, &audit);
    is_int(audit.opportunities, N, "exactly %d opportunities", N);
    is_int(audit.duplicate_pairs, 0, "no duplicates");
    is_int(audit.bad_notes, 0, "each with exactly one note");

    int max_rps = fake_lever_max_rps(fake, "acct_1");
    int total = fake_lever_count(fake, NULL, "/v1/");
    /* The bucket allows RPS at once plus RPS over the second; a few more may land in one
     * window at the fake when their network delays differ. */
    ok(max_rps <= 2 * RPS + RPS / 10,
       "at most bucket %d + rate %d in any one-second window, jitter aside (%d)", RPS, RPS,
       max_rps);
    double steady = (double)(total - RPS) / elapsed;
    ok(steady <= RPS * 1.05, "%d requests in %.1f s: %.1f/s beyond the bucket, at most %d/s", total,
       elapsed, steady, RPS);
    is_int(fake_lever_count_429(fake), 0, "the fake never answered 429");

    is_int(th_service_stop(&a, SIGTERM, 15), 0, "instance a: exit 0");
    is_int(th_service_stop(&b, SIGTERM, 15), 0, "instance b: exit 0");
    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
