/*
 * test_conn.c: flare_tls_conn, the non-blocking connection, with both ends in one
 * thread over a non-blocking socketpair: every step is pumped by hand, so the
 * FLARE_EAGAIN + want results are exact, and close, EOF, garbage and plain HTTP
 * are seen precisely where they happen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/tls.h"
#include "tls_fixture.h"

struct pair {
    int fds[2]; /* [0] client, [1] server */
    flare_tls_conn client, server;
};

static void pair_open(struct pair *p, const char *host)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds), 0);
    flare_error err;
    if (flare_tls_conn_init_client(&p->client, group_client_ctx, p->fds[0], host, 443, &err) < 0)
        fail_msg("client init: %s", err.message);
    if (flare_tls_conn_init_server(&p->server, group_server_ctx, p->fds[1], &err) < 0)
        fail_msg("server init: %s", err.message);
}

static void pair_close(struct pair *p)
{
    flare_tls_conn_free(&p->client);
    flare_tls_conn_free(&p->server);
    for (int i = 0; i < 2; i++)
        if (p->fds[i] >= 0) close(p->fds[i]);
}

static void pump_handshake(struct pair *p)
{
    flare_error err;
    for (int round = 0; round < 20; round++) {
        int c = flare_tls_conn_handshake(&p->client, &err);
        if (c < 0 && c != FLARE_EAGAIN) fail_msg("client handshake: %s", err.message);
        int s = flare_tls_conn_handshake(&p->server, &err);
        if (s < 0 && s != FLARE_EAGAIN) fail_msg("server handshake: %s", err.message);
        if (c == 0 && s == 0) return;
    }
    fail_msg("handshake did not finish in 20 rounds");
}

static void test_handshake_reports_wants(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    flare_error err;
    /* Nothing sent yet: the server waits to read the ClientHello. */
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_EAGAIN);
    assert_int_equal(err.code, FLARE_EAGAIN);
    assert_int_equal(p.server.want, FLARE_EV_READ);
    /* The client sends its hello and then waits to read the answer. */
    assert_int_equal(flare_tls_conn_handshake(&p.client, &err), FLARE_EAGAIN);
    assert_int_equal(p.client.want, FLARE_EV_READ);
    assert_false(p.client.handshake_done);
    pump_handshake(&p);
    assert_true(p.client.handshake_done && p.server.handshake_done);
    assert_string_equal(flare_tls_conn_version(&p.server), "TLSv1.3");
    assert_string_equal(flare_tls_conn_cipher(&p.server), flare_tls_conn_cipher(&p.client));
    assert_string_equal(flare_tls_conn_server_name(&p.server), "localhost");
    assert_int_equal(flare_tls_conn_cert_index(&p.server), 0);
    assert_int_equal(flare_tls_conn_cert_index(&p.client), -1);
    char subject[64];
    assert_int_equal(flare_tls_conn_peer_subject(&p.server, subject, sizeof subject), 0);
    assert_string_equal(subject, ""); /* no client certificate */
    assert_true(flare_tls_conn_peer_subject(&p.client, subject, 4) == 3); /* truncated, NUL'd */
    assert_string_equal(subject, "CN=");
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), 0); /* done stays done */
    pair_close(&p);
}

static void test_records_and_pending(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    pump_handshake(&p);
    flare_error err;
    assert_int_equal(flare_tls_conn_write(&p.client, "hello", 5, &err), 5);
    assert_int_equal(flare_tls_conn_write(&p.client, "world", 5, &err), 5);
    char buf[16];
    /* One socket read takes both records (read-ahead); the second waits in OpenSSL. */
    assert_int_equal(flare_tls_conn_read(&p.server, buf, 5, &err), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(flare_tls_conn_has_pending(&p.server));
    assert_int_equal(flare_tls_conn_read(&p.server, buf, sizeof buf, &err), 5);
    assert_memory_equal(buf, "world", 5);
    assert_false(flare_tls_conn_has_pending(&p.server));
    assert_int_equal(flare_tls_conn_read(&p.server, buf, sizeof buf, &err), FLARE_EAGAIN);
    assert_int_equal(p.server.want, FLARE_EV_READ);
    assert_int_equal(flare_tls_conn_read(&p.server, buf, 0, &err), 0);
    assert_int_equal(flare_tls_conn_write(&p.server, "", 0, &err), 0);
    pair_close(&p);
}

static void test_write_blocks_and_resumes(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    pump_handshake(&p);
    static char chunk[16384], sink[65536];
    memset(chunk, 'x', sizeof chunk);
    flare_error err;
    size_t sent = 0;
    ssize_t n;
    while ((n = flare_tls_conn_write(&p.client, chunk, sizeof chunk, &err)) > 0)
        sent += (size_t)n;
    assert_int_equal(n, FLARE_EAGAIN);
    assert_int_equal(p.client.want, FLARE_EV_WRITE);
    assert_true(sent > 0);
    /* The reader drains; the writer retries the same bytes and gets through. */
    size_t received = 0;
    ssize_t r;
    for (int round = 0; round < 100 && n == FLARE_EAGAIN; round++) {
        while ((r = flare_tls_conn_read(&p.server, sink, sizeof sink, &err)) > 0)
            received += (size_t)r;
        assert_int_equal(r, FLARE_EAGAIN);
        n = flare_tls_conn_write(&p.client, chunk, sizeof chunk, &err);
        if (n > 0) sent += (size_t)n;
    }
    assert_true(n > 0);
    while ((r = flare_tls_conn_read(&p.server, sink, sizeof sink, &err)) > 0)
        received += (size_t)r;
    assert_int_equal(received, sent);
    pair_close(&p);
}

static void test_close_notify(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    pump_handshake(&p);
    flare_error err;
    assert_int_equal(flare_tls_conn_shutdown(&p.client, &err), 0);
    char buf[8];
    assert_int_equal(flare_tls_conn_read(&p.server, buf, sizeof buf, &err), FLARE_ECLOSED);
    assert_true(p.server.close_notify_received);
    assert_false(p.server.failed);
    assert_non_null(strstr(err.message, "close_notify"));
    assert_int_equal(flare_tls_conn_shutdown(&p.server, &err), 0);
    assert_int_equal(flare_tls_conn_read(&p.client, buf, sizeof buf, &err), FLARE_ECLOSED);
    assert_true(p.client.close_notify_received);
    /* Reading again keeps saying closed. */
    assert_int_equal(flare_tls_conn_read(&p.server, buf, sizeof buf, &err), FLARE_ECLOSED);
    pair_close(&p);
}

static void test_eof_without_close_notify(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    pump_handshake(&p);
    close(p.fds[0]);
    p.fds[0] = -1;
    flare_error err;
    char buf[8];
    assert_int_equal(flare_tls_conn_read(&p.server, buf, sizeof buf, &err), FLARE_ECLOSED);
    assert_false(p.server.close_notify_received);
    assert_non_null(strstr(err.message, "without close_notify"));
    pair_close(&p);
}

static void test_peer_gone_during_handshake(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    close(p.fds[0]);
    p.fds[0] = -1;
    flare_error err;
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_ECLOSED);
    assert_non_null(strstr(err.message, "during the handshake"));
    pair_close(&p);
}

static void test_garbage_fails_handshake(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    static const char junk[] = "\x16\x03\x01\x00\x08garbage!\x17\x03\x03";
    assert_int_equal(write(p.fds[0], junk, sizeof junk - 1), (ssize_t)sizeof junk - 1);
    flare_error err;
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_ETLS);
    assert_true(p.server.failed);
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_ETLS);
    /* After a fatal error nothing more is sent: shutdown is a no-op. */
    assert_int_equal(flare_tls_conn_shutdown(&p.server, &err), 0);
    pair_close(&p);
}

static void test_plain_http_is_recognised(void **state)
{
    struct pair p;
    pair_open(&p, "localhost");
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(write(p.fds[0], req, sizeof req - 1), (ssize_t)sizeof req - 1);
    flare_error err;
    assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_EPROTO);
    assert_non_null(strstr(err.message, "plain HTTP"));
    pair_close(&p);
}

/* OpenSSL names only GET, POST, HEAD, PUT and CONNECT; every method is a request. */
static void test_plain_http_with_any_method(void **state)
{
    static const char *const lines[] = {
        "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "PATCH / HTTP/1.1\r\n\r\n",
        "TRACE / HTTP/1.0\r\n\r\n",
        "PURGE /cache HTTP/1.1\r\n\r\n",
        "M-SEARCH * HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct pair p;
        pair_open(&p, "localhost");
        size_t len = strlen(lines[i]);
        assert_int_equal(write(p.fds[0], lines[i], len), (ssize_t)len);
        flare_error err;
        assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_EPROTO);
        assert_non_null(strstr(err.message, "plain HTTP"));
        pair_close(&p);
    }
    /* One byte at a time: OpenSSL gives up on the fifth, before any space. */
    struct pair p;
    pair_open(&p, "localhost");
    static const char slow[] = "OPTIONS / HTTP/1.1\r\n\r\n";
    flare_error err;
    int rc = FLARE_EAGAIN;
    for (size_t i = 0; i < sizeof slow - 1 && rc == FLARE_EAGAIN; i++) {
        assert_int_equal(write(p.fds[0], slow + i, 1), 1);
        rc = flare_tls_conn_handshake(&p.server, &err);
    }
    assert_int_equal(rc, FLARE_EPROTO);
    pair_close(&p);
    /* Bytes that are no request line stay a TLS failure. */
    static const char *const junk[] = {"\x01\x02\x03\x04\x05\x06", "GET\t/ HTTP/1.1\r\n\r\n",
                                       "\x16\x03\x01\xff\xff GET / HTTP/1.1\r\n"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        pair_open(&p, "localhost");
        size_t len = strlen(junk[i]);
        assert_int_equal(write(p.fds[0], junk[i], len), (ssize_t)len);
        assert_int_equal(flare_tls_conn_handshake(&p.server, &err), FLARE_ETLS);
        pair_close(&p);
    }
}

static void test_client_conn_verification_error(void **state)
{
    struct pair p;
    pair_open(&p, "other.test");
    flare_error err;
    int rc = 0;
    for (int round = 0; round < 20; round++) {
        rc = flare_tls_conn_handshake(&p.client, &err);
        if (rc != FLARE_EAGAIN) break;
        flare_tls_conn_handshake(&p.server, NULL);
    }
    assert_int_equal(rc, FLARE_EHOST_MISMATCH);
    assert_non_null(strstr(err.message, "other.test port 443"));
    pair_close(&p);
}

static void test_context_outlives_its_creator(void **state)
{
    flare_tls_server_ctx *ctx = ts_simple_ctx(&group_pki, "server");
    struct pair p;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.fds), 0);
    assert_int_equal(flare_tls_conn_init_server(&p.server, ctx, p.fds[1], NULL), 0);
    assert_int_equal(
        flare_tls_conn_init_client(&p.client, group_client_ctx, p.fds[0], "localhost", 443, NULL),
        0);
    flare_tls_server_ctx_free(ctx); /* a reload dropped it; the connection keeps a reference */
    pump_handshake(&p);
    flare_error err;
    assert_int_equal(flare_tls_conn_write(&p.client, "x", 1, &err), 1);
    char c;
    assert_int_equal(flare_tls_conn_read(&p.server, &c, 1, &err), 1);
    pair_close(&p); /* the last reference goes here (ASan checks the rest) */
}

static void test_invalid_use(void **state)
{
    flare_tls_conn c;
    flare_error err;
    assert_int_equal(flare_tls_conn_init_server(&c, NULL, 3, &err), FLARE_EINVAL);
    assert_null(c.ssl);
    assert_int_equal(flare_tls_conn_init_server(&c, group_server_ctx, -1, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_init_server(NULL, group_server_ctx, 3, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_init_client(&c, group_client_ctx, 3, NULL, 443, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_init_client(&c, group_client_ctx, 3, "bad_name!", 443, &err),
                     FLARE_EHOSTNAME);
    char buf[4];
    assert_int_equal(flare_tls_conn_handshake(&c, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_read(&c, buf, sizeof buf, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_write(&c, buf, sizeof buf, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_conn_shutdown(&c, &err), FLARE_EINVAL);
    assert_false(flare_tls_conn_has_pending(&c));
    assert_null(flare_tls_conn_version(&c));
    assert_null(flare_tls_conn_cipher(&c));
    size_t len = 9;
    assert_null(flare_tls_conn_alpn(&c, &len));
    assert_int_equal(len, 0);
    assert_false(flare_tls_conn_session_reused(&c));
    flare_tls_conn_free(&c);
    flare_tls_conn_free(&c);
    flare_tls_conn_free(NULL);
    /* Before the handshake: no version or cipher yet. */
    struct pair p;
    pair_open(&p, "localhost");
    assert_null(flare_tls_conn_version(&p.server));
    assert_null(flare_tls_conn_cipher(&p.server));
    assert_int_equal(flare_tls_conn_shutdown(&p.server, &err), 0); /* nothing to close yet */
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_reports_wants),
        cmocka_unit_test(test_records_and_pending),
        cmocka_unit_test(test_write_blocks_and_resumes),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_eof_without_close_notify),
        cmocka_unit_test(test_peer_gone_during_handshake),
        cmocka_unit_test(test_garbage_fails_handshake),
        cmocka_unit_test(test_plain_http_is_recognised),
        cmocka_unit_test(test_plain_http_with_any_method),
        cmocka_unit_test(test_client_conn_verification_error),
        cmocka_unit_test(test_context_outlives_its_creator),
        cmocka_unit_test(test_invalid_use),
    };
    return cmocka_run_group_tests(tests, ctx_group_setup, ctx_group_teardown);
}
