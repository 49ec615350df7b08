/*
 * server_request.c: a connection's requests: each complete head buffered is parsed,
 * checked and routed, its body collected, streamed or discarded, and its handler's
 * answer (or the server's own: errors, redirects to HTTPS, OPTIONS *) queued in the
 * output, pipelined ones one after another into the same buffer.
 */
#include "server_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dispatch(conn *c);

/* The request being refused is a HEAD, so its answer keeps the fields but has no
 * content (RFC 9110 §9.3.2), as nginx does. Past the head the parsed method says so;
 * a head that failed still names its method first, and the client that sent it reads
 * the answer as one to HEAD. */
static bool refusing_head(const conn *c)
{
    if (!c->block) return false;
    if (c->phase == PH_BODY) return c->req->method_id == FLARE_METHOD_HEAD;
    if (c->phase != PH_HEAD) return false;
    const char *p = c->in + c->start;
    size_t n = c->in_len - c->start;
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') { /* the one empty line skipped */
        p += 2;
        n -= 2;
    }
    return n >= 5 && memcmp(p, "HEAD ", 5) == 0;
}

/* The configured fields of the server's own answer to the parsed request: its route's,
 * or when no route takes it, those of the host its Host picks (else the server's). */
static const flare_header_block *request_fields(const conn *c)
{
    const route *rt = conn_route(c);
    if (rt) return rt->headers;
    const flare_request *view = &pending_of(c)->view; /* built by begin_request */
    return flare_http__host_fields(c->srv, view->host, view->host_len);
}

/* Answers `status` with Connection: close; input after this point is ignored. */
void flare_http__conn_fail(conn *c, int status)
{
    flare_http_server *srv = c->srv;
    flare_http__conn_take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    /* A request that reached its body was routed; a head refused or late was not, and
     * no host is known for it: the server's fields. */
    const flare_header_block *b = c->phase == PH_BODY ? request_fields(c) : srv->fields;
    /* A head refused before it parsed is numbered all the same, so its log line names
     * it as any other request's does ($request_id). */
    bool has_view = c->phase == PH_BODY;
    uint64_t serial = has_view ? pending_of(c)->view.serial : ++srv->serials;
    if (flare_http__error_response(&c->out, status, &srv->head_start, b ? &b->lines : NULL,
                                   &head_len) == 0) {
        if (refusing_head(c)) c->out.len = out_begin + head_len;
        srv->stats.responses_by_class[status / 100]++;
        /* A request that got as far as its body has a view; a bad head has none. */
        if (srv->on_complete && c->block)
            flare_http__conn_record(c, status, out_begin, head_len, has_view, serial);
    }
    c->closing = true;
}

/* The parser reports a request line longer than the whole head limit as 431, since
 * the head cannot fit. It is the target that is too long: 414 (RFC 9110 §15.5.15),
 * unless the method is the longer part: a method longer than any implemented gets
 * 501 (RFC 9112 §3). */
static int head_error_status(const conn *c, int status)
{
    const char *p = c->in + c->start;
    size_t n = c->in_len - c->start;
    if (status != 431) return status;
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
        n -= 2;
    }
    const char *lf = memchr(p, '\n', n);
    size_t line_len = lf ? (size_t)(lf - p) : n;
    if (line_len < c->srv->cfg.max_header_bytes) return 431; /* the fields are too large */
    const char *sp = memchr(p, ' ', line_len);
    if (!sp) return 431;
    size_t method_len = (size_t)(sp - p);
    return method_len > line_len - method_len ? 501 : 414;
}

static void split_target(const flare_http_request *req, flare_request *out)
{
    const char *t = req->target;
    size_t len = req->target_len;
    out->host = NULL;
    out->host_len = 0;
    if (req->target_form == FLARE_TARGET_ABSOLUTE) {
        /* RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host. */
        const char *scheme_end = memchr(t, ':', len);
        size_t skip = scheme_end ? (size_t)(scheme_end - t) + 3 : 0;
        if (skip > len) skip = len;
        const char *auth = t + skip;
        size_t rest = len - skip;
        size_t auth_len = 0;
        while (auth_len < rest && auth[auth_len] != '/' && auth[auth_len] != '?')
            auth_len++;
        out->host = auth;
        out->host_len = auth_len;
        t = auth + auth_len;
        len = rest - auth_len;
    }
    const char *q = memchr(t, '?', len);
    out->path = t;
    out->path_len = q ? (size_t)(q - t) : len;
    out->query = q ? q + 1 : NULL;
    out->query_len = q ? len - out->path_len - 1 : 0;
    if (out->path_len == 0) {
        out->path = "/";
        out->path_len = 1;
    }
}

static void host_of(const flare_http_request *req, const flare_tls_conn *tls, flare_request *out)
{
    if (!out->host && req->host_index >= 0) {
        out->host = req->headers[req->host_index].value;
        out->host_len = req->headers[req->host_index].value_len;
    }
    if (!out->host || out->host_len == 0) {
        /* A request that names no host (HTTP/1.0 may omit Host, RFC 9112 §3.2) over TLS
         * is for the host the client named in SNI (RFC 6066 §3), whose certificate it
         * took: it goes where Host: that-name would, not to the default host (nginx 1.22
         * serves its default server block there, whatever certificate SNI selected). */
        const char *sni = tls ? flare_tls_conn_server_name(tls) : NULL;
        out->host = sni ? sni : "";
        out->host_len = sni ? strlen(sni) : 0;
        if (!sni) return;
    }
    /* Strip ":port"; an IPv6 literal keeps its brackets. */
    const char *close =
        out->host_len && out->host[0] == '[' ? memchr(out->host, ']', out->host_len) : NULL;
    size_t from = close ? (size_t)(close - out->host) : 0;
    const char *colon = memchr(out->host + from, ':', out->host_len - from);
    if (colon) out->host_len = (size_t)(colon - out->host);
    /* "example.com." is the fully qualified spelling of "example.com" (RFC 1034 §3.1):
     * the same virtual host and certificate, as nginx also treats it. */
    if (out->host_len > 1 && out->host[out->host_len - 1] == '.') out->host_len--;
}

/* An admission check (a route's, say a rate limit, or its listener's head check),
 * before any body byte is read. A refusal is the server's own answer, like a 405, with
 * the Retry-After it asks for. */
static bool admitted(conn *c, flare_http_admit_fn admit, void *userdata, flare_http__pending *p)
{
    flare_http_admission out = {0};
    int status =
        admit(&p->view, flare_reactor_clock(c->srv->reactor)->monotonic_us, userdata, &out);
    if (status == 0) {
        p->remote_user = out.user;
        p->remote_user_len = out.user ? out.user_len : 0;
        return true;
    }
    c->pre_status = (int16_t)(status >= 400 && status <= 599 ? status : 503);
    p->retry_after_s = out.retry_after_s;
    p->admit_fields = out.fields;
    return false;
}

/* Whether the listener's redirect to HTTPS takes the request: every path but those
 * below an exception, compared as the router compares them so that the exempt route
 * is the one reached. A path with a dot segment is never exempt: resolved by a static
 * route ("/.well-known/acme-challenge/../../account"), it names any file of the site,
 * which would then go out in clear text; nginx matches its locations after removing
 * dot segments (RFC 3986 §5.2.4), so such a request is redirected there too. */
static bool redirects(const flare_http_https_redirect *hr, const flare_request *view)
{
    for (size_t i = 0; i < hr->except_count; i++)
        if (flare_http_route_prefix_span(hr->except[i], strlen(hr->except[i]), view->path,
                                         view->path_len) != SIZE_MAX)
            return flare_http_path_has_dot_segment(view->path, view->path_len);
    return true;
}

static const flare_http_https_redirect *https_redirect_of(const conn *c)
{
    return c->srv->listener_opts[c->pre_route - 1].https_redirect;
}

/* What the listener does before routing, off the path of a listener that does
 * nothing: its head check (a 421), then its redirect to HTTPS (not for OPTIONS *, which
 * names no resource to move). True when the server answers the request itself. */
__attribute__((noinline)) static bool listener_answers(conn *c, flare_http__pending *p)
{
    const flare_http_listener_options *l = &c->srv->listener_opts[c->pre_route - 1];
    if (l->head_check && !admitted(c, l->head_check, l->head_check_data, p)) return true;
    const flare_request *view = &p->view;
    if (!l->https_redirect || c->req->target_form == FLARE_TARGET_ASTERISK ||
        !redirects(l->https_redirect, view))
        return false;
    /* No route runs; a request without a host (HTTP/1.0) has nowhere to go. */
    c->pre_status = view->host_len ? (int16_t)l->https_redirect->status : 400;
    return true;
}

/* A request with a body the server answers itself (a redirect to HTTPS, a 404):
 * answered before the rest of the body (even one over the body limit) is read, so
 * the connection cannot be reused. */
__attribute__((noinline)) static bool answer_unread(conn *c)
{
    c->chunked = c->req->chunked;
    c->content_length = c->req->content_length > 0 ? (uint64_t)c->req->content_length : 0;
    c->body_spilled = false;
    c->body_ptr = NULL;
    c->body_len = 0;
    c->leftover = 0;
    c->phase = PH_BODY;
    c->wait = W_NONE;
    c->closing = true;
    dispatch(c);
    return false;
}

/* The head is parsed: route it and decide how its body is read. */
static bool begin_request(conn *c)
{
    flare_http_server *srv = c->srv;
    flare_http_request *req = c->req;
    c->requests++;
    srv->stats.requests++;
    c->pre_status = 0;
    c->route_index = NO_ROUTE;
    /* Before any early answer: its log must not count the last request's dropped body. */
    c->body_dropped = 0;
    if (req->method_id == FLARE_METHOD_CONNECT || req->target_form == FLARE_TARGET_AUTHORITY) {
        flare_http__conn_fail(c, 501); /* no tunnels: RFC 9110 §9.3.6 */
        return false;
    }
    /* The view outlives the handler: a completion report reads it after the write. */
    flare_http__pending *p = pending_of(c);
    flare_request *view = &p->view;
    p->upstream.used = false;
    p->retry_after_s = 0;
    p->admit_fields = NULL;
    p->remote_user = NULL;
    /* Behind trusted proxies the client is X-Forwarded-For's rightmost untrusted hop. */
    const flare_sock_addr *client = &c->peer;
    if (srv->cfg.trusted_proxy_count) {
        flare_http_client_addr(req, &c->peer, srv->cfg.trusted_proxies,
                               srv->cfg.trusted_proxy_count, &p->client);
        client = &p->client;
    }
    *view = (flare_request){.head = req,
                            .method = (flare_http_method)req->method_id,
                            .peer = client,
                            .connection_requests = c->requests,
                            .serial = ++srv->serials,
                            .tls = c->tls,
                            .server_port = c->local_port,
                            .date = flare_reactor_clock(srv->reactor)->wall_sec};
    split_target(req, view);
    host_of(req, c->tls, view);
    /* The loop turn's clock: no extra clock read per request. */
    if (srv->on_complete) p->start_us = flare_reactor_clock(srv->reactor)->monotonic_us;
    if (c->pre_route && listener_answers(c, p)) {
        if (req->chunked || req->content_length > 0) return answer_unread(c);
    } else if (req->target_form == FLARE_TARGET_ASTERISK) {
        c->pre_status = -1; /* OPTIONS * */
    } else {
        const route *rt =
            flare_http__route_match(srv, view->host, view->host_len, view->path, view->path_len);
        /* RFC 9110 §9.1: a method the server does not know is 501, one the resource does
         * not allow is 405. */
        if (!rt)
            c->pre_status = req->method_id == FLARE_METHOD_OTHER ? 501 : 404;
        else if (!flare_http__route_allows(rt, req))
            c->pre_status = req->method_id == FLARE_METHOD_OTHER ? 501 : 405;
        if (rt) c->route_index = (size_t)(rt - srv->routes);
    }
    const route *rt = conn_route(c);
    c->chunked = req->chunked;
    c->content_length = req->content_length > 0 ? (uint64_t)req->content_length : 0;
    c->body_limit = rt ? rt->max_body_bytes : srv->cfg.max_body_bytes;
    c->body_spilled = false;
    c->body_ptr = NULL;
    c->body_len = 0;
    c->leftover = 0;
    flare_http_chunked *dec = &pending_of(c)->dec;
    memset(dec, 0, sizeof *dec);
    dec->payload_max = c->body_limit;
    pending_of(c)->chunked_end_queued = false;
    c->phase = PH_BODY;
    c->wait = W_NONE; /* the body timer starts now */
    if (c->content_length > c->body_limit) {
        /* RFC 9110 §15.5.14; the body is not read, so the connection ends. */
        flare_http__conn_fail(c, 413);
        return false;
    }
    bool has_body = c->chunked || c->content_length > 0;
    if (rt && rt->admit && !c->pre_status && !admitted(c, rt->admit, rt->userdata, p) && has_body) {
        c->closing = true; /* the body is not read: the connection cannot be reused */
        dispatch(c);
        return false;
    }
    if (c->pre_status && has_body &&
        (c->chunked || req->expect_continue || c->head_len + c->content_length > c->in_cap)) {
        /* The server's own answer (404, 405, 501, OPTIONS *) takes no body: it is not
         * read into memory, up to the body limit on every connection, only to be
         * dropped. It is answered now, and the connection ends with a lingering close,
         * whether or not the body has arrived yet (the answer does not depend on how
         * the bytes come). With Expect, this is the final status instead of 100 that
         * says the body is not wanted (RFC 9110 §10.1.1). A Content-Length body that
         * fits in the input block with its head is read there as usual, and the
         * connection goes on, as nginx keeps it after a small POST to a wrong URL. */
        return answer_unread(c);
    }
    size_t buffered = c->in_len - c->start - c->head_len;
    if (has_body && req->expect_continue && req->minor_version == 1 &&
        (c->chunked || buffered < c->content_length)) {
        flare_http__conn_take_out(c);
        if (flare_buf_append(&c->out, CONTINUE_LINE, sizeof CONTINUE_LINE - 1) < 0) {
            c->closing = true;
            return false;
        }
    }
    return true;
}

/* The route takes no body (flare_http_server_route_discard_body): what arrives of it is
 * dropped as it comes, counted in body_dropped, so a client cannot make the server hold
 * a body the handler never looks at, up to the limit on every connection. */
static bool drops_body(const conn *c)
{
    const route *rt = conn_route(c);
    return rt && rt->body_mode == ROUTE_BODY_DISCARD;
}

/* Collects the body of the current request; BODY_DONE sets body_ptr/len and consumed. */
static int collect_body(conn *c)
{
    size_t body_start = c->start + c->head_len;
    if (!c->chunked) {
        uint64_t want = c->content_length;
        if (!c->body_spilled) {
            size_t have = c->in_len - body_start;
            if (have >= want) {
                /* The usual request, with no body, looks no further. */
                if (want && drops_body(c)) {
                    c->body_dropped = want;
                } else {
                    c->body_ptr = c->in + body_start;
                    c->body_len = (size_t)want;
                }
                c->consumed = c->head_len + (size_t)want;
                return BODY_DONE;
            }
            if (body_start + want <= c->in_cap) return BODY_NEED_INPUT;
            /* Larger than the block: collected in its own buffer, which grows as bytes
             * arrive (a Content-Length is only a promise) up to the route's limit. */
            if (drops_body(c)) {
                c->body_dropped = have;
            } else if (flare_buf_append(&c->body, c->in + body_start, have) < 0) {
                flare_http__conn_fail(c, 503);
                return BODY_FAILED;
            }
            c->in_len = body_start;
            c->body_spilled = true;
        }
        if (drops_body(c)) {
            c->body_dropped += c->body.len;
            c->body.len = 0;
            if (c->body_dropped < want) return BODY_NEED_INPUT;
            c->consumed = c->head_len;
            return BODY_DONE;
        }
        if (c->body.len < want) return BODY_NEED_INPUT;
        c->body_ptr = c->body.data;
        c->body_len = c->body.len;
        c->consumed = c->head_len;
        return BODY_DONE;
    }
    if (!c->body_spilled) {
        if (flare_buf_append(&c->body, c->in + body_start, c->in_len - body_start) < 0) {
            flare_http__conn_fail(c, 503);
            return BODY_FAILED;
        }
        c->in_len = body_start;
        c->body_spilled = true;
    }
    /* body.data[0..decoded) is payload; body.len - decoded raw bytes follow. Dropping,
     * decoded stays 0: each call's payload is counted and let go. */
    size_t decoded = c->body_len;
    size_t len = c->body.len - decoded;
    ssize_t rc = len ? flare_http_decode_chunked(&pending_of(c)->dec, c->body.data + decoded, &len)
                     : FLARE_EINCOMPLETE;
    if (rc == FLARE_EPARSE || rc == FLARE_ELIMIT) {
        /* RFC 9110 §15.5.14, RFC 9112 §7.1 */
        flare_http__conn_fail(c, rc == FLARE_ELIMIT ? 413 : 400);
        return BODY_FAILED;
    }
    if (drops_body(c)) {
        c->body_dropped += len;
        /* What follows the body (rc bytes) moves to where the payload was. */
        if (rc > 0) memmove(c->body.data, c->body.data + len, (size_t)rc);
        len = 0;
    }
    c->body_len = decoded + len;
    if (c->body_len + c->body_dropped > c->body_limit) {
        flare_http__conn_fail(c, 413);
        return BODY_FAILED;
    }
    if (rc == FLARE_EINCOMPLETE) {
        c->body.len = c->body_len;
        return BODY_NEED_INPUT;
    }
    /* Complete. The bytes after the body belong to the next request: they wait behind
     * the payload until the handler is done with the head the block still holds. */
    c->leftover = (size_t)rc;
    c->body.len = c->body_len + c->leftover;
    c->body_ptr = c->body.data;
    c->consumed = c->head_len;
    return BODY_DONE;
}

/* The listener's redirect: Location is "https://", the host without its port, the
 * HTTPS port unless 443, and the path and query as received. It is put together in the
 * response's body buffer, which the text body then replaces: nothing is allocated once
 * the buffer is warm. */
static void answer_https_redirect(conn *c, flare_response *resp)
{
    const flare_http_https_redirect *hr = https_redirect_of(c);
    const flare_request *v = &pending_of(c)->view;
    char port[8] = "";
    if (hr->port != 443) snprintf(port, sizeof port, ":%u", (unsigned)hr->port);
    flare_buf *b = &resp->body;
    b->len = 0;
    bool made =
        flare_buf_append(b, "https://", 8) == 0 && flare_buf_append(b, v->host, v->host_len) == 0 &&
        flare_buf_append(b, port, strlen(port)) == 0 &&
        flare_buf_append(b, v->path, v->path_len) == 0 &&
        (!v->query ||
         (flare_buf_append(b, "?", 1) == 0 && flare_buf_append(b, v->query, v->query_len) == 0));
    if (made && flare_response_headern(resp, "Location", 8, b->data, b->len) == 0) {
        b->len = 0;
        flare_response_status_text(resp, hr->status);
    } else {
        flare_http__response_reset(resp);
        flare_response_status_text(resp, 500);
    }
}

static void answer_builtin(conn *c, flare_response *resp)
{
    char allow[160];
    switch (c->pre_status) {
    case -1: /* OPTIONS *: what the server supports (RFC 9110 §9.3.7) */
        flare_response_status(resp, 200);
        flare_response_header(resp, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
        break;
    case 404:
        flare_response_not_found(resp);
        break;
    case 301: /* only the listener's redirect to HTTPS: admission refusals are 4xx/5xx */
    case 302:
    case 307:
    case 308:
        answer_https_redirect(c, resp);
        break;
    case 405: /* RFC 9110 §15.5.6: a 405 carries Allow */
        flare_http__route_allow_header(c->srv, conn_route(c), allow, sizeof allow);
        flare_response_header(resp, "Allow", allow);
        flare_response_status_text(resp, 405);
        break;
    default:
        if (pending_of(c)->retry_after_s) { /* RFC 6585 §4, RFC 9110 §10.2.3 */
            char secs[16];
            snprintf(secs, sizeof secs, "%u", (unsigned)pending_of(c)->retry_after_s);
            flare_response_header(resp, "Retry-After", secs);
        }
        if (pending_of(c)->admit_fields) /* RFC 9110 §11.6.1: a 401's WWW-Authenticate */
            flare_response_header_block(resp, pending_of(c)->admit_fields);
        flare_response_status_text(resp, c->pre_status);
        break;
    }
    const flare_header_block *b = request_fields(c);
    if (b) flare_response_header_block(resp, b);
}

/* A handler that failed, or answered with an interim status: the server's 500, with
 * the fields the route's refusals carry. Out of line: dispatch is the hot path. */
__attribute__((noinline)) static void answer_500(conn *c, flare_response *resp)
{
    flare_http__response_reset(resp);
    flare_response_status_text(resp, 500);
    const flare_header_block *b = request_fields(c);
    if (b) flare_response_header_block(resp, b);
}

/* Where the pending report's response head ends in the output buffer; 0 without one. */
static size_t head_end(conn *c)
{
    if (!c->log_pending || !pending_of(c)->head_len) return 0;
    return pending_of(c)->out_begin + pending_of(c)->head_len;
}

/* The current file piece is done: the next part's text joins the output and its file
 * piece becomes the current one; empty parts are skipped, so while parts are left
 * there is always output or a file piece pending (which is all idle() looks at;
 * process() also stops at file_parts, since pending output below its high-water mark
 * would not hold back the next answer). 1 when a part was queued, 0 when none was
 * left, -1 when a text cannot be queued, which ends the connection (the framing
 * cannot be kept). */
int flare_http__conn_next_file_part(conn *c)
{
    flare_http__file_parts *p = c->file_parts;
    if (!p) return 0;
    /* Sent output was dropped (flush), but the head is still there, and the pending
     * report reads it (its length is what the access log takes off the bytes sent):
     * the text goes behind it. */
    if (c->out.len == 0) c->out.len = c->out_sent = head_end(c);
    flare_http__conn_take_out(c);
    int queued = 0;
    while (!queued && p->next < p->count) {
        const flare_http__file_part *part = &p->part[p->next++];
        if (flare_buf_append(&c->out, FLARE_HTTP__PART_TEXT(p) + p->text_at, part->text_len) < 0) {
            c->closing = true;
            p->next = p->count;
            queued = -1;
            break;
        }
        p->text_at += part->text_len;
        p->rest -= part->text_len + part->len;
        c->file_offset = part->offset;
        c->file_left = part->len;
        queued = part->text_len || part->len ? 1 : 0;
    }
    if (p->next == p->count) {
        free(p);
        c->file_parts = NULL;
    }
    return queued;
}

static void dispatch(conn *c)
{
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    const route *rt = conn_route(c);
    flare_http__response_reset(resp);
    flare_request *view = &pending_of(c)->view; /* built by begin_request */
    view->body = c->body_ptr ? c->body_ptr : "";
    view->body_len = c->body_len;
    view->body_streamed = c->streaming_body;
    if (c->pre_status) {
        answer_builtin(c, resp);
    } else {
        resp->owner = c;
        int rc = rt->handler(view, resp, rt->userdata);
        resp->owner = NULL;
        if (rc < 0) {
            flare_http__response_drop_file(resp); /* the reset would forget it */
            answer_500(c, resp);
        } else if (resp->defer_ops) {
            view->body = NULL; /* the body buffer is recycled before the report */
            flare_http__conn_begin_stream(c, resp);
            return;
        }
    }
    bool upgrading = resp->status == 101 && resp->upgrade_fn && !c->closing;
    /* A method the route or the server does not implement is a rejection like the
     * parser's: answered with Connection: close, then the connection ends. */
    bool refused = c->pre_status == 405 || c->pre_status == 501;
    /* A streamed body the handler did not take is never read: the connection ends. */
    bool closing = !upgrading && (c->closing || refused || !c->req->keep_alive || resp->close ||
                                  c->streaming_body || srv->stopping ||
                                  c->requests >= srv->cfg.max_keepalive_requests);
    if (upgrading) {
        c->upgrade_fn = resp->upgrade_fn;
        c->upgrade_data = resp->upgrade_data;
    } else if (resp->status < 200) {
        /* A 101 without a new protocol to switch to, or an interim status as the final
         * answer: the client would wait on for the final one and take the next
         * response for it (RFC 9110 §15.2), so it is a handler bug answered as one. */
        answer_500(c, resp);
    }
    bool head_only = c->req->method_id == FLARE_METHOD_HEAD;
    flare_http__conn_take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    int rc = flare_http__response_serialize(resp, &c->out, &srv->head_start, head_only, closing,
                                            c->req->minor_version == 0 && !closing, &head_len);
    if (rc < 0)
        closing = true; /* nothing of this response went out: end after the earlier ones */
    else
        srv->stats.responses_by_class[resp->status / 100]++;
    if (resp->file_fd >= 0) {
        bool no_content = head_only || flare_http__status_contentless(resp->status);
        if (rc < 0 || no_content || resp->file_len == 0) {
            flare_http__response_drop_file(resp);
        } else if (resp->file_parts) {
            c->file_fd = resp->file_fd;
            c->file_parts = resp->file_parts;
            resp->file_parts = NULL;
            flare_http__conn_next_file_part(c); /* the first text goes behind the head */
        } else {
            c->file_fd = resp->file_fd;
            c->file_offset = resp->file_offset;
            c->file_left = resp->file_len;
        }
        resp->file_fd = -1;
    }
    if (closing) c->closing = true;
    if (srv->on_complete && rc == 0) {
        view->body = NULL; /* the body buffer is recycled before the report */
        flare_http__conn_record(c, resp->status, out_begin, head_len, true,
                                pending_of(c)->view.serial);
        if (c->file_parts) pending_of(c)->queued += c->file_parts->rest;
    }
}

static void finish_request(conn *c)
{
    c->start += c->consumed;
    if (c->leftover) {
        /* The chunked body was spilled, so the block ends at this request's head; what
         * was read past the body goes behind the head, which the pending report still
         * reads. When it cannot fit there, the report is made now (its response is
         * queued whole) and the bytes move to the front. */
        if (c->leftover > c->in_cap - c->in_len) {
            if (c->log_pending) flare_http__conn_complete(c, false);
            c->start = c->in_len = 0;
        }
        memcpy(c->in + c->in_len, c->body.data + c->body_len, c->leftover);
        c->in_len += c->leftover;
        c->leftover = 0;
    } else if (c->start == c->in_len) {
        c->start = c->in_len = 0;
    }
    c->phase = PH_HEAD;
    c->head_len = c->last_len = 0;
    c->head_deadline_ms = 0;
    c->wait = W_NONE;
    if (c->body.cap > FLARE_HTTP_POOLED_OUT_MAX)
        flare_buf_free(&c->body);
    else
        flare_buf_reset(&c->body);
}

/* The route reads this request's body as a stream (flare_http_server_route_stream_body). */
static bool body_streams(const conn *c)
{
    const route *rt = conn_route(c);
    return rt && rt->body_mode == ROUTE_BODY_STREAM && !c->pre_status && !c->closing &&
           (c->chunked || c->content_length > 0);
}

/* The handler runs now; the head's bytes are done with, the body follows them. */
static void start_body_stream(conn *c)
{
    c->streaming_body = true;
    c->body_left = c->content_length;
    dispatch(c);
    c->start += c->head_len;
    c->head_len = 0;
    if (!c->stream.active) c->streaming_body = false; /* answered at once: closing */
}

void flare_http__conn_compact(conn *c)
{
    memmove(c->in, c->in + c->start, c->in_len - c->start);
    c->in_len -= c->start;
    c->start = 0;
}

/* Parses and answers every complete request buffered. */
int flare_http__conn_process(conn *c)
{
    flare_http_server *srv = c->srv;
    for (;;) {
        if (output_first(c)) return PR_OUTPUT;
        if (c->phase == PH_HEAD) {
            if (!c->block || c->in_len == c->start) return PR_NEED_INPUT;
            /* The next head replaces the one the pending report points into. */
            if (c->log_pending) flare_http__conn_complete(c, false);
            size_t avail = c->in_len - c->start;
            c->req->headers = c->headers;
            c->req->max_headers_capacity = srv->cfg.max_headers;
            int status = 400;
            ssize_t n = flare_http_parse_request(c->in + c->start, avail, c->last_len, &srv->limits,
                                                 c->req, &status);
            if (n == FLARE_EINCOMPLETE) {
                c->last_len = avail;
                if (c->in_len == c->in_cap && c->start > 0) {
                    flare_http__conn_compact(c);
                    continue;
                }
                if (c->in_len == c->in_cap) {
                    flare_http__conn_fail(c, 431);
                    return PR_OUTPUT;
                }
                return PR_NEED_INPUT;
            }
            if (n < 0) {
                flare_http__conn_fail(c, head_error_status(c, status));
                return PR_OUTPUT;
            }
            c->head_len = (size_t)n;
            c->last_len = 0;
            /* A 100 Continue it queues goes out with the next flush, before any read. */
            if (!begin_request(c)) return PR_OUTPUT;
            if (body_streams(c)) {
                start_body_stream(c);
                continue;
            }
        }
        int br = collect_body(c);
        if (br == BODY_NEED_INPUT) return PR_NEED_INPUT;
        if (br == BODY_FAILED) return PR_OUTPUT;
        dispatch(c);
        finish_request(c);
    }
}
