/*
 * static_stream.h: a static file sent gzip-compressed as it is read
 * (static_stream.c), for files too large to compress whole in memory.
 */
#ifndef FLARED_STATIC_STREAM_H
#define FLARED_STATIC_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "flare/http.h"
#include "flare/runtime.h"

/** A file being compressed into a deferred response. */
typedef struct flared_gzip_file flared_gzip_file;

/**
 * Makes one at zlib level 1..9; `head_only` (HEAD) sends the head alone and takes
 * no deflate stream. NULL when there is no memory (the caller sends identity).
 */
flared_gzip_file *flared_gzip_file_new(int level, bool head_only);

/** The fields the response carries after route_fields (see start); the caller adds them. */
flare_header_block *flared_gzip_file_fields(flared_gzip_file *g);

/**
 * Called from the handler: takes the response over (flare_response_defer) and, from
 * a callback of r, sends status 200 with route_fields (borrowed, must outlive the
 * response) and the fields of flared_gzip_file_fields, no Content-Length (chunked,
 * or delimited by the close for HTTP/1.0), then the gzip of fd's first size bytes,
 * read as the client takes the output. Takes g and fd whatever happens. Returns 0,
 * or a negative code for the handler to return.
 */
int flared_gzip_file_start(flared_gzip_file *g, flare_reactor *r, flare_response *resp,
                           const flare_header_block *route_fields, int fd, uint64_t size);

/** Frees one that was not started. NULL: nothing. */
void flared_gzip_file_free(flared_gzip_file *g);

#endif
