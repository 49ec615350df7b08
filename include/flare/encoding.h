/*
 * encoding.h: content codings with zlib (RFC 9110 §8.4.1): gzip (RFC 1952), zlib
 * (RFC 1950, HTTP's "deflate") and raw deflate (RFC 1951). Compression and
 * decompression, one-shot and streaming. Every decompressor has an output limit
 * that it checks as it inflates, so a small bomb never becomes a large buffer.
 */
#ifndef FLARE_ENCODING_H
#define FLARE_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flare/error.h"
#include "flare/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Output limit of a decompressor given max_out 0: 100 MiB (the client's body limit). */
#define FLARE_ENCODING_DEFAULT_MAX_OUT (100u << 20)

/** A content coding. */
typedef enum flare_encoding {
    FLARE_ENC_IDENTITY = 0, /**< no coding: bytes are copied */
    FLARE_ENC_GZIP,         /**< gzip; several members in a row decode as one stream */
    FLARE_ENC_ZLIB,         /**< zlib; decoding also accepts raw deflate, as servers send both */
    FLARE_ENC_DEFLATE,      /**< raw deflate, no header or checksum */
} flare_encoding;

/**
 * The coding named by a Content-Encoding token (case-insensitive): "gzip" and
 * "x-gzip" (RFC 9110 §8.4.1.3), "deflate" (zlib, §8.4.1.2), "identity".
 * FLARE_EUNSUPPORTED for anything else (say "br").
 */
int flare_encoding_from_name(const char *name, size_t len);
/** The token of a coding ("gzip", "deflate" for ZLIB, "raw-deflate", "identity"). */
const char *flare_encoding_name(flare_encoding enc);

/**
 * Compresses in[0..len) whole and appends the result to out. level: zlib's, -1
 * (default) or 0..9 (FLARE_EINVAL otherwise).
 */
int flare_encoding_compress(flare_encoding enc, int level, const void *in, size_t len,
                            flare_buf *out, flare_error *err);
/**
 * Decompresses one whole stream and appends it to out. FLARE_ELIMIT as soon as the
 * output would pass max_out (0 = FLARE_ENCODING_DEFAULT_MAX_OUT); FLARE_EPARSE for
 * corrupt or truncated data, or bytes after the end of the stream.
 */
int flare_encoding_decompress(flare_encoding enc, const void *in, size_t len, flare_buf *out,
                              size_t max_out, flare_error *err);

/** A streaming decompressor (opaque). */
typedef struct flare_inflater flare_inflater;

/** Creates a decompressor with an output limit (0 = FLARE_ENCODING_DEFAULT_MAX_OUT). */
int flare_inflater_new(flare_inflater **out, flare_encoding enc, size_t max_out, flare_error *err);
/**
 * Decompresses the next len input bytes, appending what they produce to out.
 * FLARE_ELIMIT when the total output would pass the limit (no more than the limit
 * is ever written), FLARE_EPARSE on corrupt data; either failure is final.
 */
int flare_inflater_update(flare_inflater *d, const void *in, size_t len, flare_buf *out,
                          flare_error *err);
/** Ends the input: 0 when a whole stream was decoded, FLARE_EPARSE when it was cut short. */
int flare_inflater_finish(flare_inflater *d, flare_error *err);
/** True once a whole stream (for gzip: at least one member) has been decoded. */
bool flare_inflater_done(const flare_inflater *d);
/** Bytes produced so far. */
uint64_t flare_inflater_total_out(const flare_inflater *d);
/** Frees the decompressor; NULL is fine. */
void flare_inflater_free(flare_inflater *d);

/** A streaming compressor (opaque). */
typedef struct flare_deflater flare_deflater;

/**
 * Creates a compressor (level as in flare_encoding_compress) whose total output may
 * not pass max_out (0 = no limit): FLARE_ELIMIT from update then. IDENTITY is
 * FLARE_EINVAL.
 */
int flare_deflater_new(flare_deflater **out, flare_encoding enc, int level, size_t max_out,
                       flare_error *err);
/**
 * Compresses the next len bytes and appends whatever output is ready to out; with
 * finish the stream is ended and flushed (later calls are FLARE_EINVAL).
 */
int flare_deflater_update(flare_deflater *c, const void *in, size_t len, bool finish,
                          flare_buf *out, flare_error *err);
/** Frees the compressor; NULL is fine. */
void flare_deflater_free(flare_deflater *c);

#ifdef __cplusplus
}
#endif
#endif
