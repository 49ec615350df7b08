/*
 * test_client_message.c: one exchange as the wire sees it, against a raw server
 * that sends exactly the bytes each test wants: the request head the client
 * writes (Host, defaults, Content-Type rule, Content-Length, fields left out), and every way a
 * response body can be framed or broken: Content-Length, chunked with extensions
 * and trailers, close-delimited, HEAD/204/304, 1xx, 101, malformed heads, cuts
 * mid-body, oversize bodies and heads, gzip/deflate, bombs, unknown codings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "flare/encoding.h"
#include "flare/http_client.h"
#include "test_client_harness.h"

/* Bytes the raw server answers with. */
typedef struct canned {
    const char *data;
    size_t len;
    bool keepalive; /* keep answering requests on the connection with the same bytes */
} canned;

static void answer(raw_server *s, int fd, int index)
{
    (void)index;
    const canned *c = s->ctx;
    while (raw_read_request(s, fd) > 0) {
        raw_send(fd, c->data, c->len ? c->len : strlen(c->data));
        if (!c->keepalive) return;
    }
}

static flare_http_client *client(const flare_http_client_config *cfg)
{
    flare_http_client *c;
    flare_error err;
    if (flare_http_client_new(&c, cfg, &err) < 0) fail_msg("client: %s", err.message);
    return c;
}

/* GETs path from a raw server answering with bytes; returns the rc, reply filled. */
static int get_canned(const canned *bytes, const flare_http_client_config *cfg, const char *method,
                      flare_http_reply *r, flare_error *err, raw_server *keep)
{
    raw_server local, *s = keep ? keep : &local;
    raw_start(s, answer, (void *)bytes);
    flare_http_client *c = client(cfg);
    char url[128];
    snprintf(url, sizeof url, "%s/path?q=1", s->url);
    flare_http_request_opts o = {.method = method, .url = url};
    int rc = flare_http_client_request(c, &o, r, err);
    flare_http_client_free(c);
    if (!keep) raw_stop(s);
    return rc;
}

static void test_request_head(void **state)
{
    (void)state;
    raw_server s;
    canned ok = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, true};
    raw_start(&s, answer, &ok);
    flare_http_client *c = client(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/a%%20b/../c?x=1#frag", s.url);
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_get(c, url, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hi");
    const char *req = raw_request(&s, 0);
    char line[128];
    snprintf(line, sizeof line, "GET /c?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", s.port);
    assert_memory_equal(req, line, strlen(line)); /* no fragment, dots removed, Host first */
    assert_string_equal(raw_header(req, "User-Agent"), FLARE_HTTP_CLIENT_USER_AGENT);
    assert_string_equal(raw_header(req, "Accept"), "*/*");
    assert_string_equal(raw_header(req, "Accept-Encoding"), "gzip, deflate");
    assert_string_equal(raw_header(req, "Content-Length"), "");
    assert_string_equal(raw_header(req, "Content-Type"), "");
    flare_http_reply_free(&r);

    /* a string body is JSON unless told otherwise (the seed's rule) */
    assert_int_equal(flare_http_client_post(c, url, "{\"a\":1}", &r, NULL), 0);
    req = raw_request(&s, 1);
    assert_string_equal(raw_header(req, "Content-Type"), "application/json");
    assert_string_equal(raw_header(req, "Content-Length"), "7");
    assert_string_equal(strstr(req, "\r\n\r\n") + 4, "{\"a\":1}");
    flare_http_reply_free(&r);
    /* POST without a body still says Content-Length: 0 (RFC 9110 §8.6) */
    assert_int_equal(flare_http_client_post(c, url, NULL, &r, NULL), 0);
    req = raw_request(&s, 2);
    assert_string_equal(raw_header(req, "Content-Length"), "0");
    assert_string_equal(raw_header(req, "Content-Type"), "");
    flare_http_reply_free(&r);
    /* explicit content types, "" for none, and a caller's header wins */
    flare_http_request_opts o = {.method = "PUT",
                                 .url = url,
                                 .body = "k=v",
                                 .body_len = 3,
                                 .content_type = "application/x-www-form-urlencoded"};
    assert_int_equal(flare_http_client_request(c, &o, &r, NULL), 0);
    assert_string_equal(raw_header(raw_request(&s, 3), "Content-Type"),
                        "application/x-www-form-urlencoded");
    flare_http_reply_free(&r);
    o.content_type = "";
    assert_int_equal(flare_http_client_request(c, &o, &r, NULL), 0);
    assert_string_equal(raw_header(raw_request(&s, 4), "Content-Type"), "");
    flare_http_reply_free(&r);
    flare_http_kv h[] = {
        {"content-type", "text/plain"}, {"User-Agent", "mine/1"}, {"X-Two", "a"}, {"X-Two", "b"}};
    o.content_type = NULL;
    o.headers = h;
    o.num_headers = 4;
    assert_int_equal(flare_http_client_request(c, &o, &r, NULL), 0);
    req = raw_request(&s, 5);
    assert_string_equal(raw_header(req, "Content-Type"), "text/plain");
    assert_string_equal(raw_header(req, "User-Agent"), "mine/1");
    assert_non_null(strstr(req, "X-Two: a\r\nX-Two: b\r\n"));
    assert_null(strstr(req, FLARE_HTTP_CLIENT_USER_AGENT));
    flare_http_reply_free(&r);
    /* a caller's Content-Type without a body is sent all the same, as curl sends -H */
    flare_http_request_opts od = {.method = "DELETE", .url = url, .headers = h, .num_headers = 1};
    assert_int_equal(flare_http_client_request(c, &od, &r, NULL), 0);
    req = raw_request(&s, 6);
    assert_string_equal(raw_header(req, "Content-Type"), "text/plain");
    assert_string_equal(raw_header(req, "Content-Length"), "");
    flare_http_reply_free(&r);
    /* a large body goes in a second write and arrives whole */
    size_t big = 200000;
    char *body = malloc(big);
    memset(body, 'z', big);
    flare_http_request_opts ob = {.method = "POST", .url = url, .body = body, .body_len = big};
    assert_int_equal(flare_http_client_request(c, &ob, &r, NULL), 0);
    req = raw_request(&s, 7);
    assert_string_equal(raw_header(req, "Content-Length"), "200000");
    assert_int_equal(strlen(strstr(req, "\r\n\r\n") + 4), big);
    free(body);
    flare_http_reply_free(&r);
    /* all of it over one connection */
    assert_int_equal(raw_connection_count(&s), 1);
    assert_int_equal(flare_http_client_get_stats(c)->connections_reused, 7);
    flare_http_client_free(c);
    raw_stop(&s);
}

/* A NULL value leaves the client's own field of that name out; a request that names a
 * field at all replaces the config's fields of that name; Host cannot be left out. */
static void test_fields_left_out(void **state)
{
    (void)state;
    raw_server s;
    canned ok = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true};
    raw_start(&s, answer, &ok);
    flare_http_kv defaults[] = {{"User-Agent", NULL}, {"X-Cfg", "1"},   {"Accept", "text/html"},
                                {"X-Unsaid", NULL},   {"X-Twice", "1"}, {"X-Twice", NULL}};
    flare_http_client_config cfg = {
        .headers = defaults, .num_headers = 6, .auth = {FLARE_HTTP_AUTH_BEARER, NULL, NULL, "tok"}};
    flare_http_client *c = client(&cfg);
    flare_http_kv own[] = {{"Accept", NULL},         {"X-Cfg", NULL},
                           {"Authorization", NULL},  {"Accept-Encoding", NULL},
                           {"User-Agent", "mine/2"}, {"X-Empty", ""}};
    flare_http_request_opts o = {.url = s.url, .headers = own, .num_headers = 6};
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
    flare_http_reply_free(&r);
    const char *req = raw_request(&s, 0);
    for (const char *gone = "Accept\0X-Cfg\0Authorization\0X-Unsaid\0"; *gone;
         gone += strlen(gone) + 1) {
        char field[32];
        snprintf(field, sizeof field, "\r\n%s:", gone);
        if (strstr(req, field)) fail_msg("%s sent in %s", gone, req);
    }
    assert_string_equal(raw_header(req, "User-Agent"), "mine/2");
    assert_non_null(strstr(req, "\r\nX-Empty: \r\n"));
    assert_string_equal(raw_header(req, "X-Twice"), "1");
    /* the config alone: its fields, and no User-Agent; a NULL beside a value of the
     * same name leaves out only what the client would write itself (curl's -H) */
    if (flare_http_client_get(c, s.url, &r, &err) < 0) fail_msg("%s", err.message);
    flare_http_reply_free(&r);
    req = raw_request(&s, 1);
    assert_null(strstr(req, "User-Agent:"));
    assert_string_equal(raw_header(req, "X-Twice"), "1");
    assert_string_equal(raw_header(req, "Accept"), "text/html");
    assert_string_equal(raw_header(req, "X-Cfg"), "1");
    assert_string_equal(raw_header(req, "Authorization"), "Bearer tok");
    assert_string_equal(raw_header(req, "Accept-Encoding"), "gzip, deflate");
    flare_http_kv no_host = {"host", NULL};
    o = (flare_http_request_opts){.url = s.url, .headers = &no_host, .num_headers = 1};
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    assert_non_null(strstr(err.message, "RFC 9112"));
    flare_http_client_free(c);
    raw_stop(&s);
}

/* A NULL value that a later value for the same name overrides is only dropped itself: the
 * field goes out once, with that value, never as "Name: (null)". */
static void test_field_left_out_then_given(void **state)
{
    (void)state;
    raw_server s;
    canned ok = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true};
    raw_start(&s, answer, &ok);
    flare_http_kv defaults[] = {{"X-Cfg", NULL}, {"X-Cfg", "2"}};
    flare_http_client_config cfg = {.headers = defaults, .num_headers = 2};
    flare_http_client *c = client(&cfg);
    flare_http_kv own[] = {
        {"X-Own", NULL}, {"X-Own", "3"}, {"User-Agent", NULL}, {"User-Agent", "mine/3"}};
    flare_http_request_opts o = {.url = s.url, .headers = own, .num_headers = 4};
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
    flare_http_reply_free(&r);
    const char *req = raw_request(&s, 0);
    if (strstr(req, "(null)")) fail_msg("a NULL value sent: %s", req);
    assert_string_equal(raw_header(req, "X-Cfg"), "2");
    assert_string_equal(raw_header(req, "X-Own"), "3");
    assert_string_equal(raw_header(req, "User-Agent"), "mine/3");
    assert_ptr_equal(strstr(req, "\r\nUser-Agent:"), strstr(req, "User-Agent: mine/3") - 2);
    flare_http_client_free(c);
    raw_stop(&s);
}

/* curl's -H rules: a NULL beside values of the same name keeps out only the client's
 * own field, every value goes in its order; the first Host is the Host; Cookie values
 * share one line (RFC 6265 §5.4), a cookie-string: "; " between pairs, whatever ';' and
 * blanks each value came with; the client's own go where curl writes them. */
static void test_field_left_out_beside_values(void **state)
{
    (void)state;
    raw_server s;
    canned ok = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true};
    raw_start(&s, answer, &ok);
    flare_http_kv defaults[] = {{"X-A", "1"},         {"X-A", NULL},        {"Host", NULL},
                                {"Host", "h1"},       {"Host", "h2"},       {"User-Agent", "u1"},
                                {"User-Agent", NULL}, {"User-Agent", "u2"}, {"Cookie", "a=1;"},
                                {"Cookie", NULL},     {"Cookie", ";"},      {"Cookie", " b=2; "}};
    flare_http_client_config cfg = {.headers = defaults,
                                    .num_headers = sizeof defaults / sizeof defaults[0],
                                    .auth = {FLARE_HTTP_AUTH_BEARER, NULL, NULL, "tok"}};
    flare_http_client *c = client(&cfg);
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_get(c, s.url, &r, &err) < 0) fail_msg("%s", err.message);
    flare_http_reply_free(&r);
    const char *want = "GET / HTTP/1.1\r\nHost: h1\r\nAuthorization: Bearer tok\r\n"
                       "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nCookie: a=1; b=2\r\n"
                       "X-A: 1\r\nUser-Agent: u1\r\nUser-Agent: u2\r\n\r\n";
    assert_string_equal(raw_request(&s, 0), want);
    /* the request's Authorization replaces the client's own; its "" Cookie goes empty */
    flare_http_kv own[] = {
        {"Authorization", NULL}, {"Authorization", "t1"}, {"Cookie", ""}, {"Authorization", "t2"}};
    flare_http_request_opts o = {.method = "POST",
                                 .url = s.url,
                                 .headers = own,
                                 .num_headers = 4,
                                 .body = "{}",
                                 .body_len = 2};
    if (flare_http_client_request(c, &o, &r, &err) < 0) fail_msg("%s", err.message);
    flare_http_reply_free(&r);
    want = "POST / HTTP/1.1\r\nHost: h1\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
           "Cookie: \r\nX-A: 1\r\nUser-Agent: u1\r\nUser-Agent: u2\r\nAuthorization: t1\r\n"
           "Authorization: t2\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}";
    assert_string_equal(raw_request(&s, 1), want);
    flare_http_client_free(c);
    raw_stop(&s);
}

static void test_injection_refused(void **state)
{
    (void)state;
    raw_server s;
    canned ok = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true};
    raw_start(&s, answer, &ok);
    flare_http_client *c = client(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/", s.url);
    flare_http_reply r;
    flare_error err;
    const flare_http_kv bad_headers[][1] = {
        {{"X-A", "v\r\nX-Injected: 1"}},
        {{"X-A", "v\nx"}},
        {{"X-A", "v\rx"}},
        {{"X A", "v"}},
        {{"X-A:", "v"}},
        {{"", "v"}},
        {{"X-A\r\nX-B", "v"}},
        {{"X-A", "\x01"}},
        {{"Content-Length", "5"}},
        {{"Transfer-Encoding", "chunked"}},
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        flare_http_request_opts o = {.url = url, .headers = bad_headers[i], .num_headers = 1};
        assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
        flare_http_reply_free(&r);
    }
    /* CONNECT (found by fuzz_client_request) went out as "CONNECT /x HTTP/1.1", a head
     * any server refuses: its target is authority-form, and this client opens no tunnel. */
    const char *bad_methods[] = {"GET /x HTTP/1.1\r\n", "GE T", "", "G\nET", "GET\t", "CONNECT"};
    for (size_t i = 0; i < sizeof bad_methods / sizeof bad_methods[0]; i++) {
        flare_http_request_opts o = {.method = bad_methods[i], .url = url};
        assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    }
    char bad_url[160];
    snprintf(bad_url, sizeof bad_url, "%s/x\r\nX-Injected: 1", s.url);
    assert_int_equal(flare_http_client_get(c, bad_url, &r, &err), FLARE_EURL);
    snprintf(bad_url, sizeof bad_url, "%s/x y", s.url);
    assert_int_equal(flare_http_client_get(c, bad_url, &r, &err), FLARE_EURL);
    flare_http_request_opts o = {.url = url, .body = "x", .body_len = 1, .content_type = "a\r\nb"};
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    /* nothing reached the server */
    usleep(50000);
    assert_int_equal(raw_connection_count(&s), 0);
    flare_http_client_free(c);
    /* the config's headers, agent and auth are checked once, at creation */
    flare_http_kv dh[] = {{"X-D", "a\r\nb"}};
    flare_http_client_config cfg = {.headers = dh, .num_headers = 1};
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), FLARE_EINVAL);
    cfg = (flare_http_client_config){.user_agent = "ua\r\nX: y"};
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), FLARE_EINVAL);
    cfg = (flare_http_client_config){.auth = {FLARE_HTTP_AUTH_BEARER, NULL, NULL, "t\r\nX: y"}};
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), FLARE_EINVAL);
    cfg = (flare_http_client_config){.auth = {FLARE_HTTP_AUTH_BASIC, "a:b", "c", NULL}};
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), FLARE_EINVAL);
    raw_stop(&s);
}

static void test_framing(void **state)
{
    (void)state;
    flare_http_reply r;
    flare_error err;
    /* chunked, with extensions and trailers (dropped) */
    canned chunked = {.data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;ext=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n"
                              "X-Sum: 1\r\n\r\n"};
    if (get_canned(&chunked, NULL, NULL, &r, &err, NULL) < 0) fail_msg("%s", err.message);
    assert_string_equal(r.body, "hello world!");
    assert_int_equal(r.body_len, 12);
    assert_null(flare_http_reply_header(&r, "X-Trailer"));
    flare_http_reply_free(&r);

    /* close-delimited: HTTP/1.0 without a length, and HTTP/1.1 without one */
    canned h10 = {.data = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"};
    assert_int_equal(get_canned(&h10, NULL, NULL, &r, &err, NULL), 0);
    assert_string_equal(r.body, "until the end");
    assert_int_equal(r.minor_version, 0);
    flare_http_reply_free(&r);
    canned h11 = {.data = "HTTP/1.1 200 OK\r\n\r\nclose-delimited body"};
    assert_int_equal(get_canned(&h11, NULL, NULL, &r, &err, NULL), 0);
    assert_string_equal(r.body, "close-delimited body");
    flare_http_reply_free(&r);

    /* HEAD, 204 and 304 have no body whatever the headers say */
    raw_server s;
    canned head = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0, true};
    assert_int_equal(get_canned(&head, NULL, "HEAD", &r, &err, &s), 0);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(flare_http_reply_header(&r, "content-length"), "1000");
    flare_http_reply_free(&r);
    raw_stop(&s);
    canned no_content = {.data = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"};
    assert_int_equal(get_canned(&no_content, NULL, NULL, &r, &err, NULL), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    assert_non_null(r.body);
    flare_http_reply_free(&r);
    canned not_modified = {.data = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"};
    assert_int_equal(get_canned(&not_modified, NULL, NULL, &r, &err, NULL), 0);
    assert_int_equal(r.status, 304);
    assert_string_equal(flare_http_reply_header(&r, "ETag"), "\"x\"");
    flare_http_reply_free(&r);

    /* 1xx are skipped (RFC 9110 §15.2) */
    canned informational = {
        .data = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>"
                "\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew"};
    assert_int_equal(get_canned(&informational, NULL, NULL, &r, &err, NULL), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.reason, "Created");
    assert_string_equal(r.body, "new");
    assert_null(flare_http_reply_header(&r, "Link"));
    flare_http_reply_free(&r);

    /* reason phrases: empty, and with spaces */
    canned reason = {.data = "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nX-Empty:\r\n\r\n"};
    assert_int_equal(get_canned(&reason, NULL, NULL, &r, &err, NULL), 0);
    assert_string_equal(r.reason, "I'm a teapot");
    assert_string_equal(flare_http_reply_header(&r, "X-Empty"), "");
    flare_http_reply_free(&r);
    canned noreason = {.data = "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"};
    assert_int_equal(get_canned(&noreason, NULL, NULL, &r, &err, NULL), 0);
    assert_string_equal(r.reason, "");
    flare_http_reply_free(&r);
}

static void test_broken_responses(void **state)
{
    (void)state;
    flare_http_reply r;
    flare_error err;
    struct {
        const char *bytes;
        int code;
        const char *message;
    } cases[] = {
        {"HTTP/1.1 abc Bad\r\n\r\n", FLARE_EPROTO, "malformed"},
        {"HTTP/2 200 OK\r\n\r\n", FLARE_EPROTO, "malformed"},
        {"ICY 200 OK\r\n\r\n", FLARE_EPROTO, "malformed"},
        {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", FLARE_EPROTO, "malformed"},
        {"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", FLARE_EPROTO, "malformed"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", FLARE_EPROTO,
         "malformed"},
        {"HTTP/1.1 101 Switching Protocols\r\n\r\n", FLARE_EPROTO, "101"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", FLARE_EPROTO, "after 5 of 10"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", FLARE_EPROTO, "chunked"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", FLARE_EPROTO, "chunked"},
        {"HTTP/1.1 200 OK\r\nContent-Le", FLARE_EPROTO, "head"},
        {"", FLARE_ECLOSED, "without a response"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        canned c = {.data = cases[i].bytes};
        int rc = get_canned(&c, NULL, NULL, &r, &err, NULL);
        if (rc != cases[i].code)
            fail_msg("case %zu: rc %d (%s), want %d", i, rc, err.message, cases[i].code);
        if (!strstr(err.message, cases[i].message))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.message, cases[i].message);
        flare_http_reply_free(&r);
    }
}

static void test_limits(void **state)
{
    (void)state;
    flare_http_reply r;
    flare_error err;
    flare_http_client_config small = {.max_response_bytes = 100};
    /* a Content-Length over the limit fails before reading the body */
    canned big = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n"};
    assert_int_equal(get_canned(&big, &small, NULL, &r, &err, NULL), FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "101 bytes"));
    flare_http_reply_free(&r);
    /* exactly at the limit is fine */
    char exact[256];
    snprintf(exact, sizeof exact, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n%0100d", 7);
    canned at = {.data = exact};
    assert_int_equal(get_canned(&at, &small, NULL, &r, &err, NULL), 0);
    assert_int_equal(r.body_len, 100);
    flare_http_reply_free(&r);
    /* chunked and close-delimited bodies are counted as they come */
    char chunks[4096] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; i++)
        strcat(chunks, "a\r\n0123456789\r\n");
    strcat(chunks, "0\r\n\r\n");
    canned ch = {.data = chunks};
    assert_int_equal(get_canned(&ch, &small, NULL, &r, &err, NULL), FLARE_ELIMIT);
    flare_http_reply_free(&r);
    char closing[512] = "HTTP/1.1 200 OK\r\n\r\n";
    memset(closing + strlen(closing), 'x', 200);
    canned cl = {.data = closing};
    assert_int_equal(get_canned(&cl, &small, NULL, &r, &err, NULL), FLARE_ELIMIT);
    flare_http_reply_free(&r);
    /* the default limit is 100 MiB: an announced 200 MiB body is refused at once */
    canned huge = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\n\r\n"};
    assert_int_equal(get_canned(&huge, NULL, NULL, &r, &err, NULL), FLARE_ELIMIT);
    flare_http_reply_free(&r);
    /* a head over 64 KiB */
    size_t n = FLARE_HTTP_CLIENT_MAX_HEAD + 100;
    char *head = malloc(n + 64);
    strcpy(head, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(head + strlen(head), 'h', n);
    head[n] = '\0';
    canned bighead = {.data = head};
    assert_int_equal(get_canned(&bighead, NULL, NULL, &r, &err, NULL), FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "head"));
    flare_http_reply_free(&r);
    free(head);
    /* more fields than the client keeps */
    flare_buf many = FLARE_BUF_INIT;
    flare_buf_append_str(&many, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < FLARE_HTTP_CLIENT_MAX_FIELDS + 1; i++)
        flare_buf_appendf(&many, "X-%d: v\r\n", i);
    flare_buf_append_str(&many, "Content-Length: 0\r\n\r\n");
    canned m = {.data = many.data, many.len};
    /* a limit, as the head size is, and named as such (not "malformed") */
    assert_int_equal(get_canned(&m, NULL, NULL, &r, &err, NULL), FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "more than 256 header fields"));
    flare_http_reply_free(&r);
    flare_buf_free(&many);
    /* endless interim responses: each head is small, together they count against
     * the head limit (a server must not hold the client with 100 Continue forever) */
    flare_buf interim = FLARE_BUF_INIT;
    while (interim.len <= 2 * FLARE_HTTP_CLIENT_MAX_HEAD)
        flare_buf_append_str(&interim, "HTTP/1.1 100 Continue\r\n\r\n");
    flare_buf_append_str(&interim, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    canned flood = {.data = interim.data, interim.len};
    assert_int_equal(get_canned(&flood, NULL, NULL, &r, &err, NULL), FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "1xx"));
    flare_http_reply_free(&r);
    flare_buf_free(&interim);
}

static void test_decoding(void **state)
{
    (void)state;
    flare_http_reply r;
    flare_error err;
    const char *text = "a body that was compressed, a body that was compressed, twice over";
    const flare_encoding encs[] = {FLARE_ENC_GZIP, FLARE_ENC_ZLIB, FLARE_ENC_DEFLATE};
    const char *names[] = {"gzip", "deflate", "deflate"}; /* raw deflate as "deflate" too */
    for (int i = 0; i < 3; i++) {
        flare_buf z = FLARE_BUF_INIT, resp = FLARE_BUF_INIT;
        assert_int_equal(flare_encoding_compress(encs[i], 9, text, strlen(text), &z, NULL), 0);
        flare_buf_appendf(&resp,
                          "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu"
                          "\r\n\r\n",
                          names[i], z.len);
        flare_buf_append(&resp, z.data, z.len);
        canned c = {.data = resp.data, resp.len};
        if (get_canned(&c, NULL, NULL, &r, &err, NULL) < 0) fail_msg("%s", err.message);
        assert_string_equal(r.body, text);
        flare_http_reply_free(&r);
        /* no_decompress: the bytes as sent, and no Accept-Encoding */
        raw_server s;
        flare_http_client_config raw = {.no_decompress = true};
        assert_int_equal(get_canned(&c, &raw, NULL, &r, &err, &s), 0);
        assert_int_equal(r.body_len, z.len);
        assert_memory_equal(r.body, z.data, z.len);
        assert_string_equal(raw_header(raw_request(&s, 0), "Accept-Encoding"), "");
        flare_http_reply_free(&r);
        raw_stop(&s);
        flare_buf_free(&z);
        flare_buf_free(&resp);
    }
    /* chunked and gzip together */
    flare_buf z = FLARE_BUF_INIT, resp = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_GZIP, 9, text, strlen(text), &z, NULL), 0);
    flare_buf_appendf(&resp, "HTTP/1.1 200 OK\r\nContent-Encoding: GZIP\r\nTransfer-Encoding: "
                             "chunked\r\n\r\n");
    for (size_t off = 0; off < z.len; off += 7) {
        size_t n = z.len - off < 7 ? z.len - off : 7;
        flare_buf_appendf(&resp, "%zx\r\n", n);
        flare_buf_append(&resp, z.data + off, n);
        flare_buf_append_str(&resp, "\r\n");
    }
    flare_buf_append_str(&resp, "0\r\n\r\n");
    canned c = {.data = resp.data, resp.len};
    assert_int_equal(get_canned(&c, NULL, NULL, &r, &err, NULL), 0);
    assert_string_equal(r.body, text);
    flare_http_reply_free(&r);
    /* truncated gzip */
    resp.len = 0;
    flare_buf_appendf(&resp,
                      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu"
                      "\r\n\r\n",
                      z.len - 4);
    flare_buf_append(&resp, z.data, z.len - 4);
    c = (canned){.data = resp.data, .len = resp.len};
    assert_int_equal(get_canned(&c, NULL, NULL, &r, &err, NULL), FLARE_EPARSE);
    assert_non_null(strstr(err.message, "truncated"));
    flare_http_reply_free(&r);
    /* corrupt gzip */
    resp.len = 0;
    flare_buf_append_str(&resp, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10"
                                "\r\n\r\nnot gzip!!");
    c = (canned){.data = resp.data, .len = resp.len};
    assert_int_equal(get_canned(&c, NULL, NULL, &r, &err, NULL), FLARE_EPARSE);
    flare_http_reply_free(&r);
    /* no content to decode: HEAD, 304, 204 and an empty body carry the coding of a
     * representation, not data (RFC 9110 §8.4, §15.4.5) */
    struct {
        const char *method, *bytes;
    } empty[] = {
        {"HEAD", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 120\r\n\r\n"},
        {"GET", "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n"},
        {"GET", "HTTP/1.1 204 No Content\r\nContent-Encoding: deflate\r\n\r\n"},
        {"GET", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"},
        {"GET", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: "
                "chunked\r\n\r\n0\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        c = (canned){.data = empty[i].bytes};
        if (get_canned(&c, NULL, empty[i].method, &r, &err, NULL) < 0)
            fail_msg("case %zu: %s", i, err.message);
        assert_int_equal(r.body_len, 0);
        flare_http_reply_free(&r);
    }
    /* two Content-Encoding lines are one list (RFC 9110 §5.3), "gzip, gzip": left
     * alone as that list on one line is, not stripped of one layer */
    flare_buf twice = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_GZIP, 9, z.data, z.len, &twice, NULL), 0);
    resp.len = 0;
    flare_buf_appendf(&resp,
                      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      twice.len);
    flare_buf_append(&resp, twice.data, twice.len);
    c = (canned){.data = resp.data, .len = resp.len};
    if (get_canned(&c, NULL, NULL, &r, &err, NULL) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.body_len, twice.len);
    assert_memory_equal(r.body, twice.data, twice.len);
    flare_http_reply_free(&r);
    flare_buf_free(&twice);
    /* a coding we did not ask for is left alone */
    resp.len = 0;
    flare_buf_append_str(&resp, "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4"
                                "\r\n\r\n\x0b\x01\x80x");
    c = (canned){.data = resp.data, .len = resp.len};
    assert_int_equal(get_canned(&c, NULL, NULL, &r, &err, NULL), 0);
    assert_int_equal(r.body_len, 4);
    flare_http_reply_free(&r);
    flare_buf_free(&z);
    flare_buf_free(&resp);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    /* 50 MiB of zeros, about 50 KiB compressed, against a 1 MiB limit */
    size_t big = 50u << 20;
    char *zeros = calloc(1, big);
    flare_buf z = FLARE_BUF_INIT, resp = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_GZIP, 9, zeros, big, &z, NULL), 0);
    free(zeros);
    flare_buf_appendf(&resp,
                      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu"
                      "\r\n\r\n",
                      z.len);
    flare_buf_append(&resp, z.data, z.len);
    canned c = {.data = resp.data, resp.len};
    flare_http_client_config cfg = {.max_response_bytes = 1 << 20};
    flare_http_reply r;
    flare_error err;
    assert_int_equal(get_canned(&c, &cfg, NULL, &r, &err, NULL), FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "limit"));
    assert_null(r.body);
    flare_http_reply_free(&r);
    flare_buf_free(&z);
    flare_buf_free(&resp);
}

typedef struct collected {
    flare_buf data;
    int calls;
    int fail_after;
    int heads;       /* on_head calls */
    int head_status; /* status seen by on_head */
    bool head_before_body;
    bool refuse_head;
} collected;

static int head_seen(void *ctx, const flare_http_reply *r, flare_error *err)
{
    collected *c = ctx;
    c->heads++;
    c->head_status = r->status;
    c->head_before_body = c->calls == 0 && flare_http_reply_header(r, "Content-Length") != NULL;
    if (c->refuse_head) return flare_error_set(err, FLARE_EINVAL, 0, "head refused");
    return 0;
}

static int collect(void *ctx, const char *data, size_t len, flare_error *err)
{
    collected *c = ctx;
    c->calls++;
    if (c->fail_after && c->calls >= c->fail_after)
        return flare_error_set(err, FLARE_ELIMIT, 0, "collector had enough");
    return flare_buf_append(&c->data, data, len);
}

static void test_on_body(void **state)
{
    (void)state;
    size_t big = 300000;
    flare_buf resp = FLARE_BUF_INIT;
    flare_buf_appendf(&resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", big);
    for (size_t i = 0; i < big; i++)
        flare_buf_append(&resp, &"0123456789"[i % 10], 1);
    canned cn = {.data = resp.data, resp.len};
    raw_server s;
    raw_start(&s, answer, &cn);
    flare_http_client *c = client(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/", s.url);
    collected got = {.data = FLARE_BUF_INIT};
    flare_http_request_opts o = {.url = url,
                                 .on_body = collect,
                                 .on_body_ctx = &got,
                                 .on_head = head_seen,
                                 .on_head_ctx = &got};
    flare_http_reply r;
    flare_error err;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_null(r.body);
    assert_int_equal(got.data.len, big);
    assert_memory_equal(got.data.data, resp.data + resp.len - big, big);
    assert_true(got.calls >= 1);
    assert_int_equal(got.heads, 1);
    assert_int_equal(got.head_status, 200);
    assert_true(got.head_before_body);
    flare_http_reply_free(&r);
    /* on_head may refuse the response: the body is not read */
    collected refuse = {.data = FLARE_BUF_INIT, .refuse_head = true};
    o.on_body_ctx = o.on_head_ctx = &refuse;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    assert_string_equal(err.message, "head refused");
    assert_int_equal(refuse.calls, 0);
    flare_http_reply_free(&r);
    o.on_head = NULL;
    /* a callback failure ends the request with its error */
    collected stop = {.data = FLARE_BUF_INIT, .fail_after = 1};
    o.on_body_ctx = &stop;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_ELIMIT);
    assert_string_equal(err.message, "collector had enough");
    flare_http_reply_free(&r);
    flare_buf_free(&got.data);
    flare_buf_free(&stop.data);
    flare_http_client_free(c);
    raw_stop(&s);
    flare_buf_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_head),
        cmocka_unit_test(test_fields_left_out),
        cmocka_unit_test(test_field_left_out_then_given),
        cmocka_unit_test(test_field_left_out_beside_values),
        cmocka_unit_test(test_injection_refused),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_broken_responses),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_on_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
