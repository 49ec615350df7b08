/*
 * test_static_range.c: src/flared/static_range.c: Range parsing against a size
 * (satisfiable, unsatisfiable, ignored), coalescing, the cap on range count, and
 * the exact bytes of a multipart/byteranges body from memory and from a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "static_internal.h"

static flared_byte_range got[FLARED_RANGES_MAX];

static int parse(const char *value, uint64_t size)
{
    memset(got, 0xAA, sizeof got);
    return flared_static_parse_range(value, strlen(value), size, got);
}

#define ASSERT_RANGE(i, a, b)                                                                      \
    do {                                                                                           \
        assert_int_equal(got[i].first, (a));                                                       \
        assert_int_equal(got[i].last, (b));                                                        \
    } while (0)

static void test_single_ranges(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=0-499", 1000), 1);
    ASSERT_RANGE(0, 0, 499);
    assert_int_equal(parse("bytes=500-", 1000), 1);
    ASSERT_RANGE(0, 500, 999);
    assert_int_equal(parse("bytes=-200", 1000), 1);
    ASSERT_RANGE(0, 800, 999);
    assert_int_equal(parse("bytes=-2000", 1000), 1);
    ASSERT_RANGE(0, 0, 999);
    assert_int_equal(parse("bytes=0-0", 1000), 1);
    ASSERT_RANGE(0, 0, 0);
    assert_int_equal(parse("bytes=999-5000", 1000), 1);
    ASSERT_RANGE(0, 999, 999);
    assert_int_equal(parse("BYTES=1-2", 1000), 1); /* units are case-insensitive */
    ASSERT_RANGE(0, 1, 2);
    assert_int_equal(parse("bytes=0-99999999999999999999999", 1000), 1); /* saturates */
    ASSERT_RANGE(0, 0, 999);
    assert_int_equal(parse("bytes=-1", 1), 1);
    ASSERT_RANGE(0, 0, 0);
}

static void test_unsatisfiable(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=1000-", 1000), FLARED_RANGE_UNSATISFIABLE);
    assert_int_equal(parse("bytes=1000-2000", 1000), FLARED_RANGE_UNSATISFIABLE);
    assert_int_equal(parse("bytes=-0", 1000), FLARED_RANGE_UNSATISFIABLE);
    assert_int_equal(parse("bytes=1000-1001, 5000-", 1000), FLARED_RANGE_UNSATISFIABLE);
    assert_int_equal(parse("bytes=99999999999999999999999-", 1000), FLARED_RANGE_UNSATISFIABLE);
    /* No first-pos lies inside an empty representation. */
    assert_int_equal(parse("bytes=0-", 0), FLARED_RANGE_UNSATISFIABLE);
    assert_int_equal(parse("bytes=-0", 0), FLARED_RANGE_UNSATISFIABLE);
    /* Unsatisfiable specs are dropped when another one is satisfiable. */
    assert_int_equal(parse("bytes=1000-1001, 0-1", 1000), 1);
    ASSERT_RANGE(0, 0, 1);
}

/* RFC 9110 §14.1.1: "When a selected representation has zero length, the only
 * satisfiable form of range-spec is a suffix-range with a non-zero suffix-length."
 * Satisfiable, so not 416; with no part to send, the whole goes out with 200. */
static void test_empty_representation_suffix(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=-5", 0), FLARED_RANGE_IGNORE);
    assert_int_equal(parse("bytes=-1", 0), FLARED_RANGE_IGNORE);
    assert_int_equal(parse("bytes=0-, -5", 0), FLARED_RANGE_IGNORE);
    assert_int_equal(parse("bytes=3-4,-99999999999999999999999", 0), FLARED_RANGE_IGNORE);
}

static void test_ignored(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "items=0-1", "bytes 0-1",   "bytes=",        "bytes= , ,",
        "bytes=abc", "bytes=5-1",   "bytes=0-1;x",   "bytes=--1",
        "bytes=1",   "bytes=0-1,x", "bytes=0-1 2-3", "bytes=-",
        "bytes=-a",  "bytes=0x10-", "=0-1",          "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], 1000) != FLARED_RANGE_IGNORE) fail_msg("'%s' not ignored", bad[i]);
}

static void test_several_ranges(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=0-1,10-11", 1000), 2);
    ASSERT_RANGE(0, 0, 1);
    ASSERT_RANGE(1, 10, 11);
    /* Not overlapping: the client's order is kept (RFC 9110 §14.6). */
    assert_int_equal(parse("bytes=10-11,0-1", 1000), 2);
    ASSERT_RANGE(0, 10, 11);
    ASSERT_RANGE(1, 0, 1);
    assert_int_equal(parse("bytes= 0-1 ,\t3-4 ", 1000), 2);
    ASSERT_RANGE(1, 3, 4);
    assert_int_equal(parse("bytes=0-1,,3-4,", 1000), 2);
    assert_int_equal(parse("bytes=0-1,-10", 1000), 2);
    ASSERT_RANGE(1, 990, 999);
}

static void test_coalescing(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=0-10,5-20", 1000), 1);
    ASSERT_RANGE(0, 0, 20);
    assert_int_equal(parse("bytes=0-9,10-19", 1000), 1); /* adjacent */
    ASSERT_RANGE(0, 0, 19);
    assert_int_equal(parse("bytes=0-,0-,0-,-1", 1000), 1);
    ASSERT_RANGE(0, 0, 999);
    assert_int_equal(parse("bytes=500-600,-600", 1000), 1);
    ASSERT_RANGE(0, 400, 999);
}

/* RFC 9110 §14.6: parts SHOULD come in the order of the range-specs, those
 * coalesced into others left out; a merge sorted every part by offset. */
static void test_coalescing_keeps_the_order(void **state)
{
    (void)state;
    assert_int_equal(parse("bytes=20-29, 0-5, 3-8", 1000), 2);
    ASSERT_RANGE(0, 20, 29);
    ASSERT_RANGE(1, 0, 8);
    assert_int_equal(parse("bytes=50-60,0-5,30-31,5-10", 1000), 3);
    ASSERT_RANGE(0, 50, 60);
    ASSERT_RANGE(1, 0, 10);
    ASSERT_RANGE(2, 30, 31);
    /* A range that grows by a merge takes in one it passed over before. */
    assert_int_equal(parse("bytes=0-1,10-11,5-6,2-4,7-9", 1000), 1);
    ASSERT_RANGE(0, 0, 11);
    assert_int_equal(parse("bytes=900-,0-0,-50", 1000), 2);
    ASSERT_RANGE(0, 900, 999);
    ASSERT_RANGE(1, 0, 0);
}

static void test_range_count_cap(void **state)
{
    (void)state;
    char value[512] = "bytes=";
    for (int i = 0; i < FLARED_RANGES_MAX; i++) {
        char spec[32];
        snprintf(spec, sizeof spec, "%s%d-%d", i ? "," : "", i * 10, i * 10 + 1);
        strcat(value, spec);
    }
    assert_int_equal(parse(value, 1000), FLARED_RANGES_MAX);
    ASSERT_RANGE(FLARED_RANGES_MAX - 1, 150, 151);
    strcat(value, ",900-901");
    assert_int_equal(parse(value, 1000), FLARED_RANGE_IGNORE);
    /* Overlapping specs count before coalescing: the cap is on what the client sent. */
    char many[512] = "bytes=0-1";
    for (int i = 0; i < FLARED_RANGES_MAX; i++)
        strcat(many, ",0-1");
    assert_int_equal(parse(many, 1000), FLARED_RANGE_IGNORE);
}

/* ---------------------------------------------------------- multipart */

static int emit_buf(void *ctx, const void *data, size_t len)
{
    return flare_buf_append(ctx, data, len);
}

static const char expected_body[] = "--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes "
                                    "0-1/16\r\n\r\n01\r\n--XYZ\r\nContent-Type: text/plain\r\n"
                                    "Content-Range: bytes 10-15/16\r\n\r\nabcdef\r\n--XYZ--\r\n";

static void test_multipart_from_memory(void **state)
{
    (void)state;
    flared_range_source src = {"0123456789abcdef", -1, 16, "text/plain"};
    flared_byte_range ranges[] = {{0, 1}, {10, 15}};
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flared_static_multipart(&src, ranges, 2, "XYZ", emit_buf, &out), 0);
    assert_int_equal(out.len, sizeof expected_body - 1);
    assert_memory_equal(out.data, expected_body, out.len);
    flare_buf_free(&out);
}

static void test_multipart_from_file(void **state)
{
    (void)state;
    char path[] = "/tmp/flared-range-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "0123456789abcdef", 16), 16);
    flared_range_source src = {NULL, fd, 16, "text/plain"};
    flared_byte_range ranges[] = {{0, 1}, {10, 15}};
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flared_static_multipart(&src, ranges, 2, "XYZ", emit_buf, &out), 0);
    assert_int_equal(out.len, sizeof expected_body - 1);
    assert_memory_equal(out.data, expected_body, out.len);
    /* The file shrank below a range: an error, not a short part. */
    assert_int_equal(ftruncate(fd, 12), 0);
    flare_buf_reset(&out);
    assert_int_equal(flared_static_multipart(&src, ranges, 2, "XYZ", emit_buf, &out), FLARE_ESYS);
    flare_buf_free(&out);
    close(fd);
}

static int failing_emit(void *ctx, const void *data, size_t len)
{
    (void)data;
    (void)len;
    return ++*(int *)ctx >= 2 ? FLARE_ENOMEM : 0;
}

static void test_multipart_emit_failure(void **state)
{
    (void)state;
    flared_range_source src = {"0123456789abcdef", -1, 16, "text/plain"};
    flared_byte_range ranges[] = {{0, 1}, {10, 15}};
    int calls = 0;
    assert_int_equal(flared_static_multipart(&src, ranges, 2, "XYZ", failing_emit, &calls),
                     FLARE_ENOMEM);
    assert_int_equal(calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_ranges),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_empty_representation_suffix),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_several_ranges),
        cmocka_unit_test(test_coalescing),
        cmocka_unit_test(test_coalescing_keeps_the_order),
        cmocka_unit_test(test_range_count_cap),
        cmocka_unit_test(test_multipart_from_memory),
        cmocka_unit_test(test_multipart_from_file),
        cmocka_unit_test(test_multipart_emit_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
