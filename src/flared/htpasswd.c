/*
 * htpasswd.c: user files for Basic authentication. A file is read whole at config load;
 * every line is checked then, so a hash flared cannot verify is a load error rather than
 * a user who can never log in. Hashes go through the system's crypt(3) (libxcrypt),
 * except {SHA}, which is OpenSSL's SHA-1; results are compared with CRYPTO_memcmp.
 */
#include "htpasswd.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

size_t flared_htpasswd_max_users(const char *text, size_t len)
{
    /* The shortest line taken is "u:{SHA}" and 28 digits, 36 bytes with its newline: a
     * file of newlines alone does not make the caller allocate a user for each. */
    size_t lines = 1;
    for (const char *p = text, *end = text + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lines++;
    size_t most = len / (FLARED_HTPASSWD_LINE_MIN - 1) + 1;
    return lines < most ? lines : most;
}

/* A base64 digit's value (RFC 4648 §4, table 1), or -1. */
static int b64_value(unsigned char ch)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = ch ? strchr(digits, ch) : NULL;
    return at ? (int)(at - digits) : -1;
}

long flared_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    /* RFC 4648 §4 with its §3.5 canonical encoding: padded to a multiple of four, no
     * whitespace, '=' only at the end, and no set bits in the padding's place. */
    if (len % 4) return -1;
    size_t pad = len && in[len - 1] == '=' ? (len > 1 && in[len - 2] == '=' ? 2 : 1) : 0;
    if (len / 4 * 3 - pad > cap) return -1;
    for (size_t i = 0; i < len - pad; i++)
        if (b64_value((unsigned char)in[i]) < 0) return -1;
    if (pad) {
        int last = b64_value((unsigned char)in[len - pad - 1]);
        if (last & (pad == 2 ? 0x0f : 0x03)) return -1;
    }
    /* EVP_DecodeBlock writes three bytes for every four digits, padding included: the
     * last, padded quad goes through a buffer so out needs room for the data alone. */
    size_t whole = pad ? len - 4 : len;
    int n = whole ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)whole) : 0;
    if (n < 0) return -1;
    if (pad) {
        unsigned char last[3];
        if (EVP_DecodeBlock(last, (const unsigned char *)in + whole, 4) != 3) return -1;
        memcpy(out + n, last, 3 - pad);
        n += (int)(3 - pad);
    }
    return n;
}

/* The length of the encoded digest after a crypt hash's last '$', by scheme. */
static bool crypt_digest_ok(const char *hash, size_t len, size_t want)
{
    const char *d = strrchr(hash, '$') + 1;
    size_t dlen = len - (size_t)(d - hash);
    if (dlen != want) return false;
    for (size_t i = 0; i < dlen; i++) /* crypt's alphabet: [./0-9A-Za-z] */
        if (d[i] == '+' || (d[i] != '.' && b64_value((unsigned char)d[i]) < 0)) return false;
    return true;
}

/* Which scheme a hash is in, or a reason it is refused. */
static const char *classify(const char *hash, size_t len, flared_hash_scheme *scheme)
{
    static const struct {
        const char *prefix;
        size_t digest; /* characters after the last '$' */
    } crypts[] = {{"$2y$", 53}, {"$2b$", 53}, {"$5$", 43}, {"$6$", 86}, {"$y$", 43}};
    if (strncmp(hash, "{SHA}", 5) == 0) {
        unsigned char digest[21];
        if (flared_base64_decode(hash + 5, len - 5, digest, sizeof digest) != 20)
            return "its {SHA} hash is not the base64 of a 20-byte SHA-1 digest";
        *scheme = FLARED_HASH_SHA1;
        return NULL;
    }
    if (strncmp(hash, "$apr1$", 6) == 0)
        return "$apr1$ (Apache MD5) hashes are not supported; regenerate the password with "
               "bcrypt, say `htpasswd -B FILE USER` or `mkpasswd -m bcrypt`";
    for (size_t i = 0; i < sizeof crypts / sizeof crypts[0]; i++) {
        if (strncmp(hash, crypts[i].prefix, strlen(crypts[i].prefix)) != 0) continue;
        /* bcrypt's salt and digest run together: "$2y$12$" then 53 characters. */
        if (crypts[i].digest == 53 ? len != 60 || hash[6] != '$'
                                   : !crypt_digest_ok(hash, len, crypts[i].digest))
            return "its hash is cut short or malformed";
        /* libxcrypt calls SHA-256-crypt "legacy" (not weak: only out of its strong set). */
        int check = crypt_checksalt(hash);
        if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY)
            return "its hash has settings the system's crypt(3) does not take";
        *scheme = FLARED_HASH_CRYPT;
        return NULL;
    }
    if (hash[0] == '$')
        return "its hash scheme is not supported (use bcrypt $2y$, SHA-crypt $5$/$6$ or "
               "yescrypt $y$)";
    if (len == 13)
        return "it looks like a DES crypt hash (or a plain-text password): neither is "
               "accepted; regenerate the password with `htpasswd -B FILE USER`";
    return "its password is plain text or in an unknown format; store a hash, say from "
           "`htpasswd -B FILE USER`";
}

static int by_name(const void *a, const void *b)
{
    const flared_htpasswd_user *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static long fail(unsigned *bad_line, unsigned line, char *why, const char *reason)
{
    *bad_line = line;
    snprintf(why, FLARED_HTPASSWD_WHY_MAX, "%s", reason);
    return -1;
}

long flared_htpasswd_parse(char *text, size_t len, flared_htpasswd_user *users, size_t cap,
                           unsigned *bad_line, char why[FLARED_HTPASSWD_WHY_MAX])
{
    size_t n = 0;
    unsigned line = 0;
    char *p = text, *end = text + len;
    if (memchr(text, '\0', len)) return fail(bad_line, 0, why, "it holds a NUL byte");
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *next = eol ? eol + 1 : end;
        if (!eol) eol = end;
        line++;
        if (eol > p && eol[-1] == '\r') eol--;
        /* Leading blanks are skipped, as nginx does; trailing ones would be part of a
         * hash, which no hash has. */
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if (p == eol || *p == '#') {
            p = next;
            continue;
        }
        if ((size_t)(eol - p) > FLARED_HTPASSWD_LINE_MAX)
            return fail(bad_line, line, why, "the line is longer than 1024 bytes");
        char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon) return fail(bad_line, line, why, "expected user:hash, there is no ':'");
        if (colon == p) return fail(bad_line, line, why, "the user name is empty");
        for (char *q = p; q < eol; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                return fail(bad_line, line, why, "the line has control characters");
        char *hash = colon + 1;
        /* Apache's format allows a comment field after the hash: "user:hash:comment". */
        char *hash_end = memchr(hash, ':', (size_t)(eol - hash));
        if (!hash_end) hash_end = eol;
        if (hash_end == hash) return fail(bad_line, line, why, "the hash is empty");
        if (n == cap) return fail(bad_line, line, why, "too many users"); /* caller's bug */
        *colon = '\0';
        *hash_end = '\0';
        flared_htpasswd_user *u = &users[n];
        *u = (flared_htpasswd_user){.name = p,
                                    .name_len = (size_t)(colon - p),
                                    .hash = hash,
                                    .hash_len = (size_t)(hash_end - hash),
                                    .line = line};
        const char *refused = classify(u->hash, u->hash_len, &u->scheme);
        if (refused) return fail(bad_line, line, why, refused);
        n++;
        p = next;
    }
    if (n == 0) return fail(bad_line, 0, why, "it names no user");
    qsort(users, n, sizeof *users, by_name);
    for (size_t i = 1; i < n; i++)
        if (by_name(&users[i - 1], &users[i]) == 0) {
            const flared_htpasswd_user *a = &users[i - 1], *b = &users[i];
            *bad_line = a->line > b->line ? a->line : b->line;
            snprintf(why, FLARED_HTPASSWD_WHY_MAX, "user '%.64s' is listed twice; first on line %u",
                     a->name, a->line < b->line ? a->line : b->line);
            return -1;
        }
    return (long)n;
}

const flared_htpasswd_user *flared_htpasswd_find(const flared_htpasswd_user *users, size_t count,
                                                 const char *name, size_t name_len)
{
    flared_htpasswd_user key = {.name = name, .name_len = name_len};
    return bsearch(&key, users, count, sizeof *users, by_name);
}

bool flared_htpasswd_check(const flared_htpasswd_user *u, const char *password, size_t len)
{
    if (memchr(password, '\0', len) || len >= FLARED_HTPASSWD_CREDS_MAX) return false;
    if (u->scheme == FLARED_HASH_SHA1) {
        unsigned char digest[20];
        char encoded[29];
        if (!EVP_Digest(password, len, digest, NULL, EVP_sha1(), NULL)) return false;
        EVP_EncodeBlock((unsigned char *)encoded, digest, sizeof digest);
        return CRYPTO_memcmp(encoded, u->hash + 5, 28) == 0;
    }
    /* crypt(3) takes a C string, so the password is copied behind a NUL. The work area
     * is large (32 KiB): static, since a worker checks one password at a time. */
    static struct crypt_data work;
    char phrase[FLARED_HTPASSWD_CREDS_MAX];
    memcpy(phrase, password, len);
    phrase[len] = '\0';
    const char *out = crypt_rn(phrase, u->hash, &work, sizeof work);
    OPENSSL_cleanse(phrase, len);
    if (!out || strlen(out) != u->hash_len) return false;
    return CRYPTO_memcmp(out, u->hash, u->hash_len) == 0;
}
