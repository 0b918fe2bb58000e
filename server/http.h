/*
 * http.h: the HTTP server as handlers see it.
 *
 * Routes are declared in one table (handlers/routes.c). For each request the
 * server matches the table, enforces the route's body limit and
 * authentication, collects the body, and calls the handler once with a
 * `struct sl_req`. The handler answers with one of the sl_reply_* calls;
 * the server adds X-Request-Id, writes the access-log line and counts the
 * request in the metrics. Handlers never include <microhttpd.h>.
 *
 * Threads: handlers run on the HTTP server's threads, several at once. A
 * `struct sl_req` and everything it returns belong to one request and are
 * valid until the handler returns.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

struct sl_req;
struct sl_app;
struct sl_http;

enum sl_auth { SL_AUTH_NONE, SL_AUTH_API };

typedef void (*sl_handler_fn)(struct sl_req *req);

struct sl_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/teams/{team_id}/lever/connect" */
    sl_handler_fn handler;
    size_t body_limit; /* bytes; a larger body is answered 413 */
    enum sl_auth auth;
};

#define SL_ROUTE_MAX_PARAMS 4

struct sl_route_match {
    const struct sl_route *route; /* NULL: no route */
    int index;                    /* of route in the table, -1 if none */
    int status;                   /* 0 matched; 404 no path; 405 path but not method */
    int nparams;
    struct {
        char name[32];
        char value[128];
    } params[SL_ROUTE_MAX_PARAMS];
    char allow[64]; /* for 405: the methods the path accepts */
};

/* Matches `method` and `path` against `routes`. Pure; any thread. A path
 * segment longer than 127 bytes never matches a {param}. */
void sl_route_match(const struct sl_route *routes, size_t nroutes, const char *method,
                    const char *path, struct sl_route_match *m);

/* Starts the server on cfg->http_host:http_port with `app` (borrowed, must
 * outlive the server). *out is caller-owned (sl_http_stop). */
enum sl_rc sl_http_start(struct sl_app *app, struct sl_http **out, struct sl_err *err) SL_MUST_USE;

/* The port actually bound (useful with port 0). */
int sl_http_port(const struct sl_http *http);

/* Stops accepting and waits up to `timeout_ms` for the requests in flight,
 * deferred ones included; the server keeps serving those. Returns false when
 * some are still in flight (their answering threads may still use the
 * server). Main thread. */
bool sl_http_quiesce(struct sl_http *http, int timeout_ms);
/* Quiesces (unless done already), then stops and frees the server. Deferred
 * requests must all have been resumed before: stop whatever answers them
 * (the ingest writer) between sl_http_quiesce and this. Main thread. */
void sl_http_stop(struct sl_http *http, int timeout_ms);

/* ---- what handlers use ---- */

struct sl_app *sl_req_app(struct sl_req *req);
const char *sl_req_method(struct sl_req *req);
const char *sl_req_path(struct sl_req *req);
const char *sl_req_id(struct sl_req *req);
/* A {param} of the route pattern, or NULL. */
const char *sl_req_param(struct sl_req *req, const char *name);
/* A request header (case-insensitive name) or query argument, or NULL. */
const char *sl_req_header(struct sl_req *req, const char *name);
const char *sl_req_query(struct sl_req *req, const char *name);
/* The raw body (NUL-terminated for convenience; may contain NULs). */
const char *sl_req_body(struct sl_req *req, size_t *len);

/* Answers: call exactly one. JSON and HTML bodies are taken (freed by the server). */
void sl_reply_json(struct sl_req *req, int status, json_t *body);
void sl_reply_error(struct sl_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sl_reply_html(struct sl_req *req, int status, char *html);
void sl_reply_text(struct sl_req *req, int status, const char *content_type, char *body);
void sl_reply_empty(struct sl_req *req, int status);
void sl_reply_redirect(struct sl_req *req, const char *location);
/* Defers the answer: the handler returns without replying and another
 * thread answers later with one sl_reply_* call followed by
 * sl_req_resume(). Meanwhile the request holds no server thread. Call from
 * the handler only, at most once. */
void sl_req_defer(struct sl_req *req);
/* After the deferred reply is set: hands the request back to the server.
 * Any thread; the request must not be touched afterwards. */
void sl_req_resume(struct sl_req *req);

/* Adds a response header; call before the reply. Values are copied. */
void sl_reply_header(struct sl_req *req, const char *name, const char *value);

/* The one mapping of error codes to HTTP statuses and error codes. */
int sl_rc_http_status(enum sl_rc rc);
const char *sl_rc_error_code(enum sl_rc rc);
/* Answers `err` in the SPEC's JSON error format with the fitting status. */
void sl_reply_err(struct sl_req *req, const struct sl_err *err);

#endif
