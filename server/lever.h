/*
 * lever.h: the Lever client (OAuth token endpoint and Data API) on libcurl.
 *
 * One `struct sl_lever` wraps one CURL easy handle and is used by one thread
 * at a time (each worker owns one; HTTP handlers borrow one from a small
 * pool, see sl_lever_pool_*). Every request: connect timeout 5 s, total 30 s,
 * TLS verification on, User-Agent "stakha-lever/<version>", JSON parsed,
 * Lever's {"code","message"} and OAuth's {"error","error_description"}
 * errors read into the response, and method, endpoint, status and duration
 * logged at debug level and counted in the metrics. URL parameters are
 * escaped with curl_easy_escape.
 *
 * Every request to the Data API for a connection must first pass the rate
 * limiter: the caller installs a gate (sl_lever_set_gate) that is called
 * before each request, pages of a listing and retries included. Requests to
 * the OAuth token endpoint (another server, outside Lever's API bucket) are
 * not gated.
 *
 * Non-idempotent requests (POST) always use a fresh connection, so libcurl
 * never re-sends one by itself after a dropped answer; `sent` then tells the
 * caller whether Lever may have acted on it.
 *
 * Threads: a client belongs to one thread at a time; the pool and the
 * functions without a client are thread-safe.
 */
#ifndef SL_LEVER_H
#define SL_LEVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rc.h"

struct sl_lever;

/* What came back. `status` 0 means no HTTP answer (network error, timeout,
 * dropped connection): then `rc` is SL_ERR_UPSTREAM and `sent` tells whether
 * the request may have reached Lever (matters for non-idempotent creates). */
struct sl_lever_resp {
    long status;
    json_t *body;            /* parsed JSON body or NULL; owned, freed by sl_lever_resp_cleanup */
    json_t *data;            /* borrowed from body: body["data"] when present, else body */
    char error_code[64];     /* Lever "code" or OAuth "error", "" if none */
    char error_message[256]; /* Lever "message" or OAuth "error_description" */
    long retry_after_s;      /* Retry-After header in seconds, -1 when absent */
    double seconds;
    bool sent; /* the request was (possibly) delivered to Lever */
};
void sl_lever_resp_cleanup(struct sl_lever_resp *r);

/* Tokens from the token endpoint. All strings caller-owned (sl_lever_tokens_cleanup). */
struct sl_lever_tokens {
    char *access_token;
    char *refresh_token;
    char *scope;      /* space-separated, as granted */
    long expires_in;  /* seconds */
    char *account_id; /* JWT claim https://oauth.lever.co/accountId, or NULL */
    char *user_id;    /* JWT claim https://oauth.lever.co/userId, or NULL */
};
void sl_lever_tokens_cleanup(struct sl_lever_tokens *t);

/* Called before every request; a non-OK return aborts the request with it. */
typedef enum sl_rc (*sl_lever_gate_fn)(void *ctx, struct sl_err *err);

/* libcurl's process-wide set-up and tear-down. Main thread, before any
 * other thread starts / after they all ended. */
void sl_lever_global_init(void);
void sl_lever_global_cleanup(void);

/* A client for the settings in `cfg` (borrowed, must outlive it). Caller owns. */
struct sl_lever *sl_lever_create(const struct sl_config *cfg);
void sl_lever_destroy(struct sl_lever *lv);
/* Installs (or with NULL removes) the gate for the following requests. */
void sl_lever_set_gate(struct sl_lever *lv, sl_lever_gate_fn gate, void *ctx);

/* ---- OAuth (SL_LEVER_AUTH_URL/oauth/token, form-encoded) ----
 * SL_OK with tokens on 2xx (`out` caller-owned; refresh_token NULL when the
 * answer carried none, i.e. Lever did not rotate it). Otherwise `resp` (may
 * be NULL; cleaned up by the caller either way) holds the answer: a 4xx
 * (e.g. invalid_grant) returns SL_ERR_AUTH, a 5xx, a network failure or a
 * 2xx without access token SL_ERR_UPSTREAM, and SL_ERR_CONFIG (no request
 * made) when SL_LEVER_CLIENT_ID or SL_LEVER_CLIENT_SECRET is unset. */
enum sl_rc sl_lever_exchange_code(struct sl_lever *lv, const char *code,
                                  struct sl_lever_tokens *out, struct sl_lever_resp *resp,
                                  struct sl_err *err) SL_MUST_USE;
enum sl_rc sl_lever_refresh(struct sl_lever *lv, const char *refresh_token,
                            struct sl_lever_tokens *out, struct sl_lever_resp *resp,
                            struct sl_err *err) SL_MUST_USE;

/* ---- Data API (SL_LEVER_API_URL + path) ----
 * `path` starts with "/" ("/opportunities"); `query` is a NULL-terminated
 * list of name, value pairs, escaped here ({"perform_as", id, NULL}).
 * Returns SL_OK for any HTTP answer (the caller reads resp->status), and
 * SL_ERR_UPSTREAM only when no answer came (resp->status == 0), or the
 * gate's code when the gate refused (nothing sent). `body` (borrowed) is sent
 * as JSON when not NULL. `resp` must be cleaned up by the caller either way. */
enum sl_rc sl_lever_call(struct sl_lever *lv, const char *method, const char *access_token,
                         const char *path, const char *const *query, const json_t *body,
                         struct sl_lever_resp *resp, struct sl_err *err) SL_MUST_USE;

/* GETs every page of a list endpoint (limit=100 unless `query` sets one;
 * follows `next` while `hasNext`) and returns the concatenated items in
 * *items (caller owns). Any non-2xx page ends it: SL_ERR_AUTH for 401,
 * SL_ERR_UPSTREAM otherwise, with `resp` (may be NULL) holding that page's
 * answer; on success `resp` holds the last page's. A gate refusal returns
 * the gate's code. `resp` must be cleaned up by the caller either way. */
enum sl_rc sl_lever_list(struct sl_lever *lv, const char *access_token, const char *path,
                         const char *const *query, json_t **items, struct sl_lever_resp *resp,
                         struct sl_err *err) SL_MUST_USE;

/* ---- a small pool of clients for HTTP threads ---- */
struct sl_lever_pool;
struct sl_lever_pool *sl_lever_pool_create(const struct sl_config *cfg, int size);
void sl_lever_pool_destroy(struct sl_lever_pool *pool);
/* Borrows a client (waits for one); give it back with release. Any thread. */
struct sl_lever *sl_lever_pool_acquire(struct sl_lever_pool *pool);
void sl_lever_pool_release(struct sl_lever_pool *pool, struct sl_lever *lv);

/* The OAuth authorize URL for `state` (SPEC 3: client_id, redirect_uri,
 * response_type=code, state, audience, scope, prompt=consent), every value
 * percent-encoded by libcurl. Caller owns; NULL when SL_LEVER_CLIENT_ID is
 * unset. Any thread. */
char *sl_lever_authorize_url(const struct sl_config *cfg, const char *state);

/* The scopes requested (SPEC 3 default set). */
extern const char *const SL_LEVER_SCOPES;

/* ---- pure helpers (any thread) ---- */

/* The metrics label of a Data API path: the path with its id segments (the
 * odd ones: /collection/{id}/sub/{id}/action) replaced by "{id}" and the
 * query dropped, e.g. "/opportunities/{id}/notes". Always NUL-terminated. */
void sl_lever_endpoint_label(const char *path, char *out, size_t n);

/* Reads the Lever claims of a JWT access token without verifying it (Lever
 * signs with HS512 and a key only Lever holds; the claims are information,
 * not proof). SL_OK with *account_id and *user_id (each caller-owned, NULL
 * when the claim is absent), or SL_ERR_INVALID when `token` is not a JWT
 * with a JSON object payload (both outputs NULL then). */
enum sl_rc sl_lever_jwt_claims(const char *token, char **account_id, char **user_id) SL_MUST_USE;

#endif
