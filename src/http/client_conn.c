/*
 * client_conn.c: the client's connections: connect (TCP, then TLS for https)
 * within the connect budget, reads and writes bounded by the read timeout and the
 * request's deadline, and the keep-alive pool. Invariant: a pooled connection
 * has no unread response bytes; before reuse it is polled, and one that turned
 * readable (the server closed it, or sent junk) is dropped as stale.
 * Plain TCP sockets stay blocking with SO_RCVTIMEO, so a read is one recv().
 */
#include "client_internal.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void flare_http__client_trace(flare_http_client *c, const char *fmt, ...)
{
    if (!c->trace) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    c->trace(c->trace_ctx, FLARE_HTTP_TRACE_INFO, line,
             (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static bool same_origin(const client_conn *k, const flare_url *u)
{
    return k->tls == flare_url_is_https(u) && k->port == u->port && !strcmp(k->host, u->host);
}

static int conn_fd(const client_conn *k)
{
    return k->tls ? k->tls_stream.tcp.fd : k->tcp.fd;
}

void flare_http__client_conn_close(client_conn *k)
{
    if (!k) return;
    if (k->tls)
        flare_tls_stream_close(&k->tls_stream);
    else
        flare_tcp_stream_close(&k->tcp);
    free(k->host);
    free(k);
}

void flare_http__client_pool_clear(flare_http_client *c)
{
    while (c->pool) {
        client_conn *k = c->pool;
        c->pool = k->next;
        flare_http__client_conn_close(k);
    }
}

/*
 * An idle connection must have nothing to read: readable means the server closed
 * it (EOF) or broke framing. TLS 1.3 servers may send session tickets after the
 * handshake, so for TLS a read is tried: only "would block" keeps it.
 */
static bool still_open(client_conn *k)
{
    struct pollfd p = {.fd = conn_fd(k), .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return false;
    bool pending = k->tls && flare_tls_conn_has_pending(&k->tls_stream.conn);
    if (n == 0 && !pending) return true;
    if (!k->tls) return false;
    char byte;
    return flare_tls_conn_read(&k->tls_stream.conn, &byte, 1, NULL) == FLARE_EAGAIN;
}

static void tls_log(void *ctx, const char *message)
{
    flare_http__client_trace(ctx, "tls: %s", message);
}

static int ensure_tls_ctx(flare_http_client *c, flare_error *err)
{
    if (c->tls_ctx) return 0;
    static const char *const alpn[] = {"http/1.1"};
    flare_tls_client_config cfg = c->tls_cfg;
    cfg.alpn = alpn;
    cfg.alpn_count = 1;
    cfg.io_timeout_ms = c->read_timeout_ms > 0 ? c->read_timeout_ms : 0;
    if (!cfg.log) {
        cfg.log = tls_log;
        cfg.log_ctx = c;
    }
    return flare_tls_client_ctx_new(&c->tls_ctx, &cfg, err);
}

static int conn_open(flare_http_client *c, const flare_url *u, uint64_t deadline_ms,
                     client_conn **out, flare_error *err)
{
    uint64_t now = flare_monotonic_ms();
    uint64_t connect_deadline =
        c->connect_timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)c->connect_timeout_ms;
    if (deadline_ms < connect_deadline) connect_deadline = deadline_ms;
    if (connect_deadline <= now)
        return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                               "connect to %s port %u: total timeout passed", u->host, u->port);
    bool tls = flare_url_is_https(u);
    if (tls) {
        int rc = ensure_tls_ctx(c, err);
        if (rc < 0) return rc;
    }
    client_conn *k = calloc(1, sizeof *k);
    if (!k || !(k->host = strdup(u->host))) {
        free(k);
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    }
    k->tls = tls;
    k->port = u->port;
    k->tcp.fd = -1;
    k->tls_stream.tcp.fd = -1;
    int io_ms = c->read_timeout_ms > 0 ? c->read_timeout_ms : 0;
    flare_tcp_connect_options o = {
        .resolver = c->has_resolver ? &c->resolver : NULL,
        .family = c->family,
        .timeout_ms = connect_deadline == UINT64_MAX ? -1 : (int)(connect_deadline - now),
        .nonblocking = tls,
        .send_timeout_ms = io_ms,
        .recv_timeout_ms = tls ? 0 : io_ms,
    };
    flare_tcp_stream tcp;
    int rc = flare_tcp_connect(&tcp, u->host, u->port, &o, err);
    if (rc == 0 && tls) {
        rc = flare_tls_stream_start(&k->tls_stream, c->tls_ctx, &tcp, u->host, connect_deadline,
                                    err);
        if (rc == FLARE_ETIMEDOUT)
            flare_error_set(err, rc, 0, "TLS handshake with %s port %u: timed out", u->host,
                            u->port);
    } else if (rc == 0) {
        k->tcp = tcp;
        k->recv_timeout_ms = io_ms;
        k->send_timeout_ms = io_ms;
    }
    if (rc < 0) {
        free(k->host);
        free(k);
        return rc;
    }
    c->stats.connections_opened++;
    if (c->trace) {
        char addr[FLARE_SOCK_ADDR_STR_MAX] = "";
        flare_sock_addr_format(tls ? &k->tls_stream.tcp.peer : &k->tcp.peer, addr, sizeof addr);
        if (tls)
            flare_http__client_trace(c, "connected to %s (%s) with %s, %s", u->host, addr,
                                     flare_tls_conn_version(&k->tls_stream.conn),
                                     flare_tls_conn_cipher(&k->tls_stream.conn));
        else
            flare_http__client_trace(c, "connected to %s (%s)", u->host, addr);
    }
    *out = k;
    return 0;
}

int flare_http__client_conn_get(flare_http_client *c, const flare_url *url, uint64_t deadline_ms,
                                client_conn **out, bool *reused, flare_error *err)
{
    uint64_t now = flare_monotonic_ms();
    client_conn **link = &c->pool;
    while (*link) {
        client_conn *k = *link;
        if (!same_origin(k, url)) {
            link = &k->next;
            continue;
        }
        *link = k->next;
        k->next = NULL;
        if (now - k->idle_since_ms >= c->pool_idle_ms || !still_open(k)) {
            c->stats.stale_closed++;
            flare_http__client_trace(c, "dropping an idle connection to %s port %u (%s)", k->host,
                                     k->port,
                                     now - k->idle_since_ms >= c->pool_idle_ms ? "expired"
                                                                               : "closed by "
                                                                                 "the server");
            flare_http__client_conn_close(k);
            continue;
        }
        c->stats.connections_reused++;
        flare_http__client_trace(c, "reusing the connection to %s port %u", k->host, k->port);
        *reused = true;
        *out = k;
        return 0;
    }
    *reused = false;
    return conn_open(c, url, deadline_ms, out, err);
}

void flare_http__client_conn_release(flare_http_client *c, client_conn *k, bool reusable)
{
    if (!k) return;
    if (!reusable || !c->keepalive) {
        flare_http__client_conn_close(k);
        return;
    }
    size_t same = 0;
    for (client_conn *p = c->pool; p; p = p->next)
        if (p->tls == k->tls && p->port == k->port && !strcmp(p->host, k->host)) same++;
    if (same >= c->pool_per_origin) {
        flare_http__client_conn_close(k);
        return;
    }
    k->idle_since_ms = flare_monotonic_ms();
    k->next = c->pool;
    c->pool = k;
}

static int timed_out(const client_conn *k, uint64_t deadline_ms, int read_timeout_ms,
                     const char *op, flare_error *err)
{
    if (deadline_ms != UINT64_MAX && flare_monotonic_ms() >= deadline_ms)
        return flare_error_set(err, FLARE_ETIMEDOUT, 0, "%s %s port %u: total timeout passed", op,
                               k->host, k->port);
    return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                           "%s %s port %u: no progress for %d ms (read timeout)", op, k->host,
                           k->port, read_timeout_ms);
}

/*
 * The wait one blocking socket call may take: the read timeout, cut to what is left
 * of the request's deadline (0 = no bound). FLARE_ETIMEDOUT when the deadline passed.
 */
static int io_wait_ms(const flare_http_client *c, uint64_t deadline_ms, int *want)
{
    *want = c->read_timeout_ms > 0 ? c->read_timeout_ms : 0;
    if (deadline_ms == UINT64_MAX) return 0;
    uint64_t now = flare_monotonic_ms();
    if (now >= deadline_ms) return FLARE_ETIMEDOUT;
    uint64_t left = deadline_ms - now;
    if (*want == 0 || left < (uint64_t)*want) *want = (int)left;
    return 0;
}

ssize_t flare_http__client_conn_read(flare_http_client *c, client_conn *k, void *buf, size_t len,
                                     uint64_t deadline_ms, flare_error *err)
{
    ssize_t n;
    if (k->tls) {
        flare_tls_stream_set_deadline(&k->tls_stream, deadline_ms);
        n = flare_tls_stream_read(&k->tls_stream, buf, len, err);
        /* No close_notify: still the end of the stream (many servers skip it);
         * framing errors catch a truncated Content-Length or chunked body, and
         * read_to_close refuses it as the end of a close-delimited one. */
        if (n == FLARE_ECLOSED) n = 0;
    } else {
        int want;
        if (io_wait_ms(c, deadline_ms, &want) < 0)
            return timed_out(k, deadline_ms, c->read_timeout_ms, "read from", err);
        if (want != k->recv_timeout_ms) {
            int rc = flare_tcp_stream_set_recv_timeout(&k->tcp, want, err);
            if (rc < 0) return rc;
            k->recv_timeout_ms = want;
        }
        n = flare_tcp_stream_read(&k->tcp, buf, len, err);
    }
    if (n == FLARE_ETIMEDOUT)
        return timed_out(k, deadline_ms, c->read_timeout_ms, "read from", err);
    return n;
}

/* Plain TCP: one send at a time, each bounded by io_wait_ms, so a server that reads
 * slowly or not at all cannot hold an upload past the read timeout or the deadline. */
static int tcp_write_all(flare_http_client *c, client_conn *k, const char *p, size_t len,
                         uint64_t deadline_ms, flare_error *err)
{
    while (len > 0) {
        int want;
        if (io_wait_ms(c, deadline_ms, &want) < 0) return FLARE_ETIMEDOUT;
        if (want != k->send_timeout_ms) {
            int rc = flare_tcp_stream_set_send_timeout(&k->tcp, want, err);
            if (rc < 0) return rc;
            k->send_timeout_ms = want;
        }
        ssize_t n = flare_tcp_stream_write(&k->tcp, p, len, err);
        if (n == FLARE_EAGAIN) return FLARE_ETIMEDOUT; /* SO_SNDTIMEO passed, nothing sent */
        if (n < 0) return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int flare_http__client_conn_write(flare_http_client *c, client_conn *k, const void *buf, size_t len,
                                  uint64_t deadline_ms, flare_error *err)
{
    int rc;
    if (deadline_ms != UINT64_MAX && flare_monotonic_ms() >= deadline_ms)
        return timed_out(k, deadline_ms, c->read_timeout_ms, "write to", err);
    if (k->tls) {
        flare_tls_stream_set_deadline(&k->tls_stream, deadline_ms);
        rc = flare_tls_stream_write_all(&k->tls_stream, buf, len, err);
    } else {
        rc = tcp_write_all(c, k, buf, len, deadline_ms, err);
    }
    if (rc == FLARE_ETIMEDOUT)
        return timed_out(k, deadline_ms, c->read_timeout_ms, "write to", err);
    return rc;
}
