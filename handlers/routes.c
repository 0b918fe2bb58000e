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

    /* Lever connection (SPEC 3 and 4): the callback is the browser's, the rest Stakha's. */
    {"POST", "/api/v1/teams/{team_id}/lever/connect", sl_handle_lever_connect, 16 * KiB,
     SL_AUTH_API},
    {"GET", "/api/v1/teams/{team_id}/lever/connection", sl_handle_connection_get, 0, SL_AUTH_API},
    {"DELETE", "/api/v1/teams/{team_id}/lever/connection", sl_handle_connection_delete, 0,
     SL_AUTH_API},
    {"GET", "/oauth/lever/callback", sl_handle_lever_callback, 0, SL_AUTH_NONE},

    /* Postings and job syncs (SPEC 3): the dropdown, then one job at a time. */
    {"GET", "/api/v1/teams/{team_id}/lever/postings", sl_handle_postings, 0, SL_AUTH_API},
    {"PUT", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", sl_handle_sync_put, 16 * KiB,
     SL_AUTH_API},
    {"GET", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", sl_handle_sync_get, 0, SL_AUTH_API},
    {"DELETE", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", sl_handle_sync_delete, 0,
     SL_AUTH_API},
    {"GET", "/api/v1/teams/{team_id}/lever-syncs", sl_handle_syncs_list, 0, SL_AUTH_API},

    /* Deliveries (SPEC 3): what was pushed to Lever, what waits, what died and why. */
    {"GET", "/api/v1/teams/{team_id}/deliveries", sl_handle_deliveries_list, 0, SL_AUTH_API},
    {"GET", "/api/v1/teams/{team_id}/deliveries/{id}", sl_handle_delivery_get, 0, SL_AUTH_API},
    {"POST", "/api/v1/teams/{team_id}/deliveries/{id}/retry", sl_handle_delivery_retry, 0,
     SL_AUTH_API},
};

const size_t sl_routes_count = sizeof(sl_routes) / sizeof(sl_routes[0]);
