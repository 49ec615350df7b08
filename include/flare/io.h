/*
 * io.h: a buffered reader over any byte stream. A stream is just {read fn, ctx};
 * adapters cover flare_tcp_stream, flare_tls_stream and plain fds. The reader adds
 * exact reads, delimiter and line reads with a length limit, and peeking. Slices it
 * returns point into its buffer and stay valid until the next call on the reader.
 * A non-blocking source may answer FLARE_EAGAIN: the call can then be repeated and
 * nothing already read is lost (see each function for the exact guarantee).
 */
#ifndef FLARE_IO_H
#define FLARE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/tcp.h"
#include "flare/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Buffer size of a reader initialised with size 0. */
#define FLARE_IO_READER_DEFAULT_SIZE 8192

/**
 * Reads up to len (> 0) bytes into buf: > 0 count, 0 at end of stream, or a negative
 * FLARE_E* code (FLARE_EAGAIN when a non-blocking source has nothing ready).
 */
typedef ssize_t (*flare_io_read_fn)(void *ctx, void *buf, size_t len, flare_error *err);

/** A readable byte stream: read(ctx, ...) as above. */
typedef struct flare_io_stream {
    flare_io_read_fn read;
    void *ctx;
} flare_io_stream;

/** A stream reading from s with flare_tcp_stream_read; s must outlive the stream. */
flare_io_stream flare_io_stream_tcp(flare_tcp_stream *s);
/**
 * A stream reading from s with flare_tls_stream_read (0 after close_notify,
 * FLARE_ECLOSED after an unclean close); s must outlive the stream.
 */
flare_io_stream flare_io_stream_tls(flare_tls_stream *s);
/** A stream reading a file descriptor with read(2) (EINTR retried); fd stays the caller's. */
flare_io_stream flare_io_stream_fd(int fd);

/** A buffered reader; fields are private, use the functions below. */
typedef struct flare_io_reader {
    flare_io_stream src;
    char *buf;
    size_t cap;
    size_t start, end; /* buffered bytes are buf[start..end) */
    size_t scanned;    /* bytes after start already searched for scan_delim */
    int scan_delim;    /* -1 when no search is in progress */
    bool eof;          /* the source returned 0; it is not read again */
    bool owns_buf;
} flare_io_reader;

/**
 * Initialises r over src with a buffer of size bytes (0 = FLARE_IO_READER_DEFAULT_SIZE):
 * storage when given (the caller keeps it alive and frees it), else allocated.
 * The buffer size is also the most read_until, read_line and peek can hold.
 */
int flare_io_reader_init(flare_io_reader *r, flare_io_stream src, void *storage, size_t size,
                         flare_error *err);
/** Frees an allocated buffer; the source is not closed. Safe to call twice. */
void flare_io_reader_free(flare_io_reader *r);
/**
 * Reads up to len bytes: buffered bytes first, else one read from the source (straight
 * into buf when len >= the buffer size). Returns > 0, 0 at end of stream, or < 0.
 */
ssize_t flare_io_reader_read(flare_io_reader *r, void *buf, size_t len, flare_error *err);
/**
 * Reads exactly len bytes: 0, or FLARE_ECLOSED when the stream ends first, or another
 * code. When len <= the buffer size nothing is consumed unless all len bytes arrived,
 * so a FLARE_EAGAIN can be retried; a longer read cannot be resumed.
 */
int flare_io_reader_read_exact(flare_io_reader *r, void *buf, size_t len, flare_error *err);
/**
 * Reads through the first delim within max bytes (max <= the buffer size, else
 * FLARE_EINVAL). *out gets a slice of the returned length, delimiter included. At end
 * of stream the rest is returned without a delimiter, then 0. FLARE_ELIMIT when max
 * bytes hold no delim; nothing is consumed then, nor on FLARE_EAGAIN.
 */
ssize_t flare_io_reader_read_until(flare_io_reader *r, char delim, size_t max, const char **out,
                                   flare_error *err);
/**
 * flare_io_reader_read_until('\n'); *line_len excludes the "\n" or "\r\n". Returns the
 * bytes consumed (so an empty line returns 1 or 2), 0 at end of stream.
 */
ssize_t flare_io_reader_read_line(flare_io_reader *r, size_t max, const char **line,
                                  size_t *line_len, flare_error *err);
/**
 * Buffers at least n bytes (n <= the buffer size) without consuming them; *out gets
 * the buffered slice. Returns its length: >= n, or fewer only at end of stream.
 */
ssize_t flare_io_reader_peek(flare_io_reader *r, size_t n, const char **out, flare_error *err);
/** Drops n buffered bytes (at most those buffered), e.g. after a peek. */
void flare_io_reader_consume(flare_io_reader *r, size_t n);
/** Bytes buffered and not yet consumed. */
size_t flare_io_reader_buffered(const flare_io_reader *r);

#ifdef __cplusplus
}
#endif
#endif
