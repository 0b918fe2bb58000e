/*
 * postings.c: GET /api/v1/teams/{team_id}/lever/postings (SPEC 3), the
 * job dropdown of Stakha.
 *
 * Two listings, every page of each: state=published with both distribution
 * channels (without distributionChannel Lever returns only the postings of
 * the public job site) and state=internal (Lever's "unlisted"). Published
 * first, unlisted last, each group by title case-insensitively, ties by id.
 * The answer is cached per team for 60 s (the dropdown is opened often and
 * postings change rarely); ?refresh=true bypasses the cache.
 *
 * Threads: HTTP server threads; the cache is behind a mutex.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "common.h"
#include "handlers.h"
#include "log.h"
#include "util.h"

#define CACHE_TTL_NS (60LL * 1000000000)
#define CACHE_SLOTS 64

struct cached {
    char team[72];
    int64_t fetched_ns;
    char *body; /* the JSON answer */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[CACHE_SLOTS];

static char *cache_get(const char *team)
{
    char *hit = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].body && strcmp(cache[i].team, team) == 0 &&
            sl_mono_ns() - cache[i].fetched_ns < CACHE_TTL_NS)
            hit = sl_xstrdup(cache[i].body);
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_put(const char *team, const char *body)
{
    pthread_mutex_lock(&cache_lock);
    int slot = 0;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (strcmp(cache[i].team, team) == 0) { /* the team's own slot */
            slot = i;
            break;
        }
        if (cache[i].fetched_ns < cache[slot].fetched_ns) /* else the oldest */
            slot = i;
    }
    free(cache[slot].body);
    sl_strlcpy(cache[slot].team, team, sizeof(cache[slot].team));
    cache[slot].body = sl_xstrdup(body);
    cache[slot].fetched_ns = sl_mono_ns();
    pthread_mutex_unlock(&cache_lock);
}

static int by_group_title_id(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int lx = json_is_true(json_object_get(x, "listed")),
        ly = json_is_true(json_object_get(y, "listed"));
    if (lx != ly)
        return ly - lx; /* published (listed) first */
    const char *tx = json_string_value(json_object_get(x, "text"));
    const char *ty = json_string_value(json_object_get(y, "text"));
    int c = strcasecmp(tx ? tx : "", ty ? ty : "");
    if (c)
        return c;
    return strcmp(json_string_value(json_object_get(x, "id")),
                  json_string_value(json_object_get(y, "id")));
}

static json_t *string_or_null(json_t *v)
{
    return json_is_string(v) ? json_incref(v) : json_null();
}

/* Appends the SPEC fields of every usable posting of `items` to `out`. */
static void collect(json_t *items, json_t *out, json_t *seen)
{
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));
        const char *state = json_string_value(json_object_get(p, "state"));
        if (!id || !state || json_object_get(seen, id))
            continue;
        bool published = strcmp(state, "published") == 0;
        if (!published && strcmp(state, "internal") != 0)
            continue;
        json_object_set_new(seen, id, json_true());
        json_t *cat = json_object_get(p, "categories");
        json_array_append_new(
            out, json_pack("{s:s,s:o,s:s,s:b,s:o,s:o,s:o}", "id", id, "text",
                           string_or_null(json_object_get(p, "text")), "state", state, "listed",
                           published, "location", string_or_null(json_object_get(cat, "location")),
                           "team", string_or_null(json_object_get(cat, "team")), "url",
                           string_or_null(json_object_get(json_object_get(p, "urls"), "show"))));
    }
}

void sl_handle_postings(struct sl_req *req)
{
    const char *team;
    struct sl_db *db = NULL;
    struct sl_h_lever lv = {0};
    json_t *postings = NULL, *seen = NULL;
    if (!sl_h_id(req, "team_id", &team))
        return;
    const char *refresh = sl_req_query(req, "refresh");
    bool bypass = refresh && (strcmp(refresh, "true") == 0 || strcmp(refresh, "1") == 0);
    char *hit = bypass ? NULL : cache_get(team);
    if (hit) {
        sl_reply_header(req, "X-Cache", "hit");
        sl_reply_text(req, 200, "application/json", hit);
        return;
    }
    if (!sl_h_db(req, &db) || !sl_h_lever(req, db, team, &lv))
        goto out;
    static const char *const published[] = {"state",  "published",           "distributionChannel",
                                            "public", "distributionChannel", "internal",
                                            NULL};
    static const char *const internal[] = {"state", "internal", NULL};
    const char *const *queries[] = {published, internal};
    postings = json_array();
    seen = json_object();
    for (int q = 0; q < 2; q++) {
        json_t *items = NULL;
        struct sl_lever_resp resp = {0};
        struct sl_err err = {0};
        enum sl_rc rc = sl_lever_list(lv.client, lv.access.access_token, "/postings", queries[q],
                                      &items, &resp, &err);
        if (rc == SL_ERR_AUTH) { /* expired or revoked under us: refresh once */
            sl_lever_resp_cleanup(&resp);
            if (!sl_h_lever_refresh(req, db, team, &lv))
                goto out;
            rc = sl_lever_list(lv.client, lv.access.access_token, "/postings", queries[q], &items,
                               &resp, &err);
        }
        sl_lever_resp_cleanup(&resp);
        if (rc) {
            sl_log(SL_LOG_WARN, "lever_postings_failed", "team %s: %s", team, err.msg);
            sl_reply_error(req, 502, "lever_unavailable",
                           "Lever's postings could not be read; please retry. (%s)", err.msg);
            goto out;
        }
        collect(items, postings, seen);
        json_decref(items);
    }
    size_t n = json_array_size(postings);
    json_t **sorted = sl_xcalloc(n, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(postings, i);
    qsort(sorted, n, sizeof(*sorted), by_group_title_id);
    json_t *ordered = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(ordered, sorted[i]);
    free(sorted);
    json_t *answer = json_pack("{s:o}", "postings", ordered);
    char *text = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(answer);
    cache_put(team, text);
    sl_reply_header(req, "X-Cache", "miss");
    sl_reply_text(req, 200, "application/json", text);
out:
    json_decref(postings);
    json_decref(seen);
    sl_h_lever_release(req, &lv);
    if (db)
        sl_h_db_release(req, db);
}
