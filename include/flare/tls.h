/*
 * tls.h: TLS over flare_tcp with OpenSSL 3, one policy everywhere: TLS 1.2 at least,
 * TLS 1.2 only with ECDHE key exchange and AEAD ciphers (AES-GCM, ChaCha20-Poly1305),
 * no compression, no renegotiation, OpenSSL security level 2 at least. The client side
 * is a stream bounded by deadlines (flare_tls_stream). The server side is a context
 * (certificates picked by SNI, ALPN, optional client certificates, rotatable ticket
 * keys) and a non-blocking per-connection object (flare_tls_conn) that a reactor
 * state machine drives.
 * Library code never prints: warnings go to the flare_tls_log_fn of the config.
 */
#ifndef FLARE_TLS_H
#define FLARE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/dns.h"
#include "flare/error.h"
#include "flare/runtime.h"
#include "flare/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Connect + handshake budget used when flare_tls_client_config.timeout_ms is 0. */
#define FLARE_TLS_TIMEOUT_MS 30000
/** Bytes of one session ticket key: 16 name, 32 HMAC-SHA256 key, 32 AES-256 key (nginx's layout).
 */
#define FLARE_TLS_TICKET_KEY_LEN 80
/** Most certificates in one server context. */
#define FLARE_TLS_MAX_CERTS 64
/** Most protocols in one ALPN list. */
#define FLARE_TLS_MAX_ALPN 16

/** Lowest protocol version accepted. */
typedef enum flare_tls_version {
    FLARE_TLS_1_2 = 0, /**< TLS 1.2 and 1.3 (default) */
    FLARE_TLS_1_3 = 1, /**< TLS 1.3 only */
} flare_tls_version;

/** Whether the client authenticates the server. */
typedef enum flare_tls_verify {
    FLARE_TLS_VERIFY_PEER = 0, /**< chain to a trusted CA and name the host (default) */
    FLARE_TLS_VERIFY_NONE = 1, /**< no authentication at all; logs a warning per connection */
} flare_tls_verify;

/**
 * What a server with client certificates does with them (nginx's ssl_verify_client).
 * Each asks for a certificate in the handshake; they differ in what they let through.
 */
typedef enum flare_tls_client_verify {
    /** one that verifies against client_ca is required (the default) */
    FLARE_TLS_CLIENT_VERIFY_ON = 0,
    /** none is accepted; one that fails verification ends the handshake */
    FLARE_TLS_CLIENT_VERIFY_OPTIONAL = 1,
    /** none is accepted, and so is one whose only fault is an issuer client_ca does not hold
     *  (unknown or self-signed CA: the connection reports FAILED); any other fault (expired,
     *  bad signature, chain too deep) ends the handshake as in OPTIONAL */
    FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA = 2,
} flare_tls_client_verify;

/** Receives one warning line (no trailing newline); log_ctx is the config's. */
typedef void (*flare_tls_log_fn)(void *log_ctx, const char *message);

typedef struct flare_tls_server_ctx flare_tls_server_ctx;
typedef struct flare_tls_client_ctx flare_tls_client_ctx;

/* ------------------------------------------------------------ connection */

/**
 * One TLS connection over a connected non-blocking socket; embed it, no allocation
 * of its own beyond OpenSSL's. The fd is NOT owned: close it after
 * flare_tls_conn_free. Fields are read-only for the caller.
 */
typedef struct flare_tls_conn {
    struct ssl_st *ssl;           /**< NULL when not initialised or freed */
    int fd;                       /**< the socket, -1 when unset */
    uint32_t want;                /**< after FLARE_EAGAIN: FLARE_EV_READ or FLARE_EV_WRITE */
    bool handshake_done;          /**< the handshake completed */
    bool close_notify_received;   /**< the peer closed the TLS session cleanly */
    bool failed;                  /**< a fatal error happened: do not shut down, just close */
    flare_tls_server_ctx *server; /**< server connections hold a reference; NULL for clients */
    char *peer_name;              /**< "host port N" for messages (client side), owned */
    /** The peer certificate's subject once flare_tls_conn_peer_dn made it, owned; NULL
     *  before. Made on demand: a connection whose subject nobody asks for pays nothing. */
    char *peer_dn;
} flare_tls_conn;

/**
 * Starts a server-side connection on fd (connected, non-blocking, e.g. from
 * flare_tcp_listener_accept). Takes a reference on ctx, so ctx may be freed (e.g.
 * replaced after a reload) while the connection lives. Arm a handshake timer on the
 * reactor's wheel: this object has no clock.
 */
int flare_tls_conn_init_server(flare_tls_conn *c, flare_tls_server_ctx *ctx, int fd,
                               flare_error *err);
/**
 * Starts a client-side connection on fd (connected, non-blocking) to host (a name or
 * an IP literal, "[v6]" allowed); see flare_tls_stream_start for SNI and verification.
 */
int flare_tls_conn_init_client(flare_tls_conn *c, flare_tls_client_ctx *ctx, int fd,
                               const char *host, uint16_t port, flare_error *err);
/**
 * Advances the handshake: 0 when complete; FLARE_EAGAIN with c->want set (wait for
 * that readiness, then call again); FLARE_ECLOSED when the peer closed the socket;
 * FLARE_EPROTO when the first bytes are a plain HTTP request (server side: the caller
 * may answer 400 in clear text); FLARE_ECERT_EXPIRED / FLARE_EHOST_MISMATCH /
 * FLARE_EUNTRUSTED when the peer certificate fails verification; FLARE_ETLS otherwise.
 */
int flare_tls_conn_handshake(flare_tls_conn *c, flare_error *err);
/**
 * Reads decrypted bytes: > 0 count; 0 only when len is 0; FLARE_EAGAIN with c->want;
 * FLARE_ECLOSED when the peer sent close_notify (c->close_notify_received) or closed
 * the socket without it (a possible truncation); FLARE_ECONNRESET; FLARE_ETLS.
 */
ssize_t flare_tls_conn_read(flare_tls_conn *c, void *buf, size_t len, flare_error *err);
/**
 * Encrypts and sends: > 0 count (possibly short: each full record counts); FLARE_EAGAIN
 * with c->want, after which the next call must pass the same bytes again (at least
 * as many; the buffer may move); FLARE_ECLOSED, FLARE_ECONNRESET or FLARE_ETLS.
 */
ssize_t flare_tls_conn_write(flare_tls_conn *c, const void *buf, size_t len, flare_error *err);
/**
 * Sends close_notify: 0 when sent (the peer's reply is not awaited, RFC 8446 §6.1) or
 * when nothing may be sent (handshake unfinished, or after a fatal error);
 * FLARE_EAGAIN with c->want; another negative code when the peer is gone.
 */
int flare_tls_conn_shutdown(flare_tls_conn *c, flare_error *err);
/**
 * True when a read must be retried before waiting for the next edge-triggered READ
 * event: bytes are buffered inside OpenSSL, or the last socket read filled the whole
 * read-ahead buffer so the socket may hold more. False means the socket was drained.
 */
bool flare_tls_conn_has_pending(const flare_tls_conn *c);
/**
 * For a connection whose owner waits on edge-triggered readiness and calls
 * flare_tls_conn_readable for every READ event: once a socket read finds the socket
 * drained (a short read or EAGAIN), reads answer FLARE_EAGAIN with no system call
 * until the next flare_tls_conn_readable. Saves the read that OpenSSL makes right
 * after sending, which could only fail. Off by default. Turn it off at a hang-up or
 * error event (an EOF after a short read raises no new edge) and when handing the
 * connection to an owner that does not report edges.
 */
void flare_tls_conn_track_readiness(flare_tls_conn *c, bool on);
/** Reports a new READ readiness edge; see flare_tls_conn_track_readiness. */
void flare_tls_conn_readable(flare_tls_conn *c);
/** Frees the OpenSSL state and drops the server context reference; the fd stays open. */
void flare_tls_conn_free(flare_tls_conn *c);

/** Negotiated protocol ("TLSv1.3", "TLSv1.2"); NULL before the handshake. Static string. */
const char *flare_tls_conn_version(const flare_tls_conn *c);
/** Negotiated cipher suite in OpenSSL's naming; NULL before the handshake. Static string. */
const char *flare_tls_conn_cipher(const flare_tls_conn *c);
/** ALPN protocol chosen, *len bytes, not NUL-terminated, valid until free; NULL when none. */
const char *flare_tls_conn_alpn(const flare_tls_conn *c, size_t *len);
/** SNI host name the client sent (server side) or we sent (client side); NULL when none. */
const char *flare_tls_conn_server_name(const flare_tls_conn *c);
/** Peer certificate subject (RFC 2253) into out; returns its length, 0 without a certificate. */
size_t flare_tls_conn_peer_subject(const flare_tls_conn *c, char *out, size_t cap);
/**
 * The peer certificate's subject as X509_NAME_print_ex writes it with XN_FLAG_RFC2253
 * (RFC 2253: "CN=client,O=Example", the last RDN first; control and non-ASCII bytes
 * escaped, so it is printable ASCII), *len bytes and NUL-terminated. On a server this
 * is the client certificate's, nginx's $ssl_client_s_dn: verified unless client_verify
 * is OPTIONAL_NO_CA (see flare_tls_conn_peer_verify). Made
 * at the first call (after the handshake) and kept in c->peer_dn until free, so later
 * calls on the connection cost nothing. NULL (*len 0) before the handshake, without a
 * peer certificate, or when memory ran out.
 */
const char *flare_tls_conn_peer_dn(const flare_tls_conn *c, size_t *len);
/**
 * How the peer certificate verified, as nginx's $ssl_client_verify: "NONE" when the peer
 * sent none (or before the handshake), "SUCCESS" when it verified, else "FAILED" with
 * *reason (may be NULL) set to OpenSSL's reason ("certificate has expired"); *reason is
 * NULL but for "FAILED". Static strings. A server whose client_verify is ON sees only
 * "SUCCESS", OPTIONAL also "NONE", OPTIONAL_NO_CA all three. A resumed session reports
 * what its full handshake did (the result travels in the session).
 */
const char *flare_tls_conn_peer_verify(const flare_tls_conn *c, const char **reason);
/** True when the handshake resumed a session (ticket) instead of a full handshake. */
bool flare_tls_conn_session_reused(const flare_tls_conn *c);
/** Server side: index into the context's certificates of the one presented; -1 otherwise. */
int flare_tls_conn_cert_index(const flare_tls_conn *c);

/* ---------------------------------------------------------------- server */

/** One certificate of a server context. */
typedef struct flare_tls_cert_config {
    const char *cert_file;    /**< PEM chain, leaf first */
    const char *key_file;     /**< PEM private key, unencrypted */
    const char *const *names; /**< SNI names it serves: "a.example" or "*.example"; */
    size_t name_count;        /**< 0 = the certificate's own DNS subjectAltNames */
} flare_tls_cert_config;

/** Configuration of flare_tls_server_ctx_new; zeroed fields mean the defaults. */
typedef struct flare_tls_server_config {
    const flare_tls_cert_config *certs; /**< certs[0] is the default (no or unknown SNI) */
    size_t cert_count;                  /**< 1..FLARE_TLS_MAX_CERTS */
    flare_tls_version min_version;
    const char *const *alpn; /**< protocols in the server's order of preference */
    size_t alpn_count;       /**< 0 = no ALPN */
    const char *client_ca;   /**< PEM CA bundle: ask for client certificates, verify them */
    /** what client_verify lets through; OPTIONAL needs client_ca, OPTIONAL_NO_CA asks for
     *  certificates even without one (then none verifies); ON without client_ca: none asked */
    flare_tls_client_verify client_verify;
    /** most intermediate CA certificates between a client's and the CA of client_ca that
     *  issued them (nginx's ssl_verify_depth, SSL_CTX_set_verify_depth), 1..100; 0 = 100 */
    int verify_depth;
    bool session_tickets;  /**< resumption by tickets (a random key until one is set); a
                                session resumes only under the SNI name it was made for */
    int session_timeout_s; /**< session lifetime; 0 = OpenSSL's default (2 h) */
    flare_tls_log_fn log;  /**< warnings (e.g. an expired certificate); NULL = dropped */
    void *log_ctx;
} flare_tls_server_config;

/**
 * Loads every certificate and key (FLARE_ECONFIG naming the file on a missing or
 * unreadable file, bad PEM, or a key that does not match its certificate) and
 * builds the context. *out holds one reference.
 */
int flare_tls_server_ctx_new(flare_tls_server_ctx **out, const flare_tls_server_config *cfg,
                             flare_error *err);
/** Drops the caller's reference; the context goes when its last connection is freed. */
void flare_tls_server_ctx_free(flare_tls_server_ctx *ctx);
/** Takes one more reference for the caller (who frees it); returns ctx. */
flare_tls_server_ctx *flare_tls_server_ctx_ref(flare_tls_server_ctx *ctx);
/**
 * Index of the certificate that serves name (len bytes): an exact name first, then a
 * "*.suffix" wildcard covering exactly one label, else 0 (the default). Case does not
 * matter; a trailing dot does: take it off first, as flare_request.host has it taken
 * off, so that a name routing takes for no host of the listener selects no certificate
 * of one. Compare it for the Host header and for the SNI to detect a misdirected request.
 */
int flare_tls_server_ctx_select(const flare_tls_server_ctx *ctx, const char *name, size_t len);
/** Checks that both files load and that the key matches the certificate. */
int flare_tls_check_cert_pair(const char *cert_file, const char *key_file, flare_error *err);

/** Fills key with fresh random ticket key material (to share with workers). */
int flare_tls_ticket_key_generate(uint8_t key[FLARE_TLS_TICKET_KEY_LEN], flare_error *err);
/**
 * Sets the ticket keys: new tickets are sealed with current; tickets sealed with
 * previous (may be NULL) are still accepted and renewed. FLARE_EINVAL when the
 * context has session tickets off. Not safe against handshakes in other threads.
 */
int flare_tls_server_ctx_set_ticket_keys(flare_tls_server_ctx *ctx, const uint8_t *current,
                                         const uint8_t *previous, flare_error *err);
/**
 * Rotation: current becomes previous, next becomes current, the old previous is wiped.
 * Passing the key that is already current changes nothing (a repeated broadcast).
 */
int flare_tls_server_ctx_rotate_ticket_key(flare_tls_server_ctx *ctx, const uint8_t *next,
                                           flare_error *err);

/* ---------------------------------------------------------------- client */

/** Configuration of a client context; a zeroed struct (or NULL) means the defaults. */
typedef struct flare_tls_client_config {
    const char *ca_file;     /**< PEM CA bundle; with ca_dir NULL too: the system's paths */
    const char *ca_dir;      /**< hashed CA directory (c_rehash) */
    const char *cert_file;   /**< client certificate chain for mTLS (with key_file) */
    const char *key_file;    /**< its private key, unencrypted */
    const char *const *alpn; /**< protocols offered, in order of preference */
    size_t alpn_count;       /**< 0 = no ALPN */
    flare_tls_version min_version;
    flare_tls_verify verify; /**< FLARE_TLS_VERIFY_NONE requires log (it warns) */
    int timeout_ms; /**< one budget for connect + handshake: 0 = FLARE_TLS_TIMEOUT_MS, < 0 = none */
    int io_timeout_ms;              /**< bound of each read, write, write_all, shutdown: 0 = none */
    const flare_resolver *resolver; /**< copied; NULL = getaddrinfo */
    flare_dns_family family;
    flare_tls_log_fn log; /**< warnings; NULL = dropped */
    void *log_ctx;
} flare_tls_client_config;

/** Builds a client context (loads CAs and the client certificate once, for many streams). */
int flare_tls_client_ctx_new(flare_tls_client_ctx **out, const flare_tls_client_config *cfg,
                             flare_error *err);
/** Frees the context; streams already connected keep working. */
void flare_tls_client_ctx_free(flare_tls_client_ctx *ctx);

/**
 * A blocking TLS client stream: a non-blocking socket waited on with poll() against
 * deadlines. The struct owns its socket and TLS state; accessors are the
 * flare_tls_conn_* functions on &s->conn. Fields are read-only for the caller.
 */
typedef struct flare_tls_stream {
    flare_tcp_stream tcp; /**< the connection underneath, fd -1 when closed */
    flare_tls_conn conn;  /**< the TLS state */
    int io_timeout_ms;    /**< per-operation bound, 0 = none */
    uint64_t deadline_ms; /**< absolute flare_monotonic_ms bound on all I/O; UINT64_MAX = none */
} flare_tls_stream;

/**
 * Connects to host:port and completes the handshake, all within cfg's timeout_ms.
 * Builds a throwaway context: to open many streams, use flare_tls_connect_ctx.
 */
int flare_tls_connect(flare_tls_stream *s, const char *host, uint16_t port,
                      const flare_tls_client_config *cfg, flare_error *err);
/** flare_tls_connect with a shared client context. */
int flare_tls_connect_ctx(flare_tls_stream *s, flare_tls_client_ctx *ctx, const char *host,
                          uint16_t port, flare_error *err);
/**
 * Runs the client handshake over an already connected tcp stream until deadline_ms
 * (absolute flare_monotonic_ms, UINT64_MAX = none). SNI carries host unless it is an
 * IP literal (RFC 6066 §3); the certificate must name host (DNS SAN) or the IP (IP
 * SAN); its subject CN never counts (RFC 9525). Ownership of tcp moves to s in every
 * case: on failure the socket is closed.
 */
int flare_tls_stream_start(flare_tls_stream *s, flare_tls_client_ctx *ctx, flare_tcp_stream *tcp,
                           const char *host, uint64_t deadline_ms, flare_error *err);
/**
 * Reads up to len bytes: > 0 count; 0 when the peer sent close_notify (or len is 0);
 * FLARE_ECLOSED when the socket closed without close_notify (a possible truncation);
 * FLARE_ETIMEDOUT when io_timeout_ms or the deadline passed; other negative codes.
 */
ssize_t flare_tls_stream_read(flare_tls_stream *s, void *buf, size_t len, flare_error *err);
/** Writes at least one byte (one or more records) and returns the count, waiting as needed. */
ssize_t flare_tls_stream_write(flare_tls_stream *s, const void *buf, size_t len, flare_error *err);
/** Writes all len bytes under one deadline (io_timeout_ms from the call, and deadline_ms). */
int flare_tls_stream_write_all(flare_tls_stream *s, const void *buf, size_t len, flare_error *err);
/** Sends close_notify (waiting at most the I/O bound); the socket stays open until close. */
int flare_tls_stream_shutdown(flare_tls_stream *s, flare_error *err);
/** Frees the TLS state and closes the socket; tries one non-blocking close_notify first. */
void flare_tls_stream_close(flare_tls_stream *s);
/** Sets an absolute bound (flare_monotonic_ms) on all later I/O; UINT64_MAX removes it. */
void flare_tls_stream_set_deadline(flare_tls_stream *s, uint64_t deadline_ms);
/** Sets the bound of each later read, write and shutdown (ms); 0 = none. */
void flare_tls_stream_set_io_timeout(flare_tls_stream *s, int io_timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
