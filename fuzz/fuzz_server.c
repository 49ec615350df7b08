/*
 * fuzz_server.c: the HTTP server's connection state machine, in-process. Each
 * input builds a reactor and a flare_http_server with a few routes (text, echo,
 * a large body, a file sent with sendfile, close, a failing handler, a small
 * body limit, a redirect, a WebSocket echo upgrade), adopts one or two
 * socketpairs, and writes the stream to them in random chunks (seeded by bytes
 * 1-4), pumping the reactor between writes; byte 0 picks limits, a small output
 * high-water mark, a slow or vanishing client. The loop is bounded. At the end
 * the clients close and the server must let go of every connection within a few
 * turns; freeing it must leave nothing behind (LeakSanitizer). What the client
 * got first must parse as an HTTP response.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/http.h"
#include "flare/ws.h"
#include "fuzz.h"

#define MAX_CLIENTS 2
#define MAX_TURNS   4000

static int file_fd = -1; /* a memfd with 96 KiB, dup'ed for each file response */
static flare_ws_group ws_group;

static int h_text(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    return flare_response_text(resp, 200, "text/plain", "Hello, World!", 13);
}

static int h_echo(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    int rc = flare_response_header(resp, "Content-Type", "application/octet-stream");
    if (rc == 0) rc = flare_response_body(resp, req->body, req->body_len);
    if (rc == 0 && req->query)
        rc = flare_response_headern(resp, "X-Query", 7, req->query, req->query_len);
    return rc;
}

static int h_big(const flare_request *req, flare_response *resp, void *ud)
{
    static char big[200 * 1024];
    (void)req;
    (void)ud;
    if (!big[0]) memset(big, 'b', sizeof big);
    flare_response_body_static(resp, big, sizeof big);
    return 0;
}

static int h_file(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    int fd = dup(file_fd);
    if (fd < 0) return -1;
    flare_response_file(resp, fd, 100, 96 * 1024 - 100);
    return 0;
}

static int h_close(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    flare_response_close(resp);
    return flare_response_text(resp, 200, "text/plain", "bye", 3);
}

static int h_fail(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)resp;
    (void)ud;
    return -1;
}

static int h_redirect(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    return flare_response_redirect(resp, 302, "/text");
}

static int h_ws(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    static const char *const protocols[] = {"chat"};
    flare_ws_server_options hs = {
        .subprotocols = protocols, .num_subprotocols = 1, .deflate = true};
    flare_ws_conn_config cfg = {
        .max_message = 4096, .echo = true, .group = &ws_group, .max_output = 8192};
    return flare_ws_upgrade(req, resp, &hs, &cfg, NULL);
}

typedef struct client {
    int fd;
    bool open;
    flare_buf in;
} client;

static void setup_once(void)
{
    if (file_fd >= 0) return;
    signal(SIGPIPE, SIG_IGN); /* as flared does: a peer that vanished is an error code */
    file_fd = memfd_create("fuzz-file", MFD_CLOEXEC);
    static char block[4096];
    memset(block, 'f', sizeof block);
    for (int i = 0; i < 24 && file_fd >= 0; i++)
        if (write(file_fd, block, sizeof block) != (ssize_t)sizeof block) break;
}

static void client_read(client *c)
{
    char buf[16384];
    for (int i = 0; i < 64 && c->fd >= 0; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) return;
        /* Keep only the beginning: enough to check the first response. */
        if (c->in.len < 8192) (void)flare_buf_append(&c->in, buf, (size_t)n);
    }
}

static void pump(flare_reactor *r, int turns)
{
    for (int i = 0; i < turns; i++)
        if (flare_reactor_poll(r, 0, NULL) < 0) break;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    setup_once();
    uint8_t flags = data[0];
    fuzz_rng rng = fuzz_rng_seed(data + 1, 4);
    data += 5;
    size -= 5;

    flare_reactor *r;
    flare_http_server *srv;
    if (flare_reactor_new(&r, NULL) < 0) return 0;
    flare_http_server_config cfg;
    flare_http_server_config_default(&cfg);
    if (flags & 1) {
        cfg.max_header_bytes = 512;
        cfg.max_uri_bytes = 128;
        cfg.max_headers = 8;
        cfg.max_body_bytes = 64;
    }
    if (flags & 2) cfg.output_high_water = 1024;
    if (flags & 4) cfg.max_keepalive_requests = 3;
    if (flags & 8) cfg.max_connections = 1;
    if (flare_http_server_new(&srv, r, &cfg, NULL) < 0) {
        flare_reactor_free(r);
        return 0;
    }
    memset(&ws_group, 0, sizeof ws_group);
    const uint32_t get = FLARE_M_GET, any = FLARE_M_ANY;
    static const char *const extra[] = {"PROPFIND", NULL};
    flare_http_server_route(srv, NULL, get, NULL, "/text", h_text, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, any, extra, "/echo", h_echo, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, FLARE_M_POST, NULL, "/small", h_echo, NULL, 16, NULL);
    flare_http_server_route(srv, NULL, get, NULL, "/big", h_big, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, get, NULL, "/file", h_file, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, any, NULL, "/close", h_close, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, any, NULL, "/fail", h_fail, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, get, NULL, "/p/", h_redirect, NULL, 0, NULL);
    flare_http_server_route(srv, "*.example", get, NULL, "/", h_text, NULL, 0, NULL);
    flare_http_server_route(srv, NULL, get, NULL, "/ws", h_ws, NULL, 0, NULL);

    client clients[MAX_CLIENTS];
    size_t nclients = (flags & 0x80) ? 2 : 1;
    for (size_t i = 0; i < nclients; i++) {
        int sv[2];
        clients[i] = (client){-1, false, FLARE_BUF_INIT};
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) continue;
        clients[i].fd = sv[1];
        clients[i].open = true;
        /* Over max_connections the server answers 503 and closes: fine too. */
        (void)flare_http_server_adopt_connection(srv, sv[0], NULL, NULL);
    }
    pump(r, 1);

    bool slow_reader = flags & 0x10;
    size_t pos = 0;
    int turns = 0;
    size_t vanish_at = (flags & 0x40) ? fuzz_rng_range(&rng, 0, size) : SIZE_MAX;
    while (pos < size && turns < MAX_TURNS) {
        if (pos >= vanish_at) break; /* the client drops the connection mid-stream */
        size_t n = fuzz_rng_range(&rng, 1, size - pos < 512 ? size - pos : 512);
        client *c = &clients[fuzz_rng_range(&rng, 0, nclients - 1)];
        if (c->open) {
            ssize_t w = send(c->fd, data + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) c->open = false;
            if (w > 0) n = (size_t)w;
        }
        pos += n;
        pump(r, (int)fuzz_rng_range(&rng, 1, 3));
        turns++;
        if (!slow_reader)
            for (size_t i = 0; i < nclients; i++)
                client_read(&clients[i]);
    }
    if (flags & 0x20)
        for (size_t i = 0; i < nclients; i++)
            if (clients[i].fd >= 0) shutdown(clients[i].fd, SHUT_WR);
    for (int i = 0; i < 20; i++) {
        pump(r, 1);
        for (size_t k = 0; k < nclients; k++)
            client_read(&clients[k]);
    }

    /* What a client got first is an HTTP response (a 101 or not). */
    for (size_t i = 0; i < nclients; i++) {
        flare_buf *in = &clients[i].in;
        if (getenv("FUZZ_SERVER_TRACE"))
            fprintf(stderr, "client %zu got %zu bytes: %.*s\n", i, in->len,
                    (int)(in->len < 200 ? in->len : 200), in->data ? in->data : "");
        if (in->len == 0 || !memmem(in->data, in->len, "\r\n\r\n", 4)) continue;
        flare_http_header hdrs[64];
        flare_http_response resp = {.headers = hdrs, .max_headers_capacity = 64};
        FUZZ_CHECK(flare_http_parse_response(in->data, in->len, 0, &resp) > 0);
    }

    /* The clients leave; the server must let go of everything promptly. */
    for (size_t i = 0; i < nclients; i++) {
        if (clients[i].fd >= 0) close(clients[i].fd);
        flare_buf_free(&clients[i].in);
    }
    for (int i = 0; i < 100 && (flare_http_server_connections(srv) || ws_group.stats.active); i++)
        pump(r, 1);
    FUZZ_CHECK(flare_http_server_connections(srv) == 0);
    FUZZ_CHECK(ws_group.stats.active == 0);
    flare_http_server_free(srv);
    FUZZ_CHECK(flare_reactor_count(r) == 0);
    flare_reactor_free(r);
    return 0;
}
