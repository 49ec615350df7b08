/*
 * test_forwarded.c: src/http/forwarded.c, the client address behind trusted
 * proxies: right-to-left walk, several field lines, all-trusted chains,
 * malformed entries, untrusted peers and IPv4-mapped peers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http.h"

static flare_cidr trusted[2];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(flare_cidr_parse(&trusted[0], "10.0.0.0/8", 10, NULL), 0);
    assert_int_equal(flare_cidr_parse(&trusted[1], "fd00::/8", 8, NULL), 0);
    return 0;
}

static flare_sock_addr addr(const char *ip, uint16_t port)
{
    flare_sock_addr a = {.port = port};
    assert_int_equal(flare_ip_parse(&a.ip, ip, strlen(ip), NULL), 0);
    return a;
}

/* Resolves with the given X-Forwarded-For lines (NULL-terminated) and returns the text. */
static const char *client(const char *peer, const char *const *xff, uint16_t *port)
{
    static char out[FLARE_IP_STR_MAX];
    flare_http_header h[8];
    flare_http_request req = {.headers = h};
    h[req.num_headers++] = (flare_http_header){
        .name = "Host", .value = "a", .name_len = 4, .value_len = 1, .id = FLARE_HDR_HOST};
    for (size_t i = 0; xff && xff[i]; i++)
        h[req.num_headers++] = (flare_http_header){.name = "X-Forwarded-For",
                                                   .value = xff[i],
                                                   .name_len = 15,
                                                   .value_len = (uint32_t)strlen(xff[i]),
                                                   .id = FLARE_HDR_X_FORWARDED_FOR};
    flare_sock_addr p = addr(peer, 4000), got;
    flare_http_client_addr(&req, &p, trusted, 2, &got);
    flare_ip_format(&got.ip, out, sizeof out);
    if (port) *port = got.port;
    return out;
}

#define XFF(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_untrusted_peer_ignores_header(void **state)
{
    (void)state;
    uint16_t port;
    assert_string_equal(client("192.0.2.9", XFF("203.0.113.1"), &port), "192.0.2.9");
    assert_int_equal(port, 4000);
}

static void test_rightmost_untrusted(void **state)
{
    (void)state;
    uint16_t port;
    assert_string_equal(client("10.1.1.1", XFF("203.0.113.1"), &port), "203.0.113.1");
    assert_int_equal(port, 0);
    /* A spoofed entry left of the first untrusted hop is never used. */
    assert_string_equal(client("10.1.1.1", XFF("1.1.1.1, 203.0.113.1, 10.2.2.2"), NULL),
                        "203.0.113.1");
    assert_string_equal(client("10.1.1.1", XFF(" 2001:db8::7 ,\t10.0.0.3 "), NULL), "2001:db8::7");
}

static void test_several_lines(void **state)
{
    (void)state;
    /* Later lines are further right. */
    assert_string_equal(client("10.1.1.1", XFF("198.51.100.1", "10.0.0.2"), NULL), "198.51.100.1");
    assert_string_equal(client("10.1.1.1", XFF("198.51.100.1", "198.51.100.2"), NULL),
                        "198.51.100.2");
}

static void test_all_trusted_takes_leftmost(void **state)
{
    (void)state;
    assert_string_equal(client("10.1.1.1", XFF("10.9.9.9, 10.0.0.2", "fd00::5"), NULL), "10.9.9.9");
}

static void test_malformed_keeps_peer(void **state)
{
    (void)state;
    assert_string_equal(client("10.1.1.1", XFF("unknown"), NULL), "10.1.1.1");
    assert_string_equal(client("10.1.1.1", XFF("203.0.113.1:443"), NULL), "10.1.1.1");
    assert_string_equal(client("10.1.1.1", XFF("203.0.113.1,,10.0.0.2"), NULL), "10.1.1.1");
    assert_string_equal(client("10.1.1.1", XFF(""), NULL), "10.1.1.1");
    assert_string_equal(client("10.1.1.1", XFF("203.0.113.1, "), NULL), "10.1.1.1");
    /* Zones are another host's business: fe80::1%1 used to become the client. */
    assert_string_equal(client("10.1.1.1", XFF("fe80::1%1"), NULL), "10.1.1.1");
    assert_string_equal(client("10.1.1.1", XFF("fe80::1%lo"), NULL), "10.1.1.1");
    /* The walk stops at the first untrusted hop: junk to its left is not read. */
    assert_string_equal(client("10.1.1.1", XFF("junk, 203.0.113.1"), NULL), "203.0.113.1");
}

static void test_no_header_keeps_peer(void **state)
{
    (void)state;
    assert_string_equal(client("10.1.1.1", NULL, NULL), "10.1.1.1");
}

static void test_mapped_peer_matches_v4_block(void **state)
{
    (void)state;
    assert_string_equal(client("::ffff:10.1.1.1", XFF("203.0.113.1"), NULL), "203.0.113.1");
    assert_string_equal(client("::ffff:192.0.2.1", XFF("203.0.113.1"), NULL), "::ffff:192.0.2.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_ignores_header),
        cmocka_unit_test(test_rightmost_untrusted),
        cmocka_unit_test(test_several_lines),
        cmocka_unit_test(test_all_trusted_takes_leftmost),
        cmocka_unit_test(test_malformed_keeps_peer),
        cmocka_unit_test(test_no_header_keeps_peer),
        cmocka_unit_test(test_mapped_peer_matches_v4_block),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
