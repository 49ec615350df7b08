/*
 * fuzz_net_addr.c: IP, socket-address and CIDR parsing (include/flare/net.h).
 * Checks: formatting a parsed address parses back to the same address; an
 * address without a zone parses exactly as inet_pton(3) reads it, both ways; a
 * block has its host bits cleared and contains its own network address; and the
 * documented refusals (NUL, CR, LF, '@') always hold.
 */
#include <arpa/inet.h>
#include <string.h>

#include "flare/net.h"
#include "fuzz.h"

static bool has_forbidden(const char *s, size_t len)
{
    return memchr(s, 0, len) || memchr(s, '\r', len) || memchr(s, '\n', len) || memchr(s, '@', len);
}

static void check_ip(const char *s, size_t len)
{
    flare_ip_addr ip, again;
    int rc = flare_ip_parse(&ip, s, len, NULL);
    if (has_forbidden(s, len) || len == 0) FUZZ_CHECK(rc < 0);

    /* Against libc, for plain literals (no zone, which inet_pton does not know). */
    if (len > 0 && len < 64 && !memchr(s, 0, len) && !memchr(s, '%', len)) {
        char z[64];
        memcpy(z, s, len);
        z[len] = 0;
        uint8_t bytes[16];
        bool v4 = inet_pton(AF_INET, z, bytes) == 1;
        bool v6 = !v4 && inet_pton(AF_INET6, z, bytes) == 1;
        FUZZ_CHECK((rc == 0) == (v4 || v6));
        if (rc == 0) {
            FUZZ_CHECK(ip.family == (v4 ? AF_INET : AF_INET6));
            FUZZ_CHECK(memcmp(ip.bytes, bytes, v4 ? 4 : 16) == 0);
        }
    }
    if (rc < 0) return;
    FUZZ_CHECK(flare_ip_is_v4(&ip) != flare_ip_is_v6(&ip));
    char out[FLARE_IP_STR_MAX];
    size_t n = flare_ip_format(&ip, out, sizeof out);
    FUZZ_CHECK(n > 0 && n < sizeof out && out[n] == 0);
    FUZZ_CHECK(flare_ip_parse(&again, out, n, NULL) == 0);
    FUZZ_CHECK(flare_ip_equal(&ip, &again));
    flare_ip_addr plain = flare_ip_unmap(&ip);
    FUZZ_CHECK(flare_ip_is_loopback(&plain) == flare_ip_is_loopback(&ip));
    (void)flare_ip_is_private(&ip);
    (void)flare_ip_is_link_local(&ip);
    (void)flare_ip_is_multicast(&ip);
    (void)flare_ip_is_unspecified(&ip);
}

static void check_sock_addr(const char *s, size_t len)
{
    flare_sock_addr a, b;
    int rc = flare_sock_addr_parse(&a, s, len, NULL);
    if (has_forbidden(s, len)) FUZZ_CHECK(rc < 0);
    if (rc < 0) return;
    char out[FLARE_SOCK_ADDR_STR_MAX];
    size_t n = flare_sock_addr_format(&a, out, sizeof out);
    FUZZ_CHECK(n > 0 && n < sizeof out);
    FUZZ_CHECK(flare_sock_addr_parse(&b, out, n, NULL) == 0);
    FUZZ_CHECK(flare_ip_equal(&a.ip, &b.ip) && a.port == b.port);
    struct sockaddr_storage ss;
    socklen_t sl = flare_sock_addr_to_sockaddr(&a, &ss);
    FUZZ_CHECK(sl > 0);
    FUZZ_CHECK(flare_sock_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl, NULL) == 0);
    FUZZ_CHECK(flare_ip_equal(&a.ip, &b.ip) && a.port == b.port);
}

static void check_cidr(const char *s, size_t len, const flare_ip_addr *probe)
{
    flare_cidr c;
    int rc = flare_cidr_parse(&c, s, len, NULL);
    if (has_forbidden(s, len)) FUZZ_CHECK(rc < 0);
    if (rc < 0) return;
    size_t bits = c.ip.family == AF_INET ? 32 : 128;
    FUZZ_CHECK(c.prefix_len <= bits);
    for (size_t i = c.prefix_len; i < bits; i++)
        FUZZ_CHECK(!(c.ip.bytes[i / 8] & (0x80 >> (i % 8))));
    flare_ip_addr net = c.ip;
    net.scope_id = 0;
    FUZZ_CHECK(flare_cidr_contains(&c, &net));
    (void)flare_cidr_contains(&c, probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_ip(s, size);
    check_sock_addr(s, size);
    flare_ip_addr probe = {0};
    probe.family = size && (data[0] & 1) ? AF_INET6 : AF_INET;
    memcpy(probe.bytes, data, size < 16 ? size : 16);
    check_cidr(s, size, &probe);
    return 0;
}
