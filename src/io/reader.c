/*
 * reader.c: the buffered reader. Bytes live in buf[start..end); they move to the
 * front only when the tail is full, so a line is copied at most once. A delimiter
 * search remembers how far it got, so resuming after FLARE_EAGAIN does not rescan.
 * Invariants: start <= end <= cap; a failed or would-block call consumes nothing
 * (except a read_exact longer than the buffer, as documented).
 */
#include <string.h>
#include <stdlib.h>

#include "flare/io.h"

int flare_io_reader_init(flare_io_reader *r, flare_io_stream src, void *storage, size_t size,
                         flare_error *err)
{
    if (!r) return flare_error_set(err, FLARE_EINVAL, 0, "io reader: reader is NULL");
    memset(r, 0, sizeof *r);
    r->scan_delim = -1;
    if (!src.read) return flare_error_set(err, FLARE_EINVAL, 0, "io reader: stream has no read");
    if (size == 0) {
        if (storage)
            return flare_error_set(err, FLARE_EINVAL, 0, "io reader: storage given with size 0");
        size = FLARE_IO_READER_DEFAULT_SIZE;
    }
    if (storage) {
        r->buf = storage;
    } else {
        r->buf = malloc(size);
        if (!r->buf)
            return flare_error_set(err, FLARE_ENOMEM, 0, "io reader: cannot allocate %zu bytes",
                                   size);
        r->owns_buf = true;
    }
    r->src = src;
    r->cap = size;
    return 0;
}

void flare_io_reader_free(flare_io_reader *r)
{
    if (!r) return;
    if (r->owns_buf) free(r->buf);
    r->buf = NULL;
    r->owns_buf = false;
    r->cap = r->start = r->end = r->scanned = 0;
}

size_t flare_io_reader_buffered(const flare_io_reader *r)
{
    return r ? r->end - r->start : 0;
}

void flare_io_reader_consume(flare_io_reader *r, size_t n)
{
    if (!r) return;
    size_t avail = r->end - r->start;
    if (n > avail) n = avail;
    r->start += n;
    r->scanned = 0;
    if (r->start == r->end) r->start = r->end = 0; /* empty: refill from the front */
}

static int check_reader(const flare_io_reader *r, flare_error *err)
{
    if (!r || !r->buf) return flare_error_set(err, FLARE_EINVAL, 0, "io reader: not initialised");
    return 0;
}

/* One read from the source into the free tail; moves the data to the front first if
 * the tail is full. Sets eof on 0. Callers only call it with avail < cap. */
static int fill(flare_io_reader *r, flare_error *err)
{
    if (r->end == r->cap && r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t room = r->cap - r->end;
    ssize_t n = r->src.read(r->src.ctx, r->buf + r->end, room, err);
    if (n < 0) return (int)n;
    if (n == 0) {
        r->eof = true;
        return 0;
    }
    if ((size_t)n > room)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "io reader: source returned %zd bytes for room of %zu", n, room);
    r->end += (size_t)n;
    return 0;
}

ssize_t flare_io_reader_read(flare_io_reader *r, void *buf, size_t len, flare_error *err)
{
    if (check_reader(r, err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "io read: buffer is NULL");
    if (len == 0) return 0;
    if (r->end == r->start) {
        if (r->eof) return 0;
        if (len >= r->cap) { /* large reads skip the copy through the buffer */
            ssize_t n = r->src.read(r->src.ctx, buf, len, err);
            if (n == 0) r->eof = true;
            return n;
        }
        int rc = fill(r, err);
        if (rc < 0) return rc;
        if (r->end == r->start) return 0;
    }
    size_t n = r->end - r->start;
    if (n > len) n = len;
    memcpy(buf, r->buf + r->start, n);
    flare_io_reader_consume(r, n);
    return (ssize_t)n;
}

ssize_t flare_io_reader_peek(flare_io_reader *r, size_t n, const char **out, flare_error *err)
{
    if (check_reader(r, err) < 0) return FLARE_EINVAL;
    if (n > r->cap)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "io peek: %zu bytes exceed the buffer size %zu", n, r->cap);
    while (r->end - r->start < n && !r->eof) {
        int rc = fill(r, err);
        if (rc < 0) return rc;
    }
    if (out) *out = r->buf + r->start;
    return (ssize_t)(r->end - r->start);
}

int flare_io_reader_read_exact(flare_io_reader *r, void *buf, size_t len, flare_error *err)
{
    if (check_reader(r, err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "io read_exact: buffer is NULL");
    if (len <= r->cap) {
        const char *p;
        ssize_t avail = flare_io_reader_peek(r, len, &p, err);
        if (avail < 0) return (int)avail;
        if ((size_t)avail < len)
            return flare_error_set(err, FLARE_ECLOSED, 0,
                                   "io read_exact: end of stream after %zd of %zu bytes", avail,
                                   len);
        memcpy(buf, p, len);
        flare_io_reader_consume(r, len);
        return 0;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = flare_io_reader_read(r, (char *)buf + got, len - got, err);
        if (n < 0) return (int)n;
        if (n == 0)
            return flare_error_set(err, FLARE_ECLOSED, 0,
                                   "io read_exact: end of stream after %zu of %zu bytes", got, len);
        got += (size_t)n;
    }
    return 0;
}

ssize_t flare_io_reader_read_until(flare_io_reader *r, char delim, size_t max, const char **out,
                                   flare_error *err)
{
    if (check_reader(r, err) < 0) return FLARE_EINVAL;
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "io read_until: out is NULL");
    if (max == 0 || max > r->cap)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "io read_until: max %zu must be 1..buffer size %zu", max, r->cap);
    if (r->scan_delim != (unsigned char)delim) {
        r->scan_delim = (unsigned char)delim;
        r->scanned = 0;
    }
    for (;;) {
        size_t avail = r->end - r->start;
        size_t limit = avail < max ? avail : max;
        if (r->scanned < limit) {
            const char *from = r->buf + r->start + r->scanned;
            const char *hit = memchr(from, delim, limit - r->scanned);
            if (hit) {
                size_t n = (size_t)(hit - (r->buf + r->start)) + 1;
                *out = r->buf + r->start;
                flare_io_reader_consume(r, n);
                return (ssize_t)n;
            }
            r->scanned = limit;
        }
        if (avail >= max)
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "io read_until: no delimiter within %zu bytes", max);
        if (r->eof) {
            *out = r->buf + r->start;
            flare_io_reader_consume(r, avail);
            return (ssize_t)avail; /* the unterminated tail, then 0 */
        }
        int rc = fill(r, err);
        if (rc < 0) return rc;
    }
}

ssize_t flare_io_reader_read_line(flare_io_reader *r, size_t max, const char **line,
                                  size_t *line_len, flare_error *err)
{
    const char *p = NULL;
    ssize_t n = flare_io_reader_read_until(r, '\n', max, &p, err);
    if (n < 0) return n;
    size_t len = (size_t)n;
    if (len > 0 && p[len - 1] == '\n') {
        len--;
        if (len > 0 && p[len - 1] == '\r') len--;
    }
    if (line) *line = p;
    if (line_len) *line_len = len;
    return n;
}
