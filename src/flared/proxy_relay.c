/*
 * proxy_relay.c: one proxied request on the worker's reactor. The handler
 * writes the upstream request (head and the buffered body), defers the client
 * response and starts an attempt once the handler has returned. An attempt
 * connects (or reuses an idle connection), sends, parses the response head with
 * the strict response parser, and relays the body to the client stream, pausing
 * the upstream while the client's output is above its high-water mark.
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
static void read_upstream(proxy_req *pr);
static void send_request(proxy_req *pr);

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

static void arm(proxy_req *pr, uint64_t ms)
{
    flare_reactor_timer_in(pr->px->r, &pr->timer, ms);
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
static void note_end(proxy_req *pr)
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
static void answer(proxy_req *pr, int status, const char *text)
{
    flare_http_stream *s = pr->s;
    const flare_header_block *fields = pr->fields;
    note_end(pr);
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

/* After the head: the client response is cut. */
static void cut(proxy_req *pr)
{
    flare_http_stream *s = pr->s;
    note_end(pr);
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
    flare_http_stream_abort(s);
}

static void fail(proxy_req *pr, int status, const char *text)
{
    if (pr->head_sent)
        cut(pr);
    else
        answer(pr, status, text);
}

static void client_gone(proxy_req *pr);

static void complete(proxy_req *pr)
{
    flare_http_stream *s = pr->s;
    /* A body that ended with the upstream's close still owes the gzip trailer. */
    if (pr->gz && !flared_gzip_stream_finished(pr->gz) &&
        flared_gzip_stream_write(pr->gz, s, NULL, 0, FLARED_GZIP_LAST) < 0) {
        client_gone(pr);
        return;
    }
    note_end(pr);
    flared_proxy__drop_conn(pr, pr->reusable);
    flared_proxy__release(pr);
    flare_http_stream_finish(s); /* may run the next request, which may take this struct */
}

/* The client went away (stream invalid): the upstream connection, mid-request, cannot
 * serve another; the server did nothing wrong (no failure, nginx's 499). */
static void client_gone(proxy_req *pr)
{
    if (pr->uc) pr->sv->m->client_aborts++;
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
}

/* ---------------------------------------------------------- client side */

static void on_writable(flare_http_stream *s, void *data)
{
    proxy_req *pr = data;
    (void)s;
    pr->paused = false;
    arm(pr, pr->up->cfg->read_timeout_ms);
    read_upstream(pr);
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
    if (pr->state < RS_UPGRADING) note_end(pr);
    pr->s = NULL;
    client_gone(pr);
}

static const flare_http_stream_ops stream_ops = {on_writable, on_closed};

/* -------------------------------------------------------------- attempts */

/* Nothing of the response arrived and the connection failed or closed. */
static void attempt_failed(proxy_req *pr, bool connect_failure, const char *why)
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
    answer(pr, 502, why);
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
        attempt_failed(pr, true, "upstream connect timed out\n");
        return;
    }
    flared_proxy__server_failed(pr->sv);
    fail(pr, 504, "upstream timed out\n");
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
            if (moved || !flare_timer_active(&pr->timer)) arm(pr, pr->up->cfg->read_timeout_ms);
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

static void send_request(proxy_req *pr)
{
    arm(pr, pr->up->cfg->read_timeout_ms); /* an upstream that stops reading times out too */
    for (;;) {
        int rc = flush_out(pr);
        if (rc == FLARE_EAGAIN) return; /* the next writable edge resumes */
        if (rc < 0) {
            attempt_failed(pr, false, "upstream closed the connection\n");
            return;
        }
        if (!pr->body_streaming || pr->body_done) break;
        if (!pr->body_paused) return; /* the next body piece sends itself */
        pr->body_paused = false;
        pr->in_resume = true;
        rc = flare_http_stream_body_resume(pr->s);
        pr->in_resume = false;
        if (rc < 0) {
            client_gone(pr);
            return;
        }
    }
    /* Unless the upstream spoke while the request was going out, the answer cannot be
     * there yet: its readable edge starts the reading (no recv that would fail). */
    pr->state = RS_HEAD;
    arm(pr, pr->up->cfg->read_timeout_ms);
    if (pr->early_input) read_upstream(pr);
}

static void start_attempt(proxy_req *pr)
{
    for (;;) {
        up_server *sv = flared_proxy__pick(pr->up, &pr->client, &pr->tried);
        if (!sv) {
            /* RFC 9110 §15.6.5: the last server tried did not answer the connect in time. */
            if (pr->conn_timeout)
                answer(pr, 504, "upstream connect timed out\n");
            else /* a server was tried: the client learns how it failed */
                answer(pr, 502,
                       pr->last_failure ? pr->last_failure : "no upstream server is available\n");
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
            arm(pr, pr->up->cfg->connect_timeout_ms);
            if (!uc->connecting) flared_proxy__relay_event(pr, FLARE_EV_WRITE);
            return;
        }
        pr->state = RS_SENDING;
        send_request(pr);
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
        client_gone(pr);
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
            attempt_failed(pr, true, "upstream connect failed\n");
            return;
        }
        pr->uc->connecting = false;
        pr->state = pr->uc->has_tls ? RS_HANDSHAKE : RS_SENDING;
    }
    if (pr->state == RS_HANDSHAKE) {
        int rc = flare_tls_conn_handshake(&pr->uc->tls, NULL);
        if (rc == FLARE_EAGAIN) return;
        if (rc < 0) {
            attempt_failed(pr, true, "upstream TLS handshake failed\n");
            return;
        }
        pr->state = RS_SENDING;
        send_request(pr);
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
            read_upstream(pr);
            return;
        }
        if (readable) pr->early_input = true;
        send_request(pr);
        return;
    }
    if (!pr->paused) read_upstream(pr);
}

/* ------------------------------------------------------------- response */

/* Hands the buffered body bytes to the client; false when the request ended. */
static bool deliver(proxy_req *pr)
{
    char *p = pr->in.data;
    size_t len = pr->in.len;
    bool done = false;
    pr->in.len = 0;
    if (pr->body_mode == BODY_LENGTH) {
        if (len > pr->body_left) {
            len = (size_t)pr->body_left; /* bytes past the body: the connection is unusable */
            pr->reusable = false;
        }
        pr->body_left -= len;
        done = pr->body_left == 0;
    } else if (pr->body_mode == BODY_CHUNKED) {
        ssize_t rc = flare_http_decode_chunked(&pr->dec, p, &len);
        if (rc == FLARE_EPARSE) {
            cut(pr); /* RFC 9112 §7.1: bad chunked framing from the upstream */
            return false;
        }
        if (rc > 0) pr->reusable = false;
        done = rc >= 0;
    }
    int w = pr->gz ? flared_gzip_stream_write(pr->gz, pr->s, p, len,
                                              done ? FLARED_GZIP_LAST : FLARED_GZIP_SYNC)
                   : flare_http_stream_write(pr->s, p, len);
    if (w < 0) {
        client_gone(pr);
        return false;
    }
    if (done) {
        complete(pr);
        return false;
    }
    if (w == 1) {
        pr->paused = true; /* resumed by on_writable */
        flare_timer_cancel(flare_reactor_timers(pr->px->r), &pr->timer);
        return false;
    }
    return true;
}

static void on_upgraded(flare_reactor *r, const flare_http_upgraded *up, void *data)
{
    (void)r;
    flared_proxy__tunnel_start(data, up);
}

/* RFC 9110 §7.8: a server switches only to protocols the client listed. One the client
 * did not ask for (h2c, say, which the request side refuses to pass on) is not relayed. */
static bool switch_asked(const proxy_req *pr, const flare_http_header *proto)
{
    const char *v = proto->value, *end = v + proto->value_len;
    bool any = false;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        const char *a = v, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a < b) {
            if (!flare_http_value_has_token_n(pr->upgrade_asked, pr->upgrade_asked_len, a,
                                              (size_t)(b - a)))
                return false;
            any = true;
        }
        v = comma ? comma + 1 : end;
    }
    return any;
}

/* RFC 9110 §7.8: the upstream agreed to switch; the client gets the 101 with the
 * protocol it named, and then the bytes of both sides are relayed. */
static bool switch_protocols(proxy_req *pr, const flare_http_response *r, size_t n)
{
    const flare_http_header *proto = NULL;
    for (size_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].id == FLARE_HDR_UPGRADE) proto = &r->headers[i];
    if (proto && !switch_asked(pr, proto)) {
        flared_proxy__server_failed(pr->sv);
        answer(pr, 502, "upstream switched to a protocol the client did not ask for\n");
        return false;
    }
    flare_response *resp = flare_http_stream_response(pr->s);
    if (!proto || flared_proxy_response_fields(resp, r, pr->route_cfg) < 0 ||
        flare_response_headern(resp, "Upgrade", 7, proto->value, proto->value_len) < 0 ||
        flare_response_header(resp, "Connection", "upgrade") < 0) {
        answer(pr, 502, "upstream switched protocols without naming one\n");
        return false;
    }
    memmove(pr->in.data, pr->in.data + n, pr->in.len - n);
    pr->in.len -= n;
    pr->state = RS_UPGRADING;
    pr->head_sent = true;
    /* Until the 101 is written the wait is the client's, bounded by the server's write
     * timeout (a close is reported to on_closed); the tunnel arms the timer anew. A cut
     * here would leave the server a hand-over to a request already given back. */
    flare_timer_cancel(flare_reactor_timers(pr->px->r), &pr->timer);
    flare_http_stream_upgrade(pr->s, on_upgraded, pr); /* the tunnel may start inside */
    return false;
}

/* How long the connection may wait in the pool after response r. An upstream's
 * Keep-Alive: timeout=N says when it closes an idle connection itself; the pool lets it
 * go a little before (a second, half of one with N=1), so no request reaches the
 * upstream as it closes (a POST there could only fail). timeout=0: not kept at all. */
static uint64_t idle_limit(const proxy_req *pr, const flare_http_response *r)
{
    uint64_t ms = pr->up->cfg->keepalive_timeout_ms;
    int64_t hint = flared_proxy_keep_alive_timeout(r);
    if (hint < 0) return ms;
    uint64_t upstream_ms = (uint64_t)hint * 1000;
    upstream_ms -= upstream_ms >= 2000 ? 1000 : upstream_ms / 2;
    return upstream_ms < ms ? upstream_ms : ms;
}

/* The head is complete (n bytes, parsed into r): pass it on. False when it ended. */
static bool forward_head(proxy_req *pr, const flare_http_response *r, size_t n)
{
    int status = r->status;
    /* RFC 9112 §9.5: a server may send 408 before it closes an idle connection. On a
     * pooled one it was written before this request arrived: the connection is stale,
     * and an idempotent request goes again on a fresh one. */
    if (status == 408 && pr->reused && pr->idempotent && !pr->out_dropped) {
        attempt_failed(pr, false, "upstream closed the connection\n");
        return false;
    }
    flare_http_stream_upstream(pr->s)->status = (uint16_t)status;
    if (status <= 599) pr->sv->m->responses[status / 100]++;
    if (status == 101 && pr->upgrade) {
        note_end(pr);
        return switch_protocols(pr, r, n);
    }
    if (status > 599 || status == 101) {
        flared_proxy__server_failed(pr->sv);
        answer(pr, 502, "upstream sent an invalid response\n");
        return false;
    }
    flared_proxy__server_ok(pr->sv);
    int64_t length = FLARE_HTTP_STREAM_UNKNOWN_LENGTH;
    /* RFC 9112 §6.3: how the upstream's body ends. */
    if (pr->head_request || status == 204 || status == 304) {
        pr->body_mode = BODY_NONE;
        /* RFC 9110 §8.6: HEAD tells the GET's length, which is unknown without one. */
        if (!pr->head_request)
            length = 0;
        else if (r->content_length >= 0)
            length = r->content_length;
    } else if (r->chunked) {
        pr->body_mode = BODY_CHUNKED;
        memset(&pr->dec, 0, sizeof pr->dec);
    } else if (r->content_length >= 0) {
        pr->body_mode = BODY_LENGTH;
        pr->body_left = (uint64_t)r->content_length;
        length = r->content_length;
    } else {
        pr->body_mode = BODY_CLOSE;
    }
    pr->reusable = r->keep_alive && pr->body_mode != BODY_CLOSE && !pr->request_cut;
    pr->uc->bodiless = pr->body_mode == BODY_NONE;
    pr->uc->idle_ms = idle_limit(pr, r);
    if (pr->uc->idle_ms == 0) pr->reusable = false;
    /* RFC 9110 §8.6, RFC 9112 §6.1: a 204 framed as if it had a body may be followed by
     * one, which the next request on this connection would take for its response. */
    if (status == 204 && (r->chunked || r->content_length > 0)) pr->reusable = false;
    unsigned gzip = flared_proxy_gzip_plan(pr->gzip_cfg, r, pr->gzip_accepted);
    bool body_ahead =
        pr->body_mode != BODY_NONE && !(pr->body_mode == BODY_LENGTH && pr->body_left == 0);
    if ((gzip & FLARED_GZIP_ENCODE) && !pr->head_request) {
        /* An empty body stays empty; without a stream (no memory) it goes as it is. */
        if (!body_ahead || !(pr->gz = flared_gzip_stream_start(pr->gzip_cfg->level)))
            gzip &= ~(unsigned)FLARED_GZIP_ENCODE;
    }
    if (gzip & FLARED_GZIP_ENCODE) length = FLARE_HTTP_STREAM_UNKNOWN_LENGTH;
    flare_response *resp = flare_http_stream_response(pr->s);
    flare_response_status(resp, status);
    /* The route's `headers` after the upstream's, as nginx's add_header. */
    if (flared_proxy_response_fields_coded(resp, r, gzip, pr->route_cfg) < 0 ||
        flare_response_header_block(resp, pr->fields) < 0) {
        answer(pr, 502, "upstream response fields cannot be forwarded\n");
        return false;
    }
    memmove(pr->in.data, pr->in.data + n, pr->in.len - n);
    pr->in.len -= n;
    pr->state = RS_BODY;
    pr->head_sent = true;
    note_end(pr); /* for now: a client that leaves mid-body is logged with this time */
    if (flare_http_stream_send_head(pr->s, length) < 0) {
        client_gone(pr);
        return false;
    }
    if (pr->body_mode == BODY_NONE || (pr->body_mode == BODY_LENGTH && pr->body_left == 0)) {
        if (pr->in.len) pr->reusable = false;
        complete(pr);
        return false;
    }
    if (pr->in.len) return deliver(pr);
    if (flare_http_stream_flush(pr->s) < 0) { /* the body may be slow: the head goes now */
        client_gone(pr);
        return false;
    }
    return true;
}

/* Parses what arrived of the head; false when the request ended or more is needed. */
static bool parse_head(proxy_req *pr, bool *need_more)
{
    *need_more = false;
    for (;;) {
        flare_http_response r = {.headers = pr->headers, .max_headers_capacity = PROXY_MAX_HEADERS};
        ssize_t n = flare_http_parse_response(pr->in.data, pr->in.len, pr->last_len, &r);
        if (n == FLARE_EINCOMPLETE) {
            pr->last_len = pr->in.len;
            if (pr->in.len == PROXY_IN_CAP) {
                answer(pr, 502, "upstream response head is too large\n");
                return false;
            }
            *need_more = true;
            return false;
        }
        if (n < 0) {
            /* On a pooled connection whose last response had no body, these are most
             * likely that body (a HEAD answered with the GET's), come after this request
             * went out: the connection is stale, the request goes again on a fresh one. */
            if (pr->reused && pr->uc->bodiless) {
                attempt_failed(pr, false, "upstream sent a malformed response\n");
                return false;
            }
            flared_proxy__server_failed(pr->sv);
            answer(pr, 502, "upstream sent a malformed response\n");
            return false;
        }
        pr->last_len = 0;
        pr->uc->bodiless = false; /* a head came: what follows is no stray body */
        if (r.status >= 100 && r.status < 200 && r.status != 101) {
            /* RFC 9110 §15.2: interim responses are passed on (a proxy MUST), but 100: the
             * client's Expect was answered here. A few only: the client that does not
             * read must not make them pile up. */
            if (r.status != 100 && pr->interims < PROXY_MAX_INTERIM) {
                pr->interims++;
                flare_response *resp = flare_http_stream_response(pr->s);
                flare_response_status(resp, r.status);
                int rc = flared_proxy_response_fields(resp, &r, pr->route_cfg);
                if (rc == 0) rc = flare_http_stream_send_interim(pr->s);
                if (rc == FLARE_ECLOSED) {
                    client_gone(pr);
                    return false;
                }
            }
            memmove(pr->in.data, pr->in.data + n, pr->in.len - (size_t)n);
            pr->in.len -= (size_t)n;
            if (pr->in.len == 0) {
                *need_more = true;
                return false;
            }
            continue;
        }
        if (pr->state == RS_SENDING) {
            /* A final answer before the whole request went: the rest is not sent, the
             * connection not reused (forward_head), and the wait is the upstream's again. */
            pr->request_cut = true;
            pr->state = RS_HEAD;
            arm(pr, pr->up->cfg->read_timeout_ms);
        }
        return forward_head(pr, &r, (size_t)n);
    }
}

/* The upstream closed (n == 0) or failed. */
static void upstream_ended(proxy_req *pr, bool eof)
{
    if (pr->state == RS_BODY) {
        if (eof && pr->body_mode == BODY_CLOSE) {
            pr->reusable = false;
            complete(pr);
        } else {
            cut(pr); /* killed mid-response */
        }
        return;
    }
    if (!pr->got_bytes) {
        attempt_failed(pr, false, "upstream closed the connection\n");
        return;
    }
    flared_proxy__server_failed(pr->sv);
    answer(pr, 502, "upstream response was cut short\n");
}

static void read_upstream(proxy_req *pr)
{
    if (flare_buf_reserve(&pr->in, PROXY_IN_CAP) < 0) {
        fail(pr, 502, "out of memory\n");
        return;
    }
    for (;;) {
        if (pr->paused) return;
        size_t room = PROXY_IN_CAP - pr->in.len;
        ssize_t n = flared_proxy__up_io(pr->uc, pr->in.data + pr->in.len, room, false);
        if (n == FLARE_EAGAIN) {
            /* Only interim responses (or part of a head) came while the request goes out:
             * the sending goes on, as a writable edge that came with this one says no more. */
            if (pr->state == RS_SENDING) send_request(pr);
            return;
        }
        if (n <= 0) {
            /* RFC 9112 §9.8: over TLS only a closure alert is an end, not a bare close. */
            upconn *uc = pr->uc;
            upstream_ended(pr,
                           n == FLARE_ECLOSED && (!uc->has_tls || uc->tls.close_notify_received));
            return;
        }
        pr->got_bytes = true;
        pr->in.len += (size_t)n;
        /* While the request goes out, its sending keeps the timer (flush_out). */
        if (pr->state != RS_SENDING) arm(pr, pr->up->cfg->read_timeout_ms);
        if (pr->state == RS_SENDING || pr->state == RS_HEAD) {
            bool need_more;
            if (!parse_head(pr, &need_more) && !need_more) return;
            if (need_more) continue;
        } else if (!deliver(pr)) {
            return;
        }
    }
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
    if (flared_proxy_path_has_dot_segment(req->path, req->path_len)) {
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
