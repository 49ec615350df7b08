/*
 * test_router_index.c: router_index.c's tables against router.c's linear scan, which
 * defines what matches. Random route sets (seeded, so every run is the same) over a
 * pool of hosts and paths chosen to meet every rule: exact against prefix, the
 * longest prefix, registration order among equals, exact names against wildcards and
 * the longest wildcard, case, escapes and "//" compared unit by unit, hosts with no
 * route, routes added after lookups began, and paths with more segments than the
 * tables probe. Every lookup must give the route (and host) the scan gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/http/server_internal.h"

static int handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)resp;
    (void)ud;
    return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33) % n;
}

static const char *const hosts[] = {
    NULL,
    "a.example",
    "A.EXAMPLE",
    "b.example",
    "*.example",
    "*.b.example",
    "x.b.example",
    "*.c",
    "*.x.b.example",
    "localhost",
    "*.",
    "*example",
    "under_score.example",
};

static const char *const paths[] = {
    "/",       "/a",        "/a/",    "/a/b",    "/a/b/",     "/ab",   "/ab/",
    "/a%62",   "/a%62/",    "/a//b/", "/%61/",   "/%61/b",    "/api/", "/api/v1/",
    "/api/v1", "/api/v1/x", "/API/",  "/a/b/c/", "/a/b/c/d/", "/%2F/", "/x%2fy/",
};

static const char *const ask_hosts[] = {
    "",
    "a.example",
    "A.Example",
    "b.example",
    "q.example",
    "y.x.b.example",
    "x.b.example",
    "z.b.example",
    "c",
    "d.c",
    "example",
    "localhost",
    "LOCALHOST",
    ".example",
    "a.example.",
    "under_score.example",
    "UNDER_SCORE.EXAMPLE",
    "under\x7fscore.example",
};

static const char *const segments[] = {"a",  "b",   "c", "d",   "api", "v1",   "x",
                                       "ab", "%61", "",  "API", "%2F", "x%2fy"};

/* A request path: a pooled one, or 1 to 40 random segments (40 passes the probes). */
static void random_path(char *out, size_t cap)
{
    if (next(3) == 0) {
        snprintf(out, cap, "%s", paths[next(sizeof paths / sizeof paths[0])]);
        return;
    }
    size_t n = next(8) == 0 ? 40 : 1 + next(5), len = 0;
    for (size_t i = 0; i < n && len + 8 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "/%s",
                                segments[next(sizeof segments / sizeof segments[0])]);
    if (next(2) && len + 2 < cap) out[len++] = '/', out[len] = '\0';
}

static void expect_same(const flare_http_server *srv, const char *host, const char *path)
{
    size_t host_len = strlen(host), path_len = strlen(path);
    const route *want = flare_http__route_match_linear(srv, host, host_len, path, path_len);
    const route *got = flare_http__route_match(srv, host, host_len, path, path_len);
    if (got != want)
        fail_msg("Host %s, path %s: route %s%s, the scan's %s%s", host, path,
                 got ? (got->host ? got->host : "") : "(none)", got ? got->path : "",
                 want ? (want->host ? want->host : "") : "(none)", want ? want->path : "");
    const char *want_host = host_len ? flare_http__pick_host_linear(srv, host, host_len) : NULL;
    assert_ptr_equal(flare_http__pick_host(srv, host, host_len), want_host);
}

static void check_random_sets(void **state)
{
    (void)state;
    flare_reactor *r;
    flare_error err;
    assert_int_equal(flare_reactor_new(&r, &err), 0);
    for (int set = 0; set < 300; set++) {
        flare_http_server *srv;
        assert_int_equal(flare_http_server_new(&srv, r, NULL, &err), 0);
        size_t count = 1 + next(40); /* over 8: the tables, not the scan */
        for (size_t i = 0; i < count; i++) {
            const char *host = hosts[next(sizeof hosts / sizeof hosts[0])];
            const char *path = paths[next(sizeof paths / sizeof paths[0])];
            assert_int_equal(
                flare_http_server_route(srv, host, FLARE_M_GET, NULL, path, handler, NULL, 0, &err),
                0);
            if (next(6) == 0) { /* a host with fields and no route of its own */
                const char *marked = hosts[1 + next(sizeof hosts / sizeof hosts[0] - 1)];
                assert_int_equal(flare_http_server_host_headers(srv, marked, NULL, &err), 0);
            }
            /* Lookups between registrations: the tables must follow. */
            if (next(4) == 0) {
                char path_buf[512];
                random_path(path_buf, sizeof path_buf);
                expect_same(srv, ask_hosts[next(sizeof ask_hosts / sizeof ask_hosts[0])], path_buf);
            }
        }
        for (int q = 0; q < 300; q++) {
            char path_buf[512];
            random_path(path_buf, sizeof path_buf);
            expect_same(srv, ask_hosts[next(sizeof ask_hosts / sizeof ask_hosts[0])], path_buf);
        }
        flare_http_server_free(srv);
    }
    flare_reactor_free(r);
}

/* Many routes over many hosts, the shape the tables are for. */
static void check_many_routes(void **state)
{
    (void)state;
    flare_reactor *r;
    flare_error err;
    assert_int_equal(flare_reactor_new(&r, &err), 0);
    flare_http_server *srv;
    assert_int_equal(flare_http_server_new(&srv, r, NULL, &err), 0);
    char host[64], path[64];
    for (int h = 0; h < 50; h++) {
        snprintf(host, sizeof host, h % 10 == 9 ? "*.site%d.example" : "site%d.example", h);
        for (int p = 0; p < 40; p++) {
            snprintf(path, sizeof path, p % 2 ? "/api/v%d/r%d/" : "/page%d/r%d", p % 3, p);
            assert_int_equal(
                flare_http_server_route(srv, host, FLARE_M_GET, NULL, path, handler, NULL, 0, &err),
                0);
        }
    }
    static const char *const asks[] = {"/api/v1/r1/x", "/api/v0/r3/", "/page0/r0",     "/page0/r2/",
                                       "/nothing",     "/api/v1/r5",  "/api/v2/r5/a/b"};
    for (int h = 0; h < 52; h++) {
        snprintf(host, sizeof host, h % 10 == 9 ? "w.site%d.example" : "Site%d.Example", h);
        for (size_t a = 0; a < sizeof asks / sizeof asks[0]; a++)
            expect_same(srv, host, asks[a]);
    }
    const route *rt = flare_http__route_match(srv, "site7.example", 13, "/api/v1/r1/x", 12);
    assert_non_null(rt);
    assert_string_equal(rt->host, "site7.example");
    assert_string_equal(rt->path, "/api/v1/r1/");
    flare_http_server_free(srv);
    flare_reactor_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_random_sets),
        cmocka_unit_test(check_many_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
