/*
 * ip_addr.c: strict IPv4/IPv6 literal parsing, RFC 5952 formatting and
 * classification. Parsing is done by hand over an explicit length, so no byte
 * reaches libc unchecked; the only libc call is if_nametoindex for a named zone,
 * after the zone has been checked. Formatting never makes a system call, so a
 * zone is always printed as its numeric index ("fe80::1%2").
 */
#include "flare/net.h"

#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* Input length limit: the longest address plus a zone, as FLARE_IP_STR_MAX allows. */
#define IP_INPUT_MAX (FLARE_IP_STR_MAX - 1)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Bytes an address or a zone name may hold; everything else (NUL, CR, LF, '@',
 * space, '/', controls, non-ASCII) is refused before any further parsing, which
 * also makes the input safe to quote in error messages afterwards. */
static bool allowed_byte(char c)
{
    return hex_value(c) >= 0 || c == '.' || c == ':' || c == '%' || c == '-' || c == '_' ||
           (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z');
}

static int bad(flare_error *err, const char *s, size_t len, const char *why)
{
    return flare_error_set(err, FLARE_EADDR, 0, "invalid IP address \"%.*s\": %s", (int)len, s,
                           why);
}

/* Dotted quad: exactly four decimal octets 0..255 without leading zeros, which
 * inet_aton would read as octal ("010" = 8). */
static int parse_v4(uint8_t out[4], const char *s, size_t len, flare_error *err)
{
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= len || s[i] != '.')
                return bad(err, s, len, "an IPv4 address needs exactly four dot-separated octets");
            i++;
        }
        size_t start = i;
        unsigned value = 0;
        while (i < len && is_digit(s[i]) && i - start < 4)
            value = value * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0)
            return bad(err, s, len, "an IPv4 address needs exactly four dot-separated octets");
        if (digits > 1 && s[start] == '0')
            return bad(err, s, len, "IPv4 octet with a leading zero (ambiguous octal)");
        if (digits > 3 || value > 255) return bad(err, s, len, "IPv4 octet out of range 0..255");
        out[octet] = (uint8_t)value;
    }
    if (i != len) return bad(err, s, len, "unexpected characters after the IPv4 address");
    return 0;
}

/* RFC 4291 §2.2: eight groups of 1..4 hex digits; one "::" stands for one or
 * more zero groups; the last 32 bits may be written as a dotted quad (form 3). */
static int parse_v6(uint8_t out[16], const char *s, size_t len, flare_error *err)
{
    uint16_t groups[8] = {0};
    int ngroups = 0;
    int gap = -1; /* index in groups where "::" sits */
    size_t i = 0;

    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
        if (i == len) goto done;
    } else if (len >= 1 && s[0] == ':') {
        return bad(err, s, len, "IPv6 address starts with a single ':'");
    }

    for (;;) {
        size_t start = i;
        unsigned value = 0;
        while (i < len && hex_value(s[i]) >= 0 && i - start < 5)
            value = value * 16 + (unsigned)hex_value(s[i++]);
        if (i < len && s[i] == '.') {
            /* Embedded IPv4 tail: only last, and only where two groups still fit. */
            if (ngroups > 6 || (gap >= 0 && ngroups > 5))
                return bad(err, s, len, "too many groups before the embedded IPv4 address");
            uint8_t v4[4];
            if (parse_v4(v4, s + start, len - start, NULL) < 0)
                return bad(err, s, len, "malformed embedded IPv4 address");
            groups[ngroups++] = (uint16_t)(v4[0] << 8 | v4[1]);
            groups[ngroups++] = (uint16_t)(v4[2] << 8 | v4[3]);
            i = len;
            break;
        }
        if (i == start) return bad(err, s, len, "empty or non-hex IPv6 group");
        if (i - start > 4) return bad(err, s, len, "IPv6 group longer than 4 hex digits");
        if (ngroups == 8) return bad(err, s, len, "more than 8 IPv6 groups");
        groups[ngroups++] = (uint16_t)value;
        if (i == len) break;
        if (s[i] != ':') return bad(err, s, len, "unexpected character in IPv6 address");
        i++;
        if (i < len && s[i] == ':') {
            if (gap >= 0) return bad(err, s, len, "more than one \"::\" in IPv6 address");
            gap = ngroups;
            i++;
            if (i == len) break;
            if (s[i] == ':') return bad(err, s, len, "\":::\" in IPv6 address");
        } else if (i == len) {
            return bad(err, s, len, "IPv6 address ends with a single ':'");
        }
    }

done:
    if (gap < 0 && ngroups != 8) return bad(err, s, len, "IPv6 address needs 8 groups or \"::\"");
    if (gap >= 0 && ngroups > 7) return bad(err, s, len, "\"::\" with 8 other groups");
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, groups, sizeof full);
    } else {
        int tail = ngroups - gap;
        memcpy(full, groups, (size_t)gap * sizeof groups[0]);
        memcpy(full + 8 - tail, groups + gap, (size_t)tail * sizeof groups[0]);
    }
    for (int g = 0; g < 8; g++) {
        out[2 * g] = (uint8_t)(full[g] >> 8);
        out[2 * g + 1] = (uint8_t)full[g];
    }
    return 0;
}

/* RFC 4007 §11.2: the zone is a numeric index or an interface name. */
static int parse_zone(uint32_t *scope_id, const char *s, size_t len, const char *zone,
                      size_t zone_len, flare_error *err)
{
    if (zone_len == 0) return bad(err, s, len, "empty zone after '%'");
    bool numeric = true;
    for (size_t i = 0; i < zone_len; i++) {
        if (zone[i] == '%' || zone[i] == ':')
            return bad(err, s, len, "unexpected character in zone");
        if (!is_digit(zone[i])) numeric = false;
    }
    if (numeric) {
        uint64_t value = 0;
        for (size_t i = 0; i < zone_len; i++) {
            value = value * 10 + (uint64_t)(zone[i] - '0');
            if (value > UINT32_MAX) return bad(err, s, len, "zone index out of range");
        }
        *scope_id = (uint32_t)value;
        return 0;
    }
    if (zone_len >= IF_NAMESIZE) return bad(err, s, len, "zone name longer than an interface name");
    char name[IF_NAMESIZE];
    memcpy(name, zone, zone_len);
    name[zone_len] = '\0';
    unsigned index = if_nametoindex(name);
    if (index == 0)
        return flare_error_set(err, FLARE_EADDR, 0,
                               "invalid IP address \"%.*s\": no interface named \"%s\"", (int)len,
                               s, name);
    *scope_id = index;
    return 0;
}

int flare_ip_parse(flare_ip_addr *out, const char *s, size_t len, flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "flare_ip_parse: out is NULL");
    if (len == 0) return flare_error_set(err, FLARE_EADDR, 0, "invalid IP address: empty string");
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "flare_ip_parse: s is NULL");
    if (len > IP_INPUT_MAX)
        return flare_error_set(err, FLARE_EADDR, 0, "invalid IP address: %zu bytes, longer than %d",
                               len, IP_INPUT_MAX);
    for (size_t i = 0; i < len; i++) {
        if (!allowed_byte(s[i]))
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid IP address: byte 0x%02x at offset %zu is not allowed",
                                   (unsigned)(unsigned char)s[i], i);
    }

    flare_ip_addr ip = {0};
    const char *pct = memchr(s, '%', len);
    size_t addr_len = pct ? (size_t)(pct - s) : len;
    if (memchr(s, ':', addr_len)) {
        ip.family = AF_INET6;
        int rc = parse_v6(ip.bytes, s, addr_len, err);
        if (rc < 0) return rc;
        if (pct) {
            rc = parse_zone(&ip.scope_id, s, len, pct + 1, len - addr_len - 1, err);
            if (rc < 0) return rc;
        }
    } else {
        if (pct) return bad(err, s, len, "a zone ('%') is only valid on IPv6 addresses");
        ip.family = AF_INET;
        int rc = parse_v4(ip.bytes, s, len, err);
        if (rc < 0) return rc;
    }
    *out = ip;
    return 0;
}

static bool is_v4_mapped(const flare_ip_addr *ip)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return ip->family == AF_INET6 && memcmp(ip->bytes, prefix, sizeof prefix) == 0;
}

static size_t format_v4(const uint8_t b[4], char *out, size_t cap)
{
    int n = snprintf(out, cap, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return n > 0 ? (size_t)n : 0;
}

/* RFC 5952 §4: lowercase, no leading zeros, the longest run (first on a tie) of
 * two or more zero groups becomes "::"; §5: IPv4-mapped keeps the dotted tail. */
static size_t format_v6(const flare_ip_addr *ip, char *out, size_t cap)
{
    size_t n = 0;
    if (is_v4_mapped(ip)) {
        n = (size_t)snprintf(out, cap, "::ffff:");
        n += format_v4(ip->bytes + 12, out + n, cap - n);
    } else {
        uint16_t g[8];
        for (int i = 0; i < 8; i++)
            g[i] = (uint16_t)(ip->bytes[2 * i] << 8 | ip->bytes[2 * i + 1]);
        int best = -1, best_len = 1;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && g[j] == 0)
                j++;
            if (j - i > best_len) {
                best = i;
                best_len = j - i;
            }
            i = j > i ? j : i + 1;
        }
        for (int i = 0; i < 8; i++) {
            if (i == best) {
                n += (size_t)snprintf(out + n, cap - n, "::");
                i += best_len - 1;
                continue;
            }
            bool after_gap = best >= 0 && i == best + best_len;
            n += (size_t)snprintf(out + n, cap - n, "%s%x", (i == 0 || after_gap) ? "" : ":", g[i]);
        }
    }
    if (ip->scope_id != 0) n += (size_t)snprintf(out + n, cap - n, "%%%u", (unsigned)ip->scope_id);
    return n;
}

size_t flare_ip_format(const flare_ip_addr *ip, char *out, size_t cap)
{
    if (!ip || !out) return 0;
    char buf[FLARE_IP_STR_MAX];
    size_t n;
    if (ip->family == AF_INET)
        n = format_v4(ip->bytes, buf, sizeof buf);
    else if (ip->family == AF_INET6)
        n = format_v6(ip, buf, sizeof buf);
    else
        return 0;
    if (n == 0 || n >= cap) return 0;
    memcpy(out, buf, n + 1);
    return n;
}

flare_ip_addr flare_ip_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    flare_ip_addr ip = {.family = AF_INET, .bytes = {a, b, c, d}};
    return ip;
}

flare_ip_addr flare_ip_v6_loopback(void)
{
    flare_ip_addr ip = {.family = AF_INET6};
    ip.bytes[15] = 1;
    return ip;
}

bool flare_ip_is_v4(const flare_ip_addr *ip)
{
    return ip && ip->family == AF_INET;
}

bool flare_ip_is_v6(const flare_ip_addr *ip)
{
    return ip && ip->family == AF_INET6;
}

flare_ip_addr flare_ip_unmap(const flare_ip_addr *ip)
{
    if (!ip) return (flare_ip_addr){0};
    if (!is_v4_mapped(ip)) return *ip;
    const uint8_t *b = ip->bytes + 12;
    return flare_ip_v4(b[0], b[1], b[2], b[3]);
}

flare_ip_addr flare_ip_prefix(const flare_ip_addr *ip, unsigned prefix_len)
{
    if (!ip) return (flare_ip_addr){0};
    flare_ip_addr out = *ip;
    unsigned width = ip->family == AF_INET ? 32 : 128;
    if (prefix_len > width) prefix_len = width;
    for (unsigned i = 0; i < sizeof out.bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= prefix_len)
            out.bytes[i] = 0;
        else if (prefix_len - bit < 8)
            out.bytes[i] &= (uint8_t)(0xff << (8 - (prefix_len - bit)));
    }
    return out;
}

/* A site is usually given a whole /64 (RFC 6177 §3) and a host in it may pick any
 * address there (RFC 8981 temporary addresses), so counting IPv6 addresses one by one
 * would let one host take as many shares as it likes. */
flare_ip_addr flare_ip_client_key(const flare_ip_addr *ip, unsigned ipv6_prefix)
{
    flare_ip_addr u = flare_ip_unmap(ip);
    u.scope_id = 0;
    return flare_ip_prefix(&u, u.family == AF_INET6 ? ipv6_prefix : 32);
}

/* The classifiers look through IPv4-mapped addresses (RFC 4291 §2.5.5.2): a
 * socket connecting to ::ffff:10.0.0.1 reaches 10.0.0.1, so it must classify
 * the same, or an address filter could be bypassed by writing it mapped. */

bool flare_ip_is_loopback(const flare_ip_addr *ip)
{
    if (!ip) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    if (u.family == AF_INET) return u.bytes[0] == 127;
    if (u.family != AF_INET6) return false;
    static const uint8_t loopback[16] = {[15] = 1};
    return memcmp(u.bytes, loopback, 16) == 0;
}

bool flare_ip_is_private(const flare_ip_addr *ip)
{
    if (!ip) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    const uint8_t *b = u.bytes;
    if (u.family == AF_INET) /* RFC 1918 §3 */
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
    return u.family == AF_INET6 && (b[0] & 0xfe) == 0xfc; /* RFC 4193 §3.1 */
}

bool flare_ip_is_link_local(const flare_ip_addr *ip)
{
    if (!ip) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    const uint8_t *b = u.bytes;
    if (u.family == AF_INET) return b[0] == 169 && b[1] == 254;           /* RFC 3927 */
    return u.family == AF_INET6 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80; /* RFC 4291 §2.5.6 */
}

bool flare_ip_is_multicast(const flare_ip_addr *ip)
{
    if (!ip) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    if (u.family == AF_INET) return (u.bytes[0] & 0xf0) == 224; /* RFC 5771 */
    return u.family == AF_INET6 && u.bytes[0] == 0xff;          /* RFC 4291 §2.7 */
}

bool flare_ip_is_unspecified(const flare_ip_addr *ip)
{
    if (!ip) return false;
    flare_ip_addr u = flare_ip_unmap(ip);
    static const uint8_t zero[16] = {0};
    if (u.family == AF_INET) return memcmp(u.bytes, zero, 4) == 0;
    return u.family == AF_INET6 && memcmp(u.bytes, zero, 16) == 0;
}

bool flare_ip_equal(const flare_ip_addr *a, const flare_ip_addr *b)
{
    if (!a || !b || a->family != b->family) return false;
    if (a->family == AF_INET) return memcmp(a->bytes, b->bytes, 4) == 0;
    return a->family == AF_INET6 && memcmp(a->bytes, b->bytes, 16) == 0 &&
           a->scope_id == b->scope_id;
}

int flare_ip_compare(const flare_ip_addr *a, const flare_ip_addr *b)
{
    if (a->family != b->family) return a->family < b->family ? -1 : 1;
    int c = memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
    if (c != 0 || a->family == AF_INET) return c;
    return a->scope_id < b->scope_id ? -1 : a->scope_id > b->scope_id;
}
