/*
 * test_cookie_server.c: the server's cookie helpers on a live flare_http_server:
 * Set-Cookie headers written by flare_response_set_cookie (read back by the
 * client's jar and by raw bytes), request cookies read from one or several
 * Cookie fields, and a cookie that would inject a header refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "flare/cookie.h"
#include "flare/http_client.h"
#include "test_client_harness.h"

static int handle_set(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    flare_cookie c;
    flare_error err;
    if (flare_cookie_init(&c, "sid", "abc", &err) < 0) return -1;
    flare_cookie_set_path(&c, "/", NULL);
    c.http_only = true;
    c.same_site = FLARE_SAMESITE_LAX;
    int rc = flare_response_set_cookie(resp, &c, &err);
    flare_cookie_free(&c);
    if (rc < 0) return rc;
    if (flare_cookie_init(&c, "theme", "dark", &err) < 0) return -1;
    c.has_max_age = true;
    c.max_age = 3600;
    rc = flare_response_set_cookie(resp, &c, &err);
    flare_cookie_free(&c);
    if (rc < 0) return rc;
    /* a hand-built cookie with CR LF in it never becomes a header */
    flare_cookie evil = {.name = "x", .value = "1\r\nX-Injected: yes"};
    if (flare_response_set_cookie(resp, &evil, &err) != FLARE_EINVAL) return -1;
    flare_cookie nameless = {0};
    if (flare_response_set_cookie(resp, &nameless, &err) != FLARE_EINVAL) return -1;
    return flare_response_text(resp, 200, "text/plain", "set", 3);
}

static int handle_read(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    size_t len = 0;
    const char *sid = flare_request_cookie(req, "sid", &len);
    flare_cookie_pair pairs[8];
    ssize_t n = flare_request_cookies(req, pairs, 8, NULL);
    char body[256];
    int m =
        snprintf(body, sizeof body, "sid=%.*s n=%zd", sid ? (int)len : 4, sid ? sid : "none", n);
    return flare_response_text(resp, 200, "text/plain", body, (size_t)m);
}

static void start(live_server *s)
{
    live_init(s);
    flare_error err;
    if (flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/set", handle_set, NULL, 0,
                                &err) < 0 ||
        flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/read", handle_read, NULL, 0,
                                &err) < 0)
        fail_msg("route: %s", err.message);
    live_run(s);
}

/* Sends raw bytes to the server, returns the response text (static buffer). */
static const char *raw_exchange(uint16_t port, const char *request)
{
    static char out[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    raw_send(fd, request, 0);
    size_t len = 0;
    ssize_t n;
    while ((n = recv(fd, out + len, sizeof out - 1 - len, 0)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fd);
    return out;
}

static void test_set_and_read(void **state)
{
    (void)state;
    live_server s;
    start(&s);
    const char *resp =
        raw_exchange(s.port, "GET /set HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, "\r\nSet-Cookie: sid=abc; Path=/; HttpOnly; SameSite=Lax\r\n"));
    assert_non_null(strstr(resp, "\r\nSet-Cookie: theme=dark; Max-Age=3600\r\n"));
    assert_null(strstr(resp, "Injected"));
    assert_non_null(strstr(resp, "\r\n\r\nset"));

    /* several Cookie fields are all read */
    resp = raw_exchange(s.port, "GET /read HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: sid=zz; "
                                "b=2\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, "sid=zz n=3"));
    resp = raw_exchange(s.port, "GET /read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, "sid=none n=0"));
    /* more pairs than the caller's array */
    resp = raw_exchange(s.port, "GET /read HTTP/1.1\r\nHost: x\r\nCookie: a=1; b=2; c=3; d=4; "
                                "e=5; f=6; g=7; h=8; sid=last\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, "sid=last n=-14")); /* FLARE_ELIMIT, but the lookup works */

    /* the client's jar takes them and sends them back */
    flare_cookie_jar *jar;
    assert_int_equal(flare_cookie_jar_new(&jar, NULL), 0);
    flare_http_client_config cfg = {.cookie_jar = jar};
    flare_http_client *c;
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), 0);
    char url[128];
    snprintf(url, sizeof url, "%s/set", s.url);
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_get(c, url, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    flare_http_reply_free(&r);
    assert_int_equal(flare_cookie_jar_count(jar), 2);
    const flare_cookie *theme = flare_cookie_jar_find(jar, "theme", "127.0.0.1");
    assert_non_null(theme);
    assert_true(theme->host_only);
    assert_true(theme->has_expires);
    snprintf(url, sizeof url, "%s/read", s.url);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), 0);
    assert_string_equal(r.body, "sid=abc n=2");
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    flare_cookie_jar_free(jar);
    live_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
