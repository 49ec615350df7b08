/*
 * test_udp_socket.c: flare_udp_socket on 127.0.0.1 and ::1 with ports bound as 0:
 * round trips with sender addresses, the protocol size limits (refused before the
 * system call), truncation, receive timeouts and SO_BROADCAST on loopback.
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/tick_signals.h"
#include "flare/udp.h"

static void must_bind(flare_udp_socket *u, const char *addr, const flare_udp_options *o)
{
    flare_error err;
    if (flare_udp_bind_str(u, addr, o, &err) < 0) fail_msg("bind %s: %s", addr, err.message);
}

static int get_int_opt(int fd, int level, int option)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, option, &v, &len), 0);
    return v;
}

static void round_trip(const char *bind_addr, int family)
{
    flare_udp_socket srv, cli;
    flare_udp_options o = {.recv_timeout_ms = 2000};
    must_bind(&srv, bind_addr, &o);
    must_bind(&cli, bind_addr, &o);
    assert_int_equal(srv.family, family);
    assert_int_not_equal(srv.local.port, 0);
    assert_int_not_equal(srv.local.port, cli.local.port);
    if (family == AF_INET6) assert_int_equal(get_int_opt(srv.fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);

    flare_error err;
    assert_int_equal(flare_udp_send_to(&cli, "hello", 5, &srv.local, &err), 5);
    char buf[64];
    flare_sock_addr from;
    assert_int_equal(flare_udp_recv_from(&srv, buf, sizeof buf, &from, &err), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(flare_ip_equal(&from.ip, &cli.local.ip));
    assert_int_equal(from.port, cli.local.port);

    /* Reply to whatever address recv_from reported. */
    assert_int_equal(flare_udp_send_to(&srv, "world!", 6, &from, &err), 6);
    flare_sock_addr from2;
    assert_int_equal(flare_udp_recv_from(&cli, buf, sizeof buf, &from2, &err), 6);
    assert_memory_equal(buf, "world!", 6);
    assert_int_equal(from2.port, srv.local.port);

    /* An unbound socket gets a port on its first send; the reply finds it. */
    flare_udp_socket anon;
    assert_int_equal(flare_udp_open(&anon, family, &o, &err), 0);
    assert_int_equal(anon.local.port, 0);
    assert_int_equal(flare_udp_send_to(&anon, "?", 1, &srv.local, &err), 1);
    assert_int_not_equal(anon.local.port, 0);
    assert_int_equal(flare_udp_recv_from(&srv, buf, sizeof buf, &from, &err), 1);
    assert_int_equal(from.port, anon.local.port);
    assert_int_equal(flare_udp_send_to(&srv, "!", 1, &from, &err), 1);
    assert_int_equal(flare_udp_recv_from(&anon, buf, sizeof buf, NULL, &err), 1);
    assert_int_equal(buf[0], '!');

    /* An empty datagram is a datagram, not EOF. */
    assert_int_equal(flare_udp_send_to(&cli, "", 0, &srv.local, &err), 0);
    assert_int_equal(flare_udp_recv_from(&srv, buf, sizeof buf, &from, &err), 0);
    assert_int_equal(from.port, cli.local.port);

    flare_udp_close(&anon);
    flare_udp_close(&cli);
    flare_udp_close(&srv);
    assert_int_equal(srv.fd, -1);
    flare_udp_close(&srv);
}

static void test_round_trip_v4(void **state)
{
    (void)state;
    round_trip("127.0.0.1:0", AF_INET);
}

static void test_round_trip_v6(void **state)
{
    (void)state;
    round_trip("[::1]:0", AF_INET6);
}

/*
 * One byte over the limit is refused without a send: the receiver then sees only
 * the following datagram, of exactly the limit's size.
 */
static void size_limit(const char *bind_addr, size_t limit)
{
    flare_udp_socket srv, cli;
    flare_udp_options o = {.recv_timeout_ms = 2000};
    must_bind(&srv, bind_addr, &o);
    must_bind(&cli, bind_addr, &o);
    char *big = malloc(limit + 2);
    assert_non_null(big);
    memset(big, 'x', limit + 1);
    big[0] = 'A'; /* marks the oversized one, should it ever arrive */
    flare_error err;
    assert_int_equal(flare_udp_send_to(&cli, big, limit + 1, &srv.local, &err), FLARE_EMSGSIZE);
    assert_int_equal(err.code, FLARE_EMSGSIZE);
    assert_int_equal(err.sys_errno, 0); /* refused by us, not by the kernel */
    char expect[32];
    snprintf(expect, sizeof expect, "%zu bytes", limit);
    assert_non_null(strstr(err.message, expect));

    big[0] = 'B';
    assert_int_equal(flare_udp_send_to(&cli, big, limit, &srv.local, &err), (ssize_t)limit);
    char *in = malloc(limit + 100);
    assert_non_null(in);
    ssize_t n = flare_udp_recv_from(&srv, in, limit + 100, NULL, &err);
    if (n < 0) fail_msg("recv: %s", err.message);
    assert_int_equal(n, (ssize_t)limit);
    assert_int_equal(in[0], 'B');

    /* Nothing else is queued. */
    assert_int_equal(flare_udp_set_recv_timeout(&srv, 50, &err), 0);
    assert_int_equal(flare_udp_recv_from(&srv, in, limit + 100, NULL, &err), FLARE_ETIMEDOUT);
    free(in);
    free(big);
    flare_udp_close(&cli);
    flare_udp_close(&srv);
}

static void test_size_limit_v4(void **state)
{
    (void)state;
    assert_int_equal(FLARE_UDP_MAX_V4, 65507);
    size_limit("127.0.0.1:0", FLARE_UDP_MAX_V4);
}

static void test_size_limit_v6(void **state)
{
    (void)state;
    assert_int_equal(FLARE_UDP_MAX_V6, 65527);
    size_limit("[::1]:0", FLARE_UDP_MAX_V6);
}

static void test_receive_truncation(void **state)
{
    (void)state;
    flare_udp_socket srv, cli;
    flare_udp_options o = {.recv_timeout_ms = 2000};
    must_bind(&srv, "127.0.0.1:0", &o);
    must_bind(&cli, "127.0.0.1:0", &o);
    flare_error err;
    char msg[100];
    memset(msg, 'm', sizeof msg);
    assert_int_equal(flare_udp_send_to(&cli, msg, sizeof msg, &srv.local, &err), 100);
    assert_int_equal(flare_udp_send_to(&cli, "next", 4, &srv.local, &err), 4);
    char small[10];
    assert_int_equal(flare_udp_recv_from(&srv, small, sizeof small, NULL, &err), FLARE_EMSGSIZE);
    assert_non_null(strstr(err.message, "100-byte"));
    /* The truncated datagram is gone; the next one arrives whole. */
    assert_int_equal(flare_udp_recv_from(&srv, small, sizeof small, NULL, &err), 4);
    assert_memory_equal(small, "next", 4);
    flare_udp_close(&cli);
    flare_udp_close(&srv);
}

static void test_receive_timeout_and_eagain(void **state)
{
    (void)state;
    flare_udp_socket u;
    flare_udp_options o = {.recv_timeout_ms = 100};
    must_bind(&u, "[::1]:0", &o);
    char buf[8];
    flare_error err;
    assert_int_equal(flare_udp_recv_from(&u, buf, sizeof buf, NULL, &err), FLARE_ETIMEDOUT);
    assert_int_equal(err.code, FLARE_ETIMEDOUT);
    assert_int_equal(flare_udp_set_nonblocking(&u, true, &err), 0);
    assert_true((fcntl(u.fd, F_GETFL) & O_NONBLOCK) != 0);
    assert_int_equal(flare_udp_recv_from(&u, buf, sizeof buf, NULL, &err), FLARE_EAGAIN);
    assert_int_equal(flare_udp_set_recv_timeout(&u, -5, &err), FLARE_EINVAL);
    flare_udp_close(&u);

    flare_udp_options nb = {.nonblocking = true};
    must_bind(&u, "127.0.0.1:0", &nb);
    assert_true(u.nonblocking);
    assert_int_equal(flare_udp_recv_from(&u, buf, sizeof buf, NULL, &err), FLARE_EAGAIN);
    flare_udp_close(&u);
}

static void test_receive_timeout_under_signals(void **state)
{
    (void)state;
    flare_udp_socket u;
    flare_udp_options o = {.recv_timeout_ms = 100};
    must_bind(&u, "127.0.0.1:0", &o);
    char buf[8];
    flare_error err;
    assert_int_equal(start_tick_signals(), 0);
    ssize_t n = flare_udp_recv_from(&u, buf, sizeof buf, NULL, &err);
    int seen = stop_tick_signals();
    assert_int_equal(n, FLARE_ETIMEDOUT);
    if (seen >= TICK_SIGNAL_LIMIT) fail_msg("the receive outlasted all %d signals", seen);
    flare_udp_close(&u);
}

/*
 * 127.255.255.255 is the loopback broadcast address: the kernel refuses to send there
 * (EACCES) until SO_BROADCAST is set, and then delivers on lo only.
 */
static void test_broadcast_option(void **state)
{
    (void)state;
    flare_udp_socket rx, tx;
    flare_udp_options ro = {.recv_timeout_ms = 2000};
    must_bind(&rx, "127.255.255.255:0", &ro);
    must_bind(&tx, "127.0.0.1:0", NULL);
    assert_int_equal(get_int_opt(tx.fd, SOL_SOCKET, SO_BROADCAST), 0);
    flare_ip_addr bcast = flare_ip_v4(127, 255, 255, 255);
    flare_sock_addr to = flare_sock_addr_make(&bcast, rx.local.port);
    flare_error err;
    assert_int_equal(flare_udp_send_to(&tx, "b", 1, &to, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EACCES);
    assert_non_null(strstr(err.message, "broadcast"));

    assert_int_equal(flare_udp_set_broadcast(&tx, true, &err), 0);
    assert_int_equal(get_int_opt(tx.fd, SOL_SOCKET, SO_BROADCAST), 1);
    assert_int_equal(flare_udp_send_to(&tx, "b", 1, &to, &err), 1);
    char buf[4];
    flare_sock_addr from;
    assert_int_equal(flare_udp_recv_from(&rx, buf, sizeof buf, &from, &err), 1);
    assert_int_equal(from.port, tx.local.port);
    assert_int_equal(flare_udp_set_broadcast(&tx, false, &err), 0);
    assert_int_equal(get_int_opt(tx.fd, SOL_SOCKET, SO_BROADCAST), 0);
    flare_udp_close(&tx);

    flare_udp_options bo = {.broadcast = true, .reuse_addr = true};
    must_bind(&tx, "127.0.0.1:0", &bo);
    assert_int_equal(get_int_opt(tx.fd, SOL_SOCKET, SO_BROADCAST), 1);
    assert_int_equal(get_int_opt(tx.fd, SOL_SOCKET, SO_REUSEADDR), 1);
    flare_udp_close(&tx);
    flare_udp_close(&rx);
}

static void test_reuse_port(void **state)
{
    (void)state;
    flare_udp_options o = {.reuse_port = true};
    flare_udp_socket a, b, c;
    must_bind(&a, "127.0.0.1:0", &o);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", a.local.port);
    must_bind(&b, addr, &o);
    assert_int_equal(get_int_opt(b.fd, SOL_SOCKET, SO_REUSEPORT), 1);
    flare_error err;
    assert_int_equal(flare_udp_bind_str(&c, addr, NULL, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EADDRINUSE);
    assert_int_equal(c.fd, -1);
    flare_udp_close(&a);
    flare_udp_close(&b);
}

static void test_errors(void **state)
{
    (void)state;
    flare_udp_socket u;
    flare_error err;
    must_bind(&u, "127.0.0.1:0", NULL);
    flare_ip_addr v6 = flare_ip_v6_loopback();
    flare_sock_addr to6 = flare_sock_addr_make(&v6, 9);
    assert_int_equal(flare_udp_send_to(&u, "x", 1, &to6, &err), FLARE_EADDR);
    assert_int_equal(flare_udp_send_to(&u, "x", 1, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_udp_send_to(&u, NULL, 1, &u.local, &err), FLARE_EINVAL);
    flare_udp_close(&u);
    char buf[4];
    assert_int_equal(flare_udp_send_to(&u, "x", 1, &to6, &err), FLARE_EINVAL);
    assert_int_equal(flare_udp_recv_from(&u, buf, sizeof buf, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_udp_set_broadcast(&u, true, &err), FLARE_EINVAL);
    assert_int_equal(flare_udp_open(&u, AF_UNIX, NULL, &err), FLARE_EADDR);
    assert_int_equal(u.fd, -1);
    assert_true(flare_udp_bind_str(&u, "127.0.0.1", NULL, &err) < 0);
    assert_true(flare_udp_bind_str(&u, "[::1:0", NULL, &err) < 0);
    assert_int_equal(flare_udp_bind_str(&u, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_udp_bind(&u, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(u.fd, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_v4),
        cmocka_unit_test(test_round_trip_v6),
        cmocka_unit_test(test_size_limit_v4),
        cmocka_unit_test(test_size_limit_v6),
        cmocka_unit_test(test_receive_truncation),
        cmocka_unit_test(test_receive_timeout_and_eagain),
        cmocka_unit_test(test_receive_timeout_under_signals),
        cmocka_unit_test(test_broadcast_option),
        cmocka_unit_test(test_reuse_port),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
