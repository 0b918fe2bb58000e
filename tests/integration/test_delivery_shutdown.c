/* SIGTERM during deliveries (SPEC 8 and 9): exit 0 within 15 s with nothing leased.
 * - quick deliveries: the ones in flight are finished whole (opportunity and note);
 * - slow ones (longer than SL_SHUTDOWN_TIMEOUT): released where they stopped, and finished
 *   once by the next start;
 * - a request still hanging after the deadline: its delivery is released all the same. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

static struct th_db db;

static long count(const char *sql)
{
    return th_db_long(&db, sql);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the count query `sql` reaches at least `n`. */
static void wait_at_least(const char *sql, long n, int timeout_ms)
{
    long long until = th_now_ms() + timeout_ms;
    while (count(sql) < n && th_now_ms() < until)
        sleep_ms(50);
}

int main(void)
{
    struct fake_lever *fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(fake, 200, 400);
    const char *posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published",
                                                 "public", "Eng", "London");
    th_db_create(&db);
    tf_lever_env(fake);
    free(tf_connect_team(&db, fake, "team_x", "acct_1", 3600));
    td_sync_job(&db, "team_x", "job_x", posting);
    struct th_service svc;

    /* ---- quick deliveries: finished whole ---- */
    fake_lever_set_latency_ms(fake, 100);
    td_ingest(&db, "team_x", "job_x", "q", 200, true);
    const char *quick[] = {"SL_WORKERS=4", "SL_LEVER_RPS=200", NULL};
    td_start(&svc, &db, fake, quick);
    wait_at_least("SELECT count(*) FROM deliveries WHERE state = 'delivered'", 12, 20000);
    long in_flight = count("SELECT count(*) FROM deliveries WHERE state = 'running'");
    long long t0 = th_now_ms();
    int rc = th_service_stop(&svc, SIGTERM, 20);
    double took = (double)(th_now_ms() - t0) / 1000;
    is_int(rc, 0, "SIGTERM with %ld deliveries claimed: exit 0", in_flight);
    ok(took < 15, "within 15 s (%.1f s)", took);
    is_int(count("SELECT count(*) FROM deliveries WHERE state = 'running'"
                 " OR lease_owner IS NOT NULL OR lease_expires_at IS NOT NULL"),
           0, "nothing stays leased");
    is_int(count("SELECT count(*) FROM deliveries WHERE lever_opportunity_id IS NOT NULL"
                 " AND state <> 'delivered'"),
           0, "deliveries in flight were finished whole, not left half done");
    long delivered = count("SELECT count(*) FROM deliveries WHERE state = 'delivered'");
    is_int(fake_lever_opportunity_count(fake), delivered,
           "Lever has exactly the %ld delivered ones", delivered);

    /* ---- slow deliveries: released at the deadline, resumed by the next start ---- */
    /* One worker; every answer takes 2.5 s: the stage list, the create, the note. SIGTERM as
     * the stage list is answered (the fake records a request when it answers), so the create
     * starts in time but answers after the 2 s deadline: the note is not started. */
    fake_lever_set_latency_ms(fake, 2500);
    int stages = fake_lever_count(fake, "GET", "/v1/stages");
    const char *slow[] = {"SL_WORKERS=1", "SL_LEVER_RPS=200", "SL_SHUTDOWN_TIMEOUT=2", NULL};
    td_start(&svc, &db, fake, slow);
    long long until = th_now_ms() + 15000;
    while (fake_lever_count(fake, "GET", "/v1/stages") == stages && th_now_ms() < until)
        sleep_ms(10);
    t0 = th_now_ms();
    rc = th_service_stop(&svc, SIGTERM, 20);
    took = (double)(th_now_ms() - t0) / 1000;
    is_int(rc, 0, "slow deliveries: exit 0");
    ok(took < 15 && took >= 1.5, "after the 2 s deadline, within 15 s (%.1f s)", took);
    is_int(count("SELECT count(*) FROM deliveries WHERE state = 'running'"
                 " OR lease_owner IS NOT NULL"),
           0, "nothing stays leased");
    char *log = th_service_log(&svc);
    ok(strstr(log, "\"outcome\":\"released\"") != NULL,
       "the delivery that could not finish in time was released");
    free(log);
    is_int(count("SELECT count(*) FROM deliveries WHERE lever_opportunity_id IS NOT NULL"
                 " AND state <> 'delivered'"),
           1, "it keeps the opportunity it created, to resume at the note");

    /* ---- a request hanging past the deadline: released from outside ---- */
    fake_lever_set_latency_ms(fake, 9000);
    const char *stuck[] = {"SL_WORKERS=1", "SL_LEVER_RPS=200", "SL_SHUTDOWN_TIMEOUT=1", NULL};
    td_start(&svc, &db, fake, stuck);
    wait_at_least("SELECT count(*) FROM deliveries WHERE state = 'running'", 1, 10000);
    sleep_ms(500);
    t0 = th_now_ms();
    rc = th_service_stop(&svc, SIGTERM, 20);
    took = (double)(th_now_ms() - t0) / 1000;
    is_int(rc, 0, "a worker stuck in a request: exit 0 all the same");
    ok(took < 8, "after the deadline and a short grace (%.1f s)", took);
    is_int(count("SELECT count(*) FROM deliveries WHERE state = 'running'"
                 " OR lease_owner IS NOT NULL"),
           0, "nothing stays leased");
    log = th_service_log(&svc);
    ok(strstr(log, "workers_abandoned") != NULL, "the stuck worker was abandoned, said so");
    free(log);

    /* ---- the next start finishes everything, once ---- */
    fake_lever_set_latency_ms(fake, 0);
    const char *fast[] = {"SL_WORKERS=4", "SL_LEVER_RPS=200", NULL};
    td_start(&svc, &db, fake, fast);
    delivered =
        td_wait_count(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", 200, 60000);
    is_int(delivered, 200, "all 200 delivered in the end");
    struct td_audit audit;
    td_audit(fake, posting, &audit);
    is_int(audit.opportunities, 200, "exactly 200 opportunities");
    is_int(audit.duplicate_pairs, 0, "no duplicates");
    is_int(audit.bad_notes, 0, "each with exactly one note");
    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");

    fake_lever_stop(fake);
    th_db_drop(&db);
    return done_testing();
}
