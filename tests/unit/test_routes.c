/* Unit tests of the router (server/http.c) and the route table (handlers/routes.c). */
#include <string.h>

#include "handlers.h"
#include "http.h"
#include "tap.h"

static void h(struct sl_req *req)
{
    (void)req;
}

static const struct sl_route table[] = {
    {"GET", "/health", h, 0, SL_AUTH_NONE},
    {"POST", "/api/v1/teams/{team_id}/lever/connect", h, 1024, SL_AUTH_API},
    {"GET", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", h, 0, SL_AUTH_API},
    {"PUT", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", h, 1024, SL_AUTH_API},
    {"DELETE", "/api/v1/teams/{team_id}/jobs/{job_id}/lever-sync", h, 0, SL_AUTH_API},
};
#define N (sizeof(table) / sizeof(table[0]))

int main(void)
{
    struct sl_route_match m;

    sl_route_match(table, N, "GET", "/health", &m);
    ok(m.status == 0 && m.index == 0 && m.nparams == 0, "static path matches");

    sl_route_match(table, N, "POST", "/api/v1/teams/team_8f2c/lever/connect", &m);
    ok(m.status == 0 && m.index == 1, "pattern matches");
    is_int(m.nparams, 1, "one param");
    is_str(m.params[0].name, "team_id", "param name");
    is_str(m.params[0].value, "team_8f2c", "param value");

    sl_route_match(table, N, "DELETE", "/api/v1/teams/t1/jobs/j-2/lever-sync", &m);
    ok(m.status == 0 && m.index == 4, "method picks among routes of one path");
    ok(m.nparams == 2 && strcmp(m.params[1].value, "j-2") == 0, "two params");

    sl_route_match(table, N, "POST", "/api/v1/teams/t1/jobs/j/lever-sync", &m);
    is_int(m.status, 405, "known path, wrong method: 405");
    ok(strstr(m.allow, "GET") && strstr(m.allow, "PUT") && strstr(m.allow, "DELETE"),
       "Allow lists the path's methods: %s", m.allow);

    const char *misses[] = {"/",
                            "/healthz",
                            "/health/",
                            "/health/x",
                            "/api/v1/teams//lever/connect",
                            "/api/v1/teams/t1/lever",
                            "/api/v1/teams/t1/lever/connect/extra",
                            ""};
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        sl_route_match(table, N, "GET", misses[i], &m);
        ok(m.status == 404 && m.route == NULL, "'%s' is 404", misses[i]);
    }
    char longseg[300] = "/api/v1/teams/";
    memset(longseg + strlen(longseg), 'a', 200);
    strcat(longseg, "/lever/connect");
    sl_route_match(table, N, "POST", longseg, &m);
    is_int(m.status, 404, "an oversized segment never matches a param");

    /* The real table: every route is reachable and no two collide. */
    for (size_t i = 0; i < sl_routes_count; i++) {
        char path[256];
        size_t k = 0;
        for (const char *p = sl_routes[i].pattern; *p && k < sizeof(path) - 8;) {
            if (*p == '{') {
                memcpy(path + k, "x1", 2);
                k += 2;
                p = strchr(p, '}') + 1;
            } else {
                path[k++] = *p++;
            }
        }
        path[k] = '\0';
        sl_route_match(sl_routes, sl_routes_count, sl_routes[i].method, path, &m);
        ok(m.status == 0 && m.index == (int)i, "route %s %s reachable", sl_routes[i].method,
           sl_routes[i].pattern);
    }
    return done_testing();
}
