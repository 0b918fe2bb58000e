/*
 * app.h: the state the whole process shares, built by main at start-up.
 *
 * Everything in it is either immutable after start-up (settings, parsed
 * secrets, the route table, the migrations) or internally synchronised (the
 * database pool, the atomics). Handlers reach it with sl_req_app().
 *
 * Threads: any, read-only except the atomics.
 */
#ifndef SL_APP_H
#define SL_APP_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "db.h"
#include "http.h"

struct sl_migration_set;
struct sl_keyring;
struct sl_whsecrets;
struct sl_ingest;
struct sl_lever_pool;
struct sl_workers;

struct sl_app {
    const struct sl_config *cfg;
    const char *database_url;    /* cfg->database_url or the embedded cluster's */
    struct sl_db_pool *pool;     /* for HTTP threads */
    struct sl_ingest *ingest;    /* group commit of webhook events */
    struct sl_lever_pool *lever; /* Lever clients for HTTP threads (lever.h) */
    struct sl_workers *workers;  /* delivery worker pool (workers.h) */
    const struct sl_route *routes;
    size_t nroutes;
    char **api_tokens;              /* NULL-terminated, from SL_API_TOKEN */
    struct sl_keyring *keyring;     /* from SL_TOKEN_KEY; NULL when unset */
    struct sl_whsecrets *whsecrets; /* from SL_STAKHA_WEBHOOK_SECRET; NULL when unset */
    const struct sl_migration_set *migrations;
    atomic_bool schema_ready; /* migrations applied by this process */
    atomic_bool stopping;     /* SIGTERM received */
};

#endif
