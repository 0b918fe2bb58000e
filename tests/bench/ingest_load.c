/*
 * ingest_load.c: load generator for POST /webhooks/stakha.
 *
 *   ingest_load HOST PORT SECRET CONNECTIONS SECONDS RATE PREFIX
 *
 * Each of CONNECTIONS threads keeps one HTTP/1.1 keep-alive connection and
 * sends realistic events (about 1 KB, unique webhook-ids PREFIX-<thread>-<n>),
 * each signed with Standard Webhooks for the current second. RATE 0 sends as
 * fast as answers come (throughput); RATE > 0 paces the total to RATE
 * requests/s and measures latency from each request's scheduled time, so a
 * stall is not hidden (no coordinated omission). Prints one line:
 *   rps=<n> p50_ms=<n> p99_ms=<n> sent=<n> non2xx=<n> errors=<n>
 * wrk cannot sign each request, hence this program.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "webhook_sig.h"

static const char *host, *prefix;
static int port, seconds;
static double rate_per_conn;
static struct sl_whsecrets *secrets;

struct worker {
    pthread_t thread;
    int index;
    long sent, non2xx, errors;
    double *lat_ms;
    size_t nlat, caplat;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response; returns its status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - have - 1);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        char *cl = strcasestr(buf, "content-length:");
        size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        size_t total = (size_t)(end + 4 - buf) + body;
        while (have < total) {
            n = read(fd, buf + have, cap - have - 1);
            if (n <= 0)
                return -1;
            have += (size_t)n;
        }
        return atoi(buf + 9);
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    int fd = dial();
    char body[2048], req[4096], resp[8192], id[96], ts[24];
    double start = now_s(), next = start;
    for (long n = 0; now_s() - start < seconds; n++) {
        if (rate_per_conn > 0) {
            double wait = next - now_s();
            if (wait > 0)
                usleep((useconds_t)(wait * 1e6));
        }
        double t0 = rate_per_conn > 0 ? next : now_s();
        next += rate_per_conn > 0 ? 1.0 / rate_per_conn : 0;
        snprintf(id, sizeof(id), "%s-%d-%ld", prefix, w->index, n);
        snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
        int blen = snprintf(
            body, sizeof(body),
            "{\"type\":\"application.created\",\"created_at\":\"2026-12-04T15:19:56Z\","
            "\"data\":{\"team_id\":\"team_bench\",\"application\":{\"id\":\"app_%s\","
            "\"job_id\":\"job_42\",\"status\":\"applied\",\"created_at\":\"2026-12-04T15:19:50Z\"},"
            "\"candidate\":{\"id\":\"cand_%s\",\"first_name\":\"Ada\",\"last_name\":\"Lovelace\","
            "\"email\":\"ada.%s@example.com\",\"phone\":\"+44 20 7946 0000\","
            "\"location\":\"London, United Kingdom\","
            "\"resume_url\":\"https://api.recruitcrm.io/v1/files/cand_77/resume.pdf\","
            "\"profile_url\":\"https://app.stakha.io/candidates/cand_77\","
            "\"github_url\":\"https://github.com/ada\",\"twitter_url\":null,"
            "\"linkedin_url\":\"https://www.linkedin.com/in/ada\","
            "\"summary\":\"Systems engineer with a taste for analytical engines.\","
            "\"salary_expectation\":{\"min\":60000,\"max\":70000,\"currency\":\"EUR\","
            "\"period\":\"year\"},\"availability\":\"2 weeks notice\","
            "\"years_of_experience\":7,\"contract_types\":[\"permanent\",\"freelance\"],"
            "\"skills\":[\"C\",\"PostgreSQL\",\"libpq\",\"HTTP\"]}}}",
            id, id, id);
        char *sig = sl_webhook_sign(secrets, id, ts, body, (size_t)blen);
        int rlen = snprintf(req, sizeof(req),
                            "POST /webhooks/stakha HTTP/1.1\r\nHost: %s\r\n"
                            "Content-Type: application/json\r\nwebhook-id: %s\r\n"
                            "webhook-timestamp: %s\r\nwebhook-signature: %s\r\n"
                            "Content-Length: %d\r\n\r\n%s",
                            host, id, ts, sig, blen, body);
        free(sig);
        int status = -1;
        if (fd >= 0 && write(fd, req, (size_t)rlen) == rlen)
            status = read_response(fd, resp, sizeof(resp));
        if (status < 0) {
            w->errors++;
            if (fd >= 0)
                close(fd);
            fd = dial();
            continue;
        }
        w->sent++;
        if (status < 200 || status > 299)
            w->non2xx++;
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 4096;
            w->lat_ms = realloc(w->lat_ms, w->caplat * sizeof(double));
        }
        w->lat_ms[w->nlat++] = (now_s() - t0) * 1000.0;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT SECRET CONNECTIONS SECONDS RATE PREFIX\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    struct sl_err err;
    if (sl_whsecrets_parse(argv[3], &secrets, &err)) {
        fprintf(stderr, "secret: %s\n", err.msg);
        return 2;
    }
    int conns = atoi(argv[4]);
    seconds = atoi(argv[5]);
    rate_per_conn = atof(argv[6]) / conns;
    prefix = argv[7];
    struct worker *w = calloc((size_t)conns, sizeof(*w));
    double t0 = now_s();
    for (int i = 0; i < conns; i++) {
        w[i].index = i;
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    }
    long sent = 0, non2xx = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        sent += w[i].sent;
        non2xx += w[i].non2xx;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    double elapsed = now_s() - t0;
    double *all = malloc((nlat ? nlat : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].nlat * sizeof(double));
        k += w[i].nlat;
        free(w[i].lat_ms);
    }
    qsort(all, nlat, sizeof(double), cmp);
    double p50 = nlat ? all[nlat / 2] : 0, p99 = nlat ? all[(size_t)((double)nlat * 0.99)] : 0;
    printf("rps=%.1f p50_ms=%.3f p99_ms=%.3f sent=%ld non2xx=%ld errors=%ld\n",
           (double)sent / elapsed, p50, p99, sent, non2xx, errors);
    free(all);
    free(w);
    sl_whsecrets_destroy(secrets);
    return 0;
}
