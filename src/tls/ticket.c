/*
 * ticket.c: session ticket keys of a server context. Tickets are sealed with the
 * current key; the previous key still opens tickets (which are then reissued under
 * the current one), so clients survive one rotation. The keys are plain bytes, so a
 * master can hand the same material to every worker and all of them resume each
 * other's sessions. Invariant: retired key material is wiped, never left in memory.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <string.h>

#include "flare/tls.h"
#include "tls_internal.h"

/* RFC 5077 §4 layout, in nginx's 80-byte key file order: name, HMAC key, AES key. */
static void key_from_bytes(struct tls_ticket_key *k, const uint8_t *bytes)
{
    memcpy(k->name, bytes, sizeof k->name);
    memcpy(k->hmac_key, bytes + 16, sizeof k->hmac_key);
    memcpy(k->aes_key, bytes + 48, sizeof k->aes_key);
}

static int set_mac_key(EVP_MAC_CTX *hctx, const struct tls_ticket_key *key)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac_key,
                                          sizeof key->hmac_key),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/*
 * OpenSSL's ticket callback: 1 = key set (new ticket or current key), 2 = opened
 * with the previous key (ask for a renewed ticket), 0 = unknown key (full
 * handshake), -1 = internal error.
 */
static int on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    const flare_tls_server_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (!ctx || !ctx->tickets) return enc ? -1 : 0;
    const struct tls_ticket_key *key = &ctx->ticket_current;
    int result = 1;
    if (enc) {
        if (RAND_bytes(iv, 16) != 1) return -1;
        memcpy(key_name, key->name, sizeof key->name);
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes_key, iv) != 1) return -1;
    } else {
        if (memcmp(key_name, key->name, sizeof key->name) != 0) {
            key = &ctx->ticket_previous;
            if (!ctx->has_previous || memcmp(key_name, key->name, sizeof key->name) != 0) return 0;
            result = 2;
        }
        if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes_key, iv) != 1) return -1;
    }
    return set_mac_key(hctx, key) == 0 ? result : -1;
}

int tls_ticket_install(SSL_CTX *ssl_ctx, flare_error *err)
{
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ssl_ctx, on_ticket_key) != 1)
        return flare_error_set(err, FLARE_ETLS, 0, "tls: cannot install the ticket key callback");
    return 0;
}

int tls_ticket_random(struct tls_ticket_key *key, flare_error *err)
{
    uint8_t bytes[FLARE_TLS_TICKET_KEY_LEN];
    int rc = flare_tls_ticket_key_generate(bytes, err);
    if (rc == 0) key_from_bytes(key, bytes);
    OPENSSL_cleanse(bytes, sizeof bytes);
    return rc;
}

int flare_tls_ticket_key_generate(uint8_t key[FLARE_TLS_TICKET_KEY_LEN], flare_error *err)
{
    if (!key) return flare_error_set(err, FLARE_EINVAL, 0, "tls ticket key: buffer is NULL");
    if (RAND_bytes(key, FLARE_TLS_TICKET_KEY_LEN) != 1)
        return flare_error_set(err, FLARE_ETLS, 0, "tls ticket key: RAND_bytes failed");
    return 0;
}

static int check_tickets(const flare_tls_server_ctx *ctx, const uint8_t *key, flare_error *err)
{
    if (!ctx || !key)
        return flare_error_set(err, FLARE_EINVAL, 0, "tls ticket keys: %s is NULL",
                               ctx ? "key" : "server context");
    if (!ctx->tickets)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls ticket keys: session tickets are off in this context");
    return 0;
}

int flare_tls_server_ctx_set_ticket_keys(flare_tls_server_ctx *ctx, const uint8_t *current,
                                         const uint8_t *previous, flare_error *err)
{
    int rc = check_tickets(ctx, current, err);
    if (rc < 0) return rc;
    /* The name picks the key that opens a ticket, so two live keys must differ in it. */
    if (previous && memcmp(current, previous, 16) == 0)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "tls ticket keys: current and previous share a key name");
    key_from_bytes(&ctx->ticket_current, current);
    OPENSSL_cleanse(&ctx->ticket_previous, sizeof ctx->ticket_previous);
    ctx->has_previous = previous != NULL;
    if (previous) key_from_bytes(&ctx->ticket_previous, previous);
    return 0;
}

int flare_tls_server_ctx_rotate_ticket_key(flare_tls_server_ctx *ctx, const uint8_t *next,
                                           flare_error *err)
{
    int rc = check_tickets(ctx, next, err);
    if (rc < 0) return rc;
    /* Receiving the key already current again (a repeated broadcast) changes nothing. */
    if (memcmp(next, ctx->ticket_current.name, 16) != 0) {
        ctx->ticket_previous = ctx->ticket_current;
        ctx->has_previous = true;
    }
    key_from_bytes(&ctx->ticket_current, next);
    return 0;
}
