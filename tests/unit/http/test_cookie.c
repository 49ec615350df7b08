/*
 * test_cookie.c: the cookie type and its text forms: Set-Cookie parsing by RFC
 * 6265 §5.2 (the examples of §3.1 included), the cookie-date algorithm of §5.1.1
 * on the three HTTP date formats and odd ones, the Cookie header splitter, the
 * serialiser, and what init and the setters refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/cookie.h"

static void parse_ok(flare_cookie *c, const char *s)
{
    flare_error err;
    if (flare_cookie_parse_set_cookie(c, s, strlen(s), &err) != 0)
        fail_msg("%s: %s", s, err.message);
}

/* RFC 6265 §3.1's examples. */
static void test_rfc_examples(void **state)
{
    (void)state;
    flare_cookie c;
    parse_ok(&c, "SID=31d4d96e407aad42");
    assert_string_equal(c.name, "SID");
    assert_string_equal(c.value, "31d4d96e407aad42");
    assert_null(c.domain);
    assert_null(c.path);
    assert_false(c.secure);
    flare_cookie_free(&c);

    parse_ok(&c, "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly");
    assert_string_equal(c.path, "/");
    assert_true(c.secure);
    assert_true(c.http_only);
    flare_cookie_free(&c);

    parse_ok(&c, "lang=en-US; Path=/; Domain=example.com");
    assert_string_equal(c.domain, "example.com");
    flare_cookie_free(&c);

    parse_ok(&c, "SID=31d4d96e407aad42; Path=/; Domain=.Example.COM");
    assert_string_equal(c.domain, "example.com"); /* leading dot dropped, lowercased */
    flare_cookie_free(&c);

    parse_ok(&c, "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT");
    assert_true(c.has_expires);
    assert_int_equal(c.expires, 1623233894);
    flare_cookie_free(&c);

    parse_ok(&c, "lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(c.value, "");
    assert_int_equal(c.expires, 784111777);
    flare_cookie_free(&c);
}

static void test_attributes(void **state)
{
    (void)state;
    flare_cookie c;
    /* the seed's example */
    parse_ok(&c, "id=42; Path=/; Max-Age=3600");
    assert_string_equal(c.name, "id");
    assert_string_equal(c.value, "42");
    assert_true(c.has_max_age);
    assert_int_equal(c.max_age, 3600);
    flare_cookie_free(&c);

    parse_ok(&c, "  a = b c ;max-age=-5;SAMESITE=lax; secure ;unknown=1;httponly");
    assert_string_equal(c.name, "a");
    assert_string_equal(c.value, "b c");
    assert_int_equal(c.max_age, -5);
    assert_int_equal(c.same_site, FLARE_SAMESITE_LAX);
    assert_true(c.secure);
    assert_true(c.http_only);
    flare_cookie_free(&c);

    /* bad values of an attribute are ignored, the cookie is kept; the last one wins */
    parse_ok(&c, "a=b; Max-Age=12x; Expires=never; SameSite=sometimes; Domain=; Path=rel");
    assert_false(c.has_max_age);
    assert_false(c.has_expires);
    assert_int_equal(c.same_site, FLARE_SAMESITE_UNSET);
    assert_null(c.domain);
    assert_null(c.path);
    flare_cookie_free(&c);
    parse_ok(&c, "a=b; Path=/one; Path=/two; SameSite=Strict; SameSite=None; Max-Age=1; Max-Age=2");
    assert_string_equal(c.path, "/two");
    assert_int_equal(c.same_site, FLARE_SAMESITE_NONE);
    assert_int_equal(c.max_age, 2);
    flare_cookie_free(&c);
    /* value with '=' inside; quotes kept */
    parse_ok(&c, "tok=a=b==; x");
    assert_string_equal(c.value, "a=b==");
    flare_cookie_free(&c);
    parse_ok(&c, "q=\"quoted\"");
    assert_string_equal(c.value, "\"quoted\"");
    flare_cookie_free(&c);
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"novalue", "=value", "  =x", "a\x01=b", "a=b\x7f", ";a=b", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_cookie c;
        if (flare_cookie_parse_set_cookie(&c, bad[i], strlen(bad[i]), NULL) != FLARE_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(c.name);
    }
    char big[FLARE_COOKIE_MAX_NAME_VALUE + 10];
    memset(big, 'v', sizeof big);
    memcpy(big, "n=", 2);
    flare_cookie c;
    assert_int_equal(flare_cookie_parse_set_cookie(&c, big, sizeof big, NULL), FLARE_EPARSE);
    /* an attribute value over 1024 bytes is ignored, not the cookie */
    char longpath[1100 + 16] = "a=b; Path=/";
    memset(longpath + 11, 'p', 1100);
    longpath[1111] = '\0';
    parse_ok(&c, longpath);
    assert_null(c.path);
    flare_cookie_free(&c);
}

static int64_t date(const char *s)
{
    int64_t t = -1;
    int rc = flare_cookie_parse_date(s, strlen(s), &t);
    return rc == 0 ? t : -1;
}

static void test_dates(void **state)
{
    (void)state;
    /* RFC 9110 §5.6.7's three forms of one instant */
    assert_int_equal(date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(date("Sun Nov  6 08:49:37 1994"), 784111777);
    /* what browsers meet in the wild */
    assert_int_equal(date("Thu, 01-Jan-1970 00:00:01 GMT"), 1);
    assert_int_equal(date("Wed, 09 Jun 2021 10:18:14"), 1623233894);
    assert_int_equal(date("09 June 2021 10:18:14 garbage"), 1623233894);
    assert_int_equal(date("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599);
    assert_int_equal(date("Mon, 01 Jan 2069 00:00:00 GMT"), 3124224000);
    assert_int_equal(date("1 jan 69 00:00:00"), 3124224000); /* 69 -> 2069 */
    assert_int_equal(date("1 jan 70 00:00:00"), 0);          /* 70 -> 1970 */
    assert_int_equal(date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
    /* refused: missing parts, out of range, no such day */
    assert_int_equal(date(""), -1);
    assert_int_equal(date("never"), -1);
    assert_int_equal(date("Sun, 06 Nov 1994"), -1);
    assert_int_equal(date("Sun, 32 Nov 1994 08:49:37 GMT"), -1);
    assert_int_equal(date("Sun, 06 Nov 1994 24:00:00 GMT"), -1);
    assert_int_equal(date("Sun, 06 Nov 1994 08:60:00 GMT"), -1);
    assert_int_equal(date("Sun, 06 Nov 1600 08:49:37 GMT"), -1);
    assert_int_equal(date("Wed, 30 Feb 2028 00:00:00 GMT"), -1);
    assert_int_equal(date("Thu, 29 Feb 2029 00:00:00 GMT"), -1);
    assert_int_equal(date("Sun, 006 Nov 1994 08:49:37 GMT"), -1); /* three-digit day */
}

static void test_cookie_header(void **state)
{
    (void)state;
    flare_cookie_pair p[4];
    const char *h = " SID=31d4d96e407aad42 ; lang=en-US;;flag; e=;  q=\"x y\" ";
    ssize_t n = flare_cookie_parse_header(h, strlen(h), p, 4, NULL);
    assert_int_equal(n, 4);
    assert_int_equal(p[0].name_len, 3);
    assert_memory_equal(p[0].name, "SID", 3);
    assert_int_equal(p[0].value_len, 16);
    assert_memory_equal(p[1].value, "en-US", 5);
    assert_memory_equal(p[2].name, "e", 1);
    assert_int_equal(p[2].value_len, 0);
    assert_int_equal(p[3].value_len, 5);
    assert_memory_equal(p[3].value, "\"x y\"", 5);
    flare_error err;
    assert_int_equal(flare_cookie_parse_header(h, strlen(h), p, 3, &err), FLARE_ELIMIT);
    assert_int_equal(flare_cookie_parse_header("", 0, p, 4, NULL), 0);
}

static void test_init_serialize(void **state)
{
    (void)state;
    flare_cookie c;
    flare_error err;
    assert_int_equal(flare_cookie_init(&c, "session", "abc123", &err), 0);
    assert_int_equal(flare_cookie_set_domain(&c, ".Example.com", NULL), 0);
    assert_int_equal(flare_cookie_set_path(&c, "/app", NULL), 0);
    c.has_expires = true;
    c.expires = 784111777;
    c.has_max_age = true;
    c.max_age = 60;
    c.secure = true;
    c.http_only = true;
    c.same_site = FLARE_SAMESITE_STRICT;
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_cookie_serialize(&c, &b), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "session=abc123; Domain=example.com; Path=/app; Expires=Sun, 06 "
                                "Nov 1994 08:49:37 GMT; Max-Age=60; Secure; HttpOnly; "
                                "SameSite=Strict");
    /* what it serialised parses back to the same cookie */
    flare_cookie back;
    parse_ok(&back, b.data);
    assert_string_equal(back.name, "session");
    assert_string_equal(back.domain, "example.com");
    assert_string_equal(back.path, "/app");
    assert_int_equal(back.expires, 784111777);
    assert_int_equal(back.max_age, 60);
    assert_true(back.secure && back.http_only);
    assert_int_equal(back.same_site, FLARE_SAMESITE_STRICT);
    flare_cookie_free(&back);

    flare_cookie copy;
    assert_int_equal(flare_cookie_copy(&copy, &c, NULL), 0);
    assert_ptr_not_equal(copy.name, c.name);
    assert_string_equal(copy.path, "/app");
    flare_cookie_free(&copy);
    assert_int_equal(flare_cookie_set_domain(&c, NULL, NULL), 0);
    assert_null(c.domain);
    flare_cookie_free(&c);
    flare_cookie_free(&c);
    flare_buf_free(&b);

    /* header injection and bad tokens are refused */
    assert_int_equal(flare_cookie_init(&c, "a b", "v", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, "a", "v;w", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, "a", "v\r\nSet-Cookie: x=y", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, "a=b", "v", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, "", "v", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, NULL, "v", &err), FLARE_EINVAL);
    assert_int_equal(flare_cookie_init(&c, "q", "\"quoted\"", &err), 0);
    assert_int_equal(flare_cookie_set_path(&c, "relative", NULL), FLARE_EINVAL);
    assert_int_equal(flare_cookie_set_path(&c, "/a;b", NULL), FLARE_EINVAL);
    assert_int_equal(flare_cookie_set_path(&c, "/a\nb", NULL), FLARE_EINVAL);
    assert_int_equal(flare_cookie_set_domain(&c, "a b", NULL), FLARE_EINVAL);
    assert_int_equal(flare_cookie_set_domain(&c, ".", NULL), FLARE_EINVAL);
    flare_cookie_free(&c);
    /* no value: "" */
    assert_int_equal(flare_cookie_init(&c, "empty", NULL, NULL), 0);
    assert_string_equal(c.value, "");
    flare_cookie_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),  cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_dates),
        cmocka_unit_test(test_cookie_header), cmocka_unit_test(test_init_serialize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
