/*
 * server_harness.h: drives a flare_http_server in-process for the server tests.
 * Each client is one end of a socketpair whose other end the server adopts; the
 * test pumps the reactor while it writes and reads its end, and parses what comes
 * back with the (separately tested) response parser, so every status line, header
 * and body byte can be checked. Single-threaded: the server runs only inside pumps.
 */
#ifndef FLARE_TEST_SERVER_HARNESS_H
#define FLARE_TEST_SERVER_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/http.h"

#define HARNESS_UNUSED __attribute__((unused))
/* How long a read waits for the server before the test fails (never a performance bound). */
#define HARNESS_WAIT_MS     5000
#define HARNESS_MAX_HEADERS 32

typedef struct harness {
    flare_reactor *r;
    flare_http_server *srv;
    flare_http_server_config cfg;
} harness;

typedef struct client {
    int fd;
    int server_fd; /* the end the server adopted (for counting its system calls) */
    flare_buf in;  /* received and not yet taken by client_read_response */
    bool eof;      /* the server closed its end (EOF or reset) */
} client;

/* One parsed response; headers are slices into `head`. */
typedef struct response {
    int status;
    int minor;
    char head[8192];
    size_t head_len;
    flare_http_header headers[HARNESS_MAX_HEADERS];
    size_t num_headers;
    flare_buf body;
} response;

/* Test configuration: defaults, except that timeouts are long unless a test shortens them. */
static HARNESS_UNUSED void harness_config(flare_http_server_config *cfg)
{
    flare_http_server_config_default(cfg);
    cfg->server_name = "flare-test";
}

static HARNESS_UNUSED void harness_start(harness *h, const flare_http_server_config *cfg)
{
    flare_error err;
    memset(h, 0, sizeof *h);
    if (cfg)
        h->cfg = *cfg;
    else
        harness_config(&h->cfg);
    if (flare_reactor_new(&h->r, &err) < 0) fail_msg("reactor: %s", err.message);
    if (flare_http_server_new(&h->srv, h->r, &h->cfg, &err) < 0)
        fail_msg("server: %s", err.message);
}

static HARNESS_UNUSED void harness_stop(harness *h)
{
    flare_http_server_free(h->srv);
    flare_reactor_free(h->r);
    h->srv = NULL;
    h->r = NULL;
}

static HARNESS_UNUSED void harness_route(harness *h, const char *host, uint32_t methods,
                                         const char *path, flare_http_handler fn, void *data,
                                         uint64_t max_body)
{
    flare_error err;
    if (flare_http_server_route(h->srv, host, methods, NULL, path, fn, data, max_body, &err) < 0)
        fail_msg("route %s: %s", path, err.message);
}

/* One loop turn of the server, waiting at most ms for it to have something to do. */
static HARNESS_UNUSED void harness_pump(harness *h, int ms)
{
    flare_error err;
    if (flare_reactor_poll(h->r, ms, &err) < 0) fail_msg("poll: %s", err.message);
}

/* Runs the server for about `ms` milliseconds of wall time. */
static HARNESS_UNUSED void harness_pump_for(harness *h, int ms)
{
    uint64_t end = flare_monotonic_ms() + (uint64_t)ms;
    for (uint64_t now = flare_monotonic_ms(); now < end; now = flare_monotonic_ms())
        harness_pump(h, (int)(end - now));
}

static HARNESS_UNUSED void client_open(harness *h, client *c)
{
    int sv[2];
    flare_error err;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    memset(c, 0, sizeof *c);
    c->fd = sv[1];
    c->server_fd = sv[0];
    if (flare_http_server_adopt_connection(h->srv, sv[0], NULL, &err) < 0)
        fail_msg("adopt: %s", err.message);
}

/* A non-blocking TCP client of 127.0.0.1:port, pumping the server while it connects. */
static HARNESS_UNUSED void client_tcp(harness *h, client *c, uint16_t port)
{
    memset(c, 0, sizeof *c);
    c->server_fd = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    assert_true(rc == 0 || errno == EINPROGRESS);
    harness_pump(h, 10);
}

static HARNESS_UNUSED void client_close(client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    flare_buf_free(&c->in);
}

/* Takes whatever the server has sent so far; returns the number of new bytes. */
static HARNESS_UNUSED size_t client_take(client *c)
{
    size_t total = 0;
    for (;;) {
        if (flare_buf_reserve(&c->in, 65536) < 0) fail_msg("out of memory");
        ssize_t n = recv(c->fd, c->in.data + c->in.len, 65536, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            total += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) c->eof = true;
        return total;
    }
}

/* Writes all of data, letting the server run whenever the socket is full. */
static HARNESS_UNUSED void client_send(harness *h, client *c, const void *data, size_t len)
{
    const char *p = data;
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            fail_msg("client send: %s (%zu bytes left)", strerror(errno), len);
        if (flare_monotonic_ms() > deadline) fail_msg("client send: server stopped reading");
        harness_pump(h, 1);
        client_take(c);
    }
}

static HARNESS_UNUSED void client_send_str(harness *h, client *c, const char *s)
{
    client_send(h, c, s, strlen(s));
}

static HARNESS_UNUSED const flare_http_header *response_header(const response *r, const char *name)
{
    return flare_http_find_header(r->headers, r->num_headers, name, strlen(name));
}

/* True when header `name` is present with exactly `value`. */
static HARNESS_UNUSED bool response_has(const response *r, const char *name, const char *value)
{
    const flare_http_header *hd = response_header(r, name);
    return hd && hd->value_len == strlen(value) && memcmp(hd->value, value, hd->value_len) == 0;
}

static HARNESS_UNUSED void assert_header(const response *r, const char *name, const char *value)
{
    const flare_http_header *hd = response_header(r, name);
    if (!hd) fail_msg("status %d: no %s header (want \"%s\")", r->status, name, value);
    if (!response_has(r, name, value))
        fail_msg("status %d: %s is \"%.*s\", want \"%s\"", r->status, name, (int)hd->value_len,
                 hd->value, value);
}

/* The status line is exactly `line` (without its CRLF). */
static HARNESS_UNUSED void assert_status_line(const response *r, const char *line)
{
    size_t n = strlen(line);
    if (r->head_len < n + 2 || memcmp(r->head, line, n) != 0 || memcmp(r->head + n, "\r\n", 2))
        fail_msg("status line \"%.*s\", want \"%s\"", (int)(r->head_len < 60 ? r->head_len : 60),
                 r->head, line);
}

static HARNESS_UNUSED void assert_no_header(const response *r, const char *name)
{
    const flare_http_header *hd = response_header(r, name);
    if (hd)
        fail_msg("status %d: unexpected %s: %.*s", r->status, name, (int)hd->value_len, hd->value);
}

static HARNESS_UNUSED void response_free(response *r)
{
    flare_buf_free(&r->body);
}

/*
 * Parses one response from what the client has received, pumping the server until
 * it is complete. `head_only`: the request was HEAD (no body whatever the
 * Content-Length says). Returns false when the server closed first or the wait ran out.
 */
static HARNESS_UNUSED bool client_try_response(harness *h, client *c, response *out, bool head_only,
                                               int wait_ms)
{
    uint64_t deadline = flare_monotonic_ms() + (uint64_t)wait_ms;
    flare_buf_free(&out->body);
    memset(out, 0, sizeof *out);
    for (;;) {
        flare_http_response pr = {.headers = out->headers,
                                  .max_headers_capacity = HARNESS_MAX_HEADERS};
        ssize_t n = c->in.len ? flare_http_parse_response(c->in.data, c->in.len, 0, &pr)
                              : FLARE_EINCOMPLETE;
        if (n == FLARE_EPARSE) fail_msg("unparsable response: %.*s", (int)c->in.len, c->in.data);
        if (n > 0) {
            assert_true((size_t)n <= sizeof out->head);
            assert_false(pr.chunked); /* the server always frames with Content-Length */
            uint64_t body = 0;
            bool bodiless = head_only || pr.status < 200 || pr.status == 204 || pr.status == 304;
            if (!bodiless) {
                if (pr.content_length < 0) fail_msg("status %d without Content-Length", pr.status);
                body = (uint64_t)pr.content_length;
            }
            if (c->in.len - (size_t)n >= body) {
                memcpy(out->head, c->in.data, (size_t)n);
                out->head_len = (size_t)n;
                flare_http_response again = {.headers = out->headers,
                                             .max_headers_capacity = HARNESS_MAX_HEADERS};
                assert_int_equal(flare_http_parse_response(out->head, out->head_len, 0, &again), n);
                out->status = again.status;
                out->minor = again.minor_version;
                out->num_headers = again.num_headers;
                if (flare_buf_append(&out->body, c->in.data + n, (size_t)body) < 0)
                    fail_msg("out of memory");
                flare_buf_consume(&c->in, (size_t)n + (size_t)body);
                return true;
            }
        }
        if (c->eof || flare_monotonic_ms() > deadline) return false;
        harness_pump(h, 1);
        client_take(c);
    }
}

static HARNESS_UNUSED void client_response(harness *h, client *c, response *out, bool head_only)
{
    if (!client_try_response(h, c, out, head_only, HARNESS_WAIT_MS))
        fail_msg("no complete response (eof %d, %zu bytes buffered: \"%.*s\")", c->eof, c->in.len,
                 (int)(c->in.len < 300 ? c->in.len : 300), c->in.data ? c->in.data : "");
}

/* Reads one response and checks its status and exact body. */
static HARNESS_UNUSED void expect_response(harness *h, client *c, int status, const char *body)
{
    response r = {0};
    client_response(h, c, &r, false);
    if (r.status != status)
        fail_msg("status %d, want %d (body \"%.*s\")", r.status, status, (int)r.body.len,
                 r.body.data ? r.body.data : "");
    if (body) {
        if (r.body.len != strlen(body) ||
            (r.body.len && memcmp(r.body.data, body, r.body.len) != 0))
            fail_msg("status %d: body \"%.*s\", want \"%s\"", status, (int)r.body.len,
                     r.body.data ? r.body.data : "", body);
    }
    response_free(&r);
}

/* The server closes the connection without sending anything more. */
static HARNESS_UNUSED void expect_closed(harness *h, client *c)
{
    uint64_t deadline = flare_monotonic_ms() + HARNESS_WAIT_MS;
    while (!c->eof && flare_monotonic_ms() <= deadline) {
        harness_pump(h, 1);
        client_take(c);
    }
    if (!c->eof) fail_msg("the server kept the connection open");
    if (c->in.len)
        fail_msg("%zu unexpected bytes before the close: \"%.*s\"", c->in.len,
                 (int)(c->in.len < 300 ? c->in.len : 300), c->in.data);
}

/* Nothing arrives and the connection stays open while the server runs for `ms`. */
static HARNESS_UNUSED void expect_silence(harness *h, client *c, int ms)
{
    uint64_t end = flare_monotonic_ms() + (uint64_t)ms;
    while (flare_monotonic_ms() < end) {
        harness_pump(h, 1);
        client_take(c);
    }
    if (c->eof) fail_msg("the server closed the connection");
    if (c->in.len)
        fail_msg("unexpected bytes: \"%.*s\"", (int)(c->in.len < 300 ? c->in.len : 300),
                 c->in.data);
}

/* A deterministic PRNG (xorshift64*) so a failing chunking can be replayed by seed. */
static HARNESS_UNUSED uint64_t prng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------ handlers */

/* Answers "M=<method> P=<path> Q=<query> H=<host> N=<nth request> L=<body length>\n"
 * followed by the request body, so the test sees exactly what the handler saw. */
static HARNESS_UNUSED int echo_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    char line[512];
    const char *method = req->method == FLARE_METHOD_OTHER
                             ? NULL
                             : flare_http_method_name((flare_http_method)req->method);
    int n = snprintf(line, sizeof line, "M=%.*s P=%.*s Q=%.*s H=%.*s N=%llu L=%zu\n",
                     method ? (int)strlen(method) : (int)req->head->method_len,
                     method ? method : req->head->method, (int)req->path_len, req->path,
                     req->query ? (int)req->query_len : 1, req->query ? req->query : "-",
                     (int)req->host_len, req->host, (unsigned long long)req->connection_requests,
                     req->body_len);
    if (flare_response_header(resp, "Content-Type", "text/plain") < 0) return -1;
    if (flare_response_body(resp, line, (size_t)n) < 0) return -1;
    return flare_response_body(resp, req->body, req->body_len);
}

/* The echo line expected for a request (body appended by the caller). */
static HARNESS_UNUSED void echo_expect(flare_buf *out, const char *method, const char *path,
                                       const char *query, const char *host, unsigned nth,
                                       const char *body, size_t body_len)
{
    flare_buf_reset(out);
    flare_buf_appendf(out, "M=%s P=%s Q=%s H=%s N=%u L=%zu\n", method, path, query ? query : "-",
                      host, nth, body_len);
    flare_buf_append(out, body, body_len);
}

#endif
