/*
 * 06_websocket_echo.c: a WebSocket echo round trip on loopback. A forked child
 * serves one connection with the ws layer's server pieces (handshake check,
 * message parser, frame encoder); the parent connects with the client, sends a
 * text and a binary message, reads the echoes and closes cleanly.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/tcp.h"
#include "flare/ws.h"

static int serve_one(flare_tcp_listener *l)
{
    flare_tcp_stream c;
    flare_http_header hdrs[32];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 32};
    flare_ws_handshake hs;
    flare_buf in = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    ssize_t n, head = FLARE_EINCOMPLETE;
    if (flare_tcp_listener_accept_stream(l, &c, NULL) < 0) return 1;
    while (head == FLARE_EINCOMPLETE && flare_buf_reserve(&in, 4096) == 0 &&
           (n = flare_tcp_stream_read(&c, in.data + in.len, flare_buf_room(&in), NULL)) > 0) {
        in.len += (size_t)n;
        head = flare_http_parse_request(in.data, in.len, 0, NULL, &req, NULL);
    }
    if (head < 0) return 1;
    flare_ws_server_handshake(&req, NULL, &hs, NULL); /* 101, or 400/426 to send back */
    if (flare_ws_handshake_response(&hs, &out) < 0 ||
        flare_tcp_stream_write_all(&c, out.data, out.len, NULL) < 0 || hs.status != 101)
        return 1;
    out.len = 0;
    flare_ws_parser p;
    flare_ws_parser_init(&p, NULL); /* server role, 16 MiB limit */
    flare_buf_consume(&in, (size_t)head);
    for (;;) {
        flare_ws_event ev;
        n = flare_ws_parser_feed(&p, in.data, in.len, &ev, NULL);
        if (n < 0) return 1;
        if (ev.type == FLARE_WS_EV_TEXT || ev.type == FLARE_WS_EV_BINARY)
            flare_ws_message_encode(
                &out, ev.type == FLARE_WS_EV_TEXT ? FLARE_WS_OP_TEXT : FLARE_WS_OP_BINARY, ev.data,
                ev.len, NULL, NULL, NULL);
        else if (ev.type == FLARE_WS_EV_CLOSE) /* echo the close, then we are done */
            flare_ws_frame_encode(&out, FLARE_WS_OP_CLOSE, true, 0, ev.data, ev.len, NULL);
        if (out.len && flare_tcp_stream_write_all(&c, out.data, out.len, NULL) < 0) return 1;
        out.len = 0;
        flare_buf_consume(&in, (size_t)n); /* after use: ev.data pointed into in */
        if (ev.type == FLARE_WS_EV_CLOSE) return 0;
        if (ev.type == FLARE_WS_EV_NONE &&
            (flare_buf_reserve(&in, 4096) < 0 ||
             (n = flare_tcp_stream_read(&c, in.data + in.len, flare_buf_room(&in), NULL)) <= 0))
            return 1;
        if (ev.type == FLARE_WS_EV_NONE) in.len += (size_t)n;
    }
}

int main(void)
{
    flare_error err;
    pid_t child = -1; /* killed on the failure path too: a server left behind never exits */
    flare_tcp_listener l;
    flare_tcp_listen_options lo = {.accept_blocking = true};
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", &lo, &err) < 0) goto fail;
    child = fork();
    if (child == 0) _exit(serve_one(&l));
    flare_tcp_listener_close(&l);

    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", l.local.port);
    flare_ws_client_options opts = {.read_timeout_ms = 5000};
    flare_ws_client *ws;
    flare_ws_message m;
    if (flare_ws_connect(&ws, url, &opts, &err) < 0) goto fail;
    if (flare_ws_send_text(ws, "hello, websocket", 16, &err) < 0) goto fail;
    if (flare_ws_recv_message(ws, &m, &err) < 0) goto fail;
    printf("%s echoed text: %.*s\n", url, (int)m.len, m.data);
    int ok = m.opcode == FLARE_WS_OP_TEXT && m.len == 16;
    if (flare_ws_send_binary(ws, "\x00\x01\x02", 3, &err) < 0) goto fail;
    if (flare_ws_recv_message(ws, &m, &err) < 0) goto fail;
    ok = ok && m.opcode == FLARE_WS_OP_BINARY && m.len == 3;
    if (flare_ws_close(ws, FLARE_WS_CLOSE_NORMAL, "bye", &err) < 0) goto fail;
    printf("closed with %u\n", flare_ws_client_close_code(ws));
    flare_ws_client_free(ws);
    int status = 0;
    waitpid(child, &status, 0);
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
fail:
    if (child > 0) kill(child, SIGKILL), waitpid(child, NULL, 0);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
