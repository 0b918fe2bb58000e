/*
 * oauth.c: authenticate on Lever (SPEC 3 connect, SPEC 4 pages).
 *
 *   POST /api/v1/teams/{team_id}/lever/connect   -> 201 {authorize_url, expires_at}
 *   GET  /oauth/lever/callback?code=&state=       -> an HTML page
 *
 * The state: 32 random bytes (base64url, 43 characters), followed by "."
 * and the team id. Only the SHA-256 of the random part is stored
 * (oauth_states), with the team, the return_url and a 10-minute expiry, so a
 * database dump holds no usable state. The callback consumes it with one
 * UPDATE ... WHERE used_at IS NULL AND expires_at > now() RETURNING, which
 * two racing callbacks cannot both win; a state whose stored team is not the
 * one it names is refused (and burnt). Nothing is stored for a failure.
 *
 * The callback then talks to Lever (code exchange, service user), which may
 * take up to 30 s a request: it defers the request to a thread of its own,
 * so that no HTTP server thread (which also serves other connections) waits
 * on Lever. That thread gives the database connection and Lever client back
 * to their pools before it answers, so nothing it holds outlives the
 * request once the server has drained.
 *
 * The connection becomes `active` only once the tokens are exchanged AND the
 * service user is found, reactivated or created; it is then written in one
 * transaction that also resumes the team's parked deliveries (set back to
 * `pending`, due now), and the status change NOTIFYs sl_connections.
 *
 * Re-authentication against a DIFFERENT Lever account (the access token's
 * accountId claim differs from the stored one): the team's job syncs point
 * at postings of the old account, which the new account does not have, so
 * in that same transaction the team's job_syncs are deleted and every
 * undelivered delivery (pending, retrying, running, parked, dead) is
 * cancelled; delivered ones stay as history. It is logged (warn,
 * lever_account_changed) and the confirmation page says that the jobs must
 * be synchronized again from Stakha. Stored applications are kept, so a new
 * sync PUT pushes them to the new account's posting.
 *
 * Pages: every value shown is HTML-escaped; each page carries
 * Cache-Control: no-store, Referrer-Policy: no-referrer (the callback URL
 * holds the code), X-Frame-Options: DENY, X-Content-Type-Options: nosniff
 * and a Content-Security-Policy that allows nothing but the page's own
 * stylesheet, by hash.
 *
 * Threads: handlers on HTTP server threads; finish_callback on a detached
 * thread per callback.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "common.h"
#include "crypto.h"
#include "handlers.h"
#include "lever.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

#define STATE_BYTES 32
#define STATE_NONCE_LEN 43 /* base64url of 32 bytes, unpadded */
#define MAX_RETURN_URL 2048

/* ---- pages ---- */

static const char STYLE[] =
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;"
    "color:#1d2330;line-height:1.5}h1{font-size:1.6rem}.note{background:#fff6e0;"
    "padding:.75rem 1rem;border-radius:6px}a.back{display:inline-block;margin-top:1rem}";

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[256];

static void make_csp(void)
{
    unsigned char digest[SL_SHA256_LEN];
    sl_crypto_sha256(STYLE, strlen(STYLE), digest);
    char *b64 = sl_base64_encode(digest, sizeof(digest));
    snprintf(csp, sizeof(csp),
             "default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'",
             b64);
    free(b64);
}

static void escape_html(struct sl_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            sl_buf_puts(b, "&amp;");
            break;
        case '<':
            sl_buf_puts(b, "&lt;");
            break;
        case '>':
            sl_buf_puts(b, "&gt;");
            break;
        case '"':
            sl_buf_puts(b, "&quot;");
            break;
        case '\'':
            sl_buf_puts(b, "&#39;");
            break;
        default:
            sl_buf_append(b, s, 1);
        }
    }
}

struct page {
    struct sl_buf html;
};

static void page_begin(struct page *p, const char *title)
{
    sl_buf_init(&p->html);
    sl_buf_puts(&p->html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    escape_html(&p->html, title);
    sl_buf_puts(&p->html, " - Stakha for Lever</title><style>");
    sl_buf_puts(&p->html, STYLE);
    sl_buf_puts(&p->html, "</style></head><body><h1>");
    escape_html(&p->html, title);
    sl_buf_puts(&p->html, "</h1>\n");
}

/* A paragraph: `before`, then `value` in bold when not NULL, then `after`,
 * all escaped. */
static void para(struct page *p, const char *cls, const char *before, const char *value,
                 const char *after)
{
    sl_buf_puts(&p->html, cls ? "<p class=\"note\">" : "<p>");
    escape_html(&p->html, before);
    if (value) {
        sl_buf_puts(&p->html, "<strong>");
        escape_html(&p->html, value);
        sl_buf_puts(&p->html, "</strong>");
    }
    escape_html(&p->html, after);
    sl_buf_puts(&p->html, "</p>\n");
}

static void send_page(struct sl_req *req, int status, struct page *p, const char *return_url)
{
    if (return_url) {
        sl_buf_puts(&p->html, "<p><a class=\"back\" href=\"");
        escape_html(&p->html, return_url);
        sl_buf_puts(&p->html, "\">Back to Stakha</a></p>\n");
    }
    sl_buf_puts(&p->html, "</body></html>\n");
    pthread_once(&csp_once, make_csp);
    sl_reply_header(req, "Cache-Control", "no-store");
    sl_reply_header(req, "Referrer-Policy", "no-referrer");
    sl_reply_header(req, "X-Frame-Options", "DENY");
    sl_reply_header(req, "X-Content-Type-Options", "nosniff");
    sl_reply_header(req, "Content-Security-Policy", csp);
    sl_reply_html(req, status, sl_buf_take(&p->html));
}

/* A failure page: a title and one explanation. */
static void fail_page(struct sl_req *req, int status, const char *title, const char *text,
                      const char *return_url)
{
    struct page p;
    page_begin(&p, title);
    para(&p, NULL, text, NULL, "");
    send_page(req, status, &p, return_url);
}

static void start_again(struct sl_req *req, int status, const char *title, const char *why,
                        const char *return_url)
{
    struct page p;
    page_begin(&p, title);
    para(&p, NULL, why, NULL, "");
    para(&p, NULL, "Nothing was changed. Start again from Stakha with Authenticate on Lever.", NULL,
         "");
    send_page(req, status, &p, return_url);
}

/* ---- return_url ---- */

struct origin {
    char scheme[8];
    char host[256];
    long port;
};

/* Parses "scheme://host[:port]" at the start of `url`; the rest must be
 * empty or start with '/', '?' or '#'. No user info, only http(s). */
static bool parse_origin(const char *url, struct origin *o)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url || (size_t)(sep - url) >= sizeof(o->scheme))
        return false;
    memcpy(o->scheme, url, (size_t)(sep - url));
    o->scheme[sep - url] = '\0';
    if (strcasecmp(o->scheme, "http") != 0 && strcasecmp(o->scheme, "https") != 0)
        return false;
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0 || alen >= sizeof(o->host) || memchr(auth, '@', alen) || memchr(auth, '\\', alen))
        return false;
    char authority[256];
    memcpy(authority, auth, alen);
    authority[alen] = '\0';
    char *colon = strrchr(authority, ':');
    o->port = strcasecmp(o->scheme, "https") == 0 ? 443 : 80;
    if (colon && !strchr(colon, ']')) {
        if (!sl_parse_long(colon + 1, 1, 65535, &o->port))
            return false;
        *colon = '\0';
    }
    if (!authority[0])
        return false;
    sl_strlcpy(o->host, authority, sizeof(o->host));
    return true;
}

/* SPEC 9: exactly the scheme, host and port of SL_STAKHA_APP_URL. */
static bool return_url_ok(const char *app_url, const char *url)
{
    if (strlen(url) > MAX_RETURN_URL)
        return false;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7f)
            return false;
    struct origin want, got;
    return parse_origin(app_url, &want) && parse_origin(url, &got) &&
           strcasecmp(want.scheme, got.scheme) == 0 && strcasecmp(want.host, got.host) == 0 &&
           want.port == got.port;
}

static bool lever_configured(struct sl_req *req, bool html)
{
    struct sl_app *app = sl_req_app(req);
    if (app->cfg->lever_client_id && app->cfg->lever_client_secret && app->keyring)
        return true;
    static const char msg[] = "This service has no Lever OAuth credentials: its operator must "
                              "set SL_LEVER_CLIENT_ID and SL_LEVER_CLIENT_SECRET.";
    if (html)
        fail_page(req, 503, "Lever is not configured", msg, NULL);
    else
        sl_reply_error(req, 503, "lever_not_configured", "%s", msg);
    return false;
}

/* ---- POST /api/v1/teams/{team_id}/lever/connect ---- */

void sl_handle_lever_connect(struct sl_req *req)
{
    struct sl_app *app = sl_req_app(req);
    const char *team;
    json_t *body = NULL;
    struct sl_db *db = NULL;
    struct sl_db_res *res = NULL;
    char *nonce = NULL, *url = NULL;
    if (!sl_h_id(req, "team_id", &team) || !lever_configured(req, false) ||
        !sl_h_json_body(req, true, &body))
        goto out;
    json_t *ret = json_object_get(body, "return_url");
    const char *return_url = NULL;
    if (ret && !json_is_null(ret)) {
        return_url = json_string_value(ret);
        if (!return_url) {
            sl_reply_error(req, 422, "invalid_request", "return_url must be a string");
            goto out;
        }
        if (!return_url_ok(app->cfg->stakha_app_url, return_url)) {
            sl_reply_error(req, 422, "invalid_return_url",
                           "return_url must be a URL with exactly the scheme, host and port of "
                           "%s",
                           app->cfg->stakha_app_url);
            goto out;
        }
    }

    unsigned char random[STATE_BYTES];
    struct sl_err err = {0};
    if (sl_crypto_random(random, sizeof(random), &err)) {
        sl_h_fail(req, &err);
        goto out;
    }
    nonce = sl_base64url_encode(random, sizeof(random));
    char hash[2 * SL_SHA256_LEN + 1];
    sl_crypto_sha256_hex(nonce, strlen(nonce), hash);
    if (!sl_h_db(req, &db))
        goto out;
    const char *params[] = {hash, team, return_url};
    /* Expired states are kept a day for the "expired" page, then dropped. */
    enum sl_rc rc = sl_db_exec(db,
                               "DELETE FROM oauth_states WHERE expires_at < now() - "
                               "interval '1 day'",
                               0, NULL, NULL, &err);
    if (!rc)
        rc = sl_db_exec(db,
                        "INSERT INTO oauth_states (state_hash, team_id, return_url, expires_at)"
                        " VALUES ($1, $2, $3, now() + interval '10 minutes')"
                        " RETURNING sl_rfc3339(expires_at)",
                        3, params, &res, &err);
    if (rc) {
        sl_h_fail(req, &err);
        goto out;
    }
    char state[STATE_NONCE_LEN + 1 + 65];
    snprintf(state, sizeof(state), "%s.%s", nonce, team);
    url = sl_lever_authorize_url(app->cfg, state);
    sl_reply_json(
        req, 201,
        json_pack("{s:s,s:s}", "authorize_url", url, "expires_at", sl_db_res_get(res, 0, 0)));
out:
    sl_db_res_free(res);
    sl_h_db_release(req, db);
    json_decref(body);
    free(nonce);
    free(url);
}

/* ---- GET /oauth/lever/callback ---- */

struct callback {
    struct sl_req *req;
    struct sl_app *app;
    char team[65];
    char *return_url; /* NULL: none given */
    char *code;
};

struct service_user {
    char *id;
    char *name;
    const char *how; /* "found", "reactivated", "created" */
};

static bool lever_id_ok(const char *id)
{
    if (!id || !*id || strlen(id) > 128)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    return true;
}

static enum sl_rc take_user(const json_t *u, const char *how, struct service_user *out,
                            struct sl_err *err)
{
    const char *id = json_string_value(json_object_get(u, "id"));
    const char *name = json_string_value(json_object_get(u, "name"));
    if (!lever_id_ok(id))
        return sl_err_set(err, SL_ERR_UPSTREAM, "Lever's user has no usable id");
    out->id = sl_xstrdup(id);
    out->name = sl_xstrdup(name ? name : "");
    out->how = how;
    return SL_OK;
}

/* SPEC 9 Dolores: found by email (case-insensitive, deactivated ones too),
 * reactivated when deactivated, created as a team member when absent. */
static enum sl_rc ensure_service_user(struct sl_lever *lv, const struct sl_config *cfg,
                                      const char *access, struct service_user *out,
                                      struct sl_err *err)
{
    const char *email = cfg->service_user_email;
    const char *q[] = {"email", email, "includeDeactivated", "true", NULL};
    json_t *users = NULL, *body = NULL;
    struct sl_lever_resp resp = {0};
    enum sl_rc rc = sl_lever_list(lv, access, "/users", q, &users, &resp, err);
    if (rc)
        goto out;
    json_t *found = NULL;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u)
    {
        const char *e = json_string_value(json_object_get(u, "email"));
        if (e && strcasecmp(e, email) == 0) {
            /* Prefer an active one if Lever somehow holds two. */
            if (!found || json_is_null(json_object_get(u, "deactivatedAt")))
                found = u;
        }
    }
    if (found) {
        json_t *deactivated = json_object_get(found, "deactivatedAt");
        if (!deactivated || json_is_null(deactivated)) {
            rc = take_user(found, "found", out, err);
            goto out;
        }
        const char *id = json_string_value(json_object_get(found, "id"));
        if (!lever_id_ok(id)) {
            rc = sl_err_set(err, SL_ERR_UPSTREAM, "Lever's user has no usable id");
            goto out;
        }
        char path[200];
        snprintf(path, sizeof(path), "/users/%s/reactivate", id);
        sl_lever_resp_cleanup(&resp);
        rc = sl_lever_call(lv, "POST", access, path, NULL, NULL, &resp, err);
        if (rc)
            goto out;
        if (resp.status < 200 || resp.status >= 300) {
            rc = sl_err_set(err, SL_ERR_UPSTREAM,
                            "reactivating the service user: Lever "
                            "answered %ld %s",
                            resp.status, resp.error_message);
            goto out;
        }
        rc = take_user(json_is_object(resp.data) ? resp.data : found, "reactivated", out, err);
        goto out;
    }
    body = json_pack("{s:s,s:s,s:s}", "name", cfg->service_user_name, "email", email, "accessRole",
                     "team member");
    sl_lever_resp_cleanup(&resp);
    rc = sl_lever_call(lv, "POST", access, "/users", NULL, body, &resp, err);
    if (rc)
        goto out;
    if (resp.status < 200 || resp.status >= 300 || !json_is_object(resp.data)) {
        rc = sl_err_set(err, SL_ERR_UPSTREAM, "creating the service user: Lever answered %ld %s",
                        resp.status, resp.error_message);
        goto out;
    }
    rc = take_user(resp.data, "created", out, err);
out:
    json_decref(users);
    json_decref(body);
    sl_lever_resp_cleanup(&resp);
    return rc;
}

struct stored {
    bool account_changed;
    long syncs_removed;
    long deliveries_cancelled;
    long deliveries_resumed;
};

/* Writes the connection, active, in one transaction with what a
 * re-authentication does to the team's work (see the top of this file). */
static enum sl_rc store_connection(struct sl_db *db, const struct sl_keyring *keys,
                                   const char *team, const struct sl_lever_tokens *tok,
                                   const struct service_user *user, struct stored *out,
                                   struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    char ad_access[96], ad_refresh[96], expires[32];
    snprintf(ad_access, sizeof(ad_access), "%s:access", team);
    snprintf(ad_refresh, sizeof(ad_refresh), "%s:refresh", team);
    snprintf(expires, sizeof(expires), "%ld", tok->expires_in);
    char *access_enc = NULL, *refresh_enc = NULL, *old_account = NULL;
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_crypto_seal(keys, tok->access_token, ad_access, &access_enc, err);
    if (!rc)
        rc = sl_crypto_seal(keys, tok->refresh_token, ad_refresh, &refresh_enc, err);
    if (rc)
        goto out;
    const char *team_p[] = {team};
    rc = sl_db_exec(db, "BEGIN", 0, NULL, NULL, err);
    if (!rc)
        rc = sl_db_exec(db,
                        "SELECT lever_account_id FROM lever_connections WHERE team_id = $1"
                        " FOR UPDATE",
                        1, team_p, &res, err);
    if (rc)
        goto out;
    if (sl_db_res_rows(res) && sl_db_res_get(res, 0, 0))
        old_account = sl_xstrdup(sl_db_res_get(res, 0, 0));
    sl_db_res_free(res);
    res = NULL;
    out->account_changed =
        old_account && tok->account_id && strcmp(old_account, tok->account_id) != 0;
    if (out->account_changed) {
        rc = sl_db_exec(db, "DELETE FROM job_syncs WHERE team_id = $1", 1, team_p, &res, err);
        out->syncs_removed = sl_db_res_affected(res);
        sl_db_res_free(res);
        res = NULL;
        if (!rc)
            rc = sl_db_exec(db,
                            "UPDATE deliveries SET state = 'cancelled', lease_owner = NULL,"
                            " lease_expires_at = NULL, updated_at = now()"
                            " WHERE team_id = $1 AND state NOT IN ('delivered', 'cancelled')",
                            1, team_p, &res, err);
        out->deliveries_cancelled = sl_db_res_affected(res);
    } else {
        rc = sl_db_exec(db,
                        "UPDATE deliveries SET state = 'pending', next_attempt_at = now(),"
                        " updated_at = now() WHERE team_id = $1 AND state = 'parked'",
                        1, team_p, &res, err);
        out->deliveries_resumed = sl_db_res_affected(res);
    }
    sl_db_res_free(res);
    res = NULL;
    if (rc)
        goto out;
    const char *params[] = {team,       tok->account_id, tok->user_id, user->id, user->name,
                            tok->scope, access_enc,      refresh_enc,  expires};
    rc = sl_db_exec(
        db,
        "INSERT INTO lever_connections AS c (team_id, status, lever_account_id,"
        " authorizing_user_id, service_user_id, service_user_name, scopes, access_token_enc,"
        " refresh_token_enc, access_expires_at, connected_at, refreshed_at, revoked_at,"
        " last_error, updated_at)"
        " VALUES ($1, 'active', $2, $3, $4, $5,"
        " array_remove(string_to_array(COALESCE($6::text, ''), ' '), ''), $7, $8,"
        " clock_timestamp() + make_interval(secs => $9::double precision), now(), now(), NULL,"
        " NULL, now())"
        " ON CONFLICT (team_id) DO UPDATE SET status = 'active',"
        " lever_account_id = EXCLUDED.lever_account_id,"
        " authorizing_user_id = EXCLUDED.authorizing_user_id,"
        " service_user_id = EXCLUDED.service_user_id,"
        " service_user_name = EXCLUDED.service_user_name, scopes = EXCLUDED.scopes,"
        " access_token_enc = EXCLUDED.access_token_enc,"
        " refresh_token_enc = EXCLUDED.refresh_token_enc,"
        " access_expires_at = EXCLUDED.access_expires_at, connected_at = now(),"
        " refreshed_at = now(), revoked_at = NULL, last_error = NULL, updated_at = now()",
        9, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, err);
    if (!rc && out->account_changed)
        sl_log_fields(SL_LOG_WARN, "lever_account_changed",
                      json_pack("{s:s,s:s,s:s,s:I,s:I}", "team_id", team, "old_lever_account_id",
                                old_account, "lever_account_id", tok->account_id, "syncs_removed",
                                (json_int_t)out->syncs_removed, "deliveries_cancelled",
                                (json_int_t)out->deliveries_cancelled));
out:
    if (rc) {
        enum sl_rc rb = sl_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL);
        (void)rb;
    }
    sl_db_res_free(res);
    free(access_enc);
    free(refresh_enc);
    free(old_account);
    return rc;
}

static void success_page(struct callback *cb, const struct service_user *user,
                         const struct stored *st)
{
    struct page p;
    page_begin(&p, "Your activation is ready");
    para(&p, NULL,
         "Stakha is now connected to your Lever account. Candidates from Stakha will "
         "be added to Lever by the Lever user ",
         user->name[0] ? user->name : cb->app->cfg->service_user_name, ".");
    para(&p, NULL,
         "Jobs are synchronized one by one from Stakha: open a job in Stakha and choose the "
         "Lever posting it goes to. From then on its applications are pushed to that posting "
         "as New lead.",
         NULL, "");
    if (st->account_changed) {
        char text[300];
        snprintf(text, sizeof(text),
                 "This team was connected to another Lever account before. Its %ld job "
                 "synchronization(s) pointed at that account's postings and were removed, with "
                 "the candidates not yet sent. Synchronize those jobs again from Stakha.",
                 st->syncs_removed);
        para(&p, "note", text, NULL, "");
    } else if (st->deliveries_resumed > 0) {
        char text[200];
        snprintf(text, sizeof(text),
                 "%ld candidate(s) waiting while the connection was interrupted will now be sent.",
                 st->deliveries_resumed);
        para(&p, NULL, text, NULL, "");
    }
    send_page(cb->req, 200, &p, cb->return_url);
}

/* The slow part, on its own thread: exchange, service user, store, answer. */
static void *finish_callback(void *arg)
{
    struct callback *cb = arg;
    struct sl_app *app = cb->app;
    struct sl_req *req = cb->req;
    struct sl_err err = {0};
    struct sl_lever_tokens tok = {0};
    struct sl_lever_resp resp = {0};
    struct service_user user = {0};
    struct stored st = {0};
    struct sl_db *db = NULL;
    sl_log_set_request_id(sl_req_id(req));

    struct sl_lever *lv = sl_lever_pool_acquire(app->lever);
    enum sl_rc rc = sl_lever_exchange_code(lv, cb->code, &tok, &resp, &err);
    if (!rc && !tok.refresh_token)
        rc = sl_err_set(&err, SL_ERR_UPSTREAM,
                        "Lever issued no refresh token (offline_access "
                        "not granted)");
    bool exchanged = rc == SL_OK;
    if (exchanged) {
        rc = sl_db_pool_acquire(app->pool, 5000, &db, &err);
        if (!rc) {
            /* Finding or creating Dolores uses the account's shared bucket too (SPEC 7). */
            struct sl_ratelimit_borrowed gate = {
                .db = db, .rps = app->cfg->lever_rps, .account = tok.account_id};
            sl_lever_set_gate(lv, sl_ratelimit_db_gate, &gate);
            rc = ensure_service_user(lv, app->cfg, tok.access_token, &user, &err);
            sl_lever_set_gate(lv, NULL, NULL);
        }
        if (rc)
            sl_log(SL_LOG_WARN, "service_user_failed", "team %s: %s", cb->team, err.msg);
    } else {
        sl_log(SL_LOG_WARN, "lever_code_exchange_failed", "team %s: %s", cb->team, err.msg);
    }
    sl_lever_pool_release(app->lever, lv);
    if (!rc) {
        rc = store_connection(db, app->keyring, cb->team, &tok, &user, &st, &err);
        if (rc)
            sl_log(SL_LOG_ERROR, "lever_connection_store_failed", "team %s: %s", cb->team, err.msg);
    }
    sl_db_pool_release(app->pool, db);

    if (rc == SL_OK) {
        sl_log_fields(SL_LOG_INFO, "lever_connected",
                      json_pack("{s:s,s:s?,s:s,s:s,s:I}", "team_id", cb->team, "lever_account_id",
                                tok.account_id, "service_user_id", user.id, "service_user",
                                user.how, "deliveries_resumed", (json_int_t)st.deliveries_resumed));
        success_page(cb, &user, &st);
    } else if (!exchanged && rc == SL_ERR_AUTH) {
        start_again(req, 400, "Lever refused the authorization",
                    "Lever did not accept the authorization code (it may have expired or been "
                    "used already).",
                    cb->return_url);
    } else if (!exchanged && rc == SL_ERR_CONFIG) {
        fail_page(req, 503, "Lever is not configured", err.msg, cb->return_url);
    } else if (!exchanged && resp.status >= 200 && resp.status < 300) {
        start_again(req, 502, "Lever did not grant offline access",
                    "Lever authorized Stakha without a refresh token, so the connection would "
                    "stop working within the hour.",
                    cb->return_url);
    } else if (!exchanged) {
        start_again(req, resp.status ? 502 : 504, "Lever could not be reached",
                    "Lever's authorization server did not answer properly. Please try again in "
                    "a few minutes.",
                    cb->return_url);
    } else if (!user.id && rc != SL_ERR_DB) {
        struct page p;
        page_begin(&p, "The Lever service user could not be set up");
        para(&p, NULL, "Stakha adds candidates to Lever as the user ", app->cfg->service_user_name,
             "");
        para(&p, NULL, "", app->cfg->service_user_email,
             " could not be found, reactivated or created in your Lever account, so the "
             "connection was not activated. Check that the account allows Stakha to manage "
             "users, then start again from Stakha.");
        send_page(req, 502, &p, cb->return_url);
    } else {
        fail_page(req, 503, "The connection could not be saved",
                  "Stakha could not save the connection right now. Please try again in a few "
                  "minutes.",
                  cb->return_url);
    }
    sl_log_set_request_id(NULL);
    sl_lever_tokens_cleanup(&tok);
    sl_lever_resp_cleanup(&resp);
    free(user.id);
    free(user.name);
    free(cb->return_url);
    free(cb->code);
    free(cb);
    sl_req_resume(req); /* last: the request is the server's again */
    return NULL;
}

/* Consumes `state`; on success fills cb->team and cb->return_url. Answers
 * the page itself and returns false on any failure. */
static bool consume_state(struct sl_req *req, struct sl_db *db, const char *state,
                          struct callback *cb)
{
    const char *dot = state ? strchr(state, '.') : NULL;
    if (!dot || dot - state != STATE_NONCE_LEN || !sl_valid_id(dot + 1)) {
        start_again(req, 400, "This sign-in link is not valid",
                    "The authorization came back without a state this service issued.", NULL);
        return false;
    }
    char *nonce = sl_xstrndup(state, STATE_NONCE_LEN);
    char hash[2 * SL_SHA256_LEN + 1];
    sl_crypto_sha256_hex(nonce, strlen(nonce), hash);
    free(nonce);
    const char *params[] = {hash};
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    enum sl_rc rc = sl_db_exec(db,
                               "UPDATE oauth_states SET used_at = now() WHERE state_hash = $1"
                               " AND used_at IS NULL AND expires_at > now()"
                               " RETURNING team_id, return_url",
                               1, params, &res, &err);
    if (rc) {
        sl_log(SL_LOG_WARN, "database_unavailable", "%s", err.msg);
        fail_page(req, 503, "Please try again", "Stakha cannot reach its database right now.",
                  NULL);
        return false;
    }
    bool ok = sl_db_res_rows(res) == 1;
    if (ok) {
        sl_strlcpy(cb->team, sl_db_res_get(res, 0, 0), sizeof(cb->team));
        const char *r = sl_db_res_get(res, 0, 1);
        cb->return_url = r ? sl_xstrdup(r) : NULL;
    }
    sl_db_res_free(res);
    if (ok && strcmp(cb->team, dot + 1) != 0) {
        sl_log(SL_LOG_WARN, "oauth_state_refused", "state of team %s presented for team %s",
               cb->team, dot + 1);
        start_again(req, 400, "This sign-in link belongs to another team",
                    "The authorization was started for a different Stakha team than the one "
                    "this link names.",
                    NULL);
        return false;
    }
    if (ok)
        return true;
    res = NULL;
    rc = sl_db_exec(db,
                    "SELECT used_at IS NOT NULL, expires_at <= now() FROM oauth_states"
                    " WHERE state_hash = $1",
                    1, params, &res, &err);
    bool known = !rc && sl_db_res_rows(res) == 1;
    bool used = known && strcmp(sl_db_res_get(res, 0, 0), "t") == 0;
    sl_db_res_free(res);
    if (!known)
        start_again(req, 400, "This sign-in link is not valid",
                    "The authorization came back with a state this service does not know.", NULL);
    else if (used)
        start_again(req, 409, "This sign-in link was already used",
                    "Each Authenticate on Lever link works once.", NULL);
    else
        start_again(req, 410, "This sign-in link has expired",
                    "Authenticate on Lever links are valid for 10 minutes.", NULL);
    return false;
}

void sl_handle_lever_callback(struct sl_req *req)
{
    struct sl_app *app = sl_req_app(req);
    if (!lever_configured(req, true))
        return;
    const char *state = sl_req_query(req, "state");
    const char *code = sl_req_query(req, "code");
    const char *error = sl_req_query(req, "error");
    struct callback *cb = sl_xcalloc(1, sizeof(*cb));
    struct sl_db *db = NULL;
    struct sl_err err = {0};
    if (sl_db_pool_acquire(app->pool, 2000, &db, &err)) {
        sl_log(SL_LOG_WARN, "database_unavailable", "%s", err.msg);
        fail_page(req, 503, "Please try again", "Stakha cannot reach its database right now.",
                  NULL);
        goto fail;
    }
    bool consumed = consume_state(req, db, state, cb);
    sl_db_pool_release(app->pool, db);
    if (!consumed)
        goto fail;
    if (error) {
        sl_log(SL_LOG_INFO, "lever_authorization_declined", "team %s: %s", cb->team, error);
        if (strcmp(error, "access_denied") == 0) {
            start_again(req, 403, "Authorization declined",
                        "The connection to Lever was not authorized, so Stakha cannot add "
                        "candidates to Lever.",
                        cb->return_url);
        } else {
            struct page p;
            page_begin(&p, "Lever reported an error");
            para(&p, NULL, "Lever answered ", error, ": ");
            para(&p, NULL,
                 sl_req_query(req, "error_description") ? sl_req_query(req, "error_description")
                                                        : "no description",
                 NULL, "");
            para(&p, NULL, "Nothing was changed. Start again from Stakha.", NULL, "");
            send_page(req, 400, &p, cb->return_url);
        }
        goto fail;
    }
    if (!code || !*code) {
        start_again(req, 400, "This sign-in link is not valid",
                    "The authorization came back without a code.", cb->return_url);
        goto fail;
    }
    cb->req = req;
    cb->app = app;
    cb->code = sl_xstrdup(code);
    sl_req_defer(req);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, finish_callback, cb) != 0)
        finish_callback(cb); /* no thread to spare: do it here */
    pthread_attr_destroy(&attr);
    return;
fail:
    free(cb->return_url);
    free(cb);
}
