/*
 * mask.c: payload masking (RFC 6455 §5.3) and the run-time choice of a kernel.
 * The public functions turn (key, phase) into one 32-bit key rotated to the
 * phase, so every kernel starts at key byte 0 and all paths give identical bytes.
 * The path is detected once (__builtin_cpu_supports) and kept in an atomic
 * with its kernel, so a call costs one relaxed load and an indirect call;
 * -Dsimd=none (FLARE_NO_SIMD) leaves only the scalar kernel.
 */
#include "ws_internal.h"

#include <stdatomic.h>
#include <string.h>

void flare_ws__mask_scalar(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key)
{
    uint64_t key8 = (uint64_t)key << 32 | key; /* both halves equal: byte order cannot matter */
    size_t i = 0;
    /* Four independent words per turn: CPUs that retire two stores a cycle get both. */
    for (; i + 32 <= len; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= key8;
        b ^= key8;
        c ^= key8;
        d ^= key8;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= key8;
        memcpy(dst + i, &v, 8);
    }
    uint8_t kb[4];
    memcpy(kb, &key, 4);
    for (; i < len; i++)
        dst[i] = src[i] ^ kb[i & 3]; /* i is a multiple of 8 here: phase 0 */
}

/* -1 until the first use picks a path; active_kernel is that path's kernel, or
 * NULL until whoever picked the path has stored it (either kernel is correct). */
static atomic_int active_path = -1;
static _Atomic(flare_ws__mask_fn) active_kernel;

static flare_ws__mask_fn kernel_of(flare_ws_simd path)
{
    switch (path) {
#ifdef FLARE_WS_X86_SIMD
    case FLARE_WS_SIMD_SSE2:
        return flare_ws__mask_sse2;
    case FLARE_WS_SIMD_AVX2:
        return flare_ws__mask_avx2;
    case FLARE_WS_SIMD_AVX512:
        return flare_ws__mask_avx512;
#endif
    default:
        return flare_ws__mask_scalar;
    }
}

static bool cpu_has(flare_ws_simd path)
{
    switch (path) {
    case FLARE_WS_SIMD_SCALAR:
        return true;
#ifdef FLARE_WS_X86_SIMD
    case FLARE_WS_SIMD_SSE2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse2");
    case FLARE_WS_SIMD_AVX2:
        /* libgcc also checks that the OS saves the YMM state (XCR0). */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case FLARE_WS_SIMD_AVX512:
        /* ...and the ZMM and mask registers' state for these. */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
    default:
        return false;
    }
}

flare_ws_simd flare_ws_simd_active(void)
{
    int path = atomic_load_explicit(&active_path, memory_order_relaxed);
    if (path >= 0) return (flare_ws_simd)path;
    flare_ws_simd best = FLARE_WS_SIMD_SCALAR;
    if (cpu_has(FLARE_WS_SIMD_AVX512))
        best = FLARE_WS_SIMD_AVX512;
    else if (cpu_has(FLARE_WS_SIMD_AVX2))
        best = FLARE_WS_SIMD_AVX2;
    else if (cpu_has(FLARE_WS_SIMD_SSE2))
        best = FLARE_WS_SIMD_SSE2;
    /* A racing first use stores the same answer, or loses to a forced path. */
    int expected = -1;
    if (atomic_compare_exchange_strong(&active_path, &expected, (int)best))
        atomic_store_explicit(&active_kernel, kernel_of(best), memory_order_relaxed);
    return (flare_ws_simd)atomic_load_explicit(&active_path, memory_order_relaxed);
}

int flare_ws_simd_force(flare_ws_simd path)
{
    if (path != FLARE_WS_SIMD_SCALAR && path != FLARE_WS_SIMD_SSE2 && path != FLARE_WS_SIMD_AVX2 &&
        path != FLARE_WS_SIMD_AVX512)
        return FLARE_EINVAL;
    if (!cpu_has(path)) return FLARE_EUNSUPPORTED;
    atomic_store_explicit(&active_kernel, kernel_of(path), memory_order_relaxed);
    atomic_store_explicit(&active_path, (int)path, memory_order_relaxed);
    return 0;
}

const char *flare_ws_simd_name(flare_ws_simd path)
{
    switch (path) {
    case FLARE_WS_SIMD_SCALAR:
        return "scalar";
    case FLARE_WS_SIMD_SSE2:
        return "sse2";
    case FLARE_WS_SIMD_AVX2:
        return "avx2";
    case FLARE_WS_SIMD_AVX512:
        return "avx512";
    }
    return "unknown";
}

static flare_ws__mask_fn kernel(void)
{
    flare_ws__mask_fn fn = atomic_load_explicit(&active_kernel, memory_order_relaxed);
    return fn ? fn : kernel_of(flare_ws_simd_active());
}

unsigned flare_ws_mask_copy(void *dst, const void *src, size_t len, const uint8_t key[4],
                            unsigned phase)
{
    phase &= 3;
    if (len == 0) return phase;
    uint8_t rotated[4] = {key[phase], key[(phase + 1) & 3], key[(phase + 2) & 3],
                          key[(phase + 3) & 3]};
    uint32_t k;
    memcpy(&k, rotated, 4);
    kernel()((uint8_t *)dst, (const uint8_t *)src, len, k);
    return (unsigned)((phase + len) & 3);
}

unsigned flare_ws_mask(void *p, size_t len, const uint8_t key[4], unsigned phase)
{
    return flare_ws_mask_copy(p, p, len, key, phase);
}
