/* The delivery engine end to end (SPEC 6 and 7, the deliveries API of SPEC 3): a webhook
 * in, a candidate and its note in the fake Lever, exactly as the SPEC says; lookups before a
 * create or note whose answer was lost; a permanent error, a 401; the deliveries API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "tap.h"
#include "webhook_sig.h"

static struct th_service svc;
static struct th_db db;
static struct fake_lever *fake;
static struct sl_whsecrets *secrets;
static const char *posting;
static char *dolores;

static long post_event(const char *id, const char *body)
{
    char ts[32], h_id[300], h_ts[64], h_sig[512], url[128];
    snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
    char *signature = sl_webhook_sign(secrets, id, ts, body, strlen(body));
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", signature);
    const char *headers[] = {h_id, h_ts, h_sig, "Content-Type: application/json", NULL};
    snprintf(url, sizeof(url), "%s/webhooks/stakha", svc.base_url);
    struct th_resp r;
    th_http(&r, "POST", url, headers, body, strlen(body));
    free(signature);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

/* An API call with the bearer token; returns the status and, when `json`, the body. */
static long api(const char *method, const char *path, json_t **json)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", svc.base_url, path);
    const char *headers[] = {"Authorization: Bearer " TH_API_TOKEN, NULL};
    struct th_resp r;
    th_http(&r, method, url, headers, NULL, 0);
    if (json)
        *json = th_resp_json(&r);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

static const char FULL_EVENT[] =
    "{\"type\": \"application.created\", \"created_at\": \"2026-12-04T15:19:56Z\","
    " \"data\": {\"team_id\": \"team_d\","
    "  \"application\": {\"id\": \"app_full\", \"job_id\": \"job_42\", \"status\": \"applied\","
    "                   \"created_at\": \"2026-12-04T15:19:50Z\"},"
    "  \"candidate\": {\"id\": \"cand_77\", \"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
    "   \"email\": \"ada@example.com\", \"phone\": \"+44 20 7946 0000\","
    "   \"location\": \"London, United Kingdom\","
    "   \"resume_url\": \"https://api.recruitcrm.io/v1/files/cand_77/resume.pdf\","
    "   \"profile_url\": \"https://app.stakha.io/candidates/cand_77\","
    "   \"github_url\": \"https://github.com/ada\", \"twitter_url\": null,"
    "   \"linkedin_url\": \"https://www.linkedin.com/in/ada\","
    "   \"summary\": \"Systems engineer with a taste\\nfor analytical engines.\","
    "   \"salary_expectation\": {\"min\": 60000, \"max\": 70000, \"currency\": \"EUR\","
    "                            \"period\": \"year\"},"
    "   \"availability\": \"2 weeks notice\", \"years_of_experience\": 7,"
    "   \"contract_types\": [\"permanent\", \"freelance\"], \"skills\": [\"C\", \"PostgreSQL\"]}}}";

static char *simple_event(const char *app, const char *first, const char *email,
                          const char *profile)
{
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"type\": \"application.created\", \"data\": {\"team_id\": \"team_d\","
             " \"application\": {\"id\": \"%s\", \"job_id\": \"job_42\", \"status\": \"applied\"},"
             " \"candidate\": {\"id\": \"c_%s\", \"first_name\": \"%s\"%s%s%s%s%s%s}}}",
             app, app, first, email ? ", \"email\": \"" : "", email ? email : "", email ? "\"" : "",
             profile ? ", \"profile_url\": \"" : "", profile ? profile : "", profile ? "\"" : "");
    return out;
}

static long delivery_state_is(const char *app, const char *state, int timeout_ms)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM deliveries WHERE application_id = '%s' AND state = '%s'", app,
             state);
    return td_wait_count(&db, sql, 1, timeout_ms);
}

static json_t *last_request(const char *method, const char *path)
{
    json_t *all = fake_lever_requests(fake);
    json_t *found = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "method")), method) == 0 &&
            strcmp(json_string_value(json_object_get(r, "path")), path) == 0)
            found = r;
    }
    json_incref(found);
    json_decref(all);
    return found;
}

static const char *query_value(json_t *request, const char *name)
{
    return json_string_value(
        json_array_get(json_object_get(json_object_get(request, "query"), name), 0));
}

int main(void)
{
    struct sl_err err;
    if (sl_whsecrets_parse(TH_WEBHOOK_SECRET, &secrets, &err))
        BAIL_OUT("%s", err.msg);
    fake = fake_lever_start();
    if (!fake)
        BAIL_OUT("fake Lever did not start");
    posting = fake_lever_add_posting(fake, "acct_1", NULL, "Engineer", "published", "public", "Eng",
                                     "London");
    th_db_create(&db);
    tf_lever_env(fake); /* the client first: the minted grant must be refreshable by it */
    dolores = tf_connect_team(&db, fake, "team_d", "acct_1", 3600);
    td_sync_job(&db, "team_d", "job_42", posting);
    const char *extra[] = {"SL_WORKERS=2", NULL};
    td_start(&svc, &db, fake, extra);

    /* ---- the full candidate, as SPEC 6 says ---- */
    is_int(post_event("wh_full", FULL_EVENT), 202, "webhook stored");
    ok(delivery_state_is("app_full", "delivered", 15000) == 1, "delivered");
    json_t *create = last_request("POST", "/v1/opportunities");
    ok(create != NULL, "Lever got POST /opportunities");
    is_str(query_value(create, "perform_as"), dolores, "perform_as: the service user");
    json_t *body = json_loads(json_string_value(json_object_get(create, "body")), 0, NULL);
    json_t *want =
        json_pack("{s:s, s:[s], s:[{s:s, s:s}], s:s, s:[s,s,s,s], s:[s], s:[s], s:s, s:s, s:[s]}",
                  "name", "Ada Lovelace", "emails", "ada@example.com", "phones", "value",
                  "+44 20 7946 0000", "type", "mobile", "location", "London, United Kingdom",
                  "links", "https://api.recruitcrm.io/v1/files/cand_77/resume.pdf",
                  "https://app.stakha.io/candidates/cand_77", "https://github.com/ada",
                  "https://www.linkedin.com/in/ada", "tags", "Sourced via Stakha", "sources",
                  "Stakha", "origin", "sourced", "stage", "lead-new", "postings", posting);
    ok(json_equal(body, want), "the opportunity body is exactly SPEC 6's");
    if (!json_equal(body, want))
        diag("sent: %s", json_string_value(json_object_get(create, "body")));
    json_t *links = json_object_get(body, "links");
    is_str(json_string_value(json_array_get(links, 0)),
           "https://api.recruitcrm.io/v1/files/cand_77/resume.pdf", "links in order: resume first");
    json_decref(want);
    json_decref(body);
    json_decref(create);

    json_t *opps = fake_lever_opportunities(fake);
    is_int(json_array_size(opps), 1, "one opportunity");
    json_t *opp = json_array_get(opps, 0);
    const char *opp_id = json_string_value(json_object_get(opp, "id"));
    is_str(json_string_value(json_object_get(opp, "stage")), "lead-new", "in the New lead stage");
    json_t *notes = fake_lever_notes(fake, opp_id);
    is_int(json_array_size(notes), 1, "one note");
    const char *value = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(notes, 0), "fields"), 0), "value"));
    is_str(value,
           "Sourced via Stakha\n"
           "Summary: Systems engineer with a taste for analytical engines.\n"
           "Salary expectation: 60000-70000 EUR per year\n"
           "Availability: 2 weeks notice\n"
           "Years of experience: 7\n"
           "Accepted contracts: permanent, freelance\n"
           "Technical skills: C, PostgreSQL",
           "the note is exactly SPEC 6's, line breaks in values replaced");
    is_str(json_string_value(json_object_get(json_array_get(notes, 0), "user")), dolores,
           "the note is Dolores's");
    json_decref(notes);

    /* The deliveries API shows it. */
    json_t *list = NULL;
    is_int(api("GET", "/api/v1/teams/team_d/deliveries", &list), 200, "GET deliveries");
    json_t *d = json_array_get(json_object_get(list, "deliveries"), 0);
    is_str(json_string_value(json_object_get(d, "application_id")), "app_full", "application_id");
    is_str(json_string_value(json_object_get(d, "job_id")), "job_42", "job_id");
    is_str(json_string_value(json_object_get(d, "lever_posting_id")), posting, "lever_posting_id");
    is_str(json_string_value(json_object_get(d, "state")), "delivered", "state");
    is_int(json_integer_value(json_object_get(d, "attempts")), 1, "attempts: 1");
    ok(json_is_null(json_object_get(d, "last_error")), "no last_error");
    ok(json_is_null(json_object_get(d, "next_attempt_at")), "no next attempt");
    is_str(json_string_value(json_object_get(d, "lever_opportunity_id")), opp_id,
           "lever_opportunity_id is Lever's");
    char *full_id = strdup(json_string_value(json_object_get(d, "id")));
    json_decref(list);
    json_decref(opps);

    /* ---- only a name, no email: nothing empty is sent ---- */
    char *only = simple_event("app_name", "Grace", NULL, NULL);
    is_int(post_event("wh_name", only), 202, "a candidate with only a name");
    free(only);
    ok(delivery_state_is("app_name", "delivered", 15000) == 1,
       "delivered (the strict fake refuses null, \"\" and [])");
    create = last_request("POST", "/v1/opportunities");
    body = json_loads(json_string_value(json_object_get(create, "body")), 0, NULL);
    want = json_pack("{s:s, s:[s], s:[s], s:s, s:s, s:[s]}", "name", "Grace", "tags",
                     "Sourced via Stakha", "sources", "Stakha", "origin", "sourced", "stage",
                     "lead-new", "postings", posting);
    ok(json_equal(body, want), "only name, constants, stage and posting");
    json_decref(want);
    json_decref(body);
    json_decref(create);
    is_int(fake_lever_count(fake, "GET", "/v1/stages"), 1, "the stage list was read once (cached)");

    /* ---- woken by NOTIFY, not by the 1 s poll: an idle pool reacts at once ---- */
    long long worst_ms = 0;
    for (int i = 0; i < 5; i++) {
        char app[32], wh[32];
        snprintf(app, sizeof(app), "app_fast%d", i);
        snprintf(wh, sizeof(wh), "wh_fast%d", i);
        char *ev = simple_event(app, "Fast", NULL, NULL);
        int creates = fake_lever_count(fake, "POST", "/v1/opportunities$");
        struct timespec idle = {0, 300 * 1000000L}; /* let the workers go back to sleep */
        nanosleep(&idle, NULL);
        long long t0 = th_now_ms();
        post_event(wh, ev);
        while (fake_lever_count(fake, "POST", "/v1/opportunities$") == creates &&
               th_now_ms() - t0 < 3000) {
            struct timespec ts = {0, 2 * 1000000L};
            nanosleep(&ts, NULL);
        }
        long long took = th_now_ms() - t0;
        if (took > worst_ms)
            worst_ms = took;
        free(ev);
    }
    ok(worst_ms < 400, "webhook to Lever create in < 400 ms every time (worst %lld ms)", worst_ms);
    td_wait_count(&db,
                  "SELECT count(*) FROM deliveries WHERE application_id LIKE 'app_fast%'"
                  " AND state = 'delivered'",
                  5, 10000);

    /* ---- a create whose answer is lost: looked up, not created twice ---- */
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities$", 0, 1000);
    char *lost = simple_event("app_lost", "Lin", "lin@example.com", NULL);
    is_int(post_event("wh_lost", lost), 202, "a candidate whose create answer will be dropped");
    free(lost);
    td_wait_count(&db,
                  "SELECT count(*) FROM deliveries WHERE application_id = 'app_lost'"
                  " AND state = 'retrying'",
                  1, 10000);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities$", 0, 0);
    ok(delivery_state_is("app_lost", "delivered", 15000) == 1, "delivered after the retry");
    is_int(fake_lever_count_opportunities(fake, "lin@example.com", posting), 1,
           "exactly one opportunity for (email, posting)");
    json_t *lookup = last_request("GET", "/v1/opportunities");
    ok(lookup != NULL, "the retry looked the candidate up first");
    is_str(query_value(lookup, "email"), "lin@example.com", "by email");
    is_str(query_value(lookup, "posting_id"), posting, "and posting");
    json_decref(lookup);
    char *opp_lost = th_db_value(&db,
                                 "SELECT lever_opportunity_id FROM deliveries"
                                 " WHERE application_id = 'app_lost'",
                                 0, NULL);
    notes = fake_lever_notes(fake, opp_lost);
    is_int(json_array_size(notes), 1, "and it got one note");
    json_decref(notes);
    free(opp_lost);

    /* ---- the same without an email: by tag, posting, time and profile link ---- */
    fake_lever_reset_log(fake);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities$", 0, 1000);
    char *anon = simple_event("app_anon", "Anon", NULL, "https://app.stakha.io/candidates/c_anon");
    is_int(post_event("wh_anon", anon), 202, "a candidate without email, create answer dropped");
    free(anon);
    td_wait_count(&db,
                  "SELECT count(*) FROM deliveries WHERE application_id = 'app_anon'"
                  " AND state = 'retrying'",
                  1, 10000);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities$", 0, 0);
    ok(delivery_state_is("app_anon", "delivered", 15000) == 1, "delivered after the retry");
    is_int(fake_lever_count(fake, "POST", "/v1/opportunities$"), 1, "created once");
    lookup = last_request("GET", "/v1/opportunities");
    ok(lookup != NULL, "looked up before creating again");
    is_str(query_value(lookup, "tag"), "Sourced via Stakha", "by the Stakha tag");
    is_str(query_value(lookup, "posting_id"), posting, "on the posting");
    ok(query_value(lookup, "created_at_start") != NULL, "created since the first attempt");
    json_decref(lookup);

    /* ---- a note whose answer is lost: found among the notes, not added twice ---- */
    fake_lever_reset_log(fake);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities/*/notes", 0, 1000);
    char *n2 = simple_event("app_note", "Noor", "noor@example.com", NULL);
    is_int(post_event("wh_note", n2), 202, "a candidate whose note answer will be dropped");
    free(n2);
    td_wait_count(&db,
                  "SELECT count(*) FROM deliveries WHERE application_id = 'app_note'"
                  " AND state = 'retrying'",
                  1, 10000);
    fake_lever_set_fault_rate(fake, "POST", "/v1/opportunities/*/notes", 0, 0);
    ok(delivery_state_is("app_note", "delivered", 15000) == 1, "delivered after the retry");
    is_int(fake_lever_count(fake, "POST", "/v1/opportunities$"), 1,
           "the opportunity was not created again (its id was recorded)");
    is_int(fake_lever_count(fake, "GET", "/v1/opportunities/*/notes"), 1,
           "the notes were listed before adding");
    char *opp_note = th_db_value(&db,
                                 "SELECT lever_opportunity_id FROM deliveries"
                                 " WHERE application_id = 'app_note'",
                                 0, NULL);
    notes = fake_lever_notes(fake, opp_note);
    is_int(json_array_size(notes), 1, "exactly one note");
    json_decref(notes);
    free(opp_note);

    /* ---- a permanent 400: dead at once with Lever's message; retry delivers it ---- */
    fake_lever_reset_log(fake);
    fake_lever_push_response(fake, "POST", "/v1/opportunities$", 400,
                             "{\"code\":\"BadRequestError\",\"message\":\"Posting is closed to "
                             "new candidates\"}",
                             0);
    char *bad = simple_event("app_bad", "Bea", "bea@example.com", NULL);
    is_int(post_event("wh_bad", bad), 202, "a candidate Lever will refuse");
    free(bad);
    ok(delivery_state_is("app_bad", "dead", 15000) == 1, "dead at once");
    is_int(fake_lever_count(fake, "POST", "/v1/opportunities$"), 1, "not retried");
    char *last_error = th_db_value(&db,
                                   "SELECT last_error || '|' || attempts FROM deliveries"
                                   " WHERE application_id = 'app_bad'",
                                   0, NULL);
    ok(last_error && strstr(last_error, "Posting is closed to new candidates") &&
           strstr(last_error, "|1"),
       "last_error is Lever's message, one attempt (%s)", last_error ? last_error : "NULL");
    free(last_error);
    char *bad_id =
        th_db_value(&db, "SELECT id FROM deliveries WHERE application_id = 'app_bad'", 0, NULL);
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/teams/team_d/deliveries?state=dead");
    is_int(api("GET", path, &list), 200, "GET deliveries?state=dead");
    is_int(json_array_size(json_object_get(list, "deliveries")), 1, "the dead one");
    ok(strstr(json_string_value(json_object_get(
                  json_array_get(json_object_get(list, "deliveries"), 0), "last_error")),
              "Posting is closed") != NULL,
       "with its last_error");
    json_decref(list);
    snprintf(path, sizeof(path), "/api/v1/teams/team_d/deliveries/%s", bad_id);
    is_int(api("GET", path, &d), 200, "GET one delivery");
    json_t *log = json_object_get(d, "attempt_log");
    is_int(json_array_size(log), 1, "its attempts log has the attempt");
    is_int(json_integer_value(json_object_get(json_array_get(log, 0), "http_status")), 400,
           "with Lever's status");
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "endpoint")),
           "POST /opportunities", "and the endpoint");
    json_decref(d);
    snprintf(path, sizeof(path), "/api/v1/teams/team_d/deliveries/%s/retry", bad_id);
    is_int(api("POST", path, &d), 202, "retry: 202");
    is_str(json_string_value(json_object_get(d, "state")), "pending", "pending again");
    json_decref(d);
    ok(delivery_state_is("app_bad", "delivered", 15000) == 1, "delivered once Lever accepts it");
    is_int(fake_lever_count_opportunities(fake, "bea@example.com", posting), 1, "once");
    is_int(api("POST", path, NULL), 409, "retrying a delivered one: 409");
    free(bad_id);

    /* ---- retry and list: ids and parameters ---- */
    is_int(api("POST", "/api/v1/teams/team_d/deliveries/999999/retry", NULL), 404,
           "unknown id: 404");
    is_int(api("POST", "/api/v1/teams/team_d/deliveries/abc/retry", &d), 400, "malformed id: 400");
    is_str(json_string_value(json_object_get(json_object_get(d, "error"), "code")), "invalid_id",
           "invalid_id");
    json_decref(d);
    snprintf(path, sizeof(path), "/api/v1/teams/other_team/deliveries/%s/retry", full_id);
    is_int(api("POST", path, NULL), 404, "another team's delivery: 404");
    is_int(api("GET", "/api/v1/teams/bad%20team/deliveries", NULL), 400, "malformed team: 400");
    is_int(api("GET", "/api/v1/teams/team_d/deliveries?state=lost", NULL), 400, "bad state: 400");
    is_int(api("GET", "/api/v1/teams/team_d/deliveries?limit=0", NULL), 400, "limit 0: 400");
    is_int(api("GET", "/api/v1/teams/team_d/deliveries?limit=1001", NULL), 400, "limit 1001: 400");
    is_int(api("GET", "/api/v1/teams/team_d/deliveries?job_id=a/b", NULL), 400, "bad job: 400");
    {
        char url[256];
        snprintf(url, sizeof(url), "%s/api/v1/teams/team_d/deliveries", svc.base_url);
        struct th_resp r;
        th_http(&r, "GET", url, NULL, NULL, 0);
        is_int(r.status, 401, "no bearer token: 401");
        th_resp_free(&r);
    }
    int seen = 0, pages = 0;
    char cursor[64] = "";
    for (;;) {
        snprintf(path, sizeof(path), "/api/v1/teams/team_d/deliveries?limit=2%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        if (api("GET", path, &list) != 200)
            break;
        pages++;
        seen += (int)json_array_size(json_object_get(list, "deliveries"));
        json_t *next = json_object_get(list, "next_cursor");
        if (!json_is_string(next)) {
            json_decref(list);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(list);
    }
    is_int(seen, 11, "paging by 2 with the cursor shows all 11 deliveries");
    is_int(pages, 6, "in 6 pages");
    is_int(api("GET", "/api/v1/teams/team_d/deliveries?job_id=other", &list), 200, "job filter");
    is_int(json_array_size(json_object_get(list, "deliveries")), 0, "no delivery of another job");
    json_decref(list);

    /* ---- a 401: one forced refresh and one more try ---- */
    int refreshes = fake_lever_refresh_count(fake);
    fake_lever_push_response(fake, "POST", "/v1/opportunities$", 401,
                             "{\"code\":\"UnauthorizedError\",\"message\":\"The request requires "
                             "authentication.\"}",
                             0);
    char *e401 = simple_event("app_401", "Otto", "otto@example.com", NULL);
    is_int(post_event("wh_401", e401), 202, "a candidate whose first create gets a 401");
    free(e401);
    if (!ok(delivery_state_is("app_401", "delivered", 15000) == 1, "delivered")) {
        char *why = th_db_value(&db,
                                "SELECT state || ': ' || coalesce(last_error, '')"
                                " FROM deliveries WHERE application_id = 'app_401'",
                                0, NULL);
        diag("%s", why ? why : "no delivery");
        free(why);
    }
    is_int(fake_lever_refresh_count(fake) - refreshes, 1, "after one token refresh");
    char *attempts = th_db_value(&db,
                                 "SELECT attempts FROM deliveries"
                                 " WHERE application_id = 'app_401'",
                                 0, NULL);
    is_str(attempts, "1", "within the same attempt");
    free(attempts);

    /* ---- a handler's Lever requests pass the same bucket as the workers' ---- */
    char *before = th_db_value(&db,
                               "SELECT updated_at FROM lever_rate_buckets"
                               " WHERE lever_account_id = 'acct_1'",
                               0, NULL);
    int postings_reqs = fake_lever_count(fake, "GET", "/v1/postings");
    is_int(api("GET", "/api/v1/teams/team_d/lever/postings", NULL), 200, "GET postings");
    ok(fake_lever_count(fake, "GET", "/v1/postings") > postings_reqs, "it asked Lever");
    char *after = th_db_value(&db,
                              "SELECT updated_at FROM lever_rate_buckets"
                              " WHERE lever_account_id = 'acct_1'",
                              0, NULL);
    ok(before && after && strcmp(before, after) != 0,
       "and took its token from the account's bucket");
    free(before);
    free(after);

    /* ---- metrics ---- */
    struct th_resp r;
    th_get(&r, &svc, "/metrics");
    ok(strstr(r.body, "sl_deliveries_total{outcome=\"delivered\"} 12") != NULL,
       "deliveries by outcome");
    ok(strstr(r.body, "sl_deliveries_total{outcome=\"dead\"} 1") != NULL, "dead counted");
    ok(strstr(r.body, "sl_queue_depth{state=\"pending\"} 0") != NULL, "queue depth by state");
    ok(strstr(r.body, "sl_queue_oldest_ready_seconds 0") != NULL, "age of the oldest ready");
    ok(strstr(r.body, "sl_lever_connections{status=\"active\"} 1") != NULL,
       "connections by status");
    th_resp_free(&r);

    is_int(th_service_stop(&svc, 15 /* SIGTERM */, 15), 0, "SIGTERM: exit 0");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL"), 0,
           "nothing leased");
    free(full_id);
    free(dolores);
    fake_lever_stop(fake);
    th_db_drop(&db);
    sl_whsecrets_destroy(secrets);
    return done_testing();
}
