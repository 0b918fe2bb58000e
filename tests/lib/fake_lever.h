/*
 * fake_lever.h: an in-process fake of Lever's OAuth server and Data API, for the
 * integration tests, and the engine of the standalone Lever simulator (build/lever-sim).
 *
 * It listens on 127.0.0.1 (port 0 by default) with libmicrohttpd. The OAuth server lives at
 * the root (`/authorize`, `/oauth/token`) and the Data API under `/v1`, so the service under
 * test is configured with SL_LEVER_AUTH_URL=<base> and SL_LEVER_API_URL=<base>/v1.
 *
 * It behaves like the real API described in /work/shared/reference/lever-api.md: strict about
 * required parameters, rotating refresh tokens with reuse detection, a token bucket per
 * account, opaque pagination tokens, Lever's posting filter semantics, and it can be told to
 * fail, delay, rate-limit, expire tokens and drop responses.
 *
 * Paths given to the inspection and fault functions are patterns: a plain prefix
 * ("/v1/opportunities" also matches "/v1/opportunities/x/notes"), where `*` stands for one
 * path segment ("/v1/opportunities/ * /notes" without the spaces) and a trailing `$` asks for
 * the whole path ("/v1/opportunities$" is only the collection). A NULL or "*" method matches
 * every method.
 *
 * Threads: every function may be called from any thread; all state sits behind one mutex.
 * Strings passed in are copied. JSON returned is a deep copy the caller owns (json_decref).
 */
#ifndef SL_FAKE_LEVER_H
#define SL_FAKE_LEVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct fake_lever;

/* Starts a fake on 127.0.0.1 with an ephemeral port, account "acct_1" whose super admin is
 * "user_admin", no clients, default limits (10 rps, burst 20, 3600 s tokens). Returns NULL
 * when the daemon cannot start. Caller owns; release with fake_lever_stop(). */
struct fake_lever *fake_lever_start(void);

/* Like fake_lever_start() but listens on `host_port` ("127.0.0.1:8090"; port 0 allowed;
 * "localhost" means 127.0.0.1). Returns NULL on a malformed address or a bind failure. */
struct fake_lever *fake_lever_start_at(const char *host_port);

/* Stops the daemon (waits for in-flight requests) and frees everything. Accepts NULL. */
void fake_lever_stop(struct fake_lever *f);

/* "http://127.0.0.1:PORT", without a trailing slash. Borrowed, valid until fake_lever_stop(). */
const char *fake_lever_base_url(struct fake_lever *f);

/* The port the daemon is bound to. */
uint16_t fake_lever_port(struct fake_lever *f);

/* ---- configuration ------------------------------------------------------------------------ */

/* Registers an OAuth client; `redirect_uri` is the one callback it may use (exact match).
 * Registering an existing client id replaces its secret and callback. */
void fake_lever_add_client(struct fake_lever *f, const char *client_id, const char *client_secret,
                           const char *redirect_uri);

/* The Lever account that the authorize flow (and fake_lever_authorize_code) grants, and its
 * authorizing super admin, created as a "super admin" user when missing. */
void fake_lever_set_account(struct fake_lever *f, const char *account_id,
                            const char *admin_user_id);

/* The `audience` that /authorize demands (default "https://api.lever.co/v1/"); it is also the
 * `aud` claim of access tokens. */
void fake_lever_set_audience(struct fake_lever *f, const char *audience);

/* Lifetime of new access tokens, in seconds (default 3600); it is the `expires_in` answered. */
void fake_lever_set_token_lifetime(struct fake_lever *f, int seconds);

/* Moves the fake's clock (token, code and grant expiry, timestamps) forward by `seconds`
 * (negative moves it back). Rate limiting keeps using the real monotonic clock. */
void fake_lever_advance_clock(struct fake_lever *f, int64_t seconds);

/* Token bucket per Lever account on /v1: `rps` tokens a second, at most `burst` (defaults 10
 * and 20). rps 0 disables rate limiting. Over it: 429 {"code":"TooManyRequests"} with
 * Retry-After: 1. */
void fake_lever_set_rate_limit(struct fake_lever *f, double rps, int burst);

/* Serves list pages of at most `n` items whatever `limit` asks (0: Lever's 100), to
 * exercise pagination with few objects. */
void fake_lever_set_max_page(struct fake_lever *f, long n);

/* Delay every answer by `ms` milliseconds (0 = none); the delay holds no lock. */
void fake_lever_set_latency_ms(struct fake_lever *f, int ms);

/* The next valid GET /authorize redirects back with error=access_denied and an
 * error_description instead of a code (non-interactive mode). */
void fake_lever_deny_next_authorize(struct fake_lever *f);

/* Revokes every grant of `account_id`, as a super admin does under Settings > Integrations and
 * API > Authorized Apps: refresh answers 403 invalid_grant "Unknown or invalid refresh token.",
 * access tokens answer 401 UnauthorizedError. */
void fake_lever_revoke(struct fake_lever *f, const char *account_id);

/* Strict validation of POST /v1/opportunities bodies (default on): `null`, "", blank strings,
 * [] and unknown fields are 400, because the service must never send them. Lever's own rules
 * (perform_as required, at most one posting, known stage, types) hold either way. */
void fake_lever_set_strict(struct fake_lever *f, bool strict);

/* Interactive mode (the simulator): a valid GET /authorize answers an HTML consent page whose
 * forms post to /authorize/decision, and GET / describes the simulator. */
void fake_lever_set_interactive(struct fake_lever *f, bool interactive);

/* Writes one line per request ("POST /v1/opportunities -> 201") to `out` (NULL = off).
 * `out` is borrowed and must outlive the fake. */
void fake_lever_set_trace(struct fake_lever *f, FILE *out);

/* ---- faults ------------------------------------------------------------------------------- */

/* Queues one canned answer for the next request matching `method` and `path_prefix` (FIFO
 * among matches; checked before authentication and rate limiting, and the request does no
 * work). `json_body` is sent verbatim (NULL = empty body); `retry_after_s` > 0 adds a
 * Retry-After header. */
void fake_lever_push_response(struct fake_lever *f, const char *method, const char *path_prefix,
                              int status, const char *json_body, int retry_after_s);

/* For requests matching `method` and `path_prefix`: `fail_5xx_permille` of them answer 500
 * without doing anything; `drop_after_work_permille` of the others do the work (for example
 * create the opportunity) and then close the connection without an answer. Setting the same
 * method and pattern again replaces the rule; 0 and 0 removes it. Dice come from a PRNG
 * seeded by fake_lever_seed(). */
void fake_lever_set_fault_rate(struct fake_lever *f, const char *method, const char *path_prefix,
                               int fail_5xx_permille, int drop_after_work_permille);

/* Seeds the fault PRNG, so that a run of faults can be replayed. */
void fake_lever_seed(struct fake_lever *f, uint64_t seed);

/* While on, /v1/users endpoints answer 500 (GET) or 403 (POST), so that the service cannot
 * find or create its service user. */
void fake_lever_fail_users(struct fake_lever *f, bool fail);

/* ---- OAuth shortcuts ---------------------------------------------------------------------- */

/* Mints an authorization code as a successful GET /authorize would, for the configured
 * account; single-use, valid 60 s. Returns NULL when the client is unknown or the redirect URI
 * is not its registered one. Caller owns (free()). */
char *fake_lever_authorize_code(struct fake_lever *f, const char *client_id,
                                const char *redirect_uri, const char *scope);

/* Creates a grant for `account_id` (created when new) without the browser flow, with the
 * service's default scope set, and returns its access and refresh tokens (caller owns both,
 * free()). Either out pointer may be NULL. The grant belongs to the first registered client
 * (so the service can refresh it with its own credentials), or to "fake-client" if none. */
void fake_lever_mint_token(struct fake_lever *f, const char *account_id, char **access,
                           char **refresh);

/* Successful refresh_token grants so far, and refresh-token reuse events (each revokes its
 * whole grant). */
int fake_lever_refresh_count(struct fake_lever *f);
int fake_lever_reuse_count(struct fake_lever *f);

/* ---- data --------------------------------------------------------------------------------- */

/* Adds a user to `account_id` (created when new). `role` is a Lever access role ("super
 * admin", "admin", "team member", "limited team member", "interviewer"). Returns the new
 * user's id: borrowed, valid until fake_lever_stop(). */
const char *fake_lever_add_user(struct fake_lever *f, const char *account_id, const char *name,
                                const char *email, const char *role, bool deactivated);

/* Adds a posting. `id` NULL generates one; `state` is published, internal, closed, draft,
 * pending or rejected; `channels_csv` is "public", "internal", "public,internal" or "" (only
 * meaningful for published postings); `team` and `location` may be NULL. Returns the id:
 * borrowed, valid until fake_lever_stop(). */
const char *fake_lever_add_posting(struct fake_lever *f, const char *account_id, const char *id,
                                   const char *text, const char *state, const char *channels_csv,
                                   const char *team, const char *location);

/* Users of `account_id` as Lever shows them. Caller owns; an empty array for an unknown
 * account. */
json_t *fake_lever_users(struct fake_lever *f, const char *account_id);

/* Number of opportunities in every account. */
int fake_lever_opportunity_count(struct fake_lever *f);

/* Opportunities whose contact has `email` (canonical, case-insensitive; NULL = any) and that
 * applied to `posting_id` (NULL = any). */
int fake_lever_count_opportunities(struct fake_lever *f, const char *email, const char *posting_id);

/* Every opportunity of every account, oldest first, as Lever shows them plus two fields for
 * tests: "account" and "postings" (array of posting ids). Caller owns. */
json_t *fake_lever_opportunities(struct fake_lever *f);

/* Notes of `opportunity_id` (NULL = every note), oldest first, as Lever shows them plus
 * "opportunityId". Caller owns. */
json_t *fake_lever_notes(struct fake_lever *f, const char *opportunity_id);

/* ---- recording ---------------------------------------------------------------------------- */

/* Every request since start or the last reset, oldest first: objects with method, path,
 * query_string (raw), query (object of arrays of decoded values), auth (the Authorization
 * header or null), content_type, body (string), status (0 when dropped), dropped, time_ms and
 * account (when a valid token named one). Caller owns. */
json_t *fake_lever_requests(struct fake_lever *f);

/* Number of recorded requests matching `method` and `path_prefix`. */
int fake_lever_count(struct fake_lever *f, const char *method, const char *path_prefix);

/* Requests answered 429 by the rate limiter since start. */
int fake_lever_count_429(struct fake_lever *f);

/* Highest number of /v1 requests of `account_id` seen within any one-second window. */
int fake_lever_max_rps(struct fake_lever *f, const char *account_id);

/* Forgets recorded requests (fake_lever_count starts again from zero). */
void fake_lever_reset_log(struct fake_lever *f);

#endif
