/*
 * test_webhook_sig.c: server/webhook_sig.c against the Standard Webhooks
 * reference vector and the cases its reference libraries test
 * (reference/standard-webhooks.md), plus secret parsing and garbage headers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"
#include "webhook_sig.h"

/* The reference libraries' known-answer vector. */
#define KAT_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KAT_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define KAT_TS "1614265330"
#define KAT_NOW 1614265330
#define KAT_BODY "{\"test\": 2432232314}"
#define KAT_SIG_B64 "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define KAT_SIG "v1," KAT_SIG_B64

static struct sl_whsecrets *must_parse(const char *spec)
{
    struct sl_whsecrets *s = NULL;
    struct sl_err err = {0};
    if (sl_whsecrets_parse(spec, &s, &err) != SL_OK)
        BAIL_OUT("sl_whsecrets_parse: %s", err.msg);
    return s;
}

/* Verifies and returns the reason ("" on success) in `why`. */
static enum sl_rc verify(const struct sl_whsecrets *s, const char *id, const char *ts,
                         const char *sig, const char *body, int64_t now, char why[256])
{
    struct sl_err err = {0};
    enum sl_rc rc = sl_webhook_verify(s, id, ts, sig, body, body ? strlen(body) : 0, now, &err);
    snprintf(why, 256, "%s", rc ? err.msg : "");
    if (rc && err.rc != rc)
        diag("error code %d not recorded in err", rc);
    return rc;
}

static void test_known_answer(void)
{
    char why[256];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);
    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_OK,
       "the reference vector verifies %s", why);
    char *sig = sl_webhook_sign(s, KAT_ID, KAT_TS, KAT_BODY, strlen(KAT_BODY));
    is_str(sig, KAT_SIG, "signing reproduces the reference signature");
    free(sig);
    sl_whsecrets_destroy(s);

    s = must_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_OK,
       "a secret without the whsec_ prefix works %s", why);
    sl_whsecrets_destroy(s);
}

static void test_tampering(void)
{
    char why[256];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);

    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, "{\"test\": 2432232315}", KAT_NOW, why) == SL_ERR_AUTH &&
           strcmp(why, "no matching signature") == 0,
       "one changed byte of the body fails: %s", why);
    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, "{\"test\": 2432232314} ", KAT_NOW, why) == SL_ERR_AUTH,
       "one extra byte of body fails");
    ok(verify(s, "msg_p5jXN8AQM9LWM0D4loKWxJeK", KAT_TS, KAT_SIG, KAT_BODY, KAT_NOW, why) ==
               SL_ERR_AUTH &&
           strcmp(why, "no matching signature") == 0,
       "one changed byte of the id fails: %s", why);
    ok(verify(s, KAT_ID, "1614265331", KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH &&
           strcmp(why, "no matching signature") == 0,
       "one changed digit of the timestamp (still in tolerance) fails: %s", why);
    ok(verify(s, KAT_ID, KAT_TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", KAT_BODY,
              KAT_NOW, why) == SL_ERR_AUTH,
       "one changed bit of the signature fails");

    struct sl_whsecrets *other = must_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx");
    ok(verify(other, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "another secret fails");
    sl_whsecrets_destroy(other);

    /* The body length is what counts, not a NUL inside it. */
    const char body[] = "ab\0cd";
    char *sig = sl_webhook_sign(s, "msg_1", KAT_TS, body, 5);
    struct sl_err err = {0};
    ok(sl_webhook_verify(s, "msg_1", KAT_TS, sig, body, 5, KAT_NOW, &err) == SL_OK,
       "a body with a NUL byte verifies over its full length");
    ok(sl_webhook_verify(s, "msg_1", KAT_TS, sig, body, 2, KAT_NOW, &err) == SL_ERR_AUTH,
       "a body cut at the NUL fails");
    free(sig);

    sig = sl_webhook_sign(s, "msg_2", KAT_TS, NULL, 0);
    ok(sl_webhook_verify(s, "msg_2", KAT_TS, sig, NULL, 0, KAT_NOW, &err) == SL_OK,
       "an empty body signs and verifies");
    ok(sl_webhook_verify(s, "msg_2", KAT_TS, sig, "x", 1, KAT_NOW, &err) == SL_ERR_AUTH,
       "a non-empty body against the empty body's signature fails");
    free(sig);
    sl_whsecrets_destroy(s);
}

static void test_several_signatures(void)
{
    char why[256], header[512];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);
    const char *wrong1 = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=";
    const char *wrong2 = "v1,3p7a0jzcTC1e0PZ3hS6aLYvmp0jE0+ZKv9GwN5B1Dbs=";

    snprintf(header, sizeof(header), "%s %s %s", wrong1, wrong2, KAT_SIG);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_OK,
       "three signatures where only the last matches %s", why);
    snprintf(header, sizeof(header), "%s %s %s", KAT_SIG, wrong1, wrong2);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_OK,
       "three signatures where only the first matches %s", why);
    snprintf(header, sizeof(header), "%s %s", wrong1, wrong2);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH &&
           strcmp(why, "no matching signature") == 0,
       "two signatures, none matching: %s", why);
    snprintf(header, sizeof(header), "  v1a,abc   v2,%s  %s  ", KAT_SIG_B64, KAT_SIG);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_OK,
       "other versions and extra spaces around a good pair are skipped %s", why);
    snprintf(header, sizeof(header), "v1,!!!! v1, %s", KAT_SIG);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_OK,
       "malformed pairs before a good one are skipped %s", why);

    /* The right signature under another version is refused. */
    snprintf(header, sizeof(header), "v1a,%s", KAT_SIG_B64);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH &&
           strcmp(why, "no matching signature") == 0,
       "a v1a-only header is refused: %s", why);
    snprintf(header, sizeof(header), "v2,%s", KAT_SIG_B64);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "a v2-only header is refused");
    snprintf(header, sizeof(header), "V1,%s", KAT_SIG_B64);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "the version is case-sensitive");
    snprintf(header, sizeof(header), "%sx", KAT_SIG);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "trailing garbage on the signature is refused");
    /* Decoded bytes are compared, so the same signature without its padding
     * is the same MAC; a last character with stray low bits is not base64. */
    snprintf(header, sizeof(header), "%.*s", (int)strlen(KAT_SIG) - 1, KAT_SIG);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_OK,
       "the right signature without its padding is accepted %s", why);
    header[strlen(header) - 1] = 'F';
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "a non-canonical last character (same bytes if its stray bits were dropped) is refused");
    snprintf(header, sizeof(header), "%s,%s", KAT_SIG, KAT_SIG_B64);
    ok(verify(s, KAT_ID, KAT_TS, header, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "pairs joined by a comma instead of a space are refused");
    sl_whsecrets_destroy(s);
}

static void test_rotated_secrets(void)
{
    char why[256];
    const char *first = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *second = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdA==";
    char spec[256];
    snprintf(spec, sizeof(spec), "%s, %s", first, second);
    struct sl_whsecrets *both = must_parse(spec);
    struct sl_whsecrets *only_second = must_parse(second);
    struct sl_whsecrets *only_first = must_parse(first);

    char *sig = sl_webhook_sign(only_second, "msg_rot", KAT_TS, KAT_BODY, strlen(KAT_BODY));
    ok(verify(both, "msg_rot", KAT_TS, sig, KAT_BODY, KAT_NOW, why) == SL_OK,
       "an event signed with the second secret of a rotated list verifies %s", why);
    ok(verify(only_first, "msg_rot", KAT_TS, sig, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "but not against the first secret alone");
    free(sig);

    sig = sl_webhook_sign(both, "msg_rot", KAT_TS, KAT_BODY, strlen(KAT_BODY));
    char *sig_first = sl_webhook_sign(only_first, "msg_rot", KAT_TS, KAT_BODY, strlen(KAT_BODY));
    is_str(sig, sig_first, "signing uses the first secret of the list");
    free(sig);
    free(sig_first);

    sl_whsecrets_destroy(both);
    sl_whsecrets_destroy(only_second);
    sl_whsecrets_destroy(only_first);
}

static void test_unpadded_secret(void)
{
    char why[256];
    unsigned char key[32];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 37 + 11);
    char *b64 = sl_base64_encode(key, sizeof(key));
    ok(strlen(b64) == 44 && b64[43] == '=', "a 32-byte secret has one padding character");
    char padded[80], bare[80];
    snprintf(padded, sizeof(padded), "whsec_%s", b64);
    snprintf(bare, sizeof(bare), "%.43s", b64);

    struct sl_whsecrets *signer = must_parse(padded);
    struct sl_whsecrets *verifier = must_parse(bare);
    char *sig = sl_webhook_sign(signer, "msg_pad", KAT_TS, "{}", 2);
    ok(verify(verifier, "msg_pad", KAT_TS, sig, "{}", KAT_NOW, why) == SL_OK,
       "a secret without prefix and without padding is the same key %s", why);
    free(sig);
    free(b64);
    sl_whsecrets_destroy(signer);
    sl_whsecrets_destroy(verifier);
}

static void test_tolerance(void)
{
    char why[256], ts[32];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);
    const int64_t now = 1700000000;
    static const struct {
        int64_t offset;
        enum sl_rc want;
        const char *why;
    } cases[] = {
        {0, SL_OK, ""},
        {-299, SL_OK, ""},
        {299, SL_OK, ""},
        {-300, SL_OK, ""},
        {300, SL_OK, ""},
        {-301, SL_ERR_AUTH, "timestamp too old"},
        {301, SL_ERR_AUTH, "timestamp too far in the future"},
        {-86400, SL_ERR_AUTH, "timestamp too old"},
        {86400, SL_ERR_AUTH, "timestamp too far in the future"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(ts, sizeof(ts), "%lld", (long long)(now + cases[i].offset));
        char *sig = sl_webhook_sign(s, "msg_t", ts, KAT_BODY, strlen(KAT_BODY));
        enum sl_rc rc = verify(s, "msg_t", ts, sig, KAT_BODY, now, why);
        ok(rc == cases[i].want && strcmp(why, cases[i].why) == 0,
           "a correctly signed timestamp %+lld s from now: %s", (long long)cases[i].offset,
           rc ? why : "accepted");
        free(sig);
    }

    /* Extreme clocks must not overflow. */
    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, INT64_MIN, why) == SL_ERR_AUTH &&
           strcmp(why, "timestamp too far in the future") == 0,
       "now = INT64_MIN: %s", why);
    ok(verify(s, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, INT64_MAX, why) == SL_ERR_AUTH &&
           strcmp(why, "timestamp too old") == 0,
       "now = INT64_MAX: %s", why);
    ok(verify(s, KAT_ID, "999999999999999999", KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH &&
           strcmp(why, "timestamp too far in the future") == 0,
       "an 18-digit timestamp is far in the future");
    sl_whsecrets_destroy(s);
}

static void test_malformed_headers(void)
{
    char why[256];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);

    static const struct {
        const char *id, *ts, *sig, *why;
    } cases[] = {
        {NULL, KAT_TS, KAT_SIG, "missing webhook-id header"},
        {"", KAT_TS, KAT_SIG, "missing webhook-id header"},
        {KAT_ID, NULL, KAT_SIG, "missing webhook-timestamp header"},
        {KAT_ID, "", KAT_SIG, "missing webhook-timestamp header"},
        {KAT_ID, KAT_TS, NULL, "missing webhook-signature header"},
        {KAT_ID, KAT_TS, "", "missing webhook-signature header"},
        {"msg.1", KAT_TS, KAT_SIG, "malformed webhook-id"},
        {KAT_ID, "1614265330.0", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "1614265330.", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "abc", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "-1614265330", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "+1614265330", KAT_SIG, "malformed timestamp"},
        {KAT_ID, " 1614265330", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "1614265330 ", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "0x6037c5f2", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "1.6e9", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "99999999999999999999999", KAT_SIG, "malformed timestamp"},
        {KAT_ID, "0000000000000000001614265330", KAT_SIG, "malformed timestamp"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum sl_rc rc = verify(s, cases[i].id, cases[i].ts, cases[i].sig, KAT_BODY, KAT_NOW, why);
        ok(rc == SL_ERR_AUTH && strcmp(why, cases[i].why) == 0, "id=%s ts=%s sig=%s is refused: %s",
           cases[i].id ? cases[i].id : "(none)", cases[i].ts ? cases[i].ts : "(none)",
           cases[i].sig ? "(given)" : "(none)", why);
    }

    ok(verify(NULL, KAT_ID, KAT_TS, KAT_SIG, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "no secrets refuses everything");
    sl_whsecrets_destroy(s);
}

static void test_garbage_signatures(void)
{
    char why[256];
    struct sl_whsecrets *s = must_parse(KAT_SECRET);
    static const char *const garbage[] = {
        " ",    ",",           "v1,",  "v1,!!!!",        "v1",          "v1 ",
        ",,,,", "v1,,",        "v1,=", "v1,====",        "v1,A",        "v1,AAAA",
        "\t",   "v1,\xff\xfe", "v1a,", "\x80\x81 \x82,", "v1,g0hM9SsE", "v1:abc",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        ok(verify(s, KAT_ID, KAT_TS, garbage[i], KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH &&
               strcmp(why, "no matching signature") == 0,
           "garbage header #%zu is refused: %s", i, why);

    /* Very long headers: many pairs, one huge pair, and a huge one with the
     * right signature at the very end. */
    size_t big = 1 << 20;
    char *h = malloc(big + 64);
    for (size_t i = 0; i + 8 <= big; i += 8)
        memcpy(h + i, "v1,AAAA ", 8);
    h[big] = '\0';
    ok(verify(s, KAT_ID, KAT_TS, h, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "a 1 MiB header of short pairs is refused");
    memcpy(h + big, KAT_SIG, strlen(KAT_SIG) + 1);
    ok(verify(s, KAT_ID, KAT_TS, h, KAT_BODY, KAT_NOW, why) == SL_OK,
       "the right signature after 1 MiB of junk pairs is found %s", why);
    memset(h, 'A', big);
    memcpy(h, "v1,", 3);
    h[big] = '\0';
    ok(verify(s, KAT_ID, KAT_TS, h, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH,
       "a single 1 MiB pair is refused");
    free(h);

    /* Random bytes, many times: refused, and no sanitizer report. */
    uint32_t state = 12345;
    char buf[200];
    int refused = 0;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 190);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            static const char pick[] = "v1a, ,AZaz09+/=-_\x01\xff";
            buf[i] = (state >> 16) % 3 ? pick[(state >> 8) % (sizeof(pick) - 1)]
                                       : (char)(1 + (state >> 8) % 255);
        }
        buf[len] = '\0';
        refused += verify(s, KAT_ID, KAT_TS, buf, KAT_BODY, KAT_NOW, why) == SL_ERR_AUTH;
    }
    is_int(refused, 2000, "2000 random headers are all refused");
    sl_whsecrets_destroy(s);
}

/* Parses a bad spec; checks the code, the message and that no secret leaks. */
static void bad_spec(const char *spec, const char *want, const char *secret, const char *what)
{
    struct sl_whsecrets *s = (struct sl_whsecrets *)&s;
    struct sl_err err = {0};
    enum sl_rc rc = sl_whsecrets_parse(spec, &s, &err);
    ok(rc == SL_ERR_CONFIG && err.rc == SL_ERR_CONFIG && s == NULL, "%s is refused", what);
    ok(strstr(err.msg, want) != NULL, "%s: message \"%s\" says \"%s\"", what, err.msg, want);
    if (secret)
        ok(!strstr(err.msg, secret), "%s: message does not contain a secret", what);
}

static void test_secret_parsing(void)
{
    bad_spec("", "empty", NULL, "an empty secret");
    bad_spec("  ", "empty", NULL, "a blank secret");
    bad_spec(NULL, "empty", NULL, "a NULL secret");
    bad_spec("whsec_", "entry 1 of 1 is empty", NULL, "a bare prefix");
    bad_spec("whsec_MfKQ9r8G*YqrTwjUPD8ILPZIo2LaLaSw", "entry 1 of 1 is not base64", "MfKQ9r8G",
             "a non-base64 secret");
    bad_spec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,not base64!", "entry 2 of 2 is not base64",
             "MfKQ9r8G", "a bad second entry");
    bad_spec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
             "entry 2 of 3 is empty", "MfKQ9r8G", "an empty middle entry");
    bad_spec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,", "entry 2 of 2 is empty", "MfKQ9r8G",
             "a trailing comma");
    bad_spec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "entry 1 of 1 is not base64", "MfKQ9r8G",
             "a secret with a character cut off");

    struct sl_whsecrets *s = NULL;
    ok(sl_whsecrets_parse(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ,\tMfKQ9r8GKYqrTwjUPD8ILPZIo2"
                          "LaLaSw",
                          &s, NULL) == SL_OK &&
           s,
       "white space around entries is ignored");
    sl_whsecrets_destroy(s);
    sl_whsecrets_destroy(NULL);
}

int main(void)
{
    plan_lazy();
    test_known_answer();
    test_tampering();
    test_several_signatures();
    test_rotated_secrets();
    test_unpadded_secret();
    test_tolerance();
    test_malformed_headers();
    test_garbage_signatures();
    test_secret_parsing();
    return done_testing();
}
