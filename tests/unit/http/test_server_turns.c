/*
 * test_server_turns.c: one connection's share of a loop turn. A client that keeps up
 * with a large response must not hold the worker, nor make the turn so long that the
 * other connections' deadlines, computed from the turn's clock, come out stale. The
 * server runs in this thread, one loop turn per pump; the client takes nothing off
 * its socket until the end, so without the bound a single turn would fill the whole
 * socket buffer (several MiB on Linux's defaults) in one go. Then the client reads
 * everything, which must arrive whole. Over TLS (file pieces read and encrypted) and
 * in clear text (sendfile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "../tls/tls_fixture.h"
#include "flare/http.h"

#define BIG_BYTES (16u << 20)
/* A loop turn may move 1 MiB for a connection while dispatching its readiness and
 * 1 MiB more when its yield timer fires at the end of that turn. */
#define TURN_LIMIT ((2u << 20) + 65536)

typedef struct live {
    flare_reactor *reactor;
    flare_http_server *srv;
    flare_tls_server_ctx *ctx;
    uint16_t tls_port, plain_port;
    char big_path[64];
} live;

static int handle_big(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    live *s = data;
    int fd = open(s->big_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return flare_response_text(resp, 500, "text/plain", "open", 4);
    flare_response_file(resp, fd, 0, BIG_BYTES);
    return 0;
}

static void start(live *s)
{
    flare_error err;
    memset(s, 0, sizeof *s);
    strcpy(s->big_path, "/tmp/flare-turns-XXXXXX");
    int fd = mkstemp(s->big_path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)BIG_BYTES), 0); /* sparse: reads cost no disk */
    close(fd);
    s->ctx = ts_simple_ctx(&group_pki, "server");
    if (flare_reactor_new(&s->reactor, &err) < 0) fail_msg("%s", err.message);
    if (flare_http_server_new(&s->srv, s->reactor, NULL, &err) < 0) fail_msg("%s", err.message);
    if (flare_http_server_add_listener_tls(s->srv, loopback_listener(&s->tls_port), s->ctx, &err) <
            0 ||
        flare_http_server_add_listener(s->srv, loopback_listener(&s->plain_port), &err) < 0)
        fail_msg("listener: %s", err.message);
    if (flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/big", handle_big, s, 0, &err) <
        0)
        fail_msg("route: %s", err.message);
}

static void stop(live *s)
{
    flare_http_server_free(s->srv);
    flare_reactor_free(s->reactor);
    flare_tls_server_ctx_free(s->ctx);
    unlink(s->big_path);
}

/* One loop turn of the server; returns the bytes it wrote in it. */
static uint64_t pump(live *s, int ms)
{
    uint64_t before = flare_http_server_get_stats(s->srv)->bytes_out;
    flare_error err;
    if (flare_reactor_poll(s->reactor, ms, &err) < 0) fail_msg("poll: %s", err.message);
    return flare_http_server_get_stats(s->srv)->bytes_out - before;
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

#define BIG_REQUEST "GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

/* Pumps while the client reads nothing: no turn may write more than its share, and
 * the turns go on (without a readiness edge) until the socket is full. */
static void assert_turns_bounded(live *s)
{
    uint64_t total = 0, most = 0;
    for (int idle = 0; idle < 10;) {
        uint64_t n = pump(s, 20);
        total += n;
        if (n > most) most = n;
        idle = n ? 0 : idle + 1;
    }
    if (most > TURN_LIMIT)
        fail_msg("one loop turn wrote %llu bytes for one connection", (unsigned long long)most);
    assert_true(total > TURN_LIMIT); /* the socket took more than one turn's share */
}

/* Reads everything while pumping; returns the bytes the client received. */
static uint64_t drain(live *s, int fd)
{
    static char sink[1 << 20];
    uint64_t total = 0;
    for (int quiet = 0; quiet < 200;) {
        pump(s, 0);
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0) return total;
        if (n > 0) {
            total += (uint64_t)n;
            quiet = 0;
        } else {
            assert_true(errno == EAGAIN);
            quiet++;
            usleep(1000);
        }
    }
    fail_msg("the response stopped after %llu bytes", (unsigned long long)total);
    return total;
}

typedef struct tls_client {
    uint16_t port;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    atomic_bool done;
    bool ok;
} tls_client;

/* Handshakes and sends the request (the server is pumped meanwhile by the test). */
static void *tls_client_run(void *arg)
{
    tls_client *t = arg;
    t->ctx = SSL_CTX_new(TLS_client_method());
    t->ssl = SSL_new(t->ctx);
    t->fd = dial(t->port);
    SSL_set_fd(t->ssl, t->fd);
    t->ok = SSL_connect(t->ssl) == 1 &&
            SSL_write(t->ssl, BIG_REQUEST, (int)strlen(BIG_REQUEST)) == (int)strlen(BIG_REQUEST);
    atomic_store(&t->done, true);
    return NULL;
}

static void test_tls_transfer_shares_turns(void **state)
{
    (void)state;
    live s;
    start(&s);
    tls_client t = {.port = s.tls_port};
    atomic_init(&t.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, tls_client_run, &t), 0);
    for (int i = 0; i < 500 && !atomic_load(&t.done); i++)
        pump(&s, 10);
    pthread_join(thread, NULL);
    assert_true(t.ok);
    assert_turns_bounded(&s);
    /* Records, counted undecrypted: the body and the head, plus the framing. */
    assert_true(drain(&s, t.fd) > BIG_BYTES);
    SSL_free(t.ssl);
    SSL_CTX_free(t.ctx);
    close(t.fd);
    stop(&s);
}

/* Asks for the file in clear text and pumps until the socket is full. */
static int request_big_plain(live *s)
{
    int fd = dial(s->plain_port);
    assert_int_equal(send(fd, BIG_REQUEST, strlen(BIG_REQUEST), MSG_NOSIGNAL),
                     (ssize_t)strlen(BIG_REQUEST));
    assert_turns_bounded(s);
    return fd;
}

static void test_sendfile_transfer_shares_turns(void **state)
{
    (void)state;
    live s;
    start(&s);
    int fd = request_big_plain(&s);
    uint64_t got = drain(&s, fd); /* the head and the whole file */
    assert_true(got > BIG_BYTES && got < BIG_BYTES + 512);
    close(fd);
    stop(&s);
}

/* A client that goes away mid-file: sendfile then raises SIGPIPE, which must not
 * reach this process (it has not ignored SIGPIPE, as a program embedding the
 * library may not have), and the connection is closed. */
static void test_client_gone_mid_file(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL);
    live s;
    start(&s);
    int fd = request_big_plain(&s);
    shutdown(fd, SHUT_RDWR);
    close(fd); /* with unread bytes: a reset */
    for (int i = 0; i < 100 && flare_http_server_get_stats(s.srv)->active; i++)
        pump(&s, 10);
    assert_int_equal(flare_http_server_get_stats(s.srv)->active, 0);
    stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_transfer_shares_turns),
        cmocka_unit_test(test_sendfile_transfer_shares_turns),
        cmocka_unit_test(test_client_gone_mid_file),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
