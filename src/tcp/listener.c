/*
 * listener.c: listening TCP sockets, bound here or adopted from a parent process.
 * Invariants: SO_REUSEADDR is always on (restarts must not wait out TIME_WAIT);
 * IPv6 listeners are IPV6_V6ONLY so the IPv4 wildcard stays free for its own socket;
 * every fd created here is CLOEXEC; l->fd == -1 exactly when the listener is closed.
 */
#include "flare/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const flare_tcp_listen_options default_listen_options;

static void listener_reset(flare_tcp_listener *l)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
}

/* A hint the user can act on for the bind failures people actually hit. */
static const char *bind_hint(int e)
{
    switch (e) {
    case EADDRINUSE:
        return " (another socket holds this port: pick another port or stop that process)";
    case EACCES:
        return " (ports below 1024 need CAP_NET_BIND_SERVICE)";
    case EADDRNOTAVAIL:
        return " (no local interface has this address)";
    default:
        return "";
    }
}

int flare_tcp_listen(flare_tcp_listener *l, const flare_sock_addr *addr,
                     const flare_tcp_listen_options *opts, flare_error *err)
{
    if (!l) return flare_error_set(err, FLARE_EINVAL, 0, "tcp listen: listener is NULL");
    listener_reset(l);
    if (!addr) return flare_error_set(err, FLARE_EINVAL, 0, "tcp listen: address is NULL");
    if (!opts) opts = &default_listen_options;
    char where[FLARE_SOCK_ADDR_STR_MAX];
    if (flare_sock_addr_format(addr, where, sizeof where) == 0) strcpy(where, "?");
    if (!flare_ip_is_v4(&addr->ip) && !flare_ip_is_v6(&addr->ip))
        return flare_error_set(err, FLARE_EADDR, 0, "tcp listen: address family %d is not IP",
                               addr->ip.family);
    if (opts->backlog < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp listen on %s: negative backlog %d", where,
                               opts->backlog);

    int fd = flare_socket_open(addr->ip.family, SOCK_STREAM, opts->nonblocking, err);
    if (fd < 0) return fd;
    int rc = flare_socket_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", err);
    if (rc == 0 && opts->reuse_port)
        rc = flare_socket_set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", err);
    if (rc == 0 && flare_ip_is_v6(&addr->ip))
        rc = flare_socket_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(addr, &ss);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        return flare_error_set(err, FLARE_ESYS, e, "tcp bind %s%s", where, bind_hint(e));
    }
    if (listen(fd, opts->backlog > 0 ? opts->backlog : SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        return flare_error_set(err, FLARE_ESYS, e, "tcp listen on %s", where);
    }
    rc = flare_socket_local_addr(fd, &l->local, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    l->fd = fd;
    l->accept_nonblocking = !opts->accept_blocking;
    return 0;
}

int flare_tcp_listen_str(flare_tcp_listener *l, const char *addr,
                         const flare_tcp_listen_options *opts, flare_error *err)
{
    if (l) listener_reset(l);
    if (!addr) return flare_error_set(err, FLARE_EINVAL, 0, "tcp listen: address is NULL");
    flare_sock_addr sa;
    int rc = flare_sock_addr_parse(&sa, addr, strlen(addr), err);
    if (rc < 0) return rc;
    return flare_tcp_listen(l, &sa, opts, err);
}

static int get_int_option(int fd, int option, int *out)
{
    socklen_t len = sizeof *out;
    return getsockopt(fd, SOL_SOCKET, option, out, &len);
}

int flare_tcp_listener_adopt(flare_tcp_listener *l, int fd, const flare_tcp_listen_options *opts,
                             flare_error *err)
{
    if (!l) return flare_error_set(err, FLARE_EINVAL, 0, "tcp adopt: listener is NULL");
    listener_reset(l);
    if (!opts) opts = &default_listen_options;
    int type = 0, accepting = 0;
    if (fd < 0 || get_int_option(fd, SO_TYPE, &type) < 0 || type != SOCK_STREAM)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp adopt: fd %d is not a stream socket", fd);
    if (get_int_option(fd, SO_ACCEPTCONN, &accepting) < 0 || !accepting)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tcp adopt: fd %d is not listening (call listen() first)", fd);
    flare_sock_addr local;
    int rc = flare_socket_local_addr(fd, &local, err);
    if (rc < 0) return rc;
    /* FD_CLOEXEC belongs to this descriptor alone, unlike O_NONBLOCK: safe to set. */
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "tcp adopt: fcntl(%d, FD_CLOEXEC)", fd);
    l->fd = fd;
    l->local = local;
    l->accept_nonblocking = !opts->accept_blocking;
    return 0;
}

int flare_tcp_listener_accept(flare_tcp_listener *l, flare_sock_addr *peer, flare_error *err)
{
    if (!l || l->fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp accept: listener is not open");
    int flags = SOCK_CLOEXEC | (l->accept_nonblocking ? SOCK_NONBLOCK : 0);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, flags);
        if (fd >= 0) {
            if (!peer) return fd;
            int rc = flare_sock_addr_from_sockaddr(peer, (struct sockaddr *)&ss, len, err);
            if (rc < 0) {
                close(fd);
                return rc;
            }
            peer->ip = flare_ip_unmap(&peer->ip);
            return fd;
        }
        switch (errno) {
        case EINTR:
        /* accept(2): a connection that died in the queue, or a pending network error
         * Linux hands to accept, is not the listener's failure: take the next one. */
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case ENETUNREACH:
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return flare_error_set(err, FLARE_EAGAIN, 0, "tcp accept: no pending connection");
        case EMFILE:
        case ENFILE:
            return flare_error_set(err, FLARE_ELIMIT, errno,
                                   "tcp accept: out of file descriptors (raise RLIMIT_NOFILE or "
                                   "close idle connections)");
        case ENOBUFS:
        case ENOMEM:
            return flare_error_set(err, FLARE_ENOMEM, errno, "tcp accept");
        default:
            return flare_error_set(err, FLARE_ESYS, errno, "tcp accept");
        }
    }
}

int flare_tcp_listener_accept_stream(flare_tcp_listener *l, flare_tcp_stream *out, flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "tcp accept: stream is NULL");
    int fd = flare_tcp_listener_accept(l, NULL, err);
    if (fd < 0) {
        out->fd = -1;
        return fd;
    }
    int rc = flare_tcp_stream_adopt(out, fd, err);
    if (rc < 0) close(fd);
    return rc;
}

void flare_tcp_listener_close(flare_tcp_listener *l)
{
    if (!l || l->fd < 0) return;
    close(l->fd);
    l->fd = -1;
}
