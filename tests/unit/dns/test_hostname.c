/*
 * test_hostname.c: tests of src/dns/hostname.c: LDH labels, length limits,
 * the trailing dot, and typed errors that name the problem and its offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "flare/dns.h"

static void expect_valid(const char *name)
{
    flare_error err = {0};
    int rc = flare_hostname_validate(name, strlen(name), &err);
    if (rc != 0) fail_msg("\"%s\" rejected: %s", name, err.message);
}

/* Checks the code, and that the message contains `needle` when given. */
static void expect_invalid(const char *name, size_t len, const char *needle)
{
    flare_error err = {0};
    int rc = flare_hostname_validate(name, len, &err);
    if (rc != FLARE_EHOSTNAME)
        fail_msg("\"%.*s\" (len %zu): want FLARE_EHOSTNAME, got %s", (int)len, name, len,
                 flare_error_name(rc));
    assert_int_equal(err.code, FLARE_EHOSTNAME);
    if (needle && !strstr(err.message, needle))
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)len, name, err.message, needle);
}

/* A string of n copies of c, for length limits. */
static void fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
}

static void test_valid_names(void **state)
{
    (void)state;
    const char *ok[] = {"localhost", "example.com", "EXAMPLE.COM", "a", "a.b", "x1.y2.z3",
                        "123.example.com", "3com.com", "xn--bcher-kva.example", "a-b-c.d-e",
                        "example.com.", "a.", "sub.domain.example.co.uk", "0", "a--b.c",
                        /* '_': container and service names (RFC 2181 §11) */
                        "my_service", "_dmarc.example.com", "web_1.project_default"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_valid(ok[i]);
}

static void test_length_limits(void **state)
{
    (void)state;
    char buf[400];
    /* Label: 63 is fine, 64 is not (RFC 1035 §2.3.4). */
    fill(buf, 'a', 63);
    expect_valid(buf);
    fill(buf, 'a', 64);
    expect_invalid(buf, 64, "longer than 63");
    strcpy(buf, "ok.");
    fill(buf + 3, 'b', 64);
    expect_invalid(buf, strlen(buf), "offset 3");

    /* Name: 253 bytes (four labels of 63 minus one byte) is fine, 254 is not. */
    size_t n = 0;
    for (int label = 0; label < 4; label++) {
        size_t want = label < 3 ? 63 : 61;
        memset(buf + n, 'c', want);
        n += want;
        if (label < 3) buf[n++] = '.';
    }
    buf[n] = '\0';
    assert_int_equal(n, 253);
    expect_valid(buf);
    /* A trailing dot does not count against the limit. */
    buf[n] = '.';
    buf[n + 1] = '\0';
    expect_valid(buf);
    buf[n] = 'c';
    buf[n + 1] = '\0';
    expect_invalid(buf, 254, "longer than 253");
    fill(buf, 'a', 399);
    expect_invalid(buf, 399, "longer than 253");
}

static void test_empty_and_dots(void **state)
{
    (void)state;
    expect_invalid("", 0, "empty");
    expect_invalid(NULL, 0, "empty");
    expect_invalid(".", 1, NULL);
    expect_invalid("..", 2, "empty label at offset 0");
    expect_invalid(".example.com", 12, "empty label at offset 0");
    expect_invalid("example..com", 12, "empty label at offset 8");
    expect_invalid("example.com..", 13, "empty label at offset 12");
}

static void test_hyphens(void **state)
{
    (void)state;
    expect_invalid("-example.com", 12, "starts with '-' at offset 0");
    expect_invalid("example-.com", 12, "ends with '-' at offset 7");
    expect_invalid("www.-example.com", 16, "starts with '-' at offset 4");
    expect_invalid("example.com-", 12, "ends with '-' at offset 11");
    expect_invalid("example.com-.", 13, "ends with '-'");
    expect_invalid("-", 1, NULL);
}

static void test_forbidden_bytes(void **state)
{
    (void)state;
    /* NUL in the middle, passed with its full length, is seen and refused. */
    expect_invalid("evil.com\0.good.com", 18, "0x00 at offset 8");
    expect_invalid("example.com\r", 12, "0x0d at offset 11");
    expect_invalid("example.com\n", 12, "0x0a at offset 11");
    expect_invalid("example.com\r\nX-Injected: 1", 26, "0x0d at offset 11");
    expect_invalid("user@example.com", 16, "'@' (0x40) at offset 4");
    expect_invalid("exa mple.com", 12, "0x20 at offset 3");
    expect_invalid("example.com ", 12, "offset 11");
    expect_invalid("\texample.com", 12, "0x09 at offset 0");
    expect_invalid("under~score.com", 15, "'~' (0x7e) at offset 5");
    expect_invalid("example.com:80", 14, "':'");
    expect_invalid("example.com/path", 16, "'/'");
    expect_invalid("[::1]", 5, "'['");
    expect_invalid("b\xc3\xbc"
                   "cher.de",
                   strlen("b\xc3\xbc"
                          "cher.de"),
                   "0xc3 at offset 1");
    expect_invalid("a\x7f", 2, "0x7f");
    expect_invalid("a*.com", 6, "'*'");
    expect_invalid("%65xample.com", 13, "'%'");

    /* The message is one line, whatever the input held. */
    flare_error err = {0};
    flare_hostname_validate("a\r\nb", 4, &err);
    assert_null(strchr(err.message, '\n'));
    assert_null(strchr(err.message, '\r'));
}

static void test_explicit_length(void **state)
{
    (void)state;
    /* Only len bytes are read. */
    assert_int_equal(flare_hostname_validate("example.com@evil", 11, NULL), 0);
    assert_int_equal(flare_hostname_validate("example.com@evil", 12, NULL), FLARE_EHOSTNAME);
    assert_int_equal(flare_hostname_validate(NULL, 3, NULL), FLARE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_names),     cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_empty_and_dots),  cmocka_unit_test(test_hyphens),
        cmocka_unit_test(test_forbidden_bytes), cmocka_unit_test(test_explicit_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
