/*
 * net.h: IP addresses, socket addresses, CIDR blocks and raw socket helpers.
 * Parsers validate the whole input before anything reaches libc: NUL, CR, LF,
 * '@', empty strings, junk and out-of-range ports get a typed error.
 */
#ifndef FLARE_NET_H
#define FLARE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "flare/error.h"
#include "flare/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest formatted IP address, with scope ("%eth0") and NUL. */
#define FLARE_IP_STR_MAX 64
/** Longest formatted socket address ("[v6%scope]:65535") with NUL. */
#define FLARE_SOCK_ADDR_STR_MAX 72

/** An IPv4 or IPv6 address. IPv4 uses bytes[0..4). */
typedef struct flare_ip_addr {
    int family; /**< AF_INET or AF_INET6 */
    uint8_t bytes[16];
    uint32_t scope_id; /**< IPv6 zone index, 0 when none */
} flare_ip_addr;

/** An IP address and a port. */
typedef struct flare_sock_addr {
    flare_ip_addr ip;
    uint16_t port;
} flare_sock_addr;

/** An address block such as 10.0.0.0/8 or fc00::/7. */
typedef struct flare_cidr {
    flare_ip_addr ip; /**< network address, host bits cleared */
    uint8_t prefix_len;
} flare_cidr;

/** Parses a dotted-quad IPv4 or an RFC 4291 IPv6 literal (no brackets) of len bytes. */
int flare_ip_parse(flare_ip_addr *out, const char *s, size_t len, flare_error *err);
/** Formats ip (RFC 5952 for IPv6) into out; returns the length, or 0 if cap is too small. */
size_t flare_ip_format(const flare_ip_addr *ip, char *out, size_t cap);
/** An IPv4 address from its four octets. */
flare_ip_addr flare_ip_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
/** ::1 */
flare_ip_addr flare_ip_v6_loopback(void);
/** True when family is AF_INET. */
bool flare_ip_is_v4(const flare_ip_addr *ip);
/** True when family is AF_INET6. */
bool flare_ip_is_v6(const flare_ip_addr *ip);
/** 127.0.0.0/8 or ::1 (and IPv4-mapped loopback). */
bool flare_ip_is_loopback(const flare_ip_addr *ip);
/** RFC 1918 (10/8, 172.16/12, 192.168/16) or IPv6 ULA fc00::/7. */
bool flare_ip_is_private(const flare_ip_addr *ip);
/** 169.254.0.0/16 or fe80::/10. */
bool flare_ip_is_link_local(const flare_ip_addr *ip);
/** 224.0.0.0/4 or ff00::/8. */
bool flare_ip_is_multicast(const flare_ip_addr *ip);
/** 0.0.0.0 or ::. */
bool flare_ip_is_unspecified(const flare_ip_addr *ip);
/** Same family, bytes and scope. */
bool flare_ip_equal(const flare_ip_addr *a, const flare_ip_addr *b);
/** A total order (IPv4 before IPv6, then bytes, then scope), for qsort: <0, 0 or >0; 0 exactly
 *  when flare_ip_equal. */
int flare_ip_compare(const flare_ip_addr *a, const flare_ip_addr *b);
/** Converts an IPv4-mapped IPv6 address (::ffff:a.b.c.d) to plain IPv4; others unchanged. */
flare_ip_addr flare_ip_unmap(const flare_ip_addr *ip);
/** ip with every bit after its first prefix_len cleared (prefix_len at or over the family's
 *  width: 32 or 128, none but the bytes an IPv4 address does not use); the zone is kept. */
flare_ip_addr flare_ip_prefix(const flare_ip_addr *ip, unsigned prefix_len);
/** The address one client is counted by in a per-client limit: an IPv4 address as itself
 *  (IPv4-mapped IPv6 too), an IPv6 one as its first ipv6_prefix bits (1..128), no zone. */
flare_ip_addr flare_ip_client_key(const flare_ip_addr *ip, unsigned ipv6_prefix);

/** Parses "a.b.c.d:port" or "[v6]:port" of len bytes; the port is required (1..65535, 0 allowed for
 * bind). */
int flare_sock_addr_parse(flare_sock_addr *out, const char *s, size_t len, flare_error *err);
/** Formats "a.b.c.d:port" or "[v6]:port"; returns the length, or 0 if cap is too small. */
size_t flare_sock_addr_format(const flare_sock_addr *a, char *out, size_t cap);
/** Builds a socket address from an IP and a port. */
flare_sock_addr flare_sock_addr_make(const flare_ip_addr *ip, uint16_t port);
/** Fills ss from a; returns the sockaddr length to pass to bind/connect. */
socklen_t flare_sock_addr_to_sockaddr(const flare_sock_addr *a, struct sockaddr_storage *ss);
/** Reads an AF_INET/AF_INET6 sockaddr; FLARE_EADDR for other families. */
int flare_sock_addr_from_sockaddr(flare_sock_addr *out, const struct sockaddr *sa, socklen_t len,
                                  flare_error *err);

/** Parses "10.0.0.0/8", "::1/128" or a bare address (full-length prefix). */
int flare_cidr_parse(flare_cidr *out, const char *s, size_t len, flare_error *err);
/** True when ip (IPv4-mapped addresses are unmapped first) lies in the block. */
bool flare_cidr_contains(const flare_cidr *block, const flare_ip_addr *ip);

/** socket(2) with SOCK_CLOEXEC, and SOCK_NONBLOCK when nonblocking; returns the fd. */
int flare_socket_open(int family, int type, bool nonblocking, flare_error *err);
/** Sets or clears O_NONBLOCK. */
int flare_socket_set_nonblocking(int fd, bool on, flare_error *err);
/** setsockopt of an int option, with a message naming the option on failure. */
int flare_socket_set_int(int fd, int level, int option, int value, const char *option_name,
                         flare_error *err);
/** Reads and clears SO_ERROR; returns 0 or the pending errno value. */
int flare_socket_pending_error(int fd);
/**
 * poll(2) until fd is ready for events (POLLIN, POLLOUT) or deadline_ms (flare_monotonic_ms
 * time, UINT64_MAX = none) passes; EINTR waits again for what is left. Returns 1 when
 * ready (or in error: the next call says which), 0 once the deadline passed, or -errno.
 */
int flare_socket_wait(int fd, short events, uint64_t deadline_ms);
/** Local address of a bound socket. */
int flare_socket_local_addr(int fd, flare_sock_addr *out, flare_error *err);
/** Peer address of a connected socket. */
int flare_socket_peer_addr(int fd, flare_sock_addr *out, flare_error *err);

#ifdef __cplusplus
}
#endif
#endif
