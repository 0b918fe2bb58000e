/*
 * event.c: the schema of Stakha's webhook events.
 *
 * Required: type; for the three application types data.team_id and
 * data.application.id; for created/updated also application.job_id,
 * application.status, candidate.id and a first or last name. Every other
 * candidate field is optional and may be null, but when present it must
 * have its type: a number where a string belongs is refused, so that what
 * is pushed to Lever later cannot fail on it. Unknown fields are ignored;
 * unknown types only need a type.
 *
 * Threads: any.
 */
#include "event.h"

#include <ctype.h>
#include <string.h>

#include "util.h"

#define MAX_APP_ID 128

bool sl_rfc3339_valid(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    const char *shape = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++) {
        if (shape[i] == 'd'
                ? !isdigit((unsigned char)s[i])
                : !(s[i] == shape[i] || (shape[i] == 'T' && (s[i] == 't' || s[i] == ' '))))
            return false;
    }
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    int hour = (s[11] - '0') * 10 + (s[12] - '0'), min = (s[14] - '0') * 10 + (s[15] - '0');
    int sec = (s[17] - '0') * 10 + (s[18] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return false;
    const char *p = s + i;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    return (*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
           isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
           isdigit((unsigned char)p[5]) && p[6] == '\0';
}

static enum sl_rc need_object(json_t *parent, const char *key, const char *path, json_t **out,
                              struct sl_err *err)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return sl_err_set(err, SL_ERR_INVALID, "%s is required", path);
    if (!json_is_object(v))
        return sl_err_set(err, SL_ERR_INVALID, "%s must be an object", path);
    *out = v;
    return SL_OK;
}

static enum sl_rc need_string(json_t *parent, const char *key, const char *path, const char **out,
                              struct sl_err *err)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return sl_err_set(err, SL_ERR_INVALID, "%s is required", path);
    if (!json_is_string(v))
        return sl_err_set(err, SL_ERR_INVALID, "%s must be a string", path);
    if (sl_blank(json_string_value(v)))
        return sl_err_set(err, SL_ERR_INVALID, "%s must not be empty", path);
    *out = json_string_value(v);
    return SL_OK;
}

static enum sl_rc need_id(json_t *parent, const char *key, const char *path, const char **out,
                          struct sl_err *err)
{
    enum sl_rc rc = need_string(parent, key, path, out, err);
    if (!rc && !sl_valid_id(*out))
        rc = sl_err_set(err, SL_ERR_INVALID,
                        "%s must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -", path);
    return rc;
}

enum kind { STRING, NUMBER, OBJECT, STRING_ARRAY };

/* An optional field: absent or null is fine, otherwise it must be `kind`. */
static enum sl_rc optional(json_t *parent, const char *key, enum kind kind, const char *prefix,
                           struct sl_err *err)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return SL_OK;
    switch (kind) {
    case STRING:
        if (!json_is_string(v))
            return sl_err_set(err, SL_ERR_INVALID, "%s.%s must be a string or null", prefix, key);
        break;
    case NUMBER:
        if (!json_is_number(v))
            return sl_err_set(err, SL_ERR_INVALID, "%s.%s must be a number or null", prefix, key);
        break;
    case OBJECT:
        if (!json_is_object(v))
            return sl_err_set(err, SL_ERR_INVALID, "%s.%s must be an object or null", prefix, key);
        break;
    case STRING_ARRAY: {
        if (!json_is_array(v))
            return sl_err_set(err, SL_ERR_INVALID, "%s.%s must be an array of strings or null",
                              prefix, key);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item))
                return sl_err_set(err, SL_ERR_INVALID, "%s.%s[%zu] must be a string", prefix, key,
                                  i);
        }
        break;
    }
    }
    return SL_OK;
}

static enum sl_rc check_candidate(json_t *cand, struct sl_err *err)
{
    const char *id;
    enum sl_rc rc = need_string(cand, "id", "data.candidate.id", &id, err);
    if (rc)
        return rc;
    static const char *const strings[] = {
        "first_name",  "last_name",  "email",       "phone",        "location", "resume_url",
        "profile_url", "github_url", "twitter_url", "linkedin_url", "summary",  "availability",
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if ((rc = optional(cand, strings[i], STRING, "data.candidate", err)))
            return rc;
    if (sl_blank(json_string_value(json_object_get(cand, "first_name"))) &&
        sl_blank(json_string_value(json_object_get(cand, "last_name"))))
        return sl_err_set(err, SL_ERR_INVALID,
                          "data.candidate.first_name or data.candidate.last_name is required");
    if ((rc = optional(cand, "years_of_experience", NUMBER, "data.candidate", err)) ||
        (rc = optional(cand, "contract_types", STRING_ARRAY, "data.candidate", err)) ||
        (rc = optional(cand, "skills", STRING_ARRAY, "data.candidate", err)) ||
        (rc = optional(cand, "salary_expectation", OBJECT, "data.candidate", err)))
        return rc;
    json_t *salary = json_object_get(cand, "salary_expectation");
    if (json_is_object(salary)) {
        const char *p = "data.candidate.salary_expectation";
        if ((rc = optional(salary, "min", NUMBER, p, err)) ||
            (rc = optional(salary, "max", NUMBER, p, err)) ||
            (rc = optional(salary, "currency", STRING, p, err)) ||
            (rc = optional(salary, "period", STRING, p, err)))
            return rc;
    }
    return SL_OK;
}

static enum sl_rc check(struct sl_event *ev, struct sl_err *err)
{
    json_t *root = ev->root, *data, *app, *cand;
    enum sl_rc rc = need_string(root, "type", "type", &ev->type_name, err);
    if (rc)
        return rc;
    json_t *created_at = json_object_get(root, "created_at");
    if (created_at && !json_is_null(created_at) &&
        !(json_is_string(created_at) && sl_rfc3339_valid(json_string_value(created_at))))
        return sl_err_set(err, SL_ERR_INVALID,
                          "created_at must be an RFC 3339 time such as 2026-12-04T15:19:56Z");
    if (strcmp(ev->type_name, "application.created") == 0)
        ev->type = SL_EVENT_CREATED;
    else if (strcmp(ev->type_name, "application.updated") == 0)
        ev->type = SL_EVENT_UPDATED;
    else if (strcmp(ev->type_name, "application.deleted") == 0)
        ev->type = SL_EVENT_DELETED;
    else
        return SL_OK; /* unknown types are stored and otherwise ignored */

    if ((rc = need_object(root, "data", "data", &data, err)) ||
        (rc = need_id(data, "team_id", "data.team_id", &ev->team_id, err)) ||
        (rc = need_object(data, "application", "data.application", &app, err)) ||
        (rc = need_string(app, "id", "data.application.id", &ev->application_id, err)))
        return rc;
    if (strlen(ev->application_id) > MAX_APP_ID)
        return sl_err_set(err, SL_ERR_INVALID, "data.application.id must be at most %d characters",
                          MAX_APP_ID);
    if (ev->type == SL_EVENT_DELETED)
        return SL_OK;
    const char *job_id, *status;
    if ((rc = need_id(app, "job_id", "data.application.job_id", &job_id, err)) ||
        (rc = need_string(app, "status", "data.application.status", &status, err)) ||
        (rc = need_object(data, "candidate", "data.candidate", &cand, err)))
        return rc;
    json_t *app_created = json_object_get(app, "created_at");
    if (app_created && !json_is_null(app_created) &&
        !(json_is_string(app_created) && sl_rfc3339_valid(json_string_value(app_created))))
        return sl_err_set(err, SL_ERR_INVALID,
                          "data.application.created_at must be an RFC 3339 time or null");
    return check_candidate(cand, err);
}

enum sl_rc sl_event_parse(const char *body, size_t len, struct sl_event *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    /* Without JSON_ALLOW_NUL, an escaped NUL is refused, as PostgreSQL's jsonb refuses it. */
    out->root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!out->root)
        return sl_err_set(err, SL_ERR_BAD_REQUEST,
                          "body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                          jerr.column);
    enum sl_rc rc = json_is_object(out->root)
                        ? check(out, err)
                        : sl_err_set(err, SL_ERR_INVALID, "the event must be a JSON object");
    if (rc)
        sl_event_cleanup(out);
    return rc;
}

void sl_event_cleanup(struct sl_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}
