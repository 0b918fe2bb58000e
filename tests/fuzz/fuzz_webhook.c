/*
 * fuzz_webhook.c: libFuzzer target for what an attacker controls on
 * POST /webhooks/stakha: the three signature headers and the body.
 *
 * Input layout: "<webhook-id>\n<timestamp>\n<signature header>\n<body...>".
 * Each part goes through sl_webhook_verify (with a fixed secret and clock)
 * and the body through sl_event_parse, under ASan and UBSan. A body that
 * parses must also survive the checks the handler relies on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "webhook_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_whsecrets *secrets;

static const uint8_t *next_line(const uint8_t *p, const uint8_t *end, char **out)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *stop = nl ? nl : end;
    *out = malloc((size_t)(stop - p) + 1);
    memcpy(*out, p, (size_t)(stop - p));
    (*out)[stop - p] = '\0';
    return nl ? nl + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!secrets && sl_whsecrets_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,"
                                       "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQ=",
                                       &secrets, NULL))
        abort();
    const uint8_t *end = data + size, *p = data;
    char *id, *ts, *sig;
    p = next_line(p, end, &id);
    p = next_line(p, end, &ts);
    p = next_line(p, end, &sig);
    struct sl_err err;
    enum sl_rc rc = sl_webhook_verify(secrets, id, ts, sig, p, (size_t)(end - p), 1614265330, &err);
    (void)rc;
    struct sl_event ev;
    if (sl_event_parse((const char *)p, (size_t)(end - p), &ev, &err) == SL_OK) {
        if (ev.type != SL_EVENT_UNKNOWN && (!ev.team_id || !ev.application_id))
            abort(); /* the handler relies on these for known types */
        sl_event_cleanup(&ev);
    }
    free(id);
    free(ts);
    free(sig);
    return 0;
}
