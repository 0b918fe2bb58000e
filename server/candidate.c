/*
 * candidate.c: the mapping of a Stakha candidate to a Lever opportunity and
 * note (SPEC 6, and the details of SPEC 9).
 *
 * Design: every string goes through one cleaner (line breaks become spaces,
 * surrounding white space is trimmed, blank means unknown), so "left out
 * when unknown, null, empty or only spaces" holds for every field by
 * construction. Numbers are printed as given: integers exactly, reals in
 * the shortest form that reads back as the same double (7, 2.5, 60000.5).
 * The body is built in SPEC 6's field order; jansson keeps insertion order,
 * which makes request logs easy to compare with the SPEC.
 *
 * Threads: any; pure functions, no shared state.
 */
#include "candidate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rc.h"
#include "util.h"

/* Line breaks (CR LF, CR, LF) become one space each; then trimmed. NULL when blank. */
static char *clean(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *out = sl_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            out[k++] = ' ';
            if (s[i + 1] == '\n')
                i++;
        } else if (s[i] == '\n') {
            out[k++] = ' ';
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    size_t b = 0;
    while (b < k && isspace((unsigned char)out[b]))
        b++;
    while (k > b && isspace((unsigned char)out[k - 1]))
        k--;
    if (k == b) {
        free(out);
        return NULL;
    }
    memmove(out, out + b, k - b);
    out[k - b] = '\0';
    return out;
}

char *sl_candidate_field(const json_t *candidate, const char *key)
{
    const json_t *v = json_is_object(candidate) ? json_object_get(candidate, key) : NULL;
    return json_is_string(v) ? clean(json_string_value(v)) : NULL;
}

/* A JSON number as given: integers exactly, reals in the shortest round-trip form. */
static void format_number(const json_t *v, char out[64])
{
    if (json_is_integer(v)) {
        snprintf(out, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 64, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

char *sl_candidate_name(const json_t *candidate)
{
    char *first = sl_candidate_field(candidate, "first_name");
    char *last = sl_candidate_field(candidate, "last_name");
    char *name = NULL;
    if (first && last) {
        struct sl_buf b;
        sl_buf_init(&b);
        sl_buf_printf(&b, "%s %s", first, last);
        name = sl_buf_take(&b);
    } else if (first || last) {
        name = sl_xstrdup(first ? first : last);
    }
    free(first);
    free(last);
    return name;
}

/* Sets `key` to the string `value_take` (freed here), or leaves it out when NULL. */
static void set_string(json_t *obj, const char *key, char *value_take)
{
    if (!value_take)
        return;
    json_object_set_new(obj, key, json_string(value_take));
    free(value_take);
}

/* Sets `key` to ["<value>"] when `value` is not NULL. */
static void set_single(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_pack("[s]", value));
}

json_t *sl_candidate_opportunity(const json_t *candidate, const char *posting_id,
                                 const char *stage_id)
{
    json_t *body = json_object();
    SL_ASSERT(body);
    set_string(body, "name", sl_candidate_name(candidate));

    char *email = sl_candidate_field(candidate, "email");
    set_single(body, "emails", email);
    free(email);

    char *phone = sl_candidate_field(candidate, "phone");
    if (phone)
        json_object_set_new(body, "phones",
                            json_pack("[{s:s, s:s}]", "value", phone, "type", "mobile"));
    free(phone);

    set_string(body, "location", sl_candidate_field(candidate, "location"));

    static const char *const link_keys[] = {"resume_url", "profile_url", "github_url",
                                            "twitter_url", "linkedin_url"};
    json_t *links = json_array();
    for (size_t i = 0; i < sizeof(link_keys) / sizeof(link_keys[0]); i++) {
        char *link = sl_candidate_field(candidate, link_keys[i]);
        if (link)
            json_array_append_new(links, json_string(link));
        free(link);
    }
    if (json_array_size(links))
        json_object_set_new(body, "links", links);
    else
        json_decref(links);

    set_single(body, "tags", SL_CANDIDATE_TAG);
    set_single(body, "sources", SL_CANDIDATE_SOURCE);
    json_object_set_new(body, "origin", json_string(SL_CANDIDATE_ORIGIN));
    if (stage_id && !sl_blank(stage_id))
        json_object_set_new(body, "stage", json_string(stage_id));
    if (posting_id && !sl_blank(posting_id))
        set_single(body, "postings", posting_id);
    return body;
}

/* "a, b, c" of the known strings of the array `key`; NULL when none. Caller owns. */
static char *joined_list(const json_t *candidate, const char *key)
{
    const json_t *arr = json_is_object(candidate) ? json_object_get(candidate, key) : NULL;
    struct sl_buf b;
    sl_buf_init(&b);
    size_t i;
    const json_t *v;
    bool any = false;
    json_array_foreach(arr, i, v)
    {
        char *item = json_is_string(v) ? clean(json_string_value(v)) : NULL;
        if (!item)
            continue;
        sl_buf_printf(&b, "%s%s", any ? ", " : "", item);
        any = true;
        free(item);
    }
    if (!any) {
        sl_buf_cleanup(&b);
        return NULL;
    }
    return sl_buf_take(&b);
}

/* "60000-70000 EUR per year", "from 60000 EUR", "up to 70000 per year", ...; NULL
 * without min and max. Caller owns. */
static char *salary_text(const json_t *candidate)
{
    const json_t *s =
        json_is_object(candidate) ? json_object_get(candidate, "salary_expectation") : NULL;
    if (!json_is_object(s))
        return NULL;
    const json_t *min = json_object_get(s, "min"), *max = json_object_get(s, "max");
    bool has_min = json_is_number(min), has_max = json_is_number(max);
    if (!has_min && !has_max)
        return NULL;
    char lo[64], hi[64];
    if (has_min)
        format_number(min, lo);
    if (has_max)
        format_number(max, hi);
    struct sl_buf b;
    sl_buf_init(&b);
    if (has_min && has_max)
        sl_buf_printf(&b, "%s-%s", lo, hi);
    else if (has_min)
        sl_buf_printf(&b, "from %s", lo);
    else
        sl_buf_printf(&b, "up to %s", hi);
    char *currency = sl_candidate_field(s, "currency");
    char *period = sl_candidate_field(s, "period");
    if (currency)
        sl_buf_printf(&b, " %s", currency);
    if (period)
        sl_buf_printf(&b, " per %s", period);
    free(currency);
    free(period);
    return sl_buf_take(&b);
}

/* Appends "\n<label>: <value_take>" when the value is known; frees it. */
static void line(struct sl_buf *b, const char *label, char *value_take)
{
    if (!value_take)
        return;
    sl_buf_printf(b, "\n%s: %s", label, value_take);
    free(value_take);
}

char *sl_candidate_note(const json_t *candidate)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, SL_CANDIDATE_TAG);
    line(&b, "Summary", sl_candidate_field(candidate, "summary"));
    line(&b, "Salary expectation", salary_text(candidate));
    line(&b, "Availability", sl_candidate_field(candidate, "availability"));
    const json_t *years =
        json_is_object(candidate) ? json_object_get(candidate, "years_of_experience") : NULL;
    if (json_is_number(years)) {
        char text[64];
        format_number(years, text);
        line(&b, "Years of experience", sl_xstrdup(text));
    }
    line(&b, "Accepted contracts", joined_list(candidate, "contract_types"));
    line(&b, "Technical skills", joined_list(candidate, "skills"));
    return sl_buf_take(&b);
}

bool sl_candidate_is_stakha_note(const char *value)
{
    if (!value)
        return false;
    size_t n = strlen(SL_CANDIDATE_TAG);
    if (strncmp(value, SL_CANDIDATE_TAG, n) != 0)
        return false;
    return value[n] == '\0' || value[n] == '\n' || value[n] == '\r';
}

bool sl_candidate_note_matches(const json_t *note)
{
    if (!json_is_object(note))
        return false;
    if (sl_candidate_is_stakha_note(json_string_value(json_object_get(note, "value"))))
        return true;
    size_t i;
    const json_t *field;
    json_array_foreach(json_object_get(note, "fields"), i, field)
    {
        if (sl_candidate_is_stakha_note(json_string_value(json_object_get(field, "value"))))
            return true;
    }
    return false;
}

static bool has_link(const json_t *opportunity, const char *link)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(opportunity, "links"), i, v)
    {
        char *have = json_is_string(v) ? clean(json_string_value(v)) : NULL;
        bool same = have && strcmp(have, link) == 0;
        free(have);
        if (same)
            return true;
    }
    return false;
}

int sl_candidate_find_opportunity(const json_t *candidate, const json_t *opportunities)
{
    char *profile = sl_candidate_field(candidate, "profile_url");
    char *name = profile ? NULL : sl_candidate_name(candidate);
    int found = -1;
    size_t i;
    const json_t *opp;
    json_array_foreach(opportunities, i, opp)
    {
        if (!json_is_object(opp))
            continue;
        bool match;
        if (profile) {
            match = has_link(opp, profile);
        } else {
            char *have = sl_candidate_field(opp, "name");
            match = name && have && strcasecmp(have, name) == 0;
            free(have);
        }
        if (match) {
            found = (int)i;
            break;
        }
    }
    free(profile);
    free(name);
    return found;
}
