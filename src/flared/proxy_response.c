/*
 * proxy_response.c: the upstream's response to a proxied request (proxy_relay.c
 * sends it). The head is parsed with the strict response parser; interim responses
 * are passed on, a 101 the client asked for becomes a tunnel (proxy_tunnel.c), and
 * a final head goes to the client with the body relayed behind it (decoded from
 * chunked, gzipped when the route says so), the upstream paused while the client's
 * output is above its high-water mark. A response cut short is cut for the client.
 */
#include "proxy_internal.h"

#include <string.h>

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
            flared_proxy__cut(pr); /* RFC 9112 §7.1: bad chunked framing from the upstream */
            return false;
        }
        if (rc > 0) pr->reusable = false;
        done = rc >= 0;
    }
    int w = pr->gz ? flared_gzip_stream_write(pr->gz, pr->s, p, len,
                                              done ? FLARED_GZIP_LAST : FLARED_GZIP_SYNC)
                   : flare_http_stream_write(pr->s, p, len);
    if (w < 0) {
        flared_proxy__client_gone(pr);
        return false;
    }
    if (done) {
        flared_proxy__complete(pr);
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
        flared_proxy__answer(pr, 502,
                             "upstream switched to a protocol the client did not ask for\n");
        return false;
    }
    flare_response *resp = flare_http_stream_response(pr->s);
    if (!proto || flared_proxy_response_fields(resp, r, pr->route_cfg) < 0 ||
        flare_response_headern(resp, "Upgrade", 7, proto->value, proto->value_len) < 0 ||
        flare_response_header(resp, "Connection", "upgrade") < 0) {
        flared_proxy__answer(pr, 502, "upstream switched protocols without naming one\n");
        return false;
    }
    flare_buf_consume(&pr->in, n);
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
        flared_proxy__attempt_failed(pr, false, "upstream closed the connection\n");
        return false;
    }
    flare_http_stream_upstream(pr->s)->status = (uint16_t)status;
    if (status <= 599) pr->sv->m->responses[status / 100]++;
    if (status == 101 && pr->upgrade) {
        flared_proxy__note_end(pr);
        return switch_protocols(pr, r, n);
    }
    if (status > 599 || status == 101) {
        flared_proxy__server_failed(pr->sv);
        flared_proxy__answer(pr, 502, "upstream sent an invalid response\n");
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
        flared_proxy__answer(pr, 502, "upstream response fields cannot be forwarded\n");
        return false;
    }
    flare_buf_consume(&pr->in, n);
    pr->state = RS_BODY;
    pr->head_sent = true;
    /* For now: a client that leaves mid-body is logged with this time. */
    flared_proxy__note_end(pr);
    if (flare_http_stream_send_head(pr->s, length) < 0) {
        flared_proxy__client_gone(pr);
        return false;
    }
    if (pr->body_mode == BODY_NONE || (pr->body_mode == BODY_LENGTH && pr->body_left == 0)) {
        if (pr->in.len) pr->reusable = false;
        flared_proxy__complete(pr);
        return false;
    }
    if (pr->in.len) return deliver(pr);
    if (flare_http_stream_flush(pr->s) < 0) { /* the body may be slow: the head goes now */
        flared_proxy__client_gone(pr);
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
                flared_proxy__answer(pr, 502, "upstream response head is too large\n");
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
                flared_proxy__attempt_failed(pr, false, "upstream sent a malformed response\n");
                return false;
            }
            flared_proxy__server_failed(pr->sv);
            flared_proxy__answer(pr, 502, "upstream sent a malformed response\n");
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
                    flared_proxy__client_gone(pr);
                    return false;
                }
            }
            flare_buf_consume(&pr->in, (size_t)n);
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
            flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
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
            flared_proxy__complete(pr);
        } else {
            flared_proxy__cut(pr); /* killed mid-response */
        }
        return;
    }
    if (!pr->got_bytes) {
        flared_proxy__attempt_failed(pr, false, "upstream closed the connection\n");
        return;
    }
    flared_proxy__server_failed(pr->sv);
    flared_proxy__answer(pr, 502, "upstream response was cut short\n");
}

void flared_proxy__read_upstream(proxy_req *pr)
{
    if (flare_buf_reserve(&pr->in, PROXY_IN_CAP) < 0) {
        flared_proxy__fail(pr, 502, "out of memory\n");
        return;
    }
    for (;;) {
        if (pr->paused) return;
        size_t room = PROXY_IN_CAP - pr->in.len;
        ssize_t n = flared_proxy__up_io(pr->uc, pr->in.data + pr->in.len, room, false);
        if (n == FLARE_EAGAIN) {
            /* Only interim responses (or part of a head) came while the request goes out:
             * the sending goes on, as a writable edge that came with this one says no more. */
            if (pr->state == RS_SENDING) flared_proxy__send_request(pr);
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
        if (pr->state != RS_SENDING) flared_proxy__arm(pr, pr->up->cfg->read_timeout_ms);
        if (pr->state == RS_SENDING || pr->state == RS_HEAD) {
            bool need_more;
            if (!parse_head(pr, &need_more) && !need_more) return;
            if (need_more) continue;
        } else if (!deliver(pr)) {
            return;
        }
    }
}
