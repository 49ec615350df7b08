/*
 * simd_x86.c: SSE4.2 and AVX2 scanners. Functions carry their own target
 * attribute, so the file builds without global -m flags and is only called after
 * CPU detection (simd.c). Each kernel computes a mask of "stop" bytes per block;
 * the tail is one overlapping block ending at n, so nothing is read outside
 * p[0..n) and inputs shorter than a block fall back to the narrower path.
 */
#include "simd.h"

#ifdef FLARE_HTTP_X86_SIMD

#include <immintrin.h>

#define SSE42 __attribute__((target("sse4.2")))
#define AVX2  __attribute__((target("avx2")))

/* Scans with a stop-mask function over 16- or 32-byte blocks; `narrow` handles
 * inputs shorter than one block. The tail block overlaps bytes already scanned,
 * which hold no stop byte, so its first stop is the answer. */
#define DEFINE_SCAN(attr, name, vec, width, load, stopmask, narrow)                                \
    attr static size_t name(const char *p, size_t n)                                               \
    {                                                                                              \
        if (n < (width)) return narrow(p, n);                                                      \
        size_t i = 0;                                                                              \
        for (; i + (width) <= n; i += (width)) {                                                   \
            uint32_t m = stopmask(load((const vec *)(const void *)(p + i)));                       \
            if (m) return i + (size_t)__builtin_ctz(m);                                            \
        }                                                                                          \
        if (i == n) return n;                                                                      \
        size_t base = n - (width);                                                                 \
        uint32_t m = stopmask(load((const vec *)(const void *)(p + base)));                        \
        return m ? base + (size_t)__builtin_ctz(m) : n;                                            \
    }

/* --- SSE4.2 ------------------------------------------------------------------------------- */

SSE42 static inline uint32_t sse_lf_stops(__m128i b)
{
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('\n')));
}

/* PCMPESTRM with a range list: bit i set when byte i lies in one of the ranges. */
SSE42 static inline uint32_t sse_target_stops(__m128i b)
{
    const __m128i ranges = _mm_setr_epi8(0x21, 0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    __m128i in =
        _mm_cmpestrm(ranges, 2, b, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_BIT_MASK);
    return ~(uint32_t)_mm_cvtsi128_si32(in) & 0xffffu;
}

SSE42 static inline uint32_t sse_value_stops(__m128i b)
{
    /* CTLs except HTAB, and DEL (RFC 9110 §5.5). */
    const __m128i ranges =
        _mm_setr_epi8(0x00, 0x08, 0x0a, 0x1f, 0x7f, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    __m128i in =
        _mm_cmpestrm(ranges, 6, b, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_BIT_MASK);
    return (uint32_t)_mm_cvtsi128_si32(in) & 0xffffu;
}

SSE42 static inline uint32_t sse_token_stops(__m128i b)
{
    /* tchar needs nine ranges and PCMPESTRM takes eight: the last one, 0x7c..0x7e,
     * also admits '}', which a byte compare takes out again. */
    const __m128i ranges = _mm_setr_epi8(0x21, 0x21, 0x23, 0x27, 0x2a, 0x2b, 0x2d, 0x2e, 0x30, 0x39,
                                         0x41, 0x5a, 0x5e, 0x7a, 0x7c, 0x7e);
    __m128i in =
        _mm_cmpestrm(ranges, 16, b, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_BIT_MASK);
    uint32_t brace = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('}')));
    return (~(uint32_t)_mm_cvtsi128_si32(in) | brace) & 0xffffu;
}

DEFINE_SCAN(SSE42, sse42_find_lf, __m128i, 16, _mm_loadu_si128, sse_lf_stops,
            flare_http__scan_scalar.find_lf)
DEFINE_SCAN(SSE42, sse42_skip_target, __m128i, 16, _mm_loadu_si128, sse_target_stops,
            flare_http__scan_scalar.skip_target)
DEFINE_SCAN(SSE42, sse42_skip_value, __m128i, 16, _mm_loadu_si128, sse_value_stops,
            flare_http__scan_scalar.skip_value)
DEFINE_SCAN(SSE42, sse42_skip_token, __m128i, 16, _mm_loadu_si128, sse_token_stops,
            flare_http__scan_scalar.skip_token)

const flare_http_scan_ops flare_http__scan_sse42 = {
    sse42_find_lf,
    sse42_skip_target,
    sse42_skip_value,
    sse42_skip_token,
};

/* --- AVX2 --------------------------------------------------------------------------------- */

AVX2 static inline uint32_t avx_lf_stops(__m256i b)
{
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, _mm256_set1_epi8('\n')));
}

AVX2 static inline uint32_t avx_target_stops(__m256i b)
{
    /* Signed compares: bytes >= 0x80 are negative, so they fail "> 0x20" too. */
    __m256i in = _mm256_and_si256(_mm256_cmpgt_epi8(b, _mm256_set1_epi8(0x20)),
                                  _mm256_cmpgt_epi8(_mm256_set1_epi8(0x7f), b));
    return ~(uint32_t)_mm256_movemask_epi8(in);
}

AVX2 static inline uint32_t avx_value_stops(__m256i b)
{
    __m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(b, _mm256_set1_epi8(0x1f)), b);
    __m256i tab = _mm256_cmpeq_epi8(b, _mm256_set1_epi8('\t'));
    __m256i del = _mm256_cmpeq_epi8(b, _mm256_set1_epi8(0x7f));
    return (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(_mm256_andnot_si256(tab, ctl), del));
}

/* tchar by nibble lookup: row[low nibble] holds one bit per allowed high nibble
 * (0..7); bit_of[high nibble] is that bit, 0 for bytes >= 0x80. */
static const uint8_t tchar_rows[32] = {
    0xe8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc, 0xf8, 0xf8, 0xf4, 0x54, 0xd0, 0x54, 0xf4, 0x70,
    0xe8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc, 0xf8, 0xf8, 0xf4, 0x54, 0xd0, 0x54, 0xf4, 0x70,
};
static const uint8_t high_nibble_bit[32] = {
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0,
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0,
};

AVX2 static inline uint32_t avx_token_stops(__m256i b)
{
    const __m256i rows = _mm256_loadu_si256((const __m256i *)(const void *)tchar_rows);
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(const void *)high_nibble_bit);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(b, nib);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib);
    __m256i hit = _mm256_and_si256(_mm256_shuffle_epi8(rows, lo), _mm256_shuffle_epi8(bits, hi));
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, _mm256_setzero_si256()));
}

DEFINE_SCAN(AVX2, avx2_find_lf, __m256i, 32, _mm256_loadu_si256, avx_lf_stops, sse42_find_lf)
DEFINE_SCAN(AVX2, avx2_skip_target, __m256i, 32, _mm256_loadu_si256, avx_target_stops,
            sse42_skip_target)
DEFINE_SCAN(AVX2, avx2_skip_value, __m256i, 32, _mm256_loadu_si256, avx_value_stops,
            sse42_skip_value)
DEFINE_SCAN(AVX2, avx2_skip_token, __m256i, 32, _mm256_loadu_si256, avx_token_stops,
            sse42_skip_token)

const flare_http_scan_ops flare_http__scan_avx2 = {
    avx2_find_lf,
    avx2_skip_target,
    avx2_skip_value,
    avx2_skip_token,
};

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int flare_http_simd_x86_unused;
#endif
