/* Unit tests of server/event.c: the webhook event schema. */
#include <string.h>

#include "event.h"
#include "tap.h"

static enum sl_rc parse(const char *body, char *msg, size_t n)
{
    struct sl_event ev;
    struct sl_err err = {0};
    enum sl_rc rc = sl_event_parse(body, strlen(body), &ev, &err);
    if (!rc)
        sl_event_cleanup(&ev);
    snprintf(msg, n, "%s", err.msg);
    return rc;
}

#define CAND(extra)                                                                                \
    "{\"type\":\"application.created\",\"data\":{\"team_id\":\"t1\",\"application\":{\"id\":"      \
    "\"a1\",\"job_id\":\"j1\",\"status\":\"applied\"},\"candidate\":{\"id\":\"c1\","               \
    "\"first_name\":\"Ada\"" extra "}}}"

int main(void)
{
    char msg[256];
    struct sl_event ev;
    struct sl_err err;
    const char *good = CAND("");
    ok(sl_event_parse(good, strlen(good), &ev, &err) == SL_OK, "minimal created event");
    ok(ev.type == SL_EVENT_CREATED && strcmp(ev.team_id, "t1") == 0 &&
           strcmp(ev.application_id, "a1") == 0,
       "type and ids read");
    sl_event_cleanup(&ev);

    const char *deleted = "{\"type\":\"application.deleted\",\"data\":{\"team_id\":\"t1\","
                          "\"application\":{\"id\":\"a1\"}}}";
    ok(parse(deleted, msg, sizeof(msg)) == SL_OK, "deleted needs only ids");
    ok(parse("{\"type\":\"other.thing\"}", msg, sizeof(msg)) == SL_OK,
       "unknown type needs only type");

    is_int(parse("{", msg, sizeof(msg)), SL_ERR_BAD_REQUEST, "truncated JSON is 400");
    is_int(parse("", msg, sizeof(msg)), SL_ERR_BAD_REQUEST, "empty body is 400");
    is_int(parse("{\"type\":\"x\\u0000\"}", msg, sizeof(msg)), SL_ERR_BAD_REQUEST,
           "escaped NUL is refused like PostgreSQL does");
    is_int(parse("null", msg, sizeof(msg)), SL_ERR_INVALID, "null is 422");
    is_int(parse("42", msg, sizeof(msg)), SL_ERR_INVALID, "a number is 422");

    struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "type"},
        {"{\"type\":1}", "type"},
        {"{\"type\":\"  \"}", "type"},
        {"{\"type\":\"x\",\"created_at\":\"2026-13-01T00:00:00Z\"}", "created_at"},
        {"{\"type\":\"x\",\"created_at\":\"2026-12-04 15:19\"}", "created_at"},
        {"{\"type\":\"application.deleted\",\"data\":[]}", "data"},
        {"{\"type\":\"application.deleted\",\"data\":{\"team_id\":\"\",\"application\":{}}}",
         "data.team_id"},
        {"{\"type\":\"application.deleted\",\"data\":{\"team_id\":\"t1\"}}", "data.application"},
        {"{\"type\":\"application.deleted\",\"data\":{\"team_id\":\"t1\",\"application\":{}}}",
         "data.application.id"},
        {CAND(",\"phone\":5"), "data.candidate.phone"},
        {CAND(",\"years_of_experience\":\"7\""), "data.candidate.years_of_experience"},
        {CAND(",\"contract_types\":\"permanent\""), "data.candidate.contract_types"},
        {CAND(",\"salary_expectation\":{\"min\":\"60k\"}"),
         "data.candidate.salary_expectation.min"},
        {CAND(",\"salary_expectation\":[1]"), "data.candidate.salary_expectation"},
        {CAND(",\"linkedin_url\":{}"), "data.candidate.linkedin_url"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sl_rc rc = parse(bad[i].body, msg, sizeof(msg));
        ok(rc == SL_ERR_INVALID && strstr(msg, bad[i].field) == msg, "refused naming %s: %s",
           bad[i].field, msg);
    }

    ok(parse(CAND(",\"first_name\":null,\"last_name\":\"L\""), msg, sizeof(msg)) == SL_OK,
       "last name alone is enough");
    ok(parse(CAND(",\"years_of_experience\":2.5,\"skills\":[]"), msg, sizeof(msg)) == SL_OK,
       "fractional years, empty list");

    const char *times[] = {"2026-12-04T15:19:56Z", "2026-12-04T15:19:56.123456Z",
                           "2026-12-04T15:19:56+01:00", "2026-12-04t15:19:56z"};
    for (size_t i = 0; i < 4; i++)
        ok(sl_rfc3339_valid(times[i]), "valid time %s", times[i]);
    const char *bad_times[] = {"2026-12-04",
                               "2026-12-04T25:00:00Z",
                               "2026-12-04T15:19:56",
                               "2026-12-04T15:19:56+0100",
                               "2026-12-04T15:19:56.Z",
                               ""};
    for (size_t i = 0; i < 6; i++)
        ok(!sl_rfc3339_valid(bad_times[i]), "invalid time '%s'", bad_times[i]);
    return done_testing();
}
