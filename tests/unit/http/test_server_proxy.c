/*
 * test_server_proxy.c: the server side of src/http/proxy_protocol.c,
 * forwarded.c and server_ipcount.c: a proxy_protocol listener takes the
 * client address from the header (sent whole or byte by byte), closes on a bad
 * or late header without answering; max_connections_per_ip answers the excess
 * 503 and frees a slot on close, also under heavy collisions in its table; and
 * trusted_proxies makes req->peer the forwarded client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "flare/proxy_protocol.h"
#include "flare/tcp.h"
#include "server_harness.h"

/* Answers with the client address the server reports. */
static int peer_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    char ip[FLARE_IP_STR_MAX] = "none";
    if (req->peer->ip.family) flare_ip_format(&req->peer->ip, ip, sizeof ip);
    return flare_response_text(resp, 200, "text/plain", ip, strlen(ip));
}

static uint16_t proxy_listener(harness *h, flare_http_server_config *cfg)
{
    harness_start(h, cfg);
    harness_route(h, NULL, FLARE_M_ANY, "/", peer_handler, NULL, 0);
    flare_tcp_listener l;
    flare_tcp_listen_options opts = {.backlog = 64, .nonblocking = true};
    flare_error err;
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", &opts, &err) < 0) fail_msg("%s", err.message);
    flare_http_listener_options lo = {.proxy_protocol = true};
    assert_int_equal(flare_http_server_add_listener_opts(h->srv, l.fd, &lo, &err), 0);
    return l.local.port;
}

static void test_v1_and_v2_set_peer(void **state)
{
    (void)state;
    harness h;
    uint16_t port = proxy_listener(&h, NULL);
    client c;
    client_tcp(&h, &c, port);
    client_send_str(&h, &c,
                    "PROXY TCP4 198.51.100.7 127.0.0.1 4000 80\r\nGET / HTTP/1.1\r\n"
                    "Host: t\r\n\r\n");
    expect_response(&h, &c, 200, "198.51.100.7");
    /* The header is once per connection: the next request keeps the address. */
    client_send_str(&h, &c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(&h, &c, 200, "198.51.100.7");
    client_close(&c);

    /* v2, one byte at a time, with the request in the same segment as the last byte. */
    static const unsigned char v2[] = {'\r', '\n', '\r', '\n', 0,    '\r', '\n', 'Q', 'U', 'I',
                                       'T',  '\n', 0x21, 0x11, 0,    12,   203,  0,   113, 5,
                                       127,  0,    0,    1,    0x10, 0,    0,    80};
    client_tcp(&h, &c, port);
    for (size_t i = 0; i + 1 < sizeof v2; i++) {
        client_send(&h, &c, v2 + i, 1);
        harness_pump(&h, 2);
    }
    char last[64] = {(char)v2[sizeof v2 - 1]};
    memcpy(last + 1, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 27);
    client_send(&h, &c, last, 28);
    expect_response(&h, &c, 200, "203.0.113.5");
    client_close(&c);

    /* UNKNOWN keeps the socket's own address. */
    client_tcp(&h, &c, port);
    client_send_str(&h, &c, "PROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(&h, &c, 200, "127.0.0.1");
    client_close(&c);
    harness_stop(&h);
}

static void test_bad_or_late_header_closes_silently(void **state)
{
    (void)state;
    harness h;
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.header_timeout_ms = 200;
    uint16_t port = proxy_listener(&h, &cfg);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        client c;
        client_tcp(&h, &c, port);
        client_send_str(&h, &c, bad[i]);
        expect_closed(&h, &c);
        client_close(&c);
    }
    /* A header that never completes is cut at the header deadline, unanswered. */
    client c;
    client_tcp(&h, &c, port);
    client_send_str(&h, &c, "PROXY TCP4 1.2.3.4");
    uint64_t start = flare_monotonic_ms();
    expect_closed(&h, &c);
    assert_true(flare_monotonic_ms() - start >= 150);
    client_close(&c);
    assert_int_equal(flare_http_server_connections(h.srv), 0);
    harness_stop(&h);
}

static void adopt_from(harness *h, client *c, const char *ip, int want)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    memset(c, 0, sizeof *c);
    c->fd = sv[1];
    c->server_fd = sv[0];
    flare_sock_addr peer = {.port = 1};
    assert_int_equal(flare_ip_parse(&peer.ip, ip, strlen(ip), NULL), 0);
    assert_int_equal(flare_http_server_adopt_connection(h->srv, sv[0], &peer, NULL), want);
}

static void test_max_connections_per_ip(void **state)
{
    (void)state;
    harness h;
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.max_connections_per_ip = 2;
    harness_start(&h, &cfg);
    harness_route(&h, NULL, FLARE_M_ANY, "/", peer_handler, NULL, 0);
    client a, b, x, y;
    adopt_from(&h, &a, "192.0.2.1", 0);
    adopt_from(&h, &b, "::ffff:192.0.2.1", 0); /* the same client over IPv4-mapped IPv6 */
    adopt_from(&h, &x, "192.0.2.1", FLARE_ELIMIT);
    response r = {0};
    client_response(&h, &x, &r, false);
    assert_int_equal(r.status, 503);
    response_free(&r);
    client_close(&x);
    adopt_from(&h, &y, "192.0.2.2", 0); /* another address is not affected */
    client_send_str(&h, &y, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(&h, &y, 200, "192.0.2.2");
    client_close(&a);
    harness_pump_for(&h, 20);
    adopt_from(&h, &x, "192.0.2.1", 0); /* a slot freed on close */
    client_close(&x);
    client_close(&b);
    client_close(&y);
    harness_pump_for(&h, 20);
    harness_stop(&h);
}

/* An IPv6 client is counted by its /64 (or the configured prefix): a host can pick any
 * address of its /64, so counting addresses one by one would not limit it at all. */
static void test_max_connections_per_ip_ipv6_prefix(void **state)
{
    (void)state;
    static const struct {
        unsigned prefix;
        const char *other; /* another address of the first's /64 */
        int want;
    } cases[] = {
        {0, "2001:db8:1:2:ffff::9", FLARE_ELIMIT}, /* the default: /64 */
        {64, "2001:db8:1:2:ffff::9", FLARE_ELIMIT},
        {128, "2001:db8:1:2:ffff::9", 0},
        {48, "2001:db8:1:7::1", FLARE_ELIMIT}, /* a /48 holds many /64s */
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(cases); i++) {
        harness h;
        flare_http_server_config cfg;
        harness_config(&cfg);
        cfg.max_connections_per_ip = 1;
        cfg.max_connections_per_ip_ipv6_prefix = cases[i].prefix;
        harness_start(&h, &cfg);
        harness_route(&h, NULL, FLARE_M_ANY, "/", peer_handler, NULL, 0);
        client a, b, c;
        adopt_from(&h, &a, "2001:db8:1:2::1", 0);
        adopt_from(&h, &b, cases[i].other, cases[i].want);
        adopt_from(&h, &c, "2001:db8:2::1", 0); /* another site is not affected */
        client_close(&a);
        client_close(&b);
        client_close(&c);
        harness_pump_for(&h, 20);
        assert_int_equal(flare_http_server_connections(h.srv), 0);
        harness_stop(&h);
    }
}

/* A small table (max_connections 40: 128 slots) with 40 addresses collides often; closing in
 * a scrambled order must leave every remaining address findable (backward-shift delete). */
static void test_per_ip_table_collisions(void **state)
{
    (void)state;
    harness h;
    flare_http_server_config cfg;
    harness_config(&cfg);
    cfg.max_connections = 40;
    cfg.max_connections_per_ip = 1;
    harness_start(&h, &cfg);
    harness_route(&h, NULL, FLARE_M_ANY, "/", peer_handler, NULL, 0);
    enum { N = 40 };
    client cs[N];
    char ip[32];
    for (int i = 0; i < N; i++) {
        snprintf(ip, sizeof ip, "10.%d.0.%d", i % 3, i);
        adopt_from(&h, &cs[i], ip, 0);
    }
    uint64_t seed = 42;
    bool closed[N] = {false};
    for (int round = 0; round < N / 2; round++) {
        int i = (int)(prng_next(&seed) % N);
        if (closed[i]) continue;
        client_close(&cs[i]);
        closed[i] = true;
        harness_pump_for(&h, 5);
        /* Every address still open is still at its limit; every closed one is free again. */
        for (int j = 0; j < N; j++) {
            client t;
            snprintf(ip, sizeof ip, "10.%d.0.%d", j % 3, j);
            if (!closed[j]) {
                adopt_from(&h, &t, ip, FLARE_ELIMIT);
                client_close(&t);
            }
        }
    }
    for (int i = 0; i < N; i++)
        if (!closed[i]) client_close(&cs[i]);
    harness_pump_for(&h, 20);
    assert_int_equal(flare_http_server_connections(h.srv), 0);
    for (int i = 0; i < N; i++) {
        snprintf(ip, sizeof ip, "10.%d.0.%d", i % 3, i);
        adopt_from(&h, &cs[i], ip, 0);
    }
    for (int i = 0; i < N; i++)
        client_close(&cs[i]);
    harness_pump_for(&h, 20);
    harness_stop(&h);
}

static void test_trusted_proxy_sets_request_peer(void **state)
{
    (void)state;
    harness h;
    flare_http_server_config cfg;
    harness_config(&cfg);
    static flare_cidr trusted;
    assert_int_equal(flare_cidr_parse(&trusted, "10.0.0.0/8", 10, NULL), 0);
    cfg.trusted_proxies = &trusted;
    cfg.trusted_proxy_count = 1;
    harness_start(&h, &cfg);
    harness_route(&h, NULL, FLARE_M_ANY, "/", peer_handler, NULL, 0);
    client c;
    adopt_from(&h, &c, "10.1.2.3", 0);
    client_send_str(&h, &c, "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n");
    expect_response(&h, &c, 200, "198.51.100.1");
    client_send_str(&h, &c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); /* per request */
    expect_response(&h, &c, 200, "10.1.2.3");
    client_close(&c);
    adopt_from(&h, &c, "192.0.2.9", 0);
    client_send_str(&h, &c, "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n");
    expect_response(&h, &c, 200, "192.0.2.9");
    client_close(&c);
    harness_pump_for(&h, 20);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_and_v2_set_peer),
        cmocka_unit_test(test_bad_or_late_header_closes_silently),
        cmocka_unit_test(test_max_connections_per_ip),
        cmocka_unit_test(test_max_connections_per_ip_ipv6_prefix),
        cmocka_unit_test(test_per_ip_table_collisions),
        cmocka_unit_test(test_trusted_proxy_sets_request_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
