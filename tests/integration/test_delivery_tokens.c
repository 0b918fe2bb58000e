/* Tokens and revocation during deliveries (SPEC 7):
 * - access tokens that live 5 s: deliveries go on across expiries, refresh tokens rotate and
 *   none is ever reused;
 * - the grant revoked mid-backfill: the connection becomes `revoked`, the rest of the
 *   deliveries `parked` (none `dead`, no attempt used); a new authorization delivers all of
 *   them, once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

#define N_SHORT 60
#define N_REVOKE 150

int main(void)
{
    struct fake_lever *fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(fake, 100, 200);
    fake_lever_set_latency_ms(fake, 10);
    const char *p1 = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published", "public",
                                            "Eng", "London");
    const char *p2 = fake_lever_add_posting(fake, "acct_r", NULL, "Designer", "published", "public",
                                            "Design", "Paris");
    struct th_db db;
    th_db_create(&db);
    tf_lever_env(fake);

    /* ---- tokens that live 5 s ---- */
    fake_lever_set_token_lifetime(fake, 5);
    free(tf_connect_team(&db, fake, "team_t", "acct_1", 5));
    td_sync_job(&db, "team_t", "job_t", p1);
    const char *extra[] = {"SL_WORKERS=4", "SL_LEVER_RPS=100", NULL};
    struct th_service svc;
    td_start(&svc, &db, fake, extra);
    /* In three waves, so that deliveries run before and after the first token expires. */
    for (int wave = 0; wave < 3; wave++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "t%d_", wave);
        td_ingest(&db, "team_t", "job_t", prefix, N_SHORT / 3, true);
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM deliveries WHERE team_id = 'team_t' AND state = "
                 "'delivered'");
        td_wait_count(&db, sql, (wave + 1) * (N_SHORT / 3), 30000);
        if (wave < 2) {
            struct timespec ts = {3, 0};
            nanosleep(&ts, NULL);
        }
    }
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_t'"
                           " AND state = 'delivered'"),
           N_SHORT, "all %d delivered across token expiries", N_SHORT);
    ok(fake_lever_refresh_count(fake) >= 2, "tokens were refreshed (%d times)",
       fake_lever_refresh_count(fake));
    is_int(fake_lever_reuse_count(fake), 0, "no refresh token was ever reused");
    char *status = th_db_value(&db,
                               "SELECT status FROM lever_connections"
                               " WHERE team_id = 'team_t'",
                               0, NULL);
    is_str(status, "active", "the connection is still active");
    free(status);
    struct td_audit audit;
    td_audit(fake, p1, &audit);
    ok(audit.opportunities == N_SHORT && audit.duplicate_pairs == 0 && audit.bad_notes == 0,
       "exactly once (%d opportunities, %d duplicates, %d bad notes)", audit.opportunities,
       audit.duplicate_pairs, audit.bad_notes);
    fake_lever_set_token_lifetime(fake, 3600);

    /* ---- revoked mid-backfill ---- */
    free(tf_connect_team(&db, fake, "team_r", "acct_r", 3600));
    td_sync_job(&db, "team_r", "job_r", p2);
    fake_lever_set_latency_ms(fake, 40);
    td_ingest(&db, "team_r", "job_r", "r", N_REVOKE, true);
    long long until = th_now_ms() + 30000;
    while (th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                           " AND state = 'delivered'") < 30 &&
           th_now_ms() < until) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fake_lever_revoke(fake, "acct_r");
    long settled = td_wait_count(&db,
                                 "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                                 " AND state IN ('pending', 'running', 'retrying')",
                                 0, 30000);
    is_int(settled, 0, "after the revocation nothing of the team is pending or running");
    status =
        th_db_value(&db, "SELECT status FROM lever_connections WHERE team_id = 'team_r'", 0, NULL);
    is_str(status, "revoked", "the connection is revoked");
    free(status);
    long delivered = th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                                     " AND state = 'delivered'");
    long parked = th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                                  " AND state = 'parked'");
    ok(parked > 0 && delivered + parked == N_REVOKE,
       "the rest is parked (%ld delivered, %ld parked)", delivered, parked);
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'dead'"), 0, "none dead");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                           " AND state = 'parked' AND attempts > 0"),
           0, "parking used no attempt");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_t'"
                           " AND state <> 'delivered'"),
           0, "the other team, on another account, is untouched");

    /* A new authorization (a new grant) resumes them. */
    free(tf_connect_team(&db, fake, "team_r", "acct_r", 3600));
    delivered = td_wait_count(&db,
                              "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                              " AND state = 'delivered'",
                              N_REVOKE, 30000);
    is_int(delivered, N_REVOKE, "after re-authorization all %d are delivered", N_REVOKE);
    td_audit(fake, p2, &audit);
    is_int(audit.opportunities, N_REVOKE, "exactly %d opportunities", N_REVOKE);
    is_int(audit.duplicate_pairs, 0, "no duplicates");
    is_int(audit.bad_notes, 0, "each with exactly one note");
    is_int(fake_lever_reuse_count(fake), 0, "still no refresh token reused");

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "SIGTERM: exit 0");
    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
