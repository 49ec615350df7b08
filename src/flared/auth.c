/*
 * auth.c: Basic authentication at admission (RFC 7617) and the worker's cache of verified
 * credentials. The cache is four-way set-associative over FLARED_AUTH_CACHE_SLOTS entries,
 * holds successes only, and keys them by SipHash-2-4 (128-bit output) under a key drawn
 * per worker, so neither its contents nor its timing tell anything about passwords.
 * SipHash rather than HMAC: OpenSSL 3 computes it without allocating (its HMAC copies
 * digest contexts, two mallocs a request). Wrong guesses are never cached: each costs
 * one full hash check, which a route's rate_limit bounds.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "flare/http_parser.h"

#define WAYS 4
#define SETS (FLARED_AUTH_CACHE_SLOTS / WAYS)

int flared_auth_cache_init(flared_auth_cache *c, flare_error *err)
{
    memset(c, 0, sizeof *c);
    unsigned char key[16];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
        return flare_error_set(err, FLARE_ESYS, 0, "auth cache: no random key");
    EVP_MAC *siphash = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    EVP_MAC_CTX *ctx = siphash ? EVP_MAC_CTX_new(siphash) : NULL;
    EVP_MAC_free(siphash); /* the context holds its own reference */
    size_t size = FLARED_AUTH_MAC_BYTES;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_construct_end()};
    if (!ctx || !EVP_MAC_init(ctx, key, sizeof key, params)) {
        EVP_MAC_CTX_free(ctx);
        OPENSSL_cleanse(key, sizeof key);
        return flare_error_set(err, FLARE_EINVAL, 0, "auth cache: OpenSSL has no SipHash");
    }
    OPENSSL_cleanse(key, sizeof key);
    c->mac = ctx;
    return 0;
}

void flared_auth_cache_free(flared_auth_cache *c)
{
    EVP_MAC_CTX_free(c->mac);
    memset(c, 0, sizeof *c);
}

const flared_htpasswd_user *flared_auth_cache_find(flared_auth_cache *c, uint64_t generation,
                                                   const char *creds, size_t len, uint64_t now_us,
                                                   unsigned char mac[FLARED_AUTH_MAC_BYTES],
                                                   bool *keyed)
{
    size_t mac_len = 0;
    unsigned char gen[8];
    for (int i = 0; i < 8; i++)
        gen[i] = (unsigned char)(generation >> (8 * i));
    /* init with no key restarts the keyed context: no allocation per request. */
    *keyed = c->mac && EVP_MAC_init(c->mac, NULL, 0, NULL) &&
             EVP_MAC_update(c->mac, gen, sizeof gen) &&
             EVP_MAC_update(c->mac, (const unsigned char *)creds, len) &&
             EVP_MAC_final(c->mac, mac, &mac_len, FLARED_AUTH_MAC_BYTES) &&
             mac_len == FLARED_AUTH_MAC_BYTES;
    if (!*keyed) return NULL;
    flared_auth_cache_slot *set = &c->slots[(mac[0] % SETS) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (set[i].user && set[i].expires_us > now_us &&
            CRYPTO_memcmp(set[i].mac, mac, FLARED_AUTH_MAC_BYTES) == 0)
            return set[i].user;
    return NULL;
}

void flared_auth_cache_add(flared_auth_cache *c, const unsigned char mac[FLARED_AUTH_MAC_BYTES],
                           const flared_htpasswd_user *user, uint64_t now_us)
{
    /* The way that expires first goes: an empty or stale one before any live one. */
    flared_auth_cache_slot *set = &c->slots[(mac[0] % SETS) * WAYS], *victim = &set[0];
    for (int i = 1; i < WAYS; i++)
        if (set[i].expires_us < victim->expires_us) victim = &set[i];
    memcpy(victim->mac, mac, FLARED_AUTH_MAC_BYTES);
    victim->user = user;
    victim->expires_us = now_us + FLARED_AUTH_CACHE_US;
}

/* ------------------------------------------------------------- admission */

const flared_htpasswd_user *flared_auth_decoy(const flared_auth *a, const char *name, size_t len)
{
    /* FNV-1a over the seed and the name: no secret rests on it, only a spread. An
     * unknown name then costs the check of a user drawn from the file, as likely a
     * costly one as the file holds, the same for every request with that name. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ (unsigned char)(a->decoy_seed >> (8 * i))) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
    return &a->users[(h ^ (h >> 32)) % a->user_count];
}

/* The Authorization field's credentials, decoded into buf: "user:password". RFC 9110
 * §11.4: credentials = auth-scheme [ 1*SP token68 ], the scheme case-insensitive;
 * RFC 7617 §2: the token68 is base64 of user-id ":" password, neither holding a
 * control character. One field only: two would leave the user in doubt. */
static long credentials(const flare_http_request *head, unsigned char *buf, size_t cap)
{
    int first = head->known_index[FLARE_HDR_AUTHORIZATION];
    if (first < 0) return -1;
    for (size_t i = (size_t)first + 1; i < head->num_headers; i++)
        if (head->headers[i].id == FLARE_HDR_AUTHORIZATION) return -1;
    const flare_http_header *h = &head->headers[first];
    const char *v = h->value;
    size_t len = h->value_len;
    if (len < 6 || strncasecmp(v, "Basic", 5) != 0 || v[5] != ' ') return -1;
    size_t at = 5;
    while (at < len && v[at] == ' ')
        at++;
    long n = flared_base64_decode(v + at, len - at, buf, cap);
    if (n <= 0) return -1;
    for (long i = 0; i < n; i++)
        if (buf[i] < 0x20 || buf[i] == 0x7f) return -1;
    return n;
}

int flared_auth_admit(const flared_auth *a, const flare_header_block *challenge,
                      const flare_request *req, uint64_t now_us, flare_http_admission *out)
{
    static flared_auth_cache cache;
    static bool tried;
    if (!tried) {
        tried = true;
        (void)flared_auth_cache_init(&cache, NULL); /* unset: every request pays the check */
    }
    out->fields = challenge;
    unsigned char creds[FLARED_HTPASSWD_CREDS_MAX]; /* longer ones do not decode */
    long n = credentials(req->head, creds, sizeof creds);
    const char *colon = n > 0 ? memchr(creds, ':', (size_t)n) : NULL;
    if (!colon) {
        if (n > 0) OPENSSL_cleanse(creds, (size_t)n);
        return 401;
    }
    unsigned char mac[FLARED_AUTH_MAC_BYTES];
    bool keyed;
    const flared_htpasswd_user *u = flared_auth_cache_find(&cache, a->generation, (char *)creds,
                                                           (size_t)n, now_us, mac, &keyed);
    if (!u) {
        size_t name_len = (size_t)(colon - (char *)creds);
        const char *password = colon + 1;
        size_t password_len = (size_t)n - name_len - 1;
        u = flared_htpasswd_find(a->users, a->user_count, (char *)creds, name_len);
        /* An unknown user costs a check too, that of a user the name picks from the file:
         * with users of several schemes or costs, a fixed stand-in would answer every
         * unknown name in one time and give away the users whose hash costs another. */
        const flared_htpasswd_user *checked = u ? u : flared_auth_decoy(a, (char *)creds, name_len);
        bool ok = flared_htpasswd_check(checked, password, password_len) && u;
        if (!ok) {
            OPENSSL_cleanse(creds, (size_t)n);
            return 401;
        }
        if (keyed) flared_auth_cache_add(&cache, mac, u, now_us);
    }
    OPENSSL_cleanse(creds, (size_t)n); /* the password does not outlive the request */
    out->fields = NULL;
    out->user = u->name;
    out->user_len = u->name_len;
    return 0;
}
