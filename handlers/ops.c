/*
 * ops.c: /health, /ready and /metrics for operators (SPEC 8).
 *
 * /health proves only that the process serves HTTP: it never touches the
 * database, so a database outage does not get the service restarted.
 * /ready asks the database and checks that every migration this binary
 * knows is applied. /metrics renders the in-process counters, then the
 * gauges that live in the database (server/queue.c), read at scrape time.
 *
 * Threads: HTTP server threads.
 */
#include <stdlib.h>

#include "app.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "queue.h"
#include "util.h"

void sl_handle_health(struct sl_req *req)
{
    /* A constant answer: liveness probes come often and must stay cheap. */
    sl_reply_text(req, 200, "application/json", sl_xstrdup("{\"status\":\"ok\"}"));
}

void sl_handle_ready(struct sl_req *req)
{
    struct sl_app *app = sl_req_app(req);
    struct sl_err err = {0};
    struct sl_db *db = NULL;
    enum sl_rc rc = sl_db_pool_acquire(app->pool, 1000, &db, &err);
    if (!rc)
        rc = sl_migrate_check_current(db, app->migrations, &err);
    sl_db_pool_release(app->pool, db);
    if (rc) {
        sl_reply_json(req, 503, json_pack("{s:s,s:s}", "status", "unavailable", "reason", err.msg));
        return;
    }
    sl_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

void sl_handle_metrics(struct sl_req *req)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_metrics_render(&out);
    /* Queue depth, oldest ready delivery, connections: read at scrape time;
     * without the database the in-process metrics are still served. */
    struct sl_app *app = sl_req_app(req);
    struct sl_err err = {0};
    struct sl_db *db = NULL;
    if (atomic_load(&app->schema_ready) && !sl_db_pool_acquire(app->pool, 500, &db, &err)) {
        if (sl_queue_render_gauges(db, &out, &err))
            sl_log(SL_LOG_WARN, "metrics_gauges", "%s", err.msg);
        sl_db_pool_release(app->pool, db);
    }
    sl_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", sl_buf_take(&out));
}
