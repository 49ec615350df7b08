/*
 * test_sock_addr.c: tests of src/net/sock_addr.c: "host:port" parsing with typed
 * errors, formatting round trips, sockaddr conversion and CIDR blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "flare/net.h"

static flare_sock_addr parse_ok(const char *s)
{
    flare_sock_addr a;
    flare_error err = {0};
    if (flare_sock_addr_parse(&a, s, strlen(s), &err) != 0)
        fail_msg("parse of \"%s\" failed: %s", s, err.message);
    return a;
}

static void expect_error(const char *s, size_t len, int code)
{
    flare_sock_addr a = {.port = 4242};
    flare_error err = {0};
    int rc = flare_sock_addr_parse(&a, s, len, &err);
    if (rc != code)
        fail_msg("parse of \"%.*s\": want %s, got %s (%s)", (int)len, s, flare_error_name(code),
                 flare_error_name(rc), err.message);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    assert_int_equal(a.port, 4242); /* output untouched on failure */
}

static void expect_round_trip(const char *in, const char *want)
{
    flare_sock_addr a = parse_ok(in);
    char out[FLARE_SOCK_ADDR_STR_MAX];
    size_t n = flare_sock_addr_format(&a, out, sizeof out);
    if (n != strlen(want) || strcmp(out, want) != 0)
        fail_msg("format of \"%s\": want \"%s\", got \"%s\"", in, want, out);
    flare_sock_addr again = parse_ok(out);
    assert_true(flare_ip_equal(&a.ip, &again.ip));
    assert_int_equal(a.port, again.port);
}

static void test_parse_v4(void **state)
{
    (void)state;
    flare_sock_addr a = parse_ok("127.0.0.1:8080");
    assert_true(flare_ip_is_v4(&a.ip));
    assert_true(flare_ip_is_loopback(&a.ip));
    assert_int_equal(a.port, 8080);
    a = parse_ok("0.0.0.0:0");
    assert_int_equal(a.port, 0);
    assert_true(flare_ip_is_unspecified(&a.ip));
    a = parse_ok("10.1.2.3:65535");
    assert_int_equal(a.port, 65535);
    a = parse_ok("10.1.2.3:00080");
    assert_int_equal(a.port, 80);
}

static void test_parse_v6(void **state)
{
    (void)state;
    flare_sock_addr a = parse_ok("[::1]:8080");
    assert_true(flare_ip_is_v6(&a.ip));
    assert_true(flare_ip_is_loopback(&a.ip));
    assert_int_equal(a.port, 8080);
    a = parse_ok("[fe80::1%3]:443");
    assert_int_equal(a.ip.scope_id, 3);
    assert_int_equal(a.port, 443);
    a = parse_ok("[::ffff:1.2.3.4]:1");
    assert_int_equal(a.ip.bytes[15], 4);
    assert_int_equal(a.port, 1);
}

static void test_round_trip(void **state)
{
    (void)state;
    expect_round_trip("127.0.0.1:8080", "127.0.0.1:8080");
    expect_round_trip("255.255.255.255:65535", "255.255.255.255:65535");
    expect_round_trip("0.0.0.0:0", "0.0.0.0:0");
    expect_round_trip("[::1]:8080", "[::1]:8080");
    expect_round_trip("[2001:0DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443");
    expect_round_trip("[fe80::1%12]:22", "[fe80::1%12]:22");
    expect_round_trip("[::ffff:10.0.0.1]:53", "[::ffff:10.0.0.1]:53");
    expect_round_trip("10.0.0.1:007", "10.0.0.1:7");

    flare_sock_addr a = parse_ok("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
    char out[FLARE_SOCK_ADDR_STR_MAX];
    size_t n = flare_sock_addr_format(&a, out, sizeof out);
    assert_int_equal(n, strlen("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"));
    assert_int_equal(flare_sock_addr_format(&a, out, n), 0); /* no room for the NUL */
    assert_int_equal(flare_sock_addr_format(&a, out, n + 1), n);
}

static void test_port_errors(void **state)
{
    (void)state;
    const char *bad_port[] = {
        "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:100000000000",
        "127.0.0.1:",      "127.0.0.1",       "127.0.0.1:-1",
        "127.0.0.1:+80",   "127.0.0.1:8o",    "127.0.0.1:80 ",
        "127.0.0.1: 80",   "127.0.0.1:0x50",  "[::1]:",
        "[::1]",           "[::1]:65536",     "[::1]:http",
    };
    for (size_t i = 0; i < sizeof bad_port / sizeof bad_port[0]; i++)
        expect_error(bad_port[i], strlen(bad_port[i]), FLARE_EPORT);
    expect_error("127.0.0.1:80\0", 13, FLARE_EPORT);
    expect_error("127.0.0.1:8\r\n0", 14, FLARE_EPORT);
    expect_error("127.0.0.1:80\n", 13, FLARE_EPORT);
    expect_error("127.0.0.1:80@x", 14, FLARE_EPORT);

    flare_sock_addr a;
    flare_error err = {0};
    assert_int_equal(flare_sock_addr_parse(&a, "1.2.3.4:8x", 10, &err), FLARE_EPORT);
    assert_non_null(strstr(err.message, "offset 9"));
    assert_int_equal(flare_sock_addr_parse(&a, "1.2.3.4:65536", 13, &err), FLARE_EPORT);
    assert_non_null(strstr(err.message, "65536"));
    assert_int_equal(flare_sock_addr_parse(&a, "1.2.3.4", 7, &err), FLARE_EPORT);
    assert_non_null(strstr(err.message, "missing port"));
}

static void test_address_errors(void **state)
{
    (void)state;
    const char *bad_addr[] = {
        "::1:80",          /* IPv6 without brackets */
        "::1",             /* bare IPv6 */
        "fe80::1%2:80",    /* IPv6 with zone, no brackets */
        "[1.2.3.4]:80",    /* brackets are for IPv6 only */
        "[::1:80",         /* unclosed bracket */
        "[::1]80",         /* missing ':' after ']' */
        "[::1]x:80",       /* junk after ']' */
        "[]:80",           /* empty brackets */
        ":80",             /* missing host */
        "256.0.0.1:80",    /* octet out of range */
        "01.2.3.4:80",     /* leading zero */
        "localhost:80",    /* names are not addresses */
        "user@1.2.3.4:80", /* '@' */
        " 1.2.3.4:80",     /* space */
        "[1::2::3]:80",    /* double "::" */
        "1.2.3.4:80:80",   /* a ':' left in the address part */
        "",
    };
    for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++)
        expect_error(bad_addr[i], strlen(bad_addr[i]), FLARE_EADDR);
    expect_error("1.2.3\0.4:80", 11, FLARE_EADDR);
    expect_error("1.2.3.4\r:80", 11, FLARE_EADDR);
    expect_error("[::1\n]:80", 9, FLARE_EADDR);
    expect_error(NULL, 0, FLARE_EADDR);

    char big[300];
    memset(big, '1', sizeof big);
    expect_error(big, sizeof big, FLARE_EADDR);

    flare_sock_addr a;
    flare_error err = {0};
    assert_int_equal(flare_sock_addr_parse(&a, "::1:80", 6, &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "brackets"));
    assert_int_equal(flare_sock_addr_parse(NULL, "1.2.3.4:1", 9, &err), FLARE_EINVAL);
}

static void test_make_and_sockaddr(void **state)
{
    (void)state;
    flare_ip_addr ip = flare_ip_v4(192, 0, 2, 7);
    flare_sock_addr a = flare_sock_addr_make(&ip, 5353);
    assert_true(flare_ip_equal(&a.ip, &ip));
    assert_int_equal(a.port, 5353);

    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&a, &ss);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 5353);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000207u);

    flare_sock_addr back;
    assert_int_equal(flare_sock_addr_from_sockaddr(&back, (struct sockaddr *)&ss, len, NULL), 0);
    assert_true(flare_ip_equal(&back.ip, &a.ip));
    assert_int_equal(back.port, 5353);

    flare_sock_addr v6 = parse_ok("[fe80::abcd%5]:9");
    len = flare_sock_addr_to_sockaddr(&v6, &ss);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 9);
    assert_int_equal(sin6->sin6_scope_id, 5);
    assert_int_equal(sin6->sin6_addr.s6_addr[0], 0xfe);
    assert_int_equal(sin6->sin6_addr.s6_addr[15], 0xcd);
    assert_int_equal(flare_sock_addr_from_sockaddr(&back, (struct sockaddr *)&ss, len, NULL), 0);
    assert_true(flare_ip_equal(&back.ip, &v6.ip));
    assert_int_equal(back.port, 9);

    flare_sock_addr none = {0};
    assert_int_equal(flare_sock_addr_to_sockaddr(&none, &ss), 0);
}

static void test_from_sockaddr_errors(void **state)
{
    (void)state;
    flare_sock_addr out;
    flare_error err = {0};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    assert_int_equal(flare_sock_addr_from_sockaddr(&out, (struct sockaddr *)&sun, sizeof sun, &err),
                     FLARE_EADDR);
    assert_non_null(strstr(err.message, "family"));

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    assert_int_equal(flare_sock_addr_from_sockaddr(&out, (struct sockaddr *)&sin6,
                                                   sizeof(struct sockaddr_in), &err),
                     FLARE_EADDR);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    assert_int_equal(flare_sock_addr_from_sockaddr(&out, (struct sockaddr *)&sin, 1, &err),
                     FLARE_EADDR);
    assert_int_equal(flare_sock_addr_from_sockaddr(&out, NULL, 16, &err), FLARE_EINVAL);
}

static flare_cidr cidr_ok(const char *s)
{
    flare_cidr c;
    flare_error err = {0};
    if (flare_cidr_parse(&c, s, strlen(s), &err) != 0)
        fail_msg("cidr parse of \"%s\" failed: %s", s, err.message);
    return c;
}

static bool contains(const char *block, const char *addr)
{
    flare_cidr c = cidr_ok(block);
    flare_ip_addr ip;
    if (flare_ip_parse(&ip, addr, strlen(addr), NULL) != 0) fail_msg("bad test address %s", addr);
    return flare_cidr_contains(&c, &ip);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    flare_cidr c = cidr_ok("10.0.0.0/8");
    assert_int_equal(c.prefix_len, 8);
    assert_true(flare_ip_is_v4(&c.ip));

    /* Host bits are cleared. */
    c = cidr_ok("192.168.1.77/24");
    flare_ip_addr net = flare_ip_v4(192, 168, 1, 0);
    assert_true(flare_ip_equal(&c.ip, &net));
    c = cidr_ok("172.31.255.255/12");
    net = flare_ip_v4(172, 16, 0, 0);
    assert_true(flare_ip_equal(&c.ip, &net));
    c = cidr_ok("1.2.3.4/0");
    net = flare_ip_v4(0, 0, 0, 0);
    assert_true(flare_ip_equal(&c.ip, &net));
    c = cidr_ok("fd12:3456:789a::1/7");
    assert_int_equal(c.ip.bytes[0], 0xfc);
    assert_int_equal(c.ip.bytes[1], 0);
    c = cidr_ok("2001:db8::ffff/127");
    assert_int_equal(c.ip.bytes[15], 0xfe);

    /* A bare address is a full-length block. */
    c = cidr_ok("10.1.2.3");
    assert_int_equal(c.prefix_len, 32);
    c = cidr_ok("::1");
    assert_int_equal(c.prefix_len, 128);
    c = cidr_ok("::/0");
    assert_int_equal(c.prefix_len, 0);
}

static void test_cidr_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/08",
        "10.0.0.0/1000",
        "10.0.0.0/8x",
        "10.0.0.0/8/8",
        "/8",
        "10.0.0/8",
        "10.0.0.0 /8",
        "10.0.0.0/ 8",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_cidr c;
        flare_error err = {0};
        int rc = flare_cidr_parse(&c, bad[i], strlen(bad[i]), &err);
        if (rc != FLARE_EADDR)
            fail_msg("cidr \"%s\": want FLARE_EADDR, got %s", bad[i], flare_error_name(rc));
    }
    flare_cidr c;
    assert_int_equal(flare_cidr_parse(&c, "10.0.0.0/8\0", 11, NULL), FLARE_EADDR);
    assert_int_equal(flare_cidr_parse(&c, "10.0.0.0\n/8", 11, NULL), FLARE_EADDR);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    assert_true(contains("10.0.0.0/8", "10.255.1.2"));
    assert_false(contains("10.0.0.0/8", "11.0.0.0"));
    assert_true(contains("172.16.0.0/12", "172.31.255.255"));
    assert_false(contains("172.16.0.0/12", "172.32.0.0"));
    assert_true(contains("192.168.1.0/25", "192.168.1.127"));
    assert_false(contains("192.168.1.0/25", "192.168.1.128"));
    assert_true(contains("0.0.0.0/0", "203.0.113.9"));
    assert_true(contains("10.1.2.3", "10.1.2.3"));
    assert_false(contains("10.1.2.3", "10.1.2.4"));
    assert_true(contains("fc00::/7", "fdff::1"));
    assert_false(contains("fc00::/7", "fe00::1"));
    assert_true(contains("fe80::/10", "fe80::1%3"));
    assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(contains("2001:db8::/32", "2001:db9::1"));
    /* Families do not mix, except that mapped IPv4 is unmapped first. */
    assert_false(contains("::/0", "1.2.3.4"));
    assert_false(contains("0.0.0.0/0", "::1"));
    assert_true(contains("10.0.0.0/8", "::ffff:10.9.9.9"));
    assert_false(contains("10.0.0.0/8", "::ffff:11.9.9.9"));
    assert_true(contains("::ffff:0:0/96", "::ffff:1.2.3.4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_port_errors),
        cmocka_unit_test(test_address_errors),
        cmocka_unit_test(test_make_and_sockaddr),
        cmocka_unit_test(test_from_sockaddr_errors),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_errors),
        cmocka_unit_test(test_cidr_contains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
