/*
 * udp.h: connection-less UDP sockets over IPv4 and IPv6. A plain struct the caller
 * embeds; it owns its fd until flare_udp_close (fd == -1 means closed). Datagrams
 * over the protocol limit are refused before any system call.
 */
#ifndef FLARE_UDP_H
#define FLARE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest IPv4 UDP payload: 65535 (IPv4 total length) - 20 (IP header) - 8 (UDP header). */
#define FLARE_UDP_MAX_V4 65507
/** Largest IPv6 UDP payload without jumbograms: 65535 (payload length) - 8 (UDP header). */
#define FLARE_UDP_MAX_V6 65527

/** A UDP socket. The struct owns fd; release it with flare_udp_close. */
typedef struct flare_udp_socket {
    int fd;              /**< -1 when closed */
    int family;          /**< AF_INET or AF_INET6; peers must be of the same family */
    bool nonblocking;    /**< O_NONBLOCK set: EAGAIN surfaces as FLARE_EAGAIN */
    int recv_timeout_ms; /**< 0 = none; bounds each blocking receive */
    flare_sock_addr
        local; /**< bound address (real port after port 0); port 0 until bound or first send */
} flare_udp_socket;

/** Options of flare_udp_bind / flare_udp_open; a zeroed struct (or NULL) means the defaults. */
typedef struct flare_udp_options {
    bool nonblocking;    /**< O_NONBLOCK */
    bool broadcast;      /**< SO_BROADCAST (IPv4): allow sending to broadcast addresses */
    bool reuse_addr;     /**< SO_REUSEADDR */
    bool reuse_port;     /**< SO_REUSEPORT: several sockets share the port */
    int recv_timeout_ms; /**< initial flare_udp_set_recv_timeout, 0 = none */
} flare_udp_options;

/** Binds a socket to addr (port 0 = any free port); IPv6 sockets are IPV6_V6ONLY. */
int flare_udp_bind(flare_udp_socket *u, const flare_sock_addr *addr, const flare_udp_options *opts,
                   flare_error *err);
/** flare_udp_bind on an "a.b.c.d:port" or "[v6]:port" string. */
int flare_udp_bind_str(flare_udp_socket *u, const char *addr, const flare_udp_options *opts,
                       flare_error *err);
/** An unbound socket of family AF_INET or AF_INET6; the kernel picks a port on first send. */
int flare_udp_open(flare_udp_socket *u, int family, const flare_udp_options *opts,
                   flare_error *err);
/**
 * Sends one datagram to `to`; returns len. FLARE_EMSGSIZE, before any system call,
 * when len exceeds FLARE_UDP_MAX_V4 / _V6 for to's family; FLARE_EADDR when to's
 * family is not the socket's; FLARE_EAGAIN on a full non-blocking socket.
 */
ssize_t flare_udp_send_to(flare_udp_socket *u, const void *buf, size_t len,
                          const flare_sock_addr *to, flare_error *err);
/**
 * Receives one datagram into buf: returns its length (0 is an empty datagram, not
 * EOF) and fills from (may be NULL) with the sender. A datagram longer than cap is
 * discarded and gives FLARE_EMSGSIZE (the kernel's MSG_TRUNC). FLARE_ETIMEDOUT after
 * the receive timeout, FLARE_EAGAIN when non-blocking and nothing is queued.
 */
ssize_t flare_udp_recv_from(flare_udp_socket *u, void *buf, size_t cap, flare_sock_addr *from,
                            flare_error *err);
/** SO_RCVTIMEO in ms (0 = none): a blocked receive then fails with FLARE_ETIMEDOUT. */
int flare_udp_set_recv_timeout(flare_udp_socket *u, int timeout_ms, flare_error *err);
/** SO_BROADCAST on or off. */
int flare_udp_set_broadcast(flare_udp_socket *u, bool on, flare_error *err);
/** Sets or clears O_NONBLOCK. */
int flare_udp_set_nonblocking(flare_udp_socket *u, bool on, flare_error *err);
/** Closes the fd (if open); safe to call twice. */
void flare_udp_close(flare_udp_socket *u);

#ifdef __cplusplus
}
#endif
#endif
