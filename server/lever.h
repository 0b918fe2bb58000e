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
 * before each request, pages of a listing and retries included.
 *
 * Threads: a client belongs to one thread at a time; the pool and the
 * functions without a client are thread-safe.
 */
#ifndef SL_LEVER_H
#define SL_LEVER_H

#include <jansson.h>
#include <stdbool.h>

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
    bool sent;               /* the request was (possibly) delivered to Lever */
};
void sl_lever_resp_cleanup(struct sl_lever_resp *r);

/* Tokens from the token endpoint. All strings caller-owned (sl_lever_tokens_cleanup). */
struct sl_lever_tokens {
    char *access_token;
    char *refresh_token;
    char *scope;       /* space-separated, as granted */
    long expires_in;   /* seconds */
    char *account_id;  /* JWT claim https://oauth.lever.co/accountId, or NULL */
    char *user_id;     /* JWT claim https://oauth.lever.co/userId, or NULL */
};
void sl_lever_tokens_cleanup(struct sl_lever_tokens *t);

/* Called before every request; a non-OK return aborts the request with it. */
typedef enum sl_rc (*sl_lever_gate_fn)(void *ctx, struct sl_err *err);

/* A client for the settings in `cfg` (borrowed, must outlive it). Caller owns. */
struct sl_lever *sl_lever_create(const struct sl_config *cfg);
void sl_lever_destroy(struct sl_lever *lv);
/* Installs (or with NULL removes) the gate for the following requests. */
void sl_lever_set_gate(struct sl_lever *lv, sl_lever_gate_fn gate, void *ctx);

/* ---- OAuth (SL_LEVER_AUTH_URL/oauth/token, form-encoded) ----
 * SL_OK with tokens on 2xx. Otherwise `resp` (may be NULL) holds the answer:
 * a 4xx (e.g. invalid_grant) returns SL_ERR_AUTH, a 5xx or network failure
 * SL_ERR_UPSTREAM. */
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
 * SL_ERR_UPSTREAM only when no answer came (resp->status == 0). `resp` must
 * be cleaned up by the caller either way. */
enum sl_rc sl_lever_call(struct sl_lever *lv, const char *method, const char *access_token,
                         const char *path, const char *const *query, const json_t *body,
                         struct sl_lever_resp *resp, struct sl_err *err) SL_MUST_USE;

/* GETs every page of a list endpoint (follows `next` while `hasNext`) and
 * returns the concatenated items in *items (caller owns). Any non-2xx page
 * ends it: SL_ERR_AUTH for 401, SL_ERR_UPSTREAM otherwise, with `resp` (may
 * be NULL) holding that page's answer. */
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
 * response_type=code, state, audience, scope, prompt=consent). Caller owns. */
char *sl_lever_authorize_url(const struct sl_config *cfg, const char *state);

/* The scopes requested (SPEC 3 default set). */
extern const char *const SL_LEVER_SCOPES;

#endif
