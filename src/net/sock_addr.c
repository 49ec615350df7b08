/*
 * sock_addr.c: "host:port" socket addresses, sockaddr conversion and CIDR
 * blocks. The address part is parsed by flare_ip_parse; this file owns the port
 * (decimal digits only, 0..65535) and the rule that an IPv6 address with a port
 * must be bracketed, so "::1:80" is never guessed at.
 */
#include "flare/net.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Port: one or more decimal digits, value 0..65535; no sign, space or suffix.
 * All bytes are checked before the value, so the message can quote the digits. */
static int parse_port(uint16_t *out, const char *s, size_t len, size_t offset, flare_error *err)
{
    if (len == 0) return flare_error_set(err, FLARE_EPORT, 0, "missing port after ':'");
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return flare_error_set(err, FLARE_EPORT, 0,
                                   "invalid port: byte 0x%02x at offset %zu is not a decimal digit",
                                   (unsigned)(unsigned char)s[i], offset + i);
    }
    uint32_t value = 0;
    for (size_t i = 0; i < len; i++) {
        value = value * 10 + (uint32_t)(s[i] - '0');
        if (value > 65535)
            return flare_error_set(err, FLARE_EPORT, 0,
                                   "invalid port %.*s%s: out of range 0..65535",
                                   (int)(len < 12 ? len : 12), s, len < 12 ? "" : "...");
    }
    *out = (uint16_t)value;
    return 0;
}

int flare_sock_addr_parse(flare_sock_addr *out, const char *s, size_t len, flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "flare_sock_addr_parse: out is NULL");
    if (len == 0)
        return flare_error_set(err, FLARE_EADDR, 0, "invalid socket address: empty string");
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "flare_sock_addr_parse: s is NULL");
    if (len >= FLARE_SOCK_ADDR_STR_MAX)
        return flare_error_set(err, FLARE_EADDR, 0,
                               "invalid socket address: %zu bytes, longer than %d", len,
                               FLARE_SOCK_ADDR_STR_MAX - 1);

    flare_sock_addr a = {0};
    const char *host, *port;
    size_t host_len, port_len;
    if (s[0] == '[') {
        /* RFC 3986 §3.2.2: an IPv6 literal with a port is written in brackets. */
        const char *close = memchr(s, ']', len);
        if (!close)
            return flare_error_set(err, FLARE_EADDR, 0, "invalid socket address: '[' without ']'");
        host = s + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest == 0)
            return flare_error_set(err, FLARE_EPORT, 0, "missing port: expected \"[v6]:port\"");
        if (close[1] != ':')
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid socket address: expected ':' after ']' at offset %zu",
                                   (size_t)(close - s) + 1);
        port = close + 2;
        port_len = rest - 1;
        int rc = flare_ip_parse(&a.ip, host, host_len, err);
        if (rc < 0) return rc;
        if (a.ip.family != AF_INET6)
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid socket address: brackets are only for IPv6 addresses");
    } else {
        const char *colon = memrchr(s, ':', len);
        if (!colon)
            return flare_error_set(err, FLARE_EPORT, 0,
                                   "missing port: expected \"a.b.c.d:port\" or \"[v6]:port\"");
        host = s;
        host_len = (size_t)(colon - s);
        port = colon + 1;
        port_len = len - host_len - 1;
        if (memchr(host, ':', host_len))
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid socket address: ':' in the address part; an IPv6 "
                                   "address with a port needs brackets, as in \"[::1]:8080\"");
        int rc = flare_ip_parse(&a.ip, host, host_len, err);
        if (rc < 0) return rc;
    }
    int rc = parse_port(&a.port, port, port_len, (size_t)(port - s), err);
    if (rc < 0) return rc;
    *out = a;
    return 0;
}

size_t flare_sock_addr_format(const flare_sock_addr *a, char *out, size_t cap)
{
    if (!a || !out) return 0;
    char ip[FLARE_IP_STR_MAX];
    if (flare_ip_format(&a->ip, ip, sizeof ip) == 0) return 0;
    char buf[FLARE_SOCK_ADDR_STR_MAX];
    int n = a->ip.family == AF_INET6 ? snprintf(buf, sizeof buf, "[%s]:%u", ip, (unsigned)a->port)
                                     : snprintf(buf, sizeof buf, "%s:%u", ip, (unsigned)a->port);
    if (n <= 0 || (size_t)n >= sizeof buf || (size_t)n >= cap) return 0;
    memcpy(out, buf, (size_t)n + 1);
    return (size_t)n;
}

flare_sock_addr flare_sock_addr_make(const flare_ip_addr *ip, uint16_t port)
{
    flare_sock_addr a = {.port = port};
    if (ip) a.ip = *ip;
    return a;
}

socklen_t flare_sock_addr_to_sockaddr(const flare_sock_addr *a, struct sockaddr_storage *ss)
{
    if (!a || !ss) return 0;
    memset(ss, 0, sizeof *ss);
    if (a->ip.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->ip.bytes, 4);
        return sizeof *sin;
    }
    if (a->ip.family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        memcpy(&sin6->sin6_addr, a->ip.bytes, 16);
        sin6->sin6_scope_id = a->ip.scope_id;
        return sizeof *sin6;
    }
    return 0;
}

int flare_sock_addr_from_sockaddr(flare_sock_addr *out, const struct sockaddr *sa, socklen_t len,
                                  flare_error *err)
{
    if (!out || !sa)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "flare_sock_addr_from_sockaddr: NULL argument");
    if (len < (socklen_t)sizeof(sa_family_t))
        return flare_error_set(err, FLARE_EADDR, 0, "sockaddr too short (%u bytes)", (unsigned)len);
    flare_sock_addr a = {0};
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        if (len < (socklen_t)sizeof sin)
            return flare_error_set(err, FLARE_EADDR, 0, "AF_INET sockaddr too short (%u bytes)",
                                   (unsigned)len);
        memcpy(&sin, sa, sizeof sin);
        a.ip.family = AF_INET;
        memcpy(a.ip.bytes, &sin.sin_addr, 4);
        a.port = ntohs(sin.sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        if (len < (socklen_t)sizeof sin6)
            return flare_error_set(err, FLARE_EADDR, 0, "AF_INET6 sockaddr too short (%u bytes)",
                                   (unsigned)len);
        memcpy(&sin6, sa, sizeof sin6);
        a.ip.family = AF_INET6;
        memcpy(a.ip.bytes, &sin6.sin6_addr, 16);
        a.ip.scope_id = sin6.sin6_scope_id;
        a.port = ntohs(sin6.sin6_port);
    } else {
        return flare_error_set(err, FLARE_EADDR, 0,
                               "unsupported address family %d (want AF_INET or AF_INET6)",
                               (int)sa->sa_family);
    }
    *out = a;
    return 0;
}

int flare_cidr_parse(flare_cidr *out, const char *s, size_t len, flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "flare_cidr_parse: out is NULL");
    if (len == 0) return flare_error_set(err, FLARE_EADDR, 0, "invalid CIDR block: empty string");
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "flare_cidr_parse: s is NULL");
    const char *slash = memchr(s, '/', len);
    size_t ip_len = slash ? (size_t)(slash - s) : len;
    flare_cidr block = {0};
    int rc = flare_ip_parse(&block.ip, s, ip_len, err);
    if (rc < 0) return rc;
    unsigned max = block.ip.family == AF_INET ? 32 : 128;
    unsigned prefix = max;
    if (slash) {
        /* RFC 4632 §3.1: the prefix length is a decimal count of leading bits. */
        const char *p = slash + 1;
        size_t plen = len - ip_len - 1;
        if (plen == 0)
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid CIDR block: missing prefix length");
        if (plen > 3 || (plen > 1 && p[0] == '0'))
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid CIDR block: prefix length must be 0..%u", max);
        prefix = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!is_digit(p[i]))
                return flare_error_set(err, FLARE_EADDR, 0,
                                       "invalid CIDR block: byte 0x%02x at offset %zu in prefix "
                                       "length",
                                       (unsigned)(unsigned char)p[i], ip_len + 1 + i);
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > max)
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid CIDR block: prefix length %u out of range 0..%u",
                                   prefix, max);
    }
    /* Clear host bits so equal blocks compare equal and contains() is one mask. */
    block.ip = flare_ip_prefix(&block.ip, prefix);
    block.prefix_len = (uint8_t)prefix;
    *out = block;
    return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool flare_cidr_contains(const flare_cidr *block, const flare_ip_addr *ip)
{
    if (!block || !ip) return false;
    /* Zones are ignored: fe80::/10 holds fe80::1%eth0 whatever the interface. */
    unsigned max = block->ip.family == AF_INET ? 32 : 128;
    if (block->prefix_len > max) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    if (block->ip.family == u.family)
        return prefix_match(block->ip.bytes, u.bytes, block->prefix_len);
    /* An IPv6 block such as ::ffff:0:0/96 still matches a mapped address as written. */
    if (block->ip.family == AF_INET6 && ip->family == AF_INET6)
        return prefix_match(block->ip.bytes, ip->bytes, block->prefix_len);
    return false;
}
