/*
 * test_status_accept.c: src/flared/status_accept.c: the status route answers
 * Prometheus text when ?format=prometheus asks, or when Accept weighs text/plain or
 * application/openmetrics-text above JSON, whitespace (SP or HTAB) allowed around
 * ';' and after ',' as RFC 9110 §5.6.3 and §12.5.1 write it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "handlers_internal.h"

/* Whether a GET /status?query with these field lines is answered in Prometheus text. */
static bool prometheus(const char *query, const char *field_lines)
{
    static flare_http_header fields[16];
    static char text[1024];
    int n = snprintf(text, sizeof text, "GET /status HTTP/1.1\r\nHost: t\r\n%s\r\n", field_lines);
    flare_http_request head = {.headers = fields, .max_headers_capacity = 16};
    int status = 0;
    ssize_t rc = flare_http_parse_request(text, (size_t)n, 0, NULL, &head, &status);
    if (rc != n) fail_msg("parse of %s: %zd (status %d)", text, rc, status);
    flare_request req = {.head = &head, .query = query, .query_len = query ? strlen(query) : 0};
    return flared_status_wants_prometheus(&req);
}

static void test_query_and_plain_accept(void **state)
{
    (void)state;
    assert_false(prometheus(NULL, ""));
    assert_true(prometheus("x=1&format=prometheus", ""));
    assert_false(prometheus("format=prometheusx", ""));
    assert_true(prometheus(NULL, "Accept: text/plain\r\n"));
    assert_false(prometheus(NULL, "Accept: */*\r\n"));
    assert_false(prometheus(NULL, "Accept: application/json, text/plain;q=0.9\r\n"));
    assert_true(prometheus(NULL, "Accept: application/openmetrics-text;version=1.0.0;q=0.5,"
                                 "text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n"));
    assert_false(prometheus(NULL, "Accept: application/json;q=0.9, text/plain;q=1e3\r\n"));
    assert_false(prometheus(NULL, "Accept: application/json;q=0.9, text/plain;q = 1\r\n"));
}

/* Found by fuzz_negotiate: "text/plain ;q=1" was read as the type "text/plain " (no
 * type flared knows), an element after ",\t" kept its tab, and a weight after ";\t"
 * was not seen, so each answer changed with whitespace the grammar allows. */
static void test_whitespace_is_ows(void **state)
{
    (void)state;
    assert_true(prometheus(NULL, "Accept: application/json;q=0.9, text/plain ;q=1\r\n"));
    assert_true(prometheus(NULL, "Accept: application/json;q=0.9, text/plain\t; q=1\r\n"));
    assert_false(prometheus(NULL, "Accept: text/plain;q=0.5,\tapplication/json\r\n"));
    assert_false(prometheus(NULL, "Accept: application/json;q=0.9, text/plain;\tq=0.1\r\n"));
    assert_false(prometheus(NULL, "Accept: text/plain ;q=0.5, application/json ;q=0.6\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_and_plain_accept),
        cmocka_unit_test(test_whitespace_is_ows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
