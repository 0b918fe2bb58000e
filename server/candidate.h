/*
 * candidate.h: what a Stakha candidate becomes in Lever (SPEC 6 and 9).
 *
 * Pure functions from the stored candidate JSON (the `candidate` object of
 * a webhook event) to the body of POST /opportunities and the text of the
 * note, plus the small predicates the exactly-once lookups need. No I/O,
 * no global state, so every rule is unit-tested here (tests/unit/
 * test_candidate.c) rather than through Lever.
 *
 * Threads: any; nothing here is shared.
 */
#ifndef SL_CANDIDATE_H
#define SL_CANDIDATE_H

#include <jansson.h>
#include <stdbool.h>

/* The tag, source and first note line that mark what this service pushed. */
#define SL_CANDIDATE_TAG "Sourced via Stakha"
#define SL_CANDIDATE_SOURCE "Stakha"
#define SL_CANDIDATE_ORIGIN "sourced"

/* The JSON body of POST /opportunities for `candidate` (borrowed; NULL is an
 * empty candidate) on `posting_id` in stage `stage_id` (either may be NULL:
 * then that field is left out). Fields whose value is unknown, null, empty
 * or blank are left out, never sent as null, "" or []. Returns a new object;
 * caller owns (json_decref). */
json_t *sl_candidate_opportunity(const json_t *candidate, const char *posting_id,
                                 const char *stage_id);

/* The note text: "Sourced via Stakha", then one line per known value in
 * SPEC 6's order, joined by "\n". Returns a new string; caller owns (free). */
char *sl_candidate_note(const json_t *candidate);

/* The Lever `name`: first and last name joined by a space, or whichever is
 * known; NULL when neither is. Caller owns (free). */
char *sl_candidate_name(const json_t *candidate);

/* A candidate's string field cleaned as everything sent to Lever is (line
 * breaks become spaces, surrounding white space trimmed), or NULL when it is
 * missing, not a string, or blank. Caller owns (free). */
char *sl_candidate_field(const json_t *candidate, const char *key);

/* True when the first line of a note value is exactly "Sourced via Stakha":
 * how a note added by an earlier attempt is recognised (SPEC 9). */
bool sl_candidate_is_stakha_note(const char *value);

/* True when `note` (a Lever note object: {"fields": [{"value": ...}]}, or
 * {"value": ...}) carries a Stakha note. */
bool sl_candidate_note_matches(const json_t *note);

/* For the lookup without an email (SPEC 9): the index in `opportunities` (a
 * Lever list, borrowed) of the first one that is this candidate's: the one
 * whose links contain the candidate's profile URL when it has one, else the
 * one with the same name. -1 when none matches. */
int sl_candidate_find_opportunity(const json_t *candidate, const json_t *opportunities);

#endif
