/*
 * webhook_sig.c: Standard Webhooks signature checks for POST /webhooks/stakha
 * (SPEC 5; reference/standard-webhooks.md).
 *
 * Design: the signed content is id "." timestamp "." body, MACed in three
 * parts so the body is never copied. For each configured secret (several
 * while Stakha rotates) one HMAC is computed, then the webhook-signature
 * header is walked in place: each space-separated `v1,<base64>` pair is
 * decoded into a 32-byte stack buffer and compared in constant time; other
 * versions (`v1a` is ed25519) and malformed pairs are skipped, as the
 * reference libraries do. The header is attacker-controlled and fuzzed, so
 * the walk never allocates and never reads past the NUL.
 *
 * Headers are checked before any MAC is computed: presence, shape, then the
 * timestamp against a tolerance of exactly SL_WEBHOOK_TOLERANCE_S both ways,
 * so that a stale replay costs no HMAC.
 *
 * Threads: request threads call sl_webhook_verify(); main parses the secrets
 * once at start-up; tests and benchmarks sign. Ownership: the secrets own
 * their decoded keys and wipe them on destroy.
 */
#include "webhook_sig.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "util.h"

#define SECRET_PREFIX "whsec_"
#define SIG_VERSION "v1"
#define SIG_B64_MAX 44          /* padded base64 of 32 bytes */
#define TIMESTAMP_MAX_DIGITS 18 /* fits int64_t with room to spare */

struct whsecret {
    unsigned char *key;
    size_t len;
};

struct sl_whsecrets {
    size_t n; /* at least 1 */
    struct whsecret items[];
};

enum sl_rc sl_whsecrets_parse(const char *spec, struct sl_whsecrets **out, struct sl_err *err)
{
    enum sl_rc rc = SL_OK;
    *out = NULL;
    if (sl_blank(spec))
        return sl_err_set(err, SL_ERR_CONFIG, "is empty; expected whsec_<base64>");

    size_t n = sl_list_count(spec);
    struct sl_whsecrets *s = sl_xcalloc(1, sizeof(*s) + n * sizeof(struct whsecret));
    s->n = n;

    const char *cursor = spec, *entry;
    size_t len;
    for (size_t i = 0; sl_list_next(&cursor, &entry, &len); i++) {
        const char *end = entry + len;
        size_t prefix_len = sizeof(SECRET_PREFIX) - 1;
        if ((size_t)(end - entry) >= prefix_len && memcmp(entry, SECRET_PREFIX, prefix_len) == 0)
            entry += prefix_len;

        if (entry == end) {
            rc = sl_err_set(err, SL_ERR_CONFIG, "entry %zu of %zu is empty", i + 1, n);
            goto out;
        }
        /* A first pass with no room only measures the key. */
        size_t need = 0;
        enum sl_rc drc = sl_base64_decode_buf(entry, (size_t)(end - entry), NULL, 0, &need, NULL);
        if (drc == SL_ERR_INVALID) {
            rc = sl_err_set(err, SL_ERR_CONFIG,
                            "entry %zu of %zu is not base64 (whsec_ followed by base64)", i + 1, n);
            goto out;
        }
        s->items[i].key = sl_xmalloc(need);
        drc = sl_base64_decode_buf(entry, (size_t)(end - entry), s->items[i].key, need,
                                   &s->items[i].len, NULL);
        SL_ASSERT(drc == SL_OK && s->items[i].len == need);
    }

out:
    if (rc) {
        sl_whsecrets_destroy(s);
        return rc;
    }
    *out = s;
    return SL_OK;
}

void sl_whsecrets_destroy(struct sl_whsecrets *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->items[i].key) {
            OPENSSL_cleanse(s->items[i].key, s->items[i].len);
            free(s->items[i].key);
        }
    }
    free(s);
}

static void sign_raw(const struct whsecret *secret, const char *msg_id, const char *timestamp,
                     const void *body, size_t body_len, unsigned char mac[SL_SHA256_LEN])
{
    const struct sl_crypto_part parts[] = {
        {msg_id, strlen(msg_id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1},
        {body, body_len},
    };
    sl_crypto_hmac_sha256_parts(secret->key, secret->len, parts, sizeof(parts) / sizeof(parts[0]),
                                mac);
}

/* A whole non-negative decimal integer of at most TIMESTAMP_MAX_DIGITS digits:
 * no sign, no white space, no fraction. */
static bool parse_timestamp(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i == TIMESTAMP_MAX_DIGITS)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return i > 0;
}

/* True when some `v1,<base64>` pair of `header` decodes to `mac`. */
static bool header_has(const char *header, const unsigned char mac[SL_SHA256_LEN])
{
    static const char version[] = SIG_VERSION ",";
    const size_t version_len = sizeof(version) - 1;
    bool found = false;
    const char *p = header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *pair = p;
        while (*p && *p != ' ')
            p++;
        size_t pair_len = (size_t)(p - pair);
        if (pair_len <= version_len || pair_len - version_len > SIG_B64_MAX ||
            memcmp(pair, version, version_len) != 0)
            continue;
        unsigned char sig[SL_SHA256_LEN];
        size_t got = 0;
        if (sl_base64_decode_buf(pair + version_len, pair_len - version_len, sig, sizeof(sig), &got,
                                 NULL) == SL_OK &&
            got == sizeof(sig) && sl_crypto_equal(sig, mac, sizeof(sig)))
            found = true;
    }
    return found;
}

enum sl_rc sl_webhook_verify(const struct sl_whsecrets *s, const char *msg_id,
                             const char *timestamp, const char *sig_header, const void *body,
                             size_t body_len, int64_t now_s, struct sl_err *err)
{
    if (!msg_id || !*msg_id)
        return sl_err_set(err, SL_ERR_AUTH, "missing webhook-id header");
    if (!timestamp || !*timestamp)
        return sl_err_set(err, SL_ERR_AUTH, "missing webhook-timestamp header");
    if (!sig_header || !*sig_header)
        return sl_err_set(err, SL_ERR_AUTH, "missing webhook-signature header");
    if (strchr(msg_id, '.'))
        return sl_err_set(err, SL_ERR_AUTH, "malformed webhook-id");

    int64_t ts;
    if (!parse_timestamp(timestamp, &ts))
        return sl_err_set(err, SL_ERR_AUTH, "malformed timestamp");
    /* Unsigned differences: `now_s` may be anything, `ts` is in [0, 10^18). */
    if (now_s > ts && (uint64_t)now_s - (uint64_t)ts > SL_WEBHOOK_TOLERANCE_S)
        return sl_err_set(err, SL_ERR_AUTH, "timestamp too old");
    if (ts > now_s && (uint64_t)ts - (uint64_t)now_s > SL_WEBHOOK_TOLERANCE_S)
        return sl_err_set(err, SL_ERR_AUTH, "timestamp too far in the future");

    if (!s)
        return sl_err_set(err, SL_ERR_AUTH, "no webhook secret configured");
    bool found = false;
    unsigned char mac[SL_SHA256_LEN];
    for (size_t i = 0; i < s->n && !found; i++) {
        sign_raw(&s->items[i], msg_id, timestamp, body, body_len, mac);
        found = header_has(sig_header, mac);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!found)
        return sl_err_set(err, SL_ERR_AUTH, "no matching signature");
    return SL_OK;
}

char *sl_webhook_sign(const struct sl_whsecrets *s, const char *msg_id, const char *timestamp,
                      const void *body, size_t len)
{
    SL_ASSERT(s && s->n > 0);
    unsigned char mac[SL_SHA256_LEN];
    sign_raw(&s->items[0], msg_id, timestamp, body, len, mac);
    char *b64 = sl_base64_encode(mac, sizeof(mac));
    size_t size = sizeof(SIG_VERSION ",") + strlen(b64);
    char *out = sl_xmalloc(size);
    snprintf(out, size, SIG_VERSION ",%s", b64);
    free(b64);
    return out;
}
