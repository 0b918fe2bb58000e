/*
 * lever.c: the Lever client on libcurl (lever.h).
 *
 * Design: a `struct sl_lever` is one CURL easy handle plus the settings it
 * reads; the handle is reset before every request but kept for the life of
 * the client, so its connection cache and DNS cache make keep-alive work for
 * reads. Every request goes through perform(), which sets the same limits
 * (connect 5 s, total 30 s, TLS verification, http/https only, no
 * redirects), reads the body and Retry-After, parses JSON and both error
 * shapes (Lever's {"code","message"}, OAuth's {"error","error_description"}),
 * and counts the request in sl_lever_requests_total{endpoint,status} and
 * sl_lever_request_duration_seconds{endpoint}, where endpoint is a path
 * template ("/opportunities/{id}/notes") so that ids never become labels.
 *
 * Exactly once (SPEC 6): libcurl silently sends a request again when a
 * reused keep-alive connection dies before any answer. For a GET that is
 * harmless; for a POST it would create a second opportunity. Non-idempotent
 * requests therefore always open a fresh connection (CURLOPT_FRESH_CONNECT),
 * on which libcurl never retries, and `sent` tells the caller whether a
 * request that got no answer may still have reached Lever.
 *
 * The rate-limit gate is called before every Data API request (each page of
 * a listing included). Token-endpoint requests go to the OAuth server, not
 * the Data API, and are not gated.
 *
 * Threads: a client belongs to one thread at a time (workers own one, HTTP
 * handlers borrow one from the pool). The pool and the pure helpers may be
 * used from any thread. curl_global_init() must have run before threads
 * start (main does it).
 * Ownership: responses own their JSON; tokens own their strings; the pool
 * owns its clients.
 */
#include "lever.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 30000L
#define MAX_BODY (16L * 1024 * 1024) /* a Lever page is far smaller; refuse runaway bodies */
#define PAGE_LIMIT "100"
#define MAX_PAGES 10000
#define POOL_DRAIN_S 35 /* longer than a request may take */

const char *const SL_LEVER_SCOPES =
    "offline_access opportunities:write:admin notes:write:admin postings:read:admin "
    "stages:read:admin users:read:admin users:write:admin";

struct sl_lever {
    const struct sl_config *cfg;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    sl_lever_gate_fn gate;
    void *gate_ctx;
};

/* ---- responses and tokens ---- */

void sl_lever_resp_cleanup(struct sl_lever_resp *r)
{
    if (!r)
        return;
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
    r->retry_after_s = -1;
}

static void wipe_free(char *s)
{
    if (s) {
        /* Tokens are secrets: do not leave them in freed heap memory. */
        volatile char *p = s;
        while (*p)
            *p++ = '\0';
        free(s);
    }
}

void sl_lever_tokens_cleanup(struct sl_lever_tokens *t)
{
    if (!t)
        return;
    wipe_free(t->access_token);
    wipe_free(t->refresh_token);
    free(t->scope);
    free(t->account_id);
    free(t->user_id);
    memset(t, 0, sizeof(*t));
}

/* ---- pure helpers ---- */

void sl_lever_endpoint_label(const char *path, char *out, size_t n)
{
    SL_ASSERT(n > 0);
    struct sl_buf b;
    sl_buf_init(&b);
    const char *p = path ? path : "";
    size_t plen = strcspn(p, "?#");
    int index = 0;
    for (size_t i = 0; i < plen;) {
        if (p[i] == '/') {
            i++;
            continue;
        }
        size_t len = strcspn(p + i, "/?#");
        if (len > plen - i)
            len = plen - i;
        if (index % 2 == 1)
            sl_buf_puts(&b, "/{id}");
        else {
            sl_buf_puts(&b, "/");
            sl_buf_append(&b, p + i, len);
        }
        index++;
        i += len;
    }
    if (b.len == 0)
        sl_buf_puts(&b, "/");
    sl_strlcpy(out, b.data, n);
    sl_buf_cleanup(&b);
}

static char *claim(const json_t *claims, const char *name)
{
    const char *v = json_string_value(json_object_get(claims, name));
    return v && *v ? sl_xstrdup(v) : NULL;
}

enum sl_rc sl_lever_jwt_claims(const char *token, char **account_id, char **user_id)
{
    *account_id = NULL;
    *user_id = NULL;
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || dot2 == dot1 + 1 || strchr(dot2 + 1, '.'))
        return SL_ERR_INVALID;
    char *payload_b64 = sl_xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    unsigned char *payload = NULL;
    size_t len = 0;
    enum sl_rc rc = sl_base64_decode(payload_b64, &payload, &len, NULL);
    free(payload_b64);
    if (rc)
        return SL_ERR_INVALID;
    json_t *claims = json_loadb((const char *)payload, len, 0, NULL);
    free(payload);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return SL_ERR_INVALID;
    }
    *account_id = claim(claims, "https://oauth.lever.co/accountId");
    *user_id = claim(claims, "https://oauth.lever.co/userId");
    json_decref(claims);
    return SL_OK;
}

/* Appends `s` percent-encoded by libcurl (RFC 3986 unreserved kept). */
static void append_escaped(struct sl_buf *b, CURL *curl, const char *s)
{
    char *e = curl_easy_escape(curl, s ? s : "", 0);
    SL_ASSERT(e);
    sl_buf_puts(b, e);
    curl_free(e);
}

char *sl_lever_authorize_url(const struct sl_config *cfg, const char *state)
{
    if (!cfg->lever_client_id || !state)
        return NULL;
    /* curl_easy_escape ignores its handle (libcurl >= 7.82), so this needs none. */
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s/authorize?client_id=", cfg->lever_auth_url);
    append_escaped(&b, NULL, cfg->lever_client_id);
    sl_buf_puts(&b, "&redirect_uri=");
    char redirect[1024];
    snprintf(redirect, sizeof(redirect), "%s/oauth/lever/callback", cfg->public_url);
    append_escaped(&b, NULL, redirect);
    sl_buf_puts(&b, "&response_type=code&state=");
    append_escaped(&b, NULL, state);
    sl_buf_puts(&b, "&audience=");
    append_escaped(&b, NULL, cfg->lever_audience);
    sl_buf_puts(&b, "&scope=");
    append_escaped(&b, NULL, SL_LEVER_SCOPES);
    sl_buf_puts(&b, "&prompt=consent");
    return sl_buf_take(&b);
}

/* ---- the client ---- */

void sl_lever_global_init(void)
{
    SL_ASSERT(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

void sl_lever_global_cleanup(void)
{
    curl_global_cleanup();
}

struct sl_lever *sl_lever_create(const struct sl_config *cfg)
{
    struct sl_lever *lv = sl_xcalloc(1, sizeof(*lv));
    lv->cfg = cfg;
    lv->curl = curl_easy_init();
    SL_ASSERT(lv->curl);
    return lv;
}

void sl_lever_destroy(struct sl_lever *lv)
{
    if (!lv)
        return;
    curl_easy_cleanup(lv->curl);
    free(lv);
}

void sl_lever_set_gate(struct sl_lever *lv, sl_lever_gate_fn gate, void *ctx)
{
    lv->gate = gate;
    lv->gate_ctx = ctx;
}

struct sink {
    struct sl_buf body;
    long retry_after_s;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    if (s->body.len + size * n > (size_t)MAX_BODY)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    sl_buf_append(&s->body, p, size * n);
    return size * n;
}

/* Retry-After: delay-seconds or an HTTP date (RFC 9110 10.2.3). */
static long parse_retry_after(const char *v, size_t len)
{
    char text[128];
    if (len >= sizeof(text))
        return -1;
    memcpy(text, v, len);
    text[len] = '\0';
    long secs;
    if (sl_parse_long(text, 0, 86400L * 365, &secs))
        return secs;
    time_t at = curl_getdate(text, NULL);
    if (at < 0)
        return -1;
    long delta = (long)(at - time(NULL));
    return delta < 0 ? 0 : delta;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1, *end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        s->retry_after_s = parse_retry_after(v, (size_t)(end - v));
    }
    return len;
}

struct request {
    const char *method;
    const char *url;
    const char *endpoint;     /* metrics label */
    const char *content_type; /* of the body; NULL: none */
    const char *bearer;       /* NULL: no Authorization */
    const char *body;         /* NULL: none */
    size_t body_len;
};

static void copy_error_fields(struct sl_lever_resp *resp)
{
    if (!json_is_object(resp->body))
        return;
    const char *code = json_string_value(json_object_get(resp->body, "code"));
    const char *msg = json_string_value(json_object_get(resp->body, "message"));
    if (!code) {
        code = json_string_value(json_object_get(resp->body, "error"));
        msg = json_string_value(json_object_get(resp->body, "error_description"));
    }
    if (code)
        sl_strlcpy(resp->error_code, code, sizeof(resp->error_code));
    if (msg)
        sl_strlcpy(resp->error_message, msg, sizeof(resp->error_message));
}

static void count(const struct request *rq, const struct sl_lever_resp *resp)
{
    char labels[160], status[16];
    if (resp->status)
        snprintf(status, sizeof(status), "%ld", resp->status);
    else
        sl_strlcpy(status, "error", sizeof(status));
    snprintf(labels, sizeof(labels), "endpoint=\"%s\",status=\"%s\"", rq->endpoint, status);
    sl_metrics_inc("sl_lever_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "endpoint=\"%s\"", rq->endpoint);
    sl_metrics_observe("sl_lever_request_duration_seconds", labels, resp->seconds);
}

/* One HTTP exchange. Fills `resp` (initialised here); returns SL_OK when an
 * HTTP answer came, SL_ERR_UPSTREAM (resp->status 0) when none did. */
static enum sl_rc perform(struct sl_lever *lv, const struct request *rq, struct sl_lever_resp *resp,
                          struct sl_err *err)
{
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
    CURL *c = lv->curl;
    curl_easy_reset(c); /* keeps the connection and DNS caches */
    struct sink sink = {.retry_after_s = -1};
    sl_buf_init(&sink.body);
    struct curl_slist *headers = NULL;
    char line[4096];
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        headers = curl_slist_append(headers, line);
    }
    char *auth = NULL;
    if (rq->bearer) {
        size_t n = strlen(rq->bearer) + sizeof("Authorization: Bearer ");
        auth = sl_xmalloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", rq->bearer);
        headers = curl_slist_append(headers, auth);
        wipe_free(auth); /* curl_slist_append copied it */
    }
    SL_ASSERT(headers);

    lv->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, lv->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "stakha-lever/" SL_VERSION);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    bool idempotent = strcmp(rq->method, "POST") != 0 && strcmp(rq->method, "PATCH") != 0;
    if (!idempotent)
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L); /* never silently resent: see top */
    if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(rq->body ? rq->body_len : 0));
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
        if (rq->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
        }
    }

    int64_t started = sl_mono_ns();
    CURLcode cc = curl_easy_perform(c);
    resp->seconds = (double)(sl_mono_ns() - started) / 1e9;
    curl_slist_free_all(headers);
    enum sl_rc rc = SL_OK;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->sent = true;
        resp->retry_after_s = sink.retry_after_s;
        if (sink.body.len) {
            resp->body = json_loadb(sink.body.data, sink.body.len, 0, NULL);
            json_t *data = json_object_get(resp->body, "data");
            resp->data = data ? data : resp->body;
            copy_error_fields(resp);
        }
    } else {
        long request_bytes = 0;
        curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes);
        /* Bytes went out: Lever may have acted on the request. */
        resp->sent = request_bytes > 0;
        rc = sl_err_set(err, SL_ERR_UPSTREAM, "Lever %s %s: %s", rq->method, rq->endpoint,
                        lv->errbuf[0] ? lv->errbuf : curl_easy_strerror(cc));
    }
    sl_buf_cleanup(&sink.body);
    count(rq, resp);
    sl_log_fields(SL_LOG_DEBUG, "lever_request",
                  json_pack("{s:s,s:s,s:i,s:f,s:b}", "method", rq->method, "endpoint", rq->endpoint,
                            "status", (int)resp->status, "duration_ms", resp->seconds * 1000,
                            "sent", resp->sent));
    return rc;
}

/* ---- OAuth ---- */

static void form_field(struct sl_buf *b, CURL *curl, const char *name, const char *value)
{
    if (b->len)
        sl_buf_puts(b, "&");
    sl_buf_puts(b, name);
    sl_buf_puts(b, "=");
    append_escaped(b, curl, value);
}

static void wipe_buf(struct sl_buf *b)
{
    if (b->data) {
        volatile char *p = b->data;
        for (size_t i = 0; i < b->len; i++)
            p[i] = '\0';
    }
    sl_buf_cleanup(b);
}

static enum sl_rc read_tokens(const struct sl_lever_resp *resp, struct sl_lever_tokens *out,
                              struct sl_err *err)
{
    const char *access = json_string_value(json_object_get(resp->body, "access_token"));
    if (!access || !*access)
        return sl_err_set(err, SL_ERR_UPSTREAM,
                          "Lever's token endpoint answered %ld without an "
                          "access token",
                          resp->status);
    const char *refresh = json_string_value(json_object_get(resp->body, "refresh_token"));
    const char *scope = json_string_value(json_object_get(resp->body, "scope"));
    json_t *expires = json_object_get(resp->body, "expires_in");
    out->access_token = sl_xstrdup(access);
    out->refresh_token = refresh && *refresh ? sl_xstrdup(refresh) : NULL;
    out->scope = scope ? sl_xstrdup(scope) : NULL;
    out->expires_in = json_is_integer(expires) && json_integer_value(expires) > 0
                          ? (long)json_integer_value(expires)
                          : 3600; /* Lever's documented default */
    if (sl_lever_jwt_claims(access, &out->account_id, &out->user_id) != SL_OK) {
        out->account_id = NULL; /* an opaque token: no claims to read */
        out->user_id = NULL;
    }
    return SL_OK;
}

/* POSTs `form` to the token endpoint and reads the tokens. */
static enum sl_rc token_request(struct sl_lever *lv, const struct sl_buf *form,
                                struct sl_lever_tokens *out, struct sl_lever_resp *resp,
                                struct sl_err *err)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/oauth/token", lv->cfg->lever_auth_url);
    struct request rq = {.method = "POST",
                         .url = url,
                         .endpoint = "/oauth/token",
                         .content_type = "application/x-www-form-urlencoded",
                         .body = form->data,
                         .body_len = form->len};
    enum sl_rc rc = perform(lv, &rq, resp, err);
    if (rc)
        return rc;
    if (resp->status >= 200 && resp->status < 300)
        return read_tokens(resp, out, err);
    enum sl_rc fail = resp->status >= 400 && resp->status < 500 ? SL_ERR_AUTH : SL_ERR_UPSTREAM;
    return sl_err_set(err, fail, "Lever's token endpoint answered %ld%s%s%s%s", resp->status,
                      resp->error_code[0] ? " " : "", resp->error_code,
                      resp->error_message[0] ? ": " : "", resp->error_message);
}

static enum sl_rc oauth(struct sl_lever *lv, const char *grant_type, const char *name,
                        const char *value, struct sl_lever_tokens *out,
                        struct sl_lever_resp *resp_out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    struct sl_lever_resp local;
    struct sl_lever_resp *resp = resp_out ? resp_out : &local;
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
    const struct sl_config *cfg = lv->cfg;
    if (!cfg->lever_client_id || !cfg->lever_client_secret)
        return sl_err_set(err, SL_ERR_CONFIG,
                          "SL_LEVER_CLIENT_ID and SL_LEVER_CLIENT_SECRET "
                          "are not set: this service cannot talk to Lever's OAuth server");
    struct sl_buf form;
    sl_buf_init(&form);
    form_field(&form, lv->curl, "grant_type", grant_type);
    form_field(&form, lv->curl, "client_id", cfg->lever_client_id);
    form_field(&form, lv->curl, "client_secret", cfg->lever_client_secret);
    form_field(&form, lv->curl, name, value);
    if (strcmp(grant_type, "authorization_code") == 0) {
        char redirect[1024];
        snprintf(redirect, sizeof(redirect), "%s/oauth/lever/callback", cfg->public_url);
        form_field(&form, lv->curl, "redirect_uri", redirect);
    }
    enum sl_rc rc = token_request(lv, &form, out, resp, err);
    wipe_buf(&form);
    if (resp == &local)
        sl_lever_resp_cleanup(&local);
    return rc;
}

enum sl_rc sl_lever_exchange_code(struct sl_lever *lv, const char *code,
                                  struct sl_lever_tokens *out, struct sl_lever_resp *resp,
                                  struct sl_err *err)
{
    return oauth(lv, "authorization_code", "code", code, out, resp, err);
}

enum sl_rc sl_lever_refresh(struct sl_lever *lv, const char *refresh_token,
                            struct sl_lever_tokens *out, struct sl_lever_resp *resp,
                            struct sl_err *err)
{
    return oauth(lv, "refresh_token", "refresh_token", refresh_token, out, resp, err);
}

/* ---- Data API ---- */

static void append_query(struct sl_buf *url, CURL *curl, const char *const *query, bool *first)
{
    for (size_t i = 0; query && query[i] && query[i + 1]; i += 2) {
        sl_buf_puts(url, *first ? "?" : "&");
        *first = false;
        append_escaped(url, curl, query[i]);
        sl_buf_puts(url, "=");
        append_escaped(url, curl, query[i + 1]);
    }
}

enum sl_rc sl_lever_call(struct sl_lever *lv, const char *method, const char *access_token,
                         const char *path, const char *const *query, const json_t *body,
                         struct sl_lever_resp *resp, struct sl_err *err)
{
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
    if (lv->gate) {
        enum sl_rc rc = lv->gate(lv->gate_ctx, err);
        if (rc)
            return rc;
    }
    struct sl_buf url;
    sl_buf_init(&url);
    sl_buf_puts(&url, lv->cfg->lever_api_url);
    sl_buf_puts(&url, path);
    bool first = strchr(path, '?') == NULL;
    append_query(&url, lv->curl, query, &first);
    char endpoint[128];
    sl_lever_endpoint_label(path, endpoint, sizeof(endpoint));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    SL_ASSERT(!body || text);
    struct request rq = {.method = method,
                         .url = url.data,
                         .endpoint = endpoint,
                         .content_type = text ? "application/json" : NULL,
                         .bearer = access_token,
                         .body = text,
                         .body_len = text ? strlen(text) : 0};
    enum sl_rc rc = perform(lv, &rq, resp, err);
    free(text);
    sl_buf_cleanup(&url);
    return rc;
}

static bool has_param(const char *const *query, const char *name)
{
    for (size_t i = 0; query && query[i] && query[i + 1]; i += 2)
        if (strcmp(query[i], name) == 0)
            return true;
    return false;
}

enum sl_rc sl_lever_list(struct sl_lever *lv, const char *access_token, const char *path,
                         const char *const *query, json_t **items, struct sl_lever_resp *resp_out,
                         struct sl_err *err)
{
    *items = NULL;
    size_t nq = 0;
    while (query && query[nq] && query[nq + 1])
        nq += 2;
    const char **q = sl_xcalloc(nq + 5, sizeof(*q));
    for (size_t i = 0; i < nq; i++)
        q[i] = query[i];
    size_t at = nq;
    if (!has_param(query, "limit")) {
        q[at++] = "limit";
        q[at++] = PAGE_LIMIT;
    }
    size_t offset_at = at;
    struct sl_lever_resp local;
    struct sl_lever_resp *resp = resp_out ? resp_out : &local;
    memset(resp, 0, sizeof(*resp));
    json_t *all = json_array();
    char *next = NULL;
    enum sl_rc rc = SL_OK;
    for (int page = 0;; page++) {
        if (page == MAX_PAGES) {
            rc = sl_err_set(err, SL_ERR_UPSTREAM, "Lever %s: more than %d pages", path, MAX_PAGES);
            break;
        }
        q[offset_at] = next ? "offset" : NULL;
        q[offset_at + 1] = next;
        sl_lever_resp_cleanup(resp);
        rc = sl_lever_call(lv, "GET", access_token, path, q, NULL, resp, err);
        if (rc)
            break;
        if (resp->status < 200 || resp->status >= 300) {
            rc = sl_err_set(err, resp->status == 401 ? SL_ERR_AUTH : SL_ERR_UPSTREAM,
                            "Lever GET %s answered %ld%s%s%s%s", path, resp->status,
                            resp->error_code[0] ? " " : "", resp->error_code,
                            resp->error_message[0] ? ": " : "", resp->error_message);
            break;
        }
        if (!json_is_array(resp->data)) {
            rc =
                sl_err_set(err, SL_ERR_UPSTREAM, "Lever GET %s: the answer has no data list", path);
            break;
        }
        json_array_extend(all, resp->data);
        free(next);
        next = NULL;
        const char *n = json_string_value(json_object_get(resp->body, "next"));
        if (!json_is_true(json_object_get(resp->body, "hasNext")))
            break;
        if (!n || !*n) {
            rc = sl_err_set(err, SL_ERR_UPSTREAM, "Lever GET %s: hasNext without next", path);
            break;
        }
        next = sl_xstrdup(n);
    }
    free(next);
    free(q);
    if (resp == &local)
        sl_lever_resp_cleanup(&local);
    if (rc) {
        json_decref(all);
        return rc;
    }
    *items = all;
    return SL_OK;
}

/* ---- the pool ---- */

struct sl_lever_pool {
    const struct sl_config *cfg;
    pthread_mutex_t lock;
    pthread_cond_t returned;
    int size;     /* most clients that exist at once */
    int created;  /* clients in existence */
    int borrowed; /* of them, lent out */
    struct sl_lever **idle;
    int nidle;
};

struct sl_lever_pool *sl_lever_pool_create(const struct sl_config *cfg, int size)
{
    SL_ASSERT(size > 0);
    struct sl_lever_pool *pool = sl_xcalloc(1, sizeof(*pool));
    pool->cfg = cfg;
    pool->size = size;
    pool->idle = sl_xcalloc((size_t)size, sizeof(*pool->idle));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->returned, NULL);
    return pool;
}

void sl_lever_pool_destroy(struct sl_lever_pool *pool)
{
    if (!pool)
        return;
    /* A request thread may still hold a client (at most one request, 30 s). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_DRAIN_S;
    pthread_mutex_lock(&pool->lock);
    while (pool->borrowed > 0 &&
           pthread_cond_timedwait(&pool->returned, &pool->lock, &until) != ETIMEDOUT)
        ;
    int still = pool->borrowed;
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nidle; i++)
        sl_lever_destroy(pool->idle[i]);
    if (still) {
        /* Leak the pool rather than free what a thread still uses. */
        sl_log(SL_LOG_WARN, "lever_pool", "%d Lever client(s) still in use at shutdown", still);
        pool->nidle = 0;
        return;
    }
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->returned);
    free(pool->idle);
    free(pool);
}

struct sl_lever *sl_lever_pool_acquire(struct sl_lever_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->nidle == 0 && pool->created == pool->size)
        pthread_cond_wait(&pool->returned, &pool->lock);
    struct sl_lever *lv = NULL;
    if (pool->nidle > 0) {
        lv = pool->idle[--pool->nidle];
    } else {
        lv = sl_lever_create(pool->cfg);
        pool->created++;
    }
    pool->borrowed++;
    pthread_mutex_unlock(&pool->lock);
    return lv;
}

void sl_lever_pool_release(struct sl_lever_pool *pool, struct sl_lever *lv)
{
    if (!lv)
        return;
    sl_lever_set_gate(lv, NULL, NULL); /* the next borrower installs its own */
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->nidle++] = lv;
    pool->borrowed--;
    pthread_cond_broadcast(&pool->returned);
    pthread_mutex_unlock(&pool->lock);
}
