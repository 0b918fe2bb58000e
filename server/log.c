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

#include <stdarg.h>
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

void sl_log_fields(enum sl_log_level level, const char *event, json_t *fields)
{
    if (level < min_level) {
        json_decref(fields);
        return;
    }
    char ts[40];
    int64_t us = sl_now_us();
    sl_time_rfc3339(us / 1000000, ts);
    /* Keep millisecond precision: "2026-12-04T15:19:56.123Z". */
    snprintf(ts + 19, sizeof(ts) - 19, ".%03dZ", (int)(us / 1000 % 1000));

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
