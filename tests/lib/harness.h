/*
 * harness.h: what integration tests share.
 *
 * - The run's PostgreSQL (started by tests/lib/test.sh, described by the
 *   SL_TEST_PG connection string) and a fresh database per test, copied from
 *   the migrated template `sl_template`.
 * - The real service binary (SL_TEST_BIN), started with a chosen
 *   environment on 127.0.0.1 port 0; its port is read from its "listening"
 *   log line and its stderr is kept in a file the test can search.
 * - A small HTTP client on libcurl and a TCP proxy that can cut a database
 *   off and bring it back, to play outages.
 *
 * Everything BAIL_OUTs on harness failures: they are not what a test checks.
 */
#ifndef SL_HARNESS_H
#define SL_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---- databases ---- */

struct th_db {
    char name[64];
    char url[512]; /* libpq key=value string */
};

/* A fresh database: from the migrated template, or empty. */
void th_db_create(struct th_db *db);
void th_db_create_empty(struct th_db *db);
void th_db_drop(struct th_db *db);
/* Runs `sql` (with optional text params) and returns the first column of the
 * first row (caller frees), or NULL when there is no row or the value is NULL. */
char *th_db_value(const struct th_db *db, const char *sql, int nparams, const char *const *params);
/* Runs `sql` and returns the first column of the first row as a number (-1 on NULL/no row). */
long th_db_long(const struct th_db *db, const char *sql);
/* Runs `sql`, BAIL_OUT on error. */
void th_db_exec(const struct th_db *db, const char *sql);
/* The run's server as "host=... port=... user=postgres". */
const char *th_pg_base(void);
/* The port of the run's server. */
int th_pg_port(void);

/* ---- the service ---- */

/* Secrets th_service_start() sets unless the test's environment sets them. */
#define TH_API_TOKEN "test-api-token"
#define TH_WEBHOOK_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define TH_TOKEN_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

struct th_service {
    pid_t pid;
    int port;
    char base_url[64];
    char log_path[320];
    char dir[256]; /* a private temp directory (data dir, files) */
};

/* Starts the binary with `cmd` ("serve"/"migrate") and exactly the given
 * environment ("K=V" strings, NULL-terminated) plus PATH, SL_HTTP_ADDR
 * (127.0.0.1:0 unless given), SL_DATA_DIR (a temp dir unless given) and the
 * TH_* secrets above unless given (a value "-" for a name leaves it unset).
 * For "serve", waits until it listens (returns false if it exited first or
 * did not listen within `wait_s`). */
bool th_service_start(struct th_service *svc, const char *cmd, const char *const *env, int wait_s);
/* Sends `sig` (0: none) and waits up to `wait_s` for the exit; returns the exit
 * status, 128+signal when killed, or -1 when it did not exit (then SIGKILLed). */
int th_service_stop(struct th_service *svc, int sig, int wait_s);
/* Waits for the process to exit by itself; same return values. */
int th_service_wait(struct th_service *svc, int wait_s);
/* True when the service's stderr contains `needle`. */
bool th_service_log_contains(const struct th_service *svc, const char *needle);
/* Polls the log until it contains `needle` or `timeout_ms` passes (access
 * lines are written in blocks, at least every 100 ms). */
bool th_service_log_wait(const struct th_service *svc, const char *needle, int timeout_ms);
/* The whole stderr log (caller frees). */
char *th_service_log(const struct th_service *svc);
/* An environment with DATABASE_URL=<db> and the given extras, for th_service_start.
 * Returns a static-lifetime array valid until the next call. */
const char *const *th_env(const struct th_db *db, const char *const *extra);

/* ---- HTTP ---- */

struct th_resp {
    long status; /* 0: transport error */
    char *body;
    size_t len;
    char *headers;  /* raw response headers */
    double seconds; /* total time */
};

/* One request. `headers` is NULL-terminated "Name: value" strings or NULL. */
void th_http(struct th_resp *r, const char *method, const char *url, const char *const *headers,
             const char *body, size_t len);
/* GET base+path, convenience. */
void th_get(struct th_resp *r, const struct th_service *svc, const char *path);
/* The value of a response header (caller frees) or NULL. */
char *th_resp_header(const struct th_resp *r, const char *name);
/* The body parsed as JSON (caller owns) or NULL. */
json_t *th_resp_json(const struct th_resp *r);
void th_resp_free(struct th_resp *r);
/* Polls GET base+path until it answers `status` or `timeout_ms` passes. */
bool th_wait_status(const struct th_service *svc, const char *path, long status, int timeout_ms);

/* ---- a TCP proxy to play database outages ---- */

struct th_proxy;
/* Listens on 127.0.0.1 port 0 and forwards to 127.0.0.1:target_port. */
struct th_proxy *th_proxy_start(int target_port);
int th_proxy_port(const struct th_proxy *p);
/* Down: closes every connection and refuses new ones. Up: accepts again. */
void th_proxy_set_down(struct th_proxy *p, bool down);
void th_proxy_stop(struct th_proxy *p);

/* ---- misc ---- */

/* Live processes whose command line contains `needle` and, when `ppid` > 0,
 * whose parent is `ppid` (zombies do not count). *found (may be NULL) gets
 * one of their PIDs. */
int th_processes(const char *needle, pid_t ppid, pid_t *found);

/* A fresh directory under the run's temp dir, traversable by postgres. */
void th_tempdir(char *out, size_t n);
/* Milliseconds of a monotonic clock. */
long long th_now_ms(void);
/* The service binary under test. */
const char *th_bin(void);

#endif
