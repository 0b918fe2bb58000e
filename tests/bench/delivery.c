/*
 * delivery.c: the delivery engine's figures (issue 6), against the real binary, the run's
 * PostgreSQL and the fake Lever. One mode per run, one or more BENCH lines on stdout,
 * progress on stderr:
 *
 *   delivery drain       drain_1000_s: 1,000 applications of one connection at
 *                        SL_LEVER_RPS=10, the fake instant but limiting like Lever (10/s,
 *                        bursts of 20). Baseline: requests made / 10, the least time the
 *                        limit allows. Also e2e_429: the 429s the fake had to answer.
 *   delivery throughput  deliveries_per_s: SL_DELIVERY_N applications (default 2,000) with
 *                        the limit lifted (SL_LEVER_RPS=1000000, fake unlimited and instant),
 *                        SL_WORKERS=4, the median of the rounds. The baseline comes from
 *                        the script (pgbench), in SL_BENCH_BASELINE.
 *   delivery latency     ingest_to_lever_p50_ms and _p99_ms: signed webhooks at 100/s for
 *                        10 s; per application, the time from the webhook's 2xx to the fake
 *                        receiving its POST /opportunities (both on this host's clock).
 *   delivery bloat       claim_bloat_ratio: queue cycles a second (sl_queue_claim + complete,
 *                        4 threads, 20,000 rows) with 1,000,000 delivered rows in the table,
 *                        divided by the same with none.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "delivery_fixture.h"
#include "harness.h"
#include "lever_fixture.h"
#include "queue.h"
#include "util.h"
#include "webhook_sig.h"

/* A whole-number setting from the environment, or `def` when unset or malformed. */
static long env_long(const char *name, long def)
{
    long v;
    const char *s = getenv(name);
    return s && sl_parse_long(s, 1, 100000000, &v) ? v : def;
}

static int rounds(void)
{
    long r = env_long("SL_BENCH_ROUNDS", 5);
    return r < 5 ? 5 : (int)r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A migrated database, a connected team on the fake, a synced job. */
static void setup(struct th_db *db, struct fake_lever *f, const char **posting)
{
    *posting = fake_lever_add_posting(f, "acct_1", "p-bench", "Bench Engineer", "published",
                                      "public", "Eng", "Remote");
    th_db_create_empty(db);
    struct th_service m;
    th_service_start(&m, "migrate", th_env(db, NULL), 0);
    if (th_service_wait(&m, 60) != 0) {
        fprintf(stderr, "bench: migrate failed\n");
        exit(1);
    }
    tf_lever_env(f);
    free(tf_connect_team(db, f, "team_b", "acct_1", 3600));
    td_sync_job(db, "team_b", "job_b", *posting);
}

static long delivered(const struct th_db *db)
{
    return th_db_long(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'");
}

/* Ingests n applications (prefix) and returns the seconds until all are delivered. */
static double drain(const struct th_db *db, const char *prefix, int n)
{
    long before = delivered(db);
    long long t0 = th_now_ms();
    td_ingest(db, "team_b", "job_b", prefix, n, true);
    long got = td_wait_count(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
                             before + n, 900000);
    if (got != before + n) {
        fprintf(stderr, "bench: only %ld of %d delivered\n", got - before, n);
        exit(1);
    }
    return (double)(th_now_ms() - t0) / 1000;
}

static int mode_drain(void)
{
    int n = (int)env_long("SL_DELIVERY_N", 1000);
    struct fake_lever *f = fake_lever_start();
    fake_lever_set_rate_limit(f, 10, 20); /* Lever's documented defaults */
    struct th_db db;
    const char *posting;
    setup(&db, f, &posting);
    struct th_service svc;
    const char *extra[] = {"SL_LEVER_RPS=10", "SL_WORKERS=4", NULL};
    td_start(&svc, &db, f, extra);
    sleep(2); /* the bucket fills up: the figure starts from a rested account */
    fake_lever_reset_log(f);
    int before_429 = fake_lever_count_429(f);
    double s = drain(&db, "d", n);
    int requests = fake_lever_count(f, NULL, "/v1/");
    int e2e_429 = fake_lever_count_429(f) - before_429;
    double baseline = requests / 10.0;
    note("drain: %d deliveries, %d Lever requests in %.1f s (the limit allows %.1f s); "
         "%d x 429; max %d requests in a second",
         n, requests, s, baseline, e2e_429, fake_lever_max_rps(f, "acct_1"));
    printf("BENCH drain_1000_s value=%.1f unit=s baseline=%.1f ratio=%.3f\n", s, baseline,
           s / baseline);
    printf("BENCH e2e_429 value=%d unit=count baseline=none ratio=none\n", e2e_429);
    th_service_stop(&svc, SIGTERM, 15);
    fake_lever_stop(f);
    th_db_drop(&db);
    return 0;
}

/* CPU seconds (user + system) a process used so far, from /proc. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int mode_throughput(void)
{
    int n = (int)env_long("SL_DELIVERY_N", 2000);
    const char *base_s = getenv("SL_BENCH_BASELINE");
    struct th_db db;
    const char *posting;
    int r = rounds();
    double *rate = calloc((size_t)r, sizeof(double));
    for (int i = 0; i < r; i++) {
        /* A fresh fake a round: its lookups are linear scans, and a fake holding the previous
         * rounds' thousands of opportunities would slow down the figure, not the service. */
        struct fake_lever *f = fake_lever_start();
        fake_lever_set_rate_limit(f, 0, 0);
        if (i == 0) {
            setup(&db, f, &posting);
        } else {
            fake_lever_add_posting(f, "acct_1", "p-bench", "Bench Engineer", "published", "public",
                                   "Eng", "Remote");
            tf_lever_env(f);
            free(tf_connect_team(&db, f, "team_b", "acct_1", 3600));
        }
        struct th_service svc;
        const char *extra[] = {"SL_LEVER_RPS=1000000", "SL_WORKERS=4", NULL};
        td_start(&svc, &db, f, extra);
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "w%d_", i);
        drain(&db, prefix, 20); /* connections, stage cache */
        snprintf(prefix, sizeof(prefix), "r%d_", i);
        double svc0 = proc_cpu_s(svc.pid), fake0 = self_cpu_s();
        double s = drain(&db, prefix, n);
        double svc_ms = (proc_cpu_s(svc.pid) - svc0) * 1000 / n;
        double fake_ms = (self_cpu_s() - fake0) * 1000 / n;
        rate[i] = n / s;
        note("deliveries_per_s round %d/%d: %d in %.2f s = %.0f/s; CPU per delivery: service "
             "%.2f ms, fake Lever %.2f ms",
             i + 1, r, n, s, rate[i], svc_ms, fake_ms);
        th_service_stop(&svc, SIGTERM, 15);
        fake_lever_stop(f);
    }
    double m = median(rate, r);
    if (base_s)
        printf("BENCH deliveries_per_s value=%.0f unit=deliveries/s baseline=%s ratio=%.3f\n", m,
               base_s, m / strtod(base_s, NULL));
    else
        printf("BENCH deliveries_per_s value=%.0f unit=deliveries/s baseline=none ratio=none\n", m);
    free(rate);
    th_db_drop(&db);
    return 0;
}

/* ---- latency ---- */

static int mode_latency(void)
{
    int rate = 100, seconds = (int)env_long("SL_BENCH_SECONDS", 10);
    int n = rate * seconds;
    struct fake_lever *f = fake_lever_start();
    fake_lever_set_rate_limit(f, 0, 0);
    struct th_db db;
    const char *posting;
    setup(&db, f, &posting);
    struct th_service svc;
    const char *extra[] = {"SL_LEVER_RPS=1000000", "SL_WORKERS=4", NULL};
    td_start(&svc, &db, f, extra);
    struct sl_whsecrets *secrets = NULL;
    struct sl_err err;
    if (sl_whsecrets_parse(TH_WEBHOOK_SECRET, &secrets, &err))
        return 1;
    /* Warm up: one delivery, so the stage list is cached as in steady state. */
    drain(&db, "warm", 1);
    fake_lever_reset_log(f);
    double *acked_ms = calloc((size_t)n, sizeof(double)); /* wall clock of each 2xx */
    char url[128];
    snprintf(url, sizeof(url), "%s/webhooks/stakha", svc.base_url);
    long long start = sl_now_us();
    int failed = 0;
    for (int i = 0; i < n; i++) {
        long long due = start + (long long)i * 1000000 / rate;
        long long now = sl_now_us();
        if (due > now) {
            struct timespec ts = {(time_t)((due - now) / 1000000),
                                  (long)((due - now) % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        char body[1024], id[64], ts[32], h_id[100], h_ts[64], h_sig[256];
        snprintf(body, sizeof(body),
                 "{\"type\":\"application.created\",\"data\":{\"team_id\":\"team_b\","
                 "\"application\":{\"id\":\"lat%d\",\"job_id\":\"job_b\",\"status\":\"applied\"},"
                 "\"candidate\":{\"id\":\"c%d\",\"first_name\":\"Lat\",\"last_name\":\"%d\","
                 "\"email\":\"lat%d@example.com\",\"skills\":[\"C\"]}}}",
                 i, i, i, i);
        snprintf(id, sizeof(id), "msg_lat_%d", i);
        snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
        char *sig = sl_webhook_sign(secrets, id, ts, body, strlen(body));
        snprintf(h_id, sizeof(h_id), "webhook-id: %s", id);
        snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
        snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
        const char *headers[] = {h_id, h_ts, h_sig, "Content-Type: application/json", NULL};
        struct th_resp resp;
        th_http(&resp, "POST", url, headers, body, strlen(body));
        acked_ms[i] = (double)sl_now_us() / 1000.0;
        failed += resp.status != 202;
        th_resp_free(&resp);
        free(sig);
    }
    if (failed) {
        fprintf(stderr, "bench: %d webhooks not accepted\n", failed);
        return 1;
    }
    long got = td_wait_count(&db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
                             n + 1, 60000);
    if (got != n + 1) {
        fprintf(stderr, "bench: %ld of %d delivered\n", got - 1, n);
        return 1;
    }
    double *lat = calloc((size_t)n, sizeof(double));
    int k = 0;
    json_t *reqs = fake_lever_requests(f);
    size_t i;
    json_t *rq;
    json_array_foreach(reqs, i, rq)
    {
        if (strcmp(json_string_value(json_object_get(rq, "method")), "POST") != 0 ||
            strcmp(json_string_value(json_object_get(rq, "path")), "/v1/opportunities") != 0)
            continue;
        json_t *b = json_loads(json_string_value(json_object_get(rq, "body")), 0, NULL);
        const char *email = json_string_value(json_array_get(json_object_get(b, "emails"), 0));
        int app = -1;
        if (email && sscanf(email, "lat%d@", &app) == 1 && app >= 0 && app < n && k < n)
            lat[k++] = (double)json_integer_value(json_object_get(rq, "time_ms")) - acked_ms[app];
        json_decref(b);
    }
    json_decref(reqs);
    qsort(lat, (size_t)k, sizeof(double), cmp_double);
    double p50 = lat[k / 2], p99 = lat[(int)(k * 0.99)], max = lat[k - 1];
    note("ingest to Lever at %d/s for %d s: %d creates, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
         rate, seconds, k, p50, p99, max);
    printf("BENCH ingest_to_lever_p50_ms value=%.1f unit=ms baseline=none ratio=none\n", p50);
    printf("BENCH ingest_to_lever_p99_ms value=%.1f unit=ms baseline=none ratio=none\n", p99);
    free(lat);
    free(acked_ms);
    sl_whsecrets_destroy(secrets);
    th_service_stop(&svc, SIGTERM, 15);
    fake_lever_stop(f);
    th_db_drop(&db);
    return 0;
}

/* ---- claim under bloat ---- */

struct cycler {
    const char *url;
    int done;
};

static void *cycle(void *arg)
{
    struct cycler *c = arg;
    struct sl_db *db = NULL;
    struct sl_err err;
    if (sl_db_connect(c->url, 5, &db, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    char owner[64];
    snprintf(owner, sizeof(owner), "bench/%p", (void *)c);
    struct sl_attempt a = {.started_us = sl_now_us(),
                           .endpoint = "POST /opportunities/{id}/notes",
                           .http_status = 201};
    for (;;) {
        struct sl_delivery *v = NULL;
        int n = 0;
        if (sl_queue_claim(db, owner, 30, 2, &v, &n, &err)) {
            fprintf(stderr, "bench: claim: %s\n", err.msg);
            exit(1);
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++) {
            if (sl_queue_complete(db, &v[i], owner, "note", &a, &err)) {
                fprintf(stderr, "bench: complete: %s\n", err.msg);
                exit(1);
            }
            c->done++;
        }
        sl_deliveries_free(v, n);
    }
    sl_db_close(db);
    return NULL;
}

/* Queue cycles a second over `n` fresh pending rows, 4 threads. */
static double cycle_rate(const struct th_db *db, int n, int round)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO deliveries (team_id, application_id, job_id, lever_posting_id)"
             " SELECT 'team_c', 'r%d_' || g, 'job_c', 'p' FROM generate_series(1, %d) g",
             round, n);
    th_db_exec(db, sql);
    th_db_exec(db, "ANALYZE deliveries");
    struct cycler c[4];
    pthread_t t[4];
    long long t0 = th_now_ms();
    for (int i = 0; i < 4; i++) {
        c[i] = (struct cycler){.url = db->url};
        pthread_create(&t[i], NULL, cycle, &c[i]);
    }
    int done = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        done += c[i].done;
    }
    double s = (double)(th_now_ms() - t0) / 1000;
    if (done != n) {
        fprintf(stderr, "bench: cycled %d of %d\n", done, n);
        exit(1);
    }
    return n / s;
}

static int mode_bloat(void)
{
    int n = (int)env_long("SL_DELIVERY_N", 20000);
    long bloat = env_long("SL_BLOAT_ROWS", 1000000);
    struct th_db db;
    th_db_create_empty(&db);
    struct th_service m;
    th_service_start(&m, "migrate", th_env(&db, NULL), 0);
    if (th_service_wait(&m, 60) != 0)
        return 1;
    int r = rounds();
    double *empty = calloc((size_t)r, sizeof(double)), *full = calloc((size_t)r, sizeof(double));
    for (int i = 0; i < r; i++) {
        th_db_exec(&db, "DELETE FROM delivery_attempts");
        th_db_exec(&db, "DELETE FROM deliveries");
        th_db_exec(&db, "VACUUM ANALYZE deliveries");
        empty[i] = cycle_rate(&db, n, i);
        note("claim_bloat_ratio: empty table, round %d/%d: %.0f cycles/s", i + 1, r, empty[i]);
    }
    th_db_exec(&db, "DELETE FROM delivery_attempts");
    th_db_exec(&db, "DELETE FROM deliveries");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO deliveries (team_id, application_id, job_id, lever_posting_id, state,"
             " attempts, lever_opportunity_id, lever_note_id, first_attempt_at, delivered_at)"
             " SELECT 'team_old', 'old_' || g, 'job_old', 'p', 'delivered', 1, 'o' || g,"
             " 'n' || g, now(), now() FROM generate_series(1, %ld) g",
             bloat);
    long long t0 = th_now_ms();
    th_db_exec(&db, sql);
    th_db_exec(&db, "VACUUM ANALYZE deliveries");
    note("claim_bloat_ratio: %ld delivered rows inserted in %.1f s", bloat,
         (double)(th_now_ms() - t0) / 1000);
    for (int i = 0; i < r; i++) {
        full[i] = cycle_rate(&db, n, 100 + i);
        note("claim_bloat_ratio: %ld delivered rows, round %d/%d: %.0f cycles/s", bloat, i + 1, r,
             full[i]);
    }
    double e = median(empty, r), b = median(full, r);
    printf("BENCH claim_bloat_ratio value=%.3f unit=ratio baseline=none ratio=none\n", b / e);
    note("claim_bloat_ratio: %.0f cycles/s with %ld delivered rows, %.0f with none", b, bloat, e);
    free(empty);
    free(full);
    th_db_drop(&db);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "drain") == 0)
        return mode_drain();
    if (argc == 2 && strcmp(argv[1], "throughput") == 0)
        return mode_throughput();
    if (argc == 2 && strcmp(argv[1], "latency") == 0)
        return mode_latency();
    if (argc == 2 && strcmp(argv[1], "bloat") == 0)
        return mode_bloat();
    fprintf(stderr, "usage: %s drain|throughput|latency|bloat\n", argv[0]);
    return 2;
}
