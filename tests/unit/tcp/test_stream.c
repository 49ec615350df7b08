/*
 * test_stream.c: flare_tcp_stream against real loopback sockets (127.0.0.1, ::1),
 * ports bound as 0. Server sides run in threads; the dual-stack fallback uses an
 * injected resolver so the address order is fixed and nothing leaves the host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/tick_signals.h"
#include "flare/tcp.h"

/* ------------------------------------------------------------ helpers */

static void listen_on(flare_tcp_listener *l, const char *addr)
{
    flare_error err;
    flare_tcp_listen_options opts = {.accept_blocking = true};
    int rc = flare_tcp_listen_str(l, addr, &opts, &err);
    if (rc < 0) fail_msg("listen %s: %s", addr, err.message);
}

/* A TCP socket bound to ip:port but not listening: connects to it are refused (RST). */
static int bound_not_listening(int family, uint16_t port)
{
    flare_ip_addr ip = family == AF_INET ? flare_ip_v4(127, 0, 0, 1) : flare_ip_v6_loopback();
    flare_sock_addr sa = flare_sock_addr_make(&ip, port);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&sa, &ss);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t local_port(int fd)
{
    flare_sock_addr sa;
    assert_int_equal(flare_socket_local_addr(fd, &sa, NULL), 0);
    return sa.port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Echo server: accepts one connection, echoes until EOF, then closes it. */
static void *echo_server(void *arg)
{
    flare_tcp_listener *l = arg;
    flare_tcp_stream s;
    if (flare_tcp_listener_accept_stream(l, &s, NULL) < 0) return NULL;
    char buf[4096];
    for (;;) {
        ssize_t n = flare_tcp_stream_read(&s, buf, sizeof buf, NULL);
        if (n <= 0) break;
        if (flare_tcp_stream_write_all(&s, buf, (size_t)n, NULL) < 0) break;
    }
    flare_tcp_stream_close(&s);
    return NULL;
}

/* Sink server: accepts one connection and counts bytes until EOF. */
struct sink {
    flare_tcp_listener *l;
    size_t total;
};

static void *sink_server(void *arg)
{
    struct sink *k = arg;
    flare_tcp_stream s;
    if (flare_tcp_listener_accept_stream(k->l, &s, NULL) < 0) return NULL;
    static char buf[65536];
    for (;;) {
        ssize_t n = flare_tcp_stream_read(&s, buf, sizeof buf, NULL);
        if (n <= 0) break;
        k->total += (size_t)n;
    }
    flare_tcp_stream_close(&s);
    return NULL;
}

static void read_exactly(flare_tcp_stream *s, char *buf, size_t len)
{
    size_t got = 0;
    flare_error err;
    while (got < len) {
        ssize_t n = flare_tcp_stream_read(s, buf + got, len - got, &err);
        if (n <= 0) fail_msg("read returned %zd: %s", n, n < 0 ? err.message : "EOF");
        got += (size_t)n;
    }
}

static int get_int_opt(int fd, int level, int option)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, option, &v, &len), 0);
    return v;
}

/* Full round trip through the echo server, then FIN both ways. */
static void echo_round_trip(const char *listen_addr, const char *host)
{
    flare_tcp_listener l;
    listen_on(&l, listen_addr);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_server, &l), 0);

    flare_tcp_stream s;
    flare_error err;
    int rc = flare_tcp_connect(&s, host, l.local.port, NULL, &err);
    if (rc < 0) fail_msg("connect: %s", err.message);
    assert_true(s.fd >= 0);
    assert_false(s.nonblocking);
    assert_true(flare_ip_equal(&s.peer.ip, &l.local.ip));
    assert_int_equal(s.peer.port, l.local.port);
    assert_int_equal(s.local.ip.family, l.local.ip.family);
    assert_int_not_equal(s.local.port, 0);
    /* TCP_NODELAY is on by default. */
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_NODELAY), 1);

    char msg[10000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 26);
    assert_int_equal(flare_tcp_stream_write_all(&s, msg, sizeof msg, &err), 0);
    char back[sizeof msg];
    read_exactly(&s, back, sizeof back);
    assert_memory_equal(msg, back, sizeof msg);

    /* Our FIN ends the server loop; its close then gives us EOF as 0. */
    assert_int_equal(flare_tcp_stream_shutdown(&s, FLARE_TCP_SHUT_WRITE, &err), 0);
    char one;
    assert_int_equal(flare_tcp_stream_read(&s, &one, 1, &err), 0);
    flare_tcp_stream_close(&s);
    assert_int_equal(s.fd, -1);
    flare_tcp_stream_close(&s); /* twice is harmless */
    pthread_join(th, NULL);
    flare_tcp_listener_close(&l);
}

/* ---------------------------------------------------------- injected resolver */

struct fake_dns {
    flare_ip_addr addrs[2];
    size_t count;
    int calls;
    int delay_ms;
    int fail_code;
    char host[64];
};

static int fake_resolve(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                        flare_error *err)
{
    struct fake_dns *d = ctx;
    d->calls++;
    snprintf(d->host, sizeof d->host, "%s", host);
    if (d->delay_ms) sleep_ms(d->delay_ms);
    if (d->fail_code) return flare_error_set(err, d->fail_code, 0, "fake: no such host %s", host);
    (void)family;
    out->count = d->count;
    for (size_t i = 0; i < d->count; i++)
        out->addrs[i] = d->addrs[i];
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_echo_v4(void **state)
{
    (void)state;
    echo_round_trip("127.0.0.1:0", "127.0.0.1");
}

static void test_echo_v6(void **state)
{
    (void)state;
    echo_round_trip("[::1]:0", "::1");
}

static void test_connect_addr_v6(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "[::1]:0");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_server, &l), 0);
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.keep_nagle = true, .timeout_ms = 5000};
    int rc = flare_tcp_connect_addr(&s, &l.local, &opts, &err);
    if (rc < 0) fail_msg("connect_addr: %s", err.message);
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(flare_tcp_stream_write(&s, "ping", 4, &err), 4);
    char back[4];
    read_exactly(&s, back, 4);
    assert_memory_equal(back, "ping", 4);
    flare_tcp_stream_close(&s);
    pthread_join(th, NULL);
    flare_tcp_listener_close(&l);
}

static void test_connect_refused_names_host_and_port(void **state)
{
    (void)state;
    int fd = bound_not_listening(AF_INET, 0);
    assert_true(fd >= 0);
    uint16_t port = local_port(fd);
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", port, NULL, &err), FLARE_ECONNREFUSED);
    assert_int_equal(err.code, FLARE_ECONNREFUSED);
    assert_int_equal(err.sys_errno, ECONNREFUSED);
    assert_int_equal(s.fd, -1);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "port %u", port);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_non_null(strstr(err.message, port_text));
    close(fd);
}

/*
 * The resolver answers ::1 first, where a bound-but-not-listening socket holds the
 * port (refused at once), then 127.0.0.1, where the listener is: the connect must
 * fall back and land on IPv4.
 */
static void test_fallback_v6_to_v4_with_injected_resolver(void **state)
{
    (void)state;
    flare_tcp_listener l;
    int dead = -1;
    for (int tries = 0; tries < 20 && dead < 0; tries++) {
        listen_on(&l, "127.0.0.1:0");
        dead = bound_not_listening(AF_INET6, l.local.port);
        if (dead < 0) flare_tcp_listener_close(&l); /* port taken on ::1; draw another */
    }
    assert_true(dead >= 0);

    struct fake_dns dns = {.count = 2};
    dns.addrs[0] = flare_ip_v6_loopback();
    dns.addrs[1] = flare_ip_v4(127, 0, 0, 1);
    flare_resolver resolver = {fake_resolve, &dns};
    flare_tcp_connect_options opts = {.resolver = &resolver, .timeout_ms = 5000};
    flare_tcp_stream s;
    flare_error err;
    int rc = flare_tcp_connect(&s, "dual.example", l.local.port, &opts, &err);
    if (rc < 0) fail_msg("fallback connect: %s", err.message);
    assert_int_equal(dns.calls, 1);
    assert_string_equal(dns.host, "dual.example");
    assert_true(flare_ip_is_v4(&s.peer.ip));
    assert_int_equal(s.peer.port, l.local.port);

    /* The listener really has the connection, from our local address. */
    flare_sock_addr peer;
    int fd = flare_tcp_listener_accept(&l, &peer, &err);
    assert_true(fd >= 0);
    assert_true(flare_ip_equal(&peer.ip, &s.local.ip));
    assert_int_equal(peer.port, s.local.port);
    close(fd);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
    close(dead);
}

static void test_all_addresses_refused_reports_last(void **state)
{
    (void)state;
    int dead4 = -1, dead6 = -1;
    for (int tries = 0; tries < 20 && dead6 < 0; tries++) {
        dead4 = bound_not_listening(AF_INET, 0);
        assert_true(dead4 >= 0);
        dead6 = bound_not_listening(AF_INET6, local_port(dead4));
        if (dead6 < 0) close(dead4);
    }
    assert_true(dead6 >= 0);
    uint16_t port = local_port(dead4);

    struct fake_dns dns = {.count = 2};
    dns.addrs[0] = flare_ip_v6_loopback();
    dns.addrs[1] = flare_ip_v4(127, 0, 0, 1);
    flare_resolver resolver = {fake_resolve, &dns};
    flare_tcp_connect_options opts = {.resolver = &resolver};
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "dual.example", port, &opts, &err), FLARE_ECONNREFUSED);
    char expect[64];
    snprintf(expect, sizeof expect, "dual.example port %u", port);
    assert_non_null(strstr(err.message, expect));
    assert_non_null(strstr(err.message, "2 of 2"));
    snprintf(expect, sizeof expect, "127.0.0.1:%u", port); /* the last attempt */
    assert_non_null(strstr(err.message, expect));
    close(dead4);
    close(dead6);
}

static void test_resolver_error_is_returned(void **state)
{
    (void)state;
    struct fake_dns dns = {.fail_code = FLARE_ERESOLVE};
    flare_resolver resolver = {fake_resolve, &dns};
    flare_tcp_connect_options opts = {.resolver = &resolver};
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "nowhere.example", 80, &opts, &err), FLARE_ERESOLVE);
    assert_int_equal(dns.calls, 1);
    assert_int_equal(s.fd, -1);
}

/* Deterministic timeout: resolution alone outlasts the total budget. */
static void test_timeout_covers_resolution(void **state)
{
    (void)state;
    flare_tcp_listener l;
    flare_error err;
    flare_tcp_listen_options lo = {.nonblocking = true};
    assert_int_equal(flare_tcp_listen_str(&l, "127.0.0.1:0", &lo, &err), 0);
    struct fake_dns dns = {.count = 1, .delay_ms = 150};
    dns.addrs[0] = flare_ip_v4(127, 0, 0, 1);
    flare_resolver resolver = {fake_resolve, &dns};
    flare_tcp_connect_options opts = {.resolver = &resolver, .timeout_ms = 50};
    flare_tcp_stream s;
    assert_int_equal(flare_tcp_connect(&s, "slow.example", l.local.port, &opts, &err),
                     FLARE_ETIMEDOUT);
    char expect[64];
    snprintf(expect, sizeof expect, "slow.example port %u", l.local.port);
    assert_non_null(strstr(err.message, expect));
    assert_non_null(strstr(err.message, "0 of 1"));
    /* No connection attempt was made. */
    assert_int_equal(flare_tcp_listener_accept(&l, NULL, &err), FLARE_EAGAIN);
    flare_tcp_listener_close(&l);
}

/*
 * A listener whose accept queue is full drops new SYNs (Linux, tcp_abort_on_overflow
 * = 0), so the handshake never completes and our poll deadline must fire. Other
 * kernel settings answer differently; then the premise is gone and we skip.
 */
static void test_timeout_when_syn_is_dropped(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    flare_sock_addr sa = flare_sock_addr_make(&lo, 0);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&sa, &ss);
    assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(lfd, 0), 0); /* queue holds one connection */
    uint16_t port = local_port(lfd);

    flare_tcp_stream first, second;
    flare_error err;
    flare_tcp_connect_options opts = {.timeout_ms = 2000};
    assert_int_equal(flare_tcp_connect(&first, "127.0.0.1", port, &opts, &err), 0);
    opts.timeout_ms = 200;
    int rc = flare_tcp_connect(&second, "127.0.0.1", port, &opts, &err);
    if (rc != FLARE_ETIMEDOUT) {
        flare_tcp_stream_close(&first);
        flare_tcp_stream_close(&second);
        close(lfd);
        if (rc == 0 || rc == FLARE_ECONNREFUSED) skip(); /* kernel did not drop the SYN */
        fail_msg("expected FLARE_ETIMEDOUT, got %s: %s", flare_error_name(rc), err.message);
    }
    assert_int_equal(err.code, FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_int_equal(second.fd, -1);
    flare_tcp_stream_close(&first);
    close(lfd);
}

/* A raw listener on family/port whose accept queue (backlog 0) already holds one connection. */
static int full_listener(int family, uint16_t port, int *filler)
{
    int fd = bound_not_listening(family, port);
    if (fd < 0) return -1;
    assert_int_equal(listen(fd, 0), 0);
    flare_tcp_stream first;
    flare_tcp_connect_options opts = {.timeout_ms = 2000};
    flare_sock_addr sa;
    assert_int_equal(flare_socket_local_addr(fd, &sa, NULL), 0);
    assert_int_equal(flare_tcp_connect_addr(&first, &sa, &opts, NULL), 0);
    *filler = flare_tcp_stream_detach(&first);
    return fd;
}

/*
 * A first address that swallows SYNs (the route is "dead") may use only its share of
 * the budget, FLARE_TCP_ATTEMPT_MIN_MS here, so the IPv4 address is still reached.
 */
static void test_fallback_after_dropped_syn(void **state)
{
    (void)state;
    flare_tcp_listener l;
    int dead = -1, filler = -1;
    for (int tries = 0; tries < 20 && dead < 0; tries++) {
        listen_on(&l, "127.0.0.1:0");
        dead = full_listener(AF_INET6, l.local.port, &filler);
        if (dead < 0) flare_tcp_listener_close(&l);
    }
    assert_true(dead >= 0);

    struct fake_dns dns = {.count = 2};
    dns.addrs[0] = flare_ip_v6_loopback();
    dns.addrs[1] = flare_ip_v4(127, 0, 0, 1);
    flare_resolver resolver = {fake_resolve, &dns};
    flare_tcp_connect_options opts = {.resolver = &resolver,
                                      .timeout_ms = FLARE_TCP_ATTEMPT_MIN_MS + 1500};
    flare_tcp_stream s;
    flare_error err;
    int rc = flare_tcp_connect(&s, "dual.example", l.local.port, &opts, &err);
    close(filler);
    close(dead);
    if (rc == 0 && flare_ip_is_v6(&s.peer.ip)) {
        flare_tcp_stream_close(&s);
        flare_tcp_listener_close(&l);
        skip(); /* the kernel completed the handshake: no dead route to fall back from */
    }
    if (rc < 0) fail_msg("fallback after a dropped SYN: %s", err.message);
    assert_true(flare_ip_is_v4(&s.peer.ip));
    assert_int_equal(s.peer.port, l.local.port);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", 0, NULL, &err), FLARE_EPORT);
    assert_int_equal(flare_tcp_connect(&s, NULL, 80, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_connect(NULL, "127.0.0.1", 80, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_connect(&s, "bad host\r\n", 80, NULL, &err), FLARE_EHOSTNAME);
    assert_int_equal(s.fd, -1);
    char b[4];
    assert_int_equal(flare_tcp_stream_read(&s, b, sizeof b, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_stream_write(&s, b, sizeof b, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_stream_write_all(&s, b, sizeof b, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_stream_shutdown(&s, FLARE_TCP_SHUT_BOTH, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_stream_set_recv_timeout(&s, 10, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_stream_detach(&s), -1);
    assert_int_equal(flare_tcp_stream_adopt(&s, -1, &err), FLARE_EINVAL);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(flare_tcp_stream_adopt(&s, udp, &err), FLARE_EINVAL);
    close(udp);
}

/* Accepts one connection and closes it at once; reports the close through a pipe. */
static void *accept_and_close(void *arg)
{
    flare_tcp_listener *l = arg;
    int fd = flare_tcp_listener_accept(l, NULL, NULL);
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_write_to_closed_peer_no_sigpipe(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill this process */
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_and_close, &l), 0);
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, NULL, &err), 0);
    pthread_join(th, NULL);
    char c;
    assert_int_equal(flare_tcp_stream_read(&s, &c, 1, &err), 0); /* the peer's FIN */

    /* The first write draws an RST; a later one must fail with an error code. */
    int rc = 0;
    for (int i = 0; i < 200 && rc >= 0; i++) {
        rc = (int)flare_tcp_stream_write(&s, "x", 1, &err);
        if (rc >= 0) sleep_ms(5);
    }
    assert_true(rc == FLARE_ECLOSED || rc == FLARE_ECONNRESET);
    assert_int_equal(err.code, rc);
    assert_int_equal(flare_tcp_stream_write_all(&s, "yy", 2, &err) < 0, 1);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

/* Accepts one connection and aborts it with an RST (SO_LINGER 0). */
static void *accept_and_reset(void *arg)
{
    flare_tcp_listener *l = arg;
    int fd = flare_tcp_listener_accept(l, NULL, NULL);
    if (fd < 0) return NULL;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    return NULL;
}

static void test_read_reset_is_econnreset(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_and_reset, &l), 0);
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, NULL, &err), 0);
    pthread_join(th, NULL);
    char c;
    assert_int_equal(flare_tcp_stream_read(&s, &c, 1, &err), FLARE_ECONNRESET);
    assert_int_equal(err.sys_errno, ECONNRESET);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

static void test_read_timeout_and_eagain(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.recv_timeout_ms = 100};
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, &opts, &err), 0);
    assert_int_equal(s.recv_timeout_ms, 100);
    char c;
    /* Connected (queued by the kernel) but the server never writes. */
    assert_int_equal(flare_tcp_stream_read(&s, &c, 1, &err), FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "100 ms"));
    assert_int_equal(flare_tcp_stream_set_nonblocking(&s, true, &err), 0);
    assert_true((fcntl(s.fd, F_GETFL) & O_NONBLOCK) != 0);
    assert_int_equal(flare_tcp_stream_read(&s, &c, 1, &err), FLARE_EAGAIN);
    assert_int_equal(flare_tcp_stream_set_recv_timeout(&s, -1, &err), FLARE_EINVAL);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

/* A blocking read, then a blocking write into full buffers, each bounded by its timeout
 * while a signal arrives every millisecond (see tick_signals.h). */
static void test_timeouts_under_signals(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.recv_timeout_ms = 100, .send_timeout_ms = 100};
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, &opts, &err), 0);
    char c;
    assert_int_equal(start_tick_signals(), 0);
    ssize_t n = flare_tcp_stream_read(&s, &c, 1, &err);
    int seen = stop_tick_signals();
    assert_int_equal(n, FLARE_ETIMEDOUT);
    if (seen >= TICK_SIGNAL_LIMIT) fail_msg("the read outlasted all %d signals", seen);

    size_t size = 64u << 20; /* far beyond both socket buffers: the peer never reads */
    char *big = calloc(1, size);
    assert_non_null(big);
    assert_int_equal(start_tick_signals(), 0);
    int rc = flare_tcp_stream_write_all(&s, big, size, &err);
    seen = stop_tick_signals();
    free(big);
    assert_int_equal(rc, FLARE_ETIMEDOUT);
    if (seen >= TICK_SIGNAL_LIMIT) fail_msg("the write outlasted all %d signals", seen);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

static void test_options_keepalive_nodelay(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "[::1]:0");
    flare_tcp_stream s;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&s, "::1", l.local.port, NULL, &err), 0);
    assert_int_equal(get_int_opt(s.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(flare_tcp_stream_set_keepalive(&s, true, 30, 5, 3, &err), 0);
    assert_int_equal(get_int_opt(s.fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
    assert_int_equal(flare_tcp_stream_set_keepalive(&s, false, 0, 0, 0, &err), 0);
    assert_int_equal(get_int_opt(s.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(flare_tcp_stream_set_nodelay(&s, false, &err), 0);
    assert_int_equal(get_int_opt(s.fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(flare_tcp_stream_set_send_timeout(&s, 1500, &err), 0);
    struct timeval tv;
    socklen_t len = sizeof tv;
    assert_int_equal(getsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
    assert_int_equal(tv.tv_sec, 1);
    assert_true(tv.tv_usec >= 490000 && tv.tv_usec <= 500000);
    assert_true((fcntl(s.fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_int_equal(flare_tcp_stream_shutdown(&s, (flare_tcp_shutdown_how)7, &err), FLARE_EINVAL);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

/* A non-blocking stream's write_all must wait out a full send buffer, not fail. */
static void test_write_all_nonblocking_large(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    struct sink k = {.l = &l};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sink_server, &k), 0);
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.nonblocking = true};
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, &opts, &err), 0);
    assert_true(s.nonblocking);
    size_t size = 8u << 20;
    char *big = calloc(1, size);
    assert_non_null(big);
    int rc = flare_tcp_stream_write_all(&s, big, size, &err);
    if (rc < 0) fail_msg("write_all: %s", err.message);
    flare_tcp_stream_close(&s);
    pthread_join(th, NULL);
    assert_int_equal(k.total, size);
    free(big);
    flare_tcp_listener_close(&l);
}

/* The peer never reads: write_all on a non-blocking stream gives up after the send timeout. */
static void test_write_all_send_timeout(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.nonblocking = true, .send_timeout_ms = 100};
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, &opts, &err), 0);
    size_t size = 64u << 20; /* far beyond both socket buffers */
    char *big = calloc(1, size);
    assert_non_null(big);
    assert_int_equal(flare_tcp_stream_write_all(&s, big, size, &err), FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    free(big);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
}

/* Trickle server: accepts one connection and reads up to 64 KiB every 100 ms until
 * told to stop, so a writer makes some progress well within any wait of 500 ms. */
struct trickle {
    flare_tcp_listener *l;
    atomic_bool stop;
};

static void *trickle_server(void *arg)
{
    struct trickle *t = arg;
    flare_tcp_stream s;
    if (flare_tcp_listener_accept_stream(t->l, &s, NULL) < 0) return NULL;
    static char buf[64 * 1024];
    while (!t->stop) {
        sleep_ms(100);
        if (recv(s.fd, buf, sizeof buf, MSG_DONTWAIT) == 0) break;
    }
    flare_tcp_stream_close(&s);
    return NULL;
}

/* A peer that takes a trickle cannot keep write_all going past send_timeout_ms: the
 * timeout bounds the whole call, on a blocking stream as on a non-blocking one. The
 * 2 MiB would take the trickle some 3 s; small socket buffers on both ends keep the
 * kernels from swallowing it all. */
static void write_all_to_a_trickle(bool nonblocking)
{
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    int small = 64 * 1024;
    assert_int_equal(setsockopt(l.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    struct trickle t = {.l = &l};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickle_server, &t), 0);
    flare_tcp_stream s;
    flare_error err;
    flare_tcp_connect_options opts = {.nonblocking = nonblocking, .send_timeout_ms = 500};
    assert_int_equal(flare_tcp_connect(&s, "127.0.0.1", l.local.port, &opts, &err), 0);
    assert_int_equal(setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    size_t size = 2u << 20;
    char *big = calloc(1, size);
    assert_non_null(big);
    int rc = flare_tcp_stream_write_all(&s, big, size, &err);
    t.stop = true;
    pthread_join(th, NULL);
    free(big);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&l);
    assert_int_equal(rc, FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "bytes unsent"));
}

static void test_write_all_deadline_blocking(void **state)
{
    (void)state;
    write_all_to_a_trickle(false);
}

static void test_write_all_deadline_nonblocking(void **state)
{
    (void)state;
    write_all_to_a_trickle(true);
}

static void test_adopt_and_detach(void **state)
{
    (void)state;
    flare_tcp_listener l;
    listen_on(&l, "127.0.0.1:0");
    flare_tcp_stream c, srv;
    flare_error err;
    assert_int_equal(flare_tcp_connect(&c, "127.0.0.1", l.local.port, NULL, &err), 0);
    assert_int_equal(flare_tcp_listener_accept_stream(&l, &srv, &err), 0);
    /* accept_blocking listener: the accepted stream is blocking. */
    assert_false(srv.nonblocking);
    assert_true(flare_ip_equal(&srv.peer.ip, &c.local.ip));
    assert_int_equal(srv.peer.port, c.local.port);
    assert_int_equal(srv.local.port, l.local.port);
    int fd = flare_tcp_stream_detach(&srv);
    assert_true(fd >= 0);
    assert_int_equal(srv.fd, -1);
    flare_tcp_stream_close(&srv); /* detached: must not close fd */
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_int_equal(flare_tcp_stream_adopt(&srv, fd, &err), 0);
    assert_int_equal(srv.peer.port, c.local.port);
    assert_int_equal(flare_tcp_stream_write_all(&srv, "ok", 2, &err), 0);
    char b[2];
    read_exactly(&c, b, 2);
    assert_memory_equal(b, "ok", 2);
    flare_tcp_stream_close(&srv);
    flare_tcp_stream_close(&c);
    flare_tcp_listener_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_v4),
        cmocka_unit_test(test_echo_v6),
        cmocka_unit_test(test_connect_addr_v6),
        cmocka_unit_test(test_connect_refused_names_host_and_port),
        cmocka_unit_test(test_fallback_v6_to_v4_with_injected_resolver),
        cmocka_unit_test(test_all_addresses_refused_reports_last),
        cmocka_unit_test(test_resolver_error_is_returned),
        cmocka_unit_test(test_timeout_covers_resolution),
        cmocka_unit_test(test_timeout_when_syn_is_dropped),
        cmocka_unit_test(test_fallback_after_dropped_syn),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_write_to_closed_peer_no_sigpipe),
        cmocka_unit_test(test_read_reset_is_econnreset),
        cmocka_unit_test(test_read_timeout_and_eagain),
        cmocka_unit_test(test_timeouts_under_signals),
        cmocka_unit_test(test_options_keepalive_nodelay),
        cmocka_unit_test(test_write_all_nonblocking_large),
        cmocka_unit_test(test_write_all_send_timeout),
        cmocka_unit_test(test_write_all_deadline_blocking),
        cmocka_unit_test(test_write_all_deadline_nonblocking),
        cmocka_unit_test(test_adopt_and_detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
