/*
 * test_client.c: the life of a request (client.c) against scripted raw servers:
 * base URL and auth, redirects (method rules, limits, loops, credentials dropped
 * across origins), cookies carried by a jar across hops, the keep-alive pool
 * (reuse, idle expiry, connections the server closed), timeouts, and connection
 * errors. The retries on a new connection are in test_client_retry.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "flare/http_client.h"
#include "test_client_harness.h"

static flare_http_client *client(const flare_http_client_config *cfg)
{
    flare_http_client *c;
    flare_error err;
    if (flare_http_client_new(&c, cfg, &err) < 0) fail_msg("client: %s", err.message);
    return c;
}

static bool head_request; /* the router's current request is a HEAD: no body (RFC 9110 §9.3.2) */

static void respond(int fd, int status, const char *extra, const char *body)
{
    char head[1024];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n", status,
             extra ? extra : "", strlen(body));
    raw_send(fd, head, 0);
    if (!head_request) raw_send(fd, body, 0);
}

/* Routes by path; answers keep-alive until the client closes. ctx: the other server's URL. */
static void router(raw_server *s, int fd, int index)
{
    (void)index;
    while (raw_read_request(s, fd) > 0) {
        const char *req = raw_request(s, raw_request_count(s) - 1);
        char method[16], path[256];
        if (sscanf(req, "%15s %255s", method, path) != 2) return;
        head_request = !strcmp(method, "HEAD");
        const char *body = strstr(req, "\r\n\r\n") + 4;
        char text[512], loc[512];
        int n;
        if (!strcmp(path, "/target")) {
            snprintf(text, sizeof text, "%s %zu %s", method, strlen(body), body);
            respond(fd, 200, NULL, text);
        } else if (sscanf(path, "/r%d", &n) == 1) {
            respond(fd, n, "Location: /target\r\n", "moved");
        } else if (!strcmp(path, "/loop")) {
            respond(fd, 302, "Location: /loop\r\n", "again");
        } else if (sscanf(path, "/chain/%d", &n) == 1) {
            if (n == 0) {
                respond(fd, 200, NULL, "end of chain");
            } else {
                snprintf(loc, sizeof loc, "Location: /chain/%d\r\n", n - 1);
                respond(fd, 302, loc, "");
            }
        } else if (!strcmp(path, "/away")) {
            snprintf(loc, sizeof loc, "Location: %s/target\r\n", (const char *)s->ctx);
            respond(fd, 302, loc, "");
        } else if (!strcmp(path, "/relative")) {
            respond(fd, 302, "Location: target\r\n", ""); /* RFC 3986 §5.2 merge */
        } else if (!strcmp(path, "/login")) {
            respond(fd, 302,
                    "Set-Cookie: sid=abc; Path=/\r\nSet-Cookie: bad\r\nLocation: /whoami\r\n", "");
        } else if (!strcmp(path, "/whoami")) {
            char cookie[256];
            snprintf(cookie, sizeof cookie, "%s", raw_header(req, "Cookie"));
            snprintf(text, sizeof text, "cookie=[%s] auth=[%s]", cookie,
                     raw_header(req, "Authorization"));
            respond(fd, 200, NULL, text);
        } else if (!strcmp(path, "/badlocation")) {
            respond(fd, 302, "Location: ftp://elsewhere/file\r\n", "");
        } else if (!strcmp(path, "/ctllocation")) {
            respond(fd, 302, "Location: /a\tb\r\n", "");
        } else if (!strcmp(path, "/spacelocation")) {
            respond(fd, 302, "Location: /a b?c d\r\n", "");
        } else if (!strcmp(path, "/a%20b?c%20d")) {
            respond(fd, 200, NULL, "spaces encoded");
        } else if (!strcmp(path, "/twolocations")) {
            respond(fd, 302, "Location: /target\r\nLocation: /elsewhere\r\n", "");
        } else if (!strcmp(path, "/samelocation")) {
            respond(fd, 302, "Location: /target\r\nX: y\r\nLocation: /target\r\n", "");
        } else if (!strcmp(path, "/nolocation")) {
            respond(fd, 301, NULL, "no location");
        } else {
            respond(fd, 404, NULL, "not found");
        }
    }
}

static char *url_of(const raw_server *s, const char *path)
{
    static char buf[4][256];
    static int i;
    char *u = buf[i++ & 3];
    snprintf(u, 256, "%s%s", s->url, path);
    return u;
}

/* A caller's Content-Type field goes with the body a redirect drops (POST made a GET
 * by a 303), and stays with one kept (307), as the client's own type does. */
static void test_redirect_drops_the_body_type(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, router, NULL);
    flare_http_client *c = client(NULL);
    flare_http_kv type = {"Content-Type", "text/plain"};
    static const char *const paths[][2] = {{"/r303", ""}, {"/r307", "text/plain"}};
    for (size_t i = 0; i < 2; i++) {
        flare_http_request_opts o = {.method = "POST",
                                     .url = url_of(&s, paths[i][0]),
                                     .headers = &type,
                                     .num_headers = 1,
                                     .body = "hello",
                                     .body_len = 5};
        flare_http_reply r;
        flare_error err;
        if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
        assert_int_equal(r.redirects, 1);
        assert_string_equal(raw_header(raw_request(&s, (int)(2 * i)), "Content-Type"),
                            "text/plain");
        assert_string_equal(raw_header(raw_request(&s, (int)(2 * i + 1)), "Content-Type"),
                            paths[i][1]);
        flare_http_reply_free(&r);
    }
    flare_http_client_free(c);
    raw_stop(&s);
}

static void test_redirect_methods(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, router, NULL);
    flare_http_client *c = client(NULL);
    flare_http_reply r;
    flare_error err;
    struct {
        const char *method, *path, *want;
    } cases[] = {
        {"POST", "/r301", "GET 0 "},
        {"POST", "/r302", "GET 0 "},
        {"POST", "/r303", "GET 0 "},
        {"PUT", "/r303", "GET 0 "},
        {"POST", "/r307", "POST 5 hello"},
        {"PUT", "/r308", "PUT 5 hello"},
        {"DELETE", "/r307", "DELETE 5 hello"},
        /* 301/302 turn only POST into GET (RFC 9110 §15.4.2-3); other methods stay */
        {"PUT", "/r302", "PUT 5 hello"},
        {"DELETE", "/r301", "DELETE 5 hello"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = raw_request_count(&s);
        flare_http_request_opts o = {.method = cases[i].method,
                                     .url = url_of(&s, cases[i].path),
                                     .body = "hello",
                                     .body_len = 5,
                                     .content_type = "text/plain"};
        if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, cases[i].want);
        assert_int_equal(r.redirects, 1);
        assert_string_equal(r.url, url_of(&s, "/target"));
        const char *second = raw_request(&s, before + 1);
        if (!strncmp(cases[i].want, "GET", 3)) {
            /* the body and its fields are gone with the method change */
            assert_string_equal(r.method, "GET");
            assert_string_equal(raw_header(second, "Content-Type"), "");
            assert_string_equal(raw_header(second, "Content-Length"), "");
        } else {
            assert_string_equal(r.method, cases[i].method);
            assert_string_equal(raw_header(second, "Content-Type"), "text/plain");
        }
        flare_http_reply_free(&r);
    }
    /* HEAD stays HEAD */
    if (flare_http_client_head(c, url_of(&s, "/r302"), &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.method, "HEAD");
    assert_int_equal(strncmp(raw_request(&s, raw_request_count(&s) - 1), "HEAD /target", 12), 0);
    flare_http_reply_free(&r);
    /* a relative Location is resolved against the current URL */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/relative"), &r, &err), 0);
    assert_string_equal(r.body, "GET 0 ");
    flare_http_reply_free(&r);
    /* a 3xx without Location is a final answer */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/nolocation"), &r, &err), 0);
    assert_int_equal(r.status, 301);
    assert_string_equal(r.body, "no location");
    flare_http_reply_free(&r);
    /* every hop reused the one connection (redirect bodies were drained) */
    assert_int_equal(raw_connection_count(&s), 1);
    /* a Location the client cannot follow is the server's fault, not the caller's */
    const char *bad[] = {"/badlocation", "/ctllocation"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(flare_http_client_get(c, url_of(&s, bad[i]), &r, &err), FLARE_EPROTO);
        assert_non_null(strstr(err.message, "Location"));
        assert_int_equal(r.status, 302);
        flare_http_reply_free(&r);
    }
    /* raw spaces in one are sent as %20, as curl sends them */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/spacelocation"), &r, &err), 0);
    assert_string_equal(r.body, "spaces encoded");
    flare_http_reply_free(&r);
    /* RFC 9110 §10.2.2: two Locations that differ are ambiguous: neither is followed */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/twolocations"), &r, &err), FLARE_EPROTO);
    assert_non_null(strstr(err.message, "two different Locations"));
    assert_int_equal(r.status, 302);
    assert_int_equal(r.redirects, 0);
    flare_http_reply_free(&r);
    /* the same value twice is that one value */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/samelocation"), &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET 0 ");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    raw_stop(&s);
}

static void test_redirect_limits(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, router, NULL);
    flare_http_client *c = client(NULL);
    flare_http_reply r;
    flare_error err;
    /* ten redirects are followed by default */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/chain/10"), &r, &err), 0);
    assert_string_equal(r.body, "end of chain");
    assert_int_equal(r.redirects, 10);
    flare_http_reply_free(&r);
    /* the eleventh is refused; the last 3xx is kept in the reply */
    int before = raw_request_count(&s);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/loop"), &r, &err), FLARE_EREDIRECT);
    assert_non_null(strstr(err.message, "too many redirects"));
    assert_int_equal(raw_request_count(&s) - before, 11);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.url, url_of(&s, "/loop"));
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    flare_http_client_config three = {.max_redirects = 3};
    c = client(&three);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/chain/4"), &r, &err), FLARE_EREDIRECT);
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/chain/3"), &r, &err), 0);
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    flare_http_client_config none = {.max_redirects = -1};
    c = client(&none);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/r302"), &r, &err), 0);
    assert_int_equal(r.status, 302);
    assert_string_equal(flare_http_reply_header(&r, "Location"), "/target");
    assert_string_equal(r.body, "moved"); /* not followed: the body is kept */
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    raw_stop(&s);
}

static void test_credentials_across_origins(void **state)
{
    (void)state;
    raw_server b, a;
    raw_start(&b, router, NULL);
    raw_start(&a, router, b.url); /* a's /away points at b */
    flare_http_client_config cfg = {.auth = {FLARE_HTTP_AUTH_BEARER, NULL, NULL, "tok_abc"}};
    flare_http_client *c = client(&cfg);
    flare_http_kv h[] = {{"Cookie", "k=v"}, {"X-Keep", "1"}, {"Proxy-Authorization", "Basic cDpx"}};
    flare_http_request_opts o = {.url = url_of(&a, "/away"), .headers = h, .num_headers = 3};
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    const char *first = raw_request(&a, 0), *second = raw_request(&b, 0);
    assert_string_equal(raw_header(first, "Authorization"), "Bearer tok_abc");
    assert_string_equal(raw_header(first, "Cookie"), "k=v");
    assert_string_equal(raw_header(first, "Proxy-Authorization"), "Basic cDpx");
    /* a new origin (same host, other port: RFC 6454) gets no credentials */
    assert_string_equal(raw_header(second, "Authorization"), "");
    assert_string_equal(raw_header(second, "Cookie"), "");
    assert_string_equal(raw_header(second, "Proxy-Authorization"), ""); /* as curl drops it */
    assert_string_equal(raw_header(second, "X-Keep"), "1");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%u", b.port);
    assert_string_equal(raw_header(second, "Host"), host);
    flare_http_reply_free(&r);
    /* a redirect within the origin keeps them */
    o.url = url_of(&a, "/r307");
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_string_equal(raw_header(raw_request(&a, 2), "Authorization"), "Bearer tok_abc");
    assert_string_equal(raw_header(raw_request(&a, 2), "Cookie"), "k=v");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    raw_stop(&a);
    raw_stop(&b);
}

static void test_base_url_and_auth(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, router, NULL);
    char base[128];
    snprintf(base, sizeof base, "%s/api/v1/", s.url);
    flare_http_client_config cfg = {.base_url = base,
                                    .auth = {FLARE_HTTP_AUTH_BEARER, NULL, NULL, "tok_abc"},
                                    .user_agent = "tests/1",
                                    .headers = (flare_http_kv[]){{"X-Default", "d"}},
                                    .num_headers = 1};
    flare_http_client *c = client(&cfg);
    flare_http_reply r;
    assert_int_equal(flare_http_client_get(c, "items", &r, NULL), 0);
    assert_int_equal(r.status, 404);
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_get(c, "/items?x=1", &r, NULL), 0);
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_get(c, "", &r, NULL), 0);
    flare_http_reply_free(&r);
    /* an absolute URL ignores the base */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/target"), &r, NULL), 0);
    assert_string_equal(r.body, "GET 0 ");
    flare_http_reply_free(&r);
    /* a request's header beats a default one */
    flare_http_kv mine[] = {{"x-default", "mine"}, {"Authorization", "Bearer other"}};
    flare_http_request_opts o = {.url = "items", .headers = mine, .num_headers = 2};
    assert_int_equal(flare_http_client_request(c, &o, &r, NULL), 0);
    flare_http_reply_free(&r);
    assert_int_equal(strncmp(raw_request(&s, 0), "GET /api/v1/items HTTP/1.1\r\n", 28), 0);
    assert_int_equal(strncmp(raw_request(&s, 1), "GET /api/v1/items?x=1 HTTP/1.1\r\n", 32), 0);
    assert_int_equal(strncmp(raw_request(&s, 2), "GET /api/v1/ HTTP/1.1\r\n", 23), 0);
    assert_string_equal(raw_header(raw_request(&s, 0), "Authorization"), "Bearer tok_abc");
    assert_string_equal(raw_header(raw_request(&s, 0), "User-Agent"), "tests/1");
    assert_string_equal(raw_header(raw_request(&s, 0), "X-Default"), "d");
    assert_string_equal(raw_header(raw_request(&s, 4), "X-Default"), "mine");
    assert_string_equal(raw_header(raw_request(&s, 4), "Authorization"), "Bearer other");
    assert_null(strstr(raw_request(&s, 4), "tok_abc"));
    flare_http_client_free(c);

    /* Basic from the config, then from the URL's userinfo (never in Host) */
    cfg = (flare_http_client_config){.auth = {FLARE_HTTP_AUTH_BASIC, "user", "pass", NULL},
                                     .user_agent = ""};
    c = client(&cfg);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/x"), &r, NULL), 0);
    flare_http_reply_free(&r);
    const char *req = raw_request(&s, 5);
    assert_string_equal(raw_header(req, "Authorization"), "Basic dXNlcjpwYXNz");
    assert_string_equal(raw_header(req, "User-Agent"), ""); /* "" sends none */
    flare_http_client_free(c);
    c = client(NULL);
    char with_user[128];
    snprintf(with_user, sizeof with_user, "http://al:i%%40ce@127.0.0.1:%u/x", s.port);
    assert_int_equal(flare_http_client_get(c, with_user, &r, NULL), 0);
    flare_http_reply_free(&r);
    req = raw_request(&s, 6);
    assert_string_equal(raw_header(req, "Authorization"), "Basic YWw6aUBjZQ==");
    assert_null(strstr(req, "al:"));
    assert_null(strstr(raw_header(req, "Host"), "@"));
    /* a relative URL without a base */
    flare_error err;
    assert_int_equal(flare_http_client_get(c, "/x", &r, &err), FLARE_EURL);
    assert_non_null(strstr(err.message, "base URL"));
    flare_http_client_free(c);
    raw_stop(&s);
}

static void test_cookies_with_jar(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, router, NULL);
    flare_cookie_jar *jar;
    assert_int_equal(flare_cookie_jar_new(&jar, NULL), 0);
    flare_http_client_config cfg = {.cookie_jar = jar};
    flare_http_client *c = client(&cfg);
    flare_http_reply r;
    /* set on a redirect, sent on the next hop; an unparsable one is ignored */
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/login"), &r, NULL), 0);
    assert_string_equal(r.body, "cookie=[sid=abc] auth=[]");
    flare_http_reply_free(&r);
    assert_int_equal(flare_cookie_jar_count(jar), 1);
    /* and on later requests, merged with the caller's own Cookie header */
    flare_http_kv h[] = {{"Cookie", "mine=1"}};
    flare_http_request_opts o = {.url = url_of(&s, "/whoami"), .headers = h, .num_headers = 1};
    assert_int_equal(flare_http_client_request(c, &o, &r, NULL), 0);
    assert_string_equal(r.body, "cookie=[mine=1; sid=abc] auth=[]");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    /* without a jar nothing is kept */
    c = client(NULL);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/login"), &r, NULL), 0);
    assert_string_equal(r.body, "cookie=[] auth=[]");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    flare_cookie_jar_free(jar);
    raw_stop(&s);
}

/* Answers one request and closes: an idle keep-alive connection closed by the server. */
static void answer_and_close(raw_server *s, int fd, int index)
{
    (void)index;
    if (raw_read_request(s, fd) > 0) respond(fd, 200, NULL, "bye");
}

static void keepalive_answers(raw_server *s, int fd, int index)
{
    (void)index;
    while (raw_read_request(s, fd) > 0)
        respond(fd, 200, NULL, "ok");
}

static void test_pool(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, keepalive_answers, NULL);
    flare_http_client_config cfg = {.pool_idle_timeout_ms = 100};
    flare_http_client *c = client(&cfg);
    flare_http_reply r;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, NULL), 0);
        assert_int_equal(r.reused_connection, i > 0);
        flare_http_reply_free(&r);
    }
    const flare_http_client_stats *st = flare_http_client_get_stats(c);
    assert_int_equal(st->connections_opened, 1);
    assert_int_equal(st->connections_reused, 4);
    assert_int_equal(st->requests, 5);
    /* past the idle timeout the pooled connection is dropped, not used */
    usleep(200000);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, NULL), 0);
    assert_false(r.reused_connection);
    flare_http_reply_free(&r);
    assert_int_equal(st->stale_closed, 1);
    assert_int_equal(st->connections_opened, 2);
    /* close_idle empties the pool */
    flare_http_client_close_idle(c);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, NULL), 0);
    flare_http_reply_free(&r);
    assert_int_equal(st->connections_opened, 3);
    flare_http_client_free(c);
    raw_stop(&s);

    /* a connection the server closed while idle is found out before use */
    raw_start(&s, answer_and_close, NULL);
    c = client(NULL);
    assert_int_equal(flare_http_client_post(c, url_of(&s, "/"), "{}", &r, NULL), 0);
    flare_http_reply_free(&r);
    assert_true(raw_wait_closed(&s, 1)); /* on loopback the FIN is there once close() returns */
    assert_int_equal(flare_http_client_post(c, url_of(&s, "/"), "{}", &r, NULL), 0);
    assert_string_equal(r.body, "bye");
    flare_http_reply_free(&r);
    st = flare_http_client_get_stats(c);
    assert_int_equal(st->stale_closed, 1);
    assert_int_equal(st->retries, 0);
    flare_http_client_free(c);
    raw_stop(&s);

    /* no_keepalive: Connection: close and a connection per request */
    raw_start(&s, keepalive_answers, NULL);
    flare_http_client_config nk = {.no_keepalive = true};
    c = client(&nk);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, NULL), 0);
        flare_http_reply_free(&r);
    }
    assert_string_equal(raw_header(raw_request(&s, 0), "Connection"), "close");
    assert_int_equal(flare_http_client_get_stats(c)->connections_opened, 2);
    flare_http_client_free(c);
    raw_stop(&s);
}

/* Never answers; or drips one byte every 50 ms without ever finishing. */
static void silent(raw_server *s, int fd, int index)
{
    (void)index;
    raw_read_request(s, fd);
    char b;
    recv(fd, &b, 1, 0); /* until the client gives up and closes */
}

static void drip(raw_server *s, int fd, int index)
{
    (void)index;
    raw_read_request(s, fd);
    raw_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0);
    for (int i = 0; i < 100; i++) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) return;
        usleep(50000);
    }
}

/* Connection 0: a redirect whose body never ends (ctx: "chunked" or "close"
 * framing), sent until the client closes or 5 s pass; later ones: 200 "ok". */
static void endless_redirect(raw_server *s, int fd, int index)
{
    if (raw_read_request(s, fd) <= 0) return;
    if (index > 0) {
        raw_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0);
        return;
    }
    bool chunked = !strcmp(s->ctx, "chunked");
    raw_send(fd,
             chunked ? "HTTP/1.1 302 Found\r\nLocation: /target\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n"
                     : "HTTP/1.1 302 Found\r\nLocation: /target\r\nConnection: close\r\n\r\n",
             0);
    static char block[4096 + 16];
    size_t off = chunked ? (size_t)snprintf(block, sizeof block, "1000\r\n") : 0;
    memset(block + off, 'x', 4096);
    off += 4096;
    if (chunked) off += (size_t)snprintf(block + off, sizeof block - off, "\r\n");
    uint64_t end = flare_monotonic_ms() + 5000;
    while (flare_monotonic_ms() < end)
        if (send(fd, block, off, MSG_NOSIGNAL) != (ssize_t)off) return;
}

static void test_redirect_endless_body(void **state)
{
    (void)state;
    static const char *const framings[] = {"close", "chunked"};
    for (size_t i = 0; i < 2; i++) {
        raw_server s;
        raw_start(&s, endless_redirect, (void *)framings[i]);
        /* as the flare tool sets it: a body streamed out may be as long as it is */
        flare_http_client_config cfg = {.max_response_bytes = UINT64_MAX / 4,
                                        .total_timeout_ms = 3000};
        flare_http_client *c = client(&cfg);
        flare_http_reply r;
        flare_error err;
        /* the redirect's body is of no use: it is not read forever, the next hop goes */
        if (flare_http_client_get(c, url_of(&s, "/start"), &r, &err) < 0)
            fail_msg("%s: %s", framings[i], err.message);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok");
        assert_int_equal(r.redirects, 1);
        flare_http_reply_free(&r);
        flare_http_client_free(c);
        raw_stop(&s);
    }
}

/* Reads the request head only, answers 413 at once and closes (unread body: a reset). */
static void early_answer(raw_server *s, int fd, int index)
{
    (void)s;
    (void)index;
    char head[4096];
    size_t got = 0;
    while (got < sizeof head - 1) {
        ssize_t n = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (n <= 0) return;
        got += (size_t)n;
        head[got] = '\0';
        if (strstr(head, "\r\n\r\n")) break;
    }
    raw_send(fd,
             "HTTP/1.1 413 Content Too Large\r\nContent-Length: 7\r\nConnection: "
             "close\r\n\r\ntoo big",
             0);
    usleep(50000); /* the answer is on its way before the reset */
}

static void test_answer_before_the_body_is_sent(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, early_answer, NULL);
    size_t len = 32u << 20;
    char *body = calloc(1, len);
    flare_http_client_config cfg = {.total_timeout_ms = 5000};
    flare_http_client *c = client(&cfg);
    flare_http_request_opts o = {
        .method = "POST", .url = url_of(&s, "/upload"), .body = body, .body_len = len};
    flare_http_reply r;
    flare_error err;
    /* the server's answer is what the caller gets, not "connection reset" */
    if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "too big");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    free(body);
    raw_stop(&s);
}

/* Reads nothing at all (not even the head) until the client closes, at most 5 s. */
static void deaf(raw_server *s, int fd, int index)
{
    (void)index;
    for (int i = 0; i < 100 && !s->stop; i++) {
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        if (poll(&p, 1, 50) > 0) return;
    }
}

/* Sends o (a GET of "/" when its URL is NULL): the request must fail with a timeout
 * whose message holds which, within 2 s. */
static void times_out(const raw_server *s, const flare_http_client_config *cfg,
                      flare_http_request_opts o, const char *which)
{
    flare_http_client *c = client(cfg);
    if (!o.url) o.url = url_of(s, "/");
    flare_http_reply r;
    flare_error err;
    uint64_t t0 = flare_monotonic_ms();
    int rc = flare_http_client_request(c, &o, &r, &err);
    uint64_t took = flare_monotonic_ms() - t0;
    if (took > 2000) fail_msg("the request took %llu ms (%s)", (unsigned long long)took, which);
    assert_int_equal(rc, FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, which));
    flare_http_reply_free(&r);
    flare_http_client_free(c);
}

/* POSTs 32 MiB (far more than socket buffers hold) to a server that reads nothing. */
static void upload_times_out(const raw_server *s, const flare_http_client_config *cfg,
                             const char *which)
{
    size_t len = 32u << 20;
    char *body = calloc(1, len);
    times_out(s, cfg, (flare_http_request_opts){.method = "POST", .body = body, .body_len = len},
              which);
    free(body);
}

static void test_upload_timeouts(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, deaf, NULL);
    /* the total timeout bounds sending the body too, not only reading the answer */
    flare_http_client_config total = {.read_timeout_ms = 4000, .total_timeout_ms = 300};
    upload_times_out(&s, &total, "total timeout");
    /* without a total timeout, the read timeout bounds a send that makes no progress */
    flare_http_client_config read = {.read_timeout_ms = 200};
    upload_times_out(&s, &read, "read timeout");
    raw_stop(&s);
}

/* A head that never ends, one field line every 50 ms, for at most 5 s. */
static void trickle_head(raw_server *s, int fd, int index)
{
    (void)index;
    raw_read_request(s, fd);
    raw_send(fd, "HTTP/1.1 200 OK\r\n", 0);
    for (int i = 0; i < 100; i++) {
        if (send(fd, "X-Drip: y\r\n", 11, MSG_NOSIGNAL) != 11) return;
        usleep(50000);
    }
}

static void test_trickled_head(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, trickle_head, NULL);
    /* each byte comes well within the read timeout, yet the head must be complete
     * within it: a trickle cannot hold the client until the 64 KiB head limit */
    flare_http_client_config cfg = {.read_timeout_ms = 300};
    times_out(&s, &cfg, (flare_http_request_opts){0}, "response head");
    raw_stop(&s);
}

static void test_timeouts(void **state)
{
    (void)state;
    raw_server s;
    raw_start(&s, silent, NULL);
    flare_http_client_config cfg = {.read_timeout_ms = 150};
    flare_http_client *c = client(&cfg);
    flare_http_reply r;
    flare_error err;
    uint64_t t0 = flare_monotonic_ms();
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, &err), FLARE_ETIMEDOUT);
    assert_true(flare_monotonic_ms() - t0 >= 140);
    assert_non_null(strstr(err.message, "read timeout"));
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    raw_stop(&s);

    /* the drip keeps the read timeout happy; the total timeout ends it */
    raw_start(&s, drip, NULL);
    cfg = (flare_http_client_config){.read_timeout_ms = 1000, .total_timeout_ms = 300};
    c = client(&cfg);
    assert_int_equal(flare_http_client_get(c, url_of(&s, "/"), &r, &err), FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "total timeout"));
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    /* a per-request total timeout overrides the client's (10 s here) */
    cfg = (flare_http_client_config){.read_timeout_ms = 10000, .total_timeout_ms = 10000};
    c = client(&cfg);
    flare_http_request_opts o = {.url = url_of(&s, "/"), .total_timeout_ms = 150};
    t0 = flare_monotonic_ms();
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "total timeout"));
    assert_true(flare_monotonic_ms() - t0 < 5000);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    raw_stop(&s);
}

static int no_such_host(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                        flare_error *err)
{
    (void)family;
    (void)out;
    (void)ctx;
    return flare_error_set(err, FLARE_ERESOLVE, 0, "resolve %s: no such host", host);
}

static void test_connection_errors(void **state)
{
    (void)state;
    /* a port that was free a moment ago: nothing listens */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(a.sin_port));
    flare_http_client *c = client(NULL);
    flare_http_reply r;
    flare_error err;
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_ECONNREFUSED);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    flare_resolver res = {no_such_host, NULL};
    flare_http_client_config cfg = {.resolver = &res};
    c = client(&cfg);
    assert_int_equal(flare_http_client_get(c, "http://nothing.test/", &r, &err), FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "nothing.test"));
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    /* a bad base URL is refused at creation */
    flare_http_client_config bad = {.base_url = "ftp://x/"};
    assert_int_equal(flare_http_client_new(&c, &bad, NULL), FLARE_EURL);
    assert_int_equal(flare_http_client_request(NULL, NULL, &r, NULL), FLARE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect_methods),
        cmocka_unit_test(test_redirect_drops_the_body_type),
        cmocka_unit_test(test_redirect_limits),
        cmocka_unit_test(test_redirect_endless_body),
        cmocka_unit_test(test_credentials_across_origins),
        cmocka_unit_test(test_base_url_and_auth),
        cmocka_unit_test(test_cookies_with_jar),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_upload_timeouts),
        cmocka_unit_test(test_trickled_head),
        cmocka_unit_test(test_answer_before_the_body_is_sent),
        cmocka_unit_test(test_connection_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
