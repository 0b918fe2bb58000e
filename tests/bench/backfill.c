/*
 * backfill.c: the `backfill_100k_ms` figure (issue 5): how long one
 * PUT .../lever-sync takes to enqueue 100,000 stored applications, the
 * median of SL_BENCH_ROUNDS (default 7) rounds against the real binary, the
 * run's PostgreSQL and the fake Lever. Each round starts from no sync and
 * no deliveries, so each measures the same insert path. Prints one BENCH
 * line; progress on stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lever_fixture.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    int rounds = getenv("SL_BENCH_ROUNDS") ? atoi(getenv("SL_BENCH_ROUNDS")) : 7;
    if (rounds < 5)
        rounds = 5;
    struct fake_lever *f = fake_lever_start();
    fake_lever_add_posting(f, "acct_1", "p-bench", "Bench Engineer", "published", "public", "Eng",
                           "Remote");
    struct th_db db;
    th_db_create_empty(&db);
    struct th_service svc;
    th_service_start(&svc, "migrate", th_env(&db, NULL), 0);
    if (th_service_wait(&svc, 60) != 0) {
        fprintf(stderr, "bench: migrate failed\n");
        return 1;
    }
    th_db_exec(&db, "INSERT INTO applications (team_id, application_id, job_id, status,"
                    " candidate_id, candidate, event_created_at, event_seq)"
                    " SELECT 'team_b', 'app_' || g, 'job_b', 'applied', 'c' || g,"
                    " jsonb_build_object('id', 'c' || g, 'first_name', 'Ada', 'last_name',"
                    " 'Lovelace', 'email', 'ada' || g || '@example.com'), now(), g"
                    " FROM generate_series(1, 100000) g");
    th_db_exec(&db, "ANALYZE");
    free(tf_connect_team(&db, f, "team_b", "acct_1", 3600));
    const char *extra[] = {"SL_WORKERS=0", NULL};
    if (!th_service_start(&svc, "serve", th_env(&db, tf_env_merge(tf_lever_env(f), extra)), 30)) {
        fprintf(stderr, "bench: service did not start\n");
        return 1;
    }
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/teams/team_b/jobs/job_b/lever-sync", svc.base_url);
    const char *headers[] = {"Authorization: Bearer " TH_API_TOKEN,
                             "Content-Type: application/json", NULL};
    const char *body = "{\"lever_posting_id\":\"p-bench\"}";
    double *ms = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < rounds; r++) {
        th_db_exec(&db, "DELETE FROM job_syncs");
        th_db_exec(&db, "DELETE FROM deliveries");
        th_db_exec(&db, "VACUUM deliveries");
        struct th_resp resp;
        th_http(&resp, "PUT", url, headers, body, strlen(body));
        json_t *j = th_resp_json(&resp);
        long enqueued = (long)json_integer_value(json_object_get(j, "enqueued"));
        json_decref(j);
        if (resp.status != 202 || enqueued != 100000) {
            fprintf(stderr, "bench: PUT answered %ld, enqueued %ld: %s\n", resp.status, enqueued,
                    resp.body);
            return 1;
        }
        ms[r] = resp.seconds * 1000.0;
        fprintf(stderr, "# backfill_100k_ms round %d/%d: %.0f ms\n", r + 1, rounds, ms[r]);
        th_resp_free(&resp);
    }
    qsort(ms, (size_t)rounds, sizeof(double), cmp);
    printf("BENCH backfill_100k_ms value=%.0f unit=ms baseline=none ratio=none\n", ms[rounds / 2]);
    th_service_stop(&svc, SIGTERM, 15);
    fake_lever_stop(f);
    th_db_drop(&db);
    free(ms);
    return 0;
}
