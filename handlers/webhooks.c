/*
 * webhooks.c: POST /webhooks/stakha (SPEC 5).
 *
 * Order of checks: signature (401), then schema (400/422), then storage.
 * Storage is deferred to the group-commit writer (server/ingest.c): the
 * request is suspended, holding no server thread, and answered from the
 * writer's callback once its event is committed: 202 the first time, 200 for
 * a webhook-id already stored, 503 when the database is unavailable.
 * Nothing is stored for a 4xx.
 *
 * Threads: the handler on HTTP threads; on_stored on the ingest writer.
 */
#include <string.h>

#include "app.h"
#include "event.h"
#include "handlers.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "webhook_sig.h"

#define MAX_WEBHOOK_ID 255

static void count(const char *result)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    sl_metrics_inc("sl_webhooks_total", labels, 1);
}

static void on_stored(void *ctx, enum sl_ingest_result result, const struct sl_err *err)
{
    struct sl_req *req = ctx;
    switch (result) {
    case SL_INGEST_STORED:
        count("stored");
        sl_reply_json(req, 202, json_pack("{s:s}", "status", "stored"));
        break;
    case SL_INGEST_DUPLICATE:
        count("duplicate");
        sl_reply_json(req, 200, json_pack("{s:s}", "status", "duplicate"));
        break;
    case SL_INGEST_FAILED:
        count(err->rc == SL_ERR_DB ? "unavailable" : "failed");
        if (err->rc == SL_ERR_DB)
            sl_reply_error(req, 503, "database_unavailable",
                           "The event could not be stored right now; please retry.");
        else
            sl_reply_error(req, 500, "internal_error", "The event could not be stored.");
        break;
    }
    sl_req_resume(req);
}

void sl_handle_webhook(struct sl_req *req)
{
    struct sl_app *app = sl_req_app(req);
    struct sl_err err = {0};
    size_t len;
    const char *body = sl_req_body(req, &len);
    const char *id = sl_req_header(req, "webhook-id");
    enum sl_rc rc = sl_webhook_verify(app->whsecrets, id, sl_req_header(req, "webhook-timestamp"),
                                      sl_req_header(req, "webhook-signature"), body, len,
                                      sl_now_us() / 1000000, &err);
    if (rc) {
        count("unauthorized");
        sl_log(SL_LOG_WARN, "webhook_refused", "signature check failed: %s", err.msg);
        sl_reply_error(req, 401, "invalid_signature", "%s", err.msg);
        return;
    }
    if (strlen(id) > MAX_WEBHOOK_ID) {
        count("invalid");
        sl_reply_error(req, 400, "bad_request", "webhook-id must be at most %d characters",
                       MAX_WEBHOOK_ID);
        return;
    }
    struct sl_event ev;
    rc = sl_event_parse(body, len, &ev, &err);
    if (rc) {
        count("invalid");
        sl_reply_err(req, &err);
        return;
    }
    sl_event_cleanup(&ev);
    sl_req_defer(req);
    sl_ingest_submit(app->ingest, id, body, len, on_stored, req);
}
