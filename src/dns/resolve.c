/*
 * resolve.c: name to addresses. Numeric literals pass through untouched; names
 * are validated, then answered by the injected resolver or by getaddrinfo, which
 * blocks (for at most a given time, gai_within.c), so callers on the reactor
 * thread should resolve elsewhere, or in the background (flare_dns_lookup_start, a
 * signal when it is done; an absolute
 * name the hosts file lists is answered from the file, see hosts.c). Answers are
 * filtered to the asked family, de-duplicated and capped at FLARE_DNS_MAX_ADDRS,
 * keeping the back end's order (getaddrinfo sorts by RFC 6724 preference); past the cap
 * the lowest addresses of the preferred family are the ones kept, so that a name with
 * more, answered in another order (a DNS server rotating its records), keeps the same
 * ones.
 */
#include "flare/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/runtime.h"
#include "gai_within.h"
#include "hosts.h"

/* Longest input worth reading: a maximal name, its trailing dot, and one more
 * byte so "too long" is reported by the validator rather than hidden by strnlen. */
#define HOST_INPUT_MAX (FLARE_HOSTNAME_MAX + 2)

static const char *family_label(flare_dns_family family)
{
    return family == FLARE_DNS_V4 ? "IPv4" : family == FLARE_DNS_V6 ? "IPv6" : "any family";
}

static bool family_wanted(flare_dns_family family, const flare_ip_addr *ip)
{
    if (family == FLARE_DNS_V4) return ip->family == AF_INET;
    if (family == FLARE_DNS_V6) return ip->family == AF_INET6;
    return ip->family == AF_INET || ip->family == AF_INET6;
}

/* Which of a and b a full result keeps first: one of the family its first address has (the
 * back end's preferred one, which a full result never lets go), then the lower. */
static int keep_order(const flare_dns_result *out, const flare_ip_addr *a, const flare_ip_addr *b)
{
    int other_a = a->family != out->addrs[0].family, other_b = b->family != out->addrs[0].family;
    return other_a != other_b ? other_a - other_b : flare_ip_compare(a, b);
}

/* Appends ip unless it is of another family or already present. A full result keeps the
 * addresses first in keep_order: ip takes the place of the last of them, if it comes
 * before it, at the end, so the ones kept stay in the back end's order. Which ones are kept
 * then depends on the set answered and its preferred family, not on the order within. */
static void add_unique(flare_dns_result *out, flare_dns_family family, const flare_ip_addr *ip)
{
    if (!family_wanted(family, ip)) return;
    size_t last = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (flare_ip_equal(&out->addrs[i], ip)) return;
        if (keep_order(out, &out->addrs[i], &out->addrs[last]) > 0) last = i;
    }
    if (out->count == FLARE_DNS_MAX_ADDRS) {
        if (keep_order(out, ip, &out->addrs[last]) > 0) return;
        memmove(&out->addrs[last], &out->addrs[last + 1],
                (out->count - last - 1) * sizeof out->addrs[0]);
        out->count--;
    }
    out->addrs[out->count++] = *ip;
}

static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Digits and dots only, at least one digit: a name cannot look like this, since
 * RFC 1123 §2.1 keeps the top-level label alphabetic; an IPv4 literal was meant. */
static bool looks_like_ipv4(const char *s, size_t len)
{
    bool digit = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digit = true;
        else if (s[i] != '.')
            return false;
    }
    return digit;
}

/* Hex digits, dots and at least one ':' before an optional "%zone": an IPv6
 * literal was meant. Anything else with a ':' ("host:80") is left to the name
 * check, whose message points at the offending byte. */
static bool looks_like_ipv6(const char *s, size_t len)
{
    const char *pct = memchr(s, '%', len);
    size_t addr_len = pct ? (size_t)(pct - s) : len;
    bool colon = false;
    for (size_t i = 0; i < addr_len; i++) {
        if (s[i] == ':')
            colon = true;
        else if (!is_hex_digit(s[i]) && s[i] != '.')
            return false;
    }
    return colon;
}

/* Returns 1 and fills ip when host is meant as a numeric address ("1.2.3.4",
 * "::1", "[::1]"), 0 when it is a name, or a negative code for a malformed
 * literal, which is reported as such rather than sent to a resolver. */
static int numeric_literal(const char *host, size_t len, flare_ip_addr *ip, flare_error *err)
{
    if (len > 0 && host[0] == '[') {
        const char *bracket = memchr(host, ']', len);
        if (bracket && bracket != host + len - 1) /* "[::1]:80": a host with a port */
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid host \"%.*s\": text after ']'; give the port on its "
                                   "own, not in the host",
                                   (int)len, host);
        if (!bracket)
            return flare_error_set(err, FLARE_EADDR, 0, "invalid host: '[' without closing ']'");
        int rc = flare_ip_parse(ip, host + 1, len - 2, err);
        if (rc < 0) return rc;
        if (ip->family != AF_INET6)
            return flare_error_set(err, FLARE_EADDR, 0,
                                   "invalid host: brackets are only for IPv6 addresses");
        return 1;
    }
    if (looks_like_ipv4(host, len) || looks_like_ipv6(host, len)) {
        int rc = flare_ip_parse(ip, host, len, err);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* getaddrinfo accepts every inet_aton spelling ("127.1", "0x7f000001", "017.0.0.1"),
 * which would slip past address filters that only know dotted quads. Such names
 * are LDH-valid, so they are refused here; host has been validated already. */
static int refuse_legacy_ipv4(const char *host, size_t len, flare_error *err)
{
    char buf[HOST_INPUT_MAX + 1];
    memcpy(buf, host, len);
    buf[len] = '\0';
    struct in_addr ignored;
    if (inet_aton(buf, &ignored) != 0)
        return flare_error_set(err, FLARE_EADDR, 0,
                               "invalid host \"%s\": a non-standard IPv4 form; write the address "
                               "as a dotted quad",
                               buf);
    return 0;
}

/* An absolute name ("localhost.") listed in the hosts file gets the file's
 * addresses, which getaddrinfo would give its short spelling (see hosts.c). */
static void resolve_hosts_file(const char *host, size_t len, flare_dns_family family,
                               flare_dns_result *out)
{
    if (host[len - 1] != '.') return;
    flare_dns_result listed = {0};
    flare_dns__hosts_lookup(FLARE_DNS_HOSTS_PATH, host, len, &listed);
    for (size_t i = 0; i < listed.count; i++)
        add_unique(out, family, &listed.addrs[i]);
}

static struct addrinfo gai_hints(flare_dns_family family)
{
    /* No AI_ADDRCONFIG: a host with only loopback configured must still get ::1. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    hints.ai_family = family == FLARE_DNS_V4   ? AF_INET
                      : family == FLARE_DNS_V6 ? AF_INET6
                                               : AF_UNSPEC;
    return hints;
}

static int timed_out(const char *host, flare_dns_family family, uint64_t timeout_ms,
                     flare_error *err)
{
    return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                           "resolving \"%s\" (%s): no answer within %llu ms", host,
                           family_label(family), (unsigned long long)timeout_ms);
}

/* getaddrinfo's answer (gai: its result, list: its addresses) into out. */
static int take_gai_answer(const char *host, flare_dns_family family, int gai,
                           const struct addrinfo *list, flare_dns_result *out, flare_error *err)
{
    if (gai != 0) {
        int code = gai == EAI_MEMORY ? FLARE_ENOMEM : FLARE_ERESOLVE;
        int sys_errno = gai == EAI_SYSTEM ? errno : 0;
        return flare_error_set(err, code, sys_errno, "resolving \"%s\" (%s): %s", host,
                               family_label(family), gai_strerror(gai));
    }
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        flare_sock_addr sa;
        if (flare_sock_addr_from_sockaddr(&sa, ai->ai_addr, ai->ai_addrlen, NULL) == 0)
            add_unique(out, family, &sa.ip);
    }
    return 0;
}

static int resolve_system(const char *host, flare_dns_family family, uint64_t timeout_ms,
                          flare_dns_result *out, flare_error *err)
{
    struct addrinfo hints = gai_hints(family);
    struct addrinfo *list = NULL;
    bool late;
    int gai = flare_dns__gai_within(host, &hints, timeout_ms, &list, &late);
    if (late) return timed_out(host, family, timeout_ms, err);
    int rc = take_gai_answer(host, family, gai, list, out, err);
    if (list) freeaddrinfo(list);
    return rc;
}

static int resolve_injected(const flare_resolver *resolver, const char *host,
                            flare_dns_family family, flare_dns_result *out, flare_error *err)
{
    flare_dns_result answer = {0};
    flare_error_clear(err);
    int rc = resolver->fn(host, family, &answer, resolver->ctx, err);
    if (rc < 0) {
        if (err && err->code == FLARE_OK)
            flare_error_set(err, rc, 0, "resolving \"%s\" (%s): resolver failed: %s", host,
                            family_label(family), flare_strerror(rc));
        return rc;
    }
    size_t n = answer.count < FLARE_DNS_MAX_ADDRS ? answer.count : FLARE_DNS_MAX_ADDRS;
    for (size_t i = 0; i < n; i++)
        add_unique(out, family, &answer.addrs[i]);
    return 0;
}

/* Everything but asking getaddrinfo: 1 when out holds the answer (a literal, an injected
 * resolver's, the hosts file's for an absolute name), 0 when getaddrinfo must be asked, or a
 * negative code (a malformed host). */
static int answer_without_lookup(const flare_resolver *resolver, const char *host,
                                 flare_dns_family family, flare_dns_result *out, flare_error *err)
{
    out->count = 0;
    if (family != FLARE_DNS_ANY && family != FLARE_DNS_V4 && family != FLARE_DNS_V6)
        return flare_error_set(err, FLARE_EINVAL, 0, "flare_dns_resolve_with: family %d",
                               (int)family);
    size_t len = strnlen(host, HOST_INPUT_MAX);

    flare_ip_addr ip;
    int rc = numeric_literal(host, len, &ip, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        char text[FLARE_IP_STR_MAX];
        if (!family_wanted(family, &ip)) {
            flare_ip_format(&ip, text, sizeof text);
            return flare_error_set(err, FLARE_ERESOLVE, 0, "%s is not an %s address", text,
                                   family_label(family));
        }
        out->addrs[0] = ip;
        out->count = 1;
        return 1;
    }

    rc = flare_hostname_validate(host, len, err);
    if (rc < 0) return rc;
    rc = refuse_legacy_ipv4(host, len, err);
    if (rc < 0) return rc;
    if (resolver && resolver->fn) {
        rc = resolve_injected(resolver, host, family, out, err);
        return rc < 0 ? rc : 1;
    }
    resolve_hosts_file(host, len, family, out);
    return out->count > 0;
}

/* The end of every lookup: a failure leaves out empty, and an answer without an address of
 * the family asked for is a failure. */
static int settle(const char *host, flare_dns_family family, int rc, flare_dns_result *out,
                  flare_error *err)
{
    if (rc < 0) {
        out->count = 0;
        return rc;
    }
    if (out->count == 0)
        return flare_error_set(err, FLARE_ERESOLVE, 0, "resolving \"%s\": no %s addresses", host,
                               family == FLARE_DNS_ANY ? "IPv4 or IPv6" : family_label(family));
    return 0;
}

int flare_dns_resolve_with(const flare_resolver *resolver, const char *host,
                           flare_dns_family family, flare_dns_result *out, flare_error *err)
{
    return flare_dns_resolve_within(resolver, host, family, 0, out, err);
}

int flare_dns_resolve_within(const flare_resolver *resolver, const char *host,
                             flare_dns_family family, uint64_t timeout_ms, flare_dns_result *out,
                             flare_error *err)
{
    if (!out || !host)
        return flare_error_set(err, FLARE_EINVAL, 0, "flare_dns_resolve_with: NULL argument");
    int rc = answer_without_lookup(resolver, host, family, out, err);
    if (rc == 0) rc = resolve_system(host, family, timeout_ms, out, err);
    return settle(host, family, rc, out, err);
}

struct flare_dns_lookup {
    flare_dns__gai *gai; /* NULL: answered at start, in answer */
    flare_dns_family family;
    uint64_t timeout_ms, deadline;
    flare_dns_result answer;
    char host[HOST_INPUT_MAX + 1];
};

int flare_dns_lookup_start(const flare_resolver *resolver, const char *host,
                           flare_dns_family family, uint64_t timeout_ms, int notify_signal,
                           flare_dns_lookup **out, flare_error *err)
{
    if (!out || !host)
        return flare_error_set(err, FLARE_EINVAL, 0, "flare_dns_lookup_start: NULL argument");
    *out = NULL;
    flare_dns_lookup *l = calloc(1, sizeof *l);
    if (!l) return flare_error_set(err, FLARE_ENOMEM, 0, "resolving: out of memory");
    int rc = answer_without_lookup(resolver, host, family, &l->answer, err);
    if (rc < 0) {
        free(l);
        return rc;
    }
    snprintf(l->host, sizeof l->host, "%s", host);
    l->family = family;
    l->timeout_ms = timeout_ms;
    l->deadline = flare_monotonic_ms() + timeout_ms;
    if (rc == 0) {
        struct addrinfo hints = gai_hints(family);
        int gai = flare_dns__gai_start(l->host, &hints, notify_signal, &l->gai);
        if (gai != 0) {
            rc = take_gai_answer(l->host, family, gai, NULL, &l->answer, err);
            free(l);
            return rc;
        }
    }
    *out = l;
    return 0;
}

int flare_dns_lookup_result(const flare_dns_lookup *l, uint64_t now_ms, flare_dns_result *out,
                            flare_error *err)
{
    *out = l->answer;
    int rc = 0;
    if (l->gai) {
        const struct addrinfo *list;
        int gai = flare_dns__gai_result(l->gai, &list);
        if (gai == EAI_INPROGRESS)
            return now_ms < l->deadline || l->timeout_ms == 0
                       ? FLARE_EAGAIN
                       : timed_out(l->host, l->family, l->timeout_ms, err);
        rc = take_gai_answer(l->host, l->family, gai, list, out, err);
    }
    return settle(l->host, l->family, rc, out, err);
}

void flare_dns_lookup_free(flare_dns_lookup *l)
{
    if (!l) return;
    flare_dns__gai_free(l->gai);
    free(l);
}

int flare_dns_resolve(const char *host, flare_dns_result *out, flare_error *err)
{
    return flare_dns_resolve_with(NULL, host, FLARE_DNS_ANY, out, err);
}

int flare_dns_resolve_v4(const char *host, flare_dns_result *out, flare_error *err)
{
    return flare_dns_resolve_with(NULL, host, FLARE_DNS_V4, out, err);
}

int flare_dns_resolve_v6(const char *host, flare_dns_result *out, flare_error *err)
{
    return flare_dns_resolve_with(NULL, host, FLARE_DNS_V6, out, err);
}
