/* Unit tests of server/config.c: defaults, bounds, and one clear message per bad setting. */
#include <string.h>

#include "config.h"
#include "tap.h"

static const char *const *vars;

static const char *fake_env(const char *name, void *ctx)
{
    (void)ctx;
    size_t n = strlen(name);
    for (size_t i = 0; vars && vars[i]; i++)
        if (strncmp(vars[i], name, n) == 0 && vars[i][n] == '=')
            return vars[i] + n + 1;
    return NULL;
}

static enum sl_rc load(const char *const *env, struct sl_config *cfg, struct sl_err *err)
{
    vars = env;
    memset(err, 0, sizeof(*err));
    return sl_config_load(cfg, fake_env, NULL, err);
}

/* A bad value must be refused with a message naming the variable. */
static void refused(const char *assignment, const char *name)
{
    const char *env[] = {assignment, NULL};
    struct sl_config cfg;
    struct sl_err err;
    enum sl_rc rc = load(env, &cfg, &err);
    ok(rc == SL_ERR_CONFIG && strstr(err.msg, name) == err.msg, "%s refused: %s", assignment,
       err.msg);
    sl_config_cleanup(&cfg);
}

int main(void)
{
    struct sl_config cfg;
    struct sl_err err;

    ok(load(NULL, &cfg, &err) == SL_OK, "empty environment loads");
    is_str(cfg.http_host, "127.0.0.1", "default host");
    is_int(cfg.http_port, 8080, "default port");
    is_str(cfg.public_url, "http://localhost:8080", "default public URL");
    is_str(cfg.lever_auth_url, "https://auth.lever.co", "default auth URL");
    is_str(cfg.lever_api_url, "https://api.lever.co/v1", "default API URL");
    is_str(cfg.lever_audience, "https://api.lever.co/v1/", "default audience keeps its slash");
    is_int(cfg.lever_rps, 10, "default rps");
    is_int(cfg.workers, 4, "default workers");
    is_str(cfg.service_user_name, "Dolores", "default service user");
    is_str(cfg.service_user_email, "dolores@stakha.io", "default service email");
    is_str(cfg.data_dir, "./var", "default data dir");
    ok(cfg.database_url == NULL, "no DATABASE_URL by default (embedded)");
    ok(cfg.api_token == NULL && cfg.token_key == NULL, "no secrets by default");
    sl_config_cleanup(&cfg);

    const char *env[] = {
        "SL_HTTP_ADDR=0.0.0.0:0", "SL_PUBLIC_URL=https://x.example.com/", "SL_WORKERS=0",
        "SL_LEVER_RPS=1000",      "DATABASE_URL=postgres://u:p@h/db",     NULL};
    ok(load(env, &cfg, &err) == SL_OK, "valid settings load: %s", err.msg);
    is_int(cfg.http_port, 0, "port 0 allowed");
    is_str(cfg.http_host, "0.0.0.0", "host parsed");
    is_str(cfg.public_url, "https://x.example.com", "trailing slash of a URL dropped");
    is_int(cfg.workers, 0, "lower bound inclusive");
    is_int(cfg.lever_rps, 1000, "upper bound inclusive");
    is_str(cfg.database_url, "postgres://u:p@h/db", "DATABASE_URL kept");
    sl_config_cleanup(&cfg);

    refused("SL_HTTP_ADDR=nonsense", "SL_HTTP_ADDR");
    refused("SL_HTTP_ADDR=127.0.0.1:70000", "SL_HTTP_ADDR");
    refused("SL_HTTP_ADDR=:80", "SL_HTTP_ADDR");
    refused("SL_HTTP_ADDR=127.0.0.1:", "SL_HTTP_ADDR");
    refused("SL_WORKERS=-1", "SL_WORKERS");
    refused("SL_WORKERS=4x", "SL_WORKERS");
    refused("SL_WORKERS= 4", "SL_WORKERS");
    refused("SL_LEVER_RPS=0", "SL_LEVER_RPS");
    refused("SL_LEVER_RPS=99999999999999999999", "SL_LEVER_RPS");
    refused("SL_PUBLIC_URL=ftp://x", "SL_PUBLIC_URL");
    refused("SL_PUBLIC_URL=http://", "SL_PUBLIC_URL");
    refused("SL_LEVER_API_URL=api.lever.co", "SL_LEVER_API_URL");
    refused("SL_STAKHA_APP_URL=https://app stakha.io", "SL_STAKHA_APP_URL");
    refused("SL_SERVICE_USER_EMAIL=dolores", "SL_SERVICE_USER_EMAIL");
    refused("SL_LOG_LEVEL=loud", "SL_LOG_LEVEL");
    refused("SL_API_TOKEN=", "SL_API_TOKEN");

    /* A secret's value never appears in a message. */
    const char *secret_env[] = {"SL_TOKEN_KEY=", NULL};
    load(secret_env, &cfg, &err);
    ok(strstr(err.msg, "SL_TOKEN_KEY") != NULL, "empty secret named: %s", err.msg);
    sl_config_cleanup(&cfg);

    /* --help lists every setting with its default, and no secret value. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sl_config_print_help(f);
    fclose(f);
    const char *names[] = {"DATABASE_URL",
                           "SL_HTTP_ADDR",
                           "SL_PUBLIC_URL",
                           "SL_LEVER_CLIENT_ID",
                           "SL_LEVER_CLIENT_SECRET",
                           "SL_LEVER_AUTH_URL",
                           "SL_LEVER_API_URL",
                           "SL_LEVER_AUDIENCE",
                           "SL_LEVER_RPS",
                           "SL_STAKHA_WEBHOOK_SECRET",
                           "SL_API_TOKEN",
                           "SL_TOKEN_KEY",
                           "SL_STAKHA_APP_URL",
                           "SL_WORKERS",
                           "SL_SERVICE_USER_NAME",
                           "SL_SERVICE_USER_EMAIL",
                           "SL_DATA_DIR"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ok(strstr(text, names[i]) != NULL, "--help lists %s", names[i]);
    ok(strstr(text, "127.0.0.1:8080") && strstr(text, "dolores@stakha.io"),
       "--help shows defaults");
    free(text);
    return done_testing();
}
