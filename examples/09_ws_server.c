/*
 * 09_ws_server.c: a WebSocket chat room on libflare's HTTP server. GET /chat with
 * an upgrade (subprotocol "chat.v1") joins the room: the newcomer is greeted, every
 * text message goes to everyone as "<id>: <text>", "/quit" leaves with 1000 "bye",
 * and a binary message is refused with 1003. Any other path is a plain 404.
 * Usage: 09_ws_server [PORT] (default 8080).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flare/http.h"
#include "flare/ws.h"

typedef struct member {
    flare_ws_conn *conn;
    unsigned id;
    struct member *next;
} member;

static member *room;
static unsigned next_id = 1;

static void say_to_all(const char *text, size_t len)
{
    for (member *m = room; m; m = m->next)
        flare_ws_conn_send_text(m->conn, text, len, NULL); /* a full queue drops it: chat */
}

static void on_open(flare_ws_conn *c, void *data)
{
    (void)data;
    member *m = calloc(1, sizeof *m);
    if (!m) {
        flare_ws_conn_close(c, 1011, "out of memory", NULL);
        return;
    }
    *m = (member){c, next_id++, room};
    room = m;
    flare_ws_conn_set_userdata(c, m);
    char hello[64];
    int n = snprintf(hello, sizeof hello, "welcome, you are %u", m->id);
    flare_ws_conn_send_text(c, hello, (size_t)n, NULL);
}

static void on_message(flare_ws_conn *c, flare_ws_opcode op, const char *data, size_t len,
                       void *userdata)
{
    const member *m = userdata;
    if (op != FLARE_WS_OP_TEXT) {
        flare_ws_conn_close(c, 1003, "text only", NULL);
        return;
    }
    if (len == 5 && memcmp(data, "/quit", 5) == 0) {
        flare_ws_conn_close(c, 1000, "bye", NULL);
        return;
    }
    char line[1024];
    int n = snprintf(line, sizeof line, "%u: %.*s", m->id, (int)len, data);
    say_to_all(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void on_close(flare_ws_conn *c, uint16_t code, const char *reason, size_t reason_len,
                     void *userdata)
{
    (void)c;
    member *m = userdata;
    if (!m) return; /* on_open ran out of memory */
    for (member **p = &room; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    printf("member %u left: %u %.*s\n", m->id, code, (int)reason_len, reason);
    fflush(stdout);
    free(m);
}

static int chat(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    static const char *const protocols[] = {"chat.v1"};
    const flare_ws_server_options hs = {.subprotocols = protocols, .num_subprotocols = 1};
    const flare_ws_conn_config cfg = {.max_message = 4096,
                                      .idle_timeout_ms = 60000,
                                      .on_open = on_open,
                                      .on_message = on_message,
                                      .on_close = on_close};
    return flare_ws_upgrade(req, resp, &hs, &cfg, NULL); /* 101, or 400/403/426 */
}

int main(int argc, char **argv)
{
    flare_reactor *r;
    flare_http_server *srv;
    flare_error err;
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "8080");
    if (flare_reactor_new(&r, &err) < 0 || flare_http_server_new(&srv, r, NULL, &err) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, "/chat", chat, NULL, 0, &err) < 0 ||
        flare_http_server_listen(srv, addr, NULL, &err) < 0)
        return fprintf(stderr, "%s\n", err.message), 1;
    return flare_http_server_run(srv, &err) < 0 ? 1 : 0;
}
