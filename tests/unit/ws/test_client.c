/*
 * test_client.c: the client against an echo server made of the ws layer's own
 * server pieces (echo_server.h) on loopback: echo of text and binary (up to
 * 1 MiB), fresh non-zero mask keys, pings both ways, fragmented and dribbled
 * replies, early data after the 101, subprotocols, permessage-deflate, the close
 * handshake from either side (its wait one deadline however chatty the server),
 * sends to a server that stops reading (bounded as reads are, and the close
 * frame by the close wait even with no read timeout),
 * protocol breaches by the server, size limits, timeouts, IPv6, and every
 * handshake answer the client must refuse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "echo_server.h"

static char url[128];

static void start(echo_server *s, server_mode mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    assert_true(server_start(s, "127.0.0.1:0"));
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo?x=1", s->l.local.port);
}

static flare_ws_client *connect_ok(const flare_ws_client_options *o)
{
    flare_ws_client *c;
    flare_error err;
    int rc = flare_ws_connect(&c, url, o, &err);
    if (rc < 0) fail_msg("connect %s: %s", url, err.message);
    return c;
}

static void expect_echo(flare_ws_client *c, flare_ws_opcode op, const void *data, size_t len)
{
    flare_error err;
    int rc = op == FLARE_WS_OP_TEXT ? flare_ws_send_text(c, data, len, &err)
                                    : flare_ws_send_binary(c, data, len, &err);
    if (rc < 0) fail_msg("send: %s", err.message);
    flare_ws_message m;
    rc = flare_ws_recv_message(c, &m, &err);
    if (rc < 0) fail_msg("recv: %s", err.message);
    assert_int_equal(m.opcode, op);
    assert_int_equal(m.len, len);
    if (len) assert_memory_equal(m.data, data, len);
}

static void test_echo_and_masks(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_NORMAL);
    flare_ws_client *c = connect_ok(NULL);
    assert_null(flare_ws_client_subprotocol(c));
    assert_null(flare_ws_client_deflate(c));
    assert_int_equal(flare_ws_client_close_code(c), 0);
    expect_echo(c, FLARE_WS_OP_TEXT, "hello", 5);
    expect_echo(c, FLARE_WS_OP_TEXT, "", 0);
    expect_echo(c, FLARE_WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
    const size_t sizes[] = {1, 125, 126, 65535, 65536, 100000, 1 << 20};
    char *big = malloc(1 << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        big[i] = (char)(i * 31 + 7);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        expect_echo(c, FLARE_WS_OP_BINARY, big, sizes[i]);
    free(big);
    flare_error err;
    assert_int_equal(flare_ws_send_text(c, "\xff", 1, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_close(c, 1000, "done", &err), 0);
    assert_int_equal(flare_ws_client_close_code(c), 1000); /* echoed by the server */
    assert_int_equal(flare_ws_send_text(c, "late", 4, &err), FLARE_ECLOSED);
    flare_ws_message m;
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ECLOSED);
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.client_close, 1000);
    /* The request carried the path and the usual fields. */
    assert_non_null(strstr(s.request, "GET /echo?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.request, "Sec-WebSocket-Version: 13\r\n"));
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%u\r\n", s.l.local.port);
    assert_non_null(strstr(s.request, host));
    /* §5.3: every frame masked, with a fresh non-zero key. */
    assert_true(s.nmasks >= 11);
    for (size_t i = 0; i < s.nmasks; i++) {
        uint32_t k;
        memcpy(&k, s.masks[i], 4);
        assert_true(k != 0);
        for (size_t j = 0; j < i; j++)
            if (memcmp(s.masks[i], s.masks[j], 4) == 0) fail_msg("mask %zu repeats %zu", i, j);
    }
}

static void test_pings_fragments_and_dribble(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_NORMAL);
    flare_ws_client_options o = {.deliver_control = true};
    flare_ws_client *c = connect_ok(&o);
    flare_error err;
    flare_ws_message m;
    /* Our ping is answered. */
    assert_int_equal(flare_ws_ping(c, "abc", 3, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_PONG);
    assert_memory_equal(m.data, "abc", 3);
    char p126[126] = {0};
    assert_int_equal(flare_ws_ping(c, p126, 126, &err), FLARE_EINVAL);
    /* The server's ping is answered automatically (and shown to us). */
    assert_int_equal(flare_ws_send_text(c, "ping-me", 7, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_PING);
    assert_memory_equal(m.data, "srv", 3);
    /* A fragmented reply with a ping inside, a code point split between fragments. */
    assert_int_equal(flare_ws_send_text(c, "frag", 4, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_PING);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_TEXT);
    assert_int_equal(m.len, 4);
    assert_memory_equal(m.data, "fr\xc3\xa9", 4);
    /* One byte per TCP segment. */
    assert_int_equal(flare_ws_send_text(c, "dribble", 7, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.len, 8);
    assert_memory_equal(m.data, "dribbled", 8);
    /* Fragmented sending through raw frames. */
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_TEXT, false, "ab", 2, &err), 0);
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_PING, true, "", 0, &err), 0);
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_CONTINUATION, true, "cd", 2, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_PONG);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_TEXT);
    assert_memory_equal(m.data, "abcd", 4);
    assert_int_equal(flare_ws_send_frame(c, 3, true, "", 0, &err), FLARE_EINVAL);
    /* The server closes: we answer with its code and report it. */
    assert_int_equal(flare_ws_send_text(c, "close-me", 8, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ECLOSED);
    assert_int_equal(flare_ws_client_close_code(c), 4000);
    assert_string_equal(flare_ws_client_close_reason(c), "bye");
    assert_int_equal(flare_ws_close(c, 1000, NULL, &err), 0); /* already closed: fine */
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.pongs, 2); /* "srv" and "mid" */
    assert_int_equal(s.client_close, 4000);
}

static void test_server_breaks_rules(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_NORMAL);
    flare_ws_client *c = connect_ok(NULL);
    flare_error err;
    flare_ws_message m;
    assert_int_equal(flare_ws_send_text(c, "bad-frame", 9, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_EPROTO); /* masked server frame */
    assert_non_null(strstr(err.message, "masked"));
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ECLOSED);
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.client_close, 1002);

    /* A message over the client's limit. */
    start(&s, MODE_NORMAL);
    flare_ws_client_options o = {.max_message = 1000};
    c = connect_ok(&o);
    char big[2000] = {0};
    assert_int_equal(flare_ws_send_binary(c, big, sizeof big, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ELIMIT);
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.client_close, 1009);

    /* The server vanishes without a close frame. */
    start(&s, MODE_NORMAL);
    c = connect_ok(NULL);
    assert_int_equal(flare_ws_send_text(c, "drop", 4, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ECLOSED);
    assert_int_equal(flare_ws_client_close_code(c), 1006);
    assert_int_equal(flare_ws_close(c, 1000, NULL, &err), FLARE_ECLOSED);
    flare_ws_client_free(c);
    server_join(&s);
}

static void test_early_data_and_timeout(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_EARLY_DATA);
    flare_ws_client_options o = {.read_timeout_ms = 200};
    flare_ws_client *c = connect_ok(&o);
    flare_error err;
    flare_ws_message m;
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "early", 5);
    /* Nothing more comes: the read times out and the connection stays usable. */
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ETIMEDOUT);
    expect_echo(c, FLARE_WS_OP_TEXT, "still here", 10);
    assert_int_equal(flare_ws_close(c, 1001, "going", &err), 0);
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.client_close, 1001);

    /* A server that never answers the handshake. */
    start(&s, MODE_SILENT);
    o.read_timeout_ms = 300;
    assert_int_equal(flare_ws_connect(&c, url, &o, &err), FLARE_ETIMEDOUT);
    assert_null(c);
    server_join(&s);

    /* One that dribbles its 101 a byte per 30 ms: every read is quick, the head
     * would take 4 s, and the handshake gives up at its one deadline. */
    start(&s, MODE_DRIBBLE_HEAD);
    o.read_timeout_ms = 500;
    uint64_t start_ms = flare_monotonic_ms();
    assert_int_equal(flare_ws_connect(&c, url, &o, &err), FLARE_ETIMEDOUT);
    uint64_t waited = flare_monotonic_ms() - start_ms;
    assert_true(waited >= 450);
    assert_true(waited < 2000);
    assert_null(c);
    server_join(&s);
}

static void test_handshake_refusals(void **state)
{
    (void)state;
    const struct {
        server_mode mode;
        int rc;
        const char *text;
    } cases[] = {
        {MODE_BAD_ACCEPT, FLARE_EPROTO, "Sec-WebSocket-Accept"},
        {MODE_STATUS_403, FLARE_EHTTP_STATUS, "403"},
        {MODE_NO_UPGRADE, FLARE_EPROTO, "Upgrade"},
        {MODE_BAD_PROTOCOL, FLARE_EPROTO, "subprotocol"},
        {MODE_BAD_EXTENSION, FLARE_EPROTO, "extension"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        echo_server s;
        start(&s, cases[i].mode);
        const char *protos[] = {"chat"};
        flare_ws_client_options o = {.subprotocols = protos, .num_subprotocols = 1};
        flare_ws_client *c;
        flare_error err;
        int rc = flare_ws_connect(&c, url, &o, &err);
        if (rc != cases[i].rc || !strstr(err.message, cases[i].text))
            fail_msg("mode %d: rc %d \"%s\"", cases[i].mode, rc, err.message);
        assert_null(c);
        server_join(&s);
    }
    /* Refused before any connection is made. */
    flare_ws_client *c;
    flare_error err;
    assert_int_equal(flare_ws_connect(&c, "wss://127.0.0.1:1/", NULL, &err), FLARE_ECONNREFUSED);
    assert_int_equal(flare_ws_connect(&c, "http://x/", NULL, &err), FLARE_EURL);
    const char *bad_proto[] = {"has space"};
    flare_ws_client_options o = {.subprotocols = bad_proto, .num_subprotocols = 1};
    echo_server s;
    start(&s, MODE_SILENT);
    assert_int_equal(flare_ws_connect(&c, url, &o, &err), FLARE_EINVAL);
    server_join(&s);
    /* Nobody listening. */
    flare_tcp_listener l;
    flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, NULL);
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", l.local.port);
    flare_tcp_listener_close(&l);
    assert_int_equal(flare_ws_connect(&c, url, NULL, &err), FLARE_ECONNREFUSED);
}

static void test_subprotocol_and_origin(void **state)
{
    (void)state;
    echo_server s;
    memset(&s, 0, sizeof s);
    const char *server_protos[] = {"v2.chat", "chat"};
    const char *origins[] = {"https://app.example"};
    s.opts = (flare_ws_server_options){
        .subprotocols = server_protos, .num_subprotocols = 2, .origins = origins, .num_origins = 1};
    assert_true(server_start(&s, "127.0.0.1:0"));
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", s.l.local.port);
    const char *client_protos[] = {"chat", "v2.chat"};
    flare_ws_client_options o = {
        .subprotocols = client_protos, .num_subprotocols = 2, .origin = "https://app.example"};
    flare_ws_client *c = connect_ok(&o);
    assert_string_equal(flare_ws_client_subprotocol(c), "v2.chat");
    expect_echo(c, FLARE_WS_OP_TEXT, "x", 1);
    flare_ws_client_free(c); /* no close handshake: the server sees EOF */
    server_join(&s);
    assert_non_null(strstr(s.request, "Sec-WebSocket-Protocol: chat, v2.chat\r\n"));
    assert_non_null(strstr(s.request, "Origin: https://app.example\r\n"));
    /* A wrong origin gets the server's 403. */
    memset(&s, 0, sizeof s);
    s.opts = (flare_ws_server_options){.origins = origins, .num_origins = 1};
    assert_true(server_start(&s, "127.0.0.1:0"));
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", s.l.local.port);
    o = (flare_ws_client_options){.origin = "https://evil.example"};
    flare_error err;
    assert_int_equal(flare_ws_connect(&c, url, &o, &err), FLARE_EHTTP_STATUS);
    assert_non_null(strstr(err.message, "403"));
    server_join(&s);
}

static void test_permessage_deflate(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        echo_server s;
        memset(&s, 0, sizeof s);
        s.opts.deflate = true;
        if (variant == 1)
            s.opts.server_no_context_takeover = s.opts.client_no_context_takeover = true;
        if (variant == 2) s.opts.server_max_window_bits = 10, s.opts.client_max_window_bits = 9;
        /* 8 bits for us: zlib cannot write that, so the client sends uncompressed. */
        if (variant == 3) s.opts.client_max_window_bits = 8;
        assert_true(server_start(&s, "127.0.0.1:0"));
        snprintf(url, sizeof url, "ws://127.0.0.1:%u/", s.l.local.port);
        flare_ws_client_options o = {.deflate = true};
        flare_ws_client *c = connect_ok(&o);
        const flare_ws_deflate_params *p = flare_ws_client_deflate(c);
        assert_non_null(p);
        assert_int_equal(p->client_no_context_takeover, variant == 1);
        assert_int_equal(p->server_max_window_bits, variant == 2 ? 10 : 15);
        assert_int_equal(p->client_max_window_bits, variant == 2 ? 9 : variant == 3 ? 8 : 15);
        char text[5000];
        for (size_t i = 0; i < sizeof text; i++)
            text[i] = "abcdefgh "[i % 9];
        for (int i = 0; i < 4; i++)
            expect_echo(c, FLARE_WS_OP_TEXT, text, sizeof text);
        expect_echo(c, FLARE_WS_OP_BINARY, "", 0);
        flare_error err;
        assert_int_equal(flare_ws_close(c, 1000, NULL, &err), 0);
        flare_ws_client_free(c);
        server_join(&s);
        assert_true(s.negotiated_deflate);
        assert_int_equal(s.compressed_frames, variant == 3 ? 0 : 5);
        assert_non_null(strstr(s.request, "Sec-WebSocket-Extensions: permessage-deflate; "
                                          "client_max_window_bits\r\n"));
    }
}

static void test_ipv6(void **state)
{
    (void)state;
    echo_server s;
    memset(&s, 0, sizeof s);
    if (!server_start(&s, "[::1]:0")) skip();
    snprintf(url, sizeof url, "ws://[::1]:%u/v6", s.l.local.port);
    flare_ws_client *c = connect_ok(NULL);
    expect_echo(c, FLARE_WS_OP_TEXT, "six", 3);
    flare_error err;
    assert_int_equal(flare_ws_close(c, 0, NULL, &err), 0);
    assert_int_equal(flare_ws_client_close_code(c), 1005); /* we sent none; none came back */
    flare_ws_client_free(c);
    server_join(&s);
    char host[64];
    snprintf(host, sizeof host, "Host: [::1]:%u\r\n", s.l.local.port);
    assert_non_null(strstr(s.request, host));
    assert_int_equal(s.client_close, 1005);
}

static void test_close_wait_is_one_deadline(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_CHATTY);
    flare_ws_client_options o = {.read_timeout_ms = 300};
    flare_ws_client *c = connect_ok(&o);
    flare_error err;
    /* The pings keep every read short of its timeout; the close wait still ends. */
    uint64_t start_ms = flare_monotonic_ms();
    assert_int_equal(flare_ws_close(c, 1000, NULL, &err), FLARE_ETIMEDOUT);
    uint64_t waited = flare_monotonic_ms() - start_ms;
    assert_true(waited >= 250);
    assert_true(waited < 1500);
    flare_ws_client_free(c);
    server_join(&s);
    assert_int_equal(s.failed, 0);
}

/* A server that stops reading: over ws:// as over wss://, a send waits
 * read_timeout_ms for room at most, as a read waits for data. */
static void test_send_to_a_server_that_does_not_read(void **state)
{
    (void)state;
    enum { MESSAGE = 1 << 20, MOST = 64 }; /* far past loopback's socket buffers */
    char *big = calloc(1, MESSAGE);
    assert_non_null(big);
    echo_server s;
    start(&s, MODE_DEAF);
    flare_ws_client_options o = {.read_timeout_ms = 300};
    flare_ws_client *c = connect_ok(&o);
    flare_error err;
    int rc = 0;
    for (int i = 0; i < MOST && rc == 0; i++)
        rc = flare_ws_send_binary(c, big, MESSAGE, &err);
    assert_int_equal(rc, FLARE_ETIMEDOUT);
    /* Part of a frame went out: the stream is unusable and was closed. */
    assert_int_equal(flare_ws_send_binary(c, "x", 1, &err), FLARE_ECLOSED);
    flare_ws_client_free(c);
    s.stop = true;
    server_join(&s);

    free(big);
}

/* The client's end of the connection to port: the socket whose peer it is. */
static int client_fd(uint16_t port)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in local, peer;
        socklen_t llen = sizeof local, plen = sizeof peer;
        if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 || peer.sin_family != AF_INET)
            continue;
        if (ntohs(peer.sin_port) == port && ntohs(local.sin_port) != port) return fd;
    }
    return -1;
}

/* Sends filler until neither the server's receive buffer nor our send buffer takes
 * another byte, and has stayed so for half a second. */
static void fill_socket(int fd)
{
    static char filler[64 * 1024];
    for (;;) {
        /* Shorter and shorter sends: a short one may still fit where a long one did not. */
        for (size_t len = sizeof filler; len > 0; len /= 2) {
            while (send(fd, filler, len, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
            }
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 500) == 0) return;
    }
}

/* With no read timeout, the close frame to a server that reads nothing fails within
 * the close wait (5 s) instead of blocking for ever; a blocked send would end only
 * when the server gives up (20 s), with a reset. Small buffers on both ends, so the
 * server's kernel cannot make room for the frame by compacting what it holds. */
static void test_close_to_a_server_that_does_not_read(void **state)
{
    (void)state;
    echo_server s;
    start(&s, MODE_DEAF);
    int small = 4096;
    assert_int_equal(setsockopt(s.l.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    flare_ws_client *c = connect_ok(NULL);
    int fd = client_fd(s.l.local.port);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    fill_socket(fd);
    flare_error err;
    assert_int_equal(flare_ws_close(c, 1000, NULL, &err), FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "tcp write")); /* the send, not the wait, timed out */
    flare_ws_client_free(c);
    s.stop = true;
    server_join(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_masks),
        cmocka_unit_test(test_pings_fragments_and_dribble),
        cmocka_unit_test(test_server_breaks_rules),
        cmocka_unit_test(test_early_data_and_timeout),
        cmocka_unit_test(test_handshake_refusals),
        cmocka_unit_test(test_subprotocol_and_origin),
        cmocka_unit_test(test_permessage_deflate),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_close_wait_is_one_deadline),
        cmocka_unit_test(test_send_to_a_server_that_does_not_read),
        cmocka_unit_test(test_close_to_a_server_that_does_not_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
