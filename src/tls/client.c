/*
 * client.c: the client context and the blocking client stream. The socket stays
 * non-blocking underneath; every wait is a poll() bounded by a deadline, so connect
 * and handshake share one budget and no read or write can outlive its bound.
 * Invariant: the peer is authenticated (chain + host name or IP) unless the caller
 * asked for FLARE_TLS_VERIFY_NONE, and that choice is logged on every connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "flare/dns.h"
#include "flare/net.h"
#include "flare/runtime.h"
#include "flare/tcp.h"
#include "flare/tls.h"
#include "tls_internal.h"

static const flare_tls_client_config default_client_config;

static int load_trust(SSL_CTX *sc, const flare_tls_client_config *cfg, flare_error *err)
{
    char text[160];
    if (!cfg->ca_file && !cfg->ca_dir) {
        if (SSL_CTX_set_default_verify_paths(sc) != 1) {
            tls_error_text(text, sizeof text);
            return flare_error_set(err, FLARE_ECONFIG, 0,
                                   "tls client: cannot load the system CA paths (%s); give ca_file",
                                   text);
        }
        return 0;
    }
    int rc = cfg->ca_file ? tls_check_readable(cfg->ca_file, "CA", err) : 0;
    if (rc == 0 && cfg->ca_dir) rc = tls_check_readable(cfg->ca_dir, "CA directory", err);
    if (rc < 0) return rc;
    if (SSL_CTX_load_verify_locations(sc, cfg->ca_file, cfg->ca_dir) != 1) {
        tls_error_text(text, sizeof text);
        return flare_error_set(err, FLARE_ECONFIG, 0, "tls client: CA %s: no PEM certificates (%s)",
                               cfg->ca_file ? cfg->ca_file : cfg->ca_dir, text);
    }
    return 0;
}

static int check_client_config(const flare_tls_client_config *cfg, flare_error *err)
{
    if (cfg->verify != FLARE_TLS_VERIFY_PEER && cfg->verify != FLARE_TLS_VERIFY_NONE)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls client: unknown verify mode %d",
                               (int)cfg->verify);
    /* An unauthenticated connection is only allowed when someone will hear about it. */
    if (cfg->verify == FLARE_TLS_VERIFY_NONE && !cfg->log)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls client: verify none needs a log callback for its warning");
    if (!cfg->cert_file != !cfg->key_file)
        return flare_error_set(
            err, FLARE_EINVAL, 0,
            "tls client: a client certificate needs both cert_file and key_file");
    if (cfg->io_timeout_ms < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls client: negative io_timeout_ms %d",
                               cfg->io_timeout_ms);
    return 0;
}

int flare_tls_client_ctx_new(flare_tls_client_ctx **out, const flare_tls_client_config *cfg,
                             flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "tls client: out is NULL");
    *out = NULL;
    if (!cfg) cfg = &default_client_config;
    int rc = check_client_config(cfg, err);
    if (rc < 0) return rc;
    flare_tls_client_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return flare_error_set(err, FLARE_ENOMEM, 0, "tls client: out of memory");
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl_ctx) {
        free(ctx);
        return flare_error_set(err, FLARE_ENOMEM, 0, "tls client: cannot create an SSL_CTX");
    }
    rc = tls_apply_policy(ctx->ssl_ctx, cfg->min_version, false, err);
    if (rc == 0 && cfg->verify == FLARE_TLS_VERIFY_PEER) {
        SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
        rc = load_trust(ctx->ssl_ctx, cfg, err);
    }
    if (rc == 0 && cfg->cert_file)
        rc = tls_load_cert_pair(ctx->ssl_ctx, cfg->cert_file, cfg->key_file, err);
    unsigned char *alpn = NULL;
    size_t alpn_len = 0;
    if (rc == 0) rc = tls_alpn_encode(cfg->alpn, cfg->alpn_count, &alpn, &alpn_len, err);
    /* SSL_CTX_set_alpn_protos returns 0 on success. */
    if (rc == 0 && alpn_len > 0 &&
        SSL_CTX_set_alpn_protos(ctx->ssl_ctx, alpn, (unsigned int)alpn_len) != 0)
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "tls client: cannot set the ALPN list");
    free(alpn);
    if (rc < 0) {
        flare_tls_client_ctx_free(ctx);
        return rc;
    }
    ctx->verify = cfg->verify;
    ctx->timeout_ms = cfg->timeout_ms;
    ctx->io_timeout_ms = cfg->io_timeout_ms;
    ctx->has_resolver = cfg->resolver != NULL;
    if (cfg->resolver) ctx->resolver = *cfg->resolver;
    ctx->family = cfg->family;
    ctx->log = cfg->log;
    ctx->log_ctx = cfg->log_ctx;
    *out = ctx;
    return 0;
}

void flare_tls_client_ctx_free(flare_tls_client_ctx *ctx)
{
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl_ctx); /* connected streams hold their own reference */
    free(ctx);
}

/*
 * Splits host into the name used for SNI and verification: an IP literal ("[v6]"
 * allowed, zone dropped) in canonical form, or a valid host name without its
 * trailing dot (RFC 6066 §3: SNI carries no trailing dot).
 */
static int parse_host(const char *host, char name[FLARE_HOSTNAME_MAX + 1], bool *is_ip,
                      flare_error *err)
{
    size_t len = strlen(host);
    const char *p = host;
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    flare_ip_addr ip;
    if (flare_ip_parse(&ip, p, len, NULL) == 0) {
        ip.scope_id = 0;
        *is_ip = true;
        if (flare_ip_format(&ip, name, FLARE_HOSTNAME_MAX + 1) == 0)
            return flare_error_set(err, FLARE_EADDR, 0, "tls: cannot format address %s", host);
        return 0;
    }
    *is_ip = false;
    if (len > 0 && p[len - 1] == '.') len--;
    int rc = flare_hostname_validate(p, len, err);
    if (rc < 0) return rc;
    memcpy(name, p, len);
    name[len] = '\0';
    return 0;
}

int flare_tls_conn_init_client(flare_tls_conn *c, flare_tls_client_ctx *ctx, int fd,
                               const char *host, uint16_t port, flare_error *err)
{
    if (!c) return flare_error_set(err, FLARE_EINVAL, 0, "tls connect: connection is NULL");
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (!ctx || !host || fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls connect: %s",
                               !ctx    ? "client context is NULL"
                               : !host ? "host is NULL"
                                       : "fd is negative");
    char name[FLARE_HOSTNAME_MAX + 1];
    bool is_ip = false;
    int rc = parse_host(host, name, &is_ip, err);
    if (rc < 0) return rc;
    size_t label_len = strlen(name) + sizeof " port 65535";
    c->peer_name = malloc(label_len);
    SSL *ssl = c->peer_name ? SSL_new(ctx->ssl_ctx) : NULL;
    if (!ssl) {
        flare_tls_conn_free(c);
        return flare_error_set(err, FLARE_ENOMEM, 0, "tls connect to %s: out of memory", name);
    }
    snprintf(c->peer_name, label_len, "%s port %u", name, (unsigned)port);
    /* RFC 6066 §3: a name goes in SNI; "Literal IPv4 and IPv6 addresses are not permitted". */
    bool ok = is_ip || SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && ctx->verify == FLARE_TLS_VERIFY_PEER) {
        if (is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
        } else {
            /* RFC 9525 drops CN-IDs: only DNS-ID subjectAltNames name a host; the subject's
             * CN is never taken for one, even in a certificate without SANs. */
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                       X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
            ok = SSL_set1_host(ssl, name) == 1;
        }
    }
    if (!ok) {
        SSL_free(ssl);
        flare_tls_conn_free(c);
        return flare_error_set(err, FLARE_ETLS, 0, "tls connect to %s: cannot set the peer name",
                               name);
    }
    rc = tls_conn_attach(c, ssl, fd, err);
    if (rc < 0) {
        SSL_free(ssl);
        flare_tls_conn_free(c);
        return rc;
    }
    SSL_set_connect_state(ssl);
    if (ctx->verify == FLARE_TLS_VERIFY_NONE)
        tls_log(ctx->log, ctx->log_ctx,
                "tls: certificate verification is off for %s (verify: none); the server is "
                "not authenticated",
                c->peer_name);
    return 0;
}

/* ---------------------------------------------------------------- stream */

static void stream_reset(flare_tls_stream *s)
{
    memset(s, 0, sizeof *s);
    s->tcp.fd = -1;
    s->conn.fd = -1;
    s->deadline_ms = UINT64_MAX;
}

/* The bound of one operation: io_timeout_ms from now, and never past deadline_ms. */
static uint64_t op_deadline(const flare_tls_stream *s)
{
    uint64_t deadline = s->deadline_ms;
    if (s->io_timeout_ms > 0) {
        uint64_t t = flare_monotonic_ms() + (uint64_t)s->io_timeout_ms;
        if (t < deadline) deadline = t;
    }
    return deadline;
}

/* Waits for the readiness the last FLARE_EAGAIN asked for. */
static int wait_ready(const flare_tls_stream *s, uint64_t deadline_ms, const char *op,
                      flare_error *err)
{
    short events = s->conn.want == FLARE_EV_WRITE ? POLLOUT : POLLIN;
    for (;;) {
        int left = flare_monotonic_ms_until(deadline_ms);
        if (left == 0)
            return flare_error_set(err, FLARE_ETIMEDOUT, 0, "tls %s with %s: timed out", op,
                                   s->conn.peer_name ? s->conn.peer_name : "peer");
        struct pollfd pfd = {.fd = s->conn.fd, .events = events};
        int n = poll(&pfd, 1, left);
        if (n > 0) return 0; /* errors and hang-ups surface from the next SSL call */
        if (n < 0 && errno != EINTR)
            return flare_error_set(err, FLARE_ESYS, errno, "tls %s: poll", op);
    }
}

static int check_stream(const flare_tls_stream *s, const char *op, flare_error *err)
{
    if (!s || !s->conn.ssl || s->tcp.fd < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls %s: stream is not open", op);
    return 0;
}

int flare_tls_stream_start(flare_tls_stream *s, flare_tls_client_ctx *ctx, flare_tcp_stream *tcp,
                           const char *host, uint64_t deadline_ms, flare_error *err)
{
    if (!s || !tcp || tcp->fd < 0 || !ctx || !host) {
        if (tcp) flare_tcp_stream_close(tcp);
        if (s) stream_reset(s);
        return flare_error_set(err, FLARE_EINVAL, 0, "tls handshake: %s",
                               !s      ? "stream is NULL"
                               : !tcp  ? "tcp stream is NULL"
                               : !ctx  ? "client context is NULL"
                               : !host ? "host is NULL"
                                       : "tcp stream is not open");
    }
    stream_reset(s);
    s->tcp = *tcp;
    tcp->fd = -1; /* ownership moved */
    int rc = s->tcp.nonblocking ? 0 : flare_tcp_stream_set_nonblocking(&s->tcp, true, err);
    if (rc == 0)
        rc = flare_tls_conn_init_client(&s->conn, ctx, s->tcp.fd, host, s->tcp.peer.port, err);
    while (rc == 0) {
        rc = flare_tls_conn_handshake(&s->conn, err);
        if (rc != FLARE_EAGAIN) break;
        rc = wait_ready(s, deadline_ms, "handshake", err);
    }
    if (rc < 0) {
        flare_tls_conn_free(&s->conn);
        flare_tcp_stream_close(&s->tcp);
        stream_reset(s);
        return rc;
    }
    s->io_timeout_ms = ctx->io_timeout_ms;
    return 0;
}

int flare_tls_connect_ctx(flare_tls_stream *s, flare_tls_client_ctx *ctx, const char *host,
                          uint16_t port, flare_error *err)
{
    if (!s) return flare_error_set(err, FLARE_EINVAL, 0, "tls connect: stream is NULL");
    stream_reset(s);
    if (!ctx || !host)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls connect: %s is NULL",
                               ctx ? "host" : "client context");
    int budget = ctx->timeout_ms > 0 ? ctx->timeout_ms : FLARE_TLS_TIMEOUT_MS;
    uint64_t deadline_ms =
        ctx->timeout_ms < 0 ? UINT64_MAX : flare_monotonic_ms() + (uint64_t)budget;
    flare_tcp_connect_options opts = {
        .resolver = ctx->has_resolver ? &ctx->resolver : NULL,
        .family = ctx->family,
        .timeout_ms = ctx->timeout_ms < 0 ? -1 : budget,
        .nonblocking = true,
    };
    flare_tcp_stream tcp;
    int rc = flare_tcp_connect(&tcp, host, port, &opts, err);
    if (rc < 0) return rc;
    rc = flare_tls_stream_start(s, ctx, &tcp, host, deadline_ms, err);
    if (rc == FLARE_ETIMEDOUT)
        flare_error_set(err, rc, 0,
                        "tls connect to %s port %u: timed out (budget %d ms for connect and "
                        "handshake)",
                        host, (unsigned)port, budget);
    return rc;
}

int flare_tls_connect(flare_tls_stream *s, const char *host, uint16_t port,
                      const flare_tls_client_config *cfg, flare_error *err)
{
    if (s) stream_reset(s);
    flare_tls_client_ctx *ctx = NULL;
    int rc = flare_tls_client_ctx_new(&ctx, cfg, err);
    if (rc < 0) return rc;
    rc = flare_tls_connect_ctx(s, ctx, host, port, err);
    flare_tls_client_ctx_free(ctx);
    return rc;
}

ssize_t flare_tls_stream_read(flare_tls_stream *s, void *buf, size_t len, flare_error *err)
{
    if (check_stream(s, "read", err) < 0) return FLARE_EINVAL;
    uint64_t deadline_ms = op_deadline(s);
    for (;;) {
        ssize_t n = flare_tls_conn_read(&s->conn, buf, len, err);
        if (n == FLARE_ECLOSED && s->conn.close_notify_received) {
            flare_error_clear(err);
            return 0; /* the clean end of stream */
        }
        if (n != FLARE_EAGAIN) return n;
        int rc = wait_ready(s, deadline_ms, "read", err);
        if (rc < 0) return rc;
    }
}

/* One write that made progress, waiting until deadline_ms for the socket. */
static ssize_t write_some(flare_tls_stream *s, const void *buf, size_t len, uint64_t deadline_ms,
                          flare_error *err)
{
    for (;;) {
        ssize_t n = flare_tls_conn_write(&s->conn, buf, len, err);
        if (n != FLARE_EAGAIN) return n;
        int rc = wait_ready(s, deadline_ms, "write", err);
        if (rc < 0) return rc;
    }
}

ssize_t flare_tls_stream_write(flare_tls_stream *s, const void *buf, size_t len, flare_error *err)
{
    if (check_stream(s, "write", err) < 0) return FLARE_EINVAL;
    return write_some(s, buf, len, op_deadline(s), err);
}

int flare_tls_stream_write_all(flare_tls_stream *s, const void *buf, size_t len, flare_error *err)
{
    if (check_stream(s, "write", err) < 0) return FLARE_EINVAL;
    if (!buf && len > 0) return flare_error_set(err, FLARE_EINVAL, 0, "tls write: buffer is NULL");
    uint64_t deadline_ms = op_deadline(s);
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write_some(s, p, len, deadline_ms, err);
        if (n < 0) return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int flare_tls_stream_shutdown(flare_tls_stream *s, flare_error *err)
{
    if (check_stream(s, "shutdown", err) < 0) return FLARE_EINVAL;
    uint64_t deadline_ms = op_deadline(s);
    for (;;) {
        int rc = flare_tls_conn_shutdown(&s->conn, err);
        if (rc != FLARE_EAGAIN) return rc;
        rc = wait_ready(s, deadline_ms, "shutdown", err);
        if (rc < 0) return rc;
    }
}

void flare_tls_stream_close(flare_tls_stream *s)
{
    if (!s) return;
    /* A polite close_notify if the socket takes it now; never a wait. */
    if (s->conn.ssl) flare_tls_conn_shutdown(&s->conn, NULL);
    flare_tls_conn_free(&s->conn);
    flare_tcp_stream_close(&s->tcp);
    stream_reset(s);
}

void flare_tls_stream_set_deadline(flare_tls_stream *s, uint64_t deadline_ms)
{
    if (s) s->deadline_ms = deadline_ms;
}

void flare_tls_stream_set_io_timeout(flare_tls_stream *s, int io_timeout_ms)
{
    if (s) s->io_timeout_ms = io_timeout_ms > 0 ? io_timeout_ms : 0;
}
