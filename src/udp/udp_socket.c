/*
 * udp_socket.c: connection-less UDP sockets. Size limits are checked before any
 * system call so an oversized datagram never reaches the kernel; truncated receives
 * are reported, not silently cut. Invariants: IPv6 sockets are IPV6_V6ONLY (peers
 * always share the socket's family), fds are CLOEXEC, u->fd == -1 when closed.
 */
#include "flare/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const flare_udp_options default_udp_options;

static void udp_reset(flare_udp_socket *u)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
}

static int check_open(const flare_udp_socket *u, const char *op, flare_error *err)
{
    if (!u || u->fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "udp %s: socket is not open", op);
    return 0;
}

/* Creates the socket and applies opts; on success u owns the fd (still unbound). */
static int open_socket(flare_udp_socket *u, int family, const flare_udp_options *opts,
                       flare_error *err)
{
    if (family != AF_INET && family != AF_INET6)
        return flare_error_set(err, FLARE_EADDR, 0,
                               "udp: address family %d is not AF_INET or AF_INET6", family);
    int fd = flare_socket_open(family, SOCK_DGRAM, opts->nonblocking, err);
    if (fd < 0) return fd;
    u->fd = fd;
    u->family = family;
    u->nonblocking = opts->nonblocking;
    int rc = 0;
    if (family == AF_INET6)
        rc = flare_socket_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", err);
    if (rc == 0 && opts->reuse_addr)
        rc = flare_socket_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", err);
    if (rc == 0 && opts->reuse_port)
        rc = flare_socket_set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", err);
    if (rc == 0 && opts->broadcast) rc = flare_udp_set_broadcast(u, true, err);
    if (rc == 0 && opts->recv_timeout_ms != 0)
        rc = flare_udp_set_recv_timeout(u, opts->recv_timeout_ms, err);
    if (rc < 0) flare_udp_close(u);
    return rc;
}

int flare_udp_open(flare_udp_socket *u, int family, const flare_udp_options *opts, flare_error *err)
{
    if (!u) return flare_error_set(err, FLARE_EINVAL, 0, "udp open: socket is NULL");
    udp_reset(u);
    return open_socket(u, family, opts ? opts : &default_udp_options, err);
}

int flare_udp_bind(flare_udp_socket *u, const flare_sock_addr *addr, const flare_udp_options *opts,
                   flare_error *err)
{
    if (!u) return flare_error_set(err, FLARE_EINVAL, 0, "udp bind: socket is NULL");
    udp_reset(u);
    if (!addr) return flare_error_set(err, FLARE_EINVAL, 0, "udp bind: address is NULL");
    int rc = open_socket(u, addr->ip.family, opts ? opts : &default_udp_options, err);
    if (rc < 0) return rc;
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(addr, &ss);
    if (bind(u->fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        char where[FLARE_SOCK_ADDR_STR_MAX];
        if (flare_sock_addr_format(addr, where, sizeof where) == 0) strcpy(where, "?");
        flare_udp_close(u);
        return flare_error_set(err, FLARE_ESYS, e, "udp bind %s%s", where,
                               e == EADDRINUSE ? " (port in use: pick another or set reuse_port)"
                                               : "");
    }
    rc = flare_socket_local_addr(u->fd, &u->local, err);
    if (rc < 0) flare_udp_close(u);
    return rc;
}

int flare_udp_bind_str(flare_udp_socket *u, const char *addr, const flare_udp_options *opts,
                       flare_error *err)
{
    if (u) udp_reset(u);
    if (!addr) return flare_error_set(err, FLARE_EINVAL, 0, "udp bind: address is NULL");
    flare_sock_addr sa;
    int rc = flare_sock_addr_parse(&sa, addr, strlen(addr), err);
    if (rc < 0) return rc;
    return flare_udp_bind(u, &sa, opts, err);
}

/* EAGAIN is "would block" on a non-blocking socket and SO_RCVTIMEO expiring otherwise. */
static int io_error(const flare_udp_socket *u, int e, const char *op, const char *peer,
                    flare_error *err)
{
    if (e == EAGAIN || e == EWOULDBLOCK) {
        if (u->nonblocking)
            return flare_error_set(err, FLARE_EAGAIN, 0, "udp %s%s: would block", op, peer);
        return flare_error_set(err, FLARE_ETIMEDOUT, 0, "udp %s%s: timed out", op, peer);
    }
    if (e == EMSGSIZE) /* over the route MTU with IP_PMTUDISC_DO, or the socket buffer */
        return flare_error_set(err, FLARE_EMSGSIZE, e, "udp %s%s", op, peer);
    if (e == ECONNREFUSED) /* ICMP port unreachable from an earlier datagram */
        return flare_error_set(err, FLARE_ECONNREFUSED, e, "udp %s%s", op, peer);
    if (e == EACCES)
        return flare_error_set(err, FLARE_ESYS, e,
                               "udp %s%s (a broadcast address needs flare_udp_set_broadcast)", op,
                               peer);
    return flare_error_set(err, FLARE_ESYS, e, "udp %s%s", op, peer);
}

ssize_t flare_udp_send_to(flare_udp_socket *u, const void *buf, size_t len,
                          const flare_sock_addr *to, flare_error *err)
{
    if (check_open(u, "send", err) < 0) return FLARE_EINVAL;
    if (!to) return flare_error_set(err, FLARE_EINVAL, 0, "udp send: destination is NULL");
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "udp send: buffer is NULL");
    char dest[FLARE_SOCK_ADDR_STR_MAX + 4] = " to ";
    if (flare_sock_addr_format(to, dest + 4, sizeof dest - 4) == 0) strcpy(dest + 4, "?");
    if (to->ip.family != u->family)
        return flare_error_set(err, FLARE_EADDR, 0,
                               "udp send%s: address family differs from the socket's (%s)", dest,
                               u->family == AF_INET ? "IPv4" : "IPv6");
    /* RFC 768 length field is 16 bits; the IP header takes its share on IPv4 (RFC 791),
     * not on IPv6, whose payload length excludes the fixed header (RFC 8200 §3). */
    size_t limit = u->family == AF_INET ? FLARE_UDP_MAX_V4 : FLARE_UDP_MAX_V6;
    if (len > limit)
        return flare_error_set(err, FLARE_EMSGSIZE, 0,
                               "udp send%s: %zu-byte datagram exceeds the %s limit of %zu bytes",
                               dest, len, u->family == AF_INET ? "IPv4" : "IPv6", limit);
    struct sockaddr_storage ss;
    socklen_t sslen = flare_sock_addr_to_sockaddr(to, &ss);
    for (;;) {
        ssize_t n = sendto(u->fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&ss, sslen);
        if (n >= 0) {
            /* The first send binds an unbound socket to a port: record which. */
            if (u->local.port == 0) flare_socket_local_addr(u->fd, &u->local, NULL);
            return n;
        }
        if (errno != EINTR) return io_error(u, errno, "send", dest, err);
    }
}

ssize_t flare_udp_recv_from(flare_udp_socket *u, void *buf, size_t cap, flare_sock_addr *from,
                            flare_error *err)
{
    if (check_open(u, "receive", err) < 0) return FLARE_EINVAL;
    if (!buf && cap > 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "udp receive: buffer is NULL");
    /* SO_RCVTIMEO restarts from zero after EINTR, so a steady signal would stretch the
     * wait forever: what is left of it is waited against the first call's deadline. */
    uint64_t deadline_ms = u->nonblocking || u->recv_timeout_ms <= 0
                               ? UINT64_MAX
                               : flare_monotonic_ms() + (uint64_t)u->recv_timeout_ms;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        /* MSG_TRUNC makes recvfrom return the datagram's real length, even past cap. */
        ssize_t n = recvfrom(u->fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&ss, &sslen);
        if (n < 0 && errno == EINTR) {
            int ready =
                deadline_ms == UINT64_MAX ? 1 : flare_socket_wait(u->fd, POLLIN, deadline_ms);
            if (ready > 0) continue;
            return io_error(u, ready == 0 ? EAGAIN : -ready, "receive", "", err);
        }
        if (n < 0) return io_error(u, errno, "receive", "", err);
        if ((size_t)n > cap)
            return flare_error_set(err, FLARE_EMSGSIZE, 0,
                                   "udp receive: %zd-byte datagram did not fit the %zu-byte "
                                   "buffer and was discarded",
                                   n, cap);
        if (from) {
            int rc = flare_sock_addr_from_sockaddr(from, (struct sockaddr *)&ss, sslen, err);
            if (rc < 0) return rc;
            from->ip = flare_ip_unmap(&from->ip);
        }
        return n;
    }
}

int flare_udp_set_recv_timeout(flare_udp_socket *u, int timeout_ms, flare_error *err)
{
    if (check_open(u, "SO_RCVTIMEO", err) < 0) return FLARE_EINVAL;
    if (timeout_ms < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "udp SO_RCVTIMEO: negative timeout %d ms",
                               timeout_ms);
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    if (setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "udp setsockopt SO_RCVTIMEO");
    u->recv_timeout_ms = timeout_ms;
    return 0;
}

int flare_udp_set_broadcast(flare_udp_socket *u, bool on, flare_error *err)
{
    if (check_open(u, "SO_BROADCAST", err) < 0) return FLARE_EINVAL;
    return flare_socket_set_int(u->fd, SOL_SOCKET, SO_BROADCAST, on, "SO_BROADCAST", err);
}

int flare_udp_set_nonblocking(flare_udp_socket *u, bool on, flare_error *err)
{
    if (check_open(u, "O_NONBLOCK", err) < 0) return FLARE_EINVAL;
    int rc = flare_socket_set_nonblocking(u->fd, on, err);
    if (rc == 0) u->nonblocking = on;
    return rc;
}

void flare_udp_close(flare_udp_socket *u)
{
    if (!u || u->fd < 0) return;
    close(u->fd);
    u->fd = -1;
}
