/*
 * util.h: small string, buffer and time helpers shared by every module.
 *
 * Threads: all functions are reentrant; a `struct sl_buf` belongs to one
 * thread at a time.
 */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* A growable byte buffer, always NUL-terminated. Caller-owned (init/cleanup). */
struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void sl_buf_init(struct sl_buf *b);
void sl_buf_cleanup(struct sl_buf *b);
void sl_buf_append(struct sl_buf *b, const void *data, size_t n);
void sl_buf_puts(struct sl_buf *b, const char *s);
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the data (caller owns, free()) and leaves `b` empty. */
char *sl_buf_take(struct sl_buf *b);

/* Copies `src` into `dst` of size `n`, always terminated; returns false when truncated. */
bool sl_strlcpy(char *dst, const char *src, size_t n);

/* Parses a whole decimal integer in [min, max]; false on anything else. */
bool sl_parse_long(const char *s, long min, long max, long *out);

/* True when `s` is 1 to 64 characters of [A-Za-z0-9_-] (SPEC 3: Stakha ids). */
bool sl_valid_id(const char *s);

/* Comma-separated lists (settings that rotate: keys, secrets, tokens).
 * sl_list_count: how many entries `s` has (one more than its commas).
 * sl_list_next: the next entry, trimmed of spaces and tabs, as `*len` bytes
 * at `*start` (borrowed from the list; may be empty), advancing `*cursor`
 * (start it at the list); false once every entry was given. */
size_t sl_list_count(const char *s);
bool sl_list_next(const char **cursor, const char **start, size_t *len);

/* True when `s` is empty or only white space. */
bool sl_blank(const char *s);

/* Wall-clock time in microseconds, and a monotonic clock in nanoseconds. */
int64_t sl_now_us(void);
int64_t sl_mono_ns(void);

/* Formats Unix seconds as RFC 3339 UTC ("2026-12-04T15:19:56Z") into `out` (>= 21 bytes). */
void sl_time_rfc3339(int64_t unix_s, char out[32]);

#endif
