/*
 * test_cookie_jar.c: the jar's storage and retrieval rules (RFC 6265 §5.3, §5.4):
 * host-only against Domain cookies, domain-match and path-match, default paths,
 * expiry by Max-Age and Expires and deletion, Secure only over https, the
 * __Secure-/__Host- prefixes, ordering of the Cookie header, replacement, limits,
 * and application cookies set directly (the seed's jar.set + to_request_header), their
 * fields checked as flare_cookie_init checks them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flare/cookie.h"

#define NOW 1700000000

static flare_cookie_jar *jar_new(void)
{
    flare_cookie_jar *jar;
    assert_int_equal(flare_cookie_jar_new(&jar, NULL), 0);
    return jar;
}

static int store(flare_cookie_jar *jar, const char *url, const char *set_cookie, int64_t now)
{
    flare_url u;
    assert_int_equal(flare_url_parse(&u, url, strlen(url), NULL), 0);
    int rc = flare_cookie_jar_store(jar, &u, set_cookie, strlen(set_cookie), now, NULL);
    flare_url_free(&u);
    return rc;
}

/* The Cookie header for url, in a static buffer ("" when none). */
static const char *header(flare_cookie_jar *jar, const char *url, int64_t now)
{
    static char out[1024];
    flare_buf b = FLARE_BUF_INIT;
    int n;
    if (url) {
        flare_url u;
        assert_int_equal(flare_url_parse(&u, url, strlen(url), NULL), 0);
        n = flare_cookie_jar_header(jar, &u, now, &b);
        flare_url_free(&u);
    } else {
        n = flare_cookie_jar_header(jar, NULL, now, &b);
    }
    assert_true(n >= 0);
    snprintf(out, sizeof out, "%.*s", (int)b.len, b.data ? b.data : "");
    flare_buf_free(&b);
    return out;
}

static void test_host_only_and_domain(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    assert_int_equal(store(jar, "http://example.com/", "host=1", NOW), 0);
    assert_int_equal(store(jar, "http://example.com/", "dom=2; Domain=example.com", NOW), 0);
    const flare_cookie *c = flare_cookie_jar_find(jar, "host", NULL);
    assert_non_null(c);
    assert_true(c->host_only);
    assert_string_equal(c->domain, "example.com");
    assert_false(flare_cookie_jar_find(jar, "dom", "example.com")->host_only);

    assert_string_equal(header(jar, "http://example.com/", NOW), "host=1; dom=2");
    /* a subdomain gets only the Domain cookie (§5.4 step 1) */
    assert_string_equal(header(jar, "http://www.example.com/", NOW), "dom=2");
    /* suffixes that are not at a label boundary do not match (§5.1.3) */
    assert_string_equal(header(jar, "http://badexample.com/", NOW), "");
    assert_string_equal(header(jar, "http://example.org/", NOW), "");

    flare_error err;
    flare_url u;
    assert_int_equal(flare_url_parse(&u, "http://www.example.com/", 23, NULL), 0);
    /* a Domain the host does not domain-match is refused (§5.3 step 6) */
    const char *other = "x=1; Domain=other.com";
    assert_int_equal(flare_cookie_jar_store(jar, &u, other, strlen(other), NOW, &err),
                     FLARE_EINVAL);
    assert_non_null(strstr(err.message, "domain-match"));
    /* a narrower Domain than the host: refused too */
    const char *narrow = "x=1; Domain=a.www.example.com";
    assert_int_equal(flare_cookie_jar_store(jar, &u, narrow, strlen(narrow), NOW, NULL),
                     FLARE_EINVAL);
    /* a top-level domain is a public suffix */
    assert_int_equal(store(jar, "http://www.example.com/", "x=1; Domain=com", NOW), FLARE_EINVAL);
    assert_int_equal(store(jar, "http://localhost/", "x=1; Domain=localhost", NOW), 0);
    flare_url_free(&u);

    /* IP hosts match only themselves */
    assert_int_equal(store(jar, "http://127.0.0.1:8080/", "ip=1", NOW), 0);
    assert_int_equal(store(jar, "http://127.0.0.1/", "ipd=1; Domain=0.0.1", NOW), FLARE_EINVAL);
    assert_string_equal(header(jar, "http://127.0.0.1:9999/", NOW),
                        "ip=1"); /* ports do not count */
    assert_int_equal(store(jar, "http://[::1]/", "v6=1", NOW), 0);
    assert_string_equal(header(jar, "http://[::1]:81/", NOW), "v6=1");
    assert_string_equal(header(jar, "http://localhost/", NOW), "x=1");
    assert_int_equal(store(jar, "http://x/", "bad", NOW), FLARE_EPARSE);
    flare_cookie_jar_free(jar);
}

/* A Domain that is the host itself where the host is a public suffix (no dot: the
 * list's prevailing rule "*") or an IP address makes a host-only cookie (§5.3 step 5):
 * it must not reach names below it. */
static void test_domain_that_is_a_suffix_or_an_ip_host(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    assert_int_equal(store(jar, "http://localhost/", "tld=1; Domain=localhost", NOW), 0);
    assert_true(flare_cookie_jar_find(jar, "tld", NULL)->host_only);
    assert_string_equal(header(jar, "http://localhost/", NOW), "tld=1");
    assert_string_equal(header(jar, "http://app.localhost/", NOW), "");
    assert_int_equal(store(jar, "http://192.0.2.1/", "ip=1; Domain=192.0.2.1", NOW), 0);
    assert_true(flare_cookie_jar_find(jar, "ip", NULL)->host_only);
    assert_string_equal(header(jar, "http://192.0.2.1/", NOW), "ip=1");
    assert_string_equal(header(jar, "http://evil.192.0.2.1/", NOW), "");
    /* Nor does an application's cookie for an IP address reach names below it. */
    flare_cookie c;
    assert_int_equal(flare_cookie_init(&c, "app", "1", NULL), 0);
    assert_int_equal(flare_cookie_set_domain(&c, "198.51.100.7", NULL), 0);
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    flare_cookie_free(&c);
    assert_string_equal(header(jar, "http://198.51.100.7/", NOW), "app=1");
    assert_string_equal(header(jar, "http://evil.198.51.100.7/", NOW), "");
    flare_cookie_jar_free(jar);
}

/* The Public Suffix List decides what a Domain may name (§5.3 step 5): a suffix
 * under which unrelated sites register, ICANN's or a private one, is refused; a
 * registrable name below it is not. */
static void test_public_suffix_domains(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    flare_error err;
    flare_url u;
    const char *url = "http://www.example.co.uk/", *wide = "x=1; Domain=co.uk";
    assert_int_equal(flare_url_parse(&u, url, strlen(url), NULL), 0);
    assert_int_equal(flare_cookie_jar_store(jar, &u, wide, strlen(wide), NOW, &err), FLARE_EINVAL);
    assert_non_null(strstr(err.message, "public suffix"));
    flare_url_free(&u);
    assert_int_equal(store(jar, "http://a.github.io/", "x=1; Domain=github.io", NOW), FLARE_EINVAL);
    assert_int_equal(store(jar, "http://www.example.co.uk/", "ok=1; Domain=example.co.uk", NOW), 0);
    assert_string_equal(header(jar, "http://shop.example.co.uk/", NOW), "ok=1");
    assert_string_equal(header(jar, "http://other.co.uk/", NOW), "");
    /* The suffix as the host itself: a host-only cookie, as for localhost. */
    assert_int_equal(store(jar, "http://co.uk/", "self=1; Domain=co.uk", NOW), 0);
    assert_true(flare_cookie_jar_find(jar, "self", NULL)->host_only);
    assert_string_equal(header(jar, "http://x.co.uk/", NOW), "");
    flare_cookie_jar_free(jar);
}

static void test_paths(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    /* default path: the request path up to its last '/' (§5.1.4) */
    assert_int_equal(store(jar, "http://h/docs/guide/page.html", "d=1", NOW), 0);
    assert_string_equal(flare_cookie_jar_find(jar, "d", NULL)->path, "/docs/guide");
    assert_int_equal(store(jar, "http://h/top", "t=1", NOW), 0);
    assert_string_equal(flare_cookie_jar_find(jar, "t", NULL)->path, "/");
    assert_int_equal(store(jar, "http://h/a/b", "r=1; Path=relative", NOW), 0);
    assert_string_equal(flare_cookie_jar_find(jar, "r", NULL)->path, "/a");
    assert_int_equal(store(jar, "http://h/", "s=1; Path=/docs/", NOW), 0);

    assert_string_equal(header(jar, "http://h/docs/guide", NOW), "d=1; s=1; t=1");
    assert_string_equal(header(jar, "http://h/docs/guide/x/y", NOW), "d=1; s=1; t=1");
    assert_string_equal(header(jar, "http://h/docs/guidebook", NOW), "s=1; t=1");
    assert_string_equal(header(jar, "http://h/docs", NOW), "t=1"); /* "/docs/" needs the slash */
    assert_string_equal(header(jar, "http://h/a", NOW), "r=1; t=1");
    assert_string_equal(header(jar, "http://h/ab", NOW), "t=1");
    assert_string_equal(header(jar, "http://h/?q=/docs/guide", NOW), "t=1");
    flare_cookie_jar_free(jar);
}

static void test_expiry(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    assert_int_equal(store(jar, "http://h/", "m=1; Max-Age=100", NOW), 0);
    assert_int_equal(store(jar, "http://h/", "e=1; Expires=Wed, 09 Jun 2100 10:18:14 GMT", NOW), 0);
    /* Max-Age wins over Expires (§5.3 step 3) */
    assert_int_equal(
        store(jar, "http://h/", "both=1; Expires=Wed, 09 Jun 2100 10:18:14 GMT; Max-Age=10", NOW),
        0);
    assert_int_equal(store(jar, "http://h/", "session=1", NOW), 0);
    assert_int_equal(flare_cookie_jar_find(jar, "m", NULL)->expires, NOW + 100);
    assert_int_equal(flare_cookie_jar_find(jar, "both", NULL)->expires, NOW + 10);
    assert_false(flare_cookie_jar_find(jar, "session", NULL)->has_expires);
    assert_string_equal(header(jar, "http://h/", NOW), "m=1; e=1; both=1; session=1");
    assert_string_equal(header(jar, "http://h/", NOW + 50), "m=1; e=1; session=1");
    assert_int_equal(flare_cookie_jar_count(jar), 3); /* the expired one is gone */
    assert_string_equal(header(jar, "http://h/", NOW + 100), "e=1; session=1");

    /* an expired Set-Cookie deletes the stored one (the usual logout) */
    assert_int_equal(store(jar, "http://h/", "e=; Max-Age=0", NOW), 0);
    assert_int_equal(
        store(jar, "http://h/", "session=; Expires=Thu, 01 Jan 1970 00:00:01 GMT", NOW), 0);
    assert_string_equal(header(jar, "http://h/", NOW), "");
    assert_int_equal(flare_cookie_jar_count(jar), 0);
    /* deleting needs the same domain and path */
    assert_int_equal(store(jar, "http://h/a/", "p=1; Path=/a", NOW), 0);
    assert_int_equal(store(jar, "http://h/", "p=; Max-Age=0", NOW), 0);
    assert_int_equal(flare_cookie_jar_count(jar), 1);
    assert_int_equal(store(jar, "http://h/", "p=; Max-Age=0; Path=/a", NOW), 0);
    assert_int_equal(flare_cookie_jar_count(jar), 0);
    /* remove_expired */
    assert_int_equal(store(jar, "http://h/", "a=1; Max-Age=5", NOW), 0);
    assert_int_equal(store(jar, "http://h/", "b=1; Max-Age=50", NOW), 0);
    assert_int_equal(flare_cookie_jar_remove_expired(jar, NOW + 10), 1);
    assert_int_equal(flare_cookie_jar_count(jar), 1);
    flare_cookie_jar_free(jar);
}

static void test_secure(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    assert_int_equal(store(jar, "https://h/", "s=1; Secure", NOW), 0);
    assert_int_equal(store(jar, "https://h/", "plain=1", NOW), 0);
    assert_string_equal(header(jar, "https://h/", NOW), "s=1; plain=1");
    assert_string_equal(header(jar, "http://h/", NOW), "plain=1"); /* §5.4 step 1 */
    /* Secure from http is refused, and http cannot overwrite a Secure cookie */
    assert_int_equal(store(jar, "http://h/", "t=1; Secure", NOW), FLARE_EINVAL);
    assert_int_equal(store(jar, "http://h/", "s=evil", NOW), FLARE_EINVAL);
    assert_string_equal(flare_cookie_jar_find(jar, "s", NULL)->value, "1");
    /* prefixes (RFC 6265bis §4.1.3) */
    assert_int_equal(store(jar, "https://h/", "__Secure-a=1", NOW), FLARE_EINVAL);
    assert_int_equal(store(jar, "https://h/", "__Secure-a=1; Secure", NOW), 0);
    assert_int_equal(store(jar, "https://h/", "__Host-b=1; Secure; Path=/", NOW), 0);
    assert_int_equal(store(jar, "https://h/", "__Host-c=1; Secure", NOW), FLARE_EINVAL);
    assert_int_equal(store(jar, "https://h/", "__Host-d=1; Secure; Path=/; Domain=h", NOW),
                     FLARE_EINVAL);
    assert_int_equal(store(jar, "http://h/", "__Host-e=1; Secure; Path=/", NOW), FLARE_EINVAL);
    flare_cookie_jar_free(jar);
}

static void test_order_and_replace(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    assert_int_equal(store(jar, "http://h/", "first=1", NOW), 0);
    assert_int_equal(store(jar, "http://h/", "second=2", NOW), 0);
    assert_int_equal(store(jar, "http://h/a/b/", "deep=3; Path=/a/b", NOW), 0);
    assert_int_equal(store(jar, "http://h/a/", "mid=4; Path=/a", NOW), 0);
    /* longest path first, then creation order (§5.4 step 2) */
    assert_string_equal(header(jar, "http://h/a/b/c", NOW), "deep=3; mid=4; first=1; second=2");
    /* replacing keeps the creation time (§5.3 step 11.3) */
    assert_int_equal(store(jar, "http://h/", "first=one", NOW), 0);
    assert_string_equal(header(jar, "http://h/", NOW), "first=one; second=2");
    assert_int_equal(flare_cookie_jar_count(jar), 4);
    flare_cookie_jar_clear(jar);
    assert_int_equal(flare_cookie_jar_count(jar), 0);
    assert_null(flare_cookie_jar_get(jar, 0));
    flare_cookie_jar_free(jar);
}

static void test_limits(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    char sc[64];
    for (int i = 0; i < FLARE_COOKIE_JAR_MAX_PER_DOMAIN + 10; i++) {
        snprintf(sc, sizeof sc, "c%d=%d", i, i);
        assert_int_equal(store(jar, "http://h/", sc, NOW), 0);
    }
    assert_int_equal(flare_cookie_jar_count(jar), FLARE_COOKIE_JAR_MAX_PER_DOMAIN);
    /* the least recently used went: c0..c9 */
    assert_null(flare_cookie_jar_find(jar, "c0", NULL));
    assert_null(flare_cookie_jar_find(jar, "c9", NULL));
    assert_non_null(flare_cookie_jar_find(jar, "c10", NULL));
    /* another domain has its own quota */
    assert_int_equal(store(jar, "http://other/", "o=1", NOW), 0);
    assert_int_equal(flare_cookie_jar_count(jar), FLARE_COOKIE_JAR_MAX_PER_DOMAIN + 1);
    flare_cookie_jar_free(jar);
}

/* The seed's example: jar.set(Cookie("session", "abc123", secure, http_only)). */
static void test_application_cookies(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    flare_cookie c;
    assert_int_equal(flare_cookie_init(&c, "session", "abc123", NULL), 0);
    c.secure = true;
    c.http_only = true;
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    flare_cookie_free(&c);
    assert_string_equal(header(jar, NULL, NOW), "session=abc123");
    /* no Domain: any host; Secure still means https only */
    assert_string_equal(header(jar, "https://anything.test/x", NOW), "session=abc123");
    assert_string_equal(header(jar, "http://anything.test/x", NOW), "");

    assert_int_equal(flare_cookie_init(&c, "pref", "dark", NULL), 0);
    assert_int_equal(flare_cookie_set_domain(&c, "example.com", NULL), 0);
    assert_int_equal(flare_cookie_set_path(&c, "/app", NULL), 0);
    c.has_max_age = true;
    c.max_age = 10;
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    assert_string_equal(header(jar, "http://www.example.com/app/x", NOW), "pref=dark");
    assert_string_equal(header(jar, "http://www.example.com/", NOW), "");
    assert_string_equal(header(jar, "http://www.example.com/app", NOW + 10), "");
    /* Max-Age 0 deletes */
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    c.max_age = 0;
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    assert_null(flare_cookie_jar_find(jar, "pref", NULL));
    flare_cookie_free(&c);
    memset(&c, 0, sizeof c);
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), FLARE_EINVAL);
    flare_cookie_jar_free(jar);
    flare_cookie_jar_free(NULL);
}

/* A cookie filled in by hand goes through the checks flare_cookie_init and the
 * setters make: its name and value reach the wire in a Cookie header, where CR LF
 * would inject a header and ';' a cookie (http_client.h promises no injection), and
 * an empty Path made path matching read the byte before it. */
static void test_application_cookie_fields_are_checked(void **state)
{
    (void)state;
    flare_cookie_jar *jar = jar_new();
    static const struct {
        const char *name, *value, *domain, *path;
    } bad[] = {
        {"a", "b\r\nX-Injected: 1", NULL, NULL},
        {"a", "b; admin=1", NULL, NULL},
        {"a b", "c", NULL, NULL},
        {"a\r\nX: 1", "c", NULL, NULL},
        {"a", "b", "exa mple.com", NULL},
        {"a", "b", "", NULL},
        {"a", "b", NULL, ""},
        {"a", "b", NULL, "app"},
        {"a", "b", NULL, "/x\r\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_cookie c = {.name = (char *)bad[i].name,
                          .value = (char *)bad[i].value,
                          .domain = (char *)bad[i].domain,
                          .path = (char *)bad[i].path};
        flare_error err;
        if (flare_cookie_jar_set(jar, &c, NOW, &err) != FLARE_EINVAL)
            fail_msg("cookie %zu was taken", i);
    }
    assert_int_equal(flare_cookie_jar_count(jar), 0);
    assert_string_equal(header(jar, "http://example.com/app", NOW), "");
    /* By hand and well formed: taken as it is (Domain's dot and case as the setter's). */
    flare_cookie c = {
        .name = "pref", .value = "\"dark\"", .domain = ".Example.COM", .path = "/app"};
    assert_int_equal(flare_cookie_jar_set(jar, &c, NOW, NULL), 0);
    assert_string_equal(header(jar, "http://www.example.com/app/x", NOW), "pref=\"dark\"");
    flare_cookie_jar_free(jar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_only_and_domain),
        cmocka_unit_test(test_domain_that_is_a_suffix_or_an_ip_host),
        cmocka_unit_test(test_public_suffix_domains),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_order_and_replace),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_application_cookies),
        cmocka_unit_test(test_application_cookie_fields_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
