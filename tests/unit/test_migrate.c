/* Unit tests of server/migrate.c against the run's PostgreSQL. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "harness.h"
#include "migrate.h"
#include "tap.h"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static struct sl_db *connect_db(const struct th_db *db)
{
    struct sl_db *c = NULL;
    struct sl_err err;
    if (sl_db_connect(db->url, 5, &c, &err))
        BAIL_OUT("%s", err.msg);
    return c;
}

struct runner {
    const struct th_db *db;
    const struct sl_migration_set *set;
    int applied;
    enum sl_rc rc;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    struct sl_db *c = connect_db(r->db);
    struct sl_err err;
    r->rc = sl_migrate_run(c, r->set, &r->applied, &err);
    sl_db_close(c);
    return NULL;
}

int main(void)
{
    char dir[256];
    th_tempdir(dir, sizeof(dir));
    write_file(dir, "0001_first.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
    write_file(dir, "0002_second.sql", "ALTER TABLE a ADD COLUMN name text;");
    write_file(dir, "README.txt", "not a migration");

    struct sl_migration_set *set = NULL;
    struct sl_err err = {0};
    ok(sl_migrations_load_dir(dir, &set, &err) == SL_OK, "loads a directory");
    is_int(set->count, 2, "two migrations, other files ignored");
    is_int(set->items[0].version, 1, "sorted by number");
    is_int(strlen(set->items[0].checksum), 64, "sha-256 checksum");

    struct th_db db;
    th_db_create_empty(&db);
    struct sl_db *c = connect_db(&db);
    int applied = -1;
    ok(sl_migrate_run(c, set, &applied, &err) == SL_OK, "applies to an empty database");
    is_int(applied, 2, "both applied");
    is_int(th_db_long(&db, "SELECT count(*) FROM schema_migrations"), 2, "both recorded");
    is_int(th_db_long(&db, "SELECT count(*) FROM information_schema.columns WHERE table_name='a'"),
           2, "the second migration ran after the first");
    ok(sl_migrate_check_current(c, set, &err) == SL_OK, "schema is current");

    ok(sl_migrate_run(c, set, &applied, &err) == SL_OK && applied == 0, "second run applies none");

    /* A new migration that fails leaves nothing behind. */
    write_file(dir, "0003_broken.sql", "CREATE TABLE c (id int);\nSELECT no_such_function();");
    struct sl_migration_set *set3 = NULL;
    ok(sl_migrations_load_dir(dir, &set3, &err) == SL_OK, "loads three");
    ok(sl_migrate_check_current(c, set3, &err) == SL_ERR_CONFLICT &&
           strstr(err.msg, "0003_broken.sql"),
       "not current names the missing migration: %s", err.msg);
    enum sl_rc rc = sl_migrate_run(c, set3, &applied, &err);
    ok(rc != SL_OK && strstr(err.msg, "0003_broken.sql"), "failure names the file: %s", err.msg);
    is_int(th_db_long(&db, "SELECT count(*) FROM information_schema.tables WHERE table_name='c'"),
           0, "its transaction rolled back");
    is_int(th_db_long(&db, "SELECT count(*) FROM schema_migrations"), 2, "not recorded");
    sl_migration_set_destroy(set3);

    /* An applied migration that changed stops the run, naming the file. */
    write_file(dir, "0003_broken.sql", "CREATE TABLE c (id int);");
    write_file(dir, "0001_first.sql", "CREATE TABLE a (id bigint);\nCREATE TABLE b (id int);\n");
    struct sl_migration_set *edited = NULL;
    ok(sl_migrations_load_dir(dir, &edited, &err) == SL_OK, "loads the edited set");
    rc = sl_migrate_run(c, edited, &applied, &err);
    ok(rc == SL_ERR_CONFLICT && strstr(err.msg, "0001_first.sql") && strstr(err.msg, "changed"),
       "edited migration refused: %s", err.msg);
    is_int(th_db_long(&db, "SELECT count(*) FROM information_schema.tables WHERE table_name='c'"),
           0, "nothing after it applied");
    sl_migration_set_destroy(edited);
    sl_db_close(c);
    th_db_drop(&db);

    /* Bad names are refused. */
    char bad[256];
    th_tempdir(bad, sizeof(bad));
    write_file(bad, "init.sql", "SELECT 1;");
    struct sl_migration_set *none = NULL;
    ok(sl_migrations_load_dir(bad, &none, &err) == SL_ERR_CONFIG && strstr(err.msg, "init.sql"),
       "unnumbered file refused: %s", err.msg);
    th_tempdir(bad, sizeof(bad));
    write_file(bad, "0001_a.sql", "SELECT 1;");
    write_file(bad, "0001_b.sql", "SELECT 1;");
    ok(sl_migrations_load_dir(bad, &none, &err) == SL_ERR_CONFIG && strstr(err.msg, "share"),
       "duplicate number refused: %s", err.msg);

    /* Four runners at once on an empty database: each migration applied once. */
    struct th_db db2;
    th_db_create_empty(&db2);
    struct runner runners[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        runners[i] = (struct runner){.db = &db2, .set = set};
        pthread_create(&threads[i], NULL, run_thread, &runners[i]);
    }
    int total = 0, good = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        total += runners[i].applied;
        good += runners[i].rc == SL_OK;
    }
    is_int(good, 4, "concurrent runners all succeed");
    is_int(total, 2, "each migration applied exactly once in total");
    is_int(th_db_long(&db2, "SELECT count(*) FROM schema_migrations"), 2, "recorded once");
    th_db_drop(&db2);

    /* The built-in set is what migrations/ holds. */
    struct sl_migration_set *builtin = sl_migrations_builtin();
    ok(builtin->count >= 1 && builtin->items[0].version == 1, "built-in migrations present");
    sl_migration_set_destroy(builtin);
    sl_migration_set_destroy(set);
    return done_testing();
}
