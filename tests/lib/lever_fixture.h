/*
 * lever_fixture.h: a team already connected to the fake Lever, without the
 * browser flow: tokens minted by the fake, sealed with the harness key
 * (TH_TOKEN_KEY, AAD "<team>:access" / "<team>:refresh", as server/tokens.c
 * seals them), stored in lever_connections as an active connection whose
 * service user is a Dolores created in the fake.
 *
 * Threads: a test's main thread.
 */
#ifndef SL_LEVER_FIXTURE_H
#define SL_LEVER_FIXTURE_H

#include "fake_lever.h"
#include "harness.h"

#define TF_CLIENT_ID "test-client"
#define TF_CLIENT_SECRET "test-client-secret"

/* Registers the test client in the fake (redirect to SL_PUBLIC_URL's default
 * callback) and returns the settings that point a service at the fake:
 * a NULL-terminated array of "K=V" strings, static, valid until the next call. */
const char *const *tf_lever_env(struct fake_lever *f);

/* Connects `team` to `account` of the fake (creating Dolores there if
 * needed); the access token expires in `expires_in_s`. Returns the service
 * user id (caller frees). */
char *tf_connect_team(const struct th_db *db, struct fake_lever *f, const char *team,
                      const char *account, int expires_in_s);

/* Merges two NULL-terminated env arrays into a static one (valid until the next call). */
const char *const *tf_env_merge(const char *const *a, const char *const *b);

#endif
