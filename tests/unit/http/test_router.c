/*
 * test_router.c: route lookup of src/http/router.c and route registration, seen
 * through real requests (server_harness.h): exact beats prefix, the longest prefix
 * wins, virtual hosts (exact, longest wildcard, default; Host port and absolute-form
 * authority), method sets with 405/Allow and 501, extra method tokens, and which paths
 * hold a dot segment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server_harness.h"

/* Answers the route's tag (its userdata) and the method, so the test sees which matched. */
static int tag_handler(const flare_request *req, flare_response *resp, void *ud)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%s %.*s", (const char *)ud, (int)req->head->method_len,
                     req->head->method);
    return flare_response_text(resp, 200, "text/plain", body, (size_t)n);
}

static void route(harness *h, const char *host, uint32_t methods, const char *path, const char *tag)
{
    harness_route(h, host, methods, path, tag_handler, (void *)tag, 0);
}

/* Sends one request and checks the status and, for 200, which route answered. */
static void expect_route(harness *h, client *c, const char *request_line, const char *host,
                         int status, const char *tag)
{
    char req[512];
    snprintf(req, sizeof req, "%s\r\nHost: %s\r\n\r\n", request_line, host);
    client_send_str(h, c, req);
    response r = {0};
    client_response(h, c, &r, strncmp(request_line, "HEAD ", 5) == 0);
    if (r.status != status)
        fail_msg("%s (Host %s): status %d, want %d", request_line, host, r.status, status);
    if (tag) {
        char want[128];
        const char *sp = strchr(request_line, ' ');
        snprintf(want, sizeof want, "%s %.*s", tag, (int)(sp - request_line), request_line);
        if (r.body.len != strlen(want) || memcmp(r.body.data, want, r.body.len) != 0)
            fail_msg("%s (Host %s): answered \"%.*s\", want \"%s\"", request_line, host,
                     (int)r.body.len, r.body.data, want);
    }
    if (status == 405 || status == 501) {
        /* Rejections close the connection: check it, then carry on on a new one. */
        const flare_http_header *conn_hdr = response_header(&r, "Connection");
        if (!conn_hdr || conn_hdr->value_len != 5 || memcmp(conn_hdr->value, "close", 5) != 0)
            fail_msg("%s: a %d must carry Connection: close", request_line, status);
        expect_closed(h, c);
        client_close(c);
        client_open(h, c);
    }
    response_free(&r);
}

static void test_paths(void **state)
{
    (void)state;
    harness h;
    harness_start(&h, NULL);
    route(&h, NULL, FLARE_M_ANY, "/", "root");
    route(&h, NULL, FLARE_M_ANY, "/a/", "a/");
    route(&h, NULL, FLARE_M_ANY, "/a/b/", "a/b/");
    route(&h, NULL, FLARE_M_ANY, "/a/b/c", "a/b/c");
    route(&h, NULL, FLARE_M_ANY, "/exact", "exact");
    route(&h, NULL, FLARE_M_ANY, "/caf%C3%a9", "cafe");
    route(&h, NULL, FLARE_M_ANY, "/~u/", "tilde");
    client c;
    client_open(&h, &c);
    expect_route(&h, &c, "GET /a/x HTTP/1.1", "t", 200, "a/");
    expect_route(&h, &c, "GET /a/ HTTP/1.1", "t", 200, "a/");
    expect_route(&h, &c, "GET /a/b/x HTTP/1.1", "t", 200, "a/b/");
    expect_route(&h, &c, "GET /a/b/c HTTP/1.1", "t", 200, "a/b/c");
    expect_route(&h, &c, "GET /a/b/c?q=1 HTTP/1.1", "t", 200, "a/b/c");
    expect_route(&h, &c, "GET /a/b/c/d HTTP/1.1", "t", 200, "a/b/");
    expect_route(&h, &c, "GET /a HTTP/1.1", "t", 200, "root"); /* "/a/" does not cover "/a" */
    expect_route(&h, &c, "GET /exact HTTP/1.1", "t", 200, "exact");
    expect_route(&h, &c, "GET /exact/more HTTP/1.1", "t", 200, "root");
    expect_route(&h, &c, "GET /exactly HTTP/1.1", "t", 200, "root");
    /* RFC 3986 §6.2.2.1-2: hex digits of either case and an encoded unreserved
     * character are the same path, so they reach the same route (an upstream that
     * decodes "/%61/x" must not be reached past the "/a/" route's settings). */
    expect_route(&h, &c, "GET /%61/x HTTP/1.1", "t", 200, "a/");
    expect_route(&h, &c, "GET /a%2Fb/x HTTP/1.1", "t", 200, "root"); /* %2F is data, not "/" */
    expect_route(&h, &c, "GET /%61/%62/%63 HTTP/1.1", "t", 200, "a/b/c");
    expect_route(&h, &c, "GET /%45xact HTTP/1.1", "t", 200, "root"); /* 'E' is not 'e' */
    expect_route(&h, &c, "GET /%65xact HTTP/1.1", "t", 200, "exact");
    expect_route(&h, &c, "GET /caf%c3%a9 HTTP/1.1", "t", 200, "cafe");
    expect_route(&h, &c, "GET /caf%C3%A9 HTTP/1.1", "t", 200, "cafe");
    expect_route(&h, &c, "GET /caf%C3%A9/ HTTP/1.1", "t", 200, "root");
    expect_route(&h, &c, "GET /%7Eu/x HTTP/1.1", "t", 200, "tilde");
    expect_route(&h, &c, "GET /%7eu/ HTTP/1.1", "t", 200, "tilde");
    expect_route(&h, &c, "GET /%7 HTTP/1.1", "t", 200, "root");
    /* An empty segment is no segment, as nginx merges slashes before it matches:
     * an upstream that merges them must not see "/a/" past that route. */
    expect_route(&h, &c, "GET //a/x HTTP/1.1", "t", 200, "a/");
    expect_route(&h, &c, "GET /a//b///c HTTP/1.1", "t", 200, "a/b/c");
    expect_route(&h, &c, "GET //exact HTTP/1.1", "t", 200, "exact");
    expect_route(&h, &c, "GET /%2Fa/x HTTP/1.1", "t", 200, "root"); /* %2F is no '/' */
    client_close(&c);
    harness_stop(&h);

    /* without a "/" route, what no route covers is 404 */
    harness_start(&h, NULL);
    route(&h, NULL, FLARE_M_ANY, "/only", "only");
    client_open(&h, &c);
    expect_route(&h, &c, "GET /only HTTP/1.1", "t", 200, "only");
    expect_route(&h, &c, "GET /other HTTP/1.1", "t", 404, NULL);
    expect_route(&h, &c, "GET /only/ HTTP/1.1", "t", 404, NULL);
    client_close(&c);
    flare_error err;
    assert_int_equal(
        flare_http_server_route(h.srv, NULL, FLARE_M_GET, NULL, "nope", tag_handler, NULL, 0, &err),
        FLARE_EINVAL);
    assert_int_equal(
        flare_http_server_route(h.srv, NULL, FLARE_M_GET, NULL, "/x", NULL, NULL, 0, &err),
        FLARE_EINVAL);
    harness_stop(&h);
}

static void test_prefix_span(void **state)
{
    (void)state;
#define SPAN(prefix, path) flare_http_route_prefix_span(prefix, strlen(prefix), path, strlen(path))
    assert_int_equal(SPAN("/api", "/api/x"), 4);
    assert_int_equal(SPAN("/api", "/%61pi/x"), 6);
    assert_int_equal(SPAN("/api", "/%61%50%69/x"), SIZE_MAX); /* %50 is 'P' */
    assert_int_equal(SPAN("/api", "//api//x"), 5);
    assert_int_equal(SPAN("/caf%C3%A9", "/caf%c3%a9/x"), 10);
    assert_int_equal(SPAN("/api", "/ap"), SIZE_MAX);
    assert_int_equal(SPAN("/api", "/apx"), SIZE_MAX);
    assert_int_equal(SPAN("", "/x"), 0);
#undef SPAN
}

static void test_dot_segments(void **state)
{
    (void)state;
    static const char *const escape[] = {"/..",        "/.",          "/a/../b",   "/a/./b",
                                         "/a/%2e%2E/", "/a/.%2e",     "/a/..;x/b", "/a\\..\\b",
                                         "/a/..%2fb",  "/a/%2E%5cb/", "..",        "/a/x/.."};
    static const char *const fine[] = {
        "/",          "/a/b",   "/a/..b",  "/a/b..", "/.well-known", "/...",
        "/a/%2e%2ex", "/a%2fb", "/a/x;..", "/%2",    "/%2e%2",       ""};
    for (size_t i = 0; i < sizeof escape / sizeof *escape; i++)
        assert_true(flare_http_path_has_dot_segment(escape[i], strlen(escape[i])));
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++)
        assert_false(flare_http_path_has_dot_segment(fine[i], strlen(fine[i])));
}

static void test_virtual_hosts(void **state)
{
    (void)state;
    harness h;
    harness_start(&h, NULL);
    route(&h, NULL, FLARE_M_ANY, "/", "default");
    route(&h, "Example.COM", FLARE_M_ANY, "/", "example");
    route(&h, "*.example.com", FLARE_M_ANY, "/", "wild");
    route(&h, "*.b.example.com", FLARE_M_ANY, "/", "wild-b");
    route(&h, "example.com", FLARE_M_ANY, "/api/", "example-api"); /* same host, interned */
    route(&h, "static.example.com", FLARE_M_ANY, "/s", "static");
    client c;
    client_open(&h, &c);
    expect_route(&h, &c, "GET / HTTP/1.1", "example.com", 200, "example");
    expect_route(&h, &c, "GET / HTTP/1.1", "EXAMPLE.com:8080", 200, "example");
    expect_route(&h, &c, "GET /api/v1 HTTP/1.1", "example.com", 200, "example-api");
    expect_route(&h, &c, "GET / HTTP/1.1", "a.example.com", 200, "wild");
    expect_route(&h, &c, "GET / HTTP/1.1", "x.b.example.com", 200, "wild-b");
    expect_route(&h, &c, "GET / HTTP/1.1", "b.example.com", 200, "wild");
    expect_route(&h, &c, "GET / HTTP/1.1", "other.org", 200, "default");
    expect_route(&h, &c, "GET / HTTP/1.1", "notexample.com", 200, "default");
    expect_route(&h, &c, "GET / HTTP/1.1", "[::1]:8080", 200, "default");
    /* A fully qualified name's final dot names the same host (RFC 1034 §3.1) */
    expect_route(&h, &c, "GET / HTTP/1.1", "example.com.", 200, "example");
    expect_route(&h, &c, "GET / HTTP/1.1", "example.com.:8080", 200, "example");
    expect_route(&h, &c, "GET / HTTP/1.1", "a.example.com.", 200, "wild");
    expect_route(&h, &c, "GET /s HTTP/1.1", "static.example.com.", 200, "static");
    expect_route(&h, &c, "GET http://example.com./ HTTP/1.1", "other.org", 200, "example");
    /* a named host's routes are its own: no fall back to the default host */
    expect_route(&h, &c, "GET /s HTTP/1.1", "static.example.com", 200, "static");
    expect_route(&h, &c, "GET /t HTTP/1.1", "static.example.com", 404, NULL);
    /* RFC 9112 §3.2.2: an absolute-form target's authority wins over Host */
    expect_route(&h, &c, "GET http://a.example.com:81/x HTTP/1.1", "other.org", 200, "wild");
    expect_route(&h, &c, "GET http://other.org HTTP/1.1", "example.com", 200, "default");
    /* The same choice asked directly, as a handler does for a path it resolved. */
#define USERDATA(host, path)                                                                       \
    (const char *)flare_http_server_route_userdata(h.srv, host, strlen(host), path, strlen(path))
    assert_string_equal(USERDATA("example.com", "/api/v1"), "example-api");
    assert_string_equal(USERDATA("EXAMPLE.com", "/"), "example");
    assert_string_equal(USERDATA("x.b.example.com", "/"), "wild-b");
    assert_string_equal(USERDATA("other.org", "/x"), "default");
    assert_string_equal(USERDATA("", "/x"), "default");
    assert_null(USERDATA("static.example.com", "/t"));
#undef USERDATA
    client_close(&c);
    harness_stop(&h);
}

static void test_methods(void **state)
{
    (void)state;
    harness h;
    harness_start(&h, NULL);
    route(&h, NULL, FLARE_M_ANY, "/any", "any");
    route(&h, NULL, FLARE_M_GET | FLARE_M_POST, "/gp", "gp");
    route(&h, NULL, FLARE_M_DELETE, "/del", "del");
    static const char *const extra[] = {"PURGE", NULL};
    flare_error err;
    assert_int_equal(flare_http_server_route(h.srv, NULL, FLARE_M_GET, extra, "/cache", tag_handler,
                                             (void *)"cache", 0, &err),
                     0);
    client c;
    client_open(&h, &c);
    static const char *const all[] = {"GET",    "HEAD",    "POST",  "PUT",
                                      "DELETE", "OPTIONS", "PATCH", "TRACE"};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(all); i++) {
        char line[64];
        snprintf(line, sizeof line, "%s /any HTTP/1.1", all[i]);
        expect_route(&h, &c, line, "t", 200, strcmp(all[i], "HEAD") ? "any" : NULL);
    }
    expect_route(&h, &c, "GET /gp HTTP/1.1", "t", 200, "gp");
    expect_route(&h, &c, "HEAD /gp HTTP/1.1", "t", 200, NULL); /* GET implies HEAD */
    expect_route(&h, &c, "DELETE /del HTTP/1.1", "t", 200, "del");
    expect_route(&h, &c, "PURGE /cache HTTP/1.1", "t", 200, "cache");
    expect_route(&h, &c, "PURGE /gp HTTP/1.1", "t", 501, NULL);    /* unknown to this route */
    expect_route(&h, &c, "purge /cache HTTP/1.1", "t", 501, NULL); /* methods are case-sensitive */

    client_send_str(&h, &c, "PUT /gp HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    client_response(&h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 405 Method Not Allowed");
    assert_header(&r, "Allow", "GET, HEAD, POST");
    assert_memory_equal(r.body.data, "405 Method Not Allowed\n", r.body.len);
    assert_header(&r, "Connection", "close");
    expect_closed(&h, &c);
    client_close(&c);
    client_open(&h, &c);
    client_send_str(&h, &c, "POST /cache HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    client_response(&h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 405 Method Not Allowed");
    assert_header(&r, "Allow", "GET, HEAD, PURGE");
    client_close(&c);
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /del HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(&h, &c, &r, false);
    assert_header(&r, "Allow", "DELETE");
    assert_header(&r, "Connection", "close"); /* a rejection: the connection ends */
    client_close(&c);
    client_open(&h, &c);
    /* CONNECT is never routed, even by FLARE_M_ANY */
    client_send_str(&h, &c, "CONNECT t:80 HTTP/1.1\r\nHost: t:80\r\n\r\n");
    client_response(&h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 501 Not Implemented");
    response_free(&r);
    client_close(&c);
    harness_stop(&h);
}

/* Routes added while a request is between head and body: the request keeps its route
 * although the table moved. */
static void test_routes_added_while_serving(void **state)
{
    (void)state;
    harness h;
    harness_start(&h, NULL);
    route(&h, NULL, FLARE_M_ANY, "/first", "first");
    client c;
    client_open(&h, &c);
    client_send_str(&h, &c, "POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    harness_pump(&h, 0);
    static char paths[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(paths[i], sizeof paths[i], "/r%d", i);
        route(&h, NULL, FLARE_M_ANY, paths[i], "later");
    }
    client_send_str(&h, &c, "cd");
    response r = {0};
    client_response(&h, &c, &r, false);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, strlen("first POST"));
    assert_memory_equal(r.body.data, "first POST", r.body.len);
    response_free(&r);
    expect_route(&h, &c, "GET /r199 HTTP/1.1", "t", 200, "later");
    client_close(&c);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),        cmocka_unit_test(test_prefix_span),
        cmocka_unit_test(test_dot_segments), cmocka_unit_test(test_virtual_hosts),
        cmocka_unit_test(test_methods),      cmocka_unit_test(test_routes_added_while_serving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
