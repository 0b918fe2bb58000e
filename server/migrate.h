/*
 * migrate.h: the schema migrations runner.
 *
 * Migrations are `migrations/NNNN_what.sql`, forward-only, applied in order,
 * each in its own transaction, recorded in `schema_migrations` with a
 * SHA-256 checksum. A session-level advisory lock serialises concurrent
 * runners, so instances starting together apply each migration once. A
 * recorded migration whose file changed stops the run with a message naming
 * the file.
 *
 * Threads: a set is immutable once loaded and may be shared; running takes
 * one connection owned by the calling thread.
 */
#ifndef SL_MIGRATE_H
#define SL_MIGRATE_H

#include <stddef.h>

#include "db.h"
#include "rc.h"

struct sl_migration {
    int version; /* NNNN */
    char *name;  /* file name, "0001_init.sql" */
    char *sql;
    char checksum[65]; /* hex SHA-256 of the file's bytes */
};

struct sl_migration_set {
    struct sl_migration *items; /* sorted by version */
    size_t count;
};

/* The migrations compiled into the binary. Caller owns (sl_migration_set_destroy). */
struct sl_migration_set *sl_migrations_builtin(void);

/* Reads every NNNN_*.sql file of `dir`. Refuses names without a number and
 * duplicate numbers. *out is caller-owned. */
enum sl_rc sl_migrations_load_dir(const char *dir, struct sl_migration_set **out,
                                  struct sl_err *err) SL_MUST_USE;

void sl_migration_set_destroy(struct sl_migration_set *set);

/* Applies what `db` lacks of `set`; *applied (may be NULL) counts them.
 * SL_ERR_CONFLICT when a recorded migration's checksum differs (err names the
 * file), SL_ERR_DB when the database fails. */
enum sl_rc sl_migrate_run(struct sl_db *db, const struct sl_migration_set *set, int *applied,
                          struct sl_err *err) SL_MUST_USE;

/* SL_OK when every migration of `set` is recorded in `db`; SL_ERR_CONFLICT
 * with a message when not; SL_ERR_DB when the database fails. */
enum sl_rc sl_migrate_check_current(struct sl_db *db, const struct sl_migration_set *set,
                                    struct sl_err *err) SL_MUST_USE;

#endif
