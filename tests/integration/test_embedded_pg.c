/* `serve` without DATABASE_URL: its own PostgreSQL, created once, reused,
 * stopped on exit, not left behind when the service is killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

/* Live processes run from `data` (only PostgreSQL's command lines name it). */
static int processes_with(const char *data)
{
    return th_processes(data, 0, NULL);
}

static bool gone_within(const char *needle, int ms)
{
    long long deadline = th_now_ms() + ms;
    while (processes_with(needle) > 0 && th_now_ms() < deadline)
        usleep(50 * 1000);
    return processes_with(needle) == 0;
}

int main(void)
{
    char dir[256], data[300], setting[320];
    th_tempdir(dir, sizeof(dir));
    snprintf(data, sizeof(data), "%s/var", dir);
    snprintf(setting, sizeof(setting), "SL_DATA_DIR=%s", data);
    const char *env[] = {setting, NULL};

    struct th_service svc;
    long long t0 = th_now_ms();
    ok(th_service_start(&svc, "serve", env, 60), "serve starts without DATABASE_URL");
    ok(th_wait_status(&svc, "/health", 200, 15000), "/health 200 (%lld ms after start)",
       th_now_ms() - t0);
    ok(th_wait_status(&svc, "/ready", 200, 15000), "/ready 200");
    ok(th_service_log_contains(&svc, "creating a PostgreSQL cluster"), "created a cluster");
    ok(processes_with(data) > 0, "a PostgreSQL runs from the data directory");
    is_int(th_service_stop(&svc, SIGINT, 30), 0, "SIGINT: exit 0");
    ok(gone_within(data, 5000), "no PostgreSQL left running from the data directory");

    t0 = th_now_ms();
    ok(th_service_start(&svc, "serve", env, 60), "second start");
    ok(!th_service_log_contains(&svc, "creating a PostgreSQL cluster"), "reuses the cluster");
    ok(th_wait_status(&svc, "/ready", 200, 15000), "/ready 200 (%lld ms)", th_now_ms() - t0);
    is_int(th_service_stop(&svc, SIGTERM, 30), 0, "SIGTERM: exit 0");
    ok(gone_within(data, 5000), "cluster stopped again");

    /* A postmaster.pid left by a crash names a process that is gone. */
    char pidfile[400];
    snprintf(pidfile, sizeof(pidfile), "%s/pg/postmaster.pid", data);
    FILE *f = fopen(pidfile, "w");
    fprintf(f, "999999\n%s/pg\n1700000000\n5432\n", data);
    fclose(f);
    ok(th_service_start(&svc, "serve", env, 60), "starts despite a stale postmaster.pid");
    ok(th_wait_status(&svc, "/ready", 200, 15000), "/ready 200");

    /* Killed outright: the cluster follows it. */
    th_service_stop(&svc, SIGKILL, 10);
    ok(gone_within(data, 10000), "SIGKILL of the service: its PostgreSQL stops too");
    ok(th_service_start(&svc, "serve", env, 60), "and the next start works");
    ok(th_wait_status(&svc, "/ready", 200, 15000), "/ready 200");
    is_int(th_service_stop(&svc, SIGTERM, 30), 0, "exit 0");
    ok(gone_within(data, 5000), "nothing left running");
    return done_testing();
}
