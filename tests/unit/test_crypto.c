/*
 * test_crypto.c: server/crypto.c against published vectors (RFC 4648 base64,
 * FIPS 180-2 SHA-256, RFC 4231 HMAC-SHA256) and the sealing contract of
 * SPEC 7: round trips, tampering, wrong context, key rotation and the
 * messages a bad SL_TOKEN_KEY produces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"

static void test_hex(void)
{
    char out[9];
    memset(out, 'x', sizeof(out));
    sl_crypto_hex("\x00\x7f\xa5\xff", 4, out);
    is_str(out, "007fa5ff", "hex is lowercase, two digits per byte, NUL-terminated");
    sl_crypto_hex("", 0, out);
    is_str(out, "", "hex of nothing is the empty string");
}

static void test_base64_vectors(void)
{
    /* RFC 4648 section 10. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *e = sl_base64_encode(plain[i], strlen(plain[i]));
        is_str(e, std[i], "base64(\"%s\")", plain[i]);
        free(e);
        e = sl_base64url_encode(plain[i], strlen(plain[i]));
        is_str(e, url[i], "base64url(\"%s\") has no padding", plain[i]);
        free(e);

        const char *spellings[] = {std[i], url[i]};
        for (size_t k = 0; k < 2; k++) {
            unsigned char *d = NULL;
            size_t n = 99;
            struct sl_err err = {0};
            enum sl_rc rc = sl_base64_decode(spellings[k], &d, &n, &err);
            ok(rc == SL_OK && n == strlen(plain[i]) && memcmp(d, plain[i], n) == 0 && d[n] == '\0',
               "decode(\"%s\") gives \"%s\" (%s padding)", spellings[k], plain[i],
               k ? "without" : "with");
            free(d);
        }
    }
}

static void test_base64_alphabets(void)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *e = sl_base64_encode(bytes, sizeof(bytes));
    is_str(e, "+/+/", "standard alphabet uses + and /");
    free(e);
    e = sl_base64url_encode(bytes, sizeof(bytes));
    is_str(e, "-_-_", "url-safe alphabet uses - and _");
    free(e);

    unsigned char *d = NULL;
    size_t n = 0;
    ok(sl_base64_decode("-_-_", &d, &n, NULL) == SL_OK && n == 3 && memcmp(d, bytes, 3) == 0,
       "decode accepts the url-safe alphabet");
    free(d);
    ok(sl_base64_decode("+/-_", &d, &n, NULL) == SL_ERR_INVALID && d == NULL,
       "decode refuses both alphabets mixed in one string");

    /* Round trip of every byte value, both alphabets. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (int which = 0; which < 2; which++) {
        e = which ? sl_base64url_encode(all, sizeof(all)) : sl_base64_encode(all, sizeof(all));
        ok(sl_base64_decode(e, &d, &n, NULL) == SL_OK && n == sizeof(all) && memcmp(d, all, n) == 0,
           "all 256 byte values round-trip (%s)", which ? "url" : "standard");
        free(d);
        free(e);
    }
}

static void test_base64_garbage(void)
{
    static const char *const bad[] = {
        "Z",        /* a lone character cannot encode a byte */
        "Zg=",      /* padded but not a multiple of 4 */
        "Zg===",    /* three pad characters */
        "====",     /* padding only */
        "=Zg=",     /* padding in front */
        "Zg=a",     /* padding in the middle */
        "Zh==",     /* non-zero unused bits */
        "Zm9",      /* non-zero unused bits, unpadded */
        " Zm9v",    /* white space */
        "Zm9v\n",   /* newline */
        "Zm9v*",    /* stray character */
        "Zm\x80v",  /* high byte */
        "Zm9vYmFy=" /* padding after a full group */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *d = (unsigned char *)"sentinel";
        size_t n = 7;
        struct sl_err err = {0};
        enum sl_rc rc = sl_base64_decode(bad[i], &d, &n, &err);
        ok(rc == SL_ERR_INVALID && d == NULL && n == 0 && err.rc == SL_ERR_INVALID,
           "decode refuses bad input #%zu", i);
    }
    unsigned char *d = (unsigned char *)"sentinel";
    size_t n = 0;
    ok(sl_base64_decode(NULL, &d, &n, NULL) == SL_ERR_INVALID && d == NULL, "decode refuses NULL");
}

static void test_base64_decode_buf(void)
{
    unsigned char out[4] = {0};
    size_t n = 0;
    ok(sl_base64_decode_buf("Zm9vYg==", 8, out, sizeof(out), &n, NULL) == SL_OK && n == 4 &&
           memcmp(out, "foob", 4) == 0,
       "decode_buf fills a buffer of exactly the right size");
    memset(out, 0, sizeof(out));
    ok(sl_base64_decode_buf("Zm9vYmE=", 8, out, sizeof(out), &n, NULL) == SL_ERR_TOO_LARGE &&
           n == 5 && out[0] == 0,
       "decode_buf reports the size needed and writes nothing when too small");
    unsigned char out6[6] = {0};
    ok(sl_base64_decode_buf("Zm9vYmFyXXX", 8, out6, sizeof(out6), &n, NULL) == SL_OK && n == 6 &&
           memcmp(out6, "foobar", 6) == 0,
       "decode_buf reads only in_len characters");
    ok(sl_base64_decode_buf("Zm9v!", 5, out, sizeof(out), &n, NULL) == SL_ERR_INVALID,
       "decode_buf refuses garbage");
    ok(sl_base64_decode_buf("Zm9vYmFy", 8, NULL, 0, &n, NULL) == SL_ERR_TOO_LARGE && n == 6,
       "decode_buf measures with a NULL buffer");
}

static void test_sha256(void)
{
    char hex[65];
    sl_crypto_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "SHA-256(\"abc\")");
    sl_crypto_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "SHA-256 of nothing");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sl_crypto_sha256_hex(two, strlen(two), hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "SHA-256 of the two-block message");
    unsigned char raw[32];
    sl_crypto_sha256("abc", 3, raw);
    ok(raw[0] == 0xba && raw[31] == 0xad, "raw SHA-256 matches its hex");
}

static void test_hmac(void)
{
    unsigned char mac[32];
    char hex[65];

    /* RFC 4231 test case 2. */
    const char *data = "what do ya want for nothing?";
    sl_crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac);
    sl_crypto_hex(mac, 32, hex);
    is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256, RFC 4231 test case 2");

    /* RFC 4231 test case 1. */
    unsigned char key[20];
    memset(key, 0x0b, sizeof(key));
    sl_crypto_hmac_sha256(key, sizeof(key), "Hi There", 8, mac);
    sl_crypto_hex(mac, 32, hex);
    is_str(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           "HMAC-SHA256, RFC 4231 test case 1");

    /* RFC 4231 test case 6: a key longer than the block is hashed first. */
    unsigned char long_key[131];
    memset(long_key, 0xaa, sizeof(long_key));
    const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    sl_crypto_hmac_sha256(long_key, sizeof(long_key), msg6, strlen(msg6), mac);
    sl_crypto_hex(mac, 32, hex);
    is_str(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
           "HMAC-SHA256, RFC 4231 test case 6");

    /* Parts are MACed as their concatenation. */
    const struct sl_crypto_part parts[] = {
        {"what do ", 8}, {"", 0}, {"ya want", 7}, {" for nothing?", 13}};
    unsigned char mac_parts[32];
    sl_crypto_hmac_sha256_parts("Jefe", 4, parts, 4, mac_parts);
    sl_crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac);
    ok(memcmp(mac, mac_parts, 32) == 0, "HMAC over parts equals HMAC over the whole");
    sl_crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing!", 28, mac_parts);
    ok(memcmp(mac, mac_parts, 32) != 0, "one changed byte changes the HMAC");

    /* An empty key is a valid (if useless) HMAC key. */
    sl_crypto_hmac_sha256(NULL, 0, "", 0, mac);
    sl_crypto_hex(mac, 32, hex);
    is_str(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
           "HMAC-SHA256 with an empty key and message");
}

static void test_equal(void)
{
    ok(sl_crypto_equal("abcd", "abcd", 4), "equal bytes compare equal");
    ok(!sl_crypto_equal("abcd", "abce", 4), "a difference in the last byte is seen");
    ok(!sl_crypto_equal("xbcd", "abcd", 4), "a difference in the first byte is seen");
    ok(sl_crypto_equal("a", "b", 0), "zero bytes are always equal");
    ok(sl_crypto_str_equal("token", "token"), "equal strings");
    ok(!sl_crypto_str_equal("token", "tokem"), "strings of equal length that differ");
    ok(!sl_crypto_str_equal("token", "token2"), "a longer string is not equal");
    ok(!sl_crypto_str_equal("token", "toke"), "a prefix is not equal");
    ok(!sl_crypto_str_equal("", "x") && sl_crypto_str_equal("", ""), "empty strings");
    ok(!sl_crypto_str_equal(NULL, "x") && !sl_crypto_str_equal("x", NULL) &&
           !sl_crypto_str_equal(NULL, NULL),
       "NULL equals nothing");
}

static void test_random(void)
{
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    struct sl_err err = {0};
    ok(sl_crypto_random(a, sizeof(a), &err) == SL_OK, "random bytes");
    ok(sl_crypto_random(b, sizeof(b), &err) == SL_OK, "more random bytes");
    ok(memcmp(a, b, 32) != 0 && memcmp(a, zero, 32) != 0, "two draws differ and are not zero");
    ok(sl_crypto_random(a, 0, &err) == SL_OK, "zero random bytes is fine");
}

/* ---- sealing ---- */

static char *key_b64(unsigned char fill, size_t len)
{
    unsigned char key[64];
    memset(key, fill, sizeof(key));
    for (size_t i = 0; i < len; i++)
        key[i] = (unsigned char)(fill + i * 7);
    return sl_base64_encode(key, len);
}

static struct sl_keyring *must_parse(const char *spec)
{
    struct sl_keyring *ring = NULL;
    struct sl_err err = {0};
    if (sl_keyring_parse(spec, &ring, &err) != SL_OK)
        BAIL_OUT("keyring_parse failed: %s", err.msg);
    return ring;
}

static void expected_id(const char *b64, char id[9])
{
    unsigned char *key = NULL;
    size_t n = 0;
    char hex[65];
    if (sl_base64_decode(b64, &key, &n, NULL) != SL_OK)
        BAIL_OUT("bad test key");
    sl_crypto_sha256_hex(key, n, hex);
    memcpy(id, hex, 8);
    id[8] = '\0';
    free(key);
}

/* Decodes the data part of a sealed value, flips one byte at `offset` (from
 * the start when >= 0, from the end when < 0) and re-encodes it. */
static char *tamper_data(const char *sealed, long offset)
{
    const char *data = sealed + 12; /* "v1." + 8 + "." */
    unsigned char *blob = NULL;
    size_t n = 0;
    if (sl_base64_decode(data, &blob, &n, NULL) != SL_OK)
        BAIL_OUT("sealed data part is not base64");
    size_t at = offset >= 0 ? (size_t)offset : n - (size_t)(-offset);
    blob[at] ^= 0x01;
    char *b64 = sl_base64url_encode(blob, n);
    size_t size = 12 + strlen(b64) + 1;
    char *out = malloc(size);
    snprintf(out, size, "%.12s%s", sealed, b64);
    free(b64);
    free(blob);
    return out;
}

static enum sl_rc try_open(const struct sl_keyring *ring, const char *sealed, const char *aad,
                           char **pt)
{
    struct sl_err err = {0};
    enum sl_rc rc = sl_crypto_open(ring, sealed, aad, pt, &err);
    if (rc && err.rc != rc)
        diag("error code %d not recorded in err", rc);
    return rc;
}

static void test_seal_round_trip(void)
{
    char *k = key_b64(0x10, 32);
    struct sl_keyring *ring = must_parse(k);
    char id[9];
    expected_id(k, id);
    is_str(sl_keyring_current_id(ring), id, "key id is the first 8 hex digits of SHA-256(key)");

    const char *token = "rt_2b7c9f0e1d-lever-refresh";
    const char *aad = "team_8f2c:refresh";
    char *sealed = NULL, *sealed2 = NULL, *pt = NULL;
    struct sl_err err = {0};
    ok(sl_crypto_seal(ring, token, aad, &sealed, &err) == SL_OK && sealed, "seal");
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "v1.%s.", id);
    ok(sealed && strncmp(sealed, prefix, strlen(prefix)) == 0, "sealed value starts with %s",
       prefix);
    ok(sealed && strspn(sealed + 12, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_") == strlen(sealed + 12),
       "data part is unpadded base64url");
    ok(sealed && !strstr(sealed, "lever"), "plaintext does not show through");
    size_t blob_len = 12 + strlen(token) + 16;
    ok(sealed && strlen(sealed) == 12 + (4 * blob_len + 2) / 3,
       "data part holds nonce, ciphertext and tag");

    ok(try_open(ring, sealed, aad, &pt) == SL_OK, "open");
    is_str(pt, token, "open gives back the plaintext");
    free(pt);
    pt = NULL;

    ok(sl_crypto_seal(ring, token, aad, &sealed2, &err) == SL_OK, "seal the same value again");
    ok(sealed2 && strcmp(sealed, sealed2) != 0, "a fresh nonce makes each sealing different");
    free(sealed2);
    sealed2 = NULL;

    /* Empty and long values. */
    ok(sl_crypto_seal(ring, "", NULL, &sealed2, &err) == SL_OK &&
           try_open(ring, sealed2, "", &pt) == SL_OK && pt && pt[0] == '\0',
       "empty plaintext round-trips; NULL aad is the same as \"\"");
    free(pt);
    pt = NULL;
    free(sealed2);
    sealed2 = NULL;
    char *big = malloc(5001);
    memset(big, 'z', 5000);
    big[5000] = '\0';
    ok(sl_crypto_seal(ring, big, aad, &sealed2, &err) == SL_OK &&
           try_open(ring, sealed2, aad, &pt) == SL_OK && pt && strcmp(pt, big) == 0,
       "a 5000-byte value round-trips");
    free(pt);
    pt = NULL;
    free(sealed2);
    free(big);

    /* Wrong context. */
    ok(try_open(ring, sealed, "team_8f2c:access", &pt) == SL_ERR_INVALID && pt == NULL,
       "another column's aad fails");
    ok(try_open(ring, sealed, "team_8f2d:refresh", &pt) == SL_ERR_INVALID && pt == NULL,
       "another row's aad fails");
    ok(try_open(ring, sealed, NULL, &pt) == SL_ERR_INVALID && pt == NULL, "no aad fails");

    /* Tampering with each part. */
    char *t = sl_xstrdup(sealed);
    t[1] = '2';
    ok(try_open(ring, t, aad, &pt) == SL_ERR_INVALID && pt == NULL, "another version fails");
    free(t);
    t = sl_xstrdup(sealed);
    t[3] = t[3] == '0' ? '1' : '0';
    err.msg[0] = '\0';
    ok(sl_crypto_open(ring, t, aad, &pt, &err) == SL_ERR_INVALID && pt == NULL &&
           strstr(err.msg, "key id"),
       "an unknown key id fails: %s", err.msg);
    free(t);
    t = sl_xstrdup(sealed);
    t[3] = (char)(t[3] >= 'a' ? t[3] - 'a' + 'A' : 'G');
    ok(try_open(ring, t, aad, &pt) == SL_ERR_INVALID && pt == NULL, "a non-hex key id fails");
    free(t);
    static const struct {
        long offset;
        const char *what;
    } parts[] = {{0, "nonce (first byte)"},       {11, "nonce (last byte)"},
                 {12, "ciphertext (first byte)"}, {-17, "ciphertext (last byte)"},
                 {-16, "tag (first byte)"},       {-1, "tag (last byte)"}};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        t = tamper_data(sealed, parts[i].offset);
        err.msg[0] = '\0';
        ok(sl_crypto_open(ring, t, aad, &pt, &err) == SL_ERR_INVALID && pt == NULL &&
               strstr(err.msg, "authentication"),
           "a flipped bit in the %s fails", parts[i].what);
        free(t);
    }
    t = sl_xstrdup(sealed);
    t[strlen(t) - 1] = '\0';
    ok(try_open(ring, t, aad, &pt) == SL_ERR_INVALID && pt == NULL, "a truncated value fails");
    free(t);
    t = sl_xstrdup(sealed);
    t[20] = '!';
    ok(try_open(ring, t, aad, &pt) == SL_ERR_INVALID && pt == NULL, "a non-base64 data part fails");
    free(t);
    static const char *const junk[] = {
        "", "v1.", "v1.abcdef01", "v1.abcdef01.", "v1.abcdef01.AAAA", "v1.abc.AAAA"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        ok(try_open(ring, junk[i], aad, &pt) == SL_ERR_INVALID && pt == NULL,
           "junk \"%s\" is refused", junk[i]);
    char short_data[64];
    snprintf(short_data, sizeof(short_data), "v1.%s.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id);
    ok(try_open(ring, short_data, aad, &pt) == SL_ERR_INVALID && pt == NULL,
       "data shorter than nonce and tag is refused");
    ok(try_open(ring, NULL, aad, &pt) == SL_ERR_INVALID && pt == NULL, "NULL is refused");

    free(sealed);
    sl_keyring_destroy(ring);
    free(k);
}

static void test_seal_rotation(void)
{
    char *old_key = key_b64(0x20, 32), *new_key = key_b64(0x30, 32);
    char old_id[9], new_id[9];
    expected_id(old_key, old_id);
    expected_id(new_key, new_id);
    struct sl_keyring *old_ring = must_parse(old_key);
    char spec[200];
    snprintf(spec, sizeof(spec), " %s , %s ", new_key, old_key);
    struct sl_keyring *rotated = must_parse(spec);
    is_str(sl_keyring_current_id(rotated), new_id, "the first key of a rotated ring is current");

    char *sealed_old = NULL, *sealed_new = NULL, *pt = NULL;
    struct sl_err err = {0};
    if (sl_crypto_seal(old_ring, "access-123", "team_1:access", &sealed_old, &err) != SL_OK)
        BAIL_OUT("seal failed: %s", err.msg);
    ok(try_open(rotated, sealed_old, "team_1:access", &pt) == SL_OK && pt &&
           strcmp(pt, "access-123") == 0,
       "a rotated ring opens values sealed with the old key");
    free(pt);
    pt = NULL;

    ok(sl_crypto_seal(rotated, "access-456", "team_1:access", &sealed_new, &err) == SL_OK,
       "a rotated ring seals");
    ok(sealed_new && strncmp(sealed_new + 3, new_id, 8) == 0, "with the new key (%s)", new_id);
    ok(try_open(old_ring, sealed_new, "team_1:access", &pt) == SL_ERR_INVALID && pt == NULL,
       "the old ring alone cannot open it");
    ok(try_open(rotated, sealed_new, "team_1:access", &pt) == SL_OK && pt &&
           strcmp(pt, "access-456") == 0,
       "the rotated ring opens its own values");
    free(pt);

    free(sealed_old);
    free(sealed_new);
    sl_keyring_destroy(old_ring);
    sl_keyring_destroy(rotated);
    sl_keyring_destroy(NULL);
    free(old_key);
    free(new_key);
}

/* Parses a bad spec; checks the code, the message and that no key leaks. */
static void bad_spec(const char *spec, const char *want, const char *secret, const char *what)
{
    struct sl_keyring *ring = (struct sl_keyring *)&ring;
    struct sl_err err = {0};
    enum sl_rc rc = sl_keyring_parse(spec, &ring, &err);
    ok(rc == SL_ERR_CONFIG && err.rc == SL_ERR_CONFIG && ring == NULL, "%s is refused", what);
    ok(strstr(err.msg, want) != NULL, "%s: message \"%s\" says \"%s\"", what, err.msg, want);
    if (secret && strlen(secret) >= 8) {
        char head[9];
        memcpy(head, secret, 8);
        head[8] = '\0';
        ok(!strstr(err.msg, head), "%s: message does not contain the key", what);
    }
}

static void test_keyring_errors(void)
{
    char *k31 = key_b64(0x40, 31), *k33 = key_b64(0x41, 33), *k32 = key_b64(0x42, 32);
    char *k16 = key_b64(0x43, 16);
    char spec[300];

    bad_spec(k31, "must be base64 of 32 bytes, got 31", k31, "a 31-byte key");
    bad_spec(k33, "must be base64 of 32 bytes, got 33", k33, "a 33-byte key");
    bad_spec(k16, "must be base64 of 32 bytes, got 16", k16, "a 16-byte key");
    bad_spec("correct horse battery staple!", "not base64", "correct horse", "a passphrase");
    bad_spec("", "empty", NULL, "an empty spec");
    bad_spec("   ", "empty", NULL, "a blank spec");
    bad_spec(NULL, "empty", NULL, "a NULL spec");
    snprintf(spec, sizeof(spec), "%s,", k32);
    bad_spec(spec, "key 2 of 2 is empty", k32, "a trailing comma");
    snprintf(spec, sizeof(spec), "%s,%s", k32, k31);
    bad_spec(spec, "key 2 of 2 must be base64 of 32 bytes, got 31", k31, "a short old key");
    snprintf(spec, sizeof(spec), "%s,%s", k32, k32);
    bad_spec(spec, "key 2 has the same key id as key 1", k32, "a repeated key");

    /* Padding is optional. */
    char unpadded[64];
    snprintf(unpadded, sizeof(unpadded), "%s", k32);
    unpadded[strcspn(unpadded, "=")] = '\0';
    ok(strlen(unpadded) == 43, "test key is unpadded");
    struct sl_keyring *ring = NULL;
    ok(sl_keyring_parse(unpadded, &ring, NULL) == SL_OK && ring, "a key without padding parses");
    sl_keyring_destroy(ring);

    free(k31);
    free(k33);
    free(k32);
    free(k16);
}

static void test_generate(void)
{
    char a[64], b[64];
    struct sl_err err = {0};
    ok(sl_keyring_generate_b64(a, &err) == SL_OK && strlen(a) == 44, "generated key is 44 chars");
    ok(sl_keyring_generate_b64(b, &err) == SL_OK && strcmp(a, b) != 0, "two keys differ");
    struct sl_keyring *ring = NULL;
    ok(sl_keyring_parse(a, &ring, &err) == SL_OK, "a generated key parses as a keyring");
    sl_keyring_destroy(ring);
}

int main(void)
{
    plan_lazy();
    test_hex();
    test_base64_vectors();
    test_base64_alphabets();
    test_base64_garbage();
    test_base64_decode_buf();
    test_sha256();
    test_hmac();
    test_equal();
    test_random();
    test_seal_round_trip();
    test_seal_rotation();
    test_keyring_errors();
    test_generate();
    return done_testing();
}
