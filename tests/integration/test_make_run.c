/* `make run` (tests/lib/run.sh): the service on its embedded defaults with the
 * Lever simulator; /health within 15 s, /ready, Ctrl-C exits 0 and leaves no
 * PostgreSQL and no simulator running. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

int main(void)
{
    char dir[256], data[300], log[320], data_env[320];
    th_tempdir(dir, sizeof(dir));
    snprintf(data, sizeof(data), "%s/var", dir);
    snprintf(log, sizeof(log), "%s/run.log", dir);
    snprintf(data_env, sizeof(data_env), "SL_DATA_DIR=%s", data);
    const char *sim = getenv("SL_TEST_SIM") ? getenv("SL_TEST_SIM") : "build/lever-sim";
    char path_env[4200];
    snprintf(path_env, sizeof(path_env), "PATH=%s",
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    const char *env[] = {path_env, data_env, "SL_HTTP_ADDR=127.0.0.1:0", NULL};

    long long t0 = th_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setsid(); /* its own process group, like a terminal's foreground job */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[] = {"sh", "tests/lib/run.sh", (char *)th_bin(), (char *)sim, NULL};
        execve("/bin/sh", argv, (char *const *)env);
        _exit(127);
    }
    struct th_service svc = {.pid = pid};
    snprintf(svc.log_path, sizeof(svc.log_path), "%s", log);
    int port = 0;
    while (!port && th_now_ms() - t0 < 60000) {
        char *text = th_service_log(&svc);
        char *at = strstr(text, "\"event\":\"listening\"");
        char *p = at ? strstr(at, "\"port\":") : NULL;
        if (p)
            port = atoi(p + 7);
        free(text);
        usleep(20 * 1000);
    }
    if (!ok(port > 0, "the service listens")) {
        char *text = th_service_log(&svc);
        diag("run.sh output:\n%s", text);
        free(text);
    }
    snprintf(svc.base_url, sizeof(svc.base_url), "http://127.0.0.1:%d", port);
    ok(th_wait_status(&svc, "/health", 200, 15000), "/health 200 %lld ms after start",
       th_now_ms() - t0);
    ok(th_wait_status(&svc, "/ready", 200, 15000), "/ready 200");
    ok(th_service_log_contains(&svc, "Lever simulator runs at"),
       "without Lever credentials it points the service at the simulator");
    pid_t sim_pid = 0;
    is_int(th_processes("lever-sim", pid, &sim_pid), 1, "the simulator runs");
    ok(th_processes(data, 0, NULL) > 0, "a PostgreSQL runs from the data directory");

    kill(-pid, SIGINT); /* Ctrl-C reaches the whole foreground group */
    int status = -1;
    long long deadline = th_now_ms() + 30000;
    while (th_now_ms() < deadline && waitpid(pid, &status, WNOHANG) != pid)
        usleep(20 * 1000);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "Ctrl-C: exit 0 (status %d)", status);
    ok(th_service_log_contains(&svc, "\"event\":\"stopped\""), "the service stopped cleanly");
    deadline = th_now_ms() + 5000;
    while (th_now_ms() < deadline && th_processes(data, 0, NULL) > 0)
        usleep(50 * 1000);
    is_int(th_processes(data, 0, NULL), 0, "no PostgreSQL left running from the data directory");
    ok(sim_pid > 0 && kill(sim_pid, 0) != 0, "the simulator was stopped");
    if (sim_pid > 0)
        kill(sim_pid, SIGKILL);
    return done_testing();
}
