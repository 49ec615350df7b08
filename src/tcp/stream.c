/*
 * stream.c: TCP client streams: dual-stack connect with one total deadline shared
 * across the resolved addresses, then plain blocking (or non-blocking) I/O.
 * Invariants: every fd is CLOEXEC; writes always pass MSG_NOSIGNAL so a vanished
 * peer is an error code, never SIGPIPE; s->fd == -1 exactly when the stream is closed.
 */
#include "flare/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "flare/runtime.h"

static const flare_tcp_connect_options default_connect_options;

static void stream_reset(flare_tcp_stream *s)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static int check_open(const flare_tcp_stream *s, const char *op, flare_error *err)
{
    if (!s || s->fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp %s: stream is not open", op);
    return 0;
}

/* Codes for errno values a connect attempt can end with. */
static int connect_code(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return FLARE_ECONNREFUSED;
    case ETIMEDOUT:
        return FLARE_ETIMEDOUT;
    case ECONNRESET:
        return FLARE_ECONNRESET;
    case EMFILE:
    case ENFILE:
        return FLARE_ELIMIT;
    default:
        return FLARE_ESYS;
    }
}

static void peer_string(const flare_tcp_stream *s, char out[FLARE_SOCK_ADDR_STR_MAX])
{
    if (flare_sock_addr_format(&s->peer, out, FLARE_SOCK_ADDR_STR_MAX) == 0) strcpy(out, "?");
}

/*
 * Maps a failed recv/send errno. EAGAIN means "would block" only on a non-blocking
 * stream; on a blocking one it is SO_RCVTIMEO/SO_SNDTIMEO expiring.
 */
static int io_error(const flare_tcp_stream *s, int e, bool writing, flare_error *err)
{
    char peer[FLARE_SOCK_ADDR_STR_MAX];
    peer_string(s, peer);
    const char *op = writing ? "write to" : "read from";
    if (e == EAGAIN || e == EWOULDBLOCK) {
        if (s->nonblocking)
            return flare_error_set(err, FLARE_EAGAIN, 0, "tcp %s %s: would block", op, peer);
        return flare_error_set(err, FLARE_ETIMEDOUT, 0, "tcp %s %s: timed out after %d ms", op,
                               peer, writing ? s->send_timeout_ms : s->recv_timeout_ms);
    }
    switch (e) {
    case ECONNRESET:
        return flare_error_set(err, FLARE_ECONNRESET, e, "tcp %s %s", op, peer);
    case EPIPE:
        return flare_error_set(err, FLARE_ECLOSED, e, "tcp %s %s: the peer closed the connection",
                               op, peer);
    case ETIMEDOUT: /* retransmissions or keepalive probes went unanswered */
        return flare_error_set(err, FLARE_ETIMEDOUT, e, "tcp %s %s", op, peer);
    default:
        return flare_error_set(err, FLARE_ESYS, e, "tcp %s %s", op, peer);
    }
}

static void timeout_to_timeval(int timeout_ms, struct timeval *tv)
{
    tv->tv_sec = timeout_ms / 1000;
    tv->tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
}

static int set_timeout(flare_tcp_stream *s, int option, int timeout_ms, flare_error *err)
{
    const char *name = option == SO_SNDTIMEO ? "SO_SNDTIMEO" : "SO_RCVTIMEO";
    if (check_open(s, name, err) < 0) return FLARE_EINVAL;
    if (timeout_ms < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp %s: negative timeout %d ms", name,
                               timeout_ms);
    struct timeval tv;
    timeout_to_timeval(timeout_ms, &tv);
    if (setsockopt(s->fd, SOL_SOCKET, option, &tv, sizeof tv) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "tcp setsockopt %s", name);
    if (option == SO_SNDTIMEO)
        s->send_timeout_ms = timeout_ms;
    else
        s->recv_timeout_ms = timeout_ms;
    return 0;
}

static int get_timeout_ms(int fd, int option)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, option, &tv, &len) < 0) return 0;
    long long ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/*
 * One non-blocking connect to addr, waited for with poll() until deadline_ms.
 * Returns 0 with *fd_out set, or the errno of the failure (ETIMEDOUT when the
 * deadline passed, with *poll_expired set to tell it from the kernel's own timeout).
 */
static int attempt(const flare_sock_addr *addr, uint64_t deadline_ms, int *fd_out,
                   bool *poll_expired)
{
    *poll_expired = false;
    flare_error open_err;
    int fd = flare_socket_open(addr->ip.family, SOCK_STREAM, true, &open_err);
    if (fd < 0) return open_err.sys_errno ? open_err.sys_errno : EINVAL;
    struct sockaddr_storage ss;
    socklen_t sslen = flare_sock_addr_to_sockaddr(addr, &ss);
    if (connect(fd, (struct sockaddr *)&ss, sslen) == 0) {
        *fd_out = fd;
        return 0;
    }
    /* EINTR on a non-blocking connect still leaves the handshake running. */
    if (errno != EINPROGRESS && errno != EINTR) {
        int e = errno;
        close(fd);
        return e;
    }
    int n = flare_socket_wait(fd, POLLOUT, deadline_ms);
    if (n <= 0) {
        close(fd);
        *poll_expired = n == 0;
        return n == 0 ? ETIMEDOUT : -n;
    }
    int e = flare_socket_pending_error(fd);
    if (e != 0) {
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

/* Applies the options every new stream gets, once connected. */
static int finish_connect(flare_tcp_stream *s, int fd, const flare_sock_addr *peer,
                          const flare_tcp_connect_options *opts, flare_error *err)
{
    stream_reset(s);
    s->fd = fd;
    s->nonblocking = true;
    s->peer = *peer;
    int rc = flare_socket_local_addr(fd, &s->local, err);
    if (rc == 0 && !opts->keep_nagle) rc = flare_tcp_stream_set_nodelay(s, true, err);
    if (rc == 0 && !opts->nonblocking) rc = flare_tcp_stream_set_nonblocking(s, false, err);
    if (rc == 0 && opts->send_timeout_ms > 0)
        rc = flare_tcp_stream_set_send_timeout(s, opts->send_timeout_ms, err);
    if (rc == 0 && opts->recv_timeout_ms > 0)
        rc = flare_tcp_stream_set_recv_timeout(s, opts->recv_timeout_ms, err);
    if (rc < 0) flare_tcp_stream_close(s);
    return rc;
}

/*
 * Tries addrs in order. While several addresses remain, one attempt may use only its
 * share of the time left (but at least FLARE_TCP_ATTEMPT_MIN_MS), so a black-holed
 * first address cannot eat the whole budget; the last address gets all that is left.
 * Sequential rather than RFC 8305 racing: one socket at a time, and the share bounds
 * what a dead route costs.
 */
static int connect_addrs(flare_tcp_stream *s, const char *host, uint16_t port,
                         const flare_ip_addr *addrs, size_t count, uint64_t deadline_ms,
                         const flare_tcp_connect_options *opts, flare_error *err)
{
    int last_errno = 0;
    bool expired = false;
    char last[FLARE_SOCK_ADDR_STR_MAX] = "none";
    size_t tried = 0;
    for (size_t i = 0; i < count; i++) {
        int left = flare_monotonic_ms_until(deadline_ms);
        if (left == 0) {
            expired = true;
            break;
        }
        uint64_t attempt_deadline = deadline_ms;
        size_t addrs_left = count - i;
        if (left > 0 && addrs_left > 1) {
            int share = left / (int)addrs_left;
            if (share < FLARE_TCP_ATTEMPT_MIN_MS)
                share = left < FLARE_TCP_ATTEMPT_MIN_MS ? left : FLARE_TCP_ATTEMPT_MIN_MS;
            attempt_deadline = flare_monotonic_ms() + (uint64_t)share;
        }
        flare_sock_addr addr = flare_sock_addr_make(&addrs[i], port);
        if (flare_sock_addr_format(&addr, last, sizeof last) == 0) strcpy(last, "?");
        tried++;
        int fd = -1;
        last_errno = attempt(&addr, attempt_deadline, &fd, &expired);
        if (last_errno == 0) return finish_connect(s, fd, &addr, opts, err);
    }
    if (expired) {
        int budget = opts->timeout_ms > 0 ? opts->timeout_ms : FLARE_TCP_CONNECT_TIMEOUT_MS;
        return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                               "tcp connect to %s port %u: timed out (budget %d ms, %zu of %zu "
                               "addresses tried, last %s)",
                               host, (unsigned)port, budget, tried, count, last);
    }
    return flare_error_set(err, connect_code(last_errno), last_errno,
                           "tcp connect to %s port %u failed (%zu of %zu addresses tried, last %s)",
                           host, (unsigned)port, tried, count, last);
}

static uint64_t deadline_from(const flare_tcp_connect_options *opts, uint64_t start_ms)
{
    if (opts->timeout_ms < 0) return UINT64_MAX;
    int budget = opts->timeout_ms > 0 ? opts->timeout_ms : FLARE_TCP_CONNECT_TIMEOUT_MS;
    return start_ms + (uint64_t)budget;
}

int flare_tcp_connect(flare_tcp_stream *s, const char *host, uint16_t port,
                      const flare_tcp_connect_options *opts, flare_error *err)
{
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "tcp connect: stream is NULL");
    stream_reset(s);
    if (!host) return flare_error_set(err, FLARE_EINVAL, 0, "tcp connect: host is NULL");
    if (port == 0)
        return flare_error_set(err, FLARE_EPORT, 0,
                               "tcp connect to %s: port 0 cannot be connected to; give 1..65535",
                               host);
    if (!opts) opts = &default_connect_options;
    uint64_t start_ms = flare_monotonic_ms();
    uint64_t deadline_ms = deadline_from(opts, start_ms);
    /* The lookup counts against the connect timeout, as curl's --connect-timeout. */
    uint64_t lookup_ms = deadline_ms == UINT64_MAX ? 0 : deadline_ms - start_ms;
    flare_dns_result res;
    int rc = flare_dns_resolve_within(opts->resolver, host, opts->family, lookup_ms, &res, err);
    if (rc < 0) return rc;
    if (res.count == 0)
        return flare_error_set(err, FLARE_ERESOLVE, 0, "tcp connect: %s has no addresses", host);
    return connect_addrs(s, host, port, res.addrs, res.count, deadline_ms, opts, err);
}

int flare_tcp_connect_addr(flare_tcp_stream *s, const flare_sock_addr *addr,
                           const flare_tcp_connect_options *opts, flare_error *err)
{
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "tcp connect: stream is NULL");
    stream_reset(s);
    if (!addr) return flare_error_set(err, FLARE_EINVAL, 0, "tcp connect: address is NULL");
    if (!flare_ip_is_v4(&addr->ip) && !flare_ip_is_v6(&addr->ip))
        return flare_error_set(err, FLARE_EADDR, 0, "tcp connect: address family %d is not IP",
                               addr->ip.family);
    if (!opts) opts = &default_connect_options;
    char host[FLARE_IP_STR_MAX];
    if (flare_ip_format(&addr->ip, host, sizeof host) == 0) strcpy(host, "?");
    if (addr->port == 0)
        return flare_error_set(err, FLARE_EPORT, 0,
                               "tcp connect to %s: port 0 cannot be connected to; give 1..65535",
                               host);
    uint64_t deadline_ms = deadline_from(opts, flare_monotonic_ms());
    return connect_addrs(s, host, addr->port, &addr->ip, 1, deadline_ms, opts, err);
}

int flare_tcp_stream_adopt(flare_tcp_stream *s, int fd, flare_error *err)
{
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "tcp adopt: stream is NULL");
    stream_reset(s);
    int type = 0;
    socklen_t len = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp adopt: fd %d is not a stream socket", fd);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return flare_error_set(err, FLARE_ESYS, errno, "tcp adopt: fcntl(%d)", fd);
    flare_sock_addr local, peer;
    int rc = flare_socket_local_addr(fd, &local, err);
    if (rc == 0) rc = flare_socket_peer_addr(fd, &peer, err);
    if (rc < 0) return rc;
    s->fd = fd;
    s->nonblocking = (fl & O_NONBLOCK) != 0;
    s->send_timeout_ms = get_timeout_ms(fd, SO_SNDTIMEO);
    s->recv_timeout_ms = get_timeout_ms(fd, SO_RCVTIMEO);
    /* An IPv4 client of a dual-stack IPv6 socket shows as ::ffff:a.b.c.d; it is given
     * as the IPv4 address it is, as flare_tcp_listener_accept gives it. */
    s->local = local;
    s->local.ip = flare_ip_unmap(&local.ip);
    s->peer = peer;
    s->peer.ip = flare_ip_unmap(&peer.ip);
    return 0;
}

/* When a blocking call bounded by SO_RCVTIMEO/SO_SNDTIMEO must end, UINT64_MAX if never. */
static uint64_t blocking_deadline(const flare_tcp_stream *s, bool writing)
{
    int timeout_ms = writing ? s->send_timeout_ms : s->recv_timeout_ms;
    if (s->nonblocking || timeout_ms <= 0) return UINT64_MAX;
    return flare_monotonic_ms() + (uint64_t)timeout_ms;
}

/*
 * After EINTR. The kernel restarts SO_RCVTIMEO/SO_SNDTIMEO from zero on each call, so
 * a steady signal (an interval timer, a profiler) would stretch a bounded wait forever:
 * the rest of it is waited with poll() against the first call's deadline instead.
 * Returns 0 to make the call again, or FLARE_ETIMEDOUT once the deadline has passed.
 */
static int wait_after_eintr(const flare_tcp_stream *s, bool writing, uint64_t deadline_ms,
                            flare_error *err)
{
    if (deadline_ms == UINT64_MAX) return 0;
    int n = flare_socket_wait(s->fd, writing ? POLLOUT : POLLIN, deadline_ms);
    if (n > 0) return 0;
    if (n == 0) return io_error(s, EAGAIN, writing, err);
    return flare_error_set(err, FLARE_ESYS, -n, "tcp %s: poll", writing ? "write" : "read");
}

ssize_t flare_tcp_stream_read(flare_tcp_stream *s, void *buf, size_t len, flare_error *err)
{
    if (check_open(s, "read", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tcp read: buffer is NULL");
    if (len == 0) return 0;
    uint64_t deadline_ms = blocking_deadline(s, false);
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n >= 0) return n;
        if (errno != EINTR) return io_error(s, errno, false, err);
        int rc = wait_after_eintr(s, false, deadline_ms, err);
        if (rc < 0) return rc;
    }
}

ssize_t flare_tcp_stream_write(flare_tcp_stream *s, const void *buf, size_t len, flare_error *err)
{
    if (check_open(s, "write", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tcp write: buffer is NULL");
    uint64_t deadline_ms = blocking_deadline(s, true);
    for (;;) {
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EINTR) return io_error(s, errno, true, err);
        int rc = wait_after_eintr(s, true, deadline_ms, err);
        if (rc < 0) return rc;
    }
}

/*
 * One deadline for the whole call, blocking stream or not, as a TLS stream's io
 * timeout: a timeout per send() would let a peer that takes a trickle keep the write
 * alive for ever, each byte its kernel takes starting the wait again. Sends never
 * block (MSG_DONTWAIT); the waits are poll() against the deadline.
 */
int flare_tcp_stream_write_all(flare_tcp_stream *s, const void *buf, size_t len, flare_error *err)
{
    if (check_open(s, "write", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tcp write: buffer is NULL");
    uint64_t deadline_ms =
        s->send_timeout_ms > 0 ? flare_monotonic_ms() + (uint64_t)s->send_timeout_ms : UINT64_MAX;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(s->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return io_error(s, errno, true, err);
        int ready = flare_socket_wait(s->fd, POLLOUT, deadline_ms);
        if (ready < 0) return flare_error_set(err, FLARE_ESYS, -ready, "tcp write: poll");
        if (ready == 0) {
            char peer[FLARE_SOCK_ADDR_STR_MAX];
            peer_string(s, peer);
            return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                                   "tcp write to %s: timed out after %d ms with %zu bytes unsent",
                                   peer, s->send_timeout_ms, len);
        }
    }
    return 0;
}

int flare_tcp_stream_shutdown(flare_tcp_stream *s, flare_tcp_shutdown_how how, flare_error *err)
{
    if (check_open(s, "shutdown", err) < 0) return FLARE_EINVAL;
    static const int sys_how[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
    if ((unsigned)how > FLARE_TCP_SHUT_BOTH)
        return flare_error_set(err, FLARE_EINVAL, 0, "tcp shutdown: unknown direction %d",
                               (int)how);
    if (shutdown(s->fd, sys_how[how]) < 0) {
        /* The peer may already have reset the connection: nothing is left to shut. */
        if (errno == ENOTCONN) return 0;
        return flare_error_set(err, FLARE_ESYS, errno, "tcp shutdown");
    }
    return 0;
}

void flare_tcp_stream_close(flare_tcp_stream *s)
{
    if (!s || s->fd < 0) return;
    close(s->fd);
    s->fd = -1;
}

int flare_tcp_stream_detach(flare_tcp_stream *s)
{
    if (!s) return -1;
    int fd = s->fd;
    s->fd = -1;
    return fd;
}

int flare_tcp_stream_set_nodelay(flare_tcp_stream *s, bool on, flare_error *err)
{
    if (check_open(s, "TCP_NODELAY", err) < 0) return FLARE_EINVAL;
    return flare_socket_set_int(s->fd, IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY", err);
}

int flare_tcp_stream_set_keepalive(flare_tcp_stream *s, bool on, int idle_s, int interval_s,
                                   int count, flare_error *err)
{
    if (check_open(s, "SO_KEEPALIVE", err) < 0) return FLARE_EINVAL;
    int rc = flare_socket_set_int(s->fd, SOL_SOCKET, SO_KEEPALIVE, on, "SO_KEEPALIVE", err);
    if (rc < 0 || !on) return rc;
    if (idle_s > 0)
        rc = flare_socket_set_int(s->fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s, "TCP_KEEPIDLE", err);
    if (rc == 0 && interval_s > 0)
        rc = flare_socket_set_int(s->fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s, "TCP_KEEPINTVL",
                                  err);
    if (rc == 0 && count > 0)
        rc = flare_socket_set_int(s->fd, IPPROTO_TCP, TCP_KEEPCNT, count, "TCP_KEEPCNT", err);
    return rc;
}

int flare_tcp_stream_set_send_timeout(flare_tcp_stream *s, int timeout_ms, flare_error *err)
{
    return set_timeout(s, SO_SNDTIMEO, timeout_ms, err);
}

int flare_tcp_stream_set_recv_timeout(flare_tcp_stream *s, int timeout_ms, flare_error *err)
{
    return set_timeout(s, SO_RCVTIMEO, timeout_ms, err);
}

int flare_tcp_stream_set_nonblocking(flare_tcp_stream *s, bool on, flare_error *err)
{
    if (check_open(s, "O_NONBLOCK", err) < 0) return FLARE_EINVAL;
    int rc = flare_socket_set_nonblocking(s->fd, on, err);
    if (rc == 0) s->nonblocking = on;
    return rc;
}
