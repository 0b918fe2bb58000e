/* Unit tests of server/util.c. */
#include <string.h>

#include "tap.h"
#include "util.h"

int main(void)
{
    long v;
    ok(sl_parse_long("42", 0, 100, &v) && v == 42, "parses 42");
    ok(!sl_parse_long("", 0, 100, &v), "empty refused");
    ok(!sl_parse_long(" 1", 0, 100, &v), "leading space refused");
    ok(!sl_parse_long("1 ", 0, 100, &v), "trailing space refused");
    ok(!sl_parse_long("101", 0, 100, &v), "over max refused");
    ok(!sl_parse_long("-1", 0, 100, &v), "under min refused");
    ok(!sl_parse_long("99999999999999999999999", 0, __LONG_MAX__, &v), "overflow refused");

    ok(sl_valid_id("team_8f2c"), "plain id");
    ok(sl_valid_id("a"), "one char");
    char id64[65];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    ok(sl_valid_id(id64), "64 chars");
    char id65[66];
    memset(id65, 'a', 65);
    id65[65] = '\0';
    ok(!sl_valid_id(id65), "65 chars refused");
    ok(!sl_valid_id(""), "empty refused");
    ok(!sl_valid_id("a b"), "space refused");
    ok(!sl_valid_id("a/b"), "slash refused");
    ok(!sl_valid_id("é"), "non-ASCII refused");
    ok(!sl_valid_id(NULL), "NULL refused");

    ok(sl_blank("  \t\n") && sl_blank("") && sl_blank(NULL) && !sl_blank(" x "), "blank");

    struct sl_buf b;
    sl_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        sl_buf_printf(&b, "%d,", i);
    ok(b.len == strlen(b.data) && strncmp(b.data, "0,1,2,", 6) == 0, "buffer grows");
    char *taken = sl_buf_take(&b);
    ok(b.data == NULL && b.len == 0 && taken[0] == '0', "take empties");
    free(taken);

    const char *list = " a , ,b\t,";
    is_int(sl_list_count(list), 4, "a list of four entries");
    const char *cursor = list, *start;
    size_t len;
    const char *want[] = {"a", "", "b", ""};
    int got = 0;
    while (sl_list_next(&cursor, &start, &len)) {
        ok(got < 4 && len == strlen(want[got]) && strncmp(start, want[got], len) == 0,
           "entry %d trimmed: '%.*s'", got, (int)len, start);
        got++;
    }
    is_int(got, 4, "every entry given, then none");

    char small[4];
    ok(!sl_strlcpy(small, "hello", sizeof(small)) && strcmp(small, "hel") == 0,
       "strlcpy truncates and says so");
    char ts[32];
    sl_time_rfc3339(1733325596, ts);
    is_str(ts, "2024-12-04T15:19:56Z", "RFC 3339 UTC");
    return done_testing();
}
