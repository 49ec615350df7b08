/*
 * test_ip_addr.c: tests of src/net/ip_addr.c: strict literal parsing with typed
 * errors, RFC 5952 formatting, parse/format round trips, classification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "flare/net.h"

static flare_ip_addr parse_ok(const char *s)
{
    flare_ip_addr ip;
    flare_error err = {0};
    int rc = flare_ip_parse(&ip, s, strlen(s), &err);
    if (rc != 0) fail_msg("parse of \"%s\" failed: %s", s, err.message);
    return ip;
}

static void expect_error(const char *s, size_t len, int code)
{
    flare_ip_addr ip = flare_ip_v4(9, 9, 9, 9);
    flare_error err = {0};
    int rc = flare_ip_parse(&ip, s, len, &err);
    if (rc != code)
        fail_msg("parse of \"%.*s\" (len %zu): want %s, got %s (%s)", (int)len, s, len,
                 flare_error_name(code), flare_error_name(rc), err.message);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    /* A failed parse leaves the output untouched. */
    flare_ip_addr untouched = flare_ip_v4(9, 9, 9, 9);
    assert_true(flare_ip_equal(&ip, &untouched));
}

static void expect_format(const char *in, const char *want)
{
    flare_ip_addr ip = parse_ok(in);
    char out[FLARE_IP_STR_MAX];
    size_t n = flare_ip_format(&ip, out, sizeof out);
    if (n != strlen(want) || strcmp(out, want) != 0)
        fail_msg("format of \"%s\": want \"%s\", got \"%s\"", in, want, out);
    /* The canonical text parses back to the same address. */
    flare_ip_addr again = parse_ok(out);
    assert_true(flare_ip_equal(&ip, &again));
}

static void test_ipv4_valid(void **state)
{
    (void)state;
    flare_ip_addr ip = parse_ok("192.168.1.100");
    assert_int_equal(ip.family, AF_INET);
    assert_int_equal(ip.bytes[0], 192);
    assert_int_equal(ip.bytes[1], 168);
    assert_int_equal(ip.bytes[2], 1);
    assert_int_equal(ip.bytes[3], 100);
    assert_int_equal(ip.scope_id, 0);
    assert_true(flare_ip_is_v4(&ip));
    assert_false(flare_ip_is_v6(&ip));

    const char *canonical[] = {"0.0.0.0", "127.0.0.1",  "255.255.255.255", "10.0.0.1",
                               "1.2.3.4", "100.64.0.0", "8.8.8.8",         "224.0.0.251"};
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++)
        expect_format(canonical[i], canonical[i]);
}

static void test_ipv4_explicit_length(void **state)
{
    (void)state;
    /* Only len bytes are read: the rest of the buffer is not part of the input. */
    flare_ip_addr ip;
    assert_int_equal(flare_ip_parse(&ip, "10.1.2.3:80", 8, NULL), 0);
    flare_ip_addr want = flare_ip_v4(10, 1, 2, 3);
    assert_true(flare_ip_equal(&ip, &want));
}

static void test_ipv4_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "1.2.3",        "1.2.3.4.5", "256.1.1.1",  "1.2.3.256",  "1.2.3.1000", "01.2.3.4",
        "1.2.3.04",     "1.2.3.00",  "1..2.3",     ".1.2.3.4",   "1.2.3.4.",   "1.2.3.-4",
        "+1.2.3.4",     "1.2.3.4x",  "a.b.c.d",    "0x7f.0.0.1", "127.1",      "2130706433",
        "1.2.3.4%eth0", "localhost", "1.2.3.4/24", "1,2,3,4",    "1.2.3.4:80", "999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], strlen(bad[i]), FLARE_EADDR);
}

static void test_forbidden_bytes(void **state)
{
    (void)state;
    /* NUL in the middle, with an explicit length that includes it. */
    expect_error("127.0.0.1\0.evil", 15, FLARE_EADDR);
    expect_error("127.0\0.0.1", 10, FLARE_EADDR);
    expect_error("::1\0", 4, FLARE_EADDR);
    expect_error("127.0.0.1\r", 10, FLARE_EADDR);
    expect_error("127.0.0.1\n", 10, FLARE_EADDR);
    expect_error("127.0.0.1\r\nHost: x", 18, FLARE_EADDR);
    expect_error("user@127.0.0.1", 14, FLARE_EADDR);
    expect_error("::1@x", 5, FLARE_EADDR);
    expect_error(" 127.0.0.1", 10, FLARE_EADDR);
    expect_error("127.0.0.1 ", 10, FLARE_EADDR);
    expect_error("\t::1", 4, FLARE_EADDR);
    expect_error("::1\x7f", 4, FLARE_EADDR);
    expect_error("1.2.3.\xc2\xb9", 8, FLARE_EADDR);
    expect_error("", 0, FLARE_EADDR);
    expect_error(NULL, 0, FLARE_EADDR);

    /* The message names the offending byte and where it is. */
    flare_ip_addr ip;
    flare_error err = {0};
    assert_int_equal(flare_ip_parse(&ip, "127.0\n.0.1", 10, &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "0x0a"));
    assert_non_null(strstr(err.message, "offset 5"));
    /* The raw input is never echoed into the message, so a CR/LF cannot forge log lines. */
    assert_null(strchr(err.message, '\n'));
    /* '@' (userinfo smuggling) is refused as a byte, before any octet parsing. */
    assert_int_equal(flare_ip_parse(&ip, "127.0.0.1@evil", 14, &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "0x40 at offset 9"));
}

static void test_overlong(void **state)
{
    (void)state;
    char s[200];
    memset(s, '1', sizeof s);
    expect_error(s, sizeof s, FLARE_EADDR);

    /* 63 bytes (FLARE_IP_STR_MAX - 1) is the limit: accepted at 63, refused at 64. */
    const char *at_limit = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%00000004294967295";
    assert_int_equal(strlen(at_limit), FLARE_IP_STR_MAX - 1);
    flare_ip_addr ip = parse_ok(at_limit);
    assert_int_equal(ip.scope_id, 4294967295u);
    const char *over = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%000000004294967295";
    assert_int_equal(strlen(over), FLARE_IP_STR_MAX);
    flare_error err = {0};
    assert_int_equal(flare_ip_parse(&ip, over, strlen(over), &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "longer than"));

    /* The longest address formats within FLARE_IP_STR_MAX. */
    ip = parse_ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
    char out[FLARE_IP_STR_MAX];
    assert_int_equal(flare_ip_format(&ip, out, sizeof out), 50);
    assert_string_equal(out, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
}

static void test_ipv6_forms(void **state)
{
    (void)state;
    flare_ip_addr ip = parse_ok("::1");
    flare_ip_addr loop = flare_ip_v6_loopback();
    assert_true(flare_ip_equal(&ip, &loop));
    assert_true(flare_ip_is_v6(&ip));
    assert_false(flare_ip_is_v4(&ip));

    ip = parse_ok("2001:db8:0:0:1:0:0:1");
    static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(ip.bytes, want, 16);

    /* Every RFC 4291 §2.2 spelling of the same address parses to the same bytes. */
    const char *same[] = {"2001:0db8:0000:0000:0001:0000:0000:0001", "2001:DB8::1:0:0:1",
                          "2001:db8:0::1:0:0:1", "2001:db8::0:1:0:0:1", "2001:db8:0:0:1::1"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        flare_ip_addr other = parse_ok(same[i]);
        assert_true(flare_ip_equal(&ip, &other));
    }

    ip = parse_ok("::");
    assert_true(flare_ip_is_unspecified(&ip));
    ip = parse_ok("1::");
    assert_int_equal(ip.bytes[1], 1);
    ip = parse_ok("1:2:3:4:5:6:7::");
    assert_int_equal(ip.bytes[13], 7);
    assert_int_equal(ip.bytes[15], 0);
    ip = parse_ok("::2:3:4:5:6:7:8");
    assert_int_equal(ip.bytes[1], 0);
    assert_int_equal(ip.bytes[3], 2);
}

static void test_ipv6_embedded_ipv4(void **state)
{
    (void)state;
    flare_ip_addr ip = parse_ok("::ffff:1.2.3.4");
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
    assert_memory_equal(ip.bytes, mapped, 16);
    flare_ip_addr v4 = flare_ip_unmap(&ip);
    flare_ip_addr want = flare_ip_v4(1, 2, 3, 4);
    assert_true(flare_ip_equal(&v4, &want));

    ip = parse_ok("1:2:3:4:5:6:7.8.9.10");
    assert_int_equal(ip.bytes[12], 7);
    assert_int_equal(ip.bytes[15], 10);
    ip = parse_ok("64:ff9b::192.0.2.33");
    assert_int_equal(ip.bytes[12], 192);
    assert_int_equal(ip.bytes[15], 33);
    ip = parse_ok("::1.2.3.4");
    assert_int_equal(ip.bytes[11], 0);
    assert_int_equal(ip.bytes[12], 1);
}

static void test_ipv6_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "1:2:3:4:5:6:7",             /* too few groups, no "::" */
        "1:2:3:4:5:6:7:8:9",         /* too many groups */
        "1:2:3:4:5:6:7:8::",         /* "::" with 8 groups */
        "::1:2:3:4:5:6:7:8",         /* same, leading */
        "1::2::3",                   /* double "::" */
        "::1::",                     /* double "::" */
        ":::",                       /* triple colon */
        "1:::2",                     /* triple colon */
        ":1::2",                     /* single leading colon */
        "1::2:",                     /* single trailing colon */
        ":",                         /* lone colon */
        "12345::1",                  /* group of five hex digits */
        "1:2:3:4:5:6:7:g",           /* non-hex */
        "::ffff:1.2.3",              /* short IPv4 tail */
        "::ffff:1.2.3.256",          /* IPv4 tail out of range */
        "::ffff:01.2.3.4",           /* IPv4 tail leading zero */
        "::1.2.3.4:1",               /* IPv4 tail not last */
        "1:2:3:4:5:6:7:1.2.3.4",     /* IPv4 tail with 7 groups */
        "1:2:3:4:5:6::1.2.3.4",      /* IPv4 tail leaving no room for "::" */
        "[::1]",                     /* brackets are not part of an IP literal */
        "::1/128",                   /* prefix is not part of an IP literal */
        "fe80::1%",                  /* empty zone */
        "fe80::1%1%2",               /* two zones */
        "fe80::1%99999999999",       /* zone index beyond 32 bits */
        "fe80::1%no-such-if0",       /* unknown interface */
        "fe80::1%abcdefghijklmnopq", /* longer than IF_NAMESIZE */
        "%1",                        /* zone without address */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], strlen(bad[i]), FLARE_EADDR);
}

static void test_ipv6_zone(void **state)
{
    (void)state;
    flare_ip_addr ip = parse_ok("fe80::1%7");
    assert_int_equal(ip.scope_id, 7);
    assert_true(flare_ip_is_link_local(&ip));

    unsigned lo = if_nametoindex("lo");
    assert_true(lo > 0);
    ip = parse_ok("fe80::1%lo");
    assert_int_equal(ip.scope_id, lo);

    /* Zones take part in equality. */
    flare_ip_addr a = parse_ok("fe80::1%1"), b = parse_ok("fe80::1%2"), c = parse_ok("fe80::1");
    assert_false(flare_ip_equal(&a, &b));
    assert_false(flare_ip_equal(&a, &c));

    /* The unknown-interface message names the interface. */
    flare_error err = {0};
    assert_int_equal(flare_ip_parse(&ip, "fe80::1%nosuch9", 15, &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "nosuch9"));
}

static void test_ipv6_format_rfc5952(void **state)
{
    (void)state;
    /* §4.1 no leading zeros; §4.2.1 longest run; §4.2.2 not for one group;
     * §4.2.3 first run on a tie; §4.3 lowercase; §5 mapped keeps dotted quad. */
    expect_format("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
    expect_format("2001:db8:0:0:0:0:2:1", "2001:db8::2:1");
    expect_format("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
    expect_format("2001:0:0:1:0:0:0:1", "2001:0:0:1::1");
    expect_format("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
    expect_format("2001:DB8::ABCD:EF", "2001:db8::abcd:ef");
    expect_format("0:0:0:0:0:0:0:0", "::");
    expect_format("0:0:0:0:0:0:0:1", "::1");
    expect_format("1:0:0:0:0:0:0:0", "1::");
    expect_format("0:0:1:0:0:0:0:0", "0:0:1::");
    expect_format("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8");
    expect_format("1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8");
    expect_format("fe80::0001%3", "fe80::1%3");
    expect_format("::ffff:1.2.3.4", "::ffff:1.2.3.4");
    expect_format("::FFFF:0102:0304", "::ffff:1.2.3.4");
    expect_format("0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1");
    expect_format("64:ff9b::192.0.2.33", "64:ff9b::c000:221");
    expect_format("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_format_capacity(void **state)
{
    (void)state;
    flare_ip_addr ip = flare_ip_v4(255, 255, 255, 255);
    char out[16];
    memset(out, 'x', sizeof out);
    assert_int_equal(flare_ip_format(&ip, out, 15), 0); /* needs 16 with NUL */
    assert_int_equal(out[0], 'x');                      /* nothing written */
    assert_int_equal(flare_ip_format(&ip, out, 16), 15);
    assert_string_equal(out, "255.255.255.255");

    flare_ip_addr none = {0};
    assert_int_equal(flare_ip_format(&none, out, sizeof out), 0);
}

static void test_constructors(void **state)
{
    (void)state;
    flare_ip_addr ip = flare_ip_v4(127, 0, 0, 1);
    char out[FLARE_IP_STR_MAX];
    assert_int_equal(flare_ip_format(&ip, out, sizeof out), 9);
    assert_string_equal(out, "127.0.0.1");
    ip = flare_ip_v6_loopback();
    assert_int_equal(flare_ip_format(&ip, out, sizeof out), 3);
    assert_string_equal(out, "::1");
    assert_int_equal(ip.scope_id, 0);
}

static void check_class(const char *s, bool (*pred)(const flare_ip_addr *), bool want)
{
    flare_ip_addr ip = parse_ok(s);
    if (pred(&ip) != want) fail_msg("classification of %s: want %s", s, want ? "true" : "false");
}

static void test_loopback(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1", "127.255.255.254",  "127.0.0.0",
                         "::1",       "::ffff:127.0.0.1", "::ffff:127.1.2.3"};
    const char *no[] = {"128.0.0.1", "126.255.255.255", "0.0.0.0", "::",         "::2",
                        "fe80::1",   "::ffff:10.0.0.1", "1::1",    "::127.0.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_class(yes[i], flare_ip_is_loopback, true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_class(no[i], flare_ip_is_loopback, false);
}

static void test_private(void **state)
{
    (void)state;
    const char *yes[] = {"10.0.0.0",     "10.255.255.255",  "172.16.0.1",        "172.31.255.255",
                         "192.168.0.1",  "192.168.1.100",   "fc00::1",           "fd12:3456::1",
                         "fdff:ffff::1", "::ffff:10.1.2.3", "::ffff:192.168.0.1"};
    const char *no[] = {
        "9.255.255.255", "11.0.0.0",    "172.15.255.255", "172.32.0.0", "192.167.1.1",
        "192.169.0.1",   "8.8.8.8",     "127.0.0.1",      "fe00::1",    "fbff::1",
        "::1",           "2001:db8::1", "::ffff:8.8.8.8", "100.64.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_class(yes[i], flare_ip_is_private, true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_class(no[i], flare_ip_is_private, false);
}

static void test_link_local(void **state)
{
    (void)state;
    const char *yes[] = {"169.254.0.1", "169.254.255.255", "fe80::1",
                         "febf::1",     "fe80::1%1",       "::ffff:169.254.1.1"};
    const char *no[] = {"169.253.0.1", "169.255.0.1", "fec0::1", "fe7f::1", "::1", "10.0.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_class(yes[i], flare_ip_is_link_local, true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_class(no[i], flare_ip_is_link_local, false);
}

static void test_multicast(void **state)
{
    (void)state;
    const char *yes[] = {"224.0.0.1", "239.255.255.255", "230.1.2.3",
                         "ff02::1",   "ff05::1:3",       "::ffff:224.0.0.251"};
    const char *no[] = {"223.255.255.255", "240.0.0.1", "fe80::1", "feff::1", "::1", "0.0.0.0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_class(yes[i], flare_ip_is_multicast, true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_class(no[i], flare_ip_is_multicast, false);
}

static void test_unspecified(void **state)
{
    (void)state;
    const char *yes[] = {"0.0.0.0", "::", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0"};
    const char *no[] = {"0.0.0.1", "1.0.0.0", "::1", "::0.0.0.1", "::ffff:0.0.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        check_class(yes[i], flare_ip_is_unspecified, true);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        check_class(no[i], flare_ip_is_unspecified, false);
}

static void test_equal_and_unmap(void **state)
{
    (void)state;
    flare_ip_addr a = parse_ok("10.0.0.1"), b = flare_ip_v4(10, 0, 0, 1);
    assert_true(flare_ip_equal(&a, &b));
    /* Bytes past the fourth do not matter for IPv4. */
    b.bytes[9] = 0x55;
    assert_true(flare_ip_equal(&a, &b));
    flare_ip_addr c = flare_ip_v4(10, 0, 0, 2);
    assert_false(flare_ip_equal(&a, &c));
    /* A mapped address is a different address until unmapped. */
    flare_ip_addr m = parse_ok("::ffff:10.0.0.1");
    assert_false(flare_ip_equal(&a, &m));
    flare_ip_addr u = flare_ip_unmap(&m);
    assert_true(flare_ip_equal(&a, &u));
    /* Non-mapped addresses come back unchanged. */
    flare_ip_addr v6 = parse_ok("2001:db8::1%4");
    u = flare_ip_unmap(&v6);
    assert_true(flare_ip_equal(&u, &v6));
    u = flare_ip_unmap(&a);
    assert_true(flare_ip_equal(&u, &a));
    flare_ip_addr compat = parse_ok("::10.0.0.1");
    u = flare_ip_unmap(&compat);
    assert_true(flare_ip_is_v6(&u));
    /* IPv4 and IPv6 never compare equal. */
    flare_ip_addr z4 = parse_ok("0.0.0.0"), z6 = parse_ok("::");
    assert_false(flare_ip_equal(&z4, &z6));
}

/* The key of a per-client limit: equal for two addresses exactly when they are one client. */
static bool same_client(const char *a, const char *b, unsigned ipv6_prefix)
{
    flare_ip_addr x = parse_ok(a), y = parse_ok(b);
    flare_ip_addr kx = flare_ip_client_key(&x, ipv6_prefix),
                  ky = flare_ip_client_key(&y, ipv6_prefix);
    return kx.family == ky.family && memcmp(kx.bytes, ky.bytes, 16) == 0 &&
           kx.scope_id == ky.scope_id;
}

/* flare_ip_compare: IPv4 before IPv6, then bytes as numbers, then zone; 0 only when equal. */
static void test_compare(void **state)
{
    (void)state;
    const char *ascending[] = {"9.0.0.1", "10.0.0.1",  "10.0.0.2", "::1",
                               "fe80::1", "fe80::1%2", "fe80::2"};
    size_t n = sizeof ascending / sizeof ascending[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            flare_ip_addr a = parse_ok(ascending[i]), b = parse_ok(ascending[j]);
            int c = flare_ip_compare(&a, &b);
            if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
                fail_msg("compare(%s, %s) = %d", ascending[i], ascending[j], c);
            assert_int_equal(c == 0, flare_ip_equal(&a, &b));
        }
}

static void test_client_key(void **state)
{
    (void)state;
    /* Two addresses of one /64 (say, a host's temporary addresses) are one client. */
    assert_true(same_client("2001:db8:1:2::1", "2001:db8:1:2:a1b2:c3d4:e5f6:7788", 64));
    assert_false(same_client("2001:db8:1:2::1", "2001:db8:1:3::1", 64));
    assert_true(same_client("2001:db8:1:2::1", "2001:db8:1:3::1", 56));
    assert_false(same_client("2001:db8:1:2::1", "2001:db8:1:2::2", 128));
    /* A prefix that cuts a byte: /57 keeps the top bit of the eighth byte. */
    assert_true(same_client("2001:db8:1:200::", "2001:db8:1:27f::", 57));
    assert_false(same_client("2001:db8:1:200::", "2001:db8:1:280::", 57));
    /* An IPv4 client is its address, IPv4-mapped or not, whatever the IPv6 prefix. */
    assert_true(same_client("192.0.2.1", "::ffff:192.0.2.1", 64));
    assert_false(same_client("192.0.2.1", "192.0.2.2", 1));
    assert_false(same_client("::ffff:192.0.2.1", "::ffff:192.0.2.2", 64));
    /* The zone does not make another client. */
    assert_true(same_client("fe80::1%1", "fe80::2%2", 64));
    /* The key is the address with its host bits cleared. */
    flare_ip_addr ip = parse_ok("2001:db8:1:2:3:4:5:6");
    flare_ip_addr k = flare_ip_client_key(&ip, 64), want = parse_ok("2001:db8:1:2::");
    assert_true(flare_ip_equal(&k, &want));
}

static void test_prefix(void **state)
{
    (void)state;
    flare_ip_addr ip = parse_ok("203.0.113.255"), want = parse_ok("203.0.112.0");
    flare_ip_addr p = flare_ip_prefix(&ip, 20);
    assert_true(flare_ip_equal(&p, &want));
    p = flare_ip_prefix(&ip, 40); /* past the width: the address itself */
    assert_true(flare_ip_equal(&p, &ip));
    ip = parse_ok("fe80::1:2%3");
    p = flare_ip_prefix(&ip, 0);
    assert_int_equal(p.scope_id, 3); /* the zone is kept */
    assert_int_equal(p.bytes[0], 0);
    assert_int_equal(p.bytes[15], 0);
}

static void test_null_arguments(void **state)
{
    (void)state;
    flare_error err = {0};
    assert_int_equal(flare_ip_parse(NULL, "1.2.3.4", 7, &err), FLARE_EINVAL);
    flare_ip_addr ip;
    assert_int_equal(flare_ip_parse(&ip, NULL, 3, &err), FLARE_EINVAL);
    assert_false(flare_ip_is_loopback(NULL));
    assert_false(flare_ip_is_v4(NULL));
    assert_false(flare_ip_equal(NULL, &ip));
    char out[8];
    assert_int_equal(flare_ip_format(NULL, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_valid),
        cmocka_unit_test(test_ipv4_explicit_length),
        cmocka_unit_test(test_ipv4_invalid),
        cmocka_unit_test(test_forbidden_bytes),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_ipv6_forms),
        cmocka_unit_test(test_ipv6_embedded_ipv4),
        cmocka_unit_test(test_ipv6_invalid),
        cmocka_unit_test(test_ipv6_zone),
        cmocka_unit_test(test_ipv6_format_rfc5952),
        cmocka_unit_test(test_format_capacity),
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_private),
        cmocka_unit_test(test_link_local),
        cmocka_unit_test(test_multicast),
        cmocka_unit_test(test_unspecified),
        cmocka_unit_test(test_equal_and_unmap),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_client_key),
        cmocka_unit_test(test_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
