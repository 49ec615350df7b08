/*
 * echo_server.h: a small WebSocket echo server for the client tests, built only
 * from the ws layer's server-side pieces (handshake, parser, encoder, deflate)
 * over a blocking loopback TCP connection in a thread. It records what it saw
 * (mask keys, compressed frames, the client's close code), answers a few text
 * commands that make it misbehave on purpose, and can be told to botch the
 * handshake in several ways.
 */
#ifndef FLARE_TEST_ECHO_SERVER_H
#define FLARE_TEST_ECHO_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flare/tcp.h"
#include "flare/ws.h"

typedef enum {
    MODE_NORMAL,
    MODE_BAD_ACCEPT,    /* 101 with a wrong Sec-WebSocket-Accept */
    MODE_STATUS_403,    /* plain 403 */
    MODE_NO_UPGRADE,    /* 101 without Upgrade: websocket */
    MODE_BAD_PROTOCOL,  /* a subprotocol the client did not offer */
    MODE_BAD_EXTENSION, /* an extension the client did not offer */
    MODE_SILENT,        /* never answers the request */
    MODE_EARLY_DATA,    /* a text frame in the same write as the 101 */
    MODE_CHATTY,        /* after the 101, a ping every 20 ms for 3 s, never a close */
    MODE_DRIBBLE_HEAD,  /* the 101 one byte every 30 ms */
    MODE_DEAF,          /* after the 101, reads nothing until stop is set (20 s at most) */
} server_mode;

enum { MAX_MASKS = 256 };

typedef struct echo_server {
    flare_tcp_listener l;
    pthread_t thread;
    server_mode mode;
    flare_ws_server_options opts;
    /* observations, read after join */
    int failed;         /* the server itself hit an unexpected error */
    char request[4096]; /* the request head as received */
    uint8_t masks[MAX_MASKS][4];
    size_t nmasks;
    size_t compressed_frames;
    size_t pongs;          /* pongs received (answers to our pings) */
    uint16_t client_close; /* code of the client's close frame, 0 = none */
    bool negotiated_deflate;
    atomic_bool stop; /* MODE_DEAF: set by the test when it is done */
} echo_server;

static int srv_write(flare_tcp_stream *c, const flare_buf *b)
{
    return flare_tcp_stream_write_all(c, b->data, b->len, NULL);
}

/* Sends one unmasked frame. */
static int srv_frame(flare_tcp_stream *c, uint8_t op, bool fin, const void *p, size_t n)
{
    flare_buf b = FLARE_BUF_INIT;
    int rc = flare_ws_frame_encode(&b, op, fin, 0, p, n, NULL);
    if (rc == 0) rc = srv_write(c, &b);
    flare_buf_free(&b);
    return rc;
}

/* Reads the request head into in; returns its length or -1. */
static ssize_t srv_read_head(flare_tcp_stream *c, flare_buf *in, flare_http_request *req,
                             flare_http_header *hdrs, size_t nhdrs)
{
    for (;;) {
        if (flare_buf_reserve(in, 4096) < 0) return -1;
        ssize_t n = flare_tcp_stream_read(c, in->data + in->len, flare_buf_room(in), NULL);
        if (n <= 0) return -1;
        in->len += (size_t)n;
        req->headers = hdrs;
        req->max_headers_capacity = nhdrs;
        ssize_t hl = flare_http_parse_request(in->data, in->len, 0, NULL, req, NULL);
        if (hl > 0) return hl;
        if (hl != FLARE_EINCOMPLETE) return -1;
    }
}

static int srv_answer(echo_server *s, flare_tcp_stream *c, const flare_ws_handshake *hs)
{
    flare_buf out = FLARE_BUF_INIT;
    int rc = 0;
    switch (s->mode) {
    case MODE_BAD_ACCEPT:
        rc = flare_buf_append_str(&out,
                                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
        break;
    case MODE_STATUS_403:
        rc = flare_buf_append_str(&out, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        break;
    case MODE_NO_UPGRADE:
        rc = flare_buf_appendf(&out,
                               "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n\r\n",
                               hs->accept);
        break;
    case MODE_BAD_PROTOCOL:
    case MODE_BAD_EXTENSION:
        rc =
            flare_buf_appendf(&out,
                              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                              hs->accept,
                              s->mode == MODE_BAD_PROTOCOL ? "Sec-WebSocket-Protocol: other\r\n"
                                                           : "Sec-WebSocket-Extensions: x-foo\r\n");
        break;
    case MODE_DRIBBLE_HEAD:
        rc = flare_ws_handshake_response(hs, &out);
        for (size_t i = 0; rc == 0 && i < out.len; i++) {
            rc = flare_tcp_stream_write_all(c, out.data + i, 1, NULL);
            usleep(30 * 1000);
        }
        out.len = 0;
        break;
    default:
        rc = flare_ws_handshake_response(hs, &out);
        if (rc == 0 && s->mode == MODE_EARLY_DATA)
            rc = flare_ws_frame_encode(&out, FLARE_WS_OP_TEXT, true, 0, "early", 5, NULL);
    }
    if (rc == 0) rc = srv_write(c, &out);
    flare_buf_free(&out);
    return rc;
}

/* Acts on one complete message; returns 1 when the connection should end. */
static int srv_message(echo_server *s, flare_tcp_stream *c, const flare_ws_event *ev,
                       flare_ws_deflate *d)
{
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 7 && memcmp(ev->data, "ping-me", 7) == 0)
        return srv_frame(c, FLARE_WS_OP_PING, true, "srv", 3) < 0;
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 8 && memcmp(ev->data, "close-me", 8) == 0) {
        uint8_t p[FLARE_WS_MAX_CONTROL];
        size_t n = flare_ws_close_payload(p, 4000, "bye", 3);
        srv_frame(c, FLARE_WS_OP_CLOSE, true, p, n);
        return 0; /* keep reading: the client's answer is recorded */
    }
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 9 && memcmp(ev->data, "bad-frame", 9) == 0) {
        flare_buf b = FLARE_BUF_INIT;
        static const uint8_t k[4] = {1, 2, 3, 4};
        flare_ws_frame_encode(&b, FLARE_WS_OP_TEXT, true, 0, "masked!", 7, k); /* §5.1 breach */
        srv_write(c, &b);
        flare_buf_free(&b);
        return 0;
    }
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 4 && memcmp(ev->data, "frag", 4) == 0) {
        int rc = srv_frame(c, FLARE_WS_OP_TEXT, false, "fr", 2);
        if (rc == 0) rc = srv_frame(c, FLARE_WS_OP_PING, true, "mid", 3);
        if (rc == 0) rc = srv_frame(c, FLARE_WS_OP_CONTINUATION, false, "\xc3", 1);
        if (rc == 0) rc = srv_frame(c, FLARE_WS_OP_CONTINUATION, true, "\xa9", 1);
        return rc < 0;
    }
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 4 && memcmp(ev->data, "drop", 4) == 0)
        return 1; /* vanish without a close frame */
    if (ev->type == FLARE_WS_EV_TEXT && ev->len == 7 && memcmp(ev->data, "dribble", 7) == 0) {
        /* The echo, one byte per write. */
        flare_buf b = FLARE_BUF_INIT;
        flare_ws_frame_encode(&b, FLARE_WS_OP_TEXT, true, 0, "dribbled", 8, NULL);
        for (size_t i = 0; i < b.len; i++) {
            flare_tcp_stream_write_all(c, b.data + i, 1, NULL);
            usleep(1000);
        }
        flare_buf_free(&b);
        return 0;
    }
    /* Echo with the same type. */
    flare_buf b = FLARE_BUF_INIT;
    uint8_t op = ev->type == FLARE_WS_EV_TEXT ? FLARE_WS_OP_TEXT : FLARE_WS_OP_BINARY;
    int rc = flare_ws_message_encode(&b, op, ev->data, ev->len, d, NULL, NULL);
    if (rc == 0) rc = srv_write(c, &b);
    flare_buf_free(&b);
    return rc < 0;
}

static void srv_loop(echo_server *s, flare_tcp_stream *c, flare_buf *in, size_t pos,
                     flare_ws_deflate *d)
{
    flare_ws_parser p;
    flare_ws_parser_config cfg = {.server = true, .deflate = d, .max_message = 64u << 20};
    flare_ws_parser_init(&p, &cfg);
    for (;;) {
        while (pos < in->len) {
            if (!p.in_frame) {
                flare_ws_frame_header h;
                if (flare_ws_frame_decode(in->data + pos, in->len - pos, &h) > 0) {
                    if (h.masked && s->nmasks < MAX_MASKS) memcpy(s->masks[s->nmasks++], h.mask, 4);
                    if (h.rsv & FLARE_WS_RSV1) s->compressed_frames++;
                }
            }
            flare_ws_event ev;
            ssize_t n = flare_ws_parser_feed(&p, in->data + pos, in->len - pos, &ev, NULL);
            if (n < 0) {
                uint8_t pl[FLARE_WS_MAX_CONTROL];
                size_t k = flare_ws_close_payload(pl, flare_ws_parser_error_code(&p), NULL, 0);
                srv_frame(c, FLARE_WS_OP_CLOSE, true, pl, k);
                goto out;
            }
            pos += (size_t)n;
            if (ev.type == FLARE_WS_EV_NONE) break;
            if (ev.type == FLARE_WS_EV_PING) {
                srv_frame(c, FLARE_WS_OP_PONG, true, ev.data, ev.len);
            } else if (ev.type == FLARE_WS_EV_PONG) {
                s->pongs++;
            } else if (ev.type == FLARE_WS_EV_CLOSE) {
                s->client_close = ev.close_code;
                uint8_t pl[FLARE_WS_MAX_CONTROL];
                size_t k = flare_ws_close_payload(
                    pl, ev.close_code == FLARE_WS_CLOSE_NO_STATUS ? 0 : ev.close_code, NULL, 0);
                srv_frame(c, FLARE_WS_OP_CLOSE, true, pl, k);
                goto out;
            } else if (srv_message(s, c, &ev, d)) {
                goto out;
            }
        }
        flare_buf_consume(in, pos);
        pos = 0;
        if (flare_buf_reserve(in, 65536) < 0) break;
        ssize_t n = flare_tcp_stream_read(c, in->data + in->len, flare_buf_room(in), NULL);
        if (n <= 0) break;
        in->len += (size_t)n;
    }
out:
    flare_ws_parser_free(&p);
}

static void *srv_main(void *arg)
{
    echo_server *s = arg;
    flare_tcp_stream c;
    if (flare_tcp_listener_accept_stream(&s->l, &c, NULL) < 0) {
        s->failed = 1;
        return NULL;
    }
    flare_tcp_stream_set_recv_timeout(&c, 10000, NULL);
    flare_buf in = FLARE_BUF_INIT;
    flare_http_header hdrs[32];
    flare_http_request req;
    ssize_t hl = srv_read_head(&c, &in, &req, hdrs, 32);
    if (hl < 0) {
        s->failed = 1;
        goto done;
    }
    snprintf(s->request, sizeof s->request, "%.*s", (int)hl, in.data);
    if (s->mode == MODE_SILENT) {
        char sink[256];
        while (flare_tcp_stream_read(&c, sink, sizeof sink, NULL) > 0) {
        }
        goto done;
    }
    flare_ws_handshake hs;
    flare_ws_server_handshake(&req, &s->opts, &hs, NULL);
    if (srv_answer(s, &c, &hs) < 0 || hs.status != 101 || s->mode != MODE_NORMAL) {
        if (s->mode == MODE_EARLY_DATA) {
            srv_loop(s, &c, &in, (size_t)hl, NULL);
        } else if (s->mode == MODE_DEAF) {
            for (int i = 0; i < 1000 && !s->stop; i++)
                usleep(20 * 1000);
        } else if (s->mode == MODE_CHATTY) {
            for (int i = 0; i < 150 && srv_frame(&c, FLARE_WS_OP_PING, true, "hi", 2) == 0; i++)
                usleep(20 * 1000);
        } else {
            /* Wait for the client to give up, so it reads everything we sent. */
            char sink[256];
            while (flare_tcp_stream_read(&c, sink, sizeof sink, NULL) > 0) {
            }
        }
        goto done;
    }
    flare_ws_deflate *d = NULL;
    if (hs.deflate) {
        s->negotiated_deflate = true;
        if (flare_ws_deflate_new(&d, &hs.deflate_params, true, -1, NULL) < 0) s->failed = 1;
    }
    srv_loop(s, &c, &in, (size_t)hl, d);
    flare_ws_deflate_free(d);
done:
    flare_buf_free(&in);
    flare_tcp_stream_close(&c);
    return NULL;
}

/* Starts a server on addr ("127.0.0.1:0" or "[::1]:0"); false when it cannot listen. */
static bool server_start(echo_server *s, const char *addr)
{
    flare_tcp_listen_options lo = {.accept_blocking = true};
    if (flare_tcp_listen_str(&s->l, addr, &lo, NULL) < 0) return false;
    return pthread_create(&s->thread, NULL, srv_main, s) == 0;
}

static void server_join(echo_server *s)
{
    pthread_join(s->thread, NULL);
    flare_tcp_listener_close(&s->l);
}

#endif
