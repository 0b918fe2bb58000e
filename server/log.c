/*
 * log.c: structured logging for operators.
 *
 * A line is built as a jansson object, dumped compactly and written to
 * stderr with a single write(2) so that concurrent threads never interleave.
 * The request id lives in thread-local storage: the HTTP layer sets it
 * while a handler runs, so every line a handler logs can be joined to the
 * access-log line of its request.
 *
 * Threads: any. The level is set once at start-up.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum sl_log_level min_level = SL_LOG_INFO;
static _Thread_local const char *current_request_id;

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

bool sl_log_set_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (enum sl_log_level)i;
            return true;
        }
    }
    return false;
}

bool sl_log_level_valid(const char *name)
{
    for (size_t i = 0; i + 1 < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return true;
    return false;
}

void sl_log_set_request_id(const char *id)
{
    current_request_id = id;
}

const char *sl_log_request_id(void)
{
    return current_request_id;
}

/* "2026-12-04T15:19:56.123Z" */
static void timestamp(char ts[40])
{
    int64_t us = sl_now_us();
    sl_time_rfc3339(us / 1000000, ts);
    snprintf(ts + 19, 40 - 19, ".%03dZ", (int)(us / 1000 % 1000));
}

/* Access lines are buffered per thread and written in blocks: one write(2)
 * per request was a third of the cost of a /health request. A block is
 * written when it fills, by the flusher thread every 100 ms, and at
 * shutdown; a crash can lose the last 100 ms of access lines, never other
 * lines. */
#define ACCESS_BUF 16384

struct access_buf {
    pthread_mutex_t lock;
    size_t len;
    char data[ACCESS_BUF];
    struct access_buf *next;
};

static _Thread_local struct access_buf *my_buf;
static struct access_buf *all_bufs;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t flusher;
static atomic_bool flusher_running, flusher_stop;

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Caller holds b->lock. */
static void drain(struct access_buf *b)
{
    write_all(b->data, b->len);
    b->len = 0;
}

void sl_log_access(const char *request_id, const char *method, const char *route, int status,
                   double duration_ms, size_t body_bytes, bool completed)
{
    if (SL_LOG_INFO < min_level)
        return;
    char ts[40], line[512];
    timestamp(ts);
    int n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s\",\"level\":\"info\",\"event\":\"http_request\","
                     "\"request_id\":\"%s\",\"method\":\"%s\",\"route\":\"%s\","
                     "\"status\":%d,\"duration_ms\":%.3f,\"body_bytes\":%zu,"
                     "\"completed\":%s}\n",
                     ts, request_id, method, route, status, duration_ms, body_bytes,
                     completed ? "true" : "false");
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    if (!atomic_load(&flusher_running)) { /* no flusher: write through */
        write_all(line, (size_t)n);
        return;
    }
    if (!my_buf) {
        my_buf = sl_xcalloc(1, sizeof(*my_buf));
        pthread_mutex_init(&my_buf->lock, NULL);
        pthread_mutex_lock(&all_lock);
        my_buf->next = all_bufs;
        all_bufs = my_buf;
        pthread_mutex_unlock(&all_lock);
    }
    pthread_mutex_lock(&my_buf->lock);
    if (my_buf->len + (size_t)n > ACCESS_BUF)
        drain(my_buf);
    memcpy(my_buf->data + my_buf->len, line, (size_t)n);
    my_buf->len += (size_t)n;
    pthread_mutex_unlock(&my_buf->lock);
}

void sl_log_flush(void)
{
    pthread_mutex_lock(&all_lock);
    for (struct access_buf *b = all_bufs; b; b = b->next) {
        pthread_mutex_lock(&b->lock);
        drain(b);
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&all_lock);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&flusher_stop)) {
        usleep(100 * 1000);
        sl_log_flush();
    }
    return NULL;
}

void sl_log_start_flusher(void)
{
    if (pthread_create(&flusher, NULL, flusher_main, NULL) == 0)
        atomic_store(&flusher_running, true);
}

void sl_log_stop_flusher(void)
{
    if (!atomic_load(&flusher_running))
        return;
    atomic_store(&flusher_stop, true);
    pthread_join(flusher, NULL);
    atomic_store(&flusher_running, false);
    sl_log_flush();
}

void sl_log_fields(enum sl_log_level level, const char *event, json_t *fields)
{
    if (level < min_level) {
        json_decref(fields);
        return;
    }
    char ts[40];
    timestamp(ts);

    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    if (current_request_id)
        json_object_set_new(line, "request_id", json_string(current_request_id));
    if (fields)
        json_object_update(line, fields);
    json_decref(fields);

    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!text)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminator; we write n + 1 bytes */
    ssize_t w = write(STDERR_FILENO, text, n + 1);
    (void)w;
    free(text);
}

void sl_log(enum sl_log_level level, const char *event, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *fields = json_object();
    json_object_set_new(fields, "msg", json_string(msg));
    sl_log_fields(level, event, fields);
}
