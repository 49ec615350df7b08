/*
 * simd_x86.c: the SSE4.2 and AVX2 scanner tables, for callers that pick a path at
 * run time through flare_http_scan_ops (head-end search, response parser, tests).
 * The kernels are inline in simd.h and carry their own target attribute, so this
 * file builds without global -m flags; simd.c hands a table out only after CPU
 * detection.
 */
#include "simd.h"

#ifdef FLARE_HTTP_X86_SIMD

#define SCAN_TABLE_ENTRY(attr, name, kernel)                                                       \
    attr static size_t name(const char *p, size_t n)                                               \
    {                                                                                              \
        return kernel(p, 0, n);                                                                    \
    }

SCAN_TABLE_ENTRY(FLARE_HTTP__SSE42, sse42_find_lf, flare_http__sse42_lf_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__SSE42, sse42_skip_target, flare_http__sse42_target_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__SSE42, sse42_skip_value, flare_http__sse42_value_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__SSE42, sse42_skip_token, flare_http__sse42_token_end)

const flare_http_scan_ops flare_http__scan_sse42 = {
    sse42_find_lf,
    sse42_skip_target,
    sse42_skip_value,
    sse42_skip_token,
};

SCAN_TABLE_ENTRY(FLARE_HTTP__AVX2, avx2_find_lf, flare_http__avx2_lf_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__AVX2, avx2_skip_target, flare_http__avx2_target_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__AVX2, avx2_skip_value, flare_http__avx2_value_end)
SCAN_TABLE_ENTRY(FLARE_HTTP__AVX2, avx2_skip_token, flare_http__avx2_token_end)

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
