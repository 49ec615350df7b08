/*
 * test_raw_socket.c: tests of src/net/raw_socket.c against real loopback
 * sockets (127.0.0.1 and ::1, ports chosen by the kernel with bind port 0).
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
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "flare/net.h"

static int open_ok(int family, int type, bool nonblocking)
{
    flare_error err = {0};
    int fd = flare_socket_open(family, type, nonblocking, &err);
    if (fd < 0) fail_msg("flare_socket_open: %s", err.message);
    return fd;
}

/* Binds fd to ip:0 and returns the address the kernel chose. */
static flare_sock_addr bind_loopback(int fd, const flare_ip_addr *ip)
{
    flare_sock_addr a = flare_sock_addr_make(ip, 0);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&a, &ss);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    flare_sock_addr bound;
    assert_int_equal(flare_socket_local_addr(fd, &bound, NULL), 0);
    return bound;
}

static void test_open_flags(void **state)
{
    (void)state;
    int fd = open_ok(AF_INET, SOCK_STREAM, false);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);

    fd = open_ok(AF_INET6, SOCK_DGRAM, true);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    int type = 0;
    socklen_t len = sizeof type;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    assert_int_equal(type, SOCK_DGRAM);
    close(fd);
}

static void test_open_failure(void **state)
{
    (void)state;
    flare_error err = {0};
    int rc = flare_socket_open(12345, SOCK_STREAM, false, &err);
    assert_int_equal(rc, FLARE_ESYS);
    assert_int_equal(err.code, FLARE_ESYS);
    assert_int_not_equal(err.sys_errno, 0);
    assert_non_null(strstr(err.message, "socket("));
    assert_non_null(strstr(err.message, "12345"));
    assert_int_equal(flare_socket_open(12345, SOCK_STREAM, false, NULL), FLARE_ESYS);
}

static void test_set_nonblocking(void **state)
{
    (void)state;
    int fd = open_ok(AF_INET, SOCK_STREAM, false);
    assert_int_equal(flare_socket_set_nonblocking(fd, true, NULL), 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(flare_socket_set_nonblocking(fd, true, NULL), 0); /* idempotent */
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(flare_socket_set_nonblocking(fd, false, NULL), 0);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);

    flare_error err = {0};
    assert_int_equal(flare_socket_set_nonblocking(-1, true, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EBADF);
    assert_non_null(strstr(err.message, "fd -1"));
}

static void test_set_int(void **state)
{
    (void)state;
    int fd = open_ok(AF_INET, SOCK_STREAM, false);
    assert_int_equal(flare_socket_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", NULL),
                     0);
    int value = 0;
    socklen_t len = sizeof value;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &value, &len), 0);
    assert_int_not_equal(value, 0);
    assert_int_equal(flare_socket_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", NULL), 0);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len), 0);
    assert_int_not_equal(value, 0);

    /* Failures name the option, or its numbers when no name was given. */
    flare_error err = {0};
    assert_int_equal(flare_socket_set_int(fd, SOL_SOCKET, 9999, 1, "SO_BOGUS", &err), FLARE_ESYS);
    assert_int_not_equal(err.sys_errno, 0);
    assert_non_null(strstr(err.message, "SO_BOGUS"));
    assert_int_equal(flare_socket_set_int(fd, SOL_SOCKET, 9999, 1, NULL, &err), FLARE_ESYS);
    assert_non_null(strstr(err.message, "9999"));
    close(fd);

    assert_int_equal(flare_socket_set_int(-1, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", &err),
                     FLARE_ESYS);
    assert_int_equal(err.sys_errno, EBADF);
    assert_non_null(strstr(err.message, "SO_REUSEADDR"));
}

static void test_local_addr(void **state)
{
    (void)state;
    int fd = open_ok(AF_INET, SOCK_STREAM, false);
    flare_ip_addr lo4 = flare_ip_v4(127, 0, 0, 1);
    flare_sock_addr bound = bind_loopback(fd, &lo4);
    assert_true(flare_ip_equal(&bound.ip, &lo4));
    assert_int_not_equal(bound.port, 0);
    close(fd);

    fd = open_ok(AF_INET6, SOCK_DGRAM, false);
    flare_ip_addr lo6 = flare_ip_v6_loopback();
    bound = bind_loopback(fd, &lo6);
    assert_true(flare_ip_equal(&bound.ip, &lo6));
    assert_int_not_equal(bound.port, 0);
    close(fd);

    flare_error err = {0};
    flare_sock_addr out;
    assert_int_equal(flare_socket_local_addr(-1, &out, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, EBADF);

    /* A socket of another family is reported as such, not misread. */
    int unix_fd = open_ok(AF_UNIX, SOCK_STREAM, false);
    assert_int_equal(flare_socket_local_addr(unix_fd, &out, &err), FLARE_EADDR);
    close(unix_fd);
}

static void test_peer_addr(void **state)
{
    (void)state;
    flare_ip_addr lo4 = flare_ip_v4(127, 0, 0, 1);
    int listener = open_ok(AF_INET, SOCK_STREAM, false);
    flare_sock_addr server = bind_loopback(listener, &lo4);
    assert_int_equal(listen(listener, 4), 0);

    int client = open_ok(AF_INET, SOCK_STREAM, false);
    flare_error err = {0};
    flare_sock_addr peer;
    assert_int_equal(flare_socket_peer_addr(client, &peer, &err), FLARE_ESYS);
    assert_int_equal(err.sys_errno, ENOTCONN);
    assert_non_null(strstr(err.message, "getpeername"));

    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&server, &ss);
    assert_int_equal(connect(client, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(flare_socket_peer_addr(client, &peer, NULL), 0);
    assert_true(flare_ip_equal(&peer.ip, &server.ip));
    assert_int_equal(peer.port, server.port);

    int accepted = accept(listener, NULL, NULL);
    assert_true(accepted >= 0);
    flare_sock_addr client_local, accepted_peer;
    assert_int_equal(flare_socket_local_addr(client, &client_local, NULL), 0);
    assert_int_equal(flare_socket_peer_addr(accepted, &accepted_peer, NULL), 0);
    assert_true(flare_ip_equal(&client_local.ip, &accepted_peer.ip));
    assert_int_equal(client_local.port, accepted_peer.port);
    close(accepted);
    close(client);
    close(listener);
}

static void test_pending_error(void **state)
{
    (void)state;
    /* A bound but non-listening TCP port refuses connections, and stays ours. */
    flare_ip_addr lo4 = flare_ip_v4(127, 0, 0, 1);
    int closed = open_ok(AF_INET, SOCK_STREAM, false);
    flare_sock_addr target = bind_loopback(closed, &lo4);

    int fd = open_ok(AF_INET, SOCK_STREAM, true);
    assert_int_equal(flare_socket_pending_error(fd), 0);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&target, &ss);
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        assert_int_equal(poll(&p, 1, 10000), 1);
        assert_int_equal(flare_socket_pending_error(fd), ECONNREFUSED);
    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(errno, ECONNREFUSED);
    }
    /* Reading SO_ERROR cleared it. */
    assert_int_equal(flare_socket_pending_error(fd), 0);
    close(fd);
    close(closed);

    assert_int_equal(flare_socket_pending_error(-1), EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_flags),      cmocka_unit_test(test_open_failure),
        cmocka_unit_test(test_set_nonblocking), cmocka_unit_test(test_set_int),
        cmocka_unit_test(test_local_addr),      cmocka_unit_test(test_peer_addr),
        cmocka_unit_test(test_pending_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
