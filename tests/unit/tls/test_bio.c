/*
 * test_bio.c: the socket BIO under every connection: writing to a vanished peer is
 * an error code, never SIGPIPE (OpenSSL's own socket BIO would kill this test), and
 * has_pending is exact enough for an edge-triggered reader: reading only while it
 * says so receives everything already sent, with no new readiness event. Once the
 * peer is gone, later writes fail without another send(). With readiness tracked,
 * a drained socket is not read again until a new edge is reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/tls.h"
#include "tls_fixture.h"
#include "tls_internal.h"

static void connected(int fds[2], flare_tls_conn *client, flare_tls_conn *server)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    assert_int_equal(
        flare_tls_conn_init_client(client, group_client_ctx, fds[0], "localhost", 443, NULL), 0);
    assert_int_equal(flare_tls_conn_init_server(server, group_server_ctx, fds[1], NULL), 0);
    for (int round = 0; round < 20; round++) {
        int c = flare_tls_conn_handshake(client, NULL);
        int s = flare_tls_conn_handshake(server, NULL);
        if (c == 0 && s == 0) return;
    }
    fail_msg("handshake did not finish");
}

static void test_no_sigpipe(void **state)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end the process */
    int fds[2];
    flare_tls_conn client, server;
    connected(fds, &client, &server);
    flare_tls_conn_free(&server);
    close(fds[1]);
    flare_error err;
    ssize_t n = 0;
    for (int i = 0; i < 10 && n >= 0; i++)
        n = flare_tls_conn_write(&client, "after close", 11, &err);
    assert_true(n == FLARE_ECLOSED || n == FLARE_ECONNRESET);
    assert_true(client.failed);
    flare_tls_conn_free(&client);
    close(fds[0]);
}

static void test_gone_peer_is_remembered(void **state)
{
    int gone[2], live[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, gone), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, live), 0);
    close(gone[1]);
    BIO *bio = tls_socket_bio_new(gone[0]);
    assert_non_null(bio);
    size_t written = 0;
    assert_int_equal(BIO_write_ex(bio, "x", 1, &written), 0);
    assert_int_equal(errno, EPIPE);
    assert_false(BIO_should_retry(bio));
    /* The descriptor now reaches a live peer: a send() would deliver, so nothing
     * arriving shows that the BIO did not try again. */
    assert_int_equal(dup2(live[0], gone[0]), gone[0]);
    errno = 0;
    assert_int_equal(BIO_write_ex(bio, "y", 1, &written), 0);
    assert_int_equal(errno, EPIPE);
    assert_false(BIO_should_retry(bio));
    char c;
    assert_int_equal(recv(live[1], &c, 1, 0), -1);
    assert_int_equal(errno, EAGAIN);
    BIO_free(bio);
    close(gone[0]);
    close(live[0]);
    close(live[1]);
}

static void test_pending_covers_a_full_socket(void **state)
{
    int fds[2];
    flare_tls_conn client, server;
    connected(fds, &client, &server);
    /* Three full records and a small one, all in the socket before the reader looks. */
    static char out[3 * 16384 + 100], in[sizeof out];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i % 253);
    size_t sent = 0;
    while (sent < sizeof out) {
        ssize_t n = flare_tls_conn_write(&client, out + sent, sizeof out - sent, NULL);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    /* One readiness event, then reads only while has_pending says more is there. */
    flare_error err;
    size_t got = 0;
    int reads = 0;
    do {
        ssize_t n = flare_tls_conn_read(&server, in + got, sizeof in - got, &err);
        if (n <= 0) fail_msg("read %d after %zu bytes: %s", reads, got, err.message);
        got += (size_t)n;
        reads++;
    } while (flare_tls_conn_has_pending(&server));
    assert_int_equal(got, sizeof out);
    assert_memory_equal(in, out, sizeof out);
    assert_true(reads >= 4); /* one record per read */
    /* Drained: the next read would block. */
    char c;
    assert_int_equal(flare_tls_conn_read(&server, &c, 1, &err), FLARE_EAGAIN);
    assert_false(flare_tls_conn_has_pending(&server));
    flare_tls_conn_free(&client);
    flare_tls_conn_free(&server);
    close(fds[0]);
    close(fds[1]);
}

/* BIO_read_ex into buf, with *got reset first. */
static int bio_read(BIO *bio, char *buf, size_t room, size_t *got)
{
    *got = 0;
    return BIO_read_ex(bio, buf, room, got);
}

static void test_tracked_reads_wait_for_an_edge(void **state)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    BIO *bio = tls_socket_bio_new(fds[0]);
    assert_non_null(bio);
    tls_socket_bio_track(bio, true);
    char buf[16];
    size_t got;
    /* A read that fills its room leaves the socket possibly non-empty: no skip. */
    assert_int_equal(send(fds[1], "abcd", 4, 0), 4);
    assert_int_equal(bio_read(bio, buf, 4, &got), 1);
    assert_int_equal(got, 4);
    assert_int_equal(send(fds[1], "ef", 2, 0), 2);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 1);
    assert_memory_equal(buf, "ef", 2);
    /* That read came back short: the socket is drained until an edge is reported.
     * Bytes sent now stay in the socket, which shows that no recv() was made. */
    assert_int_equal(send(fds[1], "gh", 2, 0), 2);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 0);
    assert_true(BIO_should_retry(bio) && BIO_should_read(bio));
    assert_int_equal(recv(fds[0], buf, sizeof buf, MSG_PEEK), 2);
    tls_socket_bio_readable(bio);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 1);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "gh", 2);
    /* EAGAIN drains it as well; turning tracking off reads at once again. */
    tls_socket_bio_readable(bio);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 0);
    assert_true(BIO_should_retry(bio));
    assert_int_equal(send(fds[1], "ij", 2, 0), 2);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 0);
    tls_socket_bio_track(bio, false);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 1);
    assert_memory_equal(buf, "ij", 2);
    assert_int_equal(send(fds[1], "kl", 2, 0), 2);
    assert_int_equal(bio_read(bio, buf, sizeof buf, &got), 1);
    assert_memory_equal(buf, "kl", 2);
    BIO_free(bio);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_sigpipe),
        cmocka_unit_test(test_pending_covers_a_full_socket),
        cmocka_unit_test(test_gone_peer_is_remembered),
        cmocka_unit_test(test_tracked_reads_wait_for_an_edge),
    };
    return cmocka_run_group_tests(tests, ctx_group_setup, ctx_group_teardown);
}
