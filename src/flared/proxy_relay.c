/*
 * proxy_relay.c: one proxied request on the worker's reactor. The handler
 * writes the upstream request (head and the buffered body), defers the client
 * response and starts an attempt once the handler has returned. An attempt
 * connects (or reuses an idle connection) and sends the request, the client's
 * streamed body behind it as it arrives; proxy_response.c reads the response and
 * relays it to the client stream. This file also holds how a request ends: the
 * answers of our own, the cut, the completion, and the log's upstream fields.
 * Failures before any response byte move to another server (connect failures
 * always, resets once and only for idempotent methods); afterwards they cut
 * the client response so it never looks complete. A client that leaves (the
 * stream's `closed`) ends the attempt at any stage: the upstream connection is
 * closed, mid-request, and the server is not blamed.
 */
#include "proxy_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handlers_internal.h"

static void start_attempt(proxy_req *pr);

/* ------------------------------------------------------------- requests */

void flared_proxy__release(proxy_req *pr)
{
    flared_proxy *px = pr->px;
    flare_timer_cancel(flare_reactor_timers(px->r), &pr->timer);
    flared_gzip_stream_release(pr->gz);
    pr->gz = NULL;
    if (pr->out.cap > PROXY_KEEP_BUF_MAX) flare_buf_free(&pr->out);
    pr->s = NULL;
    pr->uc = NULL;
    pr->next = px->free_reqs;
    px->free_reqs = pr;
}

void flared_proxy__reqs_free(flared_proxy *px)
{
    while (px->free_reqs) {
        proxy_req *pr = px->free_reqs;
        px->free_reqs = pr->next;
        flare_buf_free(&pr->out);
        flare_buf_free(&pr->in);
        free(pr);
    }
    flared_gzip_stream_pool_free();
}

/* Gives the attempt's connection back (kept alive when it is clean) or closes it. */
void flared_proxy__drop_conn(proxy_req *pr, bool keep)
{
    upconn *uc = pr->uc;
    if (!uc) return;
    pr->uc = NULL;
    pr->sv->in_flight--;
    if (keep && pr->up->cfg->keepalive)
        flared_proxy__conn_put(uc);
    else
        flared_proxy__conn_close(uc);
}

/* ------------------------------------------------------------ the log */

static uint64_t now_us(const proxy_req *pr)
{
    return flare_reactor_clock(pr->px->r)->monotonic_us;
}

/* The access log's $upstream_addr: every server tried joins the list in the connection's
 * report. When it is full, entries before the last are dropped so the last one shows. */
static void note_server(proxy_req *pr, const up_server *sv)
{
    flare_http_upstream_info *u = flare_http_stream_upstream(pr->s);
    const char *a = sv->cfg->address;
    size_t len = strlen(a);
    if (len > sizeof u->addr) len = sizeof u->addr;
    while (u->addr_len && u->addr_len + 2 + len > sizeof u->addr) {
        size_t k = u->addr_len;
        while (k > 1 && !(u->addr[k - 2] == ',' && u->addr[k - 1] == ' '))
            k--;
        u->addr_len = (uint8_t)(k > 1 ? k - 2 : 0);
    }
    if (u->addr_len) {
        memcpy(u->addr + u->addr_len, ", ", 2);
        u->addr_len += 2;
    }
    memcpy(u->addr + u->addr_len, a, len);
    u->addr_len = (uint8_t)(u->addr_len + len);
}

/* The upstream's part is over: its time goes into the report. Without any server tried
 * the address is the upstream's name, as nginx logs it. */
void flared_proxy__note_end(proxy_req *pr)
{
    flare_http_upstream_info *u = flare_http_stream_upstream(pr->s);
    uint64_t now = now_us(pr);
    u->time_us = now > pr->start_us ? now - pr->start_us : 0;
    if (!u->addr_len) {
        size_t len = strlen(pr->up->cfg->name);
        if (len > sizeof u->addr) len = sizeof u->addr;
        memcpy(u->addr, pr->up->cfg->name, len);
        u->addr_len = (uint8_t)len;
    }
}

/* ------------------------------------------------------------- answers */

/* Before the head: a complete error answer of our own. */
void flared_proxy__answer(proxy_req *pr, int status, const char *text)
{
    flare_http_stream *s = pr->s;
    const flare_header_block *fields = pr->fields;
    flared_proxy__note_end(pr);
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
    flare_response *resp = flare_http_stream_response(s);
    flare_response_status(resp, status);
    flare_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    flare_response_header_block(resp, fields);
    size_t len = strlen(text);
    if (flare_http_stream_send_head(s, (int64_t)len) < 0) return;
    if (flare_http_stream_write(s, text, len) < 0) return;
    flare_http_stream_finish(s);
}

void flared_proxy__complete(proxy_req *pr)
{
    flare_http_stream *s = pr->s;
    /* A body that ended with the upstream's close still owes the gzip trailer. */
    if (pr->gz && !flared_gzip_stream_finished(pr->gz) &&
        flared_gzip_stream_write(pr->gz, s, NULL, 0, FLARED_GZIP_LAST) < 0) {
        flared_proxy__client_gone(pr);
        return;
    }
    flared_proxy__note_end(pr);
    flared_proxy__drop_conn(pr, pr->reusable);
    flared_proxy__release(pr);
    flare_http_stream_finish(s); /* may run the next request, which may take this struct */
}

/* ---------------------------------------------------------- client side */

static void on_writable(flare_http_stream *s, void *data)
{
    proxy_req *pr = data;
    (void)s;
    pr->paused = false;
    flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
    flared_proxy__read_upstream(pr);
}

/* The client left (nginx's 499): the upstream connection, mid-request, is closed, and
 * the server is not blamed. Called before the server logs the request, so the
 * report gets the upstream's time until now. */
static void on_closed(flare_http_stream *s, void *data)
{
    proxy_req *pr = data;
    (void)s;
    if (pr->kick_pending) {
        pr->s = NULL;
        pr->orphan = true;
        return;
    }
    if (pr->state < RS_UPGRADING) flared_proxy__note_end(pr);
    pr->s = NULL;
    flared_proxy__client_gone(pr);
}

static const flare_http_stream_ops stream_ops = {on_writable, on_closed};

/* -------------------------------------------------------------- attempts */

/* Nothing of the response arrived and the connection failed or closed. */
void flared_proxy__attempt_failed(proxy_req *pr, bool connect_failure, const char *why)
{
    up_server *sv = pr->sv;
    if (connect_failure) sv->m->connect_failures++;
    /* A kept-alive connection the server had closed says nothing about the server. */
    if (connect_failure || !pr->reused) flared_proxy__server_failed(sv);
    flared_proxy__drop_conn(pr, false);
    /* A stale pooled connection is not the server's doing: it does not use up the one
     * retry a reset gets, and after it no pooled connection is taken (fresh_only). */
    bool stale = pr->reused && !connect_failure;
    bool again = connect_failure || (pr->idempotent && (stale ? !pr->fresh_only : !pr->retried));
    if (!pr->out_dropped && again) {
        if (!connect_failure && !stale) pr->retried = true;
        pr->last_failure = why;
        if (stale) {
            /* Same server, fresh connection: the other pooled ones are as old as this one
             * and the upstream may be closing them all (its keep-alive timer, a restart). */
            flared_proxy__tried_remove(&pr->tried, sv);
            pr->fresh_only = true;
        }
        start_attempt(pr);
        return;
    }
    flared_proxy__answer(pr, 502, why);
}

static void on_timer(flare_timer *t, void *data)
{
    proxy_req *pr = data;
    (void)t;
    if (pr->state == RS_TUNNEL) {
        if (pr->tunnel_more) {
            flared_proxy__tunnel_pump(pr); /* the rest of a spent turn's share */
            return;
        }
        flared_proxy__tunnel_end(pr); /* idle for read_timeout */
        return;
    }
    pr->sv->m->timeouts++;
    if (pr->state == RS_CONNECTING || pr->state == RS_HANDSHAKE) {
        pr->conn_timeout = true;
        flared_proxy__attempt_failed(pr, true, "upstream connect timed out\n");
        return;
    }
    flared_proxy__server_failed(pr->sv);
    flared_proxy__fail(pr, 504, "upstream timed out\n");
}

/* Sends what `out` holds: 0 when all went, FLARE_EAGAIN, or FLARE_ECONNRESET. While
 * sending, read_timeout bounds only an upstream that stops taking bytes: a client slow
 * to send its body is the server's body timeout's to judge, not a failed upstream. */
static int flush_out(proxy_req *pr)
{
    bool moved = false;
    while (pr->out_sent < pr->out.len) {
        ssize_t n = flared_proxy__up_io(pr->uc, pr->out.data + pr->out_sent,
                                        pr->out.len - pr->out_sent, true);
        if (n == FLARE_EAGAIN) {
            if (moved || !flare_timer_active(&pr->timer))
                flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
            return n;
        }
        if (n <= 0) return FLARE_ECONNRESET;
        pr->out_sent += (size_t)n;
        moved = true;
    }
    if (pr->body_streaming) {
        /* Bounded memory: what went is dropped, so this request cannot be sent again. */
        pr->out_dropped = true;
        pr->out.len = pr->out_sent = 0;
        if (!pr->body_done) flare_timer_cancel(flare_reactor_timers(pr->px->r), &pr->timer);
    }
    return 0;
}

void flared_proxy__send_request(proxy_req *pr)
{
    /* An upstream that stops reading times out too. */
    flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
    for (;;) {
        int rc = flush_out(pr);
        if (rc == FLARE_EAGAIN) return; /* the next writable edge resumes */
        if (rc < 0) {
            flared_proxy__attempt_failed(pr, false, "upstream closed the connection\n");
            return;
        }
        if (!pr->body_streaming || pr->body_done) break;
        if (!pr->body_paused) return; /* the next body piece sends itself */
        pr->body_paused = false;
        pr->in_resume = true;
        rc = flare_http_stream_body_resume(pr->s);
        pr->in_resume = false;
        if (rc < 0) {
            flared_proxy__client_gone(pr);
            return;
        }
    }
    /* Unless the upstream spoke while the request was going out, the answer cannot be
     * there yet: its readable edge starts the reading (no recv that would fail). */
    pr->state = RS_HEAD;
    flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
    if (pr->early_input) flared_proxy__read_upstream(pr);
}

static void start_attempt(proxy_req *pr)
{
    for (;;) {
        up_server *sv = flared_proxy__pick(pr->up, &pr->client, &pr->tried);
        if (!sv) {
            /* RFC 9110 §15.6.5: the last server tried did not answer the connect in time. */
            if (pr->conn_timeout)
                flared_proxy__answer(pr, 504, "upstream connect timed out\n");
            else /* a server was tried: the client learns how it failed */
                flared_proxy__answer(pr, 502,
                                     pr->last_failure ? pr->last_failure
                                                      : "no upstream server is available\n");
            return;
        }
        pr->conn_timeout = false;
        flared_proxy__tried_add(&pr->tried, sv);
        sv->attempts++;
        sv->m->requests++;
        note_server(pr, sv);
        upconn *uc = pr->fresh_only ? NULL : flared_proxy__conn_reuse(sv);
        pr->reused = uc != NULL;
        if (!uc && flared_proxy__conn_open(sv, &uc) < 0) {
            sv->m->connect_failures++;
            flared_proxy__server_failed(sv);
            pr->last_failure = "upstream connect failed\n";
            continue;
        }
        sv->in_flight++;
        uc->req = pr;
        pr->uc = uc;
        pr->sv = sv;
        pr->out_sent = 0;
        pr->in.len = 0;
        pr->last_len = 0;
        pr->got_bytes = false;
        pr->early_input = false;
        if (uc->connecting || (uc->has_tls && !uc->tls.handshake_done)) {
            /* Connect and handshake share the connect timeout. */
            pr->state = uc->connecting ? RS_CONNECTING : RS_HANDSHAKE;
            flared_proxy__arm(pr, pr->up->cfg->connect_timeout_ms);
            if (!uc->connecting) flared_proxy__relay_event(pr, FLARE_EV_WRITE);
            return;
        }
        pr->state = RS_SENDING;
        flared_proxy__send_request(pr);
        return;
    }
}

/* A piece of the client's body: queued behind the request, sent at once when the
 * connection is ready; reading pauses above the high-water mark. */
static int on_body_data(flare_http_stream *s, const char *p, size_t len, void *data)
{
    proxy_req *pr = data;
    (void)s;
    if (pr->state > RS_SENDING) return 0; /* the response has begun: the rest is not wanted */
    int rc = 0;
    if (pr->chunked_body) {
        char size_line[24];
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        rc = flare_buf_append(&pr->out, size_line, (size_t)n);
        if (rc == 0) rc = flare_buf_append(&pr->out, p, len);
        if (rc == 0) rc = flare_buf_append(&pr->out, "\r\n", 2);
    } else {
        rc = flare_buf_append(&pr->out, p, len);
    }
    if (pr->state == RS_SENDING && !pr->in_resume) flush_out(pr); /* errors surface as events */
    if (rc < 0 || pr->out.len - pr->out_sent > PROXY_KEEP_BUF_MAX) {
        pr->body_paused = true;
        return 1;
    }
    return 0;
}

static void on_body_end(flare_http_stream *s, void *data)
{
    proxy_req *pr = data;
    (void)s;
    pr->body_done = true;
    if (pr->state > RS_SENDING) return;
    if (pr->chunked_body) flare_buf_append(&pr->out, "0\r\n\r\n", 5);
    if (pr->state == RS_SENDING && !pr->in_resume) flush_out(pr);
}

static const flare_http_body_ops body_ops = {on_body_data, on_body_end};

static void kick(flare_reactor *r, void *data)
{
    proxy_req *pr = data;
    (void)r;
    pr->kick_pending = false;
    if (pr->orphan) {
        flared_proxy__release(pr);
        return;
    }
    flare_http_upstream_info *u = flare_http_stream_upstream(pr->s);
    *u = (flare_http_upstream_info){.used = true};
    pr->start_us = now_us(pr);
    /* Body pieces already received are queued before the first attempt. */
    if (pr->body_streaming && flare_http_stream_read_body(pr->s, &body_ops, pr) < 0) {
        flared_proxy__client_gone(pr);
        return;
    }
    start_attempt(pr);
}

void flared_proxy__relay_event(proxy_req *pr, uint32_t events)
{
    if (pr->state == RS_TUNNEL) {
        flared_proxy__tunnel_pump(pr);
        return;
    }
    if (pr->state == RS_UPGRADING) return; /* the tunnel reads what is waiting */
    if (pr->state == RS_CONNECTING) {
        if (!(events & (FLARE_EV_WRITE | FLARE_EV_ERROR | FLARE_EV_HUP))) return;
        int e = flare_socket_pending_error(pr->uc->fd);
        if (e) {
            flared_proxy__attempt_failed(pr, true, "upstream connect failed\n");
            return;
        }
        pr->uc->connecting = false;
        pr->state = pr->uc->has_tls ? RS_HANDSHAKE : RS_SENDING;
    }
    if (pr->state == RS_HANDSHAKE) {
        int rc = flare_tls_conn_handshake(&pr->uc->tls, NULL);
        if (rc == FLARE_EAGAIN) return;
        if (rc < 0) {
            flared_proxy__attempt_failed(pr, true, "upstream TLS handshake failed\n");
            return;
        }
        pr->state = RS_SENDING;
        flared_proxy__send_request(pr);
        return;
    }
    if (pr->state == RS_SENDING) {
        /* Over TLS, readable may be a session ticket: reading it gives no byte and
         * leaves the sending as it is, as an interim response does. */
        bool readable = events & (FLARE_EV_READ | FLARE_EV_HUP | FLARE_EV_ERROR);
        bool unsent = pr->out_sent < pr->out.len || (pr->body_streaming && !pr->body_done);
        if (readable && unsent) {
            /* The upstream speaks before taking the whole request: a final answer (a 413,
             * say) ends the sending (parse_head), an interim one (RFC 9110 §15.2: a 100 or
             * 103 it may send unasked) leaves it going on. */
            flared_proxy__read_upstream(pr);
            return;
        }
        if (readable) pr->early_input = true;
        flared_proxy__send_request(pr);
        return;
    }
    if (!pr->paused) flared_proxy__read_upstream(pr);
}

/* --------------------------------------------------------------- handler */

static proxy_req *req_get(flared_proxy *px)
{
    proxy_req *pr = px->free_reqs;
    if (pr) {
        px->free_reqs = pr->next;
    } else {
        pr = calloc(1, sizeof *pr);
        if (!pr) return NULL;
        pr->px = px;
        flare_timer_init(&pr->timer, on_timer, pr);
    }
    flare_buf out = pr->out, in = pr->in;
    out.len = in.len = 0;
    memset(pr, 0, offsetof(proxy_req, timer));
    pr->px = px;
    pr->out = out;
    pr->in = in;
    pr->state = RS_CONNECTING;
    pr->body_mode = BODY_NONE;
    pr->cfd = -1;
    return pr;
}

static bool idempotent(flare_http_method m)
{
    /* RFC 9110 §9.2.2 */
    return m == FLARE_METHOD_GET || m == FLARE_METHOD_HEAD || m == FLARE_METHOD_PUT ||
           m == FLARE_METHOD_DELETE || m == FLARE_METHOD_OPTIONS || m == FLARE_METHOD_TRACE;
}

int flared_handle_proxy(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    flared_upstream_rt *up = ctx->upstream;
    const flared_proxy_route *cfg = &ctx->route->u.proxy;
    flared_route_headers(resp, ctx); /* for the answers given here; a deferred one adds them */
    if (flare_http_path_has_dot_segment(req->path, req->path_len)) {
        static const char body[] = "the path has a \".\" or \"..\" segment\n";
        return flare_response_text(resp, 400, "text/plain; charset=utf-8", body, sizeof body - 1);
    }
    /* RFC 9110 §7.6.2: no hop left; this proxy is the final recipient. */
    if (flared_proxy_max_forwards(req) == 0) {
        if (req->method == FLARE_METHOD_TRACE) return flared_proxy_reflect_trace(resp, req);
        flare_response_status(resp, 200); /* OPTIONS: the route takes the methods configured */
        return 0;
    }
    proxy_req *pr = req_get(up->px);
    if (!pr) return -1;
    pr->up = up;
    pr->idempotent = idempotent(req->method);
    pr->head_request = req->method == FLARE_METHOD_HEAD;
    const flare_http_header *upgrade = flared_proxy_upgrade_field(req->head);
    pr->upgrade = upgrade != NULL;
    if (upgrade && upgrade->value_len <= sizeof pr->upgrade_asked) {
        memcpy(pr->upgrade_asked, upgrade->value, upgrade->value_len);
        pr->upgrade_asked_len = (uint8_t)upgrade->value_len;
    }
    pr->body_streaming = req->body_streamed;
    pr->chunked_body = req->body_streamed && req->head->chunked;
    pr->fields = &ctx->fields;
    pr->route_cfg = cfg;
    pr->gzip_cfg = cfg->gzip.enabled ? &cfg->gzip : NULL;
    pr->gzip_accepted = pr->gzip_cfg && flared_proxy_gzip_accepted(req->head);
    if (req->peer) pr->client = *req->peer;
    flared_proxy_head_opts opts = {.host = up->cfg->name,
                                   .host_len = strlen(up->cfg->name),
                                   .close = up->cfg->keepalive == 0,
                                   .stream_body = req->body_streamed,
                                   .route = cfg};
    if (cfg->strip_prefix && ctx->route->is_prefix) {
        /* The bytes the router matched ("/%61pi" for "/api/"), not the route's length. */
        size_t span = flare_http_route_prefix_span(ctx->route->path, strlen(ctx->route->path) - 1,
                                                   req->path, req->path_len);
        opts.strip_len = span == SIZE_MAX ? 0 : span;
    }
    if (cfg->preserve_host) {
        const char *host;
        size_t host_len;
        flared_proxy_client_host(req, &host, &host_len);
        if (host_len) {
            opts.host = host;
            opts.host_len = host_len;
        }
    }
    int rc = flared_proxy_request_head(&pr->out, req, &opts);
    if (rc == 0) rc = flare_buf_append(&pr->out, req->body, req->body_len);
    if (rc == 0) {
        pr->s = flare_response_defer(resp, &stream_ops, pr);
        pr->kick_pending = true;
        rc = pr->s ? flare_reactor_defer(up->px->r, kick, pr) : FLARE_EINVAL;
    }
    if (rc < 0) {
        flared_proxy__release(pr);
        return -1; /* the server answers 500 (and forgets the defer) */
    }
    return 0;
}
