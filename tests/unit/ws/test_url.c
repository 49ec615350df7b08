/*
 * test_url.c: ws:// and wss:// URL parsing (RFC 6455 §3, through the HTTP layer's
 * parser): default and explicit ports, IPv6 literals and RFC 6874 zones, hosts
 * and resources normalised as RFC 3986 §6.2.2 says, and everything refused (other
 * schemes, fragments, userinfo, controls, bad escapes, ports and hosts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

static void ok(const char *url, bool secure, const char *host, uint16_t port, bool def,
               const char *resource)
{
    flare_ws_url u;
    flare_error err;
    if (flare_ws_url_parse(&u, url, &err) != 0) fail_msg("%s: %s", url, err.message);
    assert_int_equal(u.secure, secure);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.default_port, def);
    assert_string_equal(u.resource, resource);
}

static void test_valid(void **state)
{
    (void)state;
    ok("ws://example.com", false, "example.com", 80, true, "/");
    ok("ws://example.com/", false, "example.com", 80, true, "/");
    /* scheme and host are case-insensitive (RFC 3986 §3.1, §3.2.2): lowercased */
    ok("WSS://Example.COM/chat?room=1&x=y", true, "example.com", 443, true, "/chat?room=1&x=y");
    ok("ws://127.0.0.1:9001/path/deep", false, "127.0.0.1", 9001, false, "/path/deep");
    ok("ws://[::1]:8080/x", false, "::1", 8080, false, "/x");
    ok("ws://[2001:db8::7]", false, "2001:db8::7", 80, true, "/");
    ok("ws://[2001:DB8::A]/", false, "2001:db8::a", 80, true, "/"); /* RFC 5952 §4.3 */
    ok("ws://[::ffff:1.2.3.4]/", false, "::ffff:1.2.3.4", 80, true, "/");
    ok("ws://host:80/", false, "host", 80, true, "/");
    ok("wss://host:80/", true, "host", 80, false, "/");
    ok("ws://host?q=1", false, "host", 80, true, "/?q=1");
    ok("ws://my_host-1.local:65535", false, "my_host-1.local", 65535, false, "/");
    /* an empty port is the default one (RFC 3986 §3.2.3: port = *DIGIT), as is 080 */
    ok("ws://host:/x", false, "host", 80, true, "/x");
    ok("ws://[::1]:/", false, "::1", 80, true, "/");
    ok("wss://host:0443/", true, "host", 443, true, "/");
    ok("ws://host/?", false, "host", 80, true, "/?");
    ok("ws://host/p?a=1?b=/c", false, "host", 80, true, "/p?a=1?b=/c");
    /* a '#' that is data is written %23 (§3); escapes are kept as written */
    ok("ws://host/a%23b?c=%2F", false, "host", 80, true, "/a%23b?c=%2F");
    /* dot segments go (RFC 3986 §5.2.4); a request-target holds no raw '"', '{'... */
    ok("ws://host/a/b/../c/./d", false, "host", 80, true, "/a/c/d");
    ok("ws://host/../x", false, "host", 80, true, "/x");
    ok("ws://host/a\"b{c}|d^e\\f`g", false, "host", 80, true, "/a%22b%7Bc%7D%7Cd%5Ee%5Cf%60g");
    /* A request-target is ASCII (RFC 9112 §3.2): UTF-8 is percent-encoded. */
    ok("ws://host/caf\xc3\xa9?q=\xff", false, "host", 80, true, "/caf%C3%A9?q=%FF");
    /* An RFC 6874 zone is kept for connecting (numeric: no interface names here). */
    ok("ws://[fe80::1%251]:8080/", false, "fe80::1%1", 8080, false, "/");
    /* a named zone keeps its case (interface names are case-sensitive): "lo" is on
     * every Linux host, "LO" on none (refused below) */
    ok("ws://[FE80::1%25lo]/", false, "fe80::1%lo", 80, true, "/");
}

/* The longest resource that fits, and one byte more, whether ASCII or encoded. */
static void test_resource_limit(void **state)
{
    (void)state;
    flare_ws_url u;
    size_t room = sizeof u.resource - 1; /* the NUL */
    char url[sizeof u.resource + 16];
    size_t head = (size_t)snprintf(url, sizeof url, "ws://h/");
    memset(url + head, 'a', room - 1);
    url[head + room - 1] = '\0';
    assert_int_equal(flare_ws_url_parse(&u, url, NULL), 0);
    assert_int_equal(strlen(u.resource), room);
    strcat(url, "a");
    assert_int_equal(flare_ws_url_parse(&u, url, NULL), FLARE_EURL);
    url[head + room - 4] = '\xe9'; /* "/", room - 4 bytes, then three for the encoding */
    url[head + room - 3] = '\0';
    assert_int_equal(flare_ws_url_parse(&u, url, NULL), 0);
    assert_int_equal(strlen(u.resource), room);
    url[head + room - 4] = 'a';
    url[head + room - 3] = '\xe9';
    url[head + room - 2] = '\0';
    assert_int_equal(flare_ws_url_parse(&u, url, NULL), FLARE_EURL);
}

static void host_is(const char *url, const char *want)
{
    flare_ws_url u;
    assert_int_equal(flare_ws_url_parse(&u, url, NULL), 0);
    char host[FLARE_WS_HOST_HEADER_MAX];
    flare_ws_url_host(&u, host);
    assert_string_equal(host, want);
}

static void test_host_header(void **state)
{
    (void)state;
    host_is("ws://example.com/x", "example.com");
    host_is("wss://example.com:443/", "example.com");
    host_is("wss://example.com:80/", "example.com:80");
    host_is("ws://127.0.0.1:9001", "127.0.0.1:9001");
    host_is("ws://[::1]/", "[::1]");
    host_is("ws://[2001:db8::7]:8080/", "[2001:db8::7]:8080");
    host_is("ws://[fe80::1%251]/", "[fe80::1]"); /* the zone is the client's own business */
    host_is("WS://Example.COM:8080/", "example.com:8080");
    host_is("wss://[2001:DB8::1]:443/", "[2001:db8::1]");
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        /* scheme */
        "http://example.com/",
        "example.com",
        "ws:/example.com",
        "ws:example.com",
        "wss:/h/",
        /* host */
        "ws://",
        "ws://:80/",
        "ws:///path",
        "ws://ho st/",
        "ws://ho%st/",
        "ws://ho%41st/",
        "ws://-bad/",
        "ws://a..b/",
        "ws://ex!ample/",
        "ws://h~st/",
        /* IPv6 literals and RFC 6874 zones */
        "ws://[::1/",
        "ws://[notv6]:80/",
        "ws://[127.0.0.1]/",
        "ws://[v1.fe]/",
        "ws://[::1]x/",
        "ws://[fe80::1%1]/",
        "ws://[::1%25]/",
        "ws://[::1%25a b]/",
        "ws://[fe80::1%25LO]/",
        "ws://[fe80::1%25lo%2F]/",
        /* port */
        "ws://host:0/",
        "ws://host:65536/",
        "ws://host:99999999999999999999/",
        "ws://host:12a/",
        "ws://host:80x/",
        "ws://host:-1/",
        /* userinfo: not in RFC 6455's grammar */
        "ws://user@host/",
        "ws://user:pw@host/",
        "ws://@host/",
        "wss://u%40x@host/",
        /* fragment (§3: "MUST NOT be used"), even an empty one */
        "ws://host#frag",
        "ws://host/p#frag",
        "ws://host/p?q#",
        "ws://host#",
        /* path and query */
        "ws://host/p q",
        "ws://host/p\r\nX: y",
        "ws://host/\x7f",
        "ws://host/%zz",
        "ws://host/a%4",
        "ws://host/?q=%",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_ws_url u;
        flare_error err;
        int rc = flare_ws_url_parse(&u, bad[i], &err);
        if (rc != FLARE_EURL) fail_msg("accepted or wrong code %d: %s", rc, bad[i]);
        if (!strstr(err.message, "invalid URL")) fail_msg("%s: %s", bad[i], err.message);
    }
    /* each refusal says why */
    static const char *const why[][2] = {
        {"ws://user@host/", "userinfo is not allowed (RFC 6455 §3)"},
        {"ws://host/p#f", "a fragment is not allowed (RFC 6455 §3: write '#' as %23)"},
        {"https://host/", "unsupported scheme (expected ws:// or wss://)"},
        {"ws://host:65536/", "port above 65535"},
        {"ws://[fe80::1%1]/", "an IPv6 zone must start with \"%25\""},
    };
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        flare_ws_url u;
        flare_error err;
        assert_int_equal(flare_ws_url_parse(&u, why[i][0], &err), FLARE_EURL);
        if (!strstr(err.message, why[i][1])) fail_msg("%s: %s", why[i][0], err.message);
    }
    flare_ws_url u;
    assert_int_equal(flare_ws_url_parse(&u, NULL, NULL), FLARE_EINVAL);
    char longhost[300];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "ws://", 5);
    longhost[sizeof longhost - 1] = '\0';
    assert_int_equal(flare_ws_url_parse(&u, longhost, NULL), FLARE_EURL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_host_header),
        cmocka_unit_test(test_resource_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
