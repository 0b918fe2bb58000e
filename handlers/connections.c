/*
 * connections.c: a team's Lever connection as Stakha's backend sees it
 * (SPEC 3).
 *
 *   GET    /api/v1/teams/{team_id}/lever/connection  -> 200 {status, lever_account_id,
 *          service_user: {id, name}, connected_at, scopes}; 404 never connected
 *   DELETE /api/v1/teams/{team_id}/lever/connection  -> 204; 404 never connected
 *
 * DELETE keeps the row (so GET answers `disconnected`, and a later
 * authorization knows the team's previous Lever account) but erases both
 * sealed tokens and their expiry, and parks the team's pending and retrying
 * deliveries in the same transaction, as a revocation does (SPEC 9); a new
 * authorization resumes them (oauth.c). Lever offers no endpoint to revoke
 * a grant, so the grant itself lapses on Lever's side.
 *
 * Threads: HTTP server threads.
 */
#include <string.h>

#include "app.h"
#include "common.h"
#include "handlers.h"
#include "log.h"

static void not_connected(struct sl_req *req, const char *team)
{
    sl_reply_error(req, 404, "not_found", "Team %s has never connected Lever.", team);
}

void sl_handle_connection_get(struct sl_req *req)
{
    const char *team;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_db(req, &db))
        goto out;
    const char *params[] = {team};
    if (sl_db_exec(db,
                   "SELECT status, lever_account_id, service_user_id, service_user_name,"
                   " sl_rfc3339(connected_at), array_to_json(scopes)::text"
                   " FROM lever_connections WHERE team_id = $1",
                   1, params, &res, &err)) {
        sl_h_fail(req, &err);
        goto out;
    }
    if (sl_db_res_rows(res) == 0) {
        not_connected(req, team);
        goto out;
    }
    const char *user_id = sl_db_res_get(res, 0, 2);
    const char *user_name = sl_db_res_get(res, 0, 3);
    json_t *scopes = json_loads(sl_db_res_get(res, 0, 5), 0, NULL);
    json_t *user =
        user_id ? json_pack("{s:s,s:s?}", "id", user_id, "name", user_name) : json_null();
    const char *account = sl_db_res_get(res, 0, 1);
    sl_reply_json(req, 200,
                  json_pack("{s:s,s:o,s:o,s:o,s:o}", "status", sl_db_res_get(res, 0, 0),
                            "lever_account_id", account ? json_string(account) : json_null(),
                            "service_user", user, "connected_at",
                            sl_h_time(sl_db_res_get(res, 0, 4)), "scopes",
                            scopes ? scopes : json_array()));
out:
    sl_db_res_free(res);
    sl_h_db_release(req, db);
}

void sl_handle_connection_delete(struct sl_req *req)
{
    const char *team;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_db(req, &db))
        goto out;
    const char *params[] = {team};
    enum sl_rc rc = sl_db_exec(db, "BEGIN", 0, NULL, NULL, &err);
    if (!rc)
        rc = sl_db_exec(db,
                        "UPDATE lever_connections SET status = 'disconnected',"
                        " access_token_enc = NULL, refresh_token_enc = NULL,"
                        " access_expires_at = NULL, updated_at = now() WHERE team_id = $1",
                        1, params, &res, &err);
    if (rc)
        goto fail;
    if (sl_db_res_affected(res) == 0) {
        not_connected(req, team);
        goto out; /* the pool rolls the transaction back */
    }
    sl_db_res_free(res);
    res = NULL;
    rc = sl_db_exec(db,
                    "UPDATE deliveries SET state = 'parked', updated_at = now()"
                    " WHERE team_id = $1 AND state IN ('pending', 'retrying')",
                    1, params, &res, &err);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, &err);
    if (rc)
        goto fail;
    sl_log_fields(SL_LOG_INFO, "lever_disconnected",
                  json_pack("{s:s,s:I}", "team_id", team, "deliveries_parked",
                            (json_int_t)sl_db_res_affected(res)));
    sl_reply_empty(req, 204);
    goto out;
fail:
    sl_h_fail(req, &err);
out:
    sl_db_res_free(res);
    sl_h_db_release(req, db);
}
