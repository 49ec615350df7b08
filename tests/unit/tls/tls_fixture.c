/*
 * tls_fixture.c: see tls_fixture.h. Certificates are made with the OpenSSL API
 * (EC P-256, one RSA), so the tests need no CLI and no committed key. The echo
 * server reads only while flare_tls_conn_has_pending says so after a read, the way
 * flared will: a wrong answer there shows up as a hung (guard-stopped) test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "tls_fixture.h"

/* ------------------------------------------------------------------ PKI */

static long next_serial = 1000;

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A v3 certificate valid from from_days to to_days (relative to now). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long from_days, long to_days, bool ca, const char *san, const char *eku)
{
    X509 *x = X509_new();
    if (!x) return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), next_serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    int rc = add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (rc == 0)
        rc = add_ext(x, &v3, NID_key_usage,
                     ca ? "critical,keyCertSign,cRLSign"
                        : "critical,digitalSignature,keyEncipherment");
    if (rc == 0) rc = add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (rc == 0 && san) rc = add_ext(x, &v3, NID_subject_alt_name, san);
    if (rc == 0 && eku) rc = add_ext(x, &v3, NID_ext_key_usage, eku);
    if (rc < 0 || X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

const char *pki_path(const tls_pki *pki, const char *file)
{
    static char ring[16][128];
    static unsigned next;
    char *out = ring[next++ % 16];
    snprintf(out, 128, "%s/%s", pki->dir, file);
    return out;
}

static int write_pair(const tls_pki *pki, const char *name, X509 *cert, EVP_PKEY *key)
{
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    FILE *f = fopen(pki_path(pki, file), "w");
    if (!f) return -1;
    int ok = PEM_write_X509(f, cert);
    fclose(f);
    snprintf(file, sizeof file, "%s.key", name);
    /* Private keys readable by their owner only, as a server's must be. */
    int fd = open(pki_path(pki, file), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return -1;
    }
    ok = ok && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return ok ? 0 : -1;
}

/* Makes name.pem/name.key signed by (issuer, issuer_key). */
static int leaf(const tls_pki *pki, const char *name, EVP_PKEY *key, const char *cn, X509 *issuer,
                EVP_PKEY *issuer_key, long from, long to, const char *san, const char *eku)
{
    if (!key) return -1;
    X509 *x = make_cert(key, cn, issuer, issuer_key, from, to, false, san, eku);
    int rc = x ? write_pair(pki, name, x, key) : -1;
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int pki_create(tls_pki *pki)
{
    snprintf(pki->dir, sizeof pki->dir, "/tmp/flare-tls-test-XXXXXX");
    if (!mkdtemp(pki->dir)) return -1;
    static const char local_san[] = "DNS:localhost,IP:127.0.0.1,IP:::1";
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *rogue_key = EVP_EC_gen("P-256");
    X509 *ca =
        ca_key ? make_cert(ca_key, "flare test CA", NULL, NULL, -1, 30, true, NULL, NULL) : NULL;
    X509 *rogue =
        rogue_key ? make_cert(rogue_key, "rogue CA", NULL, NULL, -1, 30, true, NULL, NULL) : NULL;
    int rc = ca && rogue ? 0 : -1;
    if (rc == 0) rc = write_pair(pki, "ca", ca, ca_key);
    if (rc == 0) rc = write_pair(pki, "rogue_ca", rogue, rogue_key);
    if (rc == 0)
        rc = leaf(pki, "server", EVP_EC_gen("P-256"), "localhost", ca, ca_key, -1, 30, local_san,
                  "serverAuth");
    if (rc == 0)
        rc = leaf(pki, "other", EVP_EC_gen("P-256"), "other.test", ca, ca_key, -1, 30,
                  "DNS:other.test,DNS:*.wild.test", "serverAuth");
    if (rc == 0)
        rc = leaf(pki, "expired", EVP_EC_gen("P-256"), "localhost", ca, ca_key, -30, -1, local_san,
                  "serverAuth");
    if (rc == 0) /* valid from tomorrow on */
        rc = leaf(pki, "future", EVP_EC_gen("P-256"), "localhost", ca, ca_key, 1, 30, local_san,
                  "serverAuth");
    if (rc == 0)
        rc = leaf(pki, "client", EVP_EC_gen("P-256"), "flare test client", ca, ca_key, -1, 30, NULL,
                  "clientAuth");
    if (rc == 0)
        rc = leaf(pki, "rsa", EVP_RSA_gen(2048), "localhost", ca, ca_key, -1, 30, local_san,
                  "serverAuth");
    if (rc == 0)
        rc = leaf(pki, "rogue_server", EVP_EC_gen("P-256"), "localhost", rogue, rogue_key, -1, 30,
                  local_san, "serverAuth");
    if (rc == 0)
        rc = leaf(pki, "rogue_client", EVP_EC_gen("P-256"), "rogue client", rogue, rogue_key, -1,
                  30, NULL, "clientAuth");
    if (rc == 0) { /* server.key again, encrypted: loading it must fail, not prompt */
        FILE *in = fopen(pki_path(pki, "server.key"), "r");
        EVP_PKEY *k = in ? PEM_read_PrivateKey(in, NULL, NULL, NULL) : NULL;
        if (in) fclose(in);
        FILE *out = fopen(pki_path(pki, "encrypted.key"), "w");
        char pass[] = "secret";
        rc = k && out &&
                     PEM_write_PrivateKey(out, k, EVP_aes_256_cbc(), (unsigned char *)pass, 6, NULL,
                                          NULL)
                 ? 0
                 : -1;
        if (out) fclose(out);
        EVP_PKEY_free(k);
    }
    X509_free(ca);
    X509_free(rogue);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(rogue_key);
    return rc;
}

void pki_destroy(tls_pki *pki)
{
    DIR *d = opendir(pki->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[384];
            snprintf(path, sizeof path, "%s/%s", pki->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(pki->dir);
}

flare_tls_server_ctx *ts_simple_ctx(const tls_pki *pki, const char *name)
{
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    flare_tls_cert_config cc = {.cert_file = pki_path(pki, cert), .key_file = pki_path(pki, key)};
    flare_tls_server_config cfg = {.certs = &cc, .cert_count = 1};
    flare_tls_server_ctx *ctx = NULL;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("server ctx: %s", err.message);
    return ctx;
}

/* --------------------------------------------------------- echo server */

struct ts_conn {
    tls_server *srv;
    int idx;
    int fd;
    flare_tls_conn tls;
    bool handshaking;
    bool read_ready;    /* read now: an edge came, or has_pending said so */
    uint32_t read_want; /* the readiness a blocked read waits for */
    char out[4096];
    size_t out_len;
};

static void finish(struct ts_conn *c, int rc, const flare_error *err)
{
    tls_server *s = c->srv;
    ts_result *res = &s->results[c->idx];
    res->rc = rc;
    if (rc < 0 && err) snprintf(res->error, sizeof res->error, "%s", err->message);
    flare_reactor_remove(s->reactor, c->fd);
    flare_tls_conn_free(&c->tls);
    close(c->fd);
    s->conns[c->idx] = NULL;
    free(c);
    if (++s->finished >= s->expected) flare_reactor_stop(s->reactor);
}

static void record_handshake(struct ts_conn *c)
{
    ts_result *res = &c->srv->results[c->idx];
    res->handshake_done = true;
    const char *sni = flare_tls_conn_server_name(&c->tls);
    res->has_sni = sni != NULL;
    if (sni) snprintf(res->sni, sizeof res->sni, "%s", sni);
    size_t alpn_len = 0;
    const char *alpn = flare_tls_conn_alpn(&c->tls, &alpn_len);
    if (alpn) snprintf(res->alpn, sizeof res->alpn, "%.*s", (int)alpn_len, alpn);
    res->cert_index = flare_tls_conn_cert_index(&c->tls);
    res->reused = flare_tls_conn_session_reused(&c->tls);
    flare_tls_conn_peer_subject(&c->tls, res->peer_subject, sizeof res->peer_subject);
    size_t dn_len = 0, again_len = 0;
    const char *dn = flare_tls_conn_peer_dn(&c->tls, &dn_len);
    if (dn && flare_tls_conn_peer_dn(&c->tls, &again_len) == dn && again_len == dn_len)
        snprintf(res->peer_dn, sizeof res->peer_dn, "%.*s", (int)dn_len, dn);
    const char *why = NULL, *verify = flare_tls_conn_peer_verify(&c->tls, &why);
    snprintf(res->peer_verify, sizeof res->peer_verify, "%s%s%s", verify, why ? ":" : "",
             why ? why : "");
    snprintf(res->version, sizeof res->version, "%s", flare_tls_conn_version(&c->tls));
}

/* The connection state machine: handshake, then echo; every step retried on EAGAIN. */
static void drive(struct ts_conn *c)
{
    flare_error err;
    if (c->handshaking) {
        int rc = flare_tls_conn_handshake(&c->tls, &err);
        if (rc == FLARE_EAGAIN) return;
        if (rc < 0) {
            finish(c, rc, &err);
            return;
        }
        c->handshaking = false;
        record_handshake(c);
        c->read_ready = flare_tls_conn_has_pending(&c->tls);
    }
    for (;;) {
        while (c->out_len > 0) {
            ssize_t n = flare_tls_conn_write(&c->tls, c->out, c->out_len, &err);
            if (n == FLARE_EAGAIN) return;
            if (n < 0) {
                finish(c, (int)n, &err);
                return;
            }
            memmove(c->out, c->out + n, c->out_len - (size_t)n);
            c->out_len -= (size_t)n;
        }
        if (!c->read_ready) return;
        ssize_t n = flare_tls_conn_read(&c->tls, c->out, sizeof c->out, &err);
        if (n == FLARE_EAGAIN) {
            c->read_ready = false;
            c->read_want = c->tls.want;
            return;
        }
        if (n == FLARE_ECLOSED && c->tls.close_notify_received) {
            flare_tls_conn_shutdown(&c->tls, NULL); /* answer with our close_notify */
            finish(c, 0, NULL);
            return;
        }
        if (n < 0) {
            finish(c, (int)n, &err);
            return;
        }
        c->read_ready = flare_tls_conn_has_pending(&c->tls);
        c->read_want = FLARE_EV_READ;
        c->srv->results[c->idx].bytes += (size_t)n;
        c->out_len = c->srv->no_echo ? 0 : (size_t)n;
    }
}

static void on_conn(flare_reactor *r, int fd, uint32_t events, void *data)
{
    struct ts_conn *c = data;
    if (events & c->read_want) c->read_ready = true;
    drive(c);
}

static void on_accept(flare_reactor *r, int fd, uint32_t events, void *data)
{
    tls_server *s = data;
    for (;;) {
        int cfd = flare_tcp_listener_accept(&s->listener, NULL, NULL);
        if (cfd < 0) return;
        if (s->accepted >= TS_MAX_CONNS) {
            close(cfd);
            continue;
        }
        struct ts_conn *c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->srv = s;
        c->idx = s->accepted++;
        c->fd = cfd;
        c->handshaking = true;
        c->read_want = FLARE_EV_READ;
        s->conns[c->idx] = c;
        s->results[c->idx].cert_index = -1;
        flare_error err;
        if (flare_tls_conn_init_server(&c->tls, s->ctx, cfd, &err) < 0 ||
            flare_reactor_add(r, cfd, FLARE_EV_READ | FLARE_EV_WRITE, on_conn, c, &err) < 0) {
            flare_tls_conn_free(&c->tls);
            c->tls.fd = -1;
            s->results[c->idx].rc = err.code;
            close(cfd);
            s->conns[c->idx] = NULL;
            free(c);
            if (++s->finished >= s->expected) flare_reactor_stop(r);
            continue;
        }
        drive(c); /* the ClientHello may already be there: no edge will announce it again */
    }
}

static void on_guard(flare_timer *t, void *data)
{
    tls_server *s = data;
    s->timed_out = true;
    flare_reactor_stop(s->reactor);
}

static void *server_main(void *arg)
{
    tls_server *s = arg;
    flare_reactor_run(s->reactor, NULL);
    return NULL;
}

void ts_start(tls_server *s, flare_tls_server_ctx *ctx, const char *addr, int expected)
{
    bool no_echo = s->no_echo;
    memset(s, 0, sizeof *s);
    s->no_echo = no_echo;
    s->ctx = ctx;
    s->expected = expected;
    flare_error err;
    flare_tcp_listen_options lo = {.nonblocking = true};
    if (flare_tcp_listen_str(&s->listener, addr, &lo, &err) < 0)
        fail_msg("listen %s: %s", addr, err.message);
    s->port = s->listener.local.port;
    if (flare_reactor_new(&s->reactor, &err) < 0) fail_msg("reactor: %s", err.message);
    if (flare_reactor_add(s->reactor, s->listener.fd, FLARE_EV_READ, on_accept, s, &err) < 0)
        fail_msg("reactor add: %s", err.message);
    flare_timer_init(&s->guard, on_guard, s);
    flare_reactor_timer_in(s->reactor, &s->guard, 10000);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

void ts_join(tls_server *s)
{
    pthread_join(s->thread, NULL);
    for (int i = 0; i < TS_MAX_CONNS; i++) {
        struct ts_conn *c = s->conns[i];
        if (!c) continue;
        s->results[i].rc = FLARE_ETIMEDOUT;
        flare_reactor_remove(s->reactor, c->fd);
        flare_tls_conn_free(&c->tls);
        close(c->fd);
        free(c);
        s->conns[i] = NULL;
    }
    flare_reactor_remove(s->reactor, s->listener.fd);
    flare_tcp_listener_close(&s->listener);
    flare_reactor_free(s->reactor);
    s->reactor = NULL;
}

/* ------------------------------------------------------ raw OpenSSL peers */

static void openssl_text(char *out, size_t cap, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[160];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(out, cap, "%s: %s", what, e ? buf : "no OpenSSL error");
}

static void apply_bounds(SSL_CTX *ctx, int min_version, int max_version, const char *ciphers,
                         bool seclevel0)
{
    if (min_version) SSL_CTX_set_min_proto_version(ctx, min_version);
    if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
    if (seclevel0) SSL_CTX_set_security_level(ctx, 0);
    if (ciphers || seclevel0) {
        char list[256];
        snprintf(list, sizeof list, "%s%s", ciphers ? ciphers : "ALL",
                 seclevel0 ? ":@SECLEVEL=0" : "");
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, list), 1);
    }
}

static int dial(const char *host, uint16_t port)
{
    flare_tcp_stream s;
    flare_tcp_connect_options o = {
        .timeout_ms = 5000, .recv_timeout_ms = 5000, .send_timeout_ms = 5000};
    flare_error err;
    if (flare_tcp_connect(&s, host, port, &o, &err) < 0) fail_msg("dial: %s", err.message);
    return flare_tcp_stream_detach(&s);
}

/* Counts the session tickets the server sends (TLS 1.3: after the handshake). */
static int count_ticket(SSL *ssl, SSL_SESSION *session)
{
    raw_result *r = SSL_get_app_data(ssl);
    if (r) r->tickets++;
    return 0; /* not kept: OpenSSL frees it */
}

void raw_client(uint16_t port, const raw_opts *o, raw_result *r)
{
    memset(r, 0, sizeof *r);
    signal(SIGPIPE, SIG_IGN); /* raw peers use OpenSSL's socket BIO, which write()s */
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    apply_bounds(ctx, o->min_version, o->max_version, o->ciphers, o->seclevel0);
    if (o->cert) {
        assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, o->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM), 1);
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, count_ticket);
    int fd = dial(o->host ? o->host : "127.0.0.1", port);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_app_data(ssl, r);
    SSL_set_fd(ssl, fd);
    if (o->sni) SSL_set_tlsext_host_name(ssl, o->sni);
    if (o->session) SSL_set_session(ssl, o->session);
    char buf[8];
    if (SSL_connect(ssl) != 1) {
        openssl_text(r->error, sizeof r->error, "handshake");
        goto out;
    }
    if (SSL_write(ssl, "ping", 4) != 4 || SSL_read(ssl, buf, sizeof buf) != 4 ||
        memcmp(buf, "ping", 4) != 0) {
        openssl_text(r->error, sizeof r->error, "echo");
        goto out;
    }
    if (o->second_ping && (SSL_write(ssl, "ping", 4) != 4 || SSL_read(ssl, buf, sizeof buf) != 4)) {
        openssl_text(r->error, sizeof r->error, "second echo");
        goto out;
    }
    if (o->renegotiate) {
        ERR_clear_error();
        int ok = SSL_renegotiate(ssl) == 1 && SSL_do_handshake(ssl) == 1 &&
                 SSL_write(ssl, "ping", 4) == 4 && SSL_read(ssl, buf, sizeof buf) == 4;
        if (!ok) {
            r->reneg_reason = ERR_GET_REASON(ERR_peek_error());
            openssl_text(r->error, sizeof r->error, "renegotiation");
            goto out;
        }
    }
    r->reused = SSL_session_reused(ssl) == 1;
    r->session = SSL_get1_session(ssl);
    snprintf(r->version, sizeof r->version, "%s", SSL_get_version(ssl));
    snprintf(r->cipher, sizeof r->cipher, "%s", SSL_get_cipher_name(ssl));
    SSL_shutdown(ssl);
    r->ok = true;
out:
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

static void *raw_server_main(void *arg)
{
    raw_server *s = arg;
    struct pollfd pfd = {.fd = s->listener.fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1) {
        snprintf(s->error, sizeof s->error, "no client");
        return NULL;
    }
    int fd = flare_tcp_listener_accept(&s->listener, NULL, NULL);
    if (fd < 0) return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        s->ok = true;
        snprintf(s->version, sizeof s->version, "%s", SSL_get_version(ssl));
        snprintf(s->cipher, sizeof s->cipher, "%s", SSL_get_cipher_name(ssl));
        char buf[256];
        int n;
        bool first = true;
        unsigned char finished[64] = {0}, now[64] = {0};
        size_t finished_len = SSL_get_finished(ssl, finished, sizeof finished);
        while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
            if (SSL_write(ssl, buf, n) != n) break;
            if (first && (s->flags & RAW_RENEGOTIATE))
                if (SSL_renegotiate(ssl) == 1) SSL_do_handshake(ssl); /* sends HelloRequest */
            first = false;
        }
        s->reason = n < 0 ? ERR_GET_REASON(ERR_peek_error()) : 0;
        /* A completed new handshake has new Finished messages. */
        size_t now_len = SSL_get_finished(ssl, now, sizeof now);
        s->renegotiated = now_len != finished_len || memcmp(now, finished, sizeof now) != 0;
        SSL_shutdown(ssl);
    } else {
        openssl_text(s->error, sizeof s->error, "accept");
    }
    SSL_free(ssl);
    close(fd);
    ERR_clear_error();
    return NULL;
}

void raw_server_start(raw_server *s, const char *cert, const char *key, int min_version,
                      int max_version, const char *ciphers, bool seclevel0)
{
    raw_server_start_ex(s, cert, key, min_version, max_version, ciphers, seclevel0, 0);
}

void raw_server_start_ex(raw_server *s, const char *cert, const char *key, int min_version,
                         int max_version, const char *ciphers, bool seclevel0, int flags)
{
    memset(s, 0, sizeof *s);
    signal(SIGPIPE, SIG_IGN); /* raw peers use OpenSSL's socket BIO, which write()s */
    s->flags = flags;
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    apply_bounds(s->ctx, min_version, max_version, ciphers, seclevel0);
    if (flags & RAW_ALLOW_CLIENT_RENEG)
        SSL_CTX_set_options(s->ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(s->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM), 1);
    flare_error err;
    flare_tcp_listen_options lo = {.nonblocking = true, .accept_blocking = true};
    if (flare_tcp_listen_str(&s->listener, "127.0.0.1:0", &lo, &err) < 0)
        fail_msg("listen: %s", err.message);
    s->port = s->listener.local.port;
    assert_int_equal(pthread_create(&s->thread, NULL, raw_server_main, s), 0);
}

void raw_server_join(raw_server *s)
{
    pthread_join(s->thread, NULL);
    flare_tcp_listener_close(&s->listener);
    SSL_CTX_free(s->ctx);
    s->ctx = NULL;
}

/* ------------------------------------------------ cmocka group fixtures */

tls_pki group_pki;
flare_tls_server_ctx *group_server_ctx;
flare_tls_client_ctx *group_client_ctx;

flare_tls_client_config group_client_cfg(void)
{
    static flare_resolver v4_loopback = {loopback_resolver, NULL};
    return (flare_tls_client_config){
        .ca_file = pki_path(&group_pki, "ca.pem"),
        .timeout_ms = 5000,
        .io_timeout_ms = 5000,
        .resolver = &v4_loopback,
    };
}

int pki_group_setup(void **state)
{
    return pki_create(&group_pki);
}

int pki_group_teardown(void **state)
{
    pki_destroy(&group_pki);
    return 0;
}

int ctx_group_setup(void **state)
{
    if (pki_group_setup(state) < 0) return -1;
    group_server_ctx = ts_simple_ctx(&group_pki, "server");
    flare_tls_client_config cfg = {.ca_file = pki_path(&group_pki, "ca.pem")};
    return flare_tls_client_ctx_new(&group_client_ctx, &cfg, NULL);
}

int ctx_group_teardown(void **state)
{
    flare_tls_client_ctx_free(group_client_ctx);
    flare_tls_server_ctx_free(group_server_ctx);
    group_client_ctx = NULL;
    group_server_ctx = NULL;
    return pki_group_teardown(state);
}

/* ---------------------------------------------------------------- misc */

int loopback_resolver(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                      flare_error *err)
{
    out->count = 1;
    out->addrs[0] = ctx ? flare_ip_v6_loopback() : flare_ip_v4(127, 0, 0, 1);
    return 0;
}

void capture_log(void *log_ctx, const char *message)
{
    char *buf = log_ctx;
    size_t used = strlen(buf);
    snprintf(buf + used, 1024 - used, "%s\n", message);
}

int loopback_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}
