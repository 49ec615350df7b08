/*
 * test_htpasswd.c: user files for Basic authentication (src/flared/htpasswd.c): the
 * line format (comments, blanks, CRLF, comment fields), the schemes taken and refused
 * with the line that is blamed, strict base64, lookups, and password checks for each
 * scheme, hashes made here with libxcrypt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include "htpasswd.h"

#define SHA_PASSWORD "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" /* "password" */

static long parse(const char *text, flared_htpasswd_user *users, size_t cap, unsigned *line,
                  char *why)
{
    static char buf[8192];
    size_t len = strlen(text);
    memcpy(buf, text, len);
    return flared_htpasswd_parse(buf, len, users, cap, line, why);
}

static void expect_refused(const char *text, unsigned want_line, const char *want_why)
{
    flared_htpasswd_user users[8];
    unsigned line = 99;
    char why[FLARED_HTPASSWD_WHY_MAX];
    assert_int_equal(parse(text, users, 8, &line, why), -1);
    if (line != want_line || !strstr(why, want_why))
        fail_msg("%s: got line %u, %s", text, line, why);
}

/* A crypt(3) hash of password with the given prefix ("$2b$", "$6$", "$y$"...). */
static const char *make_hash(const char *prefix, unsigned long cost, const char *password)
{
    static char out[CRYPT_OUTPUT_SIZE];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(crypt_gensalt_rn(prefix, cost, NULL, 0, setting, sizeof setting));
    struct crypt_data data;
    memset(&data, 0, sizeof data);
    const char *h = crypt_rn(password, setting, &data, sizeof data);
    assert_non_null(h);
    snprintf(out, sizeof out, "%s", h);
    return out;
}

static void test_format(void **state)
{
    (void)state;
    flared_htpasswd_user users[8];
    unsigned line;
    char why[FLARED_HTPASSWD_WHY_MAX];
    const char *text = "# users\r\n"
                       "\n"
                       "  zoe:" SHA_PASSWORD "\r\n"
                       "amy:" SHA_PASSWORD ":a comment\n"
                       "\t# indented comment\n"
                       "bob:" SHA_PASSWORD; /* no final newline */
    /* 6 lines, but 156 bytes hold at most 156 / 35 + 1 users of the shortest line. */
    assert_int_equal(flared_htpasswd_max_users(text, strlen(text)), 5);
    static char newlines[3500]; /* and 3500 newlines no more than 3500 bytes can */
    memset(newlines, '\n', sizeof newlines);
    assert_int_equal(flared_htpasswd_max_users(newlines, sizeof newlines), 101);
    /* The tightest file fits: users of the shortest line, the last without newline. */
    char tight[] = "a:" SHA_PASSWORD "\nb:" SHA_PASSWORD "\nc:" SHA_PASSWORD;
    size_t cap = flared_htpasswd_max_users(tight, strlen(tight));
    assert_true(cap >= 3);
    assert_int_equal(flared_htpasswd_parse(tight, strlen(tight), users, cap, &line, why), 3);
    assert_int_equal(parse(text, users, 6, &line, why), 3);
    /* sorted by name; each remembers its line */
    assert_string_equal(users[0].name, "amy");
    assert_int_equal(users[0].line, 4);
    assert_string_equal(users[0].hash, SHA_PASSWORD); /* the comment field is not the hash */
    assert_string_equal(users[1].name, "bob");
    assert_int_equal(users[1].line, 6);
    assert_string_equal(users[2].name, "zoe");
    assert_int_equal(users[2].name_len, 3);
    assert_int_equal(users[2].line, 3);
    assert_int_equal(users[2].scheme, FLARED_HASH_SHA1);
    assert_ptr_equal(flared_htpasswd_find(users, 3, "bob", 3), &users[1]);
    assert_null(flared_htpasswd_find(users, 3, "bo", 2));
    assert_null(flared_htpasswd_find(users, 3, "bobb", 4));
    assert_null(flared_htpasswd_find(users, 3, "Bob", 3));
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("", 0, "names no user");
    expect_refused("# nothing\n\n", 0, "names no user");
    expect_refused("a:" SHA_PASSWORD "\nb:plain\n", 2, "plain text");
    expect_refused("a:$apr1$abcdefgh$0123456789abcdefghijkl\n", 1, "htpasswd -B");
    expect_refused("a:abJnggxhB/yWI\n", 1, "DES crypt");
    expect_refused("a:$1$abc$0123456789012345678901\n", 1, "scheme is not supported");
    expect_refused("a:$6$salt$short\n", 1, "cut short");
    expect_refused("a:$2y$05$short\n", 1, "cut short");
    expect_refused("a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g\n", 1, "not the base64"); /* unpadded */
    expect_refused("a:{SHA}cGFzc3dvcmQ=\n", 1, "20-byte");
    expect_refused("\n\nnocolon\n", 3, "no ':'");
    expect_refused(":" SHA_PASSWORD "\n", 1, "user name is empty");
    expect_refused("a:\n", 1, "hash is empty");
    expect_refused("a\x01:" SHA_PASSWORD "\n", 1, "control characters");
    expect_refused("a:" SHA_PASSWORD "\nb:" SHA_PASSWORD "\na:" SHA_PASSWORD "\n", 3,
                   "user 'a' is listed twice; first on line 1");
    /* Every crypt scheme taken passes the loader, bcrypt in both spellings. */
    static const char *const prefixes[] = {"$2y$", "$2b$", "$5$", "$6$", "$y$"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "u:%s\n",
                 make_hash(prefixes[i], 4 * (prefixes[i][1] == '2'), "pw"));
        flared_htpasswd_user users[2];
        unsigned line;
        char why[FLARED_HTPASSWD_WHY_MAX];
        if (parse(text, users, 2, &line, why) != 1) fail_msg("%s: %s", text, why);
        assert_int_equal(users[0].scheme, FLARED_HASH_CRYPT);
    }
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal(flared_base64_decode("YTpi", 4, out, sizeof out), 3);
    assert_memory_equal(out, "a:b", 3);
    assert_int_equal(flared_base64_decode("YQ==", 4, out, sizeof out), 1);
    assert_int_equal(flared_base64_decode("YWI=", 4, out, sizeof out), 2);
    assert_int_equal(flared_base64_decode("", 0, out, sizeof out), 0);
    assert_int_equal(flared_base64_decode("YQ", 2, out, sizeof out), -1);   /* unpadded */
    assert_int_equal(flared_base64_decode("YR==", 4, out, sizeof out), -1); /* stray bits */
    assert_int_equal(flared_base64_decode("YWJ=", 4, out, sizeof out), -1); /* stray bits */
    assert_int_equal(flared_base64_decode("Y===", 4, out, sizeof out), -1); /* three pads */
    assert_int_equal(flared_base64_decode("Y=Q=", 4, out, sizeof out), -1); /* pad inside */
    assert_int_equal(flared_base64_decode("YQ==YQ==", 8, out, sizeof out), -1);
    assert_int_equal(flared_base64_decode("YT b", 4, out, sizeof out), -1); /* space */
    assert_int_equal(flared_base64_decode("YT-b", 4, out, sizeof out), -1); /* base64url */
    assert_int_equal(flared_base64_decode("YWJjZGVmZ2hpamtsbW5vcHFy", 24, out, 16), -1); /* cap */
    /* Room for the data is enough, without the padding's place: 16 bytes in 16. */
    assert_int_equal(flared_base64_decode("YWJjZGVmZ2hpamtsbW5vcA==", 24, out, 16), 16);
    assert_memory_equal(out, "abcdefghijklmnop", 16);
    assert_int_equal(flared_base64_decode("YWJjZGVmZ2hpamtsbW5vcA==", 24, out, 15), -1);
    assert_int_equal(flared_base64_decode("YWJj", 4, out, 3), 3);
}

static flared_htpasswd_user user_of(const char *hash, flared_hash_scheme scheme)
{
    return (flared_htpasswd_user){
        .name = "u", .name_len = 1, .hash = hash, .hash_len = strlen(hash), .scheme = scheme};
}

static void test_check(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"$2y$", "$2b$", "$5$", "$6$", "$y$"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char hash[CRYPT_OUTPUT_SIZE];
        snprintf(hash, sizeof hash, "%s",
                 make_hash(prefixes[i], 4 * (prefixes[i][1] == '2'), "s3cret:x"));
        flared_htpasswd_user u = user_of(hash, FLARED_HASH_CRYPT);
        assert_true(flared_htpasswd_check(&u, "s3cret:x", 8));
        assert_false(flared_htpasswd_check(&u, "s3cret:X", 8));
        assert_false(flared_htpasswd_check(&u, "s3cret:", 7));
        assert_false(flared_htpasswd_check(&u, "", 0));
        assert_false(flared_htpasswd_check(&u, "s3cret:x\0", 9)); /* a NUL is never taken */
    }
    flared_htpasswd_user sha = user_of(SHA_PASSWORD, FLARED_HASH_SHA1);
    assert_true(flared_htpasswd_check(&sha, "password", 8));
    assert_false(flared_htpasswd_check(&sha, "passwore", 8));
    assert_false(flared_htpasswd_check(&sha, "password", 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
