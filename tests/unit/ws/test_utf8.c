/*
 * test_utf8.c: the incremental UTF-8 validator: valid text of every length class,
 * boundaries (U+007F/80, U+07FF/800, U+FFFF/10000, U+10FFFF), overlong forms,
 * surrogates, code points above U+10FFFF, stray and missing continuation bytes,
 * and every split point of every case fed in two (and byte-by-byte) pieces, which
 * must agree with the one-shot answer. All 2^16 two-byte strings are checked
 * against a decoder written from RFC 3629's table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

typedef struct {
    const char *bytes;
    size_t len;
    bool valid;
} utf8_case;

#define C(s, v)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1, v                                                                        \
    }

static const utf8_case cases[] = {
    C("", true),
    C("hello, world", true),
    C("\x7f", true),
    C("\xc2\x80", true),                                     /* U+0080 */
    C("\xdf\xbf", true),                                     /* U+07FF */
    C("\xe0\xa0\x80", true),                                 /* U+0800 */
    C("\xed\x9f\xbf", true),                                 /* U+D7FF */
    C("\xee\x80\x80", true),                                 /* U+E000 */
    C("\xef\xbf\xbf", true),                                 /* U+FFFF */
    C("\xf0\x90\x80\x80", true),                             /* U+10000 */
    C("\xf4\x8f\xbf\xbf", true),                             /* U+10FFFF */
    C("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true), /* "kosme" (Greek) */
    C("\xc0\x80", false),                                    /* overlong NUL */
    C("\xc1\xbf", false),                                    /* overlong U+007F */
    C("\xe0\x80\xaf", false),                                /* overlong '/' */
    C("\xe0\x9f\xbf", false),                                /* overlong U+07FF */
    C("\xf0\x8f\xbf\xbf", false),                            /* overlong U+FFFF */
    C("\xed\xa0\x80", false),                                /* U+D800 surrogate */
    C("\xed\xbf\xbf", false),                                /* U+DFFF surrogate */
    C("\xed\xa0\x80\xed\xb0\x80", false),                    /* surrogate pair in CESU form */
    C("\xf4\x90\x80\x80", false),                            /* U+110000 */
    C("\xf5\x80\x80\x80", false),                            /* lead byte beyond range */
    C("\xff", false),
    C("\xfe", false),
    C("\x80", false), /* stray continuation */
    C("a\xbf", false),
    C("\xc2", false), /* truncated */
    C("\xe1\x80", false),
    C("\xf0\x90\x80", false),
    C("\xc2\x41", false), /* lead then ASCII */
    C("\xe1\x80\x41", false),
    C("\xf0\x90\x80\xc0", false),
    C("0123456789abcdef0123456789abcdef\xc3\xa9", true), /* ASCII fast path then 2-byte */
    C("0123456789abcdef0123456789abcde\xc3\xa9x", true),
    C("0123456789abcdef0123456789abcdef\x80", false),
    C("0123456789abcdef\xed\xa0\x80", false),
};

static void test_whole_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (flare_ws_utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
}

/* Fed in two pieces at every split, the answer is the same; when invalid, the
 * first piece that proves it must say so (fail fast), never only at the end. */
static void test_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const utf8_case *c = &cases[i];
        for (size_t cut = 0; cut <= c->len; cut++) {
            flare_ws_utf8 v;
            flare_ws_utf8_reset(&v);
            bool ok = flare_ws_utf8_feed(&v, c->bytes, cut);
            ok = ok && flare_ws_utf8_feed(&v, c->bytes + cut, c->len - cut);
            bool valid = ok && flare_ws_utf8_complete(&v);
            if (valid != c->valid) fail_msg("case %zu split at %zu disagrees", i, cut);
        }
        flare_ws_utf8 v = {0};
        bool ok = true;
        for (size_t k = 0; k < c->len && ok; k++)
            ok = flare_ws_utf8_feed(&v, c->bytes + k, 1);
        assert_int_equal(ok && flare_ws_utf8_complete(&v), c->valid);
    }
}

/* A truncated sequence at the end of one fragment completed by the next is fine;
 * ended by the message it is not. */
static void test_truncated_across_fragments(void **state)
{
    (void)state;
    flare_ws_utf8 v = {0};
    assert_true(flare_ws_utf8_feed(&v, "ab\xf0\x9f", 4));
    assert_false(flare_ws_utf8_complete(&v));
    assert_true(flare_ws_utf8_feed(&v, "\x98", 1));
    assert_false(flare_ws_utf8_complete(&v));
    assert_true(flare_ws_utf8_feed(&v, "\x80!", 2)); /* U+1F600 */
    assert_true(flare_ws_utf8_complete(&v));
    /* Invalid is sticky. */
    assert_false(flare_ws_utf8_feed(&v, "\xff", 1));
    assert_false(flare_ws_utf8_feed(&v, "ok", 2));
    assert_false(flare_ws_utf8_complete(&v));
    flare_ws_utf8_reset(&v);
    assert_true(flare_ws_utf8_complete(&v));
}

/* RFC 3629 table, written independently: decode and check range. */
static bool reference_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

static void test_all_two_and_three_byte_prefixes(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            uint8_t s[2] = {(uint8_t)a, (uint8_t)b};
            if (flare_ws_utf8_valid(s, 2) != reference_valid(s, 2))
                fail_msg("bytes %02x %02x disagree with the reference", a, b);
        }
    /* Every 3-byte string with a lead of E0..F4 and continuation-ish tails. */
    for (unsigned a = 0xe0; a <= 0xf4; a++)
        for (unsigned b = 0x70; b < 0xd0; b++)
            for (unsigned c = 0x70; c < 0xd0; c++) {
                uint8_t s[4] = {(uint8_t)a, (uint8_t)b, (uint8_t)c, 0x80};
                size_t n = a >= 0xf0 ? 4 : 3;
                if (flare_ws_utf8_valid(s, n) != reference_valid(s, n))
                    fail_msg("bytes %02x %02x %02x disagree with the reference", a, b, c);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_strings),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_truncated_across_fragments),
        cmocka_unit_test(test_all_two_and_three_byte_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
