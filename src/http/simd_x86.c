/*
 * simd_x86.c: the SSE4.2, AVX2 and AVX-512BW scanner tables, for callers that pick a path at
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

/* The table flare_http__scan_<path> over the kernels flare_http__<path>_*_end. */
#define SCAN_TABLE(attr, path)                                                                     \
    SCAN_TABLE_ENTRY(attr, path##_find_lf, flare_http__##path##_lf_end)                            \
    SCAN_TABLE_ENTRY(attr, path##_skip_target, flare_http__##path##_target_end)                    \
    SCAN_TABLE_ENTRY(attr, path##_skip_value, flare_http__##path##_value_end)                      \
    SCAN_TABLE_ENTRY(attr, path##_skip_token, flare_http__##path##_token_end)                      \
    const flare_http_scan_ops flare_http__scan_##path = {                                          \
        path##_find_lf,                                                                            \
        path##_skip_target,                                                                        \
        path##_skip_value,                                                                         \
        path##_skip_token,                                                                         \
    };

SCAN_TABLE(FLARE_HTTP__SSE42, sse42)
SCAN_TABLE(FLARE_HTTP__AVX2, avx2)
SCAN_TABLE(FLARE_HTTP__AVX512, avx512)

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int flare_http_simd_x86_unused;
#endif
