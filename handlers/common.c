/*
 * common.c: shared handler helpers (see common.h).
 *
 * Threads: HTTP server threads.
 */
#include "common.h"

#include <string.h>

#include "app.h"
#include "log.h"
#include "util.h"

bool sl_h_id(struct sl_req *req, const char *name, const char **out)
{
    const char *v = sl_req_param(req, name);
    if (!sl_valid_id(v)) {
        sl_reply_error(req, 400, "invalid_id",
                       "%s must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -", name);
        return false;
    }
    *out = v;
    return true;
}

bool sl_h_json_body(struct sl_req *req, bool optional, json_t **out)
{
    size_t len;
    const char *body = sl_req_body(req, &len);
    if (len == 0 && optional) {
        *out = json_object();
        return true;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!v) {
        sl_reply_error(req, 400, "bad_request", "body is not valid JSON: %s", jerr.text);
        return false;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        sl_reply_error(req, 422, "invalid_request", "the body must be a JSON object");
        return false;
    }
    *out = v;
    return true;
}

void sl_h_fail(struct sl_req *req, const struct sl_err *err)
{
    if (err->rc == SL_ERR_DB) {
        sl_log(SL_LOG_WARN, "database_unavailable", "%s", err->msg);
        sl_reply_error(req, 503, "database_unavailable",
                       "The database is unavailable; please retry.");
        return;
    }
    sl_log(SL_LOG_ERROR, "request_failed", "%s", err->msg);
    sl_reply_error(req, 500, "internal_error", "The request could not be completed.");
}

bool sl_h_db(struct sl_req *req, struct sl_db **out)
{
    struct sl_err err = {0};
    if (sl_db_pool_acquire(sl_req_app(req)->pool, 2000, out, &err)) {
        sl_h_fail(req, &err);
        return false;
    }
    return true;
}

void sl_h_db_release(struct sl_req *req, struct sl_db *db)
{
    sl_db_pool_release(sl_req_app(req)->pool, db);
}

static bool get_token(struct sl_req *req, struct sl_db *db, const char *team_id, bool force,
                      struct sl_h_lever *lv)
{
    struct sl_app *app = sl_req_app(req);
    struct sl_err err = {0};
    sl_access_cleanup(&lv->access);
    enum sl_rc rc = sl_tokens_get(db, lv->client, app->keyring, team_id, force, &lv->access, &err);
    switch (rc) {
    case SL_OK:
        /* Data API requests of a handler pass the account's shared bucket too (SPEC 7). */
        lv->gate.db = db;
        lv->gate.rps = app->cfg->lever_rps;
        lv->gate.account = lv->access.lever_account_id ? lv->access.lever_account_id : team_id;
        sl_lever_set_gate(lv->client, sl_ratelimit_db_gate, &lv->gate);
        return true;
    case SL_ERR_NOT_FOUND:
    case SL_ERR_CONFLICT:
        sl_reply_error(req, 409, "not_connected",
                       "Team %s has no active Lever connection; authenticate on Lever first.",
                       team_id);
        return false;
    case SL_ERR_CONFIG:
        sl_reply_error(
            req, 503, "lever_not_configured",
            "SL_LEVER_CLIENT_ID and SL_LEVER_CLIENT_SECRET are not set on this service.");
        return false;
    case SL_ERR_UPSTREAM:
    case SL_ERR_AUTH:
        sl_log(SL_LOG_WARN, "lever_unavailable", "team %s: %s", team_id, err.msg);
        sl_reply_error(req, 502, "lever_unavailable", "Lever could not be reached; please retry.");
        return false;
    default:
        sl_h_fail(req, &err);
        return false;
    }
}

bool sl_h_lever(struct sl_req *req, struct sl_db *db, const char *team_id, struct sl_h_lever *out)
{
    memset(out, 0, sizeof(*out));
    out->client = sl_lever_pool_acquire(sl_req_app(req)->lever);
    return get_token(req, db, team_id, false, out);
}

bool sl_h_lever_refresh(struct sl_req *req, struct sl_db *db, const char *team_id,
                        struct sl_h_lever *lv)
{
    return get_token(req, db, team_id, true, lv);
}

void sl_h_lever_release(struct sl_req *req, struct sl_h_lever *lv)
{
    sl_access_cleanup(&lv->access);
    if (lv->client)
        sl_lever_pool_release(sl_req_app(req)->lever, lv->client);
    lv->client = NULL;
}

json_t *sl_h_time(const char *v)
{
    return v ? json_string(v) : json_null();
}
