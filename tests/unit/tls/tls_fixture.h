/*
 * tls_fixture.h: shared pieces of the tls (and io) tests: a throwaway PKI written
 * to a temp dir at run time (no key is committed), a TLS echo server driven by a
 * flare_reactor in a thread (edge-triggered, like flared), and raw OpenSSL peers
 * that can be configured weaker than libflare allows, to prove what it refuses.
 */
#ifndef FLARE_TLS_FIXTURE_H
#define FLARE_TLS_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "flare/runtime.h"
#include "flare/tcp.h"
#include "flare/tls.h"

/* ------------------------------------------------------------------ PKI */

/*
 * Files in pki.dir (each X.pem with its X.key):
 *   ca         test CA
 *   server     EC, CN=localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
 *   other      EC, CN=other.test, SAN DNS:other.test DNS:*.wild.test (no IP)
 *   expired    like server, validity ended yesterday
 *   future     like server, valid from tomorrow on
 *   client     CN=flare test client, EKU clientAuth
 *   rsa        RSA 2048, SAN like server (so RSA key exchange would be possible)
 *   rogue_ca   an unrelated CA; rogue_server (like server) and rogue_client signed by it
 * plus encrypted.key: server.key encrypted with a passphrase.
 */
typedef struct tls_pki {
    char dir[64];
} tls_pki;

/** Creates the PKI in a fresh temp dir; returns 0 or -1. */
int pki_create(tls_pki *pki);
/** Removes the temp dir. */
void pki_destroy(tls_pki *pki);
/** Path of file in the PKI dir (a rotating static buffer: valid for 16 more calls). */
const char *pki_path(const tls_pki *pki, const char *file);

/* --------------------------------------------------------- echo server */

#define TS_MAX_CONNS 8

/** What the server saw on one connection. */
typedef struct ts_result {
    int rc; /* 0: ended by the client's close_notify; else the failing code */
    char error[FLARE_ERROR_MESSAGE_MAX];
    bool handshake_done;
    bool has_sni;
    char sni[256];
    char alpn[64];
    int cert_index;
    bool reused;
    char peer_subject[256];
    char peer_dn[256];     /* flare_tls_conn_peer_dn, asked twice: the same both times */
    char peer_verify[128]; /* flare_tls_conn_peer_verify: "NONE", "SUCCESS", "FAILED:why" */
    char version[16];
    size_t bytes; /* echoed */
} ts_result;

struct ts_conn;

typedef struct tls_server {
    flare_tls_server_ctx *ctx;
    flare_tcp_listener listener;
    uint16_t port;
    pthread_t thread;
    flare_reactor *reactor;
    flare_timer guard;
    int expected; /* connections to finish before the thread stops */
    int accepted;
    int finished;
    bool timed_out;
    bool no_echo; /* accept and handshake, then never answer (read timeouts) */
    ts_result results[TS_MAX_CONNS];
    struct ts_conn *conns[TS_MAX_CONNS];
} tls_server;

/** Listens on addr ("127.0.0.1:0", "[::1]:0") and serves `expected` connections. */
void ts_start(tls_server *s, flare_tls_server_ctx *ctx, const char *addr, int expected);
/** Waits for the thread (at most ~10 s: a guard timer stops it) and cleans up. */
void ts_join(tls_server *s);

/** A server context with one certificate (cert/key from the PKI) and nothing else. */
flare_tls_server_ctx *ts_simple_ctx(const tls_pki *pki, const char *name);

/* ------------------------------------------------------ raw OpenSSL peers */

typedef struct raw_opts {
    const char *host;       /* address to dial, default 127.0.0.1 */
    const char *sni;        /* NULL = none */
    int min_version;        /* 0 = OpenSSL default */
    int max_version;        /* 0 = OpenSSL default */
    const char *ciphers;    /* TLS <= 1.2 list, NULL = default */
    bool seclevel0;         /* allow what OpenSSL 3 refuses by default (TLS 1.1...) */
    const char *cert, *key; /* client certificate */
    SSL_SESSION *session;   /* resume this */
    bool renegotiate;       /* after the first echo, ask for a renegotiation (TLS 1.2) */
    bool second_ping;       /* after the first echo, one more (lets the server renegotiate) */
} raw_opts;

typedef struct raw_result {
    bool ok; /* handshake and one echo round trip succeeded */
    char error[256];
    bool reused;
    SSL_SESSION *session; /* owned by the caller: SSL_SESSION_free */
    char version[16];
    char cipher[64];
    int reneg_reason; /* OpenSSL reason of the failure after renegotiate, 0 if none */
    int tickets;      /* session tickets received (new-session callbacks) */
} raw_result;

/** A blocking raw OpenSSL client: handshake, echo "ping", shutdown. */
void raw_client(uint16_t port, const raw_opts *o, raw_result *r);

/** raw_server_start_ex flags. */
enum {
    RAW_ALLOW_CLIENT_RENEG = 1, /* accept client-initiated renegotiation (off in OpenSSL 3) */
    RAW_RENEGOTIATE = 2,        /* after the first echo, send a HelloRequest (TLS 1.2) */
};

/** A one-connection blocking raw OpenSSL server in a thread, permissive by request. */
typedef struct raw_server {
    flare_tcp_listener listener;
    uint16_t port;
    pthread_t thread;
    SSL_CTX *ctx;
    int flags;
    bool renegotiated; /* RAW_RENEGOTIATE: the renegotiation completed */
    int reason;        /* OpenSSL reason of the last failure, 0 if none */
    bool ok;
    char error[256];
    char version[16];
    char cipher[64];
} raw_server;

/** Starts it with cert/key, version bounds (0 = default), cipher list (NULL = default). */
void raw_server_start(raw_server *s, const char *cert, const char *key, int min_version,
                      int max_version, const char *ciphers, bool seclevel0);
/** raw_server_start with RAW_* flags. */
void raw_server_start_ex(raw_server *s, const char *cert, const char *key, int min_version,
                         int max_version, const char *ciphers, bool seclevel0, int flags);
/** Joins the thread (it gives up after ~5 s without a client). */
void raw_server_join(raw_server *s);

/* ------------------------------------------------ cmocka group fixtures */

/** The PKI of the running test group, made by pki_group_setup or ctx_group_setup. */
extern tls_pki group_pki;
/** ctx_group_setup's contexts: a server with the PKI's "server" certificate and a
 *  client that trusts ca.pem (owned by the fixture, freed by ctx_group_teardown). */
extern flare_tls_server_ctx *group_server_ctx;
extern flare_tls_client_ctx *group_client_ctx;

/** A client config for group_pki: trusts its ca.pem, 5 s timeouts, and every name
 *  resolves to 127.0.0.1. */
flare_tls_client_config group_client_cfg(void);

/** cmocka group setup: creates group_pki; returns 0 or -1. */
int pki_group_setup(void **state);
/** cmocka group teardown: removes group_pki. */
int pki_group_teardown(void **state);
/** pki_group_setup, then group_server_ctx and group_client_ctx; returns 0 or < 0. */
int ctx_group_setup(void **state);
/** Frees the contexts, then pki_group_teardown. */
int ctx_group_teardown(void **state);

/* ---------------------------------------------------------------- misc */

/** A resolver answering every name with 127.0.0.1 (ctx NULL) or ::1 (ctx non-NULL). */
int loopback_resolver(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                      flare_error *err);
/** A listening TCP socket on 127.0.0.1 at a port the kernel picks (stored in *port). */
int loopback_listener(uint16_t *port);
/** A log callback appending lines to a char[1024] passed as log_ctx. */
void capture_log(void *log_ctx, const char *message);

#endif
