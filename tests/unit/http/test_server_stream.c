/*
 * test_server_stream.c: deferred responses (flare_response_defer and the
 * flare_http_stream_* calls in server_conn.c): the head and body sent later,
 * Content-Length and chunked framing, pipelined requests waiting behind a
 * deferred one, aborts, the length check, backpressure and the closed callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "server_harness.h"

typedef struct owner {
    flare_http_stream *s;
    int deferred, writable, closed;
    bool streamed; /* the handler saw body_streamed */
    flare_buf body;
    int ended;
    bool pause; /* the body reader asks to pause after each piece */
} owner;

static void on_writable(flare_http_stream *s, void *data)
{
    owner *o = data;
    (void)s;
    o->writable++;
}

static void on_closed(flare_http_stream *s, void *data)
{
    owner *o = data;
    (void)s;
    o->closed++;
    o->s = NULL;
}

static const flare_http_stream_ops ops = {on_writable, on_closed};

static int defer_handler(const flare_request *req, flare_response *resp, void *data)
{
    owner *o = data;
    flare_response_status(resp, 418); /* discarded by the defer */
    o->streamed = req->body_streamed;
    o->s = flare_response_defer(resp, &ops, o);
    assert_non_null(o->s);
    o->deferred++;
    return 0;
}

static int text_handler(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    return flare_response_text(resp, 200, "text/plain", "sync", 4);
}

static void start(harness *h, owner *o)
{
    memset(o, 0, sizeof *o);
    harness_start(h, NULL);
    harness_route(h, NULL, FLARE_M_ANY, "/defer", defer_handler, o, 0);
    harness_route(h, NULL, FLARE_M_ANY, "/sync", text_handler, NULL, 0);
}

/* Pumps until the server closes, keeping what it sent. */
static void wait_eof(harness *h, client *c)
{
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (!c->eof && flare_monotonic_ms() < deadline) {
        harness_pump(h, 1);
        client_take(c);
    }
}

static void head(owner *o, int status, int64_t length)
{
    flare_response *resp = flare_http_stream_response(o->s);
    flare_response_status(resp, status);
    assert_int_equal(flare_response_header(resp, "X-Late", "yes"), 0);
    assert_int_equal(flare_http_stream_send_head(o->s, length), 0);
}

/* The answer comes when the owner sends it; the pipelined request waits behind it. */
static void test_content_length_and_pipelining(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c,
                    "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_silence(&h, &c, 50);
    assert_int_equal(o.deferred, 1);
    head(&o, 200, 10);
    assert_int_equal(flare_http_stream_write(o.s, "hello", 5), 0);
    assert_int_equal(flare_http_stream_write(o.s, "world", 5), 0);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    response r = {0};
    client_response(&h, &c, &r, false);
    assert_int_equal(r.status, 200);
    assert_header(&r, "X-Late", "yes");
    assert_int_equal(r.body.len, 10);
    assert_memory_equal(r.body.data, "helloworld", 10);
    response_free(&r);
    expect_response(&h, &c, 200, "sync");
    assert_int_equal(o.closed, 0);
    client_close(&c);
    harness_stop(&h);
}

/* Unknown length: chunked to HTTP/1.1, with the terminator at finish. */
static void test_chunked(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_silence(&h, &c, 20);
    head(&o, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    assert_int_equal(flare_http_stream_write(o.s, "hello", 5), 0);
    assert_int_equal(flare_http_stream_write(o.s, "0123456789abcdefg", 17), 0);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    harness_pump_for(&h, 20);
    client_take(&c);
    flare_buf_append(&c.in, "", 1);
    assert_non_null(strstr(c.in.data, "Transfer-Encoding: chunked\r\n"));
    assert_null(strstr(c.in.data, "Content-Length"));
    assert_non_null(
        strstr(c.in.data, "\r\n\r\n5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n"));
    assert_false(c.eof);
    client_close(&c);
    harness_stop(&h);
}

/* HTTP/1.0 and unknown length: the close ends the body. */
static void test_http10_close_delimited(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /defer HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    harness_pump_for(&h, 20);
    head(&o, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    assert_int_equal(flare_http_stream_write(o.s, "abc", 3), 0);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    wait_eof(&h, &c);
    assert_true(c.eof);
    flare_buf_append(&c.in, "", 1);
    assert_non_null(strstr(c.in.data, "Connection: close\r\n"));
    assert_null(strstr(c.in.data, "chunked"));
    assert_non_null(strstr(c.in.data, "\r\n\r\nabc"));
    client_close(&c);
    harness_stop(&h);
}

/* A cut response closes the connection; more than Content-Length is refused. */
static void test_abort_and_overrun(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c,
                    "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_pump_for(&h, 20);
    head(&o, 200, 4);
    assert_int_equal(flare_http_stream_write(o.s, "abcdef", 6), FLARE_EINVAL);
    wait_eof(&h, &c);
    assert_true(c.eof); /* the pipelined request is never answered */
    flare_buf_append(&c.in, "", 1);
    assert_null(strstr(c.in.data, "sync"));
    assert_int_equal(o.closed, 0);
    client_close(&c);

    client_open(&h, &c);
    client_send_str(&h, &c, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_pump_for(&h, 20);
    head(&o, 200, 4);
    assert_int_equal(flare_http_stream_write(o.s, "ab", 2), 0);
    assert_int_equal(flare_http_stream_finish(o.s), FLARE_EINVAL); /* short: not complete */
    wait_eof(&h, &c);
    assert_true(c.eof);
    client_close(&c);
    harness_stop(&h);
}

/* A client that does not read: writes report the high-water mark, and `writable`
 * comes once it reads again. */
static void test_backpressure(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_pump_for(&h, 20);
    head(&o, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    static char piece[16384];
    memset(piece, 'x', sizeof piece);
    int rc = 0;
    size_t written = 0;
    while (rc == 0 && written < (64u << 20)) {
        rc = flare_http_stream_write(o.s, piece, sizeof piece);
        written += sizeof piece;
    }
    assert_int_equal(rc, 1);
    assert_true(written < (8u << 20)); /* bounded by the socket buffers and the high water */
    assert_int_equal(o.writable, 0);
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (!o.writable && flare_monotonic_ms() < deadline) {
        harness_pump(&h, 1);
        client_take(&c);
        flare_buf_reset(&c.in);
    }
    assert_int_equal(o.writable, 1);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    client_close(&c);
    harness_stop(&h);
}

/* The server going away tells the owner. */
static void test_closed_callback(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_pump_for(&h, 20);
    assert_non_null(o.s);
    harness_stop(&h);
    assert_int_equal(o.closed, 1);
    client_close(&c);
}

static int body_data(flare_http_stream *s, const char *p, size_t len, void *data)
{
    owner *o = data;
    (void)s;
    flare_buf_append(&o->body, p, len);
    return o->pause ? 1 : 0;
}

static void body_end(flare_http_stream *s, void *data)
{
    owner *o = data;
    (void)s;
    o->ended++;
}

static const flare_http_body_ops body_ops = {body_data, body_end};

/* A streamed chunked body arrives in pieces, pauses and resumes, and the pipelined
 * request behind it is answered after the stream. */
static void test_streamed_body(void **state)
{
    (void)state;
    harness h;
    owner o;
    client c;
    start(&h, &o);
    flare_error err;
    assert_int_equal(flare_http_server_route_stream_body(h.srv, NULL, "/defer", &err), 0);
    assert_int_equal(flare_http_server_route_stream_body(h.srv, NULL, "/none", &err),
                     FLARE_ENOTFOUND);
    client_open(&h, &c);
    client_send_str(&h, &c,
                    "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhello\r\n");
    harness_pump_for(&h, 20);
    assert_int_equal(o.deferred, 1);
    assert_true(o.streamed);
    o.pause = true;
    assert_int_equal(flare_http_stream_read_body(o.s, &body_ops, &o), 0);
    assert_int_equal(o.body.len, 5);
    client_send_str(&h, &c, "6\r\n world\r\n0\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_pump_for(&h, 20);
    assert_int_equal(o.body.len, 5); /* paused */
    o.pause = false;
    assert_int_equal(flare_http_stream_body_resume(o.s), 0);
    harness_pump_for(&h, 20);
    assert_int_equal(o.body.len, 11);
    assert_memory_equal(o.body.data, "hello world", 11);
    assert_int_equal(o.ended, 1);
    expect_silence(&h, &c, 20); /* the pipelined request waits for the response */
    head(&o, 201, 0);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    expect_response(&h, &c, 201, "");
    expect_response(&h, &c, 200, "sync");
    client_close(&c);

    /* Answered before the body is in: the connection closes after the response. */
    client_open(&h, &c);
    client_send_str(&h, &c, "POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    harness_pump_for(&h, 20);
    head(&o, 413, 0);
    assert_int_equal(flare_http_stream_finish(o.s), 0);
    wait_eof(&h, &c);
    flare_buf_append(&c.in, "", 1);
    assert_non_null(strstr(c.in.data, "HTTP/1.1 413 "));
    client_close(&c);
    flare_buf_free(&o.body);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_and_pipelining),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_http10_close_delimited),
        cmocka_unit_test(test_abort_and_overrun),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_closed_callback),
        cmocka_unit_test(test_streamed_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
