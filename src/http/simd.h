/*
 * simd.h (internal): the byte classes the HTTP parsers are built on, one set of
 * kernels per implementation (scalar, SSE4.2, AVX2), all inline so that a parser
 * compiled for one path runs them without a call. Two shapes:
 *  - scanners return the index of the first byte outside a class in p[pos..end)
 *    (or of the byte searched for), end when there is none;
 *  - chunks hold the stop masks of 64 bytes of a head, so that the next field
 *    delimiter is a shift and a bit scan away.
 * Every path gives the same answers by construction. Nothing reads outside
 * p[0..end): a last partial block is loaded so that it ends at `end`, which needs
 * end >= the block width; shorter inputs drop to the next narrower path. The
 * AVX-512 path instead loads a last partial block under a byte mask, which reads
 * (and can fault on) only the bytes it keeps, so it needs no narrower path.
 */
#ifndef FLARE_HTTP_SIMD_H
#define FLARE_HTTP_SIMD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flare/http_parser.h"

#if !defined(FLARE_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FLARE_HTTP_X86_SIMD 1
#include <immintrin.h>
#endif

/** One implementation of the scanners, called through pointers (cold paths, tests). */
typedef struct flare_http_scan_ops {
    /** Index of the first '\n' in p[0..n), n when none. */
    size_t (*find_lf)(const char *p, size_t n);
    /** Index of the first byte outside 0x21..0x7E, or of a '#' (request-target, RFC 9112
     *  §3.2: a fragment is never sent, so '#' cannot be part of one). */
    size_t (*skip_target)(const char *p, size_t n);
    /** Index of the first byte that is not HTAB, SP, VCHAR or obs-text (RFC 9110 §5.5). */
    size_t (*skip_value)(const char *p, size_t n);
    /** Index of the first byte that is not a tchar (RFC 9110 §5.6.2). */
    size_t (*skip_token)(const char *p, size_t n);
} flare_http_scan_ops;

/** The portable reference scanners. */
extern const flare_http_scan_ops flare_http__scan_scalar;
#ifdef FLARE_HTTP_X86_SIMD
/** SSE4.2-path scanners (16-byte blocks); call only when the CPU has SSE4.2. */
extern const flare_http_scan_ops flare_http__scan_sse42;
/** AVX2 scanners (32-byte blocks); call only when the CPU has AVX2. */
extern const flare_http_scan_ops flare_http__scan_avx2;
/** AVX-512BW scanners (64-byte blocks); call only when the CPU has AVX-512BW. */
extern const flare_http_scan_ops flare_http__scan_avx512;
#endif

/** Rows of the 64-byte constants of the SIMD kernels (simd.c); each repeats per
 * 16-byte lane, so its first 16 or 32 bytes serve the SSE and AVX2 paths. */
enum {
    FLARE_HTTP__ROW_LF,            /**< '\n' */
    FLARE_HTTP__ROW_21,            /**< 0x21, the first target byte */
    FLARE_HTTP__ROW_5D,            /**< 0x7E - 0x21 */
    FLARE_HTTP__ROW_SP,            /**< ' ' */
    FLARE_HTTP__ROW_TAB,           /**< '\t' */
    FLARE_HTTP__ROW_DEL,           /**< 0x7F */
    FLARE_HTTP__ROW_HASH,          /**< '#' */
    FLARE_HTTP__ROW_CTL_LAST,      /**< 0x1F, the last CTL below DEL */
    FLARE_HTTP__ROW_NIBBLE,        /**< 0x0F */
    FLARE_HTTP__ROW_TCHAR,         /**< FLARE_HTTP__TCHAR_ROWS in each 16-byte lane */
    FLARE_HTTP__ROW_VALUE_STOP,    /**< FLARE_HTTP__VALUE_STOP_ROWS in each lane */
    FLARE_HTTP__ROW_HIGH_BIT,      /**< FLARE_HTTP__HIGH_NIBBLE_BIT in each lane */
    FLARE_HTTP__ROW_DIGIT,         /**< '0', then the sizes of the host classes: */
    FLARE_HTTP__ROW_LOWER,         /**< 'a' */
    FLARE_HTTP__ROW_DASH,          /**< '-' */
    FLARE_HTTP__ROW_DIGITS,        /**< 10 */
    FLARE_HTTP__ROW_LETTERS,       /**< 26 */
    FLARE_HTTP__ROW_DASH_DOT,      /**< 2 ('-' and '.') */
    FLARE_HTTP__ROW_DIGITS_LAST,   /**< 9, the last offset in each host class: */
    FLARE_HTTP__ROW_LETTERS_LAST,  /**< 25 */
    FLARE_HTTP__ROW_DASH_DOT_LAST, /**< 1 */
    FLARE_HTTP__ROWS
};

/**
 * The SIMD kernels' constants, in memory where other files cannot see their
 * values: each then costs one load or none (folded into the instruction using
 * it), where GCC rebuilds a constant it can see from an immediate in two or three
 * instructions (mov, vmovd, vpbroadcastb) at each use. Hidden: addressed directly.
 */
__attribute__((
    visibility("hidden"))) extern const int8_t flare_http__simd_rows[FLARE_HTTP__ROWS][64];

/** A row as a 16-, 32- or 64-byte vector (only in functions of the matching target). */
#define FLARE_HTTP__XMM(row)                                                                       \
    _mm_load_si128((const __m128i *)(const void *)flare_http__simd_rows[row])
#define FLARE_HTTP__YMM(row)                                                                       \
    _mm256_load_si256((const __m256i *)(const void *)flare_http__simd_rows[row])
#define FLARE_HTTP__ZMM(row) _mm512_load_si512((const void *)flare_http__simd_rows[row])

/** The active path, -1 before the first use detects it (simd.c). */
extern atomic_int flare_http__active_path;

/**
 * flare_http_simd_active() with its usual case inline: the parsers' dispatchers
 * then only load and jump, and call out just on the first use.
 */
static inline flare_http_simd flare_http__path(void)
{
    int path = atomic_load_explicit(&flare_http__active_path, memory_order_relaxed);
    if (__builtin_expect(path >= 0, 1)) return (flare_http_simd)path;
    return flare_http_simd_active();
}

/** The scanners of the active path (detected at first use unless forced). */
const flare_http_scan_ops *flare_http__scan_ops(void);

/** Bitmap of tchar (RFC 9110 §5.6.2): bit c of the 256-bit set. */
extern const uint64_t flare_http__tchar_bits[4];

/** True when c is a tchar. */
static inline bool flare_http__is_tchar(unsigned char c);

/** Scalar scanner: first '\n' in p[pos..end), or end. */
static inline size_t flare_http__scalar_lf_end(const char *p, size_t pos, size_t end);
/** Scalar scanner: first byte outside 0x21..0x7E in p[pos..end), or end. */
static inline size_t flare_http__scalar_target_end(const char *p, size_t pos, size_t end);
/** Scalar scanner: first byte that is not HTAB/SP/VCHAR/obs-text in p[pos..end), or end. */
static inline size_t flare_http__scalar_value_end(const char *p, size_t pos, size_t end);
/** Scalar scanner: first non-tchar in p[pos..end), or end. */
static inline size_t flare_http__scalar_token_end(const char *p, size_t pos, size_t end);

/**
 * Stop masks of 64 bytes of a head: bit i describes p[base + i], and bytes at or
 * past the end of the input read as "no stop". Chunks follow each other at fixed
 * steps, not at the places the parse reaches, so the CPU classifies the next one
 * while the fields of this one are still being split.
 */
typedef struct flare_http__chunk {
    size_t base;
    uint64_t tok; /**< bit i: p[base + i] is not a tchar */
    uint64_t val; /**< bit i: p[base + i] is not HTAB, SP, VCHAR or obs-text */
} flare_http__chunk;

/** Fills *c for p[base .. min(base + 64, end)); one per path. */
typedef void flare_http__chunk_fn(const char *p, size_t base, size_t end, flare_http__chunk *c);

/** The chunk classifier of the scalar path, a byte at a time (the SIMD paths never fall back to
 * it). */
static inline void flare_http__scalar_chunk_at(const char *p, size_t base, size_t end,
                                               flare_http__chunk *c);

/**
 * First stop at or after q (c->base <= q) in the token mask (val false) or the
 * value mask, moving *c on through the input; end when there is none.
 */
static inline size_t flare_http__chunk_next(const char *p, size_t q, size_t end,
                                            flare_http__chunk *c, bool val,
                                            flare_http__chunk_fn *chunk_at);

/**
 * Splits the field line at p[pos..end) (pos < end, c->base <= pos): returns true
 * when it is a whole `token ":" value CRLF`, with *colon at the colon and *cr at
 * the CR. False decides nothing: the caller must look again with the scanners.
 * A value stop cannot lie in a name, so the CR is the first value stop from pos
 * and both searches start at once. With `step`, a value that runs into the next
 * chunk has that chunk classified in line, where it usually ends; only a value that
 * runs past it too goes on through the loop for longer values.
 */
static inline bool flare_http__split_field_line(const char *p, size_t pos, size_t end,
                                                flare_http__chunk *c,
                                                flare_http__chunk_fn *chunk_at, bool step,
                                                size_t *colon, size_t *cr);

#ifdef FLARE_HTTP_X86_SIMD
#define FLARE_HTTP__SSE42  __attribute__((target("sse4.2")))
#define FLARE_HTTP__AVX2   __attribute__((target("avx2")))
#define FLARE_HTTP__AVX512 __attribute__((target("avx2,avx512f,avx512bw")))

/** The four scanners over 16-byte blocks (SSE2/SSSE3 instructions): '\n'. */
FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_lf_end(const char *p, size_t pos,
                                                                size_t end);
/** SSE4.2-path request-target scanner. */
FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_target_end(const char *p, size_t pos,
                                                                    size_t end);
/** SSE4.2-path field-value scanner. */
FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_value_end(const char *p, size_t pos,
                                                                   size_t end);
/** SSE4.2-path token scanner. */
FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_token_end(const char *p, size_t pos,
                                                                   size_t end);
/** SSE4.2-path chunk classifier (four 16-byte blocks). */
FLARE_HTTP__SSE42 static inline void flare_http__sse42_chunk_at(const char *p, size_t base,
                                                                size_t end, flare_http__chunk *c);
/** The chunk at 0 of p[0..end), a head under 64 bytes as overlapping 16-byte blocks. */
FLARE_HTTP__SSE42 static inline void flare_http__sse42_first_chunk(const char *p, size_t end,
                                                                   flare_http__chunk *c);
/** The four scanners over 32-byte blocks: '\n'. */
FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_lf_end(const char *p, size_t pos,
                                                              size_t end);
/** AVX2 request-target scanner. */
FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_target_end(const char *p, size_t pos,
                                                                  size_t end);
/** AVX2 field-value scanner. */
FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_value_end(const char *p, size_t pos,
                                                                 size_t end);
/** AVX2 token scanner. */
FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_token_end(const char *p, size_t pos,
                                                                 size_t end);
/** AVX2 chunk classifier (two 32-byte blocks). */
FLARE_HTTP__AVX2 static inline void flare_http__avx2_chunk_at(const char *p, size_t base,
                                                              size_t end, flare_http__chunk *c);
/** The chunk at 0 of p[0..end), a head under 64 bytes as two overlapping 32-byte blocks. */
FLARE_HTTP__AVX2 static inline void flare_http__avx2_first_chunk(const char *p, size_t end,
                                                                 flare_http__chunk *c);
/* The AVX-512BW scanners flare_http__avx512_{lf,target,value,token}_end, over
 * 64-byte blocks with the last one loaded under a mask, are defined below
 * (FLARE_HTTP__AVX512_SCANNER) with the same contract as the others. */
/** AVX-512BW chunk classifier: one 64-byte load, the masks straight from compares. */
FLARE_HTTP__AVX512 static inline void flare_http__avx512_chunk_at(const char *p, size_t base,
                                                                  size_t end, flare_http__chunk *c);
#endif

/* inline definitions */

static inline bool flare_http__is_tchar(unsigned char c)
{
    return (flare_http__tchar_bits[c >> 6] >> (c & 63)) & 1u;
}

/* --- scalar: eight bytes at a time where a byte class is a range ----------------------------- */

#define FLARE_HTTP__ONES  0x0101010101010101u
#define FLARE_HTTP__HIGHS 0x8080808080808080u

static inline uint64_t flare_http__load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Byte-wise flags (0x80 per byte) for bytes below k (k <= 0x80) and bytes equal
 * to k. Borrows only run towards higher bytes, so the lowest flagged byte is
 * always a true match, which is all a scanner needs; bytes are little-endian. */
static inline uint64_t flare_http__below(uint64_t x, uint8_t k)
{
    return (x - FLARE_HTTP__ONES * k) & ~x & FLARE_HTTP__HIGHS;
}

static inline uint64_t flare_http__equal(uint64_t x, uint8_t k)
{
    return flare_http__below(x ^ (FLARE_HTTP__ONES * k), 1);
}

/* The bytes of y, each below 0x80, that lie in lo..hi, flagged in their high bits
 * (the other bits are left over; callers mask with FLARE_HTTP__HIGHS): every
 * lane's sum stays within its byte, so each flag is exact. */
static inline uint64_t flare_http__in_range7(uint64_t y, uint8_t lo, uint8_t hi)
{
    return (y + FLARE_HTTP__ONES * (uint8_t)(0x80 - lo)) & ~(y + FLARE_HTTP__ONES * (0x7f - hi));
}

static inline bool flare_http__little_endian(void)
{
    return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

static inline size_t flare_http__scalar_lf_end(const char *p, size_t pos, size_t end)
{
    size_t i = pos;
    if (flare_http__little_endian())
        for (; i + 8 <= end; i += 8) {
            uint64_t m = flare_http__equal(flare_http__load64(p + i), '\n');
            if (m) return i + (size_t)__builtin_ctzll(m) / 8;
        }
    for (; i < end; i++)
        if (p[i] == '\n') return i;
    return end;
}

static inline size_t flare_http__scalar_target_end(const char *p, size_t pos, size_t end)
{
    size_t i = pos;
    if (flare_http__little_endian())
        for (; i + 8 <= end; i += 8) {
            uint64_t x = flare_http__load64(p + i);
            /* below 0x21, or 0x7F and up (0xFF carries, but only upwards), or '#' */
            uint64_t m = flare_http__below(x, 0x21) |
                         ((x | (x + FLARE_HTTP__ONES)) & FLARE_HTTP__HIGHS) |
                         flare_http__equal(x, '#');
            if (m) return i + (size_t)__builtin_ctzll(m) / 8;
        }
    for (; i < end; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c > 0x7e || c == '#') return i;
    }
    return end;
}

static inline size_t flare_http__scalar_value_end(const char *p, size_t pos, size_t end)
{
    size_t i = pos;
    if (flare_http__little_endian())
        while (i + 8 <= end) {
            uint64_t x = flare_http__load64(p + i);
            uint64_t m = flare_http__below(x, 0x20) | flare_http__equal(x, 0x7f);
            if (!m) {
                i += 8;
                continue;
            }
            i += (size_t)__builtin_ctzll(m) / 8;
            /* HTAB is the one control byte a value may hold: step over it. */
            if (p[i] != '\t') return i;
            i++;
        }
    for (; i < end; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return i;
    }
    return end;
}

/* The token scan a byte at a time: for the scalar scan's tail and for inputs too
 * short for a SIMD block, where the eight-byte scan does not pay. */
static inline size_t flare_http__tchar_run_end(const char *p, size_t pos, size_t end)
{
    for (size_t i = pos; i < end; i++)
        if (!flare_http__is_tchar((unsigned char)p[i])) return i;
    return end;
}

static inline size_t flare_http__scalar_token_end(const char *p, size_t pos, size_t end)
{
    size_t i = pos;
    if (flare_http__little_endian())
        while (i + 8 <= end) {
            uint64_t x = flare_http__load64(p + i), y = x & ~FLARE_HTTP__HIGHS;
            /* Letters (either case), digits and '-', what field names are made of. */
            uint64_t common = flare_http__in_range7(y | FLARE_HTTP__ONES * 0x20, 'a', 'z') |
                              flare_http__in_range7(y, '0', '9') |
                              flare_http__in_range7(y, '-', '-');
            uint64_t other = ~(common & ~x) & FLARE_HTTP__HIGHS;
            if (!other) {
                i += 8;
                continue;
            }
            i += (size_t)__builtin_ctzll(other) / 8;
            /* The other tchars ("!#$%&'*+.^_`|~") are rare in a token: step over one. */
            if (!flare_http__is_tchar((unsigned char)p[i])) return i;
            i++;
        }
    return flare_http__tchar_run_end(p, i, end);
}

/* --- chunks: shared by the paths ------------------------------------------------------------ */

static inline void flare_http__scalar_chunk_at(const char *p, size_t base, size_t end,
                                               flare_http__chunk *c)
{
    size_t n = end - base < 64 ? end - base : 64;
    c->base = base;
    c->tok = c->val = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[base + i];
        c->tok |= (uint64_t)!flare_http__is_tchar(b) << i;
        c->val |= (uint64_t)((b < 0x20 && b != '\t') || b == 0x7f) << i;
    }
}

static inline size_t flare_http__chunk_next(const char *p, size_t q, size_t end,
                                            flare_http__chunk *c, bool val,
                                            flare_http__chunk_fn *chunk_at)
{
    for (;;) {
        if (q < c->base + 64) {
            uint64_t m = (val ? c->val : c->tok) >> (q - c->base);
            if (m) return q + (size_t)__builtin_ctzll(m);
            q = c->base + 64; /* nothing before the next chunk */
        }
        if (q >= end) return end;
        /* The next chunk, or one at q when q lies further on. */
        chunk_at(p, q - c->base < 128 ? c->base + 64 : q, end, c);
    }
}

/* The first value stop in the chunks after *c (long values, such as cookies and
 * user agents, cross several), moving *c on; end when there is none. */
static inline __attribute__((always_inline)) size_t
flare_http__chunk_next_value(const char *p, size_t end, flare_http__chunk *c,
                             flare_http__chunk_fn *chunk_at)
{
    for (size_t base = c->base + 64; base < end; base += 64) {
        chunk_at(p, base, end, c);
        if (c->val) return base + (size_t)__builtin_ctzll(c->val);
    }
    return end;
}

static inline __attribute__((always_inline)) bool
flare_http__split_field_line(const char *p, size_t pos, size_t end, flare_http__chunk *c,
                             flare_http__chunk_fn *chunk_at, bool step, size_t *colon, size_t *cr)
{
    size_t off = pos - c->base;
    uint64_t tok = off < 64 ? c->tok >> off : 0;
    if (__builtin_expect(tok != 0, 1)) {
        uint64_t val = c->val >> off;
        *colon = pos + (size_t)__builtin_ctzll(tok);
        if (__builtin_expect(val != 0, 1)) {
            *cr = pos + (size_t)__builtin_ctzll(val);
        } else if (p[*colon] != ':') {
            return false;
        } else if (!step) {
            *cr = flare_http__chunk_next_value(p, end, c, chunk_at);
        } else {
            /* The value runs into the next chunk, where it usually ends. */
            size_t next = c->base + 64;
            if (next >= end) return false;
            chunk_at(p, next, end, c);
            *cr = c->val ? next + (size_t)__builtin_ctzll(c->val)
                         : flare_http__chunk_next_value(p, end, c, chunk_at);
        }
    } else {
        /* The name runs into the next chunk. */
        *colon = flare_http__chunk_next(p, pos, end, c, false, chunk_at);
        if (*colon == end || p[*colon] != ':') return false;
        *cr = flare_http__chunk_next(p, *colon + 1, end, c, true, chunk_at);
    }
    /* CR LF read as one 16-bit word (bytes in memory order, so compared with the
     * same two bytes loaded from a literal). */
    uint16_t crlf, want;
    if (*colon == pos || p[*colon] != ':' || *cr + 1 >= end) return false;
    memcpy(&crlf, p + *cr, 2);
    memcpy(&want, "\r\n", 2);
    return crlf == want;
}

#ifdef FLARE_HTTP_X86_SIMD

/* --- SSE4.2 path: 16-byte blocks ---------------------------------------------------------- */

/* Each *_stops function maps a block to a bit mask of its stop bytes. */
FLARE_HTTP__SSE42 static inline uint32_t flare_http__sse_lf_stops(__m128i b)
{
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_LF)));
}

FLARE_HTTP__SSE42 static inline uint32_t flare_http__sse_target_stops(__m128i b)
{
    /* Signed compares: bytes >= 0x80 are negative, so they fail "> 0x20" too. */
    __m128i in = _mm_and_si128(_mm_cmpgt_epi8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_SP)),
                               _mm_cmpgt_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_DEL), b));
    in = _mm_andnot_si128(_mm_cmpeq_epi8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_HASH)), in);
    return (uint32_t)_mm_movemask_epi8(in) ^ 0xffffu;
}

FLARE_HTTP__SSE42 static inline uint32_t flare_http__sse_value_stops(__m128i b)
{
    /* CTLs except HTAB, and DEL (RFC 9110 §5.5). */
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_CTL_LAST)), b);
    __m128i tab = _mm_cmpeq_epi8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_TAB));
    __m128i del = _mm_cmpeq_epi8(b, FLARE_HTTP__XMM(FLARE_HTTP__ROW_DEL));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(tab, ctl), del));
}

/* Classes by nibble lookup: row[low nibble] holds one bit per high nibble (0..7)
 * whose byte is in the class; bit_of[high nibble] is that bit, 0 for bytes
 * >= 0x80. tchar rows are 0xe8 0xfc 0xf8 0xfc 0xfc 0xfc 0xfc 0xfc 0xf8 0xf8 0xf4
 * 0x54 0xd0 0x54 0xf4 0x70; value-stop rows (CTLs but HTAB, and DEL) are 3 but
 * for 9 (2) and 15 (0x83). Written as signed chars, the rows' type (simd.c). */
#define FLARE_HTTP__TCHAR_ROWS                                                                     \
    -0x18, -0x04, -0x08, -0x04, -0x04, -0x04, -0x04, -0x04, -0x08, -0x08, -0x0c, 0x54, -0x30,      \
        0x54, -0x0c, 0x70
#define FLARE_HTTP__VALUE_STOP_ROWS 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 3, 3, 3, 3, -0x7d
#define FLARE_HTTP__HIGH_NIBBLE_BIT 1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0

FLARE_HTTP__SSE42 static inline uint32_t flare_http__sse_token_stops(__m128i b)
{
    const __m128i nib = FLARE_HTTP__XMM(FLARE_HTTP__ROW_NIBBLE);
    __m128i lo = _mm_and_si128(b, nib);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), nib);
    __m128i hit = _mm_and_si128(_mm_shuffle_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_TCHAR), lo),
                                _mm_shuffle_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_HIGH_BIT), hi));
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(hit, _mm_setzero_si128()));
}

/* Token and value stop masks of one block, sharing the nibble split. */
FLARE_HTTP__SSE42 static inline void flare_http__sse_line_stops(__m128i b, uint32_t *tok,
                                                                uint32_t *val)
{
    const __m128i nib = FLARE_HTTP__XMM(FLARE_HTTP__ROW_NIBBLE);
    __m128i lo = _mm_and_si128(b, nib);
    __m128i hi = _mm_shuffle_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_HIGH_BIT),
                                  _mm_and_si128(_mm_srli_epi16(b, 4), nib));
    __m128i t = _mm_and_si128(_mm_shuffle_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_TCHAR), lo), hi);
    __m128i v =
        _mm_and_si128(_mm_shuffle_epi8(FLARE_HTTP__XMM(FLARE_HTTP__ROW_VALUE_STOP), lo), hi);
    *tok = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(t, _mm_setzero_si128()));
    *val = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) ^ 0xffffu;
}

FLARE_HTTP__SSE42 static inline __m128i flare_http__sse_load(const char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* The scan loop shared by the scanners of one width: whole blocks from pos, then
 * one block ending at `end` whose bytes before i (already passed) are shifted
 * out; `narrow` takes inputs shorter than a block. */
#define FLARE_HTTP__SCAN(width, load, stops, narrow)                                               \
    size_t i = pos;                                                                                \
    for (; i + (width) <= end; i += (width)) {                                                     \
        uint32_t m = stops(load(p + i));                                                           \
        if (m) return i + (size_t)__builtin_ctz(m);                                                \
    }                                                                                              \
    if (i >= end) return end;                                                                      \
    if (end < (width)) return narrow(p, i, end);                                                   \
    uint32_t m = stops(load(p + end - (width))) >> (i - (end - (width)));                          \
    return m ? i + (size_t)__builtin_ctz(m) : end

FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_lf_end(const char *p, size_t pos,
                                                                size_t end)
{
    FLARE_HTTP__SCAN(16, flare_http__sse_load, flare_http__sse_lf_stops, flare_http__scalar_lf_end);
}

FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_target_end(const char *p, size_t pos,
                                                                    size_t end)
{
    FLARE_HTTP__SCAN(16, flare_http__sse_load, flare_http__sse_target_stops,
                     flare_http__scalar_target_end);
}

FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_value_end(const char *p, size_t pos,
                                                                   size_t end)
{
    FLARE_HTTP__SCAN(16, flare_http__sse_load, flare_http__sse_value_stops,
                     flare_http__scalar_value_end);
}

FLARE_HTTP__SSE42 static inline size_t flare_http__sse42_token_end(const char *p, size_t pos,
                                                                   size_t end)
{
    FLARE_HTTP__SCAN(16, flare_http__sse_load, flare_http__sse_token_stops,
                     flare_http__tchar_run_end);
}

/*
 * The body of a SIMD path's chunk_at, given its 64-byte classifier STOPS64. A
 * chunk that would run past end is the 64 bytes ending at end, those before base
 * shifted out. A whole input under 64 bytes (a short request such as wrk's) is
 * classified from a zero-padded copy, and the padding's bits are dropped: no
 * byte outside p[0..end) is read, and no byte is looked at one at a time.
 */
#define FLARE_HTTP__CHUNK_AT(STOPS64)                                                              \
    do {                                                                                           \
        uint64_t tok_, val_;                                                                       \
        c->base = base;                                                                            \
        if (base + 64 <= end) {                                                                    \
            STOPS64(p + base, &tok_, &val_);                                                       \
            c->tok = tok_;                                                                         \
            c->val = val_;                                                                         \
        } else if (end >= 64) {                                                                    \
            size_t shift_ = base - (end - 64);                                                     \
            STOPS64(p + end - 64, &tok_, &val_);                                                   \
            c->tok = tok_ >> shift_;                                                               \
            c->val = val_ >> shift_;                                                               \
        } else {                                                                                   \
            char pad_[64] = {0};                                                                   \
            size_t n_ = end - base;                                                                \
            if (n_) memcpy(pad_, p + base, n_); /* p is NULL when end is 0 */                      \
            STOPS64(pad_, &tok_, &val_);                                                           \
            uint64_t keep_ = ((uint64_t)1 << n_) - 1;                                              \
            c->tok = tok_ & keep_;                                                                 \
            c->val = val_ & keep_;                                                                 \
        }                                                                                          \
    } while (0)

/*
 * The body of a SIMD path's first_chunk: the chunk at 0, as its chunk_at (CHUNK_AT,
 * over STOPS64) would give it, except that an input under 64 bytes but of at least
 * one WIDTH-byte block (read by LOAD, classified by LINE_STOPS) is read in blocks
 * that overlap where they must for the last one to end at end, not from a padded
 * copy: a byte read twice is classified the same both times, so the masks are ORed
 * in place. Only the first chunk can be so short, so the field loop's chunk_at
 * carries no such case.
 */
#define FLARE_HTTP__FIRST_CHUNK(STOPS64, CHUNK_AT, WIDTH, LOAD, LINE_STOPS)                        \
    do {                                                                                           \
        c->base = 0;                                                                               \
        if (end >= 64) {                                                                           \
            STOPS64(p, &c->tok, &c->val);                                                          \
            return;                                                                                \
        }                                                                                          \
        if (end < (WIDTH)) {                                                                       \
            CHUNK_AT(p, 0, end, c);                                                                \
            return;                                                                                \
        }                                                                                          \
        c->tok = c->val = 0;                                                                       \
        for (size_t at_ = 0;; at_ += (WIDTH)) {                                                    \
            if (at_ > end - (WIDTH)) at_ = end - (WIDTH);                                          \
            uint32_t t_, v_;                                                                       \
            LINE_STOPS(LOAD(p + at_), &t_, &v_);                                                   \
            c->tok |= (uint64_t)t_ << at_;                                                         \
            c->val |= (uint64_t)v_ << at_;                                                         \
            if (at_ == end - (WIDTH)) return;                                                      \
        }                                                                                          \
    } while (0)

/* The stop masks of the 64 bytes at q. */
FLARE_HTTP__SSE42 static inline void flare_http__sse42_stops64(const char *q, uint64_t *tok,
                                                               uint64_t *val)
{
    *tok = *val = 0;
    for (unsigned k = 0; k < 4; k++) {
        uint32_t t, v;
        flare_http__sse_line_stops(flare_http__sse_load(q + 16 * k), &t, &v);
        *tok |= (uint64_t)t << (16 * k);
        *val |= (uint64_t)v << (16 * k);
    }
}

FLARE_HTTP__SSE42 static inline void flare_http__sse42_chunk_at(const char *p, size_t base,
                                                                size_t end, flare_http__chunk *c)
{
    FLARE_HTTP__CHUNK_AT(flare_http__sse42_stops64);
}

FLARE_HTTP__SSE42 static inline void flare_http__sse42_first_chunk(const char *p, size_t end,
                                                                   flare_http__chunk *c)
{
    FLARE_HTTP__FIRST_CHUNK(flare_http__sse42_stops64, flare_http__sse42_chunk_at, 16,
                            flare_http__sse_load, flare_http__sse_line_stops);
}

/* --- AVX2 path: 32-byte blocks ------------------------------------------------------------ */

FLARE_HTTP__AVX2 static inline uint32_t flare_http__avx_lf_stops(__m256i b)
{
    return (uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_LF)));
}

FLARE_HTTP__AVX2 static inline uint32_t flare_http__avx_target_stops(__m256i b)
{
    __m256i in = _mm256_and_si256(_mm256_cmpgt_epi8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_SP)),
                                  _mm256_cmpgt_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_DEL), b));
    in = _mm256_andnot_si256(_mm256_cmpeq_epi8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_HASH)), in);
    return ~(uint32_t)_mm256_movemask_epi8(in);
}

FLARE_HTTP__AVX2 static inline uint32_t flare_http__avx_value_stops(__m256i b)
{
    __m256i ctl =
        _mm256_cmpeq_epi8(_mm256_min_epu8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_CTL_LAST)), b);
    __m256i tab = _mm256_cmpeq_epi8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_TAB));
    __m256i del = _mm256_cmpeq_epi8(b, FLARE_HTTP__YMM(FLARE_HTTP__ROW_DEL));
    return (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(_mm256_andnot_si256(tab, ctl), del));
}

FLARE_HTTP__AVX2 static inline uint32_t flare_http__avx_token_stops(__m256i b)
{
    const __m256i nib = FLARE_HTTP__YMM(FLARE_HTTP__ROW_NIBBLE);
    __m256i lo = _mm256_and_si256(b, nib);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib);
    __m256i hit =
        _mm256_and_si256(_mm256_shuffle_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_TCHAR), lo),
                         _mm256_shuffle_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_HIGH_BIT), hi));
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, _mm256_setzero_si256()));
}

FLARE_HTTP__AVX2 static inline void flare_http__avx_line_stops(__m256i b, uint32_t *tok,
                                                               uint32_t *val)
{
    const __m256i nib = FLARE_HTTP__YMM(FLARE_HTTP__ROW_NIBBLE);
    __m256i lo = _mm256_and_si256(b, nib);
    __m256i hi = _mm256_shuffle_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_HIGH_BIT),
                                     _mm256_and_si256(_mm256_srli_epi16(b, 4), nib));
    __m256i t =
        _mm256_and_si256(_mm256_shuffle_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_TCHAR), lo), hi);
    __m256i v =
        _mm256_and_si256(_mm256_shuffle_epi8(FLARE_HTTP__YMM(FLARE_HTTP__ROW_VALUE_STOP), lo), hi);
    *tok = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(t, _mm256_setzero_si256()));
    *val = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256()));
}

FLARE_HTTP__AVX2 static inline __m256i flare_http__avx_load(const char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_lf_end(const char *p, size_t pos, size_t end)
{
    FLARE_HTTP__SCAN(32, flare_http__avx_load, flare_http__avx_lf_stops, flare_http__sse42_lf_end);
}

FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_target_end(const char *p, size_t pos,
                                                                  size_t end)
{
    FLARE_HTTP__SCAN(32, flare_http__avx_load, flare_http__avx_target_stops,
                     flare_http__sse42_target_end);
}

FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_value_end(const char *p, size_t pos,
                                                                 size_t end)
{
    FLARE_HTTP__SCAN(32, flare_http__avx_load, flare_http__avx_value_stops,
                     flare_http__sse42_value_end);
}

FLARE_HTTP__AVX2 static inline size_t flare_http__avx2_token_end(const char *p, size_t pos,
                                                                 size_t end)
{
    FLARE_HTTP__SCAN(32, flare_http__avx_load, flare_http__avx_token_stops,
                     flare_http__sse42_token_end);
}

/* The stop masks of the 64 bytes at q. */
FLARE_HTTP__AVX2 static inline void flare_http__avx2_stops64(const char *q, uint64_t *tok,
                                                             uint64_t *val)
{
    uint32_t t0, v0, t1, v1;
    flare_http__avx_line_stops(flare_http__avx_load(q), &t0, &v0);
    flare_http__avx_line_stops(flare_http__avx_load(q + 32), &t1, &v1);
    *tok = (uint64_t)t1 << 32 | t0;
    *val = (uint64_t)v1 << 32 | v0;
}

FLARE_HTTP__AVX2 static inline void flare_http__avx2_chunk_at(const char *p, size_t base,
                                                              size_t end, flare_http__chunk *c)
{
    FLARE_HTTP__CHUNK_AT(flare_http__avx2_stops64);
}

FLARE_HTTP__AVX2 static inline void flare_http__avx2_first_chunk(const char *p, size_t end,
                                                                 flare_http__chunk *c)
{
    FLARE_HTTP__FIRST_CHUNK(flare_http__avx2_stops64, flare_http__avx2_chunk_at, 32,
                            flare_http__avx_load, flare_http__avx_line_stops);
}

/* --- AVX-512BW path: 64-byte blocks, compares straight into 64-bit masks -------------------- */

/* Bit i set for i < n (n <= 64): the bytes of a block that lie in the input. */
static inline uint64_t flare_http__live_bytes(size_t n)
{
    return n >= 64 ? UINT64_MAX : ((uint64_t)1 << n) - 1;
}

/* p[0..n) in a block, the bytes from n on zero and not read (n <= 64): a masked
 * load touches only the bytes it keeps, so it cannot fault past the input. */
FLARE_HTTP__AVX512 static inline __m512i flare_http__avx512_load(const char *p, size_t n)
{
    if (n >= 64) return _mm512_loadu_si512((const void *)p);
    return _mm512_maskz_loadu_epi8(flare_http__live_bytes(n), (const void *)p);
}

FLARE_HTTP__AVX512 static inline uint64_t flare_http__avx512_lf_stops(__m512i b)
{
    return _mm512_cmpeq_epi8_mask(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_LF));
}

FLARE_HTTP__AVX512 static inline uint64_t flare_http__avx512_target_stops(__m512i b)
{
    /* 0x21..0x7E moved to 0..0x5D: one unsigned compare finds the rest. */
    return _mm512_cmpgt_epu8_mask(_mm512_sub_epi8(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_21)),
                                  FLARE_HTTP__ZMM(FLARE_HTTP__ROW_5D)) |
           _mm512_cmpeq_epi8_mask(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_HASH));
}

FLARE_HTTP__AVX512 static inline uint64_t flare_http__avx512_value_stops(__m512i b)
{
    /* CTLs except HTAB, and DEL (RFC 9110 §5.5). */
    uint64_t ctl = _mm512_cmplt_epu8_mask(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_SP));
    ctl = _mm512_mask_cmpneq_epi8_mask(ctl, b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_TAB));
    return ctl | _mm512_cmpeq_epi8_mask(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_DEL));
}

/* Token and value stop masks of one block by the nibble lookup of the other
 * paths (FLARE_HTTP__TCHAR_ROWS), with the test instructions giving the masks. */
FLARE_HTTP__AVX512 static inline void flare_http__avx512_line_stops(__m512i b, uint64_t *tok,
                                                                    uint64_t *val)
{
    const __m512i nib = FLARE_HTTP__ZMM(FLARE_HTTP__ROW_NIBBLE);
    __m512i lo = _mm512_and_si512(b, nib);
    __m512i hi = _mm512_shuffle_epi8(FLARE_HTTP__ZMM(FLARE_HTTP__ROW_HIGH_BIT),
                                     _mm512_and_si512(_mm512_srli_epi16(b, 4), nib));
    *tok =
        _mm512_testn_epi8_mask(_mm512_shuffle_epi8(FLARE_HTTP__ZMM(FLARE_HTTP__ROW_TCHAR), lo), hi);
    *val = _mm512_test_epi8_mask(
        _mm512_shuffle_epi8(FLARE_HTTP__ZMM(FLARE_HTTP__ROW_VALUE_STOP), lo), hi);
}

FLARE_HTTP__AVX512 static inline uint64_t flare_http__avx512_token_stops(__m512i b)
{
    uint64_t tok, val;
    flare_http__avx512_line_stops(b, &tok, &val);
    (void)val;
    return tok;
}

/* Whole blocks from pos, then the rest under a mask; bytes past end never stop. */
#define FLARE_HTTP__SCAN64(stops)                                                                  \
    size_t i = pos;                                                                                \
    for (; i + 64 <= end; i += 64) {                                                               \
        uint64_t m = stops(_mm512_loadu_si512((const void *)(p + i)));                             \
        if (m) return i + (size_t)__builtin_ctzll(m);                                              \
    }                                                                                              \
    if (i >= end) return end;                                                                      \
    uint64_t m = stops(flare_http__avx512_load(p + i, end - i)) & flare_http__live_bytes(end - i); \
    return m ? i + (size_t)__builtin_ctzll(m) : end

#define FLARE_HTTP__AVX512_SCANNER(kind)                                                           \
    FLARE_HTTP__AVX512 static inline size_t flare_http__avx512_##kind##_end(                       \
        const char *p, size_t pos, size_t end)                                                     \
    {                                                                                              \
        FLARE_HTTP__SCAN64(flare_http__avx512_##kind##_stops);                                     \
    }

FLARE_HTTP__AVX512_SCANNER(lf)
FLARE_HTTP__AVX512_SCANNER(target)
FLARE_HTTP__AVX512_SCANNER(value)
FLARE_HTTP__AVX512_SCANNER(token)

FLARE_HTTP__AVX512 static inline void flare_http__avx512_chunk_at(const char *p, size_t base,
                                                                  size_t end, flare_http__chunk *c)
{
    uint64_t tok = 0, val = 0;
    if (base < end) {
        size_t n = end - base;
        uint64_t live = flare_http__live_bytes(n);
        flare_http__avx512_line_stops(flare_http__avx512_load(p + base, n), &tok, &val);
        tok &= live;
        val &= live;
    }
    c->base = base;
    c->tok = tok;
    c->val = val;
}

#endif /* FLARE_HTTP_X86_SIMD */

#endif
