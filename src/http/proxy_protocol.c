/*
 * proxy_protocol.c: the PROXY protocol v1 (text) and v2 (binary) header parser.
 * Strict: one space between v1 fields, no leading zeros in ports, addresses of
 * the announced family only, v2 version 2 with the LOCAL or PROXY command, and
 * every v2 TLV must fit the announced length exactly. Section numbers refer to
 * HAProxy's doc/proxy-protocol.txt.
 */
#include "flare/proxy_protocol.h"

#include <string.h>

#include "flare/error.h"

static const char v1_prefix[] = "PROXY ";
/* §2.2: the twelve bytes that cannot start any HTTP, TLS or SSH stream. */
static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* True when the len bytes of p agree with the first len bytes of want (len <= want_len). */
static bool prefix_ok(const char *p, size_t len, const char *want, size_t want_len)
{
    return memcmp(p, want, len < want_len ? len : want_len) == 0;
}

/* §2.1: a port is 0..65535 in decimal; a leading zero is refused as a non-canonical form. */
static bool parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0')) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535) return false;
    *out = (uint16_t)v;
    return true;
}

static bool parse_ip(const char *s, size_t len, int family, flare_ip_addr *out)
{
    /* A zone index means nothing to the receiving host. */
    if (memchr(s, '%', len)) return false;
    return flare_ip_parse(out, s, len, NULL) == 0 && out->family == family;
}

/* §2.1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n" or "PROXY UNKNOWN...\r\n". */
static ssize_t parse_v1(const char *buf, size_t len, flare_proxy_header *out)
{
    size_t prefix = sizeof v1_prefix - 1;
    if (!prefix_ok(buf, len, v1_prefix, prefix)) return FLARE_EPARSE;
    size_t scan = len < FLARE_PROXY_V1_MAX ? len : FLARE_PROXY_V1_MAX;
    const char *lf = memchr(buf, '\n', scan);
    if (!lf) return len < FLARE_PROXY_V1_MAX ? FLARE_EINCOMPLETE : FLARE_EPARSE;
    size_t line = (size_t)(lf - buf); /* up to the LF, which must follow a CR */
    if (line < prefix + 1 || buf[line - 1] != '\r') return FLARE_EPARSE;
    const char *p = buf + prefix;
    const char *end = buf + line - 1;
    for (const char *q = buf; q < end; q++)
        if (*q == '\r' || *q == '\0') return FLARE_EPARSE;
    *out = (flare_proxy_header){.version = 1};
    /* The sender could not tell; whatever follows UNKNOWN is ignored. */
    if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (end - p == 7 || p[7] == ' '))
        return (ssize_t)(line + 1);
    int family;
    if ((size_t)(end - p) > 5 && memcmp(p, "TCP4 ", 5) == 0)
        family = AF_INET;
    else if ((size_t)(end - p) > 5 && memcmp(p, "TCP6 ", 5) == 0)
        family = AF_INET6;
    else
        return FLARE_EPARSE;
    p += 5;
    /* Four fields separated by single spaces: src, dst, sport, dport. */
    const char *field[4];
    size_t field_len[4];
    for (int i = 0; i < 4; i++) {
        const char *sp = i < 3 ? memchr(p, ' ', (size_t)(end - p)) : end;
        if (!sp || sp == p) return FLARE_EPARSE;
        field[i] = p;
        field_len[i] = (size_t)(sp - p);
        p = sp + (i < 3);
    }
    if (memchr(field[3], ' ', field_len[3])) return FLARE_EPARSE;
    if (!parse_ip(field[0], field_len[0], family, &out->src.ip) ||
        !parse_ip(field[1], field_len[1], family, &out->dst.ip) ||
        !parse_port(field[2], field_len[2], &out->src.port) ||
        !parse_port(field[3], field_len[3], &out->dst.port))
        return FLARE_EPARSE;
    out->has_addresses = true;
    return (ssize_t)(line + 1);
}

static uint16_t be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* §2.2.7: TLVs fill the rest of the block exactly: type, 16-bit length, value. */
static bool tlvs_fit(const unsigned char *p, size_t len)
{
    while (len) {
        if (len < 3) return false;
        size_t vlen = be16(p + 1);
        if (vlen > len - 3) return false;
        p += 3 + vlen;
        len -= 3 + vlen;
    }
    return true;
}

static ssize_t parse_v2(const char *buf, size_t len, flare_proxy_header *out)
{
    if (!prefix_ok(buf, len, v2_sig, sizeof v2_sig)) return FLARE_EPARSE;
    const unsigned char *u = (const unsigned char *)buf;
    /* §2.2: the high nibble is the version (2), the low one the command. */
    if (len > 12 && (u[12] >> 4 != 2 || (u[12] & 0xf) > 1)) return FLARE_EPARSE;
    if (len < FLARE_PROXY_V2_FIXED) return FLARE_EINCOMPLETE;
    bool local = (u[12] & 0xf) == 0;
    unsigned family = u[13] >> 4, transport = u[13] & 0xf;
    size_t block = be16(u + 14);
    size_t total = FLARE_PROXY_V2_FIXED + block;
    *out = (flare_proxy_header){.version = 2};
    /* LOCAL: the balancer's own connection (a health check); the block is ignored. */
    if (local) {
        if (family > 3 || transport > 2) return FLARE_EPARSE;
        return len < total ? FLARE_EINCOMPLETE : (ssize_t)total;
    }
    /* Only TCP is served: STREAM over INET or INET6, or AF_UNSPEC (addresses unknown). */
    if (family == 0) {
        if (transport > 1) return FLARE_EPARSE;
        return len < total ? FLARE_EINCOMPLETE : (ssize_t)total;
    }
    if (transport != 1 || (family != 1 && family != 2)) return FLARE_EPARSE;
    size_t addr_len = family == 1 ? 12 : 36;
    if (block < addr_len) return FLARE_EPARSE;
    if (len < total) return FLARE_EINCOMPLETE;
    const unsigned char *a = u + FLARE_PROXY_V2_FIXED;
    if (!tlvs_fit(a + addr_len, block - addr_len)) return FLARE_EPARSE;
    size_t ip_len = family == 1 ? 4 : 16;
    int af = family == 1 ? AF_INET : AF_INET6;
    out->src.ip = (flare_ip_addr){.family = af};
    out->dst.ip = (flare_ip_addr){.family = af};
    memcpy(out->src.ip.bytes, a, ip_len);
    memcpy(out->dst.ip.bytes, a + ip_len, ip_len);
    out->src.port = be16(a + 2 * ip_len);
    out->dst.port = be16(a + 2 * ip_len + 2);
    out->has_addresses = true;
    return (ssize_t)total;
}

ssize_t flare_proxy_parse(const char *buf, size_t len, flare_proxy_header *out)
{
    if (len == 0) return FLARE_EINCOMPLETE;
    if (buf[0] == 'P') return parse_v1(buf, len, out);
    if (buf[0] == '\r') return parse_v2(buf, len, out);
    return FLARE_EPARSE;
}
