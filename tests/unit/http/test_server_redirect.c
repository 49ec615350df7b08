/*
 * test_server_redirect.c: what a listener does before routing, in src/http/server.c and
 * server_request.c: its https_redirect (options it refuses, Location made of the host
 * and the target as received, the exceptions compared as the router compares paths, a
 * redirect behind a PROXY header) and its head check, which answers before both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "flare/tcp.h"
#include "server_harness.h"

static int ok_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    return flare_response_text(resp, 200, "text/plain", "routed", 6);
}

static int listen_any(flare_error *err)
{
    flare_tcp_listener l;
    flare_tcp_listen_options opts = {.backlog = 64, .nonblocking = true};
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", &opts, err) < 0) fail_msg("%s", err->message);
    return l.fd;
}

/* A server whose every path is routed, and a listener with `lo` on it; its port. */
static uint16_t redirect_listener(harness *h, const flare_http_listener_options *lo)
{
    harness_start(h, NULL);
    harness_route(h, NULL, FLARE_M_ANY, "/", ok_handler, NULL, 0);
    flare_error err;
    int fd = listen_any(&err);
    assert_int_equal(flare_http_server_add_listener_opts(h->srv, fd, lo, &err), 0);
    flare_sock_addr local;
    assert_int_equal(flare_socket_local_addr(fd, &local, &err), 0);
    return local.port;
}

static void expect_location(harness *h, client *c, const char *request, int status,
                            const char *location)
{
    client_send_str(h, c, request);
    response r = {0};
    client_response(h, c, &r, false);
    if (r.status != status) fail_msg("%s: status %d, want %d", request, r.status, status);
    if (location)
        assert_header(&r, "Location", location);
    else
        assert_no_header(&r, "Location");
    response_free(&r);
}

static void test_refused_options(void **state)
{
    (void)state;
    harness h;
    harness_start(&h, NULL);
    static const flare_http_https_redirect bad[] = {
        {.port = 0, .status = 301}, {.port = 443, .status = 303}, {.port = 443, .status = 200}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_error err;
        int fd = listen_any(&err);
        flare_http_listener_options lo = {.https_redirect = &bad[i]};
        assert_int_equal(flare_http_server_add_listener_opts(h.srv, fd, &lo, &err), FLARE_EINVAL);
        close(fd);
    }
    harness_stop(&h);
}

static void test_location_and_exceptions(void **state)
{
    (void)state;
    harness h;
    static const char *const except[] = {"/.well-known/acme-challenge/", "/open"};
    static const flare_http_https_redirect hr = {
        .port = 443, .status = 302, .except = except, .except_count = 2};
    flare_http_listener_options lo = {.https_redirect = &hr};
    uint16_t port = redirect_listener(&h, &lo);
    client c;
    client_tcp(&h, &c, port);
    expect_location(&h, &c, "GET /a//b?x=%20 HTTP/1.1\r\nHost: Ex.test:80\r\n\r\n", 302,
                    "https://Ex.test/a//b?x=%20");
    expect_location(&h, &c, "GET http://abs.test:81 HTTP/1.1\r\nHost: h\r\n\r\n", 302,
                    "https://abs.test/");
    expect_location(&h, &c, "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 302, "https://[::1]/x");
    /* Exempt as the router would match them: escapes of unreserved bytes, "//". */
    expect_location(&h, &c, "GET /.well-known/acme-challenge/t HTTP/1.1\r\nHost: h\r\n\r\n", 200,
                    NULL);
    expect_location(&h, &c, "GET //%2Ewell-known/acme-challenge/t HTTP/1.1\r\nHost: h\r\n\r\n", 200,
                    NULL);
    expect_location(&h, &c, "GET /openly?q HTTP/1.1\r\nHost: h\r\n\r\n", 200, NULL);
    expect_location(&h, &c, "GET /.well-known/acme HTTP/1.1\r\nHost: h\r\n\r\n", 302,
                    "https://h/.well-known/acme");
    expect_location(&h, &c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 400, NULL);
    client_close(&c);
    /* A body is not read: the answer comes at once and the connection ends. */
    client_tcp(&h, &c, port);
    expect_location(&h, &c, "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab", 302,
                    "https://h/u");
    expect_closed(&h, &c);
    client_close(&c);
    harness_stop(&h);
}

static void test_behind_proxy_protocol(void **state)
{
    (void)state;
    harness h;
    static const flare_http_https_redirect hr = {.port = 8443, .status = 308};
    flare_http_listener_options lo = {.proxy_protocol = true, .https_redirect = &hr};
    uint16_t port = redirect_listener(&h, &lo);
    client c;
    client_tcp(&h, &c, port);
    expect_location(&h, &c,
                    "PROXY TCP4 198.51.100.7 127.0.0.1 4000 80\r\n"
                    "GET /.well-known/acme-challenge/t HTTP/1.1\r\nHost: h\r\n\r\n",
                    308, "https://h:8443/.well-known/acme-challenge/t");
    client_close(&c);
    harness_stop(&h);
}

/* Refuses a request for Host "elsewhere" as a listener of several certificates would. */
static int misdirected(const flare_request *req, uint64_t now_us, void *ud,
                       flare_http_admission *out)
{
    (void)now_us;
    (void)out;
    (*(int *)ud)++;
    return req->host_len == 9 && memcmp(req->host, "elsewhere", 9) == 0 ? 421 : 0;
}

static void test_head_check_answers_before_routing(void **state)
{
    (void)state;
    harness h;
    int calls = 0;
    static const flare_http_https_redirect hr = {.port = 443, .status = 301};
    harness_start(&h, NULL);
    harness_route(&h, NULL, FLARE_M_GET, "/only", ok_handler, NULL, 0);
    flare_error err;
    int fds[2] = {listen_any(&err), listen_any(&err)};
    flare_http_listener_options checked = {.head_check = misdirected, .head_check_data = &calls};
    flare_http_listener_options both = {
        .head_check = misdirected, .head_check_data = &calls, .https_redirect = &hr};
    assert_int_equal(flare_http_server_add_listener_opts(h.srv, fds[0], &checked, &err), 0);
    assert_int_equal(flare_http_server_add_listener_opts(h.srv, fds[1], &both, &err), 0);
    uint16_t port[2];
    for (int i = 0; i < 2; i++) {
        flare_sock_addr local;
        assert_int_equal(flare_socket_local_addr(fds[i], &local, &err), 0);
        port[i] = local.port;
    }
    client c;
    client_tcp(&h, &c, port[0]);
    /* Before a 404, a 405, a 501 and OPTIONS *; what it lets on is routed as usual. */
    expect_location(&h, &c, "GET /nowhere HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 421, NULL);
    expect_location(&h, &c, "DELETE /only HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 421, NULL);
    expect_location(&h, &c, "BREW /only HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 421, NULL);
    expect_location(&h, &c, "OPTIONS * HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 421, NULL);
    expect_location(&h, &c, "GET /only HTTP/1.1\r\nHost: here\r\n\r\n", 200, NULL);
    expect_location(&h, &c, "GET /nowhere HTTP/1.1\r\nHost: here\r\n\r\n", 404, NULL);
    assert_int_equal(calls, 6);
    /* A body is not read: the connection ends after the refusal. */
    expect_location(&h, &c, "POST /only HTTP/1.1\r\nHost: elsewhere\r\nContent-Length: 9\r\n\r\n",
                    421, NULL);
    expect_closed(&h, &c);
    client_close(&c);
    /* Before the redirect too, which takes what the check lets on. */
    client_tcp(&h, &c, port[1]);
    expect_location(&h, &c, "GET /only HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 421, NULL);
    expect_location(&h, &c, "GET /only HTTP/1.1\r\nHost: here\r\n\r\n", 301, "https://here/only");
    client_close(&c);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_options),
        cmocka_unit_test(test_location_and_exceptions),
        cmocka_unit_test(test_behind_proxy_protocol),
        cmocka_unit_test(test_head_check_answers_before_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
