/* Tests src/runtime/error.c: every code has a name and text; messages carry context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "flare/error.h"

static void test_every_code_named(void **state)
{
    (void)state;
    for (int code = 0; code >= FLARE_EUNSUPPORTED; code--) {
        assert_string_not_equal(flare_strerror(code), "unknown error");
        assert_string_not_equal(flare_error_name(code), "FLARE_E?");
    }
    assert_string_equal(flare_strerror(-9999), "unknown error");
    assert_string_equal(flare_error_name(FLARE_EPORT), "FLARE_EPORT");
}

static void test_set_with_context_and_errno(void **state)
{
    (void)state;
    flare_error err;
    int rc = flare_error_set(&err, FLARE_ECONNREFUSED, ECONNREFUSED, "connect to %s port %u",
                             "127.0.0.1", 9);
    assert_int_equal(rc, FLARE_ECONNREFUSED);
    assert_int_equal(err.code, FLARE_ECONNREFUSED);
    assert_int_equal(err.sys_errno, ECONNREFUSED);
    assert_string_equal(err.message, "connect to 127.0.0.1 port 9: Connection refused");
    flare_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.message, "");
}

static void test_null_error_is_fine_and_long_messages_truncate(void **state)
{
    (void)state;
    assert_int_equal(flare_error_set(NULL, FLARE_EINVAL, 0, "ignored"), FLARE_EINVAL);
    flare_error err;
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    flare_error_set(&err, FLARE_EINVAL, EINVAL, "%s", big);
    assert_int_equal(strlen(err.message), FLARE_ERROR_MESSAGE_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_named),
        cmocka_unit_test(test_set_with_context_and_errno),
        cmocka_unit_test(test_null_error_is_fine_and_long_messages_truncate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
