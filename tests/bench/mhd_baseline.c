/*
 * mhd_baseline.c: the smallest libmicrohttpd server that answers like the
 * service's GET /health; bench_health_rps.sh measures it as the baseline.
 *
 * Design: the daemon is set up as server/http.c sets up the service's
 * (epoll internal thread, a thread pool of the given size, ITC, the same
 * connection timeout and limit, a completion callback), and the response is
 * queued on the second call of the access callback, as the service does for
 * a request without a body. Nothing else: no route table, no request id, no
 * JSON encoding, no access log. The gap between the two figures is what the
 * service adds to each request.
 *
 * Usage: mhd_baseline THREADS
 *   binds 127.0.0.1 on a free port, prints "port N" on stdout once it
 *   listens, and runs until SIGTERM or SIGINT.
 *
 * Threads: main starts the daemon and waits for a signal; the daemon's pool
 * threads run the callbacks. The response body is a static string shared by
 * every response (MHD_RESPMEM_PERSISTENT), so nothing is allocated here.
 *
 * Built by tests/bench/lib.sh: cc -O2 mhd_baseline.c $(pkg-config --cflags --libs libmicrohttpd)
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char health_body[] = "{\"status\":\"ok\"}";

/* Marks a request whose first access-callback call has been seen. */
static int request_seen;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers only: answer on the next call, as the service does */
        *con_cls = &request_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool health = strcmp(method, "GET") == 0 && strcmp(url, "/health") == 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        health ? sizeof(health_body) - 1 : 0, (void *)health_body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (health)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result r = MHD_queue_response(conn, health ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, resp);
    MHD_destroy_response(resp);
    return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long threads = argc == 2 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 2 || !end || *end != '\0' || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: mhd_baseline THREADS (1 to 256)\n");
        return 2;
    }

    /* Blocked before the pool threads exist, so only sigwait below sees
     * them; reset to default because a shell's background job starts with
     * SIGINT ignored, and an ignored signal never reaches sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)4096, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_baseline: cannot start the daemon on 127.0.0.1\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        fprintf(stderr, "mhd_baseline: cannot read the bound port\n");
        MHD_stop_daemon(d);
        return 1;
    }
    printf("port %u\n", (unsigned int)info->port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    return 0;
}
