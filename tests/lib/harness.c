/*
 * harness.c: databases, the service process, an HTTP client and a TCP
 * proxy for the integration tests (see harness.h).
 *
 * Threads: the database, service and HTTP helpers are called from a test's
 * main thread (the service is forked from it, and its parent-death signal
 * follows that thread); the proxy runs its own threads.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

long long th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *th_bin(void)
{
    const char *b = getenv("SL_TEST_BIN");
    return b ? b : "build/stakha-lever";
}

const char *th_pg_base(void)
{
    const char *b = getenv("SL_TEST_PG");
    if (!b)
        BAIL_OUT("SL_TEST_PG is not set: run the tests with `make test`");
    return b;
}

int th_pg_port(void)
{
    const char *p = strstr(th_pg_base(), "port=");
    return p ? atoi(p + 5) : 5432;
}

void th_tempdir(char *out, size_t n)
{
    const char *root = getenv("SL_TEST_TMP");
    snprintf(out, n, "%s/t.XXXXXX", root ? root : "/tmp");
    if (!mkdtemp(out))
        BAIL_OUT("mkdtemp: %s", strerror(errno));
    chmod(out, 0755); /* postgres must be able to traverse it */
}

int th_processes(const char *needle, pid_t ppid, pid_t *found)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[len] = '\0';
        if (!len || !strstr(buf, needle))
            continue;
        if (ppid > 0) {
            snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
            int parent = 0;
            f = fopen(path, "r");
            if (f) {
                if (fscanf(f, "%*d %*s %*c %d", &parent) != 1)
                    parent = 0;
                fclose(f);
            }
            if (parent != ppid)
                continue;
        }
        if (found)
            *found = (pid_t)atoi(de->d_name);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* ---- databases ---- */

static PGconn *connect_or_bail(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        BAIL_OUT("cannot connect to %s: %s", url, PQerrorMessage(c));
    return c;
}

static void create(struct th_db *db, const char *template_clause)
{
    static unsigned counter;
    snprintf(db->name, sizeof(db->name), "t_%d_%u_%lld", (int)getpid(), counter++,
             th_now_ms() % 100000);
    snprintf(db->url, sizeof(db->url), "%s dbname=%s", th_pg_base(), db->name);
    char admin[512], sql[256];
    snprintf(admin, sizeof(admin), "%s dbname=postgres", th_pg_base());
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s %s", db->name, template_clause);
    PGconn *c = connect_or_bail(admin);
    /* CREATE DATABASE ... TEMPLATE fails while another session copies the
     * same template; tests run in parallel, so retry briefly. */
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexec(c, sql);
        bool good = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!good && attempt >= 50)
            BAIL_OUT("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        if (good)
            break;
        usleep(100 * 1000);
    }
    PQfinish(c);
}

void th_db_create(struct th_db *db)
{
    create(db, "TEMPLATE sl_template");
}
void th_db_create_empty(struct th_db *db)
{
    create(db, "TEMPLATE template0");
}

void th_db_drop(struct th_db *db)
{
    char admin[512], sql[256];
    snprintf(admin, sizeof(admin), "%s dbname=postgres", th_pg_base());
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    PGconn *c = connect_or_bail(admin);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

char *th_db_value(const struct th_db *db, const char *sql, int nparams, const char *const *params)
{
    PGconn *c = connect_or_bail(db->url);
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        BAIL_OUT("%s: %s", sql, PQresultErrorMessage(r));
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

long th_db_long(const struct th_db *db, const char *sql)
{
    char *v = th_db_value(db, sql, 0, NULL);
    long n = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

void th_db_exec(const struct th_db *db, const char *sql)
{
    free(th_db_value(db, sql, 0, NULL));
}

/* ---- the service ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

char *th_service_log(const struct th_service *svc)
{
    return slurp(svc->log_path);
}

bool th_service_log_contains(const struct th_service *svc, const char *needle)
{
    char *log = slurp(svc->log_path);
    bool found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

bool th_service_log_wait(const struct th_service *svc, const char *needle, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    do {
        if (th_service_log_contains(svc, needle))
            return true;
        usleep(20 * 1000);
    } while (th_now_ms() < deadline);
    return false;
}

static bool env_has(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return true;
    return false;
}

const char *const *th_env(const struct th_db *db, const char *const *extra)
{
    static char url[600];
    static const char *env[64];
    size_t n = 0;
    if (db) {
        snprintf(url, sizeof(url), "DATABASE_URL=%s", db->url);
        env[n++] = url;
    }
    for (size_t i = 0; extra && extra[i] && n < 63; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    return env;
}

bool th_service_start(struct th_service *svc, const char *cmd, const char *const *env, int wait_s)
{
    memset(svc, 0, sizeof(*svc));
    th_tempdir(svc->dir, sizeof(svc->dir));
    snprintf(svc->log_path, sizeof(svc->log_path), "%s/service.log", svc->dir);
    static char path[4096], addr[64], data[320];
    const char *full[80];
    size_t n = 0;
    snprintf(path, sizeof(path), "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    full[n++] = path;
    if (!env_has(env, "SL_HTTP_ADDR")) {
        snprintf(addr, sizeof(addr), "SL_HTTP_ADDR=127.0.0.1:0");
        full[n++] = addr;
    }
    if (!env_has(env, "SL_DATA_DIR")) {
        snprintf(data, sizeof(data), "SL_DATA_DIR=%s/data", svc->dir);
        full[n++] = data;
    }
    static const char *const defaults[] = {"SL_API_TOKEN=" TH_API_TOKEN,
                                           "SL_STAKHA_WEBHOOK_SECRET=" TH_WEBHOOK_SECRET,
                                           "SL_TOKEN_KEY=" TH_TOKEN_KEY};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(defaults[i], "="), defaults[i]);
        if (!env_has(env, name))
            full[n++] = defaults[i];
    }
    for (size_t i = 0; env && env[i] && n < 78; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq && strcmp(eq, "=-") == 0)
            continue; /* explicitly unset */
        full[n++] = env[i];
    }
    full[n] = NULL;

    pid_t parent = getpid();
    svc->pid = fork();
    if (svc->pid < 0)
        BAIL_OUT("fork: %s", strerror(errno));
    if (svc->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (getppid() != parent)
            _exit(1);
        int fd = open(svc->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(fd, 2);
        char *argv[] = {(char *)th_bin(), (char *)cmd, NULL};
        execve(th_bin(), argv, (char *const *)full);
        _exit(127);
    }
    if (strcmp(cmd, "serve") != 0)
        return true;
    long long deadline = th_now_ms() + wait_s * 1000LL;
    while (th_now_ms() < deadline) {
        char *log = slurp(svc->log_path);
        char *at = strstr(log, "\"event\":\"listening\"");
        char *p = at ? strstr(at, "\"port\":") : NULL;
        if (p) {
            svc->port = atoi(p + 7);
            snprintf(svc->base_url, sizeof(svc->base_url), "http://127.0.0.1:%d", svc->port);
            free(log);
            return true;
        }
        free(log);
        int status;
        if (waitpid(svc->pid, &status, WNOHANG) == svc->pid) {
            svc->pid = 0;
            return false;
        }
        usleep(20 * 1000);
    }
    return false;
}

int th_service_wait(struct th_service *svc, int wait_s)
{
    if (svc->pid <= 0)
        return -1;
    long long deadline = th_now_ms() + wait_s * 1000LL;
    int status;
    while (th_now_ms() < deadline) {
        if (waitpid(svc->pid, &status, WNOHANG) == svc->pid) {
            svc->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10 * 1000);
    }
    return -1;
}

int th_service_stop(struct th_service *svc, int sig, int wait_s)
{
    if (svc->pid <= 0)
        return -1;
    if (sig)
        kill(svc->pid, sig);
    int rc = th_service_wait(svc, wait_s);
    if (rc == -1 && svc->pid > 0) {
        kill(svc->pid, SIGKILL);
        waitpid(svc->pid, NULL, 0);
        svc->pid = 0;
    }
    return rc;
}

/* ---- HTTP ---- */

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    char **buf = userp;
    size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
    *buf = realloc(*buf, old + n + 1);
    memcpy(*buf + old, data, n);
    (*buf)[old + n] = '\0';
    return n;
}

struct body_sink {
    char *data;
    size_t len;
};

static size_t collect_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct body_sink *b = userp;
    size_t n = size * nmemb;
    b->data = realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void th_http(struct th_resp *r, const char *method, const char *url, const char *const *headers,
             const char *body, size_t len)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    struct body_sink sink = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    r->body = sink.data ? sink.data : strdup("");
    r->len = sink.len;
    if (!r->headers)
        r->headers = strdup("");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

void th_get(struct th_resp *r, const struct th_service *svc, const char *path)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", svc->base_url, path);
    th_http(r, "GET", url, NULL, NULL, 0);
}

char *th_resp_header(const struct th_resp *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            end = line + strlen(line);
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(end - v));
        }
        line = *end ? end + 2 : end;
    }
    return NULL;
}

json_t *th_resp_json(const struct th_resp *r)
{
    return json_loadb(r->body, r->len, 0, NULL);
}

void th_resp_free(struct th_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

bool th_wait_status(const struct th_service *svc, const char *path, long status, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    do {
        struct th_resp r;
        th_get(&r, svc, path);
        long got = r.status;
        th_resp_free(&r);
        if (got == status)
            return true;
        usleep(50 * 1000);
    } while (th_now_ms() < deadline);
    return false;
}

/* ---- TCP proxy ---- */

#define PROXY_MAX 256

struct th_proxy {
    int target_port, port, listen_fd;
    pthread_t thread;
    pthread_mutex_t lock;
    bool down, stop;
    int fds[PROXY_MAX][2]; /* client, server; -1 when free */
};

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64))
        BAIL_OUT("proxy: bind/listen: %s", strerror(errno));
    return fd;
}

static void *proxy_main(void *arg)
{
    struct th_proxy *p = arg;
    char buf[65536];
    for (;;) {
        struct pollfd pfd[1 + 2 * PROXY_MAX];
        int map[1 + 2 * PROXY_MAX];
        int n = 0;
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        if (p->listen_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
            map[n++] = -1;
        }
        for (int i = 0; i < PROXY_MAX; i++) {
            if (p->fds[i][0] < 0)
                continue;
            pfd[n] = (struct pollfd){.fd = p->fds[i][0], .events = POLLIN};
            map[n++] = i * 2;
            pfd[n] = (struct pollfd){.fd = p->fds[i][1], .events = POLLIN};
            map[n++] = i * 2 + 1;
        }
        pthread_mutex_unlock(&p->lock);
        if (poll(pfd, (nfds_t)n, 50) <= 0)
            continue;
        pthread_mutex_lock(&p->lock);
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (map[k] == -1) {
                int c = accept(p->listen_fd, NULL, NULL);
                if (c < 0)
                    continue;
                if (p->down) { /* the "database" is down: hang up at once */
                    close(c);
                    continue;
                }
                int s = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t)p->target_port)};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                int slot = -1;
                for (int i = 0; i < PROXY_MAX && slot < 0; i++)
                    if (p->fds[i][0] < 0)
                        slot = i;
                if (slot < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
                    close(c);
                    close(s);
                    continue;
                }
                p->fds[slot][0] = c;
                p->fds[slot][1] = s;
                continue;
            }
            int i = map[k] / 2, side = map[k] % 2;
            if (p->fds[i][0] < 0)
                continue;
            ssize_t got = read(p->fds[i][side], buf, sizeof(buf));
            bool closed = got <= 0;
            if (!closed) {
                ssize_t off = 0;
                while (off < got) {
                    ssize_t w = write(p->fds[i][1 - side], buf + off, (size_t)(got - off));
                    if (w <= 0) {
                        closed = true;
                        break;
                    }
                    off += w;
                }
            }
            if (closed) {
                close(p->fds[i][0]);
                close(p->fds[i][1]);
                p->fds[i][0] = p->fds[i][1] = -1;
            }
        }
        pthread_mutex_unlock(&p->lock);
    }
}

struct th_proxy *th_proxy_start(int target_port)
{
    struct th_proxy *p = calloc(1, sizeof(*p));
    p->target_port = target_port;
    for (int i = 0; i < PROXY_MAX; i++)
        p->fds[i][0] = p->fds[i][1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    p->listen_fd = listen_on(0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(p->listen_fd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    pthread_create(&p->thread, NULL, proxy_main, p);
    return p;
}

int th_proxy_port(const struct th_proxy *p)
{
    return p->port;
}

void th_proxy_set_down(struct th_proxy *p, bool down)
{
    /* The listener stays bound (a freed port can be taken by any outgoing
     * connection); while down, new connections are closed at once. */
    pthread_mutex_lock(&p->lock);
    if (down) {
        for (int i = 0; i < PROXY_MAX; i++) {
            if (p->fds[i][0] < 0)
                continue;
            close(p->fds[i][0]);
            close(p->fds[i][1]);
            p->fds[i][0] = p->fds[i][1] = -1;
        }
    }
    p->down = down;
    pthread_mutex_unlock(&p->lock);
}

void th_proxy_stop(struct th_proxy *p)
{
    if (!p)
        return;
    th_proxy_set_down(p, true);
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
