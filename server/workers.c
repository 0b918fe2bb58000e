/*
 * workers.c: the delivery worker pool: pushes each claimed delivery to Lever
 * (SPEC 6) with the retry, rate-limit, token and revocation rules of SPEC 7.
 *
 * Threads and ownership. SL_WORKERS worker threads each own a database
 * connection, a Lever client (one CURL handle) and a rate-limit handle
 * (with a connection of its own, see ratelimit.c). One listener thread owns
 * a connection that LISTENs on sl_deliveries and sl_connections; it wakes
 * idle workers (a condition variable) when work is enqueued and renews the
 * leases of the deliveries the workers hold every lease/3 seconds, so that
 * a lease only runs out when this process is gone. Idle workers also poll
 * every second, so a lost notification costs at most that. The pool's
 * mutex guards the wake-up generation, the held ids and the stage cache
 * (its own mutex); everything else is per thread or immutable.
 *
 * The push, step by step, each step recorded as it completes (queue.c):
 *   1. token for the team (sl_tokens_get; a refused or revoked connection
 *      parks the delivery, a transient refresh failure retries it); it names
 *      the Lever account, whose rate-limit bucket the requests then pass;
 *   2. New lead stage id from GET /stages, cached per Lever account for an
 *      hour ("lead-new" when the list cannot be read, cached a minute);
 *   3. the opportunity: when an earlier claim may have sent a create whose
 *      answer was lost, first look the candidate up (by email and posting;
 *      without an email by tag, posting, creation time and profile link or
 *      name) and reuse what is found; otherwise create it; record its id;
 *   4. the note: when the opportunity is not this attempt's own creation,
 *      first list its notes for one whose first line is "Sourced via
 *      Stakha"; otherwise add it; record its id and 'delivered'.
 * Every Data API request passes the account's rate-limit gate. A 401 gets
 * one forced token refresh and one more try per attempt. A 429 retries
 * after its Retry-After without using an attempt, and empties the account's
 * bucket (no burst until it refills); network
 * errors, timeouts and 5xx retry with backoff; 400/403/404/422 (and other
 * 4xx) are permanent: 'dead' with Lever's message.
 *
 * Shutdown (SIGTERM): nothing new is claimed, claimed-but-unstarted rows
 * go back at once, a delivery in flight is finished if it can be before
 * SL_SHUTDOWN_TIMEOUT: after that the rate-limit gate refuses further
 * requests and the delivery is released where it stopped. A thread stuck in
 * a request past the deadline is abandoned after a short grace, and the
 * process's leases are released for it.
 */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "candidate.h"
#include "crypto.h"
#include "db.h"
#include "lever.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "ratelimit.h"
#include "tokens.h"
#include "util.h"

#define CLAIM_BATCH 2 /* small: a batch waits for its first delivery */
#define POLL_MS 1000  /* polling behind LISTEN/NOTIFY */
#define RECONNECT_MS 1000
#define STOP_GRACE_MS 3000 /* past the deadline, for a request in flight */
#define STAGE_TTL_S 3600
#define STAGE_FALLBACK_TTL_S 60
#define NOT_CONFIGURED_DELAY_S 60 /* Lever client credentials missing: not the delivery's fault */
#define LOOKUP_MARGIN_MS (10 * 60 * 1000LL) /* clock skew between us and Lever */
#define DEFAULT_STAGE "lead-new"
#define NEW_LEAD "New lead"

struct worker {
    struct sl_workers *pool;
    int index;
    pthread_t thread;
    char owner[192];
    struct sl_db *db;
    struct sl_lever *lv;
    struct sl_ratelimit *rl;
    uint64_t rng;
    long long held[CLAIM_BATCH]; /* guarded by pool->lock; renewed by the listener */
    int nheld;
};

struct stage_entry {
    char *account;
    char *stage;
    int64_t expires_ns;
};

struct sl_workers {
    struct sl_app *app;
    const struct sl_config *cfg;
    char instance[160];
    int lease_s;
    int n;
    struct worker *w;
    pthread_t listener;
    bool listener_started;
    int wake_fd[2]; /* wakes the listener at stop */

    pthread_mutex_t lock;
    pthread_cond_t wake;     /* work may be due, or stop */
    pthread_cond_t finished; /* a worker ended */
    unsigned long generation;
    int nrunning;
    bool listener_stop;

    atomic_bool stopping;
    atomic_llong deadline_ns;

    pthread_mutex_t stage_lock;
    struct stage_entry *stages;
    size_t nstages;
};

/* ---- small helpers ---- */

static uint64_t next_random(uint64_t *s)
{
    /* xorshift64*: jitter only, not security */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static double random01(uint64_t *s)
{
    return (double)(next_random(s) >> 11) / 9007199254740992.0;
}

static void count_outcome(const char *outcome)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
    sl_metrics_inc("sl_deliveries_total", labels, 1);
}

static bool stopping(struct sl_workers *p)
{
    return atomic_load(&p->stopping);
}

/* Waits until the generation moves past *seen (a notification), `ms` pass, or stop. */
static void wait_for_work(struct sl_workers *p, unsigned long *seen, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->generation == *seen && !stopping(p))
        if (pthread_cond_timedwait(&p->wake, &p->lock, &until) == ETIMEDOUT)
            break;
    *seen = p->generation;
    pthread_mutex_unlock(&p->lock);
}

static void hold(struct worker *w, const struct sl_delivery *batch, int n)
{
    pthread_mutex_lock(&w->pool->lock);
    for (int i = 0; i < n && i < CLAIM_BATCH; i++)
        w->held[i] = batch[i].id;
    w->nheld = n < CLAIM_BATCH ? n : CLAIM_BATCH;
    pthread_mutex_unlock(&w->pool->lock);
}

static void unhold(struct worker *w, long long id)
{
    pthread_mutex_lock(&w->pool->lock);
    for (int i = 0; i < w->nheld; i++) {
        if (w->held[i] == id) {
            w->held[i] = w->held[--w->nheld];
            break;
        }
    }
    pthread_mutex_unlock(&w->pool->lock);
}

static void drop_db(struct worker *w)
{
    sl_db_close(w->db);
    w->db = NULL;
}

/* ---- the stage cache ---- */

static char *stage_cached(struct sl_workers *p, const char *account)
{
    char *out = NULL;
    int64_t now = sl_mono_ns();
    pthread_mutex_lock(&p->stage_lock);
    for (size_t i = 0; i < p->nstages; i++)
        if (strcmp(p->stages[i].account, account) == 0 && p->stages[i].expires_ns > now)
            out = sl_xstrdup(p->stages[i].stage);
    pthread_mutex_unlock(&p->stage_lock);
    return out;
}

static void stage_store(struct sl_workers *p, const char *account, const char *stage, int ttl_s)
{
    int64_t expires = sl_mono_ns() + (int64_t)ttl_s * 1000000000LL;
    pthread_mutex_lock(&p->stage_lock);
    struct stage_entry *e = NULL;
    for (size_t i = 0; i < p->nstages && !e; i++)
        if (strcmp(p->stages[i].account, account) == 0)
            e = &p->stages[i];
    if (!e) {
        p->stages = sl_xrealloc(p->stages, (p->nstages + 1) * sizeof(*p->stages));
        e = &p->stages[p->nstages++];
        e->account = sl_xstrdup(account);
        e->stage = NULL;
    }
    free(e->stage);
    e->stage = sl_xstrdup(stage);
    e->expires_ns = expires;
    pthread_mutex_unlock(&p->stage_lock);
}

/* ---- one attempt ---- */

enum outcome {
    O_OK,           /* the step succeeded; the delivery goes on */
    O_RETRY,        /* transient: retry with backoff, uses an attempt */
    O_RATE_LIMITED, /* 429: retry after Retry-After, uses no attempt */
    O_WAIT,         /* not the delivery's fault (configuration): later, no attempt */
    O_DEAD,         /* permanent */
    O_PARK,         /* the connection is not active */
    O_RELEASE,      /* shutdown or database trouble: give it back as it is */
    O_LOST,         /* the lease is gone: touch nothing */
};

struct attempt {
    struct worker *w;
    struct sl_delivery *d;
    struct sl_access access;
    bool refreshed; /* the one forced refresh after a 401 is spent */
    char *account;
    int64_t started_us, t0_ns;
    char endpoint[128];
    long status;
    long retry_after_s;
    char error[512];     /* for last_error: may quote Lever's message */
    char log_error[256]; /* for the log: never Lever's message (it may echo personal data) */
    char *opportunity_id;
    char *note_id;
    bool reused; /* the opportunity came from a lookup */
};

static void __attribute__((format(printf, 2, 3))) fail(struct attempt *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof(a->error), fmt, ap);
    va_end(ap);
    sl_strlcpy(a->log_error, a->error, sizeof(a->log_error));
}

/* A token for the team's connection (forced after a 401). */
static enum outcome get_token(struct attempt *a, bool force)
{
    struct worker *w = a->w;
    struct sl_err err = {0};
    sl_access_cleanup(&a->access);
    enum sl_rc rc =
        sl_tokens_get(w->db, w->lv, w->pool->app->keyring, a->d->team_id, force, &a->access, &err);
    switch (rc) {
    case SL_OK:
        if (!a->access.service_user_id) {
            fail(a, "the Lever connection has no service user yet");
            sl_access_cleanup(&a->access);
            return O_WAIT;
        }
        return O_OK;
    case SL_ERR_NOT_FOUND:
    case SL_ERR_CONFLICT:
        fail(a, "no active Lever connection (%s): waiting for the team to authenticate again",
             err.msg);
        return O_PARK;
    case SL_ERR_CONFIG:
        fail(a, "%s", err.msg);
        return O_WAIT;
    case SL_ERR_DB:
        fail(a, "%s", err.msg);
        return O_RELEASE;
    default:
        sl_strlcpy(a->endpoint, "POST /oauth/token", sizeof(a->endpoint));
        fail(a, "token refresh failed: %s", err.msg);
        return O_RETRY;
    }
}

#define MAX_QUERY 12

/* One Data API request (or, with `items`, every page of a GET list) with
 * the 401 rule. `perform_as` adds the service user (read afresh after a
 * refresh, which replaces a->access). O_OK: `resp` holds a 2xx answer
 * (caller cleans it up, and owns *items). Otherwise the failure is
 * described in `a`. */
static enum outcome api(struct attempt *a, const char *method, const char *path, const char *label,
                        bool perform_as, const char *const *query, const json_t *body,
                        json_t **items, struct sl_lever_resp *resp)
{
    struct worker *w = a->w;
    snprintf(a->endpoint, sizeof(a->endpoint), "%s %s", method, label);
    for (;;) {
        struct sl_err err = {0};
        const char *q[MAX_QUERY + 1];
        size_t nq = 0;
        if (perform_as) {
            q[nq++] = "perform_as";
            q[nq++] = a->access.service_user_id;
        }
        for (size_t i = 0; query && query[i] && query[i + 1] && nq + 2 <= MAX_QUERY; i += 2) {
            q[nq++] = query[i];
            q[nq++] = query[i + 1];
        }
        q[nq] = NULL;
        enum sl_rc rc;
        if (items)
            rc = sl_lever_list(w->lv, a->access.access_token, path, q, items, resp, &err);
        else
            rc = sl_lever_call(w->lv, method, a->access.access_token, path, q, body, resp, &err);
        a->status = resp->status;
        if (resp->status == 0) {
            if (rc == SL_ERR_IO) {
                fail(a, "shutting down: %s", err.msg);
                return O_RELEASE;
            }
            if (rc == SL_ERR_DB) {
                fail(a, "rate limit unavailable: %s", err.msg);
                return O_RELEASE;
            }
            fail(a, "%s%s", err.msg[0] ? err.msg : "no answer from Lever",
                 resp->sent ? " (the request may have reached Lever)" : "");
            return O_RETRY;
        }
        if (resp->status >= 200 && resp->status < 300)
            return O_OK;
        if (resp->status == 401 && !a->refreshed) {
            a->refreshed = true;
            sl_lever_resp_cleanup(resp);
            if (items) {
                json_decref(*items);
                *items = NULL;
            }
            enum outcome o = get_token(a, true);
            if (o != O_OK)
                return o;
            snprintf(a->endpoint, sizeof(a->endpoint), "%s %s", method, label);
            continue;
        }
        const char *msg = resp->error_message[0] ? resp->error_message
                          : resp->error_code[0]  ? resp->error_code
                                                 : "no message";
        snprintf(a->error, sizeof(a->error), "Lever answered %ld to %s: %s", resp->status,
                 a->endpoint, msg);
        snprintf(a->log_error, sizeof(a->log_error), "Lever answered %ld%s%s%s to %s", resp->status,
                 resp->error_code[0] ? " (" : "", resp->error_code, resp->error_code[0] ? ")" : "",
                 a->endpoint);
        long s = resp->status;
        if (s == 429) {
            a->retry_after_s = resp->retry_after_s;
            return O_RATE_LIMITED;
        }
        if (s >= 500 || s == 401 || s == 408 || s == 409 || s == 425 || s < 400)
            return O_RETRY;
        return O_DEAD; /* 400, 403, 404, 422 and the other refusals: not retried */
    }
}

/* The New lead stage of the account: cached, else GET /stages. */
static enum outcome stage_for(struct attempt *a, char **stage)
{
    struct sl_workers *p = a->w->pool;
    *stage = stage_cached(p, a->account);
    if (*stage)
        return O_OK;
    struct sl_lever_resp resp;
    json_t *items = NULL;
    enum outcome o = api(a, "GET", "/stages", "/stages", false, NULL, NULL, &items, &resp);
    sl_lever_resp_cleanup(&resp);
    if (o == O_PARK || o == O_RELEASE) {
        json_decref(items);
        return o;
    }
    const char *found = NULL;
    bool has_default = false;
    size_t i;
    json_t *s;
    json_array_foreach(items, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        const char *text = json_string_value(json_object_get(s, "text"));
        if (!id)
            continue;
        if (text && strcasecmp(text, NEW_LEAD) == 0 && !found)
            found = id;
        if (strcmp(id, DEFAULT_STAGE) == 0)
            has_default = true;
    }
    if (!found && has_default)
        found = DEFAULT_STAGE;
    /* Lever places a created opportunity in New lead anyway; "lead-new" is its built-in id. */
    *stage = sl_xstrdup(found ? found : DEFAULT_STAGE);
    stage_store(p, a->account, *stage, o == O_OK ? STAGE_TTL_S : STAGE_FALLBACK_TTL_S);
    json_decref(items);
    /* A failed stage read is not the attempt's failure. */
    a->error[0] = a->log_error[0] = '\0';
    a->status = 0;
    a->endpoint[0] = '\0';
    return O_OK;
}

/* Looks for the opportunity an earlier attempt may have created (SPEC 6, 9). */
static enum outcome lookup(struct attempt *a)
{
    struct sl_delivery *d = a->d;
    char *email = sl_candidate_field(d->candidate, "email");
    char since[32];
    long long start = d->first_attempt_ms - LOOKUP_MARGIN_MS;
    snprintf(since, sizeof(since), "%lld", start > 0 ? start : 0);
    const char *by_email[] = {"email", email, "posting_id", d->posting_id, NULL};
    const char *by_tag[] = {
        "tag", SL_CANDIDATE_TAG, "posting_id", d->posting_id, "created_at_start", since, NULL};
    struct sl_lever_resp resp;
    json_t *items = NULL;
    enum outcome o = api(a, "GET", "/opportunities", "/opportunities", false,
                         email ? by_email : by_tag, NULL, &items, &resp);
    sl_lever_resp_cleanup(&resp);
    if (o == O_OK) {
        int at = -1;
        if (email) {
            at = json_array_size(items) ? 0 : -1;
        } else {
            at = sl_candidate_find_opportunity(d->candidate, items);
        }
        const char *id =
            at >= 0 ? json_string_value(json_object_get(json_array_get(items, (size_t)at), "id"))
                    : NULL;
        if (id) {
            a->opportunity_id = sl_xstrdup(id);
            a->reused = true;
        }
    }
    json_decref(items);
    free(email);
    return o;
}

static enum outcome create(struct attempt *a, const char *stage)
{
    struct sl_delivery *d = a->d;
    json_t *body = sl_candidate_opportunity(d->candidate, d->posting_id, stage);
    struct sl_lever_resp resp;
    enum outcome o =
        api(a, "POST", "/opportunities", "/opportunities", true, NULL, body, NULL, &resp);
    json_decref(body);
    if (o == O_OK) {
        const char *id = json_string_value(json_object_get(resp.data, "id"));
        if (id) {
            a->opportunity_id = sl_xstrdup(id);
        } else {
            fail(a, "Lever answered %ld to POST /opportunities without an opportunity id",
                 resp.status);
            o = O_RETRY; /* the next attempt looks it up */
        }
    }
    sl_lever_resp_cleanup(&resp);
    return o;
}

/* Finds a note an earlier attempt added: first line "Sourced via Stakha". */
static enum outcome find_note(struct attempt *a)
{
    char path[256];
    snprintf(path, sizeof(path), "/opportunities/%s/notes", a->opportunity_id);
    struct sl_lever_resp resp;
    json_t *items = NULL;
    enum outcome o =
        api(a, "GET", path, "/opportunities/{id}/notes", false, NULL, NULL, &items, &resp);
    sl_lever_resp_cleanup(&resp);
    if (o == O_OK) {
        size_t i;
        json_t *note;
        json_array_foreach(items, i, note)
        {
            const char *id = json_string_value(json_object_get(note, "id"));
            if (id && sl_candidate_note_matches(note)) {
                a->note_id = sl_xstrdup(id);
                break;
            }
        }
    }
    json_decref(items);
    return o;
}

static enum outcome add_note(struct attempt *a)
{
    char path[256];
    snprintf(path, sizeof(path), "/opportunities/%s/notes", a->opportunity_id);
    char *text = sl_candidate_note(a->d->candidate);
    json_t *body = json_pack("{s:s}", "value", text);
    free(text);
    SL_ASSERT(body);
    struct sl_lever_resp resp;
    enum outcome o =
        api(a, "POST", path, "/opportunities/{id}/notes", true, NULL, body, NULL, &resp);
    json_decref(body);
    if (o == O_OK) {
        const char *id = json_string_value(json_object_get(resp.data, "noteId"));
        if (!id)
            id = json_string_value(json_object_get(resp.data, "id"));
        if (id) {
            a->note_id = sl_xstrdup(id);
        } else {
            fail(a, "Lever answered %ld to POST /opportunities/{id}/notes without a note id",
                 resp.status);
            o = O_RETRY; /* the next attempt lists the notes */
        }
    }
    sl_lever_resp_cleanup(&resp);
    return o;
}

static enum outcome push(struct attempt *a)
{
    struct worker *w = a->w;
    struct sl_delivery *d = a->d;
    struct sl_err err = {0};
    if (!json_is_object(d->candidate)) {
        fail(a, "the application's candidate data is missing");
        return O_DEAD;
    }
    /* The token first: it names the Lever account whose bucket the Data API
     * requests then pass (token requests go to the OAuth server, ungated). */
    enum outcome o = get_token(a, false);
    if (o)
        return o;
    /* A connection that never said which account is limited on its own. */
    a->account = sl_xstrdup(a->access.lever_account_id ? a->access.lever_account_id : d->team_id);
    sl_ratelimit_set_account(w->rl, a->account);
    enum sl_rc rc;
    bool earlier_opportunity = d->opportunity_id != NULL;
    if (d->opportunity_id) {
        a->opportunity_id = sl_xstrdup(d->opportunity_id);
    } else {
        char *stage = NULL;
        o = stage_for(a, &stage);
        if (!o && sl_delivery_resumed(d))
            o = lookup(a);
        if (!o && !a->opportunity_id)
            o = create(a, stage);
        free(stage);
        if (o)
            return o;
        rc = sl_queue_record_opportunity(w->db, d, w->owner, a->opportunity_id, &err);
        if (rc) {
            fail(a, "%s", err.msg);
            return rc == SL_ERR_CONFLICT ? O_LOST : O_RELEASE;
        }
    }
    if (d->note_id) {
        a->note_id = sl_xstrdup(d->note_id);
        return O_OK;
    }
    /* An opportunity this attempt did not create may already carry the note. */
    if (earlier_opportunity || a->reused) {
        o = find_note(a);
        if (o || a->note_id)
            return o;
    }
    return add_note(a);
}

/* Writes the outcome; the delivery leaves this worker. */
static void finish(struct attempt *a, enum outcome o)
{
    struct worker *w = a->w;
    struct sl_delivery *d = a->d;
    struct sl_err err = {0};
    struct sl_attempt at = {
        .started_us = a->started_us,
        .duration_ms = (long)((sl_mono_ns() - a->t0_ns) / 1000000),
        .endpoint = a->endpoint[0] ? a->endpoint : NULL,
        .http_status = a->status,
        .error = a->error[0] ? a->error : NULL,
    };
    const char *outcome = NULL;
    enum sl_rc rc = SL_OK;
    bool dead = false;
    double delay = 0;
    switch (o) {
    case O_OK:
        rc = sl_queue_complete(w->db, d, w->owner, a->note_id, &at, &err);
        outcome = "delivered";
        break;
    case O_RETRY:
        delay = sl_queue_backoff_s(d->attempts + 1, (double)a->retry_after_s, random01(&w->rng));
        rc = sl_queue_retry(w->db, d, w->owner, delay, true, &at, &dead, &err);
        outcome = "retry";
        break;
    case O_RATE_LIMITED:
        delay = sl_queue_backoff_s(d->attempts + 1, (double)a->retry_after_s, random01(&w->rng));
        if (sl_ratelimit_drain(w->rl, a->account, &err))
            sl_log(SL_LOG_WARN, "rate_limit_unavailable", "%s", err.msg);
        rc = sl_queue_retry(w->db, d, w->owner, delay, false, &at, NULL, &err);
        outcome = "rate_limited";
        break;
    case O_WAIT:
        delay = NOT_CONFIGURED_DELAY_S;
        rc = sl_queue_retry(w->db, d, w->owner, delay, false, &at, NULL, &err);
        outcome = "waiting";
        break;
    case O_DEAD:
        rc = sl_queue_dead(w->db, d, w->owner, &at, &err);
        outcome = "dead";
        break;
    case O_PARK:
        rc = sl_queue_park(w->db, d, w->owner, &at, &err);
        outcome = "parked";
        break;
    case O_RELEASE:
        rc = sl_queue_release(w->db, d, w->owner, true, &err);
        outcome = "released";
        break;
    case O_LOST:
        outcome = "lost";
        break;
    }
    if (dead)
        outcome = "dead";
    if (rc == SL_ERR_CONFLICT)
        outcome = "lost";
    count_outcome(outcome);
    json_t *f =
        json_pack("{s:I, s:s, s:s, s:s, s:i, s:I}", "delivery_id", (json_int_t)d->id, "team_id",
                  d->team_id, "application_id", d->application_id, "outcome", outcome, "attempt",
                  d->attempts + 1, "duration_ms", (json_int_t)at.duration_ms);
    if (a->opportunity_id)
        json_object_set_new(f, "lever_opportunity_id", json_string(a->opportunity_id));
    if (o != O_OK && a->log_error[0])
        json_object_set_new(f, "error", json_string(a->log_error));
    if (delay > 0 && o != O_OK)
        json_object_set_new(f, "retry_in_s", json_real(delay));
    if (rc) {
        json_object_set_new(f, "write_error", json_string(err.msg));
        sl_log_fields(SL_LOG_WARN, "delivery_unrecorded", f);
    } else {
        sl_log_fields(o == O_OK ? SL_LOG_INFO : SL_LOG_WARN, "delivery", f);
    }
    if (rc == SL_ERR_DB)
        drop_db(w); /* reconnect; the lease runs out and the delivery is taken up again */
}

static void deliver(struct worker *w, struct sl_delivery *d)
{
    struct attempt a = {.w = w, .d = d, .retry_after_s = -1};
    a.started_us = sl_now_us();
    a.t0_ns = sl_mono_ns();
    enum outcome o = push(&a);
    finish(&a, o);
    sl_access_cleanup(&a.access);
    sl_ratelimit_set_account(w->rl, NULL);
    free(a.account);
    free(a.opportunity_id);
    free(a.note_id);
}

/* Gives back a claimed delivery this worker has not started. */
static void give_back(struct worker *w, struct sl_delivery *d)
{
    struct sl_err err = {0};
    enum sl_rc rc = sl_queue_release(w->db, d, w->owner, false, &err);
    if (rc && rc != SL_ERR_CONFLICT)
        sl_log(SL_LOG_WARN, "delivery_release_failed", "delivery %lld: %s", d->id, err.msg);
    if (rc == SL_ERR_DB)
        drop_db(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sl_workers *p = w->pool;
    unsigned long seen = 0;
    bool db_warned = false;
    while (!stopping(p)) {
        if (!atomic_load(&p->app->schema_ready)) {
            wait_for_work(p, &seen, 200);
            continue;
        }
        struct sl_err err = {0};
        if (!w->db && sl_db_connect(p->app->database_url, 3, &w->db, &err)) {
            if (!db_warned)
                sl_log(SL_LOG_WARN, "worker_database", "worker %d: %s", w->index, err.msg);
            db_warned = true;
            wait_for_work(p, &seen, RECONNECT_MS);
            continue;
        }
        db_warned = false;
        pthread_mutex_lock(&p->lock);
        seen = p->generation; /* a notification during the claim is not lost */
        pthread_mutex_unlock(&p->lock);
        struct sl_delivery *batch = NULL;
        int n = 0;
        enum sl_rc rc = sl_queue_claim(w->db, w->owner, p->lease_s, CLAIM_BATCH, &batch, &n, &err);
        if (rc) {
            sl_log(SL_LOG_WARN, "claim_failed", "worker %d: %s", w->index, err.msg);
            if (rc == SL_ERR_DB)
                drop_db(w);
            wait_for_work(p, &seen, RECONNECT_MS);
            continue;
        }
        if (n == 0) {
            wait_for_work(p, &seen, POLL_MS);
            continue;
        }
        hold(w, batch, n);
        for (int i = 0; i < n; i++) {
            if (!w->db)
                break; /* lost the database: the leases run out */
            if (stopping(p))
                give_back(w, &batch[i]);
            else
                deliver(w, &batch[i]);
            unhold(w, batch[i].id);
        }
        pthread_mutex_lock(&p->lock);
        w->nheld = 0;
        pthread_mutex_unlock(&p->lock);
        sl_deliveries_free(batch, n);
    }
    pthread_mutex_lock(&p->lock);
    p->nrunning--;
    pthread_cond_broadcast(&p->finished);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the listener ---- */

static void wake_workers(struct sl_workers *p)
{
    pthread_mutex_lock(&p->lock);
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

/* Handles what arrived; returns false when the connection broke. */
static bool drain_notifications(struct sl_workers *p, struct sl_db *db)
{
    PGconn *conn = (PGconn *)sl_db_pg(db);
    if (!PQconsumeInput(conn))
        return false;
    bool wake = false;
    PGnotify *n;
    while ((n = PQnotifies(conn))) {
        wake = true;
        if (strcmp(n->relname, "sl_connections") == 0 && n->extra && *n->extra) {
            /* The status change's trigger already queued them again; this
             * covers a connection changed by other means. */
            struct sl_err err = {0};
            long count = 0;
            char *team = sl_xstrdup(n->extra);
            PQfreemem(n);
            if (sl_queue_unpark_team(db, team, &count, &err))
                sl_log(SL_LOG_WARN, "unpark_failed", "team %s: %s", team, err.msg);
            else if (count)
                sl_log(SL_LOG_INFO, "deliveries_unparked", "team %s: %ld queued again", team,
                       count);
            free(team);
            continue;
        }
        PQfreemem(n);
    }
    if (wake)
        wake_workers(p);
    return PQstatus(conn) == CONNECTION_OK;
}

static void renew_leases(struct sl_workers *p, struct sl_db *db)
{
    long long *ids = sl_xcalloc((size_t)p->n * CLAIM_BATCH + 1, sizeof(*ids));
    int n = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->w[i].nheld; k++)
            ids[n++] = p->w[i].held[k];
    pthread_mutex_unlock(&p->lock);
    struct sl_err err = {0};
    if (n && sl_queue_renew(db, p->instance, ids, n, p->lease_s, &err))
        sl_log(SL_LOG_WARN, "lease_renewal_failed", "%s", err.msg);
    free(ids);
}

static void *listener_main(void *arg)
{
    struct sl_workers *p = arg;
    struct sl_db *db = NULL;
    int64_t renew_every_ns = (int64_t)p->lease_s * 1000000000LL / 3;
    int64_t next_renew = sl_mono_ns() + renew_every_ns;
    bool warned = false;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool quit = p->listener_stop;
        pthread_mutex_unlock(&p->lock);
        if (quit)
            break;
        struct sl_err err = {0};
        if (!db) {
            if (atomic_load(&p->app->schema_ready) &&
                sl_db_connect(p->app->database_url, 3, &db, &err) == SL_OK) {
                if (sl_db_exec(db, "LISTEN sl_deliveries; LISTEN sl_connections", 0, NULL, NULL,
                               &err)) {
                    sl_db_close(db);
                    db = NULL;
                } else {
                    warned = false;
                    wake_workers(p); /* anything enqueued while we were not listening */
                }
            }
            if (!db && err.msg[0] && !warned) {
                sl_log(SL_LOG_WARN, "listener_database", "%s; workers poll meanwhile", err.msg);
                warned = true;
            }
        }
        int64_t now = sl_mono_ns();
        if (db && now >= next_renew) {
            renew_leases(p, db);
            next_renew = now + renew_every_ns;
        }
        if (db && !drain_notifications(p, db)) {
            sl_db_close(db);
            db = NULL;
        }
        struct pollfd fds[2] = {
            {.fd = p->wake_fd[0], .events = POLLIN},
            {.fd = db ? PQsocket((PGconn *)sl_db_pg(db)) : -1, .events = POLLIN}};
        int64_t wait_ms = (next_renew - sl_mono_ns()) / 1000000;
        if (wait_ms > POLL_MS)
            wait_ms = POLL_MS;
        if (wait_ms < 0)
            wait_ms = 0;
        if (poll(fds, db ? 2 : 1, (int)wait_ms) > 0 && (fds[0].revents & POLLIN)) {
            char buf[16];
            while (read(p->wake_fd[0], buf, sizeof(buf)) > 0)
                ;
        }
    }
    sl_db_close(db);
    return NULL;
}

/* ---- start and stop ---- */

const char *sl_workers_instance(const struct sl_workers *w)
{
    return w->instance;
}

static void free_pool(struct sl_workers *p)
{
    for (int i = 0; i < p->n; i++) {
        sl_db_close(p->w[i].db);
        sl_lever_destroy(p->w[i].lv);
        sl_ratelimit_destroy(p->w[i].rl);
    }
    free(p->w);
    for (size_t i = 0; i < p->nstages; i++) {
        free(p->stages[i].account);
        free(p->stages[i].stage);
    }
    free(p->stages);
    close(p->wake_fd[0]);
    close(p->wake_fd[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->stage_lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->finished);
    free(p);
}

enum sl_rc sl_workers_start(struct sl_app *app, struct sl_workers **out, struct sl_err *err)
{
    *out = NULL;
    const struct sl_config *cfg = app->cfg;
    struct sl_workers *p = sl_xcalloc(1, sizeof(*p));
    p->app = app;
    p->cfg = cfg;
    p->lease_s = cfg->lease_seconds > 0 ? (int)cfg->lease_seconds : 25;
    p->n = (int)cfg->workers;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->stage_lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->finished, NULL);
    atomic_init(&p->stopping, false);
    atomic_init(&p->deadline_ns, 0);
    if (pipe(p->wake_fd) != 0) {
        int e = errno;
        p->wake_fd[0] = p->wake_fd[1] = -1;
        free_pool(p);
        return sl_err_set(err, SL_ERR_IO, "workers: pipe: %s", strerror(e));
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(p->wake_fd[i], F_GETFL);
        fcntl(p->wake_fd[i], F_SETFL, fl | O_NONBLOCK);
    }

    unsigned char rnd[4];
    uint64_t seed = 0;
    if (sl_crypto_random(rnd, sizeof(rnd), NULL) || sl_crypto_random(&seed, sizeof(seed), NULL)) {
        free_pool(p);
        return sl_err_set(err, SL_ERR_INTERNAL, "workers: no randomness for the instance id");
    }
    char host[64] = "host", hex[9];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    sl_crypto_hex(rnd, sizeof(rnd), hex);
    snprintf(p->instance, sizeof(p->instance), "%s/%d/%s", host, (int)getpid(), hex);

    p->w = sl_xcalloc((size_t)(p->n > 0 ? p->n : 1), sizeof(*p->w));
    for (int i = 0; i < p->n; i++) {
        struct worker *w = &p->w[i];
        w->pool = p;
        w->index = i;
        snprintf(w->owner, sizeof(w->owner), "%s/w%d", p->instance, i);
        w->lv = sl_lever_create(cfg);
        w->rl = sl_ratelimit_create(app->database_url, cfg->lever_rps);
        sl_lever_set_gate(w->lv, sl_ratelimit_gate, w->rl);
        w->rng = (seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1))) | 1;
    }
    if (p->n == 0) {
        *out = p;
        return SL_OK;
    }
    for (int i = 0; i < p->n; i++) {
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0)
            SL_ASSERT(!"pthread_create (workers)");
        p->nrunning++;
    }
    if (pthread_create(&p->listener, NULL, listener_main, p) != 0)
        SL_ASSERT(!"pthread_create (listener)");
    p->listener_started = true;
    sl_log(SL_LOG_INFO, "workers_started", "%d worker(s), instance %s, lease %d s", p->n,
           p->instance, p->lease_s);
    *out = p;
    return SL_OK;
}

void sl_workers_stop_async(struct sl_workers *p)
{
    if (!p || atomic_exchange(&p->stopping, true))
        return;
    long long deadline = sl_mono_ns() + (long long)p->cfg->shutdown_timeout_s * 1000000000LL;
    atomic_store(&p->deadline_ns, deadline);
    for (int i = 0; i < p->n; i++)
        sl_ratelimit_abort_after(p->w[i].rl, deadline);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

bool sl_workers_stop(struct sl_workers *p)
{
    if (!p)
        return true;
    sl_workers_stop_async(p);
    long long until_ns = atomic_load(&p->deadline_ns) + STOP_GRACE_MS * 1000000LL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long left = until_ns - sl_mono_ns();
    if (left < 0)
        left = 0;
    until.tv_sec += (time_t)(left / 1000000000LL);
    until.tv_nsec += (long)(left % 1000000000LL);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->nrunning > 0)
        if (pthread_cond_timedwait(&p->finished, &p->lock, &until) == ETIMEDOUT)
            break;
    int stuck = p->nrunning;
    p->listener_stop = true;
    pthread_mutex_unlock(&p->lock);
    if (write(p->wake_fd[1], "x", 1) < 0) {
        /* the listener still wakes within a second */
    }
    if (p->listener_started)
        pthread_join(p->listener, NULL);
    if (stuck) {
        /* A thread is stuck in a request past the deadline: hand its work
         * back from here; its later writes name a lease it no longer has. */
        struct sl_err err = {0};
        struct sl_db *db = NULL;
        long n = 0;
        enum sl_rc rc = sl_db_connect(p->app->database_url, 2, &db, &err);
        if (!rc)
            rc = sl_queue_release_all(db, p->instance, &n, &err);
        sl_db_close(db);
        sl_log(SL_LOG_WARN, "workers_abandoned",
               "%d worker(s) still in a Lever request at the deadline; %s", stuck,
               rc ? err.msg : "their deliveries were released");
        return false;
    }
    for (int i = 0; i < p->n; i++)
        pthread_join(p->w[i].thread, NULL);
    sl_log(SL_LOG_INFO, "workers_stopped", "%d worker(s) stopped", p->n);
    free_pool(p);
    return true;
}
