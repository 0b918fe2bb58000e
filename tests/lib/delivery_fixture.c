/*
 * delivery_fixture.c: see delivery_fixture.h.
 */
#include "delivery_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lever_fixture.h"
#include "tap.h"

void td_sync_job(const struct th_db *db, const char *team, const char *job, const char *posting)
{
    const char *params[] = {team, job, posting};
    free(th_db_value(db,
                     "INSERT INTO job_syncs (team_id, job_id, lever_posting_id) VALUES ($1, $2, $3)"
                     " ON CONFLICT DO NOTHING RETURNING 1",
                     3, params));
}

void td_ingest(const struct th_db *db, const char *team, const char *job, const char *prefix, int n,
               bool with_email)
{
    char count[16];
    snprintf(count, sizeof(count), "%d", n);
    const char *params[] = {team, job, prefix, count, with_email ? "t" : "f"};
    free(th_db_value(
        db,
        "SELECT count(sl_ingest_event('wh_' || $3 || g, jsonb_build_object("
        " 'type', 'application.created', 'created_at', '2026-12-04T15:19:56Z',"
        " 'data', jsonb_build_object('team_id', $1::text,"
        "   'application', jsonb_build_object('id', $3 || g, 'job_id', $2::text,"
        "                                     'status', 'applied'),"
        "   'candidate', jsonb_build_object('id', 'cand_' || $3 || g, 'first_name', 'Cand',"
        "     'last_name', $3 || g,"
        "     'email', CASE WHEN $5::bool THEN $3 || g || '@example.com' END,"
        "     'phone', '+44 20 7946 ' || lpad(g::text, 4, '0'), 'location', 'London',"
        "     'profile_url', 'https://app.stakha.io/candidates/cand_' || $3 || g,"
        "     'summary', 'Engineer number ' || g, 'years_of_experience', 3,"
        "     'skills', jsonb_build_array('C', 'SQL'))))))"
        " FROM generate_series(1, $4::int) g",
        5, params));
}

long td_wait_count(const struct th_db *db, const char *sql, long want, int timeout_ms)
{
    long long until = th_now_ms() + timeout_ms;
    long v = th_db_long(db, sql);
    while (v != want && th_now_ms() < until) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        v = th_db_long(db, sql);
    }
    return v;
}

void td_start(struct th_service *svc, const struct th_db *db, struct fake_lever *f,
              const char *const *extra)
{
    const char *const *lever = tf_lever_env(f);
    const char *merged[64];
    size_t n = 0;
    for (size_t i = 0; lever[i] && n < 40; i++)
        merged[n++] = lever[i];
    for (size_t i = 0; extra && extra[i] && n < 62; i++)
        merged[n++] = extra[i];
    merged[n] = NULL;
    if (!th_service_start(svc, "serve", th_env(db, merged), 20))
        BAIL_OUT("the service did not start");
}

void td_audit(struct fake_lever *f, const char *posting, struct td_audit *out)
{
    memset(out, 0, sizeof(*out));
    json_t *opps = fake_lever_opportunities(f);
    json_t *notes = fake_lever_notes(f, NULL);
    json_t *pairs = json_object();
    int shown = 0;
    size_t i;
    json_t *o;
    json_array_foreach(opps, i, o)
    {
        json_t *postings = json_object_get(o, "postings");
        bool on_posting = false;
        size_t k;
        json_t *p;
        json_array_foreach(postings, k, p)
        {
            on_posting = on_posting || strcmp(json_string_value(p), posting) == 0;
        }
        if (!on_posting)
            continue;
        out->opportunities++;
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *email = json_string_value(json_array_get(json_object_get(o, "emails"), 0));
        const char *key = email ? email : json_string_value(json_object_get(o, "name"));
        if (key) {
            json_t *seen = json_object_get(pairs, key);
            if (seen) {
                out->duplicate_pairs++;
                if (shown++ < 10)
                    diag("duplicate opportunity for %s on %s", key, posting);
            } else {
                json_object_set_new(pairs, key, json_true());
            }
        }
        int stakha_notes = 0;
        json_t *n;
        json_array_foreach(notes, k, n)
        {
            if (strcmp(json_string_value(json_object_get(n, "opportunityId")), id) != 0)
                continue;
            const char *value = json_string_value(
                json_object_get(json_array_get(json_object_get(n, "fields"), 0), "value"));
            if (value && strncmp(value, "Sourced via Stakha", 18) == 0)
                stakha_notes++;
        }
        if (stakha_notes != 1) {
            out->bad_notes++;
            if (shown++ < 10)
                diag("opportunity %s (%s) has %d Stakha notes", id, key ? key : "?", stakha_notes);
        }
    }
    json_decref(pairs);
    json_decref(opps);
    json_decref(notes);
}

struct td_time_travel {
    const struct th_db *db;
    pthread_t thread;
    atomic_bool stop;
};

static void *travel(void *arg)
{
    struct td_time_travel *t = arg;
    PGconn *c = PQconnectdb(t->db->url);
    while (!atomic_load(&t->stop)) {
        PQclear(PQexec(c, "UPDATE deliveries SET next_attempt_at = now()"
                          " WHERE state = 'retrying' AND next_attempt_at > now()"));
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
    }
    PQfinish(c);
    return NULL;
}

struct td_time_travel *td_time_travel_start(const struct th_db *db)
{
    struct td_time_travel *t = calloc(1, sizeof(*t));
    t->db = db;
    atomic_init(&t->stop, false);
    pthread_create(&t->thread, NULL, travel, t);
    return t;
}

void td_time_travel_stop(struct td_time_travel *t)
{
    if (!t)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->thread, NULL);
    free(t);
}
