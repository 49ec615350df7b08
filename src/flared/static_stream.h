/*
 * static_stream.h: static-route bodies written as the client takes them
 * (static_stream.c): gzip of files too large to compress whole in memory, and
 * directory listings.
 */
#ifndef FLARED_STATIC_STREAM_H
#define FLARED_STATIC_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "flare/http.h"
#include "flare/runtime.h"

#include "static_internal.h"

/** A static-route response whose body is written after the handler, in pieces. */
typedef struct flared_static_stream flared_static_stream;

/**
 * A stream of the gzip (zlib level 1..9) of fd's first size bytes, read as the
 * client takes the output; `head_only` (HEAD) sends the head alone and takes no
 * deflate stream. Takes fd. NULL when there is no memory (fd is then still the
 * caller's, to send identity).
 */
flared_static_stream *flared_static_stream_gzip(int fd, uint64_t size, int level, bool head_only);

/** A stream of listing l's page (text/html); takes l, even when it returns NULL (no
 *  memory). */
flared_static_stream *flared_static_stream_listing(flared_listing *l, bool head_only);

/** The fields the response carries after the route's (see start); the caller adds them. */
flare_header_block *flared_static_stream_fields(flared_static_stream *st);

/**
 * Called from the handler: takes the response over (flare_response_defer) and, from
 * a callback of r, sends status 200 with route_fields (borrowed, must outlive the
 * response) and the fields of flared_static_stream_fields, no Content-Length
 * (chunked, or delimited by the close for HTTP/1.0), then the body, each piece
 * made only when the client has taken what was queued. Takes st whatever happens.
 * Returns 0, or a negative code for the handler to return.
 */
int flared_static_stream_start(flared_static_stream *st, flare_reactor *r, flare_response *resp,
                               const flare_header_block *route_fields);

/** Frees one that was not started. NULL: nothing. */
void flared_static_stream_free(flared_static_stream *st);

#endif
