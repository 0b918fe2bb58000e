/*
 * handlers.h: every handler of the service and the route table that binds
 * them to methods and paths (routes.c).
 *
 * Handlers speak to server/ headers only. Each runs on an HTTP server
 * thread, once per request, and answers with exactly one sl_reply_* call.
 */
#ifndef SL_HANDLERS_H
#define SL_HANDLERS_H

#include <stddef.h>

#include "http.h"

extern const struct sl_route sl_routes[];
extern const size_t sl_routes_count;

/* ops.c */
void sl_handle_health(struct sl_req *req);
void sl_handle_ready(struct sl_req *req);
void sl_handle_metrics(struct sl_req *req);

/* webhooks.c */
void sl_handle_webhook(struct sl_req *req);

/* oauth.c */
void sl_handle_lever_connect(struct sl_req *req);
void sl_handle_lever_callback(struct sl_req *req);

/* connections.c */
void sl_handle_connection_get(struct sl_req *req);
void sl_handle_connection_delete(struct sl_req *req);

/* postings.c */
void sl_handle_postings(struct sl_req *req);

/* syncs.c */
void sl_handle_sync_put(struct sl_req *req);
void sl_handle_sync_get(struct sl_req *req);
void sl_handle_sync_delete(struct sl_req *req);
void sl_handle_syncs_list(struct sl_req *req);

/* deliveries.c */
void sl_handle_deliveries_list(struct sl_req *req);
void sl_handle_delivery_get(struct sl_req *req);
void sl_handle_delivery_retry(struct sl_req *req);

#endif
