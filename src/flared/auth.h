/*
 * auth.h: HTTP Basic authentication of routes (RFC 7617) at admission, before a body is
 * read. Checking a bcrypt or yescrypt hash costs tens of milliseconds of a worker's one
 * thread, so each worker remembers the credentials it verified lately (a keyed hash of
 * them, never the password) for a minute: a logged-in client costs one SipHash a request.
 */
#ifndef FLARED_AUTH_H
#define FLARED_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "flare/http.h"

#include "config.h"

/** Entries in a worker's cache of verified credentials, and how long one is believed. */
#define FLARED_AUTH_CACHE_SLOTS 64
#define FLARED_AUTH_CACHE_US    (60u * 1000 * 1000)
/** Bytes of a cache key: SipHash-2-4 with its 128-bit output. */
#define FLARED_AUTH_MAC_BYTES 16

/** One remembered success. */
typedef struct flared_auth_cache_slot {
    unsigned char mac[FLARED_AUTH_MAC_BYTES]; /**< SipHash(key, generation || user:password) */
    const flared_htpasswd_user *user;         /**< NULL: empty */
    uint64_t expires_us;
} flared_auth_cache_slot;

/** A worker's cache: fixed size, filled only with successes, keyed with a random key. */
typedef struct flared_auth_cache {
    struct evp_mac_ctx_st *mac; /**< keyed once; NULL: not set up (no caching) */
    flared_auth_cache_slot slots[FLARED_AUTH_CACHE_SLOTS];
} flared_auth_cache;

/** Draws a random key and prepares the MAC; 0 or an error (then the cache stays unused). */
int flared_auth_cache_init(flared_auth_cache *c, flare_error *err);
/** Frees what init allocated and forgets every entry. */
void flared_auth_cache_free(flared_auth_cache *c);
/**
 * Computes the key of `creds` (the decoded "user:password") under `generation` into mac
 * and returns the user it verified unless that was more than FLARED_AUTH_CACHE_US ago;
 * NULL on a miss. false in *keyed when no key could be computed (mac is then unset).
 */
const flared_htpasswd_user *flared_auth_cache_find(flared_auth_cache *c, uint64_t generation,
                                                   const char *creds, size_t len, uint64_t now_us,
                                                   unsigned char mac[FLARED_AUTH_MAC_BYTES],
                                                   bool *keyed);
/** Remembers a verified user under mac (from flared_auth_cache_find) until now + 60 s. */
void flared_auth_cache_add(flared_auth_cache *c, const unsigned char mac[FLARED_AUTH_MAC_BYTES],
                           const flared_htpasswd_user *user, uint64_t now_us);

/**
 * The user whose hash an unknown name[0..len) is checked against: one of a's users,
 * picked by the name under a's decoy_seed, so unknown names cost what the file's
 * users cost, in the same mix, and one name always the same.
 */
const flared_htpasswd_user *flared_auth_decoy(const flared_auth *a, const char *name, size_t len);

/**
 * Checks req's `Authorization: Basic` against a's users (the worker's cache first).
 * Returns 0 with out->user set to the verified user, or 401 with out->fields =
 * challenge (the route's WWW-Authenticate) when credentials are missing, malformed
 * or wrong.
 */
int flared_auth_admit(const flared_auth *a, const flare_header_block *challenge,
                      const flare_request *req, uint64_t now_us, flare_http_admission *out);

#endif
