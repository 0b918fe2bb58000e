/*
 * webhook_sig.h: Standard Webhooks signatures (SPEC 5,
 * reference/standard-webhooks.md): the secrets from SL_STAKHA_WEBHOOK_SECRET,
 * verification of an incoming event, and signing for tests and benchmarks.
 *
 * Threads: a `struct sl_whsecrets` is immutable after parsing and may be
 * shared by every thread; all functions are reentrant.
 */
#ifndef SL_WEBHOOK_SIG_H
#define SL_WEBHOOK_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* Accepted distance between the webhook-timestamp and now, both ways. */
#define SL_WEBHOOK_TOLERANCE_S 300

/* The secrets that may sign an event, in the order configured. Opaque. */
struct sl_whsecrets;

/* Parses `spec`: one or more comma-separated secrets, each base64 (padded or
 * not) with an optional `whsec_` prefix; white space around an entry is
 * ignored. Returns SL_OK with `*out` set (caller owns; sl_whsecrets_destroy())
 * or SL_ERR_CONFIG with `*out` NULL and a message naming the entry by its
 * 1-based index ("entry 2 of 3 is not base64"), never the secret. */
SL_MUST_USE enum sl_rc sl_whsecrets_parse(const char *spec, struct sl_whsecrets **out,
                                          struct sl_err *err);

/* Wipes and frees; accepts NULL. No other thread may still be using it. */
void sl_whsecrets_destroy(struct sl_whsecrets *s);

/* Verifies one delivery. `msg_id`, `timestamp` and `sig_header` are the raw
 * values of the webhook-id, webhook-timestamp and webhook-signature headers
 * (NULL when absent), `body` the raw request body (`body_len` bytes, NULL
 * allowed when 0), `now_s` the current Unix time in seconds.
 * Returns SL_OK when the timestamp is within SL_WEBHOOK_TOLERANCE_S of now
 * (inclusive) and some `v1` signature in the header is the HMAC-SHA256 of
 * id "." timestamp "." body under some secret; otherwise SL_ERR_AUTH with a
 * short reason in `err` (may be NULL): "missing webhook-id header",
 * "missing webhook-timestamp header", "missing webhook-signature header",
 * "malformed webhook-id", "malformed timestamp", "timestamp too old",
 * "timestamp too far in the future", "no matching signature".
 * Any bytes are safe in every argument; signatures are decoded on the stack,
 * so memory use does not grow with the header. */
SL_MUST_USE enum sl_rc sl_webhook_verify(const struct sl_whsecrets *s, const char *msg_id,
                                         const char *timestamp, const char *sig_header,
                                         const void *body, size_t body_len, int64_t now_s,
                                         struct sl_err *err);

/* Signs as a Standard Webhooks sender would, with the first secret: returns
 * the webhook-signature value "v1,<base64>" (caller owns, free()). */
char *sl_webhook_sign(const struct sl_whsecrets *s, const char *msg_id, const char *timestamp,
                      const void *body, size_t len);

#endif
