/*
 * tokens.h: the Lever connections' token store (SPEC 7).
 *
 * Tokens are kept sealed with AES-256-GCM (crypto.h keyring, AAD binding
 * each value to its team and kind) in `lever_connections`. sl_tokens_get()
 * is the one way any code obtains an access token: it refreshes when fewer
 * than 5 minutes remain, at most once at a time per connection across
 * threads and processes (SELECT ... FOR UPDATE on the connection row, then a
 * re-read, because another process may have refreshed meanwhile), commits
 * the rotated refresh token before the new access token is used, and marks
 * the connection `revoked` when the token endpoint answers a 4xx.
 *
 * Threads: any thread with its own database connection and Lever client.
 */
#ifndef SL_TOKENS_H
#define SL_TOKENS_H

#include <stdbool.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "lever.h"
#include "rc.h"

/* A usable access token and what goes with it. Strings caller-owned
 * (sl_access_cleanup). */
struct sl_access {
    char *access_token;
    char *lever_account_id; /* the rate-limit key (SPEC 7: per Lever account) */
    char *service_user_id;  /* perform_as */
};
void sl_access_cleanup(struct sl_access *a);

/* Hands out a valid access token for `team_id`'s connection.
 * SL_OK; SL_ERR_NOT_FOUND when the team never connected; SL_ERR_CONFLICT
 * when the connection is revoked or disconnected (nothing to do until the
 * team re-authenticates), including when this very refresh was refused
 * (then the connection is now `revoked`, its pending and retrying
 * deliveries `parked`, and the revocation logged once, here);
 * SL_ERR_UPSTREAM when a needed refresh failed transiently (5xx, 429,
 * network, or another instance's refresh holding the row for over 45 s:
 * retry later, not revoked); SL_ERR_CONFIG when a refresh is needed but
 * SL_LEVER_CLIENT_ID/SECRET are unset (nothing is revoked); SL_ERR_DB.
 * `force_refresh` refreshes even if the token looks valid (after a 401),
 * unless another thread or process replaced the token meanwhile, whose new
 * token is then returned instead.
 * `db` must not be inside a transaction: this function runs its own.
 * Token-endpoint requests are not gated, so `lv`'s gate does not matter
 * here. `out` is filled only on SL_OK. */
enum sl_rc sl_tokens_get(struct sl_db *db, struct sl_lever *lv, const struct sl_keyring *keys,
                         const char *team_id, bool force_refresh, struct sl_access *out,
                         struct sl_err *err) SL_MUST_USE;

/* The Lever account of a team's connection (for the rate-limit gate before a
 * token exists), or SL_ERR_NOT_FOUND. *account caller-owned. */
enum sl_rc sl_tokens_account(struct sl_db *db, const char *team_id, char **account,
                             struct sl_err *err) SL_MUST_USE;

/* Refreshes every active connection not refreshed for `idle_days` days, so
 * that Lever's 90-day inactivity expiry never hits. Returns how many were
 * refreshed. Background thread. */
int sl_tokens_refresh_idle(struct sl_db *db, struct sl_lever *lv, const struct sl_keyring *keys,
                           int idle_days);

/* ---- the idle refresher: a background thread (SPEC 7) ---- */

#define SL_TOKENS_IDLE_DAYS 7

/* Starts a thread that runs sl_tokens_refresh_idle(SL_TOKENS_IDLE_DAYS) at
 * once and then hourly, on its own database connection (to `database_url`,
 * copied) and Lever client. `cfg` and `keys` are borrowed and must outlive
 * it. Without Lever client credentials it does nothing but say so once.
 * Main thread; caller owns the result (sl_tokens_refresher_stop). */
struct sl_tokens_refresher;
struct sl_tokens_refresher *sl_tokens_refresher_start(const struct sl_config *cfg,
                                                      const char *database_url,
                                                      const struct sl_keyring *keys);
/* Stops the thread (a refresh in flight is finished first) and frees it.
 * Accepts NULL. Main thread. */
void sl_tokens_refresher_stop(struct sl_tokens_refresher *r);

/* ---- development key ---- */

/* The token key of a development setup: reads `<data_dir>/token.key`, or
 * when it does not exist generates one there (mode 0600, data_dir created
 * when missing) and sets *generated. *key_b64 is the base64 key (caller
 * owns; it is a secret). SL_ERR_IO with the path in `err` when the file
 * cannot be read or written. Main thread, at start-up. */
enum sl_rc sl_tokens_dev_key(const char *data_dir, char **key_b64, bool *generated,
                             struct sl_err *err) SL_MUST_USE;

#endif
