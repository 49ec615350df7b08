/*
 * test_auth.c: Basic authentication at admission (src/flared/auth.c): the worker's
 * cache of verified credentials (keyed per cache, per generation, bounded in time and
 * size) and the Authorization field's checks, malformed variants included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "flare/http_parser.h"

#define SEC          1000000ull
#define SHA_PASSWORD "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" /* "password" */

static void test_cache(void **state)
{
    (void)state;
    static flared_auth_cache c, other;
    assert_int_equal(flared_auth_cache_init(&c, NULL), 0);
    assert_int_equal(flared_auth_cache_init(&other, NULL), 0);
    flared_htpasswd_user u = {.name = "amy", .name_len = 3};
    unsigned char mac[FLARED_AUTH_MAC_BYTES], mac2[FLARED_AUTH_MAC_BYTES];
    bool keyed;
    uint64_t now = 1000 * SEC;
    assert_null(flared_auth_cache_find(&c, 1, "amy:pw", 6, now, mac, &keyed));
    assert_true(keyed);
    flared_auth_cache_add(&c, mac, &u, now);
    assert_ptr_equal(flared_auth_cache_find(&c, 1, "amy:pw", 6, now + 59 * SEC, mac2, &keyed), &u);
    assert_memory_equal(mac, mac2, sizeof mac);
    /* Another password, another generation (a reloaded file): misses. */
    assert_null(flared_auth_cache_find(&c, 1, "amy:pW", 6, now, mac2, &keyed));
    assert_null(flared_auth_cache_find(&c, 2, "amy:pw", 6, now, mac2, &keyed));
    /* Believed for 60 s from the check, not from the last use. */
    assert_null(flared_auth_cache_find(&c, 1, "amy:pw", 6, now + 60 * SEC, mac2, &keyed));
    /* Each cache has its own key. */
    assert_null(flared_auth_cache_find(&other, 1, "amy:pw", 6, now, mac2, &keyed));
    assert_memory_not_equal(mac, mac2, sizeof mac);
    /* A full set gives up the entry that expires first. */
    flared_htpasswd_user v[5];
    for (int i = 0; i < 5; i++) {
        unsigned char m[FLARED_AUTH_MAC_BYTES] = {0};
        m[1] = (unsigned char)i;
        flared_auth_cache_add(&other, m, &v[i], now + (uint64_t)i * SEC);
    }
    int found[5] = {0};
    for (size_t i = 0; i < FLARED_AUTH_CACHE_SLOTS; i++)
        for (int j = 0; j < 5; j++)
            found[j] += other.slots[i].user == &v[j];
    assert_int_equal(found[0], 0);
    for (int j = 1; j < 5; j++)
        assert_int_equal(found[j], 1);
    flared_auth_cache_free(&c);
    flared_auth_cache_free(&other);
    /* Without a key nothing is computed or remembered. */
    assert_null(flared_auth_cache_find(&c, 1, "amy:pw", 6, now, mac2, &keyed));
    assert_false(keyed);
}

/* An unknown name is checked against a user it picks from the file: over many names
 * every user is picked (a file of mixed schemes or costs answers unknown names in the
 * same mix of times as its users), one name always picks the same user, and the pick
 * depends on the load's seed. */
static void test_decoy(void **state)
{
    (void)state;
    flared_htpasswd_user two[2] = {{.name = "cheap", .name_len = 5, .scheme = FLARED_HASH_SHA1},
                                   {.name = "dear", .name_len = 4, .scheme = FLARED_HASH_CRYPT}};
    flared_auth a = {.users = two, .user_count = 2, .decoy_seed = 1};
    flared_auth b = a;
    b.decoy_seed = 2;
    int picked[2] = {0}, moved = 0;
    for (int i = 0; i < 64; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "nobody%d", i);
        const flared_htpasswd_user *d = flared_auth_decoy(&a, name, (size_t)n);
        assert_true(d == &two[0] || d == &two[1]);
        assert_ptr_equal(flared_auth_decoy(&a, name, (size_t)n), d);
        picked[d - two]++;
        moved += flared_auth_decoy(&b, name, (size_t)n) != d;
    }
    assert_true(picked[0] > 0 && picked[1] > 0);
    assert_true(moved > 0);
}

/* --------------------------------------------------------------- admission */

static flared_htpasswd_user users[2];
static flared_auth auth;
static flare_header_block challenge;

static void setup_auth(void)
{
    static char text[] = "bob:" SHA_PASSWORD "\namy:" SHA_PASSWORD "\n";
    unsigned line;
    char why[FLARED_HTPASSWD_WHY_MAX];
    static bool done;
    if (done) return;
    done = true;
    assert_int_equal(flared_htpasswd_parse(text, strlen(text), users, 2, &line, why), 2);
    auth = (flared_auth){.users = users, .user_count = 2, .generation = 7, .decoy_seed = 42};
}

/* Admits a request whose Authorization fields are values[0..n). */
static int admit(const char *const *values, size_t n, flare_http_admission *out)
{
    static flare_http_header hdrs[4];
    static flare_http_request head;
    static flare_request req;
    memset(&head, 0, sizeof head);
    memset(head.known_index, 0xff, sizeof head.known_index); /* -1: absent */
    hdrs[0] = (flare_http_header){
        .name = "Host", .value = "t", .name_len = 4, .value_len = 1, .id = FLARE_HDR_HOST};
    for (size_t i = 0; i < n; i++) {
        hdrs[1 + i] = (flare_http_header){.name = "Authorization",
                                          .value = values[i],
                                          .name_len = 13,
                                          .value_len = (uint32_t)strlen(values[i]),
                                          .id = FLARE_HDR_AUTHORIZATION};
        if (i == 0) head.known_index[FLARE_HDR_AUTHORIZATION] = 1;
    }
    head.headers = hdrs;
    head.num_headers = 1 + n;
    req = (flare_request){.head = &head};
    *out = (flare_http_admission){0};
    return flared_auth_admit(&auth, &challenge, &req, 5000 * SEC, out);
}

static void expect_401(const char *value)
{
    flare_http_admission out;
    if (admit(&value, 1, &out) != 401) fail_msg("admitted: %s", value);
    assert_ptr_equal(out.fields, &challenge);
    assert_null(out.user);
}

static void test_admit(void **state)
{
    (void)state;
    setup_auth();
    flare_http_admission out;
    /* "amy:password" */
    const char *good = "Basic YW15OnBhc3N3b3Jk";
    assert_int_equal(admit(&good, 1, &out), 0);
    assert_null(out.fields);
    assert_memory_equal(out.user, "amy", 3);
    assert_int_equal(out.user_len, 3);
    assert_int_equal(admit(NULL, 0, &out), 401);
    assert_ptr_equal(out.fields, &challenge);
    expect_401("Basic YW15OnBhc3N3b3JF");     /* amy:passworE */
    expect_401("Basic Y2Fyb2w6cGFzc3dvcmQ="); /* carol:password, no such user */
    expect_401("Basic YW15");                 /* amy: no colon */
    expect_401("Basic YW15OnBhc3N3b3Jk=");    /* not a multiple of four */
    expect_401("Basic YW15OnBhc3N3b3Jk!");
    expect_401("Bearer YW15OnBhc3N3b3Jk");
    expect_401("BasicYW15OnBhc3N3b3Jk");
    expect_401("Basic");
    expect_401("Basic ");
    expect_401("Basic YW15OnBhc3N3b3Jk YW15");
    expect_401("Basic YW15OnBhc3N3b3JkAQ=="); /* amy:password\x01: a control byte */
    expect_401("Basic OnBhc3N3b3Jk");         /* :password, empty user */
    const char *twice[] = {good, good};
    assert_int_equal(admit(twice, 2, &out), 401);
    const char *spaced = "basic   YW15OnBhc3N3b3Jk";
    assert_int_equal(admit(&spaced, 1, &out), 0);
}

static void test_admit_uses_the_cache(void **state)
{
    (void)state;
    setup_auth();
    flare_http_admission out;
    const char *good = "Basic Ym9iOnBhc3N3b3Jk"; /* bob:password */
    assert_int_equal(admit(&good, 1, &out), 0);
    /* The file's hash no longer matches, but the success is remembered... */
    flared_htpasswd_user *bob = (flared_htpasswd_user *)flared_htpasswd_find(users, 2, "bob", 3);
    const char *saved = bob->hash;
    bob->hash = "{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_int_equal(admit(&good, 1, &out), 0);
    assert_memory_equal(out.user, "bob", 3);
    /* ...for this generation of the file only. */
    auth.generation++;
    assert_int_equal(admit(&good, 1, &out), 401);
    bob->hash = saved;
    assert_int_equal(admit(&good, 1, &out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_decoy),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_admit_uses_the_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
