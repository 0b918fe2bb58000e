/* Postings dropdown and job sync (SPEC 3, issue 5) against the fake Lever. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"

static struct th_service svc;
static struct th_db db;

static long api(const char *method, const char *path, const char *body, json_t **out)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", svc.base_url, path);
    const char *headers[] = {"Authorization: Bearer " TH_API_TOKEN,
                             "Content-Type: application/json", NULL};
    struct th_resp r;
    th_http(&r, method, url, headers, body, body ? strlen(body) : 0);
    if (out)
        *out = th_resp_json(&r);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

static const char *err_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

int main(void)
{
    struct fake_lever *f = fake_lever_start();
    if (!f)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_max_page(f, 2);
    fake_lever_add_posting(f, "acct_1", "p-gamma", "gamma engineer", "published", "public", "Eng",
                           "Paris");
    fake_lever_add_posting(f, "acct_1", "p-alpha", "Alpha Engineer", "published", "internal", "Eng",
                           "Berlin");
    fake_lever_add_posting(f, "acct_1", "p-beta", "beta engineer", "published", "public,internal",
                           "Ops", "Remote");
    fake_lever_add_posting(f, "acct_1", "p-unl-b", "Zeta (unlisted)", "internal", "", "Eng",
                           "London");
    fake_lever_add_posting(f, "acct_1", "p-unl-a", "alpha unlisted", "internal", "", "Eng",
                           "London");
    fake_lever_add_posting(f, "acct_1", "p-unl-c", "Mid unlisted", "internal", "", "Eng", "London");
    fake_lever_add_posting(f, "acct_1", "p-closed", "Closed one", "closed", "public", "Eng", "X");
    fake_lever_add_posting(f, "acct_1", "p-draft", "Draft one", "draft", "", "Eng", "X");
    fake_lever_add_posting(f, "acct_1", "p-pending", "Pending one", "pending", "", "Eng", "X");

    th_db_create(&db);
    const char *extra[] = {"SL_WORKERS=0", NULL};
    if (!th_service_start(&svc, "serve", th_env(&db, tf_env_merge(tf_lever_env(f), extra)), 20))
        BAIL_OUT("service did not start");

    json_t *j = NULL;
    is_int(api("GET", "/api/v1/teams/team_1/lever/postings", NULL, &j), 409,
           "postings without a connection: 409");
    is_str(err_code(j), "not_connected", "code not_connected");
    json_decref(j);
    is_int(api("GET", "/api/v1/teams/bad%20team/lever/postings", NULL, NULL), 400,
           "malformed team id: 400");

    free(tf_connect_team(&db, f, "team_1", "acct_1", 3600));
    fake_lever_reset_log(f);
    is_int(api("GET", "/api/v1/teams/team_1/lever/postings", NULL, &j), 200, "postings: 200");
    json_t *list = json_object_get(j, "postings");
    const char *want[] = {"p-alpha", "p-beta", "p-gamma", "p-unl-a", "p-unl-c", "p-unl-b"};
    is_int(json_array_size(list), 6, "exactly the published and internal postings");
    for (size_t i = 0; i < 6 && i < json_array_size(list); i++)
        is_str(json_string_value(json_object_get(json_array_get(list, i), "id")), want[i],
               "position %zu", i);
    json_t *alpha = json_array_get(list, 0), *unl = json_array_get(list, 3);
    ok(json_is_true(json_object_get(alpha, "listed")), "published: listed true");
    ok(json_is_false(json_object_get(unl, "listed")), "internal: listed false");
    is_str(json_string_value(json_object_get(alpha, "state")), "published", "state");
    is_str(json_string_value(json_object_get(alpha, "location")), "Berlin", "location");
    is_str(json_string_value(json_object_get(alpha, "team")), "Eng", "team");
    ok(strstr(json_string_value(json_object_get(alpha, "url")) ?: "", "p-alpha") != NULL,
       "url is urls.show");
    json_decref(j);
    int calls = fake_lever_count(f, "GET", "/v1/postings");
    is_int(calls, 4, "every page was read: 4 pages of 2 (3 published, 3 unlisted)");

    is_int(api("GET", "/api/v1/teams/team_1/lever/postings", NULL, NULL), 200, "again: 200");
    is_int(fake_lever_count(f, "GET", "/v1/postings"), calls,
           "a second call within 60 s does not reach Lever");
    is_int(api("GET", "/api/v1/teams/team_1/lever/postings?refresh=true", NULL, NULL), 200,
           "refresh=true: 200");
    ok(fake_lever_count(f, "GET", "/v1/postings") > calls, "refresh=true reaches Lever");

    fake_lever_push_response(f, "GET", "/v1/postings", 500, "{\"code\":\"InternalError\"}", 0);
    is_int(api("GET", "/api/v1/teams/team_1/lever/postings?refresh=true", NULL, &j), 502,
           "Lever failing: 502");
    ok(json_is_string(json_object_get(json_object_get(j, "error"), "message")),
       "with a plain message");
    json_decref(j);

    /* Sync. */
    const char *sync_path = "/api/v1/teams/team_1/jobs/job_42/lever-sync";
    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-closed\"}", NULL), 422,
           "closed posting: 422");
    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-nope\"}", NULL), 422,
           "unknown posting: 422");
    is_int(api("PUT", sync_path, "{}", NULL), 422, "no posting id: 422");
    is_int(api("PUT", sync_path, "not json", NULL), 400, "not JSON: 400");
    is_int(api("PUT", "/api/v1/teams/team_2/jobs/job_42/lever-sync",
               "{\"lever_posting_id\":\"p-alpha\"}", NULL),
           409, "without an active connection: 409");
    is_int(api("GET", sync_path, NULL, NULL), 404, "not synced yet: GET 404");
    is_int(th_db_long(&db, "SELECT count(*) FROM job_syncs"), 0, "refusals stored nothing");

    /* 1,000 applications of the job, 150 of them "added"; 10 of another job; 5 deleted. */
    th_db_exec(&db,
               "INSERT INTO applications (team_id, application_id, job_id, status, candidate_id,"
               " candidate, event_created_at, event_seq)"
               " SELECT 'team_1', 'app_' || g, 'job_42', CASE WHEN g <= 150 THEN 'added'"
               " ELSE 'applied' END, 'c' || g, jsonb_build_object('id', 'c' || g,"
               " 'first_name', 'N' || g), now(), g FROM generate_series(1, 1000) g");
    th_db_exec(&db, "INSERT INTO applications (team_id, application_id, job_id, status,"
                    " event_created_at, event_seq)"
                    " SELECT 'team_1', 'other_' || g, 'job_7', 'applied', now(), g"
                    " FROM generate_series(1, 10) g");
    th_db_exec(&db, "INSERT INTO applications (team_id, application_id, job_id, status, deleted,"
                    " event_created_at, event_seq)"
                    " SELECT 'team_1', 'gone_' || g, 'job_42', 'applied', true, now(), g"
                    " FROM generate_series(1, 5) g");

    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-alpha\"}", &j), 202, "sync: 202");
    is_int(json_integer_value(json_object_get(j, "enqueued")), 850, "enqueued 850");
    is_str(json_string_value(json_object_get(j, "lever_posting_id")), "p-alpha", "echoes posting");
    json_decref(j);
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE job_id <> 'job_42'"), 0,
           "an application of another job is not enqueued");
    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-alpha\"}", &j), 202,
           "identical PUT again: 202");
    is_int(json_integer_value(json_object_get(j, "enqueued")), 0, "enqueues 0");
    json_decref(j);
    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-beta\"}", &j), 409,
           "another posting while synced: 409");
    json_decref(j);

    is_int(api("GET", sync_path, NULL, &j), 200, "GET sync: 200");
    json_t *counts = json_object_get(j, "counts");
    is_int(json_integer_value(json_object_get(counts, "total")), 850, "total 850");
    is_int(json_integer_value(json_object_get(counts, "skipped")), 150, "skipped 150");
    is_int(json_integer_value(json_object_get(counts, "pending")), 850, "pending 850");
    is_int(json_integer_value(json_object_get(counts, "delivered")), 0, "delivered 0");
    ok(json_is_string(json_object_get(j, "created_at")) &&
           strlen(json_string_value(json_object_get(j, "created_at"))) == 20,
       "created_at is RFC 3339 UTC: %s", json_string_value(json_object_get(j, "created_at")));
    json_decref(j);

    is_int(api("GET", "/api/v1/teams/team_1/lever-syncs", NULL, &j), 200, "lever-syncs: 200");
    is_int(json_array_size(json_object_get(j, "syncs")), 1, "lists the sync");
    is_str(json_string_value(
               json_object_get(json_array_get(json_object_get(j, "syncs"), 0), "job_id")),
           "job_42", "with its job");
    json_decref(j);

    /* Delete: undelivered cancelled, delivered kept. */
    th_db_exec(&db, "UPDATE deliveries SET state = 'delivered' WHERE application_id = 'app_999'");
    is_int(api("DELETE", sync_path, NULL, NULL), 204, "DELETE: 204");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'cancelled'"), 849,
           "undelivered deliveries cancelled");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 1,
           "delivered one kept");
    is_int(api("GET", sync_path, NULL, NULL), 404, "GET after DELETE: 404");
    is_int(api("DELETE", sync_path, NULL, NULL), 404, "DELETE again: 404");
    is_int(api("GET", "/api/v1/teams/team_1/lever-syncs", NULL, &j), 200, "lever-syncs: 200");
    is_int(json_array_size(json_object_get(j, "syncs")), 0, "no longer lists it");
    json_decref(j);

    /* A new PUT enqueues again what has no delivered delivery to the posting. */
    is_int(api("PUT", sync_path, "{\"lever_posting_id\":\"p-alpha\"}", &j), 202, "sync again");
    is_int(json_integer_value(json_object_get(j, "enqueued")), 849,
           "re-enqueues all but the delivered one");
    json_decref(j);
    is_int(api("GET", sync_path, NULL, &j), 200, "GET");
    is_int(json_integer_value(json_object_get(json_object_get(j, "counts"), "total")), 850,
           "total counts the delivered one too");
    json_decref(j);

    /* Auth. */
    struct th_resp r;
    char url[256];
    snprintf(url, sizeof(url), "%s%s", svc.base_url, sync_path);
    th_http(&r, "GET", url, NULL, NULL, 0);
    is_int(r.status, 401, "no bearer: 401");
    th_resp_free(&r);

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");
    fake_lever_stop(f);
    th_db_drop(&db);
    return done_testing();
}
