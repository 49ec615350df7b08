/*
 * gzip_stream.c: deflate streams that compress a response while it is sent, for
 * the proxy route's `gzip` and the static route's files too large to compress in
 * memory. Streams are kept per worker and reset for reuse, so a compressed
 * response allocates nothing once the worker has warmed up. Output goes out
 * through one fixed buffer per worker: what a response holds is the deflate state
 * and the connection's queued output, which the caller bounds by stopping when a
 * write returns 1.
 */
#include "gzip_stream.h"

#include <stdlib.h>
#include <zlib.h>

/* Idle streams kept per worker; more than this many compressing at once are freed
 * when they end. Each holds zlib's default window and hash (about 256 KiB). */
#define POOL_MAX 16
/* Compressed bytes written to the client per deflate call. */
#define OUT_CHUNK 16384

struct flared_gzip_stream {
    z_stream z;
    int level;
    bool finished;
    flared_gzip_stream *next; /* the pool */
};

/* Per-worker state: a worker is one single-threaded process. */
static struct {
    flared_gzip_stream *idle;
    size_t idle_count;
    unsigned char out[OUT_CHUNK];
} pool;

flared_gzip_stream *flared_gzip_stream_start(int level)
{
    flared_gzip_stream *z = pool.idle;
    if (z) {
        pool.idle = z->next;
        pool.idle_count--;
        if (deflateReset(&z->z) != Z_OK ||
            (z->level != level && deflateParams(&z->z, level, Z_DEFAULT_STRATEGY) != Z_OK)) {
            deflateEnd(&z->z);
            free(z);
            return NULL;
        }
    } else {
        if (!(z = calloc(1, sizeof *z))) return NULL;
        /* 15 + 16: a 32 KiB window in a gzip wrapper (RFC 1952). */
        if (deflateInit2(&z->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(z);
            return NULL;
        }
    }
    z->level = level;
    z->finished = false;
    return z;
}

int flared_gzip_stream_write(flared_gzip_stream *z, flare_http_stream *s, const void *data,
                             size_t len, flared_gzip_flush flush)
{
    if (z->finished) return 0;
    z->z.next_in = (Bytef *)(uintptr_t)data;
    z->z.avail_in = (uInt)len;
    int mode = flush == FLARED_GZIP_LAST   ? Z_FINISH
               : flush == FLARED_GZIP_SYNC ? Z_SYNC_FLUSH
                                           : Z_NO_FLUSH;
    int written = 0;
    for (;;) {
        z->z.next_out = pool.out;
        z->z.avail_out = sizeof pool.out;
        int rc = deflate(&z->z, mode);
        if (rc == Z_STREAM_ERROR) {
            flare_http_stream_abort(s); /* a cut body, never one that looks complete */
            return FLARE_EINVAL;
        }
        size_t n = sizeof pool.out - z->z.avail_out;
        if (n) {
            int w = flare_http_stream_write(s, pool.out, n);
            if (w < 0) return w;
            if (w > written) written = w;
        }
        if (rc == Z_STREAM_END) {
            z->finished = true;
            break;
        }
        /* A full buffer means zlib has more to give; otherwise it took everything. */
        if (z->z.avail_out != 0) break;
    }
    return written;
}

bool flared_gzip_stream_finished(const flared_gzip_stream *z)
{
    return z->finished;
}

void flared_gzip_stream_release(flared_gzip_stream *z)
{
    if (!z) return;
    if (pool.idle_count < POOL_MAX) {
        z->next = pool.idle;
        pool.idle = z;
        pool.idle_count++;
        return;
    }
    deflateEnd(&z->z);
    free(z);
}

void flared_gzip_stream_pool_free(void)
{
    while (pool.idle) {
        flared_gzip_stream *z = pool.idle;
        pool.idle = z->next;
        deflateEnd(&z->z);
        free(z);
    }
    pool.idle_count = 0;
}
