/*
 * test_stream.c: the flare_io_stream adapters with real descriptors: a socketpair
 * for the fd adapter (blocking, non-blocking, errors), a loopback TCP connection,
 * and a TLS stream to the reactor echo server of tests/unit/tls/tls_fixture.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/io.h"
#include "tls_fixture.h"

static void expect_line(flare_io_reader *r, const char *want)
{
    const char *line;
    size_t len;
    flare_error err;
    size_t max = r->cap < 64 ? r->cap : 64;
    ssize_t n = flare_io_reader_read_line(r, max, &line, &len, &err);
    if (n <= 0) fail_msg("read_line returned %zd: %s", n, n < 0 ? err.message : "EOF");
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
}

static void expect_eof(flare_io_reader *r)
{
    const char *line;
    size_t len;
    flare_error err;
    assert_int_equal(flare_io_reader_read_line(r, r->cap < 64 ? r->cap : 64, &line, &len, &err), 0);
}

static void test_fd_socketpair(void **state)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    static const char text[] = "first line\r\nsecond\n";
    assert_int_equal(write(fds[1], text, sizeof text - 1), (ssize_t)sizeof text - 1);
    close(fds[1]);
    flare_io_reader r;
    assert_int_equal(flare_io_reader_init(&r, flare_io_stream_fd(fds[0]), NULL, 16, NULL), 0);
    expect_line(&r, "first line");
    expect_line(&r, "second");
    expect_eof(&r);
    flare_io_reader_free(&r);
    close(fds[0]);
}

static void test_fd_nonblocking_and_errors(void **state)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    flare_io_reader r;
    assert_int_equal(flare_io_reader_init(&r, flare_io_stream_fd(fds[0]), NULL, 0, NULL), 0);
    const char *line;
    size_t len;
    flare_error err;
    assert_int_equal(flare_io_reader_read_line(&r, 64, &line, &len, &err), FLARE_EAGAIN);
    assert_int_equal(write(fds[1], "par", 3), 3);
    assert_int_equal(flare_io_reader_read_line(&r, 64, &line, &len, &err), FLARE_EAGAIN);
    assert_int_equal(write(fds[1], "tial\n", 5), 5);
    assert_int_equal(flare_io_reader_read_line(&r, 64, &line, &len, &err), 8);
    assert_memory_equal(line, "partial", 7);
    flare_io_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(flare_io_reader_init(&r, flare_io_stream_fd(-1), NULL, 0, NULL), 0);
    assert_int_equal(flare_io_reader_read_line(&r, 64, &line, &len, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EBADF);
    flare_io_reader_free(&r);
}

static void test_tcp_stream(void **state)
{
    flare_tcp_listener l;
    flare_error err;
    flare_tcp_listen_options lo = {.accept_blocking = true};
    assert_int_equal(flare_tcp_listen_str(&l, "127.0.0.1:0", &lo, &err), 0);
    flare_tcp_stream client, server;
    assert_int_equal(flare_tcp_connect(&client, "127.0.0.1", l.local.port, NULL, &err), 0);
    assert_int_equal(flare_tcp_listener_accept_stream(&l, &server, &err), 0);
    static const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(flare_tcp_stream_write_all(&server, text, sizeof text - 1, &err), 0);
    flare_tcp_stream_close(&server);
    flare_io_reader r;
    assert_int_equal(flare_io_reader_init(&r, flare_io_stream_tcp(&client), NULL, 0, NULL), 0);
    expect_line(&r, "HTTP/1.1 200 OK");
    expect_line(&r, "Content-Length: 5");
    expect_line(&r, "");
    char body[5];
    assert_int_equal(flare_io_reader_read_exact(&r, body, 5, &err), 0);
    assert_memory_equal(body, "hello", 5);
    expect_eof(&r);
    flare_io_reader_free(&r);
    flare_tcp_stream_close(&client);
    flare_tcp_listener_close(&l);
}

static void test_tls_stream(void **state)
{
    tls_pki pki;
    assert_int_equal(pki_create(&pki), 0);
    flare_tls_server_ctx *ctx = ts_simple_ctx(&pki, "server");
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    flare_tls_client_config cfg = {
        .ca_file = pki_path(&pki, "ca.pem"), .timeout_ms = 5000, .io_timeout_ms = 5000};
    flare_tls_stream s;
    flare_error err;
    if (flare_tls_connect(&s, "127.0.0.1", srv.port, &cfg, &err) < 0)
        fail_msg("connect: %s", err.message);
    static const char text[] = "one\ntwo\r\nthree\n";
    assert_int_equal(flare_tls_stream_write_all(&s, text, sizeof text - 1, &err), 0);
    flare_io_reader r;
    assert_int_equal(flare_io_reader_init(&r, flare_io_stream_tls(&s), NULL, 0, NULL), 0);
    expect_line(&r, "one");
    expect_line(&r, "two");
    expect_line(&r, "three");
    /* Our close_notify, answered by the server's: the reader sees a clean end. */
    assert_int_equal(flare_tls_stream_shutdown(&s, &err), 0);
    expect_eof(&r);
    flare_io_reader_free(&r);
    flare_tls_stream_close(&s);
    ts_join(&srv);
    assert_int_equal(srv.results[0].rc, 0);
    flare_tls_server_ctx_free(ctx);
    pki_destroy(&pki);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_socketpair),
        cmocka_unit_test(test_fd_nonblocking_and_errors),
        cmocka_unit_test(test_tcp_stream),
        cmocka_unit_test(test_tls_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
