/*
 * dns.h: host name validation and dual-stack resolution over getaddrinfo.
 * Numeric addresses pass through without a lookup. The resolver function is
 * injectable, so callers (and tests) can supply their own answers.
 */
#ifndef FLARE_DNS_H
#define FLARE_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "flare/error.h"
#include "flare/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest host name (RFC 1035 §2.3.4, without the trailing dot). */
#define FLARE_HOSTNAME_MAX 253
/** Longest label. */
#define FLARE_HOSTNAME_LABEL_MAX 63
/** Most addresses kept from one resolution: past it, those of the family answered first, then
 *  the lowest (flare_ip_compare), so that the same set in another order keeps the same ones. */
#define FLARE_DNS_MAX_ADDRS 16

/** Which families to ask for. */
typedef enum flare_dns_family {
    FLARE_DNS_ANY = 0, /**< IPv6 and IPv4 */
    FLARE_DNS_V4 = 4,
    FLARE_DNS_V6 = 6,
} flare_dns_family;

/** Addresses of a name, in the order connect should try them, without duplicates. */
typedef struct flare_dns_result {
    size_t count;
    flare_ip_addr addrs[FLARE_DNS_MAX_ADDRS];
} flare_dns_result;

/** A resolver back end: fills out with at least one address or returns a negative code. */
typedef int (*flare_resolver_fn)(const char *host, flare_dns_family family, flare_dns_result *out,
                                 void *ctx, flare_error *err);

/** An injectable resolver; {NULL, NULL} means the system's getaddrinfo. */
typedef struct flare_resolver {
    flare_resolver_fn fn;
    void *ctx;
} flare_resolver;

/**
 * Validates a host name: 1..253 bytes, labels 1..63 of letters, digits, '_' and
 * hyphens (not at a label's ends), dots between; a single trailing dot allowed.
 * NUL, CR, LF, '@', spaces and everything else give FLARE_EHOSTNAME.
 */
int flare_hostname_validate(const char *name, size_t len, flare_error *err);

/**
 * Dual-stack resolution (IPv6 and IPv4) with the system resolver. A name with a
 * trailing dot that /etc/hosts lists ("localhost.") gets the file's addresses, as its
 * short spelling would.
 */
int flare_dns_resolve(const char *host, flare_dns_result *out, flare_error *err);
/** IPv4 only. */
int flare_dns_resolve_v4(const char *host, flare_dns_result *out, flare_error *err);
/** IPv6 only. */
int flare_dns_resolve_v6(const char *host, flare_dns_result *out, flare_error *err);
/**
 * Resolution through `resolver` (NULL = system). Numeric IPv4/IPv6 literals (also
 * "[v6]") return themselves without calling the resolver; names are validated first.
 */
int flare_dns_resolve_with(const flare_resolver *resolver, const char *host,
                           flare_dns_family family, flare_dns_result *out, flare_error *err);
/**
 * flare_dns_resolve_with that gives up on the system resolver after timeout_ms
 * (FLARE_ETIMEDOUT; 0: no bound). resolv.conf's timeout and attempts apply per
 * server and family and an NSS module may hang, so this is the only bound a caller
 * with a deadline has. An injected resolver is called as is.
 */
int flare_dns_resolve_within(const flare_resolver *resolver, const char *host,
                             flare_dns_family family, uint64_t timeout_ms, flare_dns_result *out,
                             flare_error *err);

/** A lookup running in the background (flare_dns_lookup_start). */
typedef struct flare_dns_lookup flare_dns_lookup;

/**
 * flare_dns_resolve_within without waiting: a literal, an injected resolver's answer and an
 * absolute name of the hosts file are answered at once; the system resolver is asked on a
 * thread of glibc's (getaddrinfo_a), and the process is sent notify_signal (0: none) when it
 * has answered: block it in every thread and read it (signalfd, sigwaitinfo), or handle it,
 * as a real-time signal's default action ends the process; a lookup freed before it
 * answered may still send one. 0 with *out to flare_dns_lookup_free, or a negative code (a
 * malformed host).
 */
int flare_dns_lookup_start(const flare_resolver *resolver, const char *host,
                           flare_dns_family family, uint64_t timeout_ms, int notify_signal,
                           flare_dns_lookup **out, flare_error *err);
/**
 * FLARE_EAGAIN while the lookup runs and now_ms (flare_monotonic_ms) is within timeout_ms of
 * its start (0: no bound), FLARE_ETIMEDOUT after that; otherwise its answer, as
 * flare_dns_resolve_within's.
 */
int flare_dns_lookup_result(const flare_dns_lookup *l, uint64_t now_ms, flare_dns_result *out,
                            flare_error *err);
/** Frees a lookup, cancelling it if it still runs; NULL is a no-op. */
void flare_dns_lookup_free(flare_dns_lookup *l);

#ifdef __cplusplus
}
#endif
#endif
