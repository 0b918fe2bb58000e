/*
 * test_oauth.c: authenticate on Lever, end to end (SPEC 3 connect and
 * connection, SPEC 4 pages, SPEC 7 tokens at rest), against the real
 * binary, a real database and the fake Lever.
 *
 * The browser is played with libcurl: POST connect, GET the authorize URL
 * on the fake without following redirects, read its Location, and GET that
 * callback URL on the service.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fake_lever.h"
#include "harness.h"
#include "lever.h"
#include "tap.h"
#include "util.h"

#define CLIENT_ID "stakha-oauth-test"
#define CLIENT_SECRET "oauth-test-secret-value"
#define PUBLIC_URL "https://lever.stakha.test"
#define APP_URL "https://app.stakha.test"

static struct fake_lever *F;
static struct th_db db;
static struct th_service svc;
static struct sl_keyring *keys;
static const char *env[24];
static char env_auth[200], env_api[200];

static void start_service(void)
{
    if (!th_service_start(&svc, "serve", th_env(&db, env), 20))
        BAIL_OUT("service did not start");
}

/* ---- HTTP helpers ---- */

static void api(struct th_resp *r, const char *method, const char *path, const char *bearer,
                const char *body)
{
    char url[512], auth[128];
    snprintf(url, sizeof(url), "%s%s", svc.base_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer ? bearer : "");
    const char *headers[] = {"Content-Type: application/json", bearer ? auth : NULL, NULL};
    th_http(r, method, url, headers, body, body ? strlen(body) : 0);
}

static long api_status(const char *method, const char *path, const char *bearer, const char *body)
{
    struct th_resp r;
    api(&r, method, path, bearer, body);
    long s = r.status;
    th_resp_free(&r);
    return s;
}

/* POST connect for `team`; returns the authorize URL (caller frees) or NULL. */
static char *connect_url(const char *team, const char *body)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/teams/%s/lever/connect", team);
    struct th_resp r;
    api(&r, "POST", path, "tok-one", body);
    json_t *j = th_resp_json(&r);
    const char *u = json_string_value(json_object_get(j, "authorize_url"));
    char *url = r.status == 201 && u ? strdup(u) : NULL;
    if (!url)
        diag("connect %s: %ld %s", team, r.status, r.body);
    json_decref(j);
    th_resp_free(&r);
    return url;
}

/* The browser at the fake's authorize URL: returns the Location (caller frees). */
static char *authorize(const char *url)
{
    struct th_resp r;
    th_http(&r, "GET", url, NULL, NULL, 0);
    char *loc = th_resp_header(&r, "Location");
    if (r.status != 302 || !loc)
        diag("authorize: %ld %s", r.status, r.body);
    th_resp_free(&r);
    return loc;
}

/* The browser back at the service: `location` starts with PUBLIC_URL. */
static void callback(struct th_resp *r, const char *location)
{
    char url[4096];
    const char *rest = strncmp(location, PUBLIC_URL, strlen(PUBLIC_URL)) == 0
                           ? location + strlen(PUBLIC_URL)
                           : location;
    snprintf(url, sizeof(url), "%s%s", svc.base_url, rest);
    th_http(r, "GET", url, NULL, NULL, 0);
}

/* connect -> authorize -> callback. Returns the callback's status; the
 * page in *page when not NULL (caller frees); the Location in *location. */
static long flow(const char *team, const char *body, char **page, char **location)
{
    char *url = connect_url(team, body);
    char *loc = url ? authorize(url) : NULL;
    long status = 0;
    if (loc) {
        struct th_resp r;
        callback(&r, loc);
        status = r.status;
        if (page)
            *page = strdup(r.body);
        th_resp_free(&r);
    } else if (page) {
        *page = strdup("");
    }
    if (location)
        *location = loc;
    else
        free(loc);
    free(url);
    return status;
}

/* The decoded query parameter `name` of `url` (or of a form body), or NULL. */
static char *param(const char *s, const char *name)
{
    const char *q = strchr(s, '?');
    q = q ? q + 1 : s;
    size_t n = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            int len = 0;
            char *v = curl_easy_unescape(NULL, p + n + 1, (int)strcspn(p + n + 1, "&"), &len);
            char *copy = strdup(v);
            curl_free(v);
            return copy;
        }
    }
    return NULL;
}

static json_t *connection(const char *team, long *status)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/teams/%s/lever/connection", team);
    struct th_resp r;
    api(&r, "GET", path, "tok-one", NULL);
    *status = r.status;
    json_t *j = th_resp_json(&r);
    th_resp_free(&r);
    return j;
}

static const char *jget(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static long count_sql(const char *sql)
{
    return th_db_long(&db, sql);
}

static long team_count(const char *table, const char *team)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE team_id = '%s'", table, team);
    return count_sql(sql);
}

static char *user_id_by_email(const char *account, const char *email)
{
    json_t *users = fake_lever_users(F, account);
    char *id = NULL;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) if (strcasecmp(jget(u, "email"), email) == 0) id =
        strdup(jget(u, "id"));
    json_decref(users);
    return id;
}

/* ---- the tests ---- */

static void test_api_auth(void)
{
    const char *path = "/api/v1/teams/team_auth/lever/connection";
    is_int(api_status("GET", path, NULL, NULL), 401, "no bearer: 401");
    is_int(api_status("GET", path, "wrong", NULL), 401, "wrong bearer: 401");
    is_int(api_status("GET", path, "tok-one1", NULL), 401, "a longer bearer: 401");
    is_int(api_status("POST", "/api/v1/teams/team_auth/lever/connect", NULL, NULL), 401,
           "connect without bearer: 401");
    is_int(api_status("DELETE", path, "tok-tw", NULL), 401, "delete with a prefix: 401");
    is_int(api_status("GET", path, "tok-one", NULL), 404, "first token of SL_API_TOKEN works");
    is_int(api_status("GET", path, "tok-two", NULL), 404, "second token of SL_API_TOKEN works");
}

static void test_connect_validation(void)
{
    long states = count_sql("SELECT count(*) FROM oauth_states");
    struct th_resp r;
    api(&r, "POST", "/api/v1/teams/bad.id/lever/connect", "tok-one", NULL);
    is_int(r.status, 400, "bad team id: 400");
    ok(strstr(r.body, "invalid_id") != NULL, "invalid_id: %s", r.body);
    th_resp_free(&r);
    is_int(api_status("GET", "/api/v1/teams/bad.id/lever/connection", "tok-one", NULL), 400,
           "GET connection, bad team id: 400");
    is_int(api_status("DELETE", "/api/v1/teams/bad.id/lever/connection", "tok-one", NULL), 400,
           "DELETE connection, bad team id: 400");

    static const char *const outside[] = {
        "https://evil.test/settings",
        "http://app.stakha.test/settings",
        "https://app.stakha.test:8443/x",
        "https://app.stakha.test.evil.test/",
        "https://app.stakha.test@evil.test/",
        "//app.stakha.test/x",
        "javascript:alert(1)",
        "https://app.stakha.test/a b",
    };
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        json_t *b = json_pack("{s:s}", "return_url", outside[i]);
        char *body = json_dumps(b, 0);
        api(&r, "POST", "/api/v1/teams/team_v/lever/connect", "tok-one", body);
        is_int(r.status, 422, "return_url %s: 422", outside[i]);
        if (i == 0)
            ok(strstr(r.body, APP_URL) != NULL, "the message names SL_STAKHA_APP_URL: %s", r.body);
        th_resp_free(&r);
        free(body);
        json_decref(b);
    }
    is_int(
        api_status("POST", "/api/v1/teams/team_v/lever/connect", "tok-one", "{\"return_url\": 7}"),
        422, "return_url not a string: 422");
    is_int(api_status("POST", "/api/v1/teams/team_v/lever/connect", "tok-one", "{nope"), 400,
           "body not JSON: 400");
    is_int(count_sql("SELECT count(*) FROM oauth_states"), states, "nothing stored for a 4xx");

    char *url = connect_url("team_v", "{\"return_url\": \"https://APP.stakha.test:443/x\"}");
    ok(url != NULL, "same origin spelled differently (case, default port): accepted");
    free(url);
    url = connect_url("team_v", NULL);
    ok(url != NULL, "no body: accepted");
    free(url);
}

static void test_connect(void)
{
    struct th_resp r;
    api(&r, "POST", "/api/v1/teams/team_c/lever/connect", "tok-one",
        "{\"return_url\": \"" APP_URL "/settings\"}");
    is_int(r.status, 201, "connect: 201");
    json_t *j = th_resp_json(&r);
    const char *url = jget(j, "authorize_url");
    const char *expires = jget(j, "expires_at");
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s/authorize?", fake_lever_base_url(F));
    ok(url && strncmp(url, prefix, strlen(prefix)) == 0, "authorize_url on SL_LEVER_AUTH_URL");
    char *v;
    is_str((v = param(url, "client_id")), CLIENT_ID, "client_id");
    free(v);
    is_str((v = param(url, "redirect_uri")), PUBLIC_URL "/oauth/lever/callback",
           "redirect_uri = SL_PUBLIC_URL/oauth/lever/callback");
    free(v);
    is_str((v = param(url, "response_type")), "code", "response_type=code");
    free(v);
    is_str((v = param(url, "audience")), "https://api.lever.co/v1/", "audience");
    free(v);
    is_str((v = param(url, "scope")),
           "offline_access opportunities:write:admin notes:write:admin postings:read:admin "
           "stages:read:admin users:read:admin users:write:admin",
           "scope: the default set, space-separated");
    free(v);
    is_str((v = param(url, "prompt")), "consent", "prompt=consent");
    free(v);
    char *state = param(url, "state");
    const char *dot = state ? strchr(state, '.') : NULL;
    ok(dot && dot - state >= 43, "state has at least 32 random bytes (%s)", state ? state : "-");
    ok(dot && strcmp(dot + 1, "team_c") == 0, "state names its team");
    ok(expires && strlen(expires) == 20 && expires[19] == 'Z', "expires_at RFC 3339: %s", expires);
    is_int(count_sql("SELECT count(*) FROM oauth_states WHERE team_id = 'team_c' AND"
                     " expires_at - created_at = interval '10 minutes' AND return_url = '" APP_URL
                     "/settings'"),
           1, "state stored with team, return_url and a 10-minute expiry");
    const char *p[] = {state};
    char *stored = th_db_value(&db,
                               "SELECT count(*) FROM oauth_states WHERE state_hash = $1 OR"
                               " state_hash = split_part($1, '.', 1)",
                               1, p);
    is_str(stored, "0", "the state itself is not stored (only its hash)");
    free(stored);
    free(state);
    json_decref(j);
    th_resp_free(&r);
}

static bool has_header(const struct th_resp *r, const char *name, const char *want)
{
    char *v = th_resp_header(r, name);
    bool ok_ = v && strstr(v, want);
    if (!ok_)
        diag("%s: %s", name, v ? v : "(missing)");
    free(v);
    return ok_;
}

static char *first_service_user;

static void test_full_flow(void)
{
    const char *ret = APP_URL "/settings?tab=lever&x=<b>\\\"q\\\"";
    char body[256];
    snprintf(body, sizeof(body), "{\"return_url\": \"%s\"}", ret);
    fake_lever_reset_log(F);
    char *url = connect_url("team_1", body);
    char *loc = authorize(url);
    ok(loc && strncmp(loc, PUBLIC_URL "/oauth/lever/callback?", 40) == 0,
       "the fake sends the browser back to the callback: %s", loc ? loc : "-");
    char *code = loc ? param(loc, "code") : NULL;
    struct th_resp r;
    callback(&r, loc);
    is_int(r.status, 200, "callback: 200");
    ok(strstr(r.body, "Your activation is ready") != NULL, "page: Your activation is ready");
    ok(strstr(r.body, "Dolores") != NULL, "page names Dolores");
    ok(strstr(r.body, "one by one") != NULL, "page: jobs are synchronized one by one");
    ok(strstr(r.body, "href=\"" APP_URL "/settings?tab=lever&amp;x=&lt;b&gt;&quot;q&quot;\""),
       "link back to return_url, HTML-escaped");
    ok(!strstr(r.body, "<b>\"q\""), "return_url never raw on the page");
    ok(has_header(&r, "Content-Type", "text/html"), "HTML");
    ok(has_header(&r, "Cache-Control", "no-store"), "Cache-Control: no-store");
    ok(has_header(&r, "Referrer-Policy", "no-referrer"), "Referrer-Policy: no-referrer");
    ok(has_header(&r, "X-Frame-Options", "DENY"), "X-Frame-Options: DENY");
    ok(has_header(&r, "Content-Security-Policy", "default-src 'none'"),
       "strict Content-Security-Policy");
    ok(!has_header(&r, "Content-Security-Policy", "unsafe-inline"), "no unsafe-inline");
    th_resp_free(&r);
    is_int(th_db_long(&db, "SELECT count(*) FROM lever_rate_buckets"
                           " WHERE lever_account_id = 'acct_1'"),
           1, "finding Dolores went through the account's rate-limit bucket");

    /* The token request the fake received. */
    json_t *reqs = fake_lever_requests(F);
    json_t *tok = NULL;
    size_t i;
    json_t *q;
    int token_requests = 0;
    json_array_foreach(reqs, i, q) if (strcmp(jget(q, "path"), "/oauth/token") == 0)
    {
        tok = q;
        token_requests++;
    }
    is_int(token_requests, 1, "one token request");
    const char *form = tok ? jget(tok, "body") : "";
    ok(tok && strncmp(jget(tok, "content_type"), "application/x-www-form-urlencoded", 33) == 0,
       "form-encoded");
    char *v;
    is_str((v = param(form, "grant_type")), "authorization_code", "grant_type");
    free(v);
    is_str((v = param(form, "client_id")), CLIENT_ID, "client_id");
    free(v);
    is_str((v = param(form, "client_secret")), CLIENT_SECRET, "client_secret");
    free(v);
    is_str((v = param(form, "code")), code, "the code from the callback");
    free(v);
    is_str((v = param(form, "redirect_uri")), PUBLIC_URL "/oauth/lever/callback", "redirect_uri");
    free(v);
    is_int(tok ? json_integer_value(json_object_get(tok, "status")) : 0, 200, "exchange: 200");
    json_decref(reqs);

    /* Dolores did not exist: created as a team member. */
    first_service_user = user_id_by_email("acct_1", "dolores@stakha.io");
    ok(first_service_user != NULL, "Dolores created in Lever");
    json_t *users = fake_lever_users(F, "acct_1");
    json_array_foreach(users, i, q) if (strcmp(jget(q, "email"), "dolores@stakha.io") == 0)
    {
        is_str(jget(q, "accessRole"), "team member", "with access role team member");
        is_str(jget(q, "name"), "Dolores", "named Dolores");
    }
    json_decref(users);

    long st;
    json_t *c = connection("team_1", &st);
    is_int(st, 200, "GET connection: 200");
    is_str(jget(c, "status"), "active", "active");
    is_str(jget(c, "lever_account_id"), "acct_1", "Lever account id from the token");
    json_t *su = json_object_get(c, "service_user");
    is_str(jget(su, "id"), first_service_user, "service user id");
    is_str(jget(su, "name"), "Dolores", "service user name");
    json_t *scopes = json_object_get(c, "scopes");
    is_int(json_array_size(scopes), 7, "seven scopes");
    is_str(json_string_value(json_array_get(scopes, 0)), "offline_access", "granted scopes");
    const char *at = jget(c, "connected_at");
    ok(at && strlen(at) == 20 && at[10] == 'T', "connected_at RFC 3339: %s", at);
    json_decref(c);
    char *authorizer = th_db_value(
        &db, "SELECT authorizing_user_id FROM lever_connections WHERE team_id = 'team_1'", 0, NULL);
    is_str(authorizer, "user_admin", "authorizing user from the JWT claims");
    free(authorizer);
    is_int(count_sql("SELECT count(*) FROM oauth_states WHERE team_id = 'team_1' AND used_at IS"
                     " NOT NULL"),
           1, "state consumed");

    /* Reused state. */
    long conns = count_sql("SELECT count(*) FROM lever_connections");
    int tokens = fake_lever_count(F, "POST", "/oauth/token");
    callback(&r, loc);
    is_int(r.status, 409, "the same callback again: 409");
    ok(strstr(r.body, "already used") != NULL, "page: already used");
    ok(has_header(&r, "X-Frame-Options", "DENY"), "error pages carry the headers too");
    th_resp_free(&r);
    is_int(fake_lever_count(F, "POST", "/oauth/token"), tokens, "no second exchange");
    is_int(count_sql("SELECT count(*) FROM lever_connections"), conns, "nothing stored");
    free(code);
    free(loc);
    free(url);
}

static void test_service_user(void)
{
    /* Found (email compared case-insensitively), active. */
    fake_lever_set_account(F, "acct_found", "admin_found");
    const char *found =
        fake_lever_add_user(F, "acct_found", "Dolores Stakha", "DOLORES@Stakha.io", "admin", false);
    fake_lever_reset_log(F);
    char *page = NULL;
    is_int(flow("team_found", NULL, &page, NULL), 200, "found: 200");
    ok(strstr(page, "Your activation is ready") && strstr(page, "Dolores Stakha"),
       "page names the user as Lever has her");
    free(page);
    is_int(fake_lever_count(F, "POST", "/v1/users"), 0, "nothing created or reactivated");
    long st;
    json_t *c = connection("team_found", &st);
    is_str(jget(json_object_get(c, "service_user"), "id"), found, "the existing user's id");
    json_decref(c);

    /* Deactivated: reactivated. */
    fake_lever_set_account(F, "acct_react", "admin_react");
    const char *react =
        fake_lever_add_user(F, "acct_react", "Dolores", "dolores@stakha.io", "team member", true);
    fake_lever_reset_log(F);
    is_int(flow("team_react", NULL, NULL, NULL), 200, "deactivated: 200");
    char path[256];
    snprintf(path, sizeof(path), "/v1/users/%s/reactivate", react);
    is_int(fake_lever_count(F, "POST", path), 1, "reactivated");
    is_int(fake_lever_count(F, "POST", "/v1/users$"), 0, "not created");
    json_t *users = fake_lever_users(F, "acct_react");
    ok(json_is_null(json_object_get(json_array_get(users, 1), "deactivatedAt")) ||
           json_is_null(json_object_get(json_array_get(users, 0), "deactivatedAt")),
       "active again in Lever");
    json_decref(users);
    c = connection("team_react", &st);
    is_str(jget(json_object_get(c, "service_user"), "id"), react, "her id stored");
    is_str(jget(c, "status"), "active", "active");
    json_decref(c);

    /* Neither found nor created: an error page, no connection. */
    fake_lever_set_account(F, "acct_fail", "admin_fail");
    fake_lever_fail_users(F, true);
    page = NULL;
    long status = flow("team_fail", NULL, &page, NULL);
    ok(status >= 500 && status < 600, "service user failure: 5xx (%ld)", status);
    ok(strstr(page, "could not be found, reactivated or created") != NULL,
       "page explains the service user failure");
    ok(!strstr(page, "Your activation is ready"), "no confirmation");
    free(page);
    json_decref(connection("team_fail", &st));
    is_int(st, 404, "no connection stored");
    fake_lever_fail_users(F, false);
    fake_lever_set_account(F, "acct_1", "user_admin");
}

static void test_states(void)
{
    struct th_resp r;
    long conns = count_sql("SELECT count(*) FROM lever_connections");
    int tokens = fake_lever_count(F, "POST", "/oauth/token");

    char loc[512];
    snprintf(loc, sizeof(loc),
             PUBLIC_URL "/oauth/lever/callback?code=abc&state="
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.team_x");
    callback(&r, loc);
    is_int(r.status, 400, "unknown state: 400");
    ok(strstr(r.body, "does not know") != NULL, "page: unknown state");
    th_resp_free(&r);
    callback(&r, PUBLIC_URL "/oauth/lever/callback?code=abc&state=short");
    is_int(r.status, 400, "malformed state: 400");
    th_resp_free(&r);
    callback(&r, PUBLIC_URL "/oauth/lever/callback?code=abc");
    is_int(r.status, 400, "no state: 400");
    ok(has_header(&r, "Content-Security-Policy", "default-src 'none'"), "headers on it");
    th_resp_free(&r);

    /* Expired: the 10 minutes are over (moved in the database). */
    char *url = connect_url("team_exp", NULL);
    char *l = authorize(url);
    th_db_exec(&db, "UPDATE oauth_states SET expires_at = now() - interval '1 second'"
                    " WHERE team_id = 'team_exp'");
    callback(&r, l);
    is_int(r.status, 410, "expired state: 410");
    ok(strstr(r.body, "expired") != NULL, "page: expired");
    th_resp_free(&r);
    free(url);
    free(l);

    /* Bound to another team: team A's state presented as team B's. */
    url = connect_url("team_a2", NULL);
    l = authorize(url);
    char *state = param(l, "state");
    char *code = param(l, "code");
    char *escaped = curl_easy_escape(NULL, code, 0);
    char forged[512];
    snprintf(forged, sizeof(forged), PUBLIC_URL "/oauth/lever/callback?code=%s&state=%.43s.team_b2",
             escaped, state);
    callback(&r, forged);
    is_int(r.status, 400, "state of another team: 400");
    ok(strstr(r.body, "another team") != NULL, "page: another team");
    th_resp_free(&r);
    callback(&r, l);
    is_int(r.status, 409, "and the state is burnt for its own team too");
    th_resp_free(&r);
    long st;
    json_decref(connection("team_a2", &st));
    is_int(st, 404, "team A not connected");
    json_decref(connection("team_b2", &st));
    is_int(st, 404, "team B not connected");
    json_decref(connection("team_exp", &st));
    is_int(st, 404, "expired team not connected");
    is_int(count_sql("SELECT count(*) FROM lever_connections"), conns, "nothing stored");
    is_int(fake_lever_count(F, "POST", "/oauth/token"), tokens, "no code exchanged");
    curl_free(escaped);
    free(state);
    free(code);
    free(url);
    free(l);
}

static void test_denied_and_refused(void)
{
    long st;
    struct th_resp r;
    fake_lever_deny_next_authorize(F);
    char *url = connect_url("team_d", "{\"return_url\": \"" APP_URL "/back\"}");
    char *l = authorize(url);
    ok(l && strstr(l, "error=access_denied"), "the fake denies: %s", l ? l : "-");
    callback(&r, l);
    is_int(r.status, 403, "access_denied: 403");
    ok(strstr(r.body, "declined") != NULL, "page: declined");
    ok(strstr(r.body, "href=\"" APP_URL "/back\"") != NULL, "with the way back");
    th_resp_free(&r);
    json_decref(connection("team_d", &st));
    is_int(st, 404, "not connected");
    free(url);
    free(l);

    fake_lever_push_response(F, "POST", "/oauth/token", 403,
                             "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid "
                             "authorization code\"}",
                             0);
    char *page = NULL;
    is_int(flow("team_d", NULL, &page, NULL), 400, "code exchange refused: 400");
    ok(strstr(page, "refused") != NULL, "page: refused");
    free(page);
    json_decref(connection("team_d", &st));
    is_int(st, 404, "not connected");

    fake_lever_push_response(F, "POST", "/oauth/token", 503, "{\"error\":\"unavailable\"}", 0);
    page = NULL;
    is_int(flow("team_d", NULL, &page, NULL), 502, "token endpoint 503: 502");
    ok(strstr(page, "could not be reached") != NULL, "page: Lever unreachable");
    free(page);
    json_decref(connection("team_d", &st));
    is_int(st, 404, "not connected");
}

static void add_work(const char *team)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO job_syncs (team_id, job_id, lever_posting_id) VALUES ('%s', 'job_1',"
             " 'post_old') ON CONFLICT DO NOTHING",
             team);
    th_db_exec(&db, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO deliveries (team_id, application_id, job_id, lever_posting_id, state)"
             " VALUES ('%s', 'a1', 'job_1', 'post_old', 'pending'),"
             " ('%s', 'a2', 'job_1', 'post_old', 'retrying'),"
             " ('%s', 'a3', 'job_1', 'post_old', 'delivered')"
             " ON CONFLICT DO NOTHING",
             team, team, team);
    th_db_exec(&db, sql);
}

static void test_disconnect_reconnect(void)
{
    add_work("team_1");
    add_work("team_found");
    is_int(api_status("DELETE", "/api/v1/teams/team_never/lever/connection", "tok-one", NULL), 404,
           "DELETE never connected: 404");
    is_int(api_status("DELETE", "/api/v1/teams/team_1/lever/connection", "tok-one", NULL), 204,
           "DELETE: 204");
    long st;
    json_t *c = connection("team_1", &st);
    is_int(st, 200, "still known");
    is_str(jget(c, "status"), "disconnected", "disconnected");
    json_decref(c);
    is_int(count_sql("SELECT count(*) FROM lever_connections WHERE team_id = 'team_1' AND"
                     " access_token_enc IS NULL AND refresh_token_enc IS NULL"),
           1, "tokens erased");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state ="
                     " 'parked'"),
           2, "pending and retrying deliveries parked");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_found' AND state ="
                     " 'pending'"),
           1, "other teams' deliveries untouched");

    char *page = NULL;
    is_int(flow("team_1", NULL, &page, NULL), 200, "re-authenticated: 200");
    ok(strstr(page, "2 candidate(s)") != NULL, "page says the waiting candidates resume");
    free(page);
    c = connection("team_1", &st);
    is_str(jget(c, "status"), "active", "active again");
    is_str(jget(json_object_get(c, "service_user"), "id"), first_service_user,
           "same Dolores (one per Lever account)");
    json_decref(c);
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state ="
                     " 'pending' AND next_attempt_at <= now()"),
           2, "parked deliveries pending again, due now");
    is_int(team_count("job_syncs", "team_1"), 1, "same account: job syncs kept");
}

static char *token_of(const char *team, const char *kind)
{
    char sql[256], ad[128];
    snprintf(sql, sizeof(sql), "SELECT %s_token_enc FROM lever_connections WHERE team_id = $1",
             kind);
    const char *p[] = {team};
    char *enc = th_db_value(&db, sql, 1, p);
    snprintf(ad, sizeof(ad), "%s:%s", team, kind);
    char *plain = NULL;
    if (!enc || sl_crypto_open(keys, enc, ad, &plain, NULL))
        plain = NULL;
    free(enc);
    return plain;
}

static void test_revocation_and_idle(void)
{
    /* team_1 (acct_1) is revoked in Lever; team_found (acct_found) is just
     * idle. The idle refresher, run at start, meets both. */
    char *old_found = token_of("team_found", "refresh");
    th_db_exec(&db, "UPDATE lever_connections SET refreshed_at = now() - interval '8 days'"
                    " WHERE team_id IN ('team_1', 'team_found')");
    fake_lever_revoke(F, "acct_1");
    th_service_stop(&svc, SIGTERM, 10);
    start_service();
    long long until = th_now_ms() + 10000;
    while (count_sql("SELECT count(*) FROM lever_connections WHERE refreshed_at > now() -"
                     " interval '1 day' AND team_id = 'team_found'") == 0 &&
           th_now_ms() < until)
        usleep(50 * 1000);
    while (count_sql("SELECT count(*) FROM lever_connections WHERE status = 'revoked'") == 0 &&
           th_now_ms() < until)
        usleep(50 * 1000);
    long st;
    json_t *c = connection("team_1", &st);
    is_str(jget(c, "status"), "revoked", "revoked grant: the refresh marks the connection revoked");
    json_decref(c);
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state ="
                     " 'parked'"),
           2, "its deliveries parked");
    ok(th_service_log_contains(&svc, "lever_connection_revoked"), "logged");
    char *new_found = token_of("team_found", "refresh");
    ok(new_found && old_found && strcmp(new_found, old_found) != 0,
       "the idle connection was refreshed (rotated refresh token stored)");
    free(old_found);
    free(new_found);
    c = connection("team_found", &st);
    is_str(jget(c, "status"), "active", "and stays active");
    json_decref(c);

    char *page = NULL;
    is_int(flow("team_1", NULL, &page, NULL), 200, "connect again after revocation: 200");
    free(page);
    c = connection("team_1", &st);
    is_str(jget(c, "status"), "active", "active again");
    json_decref(c);
    is_int(count_sql("SELECT count(*) FROM lever_connections WHERE team_id = 'team_1' AND"
                     " revoked_at IS NULL AND last_error IS NULL"),
           1, "revocation cleared");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state ="
                     " 'pending'"),
           2, "parked deliveries resumed");
}

static void test_account_change(void)
{
    th_db_exec(&db, "INSERT INTO deliveries (team_id, application_id, job_id, lever_posting_id,"
                    " state) VALUES ('team_1', 'a4', 'job_1', 'post_old', 'parked'),"
                    " ('team_1', 'a5', 'job_1', 'post_old', 'dead')");
    fake_lever_set_account(F, "acct_2", "admin_2");
    char *page = NULL;
    is_int(flow("team_1", NULL, &page, NULL), 200, "another Lever account: 200");
    ok(strstr(page, "Your activation is ready") != NULL, "confirmed");
    ok(strstr(page, "another Lever account") && strstr(page, "Synchronize those jobs again"),
       "the page says the job syncs were removed");
    free(page);
    long st;
    json_t *c = connection("team_1", &st);
    is_str(jget(c, "lever_account_id"), "acct_2", "the new account");
    char *dolores2 = user_id_by_email("acct_2", "dolores@stakha.io");
    is_str(jget(json_object_get(c, "service_user"), "id"), dolores2, "the new account's Dolores");
    free(dolores2);
    json_decref(c);
    is_int(team_count("job_syncs", "team_1"), 0, "the team's job syncs deleted");
    is_int(team_count("job_syncs", "team_found"), 1, "other teams' syncs kept");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state NOT IN"
                     " ('delivered', 'cancelled')"),
           0, "undelivered deliveries cancelled");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE team_id = 'team_1' AND state ="
                     " 'delivered'"),
           1, "delivered ones kept");
    ok(th_service_log_contains(&svc, "lever_account_changed"), "logged");
    fake_lever_set_account(F, "acct_1", "user_admin");
}

/* Every access and refresh token Lever issued or the service sent. */
static void collect_tokens(json_t *out)
{
    json_t *reqs = fake_lever_requests(F);
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        const char *auth = jget(q, "auth");
        if (auth && strncmp(auth, "Bearer ", 7) == 0)
            json_array_append_new(out, json_string(auth + 7));
        const char *body = jget(q, "body");
        char *refresh = body ? param(body, "refresh_token") : NULL;
        if (refresh)
            json_array_append_new(out, json_string(refresh));
        free(refresh);
    }
    json_decref(reqs);
    const char *teams[] = {"team_1", "team_found", "team_react"};
    for (size_t t = 0; t < 3; t++) {
        char *a = token_of(teams[t], "access"), *r = token_of(teams[t], "refresh");
        if (a)
            json_array_append_new(out, json_string(a));
        if (r)
            json_array_append_new(out, json_string(r));
        free(a);
        free(r);
    }
}

static void test_no_token_at_rest(void)
{
    /* The service used team_1's tokens: refresh ones went to Lever. */
    json_t *tokens = json_array();
    collect_tokens(tokens);
    ok(json_array_size(tokens) >= 6, "tokens to look for: %zu", json_array_size(tokens));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "pg_dump --no-owner '%s' 2>&1", db.url);
    FILE *p = popen(cmd, "r");
    struct sl_buf dump;
    sl_buf_init(&dump);
    char chunk[8192];
    size_t n;
    while (p && (n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        sl_buf_append(&dump, chunk, n);
    int rc = p ? pclose(p) : -1;
    ok(rc == 0 && strstr(dump.data, "lever_connections"), "pg_dump ran (%zu bytes)", dump.len);
    ok(strstr(dump.data, "v1.") != NULL, "the dump holds sealed values");
    char *log = th_service_log(&svc);
    int in_dump = 0, in_log = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t)
    {
        in_dump += strstr(dump.data, json_string_value(t)) != NULL;
        in_log += strstr(log, json_string_value(t)) != NULL;
    }
    is_int(in_dump, 0, "no access or refresh token in pg_dump");
    is_int(in_log, 0, "no access or refresh token in the service log");
    ok(!strstr(log, CLIENT_SECRET), "no client secret in the log");
    free(log);
    sl_buf_cleanup(&dump);
    json_decref(tokens);
}

static void test_unconfigured(void)
{
    struct th_service other;
    const char *e[] = {"SL_LEVER_CLIENT_ID=-", NULL};
    if (!th_service_start(&other, "serve", th_env(&db, e), 20))
        BAIL_OUT("unconfigured service did not start");
    ok(true, "serve starts without Lever credentials");
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/teams/team_u/lever/connect", other.base_url);
    const char *h[] = {"Authorization: Bearer " TH_API_TOKEN, NULL};
    struct th_resp r;
    th_http(&r, "POST", url, h, NULL, 0);
    is_int(r.status, 503, "connect without credentials: 503");
    ok(strstr(r.body, "SL_LEVER_CLIENT_ID") != NULL, "message names the setting: %s", r.body);
    th_resp_free(&r);
    snprintf(url, sizeof(url), "%s/oauth/lever/callback?code=x&state=y", other.base_url);
    th_http(&r, "GET", url, NULL, NULL, 0);
    is_int(r.status, 503, "callback without credentials: 503");
    ok(strstr(r.body, "SL_LEVER_CLIENT_ID") != NULL, "page names the setting");
    th_resp_free(&r);
    th_service_stop(&other, SIGTERM, 10);
}

static void test_token_key(void)
{
    struct th_service other;
    const char *e[] = {"SL_TOKEN_KEY=-", NULL};
    th_service_start(&other, "serve", th_env(&db, e), 0); /* 0: do not reap it */
    int code = th_service_wait(&other, 10);
    is_int(code, 2, "DATABASE_URL without SL_TOKEN_KEY: exit 2");
    ok(th_service_log_contains(&other, "SL_TOKEN_KEY"), "the message names SL_TOKEN_KEY");

    /* Embedded default: a key is generated once into the data directory. */
    const char *emb[] = {"SL_TOKEN_KEY=-", NULL};
    if (!th_service_start(&other, "serve", th_env(NULL, emb), 60)) {
        ok(false, "embedded serve without SL_TOKEN_KEY starts");
        th_service_stop(&other, SIGKILL, 5);
        return;
    }
    ok(th_service_log_contains(&other, "token_key_generated"), "logs that it generated a key");
    char path[512];
    snprintf(path, sizeof(path), "%s/data/token.key", other.dir);
    struct stat sb;
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "%s, mode 0600", path);
    char *log = th_service_log(&other);
    FILE *f = fopen(path, "r");
    char key[128] = "";
    if (f) {
        if (!fgets(key, sizeof(key), f))
            key[0] = '\0';
        fclose(f);
    }
    key[strcspn(key, "\n")] = '\0';
    ok(strlen(key) == 44 && !strstr(log, key), "a 32-byte key, never logged");
    free(log);
    is_int(th_service_stop(&other, SIGTERM, 30), 0, "stops cleanly");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sl_keyring_parse(TH_TOKEN_KEY, &keys, NULL))
        BAIL_OUT("keyring");
    F = fake_lever_start();
    if (!F)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(F, 0, 0);
    fake_lever_add_client(F, CLIENT_ID, CLIENT_SECRET, PUBLIC_URL "/oauth/lever/callback");
    fake_lever_set_account(F, "acct_1", "user_admin");
    snprintf(env_auth, sizeof(env_auth), "SL_LEVER_AUTH_URL=%s", fake_lever_base_url(F));
    snprintf(env_api, sizeof(env_api), "SL_LEVER_API_URL=%s/v1", fake_lever_base_url(F));
    size_t n = 0;
    env[n++] = env_auth;
    env[n++] = env_api;
    env[n++] = "SL_LEVER_CLIENT_ID=" CLIENT_ID;
    env[n++] = "SL_LEVER_CLIENT_SECRET=" CLIENT_SECRET;
    env[n++] = "SL_PUBLIC_URL=" PUBLIC_URL;
    env[n++] = "SL_STAKHA_APP_URL=" APP_URL;
    env[n++] = "SL_API_TOKEN=tok-one, tok-two";
    env[n++] = "SL_LOG_LEVEL=debug";
    env[n++] = "SL_WORKERS=0";
    env[n] = NULL;
    th_db_create(&db);
    start_service();

    test_api_auth();
    test_connect_validation();
    test_connect();
    test_full_flow();
    test_service_user();
    test_states();
    test_denied_and_refused();
    test_disconnect_reconnect();
    test_revocation_and_idle();
    test_account_change();
    test_no_token_at_rest();
    is_int(fake_lever_reuse_count(F), 0, "the fake never saw a reused refresh token");
    th_service_stop(&svc, SIGTERM, 10);
    test_unconfigured();
    test_token_key();

    fake_lever_stop(F);
    th_db_drop(&db);
    sl_keyring_destroy(keys);
    curl_global_cleanup();
    return done_testing();
}
