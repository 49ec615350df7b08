/*
 * test_server.c: server connections (src/ws/server.c) and the upgrade from an
 * HTTP handler (src/ws/server_upgrade.c), driven through a real
 * flare_http_server on loopback. Most tests are single-threaded: a raw client
 * socket writes masked frames and the test pumps the reactor until the answer
 * arrives, so every byte, close code, callback and counter can be checked. One
 * test runs the server in a thread and talks to it with libflare's own client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "flare/ws.h"

/* What the callbacks saw. */
typedef struct record {
    int opens, closes, messages, drains;
    uint16_t close_code;
    char close_reason[128];
    flare_ws_conn *conn; /* the last connection opened, while open */
    const char *subprotocol;
    bool deflate;
    size_t max_pending;  /* largest output queue seen in on_message */
    int send_until_full; /* on_open: send 4 KiB messages until FLARE_EAGAIN */
    size_t sent_before_full;
    int eagain_code;
    bool close_on_bye;        /* on_message "bye": flare_ws_conn_close(4000, "server bye") */
    int first_text_at;        /* 1 + messages before the first TEXT one, 0 = none yet */
    int closes_at_first_text; /* connections closed before the first TEXT message */
} record;

#include "ws_server_harness.h"

/* ------------------------------------------------------------ callbacks */

static void on_open(flare_ws_conn *c, void *data)
{
    record *rec = data;
    rec->opens++;
    rec->conn = c;
    rec->subprotocol = flare_ws_conn_subprotocol(c);
    rec->deflate = flare_ws_conn_deflate(c) != NULL;
    assert_ptr_equal(flare_ws_conn_userdata(c), rec);
    if (!rec->send_until_full) return;
    static char chunk[4096];
    memset(chunk, 'q', sizeof chunk);
    flare_error err;
    for (size_t i = 0; i < 10000; i++) {
        int rc = flare_ws_conn_send_binary(c, chunk, sizeof chunk, &err);
        if (rc < 0) {
            rec->eagain_code = rc;
            return;
        }
        rec->sent_before_full++;
    }
}

static void on_message(flare_ws_conn *c, flare_ws_opcode op, const char *data, size_t len,
                       void *userdata)
{
    record *rec = userdata;
    (void)op;
    if (op == FLARE_WS_OP_TEXT && !rec->first_text_at) {
        rec->first_text_at = rec->messages + 1;
        rec->closes_at_first_text = rec->closes;
    }
    rec->messages++;
    size_t p = flare_ws_conn_output_pending(c);
    if (p > rec->max_pending) rec->max_pending = p;
    if (rec->close_on_bye && len == 3 && memcmp(data, "bye", 3) == 0) {
        flare_error err;
        assert_int_equal(flare_ws_conn_close(c, 4000, "server bye", &err), 0);
        /* Nothing may follow our close frame (RFC 6455 §5.5.1). */
        assert_int_equal(flare_ws_conn_send_text(c, "late", 4, &err), FLARE_ECLOSED);
    }
}

static void on_close(flare_ws_conn *c, uint16_t code, const char *reason, size_t len,
                     void *userdata)
{
    record *rec = userdata;
    (void)c;
    rec->closes++;
    rec->close_code = code;
    snprintf(rec->close_reason, sizeof rec->close_reason, "%.*s", (int)len, reason);
    rec->conn = NULL;
}

static void on_drain(flare_ws_conn *c, void *userdata)
{
    record *rec = userdata;
    (void)c;
    rec->drains++;
}
/* Listens with the callbacks above; bufsize as for server_listen. */
static void server_start_buffers(server *s, int bufsize)
{
    server_listen(s, bufsize);
    s->cfg.on_open = on_open;
    s->cfg.on_message = on_message;
    s->cfg.on_close = on_close;
    s->cfg.on_drain = on_drain;
    s->cfg.userdata = &s->rec;
}

static void server_start(server *s)
{
    server_start_buffers(s, 0);
}

/* ------------------------------------------------------------------ tests */

static void test_echo_close_and_stats(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    peer p;
    peer_connect(&s, &p, 0);
    /* A frame right behind the request belongs to the new protocol (RFC 6455 §4.1). */
    flare_buf early = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_frame_encode(&early, FLARE_WS_OP_TEXT, true, 0, "early", 5, MASK), 0);
    char extra[512];
    snprintf(extra, sizeof extra,
             "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char req[1024];
    int n = snprintf(req, sizeof req, "GET /ws HTTP/1.1\r\nHost: t\r\n%s", extra);
    memcpy(req + n, early.data, early.len);
    peer_send(&s, &p, req, (size_t)n + early.len);
    flare_buf_free(&early);
    assert_true(wait_bytes(&s, &p, 1));
    char *end = NULL;
    while (!(end = memmem(p.in.data, p.in.len, "\r\n\r\n", 4)))
        assert_true(wait_bytes(&s, &p, p.in.len + 1));
    assert_memory_equal(p.in.data, "HTTP/1.1 101 ", 13);
    flare_buf_consume(&p.in, (size_t)(end - p.in.data) + 4);
    expect_frame(&s, &p, FLARE_WS_OP_TEXT, "early", 5);
    assert_int_equal(s.rec.opens, 1);
    assert_int_equal(flare_http_server_connections(s.srv), 0); /* handed over */
    assert_int_equal(s.group.stats.active, 1);

    expect_echo(&s, &p, FLARE_WS_OP_TEXT, "h\xc3\xa9llo", 6);
    expect_echo(&s, &p, FLARE_WS_OP_BINARY, "\x00\x01\xff", 3);
    expect_echo(&s, &p, FLARE_WS_OP_TEXT, "", 0);
    static char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    expect_echo(&s, &p, FLARE_WS_OP_BINARY, big, sizeof big); /* 64-bit length both ways */
    /* A ping is answered with its payload; an unsolicited pong is ignored. */
    send_frame(&s, &p, FLARE_WS_OP_PONG, true, 0, "x", 1);
    send_frame(&s, &p, FLARE_WS_OP_PING, true, 0, "are you there", 13);
    expect_frame(&s, &p, FLARE_WS_OP_PONG, "are you there", 13);
    /* A fragmented message with a ping in between comes back whole. */
    send_frame(&s, &p, FLARE_WS_OP_TEXT, false, 0, "frag", 4);
    send_frame(&s, &p, FLARE_WS_OP_PING, true, 0, "", 0);
    send_frame(&s, &p, FLARE_WS_OP_CONTINUATION, true, 0, "ment", 4);
    expect_frame(&s, &p, FLARE_WS_OP_PONG, "", 0);
    expect_frame(&s, &p, FLARE_WS_OP_TEXT, "fragment", 8);

    client_close(&s, &p, 4321);
    PUMP_UNTIL(&s, s.rec.closes == 1);
    assert_int_equal(s.rec.closes, 1);
    assert_int_equal(s.rec.close_code, 4321);
    assert_int_equal(s.rec.messages, 6);
    assert_int_equal(s.group.stats.opened, 1);
    assert_int_equal(s.group.stats.active, 0);
    assert_int_equal(s.group.stats.messages_in, 6);
    assert_int_equal(s.group.stats.messages_out, 6);
    assert_int_equal(s.group.stats.protocol_errors, 0);
    assert_true(s.group.stats.bytes_in > sizeof big);
    assert_true(s.group.stats.bytes_out > sizeof big);
    peer_close(&p);
    server_stop(&s);
}

static void test_handshake_answers(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    static const char *const origins[] = {"https://good.example"};
    static const char *const protos[] = {"v2.flare", "v1.flare"};
    s.hs.origins = origins;
    s.hs.num_origins = 1;
    s.hs.subprotocols = protos;
    s.hs.num_subprotocols = 2;
    char head[2048];
    static const struct {
        const char *extra;
        int status;
        const char *must_have;
    } cases[] = {
        /* Not a WebSocket request at all: 426 naming the protocol (RFC 9110 §15.5.22). */
        {"", 426, "Upgrade: websocket\r\n"},
        {"Upgrade: h2c\r\nConnection: Upgrade\r\n", 426, "Sec-WebSocket-Version: 13\r\n"},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://good.example\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
         426, "Sec-WebSocket-Version: 13\r\n"},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://good.example\r\n"
         "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n",
         400, "Sec-WebSocket-Key"},
        {"Upgrade: websocket\r\nOrigin: https://good.example\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         400, "upgrade token"},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://evil.example\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         403, "\r\n\r\n403 Forbidden\n"}, /* the server's own 403 */
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
         403, "\r\n\r\n403 Forbidden\n"},
        /* Our preference order decides (RFC 6455 §4.2.2). */
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: https://good.example\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: v1.flare, v2.flare\r\n",
         101, "Sec-WebSocket-Protocol: v2.flare\r\n"},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(cases); i++) {
        peer p;
        peer_connect(&s, &p, 0);
        int status = handshake(&s, &p, cases[i].extra, head, sizeof head);
        if (status != cases[i].status || !strstr(head, cases[i].must_have))
            fail_msg("case %zu: got %d, want %d with %s:\n%s", i, status, cases[i].status,
                     cases[i].must_have, head);
        if (status == 101) {
            expect_echo(&s, &p, FLARE_WS_OP_TEXT, "ok", 2);
            assert_string_equal(s.rec.subprotocol, "v2.flare");
            client_close(&s, &p, 1000);
        } else {
            /* A rejection is an ordinary response: the connection stays HTTP. */
            assert_null(strstr(head, "Sec-WebSocket-Accept"));
        }
        peer_close(&p);
    }
    assert_int_equal(s.group.stats.opened, 1);
    server_stop(&s);
}

static void test_protocol_errors_close_with_code(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    s.cfg.max_message = 1000;
    static const uint8_t bad_utf8[] = {'a', 0xc3, 0x28};
    char big[1001];
    memset(big, 'b', sizeof big);
    for (int k = 0; k < 5; k++) {
        peer p;
        peer_connect(&s, &p, 0);
        upgrade_ok(&s, &p);
        uint16_t want = 0;
        switch (k) {
        case 0: { /* §5.1: a client frame must be masked */
            flare_buf b = FLARE_BUF_INIT;
            assert_int_equal(flare_ws_frame_encode(&b, FLARE_WS_OP_TEXT, true, 0, "x", 1, NULL), 0);
            peer_send(&s, &p, b.data, b.len);
            flare_buf_free(&b);
            want = 1002;
            break;
        }
        case 1: /* invalid UTF-8, across two fragments */
            send_frame(&s, &p, FLARE_WS_OP_TEXT, false, 0, bad_utf8, 2);
            send_frame(&s, &p, FLARE_WS_OP_CONTINUATION, true, 0, bad_utf8 + 2, 1);
            want = 1007;
            break;
        case 2: /* over max_message */
            send_frame(&s, &p, FLARE_WS_OP_BINARY, true, 0, big, sizeof big);
            want = 1009;
            break;
        case 3: /* RSV1 without permessage-deflate */
            send_frame(&s, &p, FLARE_WS_OP_TEXT, true, FLARE_WS_RSV1, "x", 1);
            want = 1002;
            break;
        case 4: /* a close frame with a 1-byte payload */
            send_frame(&s, &p, FLARE_WS_OP_CLOSE, true, 0, "x", 1);
            want = 1002;
            break;
        }
        /* Frames after the error are not interpreted: no echo of this one. */
        send_frame(&s, &p, FLARE_WS_OP_TEXT, true, 0, "ignored", 7);
        expect_close(&s, &p, want);
        peer_close(&p);
        PUMP_UNTIL(&s, s.rec.closes == k + 1);
        assert_int_equal(s.rec.close_code, want);
    }
    assert_int_equal(s.group.stats.protocol_errors, 5);
    assert_int_equal(s.rec.messages, 0);
    server_stop(&s);
}

static void test_pings_and_pong_timeout(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    s.cfg.ping_interval_ms = 40;
    s.cfg.pong_timeout_ms = 150;
    peer p;
    peer_connect(&s, &p, 0);
    upgrade_ok(&s, &p);
    flare_ws_frame_header h;
    flare_buf b = FLARE_BUF_INIT;
    /* Answered pings keep the connection; each ping carries a new sequence number. */
    char last[8] = {0};
    for (int i = 0; i < 3; i++) {
        read_frame(&s, &p, &h, &b);
        assert_int_equal(h.opcode, FLARE_WS_OP_PING);
        assert_int_equal(h.payload_len, 8);
        assert_memory_not_equal(b.data, last, 8);
        memcpy(last, b.data, 8);
        send_frame(&s, &p, FLARE_WS_OP_PONG, true, 0, b.data, 8);
    }
    assert_int_equal(s.rec.closes, 0);
    /* A pong with the wrong payload does not count: 1001 and the connection drops. */
    read_frame(&s, &p, &h, &b);
    assert_int_equal(h.opcode, FLARE_WS_OP_PING);
    send_frame(&s, &p, FLARE_WS_OP_PONG, true, 0, "wrong!!!", 8);
    flare_buf_free(&b);
    expect_close(&s, &p, 1001);
    PUMP_UNTIL(&s, s.rec.closes == 1);
    assert_int_equal(s.rec.close_code, 1001);
    assert_string_equal(s.rec.close_reason, "pong timeout");
    assert_int_equal(s.group.stats.timeouts, 1);
    peer_close(&p);
    server_stop(&s);
}

static void test_idle_and_close_timeouts(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    s.cfg.idle_timeout_ms = 100;
    s.cfg.close_timeout_ms = 200;
    peer p;
    peer_connect(&s, &p, 0);
    upgrade_ok(&s, &p);
    expect_echo(&s, &p, FLARE_WS_OP_TEXT, "keep", 4);
    /* No message for idle_timeout: a close handshake with 1001 starts; our FIN follows it. */
    uint64_t start = flare_monotonic_ms();
    flare_ws_frame_header h;
    flare_buf b = FLARE_BUF_INIT;
    read_frame(&s, &p, &h, &b);
    assert_true(flare_monotonic_ms() - start >= 90);
    assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
    assert_int_equal(((uint8_t)b.data[0] << 8) | (uint8_t)b.data[1], 1001);
    assert_memory_equal(b.data + 2, "idle timeout", 12);
    flare_buf_free(&b);
    uint64_t close_seen = flare_monotonic_ms();
    assert_false(wait_bytes(&s, &p, 1));
    assert_true(p.eof);
    /* The peer never answers: the socket goes after close_timeout, not before. */
    PUMP_UNTIL(&s, s.rec.closes == 1);
    assert_true(flare_monotonic_ms() - close_seen >= 150);
    assert_int_equal(s.rec.close_code, 1001);
    assert_int_equal(s.group.stats.timeouts, 2); /* idle, then the close handshake */
    peer_close(&p);
    server_stop(&s);
}

static void test_server_initiated_close(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    s.rec.close_on_bye = true;
    peer p;
    peer_connect(&s, &p, 0);
    upgrade_ok(&s, &p);
    send_frame(&s, &p, FLARE_WS_OP_TEXT, true, 0, "bye", 3);
    expect_frame(&s, &p, FLARE_WS_OP_TEXT, "bye", 3); /* echo goes out before the close */
    flare_ws_frame_header h;
    flare_buf b = FLARE_BUF_INIT;
    read_frame(&s, &p, &h, &b);
    assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
    assert_int_equal(h.payload_len, 12);
    assert_memory_equal(b.data, "\x0f\xa0server bye", 12);
    flare_buf_free(&b);
    /* Data after our close is dropped; the peer's close ends the handshake at once. */
    send_frame(&s, &p, FLARE_WS_OP_TEXT, true, 0, "dropped", 7);
    send_frame(&s, &p, FLARE_WS_OP_CLOSE, true, 0, "\x0f\xa0", 2);
    assert_false(wait_bytes(&s, &p, 1));
    assert_true(p.eof);
    PUMP_UNTIL(&s, s.rec.closes == 1);
    assert_int_equal(s.rec.close_code, 4000);
    assert_string_equal(s.rec.close_reason, "server bye");
    assert_int_equal(s.rec.messages, 1);
    assert_int_equal(s.group.stats.timeouts, 0);
    peer_close(&p);

    /* Close codes a server may not send are refused. */
    static const char big126[126] = {0};
    peer_connect(&s, &p, 0);
    upgrade_ok(&s, &p);
    PUMP_UNTIL(&s, s.rec.conn != NULL);
    flare_error err;
    assert_int_equal(flare_ws_conn_close(s.rec.conn, 1005, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_conn_close(s.rec.conn, 999, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_conn_close(s.rec.conn, 0, "reason without code", &err), FLARE_EINVAL);
    /* Pings from the application go out at once; their pongs are not ours to track. */
    assert_int_equal(flare_ws_conn_ping(s.rec.conn, NULL, 0, &err), 0);
    assert_int_equal(flare_ws_conn_ping(s.rec.conn, "app", 3, &err), 0);
    assert_int_equal(flare_ws_conn_ping(s.rec.conn, big126, 126, &err), FLARE_EINVAL);
    expect_frame(&s, &p, FLARE_WS_OP_PING, "", 0);
    expect_frame(&s, &p, FLARE_WS_OP_PING, "app", 3);
    send_frame(&s, &p, FLARE_WS_OP_PONG, true, 0, "app", 3);
    /* A close from outside the callbacks goes out at once; no code means an empty payload. */
    assert_int_equal(flare_ws_conn_close(s.rec.conn, 0, NULL, &err), 0);
    read_frame(&s, &p, &h, &b);
    assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
    assert_int_equal(h.payload_len, 0);
    flare_buf_free(&b);
    send_frame(&s, &p, FLARE_WS_OP_CLOSE, true, 0, "", 0);
    PUMP_UNTIL(&s, s.rec.closes == 2);
    assert_int_equal(s.rec.close_code, FLARE_WS_CLOSE_NO_STATUS);
    peer_close(&p);
    server_stop(&s);
}

static void test_backpressure_stops_reading(void **state)
{
    (void)state;
    server s;
    server_start_buffers(&s, 16384);
    s.cfg.max_output = 16 * 1024;
    peer p;
    peer_connect(&s, &p, 16384); /* small windows, so the server's output backs up */
    upgrade_ok(&s, &p);
    /* Send far more than fits in the socket buffers without reading any echo: the
     * server must stop reading instead of queueing it all. */
    enum { COUNT = 3000, SIZE = 1000 };
    char msg[SIZE];
    flare_buf frames = FLARE_BUF_INIT;
    for (int i = 0; i < COUNT; i++) {
        memset(msg, 'a' + i % 26, sizeof msg);
        memcpy(msg, &i, sizeof i);
        assert_int_equal(
            flare_ws_frame_encode(&frames, FLARE_WS_OP_BINARY, true, 0, msg, sizeof msg, MASK), 0);
    }
    size_t sent = 0;
    bool blocked = false;
    for (int idle = 0; sent < frames.len && idle < 200; idle++) {
        ssize_t n = send(p.fd, frames.data + sent, frames.len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            idle = 0;
        } else {
            blocked = true;
        }
        pump(&s, 1);
    }
    assert_true(blocked);
    assert_true(sent < frames.len); /* the server pushed back through TCP */
    assert_non_null(s.rec.conn);
    assert_true(flare_ws_conn_output_pending(s.rec.conn) >= s.cfg.max_output);
    assert_true(s.rec.max_pending < s.cfg.max_output + SIZE + 16);
    /* Now read: everything comes back, in order, and the rest of the input flows. */
    int got = 0;
    uint64_t deadline = flare_monotonic_ms() + 20000;
    while (got < COUNT) {
        if (sent < frames.len) {
            ssize_t n =
                send(p.fd, frames.data + sent, frames.len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
        }
        pump(&s, 0);
        peer_take(&p);
        flare_ws_frame_header h;
        ssize_t hl;
        while ((hl = flare_ws_frame_decode(p.in.data, p.in.len, &h)) > 0 &&
               p.in.len - (size_t)hl >= h.payload_len) {
            assert_int_equal(h.opcode, FLARE_WS_OP_BINARY);
            assert_int_equal(h.payload_len, SIZE);
            int idx;
            memcpy(&idx, p.in.data + hl, sizeof idx);
            assert_int_equal(idx, got);
            assert_int_equal(p.in.data[hl + SIZE - 1], 'a' + got % 26);
            flare_buf_consume(&p.in, (size_t)hl + SIZE);
            got++;
        }
        if (flare_monotonic_ms() > deadline) fail_msg("echo stalled at %d of %d", got, COUNT);
    }
    assert_true(s.rec.max_pending < s.cfg.max_output + SIZE + 16);
    flare_buf_free(&frames);
    client_close(&s, &p, 1000);
    peer_close(&p);
    server_stop(&s);
}

/* Compressed input multiplies the work of a read: 16 KiB of zero bombs inflate to
 * hundreds of MiB. A wake-up stops after about a MiB of messages, so one
 * connection cannot hold the reactor (and every other connection) for seconds:
 * another client's message gets through before the bombs are all inflated, and
 * the rest is kept and parsed on later turns, in order, nothing lost. The same
 * holds while we are closing, when the bombs are inflated only to be dropped. */
static void test_inflated_work_per_turn_is_bounded(void **state)
{
    (void)state;
    enum { COUNT = 40, SIZE = 256 * 1024 };
    char *zeros = calloc(1, SIZE);
    assert_non_null(zeros);
    for (int closing = 0; closing < 2; closing++) {
        server s;
        server_start(&s);
        s.hs.deflate = true;
        s.cfg.echo = false;
        peer other, p;
        peer_connect(&s, &other, 0);
        upgrade_ok(&s, &other);
        peer_connect(&s, &p, 0);
        char head[2048];
        assert_int_equal(handshake(&s, &p,
                                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n"
                                   "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                                   head, sizeof head),
                         101);
        if (closing) assert_int_equal(flare_ws_conn_close(s.rec.conn, 1000, NULL, NULL), 0);
        flare_ws_deflate *d;
        flare_ws_deflate_params params = {.client_no_context_takeover = true};
        assert_int_equal(flare_ws_deflate_new(&d, &params, false, 9, NULL), 0);
        flare_buf frames = FLARE_BUF_INIT, text = FLARE_BUF_INIT;
        for (int i = 0; i < COUNT; i++)
            assert_int_equal(
                flare_ws_message_encode(&frames, FLARE_WS_OP_BINARY, zeros, SIZE, d, MASK, NULL),
                0);
        if (closing) /* our close answered behind the bombs */
            assert_int_equal(
                flare_ws_frame_encode(&frames, FLARE_WS_OP_CLOSE, true, 0, "\x03\xe8", 2, MASK), 0);
        assert_true(frames.len < 16384); /* all of it arrives with one read */
        assert_int_equal(flare_ws_frame_encode(&text, FLARE_WS_OP_TEXT, true, 0, "me too", 6, MASK),
                         0);
        assert_int_equal(send(p.fd, frames.data, frames.len, MSG_NOSIGNAL), (ssize_t)frames.len);
        assert_int_equal(send(other.fd, text.data, text.len, MSG_NOSIGNAL), (ssize_t)text.len);
        if (closing) {
            /* The bombs are dropped; the other client is served before they are done. */
            PUMP_UNTIL(&s, s.rec.closes == 1 && s.rec.messages == 1);
            assert_int_equal(s.rec.closes_at_first_text, 0);
        } else {
            PUMP_UNTIL(&s, s.rec.messages == COUNT + 1);
            assert_true(s.rec.first_text_at > 0);
            assert_true(s.rec.first_text_at < COUNT);
            send_frame(&s, &p, FLARE_WS_OP_PING, true, 0, "in step", 7);
            expect_frame(&s, &p, FLARE_WS_OP_PONG, "in step", 7);
        }
        flare_ws_deflate_free(d);
        flare_buf_free(&frames);
        flare_buf_free(&text);
        peer_close(&p);
        peer_close(&other);
        server_stop(&s);
    }
    free(zeros);
}

static void test_send_eagain_then_drain(void **state)
{
    (void)state;
    server s;
    server_start_buffers(&s, 16384);
    s.cfg.echo = false;
    s.cfg.max_output = 256 * 1024;
    s.rec.send_until_full = 1;
    peer p;
    peer_connect(&s, &p, 16384);
    upgrade_ok(&s, &p);
    PUMP_UNTIL(&s, s.rec.eagain_code != 0);
    assert_int_equal(s.rec.eagain_code, FLARE_EAGAIN);
    /* Sends queue until the bound; the socket took some of it meanwhile. */
    assert_true(s.rec.sent_before_full * 4096 >= s.cfg.max_output);
    assert_true(s.rec.sent_before_full < 10000);
    assert_int_equal(s.rec.drains, 0);
    size_t expected = s.rec.sent_before_full;
    size_t frames = 0;
    uint64_t deadline = flare_monotonic_ms() + WAIT_MS;
    while (frames < expected) {
        pump(&s, 1);
        peer_take(&p);
        flare_ws_frame_header h;
        ssize_t hl;
        while ((hl = flare_ws_frame_decode(p.in.data, p.in.len, &h)) > 0 &&
               p.in.len - (size_t)hl >= h.payload_len) {
            assert_int_equal(h.payload_len, 4096);
            flare_buf_consume(&p.in, (size_t)hl + 4096);
            frames++;
        }
        if (flare_monotonic_ms() > deadline) fail_msg("got %zu of %zu", frames, expected);
    }
    PUMP_UNTIL(&s, s.rec.drains == 1);
    assert_int_equal(flare_ws_conn_output_pending(s.rec.conn), 0);
    client_close(&s, &p, 1000);
    peer_close(&p);
    server_stop(&s);
}

static void test_peer_half_close(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    s.cfg.max_output = 4096; /* some of the messages wait behind the bound */
    peer p;
    peer_connect(&s, &p, 0);
    upgrade_ok(&s, &p);
    flare_buf frames = FLARE_BUF_INIT;
    char msg[3000];
    for (int i = 0; i < 20; i++) {
        memset(msg, 'A' + i, sizeof msg);
        assert_int_equal(
            flare_ws_frame_encode(&frames, FLARE_WS_OP_TEXT, true, 0, msg, sizeof msg, MASK), 0);
    }
    peer_send(&s, &p, frames.data, frames.len);
    flare_buf_free(&frames);
    /* Our FIN right behind them: every message is still answered, then the server closes. */
    assert_int_equal(shutdown(p.fd, SHUT_WR), 0);
    for (int i = 0; i < 20; i++) {
        memset(msg, 'A' + i, sizeof msg);
        expect_frame(&s, &p, FLARE_WS_OP_TEXT, msg, sizeof msg);
    }
    assert_false(wait_bytes(&s, &p, 1));
    assert_true(p.eof);
    PUMP_UNTIL(&s, s.rec.closes == 1);
    assert_int_equal(s.rec.close_code, FLARE_WS_CLOSE_ABNORMAL); /* no close frame came */
    peer_close(&p);
    server_stop(&s);
}

static void test_group_close_all_and_abort(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    peer a, b, c;
    peer_connect(&s, &a, 0);
    upgrade_ok(&s, &a);
    peer_connect(&s, &b, 0);
    upgrade_ok(&s, &b);
    PUMP_UNTIL(&s, s.group.stats.active == 2);
    flare_ws_group_close_all(&s.group, 1001, "going away");
    flare_ws_frame_header h;
    flare_buf buf = FLARE_BUF_INIT;
    peer *both[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        read_frame(&s, both[i], &h, &buf);
        assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
        assert_memory_equal(buf.data, "\x03\xe9going away", 12);
        send_frame(&s, both[i], FLARE_WS_OP_CLOSE, true, 0, "\x03\xe9", 2);
    }
    flare_buf_free(&buf);
    PUMP_UNTIL(&s, s.group.stats.active == 0);
    assert_int_equal(s.rec.closes, 2);

    /* Abort: no handshake, on_close sees 1006, the peer sees the socket close. */
    peer_connect(&s, &c, 0);
    upgrade_ok(&s, &c);
    PUMP_UNTIL(&s, s.group.stats.active == 1);
    flare_ws_group_abort_all(&s.group);
    assert_int_equal(s.group.stats.active, 0);
    assert_int_equal(s.rec.closes, 3);
    assert_int_equal(s.rec.close_code, FLARE_WS_CLOSE_ABNORMAL);
    assert_false(wait_bytes(&s, &c, 1));
    assert_true(c.eof);
    peer_close(&a);
    peer_close(&b);
    peer_close(&c);
    server_stop(&s);
}

/* A connection whose 101 was still being written when the drain began is closed the
 * same way as soon as it opens, not left to the shutdown deadline. */
static void test_group_drain_reaches_late_joiners(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    flare_ws_group_drain(&s.group, 1001, "going away");
    peer a;
    peer_connect(&s, &a, 0);
    upgrade_ok(&s, &a);
    flare_ws_frame_header h;
    flare_buf buf = FLARE_BUF_INIT;
    read_frame(&s, &a, &h, &buf);
    assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
    assert_int_equal(buf.len, 12);
    assert_memory_equal(buf.data, "\x03\xe9going away", 12);
    send_frame(&s, &a, FLARE_WS_OP_CLOSE, true, 0, "\x03\xe9", 2);
    PUMP_UNTIL(&s, s.group.stats.active == 0);
    assert_int_equal(s.rec.closes, 1);
    flare_buf_free(&buf);
    peer_close(&a);
    server_stop(&s);
}

/* ---------------------------------------------- the library's own client */

static void *run_server(void *arg)
{
    server *s = arg;
    flare_error err;
    if (flare_reactor_run(s->r, &err) < 0) fail_msg("run: %s", err.message);
    return NULL;
}

static void test_with_flare_ws_client(void **state)
{
    (void)state;
    for (int deflate = 0; deflate < 2; deflate++) {
        server s;
        server_start(&s);
        static const char *const protos[] = {"chat"};
        s.hs.subprotocols = protos;
        s.hs.num_subprotocols = 1;
        s.hs.deflate = true;
        s.cfg.compression_level = 3;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, run_server, &s), 0);
        char url[64];
        snprintf(url, sizeof url, "ws://127.0.0.1:%u/ws", s.port);
        flare_ws_client_options o = {.deflate = deflate,
                                     .subprotocols = protos,
                                     .num_subprotocols = 1,
                                     .read_timeout_ms = WAIT_MS};
        flare_ws_client *c;
        flare_error err;
        if (flare_ws_connect(&c, url, &o, &err) < 0) fail_msg("connect: %s", err.message);
        assert_string_equal(flare_ws_client_subprotocol(c), "chat");
        assert_int_equal(flare_ws_client_deflate(c) != NULL, deflate);
        size_t big_len = 1u << 20;
        char *big = malloc(big_len);
        assert_non_null(big);
        for (size_t i = 0; i < big_len; i++)
            big[i] = (char)"flare websocket "[i % 16];
        for (int round = 0; round < 3; round++) {
            flare_ws_message m;
            assert_int_equal(flare_ws_send_text(c, "h\xc3\xa9llo", 6, &err), 0);
            assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
            assert_int_equal(m.opcode, FLARE_WS_OP_TEXT);
            assert_int_equal(m.len, 6);
            assert_memory_equal(m.data, "h\xc3\xa9llo", 6);
            assert_int_equal(flare_ws_send_binary(c, big, big_len, &err), 0);
            assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
            assert_int_equal(m.opcode, FLARE_WS_OP_BINARY);
            assert_int_equal(m.len, big_len);
            assert_memory_equal(m.data, big, big_len);
        }
        free(big);
        assert_int_equal(flare_ws_close(c, 4001, "done", &err), 0);
        assert_int_equal(flare_ws_client_close_code(c), 4001); /* echoed */
        flare_ws_client_free(c);
        /* The server closes after the handshake; then stop the loop and look. */
        for (int i = 0; i < 500 && __atomic_load_n(&s.group.stats.active, __ATOMIC_SEQ_CST); i++)
            usleep(2000);
        flare_reactor_stop(s.r);
        pthread_join(t, NULL);
        assert_int_equal(s.rec.opens, 1);
        assert_int_equal(s.rec.closes, 1);
        assert_int_equal(s.rec.close_code, 4001);
        assert_int_equal(s.rec.deflate, deflate);
        assert_string_equal(s.rec.subprotocol, "chat");
        assert_int_equal(s.group.stats.messages_in, 6);
        if (deflate) /* 1 MiB of a 16-byte pattern compresses: far fewer bytes moved */
            assert_true(s.group.stats.bytes_in < (1u << 20));
        server_stop(&s);
    }
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    flare_error err;
    flare_http_upgraded up = {.fd = -1};
    flare_ws_conn_config cfg = {0};
    assert_int_equal(flare_ws_conn_open(NULL, &up, &cfg, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_upgrade(NULL, NULL, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_conn_send(NULL, FLARE_WS_OP_TEXT, "x", 1, &err), FLARE_EINVAL);
    flare_ws_group_close_all(NULL, 1000, NULL);
    flare_ws_group_abort_all(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_close_and_stats),
        cmocka_unit_test(test_handshake_answers),
        cmocka_unit_test(test_protocol_errors_close_with_code),
        cmocka_unit_test(test_pings_and_pong_timeout),
        cmocka_unit_test(test_idle_and_close_timeouts),
        cmocka_unit_test(test_server_initiated_close),
        cmocka_unit_test(test_backpressure_stops_reading),
        cmocka_unit_test(test_inflated_work_per_turn_is_bounded),
        cmocka_unit_test(test_send_eagain_then_drain),
        cmocka_unit_test(test_peer_half_close),
        cmocka_unit_test(test_group_close_all_and_abort),
        cmocka_unit_test(test_group_drain_reaches_late_joiners),
        cmocka_unit_test(test_with_flare_ws_client),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
