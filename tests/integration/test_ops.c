/* The service's HTTP basics and operations endpoints, against the real binary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

/* Runs the binary with argv[1] = arg and env; returns exit status; output in *out. */
static int run_cli(const char *arg, const char *const *env, char **out)
{
    char path[256];
    th_tempdir(path, sizeof(path));
    strcat(path, "/out");
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(path, "w", stdout);
        (void)f;
        dup2(1, 2);
        char *argv[] = {(char *)th_bin(), (char *)arg, NULL};
        execve(th_bin(), argv, (char *const *)env);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    FILE *f = fopen(path, "r");
    *out = calloc(1, 65536);
    size_t n = fread(*out, 1, 65535, f);
    (*out)[n] = '\0';
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void refused_setting(const char *assignment, const char *name)
{
    const char *env[] = {"PATH=/usr/bin:/bin", assignment, "DATABASE_URL=host=127.0.0.1 port=1",
                         NULL};
    char *out;
    int rc = run_cli("serve", env, &out);
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    ok(rc == 2 && strstr(out, name) && lines == 1, "%s: exit %d, one line naming %s: %s",
       assignment, rc, name, out);
    free(out);
}

int main(void)
{
    char *out;
    const char *plain_env[] = {"PATH=/usr/bin:/bin", "SL_API_TOKEN=sup3rs3cr3t-token",
                               "SL_LEVER_CLIENT_SECRET=client-s3cr3t", NULL};
    is_int(run_cli("--help", plain_env, &out), 0, "--help exits 0");
    ok(strstr(out, "serve") && strstr(out, "migrate") && strstr(out, "SL_WORKERS") &&
           strstr(out, "SL_LEVER_RPS"),
       "--help lists commands and settings");
    ok(!strstr(out, "sup3rs3cr3t") && !strstr(out, "client-s3cr3t"), "--help shows no secret");
    free(out);
    is_int(run_cli("--version", plain_env, &out), 0, "--version exits 0");
    ok(strncmp(out, "stakha-lever ", 13) == 0, "--version names the program: %s", out);
    free(out);
    is_int(run_cli("frobnicate", plain_env, &out), 2, "unknown command exits 2");
    free(out);

    refused_setting("SL_HTTP_ADDR=nonsense", "SL_HTTP_ADDR");
    refused_setting("SL_WORKERS=many", "SL_WORKERS");
    refused_setting("SL_LEVER_RPS=0", "SL_LEVER_RPS");
    refused_setting("SL_PUBLIC_URL=localhost:8080", "SL_PUBLIC_URL");
    refused_setting("SL_TOKEN_KEY=c2hvcnQ=", "SL_TOKEN_KEY");
    refused_setting("SL_STAKHA_WEBHOOK_SECRET=whsec_!!!", "SL_STAKHA_WEBHOOK_SECRET");
    const char *secret_env[] = {"PATH=/usr/bin:/bin",
                                "SL_TOKEN_KEY=bm90LWEta2V5LWF0LWFsbA==", NULL};
    run_cli("serve", secret_env, &out);
    ok(!strstr(out, "bm90LWEta2V5LWF0LWFsbA"), "a bad key is not echoed: %s", out);
    free(out);

    struct th_db db;
    th_db_create(&db);
    struct th_service svc;
    if (!th_service_start(&svc, "serve", th_env(&db, NULL), 20))
        BAIL_OUT("service did not start");

    struct th_resp r;
    th_get(&r, &svc, "/health");
    is_int(r.status, 200, "/health 200");
    is_str(r.body, "{\"status\":\"ok\"}", "/health body");
    char *ct = th_resp_header(&r, "Content-Type");
    is_str(ct, "application/json", "JSON content type");
    free(ct);
    char *id1 = th_resp_header(&r, "X-Request-Id");
    ok(id1 && strlen(id1) >= 8, "a request id is generated: %s", id1 ? id1 : "(none)");
    th_resp_free(&r);
    th_get(&r, &svc, "/health");
    char *id2 = th_resp_header(&r, "X-Request-Id");
    ok(id1 && id2 && strcmp(id1, id2) != 0, "each request gets its own id");
    th_resp_free(&r);

    const char *with_id[] = {"X-Request-Id: trace-abc.123", NULL};
    char url[256];
    snprintf(url, sizeof(url), "%s/health", svc.base_url);
    th_http(&r, "GET", url, with_id, NULL, 0);
    char *echoed = th_resp_header(&r, "X-Request-Id");
    is_str(echoed, "trace-abc.123", "a client's request id is echoed");
    free(echoed);
    th_resp_free(&r);
    const char *bad_id[] = {"X-Request-Id: <script>", NULL};
    th_http(&r, "GET", url, bad_id, NULL, 0);
    echoed = th_resp_header(&r, "X-Request-Id");
    ok(echoed && strcmp(echoed, "<script>") != 0, "an unsafe request id is replaced");
    free(echoed);
    th_resp_free(&r);

    th_get(&r, &svc, "/ready");
    is_int(r.status, 200, "/ready 200 with a migrated database");
    th_resp_free(&r);

    th_get(&r, &svc, "/no/such/path");
    is_int(r.status, 404, "unknown path 404");
    json_t *j = th_resp_json(&r);
    is_str(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "not_found",
           "404 in the JSON error format");
    ok(json_is_string(json_object_get(json_object_get(j, "error"), "message")), "with a message");
    json_decref(j);
    th_resp_free(&r);

    th_http(&r, "DELETE", url, NULL, NULL, 0);
    is_int(r.status, 405, "wrong method 405");
    j = th_resp_json(&r);
    is_str(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
           "method_not_allowed", "405 in the JSON error format");
    json_decref(j);
    char *allow = th_resp_header(&r, "Allow");
    is_str(allow, "GET", "Allow header");
    free(allow);
    th_resp_free(&r);

    th_http(&r, "GET", url, NULL, "0123456789", 10);
    is_int(r.status, 413, "a body over the route's limit: 413");
    j = th_resp_json(&r);
    is_str(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
           "payload_too_large", "413 in the JSON error format");
    json_decref(j);
    th_resp_free(&r);
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    th_http(&r, "GET", url, chunked, "0123456789", 10);
    is_int(r.status, 413, "a chunked body over the limit: 413 too");
    th_resp_free(&r);

    th_get(&r, &svc, "/metrics");
    is_int(r.status, 200, "/metrics 200");
    ok(strstr(r.body, "sl_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} ") !=
           NULL,
       "HTTP requests counted by route and status");
    ct = th_resp_header(&r, "Content-Type");
    ok(ct && strncmp(ct, "text/plain", 10) == 0, "Prometheus text format");
    free(ct);
    th_resp_free(&r);

    ok(th_service_log_wait(&svc, "\"request_id\":\"trace-abc.123\"", 2000) &&
           th_service_log_contains(&svc, "\"event\":\"http_request\""),
       "one JSON access-log line per request, with the request id");
    char *log = th_service_log(&svc);
    bool all_json = true;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        if (!json_is_object(o))
            all_json = false, diag("not JSON: %s", line);
        json_decref(o);
    }
    ok(all_json, "every log line is a JSON object");
    free(log);

    is_int(th_service_stop(&svc, SIGTERM, 15), 0, "SIGTERM: exit 0");
    ok(th_service_log_contains(&svc, "\"event\":\"stopped\""), "logs that it stopped");
    free(id1);
    free(id2);
    th_db_drop(&db);
    return done_testing();
}
