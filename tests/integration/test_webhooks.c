/* POST /webhooks/stakha against the real binary and database (SPEC 5). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tap.h"
#include "webhook_sig.h"

static struct th_service svc;
static struct th_db db;
static struct sl_whsecrets *secrets;

/* Posts `body` signed for `id` at now + skew seconds; `sig` overrides the signature
 * header ("" leaves it out). */
static long post_raw(const char *id, long skew, const char *body, size_t len, const char *sig,
                     char **answer)
{
    char ts[32], h_id[300], h_ts[64], h_sig[512], url[128];
    snprintf(ts, sizeof(ts), "%ld", (long)time(NULL) + skew);
    char *signature = sl_webhook_sign(secrets, id, ts, body, len);
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig ? sig : signature);
    const char *headers[] = {h_id, h_ts, h_sig, "Content-Type: application/json", NULL};
    if (sig && !*sig)
        headers[2] = "X-Nothing: 1";
    snprintf(url, sizeof(url), "%s/webhooks/stakha", svc.base_url);
    struct th_resp r;
    th_http(&r, "POST", url, headers, body, len);
    free(signature);
    if (answer)
        *answer = strdup(r.body);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

static long post(const char *id, const char *body)
{
    return post_raw(id, 0, body, strlen(body), NULL, NULL);
}

static char *event(const char *type, const char *created_at, const char *app, const char *job,
                   const char *status, const char *first_name)
{
    char *out = malloc(4096);
    snprintf(out, 4096,
             "{\"type\":\"%s\",\"created_at\":\"%s\",\"data\":{\"team_id\":\"team_1\","
             "\"application\":{\"id\":\"%s\",\"job_id\":\"%s\",\"status\":\"%s\","
             "\"created_at\":\"2026-12-04T15:19:50Z\"},"
             "\"candidate\":{\"id\":\"cand_%s\",\"first_name\":\"%s\",\"last_name\":\"Lovelace\","
             "\"email\":\"%s@example.com\",\"phone\":\"+44 20 7946 0000\","
             "\"location\":\"London\",\"skills\":[\"C\",\"PostgreSQL\"],"
             "\"salary_expectation\":{\"min\":60000,\"max\":70000,\"currency\":\"EUR\","
             "\"period\":\"year\"},\"years_of_experience\":7}}}",
             type, created_at, app, job, status, app, first_name, app);
    return out;
}

static long count_sql(const char *sql)
{
    return th_db_long(&db, sql);
}

struct copy_arg {
    const char *id;
    char *body;
    long status;
};

static void *post_copy(void *arg)
{
    struct copy_arg *a = arg;
    a->status = post(a->id, a->body);
    return NULL;
}

/* Posts n events at once from n threads; returns how many were answered 202. */
static int post_concurrently(struct copy_arg *args, int n)
{
    pthread_t threads[64];
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, post_copy, &args[i]);
    int accepted = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        accepted += args[i].status == 202;
    }
    return accepted;
}

static void refused_422(const char *body, const char *field)
{
    static int n;
    char id[32];
    snprintf(id, sizeof(id), "msg_bad_%d", n++);
    char *answer = NULL;
    long st = post_raw(id, 0, body, strlen(body), NULL, &answer);
    ok(st == 422 && strstr(answer, field), "422 naming %s: %s", field, answer);
    free(answer);
}

int main(void)
{
    struct sl_err err;
    if (sl_whsecrets_parse(TH_WEBHOOK_SECRET, &secrets, &err))
        BAIL_OUT("%s", err.msg);
    th_db_create(&db);
    /* Ingestion alone: no workers taking the deliveries it enqueues. */
    const char *no_workers[] = {"SL_WORKERS=0", NULL};
    if (!th_service_start(&svc, "serve", th_env(&db, no_workers), 20))
        BAIL_OUT("service did not start");

    /* Stored, then repeated. */
    char *e1 =
        event("application.created", "2026-12-04T15:19:56Z", "app_01", "job_42", "applied", "Ada");
    char *answer = NULL;
    is_int(post_raw("msg_1", 0, e1, strlen(e1), NULL, &answer), 202, "first delivery: 202");
    ok(strstr(answer, "stored") != NULL, "answer says stored: %s", answer);
    free(answer);
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_1'"), 1,
           "inbox row stored");
    char *status =
        th_db_value(&db, "SELECT status FROM applications WHERE application_id='app_01'", 0, NULL);
    is_str(status, "applied", "application state stored");
    free(status);
    char *updated = th_db_value(&db, "SELECT updated_at FROM applications", 0, NULL);
    is_int(post("msg_1", e1), 200, "same webhook-id again: 200");
    char *updated2 = th_db_value(&db, "SELECT updated_at FROM applications", 0, NULL);
    is_str(updated2, updated, "nothing changed");
    is_int(count_sql("SELECT count(*) FROM webhook_events"), 1, "still one inbox row");
    free(updated);
    free(updated2);

    /* Signatures. */
    long before = count_sql("SELECT count(*) FROM webhook_events");
    is_int(post_raw("msg_2", 0, e1, strlen(e1), "", NULL), 401, "missing signature: 401");
    is_int(post_raw("msg_2", 0, e1, strlen(e1),
                    "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", NULL),
           401, "wrong signature: 401");
    is_int(post_raw("msg_2", -301, e1, strlen(e1), NULL, NULL), 401, "5:01 old: 401");
    /* +302: the server's clock may tick between our reading and its own. */
    is_int(post_raw("msg_2", 302, e1, strlen(e1), NULL, NULL), 401, "over 5:00 ahead: 401");
    char *tampered = strdup(e1);
    tampered[strlen(tampered) - 3] = ' ';
    {
        char ts[32];
        snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
        char *good = sl_webhook_sign(secrets, "msg_2", ts, e1, strlen(e1));
        char h_ts[64], h_sig[300], url[128];
        snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
        snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", good);
        const char *headers[] = {"webhook-id: msg_2", h_ts, h_sig, NULL};
        snprintf(url, sizeof(url), "%s/webhooks/stakha", svc.base_url);
        struct th_resp r;
        th_http(&r, "POST", url, headers, tampered, strlen(tampered));
        is_int(r.status, 401, "body changed after signing: 401");
        th_resp_free(&r);
        const char *no_id[] = {h_ts, h_sig, NULL};
        th_http(&r, "POST", url, no_id, e1, strlen(e1));
        is_int(r.status, 401, "missing webhook-id: 401");
        th_resp_free(&r);
        const char *no_ts[] = {"webhook-id: msg_2", h_sig, NULL};
        th_http(&r, "POST", url, no_ts, e1, strlen(e1));
        is_int(r.status, 401, "missing webhook-timestamp: 401");
        th_resp_free(&r);
        free(good);
    }
    free(tampered);
    is_int(count_sql("SELECT count(*) FROM webhook_events"), before, "nothing stored for a 401");
    char *e_skew = event("application.created", "2026-12-04T15:19:56Z", "app_skew", "job_42",
                         "applied", "Ada");
    is_int(post_raw("msg_old", -299, e_skew, strlen(e_skew), NULL, NULL), 202, "4:59 old: 202");
    is_int(post_raw("msg_new", 299, e_skew, strlen(e_skew), NULL, NULL), 202, "4:59 ahead: 202");
    free(e_skew);

    /* Bodies and schema. */
    before = count_sql("SELECT count(*) FROM webhook_events");
    is_int(post("msg_bad", "{not json"), 400, "not JSON: 400");
    is_int(post("msg_bad", "[1,2]"), 422, "an array: 422");
    is_int(post("msg_bad", "\"text\""), 422, "a string: 422");
    refused_422("{\"data\":{}}", "type");
    refused_422("{\"type\":\"application.created\"}", "data");
    refused_422("{\"type\":\"application.created\",\"data\":{\"application\":{\"id\":\"a\"}}}",
                "data.team_id");
    refused_422("{\"type\":\"application.created\",\"data\":{\"team_id\":\"t/1\","
                "\"application\":{\"id\":\"a\"}}}",
                "data.team_id");
    refused_422("{\"type\":\"application.created\",\"data\":{\"team_id\":\"t1\","
                "\"application\":{\"id\":\"a\",\"status\":\"applied\"},\"candidate\":{\"id\":\"c\","
                "\"first_name\":\"A\"}}}",
                "data.application.job_id");
    refused_422("{\"type\":\"application.updated\",\"data\":{\"team_id\":\"t1\","
                "\"application\":{\"id\":\"a\",\"job_id\":\"j\",\"status\":\"applied\"},"
                "\"candidate\":{\"id\":\"c\"}}}",
                "first_name");
    refused_422("{\"type\":\"application.created\",\"data\":{\"team_id\":\"t1\","
                "\"application\":{\"id\":\"a\",\"job_id\":\"j\",\"status\":\"applied\"},"
                "\"candidate\":{\"id\":\"c\",\"first_name\":\"A\",\"email\":42}}}",
                "data.candidate.email");
    refused_422("{\"type\":\"application.created\",\"data\":{\"team_id\":\"t1\","
                "\"application\":{\"id\":\"a\",\"job_id\":\"j\",\"status\":7},"
                "\"candidate\":{\"id\":\"c\",\"first_name\":\"A\"}}}",
                "data.application.status");
    refused_422("{\"type\":\"application.created\",\"data\":{\"team_id\":\"t1\","
                "\"application\":{\"id\":\"a\",\"job_id\":\"j\",\"status\":\"applied\"},"
                "\"candidate\":{\"id\":\"c\",\"first_name\":\"A\",\"skills\":[\"C\",3]}}}",
                "data.candidate.skills[1]");
    refused_422("{\"type\":\"application.created\",\"created_at\":\"yesterday\",\"data\":{}}",
                "created_at");
    is_int(count_sql("SELECT count(*) FROM webhook_events"), before, "nothing stored for a 4xx");

    /* Unknown type: stored, otherwise ignored. */
    long apps = count_sql("SELECT count(*) FROM applications");
    is_int(post("msg_unknown", "{\"type\":\"job.archived\",\"data\":{\"job_id\":\"j\"}}"), 202,
           "unknown type: 202");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_unknown'"), 1,
           "unknown type stored");
    is_int(count_sql("SELECT count(*) FROM applications"), apps, "and otherwise ignored");

    /* Inputs. */
    const char *unicode =
        "{\"type\":\"application.created\",\"data\":{\"team_id\":\"team_1\","
        "\"application\":{\"id\":\"app_u\",\"job_id\":\"j\",\"status\":\"applied\"},"
        "\"candidate\":{\"id\":\"c_u\",\"first_name\":\"Zoë 李\","
        "\"last_name\":\"Ngũgĩ 🚀\"}}}";
    is_int(post("msg_unicode", unicode), 202, "unicode names: 202");
    char *name = th_db_value(&db,
                             "SELECT candidate->>'last_name' FROM applications "
                             "WHERE application_id='app_u'",
                             0, NULL);
    is_str(name, "Ngũgĩ 🚀", "unicode stored intact");
    free(name);
    const char *nulls = "{\"type\":\"application.created\",\"created_at\":null,\"data\":{"
                        "\"team_id\":\"team_1\",\"application\":{\"id\":\"app_n\",\"job_id\":\"j\","
                        "\"status\":\"applied\",\"created_at\":null},\"candidate\":{\"id\":\"c\","
                        "\"first_name\":null,\"last_name\":\"Only\",\"email\":null,\"phone\":null,"
                        "\"location\":null,\"resume_url\":null,\"profile_url\":null,"
                        "\"github_url\":null,\"twitter_url\":null,\"linkedin_url\":null,"
                        "\"summary\":null,\"salary_expectation\":null,\"availability\":null,"
                        "\"years_of_experience\":null,\"contract_types\":null,\"skills\":null}}}";
    is_int(post("msg_nulls", nulls), 202, "null in every optional field: 202");

    struct sl_buf_like {
        char *p;
        size_t n;
    } big = {malloc(2 * 1024 * 1024), 0};
    big.n =
        (size_t)sprintf(big.p, "{\"type\":\"application.created\",\"data\":{\"team_id\":\"team_1\","
                               "\"application\":{\"id\":\"app_big\",\"job_id\":\"j\",\"status\":"
                               "\"applied\"},\"candidate\":{\"id\":\"c\",\"first_name\":\"B\","
                               "\"skills\":[");
    for (int i = 0; i < 10000; i++)
        big.n += (size_t)sprintf(big.p + big.n, "%s\"skill number %05d\"", i ? "," : "", i);
    big.n += (size_t)sprintf(big.p + big.n, "]}}}");
    ok(big.n < 1024 * 1024, "10,000 skills fit in 1 MiB (%zu bytes)", big.n);
    is_int(post_raw("msg_skills", 0, big.p, big.n, NULL, NULL), 202, "10,000-element skills: 202");
    is_int(count_sql("SELECT jsonb_array_length(candidate->'skills') FROM applications "
                     "WHERE application_id='app_big'"),
           10000, "all 10,000 stored");

    /* Exactly 1 MiB is accepted; one byte more is 413. */
    size_t mib = 1024 * 1024;
    big.n = (size_t)sprintf(big.p, "{\"type\":\"padding.test\",\"pad\":\"");
    while (big.n < mib - 2)
        big.p[big.n++] = 'x';
    big.p[big.n++] = '"';
    big.p[big.n++] = '}';
    is_int(big.n, mib, "a body of exactly 1 MiB");
    is_int(post_raw("msg_mib", 0, big.p, big.n, NULL, NULL), 202, "exactly 1 MiB: 202");
    big.p[big.n - 1] = ' ';
    big.p[big.n++] = '}';
    is_int(post_raw("msg_mib_plus", 0, big.p, big.n, NULL, NULL), 413, "1 MiB + 1 byte: 413");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_mib_plus'"), 0,
           "nothing stored for a 413");

    /* Nesting 1,000 deep in an ignored field. */
    big.n = (size_t)sprintf(big.p, "{\"type\":\"deep.test\",\"deep\":");
    for (int i = 0; i < 1000; i++)
        big.p[big.n++] = '[';
    for (int i = 0; i < 1000; i++)
        big.p[big.n++] = ']';
    big.p[big.n++] = '}';
    big.p[big.n] = '\0';
    is_int(post_raw("msg_deep", 0, big.p, big.n, NULL, NULL), 202, "nesting 1,000 deep: 202");
    free(big.p);

    /* 50 concurrent copies of one webhook. */
    char *e_c =
        event("application.created", "2026-12-04T15:19:56Z", "app_c", "job_42", "applied", "Con");
    struct copy_arg args[50];
    for (int i = 0; i < 50; i++)
        args[i] = (struct copy_arg){.id = "msg_concurrent", .body = e_c};
    int created = post_concurrently(args, 50), dup = 0;
    for (int i = 0; i < 50; i++)
        dup += args[i].status == 200;
    is_int(created, 1, "50 concurrent copies: one 202");
    is_int(dup, 49, "and 49 200s");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_concurrent'"), 1,
           "exactly one inbox row");
    is_int(count_sql("SELECT event_seq FROM applications WHERE application_id='app_c'") > 0, 1,
           "one application row");
    free(e_c);

    /* Concurrent distinct events (batched together) and concurrent updates of
     * one application (batched with the event-by-event path). */
    char ids[40][32];
    for (int i = 0; i < 40; i++) {
        char app[32], at[32];
        snprintf(ids[i], sizeof(ids[i]), "msg_many_%d", i);
        if (i < 20) {
            snprintf(app, sizeof(app), "app_many_%d", i);
            args[i].body = event("application.created", "2026-12-04T15:19:56Z", app, "job_9",
                                 "applied", "Many");
        } else {
            snprintf(at, sizeof(at), "2026-12-04T16:00:%02dZ", i);
            args[i].body = event("application.updated", at, "app_one", "job_9", at, "One");
        }
        args[i].id = ids[i];
    }
    is_int(post_concurrently(args, 40), 40, "40 concurrent events: all 202");
    is_int(
        count_sql("SELECT count(*) FROM applications WHERE application_id LIKE 'app\\_many\\_%'"),
        20, "20 distinct applications stored");
    status =
        th_db_value(&db, "SELECT status FROM applications WHERE application_id='app_one'", 0, NULL);
    is_str(status, "2026-12-04T16:00:39Z", "concurrent updates of one application: newest wins");
    free(status);
    for (int i = 0; i < 40; i++)
        free(args[i].body);

    /* Out of order: an older created after a newer updated. */
    char *newer = event("application.updated", "2026-12-04T16:00:00Z", "app_o", "job_42",
                        "interview", "Newer");
    char *older =
        event("application.created", "2026-12-04T15:00:00Z", "app_o", "job_42", "applied", "Older");
    is_int(post("msg_o_new", newer), 202, "newer update stored");
    is_int(post("msg_o_old", older), 202, "older create stored");
    status = th_db_value(&db,
                         "SELECT status || ' ' || (candidate->>'first_name') FROM applications "
                         "WHERE application_id='app_o'",
                         0, NULL);
    is_str(status, "interview Newer", "the newer state stays");
    free(status);
    free(newer);
    free(older);

    /* Syncs: which applications get a delivery. */
    th_db_exec(&db, "INSERT INTO job_syncs (team_id, job_id, lever_posting_id) "
                    "VALUES ('team_1', 'job_s', 'post_s'), ('team_1', 'job_t', 'post_t')");
    char *s1 =
        event("application.created", "2026-12-04T15:00:00Z", "app_s1", "job_s", "applied", "S");
    is_int(post("msg_s1", s1), 202, "application of a synced job");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s1' "
                     "AND state IN ('pending', 'parked') AND lever_posting_id='post_s'"),
           1, "gets a delivery to the posting");
    char *s2 =
        event("application.created", "2026-12-04T15:00:00Z", "app_s2", "job_s", "added", "S");
    is_int(post("msg_s2", s2), 202, "application in status added");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s2'"), 0,
           "gets no delivery");
    char *s2b =
        event("application.updated", "2026-12-04T15:01:00Z", "app_s2", "job_s", "applied", "S");
    is_int(post("msg_s2b", s2b), 202, "moved out of added");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s2'"), 1,
           "is enqueued");
    th_db_exec(&db, "UPDATE deliveries SET state='delivered' WHERE application_id='app_s1'");
    char *s1b =
        event("application.updated", "2026-12-04T15:02:00Z", "app_s1", "job_s", "interview", "S");
    is_int(post("msg_s1b", s1b), 202, "update of a delivered application");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s1'"), 1,
           "is stored, not pushed again");
    char *s2c =
        event("application.updated", "2026-12-04T15:03:00Z", "app_s2", "job_t", "applied", "S");
    is_int(post("msg_s2c", s2c), 202, "application changes job");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s2' "
                     "AND lever_posting_id='post_s' AND state='cancelled'"),
           1, "old job's undelivered delivery cancelled");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s2' "
                     "AND lever_posting_id='post_t' AND state IN ('pending', 'parked')"),
           1, "new job's sync applies");

    /* Deleted: candidate data erased, undelivered work stopped. */
    const char *del = "{\"type\":\"application.deleted\",\"created_at\":\"2026-12-04T15:04:00Z\","
                      "\"data\":{\"team_id\":\"team_1\",\"application\":{\"id\":\"app_s2\"}}}";
    is_int(post("msg_del", del), 202, "deleted: 202");
    is_int(count_sql("SELECT count(*) FROM applications WHERE application_id='app_s2' "
                     "AND candidate IS NULL AND deleted"),
           1, "candidate data erased");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE application_id='app_s2' "
                     "AND payload IS NOT NULL"),
           0, "inbox payloads of the application erased");
    is_int(count_sql("SELECT count(*) FROM deliveries WHERE application_id='app_s2' "
                     "AND state NOT IN ('cancelled','delivered')"),
           0, "undelivered delivery stopped");
    char *late =
        event("application.updated", "2026-12-04T15:05:00Z", "app_s2", "job_t", "applied", "Late");
    is_int(post("msg_late", late), 202, "an update after deletion is accepted");
    is_int(count_sql("SELECT count(*) FROM applications WHERE application_id='app_s2' "
                     "AND candidate IS NULL"),
           1, "but does not bring the data back");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_late' "
                     "AND payload IS NULL"),
           1, "nor keep it in the inbox");
    free(late);
    free(s1);
    free(s1b);
    free(s2);
    free(s2b);
    free(s2c);

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");

    /* Database unavailable: 503, never 2xx; then accepted without a restart. */
    struct th_proxy *proxy = th_proxy_start(th_pg_port());
    char url[600];
    snprintf(url, sizeof(url), "DATABASE_URL=host=127.0.0.1 port=%d user=postgres dbname=%s",
             th_proxy_port(proxy), db.name);
    const char *env[] = {url, NULL};
    if (!th_service_start(&svc, "serve", env, 20))
        BAIL_OUT("service did not start behind the proxy");
    char *e_out =
        event("application.created", "2026-12-04T15:19:56Z", "app_out", "job_42", "applied", "Out");
    th_proxy_set_down(proxy, true);
    is_int(post("msg_outage", e_out), 503, "database down: 503");
    is_int(post("msg_outage", e_out), 503, "still 503 on retry");
    th_proxy_set_down(proxy, false);
    long st = 0;
    for (int i = 0; i < 50 && st != 202; i++) {
        st = post("msg_outage", e_out);
        if (st != 202)
            usleep(100 * 1000);
    }
    is_int(st, 202, "database back: the same webhook is accepted");
    is_int(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id='msg_outage'"), 1,
           "stored once");
    free(e_out);
    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");
    th_proxy_stop(proxy);

    /* Retention: old inbox rows are deleted in the background. */
    th_db_exec(
        &db, "INSERT INTO webhook_events (webhook_id, type, received_at) "
             "SELECT 'old_' || g, 'x', now() - interval '3 days' FROM generate_series(1, 2500) g");
    const char *ret_env[] = {"SL_INBOX_RETENTION_DAYS=2", NULL};
    if (!th_service_start(&svc, "serve", th_env(&db, ret_env), 20))
        BAIL_OUT("service did not start");
    long left = -1;
    for (int i = 0; i < 100 && left != 0; i++) {
        usleep(100 * 1000);
        left = count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id LIKE 'old\\_%'");
    }
    is_int(left, 0, "events older than the retention are deleted");
    ok(count_sql("SELECT count(*) FROM webhook_events WHERE webhook_id = 'msg_1'") == 1,
       "recent ones stay");
    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "exit 0");

    free(e1);
    sl_whsecrets_destroy(secrets);
    th_db_drop(&db);
    return done_testing();
}
