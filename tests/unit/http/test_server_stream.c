/*
 * test_server_stream.c: deferred responses (flare_response_defer and the
 * flare_http_stream_* calls in server_stream.c): the head and body sent later,
 * Content-Length and chunked framing, pipelined requests waiting behind a
 * deferred one, aborts, the length check, backpressure, the closed callback and
 * the client hanging up (499), its body paused or not, or half-closing behind pipelined
 * requests.
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
    bool pause;              /* the body reader asks to pause after each piece */
    bool upgrade_then_abort; /* body_end switches protocols, then gives up */
    int upgraded;            /* hand-overs of the socket */
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

/* The fixture server's last completion report. */
static struct {
    int count, status;
    bool aborted;
    uint64_t bytes_sent;
} report;

static void on_complete(const flare_http_completion *d, void *data)
{
    (void)data;
    report.count++;
    report.status = d->status;
    report.aborted = d->aborted;
    report.bytes_sent = d->bytes_sent;
}

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

/* Every test gets a server with a deferring route (/defer, owned by `o`) and a
 * synchronous one (/sync), and one client connected to it. */
typedef struct fixture {
    harness h;
    owner o;
    client c;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    harness_start(&f->h, NULL);
    harness_route(&f->h, NULL, FLARE_M_ANY, "/defer", defer_handler, &f->o, 0);
    harness_route(&f->h, NULL, FLARE_M_ANY, "/sync", text_handler, NULL, 0);
    flare_http_server_on_complete(f->h.srv, on_complete, NULL);
    memset(&report, 0, sizeof report);
    client_open(&f->h, &f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    client_close(&f->c);
    harness_stop(&f->h); /* a no-op when the test stopped the server itself */
    flare_buf_free(&f->o.body);
    free(f);
    return 0;
}

/* Pumps until the server closes, keeping what it sent. */
static void wait_eof(fixture *f)
{
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (!f->c.eof && flare_monotonic_ms() < deadline) {
        harness_pump(&f->h, 1);
        client_take(&f->c);
    }
}

/* What the client has received so far, as a string. */
static const char *received(fixture *f)
{
    flare_buf_append(&f->c.in, "", 1);
    return f->c.in.data;
}

/* Finishes the stream and returns all the client has received once it is written. */
static const char *finish_and_receive(fixture *f)
{
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
    harness_pump_for(&f->h, 20);
    client_take(&f->c);
    return received(f);
}

/* Sends `req` and runs the server long enough for the handler to take it. */
static void send_request(fixture *f, const char *req)
{
    client_send_str(&f->h, &f->c, req);
    harness_pump_for(&f->h, 20);
}

static void reconnect(fixture *f)
{
    client_close(&f->c);
    client_open(&f->h, &f->c);
}

static void head(fixture *f, int status, int64_t length)
{
    flare_response *resp = flare_http_stream_response(f->o.s);
    flare_response_status(resp, status);
    assert_int_equal(flare_response_header(resp, "X-Late", "yes"), 0);
    assert_int_equal(flare_http_stream_send_head(f->o.s, length), 0);
}

/* The answer comes when the owner sends it; the pipelined request waits behind it. */
static void test_content_length_and_pipelining(void **state)
{
    fixture *f = *state;
    client_send_str(&f->h, &f->c,
                    "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_silence(&f->h, &f->c, 50);
    assert_int_equal(f->o.deferred, 1);
    head(f, 200, 10);
    assert_int_equal(flare_http_stream_write(f->o.s, "hello", 5), 0);
    assert_int_equal(flare_http_stream_write(f->o.s, "world", 5), 0);
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
    response r = {0};
    client_response(&f->h, &f->c, &r, false);
    assert_int_equal(r.status, 200);
    assert_header(&r, "X-Late", "yes");
    assert_int_equal(r.body.len, 10);
    assert_memory_equal(r.body.data, "helloworld", 10);
    response_free(&r);
    expect_response(&f->h, &f->c, 200, "sync");
    assert_int_equal(f->o.closed, 0);
}

/* Unknown length: chunked to HTTP/1.1, with the terminator at finish. */
static void test_chunked(void **state)
{
    fixture *f = *state;
    client_send_str(&f->h, &f->c, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_silence(&f->h, &f->c, 20);
    head(f, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    assert_int_equal(flare_http_stream_write(f->o.s, "hello", 5), 0);
    assert_int_equal(flare_http_stream_write(f->o.s, "0123456789abcdefg", 17), 0);
    const char *got = finish_and_receive(f);
    assert_non_null(strstr(got, "Transfer-Encoding: chunked\r\n"));
    assert_null(strstr(got, "Content-Length"));
    assert_non_null(strstr(got, "\r\n\r\n5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n"));
    assert_false(f->c.eof);
}

/* A 205 has no content whatever the owner writes, and is framed as empty
 * (RFC 9110 §15.3.6), known length or not; the connection then goes on. */
static void test_reset_content_has_no_body(void **state)
{
    fixture *f = *state;
    static const int64_t lengths[] = {5, FLARE_HTTP_STREAM_UNKNOWN_LENGTH};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(lengths); i++) {
        client_send_str(
            &f->h, &f->c,
            "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
        expect_silence(&f->h, &f->c, 20);
        head(f, 205, lengths[i]);
        assert_int_equal(flare_http_stream_write(f->o.s, "hello", 5), 0);
        /* The next response follows the empty line at once: no body between them. */
        const char *got = finish_and_receive(f);
        assert_non_null(strstr(got, "HTTP/1.1 205 Reset Content\r\n"));
        assert_null(strstr(got, "Transfer-Encoding"));
        assert_non_null(strstr(got, "Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n"));
        assert_null(strstr(got, "hello"));
        flare_buf_reset(&f->c.in);
    }
}

/* HTTP/1.0 and unknown length: the close ends the body. */
static void test_http10_close_delimited(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    head(f, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    assert_int_equal(flare_http_stream_write(f->o.s, "abc", 3), 0);
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
    wait_eof(f);
    assert_true(f->c.eof);
    const char *got = received(f);
    assert_non_null(strstr(got, "Connection: close\r\n"));
    assert_null(strstr(got, "chunked"));
    assert_non_null(strstr(got, "\r\n\r\nabc"));
}

/* RFC 9110 §15.2: interim responses go out before the final one, at once and without
 * framing fields; only 1xx other than 101, only before the final head, none to an
 * HTTP/1.0 client. */
static void test_interim(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    flare_response *resp = flare_http_stream_response(f->o.s);
    static const int refused[] = {99, 101, 200, 404};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(refused); i++) {
        flare_response_status(resp, refused[i]);
        assert_int_equal(flare_http_stream_send_interim(f->o.s), FLARE_EINVAL);
    }
    flare_response_status(resp, 103);
    assert_int_equal(flare_response_header(resp, "Link", "</a.css>; rel=preload"), 0);
    assert_int_equal(flare_http_stream_send_interim(f->o.s), 0);
    harness_pump_for(&f->h, 20);
    client_take(&f->c);
    const char *got = received(f);
    assert_non_null(strstr(got, "HTTP/1.1 103 Early Hints\r\n"));
    assert_non_null(strstr(got, "Link: </a.css>; rel=preload\r\n"));
    assert_null(strstr(got, "Content-Length"));
    f->c.in.len--; /* the terminator received() added */
    head(f, 200, 2);
    assert_int_equal(flare_http_stream_write(f->o.s, "ok", 2), 0);
    got = finish_and_receive(f);
    assert_non_null(strstr(got, "\r\n\r\nHTTP/1.1 200 OK\r\n"));

    reconnect(f);
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    head(f, 200, 0);
    flare_response_status(flare_http_stream_response(f->o.s), 103);
    assert_int_equal(flare_http_stream_send_interim(f->o.s), FLARE_EINVAL); /* after the head */
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);

    reconnect(f);
    send_request(f, "GET /defer HTTP/1.0\r\n\r\n");
    flare_response_status(flare_http_stream_response(f->o.s), 103);
    assert_int_equal(flare_http_stream_send_interim(f->o.s), 0);
    head(f, 200, 0);
    got = finish_and_receive(f);
    assert_null(strstr(got, "103"));
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
}

/* A cut response closes the connection; more than Content-Length is refused. */
static void test_abort_and_overrun(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    head(f, 200, 4);
    assert_int_equal(flare_http_stream_write(f->o.s, "abcdef", 6), FLARE_EINVAL);
    wait_eof(f);
    assert_true(f->c.eof); /* the pipelined request is never answered */
    assert_null(strstr(received(f), "sync"));
    assert_int_equal(f->o.closed, 0);

    reconnect(f);
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    head(f, 200, 4);
    assert_int_equal(flare_http_stream_write(f->o.s, "ab", 2), 0);
    assert_int_equal(flare_http_stream_finish(f->o.s), FLARE_EINVAL); /* short: not complete */
    wait_eof(f);
    assert_true(f->c.eof);
}

/* A client that hangs up while the owner prepares the head, or between two body pieces,
 * has given up (499): the owner hears of it at once, not at its next write, and the
 * report has the bytes that went out. */
static void test_hang_up_ends_the_stream(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(f->o.s);
    shutdown(f->c.fd, SHUT_WR);
    harness_pump_for(&f->h, 20);
    assert_int_equal(f->o.closed, 1);
    assert_int_equal(report.count, 1);
    assert_int_equal(report.status, FLARE_HTTP_STATUS_CLIENT_CLOSED);
    assert_int_equal(report.bytes_sent, 0);
    wait_eof(f);
    assert_int_equal(f->c.in.len, 0);

    reconnect(f);
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    head(f, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    assert_int_equal(flare_http_stream_write(f->o.s, "abc", 3), 0);
    harness_pump_for(&f->h, 20);
    client_take(&f->c);
    size_t got = f->c.in.len;
    assert_non_null(strstr(received(f), "\r\n3\r\nabc\r\n"));
    shutdown(f->c.fd, SHUT_WR);
    harness_pump_for(&f->h, 20);
    assert_int_equal(f->o.closed, 2);
    assert_null(f->o.s);
    assert_int_equal(report.count, 2);
    assert_int_equal(report.status, FLARE_HTTP_STATUS_CLIENT_CLOSED);
    assert_true(report.aborted);
    assert_int_equal(report.bytes_sent, got);
}

/* Requests pipelined before the client shut its sending side are no hang-up: it
 * waits for their answers, whether they came with the deferred one or while its
 * answer was being prepared. */
static void test_half_close_after_pipelined_requests(void **state)
{
    fixture *f = *state;
    for (int split = 0; split < 2; split++) {
        reconnect(f);
        f->o.s = NULL;
        if (split) {
            send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
            send_request(f, "GET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
        } else {
            send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n"
                            "GET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        assert_non_null(f->o.s);
        shutdown(f->c.fd, SHUT_WR);
        harness_pump_for(&f->h, 20);
        assert_int_equal(f->o.closed, 0);
        head(f, 200, 2);
        assert_int_equal(flare_http_stream_write(f->o.s, "ok", 2), 0);
        assert_int_equal(flare_http_stream_finish(f->o.s), 0);
        wait_eof(f);
        const char *got = received(f);
        assert_non_null(strstr(got, "\r\n\r\nokHTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(got, "\r\n\r\nsync"));
        assert_int_equal(report.status, 200);
    }
    /* A deferred request last: once the hang-up was judged a half-close, it stays one. */
    reconnect(f);
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    shutdown(f->c.fd, SHUT_WR);
    harness_pump_for(&f->h, 20);
    for (int i = 0; i < 2; i++) {
        assert_non_null(f->o.s);
        head(f, 200, 1);
        assert_int_equal(flare_http_stream_write(f->o.s, i ? "2" : "1", 1), 0);
        assert_int_equal(flare_http_stream_finish(f->o.s), 0);
        harness_pump_for(&f->h, 20);
    }
    wait_eof(f);
    assert_int_equal(f->o.closed, 0);
    assert_non_null(strstr(received(f), "\r\n\r\n1HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(received(f), "\r\n\r\n2"));
}

/* A client that does not read: writes report the high-water mark, and `writable`
 * comes once it reads again. */
static void test_backpressure(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    head(f, 200, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
    static char piece[16384];
    memset(piece, 'x', sizeof piece);
    int rc = 0;
    size_t written = 0;
    while (rc == 0 && written < (64u << 20)) {
        rc = flare_http_stream_write(f->o.s, piece, sizeof piece);
        written += sizeof piece;
    }
    assert_int_equal(rc, 1);
    assert_true(written < (8u << 20)); /* bounded by the socket buffers and the high water */
    assert_int_equal(f->o.writable, 0);
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (!f->o.writable && flare_monotonic_ms() < deadline) {
        harness_pump(&f->h, 1);
        client_take(&f->c);
        flare_buf_reset(&f->c.in);
    }
    assert_int_equal(f->o.writable, 1);
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
}

/* The server going away tells the owner. */
static void test_closed_callback(void **state)
{
    fixture *f = *state;
    send_request(f, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(f->o.s);
    harness_stop(&f->h);
    assert_int_equal(f->o.closed, 1);
}

static int body_data(flare_http_stream *s, const char *p, size_t len, void *data)
{
    owner *o = data;
    (void)s;
    flare_buf_append(&o->body, p, len);
    return o->pause ? 1 : 0;
}

static void on_upgraded(flare_reactor *r, const flare_http_upgraded *up, void *data)
{
    owner *o = data;
    (void)r;
    close(up->fd);
    o->upgraded++;
}

static void body_end(flare_http_stream *s, void *data)
{
    owner *o = data;
    o->ended++;
    if (o->upgrade_then_abort) {
        /* Inside the event loop's pass: the 101 is only queued when the abort comes. */
        assert_int_equal(flare_http_stream_upgrade(s, on_upgraded, o), 0);
        flare_http_stream_abort(s);
    }
}

static const flare_http_body_ops body_ops = {body_data, body_end};

/* A streamed chunked body arrives in pieces, pauses and resumes, and the pipelined
 * request behind it is answered after the stream. */
static void test_streamed_body(void **state)
{
    fixture *f = *state;
    flare_error err;
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/defer", &err), 0);
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/none", &err),
                     FLARE_ENOTFOUND);
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhello\r\n");
    assert_int_equal(f->o.deferred, 1);
    assert_true(f->o.streamed);
    f->o.pause = true;
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    assert_int_equal(f->o.body.len, 5);
    send_request(f, "6\r\n world\r\n0\r\n\r\nGET /sync HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(f->o.body.len, 5); /* paused */
    f->o.pause = false;
    assert_int_equal(flare_http_stream_body_resume(f->o.s), 0);
    harness_pump_for(&f->h, 20);
    assert_int_equal(f->o.body.len, 11);
    assert_memory_equal(f->o.body.data, "hello world", 11);
    assert_int_equal(f->o.ended, 1);
    expect_silence(&f->h, &f->c, 20); /* the pipelined request waits for the response */
    head(f, 201, 0);
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
    expect_response(&f->h, &f->c, 201, "");
    expect_response(&f->h, &f->c, 200, "sync");

    /* Answered before the body is in: the connection closes after the response, which
     * says so. */
    reconnect(f);
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    head(f, 413, 0);
    assert_int_equal(flare_http_stream_finish(f->o.s), 0);
    wait_eof(f);
    assert_non_null(strstr(received(f), "HTTP/1.1 413 "));
    assert_non_null(strstr(received(f), "\r\nConnection: close\r\n"));
}

/* Broken chunked framing or a body over the route's limit, before any head: the
 * server answers 400 or 413 and ends the stream, through the return value of the
 * owner's call that ran into it, or through `closed` when the event loop did. */
static void test_streamed_body_errors(void **state)
{
    fixture *f = *state;
    flare_error err;
    harness_route(&f->h, NULL, FLARE_M_ANY, "/small", defer_handler, &f->o, 8);
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/defer", &err), 0);
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/small", &err), 0);

    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhello\r\nZZ\r\n");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), FLARE_ECLOSED);
    assert_int_equal(f->o.closed, 0); /* the call's result said it */
    wait_eof(f);
    assert_non_null(strstr(received(f), "HTTP/1.1 400 "));
    assert_non_null(strstr(received(f), "\r\nConnection: close\r\n"));

    reconnect(f);
    f->o.body.len = 0;
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhello\r\n");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    assert_int_equal(f->o.body.len, 5);
    send_request(f, "QQ\r\n");
    assert_int_equal(f->o.closed, 1);
    assert_null(f->o.s);
    wait_eof(f);
    assert_non_null(strstr(received(f), "HTTP/1.1 400 "));

    reconnect(f);
    send_request(f, "POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhello\r\n");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    send_request(f, "5\r\nworld\r\n0\r\n\r\n");
    assert_int_equal(f->o.closed, 2);
    wait_eof(f);
    assert_non_null(strstr(received(f), "HTTP/1.1 413 "));
    assert_int_equal(f->o.ended, 0); /* no body was ever whole */
}

/* A client that hangs up while its body reader has paused the body (a proxy whose
 * upstream takes no more) has left when the body can no longer end: the owner hears of
 * it at once, not when it resumes, which may be never (499). A hang-up behind the whole
 * body is left for the reader to meet. */
static void test_hang_up_while_the_body_is_paused(void **state)
{
    fixture *f = *state;
    flare_error err;
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/defer", &err), 0);
    f->o.pause = true;
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    send_request(f, "def");
    assert_int_equal(f->o.body.len, 3); /* paused */
    shutdown(f->c.fd, SHUT_WR);
    harness_pump_for(&f->h, 20);
    assert_int_equal(f->o.closed, 1);
    assert_null(f->o.s);
    assert_int_equal(report.status, FLARE_HTTP_STATUS_CLIENT_CLOSED);
    wait_eof(f);
    assert_int_equal(f->c.in.len, 0);

    /* The rest of the body is in: the reader gets it whole once it resumes. */
    reconnect(f);
    f->o.body.len = 0;
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    send_request(f, "def");
    shutdown(f->c.fd, SHUT_WR);
    harness_pump_for(&f->h, 20);
    assert_int_equal(f->o.closed, 1);
    f->o.pause = false;
    /* Whole, and then a lone request's hang-up: the client has left after all. */
    assert_int_equal(flare_http_stream_body_resume(f->o.s), FLARE_ECLOSED);
    assert_int_equal(f->o.body.len, 6);
    assert_int_equal(f->o.ended, 1);

    /* A chunked body cut short by the FIN has left too (the bytes behind it are decoded
     * unread); one whose end is in, trailers and all, is the reader's to meet. */
    static const struct {
        const char *first, *rest; /* rest is sent once the reader has paused */
        bool cut;
    } chunked[] = {
        {"a\r\nabc", "defg", true},                         /* within a chunk's data */
        {"a\r\nabc", "defghij\r\n0\r\nX-Sum: 1\r\n", true}, /* in the trailers */
        {"a\r\nabc", "defghij\r\n0\r\nX-Sum: 1\r\n\r\n", false},
        {"a\r\nabcdefghij\r\n0\r\n\r\n", NULL, false}, /* unread, in the block */
        {"a\r\nabcdefghij\r\n0\r\n", NULL, true},
    };
    for (size_t i = 0; i < sizeof chunked / sizeof chunked[0]; i++) {
        reconnect(f);
        f->o.body.len = 0;
        f->o.pause = true;
        int closed = f->o.closed, ended = f->o.ended;
        char req[128];
        snprintf(req, sizeof req,
                 "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 chunked[i].first);
        send_request(f, req);
        if (chunked[i].rest) {
            assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
            assert_int_equal(f->o.body.len, 3); /* paused */
            send_request(f, chunked[i].rest);
        }
        shutdown(f->c.fd, SHUT_WR);
        harness_pump_for(&f->h, 20);
        if (chunked[i].cut) {
            assert_int_equal(f->o.closed, closed + 1);
            assert_int_equal(report.status, FLARE_HTTP_STATUS_CLIENT_CLOSED);
            continue;
        }
        assert_int_equal(f->o.closed, closed);
        f->o.pause = false;
        int rc = chunked[i].rest ? flare_http_stream_body_resume(f->o.s)
                                 : flare_http_stream_read_body(f->o.s, &body_ops, &f->o);
        assert_int_equal(rc, FLARE_ECLOSED); /* whole, then a lone request's hang-up */
        assert_int_equal(f->o.body.len, 10);
        assert_int_equal(f->o.ended, ended + 1);
    }
}

/* A streamed body that stops coming before the owner sent a head: 408, as for a body
 * the server buffers, and the owner learns through `closed` that its stream ended. */
static void test_streamed_body_timeout(void **state)
{
    fixture *f = *state;
    flare_error err;
    client_close(&f->c);
    harness_stop(&f->h);
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.body_timeout_ms = 150;
    harness_start(&f->h, &cfg);
    harness_route(&f->h, NULL, FLARE_M_ANY, "/defer", defer_handler, &f->o, 0);
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/defer", &err), 0);
    client_open(&f->h, &f->c);
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    assert_int_equal(f->o.body.len, 3);
    wait_eof(f);
    assert_non_null(strstr(received(f), "HTTP/1.1 408 "));
    assert_non_null(strstr(received(f), "\r\nConnection: close\r\n"));
    assert_int_equal(f->o.closed, 1);
    assert_null(f->o.s);
    assert_int_equal(f->o.ended, 0);
}

/* An upgrade the owner aborts before its 101 is written is never handed over: the
 * connection just ends. */
static void test_upgrade_aborted_before_hand_over(void **state)
{
    fixture *f = *state;
    flare_error err;
    assert_int_equal(flare_http_server_route_stream_body(f->h.srv, NULL, "/defer", &err), 0);
    send_request(f, "POST /defer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    f->o.upgrade_then_abort = true;
    assert_int_equal(flare_http_stream_read_body(f->o.s, &body_ops, &f->o), 0);
    send_request(f, "0\r\n\r\n");
    assert_int_equal(f->o.ended, 1);
    wait_eof(f);
    assert_true(f->c.eof);
    assert_int_equal(f->o.upgraded, 0);
    assert_int_equal(f->o.closed, 0); /* the owner ended it itself */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_length_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_content_has_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_close_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_overrun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_up_ends_the_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close_after_pipelined_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_body_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_up_while_the_body_is_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_body_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_aborted_before_hand_over, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
