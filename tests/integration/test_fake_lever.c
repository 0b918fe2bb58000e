/*
 * test_fake_lever.c: the fake Lever itself, over real HTTP with libcurl.
 *
 * The integration tests of the service trust the fake to behave like Lever (reference:
 * /work/shared/reference/lever-api.md), so this file pins that behaviour down: the OAuth
 * authorize and token endpoints with their strictness, refresh-token rotation and reuse
 * detection, revocation, expiry, the rate limiter, posting filters and pagination, users,
 * opportunity and note strictness, fault injection and request recording.
 *
 * Threads: the test runs on the main thread; the fake answers on its own threads. Every
 * request uses a fresh curl handle, so no connection is reused (a dropped answer on a reused
 * connection would make libcurl silently resend the request).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_lever.h"
#include "tap.h"
#include "util.h"

#define CLIENT_ID "stakha-test"
#define CLIENT_SECRET "s3cret-value"
#define REDIRECT "http://127.0.0.1:9/oauth/lever/callback"
#define AUDIENCE "https://api.lever.co/v1/"
#define SCOPE                                                                                      \
    "offline_access opportunities:write:admin notes:write:admin postings:read:admin "              \
    "stages:read:admin users:read:admin users:write:admin"

static struct fake_lever *F;

struct resp {
    CURLcode rc;
    long status;
    struct sl_buf body;
    char location[2048];
    char retry_after[32];
    char csp[1024];
    json_t *json;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sl_buf_append(ud, p, size * n);
    return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && *v == ' ')
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    size_t n = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    header_value(p, size * n, "Location", r->location, sizeof(r->location));
    header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    header_value(p, size * n, "Content-Security-Policy", r->csp, sizeof(r->csp));
    return size * n;
}

static void resp_clear(struct resp *r)
{
    sl_buf_cleanup(&r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* One request on a fresh connection. `path` is appended to the fake's base URL. */
static void http(struct resp *r, const char *method, const char *path, const char *bearer,
                 const char *content_type, const char *body)
{
    resp_clear(r);
    sl_buf_init(&r->body);
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", fake_lever_base_url(F), path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[4096];
    if (bearer) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, line);
    }
    if (content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (r->body.len)
        r->json = json_loadb(r->body.data, r->body.len, 0, NULL);
}

static void get(struct resp *r, const char *path, const char *bearer)
{
    http(r, "GET", path, bearer, NULL, NULL);
}

static void post_json(struct resp *r, const char *path, const char *bearer, const char *json)
{
    http(r, "POST", path, bearer, "application/json", json);
}

static void post_form(struct resp *r, const char *path, const char *form)
{
    http(r, "POST", path, NULL, "application/x-www-form-urlencoded", form);
}

static const char *body_str(const struct resp *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

static const char *data_str(const struct resp *r, const char *key)
{
    return json_string_value(json_object_get(json_object_get(r->json, "data"), key));
}

static size_t data_len(const struct resp *r)
{
    return json_array_size(json_object_get(r->json, "data"));
}

static char *enc(const char *s)
{
    return curl_easy_escape(NULL, s, 0);
}

/* The six authorize parameters, with `skip` left out and `key` set to `value`. */
static char *authorize_path(const char *skip, const char *key, const char *value)
{
    static const char *const names[] = {"client_id", "redirect_uri", "response_type",
                                        "state",     "audience",     "scope"};
    const char *values[] = {CLIENT_ID, REDIRECT, "code", "st4te", AUDIENCE, SCOPE};
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "/authorize?");
    for (size_t i = 0; i < 6; i++) {
        if (skip && strcmp(skip, names[i]) == 0)
            continue;
        const char *v = key && strcmp(key, names[i]) == 0 ? value : values[i];
        char *e = enc(v);
        sl_buf_printf(&b, "%s%s=%s", b.len > strlen("/authorize?") ? "&" : "", names[i], e);
        curl_free(e);
    }
    return sl_buf_take(&b);
}

/* The value of `name` in the query of `url`, or "" (static buffer). */
static const char *query_param(const char *url, const char *name)
{
    static char out[512];
    out[0] = '\0';
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    for (const char *p = q; p && *p;) {
        p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *e = strchr(p + n + 1, '&');
            size_t len = e ? (size_t)(e - p - n - 1) : strlen(p + n + 1);
            if (len >= sizeof(out))
                len = sizeof(out) - 1;
            memcpy(out, p + n + 1, len);
            out[len] = '\0';
            return out;
        }
        p = strchr(p, '&');
    }
    return out;
}

static char *exchange_form(const char *secret, const char *code, const char *redirect)
{
    struct sl_buf b;
    sl_buf_init(&b);
    char *r = redirect ? enc(redirect) : NULL;
    sl_buf_printf(&b, "grant_type=authorization_code&client_id=%s&client_secret=%s&code=%s%s%s",
                  CLIENT_ID, secret, code, r ? "&redirect_uri=" : "", r ? r : "");
    curl_free(r);
    return sl_buf_take(&b);
}

static char *refresh_form(const char *refresh)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "grant_type=refresh_token&client_id=%s&client_secret=%s&refresh_token=%s",
                  CLIENT_ID, CLIENT_SECRET, refresh);
    return sl_buf_take(&b);
}

static json_t *jwt_payload(const char *jwt)
{
    const char *a = strchr(jwt, '.');
    const char *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || strchr(b + 1, '.'))
        return NULL;
    size_t n = (size_t)(b - a - 1);
    unsigned char *out = sl_xmalloc(n);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[1 + i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    json_t *j = json_loadb((const char *)out, o, 0, NULL);
    free(out);
    return j;
}

/* Runs the whole browserless flow and returns the token answer (caller owns). */
static json_t *login(void)
{
    struct resp r = {0};
    char *path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    free(path);
    char *code = sl_xstrdup(query_param(r.location, "code"));
    char *form = exchange_form(CLIENT_SECRET, code, REDIRECT);
    post_form(&r, "/oauth/token", form);
    json_t *out = json_incref(r.json);
    free(form);
    free(code);
    resp_clear(&r);
    return out;
}

static void test_authorize(void)
{
    struct resp r = {0};
    char *path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    free(path);
    is_int(r.status, 302, "authorize: a valid request redirects");
    ok(strncmp(r.location, REDIRECT "?", strlen(REDIRECT) + 1) == 0,
       "authorize: back to the registered redirect_uri (%s)", r.location);
    is_str(query_param(r.location, "state"), "st4te", "authorize: state is echoed");
    ok(strlen(query_param(r.location, "code")) >= 16, "authorize: a code is issued");

    static const char *const params[] = {"client_id", "redirect_uri", "response_type",
                                         "state",     "audience",     "scope"};
    for (size_t i = 0; i < 6; i++) {
        path = authorize_path(params[i], NULL, NULL);
        get(&r, path, NULL);
        free(path);
        is_int(r.status, 400, "authorize without %s: 400", params[i]);
        ok(r.body.data && strstr(r.body.data, params[i]), "authorize without %s: names it",
           params[i]);
    }
    struct {
        const char *key, *value, *what;
    } bad[] = {
        {"client_id", "nobody", "unknown client"},
        {"redirect_uri", REDIRECT "/", "redirect_uri not exactly the registered one"},
        {"response_type", "token", "response_type other than code"},
        {"audience", "https://api.sandbox.lever.co/v1/", "wrong audience"},
        {"scope", "offline_access candidates:read:admin", "unknown scope"},
        {"state", "", "empty state"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        path = authorize_path(NULL, bad[i].key, bad[i].value);
        get(&r, path, NULL);
        free(path);
        is_int(r.status, 400, "authorize with %s: 400", bad[i].what);
        is_str(r.location, "", "authorize with %s: no redirect", bad[i].what);
    }

    fake_lever_deny_next_authorize(F);
    path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    is_int(r.status, 302, "authorize denied: still a redirect");
    is_str(query_param(r.location, "error"), "access_denied",
           "authorize denied: error=access_denied");
    is_str(query_param(r.location, "state"), "st4te", "authorize denied: state is echoed");
    is_str(query_param(r.location, "code"), "", "authorize denied: no code");
    get(&r, path, NULL);
    ok(strlen(query_param(r.location, "code")) > 0, "authorize: denial applies to one request");
    free(path);
    resp_clear(&r);
}

static void test_token_exchange(void)
{
    struct resp r = {0};
    char *path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    free(path);
    char *code = sl_xstrdup(query_param(r.location, "code"));

    char *form = exchange_form("wrong-secret", code, REDIRECT);
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 401, "token: wrong client_secret is 401");
    is_str(body_str(&r, "error"), "access_denied", "token: wrong secret says access_denied");

    form = exchange_form(CLIENT_SECRET, code, "http://127.0.0.1:9/other");
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 403, "token: another redirect_uri is 403");
    is_str(body_str(&r, "error"), "invalid_grant", "token: another redirect_uri is invalid_grant");

    form = exchange_form(CLIENT_SECRET, code, NULL);
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 400, "token: missing redirect_uri is 400");

    post_form(&r, "/oauth/token", "grant_type=authorization_code&client_secret=" CLIENT_SECRET);
    is_int(r.status, 400, "token: missing client_id is 400");

    form = exchange_form(CLIENT_SECRET, code, REDIRECT);
    post_form(&r, "/oauth/token", form);
    is_int(r.status, 200, "token: the exchange succeeds");
    ok(body_str(&r, "access_token") != NULL, "token: access_token");
    ok(body_str(&r, "refresh_token") != NULL, "token: refresh_token (offline_access asked)");
    is_str(body_str(&r, "token_type"), "Bearer", "token: token_type Bearer");
    is_str(body_str(&r, "scope"), SCOPE, "token: scope is the granted one");
    is_int(json_integer_value(json_object_get(r.json, "expires_in")), 3600, "token: expires_in");

    json_t *claims = jwt_payload(body_str(&r, "access_token"));
    ok(claims != NULL, "token: the access token is a JWT");
    is_str(json_string_value(json_object_get(claims, "https://oauth.lever.co/accountId")), "acct_1",
           "token: accountId claim");
    is_str(json_string_value(json_object_get(claims, "https://oauth.lever.co/userId")),
           "user_admin", "token: userId claim is the authorizing super admin");
    is_str(json_string_value(json_object_get(claims, "aud")), AUDIENCE, "token: aud claim");
    json_decref(claims);

    post_form(&r, "/oauth/token", form);
    is_int(r.status, 403, "token: a used code is 403");
    is_str(body_str(&r, "error"), "invalid_grant", "token: a used code is invalid_grant");
    free(form);
    free(code);

    /* JSON bodies are accepted too, as Lever's example app sends them. */
    code = fake_lever_authorize_code(F, CLIENT_ID, REDIRECT, "postings:read:admin");
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b,
                  "{\"grant_type\":\"authorization_code\",\"client_id\":\"%s\","
                  "\"client_secret\":\"%s\",\"code\":\"%s\",\"redirect_uri\":\"%s\"}",
                  CLIENT_ID, CLIENT_SECRET, code, REDIRECT);
    post_json(&r, "/oauth/token", NULL, b.data);
    is_int(r.status, 200, "token: a JSON body works");
    ok(body_str(&r, "refresh_token") == NULL, "token: no refresh_token without offline_access");
    char *access = sl_xstrdup(body_str(&r, "access_token"));
    get(&r, "/v1/users", access);
    is_int(r.status, 403, "scope: users without users:read:admin is 403");
    get(&r, "/v1/postings", access);
    is_int(r.status, 200, "scope: postings with postings:read:admin is 200");
    free(access);
    sl_buf_cleanup(&b);
    free(code);
    resp_clear(&r);
}

static void test_refresh_rotation(void)
{
    struct resp r = {0};
    json_t *tokens = login();
    const char *access0 = json_string_value(json_object_get(tokens, "access_token"));
    const char *refresh0 = json_string_value(json_object_get(tokens, "refresh_token"));
    int refreshes = fake_lever_refresh_count(F);
    int reuses = fake_lever_reuse_count(F);

    char *form = refresh_form(refresh0);
    post_form(&r, "/oauth/token", form);
    is_int(r.status, 200, "refresh: succeeds");
    char *refresh1 = sl_xstrdup(body_str(&r, "refresh_token") ? body_str(&r, "refresh_token") : "");
    char *access1 = sl_xstrdup(body_str(&r, "access_token") ? body_str(&r, "access_token") : "");
    ok(*refresh1 && strcmp(refresh1, refresh0) != 0, "refresh: a new refresh token (rotation)");
    ok(strcmp(access1, access0) != 0, "refresh: a new access token");
    is_int(fake_lever_refresh_count(F), refreshes + 1, "refresh: counted");
    get(&r, "/v1/stages", access1);
    is_int(r.status, 200, "refresh: the new access token works");

    post_form(&r, "/oauth/token", form); /* the rotated-away token again */
    is_int(r.status, 403, "refresh reuse: 403");
    is_str(body_str(&r, "error"), "invalid_grant", "refresh reuse: invalid_grant");
    is_str(body_str(&r, "error_description"), "Unknown or invalid refresh token.",
           "refresh reuse: Auth0's description");
    is_int(fake_lever_reuse_count(F), reuses + 1, "refresh reuse: counted");
    free(form);

    form = refresh_form(refresh1);
    post_form(&r, "/oauth/token", form);
    is_int(r.status, 403, "refresh reuse: the newest refresh token is revoked too");
    get(&r, "/v1/stages", access1);
    is_int(r.status, 401, "refresh reuse: the grant's access tokens are revoked");
    free(form);
    free(refresh1);
    free(access1);
    json_decref(tokens);

    post_form(&r, "/oauth/token",
              "grant_type=refresh_token&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET
              "&refresh_token=v1.bogus");
    is_int(r.status, 403, "refresh: an unknown token is 403");
    resp_clear(&r);
}

static void test_revoke_and_expiry(void)
{
    struct resp r = {0};
    json_t *tokens = login();
    const char *access = json_string_value(json_object_get(tokens, "access_token"));
    char *form = refresh_form(json_string_value(json_object_get(tokens, "refresh_token")));
    get(&r, "/v1/stages", access);
    is_int(r.status, 200, "revoke: works before");
    fake_lever_revoke(F, "acct_1");
    get(&r, "/v1/stages", access);
    is_int(r.status, 401, "revoke: access token is 401");
    is_str(body_str(&r, "code"), "UnauthorizedError", "revoke: UnauthorizedError");
    is_str(body_str(&r, "message"), "The request requires authentication.", "revoke: message");
    post_form(&r, "/oauth/token", form);
    is_int(r.status, 403, "revoke: refresh is 403");
    is_str(body_str(&r, "error"), "invalid_grant", "revoke: refresh is invalid_grant");
    is_str(body_str(&r, "error_description"), "Unknown or invalid refresh token.",
           "revoke: refresh description");
    free(form);
    json_decref(tokens);

    get(&r, "/v1/stages", NULL);
    is_int(r.status, 401, "no Authorization header: 401");
    get(&r, "/v1/stages", "not-a-token");
    is_int(r.status, 401, "unknown bearer token: 401");

    /* Expiry, on a clock of our own. */
    char *a2 = NULL, *r2 = NULL;
    fake_lever_mint_token(F, "acct_1", &a2, &r2);
    get(&r, "/v1/stages", a2);
    is_int(r.status, 200, "expiry: a fresh minted token works");
    fake_lever_advance_clock(F, 3601);
    get(&r, "/v1/stages", a2);
    is_int(r.status, 401, "expiry: after an hour it is 401");
    fake_lever_advance_clock(F, -3601);
    get(&r, "/v1/stages", a2);
    is_int(r.status, 200, "expiry: the clock is the fake's own");

    form = refresh_form(r2);
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 200, "mint: the service's client can refresh a minted grant");
    fake_lever_advance_clock(F, 91LL * 24 * 3600);
    form = refresh_form(body_str(&r, "refresh_token") ? body_str(&r, "refresh_token") : "");
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 403, "expiry: a refresh token unused for 90 days is 403");
    fake_lever_advance_clock(F, -91LL * 24 * 3600);

    char *code = fake_lever_authorize_code(F, CLIENT_ID, REDIRECT, SCOPE);
    ok(fake_lever_authorize_code(F, CLIENT_ID, "http://elsewhere/cb", SCOPE) == NULL,
       "authorize_code: refuses a redirect_uri that is not registered");
    fake_lever_advance_clock(F, 61);
    form = exchange_form(CLIENT_SECRET, code, REDIRECT);
    post_form(&r, "/oauth/token", form);
    free(form);
    is_int(r.status, 403, "expiry: a code is good for 60 s only");
    fake_lever_advance_clock(F, -61);
    free(code);
    free(a2);
    free(r2);
    resp_clear(&r);
}

static void test_rate_limit(void)
{
    struct resp r = {0};
    char *access = NULL;
    fake_lever_mint_token(F, "acct_rl", &access, NULL);
    fake_lever_set_rate_limit(F, 1, 5);
    int before = fake_lever_count_429(F);
    int limited = 0, passed = 0;
    char retry_after[32] = "";
    for (int i = 0; i < 15; i++) {
        get(&r, "/v1/stages", access);
        if (r.status == 429) {
            limited++;
            snprintf(retry_after, sizeof(retry_after), "%s", r.retry_after);
            if (limited == 1)
                is_str(body_str(&r, "code"), "TooManyRequests", "rate limit: TooManyRequests");
        } else if (r.status == 200) {
            passed++;
        }
    }
    ok(passed >= 5 && passed <= 7, "rate limit: about the burst passes (%d)", passed);
    ok(limited >= 8, "rate limit: the rest is 429 (%d)", limited);
    is_str(retry_after, "1", "rate limit: Retry-After: 1");
    is_int(fake_lever_count_429(F), before + limited, "rate limit: 429s counted");
    ok(fake_lever_max_rps(F, "acct_rl") >= 10,
       "rate limit: max_rps sees rejected requests too (%d)", fake_lever_max_rps(F, "acct_rl"));
    is_int(fake_lever_max_rps(F, "acct_unknown"), 0,
           "rate limit: max_rps of an unknown account is 0");
    fake_lever_set_rate_limit(F, 0, 0);
    for (int i = 0; i < 25; i++)
        get(&r, "/v1/stages", access);
    is_int(fake_lever_count_429(F), before + limited, "rate limit: rps 0 disables it");
    fake_lever_set_rate_limit(F, 10, 20);
    free(access);
    resp_clear(&r);
}

static void test_postings(const char *access)
{
    struct resp r = {0};
    /* 3 public, 2 internal-site only, 1 both, 2 unlisted, 1 closed, 1 draft. */
    fake_lever_add_posting(F, "acct_1", "p-pub-1", "Backend Engineer", "published", "public",
                           "Engineering", "Berlin");
    fake_lever_add_posting(F, "acct_1", "p-pub-2", "Designer", "published", "public", "Design",
                           "Paris");
    fake_lever_add_posting(F, "acct_1", "p-pub-3", "Data Analyst", "published", "public", "Data",
                           "Remote");
    fake_lever_add_posting(F, "acct_1", "p-int-1", "Internal Mobility", "published", "internal",
                           "People", "Berlin");
    fake_lever_add_posting(F, "acct_1", "p-int-2", "Team Lead", "published", "internal",
                           "Engineering", "Paris");
    fake_lever_add_posting(F, "acct_1", "p-both", "SRE", "published", "public,internal",
                           "Engineering", "Berlin");
    fake_lever_add_posting(F, "acct_1", "p-unl-1", "Stealth Role", "internal", "", "Research",
                           NULL);
    fake_lever_add_posting(F, "acct_1", "p-unl-2", "Confidential Hire", "internal", "", NULL,
                           "Lisbon");
    fake_lever_add_posting(F, "acct_1", "p-closed", "Old Job", "closed", "public", "Sales", "NYC");
    fake_lever_add_posting(F, "acct_1", "p-draft", "Next Job", "draft", "", "Sales", "NYC");

    get(&r, "/v1/postings?state=published", access);
    is_int(r.status, 200, "postings: 200");
    is_int(data_len(&r), 4, "postings: state=published alone lists public-site ones only");
    get(&r, "/v1/postings?state=published&distributionChannel=internal", access);
    is_int(data_len(&r), 3, "postings: distributionChannel=internal");
    get(&r, "/v1/postings?state=published&distributionChannel=public&distributionChannel=internal",
        access);
    is_int(data_len(&r), 6, "postings: both channels list every published posting");
    get(&r, "/v1/postings?state=internal", access);
    is_int(data_len(&r), 2, "postings: state=internal lists unlisted postings");

    /* Four pages of two. */
    json_t *seen = json_object();
    char path[1024] = "/v1/postings?state=published&state=internal&distributionChannel=public"
                      "&distributionChannel=internal&limit=2";
    int pages = 0;
    bool more = true;
    while (more && pages < 10) {
        get(&r, path, access);
        if (r.status != 200)
            break;
        pages++;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r.json, "data"), i, p)
        {
            json_object_set_new(seen, json_string_value(json_object_get(p, "id")), json_true());
        }
        more = json_is_true(json_object_get(r.json, "hasNext"));
        const char *next = body_str(&r, "next");
        if (more && next) {
            char *e = enc(next);
            snprintf(path, sizeof(path),
                     "/v1/postings?state=published&state=internal&distributionChannel=public"
                     "&distributionChannel=internal&limit=2&offset=%s",
                     e);
            curl_free(e);
        }
    }
    is_int(pages, 4, "postings: 8 postings come in 4 pages of 2");
    is_int(json_object_size(seen), 8, "postings: every page brings new postings");
    ok(!more && body_str(&r, "next") == NULL, "postings: the last page has hasNext false, no next");
    json_decref(seen);

    get(&r, "/v1/postings?offset=0.1414895548650.a6070140-33db-407c-91f5-2760e15c8e94", access);
    is_int(r.status, 400, "postings: an offset the fake did not issue is 400");
    ok(body_str(&r, "message") && strstr(body_str(&r, "message"), "Invalid offset token"),
       "postings: the message says Invalid offset token");
    get(&r, "/v1/postings?limit=0", access);
    is_int(r.status, 400, "postings: limit=0 is 400");
    get(&r, "/v1/postings?limit=101", access);
    is_int(r.status, 400, "postings: limit=101 is 400");
    get(&r, "/v1/postings", access);
    is_int(data_len(&r), 8, "postings: no filter hides internal-site-only published postings");

    get(&r, "/v1/postings/p-both", access);
    is_int(r.status, 200, "postings: GET one");
    json_t *data = json_object_get(r.json, "data");
    is_str(json_string_value(json_object_get(json_object_get(data, "categories"), "team")),
           "Engineering", "postings: categories.team");
    is_str(json_string_value(json_object_get(json_object_get(data, "urls"), "show")),
           "https://jobs.lever.co/acct_1/p-both", "postings: urls.show");
    get(&r, "/v1/postings/nope", access);
    is_int(r.status, 404, "postings: an unknown posting is 404");
    ok(fake_lever_count(F, "GET", "/v1/postings") >= 12, "postings: requests are counted");
    resp_clear(&r);
}

static void test_users(const char *access)
{
    struct resp r = {0};
    post_json(&r, "/v1/users", access, "{\"name\":\"Dolores\"}");
    is_int(r.status, 400, "users: create without email is 400");
    is_str(body_str(&r, "code"), "BadRequestError", "users: BadRequestError");
    post_json(&r, "/v1/users", access, "{\"email\":\"dolores@stakha.io\"}");
    is_int(r.status, 400, "users: create without name is 400");
    post_json(&r, "/v1/users", access,
              "{\"name\":\"Dolores\",\"email\":\"Dolores@Stakha.io\",\"accessRole\":\"team "
              "member\"}");
    is_int(r.status, 201, "users: create is 201");
    is_str(data_str(&r, "accessRole"), "team member", "users: accessRole kept");
    is_str(data_str(&r, "username"), "dolores", "users: username from the email");
    char *id = sl_xstrdup(data_str(&r, "id") ? data_str(&r, "id") : "");
    post_json(&r, "/v1/users", access, "{\"name\":\"Other\",\"email\":\"other@stakha.io\"}");
    is_str(data_str(&r, "accessRole"), "interviewer", "users: default role is interviewer");

    get(&r, "/v1/users?email=DOLORES%40stakha.io", access);
    is_int(data_len(&r), 1, "users: found by email, case-insensitively");

    char path[256];
    snprintf(path, sizeof(path), "/v1/users/%s/deactivate", id);
    post_json(&r, path, access, NULL);
    is_int(r.status, 200, "users: deactivate");
    get(&r, "/v1/users?email=dolores%40stakha.io", access);
    is_int(data_len(&r), 0, "users: deactivated users are hidden by default");
    get(&r, "/v1/users?email=dolores%40stakha.io&includeDeactivated=true", access);
    is_int(data_len(&r), 1, "users: includeDeactivated=true shows them");
    ok(json_is_integer(
           json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "deactivatedAt")),
       "users: deactivatedAt is set");
    snprintf(path, sizeof(path), "/v1/users/%s/reactivate", id);
    post_json(&r, path, access, NULL);
    is_int(r.status, 200, "users: reactivate");
    ok(json_is_null(json_object_get(json_object_get(r.json, "data"), "deactivatedAt")),
       "users: deactivatedAt is null again");
    snprintf(path, sizeof(path), "/v1/users/%s", id);
    get(&r, path, access);
    is_str(data_str(&r, "email"), "Dolores@Stakha.io", "users: GET one");

    fake_lever_fail_users(F, true);
    get(&r, "/v1/users?email=dolores%40stakha.io", access);
    is_int(r.status, 500, "users: fail_users makes GET 500");
    post_json(&r, "/v1/users", access, "{\"name\":\"X\",\"email\":\"x@stakha.io\"}");
    is_int(r.status, 403, "users: fail_users makes POST 403");
    fake_lever_fail_users(F, false);
    free(id);
    resp_clear(&r);
}

static void test_opportunities(const char *access)
{
    struct resp r = {0};
    const char *dolores =
        fake_lever_add_user(F, "acct_1", "Dolores", "dolores.svc@stakha.io", "team member", false);
    const char *gone =
        fake_lever_add_user(F, "acct_1", "Gone", "gone@stakha.io", "team member", true);
    char base[256], path[512];
    snprintf(base, sizeof(base), "/v1/opportunities?perform_as=%s", dolores);
    const char *good = "{\"name\":\"Ada Lovelace\",\"emails\":[\"ada@example.com\"],"
                       "\"phones\":[{\"value\":\"+44 20 7946 0000\",\"type\":\"mobile\"}],"
                       "\"links\":[\"https://stakha.io/p/ada\"],\"location\":\"London\","
                       "\"tags\":[\"Sourced via Stakha\"],\"sources\":[\"Stakha\"],"
                       "\"origin\":\"sourced\",\"stage\":\"lead-new\",\"postings\":[\"p-pub-1\"]}";
    int count = fake_lever_opportunity_count(F);

    post_json(&r, "/v1/opportunities", access, good);
    is_int(r.status, 400, "opportunity: missing perform_as is 400");
    snprintf(path, sizeof(path), "/v1/opportunities?perform_as=nobody");
    post_json(&r, path, access, good);
    is_int(r.status, 404, "opportunity: unknown perform_as is 404");
    snprintf(path, sizeof(path), "/v1/opportunities?perform_as=%s", gone);
    post_json(&r, path, access, good);
    is_int(r.status, 400, "opportunity: deactivated perform_as is 400");

    struct {
        const char *body, *what;
    } bad[] = {
        {"{\"name\":\"A\",\"postings\":[\"p-pub-1\",\"p-pub-2\"]}", "two postings"},
        {"{\"name\":\"\",\"emails\":[\"a@example.com\"]}", "an empty string"},
        {"{\"name\":\"   \"}", "a blank string"},
        {"{\"name\":\"A\",\"headline\":null}", "a null"},
        {"{\"name\":\"A\",\"tags\":[]}", "an empty array"},
        {"{\"name\":\"A\",\"links\":[\"\"]}", "an empty string in an array"},
        {"{\"name\":\"A\",\"emails\":\"a@example.com\"}", "a string where an array belongs"},
        {"{\"name\":\"A\",\"phones\":[\"+1 555\"]}", "phones as strings"},
        {"{\"name\":\"A\",\"phones\":[{\"value\":\"+1\",\"type\":\"cell\"}]}", "a phone type"},
        {"{\"name\":\"A\",\"stage\":\"New lead\"}", "an unknown stage"},
        {"{\"name\":\"A\",\"origin\":\"stakha\"}", "an unknown origin"},
        {"{\"name\":\"A\",\"postings\":[\"nope\"]}", "an unknown posting"},
        {"{\"name\":\"A\",\"posting\":\"p-pub-1\"}", "an unknown field"},
        {"[\"A\"]", "a body that is not an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post_json(&r, base, access, bad[i].body);
        is_int(r.status, 400, "opportunity with %s: 400", bad[i].what);
    }
    http(&r, "POST", base, access, "application/x-www-form-urlencoded", "name=A");
    is_int(r.status, 415, "opportunity: a form body is refused by the fake");
    is_int(fake_lever_opportunity_count(F), count, "opportunity: nothing was created by refusals");

    post_json(&r, base, access, good);
    is_int(r.status, 201, "opportunity: create is 201");
    json_t *data = json_object_get(r.json, "data");
    char *opp1 = sl_xstrdup(data_str(&r, "id") ? data_str(&r, "id") : "");
    char *contact = sl_xstrdup(data_str(&r, "contact") ? data_str(&r, "contact") : "");
    ok(*opp1 && *contact, "opportunity: has id and contact");
    is_str(data_str(&r, "stage"), "lead-new", "opportunity: stage");
    is_str(data_str(&r, "owner"), dolores, "opportunity: owner defaults to perform_as");
    is_int(json_array_size(json_object_get(data, "applications")), 1,
           "opportunity: one application");
    is_str(json_string_value(json_array_get(json_object_get(data, "tags"), 0)),
           "Sourced via Stakha", "opportunity: tags");

    /* Same person again (other case): same contact, a second opportunity. */
    post_json(&r, base, access,
              "{\"name\":\"Ada L.\",\"emails\":[\"ADA@example.com\"],\"postings\":[\"p-pub-1\"]}");
    is_int(r.status, 201, "opportunity: a second create is 201 (Lever never dedupes those)");
    is_str(data_str(&r, "contact"), contact, "opportunity: the contact is deduped by email");
    is_str(data_str(&r, "name"), "Ada Lovelace", "opportunity: the contact's data wins");
    ok(data_str(&r, "id") && strcmp(data_str(&r, "id"), opp1) != 0, "opportunity: a new id");
    is_int(fake_lever_count_opportunities(F, "ada@EXAMPLE.com", "p-pub-1"), 2,
           "opportunity: two for that email and posting");
    is_int(fake_lever_count_opportunities(F, "ada@example.com", "p-pub-2"), 0,
           "opportunity: none on another posting");

    fake_lever_set_strict(F, false);
    post_json(&r, base, access, "{\"name\":\"Bob\",\"headline\":\"\",\"tags\":[]}");
    is_int(r.status, 201, "opportunity: without strictness empty values pass");
    fake_lever_set_strict(F, true);

    get(&r, "/v1/opportunities?email=ada%40example.com&posting_id=p-pub-1", access);
    is_int(data_len(&r), 2, "opportunities: filtered by email and posting");
    get(&r, "/v1/opportunities?email=ada%40example.com&posting_id=p-pub-2", access);
    is_int(data_len(&r), 0, "opportunities: another posting has none");
    get(&r, "/v1/opportunities?tag=Sourced%20via%20Stakha", access);
    is_int(data_len(&r), 1, "opportunities: by tag");
    get(&r, "/v1/opportunities?posting_id=p-pub-1&limit=1", access);
    is_int(data_len(&r), 1, "opportunities: limited");
    ok(json_is_true(json_object_get(r.json, "hasNext")), "opportunities: paginated");
    get(&r, "/v1/opportunities?posting_id=p-pub-1&expand=applications", access);
    is_str(json_string_value(json_object_get(
               json_array_get(json_object_get(json_array_get(json_object_get(r.json, "data"), 0),
                                              "applications"),
                              0),
               "posting")),
           "p-pub-1", "opportunities: expand=applications shows the posting");
    snprintf(path, sizeof(path), "/v1/opportunities/%s", opp1);
    get(&r, path, access);
    is_str(data_str(&r, "id"), opp1, "opportunities: GET one");

    /* Notes. */
    snprintf(path, sizeof(path), "/v1/opportunities/%s/notes?perform_as=%s", opp1, dolores);
    post_json(&r, path, access, "{\"secret\":false}");
    is_int(r.status, 400, "notes: value is required");
    post_json(&r, path, access, "{\"value\":\"Sourced via Stakha\\nSummary: engines\"}");
    is_int(r.status, 201, "notes: create is 201");
    ok(data_str(&r, "noteId") != NULL, "notes: noteId");
    snprintf(path, sizeof(path), "/v1/opportunities/%s/notes", opp1);
    get(&r, path, access);
    is_int(data_len(&r), 1, "notes: listed");
    json_t *note = json_array_get(json_object_get(r.json, "data"), 0);
    is_str(json_string_value(
               json_object_get(json_array_get(json_object_get(note, "fields"), 0), "value")),
           "Sourced via Stakha\nSummary: engines", "notes: fields[0].value");
    is_str(json_string_value(json_object_get(note, "user")), dolores, "notes: user is perform_as");
    post_json(&r, "/v1/opportunities/nope/notes", access, "{\"value\":\"x\"}");
    is_int(r.status, 404, "notes: unknown opportunity is 404");
    json_t *notes = fake_lever_notes(F, opp1);
    is_int(json_array_size(notes), 1, "notes: fake_lever_notes");
    json_decref(notes);
    json_t *opps = fake_lever_opportunities(F);
    is_int(json_array_size(opps), count + 3, "inspection: fake_lever_opportunities");
    is_str(json_string_value(
               json_array_get(json_object_get(json_array_get(opps, (size_t)count), "postings"), 0)),
           "p-pub-1", "inspection: opportunities carry their postings");
    json_decref(opps);

    get(&r, "/v1/stages", access);
    bool found = false;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r.json, "data"), i, s)
    {
        found = found || (strcmp(json_string_value(json_object_get(s, "id")), "lead-new") == 0 &&
                          strcmp(json_string_value(json_object_get(s, "text")), "New lead") == 0);
    }
    ok(found, "stages: lead-new is New lead");
    free(opp1);
    free(contact);
    resp_clear(&r);
}

static void test_faults(const char *access)
{
    struct resp r = {0};
    const char *dolores =
        fake_lever_add_user(F, "acct_1", "Svc", "svc@stakha.io", "team member", false);
    char base[256];
    snprintf(base, sizeof(base), "/v1/opportunities?perform_as=%s", dolores);
    const char *body = "{\"name\":\"Grace\",\"emails\":[\"grace@example.com\"]}";

    int count = fake_lever_opportunity_count(F);
    fake_lever_push_response(F, "POST", "/v1/opportunities$", 503,
                             "{\"code\":\"ServiceUnavailable\",\"message\":\"maintenance\"}", 7);
    post_json(&r, base, access, body);
    is_int(r.status, 503, "push_response: the canned status");
    is_str(r.retry_after, "7", "push_response: Retry-After");
    is_str(body_str(&r, "code"), "ServiceUnavailable", "push_response: the canned body");
    is_int(fake_lever_opportunity_count(F), count, "push_response: no work was done");
    post_json(&r, base, access, body);
    is_int(r.status, 201, "push_response: only once");

    fake_lever_set_fault_rate(F, "POST", "/v1/opportunities$", 1000, 0);
    count = fake_lever_opportunity_count(F);
    post_json(&r, base, access, body);
    is_int(r.status, 500, "fault rate: 5xx");
    is_int(fake_lever_opportunity_count(F), count, "fault rate: a 5xx does no work");
    get(&r, "/v1/opportunities", access);
    is_int(r.status, 200, "fault rate: other methods are unaffected");

    fake_lever_set_fault_rate(F, "POST", "/v1/opportunities$", 0, 1000);
    post_json(&r, base, access, body);
    ok(r.rc == CURLE_GOT_NOTHING, "drop: no answer at all (curl: %s)", curl_easy_strerror(r.rc));
    is_int(fake_lever_opportunity_count(F), count + 1, "drop: but the opportunity was created");
    json_t *log = fake_lever_requests(F);
    json_t *last = json_array_get(log, json_array_size(log) - 1);
    ok(json_is_true(json_object_get(last, "dropped")), "drop: recorded as dropped");
    json_decref(log);

    /* Seeded dice replay. */
    fake_lever_set_fault_rate(F, "GET", "/v1/stages", 500, 0);
    char first[32] = "", second[32] = "";
    for (int round = 0; round < 2; round++) {
        fake_lever_seed(F, 42);
        char *pattern = round ? second : first;
        for (int i = 0; i < 20; i++) {
            get(&r, "/v1/stages", access);
            pattern[i] = r.status == 500 ? 'F' : '.';
        }
    }
    is_str(second, first, "seed: the same seed replays the same faults (%s)", first);
    ok(strchr(first, 'F') && strchr(first, '.'), "seed: 500 permille fails some, not all");
    fake_lever_set_fault_rate(F, "GET", "/v1/stages", 0, 0);
    fake_lever_set_fault_rate(F, "POST", "/v1/opportunities$", 0, 0);
    get(&r, "/v1/stages", access);
    is_int(r.status, 200, "fault rate: 0 and 0 removes the rule");

    fake_lever_push_response(F, NULL, "/oauth/token", 500, NULL, 0);
    post_form(&r, "/oauth/token", "grant_type=refresh_token");
    is_int(r.status, 500, "push_response: works on the OAuth server too");

    fake_lever_set_latency_ms(F, 200);
    int64_t t0 = sl_mono_ns();
    get(&r, "/v1/stages", access);
    int64_t ms = (sl_mono_ns() - t0) / 1000000;
    fake_lever_set_latency_ms(F, 0);
    ok(ms >= 200, "latency: the answer took %lld ms", (long long)ms);
    resp_clear(&r);
}

static void test_recording(const char *access)
{
    struct resp r = {0};
    fake_lever_reset_log(F);
    is_int(fake_lever_count(F, NULL, "/"), 0, "recording: reset_log empties the log");
    const char *u = fake_lever_add_user(F, "acct_1", "Rec", "rec@stakha.io", "team member", false);
    char path[256];
    snprintf(path, sizeof(path), "/v1/opportunities?perform_as=%s&parse=false", u);
    post_json(&r, path, access, "{\"name\":\"Rec\"}");
    get(&r, "/v1/postings?state=published&state=internal", access);
    json_t *log = fake_lever_requests(F);
    is_int(json_array_size(log), 2, "recording: two requests");
    json_t *e = json_array_get(log, 0);
    is_str(json_string_value(json_object_get(e, "method")), "POST", "recording: method");
    is_str(json_string_value(json_object_get(e, "path")), "/v1/opportunities", "recording: path");
    is_str(json_string_value(
               json_array_get(json_object_get(json_object_get(e, "query"), "perform_as"), 0)),
           u, "recording: parsed query");
    ok(strstr(json_string_value(json_object_get(e, "query_string")), "parse=false") != NULL,
       "recording: raw query string");
    ok(strncmp(json_string_value(json_object_get(e, "auth")), "Bearer ", 7) == 0,
       "recording: Authorization header");
    is_str(json_string_value(json_object_get(e, "content_type")), "application/json",
           "recording: content type");
    is_str(json_string_value(json_object_get(e, "body")), "{\"name\":\"Rec\"}", "recording: body");
    is_int(json_integer_value(json_object_get(e, "status")), 201, "recording: status");
    is_str(json_string_value(json_object_get(e, "account")), "acct_1", "recording: account");
    e = json_array_get(log, 1);
    is_int(json_array_size(json_object_get(json_object_get(e, "query"), "state")), 2,
           "recording: repeated parameters are kept");
    json_decref(log);
    is_int(fake_lever_count(F, "POST", "/v1/opportunities$"), 1, "count: exact path with $");
    is_int(fake_lever_count(F, "GET", "/v1/"), 1, "count: by method and prefix");
    post_json(&r, "/v1/opportunities/x/notes", access, "{\"value\":\"v\"}");
    is_int(fake_lever_count(F, "POST", "/v1/opportunities/*/notes"), 1, "count: * is one segment");
    is_int(fake_lever_count(F, "*", "/v1/opportunities"), 2, "count: a prefix covers sub-paths");
    resp_clear(&r);
}

static void test_interactive(void)
{
    struct resp r = {0};
    fake_lever_set_interactive(F, true);
    char *path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    free(path);
    is_int(r.status, 200, "interactive: a consent page");
    ok(r.body.data && strstr(r.body.data, "Stakha wants to access your Lever account"),
       "interactive: the consent heading");
    ok(r.body.data && strstr(r.body.data, "postings:read:admin"), "interactive: scopes listed");
    ok(strstr(r.csp, "default-src 'none'") &&
           strstr(r.csp, "form-action 'self' http://127.0.0.1:9"),
       "interactive: a strict CSP that lets the form follow the redirect (%s)", r.csp);
    const char *marker = r.body.data ? strstr(r.body.data, "name=\"request\" value=\"") : NULL;
    char request[128] = "";
    if (marker) {
        marker += strlen("name=\"request\" value=\"");
        size_t n = strcspn(marker, "\"");
        snprintf(request, sizeof(request), "%.*s", (int)n, marker);
    }
    char form[256];
    snprintf(form, sizeof(form), "request=%s&decision=approve", request);
    post_form(&r, "/authorize/decision", form);
    is_int(r.status, 302, "interactive: Approve redirects");
    ok(strlen(query_param(r.location, "code")) > 0, "interactive: with a code");
    is_str(query_param(r.location, "state"), "st4te", "interactive: and the state");
    post_form(&r, "/authorize/decision", form);
    is_int(r.status, 400, "interactive: a decision is single-use");

    path = authorize_path(NULL, NULL, NULL);
    get(&r, path, NULL);
    free(path);
    marker = r.body.data ? strstr(r.body.data, "name=\"request\" value=\"") : NULL;
    if (marker) {
        marker += strlen("name=\"request\" value=\"");
        snprintf(request, sizeof(request), "%.*s", (int)strcspn(marker, "\""), marker);
    }
    snprintf(form, sizeof(form), "request=%s&decision=deny", request);
    post_form(&r, "/authorize/decision", form);
    is_str(query_param(r.location, "error"), "access_denied",
           "interactive: Deny says access_denied");

    path = authorize_path("state", NULL, NULL);
    get(&r, path, NULL);
    free(path);
    is_int(r.status, 400, "interactive: errors are 400 too");
    ok(r.body.data && strstr(r.body.data, "<html"), "interactive: as an HTML page");
    get(&r, "/", NULL);
    ok(r.status == 200 && strstr(r.body.data, "Lever simulator"), "interactive: an index page");
    fake_lever_set_interactive(F, false);
    resp_clear(&r);
}

int main(void)
{
    plan_lazy();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F = fake_lever_start();
    if (!F)
        BAIL_OUT("the fake Lever did not start");
    ok(strncmp(fake_lever_base_url(F), "http://127.0.0.1:", 17) == 0, "started on %s",
       fake_lever_base_url(F));
    fake_lever_add_client(F, CLIENT_ID, CLIENT_SECRET, REDIRECT);
    fake_lever_set_rate_limit(F, 0, 0); /* the rate limiter has its own test */

    test_authorize();
    test_token_exchange();
    test_refresh_rotation();
    test_revoke_and_expiry();

    char *access = NULL;
    fake_lever_mint_token(F, "acct_1", &access, NULL);
    test_postings(access);
    test_users(access);
    test_opportunities(access);
    test_faults(access);
    test_recording(access);
    test_interactive();
    test_rate_limit();
    free(access);

    fake_lever_stop(F);
    fake_lever_stop(NULL);
    ok(fake_lever_start_at("not-an-address") == NULL, "start_at refuses a malformed address");
    curl_global_cleanup();
    return done_testing();
}
