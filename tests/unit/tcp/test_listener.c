/*
 * test_listener.c: flare_tcp_listener on real sockets: port-0 binds, the dual
 * wildcard pair [::]:p + 0.0.0.0:p, SO_REUSEPORT, accept flags and fd adoption.
 * Clients connect only to 127.0.0.1 and ::1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/tcp.h"

static int get_int_opt(int fd, int level, int option)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, option, &v, &len), 0);
    return v;
}

static void must_listen(flare_tcp_listener *l, const char *addr, const flare_tcp_listen_options *o)
{
    flare_error err;
    if (flare_tcp_listen_str(l, addr, o, &err) < 0) fail_msg("listen %s: %s", addr, err.message);
}

static void connect_to(flare_tcp_stream *s, const char *host, uint16_t port)
{
    flare_error err;
    if (flare_tcp_connect(s, host, port, NULL, &err) < 0)
        fail_msg("connect %s port %u: %s", host, port, err.message);
}

static void test_port_zero_reports_real_port(void **state)
{
    (void)state;
    flare_tcp_listener l;
    must_listen(&l, "127.0.0.1:0", NULL);
    assert_true(l.fd >= 0);
    assert_int_not_equal(l.local.port, 0);
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    assert_true(flare_ip_equal(&l.local.ip, &lo));
    assert_int_equal(get_int_opt(l.fd, SOL_SOCKET, SO_REUSEADDR), 1);
    assert_int_equal(get_int_opt(l.fd, SOL_SOCKET, SO_REUSEPORT), 0);
    assert_int_equal(get_int_opt(l.fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_true((fcntl(l.fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_int_equal(fcntl(l.fd, F_GETFL) & O_NONBLOCK, 0);
    flare_tcp_listener_close(&l);
    assert_int_equal(l.fd, -1);
    flare_tcp_listener_close(&l);
}

static void test_listen_from_sock_addr_v6(void **state)
{
    (void)state;
    flare_ip_addr ip = flare_ip_v6_loopback();
    flare_sock_addr sa = flare_sock_addr_make(&ip, 0);
    flare_tcp_listener l;
    flare_error err;
    flare_tcp_listen_options o = {.backlog = 4};
    assert_int_equal(flare_tcp_listen(&l, &sa, &o, &err), 0);
    assert_true(flare_ip_is_v6(&l.local.ip));
    assert_int_not_equal(l.local.port, 0);
    assert_int_equal(get_int_opt(l.fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    flare_tcp_stream c;
    connect_to(&c, "::1", l.local.port);
    flare_sock_addr peer;
    int fd = flare_tcp_listener_accept(&l, &peer, &err);
    assert_true(fd >= 0);
    assert_true(flare_ip_is_loopback(&peer.ip) && flare_ip_is_v6(&peer.ip));
    assert_int_equal(peer.port, c.local.port);
    close(fd);
    flare_tcp_stream_close(&c);
    flare_tcp_listener_close(&l);
}

static void test_bad_address_strings(void **state)
{
    (void)state;
    flare_tcp_listener l;
    flare_error err;
    assert_true(flare_tcp_listen_str(&l, "127.0.0.1", NULL, &err) < 0); /* no port */
    assert_int_equal(l.fd, -1);
    assert_true(flare_tcp_listen_str(&l, "localhost:80", NULL, &err) < 0);
    assert_true(flare_tcp_listen_str(&l, "127.0.0.1:99999", NULL, &err) < 0);
    assert_int_equal(flare_tcp_listen_str(&l, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_listen(&l, NULL, NULL, &err), FLARE_EINVAL);
    flare_tcp_listen_options o = {.backlog = -1};
    assert_int_equal(flare_tcp_listen_str(&l, "127.0.0.1:0", &o, &err), FLARE_EINVAL);
    assert_int_equal(flare_tcp_listener_accept(&l, NULL, &err), FLARE_EINVAL);
}

/* IPV6_V6ONLY lets the IPv6 and IPv4 wildcards hold the same port side by side. */
static void test_dual_wildcard_same_port(void **state)
{
    (void)state;
    flare_tcp_listener l6, l4;
    must_listen(&l6, "[::]:0", NULL);
    char addr4[32];
    snprintf(addr4, sizeof addr4, "0.0.0.0:%u", l6.local.port);
    flare_error err;
    int rc = flare_tcp_listen_str(&l4, addr4, NULL, &err);
    if (rc < 0) fail_msg("0.0.0.0 beside [::] on one port: %s", err.message);
    assert_int_equal(l4.local.port, l6.local.port);

    /* Each family's connection lands on its own listener. */
    flare_tcp_stream c4, c6;
    connect_to(&c4, "127.0.0.1", l4.local.port);
    connect_to(&c6, "::1", l6.local.port);
    flare_sock_addr p4, p6;
    int fd4 = flare_tcp_listener_accept(&l4, &p4, &err);
    int fd6 = flare_tcp_listener_accept(&l6, &p6, &err);
    assert_true(fd4 >= 0 && fd6 >= 0);
    assert_true(flare_ip_is_v4(&p4.ip));
    assert_true(flare_ip_is_v6(&p6.ip));
    assert_int_equal(p4.port, c4.local.port);
    assert_int_equal(p6.port, c6.local.port);
    close(fd4);
    close(fd6);
    flare_tcp_stream_close(&c4);
    flare_tcp_stream_close(&c6);
    flare_tcp_listener_close(&l4);
    flare_tcp_listener_close(&l6);
}

static void test_reuse_port_two_listeners(void **state)
{
    (void)state;
    flare_tcp_listen_options o = {.reuse_port = true};
    flare_tcp_listener a, b, c;
    must_listen(&a, "127.0.0.1:0", &o);
    assert_int_equal(get_int_opt(a.fd, SOL_SOCKET, SO_REUSEPORT), 1);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", a.local.port);
    must_listen(&b, addr, &o);
    assert_int_equal(b.local.port, a.local.port);

    /* Without SO_REUSEPORT the port is taken: the error names it and the cause. */
    flare_error err;
    assert_int_equal(flare_tcp_listen_str(&c, addr, NULL, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EADDRINUSE);
    assert_non_null(strstr(err.message, addr));
    assert_int_equal(c.fd, -1);

    /* Connections reach one of the two sockets. */
    flare_tcp_stream s;
    connect_to(&s, "127.0.0.1", a.local.port);
    flare_tcp_listener_close(&c);
    assert_int_equal(flare_socket_set_nonblocking(a.fd, true, NULL), 0);
    assert_int_equal(flare_socket_set_nonblocking(b.fd, true, NULL), 0);
    int fa = flare_tcp_listener_accept(&a, NULL, NULL);
    int fb = flare_tcp_listener_accept(&b, NULL, NULL);
    assert_true((fa >= 0) != (fb >= 0));
    close(fa >= 0 ? fa : fb);
    flare_tcp_stream_close(&s);
    flare_tcp_listener_close(&a);
    flare_tcp_listener_close(&b);
}

static void test_accept_flags(void **state)
{
    (void)state;
    flare_tcp_listener l;
    must_listen(&l, "127.0.0.1:0", NULL); /* default: accepted fds non-blocking */
    flare_tcp_stream c;
    connect_to(&c, "127.0.0.1", l.local.port);
    flare_sock_addr peer;
    flare_error err;
    int fd = flare_tcp_listener_accept(&l, &peer, &err);
    assert_true(fd >= 0);
    assert_true((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_true(flare_ip_equal(&peer.ip, &c.local.ip));
    assert_int_equal(peer.port, c.local.port);
    close(fd);
    flare_tcp_stream_close(&c);
    flare_tcp_listener_close(&l);

    flare_tcp_listen_options o = {.accept_blocking = true};
    must_listen(&l, "[::1]:0", &o);
    connect_to(&c, "::1", l.local.port);
    fd = flare_tcp_listener_accept(&l, NULL, &err);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    flare_tcp_stream_close(&c);
    flare_tcp_listener_close(&l);
}

static void test_nonblocking_accept_eagain(void **state)
{
    (void)state;
    flare_tcp_listen_options o = {.nonblocking = true};
    flare_tcp_listener l;
    must_listen(&l, "127.0.0.1:0", &o);
    assert_true((fcntl(l.fd, F_GETFL) & O_NONBLOCK) != 0);
    flare_error err;
    assert_int_equal(flare_tcp_listener_accept(&l, NULL, &err), FLARE_EAGAIN);
    assert_int_equal(err.code, FLARE_EAGAIN);
    flare_tcp_listener_close(&l);
}

static void test_adopt_listening_fd(void **state)
{
    (void)state;
    /* What the daemon does before handing the socket to a worker. */
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    flare_ip_addr ip = flare_ip_v6_loopback();
    flare_sock_addr sa = flare_sock_addr_make(&ip, 0);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&sa, &ss);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);

    flare_tcp_listener l;
    flare_error err;
    /* Bound but not listening: refused, and the fd is still the caller's. */
    assert_int_equal(flare_tcp_listener_adopt(&l, fd, NULL, &err), FLARE_EINVAL);
    assert_non_null(strstr(err.message, "not listening"));
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_int_equal(listen(fd, 8), 0);

    flare_tcp_listen_options o = {.accept_blocking = true};
    assert_int_equal(flare_tcp_listener_adopt(&l, fd, &o, &err), 0);
    assert_int_equal(l.fd, fd);
    assert_true(flare_ip_is_v6(&l.local.ip));
    assert_int_not_equal(l.local.port, 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);

    flare_tcp_stream c, srv;
    connect_to(&c, "::1", l.local.port);
    assert_int_equal(flare_tcp_listener_accept_stream(&l, &srv, &err), 0);
    assert_false(srv.nonblocking);
    assert_int_equal(srv.peer.port, c.local.port);
    flare_tcp_stream_close(&srv);
    flare_tcp_stream_close(&c);
    flare_tcp_listener_close(&l);
    assert_true(fcntl(fd, F_GETFD) < 0); /* the listener owned and closed it */

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(flare_tcp_listener_adopt(&l, udp, NULL, &err), FLARE_EINVAL);
    close(udp);
    assert_int_equal(flare_tcp_listener_adopt(&l, -1, NULL, &err), FLARE_EINVAL);
}

/* A dual-stack listener handed over by a service manager (IPV6_V6ONLY off, as
 * systemd leaves it when net.ipv6.bindv6only is 0) sees IPv4 clients as
 * ::ffff:a.b.c.d: accept and accept_stream both give them as plain IPv4. */
static void test_dual_stack_adopted_peers_are_ipv4(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int off = 0;
    assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof any), 0);
    assert_int_equal(listen(fd, 8), 0);
    flare_tcp_listener l;
    flare_tcp_listen_options o = {.accept_blocking = true};
    assert_int_equal(flare_tcp_listener_adopt(&l, fd, &o, NULL), 0);

    flare_tcp_stream c1, c2, srv;
    connect_to(&c1, "127.0.0.1", l.local.port);
    connect_to(&c2, "127.0.0.1", l.local.port);
    flare_sock_addr peer;
    int accepted = flare_tcp_listener_accept(&l, &peer, NULL);
    assert_true(accepted >= 0);
    close(accepted);
    assert_true(flare_ip_is_v4(&peer.ip));
    assert_int_equal(flare_tcp_listener_accept_stream(&l, &srv, NULL), 0);
    assert_true(flare_ip_is_v4(&srv.peer.ip));
    assert_true(flare_ip_is_v4(&srv.local.ip));
    assert_int_equal(srv.peer.port, c2.local.port);
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    assert_true(flare_ip_equal(&srv.peer.ip, &lo));
    flare_tcp_stream_close(&srv);
    flare_tcp_stream_close(&c1);
    flare_tcp_stream_close(&c2);
    flare_tcp_listener_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_zero_reports_real_port),
        cmocka_unit_test(test_listen_from_sock_addr_v6),
        cmocka_unit_test(test_bad_address_strings),
        cmocka_unit_test(test_dual_wildcard_same_port),
        cmocka_unit_test(test_reuse_port_two_listeners),
        cmocka_unit_test(test_accept_flags),
        cmocka_unit_test(test_nonblocking_accept_eagain),
        cmocka_unit_test(test_adopt_listening_fd),
        cmocka_unit_test(test_dual_stack_adopted_peers_are_ipv4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
