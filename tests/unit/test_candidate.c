/* Unit tests of server/candidate.c: SPEC 6 and 9, field by field and line by line. */
#include <stdlib.h>
#include <string.h>

#include "candidate.h"
#include "tap.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        BAIL_OUT("bad test JSON: %s", e.text);
    return j;
}

/* The SPEC 5 example candidate. */
static const char FULL[] =
    "{\"id\": \"cand_77\", \"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
    " \"email\": \"ada@example.com\", \"phone\": \"+44 20 7946 0000\","
    " \"location\": \"London, United Kingdom\","
    " \"resume_url\": \"https://api.recruitcrm.io/v1/files/cand_77/resume.pdf\","
    " \"profile_url\": \"https://app.stakha.io/candidates/cand_77\","
    " \"github_url\": \"https://github.com/ada\", \"twitter_url\": null,"
    " \"linkedin_url\": \"https://www.linkedin.com/in/ada\","
    " \"summary\": \"Systems engineer with a taste for analytical engines.\","
    " \"salary_expectation\": {\"min\": 60000, \"max\": 70000, \"currency\": \"EUR\","
    "                          \"period\": \"year\"},"
    " \"availability\": \"2 weeks notice\", \"years_of_experience\": 7,"
    " \"contract_types\": [\"permanent\", \"freelance\"], \"skills\": [\"C\", \"PostgreSQL\"]}";

static void note_is(const char *candidate_json, const char *want, const char *name)
{
    json_t *c = parse(candidate_json);
    char *note = sl_candidate_note(c);
    is_str(note, want, "%s", name);
    free(note);
    json_decref(c);
}

/* The one line of the note that starts with `label`, or NULL. Caller frees. */
static char *note_line(const char *candidate_json, const char *label)
{
    json_t *c = parse(candidate_json);
    char *note = sl_candidate_note(c);
    json_decref(c);
    char *found = NULL;
    for (char *line = note; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, label, strlen(label)) == 0) {
            found = strndup(line, len);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(note);
    return found;
}

static void salary_is(const char *salary_json, const char *want, const char *name)
{
    char text[512];
    snprintf(text, sizeof(text), "{\"first_name\": \"A\", \"salary_expectation\": %s}",
             salary_json);
    char *line = note_line(text, "Salary expectation: ");
    is_str(line, want, "salary: %s", name);
    free(line);
}

int main(void)
{
    /* ---- the full candidate: the body, field by field ---- */
    json_t *full = parse(FULL);
    json_t *body = sl_candidate_opportunity(full, "posting_1", "lead-new");
    is_str(json_string_value(json_object_get(body, "name")), "Ada Lovelace", "name: first last");
    json_t *emails = json_object_get(body, "emails");
    ok(json_array_size(emails) == 1 &&
           strcmp(json_string_value(json_array_get(emails, 0)), "ada@example.com") == 0,
       "emails: [email]");
    json_t *phones = json_object_get(body, "phones");
    ok(json_array_size(phones) == 1, "phones: one");
    json_t *phone = json_array_get(phones, 0);
    is_str(json_string_value(json_object_get(phone, "value")), "+44 20 7946 0000", "phone value");
    is_str(json_string_value(json_object_get(phone, "type")), "mobile", "phone type mobile");
    is_int(json_object_size(phone), 2, "phone has value and type only");
    is_str(json_string_value(json_object_get(body, "location")), "London, United Kingdom",
           "location");
    json_t *links = json_object_get(body, "links");
    is_int(json_array_size(links), 4, "links: the four known (twitter is null)");
    const char *want_links[] = {"https://api.recruitcrm.io/v1/files/cand_77/resume.pdf",
                                "https://app.stakha.io/candidates/cand_77",
                                "https://github.com/ada", "https://www.linkedin.com/in/ada"};
    for (size_t i = 0; i < 4; i++)
        is_str(json_string_value(json_array_get(links, i)), want_links[i], "links[%zu] in order",
               i);
    json_t *tags = json_object_get(body, "tags");
    ok(json_array_size(tags) == 1 &&
           strcmp(json_string_value(json_array_get(tags, 0)), "Sourced via Stakha") == 0,
       "tags: [\"Sourced via Stakha\"]");
    json_t *sources = json_object_get(body, "sources");
    ok(json_array_size(sources) == 1 &&
           strcmp(json_string_value(json_array_get(sources, 0)), "Stakha") == 0,
       "sources: [\"Stakha\"]");
    is_str(json_string_value(json_object_get(body, "origin")), "sourced", "origin: sourced");
    is_str(json_string_value(json_object_get(body, "stage")), "lead-new", "stage: the id given");
    json_t *postings = json_object_get(body, "postings");
    ok(json_array_size(postings) == 1 &&
           strcmp(json_string_value(json_array_get(postings, 0)), "posting_1") == 0,
       "postings: [posting id]");
    is_int(json_object_size(body), 10, "no other field");
    char *dump = json_dumps(body, JSON_COMPACT);
    is_str(dump,
           "{\"name\":\"Ada Lovelace\",\"emails\":[\"ada@example.com\"],\"phones\":[{\"value\":"
           "\"+44 20 7946 0000\",\"type\":\"mobile\"}],\"location\":\"London, United Kingdom\","
           "\"links\":[\"https://api.recruitcrm.io/v1/files/cand_77/resume.pdf\","
           "\"https://app.stakha.io/candidates/cand_77\",\"https://github.com/ada\","
           "\"https://www.linkedin.com/in/ada\"],\"tags\":[\"Sourced via Stakha\"],"
           "\"sources\":[\"Stakha\"],\"origin\":\"sourced\",\"stage\":\"lead-new\","
           "\"postings\":[\"posting_1\"]}",
           "the whole body, in SPEC order");
    free(dump);
    json_decref(body);

    /* ---- the full candidate: the note, line by line ---- */
    char *note = sl_candidate_note(full);
    const char *want_lines[] = {"Sourced via Stakha",
                                "Summary: Systems engineer with a taste for analytical engines.",
                                "Salary expectation: 60000-70000 EUR per year",
                                "Availability: 2 weeks notice",
                                "Years of experience: 7",
                                "Accepted contracts: permanent, freelance",
                                "Technical skills: C, PostgreSQL"};
    char *copy = strdup(note), *save = NULL;
    size_t nlines = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save), nlines++)
        if (nlines < 7)
            is_str(l, want_lines[nlines], "note line %zu", nlines + 1);
    is_int(nlines, 7, "seven lines");
    ok(note[strlen(note) - 1] != '\n', "no trailing line break");
    free(copy);
    free(note);
    json_decref(full);

    /* ---- only a name ---- */
    const char *only_name = "{\"id\": \"c\", \"first_name\": \"Ada\", \"last_name\": null,"
                            " \"email\": null, \"phone\": \"\", \"location\": \"   \","
                            " \"resume_url\": null, \"profile_url\": \" \", \"github_url\": null,"
                            " \"twitter_url\": \"\", \"linkedin_url\": null, \"summary\": \"\\n\","
                            " \"salary_expectation\": null, \"availability\": \" \","
                            " \"years_of_experience\": null, \"contract_types\": [],"
                            " \"skills\": [\" \", \"\"]}";
    json_t *c = parse(only_name);
    body = sl_candidate_opportunity(c, "posting_1", "lead-new");
    dump = json_dumps(body, JSON_COMPACT);
    is_str(dump,
           "{\"name\":\"Ada\",\"tags\":[\"Sourced via Stakha\"],\"sources\":[\"Stakha\"],"
           "\"origin\":\"sourced\",\"stage\":\"lead-new\",\"postings\":[\"posting_1\"]}",
           "only a name: no null, empty or blank value sent");
    free(dump);
    json_decref(body);
    note = sl_candidate_note(c);
    is_str(note, "Sourced via Stakha", "only a name: the note is its first line");
    free(note);
    json_decref(c);
    note_is("{\"last_name\": \"Lovelace\"}", "Sourced via Stakha", "missing fields: first line");

    /* ---- names ---- */
    c = parse("{\"last_name\": \"Lovelace\", \"first_name\": \"  \"}");
    char *name = sl_candidate_name(c);
    is_str(name, "Lovelace", "only the last name known: it is the name");
    free(name);
    json_decref(c);
    c = parse("{\"first_name\": \" Ada \", \"last_name\": \" King\\nLovelace \"}");
    name = sl_candidate_name(c);
    is_str(name, "Ada King Lovelace", "parts trimmed, line breaks become spaces");
    free(name);
    json_decref(c);
    c = parse("{\"first_name\": \"\", \"last_name\": null}");
    name = sl_candidate_name(c);
    ok(name == NULL, "no name known: NULL");
    body = sl_candidate_opportunity(c, "p", NULL);
    ok(!json_object_get(body, "name") && !json_object_get(body, "stage"),
       "no name, no stage: both left out");
    free(name);
    json_decref(body);
    json_decref(c);
    body = sl_candidate_opportunity(NULL, NULL, NULL);
    dump = json_dumps(body, JSON_COMPACT);
    is_str(dump,
           "{\"tags\":[\"Sourced via Stakha\"],\"sources\":[\"Stakha\"],\"origin\":\"sourced\"}",
           "no candidate at all: only the constants");
    free(dump);
    json_decref(body);

    /* ---- links: order and gaps ---- */
    c = parse("{\"first_name\": \"A\", \"linkedin_url\": \"l\", \"twitter_url\": \"t\","
              " \"resume_url\": \" \", \"github_url\": \"g\", \"profile_url\": null}");
    body = sl_candidate_opportunity(c, "p", "s");
    dump = json_dumps(json_object_get(body, "links"), JSON_COMPACT);
    is_str(dump, "[\"g\",\"t\",\"l\"]", "links in SPEC order whatever the input order");
    free(dump);
    json_decref(body);
    json_decref(c);

    /* ---- note lines ---- */
    char *line = note_line("{\"first_name\": \"A\", \"summary\": \"one\\ntwo\\r\\nthree\\rfour\"}",
                           "Summary: ");
    is_str(line, "Summary: one two three four", "line breaks (LF, CRLF, CR) become spaces");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"availability\": \"  now  \"}", "Availability");
    is_str(line, "Availability: now", "availability trimmed");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"years_of_experience\": 2.5}", "Years");
    is_str(line, "Years of experience: 2.5", "years 2.5 printed as given");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"years_of_experience\": 0}", "Years");
    is_str(line, "Years of experience: 0", "years 0 is known, printed");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"years_of_experience\": 0.1}", "Years");
    is_str(line, "Years of experience: 0.1", "years 0.1: shortest form");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"contract_types\": [\"permanent\", \" \","
                     " \"contract\\nwork\"]}",
                     "Accepted");
    is_str(line, "Accepted contracts: permanent, contract work",
           "blank list items skipped, line breaks in items become spaces");
    free(line);
    line = note_line("{\"first_name\": \"A\", \"contract_types\": [], \"skills\": []}", "Accepted");
    ok(line == NULL, "an empty list leaves its line out");
    free(line);
    note_is("{\"first_name\": \"A\", \"skills\": [\"Go\"], \"summary\": \"S\","
            " \"availability\": \"now\"}",
            "Sourced via Stakha\nSummary: S\nAvailability: now\nTechnical skills: Go",
            "lines keep SPEC order whatever the input order, absent ones left out");

    /* ---- salary formats ---- */
    salary_is("{\"min\": 60000, \"max\": 70000, \"currency\": \"EUR\", \"period\": \"year\"}",
              "Salary expectation: 60000-70000 EUR per year", "min-max CUR per period");
    salary_is("{\"min\": 60000, \"currency\": \"EUR\", \"period\": \"year\"}",
              "Salary expectation: from 60000 EUR per year", "only min");
    salary_is("{\"max\": 70000, \"currency\": \"EUR\", \"period\": \"year\"}",
              "Salary expectation: up to 70000 EUR per year", "only max");
    salary_is("{\"min\": 60000, \"max\": 70000, \"period\": \"month\"}",
              "Salary expectation: 60000-70000 per month", "without currency");
    salary_is("{\"min\": 60000, \"max\": 70000, \"currency\": \"USD\"}",
              "Salary expectation: 60000-70000 USD", "without period");
    salary_is("{\"min\": 60000, \"max\": 70000, \"currency\": \" \", \"period\": null}",
              "Salary expectation: 60000-70000", "blank currency, null period");
    salary_is("{\"min\": 45.5, \"currency\": \"GBP\", \"period\": \"hour\"}",
              "Salary expectation: from 45.5 GBP per hour", "a real amount as given");
    salary_is("{\"max\": null, \"min\": null, \"currency\": \"EUR\", \"period\": \"year\"}", NULL,
              "neither min nor max: no line");
    salary_is("{}", NULL, "empty salary: no line");

    /* ---- recognising what this service pushed ---- */
    ok(sl_candidate_is_stakha_note("Sourced via Stakha"), "note: the first line alone");
    ok(sl_candidate_is_stakha_note("Sourced via Stakha\nSummary: x"), "note: first line, more");
    ok(!sl_candidate_is_stakha_note("Sourced via Stakha!"), "note: another first line");
    ok(!sl_candidate_is_stakha_note("Hello\nSourced via Stakha"), "note: not the first line");
    ok(!sl_candidate_is_stakha_note(NULL), "note: NULL");
    json_t *n = parse("{\"id\": \"n1\", \"fields\": [{\"type\": \"note\", \"value\":"
                      " \"Sourced via Stakha\\nSummary: x\"}]}");
    ok(sl_candidate_note_matches(n), "a Lever note object with the Stakha value matches");
    json_decref(n);
    n = parse("{\"id\": \"n2\", \"fields\": [{\"value\": \"Called her\"}]}");
    ok(!sl_candidate_note_matches(n), "another note does not");
    json_decref(n);

    json_t *opps = parse("[{\"id\": \"o1\", \"name\": \"Ada Lovelace\", \"links\": []},"
                         " {\"id\": \"o2\", \"name\": \"Other\","
                         "  \"links\": [\"https://app.stakha.io/candidates/c9\"]},"
                         " {\"id\": \"o3\", \"name\": \"ada lovelace\", \"links\": []}]");
    c = parse("{\"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
              " \"profile_url\": \"https://app.stakha.io/candidates/c9\"}");
    is_int(sl_candidate_find_opportunity(c, opps), 1, "lookup: the profile link wins");
    json_decref(c);
    c = parse("{\"first_name\": \"Ada\", \"last_name\": \"Lovelace\","
              " \"profile_url\": \"https://app.stakha.io/candidates/c10\"}");
    is_int(sl_candidate_find_opportunity(c, opps), -1,
           "lookup: a profile link that nobody has: no match (not the name)");
    json_decref(c);
    c = parse("{\"first_name\": \"Ada\", \"last_name\": \"Lovelace\"}");
    is_int(sl_candidate_find_opportunity(c, opps), 0, "lookup: without a link, the name");
    json_decref(c);
    c = parse("{\"first_name\": \"Grace\"}");
    is_int(sl_candidate_find_opportunity(c, opps), -1, "lookup: nothing matches");
    json_decref(c);
    json_decref(opps);

    return done_testing();
}
