/*
 * log.h: one JSON object per line on stderr.
 *
 * Every line has "ts", "level", "event" and, when the calling thread is
 * serving a request, "request_id". Callers never log secrets, tokens or a
 * candidate's personal data beyond ids (SPEC 8).
 *
 * Threads: any. Each line is written with one write(2), so lines from
 * different threads never interleave.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_FATAL };

/* Sets the lowest level written ("debug", "info", "warn", "error"); false if unknown.
 * Call once at start-up, before threads. */
bool sl_log_set_level(const char *name);

/* True when `name` is a level sl_log_set_level() accepts. */
bool sl_log_level_valid(const char *name);

/* The request id of the request the calling thread serves, or NULL. Set by
 * server/http.c around each handler; the pointer must outlive the handler. */
void sl_log_set_request_id(const char *id);
const char *sl_log_request_id(void);

/* Logs `event` with a printf-style "msg". */
void sl_log(enum sl_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs `event` with the members of `fields` (taken: the function decrefs it). */
void sl_log_fields(enum sl_log_level level, const char *event, json_t *fields);

/* The access-log line of one HTTP request, at info level. Formatted without
 * jansson, because it is on every request's path: `request_id`, `method` and
 * `route` must hold only characters that need no JSON escaping (the HTTP
 * layer guarantees it). While the flusher runs, these lines are buffered per
 * thread and written at least every 100 ms. */
void sl_log_access(const char *request_id, const char *method, const char *route, int status,
                   double duration_ms, size_t body_bytes, bool completed);

/* Starts / stops the thread that writes buffered access lines every 100 ms
 * (main thread, once each); stop writes what is left. */
void sl_log_start_flusher(void);
void sl_log_stop_flusher(void);
/* Writes every buffered access line now. Any thread. */
void sl_log_flush(void);

#endif
