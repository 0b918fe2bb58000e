/*
 * fake_lever.c: a fake Lever (OAuth server and Data API v1) on libmicrohttpd, for the
 * integration tests and the standalone simulator.
 *
 * Design. One `struct fake_lever` holds all state behind one mutex: registered clients,
 * authorization codes, grants (one per authorization, carrying the current refresh token and
 * the ones it rotated away, for reuse detection), access tokens, and per Lever account its
 * users, postings, contacts, opportunities and notes. Objects Lever would show are kept as
 * jansson objects in the shape Lever answers; keys starting with '_' are private bookkeeping
 * and are stripped on the way out.
 *
 * A request goes through one pipeline (`process`): record it, apply a canned answer if one
 * was pushed, authenticate (/v1), take a token from the account's bucket, roll the fault
 * dice, dispatch to a handler, maybe drop the answer. Handlers run with the lock held and fill
 * a `struct exchange`; the answer is queued after the lock is released. Latency is slept
 * before taking the lock.
 *
 * Threads: libmicrohttpd runs one thread per connection; every public function locks, so
 * tests call them from any thread. Memory of a request belongs to that request and is freed
 * when libmicrohttpd reports it completed. Everything else is freed by fake_lever_stop().
 */
#include "fake_lever.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "util.h"

#define MAX_BODY (4u << 20)
#define CODE_TTL_MS (60 * 1000)
#define CONSENT_TTL_MS (10 * 60 * 1000)
#define REFRESH_ABSOLUTE_MS (365LL * 24 * 3600 * 1000)
#define REFRESH_IDLE_MS (90LL * 24 * 3600 * 1000)
#define LOG_LIMIT 50000
#define MINT_CLIENT "fake-client"
#define DEFAULT_SCOPE                                                                              \
    "offline_access opportunities:write:admin notes:write:admin postings:read:admin "              \
    "stages:read:admin users:read:admin users:write:admin"
#define INVALID_REFRESH "Unknown or invalid refresh token."

/* A growable array: `VEC(struct x) v;` then VEC_RESERVE(v) before writing v.v[v.n++]. */
#define VEC(type)                                                                                  \
    struct {                                                                                       \
        type *v;                                                                                   \
        size_t n, cap;                                                                             \
    }
#define VEC_RESERVE(vec)                                                                           \
    do {                                                                                           \
        if ((vec).n == (vec).cap) {                                                                \
            (vec).cap = (vec).cap ? (vec).cap * 2 : 8;                                             \
            (vec).v = sl_xrealloc((vec).v, (vec).cap * sizeof(*(vec).v));                          \
        }                                                                                          \
    } while (0)

struct kv {
    char *key;
    char *value;
};
struct kvlist {
    struct kv *v;
    size_t n, cap;
};

struct client {
    char *id, *secret, *redirect_uri;
};

struct code {
    char *code, *client_id, *redirect_uri, *scope, *account_id, *user_id;
    int64_t expires_ms;
    bool used;
};

struct grant {
    char *client_id, *account_id, *user_id, *scope;
    char *refresh; /* current refresh token, NULL without offline_access */
    VEC(char *) rotated;
    int64_t created_ms, last_used_ms;
    bool revoked;
};

struct access {
    char *token;
    size_t grant;
    int64_t exp_ms;
};

/* A consent page shown in interactive mode, waiting for Approve or Deny. */
struct pending {
    char *id, *client_id, *redirect_uri, *scope, *state;
    int64_t expires_ms;
};

struct canned {
    char *method, *pattern, *body;
    int status, retry_after_s;
};

struct fault {
    char *method, *pattern;
    int fail_permille, drop_permille;
};

struct account {
    char *id, *admin_user_id;
    json_t *users, *postings, *opportunities;
    json_t *contacts; /* contact id -> {id, name, headline, location, emails, phones, links} */
    json_t *contact_by_email; /* canonical email -> contact id */
    json_t *notes;            /* array, each with a private "_opportunity" */
    double bucket;            /* tokens left in the rate-limit bucket */
    int64_t bucket_ns;        /* monotonic time of the last refill */
    bool bucket_ready;
    VEC(int64_t) window; /* monotonic times of the /v1 requests of the last second */
    int max_rps;
};

struct fake_lever {
    pthread_mutex_t lock;
    struct MHD_Daemon *daemon;
    char base_url[96];
    uint16_t port;

    char *audience;
    char *current_account;
    int token_lifetime_s;
    int64_t clock_offset_ms;
    double rps;
    int burst;
    int latency_ms;
    bool deny_next, strict, interactive, fail_users;
    long max_page; /* 0: Lever's own 100 */
    FILE *trace;
    uint64_t prng;

    VEC(struct client) clients;
    VEC(struct code) codes;
    VEC(struct grant) grants;
    VEC(struct access) tokens;
    VEC(struct pending) pendings;
    int refresh_count, reuse_count, count_429;

    VEC(struct account *) accounts;
    json_t *offsets; /* issued pagination token -> start index */

    VEC(struct canned) canned;
    VEC(struct fault) faults;

    json_t *log;
    VEC(char *) interned;
};

/* One HTTP request as libmicrohttpd delivers it; freed on completion. */
struct request {
    char *raw_uri;
    struct sl_buf body;
    bool headers_done, too_large;
};

/* What a handler sees and answers. Everything here is owned by the exchange. */
struct exchange {
    struct fake_lever *f;
    const char *method, *path;
    char *query_string;
    struct kvlist query;
    char *auth, *content_type, *accept;
    const char *body;
    size_t body_len;

    struct account *acct; /* set when a valid bearer token names an account */
    struct grant *grant;

    int status;
    char *out;
    const char *out_type;
    struct kvlist headers;
    bool drop;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static const struct {
    const char *id, *text;
} STAGES[] = {
    {"lead-new", "New lead"},
    {"lead-reached-out", "Reached out"},
    {"lead-responded", "Responded"},
    {"applicant-new", "New applicant"},
    {"5f8e3a52-7c1d-4e0b-9a37-1d2c3b4a5e60", "Recruiter screen"},
    {"a0b9c8d7-e6f5-4a3b-8c2d-1e0f9a8b7c6d", "Phone screen"},
    {"2c4e6a8b-1d3f-4b5a-9c7e-0f2a4c6e8b1d", "On-site interview"},
    {"offer", "Offer"},
};

static const struct {
    const char *scope, *meaning;
} SCOPES[] = {
    {"offline_access", "Stay connected without asking you again (refresh tokens)"},
    {"applications:read:admin", "View all opportunity applications"},
    {"archive_reasons:read:admin", "View all archived reasons"},
    {"audit_events:read:admin", "View all audit events"},
    {"confidential:access:admin", "Access all confidential data"},
    {"contact:read:admin", "View an opportunity's contact"},
    {"contact:write:admin", "View and manage an opportunity's contact"},
    {"diversity_surveys:read:admin", "View all diversity surveys"},
    {"eeo_responses:read:admin", "View all EEO responses without personal information"},
    {"eeo_responses_pii:read:admin", "View all EEO responses with personal information"},
    {"feedback:read:admin", "View all of an opportunity's feedback"},
    {"feedback:write:admin", "View and manage all of an opportunity's feedback"},
    {"feedback_templates:read:admin", "View all feedback templates"},
    {"feedback_templates:write:admin", "View and manage all feedback templates"},
    {"files:read:admin", "View all of an opportunity's files"},
    {"files:write:admin", "View and manage all of an opportunity's files"},
    {"forms:read:admin", "View all of an opportunity's forms"},
    {"forms:write:admin", "View and manage all of an opportunity's forms"},
    {"form_templates:read:admin", "View all form templates"},
    {"form_templates:write:admin", "View and manage all form templates"},
    {"groups:read:admin", "View all user groups"},
    {"groups:write:admin", "View and manage all user groups"},
    {"interviews:read:admin", "View all of an opportunity's interviews"},
    {"interviews:write:admin", "View and manage all of an opportunity's interviews"},
    {"notes:read:admin", "View all of an opportunity's notes"},
    {"notes:write:admin", "View and manage all of an opportunity's notes"},
    {"offers:read:admin", "View all of an opportunity's offers"},
    {"opportunities:read:admin", "View all opportunities"},
    {"opportunities:write:admin", "View and manage all opportunities"},
    {"panels:read:admin", "View all of an opportunity's panels"},
    {"panels:write:admin", "View and manage all of an opportunity's panels"},
    {"permissions:read:admin", "View all user or role permissions"},
    {"permissions:write:admin", "View and manage all user or role permissions"},
    {"postings:read:admin", "View all postings"},
    {"postings:write:admin", "View and manage all postings"},
    {"referrals:read:admin", "View all of an opportunity's referrals"},
    {"requisitions:read:admin", "View all requisitions"},
    {"requisitions:write:admin", "View and manage all requisitions"},
    {"requisition_fields:read:admin", "View all requisition fields"},
    {"requisition_fields:write:admin", "View and manage all requisition fields"},
    {"resumes:read:admin", "View all of an opportunity's resumes"},
    {"roles:read:admin", "View all roles"},
    {"roles:write:admin", "View and manage all roles"},
    {"sources:read:admin", "View all sources"},
    {"stages:read:admin", "View all stages"},
    {"tags:read:admin", "View all tags"},
    {"tasks:read:admin", "View all tasks"},
    {"uploads:write:admin", "Manage all file uploads"},
    {"users:read:admin", "View all users"},
    {"users:write:admin", "View and manage all users"},
    {"webhooks:read:admin", "View all webhooks"},
    {"webhooks:write:admin", "Manage all webhooks"},
};

static const char *const ROLES[] = {"super admin", "admin", "team member", "limited team member",
                                    "interviewer"};
static const char *const ORIGINS[] = {"agency",   "applied", "internal",
                                      "referred", "sourced", "university"};
static const char *const PHONE_TYPES[] = {"mobile", "home", "work", "skype", "other"};
static const char *const POSTING_STATES[] = {"published", "internal", "closed",
                                             "draft",     "pending",  "rejected"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static int64_t clock_ms(struct fake_lever *f)
{
    return sl_now_us() / 1000 + f->clock_offset_ms;
}

static void random_bytes(unsigned char *buf, size_t n)
{
    SL_ASSERT(RAND_bytes(buf, (int)n) == 1);
}

static char *base64url(const unsigned char *in, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = sl_xmalloc(n * 4 / 3 + 4);
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static char *random_token(size_t nbytes)
{
    unsigned char buf[64];
    SL_ASSERT(nbytes <= sizeof(buf));
    random_bytes(buf, nbytes);
    return base64url(buf, nbytes);
}

static char *uuid4(void)
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *out = sl_xmalloc(37);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return out;
}

/* xorshift64*: reproducible fault dice. */
static int roll_permille(struct fake_lever *f)
{
    uint64_t x = f->prng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->prng = x;
    return (int)((x * 0x2545F4914F6CDD1DULL) >> 33) % 1000;
}

static uint64_t mix_seed(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1DULL;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? sl_xstrdup(s) : NULL;
}

static char *canon_email(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char *out = sl_xstrndup(s, n);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX (and '+' as a space, as forms and query strings do). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = sl_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void pct_encode(struct sl_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            sl_buf_append(b, s, 1);
        else
            sl_buf_printf(b, "%%%02X", c);
    }
}

static void html_escape(struct sl_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            sl_buf_puts(b, "&amp;");
            break;
        case '<':
            sl_buf_puts(b, "&lt;");
            break;
        case '>':
            sl_buf_puts(b, "&gt;");
            break;
        case '"':
            sl_buf_puts(b, "&quot;");
            break;
        case '\'':
            sl_buf_puts(b, "&#39;");
            break;
        default:
            sl_buf_append(b, s, 1);
        }
    }
}

static void kv_add(struct kvlist *l, char *key_take, char *value_take)
{
    VEC_RESERVE(*l);
    l->v[l->n].key = key_take;
    l->v[l->n].value = value_take;
    l->n++;
}

static void kv_clear(struct kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static const char *kv_get(const struct kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return l->v[i].value;
    return NULL;
}

static bool kv_has_value(const struct kvlist *l, const char *key, const char *value)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0 && strcmp(l->v[i].value, value) == 0)
            return true;
    return false;
}

static size_t kv_count(const struct kvlist *l, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strcmp(l->v[i].key, key) == 0;
    return n;
}

/* "a=1&b=2&a=3" -> list; keys and values percent-decoded. */
static void parse_urlencoded(const char *s, size_t len, struct kvlist *out)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && s[eq] != '=')
                eq++;
            char *key = pct_decode(s + i, eq - i);
            char *value = eq < end ? pct_decode(s + eq + 1, end - eq - 1) : sl_xstrdup("");
            kv_add(out, key, value);
        }
        i = end + 1;
    }
}

/* Does `path` match `pattern`? A prefix match where '*' is one path segment and a trailing
 * '$' demands the whole path. */
static bool path_match(const char *pattern, const char *path)
{
    while (*pattern) {
        if (pattern[0] == '$' && pattern[1] == '\0')
            return *path == '\0';
        if (*pattern == '*') {
            if (*path == '\0' || *path == '/')
                return false;
            while (*path && *path != '/')
                path++;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return true;
}

static bool method_match(const char *want, const char *method)
{
    return !want || strcmp(want, "*") == 0 || strcasecmp(want, method) == 0;
}

/* Is the space-separated `scope` holding `want`? */
static bool scope_has(const char *scope, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = scope; p && *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && strncmp(p, want, n) == 0)
            return true;
        p = e;
    }
    return false;
}

static const char *intern(struct fake_lever *f, const char *s)
{
    VEC_RESERVE(f->interned);
    char *copy = sl_xstrdup(s);
    f->interned.v[f->interned.n++] = copy;
    return copy;
}

/* ---- accounts and objects ----------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *find_by_id(json_t *array, const char *id)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (id && jstr(item, "id") && strcmp(jstr(item, "id"), id) == 0)
            return item;
    }
    return NULL;
}

static json_t *make_user(struct fake_lever *f, const char *id, const char *name, const char *email,
                         const char *role, bool deactivated)
{
    char *canon = canon_email(email);
    char *at = strchr(canon, '@');
    json_t *u = json_pack(
        "{s:s, s:s, s:s%, s:s, s:I, s:n, s:n, s:s, s:n, s:[], s:n, s:n}", "id", id, "name", name,
        "username", canon, (size_t)(at ? (size_t)(at - canon) : strlen(canon)), "email", email,
        "createdAt", (json_int_t)clock_ms(f), "deactivatedAt", "externalDirectoryId", "accessRole",
        role, "photo", "linkedContactIds", "jobTitle", "managerId");
    SL_ASSERT(u);
    if (deactivated)
        json_object_set_new(u, "deactivatedAt", json_integer(clock_ms(f)));
    free(canon);
    return u;
}

/* Creates account `id` with its super admin `admin_id` (NULL: "<id>_admin"). */
static struct account *account_create(struct fake_lever *f, const char *id, const char *admin_id)
{
    struct account *a = sl_xcalloc(1, sizeof(*a));
    a->id = sl_xstrdup(id);
    if (admin_id) {
        a->admin_user_id = sl_xstrdup(admin_id);
    } else {
        size_t n = strlen(id) + 8;
        a->admin_user_id = sl_xmalloc(n);
        snprintf(a->admin_user_id, n, "%s_admin", id);
    }
    a->users = json_array();
    a->postings = json_array();
    a->opportunities = json_array();
    a->contacts = json_object();
    a->contact_by_email = json_object();
    a->notes = json_array();
    json_array_append_new(a->users, make_user(f, a->admin_user_id, "Ada Admin", "admin@example.com",
                                              "super admin", false));
    VEC_RESERVE(f->accounts);
    f->accounts.v[f->accounts.n++] = a;
    return a;
}

static struct account *account_get(struct fake_lever *f, const char *id, bool create)
{
    for (size_t i = 0; i < f->accounts.n; i++)
        if (strcmp(f->accounts.v[i]->id, id) == 0)
            return f->accounts.v[i];
    return create ? account_create(f, id, NULL) : NULL;
}

static void account_free(struct account *a)
{
    free(a->id);
    free(a->admin_user_id);
    json_decref(a->users);
    json_decref(a->postings);
    json_decref(a->opportunities);
    json_decref(a->contacts);
    json_decref(a->contact_by_email);
    json_decref(a->notes);
    free(a->window.v);
    free(a);
}

/* A copy of `o` without its private '_' keys: what Lever would show. */
static json_t *public_copy(const json_t *o)
{
    json_t *c = json_deep_copy(o);
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(c, tmp, key, value)
    {
        if (key[0] == '_')
            json_object_del(c, key);
    }
    return c;
}

static int stage_index(const char *id)
{
    for (size_t i = 0; i < COUNT(STAGES); i++)
        if (strcmp(STAGES[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* ---- OAuth state -------------------------------------------------------------------------- */

static struct client *client_get(struct fake_lever *f, const char *id)
{
    for (size_t i = 0; id && i < f->clients.n; i++)
        if (strcmp(f->clients.v[i].id, id) == 0)
            return &f->clients.v[i];
    return NULL;
}

static bool grant_expired(struct fake_lever *f, const struct grant *g)
{
    int64_t now = clock_ms(f);
    return now - g->created_ms > REFRESH_ABSOLUTE_MS || now - g->last_used_ms > REFRESH_IDLE_MS;
}

static char *make_jwt(struct fake_lever *f, const struct grant *g, int64_t iat_s, int64_t exp_s)
{
    static const char header[] = "{\"alg\":\"HS512\",\"typ\":\"JWT\"}";
    char iss[128];
    snprintf(iss, sizeof(iss), "%s/", f->base_url);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}",
                  "https://oauth.lever.co/userId", g->user_id, "https://oauth.lever.co/accountId",
                  g->account_id, "https://oauth.lever.co/clientId", g->client_id, "iss", iss, "sub",
                  g->user_id, "aud", f->audience, "iat", (json_int_t)iat_s, "exp",
                  (json_int_t)exp_s, "azp", g->client_id, "scope", g->scope);
    SL_ASSERT(claims);
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    char *h64 = base64url((const unsigned char *)header, strlen(header));
    char *p64 = base64url((const unsigned char *)payload, strlen(payload));
    char *sig = random_token(32);
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s.%s.%s", h64, p64, sig);
    free(payload);
    free(h64);
    free(p64);
    free(sig);
    return sl_buf_take(&b);
}

/* Issues an access token (and rotates the refresh token when `rotate`) for grant `gi`;
 * returns the token endpoint's JSON answer. */
static json_t *issue_tokens(struct fake_lever *f, size_t gi, bool rotate)
{
    struct grant *g = &f->grants.v[gi];
    int64_t now = clock_ms(f);
    char *access = make_jwt(f, g, now / 1000, now / 1000 + f->token_lifetime_s);
    VEC_RESERVE(f->tokens);
    f->tokens.v[f->tokens.n++] =
        (struct access){.token = access, .grant = gi, .exp_ms = now + f->token_lifetime_s * 1000LL};
    if (rotate && g->refresh) {
        VEC_RESERVE(g->rotated);
        g->rotated.v[g->rotated.n++] = g->refresh;
        g->refresh = NULL;
    }
    if (!g->refresh && scope_has(g->scope, "offline_access")) {
        char *r = random_token(36);
        size_t n = strlen(r) + 4;
        g->refresh = sl_xmalloc(n);
        snprintf(g->refresh, n, "v1.%s", r);
        free(r);
    }
    g->last_used_ms = now;
    json_t *out = json_pack("{s:s, s:s, s:s, s:i}", "access_token", access, "token_type", "Bearer",
                            "scope", g->scope, "expires_in", f->token_lifetime_s);
    SL_ASSERT(out);
    if (g->refresh && scope_has(g->scope, "offline_access"))
        json_object_set_new(out, "refresh_token", json_string(g->refresh));
    return out;
}

static size_t grant_create(struct fake_lever *f, const char *client_id, const char *account_id,
                           const char *user_id, const char *scope)
{
    VEC_RESERVE(f->grants);
    struct grant *g = &f->grants.v[f->grants.n];
    memset(g, 0, sizeof(*g));
    g->client_id = sl_xstrdup(client_id);
    g->account_id = sl_xstrdup(account_id);
    g->user_id = sl_xstrdup(user_id);
    g->scope = sl_xstrdup(scope);
    g->created_ms = g->last_used_ms = clock_ms(f);
    return f->grants.n++;
}

static char *code_create(struct fake_lever *f, const char *client_id, const char *redirect_uri,
                         const char *scope)
{
    struct account *a = account_get(f, f->current_account, true);
    VEC_RESERVE(f->codes);
    struct code *c = &f->codes.v[f->codes.n++];
    memset(c, 0, sizeof(*c));
    c->code = random_token(16);
    c->client_id = sl_xstrdup(client_id);
    c->redirect_uri = sl_xstrdup(redirect_uri);
    c->scope = sl_xstrdup(scope);
    c->account_id = sl_xstrdup(a->id);
    c->user_id = sl_xstrdup(a->admin_user_id);
    c->expires_ms = clock_ms(f) + CODE_TTL_MS;
    return sl_xstrdup(c->code);
}

/* ---- answers ------------------------------------------------------------------------------ */

static void add_header(struct exchange *x, const char *name, const char *value)
{
    kv_add(&x->headers, sl_xstrdup(name), sl_xstrdup(value));
}

static void reply_raw(struct exchange *x, int status, const char *type, char *body_take)
{
    free(x->out);
    x->status = status;
    x->out = body_take;
    x->out_type = type;
}

static void reply_json(struct exchange *x, int status, json_t *take)
{
    char *s = json_dumps(take, JSON_COMPACT);
    SL_ASSERT(s);
    json_decref(take);
    reply_raw(x, status, "application/json; charset=utf-8", s);
}

static void __attribute__((format(printf, 4, 5)))
reply_error(struct exchange *x, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_json(x, status, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

static void reply_oauth_error(struct exchange *x, int status, const char *error, const char *desc)
{
    reply_json(x, status, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
    add_header(x, "Cache-Control", "no-store");
}

static void reply_data(struct exchange *x, int status, json_t *data_take)
{
    reply_json(x, status, json_pack("{s:o}", "data", data_take));
}

/* HTML under a strict CSP: nothing loads, only the page's own nonce'd style applies, forms
 * may post to this server and follow its redirect to `form_origin` (may be NULL). */
static void reply_html(struct exchange *x, int status, struct sl_buf *page, const char *nonce,
                       const char *form_origin)
{
    struct sl_buf csp;
    sl_buf_init(&csp);
    sl_buf_printf(
        &csp,
        "default-src 'none'; style-src 'nonce-%s'; img-src 'none'; form-action 'self'%s%s; "
        "frame-ancestors 'none'; base-uri 'none'",
        nonce, form_origin ? " " : "", form_origin ? form_origin : "");
    reply_raw(x, status, "text/html; charset=utf-8", sl_buf_take(page));
    add_header(x, "Content-Security-Policy", csp.data);
    add_header(x, "X-Frame-Options", "DENY");
    add_header(x, "X-Content-Type-Options", "nosniff");
    add_header(x, "Referrer-Policy", "no-referrer");
    add_header(x, "Cache-Control", "no-store");
    sl_buf_cleanup(&csp);
}

static const char PAGE_STYLE[] =
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2433;margin:0}"
    "main{max-width:560px;margin:48px auto;background:#fff;border-radius:10px;padding:32px;"
    "box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:22px;margin-top:0}"
    "ul{padding-left:20px}li{margin:6px 0}code{background:#eef0f4;padding:1px 5px;"
    "border-radius:4px}.actions{display:flex;gap:12px;margin-top:24px}"
    "button{font-size:16px;padding:10px 22px;border-radius:6px;border:1px solid #c4c9d4;"
    "background:#fff;cursor:pointer}button.approve{background:#2456d3;color:#fff;"
    "border-color:#2456d3}.note{color:#667085;font-size:13px}table{border-collapse:collapse}"
    "td,th{text-align:left;padding:4px 10px 4px 0;font-size:14px}";

static char *page_begin(struct sl_buf *b, const char *title)
{
    char *nonce = random_token(16);
    sl_buf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>");
    html_escape(b, title);
    sl_buf_printf(b, "</title><style nonce=\"%s\">%s</style></head><body><main>\n", nonce,
                  PAGE_STYLE);
    return nonce;
}

static void page_end(struct sl_buf *b)
{
    sl_buf_puts(b, "\n<p class=\"note\">Lever simulator: a stand-in for auth.lever.co and "
                   "api.lever.co. Nothing here reaches Lever.</p></main></body></html>\n");
}

/* An /authorize error: JSON for programs, HTML for people (interactive mode or a browser). */
static void reply_authorize_error(struct exchange *x, const char *error, const char *desc)
{
    if (!x->f->interactive && !(x->accept && strstr(x->accept, "text/html"))) {
        reply_oauth_error(x, 400, error, desc);
        return;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    char *nonce = page_begin(&b, "Authorization error");
    sl_buf_puts(&b, "<h1>Oops, something went wrong</h1><p><code>");
    html_escape(&b, error);
    sl_buf_puts(&b, "</code>: ");
    html_escape(&b, desc);
    sl_buf_puts(&b, "</p>");
    page_end(&b);
    reply_html(x, 400, &b, nonce, NULL);
    free(nonce);
}

/* The scheme://host:port of `uri` for the CSP, or NULL when it is not safe to put there. */
static char *origin_of(const char *uri)
{
    const char *p = strstr(uri, "://");
    if (!p)
        return NULL;
    const char *end = p + 3;
    while (*end && *end != '/' && *end != '?' && *end != '#')
        end++;
    for (const char *c = uri; c < end; c++)
        if (!(isalnum((unsigned char)*c) || strchr(":/.-[]", *c)))
            return NULL;
    return sl_xstrndup(uri, (size_t)(end - uri));
}

static void redirect_back(struct exchange *x, const char *redirect_uri, const char *code,
                          const char *state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, redirect_uri);
    sl_buf_puts(&b, strchr(redirect_uri, '?') ? "&" : "?");
    if (code) {
        sl_buf_puts(&b, "code=");
        pct_encode(&b, code);
        sl_buf_puts(&b, "&state=");
        pct_encode(&b, state);
    } else {
        sl_buf_puts(&b, "state=");
        pct_encode(&b, state);
        sl_buf_puts(&b,
                    "&error=access_denied&error_description=user_did_not_authorize_the_request");
    }
    reply_raw(x, 302, "text/plain; charset=utf-8", sl_xstrdup("Found. Redirecting.\n"));
    add_header(x, "Location", b.data);
    add_header(x, "Cache-Control", "no-store");
    sl_buf_cleanup(&b);
}

/* ---- OAuth endpoints ---------------------------------------------------------------------- */

static void consent_page(struct exchange *x, const struct client *c, const char *scope,
                         const char *state)
{
    struct fake_lever *f = x->f;
    struct account *a = account_get(f, f->current_account, true);
    json_t *admin = find_by_id(a->users, a->admin_user_id);

    VEC_RESERVE(f->pendings);
    struct pending *p = &f->pendings.v[f->pendings.n++];
    p->id = random_token(24);
    p->client_id = sl_xstrdup(c->id);
    p->redirect_uri = sl_xstrdup(c->redirect_uri);
    p->scope = sl_xstrdup(scope);
    p->state = sl_xstrdup(state);
    p->expires_ms = clock_ms(f) + CONSENT_TTL_MS;

    struct sl_buf b;
    sl_buf_init(&b);
    char *nonce = page_begin(&b, "Authorize Stakha - Lever");
    sl_buf_puts(&b, "<h1>Stakha wants to access your Lever account</h1>\n<p>Signed in as <b>");
    html_escape(&b, admin ? jstr(admin, "name") : a->admin_user_id);
    sl_buf_puts(&b, "</b> (super admin) of Lever account <code>");
    html_escape(&b, a->id);
    sl_buf_puts(&b, "</code>.</p>\n<p>Stakha is asking to:</p>\n<ul>\n");
    for (const char *s = scope; *s;) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        if (e > s) {
            char *one = sl_xstrndup(s, (size_t)(e - s));
            const char *meaning = "";
            for (size_t i = 0; i < COUNT(SCOPES); i++)
                if (strcmp(SCOPES[i].scope, one) == 0)
                    meaning = SCOPES[i].meaning;
            sl_buf_puts(&b, "<li>");
            html_escape(&b, meaning);
            sl_buf_puts(&b, " <code>");
            html_escape(&b, one);
            sl_buf_puts(&b, "</code></li>\n");
            free(one);
        }
        s = e;
    }
    sl_buf_puts(&b, "</ul>\n<p>You can revoke access at any time under Settings &gt; "
                    "Integrations and API &gt; Authorized Apps.</p>\n<div class=\"actions\">");
    for (int approve = 1; approve >= 0; approve--) {
        sl_buf_puts(&b, "<form method=\"post\" action=\"/authorize/decision\">"
                        "<input type=\"hidden\" name=\"request\" value=\"");
        html_escape(&b, p->id);
        sl_buf_printf(&b,
                      "\"><input type=\"hidden\" name=\"decision\" value=\"%s\">"
                      "<button type=\"submit\" class=\"%s\">%s</button></form>",
                      approve ? "approve" : "deny", approve ? "approve" : "deny",
                      approve ? "Approve" : "Deny");
    }
    sl_buf_puts(&b, "</div>");
    page_end(&b);
    char *origin = origin_of(c->redirect_uri);
    reply_html(x, 200, &b, nonce, origin);
    free(origin);
    free(nonce);
}

static void h_authorize(struct exchange *x)
{
    struct fake_lever *f = x->f;
    char desc[512];
    static const char *const required[] = {"client_id", "redirect_uri", "response_type",
                                           "state",     "audience",     "scope"};
    for (size_t i = 0; i < COUNT(required); i++) {
        const char *v = kv_get(&x->query, required[i]);
        if (!v || !*v) {
            snprintf(desc, sizeof(desc), "Missing required parameter: %s", required[i]);
            reply_authorize_error(x, "invalid_request", desc);
            return;
        }
        if (kv_count(&x->query, required[i]) > 1) {
            snprintf(desc, sizeof(desc), "Parameter %s must be given once", required[i]);
            reply_authorize_error(x, "invalid_request", desc);
            return;
        }
    }
    const char *client_id = kv_get(&x->query, "client_id");
    const char *redirect_uri = kv_get(&x->query, "redirect_uri");
    const char *scope = kv_get(&x->query, "scope");
    const char *state = kv_get(&x->query, "state");
    struct client *c = client_get(f, client_id);
    if (!c) {
        snprintf(desc, sizeof(desc), "Unknown client: client_id %s not found", client_id);
        reply_authorize_error(x, "invalid_request", desc);
        return;
    }
    if (strcmp(c->redirect_uri, redirect_uri) != 0) {
        snprintf(desc, sizeof(desc),
                 "Callback URL mismatch. redirect_uri %s is not in the list of allowed "
                 "callback URLs",
                 redirect_uri);
        reply_authorize_error(x, "invalid_request", desc);
        return;
    }
    if (strcmp(kv_get(&x->query, "response_type"), "code") != 0) {
        snprintf(desc, sizeof(desc), "Unsupported response_type: %s",
                 kv_get(&x->query, "response_type"));
        reply_authorize_error(x, "unsupported_response_type", desc);
        return;
    }
    if (strcmp(kv_get(&x->query, "audience"), f->audience) != 0) {
        snprintf(desc, sizeof(desc), "Service not found: audience %s",
                 kv_get(&x->query, "audience"));
        reply_authorize_error(x, "invalid_request", desc);
        return;
    }
    for (const char *s = scope; *s;) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        bool known = e == s;
        for (size_t i = 0; !known && i < COUNT(SCOPES); i++)
            known = strlen(SCOPES[i].scope) == (size_t)(e - s) &&
                    strncmp(SCOPES[i].scope, s, (size_t)(e - s)) == 0;
        if (!known) {
            snprintf(desc, sizeof(desc), "Invalid scope: %.*s", (int)(e - s), s);
            reply_authorize_error(x, "invalid_scope", desc);
            return;
        }
        s = e;
    }
    if (f->interactive) {
        consent_page(x, c, scope, state);
        return;
    }
    if (f->deny_next) {
        f->deny_next = false;
        redirect_back(x, redirect_uri, NULL, state);
        return;
    }
    char *code = code_create(f, client_id, redirect_uri, scope);
    redirect_back(x, redirect_uri, code, state);
    free(code);
}

static void h_authorize_decision(struct exchange *x)
{
    struct fake_lever *f = x->f;
    struct kvlist form = {0};
    parse_urlencoded(x->body, x->body_len, &form);
    const char *id = kv_get(&form, "request");
    const char *decision = kv_get(&form, "decision");
    size_t i = 0;
    for (; id && i < f->pendings.n; i++)
        if (strcmp(f->pendings.v[i].id, id) == 0)
            break;
    if (!id || i >= f->pendings.n || f->pendings.v[i].expires_ms < clock_ms(f) || !decision) {
        reply_authorize_error(x, "invalid_request",
                              "This authorization request is unknown or has expired. Start "
                              "again from Stakha.");
        kv_clear(&form);
        return;
    }
    struct pending p = f->pendings.v[i];
    f->pendings.v[i] = f->pendings.v[--f->pendings.n];
    if (strcmp(decision, "approve") == 0) {
        char *code = code_create(f, p.client_id, p.redirect_uri, p.scope);
        redirect_back(x, p.redirect_uri, code, p.state);
        free(code);
    } else {
        redirect_back(x, p.redirect_uri, NULL, p.state);
    }
    free(p.id);
    free(p.client_id);
    free(p.redirect_uri);
    free(p.scope);
    free(p.state);
    kv_clear(&form);
}

static void h_token(struct exchange *x)
{
    struct fake_lever *f = x->f;
    struct kvlist form = {0};
    char desc[256];
    if (x->content_type && strncasecmp(x->content_type, "application/x-www-form-urlencoded",
                                       strlen("application/x-www-form-urlencoded")) == 0) {
        parse_urlencoded(x->body, x->body_len, &form);
    } else if (x->content_type &&
               strncasecmp(x->content_type, "application/json", strlen("application/json")) == 0) {
        json_t *j = json_loadb(x->body, x->body_len, 0, NULL);
        if (!json_is_object(j)) {
            json_decref(j);
            reply_oauth_error(x, 400, "invalid_request", "The request body is not valid JSON");
            return;
        }
        const char *key;
        json_t *value;
        json_object_foreach(j, key, value)
        {
            if (json_is_string(value))
                kv_add(&form, sl_xstrdup(key), sl_xstrdup(json_string_value(value)));
        }
        json_decref(j);
    } else {
        reply_oauth_error(x, 400, "invalid_request",
                          "Content-Type must be application/x-www-form-urlencoded or "
                          "application/json");
        return;
    }

    const char *grant_type = kv_get(&form, "grant_type");
    const char *client_id = kv_get(&form, "client_id");
    const char *secret = kv_get(&form, "client_secret");
    struct client *c = client_get(f, client_id);
    if (!grant_type || !*grant_type) {
        reply_oauth_error(x, 400, "invalid_request", "Missing required parameter: grant_type");
        goto out;
    }
    if (!client_id || !*client_id) {
        reply_oauth_error(x, 400, "invalid_request", "Missing required parameter: client_id");
        goto out;
    }
    if (!c || !secret || strcmp(c->secret, secret) != 0) {
        reply_oauth_error(x, 401, "access_denied", "Unauthorized");
        goto out;
    }

    if (strcmp(grant_type, "authorization_code") == 0) {
        const char *code = kv_get(&form, "code");
        const char *redirect_uri = kv_get(&form, "redirect_uri");
        if (!code || !*code) {
            reply_oauth_error(x, 400, "invalid_request", "Missing required parameter: code");
            goto out;
        }
        if (!redirect_uri || !*redirect_uri) {
            reply_oauth_error(x, 400, "invalid_request",
                              "Missing required parameter: redirect_uri");
            goto out;
        }
        struct code *k = NULL;
        for (size_t i = 0; i < f->codes.n; i++)
            if (strcmp(f->codes.v[i].code, code) == 0)
                k = &f->codes.v[i];
        if (!k || k->used || k->expires_ms < clock_ms(f) || strcmp(k->client_id, client_id)) {
            reply_oauth_error(x, 403, "invalid_grant", "Invalid authorization code");
            goto out;
        }
        if (strcmp(k->redirect_uri, redirect_uri) != 0) {
            reply_oauth_error(x, 403, "invalid_grant",
                              "The redirect_uri does not match the one of the authorization "
                              "request");
            goto out;
        }
        k->used = true;
        size_t gi = grant_create(f, client_id, k->account_id, k->user_id, k->scope);
        reply_json(x, 200, issue_tokens(f, gi, false));
        add_header(x, "Cache-Control", "no-store");
        add_header(x, "Pragma", "no-cache");
    } else if (strcmp(grant_type, "refresh_token") == 0) {
        const char *token = kv_get(&form, "refresh_token");
        if (!token || !*token) {
            reply_oauth_error(x, 400, "invalid_request",
                              "Missing required parameter: refresh_token");
            goto out;
        }
        for (size_t gi = 0; gi < f->grants.n; gi++) {
            struct grant *g = &f->grants.v[gi];
            if (strcmp(g->client_id, client_id) != 0)
                continue;
            if (g->refresh && strcmp(g->refresh, token) == 0) {
                if (g->revoked || grant_expired(f, g))
                    break;
                f->refresh_count++;
                reply_json(x, 200, issue_tokens(f, gi, true));
                add_header(x, "Cache-Control", "no-store");
                add_header(x, "Pragma", "no-cache");
                goto out;
            }
            for (size_t r = 0; r < g->rotated.n; r++) {
                if (strcmp(g->rotated.v[r], token) == 0) {
                    /* Reuse of a rotated token: Auth0 revokes the whole family. */
                    if (!g->revoked)
                        f->reuse_count++;
                    g->revoked = true;
                    goto invalid;
                }
            }
        }
    invalid:
        reply_oauth_error(x, 403, "invalid_grant", INVALID_REFRESH);
    } else {
        snprintf(desc, sizeof(desc), "Unsupported grant type: %s", grant_type);
        reply_oauth_error(x, 400, "unsupported_grant_type", desc);
    }
out:
    kv_clear(&form);
}

static void h_index(struct exchange *x)
{
    struct fake_lever *f = x->f;
    struct account *a = account_get(f, f->current_account, true);
    struct sl_buf b;
    sl_buf_init(&b);
    char *nonce = page_begin(&b, "Lever simulator");
    sl_buf_puts(&b, "<h1>Lever simulator</h1>\n<p>OAuth at <code>");
    html_escape(&b, f->base_url);
    sl_buf_puts(&b, "/authorize</code> and <code>/oauth/token</code>; Data API at <code>");
    html_escape(&b, f->base_url);
    sl_buf_puts(&b, "/v1</code>. Account <code>");
    html_escape(&b, a->id);
    sl_buf_puts(&b, "</code>.</p>\n<p>Clients:</p><ul>");
    for (size_t i = 0; i < f->clients.n; i++) {
        sl_buf_puts(&b, "<li><code>");
        html_escape(&b, f->clients.v[i].id);
        sl_buf_puts(&b, "</code> &rarr; <code>");
        html_escape(&b, f->clients.v[i].redirect_uri);
        sl_buf_puts(&b, "</code></li>");
    }
    sl_buf_puts(&b, "</ul>\n<p>Postings:</p><table><tr><th>Title</th><th>State</th>"
                    "<th>Channels</th></tr>");
    size_t i;
    json_t *p;
    json_array_foreach(a->postings, i, p)
    {
        sl_buf_puts(&b, "<tr><td>");
        html_escape(&b, jstr(p, "text"));
        sl_buf_puts(&b, "</td><td>");
        html_escape(&b, jstr(p, "state"));
        sl_buf_puts(&b, "</td><td>");
        size_t k;
        json_t *ch;
        json_array_foreach(json_object_get(p, "distributionChannels"), k, ch)
        {
            if (k)
                sl_buf_puts(&b, ", ");
            html_escape(&b, json_string_value(ch));
        }
        sl_buf_puts(&b, "</td></tr>");
    }
    sl_buf_puts(&b, "</table>");
    page_end(&b);
    reply_html(x, 200, &b, nonce, NULL);
    free(nonce);
}

/* ---- Data API: lists ---------------------------------------------------------------------- */

/* Answers one page of `items` (taken) with Lever's limit/offset/next/hasNext contract. */
static void reply_page(struct exchange *x, json_t *items)
{
    struct fake_lever *f = x->f;
    long limit = 100;
    const char *limit_s = kv_get(&x->query, "limit");
    if (limit_s && !sl_parse_long(limit_s, 1, 100, &limit)) {
        json_decref(items);
        reply_error(x, 400, "BadRequestError", "Invalid limit: must be an integer from 1 to 100");
        return;
    }
    size_t start = 0;
    const char *offset = kv_get(&x->query, "offset");
    if (offset) {
        json_t *at = json_object_get(f->offsets, offset);
        if (!at) {
            json_decref(items);
            reply_error(x, 400, "BadRequestError",
                        "Invalid offset token: Offset token is invalid for sort");
            return;
        }
        start = (size_t)json_integer_value(at);
    }
    if (f->max_page > 0 && limit > f->max_page)
        limit = f->max_page;
    size_t total = json_array_size(items);
    size_t end = start + (size_t)limit < total ? start + (size_t)limit : total;
    json_t *page = json_array();
    for (size_t i = start; i < end; i++)
        json_array_append_new(page, public_copy(json_array_get(items, i)));
    json_t *out = json_pack("{s:o, s:b}", "data", page, "hasNext", end < total);
    if (end < total) {
        char *u = uuid4();
        char token[128];
        snprintf(token, sizeof(token), "0.%lld.%s", (long long)clock_ms(f), u);
        free(u);
        json_object_set_new(f->offsets, token, json_integer((json_int_t)end));
        json_object_set_new(out, "next", json_string(token));
    }
    json_decref(items);
    reply_json(x, 200, out);
}

static bool require_scope(struct exchange *x, const char *read, const char *write)
{
    const char *scope = x->grant->scope;
    if ((read && scope_has(scope, read)) || (write && scope_has(scope, write)))
        return true;
    reply_error(x, 403, "ForbiddenError",
                "The access token lacks the scope this request needs (%s)", write ? write : read);
    return false;
}

static bool json_content(struct exchange *x, json_t **out)
{
    if (!x->content_type ||
        strncasecmp(x->content_type, "application/json", strlen("application/json")) != 0) {
        reply_error(x, 415, "UnsupportedMediaType",
                    "This fake accepts application/json request bodies only");
        return false;
    }
    json_error_t err;
    *out = json_loadb(x->body, x->body_len, 0, &err);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        reply_error(x, 400, "BadRequestError", "Request body must be a JSON object");
        return false;
    }
    return true;
}

/* ---- Data API: users ---------------------------------------------------------------------- */

static void h_users(struct exchange *x, char **seg, size_t nseg)
{
    struct fake_lever *f = x->f;
    struct account *a = x->acct;
    bool get = strcmp(x->method, "GET") == 0, post = strcmp(x->method, "POST") == 0;
    if (f->fail_users && (get || post)) {
        if (get)
            reply_error(x, 500, "InternalServerError", "Something went wrong");
        else
            reply_error(x, 403, "ForbiddenError",
                        "Your Lever account settings don't authorize you to perform the "
                        "requested operation");
        return;
    }
    if (nseg == 1 && get) {
        if (!require_scope(x, "users:read:admin", "users:write:admin"))
            return;
        const char *email = kv_get(&x->query, "email");
        const char *incl = kv_get(&x->query, "includeDeactivated");
        bool include_deactivated = incl && strcmp(incl, "true") == 0;
        char *want = email ? canon_email(email) : NULL;
        json_t *items = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(a->users, i, u)
        {
            if (!include_deactivated && !json_is_null(json_object_get(u, "deactivatedAt")))
                continue;
            if (want) {
                char *have = canon_email(jstr(u, "email"));
                bool same = strcmp(have, want) == 0;
                free(have);
                if (!same)
                    continue;
            }
            if ((kv_count(&x->query, "accessRole") &&
                 !kv_has_value(&x->query, "accessRole", jstr(u, "accessRole"))) ||
                (kv_count(&x->query, "accessRole[]") &&
                 !kv_has_value(&x->query, "accessRole[]", jstr(u, "accessRole"))))
                continue;
            json_array_append(items, u);
        }
        free(want);
        reply_page(x, items);
        return;
    }
    if (nseg == 1 && post) {
        if (!require_scope(x, NULL, "users:write:admin"))
            return;
        json_t *body;
        if (!json_content(x, &body))
            return;
        const char *name = jstr(body, "name");
        const char *email = jstr(body, "email");
        json_t *role_j = json_object_get(body, "accessRole");
        const char *role = role_j ? json_string_value(role_j) : "interviewer";
        if (!name || sl_blank(name)) {
            reply_error(x, 400, "BadRequestError", "Missing required field: name");
        } else if (!email || !strchr(email, '@')) {
            reply_error(x, 400, "BadRequestError", "Missing or invalid required field: email");
        } else if (!role || !in_list(role, ROLES, COUNT(ROLES))) {
            reply_error(x, 400, "BadRequestError", "Invalid accessRole");
        } else {
            char *want = canon_email(email);
            size_t i;
            json_t *u;
            bool taken = false;
            json_array_foreach(a->users, i, u)
            {
                char *have = canon_email(jstr(u, "email"));
                taken = taken || strcmp(have, want) == 0;
                free(have);
            }
            free(want);
            if (taken) {
                reply_error(x, 400, "BadRequestError", "A user with this email already exists");
            } else {
                char *id = uuid4();
                json_t *user = make_user(f, id, name, email, role, false);
                const char *extra[] = {"externalDirectoryId", "jobTitle", "managerId"};
                for (size_t k = 0; k < COUNT(extra); k++)
                    if (json_is_string(json_object_get(body, extra[k])))
                        json_object_set(user, extra[k], json_object_get(body, extra[k]));
                json_array_append(a->users, user);
                reply_data(x, 201, json_deep_copy(user));
                json_decref(user);
                free(id);
            }
        }
        json_decref(body);
        return;
    }
    json_t *user = nseg >= 2 ? find_by_id(a->users, seg[1]) : NULL;
    if (nseg == 2 && get) {
        if (!require_scope(x, "users:read:admin", "users:write:admin"))
            return;
        if (!user)
            reply_error(x, 404, "ResourceNotFound", "users %s was not found", seg[1]);
        else
            reply_data(x, 200, json_deep_copy(user));
        return;
    }
    if (nseg == 3 && post &&
        (strcmp(seg[2], "deactivate") == 0 || strcmp(seg[2], "reactivate") == 0)) {
        if (!require_scope(x, NULL, "users:write:admin"))
            return;
        if (!user) {
            reply_error(x, 404, "ResourceNotFound", "users %s was not found", seg[1]);
            return;
        }
        if (strcmp(seg[2], "deactivate") == 0)
            json_object_set_new(user, "deactivatedAt", json_integer(clock_ms(f)));
        else
            json_object_set_new(user, "deactivatedAt", json_null());
        reply_data(x, 200, json_deep_copy(user));
        return;
    }
    reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
}

/* ---- Data API: postings and stages -------------------------------------------------------- */

static json_t *make_posting(struct fake_lever *f, const char *account_id, const char *id,
                            const char *text, const char *state, const char *channels_csv,
                            const char *team, const char *location)
{
    int64_t now = clock_ms(f);
    char show[256], apply[300];
    snprintf(show, sizeof(show), "https://jobs.lever.co/%s/%s", account_id, id);
    snprintf(apply, sizeof(apply), "%s/apply", show);
    char list[256];
    snprintf(list, sizeof(list), "https://jobs.lever.co/%s", account_id);
    json_t *channels = json_array();
    for (const char *s = channels_csv ? channels_csv : ""; *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *one = sl_xstrndup(s, n);
        if (*one)
            json_array_append_new(channels, json_string(one));
        free(one);
        s += n + (e ? 1 : 0);
    }
    json_t *p = json_pack(
        "{s:s, s:s, s:I, s:I, s:n, s:n, s:n, s:s, s:{s:s?, s:n, s:s?, s:[], s:s, s:n}, "
        "s:{s:s, s:s, s:[], s:s, s:s}, s:s, s:[], s:[], s:s, s:o, s:n, s:[], s:n, s:n, "
        "s:{s:s, s:s, s:s}, s:s}",
        "id", id, "text", text, "createdAt", (json_int_t)now, "updatedAt", (json_int_t)now, "user",
        "owner", "hiringManager", "confidentiality", "non-confidential", "categories", "team", team,
        "department", "location", location, "allLocations", "commitment", "Full-time", "level",
        "content", "description", "", "descriptionHtml", "", "lists", "closing", "", "closingHtml",
        "", "country", "US", "followers", "tags", "state", state, "distributionChannels", channels,
        "reqCode", "requisitionCodes", "salaryDescription", "salaryRange", "urls", "list", list,
        "show", show, "apply", apply, "workplaceType", "unspecified");
    SL_ASSERT(p);
    if (location)
        json_array_append_new(json_object_get(json_object_get(p, "categories"), "allLocations"),
                              json_string(location));
    return p;
}

static bool has_string(const json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void h_postings(struct exchange *x, char **seg, size_t nseg)
{
    struct account *a = x->acct;
    if (strcmp(x->method, "GET") != 0 || nseg > 2) {
        reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
        return;
    }
    if (!require_scope(x, "postings:read:admin", "postings:write:admin"))
        return;
    if (nseg == 2) {
        json_t *p = find_by_id(a->postings, seg[1]);
        if (!p)
            reply_error(x, 404, "ResourceNotFound", "postings %s was not found", seg[1]);
        else
            reply_data(x, 200, public_copy(p));
        return;
    }
    for (size_t i = 0; i < x->query.n; i++) {
        const struct kv *q = &x->query.v[i];
        if (strcmp(q->key, "state") == 0 &&
            !in_list(q->value, POSTING_STATES, COUNT(POSTING_STATES))) {
            reply_error(x, 400, "BadRequestError", "Invalid state: %s", q->value);
            return;
        }
        if (strcmp(q->key, "distributionChannel") == 0 && strcmp(q->value, "public") != 0 &&
            strcmp(q->value, "internal") != 0) {
            reply_error(x, 400, "BadRequestError", "Invalid distributionChannel: %s", q->value);
            return;
        }
    }
    bool by_state = kv_count(&x->query, "state") > 0;
    bool by_channel = kv_count(&x->query, "distributionChannel") > 0;
    json_t *items = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(a->postings, i, p)
    {
        const char *state = jstr(p, "state");
        if (by_state && !kv_has_value(&x->query, "state", state))
            continue;
        if (strcmp(state, "published") == 0) {
            /* Lever: published postings only on the internal job site are listed only when
             * a distributionChannel asks for them. Channels filter published postings only. */
            json_t *channels = json_object_get(p, "distributionChannels");
            bool keep = false;
            if (!by_channel)
                keep = has_string(channels, "public");
            else
                keep = (kv_has_value(&x->query, "distributionChannel", "public") &&
                        has_string(channels, "public")) ||
                       (kv_has_value(&x->query, "distributionChannel", "internal") &&
                        has_string(channels, "internal"));
            if (!keep)
                continue;
        }
        json_t *cat = json_object_get(p, "categories");
        if (kv_count(&x->query, "team") &&
            !(jstr(cat, "team") && kv_has_value(&x->query, "team", jstr(cat, "team"))))
            continue;
        if (kv_count(&x->query, "location") &&
            !(jstr(cat, "location") && kv_has_value(&x->query, "location", jstr(cat, "location"))))
            continue;
        json_array_append(items, p);
    }
    reply_page(x, items);
}

static json_t *stage_json(size_t i)
{
    return json_pack("{s:s, s:s}", "id", STAGES[i].id, "text", STAGES[i].text);
}

static void h_stages(struct exchange *x, char **seg, size_t nseg)
{
    if (strcmp(x->method, "GET") != 0 || nseg > 2) {
        reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
        return;
    }
    if (!require_scope(x, "stages:read:admin", NULL))
        return;
    if (nseg == 2) {
        int k = stage_index(seg[1]);
        if (k < 0)
            reply_error(x, 404, "ResourceNotFound", "stages %s was not found", seg[1]);
        else
            reply_data(x, 200, stage_json((size_t)k));
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < COUNT(STAGES); i++)
        json_array_append_new(items, stage_json(i));
    reply_page(x, items);
}

/* ---- Data API: opportunities and notes ---------------------------------------------------- */

/* Checks `perform_as` as Lever does; answers and returns NULL when it is not usable. */
static json_t *perform_as_user(struct exchange *x, bool required)
{
    const char *id = kv_get(&x->query, "perform_as");
    if (!id || !*id) {
        if (required)
            reply_error(x, 400, "BadRequestError", "Missing required query parameter: perform_as");
        return NULL;
    }
    json_t *u = find_by_id(x->acct->users, id);
    if (!u) {
        reply_error(x, 404, "ResourceNotFound", "users %s was not found", id);
        return NULL;
    }
    if (!json_is_null(json_object_get(u, "deactivatedAt"))) {
        reply_error(x, 400, "BadRequestError",
                    "perform_as user %s is deactivated and cannot perform actions", id);
        return NULL;
    }
    return u;
}

static bool is_blank_string(const json_t *v)
{
    return json_is_string(v) && sl_blank(json_string_value(v));
}

/* Validates a create-opportunity body; answers 400 and returns false when it is refused. */
static bool validate_opportunity(struct exchange *x, json_t *body)
{
    static const char *const strings[] = {"name",   "headline", "stage",   "location",
                                          "origin", "owner",    "contact", "opportunityLocation"};
    static const char *const string_arrays[] = {"emails",  "links",     "tags",
                                                "sources", "followers", "postings"};
    struct fake_lever *f = x->f;
    bool strict = f->strict;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool is_string = in_list(key, strings, COUNT(strings));
        bool is_array = in_list(key, string_arrays, COUNT(string_arrays));
        bool known = is_string || is_array || strcmp(key, "phones") == 0 ||
                     strcmp(key, "createdAt") == 0 || strcmp(key, "archived") == 0;
        if (!known) {
            if (strict) {
                reply_error(x, 400, "BadRequestError", "Unknown field: %s", key);
                return false;
            }
            continue;
        }
        if (json_is_null(v)) {
            if (strict) {
                reply_error(x, 400, "BadRequestError", "Field %s must not be null", key);
                return false;
            }
            continue;
        }
        if (is_string) {
            if (!json_is_string(v)) {
                reply_error(x, 400, "BadRequestError", "Field %s must be a string", key);
                return false;
            }
            if (strict && is_blank_string(v)) {
                reply_error(x, 400, "BadRequestError", "Field %s must not be empty", key);
                return false;
            }
        } else if (is_array || strcmp(key, "phones") == 0) {
            if (!json_is_array(v)) {
                reply_error(x, 400, "BadRequestError", "Field %s must be an array", key);
                return false;
            }
            if (strict && json_array_size(v) == 0) {
                reply_error(x, 400, "BadRequestError", "Field %s must not be an empty array", key);
                return false;
            }
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (is_array) {
                    if (!json_is_string(item) || (strict && is_blank_string(item))) {
                        reply_error(x, 400, "BadRequestError",
                                    "Field %s must be an array of non-empty strings", key);
                        return false;
                    }
                    continue;
                }
                json_t *pv = json_object_get(item, "value");
                json_t *pt = json_object_get(item, "type");
                if (!json_is_object(item) || !json_is_string(pv) ||
                    sl_blank(json_string_value(pv)) ||
                    (pt && !(json_is_string(pt) || (!strict && json_is_null(pt)))) ||
                    (json_is_string(pt) &&
                     !in_list(json_string_value(pt), PHONE_TYPES, COUNT(PHONE_TYPES))) ||
                    (strict && json_object_size(item) != 1u + (pt ? 1u : 0u))) {
                    reply_error(x, 400, "BadRequestError",
                                "Field phones must be an array of {\"value\": string, \"type\": "
                                "mobile|home|work|skype|other}");
                    return false;
                }
            }
        } else if (strcmp(key, "createdAt") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > clock_ms(f)) {
                reply_error(x, 400, "BadRequestError",
                            "createdAt must be a timestamp in milliseconds, not in the future");
                return false;
            }
        } else if (strcmp(key, "archived") == 0) {
            if (!json_is_object(v) || !json_is_string(json_object_get(v, "reason"))) {
                reply_error(x, 400, "BadRequestError", "archived.reason is required");
                return false;
            }
        }
    }
    json_t *postings = json_object_get(body, "postings");
    if (json_array_size(postings) > 1) {
        reply_error(x, 400, "BadRequestError",
                    "Specifying multiple posting UIDs in this request is not supported");
        return false;
    }
    if (json_array_size(postings) == 1) {
        const char *pid = json_string_value(json_array_get(postings, 0));
        if (!pid || !find_by_id(x->acct->postings, pid)) {
            reply_error(x, 400, "BadRequestError", "Posting %s was not found", pid ? pid : "");
            return false;
        }
    }
    const char *stage = jstr(body, "stage");
    if (stage && stage_index(stage) < 0) {
        reply_error(x, 400, "BadRequestError", "stages %s was not found", stage);
        return false;
    }
    const char *origin = jstr(body, "origin");
    if (origin && !in_list(origin, ORIGINS, COUNT(ORIGINS))) {
        reply_error(x, 400, "BadRequestError", "Invalid origin: %s", origin);
        return false;
    }
    const char *owner = jstr(body, "owner");
    if (owner && !find_by_id(x->acct->users, owner)) {
        reply_error(x, 400, "BadRequestError", "Owner %s was not found", owner);
        return false;
    }
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(body, "emails"), i, item)
    {
        if (json_is_string(item) && !sl_blank(json_string_value(item)) &&
            !strchr(json_string_value(item), '@')) {
            reply_error(x, 400, "BadRequestError", "Invalid email: %s", json_string_value(item));
            return false;
        }
    }
    const char *contact = jstr(body, "contact");
    if (contact && !json_object_get(x->acct->contacts, contact)) {
        reply_error(x, 404, "ResourceNotFound", "contacts %s was not found", contact);
        return false;
    }
    return true;
}

/* Appends the non-blank strings of `from` missing from `to`. */
static void union_strings(json_t *to, const json_t *from)
{
    size_t i;
    json_t *v;
    json_array_foreach(from, i, v)
    {
        if (json_is_string(v) && !sl_blank(json_string_value(v)) &&
            !has_string(to, json_string_value(v)))
            json_array_append(to, v);
    }
}

static json_t *string_array_or_empty(const json_t *body, const char *key)
{
    json_t *out = json_array();
    union_strings(out, json_object_get(body, key));
    return out;
}

static void create_opportunity(struct exchange *x, json_t *body, const char *performer)
{
    struct fake_lever *f = x->f;
    struct account *a = x->acct;
    int64_t now = clock_ms(f);
    int64_t created = json_is_integer(json_object_get(body, "createdAt"))
                          ? json_integer_value(json_object_get(body, "createdAt"))
                          : now;
    const char *name = jstr(body, "name");
    const char *headline = jstr(body, "headline");
    const char *location = jstr(body, "location");

    /* Lever dedupes the person by email: an existing contact keeps its data, and new emails,
     * phones and links are added to it. It never dedupes the opportunity. */
    json_t *contact = NULL;
    const char *contact_id = jstr(body, "contact");
    if (contact_id)
        contact = json_object_get(a->contacts, contact_id);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "emails"), i, v)
    {
        if (contact || !json_is_string(v))
            break;
        char *canon = canon_email(json_string_value(v));
        const char *cid = json_string_value(json_object_get(a->contact_by_email, canon));
        if (cid)
            contact = json_object_get(a->contacts, cid);
        free(canon);
    }
    if (!contact) {
        char *cid = uuid4();
        contact = json_pack("{s:s, s:s?, s:s?, s:s?, s:[], s:[], s:[]}", "id", cid, "name",
                            name && !sl_blank(name) ? name : NULL, "headline",
                            headline && !sl_blank(headline) ? headline : NULL, "location",
                            location && !sl_blank(location) ? location : NULL, "emails", "phones",
                            "links");
        SL_ASSERT(contact);
        json_object_set_new(a->contacts, cid, contact);
        free(cid);
    }
    contact_id = jstr(contact, "id");
    union_strings(json_object_get(contact, "emails"), json_object_get(body, "emails"));
    union_strings(json_object_get(contact, "links"), json_object_get(body, "links"));
    json_array_foreach(json_object_get(body, "phones"), i, v)
    {
        if (json_is_object(v))
            json_array_append_new(json_object_get(contact, "phones"), json_deep_copy(v));
    }
    json_array_foreach(json_object_get(contact, "emails"), i, v)
    {
        char *canon = canon_email(json_string_value(v));
        if (!json_object_get(a->contact_by_email, canon))
            json_object_set_new(a->contact_by_email, canon, json_string(contact_id));
        free(canon);
    }
    const char *fields[] = {"name", "headline", "location"};
    for (size_t k = 0; k < COUNT(fields); k++)
        if (!jstr(contact, fields[k]) && jstr(body, fields[k]) && !sl_blank(jstr(body, fields[k])))
            json_object_set(contact, fields[k], json_object_get(body, fields[k]));

    char *id = uuid4();
    const char *stage = jstr(body, "stage") ? jstr(body, "stage") : "lead-new";
    const char *origin = jstr(body, "origin") ? jstr(body, "origin") : "sourced";
    const char *owner = jstr(body, "owner") ? jstr(body, "owner") : performer;
    char show[128];
    snprintf(show, sizeof(show), "https://hire.lever.co/candidates/%s", id);
    json_t *followers = json_array();
    json_array_append_new(followers, json_string(performer));
    union_strings(followers, json_object_get(body, "followers"));
    json_t *postings = string_array_or_empty(body, "postings");
    json_t *app_ids = json_array(), *apps = json_array();
    json_array_foreach(postings, i, v)
    {
        char *app_id = uuid4();
        json_array_append_new(app_ids, json_string(app_id));
        json_array_append_new(apps, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:n, s:n}", "id",
                                              app_id, "opportunityId", id, "candidateId",
                                              contact_id, "createdAt", (json_int_t)created, "type",
                                              "posting", "posting", json_string_value(v), "user",
                                              performer, "postingHiringManager", "postingOwner"));
        free(app_id);
    }
    json_t *opp = json_pack(
        "{s:s, s:O?, s:O?, s:s, s:O, s:O, s:s, s:O?, s:O, s:I, s:I, s:I, s:I, s:n, s:n, s:n, s:n, "
        "s:s, s:[{s:s, s:i, s:s, s:I}], s:s, s:o, s:o, s:s, s:s?, s:o, s:n, s:o, s:{s:s, s:s}, "
        "s:n, s:b, s:o, s:o, s:s}",
        "id", id, "name", json_object_get(contact, "name"), "headline",
        json_object_get(contact, "headline"), "contact", contact_id, "emails",
        json_object_get(contact, "emails"), "phones", json_object_get(contact, "phones"),
        "confidentiality", "non-confidential", "location", json_object_get(contact, "location"),
        "links", json_object_get(contact, "links"), "createdAt", (json_int_t)created, "updatedAt",
        (json_int_t)now, "lastInteractionAt", (json_int_t)now, "lastAdvancedAt",
        (json_int_t)created, "snoozedUntil", "archivedAt", "archiveReason", "archived", "stage",
        stage, "stageChanges", "toStageId", stage, "toStageIndex", stage_index(stage), "userId",
        performer, "updatedAt", (json_int_t)created, "owner", owner, "tags",
        string_array_or_empty(body, "tags"), "sources", string_array_or_empty(body, "sources"),
        "origin", origin, "sourcedBy", strcmp(origin, "sourced") == 0 ? performer : NULL,
        "applications", app_ids, "resume", "followers", followers, "urls", "list",
        "https://hire.lever.co/candidates", "show", show, "dataProtection", "isAnonymized", 0,
        "_postings", postings, "_applications", apps, "_account", a->id);
    SL_ASSERT(opp);
    /* Copies, so that later changes to the contact do not rewrite this opportunity. */
    const char *shared[] = {"emails", "phones", "links"};
    for (size_t k = 0; k < COUNT(shared); k++)
        json_object_set_new(opp, shared[k], json_deep_copy(json_object_get(opp, shared[k])));
    if (jstr(body, "opportunityLocation"))
        json_object_set(opp, "opportunityLocation", json_object_get(body, "opportunityLocation"));
    if (json_is_object(json_object_get(body, "archived"))) {
        json_t *arch = json_deep_copy(json_object_get(body, "archived"));
        if (!json_object_get(arch, "archivedAt"))
            json_object_set_new(arch, "archivedAt", json_integer(now));
        json_object_set_new(opp, "archived", arch);
    }
    json_array_append(a->opportunities, opp);
    reply_data(x, 201, public_copy(opp));
    json_decref(opp);
    free(id);
}

static bool opp_matches(struct exchange *x, const json_t *opp)
{
    const char *email = kv_get(&x->query, "email");
    if (email) {
        char *want = canon_email(email);
        bool found = false;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(opp, "emails"), i, v)
        {
            char *have = canon_email(json_string_value(v));
            found = found || strcmp(have, want) == 0;
            free(have);
        }
        free(want);
        if (!found)
            return false;
    }
    static const struct {
        const char *param, *field;
    } any_of[] = {{"posting_id", "_postings"}, {"tag", "tags"}, {"source", "sources"}};
    for (size_t k = 0; k < COUNT(any_of); k++) {
        if (!kv_count(&x->query, any_of[k].param))
            continue;
        bool hit = false;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(opp, any_of[k].field), i, v)
        {
            hit = hit || kv_has_value(&x->query, any_of[k].param, json_string_value(v));
        }
        if (!hit)
            return false;
    }
    static const struct {
        const char *param, *field;
    } equal[] = {{"origin", "origin"}, {"stage_id", "stage"}, {"contact_id", "contact"}};
    for (size_t k = 0; k < COUNT(equal); k++)
        if (kv_count(&x->query, equal[k].param) &&
            !(jstr(opp, equal[k].field) &&
              kv_has_value(&x->query, equal[k].param, jstr(opp, equal[k].field))))
            return false;
    json_int_t created = json_integer_value(json_object_get(opp, "createdAt"));
    const char *from = kv_get(&x->query, "created_at_start");
    const char *to = kv_get(&x->query, "created_at_end");
    if (from && created < strtoll(from, NULL, 10))
        return false;
    if (to && created > strtoll(to, NULL, 10))
        return false;
    const char *archived = kv_get(&x->query, "archived");
    if (archived) {
        bool is_archived = json_is_object(json_object_get(opp, "archived"));
        if ((strcmp(archived, "true") == 0) != is_archived)
            return false;
    }
    return true;
}

static json_t *opp_view(struct exchange *x, const json_t *opp)
{
    json_t *out = json_deep_copy(opp);
    if (kv_has_value(&x->query, "expand", "applications"))
        json_object_set(out, "applications", json_object_get(opp, "_applications"));
    return out;
}

static bool check_timestamp_params(struct exchange *x)
{
    const char *names[] = {"created_at_start", "created_at_end"};
    for (size_t k = 0; k < COUNT(names); k++) {
        const char *v = kv_get(&x->query, names[k]);
        long parsed;
        if (v && !sl_parse_long(v, 0, (long)INT64_MAX, &parsed)) {
            reply_error(x, 400, "BadRequestError", "Invalid %s", names[k]);
            return false;
        }
    }
    return true;
}

static void h_notes(struct exchange *x, json_t *opp)
{
    struct fake_lever *f = x->f;
    struct account *a = x->acct;
    const char *opp_id = jstr(opp, "id");
    if (strcmp(x->method, "GET") == 0) {
        if (!require_scope(x, "notes:read:admin", "notes:write:admin"))
            return;
        json_t *items = json_array();
        size_t i;
        json_t *n;
        json_array_foreach(a->notes, i, n)
        {
            if (strcmp(jstr(n, "_opportunity"), opp_id) == 0)
                json_array_append(items, n);
        }
        reply_page(x, items);
        return;
    }
    if (!require_scope(x, NULL, "notes:write:admin"))
        return;
    json_t *performer = NULL;
    if (kv_get(&x->query, "perform_as") && !(performer = perform_as_user(x, false)))
        return;
    json_t *body;
    if (!json_content(x, &body))
        return;
    const char *key;
    json_t *v;
    int64_t now = clock_ms(f);
    json_object_foreach(body, key, v)
    {
        bool bad = false;
        if (strcmp(key, "value") == 0)
            bad = !json_is_string(v) || sl_blank(json_string_value(v));
        else if (strcmp(key, "secret") == 0 || strcmp(key, "notifyFollowers") == 0)
            bad = !json_is_boolean(v) && !(json_is_null(v) && !f->strict);
        else if (strcmp(key, "score") == 0)
            bad =
                !(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 4) &&
                !(json_is_null(v) && !f->strict);
        else if (strcmp(key, "createdAt") == 0)
            bad = !(json_is_integer(v) && json_integer_value(v) >= 0 &&
                    json_integer_value(v) <= now) &&
                  !(json_is_null(v) && !f->strict);
        else
            bad = f->strict;
        if (bad) {
            reply_error(x, 400, "BadRequestError", "Invalid note field: %s", key);
            json_decref(body);
            return;
        }
    }
    const char *value = jstr(body, "value");
    if (!value) {
        reply_error(x, 400, "BadRequestError", "Missing required field: value");
        json_decref(body);
        return;
    }
    json_t *created_j = json_object_get(body, "createdAt");
    int64_t created = json_is_integer(created_j) ? json_integer_value(created_j) : now;
    json_t *score = json_object_get(body, "score");
    json_t *field = json_pack("{s:s, s:s, s:s, s:I, s:s?, s:O?, s:s}", "type", "note", "text",
                              "Comment", "value", value, "createdAt", (json_int_t)created, "user",
                              performer ? jstr(performer, "id") : NULL, "score",
                              json_is_integer(score) ? score : NULL, "stage", jstr(opp, "stage"));
    SL_ASSERT(field);
    const char *note_id = kv_get(&x->query, "note_id");
    if (note_id) {
        json_t *note = find_by_id(a->notes, note_id);
        if (!note || strcmp(jstr(note, "_opportunity"), opp_id) != 0) {
            reply_error(x, 404, "ResourceNotFound", "notes %s was not found", note_id);
            json_decref(field);
            json_decref(body);
            return;
        }
        json_array_append_new(json_object_get(note, "fields"), field);
        reply_data(x, 201, json_pack("{s:s}", "noteId", note_id));
        json_decref(body);
        return;
    }
    char *id = uuid4();
    json_t *note =
        json_pack("{s:s, s:s, s:[o], s:s?, s:b, s:I, s:I, s:n, s:s}", "id", id, "text", "Note",
                  "fields", field, "user", performer ? jstr(performer, "id") : NULL, "secret",
                  json_is_true(json_object_get(body, "secret")), "completedAt", (json_int_t)created,
                  "createdAt", (json_int_t)created, "deletedAt", "_opportunity", opp_id);
    SL_ASSERT(note);
    json_array_append_new(a->notes, note);
    json_object_set_new(opp, "lastInteractionAt", json_integer(now));
    reply_data(x, 201, json_pack("{s:s}", "noteId", id));
    free(id);
    json_decref(body);
}

static void h_opportunities(struct exchange *x, char **seg, size_t nseg)
{
    struct account *a = x->acct;
    bool get = strcmp(x->method, "GET") == 0, post = strcmp(x->method, "POST") == 0;
    if (nseg == 1 && get) {
        if (!require_scope(x, "opportunities:read:admin", "opportunities:write:admin") ||
            !check_timestamp_params(x))
            return;
        json_t *items = json_array();
        size_t i;
        json_t *opp;
        json_array_foreach(a->opportunities, i, opp)
        {
            if (opp_matches(x, opp))
                json_array_append_new(items, opp_view(x, opp));
        }
        reply_page(x, items);
        return;
    }
    if (nseg == 1 && post) {
        if (!require_scope(x, NULL, "opportunities:write:admin"))
            return;
        json_t *performer = perform_as_user(x, true);
        if (!performer)
            return;
        json_t *body;
        if (!json_content(x, &body))
            return;
        if (validate_opportunity(x, body))
            create_opportunity(x, body, jstr(performer, "id"));
        json_decref(body);
        return;
    }
    json_t *opp = nseg >= 2 ? find_by_id(a->opportunities, seg[1]) : NULL;
    if (nseg == 2 && get) {
        if (!require_scope(x, "opportunities:read:admin", "opportunities:write:admin"))
            return;
        if (!opp)
            reply_error(x, 404, "ResourceNotFound", "opportunities %s was not found", seg[1]);
        else {
            json_t *view = opp_view(x, opp);
            reply_data(x, 200, public_copy(view));
            json_decref(view);
        }
        return;
    }
    if (nseg == 3 && strcmp(seg[2], "notes") == 0 && (get || post)) {
        if (!opp) {
            reply_error(x, 404, "ResourceNotFound", "opportunities %s was not found", seg[1]);
            return;
        }
        h_notes(x, opp);
        return;
    }
    reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
}

/* ---- the pipeline ------------------------------------------------------------------------- */

static void resolve_bearer(struct exchange *x)
{
    struct fake_lever *f = x->f;
    if (!x->auth || strncasecmp(x->auth, "Bearer ", 7) != 0)
        return;
    const char *token = x->auth + 7;
    while (*token == ' ')
        token++;
    int64_t now = clock_ms(f);
    for (size_t i = f->tokens.n; i-- > 0;) {
        struct access *t = &f->tokens.v[i];
        if (strcmp(t->token, token) != 0)
            continue;
        struct grant *g = &f->grants.v[t->grant];
        if (g->revoked || now >= t->exp_ms)
            return;
        x->grant = g;
        x->acct = account_get(f, g->account_id, true);
        return;
    }
}

/* Records the request in the account's one-second window (for fake_lever_max_rps). */
static void track_window(struct account *a)
{
    int64_t now = sl_mono_ns();
    size_t drop = 0;
    while (drop < a->window.n && a->window.v[drop] <= now - 1000000000LL)
        drop++;
    if (drop) {
        memmove(a->window.v, a->window.v + drop, (a->window.n - drop) * sizeof(int64_t));
        a->window.n -= drop;
    }
    VEC_RESERVE(a->window);
    a->window.v[a->window.n++] = now;
    if ((int)a->window.n > a->max_rps)
        a->max_rps = (int)a->window.n;
}

/* Takes one token from the account's bucket; false when it is empty. */
static bool take_token(struct fake_lever *f, struct account *a)
{
    if (f->rps <= 0)
        return true;
    int64_t now = sl_mono_ns();
    if (!a->bucket_ready) {
        a->bucket = f->burst;
        a->bucket_ready = true;
    } else {
        a->bucket += (double)(now - a->bucket_ns) / 1e9 * f->rps;
        if (a->bucket > f->burst)
            a->bucket = f->burst;
    }
    a->bucket_ns = now;
    if (a->bucket < 1.0)
        return false;
    a->bucket -= 1.0;
    return true;
}

static void route_v1(struct exchange *x)
{
    char *copy = sl_xstrdup(x->path + 3);
    char *seg[8];
    size_t nseg = 0;
    for (char *p = copy; *p && nseg < COUNT(seg);) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        seg[nseg++] = p;
        char *e = strchr(p, '/');
        if (!e)
            break;
        *e = '\0';
        p = e + 1;
    }
    if (nseg >= 1 && strcmp(seg[0], "users") == 0 && nseg <= 3)
        h_users(x, seg, nseg);
    else if (nseg >= 1 && strcmp(seg[0], "postings") == 0)
        h_postings(x, seg, nseg);
    else if (nseg >= 1 && strcmp(seg[0], "stages") == 0)
        h_stages(x, seg, nseg);
    else if (nseg >= 1 && strcmp(seg[0], "opportunities") == 0 && nseg <= 3)
        h_opportunities(x, seg, nseg);
    else
        reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
    free(copy);
}

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *log_begin(struct exchange *x)
{
    json_t *query = json_object();
    for (size_t i = 0; i < x->query.n; i++) {
        json_t *arr = json_object_get(query, x->query.v[i].key);
        if (!arr) {
            arr = json_array();
            json_object_set_new(query, x->query.v[i].key, arr);
        }
        json_t *s = json_string(x->query.v[i].value);
        json_array_append_new(arr, s ? s : json_string("(invalid utf-8)"));
    }
    json_t *body = json_stringn(x->body ? x->body : "", x->body_len);
    if (!body) {
        char *clean = sl_xstrndup(x->body, x->body_len);
        for (size_t i = 0; i < x->body_len; i++)
            if ((unsigned char)clean[i] >= 0x80 || clean[i] == '\0')
                clean[i] = '?';
        body = json_string(clean);
        free(clean);
    }
    json_t *e = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:b, s:I, s:n}", "method",
                          x->method, "path", x->path, "query_string", x->query_string, "query",
                          query, "auth", string_or_null(x->auth), "content_type",
                          string_or_null(x->content_type), "body", body, "status", 0, "dropped", 0,
                          "time_ms", (json_int_t)clock_ms(x->f), "account");
    if (!e) /* a path or header that is not UTF-8 */
        e = json_pack("{s:s, s:s, s:i, s:b, s:I, s:n}", "method", x->method, "path",
                      "(invalid utf-8)", "status", 0, "dropped", 0, "time_ms",
                      (json_int_t)clock_ms(x->f), "account");
    SL_ASSERT(e);
    struct fake_lever *f = x->f;
    if (json_array_size(f->log) >= LOG_LIMIT) {
        json_t *keep = json_array();
        for (size_t i = LOG_LIMIT / 10; i < json_array_size(f->log); i++)
            json_array_append(keep, json_array_get(f->log, i));
        json_decref(f->log);
        f->log = keep;
    }
    json_array_append(f->log, e);
    return e; /* the caller holds a reference, harmless if the log is reset meanwhile */
}

static void process(struct exchange *x)
{
    struct fake_lever *f = x->f;
    json_t *entry = log_begin(x);
    bool v1 = strcmp(x->path, "/v1") == 0 || strncmp(x->path, "/v1/", 4) == 0;
    if (v1) {
        resolve_bearer(x);
        if (x->acct) {
            track_window(x->acct);
            json_object_set_new(entry, "account", json_string(x->acct->id));
        }
    }

    for (size_t i = 0; i < f->canned.n; i++) {
        struct canned *c = &f->canned.v[i];
        if (!method_match(c->method, x->method) || !path_match(c->pattern, x->path))
            continue;
        reply_raw(x, c->status, "application/json; charset=utf-8",
                  sl_xstrdup(c->body ? c->body : ""));
        if (c->retry_after_s > 0) {
            char ra[16];
            snprintf(ra, sizeof(ra), "%d", c->retry_after_s);
            add_header(x, "Retry-After", ra);
        }
        free(c->method);
        free(c->pattern);
        free(c->body);
        memmove(c, c + 1, (f->canned.n - i - 1) * sizeof(*c));
        f->canned.n--;
        goto done;
    }

    if (v1 && !x->acct) {
        reply_error(x, 401, "UnauthorizedError", "The request requires authentication.");
        goto done;
    }
    if (v1 && !take_token(f, x->acct)) {
        f->count_429++;
        reply_error(x, 429, "TooManyRequests", "Rate limit exceeded. Please retry later.");
        add_header(x, "Retry-After", "1");
        goto done;
    }

    struct fault *rule = NULL;
    for (size_t i = 0; i < f->faults.n; i++)
        if (method_match(f->faults.v[i].method, x->method) &&
            path_match(f->faults.v[i].pattern, x->path))
            rule = &f->faults.v[i];
    bool drop = false;
    if (rule) {
        if (rule->fail_permille > 0 && roll_permille(f) < rule->fail_permille) {
            reply_error(x, 500, "InternalServerError", "Something went wrong. Please retry.");
            goto done;
        }
        drop = rule->drop_permille > 0 && roll_permille(f) < rule->drop_permille;
    }

    if (v1)
        route_v1(x);
    else if (strcmp(x->path, "/authorize") == 0 && strcmp(x->method, "GET") == 0)
        h_authorize(x);
    else if (strcmp(x->path, "/authorize/decision") == 0 && strcmp(x->method, "POST") == 0)
        h_authorize_decision(x);
    else if (strcmp(x->path, "/oauth/token") == 0 && strcmp(x->method, "POST") == 0)
        h_token(x);
    else if (strcmp(x->path, "/") == 0 && strcmp(x->method, "GET") == 0 && f->interactive)
        h_index(x);
    else
        reply_error(x, 404, "ResourceNotFound", "No route for %s %s", x->method, x->path);
    x->drop = drop;

done:
    json_object_set_new(entry, "status", json_integer(x->drop ? 0 : x->status));
    json_object_set_new(entry, "dropped", json_boolean(x->drop));
    json_decref(entry);
    if (f->trace) {
        fprintf(f->trace, "lever-sim: %s %s%s%s -> %d%s\n", x->method, x->path,
                *x->query_string ? "?" : "", x->query_string, x->status,
                x->drop ? " (dropped)" : "");
        fflush(f->trace);
    }
}

/* ---- libmicrohttpd glue ------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *r = sl_xcalloc(1, sizeof(*r));
    r->raw_uri = sl_xstrdup(uri ? uri : "");
    sl_buf_init(&r->body);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *r = *req_cls;
    if (!r)
        return;
    free(r->raw_uri);
    sl_buf_cleanup(&r->body);
    free(r);
    *req_cls = NULL;
}

static char *header_copy(struct MHD_Connection *c, const char *name)
{
    return xstrdup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, name));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct fake_lever *f = cls;
    struct request *r = *req_cls;
    if (!r) {
        r = on_uri(f, url, c);
        *req_cls = r;
    }
    if (!r->headers_done) {
        r->headers_done = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->body.len + *upload_data_size > MAX_BODY)
            r->too_large = true;
        else
            sl_buf_append(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&f->lock);
    int latency = f->latency_ms;
    pthread_mutex_unlock(&f->lock);
    if (latency > 0) {
        struct timespec ts = {latency / 1000, (long)(latency % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }

    struct exchange x = {.f = f, .method = method, .path = url};
    const char *q = strchr(r->raw_uri, '?');
    x.query_string = sl_xstrdup(q ? q + 1 : "");
    parse_urlencoded(x.query_string, strlen(x.query_string), &x.query);
    x.auth = header_copy(c, MHD_HTTP_HEADER_AUTHORIZATION);
    x.content_type = header_copy(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    x.accept = header_copy(c, MHD_HTTP_HEADER_ACCEPT);
    x.body = r->body.data ? r->body.data : "";
    x.body_len = r->body.len;

    pthread_mutex_lock(&f->lock);
    if (r->too_large) {
        json_decref(log_begin(&x));
        reply_error(&x, 413, "RequestEntityTooLarge", "Request body too large");
    } else {
        process(&x);
    }
    pthread_mutex_unlock(&f->lock);

    enum MHD_Result ret = MHD_NO;
    if (!x.drop) {
        const char *out = x.out ? x.out : "";
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(strlen(out), (void *)out, MHD_RESPMEM_MUST_COPY);
        if (resp) {
            if (x.out_type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, x.out_type);
            for (size_t i = 0; i < x.headers.n; i++)
                MHD_add_response_header(resp, x.headers.v[i].key, x.headers.v[i].value);
            ret = MHD_queue_response(c, (unsigned int)x.status, resp);
            MHD_destroy_response(resp);
        }
    }
    free(x.out);
    free(x.query_string);
    kv_clear(&x.query);
    kv_clear(&x.headers);
    free(x.auth);
    free(x.content_type);
    free(x.accept);
    return ret;
}

/* ---- life cycle --------------------------------------------------------------------------- */

static struct fake_lever *start_on(const struct sockaddr_in *sa)
{
    struct fake_lever *f = sl_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->audience = sl_xstrdup("https://api.lever.co/v1/");
    f->current_account = sl_xstrdup("acct_1");
    f->token_lifetime_s = 3600;
    f->rps = 10;
    f->burst = 20;
    f->strict = true;
    f->prng = mix_seed(1);
    f->offsets = json_object();
    f->log = json_array();
    account_create(f, "acct_1", "user_admin");

    f->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, f, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, f, MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_END);
    if (!f->daemon) {
        fake_lever_stop(f);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : ntohs(sa->sin_port);
    char host[INET_ADDRSTRLEN] = "127.0.0.1";
    if (sa->sin_addr.s_addr != htonl(INADDR_ANY))
        inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
    snprintf(f->base_url, sizeof(f->base_url), "http://%s:%u", host, (unsigned)f->port);
    return f;
}

struct fake_lever *fake_lever_start(void)
{
    return fake_lever_start_at("127.0.0.1:0");
}

struct fake_lever *fake_lever_start_at(const char *host_port)
{
    if (!host_port)
        return NULL;
    const char *colon = strrchr(host_port, ':');
    if (!colon || colon == host_port)
        return NULL;
    char host[64];
    size_t n = (size_t)(colon - host_port);
    if (n >= sizeof(host))
        return NULL;
    memcpy(host, host_port, n);
    host[n] = '\0';
    long port;
    if (!sl_parse_long(colon + 1, 0, 65535, &port))
        return NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return NULL;
    return start_on(&sa);
}

void fake_lever_stop(struct fake_lever *f)
{
    if (!f)
        return;
    if (f->daemon)
        MHD_stop_daemon(f->daemon);
    for (size_t i = 0; i < f->clients.n; i++) {
        free(f->clients.v[i].id);
        free(f->clients.v[i].secret);
        free(f->clients.v[i].redirect_uri);
    }
    free(f->clients.v);
    for (size_t i = 0; i < f->codes.n; i++) {
        struct code *c = &f->codes.v[i];
        free(c->code);
        free(c->client_id);
        free(c->redirect_uri);
        free(c->scope);
        free(c->account_id);
        free(c->user_id);
    }
    free(f->codes.v);
    for (size_t i = 0; i < f->grants.n; i++) {
        struct grant *g = &f->grants.v[i];
        free(g->client_id);
        free(g->account_id);
        free(g->user_id);
        free(g->scope);
        free(g->refresh);
        for (size_t r = 0; r < g->rotated.n; r++)
            free(g->rotated.v[r]);
        free(g->rotated.v);
    }
    free(f->grants.v);
    for (size_t i = 0; i < f->tokens.n; i++)
        free(f->tokens.v[i].token);
    free(f->tokens.v);
    for (size_t i = 0; i < f->pendings.n; i++) {
        struct pending *p = &f->pendings.v[i];
        free(p->id);
        free(p->client_id);
        free(p->redirect_uri);
        free(p->scope);
        free(p->state);
    }
    free(f->pendings.v);
    for (size_t i = 0; i < f->accounts.n; i++)
        account_free(f->accounts.v[i]);
    free(f->accounts.v);
    for (size_t i = 0; i < f->canned.n; i++) {
        free(f->canned.v[i].method);
        free(f->canned.v[i].pattern);
        free(f->canned.v[i].body);
    }
    free(f->canned.v);
    for (size_t i = 0; i < f->faults.n; i++) {
        free(f->faults.v[i].method);
        free(f->faults.v[i].pattern);
    }
    free(f->faults.v);
    for (size_t i = 0; i < f->interned.n; i++)
        free(f->interned.v[i]);
    free(f->interned.v);
    json_decref(f->offsets);
    json_decref(f->log);
    free(f->audience);
    free(f->current_account);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const char *fake_lever_base_url(struct fake_lever *f)
{
    return f->base_url;
}

uint16_t fake_lever_port(struct fake_lever *f)
{
    return f->port;
}

/* ---- configuration ------------------------------------------------------------------------ */

void fake_lever_add_client(struct fake_lever *f, const char *client_id, const char *client_secret,
                           const char *redirect_uri)
{
    pthread_mutex_lock(&f->lock);
    struct client *c = client_get(f, client_id);
    if (c) {
        free(c->secret);
        free(c->redirect_uri);
    } else {
        VEC_RESERVE(f->clients);
        c = &f->clients.v[f->clients.n++];
        c->id = sl_xstrdup(client_id);
    }
    c->secret = sl_xstrdup(client_secret);
    c->redirect_uri = sl_xstrdup(redirect_uri);
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_account(struct fake_lever *f, const char *account_id, const char *admin_user_id)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, false);
    if (!a)
        a = account_create(f, account_id, admin_user_id);
    if (!find_by_id(a->users, admin_user_id))
        json_array_append_new(a->users, make_user(f, admin_user_id, "Ada Admin",
                                                  "ada.admin@example.com", "super admin", false));
    free(a->admin_user_id);
    a->admin_user_id = sl_xstrdup(admin_user_id);
    free(f->current_account);
    f->current_account = sl_xstrdup(account_id);
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_audience(struct fake_lever *f, const char *audience)
{
    pthread_mutex_lock(&f->lock);
    free(f->audience);
    f->audience = sl_xstrdup(audience);
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_token_lifetime(struct fake_lever *f, int seconds)
{
    pthread_mutex_lock(&f->lock);
    f->token_lifetime_s = seconds;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_advance_clock(struct fake_lever *f, int64_t seconds)
{
    pthread_mutex_lock(&f->lock);
    f->clock_offset_ms += seconds * 1000;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_rate_limit(struct fake_lever *f, double rps, int burst)
{
    pthread_mutex_lock(&f->lock);
    f->rps = rps;
    f->burst = burst < 1 ? 1 : burst;
    for (size_t i = 0; i < f->accounts.n; i++)
        f->accounts.v[i]->bucket_ready = false;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_max_page(struct fake_lever *f, long n)
{
    pthread_mutex_lock(&f->lock);
    f->max_page = n;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_latency_ms(struct fake_lever *f, int ms)
{
    pthread_mutex_lock(&f->lock);
    f->latency_ms = ms < 0 ? 0 : ms;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_deny_next_authorize(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    f->deny_next = true;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_revoke(struct fake_lever *f, const char *account_id)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->grants.n; i++)
        if (strcmp(f->grants.v[i].account_id, account_id) == 0)
            f->grants.v[i].revoked = true;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_strict(struct fake_lever *f, bool strict)
{
    pthread_mutex_lock(&f->lock);
    f->strict = strict;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_interactive(struct fake_lever *f, bool interactive)
{
    pthread_mutex_lock(&f->lock);
    f->interactive = interactive;
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_trace(struct fake_lever *f, FILE *out)
{
    pthread_mutex_lock(&f->lock);
    f->trace = out;
    pthread_mutex_unlock(&f->lock);
}

/* ---- faults ------------------------------------------------------------------------------- */

void fake_lever_push_response(struct fake_lever *f, const char *method, const char *path_prefix,
                              int status, const char *json_body, int retry_after_s)
{
    pthread_mutex_lock(&f->lock);
    VEC_RESERVE(f->canned);
    f->canned.v[f->canned.n++] = (struct canned){
        .method = xstrdup_or_null(method),
        .pattern = sl_xstrdup(path_prefix ? path_prefix : ""),
        .body = xstrdup_or_null(json_body),
        .status = status,
        .retry_after_s = retry_after_s,
    };
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_set_fault_rate(struct fake_lever *f, const char *method, const char *path_prefix,
                               int fail_5xx_permille, int drop_after_work_permille)
{
    const char *pattern = path_prefix ? path_prefix : "";
    pthread_mutex_lock(&f->lock);
    size_t i = 0;
    for (; i < f->faults.n; i++) {
        struct fault *r = &f->faults.v[i];
        bool same_method =
            (!r->method && !method) || (r->method && method && strcasecmp(r->method, method) == 0);
        if (same_method && strcmp(r->pattern, pattern) == 0)
            break;
    }
    if (i == f->faults.n) {
        if (fail_5xx_permille <= 0 && drop_after_work_permille <= 0)
            goto out;
        VEC_RESERVE(f->faults);
        f->faults.v[f->faults.n++] =
            (struct fault){.method = xstrdup_or_null(method), .pattern = sl_xstrdup(pattern)};
    } else if (fail_5xx_permille <= 0 && drop_after_work_permille <= 0) {
        free(f->faults.v[i].method);
        free(f->faults.v[i].pattern);
        f->faults.v[i] = f->faults.v[--f->faults.n];
        goto out;
    }
    f->faults.v[i].fail_permille = fail_5xx_permille;
    f->faults.v[i].drop_permille = drop_after_work_permille;
out:
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_seed(struct fake_lever *f, uint64_t seed)
{
    pthread_mutex_lock(&f->lock);
    f->prng = mix_seed(seed);
    pthread_mutex_unlock(&f->lock);
}

void fake_lever_fail_users(struct fake_lever *f, bool fail)
{
    pthread_mutex_lock(&f->lock);
    f->fail_users = fail;
    pthread_mutex_unlock(&f->lock);
}

/* ---- OAuth shortcuts ---------------------------------------------------------------------- */

char *fake_lever_authorize_code(struct fake_lever *f, const char *client_id,
                                const char *redirect_uri, const char *scope)
{
    pthread_mutex_lock(&f->lock);
    struct client *c = client_get(f, client_id);
    char *code = NULL;
    if (c && redirect_uri && strcmp(c->redirect_uri, redirect_uri) == 0)
        code = code_create(f, client_id, redirect_uri, scope ? scope : DEFAULT_SCOPE);
    pthread_mutex_unlock(&f->lock);
    return code;
}

void fake_lever_mint_token(struct fake_lever *f, const char *account_id, char **access,
                           char **refresh)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, true);
    const char *client = f->clients.n ? f->clients.v[0].id : MINT_CLIENT;
    size_t gi = grant_create(f, client, a->id, a->admin_user_id, DEFAULT_SCOPE);
    json_t *answer = issue_tokens(f, gi, false);
    if (access)
        *access = sl_xstrdup(jstr(answer, "access_token"));
    if (refresh)
        *refresh = sl_xstrdup(jstr(answer, "refresh_token"));
    json_decref(answer);
    pthread_mutex_unlock(&f->lock);
}

int fake_lever_refresh_count(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->refresh_count;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_lever_reuse_count(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->reuse_count;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* ---- data --------------------------------------------------------------------------------- */

const char *fake_lever_add_user(struct fake_lever *f, const char *account_id, const char *name,
                                const char *email, const char *role, bool deactivated)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, true);
    char *id = uuid4();
    json_array_append_new(a->users,
                          make_user(f, id, name, email, role ? role : "interviewer", deactivated));
    const char *out = intern(f, id);
    free(id);
    pthread_mutex_unlock(&f->lock);
    return out;
}

const char *fake_lever_add_posting(struct fake_lever *f, const char *account_id, const char *id,
                                   const char *text, const char *state, const char *channels_csv,
                                   const char *team, const char *location)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, true);
    char *made = id ? NULL : uuid4();
    const char *pid = id ? id : made;
    json_array_append_new(a->postings,
                          make_posting(f, a->id, pid, text, state, channels_csv, team, location));
    const char *out = intern(f, pid);
    free(made);
    pthread_mutex_unlock(&f->lock);
    return out;
}

json_t *fake_lever_users(struct fake_lever *f, const char *account_id)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, false);
    json_t *out = a ? json_deep_copy(a->users) : json_array();
    pthread_mutex_unlock(&f->lock);
    return out;
}

int fake_lever_opportunity_count(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = 0;
    for (size_t i = 0; i < f->accounts.n; i++)
        n += json_array_size(f->accounts.v[i]->opportunities);
    pthread_mutex_unlock(&f->lock);
    return (int)n;
}

int fake_lever_count_opportunities(struct fake_lever *f, const char *email, const char *posting_id)
{
    char *want = email ? canon_email(email) : NULL;
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t a = 0; a < f->accounts.n; a++) {
        size_t i;
        json_t *opp;
        json_array_foreach(f->accounts.v[a]->opportunities, i, opp)
        {
            if (posting_id && !has_string(json_object_get(opp, "_postings"), posting_id))
                continue;
            bool hit = !want;
            size_t k;
            json_t *v;
            json_array_foreach(json_object_get(opp, "emails"), k, v)
            {
                char *have = canon_email(json_string_value(v));
                hit = hit || strcmp(have, want) == 0;
                free(have);
            }
            n += hit;
        }
    }
    pthread_mutex_unlock(&f->lock);
    free(want);
    return n;
}

json_t *fake_lever_opportunities(struct fake_lever *f)
{
    json_t *out = json_array();
    pthread_mutex_lock(&f->lock);
    for (size_t a = 0; a < f->accounts.n; a++) {
        size_t i;
        json_t *opp;
        json_array_foreach(f->accounts.v[a]->opportunities, i, opp)
        {
            json_t *c = public_copy(opp);
            json_object_set_new(c, "account", json_string(f->accounts.v[a]->id));
            json_object_set_new(c, "postings", json_deep_copy(json_object_get(opp, "_postings")));
            json_array_append_new(out, c);
        }
    }
    pthread_mutex_unlock(&f->lock);
    return out;
}

json_t *fake_lever_notes(struct fake_lever *f, const char *opportunity_id)
{
    json_t *out = json_array();
    pthread_mutex_lock(&f->lock);
    for (size_t a = 0; a < f->accounts.n; a++) {
        size_t i;
        json_t *note;
        json_array_foreach(f->accounts.v[a]->notes, i, note)
        {
            const char *opp = jstr(note, "_opportunity");
            if (opportunity_id && strcmp(opp, opportunity_id) != 0)
                continue;
            json_t *c = public_copy(note);
            json_object_set_new(c, "opportunityId", json_string(opp));
            json_array_append_new(out, c);
        }
    }
    pthread_mutex_unlock(&f->lock);
    return out;
}

/* ---- recording ---------------------------------------------------------------------------- */

json_t *fake_lever_requests(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    json_t *out = json_deep_copy(f->log);
    pthread_mutex_unlock(&f->lock);
    return out;
}

int fake_lever_count(struct fake_lever *f, const char *method, const char *path_prefix)
{
    int n = 0;
    pthread_mutex_lock(&f->lock);
    size_t i;
    json_t *e;
    json_array_foreach(f->log, i, e)
    {
        n += method_match(method, jstr(e, "method")) &&
             path_match(path_prefix ? path_prefix : "", jstr(e, "path"));
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_lever_count_429(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->count_429;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_lever_max_rps(struct fake_lever *f, const char *account_id)
{
    pthread_mutex_lock(&f->lock);
    struct account *a = account_get(f, account_id, false);
    int n = a ? a->max_rps : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void fake_lever_reset_log(struct fake_lever *f)
{
    pthread_mutex_lock(&f->lock);
    json_array_clear(f->log);
    pthread_mutex_unlock(&f->lock);
}
