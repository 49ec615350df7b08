/*
 * test_mask.c: every masking path against a byte-at-a-time reference: lengths
 * 0..300 at every dst offset 0..63 (and src offsets apart from it), every start
 * phase, in place and copying, and resumed in pieces mid-frame. Buffers have
 * guard bytes on both sides that must survive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

enum { MAX_LEN = 300, MAX_OFFSET = 64, GUARD = 64 };

static const flare_ws_simd paths[] = {FLARE_WS_SIMD_SCALAR, FLARE_WS_SIMD_SSE2, FLARE_WS_SIMD_AVX2,
                                      FLARE_WS_SIMD_AVX512};

static bool path_expected(flare_ws_simd path)
{
    if (path == FLARE_WS_SIMD_SCALAR) return true;
#if defined(FLARE_NO_SIMD) || !(defined(__x86_64__) || defined(__i386__))
    return false;
#else
    __builtin_cpu_init();
    if (path == FLARE_WS_SIMD_SSE2) return __builtin_cpu_supports("sse2");
    if (path == FLARE_WS_SIMD_AVX2) return __builtin_cpu_supports("avx2");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
}

/* Forces the path; false when the CPU or build lacks it (and the library agrees). */
static bool use_path(flare_ws_simd path)
{
    int rc = flare_ws_simd_force(path);
    if (!path_expected(path)) {
        assert_int_equal(rc, FLARE_EUNSUPPORTED);
        return false;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(flare_ws_simd_active(), path);
    return true;
}

static void reference(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                      unsigned phase)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ key[(phase + i) & 3];
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void check_path_in_place(flare_ws_simd path)
{
    static uint8_t buf[GUARD + MAX_OFFSET + MAX_LEN + GUARD] __attribute__((aligned(64)));
    static uint8_t want[MAX_LEN], orig[MAX_LEN];
    for (size_t len = 0; len <= MAX_LEN; len++) {
        fill(orig, len, (uint32_t)len);
        for (size_t off = 0; off < MAX_OFFSET; off++) {
            for (unsigned phase = 0; phase < 4; phase++) {
                memset(buf, 0xa5, sizeof buf);
                uint8_t *p = buf + GUARD + off;
                memcpy(p, orig, len);
                reference(want, orig, len, key, phase);
                unsigned next = flare_ws_mask(p, len, key, phase);
                assert_int_equal(next, (phase + len) & 3);
                if (len && memcmp(p, want, len) != 0)
                    fail_msg("%s: len %zu offset %zu phase %u differs", flare_ws_simd_name(path),
                             len, off, phase);
                for (size_t g = 0; g < GUARD + off; g++)
                    assert_int_equal(buf[g], 0xa5);
                for (size_t g = GUARD + off + len; g < sizeof buf; g++)
                    assert_int_equal(buf[g], 0xa5);
            }
        }
    }
}

static void check_path_copy(flare_ws_simd path)
{
    static uint8_t src[MAX_OFFSET + MAX_LEN] __attribute__((aligned(64)));
    static uint8_t dst[GUARD + MAX_OFFSET + MAX_LEN + GUARD] __attribute__((aligned(64)));
    static uint8_t want[MAX_LEN];
    for (size_t len = 0; len <= MAX_LEN; len++) {
        for (size_t off = 0; off < MAX_OFFSET; off++) {
            /* src at a different misalignment than dst. */
            size_t soff = (off * 7 + 3) % MAX_OFFSET;
            fill(src + soff, len, (uint32_t)(len * 31 + off));
            unsigned phase = (unsigned)(len + off) & 3;
            reference(want, src + soff, len, key, phase);
            memset(dst, 0x5a, sizeof dst);
            flare_ws_mask_copy(dst + GUARD + off, src + soff, len, key, phase);
            if (len && memcmp(dst + GUARD + off, want, len) != 0)
                fail_msg("%s copy: len %zu dst offset %zu src offset %zu differs",
                         flare_ws_simd_name(path), len, off, soff);
            for (size_t g = 0; g < GUARD + off; g++)
                assert_int_equal(dst[g], 0x5a);
            for (size_t g = GUARD + off + len; g < sizeof dst; g++)
                assert_int_equal(dst[g], 0x5a);
        }
    }
}

/* A payload unmasked in pieces of every size equals one pass. */
static void check_path_resume(flare_ws_simd path)
{
    enum { N = 1000 };
    static uint8_t orig[N], whole[N], pieces[N];
    fill(orig, N, 99);
    memcpy(whole, orig, N);
    flare_ws_mask(whole, N, key, 0);
    for (size_t step = 1; step <= 97; step += 6) {
        memcpy(pieces, orig, N);
        unsigned phase = 0;
        for (size_t at = 0; at < N; at += step)
            phase = flare_ws_mask(pieces + at, at + step <= N ? step : N - at, key, phase);
        if (memcmp(pieces, whole, N) != 0)
            fail_msg("%s: resumed in steps of %zu differs", flare_ws_simd_name(path), step);
    }
}

static void test_every_path(void **state)
{
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!use_path(paths[i])) continue;
        check_path_in_place(paths[i]);
        check_path_copy(paths[i]);
        check_path_resume(paths[i]);
        ran++;
    }
    assert_true(ran >= 1);
}

/* Masking twice with the same key restores the data; a large buffer crosses the
 * unrolled loops of every kernel. */
static void test_large_round_trip(void **state)
{
    (void)state;
    enum { N = (1 << 20) + 77 };
    uint8_t *a = malloc(N), *b = malloc(N), *ref = malloc(N);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(ref);
    fill(a, N, 7);
    reference(ref, a + 1, N - 1, key, 3);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!use_path(paths[i])) continue;
        memcpy(b, a, N);
        flare_ws_mask(b + 1, N - 1, key, 3);
        assert_memory_equal(b + 1, ref, N - 1);
        flare_ws_mask(b + 1, N - 1, key, 3);
        assert_memory_equal(b, a, N);
    }
    free(a);
    free(b);
    free(ref);
}

static void test_names_and_bad_path(void **state)
{
    (void)state;
    assert_string_equal(flare_ws_simd_name(FLARE_WS_SIMD_SCALAR), "scalar");
    assert_string_equal(flare_ws_simd_name(FLARE_WS_SIMD_SSE2), "sse2");
    assert_string_equal(flare_ws_simd_name(FLARE_WS_SIMD_AVX2), "avx2");
    assert_string_equal(flare_ws_simd_name(FLARE_WS_SIMD_AVX512), "avx512");
    assert_int_equal(flare_ws_simd_force((flare_ws_simd)9), FLARE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_path),
        cmocka_unit_test(test_large_round_trip),
        cmocka_unit_test(test_names_and_bad_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
