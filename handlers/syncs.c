/*
 * syncs.c: job synchronization (SPEC 3): PUT/GET/DELETE
 * /api/v1/teams/{team_id}/jobs/{job_id}/lever-sync and GET .../lever-syncs.
 *
 * PUT checks the posting against Lever (exists; published or internal)
 * before anything is stored, then, in one transaction, records the sync and
 * enqueues a delivery for every stored application of the job whose status
 * is not "added" and that has no live or delivered delivery to the posting
 * (a cancelled one is revived, keeping the Lever ids of steps already done).
 * One set-based INSERT ... SELECT does the backfill, so 100,000 applications
 * take one request. Counts are read through the (team, job, state) index.
 *
 * Threads: HTTP server threads.
 */
#include <string.h>

#include "app.h"
#include "common.h"
#include "handlers.h"
#include "log.h"
#include "util.h"

#define MAX_POSTING_ID 128

/* Asks Lever about the posting: true when it exists and is published or
 * internal; otherwise the request is answered (422, 409, 502). */
static bool posting_usable(struct sl_req *req, struct sl_db *db, const char *team_id,
                           const char *posting_id)
{
    struct sl_h_lever lv;
    if (!sl_h_lever(req, db, team_id, &lv)) {
        sl_h_lever_release(req, &lv);
        return false;
    }
    char path[256];
    char *escaped = NULL;
    struct sl_lever_resp resp = {0};
    struct sl_err err = {0};
    bool usable = false;
    /* The id goes into the path: only Lever's id characters are allowed. */
    for (const char *p = posting_id; *p; p++)
        if (!(('0' <= *p && *p <= '9') || ('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
              *p == '-' || *p == '_')) {
            sl_reply_error(req, 422, "unknown_posting", "lever_posting_id %s is not a Lever id",
                           posting_id);
            goto out;
        }
    snprintf(path, sizeof(path), "/postings/%s", posting_id);
    for (int attempt = 0; attempt < 2; attempt++) {
        sl_lever_resp_cleanup(&resp);
        enum sl_rc rc =
            sl_lever_call(lv.client, "GET", lv.access.access_token, path, NULL, NULL, &resp, &err);
        if (rc) {
            sl_reply_error(req, 502, "lever_unavailable", "Lever could not be reached: %s",
                           err.msg);
            goto out;
        }
        if (resp.status != 401 || attempt)
            break;
        if (!sl_h_lever_refresh(req, db, team_id, &lv))
            goto out;
    }
    if (resp.status == 404) {
        sl_reply_error(req, 422, "unknown_posting", "Lever has no posting %s", posting_id);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        sl_reply_error(req, 502, "lever_unavailable", "Lever answered %ld: %s", resp.status,
                       resp.error_message[0] ? resp.error_message : "no detail");
        goto out;
    }
    const char *state = json_string_value(json_object_get(resp.data, "state"));
    if (!state || (strcmp(state, "published") != 0 && strcmp(state, "internal") != 0)) {
        sl_reply_error(req, 422, "posting_not_open",
                       "Lever posting %s is %s; only published or unlisted postings can be "
                       "synchronized",
                       posting_id, state ? state : "in an unknown state");
        goto out;
    }
    usable = true;
out:
    free(escaped);
    sl_lever_resp_cleanup(&resp);
    sl_h_lever_release(req, &lv);
    return usable;
}

/* The posting the job is synced with (caller frees), or NULL. */
static enum sl_rc current_posting(struct sl_db *db, const char *team, const char *job,
                                  char **posting, struct sl_err *err)
{
    struct sl_db_res *res = NULL;
    const char *params[] = {team, job};
    enum sl_rc rc = sl_db_exec(db,
                               "SELECT lever_posting_id FROM job_syncs"
                               " WHERE team_id = $1 AND job_id = $2",
                               2, params, &res, err);
    *posting = NULL;
    if (!rc && sl_db_res_rows(res))
        *posting = sl_xstrdup(sl_db_res_get(res, 0, 0));
    sl_db_res_free(res);
    return rc;
}

/* Records the sync and backfills, in one transaction. *enqueued = rows
 * enqueued; SL_ERR_CONFLICT when another posting won a race. */
static enum sl_rc store_sync(struct sl_db *db, const char *team, const char *job,
                             const char *posting, long *enqueued, struct sl_err *err)
{
    const char *params[] = {team, job, posting};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db, "BEGIN", 0, NULL, NULL, err);
    if (rc)
        return rc;
    rc = sl_db_exec(db,
                    "INSERT INTO job_syncs (team_id, job_id, lever_posting_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT (team_id, job_id) DO NOTHING",
                    3, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db,
                        "SELECT 1 FROM job_syncs WHERE team_id = $1 AND job_id = $2"
                        " AND lever_posting_id = $3",
                        3, params, &res, err);
    if (!rc && sl_db_res_rows(res) != 1)
        rc = sl_err_set(err, SL_ERR_CONFLICT, "job is synchronized with another posting");
    sl_db_res_free(res);
    res = NULL;
    if (!rc)
        rc = sl_db_exec(
            db,
            "WITH enqueued AS ("
            " INSERT INTO deliveries AS d (team_id, application_id, job_id, lever_posting_id)"
            " SELECT a.team_id, a.application_id, a.job_id, $3 FROM applications a"
            "  WHERE a.team_id = $1 AND a.job_id = $2 AND NOT a.deleted AND a.status <> 'added'"
            " ON CONFLICT (team_id, application_id, lever_posting_id) DO UPDATE"
            "  SET state = 'pending', job_id = EXCLUDED.job_id, attempts = 0,"
            "      next_attempt_at = now(), last_error = NULL, updated_at = now()"
            "  WHERE d.state = 'cancelled'"
            " RETURNING 1)"
            " SELECT count(*) FROM enqueued",
            3, params, &res, err);
    if (!rc && !sl_parse_long(sl_db_res_get(res, 0, 0), 0, __LONG_MAX__, enqueued))
        rc = sl_err_set(err, SL_ERR_INTERNAL, "backfill: unreadable count");
    sl_db_res_free(res);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, err);
    if (rc && sl_db_ok(db)) {
        enum sl_rc ignored = sl_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL);
        (void)ignored;
    }
    return rc;
}

void sl_handle_sync_put(struct sl_req *req)
{
    const char *team, *job;
    json_t *body = NULL;
    struct sl_db *db = NULL;
    char *existing = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_id(req, "job_id", &job) ||
        !sl_h_json_body(req, false, &body))
        goto out;
    const char *posting = json_string_value(json_object_get(body, "lever_posting_id"));
    if (!posting || sl_blank(posting) || strlen(posting) > MAX_POSTING_ID) {
        sl_reply_error(req, 422, "invalid_request",
                       "lever_posting_id is required: a string of at most %d characters",
                       MAX_POSTING_ID);
        goto out;
    }
    if (!sl_h_db(req, &db))
        goto out;
    if (current_posting(db, team, job, &existing, &err)) {
        sl_h_fail(req, &err);
        goto out;
    }
    if (existing && strcmp(existing, posting) != 0) {
        sl_reply_error(req, 409, "already_synced",
                       "Job %s is synchronized with posting %s; delete that sync first.", job,
                       existing);
        goto out;
    }
    if (!posting_usable(req, db, team, posting))
        goto out;
    long enqueued = 0;
    enum sl_rc rc = store_sync(db, team, job, posting, &enqueued, &err);
    if (rc == SL_ERR_CONFLICT) {
        sl_reply_error(req, 409, "already_synced",
                       "Job %s was just synchronized with another posting; delete that sync "
                       "first.",
                       job);
        goto out;
    }
    if (rc) {
        sl_h_fail(req, &err);
        goto out;
    }
    sl_log(SL_LOG_INFO, "job_synced", "team %s job %s -> posting %s: %ld enqueued", team, job,
           posting, enqueued);
    sl_reply_json(req, 202,
                  json_pack("{s:s,s:s,s:I}", "job_id", job, "lever_posting_id", posting, "enqueued",
                            (json_int_t)enqueued));
out:
    free(existing);
    json_decref(body);
    if (db)
        sl_h_db_release(req, db);
}

static json_int_t col_int(const struct sl_db_res *res, int col)
{
    long v = 0;
    if (!sl_parse_long(sl_db_res_get(res, 0, col), 0, __LONG_MAX__, &v))
        v = 0;
    return (json_int_t)v;
}

void sl_handle_sync_get(struct sl_req *req)
{
    const char *team, *job;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_id(req, "job_id", &job) || !sl_h_db(req, &db))
        goto out;
    const char *params[] = {team, job};
    enum sl_rc rc =
        sl_db_exec(db,
                   "SELECT s.lever_posting_id, sl_rfc3339(s.created_at),"
                   " count(d.id) FILTER (WHERE d.state <> 'cancelled'),"
                   " count(d.id) FILTER (WHERE d.state = 'delivered'),"
                   " count(d.id) FILTER (WHERE d.state IN ('pending', 'running')),"
                   " count(d.id) FILTER (WHERE d.state = 'retrying'),"
                   " count(d.id) FILTER (WHERE d.state = 'dead'),"
                   " count(d.id) FILTER (WHERE d.state = 'parked'),"
                   " (SELECT count(*) FROM applications a WHERE a.team_id = s.team_id"
                   "   AND a.job_id = s.job_id AND a.status = 'added' AND NOT a.deleted)"
                   " FROM job_syncs s LEFT JOIN deliveries d ON d.team_id = s.team_id"
                   "  AND d.job_id = s.job_id AND d.lever_posting_id = s.lever_posting_id"
                   " WHERE s.team_id = $1 AND s.job_id = $2"
                   " GROUP BY s.team_id, s.job_id, s.lever_posting_id, s.created_at",
                   2, params, &res, &err);
    if (rc) {
        sl_h_fail(req, &err);
        goto out;
    }
    if (sl_db_res_rows(res) == 0) {
        sl_reply_error(req, 404, "not_found", "Job %s is not synchronized with Lever.", job);
        goto out;
    }
    json_t *counts =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "total", col_int(res, 2), "delivered",
                  col_int(res, 3), "pending", col_int(res, 4), "retrying", col_int(res, 5), "dead",
                  col_int(res, 6), "parked", col_int(res, 7), "skipped", col_int(res, 8));
    sl_reply_json(req, 200,
                  json_pack("{s:s,s:s,s:o,s:o}", "job_id", job, "lever_posting_id",
                            sl_db_res_get(res, 0, 0), "created_at",
                            sl_h_time(sl_db_res_get(res, 0, 1)), "counts", counts));
out:
    sl_db_res_free(res);
    if (db)
        sl_h_db_release(req, db);
}

void sl_handle_sync_delete(struct sl_req *req)
{
    const char *team, *job;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_id(req, "job_id", &job) || !sl_h_db(req, &db))
        goto out;
    const char *params[] = {team, job};
    enum sl_rc rc = sl_db_exec(
        db,
        "WITH gone AS (DELETE FROM job_syncs WHERE team_id = $1 AND job_id = $2"
        "  RETURNING lever_posting_id),"
        " cancelled AS (UPDATE deliveries d SET state = 'cancelled', lease_owner = NULL,"
        "   lease_expires_at = NULL, updated_at = now() FROM gone"
        "  WHERE d.team_id = $1 AND d.job_id = $2 AND d.lever_posting_id = gone.lever_posting_id"
        "   AND d.state NOT IN ('delivered', 'cancelled') RETURNING 1)"
        " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM cancelled)",
        2, params, &res, &err);
    if (rc) {
        sl_h_fail(req, &err);
        goto out;
    }
    if (col_int(res, 0) == 0) {
        sl_reply_error(req, 404, "not_found", "Job %s is not synchronized with Lever.", job);
        goto out;
    }
    sl_log(SL_LOG_INFO, "job_unsynced", "team %s job %s: %lld undelivered cancelled", team, job,
           (long long)col_int(res, 1));
    sl_reply_empty(req, 204);
out:
    sl_db_res_free(res);
    if (db)
        sl_h_db_release(req, db);
}

void sl_handle_syncs_list(struct sl_req *req)
{
    const char *team;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    if (!sl_h_id(req, "team_id", &team) || !sl_h_db(req, &db))
        goto out;
    const char *params[] = {team};
    if (sl_db_exec(db,
                   "SELECT job_id, lever_posting_id, sl_rfc3339(created_at) FROM job_syncs"
                   " WHERE team_id = $1 ORDER BY created_at, job_id",
                   1, params, &res, &err)) {
        sl_h_fail(req, &err);
        goto out;
    }
    json_t *syncs = json_array();
    for (int r = 0; r < sl_db_res_rows(res); r++)
        json_array_append_new(syncs, json_pack("{s:s,s:s,s:o}", "job_id", sl_db_res_get(res, r, 0),
                                               "lever_posting_id", sl_db_res_get(res, r, 1),
                                               "created_at", sl_h_time(sl_db_res_get(res, r, 2))));
    sl_reply_json(req, 200, json_pack("{s:o}", "syncs", syncs));
out:
    sl_db_res_free(res);
    if (db)
        sl_h_db_release(req, db);
}
