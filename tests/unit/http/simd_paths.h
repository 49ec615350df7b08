/*
 * simd_paths.h: helpers shared by the HTTP parser tests to run a check once per
 * scanning path the CPU offers, asserting that forcing a path really switches to
 * it and that every path the CPU has was exercised.
 */
#ifndef FLARE_TEST_SIMD_PATHS_H
#define FLARE_TEST_SIMD_PATHS_H

#include <stdbool.h>

#include "flare/http_parser.h"

static const flare_http_simd test_paths[] = {FLARE_SIMD_SCALAR, FLARE_SIMD_SSE42, FLARE_SIMD_AVX2,
                                             FLARE_SIMD_AVX512};
#define TEST_PATH_COUNT (sizeof test_paths / sizeof test_paths[0])

/* What the build and CPU offer, found independently of the library. */
static inline bool test_path_expected(flare_http_simd path)
{
    if (path == FLARE_SIMD_SCALAR) return true;
#if defined(FLARE_NO_SIMD) || !(defined(__x86_64__) || defined(__i386__))
    return false;
#else
    __builtin_cpu_init();
    if (path == FLARE_SIMD_SSE42) return __builtin_cpu_supports("sse4.2");
    if (path == FLARE_SIMD_AVX2) return __builtin_cpu_supports("avx2");
    if (path == FLARE_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    return false;
#endif
}

/* Forces `path`; returns true when it is now active, false when the CPU lacks it
 * (and then checks the library said so). Fails the test on any disagreement. */
static inline bool test_use_path(flare_http_simd path)
{
    int rc = flare_http_simd_force(path);
    if (!test_path_expected(path)) {
        assert_int_equal(rc, FLARE_EUNSUPPORTED);
        return false;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(flare_http_simd_active(), path);
    return true;
}

#endif
