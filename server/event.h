/*
 * event.h: parsing and validation of Stakha webhook events (SPEC 5).
 *
 * The parser checks the whole schema up front so that a bad event is
 * refused with a message naming the field and nothing is stored. What it
 * accepts, PostgreSQL accepts too: the stored form is the raw body.
 *
 * Threads: any; a `struct sl_event` belongs to its caller.
 */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include <jansson.h>
#include <stdbool.h>

#include "rc.h"

enum sl_event_type {
    SL_EVENT_UNKNOWN,
    SL_EVENT_CREATED,
    SL_EVENT_UPDATED,
    SL_EVENT_DELETED,
};

struct sl_event {
    json_t *root; /* owned */
    enum sl_event_type type;
    /* Borrowed from root; NULL when absent (unknown types). */
    const char *type_name;
    const char *team_id;
    const char *application_id;
};

/* Parses `body`. SL_ERR_BAD_REQUEST when it is not JSON, SL_ERR_INVALID
 * when it breaks the schema; `err` names the field ("data.application.job_id
 * must be a string"). On success `out` must be released with
 * sl_event_cleanup(). */
enum sl_rc sl_event_parse(const char *body, size_t len, struct sl_event *out,
                          struct sl_err *err) SL_MUST_USE;
void sl_event_cleanup(struct sl_event *ev);

/* True when `s` is an RFC 3339 date-time ("2026-12-04T15:19:56Z",
 * fractions and numeric offsets allowed). */
bool sl_rfc3339_valid(const char *s);

#endif
