/*
 * test_proxy_protocol.c: src/http/proxy_protocol.c. One test per rule of the
 * spec: v1 fields, lengths and spacing; v2 signature, version, commands,
 * families, transports, lengths and TLVs; and every valid header cut short
 * reports "incomplete", never "error", so a resumed read cannot be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/proxy_protocol.h"

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

static ssize_t parse(const char *s, size_t len, flare_proxy_header *ph)
{
    memset(ph, 0xAA, sizeof *ph);
    return flare_proxy_parse(s, len, ph);
}

static ssize_t parse_str(const char *s, flare_proxy_header *ph)
{
    return parse(s, strlen(s), ph);
}

/* Every proper prefix of a valid header is incomplete. */
static void assert_prefixes_incomplete(const char *s, size_t len)
{
    flare_proxy_header ph;
    for (size_t i = 0; i < len; i++)
        assert_int_equal(parse(s, i, &ph), FLARE_EINCOMPLETE);
}

static void assert_ip(const flare_sock_addr *a, const char *ip, uint16_t port)
{
    flare_ip_addr want;
    assert_int_equal(flare_ip_parse(&want, ip, strlen(ip), NULL), 0);
    assert_true(flare_ip_equal(&a->ip, &want));
    assert_int_equal(a->port, port);
}

static void test_v1_tcp4(void **state)
{
    (void)state;
    const char *h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
    flare_proxy_header ph;
    size_t hlen = strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
    assert_int_equal(parse_str(h, &ph), (ssize_t)hlen);
    assert_int_equal(ph.version, 1);
    assert_true(ph.has_addresses);
    assert_ip(&ph.src, "192.0.2.1", 56324);
    assert_ip(&ph.dst, "198.51.100.2", 443);
    assert_prefixes_incomplete(h, hlen);
}

static void test_v1_tcp6(void **state)
{
    (void)state;
    const char *h = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
    flare_proxy_header ph;
    assert_int_equal(parse_str(h, &ph), (ssize_t)strlen(h));
    assert_ip(&ph.src, "2001:db8::1", 0);
    assert_ip(&ph.dst, "::ffff:10.0.0.1", 65535);
    assert_prefixes_incomplete(h, strlen(h));
}

static void test_v1_unknown(void **state)
{
    (void)state;
    flare_proxy_header ph;
    assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &ph), 15);
    assert_false(ph.has_addresses);
    /* §2.1: whatever follows UNKNOWN up to the CRLF is ignored. */
    const char *h = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    assert_int_equal(parse_str(h, &ph), (ssize_t)strlen(h));
    assert_false(ph.has_addresses);
    assert_int_equal(parse_str("PROXY UNKNOWNX\r\n", &ph), FLARE_EPARSE);
}

static void test_v1_length_limit(void **state)
{
    (void)state;
    /* The longest TCP6 line is 104 bytes; UNKNOWN may pad up to 107 with its CRLF. */
    char line[200];
    const char *max6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_int_equal(strlen(max6), 104);
    flare_proxy_header ph;
    assert_int_equal(parse_str(max6, &ph), 104);
    /* UNKNOWN padded past 107 bytes: refused once 107 bytes hold no LF. */
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    assert_int_equal(parse(line, 106, &ph), FLARE_EINCOMPLETE);
    assert_int_equal(parse(line, 107, &ph), FLARE_EPARSE);
    memcpy(line + 106, "\r\n", 2);
    assert_int_equal(parse(line, 108, &ph), FLARE_EPARSE);
    memcpy(line + 105, "\r\n", 2);
    assert_int_equal(parse(line, 108, &ph), 107);
}

static void test_v1_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* bare LF */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",   /* CR inside */
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    /* trailing space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* missing port */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* extra field */
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", /* port range */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    /* sign */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",    /* junk */
        "PROXY TCP4 ::1 ::1 1 2\r\n",             /* IPv6 under TCP4 */
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",     /* IPv4 under TCP6 */
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",    /* zone */
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",       /* short address */
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",    /* octal-looking */
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",     /* protocol */
        "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",     /* case */
        "PROXY \r\n",                             /* nothing */
        "PROXY TCP4\r\n",                         /* no fields */
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",     /* case of the prefix */
        "PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n",     /* prefix */
        "GET / HTTP/1.1\r\n",                     /* no header at all */
    };
    flare_proxy_header ph;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ssize_t rc = parse_str(bad[i], &ph);
        if (rc != FLARE_EPARSE) fail_msg("accepted: %s (%zd)", bad[i], rc);
    }
    /* A wrong prefix fails at once, before the line is complete. */
    assert_int_equal(parse_str("PROXX", &ph), FLARE_EPARSE);
    assert_int_equal(parse_str("G", &ph), FLARE_EPARSE);
    assert_int_equal(parse("\0", 1, &ph), FLARE_EPARSE);
    /* A NUL in the line. */
    assert_int_equal(parse("PROXY UNKNOWN\0\r\n", 16, &ph), FLARE_EPARSE);
}

/* A v2 header: fixed part, then `block` bytes. */
static size_t v2(char *out, uint8_t ver_cmd, uint8_t fam, const void *block, size_t len)
{
    memcpy(out, V2SIG, 12);
    out[12] = (char)ver_cmd;
    out[13] = (char)fam;
    out[14] = (char)(len >> 8);
    out[15] = (char)len;
    if (len) memcpy(out + 16, block, len);
    return 16 + len;
}

static const uint8_t inet_block[12] = {192, 0, 2, 1, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb};

static void test_v2_inet(void **state)
{
    (void)state;
    char buf[256];
    size_t n = v2(buf, 0x21, 0x11, inet_block, sizeof inet_block);
    memcpy(buf + n, "GET", 3);
    flare_proxy_header ph;
    assert_int_equal(parse(buf, n + 3, &ph), (ssize_t)n);
    assert_int_equal(ph.version, 2);
    assert_true(ph.has_addresses);
    assert_ip(&ph.src, "192.0.2.1", 56324);
    assert_ip(&ph.dst, "10.0.0.1", 443);
    assert_prefixes_incomplete(buf, n);
}

static void test_v2_inet6_with_tlvs(void **state)
{
    (void)state;
    uint8_t block[64] = {0};
    block[15] = 1;                      /* src ::1 */
    block[16] = 0x20, block[17] = 0x01; /* dst 2001:: */
    block[32] = 0x30, block[33] = 0x39; /* sport 12345 */
    block[34] = 0x00, block[35] = 0x50; /* dport 80 */
    /* TLVs: ALPN "h2", then an empty NOOP. */
    uint8_t tlvs[] = {0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00};
    memcpy(block + 36, tlvs, sizeof tlvs);
    char buf[256];
    size_t n = v2(buf, 0x21, 0x21, block, 36 + sizeof tlvs);
    flare_proxy_header ph;
    assert_int_equal(parse(buf, n, &ph), (ssize_t)n);
    assert_ip(&ph.src, "::1", 12345);
    assert_ip(&ph.dst, "2001::", 80);
    assert_prefixes_incomplete(buf, n);
    /* A TLV whose length runs past the block, or a cut TLV header, is refused. */
    block[36 + 2] = 3;
    n = v2(buf, 0x21, 0x21, block, 36 + sizeof tlvs);
    assert_int_equal(parse(buf, n, &ph), FLARE_EPARSE);
    block[36 + 2] = 2;
    n = v2(buf, 0x21, 0x21, block, 36 + sizeof tlvs - 1);
    assert_int_equal(parse(buf, n, &ph), FLARE_EPARSE);
}

static void test_v2_local_and_unspec(void **state)
{
    (void)state;
    char buf[256];
    flare_proxy_header ph;
    /* LOCAL: the block (whatever it holds) is skipped and the socket's addresses kept. */
    size_t n = v2(buf, 0x20, 0x11, inet_block, sizeof inet_block);
    assert_int_equal(parse(buf, n, &ph), (ssize_t)n);
    assert_false(ph.has_addresses);
    n = v2(buf, 0x20, 0x00, NULL, 0);
    assert_int_equal(parse(buf, n, &ph), 16);
    assert_false(ph.has_addresses);
    /* PROXY over AF_UNSPEC: addresses unknown. */
    n = v2(buf, 0x21, 0x00, "abc", 3);
    assert_int_equal(parse(buf, n, &ph), (ssize_t)n);
    assert_false(ph.has_addresses);
    n = v2(buf, 0x21, 0x01, NULL, 0);
    assert_int_equal(parse(buf, n, &ph), 16);
}

static void test_v2_refused(void **state)
{
    (void)state;
    char buf[256];
    flare_proxy_header ph;
    uint8_t unix_block[216] = {0};
    struct {
        uint8_t ver_cmd, fam;
        const void *block;
        size_t len;
        const char *why;
    } bad[] = {
        {0x11, 0x11, inet_block, 12, "version 1 in binary"},
        {0x31, 0x11, inet_block, 12, "version 3"},
        {0x22, 0x11, inet_block, 12, "command 2"},
        {0x2f, 0x11, inet_block, 12, "command 15"},
        {0x21, 0x12, inet_block, 12, "INET over DGRAM"},
        {0x21, 0x10, inet_block, 12, "INET over UNSPEC transport"},
        {0x21, 0x31, unix_block, 216, "AF_UNIX"},
        {0x21, 0x41, inet_block, 12, "family 4"},
        {0x21, 0x02, NULL, 0, "UNSPEC over DGRAM"},
        {0x21, 0x11, inet_block, 11, "INET block too short"},
        {0x21, 0x21, unix_block, 35, "INET6 block too short"},
        {0x20, 0x51, NULL, 0, "LOCAL with family 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = v2(buf, bad[i].ver_cmd, bad[i].fam, bad[i].block, bad[i].len);
        if (parse(buf, n, &ph) != FLARE_EPARSE) fail_msg("accepted: %s", bad[i].why);
    }
    /* A bad version is refused as soon as its byte is there. */
    v2(buf, 0x31, 0x11, NULL, 0);
    assert_int_equal(parse(buf, 13, &ph), FLARE_EPARSE);
    /* A damaged signature is refused at the first wrong byte. */
    size_t n = v2(buf, 0x21, 0x11, inet_block, 12);
    buf[6] = 'x';
    assert_int_equal(parse(buf, 7, &ph), FLARE_EPARSE);
    assert_int_equal(parse(buf, n, &ph), FLARE_EPARSE);
    buf[6] = '\r';
    buf[11] = ' ';
    assert_int_equal(parse(buf, n, &ph), FLARE_EPARSE);
}

static void test_v2_max_length(void **state)
{
    (void)state;
    /* 65535 bytes of block: an INET address and one TLV filling the rest. */
    static char buf[16 + 65535];
    static uint8_t block[65535];
    memcpy(block, inet_block, 12);
    size_t tlv = 65535 - 12 - 3;
    block[12] = 0xEE;
    block[13] = (uint8_t)(tlv >> 8);
    block[14] = (uint8_t)tlv;
    size_t n = v2(buf, 0x21, 0x11, block, sizeof block);
    flare_proxy_header ph;
    assert_int_equal(parse(buf, n, &ph), (ssize_t)n);
    assert_int_equal(parse(buf, n - 1, &ph), FLARE_EINCOMPLETE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_length_limit),
        cmocka_unit_test(test_v1_malformed),
        cmocka_unit_test(test_v2_inet),
        cmocka_unit_test(test_v2_inet6_with_tlvs),
        cmocka_unit_test(test_v2_local_and_unspec),
        cmocka_unit_test(test_v2_refused),
        cmocka_unit_test(test_v2_max_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
