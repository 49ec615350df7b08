/*
 * simd.h (internal): the byte-class scanners the HTTP parsers are built on, one
 * table of them per implementation (scalar, SSE4.2, AVX2). Every scanner returns
 * the index of the first byte outside its class (or of the byte searched for),
 * or n when there is none, so all paths give identical answers by construction.
 * Scanners never read outside p[0..n).
 */
#ifndef FLARE_HTTP_SIMD_H
#define FLARE_HTTP_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flare/http_parser.h"

#if !defined(FLARE_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FLARE_HTTP_X86_SIMD 1
#endif

/** One implementation of the scanners. */
typedef struct flare_http_scan_ops {
    /** Index of the first '\n' in p[0..n), n when none. */
    size_t (*find_lf)(const char *p, size_t n);
    /** Index of the first byte outside 0x21..0x7E (request-target, RFC 9112 §3.2). */
    size_t (*skip_target)(const char *p, size_t n);
    /** Index of the first byte that is not HTAB, SP, VCHAR or obs-text (RFC 9110 §5.5). */
    size_t (*skip_value)(const char *p, size_t n);
    /** Index of the first byte that is not a tchar (RFC 9110 §5.6.2). */
    size_t (*skip_token)(const char *p, size_t n);
} flare_http_scan_ops;

/** The portable reference scanners. */
extern const flare_http_scan_ops flare_http__scan_scalar;
#ifdef FLARE_HTTP_X86_SIMD
/** SSE4.2 scanners (PCMPESTRI/PCMPESTRM ranges); call only when the CPU has SSE4.2. */
extern const flare_http_scan_ops flare_http__scan_sse42;
/** AVX2 scanners (32-byte compares, nibble lookup for tchar); call only with AVX2. */
extern const flare_http_scan_ops flare_http__scan_avx2;
#endif

/** The scanners of the active path (detected at first use unless forced). */
const flare_http_scan_ops *flare_http__scan_ops(void);

/** Bitmap of tchar (RFC 9110 §5.6.2): bit c of the 256-bit set. */
extern const uint64_t flare_http__tchar_bits[4];

/** True when c is a tchar. */
static inline bool flare_http__is_tchar(unsigned char c);

/* inline definitions */

static inline bool flare_http__is_tchar(unsigned char c)
{
    return (flare_http__tchar_bits[c >> 6] >> (c & 63)) & 1u;
}

#endif
