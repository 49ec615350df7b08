/*
 * gzip_stream.h: deflate streams that compress a response as it is sent
 * (gzip_stream.c), shared by the proxy route and the static route.
 */
#ifndef FLARED_GZIP_STREAM_H
#define FLARED_GZIP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "flare/http.h"

/** A deflate stream compressing one response. */
typedef struct flared_gzip_stream flared_gzip_stream;

/** How a write ends (flared_gzip_stream_write). */
typedef enum flared_gzip_flush {
    FLARED_GZIP_MORE, /**< more input follows: zlib may hold bytes back for a better ratio */
    FLARED_GZIP_SYNC, /**< flushed: the client can decode everything written so far */
    FLARED_GZIP_LAST, /**< the last input: the gzip member ends */
} flared_gzip_flush;

/** A reset stream at zlib level 1..9 from the worker's pool, or NULL (no memory). */
flared_gzip_stream *flared_gzip_stream_start(int level);

/**
 * Compresses data[0..len) and writes what it makes to s, flushed as `flush` says.
 * Returns the largest flare_http_stream_write result (1: the client's output is
 * above its mark), or a negative code, after which s is no longer valid (a zlib
 * failure aborts it).
 */
int flared_gzip_stream_write(flared_gzip_stream *z, flare_http_stream *s, const void *data,
                             size_t len, flared_gzip_flush flush);

/** Whether the gzip member has ended (a write with FLARED_GZIP_LAST). */
bool flared_gzip_stream_finished(const flared_gzip_stream *z);

/** Gives z back to the pool (NULL: nothing). */
void flared_gzip_stream_release(flared_gzip_stream *z);

/** Frees the worker's idle streams. */
void flared_gzip_stream_pool_free(void);

#endif
