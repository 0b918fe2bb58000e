/*
 * crypto.h: randomness, hex and base64, SHA-256, HMAC-SHA256, constant-time
 * comparison, and AES-256-GCM sealing of Lever tokens at rest (SPEC 7).
 *
 * Threads: every function here is reentrant and may be called from any
 * thread. A `struct sl_keyring` is immutable after sl_keyring_parse() and may
 * be shared by all threads without locking.
 */
#ifndef SL_CRYPTO_H
#define SL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

#define SL_SHA256_LEN 32
#define SL_CRYPTO_KEY_LEN 32   /* AES-256 key bytes */
#define SL_CRYPTO_KEY_ID_LEN 8 /* hex characters of a key id */

/* ---- randomness and encodings ---- */

/* Fills `out` with `n` bytes from the OpenSSL CSPRNG.
 * Returns SL_OK, or SL_ERR_INTERNAL (with the OpenSSL reason in `err`, which
 * may be NULL) when the generator fails; `out` must then not be used. */
SL_MUST_USE enum sl_rc sl_crypto_random(void *out, size_t n, struct sl_err *err);

/* Writes the lowercase hex of `n` bytes of `in` into `out`, which holds at
 * least 2n+1 bytes; always NUL-terminated. */
void sl_crypto_hex(const void *in, size_t n, char *out);

/* Standard base64 (RFC 4648 section 4, `+/`, padded) of `n` bytes of `in`.
 * Returns a NUL-terminated string; caller owns (free()). Never NULL. */
char *sl_base64_encode(const void *in, size_t n);

/* URL-safe base64 (RFC 4648 section 5, `-_`) without padding, as above. */
char *sl_base64url_encode(const void *in, size_t n);

/* Decodes the NUL-terminated base64 text `in`: the standard alphabet or the
 * URL-safe one (not both in one string), with or without `=` padding.
 * Anything else is refused: white space, stray characters, bad padding, an
 * impossible length, and non-zero unused bits in the last character (RFC 4648
 * section 3.5), so that each byte string has exactly one accepted spelling
 * per alphabet and padding choice.
 * On SL_OK, `*out` is a new buffer of `*out_len` bytes followed by a NUL
 * byte that is not counted; caller owns (free()). On SL_ERR_INVALID, `*out`
 * is NULL and `err` (may be NULL) says what is wrong without quoting input. */
SL_MUST_USE enum sl_rc sl_base64_decode(const char *in, unsigned char **out, size_t *out_len,
                                        struct sl_err *err);

/* The same decoder into a caller buffer, without allocating: decodes `in_len`
 * characters of `in` (no NUL needed) into `out` of `cap` bytes (`out` may be
 * NULL when `cap` is 0, to measure).
 * Returns SL_OK with `*out_len` = bytes written; SL_ERR_INVALID when the text
 * is not base64; SL_ERR_TOO_LARGE when it decodes to more than `cap` bytes,
 * with `*out_len` = the size it needs and nothing written. `err` may be NULL. */
SL_MUST_USE enum sl_rc sl_base64_decode_buf(const char *in, size_t in_len, unsigned char *out,
                                            size_t cap, size_t *out_len, struct sl_err *err);

/* ---- hashes and MACs ---- */

/* SHA-256 of `n` bytes of `in` into `out`. Aborts only if OpenSSL is broken. */
void sl_crypto_sha256(const void *in, size_t n, unsigned char out[SL_SHA256_LEN]);

/* The same, as 64 lowercase hex characters and a NUL. */
void sl_crypto_sha256_hex(const void *in, size_t n, char out[2 * SL_SHA256_LEN + 1]);

/* HMAC-SHA256 with `key_len` bytes of `key` (may be 0) over `n` bytes of `msg`. */
void sl_crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                           unsigned char out[SL_SHA256_LEN]);

/* One piece of a message given to sl_crypto_hmac_sha256_parts(); borrowed. */
struct sl_crypto_part {
    const void *data;
    size_t len;
};

/* HMAC-SHA256 over the concatenation of `nparts` parts, without copying them
 * together (webhook signing: id "." timestamp "." body). */
void sl_crypto_hmac_sha256_parts(const void *key, size_t key_len,
                                 const struct sl_crypto_part *parts, size_t nparts,
                                 unsigned char out[SL_SHA256_LEN]);

/* ---- comparison ---- */

/* True when the `n` bytes at `a` and `b` are equal; the time taken depends on
 * `n` only (CRYPTO_memcmp). */
bool sl_crypto_equal(const void *a, const void *b, size_t n);

/* True when the strings are equal. Constant time over the contents when the
 * lengths are equal; a difference in length returns early, so the length of
 * a secret may leak (use for bearer tokens and the like, whose length is not
 * secret). NULL is equal to nothing, not even NULL. */
bool sl_crypto_str_equal(const char *a, const char *b);

/* ---- token sealing (AES-256-GCM) ---- */

/* One current key that seals, and older keys that still open values sealed
 * before a rotation. Opaque; immutable once parsed. */
struct sl_keyring;

/* Parses `spec` (the value of SL_TOKEN_KEY): base64 of 32 bytes, or
 * "current,old1,old2,..." to rotate; white space around entries is ignored.
 * Each key's id is the first 8 hex characters of its SHA-256.
 * Returns SL_OK with `*out` set (caller owns; sl_keyring_destroy()), or
 * SL_ERR_CONFIG with `*out` NULL and a message naming the entry and what is
 * wrong ("key 1 must be base64 of 32 bytes, got 31"), never the key itself. */
SL_MUST_USE enum sl_rc sl_keyring_parse(const char *spec, struct sl_keyring **out,
                                        struct sl_err *err);

/* Wipes the keys and frees the keyring; accepts NULL. No other thread may be
 * using it. */
void sl_keyring_destroy(struct sl_keyring *ring);

/* The id of the key that seals (8 hex characters); borrowed, valid until
 * sl_keyring_destroy(). Safe to log. */
const char *sl_keyring_current_id(const struct sl_keyring *ring);

/* Encrypts the string `plaintext` with the current key and a fresh random
 * 12-byte nonce, binding it to `aad` (the row it belongs to, e.g.
 * "team_8f2c:refresh"; NULL is the same as "").
 * Returns SL_OK with `*out` = "v1.<keyid>.<base64url(nonce || ciphertext ||
 * tag)>" (printable; caller owns, free()), SL_ERR_TOO_LARGE for a plaintext
 * over 16 MiB, or SL_ERR_INTERNAL if OpenSSL fails; `*out` is NULL on error. */
SL_MUST_USE enum sl_rc sl_crypto_seal(const struct sl_keyring *ring, const char *plaintext,
                                      const char *aad, char **out, struct sl_err *err);

/* Decrypts a value made by sl_crypto_seal() with the key its id names and
 * the same `aad`. Returns SL_OK with `*plaintext_out` (caller owns; wipe it
 * with OPENSSL_cleanse before free() when it matters), or SL_ERR_INVALID
 * with `*plaintext_out` NULL when the value is malformed, names a key that
 * is not in the ring, or fails authentication (tampered, wrong key or wrong
 * `aad`); SL_ERR_INTERNAL if OpenSSL fails. */
SL_MUST_USE enum sl_rc sl_crypto_open(const struct sl_keyring *ring, const char *sealed,
                                      const char *aad, char **plaintext_out, struct sl_err *err);

/* Writes base64 of 32 fresh random bytes (44 characters and a NUL) into
 * `out`: a new SL_TOKEN_KEY for a development key file.
 * Returns SL_OK or SL_ERR_INTERNAL (`out` is then an empty string). */
SL_MUST_USE enum sl_rc sl_keyring_generate_b64(char out[64], struct sl_err *err);

#endif
