/* A database that is down at start, or goes away later: the service serves
 * /health, says 503 on /ready quickly, and recovers without a restart. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

int main(void)
{
    struct th_db db;
    th_db_create_empty(&db); /* the service must migrate it once it can reach it */
    struct th_proxy *proxy = th_proxy_start(th_pg_port());
    th_proxy_set_down(proxy, true);

    char url[600];
    snprintf(url, sizeof(url), "DATABASE_URL=host=127.0.0.1 port=%d user=postgres dbname=%s",
             th_proxy_port(proxy), db.name);
    const char *env[] = {url, NULL};
    struct th_service svc;
    ok(th_service_start(&svc, "serve", env, 20), "starts while the database is down");

    struct th_resp r;
    th_get(&r, &svc, "/health");
    is_int(r.status, 200, "/health 200 without a database");
    th_resp_free(&r);
    th_get(&r, &svc, "/ready");
    is_int(r.status, 503, "/ready 503 without a database");
    ok(r.seconds < 3.0, "and answers fast (%.3f s)", r.seconds);
    th_resp_free(&r);

    th_proxy_set_down(proxy, false);
    ok(th_wait_status(&svc, "/ready", 200, 10000), "/ready turns 200 once the database is up");
    is_int(th_db_long(&db, "SELECT count(*) FROM schema_migrations"),
           th_db_long(&db, "SELECT max(version) FROM schema_migrations"),
           "the service migrated it meanwhile");

    /* An outage after start: pooled connections break; requests fail fast. */
    th_proxy_set_down(proxy, true);
    th_get(&r, &svc, "/ready");
    is_int(r.status, 503, "/ready 503 during an outage");
    ok(r.seconds < 3.0, "fails fast (%.3f s)", r.seconds);
    th_resp_free(&r);
    long long t0 = th_now_ms();
    int slow = 0;
    for (int i = 0; i < 20; i++) {
        th_get(&r, &svc, "/ready");
        slow += r.seconds > 1.0;
        th_resp_free(&r);
    }
    ok(slow == 0, "20 requests during the outage, none slow (%lld ms in all)", th_now_ms() - t0);
    th_get(&r, &svc, "/health");
    is_int(r.status, 200, "/health still 200");
    th_resp_free(&r);

    th_proxy_set_down(proxy, false);
    ok(th_wait_status(&svc, "/ready", 200, 10000), "recovers without a restart");

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");
    th_proxy_stop(proxy);
    th_db_drop(&db);
    return done_testing();
}
