/*
 * test_url.c: ws:// and wss:// URL parsing (RFC 6455 §3): default and explicit
 * ports, IPv6 literals, resource forms, and everything refused (other schemes,
 * fragments, userinfo, controls, bad ports and hosts).
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
    ok("WSS://Example.com/chat?room=1&x=y", true, "Example.com", 443, true, "/chat?room=1&x=y");
    ok("ws://127.0.0.1:9001/path/deep", false, "127.0.0.1", 9001, false, "/path/deep");
    ok("ws://[::1]:8080/x", false, "::1", 8080, false, "/x");
    ok("ws://[2001:db8::7]", false, "2001:db8::7", 80, true, "/");
    ok("ws://host:80/", false, "host", 80, true, "/");
    ok("wss://host:80/", true, "host", 80, false, "/");
    ok("ws://host?q=1", false, "host", 80, true, "/?q=1");
    ok("ws://my_host-1.local:65535", false, "my_host-1.local", 65535, false, "/");
    /* A request-target is ASCII (RFC 9112 §3.2): UTF-8 is percent-encoded. */
    ok("ws://host/caf\xc3\xa9?q=\xff", false, "host", 80, true, "/caf%C3%A9?q=%FF");
    /* An RFC 6874 zone is kept for connecting (numeric: no interface names here). */
    ok("ws://[fe80::1%251]:8080/", false, "fe80::1%1", 8080, false, "/");
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
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "http://example.com/", "example.com",       "ws:/example.com",     "ws://",
        "ws://:80/",           "ws://host:/",       "ws://host:0/",        "ws://host:65536/",
        "ws://host:12a/",      "ws://host#frag",    "ws://host/p#frag",    "ws://user@host/",
        "ws://ho st/",         "ws://host/p q",     "ws://host/p\r\nX: y", "ws://[::1/",
        "ws://[notv6]:80/",    "ws://[127.0.0.1]/", "ws://host:80x/",      "ws://ho%st/",
        "ws://[::1]x/",        "ws://[fe80::1%1]/", "ws://[::1%25]/",      "ws://[::1%25a b]/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_ws_url u;
        flare_error err;
        int rc = flare_ws_url_parse(&u, bad[i], &err);
        if (rc != FLARE_EURL) fail_msg("accepted or wrong code %d: %s", rc, bad[i]);
        assert_non_null(strstr(err.message, "ws url"));
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
