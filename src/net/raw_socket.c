/*
 * raw_socket.c: thin wrappers over socket(2), fcntl(2), setsockopt(2) and the
 * name calls, turning errno into FLARE_ESYS with the fd and operation in the
 * message. Every descriptor is created close-on-exec, atomically, so a fork+exec
 * elsewhere in the process never inherits it.
 */
#include "flare/net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>

static const char *family_name(int family)
{
    switch (family) {
    case AF_INET:
        return "AF_INET";
    case AF_INET6:
        return "AF_INET6";
    case AF_UNIX:
        return "AF_UNIX";
    default:
        return "unknown family";
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case SOCK_STREAM:
        return "SOCK_STREAM";
    case SOCK_DGRAM:
        return "SOCK_DGRAM";
    default:
        return "unknown type";
    }
}

int flare_socket_open(int family, int type, bool nonblocking, flare_error *err)
{
    int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    int fd = socket(family, type | flags, 0);
    if (fd < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "socket(%s (%d), %s (%d)) failed",
                               family_name(family), family, type_name(type), type);
    return fd;
}

int flare_socket_set_nonblocking(int fd, bool on, flare_error *err)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return flare_error_set(err, FLARE_ESYS, errno, "fcntl(F_GETFL) on fd %d", fd);
    int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (want != flags && fcntl(fd, F_SETFL, want) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "fcntl(F_SETFL, %s O_NONBLOCK) on fd %d",
                               on ? "set" : "clear", fd);
    return 0;
}

int flare_socket_set_int(int fd, int level, int option, int value, const char *option_name,
                         flare_error *err)
{
    if (setsockopt(fd, level, option, &value, sizeof value) < 0) {
        int saved = errno;
        if (option_name)
            return flare_error_set(err, FLARE_ESYS, saved, "setsockopt(%s=%d) on fd %d",
                                   option_name, value, fd);
        return flare_error_set(err, FLARE_ESYS, saved,
                               "setsockopt(level %d, option %d = %d) on fd %d", level, option,
                               value, fd);
    }
    return 0;
}

int flare_socket_pending_error(int fd)
{
    int value = 0;
    socklen_t len = sizeof value;
    /* Reading SO_ERROR also clears it, which is what a connect() completion wants. */
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) < 0) return errno;
    return value;
}

int flare_socket_wait(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, flare_monotonic_ms_until(deadline_ms));
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

int flare_socket_local_addr(int fd, flare_sock_addr *out, flare_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "getsockname on fd %d", fd);
    return flare_sock_addr_from_sockaddr(out, (const struct sockaddr *)&ss, len, err);
}

int flare_socket_peer_addr(int fd, flare_sock_addr *out, flare_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "getpeername on fd %d", fd);
    return flare_sock_addr_from_sockaddr(out, (const struct sockaddr *)&ss, len, err);
}
