/*
 * test_parse_response.c: the response-head parser, as a table of heads with
 * their fields or FLARE_EPARSE, run on every scanning path the CPU has, whole,
 * split at every offset and resumed with last_len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_parser.h"
#include "simd_paths.h"

enum { CAP = 8, PARSES = 0, FAILS = 1, NEEDS_MORE = 2 };

typedef struct resp_case {
    const char *name;
    const char *raw;
    size_t raw_len;
    int outcome;
    int status;
    int minor;
    const char *reason;
    bool keep_alive, chunked;
    int64_t cl;
    size_t nhdr;
    size_t consumed; /* 0: all of raw */
} resp_case;

#define R(s) .raw = s, .raw_len = sizeof(s) - 1
#define BAD(n, s)                                                                                  \
    {                                                                                              \
        .name = n, R(s), .outcome = FAILS                                                          \
    }
#define MORE(n, s)                                                                                 \
    {                                                                                              \
        .name = n, R(s), .outcome = NEEDS_MORE                                                     \
    }
#define OK(n, s, st, mi, rs, ka, ch, c, nh)                                                        \
    {                                                                                              \
        .name = n, R(s), .outcome = PARSES, .status = st, .minor = mi, .reason = rs,               \
        .keep_alive = ka, .chunked = ch, .cl = c, .nhdr = nh                                       \
    }
#define OKC(n, s, st, mi, rs, ka, ch, c, nh, used)                                                 \
    {                                                                                              \
        .name = n, R(s), .outcome = PARSES, .status = st, .minor = mi, .reason = rs,               \
        .keep_alive = ka, .chunked = ch, .cl = c, .nhdr = nh, .consumed = used                     \
    }

static const resp_case cases[] = {
    OK("200 OK", "HTTP/1.1 200 OK\r\n\r\n", 200, 1, "OK", true, false, -1, 0),
    OK("with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, 1, "OK", true,
       false, 5, 1),
    OK("1.0 closes", "HTTP/1.0 200 OK\r\n\r\n", 200, 0, "OK", false, false, -1, 0),
    OK("1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 200, 0, "OK", true,
       false, -1, 1),
    OK("1.1 close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n", 404, 1, "Not Found",
       false, false, -1, 1),
    OK("empty reason after SP", "HTTP/1.1 204 \r\n\r\n", 204, 1, "", true, false, -1, 0),
    OK("no SP, no reason", "HTTP/1.1 204\r\n\r\n", 204, 1, "", true, false, -1, 0),
    OK("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", 100, 1, "Continue", true, false, -1, 0),
    OK("999", "HTTP/1.1 999 Whatever\r\n\r\n", 999, 1, "Whatever", true, false, -1, 0),
    OK("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, 1, "OK", true, true,
       -1, 1),
    OK("Chunked, case", "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n", 200, 1, "OK", true,
       true, -1, 1),
    OK("HTTP/1.2 as 1.1", "HTTP/1.2 200 OK\r\n\r\n", 200, 1, "OK", true, false, -1, 0),
    OK("reason with obs-text and HTAB", "HTTP/1.1 200 \xc3\xa9\tok here\r\n\r\n", 200, 1,
       "\xc3\xa9\tok here", true, false, -1, 0),
    OK("reason with spaces", "HTTP/1.1 200 O K \r\n\r\n", 200, 1, "O K ", true, false, -1, 0),
    OK("redirect", "HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nSet-Cookie: a=1\r\n\r\n", 301,
       1, "Moved Permanently", true, false, -1, 2),
    OK("CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", 200, 1, "OK", true, false, 3,
       1),
    OK("CL 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, 1, "OK", true, false, 0, 1),
    OK("1.0 keep-alive and close", "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", 200,
       0, "OK", false, false, -1, 1),
    OK("fields up to the array size",
       "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n\r\n",
       200, 1, "OK", true, false, -1, 8),
    OKC("body after the head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, 1, "OK", true,
        false, 2, 1, 38),

    MORE("empty", ""),
    MORE("version only", "HTTP/1.1"),
    MORE("status only", "HTTP/1.1 200"),
    MORE("status line only", "HTTP/1.1 200 OK\r\n"),
    MORE("no final CRLF", "HTTP/1.1 200 OK\r\nX: y\r\n"),

    BAD("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"),
    BAD("HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n"),
    BAD("lowercase version", "http/1.1 200 OK\r\n\r\n"),
    BAD("ICY", "ICY 200 OK\r\n\r\n"),
    BAD("status 099", "HTTP/1.1 099 x\r\n\r\n"),
    BAD("status 000", "HTTP/1.1 000 x\r\n\r\n"),
    BAD("two-digit status", "HTTP/1.1 20 OK\r\n\r\n"),
    BAD("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"),
    BAD("status with letter", "HTTP/1.1 20a OK\r\n\r\n"),
    BAD("two SP before status", "HTTP/1.1  200 OK\r\n\r\n"),
    BAD("reason glued to status", "HTTP/1.1 200OK\r\n\r\n"),
    BAD("bare LF", "HTTP/1.1 200 OK\n\n"),
    BAD("bare LF after a field", "HTTP/1.1 200 OK\r\nX: y\n\r\n"),
    BAD("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n"),
    BAD("DEL in reason", "HTTP/1.1 200 O\x7fK\r\n\r\n"),
    BAD("CR CR LF", "HTTP/1.1 200 OK\r\r\n\r\n"),
    BAD("space before colon", "HTTP/1.1 200 OK\r\nX : y\r\n\r\n"),
    BAD("obs-fold", "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n"),
    BAD("NUL in value", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"),
    BAD("CL letters", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
    BAD("CL differ", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    BAD("CL overflow", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"),
    BAD("TE with CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"),
    BAD("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
    BAD("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    BAD("TE chunked, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
    BAD("TE in 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    BAD("more fields than the array", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: "
                                      "5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n\r\n"),
    BAD("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct result {
    ssize_t rc;
    flare_http_response resp;
    flare_http_header hdrs[CAP];
} result;

static void parse_into(result *r, const char *buf, size_t len, size_t last_len)
{
    memset(r, 0x5a, sizeof *r);
    r->resp.headers = r->hdrs;
    r->resp.max_headers_capacity = CAP;
    r->rc = flare_http_parse_response(buf, len, last_len, &r->resp);
}

static void assert_same(const result *a, const result *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->resp.status, b->resp.status);
    assert_int_equal(a->resp.minor_version, b->resp.minor_version);
    assert_ptr_equal(a->resp.reason, b->resp.reason);
    assert_int_equal(a->resp.reason_len, b->resp.reason_len);
    assert_int_equal(a->resp.keep_alive, b->resp.keep_alive);
    assert_int_equal(a->resp.chunked, b->resp.chunked);
    assert_int_equal(a->resp.content_length, b->resp.content_length);
    assert_int_equal(a->resp.num_headers, b->resp.num_headers);
    for (size_t i = 0; i < a->resp.num_headers && i < CAP; i++) {
        assert_ptr_equal(a->hdrs[i].name, b->hdrs[i].name);
        assert_ptr_equal(a->hdrs[i].value, b->hdrs[i].value);
        assert_int_equal(a->hdrs[i].name_len, b->hdrs[i].name_len);
        assert_int_equal(a->hdrs[i].value_len, b->hdrs[i].value_len);
        assert_int_equal(a->hdrs[i].id, b->hdrs[i].id);
    }
}

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static void run_case_on_path(const resp_case *c)
{
    size_t n = c->raw_len;
    char *buf = dup_exact(c->raw, n);
    result *whole = malloc(sizeof *whole), *part = malloc(sizeof *part);
    assert_non_null(whole);
    assert_non_null(part);
    parse_into(whole, buf, n, 0);
    if (c->outcome == PARSES) {
        size_t want = c->consumed ? c->consumed : n;
        if (whole->rc != (ssize_t)want) fail_msg("%s: rc %zd want %zu", c->name, whole->rc, want);
        const flare_http_response *r = &whole->resp;
        assert_int_equal(r->status, c->status);
        assert_int_equal(r->minor_version, c->minor);
        assert_int_equal(r->reason_len, strlen(c->reason));
        assert_ptr_equal(r->reason, buf + 13 - (r->reason_len == 0 && buf[12] == '\r'));
        assert_memory_equal(r->reason, c->reason, r->reason_len);
        assert_int_equal(r->keep_alive, c->keep_alive);
        assert_int_equal(r->chunked, c->chunked);
        assert_int_equal(r->content_length, c->cl);
        assert_int_equal(r->num_headers, c->nhdr);
        for (size_t i = 0; i < r->num_headers; i++)
            assert_int_equal(r->headers[i].id,
                             flare_http_header_id(r->headers[i].name, r->headers[i].name_len));
    } else if (c->outcome == NEEDS_MORE) {
        assert_int_equal(whole->rc, FLARE_EINCOMPLETE);
    } else {
        if (whole->rc != FLARE_EPARSE) fail_msg("%s: rc %zd, want EPARSE", c->name, whole->rc);
    }
    for (size_t k = 0; k < n; k++) {
        char *prefix = dup_exact(buf, k);
        parse_into(part, prefix, k, 0);
        free(prefix);
        if (whole->rc > 0 && k >= (size_t)whole->rc) {
            assert_int_equal(part->rc, whole->rc);
            continue;
        }
        if (part->rc != FLARE_EINCOMPLETE) {
            if (c->outcome != FAILS || part->rc != FLARE_EPARSE)
                fail_msg("%s: prefix %zu gave %zd", c->name, k, part->rc);
            continue;
        }
        parse_into(part, buf, n, k);
        assert_same(part, whole);
    }
    free(whole);
    free(part);
    free(buf);
}

static void test_case(void **state)
{
    const resp_case *c = *state;
    int ran = 0, expected = 0;
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        expected += test_path_expected(test_paths[p]);
        if (!test_use_path(test_paths[p])) continue;
        run_case_on_path(c);
        ran++;
    }
    assert_int_equal(ran, expected);
}

static void test_null_args(void **state)
{
    (void)state;
    flare_http_response resp = {0};
    assert_int_equal(flare_http_parse_response("HTTP/1.1 200 OK\r\n\r\n", 19, 0, NULL),
                     FLARE_EINVAL);
    assert_int_equal(flare_http_parse_response(NULL, 4, 0, &resp), FLARE_EINVAL);
    assert_int_equal(flare_http_parse_response(NULL, 0, 0, &resp), FLARE_EINCOMPLETE);
    /* No array: a head without fields still parses, one with a field does not. */
    assert_int_equal(flare_http_parse_response("HTTP/1.1 200 OK\r\n\r\n", 19, 0, &resp), 19);
    assert_int_equal(flare_http_parse_response("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 25, 0, &resp),
                     FLARE_EPARSE);
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        tests[n].name = cases[i].name;
        tests[n].test_func = test_case;
        tests[n].initial_state = (void *)&cases[i];
        n++;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_null_args);
    return _cmocka_run_group_tests("parse_response", tests, n, NULL, NULL);
}
