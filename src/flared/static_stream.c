/*
 * static_stream.c: static-route bodies made while they are sent, as nginx's gzip
 * filter compresses any size: the gzip of a file too large to compress whole in
 * memory, and a directory listing's page. The body has no known length: it goes
 * out chunked (RFC 9112 §7.1), or delimited by the close to an HTTP/1.0 client
 * (§6.3). Memory per response is bounded: the source's state (a deflate stream,
 * or the listing's sorted entries), the worker's one scratch buffer, and the
 * connection's output, which stops growing at its mark because the next piece is
 * made only when the client has taken what was queued (the `writable` callback),
 * never ahead of it.
 */
#include "static_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip_stream.h"
#include "log.h"

/* Bytes of a file read and compressed at a time, and of a listing made at a time. */
#define PIECE (64u << 10)
/* Pieces per loop turn for a client that takes everything: the rest waits for the
 * next turn, so one large body does not hold up the worker's other connections. */
#define PIECES_PER_TURN 4

/* What make() did. */
enum { MORE, BLOCKED, DONE };

struct flared_static_stream {
    flare_http_stream *s;
    flare_reactor *r;
    const flare_header_block *route_fields;
    flare_header_block fields;
    bool head_only;
    bool head_sent;
    bool kick_pending; /* a reactor callback holds st: it frees st when gone */
    bool gone;         /* the stream ended while kick_pending */
    /* The source: a file to compress (gz) or a listing. */
    flared_gzip_stream *gz; /* NULL for HEAD */
    int fd;
    uint64_t off, size;
    flared_listing *listing;
};

/* Per-worker: a worker is one single-threaded process, and each piece is written
 * before the next is made. */
static unsigned char read_buf[PIECE];
static flare_buf page_buf = FLARE_BUF_INIT;

static flared_static_stream *stream_new(bool head_only)
{
    flared_static_stream *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->fd = -1;
    st->head_only = head_only;
    return st;
}

flared_static_stream *flared_static_stream_gzip(int fd, uint64_t size, int level, bool head_only)
{
    flared_static_stream *st = stream_new(head_only);
    if (!st) return NULL;
    if (!head_only && !(st->gz = flared_gzip_stream_start(level))) {
        free(st);
        return NULL;
    }
    st->fd = fd;
    st->size = size;
    return st;
}

flared_static_stream *flared_static_stream_listing(flared_listing *l, bool head_only)
{
    flared_static_stream *st = stream_new(head_only);
    if (st)
        st->listing = l;
    else
        flared_listing_free(l);
    return st;
}

flare_header_block *flared_static_stream_fields(flared_static_stream *st)
{
    return &st->fields;
}

void flared_static_stream_free(flared_static_stream *st)
{
    if (!st) return;
    if (st->fd >= 0) close(st->fd);
    flared_gzip_stream_release(st->gz);
    flared_listing_free(st->listing);
    flare_header_block_free(&st->fields);
    free(st);
}

/* The next piece of a file's gzip: MORE, BLOCKED, DONE, or negative (s has ended). */
static int make_gzip(flared_static_stream *st)
{
    uint64_t left = st->size - st->off;
    size_t want = left < PIECE ? (size_t)left : PIECE;
    ssize_t n;
    while ((n = pread(st->fd, read_buf, want, (off_t)st->off)) < 0 && errno == EINTR)
        ;
    if (n <= 0) {
        /* Truncated or unreadable since it was opened: the body is cut, so that it
         * never looks complete (a chunked body without its last chunk). */
        flared_log(FLARED_LOG_ERROR, "static: gzip of a file: %s",
                   n < 0 ? strerror(errno) : "the file became shorter while it was sent");
        flare_http_stream_abort(st->s);
        return FLARE_ESYS;
    }
    st->off += (uint64_t)n;
    bool last = st->off == st->size;
    int w = flared_gzip_stream_write(st->gz, st->s, read_buf, (size_t)n,
                                     last ? FLARED_GZIP_LAST : FLARED_GZIP_MORE);
    return w < 0 ? w : last ? DONE : w == 1 ? BLOCKED : MORE;
}

/* The next piece of a listing's page, as make_gzip. */
static int make_listing(flared_static_stream *st)
{
    flare_buf_reset(&page_buf);
    int rc = flared_listing_write(st->listing, &page_buf, PIECE);
    if (rc < 0) {
        flare_http_stream_abort(st->s);
        return rc;
    }
    int w = flare_http_stream_write(st->s, page_buf.data, page_buf.len);
    if (page_buf.cap > 2 * PIECE) flare_buf_free(&page_buf); /* a rare huge row */
    return w < 0 ? w : rc == 1 ? DONE : w == 1 ? BLOCKED : MORE;
}

static void kick(flare_reactor *r, void *data);

/* Makes and writes pieces until the client's output is above its mark (the
 * `writable` callback resumes), the body ends, or this turn's share is used. */
static void pump(flared_static_stream *st)
{
    for (int turn = 0; turn < PIECES_PER_TURN; turn++) {
        int rc = st->listing ? make_listing(st) : make_gzip(st);
        if (rc < 0) { /* the stream is gone */
            flared_static_stream_free(st);
            return;
        }
        if (rc == DONE) {
            flare_http_stream_finish(st->s);
            flared_static_stream_free(st);
            return;
        }
        if (rc == BLOCKED) return;
    }
    st->kick_pending = flare_reactor_defer(st->r, kick, st) == 0;
    if (!st->kick_pending) {
        flare_http_stream_abort(st->s);
        flared_static_stream_free(st);
    }
}

/* The head: the response's status and fields, sent with the first body bytes. */
static int send_head(flared_static_stream *st)
{
    flare_response *resp = flare_http_stream_response(st->s);
    flare_response_status(resp, 200);
    int rc = flare_response_header_block(resp, st->route_fields);
    if (rc == 0) rc = flare_response_header_block(resp, &st->fields);
    if (rc < 0) {
        flare_http_stream_abort(st->s);
        return rc;
    }
    st->head_sent = true;
    return flare_http_stream_send_head(st->s, FLARE_HTTP_STREAM_UNKNOWN_LENGTH);
}

/* After the handler returned (the stream is live only then), and between turns. */
static void kick(flare_reactor *r, void *data)
{
    (void)r;
    flared_static_stream *st = data;
    st->kick_pending = false;
    if (st->gone) {
        flared_static_stream_free(st);
        return;
    }
    if (!st->head_sent) {
        if (send_head(st) < 0) {
            flared_static_stream_free(st);
            return;
        }
        if (st->head_only) { /* HEAD: the same head, no body */
            flare_http_stream_finish(st->s);
            flared_static_stream_free(st);
            return;
        }
    }
    pump(st);
}

static void on_writable(flare_http_stream *s, void *data)
{
    (void)s;
    pump(data);
}

static void on_closed(flare_http_stream *s, void *data)
{
    (void)s;
    flared_static_stream *st = data;
    if (st->kick_pending)
        st->gone = true;
    else
        flared_static_stream_free(st);
}

static const flare_http_stream_ops stream_ops = {on_writable, on_closed};

int flared_static_stream_start(flared_static_stream *st, flare_reactor *r, flare_response *resp,
                               const flare_header_block *route_fields)
{
    st->r = r;
    st->route_fields = route_fields;
    st->s = flare_response_defer(resp, &stream_ops, st);
    int rc = st->s ? flare_reactor_defer(r, kick, st) : FLARE_EINVAL;
    if (rc < 0) {
        flared_static_stream_free(st);
        return rc; /* the server answers 500 (and forgets the defer) */
    }
    st->kick_pending = true;
    return 0;
}
