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

#include "crypto.h"
#include "db.h"
#include "lever.h"
#include "rc.h"

/* A usable access token and what goes with it. Strings caller-owned
 * (sl_access_cleanup). */
struct sl_access {
    char *access_token;
    char *lever_account_id;  /* the rate-limit key (SPEC 7: per Lever account) */
    char *service_user_id;   /* perform_as */
};
void sl_access_cleanup(struct sl_access *a);

/* Hands out a valid access token for `team_id`'s connection.
 * SL_OK; SL_ERR_NOT_FOUND when the team never connected; SL_ERR_CONFLICT
 * when the connection is revoked or disconnected (nothing to do until the
 * team re-authenticates); SL_ERR_UPSTREAM when a needed refresh failed
 * transiently (5xx, network: retry later, not revoked); SL_ERR_DB.
 * `force_refresh` refreshes even if the token looks valid (after a 401).
 * `lv` should have the connection's rate-limit gate installed. */
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

#endif
