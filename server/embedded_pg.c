/*
 * embedded_pg.c: a private PostgreSQL cluster for `serve` without
 * DATABASE_URL.
 *
 * Design: initdb once into <data_dir>/pg, then exec the postmaster directly
 * (not pg_ctl) as our child, in its own process group so that a Ctrl-C at
 * the terminal reaches only the service, which drains its requests first
 * and then stops the cluster. The child asks the kernel for SIGINT when its
 * parent dies (PR_SET_PDEATHSIG), so even a crashed or killed service leaves
 * no cluster behind. A postmaster.pid left by a machine crash names a
 * process that is gone (or is not a postgres); it is removed before start.
 * Output of initdb and postgres goes to <data_dir>/postgres.log.
 *
 * Threads: main thread only (see embedded_pg.h).
 */
#include "embedded_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PG_PORT "5432"
#define DB_NAME "stakha_lever"

struct sl_embedded_pg {
    pid_t pid;
    char dir[160]; /* the cluster: <data_dir>/pg (bounded by the socket path) */
    char log[192];
    char conninfo[320];
};

/* The newest installed server's bin directory, or "" to search PATH. */
static void find_bindir(char *out, size_t n)
{
    out[0] = '\0';
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0) {
        /* glob sorts; versions 10.. sort right as long as they have two digits. */
        const char *last = g.gl_pathv[g.gl_pathc - 1];
        size_t len = strlen(last) - strlen("/postgres");
        if (len < n) {
            memcpy(out, last, len);
            out[len] = '\0';
        }
        globfree(&g);
    }
}

struct runas {
    bool drop;
    uid_t uid;
    gid_t gid;
};

static enum sl_rc who_runs_postgres(struct runas *ra, struct sl_err *err)
{
    ra->drop = geteuid() == 0;
    if (!ra->drop)
        return SL_OK;
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        return sl_err_set(err, SL_ERR_CONFIG,
                          "embedded PostgreSQL: running as root needs a 'postgres' system user "
                          "(apt-get install postgresql), or set DATABASE_URL");
    ra->uid = pw->pw_uid;
    ra->gid = pw->pw_gid;
    return SL_OK;
}

/* In the child: become postgres, send output to the log, die with the parent. */
static void child_setup(const struct runas *ra, const char *log, pid_t parent, bool die_with_parent)
{
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (ra->drop && (setgroups(0, NULL) || setgid(ra->gid) || setuid(ra->uid)))
        _exit(126);
    if (die_with_parent) {
        prctl(PR_SET_PDEATHSIG, SIGINT); /* after setuid, which clears it */
        if (getppid() != parent)
            _exit(0);
    }
    int devnull = open("/dev/null", O_RDONLY);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (devnull >= 0)
        dup2(devnull, 0);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
}

static void exec_tool(const char *bindir, const char *tool, char *const argv[])
{
    char path[PATH_MAX + 64];
    if (bindir[0]) {
        snprintf(path, sizeof(path), "%s/%s", bindir, tool);
        execv(path, argv);
    } else {
        execvp(tool, argv);
    }
    _exit(127);
}

static enum sl_rc run_initdb(struct sl_embedded_pg *pg, const char *bindir, const struct runas *ra,
                             struct sl_err *err)
{
    sl_log(SL_LOG_INFO, "embedded_pg", "creating a PostgreSQL cluster in %s", pg->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return sl_err_set(err, SL_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup(ra, pg->log, parent, false);
        char *argv[] = {"initdb", "-D", pg->dir, "-U",         "postgres", "-A",
                        "trust",  "-E", "UTF8",  "--locale=C", NULL};
        exec_tool(bindir, "initdb", argv);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return sl_err_set(err, SL_ERR_IO, "initdb failed (status %d); see %s",
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1, pg->log);
    return SL_OK;
}

/* A postmaster.pid whose process is gone, or is not a postgres, is stale. */
static void remove_stale_pidfile(const char *dir)
{
    char path[256], comm_path[64], comm[64] = "";
    snprintf(path, sizeof(path), "%.160s/postmaster.pid", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long pid = 0;
    char line[32];
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!sl_parse_long(line, 1, INT_MAX, &pid))
            pid = 0;
    }
    fclose(f);
    if (pid > 0) {
        snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
        FILE *c = fopen(comm_path, "r");
        if (c) {
            if (!fgets(comm, sizeof(comm), c))
                comm[0] = '\0';
            fclose(c);
        }
        if (strncmp(comm, "postgres", 8) == 0)
            return; /* a live postgres: let it refuse, with its own message */
    }
    sl_log(SL_LOG_WARN, "embedded_pg", "removing stale postmaster.pid (process %ld is gone)", pid);
    unlink(path);
}

static enum sl_rc ensure_database(struct sl_embedded_pg *pg, struct sl_err *err)
{
    char conninfo[PATH_MAX + 128];
    snprintf(conninfo, sizeof(conninfo), "host=%s port=" PG_PORT " dbname=postgres user=postgres",
             pg->dir);
    PGconn *c = PQconnectdb(conninfo);
    enum sl_rc rc = SL_OK;
    if (PQstatus(c) != CONNECTION_OK) {
        rc = sl_err_set(err, SL_ERR_DB, "embedded PostgreSQL: %s", PQerrorMessage(c));
        goto out;
    }
    PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = '" DB_NAME "'");
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!exists) {
        r = PQexec(c, "CREATE DATABASE " DB_NAME);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = sl_err_set(err, SL_ERR_DB, "embedded PostgreSQL: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
out:
    PQfinish(c);
    return rc;
}

enum sl_rc sl_embedded_pg_start(const char *data_dir, struct sl_embedded_pg **out,
                                struct sl_err *err)
{
    enum sl_rc rc;
    struct runas ra;
    struct sl_embedded_pg *pg = sl_xcalloc(1, sizeof(*pg));
    pg->pid = -1;
    char base[PATH_MAX];
    if ((rc = who_runs_postgres(&ra, err)))
        goto out;
    if (mkdir(data_dir, 0755) && errno != EEXIST) {
        rc = sl_err_set(err, SL_ERR_IO, "SL_DATA_DIR: cannot create %s: %s", data_dir,
                        strerror(errno));
        goto out;
    }
    if (!realpath(data_dir, base)) {
        rc = sl_err_set(err, SL_ERR_IO, "SL_DATA_DIR: %s: %s", data_dir, strerror(errno));
        goto out;
    }
    /* sun_path holds 107 bytes: <data_dir>/pg/.s.PGSQL.5432 must fit. */
    if (strlen(base) + strlen("/pg/.s.PGSQL." PG_PORT) > 107) {
        rc = sl_err_set(err, SL_ERR_CONFIG,
                        "SL_DATA_DIR: %s is too long a path for PostgreSQL's Unix socket "
                        "(at most 90 characters)",
                        base);
        goto out;
    }
    snprintf(pg->dir, sizeof(pg->dir), "%.100s/pg", base);
    snprintf(pg->log, sizeof(pg->log), "%.100s/postgres.log", base);
    if (mkdir(pg->dir, 0700) && errno != EEXIST) {
        rc = sl_err_set(err, SL_ERR_IO, "cannot create %s: %s", pg->dir, strerror(errno));
        goto out;
    }
    if (ra.drop) {
        int fd = open(pg->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            close(fd);
        if (chown(pg->dir, ra.uid, ra.gid) || chown(pg->log, ra.uid, ra.gid)) {
            rc = sl_err_set(err, SL_ERR_IO, "cannot hand %s to the postgres user: %s", pg->dir,
                            strerror(errno));
            goto out;
        }
    }
    char bindir[PATH_MAX], version_file[256];
    find_bindir(bindir, sizeof(bindir));
    snprintf(version_file, sizeof(version_file), "%.160s/PG_VERSION", pg->dir);
    if (access(version_file, F_OK) != 0 && (rc = run_initdb(pg, bindir, &ra, err)))
        goto out;
    remove_stale_pidfile(pg->dir);

    pid_t parent = getpid();
    pg->pid = fork();
    if (pg->pid < 0) {
        rc = sl_err_set(err, SL_ERR_IO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pg->pid == 0) {
        child_setup(&ra, pg->log, parent, true);
        char sockdir[256];
        snprintf(sockdir, sizeof(sockdir), "unix_socket_directories=%.160s", pg->dir);
        char *argv[] = {"postgres",          "-D", pg->dir, "-p", PG_PORT, "-c",
                        "listen_addresses=", "-c", sockdir, NULL};
        exec_tool(bindir, "postgres", argv);
    }
    snprintf(pg->conninfo, sizeof(pg->conninfo),
             "host=%.160s port=" PG_PORT " dbname=" DB_NAME " user=postgres", pg->dir);
    char ping[320];
    snprintf(ping, sizeof(ping), "host=%.160s port=" PG_PORT " dbname=postgres user=postgres",
             pg->dir);
    int64_t deadline = sl_mono_ns() + 60LL * 1000000000;
    for (;;) {
        if (PQping(ping) == PQPING_OK)
            break;
        int status;
        if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
            pg->pid = -1;
            rc = sl_err_set(err, SL_ERR_IO, "embedded PostgreSQL exited during start-up; see %s",
                            pg->log);
            goto out;
        }
        if (sl_mono_ns() > deadline) {
            rc = sl_err_set(err, SL_ERR_IO, "embedded PostgreSQL did not start in 60 s; see %s",
                            pg->log);
            goto out;
        }
        usleep(50 * 1000);
    }
    if ((rc = ensure_database(pg, err)))
        goto out;
    sl_log(SL_LOG_INFO, "embedded_pg", "PostgreSQL running on socket %s (pid %d, log %s)", pg->dir,
           (int)pg->pid, pg->log);
out:
    if (rc) {
        sl_embedded_pg_stop(pg);
        return rc;
    }
    *out = pg;
    return SL_OK;
}

const char *sl_embedded_pg_conninfo(const struct sl_embedded_pg *pg)
{
    return pg->conninfo;
}

void sl_embedded_pg_stop(struct sl_embedded_pg *pg)
{
    if (!pg)
        return;
    if (pg->pid > 0) {
        /* SIGINT: fast shutdown; escalate if it does not finish. */
        const int signals[] = {SIGINT, SIGQUIT, SIGKILL};
        const int waits_ms[] = {30000, 5000, 5000};
        bool gone = false;
        for (int s = 0; s < 3 && !gone; s++) {
            kill(pg->pid, signals[s]);
            for (int waited = 0; waited < waits_ms[s]; waited += 20) {
                if (waitpid(pg->pid, NULL, WNOHANG) == pg->pid) {
                    gone = true;
                    break;
                }
                usleep(20 * 1000);
            }
        }
        sl_log(SL_LOG_INFO, "embedded_pg", "PostgreSQL stopped");
    }
    free(pg);
}
