/*
 * fuzz_htpasswd.c: the user files of Basic authentication (flared_htpasswd_parse)
 * and the strict base64 of the Authorization field (flared_base64_decode). Checks: a
 * parsed file's users fit the room flared_htpasswd_max_users gives, have non-empty names without
 * ':' or control bytes, are sorted and unique, and each is found by name; a decoded base64 string
 * is the canonical encoding of what it decoded to (re-encoding gives the input back), and the
 * encoding of any bytes decodes to those bytes.
 */
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "htpasswd.h"

#define INPUT_MAX 4096

static void check_base64(const uint8_t *data, size_t size)
{
    unsigned char out[INPUT_MAX], again[INPUT_MAX * 2];
    long n = flared_base64_decode((const char *)data, size, out, sizeof out);
    if (n >= 0) {
        int len = EVP_EncodeBlock(again, out, (int)n);
        FUZZ_CHECK((size_t)len == size && memcmp(again, data, size) == 0);
    }
    int len = EVP_EncodeBlock(again, data, (int)size);
    n = flared_base64_decode((const char *)again, (size_t)len, out, sizeof out);
    FUZZ_CHECK(n == (long)size && memcmp(out, data, size) == 0);
}

static void check_parse(const uint8_t *data, size_t size)
{
    static char text[INPUT_MAX];
    static flared_htpasswd_user users[INPUT_MAX + 1];
    memcpy(text, data, size);
    size_t cap = flared_htpasswd_max_users(text, size);
    unsigned bad_line;
    char why[FLARED_HTPASSWD_WHY_MAX];
    long n = flared_htpasswd_parse(text, size, users, cap, &bad_line, why);
    if (n < 0) {
        FUZZ_CHECK(why[0] != '\0');
        FUZZ_CHECK(strcmp(why, "too many users") != 0); /* max_users was room enough */
        return;
    }
    FUZZ_CHECK(n > 0 && (size_t)n <= cap);
    for (long i = 0; i < n; i++) {
        const flared_htpasswd_user *u = &users[i];
        FUZZ_CHECK(u->name_len > 0 && strlen(u->name) == u->name_len);
        FUZZ_CHECK(strlen(u->hash) == u->hash_len && u->hash_len > 0);
        for (size_t k = 0; k < u->name_len; k++)
            FUZZ_CHECK(u->name[k] != ':' && (unsigned char)u->name[k] >= 0x20);
        if (i > 0) {
            const flared_htpasswd_user *p = &users[i - 1];
            size_t m = p->name_len < u->name_len ? p->name_len : u->name_len;
            int c = memcmp(p->name, u->name, m);
            FUZZ_CHECK(c < 0 || (c == 0 && p->name_len < u->name_len));
        }
        FUZZ_CHECK(flared_htpasswd_find(users, (size_t)n, u->name, u->name_len) == u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX) return 0;
    check_base64(data, size);
    check_parse(data, size);
    return 0;
}
