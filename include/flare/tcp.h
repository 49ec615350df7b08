/*
 * tcp.h: blocking-by-default TCP client streams and listeners over IPv4 and IPv6.
 * Both are plain structs the caller embeds (no allocation); each owns its fd
 * until close (or flare_tcp_stream_detach). fd == -1 means closed. Fields are
 * read-only for the caller: change them only through the functions below.
 */
#ifndef FLARE_TCP_H
#define FLARE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/dns.h"
#include "flare/error.h"
#include "flare/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Connect budget used when flare_tcp_connect_options.timeout_ms is 0. */
#define FLARE_TCP_CONNECT_TIMEOUT_MS 30000
/** Shortest share of the budget one address gets while more addresses remain. */
#define FLARE_TCP_ATTEMPT_MIN_MS 2000

/* ---------------------------------------------------------------- stream */

/** A connected TCP stream. The struct owns fd; release it with flare_tcp_stream_close. */
typedef struct flare_tcp_stream {
    int fd;                /**< connected socket, -1 when closed */
    bool nonblocking;      /**< O_NONBLOCK is set: EAGAIN surfaces as FLARE_EAGAIN */
    int send_timeout_ms;   /**< 0 = none; bounds each blocking send, each write_all whole */
    int recv_timeout_ms;   /**< 0 = none; bounds each blocking read */
    flare_sock_addr local; /**< our end */
    flare_sock_addr peer;  /**< the remote end */
} flare_tcp_stream;

/** Options of flare_tcp_connect; a zeroed struct (or NULL) means the defaults. */
typedef struct flare_tcp_connect_options {
    const flare_resolver *resolver; /**< NULL = the system's getaddrinfo */
    flare_dns_family family;        /**< FLARE_DNS_ANY (default), _V4 or _V6 */
    int timeout_ms;      /**< lookup + connect: 0 = FLARE_TCP_CONNECT_TIMEOUT_MS, < 0 = none */
    bool keep_nagle;     /**< leave TCP_NODELAY off (it is set by default) */
    bool nonblocking;    /**< leave the connected stream non-blocking */
    int send_timeout_ms; /**< initial flare_tcp_stream_set_send_timeout, 0 = none */
    int recv_timeout_ms; /**< initial flare_tcp_stream_set_recv_timeout, 0 = none */
} flare_tcp_connect_options;

/** Which direction flare_tcp_stream_shutdown closes. */
typedef enum flare_tcp_shutdown_how {
    FLARE_TCP_SHUT_READ = 0,  /**< no more reads */
    FLARE_TCP_SHUT_WRITE = 1, /**< send FIN: the peer reads EOF */
    FLARE_TCP_SHUT_BOTH = 2,
} flare_tcp_shutdown_how;

/**
 * Resolves host (flare_dns_resolve_with, resolver from opts) and tries each address
 * in order with a non-blocking connect bounded by the remaining budget; while other
 * addresses remain an attempt gets remaining/addresses-left (at least
 * FLARE_TCP_ATTEMPT_MIN_MS), so a dead IPv6 route falls back to IPv4. On failure
 * the last attempt's error is returned (FLARE_ECONNREFUSED, FLARE_ETIMEDOUT...) and
 * err names host and port. getaddrinfo itself cannot be interrupted, but its time
 * counts against the budget. On success *s is open and owns its fd.
 */
int flare_tcp_connect(flare_tcp_stream *s, const char *host, uint16_t port,
                      const flare_tcp_connect_options *opts, flare_error *err);
/** Connects to one address with opts' timeout and socket options (resolver unused). */
int flare_tcp_connect_addr(flare_tcp_stream *s, const flare_sock_addr *addr,
                           const flare_tcp_connect_options *opts, flare_error *err);
/**
 * Wraps a connected fd (e.g. from flare_tcp_listener_accept); on success the stream
 * owns fd. Socket options and O_NONBLOCK are left as they are. IPv4-mapped IPv6
 * addresses (a dual-stack socket's IPv4 peers) are recorded as IPv4. On failure the
 * caller keeps fd.
 */
int flare_tcp_stream_adopt(flare_tcp_stream *s, int fd, flare_error *err);
/**
 * Reads up to len bytes: returns the count (> 0), 0 at end of stream (the peer sent
 * FIN; len == 0 also returns 0), FLARE_EAGAIN (non-blocking, no data),
 * FLARE_ETIMEDOUT (recv timeout), FLARE_ECONNRESET, or another negative code.
 */
ssize_t flare_tcp_stream_read(flare_tcp_stream *s, void *buf, size_t len, flare_error *err);
/**
 * One send(MSG_NOSIGNAL): returns the count written, possibly short. A peer that
 * has gone gives FLARE_ECLOSED or FLARE_ECONNRESET, never SIGPIPE.
 */
ssize_t flare_tcp_stream_write(flare_tcp_stream *s, const void *buf, size_t len, flare_error *err);
/**
 * Writes all len bytes, waiting with poll() while the socket is full, on a blocking
 * stream as on a non-blocking one. send_timeout_ms (0 = none) bounds the whole call,
 * not each wait: a peer that takes a trickle cannot keep it going. Returns 0,
 * FLARE_ETIMEDOUT, or another negative code; after any failure the number of bytes
 * that reached the socket is unknown: treat the stream as broken.
 */
int flare_tcp_stream_write_all(flare_tcp_stream *s, const void *buf, size_t len, flare_error *err);
/** shutdown(2) of one or both directions; the fd stays open until close. */
int flare_tcp_stream_shutdown(flare_tcp_stream *s, flare_tcp_shutdown_how how, flare_error *err);
/** Closes the fd (if open) and marks the stream closed; safe to call twice. */
void flare_tcp_stream_close(flare_tcp_stream *s);
/** Gives up ownership: returns the fd (or -1) and marks the stream closed without closing it. */
int flare_tcp_stream_detach(flare_tcp_stream *s);
/** TCP_NODELAY: true sends small writes at once (Nagle off). */
int flare_tcp_stream_set_nodelay(flare_tcp_stream *s, bool on, flare_error *err);
/**
 * SO_KEEPALIVE on or off; when on, idle_s (TCP_KEEPIDLE), interval_s (TCP_KEEPINTVL)
 * and count (TCP_KEEPCNT) are applied when > 0, else the system defaults stay.
 */
int flare_tcp_stream_set_keepalive(flare_tcp_stream *s, bool on, int idle_s, int interval_s,
                                   int count, flare_error *err);
/** SO_SNDTIMEO in ms (0 = none): a blocked write then fails with FLARE_ETIMEDOUT; it is
 *  also the deadline of each flare_tcp_stream_write_all call. */
int flare_tcp_stream_set_send_timeout(flare_tcp_stream *s, int timeout_ms, flare_error *err);
/** SO_RCVTIMEO in ms (0 = none): a blocked read then fails with FLARE_ETIMEDOUT. */
int flare_tcp_stream_set_recv_timeout(flare_tcp_stream *s, int timeout_ms, flare_error *err);
/** Sets or clears O_NONBLOCK. */
int flare_tcp_stream_set_nonblocking(flare_tcp_stream *s, bool on, flare_error *err);

/* -------------------------------------------------------------- listener */

/** A listening TCP socket. The struct owns fd; release it with flare_tcp_listener_close. */
typedef struct flare_tcp_listener {
    int fd;                  /**< listening socket, -1 when closed */
    bool accept_nonblocking; /**< accepted fds get SOCK_NONBLOCK */
    flare_sock_addr local;   /**< bound address, with the real port after a port-0 bind */
} flare_tcp_listener;

/** Options of flare_tcp_listen; a zeroed struct (or NULL) means the defaults. */
typedef struct flare_tcp_listen_options {
    int backlog;          /**< listen(2) backlog; 0 = SOMAXCONN */
    bool reuse_port;      /**< SO_REUSEPORT: several sockets share the port (kernel balances) */
    bool nonblocking;     /**< listening fd non-blocking: accept may give FLARE_EAGAIN */
    bool accept_blocking; /**< accepted fds stay blocking (simple servers); default non-blocking */
} flare_tcp_listen_options;

/**
 * Binds and listens on addr (IPv4 or IPv6; port 0 = any free port). SO_REUSEADDR is
 * always set, IPV6_V6ONLY on IPv6 so [::]:p and 0.0.0.0:p can coexist, all fds CLOEXEC.
 */
int flare_tcp_listen(flare_tcp_listener *l, const flare_sock_addr *addr,
                     const flare_tcp_listen_options *opts, flare_error *err);
/** flare_tcp_listen on an "a.b.c.d:port" or "[v6]:port" string. */
int flare_tcp_listen_str(flare_tcp_listener *l, const char *addr,
                         const flare_tcp_listen_options *opts, flare_error *err);
/**
 * Takes over an already bound and listening SOCK_STREAM fd (e.g. passed by the
 * daemon to a worker). O_NONBLOCK is not touched: it is shared with every process
 * holding the socket. Only opts->accept_blocking is used. On failure the caller
 * keeps fd.
 */
int flare_tcp_listener_adopt(flare_tcp_listener *l, int fd, const flare_tcp_listen_options *opts,
                             flare_error *err);
/**
 * accept4 with SOCK_CLOEXEC (+ SOCK_NONBLOCK unless accept_blocking): returns the new
 * fd, owned by the caller, and fills peer (may be NULL). FLARE_EAGAIN when the
 * listener is non-blocking and nothing is pending; FLARE_ELIMIT when out of fds.
 */
int flare_tcp_listener_accept(flare_tcp_listener *l, flare_sock_addr *peer, flare_error *err);
/** Accepts one connection straight into a stream (which then owns the fd). */
int flare_tcp_listener_accept_stream(flare_tcp_listener *l, flare_tcp_stream *out,
                                     flare_error *err);
/** Closes the listening fd (if open); safe to call twice. */
void flare_tcp_listener_close(flare_tcp_listener *l);

#ifdef __cplusplus
}
#endif
#endif
