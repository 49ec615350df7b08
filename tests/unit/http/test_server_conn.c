/*
 * test_server_conn.c: the per-connection state machine of src/http/server_conn.c and its siblings,
 * driven in-process over socketpairs (server_harness.h): pipelining under random
 * chunkings, bodies (Content-Length, chunked, 100-continue), keep-alive rules,
 * built-in answers, parser errors, timeouts, backpressure, and the batch property:
 * 16 pipelined requests in one read cost one recv, one send and no allocation.
 * send/recv/write... are wrapped (-Wl,--wrap, see meson.build) to count system calls.
 * Longer than the ~800-line guideline on purpose: one executable per source file, and
 * the connection state machine is the server's biggest surface.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/sendfile.h>
#include <sys/uio.h>

#include "server_harness.h"

/* ------------------------------------------------- system call counting */

static int counted_fd = -1;
static unsigned count_send, count_recv, count_other_write, count_other_read;

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __real_writev(int fd, const struct iovec *iov, int n);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __real_sendfile64(int out, int in, off_t *off, size_t len);
ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int n);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_sendfile64(int out, int in, off_t *off, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len);
ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags);

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    if (fd == counted_fd) count_send++;
    return __real_send(fd, buf, len, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
    if (fd == counted_fd) count_recv++;
    return __real_recv(fd, buf, len, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    if (fd == counted_fd) count_other_write++;
    return __real_write(fd, buf, len);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
    if (fd == counted_fd) count_other_write++;
    return __real_writev(fd, iov, n);
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (fd == counted_fd) count_other_write++;
    return __real_sendmsg(fd, msg, flags);
}

ssize_t __wrap_sendfile64(int out, int in, off_t *off, size_t len)
{
    if (out == counted_fd) count_other_write++;
    return __real_sendfile64(out, in, off, len);
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
    if (fd == counted_fd) count_other_read++;
    return __real_read(fd, buf, len);
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (fd == counted_fd) count_other_read++;
    return __real_recvmsg(fd, msg, flags);
}

/* ----------------------------------------------------- allocation counting */

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_HOOKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_HOOKS 0
#endif
#endif
#ifndef ALLOC_HOOKS
#define ALLOC_HOOKS 1
#endif

static bool counting_allocs;
static unsigned count_allocs, count_frees;

#if ALLOC_HOOKS
/* glibc exports its allocator under these names, so the test can interpose malloc. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    if (counting_allocs) count_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (counting_allocs) count_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (counting_allocs) count_allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (counting_allocs && p) count_frees++;
    __libc_free(p);
}
#endif

/* ------------------------------------------------------------- helpers */

#define BIG_BODY (4u << 20)

static char pattern_byte(size_t i)
{
    return (char)((i * 31u + i / 7u) & 0xffu);
}

/* 4 MiB of a position-dependent pattern, so a lost or repeated byte is seen. */
static int big_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    static char *body;
    if (!body) {
        body = malloc(BIG_BODY);
        if (!body) return -1;
        for (size_t i = 0; i < BIG_BODY; i++)
            body[i] = pattern_byte(i);
    }
    return flare_response_body(resp, body, BIG_BODY);
}

/* "plaintext-<query>": a TechEmpower-style plaintext answer built without allocating. */
static int plain_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    char body[64] = "plaintext-";
    size_t n = 10;
    for (size_t i = 0; i < req->query_len && n < sizeof body; i++)
        body[n++] = req->query[i];
    if (flare_response_header(resp, "Content-Type", "text/plain") < 0) return -1;
    return flare_response_body(resp, body, n);
}

static void start_echo(harness *h, const flare_http_server_config *cfg)
{
    harness_start(h, cfg);
    harness_route(h, NULL, FLARE_M_ANY, "/echo/", echo_handler, NULL, 1 << 20);
    harness_route(h, NULL, FLARE_M_GET, "/getonly", echo_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_ANY, "/small/", echo_handler, NULL, 16);
    harness_route(h, NULL, FLARE_M_GET, "/big", big_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/plain", plain_handler, NULL, 0);
}

/* Reads one echo response and checks it byte for byte. */
static void expect_echo(harness *h, client *c, const char *method, const char *path,
                        const char *query, unsigned nth, const char *body, size_t body_len)
{
    flare_buf want = FLARE_BUF_INIT;
    echo_expect(&want, method, path, query, "t", nth, body, body_len);
    response r = {0};
    client_response(h, c, &r, false);
    assert_int_equal(r.status, 200);
    assert_status_line(&r, "HTTP/1.1 200 OK");
    assert_header(&r, "Content-Type", "text/plain");
    assert_header(&r, "Server", "flare-test");
    if (r.body.len != want.len || memcmp(r.body.data, want.data, want.len) != 0)
        fail_msg("echo of %s %s: got %zu bytes \"%.*s\", want %zu", method, path, r.body.len,
                 (int)(r.body.len < 200 ? r.body.len : 200), r.body.data, want.len);
    response_free(&r);
    flare_buf_free(&want);
}

/* Writes `len` bytes in pieces chosen by the PRNG, sometimes letting the server run
 * between pieces and sometimes not, so reads see every kind of split and coalescing. */
static void send_chunked_randomly(harness *h, client *c, const char *data, size_t len,
                                  uint64_t *seed)
{
    size_t off = 0;
    while (off < len) {
        uint64_t r = prng_next(seed);
        static const size_t spans[] = {8, 64, 2000, 20000};
        size_t piece = 1 + (size_t)((r >> 8) % spans[r & 3]);
        if (piece > len - off) piece = len - off;
        client_send(h, c, data + off, piece);
        off += piece;
        if ((r >> 40) % 3) {
            harness_pump(h, 0);
            client_take(c);
        }
    }
}

/* Closes the client and connects a fresh one, letting the server see the close first. */
static void reconnect(harness *h, client *c)
{
    client_close(c);
    harness_pump(h, 0);
    client_open(h, c);
}

/* Reads a response with exactly `status_line` that says Connection: close, and checks
 * that the server then closes without answering anything sent behind the request. The
 * caller checks what else it needs in `r` and frees it. */
static void read_closing_answer(harness *h, client *c, response *r, const char *status_line)
{
    client_response(h, c, r, false);
    assert_status_line(r, status_line);
    assert_header(r, "Connection", "close");
    expect_closed(h, c);
}

static void expect_closing_answer(harness *h, client *c, const char *status_line)
{
    response r = {0};
    read_closing_answer(h, c, &r, status_line);
    response_free(&r);
}

/* ------------------------------------------------------------ fixtures */

/* Every test gets a server with the echo routes and one client connected to it. */
typedef struct fixture {
    harness h;
    client c;
} fixture;

static int fixture_setup(void **state, const flare_http_server_config *cfg)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    start_echo(&f->h, cfg);
    client_open(&f->h, &f->c);
    *state = f;
    return 0;
}

static int echo_setup(void **state)
{
    return fixture_setup(state, NULL);
}

/* Short timeouts, for the tests of the deadlines. */
static int timeout_setup(void **state)
{
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.header_timeout_ms = 150;
    cfg.body_timeout_ms = 150;
    cfg.keepalive_timeout_ms = 100;
    cfg.write_timeout_ms = 150;
    cfg.linger_timeout_ms = 100;
    return fixture_setup(state, &cfg);
}

static int keepalive3_setup(void **state)
{
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.max_keepalive_requests = 3;
    return fixture_setup(state, &cfg);
}

static int fixture_teardown(void **state)
{
    fixture *f = *state;
    client_close(&f->c);
    harness_stop(&f->h);
    free(f);
    return 0;
}

static harness *fixture_server(void **state)
{
    return &((fixture *)*state)->h;
}

static client *fixture_client(void **state)
{
    return &((fixture *)*state)->c;
}

/* ------------------------------------------------------- state machine */

static void test_pipelined_random_chunkings(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);

    static char big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    static char chunk_big[20000];
    for (size_t i = 0; i < sizeof chunk_big; i++)
        chunk_big[i] = (char)('A' + i % 23);

    flare_buf stream = FLARE_BUF_INIT;
    flare_buf_append_str(&stream, "GET /echo/a HTTP/1.1\r\nHost: t\r\n\r\n");
    flare_buf_append_str(&stream, "GET /echo/b?x=1&y=2 HTTP/1.1\r\nHost: t:8080\r\n\r\n");
    flare_buf_append_str(&stream, "POST /echo/p HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
                                  "hello world");
    flare_buf_append_str(&stream,
                         "POST /echo/big HTTP/1.1\r\nHost: t\r\nContent-Length: 40000\r\n\r\n");
    flare_buf_append(&stream, big, sizeof big);
    flare_buf_append_str(&stream, "POST /echo/c HTTP/1.1\r\nHost: t\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n"
                                  "5;name=value\r\nhello\r\n"
                                  "1a ; ext;x=\"q\"\r\n abcdefghijklmnopqrstuvwxy\r\n"
                                  "4E20\r\n");
    flare_buf_append(&stream, chunk_big, sizeof chunk_big);
    flare_buf_append_str(&stream, "\r\n0;last\r\nX-Trailer: yes\r\nAnother: 1\r\n\r\n");
    flare_buf_append_str(&stream, "GET /echo/g HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n"
                                  "discard");
    flare_buf_append_str(&stream, "HEAD /echo/h HTTP/1.1\r\nHost: t\r\n\r\n");
    flare_buf_append_str(&stream, "GET /echo/last HTTP/1.1\r\nHost: t\r\n\r\n");

    flare_buf chunked_body = FLARE_BUF_INIT;
    flare_buf_append_str(&chunked_body, "hello abcdefghijklmnopqrstuvwxy");
    flare_buf_append(&chunked_body, chunk_big, sizeof chunk_big);
    flare_buf head_want = FLARE_BUF_INIT;
    echo_expect(&head_want, "HEAD", "/echo/h", NULL, "t", 7, "", 0);
    char head_len[32];
    snprintf(head_len, sizeof head_len, "%zu", head_want.len);

    for (uint64_t s = 1; s <= 40; s++) {
        uint64_t seed = s * 0x9E3779B97F4A7C15ull;
        send_chunked_randomly(h, c, stream.data, stream.len, &seed);
        expect_echo(h, c, "GET", "/echo/a", NULL, 1, "", 0);
        expect_echo(h, c, "GET", "/echo/b", "x=1&y=2", 2, "", 0);
        expect_echo(h, c, "POST", "/echo/p", NULL, 3, "hello world", 11);
        expect_echo(h, c, "POST", "/echo/big", NULL, 4, big, sizeof big);
        expect_echo(h, c, "POST", "/echo/c", NULL, 5, chunked_body.data, chunked_body.len);
        expect_echo(h, c, "GET", "/echo/g", NULL, 6, "discard", 7);
        response r = {0};
        client_response(h, c, &r, true);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Length", head_len); /* what GET would have sent */
        response_free(&r);
        expect_echo(h, c, "GET", "/echo/last", NULL, 8, "", 0);
        expect_silence(h, c, 2);
        reconnect(h, c);
    }
    assert_int_equal(flare_http_server_get_stats(h->srv)->requests, 40 * 8);
    flare_buf_free(&stream);
    flare_buf_free(&chunked_body);
    flare_buf_free(&head_want);
}

/* A chunked upload with extensions and trailers split in two at every offset, with a
 * pipelined request behind it: the decoder's state and the leftover must survive. */
static void test_chunked_split_at_every_offset(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    static const char req[] = "POST /echo/up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                              "\r\n"
                              "4;a=b\r\nWiki\r\n"
                              "6 ;quoted=\"x;y\"\r\npedia \r\n"
                              "E\r\nin \r\n\r\nchunks.\r\n"
                              "0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n"
                              "GET /echo/after HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char body[] = "Wikipedia in \r\n\r\nchunks.";
    size_t len = sizeof req - 1;
    for (size_t k = 1; k < len; k++) {
        client_send(h, c, req, k);
        harness_pump(h, 0);
        client_take(c);
        client_send(h, c, req + k, len - k);
        expect_echo(h, c, "POST", "/echo/up", NULL, 1, body, sizeof body - 1);
        expect_echo(h, c, "GET", "/echo/after", NULL, 2, "", 0);
        reconnect(h, c);
    }
}

/* A pipelined batch whose second request's head or body ends right at the edge of
 * the server's input block (16 KiB with the default limits): every offset around it. */
static void test_block_boundaries(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    static const char *seconds[] = {
        "POST /echo/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo/l HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n",
    };
    static const char *bodies[] = {"5\r\nhello\r\n0\r\n\r\n",
                                   "0123456789012345678901234567890123456789"};
    static const char *decoded[] = {"hello", "0123456789012345678901234567890123456789"};
    /* the first request fills the block with its body */
    static const char first_fmt[] = "POST /echo/pad HTTP/1.1\r\nHost: t\r\nContent-Length: %05zu"
                                    "\r\n\r\n";
    static char pad[16384];
    memset(pad, 'p', sizeof pad);
    for (size_t kind = 0; kind < 2; kind++) {
        size_t fixed = strlen(first_fmt) + strlen(seconds[kind]); /* %05zu is 5 wide */
        for (size_t end = 16384 - 64; end <= 16384 + 64; end++) {
            size_t pad_len = end - fixed;
            flare_buf stream = FLARE_BUF_INIT;
            flare_buf_appendf(&stream, first_fmt, pad_len);
            flare_buf_append(&stream, pad, pad_len);
            flare_buf_append_str(&stream, seconds[kind]);
            assert_int_equal(stream.len, end);
            flare_buf_append_str(&stream, bodies[kind]);
            flare_buf_append_str(&stream, "GET /echo/after HTTP/1.1\r\nHost: t\r\n\r\n");
            client_send(h, c, stream.data, stream.len);
            expect_echo(h, c, "POST", "/echo/pad", NULL, 1, pad, pad_len);
            expect_echo(h, c, "POST", kind ? "/echo/l" : "/echo/c", NULL, 2, decoded[kind],
                        strlen(decoded[kind]));
            expect_echo(h, c, "GET", "/echo/after", NULL, 3, "", 0);
            reconnect(h, c);
            flare_buf_free(&stream);
        }
    }
}

static void test_expect_continue(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(h, c,
                    "POST /echo/e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n");
    response r = {0};
    client_response(h, c, &r, false);
    assert_int_equal(r.status, 100);
    assert_int_equal(r.head_len, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
    assert_memory_equal(r.head, "HTTP/1.1 100 Continue\r\n\r\n", r.head_len);
    expect_silence(h, c, 30); /* no final answer before the body */
    client_send_str(h, c, "abcde");
    expect_echo(h, c, "POST", "/echo/e", NULL, 1, "abcde", 5);

    /* chunked, on the same connection */
    client_send_str(h, c,
                    "PUT /echo/e2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-continue\r\n\r\n");
    client_response(h, c, &r, false);
    assert_int_equal(r.status, 100);
    expect_silence(h, c, 20);
    client_send_str(h, c, "3\r\nxyz\r\n0\r\n\r\n");
    expect_echo(h, c, "PUT", "/echo/e2", NULL, 2, "xyz", 3);

    /* the whole body already sent with the head: no 100 is needed or sent */
    client_send_str(h, c,
                    "POST /echo/e3 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                    "Expect: 100-continue\r\n\r\nok");
    expect_echo(h, c, "POST", "/echo/e3", NULL, 3, "ok", 2);
    response_free(&r);
}

/* A final status instead of 100: sent at once, without reading the body, and the
 * connection closes (the client may or may not send the body: RFC 9110 §10.1.1). */
static void test_expect_continue_refused(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    struct {
        const char *head, *status_line, *allow;
    } cases[] = {
        {"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n", "HTTP/1.1 404 Not Found",
         NULL},
        {"POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n",
         "HTTP/1.1 413 Content Too Large", NULL},
        {"POST /getonly HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n",
         "HTTP/1.1 405 Method Not Allowed", "GET, HEAD"},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(cases); i++) {
        client_send_str(h, c, cases[i].head);
        client_send_str(h, c, "Expect: 100-continue\r\n\r\n");
        response r = {0};
        read_closing_answer(h, c, &r, cases[i].status_line);
        if (cases[i].allow) assert_header(&r, "Allow", cases[i].allow);
        response_free(&r);
        reconnect(h, c);
    }
}

static void test_get_body_discarded_and_head(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    harness_route(h, NULL, FLARE_M_GET, "/g", echo_handler, NULL, 0);
    /* HEAD on a GET-only route: same fields and Content-Length as GET, and no body, so
     * the pipelined request behind it parses. */
    client_send_str(h, c,
                    "GET /g HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
                    "HEAD /g HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /g HTTP/1.1\r\nHost: t\r\n\r\n");
    response get = {0}, head = {0};
    client_response(h, c, &get, false);
    assert_int_equal(get.status, 200);
    client_response(h, c, &head, true);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.body.len, 0);
    /* Same length as a GET of it: "M=GET ..." and "M=HEAD ..." differ by one byte, and
     * N=1 L=4 vs N=2 L=0 are the same width. */
    flare_buf want = FLARE_BUF_INIT;
    echo_expect(&want, "HEAD", "/g", NULL, "t", 2, "", 0);
    char cl[24];
    snprintf(cl, sizeof cl, "%zu", want.len);
    assert_header(&head, "Content-Length", cl);
    assert_header(&head, "Content-Type", "text/plain");
    assert_header(&head, "Server", "flare-test");
    assert_non_null(response_header(&head, "Date"));
    expect_echo(h, c, "GET", "/g", NULL, 3, "", 0);
    flare_buf_free(&want);
    response_free(&get);
    response_free(&head);
}

/* Reads a 200 answer that says Connection: close; the server then closes the
 * connection without answering the request pipelined behind. */
static void expect_ok_then_close(harness *h, client *c, response *r)
{
    client_response(h, c, r, false);
    assert_int_equal(r->status, 200);
    assert_header(r, "Connection", "close");
    expect_closed(h, c);
}

static void test_http10_and_connection_close(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    response r = {0};

    /* HTTP/1.0 closes by default; the pipelined request behind it is not answered. */
    client_send_str(h, c, "GET /echo/x HTTP/1.0\r\n\r\nGET /echo/y HTTP/1.0\r\n\r\n");
    expect_ok_then_close(h, c, &r);
    reconnect(h, c);

    /* HTTP/1.0 keep-alive is answered with Connection: keep-alive and honoured. */
    client_send_str(h, c, "GET /echo/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    client_response(h, c, &r, false);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Connection", "keep-alive");
    client_send_str(h, c, "GET /echo/x HTTP/1.0\r\n\r\n");
    client_response(h, c, &r, false);
    assert_header(&r, "Connection", "close");
    assert_memory_equal(r.body.data, "M=GET P=/echo/x Q=- H= N=2 L=0\n", r.body.len);
    expect_closed(h, c);
    reconnect(h, c);

    /* HTTP/1.1 Connection: close */
    client_send_str(h, c,
                    "GET /echo/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    "GET /echo/b HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_ok_then_close(h, c, &r);
    reconnect(h, c);

    /* HTTP/1.1 keep-alive responses carry no Connection field at all */
    client_send_str(h, c, "GET /echo/a HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, c, &r, false);
    assert_no_header(&r, "Connection");
    response_free(&r);
}

static void test_max_keepalive_requests(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    for (int i = 0; i < 4; i++)
        client_send_str(h, c, "GET /echo/k HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    for (unsigned i = 1; i <= 3; i++) {
        client_response(h, c, &r, false);
        char want[64];
        snprintf(want, sizeof want, "M=GET P=/echo/k Q=- H=t N=%u L=0\n", i);
        assert_int_equal(r.body.len, strlen(want));
        assert_memory_equal(r.body.data, want, r.body.len);
        if (i < 3)
            assert_no_header(&r, "Connection");
        else
            assert_header(&r, "Connection", "close");
    }
    expect_closed(h, c);
    response_free(&r);
}

static void test_builtin_answers(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    response r = {0};

    client_send_str(h, c, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 404 Not Found");
    assert_int_equal(r.body.len, 14);
    assert_memory_equal(r.body.data, "404 Not Found\n", 14);
    assert_no_header(&r, "Connection");

    /* rejections end the connection */
    client_send_str(h, c, "DELETE /getonly HTTP/1.1\r\nHost: t\r\n\r\n");
    read_closing_answer(h, c, &r, "HTTP/1.1 405 Method Not Allowed");
    assert_header(&r, "Allow", "GET, HEAD");
    reconnect(h, c);

    /* an unknown method with a body: 501 and close; what follows is not answered */
    client_send_str(h, c,
                    "BREW /echo/pot HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntea"
                    "GET /echo/after HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 501 Not Implemented");
    reconnect(h, c);

    client_send_str(h, c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 200 OK");
    assert_header(&r, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
    assert_header(&r, "Content-Length", "0");

    client_send_str(h, c, "GET /echo/alive HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_echo(h, c, "GET", "/echo/alive", NULL, 2, "", 0); /* 2nd on this connection */

    /* CONNECT: 501 and close (what follows would be tunnel bytes, not requests) */
    client_send_str(h, c,
                    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                    "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 501 Not Implemented");
    response_free(&r);
}

/* An admission check (flare_http_server_route_admit): what it refuses is answered by the
 * server with its status and Retry-After, before any body byte is read. */
static unsigned admit_calls;

static int admit_by_path(const flare_request *req, uint64_t now_us, void *data,
                         flare_http_admission *out)
{
    (void)data;
    admit_calls++;
    assert_true(now_us > 0);
    if (req->path_len >= 10 && memcmp(req->path, "/echo/deny", 10) == 0) {
        out->retry_after_s = 7;
        return 429;
    }
    if (req->path_len >= 8 && memcmp(req->path, "/echo/nr", 8) == 0) return 503;
    if (req->path_len >= 10 && memcmp(req->path, "/echo/auth", 10) == 0) {
        static flare_header_block challenge; /* lives as long as the test: borrowed */
        if (!challenge.lines.len)
            assert_int_equal(
                flare_header_block_add(&challenge, "WWW-Authenticate", "Basic realm=\"t\""), 0);
        out->fields = &challenge;
        return 401;
    }
    return 0;
}

static void test_admission_refusals(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    flare_error err;
    assert_int_equal(flare_http_server_route_admit(h->srv, NULL, "/echo/", admit_by_path, &err), 0);
    assert_int_equal(flare_http_server_route_admit(h->srv, NULL, "/getonly", admit_by_path, &err),
                     0);
    assert_int_equal(flare_http_server_route_admit(h->srv, NULL, "/small/", admit_by_path, &err),
                     0);
    assert_int_equal(flare_http_server_route_admit(h->srv, NULL, "/none", admit_by_path, &err),
                     FLARE_ENOTFOUND);
    admit_calls = 0;
    /* Without a body the connection stays: the next request is answered on it. */
    client_send_str(h, c,
                    "GET /echo/deny HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /echo/nr HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 429 Too Many Requests");
    assert_header(&r, "Retry-After", "7");
    assert_no_header(&r, "Connection");
    response_free(&r);
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 503 Service Unavailable");
    assert_no_header(&r, "Retry-After"); /* the callback set none */
    assert_no_header(&r, "WWW-Authenticate");
    response_free(&r);
    expect_echo(h, c, "GET", "/echo/x", NULL, 3, "", 0);
    assert_int_equal(admit_calls, 3);
    /* The fields a refusal asks for go on its answer only. */
    client_send_str(h, c, "GET /echo/auth HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 401 Unauthorized");
    assert_header(&r, "WWW-Authenticate", "Basic realm=\"t\"");
    assert_no_header(&r, "Connection");
    response_free(&r);
    /* With a body: answered at once, the body left unread, so the connection ends. The
     * 100 Continue the client waits for is never sent. */
    client_send_str(h, c,
                    "POST /echo/deny HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                    "Expect: 100-continue\r\n\r\n");
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 429 Too Many Requests");
    assert_header(&r, "Connection", "close");
    assert_header(&r, "Retry-After", "7");
    response_free(&r);
    expect_closed(h, c);
    reconnect(h, c);
    client_send_str(h, c,
                    "POST /echo/deny HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                    "\r\n5\r\nhel");
    expect_closing_answer(h, c, "HTTP/1.1 429 Too Many Requests");
    reconnect(h, c);
    assert_int_equal(admit_calls, 6);
    /* The method and the body size are checked first: neither reaches the callback. */
    client_send_str(h, c, "POST /getonly HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 405 Method Not Allowed");
    reconnect(h, c);
    client_send_str(h, c, "POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 413 Content Too Large");
    assert_int_equal(admit_calls, 6);
}

static void test_body_over_limit(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    static const char *reqs[] = {
        "POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n0123456789abcdefg"
        "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /small/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"
        "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(reqs); i++) {
        client_send_str(h, c, reqs[i]);
        expect_closing_answer(h, c, "HTTP/1.1 413 Content Too Large");
        reconnect(h, c);
    }
    /* exactly at the limit is fine, both ways */
    client_send_str(h, c,
                    "POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n"
                    "0123456789abcdef"
                    "POST /small/y HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "10\r\n0123456789abcdef\r\n0\r\n\r\n");
    expect_echo(h, c, "POST", "/small/x", NULL, 1, "0123456789abcdef", 16);
    expect_echo(h, c, "POST", "/small/y", NULL, 2, "0123456789abcdef", 16);
}

/* Parser errors end the connection after the response; the bytes behind the bad
 * request are never answered, so the stream cannot be desynchronised. */
static void test_parser_errors_close(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    flare_buf long_uri = FLARE_BUF_INIT, long_head = FLARE_BUF_INIT, long_method = FLARE_BUF_INIT;
    for (int i = 0; i < 9000; i++)
        flare_buf_append_str(&long_method, "M");
    flare_buf_append_str(&long_method, " /echo/x HTTP/1.1\r\nHost: t\r\n\r\n");
    flare_buf_append(&long_method, "", 1);
    flare_buf_append_str(&long_uri, "GET /echo/");
    for (int i = 0; i < 9000; i++)
        flare_buf_append_str(&long_uri, "u");
    flare_buf_append_str(&long_uri, " HTTP/1.1\r\nHost: t\r\n\r\n");
    flare_buf_append_str(&long_head, "GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Big: ");
    for (int i = 0; i < 9000; i++)
        flare_buf_append_str(&long_head, "h");
    flare_buf_append_str(&long_head, "\r\n\r\n");
    flare_buf_append(&long_uri, "", 1);
    flare_buf_append(&long_head, "", 1);
    struct {
        const char *req, *status_line;
    } cases[] = {
        {"GET /echo/x HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET /echo/x HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"}, /* no Host */
        {"GET /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
         "HTTP/1.1 400 Bad Request"},
        {"POST /echo/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         "HTTP/1.1 400 Bad Request"}, /* bad chunk size */
        {long_uri.data, "HTTP/1.1 414 URI Too Long"},
        {long_method.data, "HTTP/1.1 501 Not Implemented"}, /* not the target's fault */
        {long_head.data, "HTTP/1.1 431 Request Header Fields Too Large"},
        {"GET /echo/x HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
        {"GET /echo/x HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n",
         "HTTP/1.1 417 Expectation Failed"},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(cases); i++) {
        client_send_str(h, c, cases[i].req);
        client_send_str(h, c, "GET /echo/after HTTP/1.1\r\nHost: t\r\n\r\n");
        response r = {0};
        read_closing_answer(h, c, &r, cases[i].status_line);
        assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
        char body[80];
        snprintf(body, sizeof body, "%s\n", cases[i].status_line + 9);
        assert_int_equal(r.body.len, strlen(body));
        assert_memory_equal(r.body.data, body, r.body.len);
        response_free(&r);
        reconnect(h, c);
    }
    flare_buf_free(&long_uri);
    flare_buf_free(&long_head);
    flare_buf_free(&long_method);
}

/* --------------------------------------------------------------- timeouts */

/* Slowloris: one byte every 20 ms keeps the connection busy but the head deadline is
 * total, so it fires before the head is ever complete. */
static void test_header_deadline_slowloris(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            /* the same on a keep-alive connection's second request */
            client_send_str(h, c, "GET /echo/1 HTTP/1.1\r\nHost: t\r\n\r\n");
            expect_echo(h, c, "GET", "/echo/1", NULL, 1, "", 0);
        }
        char head[400];
        int len = snprintf(head, sizeof head,
                           "GET /echo/slow HTTP/1.1\r\nHost: t\r\nX-Pad: %0300d"
                           "\r\n\r\n",
                           0);
        int sent = 0;
        while (sent < len && !c->in.len && !c->eof) {
            client_send(h, c, head + sent, 1);
            sent++;
            harness_pump_for(h, 20);
            client_take(c);
        }
        assert_true(sent < len); /* the head was never completed */
        assert_true(sent >= 3);  /* bytes kept coming well within any idle limit */
        expect_closing_answer(h, c, "HTTP/1.1 408 Request Timeout");
        reconnect(h, c);
    }
    /* A connection that never sends a byte is closed without an answer. */
    expect_closed(h, c);
}

static void test_body_idle_timeout(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(h, c, "POST /echo/b HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    expect_closing_answer(h, c, "HTTP/1.1 408 Request Timeout");
    reconnect(h, c);

    /* body bytes that keep coming in time are not cut off: 6 pieces, 30 ms apart, so the
     * body takes longer than the idle limit in all */
    client_send_str(h, c, "POST /echo/b HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        harness_pump_for(h, 30);
        client_send(h, c, "123456" + i, 1);
    }
    expect_echo(h, c, "POST", "/echo/b", NULL, 1, "123456", 6);
}

static void test_keepalive_idle_closes_silently(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(h, c, "GET /echo/ka HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_echo(h, c, "GET", "/echo/ka", NULL, 1, "", 0);
    expect_closed(h, c); /* no 408 for a connection between requests */
    assert_int_equal(flare_http_server_connections(h->srv), 0);

    /* Nor when the client ended its request with the empty line RFC 9112 §2.2 lets it
     * send before the next one (as old clients did after a body): that is no request
     * begun, so neither the header deadline nor a 408 applies to it. */
    reconnect(h, c);
    client_send_str(h, c, "POST /echo/ka HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab\r\n");
    expect_echo(h, c, "POST", "/echo/ka", NULL, 1, "ab", 2);
    expect_closed(h, c);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
}

/* An empty line after a request, then a pause, then the next request: the empty line
 * is skipped (RFC 9112 §2.2) and the request answered on the same connection. */
static void test_empty_line_between_requests(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(h, c, "GET /echo/1 HTTP/1.1\r\nHost: t\r\n\r\n\r\n");
    expect_echo(h, c, "GET", "/echo/1", NULL, 1, "", 0);
    expect_silence(h, c, 20);
    client_send_str(h, c, "GET /echo/2 HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_echo(h, c, "GET", "/echo/2", NULL, 2, "", 0);
    /* Split inside the empty line: its LF arrives with the request. */
    client_send_str(h, c, "\r");
    expect_silence(h, c, 20);
    client_send_str(h, c, "\nGET /echo/3 HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_echo(h, c, "GET", "/echo/3", NULL, 3, "", 0);
    /* Only one: a second empty line is a bad request line, as it is in one write,
     * though the first went with the idle connection's buffers before it came. */
    client_send_str(h, c, "\r\n");
    expect_silence(h, c, 20);
    client_send_str(h, c, "\r\nGET /echo/4 HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 400 Bad Request");
    /* The same before the first request of a connection: the second CRLF already
     * proves the request line bad. */
    reconnect(h, c);
    client_send_str(h, c, "\r\n");
    expect_silence(h, c, 20);
    client_send_str(h, c, "\r\n");
    expect_closing_answer(h, c, "HTTP/1.1 400 Bad Request");
}

/* A client that never reads a large response is dropped after the write timeout. */
static void test_write_timeout(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(h, c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    uint64_t end = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (flare_http_server_connections(h->srv) && flare_monotonic_ms() < end)
        harness_pump(h, 10);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    size_t got = 0;
    while (!c->eof) {
        got += client_take(c);
        flare_buf_reset(&c->in);
    }
    assert_true(got > 0);
    assert_true(got < BIG_BODY);
    reconnect(h, c);

    /* A client that never reads but keeps sending (well within the idle time) does not
     * keep a blocked write alive: only writes that make progress restart its timer. */
    client_send_str(h, c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    int sends = 0;
    while (sends < 40) {
        harness_pump_for(h, 40);
        if (!flare_http_server_connections(h->srv)) break;
        assert_int_equal(send(c->fd, "G", 1, MSG_NOSIGNAL), 1);
        sends++;
    }
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_true(sends < 40); /* closed while the client was still sending */
}

/* ----------------------------------------------------------- backpressure */

static void test_large_response_to_slow_reader(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    client_send_str(
        h, c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /echo/next HTTP/1.1\r\nHost: t\r\n\r\n");
    /* read 16 KiB per turn of the server until the whole response is in */
    char piece[16384];
    uint64_t deadline = flare_monotonic_ms() + 30000;
    while (flare_monotonic_ms() < deadline) {
        harness_pump(h, 1);
        ssize_t n = recv(c->fd, piece, sizeof piece, 0);
        if (n > 0) flare_buf_append(&c->in, piece, (size_t)n);
        if (n == 0) break;
        if (c->in.len > BIG_BODY + 200) break;
    }
    response r = {0};
    client_response(h, c, &r, false);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i++)
        if (r.body.data[i] != pattern_byte(i)) fail_msg("byte %zu differs", i);
    expect_echo(h, c, "GET", "/echo/next", NULL, 2, "", 0);
    response_free(&r);
}

/* ------------------------------------------------------------ the batch */

static void send_batch(client *c, unsigned round)
{
    char reqs[16 * 64];
    size_t len = 0;
    for (unsigned i = 0; i < 16; i++)
        len += (size_t)snprintf(reqs + len, sizeof reqs - len,
                                "GET /plain?%u-%02u HTTP/1.1\r\nHost: t\r\n\r\n", round, i);
    /* one write, so the server's one read sees all 16 */
    assert_int_equal(send(c->fd, reqs, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void read_batch(harness *h, client *c, unsigned round)
{
    response r = {0};
    for (unsigned i = 0; i < 16; i++) {
        client_response(h, c, &r, false);
        char want[64];
        snprintf(want, sizeof want, "plaintext-%u-%02u", round, i);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/plain");
        assert_int_equal(r.body.len, strlen(want));
        assert_memory_equal(r.body.data, want, r.body.len);
    }
    response_free(&r);
    expect_silence(h, c, 2); /* exactly 16 */
}

/* One loop turn of the server with its system calls on c and all allocations counted. */
static void counted_pump(harness *h, client *c)
{
    count_send = count_recv = count_other_write = count_other_read = 0;
    count_allocs = count_frees = 0;
    counted_fd = c->server_fd;
    counting_allocs = true;
    harness_pump(h, 1000);
    counting_allocs = false;
    counted_fd = -1;
}

/* Runs one counted batch: the server's single loop turn for 16 pipelined requests. */
static void counted_batch(harness *h, client *c, unsigned round)
{
    send_batch(c, round);
    counted_pump(h, c);
    read_batch(h, c, round);
}

static void test_pipelined_batch_one_recv_one_send(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    for (unsigned round = 0; round < 3; round++) {
        counted_batch(h, c, round);
        assert_int_equal(count_recv, 1);
        assert_int_equal(count_send, 1);
        assert_int_equal(count_other_write, 0);
        assert_int_equal(count_other_read, 0);
    }
}

/* GETs and POSTs with their bodies in one read: still one send for all the answers. */
static void test_mixed_batch_one_send(void **state)
{
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    flare_buf batch = FLARE_BUF_INIT;
    for (int i = 0; i < 4; i++) {
        flare_buf_append_str(&batch, "GET /echo/g HTTP/1.1\r\nHost: t\r\n\r\n");
        flare_buf_append_str(&batch, "POST /echo/p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                                     "\r\nabc");
        flare_buf_append_str(&batch, "POST /echo/c HTTP/1.1\r\nHost: t\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n");
    }
    assert_int_equal(send(c->fd, batch.data, batch.len, MSG_NOSIGNAL), (ssize_t)batch.len);
    counted_pump(h, c);
    assert_int_equal(count_recv, 1);
    assert_int_equal(count_send, 1);
    assert_int_equal(count_other_write, 0);
    for (unsigned i = 0; i < 4; i++) {
        expect_echo(h, c, "GET", "/echo/g", NULL, 3 * i + 1, "", 0);
        expect_echo(h, c, "POST", "/echo/p", NULL, 3 * i + 2, "abc", 3);
        expect_echo(h, c, "POST", "/echo/c", NULL, 3 * i + 3, "xy", 2);
    }
    expect_silence(h, c, 2);
    flare_buf_free(&batch);
}

static void test_pipelined_batch_no_allocation(void **state)
{
#if !ALLOC_HOOKS
    (void)state;
    print_message("skipped: AddressSanitizer owns malloc, so allocations cannot be counted\n");
    skip();
#else
    harness *h = fixture_server(state);
    client *c = fixture_client(state);
    counted_batch(h, c, 0);
    assert_true(count_allocs > 0); /* the hooks count: the first batch fills the pools */
    counted_batch(h, c, 1);        /* warm-up */
    for (unsigned round = 2; round < 6; round++) {
        counted_batch(h, c, round);
        assert_int_equal(count_allocs, 0);
        assert_int_equal(count_frees, 0);
        assert_int_equal(count_send, 1);
    }
#endif
}

#define ECHO_TEST(fn)    cmocka_unit_test_setup_teardown(fn, echo_setup, fixture_teardown)
#define TIMEOUT_TEST(fn) cmocka_unit_test_setup_teardown(fn, timeout_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ECHO_TEST(test_pipelined_random_chunkings),
        ECHO_TEST(test_chunked_split_at_every_offset),
        ECHO_TEST(test_block_boundaries),
        ECHO_TEST(test_expect_continue),
        ECHO_TEST(test_expect_continue_refused),
        ECHO_TEST(test_get_body_discarded_and_head),
        ECHO_TEST(test_http10_and_connection_close),
        cmocka_unit_test_setup_teardown(test_max_keepalive_requests, keepalive3_setup,
                                        fixture_teardown),
        ECHO_TEST(test_builtin_answers),
        ECHO_TEST(test_body_over_limit),
        ECHO_TEST(test_admission_refusals),
        ECHO_TEST(test_parser_errors_close),
        TIMEOUT_TEST(test_header_deadline_slowloris),
        TIMEOUT_TEST(test_body_idle_timeout),
        TIMEOUT_TEST(test_keepalive_idle_closes_silently),
        ECHO_TEST(test_empty_line_between_requests),
        TIMEOUT_TEST(test_write_timeout),
        ECHO_TEST(test_large_response_to_slow_reader),
        ECHO_TEST(test_pipelined_batch_one_recv_one_send),
        ECHO_TEST(test_mixed_batch_one_send),
        ECHO_TEST(test_pipelined_batch_no_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
