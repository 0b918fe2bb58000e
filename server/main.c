/*
 * main.c: subcommands, start-up and shutdown order.
 *
 *   stakha-lever serve     HTTP server (+ workers), migrating at start
 *   stakha-lever migrate   apply migrations and exit
 *
 * Start-up: settings (exit 2 on a bad one) -> secrets parsed -> signals
 * blocked in every thread (main waits for them with sigwait) -> embedded
 * PostgreSQL when DATABASE_URL is unset -> migrations (a database that is
 * down does not stop start-up: a background thread keeps trying, and /ready
 * says 503 meanwhile; an edited migration does stop it) -> HTTP.
 * Shutdown on SIGTERM/SIGINT runs the same list backwards: stop accepting,
 * drain requests, close the pool, stop the embedded cluster, exit 0.
 *
 * Threads: main owns start-up, the signal wait and shutdown; the migrator
 * thread exists only while the database is unreachable at start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "embedded_pg.h"
#include "handlers.h"
#include "http.h"
#include "ingest.h"
#include "lever.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "tokens.h"
#include "util.h"
#include "webhook_sig.h"
#include "workers.h"

#define EXIT_CONFIG 2

static void usage(FILE *out)
{
    fprintf(out,
            "stakha-lever %s: connects Stakha to Lever.\n\n"
            "Usage: stakha-lever <command>\n\n"
            "Commands:\n"
            "  serve       run the HTTP server and the delivery workers; applies pending\n"
            "              migrations at start (several instances may start at once)\n"
            "  migrate     apply pending database migrations and exit\n"
            "  --help      this text\n"
            "  --version   the version\n\n"
            "Without DATABASE_URL, both commands use an embedded PostgreSQL cluster under\n"
            "SL_DATA_DIR, started and stopped by the service.\n\n",
            SL_VERSION);
    sl_config_print_help(out);
}

/* Splits a comma-separated list into a NULL-terminated array of trimmed,
 * non-empty strings (caller owns). */
static char **split_list(const char *s)
{
    size_t n = 0;
    char **v = sl_xcalloc(s ? sl_list_count(s) + 1 : 1, sizeof(*v));
    const char *cursor = s, *entry;
    size_t len;
    while (s && sl_list_next(&cursor, &entry, &len))
        if (len)
            v[n++] = sl_xstrndup(entry, len);
    return v;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

struct process {
    struct sl_config cfg;
    struct sl_app app;
    struct sl_embedded_pg *embedded;
    pthread_t migrator;
    struct sl_tokens_refresher *refresher;
    bool migrator_running;
    volatile sig_atomic_t exit_code;
};

/* Settings and secrets. Any failure is a one-line message and exit 2. */
static int load_settings(struct process *p)
{
    struct sl_err err = {0};
    if (sl_config_load(&p->cfg, NULL, NULL, &err)) {
        fprintf(stderr, "stakha-lever: %s\n", err.msg);
        return EXIT_CONFIG;
    }
    sl_log_set_level(p->cfg.log_level);
    struct sl_app *app = &p->app;
    app->cfg = &p->cfg;
    app->routes = sl_routes;
    app->nroutes = sl_routes_count;
    app->api_tokens = split_list(p->cfg.api_token);
    if (p->cfg.token_key && sl_keyring_parse(p->cfg.token_key, &app->keyring, &err)) {
        fprintf(stderr, "stakha-lever: SL_TOKEN_KEY: %s\n", err.msg);
        return EXIT_CONFIG;
    }
    if (p->cfg.stakha_webhook_secret &&
        sl_whsecrets_parse(p->cfg.stakha_webhook_secret, &app->whsecrets, &err)) {
        fprintf(stderr, "stakha-lever: SL_STAKHA_WEBHOOK_SECRET: %s\n", err.msg);
        return EXIT_CONFIG;
    }
    struct sl_migration_set *set = NULL;
    if (p->cfg.migrations_dir) {
        if (sl_migrations_load_dir(p->cfg.migrations_dir, &set, &err)) {
            fprintf(stderr, "stakha-lever: %s\n", err.msg);
            return EXIT_CONFIG;
        }
    } else {
        set = sl_migrations_builtin();
    }
    app->migrations = set;
    return 0;
}

/* Settings without which `serve` cannot do its job. */
static int require_serve_settings(const struct sl_config *cfg)
{
    if (!cfg->api_token) {
        fprintf(stderr, "stakha-lever: SL_API_TOKEN: is required by serve (bearer token(s) of "
                        "the internal API)\n");
        return EXIT_CONFIG;
    }
    if (!cfg->stakha_webhook_secret) {
        fprintf(stderr, "stakha-lever: SL_STAKHA_WEBHOOK_SECRET: is required by serve (the "
                        "Standard Webhooks secret shared with Stakha)\n");
        return EXIT_CONFIG;
    }
    return 0;
}

/* SL_TOKEN_KEY is required with DATABASE_URL. On the embedded default
 * (development, `make run`) a key is generated once into
 * SL_DATA_DIR/token.key and reused (server/tokens.c). */
static int require_token_key(struct process *p)
{
    if (p->app.keyring)
        return 0;
    if (p->cfg.database_url) {
        fprintf(stderr, "stakha-lever: SL_TOKEN_KEY: is required when DATABASE_URL is set "
                        "(base64 of 32 bytes; it encrypts Lever tokens at rest)\n");
        return EXIT_CONFIG;
    }
    char *key = NULL;
    bool generated = false;
    struct sl_err err = {0};
    if (sl_tokens_dev_key(p->cfg.data_dir, &key, &generated, &err) ||
        sl_keyring_parse(key, &p->app.keyring, &err)) {
        fprintf(stderr,
                "stakha-lever: SL_TOKEN_KEY: is not set and the development key "
                "cannot be used: %s\n",
                err.msg);
        free(key);
        return EXIT_CONFIG;
    }
    memset(key, 0, strlen(key));
    free(key);
    sl_log(generated ? SL_LOG_WARN : SL_LOG_INFO,
           generated ? "token_key_generated" : "token_key_loaded",
           "SL_TOKEN_KEY is not set: Lever tokens are encrypted with the development key %s "
           "%s/token.key (set SL_TOKEN_KEY in production)",
           generated ? "generated now into" : "read from", p->cfg.data_dir);
    return 0;
}

static void release_settings(struct process *p)
{
    free_list(p->app.api_tokens);
    sl_keyring_destroy(p->app.keyring);
    sl_whsecrets_destroy(p->app.whsecrets);
    sl_migration_set_destroy((struct sl_migration_set *)p->app.migrations);
    sl_config_cleanup(&p->cfg);
}

static int open_database(struct process *p)
{
    if (p->cfg.database_url) {
        p->app.database_url = p->cfg.database_url;
        return 0;
    }
    struct sl_err err = {0};
    if (sl_embedded_pg_start(p->cfg.data_dir, &p->embedded, &err)) {
        sl_log(SL_LOG_FATAL, "startup_failed", "%s", err.msg);
        return 1;
    }
    p->app.database_url = sl_embedded_pg_conninfo(p->embedded);
    return 0;
}

/* One migration attempt: 0 done, 1 fatal (edited or failing migration),
 * -1 database unreachable (try again later). */
static int migrate_once(struct sl_app *app, bool log_unreachable)
{
    struct sl_err err = {0};
    struct sl_db *db = NULL;
    int applied = 0;
    enum sl_rc rc = sl_db_connect(app->database_url, 3, &db, &err);
    if (!rc)
        rc = sl_migrate_run(db, app->migrations, &applied, &err);
    sl_db_close(db);
    if (rc == SL_ERR_DB) {
        if (log_unreachable)
            sl_log(SL_LOG_WARN, "migrate_waiting", "%s; retrying every second", err.msg);
        return -1;
    }
    if (rc) {
        sl_log(SL_LOG_FATAL, "migrate_failed", "%s", err.msg);
        return 1;
    }
    sl_log(SL_LOG_INFO, "migrated", "%d migration(s) applied, schema at %zu", applied,
           app->migrations->count);
    atomic_store(&app->schema_ready, true);
    return 0;
}

static void *migrator_main(void *arg)
{
    struct process *p = arg;
    while (!atomic_load(&p->app.stopping)) {
        sleep(1);
        int r = migrate_once(&p->app, false);
        if (r == 0)
            break;
        if (r > 0) {
            p->exit_code = 1;
            kill(getpid(), SIGTERM); /* process-directed: main's sigwait gets it */
            break;
        }
    }
    return NULL;
}

static int cmd_migrate(struct process *p)
{
    int rc = open_database(p);
    if (!rc)
        rc = migrate_once(&p->app, true) == 0 ? 0 : 1;
    sl_embedded_pg_stop(p->embedded);
    return rc;
}

static int cmd_serve(struct process *p)
{
    struct sl_err err = {0};
    struct sl_http *http = NULL;
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    /* Blocked before any thread exists, so every thread inherits the mask
     * and only sigwait below sees these signals. */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* A parent shell may have left them ignored; ignored signals never reach sigwait. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

    int bad = require_serve_settings(&p->cfg);
    if (!bad)
        bad = require_token_key(p);
    if (bad)
        return bad;
    if (open_database(p))
        return 1;
    p->app.pool = sl_db_pool_create(p->app.database_url, (int)p->cfg.db_pool_size);
    p->app.ingest = sl_ingest_create(p->app.database_url, p->cfg.inbox_retention_days);
    p->app.lever = sl_lever_pool_create(&p->cfg, 8);
    int m = migrate_once(&p->app, true);
    if (m > 0) {
        p->exit_code = 1;
        goto out;
    }
    if (m < 0) {
        p->migrator_running = pthread_create(&p->migrator, NULL, migrator_main, p) == 0;
        SL_ASSERT(p->migrator_running);
    }
    sl_metrics_init(sl_routes, sl_routes_count);
    sl_log_start_flusher();
    if (sl_http_start(&p->app, &http, &err)) {
        sl_log(SL_LOG_FATAL, "startup_failed", "%s", err.msg);
        p->exit_code = 1;
        goto out;
    }
    sl_log_fields(SL_LOG_INFO, "listening",
                  json_pack("{s:s,s:i,s:s,s:s}", "host", p->cfg.http_host, "port",
                            sl_http_port(http), "version", SL_VERSION, "database",
                            p->embedded ? "embedded" : "DATABASE_URL"));
    p->refresher = sl_tokens_refresher_start(&p->cfg, p->app.database_url, p->app.keyring);
    /* The workers wait for the schema themselves (the migrator may still be
     * waiting for the database). */
    if (!p->app.keyring)
        sl_log(SL_LOG_WARN, "workers_disabled",
               "SL_TOKEN_KEY is unset: Lever tokens cannot be read, nothing is delivered");
    else if (sl_workers_start(&p->app, &p->app.workers, &err)) {
        sl_log(SL_LOG_FATAL, "startup_failed", "%s", err.msg);
        p->exit_code = 1;
        goto out;
    }

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    sl_log(SL_LOG_INFO, "shutdown", "%s received: draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
    atomic_store(&p->app.stopping, true);
    /* Workers and requests drain in parallel, within one SL_SHUTDOWN_TIMEOUT. */
    sl_workers_stop_async(p->app.workers);
    /* Webhook requests wait on the ingest writer: stop accepting, let the
     * writer answer what it holds, then stop the server. */
    bool drained = sl_http_quiesce(http, (int)p->cfg.shutdown_timeout_s * 1000);
    sl_ingest_destroy(p->app.ingest);
    p->app.ingest = NULL;
    drained = sl_http_quiesce(http, 1000) && drained;
    if (!drained) {
        /* A deferred request (an OAuth callback waiting on Lever) is still
         * being answered by its own thread: leave without freeing what it
         * may still use. */
        sl_workers_stop(p->app.workers);
        sl_embedded_pg_stop(p->embedded);
        sl_log_stop_flusher();
        sl_log(SL_LOG_INFO, "stopped", "exit %d (requests abandoned)", (int)p->exit_code);
        _exit(p->exit_code);
    }
    sl_http_stop(http, 0);
    if (!sl_workers_stop(p->app.workers)) {
        /* A worker is stuck in a Lever request; its leases were released.
         * Leave without freeing what it may still read. */
        sl_embedded_pg_stop(p->embedded);
        sl_log_stop_flusher();
        sl_log(SL_LOG_INFO, "stopped", "exit %d (a worker abandoned)", (int)p->exit_code);
        _exit(p->exit_code);
    }
    p->app.workers = NULL;
    sl_tokens_refresher_stop(p->refresher);
    if (p->migrator_running)
        pthread_join(p->migrator, NULL);
    sl_lever_pool_destroy(p->app.lever);
    sl_db_pool_destroy(p->app.pool);
    sl_embedded_pg_stop(p->embedded);
    sl_log_stop_flusher();
    sl_log(SL_LOG_INFO, "stopped", "exit %d", (int)p->exit_code);
    return p->exit_code;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    sl_lever_global_init();
    if (argc < 2) {
        usage(stderr);
        return EXIT_CONFIG;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("stakha-lever %s\n", SL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0) {
        fprintf(stderr, "stakha-lever: unknown command \"%s\"; see stakha-lever --help\n", cmd);
        return EXIT_CONFIG;
    }
    if (argc > 2) {
        fprintf(stderr,
                "stakha-lever: %s takes no arguments; settings come from the environment "
                "(see --help)\n",
                cmd);
        return EXIT_CONFIG;
    }
    static struct process p;
    int rc = load_settings(&p);
    if (!rc)
        rc = strcmp(cmd, "serve") == 0 ? cmd_serve(&p) : cmd_migrate(&p);
    release_settings(&p);
    sl_lever_global_cleanup();
    return rc;
}
