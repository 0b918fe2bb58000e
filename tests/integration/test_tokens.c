/*
 * test_tokens.c: server/tokens.c against a real PostgreSQL and the fake
 * Lever, linked directly (SPEC 7: tokens).
 *
 * Single-flight refresh is checked with 16 threads, each with its own
 * database connection and Lever client, and with two processes (this
 * binary re-executed as "child"), each likewise; only the row lock can make
 * either see one refresh. The fake revokes a whole grant when a rotated
 * refresh token is reused, so fake_lever_reuse_count() must stay 0.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "db.h"
#include "fake_lever.h"
#include "harness.h"
#include "lever.h"
#include "log.h"
#include "metrics.h"
#include "tap.h"
#include "tokens.h"
#include "util.h"

#define CLIENT_ID "stakha-test"
#define CLIENT_SECRET "s3cret-value"
#define REDIRECT "http://127.0.0.1:9/oauth/lever/callback"
#define NTHREADS 16

static struct fake_lever *F;
static struct th_db db;
static struct sl_keyring *keys;
static struct sl_config cfg;
static char api_url[256];

static void make_cfg(struct sl_config *c, const char *base, char *api, size_t n)
{
    memset(c, 0, sizeof(*c));
    snprintf(api, n, "%s/v1", base);
    c->lever_auth_url = (char *)base;
    c->lever_api_url = api;
    c->lever_client_id = CLIENT_ID;
    c->lever_client_secret = CLIENT_SECRET;
    c->public_url = "http://127.0.0.1:9";
    c->lever_audience = "https://api.lever.co/v1/";
}

static struct sl_db *db_open(void)
{
    struct sl_db *d = NULL;
    struct sl_err err = {0};
    if (sl_db_connect(db.url, 5, &d, &err))
        BAIL_OUT("db: %s", err.msg);
    return d;
}

static char *seal(const char *plain, const char *team, const char *kind)
{
    char ad[128];
    snprintf(ad, sizeof(ad), "%s:%s", team, kind);
    char *out = NULL;
    if (sl_crypto_seal(keys, plain, ad, &out, NULL))
        BAIL_OUT("seal");
    return out;
}

static char *open_col(const char *team, const char *col, const char *kind)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s FROM lever_connections WHERE team_id = $1", col);
    const char *p[] = {team};
    char *enc = th_db_value(&db, sql, 1, p);
    if (!enc)
        return NULL;
    char ad[128], *plain = NULL;
    snprintf(ad, sizeof(ad), "%s:%s", team, kind);
    if (sl_crypto_open(keys, enc, ad, &plain, NULL))
        plain = strdup("(unopenable)");
    free(enc);
    return plain;
}

/* A connected team whose tokens are a fresh grant of `account` at the fake;
 * the access token expires `expires_s` from now. Returns the access token. */
static char *connect_team(const char *team, const char *account, int expires_s)
{
    char *access = NULL, *refresh = NULL;
    fake_lever_mint_token(F, account, &access, &refresh);
    char *a = seal(access, team, "access"), *r = seal(refresh, team, "refresh");
    char exp[32];
    snprintf(exp, sizeof(exp), "%d", expires_s);
    const char *p[] = {team, account, a, r, exp};
    PGconn *c = PQconnectdb(db.url);
    PGresult *res = PQexecParams(
        c,
        "INSERT INTO lever_connections (team_id, status, lever_account_id, service_user_id,"
        " service_user_name, scopes, access_token_enc, refresh_token_enc, access_expires_at,"
        " connected_at, refreshed_at) VALUES ($1, 'active', $2, 'user_dolores', 'Dolores',"
        " '{offline_access}', $3, $4, now() + make_interval(secs => $5::int), now(), now())"
        " ON CONFLICT (team_id) DO UPDATE SET status = 'active', lever_account_id = $2,"
        " access_token_enc = $3, refresh_token_enc = $4,"
        " access_expires_at = now() + make_interval(secs => $5::int), refreshed_at = now()",
        5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        BAIL_OUT("insert: %s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    free(a);
    free(r);
    free(refresh);
    return access;
}

static void expire_soon(const char *team)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE lever_connections SET access_expires_at = now() + interval '2 minutes'"
             " WHERE team_id = '%s'",
             team);
    th_db_exec(&db, sql);
}

/* ---- 16 threads ---- */

struct worker {
    pthread_barrier_t *barrier;
    const char *team;
    enum sl_rc rc;
    char token[4096];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sl_db *d = db_open();
    struct sl_lever *lv = sl_lever_create(&cfg);
    struct sl_access acc;
    struct sl_err err = {0};
    pthread_barrier_wait(w->barrier);
    w->rc = sl_tokens_get(d, lv, keys, w->team, false, &acc, &err);
    if (!w->rc) {
        sl_strlcpy(w->token, acc.access_token, sizeof(w->token));
        sl_access_cleanup(&acc);
    }
    sl_lever_destroy(lv);
    sl_db_close(d);
    return NULL;
}

static void test_threads(void)
{
    char *old = connect_team("team_threads", "acct_threads", 3600);
    expire_soon("team_threads");
    char *old_refresh = open_col("team_threads", "refresh_token_enc", "refresh");
    fake_lever_set_latency_ms(F, 200); /* the winner holds the lock a while */
    int before = fake_lever_refresh_count(F);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.barrier = &barrier, .team = "team_threads"};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    int good = 0, same = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        good += w[i].rc == SL_OK;
        same += strcmp(w[i].token, w[0].token) == 0;
    }
    fake_lever_set_latency_ms(F, 0);
    pthread_barrier_destroy(&barrier);
    is_int(good, NTHREADS, "16 threads got a token");
    is_int(fake_lever_refresh_count(F) - before, 1, "16 threads, one refresh");
    is_int(same, NTHREADS, "all got the same token");
    ok(strcmp(w[0].token, old) != 0, "a new token, not the expiring one");
    char *new_refresh = open_col("team_threads", "refresh_token_enc", "refresh");
    ok(new_refresh && strcmp(new_refresh, old_refresh) != 0, "the rotated refresh token is stored");
    is_int(th_db_long(&db, "SELECT (access_expires_at > now() + interval '50 minutes')::int"
                           " FROM lever_connections WHERE team_id = 'team_threads'"),
           1, "new expiry stored");
    is_int(fake_lever_reuse_count(F), 0, "no refresh token reused");
    free(old);
    free(old_refresh);
    free(new_refresh);
}

/* ---- two processes ---- */

static int child_main(char **argv)
{
    /* argv: self child <db url> <fake base> <team> <fd to wait on> */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static char api[256];
    make_cfg(&cfg, argv[3], api, sizeof(api));
    struct sl_keyring *k = NULL;
    if (sl_keyring_parse(TH_TOKEN_KEY, &k, NULL))
        return 3;
    struct sl_db *d = NULL;
    if (sl_db_connect(argv[2], 5, &d, NULL))
        return 4;
    struct sl_lever *lv = sl_lever_create(&cfg);
    char c;
    if (read(atoi(argv[5]), &c, 1) < 0) /* EOF: the parent says go */
        return 5;
    struct sl_access acc;
    struct sl_err err = {0};
    enum sl_rc rc = sl_tokens_get(d, lv, k, argv[4], false, &acc, &err);
    if (!rc)
        sl_access_cleanup(&acc);
    else
        fprintf(stderr, "child: %s\n", err.msg);
    sl_lever_destroy(lv);
    sl_db_close(d);
    sl_keyring_destroy(k);
    curl_global_cleanup();
    return rc ? 1 : 0;
}

static void test_processes(void)
{
    char *old = connect_team("team_procs", "acct_procs", 3600);
    expire_soon("team_procs");
    fake_lever_set_latency_ms(F, 300);
    int before = fake_lever_refresh_count(F);
    int go[2];
    if (pipe(go))
        BAIL_OUT("pipe");
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            char fd[16];
            snprintf(fd, sizeof(fd), "%d", go[0]);
            execl("/proc/self/exe", "test_tokens", "child", db.url, fake_lever_base_url(F),
                  "team_procs", fd, (char *)NULL);
            _exit(127);
        }
    }
    close(go[0]);
    usleep(300 * 1000); /* both children connected and waiting */
    close(go[1]);
    int ok_children = 0;
    for (int i = 0; i < 2; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        ok_children += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    fake_lever_set_latency_ms(F, 0);
    is_int(ok_children, 2, "both processes got a token");
    is_int(fake_lever_refresh_count(F) - before, 1, "two processes, one refresh");
    is_int(fake_lever_reuse_count(F), 0, "no refresh token reused");
    char *now = open_col("team_procs", "access_token_enc", "access");
    ok(now && strcmp(now, old) != 0, "the new access token is stored");
    free(now);
    free(old);
}

/* ---- the rest ---- */

static enum sl_rc get(const char *team, bool force, char **token, struct sl_err *err)
{
    struct sl_db *d = db_open();
    struct sl_lever *lv = sl_lever_create(&cfg);
    struct sl_access acc;
    enum sl_rc rc = sl_tokens_get(d, lv, keys, team, force, &acc, err);
    if (token)
        *token = rc ? NULL : strdup(acc.access_token);
    if (!rc) {
        ok(acc.lever_account_id && acc.service_user_id, "account and service user handed out");
        sl_access_cleanup(&acc);
    }
    sl_lever_destroy(lv);
    sl_db_close(d);
    return rc;
}

static char *team_value(const char *team, const char *expr)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s FROM lever_connections WHERE team_id = $1", expr);
    const char *p[] = {team};
    return th_db_value(&db, sql, 1, p);
}

static void test_basics(void)
{
    struct sl_err err = {0};
    char *tok = NULL;
    char *minted = connect_team("team_a", "acct_a", 3600);
    int before = fake_lever_refresh_count(F);
    is_int(get("team_a", false, &tok, &err), SL_OK, "fresh token handed out");
    is_str(tok, minted, "the stored token, opened");
    is_int(fake_lever_refresh_count(F), before, "no refresh while more than 5 minutes remain");
    free(tok);

    th_db_exec(&db, "UPDATE lever_connections SET access_expires_at = now() + interval "
                    "'301 seconds' WHERE team_id = 'team_a'");
    is_int(get("team_a", false, NULL, &err), SL_OK, "5:01 left");
    is_int(fake_lever_refresh_count(F), before, "still no refresh");
    th_db_exec(&db, "UPDATE lever_connections SET access_expires_at = now() + interval "
                    "'299 seconds' WHERE team_id = 'team_a'");
    is_int(get("team_a", false, &tok, &err), SL_OK, "4:59 left");
    is_int(fake_lever_refresh_count(F), before + 1, "refreshed ahead of expiry");
    ok(tok && strcmp(tok, minted) != 0, "new token");
    char *refreshed = tok;
    is_int(get("team_a", true, &tok, &err), SL_OK, "forced refresh (after a 401)");
    is_int(fake_lever_refresh_count(F), before + 2, "forced refresh asks Lever");
    ok(tok && strcmp(tok, refreshed) != 0, "another new token");
    free(tok);
    free(refreshed);
    free(minted);
    ok(sl_metrics_value("sl_token_refreshes_total", "result=\"ok\"") >= 2,
       "sl_token_refreshes_total{result=\"ok\"} counted");

    /* Transient failures change nothing. */
    char *refresh_before = open_col("team_a", "refresh_token_enc", "refresh");
    expire_soon("team_a");
    fake_lever_push_response(F, "POST", "/oauth/token", 500, "{\"error\":\"server_error\"}", 0);
    is_int(get("team_a", false, NULL, &err), SL_ERR_UPSTREAM, "token endpoint 500: UPSTREAM");
    char *status = team_value("team_a", "status");
    is_str(status, "active", "still active after a 5xx");
    free(status);
    char *last_error = team_value("team_a", "last_error");
    ok(last_error && strstr(last_error, "500"), "last_error noted: %s", last_error);
    free(last_error);
    fake_lever_push_response(F, "POST", "/oauth/token", 429, "{\"error\":\"too_many\"}", 1);
    is_int(get("team_a", false, NULL, &err), SL_ERR_UPSTREAM, "token endpoint 429: UPSTREAM");
    status = team_value("team_a", "status");
    is_str(status, "active", "still active after a 429");
    free(status);
    char *refresh_after = open_col("team_a", "refresh_token_enc", "refresh");
    is_str(refresh_after, refresh_before, "refresh token untouched");
    free(refresh_after);
    free(refresh_before);
    cfg.lever_client_secret = NULL;
    is_int(get("team_a", false, NULL, &err), SL_ERR_CONFIG, "no client secret: SL_ERR_CONFIG");
    cfg.lever_client_secret = CLIENT_SECRET;
    status = team_value("team_a", "status");
    is_str(status, "active", "not revoked for want of credentials");
    free(status);
    is_int(get("team_a", false, NULL, &err), SL_OK, "recovers");
    status = team_value("team_a", "last_error");
    ok(status == NULL, "last_error cleared by a good refresh");
    free(status);

    is_int(get("team_never", false, NULL, &err), SL_ERR_NOT_FOUND, "never connected: NOT_FOUND");
    char *account = NULL;
    struct sl_db *d = db_open();
    is_int(sl_tokens_account(d, "team_a", &account, &err), SL_OK, "account of a team");
    is_str(account, "acct_a", "its Lever account");
    free(account);
    is_int(sl_tokens_account(d, "team_never", &account, &err), SL_ERR_NOT_FOUND,
           "account of an unknown team: NOT_FOUND");
    sl_db_close(d);

    /* A sealed value copied to another team's row does not open there. */
    char *mine = connect_team("team_b", "acct_b", 3600);
    th_db_exec(&db, "UPDATE lever_connections SET access_token_enc = (SELECT access_token_enc"
                    " FROM lever_connections WHERE team_id = 'team_a') WHERE team_id = 'team_b'");
    is_int(get("team_b", false, NULL, &err), SL_ERR_INTERNAL,
           "team A's sealed token in team B's row: refused (AAD)");
    free(mine);

    th_db_exec(&db, "UPDATE lever_connections SET status = 'disconnected', access_token_enc = "
                    "NULL, refresh_token_enc = NULL WHERE team_id = 'team_b'");
    is_int(get("team_b", false, NULL, &err), SL_ERR_CONFLICT, "disconnected: CONFLICT");
}

/* Runs `fn` with stderr sent to a file; returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char dir[512], path[600];
    th_tempdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    struct sl_buf b;
    sl_buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        sl_buf_append(&b, chunk, (size_t)n);
    close(fd);
    return sl_buf_take(&b);
}

static void revoke_calls(void)
{
    struct sl_err err = {0};
    is_int(get("team_r", false, NULL, &err), SL_ERR_CONFLICT, "refresh refused: CONFLICT");
    ok(strstr(err.msg, "revoked") != NULL, "message says revoked: %s", err.msg);
    int calls = fake_lever_count(F, "POST", "/oauth/token");
    is_int(get("team_r", false, NULL, &err), SL_ERR_CONFLICT, "again: CONFLICT");
    is_int(get("team_r", true, NULL, &err), SL_ERR_CONFLICT, "forced: CONFLICT");
    is_int(fake_lever_count(F, "POST", "/oauth/token"), calls, "Lever not asked again");
}

static void test_revocation(void)
{
    free(connect_team("team_r", "acct_r", 3600));
    th_db_exec(&db, "INSERT INTO deliveries (team_id, application_id, job_id, lever_posting_id,"
                    " state) VALUES ('team_r', 'app_1', 'job_1', 'post_1', 'pending'),"
                    " ('team_r', 'app_2', 'job_1', 'post_1', 'retrying'),"
                    " ('team_r', 'app_3', 'job_1', 'post_1', 'delivered'),"
                    " ('team_a', 'app_4', 'job_1', 'post_1', 'pending')");
    fake_lever_revoke(F, "acct_r");
    expire_soon("team_r");
    char *log = capture_stderr(revoke_calls);
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "lever_connection_revoked")); p++)
        lines++;
    is_int(lines, 1, "the revocation is logged once (warn)");
    ok(strstr(log, "\"level\":\"warn\"") != NULL, "at warn level");
    free(log);
    char *status = team_value("team_r", "status");
    is_str(status, "revoked", "connection revoked");
    free(status);
    is_int(th_db_long(&db, "SELECT count(*) FROM lever_connections WHERE team_id = 'team_r'"
                           " AND revoked_at IS NOT NULL AND access_token_enc IS NULL"
                           " AND refresh_token_enc IS NULL AND last_error LIKE '%invalid_grant%'"),
           1, "revoked_at and last_error set, tokens erased");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_r'"
                           " AND state = 'parked'"),
           2, "pending and retrying deliveries parked");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 1,
           "delivered ones untouched");
    is_int(th_db_long(&db, "SELECT count(*) FROM deliveries WHERE team_id = 'team_a'"
                           " AND state = 'pending'"),
           1, "other teams untouched");
    ok(sl_metrics_value("sl_token_refreshes_total", "result=\"revoked\"") == 1,
       "sl_token_refreshes_total{result=\"revoked\"}");
}

static void test_idle(void)
{
    free(connect_team("team_idle", "acct_idle", 3600));
    free(connect_team("team_busy", "acct_busy", 3600));
    th_db_exec(&db, "UPDATE lever_connections SET refreshed_at = now() - interval '8 days'"
                    " WHERE team_id = 'team_idle'");
    th_db_exec(&db, "UPDATE lever_connections SET refreshed_at = now() - interval '6 days'"
                    " WHERE team_id = 'team_busy'");
    struct sl_db *d = db_open();
    struct sl_lever *lv = sl_lever_create(&cfg);
    int before = fake_lever_refresh_count(F);
    /* Other teams of this file are idle too by now? No: they were refreshed
     * or connected just now, or are not active. */
    is_int(sl_tokens_refresh_idle(d, lv, keys, 7), 1, "one idle connection refreshed");
    is_int(fake_lever_refresh_count(F) - before, 1, "one refresh");
    is_int(th_db_long(&db, "SELECT (refreshed_at > now() - interval '1 minute')::int FROM"
                           " lever_connections WHERE team_id = 'team_idle'"),
           1, "its refreshed_at is now");
    is_int(th_db_long(&db, "SELECT (refreshed_at < now() - interval '5 days')::int FROM"
                           " lever_connections WHERE team_id = 'team_busy'"),
           1, "the 6-day-old one is left alone");
    is_int(sl_tokens_refresh_idle(d, lv, keys, 7), 0, "nothing left to refresh");
    sl_lever_destroy(lv);
    sl_db_close(d);

    /* The background thread does the same at start. */
    th_db_exec(&db, "UPDATE lever_connections SET refreshed_at = now() - interval '30 days'"
                    " WHERE team_id = 'team_busy'");
    before = fake_lever_refresh_count(F);
    struct sl_tokens_refresher *r = sl_tokens_refresher_start(&cfg, db.url, keys);
    long long until = th_now_ms() + 10000;
    while (fake_lever_refresh_count(F) == before && th_now_ms() < until)
        usleep(20 * 1000);
    long long t0 = th_now_ms();
    sl_tokens_refresher_stop(r);
    is_int(fake_lever_refresh_count(F) - before, 1, "the refresher thread refreshed it");
    ok(th_now_ms() - t0 < 2000, "the refresher stops promptly");
}

static void test_dev_key(void)
{
    char dir[512], sub[600], path[700];
    th_tempdir(dir, sizeof(dir));
    snprintf(sub, sizeof(sub), "%s/var/data", dir);
    snprintf(path, sizeof(path), "%s/token.key", sub);
    char *key = NULL, *again = NULL;
    bool generated = false;
    struct sl_err err = {0};
    is_int(sl_tokens_dev_key(sub, &key, &generated, &err), SL_OK, "dev key: %s", err.msg);
    ok(generated, "generated the first time");
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "token.key has mode 0600");
    struct sl_keyring *k = NULL;
    ok(sl_keyring_parse(key, &k, NULL) == SL_OK, "it is a valid SL_TOKEN_KEY");
    sl_keyring_destroy(k);
    is_int(sl_tokens_dev_key(sub, &again, &generated, &err), SL_OK, "read again");
    ok(!generated, "not generated the second time");
    is_str(again, key, "same key");
    free(key);
    free(again);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sl_log_set_level("warn");
    if (sl_keyring_parse(TH_TOKEN_KEY, &keys, NULL))
        BAIL_OUT("keyring");
    th_db_create(&db);
    F = fake_lever_start();
    if (!F)
        BAIL_OUT("fake Lever did not start");
    fake_lever_set_rate_limit(F, 0, 0);
    fake_lever_add_client(F, CLIENT_ID, CLIENT_SECRET, REDIRECT);
    make_cfg(&cfg, fake_lever_base_url(F), api_url, sizeof(api_url));

    test_basics();
    test_threads();
    test_processes();
    test_revocation();
    test_idle();
    test_dev_key();
    is_int(fake_lever_reuse_count(F), 0, "the fake never saw a reused refresh token");

    fake_lever_stop(F);
    th_db_drop(&db);
    sl_keyring_destroy(keys);
    curl_global_cleanup();
    return done_testing();
}
