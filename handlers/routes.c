/*
 * routes.c: the one table of method, path, handler, body limit and
 * authentication. A newcomer looking for the code behind a URL starts here.
 */
#include "handlers.h"

#define KiB 1024
#define MiB (1024 * 1024)

const struct sl_route sl_routes[] = {
    /* Operations (SPEC 8): no authentication, no body. */
    {"GET", "/health", sl_handle_health, 0, SL_AUTH_NONE},
    {"GET", "/ready", sl_handle_ready, 0, SL_AUTH_NONE},
    {"GET", "/metrics", sl_handle_metrics, 0, SL_AUTH_NONE},

    /* Stakha webhooks (SPEC 5): Standard Webhooks signature, checked by the handler. */
    {"POST", "/webhooks/stakha", sl_handle_webhook, 1 * MiB, SL_AUTH_NONE},
};

const size_t sl_routes_count = sizeof(sl_routes) / sizeof(sl_routes[0]);
