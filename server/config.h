/*
 * config.h: every setting of the service, read once from the environment
 * through one declarative table (config.c), then immutable.
 *
 * Threads: sl_config_load() runs once in main before any thread starts;
 * afterwards the struct is read-only and shared by every thread.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "rc.h"

struct sl_config {
    char *database_url; /* NULL: embedded cluster */
    char *http_addr;    /* as given, "host:port" */
    char http_host[64]; /* parsed from http_addr */
    int http_port;      /* parsed from http_addr; 0 = any free port */
    char *public_url;   /* without trailing slash */
    char *lever_client_id;
    char *lever_client_secret;
    char *lever_auth_url; /* without trailing slash */
    char *lever_api_url;  /* without trailing slash */
    char *lever_audience;
    long lever_rps;
    char *stakha_webhook_secret;
    char *api_token;
    char *token_key;
    char *stakha_app_url; /* without trailing slash */
    long workers;
    char *service_user_name;
    char *service_user_email;
    char *data_dir;
    char *migrations_dir; /* NULL: the migrations compiled into the binary */
    char *log_level;
    long http_threads;
    long db_pool_size;
    long shutdown_timeout_s;
    long lease_seconds; /* delivery lease; a dead instance's work is taken up after it */
    long inbox_retention_days;
};

/* Looks a variable up; the default reads the process environment. */
typedef const char *(*sl_config_getenv_fn)(const char *name, void *ctx);

/* Fills `cfg` from the table's defaults and `get` (NULL: getenv). On a
 * missing or malformed setting returns SL_ERR_CONFIG with a message that
 * names the variable and never contains its value when it is a secret.
 * `cfg` must be released with sl_config_cleanup() either way. */
enum sl_rc sl_config_load(struct sl_config *cfg, sl_config_getenv_fn get, void *ctx,
                          struct sl_err *err) SL_MUST_USE;

void sl_config_cleanup(struct sl_config *cfg);

/* Writes one line per setting (name, default, meaning) for --help.
 * Defaults of secrets are never printed (they have none). */
void sl_config_print_help(FILE *out);

#endif
