/*
 * tokens.c: the Lever connections' token store and its refresh (tokens.h).
 *
 * Design: tokens live sealed (AES-256-GCM, crypto.h) in `lever_connections`,
 * each bound by its associated data to its team and kind ("<team>:access",
 * "<team>:refresh"), so a value copied to another row fails to open.
 *
 * sl_tokens_get() first reads the row without a lock: the common case, a
 * token with more than 5 minutes left, costs one SELECT. Otherwise it opens
 * a transaction, locks the row (SELECT ... FOR UPDATE) and reads it again:
 * the lock is what makes a refresh single-flight across threads *and*
 * processes, and the re-read is what lets the waiters use the token the
 * winner just stored instead of spending the rotated refresh token again
 * (Lever's Auth0 revokes the whole grant when a rotated token is reused).
 * The winner calls the token endpoint while holding the lock and stores
 * both new tokens in the same transaction, which commits before the access
 * token is handed out: a crash after Lever rotated the token but before the
 * commit is the one window that can lose a grant, and it cannot be closed
 * from this side.
 *
 * A 4xx from the token endpoint (invalid_grant after a revocation, or any
 * other refusal except 408/429) marks the connection `revoked`, erases its
 * tokens and parks its pending and retrying deliveries in one transaction,
 * logged once here at warn: later calls see the status and never ask Lever
 * again. A 5xx or network failure changes nothing but `last_error`.
 *
 * The idle refresher is a thread that refreshes connections untouched for
 * 7 days (Lever expires refresh tokens after 90 idle days). Every instance
 * runs one; the row lock and a re-check of the idle age under it keep two
 * instances from refreshing the same connection.
 *
 * Threads: sl_tokens_get / _account / _refresh_idle on any thread with its
 * own database connection and Lever client (workers, HTTP handlers, the
 * refresher). The refresher's start/stop and sl_tokens_dev_key: main.
 * Ownership: plaintext tokens are wiped before they are freed.
 */
#include "tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define REFRESH_AHEAD "5 minutes"
#define LOCK_TIMEOUT "45s" /* longer than a token request may take (30 s) */
#define REFRESHER_PERIOD_S 3600
#define REFRESHER_RETRY_S 60

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = '\0';
        free(s);
    }
}

void sl_access_cleanup(struct sl_access *a)
{
    if (!a)
        return;
    wipe_free(a->access_token);
    free(a->lever_account_id);
    free(a->service_user_id);
    memset(a, 0, sizeof(*a));
}

static void count(const char *result)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    sl_metrics_inc("sl_token_refreshes_total", labels, 1);
}

/* ---- the connection row ---- */

struct row {
    char *status;
    char *access_enc;
    char *refresh_enc;
    bool fresh;  /* access token valid for more than REFRESH_AHEAD */
    long idle_s; /* seconds since the last refresh (or the connection) */
    char *account_id;
    char *service_user_id;
};

static void row_cleanup(struct row *r)
{
    free(r->status);
    free(r->access_enc);
    free(r->refresh_enc);
    free(r->account_id);
    free(r->service_user_id);
    memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

/* Reads the row of `team_id`, locked when `lock` (inside a transaction).
 * SL_ERR_NOT_FOUND without one. */
static enum sl_rc read_row(struct sl_db *db, const char *team_id, bool lock, struct row *r,
                           struct sl_err *err)
{
    memset(r, 0, sizeof(*r));
    static const char sql[] =
        "SELECT status, access_token_enc, refresh_token_enc,"
        " COALESCE(access_expires_at > clock_timestamp() + interval '" REFRESH_AHEAD "', false),"
        " COALESCE(extract(epoch FROM now() - COALESCE(refreshed_at, connected_at,"
        " updated_at))::bigint, 0), lever_account_id, service_user_id"
        " FROM lever_connections WHERE team_id = $1";
    static const char sql_lock[] =
        "SELECT status, access_token_enc, refresh_token_enc,"
        " COALESCE(access_expires_at > clock_timestamp() + interval '" REFRESH_AHEAD "', false),"
        " COALESCE(extract(epoch FROM now() - COALESCE(refreshed_at, connected_at,"
        " updated_at))::bigint, 0), lever_account_id, service_user_id"
        " FROM lever_connections WHERE team_id = $1 FOR UPDATE";
    const char *params[] = {team_id};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db, lock ? sql_lock : sql, 1, params, &res, err);
    if (rc) {
        if (lock && strcmp(sl_db_sqlstate(db), "55P03") == 0)
            rc = sl_err_set(err, SL_ERR_UPSTREAM,
                            "another refresh of team %s's token is taking "
                            "too long; try again later",
                            team_id);
        return rc;
    }
    if (sl_db_res_rows(res) == 0) {
        sl_db_res_free(res);
        return sl_err_set(err, SL_ERR_NOT_FOUND, "team %s has never connected Lever", team_id);
    }
    r->status = sl_xstrdup(sl_db_res_get(res, 0, 0));
    r->access_enc = dup_or_null(sl_db_res_get(res, 0, 1));
    r->refresh_enc = dup_or_null(sl_db_res_get(res, 0, 2));
    r->fresh = strcmp(sl_db_res_get(res, 0, 3), "t") == 0;
    if (!sl_parse_long(sl_db_res_get(res, 0, 4), -__LONG_MAX__, __LONG_MAX__, &r->idle_s))
        r->idle_s = 0;
    r->account_id = dup_or_null(sl_db_res_get(res, 0, 5));
    r->service_user_id = dup_or_null(sl_db_res_get(res, 0, 6));
    sl_db_res_free(res);
    return SL_OK;
}

static enum sl_rc require_active(const char *team_id, const struct row *r, struct sl_err *err)
{
    if (strcmp(r->status, "active") != 0)
        return sl_err_set(err, SL_ERR_CONFLICT,
                          "team %s's Lever connection is %s: it must be authorized again", team_id,
                          r->status);
    if (!r->refresh_enc && !r->access_enc)
        return sl_err_set(err, SL_ERR_CONFLICT, "team %s's Lever connection holds no token",
                          team_id);
    return SL_OK;
}

static void aad(char *out, size_t n, const char *team_id, const char *kind)
{
    snprintf(out, n, "%s:%s", team_id, kind);
}

/* Opens the access token of `r` into `out`, with the row's account and
 * service user. */
static enum sl_rc hand_out(const struct sl_keyring *keys, const char *team_id, const struct row *r,
                           struct sl_access *out, struct sl_err *err)
{
    char ad[96];
    aad(ad, sizeof(ad), team_id, "access");
    char *token = NULL;
    if (!r->access_enc)
        return sl_err_set(err, SL_ERR_CONFLICT,
                          "team %s's Lever connection holds no access "
                          "token",
                          team_id);
    struct sl_err e = {0};
    if (sl_crypto_open(keys, r->access_enc, ad, &token, &e))
        return sl_err_set(err, SL_ERR_INTERNAL, "team %s's access token cannot be opened: %s",
                          team_id, e.msg);
    memset(out, 0, sizeof(*out));
    out->access_token = token;
    out->lever_account_id = dup_or_null(r->account_id);
    out->service_user_id = dup_or_null(r->service_user_id);
    return SL_OK;
}

static void rollback(struct sl_db *db)
{
    enum sl_rc rc = sl_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL);
    (void)rc; /* a broken connection rolls back by itself */
}

/* Begins a transaction and reads the row locked. On failure no transaction
 * is left open. */
static enum sl_rc lock_row(struct sl_db *db, const char *team_id, struct row *r, struct sl_err *err)
{
    enum sl_rc rc =
        sl_db_exec(db, "BEGIN; SET LOCAL lock_timeout = '" LOCK_TIMEOUT "'", 0, NULL, NULL, err);
    if (!rc)
        rc = read_row(db, team_id, true, r, err);
    if (rc)
        rollback(db);
    return rc;
}

/* Marks the connection revoked after the token endpoint refused it, in the
 * open transaction, and commits. */
static enum sl_rc mark_revoked(struct sl_db *db, const char *team_id, const struct row *r,
                               const struct sl_lever_resp *resp, struct sl_err *err)
{
    char reason[400];
    snprintf(reason, sizeof(reason), "refresh refused by Lever: %ld %s%s%s", resp->status,
             resp->error_code[0] ? resp->error_code : "error", resp->error_message[0] ? ": " : "",
             resp->error_message);
    const char *params[] = {team_id, reason};
    enum sl_rc rc = sl_db_exec(
        db,
        "UPDATE lever_connections SET status = 'revoked', revoked_at = now(), last_error = $2,"
        " access_token_enc = NULL, refresh_token_enc = NULL, access_expires_at = NULL,"
        " updated_at = now() WHERE team_id = $1",
        2, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db,
                        "UPDATE deliveries SET state = 'parked', updated_at = now()"
                        " WHERE team_id = $1 AND state IN ('pending', 'retrying')",
                        1, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, err);
    if (rc) {
        rollback(db);
        return rc;
    }
    count("revoked");
    sl_log_fields(SL_LOG_WARN, "lever_connection_revoked",
                  json_pack("{s:s,s:s?,s:i,s:s,s:s}", "team_id", team_id, "lever_account_id",
                            r->account_id, "status", (int)resp->status, "error", resp->error_code,
                            "msg",
                            "Lever refused the token refresh: the connection is revoked and its "
                            "deliveries parked until the team authorizes again"));
    return sl_err_set(err, SL_ERR_CONFLICT,
                      "Lever refused to refresh team %s's token (%s): the connection is "
                      "revoked until the team authorizes again",
                      team_id, resp->error_code[0] ? resp->error_code : "refused");
}

/* Stores the new tokens in the open transaction and commits. */
static enum sl_rc store(struct sl_db *db, const struct sl_keyring *keys, const char *team_id,
                        const struct sl_lever_tokens *tok, const char *old_refresh,
                        struct sl_err *err)
{
    char ad_access[96], ad_refresh[96], expires[32];
    aad(ad_access, sizeof(ad_access), team_id, "access");
    aad(ad_refresh, sizeof(ad_refresh), team_id, "refresh");
    char *access_enc = NULL, *refresh_enc = NULL;
    /* Without a rotated one, the old refresh token stays valid. */
    const char *refresh = tok->refresh_token ? tok->refresh_token : old_refresh;
    enum sl_rc rc = sl_crypto_seal(keys, tok->access_token, ad_access, &access_enc, err);
    if (!rc)
        rc = sl_crypto_seal(keys, refresh, ad_refresh, &refresh_enc, err);
    snprintf(expires, sizeof(expires), "%ld", tok->expires_in);
    const char *params[] = {team_id, access_enc, refresh_enc, expires, tok->scope};
    if (!rc)
        rc = sl_db_exec(
            db,
            "UPDATE lever_connections SET access_token_enc = $2, refresh_token_enc = $3,"
            " access_expires_at = clock_timestamp() + make_interval(secs => $4::double precision),"
            " refreshed_at = now(), last_error = NULL, updated_at = now(),"
            " scopes = CASE WHEN $5::text IS NULL THEN scopes"
            "          ELSE array_remove(string_to_array($5::text, ' '), '') END"
            " WHERE team_id = $1",
            5, params, NULL, err);
    if (!rc)
        rc = sl_db_exec(db, "COMMIT", 0, NULL, NULL, err);
    free(access_enc);
    free(refresh_enc);
    return rc;
}

/* The refresh proper, with the row locked by the open transaction (which
 * this ends either way). On SL_OK *access_out is the new access token. */
static enum sl_rc refresh_locked(struct sl_db *db, struct sl_lever *lv,
                                 const struct sl_keyring *keys, const char *team_id,
                                 const struct row *r, char **access_out, struct sl_err *err)
{
    *access_out = NULL;
    char ad[96];
    aad(ad, sizeof(ad), team_id, "refresh");
    char *refresh = NULL;
    struct sl_err e = {0};
    if (!r->refresh_enc) {
        rollback(db);
        return sl_err_set(err, SL_ERR_CONFLICT,
                          "team %s's Lever connection holds no refresh "
                          "token",
                          team_id);
    }
    if (sl_crypto_open(keys, r->refresh_enc, ad, &refresh, &e)) {
        rollback(db);
        return sl_err_set(err, SL_ERR_INTERNAL, "team %s's refresh token cannot be opened: %s",
                          team_id, e.msg);
    }
    struct sl_lever_tokens tok = {0};
    struct sl_lever_resp resp = {0};
    enum sl_rc rc = sl_lever_refresh(lv, refresh, &tok, &resp, &e);
    bool transient_4xx = resp.status == 408 || resp.status == 429;
    if (rc == SL_ERR_AUTH && !transient_4xx) {
        rc = mark_revoked(db, team_id, r, &resp, err);
        goto out;
    }
    if (rc) {
        /* Transient: nothing changes but the note for operators. */
        const char *params[] = {team_id, e.msg};
        enum sl_rc note = sl_db_exec(db,
                                     "UPDATE lever_connections SET last_error = $2,"
                                     " updated_at = now() WHERE team_id = $1",
                                     2, params, NULL, NULL);
        if (!note)
            note = sl_db_exec(db, "COMMIT", 0, NULL, NULL, NULL);
        if (note)
            rollback(db);
        count(rc == SL_ERR_CONFIG ? "unconfigured" : "error");
        if (rc == SL_ERR_AUTH)
            rc = SL_ERR_UPSTREAM;
        sl_err_set(err, rc, "refreshing team %s's Lever token: %s", team_id, e.msg);
        goto out;
    }
    rc = store(db, keys, team_id, &tok, refresh, err);
    if (rc) {
        rollback(db);
        /* Lever has rotated the refresh token; if it is not stored, the next
         * refresh spends the old one and Lever revokes the grant. */
        sl_log(SL_LOG_ERROR, "lever_token_store_failed",
               "team %s: the rotated refresh token could not be stored: %s", team_id,
               err ? err->msg : "database error");
        count("error");
        goto out;
    }
    count("ok");
    *access_out = tok.access_token;
    tok.access_token = NULL;
out:
    wipe_free(refresh);
    sl_lever_tokens_cleanup(&tok);
    sl_lever_resp_cleanup(&resp);
    return rc;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

enum sl_rc sl_tokens_get(struct sl_db *db, struct sl_lever *lv, const struct sl_keyring *keys,
                         const char *team_id, bool force_refresh, struct sl_access *out,
                         struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    struct row seen = {0}, locked = {0};
    char *access = NULL;
    enum sl_rc rc = read_row(db, team_id, false, &seen, err);
    if (!rc)
        rc = require_active(team_id, &seen, err);
    if (rc)
        goto out;
    if (!force_refresh && seen.fresh && seen.access_enc) {
        rc = hand_out(keys, team_id, &seen, out, err);
        goto out;
    }

    rc = lock_row(db, team_id, &locked, err);
    if (rc)
        goto out;
    rc = require_active(team_id, &locked, err);
    /* Another thread or process refreshed while we waited for the lock. */
    bool replaced = !same(seen.access_enc, locked.access_enc);
    bool usable = locked.access_enc && (force_refresh ? replaced : locked.fresh);
    if (rc || usable) {
        enum sl_rc end = sl_db_exec(db, rc ? "ROLLBACK" : "COMMIT", 0, NULL, NULL, NULL);
        if (!rc && end)
            rc = sl_err_set(err, SL_ERR_DB, "database unavailable while reading team %s's token",
                            team_id);
        if (!rc)
            rc = hand_out(keys, team_id, &locked, out, err);
        goto out;
    }
    rc = refresh_locked(db, lv, keys, team_id, &locked, &access, err);
    if (rc)
        goto out;
    out->access_token = access;
    out->lever_account_id = dup_or_null(locked.account_id);
    out->service_user_id = dup_or_null(locked.service_user_id);
out:
    row_cleanup(&seen);
    row_cleanup(&locked);
    return rc;
}

enum sl_rc sl_tokens_account(struct sl_db *db, const char *team_id, char **account,
                             struct sl_err *err)
{
    *account = NULL;
    const char *params[] = {team_id};
    struct sl_db_res *res = NULL;
    enum sl_rc rc = sl_db_exec(db,
                               "SELECT lever_account_id FROM lever_connections"
                               " WHERE team_id = $1 AND lever_account_id IS NOT NULL",
                               1, params, &res, err);
    if (rc)
        return rc;
    if (sl_db_res_rows(res) == 0)
        rc = sl_err_set(err, SL_ERR_NOT_FOUND, "team %s has no Lever account", team_id);
    else
        *account = sl_xstrdup(sl_db_res_get(res, 0, 0));
    sl_db_res_free(res);
    return rc;
}

int sl_tokens_refresh_idle(struct sl_db *db, struct sl_lever *lv, const struct sl_keyring *keys,
                           int idle_days)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", idle_days);
    const char *params[] = {days};
    struct sl_db_res *res = NULL;
    struct sl_err err = {0};
    enum sl_rc rc =
        sl_db_exec(db,
                   "SELECT team_id FROM lever_connections WHERE status = 'active'"
                   " AND refresh_token_enc IS NOT NULL"
                   " AND COALESCE(refreshed_at, connected_at, updated_at) < now() - "
                   "make_interval(days => $1::int)"
                   " ORDER BY COALESCE(refreshed_at, connected_at, updated_at) LIMIT 100",
                   1, params, &res, &err);
    if (rc) {
        sl_log(SL_LOG_WARN, "idle_refresh_failed", "%s", err.msg);
        return 0;
    }
    int refreshed = 0;
    for (int i = 0; i < sl_db_res_rows(res); i++) {
        const char *team_id = sl_db_res_get(res, i, 0);
        struct row r = {0};
        char *access = NULL;
        rc = lock_row(db, team_id, &r, &err);
        if (rc)
            goto next;
        /* Another instance may have refreshed it since the SELECT above. */
        if (strcmp(r.status, "active") != 0 || r.idle_s < (long)idle_days * 86400) {
            rollback(db);
            goto next;
        }
        rc = refresh_locked(db, lv, keys, team_id, &r, &access, &err);
        if (!rc)
            refreshed++;
    next:
        if (rc && rc != SL_ERR_CONFLICT) /* a revocation was logged by mark_revoked() */
            sl_log(SL_LOG_WARN, "idle_refresh_failed", "team %s: %s", team_id, err.msg);
        wipe_free(access);
        row_cleanup(&r);
    }
    sl_db_res_free(res);
    if (refreshed)
        sl_log(SL_LOG_INFO, "idle_refresh", "%d idle connection(s) refreshed", refreshed);
    return refreshed;
}

/* ---- the idle refresher thread ---- */

struct sl_tokens_refresher {
    const struct sl_config *cfg;
    const struct sl_keyring *keys;
    char *database_url;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

/* Sleeps `seconds` or until stopped; true when stopped. */
static bool nap(struct sl_tokens_refresher *r, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping && pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
        ;
    bool stopped = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return stopped;
}

static void *refresher_main(void *arg)
{
    struct sl_tokens_refresher *r = arg;
    struct sl_lever *lv = sl_lever_create(r->cfg);
    do {
        struct sl_db *db = NULL;
        struct sl_err err = {0};
        if (sl_db_connect(r->database_url, 5, &db, &err)) {
            sl_log(SL_LOG_WARN, "idle_refresh_failed", "%s; retrying in %d s", err.msg,
                   REFRESHER_RETRY_S);
            if (nap(r, REFRESHER_RETRY_S))
                break;
            continue;
        }
        sl_tokens_refresh_idle(db, lv, r->keys, SL_TOKENS_IDLE_DAYS);
        sl_db_close(db);
    } while (!nap(r, REFRESHER_PERIOD_S));
    sl_lever_destroy(lv);
    return NULL;
}

struct sl_tokens_refresher *sl_tokens_refresher_start(const struct sl_config *cfg,
                                                      const char *database_url,
                                                      const struct sl_keyring *keys)
{
    struct sl_tokens_refresher *r = sl_xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    r->keys = keys;
    r->database_url = sl_xstrdup(database_url);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (!cfg->lever_client_id || !cfg->lever_client_secret || !keys) {
        sl_log(SL_LOG_INFO, "idle_refresh_disabled",
               "SL_LEVER_CLIENT_ID/SL_LEVER_CLIENT_SECRET are not set: idle Lever "
               "connections are not refreshed");
        r->stopping = true;
        return r;
    }
    SL_ASSERT(pthread_create(&r->thread, NULL, refresher_main, r) == 0);
    return r;
}

void sl_tokens_refresher_stop(struct sl_tokens_refresher *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    bool running = !r->stopping;
    r->stopping = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (running)
        pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r->database_url);
    free(r);
}

/* ---- development key ---- */

/* mkdir -p with `mode` for the directories it creates. */
static int make_dirs(const char *path, mode_t mode)
{
    char buf[1024];
    if (!sl_strlcpy(buf, path, sizeof(buf))) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) && errno != EEXIST)
        return -1;
    return 0;
}

static enum sl_rc read_key(const char *path, char **key_b64, struct sl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    buf[n] = '\0';
    size_t len = strcspn(buf, " \t\r\n");
    *key_b64 = sl_xstrndup(buf, len);
    memset(buf, 0, sizeof(buf));
    return SL_OK;
}

enum sl_rc sl_tokens_dev_key(const char *data_dir, char **key_b64, bool *generated,
                             struct sl_err *err)
{
    *key_b64 = NULL;
    *generated = false;
    char path[1100];
    snprintf(path, sizeof(path), "%s/token.key", data_dir);
    if (access(path, F_OK) == 0)
        return read_key(path, key_b64, err);
    /* 0755 like the embedded cluster's parent (postgres must traverse it);
     * the key file itself is 0600. */
    if (make_dirs(data_dir, 0755))
        return sl_err_set(err, SL_ERR_IO, "cannot create %s: %s", data_dir, strerror(errno));
    char key[64];
    enum sl_rc rc = sl_keyring_generate_b64(key, err);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        memset(key, 0, sizeof(key));
        if (errno == EEXIST) /* another instance was first: use its key */
            return read_key(path, key_b64, err);
        return sl_err_set(err, SL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    }
    size_t len = strlen(key);
    key[len] = '\n';
    bool written = write(fd, key, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    key[len] = '\0';
    if (!written) {
        unlink(path);
        memset(key, 0, sizeof(key));
        return sl_err_set(err, SL_ERR_IO, "cannot write %s: %s", path, strerror(saved));
    }
    *key_b64 = sl_xstrdup(key);
    memset(key, 0, sizeof(key));
    *generated = true;
    return SL_OK;
}
