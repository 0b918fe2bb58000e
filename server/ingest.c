/*
 * ingest.c: group commit of webhook events.
 *
 * Design: submitters append to a list under a mutex and signal the writer.
 * The writer takes the whole list (up to MAX_BATCH), builds one JSON array
 * [{"id": ..., "event": <raw body>}, ...] and runs
 * `SELECT sl_ingest_batch($1)`: one statement, hence one transaction and
 * one commit for the lot, with per-event answers ('stored' or 'duplicate')
 * in order. Only then are the callbacks called, so no request is ever told
 * 2xx before its event is durable.
 *
 * Failure: if the database is unreachable, every event of the batch fails
 * (the requests answer 503 and Stakha retries). If the batch fails for any
 * other reason (an event PostgreSQL refuses, a deadlock), nothing of it was
 * committed; each event is then retried alone, so one bad event fails only
 * its own request and none is stored twice.
 *
 * Retention: when idle, the writer also deletes inbox rows older than the
 * retention (every 10 minutes, first shortly after start), in batches of
 * 1000 rows, stopping as soon as events are waiting.
 *
 * Threads: one writer thread owns the connection; submitters only touch the
 * queue under the mutex.
 */
#include "ingest.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "util.h"

#define MAX_BATCH 512

static enum sl_rc ensure_connected(struct sl_ingest *ing, struct sl_err *err);

struct item {
    struct item *next;
    char *webhook_id;
    char *event;
    size_t len;
    sl_ingest_done_fn done;
    void *ctx;
};

struct sl_ingest {
    char *conninfo;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct item *head, **tail;
    size_t queued;
    bool stopping;
    struct sl_db *db; /* writer thread only */
    long retention_days;
    int64_t next_sweep_ns;
    atomic_ulong batches, events;
};

#define SWEEP_EVERY_NS (600LL * 1000000000)
#define SWEEP_ROWS "1000"

/* Deletes inbox rows older than the retention, a small batch per
 * statement so that no long lock or transaction holds up ingestion. */
static void sweep(struct sl_ingest *ing)
{
    struct sl_err err = {0};
    char days[24];
    snprintf(days, sizeof(days), "%ld", ing->retention_days);
    const char *params[] = {days};
    long total = 0;
    for (;;) {
        struct sl_db_res *res = NULL;
        enum sl_rc rc = ensure_connected(ing, &err);
        if (!rc)
            rc = sl_db_exec(ing->db,
                            "DELETE FROM webhook_events WHERE webhook_id IN ("
                            " SELECT webhook_id FROM webhook_events"
                            " WHERE received_at < now() - make_interval(days => $1::int)"
                            " LIMIT " SWEEP_ROWS ")",
                            1, params, &res, &err);
        long n = rc ? 0 : sl_db_res_affected(res);
        sl_db_res_free(res);
        if (rc) {
            sl_log(SL_LOG_WARN, "inbox_retention", "sweep failed: %s", err.msg);
            break;
        }
        total += n;
        pthread_mutex_lock(&ing->lock);
        bool busy = ing->head != NULL;
        pthread_mutex_unlock(&ing->lock);
        if (n == 0 || busy)
            break;
    }
    if (total)
        sl_log(SL_LOG_INFO, "inbox_retention", "deleted %ld webhook events older than %ld days",
               total, ing->retention_days);
}

void sl_ingest_submit(struct sl_ingest *ing, const char *webhook_id, const char *event, size_t len,
                      sl_ingest_done_fn done, void *ctx)
{
    struct item *it = sl_xcalloc(1, sizeof(*it));
    it->webhook_id = sl_xstrdup(webhook_id);
    it->event = sl_xstrndup(event, len);
    it->len = len;
    it->done = done;
    it->ctx = ctx;
    pthread_mutex_lock(&ing->lock);
    *ing->tail = it;
    ing->tail = &it->next;
    ing->queued++;
    pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->lock);
}

static enum sl_rc ensure_connected(struct sl_ingest *ing, struct sl_err *err)
{
    if (ing->db && sl_db_ok(ing->db))
        return SL_OK;
    sl_db_close(ing->db);
    ing->db = NULL;
    enum sl_rc rc = sl_db_connect(ing->conninfo, 2, &ing->db, err);
    /* A statement that hangs (locks, a stalled server) must not hold the
     * waiting requests, or shutdown, forever: they get 503 and Stakha retries. */
    if (!rc)
        rc = sl_db_exec(ing->db, "SET statement_timeout = '10s'", 0, NULL, NULL, err);
    return rc;
}

/* The batch parameter; the raw bodies were validated as JSON already. */
static char *batch_json(struct item *first, size_t n)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "[");
    struct item *it = first;
    for (size_t i = 0; i < n; i++, it = it->next) {
        json_t *id = json_string(it->webhook_id);
        char *quoted = json_dumps(id, JSON_ENCODE_ANY);
        json_decref(id);
        SL_ASSERT(quoted);
        sl_buf_printf(&b, "%s{\"id\":%s,\"event\":", i ? "," : "", quoted);
        free(quoted);
        sl_buf_append(&b, it->event, it->len);
        sl_buf_puts(&b, "}");
    }
    sl_buf_puts(&b, "]");
    return sl_buf_take(&b);
}

/* Runs `n` items from `first` as one transaction; fills results[]. */
static enum sl_rc run_batch(struct sl_ingest *ing, struct item *first, size_t n,
                            enum sl_ingest_result *results, struct sl_err *err)
{
    enum sl_rc rc = ensure_connected(ing, err);
    if (rc)
        return rc;
    char *param = batch_json(first, n);
    const char *params[] = {param};
    struct sl_db_res *res = NULL;
    rc = sl_db_exec(ing->db, "SELECT sl_ingest_batch($1::jsonb)", 1, params, &res, err);
    free(param);
    if (!rc && (size_t)sl_db_res_rows(res) != n)
        rc = sl_err_set(err, SL_ERR_INTERNAL, "ingest: %d answers for %zu events",
                        sl_db_res_rows(res), n);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = sl_db_res_get(res, (int)i, 0);
        results[i] = v && strcmp(v, "duplicate") == 0 ? SL_INGEST_DUPLICATE : SL_INGEST_STORED;
    }
    sl_db_res_free(res);
    return rc;
}

static void finish(struct item *it, enum sl_ingest_result result, const struct sl_err *err)
{
    it->done(it->ctx, result, err);
    free(it->webhook_id);
    free(it->event);
    free(it);
}

static void process(struct sl_ingest *ing, struct item *batch, size_t n)
{
    enum sl_ingest_result *results = sl_xcalloc(n, sizeof(*results));
    struct sl_err err = {0};
    enum sl_rc rc = run_batch(ing, batch, n, results, &err);
    if (rc && rc != SL_ERR_DB && n > 1) {
        sl_log(SL_LOG_WARN, "ingest_batch_failed", "%s; retrying its %zu events one by one",
               err.msg, n);
        struct item *it = batch;
        for (size_t i = 0; i < n; i++, it = it->next) {
            struct sl_err one = {0};
            enum sl_rc r = run_batch(ing, it, 1, &results[i], &one);
            if (r) {
                sl_log(SL_LOG_ERROR, "ingest_failed", "webhook %s: %s", it->webhook_id, one.msg);
                results[i] = SL_INGEST_FAILED;
            }
        }
        rc = SL_OK;
        err.msg[0] = '\0';
    } else if (rc) {
        sl_log(SL_LOG_ERROR, "ingest_failed", "%zu event(s) not stored: %s", n, err.msg);
    } else {
        atomic_fetch_add(&ing->batches, 1);
        atomic_fetch_add(&ing->events, n);
    }
    struct item *it = batch;
    for (size_t i = 0; i < n; i++) {
        struct item *next = it->next;
        if (rc)
            finish(it, SL_INGEST_FAILED, &err);
        else
            finish(it, results[i], results[i] == SL_INGEST_FAILED ? &err : NULL);
        it = next;
    }
    free(results);
}

static void *writer_main(void *arg)
{
    struct sl_ingest *ing = arg;
    pthread_mutex_lock(&ing->lock);
    for (;;) {
        while (!ing->head && !ing->stopping) {
            if (sl_mono_ns() >= ing->next_sweep_ns) {
                ing->next_sweep_ns = sl_mono_ns() + SWEEP_EVERY_NS;
                pthread_mutex_unlock(&ing->lock);
                sweep(ing);
                pthread_mutex_lock(&ing->lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1 + (ing->next_sweep_ns - sl_mono_ns()) / 1000000000;
            pthread_cond_timedwait(&ing->wake, &ing->lock, &until);
        }
        if (!ing->head && ing->stopping)
            break;
        /* Take up to MAX_BATCH from the front. */
        struct item *batch = ing->head, *last = batch;
        size_t n = 1;
        while (last->next && n < MAX_BATCH) {
            last = last->next;
            n++;
        }
        ing->head = last->next;
        if (!ing->head)
            ing->tail = &ing->head;
        last->next = NULL;
        ing->queued -= n;
        pthread_mutex_unlock(&ing->lock);
        process(ing, batch, n);
        pthread_mutex_lock(&ing->lock);
    }
    pthread_mutex_unlock(&ing->lock);
    return NULL;
}

struct sl_ingest *sl_ingest_create(const char *conninfo, long retention_days)
{
    struct sl_ingest *ing = sl_xcalloc(1, sizeof(*ing));
    ing->conninfo = sl_xstrdup(conninfo);
    ing->retention_days = retention_days;
    ing->next_sweep_ns = sl_mono_ns() + 2LL * 1000000000; /* first sweep soon after start */
    ing->tail = &ing->head;
    pthread_mutex_init(&ing->lock, NULL);
    pthread_cond_init(&ing->wake, NULL);
    SL_ASSERT(pthread_create(&ing->thread, NULL, writer_main, ing) == 0);
    return ing;
}

void sl_ingest_destroy(struct sl_ingest *ing)
{
    if (!ing)
        return;
    pthread_mutex_lock(&ing->lock);
    ing->stopping = true;
    pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->lock);
    pthread_join(ing->thread, NULL);
    sl_db_close(ing->db);
    pthread_mutex_destroy(&ing->lock);
    pthread_cond_destroy(&ing->wake);
    free(ing->conninfo);
    free(ing);
}

void sl_ingest_stats(struct sl_ingest *ing, unsigned long *batches, unsigned long *events)
{
    *batches = atomic_load(&ing->batches);
    *events = atomic_load(&ing->events);
}
