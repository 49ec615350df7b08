/*
 * server.c: the server context: one SSL_CTX per certificate, all configured alike
 * (OpenSSL takes ALPN, verification and options from whichever SSL_CTX a connection
 * ends up on), the first being the default. The SNI callback switches a connection
 * to the certificate that names the host. The context is reference counted so a
 * reload can replace it while established connections keep the old one.
 */
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "flare/dns.h"
#include "flare/tls.h"
#include "tls_internal.h"

static const char session_id_prefix[] = "flare-tls-server";

static void destroy(flare_tls_server_ctx *ctx)
{
    for (size_t i = 0; i < ctx->cert_count; i++) {
        SSL_CTX_free(ctx->certs[i].ssl_ctx);
        for (size_t j = 0; j < ctx->certs[i].name_count; j++)
            free(ctx->certs[i].names[j]);
        free(ctx->certs[i].names);
    }
    free(ctx->certs);
    free(ctx->alpn_wire);
    OPENSSL_cleanse(&ctx->ticket_current, sizeof ctx->ticket_current);
    OPENSSL_cleanse(&ctx->ticket_previous, sizeof ctx->ticket_previous);
    free(ctx);
}

flare_tls_server_ctx *flare_tls_server_ctx_ref(flare_tls_server_ctx *ctx)
{
    if (ctx) __atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
    return ctx;
}

void flare_tls_server_ctx_free(flare_tls_server_ctx *ctx)
{
    if (!ctx) return;
    if (__atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) == 0) destroy(ctx);
}

/*
 * Stores name (len bytes) lower-cased without a trailing dot. A wildcard is only
 * "*." before a valid name. An invalid name from the config is an error; one from
 * the certificate itself is skipped (it could never match a valid SNI anyway).
 */
static int add_name(struct tls_server_cert *cert, const char *name, size_t len, bool strict,
                    flare_error *err)
{
    if (len > 0 && name[len - 1] == '.') len--;
    size_t skip = len > 2 && name[0] == '*' && name[1] == '.' ? 2 : 0;
    if (flare_hostname_validate(name + skip, len - skip, NULL) < 0 || len == 0) {
        if (!strict) return 0;
        return flare_error_set(err, FLARE_ECONFIG, 0,
                               "tls certificate names: '%.*s' is neither a host name nor "
                               "\"*.\" and a host name",
                               (int)(len > 200 ? 200 : len), name);
    }
    char *copy = malloc(len + 1);
    if (!copy) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: out of memory");
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)tolower((unsigned char)name[i]);
    copy[len] = '\0';
    cert->names[cert->name_count++] = copy;
    return 0;
}

static int names_from_certificate(struct tls_server_cert *cert, flare_error *err)
{
    X509 *leaf = SSL_CTX_get0_certificate(cert->ssl_ctx);
    GENERAL_NAMES *sans = leaf ? X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL) : NULL;
    int count = sans ? sk_GENERAL_NAME_num(sans) : 0;
    int rc = 0;
    if (count > 0) {
        cert->names = calloc((size_t)count, sizeof *cert->names);
        if (!cert->names) rc = flare_error_set(err, FLARE_ENOMEM, 0, "tls: out of memory");
    }
    for (int i = 0; rc == 0 && i < count; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS) continue;
        const unsigned char *data = ASN1_STRING_get0_data(gn->d.dNSName);
        int len = ASN1_STRING_length(gn->d.dNSName);
        if (data && len > 0) rc = add_name(cert, (const char *)data, (size_t)len, false, err);
    }
    GENERAL_NAMES_free(sans);
    return rc;
}

static int set_names(struct tls_server_cert *cert, const flare_tls_cert_config *cc,
                     flare_error *err)
{
    if (cc->name_count == 0) return names_from_certificate(cert, err);
    if (!cc->names)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls certificate %s: names is NULL",
                               cc->cert_file);
    cert->names = calloc(cc->name_count, sizeof *cert->names);
    if (!cert->names) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: out of memory");
    for (size_t i = 0; i < cc->name_count; i++) {
        const char *n = cc->names[i] ? cc->names[i] : "";
        int rc = add_name(cert, n, strlen(n), true, err);
        if (rc < 0) return rc;
    }
    return 0;
}

int flare_tls_server_ctx_select(const flare_tls_server_ctx *ctx, const char *name, size_t len)
{
    if (!ctx || !name) return 0;
    /* The name as routing compares it: the caller took its trailing dot off, as the
     * SNI callback and flare_request.host do. Taking off another would make
     * "other.test.." select other.test's certificate while routing takes it for an
     * unknown host, served on that certificate instead of a 421. */
    if (len == 0 || len > FLARE_HOSTNAME_MAX) return 0;
    /* Linear: a listener has a handful of certificates, and this runs once per handshake. */
    for (size_t i = 0; i < ctx->cert_count; i++)
        for (size_t j = 0; j < ctx->certs[i].name_count; j++) {
            const char *n = ctx->certs[i].names[j];
            if (n[0] != '*' && strlen(n) == len && strncasecmp(n, name, len) == 0) return (int)i;
        }
    /* "*.example.com" covers exactly one label: a.example.com, not example.com or a.b.example.com.
     */
    const char *dot = memchr(name, '.', len);
    if (!dot || dot == name) return 0;
    size_t suffix_len = len - (size_t)(dot - name);
    for (size_t i = 0; i < ctx->cert_count; i++)
        for (size_t j = 0; j < ctx->certs[i].name_count; j++) {
            const char *n = ctx->certs[i].names[j];
            if (n[0] == '*' && strlen(n + 1) == suffix_len &&
                strncasecmp(n + 1, dot, suffix_len) == 0)
                return (int)i;
        }
    return 0;
}

/* The host_name of a server_name extension body (RFC 6066 §3); false when absent
 * or malformed (OpenSSL refuses a malformed one itself, after this). */
static bool sni_host_name(SSL *ssl, const unsigned char **name, size_t *len)
{
    const unsigned char *p;
    size_t n;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) || n < 5) return false;
    size_t list = (size_t)p[0] << 8 | p[1], host = (size_t)p[3] << 8 | p[4];
    if (list != n - 2 || p[2] != TLSEXT_NAMETYPE_host_name || host + 3 > list) return false;
    *name = p + 5;
    *len = host;
    return true;
}

/*
 * RFC 6066 §3: the client names the host; an unknown or absent name gets the default
 * certificate. This runs before OpenSSL looks at the session the client offers, so
 * the name also goes into this connection's session id context: a session resumes
 * only under the name it was made for (compared without case or a trailing dot),
 * never under another host that shares the listener or even the certificate.
 */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    const flare_tls_server_ctx *ctx = arg;
    const unsigned char *name = NULL;
    size_t len = 0;
    if (!sni_host_name(ssl, &name, &len) || len > FLARE_HOSTNAME_MAX + 1) len = 0;
    if (len > 0 && name[len - 1] == '.') len--;
    if (len > FLARE_HOSTNAME_MAX) len = 0;
    int i = len ? flare_tls_server_ctx_select(ctx, (const char *)name, len) : 0;
    unsigned char key[sizeof ctx->sid_base + FLARE_HOSTNAME_MAX], sid[32];
    memcpy(key, ctx->sid_base, sizeof ctx->sid_base);
    for (size_t j = 0; j < len; j++)
        key[sizeof ctx->sid_base + j] =
            name[j] >= 'A' && name[j] <= 'Z' ? (unsigned char)(name[j] + 32) : name[j];
    unsigned int sid_len = 0;
    /* The context is switched first: SSL_set_SSL_CTX replaces the id context too. */
    if ((i > 0 && SSL_set_SSL_CTX(ssl, ctx->certs[i].ssl_ctx) == NULL) ||
        EVP_Digest(key, sizeof ctx->sid_base + len, sid, &sid_len, EVP_sha256(), NULL) != 1 ||
        SSL_set_session_id_context(ssl, sid, sid_len) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* The certificate was chosen in on_client_hello; acknowledging the name keeps it in
 * the session (SSL_get_servername). */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)ssl;
    (void)alert;
    (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* The first protocol of the server's list that the client offers wins. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                   const unsigned char *in, unsigned int in_len, void *arg)
{
    const flare_tls_server_ctx *ctx = arg;
    for (size_t i = 0; i < ctx->alpn_wire_len; i += 1u + ctx->alpn_wire[i]) {
        const unsigned char *ours = ctx->alpn_wire + i;
        for (unsigned int j = 0; j < in_len;) {
            unsigned int n = in[j];
            if (n == 0 || j + 1 + n > in_len) break; /* malformed list: stop reading it */
            if (n == ours[0] && memcmp(in + j + 1, ours + 1, n) == 0) {
                *out = ours + 1;
                *out_len = (unsigned char)n;
                return SSL_TLSEXT_ERR_OK;
            }
            j += 1 + n;
        }
    }
    /* RFC 7301 §3.2: no overlap is a fatal no_application_protocol alert. */
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/*
 * nginx's optional_no_ca: a certificate whose only fault is an issuer that client_ca
 * does not hold (an unknown or self-signed CA) is let through for the application to
 * judge, and SSL_get_verify_result keeps the fault; any other (expired, a bad
 * signature, a chain too deep) ends the handshake. The errors are nginx's
 * ngx_ssl_verify_error_optional.
 */
static int accept_unknown_issuer(int ok, X509_STORE_CTX *store)
{
    if (ok) return 1;
    switch (X509_STORE_CTX_get_error(store)) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return 1;
    default:
        return 0;
    }
}

/* Whether the handshake asks the client for a certificate (a CertificateRequest). */
static bool asks_client_cert(const flare_tls_server_config *cfg)
{
    return cfg->client_ca || cfg->client_verify == FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA;
}

static int set_client_verify(SSL_CTX *sc, const flare_tls_server_config *cfg, flare_error *err)
{
    const char *client_ca = cfg->client_ca;
    if (client_ca) {
        int rc = tls_check_readable(client_ca, "client CA", err);
        if (rc < 0) return rc;
        char text[160];
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names || SSL_CTX_load_verify_locations(sc, client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            tls_error_text(text, sizeof text);
            return flare_error_set(err, FLARE_ECONFIG, 0,
                                   "tls client CA file %s: no PEM certificates (%s)", client_ca,
                                   text);
        }
        SSL_CTX_set_client_CA_list(sc, names);
    }
    if (cfg->verify_depth > 0) SSL_CTX_set_verify_depth(sc, cfg->verify_depth);
    switch (cfg->client_verify) {
    case FLARE_TLS_CLIENT_VERIFY_ON:
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    case FLARE_TLS_CLIENT_VERIFY_OPTIONAL:
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
        break;
    case FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA:
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, accept_unknown_issuer);
        break;
    }
    return 0;
}

/* Adds the bytes of path to md; an unreadable file adds nothing (set_client_verify reports it). */
static int digest_file(EVP_MD_CTX *md, const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f) return 1;
    unsigned char buf[4096];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(md, buf, n);
    fclose(f);
    return ok;
}

/*
 * Sessions resume only into a context with the same session id context. It hashes
 * the certificate paths, the client CA path and contents and how client certificates
 * are verified (and, per connection, the name the client asked for: on_client_hello),
 * so workers with one config (and a reload of it) share sessions, while a listener
 * without mTLS cannot hand sessions to one that requires client certificates, a
 * session whose certificate failed or was missing (optional_no_ca, optional) cannot
 * resume where one must verify (the session carries its verify result, and resuming
 * verifies nothing), and a client certificate whose CA a reload removed cannot come
 * back by resuming instead of verifying.
 */
static int session_id_context(const flare_tls_server_config *cfg, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, session_id_prefix, sizeof session_id_prefix) == 1;
    for (size_t i = 0; ok && i < cfg->cert_count; i++)
        ok = EVP_DigestUpdate(md, cfg->certs[i].cert_file, strlen(cfg->certs[i].cert_file) + 1);
    if (ok && cfg->client_ca)
        ok = EVP_DigestUpdate(md, cfg->client_ca, strlen(cfg->client_ca) + 1) == 1 &&
             digest_file(md, cfg->client_ca) == 1;
    /* Left out when at their defaults, so the context of a config that has neither stays
     * the one earlier versions made (a binary upgrade keeps resuming its sessions). */
    unsigned char verify[2] = {(unsigned char)cfg->client_verify, (unsigned char)cfg->verify_depth};
    if (ok && asks_client_cert(cfg) && (verify[0] || verify[1]))
        ok = EVP_DigestUpdate(md, verify, sizeof verify) == 1;
    unsigned int len = 0;
    if (ok) ok = EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/*
 * A configured name the certificate does not carry: SNI sends such clients this
 * certificate all the same, and every one that verifies refuses it. "*.x" is
 * covered by a "*.x" subjectAltName, probed with a name one label under x.
 */
static void warn_uncovered_names(const struct tls_server_cert *cert,
                                 const flare_tls_cert_config *cc,
                                 const flare_tls_server_config *cfg)
{
    X509 *leaf = SSL_CTX_get0_certificate(cert->ssl_ctx);
    if (!leaf || cc->name_count == 0) return;
    for (size_t i = 0; i < cert->name_count; i++) {
        const char *name = cert->names[i];
        char probe[FLARE_HOSTNAME_MAX + 16];
        if (name[0] == '*') {
            snprintf(probe, sizeof probe, "flare-probe%s", name + 1);
            name = probe;
        }
        if (X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) != 1)
            tls_log(cfg->log, cfg->log_ctx,
                    "tls certificate %s does not name %s (no such subjectAltName); clients "
                    "that ask for it will refuse the certificate",
                    cc->cert_file, cert->names[i]);
    }
}

static int build_cert(flare_tls_server_ctx *ctx, struct tls_server_cert *cert,
                      const flare_tls_cert_config *cc, const flare_tls_server_config *cfg,
                      const unsigned char sid_ctx[32], flare_error *err)
{
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    if (!sc) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: cannot create an SSL_CTX");
    cert->ssl_ctx = sc;
    int rc = tls_apply_policy(sc, cfg->min_version, true, err);
    if (rc == 0) rc = tls_load_cert_pair(sc, cc->cert_file, cc->key_file, err);
    if (rc == 0) rc = set_names(cert, cc, err);
    if (rc == 0 && asks_client_cert(cfg)) rc = set_client_verify(sc, cfg, err);
    if (rc == 0 && cfg->session_tickets) rc = tls_ticket_install(sc, err);
    if (rc < 0) return rc;
    SSL_CTX_set_app_data(sc, ctx);
    SSL_CTX_set_client_hello_cb(sc, on_client_hello, ctx);
    SSL_CTX_set_tlsext_servername_callback(sc, on_servername);
    if (ctx->alpn_wire_len > 0) SSL_CTX_set_alpn_select_cb(sc, on_alpn, ctx);
    SSL_CTX_set_session_id_context(sc, sid_ctx, 32);
    /*
     * No server-side session cache: resumption is by ticket only, so it works the
     * same across worker processes and ends for everyone when a key retires.
     */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    /*
     * One TLS 1.3 ticket per full handshake, not OpenSSL's two: each is a session
     * serialised, encrypted and MACed, together about 13% of a full handshake's
     * instructions. The ticket may be used more than once (nothing here is 0-RTT),
     * and RFC 8446 §4.6.1 leaves the count to the server; Go's crypto/tls sends one.
     */
    SSL_CTX_set_num_tickets(sc, cfg->session_tickets ? 1 : 0);
    if (!cfg->session_tickets) SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
    if (cfg->session_timeout_s > 0) SSL_CTX_set_timeout(sc, cfg->session_timeout_s);
    X509 *leaf = SSL_CTX_get0_certificate(sc);
    if (leaf && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
        tls_log(cfg->log, cfg->log_ctx, "tls certificate %s has expired; clients will refuse it",
                cc->cert_file);
    /* A private key any local user can read is as good as published. */
    struct stat st;
    if (stat(cc->key_file, &st) == 0 && (st.st_mode & S_IROTH))
        tls_log(cfg->log, cfg->log_ctx,
                "tls key file %s is readable by every user of this machine (mode %04o); "
                "chmod o-r it",
                cc->key_file, (unsigned)(st.st_mode & 07777));
    /* A notBefore ahead of the clock (a wrong date, or a clock behind) fails as surely. */
    if (leaf && X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        tls_log(cfg->log, cfg->log_ctx,
                "tls certificate %s is not valid yet (check its notBefore and this machine's "
                "clock); clients will refuse it",
                cc->cert_file);
    warn_uncovered_names(cert, cc, cfg);
    return 0;
}

static int check_config(const flare_tls_server_config *cfg, flare_error *err)
{
    if (!cfg) return flare_error_set(err, FLARE_EINVAL, 0, "tls server: config is NULL");
    if (!cfg->certs || cfg->cert_count == 0 || cfg->cert_count > FLARE_TLS_MAX_CERTS)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls server: %zu certificates (give 1..%d, the first is the "
                               "default)",
                               cfg->certs ? cfg->cert_count : 0, FLARE_TLS_MAX_CERTS);
    for (size_t i = 0; i < cfg->cert_count; i++)
        if (!cfg->certs[i].cert_file || !cfg->certs[i].key_file)
            return flare_error_set(err, FLARE_ECONFIG, 0,
                                   "tls server: certificate %zu needs both cert and key files", i);
    if (cfg->client_verify == FLARE_TLS_CLIENT_VERIFY_OPTIONAL && !cfg->client_ca)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls server: client_verify optional needs a client_ca to verify "
                               "against");
    if ((unsigned)cfg->client_verify > FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls server: unknown client_verify %d",
                               (int)cfg->client_verify);
    if (cfg->verify_depth < 0 || cfg->verify_depth > 100)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls server: verify_depth %d is not 0..100",
                               cfg->verify_depth);
    if (cfg->session_timeout_s < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls server: negative session_timeout_s %d",
                               cfg->session_timeout_s);
    return 0;
}

int flare_tls_server_ctx_new(flare_tls_server_ctx **out, const flare_tls_server_config *cfg,
                             flare_error *err)
{
    if (!out) return flare_error_set(err, FLARE_EINVAL, 0, "tls server: out is NULL");
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc < 0) return rc;
    flare_tls_server_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return flare_error_set(err, FLARE_ENOMEM, 0, "tls server: out of memory");
    ctx->refs = 1;
    ctx->tickets = cfg->session_tickets;
    ctx->log = cfg->log;
    ctx->log_ctx = cfg->log_ctx;
    ctx->certs = calloc(cfg->cert_count, sizeof *ctx->certs);
    if (!ctx->certs || session_id_context(cfg, ctx->sid_base) < 0)
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "tls server: out of memory");
    if (rc == 0)
        rc = tls_alpn_encode(cfg->alpn, cfg->alpn_count, &ctx->alpn_wire, &ctx->alpn_wire_len, err);
    /* Until a master shares its keys, a random one lets this process resume its own. */
    if (rc == 0 && ctx->tickets) rc = tls_ticket_random(&ctx->ticket_current, err);
    for (size_t i = 0; rc == 0 && i < cfg->cert_count; i++) {
        ctx->cert_count = i + 1;
        rc = build_cert(ctx, &ctx->certs[i], &cfg->certs[i], cfg, ctx->sid_base, err);
    }
    if (rc < 0) {
        destroy(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}
