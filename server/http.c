/*
 * http.c: the libmicrohttpd daemon, routing, body collection and responses.
 *
 * Design: one daemon in epoll mode with an internal thread pool. The access
 * callback is called several times per request; the first call allocates a
 * `struct sl_req`, matches the route table and refuses early (404, 405,
 * 413 from Content-Length, 401) before any body is read; later calls append
 * the body until the route's limit; the last one runs the handler and
 * queues its response. The request's memory is freed when libmicrohttpd
 * reports the request completed, which is also where the access-log line is
 * written and the request is counted. Shutdown quiesces the listening
 * socket, then waits for the requests in flight (counted here, since idle
 * keep-alive connections never finish) before stopping the daemon.
 *
 * Threads: the daemon's pool threads run everything here except
 * sl_http_start/stop (main thread).
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define MAX_REPLY_HEADERS 8

struct sl_http {
    struct MHD_Daemon *daemon;
    struct sl_app *app;
    int port;
    atomic_int in_flight;
    bool quiesced;
};

struct sl_req {
    struct sl_http *http;
    struct MHD_Connection *conn;
    struct sl_route_match match;
    char method[16];
    char *path;
    char id[72];
    int64_t started_ns;
    struct sl_buf body;
    bool too_large;
    bool answered; /* a response was queued */
    bool deferred; /* suspended until another thread replies (sl_req_defer) */
    /* The reply, filled by the handler. */
    int status;
    char *reply_body;
    size_t reply_len;
    const char *content_type;
    int nheaders;
    char *headers[MAX_REPLY_HEADERS][2];
};

/* ---- routing ---- */

/* Compares one path segment [seg, seg+len) with a pattern segment. */
static bool segment_matches(const char *pat, size_t plen, const char *seg, size_t slen,
                            struct sl_route_match *m)
{
    if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
        if (slen == 0 || m->nparams >= SL_ROUTE_MAX_PARAMS || slen >= sizeof(m->params[0].value) ||
            plen - 2 >= sizeof(m->params[0].name))
            return false;
        memcpy(m->params[m->nparams].name, pat + 1, plen - 2);
        m->params[m->nparams].name[plen - 2] = '\0';
        memcpy(m->params[m->nparams].value, seg, slen);
        m->params[m->nparams].value[slen] = '\0';
        m->nparams++;
        return true;
    }
    return plen == slen && memcmp(pat, seg, slen) == 0;
}

static bool path_matches(const char *pattern, const char *path, struct sl_route_match *m)
{
    m->nparams = 0;
    const char *p = pattern, *s = path;
    for (;;) {
        if (*p != '/' || *s != '/')
            return *p == '\0' && *s == '\0';
        p++;
        s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (!segment_matches(p, plen, s, slen, m))
            return false;
        p += plen;
        s += slen;
    }
}

void sl_route_match(const struct sl_route *routes, size_t nroutes, const char *method,
                    const char *path, struct sl_route_match *m)
{
    m->route = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';
    m->index = -1;
    m->status = 404;
    for (size_t i = 0; i < nroutes; i++) {
        struct sl_route_match tmp; /* path_matches sets what is read of it */
        if (!path_matches(routes[i].pattern, path, &tmp))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            memcpy(m->params, tmp.params, (size_t)tmp.nparams * sizeof(tmp.params[0]));
            m->nparams = tmp.nparams;
            m->route = &routes[i];
            m->index = (int)i;
            m->status = 0;
            return;
        }
        m->status = 405;
        if (!strstr(m->allow, routes[i].method)) {
            size_t n = strlen(m->allow);
            snprintf(m->allow + n, sizeof(m->allow) - n, "%s%s", n ? ", " : "", routes[i].method);
        }
    }
}

/* ---- the reply side ---- */

int sl_rc_http_status(enum sl_rc rc)
{
    switch (rc) {
    case SL_OK:
        return 200;
    case SL_ERR_INVALID:
        return 422;
    case SL_ERR_BAD_REQUEST:
        return 400;
    case SL_ERR_NOT_FOUND:
        return 404;
    case SL_ERR_CONFLICT:
        return 409;
    case SL_ERR_AUTH:
        return 401;
    case SL_ERR_TOO_LARGE:
        return 413;
    case SL_ERR_DB:
        return 503;
    case SL_ERR_UPSTREAM:
        return 502;
    case SL_ERR_IO:
    case SL_ERR_CONFIG:
    case SL_ERR_INTERNAL:
        return 500;
    }
    return 500;
}

const char *sl_rc_error_code(enum sl_rc rc)
{
    switch (rc) {
    case SL_OK:
        return "ok";
    case SL_ERR_INVALID:
        return "invalid_request";
    case SL_ERR_BAD_REQUEST:
        return "bad_request";
    case SL_ERR_NOT_FOUND:
        return "not_found";
    case SL_ERR_CONFLICT:
        return "conflict";
    case SL_ERR_AUTH:
        return "unauthorized";
    case SL_ERR_TOO_LARGE:
        return "payload_too_large";
    case SL_ERR_DB:
        return "database_unavailable";
    case SL_ERR_UPSTREAM:
        return "lever_unavailable";
    case SL_ERR_IO:
    case SL_ERR_CONFIG:
    case SL_ERR_INTERNAL:
        return "internal_error";
    }
    return "internal_error";
}

static void set_reply(struct sl_req *req, int status, const char *type, char *body, size_t len)
{
    SL_ASSERT(req->status == 0); /* one reply per request */
    req->status = status;
    req->content_type = type;
    req->reply_body = body;
    req->reply_len = len;
}

void sl_reply_json(struct sl_req *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    SL_ASSERT(text);
    set_reply(req, status, "application/json", text, strlen(text));
}

void sl_reply_error(struct sl_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (!body) /* a message that is not valid UTF-8 */
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", "request refused");
    sl_reply_json(req, status, body);
}

void sl_reply_err(struct sl_req *req, const struct sl_err *err)
{
    sl_reply_error(req, sl_rc_http_status(err->rc), sl_rc_error_code(err->rc), "%s", err->msg);
}

void sl_reply_html(struct sl_req *req, int status, char *html)
{
    set_reply(req, status, "text/html; charset=utf-8", html, strlen(html));
}

void sl_reply_text(struct sl_req *req, int status, const char *content_type, char *body)
{
    set_reply(req, status, content_type, body, strlen(body));
}

void sl_reply_empty(struct sl_req *req, int status)
{
    set_reply(req, status, NULL, NULL, 0);
}

void sl_reply_redirect(struct sl_req *req, const char *location)
{
    sl_reply_header(req, "Location", location);
    set_reply(req, 302, NULL, NULL, 0);
}

void sl_reply_header(struct sl_req *req, const char *name, const char *value)
{
    SL_ASSERT(req->nheaders < MAX_REPLY_HEADERS);
    req->headers[req->nheaders][0] = sl_xstrdup(name);
    req->headers[req->nheaders][1] = sl_xstrdup(value);
    req->nheaders++;
}

void sl_req_defer(struct sl_req *req)
{
    SL_ASSERT(!req->deferred && req->status == 0);
    req->deferred = true;
    /* Suspended before the work is handed on, so a resume can never come first. */
    MHD_suspend_connection(req->conn);
}

void sl_req_resume(struct sl_req *req)
{
    SL_ASSERT(req->deferred && req->status != 0);
    MHD_resume_connection(req->conn);
}

/* ---- what handlers read ---- */

struct sl_app *sl_req_app(struct sl_req *req)
{
    return req->http->app;
}
const char *sl_req_method(struct sl_req *req)
{
    return req->method;
}
const char *sl_req_path(struct sl_req *req)
{
    return req->path;
}
const char *sl_req_id(struct sl_req *req)
{
    return req->id;
}

const char *sl_req_param(struct sl_req *req, const char *name)
{
    for (int i = 0; i < req->match.nparams; i++)
        if (strcmp(req->match.params[i].name, name) == 0)
            return req->match.params[i].value;
    return NULL;
}

const char *sl_req_header(struct sl_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sl_req_query(struct sl_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sl_req_body(struct sl_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

/* ---- the request life cycle ---- */

/* Request ids: echoed when the client sent a sane one, else 16 hex chars
 * from a per-thread generator seeded from the OS (unique, not secret). */
static void assign_request_id(struct sl_req *req)
{
    const char *given = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given) {
        size_t n = strlen(given);
        bool sane = n >= 1 && n < sizeof(req->id);
        for (size_t i = 0; sane && i < n; i++) {
            char c = given[i];
            sane = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   c == '-' || c == '_' || c == '.' || c == ':';
        }
        if (sane) {
            memcpy(req->id, given, n + 1);
            return;
        }
    }
    static _Thread_local uint64_t state;
    if (!state && sl_crypto_random(&state, sizeof(state), NULL) != SL_OK)
        state = (uint64_t)sl_mono_ns() | 1;
    state ^= state << 13; /* xorshift64 */
    state ^= state >> 7;
    state ^= state << 17;
    snprintf(req->id, sizeof(req->id), "%016llx", (unsigned long long)state);
}

static bool bearer_ok(struct sl_req *req)
{
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
    char **tokens = req->http->app->api_tokens;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !tokens)
        return false;
    const char *given = h + 7;
    bool found = false;
    /* Check every token, whatever matched, so timing does not tell which. */
    for (size_t i = 0; tokens[i]; i++)
        found |= sl_crypto_str_equal(given, tokens[i]);
    return found;
}

static enum MHD_Result queue_reply(struct sl_req *req)
{
    if (req->status == 0) {
        sl_log(SL_LOG_ERROR, "handler_no_reply", "handler for %s %s gave no answer", req->method,
               req->path);
        sl_reply_error(req, 500, "internal_error", "The request could not be answered.");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(req->reply_len, req->reply_body, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    req->reply_body = NULL; /* now the response's */
    if (req->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
    MHD_add_response_header(resp, "X-Request-Id", req->id);
    for (int i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->headers[i][0], req->headers[i][1]);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned int)req->status, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    return r;
}

static enum MHD_Result refuse(struct sl_req *req, int status, const char *code, const char *msg)
{
    if (status == 405)
        sl_reply_header(req, "Allow", req->match.allow);
    if (status == 401)
        sl_reply_header(req, "WWW-Authenticate", "Bearer");
    sl_reply_error(req, status, code, "%s", msg);
    return queue_reply(req);
}

static enum MHD_Result first_call(struct sl_http *http, struct MHD_Connection *conn,
                                  const char *url, const char *method, void **con_cls)
{
    struct sl_req *req = sl_xcalloc(1, sizeof(*req));
    req->http = http;
    req->conn = conn;
    req->started_ns = sl_mono_ns();
    /* Methods are tokens of letters; anything else is logged as OTHER, so the
     * access line needs no escaping. */
    sl_strlcpy(req->method, method, sizeof(req->method));
    for (const char *c = method; *c; c++)
        if (*c < 'A' || *c > 'Z' || c - method >= (long)sizeof(req->method) - 1) {
            sl_strlcpy(req->method, "OTHER", sizeof(req->method));
            break;
        }
    req->path = sl_xstrdup(url);
    sl_buf_init(&req->body);
    *con_cls = req;
    atomic_fetch_add(&http->in_flight, 1);
    assign_request_id(req);

    struct sl_app *app = http->app;
    sl_route_match(app->routes, app->nroutes, method, url, &req->match);
    if (req->match.status == 404)
        return refuse(req, 404, "not_found", "There is no such path on this service.");
    if (req->match.status == 405)
        return refuse(req, 405, "method_not_allowed",
                      "This path does not accept that method; see the Allow header.");
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long length;
    if (cl && sl_parse_long(cl, 0, __LONG_MAX__, &length) &&
        (size_t)length > req->match.route->body_limit) {
        req->too_large = true;
        return refuse(req, 413, "payload_too_large", "The request body is too large.");
    }
    if (req->match.route->auth == SL_AUTH_API && !bearer_ok(req))
        return refuse(req, 401, "unauthorized",
                      "A valid bearer token is required (Authorization: Bearer ...).");
    return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct sl_http *http = cls;
    struct sl_req *req = *con_cls;
    if (!req)
        return first_call(http, conn, url, method, con_cls);
    if (req->answered) {
        *upload_data_size = 0; /* refused early: discard whatever still arrives */
        return MHD_YES;
    }
    if (req->deferred) /* resumed: the reply was set by another thread */
        return queue_reply(req);
    if (*upload_data_size) {
        if (!req->too_large) {
            if (req->body.len + *upload_data_size > req->match.route->body_limit)
                req->too_large = true;
            else
                sl_buf_append(&req->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large)
        return refuse(req, 413, "payload_too_large", "The request body is too large.");

    sl_log_set_request_id(req->id);
    req->match.route->handler(req);
    sl_log_set_request_id(NULL);
    if (req->deferred)
        return MHD_YES;
    return queue_reply(req);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sl_http *http = cls;
    struct sl_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    int status = req->answered ? req->status : 0;
    sl_metrics_http(req->match.index, status);
    double ms = (double)(sl_mono_ns() - req->started_ns) / 1e6;
    sl_log_access(req->id, req->method, req->match.route ? req->match.route->pattern : "unmatched",
                  status, ms, req->body.len, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);

    free(req->path);
    free(req->reply_body);
    sl_buf_cleanup(&req->body);
    for (int i = 0; i < req->nheaders; i++) {
        free(req->headers[i][0]);
        free(req->headers[i][1]);
    }
    free(req);
    atomic_fetch_sub(&http->in_flight, 1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    sl_log(SL_LOG_WARN, "http_server", "%s", msg);
}

enum sl_rc sl_http_start(struct sl_app *app, struct sl_http **out, struct sl_err *err)
{
    const struct sl_config *cfg = app->cfg;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->http_port)};
    const char *host = strcmp(cfg->http_host, "localhost") == 0 ? "127.0.0.1" : cfg->http_host;
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return sl_err_set(err, SL_ERR_CONFIG,
                          "SL_HTTP_ADDR: host must be an IPv4 address or localhost, got \"%s\"",
                          cfg->http_host);
    struct sl_http *http = sl_xcalloc(1, sizeof(*http));
    http->app = app;
    unsigned int flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, http, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)cfg->http_threads, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, http,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)4096, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    if (!http->daemon) {
        free(http);
        return sl_err_set(err, SL_ERR_IO, "cannot listen on %s:%d (address in use?)",
                          cfg->http_host, cfg->http_port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? info->port : cfg->http_port;
    *out = http;
    return SL_OK;
}

int sl_http_port(const struct sl_http *http)
{
    return http->port;
}

bool sl_http_quiesce(struct sl_http *http, int timeout_ms)
{
    if (!http)
        return true;
    if (!http->quiesced) {
        http->quiesced = true;
        MHD_socket s = MHD_quiesce_daemon(http->daemon);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
    int64_t deadline = sl_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (atomic_load(&http->in_flight) > 0 && sl_mono_ns() < deadline)
        usleep(10 * 1000);
    int left = atomic_load(&http->in_flight);
    if (left > 0)
        sl_log(SL_LOG_WARN, "shutdown", "%d requests still in flight after %d ms", left,
               timeout_ms);
    return left == 0;
}

void sl_http_stop(struct sl_http *http, int timeout_ms)
{
    if (!http)
        return;
    bool ignored = sl_http_quiesce(http, timeout_ms);
    (void)ignored;
    MHD_stop_daemon(http->daemon);
    free(http);
}
