/*
 * test_simd.c: the SSE4.2, AVX2 and AVX-512BW scanners against the scalar ones: every byte
 * value at every position of every length up to a few blocks, inputs in
 * exact-size heap buffers so ASan catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/http/simd.h"
#include "simd_paths.h"

enum { KERNELS = 4, MAX_LEN = 140 };

static size_t run_kernel(const flare_http_scan_ops *ops, int k, const char *p, size_t n)
{
    switch (k) {
    case 0:
        return ops->find_lf(p, n);
    case 1:
        return ops->skip_target(p, n);
    case 2:
        return ops->skip_value(p, n);
    default:
        return ops->skip_token(p, n);
    }
}

#ifdef FLARE_HTTP_X86_SIMD
/* A byte each kernel passes over, so a planted byte decides the answer. */
static const char filler[KERNELS] = {'x', 'a', 'a', 'a'};

static void check_ops_against_scalar(const flare_http_scan_ops *ops)
{
    const flare_http_scan_ops *ref = &flare_http__scan_scalar;
    for (int k = 0; k < KERNELS; k++) {
        for (size_t n = 0; n <= MAX_LEN; n++) {
            char *buf = malloc(n ? n : 1);
            assert_non_null(buf);
            memset(buf, filler[k], n);
            assert_int_equal(run_kernel(ops, k, buf, n), n);
            for (size_t pos = 0; pos < n; pos++) {
                for (int b = 0; b < 256; b++) {
                    buf[pos] = (char)b;
                    size_t want = run_kernel(ref, k, buf, n);
                    size_t got = run_kernel(ops, k, buf, n);
                    if (got != want)
                        fail_msg("kernel %d len %zu byte 0x%02x at %zu: got %zu want %zu", k, n, b,
                                 pos, got, want);
                    /* A second stop byte later must not change the answer. */
                    if (pos + 3 < n) {
                        buf[pos + 3] = '\0';
                        assert_int_equal(run_kernel(ops, k, buf, n), run_kernel(ref, k, buf, n));
                        buf[pos + 3] = filler[k];
                    }
                }
                buf[pos] = filler[k];
            }
            free(buf);
        }
    }
}
#endif

static void test_scalar_classes(void **state)
{
    (void)state;
    const flare_http_scan_ops *s = &flare_http__scan_scalar;
    assert_int_equal(s->find_lf("ab\ncd", 5), 2);
    assert_int_equal(s->find_lf("abcd", 4), 4);
    assert_int_equal(s->skip_target("/a?b=c d", 8), 6);
    assert_int_equal(s->skip_target("/a\x80", 3), 2);
    assert_int_equal(s->skip_target("/a\x7f", 3), 2);
    assert_int_equal(s->skip_value("a b\t\x80\xff\r", 7), 6);
    assert_int_equal(s->skip_value("a\x7f", 2), 1);
    assert_int_equal(s->skip_value("a\x00", 2), 1);
    assert_int_equal(s->skip_token("!#$%&'*+-.^_`|~09AZaz:", 22), 21);
    static const char not_tchar[] = "\"(),/:;<=>?@[\\]{} \t\x7f\x80";
    for (size_t i = 0; i < sizeof not_tchar - 1; i++)
        assert_int_equal(s->skip_token(&not_tchar[i], 1), 0);
}

/* tchar from its grammar (RFC 9110 §5.6.2), not from the table the scanners use. */
static bool rfc_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The scalar token scan, eight bytes at a time with a byte loop for the tail, against
 * the grammar: every byte value at every position of lengths that cover both, with a
 * second stop byte after the first and a run of the rarer tchars before it. */
static void test_scalar_token_exhaustive(void **state)
{
    (void)state;
    const flare_http_scan_ops *s = &flare_http__scan_scalar;
    for (size_t n = 1; n <= 27; n++) {
        char *buf = malloc(n);
        assert_non_null(buf);
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 0; b < 256; b++) {
                memset(buf, 'k', n);
                for (size_t k = 0; k < pos && k < 3; k++)
                    buf[pos - 1 - k] = "_~!"[k];
                buf[pos] = (char)b;
                if (pos + 2 < n) buf[pos + 2] = ':';
                size_t want = rfc_tchar((unsigned char)b) ? (pos + 2 < n ? pos + 2 : n) : pos;
                size_t got = s->skip_token(buf, n);
                if (got != want)
                    fail_msg("len %zu byte 0x%02x at %zu: got %zu want %zu", n, b, pos, got, want);
            }
        }
        free(buf);
    }
}

#ifdef FLARE_HTTP_X86_SIMD
typedef void first_chunk_fn(const char *p, size_t end, flare_http__chunk *c);

/* A path's first-chunk classifier against the scalar chunk classifier: every byte
 * value at every position of every length up to past one chunk, so that heads under
 * 64 bytes read as overlapping blocks, as a padded copy and as one whole chunk all
 * give the same stop masks. The parser checks what a split finds and takes a wrong
 * mask for "look again", so only this comparison sees one. */
static void check_first_chunk(first_chunk_fn *first)
{
    for (size_t n = 0; n <= 70; n++) {
        char *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        memset(buf, 'a', n);
        for (size_t pos = 0; pos < (n ? n : 1); pos++) {
            for (int b = 0; b < 256; b++) {
                if (n) buf[pos] = (char)b;
                flare_http__chunk want, got;
                flare_http__scalar_chunk_at(n ? buf : NULL, 0, n, &want);
                first(n ? buf : NULL, n, &got);
                if (got.base != 0 || got.tok != want.tok || got.val != want.val)
                    fail_msg("len %zu byte 0x%02x at %zu: tok %#llx val %#llx, want %#llx %#llx", n,
                             b, pos, (unsigned long long)got.tok, (unsigned long long)got.val,
                             (unsigned long long)want.tok, (unsigned long long)want.val);
                if (!n) break;
            }
            if (n) buf[pos] = 'a';
        }
        free(buf);
    }
}

FLARE_HTTP__SSE42 static void sse42_first_chunk(const char *p, size_t end, flare_http__chunk *c)
{
    flare_http__sse42_first_chunk(p, end, c);
}

FLARE_HTTP__AVX2 static void avx2_first_chunk(const char *p, size_t end, flare_http__chunk *c)
{
    flare_http__avx2_first_chunk(p, end, c);
}
#endif

static void test_first_chunk_matches_scalar(void **state)
{
    (void)state;
    int tested = 0;
#ifdef FLARE_HTTP_X86_SIMD
    if (test_path_expected(FLARE_SIMD_SSE42)) {
        check_first_chunk(sse42_first_chunk);
        tested++;
    }
    if (test_path_expected(FLARE_SIMD_AVX2)) {
        check_first_chunk(avx2_first_chunk);
        tested++;
    }
#endif
    assert_int_equal(tested,
                     test_path_expected(FLARE_SIMD_SSE42) + test_path_expected(FLARE_SIMD_AVX2));
}

static void test_paths_match_scalar(void **state)
{
    (void)state;
    int tested = 0;
#ifdef FLARE_HTTP_X86_SIMD
    if (test_use_path(FLARE_SIMD_SSE42)) {
        check_ops_against_scalar(&flare_http__scan_sse42);
        assert_ptr_equal(flare_http__scan_ops(), &flare_http__scan_sse42);
        tested++;
    }
    if (test_use_path(FLARE_SIMD_AVX2)) {
        check_ops_against_scalar(&flare_http__scan_avx2);
        assert_ptr_equal(flare_http__scan_ops(), &flare_http__scan_avx2);
        tested++;
    }
    if (test_use_path(FLARE_SIMD_AVX512)) {
        check_ops_against_scalar(&flare_http__scan_avx512);
        assert_ptr_equal(flare_http__scan_ops(), &flare_http__scan_avx512);
        tested++;
    }
#endif
    int expected = test_path_expected(FLARE_SIMD_SSE42) + test_path_expected(FLARE_SIMD_AVX2) +
                   test_path_expected(FLARE_SIMD_AVX512);
    assert_int_equal(tested, expected);
    assert_true(test_use_path(FLARE_SIMD_SCALAR));
    assert_ptr_equal(flare_http__scan_ops(), &flare_http__scan_scalar);
}

/* Random buffers with sparse stop bytes, longer than the exhaustive sweep. */
static void test_paths_random_long(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char *buf = malloc(600);
    assert_non_null(buf);
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        if (!test_use_path(test_paths[p])) continue;
        const flare_http_scan_ops *ops = flare_http__scan_ops();
        for (int iter = 0; iter < 3000; iter++) {
            size_t n = 0;
            for (size_t i = 0; i < 600; i++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                buf[i] = (seed & 0x3ff) < 3 ? (char)(seed >> 24) : 'b';
            }
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            n = (size_t)(seed % 600);
            for (int k = 0; k < KERNELS; k++)
                assert_int_equal(run_kernel(ops, k, buf, n),
                                 run_kernel(&flare_http__scan_scalar, k, buf, n));
        }
    }
    free(buf);
}

static void test_force_and_names(void **state)
{
    (void)state;
    assert_string_equal(flare_http_simd_name(FLARE_SIMD_SCALAR), "scalar");
    assert_string_equal(flare_http_simd_name(FLARE_SIMD_SSE42), "sse4.2");
    assert_string_equal(flare_http_simd_name(FLARE_SIMD_AVX2), "avx2");
    assert_string_equal(flare_http_simd_name(FLARE_SIMD_AVX512), "avx512bw");
    assert_string_equal(flare_http_simd_name((flare_http_simd)9), "unknown");
    assert_int_equal(flare_http_simd_force((flare_http_simd)9), FLARE_EINVAL);
    for (size_t p = 0; p < TEST_PATH_COUNT; p++)
        test_use_path(test_paths[p]);
#ifdef FLARE_NO_SIMD
    assert_int_equal(flare_http_simd_force(FLARE_SIMD_AVX2), FLARE_EUNSUPPORTED);
    assert_int_equal(flare_http_simd_force(FLARE_SIMD_AVX512), FLARE_EUNSUPPORTED);
    assert_int_equal(flare_http_simd_active(), FLARE_SIMD_SCALAR);
#endif
}

/* The AVX-512BW path on its own, so that a CPU without it shows a skipped test
 * instead of a pass that checked nothing. */
static void test_avx512_path(void **state)
{
    (void)state;
    if (!test_path_expected(FLARE_SIMD_AVX512)) {
        assert_false(test_use_path(FLARE_SIMD_AVX512));
        print_message("this CPU (or build) has no AVX-512BW: its path is not tested here\n");
        skip();
    }
#ifdef FLARE_HTTP_X86_SIMD
    assert_true(test_use_path(FLARE_SIMD_AVX512));
    assert_ptr_equal(flare_http__scan_ops(), &flare_http__scan_avx512);
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    flare_http_header hdrs[4];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 4};
    int status = -1;
    assert_int_equal(flare_http_parse_request(head, sizeof head - 1, 0, NULL, &req, &status),
                     sizeof head - 1);
    assert_int_equal(status, 0);
    assert_int_equal(req.num_headers, 1);
    assert_int_equal(flare_http_simd_active(), FLARE_SIMD_AVX512);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_classes),
        cmocka_unit_test(test_scalar_token_exhaustive),
        cmocka_unit_test(test_first_chunk_matches_scalar),
        cmocka_unit_test(test_paths_match_scalar),
        cmocka_unit_test(test_paths_random_long),
        cmocka_unit_test(test_force_and_names),
        cmocka_unit_test(test_avx512_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
