/*
 * metrics.h: counters and histograms in Prometheus text format.
 *
 * HTTP requests are counted in a lock-free array indexed by route and
 * status, because they are on every request's path. Everything else
 * (webhooks by result, Lever requests, token refreshes) goes through a small
 * labelled table behind a mutex. Gauges that live in the database (queue
 * depth, connections by status) are read by the /metrics handler at scrape
 * time and appended to what sl_metrics_render() writes.
 *
 * Threads: any, after sl_metrics_init() (main, before threads).
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stddef.h>

#include "http.h"
#include "util.h"

void sl_metrics_init(const struct sl_route *routes, size_t nroutes);

/* One HTTP request answered with `status` on route `route_index` (-1: no route). */
void sl_metrics_http(int route_index, int status);

/* Adds `by` to the counter `family{labels}`; `labels` is the inside of the
 * braces, e.g. "result=\"stored\"", or "" for none. Family must be known to
 * metrics.c's table, else the call aborts (a typo is a bug). */
void sl_metrics_inc(const char *family, const char *labels, double by);

/* Records `value` (seconds) in the histogram `family{labels}`. */
void sl_metrics_observe(const char *family, const char *labels, double value);

/* Appends every metric in text exposition format to `out`. */
void sl_metrics_render(struct sl_buf *out);

/* Test support: the current value of counter `family{labels}` (0 if never set). */
double sl_metrics_value(const char *family, const char *labels);

#endif
