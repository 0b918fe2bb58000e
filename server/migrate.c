/*
 * migrate.c: applies migrations/NNNN_*.sql in order, once.
 *
 * Design: the runner takes a session-level advisory lock (a constant key)
 * before it looks at `schema_migrations`, so two instances starting at once
 * queue behind each other and the second finds everything applied. Each
 * migration runs in its own transaction together with its bookkeeping row,
 * so a failure leaves the schema at the previous version. Checksums of
 * applied files are compared on every run: an edited migration is a
 * deployment error, reported with the file name, never "fixed" silently.
 *
 * Threads: the calling thread owns the connection; sets are immutable.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#define LOCK_KEY "7340221001" /* arbitrary, constant: "stakha-lever migrations" */

struct sl_embedded_migration {
    const char *name;
    const unsigned char *bytes;
    size_t len;
};
extern const struct sl_embedded_migration sl_migrations_embedded[];

static bool version_of(const char *name, int *version)
{
    long v = 0;
    size_t i = 0;
    for (; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    size_t n = strlen(name);
    if (name[4] != '_' || n < 9 || strcmp(name + n - 4, ".sql") != 0 || v == 0)
        return false;
    *version = (int)v;
    return true;
}

static void add(struct sl_migration_set *set, int version, const char *name, const char *sql,
                size_t len)
{
    set->items = sl_xrealloc(set->items, (set->count + 1) * sizeof(*set->items));
    struct sl_migration *m = &set->items[set->count++];
    m->version = version;
    m->name = sl_xstrdup(name);
    m->sql = sl_xstrndup(sql, len);
    sl_crypto_sha256_hex(sql, len, m->checksum);
}

static int by_version(const void *a, const void *b)
{
    return ((const struct sl_migration *)a)->version - ((const struct sl_migration *)b)->version;
}

static enum sl_rc finish_set(struct sl_migration_set *set, struct sl_err *err)
{
    qsort(set->items, set->count, sizeof(*set->items), by_version);
    for (size_t i = 1; i < set->count; i++)
        if (set->items[i].version == set->items[i - 1].version)
            return sl_err_set(err, SL_ERR_CONFIG, "migrations %s and %s share a number",
                              set->items[i - 1].name, set->items[i].name);
    return SL_OK;
}

struct sl_migration_set *sl_migrations_builtin(void)
{
    struct sl_migration_set *set = sl_xcalloc(1, sizeof(*set));
    for (const struct sl_embedded_migration *e = sl_migrations_embedded; e->name; e++) {
        int v;
        SL_ASSERT(version_of(e->name, &v)); /* the build only embeds NNNN_*.sql */
        add(set, v, e->name, (const char *)e->bytes, e->len);
    }
    SL_ASSERT(finish_set(set, NULL) == SL_OK);
    return set;
}

enum sl_rc sl_migrations_load_dir(const char *dir, struct sl_migration_set **out,
                                  struct sl_err *err)
{
    enum sl_rc rc = SL_OK;
    struct sl_migration_set *set = sl_xcalloc(1, sizeof(*set));
    DIR *d = opendir(dir);
    if (!d) {
        rc = sl_err_set(err, SL_ERR_CONFIG, "SL_MIGRATIONS_DIR: cannot open %s: %s", dir,
                        strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".sql") != 0)
            continue;
        int v;
        if (!version_of(de->d_name, &v)) {
            rc = sl_err_set(err, SL_ERR_CONFIG,
                            "migration %s: name must be NNNN_what.sql with NNNN from 0001",
                            de->d_name);
            goto out;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = sl_err_set(err, SL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        struct sl_buf b;
        sl_buf_init(&b);
        char chunk[8192];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            sl_buf_append(&b, chunk, got);
        fclose(f);
        add(set, v, de->d_name, b.data ? b.data : "", b.len);
        sl_buf_cleanup(&b);
    }
    rc = finish_set(set, err);
out:
    if (d)
        closedir(d);
    if (rc) {
        sl_migration_set_destroy(set);
        return rc;
    }
    *out = set;
    return SL_OK;
}

void sl_migration_set_destroy(struct sl_migration_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        free(set->items[i].name);
        free(set->items[i].sql);
    }
    free(set->items);
    free(set);
}

static const char *recorded_checksum(const struct sl_db_res *res, int version)
{
    for (int r = 0; r < sl_db_res_rows(res); r++) {
        long v;
        if (sl_parse_long(sl_db_res_get(res, r, 0), 0, 99999, &v) && v == version)
            return sl_db_res_get(res, r, 1);
    }
    return NULL;
}

static enum sl_rc apply_one(struct sl_db *db, const struct sl_migration *m, struct sl_err *err)
{
    enum sl_rc rc = sl_db_exec(db, "BEGIN", 0, NULL, NULL, err);
    if (rc)
        return rc;
    rc = sl_db_exec(db, m->sql, 0, NULL, NULL, err);
    if (rc) {
        char why[256];
        sl_strlcpy(why, err ? err->msg : "", sizeof(why));
        sl_err_set(err, rc, "migration %s failed: %s", m->name, why);
        goto out;
    }
    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[] = {version, m->name, m->checksum};
    rc = sl_db_exec(db,
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    3, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, err);
out:
    if (rc && sl_db_ok(db)) {
        enum sl_rc ignored = sl_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL);
        (void)ignored;
    }
    return rc;
}

enum sl_rc sl_migrate_run(struct sl_db *db, const struct sl_migration_set *set, int *applied,
                          struct sl_err *err)
{
    struct sl_db_res *res = NULL;
    int count = 0;
    enum sl_rc rc = sl_db_exec(db, "SELECT pg_advisory_lock(" LOCK_KEY ")", 0, NULL, NULL, err);
    if (rc)
        return rc;
    rc = sl_db_exec(db,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, NULL, err);
    if (!rc)
        rc = sl_db_exec(db, "SELECT version, checksum FROM schema_migrations", 0, NULL, &res, err);
    for (size_t i = 0; !rc && i < set->count; i++) {
        const struct sl_migration *m = &set->items[i];
        const char *sum = recorded_checksum(res, m->version);
        if (sum && strcmp(sum, m->checksum) != 0) {
            rc = sl_err_set(err, SL_ERR_CONFLICT,
                            "migration %s was changed after it was applied (checksum %.12s, "
                            "recorded %.12s); migrations are never edited: add a new one",
                            m->name, m->checksum, sum);
        } else if (!sum) {
            rc = apply_one(db, m, err);
            if (!rc)
                count++;
        }
    }
    sl_db_res_free(res);
    if (sl_db_ok(db)) {
        enum sl_rc ignored =
            sl_db_exec(db, "SELECT pg_advisory_unlock(" LOCK_KEY ")", 0, NULL, NULL, NULL);
        (void)ignored;
    }
    if (applied)
        *applied = count;
    return rc;
}

enum sl_rc sl_migrate_check_current(struct sl_db *db, const struct sl_migration_set *set,
                                    struct sl_err *err)
{
    struct sl_db_res *res = NULL;
    enum sl_rc rc =
        sl_db_exec(db, "SELECT version, checksum FROM schema_migrations", 0, NULL, &res, err);
    if (rc) {
        /* No table yet is "not current", not an outage. */
        if (rc != SL_ERR_DB)
            rc = sl_err_set(err, SL_ERR_CONFLICT, "schema not migrated yet");
        return rc;
    }
    for (size_t i = 0; !rc && i < set->count; i++)
        if (!recorded_checksum(res, set->items[i].version))
            rc = sl_err_set(err, SL_ERR_CONFLICT, "migration %s is not applied yet",
                            set->items[i].name);
    sl_db_res_free(res);
    return rc;
}
