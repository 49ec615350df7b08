/*
 * simd.c: the scalar reference scanners (as a table; the kernels are inline in
 * simd.h) and the run-time choice of a path.
 * The path is detected once (__builtin_cpu_supports) and kept in an atomic so
 * parsers on any thread read it with one relaxed load per parse; tests may force
 * a path. With FLARE_NO_SIMD (-Dsimd=none) only the scalar path exists.
 */
#include "simd.h"

#include <stdatomic.h>

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
 * "~" / DIGIT / ALPHA (RFC 9110 §5.6.2). */
const uint64_t flare_http__tchar_bits[4] = {0x03ff6cfa00000000u, 0x57ffffffc7fffffeu, 0, 0};

#ifdef FLARE_HTTP_X86_SIMD
#define X4(...)  __VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__
#define X64(...) X4(X4(X4(__VA_ARGS__)))
__attribute__((aligned(64))) const int8_t flare_http__simd_rows[FLARE_HTTP__ROWS][64] = {
    [FLARE_HTTP__ROW_LF] = {X64('\n')},
    [FLARE_HTTP__ROW_21] = {X64(0x21)},
    [FLARE_HTTP__ROW_5D] = {X64(0x7e - 0x21)},
    [FLARE_HTTP__ROW_SP] = {X64(' ')},
    [FLARE_HTTP__ROW_TAB] = {X64('\t')},
    [FLARE_HTTP__ROW_DEL] = {X64(0x7f)},
    [FLARE_HTTP__ROW_HASH] = {X64('#')},
    [FLARE_HTTP__ROW_CTL_LAST] = {X64(0x1f)},
    [FLARE_HTTP__ROW_NIBBLE] = {X64(0x0f)},
    [FLARE_HTTP__ROW_TCHAR] = {X4(FLARE_HTTP__TCHAR_ROWS)},
    [FLARE_HTTP__ROW_VALUE_STOP] = {X4(FLARE_HTTP__VALUE_STOP_ROWS)},
    [FLARE_HTTP__ROW_HIGH_BIT] = {X4(FLARE_HTTP__HIGH_NIBBLE_BIT)},
    [FLARE_HTTP__ROW_DIGIT] = {X64('0')},
    [FLARE_HTTP__ROW_LOWER] = {X64('a')},
    [FLARE_HTTP__ROW_DASH] = {X64('-')},
    [FLARE_HTTP__ROW_DIGITS] = {X64(10)},
    [FLARE_HTTP__ROW_LETTERS] = {X64(26)},
    [FLARE_HTTP__ROW_DASH_DOT] = {X64(2)},
    [FLARE_HTTP__ROW_DIGITS_LAST] = {X64(9)},
    [FLARE_HTTP__ROW_LETTERS_LAST] = {X64(25)},
    [FLARE_HTTP__ROW_DASH_DOT_LAST] = {X64(1)},
};
#undef X64
#undef X4
#endif

static size_t scalar_find_lf(const char *p, size_t n)
{
    return flare_http__scalar_lf_end(p, 0, n);
}

static size_t scalar_skip_target(const char *p, size_t n)
{
    return flare_http__scalar_target_end(p, 0, n);
}

static size_t scalar_skip_value(const char *p, size_t n)
{
    return flare_http__scalar_value_end(p, 0, n);
}

static size_t scalar_skip_token(const char *p, size_t n)
{
    return flare_http__scalar_token_end(p, 0, n);
}

const flare_http_scan_ops flare_http__scan_scalar = {
    scalar_find_lf,
    scalar_skip_target,
    scalar_skip_value,
    scalar_skip_token,
};

/* -1 until the first use picks a path. */
atomic_int flare_http__active_path = -1;

static bool cpu_has(flare_http_simd path)
{
    switch (path) {
    case FLARE_SIMD_SCALAR:
        return true;
#ifdef FLARE_HTTP_X86_SIMD
    case FLARE_SIMD_SSE42:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse4.2");
    case FLARE_SIMD_AVX2:
        /* libgcc also checks that the OS saves the YMM state (XCR0). */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case FLARE_SIMD_AVX512:
        /* As src/ws/mask.c detects it: libgcc sets these only when XCR0 shows the
         * OS saves the ZMM and mask registers too. */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
    default:
        return false;
    }
}

flare_http_simd flare_http_simd_active(void)
{
    int path = atomic_load_explicit(&flare_http__active_path, memory_order_relaxed);
    if (path >= 0) return (flare_http_simd)path;
    flare_http_simd best = FLARE_SIMD_SCALAR;
    if (cpu_has(FLARE_SIMD_AVX512))
        best = FLARE_SIMD_AVX512;
    else if (cpu_has(FLARE_SIMD_AVX2))
        best = FLARE_SIMD_AVX2;
    else if (cpu_has(FLARE_SIMD_SSE42))
        best = FLARE_SIMD_SSE42;
    /* A racing first use stores the same answer, or loses to a forced path. */
    int expected = -1;
    atomic_compare_exchange_strong(&flare_http__active_path, &expected, (int)best);
    return (flare_http_simd)atomic_load_explicit(&flare_http__active_path, memory_order_relaxed);
}

int flare_http_simd_force(flare_http_simd path)
{
    if (path != FLARE_SIMD_SCALAR && path != FLARE_SIMD_SSE42 && path != FLARE_SIMD_AVX2 &&
        path != FLARE_SIMD_AVX512)
        return FLARE_EINVAL;
    if (!cpu_has(path)) return FLARE_EUNSUPPORTED;
    atomic_store_explicit(&flare_http__active_path, (int)path, memory_order_relaxed);
    return 0;
}

const char *flare_http_simd_name(flare_http_simd path)
{
    switch (path) {
    case FLARE_SIMD_SCALAR:
        return "scalar";
    case FLARE_SIMD_SSE42:
        return "sse4.2";
    case FLARE_SIMD_AVX2:
        return "avx2";
    case FLARE_SIMD_AVX512:
        return "avx512bw";
    }
    return "unknown";
}

const flare_http_scan_ops *flare_http__scan_ops(void)
{
    switch (flare_http_simd_active()) {
#ifdef FLARE_HTTP_X86_SIMD
    case FLARE_SIMD_SSE42:
        return &flare_http__scan_sse42;
    case FLARE_SIMD_AVX2:
        return &flare_http__scan_avx2;
    case FLARE_SIMD_AVX512:
        return &flare_http__scan_avx512;
#endif
    default:
        return &flare_http__scan_scalar;
    }
}
