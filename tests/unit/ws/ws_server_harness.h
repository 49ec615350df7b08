/*
 * ws_server_harness.h: drives flare_http_server with a WebSocket route (/ws,
 * answered by flare_ws_upgrade with the server's hs and cfg) on a free loopback
 * port, single-threaded: the test writes masked frames on a raw client socket
 * and pumps the reactor until the answer arrives. The including test defines
 * `record` (what its callbacks observe) before including this file.
 */
#ifndef FLARE_TEST_WS_SERVER_HARNESS_H
#define FLARE_TEST_WS_SERVER_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/http.h"
#include "flare/ws.h"

#define HARNESS_UNUSED __attribute__((unused))
/* How long the test waits for the server before failing (never a performance bound). */
#define WAIT_MS 5000

static HARNESS_UNUSED const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

typedef struct server {
    flare_reactor *r;
    flare_http_server *srv;
    uint16_t port;
    flare_ws_server_options hs;
    flare_ws_conn_config cfg;
    flare_ws_group group;
    record rec;
} server;

static HARNESS_UNUSED int ws_handler(const flare_request *req, flare_response *resp, void *data)
{
    server *s = data;
    flare_error err;
    int rc = flare_ws_upgrade(req, resp, &s->hs, &s->cfg, &err);
    return rc < 0 ? rc : 0;
}

/* --------------------------------------------------------------- server */

/* Listens on a free loopback port. bufsize > 0 fixes the socket buffers of every
 * accepted connection small (they inherit them), so backpressure shows early. */
static HARNESS_UNUSED void server_listen(server *s, int bufsize)
{
    flare_error err;
    memset(s, 0, sizeof *s);
    if (flare_reactor_new(&s->r, &err) < 0) fail_msg("reactor: %s", err.message);
    if (flare_http_server_new(&s->srv, s->r, NULL, &err) < 0) fail_msg("http: %s", err.message);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (bufsize) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    }
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    if (flare_http_server_add_listener(s->srv, fd, &err) < 0) fail_msg("listen: %s", err.message);
    if (flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/ws", ws_handler, s, 0, &err) < 0)
        fail_msg("route: %s", err.message);
    s->cfg.echo = true;
    s->cfg.group = &s->group;
}

static HARNESS_UNUSED void server_stop(server *s)
{
    flare_ws_group_abort_all(&s->group);
    assert_int_equal(s->group.stats.active, 0);
    assert_null(s->group.first);
    flare_http_server_free(s->srv);
    flare_reactor_free(s->r);
}

static HARNESS_UNUSED void pump(server *s, int ms)
{
    flare_error err;
    if (flare_reactor_poll(s->r, ms, &err) < 0) fail_msg("poll: %s", err.message);
}

/* Runs the server until cond holds; fails after WAIT_MS. */
#define PUMP_UNTIL(s, cond)                                                                        \
    do {                                                                                           \
        uint64_t deadline_ = flare_monotonic_ms() + WAIT_MS;                                       \
        while (!(cond)) {                                                                          \
            if (flare_monotonic_ms() > deadline_) fail_msg("timed out waiting for " #cond);        \
            pump((s), 1);                                                                          \
        }                                                                                          \
    } while (0)

/* --------------------------------------------------------------- client */

typedef struct peer {
    int fd;
    flare_buf in; /* received, not yet taken */
    bool eof;     /* the server closed (FIN or reset) */
} peer;

/* bufsize > 0 fixes both socket buffers small (no autotuning), so backpressure shows. */
static HARNESS_UNUSED void peer_connect(server *s, peer *p, int bufsize)
{
    memset(p, 0, sizeof *p);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    if (bufsize) {
        setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
        setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(p->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static HARNESS_UNUSED void peer_close(peer *p)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    flare_buf_free(&p->in);
}

/* Takes what has arrived; returns the number of new bytes. */
static HARNESS_UNUSED size_t peer_take(peer *p)
{
    size_t total = 0;
    while (!p->eof) {
        if (flare_buf_reserve(&p->in, 65536) < 0) fail_msg("out of memory");
        ssize_t n = recv(p->fd, p->in.data + p->in.len, 65536, MSG_DONTWAIT);
        if (n > 0) {
            p->in.len += (size_t)n;
            total += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) p->eof = true;
        break;
    }
    return total;
}

static HARNESS_UNUSED void peer_send(server *s, peer *p, const void *data, size_t len)
{
    const char *d = data;
    uint64_t deadline = flare_monotonic_ms() + WAIT_MS;
    while (len) {
        ssize_t n = send(p->fd, d, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            d += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) fail_msg("send: %s", strerror(errno));
        if (flare_monotonic_ms() > deadline) fail_msg("send: the server stopped reading");
        pump(s, 1);
    }
}

/* Sends one masked frame. */
static HARNESS_UNUSED void send_frame(server *s, peer *p, uint8_t op, bool fin, uint8_t rsv,
                                      const void *data, size_t len)
{
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_frame_encode(&b, op, fin, rsv, data, len, MASK), 0);
    peer_send(s, p, b.data, b.len);
    flare_buf_free(&b);
}

/* Pumps until `want` bytes are buffered or the server closed; false on timeout. */
static HARNESS_UNUSED bool wait_bytes(server *s, peer *p, size_t want)
{
    uint64_t deadline = flare_monotonic_ms() + WAIT_MS;
    while (p->in.len < want && !p->eof) {
        if (flare_monotonic_ms() > deadline) return false;
        pump(s, 1);
        peer_take(p);
    }
    return p->in.len >= want;
}

/* Sends an upgrade request for /ws with extra header lines; returns the status and
 * leaves the head (and the body of a rejection) in `head`, what follows in p->in. */
static HARNESS_UNUSED int handshake(server *s, peer *p, const char *extra, char *head,
                                    size_t head_cap)
{
    char req[1024];
    snprintf(req, sizeof req, "GET /ws HTTP/1.1\r\nHost: t\r\n%s\r\n",
             extra ? extra
                   : "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n");
    peer_send(s, p, req, strlen(req));
    uint64_t deadline = flare_monotonic_ms() + WAIT_MS;
    for (;;) {
        char *end = p->in.len ? memmem(p->in.data, p->in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t n = (size_t)(end - p->in.data) + 4;
            if (n >= head_cap) fail_msg("head too long");
            memcpy(head, p->in.data, n);
            head[n] = '\0';
            flare_buf_consume(&p->in, n);
            const char *cl = strstr(head, "Content-Length: ");
            size_t body = cl ? (size_t)atoi(cl + 16) : 0;
            if (n + body >= head_cap || !wait_bytes(s, p, body)) fail_msg("no response body");
            memcpy(head + n, p->in.data, body);
            head[n + body] = '\0';
            flare_buf_consume(&p->in, body);
            return atoi(head + 9);
        }
        if (p->eof || flare_monotonic_ms() > deadline) fail_msg("no response head");
        pump(s, 1);
        peer_take(p);
    }
}

static HARNESS_UNUSED void upgrade_ok(server *s, peer *p)
{
    char head[2048];
    assert_int_equal(handshake(s, p, NULL, head, sizeof head), 101);
    /* RFC 6455 §1.3's worked example of the accept key. */
    assert_non_null(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(head, "Upgrade: websocket\r\n"));
}

/* Waits for one whole server frame; its payload is left in *out (caller frees). */
static HARNESS_UNUSED void read_frame(server *s, peer *p, flare_ws_frame_header *h, flare_buf *out)
{
    uint64_t deadline = flare_monotonic_ms() + WAIT_MS;
    for (;;) {
        ssize_t hl = flare_ws_frame_decode(p->in.data, p->in.len, h);
        if (hl > 0 && p->in.len - (size_t)hl >= h->payload_len) {
            assert_false(h->masked); /* §5.1: server frames are never masked */
            out->len = 0;
            assert_int_equal(flare_buf_append(out, p->in.data + hl, (size_t)h->payload_len), 0);
            flare_buf_consume(&p->in, (size_t)hl + (size_t)h->payload_len);
            return;
        }
        if (hl < 0 && hl != FLARE_EINCOMPLETE) fail_msg("server sent a malformed frame");
        if (p->eof) fail_msg("connection closed while waiting for a frame");
        if (flare_monotonic_ms() > deadline) fail_msg("no frame from the server");
        pump(s, 1);
        peer_take(p);
    }
}

static HARNESS_UNUSED void expect_frame(server *s, peer *p, uint8_t op, const void *data,
                                        size_t len)
{
    flare_ws_frame_header h;
    flare_buf b = FLARE_BUF_INIT;
    read_frame(s, p, &h, &b);
    assert_int_equal(h.opcode, op);
    assert_true(h.fin);
    assert_int_equal(h.payload_len, len);
    if (len) assert_memory_equal(b.data, data, len);
    flare_buf_free(&b);
}

/* The server's close frame carries `code`; then the TCP connection ends. */
static HARNESS_UNUSED void expect_close(server *s, peer *p, uint16_t code)
{
    flare_ws_frame_header h;
    flare_buf b = FLARE_BUF_INIT;
    read_frame(s, p, &h, &b);
    assert_int_equal(h.opcode, FLARE_WS_OP_CLOSE);
    if (code == FLARE_WS_CLOSE_NO_STATUS) {
        assert_int_equal(h.payload_len, 0);
    } else {
        assert_true(h.payload_len >= 2);
        assert_int_equal(((uint8_t)b.data[0] << 8) | (uint8_t)b.data[1], code);
    }
    flare_buf_free(&b);
    assert_true(wait_bytes(s, p, SIZE_MAX) == false && p->eof);
    assert_int_equal(p->in.len, 0); /* nothing after the close frame */
}

static HARNESS_UNUSED void expect_echo(server *s, peer *p, uint8_t op, const void *data, size_t len)
{
    send_frame(s, p, op, true, 0, data, len);
    expect_frame(s, p, op, data, len);
}

static HARNESS_UNUSED void client_close(server *s, peer *p, uint16_t code)
{
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_frame(s, p, FLARE_WS_OP_CLOSE, true, 0, payload, 2);
    expect_close(s, p, code);
}

#endif
