/*
 * test_headers.c: known-header and method ids, and the lookups built on them.
 * Every known name is tried in several cases and with every byte value at every
 * position, which pins down the word-compare-with-0x20-fold trick exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_parser.h"

static const struct {
    const char *name;
    flare_http_hdr id;
} known[] = {
    {"host", FLARE_HDR_HOST},
    {"content-length", FLARE_HDR_CONTENT_LENGTH},
    {"transfer-encoding", FLARE_HDR_TRANSFER_ENCODING},
    {"connection", FLARE_HDR_CONNECTION},
    {"expect", FLARE_HDR_EXPECT},
    {"upgrade", FLARE_HDR_UPGRADE},
    {"content-type", FLARE_HDR_CONTENT_TYPE},
    {"accept-encoding", FLARE_HDR_ACCEPT_ENCODING},
    {"content-encoding", FLARE_HDR_CONTENT_ENCODING},
    {"keep-alive", FLARE_HDR_KEEP_ALIVE},
    {"te", FLARE_HDR_TE},
    {"trailer", FLARE_HDR_TRAILER},
    {"user-agent", FLARE_HDR_USER_AGENT},
    {"referer", FLARE_HDR_REFERER},
    {"cookie", FLARE_HDR_COOKIE},
    {"set-cookie", FLARE_HDR_SET_COOKIE},
    {"location", FLARE_HDR_LOCATION},
    {"if-none-match", FLARE_HDR_IF_NONE_MATCH},
    {"if-modified-since", FLARE_HDR_IF_MODIFIED_SINCE},
    {"if-match", FLARE_HDR_IF_MATCH},
    {"if-unmodified-since", FLARE_HDR_IF_UNMODIFIED_SINCE},
    {"if-range", FLARE_HDR_IF_RANGE},
    {"range", FLARE_HDR_RANGE},
    {"authorization", FLARE_HDR_AUTHORIZATION},
    {"origin", FLARE_HDR_ORIGIN},
    {"sec-websocket-key", FLARE_HDR_SEC_WEBSOCKET_KEY},
    {"sec-websocket-version", FLARE_HDR_SEC_WEBSOCKET_VERSION},
    {"sec-websocket-protocol", FLARE_HDR_SEC_WEBSOCKET_PROTOCOL},
    {"sec-websocket-extensions", FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS},
    {"x-forwarded-for", FLARE_HDR_X_FORWARDED_FOR},
};
#define N_KNOWN (sizeof known / sizeof known[0])

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

static void test_every_id_listed_once(void **state)
{
    (void)state;
    int seen[FLARE_HDR__COUNT] = {0};
    for (size_t i = 0; i < N_KNOWN; i++)
        seen[known[i].id]++;
    assert_int_equal(seen[FLARE_HDR_OTHER], 0);
    for (int id = 1; id < FLARE_HDR__COUNT; id++)
        assert_int_equal(seen[id], 1);
}

static void test_known_names_any_case(void **state)
{
    (void)state;
    char buf[64];
    for (size_t i = 0; i < N_KNOWN; i++) {
        const char *name = known[i].name;
        size_t n = strlen(name);
        assert_int_equal(flare_http_header_id(name, n), known[i].id);
        for (size_t k = 0; k < n; k++)
            buf[k] = upper(name[k]);
        assert_int_equal(flare_http_header_id(buf, n), known[i].id);
        /* Alternating case, starting either way. */
        for (int start = 0; start < 2; start++) {
            for (size_t k = 0; k < n; k++)
                buf[k] = (k % 2 == (size_t)start) ? upper(name[k]) : name[k];
            assert_int_equal(flare_http_header_id(buf, n), known[i].id);
        }
    }
    assert_int_equal(flare_http_header_id("Content-Length", 14), FLARE_HDR_CONTENT_LENGTH);
    assert_int_equal(flare_http_header_id("Sec-WebSocket-Key", 17), FLARE_HDR_SEC_WEBSOCKET_KEY);
}

/* Only the same letter in either case keeps the id; any other byte loses it. */
static void test_every_byte_at_every_position(void **state)
{
    (void)state;
    char buf[64];
    for (size_t i = 0; i < N_KNOWN; i++) {
        const char *name = known[i].name;
        size_t n = strlen(name);
        memcpy(buf, name, n);
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 0; b < 256; b++) {
                buf[pos] = (char)b;
                bool same = (char)b == name[pos] || (char)b == upper(name[pos]);
                flare_http_hdr got = flare_http_header_id(buf, n);
                if (same != (got == known[i].id))
                    fail_msg("%s with 0x%02x at %zu gave id %d", name, b, pos, got);
                if (!same) assert_int_equal(got, FLARE_HDR_OTHER);
            }
            buf[pos] = name[pos];
        }
    }
}

static void test_near_misses(void **state)
{
    (void)state;
    char buf[64];
    for (size_t i = 0; i < N_KNOWN; i++) {
        const char *name = known[i].name;
        size_t n = strlen(name);
        memcpy(buf, name, n);
        buf[n] = 's';
        assert_int_equal(flare_http_header_id(buf, n + 1), FLARE_HDR_OTHER);
        assert_int_equal(flare_http_header_id(buf, n - 1), FLARE_HDR_OTHER);
        assert_int_equal(flare_http_header_id(buf + 1, n - 1), FLARE_HDR_OTHER);
    }
    /* CR ORed with 0x20 is '-': the public lookup must not be fooled. */
    assert_int_equal(flare_http_header_id("content\rlength", 14), FLARE_HDR_OTHER);
    assert_int_equal(flare_http_header_id("x\rforwarded\rfor", 15), FLARE_HDR_OTHER);
    assert_int_equal(flare_http_header_id("", 0), FLARE_HDR_OTHER);
    assert_int_equal(flare_http_header_id(NULL, 4), FLARE_HDR_OTHER);
    assert_int_equal(flare_http_header_id("accept", 6), FLARE_HDR_OTHER);
    assert_int_equal(flare_http_header_id("content-lengtH", 14), FLARE_HDR_CONTENT_LENGTH);
    assert_int_equal(flare_http_header_id("hostt", 4), FLARE_HDR_HOST);
}

static void test_methods(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        flare_http_method id;
    } methods[] = {
        {"GET", FLARE_METHOD_GET},         {"HEAD", FLARE_METHOD_HEAD},
        {"POST", FLARE_METHOD_POST},       {"PUT", FLARE_METHOD_PUT},
        {"DELETE", FLARE_METHOD_DELETE},   {"CONNECT", FLARE_METHOD_CONNECT},
        {"OPTIONS", FLARE_METHOD_OPTIONS}, {"TRACE", FLARE_METHOD_TRACE},
        {"PATCH", FLARE_METHOD_PATCH},
    };
    char buf[16];
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const char *m = methods[i].name;
        size_t n = strlen(m);
        assert_int_equal(flare_http_method_id(m, n), methods[i].id);
        assert_string_equal(flare_http_method_name(methods[i].id), m);
        /* Case-sensitive (RFC 9110 §9.1): any change of any byte loses the id. */
        memcpy(buf, m, n);
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 0; b < 256; b++) {
                if ((char)b == m[pos]) continue;
                buf[pos] = (char)b;
                assert_int_equal(flare_http_method_id(buf, n), FLARE_METHOD_OTHER);
            }
            buf[pos] = m[pos];
        }
        assert_int_equal(flare_http_method_id(m, n - 1), FLARE_METHOD_OTHER);
    }
    assert_int_equal(flare_http_method_id("get", 3), FLARE_METHOD_OTHER);
    assert_int_equal(flare_http_method_id("PROPFIND", 8), FLARE_METHOD_OTHER);
    assert_int_equal(flare_http_method_id(NULL, 3), FLARE_METHOD_OTHER);
    assert_int_equal(flare_http_method_id("", 0), FLARE_METHOD_OTHER);
    assert_null(flare_http_method_name(FLARE_METHOD_OTHER));
    assert_null(flare_http_method_name(FLARE_METHOD__COUNT));
    assert_null(flare_http_method_name((flare_http_method)200));
}

static void test_find_header(void **state)
{
    (void)state;
    flare_http_header h[3] = {
        {.name = "X-One", .name_len = 5, .value = "1", .value_len = 1},
        {.name = "Accept", .name_len = 6, .value = "*/*", .value_len = 3},
        {.name = "x-one", .name_len = 5, .value = "2", .value_len = 1},
    };
    assert_ptr_equal(flare_http_find_header(h, 3, "x-ONE", 5), &h[0]);
    assert_ptr_equal(flare_http_find_header(h, 3, "ACCEPT", 6), &h[1]);
    assert_null(flare_http_find_header(h, 3, "Accep", 5));
    assert_null(flare_http_find_header(h, 3, "X-Two", 5));
    assert_null(flare_http_find_header(h, 0, "X-One", 5));
    assert_null(flare_http_find_header(NULL, 3, "X-One", 5));
    assert_null(flare_http_find_header(h, 3, NULL, 0));
    /* '[' and '{' differ by 0x20 but are not letters. */
    flare_http_header odd = {.name = "a[", .name_len = 2};
    assert_null(flare_http_find_header(&odd, 1, "a{", 2));
}

static void test_field_name_eq(void **state)
{
    (void)state;
    assert_true(flare_http_field_name_eq("User-Agent", 10, "user-agent", 10));
    assert_true(flare_http_field_name_eq("x-api-key", 9, "X-API-KEY", 9));
    assert_true(flare_http_field_name_eq(NULL, 0, "", 0));
    assert_false(flare_http_field_name_eq("User-Agent", 10, "user-agen", 9));
    assert_false(flare_http_field_name_eq("User-Agent", 9, "user-agent", 10));
    assert_false(flare_http_field_name_eq("X-One", 5, "X-Two", 5));
    /* '@' and '`' differ by 0x20 but are not letters; nor is byte 0xc4 from 0xe4. */
    assert_false(flare_http_field_name_eq("a@", 2, "a`", 2));
    assert_false(flare_http_field_name_eq("\xc4", 1, "\xe4", 1));
}

static void test_value_has_token(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade ,\tclose";
    size_t n = strlen(v);
    assert_true(flare_http_value_has_token(v, n, "keep-alive"));
    assert_true(flare_http_value_has_token(v, n, "upgrade"));
    assert_true(flare_http_value_has_token(v, n, "CLOSE"));
    assert_false(flare_http_value_has_token(v, n, "keep"));
    assert_false(flare_http_value_has_token(v, n, "alive"));
    assert_false(flare_http_value_has_token(v, n - 1, "close"));
    assert_true(flare_http_value_has_token(",,a,,", 5, "a"));
    assert_false(flare_http_value_has_token("", 0, "a"));
    assert_false(flare_http_value_has_token(" , ", 3, ""));
    assert_false(flare_http_value_has_token("ab", 2, "a"));
    assert_false(flare_http_value_has_token(NULL, 3, "a"));
    assert_false(flare_http_value_has_token("a", 1, NULL));
}

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
 * "|" / "~" / DIGIT / ALPHA (RFC 9110 §5.6.2), spelled out here for every byte. */
static void test_tokens(void **state)
{
    (void)state;
    static const char rfc_tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int c = 0; c < 256; c++) {
        bool expected = c != 0 && memchr(rfc_tchar, c, sizeof rfc_tchar - 1) != NULL;
        if (flare_http_is_tchar((unsigned char)c) != expected) fail_msg("byte 0x%02x", c);
        char one = (char)c;
        assert_int_equal(flare_http_is_token(&one, 1), expected);
    }
    assert_true(flare_http_is_token("X-Request-Id", 12));
    assert_false(flare_http_is_token("", 0));
    assert_false(flare_http_is_token("a b", 3));
    assert_false(flare_http_is_token("caf\xc3\xa9", 5)); /* UTF-8 is not a token */
    assert_false(flare_http_is_token("name:", 5));
}

/* field-value bytes (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB; no other control. */
static void test_field_values(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        bool expected = c == '\t' || (c >= 0x20 && c != 0x7f);
        if (flare_http_is_field_value(&one, 1) != expected) fail_msg("byte 0x%02x", c);
    }
    assert_true(flare_http_is_field_value("", 0));
    assert_true(flare_http_is_field_value("text/html; charset=\"utf-8\"", 26));
    assert_false(flare_http_is_field_value("a\r\nSet-Cookie: x=1", 19));
    assert_false(flare_http_is_field_value("a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_id_listed_once),
        cmocka_unit_test(test_known_names_any_case),
        cmocka_unit_test(test_every_byte_at_every_position),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_find_header),
        cmocka_unit_test(test_field_name_eq),
        cmocka_unit_test(test_value_has_token),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_field_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
