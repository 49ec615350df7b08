/*
 * test_config_websocket.c: the websocket-route keys of flared.yaml
 * (src/flared/config_websocket.c): defaults, every key read to its value, the
 * shapes `deflate` takes, turning timers off, and each error message with its
 * "FILE:LINE:COLUMN:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "config_harness.h"

#define LISTEN "listeners: [{address: 127.0.0.1:8080}]\n"
#define ROUTE  LISTEN "routes:\n  - path: /ws\n    websocket: "

static const flared_websocket_route *first_ws(const flared_config *cfg)
{
    assert_true(cfg->default_host.route_count >= 1);
    const flared_route *r = &cfg->default_host.routes[0];
    assert_int_equal(r->type, FLARED_ROUTE_WEBSOCKET);
    assert_string_equal(flared_route_type_name(r->type), "websocket");
    return &r->u.websocket;
}

static void test_defaults(void **state)
{
    (void)state;
    /* `websocket:` with nothing after it, and `{}`, take every default. */
    const char *yamls[] = {ROUTE "\n", ROUTE "{}\n"};
    for (size_t i = 0; i < 2; i++) {
        flared_config *cfg = load_ok(yamls[i]);
        const flared_websocket_route *w = first_ws(cfg);
        assert_int_equal(w->mode, FLARED_WEBSOCKET_ECHO);
        assert_int_equal(w->max_message, 16u << 20);
        assert_int_equal(w->ping_interval_ms, 30000);
        assert_int_equal(w->pong_timeout_ms, 10000);
        assert_int_equal(w->close_timeout_ms, 5000);
        assert_int_equal(w->idle_timeout_ms, 300000);
        assert_int_equal(w->max_output, 1u << 20);
        assert_int_equal(w->origin_count, 0);
        assert_int_equal(w->subprotocol_count, 0);
        assert_false(w->deflate);
        assert_int_equal(w->deflate_level, 6);
        assert_int_equal(w->server_max_window_bits, 15);
        assert_int_equal(w->client_max_window_bits, 0);
        assert_true(cfg->default_host.routes[0].any_method);
        flared_config_free(cfg);
    }
}

static void test_every_key(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(
        ROUTE "\n"
              "      mode: echo\n"
              "      max_message: 64k\n"
              "      ping_interval: 15s\n"
              "      pong_timeout: 2s\n"
              "      close_timeout: 500ms\n"
              "      idle_timeout: 1h\n"
              "      max_output: 2m\n"
              "      origins: [\"https://app.example.com\", \"http://localhost:8080\", \"null\",\n"
              "                \"http://[::1]:8080\"]\n"
              "      subprotocols: [chat.v2, chat]\n"
              "      deflate: {level: 1, server_no_context_takeover: true,\n"
              "                client_no_context_takeover: true, server_max_window_bits: 10,\n"
              "                client_max_window_bits: 8}\n");
    const flared_websocket_route *w = first_ws(cfg);
    assert_int_equal(w->max_message, 64 * 1024);
    assert_int_equal(w->ping_interval_ms, 15000);
    assert_int_equal(w->pong_timeout_ms, 2000);
    assert_int_equal(w->close_timeout_ms, 500);
    assert_int_equal(w->idle_timeout_ms, 3600000);
    assert_int_equal(w->max_output, 2u << 20);
    assert_int_equal(w->origin_count, 4);
    assert_string_equal(w->origins[0], "https://app.example.com");
    assert_string_equal(w->origins[1], "http://localhost:8080");
    assert_string_equal(w->origins[2], "null"); /* the Origin of opaque origins (RFC 6454) */
    assert_string_equal(w->origins[3], "http://[::1]:8080");
    assert_int_equal(w->subprotocol_count, 2);
    assert_string_equal(w->subprotocols[0], "chat.v2");
    assert_string_equal(w->subprotocols[1], "chat");
    assert_true(w->deflate);
    assert_int_equal(w->deflate_level, 1);
    assert_true(w->server_no_context_takeover);
    assert_true(w->client_no_context_takeover);
    assert_int_equal(w->server_max_window_bits, 10);
    assert_int_equal(w->client_max_window_bits, 8);
    flared_config_free(cfg);
}

static void test_deflate_shapes_and_off(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(ROUTE "{deflate: true, ping_interval: off, idle_timeout: off}\n");
    const flared_websocket_route *w = first_ws(cfg);
    assert_true(w->deflate);
    assert_int_equal(w->deflate_level, 6);
    assert_false(w->server_no_context_takeover);
    assert_int_equal(w->ping_interval_ms, 0);
    assert_int_equal(w->idle_timeout_ms, 0);
    flared_config_free(cfg);
    cfg = load_ok(ROUTE "{deflate: false}\n");
    assert_false(first_ws(cfg)->deflate);
    flared_config_free(cfg);
    cfg = load_ok(ROUTE "{deflate: }\n");
    assert_true(first_ws(cfg)->deflate); /* `deflate:` alone is `deflate: {}`: on */
    flared_config_free(cfg);
    cfg = load_ok(ROUTE "{deflate: {level: 9}}\n");
    assert_true(first_ws(cfg)->deflate);
    assert_int_equal(first_ws(cfg)->deflate_level, 9);
    flared_config_free(cfg);
}

static void test_with_other_route_keys(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - path: /chat/\n"
                                        "    headers: {X-Frame: deny}\n"
                                        "    websocket: {subprotocols: [chat]}\n"
                                        "  - path: /plain\n"
                                        "    text: {body: hi}\n");
    const flared_route *r = &cfg->default_host.routes[0];
    assert_int_equal(r->type, FLARED_ROUTE_WEBSOCKET);
    assert_true(r->is_prefix);
    assert_int_equal(r->header_count, 1);
    assert_int_equal(cfg->default_host.routes[1].type, FLARED_ROUTE_TEXT);
    flared_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(ROUTE "[echo]\n", "t.yaml:4:16: websocket: expected a mapping, got a list");
    expect_error(ROUTE "{mode: broadcast}\n",
                 "t.yaml:4:23: mode: 'broadcast' is not supported; the only mode is echo");
    expect_error(ROUTE "{echo: true}\n",
                 "t.yaml:4:17: unknown key 'echo' in websocket; allowed: mode, max_message, "
                 "ping_interval, pong_timeout, close_timeout, idle_timeout, max_output, origins, "
                 "subprotocols, deflate");
    expect_error(ROUTE "{max_message: 0}\n", "t.yaml:4:30: max_message: '0' is out of range 1..1g");
    expect_error(ROUTE "{max_message: 2g}\n",
                 "t.yaml:4:30: max_message: '2g' is out of range 1..1g");
    expect_error(ROUTE "{max_output: 100}\n",
                 "t.yaml:4:29: max_output: '100' is out of range 1k..1g");
    expect_error(ROUTE "{ping_interval: 30}\n",
                 "t.yaml:4:32: ping_interval: duration '30' has no unit; add ms, s, m or h "
                 "(e.g. 10s); or off to turn it off");
    expect_error(ROUTE "{pong_timeout: off}\n",
                 "t.yaml:4:31: pong_timeout: invalid duration 'off'; write a number with ms, s, "
                 "m or h (e.g. 10s)");
    expect_error(ROUTE "{idle_timeout: forever}\n",
                 "t.yaml:4:31: idle_timeout: invalid duration 'forever'; write a number with ms, "
                 "s, m or h (e.g. 10s); or off to turn it off");
    expect_error(ROUTE "{origins: []}\n", "t.yaml:4:26: origins: empty list; omit the key instead");
    expect_error(ROUTE "{origins: example.com}\n",
                 "t.yaml:4:26: origins: expected a list, got 'example.com'");
    expect_error(ROUTE "{origins: [example.com]}\n",
                 "t.yaml:4:27: origins: 'example.com' is not an origin like "
                 "https://example.com");
    expect_error(ROUTE "{origins: [\"https://example.com/\"]}\n",
                 "t.yaml:4:27: origins: 'https://example.com/' has a path; an origin is "
                 "scheme://host[:port] only");
    expect_error(ROUTE "{origins: [\"https://Example.com\"]}\n",
                 "t.yaml:4:27: origins: 'https://Example.com' has upper-case letters; origins "
                 "are lower-case");
    /* RFC 6454 §6.2: browsers leave the scheme's default port out, so an entry
     * that names it could never match. */
    expect_error(ROUTE "{origins: [\"https://a.example:443\"]}\n",
                 "t.yaml:4:27: origins: 'https://a.example:443' names the default port, which "
                 "browsers leave out; remove ':443'");
    expect_error(ROUTE "{origins: [\"http://[::1]:80\"]}\n",
                 "t.yaml:4:27: origins: 'http://[::1]:80' names the default port, which browsers "
                 "leave out; remove ':80'");
    expect_error(ROUTE "{origins: [\"https://a.example:08443\"]}\n",
                 "t.yaml:4:27: origins: 'https://a.example:08443' has a port that is not 1..65535 "
                 "without leading zeros");
    expect_error(ROUTE "{origins: [\"https://a.example:\"]}\n",
                 "t.yaml:4:27: origins: 'https://a.example:' has a port that is not 1..65535 "
                 "without leading zeros");
    expect_error(ROUTE "{origins: [\"https://a.example:70000\"]}\n",
                 "t.yaml:4:27: origins: 'https://a.example:70000' has a port that is not 1..65535 "
                 "without leading zeros");
    expect_error(ROUTE "{origins: [\"https://a.example\", \"https://a.example\"]}\n",
                 "t.yaml:4:48: origins: 'https://a.example' is listed twice; first at line 4, "
                 "column 27");
    expect_error(ROUTE "{subprotocols: [\"chat v2\"]}\n",
                 "t.yaml:4:32: subprotocols: 'chat v2' is not a token (letters, digits and "
                 "!#$%&'*+-.^_`|~ only)");
    expect_error(ROUTE "{subprotocols: [chat, chat]}\n",
                 "t.yaml:4:38: subprotocols: 'chat' is listed twice; first at line 4, column 32");
    expect_error(ROUTE "{deflate: maybe}\n",
                 "t.yaml:4:26: deflate: expected true, false or a mapping of level, "
                 "server_no_context_takeover, client_no_context_takeover, "
                 "server_max_window_bits and client_max_window_bits, got 'maybe'");
    expect_error(ROUTE "{deflate: {level: 0}}\n", "t.yaml:4:34: level: '0' is out of range 1..9");
    expect_error(ROUTE "{deflate: {server_max_window_bits: 8}}\n",
                 "t.yaml:4:51: server_max_window_bits: '8' is out of range 9..15");
    expect_error(ROUTE "{deflate: {client_max_window_bits: 16}}\n",
                 "t.yaml:4:51: client_max_window_bits: '16' is out of range 8..15");
    expect_error(ROUTE "{deflate: {window: 9}}\n",
                 "t.yaml:4:27: unknown key 'window' in deflate; allowed: level, "
                 "server_no_context_takeover, client_no_context_takeover, "
                 "server_max_window_bits, client_max_window_bits");
    expect_error(ROUTE "{mode: echo, mode: echo}\n",
                 "t.yaml:4:29: duplicate key 'mode'; first set at line 4, column 17");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_deflate_shapes_and_off),
        cmocka_unit_test(test_with_other_route_keys),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
