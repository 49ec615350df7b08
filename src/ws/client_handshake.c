/*
 * client_handshake.c: the client's opening handshake (RFC 6455 §4.1): connect,
 * send the upgrade request with a fresh random key, and accept only a 101 whose
 * Upgrade, Connection and Sec-WebSocket-Accept are right and whose subprotocol
 * and extensions are ones we offered (§4.1, client steps 1-6 of the response).
 */
#include "client_internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest response head accepted, and the wait for it when no read timeout is set. */
#define MAX_RESPONSE_HEAD    16384
#define HANDSHAKE_TIMEOUT_MS 10000
#define MAX_RESPONSE_HEADERS 64

static ssize_t tcp_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    return flare_tcp_stream_read(ctx, buf, len, err);
}

static int tcp_write_all(void *ctx, const void *buf, size_t len, flare_error *err)
{
    return flare_tcp_stream_write_all(ctx, buf, len, err);
}

static void tcp_close(void *ctx)
{
    flare_tcp_stream_close(ctx);
}

static ssize_t tls_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    ssize_t n = flare_tls_stream_read(ctx, buf, len, err);
    return n == FLARE_ECLOSED ? 0 : n; /* a TCP end without close_notify still ends it */
}

static int tls_write_all(void *ctx, const void *buf, size_t len, flare_error *err)
{
    return flare_tls_stream_write_all(ctx, buf, len, err);
}

static void tls_close(void *ctx)
{
    flare_tls_stream_close(ctx);
}

void flare_ws__client_set_io_timeout(flare_ws_client *c, int timeout_ms)
{
    if (!c->stream_open) return;
    if (timeout_ms < 0) timeout_ms = 0;
    if (c->stream.ctx == &c->tcp) {
        /* Writes too, as TLS's io timeout bounds both: a server that stops reading
         * must not hold a send for ever once the socket buffers are full. */
        flare_tcp_stream_set_recv_timeout(&c->tcp, timeout_ms, NULL);
        flare_tcp_stream_set_send_timeout(&c->tcp, timeout_ms, NULL);
    } else if (c->stream.ctx == &c->tls)
        flare_tls_stream_set_io_timeout(&c->tls, timeout_ms);
}

/* True when s has no bytes that could end or split a header line. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

static bool is_token(const char *s)
{
    return flare_http_is_token(s, strlen(s));
}

static int build_request(flare_ws_client *c, const char *host, const char *resource,
                         const char *key, flare_error *err)
{
    const flare_ws_client_options *o = &c->opts;
    if (!header_safe(host) || !*host || !header_safe(resource) || resource[0] != '/' ||
        strchr(resource, ' ') || (o->origin && !header_safe(o->origin)))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "ws client: host, resource or origin has forbidden characters");
    flare_buf *b = &c->wbuf;
    b->len = 0;
    int rc = flare_buf_appendf(b,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                               "Sec-WebSocket-Version: " FLARE_WS_VERSION "\r\n",
                               resource, host, key);
    if (rc == 0 && o->origin) rc = flare_buf_appendf(b, "Origin: %s\r\n", o->origin);
    for (size_t i = 0; rc == 0 && i < o->num_subprotocols; i++) {
        if (!o->subprotocols[i] || !is_token(o->subprotocols[i]))
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "ws client: subprotocol %zu is not a token", i);
        rc =
            flare_buf_appendf(b, "%s%s", i ? ", " : "Sec-WebSocket-Protocol: ", o->subprotocols[i]);
        if (rc == 0 && i + 1 == o->num_subprotocols) rc = flare_buf_append_str(b, "\r\n");
    }
    /* We can compress with any window the server names (9..15), so say so. */
    if (rc == 0 && o->deflate)
        rc = flare_buf_append_str(
            b, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    if (rc == 0) rc = flare_buf_append_str(b, "\r\n");
    if (rc < 0) return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
    return 0;
}

static const flare_http_header *find(const flare_http_response *r, const char *name, size_t from,
                                     size_t *at)
{
    for (size_t i = from; i < r->num_headers; i++)
        if (flare_ws__ieq(r->headers[i].name, r->headers[i].name_len, name)) {
            *at = i;
            return &r->headers[i];
        }
    return NULL;
}

static bool has_token(const flare_http_response *r, const char *name, const char *token)
{
    size_t at = 0;
    for (const flare_http_header *h = find(r, name, 0, &at); h; h = find(r, name, at + 1, &at))
        if (flare_http_value_has_token(h->value, h->value_len, token)) return true;
    return false;
}

static int refuse(const char *why, flare_error *err)
{
    return flare_error_set(err, FLARE_EPROTO, 0, "ws handshake: %s", why);
}

/* §4.1 steps 5-6 of the response: only what we offered may come back. */
static int check_extensions(flare_ws_client *c, const flare_http_response *r, flare_error *err)
{
    size_t at = 0;
    bool have_pmd = false;
    flare_ws__pmd pmd = {0};
    for (const flare_http_header *h = find(r, "Sec-WebSocket-Extensions", 0, &at); h;
         h = find(r, "Sec-WebSocket-Extensions", at + 1, &at)) {
        flare_ws__ext_iter it = {h->value, h->value + h->value_len};
        const char *name, *params;
        size_t name_len, params_len;
        int rc;
        while ((rc = flare_ws__ext_next(&it, &name, &name_len, &params, &params_len)) == 1) {
            if (!c->opts.deflate || have_pmd ||
                !flare_ws__ieq(name, name_len, "permessage-deflate"))
                return refuse("server answered with an extension we did not offer", err);
            if (flare_ws__pmd_parse(params, params_len, false, &pmd) < 0)
                return refuse("invalid permessage-deflate parameters", err);
            have_pmd = true;
        }
        if (rc < 0) return refuse("malformed Sec-WebSocket-Extensions", err);
    }
    if (!have_pmd) return 0;
    flare_ws_deflate_params p = {
        .server_no_context_takeover = pmd.server_no_context_takeover,
        .client_no_context_takeover = pmd.client_no_context_takeover,
        .server_max_window_bits = pmd.server_max_window_bits,
        .client_max_window_bits = pmd.client_max_window_bits,
    };
    /* RFC 7692 §7.1.2.2: our offer accepts any window the server names. zlib
     * cannot write with 8 bits, but any message may go uncompressed (§6): then
     * we only inflate, and the 9 given to zlib is never used. */
    c->send_uncompressed = pmd.client_max_window_bits == 8;
    if (c->send_uncompressed) p.client_max_window_bits = 9;
    int level = c->opts.compression_level ? c->opts.compression_level : -1;
    int rc = flare_ws_deflate_new(&c->deflate, &p, false, level, err);
    if (rc < 0) return rc;
    c->deflate_params = *flare_ws_deflate_get_params(c->deflate);
    if (c->send_uncompressed) c->deflate_params.client_max_window_bits = 8;
    return 0;
}

static int check_response(flare_ws_client *c, const flare_http_response *r, const char *accept,
                          const char *const *protos, size_t nprotos, flare_error *err)
{
    if (r->status != 101)
        return flare_error_set(err, FLARE_EHTTP_STATUS, 0,
                               "ws handshake: server answered %d %.*s instead of 101", r->status,
                               (int)r->reason_len, r->reason);
    /* §4.1: Upgrade is websocket itself, not a list that layers it over another
     * protocol (RFC 9110 §7.8); Connection need only contain the token. */
    size_t at = 0, other;
    const flare_http_header *h = find(r, "Upgrade", 0, &at);
    if (!h || find(r, "Upgrade", at + 1, &other) ||
        !flare_ws__ieq(h->value, h->value_len, "websocket"))
        return refuse("101 without Upgrade: websocket", err);
    if (!has_token(r, "Connection", "upgrade"))
        return refuse("101 without Connection: upgrade", err);
    h = find(r, "Sec-WebSocket-Accept", 0, &at);
    if (!h || find(r, "Sec-WebSocket-Accept", at + 1, &other) ||
        h->value_len != FLARE_WS_ACCEPT_LEN || memcmp(h->value, accept, FLARE_WS_ACCEPT_LEN) != 0)
        return refuse("Sec-WebSocket-Accept does not match our key", err);
    h = find(r, "Sec-WebSocket-Protocol", 0, &at);
    if (h) {
        const char *chosen = NULL;
        for (size_t i = 0; i < nprotos && !chosen; i++)
            if (strlen(protos[i]) == h->value_len && memcmp(protos[i], h->value, h->value_len) == 0)
                chosen = protos[i];
        if (!chosen || find(r, "Sec-WebSocket-Protocol", at + 1, &other))
            return refuse("server chose a subprotocol we did not offer", err);
        if (strlen(chosen) >= sizeof c->subprotocol) return refuse("subprotocol too long", err);
        strcpy(c->subprotocol, chosen);
    }
    return check_extensions(c, r, err);
}

static int handshake(flare_ws_client *c, const char *host, const char *resource, flare_error *err)
{
    uint8_t raw_key[16];
    char key[FLARE_WS_KEY_LEN + 1], accept[FLARE_WS_ACCEPT_LEN + 1];
    int rc = flare_ws__client_random(c, raw_key, sizeof raw_key, err); /* §4.1: 16 random bytes */
    if (rc < 0) return rc;
    EVP_EncodeBlock((unsigned char *)key, raw_key, sizeof raw_key);
    if (flare_ws_accept_key(key, FLARE_WS_KEY_LEN, accept) < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "ws handshake: SHA-1 unavailable");
    rc = build_request(c, host, resource, key, err);
    if (rc < 0) return rc;
    rc = c->stream.write_all(c->stream.ctx, c->wbuf.data, c->wbuf.len, err);
    if (rc < 0) return rc;
    c->wbuf.len = 0;

    flare_http_header headers[MAX_RESPONSE_HEADERS];
    flare_http_response resp;
    size_t last_len = 0, interim = 0; /* bytes of 1xx heads skipped so far */
    /* One deadline for the whole head: a server that dribbles it a byte at a time
     * must not keep us here for a read timeout per byte. */
    int wait_ms = c->opts.read_timeout_ms > 0 ? c->opts.read_timeout_ms : HANDSHAKE_TIMEOUT_MS;
    uint64_t deadline_ms = flare_monotonic_ms() + (uint64_t)wait_ms;
    for (;;) {
        if (c->rbuf.len + interim >= MAX_RESPONSE_HEAD)
            return flare_error_set(
                err, FLARE_EPARSE, 0, "ws handshake: response head%s over %d bytes",
                interim ? " and the interim (1xx) ones before it" : "", MAX_RESPONSE_HEAD);
        int left = flare_monotonic_ms_until(deadline_ms);
        if (left == 0)
            return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                                   "ws handshake: no whole response within %d ms", wait_ms);
        flare_ws__client_set_io_timeout(c, left);
        if (flare_buf_reserve(&c->rbuf, 4096) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
        ssize_t n = c->stream.read(c->stream.ctx, c->rbuf.data + c->rbuf.len,
                                   flare_buf_room(&c->rbuf), err);
        if (n == 0)
            return flare_error_set(err, FLARE_ECLOSED, 0,
                                   "ws handshake: connection closed before the response");
        if (n < 0) return (int)n;
        c->rbuf.len += (size_t)n;
        ssize_t hl;
        for (;;) {
            resp.headers = headers;
            resp.max_headers_capacity = MAX_RESPONSE_HEADERS;
            hl = c->rbuf.len ? flare_http_parse_response(c->rbuf.data, c->rbuf.len, last_len, &resp)
                             : FLARE_EINCOMPLETE;
            /* RFC 9110 §15.2: interim responses (100, 103) may precede the answer and
             * are skipped; they count against the head limit, so they cannot go on
             * for ever. 101 is the answer itself. */
            if (hl <= 0 || resp.status >= 200 || resp.status == 101) break;
            flare_buf_consume(&c->rbuf, (size_t)hl);
            interim += (size_t)hl;
            last_len = 0;
        }
        if (hl == FLARE_EINCOMPLETE) {
            last_len = c->rbuf.len;
            continue;
        }
        if (hl < 0) return flare_error_set(err, FLARE_EPARSE, 0, "ws handshake: bad response head");
        rc = check_response(c, &resp, accept, c->opts.subprotocols, c->opts.num_subprotocols, err);
        if (rc < 0) return rc;
        c->rpos = (size_t)hl; /* what follows the head is already WebSocket data */
        return 0;
    }
}

static int client_new(flare_ws_client **out, const flare_ws_client_options *opts, flare_error *err)
{
    flare_ws_client *c = calloc(1, sizeof *c);
    if (!c) return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
    if (opts) c->opts = *opts;
    c->tcp.fd = -1;
    c->tls.tcp.fd = -1;
    c->pool_pos = sizeof c->pool; /* empty: the first draw fills it */
    *out = c;
    return 0;
}

/* Handshake on c's stream, then the receive side; frees c on failure. */
static int finish_open(flare_ws_client *c, const char *host, const char *resource,
                       flare_ws_client **out, flare_error *err)
{
    int rc = handshake(c, host, resource, err);
    if (rc == 0) {
        flare_ws_parser_config pc = {
            .server = false, .max_message = c->opts.max_message, .deflate = c->deflate};
        flare_ws_parser_init(&c->parser, &pc);
        c->opts.subprotocols = NULL; /* the caller's list is not kept */
        c->opts.num_subprotocols = 0;
        c->opts.origin = NULL;
        c->opts.tls = NULL;
        flare_ws__client_set_io_timeout(c, c->opts.read_timeout_ms);
        *out = c;
        return 0;
    }
    flare_ws_client_free(c);
    return rc;
}

int flare_ws_client_open(flare_ws_client **out, const flare_ws_stream *stream,
                         const char *host_header, const char *resource,
                         const flare_ws_client_options *opts, flare_error *err)
{
    *out = NULL;
    if (!stream || !stream->read || !stream->write_all) {
        if (stream && stream->close) stream->close(stream->ctx);
        return flare_error_set(err, FLARE_EINVAL, 0, "ws client: stream lacks read or write");
    }
    flare_ws_client *c = NULL;
    int rc = client_new(&c, opts, err);
    if (rc < 0) {
        if (stream->close) stream->close(stream->ctx);
        return rc;
    }
    c->stream = *stream;
    c->stream_open = true;
    if (!host_header || !resource) {
        flare_ws_client_free(c);
        return flare_error_set(err, FLARE_EINVAL, 0, "ws client: host and resource are required");
    }
    return finish_open(c, host_header, resource, out, err);
}

int flare_ws_connect(flare_ws_client **out, const char *url, const flare_ws_client_options *opts,
                     flare_error *err)
{
    *out = NULL;
    flare_ws_url u;
    int rc = flare_ws_url_parse(&u, url, err);
    if (rc < 0) return rc;
    flare_ws_client *c = NULL;
    rc = client_new(&c, opts, err);
    if (rc < 0) return rc;
    int read_ms = c->opts.read_timeout_ms > 0 ? c->opts.read_timeout_ms : HANDSHAKE_TIMEOUT_MS;
    if (u.secure) {
        static const char *const alpn[] = {"http/1.1"};
        flare_tls_client_config cfg = {0};
        if (c->opts.tls) cfg = *c->opts.tls;
        cfg.alpn = alpn;
        cfg.alpn_count = 1;
        cfg.timeout_ms = c->opts.connect_timeout_ms;
        cfg.io_timeout_ms = read_ms;
        rc = flare_tls_connect(&c->tls, u.host, u.port, &cfg, err);
        if (rc == 0) c->stream = (flare_ws_stream){&c->tls, tls_read, tls_write_all, tls_close};
    } else {
        flare_tcp_connect_options copts = {.timeout_ms = c->opts.connect_timeout_ms,
                                           .send_timeout_ms = read_ms,
                                           .recv_timeout_ms = read_ms};
        rc = flare_tcp_connect(&c->tcp, u.host, u.port, &copts, err);
        if (rc == 0) c->stream = (flare_ws_stream){&c->tcp, tcp_read, tcp_write_all, tcp_close};
    }
    if (rc < 0) {
        flare_ws_client_free(c);
        return rc;
    }
    c->stream_open = true;
    char host[FLARE_WS_HOST_HEADER_MAX];
    flare_ws_url_host(&u, host);
    return finish_open(c, host, u.resource, out, err);
}
