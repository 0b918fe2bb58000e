/* `stakha-lever migrate` run twice at once, and an edited migration at `serve`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

int main(void)
{
    struct th_db db;
    th_db_create_empty(&db);
    struct th_service a, b;
    th_service_start(&a, "migrate", th_env(&db, NULL), 0);
    th_service_start(&b, "migrate", th_env(&db, NULL), 0);
    is_int(th_service_wait(&a, 30), 0, "first migrate exits 0");
    is_int(th_service_wait(&b, 30), 0, "second migrate exits 0");
    long max = th_db_long(&db, "SELECT max(version) FROM schema_migrations");
    ok(max >= 1, "migrations recorded");
    is_int(th_db_long(&db, "SELECT count(*) FROM schema_migrations"), max,
           "each migration recorded once");
    th_db_drop(&db);

    /* Migrations read from a directory; one edited after being applied. */
    char dir[256], cmd[768];
    th_tempdir(dir, sizeof(dir));
    snprintf(cmd, sizeof(cmd), "cp migrations/*.sql %s/", dir);
    if (system(cmd) != 0)
        BAIL_OUT("cannot copy migrations");
    char dirsetting[300];
    snprintf(dirsetting, sizeof(dirsetting), "SL_MIGRATIONS_DIR=%s", dir);
    const char *extra[] = {dirsetting, NULL};
    th_db_create_empty(&db);
    struct th_service m;
    th_service_start(&m, "migrate", th_env(&db, extra), 0);
    is_int(th_service_wait(&m, 30), 0, "migrate from SL_MIGRATIONS_DIR");

    snprintf(cmd, sizeof(cmd), "echo '-- edited' >> %s/0001_webhook_inbox.sql", dir);
    if (system(cmd) != 0)
        BAIL_OUT("cannot edit");
    struct th_service svc;
    ok(!th_service_start(&svc, "serve", th_env(&db, extra), 15), "serve refuses to start");
    ok(th_service_log_contains(&svc, "0001_webhook_inbox.sql") &&
           th_service_log_contains(&svc, "changed after it was applied"),
       "and says which file was changed");
    th_service_stop(&svc, SIGKILL, 5);
    th_db_drop(&db);
    return done_testing();
}
