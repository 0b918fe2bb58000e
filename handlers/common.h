/*
 * common.h: small pieces every API handler needs: id validation with the
 * SPEC's 400 `invalid_id`, JSON bodies, database and Lever access with the
 * failure already answered.
 *
 * Each function that can fail answers the request itself when it does and
 * returns false, so a handler reads `if (!sl_h_team(req, &team)) return;`.
 *
 * Threads: HTTP server threads.
 */
#ifndef SL_HANDLERS_COMMON_H
#define SL_HANDLERS_COMMON_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "http.h"
#include "lever.h"
#include "ratelimit.h"
#include "tokens.h"

/* The {name} param of the route, checked as a Stakha id (SPEC 3); 400 invalid_id if not. */
bool sl_h_id(struct sl_req *req, const char *name, const char **out);

/* The body as a JSON object; an empty body gives an empty object when
 * `optional`. 400 when not JSON, 422 when not an object. *out caller-owned. */
bool sl_h_json_body(struct sl_req *req, bool optional, json_t **out);

/* A pooled database connection; 503 when the database is unavailable. */
bool sl_h_db(struct sl_req *req, struct sl_db **out);
void sl_h_db_release(struct sl_req *req, struct sl_db *db);

/* Answers a database or internal failure (503 / 500) and logs it. */
void sl_h_fail(struct sl_req *req, const struct sl_err *err);

/* Lever access for a team: a pooled client and a valid token. 409
 * `not_connected` when the team has no active connection, 502 when Lever
 * cannot be reached, 503 when the database cannot. Release with
 * sl_h_lever_release. */
struct sl_h_lever {
    struct sl_lever *client;
    struct sl_access access;
    struct sl_ratelimit_borrowed gate; /* the account's bucket (SPEC 7), on the request's db */
};
bool sl_h_lever(struct sl_req *req, struct sl_db *db, const char *team_id, struct sl_h_lever *out);
/* After a 401 from the API: refreshes once. Same answers as sl_h_lever. */
bool sl_h_lever_refresh(struct sl_req *req, struct sl_db *db, const char *team_id,
                        struct sl_h_lever *lv);
void sl_h_lever_release(struct sl_req *req, struct sl_h_lever *lv);

/* A time already formatted by SQL's sl_rfc3339() as a new JSON string, or
 * JSON null for SQL NULL. */
json_t *sl_h_time(const char *pg_value);

#endif
