/*
 * test_parse_fields.c: the pieces both head parsers share, called directly:
 * head-end search, field-line splitting, list stepping and the framing fields
 * (Content-Length, Transfer-Encoding, Connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/http/parse_internal.h"
#include "simd_paths.h"

#define S(s) s, sizeof(s) - 1

static void test_find_head_end(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        size_t from;
        int want;
        size_t end;
    } cases[] = {
        {S("GET / HTTP/1.1\r\n\r\n"), 0, FLARE_HTTP__HEAD_DONE, 18},
        {S("GET / HTTP/1.1\r\n\r\nbody\n"), 0, FLARE_HTTP__HEAD_DONE, 18},
        {S("GET / HTTP/1.1\r\n\r\n"), 17, FLARE_HTTP__HEAD_DONE, 18},
        {S("GET / HTTP/1.1\r\nA: b\r\n"), 0, FLARE_HTTP__HEAD_MORE, 0},
        {S("GET / HTTP/1.1\r\nA: b\r\n\r"), 0, FLARE_HTTP__HEAD_MORE, 0},
        {S("\r\n\r\n"), 0, FLARE_HTTP__HEAD_DONE, 4},
        {S("\n"), 0, FLARE_HTTP__HEAD_BARE_LF, 0},
        {S("GET / HTTP/1.1\n\r\n"), 0, FLARE_HTTP__HEAD_BARE_LF, 0},
        {S("A\r\nB\n\r\n\r\n"), 0, FLARE_HTTP__HEAD_BARE_LF, 0},
        /* An LF before `from` is the caller's promise that it was already seen. */
        {S("A\nB\r\n\r\n"), 2, FLARE_HTTP__HEAD_DONE, 7},
        {S("\r\n\r\r\n"), 0, FLARE_HTTP__HEAD_MORE, 0},
        {S(""), 0, FLARE_HTTP__HEAD_MORE, 0},
    };
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        if (!test_use_path(test_paths[p])) continue;
        const flare_http_scan_ops *ops = flare_http__scan_ops();
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            size_t end = 0;
            int got =
                flare_http__find_head_end(ops, cases[i].text, cases[i].len, cases[i].from, &end);
            if (got != cases[i].want) fail_msg("case %zu: got %d want %d", i, got, cases[i].want);
            if (got == FLARE_HTTP__HEAD_DONE) assert_int_equal(end, cases[i].end);
        }
    }
}

static void test_field_line(void **state)
{
    (void)state;
    static const struct {
        const char *head; /* a complete head: the field line, then CRLF */
        size_t len;
        const char *name, *value;
        int id;
    } good[] = {
        {S("Host: a\r\n\r\n"), "Host", "a", FLARE_HDR_HOST},
        {S("X:v\r\n\r\n"), "X", "v", FLARE_HDR_OTHER},
        {S("X: \t v w \t \r\n\r\n"), "X", "v w", FLARE_HDR_OTHER},
        {S("X:\r\n\r\n"), "X", "", FLARE_HDR_OTHER},
        {S("content-length: 5\r\n\r\n"), "content-length", "5", FLARE_HDR_CONTENT_LENGTH},
        {S("X: \x80\xff\r\n\r\n"), "X", "\x80\xff", FLARE_HDR_OTHER},
    };
    static const struct {
        const char *head;
        size_t len;
    } bad[] = {
        {S(" X: v\r\n\r\n")}, {S("\tX: v\r\n\r\n")},  {S("X : v\r\n\r\n")},   {S(": v\r\n\r\n")},
        {S("X\r\n\r\n")},     {S("X: a\rb\r\n\r\n")}, {S("X: \x01\r\n\r\n")}, {S("X/Y: v\r\n\r\n")},
    };
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        if (!test_use_path(test_paths[p])) continue;
        const flare_http_scan_ops *ops = flare_http__scan_ops();
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            flare_http_header h;
            size_t pos = 0;
            assert_int_equal(flare_http__parse_field_line(ops, good[i].head, &pos, good[i].len, &h),
                             0);
            assert_int_equal(pos, good[i].len - 2);
            assert_int_equal(h.name_len, strlen(good[i].name));
            assert_memory_equal(h.name, good[i].name, h.name_len);
            assert_int_equal(h.value_len, strlen(good[i].value));
            assert_memory_equal(h.value, good[i].value, h.value_len);
            assert_int_equal(h.id, good[i].id);
        }
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            flare_http_header h;
            size_t pos = 0;
            if (flare_http__parse_field_line(ops, bad[i].head, &pos, bad[i].len, &h) != -1)
                fail_msg("bad field line %zu accepted", i);
        }
    }
}

static void test_list_next(void **state)
{
    (void)state;
    const char *v = " ,a, b c ,,\td\t,";
    const char *cur = v, *end = v + strlen(v), *elem;
    size_t len;
    const char *want[] = {"a", "b c", "d"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(flare_http__list_next(&cur, end, &elem, &len));
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(elem, want[i], len);
    }
    assert_false(flare_http__list_next(&cur, end, &elem, &len));
    assert_false(flare_http__list_next(&cur, end, &elem, &len));
}

static void test_content_length(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int64_t want; /* -2: rejected */
    } cases[] = {
        {"0", 0},
        {"42", 42},
        {"007", 7},
        {"5, 5", 5},
        {"5,5,5", 5},
        {"5 ,\t5", 5},
        {"9223372036854775807", INT64_MAX},
        {"9223372036854775808", -2},
        {"18446744073709551616", -2},
        {"", -2},
        {"-1", -2},
        {"+1", -2},
        {"5,6", -2},
        {"5,", -2},
        {",5", -2},
        {"5,,5", -2},
        {"5 5", -2},
        {"0x1", -2},
        {"1.5", -2},
        {"five", -2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t cl = -1;
        int rc = flare_http__merge_content_length(cases[i].v, strlen(cases[i].v), &cl);
        if (cases[i].want == -2) {
            if (rc != -1) fail_msg("CL \"%s\" accepted", cases[i].v);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(cl, cases[i].want);
        }
    }
    /* A second field must agree with the first. */
    int64_t cl = -1;
    assert_int_equal(flare_http__merge_content_length("7", 1, &cl), 0);
    assert_int_equal(flare_http__merge_content_length("07", 2, &cl), 0);
    assert_int_equal(flare_http__merge_content_length("8", 1, &cl), -1);
}

static void test_transfer_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *fields[3];
        bool malformed, last_is_chunked, other;
        uint32_t chunked_seen;
    } cases[] = {
        {{"chunked"}, false, true, false, 1},
        {{"CHUNKED"}, false, true, false, 1},
        {{"gzip, chunked"}, false, true, true, 1},
        {{"gzip", "chunked"}, false, true, true, 1},
        {{"chunked", "gzip"}, false, false, true, 1},
        {{"chunked, chunked"}, false, true, false, 2},
        {{"gzip;level=1 , chunked"}, false, true, true, 1},
        {{"chunked;x=1"}, true, true, false, 1},
        {{"chunked x"}, true, false, false, 0},
        {{"\"chunked\""}, true, false, false, 0},
        {{""}, false, false, false, 0},
        {{", ,", "chunked,"}, false, true, false, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flare_http__te te = {0};
        for (size_t f = 0; f < 3 && cases[i].fields[f]; f++)
            flare_http__te_add(&te, cases[i].fields[f], strlen(cases[i].fields[f]));
        assert_true(te.present);
        if (te.malformed != cases[i].malformed || te.last_is_chunked != cases[i].last_is_chunked ||
            te.other_coding != cases[i].other || te.chunked_seen != cases[i].chunked_seen)
            fail_msg("TE case %zu (%s): %d %d %d %u", i, cases[i].fields[0], te.malformed,
                     te.last_is_chunked, te.other_coding, te.chunked_seen);
    }
}

static void test_connection_options(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        unsigned want;
    } cases[] = {
        {"close", FLARE_HTTP__CONN_CLOSE},
        {"Close", FLARE_HTTP__CONN_CLOSE},
        {"keep-alive", FLARE_HTTP__CONN_KEEP_ALIVE},
        {"Upgrade", FLARE_HTTP__CONN_UPGRADE},
        {"keep-alive, Upgrade", FLARE_HTTP__CONN_KEEP_ALIVE | FLARE_HTTP__CONN_UPGRADE},
        {"foo,close , bar", FLARE_HTTP__CONN_CLOSE},
        {"closed", 0},
        {"keep-alives", 0},
        {"clos", 0},
        {"", 0},
        {"te, x-upgrade", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(flare_http__connection_options(cases[i].v, strlen(cases[i].v)),
                         cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_head_end),     cmocka_unit_test(test_field_line),
        cmocka_unit_test(test_list_next),         cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding), cmocka_unit_test(test_connection_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
