/*
 * test_handshake.c: the server side of the opening handshake over requests
 * parsed by the real HTTP parser: the RFC 6455 §1.3 accept example, every
 * rejection with its status (400, 403, 426), Origin allow-lists, subprotocol
 * choice in the server's order, permessage-deflate negotiation (including the
 * 8-bit window zlib cannot write) and the response bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static flare_http_header headers[64];
static flare_http_request req;
static char raw[4096];

/* Parses "GET / HTTP/1.1" plus the given header lines. */
static const flare_http_request *parse(const char *request_line, const char *fields)
{
    snprintf(raw, sizeof raw, "%s\r\nHost: example.com\r\n%s\r\n", request_line, fields);
    memset(&req, 0, sizeof req);
    req.headers = headers;
    req.max_headers_capacity = 64;
    int status = 0;
    ssize_t n = flare_http_parse_request(raw, strlen(raw), 0, NULL, &req, &status);
    if (n <= 0) fail_msg("request did not parse (%zd, status %d): %s", n, status, raw);
    return &req;
}

#define GOOD_FIELDS                                                                                \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"                  \
    "Sec-WebSocket-Version: 13\r\n"

static void expect_status(const char *line, const char *fields, const flare_ws_server_options *o,
                          int status)
{
    flare_ws_handshake hs;
    flare_error err;
    int rc = flare_ws_server_handshake(parse(line, fields), o, &hs, &err);
    if (hs.status != status)
        fail_msg("expected %d, got %d (%s) for:\n%s", status, hs.status,
                 hs.reason ? hs.reason : "-", raw);
    if (status == 101) {
        assert_int_equal(rc, 0);
        assert_null(hs.reason);
    } else {
        assert_int_equal(rc, FLARE_EPROTO);
        assert_non_null(hs.reason);
        assert_non_null(strstr(err.message, hs.reason));
    }
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[FLARE_WS_ACCEPT_LEN + 1];
    assert_int_equal(flare_ws_accept_key(KEY, strlen(KEY), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 §1.3 */
    assert_true(flare_ws_key_valid(KEY, strlen(KEY)));
    assert_true(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA==", 24));
    assert_false(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAA=", 24)); /* 17 bytes */
    assert_false(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAAA", 24));
    assert_false(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAAA==", 23));
    assert_false(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 32));
    assert_false(flare_ws_key_valid("AAAAAAAAAAAAAAAAAAAA*A==", 24));
    assert_false(flare_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ", 22));
}

static void test_accepts_valid_request(void **state)
{
    (void)state;
    flare_ws_handshake hs;
    assert_int_equal(
        flare_ws_server_handshake(parse("GET /chat HTTP/1.1", GOOD_FIELDS), NULL, &hs, NULL), 0);
    assert_int_equal(hs.status, 101);
    assert_string_equal(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_null(hs.subprotocol);
    assert_false(hs.deflate);
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_handshake_response(&hs, &out), 0);
    const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                        "\r\n\r\n";
    assert_int_equal(out.len, sizeof want - 1);
    assert_memory_equal(out.data, want, out.len);
    /* Tokens are case-insensitive and may sit in lists. */
    expect_status("GET / HTTP/1.1",
                  "upgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                  "sec-websocket-key: " KEY "\r\nsec-websocket-version: 13\r\n",
                  NULL, 101);
    flare_buf_free(&out);
}

static void test_rejections(void **state)
{
    (void)state;
    expect_status("POST / HTTP/1.1", GOOD_FIELDS "Content-Length: 0\r\n", NULL, 400);
    expect_status("HEAD / HTTP/1.1", GOOD_FIELDS, NULL, 400);
    expect_status("GET / HTTP/1.0", GOOD_FIELDS, NULL, 400);
    expect_status("GET / HTTP/1.1",
                  "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  NULL, 400);
    expect_status("GET / HTTP/1.1",
                  "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  NULL, 400);
    expect_status("GET / HTTP/1.1",
                  "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  NULL, 400);
    expect_status("GET / HTTP/1.1",
                  "Upgrade: websocket\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  NULL, 400);
    /* Version: missing, wrong, or repeated -> 426. */
    expect_status("GET / HTTP/1.1",
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n",
                  NULL, 426);
    expect_status("GET / HTTP/1.1",
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 8\r\n",
                  NULL, 426);
    expect_status("GET / HTTP/1.1",
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
                  NULL, 426);
    /* Key: missing, wrong length, not base64, repeated -> 400. */
    const char *bad_keys[] = {"", "Sec-WebSocket-Key: AAAA\r\n",
                              "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n",
                              "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAA!AA==\r\n",
                              "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Key: " KEY "\r\n"};
    char fields[512];
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        snprintf(fields, sizeof fields,
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n%sSec-WebSocket-Version: 13\r\n",
                 bad_keys[i]);
        expect_status("GET / HTTP/1.1", fields, NULL, 400);
    }
}

static void test_rejection_responses(void **state)
{
    (void)state;
    flare_ws_handshake hs;
    flare_ws_server_handshake(parse("GET / HTTP/1.1",
                                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 7\r\n"),
                              NULL, &hs, NULL);
    assert_int_equal(hs.status, 426);
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_handshake_headers(&hs, &out), 0);
    assert_non_null(memmem(out.data, out.len, "Sec-WebSocket-Version: 13\r\n", 27));
    /* RFC 9110 §7.8: a response with Upgrade also says Connection: upgrade. */
    assert_non_null(memmem(out.data, out.len, "Upgrade: websocket\r\n", 20));
    assert_non_null(memmem(out.data, out.len, "Connection: Upgrade\r\n", 21));
    out.len = 0;
    assert_int_equal(flare_ws_handshake_response(&hs, &out), 0);
    assert_int_equal(flare_buf_append(&out, "", 1), 0);
    assert_true(strncmp(out.data, "HTTP/1.1 426 Upgrade Required\r\n", 31) == 0);
    assert_non_null(strstr(out.data, "Sec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(out.data, "Connection: close\r\n"));
    /* The response parses, and its body is the reason. */
    flare_http_header h[16];
    flare_http_response r = {.headers = h, .max_headers_capacity = 16};
    ssize_t n = flare_http_parse_response(out.data, out.len - 1, 0, &r);
    assert_true(n > 0);
    assert_int_equal(r.status, 426);
    assert_int_equal((size_t)r.content_length, out.len - 1 - (size_t)n);
    flare_buf_free(&out);
}

static void test_origins(void **state)
{
    (void)state;
    const char *origins[] = {"https://example.com", "http://localhost:8080"};
    flare_ws_server_options o = {.origins = origins, .num_origins = 2};
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: https://example.com\r\n", &o, 101);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: http://localhost:8080\r\n", &o, 101);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: https://evil.example\r\n", &o, 403);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: https://example.com.evil\r\n", &o, 403);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: https://example.co\r\n", &o, 403);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS, &o, 403); /* absent */
    /* Empty list: anything, even none. */
    flare_ws_server_options any = {0};
    expect_status("GET / HTTP/1.1", GOOD_FIELDS "Origin: https://evil.example\r\n", &any, 101);
    expect_status("GET / HTTP/1.1", GOOD_FIELDS, &any, 101);
}

static void test_subprotocols(void **state)
{
    (void)state;
    const char *ours[] = {"graphql-ws", "chat.v2", "chat"};
    flare_ws_server_options o = {.subprotocols = ours, .num_subprotocols = 3};
    flare_ws_handshake hs;
    /* Our order wins over the client's. */
    flare_ws_server_handshake(
        parse("GET / HTTP/1.1", GOOD_FIELDS "Sec-WebSocket-Protocol: chat, chat.v2\r\n"), &o, &hs,
        NULL);
    assert_string_equal(hs.subprotocol, "chat.v2");
    /* Several header lines count together. */
    flare_ws_server_handshake(parse("GET / HTTP/1.1",
                                    GOOD_FIELDS "Sec-WebSocket-Protocol: a\r\n"
                                                "Sec-WebSocket-Protocol: chat\r\n"),
                              &o, &hs, NULL);
    assert_string_equal(hs.subprotocol, "chat");
    /* No overlap, or none offered: no protocol, still accepted. */
    flare_ws_server_handshake(parse("GET / HTTP/1.1", GOOD_FIELDS "Sec-WebSocket-Protocol: x\r\n"),
                              &o, &hs, NULL);
    assert_int_equal(hs.status, 101);
    assert_null(hs.subprotocol);
    flare_ws_server_handshake(parse("GET / HTTP/1.1", GOOD_FIELDS), &o, &hs, NULL);
    assert_null(hs.subprotocol);
    flare_ws_server_handshake(
        parse("GET / HTTP/1.1", GOOD_FIELDS "Sec-WebSocket-Protocol: chat.v2x, xchat\r\n"), &o, &hs,
        NULL);
    assert_null(hs.subprotocol);
    /* Names compare exactly: "Chat" is not "chat". */
    flare_ws_server_handshake(
        parse("GET / HTTP/1.1", GOOD_FIELDS "Sec-WebSocket-Protocol: Chat\r\n"), &o, &hs, NULL);
    assert_null(hs.subprotocol);
    flare_buf out = FLARE_BUF_INIT;
    flare_ws_server_handshake(
        parse("GET / HTTP/1.1", GOOD_FIELDS "Sec-WebSocket-Protocol: chat\r\n"), &o, &hs, NULL);
    flare_ws_handshake_headers(&hs, &out);
    assert_int_equal(flare_buf_append(&out, "", 1), 0);
    assert_non_null(strstr(out.data, "Sec-WebSocket-Protocol: chat\r\n"));
    flare_buf_free(&out);
}

/* Negotiates with the given options and offer; returns the extension answer. */
static const char *negotiate(const flare_ws_server_options *o, const char *offer,
                             flare_ws_handshake *hs)
{
    char fields[1024];
    snprintf(fields, sizeof fields, GOOD_FIELDS "%s", offer);
    assert_int_equal(flare_ws_server_handshake(parse("GET / HTTP/1.1", fields), o, hs, NULL), 0);
    return hs->extensions;
}

static void test_permessage_deflate(void **state)
{
    (void)state;
    flare_ws_server_options o = {.deflate = true};
    flare_ws_handshake hs;
    const char *pmd = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    assert_string_equal(negotiate(&o, pmd, &hs), "permessage-deflate");
    assert_true(hs.deflate);
    assert_int_equal(hs.deflate_params.server_max_window_bits, 15);
    assert_int_equal(hs.deflate_params.client_max_window_bits, 15);
    /* Off in the options: the offer is ignored. */
    flare_ws_server_options off = {0};
    assert_string_equal(negotiate(&off, pmd, &hs), "");
    assert_false(hs.deflate);
    /* Not offered. */
    assert_string_equal(negotiate(&o, "", &hs), "");
    assert_false(hs.deflate);
    /* The typical browser offer. */
    assert_string_equal(
        negotiate(&o, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
                  &hs),
        "permessage-deflate");
    /* Client's context takeover choices are echoed. */
    negotiate(&o,
              "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
              "client_no_context_takeover\r\n",
              &hs);
    assert_string_equal(hs.extensions, "permessage-deflate; server_no_context_takeover; "
                                       "client_no_context_takeover");
    assert_true(hs.deflate_params.server_no_context_takeover);
    assert_true(hs.deflate_params.client_no_context_takeover);
    /* A smaller server window requested: accepted with that value. */
    negotiate(&o, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
              &hs);
    assert_string_equal(hs.extensions, "permessage-deflate; server_max_window_bits=10");
    assert_int_equal(hs.deflate_params.server_max_window_bits, 10);
    /* 8 bits for our compressor: zlib cannot; this offer is declined, the
     * client's fallback offer is taken. */
    negotiate(&o,
              "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8, "
              "permessage-deflate; server_max_window_bits=9\r\n",
              &hs);
    assert_string_equal(hs.extensions, "permessage-deflate; server_max_window_bits=9");
    negotiate(&o, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n",
              &hs);
    assert_false(hs.deflate);
    assert_string_equal(hs.extensions, "");
    /* The client's own 8-bit window is fine: we only inflate it. */
    negotiate(&o, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8\r\n",
              &hs);
    assert_true(hs.deflate);
    assert_string_equal(hs.extensions, "permessage-deflate; client_max_window_bits=8");
    /* Invalid offers are declined; a later valid one in another header counts. */
    negotiate(&o,
              "Sec-WebSocket-Extensions: permessage-deflate; bogus, permessage-deflate; "
              "server_max_window_bits=20\r\n",
              &hs);
    assert_false(hs.deflate);
    negotiate(&o,
              "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
              &hs);
    assert_true(hs.deflate);
    assert_string_equal(hs.extensions, "permessage-deflate; client_no_context_takeover");
    /* Server preferences: its own window and no-takeover, and a client limit. */
    flare_ws_server_options pref = {.deflate = true,
                                    .server_no_context_takeover = true,
                                    .server_max_window_bits = 8, /* raised to 9 */
                                    .client_max_window_bits = 10};
    negotiate(&pref, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
              &hs);
    assert_string_equal(hs.extensions, "permessage-deflate; server_no_context_takeover; "
                                       "server_max_window_bits=9; client_max_window_bits=10");
    /* Without client_max_window_bits in the offer, no limit may be sent. */
    negotiate(&pref, "Sec-WebSocket-Extensions: permessage-deflate\r\n", &hs);
    assert_null(strstr(hs.extensions, "client_max_window_bits"));
    /* The negotiated parameters build working compressors on both sides. */
    flare_ws_deflate *srv;
    assert_int_equal(flare_ws_deflate_new(&srv, &hs.deflate_params, true, -1, NULL), 0);
    flare_ws_deflate_free(srv);
    flare_buf out = FLARE_BUF_INIT;
    flare_ws_handshake_headers(&hs, &out);
    assert_int_equal(flare_buf_append(&out, "", 1), 0);
    assert_non_null(strstr(out.data, "Sec-WebSocket-Extensions: permessage-deflate; "));
    flare_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_accepts_valid_request),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_rejection_responses),
        cmocka_unit_test(test_origins),
        cmocka_unit_test(test_subprotocols),
        cmocka_unit_test(test_permessage_deflate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
