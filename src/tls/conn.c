/*
 * conn.c: one TLS connection over a non-blocking socket, for a reactor state
 * machine (server side) and for the blocking client stream built on it. Every
 * OpenSSL result maps onto FLARE_EAGAIN plus the readiness wanted, or a typed code.
 * Invariants: the OpenSSL error queue is cleared before each SSL_* call, so a stale
 * error never decides a result; after a fatal error (c->failed) nothing is sent.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "flare/net.h"
#include "flare/runtime.h"
#include "flare/tls.h"
#include "tls_internal.h"

/* What verification failed: the typed codes of error.h, else plain distrust. */
static int verify_code(long result)
{
    switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: /* outside its validity period either way */
        return FLARE_ECERT_EXPIRED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return FLARE_EHOST_MISMATCH;
    default: /* unknown issuer, self-signed, bad signature, revoked, wrong purpose... */
        return FLARE_EUNTRUSTED;
    }
}

/* "host port N" on the client side, the peer's address on the server side. */
static const char *peer_label(const flare_tls_conn *c, char *buf, size_t cap)
{
    if (c->peer_name) return c->peer_name;
    flare_sock_addr addr;
    if (c->fd >= 0 && flare_socket_peer_addr(c->fd, &addr, NULL) == 0 &&
        flare_sock_addr_format(&addr, buf, cap) > 0)
        return buf;
    return "peer";
}

/* RFC 9110 §5.6.2: tchar, the characters of a method token. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/*
 * A server handshake that failed on a request line rather than a ClientHello.
 * OpenSSL itself knows only GET, POST, HEAD, PUT and CONNECT; RFC 9112 §3 starts
 * every request with a method token and a space. A token that runs to the end of
 * the bytes seen counts too: OpenSSL gives up after five bytes when they come one
 * at a time. A TLS record starts with 0x16 (or 0x80 for SSLv2), never a tchar.
 */
static bool plain_http(const flare_tls_conn *c)
{
    if (c->handshake_done || !c->server) return false;
    const unsigned char *p;
    size_t n = tls_socket_bio_first_bytes(SSL_get_rbio(c->ssl), &p);
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    return i > 0 && (i == n || p[i] == ' ');
}

/* Maps a failed SSL_* call (ret <= 0; sys_errno captured right after it). */
static int fail(flare_tls_conn *c, int ret, int sys_errno, const char *op, flare_error *err)
{
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want = e == SSL_ERROR_WANT_READ ? FLARE_EV_READ : FLARE_EV_WRITE;
        return flare_error_set(err, FLARE_EAGAIN, 0, "tls %s: waiting for the socket (%s)", op,
                               e == SSL_ERROR_WANT_READ ? "read" : "write");
    }
    c->want = 0;
    char addr[FLARE_SOCK_ADDR_STR_MAX];
    /* Only a message names the peer: a caller that takes none saves a getpeername(). */
    const char *peer = err ? peer_label(c, addr, sizeof addr) : "peer";
    const char *when = c->handshake_done ? "" : " during the handshake";
    if (e == SSL_ERROR_ZERO_RETURN) {
        c->close_notify_received = true;
        ERR_clear_error();
        return flare_error_set(err, FLARE_ECLOSED, 0,
                               "tls %s with %s: the peer closed the session (close_notify)", op,
                               peer);
    }
    c->failed = true;
    unsigned long first = ERR_peek_error();
    if (e == SSL_ERROR_SYSCALL && first == 0) {
        if (sys_errno == 0 || sys_errno == EPIPE)
            return flare_error_set(err, FLARE_ECLOSED, 0,
                                   "tls %s with %s: connection closed without close_notify%s", op,
                                   peer, when);
        int code = sys_errno == ECONNRESET ? FLARE_ECONNRESET : FLARE_ESYS;
        return flare_error_set(err, code, sys_errno, "tls %s with %s%s", op, peer, when);
    }
    int reason = ERR_GET_LIB(first) == ERR_LIB_SSL ? ERR_GET_REASON(first) : 0;
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return flare_error_set(err, FLARE_ECLOSED, 0,
                               "tls %s with %s: connection closed without close_notify%s", op, peer,
                               when);
    }
    char text[128];
    tls_error_text(text, sizeof text);
    if (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST || plain_http(c))
        return flare_error_set(err, FLARE_EPROTO, 0,
                               "tls %s with %s: plain HTTP sent to a TLS port (%s)", op, peer,
                               text);
    long result = SSL_get_verify_result(c->ssl);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && result != X509_V_OK)
        return flare_error_set(err, verify_code(result), 0, "tls handshake with %s: %s (%s)", peer,
                               X509_verify_cert_error_string(result), text);
    return flare_error_set(err, FLARE_ETLS, 0, "tls %s with %s: %s%s", op, peer, text, when);
}

static int check_conn(const flare_tls_conn *c, const char *op, flare_error *err)
{
    if (!c || !c->ssl)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls %s: connection is not initialised", op);
    return 0;
}

int tls_conn_attach(flare_tls_conn *c, SSL *ssl, int fd, flare_error *err)
{
    BIO *bio = tls_socket_bio_new(fd);
    if (!bio) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: cannot create the socket BIO");
    SSL_set_bio(ssl, bio, bio); /* one reference, now the SSL's */
    c->ssl = ssl;
    c->fd = fd;
    return 0;
}

int flare_tls_conn_init_server(flare_tls_conn *c, flare_tls_server_ctx *ctx, int fd,
                               flare_error *err)
{
    if (!c) return flare_error_set(err, FLARE_EINVAL, 0, "tls accept: connection is NULL");
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (!ctx || fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls accept: %s",
                               ctx ? "fd is negative" : "server context is NULL");
    SSL *ssl = SSL_new(ctx->certs[0].ssl_ctx);
    if (!ssl) return flare_error_set(err, FLARE_ENOMEM, 0, "tls accept: SSL_new failed");
    int rc = tls_conn_attach(c, ssl, fd, err);
    if (rc < 0) {
        SSL_free(ssl);
        return rc;
    }
    SSL_set_accept_state(ssl);
    __atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
    c->server = ctx;
    return 0;
}

int flare_tls_conn_handshake(flare_tls_conn *c, flare_error *err)
{
    if (check_conn(c, "handshake", err) < 0) return FLARE_EINVAL;
    if (c->handshake_done) return 0;
    if (c->failed)
        return flare_error_set(err, FLARE_ETLS, 0, "tls handshake: the connection already failed");
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(c->ssl);
    int sys_errno = errno;
    if (ret == 1) {
        c->handshake_done = true;
        c->want = 0;
        return 0;
    }
    return fail(c, ret, sys_errno, "handshake", err);
}

ssize_t flare_tls_conn_read(flare_tls_conn *c, void *buf, size_t len, flare_error *err)
{
    if (check_conn(c, "read", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tls read: buffer is NULL");
    if (len == 0) return 0;
    if (c->close_notify_received)
        return flare_error_set(err, FLARE_ECLOSED, 0, "tls read: the peer closed the session");
    if (len > SSIZE_MAX) len = SSIZE_MAX;
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int ret = SSL_read_ex(c->ssl, buf, len, &n);
    int sys_errno = errno;
    if (ret == 1) {
        c->want = 0;
        c->handshake_done = true; /* SSL_read completes a pending handshake itself */
        return (ssize_t)n;
    }
    return fail(c, ret, sys_errno, "read", err);
}

ssize_t flare_tls_conn_write(flare_tls_conn *c, const void *buf, size_t len, flare_error *err)
{
    if (check_conn(c, "write", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tls write: buffer is NULL");
    if (len == 0) return 0; /* SSL_write of 0 bytes is an error in OpenSSL */
    if (len > SSIZE_MAX) len = SSIZE_MAX;
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int ret = SSL_write_ex(c->ssl, buf, len, &n);
    int sys_errno = errno;
    if (ret == 1) {
        c->want = 0;
        c->handshake_done = true;
        return (ssize_t)n;
    }
    return fail(c, ret, sys_errno, "write", err);
}

int flare_tls_conn_shutdown(flare_tls_conn *c, flare_error *err)
{
    if (check_conn(c, "shutdown", err) < 0) return FLARE_EINVAL;
    /* RFC 8446 §6.2: after a fatal alert the connection is simply closed. */
    if (c->failed || !SSL_is_init_finished(c->ssl)) return 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_shutdown(c->ssl);
    int sys_errno = errno;
    /* 0: our close_notify is out; the peer's is not awaited before closing (§6.1). */
    if (ret >= 0) {
        c->want = 0;
        return 0;
    }
    return fail(c, ret, sys_errno, "shutdown", err);
}

bool flare_tls_conn_has_pending(const flare_tls_conn *c)
{
    if (!c || !c->ssl) return false;
    return SSL_has_pending(c->ssl) || tls_socket_bio_maybe_more(SSL_get_rbio(c->ssl));
}

void flare_tls_conn_track_readiness(flare_tls_conn *c, bool on)
{
    if (c && c->ssl) tls_socket_bio_track(SSL_get_rbio(c->ssl), on);
}

void flare_tls_conn_readable(flare_tls_conn *c)
{
    if (c && c->ssl) tls_socket_bio_readable(SSL_get_rbio(c->ssl));
}

void flare_tls_conn_free(flare_tls_conn *c)
{
    if (!c) return;
    SSL_free(c->ssl); /* also frees the BIO; never touches the fd */
    if (c->server) flare_tls_server_ctx_free(c->server);
    free(c->peer_name);
    free(c->peer_dn);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

const char *flare_tls_conn_version(const flare_tls_conn *c)
{
    return c && c->ssl && c->handshake_done ? SSL_get_version(c->ssl) : NULL;
}

const char *flare_tls_conn_cipher(const flare_tls_conn *c)
{
    if (!c || !c->ssl || !c->handshake_done) return NULL;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    return cipher ? SSL_CIPHER_get_name(cipher) : NULL;
}

const char *flare_tls_conn_alpn(const flare_tls_conn *c, size_t *len)
{
    if (len) *len = 0;
    if (!c || !c->ssl) return NULL;
    const unsigned char *proto = NULL;
    unsigned int proto_len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (!proto || proto_len == 0) return NULL;
    if (len) *len = proto_len;
    return (const char *)proto;
}

const char *flare_tls_conn_server_name(const flare_tls_conn *c)
{
    return c && c->ssl ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

/* The subject of cert in RFC 2253 form, as nginx prints $ssl_client_s_dn; malloc'd,
 * NULL when it cannot be printed or memory ran out. */
static char *subject_text(X509 *cert)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem) return NULL;
    char *text = NULL;
    if (X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *p = NULL;
        long avail = BIO_get_mem_data(mem, &p);
        size_t n = avail > 0 ? (size_t)avail : 0;
        text = malloc(n + 1);
        if (text) {
            if (n > 0) memcpy(text, p, n);
            text[n] = '\0';
        }
    }
    BIO_free(mem);
    return text;
}

const char *flare_tls_conn_peer_dn(const flare_tls_conn *c, size_t *len)
{
    *len = 0;
    if (!c || !c->ssl || !c->handshake_done) return NULL;
    if (!c->peer_dn) {
        X509 *peer = SSL_get0_peer_certificate(c->ssl);
        if (!peer) return NULL;
        /* A cache, not a change the caller can see: the const is the caller's promise
         * not to change the connection, which this keeps. */
        ((flare_tls_conn *)c)->peer_dn = subject_text(peer);
        if (!c->peer_dn) return NULL;
    }
    *len = strlen(c->peer_dn);
    return c->peer_dn;
}

const char *flare_tls_conn_peer_verify(const flare_tls_conn *c, const char **reason)
{
    if (reason) *reason = NULL;
    if (!c || !c->ssl || !c->handshake_done || !SSL_get0_peer_certificate(c->ssl)) return "NONE";
    long result = SSL_get_verify_result(c->ssl);
    if (result == X509_V_OK) return "SUCCESS";
    if (reason) *reason = X509_verify_cert_error_string(result);
    return "FAILED";
}

size_t flare_tls_conn_peer_subject(const flare_tls_conn *c, char *out, size_t cap)
{
    if (cap > 0) out[0] = '\0';
    if (!c || !c->ssl || cap == 0) return 0;
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    char *text = peer ? subject_text(peer) : NULL;
    if (!text) return 0;
    size_t n = strlen(text);
    if (n >= cap) n = cap - 1;
    memcpy(out, text, n);
    out[n] = '\0';
    free(text);
    return n;
}

bool flare_tls_conn_session_reused(const flare_tls_conn *c)
{
    return c && c->ssl && SSL_session_reused(c->ssl) == 1;
}

int flare_tls_conn_cert_index(const flare_tls_conn *c)
{
    if (!c || !c->ssl || !c->server) return -1;
    SSL_CTX *current = SSL_get_SSL_CTX(c->ssl);
    for (size_t i = 0; i < c->server->cert_count; i++)
        if (c->server->certs[i].ssl_ctx == current) return (int)i;
    return -1;
}
