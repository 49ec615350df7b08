/*
 * test_access_format.c: the access_log_format compiler, the line formatter and
 * its escaping (src/flared/access_format.c), and the duration histogram's
 * bucketing (src/flared/metrics.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access_format.h"
#include "metrics.h"
#include "request_id.h"

static flared_log_op ops[256];
static char names[256];

static flared_log_format compile(const char *text)
{
    size_t at = 0;
    const char *why = NULL;
    long n = flared_log_format_compile(text, strlen(text), ops, names, &at, &why);
    if (n < 0) fail_msg("compile '%s': %s at %zu", text, why, at);
    return (flared_log_format){.ops = ops, .op_count = (size_t)n};
}

static void expect_compile_error(const char *text, size_t offset, const char *why_prefix)
{
    size_t at = 99;
    const char *why = NULL;
    assert_int_equal(flared_log_format_compile(text, strlen(text), ops, names, &at, &why), -1);
    assert_int_equal(at, offset);
    assert_non_null(why);
    assert_memory_equal(why, why_prefix, strlen(why_prefix));
}

static void test_compile(void **state)
{
    (void)state;
    flared_log_format f = compile("$remote_addr [${status}]x$http_User_Agent$sent_http_x_a");
    assert_int_equal(f.op_count, 6);
    assert_int_equal(f.ops[0].var, FLARED_LV_REMOTE_ADDR);
    assert_int_equal(f.ops[1].var, FLARED_LV_LITERAL);
    assert_int_equal(f.ops[1].len, 2);
    assert_memory_equal(f.ops[1].text, " [", 2);
    assert_int_equal(f.ops[2].var, FLARED_LV_STATUS);
    assert_int_equal(f.ops[3].len, 2); /* "]x" */
    assert_int_equal(f.ops[4].var, FLARED_LV_HTTP);
    assert_int_equal(f.ops[4].len, 10);
    assert_memory_equal(f.ops[4].text, "user-agent", 10);
    assert_int_equal(f.ops[5].var, FLARED_LV_SENT_HTTP);
    assert_memory_equal(f.ops[5].text, "x-a", 3);
    assert_int_equal(compile("").op_count, 0);
    assert_int_equal(compile(FLARED_LOG_FORMAT_COMBINED).op_count, 16);
    expect_compile_error("a $ b", 2, "'$' must be followed");
    expect_compile_error("a $", 2, "'$' must be followed");
    expect_compile_error("${status", 0, "'${' is missing");
    expect_compile_error("$status $stat", 8, "unknown variable");
    expect_compile_error("$http_", 0, "unknown variable"); /* no field name */
}

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    size_t n = flared_log_escape("a\"b\\c\n\x01\x7f\xc3\xa9 ok", 13, out, sizeof out);
    assert_int_equal(n, strlen("a\\x22b\\x5Cc\\x0A\\x01\\x7F\\xC3\\xA9 ok"));
    assert_memory_equal(out, "a\\x22b\\x5Cc\\x0A\\x01\\x7F\\xC3\\xA9 ok", n);
    /* An escape that does not fit whole is dropped, not cut in half. */
    n = flared_log_escape("ab\n", 3, out, 4);
    assert_int_equal(n, 2);
}

/* A request as the server would report it. */
static flare_http_header hdrs[3];
static flare_http_request head;
static flare_request view;
static flare_sock_addr peer;

static flare_http_completion make_done(void)
{
    hdrs[0] =
        (flare_http_header){.name = "Host", .value = "example.com", .name_len = 4, .value_len = 11};
    hdrs[1] = (flare_http_header){.name = "User-Agent",
                                  .value = "evil\"\n127.0.0.1 - - [x]",
                                  .name_len = 10,
                                  .value_len = 23};
    hdrs[2] = (flare_http_header){.name = "X-Id", .value = "42", .name_len = 4, .value_len = 2};
    head = (flare_http_request){.method = "GET",
                                .method_len = 3,
                                .target = "/a?b=\"c\"",
                                .target_len = 8,
                                .minor_version = 1,
                                .headers = hdrs,
                                .num_headers = 3};
    view = (flare_request){
        .head = &head, .host = "example.com", .host_len = 11, .connection_requests = 2};
    flare_sock_addr_parse(&peer, "192.0.2.7:5555", 14, NULL);
    static const char resp_head[] = "HTTP/1.1 200 OK\r\nServer: flared\r\nX-Cache:  hit \r\n\r\n";
    return (flare_http_completion){.req = &view,
                                   .resp_head = resp_head,
                                   .resp_head_len = sizeof resp_head - 1,
                                   .status = 200,
                                   .bytes_sent = sizeof resp_head - 1 + 5,
                                   .duration_us = 1234567,
                                   .peer = &peer,
                                   .body_bytes_received = 3};
}

static void test_format_line(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    flare_http_completion d = make_done();
    flared_log_context ctx = {.worker_id = 3, .pid = 77, .now = 1796535000};
    char line[512];
    flared_log_format f = compile(FLARED_LOG_FORMAT_COMBINED);
    size_t n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    const char *want =
        "192.0.2.7 - - [06/Dec/2026:05:30:00 +0000] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" "
        "200 5 \"-\" \"evil\\x22\\x0A127.0.0.1 - - [x]\"\n";
    if (n != strlen(want) || memcmp(line, want, n) != 0) fail_msg("got %.*s", (int)n, line);
    /* A user Basic authentication verified goes where the combined format had "-". */
    d.remote_user = "j\"o";
    d.remote_user_len = 3;
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    assert_true(n > 20);
    assert_memory_equal(line, "192.0.2.7 - j\\x22o [06/Dec", 26);
    d.remote_user = NULL;
    d.remote_user_len = 0;
    f = compile("$request_time_us $request_time $worker $pid $http_x_id $sent_http_x_cache "
                "$sent_http_missing $tls_version $bytes_sent $request_body_length $host "
                "$remote_port $connection_requests $time_iso8601 $request_method $server_protocol");
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    want = "1234567 1.234567 3 77 42 hit - - 56 3 example.com 5555 2 2026-12-06T05:30:00+00:00 "
           "GET HTTP/1.1\n";
    if (n != strlen(want) || memcmp(line, want, n) != 0) fail_msg("got %.*s", (int)n, line);
    /* A client taken from X-Forwarded-For behind trusted_proxies has no port: "-", not 0. */
    peer.port = 0;
    f = compile("$remote_addr|$remote_port");
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    assert_int_equal(n, strlen("192.0.2.7|-\n"));
    assert_memory_equal(line, "192.0.2.7|-\n", n);
    peer.port = 5555;
    /* No parsed request (say, a 400 for a broken head): the request values are "-". */
    d.req = NULL;
    f = compile("\"$request\" $status $http_user_agent");
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    assert_int_equal(n, strlen("\"-\" 200 -\n"));
    assert_memory_equal(line, "\"-\" 200 -\n", n);
    /* A short buffer cuts the line but keeps its newline. */
    n = flared_log_format_line(&f, &d, &ctx, line, 4);
    assert_int_equal(n, 4);
    assert_memory_equal(line, "\"-\"\n", 4);
}

/* The proxy's report: all tried addresses, the last status, seconds with milliseconds;
 * "-" for a request that was not forwarded and for an upstream that never answered. */
static void test_upstream_vars(void **state)
{
    (void)state;
    flare_http_completion d = make_done();
    flared_log_context ctx = {.worker_id = 1, .pid = 2, .now = 1796535000};
    char line[512];
    flared_log_format f = compile("$upstream_addr|$upstream_status|${upstream_response_time}");
    size_t n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    assert_int_equal(n, strlen("-|-|-\n"));
    assert_memory_equal(line, "-|-|-\n", n);
    flare_http_upstream_info u = {.used = true, .status = 503, .time_us = 2345678};
    static const char addrs[] = "127.0.0.1:9001, [::1]:9002";
    memcpy(u.addr, addrs, sizeof addrs - 1);
    u.addr_len = sizeof addrs - 1;
    d.upstream = &u;
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    const char *want = "127.0.0.1:9001, [::1]:9002|503|2.345\n";
    if (n != strlen(want) || memcmp(line, want, n) != 0) fail_msg("got %.*s", (int)n, line);
    u.status = 0;
    u.time_us = 999;
    memcpy(u.addr, "a\"b", 3);
    u.addr_len = 3;
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    want = "a\\x22b|-|0.000\n";
    if (n != strlen(want) || memcmp(line, want, n) != 0) fail_msg("got %.*s", (int)n, line);
    expect_compile_error("$upstream_time", 0, "unknown variable");
}

/* $request_id: the generator's value for the request's serial, which the completion
 * carries; a head refused unparsed (no request) has one too. */
static void test_request_id(void **state)
{
    (void)state;
    flared_request_id_init();
    flare_http_completion d = make_done();
    view.serial = d.serial = 41;
    flared_log_context ctx = {.worker_id = 1, .pid = 2, .now = 1796535000};
    char line[128], want[FLARED_REQUEST_ID_LEN];
    flared_log_format f = compile("[$request_id] ${request_id}");
    size_t n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    flared_request_id(41, want);
    assert_int_equal(n, 2 * FLARED_REQUEST_ID_LEN + 4);
    assert_memory_equal(line + 1, want, FLARED_REQUEST_ID_LEN);
    assert_memory_equal(line + FLARED_REQUEST_ID_LEN + 3, want, FLARED_REQUEST_ID_LEN);
    /* A short buffer cuts the id as it cuts any value. */
    n = flared_log_format_line(&f, &d, &ctx, line, 11);
    assert_int_equal(n, 11);
    assert_memory_equal(line + 1, want, 9);
    assert_int_equal(line[10], '\n');
    view.serial = d.serial = 42;
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    assert_memory_not_equal(line + 1, want, FLARED_REQUEST_ID_LEN);
    /* No request head: the serial the server gave the refused head. */
    d.req = NULL;
    d.serial = 43;
    n = flared_log_format_line(&f, &d, &ctx, line, sizeof line);
    flared_request_id(43, want);
    assert_int_equal(n, 2 * FLARED_REQUEST_ID_LEN + 4);
    assert_memory_equal(line + 1, want, FLARED_REQUEST_ID_LEN);
}

static void test_histogram(void **state)
{
    (void)state;
    assert_int_equal(flared_hist_bucket(0), 0);
    assert_int_equal(flared_hist_bucket(100), 0); /* le is inclusive */
    assert_int_equal(flared_hist_bucket(101), 1);
    assert_int_equal(flared_hist_bucket(1000), 3);
    assert_int_equal(flared_hist_bucket(10000000), FLARED_HIST_BUCKETS - 1);
    assert_int_equal(flared_hist_bucket(10000001), FLARED_HIST_BUCKETS); /* +Inf */
    for (int i = 1; i < FLARED_HIST_BUCKETS; i++)
        assert_true(flared_hist_bounds_us[i] > flared_hist_bounds_us[i - 1]);
    flared_worker_slot slot;
    memset(&slot, 0, sizeof slot);
    flare_http_completion d = make_done();
    d.duration_us = 300;
    flared_metrics_request(&slot, &d, 2);
    d.status = 404;
    d.duration_us = 99999999;
    flared_metrics_request(&slot, &d, 100000);
    assert_int_equal(slot.requests, 2);
    assert_int_equal(slot.by_class[2], 1);
    assert_int_equal(slot.by_class[4], 1);
    assert_int_equal(slot.duration_buckets[2], 1);
    assert_int_equal(slot.duration_buckets[FLARED_HIST_BUCKETS], 1);
    assert_int_equal(slot.duration_sum_us, 100000299);
    assert_int_equal(slot.route_requests[2], 1);
    assert_int_equal(slot.route_requests[FLARED_METRICS_ROUTES_MAX], 1);
    assert_int_equal(sizeof(flared_worker_slot) % 64, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile),     cmocka_unit_test(test_escape),
        cmocka_unit_test(test_format_line), cmocka_unit_test(test_upstream_vars),
        cmocka_unit_test(test_histogram),   cmocka_unit_test(test_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
