/*
 * lever_fixture.c: see lever_fixture.h.
 */
#include "lever_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"

const char *const *tf_lever_env(struct fake_lever *f)
{
    static char auth[160], api[160];
    static const char *env[8];
    fake_lever_add_client(f, TF_CLIENT_ID, TF_CLIENT_SECRET,
                          "http://localhost:8080/oauth/lever/callback");
    snprintf(auth, sizeof(auth), "SL_LEVER_AUTH_URL=%s", fake_lever_base_url(f));
    snprintf(api, sizeof(api), "SL_LEVER_API_URL=%s/v1", fake_lever_base_url(f));
    env[0] = auth;
    env[1] = api;
    env[2] = "SL_LEVER_CLIENT_ID=" TF_CLIENT_ID;
    env[3] = "SL_LEVER_CLIENT_SECRET=" TF_CLIENT_SECRET;
    env[4] = NULL;
    return env;
}

const char *const *tf_env_merge(const char *const *a, const char *const *b)
{
    static const char *env[64];
    size_t n = 0;
    for (size_t i = 0; a && a[i] && n < 63; i++)
        env[n++] = a[i];
    for (size_t i = 0; b && b[i] && n < 63; i++)
        env[n++] = b[i];
    env[n] = NULL;
    return env;
}

static char *seal(const struct sl_keyring *keys, const char *value, const char *team,
                  const char *kind)
{
    char aad[128];
    snprintf(aad, sizeof(aad), "%s:%s", team, kind);
    char *out = NULL;
    struct sl_err err;
    if (sl_crypto_seal(keys, value, aad, &out, &err))
        BAIL_OUT("seal: %s", err.msg);
    return out;
}

char *tf_connect_team(const struct th_db *db, struct fake_lever *f, const char *team,
                      const char *account, int expires_in_s)
{
    json_t *users = fake_lever_users(f, account);
    const char *dolores = NULL;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u)
    {
        const char *email = json_string_value(json_object_get(u, "email"));
        if (email && strcmp(email, "dolores@stakha.io") == 0)
            dolores = json_string_value(json_object_get(u, "id"));
    }
    char *id = strdup(dolores ? dolores
                              : fake_lever_add_user(f, account, "Dolores", "dolores@stakha.io",
                                                    "team member", false));
    json_decref(users);
    char *access = NULL, *refresh = NULL;
    fake_lever_mint_token(f, account, &access, &refresh);
    struct sl_keyring *keys = NULL;
    struct sl_err err;
    if (sl_keyring_parse(TH_TOKEN_KEY, &keys, &err))
        BAIL_OUT("keyring: %s", err.msg);
    char *a = seal(keys, access, team, "access"), *r = seal(keys, refresh, team, "refresh");
    char expires[32];
    snprintf(expires, sizeof(expires), "%d", expires_in_s);
    const char *params[] = {team, account, id, a, r, expires};
    free(th_db_value(db,
                     "INSERT INTO lever_connections (team_id, status, lever_account_id,"
                     " authorizing_user_id, service_user_id, service_user_name, scopes,"
                     " access_token_enc, refresh_token_enc, access_expires_at, connected_at,"
                     " refreshed_at)"
                     " VALUES ($1, 'active', $2, 'user_admin', $3, 'Dolores',"
                     " string_to_array('offline_access opportunities:write:admin"
                     " notes:write:admin postings:read:admin stages:read:admin users:read:admin"
                     " users:write:admin', ' '),"
                     " $4, $5, now() + make_interval(secs => $6::int), now(), now())"
                     " ON CONFLICT (team_id) DO UPDATE SET status = 'active',"
                     " lever_account_id = $2, service_user_id = $3, access_token_enc = $4,"
                     " refresh_token_enc = $5,"
                     " access_expires_at = now() + make_interval(secs => $6::int)",
                     6, params));
    sl_keyring_destroy(keys);
    free(a);
    free(r);
    free(access);
    free(refresh);
    return id;
}
