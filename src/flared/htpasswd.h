/*
 * htpasswd.h: the user files of HTTP Basic authentication (RFC 7617), in the
 * htpasswd format nginx's auth_basic_user_file reads: "user:hash" per line, '#'
 * comments and blank lines. Only hashes worth the name are taken: bcrypt, SHA-crypt,
 * yescrypt (through crypt(3)) and, for old files, {SHA} (one unsalted SHA-1: weak).
 * Parsing is pure (the caller owns every byte), so the config and the tests share it.
 */
#ifndef FLARED_HTPASSWD_H
#define FLARED_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** How a user's hash is checked. */
typedef enum flared_hash_scheme {
    FLARED_HASH_CRYPT = 0, /**< crypt(3): $2y$/$2b$ bcrypt, $5$/$6$ SHA-crypt, $y$ yescrypt */
    FLARED_HASH_SHA1 = 1,  /**< {SHA}: base64 of the password's SHA-1, unsalted */
} flared_hash_scheme;

/** One line of a user file. */
typedef struct flared_htpasswd_user {
    const char *name; /**< NUL-terminated, no ':' */
    size_t name_len;
    const char *hash; /**< NUL-terminated, as written after the ':' */
    size_t hash_len;
    flared_hash_scheme scheme;
    unsigned line; /**< 1-based line in the file */
} flared_htpasswd_user;

/** Longest line of a user file, and longest user name plus password a client may send. */
#define FLARED_HTPASSWD_LINE_MAX  1024
#define FLARED_HTPASSWD_CREDS_MAX 1024
/** The shortest user line taken, newline included: "u:{SHA}" and 28 base64 digits. */
#define FLARED_HTPASSWD_LINE_MIN 36
/** Room for flared_htpasswd_parse's reason. */
#define FLARED_HTPASSWD_WHY_MAX 256

/** The most users a file of len bytes can hold (by its lines and its size): the cap
 *  flared_htpasswd_parse needs. */
size_t flared_htpasswd_max_users(const char *text, size_t len);

/**
 * Parses a user file's len bytes of text, which it changes (names and hashes end in a
 * NUL in place, so they point into text), into users (room for cap), sorted by name.
 * Returns the user count, or -1 with *bad_line (0: the file as a whole) and a reason
 * in why. An empty file, a plain-text password, $apr1$ and DES crypt are refused.
 */
long flared_htpasswd_parse(char *text, size_t len, flared_htpasswd_user *users, size_t cap,
                           unsigned *bad_line, char why[FLARED_HTPASSWD_WHY_MAX]);

/**
 * Decodes base64 strictly (RFC 4648 §4, canonical as §3.5 asks: padded, no whitespace,
 * no stray bits) into out (room for cap). Returns the decoded length, or -1.
 */
long flared_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/** The user of that name in a parsed table, or NULL. */
const flared_htpasswd_user *flared_htpasswd_find(const flared_htpasswd_user *users, size_t count,
                                                 const char *name, size_t name_len);

/**
 * Whether password (len bytes, no NUL inside) matches u's hash, compared in constant
 * time. Uses one static crypt(3) work area: call it from one thread only (a worker).
 */
bool flared_htpasswd_check(const flared_htpasswd_user *u, const char *password, size_t len);

#endif
