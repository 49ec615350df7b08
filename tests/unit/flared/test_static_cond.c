/*
 * test_static_cond.c: src/flared/static_cond.c: the three HTTP-date forms,
 * entity-tags from stat (nanoseconds and inode included), entity-tag list
 * matching, and the precondition order of RFC 9110 §13.2.2 on requests parsed
 * by libflare's own parser, so multi-line fields are exercised as sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "static_internal.h"

/* 2026-11-24 00:00:00 UTC, for two-digit years. */
#define NOW_2026 ((time_t)1795478400)
/* Sun, 06 Nov 1994 08:49:37 GMT */
#define RFC_EXAMPLE 784111777

static flare_http_header fields[32];
static flare_http_request parsed;
static char request_text[2048];

/* Parses "GET / HTTP/1.1" with Host and the given field lines (each ending CRLF). */
static const flare_http_request *request(const char *field_lines)
{
    int n = snprintf(request_text, sizeof request_text, "GET / HTTP/1.1\r\nHost: t\r\n%s\r\n",
                     field_lines);
    assert_true(n > 0 && (size_t)n < sizeof request_text);
    memset(&parsed, 0, sizeof parsed);
    parsed.headers = fields;
    parsed.max_headers_capacity = 32;
    int status = 0;
    ssize_t rc = flare_http_parse_request(request_text, (size_t)n, 0, NULL, &parsed, &status);
    if (rc != n) fail_msg("parse of %s: %zd (status %d)", request_text, rc, status);
    return &parsed;
}

/* ------------------------------------------------------------- dates */

static int64_t date(const char *s, time_t now)
{
    int64_t t = -12345;
    if (flared_static_parse_http_date(s, strlen(s), now, &t) < 0) return -1;
    return t;
}

static void test_date_forms(void **state)
{
    (void)state;
    assert_int_equal(date("Sun, 06 Nov 1994 08:49:37 GMT", NOW_2026), RFC_EXAMPLE);
    assert_int_equal(date("Sunday, 06-Nov-94 08:49:37 GMT", NOW_2026), RFC_EXAMPLE);
    assert_int_equal(date("Sun Nov  6 08:49:37 1994", NOW_2026), RFC_EXAMPLE);
    assert_int_equal(date("Thu, 01 Jan 1970 00:00:00 GMT", NOW_2026), 0);
    assert_int_equal(date("Sat, 29 Feb 2020 12:00:00 GMT", NOW_2026), 1582977600);
    assert_int_equal(date("Tue, 29 Feb 2000 00:00:00 GMT", NOW_2026), 951782400);
    assert_int_equal(date("Fri, 31 Dec 9999 23:59:59 GMT", NOW_2026), 253402300799);
    assert_int_equal(date("Wed Dec 31 23:59:59 2025", NOW_2026), 1767225599);
    /* rfc850: a two-digit year more than 50 years ahead means the past century. */
    assert_int_equal(date("Wednesday, 31-Dec-25 23:59:59 GMT", NOW_2026), 1767225599);
    assert_int_equal(date("Friday, 01-Jan-70 00:00:00 GMT", NOW_2026), 3155760000);
    assert_int_equal(date("Thursday, 01-Jan-70 00:00:00 GMT", (time_t)0), 0);
}

static void test_date_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "garbage",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 2020 08:49:37 GMT",
        "Fri, 29 Feb 2019 00:00:00 GMT",
        "Thu, 29 Feb 1900 00:00:00 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "1994-11-06T08:49:37Z",
        "784111777",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (date(bad[i], NOW_2026) != -1) fail_msg("'%s' parsed", bad[i]);
}

static void test_date_round_trip(void **state)
{
    (void)state;
    static const time_t times[] = {0,         1,          59,         86399,      86400,
                                   951782400, 1582977600, 1700000000, 2147483647, 4102444800};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char text[FLARE_IMF_FIXDATE_LEN + 1];
        flare_format_http_date(times[i], text);
        assert_int_equal(date(text, NOW_2026), times[i]);
    }
}

/* ------------------------------------------------------------- etags */

static struct stat file_stat(uint64_t ino, uint64_t size, int64_t sec, long nsec)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = (ino_t)ino;
    st.st_size = (off_t)size;
    st.st_mtim.tv_sec = sec;
    st.st_mtim.tv_nsec = nsec;
    return st;
}

static void test_etag_format(void **state)
{
    (void)state;
    char tag[FLARED_ETAG_MAX];
    struct stat st = file_stat(0x1234, 16, 0x5f5e100, 123);
    assert_int_equal(flared_static_etag(&st, NULL, false, tag), 20);
    assert_string_equal(tag, "\"1234-10-5f5e100.7b\"");
    flared_static_etag(&st, "-gzip", true, tag);
    assert_string_equal(tag, "W/\"1234-10-5f5e100.7b-gzip\"");
    /* The largest values still fit. */
    st = file_stat(UINT64_MAX, INT64_MAX, INT64_MAX, 999999999);
    size_t n = flared_static_etag(&st, "-gzip", true, tag);
    assert_int_equal(n, strlen(tag));
    assert_true(n < FLARED_ETAG_MAX - 1);
}

static void test_etag_changes_with_every_part(void **state)
{
    (void)state;
    char a[FLARED_ETAG_MAX], b[FLARED_ETAG_MAX];
    struct stat st = file_stat(10, 100, 1700000000, 100);
    flared_static_etag(&st, NULL, false, a);
    /* Same size, same second, a few nanoseconds later: a different tag. */
    st = file_stat(10, 100, 1700000000, 200);
    flared_static_etag(&st, NULL, false, b);
    assert_string_not_equal(a, b);
    /* Same size and same mtime to the nanosecond, another inode (a renamed-in copy). */
    st = file_stat(11, 100, 1700000000, 100);
    flared_static_etag(&st, NULL, false, b);
    assert_string_not_equal(a, b);
    st = file_stat(10, 101, 1700000000, 100);
    flared_static_etag(&st, NULL, false, b);
    assert_string_not_equal(a, b);
    st = file_stat(10, 100, 1700000000, 100);
    flared_static_etag(&st, NULL, false, b);
    assert_string_equal(a, b);
}

static bool match(const char *list, const char *etag, bool strong)
{
    return flared_static_etag_match(list, strlen(list), etag, strlen(etag), strong);
}

static void test_etag_match(void **state)
{
    (void)state;
    /* RFC 9110 §8.8.3.2's table. */
    assert_false(match("W/\"1\"", "W/\"1\"", true));
    assert_true(match("W/\"1\"", "W/\"1\"", false));
    assert_false(match("W/\"1\"", "W/\"2\"", false));
    assert_false(match("W/\"1\"", "\"1\"", true));
    assert_true(match("W/\"1\"", "\"1\"", false));
    assert_true(match("\"1\"", "\"1\"", true));
    assert_true(match("\"1\"", "W/\"1\"", false));
    assert_false(match("\"1\"", "W/\"1\"", true));
    /* Lists, whitespace, "*" and empty members. */
    assert_true(match("\"a\", \"b\",\"c\"", "\"c\"", true));
    assert_true(match("  \"a\" ,\t\"b\"  ", "\"b\"", true));
    assert_true(match(",,\"b\",", "\"b\"", true));
    assert_false(match("\"a\", \"b\"", "\"c\"", false));
    assert_true(match("*", "\"x\"", true));
    assert_true(match(" * ", "W/\"x\"", false));
    assert_false(match("", "\"x\"", false));
    /* Malformed members match nothing, but do not hide the rest of the list. */
    assert_false(match("x", "\"x\"", false));
    assert_false(match("\"x", "\"x\"", false));
    assert_true(match("junk, \"x\"", "\"x\"", false));
    assert_false(match("w/\"x\"", "\"x\"", false));
    assert_false(match("\"x\"", "\"X\"", false)); /* opaque-tags are case-sensitive */
    assert_false(match("\"x y\"", "\"x\"", false));
}

/* ----------------------------------------------------- preconditions */

static const flared_static_validators tag_abc = {"\"abc\"", 5, RFC_EXAMPLE};

static int pre(const char *lines)
{
    return flared_static_preconditions(request(lines), &tag_abc);
}

static void test_if_none_match(void **state)
{
    (void)state;
    assert_int_equal(pre(""), 0);
    assert_int_equal(pre("If-None-Match: \"abc\"\r\n"), 304);
    assert_int_equal(pre("If-None-Match: W/\"abc\"\r\n"), 304); /* weak comparison */
    assert_int_equal(pre("If-None-Match: \"zzz\"\r\n"), 0);
    assert_int_equal(pre("If-None-Match: *\r\n"), 304);
    assert_int_equal(pre("If-None-Match: \"x\", \"abc\"\r\n"), 304);
    assert_int_equal(pre("If-None-Match: \"x\"\r\nIf-None-Match: \"abc\"\r\n"), 304);
    assert_int_equal(pre("if-none-match: \"abc\"\r\n"), 304);
}

static void test_if_modified_since(void **state)
{
    (void)state;
    assert_int_equal(pre("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 304);
    assert_int_equal(pre("If-Modified-Since: Sun, 06 Nov 1994 08:49:38 GMT\r\n"), 304);
    assert_int_equal(pre("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"), 0);
    assert_int_equal(pre("If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"), 304);
    assert_int_equal(pre("If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n"), 304);
    /* Invalid or repeated: ignored (§13.1.3). */
    assert_int_equal(pre("If-Modified-Since: yesterday\r\n"), 0);
    assert_int_equal(pre("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                     0);
}

static void test_if_none_match_takes_precedence(void **state)
{
    (void)state;
    /* §13.2.2 step 3 before 4: a non-matching tag wins over a date that would 304. */
    assert_int_equal(pre("If-None-Match: \"old\"\r\n"
                         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                     0);
    assert_int_equal(pre("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"
                         "If-None-Match: \"abc\"\r\n"),
                     304);
}

static void test_if_match(void **state)
{
    (void)state;
    assert_int_equal(pre("If-Match: \"abc\"\r\n"), 0);
    assert_int_equal(pre("If-Match: \"zzz\"\r\n"), 412);
    assert_int_equal(pre("If-Match: W/\"abc\"\r\n"), 412); /* strong comparison */
    assert_int_equal(pre("If-Match: *\r\n"), 0);
    assert_int_equal(pre("If-Match: \"a\", \"abc\"\r\n"), 0);
    assert_int_equal(pre("If-Match: \"a\"\r\nIf-Match: \"abc\"\r\n"), 0);
    assert_int_equal(pre("If-Match: nonsense\r\n"), 412);
    /* A weak current tag can never satisfy If-Match. */
    flared_static_validators weak = {"W/\"abc\"", 7, RFC_EXAMPLE};
    assert_int_equal(flared_static_preconditions(request("If-Match: W/\"abc\"\r\n"), &weak), 412);
    /* 412 is decided before If-None-Match would say 304. */
    assert_int_equal(pre("If-Match: \"zzz\"\r\nIf-None-Match: \"abc\"\r\n"), 412);
}

static void test_if_unmodified_since(void **state)
{
    (void)state;
    assert_int_equal(pre("If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"), 412);
    assert_int_equal(pre("If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 0);
    assert_int_equal(pre("If-Unmodified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"), 0);
    assert_int_equal(pre("If-Unmodified-Since: not a date\r\n"), 0);
    /* Ignored when If-Match is present (§13.1.4). */
    assert_int_equal(pre("If-Match: \"abc\"\r\n"
                         "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"),
                     0);
}

static void test_if_range(void **state)
{
    (void)state;
    time_t later = RFC_EXAMPLE + 3600;
    assert_true(flared_static_if_range(request(""), &tag_abc, later));
    assert_true(flared_static_if_range(request("If-Range: \"abc\"\r\n"), &tag_abc, later));
    assert_false(flared_static_if_range(request("If-Range: \"zzz\"\r\n"), &tag_abc, later));
    assert_false(flared_static_if_range(request("If-Range: W/\"abc\"\r\n"), &tag_abc, later));
    assert_false(flared_static_if_range(request("If-Range: \"abc\", \"x\"\r\n"), &tag_abc, later));
    assert_true(flared_static_if_range(request("If-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                                       &tag_abc, later));
    /* A date must be equal, not merely later. */
    assert_false(flared_static_if_range(request("If-Range: Sun, 06 Nov 1994 08:49:38 GMT\r\n"),
                                        &tag_abc, later));
    /* A Last-Modified from this very second is weak: no range on its word. */
    assert_false(flared_static_if_range(request("If-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                                        &tag_abc, RFC_EXAMPLE));
    assert_false(flared_static_if_range(request("If-Range: soon\r\n"), &tag_abc, later));
    assert_false(flared_static_if_range(request("If-Range: \"abc\"\r\nIf-Range: \"abc\"\r\n"),
                                        &tag_abc, later));
}

/* A date is told from an entity-tag by its first characters: '"' or "W/" begin a
 * tag; "Wed, ..." is a date (every Wednesday's Last-Modified was taken for a
 * malformed tag, and Range was ignored). */
static void test_if_range_wednesday(void **state)
{
    (void)state;
    const flared_static_validators wed = {"\"abc\"", 5, 1599652800}; /* 2020-09-09 12:00 */
    time_t later = 1599652800 + 3600;
    assert_true(flared_static_if_range(request("If-Range: Wed, 09 Sep 2020 12:00:00 GMT\r\n"), &wed,
                                       later));
    assert_true(flared_static_if_range(request("If-Range: Wednesday, 09-Sep-20 12:00:00 GMT\r\n"),
                                       &wed, later));
    assert_true(
        flared_static_if_range(request("If-Range: Wed Sep  9 12:00:00 2020\r\n"), &wed, later));
    assert_false(flared_static_if_range(request("If-Range: Wed, 09 Sep 2020 12:00:01 GMT\r\n"),
                                        &wed, later));
    assert_false(flared_static_if_range(request("If-Range: W/\"abc\"\r\n"), &wed, later));
    assert_false(flared_static_if_range(request("If-Range: Wx\r\n"), &wed, later));
}

static void test_field_count(void **state)
{
    (void)state;
    size_t count = 99;
    const flare_http_request *r = request("Range: bytes=0-1\r\nX: y\r\nRange: bytes=2-3\r\n");
    const flare_http_header *h = flared_static_field(r, FLARE_HDR_RANGE, &count);
    assert_non_null(h);
    assert_int_equal(count, 2);
    assert_memory_equal(h->value, "bytes=0-1", 9);
    assert_null(flared_static_field(r, FLARE_HDR_IF_RANGE, &count));
    assert_int_equal(count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_forms),
        cmocka_unit_test(test_date_invalid),
        cmocka_unit_test(test_date_round_trip),
        cmocka_unit_test(test_etag_format),
        cmocka_unit_test(test_etag_changes_with_every_part),
        cmocka_unit_test(test_etag_match),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_if_none_match_takes_precedence),
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_if_unmodified_since),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_if_range_wednesday),
        cmocka_unit_test(test_field_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
