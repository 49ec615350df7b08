/*
 * tls_internal.h: what the files of the tls layer share and nothing outside sees:
 * the context structs, the one TLS policy, the no-SIGPIPE socket BIO, ticket key
 * storage and the mapping of OpenSSL failures onto FLARE_E* codes.
 */
#ifndef FLARE_TLS_INTERNAL_H
#define FLARE_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "flare/tls.h"

/*
 * Read-ahead buffer: one full record (16 KiB plaintext + header + the largest AEAD
 * expansion OpenSSL allows) so that a small request arrives with one recv().
 */
#define TLS_READ_BUFFER_LEN (16384 + 5 + 256)

/* TLS 1.2 suites: ECDHE key exchange, AEAD only (no CBC, no RSA kx); TLS 1.3 suites are all AEAD.
 */
#define TLS12_CIPHER_LIST "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
/* The same TLS 1.2 suites in the server's order of preference. */
#define TLS12_SERVER_ORDER "ECDHE+AES128+AESGCM:ECDHE+CHACHA20:ECDHE+AESGCM:!aNULL"
/* Every TLS 1.3 suite OpenSSL enables by default, in the server's order. */
#define TLS13_SERVER_ORDER                                                                         \
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

/* The lowest OpenSSL security level accepted (SSL_CTX_set_security_level(3)). */
#define TLS_MIN_SECURITY_LEVEL 2

struct tls_ticket_key {
    unsigned char name[16];
    unsigned char hmac_key[32];
    unsigned char aes_key[32];
};

struct tls_server_cert {
    SSL_CTX *ssl_ctx;
    char **names; /* lower-case, without trailing dot; "*.x" wildcards allowed */
    size_t name_count;
};

struct flare_tls_server_ctx {
    int refs; /* __atomic: the creator's reference plus one per live connection */
    struct tls_server_cert *certs;
    size_t cert_count;
    unsigned char *alpn_wire; /* server preference, wire format */
    size_t alpn_wire_len;
    bool tickets;
    struct tls_ticket_key ticket_current, ticket_previous;
    bool has_previous;
    flare_tls_log_fn log;
    void *log_ctx;
    unsigned char sid_base[32]; /* the config's session id context, before the name */
};

struct flare_tls_client_ctx {
    SSL_CTX *ssl_ctx;
    flare_tls_verify verify;
    int timeout_ms;
    int io_timeout_ms;
    flare_resolver resolver;
    bool has_resolver;
    flare_dns_family family;
    flare_tls_log_fn log;
    void *log_ctx;
};

/* policy.c */
/* The protocol and cipher policy; a server also sets its order of preference. */
int tls_apply_policy(SSL_CTX *ctx, flare_tls_version min_version, bool server, flare_error *err);
int tls_alpn_encode(const char *const *list, size_t count, unsigned char **out, size_t *out_len,
                    flare_error *err);
int tls_load_cert_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file, flare_error *err);
int tls_check_readable(const char *path, const char *what, flare_error *err);
void tls_error_text(char *out, size_t cap);
void tls_log(flare_tls_log_fn log, void *log_ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* bio.c */
BIO *tls_socket_bio_new(int fd);
bool tls_socket_bio_maybe_more(BIO *bio);
void tls_socket_bio_track(BIO *bio, bool on);
void tls_socket_bio_readable(BIO *bio);
/** Bytes kept of the start of what the peer sent: enough for any method and a space. */
#define TLS_FIRST_BYTES 24
/** The first bytes the peer sent (at most TLS_FIRST_BYTES); *out points into the BIO. */
size_t tls_socket_bio_first_bytes(BIO *bio, const unsigned char **out);

/* conn.c */
int tls_conn_attach(flare_tls_conn *c, SSL *ssl, int fd, flare_error *err);

/* ticket.c */
int tls_ticket_install(SSL_CTX *ssl_ctx, flare_error *err);
int tls_ticket_random(struct tls_ticket_key *key, flare_error *err);

#endif
