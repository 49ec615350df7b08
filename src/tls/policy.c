/*
 * policy.c: the one TLS policy of libflare, applied to every SSL_CTX (client and
 * server alike), and the plumbing both sides share: certificate loading with
 * errors that name the file, ALPN wire encoding, OpenSSL error text, warnings.
 * Invariant: no OpenSSL call here may prompt on a terminal or print.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flare/tls.h"
#include "tls_internal.h"

/* An encrypted key must fail to load, never block on a passphrase prompt. */
static int no_password(char *buf, int size, int rwflag, void *userdata)
{
    return 0;
}

int tls_apply_policy(SSL_CTX *ctx, flare_tls_version min_version, bool server, flare_error *err)
{
    if (min_version != FLARE_TLS_1_2 && min_version != FLARE_TLS_1_3)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls: unknown min_version %d; use FLARE_TLS_1_2 or FLARE_TLS_1_3",
                               (int)min_version);
    /* TLS 1.0 and 1.1 are deprecated by RFC 8996. */
    int min = min_version == FLARE_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    /*
     * A server picks the cipher, AES-128-GCM first: with AES instructions it is the
     * cheapest AEAD per byte, and in TLS 1.3 its key schedule uses SHA-256, which
     * SHA-NI runs in hardware, where AES-256-GCM brings SHA-384. Go's crypto/tls
     * chooses the same way. A client that lists ChaCha20 first (no AES hardware)
     * still gets it. The suites are the same either way: ECDHE with AEAD only.
     */
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
        SSL_CTX_set_cipher_list(ctx, server ? TLS12_SERVER_ORDER : TLS12_CIPHER_LIST) != 1 ||
        (server && SSL_CTX_set_ciphersuites(ctx, TLS13_SERVER_ORDER) != 1)) {
        char text[160];
        tls_error_text(text, sizeof text);
        return flare_error_set(err, FLARE_ETLS, 0, "tls: cannot apply the protocol policy: %s",
                               text);
    }
    /*
     * Compression invites CRIME; renegotiation (RFC 5746 or not) is a DoS lever and
     * never needed by HTTP/1.1 here, so both are refused outright.
     */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /*
     * Security level 2 (112-bit security) refuses RSA and DH keys under 2048 bits
     * and SHA-1 signatures, in our certificates and in the peer's chain alike. Some
     * builds of OpenSSL default to level 1, which takes 1024-bit RSA, and the
     * system's openssl.cnf may lower it: a weaker level is never taken from there.
     */
    if (SSL_CTX_get_security_level(ctx) < TLS_MIN_SECURITY_LEVEL)
        SSL_CTX_set_security_level(ctx, TLS_MIN_SECURITY_LEVEL);
    if (server)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    /*
     * Partial writes and moving buffers let a non-blocking caller retry from its own
     * buffer; released buffers let an idle keep-alive connection give 33 KiB back.
     */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER_LEN);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    return 0;
}

int tls_alpn_encode(const char *const *list, size_t count, unsigned char **out, size_t *out_len,
                    flare_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (count == 0) return 0;
    if (!list || count > FLARE_TLS_MAX_ALPN)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls alpn: %zu protocols (give 1..%d)", count,
                               FLARE_TLS_MAX_ALPN);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = list[i] ? strlen(list[i]) : 0;
        /* RFC 7301 §3.1: each protocol name is 1..255 bytes. */
        if (n == 0 || n > 255)
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "tls alpn: protocol %zu is %zu bytes (give 1..255)", i, n);
        total += 1 + n;
    }
    unsigned char *wire = malloc(total);
    if (!wire) return flare_error_set(err, FLARE_ENOMEM, 0, "tls alpn: out of memory");
    unsigned char *p = wire;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(list[i]);
        *p++ = (unsigned char)n;
        memcpy(p, list[i], n);
        p += n;
    }
    *out = wire;
    *out_len = total;
    return 0;
}

int tls_check_readable(const char *path, const char *what, flare_error *err)
{
    if (!path || !*path)
        return flare_error_set(err, FLARE_ECONFIG, 0, "tls: %s file not given", what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return flare_error_set(err, FLARE_ECONFIG, errno, "tls %s file %s", what, path);
    close(fd);
    return 0;
}

int tls_load_cert_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file, flare_error *err)
{
    char text[160];
    int rc = tls_check_readable(cert_file, "certificate", err);
    if (rc == 0) rc = tls_check_readable(key_file, "key", err);
    if (rc < 0) return rc;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        unsigned long e = ERR_peek_error();
        int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
        tls_error_text(text, sizeof text);
        if (reason == SSL_R_EE_KEY_TOO_SMALL || reason == SSL_R_CA_KEY_TOO_SMALL ||
            reason == SSL_R_CA_MD_TOO_WEAK)
            return flare_error_set(err, FLARE_ECONFIG, 0,
                                   "tls certificate file %s is too weak (%s): use a key of at "
                                   "least 2048 bits (RSA) or 224 bits (EC) signed with SHA-256 "
                                   "or better",
                                   cert_file, text);
        return flare_error_set(err, FLARE_ECONFIG, 0,
                               "tls certificate file %s: not a PEM certificate chain (%s)",
                               cert_file, text);
    }
    FILE *f = fopen(key_file, "re");
    if (!f) return flare_error_set(err, FLARE_ECONFIG, errno, "tls key file %s", key_file);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_password, NULL);
    fclose(f);
    if (!key) {
        tls_error_text(text, sizeof text);
        return flare_error_set(err, FLARE_ECONFIG, 0,
                               "tls key file %s: not an unencrypted PEM private key (%s)", key_file,
                               text);
    }
    /*
     * Compared with the leaf first: SSL_CTX_use_PrivateKey files a key of another
     * type (EC for an RSA certificate) beside it without a word, and the later
     * check then only says "no certificate assigned", not "different key types".
     */
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    rc = leaf && X509_check_private_key(leaf, key) == 1 ? SSL_CTX_use_PrivateKey(ctx, key) : 0;
    EVP_PKEY_free(key);
    if (rc != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        tls_error_text(text, sizeof text);
        return flare_error_set(err, FLARE_ECONFIG, 0,
                               "tls key file %s does not match certificate %s (%s)", key_file,
                               cert_file, text);
    }
    return 0;
}

int flare_tls_check_cert_pair(const char *cert_file, const char *key_file, flare_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: cannot create an SSL_CTX");
    /* The policy too: a key too weak for it must fail here, not in every worker. */
    int rc = tls_apply_policy(ctx, FLARE_TLS_1_2, true, err);
    if (rc == 0) rc = tls_load_cert_pair(ctx, cert_file, key_file, err);
    SSL_CTX_free(ctx);
    return rc;
}

/* The oldest queued OpenSSL error as "library: reason"; the queue is left empty. */
void tls_error_text(char *out, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(out, cap, "no detail from OpenSSL");
    } else {
        const char *lib = ERR_lib_error_string(e);
        const char *reason = ERR_reason_error_string(e);
        if (reason)
            snprintf(out, cap, "%s: %s", lib ? lib : "OpenSSL", reason);
        else
            snprintf(out, cap, "%s: error %lx", lib ? lib : "OpenSSL", e);
    }
    ERR_clear_error();
}

void tls_log(flare_tls_log_fn log, void *log_ctx, const char *fmt, ...)
{
    if (!log) return;
    char line[FLARE_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(log_ctx, line);
}
