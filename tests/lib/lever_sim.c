/*
 * lever_sim.c: the Lever simulator (build/lever-sim), a stand-in for auth.lever.co and
 * api.lever.co that `make run` starts so that a newcomer can click through the whole flow
 * without a Lever partner account.
 *
 * It runs the integration tests' fake Lever (fake_lever.c) in interactive mode, with the
 * simulator's own <base URL>/v1/ as the expected `audience` (tests/lib/run.sh sets
 * SL_LEVER_AUDIENCE to it) unless --audience says otherwise. A valid
 * GET /authorize shows a consent page ("Stakha wants to access your Lever account") whose
 * Approve and Deny buttons post to /authorize/decision, which redirects back to the service
 * like Lever does. It is seeded with one account (acct_1, super admin "Ada Admin") and a few
 * postings in every state Stakha cares about. Every request is traced on stderr.
 *
 * Once listening it prints exactly one line on stdout, "lever-sim listening on <base URL>",
 * for scripts to read; it exits 0 on SIGINT or SIGTERM.
 *
 * Threads: main parses arguments, starts the fake and waits for a signal; the fake answers
 * on libmicrohttpd's threads, which inherit the blocked signal mask.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_lever.h"

#define DEFAULT_ADDR "127.0.0.1:0"
#define DEFAULT_CLIENT_ID "stakha-local"
#define DEFAULT_CLIENT_SECRET "stakha-local-secret"
#define DEFAULT_REDIRECT_URI "http://localhost:8080/oauth/lever/callback"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lever-sim [--addr HOST:PORT] [--client-id ID --client-secret SECRET "
            "--redirect-uri URI]\n"
            "                 [--audience AUDIENCE] [--quiet] [--help]\n"
            "\n"
            "A local stand-in for Lever's OAuth server and Data API, with a consent page.\n"
            "Point the service at it with SL_LEVER_AUTH_URL=<base URL> and\n"
            "SL_LEVER_API_URL=<base URL>/v1.\n"
            "\n"
            "  --addr HOST:PORT      where to listen (default %s; port 0 picks one)\n"
            "  --client-id ID        the OAuth client the service uses (default %s)\n"
            "  --client-secret S     its secret (default: the development secret)\n"
            "  --redirect-uri URI    its one registered callback (default %s)\n"
            "  --audience AUDIENCE   the audience /authorize demands (default <base URL>/v1/,\n"
            "                        as `make run` sets SL_LEVER_AUDIENCE)\n"
            "  --quiet               do not trace requests on stderr\n"
            "\n"
            "Prints \"lever-sim listening on <base URL>\" when ready; SIGINT or SIGTERM stop it.\n",
            DEFAULT_ADDR, DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI);
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used. */
static int option(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "lever-sim: %s needs a value\n", name);
        exit(2);
    }
    *out = argv[++*i];
    return 1;
}

static void seed(struct fake_lever *f)
{
    const char *acct = "acct_1";
    fake_lever_add_user(f, acct, "Grace Recruiter", "grace@example.com", "team member", false);
    fake_lever_add_posting(f, acct, NULL, "Backend Engineer (C)", "published", "public",
                           "Engineering", "Berlin");
    fake_lever_add_posting(f, acct, NULL, "Product Designer", "published", "public", "Design",
                           "Paris");
    fake_lever_add_posting(f, acct, NULL, "Site Reliability Engineer", "published",
                           "public,internal", "Engineering", "Remote");
    fake_lever_add_posting(f, acct, NULL, "Internal Tools Lead", "published", "internal",
                           "Engineering", "Berlin");
    fake_lever_add_posting(f, acct, NULL, "Founding Researcher", "internal", "", "Research",
                           "Lisbon");
    fake_lever_add_posting(f, acct, NULL, "Account Executive", "closed", "public", "Sales",
                           "New York");
    fake_lever_add_posting(f, acct, NULL, "Data Scientist", "draft", "", "Data", "Remote");
}

int main(int argc, char **argv)
{
    const char *addr = DEFAULT_ADDR, *client_id = DEFAULT_CLIENT_ID,
               *client_secret = DEFAULT_CLIENT_SECRET, *redirect_uri = DEFAULT_REDIRECT_URI,
               *audience = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (option(argc, argv, &i, "--addr", &addr) ||
            option(argc, argv, &i, "--client-id", &client_id) ||
            option(argc, argv, &i, "--client-secret", &client_secret) ||
            option(argc, argv, &i, "--redirect-uri", &redirect_uri) ||
            option(argc, argv, &i, "--audience", &audience))
            continue;
        fprintf(stderr, "lever-sim: unknown argument %s\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (!*client_id || !*client_secret || !*redirect_uri || (audience && !*audience)) {
        fprintf(stderr, "lever-sim: --client-id, --client-secret, --redirect-uri and "
                        "--audience must not be empty\n");
        return 2;
    }

    /* Block the stop signals before any thread exists, so that only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct fake_lever *f = fake_lever_start_at(addr);
    if (!f) {
        fprintf(stderr, "lever-sim: cannot listen on %s\n", addr);
        return 1;
    }
    fake_lever_add_client(f, client_id, client_secret, redirect_uri);
    char own_audience[160];
    snprintf(own_audience, sizeof(own_audience), "%s/v1/", fake_lever_base_url(f));
    fake_lever_set_audience(f, audience ? audience : own_audience);
    fake_lever_set_interactive(f, true);
    if (!quiet)
        fake_lever_set_trace(f, stderr);
    seed(f);

    printf("lever-sim listening on %s\n", fake_lever_base_url(f));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    if (!quiet)
        fprintf(stderr, "lever-sim: signal %d, stopping\n", sig);
    fake_lever_stop(f);
    return 0;
}
