/*
 * stream.c: flare_io_stream adapters. Each wraps one lower-layer read function so
 * the reader never knows whether bytes come from TCP, TLS or a plain descriptor.
 * The adapters own nothing: the wrapped stream or fd stays the caller's.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "flare/io.h"

static ssize_t tcp_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    return flare_tcp_stream_read(ctx, buf, len, err);
}

static ssize_t tls_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    return flare_tls_stream_read(ctx, buf, len, err);
}

static ssize_t fd_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    int fd = (int)(intptr_t)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return flare_error_set(err, FLARE_EAGAIN, 0, "io read fd %d: would block", fd);
        if (errno == ECONNRESET)
            return flare_error_set(err, FLARE_ECONNRESET, errno, "io read fd %d", fd);
        return flare_error_set(err, FLARE_ESYS, errno, "io read fd %d", fd);
    }
}

flare_io_stream flare_io_stream_tcp(flare_tcp_stream *s)
{
    return (flare_io_stream){.read = tcp_read, .ctx = s};
}

flare_io_stream flare_io_stream_tls(flare_tls_stream *s)
{
    return (flare_io_stream){.read = tls_read, .ctx = s};
}

flare_io_stream flare_io_stream_fd(int fd)
{
    return (flare_io_stream){.read = fd_read, .ctx = (void *)(intptr_t)fd};
}
