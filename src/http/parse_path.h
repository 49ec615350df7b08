/*
 * parse_path.h (internal): the per-path pieces of the one-pass head parsers
 * (parse_request.c, parse_response.c). Each parser is compiled once per SIMD
 * path with `path` a constant, so these dispatchers fold to the path's inline
 * kernels (simd.h) and the field loop makes no call per field. Include only
 * from a parser's .c file.
 */
#ifndef FLARE_HTTP_PARSE_PATH_H
#define FLARE_HTTP_PARSE_PATH_H

#include "parse_internal.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The kernels of one path; `path` is a constant wherever these are inlined. */
static ALWAYS_INLINE size_t token_end(int path, const char *p, size_t pos, size_t end)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return flare_http__avx512_token_end(p, pos, end);
    if (path == FLARE_SIMD_AVX2) return flare_http__avx2_token_end(p, pos, end);
    if (path == FLARE_SIMD_SSE42) return flare_http__sse42_token_end(p, pos, end);
#endif
    (void)path;
    return flare_http__scalar_token_end(p, pos, end);
}

static ALWAYS_INLINE size_t target_end(int path, const char *p, size_t pos, size_t end)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return flare_http__avx512_target_end(p, pos, end);
    if (path == FLARE_SIMD_AVX2) return flare_http__avx2_target_end(p, pos, end);
    if (path == FLARE_SIMD_SSE42) return flare_http__sse42_target_end(p, pos, end);
#endif
    (void)path;
    return flare_http__scalar_target_end(p, pos, end);
}

static ALWAYS_INLINE size_t value_end(int path, const char *p, size_t pos, size_t end)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return flare_http__avx512_value_end(p, pos, end);
    if (path == FLARE_SIMD_AVX2) return flare_http__avx2_value_end(p, pos, end);
    if (path == FLARE_SIMD_SSE42) return flare_http__sse42_value_end(p, pos, end);
#endif
    (void)path;
    return flare_http__scalar_value_end(p, pos, end);
}

/* The chunk classifier of a SIMD path; the scalar path uses no chunks. */
static ALWAYS_INLINE flare_http__chunk_fn *chunk_fn(int path)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return flare_http__avx512_chunk_at;
    if (path == FLARE_SIMD_AVX2) return flare_http__avx2_chunk_at;
    if (path == FLARE_SIMD_SSE42) return flare_http__sse42_chunk_at;
#endif
    (void)path;
    return NULL;
}

/* Classifies the first chunk of buf[0..end) on a SIMD path (a head under 64 bytes
 * in overlapping blocks, simd.h); the scalar path uses no chunks. */
static ALWAYS_INLINE void first_chunk(int path, const char *buf, size_t end,
                                      flare_http__chunk *chunk)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) flare_http__avx512_chunk_at(buf, 0, end, chunk);
    if (path == FLARE_SIMD_AVX2) flare_http__avx2_first_chunk(buf, end, chunk);
    if (path == FLARE_SIMD_SSE42) flare_http__sse42_first_chunk(buf, end, chunk);
#endif
    (void)path;
    (void)buf;
    (void)end;
    (void)chunk;
}

static ALWAYS_INLINE const flare_http_scan_ops *path_ops(int path)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return &flare_http__scan_avx512;
    if (path == FLARE_SIMD_AVX2) return &flare_http__scan_avx2;
    if (path == FLARE_SIMD_SSE42) return &flare_http__scan_sse42;
#endif
    (void)path;
    return &flare_http__scan_scalar;
}

/* Outcomes of reading one field line. */
enum { FIELD_LINE_OK, FIELD_LINE_MORE, FIELD_LINE_BAD };

/* The field line at buf[pos..end) read exactly with the path's scanners (the
 * reference the chunk split must agree with): its colon and CR, or whether the
 * input ends inside it or it is malformed. field-name = token with no whitespace
 * before the colon, so a line starting with whitespace (obs-fold) has no name
 * (RFC 9112 §5.1, §5.2); field-value = VCHAR / obs-text / SP / HTAB (RFC 9110
 * §5.5), so the value scan must stop at the CR of a CRLF, any other stop fails. */
static ALWAYS_INLINE int read_field_line(int path, const char *buf, size_t pos, size_t end,
                                         size_t *colon, size_t *cr)
{
    *colon = token_end(path, buf, pos, end);
    if (*colon == end) return FIELD_LINE_MORE;
    if (*colon == pos || buf[*colon] != ':') return FIELD_LINE_BAD;
    *cr = value_end(path, buf, *colon + 1, end);
    if (*cr == end) return FIELD_LINE_MORE;
    if (buf[*cr] != '\r') return FIELD_LINE_BAD;
    if (*cr + 1 == end) return FIELD_LINE_MORE;
    return buf[*cr + 1] == '\n' ? FIELD_LINE_OK : FIELD_LINE_BAD;
}

/* Whether a field line whose value runs into the next chunk classifies that
 * chunk in line (flare_http__split_field_line). Counted with callgrind: 3-8%
 * fewer instructions per request head on the AVX2 path, whose classifier is two
 * loads (AVX-512's is one; not measured, no CPU here has it); on the SSE4.2 path
 * the second copy of its four-block classifier costs the field loop registers,
 * 1-3% more. */
static ALWAYS_INLINE bool step_in_line(int path)
{
    return path != FLARE_SIMD_SSE42;
}

/* The field line at buf[pos..end): the chunk split when the path has chunks and
 * it succeeds, else the exact reading. */
static ALWAYS_INLINE int next_field_line(int path, const char *buf, size_t pos, size_t end,
                                         flare_http__chunk *chunk, size_t *colon, size_t *cr)
{
    flare_http__chunk_fn *chunk_at = chunk_fn(path);
    if (chunk_at &&
        flare_http__split_field_line(buf, pos, end, chunk, chunk_at, step_in_line(path), colon, cr))
        return FIELD_LINE_OK;
    return read_field_line(path, buf, pos, end, colon, cr);
}

static ALWAYS_INLINE bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Sets h to the field line buf[pos..cr) whose colon is at `colon`: OWS around
 * the value is not part of it (RFC 9112 §5.1), usually one SP before it and
 * none after; buf[cr] (CR) stops the forward trim. */
static ALWAYS_INLINE void set_field(const char *buf, size_t pos, size_t colon, size_t cr,
                                    flare_http_header *h)
{
    size_t v = colon + 1, e = cr;
    if (buf[v] == ' ') v++;
    /* Value bytes are HTAB, SP or above SP, and the one that may stand at either
     * end when the value is empty (CR, ':') is no OWS: a byte up to SP at
     * either end is rare and sends the line to the exact trim. */
    if (__builtin_expect((unsigned char)buf[v] <= ' ' || (unsigned char)buf[e - 1] <= ' ', 0)) {
        while (is_ows(buf[v]))
            v++;
        while (e > v && is_ows(buf[e - 1]))
            e--;
    }
    h->name = buf + pos;
    h->name_len = (uint32_t)(colon - pos);
    h->value = buf + v;
    h->value_len = (uint32_t)(e - v);
    h->id = (uint8_t)flare_http__header_id_token(buf + pos, colon - pos);
}

/* Where a head's section of field lines stands at buf[pos] (RFC 9112 §2.1). */
enum { FIELDS_LINE, FIELDS_END, FIELDS_MORE };

/* FIELDS_END when buf[pos..] starts with the empty line that ends the head,
 * FIELDS_MORE when the input ends before that can be told, else FIELDS_LINE. */
static ALWAYS_INLINE int fields_at(const char *buf, size_t pos, size_t end)
{
    if (pos == end) return FIELDS_MORE;
    if (buf[pos] != '\r') return FIELDS_LINE;
    if (pos + 1 == end) return FIELDS_MORE;
    return buf[pos + 1] == '\n' ? FIELDS_END : FIELDS_LINE;
}

#endif
