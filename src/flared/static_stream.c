/*
 * static_stream.c: a static file too large to compress whole in memory, gzipped
 * while it is sent, as nginx's gzip filter does any size. The body has no known
 * length: it goes out chunked (RFC 9112 §7.1), or delimited by the close to an
 * HTTP/1.0 client (§6.3). Memory per response is bounded: the deflate state, the
 * worker's one read buffer, and the connection's output, which stops growing at
 * its mark because the file is read only when the client has taken what was
 * queued (the `writable` callback), never ahead of it.
 */
#include "static_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip_stream.h"
#include "log.h"

/* Bytes of the file read and compressed at a time. */
#define READ_CHUNK (64u << 10)
/* Reads per loop turn for a client that takes everything: the rest waits for the
 * next turn, so one large file does not hold up the worker's other connections. */
#define CHUNKS_PER_TURN 4

struct flared_gzip_file {
    flare_http_stream *s;
    flare_reactor *r;
    flared_gzip_stream *gz; /* NULL for HEAD */
    const flare_header_block *route_fields;
    flare_header_block fields;
    int fd;
    uint64_t off, size;
    bool head_sent;
    bool kick_pending; /* a reactor callback holds g: it frees g when gone */
    bool gone;         /* the stream ended while kick_pending */
};

/* Per-worker: a worker is one single-threaded process, and each chunk is compressed
 * before the next is read. */
static unsigned char read_buf[READ_CHUNK];

flared_gzip_file *flared_gzip_file_new(int level, bool head_only)
{
    flared_gzip_file *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->fd = -1;
    if (!head_only && !(g->gz = flared_gzip_stream_start(level))) {
        free(g);
        return NULL;
    }
    return g;
}

flare_header_block *flared_gzip_file_fields(flared_gzip_file *g)
{
    return &g->fields;
}

void flared_gzip_file_free(flared_gzip_file *g)
{
    if (!g) return;
    if (g->fd >= 0) close(g->fd);
    flared_gzip_stream_release(g->gz);
    flare_header_block_free(&g->fields);
    free(g);
}

static void kick(flare_reactor *r, void *data);

/* Reads, compresses and writes until the client's output is above its mark (the
 * `writable` callback resumes), the file ends, or this turn's share is used. */
static void pump(flared_gzip_file *g)
{
    for (int turn = 0; turn < CHUNKS_PER_TURN; turn++) {
        uint64_t left = g->size - g->off;
        size_t want = left < READ_CHUNK ? (size_t)left : READ_CHUNK;
        ssize_t n = pread(g->fd, read_buf, want, (off_t)g->off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            /* Truncated or unreadable since it was opened: the body is cut, so that
             * it never looks complete (a chunked body without its last chunk). */
            flared_log(FLARED_LOG_ERROR, "static: gzip of a file: %s",
                       n < 0 ? strerror(errno) : "the file became shorter while it was sent");
            flare_http_stream_abort(g->s);
            flared_gzip_file_free(g);
            return;
        }
        g->off += (uint64_t)n;
        bool last = g->off == g->size;
        int w = flared_gzip_stream_write(g->gz, g->s, read_buf, (size_t)n,
                                         last ? FLARED_GZIP_LAST : FLARED_GZIP_MORE);
        if (w < 0) { /* the stream is gone */
            flared_gzip_file_free(g);
            return;
        }
        if (last) {
            flare_http_stream_finish(g->s);
            flared_gzip_file_free(g);
            return;
        }
        if (w == 1) return; /* writable resumes */
    }
    g->kick_pending = flare_reactor_defer(g->r, kick, g) == 0;
    if (!g->kick_pending) {
        flare_http_stream_abort(g->s);
        flared_gzip_file_free(g);
    }
}

/* The head: the response's status and fields, sent with the first body bytes. */
static int send_head(flared_gzip_file *g)
{
    flare_response *resp = flare_http_stream_response(g->s);
    flare_response_status(resp, 200);
    int rc = flare_response_header_block(resp, g->route_fields);
    if (rc == 0) rc = flare_response_header_block(resp, &g->fields);
    if (rc < 0) {
        flare_http_stream_abort(g->s);
        return rc;
    }
    g->head_sent = true;
    return flare_http_stream_send_head(g->s, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
}

/* After the handler returned (the stream is live only then), and between turns. */
static void kick(flare_reactor *r, void *data)
{
    (void)r;
    flared_gzip_file *g = data;
    g->kick_pending = false;
    if (g->gone) {
        flared_gzip_file_free(g);
        return;
    }
    if (!g->head_sent) {
        if (send_head(g) < 0) {
            flared_gzip_file_free(g);
            return;
        }
        if (!g->gz) { /* HEAD: the same head, no body */
            flare_http_stream_finish(g->s);
            flared_gzip_file_free(g);
            return;
        }
    }
    pump(g);
}

static void on_writable(flare_http_stream *s, void *data)
{
    (void)s;
    pump(data);
}

static void on_closed(flare_http_stream *s, void *data)
{
    (void)s;
    flared_gzip_file *g = data;
    if (g->kick_pending)
        g->gone = true;
    else
        flared_gzip_file_free(g);
}

static const flare_http_stream_ops stream_ops = {on_writable, on_closed};

int flared_gzip_file_start(flared_gzip_file *g, flare_reactor *r, flare_response *resp,
                           const flare_header_block *route_fields, int fd, uint64_t size)
{
    g->fd = fd;
    g->size = size;
    g->r = r;
    g->route_fields = route_fields;
    g->s = flare_response_defer(resp, &stream_ops, g);
    int rc = g->s ? flare_reactor_defer(r, kick, g) : FLARE_EINVAL;
    if (rc < 0) {
        flared_gzip_file_free(g);
        return rc; /* the server answers 500 (and forgets the defer) */
    }
    g->kick_pending = true;
    return 0;
}
