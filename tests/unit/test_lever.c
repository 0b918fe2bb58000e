/*
 * Unit tests of server/lever.c: the pure parts (endpoint labels, JWT claims,
 * the authorize URL) and the client's behaviour against the in-process fake
 * Lever (envelope and error parsing, escaping, pagination, the gate,
 * Retry-After, metrics, and no silent re-send of a POST).
 */
#include <curl/curl.h>
#include <string.h>

#include "crypto.h"
#include "fake_lever.h"
#include "lever.h"
#include "metrics.h"
#include "tap.h"
#include "util.h"

#define CLIENT_ID "cli ent&id"
#define CLIENT_SECRET "s3cret"
#define PUBLIC_URL "http://127.0.0.1:9"

static char *label(const char *path)
{
    static char out[128];
    sl_lever_endpoint_label(path, out, sizeof(out));
    return out;
}

static char *jwt(const char *payload)
{
    char *h = sl_base64url_encode("{\"alg\":\"HS512\"}", 15);
    char *p = sl_base64url_encode(payload, strlen(payload));
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s.%s.c2lnbmF0dXJl", h, p);
    free(h);
    free(p);
    return sl_buf_take(&b);
}

/* The decoded value of query parameter `name` of `url` (caller frees), or NULL. */
static char *query_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    for (const char *p = q; p && *p;) {
        p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "&");
            int outlen = 0;
            char *v = curl_easy_unescape(NULL, p + n + 1, (int)len, &outlen);
            char *copy = strdup(v);
            curl_free(v);
            return copy;
        }
        p = strchr(p, '&');
    }
    return NULL;
}

static void test_pure(void)
{
    is_str(label("/opportunities"), "/opportunities", "label: collection");
    is_str(label("/opportunities/0f9e-11/notes"), "/opportunities/{id}/notes", "label: notes");
    is_str(label("/opportunities/a/notes/b"), "/opportunities/{id}/notes/{id}", "label: note");
    is_str(label("/users/u1/reactivate"), "/users/{id}/reactivate", "label: user action");
    is_str(label("/postings?state=published&x=/y"), "/postings", "label: query dropped");
    is_str(label("/users/"), "/users", "label: trailing slash");
    is_str(label(""), "/", "label: empty path");

    char *acct = NULL, *user = NULL;
    char *t = jwt("{\"https://oauth.lever.co/accountId\":\"acct_9\","
                  "\"https://oauth.lever.co/userId\":\"user_7\",\"exp\":1}");
    ok(sl_lever_jwt_claims(t, &acct, &user) == SL_OK, "JWT: decoded");
    is_str(acct, "acct_9", "JWT: account id claim");
    is_str(user, "user_7", "JWT: user id claim");
    free(acct);
    free(user);
    free(t);
    t = jwt("{\"sub\":\"x\"}");
    ok(sl_lever_jwt_claims(t, &acct, &user) == SL_OK && !acct && !user,
       "JWT without Lever claims: NULLs");
    free(t);
    t = jwt("[1,2]");
    ok(sl_lever_jwt_claims(t, &acct, &user) == SL_ERR_INVALID && !acct && !user,
       "JWT whose payload is not an object: refused");
    free(t);
    ok(sl_lever_jwt_claims("opaque-token", &acct, &user) == SL_ERR_INVALID, "opaque: refused");
    ok(sl_lever_jwt_claims("a.b.c.d", &acct, &user) == SL_ERR_INVALID, "four parts: refused");
    ok(sl_lever_jwt_claims("a.!!.c", &acct, &user) == SL_ERR_INVALID, "bad base64: refused");

    struct sl_config cfg = {0};
    cfg.lever_auth_url = "https://auth.example";
    cfg.lever_client_id = CLIENT_ID;
    cfg.public_url = "https://lever.stakha.io";
    cfg.lever_audience = "https://api.lever.co/v1/";
    char *url = sl_lever_authorize_url(&cfg, "st+ate/=x");
    ok(url && strncmp(url, "https://auth.example/authorize?", 31) == 0,
       "authorize URL on the auth server: %s", url ? url : "-");
    ok(!strchr(url, ' ') && !strstr(url, "+"), "no raw space or plus in the URL");
    ok(strstr(url, "scope=offline_access%20opportunities%3Awrite%3Aadmin%20") != NULL,
       "scope space-separated, spaces as %%20");
    char *v;
    is_str((v = query_param(url, "client_id")), CLIENT_ID, "client_id escaped and intact");
    free(v);
    is_str((v = query_param(url, "redirect_uri")), "https://lever.stakha.io/oauth/lever/callback",
           "redirect_uri = SL_PUBLIC_URL + /oauth/lever/callback");
    free(v);
    is_str((v = query_param(url, "response_type")), "code", "response_type=code");
    free(v);
    is_str((v = query_param(url, "state")), "st+ate/=x", "state escaped and intact");
    free(v);
    is_str((v = query_param(url, "audience")), "https://api.lever.co/v1/", "audience");
    free(v);
    is_str((v = query_param(url, "scope")), SL_LEVER_SCOPES, "scope = the default set");
    free(v);
    is_str((v = query_param(url, "prompt")), "consent", "prompt=consent");
    free(v);
    free(url);
    cfg.lever_client_id = NULL;
    ok(sl_lever_authorize_url(&cfg, "s") == NULL, "no client id: no URL");
}

struct gate_state {
    int calls;
    int refuse_after;
};

static enum sl_rc gate(void *ctx, struct sl_err *err)
{
    struct gate_state *g = ctx;
    if (++g->calls > g->refuse_after)
        return sl_err_set(err, SL_ERR_DB, "gate closed");
    return SL_OK;
}

static void test_client(void)
{
    struct fake_lever *F = fake_lever_start();
    if (!F)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(F, 0, 0);
    char redirect[256], api[256];
    snprintf(redirect, sizeof(redirect), "%s/oauth/lever/callback", PUBLIC_URL);
    snprintf(api, sizeof(api), "%s/v1", fake_lever_base_url(F));
    fake_lever_add_client(F, CLIENT_ID, CLIENT_SECRET, redirect);
    fake_lever_set_account(F, "acct_1", "user_admin");

    struct sl_config cfg = {0};
    cfg.lever_auth_url = (char *)fake_lever_base_url(F);
    cfg.lever_api_url = api;
    cfg.lever_client_id = CLIENT_ID;
    cfg.lever_client_secret = CLIENT_SECRET;
    cfg.public_url = PUBLIC_URL;
    cfg.lever_audience = "https://api.lever.co/v1/";
    struct sl_lever *lv = sl_lever_create(&cfg);
    struct sl_err err = {0};
    struct sl_lever_resp resp = {0};
    struct sl_lever_tokens tok = {0};

    /* Code exchange: form-encoded, with every field; tokens and claims read. */
    char *code = fake_lever_authorize_code(F, CLIENT_ID, redirect, SL_LEVER_SCOPES);
    enum sl_rc rc = sl_lever_exchange_code(lv, code, &tok, &resp, &err);
    is_int(rc, SL_OK, "code exchanged: %s", err.msg);
    ok(tok.access_token && tok.refresh_token, "access and refresh tokens");
    is_str(tok.account_id, "acct_1", "account id from the JWT");
    is_str(tok.user_id, "user_admin", "authorizing user from the JWT");
    is_str(tok.scope, SL_LEVER_SCOPES, "granted scope");
    is_int(tok.expires_in, 3600, "expires_in");
    sl_lever_resp_cleanup(&resp);
    json_t *reqs = fake_lever_requests(F);
    json_t *last = json_array_get(reqs, json_array_size(reqs) - 1);
    is_str(json_string_value(json_object_get(last, "content_type")),
           "application/x-www-form-urlencoded", "token request is form-encoded");
    json_decref(reqs);

    /* The code again: a 4xx is SL_ERR_AUTH with OAuth's error fields. */
    struct sl_lever_tokens tok2 = {0};
    rc = sl_lever_exchange_code(lv, code, &tok2, &resp, &err);
    is_int(rc, SL_ERR_AUTH, "used code refused: SL_ERR_AUTH");
    is_int(resp.status, 403, "status kept");
    is_str(resp.error_code, "invalid_grant", "OAuth error read");
    ok(strstr(resp.error_message, "authorization code") != NULL, "error_description read");
    sl_lever_resp_cleanup(&resp);
    free(code);

    /* Refresh rotates; a 5xx is SL_ERR_UPSTREAM. */
    rc = sl_lever_refresh(lv, tok.refresh_token, &tok2, NULL, &err);
    is_int(rc, SL_OK, "refreshed");
    ok(tok2.refresh_token && strcmp(tok2.refresh_token, tok.refresh_token) != 0,
       "new refresh token");
    fake_lever_push_response(F, "POST", "/oauth/token", 503, "{\"error\":\"temporarily\"}", 0);
    struct sl_lever_tokens tok3 = {0};
    rc = sl_lever_refresh(lv, tok2.refresh_token, &tok3, &resp, &err);
    is_int(rc, SL_ERR_UPSTREAM, "token endpoint 503: SL_ERR_UPSTREAM");
    sl_lever_resp_cleanup(&resp);

    /* Without credentials nothing is sent. */
    int before = fake_lever_count(F, "POST", "/oauth/token");
    cfg.lever_client_secret = NULL;
    rc = sl_lever_refresh(lv, tok2.refresh_token, &tok3, &resp, &err);
    is_int(rc, SL_ERR_CONFIG, "no client secret: SL_ERR_CONFIG");
    ok(strstr(err.msg, "SL_LEVER_CLIENT_SECRET") != NULL, "message names the setting");
    is_int(fake_lever_count(F, "POST", "/oauth/token"), before, "no request made");
    cfg.lever_client_secret = CLIENT_SECRET;
    sl_lever_resp_cleanup(&resp);
    const char *access = tok2.access_token;

    /* Envelope, errors, escaping. */
    fake_lever_add_user(F, "acct_1", "Plus", "a+b@example.com", "team member", false);
    const char *q[] = {"email", "a+b@example.com", "includeDeactivated", "true", NULL};
    rc = sl_lever_call(lv, "GET", access, "/users", q, NULL, &resp, &err);
    is_int(rc, SL_OK, "GET /users");
    is_int(resp.status, 200, "200");
    ok(json_is_array(resp.data) && json_array_size(resp.data) == 1,
       "data is the list; '+' in the email escaped (found 1)");
    reqs = fake_lever_requests(F);
    last = json_array_get(reqs, json_array_size(reqs) - 1);
    ok(strstr(json_string_value(json_object_get(last, "query_string")), "a%2Bb%40example.com"),
       "query escaped by libcurl: %s", json_string_value(json_object_get(last, "query_string")));
    json_decref(reqs);
    sl_lever_resp_cleanup(&resp);

    rc = sl_lever_call(lv, "GET", access, "/users/nobody", NULL, NULL, &resp, &err);
    is_int(rc, SL_OK, "a 404 is an answer: SL_OK");
    is_int(resp.status, 404, "404");
    is_str(resp.error_code, "ResourceNotFound", "Lever error code read");
    ok(strstr(resp.error_message, "nobody") != NULL, "Lever message read");
    sl_lever_resp_cleanup(&resp);
    ok(sl_metrics_value("sl_lever_requests_total", "endpoint=\"/users/{id}\",status=\"404\"") == 1,
       "counted under the path template");

    fake_lever_push_response(F, "GET", "/v1/stages", 429, "{\"code\":\"TooManyRequests\"}", 7);
    rc = sl_lever_call(lv, "GET", access, "/stages", NULL, NULL, &resp, &err);
    is_int(resp.status, 429, "429");
    is_int(resp.retry_after_s, 7, "Retry-After read");
    sl_lever_resp_cleanup(&resp);

    /* Pagination and the gate: once per page. */
    char id[32];
    for (int i = 0; i < 230; i++) {
        snprintf(id, sizeof(id), "post_%03d", i);
        fake_lever_add_posting(F, "acct_1", id, "Job", "published", "public", NULL, NULL);
    }
    struct gate_state g = {.refuse_after = 1000};
    sl_lever_set_gate(lv, gate, &g);
    fake_lever_reset_log(F);
    json_t *items = NULL;
    memset(&err, 0, sizeof(err));
    rc = sl_lever_list(lv, access, "/postings", NULL, &items, &resp, &err);
    is_int(rc, SL_OK, "listed: %s", err.msg);
    is_int(json_array_size(items), 230, "every page read");
    is_int(fake_lever_count(F, "GET", "/v1/postings"), 3, "three pages of 100");
    is_int(g.calls, 3, "gate called before every page");
    json_decref(items);
    sl_lever_resp_cleanup(&resp);

    g.calls = 0;
    g.refuse_after = 1;
    rc = sl_lever_list(lv, access, "/postings", NULL, &items, &resp, &err);
    is_int(rc, SL_ERR_DB, "gate refusal ends the listing with its code");
    is_int(fake_lever_count(F, "GET", "/v1/postings"), 4, "no request after the refusal");
    ok(items == NULL, "no items");
    sl_lever_resp_cleanup(&resp);
    sl_lever_set_gate(lv, NULL, NULL);

    fake_lever_push_response(F, "GET", "/v1/postings", 401, "{\"code\":\"UnauthorizedError\"}", 0);
    rc = sl_lever_list(lv, access, "/postings", NULL, &items, &resp, &err);
    is_int(rc, SL_ERR_AUTH, "401 page: SL_ERR_AUTH");
    sl_lever_resp_cleanup(&resp);

    /* A POST whose answer is dropped on a connection that was reused would be
     * re-sent by libcurl; ours go on a fresh connection and are sent once. */
    rc = sl_lever_call(lv, "GET", access, "/users", NULL, NULL, &resp, &err); /* keep-alive */
    sl_lever_resp_cleanup(&resp);
    fake_lever_set_fault_rate(F, "POST", "/v1/users$", 0, 1000);
    json_t *body = json_pack("{s:s,s:s,s:s}", "name", "Dolores", "email", "dolores@stakha.io",
                             "accessRole", "team member");
    rc = sl_lever_call(lv, "POST", access, "/users", NULL, body, &resp, &err);
    is_int(rc, SL_ERR_UPSTREAM, "dropped answer: SL_ERR_UPSTREAM");
    is_int(resp.status, 0, "no status");
    ok(resp.sent, "sent: Lever may have acted");
    is_int(fake_lever_count(F, "POST", "/v1/users$"), 1, "the POST reached Lever exactly once");
    json_t *users = fake_lever_users(F, "acct_1");
    int dolores = 0;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) dolores +=
        strcmp(json_string_value(json_object_get(u, "email")), "dolores@stakha.io") == 0;
    is_int(dolores, 1, "one user created");
    json_decref(users);
    json_decref(body);
    sl_lever_resp_cleanup(&resp);
    fake_lever_set_fault_rate(F, "POST", "/v1/users$", 0, 0);
    ok(sl_metrics_value("sl_lever_requests_total", "endpoint=\"/users\",status=\"error\"") == 1,
       "no-answer counted as status=error");

    /* Nothing listening: not sent. */
    cfg.lever_api_url = "http://127.0.0.1:1/v1";
    rc = sl_lever_call(lv, "POST", access, "/users", NULL, NULL, &resp, &err);
    is_int(rc, SL_ERR_UPSTREAM, "connection refused: SL_ERR_UPSTREAM");
    ok(!resp.sent, "not sent");
    ok(strstr(err.msg, "/users") != NULL, "message names the endpoint: %s", err.msg);
    sl_lever_resp_cleanup(&resp);
    cfg.lever_api_url = api;

    /* The pool lends distinct clients and takes them back. */
    struct sl_lever_pool *pool = sl_lever_pool_create(&cfg, 2);
    struct sl_lever *a = sl_lever_pool_acquire(pool), *b = sl_lever_pool_acquire(pool);
    ok(a && b && a != b, "two distinct clients");
    sl_lever_pool_release(pool, a);
    ok(sl_lever_pool_acquire(pool) == a, "a returned client is lent again");
    sl_lever_pool_release(pool, a);
    sl_lever_pool_release(pool, b);
    sl_lever_pool_destroy(pool);

    sl_lever_tokens_cleanup(&tok);
    sl_lever_tokens_cleanup(&tok2);
    sl_lever_tokens_cleanup(&tok3);
    sl_lever_destroy(lv);
    fake_lever_stop(F);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_pure();
    test_client();
    curl_global_cleanup();
    return done_testing();
}
