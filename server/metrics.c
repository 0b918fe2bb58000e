/*
 * metrics.c: the process's counters and histograms.
 *
 * HTTP requests by route and status are an array of atomics (routes + 1 for
 * "no route", times statuses 100..599), so counting costs one relaxed
 * atomic add on the request path. The other families are few and low rate:
 * a linear table of (family, labels) series behind a mutex is simpler than
 * anything cleverer and fast enough.
 *
 * Threads: any after sl_metrics_init().
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "rc.h"

#define NSTATUS 500 /* 100..599 */

struct family {
    const char *name;
    const char *type; /* "counter" or "histogram" */
    const char *help;
};

static const struct family families[] = {
    {"sl_webhooks_total", "counter", "Stakha webhooks by result"},
    {"sl_lever_requests_total", "counter", "Requests to Lever by endpoint and status"},
    {"sl_lever_request_duration_seconds", "histogram", "Latency of requests to Lever"},
    {"sl_token_refreshes_total", "counter", "Lever token refreshes by result"},
    {"sl_deliveries_total", "counter", "Delivery attempts by outcome"},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
    const struct family *family;
    char labels[160];
    double value;        /* counter value, or histogram sum */
    unsigned long count; /* histogram */
    unsigned long bucket[NBUCKETS];
};

static const struct sl_route *route_table;
static size_t route_count;
static atomic_ulong *http_counts; /* (route_count + 1) * NSTATUS */

static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *series;
static size_t nseries, capseries;

void sl_metrics_init(const struct sl_route *routes, size_t nroutes)
{
    route_table = routes;
    route_count = nroutes;
    free(http_counts);
    http_counts = sl_xcalloc((nroutes + 1) * NSTATUS, sizeof(*http_counts));
}

void sl_metrics_http(int route_index, int status)
{
    if (!http_counts || status < 100 || status > 599)
        return;
    size_t r = route_index < 0 ? route_count : (size_t)route_index;
    atomic_fetch_add_explicit(&http_counts[r * NSTATUS + (size_t)(status - 100)], 1,
                              memory_order_relaxed);
}

static const struct family *find_family(const char *name)
{
    for (size_t i = 0; i < NFAMILIES; i++)
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    SL_ASSERT(!"unknown metric family");
    return NULL;
}

/* Caller holds series_lock. */
static struct series *find_series(const char *family, const char *labels)
{
    const struct family *f = find_family(family);
    for (size_t i = 0; i < nseries; i++)
        if (series[i].family == f && strcmp(series[i].labels, labels) == 0)
            return &series[i];
    if (nseries == capseries) {
        capseries = capseries ? capseries * 2 : 32;
        series = sl_xrealloc(series, capseries * sizeof(*series));
    }
    struct series *s = &series[nseries++];
    memset(s, 0, sizeof(*s));
    s->family = f;
    sl_strlcpy(s->labels, labels, sizeof(s->labels));
    return s;
}

void sl_metrics_inc(const char *family, const char *labels, double by)
{
    pthread_mutex_lock(&series_lock);
    find_series(family, labels)->value += by;
    pthread_mutex_unlock(&series_lock);
}

void sl_metrics_observe(const char *family, const char *labels, double value)
{
    pthread_mutex_lock(&series_lock);
    struct series *s = find_series(family, labels);
    s->value += value;
    s->count++;
    for (size_t b = 0; b < NBUCKETS; b++)
        if (value <= buckets[b])
            s->bucket[b]++;
    pthread_mutex_unlock(&series_lock);
}

double sl_metrics_value(const char *family, const char *labels)
{
    pthread_mutex_lock(&series_lock);
    double v = find_series(family, labels)->value;
    pthread_mutex_unlock(&series_lock);
    return v;
}

static void render_http(struct sl_buf *out)
{
    sl_buf_puts(out, "# HELP sl_http_requests_total HTTP requests by route and status\n"
                     "# TYPE sl_http_requests_total counter\n");
    for (size_t r = 0; r <= route_count && http_counts; r++) {
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long n =
                atomic_load_explicit(&http_counts[r * NSTATUS + s], memory_order_relaxed);
            if (!n)
                continue;
            const char *method = r < route_count ? route_table[r].method : "";
            const char *route = r < route_count ? route_table[r].pattern : "unmatched";
            sl_buf_printf(out,
                          "sl_http_requests_total{method=\"%s\",route=\"%s\",status=\"%zu\"} %lu\n",
                          method, route, s + 100, n);
        }
    }
}

void sl_metrics_render(struct sl_buf *out)
{
    render_http(out);
    pthread_mutex_lock(&series_lock);
    for (size_t f = 0; f < NFAMILIES; f++) {
        const struct family *fam = &families[f];
        sl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                      fam->type);
        for (size_t i = 0; i < nseries; i++) {
            const struct series *s = &series[i];
            if (s->family != fam)
                continue;
            const char *sep = s->labels[0] ? "," : "";
            if (strcmp(fam->type, "counter") == 0) {
                sl_buf_printf(out, "%s{%s} %.17g\n", fam->name, s->labels, s->value);
                continue;
            }
            for (size_t b = 0; b < NBUCKETS; b++)
                sl_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", fam->name, s->labels, sep,
                              buckets[b], s->bucket[b]);
            sl_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", fam->name, s->labels, sep,
                          s->count);
            sl_buf_printf(out, "%s_sum{%s} %.17g\n%s_count{%s} %lu\n", fam->name, s->labels,
                          s->value, fam->name, s->labels, s->count);
        }
    }
    pthread_mutex_unlock(&series_lock);
}
