/*
 * crypto.c: the project's cryptography, on OpenSSL 3's EVP interfaces.
 *
 * Design: the three algorithms (SHA-256, HMAC, AES-256-GCM) are fetched once,
 * under pthread_once, and kept for the life of the process; every call then
 * makes its own short-lived EVP context, so nothing here holds a lock or
 * shared mutable state. Base64 is written here rather than taken from
 * EVP_EncodeBlock/EVP_DecodeBlock because those skip white space, know no
 * URL-safe alphabet and cannot take input without padding; this decoder is
 * strict so that garbage in a header or a setting is refused, not guessed at.
 *
 * Token sealing (SPEC 7): AES-256-GCM with a random 96-bit nonce per value,
 * the key id in clear in front so that SL_TOKEN_KEY can be rotated (new key
 * first, old keys after it), and caller-chosen associated data that binds a
 * value to its row, so that a ciphertext copied to another row or column
 * fails to open. Random nonces are safe for far more than the 2^32 values
 * per key that GCM allows; the service seals a few values per connection per
 * hour.
 *
 * Threads: every function is reentrant and called from request threads,
 * delivery workers and main. Keyrings are immutable after parsing. Errors
 * from OpenSSL are read off the calling thread's error queue and cleared.
 * Ownership: returned strings and buffers belong to the caller; keys live in
 * the keyring and are wiped with OPENSSL_cleanse when it is destroyed.
 */
#include "crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16
#define SEAL_VERSION "v1"
#define SEAL_MAX_PLAINTEXT (16u << 20)

/* ---- algorithms, fetched once ---- */

static pthread_once_t algorithms_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static EVP_CIPHER *aes_gcm;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* A provider without these algorithms is a broken installation, not an
 * input error: abort with file and line. */
static void need_algorithms(void)
{
    SL_ASSERT(pthread_once(&algorithms_once, fetch_algorithms) == 0);
    SL_ASSERT(sha256_md && hmac_mac && aes_gcm);
}

/* Describes the first error on this thread's OpenSSL queue and clears it. */
static enum sl_rc openssl_failed(struct sl_err *err, const char *what)
{
    char reason[160] = "no reason given";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, reason, sizeof(reason));
    ERR_clear_error();
    return sl_err_set(err, SL_ERR_INTERNAL, "%s failed: %s", what, reason);
}

/* ---- randomness and hex ---- */

enum sl_rc sl_crypto_random(void *out, size_t n, struct sl_err *err)
{
    unsigned char *p = out;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return openssl_failed(err, "RAND_bytes");
        p += chunk;
        n -= (size_t)chunk;
    }
    return SL_OK;
}

void sl_crypto_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* ---- base64 ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const unsigned char *in, size_t n, const char *alphabet, bool pad)
{
    SL_ASSERT(n <= (SIZE_MAX - 8) / 4 * 3);
    char *out = sl_xmalloc((n + 2) / 3 * 4 + 1);
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        if (pad) {
            *o++ = '=';
            *o++ = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        if (pad)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

char *sl_base64_encode(const void *in, size_t n)
{
    return b64_encode(in, n, b64_std, true);
}

char *sl_base64url_encode(const void *in, size_t n)
{
    return b64_encode(in, n, b64_url, false);
}

enum { ALPHA_COMMON = 1, ALPHA_STD = 2, ALPHA_URL = 4 };

/* The 6-bit value of a base64 character of either alphabet, or -1; `*kind`
 * says which alphabet the character belongs to. */
static int b64_value(unsigned char c, int *kind)
{
    *kind = ALPHA_COMMON;
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    *kind = ALPHA_STD;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    *kind = ALPHA_URL;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Validates `len` characters of base64 and computes the decoded size.
 * `*data_chars` is the number of characters before the padding. */
static bool b64_measure(const char *in, size_t len, size_t *data_chars, size_t *out_len)
{
    size_t pad = 0;
    while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
        pad++;
    if (pad > 0 && len % 4 != 0)
        return false;
    size_t n = len - pad;
    if (n % 4 == 1)
        return false;

    int seen = 0, kind, v = 0;
    for (size_t i = 0; i < n; i++) {
        v = b64_value((unsigned char)in[i], &kind);
        if (v < 0)
            return false;
        seen |= kind;
    }
    if ((seen & ALPHA_STD) && (seen & ALPHA_URL))
        return false;
    /* The last character's unused low bits must be zero (RFC 4648 3.5). */
    if ((n % 4 == 2 && (v & 0x0f)) || (n % 4 == 3 && (v & 0x03)))
        return false;

    *data_chars = n;
    *out_len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    return true;
}

/* Decodes `n` characters already accepted by b64_measure(). */
static void b64_write(const char *in, size_t n, unsigned char *out)
{
    int kind;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v = (uint32_t)b64_value((unsigned char)in[i], &kind) << 18 |
                     (uint32_t)b64_value((unsigned char)in[i + 1], &kind) << 12 |
                     (uint32_t)b64_value((unsigned char)in[i + 2], &kind) << 6 |
                     (uint32_t)b64_value((unsigned char)in[i + 3], &kind);
        *out++ = (unsigned char)(v >> 16);
        *out++ = (unsigned char)(v >> 8);
        *out++ = (unsigned char)v;
    }
    if (n - i >= 2) {
        uint32_t v = (uint32_t)b64_value((unsigned char)in[i], &kind) << 18 |
                     (uint32_t)b64_value((unsigned char)in[i + 1], &kind) << 12;
        if (n - i == 3)
            v |= (uint32_t)b64_value((unsigned char)in[i + 2], &kind) << 6;
        *out++ = (unsigned char)(v >> 16);
        if (n - i == 3)
            *out++ = (unsigned char)(v >> 8);
    }
}

enum sl_rc sl_base64_decode_buf(const char *in, size_t in_len, unsigned char *out, size_t cap,
                                size_t *out_len, struct sl_err *err)
{
    size_t chars, need;
    *out_len = 0;
    if (!b64_measure(in, in_len, &chars, &need))
        return sl_err_set(err, SL_ERR_INVALID, "not valid base64");
    *out_len = need;
    if (need > cap)
        return sl_err_set(err, SL_ERR_TOO_LARGE, "base64 decodes to %zu bytes, more than %zu", need,
                          cap);
    b64_write(in, chars, out);
    return SL_OK;
}

enum sl_rc sl_base64_decode(const char *in, unsigned char **out, size_t *out_len,
                            struct sl_err *err)
{
    size_t chars, need;
    *out = NULL;
    *out_len = 0;
    if (!in || !b64_measure(in, strlen(in), &chars, &need))
        return sl_err_set(err, SL_ERR_INVALID, "not valid base64");
    unsigned char *buf = sl_xmalloc(need + 1);
    b64_write(in, chars, buf);
    buf[need] = '\0';
    *out = buf;
    *out_len = need;
    return SL_OK;
}

/* ---- hashes and MACs ---- */

void sl_crypto_sha256(const void *in, size_t n, unsigned char out[SL_SHA256_LEN])
{
    need_algorithms();
    unsigned int len = 0;
    SL_ASSERT(EVP_Digest(in, n, out, &len, sha256_md, NULL) == 1 && len == SL_SHA256_LEN);
}

void sl_crypto_sha256_hex(const void *in, size_t n, char out[2 * SL_SHA256_LEN + 1])
{
    unsigned char digest[SL_SHA256_LEN];
    sl_crypto_sha256(in, n, digest);
    sl_crypto_hex(digest, sizeof(digest), out);
}

void sl_crypto_hmac_sha256_parts(const void *key, size_t key_len,
                                 const struct sl_crypto_part *parts, size_t nparts,
                                 unsigned char out[SL_SHA256_LEN])
{
    /* A NULL key asks EVP_MAC_init to reuse a previous key, which a fresh
     * context does not have: give an empty key a real address. */
    static const unsigned char empty_key[1];
    need_algorithms();
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    SL_ASSERT(ctx);
    SL_ASSERT(EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) == 1);
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].len)
            SL_ASSERT(EVP_MAC_update(ctx, parts[i].data, parts[i].len) == 1);
    size_t len = 0;
    SL_ASSERT(EVP_MAC_final(ctx, out, &len, SL_SHA256_LEN) == 1 && len == SL_SHA256_LEN);
    EVP_MAC_CTX_free(ctx);
}

void sl_crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                           unsigned char out[SL_SHA256_LEN])
{
    struct sl_crypto_part part = {msg, n};
    sl_crypto_hmac_sha256_parts(key, key_len, &part, 1, out);
}

/* ---- comparison ---- */

bool sl_crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

bool sl_crypto_str_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t len = strlen(a);
    if (strlen(b) != len)
        return false;
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* ---- keyring ---- */

struct sl_key {
    unsigned char bytes[SL_CRYPTO_KEY_LEN];
    char id[SL_CRYPTO_KEY_ID_LEN + 1];
};

struct sl_keyring {
    size_t n;             /* at least 1 */
    struct sl_key keys[]; /* keys[0] seals; all open */
};

enum sl_rc sl_keyring_parse(const char *spec, struct sl_keyring **out, struct sl_err *err)
{
    enum sl_rc rc = SL_OK;
    *out = NULL;
    if (sl_blank(spec))
        return sl_err_set(err, SL_ERR_CONFIG, "is empty; expected base64 of 32 bytes");

    size_t n = sl_list_count(spec);
    struct sl_keyring *ring = sl_xcalloc(1, sizeof(*ring) + n * sizeof(struct sl_key));
    ring->n = n;

    /* "key 2 of 3 ..." when rotating, plain "must be ..." for a lone key. */
    char which[64] = "";
    const char *cursor = spec, *entry;
    size_t len;
    for (size_t i = 0; sl_list_next(&cursor, &entry, &len); i++) {
        const char *end = entry + len;
        if (n > 1)
            snprintf(which, sizeof(which), "key %zu of %zu ", i + 1, n);

        struct sl_key *key = &ring->keys[i];
        size_t got = 0;
        if (end == entry) {
            rc = sl_err_set(err, SL_ERR_CONFIG, "%sis empty; expected base64 of 32 bytes", which);
            goto out;
        }
        enum sl_rc drc = sl_base64_decode_buf(entry, (size_t)(end - entry), key->bytes,
                                              sizeof(key->bytes), &got, NULL);
        if (drc == SL_ERR_INVALID) {
            rc = sl_err_set(err, SL_ERR_CONFIG, "%sis not base64; expected base64 of 32 bytes",
                            which);
            goto out;
        }
        if (drc != SL_OK || got != SL_CRYPTO_KEY_LEN) {
            rc =
                sl_err_set(err, SL_ERR_CONFIG, "%smust be base64 of 32 bytes, got %zu", which, got);
            goto out;
        }

        char hex[2 * SL_SHA256_LEN + 1];
        sl_crypto_sha256_hex(key->bytes, sizeof(key->bytes), hex);
        memcpy(key->id, hex, SL_CRYPTO_KEY_ID_LEN);
        key->id[SL_CRYPTO_KEY_ID_LEN] = '\0';
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ring->keys[j].id, key->id) == 0) {
                rc = sl_err_set(err, SL_ERR_CONFIG, "key %zu has the same key id as key %zu", i + 1,
                                j + 1);
                goto out;
            }
        }
    }

out:
    if (rc) {
        sl_keyring_destroy(ring);
        return rc;
    }
    *out = ring;
    return SL_OK;
}

void sl_keyring_destroy(struct sl_keyring *ring)
{
    if (!ring)
        return;
    OPENSSL_cleanse(ring, sizeof(*ring) + ring->n * sizeof(struct sl_key));
    free(ring);
}

const char *sl_keyring_current_id(const struct sl_keyring *ring)
{
    return ring->keys[0].id;
}

enum sl_rc sl_keyring_generate_b64(char out[64], struct sl_err *err)
{
    unsigned char key[SL_CRYPTO_KEY_LEN];
    out[0] = '\0';
    enum sl_rc rc = sl_crypto_random(key, sizeof(key), err);
    if (rc)
        goto out;
    char *b64 = sl_base64_encode(key, sizeof(key));
    SL_ASSERT(sl_strlcpy(out, b64, 64));
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
out:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* ---- sealing ---- */

enum sl_rc sl_crypto_seal(const struct sl_keyring *ring, const char *plaintext, const char *aad,
                          char **out, struct sl_err *err)
{
    enum sl_rc rc = SL_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *blob = NULL;
    char *b64 = NULL;
    *out = NULL;
    need_algorithms();

    size_t pt_len = strlen(plaintext);
    size_t aad_len = aad ? strlen(aad) : 0;
    if (pt_len > SEAL_MAX_PLAINTEXT || aad_len > SEAL_MAX_PLAINTEXT)
        return sl_err_set(err, SL_ERR_TOO_LARGE, "value to seal is over %u bytes",
                          SEAL_MAX_PLAINTEXT);

    const struct sl_key *key = &ring->keys[0];
    size_t blob_len = GCM_NONCE_LEN + pt_len + GCM_TAG_LEN;
    blob = sl_xmalloc(blob_len);
    unsigned char *nonce = blob, *ct = blob + GCM_NONCE_LEN, *tag = ct + pt_len;
    rc = sl_crypto_random(nonce, GCM_NONCE_LEN, err);
    if (rc)
        goto out;

    int len = 0, final_len = 0;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex2(ctx, aes_gcm, key->bytes, nonce, NULL) != 1 ||
        (aad_len &&
         EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)aad_len) != 1) ||
        EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plaintext, (int)pt_len) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + len, &final_len) != 1 ||
        (size_t)len + (size_t)final_len != pt_len) {
        rc = openssl_failed(err, "AES-256-GCM encryption");
        goto out;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, GCM_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_CIPHER_CTX_get_params(ctx, params) != 1) {
        rc = openssl_failed(err, "AES-256-GCM tag");
        goto out;
    }

    b64 = sl_base64url_encode(blob, blob_len);
    size_t size = sizeof(SEAL_VERSION) + SL_CRYPTO_KEY_ID_LEN + 1 + strlen(b64) + 1;
    *out = sl_xmalloc(size);
    snprintf(*out, size, SEAL_VERSION ".%s.%s", key->id, b64);

out:
    EVP_CIPHER_CTX_free(ctx);
    free(blob);
    free(b64);
    return rc;
}

static bool is_key_id(const char *s)
{
    for (size_t i = 0; i < SL_CRYPTO_KEY_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

enum sl_rc sl_crypto_open(const struct sl_keyring *ring, const char *sealed, const char *aad,
                          char **plaintext_out, struct sl_err *err)
{
    enum sl_rc rc = SL_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *blob = NULL;
    char *pt = NULL;
    size_t blob_len = 0, pt_len = 0;
    *plaintext_out = NULL;
    need_algorithms();

    static const char prefix[] = SEAL_VERSION ".";
    const size_t prefix_len = sizeof(prefix) - 1;
    if (!sealed || strncmp(sealed, prefix, prefix_len) != 0 ||
        strnlen(sealed + prefix_len, SL_CRYPTO_KEY_ID_LEN + 1) < SL_CRYPTO_KEY_ID_LEN + 1 ||
        !is_key_id(sealed + prefix_len) || sealed[prefix_len + SL_CRYPTO_KEY_ID_LEN] != '.')
        return sl_err_set(err, SL_ERR_INVALID,
                          "sealed value is malformed: expected v1.<keyid>.<data>");

    const char *id = sealed + prefix_len;
    const struct sl_key *key = NULL;
    for (size_t i = 0; i < ring->n && !key; i++)
        if (memcmp(ring->keys[i].id, id, SL_CRYPTO_KEY_ID_LEN) == 0)
            key = &ring->keys[i];
    if (!key)
        return sl_err_set(err, SL_ERR_INVALID,
                          "sealed with key id %.*s, which is not in the keyring",
                          SL_CRYPTO_KEY_ID_LEN, id);

    size_t aad_len = aad ? strlen(aad) : 0;
    if (aad_len > SEAL_MAX_PLAINTEXT)
        return sl_err_set(err, SL_ERR_TOO_LARGE, "associated data is over %u bytes",
                          SEAL_MAX_PLAINTEXT);
    rc = sl_base64_decode(id + SL_CRYPTO_KEY_ID_LEN + 1, &blob, &blob_len, NULL);
    if (rc || blob_len < GCM_NONCE_LEN + GCM_TAG_LEN ||
        blob_len > GCM_NONCE_LEN + SEAL_MAX_PLAINTEXT + GCM_TAG_LEN) {
        rc = sl_err_set(err, SL_ERR_INVALID, "sealed value is malformed: bad data part");
        goto out;
    }
    pt_len = blob_len - GCM_NONCE_LEN - GCM_TAG_LEN;
    unsigned char *nonce = blob, *ct = blob + GCM_NONCE_LEN, *tag = ct + pt_len;
    pt = sl_xmalloc(pt_len + 1);

    int len = 0, final_len = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, GCM_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_DecryptInit_ex2(ctx, aes_gcm, key->bytes, nonce, NULL) != 1 ||
        (aad_len &&
         EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)aad_len) != 1) ||
        EVP_DecryptUpdate(ctx, (unsigned char *)pt, &len, ct, (int)pt_len) != 1 ||
        EVP_CIPHER_CTX_set_params(ctx, params) != 1) {
        rc = openssl_failed(err, "AES-256-GCM decryption");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)pt + len, &final_len) != 1) {
        ERR_clear_error();
        rc =
            sl_err_set(err, SL_ERR_INVALID,
                       "sealed value failed authentication (tampered, wrong key or wrong context)");
        goto out;
    }
    pt[pt_len] = '\0';
    *plaintext_out = pt;
    pt = NULL;

out:
    /* Plaintext is written before the tag is checked: wipe it on failure. */
    if (pt) {
        OPENSSL_cleanse(pt, pt_len + 1);
        free(pt);
    }
    EVP_CIPHER_CTX_free(ctx);
    free(blob);
    return rc;
}
