/* Tests src/runtime/clock.c: IMF-fixdate formatting (RFC 9110 §5.6.7) and caching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flare/runtime.h"

static void test_format_known_dates(void **state)
{
    (void)state;
    char out[FLARE_IMF_FIXDATE_LEN + 1];
    assert_int_equal(flare_format_http_date(0, out), 29);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    flare_format_http_date(784111777, out); /* RFC 9110's own example */
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    flare_format_http_date(1795528800, out);
    assert_string_equal(out, "Tue, 24 Nov 2026 14:00:00 GMT");
    flare_format_http_date(951782400, out); /* leap day 2000 */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    flare_format_http_date(253402300799, out);
    assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_clock_update(void **state)
{
    (void)state;
    flare_clock c;
    flare_clock_init(&c);
    uint64_t first = c.monotonic_ms;
    char expect[FLARE_IMF_FIXDATE_LEN + 1];
    flare_format_http_date(c.wall_sec, expect);
    assert_string_equal(c.http_date, expect);
    flare_clock_update(&c);
    assert_true(c.monotonic_ms >= first);
    flare_format_http_date(c.wall_sec, expect);
    assert_string_equal(c.http_date, expect);
    uint64_t m = flare_monotonic_ms();
    assert_true(m >= c.monotonic_ms);
}

static void test_ms_until(void **state)
{
    (void)state;
    assert_int_equal(flare_monotonic_ms_until(UINT64_MAX), -1);
    assert_int_equal(flare_monotonic_ms_until(0), 0); /* long past */
    uint64_t now = flare_monotonic_ms();
    int left = flare_monotonic_ms_until(now + 60000);
    assert_true(left > 59000 && left <= 60000);
    assert_int_equal(flare_monotonic_ms_until(now + ((uint64_t)1 << 40)), INT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_dates),
        cmocka_unit_test(test_clock_update),
        cmocka_unit_test(test_ms_until),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
