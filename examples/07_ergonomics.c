/*
 * 07_ergonomics.c: the seed's requests-style client: a client with a base URL and
 * Bearer auth, `get("/items").json()`, `post("/items", ...).raise_for_status()`,
 * default headers, timeouts, and typed errors for the failures a caller meets
 * (a bad token, a slow server); then the seed's BufReader (lines and exact reads
 * over a TCP stream) and WsMessage (`recv_message`, `is_text`). A forked child
 * serves a small API and a WebSocket echo on loopback.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/http.h"
#include "flare/http_client.h"
#include "flare/io.h"
#include "flare/tcp.h"
#include "flare/ws.h"

static int items(const flare_request *req, flare_response *resp, void *data)
{
    const flare_http_header *auth = flare_http_request_header(req->head, FLARE_HDR_AUTHORIZATION);
    if (!auth || auth->value_len != 14 || memcmp(auth->value, "Bearer tok_abc", 14)) {
        flare_response_header(resp, "WWW-Authenticate", "Bearer");
        return flare_response_text(resp, 401, "text/plain", "who are you?\n", 13);
    }
    if (req->method == FLARE_METHOD_POST) return flare_response_json(resp, 201, "{\"id\": 3}");
    return flare_response_json(resp, 200, "[{\"id\": 1, \"name\": \"first\"}, {\"id\": 2}]");
}

static int slow(const flare_request *req, flare_response *resp, void *data)
{
    sleep(2); /* blocks this child's reactor: the client's timeout fires first */
    return flare_response_text(resp, 200, "text/plain", "late\n", 5);
}

static void echo_message(flare_ws_conn *c, flare_ws_opcode op, const char *data, size_t len,
                         void *userdata)
{
    (void)userdata;
    flare_ws_conn_send(c, op, data, len, NULL);
}

static int ws_echo(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    const flare_ws_conn_config cfg = {.on_message = echo_message};
    return flare_ws_upgrade(req, resp, NULL, &cfg, NULL);
}

/* BufReader: a raw HTTP/1.1 exchange read a line at a time (status line, then
 * fields up to the empty line), then the body with an exact read of its length. */
static int read_with_bufreader(uint16_t port, flare_error *err)
{
    flare_tcp_stream s;
    const flare_tcp_connect_options o = {.recv_timeout_ms = 5000};
    if (flare_tcp_connect(&s, "127.0.0.1", port, &o, err) < 0) return -1;
    static const char req[] = "GET /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Authorization: Bearer tok_abc\r\nConnection: close\r\n\r\n";
    flare_io_reader r;
    char body[256];
    const char *line;
    size_t len, body_len = 0;
    ssize_t n = flare_tcp_stream_write_all(&s, req, sizeof req - 1, err);
    if (n == 0) n = flare_io_reader_init(&r, flare_io_stream_tcp(&s), NULL, 0, err);
    if (n < 0) goto done;
    if ((n = flare_io_reader_read_line(&r, 1024, &line, &len, err)) > 0)
        printf("BufReader: status line \"%.*s\"\n", (int)len, line);
    while (n > 0 && (n = flare_io_reader_read_line(&r, 1024, &line, &len, err)) > 0 && len > 0)
        if (len > 15 && strncasecmp(line, "Content-Length:", 15) == 0)
            body_len = strtoul(line + 15, NULL, 10);
    if (n > 0 && (body_len == 0 || body_len > sizeof body)) n = FLARE_EPROTO;
    if (n > 0) n = flare_io_reader_read_exact(&r, body, body_len, err);
    if (n == 0) printf("BufReader: %zu-byte body %.*s\n", body_len, (int)body_len, body);
    flare_io_reader_free(&r);
done:
    flare_tcp_stream_close(&s);
    return n < 0 ? (int)n : 0;
}

/* WsMessage: one text message through the echo, told apart from binary by its opcode. */
static int ws_round_trip(uint16_t port, flare_error *err)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/api/ws", port);
    const flare_ws_client_options opts = {.read_timeout_ms = 5000};
    flare_ws_client *ws;
    flare_ws_message msg;
    if (flare_ws_connect(&ws, url, &opts, err) < 0) return -1;
    int rc = flare_ws_send_text(ws, "hello", 5, err);
    if (rc == 0) rc = flare_ws_recv_message(ws, &msg, err);
    if (rc == 0 && msg.opcode != FLARE_WS_OP_TEXT) rc = FLARE_EPROTO;
    if (rc == 0) printf("WsMessage: text \"%.*s\"\n", (int)msg.len, msg.data);
    if (rc == 0) rc = flare_ws_close(ws, FLARE_WS_CLOSE_NORMAL, NULL, err);
    flare_ws_client_free(ws);
    return rc;
}

static void serve(int fd)
{
    flare_reactor *r;
    flare_http_server *srv;
    if (flare_reactor_new(&r, NULL) < 0 || flare_http_server_new(&srv, r, NULL, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET | FLARE_M_POST, NULL, "/api/items", items,
                                NULL, 0, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, "/api/slow", slow, NULL, 0, NULL) <
            0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, "/api/ws", ws_echo, NULL, 0, NULL) <
            0 ||
        flare_http_server_add_listener(srv, fd, NULL) < 0)
        _exit(1);
    flare_http_server_run(srv, NULL);
    _exit(0);
}

int main(void)
{
    flare_error err;
    pid_t child = -1; /* killed on the failure path too: a server left behind never exits */
    flare_tcp_listener l;
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err) < 0) goto fail;
    child = fork();
    if (child == 0) serve(l.fd);
    char base[64];
    uint16_t port = l.local.port;
    snprintf(base, sizeof base, "http://127.0.0.1:%u/api", port);
    flare_tcp_listener_close(&l);
    int ok = 1;

    /* HttpClient("…/api", BearerAuth("tok_abc")) */
    flare_http_kv headers[] = {{"X-Client", "07_ergonomics"}};
    flare_http_client_config cfg = {
        .base_url = base,
        .auth = {.type = FLARE_HTTP_AUTH_BEARER, .token = "tok_abc"},
        .headers = headers,
        .num_headers = 1,
        .read_timeout_ms = 500,
    };
    flare_http_client *c;
    if (flare_http_client_new(&c, &cfg, &err) < 0) goto fail;
    flare_http_reply r;
    json_t *list;
    if (flare_http_client_get(c, "/items", &r, &err) < 0 ||
        flare_http_reply_raise_for_status(&r, &err) < 0 ||
        flare_http_reply_json(&r, &list, &err) < 0)
        goto fail;
    printf("GET /items: %zu items, the first is %s\n", json_array_size(list),
           json_string_value(flare_http_json_path(list, "0.name")));
    ok &= json_array_size(list) == 2;
    json_decref(list);
    flare_http_reply_free(&r);

    if (flare_http_client_post(c, "/items", "{\"name\": \"new\"}", &r, &err) < 0 ||
        flare_http_reply_raise_for_status(&r, &err) < 0)
        goto fail;
    printf("POST /items: %d %s\n", r.status, r.body);
    ok &= r.status == 201;
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    /* A wrong token: the request succeeds, raise_for_status says what went wrong. */
    cfg.auth.token = "tok_wrong";
    if (flare_http_client_new(&c, &cfg, &err) < 0) goto fail;
    if (flare_http_client_get(c, "items", &r, &err) < 0) goto fail;
    ok &= flare_http_reply_raise_for_status(&r, &err) == FLARE_EHTTP_STATUS;
    printf("wrong token: %s\n", err.message);
    flare_http_reply_free(&r);
    /* A server slower than the read timeout: a typed error, not a hang. */
    ok &= flare_http_client_get(c, "slow", &r, &err) == FLARE_ETIMEDOUT;
    printf("slow server: %s (%s)\n", err.message, flare_error_name(err.code));
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    if (read_with_bufreader(port, &err) < 0 || ws_round_trip(port, &err) < 0) goto fail;

    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return ok ? 0 : 1;
fail:
    if (child > 0) kill(child, SIGKILL), waitpid(child, NULL, 0);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
