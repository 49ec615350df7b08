/* Tests src/runtime/buffer.c: growth, append, printf, consume, overflow refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flare/runtime.h"

static void test_append_and_consume(void **state)
{
    (void)state;
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_append(&b, "hello ", 6), 0);
    assert_int_equal(flare_buf_append_str(&b, "world"), 0);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "hello world", 11);
    flare_buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "world", 5);
    flare_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    flare_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_growth_keeps_contents(void **state)
{
    (void)state;
    flare_buf b = FLARE_BUF_INIT;
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(flare_buf_append(&b, &c, 1), 0);
    }
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    size_t cap = b.cap;
    flare_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_int_equal(flare_buf_room(&b), cap);
    flare_buf_free(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_appendf(&b, "%s=%d;", "x", 42), 0);
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(flare_buf_appendf(&b, "%s", big), 0);
    assert_int_equal(b.len, 5 + 999);
    assert_memory_equal(b.data, "x=42;", 5);
    assert_int_equal(b.data[b.len - 1], 'q');
    flare_buf_free(&b);
}

static void test_overflow_refused(void **state)
{
    (void)state;
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_append(&b, "x", 1), 0);
    assert_int_equal(flare_buf_reserve(&b, SIZE_MAX - 2), FLARE_ELIMIT);
    assert_int_equal(b.len, 1);
    flare_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_growth_keeps_contents),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_overflow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
