/*
 * config.c: the table of settings.
 *
 * Each row names an environment variable, its kind (string, URL, address,
 * bounded integer, secret), its default and a one-line meaning; loading
 * walks the table once, so --help, defaults and validation cannot drift
 * apart. Values are copied into `struct sl_config`, which is immutable once
 * main has loaded it.
 *
 * Threads: main only, before any other thread exists.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

enum kind { K_STRING, K_SECRET, K_URL, K_ADDR, K_INT, K_EMAIL };

struct setting {
    const char *name;
    enum kind kind;
    size_t offset;   /* of a char * or a long in struct sl_config */
    const char *def; /* NULL: unset unless given */
    long min, max;   /* K_INT bounds */
    const char *help;
};

#define STR(field) offsetof(struct sl_config, field)

static const struct setting settings[] = {
    {"DATABASE_URL", K_SECRET, STR(database_url), NULL, 0, 0,
     "libpq connection string or URI (unset: embedded cluster under SL_DATA_DIR)"},
    {"SL_HTTP_ADDR", K_ADDR, STR(http_addr), "127.0.0.1:8080", 0, 0,
     "listen address, host:port (port 0: any free port)"},
    {"SL_PUBLIC_URL", K_URL, STR(public_url), "http://localhost:8080", 0, 0,
     "public base URL; OAuth redirect URI is it + /oauth/lever/callback"},
    {"SL_LEVER_CLIENT_ID", K_STRING, STR(lever_client_id), NULL, 0, 0, "Lever OAuth app client id"},
    {"SL_LEVER_CLIENT_SECRET", K_SECRET, STR(lever_client_secret), NULL, 0, 0,
     "Lever OAuth app client secret"},
    {"SL_LEVER_AUTH_URL", K_URL, STR(lever_auth_url), "https://auth.lever.co", 0, 0,
     "Lever auth server (authorize = it/authorize, token = it/oauth/token)"},
    {"SL_LEVER_API_URL", K_URL, STR(lever_api_url), "https://api.lever.co/v1", 0, 0,
     "Lever Data API root"},
    {"SL_LEVER_AUDIENCE", K_STRING, STR(lever_audience), "https://api.lever.co/v1/", 0, 0,
     "audience parameter of the authorize request"},
    {"SL_LEVER_RPS", K_INT, STR(lever_rps), "10", 1, 1000000,
     "Lever requests per second per Lever account, all instances together"},
    {"SL_STAKHA_WEBHOOK_SECRET", K_SECRET, STR(stakha_webhook_secret), NULL, 0, 0,
     "Standard Webhooks secret(s) whsec_..., comma-separated to rotate"},
    {"SL_API_TOKEN", K_SECRET, STR(api_token), NULL, 0, 0,
     "bearer token(s) of the internal API, comma-separated to rotate"},
    {"SL_TOKEN_KEY", K_SECRET, STR(token_key), NULL, 0, 0,
     "base64 of 32 bytes: key that encrypts Lever tokens at rest"},
    {"SL_STAKHA_APP_URL", K_URL, STR(stakha_app_url), "https://app.stakha.io", 0, 0,
     "origin of the Stakha web app; return_urls must be under it"},
    {"SL_WORKERS", K_INT, STR(workers), "4", 0, 256, "delivery worker threads"},
    {"SL_SERVICE_USER_NAME", K_STRING, STR(service_user_name), "Dolores", 0, 0,
     "name of the Lever service user that performs every write"},
    {"SL_SERVICE_USER_EMAIL", K_EMAIL, STR(service_user_email), "dolores@stakha.io", 0, 0,
     "email of the Lever service user"},
    {"SL_DATA_DIR", K_STRING, STR(data_dir), "./var", 0, 0,
     "embedded PostgreSQL cluster and development token key live here"},
    {"SL_MIGRATIONS_DIR", K_STRING, STR(migrations_dir), NULL, 0, 0,
     "read migrations from this directory instead of the built-in ones"},
    {"SL_LOG_LEVEL", K_STRING, STR(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"SL_HTTP_THREADS", K_INT, STR(http_threads), "4", 1, 256, "HTTP server threads"},
    {"SL_DB_POOL_SIZE", K_INT, STR(db_pool_size), "8", 1, 1000,
     "PostgreSQL connections shared by the HTTP threads"},
    {"SL_SHUTDOWN_TIMEOUT", K_INT, STR(shutdown_timeout_s), "10", 0, 3600,
     "seconds SIGTERM waits for in-flight requests and deliveries"},
    {"SL_LEASE_SECONDS", K_INT, STR(lease_seconds), "25", 3, 300,
     "seconds a claimed delivery stays leased without renewal (work of a crashed instance "
     "is taken up after it)"},
    {"SL_INBOX_RETENTION_DAYS", K_INT, STR(inbox_retention_days), "30", 1, 3650,
     "webhook events older than this are deleted"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *env_get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static bool parse_addr(struct sl_config *cfg, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof(cfg->http_host))
        return false;
    long port;
    if (!sl_parse_long(colon + 1, 0, 65535, &port))
        return false;
    memcpy(cfg->http_host, v, (size_t)(colon - v));
    cfg->http_host[colon - v] = '\0';
    for (const char *p = cfg->http_host; *p; p++)
        if (!(('0' <= *p && *p <= '9') || ('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
              *p == '.' || *p == '-'))
            return false;
    cfg->http_port = (int)port;
    return true;
}

static bool valid_url(const char *v)
{
    const char *rest;
    if (strncmp(v, "http://", 7) == 0)
        rest = v + 7;
    else if (strncmp(v, "https://", 8) == 0)
        rest = v + 8;
    else
        return false;
    if (!*rest || *rest == '/' || *rest == ':')
        return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return false;
    return true;
}

static bool valid_email(const char *v)
{
    const char *at = strchr(v, '@');
    return at && at != v && at[1] && !strchr(at + 1, '@') && !strpbrk(v, " \t\r\n<>\"");
}

enum sl_rc sl_config_load(struct sl_config *cfg, sl_config_getenv_fn get, void *ctx,
                          struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!get)
        get = env_get;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *v = get(s->name, ctx);
        bool given = v != NULL;
        if (!given)
            v = s->def;
        if (given && *v == '\0')
            return sl_err_set(err, SL_ERR_CONFIG, "%s: is set but empty", s->name);
        if (!v)
            continue;
        char *copy = sl_xstrdup(v);
        if (s->kind == K_URL) {
            size_t n = strlen(copy);
            while (n > 0 && copy[n - 1] == '/')
                copy[--n] = '\0';
        }
        void *slot = (char *)cfg + s->offset;
        switch (s->kind) {
        case K_INT: {
            long n;
            bool good = sl_parse_long(copy, s->min, s->max, &n);
            free(copy);
            if (!good)
                return sl_err_set(err, SL_ERR_CONFIG,
                                  "%s: must be a whole number from %ld to %ld, got \"%.40s\"",
                                  s->name, s->min, s->max, v);
            *(long *)slot = n;
            continue;
        }
        case K_ADDR:
            if (!parse_addr(cfg, copy)) {
                free(copy);
                return sl_err_set(err, SL_ERR_CONFIG,
                                  "%s: must be host:port with a port from 0 to 65535, got "
                                  "\"%.60s\"",
                                  s->name, v);
            }
            break;
        case K_URL:
            if (!valid_url(copy)) {
                free(copy);
                return sl_err_set(err, SL_ERR_CONFIG,
                                  "%s: must be an http:// or https:// URL with a host, got "
                                  "\"%.80s\"",
                                  s->name, v);
            }
            break;
        case K_EMAIL:
            if (!valid_email(copy)) {
                free(copy);
                return sl_err_set(err, SL_ERR_CONFIG, "%s: must be an email address, got \"%.80s\"",
                                  s->name, v);
            }
            break;
        case K_STRING:
        case K_SECRET:
            break;
        }
        *(char **)slot = copy;
    }
    if (!sl_log_level_valid(cfg->log_level))
        return sl_err_set(err, SL_ERR_CONFIG,
                          "SL_LOG_LEVEL: must be debug, info, warn or error, got \"%.20s\"",
                          cfg->log_level);
    return SL_OK;
}

void sl_config_cleanup(struct sl_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].kind == K_INT)
            continue;
        char **slot = (char **)((char *)cfg + settings[i].offset);
        free(*slot);
        *slot = NULL;
    }
}

void sl_config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variables):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *def = s->def ? s->def : "(none)";
        if (s->kind == K_SECRET)
            def = s->def ? "(set)" : "(none, secret)";
        fprintf(out, "  %-26s %s\n  %-26s default: %s\n", s->name, s->help, "", def);
    }
}
