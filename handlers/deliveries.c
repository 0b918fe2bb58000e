/*
 * deliveries.c: the deliveries of a team (SPEC 3): the list that shows what
 * was pushed, what waits and what died and why, one delivery with its
 * attempts log, and the retry of a dead or parked one.
 *
 *   GET  /api/v1/teams/{team_id}/deliveries?state=&job_id=&limit=&cursor=
 *   GET  /api/v1/teams/{team_id}/deliveries/{id}
 *   POST /api/v1/teams/{team_id}/deliveries/{id}/retry
 *
 * The list is ordered by id and paginated with an opaque cursor (the last
 * id of the page): stable while deliveries are added, unlike an offset.
 * The SQL lives in server/queue.c, next to the state machine it reads.
 *
 * Threads: HTTP server threads.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "handlers.h"
#include "queue.h"
#include "util.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

/* The {id} of the route: a positive integer; 400 invalid_id otherwise. */
static bool delivery_id(struct sl_req *req, long long *out)
{
    const char *v = sl_req_param(req, "id");
    long id = 0;
    bool digits = v && *v && strspn(v, "0123456789") == strlen(v) && strlen(v) <= 19;
    if (!digits || !sl_parse_long(v, 1, __LONG_MAX__, &id)) {
        sl_reply_error(req, 400, "invalid_id", "the delivery id must be a positive integer");
        return false;
    }
    *out = id;
    return true;
}

void sl_handle_deliveries_list(struct sl_req *req)
{
    const char *team = NULL;
    if (!sl_h_id(req, "team_id", &team))
        return;
    const char *state = sl_req_query(req, "state");
    if (state && !sl_queue_state_valid(state)) {
        sl_reply_error(req, 400, "invalid_parameter",
                       "state must be one of pending, running, retrying, delivered, dead, "
                       "parked, cancelled");
        return;
    }
    const char *job = sl_req_query(req, "job_id");
    if (job && !sl_valid_id(job)) {
        sl_reply_error(req, 400, "invalid_id",
                       "job_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -");
        return;
    }
    long limit = DEFAULT_LIMIT;
    const char *limit_s = sl_req_query(req, "limit");
    if (limit_s && !sl_parse_long(limit_s, 1, MAX_LIMIT, &limit)) {
        sl_reply_error(req, 400, "invalid_parameter", "limit must be an integer from 1 to %d",
                       MAX_LIMIT);
        return;
    }
    long after = 0;
    const char *cursor = sl_req_query(req, "cursor");
    if (cursor && !sl_parse_long(cursor, 0, __LONG_MAX__, &after)) {
        sl_reply_error(req, 400, "invalid_parameter",
                       "cursor must be a next_cursor value from an earlier answer");
        return;
    }
    struct sl_db *db = NULL;
    if (!sl_h_db(req, &db))
        return;
    struct sl_err err = {0};
    json_t *list = NULL;
    bool more = false;
    enum sl_rc rc = sl_queue_list(db, team, state, job, after, (int)limit, &list, &more, &err);
    sl_h_db_release(req, db);
    if (rc) {
        sl_h_fail(req, &err);
        return;
    }
    json_t *next = json_null();
    size_t n = json_array_size(list);
    if (more && n) {
        const char *last = json_string_value(json_object_get(json_array_get(list, n - 1), "id"));
        next = json_string(last);
    }
    sl_reply_json(req, 200, json_pack("{s:o, s:o}", "deliveries", list, "next_cursor", next));
}

void sl_handle_delivery_get(struct sl_req *req)
{
    const char *team = NULL;
    long long id = 0;
    if (!sl_h_id(req, "team_id", &team) || !delivery_id(req, &id))
        return;
    struct sl_db *db = NULL;
    if (!sl_h_db(req, &db))
        return;
    struct sl_err err = {0};
    json_t *d = NULL;
    enum sl_rc rc = sl_queue_get(db, team, id, &d, &err);
    sl_h_db_release(req, db);
    if (rc == SL_ERR_NOT_FOUND) {
        sl_reply_error(req, 404, "not_found", "Team %s has no delivery %lld.", team, id);
        return;
    }
    if (rc) {
        sl_h_fail(req, &err);
        return;
    }
    sl_reply_json(req, 200, d);
}

void sl_handle_delivery_retry(struct sl_req *req)
{
    const char *team = NULL;
    long long id = 0;
    if (!sl_h_id(req, "team_id", &team) || !delivery_id(req, &id))
        return;
    struct sl_db *db = NULL;
    if (!sl_h_db(req, &db))
        return;
    struct sl_err err = {0};
    json_t *d = NULL;
    enum sl_rc rc = sl_queue_requeue(db, team, id, &d, &err);
    sl_h_db_release(req, db);
    switch (rc) {
    case SL_OK:
        sl_reply_json(req, 202, d);
        return;
    case SL_ERR_NOT_FOUND:
        sl_reply_error(req, 404, "not_found", "Team %s has no delivery %lld.", team, id);
        return;
    case SL_ERR_CONFLICT:
        sl_reply_error(req, 409, "not_retryable", "%s", err.msg);
        return;
    default:
        sl_h_fail(req, &err);
        return;
    }
}
