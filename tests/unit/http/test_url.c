/*
 * test_url.c: http/https URL parsing (normalisation, IPv6 literals and zones,
 * userinfo, ports, percent-escapes, what is refused), RFC 3986 §5.4's reference
 * resolution examples, the Host header and request-target, origins, and the
 * percent-encoding helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flare/url.h"

static void parse_ok(flare_url *u, const char *s)
{
    flare_error err;
    if (flare_url_parse(u, s, strlen(s), &err) != 0) fail_msg("%s: %s", s, err.message);
}

static const char *str(const char *s)
{
    return s ? s : "(null)";
}

static void host_header_is(const flare_url *u, const char *want)
{
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_url_host_header(u, &b), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, want);
    flare_buf_free(&b);
}

static void test_basic(void **state)
{
    (void)state;
    flare_url u;
    parse_ok(&u, "HTTP://Example.COM");
    assert_string_equal(u.scheme, "http");
    assert_string_equal(u.host, "example.com");
    assert_int_equal(u.port, 80);
    assert_false(u.explicit_port);
    assert_string_equal(u.path, "/");
    assert_null(u.query);
    assert_null(u.fragment);
    assert_null(u.userinfo);
    assert_null(u.user);
    flare_url_free(&u);
    flare_url_free(&u); /* twice is fine */

    parse_ok(&u, "https://api.example.com:8443/v1/items?x=1&y=%20z#top");
    assert_string_equal(u.scheme, "https");
    assert_int_equal(u.port, 8443);
    assert_true(u.explicit_port);
    assert_string_equal(u.path, "/v1/items");
    assert_string_equal(u.query, "x=1&y=%20z");
    assert_string_equal(u.fragment, "top");
    assert_true(flare_url_is_https(&u));
    flare_url_free(&u);

    parse_ok(&u, "https://h/?#");
    assert_string_equal(u.port == 443 ? "ok" : "bad", "ok");
    assert_string_equal(u.query, "");
    assert_string_equal(u.fragment, "");
    flare_url_free(&u);

    /* an empty port is the default (RFC 3986 §3.2.3) */
    parse_ok(&u, "http://h:/x");
    assert_int_equal(u.port, 80);
    assert_false(u.explicit_port);
    flare_url_free(&u);
    parse_ok(&u, "http://h:80/x");
    assert_true(u.explicit_port);
    flare_url_free(&u);
}

static void test_ipv6_and_userinfo(void **state)
{
    (void)state;
    flare_url u;
    parse_ok(&u, "http://[::1]:8080/p");
    assert_true(u.ipv6);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    flare_buf b = FLARE_BUF_INIT;
    host_header_is(&u, "[::1]:8080");
    flare_url_free(&u);

    parse_ok(&u, "http://[2001:DB8::A]/");
    assert_string_equal(u.host, "2001:db8::a");
    flare_url_free(&u);

    /* RFC 6874: a zone is "%25" in the URL, dropped from Host */
    parse_ok(&u, "http://[fe80::1%251]:81/");
    assert_string_equal(u.host, "fe80::1%1");
    host_header_is(&u, "[fe80::1]:81");
    assert_int_equal(flare_url_format(&u, 0, &b), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "http://[fe80::1%251]:81/");
    flare_buf_free(&b);
    flare_url_free(&u);
    /* the address is lowercased, a zone is not: interface names are case-sensitive,
     * and "LO" is no interface, while "lo" (loopback) is on every Linux host */
    parse_ok(&u, "http://[FE80::1%25lo]/");
    assert_string_equal(u.host, "fe80::1%lo");
    flare_url_free(&u);
    const char *upper = "http://[fe80::1%25LO]/";
    assert_int_equal(flare_url_parse(&u, upper, strlen(upper), NULL), FLARE_EURL);

    /* userinfo: decoded, the last '@' ends it, never in Host or a default format */
    parse_ok(&u, "https://us%40er:p%3Ass@w@example.com/x");
    assert_string_equal(u.userinfo, "us%40er:p%3Ass@w");
    assert_string_equal(str(u.user), "us@er");
    assert_string_equal(str(u.password), "p:ss@w");
    assert_string_equal(u.host, "example.com");
    host_header_is(&u, "example.com");
    assert_int_equal(flare_url_format(&u, 0, &b), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "https://example.com/x");
    flare_buf_free(&b);
    assert_int_equal(flare_url_format(&u, FLARE_URL_FMT_USERINFO, &b), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "https://us%40er:p%3Ass@w@example.com/x");
    flare_buf_free(&b);
    flare_url_free(&u);

    parse_ok(&u, "http://user@h/");
    assert_string_equal(u.user, "user");
    assert_null(u.password);
    flare_url_free(&u);
}

static void test_normalisation(void **state)
{
    (void)state;
    flare_url u;
    parse_ok(&u, "http://h/a/b/../c/./d/..");
    assert_string_equal(u.path, "/a/c/");
    flare_url_free(&u);
    parse_ok(&u, "http://h/../../x");
    assert_string_equal(u.path, "/x");
    flare_url_free(&u);
    /* a container's name (RFC 2181 §11 allows '_'), lowercased like any host */
    parse_ok(&u, "http://My_Service:8080/");
    assert_string_equal(u.host, "my_service");
    flare_url_free(&u);
    /* non-ASCII and never-raw characters are encoded; valid escapes kept as written */
    parse_ok(&u, "http://h/caf\xc3\xa9/{x}|y?q=\"a\"");
    assert_string_equal(u.path, "/caf%C3%A9/%7Bx%7D%7Cy");
    assert_string_equal(u.query, "q=%22a%22");
    flare_url_free(&u);
    parse_ok(&u, "http://h/caf\xc3\xa9/{x}|y?q=%22a%22#f#g");
    assert_string_equal(u.query, "q=%22a%22");
    assert_string_equal(u.fragment, "f%23g");
    flare_url_free(&u);
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "example.com/x",
        "ftp://h/",
        "ws://h/",
        "http:/h/",
        "http:h",
        "http://",
        "http:///path",
        "http://:80/",
        "http://h:0/",
        "http://h:65536/",
        "http://h:8x/",
        "http://h/p q",
        "http://h/p\r\nX-Injected: 1",
        "http://h/p\nx",
        "http://h/\x7f",
        "http://h/%zz",
        "http://h/%4",
        "http://h/?a=%",
        "http://ho st/",
        "http://h~st/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[127.0.0.1]/",
        "http://[v1.fe]/",
        "http://[fe80::1%eth0]/",
        "http://h%41/",
        "http://us er@h/",
        "http://u%zz@h/",
        "http://-bad-.com/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_url u;
        flare_error err;
        int rc = flare_url_parse(&u, bad[i], strlen(bad[i]), &err);
        if (rc != FLARE_EURL) fail_msg("#%zu accepted or wrong code %d: %s", i, rc, bad[i]);
        assert_non_null(strstr(err.message, "URL"));
        assert_null(u.mem);
    }
    /* NUL inside the given length */
    flare_url u;
    assert_int_equal(flare_url_parse(&u, "http://h/a\0b", 12, NULL), FLARE_EURL);
    assert_int_equal(flare_url_parse(&u, NULL, 0, NULL), FLARE_EURL);
    static char huge[FLARE_URL_MAX + 10];
    memset(huge, 'a', sizeof huge);
    memcpy(huge, "http://h/", 9);
    assert_int_equal(flare_url_parse(&u, huge, sizeof huge, NULL), FLARE_EURL);
    assert_int_equal(flare_url_parse(&u, huge, FLARE_URL_MAX, NULL), 0);
    flare_url_free(&u);
}

/* A host written in Unicode is sent as its A-label, as curl does with libidn2: UTS #46
 * non-transitional mapping (lowercased, "ß" kept), then Punycode (RFC 3492). */
static void test_international_hosts(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"http://B\xc3\xbc"
         "cher.example/x",
         "xn--bcher-kva.example"},
        {"https://stra\xc3\x9f"
         "e.de:8443/",
         "xn--strae-oqa.de"},
        {"http://\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.jp/", "xn--wgv71a119e.jp"},
        {"http://user@caf\xc3\xa9.example/", "xn--caf-dma.example"},
        {"http://xn--bcher-kva.example/", "xn--bcher-kva.example"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flare_url u;
        parse_ok(&u, cases[i][0]);
        assert_string_equal(u.host, cases[i][1]);
        host_header_is(&u, u.explicit_port ? "xn--strae-oqa.de:8443" : cases[i][1]);
        flare_url_free(&u);
    }
    /* invalid UTF-8, a character IDNA disallows (U+2488), a label of 70 "u-umlaut"
     * whose A-label passes 63 bytes, a bidi rule broken (RFC 5893) and a joiner out
     * of its context (RFC 5892 Appendix A.2), both of which curl 7.88 lets through */
    char long_label[160] = "http://";
    for (int i = 0; i < 70; i++)
        strcat(long_label, "\xc3\xbc");
    strcat(long_label, ".de/");
    const char *bad[] = {"http://h\xff/", "http://\xe2\x92\x88x.com/", long_label,
                         "http://\xd9\xa3\xd9\xa1\xd9\xa0.com/",
                         "http://a\xe2\x80\x8d"
                         "b.com/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_url u;
        flare_error err;
        if (flare_url_parse(&u, bad[i], strlen(bad[i]), &err) != FLARE_EURL)
            fail_msg("#%zu accepted: %s", i, bad[i]);
        assert_non_null(strstr(err.message, "international host name"));
        assert_null(u.mem);
    }
}

/* UTS #46 maps some characters to ASCII: ideographic and full-width dots to '.',
 * others to the delimiters the URL was split on before the mapping (U+FF1A to ':',
 * U+2100 to "a/c", U+FF20 to '@', U+FF05 to '%', U+00A0 to ' '). A name that then
 * holds one is refused, never split again nor sent (curl 7.88 resolves "a:80"), and
 * the message says what the name became. */
static void test_international_delimiters(void **state)
{
    (void)state;
    static const char *const dots[][2] = {
        {"http://a\xe3\x80\x82"
         "b/",
         "a.b"}, /* U+3002 */
        {"http://a\xef\xbc\x8e"
         "b:81/",
         "a.b"}, /* U+FF0E */
        {"http://a\xef\xbd\xa1"
         "b/",
         "a.b"}, /* U+FF61 */
        {"http://\xc3\xbc\xe3\x80\x82"
         "de/",
         "xn--tda.de"},
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        flare_url u;
        parse_ok(&u, dots[i][0]);
        assert_string_equal(u.host, dots[i][1]);
        flare_url_free(&u);
    }
    static const char *const refused[][2] = {
        {"http://a\xef\xbc\x9a"
         "80/",
         "\"a:80\""}, /* U+FF1A */
        {"http://x\xe2\x84\x80"
         "y/",
         "\"xa/cy\""}, /* U+2100 */
        {"http://evil\xef\xbc\xa0"
         "good/",
         "\"evil@good\""}, /* U+FF20 */
        {"http://user@evil\xef\xbc\xa0"
         "good:8080/",
         "\"evil@good\""},
        {"http://a\xef\xbc\x85"
         "41/",
         "\"a%41\""}, /* U+FF05 */
        {"http://a\xef\xbc\x8f"
         "b/",
         "\"a/b\""}, /* U+FF0F */
        {"http://a\xef\xbc\x9f"
         "b/",
         "\"a?b\""}, /* U+FF1F */
        {"http://a\xef\xbc\x83"
         "b/",
         "\"a#b\""}, /* U+FF03 */
        {"http://a\xef\xbc\xbb"
         "b/",
         "\"a[b\""}, /* U+FF3B */
        {"http://a\xc2\xa0"
         "b/",
         "\"a b\""}, /* U+00A0 */
        {"http://\xc3\xbc.\xef\xbc\x8e"
         "de/",
         "\"xn--tda..de\""},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        flare_url u;
        flare_error err;
        if (flare_url_parse(&u, refused[i][0], strlen(refused[i][0]), &err) != FLARE_EURL)
            fail_msg("#%zu accepted as host %s", i, u.host);
        if (!strstr(err.message, refused[i][1])) fail_msg("#%zu: %s", i, err.message);
        assert_null(u.mem);
        /* a redirect's Location is held to the same */
        flare_url base, out;
        parse_ok(&base, "http://a.example/");
        const char *ref = refused[i][0] + 5; /* "//..." */
        assert_int_equal(flare_url_resolve(&out, &base, ref, strlen(ref), &err), FLARE_EURL);
        flare_url_free(&base);
    }
}

/* RFC 3986 §5.4.1 and §5.4.2, base "http://a/b/c/d;p?q" */
/* flare_url_parse_schemes: which schemes, and what ws/wss refuse (RFC 6455 §3). */
static void test_schemes(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        unsigned schemes;
        int rc;
    } cases[] = {
        {"http://h/", FLARE_URL_HTTP, 0},
        {"ws://h/", FLARE_URL_HTTP, FLARE_EURL},
        {"ws://h/", FLARE_URL_WS, 0},
        {"WSS://h/", FLARE_URL_WS, 0},
        {"https://h/", FLARE_URL_WS, FLARE_EURL},
        {"https://h/", FLARE_URL_WS | FLARE_URL_HTTP, 0},
        {"wss://h/", FLARE_URL_WS | FLARE_URL_HTTP, 0},
        {"ftp://h/", FLARE_URL_WS | FLARE_URL_HTTP, FLARE_EURL},
        {"ws://u@h/", FLARE_URL_WS, FLARE_EURL},
        {"http://u@h/", FLARE_URL_HTTP, 0},
        {"ws://h/#", FLARE_URL_WS, FLARE_EURL},
        {"http://h/#", FLARE_URL_HTTP, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flare_url u;
        flare_error err;
        int rc =
            flare_url_parse_schemes(&u, cases[i].url, strlen(cases[i].url), cases[i].schemes, &err);
        if (rc != cases[i].rc) fail_msg("%s: %d, want %d", cases[i].url, rc, cases[i].rc);
        flare_url_free(&u);
    }
    flare_url u;
    flare_error err;
    assert_int_equal(flare_url_parse_schemes(&u, "http://h/", 9, FLARE_URL_WS, &err), FLARE_EURL);
    assert_non_null(strstr(err.message, "expected ws:// or wss://"));
    /* a ws URL's port defaults and its Host header follow ws's default ports */
    assert_int_equal(flare_url_parse_schemes(&u, "wss://h:443/x", 13, FLARE_URL_WS, &err), 0);
    assert_int_equal(u.port, 443);
    host_header_is(&u, "h");
    flare_url c;
    assert_int_equal(flare_url_copy(&c, &u, &err), 0); /* a copy keeps the scheme */
    assert_string_equal(c.scheme, "wss");
    flare_url_free(&c);
    flare_url_free(&u);
    assert_int_equal(flare_url_default_port("WS"), 80);
    assert_int_equal(flare_url_default_port("wss"), 443);
}

static void test_resolve_rfc_examples(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g/"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
        /* abnormal examples */
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "FAIL"}, /* strict parsers treat it as absolute: no authority */
        /* the client's own cases */
        {"https://other:8443/x", "https://other:8443/x"},
        {"//[::1]:9/y", "http://[::1]:9/y"},
        /* raw spaces and UTF-8 in a Location are encoded, as curl does; not in a host */
        {"/a b/c\xc3\xa9?q=1 2#f g", "http://a/a%20b/c%C3%A9?q=1%202#f%20g"},
        {"x y", "http://a/b/c/x%20y"},
        {"https://h/ x", "https://h/%20x"},
        {"//h i/x", "FAIL"},
        /* a host in Unicode goes by its A-label (see test_international_hosts) */
        {"http://h\xc3\xa9/x", "http://xn--h-bga/x"},
        {"//B\xc3\xbc"
         "cher.example:81/",
         "http://xn--bcher-kva.example:81/"},
        {"//h\xff/x", "FAIL"},
    };
    flare_url base;
    parse_ok(&base, "http://a/b/c/d;p?q");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flare_url r;
        flare_error err;
        int rc = flare_url_resolve(&r, &base, cases[i][0], strlen(cases[i][0]), &err);
        if (!strcmp(cases[i][1], "FAIL")) {
            assert_int_equal(rc, FLARE_EURL);
            continue;
        }
        if (rc != 0) fail_msg("%s: %s", cases[i][0], err.message);
        flare_buf b = FLARE_BUF_INIT;
        assert_int_equal(flare_url_format(&r, FLARE_URL_FMT_FRAGMENT, &b), 0);
        assert_int_equal(flare_buf_append(&b, "", 1), 0);
        if (strcmp(b.data, cases[i][1]))
            fail_msg("resolve \"%s\": got %s, want %s", cases[i][0], b.data, cases[i][1]);
        flare_buf_free(&b);
        flare_url_free(&r);
    }
    /* a reference with a control character is refused */
    flare_url r;
    assert_int_equal(flare_url_resolve(&r, &base, "/a\r\nb", 6, NULL), FLARE_EURL);
    assert_int_equal(flare_url_resolve(&r, &base, "/a b\0", 5, NULL), FLARE_EURL);
    assert_int_equal(flare_url_resolve(&r, &base, "/a\tb", 4, NULL), FLARE_EURL);
    flare_url_free(&base);

    /* userinfo and port travel with a relative reference */
    parse_ok(&base, "http://u:p@h:81/a/b");
    assert_int_equal(flare_url_resolve(&r, &base, "c?d", 3, NULL), 0);
    assert_string_equal(r.user, "u");
    assert_int_equal(r.port, 81);
    assert_string_equal(r.path, "/a/c");
    assert_string_equal(r.query, "d");
    flare_url_free(&r);
    flare_url_free(&base);
}

static void test_target_origin_copy(void **state)
{
    (void)state;
    flare_url a, b, c, d;
    parse_ok(&a, "http://h/x/y?q=1#f");
    parse_ok(&b, "HTTP://H:80/other");
    parse_ok(&c, "https://h/x");
    parse_ok(&d, "http://h:8080/x");
    assert_true(flare_url_same_origin(&a, &b));
    assert_false(flare_url_same_origin(&a, &c));
    assert_false(flare_url_same_origin(&a, &d));
    flare_buf t = FLARE_BUF_INIT;
    assert_int_equal(flare_url_target(&a, &t), 0);
    assert_int_equal(flare_buf_append(&t, "", 1), 0);
    assert_string_equal(t.data, "/x/y?q=1");
    flare_buf_free(&t);
    assert_int_equal(flare_url_host_header(&b, &t), 0);
    assert_int_equal(flare_buf_append(&t, "", 1), 0);
    assert_string_equal(t.data, "h"); /* the default port is left out */
    flare_buf_free(&t);

    flare_url e;
    assert_int_equal(flare_url_copy(&e, &a, NULL), 0);
    assert_ptr_not_equal(e.mem, a.mem);
    assert_string_equal(e.path, "/x/y");
    assert_string_equal(e.query, "q=1");
    assert_string_equal(e.fragment, "f");
    flare_url_free(&e);
    flare_url_free(&a);
    flare_url_free(&b);
    flare_url_free(&c);
    flare_url_free(&d);

    assert_int_equal(flare_url_default_port("HTTPS"), 443);
    assert_int_equal(flare_url_default_port("http"), 80);
    assert_int_equal(flare_url_default_port("ftp"), 0);
    assert_int_equal(flare_url_default_port(NULL), 0);
}

static void test_percent(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(flare_url_percent_decode("a%20b+c%2Fd", 11, out, false), 7);
    assert_memory_equal(out, "a b+c/d", 7);
    assert_int_equal(flare_url_percent_decode("a+b", 3, out, true), 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(flare_url_percent_decode("%4", 2, out, false), FLARE_EURL);
    assert_int_equal(flare_url_percent_decode("%g0", 3, out, false), FLARE_EURL);
    assert_int_equal(flare_url_percent_decode("%", 1, out, false), FLARE_EURL);
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_url_percent_encode(&b, "a b/c~\xff", 7, NULL), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "a%20b%2Fc~%FF");
    b.len = 0;
    assert_int_equal(flare_url_percent_encode(&b, "a/b:c", 5, "/"), 0);
    assert_int_equal(flare_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, "a/b%3Ac");
    flare_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_ipv6_and_userinfo),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_international_hosts),
        cmocka_unit_test(test_international_delimiters),
        cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_resolve_rfc_examples),
        cmocka_unit_test(test_target_origin_copy),
        cmocka_unit_test(test_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
